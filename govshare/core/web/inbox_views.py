"""The in-app inbox: the user's notifications (:class:`govshare.core.models.Notification`).

Three tabs: *to do* (task notices whose task is not done yet), *unread* and *all*.  The header's
badge counts what still asks for attention — open tasks and unread notices that are not tasks —
so notices about work already done (an entry another reviewer decided, an application answered)
stop counting as soon as their task is done, while staying readable under *all*.  Each notice is
rendered in the reader's language (``Notification.message``).

Reads go through the permission chokepoint (the rule and the mark-read actions live with the inbox
API in :mod:`govshare.core.api_inbox`): a notification is seen and changed by its recipient only.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from govshare.core import access_log
from govshare.core.actions.notifications import do_mark_all_notifications_read, do_mark_notification_read
from govshare.core.audit_codes import AuditCode
from govshare.core.models import Notification
from govshare.core.notify import INBOX_TABS, inbox_counts, inbox_order, inbox_tab, pending
from govshare.core.permissions import Action, get_for, restrict
from govshare.core.web.org_views import govshare_view

PAGE_SIZE = 50
MAX_IDS = 500


def _mine(user: Any) -> QuerySet[Notification]:
    return restrict(Notification, user, Action.VIEW)


def unread_count(user: Any) -> int:
    """What still asks for attention (the header's badge): open tasks and unread plain notices."""
    return pending(_mine(user)).count()


def _tab(request: HttpRequest) -> str:
    tab = request.GET.get("show", "")
    if request.GET.get("unread") == "1":  # the older link
        tab = "unread"
    return tab if tab in INBOX_TABS else "all"


@govshare_view
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    tab = _tab(request)
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    page = Paginator(inbox_order(inbox_tab(_mine(user), tab)), PAGE_SIZE).get_page(number)
    numbers = inbox_counts(_mine(user))
    access_log.note(request, AuditCode.READ_INBOX, query={"show": tab, "page": number}, results=page.paginator.count)
    return render(request, "core/inbox.html", {
        "page": page, "tab": tab, "counts": numbers, "unread": numbers["unread"], "only_unread": tab == "unread",
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
    """The header's inbox link text with the count of what asks for attention (an htmx fragment)."""
    response = render(request, "core/inbox_count.html", {"unread": unread_count(request.user)})
    response["Cache-Control"] = "no-store"
    return response
