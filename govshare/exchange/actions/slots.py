"""Watching the replication slots of log mode (issue 10 item 5: "the slot's lag watched and a clear alarm before
WAL piles up").

A slot keeps on the *department's* database server all log from the point the centre last confirmed: a
consumer that stops — a binding paused, the worker down, the centre unreachable — fills that server's disk.
Every minute (``exchange.slots``) each log-mode binding's slot is looked at
(:func:`govshare.exchange.engine.logical.slot_state`, a read of the source); what was seen is kept on the
binding (``slot_state``: log held, lag in bytes and seconds, PostgreSQL's ``wal_status``) and shown on its page.
The alarm (:func:`~govshare.exchange.engine.logical.lag_alarm`) fires when the slot holds more than
``GOVSHARE_SLOT_ALARM_MB`` of log or is that far behind, when the consumer is more than
``GOVSHARE_SLOT_ALARM_MINUTES`` behind, when PostgreSQL no longer keeps the log safely, or when the slot is
gone: the provider's data specialists and administrators and the centre's administrators are told (at most
every six hours while it lasts) and it is audited (4208)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, messages, periodic
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError
from govshare.core.notify import notify
from govshare.exchange.models import ExchangeRun, TableBinding

log = logging.getLogger("govshare.exchange")
#: while an alarm lasts, it is sent again after this long
REMIND_AFTER = dt.timedelta(hours=6)


def _caught_up_at(binding: TableBinding) -> dt.datetime | None:
    last = (binding.runs.filter(status=ExchangeRun.Status.SUCCEEDED, kind=ExchangeRun.Kind.LOG)
            .order_by("-finished_at", "-pk").first())
    text = (last.watermark or {}).get("caught_up_at") if last is not None else None
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def do_check_slot(binding: TableBinding, now: dt.datetime | None = None) -> dict[str, Any]:
    """Look at the binding's slot now, keep what was seen, raise the alarm when it is due."""
    from govshare.exchange import guard
    from govshare.exchange.engine import logical
    from govshare.exchange.engine.sources import SourceError
    from govshare.exchange.sources import spec_for

    now = now or timezone.now()
    seen: dict[str, Any] = {"at": now.isoformat()}
    try:
        state = logical.slot_state(spec_for(binding.source), binding.slot_name, caught_up_at=_caught_up_at(binding))
    except (SourceError, guard.AddressRefused, GovshareError) as exc:
        seen["error"] = getattr(exc, "code", "other")  # the source cannot be read: its copies fail and say so
        TableBinding.objects.filter(pk=binding.pk).update(slot_state=seen)
        return seen
    max_bytes = settings.GOVSHARE_SLOT_ALARM_MB << 20
    alarm = logical.lag_alarm(state, max_bytes=max_bytes, max_seconds=settings.GOVSHARE_SLOT_ALARM_MINUTES * 60)
    seen.update(exists=state.exists, held_bytes=state.held_bytes, lag_bytes=state.lag_bytes,
                lag_seconds=state.lag_seconds, wal_status=state.wal_status, safe_wal_size=state.safe_wal_size,
                alarm=alarm)
    with transaction.atomic():
        TableBinding.objects.filter(pk=binding.pk).update(slot_state=seen)
        due = alarm and (binding.slot_alarm_at is None or now - binding.slot_alarm_at >= REMIND_AFTER)
        if due:
            TableBinding.objects.filter(pk=binding.pk).update(slot_alarm_at=now)
            _tell(binding, seen)
    return seen


def _tell(binding: TableBinding, seen: dict[str, Any]) -> None:
    from govshare.exchange.runs import _centre_staff, staff_of

    entry = binding.entry
    held = round((seen.get("held_bytes") or 0) / (1 << 20))
    minutes = round(seen["lag_seconds"] / 60) if seen.get("lag_seconds") is not None else None
    audit.record(AuditCode.SLOT_ALARM, actor=None, obj=binding, object_department=entry.provider, outcome="failure",
                 detail={"entry": entry.code, "slot": binding.slot_name, "held_mb": held, "lag_minutes": minutes,
                         "exists": seen.get("exists"), "wal_status": seen.get("wal_status")})
    subject = messages.message(_("Replication slot of %(entry)s: the source's log piles up"), entry=entry.code)
    if not seen.get("exists"):
        body = messages.message(_("The replication slot %(slot)s is gone from %(source)s: changes are no longer "
                                  "read. Switch the binding to log mode again; a full copy follows."),
                                slot=binding.slot_name, source=binding.source.name)
    else:
        body = messages.message(_("The replication slot %(slot)s on %(source)s holds %(held)s MB of log and its "
                                  "reader is %(minutes)s minutes behind. The source keeps this log on its own disk "
                                  "until the centre reads it: check the binding and the worker, or leave log mode "
                                  "(the slot is then dropped)."),
                                slot=binding.slot_name, source=binding.source.name, held=held,
                                minutes=minutes if minutes is not None else "?")
    recipients = [*staff_of(entry.provider_id), *_centre_staff()]
    transaction.on_commit(lambda: notify(recipients, "exchange.slot_alarm", subject, body,
                                         url=f"/exchange/bindings/{binding.pk}/", obj=binding))


@periodic.register("exchange.slots", every_seconds=60)
def watch_slots(now: dt.datetime | None = None) -> dict[str, int]:
    checked = alarms = 0
    for binding in TableBinding.objects.filter(mode=TableBinding.Mode.LOG).exclude(slot_name="").select_related(
            "source__department", "entry__provider"):
        try:
            seen = do_check_slot(binding, now)
        except Exception:  # one source must not stop the others
            log.exception("replication slot of binding %s", binding.pk)
            continue
        checked += 1
        alarms += 1 if seen.get("alarm") else 0
    return {"checked": checked, "alarms": alarms}
