"""One application, for every party (SHR-2): its fields, the requested items, the stamped letter,
the timeline of steps with the working days each clock ran, the open clock, and the forms this
user may use — withdraw (consumer), first review (centre), approve or refuse (provider), reopen an
overdue answer period (centre).

What a form offers is computed here only to hide buttons that would be refused — the actions decide.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from govshare.core import access_log
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.permissions import Action, can, get_for, has_capability, restrict
from govshare.core.roles import Capability
from govshare.sharing import actions
from govshare.sharing.actions.applications import default_masking
from govshare.sharing.forms import ApproveForm, FirstReviewForm, ReasonForm, RefuseForm
from govshare.sharing.models import Application, CoordinationCase, Grant
from govshare.sharing.permissions import ANSWER, CONSUME, REVIEW
from govshare.sharing.web.common import (
    APP_BADGE,
    STAGE_LABEL,
    Clocks,
    after,
    label,
    names_a_field,
    place_errors,
    problems,
    sharing_view,
)


def _approve_form(app: Application, data: Any = None) -> ApproveForm:
    return ApproveForm(data, requested=list(app.items), masking=default_masking(app.entry, list(app.items)))


def detail_context(request: HttpRequest, app: Application, **extra: Any) -> dict[str, Any]:
    user: Any = request.user
    app = Application.objects.select_related(
        "entry__current_version", "entry__provider", "entry_version", "provider", "consumer", "applicant", "system",
        "deadline", "first_reviewer", "answered_by").get(pk=app.pk)
    status = app.status
    clock = Clocks().of(app)
    consumer = can(user, CONSUME, app)
    provider = can(user, ANSWER, app) and has_capability(user, Capability.ANSWER_SHARE)
    centre = has_capability(user, Capability.REVIEW_SHARE) and can(user, REVIEW, app)
    cases = list(restrict(CoordinationCase, user, Action.VIEW).filter(application=app).order_by("-opened_at"))
    case_open = any(c.is_open for c in cases)
    context: dict[str, Any] = {
        "app": app,
        "badge": APP_BADGE.get(status, ""),
        "clock": clock,
        "stage_label": STAGE_LABEL.get(app.stage, ""),
        "channel_label": label("share_methods", app.channel),
        "steps": list(app.steps.select_related("actor")),
        "grants": list(restrict(Grant, user, Action.VIEW).filter(application=app).order_by("-granted_at")),
        "cases": cases,
        "has_letter": bool(app.letter_path),
        "may_withdraw": consumer and app.is_open,
        "may_resubmit": consumer and status == Application.Status.RETURNED,
        "may_open_case": consumer and has_capability(user, Capability.APPLY_SHARE) and not case_open
        and status in (Application.Status.REFUSED, Application.Status.REJECTED),
        "may_review": centre and status == Application.Status.CENTRE_REVIEW,
        "may_answer": provider and status == Application.Status.PROVIDER_REVIEW and not app.is_overdue,
        "answer_late": provider and status == Application.Status.PROVIDER_REVIEW and app.is_overdue,
        "may_reopen": centre and status == Application.Status.PROVIDER_REVIEW and app.is_overdue,
        "action_errors": extra.pop("action_errors", []),
    }
    if context["may_withdraw"]:
        context["withdraw_form"] = extra.pop("withdraw_form", None) or ReasonForm(label=_("reason (optional)"))
    if context["may_review"]:
        context["review_form"] = extra.pop("review_form", None) or FirstReviewForm()
    if context["may_answer"]:
        approve_form = extra.pop("approve_form", None) or _approve_form(app)
        context["approve_form"] = approve_form
        context["approve_rows"] = approve_form.rows()
        context["refuse_form"] = extra.pop("refuse_form", None) or RefuseForm()
    if context["may_reopen"]:
        context["reopen_form"] = extra.pop("reopen_form", None) or ReasonForm(label=_("reason"), required=True)
    context.update(extra)
    return context


def _page(request: HttpRequest, app: Application, status: int = 200, **extra: Any) -> HttpResponse:
    return render(request, "sharing/application_detail.html", detail_context(request, app, **extra), status=status)


def _visible(request: HttpRequest, pk: int) -> Application:
    return get_for(request.user, Action.VIEW, Application.objects.select_related("entry__current_version"), pk=pk)


def _failed(request: HttpRequest, app: Application, exc: GovshareError, key: str, form: Any,
            aliases: dict[str, str] | None = None, **extra: Any) -> HttpResponse:
    """Show an action's refusal: next to the form's fields when it names them, else at the top."""
    if exc.status == 404:
        raise exc
    if names_a_field(form, exc, aliases):
        place_errors(form, exc, aliases)
        return _page(request, app, status=exc.status, **{key: form}, **extra)
    return _page(request, app, status=exc.status, action_errors=problems(exc))


@sharing_view
@require_safe
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    app = _visible(request, pk)
    access_log.note(request, AuditCode.READ_APPLICATION, app)
    return _page(request, app)


@sharing_view
@require_safe
def letter(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The stamped letter, as an attachment that the browser must not sniff (audited)."""
    path, app = actions.letter_for_download(request.user, _visible(request, pk))
    access_log.note(request, AuditCode.READ_DOWNLOAD, app, file=app.letter_name, sha256=app.letter_sha256)
    try:
        handle = path.open("rb")
    except OSError:
        raise ValidationFailed("letter_missing", _("No letter is stored for this application."),
                               field="letter") from None
    response = FileResponse(handle, as_attachment=True, filename=app.letter_name or f"{app.number}",
                            content_type=app.letter_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@sharing_view
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    app = _visible(request, pk)
    form = ReasonForm(request.POST, label=_("reason (optional)"))
    if form.is_valid():
        try:
            actions.do_withdraw_application(request.user, app, reason=form.cleaned_data["reason"])
        except GovshareError as exc:
            return _failed(request, app, exc, "withdraw_form", form)
        return after(request, _("Application %(number)s is withdrawn.") % {"number": app.number},
                     "sharing:application_detail", app.pk)
    return _page(request, app, status=400, withdraw_form=form)


@sharing_view
@require_POST
def first_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The centre: ``pass``, ``return`` for completion, or ``reject`` (with a comment)."""
    app = _visible(request, pk)
    form = FirstReviewForm(request.POST)
    decision = request.POST.get("decision", "")
    if form.is_valid():
        try:
            actions.do_first_review(request.user, app, decision=decision, comment=form.cleaned_data["comment"])
        except GovshareError as exc:
            return _failed(request, app, exc, "review_form", form)
        done = {"pass": _("Passed; the provider's answer period has started."),
                "return": _("Returned to the applicant for completion."),
                "reject": _("Rejected at first review.")}[decision]
        return after(request, done, "sharing:application_detail", app.pk)
    return _page(request, app, status=400, review_form=form)


@sharing_view
@require_POST
def answer(request: HttpRequest, pk: int) -> HttpResponse:
    """The provider: approve (items, masking, expiry, conditions) or refuse (basis and reason)."""
    app = _visible(request, pk)
    user: Any = request.user
    if request.POST.get("decision") == "refuse":
        refuse = RefuseForm(request.POST)
        if refuse.is_valid():
            try:
                actions.do_answer(user, app, decision="refuse", basis=refuse.cleaned_data["basis"],
                                  reason=refuse.cleaned_data["reason"])
            except GovshareError as exc:
                return _failed(request, app, exc, "refuse_form", refuse, refusing=True)
            return after(request, _("Application %(number)s is refused; the applicant has been told.")
                         % {"number": app.number}, "sharing:application_detail", app.pk)
        return _page(request, app, status=400, refuse_form=refuse, refusing=True)
    approve = _approve_form(app, request.POST)
    if approve.is_valid():
        data = approve.cleaned_data
        try:
            actions.do_answer(user, app, decision="approve", items=list(data["items"]), masking=approve.masking(),
                              expires_on=data["expires_on"], conditions=data["conditions"])
        except GovshareError as exc:
            return _failed(request, app, exc, "approve_form", approve, approve.aliases())
        return after(request, _("Application %(number)s is approved; the grant is in effect.")
                     % {"number": app.number}, "sharing:application_detail", app.pk)
    return _page(request, app, status=400, approve_form=approve)


@sharing_view
@require_POST
def reopen(request: HttpRequest, pk: int) -> HttpResponse:
    """The centre reopens an overdue answer period (a new clock)."""
    app = _visible(request, pk)
    form = ReasonForm(request.POST, label=_("reason"), required=True)
    if form.is_valid():
        try:
            actions.do_reopen_answer(request.user, app, reason=form.cleaned_data["reason"])
        except GovshareError as exc:
            return _failed(request, app, exc, "reopen_form", form)
        return after(request, _("The answer period is reopened; the provider has been told."),
                     "sharing:application_detail", app.pk)
    return _page(request, app, status=400, reopen_form=form)
