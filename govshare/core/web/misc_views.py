"""Web pages for personal API tokens, background jobs and policy profiles (issue 2 §4, §6, §8)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from govshare.core import actions
from govshare.core.actions.auth import MAX_TOKEN_DAYS
from govshare.core.errors import GovshareError, NotFound
from govshare.core.models import ApiToken, Job, Jurisdiction
from govshare.core.permissions import Action, get_for, has_capability, require, restrict
from govshare.core.policy import DEADLINE_KEYS, LIST_KEYS, RETENTION_KEYS, available_profiles, get_profile
from govshare.core.roles import Capability
from govshare.core.web.org_views import apply_error, govshare_view

# ------------------------------------------------------------------ API tokens


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100,
                           help_text=gettext_lazy("What the token is for, e.g. the system that uses it."))
    scope = forms.ChoiceField(label=gettext_lazy("Scope"), choices=ApiToken.Scope.choices,
                              initial=ApiToken.Scope.READ)
    days = forms.IntegerField(label=gettext_lazy("Valid for (days)"), initial=90, min_value=1,
                              max_value=MAX_TOKEN_DAYS)


def _token_page(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    tokens = restrict(ApiToken, request.user, Action.VIEW).order_by("-created_at")
    return render(request, "core/token_list.html", {"form": form, "tokens": tokens}, status=status)


@never_cache
@govshare_view
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """My tokens and the form to create one.  The secret is shown once, on the result page."""
    if request.method != "POST":
        return _token_page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            new = actions.do_create_token(request.user, name=data["name"], scope=data["scope"], days=data["days"])
        except GovshareError as exc:
            apply_error(form, exc)
        else:
            # rendered, not redirected: the secret exists only in this response (never cached)
            return render(request, "core/token_created.html", {"token": new.token, "secret": new.secret},
                          status=201)
    return _token_page(request, form, status=400)


@govshare_view
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_for(request.user, Action.CHANGE, ApiToken, pk=pk)
    actions.do_revoke_token(request.user, token)
    messages.success(request, _("The token %(name)s is revoked: it no longer works.") % {"name": token.name})
    return redirect("core:tokens")


# ------------------------------------------------------------------ background jobs


@govshare_view
def job_list(request: HttpRequest) -> HttpResponse:
    """My jobs; a centre administrator sees every job (the permission rule decides)."""
    user: Any = request.user
    qs = restrict(Job, user, Action.VIEW).select_related("created_by", "department")
    status = request.GET.get("status", "")
    if status in Job.Status.values:
        qs = qs.filter(status=status)
    return render(request, "core/job_list.html", {
        "jobs": qs[:200], "status": status, "statuses": Job.Status.choices,
        "sees_all": has_capability(user, Capability.VIEW_JOBS_ALL),
    })


def _load_job(request: HttpRequest, pk: Any) -> Job:
    return get_for(request.user, Action.VIEW, Job.objects.select_related("created_by", "department"), pk=pk)


@govshare_view
def job_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return render(request, "core/job_detail.html", {"job": _load_job(request, pk)})


@govshare_view
@require_POST
def job_cancel(request: HttpRequest, pk: Any) -> HttpResponse:
    job = get_for(request.user, Action.CHANGE, Job, pk=pk)
    actions.do_cancel_job(request.user, job)
    messages.success(request, _("The job is cancelled."))
    return redirect("core:job_detail", pk=job.pk)


@never_cache
@govshare_view
def job_progress(request: HttpRequest, pk: Any) -> HttpResponse:
    """The fragment htmx polls every 2 s while the job runs; once finished it renders without the
    polling trigger, so polling stops."""
    return render(request, "core/job_progress.html", {"job": _load_job(request, pk)})


# ------------------------------------------------------------------ policy profiles

UNIT_LABELS = {
    "working_days": gettext_lazy("working days"),
    "calendar_days": gettext_lazy("calendar days"),
    "months": gettext_lazy("months"),
}


@govshare_view
def policy_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.VIEW_POLICY)
    used_by: dict[str, list[Jurisdiction]] = {}
    for j in restrict(Jurisdiction, user, Action.VIEW).order_by("code"):
        used_by.setdefault(j.policy_profile, []).append(j)
    profiles: list[dict[str, Any]] = []
    for name in available_profiles():
        try:
            profile = get_profile(name)
        except GovshareError as exc:  # a broken file must not hide the others
            profiles.append({"name": name, "error": exc.render(), "jurisdictions": used_by.get(name, [])})
            continue
        profiles.append({"name": name, "profile": profile, "jurisdictions": used_by.get(name, [])})
    return render(request, "core/policy_list.html", {"profiles": profiles})


@govshare_view
def policy_detail(request: HttpRequest, name: str) -> HttpResponse:
    """Every deadline, retention period, report date and list of a profile with its source article."""
    user: Any = request.user
    require(user, Capability.VIEW_POLICY)
    if name not in available_profiles():
        raise NotFound("policy profile")
    profile = get_profile(name)
    deadlines = [{"key": k, "period": p, "unit": UNIT_LABELS.get(p.unit, p.unit), "meaning": DEADLINE_KEYS.get(k, "")}
                 for k, p in profile.deadlines.items()]
    retention = [{"key": k, "period": p, "unit": UNIT_LABELS.get(p.unit, p.unit), "meaning": RETENTION_KEYS.get(k, "")}
                 for k, p in profile.retention.items()]
    lists = [{"key": k, "values": v, "source": profile.list_sources.get(k, ""), "meaning": LIST_KEYS.get(k, "")}
             for k, v in profile.lists.items()]
    jurisdictions = restrict(Jurisdiction, user, Action.VIEW).filter(policy_profile=name).order_by("code")
    return render(request, "core/policy_detail.html", {
        "profile": profile, "deadlines": deadlines, "retention": retention, "lists": lists,
        "reports": list(profile.reports.values()), "reminders": sorted(profile.reminders.items()),
        "jurisdictions": jurisdictions,
    })
