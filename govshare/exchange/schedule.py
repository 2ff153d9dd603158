"""When a bound table is copied by itself, and when its copy in the centre is stale (issue 10 items 8, 9;
EXC-1 "增量数据动态更新", EXC-7 timeliness).

* The interval of each update cycle (更新周期) of the catalog: a daily entry is copied once a day, a weekly
  one once a week …  实时 (real time) entries are copied hourly until log-based copies exist; "other" is
  treated as monthly.
* A binding that follows its entry's cycle (``TableBinding.schedule``) is due when its last successful copy
  is older than the interval (or there was none), no copy of it is queued or running, it and its source are
  active.  After a failure the next try waits 5 minutes, then 10, 20 … (doubling, at most the interval):
  a source that is down is not hammered, and one that comes back is caught soon.
* What a due copy is — full, or incremental with or without the key check that finds deleted rows — the
  binding's mode decides (:func:`govshare.exchange.actions.runs.choose_kind`).  A binding whose run holds
  deletions for confirmation (the mass-delete guard) is not copied until a person decides; after they refuse
  them the next copy waits a whole cycle.
* A copy in the centre is **stale** when its last successful copy is older than the interval plus a grace of
  a tenth of it (a daily copy that ran at 02:10 yesterday is not stale at 02:15 today).

The worker runs :func:`start_due` every minute (``exchange.schedule``); ``govshare tick`` runs it by hand.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db.models import F, Max, Q
from django.utils import timezone

from govshare.catalog.enums import UpdateCycle
from govshare.catalog.models import CatalogEntry
from govshare.core import periodic
from govshare.core.errors import GovshareError
from govshare.exchange.models import ExchangeRun, TableBinding

log = logging.getLogger("govshare.exchange")

INTERVALS: dict[str, dt.timedelta] = {
    UpdateCycle.REALTIME: dt.timedelta(hours=1),
    UpdateCycle.DAILY: dt.timedelta(days=1),
    UpdateCycle.WEEKLY: dt.timedelta(weeks=1),
    UpdateCycle.MONTHLY: dt.timedelta(days=30),
    UpdateCycle.QUARTERLY: dt.timedelta(days=91),
    UpdateCycle.HALF_YEARLY: dt.timedelta(days=182),
    UpdateCycle.YEARLY: dt.timedelta(days=365),
    UpdateCycle.OTHER: dt.timedelta(days=30),
}
FIRST_RETRY = dt.timedelta(minutes=5)
#: how long a stopped first copy, rebuild copy or log-mode read holds its binding (others: the entry's cycle)
STOP_HOLD = dt.timedelta(minutes=30)
#: log mode: how often the slot's changes are read once the first full copy is done
LOG_INTERVAL = dt.timedelta(minutes=1)


def interval_of(binding: Any) -> dt.timedelta:
    """The update cycle of the entry a binding (or a spreadsheet upload feed) fills."""
    version = binding.entry.current_version
    return INTERVALS.get(version.update_cycle if version else "", INTERVALS[UpdateCycle.OTHER])


def overdue(at: dt.datetime | None, interval: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """The one rule of staleness: never loaded, or the last load is older than the cycle plus a tenth of it."""
    return at is None or (now or timezone.now()) - at > interval + interval / 10


def last_success(binding: TableBinding) -> dt.datetime | None:
    """The end of the binding's last successful copy — since the centre's table was last made again (a copy before
    that says nothing of the table as it is)."""
    found = getattr(binding, "last_success_at", None)  # annotated by with_last_success()
    if found is not None or hasattr(binding, "last_success_at"):
        return found
    return _successes(binding).aggregate(at=Max("finished_at"))["at"]


def _successes(binding: TableBinding) -> Any:
    """The binding's successful copies since its table was last made again."""
    runs = binding.runs.filter(status=ExchangeRun.Status.SUCCEEDED)
    return runs.filter(finished_at__gt=binding.rebuilt_at) if binding.rebuilt_at is not None else runs


def _last_success_began(binding: TableBinding) -> dt.datetime | None:
    """When the last successful copy (since the table was last made again) began."""
    last = _successes(binding).order_by("-finished_at", "-pk").values_list("started_at", "finished_at", "confirmed_deletes").first()
    if last is None:
        return None
    # a run held for a person's decision began long before it went on: its cycle is counted from its end
    return last[1] if last[2] is not None else (last[0] or last[1])


def with_last_success(qs: Any) -> Any:
    """Bindings with ``last_success_at`` (one query for a list; as :func:`last_success`)."""
    since_rebuild = Q(rebuilt_at__isnull=True) | Q(runs__finished_at__gt=F("rebuilt_at"))
    return qs.annotate(last_success_at=Max("runs__finished_at",
                                           filter=Q(runs__status=ExchangeRun.Status.SUCCEEDED) & since_rebuild))


def bindings_shown() -> Any:
    """Bindings as the lists and pages show them: entry, version, source, provider, and ``last_success_at``."""
    return with_last_success(TableBinding.objects.select_related("entry__current_version", "entry__provider",
                                                                 "version", "source"))


def is_stale(binding: TableBinding, now: dt.datetime | None = None) -> bool:
    """Never copied, or the last successful copy is older than the cycle (plus a tenth of it)."""
    return overdue(last_success(binding), interval_of(binding), now)


def _consecutive_failures(binding: TableBinding, since: dt.datetime | None) -> tuple[int, dt.datetime | None]:
    failed = binding.runs.filter(status=ExchangeRun.Status.FAILED)
    if since is not None:
        failed = failed.filter(finished_at__gt=since)
    latest = failed.aggregate(at=Max("finished_at"))["at"]
    return failed.count(), latest


def is_due(binding: TableBinding, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    interval = LOG_INTERVAL if binding.mode == TableBinding.Mode.LOG else interval_of(binding)
    success = last_success(binding)
    # a cycle is counted from when the last successful copy *began*: a daily copy that takes two hours does not
    # slide two hours later every day (review of the 22nd session)
    began = _last_success_began(binding) if success is not None else None
    # a rebuild asked for and not done (its copy failed before it made the table again) is tried again with the
    # usual backoff, not a whole cycle later
    if began is not None and now - began < interval and not binding.rebuild_pending:
        return False
    # deletions a person refused (the source is being looked at): the next scheduled copy waits the entry's whole
    # cycle — log mode's one-minute pass included (review of the 22nd session)
    cycle = interval_of(binding)
    if binding.runs.filter(error_code="deletes_refused", finished_at__gt=now - cycle).exists():
        return False
    # a copy a person stopped: the next scheduled one waits the entry's cycle — but a first copy, a rebuild's copy
    # (every delivery of the entry waits for it) and a log-mode read (its slot holds the source's WAL meanwhile) at
    # most STOP_HOLD (second review): pausing the binding is how a person holds it longer
    held = cycle if success is not None and not binding.rebuild_pending and binding.mode != TableBinding.Mode.LOG \
        else min(cycle, STOP_HOLD)
    stopped = binding.runs.filter(status=ExchangeRun.Status.STOPPED, finished_at__gt=now - held).exclude(
        error_code="binding_paused")
    if success is not None:
        stopped = stopped.filter(finished_at__gt=success)
    if stopped.exists():
        return False
    failures, last_failure = _consecutive_failures(binding, success or binding.rebuilt_at)
    if failures and last_failure is not None:
        # after failures the wait doubles up to the entry's cycle (a failing log-mode binding is not retried
        # every minute)
        wait = min(FIRST_RETRY * 2 ** min(failures - 1, 16), interval_of(binding))
        if now - last_failure < wait:
            return False
    return True


def due_bindings(now: dt.datetime | None = None) -> list[TableBinding]:
    candidates = with_last_success(
        TableBinding.objects.select_related("entry__current_version", "source")
        .filter(schedule=TableBinding.Schedule.CYCLE, is_active=True, source__is_active=True,
                entry__status=CatalogEntry.Status.PUBLISHED)
        .exclude(runs__status__in=ExchangeRun.BLOCKING_STATUSES))
    return [b for b in candidates if is_due(b, now)]


@periodic.register("exchange.schedule", every_seconds=60)
def start_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Queue a copy of every binding that is due.  One that cannot start (it no longer matches the entry or
    the table, its source refuses) is recorded as a failed run with the reason and notified, so the next
    try backs off like after any failure."""
    from govshare.exchange.actions import do_start_run
    from govshare.exchange.actions.runs import record_unstartable, settle_orphaned_runs

    settle_orphaned_runs()
    started = refused = 0
    for binding in due_bindings(now):
        try:
            do_start_run(None, binding, operator=True)
        except GovshareError as exc:
            if exc.code == "run_open":  # another worker's pass started it meanwhile
                continue
            refused += 1
            log.info("binding %s not started: %s", binding.pk, exc.render("en"))
            record_unstartable(binding, exc)
        else:
            started += 1
    return {"started": started, "not_started": refused}
