"""Helpers shared by the sharing pages: the working-day clock of an open item (core.clock), status badges,
choices read from the user's department, error placement and the "after a POST" redirect."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from govshare.catalog.models import CatalogEntry
from govshare.catalog.web.common import apply_errors, catalog_view, form_status, label
from govshare.core.clock import Clocks, ClockState
from govshare.core.errors import GovshareError, ManyProblems
from govshare.core.models import Department
from govshare.core.permissions import Action, deny, restrict
from govshare.sharing.models import (
    Application,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    ErrorReport,
)
from govshare.sharing.permissions import is_auditor, is_centre

APP_BADGE: dict[str, str] = {
    Application.Status.CENTRE_REVIEW: "warn", Application.Status.RETURNED: "bad",
    Application.Status.PROVIDER_REVIEW: "warn", Application.Status.APPROVED: "ok",
    Application.Status.REFUSED: "bad", Application.Status.REJECTED: "bad", Application.Status.WITHDRAWN: "",
}
GRANT_STATE: dict[str, Any] = {"active": _("active"), "pending": _("not yet valid"), "expired": _("expired"),
                               "revoked": pgettext_lazy("grant", "revoked")}
GRANT_BADGE: dict[str, str] = {"active": "ok", "pending": "warn", "expired": "", "revoked": "bad"}
CASE_BADGE: dict[str, str] = {
    CoordinationCase.Status.OPEN: "warn", CoordinationCase.Status.MEDIATING: "warn",
    CoordinationCase.Status.GRANTED: "ok", CoordinationCase.Status.REFUSED: "bad",
    CoordinationCase.Status.WITHDRAWN: "",
}
REQUEST_BADGE: dict[str, str] = {
    DataRequest.Status.SUBMITTED: "warn", DataRequest.Status.ASSIGNED: "warn", DataRequest.Status.FORWARDED: "warn",
    DataRequest.Status.REGISTERED: "ok", DataRequest.Status.FULFILLED: "ok", DataRequest.Status.DECLINED: "bad",
    DataRequest.Status.UPPER_REFUSED: "bad", DataRequest.Status.CLOSED: "",
}
ERROR_BADGE: dict[str, str] = {
    ErrorReport.Status.REPORTED: "warn", ErrorReport.Status.VERIFYING: "warn", ErrorReport.Status.CORRECTED: "ok",
    ErrorReport.Status.NOT_AN_ERROR: "ok", ErrorReport.Status.WITHDRAWN: "",
}
STAGE_LABEL: dict[str, Any] = {"centre": _("the centre's first review"), "provider": _("the provider's answer"),
                               "consumer": _("the applicant's completion")}

sharing_view = catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404, 400, 409)


# the open working-day clock of an item as every screen shows it, and many of them on one calendar (defined
# once in core: the API, the digest and the reminders count the same way)
Clock = ClockState


def decorate_grants(rows: list[Any]) -> list[Any]:
    """Set the state (active, not yet valid, expired, revoked), its badge and the channel label."""
    today = timezone.localdate()
    for grant in rows:  # the state is Grant.state: "active" is GrantQuerySet.usable
        state = grant.state(today)
        grant.state_code, grant.state_label, grant.badge = state, GRANT_STATE[state], GRANT_BADGE[state]
        grant.channel_label = label("share_methods", grant.channel)
    return rows


PAGE_SIZE = 50


def paginate(request: HttpRequest, qs: Any, size: int = PAGE_SIZE) -> Page[Any]:
    number = digits(request.GET.get("page")) or 1
    return Paginator(qs, size).get_page(number)


def query_without_page(request: HttpRequest) -> str:
    """The current filters, for the pager's links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def after(request: HttpRequest, message: str, to: str, *args: Any) -> HttpResponse:
    messages.success(request, message)
    return redirect(to, *args)


def place_errors(form: forms.Form, exc: GovshareError, aliases: dict[str, str] | None = None) -> None:
    """Put an action's error(s) next to the fields they name; a 404 is not a form error."""
    if exc.status == 404:
        raise exc
    apply_errors(form, exc, aliases)


def sees_all(user: Any) -> bool:
    """The centre and auditors see every department's items (lists show one table, not "ours/theirs")."""
    return is_centre(user) or is_auditor(user)


def problems(exc: GovshareError) -> list[str]:
    """Every message of an action's error (one, or each of :class:`ManyProblems`)."""
    return [p.render() for p in exc.problems] if isinstance(exc, ManyProblems) else [exc.render()]


def names_a_field(form: forms.Form, exc: GovshareError, aliases: dict[str, str] | None = None) -> bool:
    """Does the error (or one of several) name a field of ``form``?"""
    found = exc.problems if isinstance(exc, ManyProblems) else [exc]
    return any((aliases or {}).get(p.field or "", p.field) in form.fields for p in found)


def own_department(user: Any) -> Department:
    department: Department | None = getattr(user, "department", None)
    if department is None:
        deny(user, "no_department", _("Your account belongs to no department."))
    return department


def system_choices(user: Any) -> list[tuple[int, str]]:
    """The active systems of the user's department (an application names one of them)."""
    qs = restrict(ConsumingSystem, user, Action.VIEW).filter(department_id=user.department_id, is_active=True)
    return [(s.pk, f"{s.name} ({s.code})") for s in qs.order_by("name")]


def department_choices(user: Any, exclude: int | None = None) -> list[tuple[int, str]]:
    qs = restrict(Department, user, Action.VIEW).filter(is_active=True, kind=Department.Kind.DEPARTMENT)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return [(d.pk, d.name) for d in qs.order_by("code")]


def entry_items(entry: CatalogEntry) -> list[str]:
    version = entry.current_version
    if version is None:
        return []
    return list(version.items.order_by("position").values_list("name", flat=True))


def digits(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


__all__ = ["APP_BADGE", "CASE_BADGE", "Clock", "Clocks", "ERROR_BADGE", "GRANT_BADGE", "GRANT_STATE",
           "REQUEST_BADGE", "STAGE_LABEL", "after", "decorate_grants", "department_choices", "digits",
           "entry_items", "form_status", "label", "names_a_field", "own_department", "paginate", "place_errors",
           "problems", "query_without_page", "sees_all", "sharing_view", "system_choices"]
