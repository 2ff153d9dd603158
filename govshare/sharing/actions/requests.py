"""Data requests (SHR-5, SHR-6); the high-frequency shared library (SHR-7) is in :mod:`.high_frequency`.

* local: the centre assigns a request for data not in the catalog to its presumed owner, who
  registers an entry (``CatalogEntry.request_ref`` = the request number) or declines with a reason;
* upper: the centre forwards a request for an upper-level platform's resource and records the
  answer; :attr:`DataRequest.handoff` holds the message the federation transport will carry.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed, choice_label
from govshare.core.models import Department, Jurisdiction
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.sharing.actions._common import (
    assign_number,
    centre_reviewers,
    check_purpose,
    collect,
    department_editors,
    optional_text,
    profile_of,
    required_text,
    url,
)
from govshare.sharing.models import DataRequest
from govshare.sharing.permissions import ANSWER, REVIEW, get_acting


@transaction.atomic
def do_submit_request(actor: Any, *, scope: str = DataRequest.Scope.LOCAL, title: str, description: str,
                      purpose: str, wanted_items: str = "", suggested_owner: Department | None = None,
                      upper_jurisdiction: Jurisdiction | None = None, upper_resource: str = "") -> DataRequest:
    require(actor, Capability.APPLY_SHARE)
    dept = actor.department
    problems: list[GovshareError] = []
    if scope not in DataRequest.Scope.values:
        problems.append(ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                                         field="scope", value=scope, choices="/".join(DataRequest.Scope.values)))
    title = collect(problems, required_text, title, "title", 200)
    description = collect(problems, required_text, description, "description", 5000)
    wanted = collect(problems, optional_text, wanted_items, "wanted_items", 5000)
    purpose = collect(problems, check_purpose, profile_of(dept), purpose)
    upper = collect(problems, optional_text, upper_resource, "upper_resource", 200)
    if scope == DataRequest.Scope.UPPER:
        ancestors = [j.pk for j in dept.jurisdiction.ancestors()]
        if upper_jurisdiction is None:
            problems.append(ValidationFailed("required", _("Name the upper-level platform."),
                                             field="upper_jurisdiction"))
        elif upper_jurisdiction.pk not in ancestors:
            problems.append(ValidationFailed("not_upper_level", _("%(name)s is not above your jurisdiction."),
                                             field="upper_jurisdiction", name=upper_jurisdiction.name))
        if not upper:
            problems.append(ValidationFailed("required", _("Name the upper-level resource (code or name)."),
                                             field="upper_resource"))
    if suggested_owner is not None and (suggested_owner.is_centre or not suggested_owner.is_active):
        problems.append(ValidationFailed("invalid_department", _("Choose an active provider department."),
                                         field="suggested_owner"))
    if problems:
        raise ManyProblems(problems)
    req = DataRequest.objects.create(
        scope=scope, title=title, description=description, wanted_items=wanted or "", purpose=purpose,
        requester=dept, requested_by=actor,
        suggested_owner=suggested_owner if scope == DataRequest.Scope.LOCAL else None,
        upper_jurisdiction=upper_jurisdiction if scope == DataRequest.Scope.UPPER else None,
        upper_resource=upper or "")
    assign_number(req, "XQ")
    audit.record(AuditCode.DATA_REQUEST_SUBMITTED, actor=actor, obj=req, department=dept,
                 detail={"scope": scope, "title": title})
    notify(centre_reviewers(dept), "sharing.request",
           bilingual(_("Data request %(number)s: %(title)s"), number=req.number, title=title),
           body=description[:500], url=url("request", req.pk), obj=req)
    return req


def _centre_request(actor: Any, req: DataRequest) -> DataRequest:
    require(actor, Capability.REVIEW_SHARE)
    return get_for(actor, REVIEW, DataRequest.objects.select_for_update(), pk=req.pk)


@transaction.atomic
def do_assign_request(actor: Any, req: DataRequest, *, owner: Department, note: str = "") -> DataRequest:
    """SHR-5: the centre asks the presumed owner to register the data (re-assigning is allowed)."""
    req = _centre_request(actor, req)
    if req.scope != DataRequest.Scope.LOCAL:
        raise Conflict("upper_request", _("A request for upper-level data is forwarded, not assigned."))
    if req.status not in (DataRequest.Status.SUBMITTED, DataRequest.Status.ASSIGNED, DataRequest.Status.DECLINED):
        raise Conflict("request_closed", _("Request %(number)s is %(status)s."), number=req.number,
                       status=choice_label(req))
    if owner.is_centre or not owner.is_active or owner.pk == req.requester_id:
        raise ValidationFailed("invalid_department", _("Choose an active provider department other than the "
                                                       "requester."), field="owner")
    previous = req.owner_id
    req.owner, req.assigned_by, req.assigned_at = owner, actor, timezone.now()
    req.status = DataRequest.Status.ASSIGNED
    req.answer, req.answered_by, req.answered_at = "", None, None
    req.save()
    audit.record(AuditCode.DATA_REQUEST_ASSIGNED, actor=actor, obj=req, department=owner,
                 changes={"owner": [previous, owner.pk]}, detail={"note": optional_text(note, "note")})
    notify(department_editors(owner), "sharing.request_assigned",
           bilingual(_("Register the data asked for in request %(number)s: %(title)s"), number=req.number,
                     title=req.title), body=note, url=url("request", req.pk), obj=req)
    notify([req.requested_by], "sharing.request_assigned",
           bilingual(_("Request %(number)s assigned to %(owner)s"), number=req.number, owner=owner.name),
           url=url("request", req.pk), obj=req)
    return req


@transaction.atomic
def do_register_for_request(actor: Any, req: DataRequest, *, entry: CatalogEntry) -> DataRequest:
    """The owner answers with a catalog entry of its own (new or existing); the entry records the link."""
    req = get_acting(actor, ANSWER, DataRequest.objects.select_for_update(), pk=req.pk)
    if req.status != DataRequest.Status.ASSIGNED:
        raise Conflict("not_assigned", _("Request %(number)s is %(status)s."), number=req.number,
                       status=choice_label(req))
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_for_update(), pk=entry.pk)
    if entry.status == CatalogEntry.Status.WITHDRAWN:
        raise Conflict("withdrawn", _("%(code)s is withdrawn."), code=entry.code)
    if entry.request_ref and entry.request_ref != req.number:
        raise Conflict("entry_linked", _("%(code)s already answers request %(other)s."), code=entry.code,
                       other=entry.request_ref)
    entry.request_ref = req.number or ""
    entry.save(update_fields=["request_ref"])
    req.entry, req.status = entry, DataRequest.Status.REGISTERED
    req.answered_by, req.answered_at = actor, timezone.now()
    req.save()
    audit.record(AuditCode.DATA_REQUEST_REGISTERED, actor=actor, obj=req, department=req.requester,
                 detail={"entry": entry.code, "entry_status": entry.status})
    notify([req.requested_by, *centre_reviewers(req.requester)], "sharing.request_registered",
           bilingual(_("Request %(number)s answered with catalog entry %(code)s"), number=req.number,
                     code=entry.code), url=url("request", req.pk), obj=req)
    return req


@transaction.atomic
def do_decline_request(actor: Any, req: DataRequest, *, reason: str) -> DataRequest:
    req = get_acting(actor, ANSWER, DataRequest.objects.select_for_update(), pk=req.pk)
    if req.status != DataRequest.Status.ASSIGNED:
        raise Conflict("not_assigned", _("Request %(number)s is %(status)s."), number=req.number,
                       status=choice_label(req))
    text = required_text(reason, "reason")
    req.status, req.answer, req.answered_by, req.answered_at = DataRequest.Status.DECLINED, text, actor, timezone.now()
    req.save()
    audit.record(AuditCode.DATA_REQUEST_DECLINED, actor=actor, obj=req, department=req.requester,
                 detail={"reason": text[:500]})
    notify([req.requested_by, *centre_reviewers(req.requester)], "sharing.request_declined",
           bilingual(_("Request %(number)s declined by %(owner)s"), number=req.number,
                     owner=req.owner.name if req.owner else ""), body=text, url=url("request", req.pk), obj=req)
    return req


@transaction.atomic
def do_forward_request(actor: Any, req: DataRequest, *, note: str = "") -> DataRequest:
    """SHR-6: the centre forwards the request to the upper-level platform (state + hand-off message)."""
    req = _centre_request(actor, req)
    if req.scope != DataRequest.Scope.UPPER:
        raise Conflict("local_request", _("Only a request for upper-level data is forwarded."))
    if req.status != DataRequest.Status.SUBMITTED:
        raise Conflict("request_closed", _("Request %(number)s is %(status)s."), number=req.number,
                       status=choice_label(req))
    now = timezone.now()
    req.status, req.forwarded_at, req.forwarded_by = DataRequest.Status.FORWARDED, now, actor
    req.handoff = {
        "type": "govshare.data_request", "version": 1, "number": req.number,
        "from_jurisdiction": req.requester.jurisdiction.code, "to_jurisdiction": req.upper_jurisdiction.code
        if req.upper_jurisdiction else "", "requester": req.requester.name, "resource": req.upper_resource,
        "title": req.title, "description": req.description, "purpose": req.purpose,
        "wanted_items": req.wanted_items, "forwarded_at": now.isoformat(),
        "note": optional_text(note, "note"),
    }
    req.save()
    audit.record(AuditCode.DATA_REQUEST_FORWARDED, actor=actor, obj=req, department=req.requester,
                 detail={"to": req.handoff["to_jurisdiction"], "resource": req.upper_resource})
    notify([req.requested_by], "sharing.request_forwarded",
           bilingual(_("Request %(number)s forwarded to %(platform)s"), number=req.number,
                     platform=req.upper_jurisdiction.name if req.upper_jurisdiction else ""),
           url=url("request", req.pk), obj=req)
    return req


@transaction.atomic
def do_record_upper_answer(actor: Any, req: DataRequest, *, fulfilled: bool, answer: str,
                           reference: str = "") -> DataRequest:
    req = _centre_request(actor, req)
    if req.status != DataRequest.Status.FORWARDED:
        raise Conflict("not_forwarded", _("Request %(number)s has not been forwarded."), number=req.number)
    text = required_text(answer, "answer")
    req.status = DataRequest.Status.FULFILLED if fulfilled else DataRequest.Status.UPPER_REFUSED
    req.answer, req.answered_by, req.answered_at = text, actor, timezone.now()
    req.upper_reference = optional_text(reference, "reference", 100)
    req.save()
    audit.record(AuditCode.DATA_REQUEST_UPPER_ANSWERED, actor=actor, obj=req, department=req.requester,
                 detail={"fulfilled": fulfilled, "reference": req.upper_reference})
    notify([req.requested_by], "sharing.request_answered",
           bilingual(_("Upper-level answer to request %(number)s: %(status)s"), number=req.number,
                     status=DataRequest.Status(req.status).label), body=text, url=url("request", req.pk), obj=req)
    return req


@transaction.atomic
def do_close_request(actor: Any, req: DataRequest, *, reason: str) -> DataRequest:
    req = _centre_request(actor, req)
    if req.status in (DataRequest.Status.CLOSED, DataRequest.Status.FULFILLED, DataRequest.Status.UPPER_REFUSED,
                      DataRequest.Status.REGISTERED):
        raise Conflict("request_closed", _("Request %(number)s is %(status)s."), number=req.number,
                       status=choice_label(req))
    text = required_text(reason, "reason")
    req.status, req.answer, req.answered_by, req.answered_at = DataRequest.Status.CLOSED, text, actor, timezone.now()
    req.save()
    audit.record(AuditCode.DATA_REQUEST_CLOSED, actor=actor, obj=req, department=req.requester,
                 detail={"reason": text[:500]})
    notify([req.requested_by], "sharing.request_closed", bilingual(_("Request %(number)s closed"), number=req.number),
           body=text, url=url("request", req.pk), obj=req)
    return req
