"""Incremental copies and deletions (govshare/exchange/engine/copy.py; issue 10 item 5, EXC-1 "增量数据动态更新")
from real front-end databases — SQLite files, the session's throwaway PostgreSQL and MariaDB — into the centre's
store on SQLite and PostgreSQL: the watermark mode's (update time, key) position at the column's own precision
with its overlap window, the key scan that finds rows deleted at the source, tombstones, and the mass-delete
guard that holds a run until a person confirms."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import sqlite3
import tempfile
import traceback
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from govshare.datastore.engine.store import Store, StoreColumn, combine, row_hash
from govshare.exchange.engine.copy import (
    CopyPlan,
    convert,
    decode_key,
    delete_unseen,
    earlier,
    encode_key,
    full_copy,
    key_scan,
    watermark_copy,
)
from govshare.exchange.engine.sources import SourceSpec
from tests.test_exchange_copy import (  # noqa: F401 — fixtures
    Source,
    cases,
    live,
    make_source,
    make_store,
    reconciles,
    sequence_numbers,
    stop_after,
)

pytestmark = pytest.mark.once

ITEMS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 10)),
         ("amount", StoreColumn("金额", "N"))]
#: the update-time column's type on each kind of source, at its finest precision
STAMP = {"sqlite": "TEXT", "postgresql": "timestamp(6)", "mysql": "datetime(6)"}
T0 = "2024-03-01 08:00:00.000001"
T1 = "2024-03-01 08:00:00.000002"  # a microsecond later: the column's own precision tells them apart
T2 = "2024-03-01 09:00:00"


def table_sql(kind: str, rows: list[tuple[int, str, str]]) -> str:
    values = ", ".join(f"({n}, '物品{n}', {n}.5, '{stamp}')" for n, _name, stamp in rows)
    return (f"CREATE TABLE goods (id integer PRIMARY KEY, name varchar(40), amount numeric(10, 2), "
            f"updated_at {STAMP[kind]});\nINSERT INTO goods VALUES {values};")


def plan_of(source: Source, *, batch_rows: int = 4, watermark: str = "updated_at") -> CopyPlan:
    plan = source.plan("goods", ITEMS, ("id",), batch_rows=batch_rows)
    return CopyPlan(**{**plan.__dict__, "watermark": watermark})


def stamp_of(result: Any) -> str:
    value = decode_key(result.watermark)[0]
    return value if isinstance(value, str) else value.isoformat(sep=" ", timespec="microseconds")


# -- watermark ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source_kind", "store_kind"), cases(
    ("sqlite", "sqlite"), ("postgresql", "postgresql"), ("mysql", "sqlite")))
def test_a_watermark_copy_reads_only_changed_rows_and_never_skips_rows_sharing_one_update_time(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """Ten rows share one update time across pages of four: a full copy records the column's largest value
    (to the microsecond) as its watermark; the next incremental run reads from there — the rows at that very
    time again (unchanged, not rewritten), the three changed and two new rows once each — and ends at the new
    largest value."""
    rows = [(n, "", T0) for n in range(1, 11)] + [(11, "", T1), (12, "", T1)]
    source = make_source(source_kind, table_sql(source_kind, rows))
    store = make_store(store_kind)
    plan = plan_of(source)
    first = full_copy(plan, store, run_id="r1")
    assert first.inserted == 12 and stamp_of(first) == T1
    before = sequence_numbers(store)
    source.admin(f"UPDATE goods SET amount = 0, updated_at = '{T2}' WHERE id IN (2, 5, 11);"
                 f"INSERT INTO goods VALUES (13, '新', 1, '{T2}'), (14, '新', 2, '{T2}');")
    second = watermark_copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=0)
    assert (second.rows_read, second.inserted, second.updated, second.unchanged) == (6, 2, 3, 1)
    assert stamp_of(second).startswith(T2)
    moved = {key for key, seq in sequence_numbers(store).items() if before.get(key) != seq}
    assert moved == {2, 5, 11, 13, 14} and live(store)[5] == (5, "物品5", Decimal(0))
    third = watermark_copy(plan, store, run_id="r3", since=second.watermark, overlap_seconds=0)
    assert (third.rows_read, third.inserted, third.updated) == (5, 0, 0)  # only the rows at T2, unchanged


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "sqlite"),
                                                              ("mysql", "postgresql")))
def test_the_overlap_window_catches_a_row_committed_late_with_an_earlier_update_time(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A writer's transaction that commits after the run has read past its time (or a writer whose clock is
    behind) leaves a row older than the watermark: without an overlap it is missed, with a window of five
    minutes the next run reads it."""
    source = make_source(source_kind, table_sql(source_kind, [(1, "", T2), (2, "", T2)]))
    store = make_store(store_kind)
    plan = plan_of(source)
    first = full_copy(plan, store, run_id="r1")
    source.admin("INSERT INTO goods VALUES (3, '晚到', 3, '2024-03-01 08:58:00');")
    blind = watermark_copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=0)
    assert blind.inserted == 0 and 3 not in live(store)
    caught = watermark_copy(plan, store, run_id="r3", since=first.watermark, overlap_seconds=300)
    assert caught.inserted == 1 and live(store)[3] == (3, "晚到", Decimal(3))


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "postgresql")))
def test_a_stopped_watermark_copy_resumes_after_its_last_committed_batch_with_the_same_bounds(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """The run's lower and upper bounds are committed with each batch: a run resumed after a stop reads on from
    its position within the same bounds, even when the table changed meanwhile (a row changed after the run
    started is the next run's)."""
    rows = [(n, "", f"2024-03-01 08:00:{n:02d}") for n in range(1, 13)]
    source = make_source(source_kind, table_sql(source_kind, rows))
    store = make_store(store_kind)
    plan = plan_of(source)
    full_copy(plan, store, run_id="r1")
    source.admin("UPDATE goods SET amount = 7, updated_at = '2024-03-01 10:00:00' WHERE id BETWEEN 1 AND 10;")
    on_batch, should_stop = stop_after(1)
    since = encode_key(["2024-03-01 08:00:30"] if source_kind == "sqlite" else [dt.datetime(2024, 3, 1, 8, 0, 30)])
    stopped = watermark_copy(plan, store, run_id="r2", since=since, overlap_seconds=0, on_batch=on_batch,
                             should_stop=should_stop)
    assert (stopped.complete, stopped.rows_read) == (False, 4)
    source.admin("UPDATE goods SET amount = 8, updated_at = '2024-03-01 11:00:00' WHERE id = 12;")
    resumed = watermark_copy(plan, store, run_id="r2", since=since, overlap_seconds=0)
    assert (resumed.complete, resumed.rows_read, resumed.updated, resumed.resumed_from_batch) == (True, 10, 10, 1)
    assert live(store)[12][2] == Decimal("12.5")  # changed after the run began: not this run's
    assert stamp_of(resumed).startswith("2024-03-01 10:00:00")


def test_earlier_moves_an_update_time_back_in_its_own_type_and_precision() -> None:
    assert earlier(dt.datetime(2024, 3, 1, 0, 2), 300) == dt.datetime(2024, 2, 29, 23, 57)
    aware = dt.datetime(2024, 3, 1, 0, 2, tzinfo=dt.UTC)
    assert earlier(aware, 60) == dt.datetime(2024, 3, 1, 0, 1, tzinfo=dt.UTC)
    assert earlier(dt.date(2024, 3, 1), 300) == dt.date(2024, 2, 29)  # a day, at least
    assert earlier(1_700_000_000, 300) == 1_699_999_700 and earlier(Decimal("10.5"), 5) == Decimal("5.5")
    assert earlier("2024-03-01 00:02:00", 300) == "2024-02-29 23:57:00"
    assert earlier("2024-03-01T00:02:00.123", 300) == "2024-02-29T23:57:00.123"
    assert earlier("2024-03-01 00:02:00.123456+08:00", 300) == "2024-02-29 23:57:00.123456+08:00"
    assert earlier("2024-03-01", 300) == "2024-02-29"
    assert earlier("2024-03-01 00:02:00", 0) == "2024-03-01 00:02:00"


# -- deletions ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source_kind", "store_kind"), cases(
    ("sqlite", "sqlite"), ("postgresql", "postgresql"), ("mysql", "sqlite")))
def test_a_full_copy_tombstones_the_rows_the_source_no_longer_has_but_not_those_it_quarantined(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A row deleted at the source gets a tombstone with the next sequence number (every consumer sees the
    deletion from its own position); a row whose new value cannot be stored is quarantined but still exists at
    the source — its last good copy stays live."""
    source = make_source(source_kind, table_sql(source_kind, [(n, "", T0) for n in range(1, 21)]))
    store = make_store(store_kind)
    plan = plan_of(source, watermark="")
    full_copy(plan, store, run_id="r1")
    source.admin("DELETE FROM goods WHERE id = 7; UPDATE goods SET name = '一个超过十个字符的很长的名称' "
                 "WHERE id = 8;")
    result = full_copy(plan, store, run_id="r2")
    assert result.rejected == 1
    outcome = delete_unseen(plan, store, run_id="r2", guard_share=0.1)
    assert (outcome.pending, outcome.live, outcome.deleted, outcome.held) == (1, 20, 1, False)
    rows = {row[0]: row for row in store.changes_since("e_copy", 0, 100)}
    assert rows[7][-1] is True and rows[7][-2] == 21 and rows[8][-1] is False
    assert sorted(live(store)) == [n for n in range(1, 21) if n != 7]
    summary = store.summary("e_copy")
    assert (summary.live_rows, summary.deleted_rows) == (19, 1)
    again = delete_unseen(plan, store, run_id="r2", guard_share=0.1)  # done: nothing twice
    assert (again.deleted, again.held) == (1, False) and store.summary("e_copy").last_seq == 21


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "postgresql")))
def test_the_mass_delete_guard_holds_a_run_until_a_person_confirms_what_they_saw(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A half-read or emptied source looks like a mass delete: 15 of 20 rows missing is more than the 10 %
    allowed, so nothing is deleted and the run is held.  Confirming fewer than are missing deletes nothing; the
    number the person saw deletes them, in batches; the run's totals are the receipts'."""
    source = make_source(source_kind, table_sql(source_kind, [(n, "", T0) for n in range(1, 21)]))
    store = make_store(store_kind)
    plan = plan_of(source, watermark="")
    full_copy(plan, store, run_id="r1")
    source.admin("DELETE FROM goods WHERE id > 5;")
    full_copy(plan, store, run_id="r2")
    held = delete_unseen(plan, store, run_id="r2", guard_share=0.1)
    assert (held.pending, held.live, held.deleted, held.held, round(held.share, 2)) == (15, 20, 0, True, 0.75)
    assert store.summary("e_copy").live_rows == 20
    assert delete_unseen(plan, store, run_id="r2", guard_share=0.1, confirmed=10).held
    done = delete_unseen(plan, store, run_id="r2", guard_share=0.1, confirmed=15)
    assert (done.deleted, done.held) == (15, False) and sorted(live(store)) == [1, 2, 3, 4, 5]
    assert [r.deleted for r in store.receipts("e_copy", "r2") if r.deleted] == [4, 4, 4, 3]
    assert delete_unseen(plan, store, run_id="r2", guard_share=0.1).deleted == 15


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "postgresql"), ("mysql", "sqlite")))
def test_a_key_scan_finds_rows_deleted_at_the_source_that_a_watermark_copy_cannot_see(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """Watermark mode sees changed rows, not deleted ones: the scheduled key reconciliation reads every key (the
    key columns only) into the run's key list after the changes, and the rows missing from it are tombstoned;
    a row deleted and then written again at the source comes back to life with a new sequence number."""
    source = make_source(source_kind, table_sql(source_kind, [(n, "", T0) for n in range(1, 21)]))
    store = make_store(store_kind)
    plan = plan_of(source)
    first = full_copy(plan, store, run_id="r1")
    source.admin(f"DELETE FROM goods WHERE id IN (3, 4); UPDATE goods SET amount = 1, updated_at = '{T2}' "
                 "WHERE id = 9;")
    changes = watermark_copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=0)
    assert (changes.updated, store.summary("e_copy").live_rows) == (1, 20)
    keys = key_scan(plan, store, run_id="r2")
    assert (keys.keys_read, keys.rows_read) == (18, changes.rows_read)
    outcome = delete_unseen(plan, store, run_id="r2", guard_share=0.2)
    assert (outcome.deleted, sorted(set(range(1, 21)) - set(live(store)))) == (2, [3, 4])
    store.forget("e_copy", "r2")
    source.admin(f"INSERT INTO goods VALUES (3, '回来', 3, '{T2}');")
    back = watermark_copy(plan, store, run_id="r3", since=changes.watermark, overlap_seconds=0)
    assert back.inserted == 1 and back.updated == 0 and live(store)[3][1] == "回来"  # (added again)
    assert sequence_numbers(store)[3] == store.summary("e_copy").last_seq
    assert reconciles(store, full_copy(plan, store, run_id="r4"))


@pytest.mark.parametrize("source_kind", cases(("sqlite",), ("postgresql",), ("mysql",)))
def test_a_full_copy_knows_about_how_many_rows_to_expect(source_kind: str,
                                                         make_source: Callable[[str, str], Source]) -> None:
    """The progress bar's total and its ETA: the source's own estimate (PostgreSQL after ANALYZE, MySQL's
    TABLE_ROWS, SQLite's count); a view has none."""
    from govshare.exchange.engine.copy import estimate_rows

    source = make_source(source_kind, table_sql(source_kind, [(n, "", T0) for n in range(1, 31)]) + (
        "\nANALYZE goods;" if source_kind == "postgresql" else "\nANALYZE TABLE goods;" if source_kind == "mysql" else ""))
    expected = estimate_rows(plan_of(source))
    assert expected == 30 if source_kind != "mysql" else expected is not None and 20 <= expected <= 40


# -- kill -9 at 20 random moments (issue 10: "0 rows lost, 0 duplicated") ---------------------------------

def _killed_copy(work: Callable[[Store], Any], centre: Path | str, run_id: str, kills: int, seed: int, *,
                 counted: Callable[[], int] | None = None, step: int = 6, jitter: float = 0.004) -> list[int]:
    """Run ``work`` in a forked process (on its own store: a SQLite file ``centre``, or a store URL) and SIGKILL
    it ``kills`` times, each once it has committed a random number of further batches (1 … ``step``; ``counted``:
    how many are committed, read from outside) plus a random fraction of a batch's time (so the kill lands
    anywhere: reading, converting, writing, committing); returns the committed batch count after each kill."""
    import multiprocessing
    import signal
    import time

    url = centre if isinstance(centre, str) else f"sqlite:///{centre}"
    if counted is None:
        path = Path(centre)

        def counted() -> int:
            return committed(path, run_id)

    chance = random.Random(seed)
    fork = multiprocessing.get_context("fork")
    progress: list[int] = []

    failures = Path(tempfile.mkdtemp(prefix="govshare-killed-"))

    def child() -> None:
        try:
            with Store.open(url) as store:
                work(store)
        except BaseException:  # said in the parent's failure (a forked child's stderr may not reach the report)
            (failures / f"{os.getpid()}.txt").write_text(traceback.format_exc(), encoding="utf-8")
            raise

    for _ in range(kills):
        target = (progress[-1] if progress else 0) + chance.randint(1, step)
        process = fork.Process(target=child, daemon=True)
        process.start()
        deadline = time.monotonic() + 60
        while counted() < target and process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(chance.uniform(0, jitter))
        assert process.pid is not None
        with contextlib.suppress(ProcessLookupError):  # ended already: said below, with how
            os.kill(process.pid, signal.SIGKILL)
        process.join(30)
        if process.exitcode != -signal.SIGKILL:
            said = failures / f"{process.pid}.txt"
            raise AssertionError(f"seed {seed}: the work ended before it was killed (exit code {process.exitcode}, "
                                 f"{counted()} batches committed, waiting for {target})"
                                 + (f":\n{said.read_text(encoding='utf-8')}" if said.exists() else ""))
        progress.append(counted())
    return progress


def committed(centre: Path, run_id: str) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{centre}?mode=ro", uri=True, timeout=5)) as conn:
            (last,) = conn.execute("SELECT coalesce(max(batch), 0) FROM _gs_receipts WHERE run_id = ?",
                                   (run_id,)).fetchone()
            return int(last)
    except sqlite3.OperationalError:
        return 0


def stamped_source(path: Path, rows: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE goods (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC, updated_at TEXT)")
        conn.execute("WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < ?) "
                     "INSERT INTO goods SELECT v, '物品' || v, v * 0.25, "
                     "strftime('%Y-%m-%d %H:%M:%S', '2024-01-01', '+' || (v % 5000) || ' minutes') FROM n", (rows,))
        conn.commit()


def live_hash(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return combine(row_hash(map(convert, row, [c for _, c in ITEMS])) for row in conn.execute(
            "SELECT id, name, amount FROM goods"))


def test_kill_9_at_20_moments_of_a_full_copy_and_20_of_an_incremental_run_loses_and_duplicates_nothing(
        tmp_path: Path) -> None:
    """A full copy of 20 000 rows is killed 20 times, then run to its end; then 2 000 rows change and 300 are
    deleted at the source, and the incremental run — changed rows by update time, the key check, the
    tombstones — is killed 20 times and run to its end.  Each time: receipts numbered without a gap, every row
    applied exactly once (20 000 inserted; 2 000 updated; 300 deleted; the change sequence numbers end at
    22 300), and the centre's live rows hash to the source's table."""
    source, centre = tmp_path / "goods.db", tmp_path / "centre.sqlite3"
    stamped_source(source, 20_000)
    spec = SourceSpec(kind="sqlite", database=str(source), statement_timeout=60.0)
    plan = CopyPlan(spec, "main", "goods", ("id", "name", "amount"), tuple(c for _, c in ITEMS), ("id",),
                    "e_goods", batch_rows=200, watermark="updated_at")
    seed = int.from_bytes(os.urandom(4), "big")
    full = _killed_copy(lambda store: full_copy(plan, store, run_id="full"), centre, "full", 20, seed)
    # 101 batches in all (the rows', then the last): a kill may land after the last commit, before the process ends
    # (each kill asserts the process was still running) — seed 1047558941 did, on a loaded machine
    assert full == sorted(full) and 0 < full[-1] <= 101, f"seed {seed}: {full}"
    with Store.open(f"sqlite:///{centre}") as store:
        first = full_copy(plan, store, run_id="full")
        assert (first.rows_read, first.inserted, first.updated, first.unchanged) == (20_000, 20_000, 0, 0)
        assert [r.batch for r in store.receipts("e_goods", "full")] == list(range(1, 102)), f"seed {seed}"
        assert store.summary("e_goods").content_hash == live_hash(source)
    with contextlib.closing(sqlite3.connect(source)) as conn:
        conn.execute("UPDATE goods SET amount = amount + 1, updated_at = '2024-06-01 00:00:00' "
                     "WHERE id % 10 = 3")
        conn.execute("DELETE FROM goods WHERE id % 50 = 7 AND id <= 15000")
        conn.commit()

    def incremental(store: Store) -> None:
        watermark_copy(plan, store, run_id="inc", since=first.watermark, overlap_seconds=60)
        key_scan(plan, store, run_id="inc")
        delete_unseen(plan, store, run_id="inc", guard_share=0.5)

    inc = _killed_copy(incremental, centre, "inc", 20, seed + 1)
    assert inc == sorted(inc) and inc[-1] > 0, f"seed {seed}: {inc}"
    with Store.open(f"sqlite:///{centre}") as store:
        incremental(store)
        receipts = store.receipts("e_goods", "inc")
        summary = store.summary("e_goods")
        assert store._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert [r.batch for r in receipts] == list(range(1, len(receipts) + 1)), f"seed {seed}"
    assert sum(r.updated for r in receipts) == 2_000 and sum(r.inserted for r in receipts) == 0, f"seed {seed}"
    assert sum(r.deleted for r in receipts) == 300, f"seed {seed}"
    assert (summary.live_rows, summary.deleted_rows) == (19_700, 300)
    assert summary.last_seq == 22_300, f"seed {seed}"
    assert summary.content_hash == live_hash(source), f"seed {seed}"


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "sqlite"),
                                                              ("mysql", "sqlite")))
def test_an_update_time_far_ahead_of_the_sources_clock_does_not_hide_the_real_updates(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A "never" sentinel (2099-12-31) or a writer with a wrong clock: the run reads up to the source's own
    clock (plus a day), so the next update at the real time is still read; the sentinel row is read in full."""
    source = make_source(source_kind, table_sql(source_kind, [(1, "", T0), (2, "", "2099-12-31 00:00:00")]))
    store = make_store(store_kind)
    plan = plan_of(source)
    first = full_copy(plan, store, run_id="r1")
    assert first.inserted == 2 and stamp_of(first).startswith(T0[:19])
    now = dt.datetime.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    source.admin(f"UPDATE goods SET amount = 9 WHERE id = 1; UPDATE goods SET updated_at = '{now.isoformat(sep=' ')}' "
                 "WHERE id = 1;")
    second = watermark_copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=0)
    assert second.updated == 1 and live(store)[1][2] == Decimal(9)


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "postgresql")))
def test_rows_sharing_a_chosen_key_are_quarantined_not_the_end_of_the_copy(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A key the provider chose need not be unique: three rows with one key in a page are quarantined (and that
    key counts as read), the copy goes on; a small last batch with a bad row is not judged by the limit."""
    sql = ("CREATE TABLE goods (id integer, name varchar(40), amount numeric(10, 2), updated_at TEXT);\n"
           "INSERT INTO goods VALUES (1, 'a', 1, NULL), (1, 'b', 2, NULL), (1, 'c', 3, NULL), (2, 'd', 4, NULL),"
           " (3, 'e', 5, NULL);")
    source = make_source(source_kind, sql)
    store = make_store(store_kind)
    plan = CopyPlan(**{**plan_of(source, batch_rows=10, watermark="").__dict__, "reject_limit": 0.1})
    result = full_copy(plan, store, run_id="r1")
    assert (result.rows_read, result.inserted, result.rejected) == (5, 3, 2)  # the first of the three is kept
    assert delete_unseen(plan, store, run_id="r1", guard_share=0.5).deleted == 0


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "postgresql"),
                                                              ("mysql", "sqlite")))
def test_the_key_check_also_brings_in_rows_the_incremental_reads_missed(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A row committed long after its update time (beyond the overlap window), or restored at the source with its
    old time, is never read by time: the key check finds its key missing in the centre and reads it by key."""
    source = make_source(source_kind, table_sql(source_kind, [(n, "", T2) for n in range(1, 9)]))
    store = make_store(store_kind)
    plan = plan_of(source)
    first = full_copy(plan, store, run_id="r1")
    source.admin("INSERT INTO goods VALUES (50, '迟到很久', 5, '2020-01-01 00:00:00');")
    changes = watermark_copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=300)
    assert changes.inserted == 0 and 50 not in live(store)
    keys = key_scan(plan, store, run_id="r2")
    assert (keys.inserted, keys.keys_read) == (1, 9) and live(store)[50] == (50, "迟到很久", Decimal(5))
    assert delete_unseen(plan, store, run_id="r2", guard_share=0.5).deleted == 0
    again = key_scan(plan, store, run_id="r2")  # a finished scan changes nothing
    assert again.inserted == 1 and reconciles(store, full_copy(plan, store, run_id="r3"))


@pytest.mark.parametrize("store_kind", cases(("sqlite",), ("postgresql",)))
def test_a_page_of_keys_is_remembered_once_each_whatever_repeats(store_kind: str,
                                                                 make_store: Callable[[str], Store]) -> None:
    """The key list takes a page of keys at once (PostgreSQL: COPY, then one INSERT … ON CONFLICT): keys repeated
    within a page or across pages count once, and the rows whose keys were read are not taken for deleted."""
    store = make_store(store_kind)
    items = [c for _, c in ITEMS]
    store.ensure_table("e_copy", items, ["编号"])
    store.apply("e_copy", [[n, f"物品{n}", Decimal(n)] for n in range(1, 151)], run_id="r1", batch=1, position={},
                rows_read=150, read_hash="0" * 32, remember=False)
    first = store.remember("e_copy", [[n] for n in range(1, 101)] + [[n] for n in range(1, 31)], run_id="r2",
                           batch=1, position={"phase": "keys"})
    second = store.remember("e_copy", [[n] for n in range(71, 141)], run_id="r2", batch=2, position={"phase": "keys"})
    assert (first.rows_read, second.rows_read) == (130, 70)
    assert store.count_unseen("e_copy", "r2") == (10, 150)
    assert sorted(k[0] for k in store.unseen("e_copy", "r2", 100)) == list(range(141, 151))
