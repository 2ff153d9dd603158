"""The department administrator's sharing settings: the consuming information systems an
application names (register, deactivate, reactivate) and the optional daily digest e-mail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from govshare.core.errors import GovshareError
from govshare.core.permissions import Action, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from govshare.sharing import actions
from govshare.sharing.forms import DigestForm, SystemForm
from govshare.sharing.models import ConsumingSystem, DigestSetting, SystemKey
from govshare.sharing.permissions import is_centre
from govshare.sharing.web.common import (
    after,
    form_status,
    own_department,
    place_errors,
    problems,
    sharing_view,
)


def _systems_page(request: HttpRequest, form: SystemForm | None = None, status: int = 200,
                  **extra: Any) -> HttpResponse:
    user: Any = request.user
    qs = restrict(ConsumingSystem, user, Action.VIEW).select_related("department", "created_by")
    if not is_centre(user):
        qs = qs.filter(department_id=own_department(user).pk)
    may_manage = has_capability(user, Capability.MANAGE_SYSTEMS) and user.department_id is not None
    systems = list(qs.order_by("department__code", "name").prefetch_related("keys"))
    return render(request, "sharing/systems.html", {
        "systems": systems,
        "new_key": extra.pop("new_key", None),
        "may_manage": may_manage,
        "changeable": set(restrict(ConsumingSystem, user, Action.CHANGE).values_list("pk", flat=True))
        if may_manage else set(),
        "form": form or SystemForm(),
        "action_errors": extra.pop("action_errors", []),
    }, status=status)


@sharing_view
@require_http_methods(["GET", "POST"])
def systems(request: HttpRequest) -> HttpResponse:
    """The department's consuming systems; the administrator registers new ones here."""
    user: Any = request.user
    if request.method == "GET":
        return _systems_page(request)
    require(user, Capability.MANAGE_SYSTEMS)
    form = SystemForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            system = actions.do_register_system(user, name=data["name"], code=data["code"],
                                                description=data["description"])
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("System %(name)s is registered.") % {"name": system.name}, "sharing:systems")
    return _systems_page(request, form, status=form_status(form))


@sharing_view
@require_POST
def system_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (``active=0``) or reactivate (``active=1``) a system."""
    user: Any = request.user
    system = get_for(user, Action.VIEW, ConsumingSystem, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        actions.do_set_system_active(user, system, active)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _systems_page(request, status=exc.status, action_errors=problems(exc))
    done = _("System %(name)s is active again.") if active else _("System %(name)s is deactivated.")
    return after(request, done % {"name": system.name}, "sharing:systems")


@sharing_view
@require_POST
def system_key_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue a key to a system: the page shows its secret this once (the answer is not cached)."""
    user: Any = request.user
    system = get_for(user, Action.VIEW, ConsumingSystem, pk=pk)
    try:
        days = int(request.POST.get("days") or 365)
    except ValueError:
        days = 0
    try:
        issued = actions.do_issue_system_key(user, system, name=request.POST.get("name", ""), days=days)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _systems_page(request, status=exc.status, action_errors=problems(exc))
    response = _systems_page(request, new_key=issued)
    response["Cache-Control"] = "no-store"
    return response


@sharing_view
@require_POST
def system_key_revoke(request: HttpRequest, pk: int, key_pk: int) -> HttpResponse:
    """Revoke a system's key at once."""
    user: Any = request.user
    key = get_for(user, Action.VIEW, SystemKey.objects.select_related("system"), pk=key_pk, system_id=pk)
    actions.do_revoke_system_key(user, key)
    return after(request, _("Key %(name)s of %(system)s is revoked.") % {"name": key.name,
                                                                          "system": key.system.name},
                 "sharing:systems")


@sharing_view
@require_http_methods(["GET", "POST"])
def digest(request: HttpRequest) -> HttpResponse:
    """The department's daily digest e-mail: on or off."""
    user: Any = request.user
    require(user, Capability.MANAGE_DIGEST)
    dept = own_department(user)
    setting = DigestSetting.objects.filter(department=dept).first()
    form = DigestForm(request.POST if request.method == "POST" else None,
                      initial={"enabled": bool(setting and setting.enabled)})
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_set_digest(user, dept, enabled=form.cleaned_data["enabled"])
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            done = _("The daily digest is on.") if form.cleaned_data["enabled"] else _("The daily digest is off.")
            return after(request, done, "sharing:digest")
    return render(request, "sharing/digest.html", {
        "form": form, "department": dept, "setting": setting, "mail_configured": bool(settings.EMAIL_HOST),
    }, status=form_status(form))
