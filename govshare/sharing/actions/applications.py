"""Share applications (SHR-1, SHR-2); grants are in :mod:`.grants`, consuming systems in :mod:`.systems`.

* :func:`do_subscribe_entry` — 无条件共享: a department gets a grant at once (SHR-1);
* :func:`do_apply` → :func:`do_first_review` (centre, ``share_first_review`` working days) →
  :func:`do_answer` (provider, ``share_provider_answer`` working days) — 有条件共享 (SHR-2);
* :func:`do_resubmit` after a return for completion, :func:`do_withdraw_application`;
* :func:`do_reopen_answer` — after an escalation the centre reopens the provider's answer period.

Every step writes an :class:`ApplicationStep` with the working days its clock ran, for evaluation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions import do_subscribe
from govshare.catalog.enums import ShareType
from govshare.catalog.models import CatalogEntry, Subscription
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed, choice_label
from govshare.core.models import Deadline
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, deny, get_for, require
from govshare.core.roles import Capability
from govshare.core.validators import has_control_characters
from govshare.sharing import letters
from govshare.sharing.actions._common import (
    assign_number,
    centre_reviewers,
    check_items,
    check_purpose,
    clock_usage,
    close_clock,
    collect,
    department_editors,
    optional_text,
    provider_profile,
    required_text,
    start_clock,
    url,
)
from govshare.sharing.actions.grants import active_grant, check_masking, default_masking, make_grant
from govshare.sharing.models import Application, ApplicationStep, ConsumingSystem, Grant
from govshare.sharing.permissions import ANSWER, CONSUME, REVIEW, VIEW, get_acting

FIRST_REVIEW = "share_first_review"
PROVIDER_ANSWER = "share_provider_answer"
MAX_PERIOD_DAYS = 366 * 5


# ------------------------------------------------------------------ helpers

def _step(app: Application, step: str, actor: Any, *, note: str = "", deadline: Deadline | None = None,
          stage: str = "", at: dt.datetime | None = None) -> ApplicationStep:
    at = at or timezone.now()
    used, on_time = clock_usage(deadline, at)
    return ApplicationStep.objects.create(application=app, step=step, at=at, actor=actor, note=note,
                                          stage=stage, due_date=deadline.due_date if deadline else None,
                                          working_days_used=used, on_time=on_time)


def _consumer_checks(actor: Any, entry: CatalogEntry) -> CatalogEntry:
    require(actor, Capability.APPLY_SHARE)
    entry = get_for(actor, Action.VIEW, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry.pk)
    if entry.status != CatalogEntry.Status.PUBLISHED or entry.current_version is None:
        raise Conflict("not_published", _("%(code)s is not published; only published entries are shared."),
                       code=entry.code)
    if entry.provider_id == actor.department_id:
        raise Conflict("own_entry", _("%(code)s is your own department's entry; no application is needed."),
                       code=entry.code)
    return entry


def _system_of(actor: Any, system: Any, problems: list[GovshareError]) -> ConsumingSystem | None:
    if system in (None, ""):
        return None
    pk = system.pk if isinstance(system, ConsumingSystem) else system
    found = ConsumingSystem.objects.filter(pk=pk, department_id=actor.department_id, is_active=True).first() \
        if str(pk).isdigit() else None
    if found is None:
        problems.append(ValidationFailed("unknown_system", _("Choose one of your department's active registered "
                                                             "systems."), field="system"))
    return found


def _channel(entry: CatalogEntry, channel: Any, problems: list[GovshareError]) -> str:
    methods = list(entry.current_version.share_methods or []) if entry.current_version else []
    value = (channel or "").strip() if isinstance(channel, str) else ""
    if not value:
        problems.append(ValidationFailed("required", _("This field is required."), field="channel"))
    elif methods and value not in methods:
        problems.append(ValidationFailed("invalid_channel", _("%(code)s is shared through %(methods)s only."),
                                         field="channel", code=entry.code, methods="/".join(methods)))
    elif value not in ("table", "file", "api"):
        problems.append(ValidationFailed("invalid_channel", _("Choose table, file or api."), field="channel"))
    return value


def _period(start: Any, end: Any, problems: list[GovshareError], *, end_required: bool) -> tuple[Any, Any]:
    today = timezone.localdate()
    start = start or today
    if not isinstance(start, dt.date):
        problems.append(ValidationFailed("invalid_date", _("Enter a valid date."), field="period_start"))
        return None, None
    if end in (None, ""):
        if end_required:
            problems.append(ValidationFailed("required", _("This field is required."), field="period_end"))
        return start, None
    if not isinstance(end, dt.date):
        problems.append(ValidationFailed("invalid_date", _("Enter a valid date."), field="period_end"))
        return start, None
    if end < today:
        problems.append(ValidationFailed("period_past", _("The period of use has already ended."), field="period_end"))
    elif end < start:
        problems.append(ValidationFailed("period_reversed", _("The period of use ends before it starts."),
                                         field="period_end"))
    elif (end - start).days > MAX_PERIOD_DAYS:
        problems.append(ValidationFailed("period_too_long", _("A period of use is at most five years."),
                                         field="period_end"))
    if start < today - dt.timedelta(days=1):
        problems.append(ValidationFailed("period_past", _("The period of use cannot start in the past."),
                                         field="period_start"))
    return start, end


def _open_application(entry: CatalogEntry, consumer_id: int) -> Application | None:
    return Application.objects.filter(entry=entry, consumer_id=consumer_id,
                                      status__in=Application.OPEN_STATUSES).first()


def _subscribe_quietly(actor: Any, entry: CatalogEntry, subscriber: Any = None) -> None:
    """The consumer hears of later changes to the entry (CAT-4 change notices); ``subscriber``
    when the actor subscribes someone else (audited as done on their behalf, SEC-4)."""
    if not Subscription.objects.filter(entry=entry, user=subscriber or actor).exists():
        do_subscribe(actor, entry, subscriber=subscriber)


# ------------------------------------------------------------------ SHR-1

@transaction.atomic
def do_subscribe_entry(actor: Any, entry: CatalogEntry, *, purpose: str, purpose_detail: str = "",
                       items: list[str] | None = None, channel: str = "", system: Any = None,
                       period_end: dt.date | None = None) -> Grant:
    """无条件共享: the department gets a grant at once (recorded and audited), and the user follows the
    entry's change notices."""
    entry = _consumer_checks(actor, entry)
    version = entry.current_version
    assert version is not None
    if version.share_type != ShareType.UNCONDITIONAL:
        raise Conflict("not_unconditional", _("%(code)s is not shared unconditionally; apply for it instead."),
                       code=entry.code)
    CatalogEntry.objects.select_for_update().filter(pk=entry.pk).first()  # two subscriptions serialise here
    existing = active_grant(entry, actor.department_id)
    if existing is not None:
        raise Conflict("already_granted", _("Your department already holds grant %(grant)s for %(code)s."),
                       grant=existing.number, code=entry.code)
    revoked = Grant.objects.filter(entry=entry, consumer_id=actor.department_id, revoked_at__isnull=False) \
        .order_by("-revoked_at").first()
    if revoked is not None and not Grant.objects.filter(entry=entry, consumer_id=actor.department_id,
                                                        granted_at__gt=revoked.revoked_at).exists():
        # a revocation holds: subscribing again would undo it (SHR-4); the centre settles a dispute (SHR-3)
        raise Conflict("grant_revoked", _("Grant %(grant)s for %(code)s was revoked on %(date)s; subscribing again "
                                          "does not undo that — open a coordination case."), grant=revoked.number,
                       code=entry.code, date=timezone.localtime(revoked.revoked_at).date().isoformat())
    profile = provider_profile(entry)
    problems: list[GovshareError] = []
    purpose = collect(problems, check_purpose, profile, purpose)
    detail = collect(problems, optional_text, purpose_detail, "purpose_detail")
    chosen = collect(problems, check_items, version, items) if items else \
        check_items(version, [i.name for i in version.items.all()])
    chan = _channel(entry, channel or (version.share_methods or ["table"])[0], problems)
    sys = _system_of(actor, system, problems)
    start, end = _period(None, period_end, problems, end_required=False)
    if problems:
        raise ManyProblems(problems)
    now = timezone.now()
    app = Application.objects.create(
        kind=Application.Kind.UNCONDITIONAL, status=Application.Status.APPROVED, entry=entry, entry_version=version,
        provider_id=entry.provider_id, consumer_id=actor.department_id, applicant=actor, items=chosen,
        purpose=purpose, purpose_detail=detail or "", system=sys, period_start=start, period_end=end, channel=chan,
        profile=profile.name, submitted_at=now, decided_at=now)
    assign_number(app, "GX")
    grant = make_grant(actor, source=Grant.Source.UNCONDITIONAL, entry=entry, consumer_id=actor.department_id,
                        items=chosen, masking=default_masking(entry, chosen), purpose=purpose,
                        purpose_detail=detail or "", channel=chan, system=sys, expires_on=end, application=app)
    _step(app, ApplicationStep.Step.GRANTED, actor, note=grant.number or "")
    audit.record(AuditCode.SHARE_APPLIED, actor=actor, obj=app, department=actor.department,
                 detail={"entry": entry.code, "kind": app.kind, "grant": grant.number})
    _subscribe_quietly(actor, entry)
    notify(department_editors(entry.provider), "sharing.granted_unconditional",
           bilingual(_("%(consumer)s now uses %(entry)s (unconditional sharing)"),
                     consumer=actor.department.name, entry=version.name),
           body=bilingual(_("Grant %(grant)s, purpose %(purpose)s."), grant=grant.number, purpose=purpose),
           url=url("grant", grant.pk), obj=grant)
    return grant


# ------------------------------------------------------------------ SHR-2

def _validate_application(actor: Any, entry: CatalogEntry, data: dict[str, Any], *,
                          letter_required: bool) -> tuple[dict[str, Any], letters.Letter | None]:
    version = entry.current_version
    assert version is not None
    profile = provider_profile(entry)
    problems: list[GovshareError] = []
    clean: dict[str, Any] = {}
    clean["items"] = collect(problems, check_items, version, data.get("items"))
    clean["purpose"] = collect(problems, check_purpose, profile, data.get("purpose"))
    clean["purpose_detail"] = collect(problems, optional_text, data.get("purpose_detail"), "purpose_detail")
    clean["system"] = _system_of(actor, data.get("system"), problems)
    if clean["system"] is None and not any(getattr(p, "field", "") == "system" for p in problems):
        problems.append(ValidationFailed("required", _("Name the consuming information system (register it "
                                                       "first if it is new)."), field="system"))
    clean["channel"] = _channel(entry, data.get("channel"), problems)
    clean["period_start"], clean["period_end"] = _period(data.get("period_start"), data.get("period_end"), problems,
                                                         end_required=True)
    clean["contact_name"] = collect(problems, required_text, data.get("contact_name"), "contact_name", 50)
    phone = collect(problems, required_text, data.get("contact_phone"), "contact_phone", 30)
    if phone and not all(ch.isdigit() or ch in "-+ ()转" for ch in phone):
        problems.append(ValidationFailed("invalid_phone", _("Enter a telephone number (digits, '-', '+')."),
                                         field="contact_phone"))
    clean["contact_phone"] = phone
    letter = None
    raw = data.get("letter")
    if raw is not None:
        name, content = raw
        if has_control_characters(name or ""):
            name = "letter"
        letter = collect(problems, letters.check_letter, name, content)
    elif letter_required:
        problems.append(ValidationFailed("letter_required", _("Upload the stamped application letter "
                                                              "(加盖公章的申请函) as a PDF or image."), field="letter"))
    if problems:
        raise ManyProblems(problems)
    return clean, letter


def _attach_letter(app: Application, letter: letters.Letter) -> str:
    rel = letters.store(letter)
    app.letter_path, app.letter_name, app.letter_type = rel, letter.name, letter.content_type
    app.letter_size, app.letter_sha256 = letter.size, letter.sha256
    return rel


def _with_letter_cleanup(fn: Any) -> Any:
    """Remove a letter written by a transaction that then failed (nothing half-written stays)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        written: list[str] = []
        kwargs["_written"] = written
        try:
            return fn(*args, **kwargs)
        except BaseException:
            for rel in written:
                letters.discard(rel)
            raise
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_with_letter_cleanup
@transaction.atomic
def do_apply(actor: Any, entry: CatalogEntry, *, _written: list[str], **data: Any) -> Application:
    """有条件共享: file an application; the centre's first-review clock starts (SHR-2).

    ``data``: items, purpose, purpose_detail, system, period_start, period_end, channel, contact_name,
    contact_phone, letter=(file name, bytes)."""
    entry = _consumer_checks(actor, entry)
    version = entry.current_version
    assert version is not None
    if version.share_type == ShareType.UNCONDITIONAL:
        raise Conflict("unconditional", _("%(code)s is shared unconditionally: subscribe to it, no application is "
                                          "needed."), code=entry.code)
    if version.share_type == ShareType.NONE:
        raise Conflict("not_shared", _("%(code)s is not shared (不予共享); you may open a coordination case."),
                       code=entry.code)
    # lock the entry row: two submissions of the same application serialise here
    CatalogEntry.objects.select_for_update().filter(pk=entry.pk).first()
    existing = _open_application(entry, actor.department_id)
    if existing is not None:
        raise Conflict("duplicate_application", _("Your department already has application %(number)s open for "
                                                   "%(code)s."), number=existing.number, code=entry.code)
    clean, letter = _validate_application(actor, entry, data, letter_required=True)
    assert letter is not None
    profile = provider_profile(entry)
    now = timezone.now()
    app = Application(kind=Application.Kind.CONDITIONAL, status=Application.Status.CENTRE_REVIEW, entry=entry,
                      entry_version=version, provider_id=entry.provider_id, consumer_id=actor.department_id,
                      applicant=actor, profile=profile.name, submitted_at=now, **clean)
    _written.append(_attach_letter(app, letter))
    app.save()
    assign_number(app, "GX")
    app.deadline = start_clock(app, FIRST_REVIEW, profile, now)
    app.save(update_fields=["deadline"])
    _step(app, ApplicationStep.Step.SUBMITTED, actor, deadline=app.deadline, stage="centre")
    audit.record(AuditCode.SHARE_APPLIED, actor=actor, obj=app, department=actor.department,
                 detail={"entry": entry.code, "kind": app.kind, "items": app.items, "purpose": app.purpose,
                         "channel": app.channel, "letter_sha256": app.letter_sha256,
                         "first_review_due": app.deadline.due_date.isoformat()})
    notify(centre_reviewers(entry.provider), "sharing.first_review",
           bilingual(_("Share application %(number)s to review by %(date)s"), number=app.number,
                     date=app.deadline.due_date.isoformat()),
           body=bilingual(_("%(consumer)s applies for %(entry)s (%(period)s)."), consumer=actor.department.name,
                          entry=version.name, period=profile.deadline(FIRST_REVIEW).describe()),
           url=url("application", app.pk), obj=app)
    return app


@_with_letter_cleanup
@transaction.atomic
def do_resubmit(actor: Any, app: Application, *, _written: list[str], **data: Any) -> Application:
    """The consumer completes a returned application; the first-review clock starts again.
    Fields left out keep their values; a new letter replaces the old one."""
    app = get_acting(actor, CONSUME, Application.objects.select_for_update(of=("self",)).select_related(
        "entry__current_version", "deadline"), pk=app.pk)
    if app.status != Application.Status.RETURNED:
        raise Conflict("not_returned", _("Application %(number)s is %(status)s; only a returned application is "
                                         "completed and resubmitted."), number=app.number,
                       status=choice_label(app))
    entry = _consumer_checks(actor, app.entry)
    merged = {"items": app.items, "purpose": app.purpose, "purpose_detail": app.purpose_detail,
              "system": app.system_id, "channel": app.channel, "period_start": app.period_start,
              "period_end": app.period_end, "contact_name": app.contact_name, "contact_phone": app.contact_phone}
    merged.update({k: v for k, v in data.items() if v is not None})
    if merged["period_start"] and merged["period_start"] < timezone.localdate():
        merged["period_start"] = timezone.localdate()  # the period of use starts when it can start
    clean, letter = _validate_application(actor, entry, merged, letter_required=False)
    old_letter = app.letter_path
    for key, value in clean.items():
        setattr(app, key, value)
    if letter is not None:
        _written.append(_attach_letter(app, letter))
    app.entry_version = entry.current_version  # type: ignore[assignment]
    profile = provider_profile(entry)
    now = timezone.now()
    app.status = Application.Status.CENTRE_REVIEW
    app.submitted_at = now
    app.save()
    app.deadline = start_clock(app, FIRST_REVIEW, profile, now)
    app.save(update_fields=["deadline"])
    _step(app, ApplicationStep.Step.RESUBMITTED, actor, deadline=app.deadline, stage="centre",
          note="new letter" if letter else "")
    audit.record(AuditCode.SHARE_RESUBMITTED, actor=actor, obj=app, department=actor.department,
                 detail={"first_review_due": app.deadline.due_date.isoformat(), "new_letter": letter is not None})
    if letter is not None and old_letter:
        transaction.on_commit(lambda: letters.discard(old_letter))
    notify(centre_reviewers(app.provider), "sharing.first_review",
           bilingual(_("Share application %(number)s resubmitted; review by %(date)s"), number=app.number,
                     date=app.deadline.due_date.isoformat()), url=url("application", app.pk), obj=app)
    return app


@transaction.atomic
def do_first_review(actor: Any, app: Application, *, decision: str, comment: str = "") -> Application:
    """The centre's first review (SHR-2 stage 1): ``pass``, ``return`` for completion, or ``reject``."""
    require(actor, Capability.REVIEW_SHARE)
    app = get_for(actor, REVIEW, Application.objects.select_for_update(of=("self",)).select_related("deadline", "entry",
                                                                                         "consumer"), pk=app.pk)
    if decision not in ("pass", "return", "reject"):
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="decision", value=decision, choices="pass/return/reject")
    if app.status != Application.Status.CENTRE_REVIEW:
        raise Conflict("not_in_first_review", _("Application %(number)s is %(status)s; it is not waiting for the "
                                                "first review."), number=app.number, status=choice_label(app))
    text = required_text(comment, "comment") if decision != "pass" else optional_text(comment, "comment")
    now = timezone.now()
    clock = app.deadline
    close_clock(clock, now)
    app.first_reviewed_at, app.first_reviewer, app.first_review_comment = now, actor, text
    profile = provider_profile(app.entry)
    if decision == "pass":
        app.status = Application.Status.PROVIDER_REVIEW
        app.save()
        _step(app, ApplicationStep.Step.PASSED, actor, note=text, deadline=clock, stage="centre", at=now)
        app.deadline = start_clock(app, PROVIDER_ANSWER, profile, now)
        app.save(update_fields=["deadline"])
        audit.record(AuditCode.SHARE_FIRST_REVIEW_PASSED, actor=actor, obj=app, department=app.provider,
                     detail={"answer_due": app.deadline.due_date.isoformat(), "on_time": now <= clock.due_at
                             if clock else None})
        notify(department_editors(app.provider), "sharing.answer",
               bilingual(_("Share application %(number)s to answer by %(date)s"), number=app.number,
                         date=app.deadline.due_date.isoformat()),
               body=bilingual(_("%(consumer)s applies for %(entry)s; answer within %(period)s."),
                              consumer=app.consumer.name, entry=app.entry_version.name,
                              period=profile.deadline(PROVIDER_ANSWER).describe()),
               url=url("application", app.pk), obj=app)
        notify([app.applicant], "sharing.passed",
               bilingual(_("Application %(number)s passed the first review"), number=app.number),
               body=bilingual(_("The provider answers by %(date)s."), date=app.deadline.due_date.isoformat()),
               url=url("application", app.pk), obj=app)
        return app
    app.status = Application.Status.RETURNED if decision == "return" else Application.Status.REJECTED
    if decision == "reject":
        app.decided_at = now
    app.deadline = None
    app.save()
    step = ApplicationStep.Step.RETURNED if decision == "return" else ApplicationStep.Step.REJECTED
    _step(app, step, actor, note=text, deadline=clock, stage="centre", at=now)
    code = AuditCode.SHARE_RETURNED if decision == "return" else AuditCode.SHARE_REJECTED
    audit.record(code, actor=actor, obj=app, department=app.consumer, detail={"comment": text[:500]})
    subject = (_("Application %(number)s returned for completion") if decision == "return"
               else _("Application %(number)s rejected at first review"))
    notify([app.applicant, *department_editors(app.consumer)], f"sharing.{decision}",
           bilingual(subject, number=app.number), body=text, url=url("application", app.pk), obj=app)
    return app


@transaction.atomic
def do_answer(actor: Any, app: Application, *, decision: str, items: list[str] | None = None,
              masking: dict[str, str] | None = None, expires_on: dt.date | None = None, conditions: str = "",
              basis: str = "", reason: str = "") -> Application:
    """The provider answers (SHR-2 stage 2): ``approve`` — possibly narrowing the items, adding per-item
    masking, an expiry and conditions — or ``refuse`` with the legal/policy basis and a reason."""
    require(actor, Capability.ANSWER_SHARE)
    app = get_acting(actor, ANSWER, Application.objects.select_for_update(of=("self",)).select_related(
        "deadline", "entry__current_version", "consumer", "entry_version"), pk=app.pk)
    if decision not in ("approve", "refuse"):
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="decision", value=decision, choices="approve/refuse")
    if app.status != Application.Status.PROVIDER_REVIEW:
        raise Conflict("not_waiting_for_answer", _("Application %(number)s is %(status)s; it is not waiting for "
                                                   "your answer."), number=app.number,
                       status=choice_label(app))
    now = timezone.now()
    clock = app.deadline
    if clock is not None and now > clock.due_at:
        deny(actor, "answer_period_over",
             _("The answer period of %(number)s ended on %(date)s; the application has been escalated to the "
               "centre, which may reopen the answer period."), obj=app, number=app.number,
             date=clock.due_date.isoformat())
    today = timezone.localdate()
    if app.period_end is not None and app.period_end < today:
        raise Conflict("period_expired", _("The requested period of use ended on %(date)s; the applicant must "
                                           "apply again."), field="period_end", date=app.period_end.isoformat())
    if app.entry.status != CatalogEntry.Status.PUBLISHED:
        raise Conflict("not_published", _("%(code)s is no longer published."), code=app.entry.code)
    close_clock(clock, now)
    app.answered_at, app.answered_by, app.decided_at = now, actor, now
    if decision == "refuse":
        problems: list[GovshareError] = []
        basis_text = collect(problems, required_text, basis, "basis")
        reason_text = collect(problems, required_text, reason, "reason")
        if problems:
            raise ManyProblems(problems)
        app.status = Application.Status.REFUSED
        app.refusal_basis, app.refusal_reason = basis_text, reason_text
        app.deadline = None
        app.save()
        _step(app, ApplicationStep.Step.REFUSED, actor, note=f"{basis_text}\n{reason_text}", deadline=clock,
              stage="provider", at=now)
        audit.record(AuditCode.SHARE_REFUSED, actor=actor, obj=app, department=app.consumer,
                     detail={"basis": basis_text[:500], "reason": reason_text[:500]})
        notify([app.applicant, *department_editors(app.consumer)], "sharing.refused",
               bilingual(_("Application %(number)s refused"), number=app.number),
               body=bilingual(_("Basis: %(basis)s. Reason: %(reason)s. You may open a coordination case."),
                              basis=basis_text, reason=reason_text),
               url=url("application", app.pk), obj=app)
        return app
    version = app.entry.current_version
    assert version is not None
    problems = []
    chosen = collect(problems, check_items, version, items if items is not None else app.items,
                      allowed=app.items)
    mask = collect(problems, check_masking, masking, chosen or [], version) if chosen else {}
    cond = collect(problems, optional_text, conditions, "conditions")
    expiry = expires_on or app.period_end
    if expiry is not None and expiry < today:
        problems.append(ValidationFailed("expiry_past", _("The expiry date has passed."), field="expires_on"))
    elif expiry is not None and app.period_end is not None and expiry > app.period_end:
        problems.append(ValidationFailed("expiry_after_period", _("The grant cannot outlast the requested period "
                                                                  "(%(date)s)."), field="expires_on",
                                         date=app.period_end.isoformat()))
    elif expiry is not None and expiry < app.period_start:
        problems.append(ValidationFailed("expiry_before_start", _("The grant would end before the requested "
                                                                  "period starts (%(date)s)."), field="expires_on",
                                         date=app.period_start.isoformat()))
    if problems:
        raise ManyProblems(problems)
    app.status = Application.Status.APPROVED
    app.deadline = None
    app.save()
    grant = make_grant(actor, source=Grant.Source.APPLICATION, entry=app.entry, consumer_id=app.consumer_id,
                        items=chosen, masking={**default_masking(app.entry, chosen), **(mask or {})},
                        purpose=app.purpose, purpose_detail=app.purpose_detail, channel=app.channel,
                        system=app.system, expires_on=expiry, conditions=cond or "", application=app,
                        valid_from=max(app.period_start, today))
    _step(app, ApplicationStep.Step.APPROVED, actor, note=grant.number or "", deadline=clock, stage="provider", at=now)
    audit.record(AuditCode.SHARE_APPROVED, actor=actor, obj=app, department=app.consumer,
                 detail={"grant": grant.number, "items": chosen, "narrowed": chosen != app.items})
    _subscribe_quietly(actor, app.entry, app.applicant) if app.applicant.is_active else None
    notify([app.applicant, *department_editors(app.consumer)], "sharing.approved",
           bilingual(_("Application %(number)s approved: grant %(grant)s"), number=app.number, grant=grant.number),
           body=bilingual(_("Items: %(items)s. Valid until %(date)s."), items="、".join(chosen),
                          date=expiry.isoformat() if expiry else "—"),
           url=url("grant", grant.pk), obj=grant)
    return app


@transaction.atomic
def do_withdraw_application(actor: Any, app: Application, *, reason: str = "") -> Application:
    app = get_acting(actor, CONSUME, Application.objects.select_for_update(of=("self",)).select_related("deadline"), pk=app.pk)
    if not app.is_open:
        raise Conflict("not_open", _("Application %(number)s is %(status)s and cannot be withdrawn."),
                       number=app.number, status=choice_label(app))
    text = optional_text(reason, "reason")
    now = timezone.now()
    clock = app.deadline
    close_clock(clock, now)
    stage = app.stage
    app.status, app.decided_at, app.deadline = Application.Status.WITHDRAWN, now, None
    app.save()
    _step(app, ApplicationStep.Step.WITHDRAWN, actor, note=text, deadline=clock, stage=stage, at=now)
    audit.record(AuditCode.SHARE_WITHDRAWN, actor=actor, obj=app, department=app.consumer, detail={"reason": text})
    recipients = department_editors(app.provider) if stage == "provider" else centre_reviewers(app.provider)
    notify(recipients, "sharing.withdrawn", bilingual(_("Application %(number)s withdrawn"), number=app.number),
           body=text, url=url("application", app.pk), obj=app)
    return app


@transaction.atomic
def do_reopen_answer(actor: Any, app: Application, *, reason: str) -> Application:
    """After the provider let its answer period pass, the centre reopens it (a new clock)."""
    require(actor, Capability.REVIEW_SHARE)
    app = get_for(actor, REVIEW, Application.objects.select_for_update(of=("self",)).select_related("deadline", "entry"),
                  pk=app.pk)
    if app.status != Application.Status.PROVIDER_REVIEW or not app.is_overdue:
        raise Conflict("not_overdue", _("Only an overdue answer period can be reopened."))
    text = required_text(reason, "reason")
    now = timezone.now()
    old = app.deadline
    close_clock(old, now)
    app.deadline = start_clock(app, PROVIDER_ANSWER, provider_profile(app.entry), now)
    app.save(update_fields=["deadline"])
    _step(app, ApplicationStep.Step.EXTENDED, actor, note=text, deadline=app.deadline, stage="provider", at=now)
    audit.record(AuditCode.SHARE_ANSWER_REOPENED, actor=actor, obj=app, department=app.provider,
                 detail={"reason": text, "old_due": old.due_date.isoformat() if old else None,
                         "new_due": app.deadline.due_date.isoformat()})
    notify(department_editors(app.provider), "sharing.answer",
           bilingual(_("Answer period of %(number)s reopened: answer by %(date)s"), number=app.number,
                     date=app.deadline.due_date.isoformat()), body=text, url=url("application", app.pk), obj=app)
    return app


def letter_for_download(actor: Any, app: Application) -> tuple[Any, Application]:
    """The stored letter of ``app`` for someone who may see the application (audited)."""
    app = get_for(actor, VIEW, Application, pk=app.pk)
    path = letters.path_of(app.letter_path)
    if not path.exists():
        raise ValidationFailed("letter_missing", _("No letter is stored for this application."), field="letter")
    audit.record_now(AuditCode.SHARE_LETTER_DOWNLOADED, actor=actor, obj=app, detail={"sha256": app.letter_sha256})
    return path, app
