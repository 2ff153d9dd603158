"""Actions on organisations, users, roles and the data-specialist register (SEC-1, SUP-1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, crypto
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, Forbidden, GovshareError, ManyProblems, ValidationFailed
from govshare.core.models import (
    Department,
    Jurisdiction,
    RoleAssignment,
    SpecialistAppointment,
    User,
)
from govshare.core.permissions import Action, deny, require, require_object
from govshare.core.policy import require_assignable
from govshare.core.roles import CENTRE_ROLES, DEPARTMENT_ROLES, INCOMPATIBLE, Capability, Role
from govshare.core.validators import mask_id_number, normalize_id_number, normalize_uscc

JURISDICTION_FIELDS = ["code", "name", "level", "parent_id", "policy_profile"]
DEPARTMENT_FIELDS = ["name", "short_name", "uscc", "code", "kind", "jurisdiction_id", "is_active"]
USER_FIELDS = ["username", "real_name", "email", "phone", "department_id", "is_active", "id_number_masked"]


def _required(value: Any, field: str) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed("required", _("This field is required."), field=field)


def _require_or_bootstrap(actor: Any, capability: str, *, operator: bool = False) -> None:
    """``actor=None`` is the system: the bootstrap (first install, ``govshare demo``/``createadmin``),
    allowed only while no active centre administrator exists, or — with ``operator=True`` — the
    machine's operator at the console (``govshare auditor …``).  Audit events then name no actor."""
    if actor is None:
        if operator:
            return
        if RoleAssignment.objects.filter(role=Role.CENTRE_ADMIN, user__is_active=True).exists():
            deny(None, "bootstrap_closed", _("The platform is set up: log in as a centre administrator."))
        return
    require(actor, capability)


#: the roles a department administrator may grant (and so the accounts they may manage)
DEPT_ADMIN_GRANTABLE = frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST})


def _fresh_roles(user: User) -> frozenset[str]:
    user.__dict__.pop("_role_cache", None)
    return user.role_set()


def _guard_target(actor: Any, target: User) -> None:
    """Who may act on someone else's account (GB/T 39477 separation of duties):

    * an auditor's account only the machine operator manages (``govshare auditor``) — otherwise an
      administrator could set its password and read the audit log;
    * a department administrator only accounts whose roles they could grant themselves.
    """
    if actor is None or actor.pk == target.pk:
        return
    held = _fresh_roles(target) if target.is_active else frozenset(
        target.role_assignments.values_list("role", flat=True))
    if Role.AUDITOR in held:
        deny(actor, "auditor_account", _("Auditor accounts are managed only by the system operator "
                                         "(`govshare auditor`), to keep duties separate."), obj=target)
    if not actor.has_role(Role.CENTRE_ADMIN):
        beyond = sorted(set(held) - DEPT_ADMIN_GRANTABLE)
        if beyond:
            deny(actor, "target_roles", _("You cannot manage an account that holds the role %(role)s."),
                 obj=target, role=Role(beyond[0]).label)


# ------------------------------------------------------------------ jurisdictions

def _check_profile(name: str) -> None:
    # unknown or invalid → unknown_profile; a placeholder (template) → placeholder_profile
    require_assignable(name)


LEVEL_RANK = {Jurisdiction.Level.PROVINCE: 0, Jurisdiction.Level.CITY: 1, Jurisdiction.Level.COUNTY: 2}


def _check_parent(level: str, parent: Jurisdiction | None, *, child: Jurisdiction | None = None) -> None:
    """The tree runs province → city → county: a parent is of a higher level, and never a descendant."""
    if parent is None:
        return
    if child is not None and (parent.pk == child.pk or child in parent.ancestors()):
        raise ValidationFailed("jurisdiction_cycle",
                               _("%(parent)s lies inside %(child)s: a jurisdiction cannot be its own ancestor."),
                               parent=parent.name, child=child.name, field="parent")
    if LEVEL_RANK[Jurisdiction.Level(parent.level)] >= LEVEL_RANK[Jurisdiction.Level(level)]:
        raise ValidationFailed("jurisdiction_level",
                               _("A %(level)s cannot be placed under a %(parent_level)s."),
                               level=Jurisdiction.Level(level).label,
                               parent_level=Jurisdiction.Level(parent.level).label, field="parent")


@transaction.atomic
def do_create_jurisdiction(actor: Any, *, code: str, name: str, level: str,
                           parent: Jurisdiction | None = None, policy_profile: str = "national") -> Jurisdiction:
    _require_or_bootstrap(actor, Capability.MANAGE_JURISDICTIONS)
    _required(code, "code")
    _required(name, "name")
    if level not in Jurisdiction.Level.values:
        raise ValidationFailed("invalid_choice", _("Unknown level %(value)s."), value=level, field="level")
    _check_profile(policy_profile)
    if Jurisdiction.objects.filter(code=code).exists():
        raise Conflict("duplicate_code", _("A jurisdiction with code %(code)s already exists."), code=code,
                       field="code")
    _check_parent(level, parent)
    j = Jurisdiction.objects.create(code=code, name=name, level=level, parent=parent, policy_profile=policy_profile)
    audit.record(AuditCode.JURISDICTION_CREATED, actor=actor, obj=j,
                 changes=audit.diff({}, audit.snapshot(j, JURISDICTION_FIELDS)))
    return j


@transaction.atomic
def do_update_jurisdiction(actor: Any, jurisdiction: Jurisdiction, **changes: Any) -> Jurisdiction:
    require_object(actor, Action.CHANGE, jurisdiction)
    before = audit.snapshot(jurisdiction, JURISDICTION_FIELDS)
    if "policy_profile" in changes:
        _check_profile(changes["policy_profile"])
    for field, value in changes.items():
        if field not in {"name", "policy_profile", "parent"}:
            raise ValidationFailed("readonly_field", _("This field cannot be changed."), field=field)
        if field == "name":
            _required(value, field)
        if field == "parent":
            _check_parent(jurisdiction.level, value, child=jurisdiction)
        setattr(jurisdiction, field, value)
    jurisdiction.save()
    audit.record(AuditCode.JURISDICTION_UPDATED, actor=actor, obj=jurisdiction,
                 changes=audit.diff(before, audit.snapshot(jurisdiction, JURISDICTION_FIELDS)))
    return jurisdiction


# ------------------------------------------------------------------ departments

def department_problems(*, name: str | None, short_name: str | None, uscc: str | None, code: str | None,
                        kind: str | None = Department.Kind.DEPARTMENT) -> list[GovshareError]:
    """Every problem of a new department at once, each naming its field (nothing is written);
    ``None``: not given / already refused by the form."""
    problems: list[GovshareError] = []
    for field, value in (("name", name), ("short_name", short_name), ("code", code)):
        if value is None:
            continue
        try:
            _required(value, field)
            _no_control_chars(value, field)
            _max_length(value, field, _model_max(Department, field))
        except ValidationFailed as exc:
            problems.append(exc)
    if uscc is not None:
        try:
            normal = normalize_uscc(uscc)
        except ValidationFailed as exc:
            problems.append(exc)
        else:
            if Department.objects.filter(uscc=normal).exists():
                problems.append(Conflict("duplicate_uscc",
                                         _("A department with this unified social credit code already exists."),
                                         field="uscc"))
    if kind is not None and kind not in Department.Kind.values:
        problems.append(ValidationFailed("invalid_choice", _("Unknown kind %(value)s."), value=kind, field="kind"))
    if code and code.strip() and Department.objects.filter(code=code.strip()).exists():
        problems.append(Conflict("duplicate_code", _("A department with code %(code)s already exists."),
                                 code=code.strip(), field="code"))
    return problems


@transaction.atomic
def do_create_department(actor: Any, *, name: str, short_name: str, uscc: str, code: str,
                         jurisdiction: Jurisdiction, kind: str = Department.Kind.DEPARTMENT) -> Department:
    """Permission first; then every problem of the input at once (:func:`department_problems`)."""
    _require_or_bootstrap(actor, Capability.MANAGE_DEPARTMENTS)
    raise_problems(department_problems(name=name, short_name=short_name, uscc=uscc, code=code, kind=kind))
    dept = Department.objects.create(name=name.strip(), short_name=short_name.strip(), uscc=normalize_uscc(uscc),
                                     code=code.strip(), kind=kind, jurisdiction=jurisdiction)
    audit.record(AuditCode.DEPARTMENT_CREATED, actor=actor, obj=dept, department=dept,
                 changes=audit.diff({}, audit.snapshot(dept, DEPARTMENT_FIELDS)))
    return dept


@transaction.atomic
def do_update_department(actor: Any, department: Department, **changes: Any) -> Department:
    require_object(actor, Action.CHANGE, department)
    before = audit.snapshot(department, DEPARTMENT_FIELDS)
    allowed = {"name", "short_name", "uscc", "is_active"}
    if not actor.has_role(Role.CENTRE_ADMIN):
        allowed = {"short_name"}  # a department admin may not rename or re-code their department
    for field, value in changes.items():
        if field not in allowed:
            raise ValidationFailed("readonly_field", _("This field cannot be changed by you."), field=field)
        if field == "uscc":
            value = normalize_uscc(value)
            if Department.objects.filter(uscc=value).exclude(pk=department.pk).exists():
                raise Conflict("duplicate_uscc",
                               _("A department with this unified social credit code already exists."),
                               field="uscc")
        if field in {"name", "short_name"}:
            _required(value, field)
        setattr(department, field, value)
    department.save()
    diff = audit.diff(before, audit.snapshot(department, DEPARTMENT_FIELDS))
    audit.record(AuditCode.DEPARTMENT_UPDATED, actor=actor, obj=department, department=department, changes=diff)
    if diff:
        from govshare.core.signals import department_changed

        department_changed.send(sender=Department, department=department, changed=sorted(diff))
    return department


# ------------------------------------------------------------------ users and roles

def _check_manage_user(actor: Any, department: Department | None) -> None:
    require(actor, Capability.MANAGE_USERS)
    if actor.has_role(Role.CENTRE_ADMIN):
        return
    # a department admin manages the users of their own department only
    if department is None or department.pk != actor.department_id:
        deny(actor, "forbidden_department", _("You can only manage users of your own department."),
             field="department")


def _check_id_number(id_number: str, user: User | None = None) -> str:
    """The normalised number (GB 11643 checked), refused when another user holds it."""
    number = normalize_id_number(id_number)
    others = User.objects.filter(id_number_digest=crypto.digest(number))
    if user is not None and user.pk is not None:
        others = others.exclude(pk=user.pk)
    if others.exists():
        raise Conflict("duplicate_id_number", _("Another user is registered with this ID number."),
                       field="id_number")
    return number


def _set_id_number(user: User, id_number: str | None) -> None:
    if not id_number:
        return
    number = _check_id_number(id_number, user)
    user.id_number_encrypted = crypto.encrypt(number)
    user.id_number_digest = crypto.digest(number)
    user.id_number_masked = mask_id_number(number)


def _check_create_permission(actor: Any, department: Department | None, roles: Sequence[str],
                             operator: bool) -> None:
    """Who may create this account with these roles: checked before anything else (and before any write)."""
    if actor is None:
        _require_or_bootstrap(None, Capability.MANAGE_USERS, operator=operator)
        return
    _check_manage_user(actor, department)
    for role in roles:
        if role == Role.AUDITOR:
            deny(actor, "auditor_role", _("The auditor role is granted only by the system operator "
                                          "(`govshare auditor`), to keep duties separate."), field="role")
        if role in Role.values and not actor.has_role(Role.CENTRE_ADMIN) and role not in DEPT_ADMIN_GRANTABLE:
            deny(actor, "forbidden_role", _("Only the centre can grant the role %(role)s."),
                 role=Role(role).label, field="role")


def _role_problems(roles: Sequence[str], department: Department | None) -> list[GovshareError]:
    """Every reason the roles cannot be held together in this department (the rules of ``do_grant_role``)."""
    problems: list[GovshareError] = []
    valid = []
    for role in roles:
        if role not in Role.values:
            problems.append(ValidationFailed("invalid_role", _("Unknown role %(role)s."), role=role, field="role"))
            continue
        valid.append(role)
        if role in DEPARTMENT_ROLES and department is None:
            problems.append(ValidationFailed("role_needs_department", _("The role %(role)s needs a department."),
                                             role=Role(role).label, field="role"))
        elif role in CENTRE_ROLES and department is not None and not department.is_centre:
            problems.append(ValidationFailed(
                "role_needs_centre", _("The role %(role)s is only for staff of the data-management centre."),
                role=Role(role).label, field="role"))
    for i, role in enumerate(valid):
        for have in valid[:i]:
            if role in INCOMPATIBLE.get(Role(have), frozenset()) or have in INCOMPATIBLE.get(Role(role), frozenset()):
                problems.append(ValidationFailed(
                    "separation_of_duties",
                    _("Separation of duties (GB/T 39477): the role %(role)s cannot be combined with %(held)s."),
                    role=Role(role).label, held=Role(have).label, field="role"))
    return problems


def user_problems(*, username: str | None, real_name: str | None, password: str | None = None,
                  id_number: str | None = None, email: str | None = "", phone: str | None = "",
                  department: Department | None = None, roles: Sequence[str] = ()) -> list[GovshareError]:
    """Every problem of a new account at once, each naming its field (nothing is written).

    ``None`` for a value means "not given / already refused by the form": it is not checked again.
    Used by :func:`do_create_user` (after its permission check) and by forms that show the action's
    problems together with their own."""
    problems: list[GovshareError] = []

    def check(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (ValidationFailed, Conflict) as exc:
            problems.append(exc)
            return None

    clean_name = None
    if username is not None:
        if len(username.strip()) > _model_max(User, "username"):
            check(_max_length, username, "username", _model_max(User, "username"))
        elif username.strip():
            clean_name = check(_clean_username, username)
        else:
            check(_required, username, "username")
        if clean_name and User.objects.filter(username__iexact=clean_name).exists():
            problems.append(Conflict("duplicate_username", _("The user name %(username)s is taken."),
                                     username=clean_name, field="username"))
    if real_name is not None:
        check(_required, real_name, "real_name")
    for field, value in (("real_name", real_name), ("email", email), ("phone", phone)):
        if value is not None:
            check(_no_control_chars, value, field)
            check(_max_length, value, field, _model_max(User, field))
    if department is not None and not department.is_active:
        problems.append(ValidationFailed("department_inactive", _("The department %(name)s is deactivated."),
                                         name=department.name, field="department"))
    if id_number:
        check(_check_id_number, id_number)
    if password:
        from govshare.core.actions.auth import check_password_strength

        probe = User(username=clean_name or (username or ""), real_name=(real_name or "").strip(),
                     email=(email or "").strip())
        check(lambda: check_password_strength(password, probe, field="password"))
    problems.extend(_role_problems(roles, department))
    return problems


def raise_problems(problems: list[GovshareError]) -> None:
    """One problem as itself (its own code and status), several as :class:`ManyProblems`."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ManyProblems(problems)


@transaction.atomic
def do_create_user(actor: Any, *, username: str, real_name: str, password: str | None,
                   id_number: str | None = None, email: str = "", phone: str = "",
                   department: Department | None = None, roles: Sequence[str] = (),
                   operator: bool = False, password_hash: str | None = None) -> User:
    """Create a real-name user.  ``actor=None``: the system (see ``_require_or_bootstrap``).

    ``password_hash``: ``password`` already hashed with ``make_password`` (the demo loaders hash their
    one password once instead of once per account); ``password`` is still checked against the rules.

    Permission first; then every problem of the input is reported at once (:func:`user_problems`,
    a :class:`ManyProblems` when there are several) and nothing is written."""
    _check_create_permission(actor, department, roles, operator)
    raise_problems(user_problems(username=username, real_name=real_name, password=password, id_number=id_number,
                                 email=email, phone=phone, department=department, roles=roles))
    username = _clean_username(username)
    user = User(username=username, real_name=real_name.strip(), email=email.strip(), phone=phone.strip(),
                department=department)
    _set_id_number(user, id_number)
    if password and password_hash:
        user.password = password_hash
    elif password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise Conflict("duplicate_user", _("This user already exists."), field="username") from exc
    audit.record(AuditCode.USER_CREATED, actor=actor, obj=user, department=department,
                 changes=audit.diff({}, audit.snapshot(user, USER_FIELDS)))
    for role in roles:
        do_grant_role(actor, user, role, operator=operator)
    return user


def _max_length(value: Any, field: str, limit: int) -> None:
    """Too long is refused, never cut (issue 8: no silent truncation)."""
    if isinstance(value, str) and len(value.strip()) > limit:
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field=field, max=limit)


def _model_max(model: Any, field: str) -> int:
    return int(model._meta.get_field(field).max_length)


def _no_control_chars(value: Any, field: str) -> None:
    if isinstance(value, str) and any(ord(ch) < 32 for ch in value):
        raise ValidationFailed("control_characters", _("This field contains control characters."), field=field)


def _clean_username(raw: str) -> str:
    """Django's own normalisation (NFKC) and validator: letters, digits and @ . + - _ only; a name
    that normalises to something else (full-width look-alikes) is refused, not silently changed."""
    username = raw.strip()
    normal = User.normalize_username(username)
    if normal != username:
        raise ValidationFailed("username_not_normal",
                               _("The user name contains characters that look like others (full-width or "
                                 "compatibility forms); type it with ordinary characters."), field="username")
    try:
        User.username_validator(username)
    except DjangoValidationError:
        raise ValidationFailed("invalid_username",
                               _("A user name may contain only letters, digits and @ . + - _ characters."),
                               field="username") from None
    return username


@transaction.atomic
def do_update_user(actor: Any, user: User, **changes: Any) -> User:
    require_object(actor, Action.CHANGE, user)
    _guard_target(actor, user)
    before = audit.snapshot(user, USER_FIELDS)
    # an auditor changes nothing but their own password and tokens (GB/T 39477)
    self_service = set() if actor.has_role(Role.AUDITOR) else {"email", "phone"}
    managed = {"real_name", "email", "phone", "id_number", "department"}  # deactivate: do_deactivate_user
    may_manage = actor.pk != user.pk or actor.has_role(Role.CENTRE_ADMIN)
    allowed = managed if may_manage else self_service
    moved_from: Department | None = None
    for field, value in changes.items():
        if field not in allowed:
            raise ValidationFailed("readonly_field", _("This field cannot be changed by you."), field=field)
        _no_control_chars(value, field)
        if field in {"real_name", "email", "phone"}:
            _max_length(value, field, _model_max(User, field))
        if field == "id_number":
            _set_id_number(user, value)
        elif field == "department":
            if not actor.has_role(Role.CENTRE_ADMIN):
                deny(actor, "forbidden_department", _("Only the centre can move a user to another department."),
                     obj=user, field="department")
            if value != user.department:
                moved_from = user.department
                _check_roles_fit(user, value)
                user.department = value
        else:
            if field == "real_name":
                _required(value, field)
            setattr(user, field, value)
    user.save()
    if moved_from is not None:
        # SUP-1: the old department's register is kept current
        _end_open_appointments(actor, user, str(_("moved to %(department)s") % {
            "department": user.department.name if user.department else "—"}), department=moved_from)
    audit.record(AuditCode.USER_UPDATED, actor=actor, obj=user, department=user.department,
                 changes=audit.diff(before, audit.snapshot(user, USER_FIELDS)))
    return user


def _check_roles_fit(user: User, department: Department | None) -> None:
    """The department rules of ``do_grant_role`` hold after a move too."""
    for role in sorted(_fresh_roles(user)):
        if role in DEPARTMENT_ROLES and department is None:
            raise ValidationFailed("role_needs_department", _("The role %(role)s needs a department."),
                                   role=Role(role).label, field="department")
        if role in CENTRE_ROLES and department is not None and not department.is_centre:
            raise ValidationFailed("role_needs_centre",
                                   _("The role %(role)s is only for staff of the data-management centre."),
                                   role=Role(role).label, field="department")


def _end_open_appointments(actor: Any, user: User, reason: str, *, department: Department | None = None) -> None:
    open_ones = SpecialistAppointment.objects.filter(user=user, ended_at__isnull=True).select_related("department")
    if department is not None:
        open_ones = open_ones.filter(department=department)
    for appointment in open_ones:
        _close_appointment(actor, appointment, reason)


@transaction.atomic
def do_deactivate_user(actor: Any, user: User, reason: str = "", *, operator: bool = False) -> User:
    if actor is None and not operator:
        raise Forbidden("operator_only", _("Only the system operator acts without an account."))
    if actor is not None:
        require_object(actor, Action.CHANGE, user)
        _guard_target(actor, user)
        if actor.pk == user.pk:
            raise ValidationFailed("self_deactivate", _("You cannot deactivate your own account."))
    _max_length(reason, "reason", _model_max(SpecialistAppointment, "end_reason"))
    user.is_active = False
    user.save(update_fields=["is_active"])
    user.api_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    audit.record(AuditCode.USER_DEACTIVATED, actor=actor, obj=user, department=user.department,
                 changes={"is_active": [True, False]}, detail={"reason": reason})
    _end_open_appointments(actor, user, reason or str(_("account deactivated")))
    return user


def _check_role_compatible(user: User, role: str) -> None:
    held = set(user.role_assignments.values_list("role", flat=True))
    for have in held:
        if role in INCOMPATIBLE.get(Role(have), frozenset()) or have in INCOMPATIBLE.get(Role(role), frozenset()):
            raise ValidationFailed(
                "separation_of_duties",
                _("Separation of duties (GB/T 39477): the role %(role)s cannot be combined with %(held)s."),
                role=Role(role).label, held=Role(have).label, field="role",
            )


@transaction.atomic
def do_grant_role(actor: Any, user: User, role: str, *, operator: bool = False) -> RoleAssignment:
    if role not in Role.values:
        raise ValidationFailed("invalid_role", _("Unknown role %(role)s."), role=role, field="role")
    if actor is None:
        _require_or_bootstrap(None, Capability.MANAGE_USERS, operator=operator)
    else:
        _check_manage_user(actor, user.department)
        if role == Role.AUDITOR:
            deny(actor, "auditor_role", _("The auditor role is granted only by the system operator "
                                          "(`govshare auditor`), to keep duties separate."), obj=user, field="role")
        if not actor.has_role(Role.CENTRE_ADMIN) and role not in DEPT_ADMIN_GRANTABLE:
            deny(actor, "forbidden_role", _("Only the centre can grant the role %(role)s."), obj=user,
                 role=Role(role).label, field="role")
        _guard_target(actor, user)
    if role in DEPARTMENT_ROLES and user.department is None:
        raise ValidationFailed("role_needs_department", _("The role %(role)s needs a department."),
                               role=Role(role).label, field="role")
    if role in CENTRE_ROLES and user.department is not None and not user.department.is_centre:
        raise ValidationFailed("role_needs_centre",
                               _("The role %(role)s is only for staff of the data-management centre."),
                               role=Role(role).label, field="role")
    _check_role_compatible(user, role)
    assignment, created = RoleAssignment.objects.get_or_create(user=user, role=role,
                                                               defaults={"granted_by": actor})
    if created:
        audit.record(AuditCode.ROLE_GRANTED, actor=actor, obj=user, department=user.department,
                     changes={"roles": [None, role]})
    user.__dict__.pop("_role_cache", None)
    return assignment


@transaction.atomic
def do_revoke_role(actor: Any, user: User, role: str) -> None:
    if role not in Role.values:
        raise ValidationFailed("invalid_role", _("Unknown role %(role)s."), role=role, field="role")
    _check_manage_user(actor, user.department)
    if not actor.has_role(Role.CENTRE_ADMIN) and role not in DEPT_ADMIN_GRANTABLE:
        deny(actor, "forbidden_role", _("Only the centre can revoke the role %(role)s."), obj=user,
             role=Role(role).label, field="role")
    _guard_target(actor, user)
    if actor.pk == user.pk and role in {Role.CENTRE_ADMIN, Role.DEPT_ADMIN}:
        raise ValidationFailed("self_revoke", _("You cannot remove your own administrator role."), field="role")
    deleted, _n = RoleAssignment.objects.filter(user=user, role=role).delete()
    if deleted:
        audit.record(AuditCode.ROLE_REVOKED, actor=actor, obj=user, department=user.department,
                     changes={"roles": [role, None]})
    user.__dict__.pop("_role_cache", None)


# ------------------------------------------------------------------ data-specialist register

@transaction.atomic
def do_appoint_specialist(actor: Any, department: Department, user: User, *, duty: str = "member",
                          phone: str = "", note: str = "") -> SpecialistAppointment:
    require_object(actor, Action.CHANGE, department)
    if not user.is_active:
        raise ValidationFailed("user_inactive", _("%(user)s is deactivated and cannot be appointed."),
                               user=str(user), field="user")
    if user.department_id != department.pk:
        raise ValidationFailed("specialist_department",
                               _("A data specialist must be a member of the department."), field="user")
    if duty not in SpecialistAppointment.Duty.values:
        raise ValidationFailed("invalid_choice", _("Unknown duty %(value)s."), value=duty, field="duty")
    for field, value in (("phone", phone), ("note", note)):
        _no_control_chars(value, field)
        _max_length(value, field, _model_max(SpecialistAppointment, field))
    if SpecialistAppointment.objects.filter(department=department, user=user, ended_at__isnull=True).exists():
        raise Conflict("already_appointed", _("%(user)s is already on the register."), user=str(user),
                       field="user")
    appointment = SpecialistAppointment.objects.create(department=department, user=user, duty=duty, phone=phone,
                                                       note=note, appointed_by=actor)
    if not user.has_role(Role.DATA_SPECIALIST):
        do_grant_role(actor, user, Role.DATA_SPECIALIST)
    audit.record(AuditCode.SPECIALIST_APPOINTED, actor=actor, obj=appointment, department=department,
                 object_repr=f"{department.short_name}: {user}",
                 changes={"user": [None, user.username], "duty": [None, duty]})
    return appointment


@transaction.atomic
def do_end_specialist(actor: Any, appointment: SpecialistAppointment, reason: str = "") -> SpecialistAppointment:
    require_object(actor, Action.CHANGE, appointment)
    _max_length(reason, "reason", _model_max(SpecialistAppointment, "end_reason"))
    if appointment.ended_at is not None:
        raise Conflict("already_ended", _("This appointment has already ended."))
    return _close_appointment(actor, appointment, reason)


def _close_appointment(actor: Any, appointment: SpecialistAppointment, reason: str) -> SpecialistAppointment:
    appointment.ended_at = timezone.now()
    appointment.ended_by = actor
    # a reason typed by a person is checked by the action (too long is refused); one the platform
    # writes ("moved to <department>") is shortened to the column
    appointment.end_reason = reason[:_model_max(SpecialistAppointment, "end_reason")]
    appointment.save(update_fields=["ended_at", "ended_by", "end_reason"])
    audit.record(AuditCode.SPECIALIST_ENDED, actor=actor, obj=appointment, department=appointment.department,
                 object_repr=f"{appointment.department.short_name}: {appointment.user}",
                 changes={"ended_at": [None, appointment.ended_at]}, detail={"reason": reason})
    return appointment
