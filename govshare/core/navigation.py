"""The menu each role sees, grouped by area (目录 / 共享 / 管理 / 审计 / 账户 …).

An app registers its *group* (``register_group``: key, label, order and the url name of the area's
home page) and its *items* (``register``: url name, label, the roles that see it, order, group).
Core knows no app: catalog, sharing and the apps to come register themselves when they load
(``AppConfig.ready``).  An item is shown when the user holds one of its roles (``None``: everyone
logged in); a group is shown when at least one of its items is.  An item naming a group nobody
registered is shown under "More", so a forgotten ``register_group`` never hides a page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from govshare.core.roles import Role


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    roles: frozenset[str] | None  # None: every logged-in user
    order: int = 100
    group: str | None = None  # None: a top-level link (Home)


@dataclass(frozen=True)
class NavGroup:
    key: str
    label: str | Promise
    order: int = 100
    home: str | None = None  # url name of the area's home page; None: the generic area page


_ITEMS: list[NavItem] = []
_GROUPS: dict[str, NavGroup] = {}
OTHER = "other"


def register_group(key: str, label: str | Promise, order: int = 100, home: str | None = None) -> None:
    """Declare an area of the menu.  Registering a key again replaces it (reloads in tests)."""
    _GROUPS[key] = NavGroup(key, label, order, home)


def register(url_name: str, label: str | Promise, roles: set[str] | frozenset[str] | None = None,
             order: int = 100, group: str | None = None) -> None:
    if any(i.url_name == url_name and i.group == group for i in _ITEMS):
        return  # a module imported twice registers once
    _ITEMS.append(NavItem(url_name, label, frozenset(roles) if roles is not None else None, order, group))


def groups() -> dict[str, NavGroup]:
    return dict(_GROUPS)


GOV: set[str] = {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}
#: staff who change things (not the auditor, not the public)
WORKERS: set[str] = GOV - {Role.AUDITOR}

register_group("admin", _("Administration"), 60, home="core:manage")
register_group("audit", _("Audit"), 70, home="core:audit")
register_group("account", _("My account"), 90, home="core:account")
register_group(OTHER, _("More"), 95)

register("core:home", _("Home"), None, 0)
register("core:departments", _("Departments"), GOV, 10, "admin")
register("core:users", _("Users"), {Role.CENTRE_ADMIN, Role.DEPT_ADMIN}, 20, "admin")
register("core:specialists", _("Data specialists"), GOV, 30, "admin")
register("core:calendar", _("Working-day calendar"), GOV, 40, "admin")
register("core:policies", _("Policy profiles"), GOV, 50, "admin")
register("core:jobs", _("Background jobs"), WORKERS, 70, "admin")
register("core:audit", _("Audit log"), {Role.AUDITOR}, 60, "audit")
register("core:inbox", _("Inbox"), None, 10, "account")
register("core:tokens", _("API tokens"), None, 80, "account")
register("core:password_change", _("Change password"), None, 90, "account")


def _visible_items(user: Any) -> list[NavItem]:
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    held = user.role_set()
    return [i for i in _ITEMS if i.roles is None or held & i.roles]


def _url(name: str, *args: str) -> str | None:
    """The menu's addresses are fixed for a URL configuration and script prefix: reversed once per
    process, not on every page (~30 names per page)."""
    return _reversed(name, args, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)


@functools.lru_cache(maxsize=1024)
def _reversed(name: str, args: tuple[str, ...], prefix: str, urlconf: str) -> str | None:
    try:
        return reverse(name, args=args or None, urlconf=urlconf)
    except NoReverseMatch:
        return None


def menu_groups_for(user: Any, path: str = "") -> list[dict[str, Any]]:
    """The menu as groups: ``[{"key", "label", "url", "items": [{"url", "label", "name", "current"}], "open"}]``,
    in group order; the top-level links (Home) come first as a group with key ``""``.  ``current``
    marks the item of the page at ``path`` (or the closest one above it), ``open`` its group."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(_visible_items(user), key=lambda i: i.order):
        url = _url(item.url_name)
        if url is None:
            continue
        key = "" if item.group is None else (item.group if item.group in _GROUPS else OTHER)
        by_group.setdefault(key, []).append({"url": url, "label": item.label, "name": item.url_name})
    # the current page's item: the one whose address is the page's or the longest one above it
    current_url = max((i["url"] for items in by_group.values() for i in items if _is_current(path, i["url"])),
                      key=len, default=None)
    result = []
    ordered = sorted(by_group, key=lambda k: (-1, "") if k == "" else (_GROUPS[k].order, k))
    for key in ordered:
        items = by_group[key]
        for entry in items:
            entry["current"] = entry["url"] == current_url
        group = _GROUPS.get(key)
        home = None
        if group is not None:
            home = _url(group.home) if group.home else _url_area(key)
        is_open = any(i["current"] for i in items) or (bool(home) and path == home)
        result.append({"key": key, "label": group.label if group else "", "url": home, "items": items,
                       "open": is_open})
    return result


def _url_area(key: str) -> str | None:
    return _url("core:area", key)


def _is_current(path: str, url: str) -> bool:
    """The page is this item's, or lies under it (``/sharing/applications/5/`` under ``/sharing/applications/``)."""
    return bool(path) and (path == url or (url != "/" and path.startswith(url)))


def menu_for(user: Any) -> list[dict[str, Any]]:
    """The menu flat, in group order then item order (``[{"url", "label", "name"}]``)."""
    return [item for group in menu_groups_for(user) for item in group["items"]]


def area_for(user: Any, key: str) -> dict[str, Any] | None:
    """One group of the user's menu (an area's home page lists it), or None when the user sees none of it."""
    return next((g for g in menu_groups_for(user) if g["key"] == key and key), None)
