"""Shared files (EXC-2; issue 11 item 7): the provider's page of its entries of a file kind — each file with every
version, and the form that shares a file or a new version of it (a file given the name of one already shared becomes
its next version).  Large files go through the resumable upload of the API (docs/delivery.md)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from govshare.catalog.enums import ShareMethod
from govshare.catalog.models import CatalogEntry
from govshare.catalog.permissions import dept_of
from govshare.catalog.web.common import catalog_view, require_government
from govshare.core import files
from govshare.core.errors import GovshareError
from govshare.core.permissions import Action, get_for, has_capability, restrict
from govshare.core.roles import Capability
from govshare.core.validators import number
from govshare.exchange.actions.files import do_share_file
from govshare.exchange.entryfiles import ACCEPTED, FILE_KINDS, KIND_NAMES
from govshare.exchange.models import EntryFile

#: the largest file the page takes in one request (larger: the resumable upload)
FORM_MAX = 100 * files.MB


def _entries(request: HttpRequest) -> list[dict[str, Any]]:
    dept = dept_of(request.user)
    if dept is None:
        return []
    found = []
    for entry in restrict(CatalogEntry.objects.filter(provider_id=dept, status=CatalogEntry.Status.PUBLISHED)
                          .select_related("current_version"), request.user, Action.CHANGE).order_by("code"):
        version = entry.current_version
        if version is None or version.format_class not in FILE_KINDS or \
                ShareMethod.FILE not in (version.share_methods or []):
            continue
        found.append({"entry": entry, "accepted": "、".join(KIND_NAMES[k] for k in ACCEPTED[version.format_class]),
                      "files": list(EntryFile.objects.filter(entry=entry).prefetch_related("versions"))})
    return found


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_http_methods(["GET", "POST"])
def shared_files(request: HttpRequest) -> HttpResponse:
    require_government(request.user)  # the public has no department to share or fetch files for
    if request.method == "POST":
        entry = get_for(request.user, Action.CHANGE, CatalogEntry.objects.all(), pk=number(request.POST.get("entry")))
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose the file to share."))
            return redirect("exchange:files")
        try:
            files.check_size(int(upload.size or 0), FORM_MAX, where=upload.name or "file", field="file")
            version = do_share_file(request.user, entry, name=request.POST.get("name", ""),
                                    original_name=upload.name or "file", data=upload.read(FORM_MAX + 1),
                                    note=request.POST.get("note", ""))
        except GovshareError as exc:
            if exc.status == 404:
                raise
            messages.error(request, exc.render())
            return redirect("exchange:files")
        messages.success(request, _("%(file)s version %(number)s is shared.") % {"file": version.file.name,
                                                                                 "number": version.number})
        return redirect("exchange:files")
    return render(request, "exchange/files.html", {
        "entries": _entries(request), "may_share": has_capability(request.user, Capability.BIND_TABLES)})
