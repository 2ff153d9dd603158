"""Watermark mode's key check by key ranges (EXC-1, EXC-7; issue 10 items 5 and 7) — Django-free.

The scheduled key check of an incremental run must find the rows the source no longer has (and the rows its
update-time reads missed).  Listing every key of the source costs a key per key: at 10 M rows ~50 s through
the binary COPY relay and the key list (docs/benchmarks.md).  For a PostgreSQL source into a PostgreSQL centre,
with one integer key, this check asks both servers for a *digest per key range* instead — each range some
:data:`PER_RANGE` keys wide, its digest the count of keys and the sum of ``hashint8`` of each, one hash
aggregate on each side — and lists keys only within the ranges whose digests differ, in a later snapshot of the
source (after the run's changed rows are copied: :func:`begin` starts the digests before the copy, so that the
servers compute them while it writes):

* keys the source has and the centre has not (live): rows the incremental reads missed, read again by key and
  applied (as :func:`copy.key_scan` does);
* the centre's live rows within those ranges that the source did not list: the rows the source no longer has.
  The store records the ranges with the run (:meth:`Store.remember_ranges`), so that :func:`copy.delete_unseen`
  — its mass-delete guard and its resumable tombstone batches — sees exactly those rows as unseen.

Ranges whose digests agree hold the same keys on both sides (two different key sets with the same count and
the same sum of 32-bit hashes: not a case a real table meets; the next check, whose ranges fall otherwise as
the table changes, looks again).  Within a differing range the comparison is exact as of the listing's snapshot:
a row is tombstoned only when the source did not have its key then, read again only when the centre lacks it.
A change at the source after the digests, in a range whose digests agreed, waits for the next check.  When more
than :data:`MOST_DIFFERING` of the ranges differ (a source emptied, the hash functions of two servers that
disagree), listing their keys would cost about as much as listing every key: :func:`range_key_check` returns
None and the caller lists every key instead.

The check is one batch (phase ``keys``): the rows restored and the keys listed, each committed with its
receipt; a crash before the second commit does it again (the restored rows are then unchanged).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from govshare.datastore.engine.store import BatchReceipt, Store, StoreError
from govshare.exchange.engine import sources
from govshare.exchange.engine.copy import (
    CopyPlan,
    CopyResult,
    _check,
    _elsewhere,
    _keys_resume,
    _Reader,
    _restore,
    _result,
    key_scan,
)
from govshare.exchange.engine.fastcopy import (
    _pipe,
    fast_key_scan,
    keys_eligible,
    source_types,
)

#: keys a range holds on average: at 10 M rows 625 000 ranges (one hash aggregate of that many groups takes
#: ~1.6 s on either server, measured); 10 000 scattered deletions then make ~10 000 ranges differ, ~160 000 keys
PER_RANGE = 16
#: beyond this share of differing ranges, listing every key costs about as much as listing the differing ranges'
#: keys after two aggregates (one deletion in 50 rows, spread evenly, makes a quarter of the ranges differ)
MOST_DIFFERING = 0.5
_BIGINT = 2**63 - 1


def eligible(plan: CopyPlan, store: Store, source_types: Mapping[str, str]) -> str | None:
    """None when :func:`range_key_check` can check this plan's keys; else why not."""
    reason = keys_eligible(plan, store, source_types)  # PostgreSQL both sides, key columns of types it reads
    if reason is not None:
        return reason
    key_at = _check(plan)
    if len(key_at) != 1:
        return "the key has more than one item"
    item = plan.items[key_at[0]]
    if item.letter != "I":  # an I item's column is one of the integers (fastcopy.KEY_ALLOWED)
        return f"key item {item.name!r} is not an integer (I)"
    return None


def floor(key: str) -> str:
    """SQL: the range of the bigint ``key`` — shifted right by the width's power of two (a parameter): the floor
    of key ÷ width, negative keys too."""
    return f"({key} >> %s)"


def bounds(r: int, width: int) -> tuple[int, int]:
    """The inclusive keys of range ``r`` (:func:`floor`), within a bigint's."""
    return max(r * width, -_BIGINT - 1), min(r * width + width - 1, _BIGINT)


class CannotHash(Exception):
    """The source has no ``hashint8(bigint)`` (a server that speaks PostgreSQL's protocol without being it)."""


class Digests:
    """The two servers' digests of the key ranges, being computed: the source's on a session of its own, the
    centre's — and then their comparison — on a connection of its own (the store's :meth:`Store.twin`; the store's
    own connection, later, when it cannot open one), each on a thread.  Made by :func:`begin`; a context manager:
    leaving it with an error cancels what still runs and reports the source's driver errors as
    :class:`SourceError` (the source session's own rule)."""

    def __init__(self, plan: CopyPlan, store: Store) -> None:
        self._stack = contextlib.ExitStack()
        self._twin: Store | None = None
        try:
            self._start(plan, store)
        except BaseException as exc:
            if not self._stack.__exit__(type(exc), exc, exc.__traceback__):
                raise

    def _start(self, plan: CopyPlan, store: Store) -> None:
        self.plan, self.width = plan, store.key_width(plan.target, PER_RANGE)
        self.reader = _Reader(plan, columns=plan.key)
        self.conn = self._stack.enter_context(sources.connect(plan.source))
        try:  # run, not looked up: a function the account may not execute is as good as none
            self.conn.execute("SELECT hashint8(0::bigint)")
        except (psycopg.Error, sources.SourceError) as exc:
            raise CannotHash(str(exc)[:200]) from None
        # the session is this check's own: a hash aggregate of up to a million groups in memory
        self.conn.execute("SET work_mem = '256MB'")
        try:
            self._twin = store.twin()
        except StoreError:  # the centre takes no more connections now: compared later on the store's own
            self._twin = None
        self.centre = self._twin if self._twin is not None else store
        if self._twin is not None:
            self._stack.callback(self._twin.close)  # after the threads have ended (callbacks run last first)
        self._pool = concurrent.futures.ThreadPoolExecutor(2)
        self._stack.callback(self._pool.shutdown)
        key = self.reader.keys[0]
        # the source's digests, packed by the thousand ranges (a row each, not a million rows through Python)
        digests = (f"COPY (SELECT array_agg(r), array_agg(n), array_agg(h) FROM (SELECT "  # noqa: S608
                   f"{floor(key + '::bigint')} AS r, count(*)::bigint AS n, sum(hashint8({key}::bigint))::bigint "
                   f"AS h FROM {self.reader.table} WHERE {key} IS NOT NULL GROUP BY 1) d GROUP BY r >> 10) "
                   "TO STDOUT (FORMAT BINARY)")
        shift = self.width.bit_length() - 1

        def read_source() -> list[bytes]:
            with self.conn.cursor() as cursor, cursor.copy(digests, (shift,)) as copy:
                return [bytes(chunk) for chunk in copy]

        self._source = self._pool.submit(read_source)
        self._compared: concurrent.futures.Future[tuple[list[int], int, int]] | None = None
        if self._twin is not None:  # the centre's digests, then the comparison: all while the rows are copied
            self._compared = self._pool.submit(self._compare)

    def _compare(self) -> tuple[list[int], int, int]:
        try:
            centre_ranges = self.centre.range_digests(self.plan.target, width=self.width)
        except BaseException:
            with contextlib.suppress(Exception):  # the centre's error is the one to tell
                self._source.result()
            raise
        chunks = self._source.result()  # the source's error, when it failed, is raised here
        differing, counted, source_ranges = self.centre.differing_ranges(self.plan.target, chunks)
        return differing, counted, max(source_ranges, centre_ranges)

    def differing(self) -> tuple[list[int], int, int]:
        """Wait for both digests and their comparison; (the differing ranges' numbers, in order; the source's keys;
        the ranges either side has)."""
        return self._compare() if self._compared is None else self._compared.result()

    def _running(self) -> bool:
        futures = [getattr(self, "_source", None), getattr(self, "_compared", None)]
        return any(future is not None and not future.done() for future in futures)

    def _cancel(self) -> None:
        """Stop the statements still running on the threads (the copy failed, the check ended without them)."""
        for conn in (getattr(self, "conn", None), getattr(self._twin, "_conn", None)):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.cancel_safe(timeout=5)  # libpq's own cancel, with a deadline (an unreachable host)

    def close(self) -> None:
        self.__exit__(None, None, None)

    def __enter__(self) -> Digests:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, trace: Any) -> bool:
        if kind is not None or self._running():
            self._cancel()
        return bool(self._stack.__exit__(kind, exc, trace))


def begin(plan: CopyPlan, store: Store, *, run_id: str, log: Callable[[str], None] | None = None) -> Digests | None:
    """Start the two digests of :func:`range_key_check` for an :func:`eligible` plan — before the run's changed
    rows are copied, so that the servers compute them while the copy writes.  The keys of the differing ranges
    are listed after the copy, in a later snapshot of the source: a range whose digests agreed before the copy
    and changed since waits for the next check; nothing is tombstoned that the source has when the keys are
    listed.  None when the check of this run is done or begun already, or the source cannot hash keys as
    PostgreSQL does."""
    done, _batch, after, _mark = _keys_resume(plan, store, run_id)
    if done or after is not None:
        return None
    try:
        return Digests(plan, store)
    except CannotHash as exc:
        (log or (lambda _message: None))(f"key check by ranges: not here — {exc}")
        return None


def range_key_check(plan: CopyPlan, store: Store, *, run_id: str,
                    on_batch: Callable[[BatchReceipt], None] | None = None,
                    log: Callable[[str], None] | None = None, digests: Digests | None = None) -> CopyResult | None:
    """The key check of an incremental run by key ranges (module doc), for an :func:`eligible` plan; resumable
    like :func:`copy.key_scan` (a check already done returns its result).  ``digests``: begun earlier
    (:func:`begin`, the caller closes them); else begun here.  None — nothing committed — when the check is better
    done by listing every key: too many ranges differ, or a key scan of this run had begun (or another worker's
    goes on)."""
    started = time.monotonic()
    _check(plan)
    done, batch, after, mark = _keys_resume(plan, store, run_id)
    resumed = batch
    if done:
        return _result(store, plan, run_id, resumed, started, True)
    if after is not None:  # a key scan of this run listed pages already: it goes on
        return None
    note = log or (lambda _message: None)
    with contextlib.ExitStack() as stack:
        if digests is None:
            digests = begin(plan, store, run_id=run_id, log=note)
            if digests is None:
                return None
            stack.enter_context(digests)
        width, reader = digests.width, digests.reader
        key = reader.keys[0]
        differing, counted, compared = digests.differing()
        digests.close()  # their sessions are done with: the listing has one of its own
        if differing and len(differing) > MOST_DIFFERING * max(compared, 1):
            note(f"key check by ranges: {len(differing)} of {compared} ranges differ — every key listed instead")
            return None
        ranges = [bounds(r, width) for r in differing]
        # the source's keys of those ranges as they are now (a session of its own: after the rows were copied), by
        # binary COPY into the centre: each range read from the key's index (without a plain one: one pass, the
        # ranges in a hash); the rows the centre lacks read again in the same session
        with sources.connect(plan.source) as now:
            if _indexed(now, plan):
                listing = (f"SELECT t.{key}::bigint FROM unnest(%s::bigint[], %s::bigint[]) AS r (lo, hi) "  # noqa: S608
                           f"JOIN {reader.table} t ON t.{key} BETWEEN r.lo AND r.hi")
                params: tuple[Any, ...] = ([lo for lo, _ in ranges], [hi for _, hi in ranges])
            else:
                listing = (f"SELECT {key}::bigint FROM {reader.table} "  # noqa: S608
                           f"WHERE {floor(key + '::bigint')} = ANY(%s::bigint[])")
                params = (width.bit_length() - 1, differing)

            def fill(centre: Any, scratch: str) -> int:
                if not ranges:
                    return 0
                # a failure of the source's side leaves as the source's SourceError (fastcopy._pipe)
                return _pipe(now, f"COPY ({listing}) TO STDOUT (FORMAT BINARY)", params, centre,
                             f"COPY {scratch} (k) FROM STDIN (FORMAT BINARY)")

            missing, listed = store.stage_range_keys(plan.target, fill)
            absent = [(k,) for k in missing]
            note(f"key check by ranges: {len(differing)} of {compared} ranges of {width} keys differ, "
                 f"{listed} keys listed of {counted}, {len(absent)} rows to read again")
            if absent:
                batch += 1
                receipt, restore = _restore(plan, store, now, absent, run_id=run_id, batch=batch, after=None,
                                            mark=mark, tag={"ranges": True})
                taken = _elsewhere(receipt, restore, "keys")
                if taken is not None:  # another worker committed this batch first: its check goes on, or is done
                    return _result(store, plan, run_id, resumed, started, True) if taken[0] else None
                if on_batch is not None:
                    on_batch(receipt)
    batch += 1
    sent = {"phase": "keys", "after": None, "done": True, "mark": mark,
            "ranges": {"width": width, "differing": len(differing)}}
    receipt = store.remember_ranges(plan.target, ranges=ranges, width=width, run_id=run_id, batch=batch,
                                    position=sent, rows_read=max(counted, listed))
    taken = _elsewhere(receipt, sent, "keys")
    if taken is not None:
        return _result(store, plan, run_id, resumed, started, True) if taken[0] else None
    if on_batch is not None:
        on_batch(receipt)
    return _result(store, plan, run_id, resumed, started, True)


def _indexed(conn: Any, plan: CopyPlan) -> bool:
    """Whether a plain (B-tree, valid, not partial) index of the source table starts with the key column — a view, a
    chosen key, a hash or partial index: not, and the listing takes one pass over the table instead."""
    (found,) = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_catalog.pg_am am ON am.oid = c.relam JOIN pg_catalog.pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE i.indrelid = to_regclass(format('%%I.%%I', coalesce(nullif(%s::text, ''), current_schema()), "
        "%s::text)) AND a.attname = %s AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL)",
        (plan.schema or "", plan.table, plan.key[0])).fetchone()
    return bool(found)


def incremental(fast_plan: CopyPlan, plan: CopyPlan, store: Store, *, run_id: str, since: list[list[Any]] | None,
                overlap_seconds: int, check_keys: bool, on_batch: Callable[[BatchReceipt], None] | None = None,
                log: Callable[[str], None] | None = None) -> tuple[CopyResult, CopyResult | None]:
    """An incremental run's reads by the fastest paths the pair allows: the changed rows
    (``fastcopy.incremental_copy``) and, when ``check_keys``, the key check (:func:`key_check`) — for a check by
    ranges its digests computed by both servers while the changed rows are copied (:func:`begin`).  Returns the
    two results (the second None without a check); the deletions are the caller's (``copy.delete_unseen``)."""
    from govshare.exchange.engine.fastcopy import incremental_copy

    store.ensure_table(plan.target, plan.items, [plan.items[i].name for i in _check(plan)])
    with contextlib.ExitStack() as stack:
        digests = None
        both = plan.source.kind == "postgresql" and store.kind == "postgresql"
        types = source_types(plan) if both else None  # read once, for every path's choice
        if check_keys and types is not None and eligible(plan, store, types) is None:
            digests = begin(plan, store, run_id=run_id, log=log)
            if digests is not None:
                stack.enter_context(digests)
        rows = incremental_copy(fast_plan, plan, store, run_id=run_id, since=since, overlap_seconds=overlap_seconds,
                                on_batch=on_batch, log=log, types=types)
        keys = key_check(fast_plan, plan, store, run_id=run_id, on_batch=on_batch, log=log, digests=digests,
                         types=types) if check_keys else None
    return rows, keys


def key_check(fast_plan: CopyPlan, plan: CopyPlan, store: Store, *, run_id: str,
              on_batch: Callable[[BatchReceipt], None] | None = None,
              log: Callable[[str], None] | None = None, digests: Digests | None = None,
              types: Mapping[str, str] | None = None) -> CopyResult:
    """Watermark mode's key check by the fastest path the pair allows, saying which through ``log``: PostgreSQL →
    PostgreSQL centre with one integer key by key ranges (:func:`range_key_check`); else PostgreSQL → PostgreSQL
    centre listing every key by binary COPY, converted in the centre's SQL (``fastcopy.fast_key_scan``, pages of
    ``fast_plan.batch_rows`` keys); every other pair by keyset pages of ``plan.batch_rows`` keys in Python
    (``copy.key_scan``).  A run resumed finds its check where it was, whichever path began it.  ``digests``: the
    check by ranges begun before the changed rows were copied (:func:`begin`); ``types``: the source's column
    types, when the caller read them already."""
    note = log or (lambda _message: None)
    if plan.source.kind == "postgresql" and store.kind == "postgresql":
        types = source_types(plan) if types is None else types
        why = "" if digests is not None else eligible(plan, store, types)
        if not why:
            checked = range_key_check(plan, store, run_id=run_id, on_batch=on_batch, log=note, digests=digests)
            if checked is not None:
                return checked
        else:
            note(f"key check: not by ranges ({why})")
        why = keys_eligible(plan, store, types)
        if why is None:
            note(f"key check: binary COPY of every key into the centre, {fast_plan.batch_rows} keys a page")
            return fast_key_scan(fast_plan, store, run_id=run_id, on_batch=on_batch)
        note(f"key check: keyset pages ({why})")
    return key_scan(plan, store, run_id=run_id, on_batch=on_batch)
