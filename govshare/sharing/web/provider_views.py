"""The provider's pages (SHR-2, SHR-4): 待答复 — applications waiting for our answer, soonest
deadline first, overdue ones flagged — the grants we have given, and one grant (revocable at once
by the provider or the centre)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from govshare.core.errors import GovshareError
from govshare.core.permissions import Action, can, get_for, require, restrict
from govshare.core.roles import Capability, Role
from govshare.sharing import actions
from govshare.sharing.forms import ReasonForm
from govshare.sharing.models import Application, ErrorReport, Grant
from govshare.sharing.panels import grant_panels
from govshare.sharing.permissions import ANSWER, CONSUME
from govshare.sharing.web.common import (
    Clocks,
    after,
    decorate_grants,
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
def to_answer(request: HttpRequest) -> HttpResponse:
    """待答复: the applications waiting for our answer, soonest deadline first."""
    user: Any = request.user
    require(user, Capability.ANSWER_SHARE)
    rows: list[Any] = list(Application.objects.to_answer_by(user)
                           .select_related("entry", "entry_version", "consumer", "deadline", "system")[:500])
    Clocks().decorate(rows)
    return render(request, "sharing/to_answer.html", {
        "rows": rows, "overdue_count": sum(1 for r in rows if r.clock and r.clock.overdue),
    })


@sharing_view
@require_safe
def grants_given(request: HttpRequest) -> HttpResponse:
    """The grants on our department's entries (the centre sees all of them)."""
    user: Any = request.user
    require(user, Capability.ANSWER_SHARE)
    qs = Grant.objects.permitted(user, ANSWER).select_related("entry__current_version", "consumer", "system")
    may_see_all = user.has_role(Role.CENTRE_ADMIN)  # the sharing authority revokes any grant
    see_all = may_see_all and request.GET.get("all") == "1"
    if not see_all:
        qs = qs.filter(provider_id=own_department(user).pk)
    state = request.GET.get("state", "")
    if state == "revoked":
        qs = qs.revoked()
    elif state == "active":
        qs = qs.usable(timezone.localdate())
    page = paginate(request, qs.order_by("-granted_at", "-pk"))
    return render(request, "sharing/grants_given.html", {
        "page": page, "rows": decorate_grants(list(page.object_list)), "state": state,
        "may_see_all": may_see_all, "see_all": see_all,
        "query": query_without_page(request),
    })


def _grant_page(request: HttpRequest, grant: Grant, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    grant = Grant.objects.select_related("entry__current_version", "entry__provider", "provider", "consumer",
                                         "system", "application", "case", "granted_by", "revoked_by").get(pk=grant.pk)
    decorate_grants([grant])
    may_revoke = grant.revoked_at is None and can(user, ANSWER, grant)
    may_report = grant.revoked_at is None and can(user, CONSUME, grant)
    reports = list(restrict(ErrorReport, user, Action.VIEW).filter(grant=grant).order_by("-reported_at"))
    context: dict[str, Any] = {
        "grant": grant, "may_revoke": may_revoke, "may_report": may_report, "reports": reports,
        "item_rows": [(name, (grant.masking or {}).get(name, "")) for name in grant.items],
        "revoke_form": extra.pop("revoke_form", None) or ReasonForm(label=_("reason for revoking"), required=True),
        "action_errors": extra.pop("action_errors", []),
        "panels": grant_panels(request, grant),
    }
    context.update(extra)
    return render(request, "sharing/grant_detail.html", context, status=status)


@sharing_view
@require_safe
def grant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _grant_page(request, get_for(request.user, Action.VIEW, Grant, pk=pk))


@sharing_view
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke with immediate effect (a reason is required)."""
    grant = get_for(request.user, Action.VIEW, Grant, pk=pk)
    form = ReasonForm(request.POST, label=_("reason for revoking"), required=True)
    if form.is_valid():
        try:
            actions.do_revoke_grant(request.user, grant, reason=form.cleaned_data["reason"])
        except GovshareError as exc:
            if not names_a_field(form, exc):
                if exc.status == 404:
                    raise
                return _grant_page(request, grant, status=exc.status, action_errors=problems(exc))
            place_errors(form, exc)
            return _grant_page(request, grant, status=exc.status, revoke_form=form)
        return after(request, _("Grant %(grant)s is revoked with immediate effect.") % {"grant": grant.number},
                     "sharing:grant_detail", grant.pk)
    return _grant_page(request, grant, status=400, revoke_form=form)
