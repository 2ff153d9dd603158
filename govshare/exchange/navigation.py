"""Menu items of exchange (see :mod:`govshare.core.navigation`)."""

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy

from govshare.catalog.entry_actions import register_entry_action
from govshare.core.navigation import register, register_group
from govshare.core.roles import Role

GROUP = "exchange"
STAFF: set[str] = {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.AUDITOR}

register_group(GROUP, gettext_lazy("Exchange"), 30, home="exchange:home")
register("exchange:home", gettext_lazy("Front-end databases"), STAFF, 0, GROUP)
register("exchange:bindings", gettext_lazy("Table bindings"), STAFF, 10, GROUP)
register("exchange:uploads", gettext_lazy("Spreadsheet uploads"), STAFF, 15, GROUP)
register("exchange:files", gettext_lazy("Shared files"), STAFF, 16, GROUP)
register("exchange:base_libraries", gettext_lazy("Base libraries"), STAFF, 20, GROUP)
register("exchange:cross_checks", gettext_lazy("Cross-source checks"), STAFF, 30, GROUP)


def _quality_link(request: Any, entry: Any) -> list[tuple[str, str]]:
    """The entry page links to its data quality (EXC-7) for those who may see it, once it is bound."""
    from govshare.exchange.models import TableBinding
    from govshare.exchange.quality import may_see

    if not TableBinding.objects.filter(entry_id=entry.pk).exists() or not may_see(request.user, entry):
        return []
    return [(str(gettext_lazy("Data quality")), reverse("exchange:quality", args=[entry.pk]))]


register_entry_action(_quality_link)
