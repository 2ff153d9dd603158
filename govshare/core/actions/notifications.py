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


@transaction.atomic
def do_set_language(actor: Any, language: str) -> bool:
    """Remember the language the user chose with the switch: their e-mail is written in it.
    Not audited: a reading preference of one's own.  Returns whether it changed."""
    from django.conf import settings

    from govshare.core.errors import ValidationFailed
    from govshare.core.models import User

    if language not in dict(settings.LANGUAGES):
        from django.utils.translation import gettext_lazy as _

        raise ValidationFailed("invalid_choice", _("Unknown language %(value)s."), value=language[:20],
                               field="language")
    return bool(User.objects.filter(pk=actor.pk).exclude(language=language).update(language=language))
