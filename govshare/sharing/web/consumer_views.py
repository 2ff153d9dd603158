"""The consumer's pages (SHR-1, SHR-2, SHR-4): my department's applications and grants, the
subscription form of an unconditional entry, the application form of a conditional one and the
resubmission of a returned application.

Reads go through ``restrict`` / ``get_for``; every form posts to a view that calls one action and
shows its errors next to the fields they name, keeping what the user typed.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from govshare.catalog.enums import ShareType
from govshare.catalog.models import CatalogEntry
from govshare.core.errors import Conflict, GovshareError, ValidationFailed, choice_label
from govshare.core.permissions import Action, get_for, require, restrict
from govshare.core.roles import Capability
from govshare.sharing import actions, letters
from govshare.sharing.actions._common import provider_profile
from govshare.sharing.actions.applications import FIRST_REVIEW, PROVIDER_ANSWER
from govshare.sharing.forms import ApplicationForm, SubscribeForm
from govshare.sharing.models import Application, Grant
from govshare.sharing.permissions import CONSUME, get_acting
from govshare.sharing.web.common import (
    APP_BADGE,
    Clocks,
    after,
    decorate_grants,
    entry_items,
    form_status,
    own_department,
    paginate,
    place_errors,
    query_without_page,
    sharing_view,
    system_choices,
)

APP_FILTERS = {"open": Application.OPEN_STATUSES, "closed": None}


def _entry(user: Any, pk: int) -> CatalogEntry:
    entry = get_for(user, Action.VIEW, CatalogEntry.objects.select_related("current_version", "provider"), pk=pk)
    if entry.status != CatalogEntry.Status.PUBLISHED or entry.current_version is None:
        raise Conflict("not_published", gettext_lazy("%(code)s is not published; only published entries are "
                                                     "shared."), code=entry.code)
    return entry


# ------------------------------------------------------------------ lists


@sharing_view
@require_safe
def my_applications(request: HttpRequest) -> HttpResponse:
    """我的申请: the department's applications, open ones with their clock."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    qs = Application.objects.mine(user).select_related("entry", "entry_version", "provider", "deadline",
                                                       "applicant")
    show = request.GET.get("show", "")
    if show == "open":
        qs = qs.open()
    elif show == "closed":
        qs = qs.closed()
    page = paginate(request, qs.order_by("-created_at", "-pk"))
    rows = Clocks().decorate(list(page.object_list))
    for app in rows:
        app.badge = APP_BADGE.get(app.status, "")
    return render(request, "sharing/my_applications.html", {
        "page": page, "rows": rows, "show": show, "query": query_without_page(request),
    })


@sharing_view
@require_safe
def my_grants(request: HttpRequest) -> HttpResponse:
    """我的授权: the grants the department holds, with state and expiry."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    qs = Grant.objects.held_by(user).select_related("entry__current_version", "provider", "system")
    page = paginate(request, qs.order_by("-granted_at", "-pk"))
    rows = decorate_grants(list(page.object_list))
    return render(request, "sharing/my_grants.html", {"page": page, "rows": rows,
                                                       "query": query_without_page(request)})


# ------------------------------------------------------------------ SHR-1 subscribe


@sharing_view
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, entry_pk: int) -> HttpResponse:
    """无条件共享: the grant is given at once."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    own_department(user)
    entry = _entry(user, entry_pk)
    version = entry.current_version
    assert version is not None
    if version.share_type == ShareType.CONDITIONAL:
        return redirect("sharing:apply", entry.pk)
    if version.share_type == ShareType.NONE:
        return redirect(f"{reverse('sharing:case_new')}?entry={entry.pk}")
    form = SubscribeForm(request.POST if request.method == "POST" else None,
                         purposes=provider_profile(entry).list("share_purposes"), items=entry_items(entry),
                         methods=version.share_methods, systems=system_choices(user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            grant = actions.do_subscribe_entry(user, entry, purpose=data["purpose"],
                                               purpose_detail=data["purpose_detail"], items=list(data["items"]),
                                               channel=data["channel"], system=data["system"] or None,
                                               period_end=data["period_end"])
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("Granted at once: grant %(grant)s.") % {"grant": grant.number},
                         "sharing:grant_detail", grant.pk)
    return render(request, "sharing/subscribe.html", {"entry": entry, "version": version, "form": form},
                  status=form_status(form))


# ------------------------------------------------------------------ SHR-2 apply / resubmit


def _letter(request: HttpRequest, form: ApplicationForm) -> tuple[str, bytes] | None:
    """The uploaded letter as (name, bytes); a file over the limit is refused before it is read."""
    upload = form.cleaned_data.get("letter")
    if upload is None:
        return None
    limit = letters.max_bytes()
    if upload.size is not None and upload.size > limit:
        raise ValidationFailed("letter_too_large", gettext_lazy("The letter is %(size)s bytes; at most %(max)s bytes "
                                                                "are accepted."), field="letter", size=upload.size,
                               max=limit)
    return upload.name or "letter", upload.read(limit + 1)


def _application_form(request: HttpRequest, entry: CatalogEntry, *, letter_required: bool,
                      initial: dict[str, Any] | None = None) -> ApplicationForm:
    user: Any = request.user
    version = entry.current_version
    assert version is not None
    posted = request.method == "POST"
    return ApplicationForm(request.POST if posted else None, request.FILES if posted else None,
                           initial=initial, purposes=provider_profile(entry).list("share_purposes"),
                           items=entry_items(entry), methods=version.share_methods, systems=system_choices(user),
                           letter_required=letter_required)


def _form_page(request: HttpRequest, form: ApplicationForm, entry: CatalogEntry, *,
               app: Application | None = None, open_app: Application | None = None) -> HttpResponse:
    return render(request, "sharing/apply.html", {
        "form": form, "entry": entry, "version": entry.current_version, "app": app, "open_app": open_app,
        "letter_again": bool(form.errors) and bool(request.FILES.get("letter")),
        "first_review": provider_profile(entry).deadline(FIRST_REVIEW).describe(),
        "provider_answer": provider_profile(entry).deadline(PROVIDER_ANSWER).describe(),
    }, status=form_status(form))


@sharing_view
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest, entry_pk: int) -> HttpResponse:
    """有条件共享: the application form (errors per field; a failed form keeps the input)."""
    user: Any = request.user
    require(user, Capability.APPLY_SHARE)
    own_department(user)
    entry = _entry(user, entry_pk)
    version = entry.current_version
    assert version is not None
    if version.share_type == ShareType.UNCONDITIONAL:
        return redirect("sharing:subscribe", entry.pk)
    if version.share_type == ShareType.NONE:
        return redirect(f"{reverse('sharing:case_new')}?entry={entry.pk}")
    methods = list(version.share_methods or [])
    form = _application_form(request, entry, letter_required=True, initial={
        "contact_name": user.real_name, "contact_phone": user.phone,
        "channel": methods[0] if len(methods) == 1 else "",
    })
    if request.method == "POST" and form.is_valid():
        try:
            app = actions.do_apply(user, entry, **form.data_for_action(_letter(request, form)))
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("Application %(number)s is filed; the centre reviews it first.")
                         % {"number": app.number}, "sharing:application_detail", app.pk)
    open_app = restrict(Application, user, CONSUME).filter(entry=entry, status__in=Application.OPEN_STATUSES).first()
    return _form_page(request, form, entry, open_app=open_app)


@sharing_view
@require_http_methods(["GET", "POST"])
def resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    """Complete a returned application; the first-review clock starts again."""
    user: Any = request.user
    app = get_acting(user, CONSUME, Application.objects.select_related("entry__current_version", "entry__provider",
                                                                    "system"), pk=pk)
    if app.status != Application.Status.RETURNED:
        raise Conflict("not_returned", gettext_lazy("Application %(number)s is %(status)s; only a returned "
                                                    "application is completed and resubmitted."),
                       number=app.number, status=choice_label(app))
    entry = app.entry
    initial = {"items": app.items, "purpose": app.purpose, "purpose_detail": app.purpose_detail,
               "system": str(app.system_id or ""), "period_start": max(app.period_start, timezone.localdate()),
               "period_end": app.period_end, "channel": app.channel, "contact_name": app.contact_name,
               "contact_phone": app.contact_phone}
    form = _application_form(request, entry, letter_required=False, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_resubmit(user, app, **form.data_for_action(_letter(request, form)))
        except GovshareError as exc:
            place_errors(form, exc)
        else:
            return after(request, _("Application %(number)s is resubmitted; the centre reviews it again.")
                         % {"number": app.number}, "sharing:application_detail", app.pk)
    return _form_page(request, form, entry, app=app)
