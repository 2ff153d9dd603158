"""Spreadsheet uploads (EXC-3; issue 11 item 8), for departments without a business system:

* ``uploads`` — the department's published 库表 entries that take uploads: the template to download, the form to
  upload a filled-in one (mode: upsert, append, replace), the last uploads, whether an upload is due (stale);
* ``upload_detail`` — one upload: its state (refreshing itself while it is checked or loaded), the totals, and every
  problem with its sheet, row, column and reason;
* ``upload_rules`` — the value rules an entry's uploads are checked with (as a binding's: the same form).
Writes go through :mod:`govshare.exchange.actions.uploads`."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.catalog.permissions import dept_of
from govshare.catalog.web.common import catalog_view
from govshare.core import exports, files
from govshare.core.errors import GovshareError, ManyProblems
from govshare.core.permissions import Action, get_for, has_capability, restrict
from govshare.core.roles import Capability
from govshare.core.validators import number
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import StoreError
from govshare.exchange import bindings
from govshare.exchange.actions.uploads import (
    do_confirm_upload_deletes,
    do_discard_upload,
    do_resume_upload,
    do_set_upload_rules,
    do_upload,
)
from govshare.exchange.models import Upload, UploadFeed
from govshare.exchange.permissions import VIEW
from govshare.exchange.uploads import SHOWN_PROBLEMS, is_stale, problem_text, uploadable, with_last_load


def _entries(request: HttpRequest) -> list[Any]:
    """The user's department's published 库表 entries that take uploads, with their feed and last uploads."""
    dept = dept_of(request.user)
    if dept is None:
        return []
    found = []
    qs = restrict(CatalogEntry.objects.filter(provider_id=dept, status=CatalogEntry.Status.PUBLISHED)
                  .select_related("current_version", "provider"), request.user, Action.CHANGE).order_by("code")
    feeds = {f.entry_id: f for f in with_last_load(UploadFeed.objects.filter(entry__provider_id=dept)
                                                   .select_related("entry__current_version"))}
    with contextlib.ExitStack() as stack:
        store: Any = None
        for entry in qs:
            if uploadable(entry) is not None:
                continue
            if store is None:
                with contextlib.suppress(StoreError):
                    store = stack.enter_context(open_store())
            feed = feeds.get(entry.pk)
            found.append({"entry": entry, "feed": feed, "stale": is_stale(feed) if feed is not None else None,
                          "recent": list(Upload.objects.filter(feed__entry=entry).defer("problems", "pending_keys")
                                         .order_by("-created_at", "-pk")[:3]),
                          "replace_only": _replace_only(entry, feed, store)})
    return found


def _replace_only(entry: CatalogEntry, feed: UploadFeed | None, store: Any) -> str | None:
    """Why only a replace upload can load the entry now (its version changes the centre's table, or a rebuild of it is
    pending: :func:`govshare.exchange.uploads._run` refuses the other modes), said before anyone uploads; None: any
    mode.  The centre unreachable (``store`` None, or failing): None — the upload's check says it."""
    if feed is not None and feed.rebuild_pending:
        return "rebuild_pending"
    version = entry.current_version
    if version is None or store is None:
        return None
    try:
        differences = store.cannot_take(table_for(entry), *bindings.store_shape(version))
    except StoreError:
        return None
    return "; ".join(differences) if differences else None


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_http_methods(["GET", "POST"])
def uploads(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        entry = get_for(request.user, Action.CHANGE, CatalogEntry.objects.all(), pk=number(request.POST.get("entry")))
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose the filled-in template to upload."))
            return _back_to_form(entry, request.POST.get("mode", ""))
        try:
            from django.conf import settings

            limit = settings.GOVSHARE_UPLOAD_MAX_MB * files.MB
            files.check_size(int(upload.size or 0), limit, where=upload.name or "file", field="file")
            made = do_upload(request.user, entry, file_name=upload.name or "upload.xlsx", data=upload.read(limit + 1),
                             mode=request.POST.get("mode", "upsert"))
        except GovshareError as exc:
            if exc.status == 404:
                raise
            for problem in exc.problems if isinstance(exc, ManyProblems) else [exc]:
                messages.error(request, problem.render())
            return _back_to_form(entry, request.POST.get("mode", ""))
        messages.success(request, _("The file is received; every row is being checked."))
        return redirect("exchange:upload_detail", made.pk)
    # the list shows counts: the kept problems (up to 10 000 an upload) are not read (review of the 22nd session)
    recent = list(restrict(Upload.objects.select_related("feed__entry__current_version", "uploaded_by")
                           .defer("problems", "pending_keys"), request.user, VIEW).order_by("-created_at", "-pk")[:30])
    entries = _entries(request)
    chosen = request.GET.get("mode") if request.GET.get("mode") in Upload.Mode.values else None
    for e in entries:  # the mode a refused file was sent with stays chosen (QA walk-through, 21st session)
        e["mode"] = chosen if chosen and request.GET.get("entry") == str(e["entry"].pk) else \
            Upload.Mode.REPLACE if e["replace_only"] else Upload.Mode.UPSERT
    return render(request, "exchange/uploads.html", {
        "entries": entries, "recent": recent, "modes": Upload.Mode.choices,
        "may_upload": has_capability(request.user, Capability.BIND_TABLES)})


def _back_to_form(entry: CatalogEntry, mode: str) -> HttpResponse:
    """Back to the entry's upload form with the mode it was sent with still chosen."""
    from urllib.parse import urlencode

    query = urlencode({"entry": entry.pk, **({"mode": mode} if mode in Upload.Mode.values else {})})
    return redirect(f"{reverse('exchange:uploads')}?{query}#upload-{entry.pk}")


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_safe
def upload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_for(request.user, VIEW, Upload.objects.select_related("feed__entry__current_version", "uploaded_by",
                                                                       "job"), pk=pk)
    shown = [{**p, "text": problem_text(p)} for p in (upload.problems or [])[:SHOWN_PROBLEMS]]
    template = "exchange/_upload_state.html" if request.headers.get("HX-Request") else "exchange/upload_detail.html"
    # the keys of the rows a held upload would delete, and the decision: the provider's staff only
    may_act = upload.status in (Upload.Status.HELD, Upload.Status.FAILED) and \
        has_capability(request.user, Capability.BIND_TABLES) and \
        restrict(CatalogEntry.objects.filter(pk=upload.feed.entry_id), request.user, Action.CHANGE).exists()
    return render(request, template, {"upload": upload, "problems": shown,
                                      "may_decide": may_act and upload.status == Upload.Status.HELD,
                                      "may_resume": may_act and upload.status == Upload.Status.FAILED,
                                      "open": upload.status in Upload.OPEN_STATUSES})


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_safe
def upload_problems(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Every kept problem of a refused file (up to :data:`KEPT_PROBLEMS`), as CSV or XLSX (``?format=``) in the
    reader's language: the page lists the first ones only."""
    upload = get_for(request.user, VIEW, Upload.objects.select_related("feed__entry"), pk=pk)
    header = [_("sheet"), _("row"), _("column"), _("item"), _("problem code"), _("problem")]
    rows = ([p.get("sheet") or "", p.get("row") or "", p.get("column") or "", p.get("item") or "", p.get("code") or "",
             problem_text(p)] for p in upload.problems or [])
    stem = f"{upload.feed.entry.code.replace('/', '-')}-upload-{upload.pk}-problems"
    return exports.export_response(request.GET.get("format", "csv"), stem, header, rows, sheet_title="problems")


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_POST
def upload_resume(request: HttpRequest, pk: int) -> HttpResponse:
    """A failed load goes on from its last committed batch (:func:`do_resume_upload`)."""
    upload = get_for(request.user, VIEW, Upload.objects.select_related("feed__entry"), pk=pk)

    def resume() -> str:
        do_resume_upload(request.user, upload)
        return _("Resumed: the load goes on from its last stored batch.")

    return _acted(request, upload, resume)


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_POST
def upload_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """A held replace upload: ``confirm`` the number of deletions shown (``pending``), or ``discard`` it."""
    upload = get_for(request.user, VIEW, Upload.objects.select_related("feed__entry"), pk=pk)

    def decide() -> str:
        if request.POST.get("decision") == "confirm":
            pending = request.POST.get("pending", "")
            do_confirm_upload_deletes(request.user, upload, pending=int(pending) if pending.isdigit() else -1)
            return _("Confirmed: the file is checked and loaded again, deleting those rows.")
        do_discard_upload(request.user, upload)
        return _("Discarded: nothing of the file was stored.")

    return _acted(request, upload, decide)


def _acted(request: HttpRequest, upload: Upload, act: Any) -> HttpResponse:
    """Do ``act`` (it returns what to say) and go back to the upload's page, saying it or why not (404 stays 404)."""
    try:
        messages.success(request, act())
    except GovshareError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.render())
    return redirect("exchange:upload_detail", upload.pk)


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_http_methods(["GET", "POST"])
def upload_rules(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The value rules of an entry's uploads: listed to whoever may change the entry; POST adds one (``item``,
    ``kind`` and its fields) or removes one (``remove``: its position) — every problem shown at once."""
    from govshare.exchange.uploads import uploadable as takes_uploads
    from govshare.exchange.web.views import RULE_KINDS, rule_from, rule_shown

    entry = get_for(request.user, Action.CHANGE, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry_id)
    problem = takes_uploads(entry)
    if problem is not None:
        raise problem
    feed = UploadFeed.objects.filter(entry=entry).first()
    rules = list(feed.rules if feed is not None else [])
    errors: list[str] = []
    status = 200
    post: Any = None  # (a dict would show its values() method in the form's fields)
    if request.method == "POST":
        post = request.POST
        changed = list(rules)
        guard: int | None = None
        if "delete_guard_percent" in post:  # the guard's own form
            given = post.get("delete_guard_percent", "").strip()
            guard = int(given) if given.isdigit() and len(given) <= 3 else 0
            changed = rules
        elif post.get("remove", "").isdigit() and int(post["remove"]) < len(changed):
            del changed[int(post["remove"])]
        else:
            changed.append({"item": post.get("item", ""), "rule": rule_from(post)})
        try:
            do_set_upload_rules(request.user, entry, rules=changed, delete_guard_percent=guard)
        except GovshareError as exc:
            if exc.status == 404:
                raise
            errors = [p.render() for p in (exc.problems if isinstance(exc, ManyProblems) else [exc])]
            status = exc.status
        else:
            messages.success(request, _("The mass-delete guard is saved.") if guard is not None
                             else _("The value rules are saved."))
            return redirect("exchange:upload_rules", entry.pk)
    version = entry.current_version
    return render(request, "exchange/upload_rules.html", {
        "entry": entry, "rules_shown": [rule_shown(row) for row in rules if isinstance(row, dict)],
        "items": bindings.items_of(version) if version is not None else [], "rule_kinds": RULE_KINDS,
        "rule_form": post, "rule_errors": errors,
        "guard_percent": feed.delete_guard_percent if feed is not None else UploadFeed._meta.get_field(
            "delete_guard_percent").default,
        "may_change": has_capability(request.user, Capability.BIND_TABLES)}, status=status)
