"""The notification inbox API, mounted at ``/api/v1/me/notifications``.

Notifications are written by :func:`govshare.core.notify.notify` inside the actions that cause
them; here a user lists their own (unread first) and marks them read.  A notification is personal:
nobody else sees it, not even an administrator (the rule below), and another user's notification
answers 404 like a missing one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from govshare.core.actions.notifications import do_mark_all_notifications_read, do_mark_notification_read
from govshare.core.models import Notification
from govshare.core.permissions import Action, get_for, restrict
from govshare.core.validators import MAX_DB_ID

router = Router(tags=["notifications"])


# ------------------------------------------------------------------ schemas

class NotificationOut(Schema):
    id: int
    kind: str
    subject: str
    body: str
    url: str
    object_type: str
    object_id: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class InboxQuery(Schema):
    unread: bool = Field(False, description="only unread notifications")
    page: int = Field(1, ge=1, le=10_000)
    per_page: int = Field(20, ge=1, le=100)


class InboxOut(Schema):
    total: int
    unread: int
    page: int
    per_page: int
    items: list[NotificationOut]


class MarkedOut(Schema):
    marked: int


# ------------------------------------------------------------------ endpoints

def _mine(request: HttpRequest) -> QuerySet[Notification]:
    return restrict(Notification, request.user, Action.VIEW)


@router.get("", response=InboxOut, summary="My notifications: unread first, then newest first")
def inbox(request: HttpRequest, query: Query[InboxQuery]) -> dict[str, Any]:
    mine = _mine(request)
    unread = mine.filter(read_at__isnull=True).count()
    qs = mine.filter(read_at__isnull=True) if query.unread else mine
    total = unread if query.unread else qs.count()
    ordered = qs.annotate(_read=Case(When(read_at__isnull=True, then=Value(0)), default=Value(1),
                                     output_field=IntegerField())).order_by("_read", "-created_at", "-id")
    start = (query.page - 1) * query.per_page
    items = list(ordered[start:start + query.per_page]) if start < total else []
    return {"total": total, "unread": unread, "page": query.page, "per_page": query.per_page, "items": items}


@router.post("/read-all", response=MarkedOut, summary="Mark all my notifications read")
def read_all(request: HttpRequest) -> dict[str, int]:
    return {"marked": do_mark_all_notifications_read(request.user)}


@router.post("/{notification_id}/read", response=NotificationOut, summary="Mark one notification read")
def read_one(request: HttpRequest, notification_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> Notification:
    note = get_for(request.user, Action.VIEW, Notification, pk=notification_id)
    return do_mark_notification_read(request.user, note)
