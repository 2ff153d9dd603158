"""Compare mode (EXC-1 incremental copies; govshare/exchange/engine/compare.py; issue 10 items 5 and 6) from real front-end databases —
SQLite files, the session's throwaway PostgreSQL and MariaDB — into the centre's store on SQLite and PostgreSQL:
hash buckets of the key computed by the source, only the rows of the buckets that changed travel, deletions
tombstoned behind the mass-delete guard, a run resumable at any moment (a real process killed with SIGKILL)."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from govshare.datastore.engine.store import BucketMap, Store, StoreColumn
from govshare.exchange.engine import compare
from govshare.exchange.engine.compare import CompareResult, compare_copy
from govshare.exchange.engine.copy import CopyPlan, reconcile
from govshare.exchange.engine.sources import SourceSpec
from tests.test_exchange_copy import (
    VISITS_COLUMNS,
    VISITS_SQL,
    Source,
    cases,
    live,
    make_source,
    make_store,
    sequence_numbers,
    stop_after,
)

#: fixtures shared by importing them from the module that defines them (pytest looks them up by name)
FIXTURES = (make_source, make_store)

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent
ITEMS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 10)),
         ("amount", StoreColumn("金额", "N")), ("note", StoreColumn("备注", "C", 20))]
ROWS = 300  # B = 32 buckets of about 9 rows


def goods_sql(rows: int = ROWS, key: str = "PRIMARY KEY") -> str:
    values = ", ".join(f"({n}, '物品{n}', {n}.5, {'NULL' if n % 7 == 0 else repr('备注' + str(n))})"
                       for n in range(1, rows + 1))
    return (f"CREATE TABLE goods (id integer {key}, name varchar(40), amount numeric(10, 2), note varchar(20));\n"
            f"INSERT INTO goods VALUES {values};")


def plan_of(source: Source, batch_rows: int = 100) -> CopyPlan:
    return source.plan("goods", ITEMS, ("id",), batch_rows=batch_rows)


def run(plan: CopyPlan, store: Store, run_id: str, **kwargs: Any) -> CompareResult:
    return compare_copy(plan, store, run_id=run_id, guard_share=kwargs.pop("guard_share", 0.2), **kwargs)


def raw(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in store._run(sql, params).fetchall()]


def bucket_of(store: Store, key: Any, table: str = "e_copy") -> int:
    """The bucket of the table's map that holds the row with this key."""
    found = store.bucket_map(table)
    assert found is not None
    ((fine,),) = raw(store, f"SELECT _bucket FROM {table} WHERE c1 = ?", (key,))
    return int(fine) >> (16 - found.buckets.bit_length() + 1)


def bucket_rows(store: Store, key: Any, table: str = "e_copy") -> int:
    """The source rows in the bucket of the row with this key, as the table's map counts them."""
    found = store.bucket_map(table)
    assert found is not None
    return found.counts[bucket_of(store, key, table)][0]


def same_as_source(plan: CopyPlan, store: Store) -> bool:
    """EXC-7: the centre's live rows are the source's, row for row (counts and content hashes)."""
    return reconcile(plan, store).equal


# -- reading only what changed -----------------------------------------------------------------------------

@pytest.mark.parametrize(("source_kind", "store_kind"), cases(
    ("sqlite", "sqlite"), ("postgresql", "postgresql"), ("mysql", "sqlite"), ("sqlite", "postgresql")))
def test_only_the_buckets_that_changed_travel_and_deleted_rows_are_tombstoned(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """The first run has no map: it reads every row, and keeps the source's buckets.  Run again on an unchanged
    source, only the aggregate travels: no row read, nothing written.  One row changed: the rows of its bucket
    only are read (about 9 of 300), the row updated with a new sequence number, the others untouched.  A row
    deleted and one inserted: the deleted one tombstoned, the new one inserted — and the centre is the source."""
    source = make_source(source_kind, goods_sql())
    store = make_store(store_kind)
    plan = plan_of(source)
    first = run(plan, store, "r1")
    assert first.complete and first.full_pass and first.buckets == 32 and first.source_rows == ROWS
    assert (first.copy.rows_read, first.copy.inserted, first.copy.rejected, first.copy.batches) == (ROWS, ROWS, 0, 5)
    assert first.copy.read_hash == store.summary("e_copy").content_hash and same_as_source(plan, store)
    kept = store.bucket_map("e_copy")
    assert kept is not None and kept.buckets == 32 and sum(n for n, _ in kept.counts.values()) == ROWS
    assert store.bucket_map("e_copy", "r1") is None  # promoted
    before = sequence_numbers(store)

    second = run(plan, store, "r2")
    assert (second.complete, second.full_pass, second.buckets_read, second.compared) == (True, False, 0, 32)
    assert (second.copy.rows_read, second.copy.batches, second.deletions.pending) == (0, 2, 0)
    assert sequence_numbers(store) == before

    source.admin("UPDATE goods SET amount = 0 WHERE id = 42;")
    third = run(plan, store, "r3")
    size = bucket_rows(store, 42)
    assert 1 <= size < 30 and third.buckets_read == 1
    assert (third.copy.rows_read, third.copy.updated, third.copy.unchanged) == (size, 1, size - 1)
    moved = {key for key, seq in sequence_numbers(store).items() if before[key] != seq}
    assert moved == {42} and live(store)[42][2] == Decimal(0)

    source.admin("DELETE FROM goods WHERE id = 7; INSERT INTO goods VALUES (1000, '新', 1, NULL);")
    fourth = run(plan, store, "r4")
    assert (fourth.copy.inserted, fourth.copy.updated, fourth.copy.deleted) == (1, 0, 1)
    assert fourth.deletions == compare.Deletions(1, ROWS + 1, 1, False)
    assert fourth.copy.rows_read < 60 and fourth.buckets_read <= 2
    rows = {row[0]: row for row in store.changes_since("e_copy", 0, 1000)}
    assert rows[7][-1] is True and rows[7][-2] == store.summary("e_copy").last_seq == rows[1000][-2] + 1
    assert 7 not in live(store) and same_as_source(plan, store)
    assert run(plan, store, "r5").copy.rows_read == 0


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "sqlite"),
                                                              ("mysql", "postgresql")))
def test_null_empty_text_and_the_text_null_are_three_different_values_at_the_source(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A non-key column going from NULL to '' to 'NULL' and back to NULL is a change each time: the source's
    digest tells the three apart, so each run reads the row's bucket and the centre follows, NULL as NULL."""
    source = make_source(source_kind, goods_sql())
    store = make_store(store_kind)
    plan = plan_of(source)
    run(plan, store, "r0")
    assert live(store)[14][3] is None
    for number, value in enumerate(["''", "'NULL'", "NULL", "' '"], 1):
        source.admin(f"UPDATE goods SET note = {value} WHERE id = 14;")
        result = run(plan, store, f"r{number}")
        assert (result.buckets_read, result.copy.updated) == (1, 1), value
        assert live(store)[14][3] == {"''": "", "'NULL'": "NULL", "NULL": None, "' '": " "}[value]
    assert run(plan, store, "r9").copy.rows_read == 0 and same_as_source(plan, store)


# -- deletions ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "postgresql")))
def test_a_mass_delete_is_held_until_a_person_confirms_and_the_map_waits_for_it(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A source that lost two thirds of its rows (or was half-read) looks like a mass delete: the run reads the
    changed buckets, then holds — nothing deleted, the table's map not replaced (the next run would compare with
    the old map and hold again).  Confirming fewer than are missing deletes nothing; the number seen deletes them
    and completes the run; the next run reads nothing."""
    source = make_source(source_kind, goods_sql())
    store = make_store(store_kind)
    plan = plan_of(source)
    run(plan, store, "r1")
    old_map = store.bucket_map("e_copy")
    source.admin("DELETE FROM goods WHERE id > 100;")
    held = run(plan, store, "r2", guard_share=0.1)
    assert (held.complete, held.deletions.held, held.deletions.pending, held.deletions.live) == (False, True, 200, 300)
    assert held.copy.complete and store.summary("e_copy").live_rows == ROWS
    assert store.bucket_map("e_copy") == old_map and store.bucket_map("e_copy", "r2") is not None
    assert run(plan, store, "r2", guard_share=0.1, confirmed=150).deletions.held
    done = run(plan, store, "r2", guard_share=0.1, confirmed=200)
    assert done.complete and (done.deletions.deleted, done.deletions.held, done.copy.deleted) == (200, False, 200)
    assert sorted(live(store)) == list(range(1, 101)) and same_as_source(plan, store)
    assert [r.deleted for r in store.receipts("e_copy", "r2") if r.deleted] == [100, 100]
    again = run(plan, store, "r2", guard_share=0.1)  # done: the same result, nothing twice
    assert (again.complete, again.deletions.deleted, again.copy.rows_read) == (True, 200, done.copy.rows_read)
    assert run(plan, store, "r3").copy.rows_read == 0


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("mysql", "sqlite"), ("mysql", "postgresql")))
def test_keys_differing_only_in_case_on_mariadb(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """MariaDB compares text keys without regard to case (utf8mb4_unicode_ci): its primary key cannot hold 'abc'
    and 'ABC', but an update may turn one into the other — the same row to MariaDB, another key to the centre
    (which compares exactly).  The bucket is computed from the key's bytes, so the new key falls in its own
    bucket: the centre tombstones 'abc' and inserts 'ABC'.  A table without a primary key may hold both: they
    are two rows in the centre, each in its own bucket, and a change to one reads only its bucket."""
    codes = ["abc", "Def", "ghi", "jkl", "MNO", "pqr"]
    values = ", ".join(f"('{code}', {n})" for n, code in enumerate(codes))
    source = make_source(source_kind, f"CREATE TABLE codes (code varchar(10) PRIMARY KEY, n integer);\n"
                                      f"INSERT INTO codes VALUES {values};\n"
                                      "CREATE TABLE loose (code varchar(10), n integer);\n"
                                      "INSERT INTO loose VALUES ('x', 1), ('X', 2), ('y', 3);")
    store = make_store(store_kind)
    items = [("code", StoreColumn("代码", "C", 10)), ("n", StoreColumn("序号", "I"))]
    plan = source.plan("codes", items, ("code",))
    run(plan, store, "r1")
    source.admin("UPDATE codes SET code = 'ABC' WHERE code = 'abc';")
    renamed = run(plan, store, "r2")
    assert (renamed.copy.inserted, renamed.copy.deleted) == (1, 1)
    assert sorted(live(store)) == sorted(["ABC", *codes[1:]]) and same_as_source(plan, store)

    loose = source.plan("loose", items, ("code",), target="e_loose")
    first = run(loose, store, "l1")
    assert (first.copy.inserted, first.copy.rejected) == (3, 0) and sorted(live(store, "e_loose")) == ["X", "x", "y"]
    source.admin("UPDATE loose SET n = 20 WHERE code = BINARY 'X';")
    second = run(loose, store, "l2")
    assert second.copy.updated == 1 and live(store, "e_loose")["X"][1] == 20 and live(store, "e_loose")["x"][1] == 1
    assert second.copy.rows_read == bucket_rows(store, "X", "e_loose")


# -- quarantine, empty keys, a new map ---------------------------------------------------------------------

@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "postgresql"), ("postgresql", "sqlite"),
                                                              ("mysql", "sqlite")))
def test_quarantined_and_empty_key_rows_are_not_read_again_until_they_change(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A row whose value cannot be stored (a name too long for C(10)) is quarantined; its key is the source's,
    so the centre's older copy of it is not deleted; the map holds the source's buckets, so the next run does not
    read its bucket again until the source changes it.  Rows with an empty key (a table without a primary key)
    are counted as empty_key when they change, never read.  Changing the items (another map signature) makes
    the next run a full pass."""
    source = make_source(source_kind, goods_sql(key="") + "INSERT INTO goods VALUES (NULL, '无键', 1, NULL);")
    store = make_store(store_kind)
    plan = plan_of(source)
    first = run(plan, store, "r1")
    assert (first.copy.rows_read, first.copy.inserted, first.copy.rejected) == (ROWS + 1, ROWS, 1)
    assert store.quarantine("e_copy", "r1")[0]["reason"].startswith("empty_key: 1 rows")
    source.admin("UPDATE goods SET name = '一个超过十个字符的很长的名称' WHERE id = 8;")
    second = run(plan, store, "r2")
    assert (second.copy.rejected, second.copy.updated, second.deletions.pending) == (1, 0, 0)
    assert live(store)[8][1] == "物品8"  # the last good copy stays live
    assert run(plan, store, "r3").copy.rows_read == 0  # not read again
    source.admin("INSERT INTO goods VALUES (NULL, '又一个', 2, NULL);")
    empty = run(plan, store, "r4")
    assert (empty.copy.rows_read, empty.copy.rejected, empty.buckets_read) == (2, 2, 0)
    widened = CopyPlan(**{**plan.__dict__, "items": (*plan.items[:1], StoreColumn("名称", "C", 40),
                                                     *plan.items[2:])})
    again = run(widened, store, "r5")
    assert again.full_pass and (again.copy.rows_read, again.copy.updated) == (ROWS + 2, 1)
    assert live(store)[8][1] == "一个超过十个字符的很长的名称"


def test_a_table_that_grows_sixteenfold_gets_eight_times_the_buckets_without_a_full_pass(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """``B`` follows the table: 100 rows → 16 buckets; 16 times as many rows → 128, the maps compared at 16
    (buckets of 16 are unions of buckets of 128), the old rows not rewritten; then one change reads a bucket of
    the new size."""
    source = make_source("sqlite", goods_sql(100))
    store = make_store("sqlite")
    plan = plan_of(source, batch_rows=500)
    assert run(plan, store, "r1").buckets == 16
    source.admin("".join(f"INSERT INTO goods SELECT id + {step}, name, amount, note FROM goods;"
                         for step in (1000, 2000, 4000, 8000)))
    grown = run(plan, store, "r2")
    assert (grown.buckets, grown.compared, grown.full_pass, grown.copy.inserted, grown.copy.updated) == (
        128, 16, False, 1500, 0)
    source.admin("UPDATE goods SET amount = 0 WHERE id = 4042;")
    one = run(plan, store, "r3")
    assert (one.compared, one.buckets_read, one.copy.updated) == (128, 1, 1)
    assert one.copy.rows_read == bucket_rows(store, 4042) < 40 and same_as_source(plan, store)


def test_maps_compare_at_the_smaller_number_of_buckets() -> None:
    """Fine buckets (16 bits) merge into the map's; two maps of different ``B`` are compared at the smaller."""
    fine = {0x1234: (2, 5), 0x1235: (1, 7), 0xFFFF: (1, 1), -1: (3, 9)}
    assert compare._coarse(fine, 12) == {0x1: (3, 12), 0xF: (1, 1), -1: (3, 9)}
    old = BucketMap(16, "s", {1: (3, 12), 15: (1, 1), -1: (3, 9)})
    same = compare._new_map(fine, old, "s")
    assert same.buckets == 16 and compare._scope(old, same).read == ()
    changed = BucketMap(256, "s", {0x12: (3, 12), 0xFF: (1, 2), -1: (3, 9)})
    scope = compare._scope(old, changed)
    assert (scope.compared, scope.shift, scope.read, scope.empty) == (16, 12, (15,), 0)
    assert compare._scope(BucketMap(16, "other", {}), changed).everything
    assert compare._scope(old, BucketMap(16, "s", {1: (3, 12), 15: (1, 1), -1: (4, 0)})).empty == 4
    assert [compare._buckets_for(n) for n in (0, 256, 257, 10**9)] == [16, 16, 32, 65536]


# -- resuming ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "postgresql"),
                                                              ("mysql", "sqlite")))
def test_a_stopped_run_resumes_with_the_map_it_began_with_and_applies_nothing_twice(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """A first run stopped after two pages resumes after them: every row read and applied once, receipts 1…n.
    A later run stopped before its first page still keeps the source's buckets as they were when it began:
    resumed after the source changed again, it reads what it would have read then, and the change after it
    began is the next run's.  Stopped between its deletions, it goes on without asking the guard again."""
    source = make_source(source_kind, goods_sql())
    store = make_store(store_kind)
    plan = plan_of(source, batch_rows=40)
    on_batch, should_stop = stop_after(2)
    stopped = run(plan, store, "r1", on_batch=on_batch, should_stop=should_stop)
    assert (stopped.complete, stopped.copy.complete, stopped.copy.batches, stopped.copy.rows_read) == (
        False, False, 2, 80)
    resumed = run(plan, store, "r1")
    assert resumed.complete and resumed.copy.resumed_from_batch == 2
    assert (resumed.copy.rows_read, resumed.copy.inserted, store.summary("e_copy").last_seq) == (ROWS, ROWS, ROWS)
    assert [r.batch for r in store.receipts("e_copy", "r1")] == list(range(1, 10))

    other = next(key for key in range(6, ROWS) if bucket_of(store, key) != bucket_of(store, 5))
    source.admin("UPDATE goods SET amount = 1 WHERE id = 5;")
    waiting = run(plan, store, "r2", should_stop=lambda: True)
    assert (waiting.complete, waiting.copy.batches) == (False, 0) and store.bucket_map("e_copy", "r2") is not None
    source.admin(f"UPDATE goods SET amount = 2 WHERE id = 5; UPDATE goods SET amount = 3 WHERE id = {other};")
    later = run(plan, store, "r2")
    assert (later.complete, later.buckets_read, later.copy.updated) == (True, 1, 1)
    assert live(store)[5][2] == Decimal(2) and live(store)[other][2] == Decimal(f"{other}.5")  # the next run's
    last = run(plan, store, "r3")
    assert (last.buckets_read, last.copy.updated) == (2, 1) and live(store)[other][2] == Decimal(3)
    assert same_as_source(plan, store)

    source.admin("DELETE FROM goods WHERE id > 200;")
    seen: list[Any] = []
    plan = plan_of(source, batch_rows=30)
    halfway = run(plan, store, "r4", guard_share=0.5, on_batch=seen.append,
                  should_stop=lambda: any(r.position["phase"] == "deletes" for r in seen))
    assert halfway.copy.complete and not halfway.complete and halfway.deletions.deleted == 30
    done = run(plan, store, "r4", guard_share=0.01)  # begun: not held again
    assert done.complete and done.deletions.deleted == 100 and sorted(live(store)) == list(range(1, 201))
    assert store.summary("e_copy").last_seq == sum(r.inserted + r.updated + r.deleted
                                                    for r in store.receipts("e_copy"))


KILLED_RUN = """
import sys, time
from govshare.datastore.engine.store import Store, StoreColumn
from govshare.exchange.engine.compare import compare_copy
from govshare.exchange.engine.copy import CopyPlan
from govshare.exchange.engine.sources import SourceSpec

plan = CopyPlan(SourceSpec(kind="sqlite", database=sys.argv[1], statement_timeout=60.0), "main", "goods",
                ("id", "name", "amount", "note"), (StoreColumn("编号", "I"), StoreColumn("名称", "C", 10),
                StoreColumn("金额", "N"), StoreColumn("备注", "C", 20)), ("id",), "e_copy", batch_rows=20)
with Store.open("sqlite:///" + sys.argv[2]) as store:
    print("started", flush=True)
    result = compare_copy(plan, store, run_id=sys.argv[3], guard_share=0.5,
                          on_batch=lambda receipt: time.sleep(0.01))
    print("done", result.complete, flush=True)
"""


def test_a_run_killed_at_any_moment_resumes_and_nothing_is_lost_or_applied_twice(
        tmp_path: Path, make_source: Callable[[str, str], Source]) -> None:
    """Issue 10 item 6: a compare run is killed with SIGKILL at random moments (during the source's aggregate,
    while keeping its map, in the middle of a batch, between its deletions, before its map is the table's) and
    started again each time; in the end every change was applied exactly once — each insert, update and
    tombstone has one sequence number, the receipts are numbered without a gap — and the centre is the
    source."""
    source = make_source("sqlite", goods_sql(2000))
    centre = tmp_path / "centre.sqlite3"
    plan = CopyPlan(**{**plan_of(source, batch_rows=20).__dict__})

    def start(run_id: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", KILLED_RUN, source.spec.database, str(centre), run_id],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)

    with Store.open(f"sqlite:///{centre}") as store:
        assert run(plan, store, "r1").copy.inserted == 2000
    source.admin("UPDATE goods SET amount = 0 WHERE id % 50 = 3; DELETE FROM goods WHERE id % 97 = 5;"
                 "INSERT INTO goods SELECT id + 5000, name, amount, note FROM goods WHERE id <= 20;")
    randomly = random.Random(10)
    kills = 0
    for attempt in range(60):
        child = start("r2")
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        with contextlib.suppress(subprocess.TimeoutExpired):  # the first ones early: the aggregate, the map
            child.wait(timeout=randomly.uniform(0.0, 0.02) if attempt < 3 else randomly.uniform(0.05, 0.3))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
            kills += 1
            continue
        assert child.returncode == 0 and child.stdout.read().strip() == "done True"
        break
    else:
        pytest.fail("the run never finished")
    assert kills >= 3
    with Store.open(f"sqlite:///{centre}") as store:
        receipts = store.receipts("e_copy", "r2")
        assert [r.batch for r in receipts] == list(range(1, len(receipts) + 1))
        changes = [sum(getattr(r, name) for r in receipts) for name in ("inserted", "updated", "deleted")]
        assert changes == [19, 40, 21] and store.summary("e_copy").last_seq == 2000 + sum(changes)
        # a row read twice by the run would have been quarantined as a repeated key: each was read once
        read = sum(r.rows_read for r in receipts if r.position["phase"] == "rows")
        key_list = store._keys("e_copy", store._shape("e_copy"))
        assert sum(r.rejected for r in receipts) == 0
        assert raw(store, f"SELECT count(*) FROM {key_list} WHERE run_id = 'r2'") == [(read,)]
        assert same_as_source(plan, store) and store.bucket_map("e_copy", "r2") is None
        assert run(plan, store, "r3").copy.rows_read == 0


# -- the store's side --------------------------------------------------------------------------------------

@pytest.mark.parametrize("store_kind", cases(("sqlite",), ("postgresql",)))
def test_the_store_keeps_each_rows_bucket_without_a_change_and_adds_the_column_to_old_tables(
        store_kind: str, make_store: Callable[[str], Store]) -> None:
    """``_bucket`` is written with new and changed rows; set on an unchanged row, it is no change (no new
    sequence number, counted unchanged); a table made before the column existed gets it from ensure_table;
    unseen rows are counted within buckets."""
    store = make_store(store_kind)
    items = [StoreColumn("编号", "I"), StoreColumn("名称", "C")]
    store.ensure_table("e_b", items, ["编号"])
    receipt = store.apply("e_b", [[1, "a"], [2, "b"]], run_id="r1", batch=1, position={}, rows_read=2,
                          read_hash="0" * 32)
    assert receipt.inserted == 2 and raw(store, "SELECT c1, _bucket FROM e_b ORDER BY c1") == [(1, None), (2, None)]
    again = store.apply("e_b", [[1, "a"], [2, "B"], [3, "c"]], run_id="r2", batch=1, position={}, rows_read=3,
                        read_hash="0" * 32, buckets=[0x1234, 0x8000, 0xFFFF])
    assert (again.inserted, again.updated, again.unchanged) == (1, 1, 1)
    assert raw(store, "SELECT c1, _bucket, _seq FROM e_b ORDER BY c1") == [(1, 0x1234, 1), (2, 0x8000, 3),
                                                                           (3, 0xFFFF, 4)]
    assert store.summary("e_b").last_seq == 4
    assert store.count_unseen("e_b", "r9", buckets=[1], shift=12) == (1, 3)
    assert store.count_unseen("e_b", "r9", buckets=[], shift=12) == (0, 3)
    assert store.unseen("e_b", "r2", 10, buckets=[15], shift=12) == []
    assert sorted(store.unseen("e_b", "r9", 10, buckets=[1, 8], shift=12)) == [(1,), (2,)]
    store._run("ALTER TABLE e_b DROP COLUMN _bucket")
    with Store.open(store_url(store)) as other:
        other.ensure_table("e_b", items, ["编号"])
        assert raw(other, "SELECT c1, _bucket FROM e_b ORDER BY c1") == [(1, None), (2, None), (3, None)]


def store_url(store: Store) -> str:
    if store.kind == "sqlite":
        path = next(row[2] for row in store._conn.execute("PRAGMA database_list") if row[1] == "main")
        return f"sqlite:///{path}"
    info = store._conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def test_a_sqlite_source_gets_its_functions_on_our_connection_only(tmp_path: Path) -> None:
    """SQLite has no MD5: the bucket and the digest are Python functions registered on the read-only connection
    the engine opens (the file itself is never written); the digest tells NULL, '' and 'NULL' apart."""
    path = tmp_path / "s.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript("CREATE TABLE t (k integer PRIMARY KEY, v text); "
                           "INSERT INTO t VALUES (1, NULL), (2, ''), (3, 'NULL');")
    before = path.read_bytes()
    from govshare.exchange.engine import sources

    with sources.connect(SourceSpec(kind="sqlite", database=str(path))) as conn:
        compare._sqlite_functions(conn, [0])
        maps = [json.loads(conn.execute("SELECT gs_map(k, v) FROM t WHERE k = ?", (k,)).fetchone()[0])
                for k in (1, 2, 3)]
        assert len({digest for found in maps for _, digest in found.values()}) == 3
        assert conn.execute("SELECT gs_bucket(1) = gs_bucket(1), gs_bucket(NULL)").fetchone() == (1, None)
    assert path.read_bytes() == before


def test_keys_equal_after_conversion_keep_the_bucket_of_the_row_applied(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """'07' and '7' are one integer key: the first in key order is applied, the other quarantined as a repeated
    key — and the row applied keeps the bucket of its own source key ('07'), not the other's."""
    source = make_source("sqlite", "CREATE TABLE t (code text PRIMARY KEY, name text); "
                                   "INSERT INTO t VALUES ('07', 'a'), ('7', 'b'), ('8', 'c');")
    store = make_store("sqlite")
    plan = source.plan("t", [("code", StoreColumn("代码", "I")), ("name", StoreColumn("名称", "C"))], ("code",))
    result = run(plan, store, "r1")
    assert (result.copy.inserted, result.copy.rejected) == (2, 1) and live(store)[7][1] == "a"
    assert raw(store, "SELECT _bucket FROM e_copy WHERE c1 = 7") == [(int.from_bytes(compare._md5(("07",))[:2],
                                                                                     "big"),)]


@pytest.mark.parametrize("source_kind", cases(("sqlite",), ("postgresql",), ("mysql",)))
def test_a_composite_key_with_a_date_chinese_text_and_a_decimal(
        source_kind: str, make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """A composite key's bucket is computed over all its parts (``ROW(…)::text``, ``JSON_ARRAY(…)``): a change
    reads one bucket, a deleted row is tombstoned, pages split rows of one day and name."""
    source = make_source(source_kind, VISITS_SQL)
    store = make_store("sqlite")
    plan = source.plan("visits", VISITS_COLUMNS, ("day", "名称", "序号"), batch_rows=5)
    first = run(plan, store, "r1")
    assert (first.copy.rows_read, first.copy.inserted, first.buckets) == (24, 24, 16)
    source.admin("UPDATE visits SET note = '改' WHERE 名称 = '王五' AND 序号 = 0.5;"
                 "DELETE FROM visits WHERE 名称 = '李' AND 序号 = 3.5;")
    second = run(plan, store, "r2")
    assert (second.copy.updated, second.copy.deleted) == (1, 1) and second.buckets_read in (1, 2)
    assert second.copy.rows_read < 10 and same_as_source(plan, store)
    assert run(plan, store, "r3").copy.rows_read == 0
