"""The grant page's panel for the 库表 channel (issue 11 items 1 and 10): where the grant is delivered — each front-end
table with its state, the last receipt check, why it stopped — and, for the consumer's staff, the form that binds
the grant to a table of their own front-end database and the buttons that deliver, check, pause and resume."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from govshare.catalog.enums import ShareMethod
from govshare.core.permissions import can, has_capability, restrict
from govshare.core.roles import Capability
from govshare.exchange.models import DataSource, DeliveryBinding
from govshare.exchange.permissions import CHANGE, USE, VIEW
from govshare.sharing.models import ConsumingSystem
from govshare.sharing.panels import register_grant_panel

#: the session key of a delivery form refused for its input (its values, shown again once)
FORM_KEY = "exchange.delivery_form.%s"


@register_grant_panel
def delivery_panel(request: Any, grant: Any) -> str:
    if grant.channel != ShareMethod.TABLE:
        return ""
    user = request.user
    bindings = list(restrict(DeliveryBinding.objects.filter(grant=grant).select_related("target", "system"), user,
                             VIEW).order_by("-created_at"))
    for binding in bindings:
        binding.can_change = can(user, CHANGE, binding)  # type: ignore[attr-defined]
        binding.latest = binding.runs.order_by("-created_at", "-pk").first()  # type: ignore[attr-defined]
    consumer = getattr(user, "department_id", None) == grant.consumer_id and has_capability(
        user, Capability.RECEIVE_DELIVERIES)
    if not bindings and not consumer:
        return ""
    targets = systems = []
    if consumer and grant.state() == "active":
        targets = list(restrict(DataSource.objects.filter(department_id=grant.consumer_id, receives_deliveries=True,
                                                          is_active=True), user, USE))
        systems = list(ConsumingSystem.objects.filter(department_id=grant.consumer_id, is_active=True))
        if grant.system_id is not None:
            systems = [s for s in systems if s.pk == grant.system_id]
    session = getattr(request, "session", None)
    popped = session.pop(FORM_KEY % grant.pk, None) if session is not None else None
    sent: dict[str, Any] = popped if isinstance(popped, dict) else {}
    given: dict[str, Any] = sent["columns"] if isinstance(sent.get("columns"), dict) else {}
    items = [(name, str(given.get(name, name))) for name in grant.items or []]
    return render_to_string("exchange/grant_delivery_panel.html", {
        "grant": grant, "bindings": bindings, "consumer": consumer, "targets": targets, "systems": systems,
        "items": items, "sent": sent, "in_force": grant.state() == "active"}, request=request)


@register_grant_panel
def files_panel(request: Any, grant: Any) -> str:
    """File-channel grants on entries that share files (EXC-2): every shared file, its latest version to download
    (with the grant's purpose), its earlier versions."""
    from urllib.parse import urlencode

    from govshare.exchange.entryfiles import FILE_KINDS
    from govshare.exchange.models import EntryFile
    from govshare.sharing.permissions import CONSUME

    version = grant.entry.current_version
    if grant.channel != ShareMethod.FILE or version is None or version.format_class not in FILE_KINDS:
        return ""
    user = request.user
    consumer = can(user, CONSUME, grant)
    if not consumer and getattr(user, "department_id", None) != grant.provider_id:
        return ""
    shared = list(EntryFile.objects.filter(entry=grant.entry).prefetch_related("versions"))
    query = "?" + urlencode({"purpose": grant.purpose}) if consumer else ""
    return render_to_string("exchange/grant_files_panel.html", {
        "grant": grant, "files": shared, "query": query, "usable": grant.state() == "active"}, request=request)
