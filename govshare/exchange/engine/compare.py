"""Compare mode (issue 10 item 5): copy the changes of a table that has no usable update time, and its deletions,
by comparing hash buckets of its rows at the source with the ones the last run found.  Django-free.

**Buckets.**  Each row of the source belongs to the bucket of its key: the first 16 bits of the MD5 of the key's
text *as the source server writes it* (PostgreSQL ``k::text`` or ``ROW(k1, k2)::text``, MySQL/MariaDB the value
or ``JSON_ARRAY(k1, k2)``; SQLite: see below) — the *fine* bucket, 0 … 65 535, computed by the source server.
Buckets are never ranges of keys: the source and the centre need not order keys the same way (collations).

**One statement per run at the source.**  The source server computes, in one statement (one full scan there;
up to 65 536 small rows travel), for each fine bucket the number of rows and the sum of their *digests*: the first
64 bits of the MD5 of the row's values as the server writes them — PostgreSQL ``md5(ROW(c1, …)::text)``, MySQL and
MariaDB ``MD5(JSON_ARRAY(c1, …))`` — the same text the driver reads (a change the copy could not see, like a
MariaDB FLOAT that changes after its sixth digit, is not seen here either).  NULL, ``''`` and ``'NULL'`` are three
different texts.  Sums are exact (PostgreSQL ``numeric``, MySQL ``DECIMAL``) and kept modulo 2**64.  Rows whose key
has an empty part form a bucket of their own (they cannot be copied: they are counted as ``empty_key``, as the
full copy does).

**The map.**  The centre keeps, per table, the source's buckets as the last complete compare run found them
(:class:`~govshare.datastore.engine.store.BucketMap`: ``B`` buckets, a power of two from 16 to 65 536, about
:data:`BUCKET_ROWS` rows each; fine bucket ``f`` is in bucket ``f >> (16 - log2 B)``).  ``B`` is chosen from the
table's rows on the first run and again when the table has grown or shrunk :data:`RESCALE` times; because buckets
of a smaller ``B`` are unions of those of a larger one, a new ``B`` never forces a full read (both maps are
compared at the smaller ``B``).  A map made over other columns, items or value rules (its ``signature``) is not
used: that run reads every row (a *full pass*), as the first one does.

**A run** (:func:`compare_copy`, resumable under its ``run_id`` at every step):

1. the source's aggregate, kept in the centre as the run's map (:meth:`Store.keep_bucket_map`) before anything
   else, so that a resumed run compares exactly what it compared before;
2. phase ``rows``: the rows of the buckets whose (rows, digest) differ from the table's map — keyset pages in key
   order with ``AND (<bucket> >> shift) IN (…)``, so the source walks its key index once — converted and applied
   like a full copy's (:func:`~govshare.exchange.engine.copy.convert`, quarantine, value rules), each row with its
   fine bucket (the store's ``_bucket``), every key read joining the run's key list;
3. phase ``deletes``: the live rows of the centre in those buckets (their ``_bucket``) that the run did not read
   are tombstoned, behind the same mass-delete guard as :func:`~govshare.exchange.engine.copy.delete_unseen`
   (more than ``guard_share`` of the table's live rows: held until a person confirms the number they saw);
4. the run's map becomes the table's (:meth:`Store.promote_bucket_map`).

A row changed during the run is read as its page finds it; the map is the aggregate of the run's start, so the
next run sees any later change.  A quarantined row stays quarantined: its bucket is in the map as the source has
it, so the next run does not read it again until it changes.

**SQLite sources** have no MD5: the bucket and the digest are computed by Python functions registered on the
connection we open (``create_function`` / ``create_aggregate``: MD5 of the values' ``repr``, :func:`_md5`), so
a SQLite source pays a Python call for every row of the aggregate and of each page's scan.

Safety: a row that moves to another bucket (its key's text changed, a new Python writing a SQLite value
otherwise) changes both buckets' counts and digests, so both are read.  The digests catch accidental changes;
a source that hid changes on purpose (MD5 sums can be made to collide) is caught by
:func:`~govshare.exchange.engine.copy.reconcile` (SHA-256 over a full read).

Limits: the aggregate is one statement and must finish within the source's statement timeout (200 000 rows
on a busy 2-core machine: PostgreSQL ≈ 0.8 s, MariaDB ≈ 1.1 s, SQLite ≈ 0.9 s — about 4, 6 and 5 µs a row).
With ``k`` changed rows scattered over a table a run reads about ``k`` buckets of up to :data:`BUCKET_ROWS` rows
(200 000 rows, 2 000 changed: 25 095 read), and everything once ``k`` nears ``B``: compare mode is for tables that
change little (watermark mode is for the others).  Keys that become equal on conversion (``'7'`` and ``'07'``
into an integer) are caught only when both are read by the same run.  A live row of the centre without
``_bucket`` (written by another mode and not read since by a compare run) is deleted only by a full pass.  One
run per table at a time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from govshare.datastore.engine.store import BatchReceipt, BucketMap, Store, combine
from govshare.exchange.engine import sources
from govshare.exchange.engine.copy import (
    CopyPlan,
    CopyResult,
    Deletions,
    NotUtf8,
    _check,
    _convert_page,
    _fetch,
    _key_items,
    _key_text,
    _limit,
    _Reader,
    _result,
    convert,
    decode_key,
    encode_key,
    guard_holds,
    phase_of,
)

#: bits of the fine bucket the source computes (65 536 fine buckets)
FINE_BITS = 16
MIN_BUCKETS = 16
MAX_BUCKETS = 1 << FINE_BITS
#: the rows a bucket of the map holds, about: ``B`` is the power of two that gives at most this many
BUCKET_ROWS = 16
#: a table whose rows call for ``B`` this many times larger or smaller gets the new ``B``
RESCALE = 8
#: the bucket of the rows whose key has an empty part
EMPTY_KEY = -1
#: changes when digests or buckets are computed otherwise (a map of another version is not used)
DIGEST_VERSION = 1
_MODULUS = 1 << 64


@dataclass
class CompareResult:
    """A compare run.  ``copy``: its totals (phase ``rows``: ``rows_read`` counts the rows of the buckets read;
    ``deleted``: rows tombstoned); ``deletions``: the rows of those buckets the source no longer has and what the
    mass-delete guard did with them; ``buckets``: the table map's ``B`` from now on; ``compared``: the ``B`` at which
    the old and the new map were compared (0: a full pass — no usable map, every row read); ``buckets_read``: the
    buckets (at ``compared``) whose rows were read; ``source_rows``: the source's rows when the run began (empty
    keys included); ``aggregate_seconds``: the source's aggregate (0 when the run's map was kept already);
    ``complete``: the run is done and its map is the table's (False: stopped, or held by the guard)."""

    copy: CopyResult
    deletions: Deletions
    buckets: int
    compared: int
    buckets_read: int
    source_rows: int
    aggregate_seconds: float
    complete: bool

    @property
    def full_pass(self) -> bool:
        return self.compared == 0


# -- the source's statements -------------------------------------------------------------------------------

def _bucket_sql(kind: str, keys: list[str], hexed: bool = False) -> str:
    """The fine bucket of a row's key, computed by the source (``keys``: quoted key columns; ``hexed``: a SQLite
    source's TEXT passed as hex, :func:`_passed`)."""
    if kind == "sqlite":
        return f"gs_bucket_hex({', '.join(_passed(k) for k in keys)})" if hexed else f"gs_bucket({', '.join(keys)})"
    if kind == "mysql":
        text = keys[0] if len(keys) == 1 else f"JSON_ARRAY({', '.join(keys)})"
        return f"CAST(CONV(SUBSTRING(MD5({text}), 1, {FINE_BITS // 4}), 16, 10) AS UNSIGNED)"
    text = f"{keys[0]}::text" if len(keys) == 1 else f"ROW({', '.join(keys)})::text"
    return f"('x' || substr(md5({text}), 1, {FINE_BITS // 4}))::bit({FINE_BITS})::int"


def _digest_sql(kind: str, columns: list[str]) -> str:
    """A row's digest (a 64-bit int) computed by the source (``columns``: quoted columns)."""
    if kind == "mysql":
        return f"CAST(CONV(SUBSTRING(MD5(JSON_ARRAY({', '.join(columns)})), 1, 16), 16, 10) AS UNSIGNED)"
    return f"('x' || substr(md5(ROW({', '.join(columns)})::text), 1, 16))::bit(64)::bigint"


def _aggregate_sql(reader: _Reader, plan: CopyPlan, hexed: bool = False) -> str:
    columns = [reader.quote(c) for c in plan.columns]
    keys = [reader.quote(k) for k in plan.key]
    if reader.kind == "sqlite":
        if hexed:
            return f"SELECT gs_map_hex({', '.join(_passed(c) for c in columns)}) FROM {reader.table}"  # noqa: S608
        return f"SELECT gs_map({', '.join(columns)}) FROM {reader.table}"  # noqa: S608 — quoted names
    empty = " OR ".join(f"{k} IS NULL" for k in keys)
    return (f"SELECT CASE WHEN {empty} THEN NULL ELSE {_bucket_sql(reader.kind, keys)} END, "  # noqa: S608
            f"count(*), sum({_digest_sql(reader.kind, columns)}) FROM {reader.table} GROUP BY 1")


def _md5(values: tuple[Any, ...]) -> bytes:
    """The MD5 of the values' ``repr`` (SQLite gives int, float, str, bytes or None: ``1``, ``1.0``, ``'1'``,
    ``b'1'`` and ``None`` all differ, a float is written exactly).  A new Python that writes some character
    otherwise only moves rows between buckets — both buckets then differ, both are read: nothing is missed."""
    return hashlib.md5(repr(values).encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()


def _passed(column: str) -> str:
    """A SQLite source's column as our ``…_hex`` functions take it: TEXT as ``T`` and its bytes in hex, anything
    else as it is.  SQLite's module hands a function its TEXT arguments decoded as UTF-8 and fails the whole
    statement on one that is not (a file written by a GBK program): :func:`_taken` decodes them, such a value then
    as :class:`~govshare.exchange.engine.copy.NotUtf8` bytes (its row is read and quarantined).  The same maps and
    buckets as the plain functions for every other value, at about twice their cost: used only after a plain
    statement failed so (:func:`_text_failure`)."""
    return f"CASE WHEN typeof({column}) = 'text' THEN 'T' || hex({column}) ELSE {column} END"


def _taken(value: Any) -> Any:
    if isinstance(value, str):
        raw = bytes.fromhex(value[1:])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return NotUtf8(raw)
    return value


def _text_failure(exc: BaseException) -> bool:
    """Whether a SQLite statement calling our functions failed on a TEXT argument that is not UTF-8 (the sqlite3
    module says so in several forms)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UnicodeDecodeError) or (
                isinstance(seen, sqlite3.OperationalError) and "user-defined" in str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _sqlite_functions(conn: Any, key_at: list[int]) -> None:
    """``gs_bucket(k1, …)`` and the aggregate ``gs_map(c1, …)`` (JSON: fine bucket → [rows, digest sum]) on our
    connection to a SQLite source: one Python call per row; ``gs_bucket_hex`` and ``gs_map_hex`` the same of the
    values passed by :func:`_passed`."""
    def bucket(*key: Any) -> int | None:
        if any(part is None for part in key):
            return None
        return int.from_bytes(_md5(key)[:FINE_BITS // 8], "big")

    class Map:
        def __init__(self) -> None:
            self.found: dict[int, list[int]] = {}

        def step(self, *values: Any) -> None:
            key = tuple(values[i] for i in key_at)
            fine = EMPTY_KEY if any(part is None for part in key) else \
                int.from_bytes(_md5(key)[:FINE_BITS // 8], "big")
            entry = self.found.setdefault(fine, [0, 0])
            entry[0] += 1
            entry[1] = (entry[1] + int.from_bytes(_md5(values)[:8], "big")) % _MODULUS

        def finalize(self) -> str:
            return json.dumps(self.found)

    class HexMap(Map):
        def step(self, *values: Any) -> None:
            super().step(*(_taken(value) for value in values))

    conn.create_function("gs_bucket", len(key_at), bucket, deterministic=True)
    conn.create_aggregate("gs_map", -1, Map)
    conn.create_function("gs_bucket_hex", len(key_at), lambda *key: bucket(*(_taken(part) for part in key)),
                         deterministic=True)
    conn.create_aggregate("gs_map_hex", -1, HexMap)


def _aggregate(conn: Any, sql: str, kind: str) -> dict[int, tuple[int, int]]:
    """The source's fine map: fine bucket (or :data:`EMPTY_KEY`) → (rows, digest sum modulo 2**64)."""
    rows = _fetch(conn, sql, ())
    if kind == "sqlite":
        text = rows[0][0] if rows and rows[0][0] is not None else "{}"
        return {int(bucket): (int(n), int(d)) for bucket, (n, d) in json.loads(text).items()}
    return {EMPTY_KEY if bucket is None else int(bucket): (int(n), int(total or 0) % _MODULUS)
            for bucket, n, total in rows}


def _signature(plan: CopyPlan, sql: str) -> str:
    """What a map was computed over: the statement, the items and the value rules (rows quarantined under other
    rules are read again)."""
    rules = {} if plan.rules is None else {str(index): [rule.as_data() for rule in rules]
                                           for index, rules in plan.rules.rules.items()}
    text = json.dumps([DIGEST_VERSION, plan.source.kind, sql, [[i.name, i.letter, i.length] for i in plan.items],
                       rules], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# -- maps --------------------------------------------------------------------------------------------------

def _bits(count: int) -> int:
    return count.bit_length() - 1


def _buckets_for(rows: int) -> int:
    """``B`` for a table of ``rows`` rows: the power of two that gives at most :data:`BUCKET_ROWS` rows a bucket,
    from :data:`MIN_BUCKETS` to :data:`MAX_BUCKETS`."""
    count = MIN_BUCKETS
    while count < MAX_BUCKETS and count * BUCKET_ROWS < rows:
        count *= 2
    return count


def _coarse(counts: dict[int, tuple[int, int]], shift: int) -> dict[int, tuple[int, int]]:
    """A map's buckets merged ``2**shift`` at a time (the empty-key bucket stays)."""
    merged: dict[int, list[int]] = {}
    for bucket, (n, digest) in counts.items():
        entry = merged.setdefault(bucket if bucket == EMPTY_KEY else bucket >> shift, [0, 0])
        entry[0] += n
        entry[1] = (entry[1] + digest) % _MODULUS
    return {bucket: (n, digest) for bucket, (n, digest) in merged.items() if n}


def _normal(counts: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
    return {bucket: (n, digest % _MODULUS) for bucket, (n, digest) in counts.items() if n}


@dataclass(frozen=True)
class _Scope:
    """What the run reads: every row (``compared`` 0), or the rows whose fine bucket ``>> shift`` is one of
    ``read`` (``compared``: the ``B`` of those buckets).  ``empty``: the empty-key rows to report (0: unchanged)."""

    compared: int
    shift: int
    read: tuple[int, ...]
    empty: int

    @property
    def everything(self) -> bool:
        return self.compared == 0

    def sql(self, bucket: str) -> str:
        if self.everything:
            return ""
        if not self.read:
            return " AND 1 = 0"
        return f" AND ({bucket} >> {self.shift}) IN ({', '.join(map(str, self.read))})"

    def store_filter(self) -> dict[str, Any]:
        """:meth:`Store.count_unseen`'s and :meth:`Store.unseen`'s restriction to the scope."""
        return {} if self.everything else {"buckets": self.read, "shift": self.shift}


def _scope(old: BucketMap | None, new: BucketMap) -> _Scope:
    """The buckets whose rows the run reads: those where the run's map differs from the table's, compared at the
    smaller ``B`` of the two; all of them when the table has no map made the same way."""
    empty = new.counts.get(EMPTY_KEY, (0, 0))[0]
    if old is None or old.signature != new.signature:
        return _Scope(0, 0, (), empty)
    compared = min(old.buckets, new.buckets)
    before = _coarse(_normal(old.counts), _bits(old.buckets) - _bits(compared))
    after = _coarse(_normal(new.counts), _bits(new.buckets) - _bits(compared))
    differing = sorted(b for b in set(before) | set(after) if before.get(b) != after.get(b))
    read = tuple(b for b in differing if b != EMPTY_KEY)
    return _Scope(compared, FINE_BITS - _bits(compared), read, empty if EMPTY_KEY in differing else 0)


def _new_map(fine: dict[int, tuple[int, int]], old: BucketMap | None, signature: str) -> BucketMap:
    rows = sum(n for bucket, (n, _) in fine.items() if bucket != EMPTY_KEY)
    ideal = _buckets_for(rows)
    count = ideal
    if old is not None and old.signature == signature and ideal < old.buckets * RESCALE \
            and ideal * RESCALE > old.buckets:
        count = old.buckets
    return BucketMap(count, signature, _coarse(fine, FINE_BITS - _bits(count)))


# -- the run -----------------------------------------------------------------------------------------------

def compare_copy(plan: CopyPlan, store: Store, *, run_id: str, guard_share: float, confirmed: int | None = None,
                 on_batch: Callable[[BatchReceipt], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> CompareResult:
    """Bring ``plan.target`` up to date with the source table by comparing hash buckets (see the module): the
    rows of the buckets that changed since the table's last complete compare run are read and applied, the rows
    of those buckets the source no longer has are tombstoned, and the run's bucket map becomes the table's.

    Resumable at any moment under the same ``run_id`` (a worker killed, ``should_stop`` — checked before each
    page and each batch of deletions — a source gone): nothing is read from the source again except the pages
    after the last committed batch, nothing is applied twice; a run that is done returns its result again.
    **Mass-delete guard**: as :func:`~govshare.exchange.engine.copy.delete_unseen` — when the rows to delete are
    more than ``guard_share`` of the table's live rows, nothing is deleted, the result's ``deletions.held`` is
    True and ``complete`` False, until the run is called again with ``confirmed`` = the number the person saw
    (then no more than that are deleted).  ``on_batch`` is called with each committed receipt.  Errors:
    :class:`SourceError`, :class:`StoreError`, :class:`~govshare.exchange.engine.copy.BatchRefused` (the
    committed batches stay); ``ValueError`` for a plan that cannot be right or a run id of another mode."""
    if not 0 < guard_share <= 1:
        raise ValueError("guard_share: more than 0, at most 1")
    started = time.monotonic()
    key_at = _check(plan)
    store.ensure_table(plan.target, plan.items, [plan.items[i].name for i in key_at])
    batch = resumed = store.last_batch(plan.target, run_id)
    position = store.position(plan.target, run_id) if batch else None
    phase = phase_of(position)
    if phase not in ("", "rows", "deletes"):
        raise ValueError(f"run {run_id} is not a compare run (its last batch is in phase {phase})")
    receipts = store.receipts(plan.target, run_id, batch=1) if batch else []
    first = receipts[0].position if receipts else {}
    if batch and "compared" not in first:
        raise ValueError(f"run {run_id} is not a compare run")
    run_map = store.bucket_map(plan.target, run_id)
    if run_map is None and phase == "deletes" and position and position.get("done"):  # done, map promoted
        live = store.live_rows(plan.target)
        deleted = sum(r.deleted for r in store.receipts(plan.target, run_id))
        return CompareResult(_result(store, plan, run_id, resumed, started, True),
                             Deletions(deleted, live + deleted, deleted, False), int(first["buckets"]),
                             int(first["compared"]), int(first["read"]), int(first["source_rows"]), 0.0, True)
    if run_map is None and batch:
        raise ValueError(f"run {run_id} has batches but no bucket map")
    table_map = store.bucket_map(plan.target)
    reader = _Reader(plan)
    aggregate_seconds = 0.0
    rows_done = phase == "deletes" or bool(position and position.get("done"))
    if run_map is None or not rows_done:
        with sources.connect(plan.source) as conn:
            if plan.source.kind == "sqlite":
                _sqlite_functions(conn, key_at)
            hexed = False  # a SQLite source's text that is not UTF-8: our functions take it as hex (_passed)
            if run_map is None:
                sql = _aggregate_sql(reader, plan)
                clock = time.monotonic()
                try:
                    fine = _aggregate(conn, sql, plan.source.kind)
                except Exception as exc:
                    if plan.source.kind != "sqlite" or not _text_failure(exc):
                        raise
                    hexed = True
                    fine = _aggregate(conn, _aggregate_sql(reader, plan, hexed=True), plan.source.kind)
                aggregate_seconds = round(time.monotonic() - clock, 3)
                # (the signature of the plain statement: the hexed one makes the same map)
                run_map = store.keep_bucket_map(plan.target, run_id,
                                                _new_map(fine, table_map, _signature(plan, sql)))
            scope = _scope(table_map, run_map)
            summary = {"buckets": run_map.buckets, "compared": scope.compared,
                       "read": scope.compared if scope.everything else len(scope.read),
                       "source_rows": sum(n for n, _ in run_map.counts.values())}
            try:
                rows_done = _read_rows(conn, plan, store, key_at, reader, scope, run_id, batch, position, summary,
                                       on_batch, should_stop, hexed=hexed)
            except Exception as exc:
                if hexed or plan.source.kind != "sqlite" or not _text_failure(exc):
                    raise
                # again from the last committed batch (the plain pages' buckets are the hexed ones)
                batch = store.last_batch(plan.target, run_id)
                position = store.position(plan.target, run_id) if batch else None
                rows_done = _read_rows(conn, plan, store, key_at, _Reader(plan), scope, run_id, batch, position,
                                       summary, on_batch, should_stop, hexed=True)
    scope = _scope(table_map, run_map)
    if not rows_done:
        deletions, done = Deletions(0, 0, 0, False), False
    else:
        deletions, done = _delete_unseen(plan, store, run_id, guard_share, confirmed, scope, on_batch,
                                         should_stop)
    if done:
        store.promote_bucket_map(plan.target, run_id)
    return CompareResult(_result(store, plan, run_id, resumed, started, rows_done), deletions, run_map.buckets,
                         scope.compared, scope.compared if scope.everything else len(scope.read),
                         sum(n for n, _ in run_map.counts.values()), aggregate_seconds, done)


def _read_rows(conn: Any, plan: CopyPlan, store: Store, key_at: list[int], reader: _Reader, scope: _Scope,
               run_id: str, batch: int, position: dict[str, Any] | None, summary: dict[str, int],
               on_batch: Callable[[BatchReceipt], None] | None, should_stop: Callable[[], bool] | None, *,
               hexed: bool = False) -> bool:
    """Phase ``rows``: the rows of the scope's buckets, in keyset pages, each page one committed batch (its rows
    with their buckets, its receipt, its position — with the run's ``summary``).  False: stopped."""
    bucket = _bucket_sql(reader.kind, reader.keys, hexed)
    within = scope.sql(bucket)
    columns = ", ".join(reader.quote(c) for c in plan.columns)
    not_null = " AND ".join(f"{k} IS NOT NULL" for k in reader.keys)
    reader.select = f"SELECT {columns}, {bucket} FROM {reader.table} WHERE {not_null}{within}"  # noqa: S608
    reader.count_key += within
    key_items = _key_items(plan, key_at)
    after = decode_key(position["after"]) if position and position.get("after") is not None else None
    while True:
        if should_stop is not None and should_stop():
            return False
        raw_rows = [] if scope.read == () and not scope.everything else _fetch(conn, *reader.page(after))
        rows, hashes, rejects, rejected_keys = _convert_page(plan, key_at, raw_rows)  # the bucket: not an item
        buckets = _buckets_of(plan, key_at, raw_rows, rows)
        rows_read = len(raw_rows)
        full = len(raw_rows) == plan.batch_rows
        last = tuple(raw_rows[-1][i] for i in key_at) if raw_rows else after
        if full and last is not None and not plan.key_unique:  # rows of this bucket beyond the page with its last key
            (same,) = _fetch(conn, reader.count_key, last)[0]
            surplus = int(same) - sum(1 for raw in raw_rows if tuple(raw[i] for i in key_at) == last)
            if surplus > 0:
                rows_read += surplus
                rejects.append((_key_text(last), key_items,
                                f"duplicate_key: {surplus} more rows with this key (the key is not unique)"))
        if not full and scope.empty:
            rows_read += scope.empty
            rejects.append(("", key_items, f"empty_key: {scope.empty} rows without a value in the key"))
        batch += 1
        _limit(plan, batch, rows_read, len(rows), rejects)
        sent = {"phase": "rows", "after": None if last is None else encode_key(last), "done": not full,
                **summary}
        receipt = store.apply(plan.target, rows, run_id=run_id, batch=batch, position=sent, rows_read=rows_read,
                              read_hash=combine(hashes), rejects=rejects,
                              seen=rejected_keys, buckets=buckets, hashes=hashes)
        if receipt.position != sent:  # another worker of this run committed this batch first: go on from there
            if receipt.position.get("done") or phase_of(receipt.position) != "rows":
                return True
            stored = receipt.position.get("after")
            after = decode_key(stored) if stored is not None else None
            continue
        if on_batch is not None:
            on_batch(receipt)
        if not full:
            return True
        after = last


def _buckets_of(plan: CopyPlan, key_at: list[int], raw_rows: list[tuple[Any, ...]],
                accepted: list[list[Any]]) -> list[int]:
    """The fine bucket (the raw row's last value) of each accepted row, found by its key as converted.  Keys
    are unique among the accepted rows; when several raw rows of the page convert to the same key (``'7'`` and
    ``'07'``), the accepted one is the first whose values convert to the accepted values, as
    :func:`~govshare.exchange.engine.copy._convert_page` takes them."""
    key_items = [plan.items[i] for i in key_at]
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for index, raw in enumerate(raw_rows):
        try:
            key = tuple(convert(raw[i], item) for i, item in zip(key_at, key_items, strict=True))
        except ValueError:
            continue
        by_key.setdefault(key, []).append(index)
    found: list[int] = []
    for values in accepted:
        candidates = by_key[tuple(values[i] for i in key_at)]
        if len(candidates) > 1:
            candidates = [index for index in candidates if _converts_to(plan, raw_rows[index], values)]
        found.append(int(raw_rows[candidates[0]][-1]))
    return found


def _converts_to(plan: CopyPlan, raw: tuple[Any, ...], values: list[Any]) -> bool:
    try:
        return [convert(value, item) for item, value in zip(plan.items, raw, strict=False)] == values
    except ValueError:
        return False


def _delete_unseen(plan: CopyPlan, store: Store, run_id: str, guard_share: float, confirmed: int | None,
                   scope: _Scope, on_batch: Callable[[BatchReceipt], None] | None,
                   should_stop: Callable[[], bool] | None) -> tuple[Deletions, bool]:
    """Phase ``deletes``: :func:`~govshare.exchange.engine.copy.delete_unseen` within the scope's buckets (the
    same guard, the same batches and receipts).  Also returns whether the phase is done."""
    within = scope.store_filter()
    batch = store.last_batch(plan.target, run_id)
    position = store.position(plan.target, run_id) if batch else None
    pending, live = store.count_unseen(plan.target, run_id, **within)
    begun = phase_of(position) == "deletes"
    deleted = sum(r.deleted for r in store.receipts(plan.target, run_id)) if begun else 0
    if begun and position and position.get("done"):
        return Deletions(pending + deleted, live + deleted, deleted, False), True
    if not begun and guard_holds(pending, live, guard_share, confirmed):
        return Deletions(pending, live, 0, True), False
    total, live_before = pending + deleted, live + deleted
    while True:
        if should_stop is not None and should_stop():
            return Deletions(total, live_before, deleted, False), False
        keys = store.unseen(plan.target, run_id, plan.batch_rows, **within)
        batch += 1
        sent = {"phase": "deletes", "done": len(keys) < plan.batch_rows}
        receipt = store.tombstone(plan.target, keys, run_id=run_id, batch=batch, position=sent)
        deleted += receipt.deleted
        if on_batch is not None and receipt.position == sent:
            on_batch(receipt)
        if receipt.position.get("done"):
            return Deletions(total, live_before, deleted, False), True

