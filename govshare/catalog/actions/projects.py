"""IT projects and their resource catalogs (CAT-8, N51-§21, LN-§27, CN-§9): a project cannot be
approved (立项申请 → 建设) nor accepted (建设 → 验收) while it has no published catalog entry."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions._common import required_text
from govshare.catalog.models import CatalogEntry, Project
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.models import Department
from govshare.core.permissions import Action, deny, get_for, require
from govshare.core.roles import Capability, Role

ORDER = [Project.Stage.APPLICATION, Project.Stage.CONSTRUCTION, Project.Stage.ACCEPTANCE]


@transaction.atomic
def do_create_project(actor: Any, *, name: str, code: str, department: Department | None = None,
                      description: str = "") -> Project:
    require(actor, Capability.MANAGE_PROJECTS)
    department = department or actor.department
    if department is None:
        raise ValidationFailed("required", _("This field is required."), field="department")
    if department.pk != actor.department_id and not actor.has_role(Role.CENTRE_ADMIN):
        deny(actor, "other_department", _("You register projects of your own department only."), obj=department)
    name = required_text(name, "name", 200)
    code = required_text(code, "code", 40)
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", code):
        raise ValidationFailed("invalid_code", _("Use letters, digits, '-', '_' and '.' in a project code."),
                               field="code")
    if Project.objects.filter(code=code).exists():
        raise Conflict("duplicate_code", _("A project with code %(code)s already exists."), field="code", code=code)
    project = Project.objects.create(name=name, code=code, department=department,
                                     description=(description or "").strip(), created_by=actor)
    audit.record(AuditCode.PROJECT_CREATED, actor=actor, obj=project, department=department,
                 changes={"code": [None, code], "name": [None, name]})
    return project


@transaction.atomic
def do_move_project(actor: Any, project: Project, *, stage: str) -> Project:
    project = get_for(actor, Action.CHANGE, Project.objects.select_for_update(), pk=project.pk)
    if stage not in Project.Stage.values:
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="stage", value=stage, choices="/".join(Project.Stage.values))
    current = ORDER.index(Project.Stage(project.stage))
    target = ORDER.index(Project.Stage(stage))
    if target != current + 1:
        raise Conflict("invalid_transition", _("A project moves one stage forward at a time (%(current)s → %(target)s)."),
                       current=project.get_stage_display(), target=str(Project.Stage(stage).label))
    if not project.entries.filter(status=CatalogEntry.Status.PUBLISHED).exists():
        raise Conflict("project_needs_catalog",
                       _("%(project)s has no published catalog entry: register and publish its resource catalog "
                         "before approval or acceptance (N51-§21)."), project=project.name, field="stage")
    now = timezone.now()
    before = project.stage
    project.stage = stage
    if stage == Project.Stage.CONSTRUCTION:
        project.approved_at = now
    if stage == Project.Stage.ACCEPTANCE:
        project.accepted_at = now
    project.save()
    audit.record(AuditCode.PROJECT_STAGE_CHANGED, actor=actor, obj=project, department=project.department,
                 changes={"stage": [before, stage]})
    return project


@transaction.atomic
def do_attach_entry(actor: Any, entry: CatalogEntry, project: Project | None) -> CatalogEntry:
    """Put an entry under a project of the same department (or take it out with ``None``)."""
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_for_update(), pk=entry.pk)
    if project is not None:
        project = get_for(actor, Action.CHANGE, Project, pk=project.pk)
        if project.department_id != entry.provider_id:
            raise ValidationFailed("project_other_department", _("The project belongs to another department."),
                                   field="project")
    before = entry.project.code if entry.project else None
    entry.project = project
    entry.save(update_fields=["project"])
    audit.record(AuditCode.PROJECT_UPDATED, actor=actor, obj=entry,
                 changes={"project": [before, project.code if project else None]})
    return entry
