"""Watermark mode's key check by key ranges (EXC-1, EXC-7; issue 10 items 5, 6 and 7;
govshare/exchange/engine/keyranges.py): digests of key ranges on both servers, keys listed only where they differ —
the same rows restored, the same rows found gone and tombstoned as listing every key; a fall-back when most ranges
differ; resumption; kill -9 at 20 moments."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import pytest

from govshare.datastore.engine.store import Store, StoreColumn
from govshare.exchange.engine import keyranges, sources
from govshare.exchange.engine.copy import CopyPlan, delete_unseen, full_copy
from govshare.exchange.engine.fastcopy import _pipe, fast_full_copy, fast_key_scan, source_types
from tests import test_exchange_copy as _copy_tests
from tests.test_exchange_copy import Source, live, sequence_numbers
from tests.test_exchange_fastcopy import GOODS_COLUMNS, GOODS_SQL, _killed, _receipts, _unique

make_source = _copy_tests.make_source  # the fixtures of the full copy's tests
make_store = _copy_tests.make_store

pytestmark = [pytest.mark.once, pytest.mark.xdist_group("sources")]

# keys on both sides of zero, a dense run and a sparse tail (ranges of very different widths must still cover them)
WIDE_SQL = ("CREATE TABLE wide (id bigint PRIMARY KEY, name text, amount numeric(12, 2));"
            "INSERT INTO wide SELECT g, '名' || g, g * 0.5 FROM generate_series(-3000, 3000) g;"
            "INSERT INTO wide SELECT g * 1000003, 'far' || g, g FROM generate_series(4, 60) g;")
ROWS = 6001 + 57
WIDE_COLUMNS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 20)),
                ("amount", StoreColumn("金额", "N", 12))]
CHANGES = ("DELETE FROM wide WHERE id IN (-2999, -17, 0, 5, 2999, 7000021);"
           "INSERT INTO wide VALUES (-1500000, 'late', 1), (123456789, 'late', 2);"
           "UPDATE wide SET name = 'changed' WHERE id IN (10, 11);")


def _plan(source: Source, sql_table: str = "wide") -> CopyPlan:
    return _unique(source.plan(sql_table, WIDE_COLUMNS, ("id",), batch_rows=500))


def test_a_key_check_by_ranges_finds_exactly_what_listing_every_key_finds(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 deletions and missed rows: after a full copy, rows deleted at the source (zero, keys of the dense run
    and of the sparse tail), rows added without the incremental reads seeing them (a negative key, a
    key between the sparse ones) and rows changed — the check by ranges lists only the keys of the ranges that
    differ, restores the added rows, and leaves exactly the deleted rows unseen; tombstoned, the centre equals the
    one a check of every key (``fast_key_scan``) leaves, row for row and hash for hash."""
    source = make_source("postgresql", WIDE_SQL)
    plan = _plan(source)
    ranged, listed = make_store("postgresql"), make_store("postgresql")
    assert keyranges.eligible(plan, ranged, source_types(plan)) is None
    for store in (ranged, listed):
        full_copy(plan, store, run_id="r1")
    source.admin(CHANGES)
    notes: list[str] = []
    got = keyranges.range_key_check(plan, ranged, run_id="r2", log=notes.append)
    expected = fast_key_scan(plan, listed, run_id="r2")
    assert got is not None and got.complete
    assert (got.keys_read, got.rows_read, got.inserted) == (expected.keys_read, 2, 2) == (ROWS - 6 + 2, 2, 2)
    position = ranged.position("e_copy", "r2")
    assert position["phase"] == "keys" and position["done"] and position["ranges"]["differing"] == 7, position["ranges"]
    assert position["ranges"]["width"] == 16, "the dense run's density, not the sparse tail's"
    assert "ranges" in notes[-1] and "2 rows to read again" in notes[-1]
    listed_keys = ranged._conn.execute("SELECT count(*) FROM _gs_k_" + _key_list_suffix(ranged)).fetchone()[0]
    assert listed_keys < 200, "only the differing ranges' keys are listed"
    assert ranged.count_unseen("e_copy", "r2") == listed.count_unseen("e_copy", "r2") == (6, ROWS + 2)
    assert sorted(ranged.unseen("e_copy", "r2", 100)) == sorted(listed.unseen("e_copy", "r2", 100))
    for store in (ranged, listed):
        assert delete_unseen(plan, store, run_id="r2", guard_share=0.5).deleted == 6
    assert live(ranged) == live(listed)
    assert ranged.summary("e_copy") == listed.summary("e_copy")
    assert sequence_numbers(ranged) == sequence_numbers(listed)
    ranged.forget("e_copy", "r2")
    assert ranged._conn.execute("SELECT count(*) FROM _gs_key_ranges").fetchone()[0] == 0
    assert not ranged._is_ranged("e_copy", "r2")


def _key_list_suffix(store: Store) -> str:
    import hashlib

    return hashlib.sha256(b"e_copy").hexdigest()[:16]


def test_an_unchanged_source_lists_no_key_and_finds_nothing_gone(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-7: when every range's digest agrees, no key is listed, nothing is read again and no row is unseen —
    the key check of an unchanged table costs two aggregates, and a later check starts afresh (another run)."""
    source = make_source("postgresql", WIDE_SQL)
    plan = _plan(source)
    store = make_store("postgresql")
    full_copy(plan, store, run_id="r1")
    got = keyranges.range_key_check(plan, store, run_id="r2")
    assert got is not None and (got.keys_read, got.rows_read, got.batches) == (ROWS, 0, 1)
    assert store.position("e_copy", "r2")["ranges"]["differing"] == 0
    assert store.count_unseen("e_copy", "r2") == (0, ROWS)
    assert delete_unseen(plan, store, run_id="r2", guard_share=0.5).deleted == 0
    # called again, the check is done already: the same result, nothing more committed
    again = keyranges.range_key_check(plan, store, run_id="r2")
    assert again is not None and again.batches == 2 and store.last_batch("e_copy", "r2") == 2


def test_when_most_ranges_differ_every_key_is_listed_instead(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """When more than half of the ranges differ (a source emptied by half looks like this), the check by ranges
    commits nothing and says so; ``key_check`` then lists every key, and the mass-delete guard sees the same rows
    as it would have."""
    source = make_source("postgresql", WIDE_SQL)
    plan = _plan(source)
    store = make_store("postgresql")
    full_copy(plan, store, run_id="r1")
    source.admin("DELETE FROM wide WHERE id % 3 = 0;")
    notes: list[str] = []
    assert keyranges.range_key_check(plan, store, run_id="r2", log=notes.append) is None
    assert store.last_batch("e_copy", "r2") == 0 and "every key listed instead" in notes[-1]
    got = keyranges.key_check(plan, plan, store, run_id="r2", log=notes.append)
    assert "binary COPY of every key" in notes[-1]
    gone = delete_unseen(plan, store, run_id="r2", guard_share=0.2)
    # multiples of 3: 2 001 of the dense run, 19 of the sparse tail (1 000 003 ≡ 1 mod 3)
    assert gone.held and gone.pending == 2001 + 19 and got.keys_read == ROWS - gone.pending


def test_a_check_stopped_between_its_two_commits_is_done_again_without_a_trace(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 checkpoints: the rows read again are committed first; a worker that dies before the keys are listed
    leaves a run whose next attempt checks again — the restored rows then present, the same rows unseen."""
    source = make_source("postgresql", WIDE_SQL)
    plan = _plan(source)
    store = make_store("postgresql")
    full_copy(plan, store, run_id="r1")
    source.admin(CHANGES)

    class Died(Exception):
        pass

    def die(_receipt: Any) -> None:
        raise Died

    with pytest.raises(Died):
        keyranges.range_key_check(plan, store, run_id="r2", on_batch=die)
    assert store.last_batch("e_copy", "r2") == 1 and store.position("e_copy", "r2").get("restore")
    got = keyranges.range_key_check(plan, store, run_id="r2")
    # the rows read again are there now: nothing more to restore, the keys listed in the next batch
    assert got is not None and got.inserted == 2 and store.last_batch("e_copy", "r2") == 2
    assert [(r.inserted, r.position.get("restore", False)) for r in store.receipts("e_copy", "r2")] == \
        [(2, True), (0, False)]
    assert store.count_unseen("e_copy", "r2")[0] == 6


def test_keys_at_both_ends_of_bigint_fall_into_ranges_of_their_own(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """The smallest and largest bigints and negative keys: each range is the floor of key ÷ width (PostgreSQL's
    ``/`` truncates towards zero), bounded within bigint — the extremes deleted and one added are found exactly."""
    source = make_source("postgresql", "CREATE TABLE ends (id bigint PRIMARY KEY, name text);"
                                       "INSERT INTO ends SELECT g, 'n' || g FROM generate_series(-1000, 2000) g;"
                                       "INSERT INTO ends VALUES (-9223372036854775808, 'min'), "
                                       "(-9223372036854775807, 'min+1'), (9223372036854775807, 'max');")
    plan = _unique(source.plan("ends", WIDE_COLUMNS[:2], ("id",), batch_rows=500))
    store = make_store("postgresql")
    full_copy(plan, store, run_id="r1")
    source.admin("DELETE FROM ends WHERE id IN (-9223372036854775808, 9223372036854775807, -1);"
                 "INSERT INTO ends VALUES (9223372036854775806, 'max-1');")
    got = keyranges.range_key_check(plan, store, run_id="r2")
    assert got is not None and got.inserted == 1
    assert store.position("e_copy", "r2")["ranges"]["differing"] == 3
    assert sorted(store.unseen("e_copy", "r2", 10)) == [(-9223372036854775808,), (-1,), (9223372036854775807,)]
    assert keyranges.bounds(-(2**59), 16) == (-(2**63), -(2**63) + 15)
    assert keyranges.bounds(2**59 - 1, 16) == (2**63 - 16, 2**63 - 1)


def test_eligible_says_why_a_plan_is_not_checked_by_ranges(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Only one integer key item from an integer column, PostgreSQL on both sides; else the reason."""
    source = make_source("postgresql", WIDE_SQL + "CREATE TABLE coded (code text PRIMARY KEY, n integer);"
                         "CREATE TABLE texty (id text PRIMARY KEY, n integer);")
    pg, lite = make_store("postgresql"), make_store("sqlite")
    plan = _plan(source)
    assert keyranges.eligible(plan, lite, source_types(plan)) == "the centre's store is sqlite, not PostgreSQL"
    coded = source.plan("coded", [("code", StoreColumn("代码", "C", 10)), ("n", StoreColumn("数", "I"))], ("code",))
    assert "is not an integer" in str(keyranges.eligible(coded, pg, source_types(coded)))
    texty = source.plan("texty", [("id", StoreColumn("编号", "I")), ("n", StoreColumn("数", "I"))], ("id",))
    assert "from a column of type text" in str(keyranges.eligible(texty, pg, source_types(texty)))
    pair = source.plan("wide", WIDE_COLUMNS, ("id", "name"))
    assert keyranges.eligible(pair, pg, source_types(pair)) == "the key has more than one item"


def test_kill_9_at_20_moments_of_an_incremental_run_checked_by_ranges_loses_and_duplicates_nothing(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 checkpoints (issue 10 item 6): an incremental run as a run takes it — changed rows by update time
    through binary COPY, the key check by ranges with its digests begun before, the tombstones — killed 20 times and run to its end: receipts without a gap, 2 000 rows updated and 300
    deleted exactly once, the centre's content hash equal to a keyset copy's of the same source."""
    source = make_source("postgresql", GOODS_SQL)
    plan = dataclasses.replace(_unique(source.plan("goods", GOODS_COLUMNS, ("id",), batch_rows=200)),
                               watermark="updated_at")
    store, reference = make_store("postgresql"), make_store("postgresql")
    url = store._url
    seed = int.from_bytes(os.urandom(4), "big")
    first = fast_full_copy(plan, store, run_id="full")
    source.admin("UPDATE goods SET amount = amount + 1, updated_at = '2024-06-01 00:00:00' WHERE id % 10 = 3;"
                 "DELETE FROM goods WHERE id % 50 = 7 AND id <= 15000;")

    small = dataclasses.replace(plan, batch_rows=20)  # some 120 batches: 20 kills land before the end

    def incremental(opened: Store) -> None:  # as a run takes it: the digests begun while the rows are copied
        _rows, keys = keyranges.incremental(small, small, opened, run_id="inc", since=first.watermark,
                                            overlap_seconds=60, check_keys=True)
        assert keys is not None
        delete_unseen(small, opened, run_id="inc", guard_share=0.5)

    inc = _killed(incremental, url, "inc", 20, seed)
    assert inc == sorted(inc) and inc[-1] > 0, f"seed {seed}: {inc}"
    incremental(store)
    receipts = store.receipts("e_copy", "inc")
    assert [r.batch for r in receipts] == list(range(1, len(receipts) + 1)), f"seed {seed}"
    assert sum(r.updated for r in receipts) == 2_000 and sum(r.inserted for r in receipts) == 0, f"seed {seed}"
    assert sum(r.deleted for r in receipts) == 300, f"seed {seed}"
    assert any(r.position.get("ranges") for r in receipts), f"seed {seed}"
    summary = store.summary("e_copy")
    assert (summary.live_rows, summary.deleted_rows, summary.last_seq) == (19_700, 300, 22_300), f"seed {seed}"
    full_copy(plan, reference, run_id="reference")
    assert summary.content_hash == reference.summary("e_copy").content_hash, f"seed {seed}"
    assert _receipts(store, "inc")[-1][-1]["phase"] == "deletes"


def test_digests_begun_before_the_changed_rows_are_copied_find_exactly_the_same_rows(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """The digests are computed while the changed rows are copied (``keyranges.incremental``): the rows the copy
    adds after the centre's digest (new keys, a key deleted and added again) make their ranges differ and are
    listed — found present, neither read again nor taken for deleted; a row the update-time reads miss (an old
    update time) is read again; the deleted rows are exactly the unseen ones; the centre ends equal, hash for hash,
    to a full copy of the source."""
    source = make_source("postgresql", GOODS_SQL)
    plan = dataclasses.replace(_unique(source.plan("goods", GOODS_COLUMNS, ("id",), batch_rows=500)),
                               watermark="updated_at")
    store, reference = make_store("postgresql"), make_store("postgresql")
    first = full_copy(plan, store, run_id="full")
    source.admin("UPDATE goods SET amount = amount + 1, updated_at = '2024-06-01' WHERE id % 100 = 3;"
                 "DELETE FROM goods WHERE id % 97 = 5;"
                 "INSERT INTO goods VALUES (30001, '新', 1, '2024-06-01'), (30002, '新', 2, '2024-06-01'), "
                 "(-5, '负', 3, '2024-06-01'), (40000, '旧时间', 4, '2020-01-01');"
                 "DELETE FROM goods WHERE id = 7; INSERT INTO goods VALUES (7, '又来', 7, '2024-06-01');")
    notes: list[str] = []
    rows, keys = keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                                       check_keys=True, log=notes.append)
    assert keys is not None and any("binary COPY" in note for note in notes)
    checked = next(note for note in notes if note.startswith("key check by ranges:"))
    assert checked.endswith("1 rows to read again"), checked  # id 40000, whose update time is before the mark
    assert (rows.inserted, keys.inserted, keys.rows_read) == (3, 4, rows.rows_read + 1)  # the run's totals so far
    deleted = len([g for g in range(1, 20001) if g % 97 == 5])
    assert store.count_unseen("e_copy", "inc")[0] == deleted
    assert delete_unseen(plan, store, run_id="inc", guard_share=0.5).deleted == deleted
    full_copy(plan, reference, run_id="reference")
    assert live(store) == live(reference)
    assert store.summary("e_copy").content_hash == reference.summary("e_copy").content_hash


# -- what an adversarial review of the 17th session found (each a defect fixed) ---------------------------------

def _goods(source: Source, *, unique: bool, batch_rows: int = 500) -> CopyPlan:
    plan = dataclasses.replace(source.plan("goods", GOODS_COLUMNS, ("id",), batch_rows=batch_rows),
                               watermark="updated_at")
    return _unique(plan) if unique else plan


def _copied(make_source: Callable[[str, str], Source], make_store: Callable[[str], Store], *, unique: bool = True,
            before: str = "") -> tuple[Source, CopyPlan, Store, Any]:
    """The goods table at a PostgreSQL source (``before``: a script run there first) copied in full into a
    PostgreSQL centre: (source, plan by update time, store, the full copy's result)."""
    source = make_source("postgresql", GOODS_SQL)
    if before:
        source.admin(before)
    plan = _goods(source, unique=unique)
    store = make_store("postgresql")
    return source, plan, store, full_copy(plan, store, run_id="full")


@pytest.mark.parametrize("unique", [False, True], ids=["keyset-copy", "fast-copy"])
def test_a_row_back_at_the_source_after_the_digests_is_not_tombstoned(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch, unique: bool) -> None:
    """Review: rows 100 and 101 deleted at the source; the digests are taken; 101 comes back and a new row 20006
    is added while the run copies — the keys are listed after the copy, so only 100 is tombstoned."""
    source, plan, store, first = _copied(make_source, make_store, unique=unique)
    source.admin("DELETE FROM goods WHERE id IN (100, 101);"
                 "INSERT INTO goods SELECT g, 'n', 1, '2024-06-01' FROM generate_series(20001, 20005) g;")
    original = keyranges.begin

    def begin(*args: Any, **kwargs: Any) -> Any:
        digests = original(*args, **kwargs)
        assert digests is not None
        digests._source.result()  # the source's digests are read
        source.admin("INSERT INTO goods VALUES (101, 'back', 1, '2024-06-01'), (20006, 'n', 1, '2024-06-01');")
        return digests

    monkeypatch.setattr(keyranges, "begin", begin)
    _rows, keys = keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                                        check_keys=True)
    assert keys is not None
    assert delete_unseen(plan, store, run_id="inc", guard_share=0.5).deleted == 1
    rows = live(store)
    assert 100 not in rows and rows[101][1] == "back" and 20006 in rows


VIEW_SQL = GOODS_SQL + (
    "CREATE TABLE flag (on_ boolean);"
    "CREATE FUNCTION chk(i integer) RETURNS integer LANGUAGE plpgsql STABLE AS $$ BEGIN "
    "IF EXISTS (SELECT 1 FROM flag) THEN RAISE EXCEPTION 'the source refuses'; END IF; RETURN i; END $$;"
    "CREATE VIEW vgoods AS SELECT chk(id) AS id, name, amount, updated_at FROM goods;")


@pytest.mark.parametrize("where", ["digests", "listing", "restore"])
def test_a_source_that_fails_during_the_check_is_named_as_the_source(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Review: a source error while the digests are read, while the keys are listed (inside the centre's
    transaction) or while missing rows are read again leaves as the source's ``SourceError`` — a run then says
    the front-end database failed, not the centre (nor "an unexpected error")."""
    source = make_source("postgresql", VIEW_SQL)
    plan = source.plan("vgoods" if where == "digests" else "goods", GOODS_COLUMNS, ("id",), batch_rows=500)
    store = make_store("postgresql")
    full_copy(plan, store, run_id="full")
    source.admin("DELETE FROM goods WHERE id = 100; INSERT INTO goods VALUES (30000, 'x', 1, '2020-01-01');")
    if where == "digests":
        source.admin("INSERT INTO flag VALUES (true);")
    elif where == "listing":
        original = keyranges._indexed

        def indexed(conn: Any, plan: CopyPlan) -> bool:
            found = original(conn, plan)
            source.admin(f"SELECT pg_terminate_backend({conn.info.backend_pid})")
            return found

        monkeypatch.setattr(keyranges, "_indexed", indexed)
    else:
        original_restore = keyranges._restore

        def restore(plan: CopyPlan, store: Store, conn: Any, *args: Any, **kwargs: Any) -> Any:
            source.admin(f"SELECT pg_terminate_backend({conn.info.backend_pid})")
            return original_restore(plan, store, conn, *args, **kwargs)

        monkeypatch.setattr(keyranges, "_restore", restore)
    with pytest.raises(sources.SourceError):
        keyranges.range_key_check(plan, store, run_id="r2")
    assert store.last_batch("e_copy", "r2") == 0


def test_a_copy_that_fails_while_the_digests_run_stops_them(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: the copy fails while the centre still computes its digests — the run's error leaves, the digests'
    statements are cancelled, no thread and no session of the check is left behind."""
    import threading
    import time

    from govshare.exchange.engine import fastcopy

    _source, plan, store, first = _copied(make_source, make_store)
    original = Store.range_digests

    def slow_digests(self: Store, table: str, *, width: int) -> int:
        self._conn.execute("SELECT pg_sleep(30)")
        return original(self, table, width=width)

    def failing_copy(*_args: Any, **_kwargs: Any) -> Any:
        time.sleep(0.3)
        raise RuntimeError("the copy failed")

    monkeypatch.setattr(Store, "range_digests", slow_digests)
    monkeypatch.setattr(fastcopy, "incremental_copy", failing_copy)
    before = set(threading.enumerate())  # (a thread of an earlier test may end meanwhile: not counted)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the copy failed"):
        keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                              check_keys=True)
    assert time.monotonic() - started < 20, "the centre's 30 s statement was cancelled"
    assert not set(threading.enumerate()) - before, "no thread of the check is left behind"
    others = store._conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND state <> 'idle'").fetchone()[0]
    assert others == 0


def test_another_workers_page_of_keys_hands_the_check_to_listing_every_key(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: a worker presumed dead checks by ranges while the one that took the run over lists every key and
    commits its first page at the same batch number — the check by ranges does not call itself done: the key
    check goes on from the other's page, and exactly the deleted row is unseen."""
    source, plan, store, _first = _copied(make_source, make_store)
    other = Store.open(store._url)
    source.admin("DELETE FROM goods WHERE id = 100;")
    original = Store.remember_ranges

    def remember_ranges(self: Store, table: str, **kwargs: Any) -> Any:
        if self is store:
            other.remember(table, [[k] for k in range(1, 501) if k != 100], run_id=kwargs["run_id"],
                           batch=kwargs["batch"], rows_read=499,
                           position={"phase": "keys", "after": [["int", "500"]], "done": False,
                                     "mark": kwargs["position"]["mark"]})
        return original(self, table, **kwargs)

    monkeypatch.setattr(Store, "remember_ranges", remember_ranges)
    assert keyranges.range_key_check(plan, store, run_id="r2") is None
    monkeypatch.setattr(Store, "remember_ranges", original)
    done = keyranges.key_check(plan, plan, store, run_id="r2")
    other.close()
    assert done.complete and store.count_unseen("e_copy", "r2") == (1, 20_000)


def test_only_a_plain_btree_index_is_read_range_by_range(make_source: Callable[[str, str], Source]) -> None:
    """Review: a hash, partial or BRIN index starting with the key cannot serve ``BETWEEN`` ranges (the listing
    would scan the table once per range): such a table is listed in one pass instead; a primary key serves."""
    source = make_source("postgresql", "CREATE TABLE h (id bigint, v text); CREATE INDEX ON h USING hash (id);"
                                       "CREATE TABLE p (id bigint, v text, gone boolean);"
                                       "CREATE UNIQUE INDEX ON p (id) WHERE NOT gone;"
                                       "CREATE TABLE b (id bigint, v text); CREATE INDEX ON b USING brin (id);"
                                       "CREATE TABLE k (id bigint PRIMARY KEY, v text);"
                                       'CREATE SCHEMA "S%"; CREATE TABLE "S%"."K""q" (id bigint PRIMARY KEY);')
    columns = [("id", StoreColumn("编号", "I")), ("v", StoreColumn("值", "C", 5))]
    for name, expected in (("h", False), ("p", False), ("b", False), ("k", True)):
        plan = source.plan(name, columns, ("id",))
        with sources.connect(plan.source) as conn:
            assert keyranges._indexed(conn, plan) is expected, name
    quoted = dataclasses.replace(source.plan('K"q', columns[:1], ("id",)), schema="S%")
    with sources.connect(quoted.source) as conn:
        assert keyranges._indexed(conn, quoted)


def test_an_incremental_run_with_a_key_check_makes_its_table_first(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Review: an incremental run (with its key check) into a centre without the entry's table makes it, as the
    copy alone does; every range then differs and every key is listed."""
    source = make_source("postgresql", GOODS_SQL)
    plan = _goods(source, unique=True)
    store = make_store("postgresql")
    notes: list[str] = []
    rows, keys = keyranges.incremental(plan, plan, store, run_id="r2", since=None, overlap_seconds=0,
                                       check_keys=True, log=notes.append)
    assert rows.inserted == 20_000 and keys is not None and keys.keys_read == 20_000
    assert any("every key" in note for note in notes), notes


def test_a_source_that_ends_idle_transactions_does_not_fail_the_check(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: the check holds no transaction open on the source while the rows are copied (a source whose
    ``idle_in_transaction_session_timeout`` is 1 s, a copy of 2.5 s) — and no snapshot that would keep the source's
    vacuum from cleaning up."""
    import time

    from govshare.exchange.engine import fastcopy

    source, plan, store, first = _copied(make_source, make_store)
    source.admin(f'ALTER ROLE "{source.spec.user}" SET idle_in_transaction_session_timeout = \'1s\'')
    source.admin("DELETE FROM goods WHERE id = 100;"
                 "UPDATE goods SET amount = 0, updated_at = '2024-06-01' WHERE id % 10 = 1;")
    original = fastcopy.incremental_copy

    def long_copy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        time.sleep(2.5)
        return result

    monkeypatch.setattr(fastcopy, "incremental_copy", long_copy)
    _rows, keys = keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                                        check_keys=True)
    assert keys is not None and keys.complete
    assert delete_unseen(plan, store, run_id="inc", guard_share=0.5).deleted == 1


# -- what a second review (of the first review's fixes) found ----------------------------------------------------

def test_a_centre_that_fails_while_the_keys_are_listed_is_named_as_the_centre(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Second review: psycopg's errors do not say which connection raised them — the listing tells the two sides
    apart by where the error came from: the centre refusing the rows is the centre's error (the store's to name),
    the source failing to send them is the source's ``SourceError``."""
    import psycopg

    source = make_source("postgresql", GOODS_SQL)
    store = make_store("postgresql")
    store._conn.execute("CREATE TEMP TABLE probe_k (k bigint CHECK (k < 0))")
    with sources.connect(source.spec) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            _pipe(conn, "COPY (SELECT 1::bigint) TO STDOUT (FORMAT BINARY)", (), store._conn,
                              "COPY probe_k (k) FROM STDIN (FORMAT BINARY)")
        with pytest.raises(sources.SourceError):
            _pipe(conn, "COPY (SELECT 1 / 0) TO STDOUT (FORMAT BINARY)", (), store._conn,
                              "COPY probe_k (k) FROM STDIN (FORMAT BINARY)")
        assert _pipe(conn, "COPY (SELECT -g::bigint FROM generate_series(1, 3) g) TO STDOUT "
                                       "(FORMAT BINARY)", (), store._conn,
                                 "COPY probe_k (k) FROM STDIN (FORMAT BINARY)") == 3


def test_a_source_account_that_may_not_run_hashint8_falls_back_to_listing_every_key(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Second review: the function exists but the account may not execute it — the check lists every key, the
    run does not fail."""
    source, plan, store, first = _copied(make_source, make_store,
                                         before="REVOKE EXECUTE ON FUNCTION hashint8(bigint) FROM PUBLIC;")
    source.admin("DELETE FROM goods WHERE id = 100;")
    notes: list[str] = []
    _rows, keys = keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                                        check_keys=True, log=notes.append)
    assert keys is not None and keys.keys_read == 19_999
    assert any("not here" in note for note in notes) and any("every key" in note for note in notes), notes
    assert delete_unseen(plan, store, run_id="inc", guard_share=0.5).deleted == 1


def test_another_workers_read_again_at_the_same_batch_is_not_taken_for_the_checks_own(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Second review: a worker listing every key commits its first page's rows read again at the batch number the
    check by ranges uses for its own — the positions differ (``ranges``), so the check hands over instead of
    calling itself done, and both missing rows end up in the centre."""
    from govshare.exchange.engine import copy as copy_engine

    source, plan, store, _first = _copied(make_source, make_store)
    other = Store.open(store._url)
    # rows the incremental reads missed: in the source, not live in the centre
    store.tombstone("e_copy", [[5], [15000]], run_id="gone", batch=1, position={"phase": "deletes", "done": True})
    original = keyranges._restore

    def restore(plan: CopyPlan, store_: Store, conn: Any, absent: Any, **kwargs: Any) -> Any:
        copy_engine._restore(plan, other, conn, [(5,)], run_id=kwargs["run_id"], batch=kwargs["batch"], after=None,
                             mark=kwargs["mark"])
        return original(plan, store_, conn, absent, **kwargs)

    monkeypatch.setattr(keyranges, "_restore", restore)
    assert keyranges.range_key_check(plan, store, run_id="r2") is None
    monkeypatch.setattr(keyranges, "_restore", original)
    done = keyranges.key_check(plan, plan, store, run_id="r2")
    other.close()
    assert done.complete
    rows = live(store)
    assert 5 in rows and 15000 in rows
