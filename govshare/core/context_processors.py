"""Navigation per role (issue 2 §9)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from govshare.core.navigation import menu_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"nav_items": menu_for(user)}
