"""The home page of a menu area that has no page of its own (管理 ``/manage/``, 账户 ``/account/``, and
any group an app registers without a home): the area's pages this user may open, as tiles.
Core knows no app: the tiles come from the navigation registry (:mod:`govshare.core.navigation`)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from govshare.core.navigation import area_for
from govshare.core.web.org_views import govshare_view


@govshare_view
@require_safe
def area(request: HttpRequest, key: str) -> HttpResponse:
    user: Any = request.user
    group = area_for(user, key)
    if group is None:  # unknown, or nothing in it for this user: the same 404
        raise Http404
    return render(request, "core/area.html", {"area": group})
