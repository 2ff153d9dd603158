"""Coordination cases (SHR-3): after a refusal, or for a 不予共享 entry, the consumer asks the sharing
authority (the centre) to settle; the outcome is a grant or a final refusal with its reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareType
from govshare.catalog.models import CatalogEntry
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed, choice_label
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.sharing.actions._common import (
    assign_number,
    centre_reviewers,
    check_items,
    check_purpose,
    close_clock,
    collect,
    department_editors,
    optional_text,
    provider_profile,
    required_text,
    start_clock,
    url,
)
from govshare.sharing.actions.grants import check_masking, default_masking, make_grant
from govshare.sharing.models import Application, CaseNote, CoordinationCase, Grant
from govshare.sharing.permissions import CHANGE, CONSUME, REVIEW, get_acting, is_centre

SETTLEMENT = "coordination_settlement"


@transaction.atomic
def do_open_case(actor: Any, *, entry: CatalogEntry | None = None, application: Application | None = None,
                 reason: str, items: list[str] | None = None, purpose: str = "") -> CoordinationCase:
    """Open a case on a refused application or on an entry that is not shared (SHR-3)."""
    require(actor, Capability.APPLY_SHARE)
    if application is not None:
        application = get_acting(actor, CONSUME, Application.objects.select_related("entry__current_version"),
                                 pk=application.pk)
        if application.status not in (Application.Status.REFUSED, Application.Status.REJECTED):
            raise Conflict("not_refused", _("A coordination case is opened on a refused application; %(number)s is "
                                            "%(status)s."), number=application.number,
                           status=choice_label(application))
        entry = application.entry
        items = items or application.items
        purpose = purpose or application.purpose
    if entry is None:
        raise ValidationFailed("required", _("Name the entry or the refused application."), field="entry")
    entry = get_for(actor, Action.VIEW, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry.pk)
    if entry.status != CatalogEntry.Status.PUBLISHED or entry.current_version is None:
        raise Conflict("not_published", _("%(code)s is not published."), code=entry.code)
    if entry.provider_id == actor.department_id:
        raise Conflict("own_entry", _("%(code)s is your own department's entry."), code=entry.code)
    revoked = Grant.objects.filter(entry=entry, consumer_id=actor.department_id, revoked_at__isnull=False).exists()
    if application is None and entry.current_version.share_type != ShareType.NONE and not revoked:
        raise Conflict("shared_entry", _("%(code)s is shared; apply for it (a case is opened after a refusal)."),
                       code=entry.code)
    CatalogEntry.objects.select_for_update().filter(pk=entry.pk).first()  # two openings serialise here
    if CoordinationCase.objects.filter(entry=entry, consumer_id=actor.department_id,
                                       status__in=CoordinationCase.OPEN_STATUSES).exists():
        raise Conflict("duplicate_case", _("Your department already has an open coordination case on %(code)s."),
                       code=entry.code)
    profile = provider_profile(entry)
    problems: list[GovshareError] = []
    text = collect(problems, required_text, reason, "reason")
    chosen = collect(problems, check_items, entry.current_version, items)
    purpose = collect(problems, check_purpose, profile, purpose)
    if problems:
        raise ManyProblems(problems)
    case = CoordinationCase.objects.create(entry=entry, application=application, provider_id=entry.provider_id,
                                           consumer_id=actor.department_id, opened_by=actor, reason=text,
                                           items=chosen, purpose=purpose, profile=profile.name)
    assign_number(case, "XT")
    case.deadline = start_clock(case, SETTLEMENT, profile)
    case.save(update_fields=["deadline"])
    audit.record(AuditCode.CASE_OPENED, actor=actor, obj=case, department=actor.department,
                 detail={"entry": entry.code, "application": application.number if application else None,
                         "due": case.deadline.due_date.isoformat()})
    notify([*centre_reviewers(entry.provider), *department_editors(entry.provider)], "sharing.case",
           bilingual(_("Coordination case %(number)s on %(entry)s; settle by %(date)s"), number=case.number,
                     entry=entry.current_version.name, date=case.deadline.due_date.isoformat()),
           body=text, url=url("case", case.pk), obj=case)
    return case


def _party(actor: Any, case: CoordinationCase) -> str:
    if is_centre(actor):
        return "centre"
    return "consumer" if actor.department_id == case.consumer_id else "provider"


@transaction.atomic
def do_add_case_note(actor: Any, case: CoordinationCase, *, text: str) -> CaseNote:
    case = get_acting(actor, CHANGE, CoordinationCase.objects.select_for_update(), pk=case.pk)
    if not case.is_open:
        raise Conflict("case_closed", _("Case %(number)s is closed."), number=case.number)
    body = required_text(text, "text", 5000)
    party = _party(actor, case)
    note = CaseNote.objects.create(case=case, author=actor, party=party, text=body)
    if party == "centre" and case.status == CoordinationCase.Status.OPEN:
        case.status, case.mediator = CoordinationCase.Status.MEDIATING, actor
        case.save(update_fields=["status", "mediator"])
    audit.record(AuditCode.CASE_NOTE_ADDED, actor=actor, obj=case, detail={"party": party})
    others = {"consumer": department_editors(case.consumer), "provider": department_editors(case.provider),
              "centre": centre_reviewers(case.provider)}
    recipients = [u for key, users in others.items() if key != party for u in users]
    notify(recipients, "sharing.case_note", bilingual(_("New statement in case %(number)s"), number=case.number),
           body=body[:500], url=url("case", case.pk), obj=case)
    return note


@transaction.atomic
def do_settle_case(actor: Any, case: CoordinationCase, *, outcome: str, reason: str, items: list[str] | None = None,
                   masking: dict[str, str] | None = None, expires_on: dt.date | None = None, channel: str = "",
                   conditions: str = "") -> CoordinationCase:
    """The centre settles: ``grant`` (a grant is created on the sharing authority's decision) or
    ``refuse`` (a final refusal with its reason)."""
    require(actor, Capability.REVIEW_SHARE)
    case = get_for(actor, REVIEW, CoordinationCase.objects.select_for_update(of=("self",)).select_related(
        "entry__current_version", "deadline", "application"), pk=case.pk)
    if outcome not in ("grant", "refuse"):
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="outcome", value=outcome, choices="grant/refuse")
    if not case.is_open:
        raise Conflict("case_closed", _("Case %(number)s is closed."), number=case.number)
    text = required_text(reason, "reason")
    now = timezone.now()
    grant: Grant | None = None
    if outcome == "grant":
        entry = case.entry
        version = entry.current_version
        if entry.status != CatalogEntry.Status.PUBLISHED or version is None:
            raise Conflict("not_published", _("%(code)s is no longer published."), code=entry.code)
        problems: list[GovshareError] = []
        chosen = collect(problems, check_items, version, items or case.items)
        chan = channel or (case.application.channel if case.application else (version.share_methods or ["table"])[0])
        if chan not in ("table", "file", "api"):
            problems.append(ValidationFailed("invalid_channel", _("Choose table, file or api."), field="channel"))
        if expires_on is None:
            problems.append(ValidationFailed("required", _("A grant from a coordination case needs an expiry date."),
                                             field="expires_on"))
        elif expires_on < timezone.localdate():
            problems.append(ValidationFailed("expiry_past", _("The expiry date has passed."), field="expires_on"))
        mask = collect(problems, check_masking, masking, chosen, entry.current_version) if chosen else {}
        if problems:
            raise ManyProblems(problems)
        grant = make_grant(actor, source=Grant.Source.COORDINATION, entry=entry, consumer_id=case.consumer_id,
                            items=chosen, masking={**default_masking(entry, chosen), **mask}, purpose=case.purpose,
                            purpose_detail=case.reason, channel=chan,
                            system=case.application.system if case.application else None, expires_on=expires_on,
                            conditions=optional_text(conditions, "conditions"), case=case)
    close_clock(case.deadline, now)
    case.status = CoordinationCase.Status.GRANTED if grant else CoordinationCase.Status.REFUSED
    case.settled_at, case.settled_by, case.outcome_reason = now, actor, text
    case.save()
    audit.record(AuditCode.CASE_SETTLED, actor=actor, obj=case, department=case.consumer,
                 detail={"outcome": outcome, "grant": grant.number if grant else None, "reason": text[:500],
                         "on_time": case.deadline is None or now <= case.deadline.due_at})
    notify([*department_editors(case.consumer), *department_editors(case.provider), case.opened_by],
           "sharing.case_settled",
           bilingual(_("Case %(number)s settled: %(outcome)s"), number=case.number,
                     outcome=CoordinationCase.Status(case.status).label), body=text, url=url("case", case.pk), obj=case)
    return case


@transaction.atomic
def do_withdraw_case(actor: Any, case: CoordinationCase, *, reason: str = "") -> CoordinationCase:
    case = get_acting(actor, CONSUME, CoordinationCase.objects.select_for_update(of=("self",)).select_related("deadline"),
                      pk=case.pk)
    if not case.is_open:
        raise Conflict("case_closed", _("Case %(number)s is closed."), number=case.number)
    now = timezone.now()
    close_clock(case.deadline, now)
    case.status, case.settled_at, case.settled_by = CoordinationCase.Status.WITHDRAWN, now, actor
    case.outcome_reason = optional_text(reason, "reason")
    case.save()
    audit.record(AuditCode.CASE_WITHDRAWN, actor=actor, obj=case, detail={"reason": case.outcome_reason})
    notify(centre_reviewers(case.provider), "sharing.case_withdrawn",
           bilingual(_("Case %(number)s withdrawn"), number=case.number), url=url("case", case.pk), obj=case)
    return case
