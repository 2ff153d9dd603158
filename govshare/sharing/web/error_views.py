"""Data error reports (SHR-8): the consumer reports doubtful or wrong shared data (from a grant or
an entry); the provider acknowledges, verifies and resolves within the profile's deadline; the
consumer follows the status.  A report never blocks the consumer's access."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.permissions import Action, can, get_for, require, restrict
from govshare.core.roles import Capability
from govshare.sharing import actions
from govshare.sharing.forms import ErrorReportForm, ResolveForm
from govshare.sharing.models import ErrorReport, Grant
from govshare.sharing.permissions import ANSWER, CONSUME, get_acting
from govshare.sharing.web.common import (
    ERROR_BADGE,
    Clocks,
    after,
    digits,
    entry_items,
    form_status,
    names_a_field,
    own_department,
    paginate,
    place_errors,
    problems,
    query_without_page,
    sees_all,
    sharing_view,
)


def _decorate(rows: list[ErrorReport], clocks: Clocks) -> list[ErrorReport]:
    clocks.decorate(rows)
    for report in rows:
        report.badge = ERROR_BADGE.get(report.status, "")  # type: ignore[attr-defined]
    return rows


@sharing_view
@require_safe
def error_list(request: HttpRequest) -> HttpResponse:
    """Reports we made, and reports about our data to verify (soonest deadline first); the centre sees all."""
    user: Any = request.user
    visible = restrict(ErrorReport, user, Action.VIEW).select_related("entry__current_version", "provider",
                                                                      "reporter_department", "deadline")
    show = request.GET.get("show", "")
    if show == "open":
        visible = visible.filter(status__in=ErrorReport.OPEN_STATUSES)
    clocks = Clocks()
    context: dict[str, Any] = {"show": show, "centre": sees_all(user)}
    if sees_all(user):
        page = paginate(request, visible.order_by("-reported_at", "-pk"))
        context.update(page=page, rows=_decorate(list(page.object_list), clocks), query=query_without_page(request))
    else:
        related = ("entry__current_version", "provider", "reporter_department", "deadline")
        ours = ErrorReport.objects.mine(user).select_related(*related)
        if show == "open":
            ours = ours.open()
        context["ours"] = _decorate(list(ours.order_by("-reported_at", "-pk")[:200]), clocks)
        # the provider's queue, as the API's box=to_answer and the digest: open reports, soonest deadline first
        context["to_verify"] = _decorate(list(ErrorReport.objects.to_verify_by(user).select_related(*related)[:200]),
                                         clocks)
    return render(request, "sharing/error_list.html", context)


@sharing_view
@require_http_methods(["GET", "POST"])
def error_new(request: HttpRequest) -> HttpResponse:
    """Report an error: ``?grant=<pk>`` or ``?entry=<pk>`` names the data."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    own_department(user)
    grant_pk, entry_pk = digits(request.GET.get("grant")), digits(request.GET.get("entry"))
    if grant_pk is not None:
        grant = get_acting(user, CONSUME, Grant.objects.select_related("entry"), pk=grant_pk)
        entry_pk, target = grant.entry_id, f"grant={grant.pk}"
    elif entry_pk is not None:
        target = f"entry={entry_pk}"
    else:
        raise ValidationFailed("required", gettext_lazy("Name the grant or the entry."), field="entry")
    entry = get_for(user, Action.VIEW, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry_pk)
    form = ErrorReportForm(request.POST if request.method == "POST" else None, items=entry_items(entry))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = actions.do_report_error(user, entry=entry, record_keys=data["record_keys"], field=data["field"],
                                             description=data["description"])
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("Report %(number)s is sent to the provider.") % {"number": report.number},
                         "sharing:error_detail", report.pk)
    return render(request, "sharing/error_form.html", {
        "form": form, "entry": entry, "version": entry.current_version,
        "action": f"{reverse('sharing:error_new')}?{target}",
    }, status=form_status(form))


def _error_page(request: HttpRequest, report: ErrorReport, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    report = ErrorReport.objects.select_related("entry__current_version", "grant", "provider", "reporter_department",
                                                "reported_by", "deadline", "resolved_by").get(pk=report.pk)
    report.badge = ERROR_BADGE.get(report.status, "")  # type: ignore[attr-defined]
    provider = report.is_open and can(user, ANSWER, report)
    context: dict[str, Any] = {
        "report": report, "clock": Clocks().of(report),
        "may_acknowledge": provider and report.status == ErrorReport.Status.REPORTED,
        "may_resolve": provider,
        "may_withdraw": report.is_open and can(user, CONSUME, report),
        "resolve_form": extra.pop("resolve_form", None) or ResolveForm(),
        "action_errors": extra.pop("action_errors", []),
    }
    context.update(extra)
    return render(request, "sharing/error_detail.html", context, status=status)


def _visible(request: HttpRequest, pk: int) -> ErrorReport:
    return get_for(request.user, Action.VIEW, ErrorReport, pk=pk)


def _refused(request: HttpRequest, report: ErrorReport, exc: GovshareError) -> HttpResponse:
    if exc.status == 404:
        raise exc
    return _error_page(request, report, status=exc.status, action_errors=problems(exc))


@sharing_view
@require_safe
def error_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _error_page(request, _visible(request, pk))


@sharing_view
@require_POST
def error_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    report = _visible(request, pk)
    try:
        actions.do_acknowledge_error(request.user, report)
    except GovshareError as exc:
        return _refused(request, report, exc)
    return after(request, _("Report %(number)s is being verified; the reporter has been told.")
                 % {"number": report.number}, "sharing:error_detail", report.pk)


@sharing_view
@require_POST
def error_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    report = _visible(request, pk)
    form = ResolveForm(request.POST)
    if form.is_valid():
        try:
            actions.do_resolve_error(request.user, report, outcome=form.cleaned_data["outcome"],
                                     resolution=form.cleaned_data["resolution"])
        except GovshareError as exc:
            if not names_a_field(form, exc):
                return _refused(request, report, exc)
            place_errors(form, exc)
            return _error_page(request, report, status=exc.status, resolve_form=form)
        return after(request, _("Report %(number)s is resolved; the reporter has been told.")
                     % {"number": report.number}, "sharing:error_detail", report.pk)
    return _error_page(request, report, status=400, resolve_form=form)


@sharing_view
@require_POST
def error_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    report = _visible(request, pk)
    try:
        actions.do_withdraw_error(request.user, report)
    except GovshareError as exc:
        return _refused(request, report, exc)
    return after(request, _("Report %(number)s is withdrawn.") % {"number": report.number},
                 "sharing:error_detail", report.pk)
