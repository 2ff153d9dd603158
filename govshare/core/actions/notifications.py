"""Actions on a user's own notification inbox."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from govshare.core.models import Notification
from govshare.core.permissions import Action, get_for, restrict


@transaction.atomic
def do_mark_notification_read(actor: Any, note: Notification) -> Notification:
    """Mark one of the actor's notifications read (idempotent).  Not audited: reading one's own
    inbox changes nothing of the platform's business."""
    note = get_for(actor, Action.CHANGE, Notification.objects.select_for_update(), pk=note.pk)
    if note.read_at is None:
        note.read_at = timezone.now()
        note.save(update_fields=["read_at"])
    return note


@transaction.atomic
def do_mark_all_notifications_read(actor: Any) -> int:
    return restrict(Notification, actor, Action.CHANGE).filter(read_at__isnull=True).update(read_at=timezone.now())
