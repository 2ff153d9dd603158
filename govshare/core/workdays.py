"""The working-day clock (issue 2 §5; every statutory deadline of SHR-2, OPN-3, CAT-5, SUP-3 …).

Which days are working days, in order of precedence:

1. an admin-maintained :class:`~govshare.core.models.CalendarDay` (imported from the official
   holiday notice, or edited by hand) — overrides always win;
2. a year whose official notice was imported (a :class:`~govshare.core.models.HolidayYear` row):
   Monday–Friday, the notice's days being the overrides of rule 1;
3. a year the ``chinesecalendar`` package knows (statutory holidays and 调休 make-up workdays);
4. otherwise the *fallback*: Monday–Friday minus the fixed-date statutory holidays
   (``FIXED_HOLIDAYS``).  Such a year is *unofficial*: a computation that looks at one of its days
   is ``provisional``, and importing the year later recomputes the open deadlines
   (:func:`recompute_open_deadlines`).

"n working days after D" does not count D itself (期间开始的当日不计入); a deadline ends at 23:59:59
Asia/Shanghai on its due day.

One :class:`WorkCalendar` caches what it has read: the imported years in one query, the overrides of
a date range in one query.  Pass the same instance (``calendar=``) when computing many deadlines in
one request; the module-level functions make a fresh one otherwise (about two queries each).
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import contextlib
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed
from govshare.core.models import CalendarDay, Deadline, HolidayYear
from govshare.core.policy import UNITS, Period, Profile, get_profile

#: deadlines end at the end of the due day in this zone (the statutes are Chinese)
DEADLINE_TZ = ZoneInfo("Asia/Shanghai")
DEADLINE_END = dt.time(23, 59, 59)

#: guards against runaway loops from bad input (about eight years of working days / twenty years)
MAX_WORKING_DAYS = 2000
MAX_SPAN_DAYS = 366 * 20

#: years a calendar may be asked about or imported for
MIN_YEAR, MAX_YEAR = 1990, 2199


def fixed_holidays(year: int) -> dict[tuple[int, int], str]:
    """Fixed-date statutory holidays of 《全国年节及纪念日放假办法》 art. 2 (month, day) → name.

    The 2024 revision (in force 2025-01-01) added 2 May to Labour Day; the lunar holidays
    (春节、清明、端午、中秋) move every year and are therefore left to the official notice.
    """
    days = {(1, 1): "元旦", (5, 1): "劳动节", (10, 1): "国庆节", (10, 2): "国庆节", (10, 3): "国庆节"}
    if year >= 2025:
        days[(5, 2)] = "劳动节"
    return days


# ------------------------------------------------------------------ the chinese-calendar package

@lru_cache(maxsize=512)
def package_knows(year: int) -> bool:
    """Whether the installed ``chinesecalendar`` has the official data for ``year``.

    The package raises ``NotImplementedError`` for a year outside its data (1.11.0: 2004–2026)."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=1)
def package_years() -> tuple[int, ...]:
    """The years the package knows, e.g. ``(2004, …, 2026)``."""
    return tuple(y for y in range(MIN_YEAR, MAX_YEAR + 1) if package_knows(y))


def _package_name(english: str | None) -> str:
    if not english:
        return ""
    try:
        return str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        return english


# ------------------------------------------------------------------ results

@dataclass(frozen=True)
class DayInfo:
    """What the calendar says about one day.

    ``kind``: ``workday`` (an ordinary working day), ``weekend``, ``holiday`` (a day off that is not
    an ordinary weekend, or a weekend day named as part of a holiday) or ``makeup`` (调休: a weekend
    day that is worked).  ``source``: ``manual``/``import`` (a CalendarDay), ``notice`` (an imported
    year's ordinary day), ``package`` or ``fallback``.
    """

    date: dt.date
    is_workday: bool
    kind: str
    name: str
    source: str
    official: bool

    @property
    def is_special(self) -> bool:
        """A holiday or make-up day (what a holiday notice lists)."""
        return self.kind in {"holiday", "makeup"}

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "is_workday": self.is_workday, "kind": self.kind,
                "name": self.name, "source": self.source, "official": self.official}


@dataclass(frozen=True)
class Due:
    """A computed deadline: the due day, the instant it ends, and whether it is provisional."""

    due_date: dt.date
    due_at: dt.datetime
    provisional: bool


def end_of_day(day: dt.date) -> dt.datetime:
    """23:59:59 Asia/Shanghai on ``day`` (an aware datetime)."""
    return dt.datetime.combine(day, DEADLINE_END, tzinfo=DEADLINE_TZ)


def _kind(day: dt.date, is_workday: bool, name: str) -> str:
    weekend = day.weekday() >= 5
    if is_workday:
        return "makeup" if weekend else "workday"
    return "holiday" if (not weekend or name) else "weekend"


# ------------------------------------------------------------------ the calendar

class WorkCalendar:
    """Answers "is this a working day?" with per-instance caching (see the module docstring)."""

    def __init__(self) -> None:
        self._imported: set[int] | None = None
        self._overrides: dict[dt.date, tuple[bool, str, str]] = {}
        self._loaded: list[tuple[dt.date, dt.date]] = []

    # --- what is known about a year

    def imported_years(self) -> set[int]:
        if self._imported is None:
            self._imported = set(HolidayYear.objects.values_list("year", flat=True))
        return self._imported

    def year_source(self, year: int) -> str:
        """``import`` (official notice imported), ``package`` (chinese-calendar) or ``fallback``."""
        if year in self.imported_years():
            return "import"
        if package_knows(year):
            return "package"
        return "fallback"

    def is_official(self, year: int) -> bool:
        return self.year_source(year) != "fallback"

    # --- overrides, loaded by range in one query

    def _covered(self, start: dt.date, end: dt.date) -> bool:
        return any(lo <= start and end <= hi for lo, hi in self._loaded)

    def prefetch(self, start: dt.date, end: dt.date) -> None:
        """Load the overrides of whole years ``start.year``…``end.year`` in one query."""
        if end < start:
            start, end = end, start
        lo, hi = dt.date(start.year, 1, 1), dt.date(end.year, 12, 31)
        if self._covered(lo, hi):
            return
        for day, is_workday, name, source in CalendarDay.objects.filter(date__range=(lo, hi)).values_list(
                "date", "is_workday", "name", "source"):
            self._overrides[day] = (is_workday, name, source)
        self._loaded.append((lo, hi))

    def _override(self, day: dt.date) -> tuple[bool, str, str] | None:
        if not self._covered(day, day):
            self.prefetch(day, day)
        return self._overrides.get(day)

    # --- one day

    def day(self, day: dt.date) -> DayInfo:
        source = self.year_source(day.year)
        official = source != "fallback"
        found = self._override(day)
        if found is not None:
            is_workday, name, row_source = found
            return DayInfo(day, is_workday, _kind(day, is_workday, name), name, row_source, official)
        if source == "import":
            is_workday = day.weekday() < 5
            return DayInfo(day, is_workday, _kind(day, is_workday, ""), "", "notice", True)
        if source == "package":
            is_holiday, english = chinese_calendar.get_holiday_detail(day)
            name = _package_name(english)
            return DayInfo(day, not is_holiday, _kind(day, not is_holiday, name), name, "package", True)
        name = fixed_holidays(day.year).get((day.month, day.day), "")
        is_workday = day.weekday() < 5 and not name
        return DayInfo(day, is_workday, _kind(day, is_workday, name), name, "fallback", False)

    def is_workday(self, day: dt.date) -> bool:
        return self.day(day).is_workday

    def year_days(self, year: int) -> list[DayInfo]:
        _check_year(year)
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        self.prefetch(start, end)
        return [self.day(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)]

    # --- counting

    def add(self, start: dt.date, n: int) -> tuple[dt.date, bool]:
        """The ``n``-th working day after ``start`` (``start`` not counted); negative ``n`` counts
        back (the ``|n|``-th working day before ``start``).  Returns (day, provisional)."""
        start = as_date(start)
        _check_date(start, "date")
        _check_amount(n)
        if n == 0:
            return start, False
        step = dt.timedelta(days=1 if n > 0 else -1)
        # a generous guess of the range, so that the overrides load in one query
        reach = dt.timedelta(days=abs(n) * 2 + 45)
        with contextlib.suppress(OverflowError):  # near the end of the supported dates
            self.prefetch(start, start + reach if n > 0 else start - reach)
        provisional = False
        day, left = start, abs(n)
        while left:
            try:
                day += step
            except OverflowError:
                raise ValidationFailed("date_out_of_range", _("The result lies outside the supported dates."),
                                       field="date") from None
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                raise ValidationFailed("date_out_of_range", _("The result lies outside the supported dates."),
                                       field="date")
            info = self.day(day)
            provisional = provisional or not info.official
            if info.is_workday:
                left -= 1
        return day, provisional

    def between(self, a: dt.date, b: dt.date) -> tuple[int, bool]:
        """Working days after ``a`` up to and including ``b`` (negative when ``b`` is before ``a``)."""
        a, b = as_date(a), as_date(b)
        _check_date(a, "a")
        _check_date(b, "b")
        if b < a:
            count, provisional = self.between(b, a)
            return -count, provisional
        if (b - a).days > MAX_SPAN_DAYS:
            raise ValidationFailed("span_too_long", _("The two dates are more than %(years)d years apart."),
                                   years=MAX_SPAN_DAYS // 366, field="b")
        self.prefetch(a, b)
        count, provisional, day = 0, False, a
        while day < b:
            day += dt.timedelta(days=1)
            info = self.day(day)
            provisional = provisional or not info.official
            count += info.is_workday
        return count, provisional


def _check_year(year: int) -> None:
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed("invalid_year", _("The year must be between %(min)d and %(max)d."),
                               min=MIN_YEAR, max=MAX_YEAR, field="year")


def _check_amount(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValidationFailed("invalid_amount", _("The number of working days must be a whole number."),
                               field="n")
    if abs(n) > MAX_WORKING_DAYS:
        raise ValidationFailed("amount_too_large", _("At most %(max)d working days can be counted."),
                               max=MAX_WORKING_DAYS, field="n")


def as_date(value: dt.date | dt.datetime) -> dt.date:
    """A date; an aware datetime counts as its day in Asia/Shanghai (a naive one as its own day)."""
    if isinstance(value, dt.datetime):
        return (value.astimezone(DEADLINE_TZ) if value.tzinfo else value).date()
    return value


def _check_date(value: dt.date, field: str) -> None:
    if not isinstance(value, dt.date) or not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationFailed("date_out_of_range", _("The date must lie between the years %(min)d and %(max)d."),
                               min=MIN_YEAR, max=MAX_YEAR, field=field)


def resolve_profile(profile: str | Profile | None) -> Profile | None:
    """Accepts a profile name or a :class:`Profile` (validated: an unknown name raises).

    Today every profile uses the national statutory calendar; the argument exists so that a
    jurisdiction with its own calendar (e.g. local holidays) can be added without changing callers.
    """
    if profile is None or isinstance(profile, Profile):
        return profile
    return get_profile(str(profile))


# ------------------------------------------------------------------ public functions

def add_working_days(date: dt.date, n: int, profile: str | Profile | None = None, *,
                     calendar: WorkCalendar | None = None) -> dt.date:
    """The ``n``-th working day after ``date`` (``date`` itself not counted).

    ``profile`` (a name or :class:`Profile`) selects the jurisdiction's calendar; all profiles share
    the national calendar for now.  See :func:`working_due` for the provisional flag."""
    return working_due(date, n, profile, calendar=calendar).due_date


def working_due(date: dt.date, n: int, profile: str | Profile | None = None, *,
                calendar: WorkCalendar | None = None) -> Due:
    """Like :func:`add_working_days`, with the deadline instant and the provisional flag."""
    resolve_profile(profile)
    due, provisional = (calendar or WorkCalendar()).add(date, n)
    return Due(due, end_of_day(due), provisional)


def working_days_between(a: dt.date, b: dt.date, *, calendar: WorkCalendar | None = None) -> int:
    """The number of working days after ``a`` up to and including ``b``."""
    return (calendar or WorkCalendar()).between(a, b)[0]


def add_months(start: dt.date, months: int) -> dt.date:
    """``start`` plus ``months`` calendar months; the day is clamped to the month's end
    (31 January + 1 month = 28/29 February)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed("date_out_of_range", _("The result lies outside the supported dates."),
                               field="date")
    return dt.date(year, month, min(start.day, _stdlib_calendar.monthrange(year, month)[1]))


def compute_due(start_date: dt.date, period: Period, *, calendar: WorkCalendar | None = None) -> Due:
    """The due day of ``period`` counted from ``start_date`` (which is not counted).

    * ``working_days``: the n-th working day after the start (provisional when an unofficial year
      was touched);
    * ``calendar_days``: start + n days;  ``months``: start + n months, clamped to the month's end.
    """
    start_date = as_date(start_date)
    _check_date(start_date, "start_date")
    if period.unit == "working_days":
        return working_due(start_date, period.amount, calendar=calendar)
    if period.unit == "calendar_days":
        if abs(period.amount) > MAX_SPAN_DAYS:
            raise ValidationFailed("amount_too_large", _("At most %(max)d days can be counted."),
                                   max=MAX_SPAN_DAYS, field="amount")
        due = start_date + dt.timedelta(days=period.amount)
    elif period.unit == "months":
        due = add_months(start_date, period.amount)
    else:
        raise ValidationFailed("invalid_unit", _("Unknown unit %(unit)s (known: %(units)s)."),
                               unit=period.unit, units=", ".join(UNITS), field="unit")
    _check_date(due, "date")
    return Due(due, end_of_day(due), False)


# ------------------------------------------------------------------ deadlines

def open_deadline(obj: models.Model, kind: str, profile_name: str, start_date: dt.date, *,
                  calendar: WorkCalendar | None = None) -> Deadline:
    """Create the :class:`Deadline` of ``kind`` for ``obj``, its period read from the profile.

    Call it from inside the action that starts the clock (it writes, and that action audits).
    An object that needs its deadline before it can be saved (a non-null link to it) is passed
    unsaved; call :func:`bind_deadline` once it has its primary key.
    """
    period = get_profile(profile_name).deadline(kind)
    start_date = as_date(start_date)
    due = compute_due(start_date, period, calendar=calendar)
    return Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(obj), object_id="" if obj.pk is None else str(obj.pk),
        kind=kind,
        profile=profile_name, start_date=start_date, amount=period.amount, unit=period.unit,
        due_date=due.due_date, due_at=due.due_at, provisional=due.provisional,
    )


def bind_deadline(deadline: Deadline, obj: models.Model) -> None:
    """Point a deadline opened for a then unsaved object at that object, now saved."""
    deadline.object_id = str(obj.pk)
    Deadline.objects.filter(pk=deadline.pk).update(object_id=deadline.object_id)


def deadlines_for(obj: models.Model, *, open_only: bool = True) -> models.QuerySet[Deadline]:
    """The deadlines attached to ``obj`` (read helper for the areas that own the object)."""
    qs = Deadline.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))
    return qs.filter(closed_at__isnull=True) if open_only else qs


def _touching(years: Iterable[int] | None) -> models.QuerySet[Deadline]:
    qs = Deadline.objects.filter(closed_at__isnull=True, unit="working_days")
    if years is None:
        return qs
    touch = Q()
    for year in sorted(set(years)):
        # the counted days are (start_date, due_date]: the deadline touches the year when they overlap it
        touch |= Q(start_date__lt=dt.date(year, 12, 31), due_date__gte=dt.date(year, 1, 1))
    return qs.filter(touch) if touch else qs.none()


@dataclass(frozen=True)
class RecomputeResult:
    checked: int
    changed: int
    changed_ids: tuple[int, ...]
    last_id: int = 0  # the id of the last deadline checked (0: none) — where a next batch starts


def recompute(years: Iterable[int] | None = None, *, calendar: WorkCalendar | None = None, after_id: int = 0,
              limit: int | None = None) -> RecomputeResult:
    """Recompute the open working-day deadlines touching ``years`` (all when ``None``); with
    ``after_id`` / ``limit`` only the next ``limit`` of them by id (a batch of the resumable job)."""
    cal = calendar or WorkCalendar()
    checked, changed, last_id = 0, [], 0
    rows = _touching(years).filter(id__gt=after_id).order_by("id")
    for deadline in (rows[:limit] if limit else rows).iterator(chunk_size=500):
        checked += 1
        last_id = deadline.pk
        due = working_due(deadline.start_date, deadline.amount, calendar=cal)
        if (due.due_date, due.due_at, due.provisional) != (deadline.due_date, deadline.due_at,
                                                           deadline.provisional):
            deadline.due_date, deadline.due_at, deadline.provisional = due.due_date, due.due_at, due.provisional
            changed.append(deadline)
    Deadline.objects.bulk_update(changed, ["due_date", "due_at", "provisional"], batch_size=500)
    return RecomputeResult(checked, len(changed), tuple(d.pk for d in changed), last_id)


def recompute_open_deadlines(years: Iterable[int] | None = None) -> int:
    """Recompute open working-day deadlines touching ``years`` (all when ``None``); returns how many
    changed (due day or provisional flag).  Run it after the calendar changed — the calendar
    actions do so through the ``core.recompute_deadlines`` job."""
    return recompute(None if years is None else list(years)).changed


__all__ = [
    "DayInfo",
    "Due",
    "RecomputeResult",
    "WorkCalendar",
    "add_months",
    "add_working_days",
    "as_date",
    "bind_deadline",
    "compute_due",
    "deadlines_for",
    "end_of_day",
    "fixed_holidays",
    "open_deadline",
    "package_knows",
    "package_years",
    "recompute",
    "recompute_open_deadlines",
    "resolve_profile",
    "working_days_between",
    "working_due",
]
