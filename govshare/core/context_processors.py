"""Navigation per role, grouped by area (issue 2 §9, issue 8 "Screens")."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from govshare.core.navigation import menu_groups_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    groups = menu_groups_for(user, getattr(request, "path", ""))
    return {"nav_groups": groups, "nav_items": [item for group in groups for item in group["items"]]}
