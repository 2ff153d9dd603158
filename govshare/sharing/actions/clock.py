"""Reminders and escalation on the statutory clocks (SHR-2, SHR-3, SHR-8), run by the worker.

The sharing kinds — share applications, coordination cases, data error reports — are rows of the core
table of clocked kinds (:mod:`govshare.core.clock`); one loop serves them and catalog's update tasks:

* the working day(s) before a deadline (profile ``reminders.working_days_before_due``) the party that
  must act is reminded, once per clock, and the reminder is audited (3108 / 3305 / 3605);
* once a clock has run out, the centre (and the late party) is told, once per clock, and the
  escalation is audited (3109 / 3304 / 3604); an application keeps the step on its timeline.

Each send is claimed with a conditional UPDATE on the object (``reminded_deadline_id`` /
``escalated_deadline_id``), so several workers never send twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy as _

from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.clock import ClockedKind, escalate_all, register_kind, remind_all
from govshare.core.notify import bilingual, notify
from govshare.core.policy import get_profile
from govshare.sharing.actions._common import centre_reviewers, department_editors, url
from govshare.sharing.models import Application, ApplicationStep, CoordinationCase, ErrorReport

#: the sharing rows of the table of clocked kinds
KINDS = ("sharing.application", "sharing.case", "sharing.error_report")


def _reminder_days(obj: Any) -> int | None:
    return int(get_profile(obj.profile).reminders.get("working_days_before_due", 1))


def _claim(model: Any, column: str, **extra: Any) -> Any:
    """A conditional UPDATE marking the send for the object's current deadline (False: already sent)."""
    def claim(obj: Any, now: dt.datetime) -> bool:
        values = {column: obj.deadline_id, **{k: (now if v == "now" else v) for k, v in extra.items()}}
        return bool(model.objects.filter(pk=obj.pk, deadline_id=obj.deadline_id).exclude(**{column: obj.deadline_id})
                    .update(**values))
    return claim


def _sent(column: str) -> Callable[[Any], bool]:
    """Whether the send marked in ``column`` was for the object's current deadline (skip it before claiming)."""
    return lambda obj: getattr(obj, column) == obj.deadline_id


def _due(obj: Any) -> str:
    return obj.deadline.due_date.isoformat()


# ------------------------------------------------------------------ share applications

def _app_responsible(app: Application) -> list[Any]:
    if app.status == Application.Status.CENTRE_REVIEW:
        return centre_reviewers(app.provider)
    return department_editors(app.provider)


def _remind_application(app: Application, now: dt.datetime) -> None:
    stage = app.stage
    ApplicationStep.objects.create(application=app, step=ApplicationStep.Step.REMINDED, at=now, stage=stage,
                                   due_date=app.deadline.due_date if app.deadline else None)
    audit.record(AuditCode.SHARE_REMINDED, obj=app, detail={"stage": stage, "due": _due(app)})
    notify(_app_responsible(app), "sharing.reminder",
           bilingual(_("Reminder: application %(number)s is due on %(date)s"), number=app.number, date=_due(app)),
           url=url("application", app.pk), obj=app)


def _escalate_application(app: Application, now: dt.datetime) -> None:
    stage = app.stage
    ApplicationStep.objects.create(application=app, step=ApplicationStep.Step.ESCALATED, at=now, stage=stage,
                                   due_date=app.deadline.due_date if app.deadline else None, on_time=False)
    audit.record(AuditCode.SHARE_ESCALATED, obj=app, department=app.provider, detail={"stage": stage, "due": _due(app)})
    late = _("the centre's first review") if stage == "centre" else _("the provider's answer")
    recipients = [*centre_reviewers(app.provider)]
    if stage == "provider":
        recipients += department_editors(app.provider)
    notify(recipients, "sharing.overdue",
           bilingual(_("Overdue: %(what)s on application %(number)s was due on %(date)s"), what=late,
                     number=app.number, date=_due(app)),
           body=bilingual(_("%(consumer)s is waiting for %(entry)s."), consumer=app.consumer.name,
                          entry=app.entry_version.name),
           url=url("application", app.pk), obj=app)


# ------------------------------------------------------------------ coordination cases

def _remind_case(case: CoordinationCase, now: dt.datetime) -> None:
    audit.record(AuditCode.CASE_REMINDED, obj=case, detail={"due": _due(case)})
    notify(centre_reviewers(case.provider), "sharing.reminder",
           bilingual(_("Reminder: coordination case %(number)s is to be settled by %(date)s"), number=case.number,
                     date=_due(case)),
           url=url("case", case.pk), obj=case)


def _escalate_case(case: CoordinationCase, now: dt.datetime) -> None:
    audit.record(AuditCode.CASE_ESCALATED, obj=case, detail={"due": _due(case)})
    notify(centre_reviewers(case.provider), "sharing.overdue",
           bilingual(_("Overdue: coordination case %(number)s was to be settled by %(date)s"), number=case.number,
                     date=_due(case)),
           url=url("case", case.pk), obj=case)


# ------------------------------------------------------------------ data error reports

def _remind_error(report: ErrorReport, now: dt.datetime) -> None:
    audit.record(AuditCode.ERROR_REMINDED, obj=report, detail={"due": _due(report)})
    notify(department_editors(report.provider), "sharing.reminder",
           bilingual(_("Reminder: data error %(number)s is due on %(date)s"), number=report.number,
                     date=_due(report)),
           url=url("error", report.pk), obj=report)


def _escalate_error(report: ErrorReport, now: dt.datetime) -> None:
    audit.record(AuditCode.ERROR_ESCALATED, obj=report, detail={"due": _due(report)})
    notify([*centre_reviewers(report.provider), *department_editors(report.provider)], "sharing.overdue",
           bilingual(_("Overdue: data error %(number)s was to be corrected by %(date)s"), number=report.number,
                     date=_due(report)),
           url=url("error", report.pk), obj=report)


register_kind(ClockedKind(
    name="sharing.application",
    queryset=lambda: Application.objects.select_related("deadline", "provider", "consumer", "entry_version"),
    reminder_days=_reminder_days,
    already_reminded=_sent("reminded_deadline_id"),
    claim_reminder=_claim(Application, "reminded_deadline_id"),
    remind=_remind_application,
    already_escalated=_sent("escalated_deadline_id"),
    claim_escalation=_claim(Application, "escalated_deadline_id", escalated_at="now"),
    escalate=_escalate_application,
))
register_kind(ClockedKind(
    name="sharing.case",
    queryset=lambda: CoordinationCase.objects.select_related("deadline", "provider"),
    reminder_days=_reminder_days,
    already_reminded=_sent("reminded_deadline_id"),
    claim_reminder=_claim(CoordinationCase, "reminded_deadline_id"),
    remind=_remind_case,
    already_escalated=_sent("escalated_deadline_id"),
    claim_escalation=_claim(CoordinationCase, "escalated_deadline_id"),
    escalate=_escalate_case,
))
register_kind(ClockedKind(
    name="sharing.error_report",
    queryset=lambda: ErrorReport.objects.select_related("deadline", "provider"),
    reminder_days=_reminder_days,
    already_reminded=_sent("reminded_deadline_id"),
    claim_reminder=_claim(ErrorReport, "reminded_deadline_id"),
    remind=_remind_error,
    already_escalated=_sent("escalated_deadline_id"),
    claim_escalation=_claim(ErrorReport, "escalated_deadline_id"),
    escalate=_escalate_error,
))


def send_reminders(now: dt.datetime | None = None) -> int:
    """Remind whoever must act on a sharing clock that ends within the profile's reminder days."""
    return remind_all(now, only=KINDS)


def escalate_overdue(now: dt.datetime | None = None) -> int:
    """Tell the centre (and the late party) once when a sharing clock has run out."""
    return escalate_all(now, only=KINDS)
