"""Delivery of a grant's rows into the consumer's front-end database (库表 channel; issue 11 item 1, SHR-4,
EXC-6).  Django-free: the caller gives the target's connection settings, the centre's change feed and the
mask; this module creates the table, writes the batches and keeps the delivery's state in the target.

The target table holds the granted items only (each a column the consumer named, typed by the masked value's
data-type letter) and three system columns:

* ``_gs_key`` — 64 hex digits, the row's identity: HMAC-SHA256 of the centre's key under the grant's own key
  (a masked key is no longer unique, and the real key must not be derivable from it); the primary key;
* ``_gs_seq`` — the centre's change sequence number of the row's last change (the consumer may order by it);
* ``_gs_hash`` — the masked row's :func:`~govshare.datastore.engine.store.row_hash` (32 hex digits).

**Exactly once.** The state table ``_govshare_delivery`` (in the same schema) has one row per delivery
binding: the centre's last change delivered (``last_seq``), the rows the table should hold, their combined hash
and the shape (items, types, masks) they were made with.  Each batch — the rows changed in the centre after
``last_seq`` (tombstones included) — is written in **one target transaction together with the state row**, by a
conditional update on the ``last_seq`` it started from: a process killed at any moment leaves either the
whole batch and its new ``last_seq`` or neither, and the next run reads the state from the target itself and
goes on from there.  Nothing is delivered twice, nothing skipped.

**Receipts.** The state's row count and combined hash are kept exact batch by batch (a changed row's old
hash is subtracted, a deleted row's too): :func:`check` recomputes both from the target's actual values and
from the centre's rows masked the same way, so the consumer is shown to hold exactly what the centre released.

**Shape changes.** A different shape (the grant's items, a masking rule, a type) rebuilds the table: it is
dropped and made again and everything delivered anew — rows masked one way are never left next to rows masked
another way.  A table that exists without a state row is the consumer's own: it is never touched.

**A first copy in SQL** (PostgreSQL centre → PostgreSQL target, :func:`fast_problem` says when; issue 11's
speed).  When the target's table is empty, the centre's server masks (:func:`masking.sql_mask`: the same values as
:meth:`Mask.apply`, or the value flagged and masked here in Python), keys and hashes the rows of one snapshot, and
they go over as binary COPY — the same rows, ``_gs_key`` and ``_gs_hash`` as this module computes in Python, byte
for byte (tests/test_exchange_deliver_sql.py).  Batches are ranges of change numbers, each with the state row in one
target transaction as always; the primary key is dropped for the load and made again by the last batch, which also
takes the table's hash (the state's hash says :data:`PENDING` until then; a run that finds it so — a crash, a stop —
makes the key and takes the hash first: :meth:`Target.settle`).  Several centre sessions in one snapshot can each
mask a part of every batch (``streams``).

**Stopping.** ``allowed()`` is asked before every batch (a revoked or expired grant stops the delivery at the
next batch, and the result says why).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import heapq
import hmac
import itertools
import json
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from govshare.core import masking
from govshare.datastore.engine.store import HASH_BYTES, decimal_text, row_hash
from govshare.exchange.engine import sources
from govshare.exchange.engine.sources import SourceError, SourceSpec

STATE_TABLE = "_govshare_delivery"
#: the state's content hash while a first copy in SQL is under way (:func:`_fast_copy`): the table's hash is taken when
#: the copy ends, or by the next run (:meth:`Target.settle`)
PENDING = "pending"
#: the letters whose values the centre hashes and keys in SQL exactly as :func:`row_hash` (not B/F: float text)
SQL_LETTERS = "CMNYIDTLG"
#: centre change numbers per batch of a first copy in SQL
FAST_BATCH = 100_000
#: how far the centre's change counter must be ahead of a delivered table for its changes to be delivered in SQL too
#: (fewer go in Python: opening the centre's sessions costs more than it saves)
SQL_CHANGES = 20_000
#: the state row's shape while a MySQL table is being made (its DDL commits by itself)
CREATING = "creating"
SYSTEM_PREFIX = "_gs_"
_MODULUS = 2 ** (8 * HASH_BYTES)
ROW_KEY_CONTEXT = b"govshare delivery row key v1\x00"
#: keys per ``IN (…)`` list
_IN_CHUNK = 500
#: the longest name a column or table may have, in UTF-8 bytes (PostgreSQL's limit; MySQL's is 64 characters)
NAME_BYTES = 63
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\"`\\%]")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")


class DeliveryError(Exception):
    """The delivery cannot go on: ``code`` says why (``table_exists``, ``table_taken``, ``stopped``, ``conflict``,
    ``bad_name``, ``target`` — the target refused, ``detail`` has its message)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail[:2000]

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


@dataclass(frozen=True)
class TargetColumn:
    name: str  # the consumer's column name
    letter: str  # the data-type letter of the value delivered (the masked value's)
    length: int | None = None  # a text column's length, when the value is not masked
    #: a number item's own length (its most digits, masked or not): what MySQL's decimal column must hold — not part
    #: of the table's shape (tables made before it was known keep their shape)
    digits: int | None = None


@dataclass(frozen=True)
class DeliveryPlan:
    target: SourceSpec
    schema: str  # PostgreSQL: the schema ("" — the account's default); MySQL: "" or the database; SQLite: ""
    table: str
    binding: str  # the binding's name in the state table
    columns: tuple[TargetColumn, ...]
    #: what the rows are made with (items, types, masks): a different one rebuilds the table
    shape: str
    batch_rows: int = 5000


@dataclass(frozen=True)
class CentreTable:
    """The centre's table a delivery reads, for the first copy in SQL (:func:`fast_problem` says when it applies): a
    PostgreSQL centre's ``url`` and ``table``; ``key`` and ``items`` — the store's columns (``c1``…) and data-type
    letters of the key items and of the granted items in the plan's order; ``masks`` of the granted items; ``mask_key``
    the grant's pseudonym key.  (The centre's own ``_hash`` is never taken for ``_gs_hash``, even of all items unmasked:
    rows of a table that grew keep the hash of fewer items — review.)"""

    url: str
    table: str
    key: tuple[tuple[str, str], ...]
    items: tuple[tuple[str, str], ...]
    masks: tuple[masking.Mask | None, ...]
    mask_key: bytes | None = None


@dataclass
class BatchReceipt:
    batch: int
    seq_from: int
    seq_to: int
    written: int  # rows inserted or updated
    deleted: int
    rows: int  # rows in the target after the batch
    content_hash: str


@dataclass
class DeliveryResult:
    last_seq: int
    rows: int
    content_hash: str
    batches: list[BatchReceipt] = field(default_factory=list)
    rebuilt: bool = False
    created: bool = False
    #: the batches of a first copy made in SQL (:func:`_fast_copy`), and why not when it could have been (a first copy
    #: of a PostgreSQL target made in Python)
    in_sql: int = 0
    not_in_sql: str = ""

    @property
    def written(self) -> int:
        return sum(b.written for b in self.batches)

    @property
    def deleted(self) -> int:
        return sum(b.deleted for b in self.batches)


@dataclass
class State:
    last_seq: int
    rows: int
    content_hash: str
    shape: str
    batches: int


@dataclass
class CheckResult:
    """The target's table against the centre's rows masked the same way (receipts: count + hash)."""

    equal: bool
    centre_rows: int
    centre_hash: str
    target_rows: int
    target_hash: str
    state_rows: int | None
    state_hash: str
    state_seq: int | None
    centre_seq: int
    missing: int = 0  # in the centre, not in the target
    extra: int = 0  # in the target, not in the centre
    different: int = 0  # in both, other values
    sample: list[str] = field(default_factory=list)  # _gs_key of some differing rows
    method: str = "python"  # "sql": both sides computed by their servers (:func:`_check_in_sql`)
    not_in_sql: str = ""  # why not, where it might have been

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def shape_of(columns: Sequence[TargetColumn], masks: Sequence[str], items: Sequence[str],
             key: Sequence[str] = (), generation: int = 1) -> str:
    """The shape a table is made with: items, column names, types and masks (canonical), and the centre's key
    (``_gs_key`` is made of it); ``generation``: how many times the centre's table was made (a table made again
    holds other rows under other sequence numbers: every table delivered from it is made again too)."""
    body: list[Any] = [[item, c.name, c.letter, c.length, mask]
                       for item, c, mask in zip(items, columns, masks, strict=True)]
    body.append(list(key))
    if generation > 1:  # (shapes of tables delivered before any rebuild stay what they were)
        body.append(["generation", generation])
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()[:32]


def row_key(secret: bytes, key_values: Sequence[Any]) -> str:
    """``_gs_key``: the centre key's HMAC under the grant's key (hex)."""
    return hmac.new(secret, ROW_KEY_CONTEXT + row_hash(key_values), hashlib.sha256).hexdigest()


def check_name(name: str, what: str = "column") -> str | None:
    """Why ``name`` cannot name a target table, schema or column (None: it can) — a code the caller words in the
    reader's language: ``empty`` (or spaces at either end), ``too_long`` (more than :data:`NAME_BYTES` bytes in
    UTF-8), ``bad_character`` (a quote, backslash, percent sign or control character), ``reserved`` (govshare's own
    names), ``not_identifier`` (a table or schema: letters of any script, digits and ``_``, not a digit first — a
    name the consumer's own tools take unquoted).  A column may be an item's name as written (``注册资本（万元）``):
    every kind of target takes it quoted."""
    if not name or name != name.strip():
        return "empty"
    if len(name.encode("utf-8")) > NAME_BYTES:
        return "too_long"
    if _BAD_NAME.search(name):
        return "bad_character"
    if name.lower().startswith(SYSTEM_PREFIX) or name.lower() == STATE_TABLE:
        return "reserved"
    if what != "column" and not _IDENTIFIER.fullmatch(name):
        return "not_identifier"
    return None


# -- dialects ----------------------------------------------------------------------------------------------------

class _Dialect:
    kind = ""
    ph = "%s"

    def __init__(self, conn: Any, plan: DeliveryPlan) -> None:
        self.conn = conn
        self.plan = plan

    def q(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def qualified(self, table: str) -> str:
        return f"{self.q(self.plan.schema)}.{self.q(table)}" if self.plan.schema else self.q(table)

    def column_type(self, column: TargetColumn) -> str:
        raise NotImplementedError

    def column_types(self, columns: Sequence[TargetColumn]) -> list[str]:
        """Each column's type in the CREATE TABLE (a dialect may weigh them together)."""
        return [self.column_type(c) for c in columns]

    key_type = "CHAR(64)"
    hash_type = "CHAR(32)"
    text_type = "TEXT"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, tuple(params))
        return cursor

    def many(self, sql: str, rows: list[Sequence[Any]]) -> None:
        if rows:
            self.conn.cursor().executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield  # pragma: no cover

    def lock(self) -> str:
        return " FOR UPDATE"

    def table_exists(self, table: str) -> bool:
        raise NotImplementedError

    def upsert_sql(self, names: list[str]) -> str:
        raise NotImplementedError

    def insert_sql(self, names: list[str]) -> str:
        marks = ", ".join([self.ph] * len(names))
        return (f"INSERT INTO {self.qualified(self.plan.table)} ({', '.join(self.q(n) for n in names)}) "  # noqa: S608
                f"VALUES ({marks})")

    def write(self, names: list[str], rows: list[Sequence[Any]], *, fresh: bool) -> None:
        """Write the batch's rows: ``fresh`` — the table held none of their keys when the run began (a plain insert;
        a key that is there after all raises the driver's integrity error, and the batch is done again, not
        fresh); otherwise an upsert by ``_gs_key``."""
        self.many(self.insert_sql(names) if fresh else self.upsert_sql(names), rows)

    def is_duplicate(self, exc: BaseException) -> bool:
        return False

    def to_target(self, letter: str, value: Any) -> Any:
        return value

    def from_target(self, letter: str, value: Any) -> Any:
        return normal(letter, value)


class _Postgres(_Dialect):
    kind = "postgresql"
    _TYPES = {"C": "TEXT", "M": "TEXT", "N": "NUMERIC", "Y": "NUMERIC", "I": "BIGINT", "B": "DOUBLE PRECISION",
              "F": "DOUBLE PRECISION", "D": "DATE", "T": "TIMESTAMP", "L": "BOOLEAN", "G": "BYTEA"}

    def column_type(self, column: TargetColumn) -> str:
        return self._TYPES[column.letter]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def table_exists(self, table: str) -> bool:
        schema = self.plan.schema
        where = "%s" if schema else "current_schema()"
        sql = ("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "  # noqa: S608
               f"WHERE c.relname = %s AND n.nspname = {where}")
        found = self.execute(sql, (table, schema) if schema else (table,)).fetchone()
        return found is not None

    def upsert_sql(self, names: list[str]) -> str:
        quoted = [self.q(n) for n in names]
        marks = ", ".join(["%s"] * len(names))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in quoted if n != '"_gs_key"')
        return (f"INSERT INTO {self.qualified(self.plan.table)} ({', '.join(quoted)}) VALUES ({marks}) "  # noqa: S608
                f'ON CONFLICT ("_gs_key") DO UPDATE SET {updates}')

    def write(self, names: list[str], rows: list[Sequence[Any]], *, fresh: bool) -> None:
        """COPY (measured ~5× ``executemany``): straight into the table when fresh, else into a temporary table
        that one ``INSERT … ON CONFLICT`` upserts from."""
        if not rows:
            return
        quoted = ", ".join(self.q(n) for n in names)
        table = self.qualified(self.plan.table)
        into = table
        if not fresh:
            into = '"_gs_batch"'
            self.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {into} (LIKE {table}) ON COMMIT DELETE ROWS")
        cursor = self.conn.cursor()
        with cursor.copy(f"COPY {into} ({quoted}) FROM STDIN") as copy:  # noqa: S608
            for row in rows:
                copy.write_row(row)
        if not fresh:
            updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in (self.q(n) for n in names) if n != '"_gs_key"')
            self.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM {into} "  # noqa: S608
                         f'ON CONFLICT ("_gs_key") DO UPDATE SET {updates}')

    def is_duplicate(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.errors.UniqueViolation)


class _MySQL(_Dialect):
    kind = "mysql"
    key_type = "CHAR(64) CHARACTER SET ascii COLLATE ascii_bin"
    hash_type = "CHAR(32) CHARACTER SET ascii"
    text_type = "LONGTEXT"
    _TYPES = {"M": "LONGTEXT", "N": "DECIMAL(65, 30)", "Y": "DECIMAL(65, 30)", "I": "BIGINT", "B": "DOUBLE",
              "F": "DOUBLE", "D": "DATE", "T": "DATETIME(6)", "L": "BOOLEAN", "G": "LONGBLOB"}

    def q(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def qualified(self, table: str) -> str:
        return self.q(table)  # the connection's database (a schema other than it is refused by the caller)

    #: DECIMAL(65, 30) holds 35 integer and 30 fraction digits: every value of a number item of up to 30 digits (its
    #: integer digits and its fraction digits each at most the length, one more integer digit after rounding)
    DECIMAL_DIGITS = 30
    #: the bytes of a row's VARCHAR columns MySQL allows (65 535 for the whole row, less the key, hash and others)
    ROW_BUDGET = 60_000

    def column_type(self, column: TargetColumn) -> str:
        if column.letter == "C":
            return f"VARCHAR({column.length})" if column.length and column.length <= 4000 else "LONGTEXT"
        if column.letter in "NY":
            digits = column.digits or column.length
            if digits is not None and digits <= self.DECIMAL_DIGITS:
                return "DECIMAL(65, 30)"
            # more digits than any DECIMAL holds exactly: the canonical text — integer and fraction digits each up to
            # the length (a value written before lengths were checked everywhere), a sign, a point, a carried digit
            return f"VARCHAR({2 * digits + 3})" if digits is not None and 2 * digits + 3 <= 4000 else "LONGTEXT"
        return self._TYPES[column.letter]

    def column_types(self, columns: Sequence[TargetColumn]) -> list[str]:
        """As :meth:`column_type`, but a row's VARCHARs must fit MySQL's row size (4 bytes a character in utf8mb4):
        the longest become TEXT (stored off the row) until they do — else five items of 4 000 characters could not
        be delivered at all."""
        types = super().column_types(columns)
        sizes = {n: int(t[8:-1]) * 4 + 2 for n, t in enumerate(types) if t.startswith("VARCHAR(")}
        for n in sorted(sizes, key=lambda n: -sizes[n]):
            if sum(sizes.values()) <= self.ROW_BUDGET:
                break
            types[n] = "TEXT" if sizes.pop(n) <= 65_535 else "LONGTEXT"
        return types

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.begin()
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise
        self.conn.commit()

    def table_exists(self, table: str) -> bool:
        found = self.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() "
                             "AND table_name = %s", (table,)).fetchone()
        return found is not None

    def is_duplicate(self, exc: BaseException) -> bool:
        import pymysql

        return isinstance(exc, pymysql.err.IntegrityError) and bool(exc.args) and exc.args[0] == 1062

    def upsert_sql(self, names: list[str]) -> str:
        quoted = [self.q(n) for n in names]
        marks = ", ".join(["%s"] * len(names))
        updates = ", ".join(f"{n} = VALUES({n})" for n in quoted if n != "`_gs_key`")
        return (f"INSERT INTO {self.qualified(self.plan.table)} ({', '.join(quoted)}) VALUES ({marks}) "  # noqa: S608
                f"ON DUPLICATE KEY UPDATE {updates}")

    def to_target(self, letter: str, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        if letter in "NY" and value is not None:  # as exact text (PyMySQL would write 1E-7, a float to MySQL)
            return decimal_text(Decimal(value))
        return value


class _SQLite(_Dialect):
    kind = "sqlite"
    ph = "?"
    key_type = "TEXT"
    hash_type = "TEXT"
    _TYPES = {"C": "TEXT", "M": "TEXT", "N": "TEXT", "Y": "TEXT", "I": "INTEGER", "B": "REAL", "F": "REAL",
              "D": "TEXT", "T": "TEXT", "L": "INTEGER", "G": "BLOB"}

    def column_type(self, column: TargetColumn) -> str:
        return self._TYPES[column.letter]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql.replace("%s", "?"), tuple(params))

    def many(self, sql: str, rows: list[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql.replace("%s", "?"), rows)

    def lock(self) -> str:
        return ""  # BEGIN IMMEDIATE holds the database

    def is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def table_exists(self, table: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (table,)).fetchone() is not None

    def upsert_sql(self, names: list[str]) -> str:
        quoted = [self.q(n) for n in names]
        marks = ", ".join(["?"] * len(names))
        updates = ", ".join(f"{n} = excluded.{n}" for n in quoted if n != '"_gs_key"')
        return (f"INSERT INTO {self.qualified(self.plan.table)} ({', '.join(quoted)}) VALUES ({marks}) "  # noqa: S608
                f'ON CONFLICT ("_gs_key") DO UPDATE SET {updates}')

    def to_target(self, letter: str, value: Any) -> Any:
        if value is None:
            return None
        if letter in "NY":
            return decimal_text(Decimal(value))
        if letter == "D":
            return value.isoformat()
        if letter == "T":
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat(sep=" ")
        if letter == "L":
            return int(value)
        return value


_DIALECTS: dict[str, type[_Dialect]] = {"postgresql": _Postgres, "mysql": _MySQL, "sqlite": _SQLite}


def normal(letter: str, value: Any) -> Any:
    """A value read back from any kind of target as the Python type the centre's letter has (what was hashed)."""
    if value is None:
        return None
    if letter in "NY":
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if letter == "I":
        return int(value)
    if letter in "BF":
        return float(value)
    if letter == "D":
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if letter == "T":
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value
        return dt.datetime.fromisoformat(str(value))
    if letter == "L":
        return bool(value)
    if letter == "G":
        return bytes(value)
    return value if isinstance(value, str) else str(value)


#: SQL summing the hex hashes ``h`` of a set of rows as four 32-bit parts (bigint sums cannot overflow), and the total
_HASH_SUMS = ", ".join(f"coalesce(sum(substring(('x' || h)::bit(128) FROM {1 + 32 * i} FOR 32)::bigint), 0)"
                       for i in range(4))


def _summed(parts: Sequence[Any]) -> int:
    """The total of :data:`_HASH_SUMS`' four parts."""
    return sum(int(part) << (32 * (3 - i)) for i, part in enumerate(parts))


def _hash_int(text: str) -> int:
    return int(text, 16) if text else 0


def _hex(total: int) -> str:
    return f"{total % _MODULUS:032x}"


# -- the delivery ---------------------------------------------------------------------------------------------

class Target:
    """An open writable session on the consumer's database for one plan."""

    def __init__(self, conn: Any, plan: DeliveryPlan) -> None:
        self.plan = plan
        self.d = _DIALECTS[plan.target.kind](conn, plan)
        self.names = [c.name for c in plan.columns]

    # state ---------------------------------------------------------------------------------------------------
    def ensure_state_table(self) -> None:
        d = self.d
        if d.table_exists(STATE_TABLE):
            return
        d.execute(f"CREATE TABLE IF NOT EXISTS {d.qualified(STATE_TABLE)} ("
                  f"binding VARCHAR(64) NOT NULL PRIMARY KEY, table_name VARCHAR(200) NOT NULL, "
                  f"shape VARCHAR(64) NOT NULL, last_seq BIGINT NOT NULL, row_count BIGINT NOT NULL, "
                  f"content_hash VARCHAR(32) NOT NULL, batches BIGINT NOT NULL, updated_at VARCHAR(40) NOT NULL)")

    def state(self, *, lock: bool = False) -> State | None:
        d = self.d
        row = d.execute(f"SELECT last_seq, row_count, content_hash, shape, batches, table_name "  # noqa: S608
                        f"FROM {d.qualified(STATE_TABLE)} WHERE binding = %s" + (d.lock() if lock else ""),
                        (self.plan.binding,)).fetchone()
        if row is None:
            return None
        if str(row[5]) != self.plan.table:
            raise DeliveryError("table_taken", f"the state names table {row[5]!r}, not {self.plan.table!r}")
        return State(int(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]))

    def _owner_of_table(self) -> str | None:
        d = self.d
        row = d.execute(f"SELECT binding FROM {d.qualified(STATE_TABLE)} WHERE table_name = %s "  # noqa: S608
                        f"AND binding <> %s", (self.plan.table, self.plan.binding)).fetchone()
        return str(row[0]) if row else None

    def _put_state(self, state: State) -> None:
        d = self.d
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        d.execute(f"DELETE FROM {d.qualified(STATE_TABLE)} WHERE binding = %s", (self.plan.binding,))  # noqa: S608
        d.execute(f"INSERT INTO {d.qualified(STATE_TABLE)} (binding, table_name, shape, last_seq, row_count, "  # noqa: S608
                  "content_hash, batches, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                  (self.plan.binding, self.plan.table, state.shape, state.last_seq, state.rows, state.content_hash,
                   state.batches, now))

    # the table -----------------------------------------------------------------------------------------------
    def _create_table(self) -> None:
        d = self.d
        columns = ", ".join(f"{d.q(c.name)} {kind}"
                            for c, kind in zip(self.plan.columns, d.column_types(self.plan.columns), strict=True))
        d.execute(f"CREATE TABLE {d.qualified(self.plan.table)} ({columns}, "
                  f'{d.q("_gs_key")} {d.key_type} NOT NULL PRIMARY KEY, {d.q("_gs_seq")} BIGINT NOT NULL, '
                  f'{d.q("_gs_hash")} {d.hash_type} NOT NULL)')

    def prepare(self) -> tuple[State, bool, bool]:
        """The state to go on from: (state, created, rebuilt).  Makes the table (and the state table) when
        needed; a table of another shape is rebuilt; a table that is not govshare's is refused."""
        self.ensure_state_table()
        d = self.d
        state = self.state()
        owner = self._owner_of_table()
        if owner is not None:
            raise DeliveryError("table_taken", f"the table {self.plan.table!r} receives another delivery ({owner})")
        exists = d.table_exists(self.plan.table)
        if state is None and exists:
            raise DeliveryError("table_exists", f"the table {self.plan.table!r} exists and was not made by govshare")
        if state is not None and state.shape == self.plan.shape and exists:
            return state, False, False
        rebuilt = state is not None and state.shape != CREATING
        fresh = State(0, 0, _hex(0), self.plan.shape, 0)
        if d.kind == "mysql":
            # DDL commits by itself on MySQL: a "creating" state row first (the table is govshare's from then on),
            # the real one last — a crash in between finds the marker and makes the table again
            with d.transaction():
                self._put_state(State(0, 0, _hex(0), CREATING, 0))
            if exists:
                d.execute(f"DROP TABLE {d.qualified(self.plan.table)}")
            self._create_table()
            with d.transaction():
                self._put_state(fresh)
        else:  # PostgreSQL and SQLite: the drop, the new table and its state row in one transaction
            with d.transaction():
                if exists:
                    d.execute(f"DROP TABLE {d.qualified(self.plan.table)}")
                self._create_table()
                self._put_state(fresh)
        return fresh, not rebuilt, rebuilt

    def _old_hashes(self, keys: list[str]) -> dict[str, str]:
        d = self.d
        found: dict[str, str] = {}
        table = d.qualified(self.plan.table)
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start:start + _IN_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            for key, hashed in d.execute(f'SELECT {d.q("_gs_key")}, {d.q("_gs_hash")} FROM {table} '  # noqa: S608
                                         f'WHERE {d.q("_gs_key")} IN ({marks})', chunk).fetchall():
                found[str(key)] = str(hashed)
        return found

    def apply(self, state: State, rows: list[tuple[str, int, bool, list[Any]]], *,
              fresh: bool = False) -> tuple[State, BatchReceipt]:
        """One batch ``(_gs_key, _seq, deleted, masked values)`` in ``_seq`` order, with the state row, in one
        transaction; the state row must still say ``state.last_seq`` (else another process delivered meanwhile).
        ``fresh``: the table was empty when the run began — no row's old hash is looked up and rows are inserted, not
        upserted (the first copy's speed); a key found there after all (a row the centre changed again during the
        run) raises :class:`_NotFresh`, the transaction is rolled back and the caller does the batch again."""
        d = self.d
        letters = [c.letter for c in self.plan.columns]
        latest: dict[str, tuple[int, bool, list[Any]]] = {}
        for key, seq, deleted, values in rows:  # one change per key per batch (the centre gives one, be sure)
            latest[key] = (seq, deleted, values)
        total = _hash_int(state.content_hash)
        count = state.rows
        written: list[Sequence[Any]] = []
        gone: list[str] = []
        with d.transaction():
            now = self.state(lock=True)
            if now is None or now.last_seq != state.last_seq or now.shape != state.shape:
                raise DeliveryError("conflict", "another process delivered to this table meanwhile")
            if not state.rows:
                old = {}
            elif fresh:  # a row delivered earlier in this run and deleted since: its delete is not lost
                old = self._old_hashes([key for key, (_seq, deleted, _v) in latest.items() if deleted])
            else:
                old = self._old_hashes(list(latest))
            for key, (seq, deleted, values) in latest.items():
                before = old.get(key)
                if before is not None:
                    total -= int(before, 16)
                if deleted:
                    if before is not None:
                        count -= 1
                        gone.append(key)
                    continue
                hashed = row_hash(values).hex()
                total += int(hashed, 16)
                if before is None:
                    count += 1
                written.append([*(d.to_target(letter, v) for letter, v in zip(letters, values, strict=True)),
                                key, seq, hashed])
            try:
                d.write([*self.names, "_gs_key", "_gs_seq", "_gs_hash"], written, fresh=fresh)
            except Exception as exc:
                if fresh and d.is_duplicate(exc):
                    raise _NotFresh from exc
                raise
            table = d.qualified(self.plan.table)
            for start in range(0, len(gone), _IN_CHUNK):
                chunk = gone[start:start + _IN_CHUNK]
                d.execute(f'DELETE FROM {table} WHERE {d.q("_gs_key")} IN ({", ".join(["%s"] * len(chunk))})',  # noqa: S608
                          chunk)
            seq_to = max((seq for _, seq, _, _ in rows), default=state.last_seq)
            after = State(seq_to, count, _hex(total), state.shape, state.batches + 1)
            self._put_state(after)
        receipt = BatchReceipt(after.batches, state.last_seq, seq_to, len(written), len(gone), count,
                               after.content_hash)
        return after, receipt

    # a first copy in SQL (PostgreSQL targets) -------------------------------------------------------------------
    def utf8(self) -> bool:
        """Whether the target's database is UTF8 (the first copy in SQL sends the centre's text as it is)."""
        found = self.d.execute("SELECT current_setting('server_encoding')").fetchone()
        return bool(found) and str(found[0]).upper() in ("UTF8", "UTF-8")

    def primary_key(self) -> str | None:
        """The name of the table's primary key constraint (None: it has none — a first copy in SQL is loading)."""
        found = self.d.execute("SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = %s::regclass "
                               "AND contype = 'p'", (self.d.qualified(self.plan.table),)).fetchone()
        return str(found[0]) if found else None

    def table_total(self) -> tuple[int, str]:
        """(rows, combined hash) of the table as it is, summed by the target (PostgreSQL)."""
        d = self.d
        row = d.execute(f"SELECT count(*), {_HASH_SUMS} FROM (SELECT {d.q('_gs_hash')} AS h "  # noqa: S608
                        f"FROM {d.qualified(self.plan.table)}) q").fetchone()
        return int(row[0]), _hex(_summed(row[1:]))

    def whole_table_statements(self) -> None:
        """In this transaction, no statement time limit (the account's is for a batch, not for making the primary key
        of the whole table or adding up its hashes: tens of millions of rows) and more memory for the key's sort."""
        self.d.execute("SET LOCAL statement_timeout = 0")
        self.d.execute("SET LOCAL maintenance_work_mem = '256MB'")

    def settle(self, state: State) -> State:
        """The end of a first copy in SQL that was cut short (a crash, a stop): in one transaction, the primary key
        made again and the state's count and hash taken from the table — then deliveries go on as usual."""
        d = self.d
        with d.transaction():
            now = self.state(lock=True)
            if now is None or now.content_hash != PENDING:
                return now or state
            self.whole_table_statements()
            if self.primary_key() is None:
                d.execute(f'ALTER TABLE {d.qualified(self.plan.table)} ADD PRIMARY KEY ({d.q("_gs_key")})')
            rows, total = self.table_total()
            settled = State(now.last_seq, rows, total, now.shape, now.batches)
            self._put_state(settled)
        return settled

    def read_rows(self, size: int = 5000) -> Iterator[tuple[str, list[Any]]]:
        """Every row of the target table: (``_gs_key``, values as the centre's letters), in pages by key."""
        d = self.d
        letters = [c.letter for c in self.plan.columns]
        names = ", ".join(d.q(n) for n in self.names)
        table = d.qualified(self.plan.table)
        after = ""
        while True:
            rows = d.execute(f'SELECT {d.q("_gs_key")}, {names} FROM {table} WHERE {d.q("_gs_key")} > %s '  # noqa: S608
                             f'ORDER BY {d.q("_gs_key")} LIMIT {int(size)}', (after,)).fetchall()
            for row in rows:
                yield str(row[0]), [d.from_target(letter, v) for letter, v in zip(letters, row[1:], strict=True)]
            if len(rows) < size:
                return
            after = str(rows[-1][0])


class _NotFresh(Exception):
    """A fresh batch met a key already in the table: done again as an upsert."""


#: a centre row on its way: (key values, values of the granted items in order, _seq, deleted)
Change = tuple[tuple[Any, ...], tuple[Any, ...], int, bool]


def deliver(plan: DeliveryPlan, changes: Callable[[int, int], list[Change]], mask: Callable[[tuple[Any, ...]], list[Any]],
            secret: bytes, *, allowed: Callable[[], str | None] = lambda: None,
            on_batch: Callable[[BatchReceipt], None] = lambda receipt: None,
            on_state: Callable[[State], None] = lambda state: None,
            max_batches: int | None = None, centre: CentreTable | None = None,
            fast_batch: int = FAST_BATCH, streams: int = 1, sql_changes: int = SQL_CHANGES) -> DeliveryResult:
    """Deliver every change of the centre after the target's ``last_seq``: ``changes(seq, limit)`` gives the
    centre's next changes; ``mask`` masks the granted values; ``secret`` keys ``_gs_key``.  ``allowed()`` is
    asked before each batch: a reason stops the delivery (:class:`DeliveryError` ``stopped``, its detail the
    reason; what was committed stays).  ``on_state`` is told the state the target holds before the first batch (the
    caller's record of what was delivered can be brought up to it: a batch committed just before a crash).
    ``centre``: where the rows come from, for a first copy in SQL when :func:`fast_problem` allows it (then
    ``fast_batch`` change numbers a batch, read by ``streams`` centre sessions at once) — and the changes after it
    in SQL too when the centre's change counter is ``sql_changes`` or more ahead of the table."""
    try:
        with sources.connect(plan.target, write=True) as conn:
            target = Target(conn, plan)
            state, created, rebuilt = target.prepare()
            on_state(state)
            result = DeliveryResult(state.last_seq, state.rows, state.content_hash, created=created,
                                    rebuilt=rebuilt)
            if state.content_hash == PENDING:  # a first copy in SQL cut short: its key and hash first
                state = target.settle(state)
                result.rows, result.content_hash = state.rows, state.content_hash
            if state.rows == 0 and centre is not None:
                result.not_in_sql = fast_problem(plan, centre) or ("" if target.utf8() else
                                                                   "the front-end database is not UTF8")
                if not result.not_in_sql:
                    before = len(result.batches)
                    state = _fast_copy(target, state, centre, mask, secret, result, allowed, on_batch, max_batches,
                                       fast_batch, streams)
                    result.in_sql = len(result.batches) - before
            elif centre is not None and changes(state.last_seq + max(1, sql_changes) - 1, 1) \
                    and fast_problem(plan, centre) is None and target.utf8():  # many changes: in SQL as well
                before = len(result.batches)
                state = _sql_changes(target, state, centre, mask, secret, result, allowed, on_batch, max_batches,
                                     fast_batch, streams)
                result.in_sql = len(result.batches) - before
            fresh = state.rows == 0  # nothing in the table: insert, no old hashes to look up
            while max_batches is None or len(result.batches) < max_batches:
                reason = allowed()
                if reason:
                    raise DeliveryError("stopped", reason)
                found = changes(state.last_seq, plan.batch_rows)
                if not found:
                    break
                batch = [(row_key(secret, key), seq, deleted, mask(values)) for key, values, seq, deleted in found]
                try:
                    state, receipt = target.apply(state, batch, fresh=fresh)
                except _NotFresh:
                    fresh = False
                    state, receipt = target.apply(state, batch)
                result.batches.append(receipt)
                result.last_seq, result.rows, result.content_hash = state.last_seq, state.rows, state.content_hash
                on_batch(receipt)
            return result
    except (DeliveryError, SourceError):
        raise
    except sqlite3.Error as exc:
        raise DeliveryError("target", str(exc)) from exc


# -- the first copy in SQL (PostgreSQL centre → PostgreSQL target) ------------------------------------------------

def fast_problem(plan: DeliveryPlan, centre: CentreTable | None) -> str | None:
    """Why a first copy cannot be made in SQL (None: it can): a PostgreSQL centre and target, key items the centre
    hashes in SQL, and every granted item's mask with an SQL form (:func:`masking.sql_mask`) of a letter it hashes."""
    if centre is None:
        return "no centre table given"
    if plan.target.kind != "postgresql":
        return f"the target is {plan.target.kind}, not PostgreSQL"
    if not centre.url.startswith(("postgresql://", "postgres://")):
        return "the centre is not PostgreSQL"
    if not centre.key or any(letter not in SQL_LETTERS for _column, letter in centre.key):
        return "a key item of type B/F (its hash is Python's float text)"
    if len(centre.items) != len(plan.columns) or len(centre.masks) != len(centre.items):
        return "the granted items and the plan differ"
    for (column, letter), mask, target in zip(centre.items, centre.masks, plan.columns, strict=True):
        form = masking.sql_mask(mask, letter, column, key=centre.mask_key, name=f"x_{column}")
        if form is None:
            return f"the mask {mask.canonical() if mask else 'none'} of a {letter} item has no SQL form"
        if form.letter not in SQL_LETTERS or form.letter != target.letter:
            return f"a delivered item of type {form.letter}"
    return None


class _FastSql:
    """The centre's statements of a delivery in SQL: the rows of a range of change numbers (live ones for a first
    copy, with their tombstones after it), masked, keyed and hashed by the server exactly as :func:`deliver` does in
    Python (a binary COPY of the target's columns), the rows a mask's SQL form flags (masked in Python), and the
    check's pairs."""

    def __init__(self, centre: CentreTable, secret: bytes) -> None:
        from govshare.exchange.engine.fastcopy import _part

        table = '"' + centre.table.replace('"', '""') + '"'
        item_columns = [column for column, _letter in centre.items]
        key_columns = [column for column, _letter in centre.key]
        forms = [masking.sql_mask(mask, letter, column, key=centre.mask_key, name=f"x_{column}")
                 for (column, letter), mask in zip(centre.items, centre.masks, strict=True)]
        assert all(form is not None for form in forms)
        self.forms = [form for form in forms if form is not None]
        needed = list(dict.fromkeys([*item_columns, *key_columns]))
        flags = [form.flag for form in self.forms if form.flag]
        self.flag = " OR ".join(f"({flag})" for flag in flags) if flags else ""
        types = _Postgres._TYPES
        masked = ", ".join(f"({form.value})::{types[form.letter]} AS m{i}" for i, form in enumerate(self.forms, 1))
        values = ", ".join(f"m{i}" for i, form in enumerate(self.forms, 1))
        key_parts = " || ".join(_part(letter, column) for column, letter in centre.key)
        key_hash = f"substring(sha256({key_parts}) FROM 1 FOR 16)"
        row_key = f"encode({masking.hmac_sql(secret, masking.sql_bytes(ROW_KEY_CONTEXT) + ' || ' + key_hash)}, 'hex')"
        parts = " || ".join(_part(form.letter, f"m{i}") for i, form in enumerate(self.forms, 1))
        hashed = f"encode(substring(sha256({parts}) FROM 1 FOR 16), 'hex')"

        def levels(tombstones: bool) -> str:
            """The rows of the range (live ones; or with their tombstones, ``_deleted`` carried) and the lets."""
            level = (f"SELECT {', '.join(needed)}, _seq, _deleted FROM {table} "  # noqa: S608 — names made here
                     "WHERE _seq > {after} AND _seq <= {upto}" + ("" if tombstones else " AND NOT _deleted"))
            for stage in range(max((len(form.lets) for form in self.forms), default=0)):
                lets = [let for form in self.forms if len(form.lets) > stage for let in form.lets[stage]]
                computed = ", ".join(f"{sql} AS {name}" for name, sql in lets)
                level = f"SELECT *, {computed} FROM ({level} OFFSET 0) l{stage}"  # noqa: S608 — names made here
            return level

        def inner(tombstones: bool) -> str:
            taken = f"NOT ({self.flag})" if self.flag else ""
            if tombstones and taken:
                taken = f"_deleted OR {taken}"  # a tombstone's values are not delivered: only its key is needed
            return (f"SELECT {masked}, {', '.join(key_columns)}, _seq, _deleted "  # noqa: S608
                    f"FROM ({levels(tombstones)} OFFSET 0) lv" + (f" WHERE {taken}" if taken else ""))

        self.rows = f"SELECT {values}, {row_key}, _seq, {hashed} FROM ({inner(False)} OFFSET 0) lm"  # noqa: S608
        #: the changes after a first copy: the same with tombstones and ``_deleted`` last
        self.changes = (f"SELECT {values}, {row_key}, _seq, {hashed}, _deleted "  # noqa: S608
                        f"FROM ({inner(True)} OFFSET 0) lm")
        #: the check's: (_gs_key, _gs_hash) in key order (byte order: "C")
        self.pairs = (f'SELECT {row_key} COLLATE "C" AS k, {hashed} FROM ({inner(False)} OFFSET 0) lm '  # noqa: S608
                      "ORDER BY 1")
        self.flagged = (f"SELECT {', '.join(key_columns)}, {', '.join(item_columns)}, _seq "  # noqa: S608
                        f"FROM ({levels(False)} OFFSET 0) lv WHERE {self.flag} ORDER BY _seq") if self.flag else ""


@contextlib.contextmanager
def _centre_sessions(centre: CentreTable, streams: int) -> Iterator[tuple[list[Any], int]]:
    """``streams`` sessions of the centre sharing one snapshot (REPEATABLE READ, read only, the first exporting it),
    and the table's last change number in it.  Text as UTF-8, standard strings (the SQL's literals need them), no
    JIT (measured slower here), TCP keepalives (a centre that vanished is noticed, not waited for).  Errors in setting
    them up are the centre's (:class:`_CentreFailed`); the caller's block has errors of its own."""
    import psycopg

    with contextlib.ExitStack() as opened:
        sources: list[Any] = []
        with _on_centre():
            snapshot = ""
            for _ in range(max(1, streams)):
                conn = psycopg.connect(centre.url, connect_timeout=10, application_name="govshare delivery",
                                       client_encoding="UTF8", keepalives=1, keepalives_idle=60, keepalives_interval=10,
                                       keepalives_count=6, options="-c standard_conforming_strings=on -c jit=off")
                opened.enter_context(conn)
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                if not sources:
                    from govshare.exchange.engine.fastcopy import _centre_version

                    _centre_version(conn, "a delivery in SQL")
                    conn.rollback()
                    exported = conn.execute("SELECT pg_export_snapshot()").fetchone() if streams > 1 else None
                    snapshot = str(exported[0]) if exported is not None else ""
                else:  # the same snapshot as the first: every stream sees one state of the centre
                    conn.execute("SET TRANSACTION SNAPSHOT " + masking.sql_literal(snapshot))
                sources.append(conn)
            found = sources[0].execute("SELECT last_seq FROM _gs_tables WHERE table_name = %s",
                                       (centre.table,)).fetchone()
        yield sources, int(found[0]) if found is not None else 0


def _centre_errors(work: Callable[..., State]) -> Callable[..., State]:
    """``work`` with the centre's errors said to be the centre's (``store``), not the front-end database's."""
    def wrapped(*args: Any, **kwargs: Any) -> State:
        try:
            return work(*args, **kwargs)
        except _CentreFailed as exc:
            raise DeliveryError("store", str(exc.__cause__ or exc)) from exc.__cause__

    return wrapped


class _CentreFailed(Exception):
    """A centre session failed (its driver's error is the cause)."""


@contextlib.contextmanager
def _on_centre() -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise _CentreFailed(str(exc)) from exc


@_centre_errors
def _fast_copy(target: Target, state: State, centre: CentreTable, mask: Callable[[tuple[Any, ...]], list[Any]],
               secret: bytes, result: DeliveryResult, allowed: Callable[[], str | None],
               on_batch: Callable[[BatchReceipt], None], max_batches: int | None, batch: int,
               streams: int = 1) -> State:
    """A first copy (the target's table empty) made in SQL: every live row of the centre as one snapshot shows it,
    masked, keyed and hashed by the centre's server and sent as a binary COPY into the target, a range of change
    numbers per batch — each batch with the state row in one target transaction, as always.  The table's primary key
    is dropped for the load and made again by the last batch (one sort instead of a random insert per row: measured
    4× faster), which also takes the table's hash; until then the state's hash is :data:`PENDING` (a run that finds
    it so settles it first: :meth:`Target.settle`).  No key is met twice (one snapshot), and deletes need nothing (the
    table held none of the rows).  Values a mask's SQL form flags are masked in Python and written in the same batch.
    ``streams``: centre sessions sharing one snapshot, each masking and hashing a part of every batch's range (the
    centre's work is most of a delivery's); their rows go into the target's one COPY."""
    d = target.d
    statements = _FastSql(centre, secret)
    names = [*target.names, "_gs_key", "_gs_seq", "_gs_hash"]
    copy_in = (f"COPY {d.qualified(target.plan.table)} ({', '.join(d.q(n) for n in names)}) "  # noqa: S608
               "FROM STDIN (FORMAT BINARY)")
    letters = [c.letter for c in target.plan.columns]
    d.execute("SET client_encoding = 'UTF8'")  # the centre's text comes as UTF-8 bytes (a UTF8 target: fast_problem)
    with _centre_sessions(centre, streams) as (sources, end):
        source = sources[0]
        while state.last_seq < end and (max_batches is None or len(result.batches) < max_batches):
            reason = allowed()
            if reason:  # the table is left settled (its key made, its hash taken): it may stay as it is for long
                target.settle(state)
                raise DeliveryError("stopped", reason)
            upto = min(end, state.last_seq + batch)
            last = upto >= end
            python_rows = _flagged_rows(source, statements, state.last_seq, upto, centre, mask, secret)
            with d.transaction():
                now = target.state(lock=True)
                if now is None or now.last_seq != state.last_seq or now.shape != state.shape:
                    raise DeliveryError("conflict", "another process delivered to this table meanwhile")
                key_name = target.primary_key()
                if key_name is not None and not last:
                    d.execute(f"ALTER TABLE {d.qualified(target.plan.table)} DROP CONSTRAINT {d.q(key_name)}")
                copied = _relay(sources, [_bounded(statements.rows, low, high)
                                          for low, high in _parts_of(state.last_seq, upto, len(sources))],
                                d.conn, copy_in, len(names))
                d.write(names, [[*(d.to_target(letter, v) for letter, v in zip(letters, values, strict=True)),
                                 key, seq, hashed] for values, key, seq, hashed in python_rows], fresh=True)
                written = copied + len(python_rows)
                rows, content_hash = state.rows + written, PENDING
                if last:
                    target.whole_table_statements()
                    if target.primary_key() is None:
                        d.execute(f'ALTER TABLE {d.qualified(target.plan.table)} ADD PRIMARY KEY ({d.q("_gs_key")})')
                    rows, content_hash = target.table_total()
                after = State(upto, rows, content_hash, state.shape, state.batches + 1)
                target._put_state(after)
            receipt = BatchReceipt(after.batches, state.last_seq, upto, written, 0, rows, content_hash)
            state = after
            result.batches.append(receipt)
            result.last_seq, result.rows, result.content_hash = state.last_seq, state.rows, state.content_hash
            on_batch(receipt)
    return state


def _bounded(sql: str, after: int, upto: int) -> str:
    """A statement of :class:`_FastSql` for the change numbers after ``after`` up to ``upto``."""
    return sql.replace("{after}", str(int(after))).replace("{upto}", str(int(upto)))


def _parts_of(after: int, upto: int, sessions: int) -> list[tuple[int, int]]:
    """The range of change numbers (after, upto] in ``sessions`` consecutive parts, one per centre session."""
    cuts = [after + (upto - after) * i // sessions for i in range(sessions + 1)]
    return list(itertools.pairwise(cuts))


def _flagged_rows(source: Any, statements: _FastSql, after: int, upto: int, centre: CentreTable,
                  mask: Callable[[tuple[Any, ...]], list[Any]], secret: bytes) -> list[tuple[list[Any], str, int, str]]:
    """The live rows of the range whose values a mask's SQL form leaves to Python: (masked values, ``_gs_key``,
    ``_seq``, ``_gs_hash``)."""
    if not statements.flagged:
        return []
    width = len(centre.key)
    with _on_centre():
        found = source.execute(_bounded(statements.flagged, after, upto)).fetchall()
    rows = []
    for row in found:
        values = mask(tuple(row[width:-1]))
        rows.append((values, row_key(secret, row[:width]), int(row[-1]), row_hash(values).hex()))
    return rows


#: PostgreSQL's binary COPY header (signature, no flags, no extension) and trailer
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_PIECE = 1 << 20


@_centre_errors
def _sql_changes(target: Target, state: State, centre: CentreTable, mask: Callable[[tuple[Any, ...]], list[Any]],
                    secret: bytes, result: DeliveryResult, allowed: Callable[[], str | None],
                    on_batch: Callable[[BatchReceipt], None], max_batches: int | None, batch: int,
                    streams: int = 1) -> State:
    """The centre's changes after a first copy (tombstones included) made in SQL like the first copy: each batch's rows
    masked, keyed and hashed by the centre's servers, sent by binary COPY into a temporary table of the target, then —
    in the batch's one transaction with its state row — the rows of those keys deleted from the table (their old
    hashes summed by the target first) and the live ones inserted: the receipt exact batch by batch, as in Python."""
    d = target.d
    statements = _FastSql(centre, secret)
    table = d.qualified(target.plan.table)
    stage = '"_gs_stage_' + hashlib.sha256(target.plan.table.encode()).hexdigest()[:12] + '"'
    columns = [*target.names, "_gs_key", "_gs_seq", "_gs_hash"]
    quoted = ", ".join(d.q(n) for n in columns)
    copy_in = f"COPY {stage} ({quoted}, _gs_deleted) FROM STDIN (FORMAT BINARY)"  # noqa: S608
    letters = [c.letter for c in target.plan.columns]
    key, hashed = d.q("_gs_key"), d.q("_gs_hash")
    d.execute("SET client_encoding = 'UTF8'")
    d.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
              f"SELECT {quoted}, false AS _gs_deleted FROM {table} WITH NO DATA")
    with _centre_sessions(centre, streams) as (sources, end):
        while state.last_seq < end and (max_batches is None or len(result.batches) < max_batches):
            reason = allowed()
            if reason:
                raise DeliveryError("stopped", reason)
            upto = min(end, state.last_seq + batch)
            python_rows = [[*(d.to_target(letter, v) for letter, v in zip(letters, values, strict=True)),
                            key_of, seq, hashed_of, False]
                           for values, key_of, seq, hashed_of in _flagged_rows(sources[0], statements, state.last_seq,
                                                                               upto, centre, mask, secret)]
            with d.transaction():
                now = target.state(lock=True)
                if now is None or now.last_seq != state.last_seq or now.shape != state.shape:
                    raise DeliveryError("conflict", "another process delivered to this table meanwhile")
                _relay(sources, [_bounded(statements.changes, low, high)
                                 for low, high in _parts_of(state.last_seq, upto, len(sources))],
                       d.conn, copy_in, len(columns) + 1)
                if python_rows:
                    with d.conn.cursor() as cursor, cursor.copy(f"COPY {stage} ({quoted}, _gs_deleted) FROM STDIN") as copy:
                        for row in python_rows:
                            copy.write_row(row)
                d.execute(f"ANALYZE {stage}")  # (a temporary table has no statistics: the joins below need them)
                old = d.execute(f"SELECT gone, count(*), {_HASH_SUMS} FROM (SELECT s._gs_deleted AS gone, "  # noqa: S608
                                f"t.{hashed} AS h FROM {table} t JOIN {stage} s ON s.{key} = t.{key}) o "
                                "GROUP BY 1").fetchall()
                d.execute(f"DELETE FROM {table} t USING {stage} s WHERE t.{key} = s.{key}")  # noqa: S608
                d.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM {stage} "  # noqa: S608
                          "WHERE NOT _gs_deleted")
                new = d.execute(f"SELECT count(*), {_HASH_SUMS} FROM (SELECT {hashed} AS h FROM {stage} "  # noqa: S608
                                "WHERE NOT _gs_deleted) n").fetchone()
                total = _hash_int(state.content_hash)
                count = state.rows
                deleted = 0
                for was_deleted, many, *parts in old:
                    count -= int(many)
                    total -= _summed(parts)
                    deleted += int(many) if was_deleted else 0
                written = int(new[0])
                count += written
                total += _summed(new[1:])
                after = State(upto, count, _hex(total), state.shape, state.batches + 1)
                target._put_state(after)
            receipt = BatchReceipt(after.batches, state.last_seq, upto, written, deleted, count, after.content_hash)
            state = after
            result.batches.append(receipt)
            result.last_seq, result.rows, result.content_hash = state.last_seq, state.rows, state.content_hash
            on_batch(receipt)
    return state


def _relay(sources: Sequence[Any], statements: Sequence[str], target: Any, copy_in: str, width: int) -> int:
    """Each centre session's binary ``COPY (statement) TO STDOUT`` sent, never decoded, into the target's one
    ``copy_in``, in pieces of ~1 MB (the centre sends a row a message): one header, the rows of every stream as they
    come (a thread reads each), one trailer; the rows the target took.  A failure on either side stops every stream."""
    import psycopg

    pieces: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4 * len(sources))
    fields = width.to_bytes(2, "big")
    stopping = threading.Event()

    def read(conn: Any, statement: str) -> None:
        # the centre sends the header with the first row, then a row a message, then the trailer alone: a piece ends
        # where a message ends, so the streams' pieces can be put one after another (each row checked to start with
        # the field count — a server that sent rows otherwise fails the delivery, never garbles it)
        try:
            with conn.cursor() as cursor, cursor.copy(f"COPY ({statement}) TO STDOUT (FORMAT BINARY)") as out:
                buffered, started, ended = bytearray(), False, False
                for chunk in out:
                    if stopping.is_set():
                        raise DeliveryError("stopped", "another stream failed")
                    if not started:
                        if bytes(chunk[:len(_COPY_HEADER)]) != _COPY_HEADER:
                            raise DeliveryError("store", "the centre's binary COPY has an unknown header")
                        chunk, started = chunk[len(_COPY_HEADER):], True
                        if not len(chunk):
                            continue
                    if ended or chunk == _COPY_TRAILER:
                        if ended or chunk != _COPY_TRAILER:
                            raise DeliveryError("store", "the centre's binary COPY went on after its end")
                        ended = True
                        continue
                    if chunk[:2] != fields:
                        raise DeliveryError("store", "the centre's binary COPY did not send a row a message")
                    buffered += chunk
                    if len(buffered) >= _PIECE:
                        pieces.put(bytes(buffered))
                        buffered.clear()
                if not ended:
                    raise DeliveryError("store", "the centre's binary COPY ended early")
                if buffered:
                    pieces.put(bytes(buffered))
            pieces.put(None)
        except BaseException as exc:  # noqa: BLE001 — handed to the writing thread
            failed: BaseException = exc
            if isinstance(exc, psycopg.Error):
                failed = _CentreFailed(str(exc))
                failed.__cause__ = exc
            pieces.put(failed)

    readers = [threading.Thread(target=read, args=(conn, statement), daemon=True, name="govshare-delivery-stream")
               for conn, statement in zip(sources, statements, strict=True)]
    for reader in readers:
        reader.start()
    running, failure = len(readers), None
    try:
        with target.cursor() as in_cursor:
            with in_cursor.copy(copy_in) as into:
                into.write(_COPY_HEADER)
                while running:
                    piece = pieces.get()
                    if piece is None:
                        running -= 1
                    elif isinstance(piece, BaseException):
                        running -= 1
                        raise piece
                    else:
                        into.write(piece)
                into.write(_COPY_TRAILER)
            return int(in_cursor.rowcount)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        if failure is not None:  # the other streams stop: their queries cancelled, what they sent thrown away
            stopping.set()
            for conn in sources:
                with contextlib.suppress(Exception):
                    conn.cancel_safe()
            while running:
                piece = pieces.get()
                if piece is None or isinstance(piece, BaseException):
                    running -= 1
        for reader in readers:
            reader.join()


def target_state(plan: DeliveryPlan) -> State | None:
    """The delivery's state as the target holds it (None: nothing delivered yet)."""
    with sources.connect(plan.target, write=True) as conn:
        target = Target(conn, plan)
        if not target.d.table_exists(STATE_TABLE):
            return None
        return target.state()


#: a ``_gs_key`` as govshare writes it; the check's merge reads only such keys in order (a key the consumer wrote in
#: another form can match nothing: it is counted as extra)
_KEY_FORM = "^[0-9a-f]{64}$"


class _Unfit(Exception):
    """The target's table cannot be checked in SQL (its columns as the consumer changed them): Python checks it."""


def _lines(copy: Any, side: str) -> Iterator[bytes]:
    """The rows of a text COPY, each a line without its end."""
    pending = b""
    for chunk in copy:
        lines = (pending + bytes(chunk)).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        raise DeliveryError(side, "a COPY ended inside a row")


def _pairs(copy: Any, side: str) -> Iterator[tuple[str, str]]:
    """The rows ``(key, hash)`` of a text COPY of two ASCII columns (keys of :data:`_KEY_FORM`: nothing escaped)."""
    for line in _lines(copy, side):
        key, hashed = line.split(b"\t")
        yield key.decode("ascii"), hashed.decode("ascii")


_UNESCAPE = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"b": b"\b", b"f": b"\f", b"v": b"\v", b"\\": b"\\"}


def _target_pairs(copy: Any, odd: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The target's rows ``(key, hash, key of govshare's form)`` of a text COPY: those of govshare's form given in key
    order, the others put in ``odd`` (their key as written, for the sample)."""
    for line in _lines(copy, "target"):
        key, hashed, ok = line.rsplit(b"\t", 2)
        if ok == b"t":
            yield key.decode("ascii"), hashed.decode("ascii")
        else:
            raw = re.sub(rb"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), key)
            odd.append((raw.decode("utf-8", "replace"), hashed.decode("ascii")))


def _centre_pairs(copy: Any) -> Iterator[tuple[str, str]]:
    with _on_centre():
        yield from _pairs(copy, "store")


def _target_types(target: Target) -> bool:
    """Whether the target table's columns still have the types govshare made them with (the SQL hash of a value
    depends on its type: a ``timestamptz`` renders in the session's zone, a ``char(n)`` pads)."""
    d = target.d
    wanted = {c.name: _Postgres._TYPES[c.letter].lower() for c in target.plan.columns}
    found = d.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_catalog.pg_attribute "
                      "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                      (d.qualified(target.plan.table),)).fetchall()
    have = {str(name): str(kind).lower() for name, kind in found}
    aliases = {"timestamp": "timestamp without time zone"}
    return all(have.get(name) == aliases.get(kind, kind) for name, kind in wanted.items()) and \
        have.get("_gs_key") in ("character", "text", "character varying")


def _check_in_sql(plan: DeliveryPlan, target: Target, centre: CentreTable, mask: Callable[[tuple[Any, ...]], list[Any]],
                  secret: bytes, streams: int, sample: int) -> CheckResult:
    """:func:`check` with both sides computed by their servers: the centre's live rows masked, keyed and hashed in SQL
    (the values a mask's SQL form flags in Python) in ``streams`` sessions of one snapshot, the target's rows hashed
    from their actual values in SQL — each side in key order, every COPY started before any is read (so the sessions
    work at once), compared as they come (the memory of a few rows and of the flagged ones).  Target rows whose key is
    not of govshare's form are counted as extra apart; rows without a key are not read (as in Python)."""

    from govshare.exchange.engine.fastcopy import _part

    d = target.d
    statements = _FastSql(centre, secret)
    key = d.q("_gs_key")
    parts = " || ".join(_part(c.letter, d.q(c.name)) for c in plan.columns)
    hashed = f"encode(substring(sha256({parts}) FROM 1 FOR 16), 'hex')"
    table = d.qualified(plan.table)
    state = target.state() if d.table_exists(STATE_TABLE) else None
    exists = d.table_exists(plan.table)
    if exists and not _target_types(target):
        raise _Unfit("the table's column types changed")
    d.execute("SET client_encoding = 'UTF8'")
    d.execute("SET statement_timeout = 0")  # the COPY stays open for the whole comparison
    odd_rows: list[tuple[str, str]] = []
    with _centre_sessions(centre, streams) as (sources, end), contextlib.ExitStack() as copies:
        flagged = sorted((key_of, hashed_of) for _values, key_of, _seq, hashed_of
                         in _flagged_rows(sources[0], statements, 0, end, centre, mask, secret))
        streams_of: list[Iterator[tuple[str, str]]] = []
        try:
            with _on_centre():  # every centre COPY sent first: each session masks, hashes and sorts its part at once
                for conn, (low, high) in zip(sources, _parts_of(0, end, len(sources)), strict=True):
                    sql = _bounded(statements.pairs, low, high)
                    cursor = copies.enter_context(conn.cursor())
                    streams_of.append(_centre_pairs(copies.enter_context(cursor.copy(f"COPY ({sql}) TO STDOUT"))))
            actual: Iterator[tuple[str, str]] = iter(())
            if exists:
                cursor = copies.enter_context(d.conn.cursor())
                actual = _target_pairs(copies.enter_context(cursor.copy(
                    f'COPY (SELECT {key} COLLATE "C" AS k, {hashed}, {key} COLLATE "C" ~ \'{_KEY_FORM}\' '  # noqa: S608
                    f"FROM {table} WHERE {key} > '' ORDER BY 1) TO STDOUT")), odd_rows)
            return _compared(heapq.merge(*streams_of, iter(flagged)), actual, odd_rows, state, end, sample)
        except BaseException:  # the COPYs stop (a session closed or rolled back in the middle of one would wait)
            for conn in [*sources, d.conn]:
                with contextlib.suppress(Exception):
                    conn.cancel_safe(timeout=10)
            raise


def _ordered(pairs: Iterator[tuple[str, str]], side: str) -> Iterator[tuple[str, str]]:
    """``pairs`` checked to come in strictly rising key order (the merge counts wrong otherwise: fail, never guess)."""
    last = ""
    for pair in pairs:
        if pair[0] <= last:
            raise DeliveryError(side, f"the check's rows came out of key order ({last!r}, then {pair[0]!r})")
        last = pair[0]
        yield pair


def _compared(expected: Iterator[tuple[str, str]], actual: Iterator[tuple[str, str]], odd: list[tuple[str, str]],
              state: State | None, end: int, sample: int) -> CheckResult:
    """The check's merge: both sides ``(_gs_key, _gs_hash)`` in key order; ``odd``: the target's rows whose key is not
    of govshare's form, filled while ``actual`` is read (extra, whatever their values)."""
    centre_total = centre_count = target_total = target_rows = 0
    missing = extra = different = 0
    differing: list[str] = []
    expected, actual = _ordered(expected, "store"), _ordered(actual, "target")
    want = next(expected, None)
    got = next(actual, None)

    def differs(key: str) -> int:
        if len(differing) < sample:
            differing.append(key)
        return 1

    while want is not None or got is not None:
        if got is None or (want is not None and want[0] < got[0]):
            assert want is not None
            centre_count += 1
            centre_total += int(want[1], 16)
            missing += differs(want[0])
            want = next(expected, None)
            continue
        target_rows += 1
        target_total += int(got[1], 16)
        if want is None or got[0] < want[0]:
            extra += differs(got[0])
            got = next(actual, None)
            continue
        centre_count += 1
        centre_total += int(want[1], 16)
        if want[1] != got[1]:
            different += differs(got[0])
        want, got = next(expected, None), next(actual, None)
    for odd_key, odd_hash in odd:  # (filled as the target's rows were read)
        target_rows += 1
        target_total += int(odd_hash, 16)
        extra += 1
        if len(differing) < sample:
            differing.append(odd_key)
    return CheckResult(
        equal=not (missing or extra or different), centre_rows=centre_count, centre_hash=_hex(centre_total),
        target_rows=target_rows, target_hash=_hex(target_total), state_rows=state.rows if state else None,
        state_hash=state.content_hash if state else "", state_seq=state.last_seq if state else None, centre_seq=end,
        missing=missing, extra=extra, different=different, sample=differing, method="sql")


def check(plan: DeliveryPlan, centre_rows: Iterable[tuple[tuple[Any, ...], tuple[Any, ...]]],
          mask: Callable[[tuple[Any, ...]], list[Any]], secret: bytes, centre_seq: int, *,
          sample: int = 20, centre: CentreTable | None = None, streams: int = 1) -> CheckResult:
    """The target's table recomputed from its actual values against ``centre_rows`` — the centre's live rows
    ``(key values, granted values)`` — masked and keyed as :func:`deliver` does.  Given ``centre`` and where
    :func:`fast_problem` allows it (a PostgreSQL centre and UTF8 target), both sides are computed by their servers
    instead (:func:`_check_in_sql`; ``centre_rows`` is then not read); a target whose columns the consumer changed so
    that SQL cannot hash them is checked in Python."""
    unfit = "no centre table given" if centre is None else fast_problem(plan, centre) or ""
    if centre is not None and not unfit:
        try:
            with sources.connect(plan.target, write=True) as conn:
                target = Target(conn, plan)
                if target.utf8():
                    return _check_in_sql(plan, target, centre, mask, secret, streams, sample)
                unfit = "the front-end database is not UTF8"
        except _CentreFailed as exc:
            raise DeliveryError("store", str(exc.__cause__ or exc)) from exc.__cause__
        except _Unfit as exc:  # the target's table as the consumer changed it: Python reads it
            unfit = str(exc)
    expected: dict[str, bytes] = {}
    centre_total = centre_count = 0
    for key, values in centre_rows:
        hashed = row_hash(mask(values))
        expected[row_key(secret, key)] = hashed
        centre_total += int.from_bytes(hashed, "big")
        centre_count += 1
    missing = extra = different = 0
    differing: list[str] = []
    target_total = target_rows = 0
    with sources.connect(plan.target, write=True) as conn:
        target = Target(conn, plan)
        state = target.state() if target.d.table_exists(STATE_TABLE) else None
        if target.d.table_exists(plan.table):
            for row_id, found in target.read_rows():
                hashed = row_hash(found)
                target_rows += 1
                target_total += int.from_bytes(hashed, "big")
                wanted = expected.pop(row_id, None)
                if wanted is None:
                    extra += 1
                elif wanted != hashed:
                    different += 1
                else:
                    continue
                if len(differing) < sample:
                    differing.append(row_id)
    missing = len(expected)
    differing.extend(list(expected)[:max(0, sample - len(differing))])
    result = CheckResult(
        equal=not (missing or extra or different), centre_rows=centre_count,
        centre_hash=_hex(centre_total), target_rows=target_rows, target_hash=_hex(target_total),
        state_rows=state.rows if state else None, state_hash=state.content_hash if state else "",
        state_seq=state.last_seq if state else None, centre_seq=centre_seq, missing=missing, extra=extra,
        different=different, sample=differing, not_in_sql=unfit)
    return result


def probe(spec: SourceSpec, schema: str, table: str, binding: str) -> str | None:
    """Before a binding is saved: a writable session opens, and the table is free — None, or why not
    (``table_exists``: a table govshare did not make; ``table_taken``: another delivery's).  Writes nothing."""
    plan = DeliveryPlan(target=spec, schema=schema, table=table, binding=binding, columns=(), shape="")
    with sources.connect(spec, write=True) as conn:
        target = Target(conn, plan)
        exists = target.d.table_exists(table)
        if not target.d.table_exists(STATE_TABLE):
            return "table_exists" if exists else None
        if target._owner_of_table() is not None:
            return "table_taken"
        mine = target.d.execute(f"SELECT 1 FROM {target.d.qualified(STATE_TABLE)} WHERE binding = %s",  # noqa: S608
                                (binding,)).fetchone()
        return "table_exists" if exists and mine is None else None
