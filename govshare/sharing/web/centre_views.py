"""The centre's pages: 初审 (first-review queue, soonest deadline first), the overdue list
(applications, coordination cases and error reports past their due day, with the working days
late), the aggregated demand (SHR-7) with the high-frequency library marks, and the library."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.core.errors import GovshareError
from govshare.core.permissions import Action, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from govshare.core.web.org_views import require_visible
from govshare.sharing import actions
from govshare.sharing.forms import NoteForm, ReasonForm
from govshare.sharing.models import Application, CoordinationCase, ErrorReport, HighFrequencyMark
from govshare.sharing.web.common import (
    STAGE_LABEL,
    Clocks,
    after,
    digits,
    problems,
    sharing_view,
)

DEFAULT_MIN_DEPARTMENTS = 2


@sharing_view
@require_safe
def review_queue(request: HttpRequest) -> HttpResponse:
    """初审: applications waiting for the centre's first review, soonest deadline first."""
    user: Any = request.user
    require(user, Capability.REVIEW_SHARE)
    rows: list[Any] = list(Application.objects.to_review_by(user).select_related(
        "entry", "entry_version", "provider", "consumer", "deadline", "applicant")[:500])
    Clocks().decorate(rows)
    return render(request, "sharing/review_queue.html", {
        "rows": rows, "overdue_count": sum(1 for r in rows if r.clock and r.clock.overdue),
    })


@sharing_view
@require_safe
def overdue(request: HttpRequest) -> HttpResponse:
    """Everything past its due day: whose clock ran out and by how many working days."""
    user: Any = request.user
    require(user, Capability.REVIEW_SHARE)
    clocks = Clocks()
    apps = clocks.decorate(Application.objects.overdue_for(user, clocks.now).select_related(
        "entry", "entry_version", "provider", "consumer", "deadline")[:500])
    for app in apps:
        app.stage_label = STAGE_LABEL.get(app.stage, "")
    cases = clocks.decorate(CoordinationCase.objects.overdue_for(user, clocks.now).select_related(
        "entry__current_version", "provider", "consumer", "deadline")[:500])
    reports = clocks.decorate(ErrorReport.objects.overdue_for(user, clocks.now).select_related(
        "entry__current_version", "provider", "reporter_department", "deadline")[:500])
    return render(request, "sharing/overdue.html", {"apps": apps, "cases": cases, "reports": reports})


def _min_departments(request: HttpRequest) -> int:
    value = digits(request.GET.get("min"))
    return min(max(value or DEFAULT_MIN_DEPARTMENTS, 1), 1000)


def _demand_page(request: HttpRequest, status: int = 200, action_errors: list[str] | None = None) -> HttpResponse:
    minimum = _min_departments(request)
    return render(request, "sharing/demand.html", {
        "entries": actions.aggregated_demand(min_departments=minimum), "minimum": minimum,
        "action_errors": action_errors or [],
    }, status=status)


@sharing_view
@require_safe
def demand(request: HttpRequest) -> HttpResponse:
    """SHR-7: entries asked for by at least N departments, most demanded first."""
    require(request.user, Capability.REVIEW_SHARE)
    return _demand_page(request)


@sharing_view
@require_POST
def mark(request: HttpRequest, entry_pk: int) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.REVIEW_SHARE)
    entry = get_for(user, Action.VIEW, CatalogEntry, pk=entry_pk)
    form = NoteForm(request.POST)
    try:
        form.is_valid()
        actions.do_mark_high_frequency(user, entry, note=form.cleaned_data.get("note", ""))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _demand_page(request, status=exc.status, action_errors=problems(exc))
    return after(request, _("%(code)s is now in the high-frequency shared library.") % {"code": entry.code},
                 "sharing:demand")


@sharing_view
@require_POST
def unmark(request: HttpRequest, entry_pk: int) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.REVIEW_SHARE)
    entry = get_for(user, Action.VIEW, CatalogEntry, pk=entry_pk)
    form = ReasonForm(request.POST)
    try:
        form.is_valid()
        actions.do_unmark_high_frequency(user, entry, reason=form.cleaned_data.get("reason", ""))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _demand_page(request, status=exc.status, action_errors=problems(exc))
    return after(request, _("%(code)s is taken out of the high-frequency shared library.") % {"code": entry.code},
                 "sharing:high_frequency")


@sharing_view
@require_safe
def high_frequency(request: HttpRequest) -> HttpResponse:
    """高频共享库: the entries the centre has marked."""
    user: Any = request.user
    marks = list(require_visible(restrict(HighFrequencyMark, user, Action.VIEW), user).select_related(
        "entry__current_version", "entry__provider", "marked_by").order_by("-marked_at"))
    return render(request, "sharing/high_frequency.html", {
        "marks": marks, "may_unmark": has_capability(user, Capability.REVIEW_SHARE),
    })
