"""Rate limits of the delivery channels (issue 11 item 6: online verification is rate limited per system):
a fixed one-minute window per caller and channel, counted by one conditional UPDATE, so every server process
shares it and two calls never both take the last one."""

from __future__ import annotations

import datetime as dt
import math

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from govshare.datastore.models import CallWindow

WINDOW = dt.timedelta(minutes=1)


def take_call(caller: str, channel: str, per_minute: int, *, now: dt.datetime | None = None) -> int:
    """Count one call of ``caller`` on ``channel``: 0 when it may go ahead, else the seconds until its window
    starts again (nothing counted).  Bookkeeping, not a domain change: no audit row (the call itself is logged)."""
    now = now or timezone.now()
    over = now - WINDOW
    rows = CallWindow.objects.filter(caller=caller, channel=channel)
    for _attempt in range(3):
        taken = rows.filter(Q(started_at__lte=over) | Q(calls__lt=per_minute)).update(
            calls=Case(When(started_at__lte=over, then=Value(1)), default=F("calls") + 1),
            started_at=Case(When(started_at__lte=over, then=Value(now)), default=F("started_at")))
        if taken:
            return 0
        window = rows.values_list("started_at", flat=True).first()
        if window is not None:
            return max(1, math.ceil((window + WINDOW - now).total_seconds()))
        try:
            with transaction.atomic():
                CallWindow.objects.create(caller=caller, channel=channel, started_at=now, calls=1)
            return 0
        except IntegrityError:  # another process made it first: count on it
            continue
    return 1
