"""Data quality of the shared tables (EXC-7: completeness, accuracy, timeliness, "one datum, one source" with
cross-source verification; issue 10 item 9) — one home for the score every channel shows.

Each bound entry gets four measures, each a share from 0 to 1 (None: not measured yet), and a score:

* **completeness** — of the values the entry's items could hold in the centre's copy (live rows × items), the
  share present; measured when a copy succeeds (:func:`measure`);
* **validity** — of the rows the last successful copy read, the share that passed the catalog's types and
  lengths and the provider's value rules (the rest were quarantined);
* **timeliness** — 1 while the copy is fresh (younger than the update cycle plus a tenth); once stale, the
  cycle divided by the copy's age; 0 when never copied;
* **consistency** — over the cross-source checks the entry takes part in (:class:`CrossCheck`), the share of
  shared keys whose compared values agree.

The **score** is the mean of the measured shares × 100, rounded down (100 only when every measure is whole; none for
a table without rows); shares are kept to four places and shown to one, both rounded down, so that a share short of
the whole never reads as the whole.  Who sees it: the provider's staff, the centre,
auditors, and the departments that hold a usable grant on the entry (its consumers) — :func:`may_see`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from django.db.models import Q
from django.utils import timezone

from govshare.catalog.permissions import dept_of, is_centre
from govshare.core.permissions import is_anonymous
from govshare.core.roles import Role
from govshare.datastore.engine.profile import fill_counts
from govshare.datastore.engine.store import Store
from govshare.exchange import schedule
from govshare.exchange.models import CrossCheck, ExchangeRun, TableBinding, Upload, UploadFeed
from govshare.exchange.permissions import DEPT_STAFF


def share(part: int, whole: int) -> float | None:
    """``part / whole`` to four places, rounded *down* (None: ``whole`` is 0): a share short of the whole never
    reads as the whole — one quarantined row in 20 000 is 0.9999, not 1 (review of the 22nd session)."""
    return None if whole <= 0 else _down(Fraction(max(0, part), whole))


def percent(value: float | None) -> str:
    """A share as a percentage to one place, rounded down: ``0.9967`` → ``99.6 %``, ``1`` → ``100 %``."""
    if value is None:
        return "—"
    tenths = math.floor(round(value * 10_000) / 10)  # the share's four places, to tenths of a per cent, down
    return f"{tenths // 10} %" if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10} %"


def measure(store: Store, target: str, rows_read: int, rejected: int) -> dict[str, Any]:
    """The quality a successful load leaves (kept on the run or upload): completeness per item and overall,
    validity."""
    fill = fill_counts(store, target)
    shape = store._shape(target)
    items = {column.name: share(n, fill.live_rows) for column, n in zip(shape.columns, fill.filled, strict=True)}
    return {"completeness": share(sum(fill.filled), fill.live_rows * len(fill.filled)), "items": items,
            "live_rows": fill.live_rows, "validity": share(rows_read - rejected, rows_read)}


@dataclass
class Score:
    completeness: float | None
    validity: float | None
    timeliness: float | None
    consistency: float | None
    items: dict[str, float | None]
    live_rows: int | None
    last_success_at: dt.datetime | None
    stale: bool

    @property
    def score(self) -> int | None:
        """The mean of the measured shares × 100, rounded down (100 only when every one is whole); None when the
        centre holds no row of the entry — an empty table has no quality to speak of, whatever its timeliness
        (review of the 22nd session)."""
        if not self.live_rows:
            return None
        parts = [p for p in (self.completeness, self.validity, self.timeliness, self.consistency) if p is not None]
        if not parts:
            return None
        return int(sum(round(p * 10_000) for p in parts) // len(parts) // 100)

    @property
    def shown(self) -> dict[str, str]:
        """Each measure as the pages show it (:func:`percent`; "—" not measured)."""
        return {name: percent(getattr(self, name))
                for name in ("completeness", "validity", "timeliness", "consistency")}

    @property
    def shown_items(self) -> list[tuple[str, str]]:
        return [(name, percent(value)) for name, value in self.items.items()]

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "completeness": self.completeness, "validity": self.validity,
                "timeliness": self.timeliness, "consistency": self.consistency, "items": self.items,
                "live_rows": self.live_rows, "last_success_at": self.last_success_at, "stale": self.stale}


def _down(value: Fraction) -> float:
    """An exact share to four places, rounded down (a float's 0.69 is 0.68999…: computed exactly, not floored)."""
    return math.floor(min(value, Fraction(1)) * 10_000) / 10_000


def _microseconds(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _timeliness(at: dt.datetime | None, interval: dt.timedelta, now: dt.datetime | None) -> float:
    if at is None:
        return 0.0
    if not schedule.overdue(at, interval, now):
        return 1.0
    return _down(Fraction(_microseconds(interval), _microseconds((now or timezone.now()) - at)))


def timeliness(binding: TableBinding, now: dt.datetime | None = None) -> float:
    return _timeliness(schedule.last_success(binding), schedule.interval_of(binding), now)


def consistency_of(entry_id: int) -> float | None:
    """The mean consistency of the entry's active checks whose last run compared something — a check whose last run
    failed says nothing of the data as it is now and counts for nothing (review of the 22nd session)."""
    counts = CrossCheck.objects.filter(Q(left_entry_id=entry_id) | Q(right_entry_id=entry_id), is_active=True,
                                       compared__gt=0, error__isnull=True).values_list("compared", "differing")
    measured = [Fraction(int(compared or 0) - min(int(differing or 0), int(compared or 0)), int(compared or 1))
                for compared, differing in counts]  # compared > 0: the filter
    return _down(sum(measured, Fraction(0)) / len(measured)) if measured else None


def score_of(binding: TableBinding, now: dt.datetime | None = None) -> Score:
    last = (binding.runs.filter(status=ExchangeRun.Status.SUCCEEDED, quality__isnull=False)
            .order_by("-finished_at", "-pk").first())
    measured = (last.quality if last is not None else None) or {}
    at, interval = schedule.last_success(binding), schedule.interval_of(binding)  # read once for all three
    return Score(completeness=measured.get("completeness"), validity=measured.get("validity"),
                 timeliness=_timeliness(at, interval, now), consistency=consistency_of(binding.entry_id),
                 items=measured.get("items") or {}, live_rows=measured.get("live_rows"),
                 last_success_at=at, stale=schedule.overdue(at, interval, now))


def score_of_uploads(feed: UploadFeed, now: dt.datetime | None = None) -> Score:
    """The score of an entry fed by spreadsheet uploads (EXC-3; no binding): as a binding's, from its last loaded
    upload — validity is the share of the file's rows that passed (a load is all or nothing: 1 once loaded),
    timeliness by the entry's update cycle (review of the 22nd session: such entries had no score)."""
    from govshare.exchange import uploads

    last = (feed.uploads.filter(status=Upload.Status.LOADED, quality__isnull=False)
            .order_by("-finished_at", "-pk").first())
    measured = (last.quality if last is not None else None) or {}
    at, interval = uploads.last_load(feed), uploads.interval_of(feed)
    return Score(completeness=measured.get("completeness"), validity=measured.get("validity"),
                 timeliness=_timeliness(at, interval, now), consistency=consistency_of(feed.entry_id),
                 items=measured.get("items") or {}, live_rows=measured.get("live_rows"), last_success_at=at,
                 stale=schedule.overdue(at, interval, now))


def feed_of(entry_id: int) -> TableBinding | UploadFeed | None:
    """What fills the entry's table in the centre: its binding, else its spreadsheet upload feed (None: neither)."""
    binding = TableBinding.objects.filter(entry_id=entry_id).select_related(
        "entry__current_version", "entry__provider", "source").first()
    if binding is not None:
        return binding
    return UploadFeed.objects.filter(entry_id=entry_id).select_related("entry__current_version",
                                                                        "entry__provider").first()


def score_of_feed(feed: TableBinding | UploadFeed, now: dt.datetime | None = None) -> Score:
    return score_of(feed, now) if isinstance(feed, TableBinding) else score_of_uploads(feed, now)


def may_see(user: Any, entry: Any) -> bool:
    """The provider's staff, the centre, auditors, and departments with a usable grant on the entry."""
    if is_anonymous(user):
        return False
    if is_centre(user) or user.has_role(Role.AUDITOR):
        return True
    dept = dept_of(user)
    if dept is None:
        return False
    if dept == entry.provider_id and user.role_set() & DEPT_STAFF:
        return True
    from govshare.sharing.models import Grant

    return Grant.objects.usable().filter(entry_id=entry.pk, consumer_id=dept).exists()


def base_libraries(user: Any) -> list[dict[str, Any]]:
    """EXC-8: the published entries under the 基础信息资源 classes (population, legal entities, natural resources
    and geography, social credit, e-certificates), unconditionally shared: for each, whether it is shared so,
    its binding, whether its copy in the centre is stale, and its quality score.  The centre and auditors see
    every one; a department's staff their own; ``user`` None: the machine operator (every one)."""
    from govshare.catalog.enums import ClassKind, ShareMethod, ShareType
    from govshare.catalog.models import CatalogEntry
    from govshare.exchange import uploads

    entries = CatalogEntry.objects.filter(status=CatalogEntry.Status.PUBLISHED,
                                          current_version__classification__kind=ClassKind.BASIC)
    if user is None:  # the machine operator at the console
        pass
    elif is_anonymous(user):
        return []
    elif not (is_centre(user) or user.has_role(Role.AUDITOR)):
        dept = dept_of(user)
        if dept is None or not user.role_set() & DEPT_STAFF:
            return []
        entries = entries.filter(provider_id=dept)
    entries = entries.select_related("current_version__classification", "provider").order_by("code")
    bound = {b.entry_id: b for b in schedule.bindings_shown().filter(entry__in=entries)}
    uploaded = {f.entry_id: f for f in uploads.with_last_load(UploadFeed.objects.filter(entry__in=entries))}
    rows = []
    for entry in entries:
        version = entry.current_version
        assert version is not None
        binding = bound.get(entry.pk)
        # an entry fed by spreadsheet uploads (no binding) is in the centre too (review of the 22nd session)
        feed: TableBinding | UploadFeed | None = binding or uploaded.get(entry.pk)
        table = ShareMethod.TABLE in (version.share_methods or [])
        problems = []
        if version.share_type != ShareType.UNCONDITIONAL:
            problems.append("not_unconditional")
        if not table:
            problems.append("not_a_table")
        elif feed is None:
            problems.append("not_bound")
        elif not feed.is_active:
            problems.append("paused")
        score = score_of_feed(feed) if feed is not None else None
        if score is not None and score.stale:
            problems.append("stale")
        rows.append({"entry": entry, "version": version, "binding": binding, "uploads": feed is not None
                     and binding is None, "score": score, "problems": problems})
    return rows
