"""Consuming information systems (SHR-2, SHR-4): a department registers the systems that receive shared
data; a deactivated system is refused by every access check at once."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.sharing.actions._common import optional_text, required_text
from govshare.sharing.models import ConsumingSystem


@transaction.atomic
def do_register_system(actor: Any, *, name: str, code: str, description: str = "",
                       department: Any = None) -> ConsumingSystem:
    """Register a consuming information system of the actor's department (or, for the centre
    administrator, of ``department``)."""
    require(actor, Capability.MANAGE_SYSTEMS)
    dept = department if department is not None and actor.has_role("centre_admin") else actor.department
    if dept is None:
        raise ValidationFailed("no_department", _("Your account belongs to no department."), field="department")
    name = required_text(name, "name", 200)
    code = required_text(code, "code", 40)
    if not all(ch.isalnum() or ch in "-_." for ch in code) or not code.isascii():
        raise ValidationFailed("invalid_code", _("Use letters, digits, '-', '_' and '.' only."), field="code")
    if ConsumingSystem.objects.filter(code__iexact=code).exists():
        raise Conflict("duplicate_code", _("A system with the code %(code)s exists already."), field="code", code=code)
    if ConsumingSystem.objects.filter(department=dept, name=name).exists():
        raise Conflict("duplicate_name", _("Your department has a system named %(name)s already."), field="name",
                       name=name)
    system = ConsumingSystem.objects.create(department=dept, name=name, code=code,
                                            description=optional_text(description, "description", 500),
                                            created_by=actor)
    audit.record(AuditCode.SYSTEM_REGISTERED, actor=actor, obj=system, department=dept,
                 detail={"code": code, "name": name})
    return system


@transaction.atomic
def do_set_system_active(actor: Any, system: ConsumingSystem, active: bool) -> ConsumingSystem:
    system = get_for(actor, Action.CHANGE, ConsumingSystem.objects.select_for_update(), pk=system.pk)
    if system.is_active != active:
        system.is_active = active
        system.save(update_fields=["is_active"])
        audit.record(AuditCode.SYSTEM_UPDATED, actor=actor, obj=system, department=system.department,
                     changes={"is_active": [not active, active]})
    return system
