"""IT projects and their resource catalogs (CAT-8): list, register, stage moves (refused while the
project has no published entry) and attaching entries."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog import actions
from govshare.catalog.actions.projects import ORDER
from govshare.catalog.forms import AttachEntryForm, ProjectForm
from govshare.catalog.models import CatalogEntry, Project
from govshare.catalog.web.common import apply_errors, catalog_view, error_text, form_status
from govshare.core.errors import GovshareError
from govshare.core.models import Department
from govshare.core.permissions import Action, can, get_for, has_capability, require, restrict
from govshare.core.roles import Capability, Role
from govshare.core.web.org_views import require_visible

STAGE_BADGE: dict[str, str] = {Project.Stage.APPLICATION: "", Project.Stage.CONSTRUCTION: "warn", Project.Stage.ACCEPTANCE: "ok"}


@catalog_view
@require_safe
def project_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    projects = require_visible(restrict(Project, user, Action.VIEW), user)
    rows = list(projects.select_related("department").annotate(
        entry_count=Count("entries", distinct=True),
        published_count=Count("entries", filter=Q(entries__status=CatalogEntry.Status.PUBLISHED), distinct=True),
    ).order_by("-created_at")[:500])
    for p in rows:
        p.badge = STAGE_BADGE.get(p.stage, "")  # type: ignore[attr-defined]
    return render(request, "catalog/project_list.html", {
        "projects": rows, "may_create": has_capability(user, Capability.MANAGE_PROJECTS)})


def _project_form(user: Any, data: Any = None) -> ProjectForm:
    form = ProjectForm(data)
    if user.has_role(Role.CENTRE_ADMIN):
        form.fields["department"].queryset = (  # type: ignore[attr-defined]
            restrict(Department, user, Action.VIEW).filter(is_active=True).order_by("code"))
        form.fields["department"].help_text = _("Leave empty for your own department.")
    else:
        del form.fields["department"]  # a department registers its own projects
    return form


@catalog_view
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_PROJECTS)
    form = _project_form(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = actions.do_create_project(user, name=data["name"], code=data["code"],
                                                department=data.get("department"),
                                                description=data["description"])
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("Project %(name)s registered.") % {"name": project.name})
            return redirect("catalog:project_detail", pk=project.pk)
    return render(request, "catalog/project_form.html", {"form": form}, status=form_status(form))


def _detail(request: HttpRequest, project: Project, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    project = Project.objects.select_related("department").get(pk=project.pk)
    may_change = can(user, Action.CHANGE, project)
    entries = list(restrict(CatalogEntry, user, Action.VIEW).filter(project=project)
                   .select_related("current_version", "open_version").order_by("code"))
    position = ORDER.index(Project.Stage(project.stage))
    next_stage = ORDER[position + 1] if position + 1 < len(ORDER) else None
    attach_form = extra.pop("attach_form", None)
    if may_change:
        attach_form = attach_form or AttachEntryForm()
        field: Any = attach_form.fields["entry"]
        field.queryset = (restrict(CatalogEntry, user, Action.CHANGE).filter(provider=project.department)
                          .exclude(project=project).order_by("code"))
        field.label_from_instance = lambda e: str(e)
    return render(request, "catalog/project_detail.html", {
        "project": project,
        "badge": STAGE_BADGE.get(project.stage, ""),
        "entries": entries,
        "published": sum(1 for e in entries if e.status == CatalogEntry.Status.PUBLISHED),
        "may_change": may_change,
        "stages": [{"value": s.value, "label": s.label, "done": i <= position} for i, s in enumerate(ORDER)],
        "next_stage": {"value": next_stage.value, "label": next_stage.label} if next_stage else None,
        "attach_form": attach_form,
        "move_error": extra.pop("move_error", ""),
        **extra,
    }, status=status)


@catalog_view
@require_safe
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_for(request.user, Action.VIEW, Project, pk=pk)
    return _detail(request, project)


@catalog_view
@require_POST
def project_move(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_for(request.user, Action.VIEW, Project, pk=pk)
    stage = request.POST.get("stage", "")
    try:
        moved = actions.do_move_project(request.user, project, stage=stage)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _detail(request, project, status=exc.status, move_error=error_text(exc), move_code=exc.code)
    messages.success(request, _("The project is now at the stage: %(stage)s.") % {"stage": moved.get_stage_display()})
    return redirect("catalog:project_detail", pk=project.pk)


@catalog_view
@require_POST
def project_attach(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    project = get_for(user, Action.CHANGE, Project, pk=pk)
    form = AttachEntryForm(request.POST)
    field: Any = form.fields["entry"]
    field.queryset = restrict(CatalogEntry, user, Action.CHANGE).filter(provider=project.department)
    if form.is_valid() and form.cleaned_data["entry"] is None:
        form.add_error("entry", _("This field is required."))
    if form.is_valid():
        try:
            actions.do_attach_entry(user, form.cleaned_data["entry"], project)
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("The entry is attached to the project."))
            return redirect("catalog:project_detail", pk=project.pk)
    return _detail(request, project, status=form_status(form), attach_form=form)


@catalog_view
@require_POST
def project_detach(request: HttpRequest, pk: int, entry_pk: int) -> HttpResponse:
    user: Any = request.user
    project = get_for(user, Action.CHANGE, Project, pk=pk)
    entry = get_for(user, Action.CHANGE, CatalogEntry.objects.filter(project=project), pk=entry_pk)
    actions.do_attach_entry(user, entry, None)
    messages.success(request, _("The entry is taken out of the project."))
    return redirect("catalog:project_detail", pk=project.pk)

