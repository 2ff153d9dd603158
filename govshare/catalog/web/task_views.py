"""Catalog-update tasks (CAT-5, N51-§8): the centre opens them with the profile's deadline; the
department completes them; overdue tasks are flagged."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog import actions
from govshare.catalog.actions.update_tasks import DEADLINE_KIND
from govshare.catalog.forms import CancelForm, NoteForm, UpdateTaskForm
from govshare.catalog.models import UpdateTask
from govshare.catalog.web.common import apply_errors, catalog_view, form_status
from govshare.core.errors import GovshareError
from govshare.core.models import Department
from govshare.core.permissions import Action, can, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from govshare.core.web.org_views import require_visible

STATUS_BADGE: dict[str, str] = {UpdateTask.Status.OPEN: "warn", UpdateTask.Status.COMPLETED: "ok", UpdateTask.Status.CANCELLED: ""}


def _decorate(task: UpdateTask) -> UpdateTask:
    task.days_left = task.remaining_working_days()  # type: ignore[attr-defined]
    task.overdue = task.is_overdue  # type: ignore[attr-defined]
    task.badge = STATUS_BADGE.get(task.status, "")  # type: ignore[attr-defined]
    return task


@catalog_view
@require_safe
def task_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    tasks = require_visible(restrict(UpdateTask, user, Action.VIEW), user)
    status = request.GET.get("status", "")
    if status in UpdateTask.Status.values:
        tasks = tasks.filter(status=status)
    rows = [_decorate(t) for t in tasks.select_related("department", "deadline", "opened_by")
            .order_by("status", "deadline__due_at")[:1000]]
    return render(request, "catalog/task_list.html", {
        "tasks": rows, "status": status, "statuses": UpdateTask.Status.choices,
        "may_open": has_capability(user, Capability.MANAGE_UPDATE_TASKS),
        "overdue_count": sum(1 for t in rows if t.status == UpdateTask.Status.OPEN and t.overdue),  # type: ignore
    })


def _task_form(user: Any, data: Any = None) -> UpdateTaskForm:
    form = UpdateTaskForm(data)
    form.fields["department"].queryset = (  # type: ignore[attr-defined]
        restrict(Department, user, Action.VIEW).filter(is_active=True, kind=Department.Kind.DEPARTMENT)
        .order_by("code"))
    return form


@catalog_view
@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_UPDATE_TASKS)
    form = _task_form(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["department"] is None:
            form.add_error("department", _("This field is required."))
        else:
            try:
                task = actions.do_open_update_task(user, department=data["department"], reason=data["reason"],
                                                   title=data["title"], change_date=data["change_date"],
                                                   description=data["description"])
            except GovshareError as exc:
                if exc.status == 404:
                    raise
                apply_errors(form, exc)
            else:
                messages.success(request, _("The task is opened; the department has been told."))
                return redirect("catalog:update_task_detail", pk=task.pk)
    return render(request, "catalog/task_form.html", {"form": form, "deadline_kind": DEADLINE_KIND},
                  status=form_status(form))


def _detail(request: HttpRequest, task: UpdateTask, status: int = 200, **forms: Any) -> HttpResponse:
    user: Any = request.user
    task = UpdateTask.objects.select_related("department", "deadline", "opened_by", "closed_by").get(pk=task.pk)
    is_open = task.status == UpdateTask.Status.OPEN
    return render(request, "catalog/task_detail.html", {
        "task": _decorate(task),
        "may_complete": is_open and can(user, Action.CHANGE, task),
        "may_cancel": is_open and has_capability(user, Capability.MANAGE_UPDATE_TASKS),
        "note_form": forms.get("note_form") or NoteForm(),
        "cancel_form": forms.get("cancel_form") or CancelForm(),
    }, status=status)


@catalog_view
@require_safe
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_for(request.user, Action.VIEW, UpdateTask, pk=pk)
    return _detail(request, task)


@catalog_view
@require_POST
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_for(request.user, Action.VIEW, UpdateTask, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            actions.do_complete_update_task(request.user, task, note=form.cleaned_data["note"])
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("The task is completed."))
            return redirect("catalog:update_task_detail", pk=task.pk)
    return _detail(request, task, status=form_status(form), note_form=form)


@catalog_view
@require_POST
def task_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_for(request.user, Action.VIEW, UpdateTask, pk=pk)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            actions.do_cancel_update_task(request.user, task, reason=form.cleaned_data["reason"])
        except GovshareError as exc:
            if exc.status == 404 or (exc.status == 403 and not exc.field):
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("The task is cancelled."))
            return redirect("catalog:update_task_detail", pk=task.pk)
    return _detail(request, task, status=form_status(form), cancel_form=form)
