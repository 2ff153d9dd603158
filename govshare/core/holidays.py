"""Reading a year's official holiday notice (国务院办公厅关于××年部分节假日安排的通知) from a file.

Two formats (UTF-8, a byte-order mark is allowed):

* CSV, one day a line: ``date,kind,name`` — ``kind`` is ``holiday`` (or ``休``) for a weekday off,
  ``workday`` (or ``班``) for a weekend day worked (调休).  A header line ``date,kind,name`` is
  optional; blank lines and lines starting with ``#`` are ignored::

      # 2027 holiday notice
      date,kind,name
      2027-01-01,holiday,元旦
      2027-02-20,班,春节

* JSON: ``{"year": 2027, "days": [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"}, …]}``

The notice lists exceptions only: a ``holiday`` must be a weekday and a ``workday`` a weekend day.
Every problem names the line and the field; :func:`parse_notice` checks the whole file and raises
:class:`NoticeError` (the first problem, with all of them in ``problems``), so nothing is stored
half-way.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed

#: a year has at most 366 lines; anything much bigger is not a holiday notice
MAX_NOTICE_BYTES = 256 * 1024
NAME_MAX = 50  # CalendarDay.name
MIN_YEAR, MAX_YEAR = 2000, 2199

KINDS = {"holiday": False, "休": False, "workday": True, "班": True}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CSV_HEADER = ("date", "kind", "name")


@dataclass(frozen=True)
class NoticeDay:
    date: dt.date
    is_workday: bool
    name: str
    line: int

    @property
    def kind(self) -> str:
        return "workday" if self.is_workday else "holiday"


@dataclass(frozen=True)
class Notice:
    year: int
    days: tuple[NoticeDay, ...]
    source_name: str
    sha256: str

    @property
    def holidays(self) -> list[NoticeDay]:
        return [d for d in self.days if not d.is_workday]

    @property
    def workdays(self) -> list[NoticeDay]:
        return [d for d in self.days if d.is_workday]


class NoticeError(ValidationFailed):
    """The first problem of a notice file; ``problems`` holds every problem found."""

    def __init__(self, problems: list[ValidationFailed]) -> None:
        first = problems[0]
        super().__init__(first.code, first.message, field=first.field, row=first.row, where=first.where,
                         **first.params)
        self.problems = problems

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        if len(self.problems) > 1:
            body["problems"] = [p.as_dict() for p in self.problems]
        return body


class _Collector:
    def __init__(self, where: str | None) -> None:
        self.where = where
        self.problems: list[ValidationFailed] = []

    def add(self, code: str, message: Any, *, line: int | None = None, field: str | None = None,
            **params: Any) -> None:
        self.problems.append(ValidationFailed(code, message, row=line, field=field, where=self.where, **params))

    def fail(self, code: str, message: Any, **kwargs: Any) -> NoticeError:
        self.add(code, message, **kwargs)
        return NoticeError(self.problems)


def check_year(year: Any) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed("invalid_year", _("The year must be between %(min)d and %(max)d."),
                               min=MIN_YEAR, max=MAX_YEAR, field="year")
    return year


def _decode(content: bytes, errors: _Collector) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        raise errors.fail("not_utf8", _("The file is not UTF-8 text (save it as UTF-8 and try again)."),
                          line=line) from None


def _looks_like_json(filename: str, text: str) -> bool:
    name = filename.lower()
    if name.endswith(".json"):
        return True
    if name.endswith((".csv", ".txt")):
        return False
    return text.lstrip().startswith("{")


def _check_day(errors: _Collector, year: int, line: int, raw_date: Any, raw_kind: Any, raw_name: Any,
               seen: dict[dt.date, int]) -> NoticeDay | None:
    ok = True
    day: dt.date | None = None
    text = raw_date.strip() if isinstance(raw_date, str) else raw_date
    if not isinstance(text, str) or not _ISO_DATE.match(text):
        errors.add("invalid_date", _("%(value)r is not a date in the form YYYY-MM-DD."), line=line, field="date",
                   value=raw_date)
        ok = False
    else:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            errors.add("invalid_date", _("%(value)s is not a valid calendar date."), line=line, field="date",
                       value=text)
            ok = False
    if day is not None:
        if day.year != year:
            errors.add("date_outside_year", _("%(date)s is not in the year %(year)d of this notice."), line=line,
                       field="date", date=day.isoformat(), year=year)
            ok = False
        elif day in seen:
            errors.add("duplicate_date", _("%(date)s is listed twice (first on line %(first)d)."), line=line,
                       field="date", date=day.isoformat(), first=seen[day])
            ok = False
        else:
            seen[day] = line
    kind = raw_kind.strip().lower() if isinstance(raw_kind, str) else raw_kind
    is_workday = KINDS.get(kind) if isinstance(kind, str) else None
    if is_workday is None:
        errors.add("invalid_kind", _("%(value)r is not a kind of day (use holiday/休 or workday/班)."), line=line,
                   field="kind", value=raw_kind)
        ok = False
    if raw_name is None:
        raw_name = ""
    if not isinstance(raw_name, str):
        errors.add("invalid_name", _("The name must be text."), line=line, field="name")
        ok = False
    elif len(raw_name.strip()) > NAME_MAX:
        errors.add("name_too_long", _("The name is longer than %(max)d characters."), line=line, field="name",
                   max=NAME_MAX)
        ok = False
    if ok and day is not None and is_workday is not None:
        weekend = day.weekday() >= 5
        if not is_workday and weekend:
            errors.add("holiday_on_weekend",
                       _("%(date)s is a Saturday or Sunday, a day off anyway: list only weekdays as holidays."),
                       line=line, field="kind", date=day.isoformat())
            return None
        if is_workday and not weekend:
            errors.add("workday_on_weekday",
                       _("%(date)s is a weekday, a working day anyway: list only weekend days as make-up "
                         "workdays."), line=line, field="kind", date=day.isoformat())
            return None
        return NoticeDay(day, is_workday, raw_name.strip(), line)
    return None


def _parse_csv(text: str, year: int, errors: _Collector) -> list[NoticeDay]:
    days: list[NoticeDay] = []
    seen: dict[dt.date, int] = {}
    header_done = False
    for line_no, line in enumerate(io.StringIO(text, newline=None), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            cells = next(csv.reader([stripped]))
        except csv.Error as exc:
            errors.add("invalid_csv", _("This line is not valid CSV (%(problem)s)."), line=line_no,
                       problem=str(exc))
            continue
        cells = [c.strip() for c in cells]
        if not header_done:
            header_done = True
            if cells[0].lower() in {"date", "日期"}:
                continue  # the optional header line
        if len(cells) not in (2, 3):
            errors.add("wrong_columns", _("Expected 2 or 3 columns (date,kind,name), found %(count)d."),
                       line=line_no, count=len(cells))
            continue
        found = _check_day(errors, year, line_no, cells[0], cells[1], cells[2] if len(cells) > 2 else "", seen)
        if found is not None:
            days.append(found)
    return days


def _item_lines(text: str) -> tuple[int | None, list[int]]:
    """Line numbers of the ``year`` key and of each element of ``days`` in a (valid) JSON notice."""
    decoder = json.JSONDecoder()
    n = len(text)

    def skip(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    year_line: int | None = None
    item_lines: list[int] = []
    i = skip(0)
    if i >= n or text[i] != "{":
        return None, []
    i += 1
    while True:
        i = skip(i)
        if i >= n or text[i] == "}":
            break
        key_at = i
        key, i = decoder.raw_decode(text, i)
        i = skip(i) + 1  # the colon
        i = skip(i)
        value_at = i
        value, i = decoder.raw_decode(text, i)
        if key == "year":
            year_line = line_of(key_at)
        elif key == "days" and isinstance(value, list):
            j = value_at + 1
            for _item in value:
                j = skip(j)
                item_lines.append(line_of(j))
                _ignored, j = decoder.raw_decode(text, j)
                j = skip(j)
                if j < n and text[j] == ",":
                    j += 1
        i = skip(i)
        if i < n and text[i] == ",":
            i += 1
    return year_line, item_lines


def _parse_json(text: str, year: int, errors: _Collector) -> list[NoticeDay]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.fail("invalid_json", _("Not valid JSON: %(problem)s."), line=exc.lineno, problem=exc.msg) from None
    if not isinstance(data, dict) or not isinstance(data.get("days"), list):
        raise errors.fail("invalid_notice", _("A JSON notice is an object {\"year\": …, \"days\": […]}."),
                          line=1, field="days")
    unknown = sorted(set(data) - {"year", "days", "title", "source", "note"})
    year_line, item_lines = _item_lines(text)
    if unknown:
        errors.add("unknown_key", _("Unknown key %(key)s."), line=1, field=unknown[0], key=unknown[0])
    if "year" in data and data["year"] != year:
        errors.add("year_mismatch", _("The file is for the year %(file_year)s, not %(year)d."),
                   line=year_line, field="year", file_year=data["year"], year=year)
    days: list[NoticeDay] = []
    seen: dict[dt.date, int] = {}
    for index, item in enumerate(data["days"]):
        line = item_lines[index] if index < len(item_lines) else None
        if not isinstance(item, dict):
            errors.add("invalid_day", _("Each day is an object {\"date\", \"kind\", \"name\"}."), line=line,
                       field=f"days[{index}]")
            continue
        extra = sorted(set(item) - {"date", "kind", "name"})
        if extra:
            errors.add("unknown_key", _("Unknown key %(key)s."), line=line, field=extra[0], key=extra[0])
            continue
        found = _check_day(errors, year, line or 0, item.get("date"), item.get("kind"), item.get("name"), seen)
        if found is not None:
            days.append(found)
    return days


def parse_notice(content: bytes, year: int, filename: str = "") -> Notice:
    """Validate and read a holiday notice file for ``year`` (all or nothing: raises :class:`NoticeError`)."""
    check_year(year)
    where = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or None
    errors = _Collector(where)
    if len(content) > MAX_NOTICE_BYTES:
        raise errors.fail("file_too_large", _("The file is larger than %(max)d KiB: a holiday notice is much "
                                              "smaller."), max=MAX_NOTICE_BYTES // 1024)
    text = _decode(content, errors)
    if "\x00" in text:
        raise errors.fail("not_text", _("The file is not a text file."), line=text[:text.index("\x00")].count("\n") + 1)
    days = _parse_json(text, year, errors) if _looks_like_json(filename, text) else _parse_csv(text, year, errors)
    if errors.problems:
        raise NoticeError(errors.problems)
    if not days:
        raise errors.fail("empty_notice", _("The file lists no days."))
    ordered = tuple(sorted(days, key=lambda d: d.date))
    return Notice(year=year, days=ordered, source_name=(where or "")[:200],
                  sha256=hashlib.sha256(content).hexdigest())


def render_csv(year: int, days: list[tuple[dt.date, bool, str]]) -> str:
    """A notice file for ``days`` (date, is_workday, name) — the format :func:`parse_notice` reads."""
    out = io.StringIO()
    out.write(f"# {year}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for day, is_workday, name in sorted(days):
        writer.writerow([day.isoformat(), "workday" if is_workday else "holiday", name])
    return out.getvalue()
