"""Data requests (SHR-5, SHR-6): a department asks for data that is not in the catalog (or that an
upper-level platform holds); the centre assigns it to the presumed owner or forwards it upwards;
the owner answers with a catalog entry of its own or declines; the centre records the upper
level's answer or closes the request."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.core.errors import GovshareError
from govshare.core.models import Department, Jurisdiction
from govshare.core.permissions import Action, can, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from govshare.sharing import actions
from govshare.sharing.actions._common import profile_of
from govshare.sharing.forms import AssignForm, DataRequestForm, ReasonForm, RegisterEntryForm, UpperAnswerForm
from govshare.sharing.models import DataRequest
from govshare.sharing.permissions import ANSWER, REVIEW
from govshare.sharing.web.common import (
    REQUEST_BADGE,
    after,
    department_choices,
    digits,
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

CLOSABLE = (DataRequest.Status.SUBMITTED, DataRequest.Status.ASSIGNED, DataRequest.Status.DECLINED,
            DataRequest.Status.FORWARDED)


def _decorate(rows: list[DataRequest]) -> list[DataRequest]:
    for req in rows:
        req.badge = REQUEST_BADGE.get(req.status, "")  # type: ignore[attr-defined]
    return rows


@sharing_view
@require_safe
def request_list(request: HttpRequest) -> HttpResponse:
    """Our requests and those assigned to us; the centre sees every request."""
    user: Any = request.user
    visible = restrict(DataRequest, user, Action.VIEW).select_related("requester", "owner", "entry",
                                                                      "upper_jurisdiction")
    show = request.GET.get("show", "")
    if show == "open":
        visible = visible.filter(status__in=DataRequest.OPEN_STATUSES)
    context: dict[str, Any] = {"show": show, "centre": sees_all(user),
                               "may_submit": has_capability(user, Capability.APPLY_SHARE) and user.department_id}
    if sees_all(user):
        page = paginate(request, visible.order_by("-requested_at", "-pk"))
        context.update(page=page, rows=_decorate(list(page.object_list)), query=query_without_page(request))
    else:
        dept = user.department_id
        context["ours"] = _decorate(list(visible.filter(requester_id=dept).order_by("-requested_at")[:200]))
        context["assigned"] = _decorate(list(visible.filter(owner_id=dept).order_by(
            "status", "-assigned_at")[:200]))
    return render(request, "sharing/request_list.html", context)


@sharing_view
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    """A new request: local (not in the catalog) or for an upper-level platform's resource."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    dept = own_department(user)
    uppers = dept.jurisdiction.ancestors()
    form = DataRequestForm(request.POST if request.method == "POST" else None,
                           purposes=profile_of(dept).list("share_purposes"),
                           departments=department_choices(user, exclude=dept.pk),
                           uppers=[(j.pk, j.name) for j in uppers])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        owner_pk, upper_pk = digits(data["suggested_owner"]), digits(data["upper_jurisdiction"])
        try:
            req = actions.do_submit_request(
                user, scope=data["scope"], title=data["title"], description=data["description"],
                purpose=data["purpose"], wanted_items=data["wanted_items"],
                suggested_owner=restrict(Department, user, Action.VIEW).filter(pk=owner_pk).first()
                if owner_pk else None,
                upper_jurisdiction=Jurisdiction.objects.filter(pk=upper_pk).first() if upper_pk else None,
                upper_resource=data["upper_resource"])
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("Request %(number)s is sent to the centre.") % {"number": req.number},
                         "sharing:request_detail", req.pk)
    return render(request, "sharing/request_form.html", {"form": form}, status=form_status(form))


def _own_entries(user: Any, req: DataRequest) -> list[tuple[int, str]]:
    qs = restrict(CatalogEntry, user, Action.CHANGE).filter(provider_id=req.owner_id).exclude(
        status=CatalogEntry.Status.WITHDRAWN).select_related("current_version", "open_version")
    rows = []
    for entry in qs.order_by("code")[:500]:
        version = entry.current_version or entry.open_version
        rows.append((entry.pk, f"{entry.code} {version.name if version else ''} ({entry.get_status_display()})"))
    return rows


def _request_page(request: HttpRequest, req: DataRequest, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    req = DataRequest.objects.select_related("requester", "requested_by", "suggested_owner", "owner", "assigned_by",
                                             "entry__current_version", "answered_by", "upper_jurisdiction",
                                             "forwarded_by").get(pk=req.pk)
    req.badge = REQUEST_BADGE.get(req.status, "")  # type: ignore[attr-defined]
    centre = has_capability(user, Capability.REVIEW_SHARE) and can(user, REVIEW, req)
    owner = req.status == DataRequest.Status.ASSIGNED and can(user, ANSWER, req)
    local = req.scope == DataRequest.Scope.LOCAL
    context: dict[str, Any] = {
        "req": req,
        "may_assign": centre and local and req.status in (DataRequest.Status.SUBMITTED, DataRequest.Status.ASSIGNED,
                                                          DataRequest.Status.DECLINED),
        "may_forward": centre and not local and req.status == DataRequest.Status.SUBMITTED,
        "may_record": centre and req.status == DataRequest.Status.FORWARDED,
        "may_close": centre and req.status in CLOSABLE,
        "may_answer": owner,
        "handoff": json.dumps(req.handoff, ensure_ascii=False, indent=1) if req.handoff and centre else "",
        "action_errors": extra.pop("action_errors", []),
    }
    if context["may_assign"]:
        context["assign_form"] = extra.pop("assign_form", None) or AssignForm(
            initial={"owner": str(req.owner_id or req.suggested_owner_id or "")},
            departments=department_choices(user, exclude=req.requester_id))
    if context["may_forward"]:
        context["forward_form"] = extra.pop("forward_form", None) or ReasonForm(label=_("note"))
    if context["may_record"]:
        context["upper_form"] = extra.pop("upper_form", None) or UpperAnswerForm()
    if context["may_close"]:
        context["close_form"] = extra.pop("close_form", None) or ReasonForm(label=_("reason"), required=True)
    if owner:
        context["register_form"] = extra.pop("register_form", None) or RegisterEntryForm(
            entries=_own_entries(user, req))
        context["decline_form"] = extra.pop("decline_form", None) or ReasonForm(label=_("reason"), required=True)
    context.update(extra)
    return render(request, "sharing/request_detail.html", context, status=status)


def _visible(request: HttpRequest, pk: int) -> DataRequest:
    return get_for(request.user, Action.VIEW, DataRequest, pk=pk)


def _failed(request: HttpRequest, req: DataRequest, exc: GovshareError, key: str, form: Any,
            aliases: dict[str, str] | None = None) -> HttpResponse:
    if exc.status == 404:
        raise exc
    if names_a_field(form, exc, aliases):
        place_errors(form, exc, aliases)
        return _request_page(request, req, status=exc.status, **{key: form})
    return _request_page(request, req, status=exc.status, action_errors=problems(exc))


@sharing_view
@require_safe
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_page(request, _visible(request, pk))


@sharing_view
@require_POST
def request_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    req = _visible(request, pk)
    form = AssignForm(request.POST, departments=department_choices(user, exclude=req.requester_id))
    if form.is_valid():
        owner = restrict(Department, user, Action.VIEW).filter(pk=digits(form.cleaned_data["owner"]) or 0).first()
        if owner is None:
            form.add_error("owner", _("Choose the presumed owner."))
            return _request_page(request, req, status=400, assign_form=form)
        try:
            actions.do_assign_request(user, req, owner=owner, note=form.cleaned_data["note"])
        except GovshareError as exc:
            return _failed(request, req, exc, "assign_form", form)
        return after(request, _("Request %(number)s is assigned to %(owner)s.") % {"number": req.number,
                                                                                   "owner": owner.name},
                     "sharing:request_detail", req.pk)
    return _request_page(request, req, status=400, assign_form=form)


@sharing_view
@require_POST
def request_register(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner answers with one of its catalog entries (new or existing)."""
    user: Any = request.user
    req = _visible(request, pk)
    form = RegisterEntryForm(request.POST, entries=_own_entries(user, req))
    if form.is_valid():
        entry_pk = digits(form.cleaned_data["entry"])
        if entry_pk is None:
            form.add_error("entry", _("Choose the catalog entry."))
            return _request_page(request, req, status=400, register_form=form)
        try:
            entry = get_for(user, Action.CHANGE, CatalogEntry, pk=entry_pk)
            actions.do_register_for_request(user, req, entry=entry)
        except GovshareError as exc:
            return _failed(request, req, exc, "register_form", form)
        return after(request, _("Request %(number)s is answered with %(code)s.") % {"number": req.number,
                                                                                    "code": entry.code},
                     "sharing:request_detail", req.pk)
    return _request_page(request, req, status=400, register_form=form)


def _reason_post(request: HttpRequest, pk: int, key: str, fn: Any, done: str, *, required: bool = True,
                 arg: str = "reason") -> HttpResponse:
    req = _visible(request, pk)
    form = ReasonForm(request.POST, label=_("note") if arg == "note" else _("reason"), required=required)
    if form.is_valid():
        try:
            fn(request.user, req, **{arg: form.cleaned_data["reason"]})
        except GovshareError as exc:
            return _failed(request, req, exc, key, form, {arg: "reason"})
        return after(request, done % {"number": req.number}, "sharing:request_detail", req.pk)
    return _request_page(request, req, status=400, **{key: form})


@sharing_view
@require_POST
def request_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _reason_post(request, pk, "decline_form", actions.do_decline_request,
                        _("Request %(number)s is declined; the requester and the centre have been told."))


@sharing_view
@require_POST
def request_forward(request: HttpRequest, pk: int) -> HttpResponse:
    return _reason_post(request, pk, "forward_form", actions.do_forward_request,
                        _("Request %(number)s is forwarded to the upper-level platform."), required=False, arg="note")


@sharing_view
@require_POST
def request_close(request: HttpRequest, pk: int) -> HttpResponse:
    return _reason_post(request, pk, "close_form", actions.do_close_request, _("Request %(number)s is closed."))


@sharing_view
@require_POST
def request_upper_answer(request: HttpRequest, pk: int) -> HttpResponse:
    req = _visible(request, pk)
    form = UpperAnswerForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_record_upper_answer(request.user, req, fulfilled=data["fulfilled"] == "1",
                                           answer=data["answer"], reference=data["reference"])
        except GovshareError as exc:
            return _failed(request, req, exc, "upper_form", form)
        return after(request, _("The upper level's answer to %(number)s is recorded.") % {"number": req.number},
                     "sharing:request_detail", req.pk)
    return _request_page(request, req, status=400, upper_form=form)
