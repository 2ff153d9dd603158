"""Pages of data quality (EXC-7: an entry's score, the 一数一源 cross-source checks) and of the base libraries
(EXC-8).  Reads through the permission chokepoint; writes through :mod:`govshare.exchange.actions`."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.catalog.web.common import catalog_view
from govshare.core.errors import GovshareError, ManyProblems, NotFound
from govshare.core.permissions import get_for, has_capability, restrict
from govshare.core.roles import Capability
from govshare.exchange import actions, quality
from govshare.exchange.api import cross_check_out
from govshare.exchange.models import CrossCheck, TableBinding
from govshare.exchange.permissions import VIEW
from govshare.sharing.web.common import after

exchange_view = catalog_view


@exchange_view
@require_safe
def entry_quality(request: HttpRequest, entry_id: int) -> HttpResponse:
    feed = quality.feed_of(entry_id)  # its binding, or its spreadsheet uploads
    if feed is None or not quality.may_see(request.user, feed.entry):
        raise NotFound()
    score = quality.score_of_feed(feed)
    # only the checks the reader may open (a consumer sees the score, not the providers' check results)
    checks = restrict(CrossCheck.objects.filter(Q(left_entry_id=entry_id) | Q(right_entry_id=entry_id),
                                                is_active=True), request.user, VIEW)
    return render(request, "exchange/quality.html", {
        "binding": feed if isinstance(feed, TableBinding) else None, "feed_is_uploads": not isinstance(
            feed, TableBinding), "entry": feed.entry, "q": score,
        "checks": checks.select_related("left_entry", "right_entry")})


@exchange_view
@require_safe
def base_libraries(request: HttpRequest) -> HttpResponse:
    return render(request, "exchange/base_libraries.html", {"rows": quality.base_libraries(request.user)})


def _check_form(post: Any) -> dict[str, Any]:
    return {name: post.get(name, "") for name in ("name", "left_entry", "left_key", "left_item", "right_entry",
                                                  "right_key", "right_item")}


@exchange_view
@require_http_methods(["GET", "POST"])
def cross_checks(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    may_declare = has_capability(user, Capability.SUPERVISE_QUALITY)
    form: dict[str, Any] = {}
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        form = _check_form(request.POST)
        entries = {side: CatalogEntry.objects.filter(code=form[f"{side}_entry"].strip()).first()
                   for side in ("left", "right")}
        try:
            missing = [form[f"{side}_entry"] for side, entry in entries.items() if entry is None]
            if missing:
                raise GovshareError("no_such_entry", _("No published entry has the resource code %(code)s."),
                                    field="left_entry", code=", ".join(missing))
            left, right = entries["left"], entries["right"]
            assert left is not None and right is not None
            check = actions.do_declare_cross_check(user, name=form["name"], left_entry=left,
                                                   left_key=form["left_key"], left_item=form["left_item"],
                                                   right_entry=right, right_key=form["right_key"],
                                                   right_item=form["right_item"])
        except GovshareError as exc:
            if exc.status in (403, 404):
                raise
            errors = [p.render() for p in (exc.problems if isinstance(exc, ManyProblems) else [exc])]
            status = exc.status
        else:
            return after(request, _("The cross-source check is declared."), "exchange:cross_check", check.pk)
    checks = restrict(CrossCheck.objects.select_related("left_entry", "right_entry"), user, VIEW)
    return render(request, "exchange/cross_checks.html", {"checks": checks, "may_declare": may_declare,
                                                          "form": form, "errors": errors}, status=status)


@exchange_view
@require_safe
def cross_check(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    check = get_for(user, VIEW, CrossCheck.objects.select_related("left_entry__current_version",
                                                                  "right_entry__current_version"), pk=pk)
    return render(request, "exchange/cross_check.html", {
        "check": check, "data": cross_check_out(check, user),
        "may_run": has_capability(user, Capability.SUPERVISE_QUALITY)})


@exchange_view
@require_POST
def cross_check_run(request: HttpRequest, pk: int) -> HttpResponse:
    check = get_for(request.user, VIEW, CrossCheck, pk=pk)
    actions.do_run_cross_check(request.user, check)
    return after(request, _("The entries were compared."), "exchange:cross_check", check.pk)
