"""Full copy (存量数据一次性拷贝) of a bound table from a department's front-end database into the data resource
centre (EXC-1 table exchange; EXC-7 quality on the way in).  Django-free.

The source table is read in key order with keyset pagination — ``WHERE (k1, k2) > (…) ORDER BY k1, k2
LIMIT n``, each page its own statement under the source's statement timeout — so memory stays constant
whatever the table's size, and each page becomes one batch of :meth:`Store.apply`: its rows, the position
after its last key and its receipt are committed together.  Identifiers are quoted by the source's rules
(:meth:`_Reader.quote`), every value is a parameter.  A run stopped at any moment (``should_stop``, a worker
killed, a source that drops the connection, a full disk) is resumed by calling :func:`full_copy` again with
the same ``run_id``: it continues after the last committed batch and applies nothing twice.

Each value is converted to its item's type by :func:`convert`.  A value that cannot be converted is never cut
or dropped in silence: its row is not applied, and the row's key, the item and the reason go to the store's
quarantine and are counted in the receipt (``rejected``).  So are rows the key cannot place: a row whose key
is empty (NULL), and a row whose key repeats (the key chosen for a table without a declared primary key need
not be unique).  ``rows_read`` therefore always counts every row of the table.

Reasons are ``code: detail`` (codes: ``not_text``, ``nul_character``, ``too_long``, ``not_a_number``,
``not_finite``, ``too_many_digits``, ``not_whole``, ``out_of_range``, ``not_a_date``, ``no_such_date``,
``has_time``, ``not_a_datetime``, ``not_logical``, ``not_binary``, ``type``, ``empty_key``,
``duplicate_key``).

Hashes: a batch's ``read_hash`` combines (:func:`combine`) the :func:`row_hash` of the rows read *and
accepted*, as converted; rejected rows are counted and quarantined instead.  So after a full copy of an
unchanged source, the run's read hash (the receipts' read hashes merged) equals the store's
``summary().content_hash`` — the reconciliation of EXC-7.

Not done here: deletions at the source are not detected (rows absent from the source stay live in the
centre; the compare/reconcile mode finds them), and the pages are not one snapshot of the source (a row
changed during the copy is read as it is when its page is read; the incremental modes catch up).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import math
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from govshare.datastore.engine import typed
from govshare.datastore.engine.store import (
    BatchReceipt,
    Store,
    StoreColumn,
    combine,
    decimal_digits,
    merge,
    row_hash,
)
from govshare.exchange.engine import sources
from govshare.exchange.engine.rules import RuleSet
from govshare.exchange.engine.sources import SourceError, SourceSpec

#: most rows a batch may have
MAX_BATCH_ROWS = 100_000
#: most digits of an N or Y value without a length
MAX_DIGITS = 1000
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,6})?$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})-(\d{1,2})|/(\d{1,2})/(\d{1,2})|(\d{2})(\d{2})"
                   r"|年(\d{1,2})月(\d{1,2})日)$")
_DATE_START = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?=[ T]|$)")
_TRUE = frozenset({"1", "true", "t", "yes", "y", "是"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "否"})


@dataclass(frozen=True)
class CopyPlan:
    """What to copy: the source table, the source column of each item (in item order), the key columns (a
    subset of ``columns``, in key order), the store table."""

    source: SourceSpec
    schema: str
    table: str
    columns: tuple[str, ...]
    items: tuple[StoreColumn, ...]
    key: tuple[str, ...]
    target: str
    batch_rows: int = 5000
    #: the source's update-time column (watermark mode; may or may not feed an item)
    watermark: str = ""
    #: the provider's value rules per item (EXC-7): a row that breaks one is quarantined with the reason
    rules: RuleSet | None = None
    #: the share of a batch's rows that may be quarantined before the batch fails (1: never)
    reject_limit: float = 1.0
    #: the key is the table's declared primary key: no two rows share it, so pages need not count the rows
    #: beyond them with the last key (a query less per page; and on MariaDB's case-insensitive collations that
    #: count would take ``'X'`` for a second ``'x'``)
    key_unique: bool = False


class BatchRefused(Exception):
    """More of a batch's rows were quarantined than the plan allows (EXC-7 "a batch fails when they exceed a
    set share"): nothing of the batch was applied; the run stops here, the batches before it stay."""

    def __init__(self, batch: int, rows_read: int, rejected: int, limit: float,
                 reasons: list[tuple[str, str, str]]) -> None:
        super().__init__(f"batch {batch}: {rejected} of {rows_read} rows quarantined, more than {limit:.0%}")
        self.batch, self.rows_read, self.rejected, self.limit = batch, rows_read, rejected, limit
        self.reasons = reasons[:5]


#: the quarantine limit judges batches of at least this many rows (a last page of 3 rows with one bad row, or a
#: minute of log with one, is no sign of a broken source: its rows are quarantined and the copy goes on)
LIMIT_MIN_ROWS = 100


def _limit(plan: CopyPlan, batch: int, rows_read: int, accepted: int,
           rejects: list[tuple[str, str, str]]) -> None:
    rejected = rows_read - accepted
    if rejected and plan.reject_limit < 1 and rows_read >= LIMIT_MIN_ROWS and rejected > plan.reject_limit * rows_read:
        raise BatchRefused(batch, rows_read, rejected, plan.reject_limit, rejects)


@dataclass
class CopyResult:
    """The run's totals over all its committed batches (this call's and earlier ones'), from the receipts.
    ``resumed_from_batch``: the batches already committed when this call started; ``complete``: the whole
    table has been read (False: stopped by ``should_stop``)."""

    run_id: str
    batches: int
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    read_hash: str
    resumed_from_batch: int
    seconds: float
    complete: bool = False
    #: keys read by a key scan (phase "keys"), rows tombstoned (phase "deletes")
    keys_read: int = 0
    deleted: int = 0
    #: the update-time column's value the next incremental run starts from (encoded: :func:`encode_key`)
    watermark: list[list[Any]] | None = None


# -- values ------------------------------------------------------------------------------------------------

def _shown(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes) else str(value)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _reject(code: str, detail: str) -> ValueError:
    return ValueError(f"{code}: {detail}")


def _decoded(value: Any) -> Any:
    """Bytes of a text column (some MySQL collations) as text."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _reject("not_text", f"bytes that are not UTF-8 text: {_shown(value)}") from None
    return value


def _duration(value: dt.timedelta) -> str:
    """A MySQL TIME as the server shows it: ``[-]HH:MM:SS[.ffffff]`` (hours may pass 24)."""
    micros = abs(value) // dt.timedelta(microseconds=1)
    seconds, micro = divmod(micros, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    text += f".{micro:06d}" if micro else ""
    return "-" + text if value < dt.timedelta(0) else text


def _to_text(value: Any, column: StoreColumn) -> str:
    value = _decoded(value)
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise _reject("not_finite", _shown(value))
        text = format(value, "f")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _reject("not_finite", _shown(value))
        text = repr(value)
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    elif isinstance(value, dt.timedelta):
        text = _duration(value)
    elif isinstance(value, (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network,
                            ipaddress.IPv6Network, ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        text = str(value)
    elif isinstance(value, (dict, list)):  # PostgreSQL json / jsonb
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        raise _reject("type", f"a {type(value).__name__} value cannot be text")
    if "\x00" in text:
        raise _reject("nul_character", f"text with a NUL character: {_shown(text)}")
    if column.letter == "C" and column.length and len(text) > column.length:
        raise _reject("too_long", f"{len(text)} characters, at most {column.length}: {_shown(text)}")
    return text


def _to_decimal(value: Any, column: StoreColumn) -> Decimal:
    value = _decoded(value)
    if isinstance(value, bool):
        raise _reject("not_a_number", _shown(value))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _reject("not_finite", _shown(value))
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not _NUMBER.match(text):
            raise _reject("not_a_number", _shown(value))
        number = Decimal(text)
    else:
        raise _reject("not_a_number", f"a {type(value).__name__}: {_shown(value)}")
    if not number.is_finite():
        raise _reject("not_finite", _shown(value))
    if number:
        digits = decimal_digits(number)
        limit = column.length or MAX_DIGITS
        if digits > limit:
            raise _reject("too_many_digits", f"{digits} digits, at most {limit}: {_shown(value)}")
    return number


def _to_int(value: Any, column: StoreColumn) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            raise _reject("not_whole", _shown(value))
        exact = _to_decimal(value, StoreColumn(column.name, "N"))
        if exact != exact.to_integral_value():
            raise _reject("not_whole", _shown(value))
        number = int(exact)
    if not _INT_MIN <= number <= _INT_MAX:
        raise _reject("out_of_range", f"not a 64-bit integer: {_shown(value)}")
    return number


def _to_float(value: Any) -> float:
    value = _decoded(value)
    if isinstance(value, bool):
        raise _reject("not_a_number", _shown(value))
    if isinstance(value, float):
        number = value
    elif isinstance(value, (int, Decimal)):
        try:
            number = float(value)
        except OverflowError:
            raise _reject("out_of_range", _shown(value)) from None
    elif isinstance(value, str):
        text = value.strip()
        if not _NUMBER.match(text):
            raise _reject("not_a_number", _shown(value))
        number = float(text)
    else:
        raise _reject("not_a_number", f"a {type(value).__name__}: {_shown(value)}")
    if not math.isfinite(number):
        raise _reject("not_finite" if isinstance(value, float) else "out_of_range", _shown(value))
    return number if number else 0.0  # no negative zero


def _parse_date(text: str) -> dt.date | None:
    """A date written ``2024-01-31``, ``2024/1/31``, ``20240131`` or ``2024年1月31日``; None: not such a text;
    ``no_such_date`` when it names a day that does not exist."""
    match = _DATE.match(text)
    if not match:
        return None
    year = int(match.group(1))
    month, day = (int(part) for part in next(pair for pair in (match.group(2, 3), match.group(4, 5),
                                                                match.group(6, 7), match.group(8, 9))
                                              if pair[0] is not None))
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _reject("no_such_date", _shown(text)) from None


def _to_date(value: Any) -> dt.date:
    value = _decoded(value)
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise _reject("has_time", f"a date and time where a date is wanted: {_shown(value)}")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text[4] == text[7] == "-":
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(text)  # the usual form, fast
        parsed = _parse_date(text)
        if parsed is not None:
            return parsed
        if _DATE_START.match(text):  # a date with a time
            moment = _to_datetime(text)
            if moment.time() != dt.time(0):
                raise _reject("has_time", f"a date and time where a date is wanted: {_shown(value)}")
            return moment.date()
        raise _reject("not_a_date", _shown(value))
    raise _reject("not_a_date", f"a {type(value).__name__}: {_shown(value)}")


def _utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _to_datetime(value: Any) -> dt.datetime:
    value = _decoded(value)
    if isinstance(value, dt.datetime):
        return _utc_naive(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0))
    if isinstance(value, str):
        text = value.strip()
        parsed = _parse_date(text)
        if parsed is not None:
            return dt.datetime.combine(parsed, dt.time(0))
        start = _DATE_START.match(text)
        if start:
            try:
                day = dt.date(*(int(part) for part in start.groups()))
            except ValueError:
                raise _reject("no_such_date", _shown(value)) from None
            text = day.isoformat() + text[start.end():]
        try:
            return _utc_naive(dt.datetime.fromisoformat(text))
        except ValueError:
            raise _reject("not_a_datetime", _shown(value)) from None
    raise _reject("not_a_datetime", f"a {type(value).__name__}: {_shown(value)}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, bytes) and value in (b"\x00", b"\x01"):  # MySQL BIT(1)
        return value == b"\x01"
    value = _decoded(value)
    if isinstance(value, (int, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _reject("not_logical", f"not 0/1, true/false, 是/否: {_shown(value)}")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _reject("not_binary", f"a {type(value).__name__}: {_shown(value)}")


def convert(value: Any, column: StoreColumn) -> Any:
    """A source value as the store's value for the item's letter (see :mod:`govshare.datastore.engine.store`);
    ``ValueError("code: detail")`` when it cannot be done without changing the value: text into a number, a
    day that does not exist, a C value longer than the item's length (in characters), an N value with more
    digits than its length, a fraction into I, a time of day into D.  Nothing is ever truncated or rounded,
    except that B and F hold the nearest double.  Text dates: ``2024-01-31``, ``2024/1/31``, ``20240131``,
    ``2024年1月31日`` (T: also ISO 8601 with a time and a zone); an aware date and time becomes UTC."""
    if value is None:
        return None
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    letter = column.letter
    if letter in "CM":
        return _to_text(value, column)
    if letter in "NY":
        return _to_decimal(value, column)
    if letter == "I":
        return _to_int(value, column)
    if letter in "BF":
        return _to_float(value)
    if letter == "D":
        return _to_date(value)
    if letter == "T":
        return _to_datetime(value)
    if letter == "L":
        return _to_bool(value)
    if letter == "G":
        return _to_bytes(value)
    raise _reject("type", f"unknown data type {letter!r}")


# -- positions ---------------------------------------------------------------------------------------------

class NotUtf8(bytes):
    """A TEXT value of a SQLite source whose bytes are not UTF-8 (a file written by a GBK program, by a program that
    cut a character in half): its page is read again with such values as these bytes (:func:`_fetch`).  As a value
    it is quarantined (``not_text``, :func:`convert`); as a page's last key it is compared with the column as TEXT
    (``CAST(? AS TEXT)``: a BLOB parameter sorts after every TEXT value and would skip the rest of the table)."""

    __slots__ = ()


def _text_or_bytes(data: bytes) -> Any:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return NotUtf8(data)


#: what SQLite's module says of a TEXT value that is not UTF-8
_NOT_UTF8 = "Could not decode to UTF-8"


def encode_key(values: Sequence[Any]) -> list[list[Any]]:
    """Source key values as JSON, each with its type, so that :func:`decode_key` gives back the exact values
    (dates, decimals, bytes, aware times …) to compare the source's column with — the
    :mod:`govshare.datastore.engine.typed` form, without NULL (a key has no empty part); a SQLite TEXT key that is
    not UTF-8 as ``["not_utf8", hex]``."""
    encoded: list[list[Any]] = []
    for value in values:
        if isinstance(value, NotUtf8):
            encoded.append(["not_utf8", value.hex()])
            continue
        try:
            part = typed.encode([value])[0]
        except TypeError:
            part = None
        if part is None:
            raise SourceError("other", f"a key of type {type(value).__name__} cannot be a copy position")
        encoded.append(part)
    return encoded


def decode_key(encoded: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    return tuple(NotUtf8(bytes.fromhex(part[1])) if part and part[0] == "not_utf8" else typed.decode([part])[0]
                 for part in encoded)


def _key_text(values: Sequence[Any]) -> str:
    """A row's key as quarantine shows it: the value, or a JSON list of the values of a composite key."""
    texts = [value.hex() if isinstance(value, (bytes, bytearray, memoryview)) else str(value)
             for value in (bytes(v) if isinstance(v, memoryview) else v for v in values)]
    return texts[0] if len(texts) == 1 else json.dumps(texts, ensure_ascii=False)


# -- the source's statements -------------------------------------------------------------------------------

class _Reader:
    """The statements of a plan in the source's dialect: identifiers quoted by its rules (and ``%`` doubled
    where the driver formats parameters), every value a parameter."""

    def __init__(self, plan: CopyPlan, *, columns: Sequence[str] | None = None,
                 order: Sequence[str] | None = None, upper: Any = None, extra: str = "") -> None:
        """``columns``: what to select (the plan's columns); ``order``: the keyset's columns (the plan's key);
        ``upper``: an inclusive upper bound of the first order column (watermark mode); ``extra``: an expression
        selected after the columns (made by the caller from quoted names)."""
        kind = plan.source.kind
        self.kind = kind
        self.mark = "?" if kind == "sqlite" else "%s"
        selected = ", ".join([*(self.quote(c) for c in (plan.columns if columns is None else columns)),
                              *([extra] if extra else [])])
        table = self.quote(plan.table)
        if plan.schema:
            table = f"{self.quote(plan.schema)}.{table}"
        self.table = table
        self.keys = [self.quote(k) for k in (plan.key if order is None else order)]
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in self.keys)
        self.select = f"SELECT {selected} FROM {table} WHERE {not_null}"  # noqa: S608 — quoted names
        self.fixed: tuple[Any, ...] = ()
        if upper is not None:
            self.select += f" AND {self.keys[0]} <= {self._at(upper)}"
            self.fixed = (upper,)
        self.order = f" ORDER BY {', '.join(self.keys)} LIMIT {int(plan.batch_rows)}"
        plan_keys = [self.quote(k) for k in plan.key]
        self.count_key = (f"SELECT count(*) FROM {table} WHERE "  # noqa: S608 — quoted names
                          + " AND ".join(f"{k} = {self.mark}" for k in plan_keys))
        # MySQL/MariaDB: `d IS NULL` also matches the zero date of a NOT NULL DATE/DATETIME column (an ODBC
        # leftover), a row the pages read and quarantine: `<=> NULL` matches only NULL, and still uses the index
        empty = "{} <=> NULL" if self.kind == "mysql" else "{} IS NULL"
        self.count_empty = (f"SELECT count(*) FROM {table} WHERE "  # noqa: S608 — quoted names
                            + " OR ".join(empty.format(k) for k in plan_keys))

    def quote(self, name: str) -> str:
        """PostgreSQL: double quotes; MySQL and SQLite: backticks — SQLite reads a double-quoted name that
        matches no column as a string literal, so a dropped column would be read as its own name."""
        if not isinstance(name, str) or not name or "\x00" in name:
            raise SourceError("not_found", f"not a name: {name!r}")
        if self.kind == "sqlite":
            return "`" + name.replace("`", "``") + "`"
        if self.kind == "mysql":
            return ("`" + name.replace("`", "``") + "`").replace("%", "%%")
        return ('"' + name.replace('"', '""') + '"').replace("%", "%%")

    def _at(self, value: Any) -> str:
        """The placeholder of a value compared with a column: a SQLite TEXT value that is not UTF-8 as TEXT."""
        return f"CAST({self.mark} AS TEXT)" if isinstance(value, NotUtf8) else self.mark

    def page(self, after: tuple[Any, ...] | None, lower: Any = None, *,
             window: tuple[int, int] | None = None) -> tuple[str, tuple[Any, ...]]:
        """The next page after the key ``after`` (None: the first page — from ``lower`` on, inclusive, in
        the first order column when given); ``window`` (offset, rows): those rows of that page instead."""
        order = self.order if window is None else \
            f" ORDER BY {', '.join(self.keys)} LIMIT {int(window[1])} OFFSET {int(window[0])}"
        if after is None:
            if lower is not None:
                return f"{self.select} AND {self.keys[0]} >= {self._at(lower)}{order}", (*self.fixed, lower)
            return self.select + order, self.fixed
        if self.kind != "mysql":  # row values: PostgreSQL, SQLite ≥ 3.15 (both use the key's index)
            if len(self.keys) == 1:
                return f"{self.select} AND {self.keys[0]} > {self._at(after[0])}{order}", (*self.fixed, *after)
            row = ", ".join(self._at(value) for value in after)
            return (f"{self.select} AND ({', '.join(self.keys)}) > ({row}){order}",
                    (*self.fixed, *after))
        # MariaDB (10.11) reads the index from its start for a row-value comparison (measured: 10 105 index
        # reads for a page of 100 rows); it ranges over k1 >= a AND (k1 > a OR (k1 = a AND k2 > b)): 100 reads
        condition, params = f"{self.keys[-1]} > {self.mark}", [after[-1]]
        for key, value in zip(reversed(self.keys[:-1]), reversed(after[:-1]), strict=True):
            condition = f"({key} > {self.mark} OR ({key} = {self.mark} AND {condition}))"
            params = [value, value, *params]
        if len(self.keys) > 1:
            condition, params = f"{self.keys[0]} >= {self.mark} AND {condition}", [after[0], *params]
        return f"{self.select} AND {condition}{order}", (*self.fixed, *params)

    def by_keys(self, keys: Sequence[Sequence[Any]]) -> tuple[str, tuple[Any, ...]]:
        """The rows of these keys (source values, as a page gave them)."""
        match = " OR ".join("(" + " AND ".join(f"{k} = {self._at(v)}" for k, v in zip(self.keys, key, strict=True))
                            + ")" for key in keys)
        return f"{self.select} AND ({match})", (*self.fixed, *(v for key in keys for v in key))

    def highest(self, column: str, until: Any = None) -> tuple[str, tuple[Any, ...]]:
        """The largest value of ``column`` (the update-time column) in the table (not after ``until``)."""
        if until is None:
            return f"SELECT max({self.quote(column)}) FROM {self.table}", ()  # noqa: S608 — quoted names
        return (f"SELECT max({self.quote(column)}) FROM {self.table} "  # noqa: S608 — quoted names
                f"WHERE {self.quote(column)} <= {self.mark}", (until,))


#: how far ahead of the source's clock an update time may be before it is taken for a sentinel or a wrong clock
AHEAD = dt.timedelta(days=1)
_SOURCE_NOW = {"postgresql": "SELECT LOCALTIMESTAMP, now()", "mysql": "SELECT NOW(6), NULL",
               "sqlite": "SELECT datetime('now', 'localtime'), NULL"}


def _mark(conn: Any, plan: CopyPlan, reader: _Reader) -> Any:
    """Where a watermark run reads up to: the update-time column's largest value — but never a time still ahead
    of the source's own clock (a "never" sentinel such as 2099-12-31, a writer with a wrong clock): such a value
    would make every later run start after all real updates.  Rows with a time ahead are read once it has come.
    Numbers (row versions, epoch seconds) are taken as they are."""
    (highest,) = _fetch(conn, *reader.highest(plan.watermark))[0]
    if isinstance(highest, NotUtf8):  # (as TEXT it sorts after every real time: it would always be the mark)
        raise SourceError("other", f"the update-time column {plan.watermark} holds text that is not UTF-8 "
                                   f"({_shown(highest)}): no position can be kept after it — correct the source's "
                                   f"value, or copy the table in another mode")
    if highest is None or isinstance(highest, (bool, int, float, Decimal)):
        return highest
    local, aware = _fetch(conn, _SOURCE_NOW[plan.source.kind], ())[0]
    # "ahead" means more than a day ahead: a writer's time zone (naive times written in local time, a session in
    # another zone) is never taken for a wrong clock
    now: Any
    if isinstance(highest, dt.datetime):
        now = aware if highest.tzinfo is not None and aware is not None else local
        if isinstance(now, str):
            now = dt.datetime.fromisoformat(now)
        now = now + AHEAD
    elif isinstance(highest, dt.date):
        today = local.date() if isinstance(local, dt.datetime) else dt.date.fromisoformat(str(local)[:10])
        now = today + AHEAD
    elif isinstance(highest, str):  # text times (SQLite): written the way the column writes them
        moment = (local if isinstance(local, dt.datetime) else dt.datetime.fromisoformat(str(local))) + AHEAD
        text = moment.isoformat(sep=" ", timespec="seconds")
        now = text[:10] if len(highest.strip()) == 10 else text.replace(" ", "T") if "T" in highest else text
    else:
        return highest
    try:
        ahead = highest > now
    except TypeError:
        return highest
    if not ahead:
        return highest
    (capped,) = _fetch(conn, *reader.highest(plan.watermark, until=now))[0]
    return capped


def _fetch(conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of one statement.  A SQLite source's TEXT that is not UTF-8 fails the read in SQLite's module: the
    statement is read again with such values as :class:`NotUtf8` bytes (each then one quarantined row, not the end
    of the copy); only then, so that the usual read keeps the module's own decoding."""
    try:
        return _rows(conn, sql, params)
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith(_NOT_UTF8):
            raise
    conn.text_factory = _text_or_bytes
    try:
        return _rows(conn, sql, params)
    finally:
        conn.text_factory = str


def _rows(conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    cursor = conn.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


# -- the copy ----------------------------------------------------------------------------------------------

def _check(plan: CopyPlan) -> list[int]:
    """The key columns' positions; a plan that cannot be right is the caller's error (ValueError)."""
    if not plan.columns or len(plan.columns) != len(plan.items):
        raise ValueError("one source column per item")
    if len(set(plan.columns)) != len(plan.columns):
        raise ValueError("a source column feeds two items")
    if not plan.key or len(set(plan.key)) != len(plan.key) or any(k not in plan.columns for k in plan.key):
        raise ValueError("the key: distinct columns among the plan's columns")
    if isinstance(plan.batch_rows, bool) or not isinstance(plan.batch_rows, int) \
            or not 1 <= plan.batch_rows <= MAX_BATCH_ROWS:
        raise ValueError(f"batch_rows: 1 to {MAX_BATCH_ROWS}")
    return [plan.columns.index(k) for k in plan.key]


def phase_of(position: dict[str, Any] | None) -> str:
    """The phase a run's last committed batch belongs to: ``rows`` (reading rows: a full or incremental copy),
    ``keys`` (reading the source's keys: a key scan), ``deletes`` (tombstoning the rows the source no longer
    has); a run with no batch yet: ``""``."""
    return "" if position is None else str(position.get("phase", "rows"))


_PHASES = ("", "rows", "keys", "deletes")


def _result(store: Store, plan: CopyPlan, run_id: str, resumed: int, started: float,
            complete: bool) -> CopyResult:
    receipts = store.receipts(plan.target, run_id)
    rows = [r for r in receipts if phase_of(r.position) == "rows" or r.position.get("restore")]
    keys = [r for r in receipts if phase_of(r.position) == "keys" and not r.position.get("restore")]
    mark = receipts[-1].position.get("mark") if receipts else None
    return CopyResult(
        run_id=run_id, batches=len(receipts), rows_read=sum(r.rows_read for r in rows),
        inserted=sum(r.inserted for r in rows), updated=sum(r.updated for r in rows),
        unchanged=sum(r.unchanged for r in rows), rejected=sum(r.rejected for r in receipts),
        read_hash=merge(r.read_hash for r in rows), resumed_from_batch=resumed,
        seconds=round(time.monotonic() - started, 3), complete=complete,
        keys_read=sum(r.rows_read for r in keys), deleted=sum(r.deleted for r in receipts), watermark=mark)


def _elsewhere(receipt: BatchReceipt, sent: dict[str, Any], phase: str = "rows"
               ) -> tuple[bool, tuple[Any, ...] | None] | None:
    """None when ``receipt`` is this worker's batch.  Else another worker committed that batch first (this one
    was presumed dead and taken over): what it committed is the truth — (its phase is done, the key to go on
    after), never this page's."""
    if receipt.position == sent:
        return None
    if receipt.position.get("done") or phase_of(receipt.position) != phase:
        return True, None
    stored = receipt.position.get("after")
    return False, decode_key(stored) if stored is not None else None


def _convert_page(plan: CopyPlan, key_at: list[int], raw_rows: list[tuple[Any, ...]]
                  ) -> tuple[list[list[Any]], list[bytes], list[tuple[str, str, str]], list[list[Any]]]:
    """The page's rows converted, their hashes, the quarantine entries (row key, item, reason) of the rows
    that cannot be applied (a value that does not convert, a key already in the page), and the keys of those
    rows as converted, where their key converts (the source has these rows: they must not look deleted)."""
    accepted: list[list[Any]] = []
    hashes: list[bytes] = []
    rejects: list[tuple[str, str, str]] = []
    rejected_keys: list[list[Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for raw in raw_rows:
        values: list[Any] = []
        problems: list[tuple[str, str]] = []
        for item, value in zip(plan.items, raw, strict=False):
            try:
                values.append(convert(value, item))
            except ValueError as exc:
                values.append(_FAILED)
                problems.append((item.name, str(exc)))
        key = tuple(values[i] for i in key_at)
        if not problems and plan.rules is not None:
            problems.extend((plan.items[index].name, reason) for index, reason in plan.rules.check_row(values))
        if not problems:
            if key in seen:
                problems.append((_key_items(plan, key_at), "duplicate_key: the key of an earlier row"))
            seen.add(key)
        if problems:
            text = _key_text([raw[i] for i in key_at])
            rejects.extend((text, name, reason) for name, reason in problems)
            if not any(part is _FAILED or part is None for part in key):
                rejected_keys.append(list(key))
            continue
        accepted.append(values)
        hashes.append(row_hash(values))
    return accepted, hashes, rejects, rejected_keys


_FAILED = object()


def _key_items(plan: CopyPlan, key_at: list[int]) -> str:
    return ", ".join(plan.items[i].name for i in key_at)


def full_copy(plan: CopyPlan, store: Store, *, run_id: str,
              on_batch: Callable[[BatchReceipt], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> CopyResult:
    """Copy the whole source table into ``plan.target`` (created by ``ensure_table`` when missing), one
    committed batch per page of ``plan.batch_rows`` rows, resuming run ``run_id`` after its last committed
    batch.  ``on_batch`` is called with each receipt after its commit; ``should_stop`` before each page (True:
    return now, ``complete`` False; the next call resumes).  The last batch, committed once the table is
    read, also counts and quarantines the rows with an empty key; a run that has it is done (calling again
    changes nothing).  Every key read joins the run's key list, so that :func:`delete_unseen` then finds the
    rows the source no longer has.  With ``plan.watermark``, the column's largest value when the copy
    started is kept with every batch (``mark``) and returned as ``watermark``: where the next incremental run
    starts.  Errors: :class:`SourceError` from the source (unreachable, a column gone: as the source says
    it), :class:`StoreError` from the store; the committed batches stay."""
    started = time.monotonic()
    key_at = _check(plan)
    store.ensure_table(plan.target, plan.items, [plan.items[i].name for i in key_at])
    batch = resumed = store.last_batch(plan.target, run_id)
    position = store.position(plan.target, run_id) if batch else None
    if position and (position.get("done") or phase_of(position) != "rows"):
        return _result(store, plan, run_id, resumed, started, True)
    after = decode_key(position["after"]) if position and position.get("after") is not None else None
    reader = _Reader(plan)
    key_items = _key_items(plan, key_at)
    passed: set[str] = set()
    with sources.connect(plan.source) as conn:
        mark = position.get("mark") if position else None
        if plan.watermark and position is None:
            highest = _mark(conn, plan, reader)
            mark = None if highest is None else encode_key([highest])
        while True:
            if should_stop is not None and should_stop():
                return _result(store, plan, run_id, resumed, started, False)
            raw_rows = _fetch(conn, *reader.page(after))
            accepted, hashes, rejects, rejected_keys = _convert_page(plan, key_at, raw_rows)
            rows_read = len(raw_rows)
            full = len(raw_rows) == plan.batch_rows
            last = tuple(raw_rows[-1][i] for i in key_at) if raw_rows else after
            if full:
                moving_on(passed, last, plan)
            if full and last is not None and not plan.key_unique:
                # rows beyond the page with the same key as its last row would be skipped by the next page
                (same,) = _fetch(conn, reader.count_key, last)[0]
                surplus = int(same) - sum(1 for raw in raw_rows if tuple(raw[i] for i in key_at) == last)
                if surplus > 0:
                    rows_read += surplus
                    reason = f"duplicate_key: {surplus} more rows with this key (the key is not unique)"
                    rejects.append((_key_text(last), key_items, reason))
            if not full:
                (empty,) = _fetch(conn, reader.count_empty, ())[0]
                if empty:
                    rows_read += int(empty)
                    rejects.append(("", key_items, f"empty_key: {empty} rows without a value in the key"))
            batch += 1
            _limit(plan, batch, rows_read, len(accepted), rejects)
            sent = {"phase": "rows", "after": None if last is None else encode_key(last), "done": not full,
                    "mark": mark}
            receipt = store.apply(plan.target, accepted, run_id=run_id, batch=batch, position=sent,
                                  rows_read=rows_read, read_hash=combine(hashes), rejects=rejects,
                                  seen=rejected_keys, hashes=hashes)
            taken = _elsewhere(receipt, sent)
            if taken is not None:
                if taken[0]:
                    return _result(store, plan, run_id, resumed, started, True)
                after, mark = taken[1], receipt.position.get("mark")
                continue
            if on_batch is not None:
                on_batch(receipt)
            if not full:
                return _result(store, plan, run_id, resumed, started, True)
            after = last


def moving_on(passed: set[str], last: Any, plan: CopyPlan) -> None:
    """A full page ends at ``last``: keyset pages only move forward, so a position met before means the key does
    not come back from the source as it is stored (a character the connection's character set cannot show, read
    as "?") and the next page would start over — for ever.  The source's error, naming the key."""
    seen = json.dumps(encode_key(last), sort_keys=True)
    if seen in passed:
        raise SourceError("protocol", f"the key {_key_text(last)} of {plan.table} does not come back from the source "
                                      "as it is stored (a character its character set cannot show?): the table "
                                      "cannot be read page by page in key order")
    passed.add(seen)


def estimate_rows(plan: CopyPlan) -> int | None:
    """About how many rows the source table has, cheaply (for a progress bar's total and its ETA):
    PostgreSQL's planner estimate, MySQL's ``TABLE_ROWS``, SQLite's count; None when the source cannot say
    (a view, a table never analysed)."""
    reader = _Reader(plan)
    with sources.connect(plan.source) as conn:
        if plan.source.kind == "postgresql":
            rows = _fetch(conn, "SELECT c.reltuples FROM pg_catalog.pg_class c WHERE c.oid = to_regclass(%s) "
                                "AND c.relkind IN ('r', 'p', 'm')", (reader.table.replace("%%", "%"),))
        elif plan.source.kind == "mysql":
            rows = _fetch(conn, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                                "AND TABLE_NAME = %s AND TABLE_TYPE = 'BASE TABLE'",
                          (plan.schema or plan.source.database, plan.table))
        else:
            rows = _fetch(conn, f"SELECT count(*) FROM {reader.table}", ())  # noqa: S608 — a quoted name
    if not rows or rows[0][0] is None or float(rows[0][0]) < 0:
        return None
    return int(rows[0][0])


# ------------------------------------------------------------------ incremental: watermark (issue 10 item 5)

def earlier(value: Any, seconds: int) -> Any:
    """An update-time value moved ``seconds`` back (the overlap window), in the value's own type and
    precision: a date and time (aware or not) by the seconds; a date by whole days (at least one: a column
    that keeps days only is read again from the day before); a number (epoch seconds, a row version) by the
    number; a text time (SQLite keeps them as text) parsed and written back the way it was written."""
    if seconds <= 0:
        return value
    if isinstance(value, dt.datetime):
        return value - dt.timedelta(seconds=seconds)
    if isinstance(value, dt.date):
        return value - dt.timedelta(days=max(1, math.ceil(seconds / 86400)))
    if isinstance(value, bool):
        raise SourceError("other", "a yes/no column cannot be an update time")
    if isinstance(value, (int, Decimal)):
        return value - seconds
    if isinstance(value, float):
        return value - float(seconds)
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise SourceError("other", f"the update time {_shown(value)} is not a date and time") from None
        moment -= dt.timedelta(seconds=seconds)
        if len(text) == 10:  # a date only
            return moment.date().isoformat()
        written = moment.isoformat(sep="T" if "T" in text else " ")
        fraction = re.search(r"\.(\d+)", text)
        digits = len(fraction.group(1)) if fraction else 0
        main = written.split(".")[0].split("+")[0]
        if moment.tzinfo is not None:
            main = main[:19]
        zone = text[len(text) - 6:] if moment.tzinfo is not None and text[-6] in "+-" else \
            ("Z" if text.endswith("Z") else "")
        return main[:19] + (f".{moment.microsecond:06d}"[:digits + 1] if digits else "") + zone
    raise SourceError("other", f"a {type(value).__name__} column cannot be an update time")


def watermark_order(plan: CopyPlan) -> tuple[list[str], tuple[str, ...], int]:
    """A watermark run's reads: (the columns it reads — the plan's, and the update time when it is not an item;
    the order of its pages — update time, then key; the update time's place among the columns)."""
    columns = list(plan.columns)
    if plan.watermark not in columns:
        columns.append(plan.watermark)
    order = (plan.watermark, *[k for k in plan.key if k != plan.watermark])
    return columns, order, columns.index(plan.watermark)


def watermark_bounds(conn: Any, plan: CopyPlan, store: Store, *, run_id: str, batch: int,
                     position: dict[str, Any] | None, since: list[list[Any]] | None,
                     overlap_seconds: int) -> tuple[Any, Any]:
    """A watermark run's bounds (mark — encoded, None when no row has an update time; lower — as the source gives
    it, None: from the first row): a new run's from the source (its column's largest value now) and ``since``
    minus the overlap, a resumed run's from its committed ``position``.  A new run without a mark commits its one
    empty batch here (nothing to read; the watermark stays at ``since``)."""
    if position is not None:
        lower = None if position.get("lower") is None else decode_key(position["lower"])[0]
        return position.get("mark"), lower
    highest = _mark(conn, plan, _Reader(plan))
    if highest is None:
        store.apply(plan.target, [], run_id=run_id, batch=batch + 1, rows_read=0, read_hash=combine(()),
                    position={"phase": "rows", "after": None, "done": True, "mark": since}, remember=False)
        return None, None
    return encode_key([highest]), None if since is None else earlier(decode_key(since)[0], overlap_seconds)


def watermark_copy(plan: CopyPlan, store: Store, *, run_id: str, since: list[list[Any]] | None,
                   overlap_seconds: int, on_batch: Callable[[BatchReceipt], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> CopyResult:
    """Copy the rows changed since ``since`` (the update-time column's value where the last run ended, as
    :func:`encode_key` wrote it; None: all rows) — "增量数据动态更新" by an update-time column.

    The position is the (update time, key) pair at the column's own precision (the values as the source gives
    them, compared by the source): pages are read in that order, so rows sharing one update time are never
    skipped or read twice within a run.  The run reads from ``since`` minus the overlap window (rows written
    by transactions that committed late, clocks that differ between the source's writers) up to the column's
    largest value when the run started (a table changed all the time still ends its run); the rows read again
    from the overlap are unchanged and not rewritten.  That largest value is the run's ``watermark``: the next
    run starts there.  Rows without an update time are never read by this mode (a full copy reads them).
    Deletions are not seen here (:func:`key_scan`, :func:`delete_unseen`).  Resumes after the last committed
    batch like :func:`full_copy`; a row changed again during the run is read again and its later read wins."""
    started = time.monotonic()
    key_at = _check(plan)
    if not plan.watermark:
        raise ValueError("a watermark copy needs the plan's update-time column")
    store.ensure_table(plan.target, plan.items, [plan.items[i].name for i in key_at])
    batch = resumed = store.last_batch(plan.target, run_id)
    position = store.position(plan.target, run_id) if batch else None
    if position and (position.get("done") or phase_of(position) != "rows"):
        return _result(store, plan, run_id, resumed, started, True)
    columns, order, at = watermark_order(plan)
    order_at = [columns.index(name) for name in order]
    with sources.connect(plan.source) as conn:
        mark, lower = watermark_bounds(conn, plan, store, run_id=run_id, batch=batch, position=position,
                                       since=since, overlap_seconds=overlap_seconds)
        if mark is None:
            return _result(store, plan, run_id, resumed, started, True)
        after = decode_key(position["after"]) if position and position.get("after") is not None else None
        reader = _Reader(plan, columns=columns, order=order, upper=decode_key(mark)[0])
        while True:
            if should_stop is not None and should_stop():
                return _result(store, plan, run_id, resumed, started, False)
            raw_rows = _fetch(conn, *reader.page(after, lower=lower))
            accepted, hashes, rejects, _keys = _convert_page(plan, key_at, raw_rows)
            full = len(raw_rows) == plan.batch_rows
            last = tuple(raw_rows[-1][i] for i in order_at) if raw_rows else after
            batch += 1
            _limit(plan, batch, len(raw_rows), len(accepted), rejects)
            sent = {"phase": "rows", "after": None if last is None else encode_key(last), "done": not full,
                    "mark": mark, "lower": None if lower is None else encode_key([lower]), "update_at": at}
            receipt = store.apply(plan.target, accepted, run_id=run_id, batch=batch, position=sent,
                                  rows_read=len(raw_rows), read_hash=combine(hashes), rejects=rejects,
                                  remember=False, hashes=hashes)
            taken = _elsewhere(receipt, sent)
            if taken is not None:
                if taken[0]:
                    return _result(store, plan, run_id, resumed, started, True)
                after = taken[1]
                continue
            if on_batch is not None:
                on_batch(receipt)
            if not full:
                return _result(store, plan, run_id, resumed, started, True)
            after = last


# ------------------------------------------------------------------ deletions (issue 10 item 5)

def key_scan(plan: CopyPlan, store: Store, *, run_id: str, on_batch: Callable[[BatchReceipt], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> CopyResult:
    """Read every key of the source table (the key columns only, in keyed pages) into the run's key list —
    the scheduled key reconciliation of watermark mode, after which :func:`delete_unseen` finds the rows the
    source no longer has.  Phase ``keys``, after the run's ``rows`` phase; resumable like the copies.  A key
    that does not convert is quarantined (its row cannot be in the centre)."""
    started = time.monotonic()
    key_at = _check(plan)
    done, batch, after, mark = _keys_resume(plan, store, run_id)
    resumed = batch
    if done:
        return _result(store, plan, run_id, resumed, started, True)
    key_items = [plan.items[i] for i in key_at]
    reader = _Reader(plan, columns=plan.key)
    with sources.connect(plan.source) as conn:
        while True:
            if should_stop is not None and should_stop():
                return _result(store, plan, run_id, resumed, started, False)
            raw_keys = _fetch(conn, *reader.page(after))
            keys: list[list[Any]] = []
            rejects: list[tuple[str, str, str]] = []
            raw_of: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # converted key → the key as the source gave it
            for raw in raw_keys:
                try:
                    key = [convert(value, item) for item, value in zip(key_items, raw, strict=True)]
                except ValueError as exc:
                    rejects.append((_key_text(list(raw)), _key_items(plan, key_at), str(exc)))
                    continue
                keys.append(key)
                raw_of[tuple(key)] = tuple(raw)
            full = len(raw_keys) == plan.batch_rows
            last = tuple(raw_keys[-1]) if raw_keys else after
            # keys the source has and the centre has not (live): rows the incremental reads missed — committed
            # later than the overlap window allowed, restored at the source with old update times, without an
            # update time — read again by key and applied, before the keys are remembered (a crash between the
            # two reads this page again: the restored rows are then unchanged)
            present = store.live_keys(plan.target, keys) if keys else set()
            absent = [raw for key, raw in raw_of.items() if key not in present]
            read = len(raw_keys)

            def listed(number: int, sent: dict[str, Any], keys: list[list[Any]] = keys, read: int = read,
                       rejects: list[tuple[str, str, str]] = rejects) -> BatchReceipt:
                return store.remember(plan.target, keys, run_id=run_id, batch=number, position=sent, rows_read=read,
                                      rejects=rejects)

            done, batch, after = _key_page(
                plan, store, conn, absent, listed,
                run_id=run_id, batch=batch, after=after, last=last, full=full, mark=mark, on_batch=on_batch)
            if done:
                return _result(store, plan, run_id, resumed, started, True)


def _keys_resume(plan: CopyPlan, store: Store, run_id: str) -> tuple[bool, int, tuple[Any, ...] | None, Any]:
    """Where a key check (:func:`key_scan`, ``fastcopy.fast_key_scan``) of this run stands: (done — its keys are
    all listed, or its deletes begun; the last committed batch; the key to go on after; the run's mark)."""
    batch = store.last_batch(plan.target, run_id)
    position = store.position(plan.target, run_id) if batch else None
    phase = phase_of(position)
    done = phase == "deletes" or (phase == "keys" and bool(position and position.get("done")))
    after = decode_key(position["after"]) if phase == "keys" and position and position.get("after") is not None \
        else None
    return done, batch, after, position.get("mark") if position else None


def _key_page(plan: CopyPlan, store: Store, conn: Any, absent: Sequence[Sequence[Any]],
              remember: Callable[[int, dict[str, Any]], BatchReceipt], *, run_id: str, batch: int,
              after: tuple[Any, ...] | None, last: tuple[Any, ...] | None, full: bool, mark: Any,
              on_batch: Callable[[BatchReceipt], None] | None) -> tuple[bool, int, tuple[Any, ...] | None]:
    """The commits of one page of a key check (:func:`key_scan`, ``fastcopy.fast_key_scan``): the rows the centre
    lacks restored (:func:`_restore`), then the page's keys listed (``remember(batch, position)``).  Returns (done:
    the check is over — its last page, or another worker finished it; the last batch number; the key to go on
    after — another worker's, when it committed one of these batches first)."""
    if absent:
        batch += 1
        receipt, restore = _restore(plan, store, conn, absent, run_id=run_id, batch=batch, after=after, mark=mark)
        taken = _elsewhere(receipt, restore, "keys")
        if taken is not None:
            return taken[0], batch, taken[1]
        if on_batch is not None:
            on_batch(receipt)
    batch += 1
    sent = {"phase": "keys", "after": None if last is None else encode_key(last), "done": not full, "mark": mark}
    receipt = remember(batch, sent)
    taken = _elsewhere(receipt, sent, "keys")
    if taken is not None:
        return taken[0], batch, taken[1]
    if on_batch is not None:
        on_batch(receipt)
    return not full, batch, last


def _restore(plan: CopyPlan, store: Store, conn: Any, absent: Sequence[Sequence[Any]], *, run_id: str, batch: int,
             after: tuple[Any, ...] | None, mark: Any,
             tag: dict[str, Any] | None = None) -> tuple[BatchReceipt, dict[str, Any]]:
    """A key check's batch of the rows whose keys the source has and the centre has not (``absent``, source
    values): read again by key and applied, before the page's keys are listed.  (receipt, position sent);
    ``tag``: more of the position, telling this check's batch from another's (a check by ranges)."""
    reader = _Reader(plan)
    rows = [row for start in range(0, len(absent), 200)
            for row in _fetch(conn, *reader.by_keys(absent[start:start + 200]))]
    key_at = _check(plan)
    accepted, hashes, rejects, _seen = _convert_page(plan, key_at, rows)
    restore = {"phase": "keys", "after": None if after is None else encode_key(after), "done": False,
               "mark": mark, "restore": True, **(tag or {})}
    receipt = store.apply(plan.target, accepted, run_id=run_id, batch=batch, position=restore, rows_read=len(rows),
                          read_hash=combine(hashes), rejects=rejects, remember=False, hashes=hashes)
    return receipt, restore


@dataclass
class Deletions:
    """The rows of the centre's table that the run did not find at the source (``pending``, of ``live`` live
    rows), how many it tombstoned, and whether the mass-delete guard held them back for a person to
    confirm."""

    pending: int
    live: int
    deleted: int
    held: bool

    @property
    def share(self) -> float:
        return self.pending / self.live if self.live else 0.0


#: how many keys of the rows held deletions would remove are shown to the provider's staff (runs, uploads)
GUARD_SAMPLE = 20


def guard_holds(pending: int, live: int, guard_share: float, confirmed: int | None) -> bool:
    """The mass-delete guard's rule: ``pending`` deletions of a table of ``live`` rows wait for a person when they are
    more than ``guard_share`` of it and more than the number a person confirmed (``confirmed``, None: none)."""
    return bool(pending) and pending > guard_share * live and (confirmed is None or pending > confirmed)


def delete_unseen(plan: CopyPlan, store: Store, *, run_id: str, guard_share: float, confirmed: int | None = None,
                  on_batch: Callable[[BatchReceipt], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Deletions:
    """Tombstone the live rows whose key the run did not read — after a run has read every key of its source
    (a full copy, or a key scan): the rows the source no longer has.  **Mass-delete guard**: when they are
    more than ``guard_share`` of the table's live rows (a half-read source, a table emptied by mistake, looks
    like a mass delete), nothing is deleted and the result says ``held``, until a person confirms: called again
    with ``confirmed`` = the number they saw, it deletes as long as there are no more than that.  Phase
    ``deletes``, batches of ``plan.batch_rows`` keys, each committed with its tombstones; resumable (a resumed
    run that had begun deleting goes on without asking again)."""
    if not 0 < guard_share <= 1:
        raise ValueError("guard_share: more than 0, at most 1")
    batch = store.last_batch(plan.target, run_id)
    position = store.position(plan.target, run_id) if batch else None
    mark = position.get("mark") if position else None
    pending, live = store.count_unseen(plan.target, run_id)
    begun = phase_of(position) == "deletes"
    deleted = sum(r.deleted for r in store.receipts(plan.target, run_id)) if begun else 0
    if begun and position and position.get("done"):
        return Deletions(pending + deleted, live + deleted, deleted, False)
    if not begun and guard_holds(pending, live, guard_share, confirmed):
        return Deletions(pending, live, 0, True)
    while True:
        if should_stop is not None and should_stop():
            return Deletions(pending, live, deleted, False)
        keys = store.unseen(plan.target, run_id, plan.batch_rows)
        batch += 1
        sent = {"phase": "deletes", "done": len(keys) < plan.batch_rows, "mark": mark}
        receipt = store.tombstone(plan.target, keys, run_id=run_id, batch=batch, position=sent)
        deleted += receipt.deleted
        if on_batch is not None and receipt.position == sent:
            on_batch(receipt)
        if receipt.position.get("done"):
            return Deletions(pending, live, deleted, False)


# ------------------------------------------------------------------ reconciliation (issue 10 item 7)

BUCKETS = 256
DETAIL_LIMIT = 100


@dataclass
class Reconciliation:
    """Source and centre compared (EXC-7): counts and order-independent content hashes of the rows the source
    holds as the centre would store them (``source_*``; values that cannot be stored are counted in
    ``source_unstorable``, they are never in the centre) and of the centre's live rows.  When they differ,
    the differing keys, up to :data:`DETAIL_LIMIT` of each kind."""

    source_rows: int
    source_hash: str
    source_unstorable: int
    centre_rows: int
    centre_hash: str
    missing_in_centre: list[str]  # keys the source has and the centre has not
    extra_in_centre: list[str]  # keys the centre has (live) and the source has not
    different: list[str]  # keys both have, with other values
    buckets_differing: int
    seconds: float

    @property
    def equal(self) -> bool:
        return self.source_rows == self.centre_rows and self.source_hash == self.centre_hash


def _bucket(key: tuple[Any, ...]) -> int:
    return row_hash(key)[0] % BUCKETS


def _source_rows(plan: CopyPlan, key_at: list[int]) -> Iterator[tuple[tuple[Any, ...] | None, bytes | None]]:
    """(key, row hash) of each source row as the centre would store it; (None, None) for one it cannot."""
    reader = _Reader(plan)
    after: tuple[Any, ...] | None = None
    with sources.connect(plan.source) as conn:
        while True:
            raw_rows = _fetch(conn, *reader.page(after))
            for raw in raw_rows:
                try:
                    values = [convert(value, item) for item, value in zip(plan.items, raw, strict=True)]
                except ValueError:
                    yield None, None
                    continue
                if plan.rules is not None and plan.rules.check_row(values):  # quarantined by a value rule
                    yield None, None
                    continue
                yield tuple(values[i] for i in key_at), row_hash(values)
            if len(raw_rows) < plan.batch_rows:
                return
            after = tuple(raw_rows[-1][i] for i in key_at)


def _centre_rows(store: Store, table: str, key_at: list[int], width: int
                 ) -> Iterator[tuple[tuple[Any, ...], bytes]]:
    seq = 0
    while True:
        rows = store.changes_since(table, seq, 10_000)
        for row in rows:
            values, deleted = row[:width], row[width + 1]
            if not deleted:
                yield tuple(values[i] for i in key_at), row_hash(values)
        if len(rows) < 10_000:
            return
        seq = int(rows[-1][width])


def _hex(total: int) -> str:
    """An order-independent hash as :func:`combine` writes it (a sum of row hashes modulo 2**128)."""
    return f"{total % (1 << 128):032x}"


def reconcile(plan: CopyPlan, store: Store) -> Reconciliation:
    """Read the source table and the centre's copy and compare them: per hash bucket of the key first (constant
    memory: a count and a running sum per bucket), then, for the buckets that differ only, key by key.
    Nothing is written."""
    started = time.monotonic()
    key_at = _check(plan)
    width = len(plan.items)
    source_count, source_sum, unstorable = [0] * BUCKETS, [0] * BUCKETS, 0
    for key, digest in _source_rows(plan, key_at):
        if key is None or digest is None:
            unstorable += 1
            continue
        bucket = _bucket(key)
        source_count[bucket] += 1
        source_sum[bucket] += int.from_bytes(digest, "big")
    centre_count, centre_sum = [0] * BUCKETS, [0] * BUCKETS
    for key, digest in _centre_rows(store, plan.target, key_at, width):
        bucket = _bucket(key)
        centre_count[bucket] += 1
        centre_sum[bucket] += int.from_bytes(digest, "big")
    differing = {b for b in range(BUCKETS) if source_count[b] != centre_count[b]
                 or _hex(source_sum[b]) != _hex(centre_sum[b])}
    found: dict[str, list[str]] = {"missing": [], "extra": [], "different": []}
    if differing:  # second pass, only the rows of the differing buckets kept
        here = {key: digest for key, digest in _source_rows(plan, key_at)
                if key is not None and digest is not None and _bucket(key) in differing}
        there = {key: digest for key, digest in _centre_rows(store, plan.target, key_at, width)
                 if _bucket(key) in differing}
        for key in sorted(set(here) | set(there), key=_sortable):
            kind = "missing" if key not in there else "extra" if key not in here else \
                "different" if here[key] != there[key] else ""
            if kind and len(found[kind]) < DETAIL_LIMIT:
                found[kind].append(_key_text(list(key)))
    return Reconciliation(sum(source_count), _hex(sum(source_sum)), unstorable, sum(centre_count),
                          _hex(sum(centre_sum)), found["missing"], found["extra"], found["different"],
                          len(differing), time.monotonic() - started)


def _sortable(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in key)
