"""Coordination cases (SHR-3): the consumer opens one on a refused application or on a 不予共享
entry; the three parties write statements; the centre settles with a grant or a final refusal."""

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
from govshare.core.permissions import Action, can, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from govshare.sharing import actions
from govshare.sharing.actions._common import provider_profile
from govshare.sharing.forms import CaseNoteForm, CaseOpenForm, ReasonForm, SettleForm
from govshare.sharing.models import Application, CoordinationCase, Grant
from govshare.sharing.permissions import CHANGE, CONSUME, REVIEW, get_acting, is_centre
from govshare.sharing.web.common import (
    CASE_BADGE,
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
    sharing_view,
)


@sharing_view
@require_safe
def case_list(request: HttpRequest) -> HttpResponse:
    """The cases this user may see: our requests and cases about our data; the centre sees all."""
    user: Any = request.user
    qs = restrict(CoordinationCase, user, Action.VIEW).select_related("entry__current_version", "provider",
                                                                      "consumer", "deadline", "application")
    show = request.GET.get("show", "")
    if show == "open":
        qs = qs.filter(status__in=CoordinationCase.OPEN_STATUSES)
    page = paginate(request, qs.order_by("-opened_at", "-pk"))
    rows = Clocks().decorate(list(page.object_list))
    dept = getattr(user, "department_id", None)
    for case in rows:
        case.badge = CASE_BADGE.get(case.status, "")
        case.side = "consumer" if case.consumer_id == dept else "provider" if case.provider_id == dept else ""
    return render(request, "sharing/case_list.html", {
        "page": page, "rows": rows, "show": show, "query": query_without_page(request),
        "centre": is_centre(user),
    })


@sharing_view
@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    """Open a case: ``?application=<pk>`` (a refused application) or ``?entry=<pk>`` (a 不予共享 entry)."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    own_department(user)
    app_pk, entry_pk = digits(request.GET.get("application")), digits(request.GET.get("entry"))
    application: Application | None = None
    initial: dict[str, Any] = {}
    if app_pk is not None:
        application = get_acting(user, CONSUME, Application.objects.select_related("entry__current_version",
                                                                                "entry__provider"), pk=app_pk)
        entry = application.entry
        initial = {"items": application.items, "purpose": application.purpose}
        target = f"application={application.pk}"
    elif entry_pk is not None:
        entry = get_for(user, Action.VIEW, CatalogEntry.objects.select_related("current_version", "provider"),
                        pk=entry_pk)
        target = f"entry={entry.pk}"
    else:
        raise ValidationFailed("required", gettext_lazy("Name the entry or the refused application."), field="entry")
    form = CaseOpenForm(request.POST if request.method == "POST" else None, initial=initial,
                        purposes=provider_profile(entry).list("share_purposes"), items=entry_items(entry))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = actions.do_open_case(user, entry=None if application else entry, application=application,
                                        reason=data["reason"], items=list(data["items"]), purpose=data["purpose"])
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("Case %(number)s is opened; the centre mediates.") % {"number": case.number},
                         "sharing:case_detail", case.pk)
    return render(request, "sharing/case_form.html", {
        "form": form, "entry": entry, "version": entry.current_version, "application": application,
        "action": f"{reverse('sharing:case_new')}?{target}",
    }, status=form_status(form))


def _case_page(request: HttpRequest, case: CoordinationCase, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    case = CoordinationCase.objects.select_related(
        "entry__current_version", "entry__provider", "application", "provider", "consumer", "opened_by",
        "deadline", "mediator", "settled_by").get(pk=case.pk)
    case.badge = CASE_BADGE.get(case.status, "")  # type: ignore[attr-defined]
    version = case.entry.current_version
    may_settle = case.is_open and has_capability(user, Capability.REVIEW_SHARE) and can(user, REVIEW, case)
    context: dict[str, Any] = {
        "case": case, "version": version, "clock": Clocks().of(case),
        "notes": list(case.notes.select_related("author")),
        "grants": list(restrict(Grant, user, Action.VIEW).filter(case=case)),
        "may_note": case.is_open and can(user, CHANGE, case),
        "may_settle": may_settle,
        "may_withdraw": case.is_open and can(user, CONSUME, case),
        "note_form": extra.pop("note_form", None) or CaseNoteForm(),
        "withdraw_form": extra.pop("withdraw_form", None) or ReasonForm(label=_("reason (optional)")),
        "action_errors": extra.pop("action_errors", []),
    }
    if may_settle:
        context["settle_form"] = extra.pop("settle_form", None) or SettleForm(
            items=entry_items(case.entry), chosen=list(case.items),
            methods=version.share_methods if version else None,
            channel=case.application.channel if case.application else "")
    context.update(extra)
    return render(request, "sharing/case_detail.html", context, status=status)


def _visible(request: HttpRequest, pk: int) -> CoordinationCase:
    return get_for(request.user, Action.VIEW,
                   CoordinationCase.objects.select_related("entry__current_version", "application"), pk=pk)


def _failed(request: HttpRequest, case: CoordinationCase, exc: GovshareError, key: str, form: Any) -> HttpResponse:
    if exc.status == 404:
        raise exc
    if names_a_field(form, exc):
        place_errors(form, exc)
        return _case_page(request, case, status=exc.status, **{key: form})
    return _case_page(request, case, status=exc.status, action_errors=problems(exc))


@sharing_view
@require_safe
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _case_page(request, _visible(request, pk))


@sharing_view
@require_POST
def case_note(request: HttpRequest, pk: int) -> HttpResponse:
    case = _visible(request, pk)
    form = CaseNoteForm(request.POST)
    if form.is_valid():
        try:
            actions.do_add_case_note(request.user, case, text=form.cleaned_data["text"])
        except GovshareError as exc:
            return _failed(request, case, exc, "note_form", form)
        return after(request, _("Your statement is added; the other parties have been told."),
                     "sharing:case_detail", case.pk)
    return _case_page(request, case, status=400, note_form=form)


@sharing_view
@require_POST
def case_settle(request: HttpRequest, pk: int) -> HttpResponse:
    """The centre settles: ``outcome=grant`` or ``outcome=refuse`` (final), with its reason."""
    case = _visible(request, pk)
    version = case.entry.current_version
    form = SettleForm(request.POST, items=entry_items(case.entry), chosen=list(case.items),
                      methods=version.share_methods if version else None)
    outcome = request.POST.get("outcome", "")
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_settle_case(request.user, case, outcome=outcome, reason=data["reason"],
                                   items=list(data["items"]) or None, expires_on=data["expires_on"],
                                   channel=data["channel"], conditions=data["conditions"])
        except GovshareError as exc:
            return _failed(request, case, exc, "settle_form", form)
        return after(request, _("Case %(number)s is settled; the parties have been told.") % {"number": case.number},
                     "sharing:case_detail", case.pk)
    return _case_page(request, case, status=400, settle_form=form)


@sharing_view
@require_POST
def case_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    case = _visible(request, pk)
    form = ReasonForm(request.POST, label=_("reason (optional)"))
    if form.is_valid():
        try:
            actions.do_withdraw_case(request.user, case, reason=form.cleaned_data["reason"])
        except GovshareError as exc:
            return _failed(request, case, exc, "withdraw_form", form)
        return after(request, _("Case %(number)s is withdrawn.") % {"number": case.number},
                     "sharing:case_detail", case.pk)
    return _case_page(request, case, status=400, withdraw_form=form)
