"""The grant page's delivery actions (issue 11 item 1): bind the grant to a table of the consumer's front-end
database, deliver now or check, pause and resume.  Each answers by going back to the grant's page with what
happened (or every problem, each naming its field)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from govshare.catalog.web.common import catalog_view
from govshare.core.errors import GovshareError, ManyProblems
from govshare.core.permissions import get_for
from govshare.core.validators import number
from govshare.exchange.actions.deliveries import do_bind_delivery, do_set_delivery_active, do_start_delivery
from govshare.exchange.models import DataSource, DeliveryBinding
from govshare.exchange.panels import FORM_KEY
from govshare.exchange.permissions import VIEW
from govshare.sharing.models import ConsumingSystem, Grant
from govshare.sharing.permissions import CONSUME


def _problems(request: HttpRequest, exc: GovshareError) -> None:
    for problem in exc.problems if isinstance(exc, ManyProblems) else [exc]:
        messages.error(request, problem.render())


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_POST
def delivery_bind(request: HttpRequest, grant_pk: int) -> HttpResponse:
    grant = get_for(request.user, CONSUME, Grant.objects.all(), pk=grant_pk)
    columns = {key[len("column:"):]: str(value) for key, value in request.POST.items() if key.startswith("column:")}
    system = ConsumingSystem.objects.filter(pk=number(request.POST.get("system"))).first()
    target = DataSource.objects.filter(pk=number(request.POST.get("target"))).first()
    if system is None or target is None:
        messages.error(request, _("Choose a front-end database and a system."))
        return redirect("sharing:grant_detail", grant.pk)
    try:
        binding = do_bind_delivery(request.user, grant, system=system, target=target,
                                   table=request.POST.get("table", ""), schema=request.POST.get("schema", ""),
                                   columns=columns)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        _problems(request, exc)
        # the form comes back as it was sent, open (it lost every value: QA walk-through, 21st session)
        request.session[FORM_KEY % grant.pk] = {"target": target.pk, "system": system.pk,
                                                "table": request.POST.get("table", "")[:200],
                                                "schema": request.POST.get("schema", "")[:200],
                                                "columns": {k: v[:200] for k, v in list(columns.items())[:500]}}
        return redirect(f"{reverse('sharing:grant_detail', args=[grant.pk])}#delivery-form")
    messages.success(request, _("The table %(table)s is being created and filled; its state is shown below.")
                     % {"table": binding.table_text()})
    return redirect("sharing:grant_detail", grant.pk)


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_POST
def delivery_run(request: HttpRequest, pk: int) -> HttpResponse:
    binding = get_for(request.user, VIEW, DeliveryBinding.objects.all(), pk=pk)
    kind = request.POST.get("kind", "deliver")
    try:
        do_start_delivery(request.user, binding, kind=kind)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        _problems(request, exc)
    else:
        messages.success(request, _("The check is queued: it delivers what is pending, then compares the table with "
                                    "the centre.") if kind == "check" else _("The delivery is queued."))
    return redirect("sharing:grant_detail", binding.grant_id)


@catalog_view  # login required; an uncaught GovshareError becomes its page (403, 404 …)
@require_POST
def delivery_active(request: HttpRequest, pk: int) -> HttpResponse:
    binding = get_for(request.user, VIEW, DeliveryBinding.objects.all(), pk=pk)
    active = request.POST.get("active") == "1"
    try:
        do_set_delivery_active(request.user, binding, active)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        _problems(request, exc)
    else:
        messages.success(request, _("The delivery runs again.") if active else
                         _("The delivery is paused: nothing more is written until it is resumed."))
    return redirect("sharing:grant_detail", binding.grant_id)
