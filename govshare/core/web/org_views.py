"""Web pages for organisations, users and roles, the data-specialist register and passwords
(SEC-1, SEC-2, SUP-1; issue 2 §3, §4).

Every view is thin: it reads through :func:`restrict` / :func:`get_for`, writes through an action,
and shows a :class:`GovshareError` next to the form field it names.  The helpers at the top
(``govshare_view``, ``apply_error``) are shared with :mod:`govshare.core.web.misc_views`.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from govshare.core import access_log, actions
from govshare.core.actions.org import department_problems, raise_problems, user_problems
from govshare.core.audit_codes import AuditCode
from govshare.core.auth import active_login_delays
from govshare.core.errors import Forbidden, GovshareError, ManyProblems, NotFound
from govshare.core.models import Department, Jurisdiction, SpecialistAppointment, User
from govshare.core.permissions import Action, can, deny, get_for, has_capability, require, restrict
from govshare.core.policy import assignable_profiles, get_profile
from govshare.core.roles import CENTRE_ROLES, Capability, Role

# ------------------------------------------------------------------ shared helpers


def error_text(exc: GovshareError) -> str:
    """The message of an error without its place prefix (the form shows the place)."""
    text = str(exc.message)
    if exc.params:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            text = text % exc.params
    return text


def apply_error(form: forms.Form, exc: GovshareError, aliases: dict[str, str] | None = None) -> None:
    """Attach an action's error to the field it names (``aliases`` maps an action's field name to
    the form's), or to the form as a whole."""
    field = (aliases or {}).get(exc.field or "", exc.field)
    if field and field in form.fields:
        form.add_error(field, error_text(exc))
    else:
        form.add_error(None, exc.render())


def apply_errors(form: forms.Form, exc: GovshareError, aliases: dict[str, str] | None = None) -> None:
    """Attach one error, or each of several (:class:`ManyProblems`), to the field it names; a field
    the form itself already refused keeps the form's message only."""
    refused = set(form.errors) if form.is_bound else set()
    for problem in exc.problems if isinstance(exc, ManyProblems) else [exc]:
        field = (aliases or {}).get(problem.field or "", problem.field)
        if field and field in refused:
            continue
        apply_error(form, problem, aliases)


def error_page(request: HttpRequest, exc: GovshareError) -> HttpResponse:
    return render(request, "core/org_error.html", {"error": exc, "message": exc.render()}, status=exc.status)


def govshare_view(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; an uncaught :class:`GovshareError` becomes its page (403, 404, 400, 409)
    with the message naming what is wrong."""

    @functools.wraps(fn)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return fn(request, *args, **kwargs)
        except GovshareError as exc:
            return error_page(request, exc)

    return login_required(wrapper)


def require_visible(qs: QuerySet[Any], user: Any) -> QuerySet[Any]:
    """A page whose whole content the permission rule hides from this user answers 403; the
    refusal is audited like any other (PERMISSION_DENIED)."""
    if qs.query.is_empty():
        deny(user, "forbidden", gettext_lazy("You do not have the right to see this page."),
             page=qs.model._meta.label_lower)
    return qs


def _post_or_none(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


_ID_PARAM = re.compile(r"[0-9]{1,18}", re.ASCII)


def id_param(request: HttpRequest, name: str) -> int | None:
    """A row id from the query string, or None: ASCII digits only ("²".isdigit() is true but
    int("²") fails) and short enough for a database integer."""
    raw = request.GET.get(name, "").strip()
    return int(raw) if _ID_PARAM.fullmatch(raw) else None


# ------------------------------------------------------------------ forms


class DepartmentForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    short_name = forms.CharField(label=gettext_lazy("Short name"), max_length=50)
    uscc = forms.CharField(label=gettext_lazy("Unified social credit code"), max_length=18, min_length=1,
                           help_text=gettext_lazy("18 characters, GB 32100, with its check character."))
    code = forms.CharField(label=gettext_lazy("Department code"), max_length=20,
                           help_text=gettext_lazy("Provider code used in resource codes and on the command line."))
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Department.Kind.choices,
                             initial=Department.Kind.DEPARTMENT)
    jurisdiction = forms.ModelChoiceField(label=gettext_lazy("Jurisdiction"), queryset=Jurisdiction.objects.none())
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, user: Any, editing: Department | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["jurisdiction"].queryset = restrict(Jurisdiction, user, Action.VIEW)  # type: ignore[attr-defined]
        if editing is None:
            del self.fields["is_active"]
            return
        # code, kind and jurisdiction are fixed once created (resource codes depend on them)
        for name in ("code", "kind", "jurisdiction"):
            del self.fields[name]
        if not user.has_role(Role.CENTRE_ADMIN):
            # a department administrator may change the short name of their department only
            for name in ("name", "uscc", "is_active"):
                del self.fields[name]


def _profile_choices() -> list[tuple[str, str]]:
    """Profiles a jurisdiction may be governed by (not the placeholder template)."""
    return [(name, f"{name} — {get_profile(name).title}") for name in assignable_profiles()]


class JurisdictionForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Administrative division code"), max_length=12,
                           help_text=gettext_lazy("GB/T 2260, e.g. 360783."))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    level = forms.ChoiceField(label=gettext_lazy("Level"), choices=Jurisdiction.Level.choices)
    parent = forms.ModelChoiceField(label=gettext_lazy("Parent jurisdiction"), queryset=Jurisdiction.objects.none(),
                                    required=False,
                                    help_text=gettext_lazy("Leave empty for a top-level jurisdiction."))
    policy_profile = forms.ChoiceField(label=gettext_lazy("Policy profile"), choices=(),
                                       help_text=gettext_lazy("The deadlines, retention and lists of the local "
                                                              "rule; see the policy profile pages."))

    def __init__(self, *args: Any, user: Any, editing: Jurisdiction | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parents = restrict(Jurisdiction, user, Action.VIEW).order_by("code")
        if editing is not None:
            parents = parents.exclude(pk=editing.pk)
            # the code and level are fixed once created (departments and resource codes depend on them)
            del self.fields["code"], self.fields["level"]
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.fields["policy_profile"].choices = _profile_choices()  # type: ignore[attr-defined]


class UserCreateForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("User name"), max_length=150)
    real_name = forms.CharField(label=gettext_lazy("Real name"), max_length=100)
    id_number = forms.CharField(label=gettext_lazy("Citizen ID number"), max_length=18, required=False,
                                help_text=gettext_lazy("GB 11643, 18 characters; stored encrypted, shown masked."))
    email = forms.EmailField(label=gettext_lazy("E-mail"), required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=20, required=False)
    department = forms.ModelChoiceField(label=gettext_lazy("Department"), queryset=Department.objects.none(),
                                        required=False)
    roles = forms.MultipleChoiceField(label=gettext_lazy("Roles"), choices=(), required=False,
                                      widget=forms.CheckboxSelectMultiple)
    password = forms.CharField(label=gettext_lazy("Initial password"), required=False,
                               widget=forms.PasswordInput(render_value=False),
                               help_text=gettext_lazy("Leave empty: the account cannot log in until a "
                                                      "password is set."))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = (  # type: ignore[attr-defined]
            restrict(Department, user, Action.CHANGE).filter(is_active=True))
        self.fields["roles"].choices = grantable_roles(user)  # type: ignore[attr-defined]


class UserEditForm(forms.Form):
    real_name = forms.CharField(label=gettext_lazy("Real name"), max_length=100)
    id_number = forms.CharField(label=gettext_lazy("Citizen ID number"), max_length=18, required=False,
                                help_text=gettext_lazy("Leave empty to keep the registered number."))
    email = forms.EmailField(label=gettext_lazy("E-mail"), required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=20, required=False)
    department = forms.ModelChoiceField(label=gettext_lazy("Department"), queryset=Department.objects.none(),
                                        required=False)

    def __init__(self, *args: Any, user: Any, target: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user.has_role(Role.CENTRE_ADMIN):
            self.fields["department"].queryset = restrict(Department, user, Action.CHANGE)  # type: ignore[attr-defined]
        else:
            del self.fields["department"]  # only the centre moves a user to another department
        if user.pk == target.pk and not user.has_role(Role.CENTRE_ADMIN):
            for name in ("real_name", "id_number"):  # self-service: contact details only
                del self.fields[name]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200, required=False)


class EndAppointmentForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200,
                             help_text=gettext_lazy("Kept in the register's history (SUP-1)."))


class SetPasswordForm(forms.Form):
    new_password = forms.CharField(label=gettext_lazy("New password"), widget=forms.PasswordInput)


class AppointForm(forms.Form):
    user = forms.ModelChoiceField(label=gettext_lazy("Member of the department"), queryset=User.objects.none())
    duty = forms.ChoiceField(label=gettext_lazy("Duty"), choices=SpecialistAppointment.Duty.choices,
                             initial=SpecialistAppointment.Duty.MEMBER)
    phone = forms.CharField(label=gettext_lazy("Office phone"), max_length=20, required=False)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, actor: Any, department: Department, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (  # type: ignore[attr-defined]
            restrict(User, actor, Action.VIEW).filter(department=department, is_active=True).order_by("username"))


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label=gettext_lazy("Current password"),
                                   widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(label=gettext_lazy("New password"),
                                   widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    new_password_again = forms.CharField(label=gettext_lazy("New password again"),
                                         widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password_again") \
                and data["new_password"] != data["new_password_again"]:
            self.add_error("new_password_again", gettext_lazy("The two new passwords differ."))
        return data


def grantable_roles(user: Any) -> list[tuple[str, Any]]:
    """Roles offered in forms: the centre grants every role, a department admin its own two
    (the action enforces the same rule)."""
    if user.has_role(Role.CENTRE_ADMIN):
        # not the auditor role: auditor accounts are the operator's (`govshare auditor`)
        return [(value, label) for value, label in Role.choices if value != Role.AUDITOR]
    if user.has_role(Role.DEPT_ADMIN):
        return [(r.value, r.label) for r in (Role.DEPT_ADMIN, Role.DATA_SPECIALIST)]
    return []


# ------------------------------------------------------------------ departments


def _jurisdiction_tree(user: Any, departments: list[Department]) -> list[dict[str, Any]]:
    """Flatten the jurisdiction tree (province → city → county) with each node's departments."""
    nodes = list(restrict(Jurisdiction, user, Action.VIEW).order_by("code"))
    by_parent: dict[int | None, list[Jurisdiction]] = {}
    for node in nodes:
        by_parent.setdefault(node.parent_id, []).append(node)
    depts: dict[int, list[Department]] = {}
    for dept in departments:
        depts.setdefault(dept.jurisdiction_id, []).append(dept)
    known = {n.pk for n in nodes}
    roots = [n for n in nodes if n.parent_id is None or n.parent_id not in known]
    rows: list[dict[str, Any]] = []

    def walk(node: Jurisdiction, depth: int) -> None:
        rows.append({"node": node, "depth": depth, "indent": range(depth), "departments": depts.get(node.pk, [])})
        for child in by_parent.get(node.pk, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return rows


@govshare_view
def department_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    departments = list(restrict(Department, user, Action.VIEW).select_related("jurisdiction")
                       .order_by("jurisdiction__code", "code"))
    return render(request, "core/org_department_list.html", {
        "tree": _jurisdiction_tree(user, departments),
        "departments": departments,
        "may_create": has_capability(user, Capability.MANAGE_DEPARTMENTS),
        "may_manage_jurisdictions": has_capability(user, Capability.MANAGE_JURISDICTIONS),
    })


@govshare_view
def department_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    dept = get_for(user, Action.VIEW, Department.objects.select_related("jurisdiction"), pk=pk)
    members = list(restrict(User, user, Action.VIEW).filter(department=dept)
                   .prefetch_related("role_assignments").order_by("username"))
    for member in members:
        member._role_cache = frozenset(a.role for a in member.role_assignments.all())  # type: ignore[attr-defined]
        member.role_labels = [Role(r).label for r in sorted(member.role_set())]  # type: ignore[attr-defined]
    specialists = list(restrict(SpecialistAppointment, user, Action.VIEW)
                       .filter(department=dept, ended_at__isnull=True).select_related("user"))
    may_change = can(user, Action.CHANGE, dept)
    return render(request, "core/org_department_detail.html", {
        "dept": dept,
        "ancestors": list(reversed(dept.jurisdiction.ancestors())),
        "members": members,
        "specialists": specialists,
        "may_edit": may_change,
        "may_appoint": may_change,
        "may_add_user": has_capability(user, Capability.MANAGE_USERS) and may_change,
    })


@govshare_view
@require_http_methods(["GET", "POST"])
def department_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_DEPARTMENTS)
    form = DepartmentForm(_post_or_none(request), user=user)
    if request.method == "POST":
        valid = form.is_valid()
        data = form.cleaned_data
        try:
            if valid:
                dept = actions.do_create_department(user, name=data["name"], short_name=data["short_name"],
                                                    uscc=data["uscc"], code=data["code"], kind=data["kind"],
                                                    jurisdiction=data["jurisdiction"])
                messages.success(request, _("Department %(name)s created.") % {"name": dept.name})
                return redirect("core:department_detail", pk=dept.pk)
            # the form refused some fields: check the others too, so that every problem shows at once
            raise_problems(department_problems(name=data.get("name"), short_name=data.get("short_name"),
                                               uscc=data.get("uscc"), code=data.get("code"), kind=data.get("kind")))
        except GovshareError as exc:
            apply_errors(form, exc)
    return render(request, "core/org_department_form.html", {"form": form, "dept": None},
                  status=400 if form.errors else 200)


@govshare_view
@require_http_methods(["GET", "POST"])
def department_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    dept = get_for(user, Action.CHANGE, Department, pk=pk)
    initial = {"name": dept.name, "short_name": dept.short_name, "uscc": dept.uscc, "is_active": dept.is_active}
    form = DepartmentForm(_post_or_none(request), user=user, editing=dept, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if getattr(dept, k) != v}
        try:
            if changes:
                actions.do_update_department(user, dept, **changes)
        except GovshareError as exc:
            dept.refresh_from_db()
            apply_error(form, exc)
        else:
            messages.success(request, _("Department %(name)s saved.") % {"name": dept.name})
            return redirect("core:department_detail", pk=dept.pk)
    return render(request, "core/org_department_form.html", {"form": form, "dept": dept},
                  status=400 if form.errors else 200)


# ------------------------------------------------------------------ jurisdictions


@govshare_view
@require_http_methods(["GET", "POST"])
def jurisdiction_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_JURISDICTIONS)
    form = JurisdictionForm(_post_or_none(request), user=user, initial={"policy_profile": "national"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            node = actions.do_create_jurisdiction(user, code=data["code"], name=data["name"],
                                                  level=data["level"], parent=data["parent"],
                                                  policy_profile=data["policy_profile"])
        except GovshareError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("Jurisdiction %(name)s created.") % {"name": node.name})
            return redirect("core:departments")
    return render(request, "core/org_jurisdiction_form.html", {"form": form, "node": None},
                  status=400 if form.errors else 200)


@govshare_view
@require_http_methods(["GET", "POST"])
def jurisdiction_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    node = get_for(user, Action.CHANGE, Jurisdiction, pk=pk)
    initial = {"name": node.name, "parent": node.parent_id, "policy_profile": node.policy_profile}
    form = JurisdictionForm(_post_or_none(request), user=user, editing=node, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {}
        if data["name"] != node.name:
            changes["name"] = data["name"]
        if data["policy_profile"] != node.policy_profile:
            changes["policy_profile"] = data["policy_profile"]
        if (data["parent"].pk if data["parent"] else None) != node.parent_id:
            changes["parent"] = data["parent"]
        try:
            if changes:
                actions.do_update_jurisdiction(user, node, **changes)
        except GovshareError as exc:
            node.refresh_from_db()
            apply_error(form, exc)
        else:
            messages.success(request, _("Jurisdiction %(name)s saved.") % {"name": node.name})
            return redirect("core:departments")
    return render(request, "core/org_jurisdiction_form.html", {"form": form, "node": node},
                  status=400 if form.errors else 200)


# ------------------------------------------------------------------ users and roles


@govshare_view
def user_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_USERS)
    qs = (restrict(User, user, Action.VIEW).select_related("department")
          .prefetch_related("role_assignments").order_by("department__code", "username"))
    departments = restrict(Department, user, Action.CHANGE).order_by("code")
    dept_id = id_param(request, "department")
    if dept_id is not None:
        qs = qs.filter(department_id=dept_id)
    query = request.GET.get("q", "").strip()
    if query:
        qs = qs.filter(Q(username__icontains=query) | Q(real_name__icontains=query))
    users = list(qs[:500])
    for u in users:
        u._role_cache = frozenset(a.role for a in u.role_assignments.all())  # type: ignore[attr-defined]
        u.role_labels = [Role(r).label for r in sorted(u.role_set())]  # type: ignore[attr-defined]
    return render(request, "core/org_user_list.html", {
        "users": users, "departments": departments, "dept_id": dept_id, "q": query,
    })


@govshare_view
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_USERS)
    initial = {}
    dept_id = id_param(request, "department")
    if dept_id is not None:
        initial["department"] = dept_id
    form = UserCreateForm(_post_or_none(request), user=user, initial=initial)
    if request.method == "POST":
        valid = form.is_valid()
        data = form.cleaned_data
        try:
            if valid:
                new = actions.do_create_user(user, username=data["username"], real_name=data["real_name"],
                                             password=data["password"] or None,
                                             id_number=data["id_number"] or None, email=data["email"],
                                             phone=data["phone"], department=data["department"],
                                             roles=data["roles"])
                messages.success(request, _("User %(name)s created.") % {"name": str(new)})
                return redirect("core:user_detail", pk=new.pk)
            # the form refused some fields: check the others too, so that every problem shows at once
            raise_problems(user_problems(
                username=data.get("username"), real_name=data.get("real_name"), password=data.get("password"),
                id_number=data.get("id_number"), email=data.get("email"), phone=data.get("phone"),
                department=data.get("department"), roles=data.get("roles", ())))
        except GovshareError as exc:
            apply_errors(form, exc, {"role": "roles"})
    return render(request, "core/org_user_form.html", {"form": form, "target": None},
                  status=400 if form.errors else 200)


def _user_detail_context(request: HttpRequest, target: User, **forms_: Any) -> dict[str, Any]:
    user: Any = request.user
    manage = has_capability(user, Capability.MANAGE_USERS) and can(user, Action.CHANGE, target)
    held = sorted(target.role_set())
    grantable = [(v, label) for v, label in grantable_roles(user) if v not in held] if manage else []
    role_form = forms_.get("role_form") or RoleForm()
    role_form.fields["role"].choices = grantable  # type: ignore[union-attr,attr-defined]
    appointments = list(restrict(SpecialistAppointment, user, Action.VIEW).filter(user=target)
                        .select_related("department"))
    return {
        "target": target,
        "roles": [{"value": r, "label": Role(r).label,
                   "may_revoke": manage and (user.has_role(Role.CENTRE_ADMIN) or r not in CENTRE_ROLES
                                             and r in {Role.DEPT_ADMIN, Role.DATA_SPECIALIST})
                   and not (user.pk == target.pk and r in {Role.CENTRE_ADMIN, Role.DEPT_ADMIN})}
                  for r in held],
        "manage": manage,
        "may_edit": can(user, Action.CHANGE, target),
        "is_self": user.pk == target.pk,
        "locked": target.is_locked(),
        "login_delays": active_login_delays(target) if manage else 0,  # issue 9
        "role_form": role_form,
        "deactivate_form": forms_.get("deactivate_form") or ReasonForm(),
        "password_form": forms_.get("password_form") or SetPasswordForm(),
        "unlock_form": forms_.get("unlock_form") or forms.Form(),
        "appointments": appointments,
    }


def _load_user(request: HttpRequest, pk: int, action: str) -> User:
    return get_for(request.user, action, User.objects.select_related("department"), pk=pk)


@govshare_view
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    target = _load_user(request, pk, Action.VIEW)
    access_log.note(request, AuditCode.READ_USER, target)
    return render(request, "core/org_user_detail.html", _user_detail_context(request, target))


@govshare_view
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    target = _load_user(request, pk, Action.CHANGE)
    initial = {"real_name": target.real_name, "email": target.email, "phone": target.phone,
               "department": target.department_id}
    form = UserEditForm(_post_or_none(request), user=user, target=target, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {}
        for name, value in form.cleaned_data.items():
            if name == "id_number":
                if value:
                    changes[name] = value
            elif name == "department":
                if value != target.department:
                    changes[name] = value
            elif getattr(target, name) != value:
                changes[name] = value
        try:
            if changes:
                actions.do_update_user(user, target, **changes)
        except GovshareError as exc:
            target.refresh_from_db()
            apply_error(form, exc)
        else:
            messages.success(request, _("User %(name)s saved.") % {"name": str(target)})
            return redirect("core:user_detail", pk=target.pk)
    return render(request, "core/org_user_form.html", {"form": form, "target": target},
                  status=400 if form.errors else 200)


def _user_post(request: HttpRequest, pk: int, form_name: str, form_cls: type[forms.Form],
               run: Callable[[Any, User, dict[str, Any]], str]) -> HttpResponse:
    """A management action on the user page: show the error next to its field on failure."""
    target = _load_user(request, pk, Action.CHANGE)
    form = form_cls(request.POST)
    if form_name == "role_form":
        form.fields["role"].choices = Role.choices  # type: ignore[attr-defined]
    if form.is_valid():
        try:
            done = run(request.user, target, form.cleaned_data)
        except GovshareError as exc:
            if exc.status == 404 or (exc.status == 403 and not exc.field):
                raise  # not a problem of the input: the error page says what is wrong
            target.refresh_from_db()
            target.__dict__.pop("_role_cache", None)
            apply_error(form, exc)
        else:
            messages.success(request, done)
            return redirect("core:user_detail", pk=target.pk)
    return render(request, "core/org_user_detail.html",
                  _user_detail_context(request, target, **{form_name: form}), status=400)


@govshare_view
@require_POST
def user_grant_role(request: HttpRequest, pk: int) -> HttpResponse:
    def run(actor: Any, target: User, data: dict[str, Any]) -> str:
        actions.do_grant_role(actor, target, data["role"])
        return _("Role %(role)s granted.") % {"role": Role(data["role"]).label}

    return _user_post(request, pk, "role_form", RoleForm, run)


@govshare_view
@require_POST
def user_revoke_role(request: HttpRequest, pk: int) -> HttpResponse:
    def run(actor: Any, target: User, data: dict[str, Any]) -> str:
        actions.do_revoke_role(actor, target, data["role"])
        return _("Role %(role)s revoked.") % {"role": Role(data["role"]).label}

    return _user_post(request, pk, "role_form", RoleForm, run)


@govshare_view
@require_POST
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    def run(actor: Any, target: User, data: dict[str, Any]) -> str:
        actions.do_deactivate_user(actor, target, data["reason"])
        return _("User %(name)s deactivated; their API tokens are revoked.") % {"name": str(target)}

    return _user_post(request, pk, "deactivate_form", ReasonForm, run)


@govshare_view
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    def run(actor: Any, target: User, data: dict[str, Any]) -> str:
        actions.do_unlock_user(actor, target)
        return _("User %(name)s unlocked.") % {"name": str(target)}

    return _user_post(request, pk, "unlock_form", forms.Form, run)


@govshare_view
@require_POST
def user_set_password(request: HttpRequest, pk: int) -> HttpResponse:
    def run(actor: Any, target: User, data: dict[str, Any]) -> str:
        if actor.pk == target.pk:
            raise Forbidden("use_password_page", gettext_lazy("Change your own password on the password page."),
                            field="new_password")
        actions.do_change_password(actor, target, old_password=None, new_password=data["new_password"])
        return _("A new password is set for %(name)s.") % {"name": str(target)}

    return _user_post(request, pk, "password_form", SetPasswordForm, run)


# ------------------------------------------------------------------ data-specialist register


@govshare_view
def specialist_list(request: HttpRequest) -> HttpResponse:
    """The current register of every visible department (SUP-1)."""
    user: Any = request.user
    current = require_visible(restrict(SpecialistAppointment, user, Action.VIEW), user).filter(
        ended_at__isnull=True).select_related("user").order_by("duty", "appointed_at")
    departments = list(restrict(Department, user, Action.VIEW).filter(is_active=True)
                       .select_related("jurisdiction")
                       .prefetch_related(Prefetch("specialists", queryset=current, to_attr="current"))
                       .order_by("jurisdiction__code", "code"))
    changeable = set(restrict(Department, user, Action.CHANGE).values_list("pk", flat=True))
    for dept in departments:
        dept.may_appoint = dept.pk in changeable  # type: ignore[attr-defined]
    return render(request, "core/org_specialist_list.html", {"departments": departments})


@govshare_view
def specialist_history(request: HttpRequest, pk: int) -> HttpResponse:
    """One department's register: current entries and the full history with who/when/why."""
    user: Any = request.user
    dept = get_for(user, Action.VIEW, Department, pk=pk)
    rows = list(require_visible(restrict(SpecialistAppointment, user, Action.VIEW), user).filter(department=dept)
                .select_related("user", "appointed_by", "ended_by").order_by("-appointed_at", "-pk"))
    changeable = set(restrict(SpecialistAppointment, user, Action.CHANGE).filter(department=dept)
                     .values_list("pk", flat=True))
    for row in rows:
        row.may_end = row.ended_at is None and row.pk in changeable  # type: ignore[attr-defined]
    return render(request, "core/org_specialist_history.html", {
        "dept": dept,
        "current": [r for r in rows if r.ended_at is None],
        "history": rows,
        "may_appoint": can(user, Action.CHANGE, dept),
    })


@govshare_view
@require_http_methods(["GET", "POST"])
def specialist_appoint(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    dept = get_for(user, Action.CHANGE, Department, pk=pk)
    form = AppointForm(_post_or_none(request), actor=user, department=dept)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_appoint_specialist(user, dept, data["user"], duty=data["duty"], phone=data["phone"],
                                          note=data["note"])
        except GovshareError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("%(user)s is on the data-specialist register.") % {"user": str(data["user"])})
            return redirect("core:specialist_history", pk=dept.pk)
    return render(request, "core/org_specialist_form.html", {"form": form, "dept": dept, "appointment": None},
                  status=400 if form.errors else 200)


@govshare_view
@require_http_methods(["GET", "POST"])
def specialist_end(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    appointment = get_for(user, Action.CHANGE,
                          SpecialistAppointment.objects.select_related("department", "user"), pk=pk)
    form = EndAppointmentForm(_post_or_none(request))
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_end_specialist(user, appointment, form.cleaned_data["reason"])
        except GovshareError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The appointment of %(user)s has ended.") % {"user": str(appointment.user)})
            return redirect("core:specialist_history", pk=appointment.department_id)
    return render(request, "core/org_specialist_form.html",
                  {"form": form, "dept": appointment.department, "appointment": appointment},
                  status=400 if form.errors else 200)


# ------------------------------------------------------------------ own password


@never_cache
@govshare_view
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = PasswordChangeForm(_post_or_none(request))
    if request.method == "POST" and form.is_valid():
        me = get_for(user, Action.CHANGE, User, pk=user.pk)  # a model instance, not the lazy request.user
        try:
            actions.do_change_password(user, me, old_password=form.cleaned_data["old_password"],
                                       new_password=form.cleaned_data["new_password"])
        except GovshareError as exc:
            apply_error(form, exc)
        else:
            update_session_auth_hash(request, me)
            messages.success(request, _("Your password has been changed."))
            return redirect("core:home")
    return render(request, "core/org_password.html", {"form": form}, status=400 if form.errors else 200)


__all__ = ["NotFound", "apply_error", "error_text", "govshare_view", "require_visible"]
