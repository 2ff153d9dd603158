"""Web pages of the datastore (namespace ``datastore``, under ``/data/``): the department's batch downloads
(issue 11 item 4) — asked for from a grant's page, followed while they are built, fetched from here."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from govshare.catalog.web.common import catalog_view
from govshare.core.errors import GovshareError
from govshare.core.permissions import get_for, restrict
from govshare.datastore.actions import do_request_download
from govshare.datastore.models import Download
from govshare.datastore.permissions import VIEW
from govshare.sharing.models import Grant
from govshare.sharing.permissions import CONSUME


def _listed(request: HttpRequest) -> Any:
    return (restrict(Download.objects.select_related("entry__current_version", "grant", "job", "requested_by"),
                     request.user, VIEW).order_by("-created_at"))


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_safe
def downloads(request: HttpRequest) -> HttpResponse:
    """The downloads of the user's department (the centre and auditors: every one), newest first; the rows of
    downloads being built refresh themselves (htmx) until they are ready."""
    rows = list(_listed(request)[:200])
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
