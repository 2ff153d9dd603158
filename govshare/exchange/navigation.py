"""Menu items of exchange (see :mod:`govshare.core.navigation`)."""

from django.utils.translation import gettext_lazy

from govshare.core.navigation import register, register_group
from govshare.core.roles import Role

GROUP = "exchange"
STAFF: set[str] = {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.AUDITOR}

register_group(GROUP, gettext_lazy("Exchange"), 30, home="exchange:home")
register("exchange:home", gettext_lazy("Front-end databases"), STAFF, 0, GROUP)
register("exchange:bindings", gettext_lazy("Table bindings"), STAFF, 10, GROUP)
