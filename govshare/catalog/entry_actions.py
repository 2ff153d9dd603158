"""Links that later apps add to a catalog entry's page (an extension point: the catalog imports
none of them).  Sharing, for example, offers "subscribe" or "apply for sharing" there.

A registered function takes the request and the entry and returns ``(label, url)`` pairs for
this user; the entry page shows them as buttons.  It must not raise for a user who may see the
entry: it returns nothing when it has nothing to offer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

EntryAction = Callable[[HttpRequest, Any], list[tuple[str, str]]]

_ACTIONS: list[EntryAction] = []


def register_entry_action(fn: EntryAction) -> EntryAction:
    if fn not in _ACTIONS:
        _ACTIONS.append(fn)
    return fn


def entry_actions(request: HttpRequest, entry: Any) -> list[dict[str, str]]:
    """Every registered link for this user and entry, in registration order."""
    links: list[dict[str, str]] = []
    for fn in _ACTIONS:
        links.extend({"label": str(label), "url": url} for label, url in fn(request, entry))
    return links
