#!/usr/bin/env python3
"""Table exchange, incremental copies (issue 10): govshare's three incremental modes end to end, one run.

The issue's targets: "1 % of 10 M rows changed and 0.1 % deleted: applied end to end ≤ 10 s (watermark +
reconciliation) and ≤ 5 s (log mode); log mode lag p95 ≤ 2 s at 1 000 changes/s".

The script starts two throwaway PostgreSQL servers (``scripts/with_postgres.py``'s, fsync off): the source with
``wal_level=logical`` and ``synchronous_commit=on`` (log mode reads what is flushed), the centre.  The source table
is ``bench/exchange_copy.py``'s market-entity table (12 columns, bigint key, ``updated_at timestamp``, generated
server-side), plus an index on ``updated_at``.  Then:

1. a logical slot (``test_decoding``) is created at the source, *before* the initial copy, as log mode does;
2. the initial full copy into a PostgreSQL store on the centre, as the worker runs it (``fast_full_copy``, 50 000
   rows a batch; ``--initial keyset``: ``full_copy``, 5 000), ``plan.watermark = "updated_at"`` — timed, not a
   target; the centre database is then cloned (``CREATE DATABASE … TEMPLATE``) once per mode, so that each mode
   starts from the same state (each clone then ``ANALYZE``d, as autovacuum would have done on a centre that has
   run a while; ``--no-analyze``: not — see docs/benchmarks.md); compare mode's clone gets its first (full-pass) ``compare_copy`` run here, to
   build its bucket map — timed, not a target;
3. at the source, one ``UPDATE`` of ``--changed`` of the rows (``name`` marked, ``reg_capital`` + 1,
   ``updated_at = now()``) and one ``DELETE`` of ``--deleted`` of them (disjoint sets, picked by a hash of the id);
4. each mode, on its own clone, timed end to end (wall clock around the engine's calls, in this process):

   a. watermark: ``watermark_copy`` from the initial copy's watermark (overlap 300 s, the bindings' default) +
      the key check as a run takes it (``keyranges.key_check``: digests of key ranges on both servers, keys
      listed only where they differ; ``--keys fast``: ``fast_key_scan``, every key, 50 000 a page; ``--keys
      keyset``: ``key_scan``) + ``delete_unseen`` (guard 0.5), all under one run id — target ≤ 10 s;
   b. compare: ``compare_copy`` (guard 0.5) — for reference against the same 10 s;
   c. log: ``log_copy`` draining the slot — target ≤ 5 s;

   after each, the centre is checked against the source: live rows, the rows carrying the change mark, the sum of
   ``reg_capital`` and the latest ``updated_at`` (SQL on both sides), and with ``--rows`` up to
   ``--reconcile-max`` also ``copy.reconcile`` (every row's hash on both sides).  A mismatch is printed loudly
   and makes the exit status 1;
5. the lag test, on log mode's clone: a writer process makes ``--rate`` single-row UPDATEs a second for
   ``--seconds`` (each its own committed transaction, ``updated_at = clock_timestamp()``), while this process calls
   ``log_copy`` again and again (a new run each call, from the last position).  After each batch the centre
   commits, the rows it brought are read back: a change's lag is the time from its ``updated_at`` (the writer's
   statement, the source's clock) to the end of the centre's commit (this machine's clock — the same clock).
   p50 / p95 / max vs the target p95 ≤ 2 s; ``LogResult.lag_seconds`` (per batch, from the source's commit of its
   oldest transaction) is shown next to it.

    .venv/bin/python bench/exchange_incremental.py                         # 10 M rows
    .venv/bin/python bench/exchange_incremental.py --rows 200000 --seconds 20
    .venv/bin/python bench/exchange_incremental.py --rows 1000000 --skip-compare

Timings are wall-clock on this machine: the two servers, the engine and the writer share its cores.
Logs and ``results-*.json`` go to the work dir (default ``tmp/bench-exchange-incremental``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(ROOT))
import bench_common  # noqa: E402
import exchange_copy as xc  # noqa: E402 — the table, the servers, the connections

PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_WORKDIR = ROOT / "tmp" / "bench-exchange-incremental"
SLOT = "bench_incremental"
MARK = "·改"
BASE_DB = "centre_inc_base"
TARGETS = {"watermark": 10.0, "compare": 10.0, "log": 5.0}
LAG_TARGET = 2.0
HASH = "(id * 2654435761 % 1000003)"  # spreads the changed and deleted rows over the table


def pick(changed: float, deleted: float) -> tuple[str, str]:
    """WHERE clauses for the changed rows and the deleted rows (disjoint)."""
    return (f"{HASH} < {round(changed * 1000003)}",
            f"{HASH} >= {1000003 - round(deleted * 1000003)}")


# -- the writer of the lag test (a child process) ----------------------------------------------------------

def writer(spec: dict[str, Any]) -> None:
    import psycopg

    rate, seconds, rows = spec["rate"], spec["seconds"], spec["rows"]
    rng = random.Random(7)
    done = late = 0
    with psycopg.connect(spec["source"], autocommit=True) as conn:
        conn.execute("SET synchronous_commit = on")
        conn.execute("SET TimeZone = 'UTC'")
        sql = f"UPDATE {xc.TABLE} SET reg_capital = reg_capital + 1, updated_at = clock_timestamp() WHERE id = %s"
        started = time.monotonic()
        for n in range(int(rate * seconds)):
            due = started + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.05:
                late += 1
            conn.execute(sql, (rng.randint(1, rows),), prepare=True)
            done += 1
        elapsed = time.monotonic() - started
    print(json.dumps({"updates": done, "seconds": elapsed, "rate": done / elapsed, "late": late}))


# -- the run ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Figure:
    name: str
    seconds: float
    target: float | None = None
    parts: str = ""
    check: str = ""
    ok: bool = True

    def line(self) -> str:
        verdict = "" if self.target is None else \
            f"≤ {self.target:g} s: {'met' if self.seconds <= self.target else 'NOT met'}"
        return (f"{self.name:34s} {self.seconds:8.2f} s  {verdict:18s} {self.parts}"
                + ("" if self.ok else f"   *** MISMATCH: {self.check}"))


class Bench:
    def __init__(self, args: argparse.Namespace, source: xc.Server, centre: xc.Server, work: Path) -> None:
        from govshare.datastore.engine.store import StoreColumn
        from govshare.exchange.engine.copy import CopyPlan
        from govshare.exchange.engine.sources import SourceSpec

        self.args, self.source, self.centre, self.work = args, source, centre, work
        self.spec = SourceSpec(kind="postgresql", host=source.host, address=source.host, port=source.port,
                               database=xc.SOURCE_DB, user=source.user, password=source.password, tls="prefer",
                               statement_timeout=600.0)
        self.plan = CopyPlan(source=self.spec, schema="public", table=xc.TABLE, columns=tuple(xc.NAMES),
                             items=tuple(StoreColumn(item, letter, length)
                                         for _n, _p, _m, item, letter, length in xc.COLUMNS),
                             key=("id",), target=xc.STORE_TABLE, batch_rows=args.batch_rows,
                             watermark="updated_at", key_unique=True)
        self.figures: list[Figure] = []
        self.watermark: Any = None
        self.notes: list[str] = []
        self.mismatch = False

    def store(self, database: str) -> Any:
        from govshare.datastore.engine.store import Store

        return Store.open(self.centre.url(database, "postgresql"))

    def clone(self, name: str) -> None:
        with xc.pg_connect(self.centre) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{BASE_DB}"')
        if self.args.analyze:  # a centre that has run a while: autovacuum has analysed its tables
            with xc.pg_connect(self.centre, name) as conn:
                conn.execute("ANALYZE")

    # -- preparation ------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        from govshare.exchange.engine import logical
        from govshare.exchange.engine.copy import full_copy
        from govshare.exchange.engine.fastcopy import fast_full_copy

        seconds, size = xc.prepare_pg_source(self.source, self.args.rows)
        with xc.pg_connect(self.source, xc.SOURCE_DB) as conn:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {xc.TABLE}_updated_at ON {xc.TABLE} (updated_at)")
            conn.execute(f"ANALYZE {xc.TABLE}")
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_drop_replication_slot(%s)", (SLOT,))
        print(f"source: {self.args.rows:,} rows, {size:,} MB" + (f", generated in {seconds:.0f} s" if seconds else ""))
        logical.create_slot(self.spec, SLOT, "test_decoding")
        xc.fresh_pg_database(self.centre, BASE_DB)
        xc.checkpoint(self.source, self.centre)
        print("initial copy …", end="", flush=True)
        started = time.perf_counter()
        with self.store(BASE_DB) as store:
            if self.args.initial == "fast":
                plan = dataclasses.replace(self.plan, batch_rows=50_000)
                result = fast_full_copy(plan, store, run_id="initial")
            else:
                result = full_copy(self.plan, store, run_id="initial")
        took = time.perf_counter() - started
        self.watermark = result.watermark
        print(f" {took:.1f} s, {result.rows_read:,} rows ({result.rows_read / took:,.0f} rows/s), "
              f"watermark {result.watermark}")
        self.figures.append(Figure(f"initial copy ({self.args.initial})", took,
                                   parts=f"{result.rows_read:,} rows, {result.rows_read / took:,.0f} rows/s"))
        self.check("initial copy", BASE_DB)
        for mode in ("watermark", "log") + (() if self.args.skip_compare else ("compare",)):
            if mode == "log" and self.args.skip_log:
                continue
            self.clone(f"centre_inc_{mode}")
        if not self.args.skip_compare:
            from govshare.exchange.engine.compare import compare_copy

            print("compare mode, first run (full pass, builds the bucket map) …", end="", flush=True)
            started = time.perf_counter()
            with self.store("centre_inc_compare") as store:
                first = compare_copy(self.plan, store, run_id="cmp-1", guard_share=0.5)
            took = time.perf_counter() - started
            print(f" {took:.1f} s, {first.copy.rows_read:,} rows read, B = {first.buckets}")
            self.figures.append(Figure("compare, first run (full pass)", took,
                                       parts=f"{first.copy.rows_read:,} rows read, {first.buckets} buckets"))

    def change(self) -> tuple[int, int]:
        changed_where, deleted_where = pick(self.args.changed, self.args.deleted)
        started = time.perf_counter()
        with xc.pg_connect(self.source, xc.SOURCE_DB) as conn:
            conn.execute("SET synchronous_commit = on")
            conn.execute("SET TimeZone = 'UTC'")
            changed = conn.execute(
                f"UPDATE {xc.TABLE} SET name = name || '{MARK}', reg_capital = reg_capital + 1, "  # noqa: S608
                f"updated_at = now() WHERE {changed_where}").rowcount
            deleted = conn.execute(f"DELETE FROM {xc.TABLE} WHERE {deleted_where}").rowcount  # noqa: S608
        took = time.perf_counter() - started
        print(f"source changes: {changed:,} rows updated, {deleted:,} deleted, in {took:.1f} s")
        return changed, deleted

    # -- checks -----------------------------------------------------------------------------------------------

    def check(self, label: str, database: str) -> tuple[bool, str]:
        """The centre's live rows against the source: counts, marked rows, sums, the latest update time; and
        every row's hash (``copy.reconcile``) on runs up to ``--reconcile-max`` rows."""
        source_sql = (f"SELECT count(*), count(*) FILTER (WHERE name LIKE '%%{MARK}'), sum(reg_capital), "  # noqa: S608
                      f"max(updated_at) FROM {xc.TABLE}")
        centre_sql = (f"SELECT count(*), count(*) FILTER (WHERE c3 LIKE '%%{MARK}'), sum(c6), max(c8) "  # noqa: S608
                      f"FROM {xc.STORE_TABLE} WHERE NOT _deleted")
        with xc.pg_connect(self.source, xc.SOURCE_DB) as conn:
            here = tuple(conn.execute(source_sql).fetchone())
        with xc.pg_connect(self.centre, database) as conn:
            there = tuple(conn.execute(centre_sql).fetchone())
        ok = here == there
        text = f"rows {there[0]:,}, marked {there[1]:,}" + ("" if ok else f" — source {here}, centre {there}")
        if ok and self.args.rows <= self.args.reconcile_max:
            from govshare.exchange.engine.copy import reconcile

            with self.store(database) as store:
                found = reconcile(self.plan, store)
            ok = found.equal
            text += f", reconcile {'equal' if ok else 'DIFFERS'} ({found.seconds:.0f} s)"
            if not ok:
                text += (f": missing {found.missing_in_centre[:5]}, extra {found.extra_in_centre[:5]}, "
                         f"different {found.different[:5]}")
        print(f"  check {label}: {'ok' if ok else '*** MISMATCH ***'} ({text})")
        if not ok:
            self.mismatch = True
        return ok, text

    # -- the modes --------------------------------------------------------------------------------------------

    def profiled(self, label: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)``, under cProfile with ``--profile`` (the top of it into the work dir)."""
        if not self.args.profile:
            return function(*args, **kwargs)
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(function, *args, **kwargs)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        (self.work / f"profile-{label}.txt").write_text(text.getvalue(), encoding="utf-8")
        return result

    def watermark_mode(self) -> None:
        from govshare.exchange.engine.copy import delete_unseen, key_scan, watermark_copy

        database = "centre_inc_watermark"
        xc.checkpoint(self.source, self.centre)
        print("watermark mode …", end="", flush=True)
        with self.store(database) as store:
            t0 = time.perf_counter()
            if self.args.keys == "run":  # as a run takes it for this pair (runs.run_copy → keyranges.incremental)
                from govshare.exchange.engine.keyranges import incremental

                rows, checked = self.profiled("incremental", incremental, dataclasses.replace(self.plan, batch_rows=50_000),
                                              self.plan, store, run_id="wm-2", since=self.watermark,
                                              overlap_seconds=300, check_keys=True,
                                              log=lambda text: print(f" [{text}]", end=""))
                assert checked is not None
                keys = checked
                # the copy and the check overlap (the digests run while the rows are copied): each one's own clock
                t1 = t0 + rows.seconds
            else:
                rows = watermark_copy(self.plan, store, run_id="wm-2", since=self.watermark, overlap_seconds=300)
                t1 = time.perf_counter()
                if self.args.keys == "fast":
                    from govshare.exchange.engine.fastcopy import fast_key_scan

                    keys = self.profiled("key_scan", fast_key_scan, dataclasses.replace(self.plan, batch_rows=50_000),
                                         store, run_id="wm-2")
                else:
                    keys = self.profiled("key_scan", key_scan, self.plan, store, run_id="wm-2")
            t2 = time.perf_counter()
            self.explain_unseen(store)
            deleting = dataclasses.replace(self.plan, batch_rows=50_000) if self.args.keys == "run" else self.plan
            gone = self.profiled("delete_unseen", delete_unseen, deleting, store, run_id="wm-2", guard_share=0.5)
            t3 = time.perf_counter()
        parts = (f"watermark_copy {t1 - t0:.2f} s ({rows.rows_read:,} read, {rows.updated:,} updated), key check "
                 f"{t2 - t1:.2f} s ({keys.keys_read or keys.rows_read:,} keys), delete_unseen {t3 - t2:.2f} s "
                 f"({gone.deleted:,} deleted{', HELD' if gone.held else ''})")
        print(f" {t3 - t0:.2f} s: {parts}")
        ok, text = self.check("watermark", database)
        self.figures.append(Figure("a. watermark + key scan + deletes", t3 - t0, TARGETS["watermark"], parts,
                                   text, ok))

    def explain_unseen(self, store: Any) -> None:
        """The plan PostgreSQL picks for delete_unseen's query (Store.unseen, the store's own statement), before it
        runs (a diagnostic)."""
        shape = store._shape(xc.STORE_TABLE)
        sql, params = store._unseen_sql(xc.STORE_TABLE, shape, "wm-2", "s.c1")
        plan = store._run("EXPLAIN " + sql + " ORDER BY s._seq LIMIT 5000", params).fetchall()
        (self.work / "unseen-plan.txt").write_text("\n".join(r[0] for r in plan), encoding="utf-8")

    def compare_mode(self) -> None:
        from govshare.exchange.engine.compare import compare_copy

        database = "centre_inc_compare"
        xc.checkpoint(self.source, self.centre)
        print("compare mode …", end="", flush=True)
        with self.store(database) as store:
            t0 = time.perf_counter()
            result = compare_copy(self.plan, store, run_id="cmp-2", guard_share=0.5)
            took = time.perf_counter() - t0
        parts = (f"aggregate {result.aggregate_seconds:.2f} s, {result.buckets_read:,} of {result.compared:,} "
                 f"buckets read ({result.copy.rows_read:,} rows), {result.copy.updated:,} updated, "
                 f"{result.deletions.deleted:,} deleted{', HELD' if result.deletions.held else ''}")
        print(f" {took:.2f} s: {parts}")
        ok, text = self.check("compare", database)
        self.figures.append(Figure("b. compare (reference)", took, TARGETS["compare"], parts, text, ok))

    def log_mode(self) -> str:
        from govshare.exchange.engine.logical import log_copy

        database = "centre_inc_log"
        xc.checkpoint(self.source, self.centre)
        print("log mode …", end="", flush=True)
        with self.store(database) as store:
            t0 = time.perf_counter()
            result = self.profiled("log_copy", log_copy, self.plan, store, run_id="log-1", slot=SLOT,
                                   guard_share=0.5)
            took = time.perf_counter() - t0
        parts = (f"{result.changes:,} changes, {result.batches} batches, {result.updated:,} updated, "
                 f"{result.deleted:,} deleted, complete {result.complete}")
        print(f" {took:.2f} s: {parts}")
        ok, text = self.check("log", database)
        self.figures.append(Figure("c. log (test_decoding)", took, TARGETS["log"], parts, text, ok))
        return "log-1"

    # -- the lag test -----------------------------------------------------------------------------------------

    def lag_test(self, previous: str) -> None:
        import psycopg

        from govshare.exchange.engine.logical import log_copy

        database = "centre_inc_log"
        spec = {"source": self.source.libpq(xc.SOURCE_DB), "rate": self.args.rate, "seconds": self.args.seconds,
                "rows": self.args.rows}
        log = self.work / "writer.log"
        lags: list[float] = []
        batch_lags: list[float] = []
        calls = batches = 0
        print(f"lag test: {self.args.rate:,} updates/s for {self.args.seconds} s …", flush=True)
        with self.store(database) as store, psycopg.connect(self.centre.libpq(database), autocommit=True) as look:
            seq = [store.summary(xc.STORE_TABLE).last_seq]
            since = store.position(xc.STORE_TABLE, previous)

            def on_batch(_receipt: Any) -> None:
                now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                rows = look.execute(f"SELECT c8, _seq FROM {xc.STORE_TABLE} WHERE _seq > %s",  # noqa: S608
                                    (seq[0],)).fetchall()
                for updated, number in rows:
                    seq[0] = max(seq[0], number)
                    if updated is not None and updated.year > 2025:  # the writer's (older rows: the generator's)
                        lags.append((now - updated).total_seconds())

            with open(log, "wb") as out:
                proc = subprocess.Popen([str(PROJECT_PYTHON), str(HERE), "--child", "writer", "--spec",
                                         json.dumps(spec)], stdout=out, stderr=subprocess.STDOUT)
                finishing = 0
                while finishing < 2:  # after the writer ends: one call more, to drain what it left
                    if proc.poll() is not None:
                        finishing += 1
                    calls += 1
                    run_id = f"lag-{calls}"
                    result = log_copy(self.plan, store, run_id=run_id, slot=SLOT, since=since, on_batch=on_batch)
                    batch_lags.extend(result.lag_seconds)
                    batches += result.batches
                    since = store.position(xc.STORE_TABLE, run_id) or since
                    if not result.changes:
                        time.sleep(0.05)
            written = json.loads(log.read_text().strip().splitlines()[-1]) if proc.returncode == 0 else {}
        if not written:
            print(f"  writer failed: {xc.tail(log)}")
            self.mismatch = True
            return
        ok, text = self.check("lag test", database)
        lags.sort()
        if not lags:
            self.figures.append(Figure("d. log lag p95", float("inf"), LAG_TARGET, "no change seen", text, False))
            return
        p50, p95 = statistics.median(lags), lags[min(len(lags) - 1, int(0.95 * len(lags)))]
        batch_lags.sort()
        b95 = batch_lags[min(len(batch_lags) - 1, int(0.95 * len(batch_lags)))] if batch_lags else float("nan")
        parts = (f"{len(lags):,} changes seen of {written['updates']:,} written at {written['rate']:,.0f}/s "
                 f"({written['late']} late); p50 {p50:.2f} s, max {lags[-1]:.2f} s; {calls} log_copy calls, "
                 f"{batches} batches; LogResult.lag_seconds p95 {b95:.2f} s")
        print(f"  {parts}")
        self.figures.append(Figure("d. log lag p95", p95, LAG_TARGET, parts, text, ok))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="source rows (default 10 000 000)")
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows updated (default 0.01)")
    parser.add_argument("--deleted", type=float, default=0.001, help="share of rows deleted (default 0.001)")
    parser.add_argument("--skip-log", action="store_true", help="no log mode, no lag test")
    parser.add_argument("--skip-compare", action="store_true", help="no compare mode")
    parser.add_argument("--skip-watermark", action="store_true", help="no watermark mode")
    parser.add_argument("--rate", type=int, default=1000, help="lag test: single-row UPDATEs a second")
    parser.add_argument("--seconds", type=int, default=60, help="lag test: how long the writer writes")
    parser.add_argument("--initial", choices=("fast", "keyset"), default="fast",
                        help="initial copy: fast_full_copy (as the worker, default) or full_copy")
    parser.add_argument("--batch-rows", type=int, default=xc.BATCH_ROWS, help="the modes' page size (5000)")
    parser.add_argument("--reconcile-max", type=int, default=300_000,
                        help="run copy.reconcile after each mode up to this many rows (default 300 000)")
    parser.add_argument("--analyze", action=argparse.BooleanOptionalAction, default=True,
                        help="ANALYZE each cloned centre database before the modes run (default: yes; --no-analyze: "
                             "the statistics the initial copy left)")
    parser.add_argument("--keys", choices=("run", "fast", "keyset"), default="run",
                        help="watermark mode's key check: as a run takes it (keyranges.key_check: by key ranges for "
                             "this table; the default), fast_key_scan (every key, 50 000 a page) or key_scan "
                             "(keyset pages of --batch-rows)")
    parser.add_argument("--profile", action="store_true", help="cProfile key_scan and log_copy (into the work dir)")
    parser.add_argument("--workdir", default="", help="logs and results (default tmp/bench-exchange-incremental)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "writer":
        writer(json.loads(args.spec))
        return 0
    work = Path(args.workdir).resolve() if args.workdir else DEFAULT_WORKDIR
    work.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    print(f"table exchange, incremental: {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.2f}, govshare {head}, "
          f"{started:%Y-%m-%d %H:%M} UTC; {args.rows:,} rows, {args.changed:.2%} changed, {args.deleted:.2%} deleted")
    settings = "-c max_connections=50 -c max_wal_size=8GB -c checkpoint_timeout=30min"
    with contextlib.ExitStack() as stack:
        src_url = stack.enter_context(bench_common.throwaway_postgres(
            settings + " -c wal_level=logical -c synchronous_commit=on -c max_replication_slots=4",
            "govshare-bench-inc-src-"))
        centre_url = stack.enter_context(bench_common.throwaway_postgres(settings, "govshare-bench-inc-centre-"))
        source, centre = xc.Server.parse("postgresql", src_url), xc.Server.parse("postgresql", centre_url)
        bench = Bench(args, source, centre, work)
        bench.prepare()
        bench.change()
        if not args.skip_watermark:
            bench.watermark_mode()
        if not args.skip_compare:
            bench.compare_mode()
        if not args.skip_log:
            previous = bench.log_mode()
            if args.seconds > 0:
                bench.lag_test(previous)
    lines = [f"{'':34s} {'seconds':>10s}  target", *(f.line() for f in bench.figures)]
    print("\n" + "\n".join(lines))
    if bench.mismatch:
        print("\n*** MISMATCH between source and centre: see the checks above ***")
    print(f"\nfinished {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}")
    out = work / f"results-{started:%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({"started": started.isoformat(), "argv": sys.argv[1:], "head": head,
                               "figures": [dataclasses.asdict(f) for f in bench.figures], "report": lines},
                              ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(f"results: {out}")
    return 1 if bench.mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
