"""The daily digest (see :mod:`govshare.sharing.digest`, which composes it): a department's setting (one
row per department) and the daily send, which claims the day on the setting before sending; when one
language's e-mail fails, the day is given back with the languages already delivered, and the next run
sends only the others."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import NotFound
from govshare.core.models import Department
from govshare.core.permissions import require
from govshare.core.roles import Capability
from govshare.sharing.digest import compose_for_readers, digest_hour, due_settings, since
from govshare.sharing.models import DigestSetting
from govshare.sharing.permissions import may_manage_digest

log = logging.getLogger("govshare.sharing.digest")


@transaction.atomic
def do_set_digest(actor: Any, department: Department, *, enabled: bool) -> DigestSetting:
    """Switch the department's digest on or off.  The permission is checked before anything is written:
    a department administrator manages their own department's digest, the centre administrator any."""
    require(actor, Capability.MANAGE_DIGEST)
    if not may_manage_digest(actor, department):
        audit.record_now(AuditCode.PERMISSION_DENIED, actor=actor, obj=department, outcome="denied",
                         detail={"action": "change", "object": "digestsetting"})
        raise NotFound("digestsetting")  # as for an object one may not see: the same 404 as a missing one
    setting, _created = DigestSetting.objects.select_for_update().get_or_create(department=department)
    if setting.enabled != enabled:
        setting.enabled, setting.updated_by, setting.updated_at = enabled, actor, timezone.now()
        setting.save()
        audit.record(AuditCode.DIGEST_SETTING_CHANGED, actor=actor, obj=setting, department=department,
                     changes={"enabled": [not enabled, enabled]})
    return setting


def send_daily_digests(now: dt.datetime | None = None) -> int:
    """Send today's digest to every department that switched it on (once a day, from DIGEST_HOUR on);
    returns the number of e-mails sent."""
    if not getattr(settings, "EMAIL_HOST", ""):
        return 0  # the digest is an e-mail; without SMTP the inbox is the only channel
    now = now or timezone.now()
    local = timezone.localtime(now)
    if local.hour < digest_hour():
        return 0
    today = local.date()
    sent = 0
    for setting in due_settings(today):
        previous = setting.last_sent_on
        start = since(setting, now)
        claim = DigestSetting.objects.filter(pk=setting.pk).filter(Q(last_sent_on__isnull=True) |
                                                                    Q(last_sent_on__lt=today))
        if not claim.update(last_sent_on=today):
            continue  # another worker has it
        day = today.isoformat()
        done = set((setting.delivered or {}).get(day, []))  # languages delivered by an earlier, failed run
        digests = [d for d in compose_for_readers(setting.department, now, start)  # one per language
                   if d.language not in done]
        failed = False
        for digest in digests:
            try:
                send_mail(digest.subject, digest.body, None, digest.recipients)
            except Exception:  # noqa: BLE001 — this language is tried again on the next run
                log.exception("could not send the %s daily digest of %s", digest.language, setting.department.code)
                failed = True
                continue
            done.add(digest.language)
            sent += 1
        if failed:  # give the day back, remembering which languages went out (they are not sent twice)
            DigestSetting.objects.filter(pk=setting.pk, last_sent_on=today).update(
                last_sent_on=previous, delivered={day: sorted(done)})
        elif setting.delivered:
            DigestSetting.objects.filter(pk=setting.pk).update(delivered={})
    return sent
