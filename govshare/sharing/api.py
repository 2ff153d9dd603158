"""Sharing JSON API, mounted at ``/api/v1/sharing`` (SHR-1 … SHR-8, issue 4 item 10).

Every handler is thin: parse the input (:mod:`govshare.sharing.schemas`), read through the
permission chokepoint (``restrict`` / ``get_for``: the same 404 for a missing object and one you
may not see), call an action of :mod:`govshare.sharing.actions` for every write, render.

* Authentication: the session or a personal token (``Authorization: Bearer gs_…``); writes need a
  write token.  Nothing here is public.
* An object named in a path that you may not see answers 404 ``not_found`` before any other check;
  an object named in a body (``entry_id``, a department code, …) answers 400 naming the field.
* Role views: ``/applications?box=mine`` (consumer), ``?box=to_answer`` (provider, soonest deadline
  first), ``?box=review`` (the centre's first-review queue) and ``?box=overdue`` (the centre's
  overdue list); the same boxes exist for coordination cases, data requests and error reports.
* Applications with the stamped letter are ``multipart/form-data``: the JSON fields in the part
  ``payload``, the letter (PDF, PNG or JPEG) in the part ``letter``.
* Working days left are counted on the provider's working-day calendar (0 on the due day, negative
  once overdue); dates and times are ISO 8601.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import File, Path, Query, Router, Status, UploadedFile

from govshare.catalog.models import CatalogEntry, EntryVersion
from govshare.catalog.schemas import dept_ref
from govshare.core import access_log
from govshare.core.api_helpers import known, named, own_department_id, page, page_of, user_of
from govshare.core.audit_codes import AuditCode
from govshare.core.clock import Clocks
from govshare.core.errors import NotFound, ValidationFailed
from govshare.core.models import Department, Jurisdiction
from govshare.core.permissions import Action, get_for, require, restrict
from govshare.core.roles import Capability, Role
from govshare.core.validators import MAX_DB_ID
from govshare.sharing import actions, letters
from govshare.sharing import schemas as s
from govshare.sharing.access import check_access
from govshare.sharing.actions.high_frequency import demand_counts
from govshare.sharing.models import (
    Application,
    ApplicationQuerySet,
    ApplicationStep,
    CaseNote,
    CaseQuerySet,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    DataRequestQuerySet,
    DigestSetting,
    ErrorReport,
    ErrorReportQuerySet,
    Grant,
    GrantQuerySet,
    HighFrequencyMark,
    SystemKey,
)
from govshare.sharing.permissions import VIEW

router = Router(tags=["sharing"])

ID = Path(..., ge=1, le=MAX_DB_ID)
#: the stamped letter: a file part, optional at this level so that its absence is reported with the form's other
#: problems (400 ``letter_required``)
LETTER = File(None)


# ------------------------------------------------------------------ helpers

_user = user_of
_own_department = own_department_id
_page = page
_named = named


def _name(user: Any) -> str | None:
    return None if user is None else (user.real_name or user.username)


def _entry(user: Any, entry_id: int) -> CatalogEntry:
    return _named(user, CatalogEntry.objects.select_related("current_version", "provider"), "entry_id", entry_id,
                  pk=entry_id)


def _department(user: Any, code: str, field: str) -> Department:
    return known(user, Department, field, code, code=code)


def _entry_ref(entry: CatalogEntry, version: EntryVersion | None = None) -> dict[str, Any]:
    version = version or entry.current_version
    return {"id": entry.pk, "code": entry.code, "name": version.name if version else entry.code}


def _system_ref(system: ConsumingSystem | None) -> dict[str, Any] | None:
    return None if system is None else {"id": system.pk, "code": system.code, "name": system.name}


#: what an unknown system code is passed on as: the action answers it like another department's system
#: (400 ``unknown_system`` on the field ``system``, among every other problem of the form)
UNKNOWN_SYSTEM = "unknown"


def _system_arg(code: str | None) -> ConsumingSystem | str | None:
    if not code or not code.strip():
        return None
    found = ConsumingSystem.objects.filter(code__iexact=code.strip()).first()
    return found if found is not None else UNKNOWN_SYSTEM


#: working days left for a page of objects: one calendar, so a page costs the same queries as a row
Clock = Clocks


def _centre_box(user: Any) -> None:
    require(user, Capability.REVIEW_SHARE)


# ------------------------------------------------------------------ consuming systems

def _system_out(system: ConsumingSystem) -> dict[str, Any]:
    return {"id": system.pk, "code": system.code, "name": system.name, "description": system.description,
            "department": dept_ref(system.department), "is_active": system.is_active,
            "created_at": system.created_at}


def _system(user: Any, system_id: int) -> ConsumingSystem:
    return get_for(user, VIEW, ConsumingSystem.objects.select_related("department"), pk=system_id)


@router.get("/systems", response={200: s.SystemPageOut},
            summary="Consuming information systems: your department's (the centre and auditors: all)")
def list_systems(request: HttpRequest, query: Query[s.SystemQuery]) -> dict[str, Any]:
    qs = restrict(ConsumingSystem.objects.select_related("department"), _user(request), VIEW)
    if query.department:
        qs = qs.filter(department__code=query.department)
    if query.active is not None:
        qs = qs.filter(is_active=query.active)
    return _page(qs.order_by("department__code", "name", "pk"), query, _system_out)


@router.get("/systems/{system_id}", response={200: s.SystemOut})
def get_system(request: HttpRequest, system_id: int = ID) -> dict[str, Any]:
    return _system_out(_system(_user(request), system_id))


@router.post("/systems", response={201: s.SystemOut},
             summary="Register a consuming information system (department administrators)")
def register_system(request: HttpRequest, payload: s.SystemIn) -> Any:
    user = _user(request)
    department = _department(user, payload.department, "department") if payload.department else None
    system = actions.do_register_system(user, name=payload.name, code=payload.code,
                                        description=payload.description, department=department)
    return Status(201, _system_out(_system(user, system.pk)))


@router.post("/systems/{system_id}/activate", response={200: s.SystemOut})
def activate_system(request: HttpRequest, system_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    system = actions.do_set_system_active(user, _system(user, system_id), True)
    return _system_out(_system(user, system.pk))


@router.post("/systems/{system_id}/deactivate", response={200: s.SystemOut},
             summary="Deactivate a system: access checks for it answer no at once")
def deactivate_system(request: HttpRequest, system_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    system = actions.do_set_system_active(user, _system(user, system_id), False)
    return _system_out(_system(user, system.pk))


def _key_out(key: SystemKey) -> dict[str, Any]:
    return {"id": key.pk, "name": key.name, "prefix": key.prefix,
            "system": {"id": key.system.pk, "code": key.system.code, "name": key.system.name},
            "created_at": key.created_at, "expires_at": key.expires_at, "revoked_at": key.revoked_at,
            "last_used_at": key.last_used_at, "usable": key.is_usable()}


@router.get("/systems/{system_id}/keys", response={200: list[s.SystemKeyOut]},
            summary="A system's keys for the data API (never their secrets)")
def list_system_keys(request: HttpRequest, system_id: int = ID) -> list[dict[str, Any]]:
    system = _system(_user(request), system_id)
    return [_key_out(key) for key in system.keys.select_related("system")]


@router.post("/systems/{system_id}/keys", response={201: s.NewSystemKeyOut},
             summary="Issue a key to a system (its department's administrators): the secret is shown once")
def issue_system_key(request: HttpRequest, response: HttpResponse, payload: s.SystemKeyIn,
                     system_id: int = ID) -> Any:
    user = _user(request)
    issued = actions.do_issue_system_key(user, _system(user, system_id), name=payload.name, days=payload.days)
    response["Cache-Control"] = "no-store"  # the secret, shown once, is kept by no cache (as the web page's)
    return Status(201, {**_key_out(issued.key), "secret": issued.secret})


@router.post("/systems/{system_id}/keys/{key_id}/revoke", response={200: s.SystemKeyOut},
             summary="Revoke a system's key: refused at once")
def revoke_system_key(request: HttpRequest, system_id: int = ID, key_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    key = get_for(user, VIEW, SystemKey.objects.select_related("system"), pk=key_id, system_id=system_id)
    return _key_out(actions.do_revoke_system_key(user, key))


# ------------------------------------------------------------------ applications (SHR-1, SHR-2)

def _app_qs() -> ApplicationQuerySet:
    return Application.objects.select_related("entry", "entry_version", "provider", "consumer", "applicant",
                                              "deadline")


def _app(user: Any, application_id: int) -> Application:
    return get_for(user, VIEW, _app_qs(), pk=application_id)


def _app_row(app: Application, clock: Clock) -> dict[str, Any]:
    return {
        "id": app.pk, "number": app.number, "kind": app.kind, "status": app.status,
        "status_label": str(app.get_status_display()), "stage": app.stage,
        "entry": _entry_ref(app.entry, app.entry_version), "provider": dept_ref(app.provider),
        "consumer": dept_ref(app.consumer), "applicant": _name(app.applicant), "items": list(app.items or []),
        "purpose": app.purpose, "channel": app.channel, "created_at": app.created_at,
        "submitted_at": app.submitted_at, "decided_at": app.decided_at, **clock.fields(app),
    }


def _letter(app: Application) -> dict[str, Any] | None:
    if not app.letter_path:
        return None
    return {"name": app.letter_name, "content_type": app.letter_type, "size": app.letter_size,
            "sha256": app.letter_sha256,
            "url": reverse("api-v1:sharing_application_letter", kwargs={"application_id": app.pk})}


def _app_detail(pk: int) -> dict[str, Any]:
    app = (_app_qs().select_related("system", "first_reviewer", "answered_by")
           .prefetch_related(Prefetch("steps", ApplicationStep.objects.select_related("actor")),
                             Prefetch("grants", Grant.objects.order_by("pk")))
           .get(pk=pk))
    steps = [{"step": st.step, "label": str(st.get_step_display()), "at": st.at, "actor": _name(st.actor),
              "note": st.note, "stage": st.stage, "due_date": st.due_date, "working_days_used": st.working_days_used,
              "on_time": st.on_time} for st in app.steps.all()]
    return {
        **_app_row(app, Clock()), "purpose_detail": app.purpose_detail, "system": _system_ref(app.system),
        "period_start": app.period_start, "period_end": app.period_end, "contact_name": app.contact_name,
        "contact_phone": app.contact_phone, "letter": _letter(app), "profile": app.profile,
        "first_reviewed_at": app.first_reviewed_at, "first_reviewer": _name(app.first_reviewer),
        "first_review_comment": app.first_review_comment, "answered_at": app.answered_at,
        "answered_by": _name(app.answered_by), "refusal_basis": app.refusal_basis,
        "refusal_reason": app.refusal_reason, "escalated_at": app.escalated_at, "steps": steps,
        "grants": [{"id": g.pk, "number": g.number} for g in app.grants.all()],
    }


@router.get("/applications", response={200: s.ApplicationPageOut},
            summary="Share applications you may see, by role view (box) and status (SHR-2)")
def list_applications(request: HttpRequest, query: Query[s.ApplicationQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = application_box(user, query.box)
    if query.status:
        qs = qs.filter(status__in=query.status)
    clock = Clock()
    return _page(qs, query, lambda app: _app_row(app, clock))


def application_box(user: Any, box: str | None) -> ApplicationQuerySet:
    """The applications of a role view, in its order (the screens list the same queues)."""
    qs = _app_qs()
    if box == "mine":
        return qs.mine(user).order_by("-created_at", "-pk")
    if box == "to_answer":
        return qs.to_answer_by(user)
    if box == "review":
        _centre_box(user)
        return qs.to_review_by(user)
    if box == "overdue":
        _centre_box(user)
        return qs.overdue_for(user)
    return qs.permitted(user, VIEW).order_by("-created_at", "-pk")


@router.get("/applications/{application_id}", response={200: s.ApplicationOut},
            summary="An application with its timeline, the clock that runs and the letter's metadata")
def get_application(request: HttpRequest, application_id: int = ID) -> dict[str, Any]:
    app = _app(_user(request), application_id)
    access_log.note(request, AuditCode.READ_APPLICATION, app)
    return _app_detail(app.pk)


def _read_letter(upload: UploadedFile) -> tuple[str, bytes]:
    """The uploaded letter's name and bytes, refused by its size before it is read whole."""
    limit = letters.max_bytes()
    size = upload.size
    if size is not None and size > limit:
        raise ValidationFailed("letter_too_large", _("The letter is %(size)s bytes; at most %(max)s bytes are "
                                                     "accepted."), field=letters.FIELD, size=size, max=limit)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed("letter_too_large", _("The letter is %(size)s bytes; at most %(max)s bytes are "
                                                     "accepted."), field=letters.FIELD, size=len(data), max=limit)
    return upload.name or "letter", data


@router.post("/subscribe", response={201: s.GrantOut},
             summary="Use an unconditionally shared entry: a grant at once, no approval (SHR-1)")
def subscribe(request: HttpRequest, payload: s.SubscribeIn) -> Any:
    user = _user(request)
    grant = actions.do_subscribe_entry(user, _entry(user, payload.entry_id), purpose=payload.purpose,
                                       purpose_detail=payload.purpose_detail, items=payload.items,
                                       channel=payload.channel, system=_system_arg(payload.system),
                                       period_end=payload.period_end)
    return Status(201, _grant_out(_grant_qs().get(pk=grant.pk)))


@router.post("/applications", response={201: s.ApplicationOut},
             summary="Apply for a conditionally shared entry with the stamped letter (multipart, SHR-2)")
def apply(request: HttpRequest, payload: s.ApplicationIn, letter: UploadedFile | None = LETTER) -> Any:
    """``multipart/form-data``: the part ``payload`` holds the JSON fields, the part ``letter`` the
    stamped application letter (加盖公章的申请函: PDF, PNG or JPEG).  Every problem of the form is
    reported at once (``errors``); the centre's first-review clock starts."""
    user = _user(request)
    entry = _entry(user, payload.entry_id)
    data = payload.dict(exclude={"entry_id"})
    data["system"] = _system_arg(payload.system)
    data["letter"] = _read_letter(letter) if letter is not None else None
    app = actions.do_apply(user, entry, **data)
    return Status(201, _app_detail(app.pk))


@router.post("/applications/{application_id}/resubmit", response={200: s.ApplicationOut},
             summary="Complete a returned application (multipart; fields left out and the letter are kept)")
def resubmit(request: HttpRequest, application_id: int = ID, payload: s.ResubmitIn | None = None,
             letter: UploadedFile | None = LETTER) -> dict[str, Any]:
    user = _user(request)
    app = _app(user, application_id)
    data = payload.dict(exclude_none=True) if payload is not None else {}
    if "system" in data:
        data["system"] = _system_arg(data["system"])
    if letter is not None:
        data["letter"] = _read_letter(letter)
    actions.do_resubmit(user, app, **data)
    return _app_detail(app.pk)


@router.post("/applications/{application_id}/first-review", response={200: s.ApplicationOut},
             summary="The centre's first review: pass, return for completion or reject (SHR-2 stage 1)")
def first_review(request: HttpRequest, payload: s.FirstReviewIn, application_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    app = actions.do_first_review(user, _app(user, application_id), decision=payload.decision,
                                  comment=payload.comment)
    return _app_detail(app.pk)


@router.post("/applications/{application_id}/answer", response={200: s.ApplicationOut},
             summary="The provider approves (scope, masking, expiry, conditions) or refuses with its basis")
def answer(request: HttpRequest, payload: s.AnswerIn, application_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    app = actions.do_answer(user, _app(user, application_id), decision=payload.decision, items=payload.items,
                            masking=payload.masking, expires_on=payload.expires_on, conditions=payload.conditions,
                            basis=payload.basis, reason=payload.reason)
    return _app_detail(app.pk)


@router.post("/applications/{application_id}/withdraw", response={200: s.ApplicationOut},
             summary="The applying department withdraws an open application")
def withdraw_application(request: HttpRequest, payload: s.ReasonIn, application_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    app = actions.do_withdraw_application(user, _app(user, application_id), reason=payload.reason)
    return _app_detail(app.pk)


@router.post("/applications/{application_id}/reopen-answer", response={200: s.ApplicationOut},
             summary="The centre reopens an overdue answer period (a new clock)")
def reopen_answer(request: HttpRequest, payload: s.ReasonIn, application_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    app = actions.do_reopen_answer(user, _app(user, application_id), reason=payload.reason)
    return _app_detail(app.pk)


@router.get("/applications/{application_id}/letter", url_name="sharing_application_letter",
            summary="Download the stamped letter (audited)",
            openapi_extra={"responses": {200: {"description": "the letter as an attachment", "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("application/pdf", "image/png", "image/jpeg")}}}})
def download_letter(request: HttpRequest, application_id: int = ID) -> FileResponse:
    path, app = actions.letter_for_download(_user(request), Application(pk=application_id))
    access_log.note(request, AuditCode.READ_DOWNLOAD, app, file=app.letter_name, sha256=app.letter_sha256)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=app.letter_name or path.name,
                            content_type=app.letter_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    return response


# ------------------------------------------------------------------ grants (SHR-4)

def _grant_qs() -> GrantQuerySet:
    return Grant.objects.select_related("entry__current_version", "provider", "consumer", "system", "granted_by")


def _grant_out(grant: Grant, today: dt.date | None = None) -> dict[str, Any]:
    return {
        "id": grant.pk, "number": grant.number, "source": grant.source, "state": grant.state(today),
        "entry": _entry_ref(grant.entry), "provider": dept_ref(grant.provider), "consumer": dept_ref(grant.consumer),
        "system": _system_ref(grant.system), "items": list(grant.items or []), "masking": dict(grant.masking or {}),
        "purpose": grant.purpose, "purpose_detail": grant.purpose_detail, "channel": grant.channel,
        "conditions": grant.conditions, "valid_from": grant.valid_from, "expires_on": grant.expires_on,
        "granted_at": grant.granted_at, "granted_by": _name(grant.granted_by), "revoked_at": grant.revoked_at,
        "revoke_reason": grant.revoke_reason, "application_id": grant.application_id, "case_id": grant.case_id,
    }


def _grant(user: Any, grant_id: int) -> Grant:
    return get_for(user, VIEW, _grant_qs(), pk=grant_id)


@router.get("/grants", response={200: s.GrantPageOut},
            summary="Grants: held by my department (mine), given on its entries (given) or all you may see")
def list_grants(request: HttpRequest, query: Query[s.GrantQuery]) -> dict[str, Any]:
    user = _user(request)
    today = timezone.localdate()
    qs = _grant_qs()
    if query.box == "mine":
        qs = qs.held_by(user)
    elif query.box == "given":
        qs = qs.given_by(user)
    else:
        qs = qs.permitted(user, VIEW)
    if query.entry_id:
        qs = qs.filter(entry_id=query.entry_id)
    if query.active is not None:
        qs = qs.usable(today) if query.active else qs.not_usable(today)
    return _page(qs.order_by("-granted_at", "-pk"), query, lambda g: _grant_out(g, today))


@router.get("/grants/{grant_id}", response={200: s.GrantOut})
def get_grant(request: HttpRequest, grant_id: int = ID) -> dict[str, Any]:
    return _grant_out(_grant(_user(request), grant_id))


@router.post("/grants/{grant_id}/revoke", response={200: s.GrantOut},
             summary="Revoke a grant with immediate effect (the provider, or the centre)")
def revoke_grant(request: HttpRequest, payload: s.ReasonIn, grant_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    grant = actions.do_revoke_grant(user, _grant(user, grant_id), reason=payload.reason)
    return _grant_out(_grant_qs().get(pk=grant.pk))


# ------------------------------------------------------------------ the access check (SHR-4)

@router.post("/access-check", response={200: s.DecisionOut},
             summary="May I (or one of my department's systems) receive these items for this purpose?")
def access_check(request: HttpRequest, payload: s.AccessCheckIn) -> dict[str, Any]:
    """The same check every delivery channel calls; a refusal lists every reason (code, 中文 / English).
    This endpoint explains only: it delivers nothing and records no refusal."""
    user = _user(request)
    entry = get_for(user, Action.VIEW, CatalogEntry.objects.select_related("current_version"), pk=payload.entry_id)
    system = None
    if payload.system_code:
        system = get_for(user, VIEW, ConsumingSystem.objects.select_related("department"),
                         code__iexact=payload.system_code.strip())
        if system.department_id != _own_department(user):
            raise NotFound("consumingsystem")  # the centre sees every system, but checks only its own
    decision = check_access(entry=entry, purpose=payload.purpose, items=payload.items,
                            user=None if system is not None else user, system=system,
                            channel=payload.channel or None)
    access_log.note(request, AuditCode.READ_ACCESS_CHECK, entry, purpose=payload.purpose, items=payload.items,
                    system=system.code if system is not None else "", allowed=decision.allowed)
    return decision.as_dict()


# ------------------------------------------------------------------ coordination cases (SHR-3)

def _case_qs() -> CaseQuerySet:
    return CoordinationCase.objects.select_related("entry__current_version", "provider", "consumer", "opened_by",
                                                   "mediator", "settled_by", "deadline")


def _case(user: Any, case_id: int) -> CoordinationCase:
    return get_for(user, VIEW, _case_qs(), pk=case_id)


def _case_row(case: CoordinationCase, clock: Clock) -> dict[str, Any]:
    return {
        "id": case.pk, "number": case.number, "status": case.status,
        "status_label": str(case.get_status_display()), "entry": _entry_ref(case.entry),
        "application_id": case.application_id, "provider": dept_ref(case.provider),
        "consumer": dept_ref(case.consumer), "opened_by": _name(case.opened_by), "opened_at": case.opened_at,
        "reason": case.reason, "items": list(case.items or []), "purpose": case.purpose,
        "mediator": _name(case.mediator), "settled_at": case.settled_at, "settled_by": _name(case.settled_by),
        "outcome_reason": case.outcome_reason, **clock.fields(case),
    }


def _case_detail(pk: int) -> dict[str, Any]:
    case = (_case_qs().prefetch_related(Prefetch("notes", CaseNote.objects.select_related("author")),
                                        Prefetch("grants", Grant.objects.order_by("pk")))
            .get(pk=pk))
    return {**_case_row(case, Clock()),
            "notes": [{"id": n.pk, "party": n.party, "author": _name(n.author), "text": n.text, "at": n.at}
                      for n in case.notes.all()],
            "grants": [{"id": g.pk, "number": g.number} for g in case.grants.all()]}


@router.get("/cases", response={200: s.CasePageOut}, summary="Coordination cases you may see (SHR-3)")
def list_cases(request: HttpRequest, query: Query[s.CaseQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = case_box(user, query.box)
    if query.status:
        qs = qs.filter(status__in=query.status)
    clock = Clock()
    return _page(qs, query, lambda case: _case_row(case, clock))


def case_box(user: Any, box: str | None) -> CaseQuerySet:
    qs = _case_qs()
    if box == "mine":
        return qs.mine(user).order_by("-opened_at", "-pk")
    if box == "to_answer":
        return qs.about_data_of(user)
    if box == "review":
        _centre_box(user)
        return qs.to_settle_by(user)
    if box == "overdue":
        _centre_box(user)
        return qs.overdue_for(user)
    return qs.permitted(user, VIEW).order_by("-opened_at", "-pk")


@router.get("/cases/{case_id}", response={200: s.CaseDetailOut}, summary="A case with its statements")
def get_case(request: HttpRequest, case_id: int = ID) -> dict[str, Any]:
    return _case_detail(_case(_user(request), case_id).pk)


@router.post("/cases", response={201: s.CaseDetailOut},
             summary="Open a coordination case on a refused application or a 不予共享 entry (SHR-3)")
def open_case(request: HttpRequest, payload: s.CaseIn) -> Any:
    user = _user(request)
    application = (_named(user, Application, "application_id", payload.application_id, pk=payload.application_id)
                   if payload.application_id else None)
    entry = _entry(user, payload.entry_id) if payload.entry_id else None
    case = actions.do_open_case(user, entry=entry, application=application, reason=payload.reason,
                                items=payload.items, purpose=payload.purpose)
    return Status(201, _case_detail(case.pk))


@router.post("/cases/{case_id}/notes", response={201: s.CaseDetailOut},
             summary="Add a statement (consumer, provider or centre; the centre's first statement starts mediation)")
def add_case_note(request: HttpRequest, payload: s.CaseNoteIn, case_id: int = ID) -> Any:
    user = _user(request)
    note = actions.do_add_case_note(user, _case(user, case_id), text=payload.text)
    return Status(201, _case_detail(note.case_id))


@router.post("/cases/{case_id}/settle", response={200: s.CaseDetailOut},
             summary="The centre settles: grant (with expiry) or a final refusal with its reason")
def settle_case(request: HttpRequest, payload: s.SettleIn, case_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    case = actions.do_settle_case(user, _case(user, case_id), outcome=payload.outcome, reason=payload.reason,
                                  items=payload.items, masking=payload.masking, expires_on=payload.expires_on,
                                  channel=payload.channel, conditions=payload.conditions)
    return _case_detail(case.pk)


@router.post("/cases/{case_id}/withdraw", response={200: s.CaseDetailOut},
             summary="The consumer withdraws its case")
def withdraw_case(request: HttpRequest, payload: s.ReasonIn, case_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    case = actions.do_withdraw_case(user, _case(user, case_id), reason=payload.reason)
    return _case_detail(case.pk)


# ------------------------------------------------------------------ data requests (SHR-5, SHR-6)

def _request_qs() -> DataRequestQuerySet:
    return DataRequest.objects.select_related("requester", "requested_by", "suggested_owner", "owner", "entry",
                                              "upper_jurisdiction")


def _request(user: Any, request_id: int) -> DataRequest:
    return get_for(user, VIEW, _request_qs(), pk=request_id)


def _request_out(req: DataRequest) -> dict[str, Any]:
    entry = req.entry
    upper = req.upper_jurisdiction
    return {
        "id": req.pk, "number": req.number, "scope": req.scope, "status": req.status,
        "status_label": str(req.get_status_display()), "title": req.title, "description": req.description,
        "wanted_items": req.wanted_items, "purpose": req.purpose, "requester": dept_ref(req.requester),
        "requested_by": _name(req.requested_by), "requested_at": req.requested_at,
        "suggested_owner": dept_ref(req.suggested_owner), "owner": dept_ref(req.owner),
        "assigned_at": req.assigned_at,
        "entry": {"id": entry.pk, "code": entry.code, "status": entry.status} if entry else None,
        "answer": req.answer, "answered_at": req.answered_at,
        "upper_jurisdiction": {"code": upper.code, "name": upper.name} if upper else None,
        "upper_resource": req.upper_resource, "forwarded_at": req.forwarded_at,
        "upper_reference": req.upper_reference, "handoff": dict(req.handoff or {}),
    }


def _fresh_request(req: DataRequest) -> dict[str, Any]:
    return _request_out(_request_qs().get(pk=req.pk))


@router.get("/requests", response={200: s.DataRequestPageOut},
            summary="Requests for data not in the catalog or held upstairs (SHR-5, SHR-6)")
def list_requests(request: HttpRequest, query: Query[s.DataRequestQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = request_box(user, query.box)
    if query.scope:
        qs = qs.filter(scope=query.scope)
    if query.status:
        qs = qs.filter(status__in=query.status)
    return _page(qs, query, _request_out)


def request_box(user: Any, box: str | None) -> DataRequestQuerySet:
    qs = _request_qs()
    if box == "mine":
        return qs.mine(user).order_by("-requested_at", "-pk")
    if box == "to_answer":
        return qs.to_answer_by(user)
    if box == "review":
        _centre_box(user)
        return qs.to_route_by(user)
    return qs.permitted(user, VIEW).order_by("-requested_at", "-pk")


@router.get("/requests/{request_id}", response={200: s.DataRequestOut})
def get_request(request: HttpRequest, request_id: int = ID) -> dict[str, Any]:
    return _request_out(_request(_user(request), request_id))


@router.post("/requests", response={201: s.DataRequestOut},
             summary="Ask for data that is not in the catalog (local) or that an upper level holds (upper)")
def submit_request(request: HttpRequest, payload: s.DataRequestIn) -> Any:
    user = _user(request)
    owner = _department(user, payload.suggested_owner, "suggested_owner") if payload.suggested_owner else None
    upper = (known(user, Jurisdiction, "upper_jurisdiction", payload.upper_jurisdiction,
                   code=payload.upper_jurisdiction) if payload.upper_jurisdiction else None)
    req = actions.do_submit_request(user, scope=payload.scope, title=payload.title, description=payload.description,
                                    purpose=payload.purpose, wanted_items=payload.wanted_items,
                                    suggested_owner=owner, upper_jurisdiction=upper,
                                    upper_resource=payload.upper_resource)
    return Status(201, _fresh_request(req))


@router.post("/requests/{request_id}/assign", response={200: s.DataRequestOut},
             summary="The centre asks the presumed owner to register the data (SHR-5)")
def assign_request(request: HttpRequest, payload: s.AssignIn, request_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    req = _request(user, request_id)
    owner = _department(user, payload.owner, "owner")
    return _fresh_request(actions.do_assign_request(user, req, owner=owner, note=payload.note))


@router.post("/requests/{request_id}/register", response={200: s.DataRequestOut},
             summary="The owner answers with one of its catalog entries (linked by request_ref)")
def register_for_request(request: HttpRequest, payload: s.RegisterIn, request_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    req = _request(user, request_id)
    entry = _entry(user, payload.entry_id)
    return _fresh_request(actions.do_register_for_request(user, req, entry=entry))


@router.post("/requests/{request_id}/decline", response={200: s.DataRequestOut},
             summary="The presumed owner declines with a reason (the centre may reassign)")
def decline_request(request: HttpRequest, payload: s.ReasonIn, request_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    return _fresh_request(actions.do_decline_request(user, _request(user, request_id), reason=payload.reason))


@router.post("/requests/{request_id}/forward", response={200: s.DataRequestOut},
             summary="The centre forwards an upper-level request (SHR-6)")
def forward_request(request: HttpRequest, payload: s.NoteIn, request_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    return _fresh_request(actions.do_forward_request(user, _request(user, request_id), note=payload.note))


@router.post("/requests/{request_id}/upper-answer", response={200: s.DataRequestOut},
             summary="The centre records the upper level's answer")
def upper_answer(request: HttpRequest, payload: s.UpperAnswerIn, request_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    req = actions.do_record_upper_answer(user, _request(user, request_id), fulfilled=payload.fulfilled,
                                         answer=payload.answer, reference=payload.reference)
    return _fresh_request(req)


@router.post("/requests/{request_id}/close", response={200: s.DataRequestOut},
             summary="The centre closes a request with a reason")
def close_request(request: HttpRequest, payload: s.ReasonIn, request_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    return _fresh_request(actions.do_close_request(user, _request(user, request_id), reason=payload.reason))


# ------------------------------------------------------------------ demand and the high-frequency library (SHR-7)

def _mark_out(mark: HighFrequencyMark | None) -> dict[str, Any] | None:
    if mark is None:
        return None
    return {"marked_at": mark.marked_at, "note": mark.note, "demand": mark.demand}


@router.get("/demand", response={200: s.DemandPageOut},
            summary="Entries asked for by several departments, most demanded first (the centre, SHR-7)")
def demand(request: HttpRequest, query: Query[s.DemandQuery]) -> dict[str, Any]:
    require(_user(request), Capability.REVIEW_SHARE)
    entries = actions.aggregated_demand(min_departments=query.min_departments)
    start = (query.page - 1) * query.per_page
    rows = [{"entry": _entry_ref(e), "provider": dept_ref(e.provider), "demand": e.demand,  # type: ignore[attr-defined]
             "high_frequency": _mark_out(e.high_frequency_mark)}  # type: ignore[attr-defined]
            for e in entries[start:start + query.per_page]]
    return {"total": len(entries), "page": query.page, "per_page": query.per_page, "items": rows}


def _hf_qs(user: Any) -> QuerySet[HighFrequencyMark]:
    entries = restrict(CatalogEntry, user, Action.VIEW)
    return (restrict(HighFrequencyMark, user, VIEW).filter(entry__in=entries)
            .select_related("entry__current_version", "entry__provider", "marked_by"))


def _hf_out(mark: HighFrequencyMark, counts: dict[int, int]) -> dict[str, Any]:
    return {"entry": _entry_ref(mark.entry), "provider": dept_ref(mark.entry.provider), "marked_at": mark.marked_at,
            "marked_by": _name(mark.marked_by), "note": mark.note, "demand_when_marked": mark.demand,
            "demand": counts.get(mark.entry_id, 0)}


@router.get("/high-frequency", response={200: s.HighFrequencyPageOut},
            summary="The high-frequency shared library (高频共享库, government users)")
def list_high_frequency(request: HttpRequest, query: Query[s.PageQuery]) -> dict[str, Any]:
    total, marks = page_of(_hf_qs(_user(request)).order_by("-marked_at", "-pk"), query.page, query.per_page)
    counts = demand_counts([m.entry_id for m in marks]) if marks else {}
    return {"total": total, "page": query.page, "per_page": query.per_page,
            "items": [_hf_out(m, counts) for m in marks]}


@router.post("/high-frequency", response={201: s.HighFrequencyOut},
             summary="Put an entry in the high-frequency library (the centre)")
def mark_high_frequency(request: HttpRequest, payload: s.MarkIn) -> Any:
    user = _user(request)
    mark = actions.do_mark_high_frequency(user, _entry(user, payload.entry_id), note=payload.note)
    fresh = _hf_qs(user).get(pk=mark.pk)
    return Status(201, _hf_out(fresh, demand_counts([fresh.entry_id])))


@router.post("/high-frequency/{entry_id}/unmark", response={204: None},
             summary="Take an entry out of the high-frequency library (the centre)")
def unmark_high_frequency(request: HttpRequest, payload: s.ReasonIn, entry_id: int = ID) -> Any:
    user = _user(request)
    entry = get_for(user, Action.VIEW, CatalogEntry, pk=entry_id)
    actions.do_unmark_high_frequency(user, entry, reason=payload.reason)
    return Status(204, None)


# ------------------------------------------------------------------ error reports (SHR-8)

def _error_qs() -> ErrorReportQuerySet:
    return ErrorReport.objects.select_related("entry__current_version", "provider", "reporter_department",
                                              "reported_by", "resolved_by", "grant", "deadline")


def _error(user: Any, report_id: int) -> ErrorReport:
    return get_for(user, VIEW, _error_qs(), pk=report_id)


def _error_out(report: ErrorReport, clock: Clock) -> dict[str, Any]:
    return {
        "id": report.pk, "number": report.number, "status": report.status,
        "status_label": str(report.get_status_display()), "entry": _entry_ref(report.entry),
        "provider": dept_ref(report.provider), "reporter_department": dept_ref(report.reporter_department),
        "reported_by": _name(report.reported_by), "reported_at": report.reported_at,
        "grant": report.grant.number if report.grant else None, "record_keys": report.record_keys,
        "field": report.field, "description": report.description, "acknowledged_at": report.acknowledged_at,
        "resolved_at": report.resolved_at, "resolved_by": _name(report.resolved_by),
        "resolution": report.resolution, **clock.fields(report),
    }


def _fresh_error(report: ErrorReport) -> dict[str, Any]:
    return _error_out(_error_qs().get(pk=report.pk), Clock())


@router.get("/errors", response={200: s.ErrorReportPageOut},
            summary="Reports of doubtful or wrong shared data (SHR-8)")
def list_errors(request: HttpRequest, query: Query[s.ErrorReportQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = error_box(user, query.box)
    if query.status:
        qs = qs.filter(status__in=query.status)
    clock = Clock()
    return _page(qs, query, lambda r: _error_out(r, clock))


def error_box(user: Any, box: str | None) -> ErrorReportQuerySet:
    qs = _error_qs()
    if box == "mine":
        return qs.mine(user).order_by("-reported_at", "-pk")
    if box == "to_answer":
        return qs.to_verify_by(user)
    if box == "overdue":
        _centre_box(user)
        return qs.overdue_for(user)
    return qs.permitted(user, VIEW).order_by("-reported_at", "-pk")


@router.get("/errors/{report_id}", response={200: s.ErrorReportOut})
def get_error(request: HttpRequest, report_id: int = ID) -> dict[str, Any]:
    return _error_out(_error(_user(request), report_id), Clock())


@router.post("/errors", response={201: s.ErrorReportOut},
             summary="Report doubtful or wrong data received under a grant; access is never blocked")
def report_error(request: HttpRequest, payload: s.ErrorReportIn) -> Any:
    user = _user(request)
    report = actions.do_report_error(user, entry=_entry(user, payload.entry_id), record_keys=payload.record_keys,
                                     field=payload.field, description=payload.description)
    return Status(201, _fresh_error(report))


@router.post("/errors/{report_id}/acknowledge", response={200: s.ErrorReportOut},
             summary="The provider starts verifying")
def acknowledge_error(request: HttpRequest, report_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    return _fresh_error(actions.do_acknowledge_error(user, _error(user, report_id)))


@router.post("/errors/{report_id}/resolve", response={200: s.ErrorReportOut},
             summary="The provider answers: corrected, or not an error, with an explanation")
def resolve_error(request: HttpRequest, payload: s.ResolveIn, report_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    report = actions.do_resolve_error(user, _error(user, report_id), outcome=payload.outcome,
                                      resolution=payload.resolution)
    return _fresh_error(report)


@router.post("/errors/{report_id}/withdraw", response={200: s.ErrorReportOut},
             summary="The reporting department withdraws its report")
def withdraw_error(request: HttpRequest, report_id: int = ID) -> dict[str, Any]:
    user = _user(request)
    return _fresh_error(actions.do_withdraw_error(user, _error(user, report_id)))


# ------------------------------------------------------------------ the daily digest

def _digest_department(user: Any, code: str | None) -> Department:
    require(user, Capability.MANAGE_DIGEST)
    department = _department(user, code, "department") if code else user.department
    if department is None:
        raise ValidationFailed("no_department", _("Your account belongs to no department."), field="department")
    # as the DigestSetting rule: a department administrator sees their own department's setting only
    if not user.has_role(Role.CENTRE_ADMIN) and department.pk != user.department_id:
        raise NotFound("digestsetting")
    return department


def _digest_out(department: Department) -> dict[str, Any]:
    setting = DigestSetting.objects.select_related("updated_by").filter(department=department).first()
    return {"department": dept_ref(department), "enabled": bool(setting and setting.enabled),
            "last_sent_on": setting.last_sent_on if setting else None,
            "updated_at": setting.updated_at if setting else None,
            "updated_by": _name(setting.updated_by) if setting else None}


@router.get("/digest", response={200: s.DigestOut},
            summary="The department's daily digest e-mail setting (department or centre administrators)")
def get_digest(request: HttpRequest, query: Query[s.DigestQuery]) -> dict[str, Any]:
    return _digest_out(_digest_department(_user(request), query.department))


@router.put("/digest", response={200: s.DigestOut}, summary="Switch the daily digest on or off")
def set_digest(request: HttpRequest, payload: s.DigestIn, query: Query[s.DigestQuery]) -> dict[str, Any]:
    user = _user(request)
    department = _digest_department(user, query.department)
    actions.do_set_digest(user, department, enabled=payload.enabled)
    return _digest_out(department)
