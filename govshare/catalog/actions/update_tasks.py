"""Catalog-update tasks (CAT-5, N51-§8): after a law change or a change in a department's functions
the centre asks the department to update its catalog within the profile's working days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions._common import centre_reviewers, department_editors, profile_of, required_text
from govshare.catalog.models import UpdateTask
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.clock import ClockedKind, escalate_all, register_kind
from govshare.core.errors import Conflict, ValidationFailed, choice_label
from govshare.core.models import Deadline, Department
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.core.workdays import bind_deadline, open_deadline

DEADLINE_KIND = "catalog_update_after_change"


def task_url(task: UpdateTask) -> str:
    return f"/catalog/update-tasks/{task.pk}/"


@transaction.atomic
def do_open_update_task(actor: Any, *, department: Department, reason: str, title: str, change_date: dt.date,
                        description: str = "") -> UpdateTask:
    require(actor, Capability.MANAGE_UPDATE_TASKS)
    if reason not in UpdateTask.Reason.values:
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="reason", value=reason, choices="/".join(UpdateTask.Reason.values))
    title = required_text(title, "title", 200)
    if change_date is None:
        raise ValidationFailed("required", _("This field is required."), field="change_date")
    if change_date > timezone.localdate() + dt.timedelta(days=366):
        raise ValidationFailed("date_too_far", _("The change date is more than a year ahead."), field="change_date")
    if department.is_centre or not department.is_active:
        raise ValidationFailed("invalid_department", _("Choose an active provider department."), field="department")
    profile = profile_of(department)
    period = profile.deadline(DEADLINE_KIND)
    task = UpdateTask(department=department, reason=reason, title=title, description=(description or "").strip(),
                      opened_by=actor, change_date=change_date)
    # the Deadline row keeps the due day current when the holiday calendar changes (core.recompute)
    try:
        deadline = open_deadline(task, DEADLINE_KIND, profile.name, change_date)
    except ValidationFailed as exc:  # a date outside the working-day calendar: name the field the user filled
        raise ValidationFailed(exc.code, exc.message, field="change_date", **exc.params) from None
    task.deadline = deadline
    task.save()
    bind_deadline(deadline, task)
    audit.record(AuditCode.UPDATE_TASK_OPENED, actor=actor, obj=task, department=department,
                 detail={"department": department.code, "due": deadline.due_date.isoformat(), "source": period.source,
                         "provisional": deadline.provisional})
    notify(department_editors(department), "catalog.update_task",
           bilingual(_("Update your catalog by %(date)s: %(title)s"), date=deadline.due_date.isoformat(), title=title),
           body=bilingual(_("Within %(period)s of the change (%(source)s)."), period=period.describe(),
                          source=period.source),
           url=task_url(task), obj=task)
    return task


def _close(actor: Any, task: UpdateTask, status: str, note: str, code: AuditCode) -> UpdateTask:
    if task.status != UpdateTask.Status.OPEN:
        raise Conflict("task_closed", _("This task is already %(status)s."), status=choice_label(task))
    now = timezone.now()
    task.status = status
    task.closed_by = actor
    task.closed_at = now
    task.completion_note = note
    task.save()
    Deadline.objects.filter(pk=task.deadline_id).update(closed_at=now)
    audit.record(code, actor=actor, obj=task, department=task.department,
                 changes={"status": [UpdateTask.Status.OPEN, status]},
                 detail={"overdue": now > task.deadline.due_at, "note": note[:500]})
    return task


@transaction.atomic
def do_complete_update_task(actor: Any, task: UpdateTask, *, note: str) -> UpdateTask:
    """The department reports the update done (the centre may also close it for them)."""
    task = get_for(actor, Action.CHANGE, UpdateTask.objects.select_for_update().select_related("deadline"),
                   pk=task.pk)
    text = required_text(note, "note")
    task = _close(actor, task, UpdateTask.Status.COMPLETED, text, AuditCode.UPDATE_TASK_COMPLETED)
    notify([task.opened_by] if task.opened_by else [], "catalog.update_task_done",
           bilingual(_("Catalog update done: %(title)s"), title=task.title), body=text, url=task_url(task), obj=task)
    return task


@transaction.atomic
def do_cancel_update_task(actor: Any, task: UpdateTask, *, reason: str) -> UpdateTask:
    require(actor, Capability.MANAGE_UPDATE_TASKS)
    task = get_for(actor, Action.CHANGE, UpdateTask.objects.select_for_update().select_related("deadline"),
                   pk=task.pk)
    text = required_text(reason, "reason")
    task = _close(actor, task, UpdateTask.Status.CANCELLED, text, AuditCode.UPDATE_TASK_CANCELLED)
    notify(department_editors(task.department), "catalog.update_task_cancelled",
           bilingual(_("Catalog-update task cancelled: %(title)s"), title=task.title), body=text,
           url=task_url(task), obj=task)
    return task


def _escalate(task: UpdateTask, now: dt.datetime) -> None:
    audit.record(AuditCode.UPDATE_TASK_ESCALATED, obj=task, department=task.department,
                 detail={"due": task.deadline.due_date.isoformat()})
    notify(department_editors(task.department) + centre_reviewers(task.department), "catalog.update_task_overdue",
           bilingual(_("Overdue catalog update (%(department)s): %(title)s"),
                     department=task.department.name, title=task.title),
           url=task_url(task), obj=task)


def _claim_escalation(task: UpdateTask, now: dt.datetime) -> bool:
    return bool(UpdateTask.objects.filter(pk=task.pk, overdue_notified_at__isnull=True).update(overdue_notified_at=now))


#: catalog's row in the core table of clocked kinds (escalation only: the task's notice is its reminder)
CLOCKED_KIND = register_kind(ClockedKind(
    name="catalog.update_task",
    queryset=lambda: UpdateTask.objects.select_related("department", "deadline"),
    already_escalated=lambda task: task.overdue_notified_at is not None,
    claim_escalation=_claim_escalation,
    escalate=_escalate,
))


def notify_overdue(now: dt.datetime | None = None) -> int:
    """Tell the department and the centre once when a task passes its deadline (worker hook), audited."""
    return escalate_all(now, only=[CLOCKED_KIND.name])
