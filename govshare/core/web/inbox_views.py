"""The in-app inbox: the user's notifications (:class:`govshare.core.models.Notification`), unread
first, with "mark read" (one or all) and the unread count shown in the page header.

Reads go through the permission chokepoint (the rule and the mark-read actions live with the inbox
API in :mod:`govshare.core.api_inbox`): a notification is seen and changed by its recipient only.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Case, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from govshare.core.actions.notifications import do_mark_all_notifications_read, do_mark_notification_read
from govshare.core.models import Notification
from govshare.core.permissions import Action, get_for, restrict
from govshare.core.web.org_views import govshare_view

PAGE_SIZE = 50
MAX_IDS = 500


def unread_count(user: Any) -> int:
    return restrict(Notification, user, Action.VIEW).filter(read_at__isnull=True).count()


@govshare_view
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    unread_first = Case(When(read_at__isnull=True, then=Value(0)), default=Value(1))
    qs = restrict(Notification, user, Action.VIEW).order_by(unread_first, "-created_at", "-pk")
    only_unread = request.GET.get("unread") == "1"
    if only_unread:
        qs = qs.filter(read_at__isnull=True)
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    page = Paginator(qs, PAGE_SIZE).get_page(number)
    return render(request, "core/inbox.html", {
        "page": page, "unread": unread_count(user), "only_unread": only_unread,
    })


@govshare_view
@require_POST
def inbox_read(request: HttpRequest) -> HttpResponse:
    """Mark read: ``id`` (one or several) or ``all=1``; then back to the inbox or to ``next``
    (a local path only: the link of the notification that was opened)."""
    user: Any = request.user
    if request.POST.get("all") == "1":
        do_mark_all_notifications_read(user)
    else:
        ids = [int(v) for v in request.POST.getlist("id") if v.isascii() and v.isdigit() and len(v) < 19]
        for pk in ids[:MAX_IDS]:
            do_mark_notification_read(user, get_for(user, Action.VIEW, Notification, pk=pk))
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect("core:inbox")


@govshare_view
@require_safe
def inbox_count(request: HttpRequest) -> HttpResponse:
    """The header's inbox link text with the unread count (an htmx fragment)."""
    response = render(request, "core/inbox_count.html", {"unread": unread_count(request.user)})
    response["Cache-Control"] = "no-store"
    return response
