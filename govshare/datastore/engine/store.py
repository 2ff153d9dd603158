"""The centre's copy of every shared table (数据资源中心; EXC-1 table exchange, EXC-7 quality).  Django-free.

One table per bound catalog entry in the centre's own database (``GOVSHARE_DATASTORE_URL``: a SQLite file or a
PostgreSQL database, never the platform's metadata database).  Each information item is a typed column
``c1`` … ``cN`` in item order; the items' names (Chinese, anything) are kept in ``_gs_tables`` and never put
into SQL.  System columns of every row:

* ``_seq`` — the change sequence number of the row's last change (insert, update, tombstone, revival): one
  counter per table (``_gs_tables.last_seq``), gap-free, unique (indexed).  Writers of a table are serialised
  (PostgreSQL: the table's ``_gs_tables`` row is locked; SQLite: ``BEGIN IMMEDIATE``), so numbers are
  assigned in commit order: a consumer that has read everything up to ``_seq`` = n never later finds a
  committed change numbered n or less.  Every later channel resumes from its own position with
  :meth:`Store.changes_since`, no per-consumer log.
* ``_deleted`` — the tombstone of a row deleted at the source (the row keeps its last values).
* ``_hash`` — :func:`row_hash` of the row's values: a row whose hash is unchanged is not rewritten.
* ``_run`` — the run that last changed the row.
* ``_bucket`` — the hash bucket of the row's key at its source, as the last compare run that read the row found it
  (:mod:`govshare.exchange.engine.compare`; NULL when no compare run has read it).  Setting it is not a change:
  no new ``_seq``.  Added to tables made before it existed by :meth:`Store.ensure_table`.

Each batch is one transaction: its rows, its receipt (``_gs_receipts``: counts, hashes, the source position to
resume from) and its quarantined values (``_gs_quarantine``).  A batch number already committed for a run is a
no-op that returns the stored receipt: a run killed at any moment resumes from its last committed batch and
applies nothing twice.  Batches of a run are numbered 1, 2, 3 … without gaps.

Types of the guide's letters (目录编制指南) and what :meth:`Store.apply` takes for them:

======  ======================  =====================================  ===================================
letter  PostgreSQL              SQLite                                 Python value
======  ======================  =====================================  ===================================
C, M    TEXT                    TEXT                                   ``str`` (no NUL character; C's
                                                                       length is checked by the copy)
N, Y    NUMERIC                 TEXT (canonical decimal: ``1.5``)      ``Decimal`` (finite)
I       BIGINT                  INTEGER                                ``int`` (64-bit)
B, F    DOUBLE PRECISION        REAL                                   ``float`` (finite)
D       DATE                    TEXT ``YYYY-MM-DD``                    ``date``
T       TIMESTAMP               TEXT ``YYYY-MM-DD HH:MM:SS[.ffffff]``  ``datetime`` (an aware one is
                                                                       stored in UTC, without zone)
L       BOOLEAN                 INTEGER 0/1                            ``bool``
G       BYTEA                   BLOB                                   ``bytes``
======  ======================  =====================================  ===================================

SQLite keeps N and Y as text because its NUMERIC affinity would round them to doubles.  ``None`` is NULL
everywhere; key items may not be NULL.

Hashes: :func:`row_hash` is SHA-256 over a type-tagged, length-prefixed encoding of each value, its first 16
bytes; :func:`combine` adds row hashes modulo 2**128 (order-independent), :func:`merge` adds such sums.  A
batch's ``written_hash`` combines the rows it inserted or updated (or tombstoned); ``read_hash`` is the
caller's.  :meth:`Store.summary` combines the live rows: for an unchanged source it equals the read hash of a
full read.

How a batch is written: its rows go into a temporary table (PostgreSQL: COPY; SQLite: ``executemany``), one
join with the table finds the new, changed and tombstoned ones (exact counts: writers are serialised), one
``INSERT … SELECT … ON CONFLICT DO UPDATE`` writes just those with their sequence numbers.  A run whose first batch
finds the table empty (the first copy of a table: a *fresh* run, ``_gs_fresh_runs``) skips the join and the key
list: each batch is one plain ``INSERT … SELECT`` (a key it wrote before trips the primary key, and only then is
the batch looked at row by row).  Measured with
5 000-row batches of 6 items, 100 000 rows, on a 2-core machine, hashing included: PostgreSQL with COPY
≈ 41 000 rows/s inserted (≈ 37 000 updated, ≈ 54 000 unchanged), with ``executemany`` into the temporary
table ≈ 28 000 rows/s — so COPY; SQLite ≈ 53 000 rows/s inserted.

Not thread-safe: one :class:`Store` per thread or process.  Every failure is a :class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict

T = TypeVar("T")

LETTERS = "CNYDTLMGBIF"
CODES = ("unavailable", "shape_changed", "full", "busy", "other")
#: a store table name (chosen by the caller, e.g. ``e_102001_000001``)
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: most items a table may have (PostgreSQL allows 1 600 columns)
MAX_ITEMS = 1000
HASH_BYTES = 16
_MODULUS = 1 << (8 * HASH_BYTES)
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
APPLICATION_NAME = "govshare-datastore"
#: the advisory lock that serialises creating tables on PostgreSQL
_PG_DDL_LOCK = 8_410_001
#: a rebuild's DROP TABLE on PostgreSQL: each try waits this long for the table's readers (new readers queue behind a
#: waiting DROP), then pauses, for at most REBUILD_LOCK_WAIT seconds in all
LOCK_TRY = 0.5
LOCK_PAUSE = 1.0
REBUILD_LOCK_WAIT = 600.0
#: the most bytes an entry of a query index (an item, then the key) may need: a PostgreSQL B-tree entry holds
#: at most ~2 700 bytes, and a longer one makes the write of its row fail (govshare.datastore.engine.indexes)
QUERY_INDEX_MAX_BYTES = 2600


def query_index_prefix(table: str) -> str:
    """The names of ``table``'s query indexes start with this (``gsq_<12 hex digits of the name>_``)."""
    return f"gsq_{hashlib.sha256(table.encode()).hexdigest()[:12]}_"


def _most_bytes(column: StoreColumn) -> int | None:
    """The most bytes a value of ``column`` takes in an index entry (None: no bound)."""
    if column.letter in "CM":
        return 4 * column.length if column.length else None  # UTF-8: at most 4 bytes a character
    if column.letter in "NY":
        return (column.length or 1000) // 2 + 10  # PostgreSQL numeric: two digits a byte, and a header
    if column.letter == "G":
        return None
    return 8  # I D T L


def query_index_problem(column: StoreColumn, columns: Sequence[StoreColumn], key: Sequence[str]) -> str | None:
    """Why ``column`` of a table of ``columns`` keyed by ``key`` cannot have a query index (a code), or None:
    ``key`` (the key's own index serves it), ``type`` (long text, binary: not filtered or sorted on), ``too_long``
    (the item and the key together could exceed :data:`QUERY_INDEX_MAX_BYTES`)."""
    if list(key) == [column.name]:
        return "key"
    if column.letter in "MG":
        return "type"
    sizes = [_most_bytes(column), *(_most_bytes(c) for c in columns if c.name in key and c.name != column.name)]
    if any(size is None for size in sizes) or sum(size or 0 for size in sizes) > QUERY_INDEX_MAX_BYTES:
        return "too_long"
    return None
#: batches of a run after which a PostgreSQL store refreshes the statistics of the table it writes
_ANALYZE_AT = frozenset({2, 20, 200, 2000})
#: a table whose statistics already count this many rows is not analysed again by a run (Store._analyze)
_ANALYZED_ROWS = 100_000

PG_TYPES = {"C": "TEXT", "M": "TEXT", "N": "NUMERIC", "Y": "NUMERIC", "I": "BIGINT", "B": "DOUBLE PRECISION",
           "F": "DOUBLE PRECISION", "D": "DATE", "T": "TIMESTAMP", "L": "BOOLEAN", "G": "BYTEA"}
_SQLITE_TYPES = {"C": "TEXT", "M": "TEXT", "N": "TEXT", "Y": "TEXT", "I": "INTEGER", "B": "REAL", "F": "REAL",
                 "D": "TEXT", "T": "TEXT", "L": "INTEGER", "G": "BLOB"}

def _metadata(integer: str, identity: str) -> list[str]:
    """The store's own tables: the tables it made, the receipts of batches, quarantined values."""
    names = ("batch", "rows_read", "inserted", "updated", "unchanged", "rejected", "deleted")
    counts = ", ".join(f"{name} {integer} NOT NULL" for name in names)
    return [
        "CREATE TABLE IF NOT EXISTS _gs_tables (table_name TEXT PRIMARY KEY, columns TEXT NOT NULL, "
        f"key_items TEXT NOT NULL, created_at TEXT NOT NULL, last_seq {integer} NOT NULL DEFAULT 0, "
        f"live_rows {integer})",
        f"CREATE TABLE IF NOT EXISTS _gs_receipts (table_name TEXT NOT NULL, run_id TEXT NOT NULL, {counts}, "
        "read_hash TEXT NOT NULL, written_hash TEXT NOT NULL, position TEXT NOT NULL, at TEXT NOT NULL, "
        "PRIMARY KEY (table_name, run_id, batch))",
        f"CREATE TABLE IF NOT EXISTS _gs_quarantine (id {identity}, table_name TEXT NOT NULL, "
        f"run_id TEXT NOT NULL, batch {integer} NOT NULL, row_key TEXT NOT NULL, item TEXT NOT NULL, "
        "reason TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS _gs_quarantine_run ON _gs_quarantine (table_name, run_id, batch)",
        # runs whose first batch found their table empty (Store._fresh)
        "CREATE TABLE IF NOT EXISTS _gs_fresh_runs (table_name TEXT NOT NULL, run_id TEXT NOT NULL, "
        "PRIMARY KEY (table_name, run_id))",
        # runs that checked their keys by ranges (Store.remember_ranges) and the ranges whose keys they listed
        f"CREATE TABLE IF NOT EXISTS _gs_ranged_runs (table_name TEXT NOT NULL, run_id TEXT NOT NULL, "
        f"width {integer} NOT NULL, PRIMARY KEY (table_name, run_id))",
        f"CREATE TABLE IF NOT EXISTS _gs_key_ranges (table_name TEXT NOT NULL, run_id TEXT NOT NULL, "
        f"lo {integer} NOT NULL, hi {integer} NOT NULL, PRIMARY KEY (table_name, run_id, lo))",
    ]


_METADATA = {"postgresql": _metadata("BIGINT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
             "sqlite": _metadata("INTEGER", "INTEGER PRIMARY KEY")}
_METADATA_TABLES = ("_gs_tables", "_gs_receipts", "_gs_quarantine", "_gs_fresh_runs", "_gs_ranged_runs",
                    "_gs_key_ranges")


@dataclass(frozen=True)
class StoreColumn:
    """One information item: its name (the catalog's, Chinese allowed), its guide letter, its length."""

    name: str
    letter: str
    length: int | None = None


class StoreError(Exception):
    """The store could not do it; ``code``: ``unavailable`` (cannot reach or open the database, or it is
    busy), ``shape_changed`` (the table exists with other items or key), ``full`` (disk, quota), ``busy`` (a table
    its readers hold could not be made again: :meth:`Store.rebuild_table`), ``other``."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code if code in CODES else "other"
        self.detail = detail[:2000]

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


@dataclass(frozen=True)
class BatchReceipt:
    """What one committed batch did.  ``rows_read`` = accepted + ``rejected``; accepted = ``inserted`` +
    ``updated`` + ``unchanged`` (a tombstone brought back counts as inserted).  A tombstone batch: ``rows_read`` keys, ``deleted`` rows tombstoned, the
    rest ``unchanged`` (absent or already deleted).  ``at``: commit time, ISO 8601 in UTC."""

    run_id: str
    batch: int
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    read_hash: str
    written_hash: str
    position: dict[str, Any]
    at: str
    deleted: int = 0


@dataclass(frozen=True)
class TableSummary:
    live_rows: int
    deleted_rows: int
    content_hash: str  # combine() of the live rows' hashes
    last_seq: int


@dataclass(frozen=True)
class BucketMap:
    """A source table's rows by hash bucket of their key, as a compare run found them
    (:mod:`govshare.exchange.engine.compare`): ``buckets`` (how many: a power of two), ``signature`` (what
    the counts and digests were computed over: another signature makes the map useless), and for each
    non-empty bucket its number of rows and the sum of their digests modulo 2**64 (as a signed 64-bit int).
    ``at``: when it was kept (ISO 8601, UTC)."""

    buckets: int
    signature: str
    counts: dict[int, tuple[int, int]]
    at: str = ""


_INT64 = 1 << 64


@dataclass(frozen=True)
class _Filled:
    """What a batch's ``fill`` put into the scratch table (:meth:`Store._apply_scratch`): ``rows`` rows, each
    one's hash by its ``n``; the batch's counts, read hash, quarantined values and the keys of its rejected
    rows (normalised); ``key_text(n)``: row n's key as a quarantine entry shows it."""

    rows: int
    rows_read: int
    read_hash: str
    rejects: Sequence[tuple[str, str, str]]
    seen: Sequence[Sequence[Any]]
    hashes: Sequence[bytes] | None  # None: the scratch table's ``_hash`` column is all there is (apply_staged)
    key_text: Callable[[int], str]


@dataclass(frozen=True)
class StagedBatch:
    """What :meth:`Store.apply_staged`'s ``fill`` reports of the rows it put into the scratch table:
    ``rows_read`` (all rows read for the batch, rejected ones included), the quarantined values (row key, item,
    reason) and the keys (converted) of the rejected rows the source has."""

    rows_read: int
    rejects: Sequence[tuple[str, str, str]] = ()
    seen: Sequence[Sequence[Any]] = ()


# -- hashes ------------------------------------------------------------------------------------------------

def decimal_digits(value: Decimal) -> int:
    """Integer digits + fraction digits of a finite decimal without trailing zeros (``0.05`` → 2, ``100`` → 3,
    ``1.50`` → 2) — what an N or Y item's length counts (copies and uploads refuse more)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    count = len(digits)
    while count > 1 and digits[count - 1] == 0:
        count -= 1
        exponent += 1
    return max(count + exponent, 0) + max(-exponent, 0)


def decimal_text(value: Decimal) -> str:
    """The canonical text of a finite decimal: no exponent, no trailing zeros (``1.50`` → ``1.5``, ``1E+2`` →
    ``100``, ``-0.0`` → ``0``)."""
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    text = format(value, "f")  # exact: formatting does not round
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


_TAGGED: dict[type, Any] = {
    type(None): lambda value: b"0",
    bool: lambda value: b"L1" if value else b"L0",
    int: lambda value: b"I" + str(value).encode(),
    Decimal: lambda value: b"N" + decimal_text(value).encode(),
    float: lambda value: b"F" + repr(value if value else 0.0).encode(),
    str: lambda value: b"S" + value.encode("utf-8", "surrogatepass"),
    dt.datetime: lambda value: b"T" + _utc_naive(value).isoformat().encode(),
    dt.date: lambda value: b"D" + value.isoformat().encode(),
    bytes: lambda value: b"G" + value,
}


def _canonical(value: Any) -> bytes:
    """The value's type tag and canonical text (subclasses by their base type)."""
    tagged = _TAGGED.get(type(value))
    if tagged is not None:
        return bytes(tagged(value))
    for kind in (bool, int, Decimal, float, str, dt.datetime, dt.date):
        if isinstance(value, kind):
            return bytes(_TAGGED[kind](value))
    if isinstance(value, (bytearray, memoryview)):
        return b"G" + bytes(value)
    raise TypeError(f"no canonical form for a value of type {type(value).__name__}")


def row_hash(values: Iterable[Any]) -> bytes:
    """16 bytes identifying a row's values: SHA-256 over each value's type tag and canonical text, each
    prefixed with its length.  ``Decimal("1.50")`` hashes as ``Decimal("1.5")``; an aware datetime as its UTC
    time; ``1``, ``"1"``, ``1.0``, ``Decimal(1)`` and ``True`` all differ; strings are taken exactly (no
    Unicode normalisation)."""
    parts: list[bytes] = []
    append, pack = parts.append, _LENGTH.pack
    for value in values:
        kind = type(value)  # the commonest first, without a call
        if kind is str:
            encoded = b"S" + value.encode("utf-8", "surrogatepass")
        elif value is None:
            encoded = b"0"
        elif kind is int:
            encoded = b"I%d" % value
        else:
            encoded = _canonical(value)
        append(pack(len(encoded)))
        append(encoded)
    return hashlib.sha256(b"".join(parts)).digest()[:HASH_BYTES]


_LENGTH = struct.Struct(">Q")


def combine(hashes: Iterable[bytes]) -> str:
    """The order-independent hash of a set of rows: their hashes' sum modulo 2**128, as 32 hex digits."""
    total = 0
    for one in hashes:
        total += int.from_bytes(one, "big")
    return f"{total % _MODULUS:032x}"


def merge(combined: Iterable[str]) -> str:
    """:func:`combine` of the union of disjoint sets from their combined hashes (e.g. a run's batches)."""
    return f"{sum(int(one, 16) for one in combined) % _MODULUS:032x}"


EMPTY_HASH = combine(())


# -- values ------------------------------------------------------------------------------------------------

def _wrong(column: StoreColumn, value: Any, wanted: str) -> StoreError:
    return StoreError("other", f"item {column.name!r} ({column.letter}) takes {wanted}, not "
                               f"{type(value).__name__} {str(value)[:40]!r}")


def _normal(column: StoreColumn, value: Any) -> Any:
    """The value as it is hashed and stored; a value of the wrong type is the caller's error (the copy
    converts first, :func:`govshare.exchange.engine.copy.convert`)."""
    if value is None:
        return None
    letter = column.letter
    if letter in "CM":
        if not isinstance(value, str):
            raise _wrong(column, value, "str")
        if "\x00" in value:
            raise _wrong(column, value, "text without NUL characters")
        return value
    if letter in "NY":
        if not isinstance(value, Decimal) or not value.is_finite():
            raise _wrong(column, value, "a finite Decimal")
        return value
    if letter == "I":
        if isinstance(value, bool) or not isinstance(value, int) or not _INT_MIN <= value <= _INT_MAX:
            raise _wrong(column, value, "a 64-bit int")
        return value
    if letter in "BF":
        if not isinstance(value, float) or not math.isfinite(value):
            raise _wrong(column, value, "a finite float")
        return value if value else 0.0
    if letter == "D":
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise _wrong(column, value, "a date")
        return value
    if letter == "T":
        if not isinstance(value, dt.datetime):
            raise _wrong(column, value, "a datetime")
        return _utc_naive(value)
    if letter == "L":
        if not isinstance(value, bool):
            raise _wrong(column, value, "a bool")
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise _wrong(column, value, "bytes")
    return bytes(value)


def _to_sqlite(letter: str, value: Any) -> Any:
    if value is None:
        return None
    if letter in "NY":
        return decimal_text(value)
    if letter == "D":
        return value.isoformat()
    if letter == "T":
        return value.isoformat(sep=" ")
    if letter == "L":
        return int(value)
    return value


def _from_sqlite(letter: str, value: Any) -> Any:
    if value is None:
        return None
    if letter in "NY":
        return Decimal(value)
    if letter == "D":
        return dt.date.fromisoformat(value)
    if letter == "T":
        return dt.datetime.fromisoformat(value)
    if letter == "L":
        return bool(value)
    if letter in "BF":
        return float(value)
    return value


# -- errors ------------------------------------------------------------------------------------------------

def _sqlite_error(exc: sqlite3.Error) -> StoreError:
    primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return StoreError("full", str(exc))
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
                   sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_READONLY,
                   sqlite3.SQLITE_PERM):
        return StoreError("unavailable", str(exc))
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return StoreError("unavailable", str(exc))
    return StoreError("other", str(exc))


def _pg_error(exc: psycopg.Error) -> StoreError:
    state = exc.sqlstate or ""
    if state == "53100":  # disk_full
        return StoreError("full", str(exc))
    if state[:2] in ("08", "53", "57", "40") or (not state and isinstance(exc, psycopg.OperationalError)):
        return StoreError("unavailable", str(exc))  # connection, resources, shutdown, serialisation
    return StoreError("other", str(exc))


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The drivers' errors leave as :class:`StoreError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _sqlite_error(exc) from exc
    except psycopg.Error as exc:
        raise _pg_error(exc) from exc


def _named(prefix: str, table: str) -> str:
    """The name of a helper table of ``table`` (its key list, a scratch table …): ``prefix`` and a hash of the
    table's name (store tables are named from entry codes: any length, any characters)."""
    return prefix + hashlib.sha256(table.encode()).hexdigest()[:16]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class _Shape:
    columns: tuple[StoreColumn, ...]
    key: tuple[str, ...]  # item names
    key_index: tuple[int, ...]  # their positions in columns

    @property
    def key_columns(self) -> list[str]:
        return [f"c{index + 1}" for index in self.key_index]


def _check_table(table: str) -> None:
    if not isinstance(table, str) or not TABLE_NAME.match(table) or table.startswith(("sqlite_", "pg_")):
        raise StoreError("other", f"not a store table name: {str(table)[:80]!r} (a-z 0-9 _, a letter first)")


def _check_shape(columns: Sequence[StoreColumn], key: Sequence[str]) -> _Shape:
    columns = tuple(columns)
    if not columns or len(columns) > MAX_ITEMS:
        raise StoreError("other", f"a table has 1 to {MAX_ITEMS} items, not {len(columns)}")
    names: list[str] = []
    for column in columns:
        if not isinstance(column, StoreColumn) or not isinstance(column.name, str) \
                or not column.name.strip() or "\x00" in column.name:
            raise StoreError("other", f"not an item: {column!r}")
        if not isinstance(column.letter, str) or len(column.letter) != 1 or column.letter not in LETTERS:
            raise StoreError("other", f"item {column.name!r}: unknown data type {column.letter!r}")
        length = column.length
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length <= 0):
            raise StoreError("other", f"item {column.name!r}: length {column.length!r}")
        names.append(column.name)
    if len(set(names)) != len(names):
        raise StoreError("other", "two items with the same name")
    key = tuple(key)
    if not key or len(set(key)) != len(key) or any(name not in names for name in key):
        raise StoreError("other", f"the key {list(key)!r} must name distinct items of the table")
    return _Shape(columns, key, tuple(names.index(name) for name in key))


def _shape_json(shape: _Shape) -> tuple[str, str]:
    return (json.dumps([[c.name, c.letter, c.length] for c in shape.columns], ensure_ascii=False),
            json.dumps(list(shape.key), ensure_ascii=False))


def _shape_from_json(columns: str, key: str) -> _Shape:
    return _check_shape([StoreColumn(name, letter, length) for name, letter, length in json.loads(columns)],
                        json.loads(key))


def _describe(column: StoreColumn) -> str:
    return f"{column.letter}({column.length})" if column.length else column.letter


def _refused(old: _Shape, new: _Shape) -> list[str]:
    """What keeps a table made for ``old`` from taking ``new`` as it is (its differences; [] when it takes it: the
    same, or grown, :func:`_grows`)."""
    differences = _differences(old, new)
    return [] if not differences or _grows(old, new) else differences


def _grows(old: _Shape, new: _Shape) -> bool:
    """A change the table takes as it is: the same key, the old items first with their data types (a length
    is only a bound the copy checks: the columns' types do not depend on it), new items added at the end (new
    columns, empty in the rows already there — which the next copy fills)."""
    if old.key != new.key or len(new.columns) < len(old.columns):
        return False
    return all(a.name == b.name and a.letter == b.letter for a, b in zip(old.columns, new.columns, strict=False))


def _differences(old: _Shape, new: _Shape) -> list[str]:
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    found = [f"item {name!r} removed" for name in before if name not in after]
    found += [f"item {name!r} added" for name in after if name not in before]
    found += [f"item {name!r}: {_describe(before[name])} → {_describe(after[name])}"
              for name in before if name in after and before[name] != after[name]]
    if not found and [c.name for c in old.columns] != [c.name for c in new.columns]:
        found.append("the items are in another order")
    if old.key != new.key:
        found.append(f"key ({', '.join(old.key)}) → ({', '.join(new.key)})")
    return found


class Store:
    """The centre's database.  Open with :meth:`open`; close it (or use ``with``)."""

    kind: str

    def __init__(self, kind: str, conn: Any) -> None:
        self.kind = kind
        self._conn = conn
        self._url = ""  # set by open(): twin() opens another connection to the same database
        self._shapes: dict[str, _Shape] = {}
        self._key_tables: set[str] = set()
        self._bucket_columns: set[str] = set()  # tables known to have the _bucket column
        self._bucket_tables = False  # _gs_buckets and _gs_bucket_maps known to exist
        self._staged_keys: dict[str, tuple[str, StagedBatch]] = {}  # stage_keys → remember_staged
        self._staged_range_keys: dict[str, str] = {}  # stage_range_keys → remember_ranges

    # -- connection ----------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """``sqlite:////absolute/path.sqlite3`` (the file is created; WAL journal, full sync at commit) or
        ``postgresql://user@host:port/db``.  Creates the metadata tables when missing."""
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            if not os.path.isabs(path) or "\x00" in path:
                raise StoreError("unavailable", "a SQLite store is sqlite:////absolute/path")
            try:
                conn: Any = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
            except sqlite3.Error as exc:
                raise StoreError("unavailable", f"{path}: {exc}") from exc
            store = cls("sqlite", conn)
        elif url.startswith(("postgresql://", "postgres://")):
            try:
                params: dict[str, Any] = conninfo_to_dict(url)
                params.setdefault("connect_timeout", 10)
                params.setdefault("application_name", APPLICATION_NAME)
                conn = psycopg.connect(autocommit=True, **params)
            except psycopg.Error as exc:
                raise StoreError("unavailable", str(exc)) from exc
            store = cls("postgresql", conn)
        else:
            raise StoreError("unavailable", "the store URL is sqlite:////path or postgresql://…")
        store._url = url
        try:
            store._prepare()
        except StoreError as exc:
            store.close()
            raise StoreError("unavailable" if exc.code == "other" else exc.code, exc.detail) from exc
        except Exception:
            store.close()
            raise
        return store

    def _prepare(self) -> None:
        with _errors():
            if self.kind == "sqlite":
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError("unavailable", f"the SQLite store cannot use a WAL journal ({mode})")
                self._conn.execute("PRAGMA synchronous = FULL")
                self._conn.execute("PRAGMA temp_store = MEMORY")
                marks = ", ".join("?" * len(_METADATA_TABLES))
                (present,) = self._conn.execute(
                    f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",  # noqa: S608 — marks only
                    _METADATA_TABLES).fetchone()
            else:
                self._conn.execute("SET TIME ZONE 'UTC'")
                (present,) = self._conn.execute(
                    "SELECT count(to_regclass(name)) FROM unnest(%s::text[]) AS name",
                    (list(_METADATA_TABLES),)).fetchone()
            if present < len(_METADATA_TABLES):
                with self._transaction():
                    for statement in _METADATA[self.kind]:
                        self._conn.execute(statement)
            self._live_rows_column()

    def _live_rows_column(self) -> None:
        """``_gs_tables.live_rows``, added to a store made before it existed (NULL: counted when first asked)."""
        if self.kind == "postgresql":
            sql = ("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass('_gs_tables') "
                   "AND attname = 'live_rows' AND NOT attisdropped")
        else:
            sql = "SELECT count(*) FROM pragma_table_info('_gs_tables') WHERE name = 'live_rows'"
        if self._conn.execute(sql).fetchone()[0]:
            return
        try:
            with self._transaction():
                if self.kind == "postgresql":  # behind an open batch: fail the open soon rather than queue everyone
                    self._conn.execute("SET LOCAL lock_timeout = '10s'")
                    self._conn.execute("ALTER TABLE _gs_tables ADD COLUMN IF NOT EXISTS live_rows BIGINT")
                else:
                    self._conn.execute("ALTER TABLE _gs_tables ADD COLUMN live_rows INTEGER")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise

    def twin(self) -> Store | None:
        """Another store on the same database, with a connection of its own (a second writer for a pipelined copy:
        one connection prepares a batch while the other commits the one before); None when this store was not
        made by :meth:`open`."""
        return Store.open(self._url) if self._url else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    @property
    def url(self) -> str:
        return self._url

    def fresh_for_reading(self) -> bool:
        """Whether this open store can serve another reader as it is — its connection alive and idle (no transaction
        left open) — with what it knows of the tables forgotten (another process may have changed a table's shape
        since: it is read again).  False: close it and open another."""
        self._shapes.clear()
        self._key_tables.clear()
        self._bucket_columns.clear()
        self._bucket_tables = False
        self._staged_keys.clear()
        self._staged_range_keys.clear()
        if self.kind == "sqlite":
            return not self._conn.in_transaction
        info = self._conn.info
        return not self._conn.closed and info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, *, snapshot: bool = False) -> Iterator[None]:
        """One write transaction — SQLite: ``BEGIN IMMEDIATE``, one writer at a time (others wait up to
        30 s); PostgreSQL: writers of a table wait for its row lock (:meth:`_lock`) — or, ``snapshot``, a
        read-only one that sees one state of the database throughout."""
        if self.kind == "postgresql":
            outer = self._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with self._conn.transaction():
                if snapshot:
                    self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                elif outer:  # (a savepoint inside another transaction would leave its setting to the outer one)
                    # a batch's statements run once each over tens of thousands of rows: PostgreSQL would compile
                    # every one (JIT, 0.1 s and more a statement) and never use it again — ~8 % of a full copy
                    self._conn.execute("SET LOCAL jit = off")
                yield
            return
        self._conn.execute("BEGIN" if snapshot else "BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise

    def _sql(self, sql: str) -> str:
        """Statements are written with ``?`` placeholders (no ``%`` and no literal ``?`` in them)."""
        return sql if self.kind == "sqlite" else sql.replace("?", "%s")

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), params)

    def _many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        if self.kind == "sqlite":
            self._conn.executemany(sql, params)
            return
        with self._conn.cursor() as cursor:
            cursor.executemany(self._sql(sql), params)

    # -- tables --------------------------------------------------------------------------------------------

    def _table_exists(self, table: str) -> bool:
        if self.kind == "sqlite":
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = "SELECT count(to_regclass(quote_ident(?)))"
        return bool(self._run(sql, (table,)).fetchone()[0])

    def ensure_table(self, table: str, columns: Sequence[StoreColumn], key: Sequence[str], *,
                     lock_wait: float = REBUILD_LOCK_WAIT) -> None:
        """Create ``table`` for these items (``key``: item names) unless it exists with the same items and
        key.  A table made for an earlier version of the entry takes the new one when it only grows (lengths
        changed, items added at the end: :func:`_grows`); any other change is ``shape_changed``, naming what
        differs, nothing altered.  Altering a table its readers hold waits for them as :meth:`rebuild_table`'s DROP
        does (``busy`` after ``lock_wait`` seconds)."""
        _check_table(table)
        shape = _check_shape(columns, key)
        columns_json, key_json = _shape_json(shape)
        self._ddl_tries(table, lock_wait, lambda: self._ensure(table, shape, columns_json, key_json))
        self._shapes[table] = shape

    def _ensure(self, table: str, shape: _Shape, columns_json: str, key_json: str) -> None:
        """:meth:`ensure_table`'s work, in its transaction."""
        found = self._run("SELECT columns, key_items FROM _gs_tables WHERE table_name = ?", (table,)).fetchone()
        exists = self._table_exists(table)
        if found is not None:
            old = _shape_from_json(*found)
            refused = _refused(old, shape)
            if refused:
                raise StoreError("shape_changed", f"{table}: " + "; ".join(refused))
            differences = _differences(old, shape)
            if not exists:
                raise StoreError("other", f"{table} is recorded in _gs_tables but missing")
            if differences:  # the entry's new version: longer or shorter items, items added at the end
                types = _SQLITE_TYPES if self.kind == "sqlite" else PG_TYPES
                for index in range(len(old.columns), len(shape.columns)):
                    letter = shape.columns[index].letter
                    self._conn.execute(f'ALTER TABLE "{table}" ADD COLUMN c{index + 1} {types[letter]}')
                self._run("UPDATE _gs_tables SET columns = ? WHERE table_name = ?", (columns_json, table))
                # a query index on an item (or with a key) now allowed longer values than an index entry holds
                # would make writes of such values fail: it goes (the item shows as too long to index)
                for position, column in enumerate(shape.columns, 1):
                    if query_index_problem(column, shape.columns, shape.key) == "too_long":
                        for suffix in "ad":
                            self._conn.execute(
                                f"DROP INDEX IF EXISTS {query_index_prefix(table)}c{position}{suffix}")
                scratch = _named("_gs_b_", table)  # made again with them
                self._conn.execute(f"DROP TABLE IF EXISTS {'temp.' if self.kind == 'sqlite' else ''}{scratch}")
            self._add_bucket_column(table)
            return
        if exists:
            raise StoreError("shape_changed", f"a table {table} exists that the store did not make")
        self._create_table(table, shape)
        self._run("INSERT INTO _gs_tables (table_name, columns, key_items, created_at, last_seq, live_rows) "
                  "VALUES (?, ?, ?, ?, 0, 0)", (table, columns_json, key_json, _now()))

    def _ddl_tries(self, table: str, lock_wait: float, work: Callable[[], T]) -> T:
        """``work()`` in a :meth:`_ddl` transaction.  PostgreSQL: a table's readers (a download's snapshot, a long
        query) hold it against an ALTER or DROP, and a waiting ALTER or DROP queues every new reader behind it (the
        data API would stop answering) — so each try waits at most :data:`LOCK_TRY` seconds, then pauses, for at most
        ``lock_wait`` seconds in all, then fails ``busy`` with nothing changed."""
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                with self._ddl():
                    if self.kind == "postgresql":
                        self._conn.execute(f"SET LOCAL lock_timeout = '{int(LOCK_TRY * 1000)}ms'")
                    return work()
            except StoreError as exc:
                if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                    raise
                if time.monotonic() + LOCK_PAUSE > deadline:
                    raise StoreError("busy", f"{table} is being read (a download, a long query) for more than "
                                             f"{lock_wait:.0f} s: it was not changed") from exc
            time.sleep(LOCK_PAUSE)

    def cannot_take(self, table: str, columns: Sequence[StoreColumn], key: Sequence[str]) -> list[str]:
        """What keeps ``table`` from taking these items and key as it is (:meth:`ensure_table` would fail
        ``shape_changed``; :meth:`rebuild_table` makes it again): its differences, [] when it takes them (the same,
        grown, or a table the store does not have)."""
        _check_table(table)
        shape = _check_shape(columns, key)
        with _errors():
            found = self._run("SELECT columns, key_items FROM _gs_tables WHERE table_name = ?", (table,)).fetchone()
        return [] if found is None else _refused(_shape_from_json(*found), shape)

    @contextlib.contextmanager
    def _ddl(self) -> Iterator[None]:
        """A transaction that changes tables, one such at a time on PostgreSQL (two writers making or altering tables
        at once would collide in its catalog)."""
        with _errors(), self._transaction():
            if self.kind == "postgresql":
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_DDL_LOCK,))
            yield

    def _create_table(self, table: str, shape: _Shape) -> None:
        types = _SQLITE_TYPES if self.kind == "sqlite" else PG_TYPES
        system = ("_seq INTEGER NOT NULL, _deleted INTEGER NOT NULL DEFAULT 0, _hash BLOB NOT NULL, "
                  if self.kind == "sqlite" else
                  "_seq BIGINT NOT NULL, _deleted BOOLEAN NOT NULL DEFAULT false, _hash BYTEA NOT NULL, ")
        system += "_run TEXT, _bucket INTEGER"
        typed = ", ".join(f"c{i} {types[c.letter]}" for i, c in enumerate(shape.columns, 1))
        self._conn.execute(f'CREATE TABLE "{table}" ({typed}, {system}, '
                           f"PRIMARY KEY ({', '.join(shape.key_columns)}), UNIQUE (_seq))")

    def rebuild_table(self, table: str, columns: Sequence[StoreColumn], key: Sequence[str], *,
                      lock_wait: float = REBUILD_LOCK_WAIT) -> int:
        """Make ``table`` again, empty, for these items and key: an entry whose new version changed its items
        otherwise than :meth:`ensure_table` takes (an item removed, reordered, of another type, another key).  Its
        rows go with the old table, and with them everything kept of it — query indexes, the runs' key lists and
        key ranges, the bucket maps of compare runs; receipts and quarantine entries stay (the history of its
        runs).  Sequence numbers go on from the old table's last one: whoever follows the table's changes sees
        every row of the next copy as new.  Returns how many live rows the old table held; a table the store does
        not know is simply made.

        PostgreSQL: the table's readers (a download's snapshot, a long query) hold it; the DROP waits for them in
        short tries (:meth:`_ddl_tries`), for at most ``lock_wait`` seconds, then fails ``busy`` with the table as it
        was."""
        _check_table(table)
        shape = _check_shape(columns, key)
        columns_json, key_json = _shape_json(shape)
        self._bucket_map_tables()  # (their rows of the table go with it)
        return self._ddl_tries(table, lock_wait, lambda: self._remake(table, shape, columns_json, key_json))

    def _remake(self, table: str, shape: _Shape, columns_json: str, key_json: str) -> int:
        """:meth:`rebuild_table`'s work, in its transaction."""
        # the live rows kept by every write (counting them would hold the DDL lock over the whole table), and
        # when the table was made: the new one is made later
        found = self._run("SELECT live_rows, created_at FROM _gs_tables WHERE table_name = ?",
                          (table,)).fetchone()
        if found is None:
            if self._table_exists(table):
                raise StoreError("shape_changed", f"a table {table} exists that the store did not make")
            self._create_table(table, shape)
            self._run("INSERT INTO _gs_tables (table_name, columns, key_items, created_at, last_seq, live_rows) "
                      "VALUES (?, ?, ?, ?, 0, 0)", (table, columns_json, key_json, _now()))
            self._forget_table(table, shape)
            return 0
        live = found[0] or 0
        if found[0] is None and self._table_exists(table):  # an older table whose count was never kept
            (live,) = self._run(f'SELECT count(*) FROM "{table}" WHERE NOT _deleted').fetchone()  # noqa: S608
        self._conn.execute(f'DROP TABLE IF EXISTS "{table}"')  # its indexes, query indexes included, with it
        self._conn.execute(f"DROP TABLE IF EXISTS {_named('_gs_k_', table)}")  # the key list, typed by the key
        for meta in ("_gs_fresh_runs", "_gs_ranged_runs", "_gs_key_ranges"):
            self._run(f"DELETE FROM {meta} WHERE table_name = ?", (table,))  # noqa: S608 — our own names
        for meta in ("_gs_bucket_maps", "_gs_buckets"):
            self._run(f"DELETE FROM {meta} WHERE table_name = ?", (table,))  # noqa: S608 — our own names
        self._create_table(table, shape)
        before = found[1]
        made = _now()
        if made <= str(before):  # (within a millisecond of the last: still another incarnation)
            made = (dt.datetime.fromisoformat(str(before)) + dt.timedelta(milliseconds=1)).isoformat(
                timespec="milliseconds")
        self._run("UPDATE _gs_tables SET columns = ?, key_items = ?, created_at = ?, live_rows = 0 "
                  "WHERE table_name = ?", (columns_json, key_json, made, table))
        self._forget_table(table, shape)
        return int(live)

    def _forget_table(self, table: str, shape: _Shape) -> None:
        """What this connection knew of a table made again: its shape, its key list, its scratch tables."""
        self._shapes[table] = shape
        self._key_tables.discard(_named("_gs_k_", table))
        self._bucket_columns.add(table)  # made with the column
        self._staged_keys.pop(table, None)
        self._staged_range_keys.pop(table, None)
        for prefix in ("_gs_b_", "_gs_q_", "_gs_r_", "_gs_rk_", "_gs_cr_", "_gs_sr_"):  # this connection's own, typed
            self._conn.execute(f"DROP TABLE IF EXISTS {'temp' if self.kind == 'sqlite' else 'pg_temp'}."
                               f"{_named(prefix, table)}")

    def _add_bucket_column(self, table: str) -> None:
        """The ``_bucket`` column, added to a table made before it existed (nullable, no default: PostgreSQL and
        SQLite add it without rewriting the table)."""
        if table in self._bucket_columns:
            return
        if self.kind == "sqlite":
            sql = "SELECT count(*) FROM pragma_table_info(?) WHERE name = '_bucket'"
        else:
            sql = ("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(quote_ident(?)) "
                   "AND attname = '_bucket' AND NOT attisdropped")
        if not self._run(sql, (table,)).fetchone()[0]:
            self._conn.execute(f'ALTER TABLE "{table}" ADD COLUMN _bucket INTEGER')
        self._bucket_columns.add(table)

    def _shape(self, table: str) -> _Shape:
        _check_table(table)
        if table not in self._shapes:
            with _errors():
                found = self._run("SELECT columns, key_items FROM _gs_tables WHERE table_name = ?",
                                  (table,)).fetchone()
            if found is None:
                raise StoreError("other", f"no store table {table} (ensure_table first)")
            self._shapes[table] = _shape_from_json(*found)
        return self._shapes[table]

    # -- reading (the delivery channels: govshare.datastore.engine.reader) --------------------------------

    def describe(self, table: str) -> tuple[list[StoreColumn], list[str]]:
        """The table's items (in column order: item ``i`` is column ``c{i+1}``) and its key (item names)."""
        shape = self._shape(table)
        return list(shape.columns), list(shape.key)

    def incarnation(self, table: str) -> str:
        """When the table was made (again: :meth:`rebuild_table`); "" when the store has no such table.  A reader
        that works out the positions of items once and reads for a long time compares it at the end."""
        _check_table(table)
        with _errors():
            found = self._run("SELECT created_at FROM _gs_tables WHERE table_name = ?", (table,)).fetchone()
        return str(found[0]) if found is not None else ""

    def has_table(self, table: str) -> bool:
        """Whether the centre holds a table of this name (made by a copy)."""
        _check_table(table)
        with _errors():
            return self._run("SELECT count(*) FROM _gs_tables WHERE table_name = ?", (table,)).fetchone()[0] > 0

    def read(self, sql: str, params: Sequence[Any], letters: Sequence[str | None]) -> list[tuple[Any, ...]]:
        """Run one read-only statement (``?`` placeholders, SQL made by the caller from checked names only) and
        return its rows with each column's values as :meth:`apply` takes them (``letters``: the item letter of
        each column; None: as the database gives it)."""
        with _errors():
            rows = self._run(sql, params).fetchall()
        if self.kind == "postgresql":
            return [tuple(row) for row in rows]
        # only the columns SQLite keeps otherwise than Python gives them are converted (text, integers, bytes as is)
        convert = [(i, letter) for i, letter in enumerate(letters) if letter is not None and letter in "NYDTLBF"]
        if len(letters) != (len(rows[0]) if rows else len(letters)):
            raise StoreError("other", f"{len(letters)} letters for rows of {len(rows[0])} values")
        if not convert:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, letter in convert:
                if values[i] is not None:
                    values[i] = _from_sqlite(letter, values[i])
            out.append(tuple(values))
        return out

    def server_encoding(self) -> str:
        """The database's encoding (PostgreSQL's name for it; SQLite: UTF-8 always)."""
        if self.kind != "postgresql":
            return "UTF8"
        with _errors():
            return str(self._run("SHOW server_encoding").fetchone()[0])

    def copy_csv(self, sql: str, params: Sequence[Any]) -> list[bytes]:
        """PostgreSQL, inside :meth:`snapshot`: the rows of ``sql`` (``%s`` placeholders, bound by the client: COPY
        takes none) as ``COPY … TO STDOUT (FORMAT csv)`` writes them in UTF-8 — one line (``\\n`` ended) per row.
        Dates in ISO form, no JIT (measured slower for these statements); no sort and no parallel scan, so that a
        batch of a long read in key order is read along the key's index from where the last one ended (a sort plan
        reads every row after it, batch after batch)."""
        if self.kind != "postgresql":
            raise StoreError("other", "copy_csv: PostgreSQL only")
        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.INTRANS:
            raise StoreError("other", "copy_csv: inside snapshot() only (its settings are the transaction's)")
        if not params:
            raise StoreError("other", "copy_csv: the statement's %% are bound by the client only with parameters")
        with _errors():
            for setting in ("client_encoding = 'UTF8'", "DateStyle = 'ISO, YMD'", "standard_conforming_strings = on",
                            "jit = off", "enable_sort = off", "max_parallel_workers_per_gather = 0"):
                self._conn.execute("SET LOCAL " + setting)
            with self._conn.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)",
                                                            params) as copy:
                return [bytes(piece) for piece in copy]

    def param(self, letter: str, value: Any) -> Any:
        """A value of an item of type ``letter`` as a statement parameter for this database."""
        return _to_sqlite(letter, value) if self.kind == "sqlite" else value

    def read_within(self, sql: str, params: Sequence[Any], letters: Sequence[str | None],
                    milliseconds: int) -> list[tuple[Any, ...]] | None:
        """:meth:`read`, stopped by the server after ``milliseconds`` (None then; PostgreSQL: the statement's own
        ``statement_timeout``, so a stopped count costs the server no more than that, and no JIT); SQLite, or 0: no
        limit."""
        if self.kind != "postgresql" or milliseconds <= 0:
            return self.read(sql, params, letters)
        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise StoreError("other", "read_within: not inside another transaction (its timeout would outlive it)")
        try:
            with _errors(), self._conn.transaction():
                self._conn.execute(f"SET LOCAL statement_timeout = {int(milliseconds)}")
                # nothing a time limit cannot stop at once: no JIT compilation (~17 ms on a 10 M-row table, not
                # interruptible) and no parallel workers (their start and stop made a 25 ms limit take 50)
                self._conn.execute("SET LOCAL jit = off")
                self._conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                return self.read(sql, params, letters)
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
                return None
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one state of the database throughout (:meth:`read` inside; no writes)."""
        with _errors(), self._transaction(snapshot=True):
            yield

    def estimate(self, sql: str, params: Sequence[Any]) -> int | None:
        """PostgreSQL's planned row count of a statement (None on SQLite, which has no estimate)."""
        if self.kind != "postgresql":
            return None
        with _errors():
            plan = self._run("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
        return int(plan[0]["Plan"]["Plan Rows"])

    # -- query indexes (chosen per entry: govshare.datastore.indexes) -----------------------------------------

    def indexes(self, table: str, prefix: str) -> dict[str, bool]:
        """The indexes of ``table`` whose names start with ``prefix``, each with whether it is usable (PostgreSQL: an
        index a concurrent build left behind when it failed or was killed is not)."""
        _check_table(table)
        with _errors():
            if self.kind == "sqlite":
                rows = self._run("SELECT name, 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                 "AND substr(name, 1, ?) = ?", (table, len(prefix), prefix)).fetchall()
            else:
                rows = self._run("SELECT c.relname, i.indisvalid AND i.indisready FROM pg_catalog.pg_index i "
                                 "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
                                 "WHERE i.indrelid = to_regclass(quote_ident(?)) AND substr(c.relname, 1, ?) = ?",
                                 (table, len(prefix), prefix)).fetchall()
        return {str(name): bool(valid) for name, valid in rows}

    @contextlib.contextmanager
    def query_index_lock(self, table: str) -> Iterator[None]:
        """One sync of ``table``'s query indexes at a time (PostgreSQL: a session advisory lock — the builds run
        outside transactions; SQLite: its builds already take the write lock one at a time)."""
        if self.kind != "postgresql":
            yield
            return
        key = int.from_bytes(hashlib.sha256(b"gsq:" + table.encode()).digest()[:8], "big", signed=True)
        with _errors():
            self._conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def create_index(self, name: str, table: str, terms: Sequence[str]) -> None:
        """An index of the table's live rows on ``terms`` (checked expressions of its columns: the reader's ORDER BY
        terms), unless one of that name exists (drop one an earlier attempt left unusable first: :meth:`indexes`
        says which).  PostgreSQL builds it ``CONCURRENTLY`` — readers and writers of the table go on meanwhile.
        SQLite holds the write lock while it builds."""
        _check_table(table)
        if not TABLE_NAME.match(name):
            raise StoreError("other", f"not an index name: {name[:80]!r}")
        columns = ", ".join(terms)
        with _errors():
            if self.kind == "sqlite":
                self._conn.execute(f'CREATE INDEX IF NOT EXISTS {name} ON "{table}" ({columns}) WHERE NOT _deleted')
                self._conn.execute(f'ANALYZE "{table}"')
                return
            self._conn.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON "{table}" ({columns}) '
                               "WHERE NOT _deleted")

    def drop_index(self, name: str) -> None:
        if not TABLE_NAME.match(name):
            raise StoreError("other", f"not an index name: {name[:80]!r}")
        with _errors():
            self._conn.execute(f"DROP INDEX {'CONCURRENTLY ' if self.kind == 'postgresql' else ''}IF EXISTS {name}")

    # -- writing -------------------------------------------------------------------------------------------

    def _lock(self, table: str) -> int:
        """The table's last sequence number, its writers serialised until the end of the transaction."""
        lock = " FOR UPDATE" if self.kind == "postgresql" else ""
        sql = f"SELECT last_seq FROM _gs_tables WHERE table_name = ?{lock}"  # noqa: S608 — no name in it
        found = self._run(sql, (table,)).fetchone()
        if found is None:
            raise StoreError("other", f"no store table {table}")
        return int(found[0])

    def _committed(self, table: str, run_id: str, batch: int) -> BatchReceipt | None:
        """The stored receipt when ``batch`` is already committed; an error when it would leave a gap."""
        last = self.last_batch(table, run_id)
        if batch <= last:
            return self.receipts(table, run_id, batch=batch)[0]
        if batch != last + 1:
            raise StoreError("other", f"batch {batch} of run {run_id} after batch {last} (numbered 1, 2, 3…)")
        return None

    def _scratch(self, table: str, shape: _Shape) -> str:
        """The connection's temporary table for the batches of ``table``, empty."""
        name = _named("_gs_b_", table)
        if self.kind == "sqlite":
            items = ", ".join(f"c{i}" for i in range(1, len(shape.columns) + 1))  # no affinity: as bound
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (n INTEGER, {items}, _hash BLOB, _bucket)")
            self._conn.execute(f"DELETE FROM temp.{name}")  # noqa: S608 — a name made here
        else:
            items = ", ".join(f"c{i} {PG_TYPES[c.letter]}" for i, c in enumerate(shape.columns, 1))
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (n BIGINT, {items}, _hash BYTEA, "
                               "_bucket INTEGER) ON COMMIT DELETE ROWS")
        return name

    def _keys(self, table: str, shape: _Shape) -> str:
        """The table's list of the keys each open run has read from its source (:meth:`apply`, :meth:`remember`):
        a table of the centre's database, so that a run resumed in another process after a crash still knows
        every key it read before — to catch keys that became equal on conversion, and to find the rows the
        source no longer has (:meth:`unseen`).  Emptied for a run by :meth:`forget`."""
        name = _named("_gs_k_", table)
        if name in self._key_tables:
            return name
        columns = shape.key_columns
        types = _SQLITE_TYPES if self.kind == "sqlite" else PG_TYPES
        typed = ", ".join(f"{c} {types[shape.columns[i].letter]}" for c, i in zip(columns, shape.key_index,
                                                                                 strict=True))
        with self._ddl():
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {name} (run_id TEXT NOT NULL, {typed}, "
                               f"PRIMARY KEY (run_id, {', '.join(columns)}))")
        self._key_tables.add(name)
        return name

    def _load(self, scratch: str, names: list[str], rows: Iterable[Sequence[Any]], *, analyze: bool = True) -> None:
        if self.kind == "sqlite":
            marks = ", ".join("?" * len(names))
            sql = f"INSERT INTO temp.{scratch} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
            self._conn.executemany(sql, rows)
            return
        sql = f"COPY {scratch} ({', '.join(names)}) FROM STDIN"
        with self._conn.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        if analyze:
            self._conn.execute(f"ANALYZE {scratch}")  # else the planner guesses its size and may scan the table

    def _record(self, table: str, receipt: BatchReceipt, rejects: Sequence[tuple[str, str, str]]) -> None:
        self._run("INSERT INTO _gs_receipts (table_name, run_id, batch, rows_read, inserted, updated, "
                  "unchanged, rejected, deleted, read_hash, written_hash, position, at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (table, receipt.run_id, receipt.batch, receipt.rows_read, receipt.inserted, receipt.updated,
                   receipt.unchanged, receipt.rejected, receipt.deleted, receipt.read_hash,
                   receipt.written_hash, json.dumps(receipt.position, ensure_ascii=False, sort_keys=True),
                   receipt.at))
        if rejects:
            self._many("INSERT INTO _gs_quarantine (table_name, run_id, batch, row_key, item, reason, at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(table, receipt.run_id, receipt.batch, key, item, reason, receipt.at)
                        for key, item, reason in rejects])

    @staticmethod
    def _check_batch(run_id: str, batch: int, position: dict[str, Any]) -> None:
        if not isinstance(run_id, str) or not run_id or len(run_id) > 200 or "\x00" in run_id:
            raise StoreError("other", "a run id is 1 to 200 characters")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise StoreError("other", f"batches are numbered from 1, not {batch!r}")
        try:
            json.dumps(position)
        except (TypeError, ValueError) as exc:
            raise StoreError("other", f"the position must be JSON: {exc}") from exc

    @staticmethod
    def _keyed(rows: Sequence[Sequence[Any]], columns: Sequence[StoreColumn],
               key_index: Sequence[int]) -> list[list[Any]]:
        """The rows' values normalised; a NULL or repeated key is the caller's error."""
        seen: set[tuple[Any, ...]] = set()
        normal: list[list[Any]] = []
        width = len(columns)
        for row in rows:
            if len(row) != width:
                raise StoreError("other", f"a row of {len(row)} values for {width} columns")
            values = [_normal(column, value) for column, value in zip(columns, row, strict=True)]
            key = tuple(values[i] for i in key_index)
            if any(part is None for part in key):
                raise StoreError("other", f"a row without its key: {key!r}")
            if key in seen:
                raise StoreError("other", f"the key {key!r} twice in one batch")
            seen.add(key)
            normal.append(values)
        return normal

    def apply(self, table: str, rows: Sequence[Sequence[Any]], *, run_id: str, batch: int,
              position: dict[str, Any], rows_read: int, read_hash: str,
              rejects: Sequence[tuple[str, str, str]] = (), remember: bool = True,
              seen: Sequence[Sequence[Any]] = (), buckets: Sequence[int] | None = None,
              hashes: Sequence[bytes] | None = None) -> BatchReceipt:
        """Upsert a batch of converted rows (values in item order) by key, in one transaction with its receipt
        and its quarantined values (``rejects``: (row key, item, reason)).  Unchanged rows (same hash, not
        tombstoned) are not rewritten; new, changed and revived rows get the next ``_seq`` in row order.
        ``rows_read`` counts the rows read for this batch: those not in ``rows`` were rejected (each rejection
        needs its reason in ``rejects``).  A batch already committed for (table, run) returns its receipt.

        ``remember`` (a run that reads the whole table, each key once): the batch's keys join the run's key
        list, and a row whose key the run already read (in an earlier batch: two source rows whose keys became
        equal on conversion) is quarantined instead of overwriting the other; ``seen``: keys of rows read but
        rejected, remembered too (the source has them: they must not look deleted).  Without ``remember`` (a
        run that reads changed rows, where a row changed again during the run is read twice) the later read
        wins.

        ``buckets`` (a compare run): each row's hash bucket at the source (an int from 0 to 2**31 - 1, in row
        order), kept in ``_bucket``: written with a new or changed row; an unchanged row whose ``_bucket`` is
        another (or NULL) gets it without a new ``_seq`` and still counts as unchanged.  Without it (None) a
        row's ``_bucket`` is left as it is (NULL for a new row)."""
        shape = self._shape(table)
        self._check_batch(run_id, batch, position)
        normal = self._keyed(rows, shape.columns, shape.key_index)
        if buckets is not None:
            buckets = list(buckets)
            if len(buckets) != len(normal) or any(
                    isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < 1 << 31 for b in buckets):
                raise StoreError("other", "buckets: one int from 0 to 2**31 - 1 per row")
        key_columns = [shape.columns[i] for i in shape.key_index]
        # keys of rejected rows may repeat (three rows with one key, '7' and '07' into an integer): once each
        seen_keys = [list(k) for k in dict.fromkeys(tuple(k) for k in self._keyed_loosely(seen, key_columns))] \
            if seen else []
        key_list = ""
        if remember:
            with _errors():
                key_list = self._keys(table, shape)
        if isinstance(rows_read, bool) or not isinstance(rows_read, int) or rows_read < len(normal):
            raise StoreError("other", f"rows_read {rows_read!r} is less than the {len(normal)} rows given")
        rejects = [(str(key), str(item), str(reason)) for key, item, reason in rejects]
        if rows_read > len(normal) and not rejects:
            raise StoreError("other", f"{rows_read - len(normal)} rows rejected without a reason")
        if hashes is None or len(hashes) != len(normal):  # the caller's: row_hash() of the same (converted) values
            hashes = [row_hash(values) for values in normal]
        row_hashes: Sequence[bytes] = hashes
        letters = [column.letter for column in shape.columns]
        names = [f"c{i}" for i in range(1, len(letters) + 1)]
        bucketed = buckets is not None

        def fill(scratch: str) -> _Filled:
            if self.kind == "sqlite":
                loaded: Iterable[Sequence[Any]] = (
                    (n, *map(_to_sqlite, letters, values), row_hashes[n]) for n, values in enumerate(normal))
            else:
                loaded = ((n, *values, row_hashes[n]) for n, values in enumerate(normal))
            if bucketed:
                self._add_bucket_column(table)
                assert buckets is not None
                loaded = ((*row, bucket) for row, bucket in zip(loaded, buckets, strict=True))
            self._load(scratch, ["n", *names, "_hash", *(["_bucket"] if bucketed else [])], loaded, analyze=False)
            return _Filled(rows=len(normal), rows_read=rows_read, read_hash=str(read_hash), rejects=rejects,
                           seen=seen_keys, hashes=row_hashes,
                           key_text=lambda n: ", ".join(str(normal[n][i]) for i in shape.key_index))

        return self._apply_scratch(table, shape, fill, run_id=run_id, batch=batch, position=position,
                                   remember=remember, bucketed=bucketed, key_list=key_list)

    def apply_staged(self, table: str, fill: Callable[[Any, str], StagedBatch], *, run_id: str, batch: int,
                     position: dict[str, Any], remember: bool = True,
                     before_lock: Callable[[], None] | None = None) -> BatchReceipt:
        """A batch whose rows the caller converts and hashes in SQL (PostgreSQL only: the fast full copy,
        :mod:`govshare.exchange.engine.fastcopy`); otherwise as :meth:`apply`, the same transaction, receipt
        and key-list rules.  ``fill(connection, scratch)`` is called in the batch's transaction before the table
        is locked (a batch then found committed already returns its stored receipt, ``fill``'s work discarded);
        it inserts the accepted rows into the scratch table — ``n`` (the row order: sequence numbers
        follow it), ``c1`` … ``cN`` in the store's types, ``_hash`` exactly :func:`row_hash` of those values —
        and reports the batch's rows read, quarantined values and rejected rows' keys (:class:`StagedBatch`).
        The batch's ``read_hash`` combines the hashes of the rows it inserted.  ``before_lock`` (a pipelined
        copy: wait until the batch before has committed) runs between ``fill`` and the lock."""
        if self.kind != "postgresql":
            raise StoreError("other", "apply_staged: a PostgreSQL store only")
        shape = self._shape(table)
        self._check_batch(run_id, batch, position)
        key_columns = [shape.columns[i] for i in shape.key_index]
        key_list = ""
        if remember:
            with _errors():
                key_list = self._keys(table, shape)

        def staged(scratch: str) -> _Filled:
            report = fill(self._conn, scratch)
            rows, read_hash = self._sum_hashes(scratch)
            rows_read = report.rows_read
            if isinstance(rows_read, bool) or not isinstance(rows_read, int) or rows_read < rows:
                raise StoreError("other", f"rows_read {rows_read!r} is less than the {rows} rows given")
            rejects = [(str(key), str(item), str(reason)) for key, item, reason in report.rejects]
            if rows_read > rows and not rejects:
                raise StoreError("other", f"{rows_read - rows} rows rejected without a reason")
            seen = [list(k) for k in dict.fromkeys(
                tuple(k) for k in self._keyed_loosely(report.seen, key_columns))] if report.seen else []

            def key_text(n: int) -> str:
                found = self._conn.execute(f"SELECT {', '.join(shape.key_columns)} FROM {scratch} "  # noqa: S608
                                           "WHERE n = %s", (n,)).fetchone()
                return ", ".join(str(value) for value in found) if found else str(n)

            return _Filled(rows=rows, rows_read=rows_read, read_hash=read_hash, rejects=rejects, seen=seen,
                           hashes=None, key_text=key_text)

        return self._apply_scratch(table, shape, staged, run_id=run_id, batch=batch, position=position,
                                   remember=remember, bucketed=False, key_list=key_list, before_lock=before_lock)

    def _sum_hashes(self, scratch: str) -> tuple[int, str]:
        """(rows, :func:`combine` of their ``_hash``) of a PostgreSQL scratch table, added up by the server: the
        sum of the hashes' first and last 8 bytes as signed 64-bit integers (the first half's sign drops out
        modulo 2**128; each negative second half lacks 2**64)."""
        half = "('x' || encode(substring(_hash FROM {} FOR 8), 'hex'))::bit(64)::bigint"
        first, second = half.format(1), half.format(9)
        found = self._conn.execute(
            f"SELECT count(*), coalesce(sum({first}), 0), coalesce(sum({second}), 0), "  # noqa: S608
            f"count(*) FILTER (WHERE {second} < 0), count(*) FILTER (WHERE octet_length(_hash) <> {HASH_BYTES}) "
            f"FROM {scratch}").fetchone()
        rows, high, low, negative, wrong = (int(value) for value in found)
        if wrong:
            raise StoreError("other", f"{wrong} rows with a hash that is not {HASH_BYTES} bytes")
        return rows, f"{((high << 64) + low + (negative << 64)) % _MODULUS:032x}"

    def _fresh(self, table: str, run_id: str, batch: int) -> bool:
        """Whether the run is *fresh*: its first batch found the table without a single row (live or
        tombstoned).  Decided once, in that batch's transaction (the table locked), and kept in
        ``_gs_fresh_runs`` so that a resumed run — in another process, after ``kill -9`` — knows it too.

        Every row of a fresh run's table is one the run has written itself (``_run``), so its batches are
        plain inserts: no changed-rows join, no key list of the rows it wrote, no ``RETURNING`` — the
        first copy of a table (存量数据一次性拷贝) at close to the speed of the store's own ``INSERT``.  A key the
        run wrote before (two source rows whose keys became equal on conversion) trips the table's primary
        key: the batch is retried without those rows, which are quarantined as in any run."""
        if batch == 1:
            (empty,) = self._run(f'SELECT NOT EXISTS (SELECT 1 FROM "{table}")').fetchone()  # noqa: S608
            if empty:
                self._run("INSERT INTO _gs_fresh_runs (table_name, run_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                          (table, run_id))
            return bool(empty)
        return self._is_fresh(table, run_id)

    def _is_fresh(self, table: str, run_id: str) -> bool:
        (found,) = self._run("SELECT count(*) FROM _gs_fresh_runs WHERE table_name = ? AND run_id = ?",
                             (table, run_id)).fetchone()
        return bool(found)

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A savepoint inside the caller's transaction: rolled back (and the error raised) when the block fails."""
        if self.kind == "postgresql":
            with self._conn.transaction():
                yield
            return
        self._conn.execute("SAVEPOINT gs_batch")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO gs_batch")
            self._conn.execute("RELEASE gs_batch")
            raise
        self._conn.execute("RELEASE gs_batch")

    def _apply_scratch(self, table: str, shape: _Shape, fill: Callable[[str], _Filled], *, run_id: str,
                       batch: int, position: dict[str, Any], remember: bool, bucketed: bool,
                       key_list: str, before_lock: Callable[[], None] | None = None) -> BatchReceipt:
        """The write of a batch once its rows are known (:meth:`apply`, :meth:`apply_staged`), in one
        transaction: ``fill`` puts the batch's rows (``n``, ``c1`` … ``cN``, ``_hash``, maybe ``_bucket``) into
        the scratch table; then, the table locked, the stored receipt when the batch is committed already (the
        scratch rows are discarded) — else the keys this run already read are quarantined, the new and
        changed rows are upserted with their sequence numbers, the keys remembered, the receipt recorded.  A
        fresh run (:meth:`_fresh`) inserts instead."""
        names = [f"c{i}" for i in range(1, len(shape.columns) + 1)]
        keys = shape.key_columns
        join = " AND ".join(f"s.{k} = b.{k}" for k in keys)
        # new (no stored row), changed or tombstoned: with the table locked, the same rows in both statements
        changed_rows = (f'b LEFT JOIN "{table}" s ON {join} '
                        f"WHERE s.{keys[0]} IS NULL OR s._hash <> b._hash OR s._deleted")
        # the batch drives the look-ups below (its rows are few; the other side is indexed by key): SQLite must
        # be told — it would otherwise scan the whole other side for each batch
        cross, on = ("CROSS JOIN", "WHERE") if self.kind == "sqlite" else ("JOIN", "ON")
        with _errors(), self._transaction():
            scratch = self._scratch(table, shape)
            filled = fill(scratch)  # before the lock: another writer's batch may commit meanwhile
            if before_lock is not None:
                before_lock()
            base = self._lock(table)
            stored = self._committed(table, run_id, batch)
            if stored is not None:
                return stored
            fresh = remember and self._fresh(table, run_id, batch)
            rejects = list(filled.rejects)
            hashes = filled.hashes
            collided: list[int] = []

            def analyze() -> None:  # before a join: else the planner guesses the batch's size and may scan the table
                if self.kind == "postgresql":
                    self._conn.execute(f"ANALYZE {scratch}")

            if remember and not fresh:  # (a batch that keeps no key list joins the table alone, by its key: the
                analyze()               # planner's estimate of the batch's size from its pages is enough)
            if remember and (not fresh or self._run(
                    f"SELECT count(*) FROM (SELECT 1 FROM {key_list} WHERE run_id = ? LIMIT 1) x",  # noqa: S608
                    (run_id,)).fetchone()[0]):
                # a key this same run already read in an earlier batch: two source rows whose keys became equal on
                # conversion ('2024-01-31' and '2024/01/31' for a date, '7' and '07' for an integer) — neither may
                # silently overwrite the other: the later one is quarantined.  (A fresh run's key list holds only
                # the keys of rows it rejected; the rows it wrote are in the table, and its primary key finds them.)
                seen_join = " AND ".join(f"x.{k} = b.{k}" for k in keys)
                if fresh:
                    analyze()
                collided = sorted({int(n) for (n,) in self._run(
                    f"SELECT b.n FROM {scratch} b {cross} {key_list} x {on} x.run_id = ? "  # noqa: S608
                    f"AND {seen_join}", (run_id,))})
            key_names = ", ".join(shape.key)

            def drop(found: list[int]) -> None:
                rejects.extend((filled.key_text(n), key_names, "duplicate_key: another row of this copy has the "
                                "same key after conversion") for n in found)
                self._run(f"DELETE FROM {scratch} WHERE n IN ({', '.join(map(str, found))})")  # noqa: S608

            if collided:
                drop(collided)
            bucket_column, bucket_value = (", _bucket", ", b._bucket") if bucketed else ("", "")
            written: list[tuple[bool, bytes]]  # (inserted, hash) of each row written
            if fresh:
                insert = (f'INSERT INTO "{table}" ({", ".join(names)}, _seq, _deleted, _hash, _run{bucket_column}) '  # noqa: S608
                          f"SELECT {', '.join('b.' + n for n in names)}, ? + row_number() OVER (ORDER BY b.n), "
                          f"false, b._hash, ?{bucket_value} FROM {scratch} b")
                try:
                    with self._savepoint():
                        self._run(insert, (base, run_id))
                except (psycopg.errors.UniqueViolation, sqlite3.IntegrityError):
                    # a key this run wrote in an earlier batch (the table held nothing else when it began)
                    analyze()
                    again = sorted({int(n) for (n,) in self._run(
                        f'SELECT b.n FROM {scratch} b {cross} "{table}" s {on} {join}')})  # noqa: S608
                    if not again:
                        raise
                    collided = sorted({*collided, *again})
                    drop(again)
                    self._run(insert, (base, run_id))
                if hashes is None:  # the scratch table holds just the rows inserted
                    count, written_hash = (filled.rows, filled.read_hash) if not collided else \
                        self._sum_hashes(scratch)
                else:
                    skipped = set(collided)
                    count = len(hashes) - len(skipped)
                    written_hash = combine(h for n, h in enumerate(hashes) if n not in skipped)
                inserted, updated, revived = count, 0, 0
            else:
                updates = ", ".join(f"{n} = excluded.{n}" for n in [*names, "_seq", "_deleted", "_hash", "_run"])
                if bucketed:
                    updates += f', _bucket = coalesce(excluded._bucket, "{table}"._bucket)'
                upsert = (f'INSERT INTO "{table}" ({", ".join(names)}, _seq, _deleted, _hash, _run{bucket_column}) '  # noqa: S608
                          f"SELECT {', '.join('b.' + n for n in names)}, ? + row_number() OVER (ORDER BY b.n), "
                          f"false, b._hash, ?{bucket_value} FROM {scratch} {changed_rows} "
                          f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates} "
                          f'WHERE "{table}"._hash <> excluded._hash OR "{table}"._deleted')
                if self.kind == "postgresql":
                    # one pass: the changed rows (with whether each was a tombstone: a revival counts as live again)
                    # are written and come back (a row inserted has no xmax), no separate look-up of them first;
                    # their sequence numbers must still be base+1 … base+k without a gap
                    carried = [*names, "n", "_hash", *(["_bucket"] if bucketed else [])]
                    found = self._run(
                        f"WITH c AS MATERIALIZED (SELECT {', '.join('b.' + n for n in carried)}, s._deleted AS was "  # noqa: S608
                        f"FROM {scratch} {changed_rows}), "
                        f'w AS (INSERT INTO "{table}" ({", ".join(names)}, _seq, _deleted, _hash, _run{bucket_column}) '
                        f"SELECT {', '.join('c.' + n for n in names)}, ? + row_number() OVER (ORDER BY c.n), false, "
                        f"c._hash, ?{', c._bucket' if bucketed else ''} FROM c "
                        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates} "
                        f'WHERE "{table}"._hash <> excluded._hash OR "{table}"._deleted '
                        "RETURNING xmax = 0 AS new, _hash, _seq) "
                        "SELECT w.new, w._hash, w._seq, (SELECT count(*) FROM c WHERE c.was), "
                        "(SELECT count(*) FROM c) FROM w",
                        (base, run_id)).fetchall()
                    written = [(bool(new), bytes(h)) for new, h, _seq, _was, _all in found]
                    revived = int(found[0][3]) if found else 0
                    if found and int(found[0][4]) != len(found):  # the lock makes the two the same rows
                        raise StoreError("other", f"{len(found)} rows written of {found[0][4]} changed")
                    if found and max(int(row[2]) for row in found) != base + len(found):
                        raise StoreError("other", f"{len(found)} rows written with a gap in their sequence numbers")
                else:
                    sql = (f"SELECT b.n, s.{keys[0]} IS NULL, coalesce(s._deleted, 0) FROM {scratch} "  # noqa: S608
                           f"{changed_rows} ORDER BY b.n")
                    changed = [(int(n), bool(new), bool(was)) for n, new, was in self._conn.execute(sql)]
                    if changed:
                        cursor = self._run(upsert, (base, run_id))
                        if cursor.rowcount != len(changed):
                            raise StoreError("other", f"{cursor.rowcount} rows written, {len(changed)} expected")
                    assert hashes is not None  # apply_staged is PostgreSQL only
                    written = [(new, hashes[n]) for n, new, _was in changed]
                    revived = sum(1 for _n, _new, was in changed if was)
                # a tombstone brought back (the source restored the row) is a row added again, not an update
                inserted = sum(1 for new, _ in written if new) + revived
                updated = len(written) - inserted
                written_hash = combine(h for _, h in written)
            if inserted + updated:  # the live rows: the inserted ones, tombstones revived among them (NULL: unknown)
                self._run("UPDATE _gs_tables SET last_seq = ?, live_rows = live_rows + ? WHERE table_name = ?",
                          (base + inserted + updated, inserted, table))
            if bucketed and inserted + updated < filled.rows - len(collided):  # rows left unchanged: their buckets
                self._set_buckets(table, shape, scratch)
            if remember and not fresh:  # the keys this run has read, also those it left unchanged or had to reject
                self._run(f"INSERT INTO {key_list} (run_id, {', '.join(keys)}) "  # noqa: S608 — names made here
                          f"SELECT ?, {', '.join('b.' + k for k in keys)} FROM {scratch} b", (run_id,))
            if remember and filled.seen:  # keys of rows read but rejected: the source has them
                self._remember(key_list, shape, run_id, filled.seen)
            applied = filled.rows - len(collided)
            receipt = BatchReceipt(
                run_id=run_id, batch=batch, rows_read=filled.rows_read, inserted=inserted, updated=updated,
                unchanged=applied - inserted - updated, rejected=filled.rows_read - applied,
                read_hash=filled.read_hash, written_hash=written_hash, position=position, at=_now())
            self._record(table, receipt, rejects)
        if self.kind == "postgresql" and batch in _ANALYZE_AT and not fresh:
            self._analyze(table, shape if remember else None)
        return receipt

    def _analyze(self, table: str, shape: _Shape | None, *, force: bool = False) -> None:
        """Fresh statistics for a table (and its key list) that has just grown from nothing: until autovacuum
        first analyses them, PostgreSQL plans each batch's joins for an empty table and a 1 M-row copy slows
        from ~22 000 to ~9 500 rows/s (measured, bench/exchange_copy.py)."""
        try:  # best effort: the batch is committed already, statistics are only a help
            with _errors():
                (known,) = self._conn.execute("SELECT coalesce(max(reltuples), -1) FROM pg_catalog.pg_class "
                                              "WHERE oid = to_regclass(quote_ident(%s))", (table,)).fetchone()
                # statistics of a large table already (a later run's batches go by its key's index): a new
                # ANALYZE would only cost time — ~0.25 s a time at 1 M rows, for every incremental run
                if force or float(known) < _ANALYZED_ROWS:
                    self._conn.execute(f'ANALYZE "{table}"')
                if shape is not None:
                    self._conn.execute(f"ANALYZE {self._keys(table, shape)}")
        except StoreError:
            pass

    def _set_buckets(self, table: str, shape: _Shape, scratch: str) -> None:
        """The batch's ``_bucket`` on its stored rows that have another (or none): not a change (no ``_seq``).
        The batch drives the look-up (SQLite must be told: it would otherwise scan the table)."""
        keys = shape.key_columns
        join = " AND ".join(f"s.{k} = b.{k}" for k in keys)
        if self.kind == "postgresql":
            self._run(f'UPDATE "{table}" s SET _bucket = b._bucket FROM {scratch} b '  # noqa: S608 — names made here
                      f"WHERE {join} AND b._bucket IS NOT NULL AND s._bucket IS DISTINCT FROM b._bucket")
            return
        moved = self._conn.execute(
            f'SELECT b._bucket, {", ".join("s." + k for k in keys)} FROM temp.{scratch} b '  # noqa: S608
            f'CROSS JOIN "{table}" s WHERE {join} AND b._bucket IS NOT NULL AND s._bucket IS NOT b._bucket').fetchall()
        if moved:
            where = " AND ".join(f"{k} = ?" for k in keys)
            self._conn.executemany(f'UPDATE "{table}" SET _bucket = ? WHERE {where}', moved)  # noqa: S608

    def tombstone(self, table: str, keys: Sequence[Sequence[Any]], *, run_id: str, batch: int,
                  position: dict[str, Any]) -> BatchReceipt:
        """Mark the live rows of these keys (values of the key items, in key order) deleted, each with the
        next ``_seq``; absent or already deleted keys are ``unchanged``.  Same transaction and receipt rules
        as :meth:`apply`; ``read_hash`` combines the keys' hashes, ``written_hash`` the tombstoned rows'."""
        shape = self._shape(table)
        self._check_batch(run_id, batch, position)
        normal = self._keyed(keys, [shape.columns[i] for i in shape.key_index], range(len(shape.key)))
        key_columns = shape.key_columns
        join = " AND ".join(f"s.{k} = b.{k}" for k in key_columns)
        key_letters = [shape.columns[i].letter for i in shape.key_index]
        with _errors(), self._transaction():
            base = self._lock(table)
            stored = self._committed(table, run_id, batch)
            if stored is not None:
                return stored
            scratch = self._scratch(table, shape)
            if self.kind == "sqlite":
                loaded: Iterable[Sequence[Any]] = (
                    (n, *map(_to_sqlite, key_letters, values)) for n, values in enumerate(normal))
            else:
                loaded = ((n, *values) for n, values in enumerate(normal))
            # joined to the table alone, by its key: no statistics needed (the planner sizes the batch by its pages)
            self._load(scratch, ["n", *key_columns], loaded, analyze=False)
            if self.kind == "postgresql":
                # one statement, not one per key: the live rows of the keys (each key once: _keyed), numbered in
                # the keys' order, marked deleted; they come back with their hashes
                by_key = " AND ".join(f"s.{k} = f.{k}" for k in key_columns)
                marked = self._run(
                    f"WITH f AS MATERIALIZED (SELECT {', '.join('b.' + k for k in key_columns)}, "  # noqa: S608
                    f"row_number() OVER (ORDER BY b.n) AS k FROM {scratch} b JOIN \"{table}\" s ON {join} "
                    "WHERE NOT s._deleted) "
                    f'UPDATE "{table}" s SET _deleted = true, _seq = ? + f.k, _run = ? FROM f WHERE {by_key} '
                    "RETURNING s._seq, s._hash", (base, run_id)).fetchall()
                if marked and max(int(seq) for seq, _ in marked) != base + len(marked):
                    raise StoreError("other", f"{len(marked)} rows deleted with a gap in their sequence numbers")
                written = [bytes(h) for _, h in marked]
            else:
                sql = (f'SELECT b.n, s._hash FROM {scratch} b JOIN "{table}" s ON {join} '  # noqa: S608
                       "WHERE NOT s._deleted ORDER BY b.n")
                found = [(int(n), bytes(h)) for n, h in self._conn.execute(sql)]
                where = " AND ".join(f"{k} = ?" for k in key_columns)
                params = [(base + offset, run_id, *map(_to_sqlite, key_letters, normal[n]))
                          for offset, (n, _) in enumerate(found, 1)]
                if params:
                    self._many(f'UPDATE "{table}" SET _deleted = true, _seq = ?, _run = ? WHERE {where}',  # noqa: S608
                               params)
                written = [h for _, h in found]
            if written:
                self._run("UPDATE _gs_tables SET last_seq = ?, live_rows = live_rows - ? WHERE table_name = ?",
                          (base + len(written), len(written), table))
            receipt = BatchReceipt(
                run_id=run_id, batch=batch, rows_read=len(normal), inserted=0, updated=0,
                unchanged=len(normal) - len(written), rejected=0,
                read_hash=combine(row_hash(values) for values in normal),
                written_hash=combine(written), position=position, at=_now(), deleted=len(written))
            self._record(table, receipt, ())
        return receipt

    def _remember(self, key_list: str, shape: _Shape, run_id: str, keys: Sequence[Sequence[Any]]) -> None:
        """Add keys to the run's key list (inside the caller's transaction); a key already there counts once."""
        columns = shape.key_columns
        letters = [shape.columns[i].letter for i in shape.key_index]
        if self.kind == "postgresql" and len(keys) > 50:
            # a page of keys: COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING (executemany
            # sends a statement per key)
            staging = "_gs_r_" + key_list.removeprefix("_gs_k_")
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {key_list}) ON COMMIT DELETE ROWS")
            with self._conn.cursor() as cursor, cursor.copy(
                    f"COPY {staging} (run_id, {', '.join(columns)}) FROM STDIN") as copy:
                for key in keys:
                    copy.write_row((run_id, *key))
            self._conn.execute(f"INSERT INTO {key_list} (run_id, {', '.join(columns)}) "  # noqa: S608
                               f"SELECT run_id, {', '.join(columns)} FROM {staging} ON CONFLICT DO NOTHING")
            return
        marks = ", ".join("?" * (len(columns) + 1))
        rows: Iterable[Sequence[Any]] = (
            (run_id, *(map(_to_sqlite, letters, key) if self.kind == "sqlite" else key)) for key in keys)
        self._many(f"INSERT INTO {key_list} (run_id, {', '.join(columns)}) VALUES ({marks}) "  # noqa: S608
                   "ON CONFLICT DO NOTHING", rows)

    def remember(self, table: str, keys: Sequence[Sequence[Any]], *, run_id: str, batch: int,
                 position: dict[str, Any], rows_read: int | None = None,
                 rejects: Sequence[tuple[str, str, str]] = ()) -> BatchReceipt:
        """A batch of keys read from the source (a key scan: values of the key items, in key order) added to
        the run's key list, with its receipt (``rows_read`` keys — more when some could not be converted, each
        with its reason in ``rejects``; nothing written to the table: ``unchanged``).  Same transaction and
        receipt rules as :meth:`apply`; a key read twice counts once."""
        shape = self._shape(table)
        self._check_batch(run_id, batch, position)
        key_columns = [shape.columns[i] for i in shape.key_index]
        normal = self._keyed_loosely(keys, key_columns)
        read = len(normal) if rows_read is None else rows_read
        if isinstance(read, bool) or not isinstance(read, int) or read < len(normal):
            raise StoreError("other", f"rows_read {read!r} is less than the {len(normal)} keys given")
        with _errors():
            key_list = self._keys(table, shape)
        with _errors(), self._transaction():
            self._lock(table)
            stored = self._committed(table, run_id, batch)
            if stored is not None:
                return stored
            self._remember(key_list, shape, run_id, normal)
            receipt = BatchReceipt(
                run_id=run_id, batch=batch, rows_read=read, inserted=0, updated=0, unchanged=len(normal),
                rejected=read - len(normal), read_hash=combine(row_hash(key) for key in normal),
                written_hash=EMPTY_HASH, position=position, at=_now())
            self._record(table, receipt, [(str(k), str(i), str(r)) for k, i, r in rejects])
        return receipt

    def stage_keys(self, table: str, fill: Callable[[Any, str], StagedBatch]) -> tuple[StagedBatch, list[tuple[Any, ...]]]:
        """A page of a key scan whose keys the caller converts and hashes in SQL (PostgreSQL only: the fast key
        scan, :func:`govshare.exchange.engine.fastcopy.fast_key_scan`).  ``fill(connection, scratch)`` inserts
        the page's accepted keys into the connection's key scratch table — ``n``, the key columns in the store's
        types (the table's own names), ``_hash`` exactly :func:`row_hash` of the key — and reports the keys read
        and the quarantine entries of those it rejected.  Returns that report and the keys (in row order) of
        which the table holds no live row: rows to read again (the incremental reads missed them).  The page
        stays staged for :meth:`remember_staged`, which commits it; nothing is written before."""
        if self.kind != "postgresql":
            raise StoreError("other", "stage_keys: a PostgreSQL store only")
        shape = self._shape(table)
        keys = shape.key_columns
        name = _named("_gs_q_", table)
        typed = ", ".join(f"{k} {PG_TYPES[shape.columns[i].letter]}" for k, i in zip(keys, shape.key_index,
                                                                                    strict=True))
        join = " AND ".join(f"s.{k} = b.{k}" for k in keys)
        first = keys[0]
        self._staged_keys.pop(table, None)
        with _errors(), self._transaction():
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (n BIGINT, {typed}, _hash BYTEA)")
            self._conn.execute(f"TRUNCATE {name}")
            report = fill(self._conn, name)
            self._conn.execute(f"ANALYZE {name}")
            # the table's side limited to the page's range of the first key column (in the centre's own order,
            # so no key of the page falls outside it): an index range, not the whole table for every page
            absent = [tuple(row) for row in self._conn.execute(
                f"WITH r AS MATERIALIZED (SELECT min({first}) AS low, max({first}) AS high FROM {name}) "  # noqa: S608
                f"SELECT {', '.join('b.' + k for k in keys)} FROM {name} b WHERE NOT EXISTS "
                f'(SELECT 1 FROM "{table}" s, r WHERE s.{first} BETWEEN r.low AND r.high AND {join} '
                "AND NOT s._deleted) ORDER BY b.n")]
        self._staged_keys[table] = (name, report)
        return report, absent

    def remember_staged(self, table: str, *, run_id: str, batch: int, position: dict[str, Any],
                        unique: bool = False) -> BatchReceipt:
        """:meth:`remember` of the page :meth:`stage_keys` staged last for ``table`` on this store: the same
        transaction, receipt (the keys' hashes added up by the server) and key-list rules.  ``unique``: the keys
        come from a unique key of the source, in pages that do not overlap — listed by a plain insert (a key
        found listed already all the same falls back to the insert that skips it)."""
        if table not in self._staged_keys:
            raise StoreError("other", f"no staged page of keys for {table} (stage_keys first)")
        name, report = self._staged_keys[table]
        shape = self._shape(table)
        self._check_batch(run_id, batch, position)
        keys = shape.key_columns
        with _errors():
            key_list = self._keys(table, shape)
        with _errors(), self._transaction():
            self._lock(table)
            stored = self._committed(table, run_id, batch)
            if stored is not None:
                return stored
            count, read_hash = self._sum_hashes(name)
            read = report.rows_read
            if isinstance(read, bool) or not isinstance(read, int) or read < count:
                raise StoreError("other", f"rows_read {read!r} is less than the {count} keys given")
            if read > count and not report.rejects:
                raise StoreError("other", f"{read - count} keys rejected without a reason")
            listed = (f"INSERT INTO {key_list} (run_id, {', '.join(keys)}) "  # noqa: S608 — names made here
                      f"SELECT ?, {', '.join(keys)} FROM {name}")
            try:  # keys of a unique source key, in pages that do not overlap: a plain insert (no speculative one)
                if not unique:
                    raise psycopg.errors.UniqueViolation
                with self._savepoint():
                    self._run(listed, (run_id,))
            except psycopg.errors.UniqueViolation:  # a key listed already (read twice): once
                self._run(listed + " ON CONFLICT DO NOTHING", (run_id,))
            receipt = BatchReceipt(
                run_id=run_id, batch=batch, rows_read=read, inserted=0, updated=0, unchanged=count,
                rejected=read - count, read_hash=read_hash, written_hash=EMPTY_HASH, position=position, at=_now())
            self._record(table, receipt, [(str(k), str(i), str(r)) for k, i, r in report.rejects])
        del self._staged_keys[table]
        return receipt

    # -- key checks by ranges (watermark mode's key check, exchange/engine/keyranges.py) -------------------------

    def _integer_key(self, table: str, what: str) -> tuple[_Shape, str]:
        """The shape and key column of a PostgreSQL store table keyed by one integer item (letter I)."""
        if self.kind != "postgresql":
            raise StoreError("other", f"{what}: a PostgreSQL store only")
        shape = self._shape(table)
        if len(shape.key_index) != 1 or shape.columns[shape.key_index[0]].letter != "I":
            raise StoreError("other", f"{what}: a table keyed by one integer item only")
        return shape, shape.key_columns[0]

    def key_width(self, table: str, per_range: int, *, sample: int = 30_000) -> int:
        """A width of key ranges that holds about ``per_range`` live rows where most of the table's keys lie (a table
        keyed by one integer item), so that a few far-off keys do not widen every range: the median width of 100
        equal-count buckets of a sample of the keys (``sample`` of them: every key of a small table, else a block
        sample — ``TABLESAMPLE SYSTEM``, a few hundred pages), to the nearest power of two.  At least 1, at most
        2**62."""
        _shape, key = self._integer_key(table, "key_width")
        live = max(self.live_rows(table), 1)
        with _errors():
            if live <= sample:
                rows = self._conn.execute(f'SELECT {key} FROM "{table}" WHERE NOT _deleted').fetchall()  # noqa: S608
            else:
                rows = self._conn.execute(
                    f'SELECT {key} FROM "{table}" TABLESAMPLE SYSTEM (%s) WHERE NOT _deleted',  # noqa: S608
                    (min(100.0, 100.0 * sample / live),)).fetchall()
        keys = sorted(int(k) for (k,) in rows)
        if len(keys) < 2:
            return 1
        step = max(1, len(keys) // 100)
        bounds = [*keys[::step], keys[-1]]
        widths = sorted(high - low for low, high in itertools.pairwise(bounds) if high > low) or [1]
        typical = widths[len(widths) // 2]
        # a bucket holds `step` keys of the sample, standing for step × live / len(keys) live rows
        width = per_range * typical * len(keys) / (step * live)
        # a power of two (each side finds a key's range by one shift), the nearest
        return 1 << min(62, max(0, round(math.log2(width)) if width > 1 else 0))

    @staticmethod
    def _range_tables(table: str) -> tuple[str, str]:
        return _named("_gs_cr_", table), _named("_gs_sr_", table)

    def range_digests(self, table: str, *, width: int) -> int:
        """The digests of the table's live rows by key range, kept in this connection for :meth:`differing_ranges`
        (while the source computes its own).  Range ``r`` holds the keys ``r * width`` … ``r * width + width - 1``
        (a table keyed by one integer item; ``width`` a power of two, ``r`` the key shifted right — the floor of key
        ÷ width); its digest is its count of keys and the sum of PostgreSQL's ``hashint8`` of each.  Returns the
        ranges that have live rows."""
        _shape, key = self._integer_key(table, "range_digests")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1 or width & (width - 1) \
                or width > 2**62:
            raise StoreError("other", f"width {width!r}: a power of two from 1 to 2**62")
        centre, _source = self._range_tables(table)
        with _errors(), self._transaction():
            # one hash aggregate of the whole table, in memory (some 16 keys a range: up to a million groups); one
            # statement over every row, which the server's JIT may compile (the batches' writes run without it)
            self._conn.execute("SET LOCAL work_mem = '256MB'")
            self._conn.execute("SET LOCAL jit TO DEFAULT")
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {centre} (r BIGINT, n BIGINT, h BIGINT)")
            self._conn.execute(f"TRUNCATE {centre}")
            cursor = self._conn.execute(
                f"INSERT INTO {centre} SELECT {key} >> %s, count(*), sum(hashint8({key})) "  # noqa: S608
                f'FROM "{table}" WHERE NOT _deleted GROUP BY 1', (width.bit_length() - 1,))
            return int(cursor.rowcount)

    def differing_ranges(self, table: str, source: Iterable[bytes]) -> tuple[list[int], int, int]:
        """The key ranges in which the source's keys and the table's live rows (:meth:`range_digests`, just before,
        on this store) differ.  ``source``: the source's digests of the same ranges as binary ``COPY`` data of
        rows ``(r bigint[], n bigint[], h bigint[])`` — ranges packed by the thousand, so that a million ranges
        cross in a thousand rows.  Returns (the differing ranges' numbers, in order; the source's keys counted;
        the source's ranges)."""
        self._integer_key(table, "differing_ranges")
        centre, packed = self._range_tables(table)
        with _errors(), self._transaction():
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {packed} (rs BIGINT[], ns BIGINT[], hs BIGINT[]) "
                               "ON COMMIT DELETE ROWS")
            with self._conn.cursor() as cursor, cursor.copy(f"COPY {packed} FROM STDIN (FORMAT BINARY)") as copy:
                for chunk in source:
                    copy.write(chunk)
            self._conn.execute("SET LOCAL work_mem = '256MB'")
            # the source's digests unpacked once: compared with the centre's, and counted
            counted, ranges, differing = self._conn.execute(
                f"WITH s AS MATERIALIZED (SELECT u.r, u.n, u.h FROM {packed}, unnest(rs, ns, hs) AS u (r, n, h)) "  # noqa: S608
                "SELECT (SELECT coalesce(sum(n), 0) FROM s), (SELECT count(*) FROM s), "
                f"ARRAY(SELECT coalesce(c.r, s.r) FROM {centre} c FULL JOIN s ON s.r = c.r "
                "WHERE c.n IS DISTINCT FROM s.n OR c.h IS DISTINCT FROM s.h ORDER BY 1)").fetchone()
            differing = [int(r) for r in differing]
            self._conn.execute(f"TRUNCATE {centre}")
        return differing, int(counted), int(ranges)

    def stage_range_keys(self, table: str, fill: Callable[[Any, str], int]) -> tuple[list[int], int]:
        """The source's keys within the ranges where source and centre differ, staged in this connection for
        :meth:`remember_ranges` (a table keyed by one integer item): ``fill(connection, scratch)`` loads them into
        ``scratch`` (``k bigint``, as binary ``COPY`` data) and returns how many.  Returns (those of them the
        table holds no live row of, in order: rows the incremental reads missed, to read again; how many)."""
        _shape, key = self._integer_key(table, "stage_range_keys")
        name = _named("_gs_rk_", table)
        with _errors(), self._transaction():
            self._conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (k BIGINT)")
            self._conn.execute(f"TRUNCATE {name}")
            staged = int(fill(self._conn, name))
            self._conn.execute(f"ANALYZE {name}")
            # each key looked up by the table's key index (OFFSET 0: else the planner may read the whole table
            # into a hash for 150 000 keys — 3.5 s at 10 M rows, measured)
            absent = [int(k) for (k,) in self._conn.execute(
                f"SELECT b.k FROM {name} b LEFT JOIN LATERAL (SELECT true AS found "  # noqa: S608
                f'FROM "{table}" s WHERE s.{key} = b.k AND NOT s._deleted OFFSET 0) f ON true '
                "WHERE f.found IS NULL ORDER BY b.k")]
        self._staged_range_keys[table] = name
        return absent, staged

    def remember_ranges(self, table: str, *, ranges: Sequence[tuple[int, int]], width: int, run_id: str,
                        batch: int, position: dict[str, Any], rows_read: int) -> BatchReceipt:
        """A key check by ranges, committed: the keys :meth:`stage_range_keys` staged last for ``table`` on this
        store (the source's keys within the ranges where source and centre differ) added to the run's key list,
        and those ranges recorded — from then on the run's unseen rows (:meth:`count_unseen`, :meth:`unseen`) are
        the live rows *within these ranges* whose key it did not list: in every other range the source holds the
        same keys as the table.  The receipt counts ``rows_read``: the source's keys the check accounted for (all
        of them, most by their ranges' digests); its read hash is :func:`combine` of the listed keys' hashes,
        added up by the server.  Same transaction and receipt rules as :meth:`remember`."""
        shape, _key = self._integer_key(table, "remember_ranges")
        if table not in self._staged_range_keys:
            raise StoreError("other", f"no staged keys for {table} (stage_range_keys first)")
        staged = self._staged_range_keys[table]
        self._check_batch(run_id, batch, position)
        if isinstance(rows_read, bool) or not isinstance(rows_read, int) or rows_read < 0:
            raise StoreError("other", f"rows_read {rows_read!r}: a count")
        column = shape.key_columns[0]
        with _errors():
            key_list = self._keys(table, shape)
        # row_hash((k,)): SHA-256 over the length (8 bytes, big-endian) and the text "I<k>" (ASCII: digits and a
        # sign, the same bytes as text and as UTF-8), its first 16 bytes
        hashed = (f"(SELECT substring(sha256(int8send(octet_length(t)::bigint) || t) FROM 1 FOR {HASH_BYTES}) "  # noqa: S608
                  f"AS _hash FROM (SELECT ('I' || k)::bytea AS t FROM {staged}) AS x) AS h")
        with _errors(), self._transaction():
            self._lock(table)
            stored = self._committed(table, run_id, batch)
            if stored is not None:
                return stored
            listed, read_hash = self._sum_hashes(hashed)
            if rows_read < listed:
                raise StoreError("other", f"rows_read {rows_read} is less than the {listed} keys listed")
            self._run(f"INSERT INTO {key_list} (run_id, {column}) SELECT ?, k FROM {staged} "  # noqa: S608
                      "ON CONFLICT DO NOTHING", (run_id,))
            self._run("INSERT INTO _gs_ranged_runs (table_name, run_id, width) VALUES (?, ?, ?) "
                      "ON CONFLICT (table_name, run_id) DO UPDATE SET width = EXCLUDED.width", (table, run_id, width))
            self._run("DELETE FROM _gs_key_ranges WHERE table_name = ? AND run_id = ?", (table, run_id))
            self._conn.execute(
                "INSERT INTO _gs_key_ranges (table_name, run_id, lo, hi) SELECT %s, %s, lo, hi "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS r (lo, hi)",
                (table, run_id, [lo for lo, _ in ranges], [hi for _, hi in ranges]))
            receipt = BatchReceipt(
                run_id=run_id, batch=batch, rows_read=rows_read, inserted=0, updated=0, unchanged=rows_read,
                rejected=0, read_hash=read_hash, written_hash=EMPTY_HASH, position=position, at=_now())
            self._record(table, receipt, ())
        del self._staged_range_keys[table]
        return receipt

    def _is_ranged(self, table: str, run_id: str) -> bool:
        (found,) = self._run("SELECT count(*) FROM _gs_ranged_runs WHERE table_name = ? AND run_id = ?",
                             (table, run_id)).fetchone()
        return bool(found)

    @staticmethod
    def _keyed_loosely(keys: Sequence[Sequence[Any]], columns: Sequence[StoreColumn]) -> list[list[Any]]:
        """Keys normalised; a NULL part is the caller's error, a repeated key is not."""
        normal: list[list[Any]] = []
        for key in keys:
            if len(key) != len(columns):
                raise StoreError("other", f"a key of {len(key)} values for {len(columns)} key items")
            values = [_normal(column, value) for column, value in zip(columns, key, strict=True)]
            if any(part is None for part in values):
                raise StoreError("other", f"a key with an empty part: {values!r}")
            normal.append(values)
        return normal

    def _unseen_sql(self, table: str, shape: _Shape, run_id: str, select: str,
                    buckets: Sequence[int] | None = None, shift: int = 0) -> tuple[str, list[Any]]:
        """The statement (and its parameters) selecting the live rows the run has not read: whose key is not in
        its key list — and, for a fresh run (:meth:`_fresh`), that it did not write itself."""
        keys = shape.key_columns
        key_list = self._keys(table, shape)
        match = " AND ".join(f"x.{k} = s.{k}" for k in keys)
        within = ""
        if buckets is not None:
            if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift < 31:
                raise StoreError("other", f"shift {shift!r}: 0 to 30")
            numbers = sorted({int(b) for b in buckets})
            self._add_bucket_column(table)
            # the numbers are ints made here: written into the statement (there may be tens of thousands)
            within = f" AND (s._bucket >> {shift}) IN ({', '.join(map(str, numbers))})" if numbers else " AND false"
        params: list[Any] = []
        if self._is_fresh(table, run_id):
            within += " AND (s._run IS NULL OR s._run <> ?)"
            params.append(run_id)
        rows = f'"{table}" s'
        if buckets is None and self._is_ranged(table, run_id):
            # a key check by ranges (remember_ranges): only the rows within the ranges it listed, each range read
            # from the key's index (OFFSET 0 keeps the planner from joining the table's every row to the ranges:
            # 200 000 rows × 199 ranges took 3 s, measured)
            rows = (f'_gs_key_ranges g CROSS JOIN LATERAL (SELECT * FROM "{table}" r '  # noqa: S608
                    f"WHERE r.{keys[0]} BETWEEN g.lo AND g.hi OFFSET 0) s")
            within += " AND g.table_name = ? AND g.run_id = ?"
            params = [*params, table, run_id]
        sql = (f"SELECT {select} FROM {rows} WHERE NOT s._deleted{within} AND NOT EXISTS "  # noqa: S608
               f"(SELECT 1 FROM {key_list} x WHERE x.run_id = ? AND {match})")
        return sql, [*params, run_id]

    def live_keys(self, table: str, keys: Sequence[Sequence[Any]]) -> set[tuple[Any, ...]]:
        """Those of ``keys`` (values of the key items, as converted) that the table holds as live rows."""
        shape = self._shape(table)
        key_columns = [shape.columns[i] for i in shape.key_index]
        letters = [c.letter for c in key_columns]
        normal = [tuple(k) for k in self._keyed_loosely(keys, key_columns)]
        found: set[tuple[Any, ...]] = set()
        names = shape.key_columns
        if not normal:
            return found
        if self.kind == "postgresql" and len(names) == 1:  # one statement for a page of keys
            sql = f'SELECT {names[0]} FROM "{table}" WHERE NOT _deleted AND {names[0]} = ANY(%s)'  # noqa: S608
            with _errors():
                found = {(row[0],) for row in self._conn.execute(sql, ([key[0] for key in normal],))}
            return found
        for start in range(0, len(normal), 200):
            chunk = normal[start:start + 200]
            match = " OR ".join("(" + " AND ".join(f"{n} = ?" for n in names) + ")" for _ in chunk)
            params = [v for key in chunk for v in (map(_to_sqlite, letters, key) if self.kind == "sqlite" else key)]
            sql = f'SELECT {", ".join(names)} FROM "{table}" WHERE NOT _deleted AND ({match})'  # noqa: S608
            with _errors():
                rows = self._run(sql, params).fetchall()
            for row in rows:
                found.add(tuple(_from_sqlite(letter, v) for letter, v in zip(letters, row, strict=True))
                          if self.kind == "sqlite" else tuple(row))
        return found

    def live_rows(self, table: str) -> int:
        """The table's live rows (not tombstoned) — the mass-delete guard's denominator.  Kept in
        ``_gs_tables.live_rows`` by every write (rows inserted, tombstones revived, rows tombstoned) in the write's
        transaction; counted once (and kept) for a table made before the counter existed."""
        self._shape(table)
        with _errors():
            (live,) = self._run("SELECT live_rows FROM _gs_tables WHERE table_name = ?", (table,)).fetchone()
            if live is not None:
                return int(live)
            with self._transaction():
                self._lock(table)  # no writer between the count and the counter
                (live,) = self._run(f'SELECT count(*) FROM "{table}" WHERE NOT _deleted').fetchone()  # noqa: S608
                self._run("UPDATE _gs_tables SET live_rows = ? WHERE table_name = ?", (int(live), table))
        return int(live)

    def count_unseen(self, table: str, run_id: str, *, buckets: Sequence[int] | None = None,
                     shift: int = 0) -> tuple[int, int]:
        """(live rows of the table whose key the run has not read, live rows): after a run has read every key
        of its source, the rows the source no longer has.  ``buckets`` (a compare run, which reads only the rows
        of some buckets): only the rows whose ``_bucket >> shift`` is one of them are counted as unseen (rows
        whose ``_bucket`` is NULL are not); the live rows are still the whole table's."""
        shape = self._shape(table)
        if self.kind == "postgresql":
            if buckets is None and self._is_ranged(table, run_id):
                # a key check by ranges: the look goes from its ranges into the key's index, not over the table
                with _errors():
                    self._conn.execute("ANALYZE _gs_key_ranges")
                    self._conn.execute(f"ANALYZE {self._keys(table, shape)}")
            else:
                # the run's key list has just grown by every key of the source: without fresh statistics
                # PostgreSQL takes it for empty and scans it once per row of the table (200 000 rows: minutes,
                # measured); the table's too, before a look at all of it (an incremental run may have rewritten
                # much of it)
                self._analyze(table, shape, force=True)
        with _errors():
            sql, params = self._unseen_sql(table, shape, run_id, "count(*)", buckets, shift)
            (unseen,) = self._run(sql, params).fetchone()
        return int(unseen), self.live_rows(table)

    def unseen(self, table: str, run_id: str, limit: int, *, buckets: Sequence[int] | None = None,
               shift: int = 0) -> list[tuple[Any, ...]]:
        """Up to ``limit`` keys (values of the key items) of live rows the run has not read, oldest change
        first; ``buckets``, ``shift``: as :meth:`count_unseen`."""
        shape = self._shape(table)
        letters = [shape.columns[i].letter for i in shape.key_index]
        select = ", ".join(f"s.{k}" for k in shape.key_columns)
        with _errors():
            sql, params = self._unseen_sql(table, shape, run_id, select, buckets, shift)
            rows = self._run(sql + " ORDER BY s._seq LIMIT ?", (*params, int(limit))).fetchall()
        if self.kind == "sqlite":
            return [tuple(_from_sqlite(letter, v) for letter, v in zip(letters, row, strict=True)) for row in rows]
        return [tuple(row) for row in rows]

    def forget(self, table: str, run_id: str) -> None:
        """Drop the run's key list (the run has ended: a later run is another run)."""
        shape = self._shape(table)
        with _errors():
            key_list = self._keys(table, shape)
            with self._transaction():
                self._run(f"DELETE FROM {key_list} WHERE run_id = ?", (run_id,))  # noqa: S608 — a name made here
                self._run("DELETE FROM _gs_fresh_runs WHERE table_name = ? AND run_id = ?", (table, run_id))
                self._run("DELETE FROM _gs_ranged_runs WHERE table_name = ? AND run_id = ?", (table, run_id))
                self._run("DELETE FROM _gs_key_ranges WHERE table_name = ? AND run_id = ?", (table, run_id))

    # -- bucket maps (compare runs) ------------------------------------------------------------------------

    def _bucket_map_tables(self) -> None:
        """``_gs_bucket_maps`` (one row per map: the table's, run ``''``, and each open compare run's) and
        ``_gs_buckets`` (a map's non-empty buckets), made on first use."""
        if self._bucket_tables:
            return
        integer = "INTEGER" if self.kind == "sqlite" else "BIGINT"
        with self._ddl():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS _gs_bucket_maps (table_name TEXT NOT NULL, run_id TEXT NOT NULL, "
                f"buckets {integer} NOT NULL, signature TEXT NOT NULL, at TEXT NOT NULL, "
                "PRIMARY KEY (table_name, run_id))")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS _gs_buckets (table_name TEXT NOT NULL, run_id TEXT NOT NULL, "
                f"bucket {integer} NOT NULL, n_rows {integer} NOT NULL, digest {integer} NOT NULL, "
                "PRIMARY KEY (table_name, run_id, bucket))")
        self._bucket_tables = True

    def bucket_map(self, table: str, run_id: str = "") -> BucketMap | None:
        """The table's bucket map (``run_id`` ``''``: the one its last complete compare run left), or the map
        an open compare run keeps (its run id); None: there is none."""
        _check_table(table)
        with _errors():
            self._bucket_map_tables()
            with self._transaction(snapshot=True):
                header = self._run("SELECT buckets, signature, at FROM _gs_bucket_maps WHERE table_name = ? "
                                   "AND run_id = ?", (table, run_id)).fetchone()
                if header is None:
                    return None
                rows = self._run("SELECT bucket, n_rows, digest FROM _gs_buckets WHERE table_name = ? "
                                 "AND run_id = ?", (table, run_id)).fetchall()
        return BucketMap(int(header[0]), str(header[1]), {int(b): (int(n), int(d)) for b, n, d in rows},
                         str(header[2]))

    def keep_bucket_map(self, table: str, run_id: str, found: BucketMap) -> BucketMap:
        """Keep ``found`` as the map of compare run ``run_id`` (one transaction) — unless the run keeps one
        already (a resumed run, or another worker of the same run was first): then that one is returned, unchanged.
        Digests are taken modulo 2**64."""
        self._shape(table)
        if not isinstance(run_id, str) or not run_id or len(run_id) > 200 or "\x00" in run_id:
            raise StoreError("other", "a run id is 1 to 200 characters")
        count = found.buckets
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or count & (count - 1):
            raise StoreError("other", f"buckets {count!r}: a power of two")
        rows = []
        for bucket, (n_rows, digest) in sorted(found.counts.items()):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (bucket, n_rows, digest)) \
                    or not -1 <= bucket < count or not 0 <= n_rows <= _INT_MAX:
                raise StoreError("other", f"not a bucket: {bucket!r} {n_rows!r} {digest!r}")
            digest %= _INT64
            rows.append((table, run_id, bucket, n_rows, digest - _INT64 if digest > _INT_MAX else digest))
        with _errors():
            self._bucket_map_tables()
            with self._transaction():
                self._lock(table)
                kept = self._run("SELECT count(*) FROM _gs_bucket_maps WHERE table_name = ? AND run_id = ?",
                                 (table, run_id)).fetchone()[0]
                if not kept:
                    self._run("INSERT INTO _gs_bucket_maps (table_name, run_id, buckets, signature, at) "
                              "VALUES (?, ?, ?, ?, ?)", (table, run_id, count, str(found.signature), _now()))
                    self._run("DELETE FROM _gs_buckets WHERE table_name = ? AND run_id = ?", (table, run_id))
                    if self.kind == "postgresql":
                        with self._conn.cursor() as cursor, cursor.copy(
                                "COPY _gs_buckets (table_name, run_id, bucket, n_rows, digest) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                    else:
                        self._conn.executemany("INSERT INTO _gs_buckets (table_name, run_id, bucket, n_rows, "
                                               "digest) VALUES (?, ?, ?, ?, ?)", rows)
        kept_map = self.bucket_map(table, run_id)
        assert kept_map is not None
        return kept_map

    def promote_bucket_map(self, table: str, run_id: str) -> bool:
        """The map run ``run_id`` keeps becomes the table's (one transaction); the maps of runs that began before
        it (abandoned) go.  False: the run keeps none (already promoted)."""
        self._shape(table)
        with _errors():
            self._bucket_map_tables()
            with self._transaction():
                self._lock(table)
                found = self._run("SELECT at FROM _gs_bucket_maps WHERE table_name = ? AND run_id = ?",
                                  (table, run_id)).fetchone()
                if found is None or run_id == "":
                    return False
                older = ("SELECT run_id FROM _gs_bucket_maps WHERE table_name = ? "
                         "AND (run_id = '' OR (run_id <> ? AND at <= ?))")
                self._run(f"DELETE FROM _gs_buckets WHERE table_name = ? AND run_id IN ({older})",  # noqa: S608
                          (table, table, run_id, found[0]))
                self._run(f"DELETE FROM _gs_bucket_maps WHERE table_name = ? AND run_id IN ({older})",  # noqa: S608
                          (table, table, run_id, found[0]))
                for name in ("_gs_buckets", "_gs_bucket_maps"):
                    self._run(f"UPDATE {name} SET run_id = '' WHERE table_name = ? AND run_id = ?",  # noqa: S608
                              (table, run_id))
        return True

    # -- reading -------------------------------------------------------------------------------------------

    def position(self, table: str, run_id: str) -> dict[str, Any] | None:
        """The position committed with the run's last batch (None: no batch yet)."""
        with _errors():
            found = self._run("SELECT position FROM _gs_receipts WHERE table_name = ? AND run_id = ? "
                              "ORDER BY batch DESC LIMIT 1", (table, run_id)).fetchone()
        return None if found is None else dict(json.loads(found[0]))

    def last_batch(self, table: str, run_id: str) -> int:
        with _errors():
            (last,) = self._run("SELECT coalesce(max(batch), 0) FROM _gs_receipts WHERE table_name = ? "
                                "AND run_id = ?", (table, run_id)).fetchone()
        return int(last)

    def receipts(self, table: str, run_id: str | None = None, *,
                 batch: int | None = None) -> list[BatchReceipt]:
        """The receipts of ``table`` (of one run, or one batch of it), in commit order."""
        where, params = "table_name = ?", [cast(Any, table)]
        if batch is not None:
            where, params = where + " AND batch = ?", [*params, batch]
        if run_id is not None:
            where, params = where + " AND run_id = ?", [*params, run_id]
        order = "batch" if run_id is not None else "at, run_id, batch"
        sql = ("SELECT run_id, batch, rows_read, inserted, updated, unchanged, rejected, "  # noqa: S608
               "read_hash, written_hash, position, at, deleted "
               f"FROM _gs_receipts WHERE {where} ORDER BY {order}")
        with _errors():
            rows = self._run(sql, params).fetchall()
        return [BatchReceipt(run_id=str(r[0]), batch=int(r[1]), rows_read=int(r[2]), inserted=int(r[3]),
                             updated=int(r[4]), unchanged=int(r[5]), rejected=int(r[6]), read_hash=str(r[7]),
                             written_hash=str(r[8]), position=dict(json.loads(r[9])), at=str(r[10]),
                             deleted=int(r[11])) for r in rows]

    def quarantine(self, table: str, run_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Quarantined values, oldest first: ``run_id``, ``batch``, ``key``, ``item``, ``reason``, ``at``."""
        where, params = "table_name = ?", [cast(Any, table)]
        if run_id is not None:
            where, params = where + " AND run_id = ?", [*params, run_id]
        sql = (f"SELECT run_id, batch, row_key, item, reason, at FROM _gs_quarantine "  # noqa: S608
               f"WHERE {where} ORDER BY id LIMIT ?")
        with _errors():
            rows = self._run(sql, [*params, int(limit)]).fetchall()
        return [{"run_id": r[0], "batch": int(r[1]), "key": r[2], "item": r[3], "reason": r[4], "at": r[5]}
                for r in rows]

    def summary(self, table: str) -> TableSummary:
        """Live and deleted rows, the combined hash of the live rows, the last change sequence number."""
        self._shape(table)
        total = 0
        counts = ("SELECT coalesce(sum(CASE WHEN _deleted THEN 0 ELSE 1 END), 0), "  # noqa: S608
                  f'coalesce(sum(CASE WHEN _deleted THEN 1 ELSE 0 END), 0) FROM "{table}"')
        hashes = f'SELECT _hash FROM "{table}" WHERE NOT _deleted'  # noqa: S608 — a checked name
        with _errors(), self._transaction(snapshot=True):
            last_seq, kept = self._run("SELECT last_seq, live_rows FROM _gs_tables WHERE table_name = ?",
                                       (table,)).fetchone()
            live, deleted = self._conn.execute(counts).fetchone()
            if self.kind == "sqlite":
                for (one,) in self._conn.execute(hashes):
                    total += int.from_bytes(one, "big")
            else:
                with self._conn.cursor(name="gs_summary") as cursor:
                    cursor.itersize = 20_000  # a server-side cursor: constant memory
                    cursor.execute(hashes)
                    for (one,) in cursor:
                        total += int.from_bytes(one, "big")
        if kept is not None and int(kept) != int(live):
            # a writer that did not keep the counter (an older worker during an upgrade, a hand-made change):
            # forget it — the next reader counts again (the mass-delete guard must not trust a wrong one)
            with _errors():
                self._run("UPDATE _gs_tables SET live_rows = NULL WHERE table_name = ? AND live_rows = ?",
                          (table, int(kept)))
        return TableSummary(int(live), int(deleted), f"{total % _MODULUS:032x}", int(last_seq))

    def changes_since(self, table: str, seq: int, limit: int) -> list[tuple[Any, ...]]:
        """Rows (tombstones included) whose last change is after ``seq``, in ``_seq`` order, at most
        ``limit``: ``(values…, _seq, _deleted)``."""
        shape = self._shape(table)
        letters = [column.letter for column in shape.columns]
        names = ", ".join(f"c{i}" for i in range(1, len(letters) + 1))
        sql = f'SELECT {names}, _seq, _deleted FROM "{table}" WHERE _seq > ? ORDER BY _seq LIMIT ?'  # noqa
        with _errors():
            rows = self._run(sql, (int(seq), int(limit))).fetchall()
        if self.kind == "postgresql":
            return [tuple(row[:-1]) + (bool(row[-1]),) for row in rows]
        return [(*[_from_sqlite(letter, v) for letter, v in zip(letters, row, strict=False)], int(row[-2]),
                 bool(row[-1])) for row in rows]
