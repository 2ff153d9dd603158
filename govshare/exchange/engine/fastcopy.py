"""The fast full copy PostgreSQL → PostgreSQL centre (issue 10; docs/decisions/0004-table-copy-paths.md, point 3).
Django-free.

The same copy as :func:`govshare.exchange.engine.copy.full_copy` — the same batches, positions, receipts,
quarantine reasons, hashes and resumption — done as a server-side pipeline instead of a Python loop over the
values.  Page by page (keyset pages of ``plan.batch_rows`` rows, the page's upper key read first):

1. the source's binary ``COPY (SELECT … ORDER BY key) TO STDOUT`` is piped chunk by chunk, never decoded, into
   ``COPY … FROM STDIN`` of a temporary staging table of the centre's connection that has the source's exact
   column types (binary COPY is type-specific);
2. in the batch's transaction (:meth:`Store.apply_staged`), one ``INSERT … SELECT`` converts the staged rows to
   the store's types with SQL casts and computes each row's ``_hash`` in SQL, byte for byte what
   :func:`row_hash` computes for the converted values;
3. the rows a check flags (a C value longer than its length, an N/Y value with too many digits, NaN or
   infinity, dates and times outside years 1–9999 or near their ends) are not converted in SQL: they are read
   back into Python (a handful) and given to :func:`copy.convert` — so quarantine reasons are exactly the Python
   path's, and a row the checks flag too eagerly is still applied with Python's values and hash;
4. from the scratch table on, the store's own batch write: a first copy into an empty table (a *fresh* run,
   :meth:`Store._fresh`) is one plain ``INSERT … SELECT`` with ``_seq``; any other run joins the table and the
   run's key list and upserts the new and changed rows;
5. steps 1–3 of batch k + 1 run on a second connection of the centre while batch k is written and committed
   (:class:`_Pipeline`): both cores work, and batches still commit in order, one at a time.

Only where both sides agree exactly: :func:`eligible` says when (PostgreSQL source and store, no value rules, a
declared primary key, items of letters C M N Y I D T L G from source columns of matching built-in types).

The same staged conversion serves two more paths of the pair:

* :func:`fast_key_scan` — watermark mode's key check: each page of keys by binary COPY into the centre, converted,
  hashed and listed there (:meth:`Store.stage_keys`, :meth:`Store.remember_staged`); the same pages and receipts
  as :func:`copy.key_scan` (:func:`keys_eligible` says when);
* :class:`KeyedReader` — log mode (:mod:`govshare.exchange.engine.logical`): the log gives the keys, their rows are
  read again by key, after :func:`wait_visible` has seen the log's transactions visible to the reading session.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from govshare.datastore.engine.store import (
    BatchReceipt,
    StagedBatch,
    Store,
    StoreColumn,
    StoreError,
    row_hash,
)
from govshare.exchange.engine import sources
from govshare.exchange.engine.copy import (
    CopyPlan,
    CopyResult,
    _check,
    _convert_page,
    _fetch,
    _key_items,
    _key_page,
    _key_text,
    _keys_resume,
    _limit,
    _mark,
    _Reader,
    _result,
    convert,
    decode_key,
    encode_key,
    phase_of,
    watermark_bounds,
    watermark_order,
)
from govshare.exchange.engine.sources import _DateOrText, _TimestampOrText, _TimestamptzOrText

_TEXT = frozenset({"text", "character varying"})
_INTEGER = {"smallint": 5, "integer": 10, "bigint": 19}  # most digits of each
_NUMBER = frozenset({"numeric", *_INTEGER})
_TIMES = frozenset({"timestamp without time zone", "timestamp with time zone"})
#: the source column types each letter takes on this path (base types, without their modifiers)
ALLOWED: dict[str, frozenset[str]] = {
    "C": _TEXT, "M": _TEXT, "N": _NUMBER, "Y": _NUMBER, "I": frozenset(_INTEGER), "D": frozenset({"date"}),
    "T": _TIMES, "L": frozenset({"boolean"}), "G": frozenset({"bytea"})}
#: most digits of an N or Y value without a length (copy.MAX_DIGITS)
_MAX_DIGITS = 1000
#: bytes of the source's COPY stream sent on to the centre at once
_PIECE = 1 << 20
#: how long log mode's fast path waits for the transactions of a batch to be visible (KeyedReader.wait_visible)
VISIBLE_SECONDS = 60.0
#: row numbers of the rows log mode takes from the log's values (after those read again: KeyedReader)
_LOGGED = 1 << 40
#: connections of the centre a fast copy pipelines its batches over (:class:`_Pipeline`).  Measured on 2 cores,
#: 1 M rows (bench/exchange_copy.py): 1 → 106 600 rows/s, 2 → 178 200, 3 → 169 600
CONNECTIONS = 2
_MODIFIER = re.compile(r"\(([0-9, ]*)\)")

_TYPES_SQL = """
SELECT a.attname,
       CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN format_type(a.atttypid, a.atttypmod)
            ELSE 'not built-in: ' || format_type(a.atttypid, a.atttypmod) END
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"""


def _table_name(plan: CopyPlan) -> str:
    """The source table's quoted (qualified) name as ``to_regclass`` reads it."""
    return _Reader(plan).table.replace("%%", "%")


def read_source_types(conn: Any, plan: CopyPlan) -> dict[str, str]:
    """Each column of the source table with its type as ``format_type`` writes it (``character varying(40)``,
    ``numeric(14,2)``, ``timestamp with time zone``); a type outside ``pg_catalog`` (a domain, an enum, an
    extension's) is ``not built-in: …``.  An empty dict: no such table."""
    return {str(name): str(kind) for name, kind in _fetch(conn, _TYPES_SQL, (_table_name(plan),))}


def source_types(plan: CopyPlan) -> dict[str, str]:
    """:func:`read_source_types` on a connection of its own (for :func:`eligible` before a run)."""
    with sources.connect(plan.source) as conn:
        return read_source_types(conn, plan)


def _base(kind: str) -> tuple[str, list[int]]:
    """A ``format_type`` text without its modifiers, and the modifiers (``numeric(14,2)`` → numeric, [14, 2])."""
    found = _MODIFIER.search(kind)
    modifiers = [int(part) for part in found.group(1).split(",") if part.strip()] if found else []
    return _MODIFIER.sub("", kind).strip(), modifiers


def eligible(plan: CopyPlan, store: Store, source_types: Mapping[str, str]) -> str | None:
    """None when :func:`fast_full_copy` copies this plan exactly as :func:`full_copy` would; else why not."""
    return eligible_for(plan, store, source_types, ("postgresql", "PostgreSQL"), ALLOWED, lambda kind: _base(kind)[0])


def eligible_for(plan: CopyPlan, store: Store, source_types: Mapping[str, str], source: tuple[str, str],
                 allowed: Mapping[str, frozenset[str]], base: Callable[[str], str]) -> str | None:
    """The rules every server-side path shares: ``source`` (kind, name) into a PostgreSQL store, no value rules, a
    declared key, and each item's letter in ``allowed`` from a source column whose ``base`` type the letter
    takes there; None, or why not."""
    if plan.source.kind != source[0]:
        return f"the source is {plan.source.kind}, not {source[1]}"
    if store.kind != "postgresql":
        return f"the centre's store is {store.kind}, not PostgreSQL"
    if plan.rules is not None:
        return "the entry has value rules (they run in Python)"
    if not plan.key_unique:
        return "the key is not the table's declared primary key"
    try:
        _check(plan)
    except ValueError as exc:
        return str(exc)
    if not source_types:
        return "the source table's column types cannot be read"
    for column, item in zip(plan.columns, plan.items, strict=True):
        if item.letter not in allowed:
            return f"item {item.name!r} is of type {item.letter} (B and F: Python's float text is not SQL's)"
        kind = source_types.get(column)
        if kind is None:
            return f"the source has no column {column!r}"
        if base(kind) not in allowed[item.letter]:
            return f"item {item.name!r} ({item.letter}) from a column of type {kind}"
    return None


# -- SQL of a batch ----------------------------------------------------------------------------------------

def _bytea(data: bytes) -> str:
    return f"'\\x{data.hex()}'::bytea"


_NULL = _bytea(b"\0" * 7 + b"\1" + b"0")  # row_hash's NULL: length 1, "0"


def _tagged(tag: bytes, text_sql: str) -> str:
    """row_hash's part of a non-NULL value whose canonical text ``text_sql`` computes: 8-byte length, tag,
    the text as UTF-8."""
    return (f"int8send(octet_length({text_sql})::int8 + {len(tag)}) || {_bytea(tag)} "
            f"|| convert_to({text_sql}, 'UTF8')")


def _fixed(tag: bytes, text_sql: str, width: int) -> str:
    """As :func:`_tagged` for a text of known length."""
    return f"{_bytea((width + len(tag)).to_bytes(8, 'big') + tag)} || convert_to({text_sql}, 'UTF8')"


def _part(letter: str, v: str) -> str:
    """The SQL of one value's part of the row hash, ``v`` the converted value (store type)."""
    if letter in "CM":
        value = f"{_bytea(b'S')} || convert_to({v}, 'UTF8')"
        return f"CASE WHEN {v} IS NULL THEN {_NULL} ELSE int8send(octet_length({v})::int8 + 1) || {value} END"
    if letter == "I":
        return f"CASE WHEN {v} IS NULL THEN {_NULL} ELSE {_tagged(b'I', f'{v}::text')} END"
    if letter in "NY":
        return f"CASE WHEN {v} IS NULL THEN {_NULL} ELSE {_tagged(b'N', f'trim_scale({v})::text')} END"
    if letter == "D":
        day = _fixed(b"D", f"to_char({v}, 'YYYY-MM-DD')", 10)
        return f"CASE WHEN {v} IS NULL THEN {_NULL} ELSE {day} END"
    if letter == "T":
        whole = _fixed(b"T", f"""to_char({v}, 'YYYY-MM-DD"T"HH24:MI:SS')""", 19)
        fraction = _fixed(b"T", f"""to_char({v}, 'YYYY-MM-DD"T"HH24:MI:SS.US')""", 26)
        return (f"CASE WHEN {v} IS NULL THEN {_NULL} WHEN date_trunc('second', {v}) = {v} THEN {whole} "
                f"ELSE {fraction} END")
    if letter == "L":
        true, false = _bytea(bytes(7) + b"\2L1"), _bytea(bytes(7) + b"\2L0")
        return f"CASE WHEN {v} IS NULL THEN {_NULL} WHEN {v} THEN {true} ELSE {false} END"
    if letter == "G":
        return (f"CASE WHEN {v} IS NULL THEN {_NULL} "
                f"ELSE int8send(octet_length({v})::int8 + 1) || {_bytea(b'G')} || {v} END")
    raise ValueError(f"no SQL hash for type {letter}")


def _converted(letter: str, kind: str, s: str) -> str:
    """The SQL converting a staged value ``s`` (source type ``kind``) to the store's type of ``letter``."""
    base, _ = _base(kind)
    if letter in "CM":
        return f"{s}::text"
    if letter in "NY":
        return f"{s}::numeric"
    if letter == "I":
        return f"{s}::bigint"
    if letter == "T":
        return f"({s} AT TIME ZONE 'UTC')" if base == "timestamp with time zone" else f"{s}::timestamp"
    return s  # D, L, G: the same type


def _flag(item: StoreColumn, kind: str, s: str, infinite_numbers: bool) -> str | None:
    """SQL true for a staged value that :func:`copy.convert` might refuse (then Python decides); None: the
    column's type never has such values.  Never NULL."""
    base, modifiers = _base(kind)
    letter = item.letter
    if letter == "C" and item.length:
        if base == "character varying" and modifiers and modifiers[0] <= item.length:
            return None
        return f"coalesce(char_length({s}) > {int(item.length)}, false)"
    if letter in "NY":
        limit = item.length or _MAX_DIGITS
        if base in _INTEGER:
            return None if _INTEGER[base] <= limit else f"coalesce(abs({s}::numeric) >= 1e{int(limit)}, false)"
        special = "'NaN'::numeric, 'Infinity'::numeric, '-Infinity'::numeric" if infinite_numbers \
            else "'NaN'::numeric"
        if modifiers and modifiers[0] <= limit:
            return f"coalesce({s} IN ({special}), false)"
        text = f"trim_scale(abs({s}))::text"
        digits = (f"(CASE WHEN abs({s}) < 1 THEN 0 ELSE length(split_part({text}, '.', 1)) END "
                  f"+ length(split_part({text}, '.', 2)))")
        return (f"CASE WHEN {s} IS NULL THEN false WHEN {s} IN ({special}) THEN true "
                f"WHEN {s} = 0 THEN false ELSE {digits} > {int(limit)} END")
    if letter == "D":
        return f"coalesce(NOT ({s} BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'), false)"
    if letter == "T":
        if base == "timestamp with time zone":  # near the ends: the source's zone may take it out of range
            return (f"coalesce(NOT ({s} >= TIMESTAMPTZ '0001-01-03 00:00:00+00' "
                    f"AND {s} < TIMESTAMPTZ '9999-12-30 00:00:00+00'), false)")
        return f"coalesce(NOT ({s} >= TIMESTAMP '0001-01-01' AND {s} < TIMESTAMP '10000-01-01'), false)"
    return None


class Dialect:
    """How a source's values arrive in the staging table and become the store's (:class:`_Batch`): the staging
    column's type for a source column type, the SQL converting a staged value ``s`` to the store's type of its
    item, the SQL flagging a value :func:`copy.convert` might refuse (None: never), the COPY format, and staged
    columns beyond the values (name, type, flag SQL).  This one: PostgreSQL's binary COPY, the source's own
    types; :mod:`govshare.exchange.engine.mysqlcopy` has MySQL's."""

    name = "postgresql"
    copy_format = "BINARY"
    extra: tuple[tuple[str, str, str], ...] = ()

    def staged_type(self, item: StoreColumn, kind: str) -> str:
        return kind

    def converted(self, item: StoreColumn, kind: str, s: str) -> str:
        return _converted(item.letter, kind, s)

    def flag(self, item: StoreColumn, kind: str, s: str, infinite_numbers: bool) -> str | None:
        return _flag(item, kind, s, infinite_numbers)


POSTGRESQL = Dialect()


class _Batch:
    """The statements on the centre's side for staged values: of a plan's rows (every item), or of its keys (the
    key items, ``names`` the store's key columns, ``tag`` keeping their staging table apart)."""

    def __init__(self, target: str, items: Sequence[StoreColumn], kinds: Sequence[str], infinite_numbers: bool,
                 *, names: Sequence[str] | None = None, tag: str = "", dialect: Dialect | None = None) -> None:
        dialect = dialect or POSTGRESQL
        self.items, self.kinds = list(items), list(kinds)
        staged = [f"s{i}" for i in range(1, len(self.items) + 1)]
        self.staged = staged
        digest = hashlib.sha256(json.dumps([target, self.kinds, tag, dialect.name]).encode()).hexdigest()[:16]
        self.staging = f"_gs_s_{digest}"
        typed = ", ".join(f"{s} {dialect.staged_type(item, kind)}"
                          for s, item, kind in zip(staged, self.items, self.kinds, strict=True))
        extra = "".join(f", {name} {kind}" for name, kind, _ in dialect.extra)
        self.create = (f"CREATE TEMP TABLE IF NOT EXISTS {self.staging} "
                       f"(n BIGINT GENERATED ALWAYS AS IDENTITY, {typed}{extra}) ON COMMIT DELETE ROWS")
        copied = ", ".join([*staged, *(name for name, _, _ in dialect.extra)])
        self.copy_in = f"COPY {self.staging} ({copied}) FROM STDIN (FORMAT {dialect.copy_format})"
        flags = [f for f in (dialect.flag(item, kind, s, infinite_numbers)
                             for item, kind, s in zip(self.items, self.kinds, staged, strict=True)) if f]
        flags.extend(flag for _, _, flag in dialect.extra)
        self.flagged = " OR ".join(f"({f})" for f in flags) if flags else "false"
        self.converted = [dialect.converted(item, kind, s)
                          for item, kind, s in zip(self.items, self.kinds, staged, strict=True)]
        values = [f"v{i}" for i in range(1, len(self.items) + 1)]
        parts = " || ".join(_part(item.letter, v) for item, v in zip(self.items, values, strict=True))
        self.values = values
        self.names = list(names) if names is not None else [f"c{i}" for i in range(1, len(values) + 1)]
        self.hash = f"substring(sha256({parts}) FROM 1 FOR 16)"

    @classmethod
    def of_rows(cls, plan: CopyPlan, types: Mapping[str, str], infinite_numbers: bool) -> _Batch:
        return cls(plan.target, plan.items, [types[column] for column in plan.columns], infinite_numbers)

    def insert(self, scratch: str) -> str:
        converted = ", ".join(f"{sql} AS {v}" for sql, v in zip(self.converted, self.values, strict=True))
        return (f"INSERT INTO {scratch} (n, {', '.join(self.names)}, _hash) "  # noqa: S608 — names made here
                f"SELECT n, {', '.join(self.values)}, {self.hash} "
                f"FROM (SELECT n, {converted} FROM {self.staging} WHERE NOT ({self.flagged}) OFFSET 0) q")

    def flagged_rows(self) -> str:
        return (f"SELECT n, {', '.join(self.staged)} FROM {self.staging} "  # noqa: S608 — names made here
                f"WHERE {self.flagged} ORDER BY n")

    def last(self) -> str:
        return f"SELECT {', '.join(self.staged)} FROM {self.staging} ORDER BY n DESC LIMIT 1"  # noqa: S608


def _flagged(centre: Any, statements: _Batch, scratch: str, zone: str, plan: CopyPlan, key_at: list[int]
             ) -> tuple[int, list[tuple[str, str, str]], list[list[Any]]]:
    """The staged rows a check flagged, converted by :func:`copy.convert` exactly as :func:`full_copy` converts
    them (read with the source's loaders and in its session's time zone, so that keys show as there): those
    it accepts go into the scratch table with their values and hash; the others are counted, their reasons
    and keys returned."""
    centre.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
    with centre.cursor() as cursor:
        for type_name, loader in (("date", _DateOrText), ("timestamp", _TimestampOrText),
                                  ("timestamptz", _TimestamptzOrText)):
            cursor.adapters.register_loader(type_name, loader)
        rows = cursor.execute(statements.flagged_rows()).fetchall()
    centre.execute("SELECT set_config('TimeZone', 'UTC', true)")
    return take_flagged(centre, scratch, plan, key_at, [(int(n), tuple(raw)) for n, *raw in rows])


def take_flagged(centre: Any, scratch: str, plan: CopyPlan, key_at: list[int],
                 rows: Sequence[tuple[int, tuple[Any, ...]]]) -> tuple[int, list[tuple[str, str, str]], list[list[Any]]]:
    """Flagged rows ``(n, source values)`` converted by :func:`copy.convert`: the accepted ones go into the scratch
    table at their row number ``n``, with their values and hash; the others are counted, and their quarantine
    entries and (converted) keys returned."""
    rejected = 0
    rejects: list[tuple[str, str, str]] = []
    seen: list[list[Any]] = []
    names = ", ".join(f"c{i}" for i in range(1, len(plan.items) + 1))
    marks = ", ".join(["%s"] * (len(plan.items) + 2))
    taken: set[tuple[Any, ...]] = set()
    for n, raw in rows:
        accepted, hashes, row_rejects, row_keys = _convert_page(plan, key_at, [raw])
        key = tuple(accepted[0][i] for i in key_at) if accepted else None
        if key is not None and key in taken:  # as _convert_page finds a key repeated in a page
            accepted = []
            row_rejects = [(_key_text([raw[i] for i in key_at]), _key_items(plan, key_at),
                            "duplicate_key: the key of an earlier row")]
            row_keys = [list(key)]
        if accepted:  # flagged, but Python takes it: its values and hash as full_copy would apply them
            assert key is not None
            taken.add(key)
            centre.execute(f"INSERT INTO {scratch} (n, {names}, _hash) VALUES ({marks})",  # noqa: S608
                           (n, *accepted[0], hashes[0]))
            continue
        rejected += 1
        rejects.extend(row_rejects)
        seen.extend(row_keys)
    return rejected, rejects, seen


# -- the copy ----------------------------------------------------------------------------------------------

def _copy_statement(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any] | None]:
    """A COPY statement for ``cursor.copy``: psycopg fills in parameters only when there are some, so a statement
    without them must not have the ``%%`` that quoting doubled (a column named ``rate%``) — review."""
    return (sql, params) if params else (sql.replace("%%", "%"), None)


class _CentreFailed(Exception):
    pass


def _pipe(source: Any, sql: str, params: Sequence[Any], centre: Any, copy_in: str) -> int:
    """The source's binary COPY ``sql`` sent, never decoded, into the centre's ``copy_in``; the rows copied.
    The source gives a row a chunk: they go on in pieces of ~1 MB.  psycopg's errors do not say which connection
    raised them: a failure while the source sends leaves as the source's :class:`SourceError`, one while the
    centre takes the rows (or finishes its COPY) as the centre's own driver error (the store names it)."""
    with centre.cursor() as centre_cursor:
        with centre_cursor.copy(copy_in) as into:
            try:
                with source.cursor() as source_cursor, source_cursor.copy(*_copy_statement(sql, params)) as out:
                    buffered = bytearray()
                    for chunk in out:
                        buffered += chunk
                        if len(buffered) >= _PIECE:
                            _write(into, buffered)
                            buffered.clear()
                    if buffered:
                        _write(into, buffered)
            except _CentreFailed as failed:
                raise failed.__cause__ from None  # type: ignore[misc]
            except psycopg.Error as exc:
                if isinstance(exc.__context__, _CentreFailed):  # the source's COPY ended on the centre's error
                    raise exc.__context__.__cause__ from None  # type: ignore[misc]
                raise sources._pg_error(exc) from exc
        return int(centre_cursor.rowcount)


def _write(into: Any, data: bytearray) -> None:
    try:
        into.write(bytes(data))
    except psycopg.Error as exc:
        raise _CentreFailed from exc


def _centre_version(centre: Any, what: str) -> int:
    """The centre's ``server_version_num``; a ``StoreError`` unless its database is UTF8 (hashes are taken over
    the UTF-8 bytes of text, as :func:`row_hash` does)."""
    encoding, version = centre.execute(
        "SELECT current_setting('server_encoding'), current_setting('server_version_num')::int").fetchone()
    if encoding != "UTF8":
        raise StoreError("other", f"{what} needs a UTF8 centre database, not {encoding}")
    return int(version)


def _without_order(sql: str, reader: _Reader) -> str:
    assert sql.endswith(reader.order)
    return sql[:-len(reader.order)]


class _Cancelled(Exception):
    """A pipelined batch given up before it locked the table (the copy stops, failed or went elsewhere)."""


class _Pipeline:
    """Who may use the source and who may lock the table, batch by batch (:func:`fast_full_copy`).

    Batch k reads its page bounds and pipes its rows while it holds the source (``source`` = k), then hands
    the source to batch k + 1 and converts and hashes its rows in the centre; it locks the table only once the
    main thread has seen batch k − 1 committed (``granted`` ≥ k).  So batch k + 1 is read and hashed on a
    second connection of the centre while batch k is written and committed on the first: the two halves of
    the work overlap, and batches still commit one after the other, in order."""

    def __init__(self, first: int, after: tuple[Any, ...] | None) -> None:
        self.cond = threading.Condition()
        self.source = first
        self.granted = first
        self.after = after
        self.finished = False  # the last page has been read
        self.abort = False

    def wait(self, ready: Callable[[], bool]) -> None:
        with self.cond:
            while not (ready() or self.abort):
                self.cond.wait(1.0)
            if self.abort:
                raise _Cancelled

    def hand_on(self, batch: int) -> None:
        """Batch ``batch`` is done with the source."""
        with self.cond:
            if self.source == batch:
                self.source = batch + 1
                self.cond.notify_all()

    def grant(self, batch: int) -> None:
        with self.cond:
            self.granted = max(self.granted, batch)
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.abort = True
            self.cond.notify_all()


def fast_full_copy(plan: CopyPlan, store: Store, *, run_id: str,
                   on_batch: Callable[[BatchReceipt], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, connections: int = CONNECTIONS) -> CopyResult:
    """:func:`govshare.exchange.engine.copy.full_copy` for an :func:`eligible` plan, at the speed of the
    servers: the same batches, positions, receipts, quarantine and hashes, and a run begun by either one may be
    resumed by the other.  ``ValueError`` when the plan is not eligible (the reason).  A MySQL/MariaDB source
    takes :mod:`govshare.exchange.engine.mysqlcopy`'s pages (:func:`mysqlcopy.eligible`) through the same
    pipeline.

    Pipelined (:class:`_Pipeline`) over ``connections`` connections of the centre when the store can open more
    (:meth:`Store.twin`); ``on_batch`` and ``should_stop`` are called on the caller's thread, after each batch
    commits, in order — a copy told to stop commits no batch after the one it was told after."""
    if plan.source.kind not in ("postgresql", "mysql") or store.kind != "postgresql":
        raise ValueError("the fast copy is PostgreSQL or MySQL → PostgreSQL only")
    pages: Callable[..., str]
    read_types, why, pages = read_source_types, eligible, _copy_pages
    if plan.source.kind == "mysql":
        from govshare.exchange.engine import mysqlcopy

        read_types, why, pages = mysqlcopy.read_source_types, mysqlcopy.eligible, mysqlcopy.copy_pages

    def rows(conn: Any, types: Mapping[str, str], stores: list[Store], key_at: list[int], batch: int,
             position: dict[str, Any] | None) -> str:
        mark = position.get("mark") if position else None
        if plan.watermark and position is None:
            highest = _mark(conn, plan, _Reader(plan))
            mark = None if highest is None else encode_key([highest])
        return pages(plan, stores, conn, types, key_at, run_id, batch, position, mark, on_batch, should_stop)

    return _pipelined(plan, store, run_id, connections, read_types, why, rows, should_stop)


def _pipelined(plan: CopyPlan, store: Store, run_id: str, connections: int,
               read_types: Callable[[Any, CopyPlan], dict[str, str]],
               why: Callable[[CopyPlan, Store, Mapping[str, str]], str | None],
               rows: Callable[[Any, Mapping[str, str], list[Store], list[int], int, dict[str, Any] | None], str],
               should_stop: Callable[[], bool] | None) -> CopyResult:
    """The frame of a pipelined copy's ``rows`` phase: the store's table, up to ``connections`` centre connections,
    the source's session and types (``ValueError`` when ``why`` gives a reason), then ``rows(conn, types, stores,
    key_at, batch, position)`` from the last committed position — again when another worker went ahead
    (``elsewhere``)."""
    started = time.monotonic()
    key_at = _check(plan)
    store.ensure_table(plan.target, plan.items, [plan.items[i].name for i in key_at])
    resumed = store.last_batch(plan.target, run_id)
    twins: list[Store] = []
    try:
        for _ in range(connections - 1):
            try:
                twin = store.twin()
            except StoreError:  # the centre takes no more connections now: the copy goes on with fewer
                break
            if twin is not None:
                twins.append(twin)
        with sources.connect(plan.source) as conn:
            types = read_types(conn, plan)
            reason = why(plan, store, types)
            if reason is not None:
                raise ValueError(f"not for the fast copy: {reason}")
            while True:  # one pass from the last committed position; again when another worker went ahead
                batch = store.last_batch(plan.target, run_id)
                position = store.position(plan.target, run_id) if batch else None
                if position and (position.get("done") or phase_of(position) != "rows"):
                    return _result(store, plan, run_id, resumed, started, True)
                if should_stop is not None and should_stop():
                    return _result(store, plan, run_id, resumed, started, False)
                outcome = rows(conn, types, [store, *twins], key_at, batch, position)
                if outcome != "elsewhere":
                    return _result(store, plan, run_id, resumed, started, outcome == "done")
    finally:
        for twin in twins:
            twin.close()


def fast_watermark_copy(plan: CopyPlan, store: Store, *, run_id: str, since: list[list[Any]] | None,
                        overlap_seconds: int, on_batch: Callable[[BatchReceipt], None] | None = None,
                        should_stop: Callable[[], bool] | None = None,
                        connections: int = CONNECTIONS) -> CopyResult:
    """:func:`govshare.exchange.engine.copy.watermark_copy` for an :func:`eligible` PostgreSQL plan: the same pages
    in (update time, key) order from ``since`` minus the overlap up to the run's mark, the same positions,
    receipts, quarantine and hashes — a run begun by either one may be resumed by the other — but the rows cross
    by binary ``COPY`` and are converted and hashed in the centre's SQL, pipelined like :func:`fast_full_copy`.
    ``ValueError`` when the plan is not eligible."""
    if not plan.watermark:
        raise ValueError("a watermark copy needs the plan's update-time column")
    if plan.source.kind != "postgresql" or store.kind != "postgresql":
        raise ValueError("the fast watermark copy is PostgreSQL → PostgreSQL only")
    _columns, order, at = watermark_order(plan)

    def rows(conn: Any, types: Mapping[str, str], stores: list[Store], key_at: list[int], batch: int,
             position: dict[str, Any] | None) -> str:
        mark, lower = watermark_bounds(conn, plan, store, run_id=run_id, batch=batch, position=position,
                                       since=since, overlap_seconds=overlap_seconds)
        if mark is None:
            return "done"
        window = _Window(order, decode_key(mark)[0], lower, at)
        return _copy_pages(plan, stores, conn, types, key_at, run_id, batch, position, mark, on_batch, should_stop,
                           window)

    return _pipelined(plan, store, run_id, connections, read_source_types, eligible, rows, should_stop)


def incremental_copy(fast_plan: CopyPlan, plan: CopyPlan, store: Store, *, run_id: str,
                     since: list[list[Any]] | None, overlap_seconds: int,
                     on_batch: Callable[[BatchReceipt], None] | None = None,
                     log: Callable[[str], None] | None = None,
                     types: Mapping[str, str] | None = None) -> CopyResult:
    """Watermark mode's copy of the changed rows by the fastest path the pair allows, saying which through ``log``:
    PostgreSQL → PostgreSQL centre for an :func:`eligible` plan by :func:`fast_watermark_copy` (batches of
    ``fast_plan.batch_rows``), else :func:`copy.watermark_copy` (keyset pages of ``plan.batch_rows``).  A run
    resumed goes on where it was, whichever path began it.  ``types``: the source's column types, when the caller
    read them already (:func:`source_types`)."""
    from govshare.exchange.engine.copy import watermark_copy

    note = log or (lambda _message: None)
    if plan.source.kind == "postgresql" and store.kind == "postgresql":
        why = eligible(plan, store, source_types(plan) if types is None else types)
        if why is None:
            note(f"changed rows: binary COPY into the centre, converted and hashed there, "
                 f"{fast_plan.batch_rows} rows a batch")
            return fast_watermark_copy(fast_plan, store, run_id=run_id, since=since,
                                       overlap_seconds=overlap_seconds, on_batch=on_batch)
        note(f"changed rows: keyset pages ({why})")
    return watermark_copy(plan, store, run_id=run_id, since=since, overlap_seconds=overlap_seconds,
                          on_batch=on_batch)


def run_batches(stores: list[Store], batch: int, line: _Pipeline,
                one: Callable[[int, Store], tuple[BatchReceipt, dict[str, Any]] | None],
                on_batch: Callable[[BatchReceipt], None] | None, should_stop: Callable[[], bool] | None) -> str:
    """The batches after ``batch``, each made by ``one(number, store)`` on the store (connection of the centre)
    its turn gives it, ``len(stores)`` at once, their receipts taken in order: ``done``, ``stopped`` or
    ``elsewhere`` (see :func:`_copy_pages`).  ``one`` returns None when the batch before was the last."""
    width = len(stores)
    outcome = "done"
    with concurrent.futures.ThreadPoolExecutor(max_workers=width, thread_name_prefix="fastcopy") as pool:
        pending: collections.deque[concurrent.futures.Future[Any]] = collections.deque(
            pool.submit(one, batch + 1 + i, stores[i]) for i in range(width))
        number = batch + 1
        try:
            while pending:
                done = pending.popleft().result()
                if done is None:  # the page before was the last
                    break
                receipt, sent = done
                if receipt.position != sent:  # another worker committed this batch first: what it committed rules
                    outcome = "elsewhere"
                    break
                if on_batch is not None:
                    on_batch(receipt)
                if sent["done"]:
                    break
                if should_stop is not None and should_stop():
                    outcome = "stopped"
                    break
                line.grant(number + 1)
                pending.append(pool.submit(one, number + width, stores[(number + width - batch - 1) % width]))
                number += 1
        finally:
            line.stop()  # the batches still on their way give up before they lock (nothing of them commits)
            for future in pending:
                with contextlib.suppress(Exception):  # cancelled, or failed without committing: the outcome stands
                    future.result()
    return outcome


@dataclass(frozen=True)
class _Window:
    """An incremental copy's pages (watermark mode): in (update time, key) order, from ``lower`` (inclusive; None:
    from the first row) up to ``upper`` (the run's mark, inclusive); ``at``: the update time's place among the
    columns :func:`copy.watermark_copy` reads (its positions say so)."""

    order: tuple[str, ...]
    upper: Any
    lower: Any
    at: int


def _copy_pages(plan: CopyPlan, stores: list[Store], conn: Any, types: Mapping[str, str], key_at: list[int],
                run_id: str, batch: int, position: dict[str, Any] | None, mark: Any,
                on_batch: Callable[[BatchReceipt], None] | None,
                should_stop: Callable[[], bool] | None, window: _Window | None = None) -> str:
    """The batches after ``batch`` (committed, at ``position``), pipelined over ``stores``: ``done`` (the last
    page is committed), ``stopped`` (``should_stop``), ``elsewhere`` (another worker committed a batch of this
    run first: go on from what it committed).  ``window``: the pages of an incremental copy, with the positions
    :func:`copy.watermark_copy` writes."""
    conn.execute("SET client_encoding TO 'UTF8'")  # text crosses the pipe as bytes: UTF-8 on both sides
    (zone,) = _fetch(conn, "SELECT current_setting('TimeZone')", ())[0]
    after = decode_key(position["after"]) if position and position.get("after") is not None else None
    if window is None:
        reader = _Reader(plan)
        keys = _Reader(plan, columns=plan.key)
    else:
        reader = _Reader(plan, order=window.order, upper=window.upper)
        keys = _Reader(plan, columns=window.order, order=window.order, upper=window.upper)
    lower = None if window is None else window.lower
    order = ", ".join(keys.keys)
    descending = ", ".join(f"{k} DESC" for k in keys.keys)
    bound = keys.keys[0] if len(keys.keys) == 1 else f"({', '.join(keys.keys)})"
    bound_marks = "%s" if len(keys.keys) == 1 else f"({', '.join(['%s'] * len(keys.keys))})"
    key_items = _key_items(plan, key_at)
    statements: dict[str, _Batch] = {}
    lock = threading.Lock()

    def prepared(centre: Any) -> _Batch:
        with lock:
            if "batch" not in statements:
                statements["batch"] = _Batch.of_rows(plan, types, _centre_version(centre, "the fast copy") >= 140000)
            return statements["batch"]

    line = _Pipeline(batch + 1, after)

    def one(number: int, centre_store: Store) -> tuple[BatchReceipt, dict[str, Any]] | None:
        """Batch ``number``: its page read and piped while it holds the source, then written in turn."""
        line.wait(lambda: line.source == number)
        try:
            if line.finished:
                return None
            page_sql, page_params = keys.page(line.after, lower)
            page_sql = _without_order(page_sql, keys)
            upper_rows = _fetch(conn, f"{page_sql} ORDER BY {order} OFFSET {int(plan.batch_rows) - 1} LIMIT 1",
                                page_params)
            full = bool(upper_rows)
            if full:
                last: tuple[Any, ...] | None = tuple(upper_rows[0])
            else:
                found = _fetch(conn, f"{page_sql} ORDER BY {descending} LIMIT 1", page_params)
                last = tuple(found[0]) if found else line.after
            select_sql, select_params = reader.page(line.after, lower)
            select_sql = _without_order(select_sql, reader)
            if full:
                select_sql += f" AND {bound} <= {bound_marks}"
                select_params = (*select_params, *(last or ()))
            copy_out = f"COPY ({select_sql} ORDER BY {order}) TO STDOUT (FORMAT BINARY)"
            empty = 0
            if not full and window is None:  # rows without a key: counted once, by the full copy
                (counted,) = _fetch(conn, reader.count_empty, ())[0]
                empty = int(counted)
            line.after, line.finished = last, not full
            sent = {"phase": "rows", "after": None if last is None else encode_key(last), "done": not full,
                    "mark": mark}
            if window is not None:
                sent |= {"lower": None if lower is None else encode_key([lower]), "update_at": window.at}

            def fill(centre: Any, scratch: str) -> StagedBatch:
                statements_ = prepared(centre)
                centre.execute(statements_.create)
                try:
                    copied = _pipe(conn, copy_out, select_params, centre, statements_.copy_in)
                finally:
                    line.hand_on(number)  # the next batch may read the source while this one is hashed
                converted = centre.execute(statements_.insert(scratch)).rowcount
                rejected, rejects, seen = (0, [], []) if converted == copied else \
                    _flagged(centre, statements_, scratch, zone, plan, key_at)
                rows_read = int(copied) + empty
                if empty:
                    rejects.append(("", key_items, f"empty_key: {empty} rows without a value in the key"))
                _limit(plan, number, rows_read, int(copied) - rejected, rejects)
                return StagedBatch(rows_read=rows_read, rejects=rejects, seen=seen)

            # an incremental copy keeps no key list of its rows (as copy.watermark_copy): a row changed again while
            # the run reads is read twice, and its later read wins
            receipt = centre_store.apply_staged(plan.target, fill, run_id=run_id, batch=number, position=sent,
                                                remember=window is None,
                                                before_lock=lambda: line.wait(lambda: line.granted >= number))
            return receipt, sent
        finally:
            line.hand_on(number)

    return run_batches(stores, batch, line, one, on_batch, should_stop)


# -- the fast key scan -------------------------------------------------------------------------------------

#: the key items' letters a fast key scan takes, and their source column types: a key read back from the centre
#: (converted) finds its row at the source by equality (no time zone, no float in between)
KEY_ALLOWED: dict[str, frozenset[str]] = {"C": _TEXT, "M": _TEXT, "N": _NUMBER, "Y": _NUMBER,
                                          "I": frozenset(_INTEGER), "D": frozenset({"date"})}


def keys_eligible(plan: CopyPlan, store: Store, source_types: Mapping[str, str]) -> str | None:
    """None when :func:`fast_key_scan` reads this plan's keys exactly as :func:`copy.key_scan` would; else why
    not."""
    if plan.source.kind != "postgresql":
        return f"the source is {plan.source.kind}, not PostgreSQL"
    if store.kind != "postgresql":
        return f"the centre's store is {store.kind}, not PostgreSQL"
    try:
        key_at = _check(plan)
    except ValueError as exc:
        return str(exc)
    if not source_types:
        return "the source table's column types cannot be read"
    for i in key_at:
        item, column = plan.items[i], plan.columns[i]
        kind = source_types.get(column)
        if kind is None:
            return f"the source has no column {column!r}"
        if item.letter not in KEY_ALLOWED or _base(kind)[0] not in KEY_ALLOWED[item.letter]:
            return f"key item {item.name!r} ({item.letter}) from a column of type {kind}"
    return None


def fast_key_scan(plan: CopyPlan, store: Store, *, run_id: str,
                  on_batch: Callable[[BatchReceipt], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> CopyResult:
    """:func:`govshare.exchange.engine.copy.key_scan` for a :func:`keys_eligible` plan: the same pages, positions,
    receipts, restored rows and quarantine, but the keys cross from the source into the centre by binary
    ``COPY`` and are converted, hashed and added to the run's key list in the centre's SQL (no key passes
    through Python but the last of each page and those a check flags).  Pages of ``plan.batch_rows`` keys; a
    run begun by either one may be resumed by the other.  ``ValueError`` when the plan is not eligible."""
    started = time.monotonic()
    key_at = _check(plan)
    done, batch, after, mark = _keys_resume(plan, store, run_id)
    resumed = batch
    if done:
        return _result(store, plan, run_id, resumed, started, True)
    key_items = [plan.items[i] for i in key_at]
    names = _key_items(plan, key_at)
    reader = _Reader(plan, columns=plan.key)
    shape_keys = [f"c{i + 1}" for i in key_at]
    with sources.connect(plan.source) as conn:
        types = read_source_types(conn, plan)
        reason = keys_eligible(plan, store, types)
        if reason is not None:
            raise ValueError(f"not for the fast key scan: {reason}")
        conn.execute("SET client_encoding TO 'UTF8'")
        (zone,) = _fetch(conn, "SELECT current_setting('TimeZone')", ())[0]
        statements: dict[str, _Batch] = {}
        while True:
            if should_stop is not None and should_stop():
                return _result(store, plan, run_id, resumed, started, False)
            page_sql, page_params = reader.page(after)
            copy_out = f"COPY ({page_sql}) TO STDOUT (FORMAT BINARY)"
            found: dict[str, Any] = {}

            def fill(centre: Any, scratch: str, *, out: str = copy_out, params: Any = page_params,
                     found: dict[str, Any] = found) -> StagedBatch:
                if "page" not in statements:
                    version = _centre_version(centre, "the fast key check")
                    statements["page"] = _Batch(plan.target, key_items, [types[plan.columns[i]] for i in key_at],
                                                version >= 140000, names=shape_keys, tag="keys")
                page = statements["page"]
                centre.execute(page.create)
                copied = _pipe(conn, out, params, centre, page.copy_in)
                centre.execute(page.insert(scratch))
                centre.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
                rejects: list[tuple[str, str, str]] = []
                with centre.cursor() as cursor:  # read as the source's session reads them (its loaders, its zone)
                    for type_name, loader in (("date", _DateOrText), ("timestamp", _TimestampOrText),
                                              ("timestamptz", _TimestamptzOrText)):
                        cursor.adapters.register_loader(type_name, loader)
                    last = cursor.execute(page.last()).fetchone()
                    flagged = cursor.execute(page.flagged_rows()).fetchall()
                centre.execute("SELECT set_config('TimeZone', 'UTC', true)")
                for n, *raw in flagged:
                    try:
                        key = [convert(value, item) for item, value in zip(key_items, raw, strict=True)]
                    except ValueError as exc:
                        rejects.append((_key_text(list(raw)), names, str(exc)))
                        continue
                    marks = ", ".join(["%s"] * (len(key) + 2))
                    centre.execute(f"INSERT INTO {scratch} (n, {', '.join(shape_keys)}, _hash) "  # noqa: S608
                                   f"VALUES ({marks})", (n, *key, row_hash(key)))
                found["copied"], found["last"] = copied, None if last is None else tuple(last)
                return StagedBatch(rows_read=copied, rejects=rejects)

            _report, absent = store.stage_keys(plan.target, fill)
            full = found["copied"] == plan.batch_rows
            last = found["last"] if found["last"] is not None else after
            # rows the incremental reads missed are read again by key and applied first, then the keys listed
            done, batch, after = _key_page(
                plan, store, conn, absent,
                lambda number, sent: store.remember_staged(plan.target, run_id=run_id, batch=number, position=sent,
                                                           unique=plan.key_unique),
                run_id=run_id, batch=batch, after=after, last=last, full=full, mark=mark, on_batch=on_batch)
            if done:
                return _result(store, plan, run_id, resumed, started, True)


# -- rows read again by key (log mode, PostgreSQL → PostgreSQL) ------------------------------------------------

#: a 32-bit transaction id (``{xid}``, as the log gives it) as the 64-bit one nearest the snapshot's ``{xmax}``:
#: the log's transactions are recent, and a commit still waiting is at or above xmax (review: not "xmax's epoch").
#: For a statement with parameters (``%%`` is the modulo)
FULL_XID_SQL = ("({xmax} + (((({xid} - ({xmax} & 4294967295) + 2147483648) %% 4294967296) + 4294967296) "
                "%% 4294967296) - 2147483648)")


def wait_visible(conn: Any, xids: set[int], *, seconds: float = VISIBLE_SECONDS) -> None:
    """Wait until every transaction of ``xids`` (32-bit ids, as the log gives them) is visible to a new statement
    of the PostgreSQL session ``conn`` (autocommit: each statement its own snapshot).  A commit is in the log
    before other sessions see it — at once as a rule, but a commit waiting for a synchronous standby stays
    invisible until the standby answers; a re-read before then would find the row as it was (or not at all) and
    the slot would move past the change.  A ``SourceError`` (``timeout``) when they are still not visible after
    ``seconds``: the run fails, the slot stays where it was and the next run reads the changes again."""
    if not xids:
        return
    deadline = time.monotonic() + seconds
    full = FULL_XID_SQL.format(xmax="m.xmax", xid="x.xid")
    sql = ("WITH m AS (SELECT snap, txid_snapshot_xmax(snap) AS xmax "  # noqa: S608 — no outside text in it
           "FROM (SELECT txid_current_snapshot() AS snap) s) "
           f"SELECT count(*) FROM m, unnest(%s::bigint[]) AS x(xid), LATERAL (SELECT {full} AS id) f "
           "WHERE f.id > 0 AND NOT txid_visible_in_snapshot(f.id, m.snap)")
    wanted = sorted(xids)
    pause = 0.005
    while True:
        (hidden,) = _fetch(conn, sql, (wanted,))[0]
        if not hidden:
            return
        if time.monotonic() >= deadline:
            raise sources.SourceError(
                "timeout", f"{hidden} transactions in the source's log are not visible after {seconds:.0f} s "
                           "(a commit waiting for a synchronous standby?): the changes are read again next time")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


class KeyedReader:
    """Log mode's fast path (:mod:`govshare.exchange.engine.logical`): the log says which keys changed; their rows
    as the source has them now are read by key with a binary ``COPY`` into the centre and converted and hashed
    there, as :func:`fast_full_copy` does — no value of theirs passes through Python.  A row read now may be newer
    than the change that named it (a later change in the log then finds it unchanged), and a row gone since is
    not read (its DELETE follows in the log).  For an :func:`eligible` plan; ``conn``: a read-only session of the
    source (never the one reading the log)."""

    def __init__(self, plan: CopyPlan, conn: Any, types: Mapping[str, str]) -> None:
        self.plan, self.conn, self.types = plan, conn, types
        self.key_at = _check(plan)
        conn.execute("SET client_encoding TO 'UTF8'")  # text crosses the pipe as bytes: UTF-8 on both sides
        (self.zone,) = _fetch(conn, "SELECT current_setting('TimeZone')", ())[0]
        reader = _Reader(plan)
        keys = [reader.quote(k) for k in plan.key]
        if len(keys) == 1:
            match = f"{keys[0]} = ANY(%s::{_base(types[plan.key[0]])[0]}[])"
        else:
            arrays = ", ".join(f"%s::{_base(types[k])[0]}[]" for k in plan.key)
            # quoted names, built-in type names
            match = f"({', '.join(keys)}) IN (SELECT * FROM unnest({arrays}))"  # noqa: S608
        self.copy_out = (f"COPY ({reader.select} AND {match} ORDER BY {', '.join(keys)}) "
                         "TO STDOUT (FORMAT BINARY)")
        self.fixed = reader.fixed
        self.statements: _Batch | None = None

    def apply(self, store: Store, keys: Sequence[Sequence[Any]], unplaced: int,
              rejects: list[tuple[str, str, str]], *, run_id: str, batch: int, position: dict[str, Any],
              logged: Callable[[Sequence[Sequence[Any]]], list[tuple[Any, ...]]] | None = None,
              after_read: Callable[[], None] | None = None,
              before_lock: Callable[[], None] | None = None) -> BatchReceipt:
        """One batch: the rows of ``keys`` (source values) read again and upserted, with ``unplaced`` rows whose
        key could not be converted (their reasons in ``rejects``) counted as read.  ``logged(found)``: given the
        keys the re-read found (source values), the rows (source values) to apply instead for the keys it did not
        find — converted and hashed in Python, as the keyset copy does.  A pipelined caller: ``after_read`` runs
        once the source's session is no longer needed, ``before_lock`` before the table is locked (as
        :meth:`Store.apply_staged`'s)."""
        columns = [[key[i] for key in keys] for i in range(len(self.plan.key))]
        params = (*self.fixed, *columns)

        def fill(centre: Any, scratch: str) -> StagedBatch:
            if self.statements is None:
                version = _centre_version(centre, "log mode's fast path")
                self.statements = _Batch.of_rows(self.plan, self.types, version >= 140000)
            statements = self.statements
            centre.execute(statements.create)
            try:
                copied = _pipe(self.conn, self.copy_out, params, centre, statements.copy_in)
            finally:
                if after_read is not None:
                    after_read()
            converted = centre.execute(statements.insert(scratch)).rowcount
            rejected, found, seen = (0, [], []) if converted == copied else \
                _flagged(centre, statements, scratch, self.zone, self.plan, self.key_at)
            reasons = [*rejects, *found]
            extra = 0
            if logged is not None and copied < len(keys):
                rows = logged(self._found(centre, statements))
                accepted, hashes, more, _seen = _convert_page(self.plan, self.key_at, list(rows))
                reasons.extend(more)
                rejected += len(rows) - len(accepted)
                extra = len(rows)
                names = ", ".join(f"c{i}" for i in range(1, len(self.plan.items) + 1))
                marks = ", ".join(["%s"] * (len(self.plan.items) + 2))
                with centre.cursor() as cursor:
                    cursor.executemany(f"INSERT INTO {scratch} (n, {names}, _hash) VALUES ({marks})",  # noqa: S608
                                       [(_LOGGED + n, *values, digest)
                                        for n, (values, digest) in enumerate(zip(accepted, hashes, strict=True))])
            rows_read = copied + extra + unplaced
            _limit(self.plan, batch, rows_read, copied + extra - rejected, reasons)
            return StagedBatch(rows_read=rows_read, rejects=reasons, seen=seen)

        return store.apply_staged(self.plan.target, fill, run_id=run_id, batch=batch, position=position,
                                  remember=False, before_lock=before_lock)

    def wait_visible(self, xids: set[int], *, seconds: float = VISIBLE_SECONDS) -> None:
        """:func:`wait_visible` on the reading session."""
        wait_visible(self.conn, xids, seconds=seconds)

    def _found(self, centre: Any, statements: _Batch) -> list[tuple[Any, ...]]:
        """The keys the re-read brought (source values, read with the source's loaders and in its time zone)."""
        positions = [self.plan.columns.index(k) for k in self.plan.key]
        columns = ", ".join(statements.staged[i] for i in positions)
        centre.execute("SELECT set_config('TimeZone', %s, true)", (self.zone,))
        with centre.cursor() as cursor:
            for type_name, loader in (("date", _DateOrText), ("timestamp", _TimestampOrText),
                                      ("timestamptz", _TimestamptzOrText)):
                cursor.adapters.register_loader(type_name, loader)
            found = [tuple(row) for row in cursor.execute(f"SELECT {columns} FROM {statements.staging}")]  # noqa: S608
        centre.execute("SELECT set_config('TimeZone', 'UTC', true)")
        return found
