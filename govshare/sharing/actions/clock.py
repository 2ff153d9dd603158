"""Reminders and escalation on the statutory clocks (SHR-2, SHR-3, SHR-8), run by the worker.

* the working day before a deadline (profile ``reminders.working_days_before_due``) the party that
  must act is reminded, once per clock;
* once a clock has run out, the centre is told (escalation), once per clock, and the step is kept.

Each send is claimed with a conditional UPDATE on the object (``reminded_deadline_id`` /
``escalated_deadline_id``), so several workers never send twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.notify import bilingual, notify
from govshare.core.policy import get_profile
from govshare.sharing.actions._common import centre_reviewers, department_editors, url
from govshare.sharing.models import (
    Application,
    ApplicationStep,
    CoordinationCase,
    ErrorReport,
    remaining_working_days,
)


def _reminder_days(profile_name: str) -> int:
    return get_profile(profile_name).reminders.get("working_days_before_due", 1)


def _responsible(app: Application) -> list[Any]:
    if app.status == Application.Status.CENTRE_REVIEW:
        return centre_reviewers(app.provider)
    return department_editors(app.provider)


def send_reminders(now: dt.datetime | None = None) -> int:
    """Remind whoever must act on a clock that ends within the profile's reminder days."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    sent = 0
    apps = Application.objects.filter(status__in=[Application.Status.CENTRE_REVIEW,
                                                  Application.Status.PROVIDER_REVIEW],
                                      deadline__closed_at__isnull=True, deadline__due_at__gte=now) \
        .select_related("deadline", "provider")
    for app in apps:
        assert app.deadline is not None
        if app.reminded_deadline_id == app.deadline_id:
            continue
        left = remaining_working_days(app.deadline.due_date, today)
        if left > _reminder_days(app.profile):
            continue
        with transaction.atomic():
            claimed = Application.objects.filter(pk=app.pk, deadline=app.deadline).exclude(
                reminded_deadline_id=app.deadline_id).update(reminded_deadline_id=app.deadline_id)
            if not claimed:
                continue
            stage = app.stage
            ApplicationStep.objects.create(application=app, step=ApplicationStep.Step.REMINDED, at=now, stage=stage,
                                           due_date=app.deadline.due_date)
            audit.record(AuditCode.SHARE_REMINDED, obj=app, detail={"stage": stage,
                                                                    "due": app.deadline.due_date.isoformat()})
            notify(_responsible(app), "sharing.reminder",
                   bilingual(_("Reminder: application %(number)s is due on %(date)s"), number=app.number,
                             date=app.deadline.due_date.isoformat()),
                   url=url("application", app.pk), obj=app)
            sent += 1
    reports = ErrorReport.objects.filter(status__in=ErrorReport.OPEN_STATUSES, deadline__closed_at__isnull=True,
                                         deadline__due_at__gte=now).select_related("deadline", "provider")
    for report in reports:
        assert report.deadline is not None
        if report.reminded_deadline_id == report.deadline_id or \
                remaining_working_days(report.deadline.due_date, today) > _reminder_days(report.profile):
            continue
        with transaction.atomic():
            if not ErrorReport.objects.filter(pk=report.pk).exclude(reminded_deadline_id=report.deadline_id).update(
                    reminded_deadline_id=report.deadline_id):
                continue
            notify(department_editors(report.provider), "sharing.reminder",
                   bilingual(_("Reminder: data error %(number)s is due on %(date)s"), number=report.number,
                             date=report.deadline.due_date.isoformat()), url=url("error", report.pk), obj=report)
            sent += 1
    cases = CoordinationCase.objects.filter(status__in=CoordinationCase.OPEN_STATUSES, deadline__closed_at__isnull=True,
                                            deadline__due_at__gte=now).select_related("deadline", "provider")
    for case in cases:
        assert case.deadline is not None
        if case.reminded_deadline_id == case.deadline_id or \
                remaining_working_days(case.deadline.due_date, today) > _reminder_days(case.profile):
            continue
        with transaction.atomic():
            if not CoordinationCase.objects.filter(pk=case.pk).exclude(reminded_deadline_id=case.deadline_id).update(
                    reminded_deadline_id=case.deadline_id):
                continue
            notify(centre_reviewers(case.provider), "sharing.reminder",
                   bilingual(_("Reminder: coordination case %(number)s is to be settled by %(date)s"),
                             number=case.number, date=case.deadline.due_date.isoformat()),
                   url=url("case", case.pk), obj=case)
            sent += 1
    return sent


def escalate_overdue(now: dt.datetime | None = None) -> int:
    """Tell the centre (and the late party) once when a clock has run out."""
    now = now or timezone.now()
    count = 0
    apps = Application.objects.filter(status__in=[Application.Status.CENTRE_REVIEW,
                                                  Application.Status.PROVIDER_REVIEW],
                                      deadline__closed_at__isnull=True, deadline__due_at__lt=now) \
        .select_related("deadline", "provider", "consumer")
    for app in apps:
        if app.escalated_deadline_id == app.deadline_id:
            continue
        with transaction.atomic():
            if not Application.objects.filter(pk=app.pk, deadline=app.deadline).exclude(
                    escalated_deadline_id=app.deadline_id).update(escalated_deadline_id=app.deadline_id,
                                                                  escalated_at=now):
                continue
            assert app.deadline is not None
            stage = app.stage
            ApplicationStep.objects.create(application=app, step=ApplicationStep.Step.ESCALATED, at=now, stage=stage,
                                           due_date=app.deadline.due_date, on_time=False)
            audit.record(AuditCode.SHARE_ESCALATED, obj=app, department=app.provider,
                         detail={"stage": stage, "due": app.deadline.due_date.isoformat()})
            late = (_("the centre's first review") if stage == "centre" else _("the provider's answer"))
            recipients = [*centre_reviewers(app.provider)]
            if stage == "provider":
                recipients += department_editors(app.provider)
            notify(recipients, "sharing.overdue",
                   bilingual(_("Overdue: %(what)s on application %(number)s was due on %(date)s"),
                             what=late, number=app.number, date=app.deadline.due_date.isoformat()),
                   body=bilingual(_("%(consumer)s is waiting for %(entry)s."), consumer=app.consumer.name,
                                  entry=app.entry_version.name),
                   url=url("application", app.pk), obj=app)
            count += 1
    for case in CoordinationCase.objects.filter(status__in=CoordinationCase.OPEN_STATUSES,
                                                deadline__closed_at__isnull=True,
                                                deadline__due_at__lt=now).select_related("deadline", "provider"):
        with transaction.atomic():
            if not CoordinationCase.objects.filter(pk=case.pk).exclude(
                    escalated_deadline_id=case.deadline_id).update(escalated_deadline_id=case.deadline_id):
                continue
            audit.record(AuditCode.CASE_ESCALATED, obj=case, detail={"due": case.deadline.due_date.isoformat()
                                                                     if case.deadline else None})
            notify(centre_reviewers(case.provider), "sharing.overdue",
                   bilingual(_("Overdue: coordination case %(number)s was to be settled by %(date)s"),
                             number=case.number, date=case.deadline.due_date.isoformat() if case.deadline else ""),
                   url=url("case", case.pk), obj=case)
            count += 1
    for report in ErrorReport.objects.filter(status__in=ErrorReport.OPEN_STATUSES, deadline__closed_at__isnull=True,
                                             deadline__due_at__lt=now).select_related("deadline", "provider"):
        with transaction.atomic():
            if not ErrorReport.objects.filter(pk=report.pk).exclude(
                    escalated_deadline_id=report.deadline_id).update(escalated_deadline_id=report.deadline_id):
                continue
            audit.record(AuditCode.ERROR_ESCALATED, obj=report,
                         detail={"due": report.deadline.due_date.isoformat() if report.deadline else None})
            notify([*centre_reviewers(report.provider), *department_editors(report.provider)], "sharing.overdue",
                   bilingual(_("Overdue: data error %(number)s was to be corrected by %(date)s"),
                             number=report.number,
                             date=report.deadline.due_date.isoformat() if report.deadline else ""),
                   url=url("error", report.pk), obj=report)
            count += 1
    return count
