"""Error feedback on shared data (SHR-8): the consumer reports, the provider verifies and corrects
within the profile's ``data_error_correction`` deadline; the consumer follows the status.  A report
never blocks the consumer's access (the access check ignores reports)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed, choice_label
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.sharing.actions._common import (
    assign_number,
    close_clock,
    collect,
    department_editors,
    entry_items,
    provider_profile,
    required_text,
    start_clock,
    url,
)
from govshare.sharing.models import ErrorReport, Grant
from govshare.sharing.permissions import ANSWER, CONSUME, get_acting

CORRECTION = "data_error_correction"


@transaction.atomic
def do_report_error(actor: Any, *, entry: CatalogEntry, record_keys: str, field: str, description: str) -> ErrorReport:
    require(actor, Capability.APPLY_SHARE)
    entry = get_for(actor, Action.VIEW, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry.pk)
    if entry.current_version is None or entry.status != CatalogEntry.Status.PUBLISHED:
        raise Conflict("not_published", _("%(code)s is not published."), code=entry.code)
    if entry.provider_id == actor.department_id:
        raise Conflict("own_entry", _("%(code)s is your own department's data: correct it directly."),
                       code=entry.code)
    grant = Grant.objects.filter(entry=entry, consumer_id=actor.department_id).order_by("-granted_at").first()
    if grant is None:
        raise Conflict("no_grant", _("Your department has received no data of %(code)s."), code=entry.code)
    problems: list[GovshareError] = []
    keys = collect(problems, required_text, record_keys, "record_keys", 2000)
    text = collect(problems, required_text, description, "description", 5000)
    name = (field or "").strip() if isinstance(field, str) else ""
    if not name:
        problems.append(ValidationFailed("required", _("This field is required."), field="field"))
    elif name not in entry_items(entry.current_version):
        problems.append(ValidationFailed("unknown_items", _("The entry has no information items named: %(items)s."),
                                         field="field", items=name))
    if problems:
        raise ManyProblems(problems)
    profile = provider_profile(entry)
    report = ErrorReport.objects.create(entry=entry, grant=grant, provider_id=entry.provider_id,
                                        reporter_department_id=actor.department_id, reported_by=actor,
                                        record_keys=keys, field=name, description=text, profile=profile.name)
    assign_number(report, "JC")
    report.deadline = start_clock(report, CORRECTION, profile)
    report.save(update_fields=["deadline"])
    audit.record(AuditCode.ERROR_REPORTED, actor=actor, obj=report, department=entry.provider,
                 detail={"entry": entry.code, "field": name, "due": report.deadline.due_date.isoformat()})
    notify(department_editors(entry.provider), "sharing.error_reported",
           bilingual(_("Data error %(number)s on %(entry)s: verify by %(date)s"), number=report.number,
                     entry=entry.current_version.name, date=report.deadline.due_date.isoformat()),
           body=text[:500], url=url("error", report.pk), obj=report)
    return report


@transaction.atomic
def do_acknowledge_error(actor: Any, report: ErrorReport) -> ErrorReport:
    report = get_acting(actor, ANSWER, ErrorReport.objects.select_for_update(), pk=report.pk)
    if report.status != ErrorReport.Status.REPORTED:
        raise Conflict("not_reported", _("Report %(number)s is %(status)s."), number=report.number,
                       status=choice_label(report))
    report.status, report.acknowledged_at = ErrorReport.Status.VERIFYING, timezone.now()
    report.save(update_fields=["status", "acknowledged_at"])
    audit.record(AuditCode.ERROR_ACKNOWLEDGED, actor=actor, obj=report)
    notify([report.reported_by], "sharing.error_verifying",
           bilingual(_("Report %(number)s is being verified"), number=report.number), url=url("error", report.pk),
           obj=report)
    return report


@transaction.atomic
def do_resolve_error(actor: Any, report: ErrorReport, *, outcome: str, resolution: str) -> ErrorReport:
    """``corrected`` (the data was fixed) or ``not_an_error`` (checked: the data is right), with an explanation."""
    report = get_acting(actor, ANSWER, ErrorReport.objects.select_for_update(of=("self",)).select_related("deadline"),
                        pk=report.pk)
    if outcome not in ("corrected", "not_an_error"):
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="outcome", value=outcome, choices="corrected/not_an_error")
    if not report.is_open:
        raise Conflict("report_closed", _("Report %(number)s is %(status)s."), number=report.number,
                       status=choice_label(report))
    text = required_text(resolution, "resolution")
    now = timezone.now()
    close_clock(report.deadline, now)
    report.status = outcome
    report.resolved_at, report.resolved_by, report.resolution = now, actor, text
    report.acknowledged_at = report.acknowledged_at or now
    report.save()
    audit.record(AuditCode.ERROR_RESOLVED, actor=actor, obj=report,
                 detail={"outcome": outcome, "on_time": report.deadline is None or now <= report.deadline.due_at})
    notify([report.reported_by], "sharing.error_resolved",
           bilingual(_("Report %(number)s: %(status)s"), number=report.number, status=ErrorReport.Status(report.status).label),
           body=text, url=url("error", report.pk), obj=report)
    return report


@transaction.atomic
def do_withdraw_error(actor: Any, report: ErrorReport) -> ErrorReport:
    report = get_acting(actor, CONSUME, ErrorReport.objects.select_for_update(of=("self",)).select_related("deadline"),
                        pk=report.pk)
    if not report.is_open:
        raise Conflict("report_closed", _("Report %(number)s is %(status)s."), number=report.number,
                       status=choice_label(report))
    close_clock(report.deadline)
    report.status = ErrorReport.Status.WITHDRAWN
    report.resolved_at, report.resolved_by = timezone.now(), actor
    report.save()
    audit.record(AuditCode.ERROR_WITHDRAWN, actor=actor, obj=report)
    notify(department_editors(report.provider), "sharing.error_withdrawn",  # the provider stops verifying
           bilingual(_("Report %(number)s withdrawn by the reporter"), number=report.number),
           url=url("error", report.pk), obj=report)
    return report
