"""Objects on the working-day clock, defined once (issue 8: "working days left" was written five ways).

An object is *clocked* when it holds a ``deadline`` (a core :class:`~govshare.core.models.Deadline`)
and a ``status``: share applications, coordination cases and error reports (sharing), catalog-update
tasks (catalog).  This module gives them

* :class:`Clocked` — a model mixin (pure Python, no database field): ``is_open``, ``clock_running``,
  ``due_date`` / ``due_at``, ``working_days_left(today, calendar=)``, ``overdue_at(now)`` and
  ``clock(clocks)`` (the :class:`ClockState` every screen, API answer and e-mail shows);
* :class:`ClockedQuerySet` — ``open()``, ``running()``, ``overdue(now)``, ``due_soon(now)``,
  ``by_deadline()``, used by every list, queue, reminder and escalation;
* :class:`Clocks` — one working-day calendar (holidays read once) for a page of objects;
* :func:`working_days_left` — 0 on the due day, negative once working days have passed;
* the table of clocked kinds (:func:`register_kind`, :func:`remind_all`, :func:`escalate_all`): each
  app registers its kinds (who is reminded, who is told when the clock runs out, how a send is
  claimed and audited) and one loop serves them all, so catalog's update tasks join sharing's
  clocks without catalog importing sharing.

Reminders and escalations are claimed with a conditional UPDATE by the kind's ``claim`` function,
so several workers never send twice; each send is audited by the kind's ``remind`` / ``escalate``
function in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self, cast

from django.db import models, transaction
from django.utils import timezone

from govshare.core.workdays import WorkCalendar

log = logging.getLogger("govshare.core.clock")


def working_days_left(due: dt.date, today: dt.date | None = None, *, calendar: WorkCalendar | None = None) -> int:
    """Working days from ``today`` to ``due``: 0 on the due day, negative once working days have passed
    (a day off right after the due day still counts 0)."""
    today = today or timezone.localdate()
    return (calendar or WorkCalendar()).between(today, due)[0]


@dataclass(frozen=True)
class ClockState:
    """The running clock of an object as every channel shows it."""

    due_date: dt.date
    due_at: dt.datetime
    days_left: int  # 0 on the due day, negative once working days have passed
    overdue: bool  # the due instant (23:59:59 of the due day, Asia/Shanghai) has passed
    provisional: bool  # the due day lies in a year without an official holiday notice

    @property
    def late(self) -> int:
        """Working days past the due day (0 while on time, and on a day off right after it)."""
        return max(0, -self.days_left)

    def fields(self) -> dict[str, Any]:
        """The API's clock fields (see :data:`NO_CLOCK` for an object whose clock does not run)."""
        return {"due_date": self.due_date, "due_at": self.due_at, "provisional": self.provisional,
                "remaining_working_days": self.days_left, "overdue": self.overdue}


#: the API's clock fields of an object whose clock does not run
NO_CLOCK: dict[str, Any] = {"due_date": None, "due_at": None, "provisional": None, "remaining_working_days": None,
                            "overdue": False}


class Clocks:
    """Many clocks on one working-day calendar (its holidays read once), at one instant."""

    def __init__(self, now: dt.datetime | None = None, calendar: WorkCalendar | None = None) -> None:
        self.calendar = calendar or WorkCalendar()
        self.now = now or timezone.now()
        self.today = timezone.localdate(self.now)

    def of(self, obj: Any) -> ClockState | None:
        """The running clock of a :class:`Clocked` object, or None."""
        return obj.clock_state(self) if obj is not None else None

    def decorate(self, rows: Iterable[Any]) -> list[Any]:
        """Set ``row.clock`` (None when its clock does not run) on each row."""
        rows = list(rows)
        for row in rows:
            row.clock = row.clock_state(self)
        return rows

    def fields(self, obj: Any) -> dict[str, Any]:
        state = obj.clock_state(self)
        return NO_CLOCK.copy() if state is None else state.fields()


class Clocked:
    """Mixin of a model with ``status`` and ``deadline`` (a ``Deadline`` foreign key or one-to-one).

    ``OPEN_STATUSES``: the statuses in which the object is open; ``CLOCKED_STATUSES`` (default: the
    open ones): those in which its clock runs.  Adds no database field."""

    OPEN_STATUSES: tuple[str, ...] = ()
    CLOCKED_STATUSES: tuple[str, ...] | None = None

    @classmethod
    def clocked_statuses(cls) -> tuple[str, ...]:
        return tuple(cls.CLOCKED_STATUSES if cls.CLOCKED_STATUSES is not None else cls.OPEN_STATUSES)

    @property
    def is_open(self) -> bool:
        return getattr(self, "status", None) in self.OPEN_STATUSES

    def running_deadline(self) -> Any:
        """The deadline while the clock runs (clocked status, deadline not closed), else None."""
        deadline = getattr(self, "deadline", None)
        if deadline is None or deadline.closed_at is not None:
            return None
        return deadline if getattr(self, "status", None) in self.clocked_statuses() else None

    @property
    def clock_running(self) -> bool:
        return self.running_deadline() is not None

    @property
    def due_date(self) -> dt.date | None:
        deadline = self.running_deadline()
        return None if deadline is None else deadline.due_date

    def working_days_left(self, today: dt.date | None = None, *, calendar: WorkCalendar | None = None) -> int | None:
        """Working days left on the running clock (0 on the due day, negative once overdue); None when it
        does not run."""
        deadline = self.running_deadline()
        if deadline is None:
            return None
        return working_days_left(deadline.due_date, today, calendar=calendar)

    def remaining_working_days(self, today: dt.date | None = None, *, calendar: WorkCalendar | None = None) \
            -> int | None:
        """The same as :meth:`working_days_left` (the older name)."""
        return self.working_days_left(today, calendar=calendar)

    def overdue_at(self, now: dt.datetime | None = None) -> bool:
        """The clock runs and its due instant has passed."""
        deadline = self.running_deadline()
        return deadline is not None and (now or timezone.now()) > deadline.due_at

    def clock_state(self, clocks: Clocks | None = None) -> ClockState | None:
        deadline = self.running_deadline()
        if deadline is None:
            return None
        clocks = clocks or Clocks()
        left = working_days_left(deadline.due_date, clocks.today, calendar=clocks.calendar)
        return ClockState(deadline.due_date, deadline.due_at, left, clocks.now > deadline.due_at,
                          bool(deadline.provisional))


class PermittedQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """A queryset that narrows itself through the permission chokepoint (``restrict``)."""

    def permitted(self, user: Any, action: str) -> Self:
        from govshare.core.permissions import restrict

        return cast(Self, restrict(self, user, action))


class ClockedQuerySet(PermittedQuerySet):
    """Queries on :class:`Clocked` models, defined once for lists, queues, reminders and escalations."""

    def _statuses(self, clocked: bool) -> tuple[str, ...]:
        model: Any = self.model
        return model.clocked_statuses() if clocked else tuple(model.OPEN_STATUSES)

    def open(self) -> Self:
        return self.filter(status__in=self._statuses(False))

    def closed(self) -> Self:
        return self.exclude(status__in=self._statuses(False))

    def running(self) -> Self:
        """Objects whose clock runs: a clocked status and a deadline not closed."""
        return self.filter(status__in=self._statuses(True), deadline__isnull=False, deadline__closed_at__isnull=True)

    def overdue(self, now: dt.datetime | None = None) -> Self:
        """Running clocks whose due instant has passed."""
        return self.running().filter(deadline__due_at__lt=now or timezone.now())

    def not_overdue(self, now: dt.datetime | None = None) -> Self:
        return self.running().filter(deadline__due_at__gte=now or timezone.now())

    def by_deadline(self) -> Self:
        """Soonest due first (objects without a running clock last), then by id."""
        return self.order_by(models.F("deadline__due_at").asc(nulls_last=True), "pk")


# ------------------------------------------------------------------ the table of clocked kinds


@dataclass(frozen=True)
class ClockedKind:
    """One kind of clocked object in the reminder/escalation loop.

    * ``queryset()`` — the objects of the kind, with what ``remind``/``escalate`` read selected;
    * ``reminder_days(obj)`` — remind when at most this many working days are left (None: never remind);
    * ``claim_reminder(obj, now)`` / ``claim_escalation(obj, now)`` — a conditional UPDATE marking the
      send for this clock; return whether this worker won it;
    * ``remind(obj, now)`` / ``escalate(obj, now)`` — notify and audit (inside the claim's transaction).
    """

    name: str
    queryset: Callable[[], Any]
    escalate: Callable[[Any, dt.datetime], None]
    claim_escalation: Callable[[Any, dt.datetime], bool]
    remind: Callable[[Any, dt.datetime], None] | None = None
    claim_reminder: Callable[[Any, dt.datetime], bool] | None = None
    reminder_days: Callable[[Any], int | None] | None = None
    already_reminded: Callable[[Any], bool] | None = None
    already_escalated: Callable[[Any], bool] | None = None


_KINDS: dict[str, ClockedKind] = {}


def register_kind(kind: ClockedKind) -> ClockedKind:
    """Add a kind to the loop (apps call it when their module is imported; registering twice replaces)."""
    _KINDS[kind.name] = kind
    return kind


def kinds(names: Iterable[str] | None = None) -> list[ClockedKind]:
    if names is None:
        return list(_KINDS.values())
    wanted = set(names)
    return [k for k in _KINDS.values() if k.name in wanted]


def remind_all(now: dt.datetime | None = None, *, only: Iterable[str] | None = None) -> int:
    """Remind, once per clock, whoever must act on a running clock that ends within its kind's reminder
    days; returns the number of reminders sent."""
    now = now or timezone.now()
    clocks = Clocks(now)
    sent = 0
    for kind in kinds(only):
        if kind.remind is None or kind.claim_reminder is None or kind.reminder_days is None:
            continue
        for obj in kind.queryset().not_overdue(now).by_deadline():
            if kind.already_reminded is not None and kind.already_reminded(obj):
                continue
            days = kind.reminder_days(obj)
            left = obj.working_days_left(clocks.today, calendar=clocks.calendar)
            if days is None or left is None or left > days:
                continue
            with transaction.atomic():
                if not kind.claim_reminder(obj, now):
                    continue  # another worker sent it
                kind.remind(obj, now)
                sent += 1
    return sent


def escalate_all(now: dt.datetime | None = None, *, only: Iterable[str] | None = None) -> int:
    """Tell, once per clock, who must know that a clock has run out; returns the number of escalations."""
    now = now or timezone.now()
    count = 0
    for kind in kinds(only):
        for obj in kind.queryset().overdue(now).by_deadline():
            if kind.already_escalated is not None and kind.already_escalated(obj):
                continue
            with transaction.atomic():
                if not kind.claim_escalation(obj, now):
                    continue
                kind.escalate(obj, now)
                count += 1
    return count


__all__ = ["ClockState", "Clocked", "ClockedKind", "ClockedQuerySet", "Clocks", "NO_CLOCK", "PermittedQuerySet", "escalate_all", "kinds",
           "register_kind", "remind_all", "working_days_left"]
