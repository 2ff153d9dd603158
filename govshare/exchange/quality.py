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

The **score** is the mean of the measured shares × 100, rounded.  Who sees it: the provider's staff, the centre,
auditors, and the departments that hold a usable grant on the entry (its consumers) — :func:`may_see`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from govshare.catalog.permissions import dept_of, is_centre
from govshare.core.permissions import is_anonymous
from govshare.core.roles import Role
from govshare.datastore.engine.profile import fill_counts
from govshare.datastore.engine.store import Store
from govshare.exchange.models import CrossCheck, ExchangeRun, TableBinding
from govshare.exchange.permissions import DEPT_STAFF


def measure(store: Store, target: str, rows_read: int, rejected: int) -> dict[str, Any]:
    """The quality a successful run leaves (kept on the run): completeness per item and overall, validity."""
    fill = fill_counts(store, target)
    shape = store._shape(target)
    items = {column.name: (round(n / fill.live_rows, 4) if fill.live_rows else None)
             for column, n in zip(shape.columns, fill.filled, strict=True)}
    completeness = fill.completeness
    return {"completeness": None if completeness is None else round(completeness, 4), "items": items,
            "live_rows": fill.live_rows,
            "validity": round(max(0.0, 1 - rejected / rows_read), 4) if rows_read else None}


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
        parts = [p for p in (self.completeness, self.validity, self.timeliness, self.consistency) if p is not None]
        return round(100 * sum(parts) / len(parts)) if parts else None

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "completeness": self.completeness, "validity": self.validity,
                "timeliness": self.timeliness, "consistency": self.consistency, "items": self.items,
                "live_rows": self.live_rows, "last_success_at": self.last_success_at, "stale": self.stale}


def timeliness(binding: TableBinding, now: dt.datetime | None = None) -> float:
    from govshare.exchange import schedule

    at = schedule.last_success(binding)
    if at is None:
        return 0.0
    interval = schedule.interval_of(binding)
    age = (now or timezone.now()) - at
    if age <= interval + interval / 10:
        return 1.0
    return round(min(1.0, interval / age), 4)


def consistency_of(entry_id: int) -> float | None:
    checks = [c.consistency for c in CrossCheck.objects.filter(Q(left_entry_id=entry_id) | Q(right_entry_id=entry_id),
                                                               is_active=True, compared__gt=0)]
    measured = [c for c in checks if c is not None]
    return round(sum(measured) / len(measured), 4) if measured else None


def score_of(binding: TableBinding, now: dt.datetime | None = None) -> Score:
    from govshare.exchange import schedule

    last = (binding.runs.filter(status=ExchangeRun.Status.SUCCEEDED, quality__isnull=False)
            .order_by("-finished_at", "-pk").first())
    measured = (last.quality if last is not None else None) or {}
    return Score(completeness=measured.get("completeness"), validity=measured.get("validity"),
                 timeliness=timeliness(binding, now), consistency=consistency_of(binding.entry_id),
                 items=measured.get("items") or {}, live_rows=measured.get("live_rows"),
                 last_success_at=schedule.last_success(binding), stale=schedule.is_stale(binding, now))


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
    from govshare.exchange import schedule

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
    rows = []
    for entry in entries:
        version = entry.current_version
        assert version is not None
        binding = bound.get(entry.pk)
        table = ShareMethod.TABLE in (version.share_methods or [])
        problems = []
        if version.share_type != ShareType.UNCONDITIONAL:
            problems.append("not_unconditional")
        if not table:
            problems.append("not_a_table")
        elif binding is None:
            problems.append("not_bound")
        elif not binding.is_active:
            problems.append("paused")
        score = score_of(binding) if binding is not None else None
        if score is not None and score.stale:
            problems.append("stale")
        rows.append({"entry": entry, "version": version, "binding": binding, "score": score, "problems": problems})
    return rows
