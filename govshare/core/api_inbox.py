"""The notification inbox API, mounted at ``/api/v1/me/notifications``.

Notifications are written by :func:`govshare.core.notify.notify` inside the actions that cause
them; here a user lists their own (what asks for attention first) and marks them read.  Subject and
body come in the reader's language (the ``Accept-Language``/cookie of the request; ``message``
holds the stored meaning: msgid + params).  ``task`` notices ask the recipient to act and are
``resolved`` when the task is done; ``todo`` counts the open ones.  A notification is personal:
nobody else sees it, not even an administrator (the rule below), and another user's notification
answers 404 like a missing one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from govshare.core import access_log
from govshare.core.actions.notifications import do_mark_all_notifications_read, do_mark_notification_read
from govshare.core.api_helpers import personal
from govshare.core.audit_codes import AuditCode
from govshare.core.models import Notification
from govshare.core.notify import inbox_counts, inbox_order, inbox_tab
from govshare.core.permissions import Action, get_for, restrict
from govshare.core.validators import MAX_DB_ID

router = Router(tags=["notifications"])


# ------------------------------------------------------------------ schemas

class NotificationOut(Schema):
    id: int
    kind: str
    subject: str = Field(description="in the reader's language")
    body: str = Field(description="in the reader's language")
    message: dict[str, Any] = Field(description="what the notice means: {subject, body} as msgid + params")
    url: str
    object_type: str
    object_id: str
    created_at: dt.datetime
    read_at: dt.datetime | None
    task: bool = Field(description="the notice asks the recipient to act on the object")
    resolved_at: dt.datetime | None = Field(description="when the task was done (task notices only)")

    @staticmethod
    def resolve_subject(obj: Notification) -> str:
        return obj.subject_in()

    @staticmethod
    def resolve_body(obj: Notification) -> str:
        return obj.body_in()

    @staticmethod
    def resolve_task(obj: Notification) -> bool:
        return bool(obj.task)


class InboxQuery(Schema):
    unread: bool = Field(False, description="only unread notifications (not counting tasks already done)")
    todo: bool = Field(False, description="only task notices whose task is not done yet")
    page: int = Field(1, ge=1, le=10_000)
    per_page: int = Field(20, ge=1, le=100)


class InboxOut(Schema):
    total: int
    unread: int
    todo: int = Field(description="open task notices")
    pending: int = Field(description="what asks for attention: open tasks and unread plain notices")
    page: int
    per_page: int
    items: list[NotificationOut]


class MarkedOut(Schema):
    marked: int


# ------------------------------------------------------------------ endpoints

def _mine(request: HttpRequest) -> QuerySet[Notification]:
    return restrict(Notification, request.user, Action.VIEW)


@router.get("", response=InboxOut, summary="My notifications: what asks for attention first, then newest first")
def inbox(request: HttpRequest, query: Query[InboxQuery]) -> dict[str, Any]:
    mine = _mine(request)
    numbers = inbox_counts(mine)
    qs = inbox_tab(mine, "todo" if query.todo else "unread" if query.unread else "all")
    total = qs.count()
    start = (query.page - 1) * query.per_page
    items = list(inbox_order(qs)[start:start + query.per_page]) if start < total else []
    access_log.note(request, AuditCode.READ_INBOX, query={"todo": query.todo, "unread": query.unread,
                                                          "page": query.page}, results=total)
    return {"total": total, "unread": numbers["unread"], "todo": numbers["todo"], "pending": numbers["pending"],
            "page": query.page, "per_page": query.per_page, "items": items}


@router.post("/read-all", response=MarkedOut, summary="Mark all my notifications read")
@personal
def read_all(request: HttpRequest) -> dict[str, int]:
    return {"marked": do_mark_all_notifications_read(request.user)}


@router.post("/{notification_id}/read", response=NotificationOut, summary="Mark one notification read")
@personal
def read_one(request: HttpRequest, notification_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> Notification:
    note = get_for(request.user, Action.VIEW, Notification, pk=notification_id)
    return do_mark_notification_read(request.user, note)
