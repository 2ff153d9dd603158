"""The centre's review queue (CAT-3, CAT-4): submitted versions, oldest first."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from govshare.catalog.models import EntryVersion
from govshare.catalog.web.common import catalog_view
from govshare.core.permissions import Action, require, restrict
from govshare.core.roles import Capability

KIND_LABELS = {"new": _("New entry"), "change": _("Change"), "withdrawal": _("Withdrawal")}


def _kind(version: EntryVersion) -> str:
    if version.kind == EntryVersion.Kind.WITHDRAWAL:
        return "withdrawal"
    return "change" if version.entry.current_version_id else "new"


def _rows(versions: list[EntryVersion], user: Any) -> list[dict[str, Any]]:
    rows = []
    for v in versions:
        kind = _kind(v)
        rows.append({"version": v, "entry": v.entry, "kind": kind, "kind_label": KIND_LABELS[kind],
                     "own": v.is_own_work(user)})
    return rows


@catalog_view
@require_safe
def review_queue(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.REVIEW_CATALOG)
    visible = (restrict(EntryVersion, user, Action.VIEW).select_related("entry__provider", "submitted_by")
               .prefetch_related("edited_by"))
    submitted = list(visible.filter(state=EntryVersion.State.SUBMITTED).order_by("submitted_at", "pk"))
    waiting = list(visible.filter(state=EntryVersion.State.APPROVED).order_by("effective_at", "pk"))
    return render(request, "catalog/review_queue.html", {
        "rows": _rows(submitted, user),
        "waiting": _rows(waiting, user),
    })
