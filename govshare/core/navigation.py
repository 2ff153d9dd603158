"""The menu each role sees.  An item is shown when the user holds one of its roles (or, for
``None``, to everyone logged in).  Later apps append their items with ``register``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from govshare.core.roles import Role


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    roles: frozenset[str] | None  # None: every logged-in user
    order: int = 100


_ITEMS: list[NavItem] = []


def register(url_name: str, label: str | Promise, roles: set[str] | None = None, order: int = 100) -> None:
    _ITEMS.append(NavItem(url_name, label, frozenset(roles) if roles is not None else None, order))


register("core:home", _("Home"), None, 0)
register("core:departments", _("Departments"),
         {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}, 10)
register("core:users", _("Users"), {Role.CENTRE_ADMIN, Role.DEPT_ADMIN}, 20)
register("core:specialists", _("Data specialists"),
         {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}, 30)
register("core:calendar", _("Working-day calendar"), None, 40)
register("core:policies", _("Policy profiles"),
         {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}, 50)
register("core:audit", _("Audit log"), {Role.AUDITOR}, 60)
register("core:jobs", _("Background jobs"), None, 70)
register("core:tokens", _("API tokens"), None, 80)
register("core:password_change", _("Change password"), None, 90)


def menu_for(user: Any) -> list[dict[str, Any]]:
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    held = user.role_set()
    items = []
    for item in sorted(_ITEMS, key=lambda i: i.order):
        if item.roles is not None and not (held & item.roles):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": item.label, "name": item.url_name})
    return items
