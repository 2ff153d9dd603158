"""Web pages of the datastore (namespace ``datastore``, under ``/data/``): the department's batch downloads
(issue 11 item 4) — asked for from a grant's page, followed while they are built, fetched from here; and the query
indexes of an entry's centre table."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.catalog.web.common import catalog_view, require_government
from govshare.core.errors import GovshareError, NotFound
from govshare.core.permissions import Action, can, get_for, has_capability, restrict
from govshare.core.roles import Capability
from govshare.datastore.actions import do_request_download, do_set_query_indexes
from govshare.datastore.actions.indexes import states_of
from govshare.datastore.models import Download, QueryIndex
from govshare.datastore.permissions import FETCH, VIEW, may_view_indexes
from govshare.sharing.models import Grant
from govshare.sharing.permissions import CONSUME


def _listed(request: HttpRequest) -> Any:
    return (restrict(Download.objects.select_related("entry__current_version", "grant", "job", "requested_by",
                                                     "department", "system"), request.user, VIEW).order_by("-created_at"))


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_safe
def downloads(request: HttpRequest) -> HttpResponse:
    """The downloads of the user's department (the centre and auditors: every one), newest first; the rows of
    downloads being built refresh themselves (htmx) until they are ready.  Government users only: the public has no
    department to download for (QA walk-through of the 21st session)."""
    require_government(request.user)
    rows = list(_listed(request)[:200])
    # a 下载 link only where this user may fetch the file: its department's, while the grant allows it (the centre
    # and auditors see every download but fetch none; a revoked grant's file says so — QA walk-through, 21st session)
    fetchable = set(restrict(Download.objects.filter(pk__in=[d.pk for d in rows]), request.user, FETCH)
                    .values_list("pk", flat=True))
    for d in rows:
        d.grant_ended = d.grant is not None and not d.grant.is_usable()
        d.may_fetch = d.pk in fetchable and not d.grant_ended
    return render(request, "datastore/downloads.html", {
        "downloads": rows, "building": any(d.status in ("queued", "building") for d in rows)})


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_POST
def request_download(request: HttpRequest, grant_pk: int) -> HttpResponse:
    """Ask for a grant's data as a file, from the grant's page (its items, no filter)."""
    # the grant's consumer department (its provider reads its own data elsewhere)
    grant = get_for(request.user, CONSUME, Grant.objects.select_related("entry"), pk=grant_pk)
    try:
        do_request_download(user=request.user, entry=grant.entry, purpose=grant.purpose, items=None, filters=[],
                            fmt=request.POST.get("format", "csv"))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.render())
        return redirect("sharing:grant_detail", grant.pk)
    messages.success(request, _("The file is being built; it appears below when it is ready."))
    return redirect("datastore:downloads")


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
def query_indexes(request: HttpRequest, entry_pk: int) -> HttpResponse:
    """Which items of an entry's centre table are indexed for consumers' filters and sorts (the data API, issue 11):
    seen by the provider's staff, the centre and auditors; chosen by the provider's administrators and data
    specialists.  The page refreshes itself (htmx) while indexes are being built."""
    entry = get_for(request.user, Action.VIEW, CatalogEntry.objects.select_related("provider", "current_version"),
                    pk=entry_pk)
    if not may_view_indexes(request.user, entry):
        raise NotFound("entry")
    may_change = can(request.user, Action.CHANGE, entry) and has_capability(request.user, Capability.BIND_TABLES)
    if request.method == "POST":
        if not may_change:
            raise NotFound("entry")
        try:
            do_set_query_indexes(request.user, entry, request.POST.getlist("items"))
        except GovshareError as exc:
            if exc.status == 404:
                raise
            for problem in getattr(exc, "problems", None) or [exc]:
                messages.error(request, problem.render())
        else:
            messages.success(request, _("Saved: the indexes are being built in the background; consumers' queries "
                                        "work meanwhile."))
        return redirect("datastore:query_indexes", entry.pk)
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    items, has_table, unreachable = states_of(entry)
    items = [i for i in items if i.column]
    return render(request, "datastore/query_indexes.html", {
        "entry": entry, "items": items, "has_table": has_table, "unreachable": unreachable,
        "may_change": may_change, "limit": settings.GOVSHARE_MAX_QUERY_INDEXES,
        # refreshed while a build is to come: being built, or waiting with the table there (the hook queues it)
        "building": any(i.state == QueryIndex.State.BUILDING or i.state == QueryIndex.State.WAITING and has_table
                        for i in items)})
