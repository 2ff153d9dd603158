"""Panels later apps add to the grant page (issue 11 item 10: how to get the data on the grant's channel).
A panel is a function ``(request, grant) -> str`` (safe HTML, "" when it has nothing to say), registered from
the app's ``AppConfig.ready()``; the grant page (:mod:`govshare.sharing.web.provider_views`) shows each in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GrantPanel = Callable[[Any, Any], str]
GRANT_PANELS: list[GrantPanel] = []


def register_grant_panel(panel: GrantPanel) -> GrantPanel:
    if panel not in GRANT_PANELS:
        GRANT_PANELS.append(panel)
    return panel


def grant_panels(request: Any, grant: Any) -> list[str]:
    return [html for html in (panel(request, grant) for panel in GRANT_PANELS) if html]
