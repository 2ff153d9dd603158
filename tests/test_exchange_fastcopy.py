"""The fast full copy PostgreSQL → PostgreSQL centre (EXC-1; govshare/exchange/engine/fastcopy.py; issue 10,
docs/decisions/0004-table-copy-paths.md point 3): the same centre rows, hashes, receipts and quarantine as
:func:`full_copy`, value by value for every letter it takes; resumption; when it refuses a plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import pytest

from govshare.datastore.engine.store import Store, StoreColumn
from govshare.exchange.engine.copy import (
    CopyPlan,
    delete_unseen,
    encode_key,
    full_copy,
    key_scan,
    watermark_copy,
)
from govshare.exchange.engine.fastcopy import (
    eligible,
    fast_full_copy,
    fast_key_scan,
    fast_watermark_copy,
    keys_eligible,
    source_types,
)
from govshare.exchange.engine.rules import RuleSet
from tests import test_exchange_copy as _copy_tests
from tests.test_exchange_copy import Source, cases, live, reconciles, sequence_numbers, stop_after

make_source = _copy_tests.make_source  # the fixtures of the full copy's tests
make_store = _copy_tests.make_store

pytestmark = pytest.mark.once

EVERY_SQL = r"""
CREATE TABLE every (id integer PRIMARY KEY, c varchar(20), m text, n numeric, y numeric(12, 2), i bigint,
                    i2 smallint, d date, t timestamp, tz timestamptz, l boolean, g bytea, small integer,
                    cv varchar(4), t3 timestamp(3));
INSERT INTO every (id) VALUES (1);
INSERT INTO every VALUES
 (2, '张三', '备注：第一行，中文', 0, 0.00, 0, 0, '2024-01-31', '2024-01-01 00:00:00', '2024-01-01 08:00:00+08',
  true, '\x', 0, '', '2024-01-01 00:00:00.123'),
 (3, '', '', -0.01, 1.50, -9223372036854775808, -32768, '9999-12-31', '2024-01-01 12:34:56.789',
  '1999-12-31 23:59:59.000001-05:30', false, '\x00ff', -999, 'abcd', '2024-01-01 00:00:01'),
 (4, 'O''Brien"x', E'tab\there\nnewline \\ back', 100, 100.00, 9223372036854775807, 32767, '0001-01-01',
  '0001-01-01 00:00:00', '2024-06-30 23:59:59.5+00', true, '\x0001474946', 999, '中文四字', NULL),
 (5, '一二三四五六七八九十', 'x', 1.50, -1234.5, 7, 7, '0099-03-04', '1970-01-01 00:00:00.000001',
  '9999-12-30 12:00:00+00', NULL, '\xdeadbeef', 100, 'x', '9999-12-31 23:59:59.999'),
 (6, 'abcdefghijk', 'too long', 1, 1, 1, 1, '2020-01-01', '2020-01-01', '2020-01-01 00:00+00', true, '\x', 1,
  'a', NULL),
 (7, 'nan', 'x', 'NaN', 1, 1, 1, '2020-01-01', '2020-01-01', '2020-01-01 00:00+00', true, '\x', 1, 'a', NULL),
 (8, 'inf date', 'x', 1, 1, 1, 1, 'infinity', '2020-01-01', '2020-01-01 00:00+00', true, '\x', 1, 'a', NULL),
 (9, 'inf time', 'x', 1, 1, 1, 1, '2020-01-01', '-infinity', 'infinity', true, '\x', 1, 'a', NULL),
 (10, 'digits', 'x', 1, 1234.56, 1, 1, '2020-01-01', '2020-01-01', '2020-01-01 00:00+00', true, '\x', 1000,
  'a', NULL),
 (11, 'bc', 'x', 123456789012345678901234567890.12345678901234567890, 9999999999.99, 1, 1,
  '0044-03-15 BC', '2020-01-01', '2020-01-01 00:00+00', true, '\x', -1000, 'a', NULL),
 (12, 'tiny', 'x', 0.00000000000000000001000, 0.01, 1, 1, '2020-02-29', '2020-01-01 00:00:00.100000',
  '0001-01-02 00:00:00+00', false, '\x', 5, 'a', '2020-01-01 00:00:00.1'),
 (13, '十个字正好十个字啊啊', 'x', -123.000, -0.10, 1, 1, '2020-02-29', '2020-01-01', '2020-01-01 00:00+14',
  false, '\x', 5, 'a', NULL);
INSERT INTO every (id, m) SELECT g, 'row ' || g FROM generate_series(14, 30) g;
"""
EVERY_COLUMNS = [("id", StoreColumn("编号", "I")), ("c", StoreColumn("名称", "C", 10)), ("m", StoreColumn("备注", "M")),
                 ("n", StoreColumn("数", "N")), ("y", StoreColumn("金额", "Y", 5)), ("i", StoreColumn("大数", "I")),
                 ("i2", StoreColumn("小数", "I")), ("d", StoreColumn("日期", "D")), ("t", StoreColumn("时间", "T")),
                 ("tz", StoreColumn("带时区", "T")), ("l", StoreColumn("有效", "L")), ("g", StoreColumn("照片", "G")),
                 ("small", StoreColumn("三位", "N", 3)), ("cv", StoreColumn("短", "C", 4)),
                 ("t3", StoreColumn("毫秒", "T"))]


def _hashes(store: Store, table: str = "e_copy") -> dict[Any, bytes]:
    return {key: bytes(digest) for key, digest in store._conn.execute(f'SELECT c1, _hash FROM "{table}"')}


def _centre(store: Store, table: str = "e_copy") -> list[tuple[Any, ...]]:
    return [tuple(row) for row in store.changes_since(table, 0, 1_000_000)]


def _quarantine(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    return [(q["key"], q["item"], q["reason"]) for q in store.quarantine("e_copy", run_id)]


def _receipts(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    return [(r.batch, r.rows_read, r.inserted, r.updated, r.unchanged, r.rejected, r.read_hash, r.written_hash,
             r.position) for r in store.receipts("e_copy", run_id)]


def _unique(plan: CopyPlan) -> CopyPlan:
    return dataclasses.replace(plan, key_unique=True)


def resumes_either_way(plan: CopyPlan, store: Store, other: Store) -> None:
    """23 rows in pages of 5 (ids 1…23): stopped after batch 2, resumed; begun by one path, finished by the other
    — the same receipts as one copy (this file's and tests/test_exchange_mysqlcopy.py's test of checkpoints)."""
    on_batch, should_stop = stop_after(2)
    stopped = fast_full_copy(plan, store, run_id="r1", on_batch=on_batch, should_stop=should_stop)
    assert (stopped.complete, stopped.batches, stopped.rows_read) == (False, 2, 10)
    assert store.position("e_copy", "r1") == {"phase": "rows", "after": [["int", "10"]], "done": False, "mark": None}
    seen: list[int] = []
    resumed = fast_full_copy(plan, store, run_id="r1", on_batch=lambda receipt: seen.append(receipt.batch))
    assert (resumed.complete, resumed.resumed_from_batch, seen) == (True, 2, [3, 4, 5])
    assert (resumed.batches, resumed.rows_read, resumed.inserted, resumed.unchanged) == (5, 23, 23, 0)
    assert sorted(live(store)) == list(range(1, 24)) and reconciles(store, resumed)
    again = fast_full_copy(plan, store, run_id="r1")
    assert (again.batches, again.rows_read, again.resumed_from_batch) == (5, 23, 5)
    # begun fast, finished by full_copy (and the other way round): the same receipts as one copy
    on_batch, should_stop = stop_after(2)
    fast_full_copy(plan, other, run_id="r1", on_batch=on_batch, should_stop=should_stop)
    finished = full_copy(plan, other, run_id="r1")
    assert _receipts(other, "r1") == _receipts(store, "r1") and reconciles(other, finished)
    on_batch, should_stop = stop_after(3)
    full_copy(plan, other, run_id="r2", on_batch=on_batch, should_stop=should_stop)
    finished = fast_full_copy(plan, other, run_id="r2")
    assert (finished.batches, finished.unchanged, finished.resumed_from_batch) == (5, 23, 3)


@pytest.mark.parametrize("batch_rows", [4, 5000])
@pytest.mark.xdist_group("sources")
def test_the_fast_copy_gives_exactly_what_full_copy_gives_for_every_letter(
        batch_rows: int, make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """The test that matters (decision 0004): for every letter the fast path takes, with NULLs, Chinese text,
    empty text and bytes, zeros, negatives, trailing zeros, the ends of the date range, micro- and whole
    seconds, a zone — the same centre rows and sequence numbers, the same _hash per row, the same content hash,
    the same receipts, and the same rows quarantined with the same reasons, word for word."""
    source = make_source("postgresql", EVERY_SQL)
    plan = _unique(source.plan("every", EVERY_COLUMNS, ("id",), batch_rows=batch_rows))
    slow, fast = make_store("postgresql"), make_store("postgresql")
    assert eligible(plan, fast, source_types(plan)) is None
    expected = full_copy(plan, slow, run_id="r1")
    got = fast_full_copy(plan, fast, run_id="r1")
    assert dataclasses.replace(got, seconds=0) == dataclasses.replace(expected, seconds=0)
    assert (got.rows_read, got.rejected, got.complete) == (30, 6, True)
    assert _centre(fast) == _centre(slow)
    assert _hashes(fast) == _hashes(slow)
    assert fast.summary("e_copy") == slow.summary("e_copy")
    assert _receipts(fast, "r1") == _receipts(slow, "r1")
    assert _quarantine(fast, "r1") == _quarantine(slow, "r1")
    codes = [(key, item, reason.split(":")[0]) for key, item, reason in _quarantine(fast, "r1")]
    assert codes == [("6", "名称", "too_long"), ("7", "数", "not_finite"), ("8", "日期", "not_a_date"),
                     ("9", "时间", "not_a_datetime"), ("9", "带时区", "not_a_datetime"),
                     ("10", "金额", "too_many_digits"), ("10", "三位", "too_many_digits"),
                     ("11", "金额", "too_many_digits"), ("11", "日期", "not_a_datetime"),  # full_copy's word for BC
                     ("11", "三位", "too_many_digits")]
    assert reconciles(fast, got)
    # each copy finds the other's rows unchanged: the hashes are the same bytes
    again = full_copy(plan, fast, run_id="r2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 24)
    again = fast_full_copy(plan, slow, run_id="r2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 24)


ITEMS_SQL = ("CREATE TABLE items (id integer PRIMARY KEY, name varchar(40), amount numeric(12, 2));\n"
             "INSERT INTO items SELECT g, '物品' || g, g + 0.25 FROM generate_series(1, 23) g;")
ITEMS_COLUMNS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 40)),
                 ("amount", StoreColumn("金额", "N"))]


@pytest.mark.xdist_group("sources")
def test_a_stopped_fast_copy_resumes_after_its_last_committed_batch(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Checkpoints as full_copy's: stopped after batch 2, two batches and their position committed; resumed,
    receipts 1…n without a gap and the totals of one copy; a run begun by one path is finished by the other."""
    source = make_source("postgresql", ITEMS_SQL)
    plan = _unique(source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=5))
    store, other = make_store("postgresql"), make_store("postgresql")
    resumes_either_way(plan, store, other)


@pytest.mark.xdist_group("sources")
def test_a_pipelined_fast_copy_that_fails_keeps_the_batches_before_and_resumes(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 checkpoints with the pipeline: batch k + 1 is read on a second connection of the centre while batch
    k commits.  A source that loses a column after batch 1 fails the copy: what is committed is a gap-free run of
    batches with exactly their rows (a batch already read may still commit, none after the failure), nothing
    half-written; once the source is mended, the copy resumes and reconciles, the second connection closed."""
    source = make_source("postgresql", ITEMS_SQL)
    plan = _unique(source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=5))
    store = make_store("postgresql")
    opened: list[Store] = []

    def twin() -> Store | None:
        other = Store.twin(store)
        assert other is not None
        opened.append(other)
        return other

    store.twin = twin  # type: ignore[method-assign]

    def on_batch(receipt: Any) -> None:
        if receipt.batch == 1:
            source.admin("ALTER TABLE items RENAME COLUMN amount TO amount_old;")

    with pytest.raises(Exception, match="amount"):
        fast_full_copy(plan, store, run_id="r1", on_batch=on_batch)
    assert len(opened) == 1 and opened[0]._conn.closed
    batches = [r.batch for r in store.receipts("e_copy", "r1")]
    assert batches in ([1], [1, 2])
    assert sorted(live(store)) == list(range(1, 5 * len(batches) + 1))
    source.admin("ALTER TABLE items RENAME COLUMN amount_old TO amount;")
    resumed = fast_full_copy(plan, store, run_id="r1")
    assert (resumed.complete, resumed.batches, resumed.rows_read, resumed.resumed_from_batch) == \
        (True, 5, 23, len(batches))
    assert sorted(live(store)) == list(range(1, 24)) and reconciles(store, resumed)
    assert sorted(sequence_numbers(store).values()) == list(range(1, 24))


@pytest.mark.xdist_group("sources")
def test_a_fast_worker_that_finds_its_batch_committed_by_another_goes_on_from_the_committed_position(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Two workers on one run — the second, presumed dead but still running, continues from what the first
    committed, not from its own page: no row is lost, one batch is the last."""
    source = make_source("postgresql", "CREATE TABLE t (id integer PRIMARY KEY, v text);"
                                       "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 9) g;")
    plan = _unique(source.plan("t", [("id", StoreColumn("编号", "I")), ("v", StoreColumn("值", "C", 20))], ("id",),
                               batch_rows=3))
    a = make_store("postgresql")
    info = a._conn.info
    url = f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"

    class Late(Store):  # asked for the last batch before the other worker committed batch 1
        first = True

        def last_batch(self, table: str, run_id: str) -> int:
            if self.first:
                self.first = False
                return 0
            return super().last_batch(table, run_id)

    def on_batch(receipt: Any) -> None:
        if receipt.batch == 1:
            source.admin("DELETE FROM t WHERE id = 2;")  # deleted at the source meanwhile
            with Store.open(url) as opened:
                fast_full_copy(plan, Late("postgresql", opened._conn), run_id="r1")

    fast_full_copy(plan, a, run_id="r1", on_batch=on_batch)
    assert sorted(live(a)) == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # 2 was copied before it went; 4 is not lost
    receipts = a.receipts("e_copy", "r1")
    assert [r.batch for r in receipts] == list(range(1, len(receipts) + 1))
    assert len([r for r in receipts if r.position.get("done")]) == 1


@pytest.mark.xdist_group("sources")
def test_a_second_fast_copy_of_an_unchanged_source_rewrites_nothing(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Unchanged rows are not rewritten: every row unchanged, every _seq kept; one update and one insert at the
    source give exactly those two rows new sequence numbers, in key order."""
    source = make_source("postgresql", ITEMS_SQL)
    store = make_store("postgresql")
    plan = _unique(source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=7))
    first = fast_full_copy(plan, store, run_id="r1")
    assert (first.batches, first.inserted, first.updated, first.unchanged) == (4, 23, 0, 0)
    before = sequence_numbers(store)
    second = fast_full_copy(plan, store, run_id="r2")
    assert (second.inserted, second.updated, second.unchanged, second.rows_read) == (0, 0, 23, 23)
    assert sequence_numbers(store) == before and reconciles(store, second)
    assert all(r.written_hash == "0" * 32 for r in store.receipts("e_copy", "r2"))
    source.admin("UPDATE items SET amount = 99.99 WHERE id = 5; INSERT INTO items VALUES (24, '新物品', 1);")
    third = fast_full_copy(plan, store, run_id="r3")
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 22)
    changed = {key: seq for key, seq in sequence_numbers(store).items() if before.get(key) != seq}
    assert changed == {5: 24, 24: 25} and reconciles(store, third)


@pytest.mark.xdist_group("sources")
def test_a_composite_key_pages_exactly(make_source: Callable[[str, str], Source],
                                       make_store: Callable[[str], Store]) -> None:
    """Keyset pages on a composite key (a date, Chinese text, a decimal) as full_copy's, row for row."""
    sql = ("CREATE TABLE visits (day date, 名称 varchar(20), 序号 numeric(6, 1), note varchar(40), "
           "PRIMARY KEY (day, 名称, 序号));"
           "INSERT INTO visits SELECT DATE '2024-01-01' + g % 3, (ARRAY['张三', '李四', '王五'])[(g / 3) % 3 + 1], "
           "g / 9 + 0.5, CASE WHEN g % 5 = 0 THEN NULL ELSE '第' || g || '次' END FROM generate_series(1, 40) g;")
    source = make_source("postgresql", sql)
    columns = [("day", StoreColumn("日期", "D")), ("名称", StoreColumn("名称", "C", 20)),
               ("序号", StoreColumn("序号", "N")), ("note", StoreColumn("说明", "C", 40))]
    plan = _unique(source.plan("visits", columns, ("day", "名称", "序号"), batch_rows=6))
    slow, fast = make_store("postgresql"), make_store("postgresql")
    expected = full_copy(plan, slow, run_id="r1")
    got = fast_full_copy(plan, fast, run_id="r1")
    assert (got.rows_read, got.inserted, got.batches) == (expected.rows_read, expected.inserted, expected.batches)
    assert _centre(fast) == _centre(slow) and _receipts(fast, "r1") == _receipts(slow, "r1")


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("postgresql", "postgresql"), ("sqlite", "postgresql"),
                                                              ("postgresql", "sqlite")))
def test_eligible_says_why_a_plan_cannot_take_the_fast_path(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    sql = ("CREATE TABLE t (id integer PRIMARY KEY, name varchar(10), code char(4), score double precision, "
           "note text)")
    source = make_source(source_kind, sql)
    store = make_store(store_kind)
    columns = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 10))]
    plan = _unique(source.plan("t", columns, ("id",)))
    if source_kind == "sqlite":
        assert "not PostgreSQL" in str(eligible(plan, store, {"id": "integer", "name": "text"}))
        return
    types = source_types(plan)
    assert types["code"] == "character(4)" and types["name"] == "character varying(10)"
    if store_kind == "sqlite":
        assert "store is sqlite" in str(eligible(plan, store, types))
        return
    assert eligible(plan, store, types) is None
    assert "value rules" in str(eligible(dataclasses.replace(plan, rules=RuleSet({})), store, types))
    assert "primary key" in str(eligible(dataclasses.replace(plan, key_unique=False), store, types))
    with_char = source.plan("t", [*columns, ("code", StoreColumn("代码", "C", 4))], ("id",))
    assert "character(4)" in str(eligible(_unique(with_char), store, types))
    with_float = source.plan("t", [*columns, ("score", StoreColumn("评分", "B"))], ("id",))
    assert "type B" in str(eligible(_unique(with_float), store, types))
    text_as_number = source.plan("t", [*columns, ("note", StoreColumn("数", "N"))], ("id",))
    assert "from a column of type text" in str(eligible(_unique(text_as_number), store, types))
    with pytest.raises(ValueError, match="primary key"):
        fast_full_copy(dataclasses.replace(plan, key_unique=False), store, run_id="r1")


# -- the fast key scan (watermark mode's key reconciliation) -------------------------------------------------

KEYS_SQL = ("CREATE TABLE k (code varchar(12) PRIMARY KEY, v text);"
            "INSERT INTO k SELECT 'c' || lpad(g::text, 2, '0'), 'v' || g FROM generate_series(1, 23) g;"
            "INSERT INTO k VALUES ('toolong-key1', 'x'), ('b中文', 'y');")
KEYS_COLUMNS = [("code", StoreColumn("代码", "C", 8)), ("v", StoreColumn("值", "C", 20))]
PAIRS_SQL = ("CREATE TABLE p (n integer, d date, v text, PRIMARY KEY (n, d));"
             "INSERT INTO p SELECT g % 4, date '2024-01-01' + g, 'v' || g FROM generate_series(1, 17) g;")
PAIRS_COLUMNS = [("n", StoreColumn("编号", "I")), ("d", StoreColumn("日期", "D")), ("v", StoreColumn("值", "C", 20))]


@pytest.mark.parametrize("table", ["k", "p"])
@pytest.mark.xdist_group("sources")
def test_the_fast_key_scan_gives_exactly_what_key_scan_gives(
        table: str, make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 watermark mode's key reconciliation by binary COPY (keys converted, hashed and listed in the centre's
    SQL): against the keyset key scan, the same receipts (pages, positions, read hashes), the same rows restored
    (a row the incremental reads missed), the same quarantine (a key too long for its item), the same rows found
    gone and tombstoned — for a one-column text key and a composite integer + date key; and a scan begun by one
    path is finished by the other."""
    sql, columns, key = (KEYS_SQL, KEYS_COLUMNS, ("code",)) if table == "k" else \
        (PAIRS_SQL, PAIRS_COLUMNS, ("n", "d"))
    source = make_source("postgresql", sql)
    plan = _unique(source.plan(table, columns, key, batch_rows=5))
    slow, fast, mixed = make_store("postgresql"), make_store("postgresql"), make_store("postgresql")
    assert keys_eligible(plan, fast, source_types(plan)) is None
    for store in (slow, fast, mixed):
        full_copy(plan, store, run_id="r1")
    first = "'c99', 'late'" if table == "k" else "9, date '2020-01-01', 'late'"
    gone = "code IN ('c03', 'c07')" if table == "k" else "v IN ('v3', 'v7')"
    source.admin(f"DELETE FROM {table} WHERE {gone}; INSERT INTO {table} VALUES ({first});")
    expected = key_scan(plan, slow, run_id="r2")
    got = fast_key_scan(plan, fast, run_id="r2")
    assert (got.batches, got.keys_read, got.rows_read, got.inserted) == \
        (expected.batches, expected.keys_read, expected.rows_read, expected.inserted) == \
        (expected.batches, (25 if table == "k" else 17) - 2 + 1, 1, 1)
    assert _receipts(fast, "r2") == _receipts(slow, "r2")
    assert _quarantine(fast, "r2") == _quarantine(slow, "r2")
    if table == "k":
        assert [reason.split(":")[0] for _key, _item, reason in _quarantine(fast, "r2")] == ["too_long"]
    assert fast.count_unseen("e_copy", "r2") == slow.count_unseen("e_copy", "r2")
    assert fast.count_unseen("e_copy", "r2")[0] == 2
    for store in (slow, fast):
        assert delete_unseen(plan, store, run_id="r2", guard_share=0.5).deleted == 2
    assert live(fast) == live(slow) and fast.summary("e_copy") == slow.summary("e_copy")
    on_batch, should_stop = stop_after(2)
    fast_key_scan(plan, mixed, run_id="r2", on_batch=on_batch, should_stop=should_stop)
    key_scan(plan, mixed, run_id="r2")
    assert _receipts(mixed, "r2") == [r for r in _receipts(slow, "r2") if r[-1]["phase"] == "keys"]


@pytest.mark.xdist_group("sources")
def test_a_percent_sign_in_a_column_name_reaches_the_source_as_written(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-6 / EXC-1 (review): quoting doubles ``%`` for statements with parameters; the first page's COPY has none,
    and psycopg then sends the statement as written — a key column named ``code%`` must still be found by the fast
    copy, the fast key check and the keyset copy alike."""
    source = make_source("postgresql", 'CREATE TABLE pct ("code%" integer PRIMARY KEY, "v%" text);'
                                       "INSERT INTO pct SELECT g, 'v' || g FROM generate_series(1, 7) g;")
    plan = _unique(source.plan("pct", [("code%", StoreColumn("编号", "I")), ("v%", StoreColumn("值", "C", 10))],
                               ("code%",), batch_rows=50))
    fast, slow = make_store("postgresql"), make_store("postgresql")
    assert fast_full_copy(plan, fast, run_id="r1").inserted == 7
    assert full_copy(plan, slow, run_id="r1").inserted == 7
    assert fast_key_scan(plan, fast, run_id="r2").keys_read == 7
    assert key_scan(plan, slow, run_id="r2").keys_read == 7
    assert _receipts(fast, "r2") == _receipts(slow, "r2") and live(fast) == live(slow)


# -- kill -9 of the pipelined fast paths (issue 10: "0 rows lost, 0 duplicated") ------------------------------

def _committed(url: str, run_id: str) -> int:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        (last,) = conn.execute("SELECT coalesce(max(batch), 0) FROM _gs_receipts WHERE run_id = %s",
                               (run_id,)).fetchone()
        return int(last)


def _killed(work: Callable[[Store], Any], url: str, run_id: str, kills: int, seed: int) -> list[int]:
    """tests/test_exchange_incremental.py's ``_killed_copy`` on a PostgreSQL centre (the work's own connections,
    its pipeline's threads)."""
    from tests.test_exchange_incremental import _killed_copy

    return _killed_copy(work, url, run_id, kills, seed, counted=lambda: _committed(url, run_id), step=4, jitter=0.01)


GOODS_SQL = ("CREATE TABLE goods (id integer PRIMARY KEY, name text, amount numeric(12, 2), updated_at timestamp);"
             "INSERT INTO goods SELECT g, '物品' || g, g * 0.25, "
             "timestamp '2024-01-01' + (g % 5000) * interval '1 minute' "
             "FROM generate_series(1, 20000) g;")
GOODS_COLUMNS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 20)),
                 ("amount", StoreColumn("金额", "N", 12))]


@pytest.mark.xdist_group("sources")
def test_kill_9_at_20_moments_of_a_fast_copy_and_20_of_a_fast_key_check_loses_and_duplicates_nothing(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 checkpoints (issue 10 item 6): the pipelined fast copy (two centre connections, a thread each) killed
    20 times, then run to its end; then 2 000 rows change and 300 are deleted at the source, and an incremental run
    — changed rows by update time, the fast key check, the tombstones — killed 20 times and run to its end.  Each
    time: receipts numbered without a gap, every row applied exactly once (20 000 inserted; 2 000 updated; 300
    deleted; sequence numbers end at 22 300), and the centre's content hash equal to a keyset copy's of the same
    source."""
    source = make_source("postgresql", GOODS_SQL)
    plan = dataclasses.replace(_unique(source.plan("goods", GOODS_COLUMNS, ("id",), batch_rows=200)),
                               watermark="updated_at")
    store, reference = make_store("postgresql"), make_store("postgresql")
    url = store._url
    seed = int.from_bytes(os.urandom(4), "big")
    full = _killed(lambda opened: fast_full_copy(plan, opened, run_id="full"), url, "full", 20, seed)
    assert full == sorted(full) and 0 < full[-1] < 101, f"seed {seed}: {full}"
    first = fast_full_copy(plan, store, run_id="full")
    assert (first.rows_read, first.inserted, first.updated, first.unchanged) == (20_000, 20_000, 0, 0)
    assert [r.batch for r in store.receipts("e_copy", "full")] == list(range(1, 102)), f"seed {seed}"
    assert sorted(sequence_numbers(store).values()) == list(range(1, 20_001)), f"seed {seed}"
    source.admin("UPDATE goods SET amount = amount + 1, updated_at = '2024-06-01 00:00:00' WHERE id % 10 = 3;"
                 "DELETE FROM goods WHERE id % 50 = 7 AND id <= 15000;")

    def incremental(opened: Store) -> None:
        watermark_copy(plan, opened, run_id="inc", since=first.watermark, overlap_seconds=60)
        fast_key_scan(plan, opened, run_id="inc")
        delete_unseen(plan, opened, run_id="inc", guard_share=0.5)

    inc = _killed(incremental, url, "inc", 20, seed + 1)
    assert inc == sorted(inc) and inc[-1] > 0, f"seed {seed}: {inc}"
    incremental(store)
    receipts = store.receipts("e_copy", "inc")
    assert [r.batch for r in receipts] == list(range(1, len(receipts) + 1)), f"seed {seed}"
    assert sum(r.updated for r in receipts) == 2_000 and sum(r.inserted for r in receipts) == 0, f"seed {seed}"
    assert sum(r.deleted for r in receipts) == 300, f"seed {seed}"
    summary = store.summary("e_copy")
    assert (summary.live_rows, summary.deleted_rows, summary.last_seq) == (19_700, 300, 22_300), f"seed {seed}"
    full_copy(plan, reference, run_id="reference")
    assert summary.content_hash == reference.summary("e_copy").content_hash, f"seed {seed}"


# -- the fast watermark copy (incremental, PostgreSQL → PostgreSQL) ---------------------------------------------

def test_the_fast_watermark_copy_gives_exactly_what_watermark_copy_gives(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-1 增量 by update time through binary COPY: ten rows sharing one update time across pages of four, rows
    changed and added, a row committed late inside the overlap window, every letter of the fast copy — the same
    receipts (pages, positions with their bounds, read hashes), the same centre (rows, hashes, sequence numbers)
    and the same watermark as the keyset path; a run stopped on one path is finished by the other."""
    from tests.test_exchange_incremental import ITEMS, T0, T1, T2, plan_of, table_sql

    rows = [(n, "", T0) for n in range(1, 11)] + [(11, "", T1), (12, "", T1)]
    source = make_source("postgresql", table_sql("postgresql", rows))
    plan = _unique(plan_of(source))
    assert eligible(plan, make_store("postgresql"), source_types(plan)) is None
    slow, fast, mixed, other = (make_store("postgresql") for _ in range(4))
    firsts = [full_copy(plan, store, run_id="r1") for store in (slow, fast, mixed, other)]
    source.admin(f"UPDATE goods SET amount = 0, updated_at = '{T2}' WHERE id IN (2, 5, 11);"
                 f"INSERT INTO goods VALUES (13, '新', 1, '{T2}'), (14, '新', 2, '{T2}'), "
                 "(15, '晚到', 3, '2024-03-01 07:58:00');")
    since = firsts[0].watermark
    expected = watermark_copy(plan, slow, run_id="r2", since=since, overlap_seconds=300)
    got = fast_watermark_copy(plan, fast, run_id="r2", since=since, overlap_seconds=300)
    assert (got.rows_read, got.inserted, got.updated, got.unchanged, got.watermark) == \
        (expected.rows_read, expected.inserted, expected.updated, expected.unchanged, expected.watermark)
    assert (expected.inserted, expected.updated) == (3, 3)
    assert _receipts(fast, "r2") == _receipts(slow, "r2")
    assert live(fast) == live(slow) and _hashes(fast) == _hashes(slow)
    assert sequence_numbers(fast) == sequence_numbers(slow)
    on_batch, should_stop = stop_after(2)
    fast_watermark_copy(plan, mixed, run_id="r2", since=since, overlap_seconds=300, on_batch=on_batch,
                        should_stop=should_stop)
    assert mixed.last_batch("e_copy", "r2") == 2
    watermark_copy(plan, mixed, run_id="r2", since=since, overlap_seconds=300)
    assert _receipts(mixed, "r2") == _receipts(slow, "r2") and live(mixed) == live(slow)
    # and the other way round: begun by the keyset path, finished by the fast one
    on_batch, should_stop = stop_after(1)
    watermark_copy(plan, other, run_id="r2", since=since, overlap_seconds=300, on_batch=on_batch,
                   should_stop=should_stop)
    fast_watermark_copy(plan, other, run_id="r2", since=since, overlap_seconds=300)
    assert _receipts(other, "r2") == _receipts(slow, "r2") and _hashes(other) == _hashes(slow)
    # a run with nothing changed reads only the rows at the watermark again, and rewrites nothing
    third = fast_watermark_copy(plan, fast, run_id="r3", since=got.watermark, overlap_seconds=0)
    assert (third.inserted, third.updated, third.unchanged) == (0, 0, 5)
    assert [name for name, _item in ITEMS] == ["id", "name", "amount"]


def test_the_fast_watermark_copy_of_a_table_without_update_times_keeps_the_watermark(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """No row has an update time (the column all NULL): nothing is read, the run ends at once and its watermark
    stays where it was — as on the keyset path."""
    from tests.test_exchange_incremental import plan_of

    source = make_source("postgresql", "CREATE TABLE goods (id integer PRIMARY KEY, name varchar(40), "
                                       "amount numeric(10, 2), updated_at timestamp(6));"
                                       "INSERT INTO goods (id, name, amount) VALUES (1, 'a', 1), (2, 'b', 2);")
    plan = _unique(plan_of(source))
    fast, slow = make_store("postgresql"), make_store("postgresql")
    for store in (fast, slow):
        full_copy(plan, store, run_id="r1")
    since = encode_key([dt.datetime(2024, 1, 1)])
    got = fast_watermark_copy(plan, fast, run_id="r2", since=since, overlap_seconds=60)
    expected = watermark_copy(plan, slow, run_id="r2", since=since, overlap_seconds=60)
    assert (got.rows_read, got.watermark) == (expected.rows_read, expected.watermark) == (0, since)
    assert _receipts(fast, "r2") == _receipts(slow, "r2")


def test_a_row_changed_again_while_a_fast_watermark_copy_runs_keeps_its_later_read(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Review: a row read in the run's first batch changes again (its update time still within the run's mark)
    before the run ends — read twice, its later read wins on both paths, with the same receipts (no key list of the
    rows: an incremental copy is not a full copy's one pass); a row the copy read and the source deleted before the
    key check is tombstoned."""
    from tests.test_exchange_incremental import plan_of, table_sql

    rows = [(n, "", "2024-03-01 08:00:00") for n in range(1, 13)]
    source = make_source("postgresql", table_sql("postgresql", rows))
    plan = _unique(plan_of(source))
    slow, fast = make_store("postgresql"), make_store("postgresql")
    firsts = [full_copy(plan, store, run_id="r1") for store in (slow, fast)]
    source.admin("UPDATE goods SET amount = 1, updated_at = '2024-03-01 09:00:00' WHERE id <= 4;"
                 "UPDATE goods SET amount = 2, updated_at = '2024-03-01 10:00:00' WHERE id > 4;")
    for store, copy in ((slow, watermark_copy), (fast, fast_watermark_copy)):
        on_batch, should_stop = stop_after(1)
        copy(plan, store, run_id="r2", since=firsts[0].watermark, overlap_seconds=0, on_batch=on_batch,
             should_stop=should_stop)
    source.admin("UPDATE goods SET amount = 999, updated_at = '2024-03-01 10:00:00' WHERE id = 1;")
    for store, copy in ((slow, watermark_copy), (fast, fast_watermark_copy)):
        got = copy(plan, store, run_id="r2", since=firsts[0].watermark, overlap_seconds=0)
        assert got.rejected == 0 and live(store)[1][2] == 999
    assert _receipts(fast, "r2") == _receipts(slow, "r2") and _hashes(fast) == _hashes(slow)
    source.admin("DELETE FROM goods WHERE id = 7;")
    for store in (slow, fast):
        fast_key_scan(plan, store, run_id="r2")
        assert delete_unseen(plan, store, run_id="r2", guard_share=0.5).deleted == 1
