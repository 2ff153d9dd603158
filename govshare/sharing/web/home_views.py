"""共享工作台: the home page of the sharing area (``/sharing/``) — what is still to do for this user,
as counts that link to the list holding them, and the area's pages (SHR-1 … SHR-8).

Counts come from the work-queue methods of the sharing querysets (``Application.objects.to_answer_by``
…, :mod:`govshare.sharing.models`), which narrow through the permission chokepoint and are the same
definitions the lists, the API and the digest use: the number on a tile is the number of rows the
list it links to shows.  Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from govshare.catalog.permissions import dept_of
from govshare.catalog.web.common import require_government
from govshare.core.clock import ClockedQuerySet
from govshare.core.navigation import area_for
from govshare.core.permissions import has_capability
from govshare.core.roles import Capability
from govshare.sharing.models import Application, CoordinationCase, DataRequest, ErrorReport, Grant
from govshare.sharing.permissions import is_auditor
from govshare.sharing.web.common import sharing_view


@dataclass(frozen=True)
class Tile:
    key: str
    label: str | Promise
    count: int
    url: str
    overdue: int = 0
    todo: bool = True  # counts towards "still to do" (not: what we wait for, what we hold)


def _tile(key: str, label: str | Promise, qs: QuerySet[Any], url: str, *, todo: bool = True) -> Tile:
    """A count; for objects on the working-day clock also how many of them are overdue."""
    late = qs.overdue().count() if isinstance(qs, ClockedQuerySet) else 0
    return Tile(key, label, qs.count(), url, late, todo)


def _open(url_name: str) -> str:
    return f"{reverse(url_name)}?show=open"


WAITING = (Application.Status.CENTRE_REVIEW, Application.Status.PROVIDER_REVIEW)


def consumer_tiles(user: Any) -> list[Tile]:
    """For a department that uses others' data: applications to complete or waiting, grants, our reports."""
    mine = Application.objects.mine(user)
    return [
        _tile("returned", _("Applications returned to us for completion"),
              mine.filter(status=Application.Status.RETURNED), _open("sharing:my_applications")),
        _tile("waiting", _("Our applications waiting for an answer"), mine.filter(status__in=WAITING),
              _open("sharing:my_applications"), todo=False),
        _tile("grants", _("Grants we hold"), Grant.objects.held_by(user).usable(), reverse("sharing:my_grants"),
              todo=False),
        _tile("our_errors", _("Our data-error reports still open"), ErrorReport.objects.mine(user).open(),
              _open("sharing:errors"), todo=False),
        _tile("our_requests", _("Our data requests still open"), DataRequest.objects.mine(user).open(),
              _open("sharing:requests"), todo=False),
    ]


def provider_tiles(user: Any) -> list[Tile]:
    """For a department whose entries others use: applications to answer, reports to verify, requests."""
    return [
        _tile("to_answer", _("Share applications to answer"), Application.objects.to_answer_by(user),
              reverse("sharing:to_answer")),
        _tile("to_verify", _("Data-error reports to verify"), ErrorReport.objects.to_verify_by(user),
              _open("sharing:errors")),
        _tile("assigned", _("Data requests assigned to us"), DataRequest.objects.to_answer_by(user),
              _open("sharing:requests")),
        _tile("cases_about_us", _("Coordination cases about our data"), CoordinationCase.objects.about_data_of(user),
              _open("sharing:cases"), todo=False),
    ]


def centre_tiles(user: Any) -> list[Tile]:
    """For the centre: first reviews, mediation, requests to route, and everything overdue."""
    now = timezone.now()
    overdue = (Application.objects.overdue_for(user, now).count()
               + CoordinationCase.objects.overdue_for(user, now).count()
               + ErrorReport.objects.overdue_for(user, now).count())
    return [
        _tile("first_review", _("Applications waiting for the first review"), Application.objects.to_review_by(user),
              reverse("sharing:review_queue")),
        _tile("cases", _("Coordination cases to settle"), CoordinationCase.objects.to_settle_by(user),
              _open("sharing:cases")),
        _tile("requests", _("Data requests to route or close"), DataRequest.objects.to_route_by(user),
              _open("sharing:requests")),
        Tile("overdue", _("Overdue items"), overdue, reverse("sharing:overdue"), overdue, todo=False),
    ]


def work_of(user: Any) -> list[tuple[str | Promise, list[Tile]]]:
    """The sections of the dashboard this user has, each a list of tiles."""
    sections: list[tuple[str | Promise, list[Tile]]] = []
    if has_capability(user, Capability.REVIEW_SHARE):
        sections.append((_("For the centre"), centre_tiles(user)))
    if has_capability(user, Capability.ANSWER_SHARE) and dept_of(user) is not None:
        sections.append((_("As provider of data"), provider_tiles(user)))
    if has_capability(user, Capability.APPLY_SHARE) and dept_of(user) is not None:
        sections.append((_("As user of others' data"), consumer_tiles(user)))
    return sections


@sharing_view
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_government(user)
    sections = work_of(user)
    return render(request, "sharing/home.html", {
        "sections": sections,
        "todo": sum(t.count for _label, tiles in sections for t in tiles if t.todo),
        "area": area_for(user, "sharing"),
        "read_only": is_auditor(user),
    })
