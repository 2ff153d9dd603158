"""Notifications: an in-app inbox row per recipient, e-mail after the commit (SHR-9 groundwork).

Call :func:`notify` from inside an action: the rows are part of the action's transaction, and the
e-mail is sent only when it commits.  Subjects and bodies are rendered in Chinese (the platform's
first language) with the English text after it, so one message serves both readers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone, translation

from govshare.core.models import Notification

log = logging.getLogger("govshare.notify")


def bilingual(message: Any, **params: Any) -> str:
    """``中文 / English`` for a lazy message with %-params."""
    with translation.override("zh-hans"):
        zh = str(message) % params if params else str(message)
    with translation.override("en"):
        en = str(message) % params if params else str(message)
    return zh if zh == en else f"{zh} / {en}"


def notify(recipients: Iterable[Any], kind: str, subject: str, body: str = "", *, url: str = "",
           obj: models.Model | None = None) -> list[Notification]:
    """Queue one notification per distinct active recipient; returns the rows written."""
    seen: set[int] = set()
    rows: list[Notification] = []
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        rows.append(Notification(
            recipient=user, kind=kind, subject=subject[:300], body=body, url=url,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
        ))
    created = Notification.objects.bulk_create(rows)
    ids = [n.pk for n in created if n.pk is not None]
    email_host: str = getattr(settings, "EMAIL_HOST", "")
    if ids and email_host:
        transaction.on_commit(lambda: send_emails(ids))
    return created


def send_emails(ids: list[int]) -> int:
    """Send the e-mail for each notification that has not been e-mailed; failures are logged."""
    sent = 0
    for note in Notification.objects.filter(pk__in=ids, emailed_at__isnull=True).select_related("recipient"):
        address = note.recipient.email
        if not address:
            continue
        try:
            send_mail(note.subject, f"{note.body}\n\n{note.url}".strip(), None, [address])
        except Exception:  # noqa: BLE001 — the inbox row stays; e-mail is best effort
            log.exception("could not e-mail notification %s", note.pk)
            continue
        Notification.objects.filter(pk=note.pk).update(emailed_at=timezone.now())
        sent += 1
    return sent
