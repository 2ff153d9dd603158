"""Reading the centre's rows for the delivery channels (govshare/datastore/engine/reader.py; issue 11 item 3, the
data API's engine — SHR-9 联机查询, SHR-4: what a grant delivers, page by page): filters of every operator on every type, sorts with NULLs last, keyset pages that give every
live row exactly once, counts that are exact up to a limit and never silently truncated — on a SQLite and on a
PostgreSQL store."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from govshare.datastore.engine import reader
from govshare.datastore.engine.reader import Filter, QueryError, RowQuery, count_rows, parse_value, read_rows
from govshare.datastore.engine.store import Store, StoreColumn, StoreError, combine
from tests.test_datastore_store import store, store_url  # noqa: F401 — the fixtures (SQLite and PostgreSQL)

pytestmark = pytest.mark.once

TABLE = "e_reader"
ITEMS = [StoreColumn("编号", "C", 18), StoreColumn("金额", "N"), StoreColumn("日期", "D"), StoreColumn("人数", "I"),
         StoreColumn("名称", "C", 100), StoreColumn("时间", "T"), StoreColumn("有效", "L")]
KEY = ["编号"]
ALL = [c.name for c in ITEMS]


def _rows(n: int) -> list[list[Any]]:
    rng = random.Random(7)
    rows = []
    for i in range(n):
        rows.append([f"K{i:05d}", None if i % 7 == 0 else Decimal(rng.randrange(-5000, 5000)) / 100,
                     None if i % 5 == 0 else dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 1500)),
                     rng.randrange(0, 50), rng.choice(["龙南稀土", "赣州", "龙南市", "南康", "%_通配"]) + str(i % 3),
                     dt.datetime(2024, 5, 1, 8, 0) + dt.timedelta(minutes=i), i % 2 == 0])
    return rows


def _fill(store: Store, rows: list[list[Any]]) -> None:
    store.ensure_table(TABLE, ITEMS, KEY)
    store.apply(TABLE, rows, run_id="r1", batch=1, position={}, rows_read=len(rows), read_hash=combine(()))


def _all_pages(store: Store, query: RowQuery) -> list[tuple[Any, ...]]:
    got: list[tuple[Any, ...]] = []
    pages = 0
    while True:
        page = read_rows(store, query)
        got.extend(page.rows)
        pages += 1
        assert pages < 1000
        if page.after is None:
            return got
        query = RowQuery(query.table, query.items, query.filters, query.sort, page.after, query.limit, query.until)


def _python_order(rows: list[list[Any]], sort: list[tuple[str, bool]]) -> list[tuple[Any, ...]]:
    """The order the reader promises: each sort item (NULLs last in both directions), then the key."""
    at = {name: i for i, name in enumerate(ALL)}
    ordered = sorted(rows, key=lambda r: r[0])
    for name, desc in reversed(sort):
        present = [r for r in ordered if r[at[name]] is not None]
        absent = [r for r in ordered if r[at[name]] is None]
        ordered = sorted(present, key=lambda r, i=at[name]: r[i], reverse=desc) + absent
    return [tuple(r) for r in ordered]


@pytest.mark.parametrize("sort", [[], [("金额", False)], [("金额", True)], [("日期", True), ("人数", False)],
                                  [("名称", False), ("金额", True)], [("编号", True)]])
def test_keyset_pages_give_every_live_row_once_in_the_promised_order(store: Store, sort: list[tuple[str, bool]]
                                                                      ) -> None:
    rows = _rows(230)
    _fill(store, rows)
    got = _all_pages(store, RowQuery(TABLE, ALL, sort=sort, limit=17))
    assert got == _python_order(rows, sort)


def test_tombstoned_rows_are_never_read(store: Store) -> None:
    rows = _rows(40)
    _fill(store, rows)
    store.tombstone(TABLE, [["K00003"], ["K00010"]], run_id="r2", batch=1, position={})
    got = _all_pages(store, RowQuery(TABLE, ["编号"], limit=7))
    assert [g[0] for g in got] == [r[0] for r in rows if r[0] not in ("K00003", "K00010")]
    assert count_rows(store, RowQuery(TABLE, ["编号"]), 100) == (38, "exact")


def test_filters_of_every_operator_match_what_python_finds(store: Store) -> None:
    rows = _rows(200)
    _fill(store, rows)
    at = {name: i for i, name in enumerate(ALL)}
    cases: list[tuple[list[Filter], Any]] = [
        ([Filter("金额", "gte", (Decimal("10.5"),))], lambda r: r[1] is not None and r[1] >= Decimal("10.5")),
        ([Filter("金额", "lt", (Decimal(0),))], lambda r: r[1] is not None and r[1] < 0),
        ([Filter("金额", "eq", (Decimal("-12.30"),))], lambda r: r[1] == Decimal("-12.3")),
        ([Filter("日期", "gt", (dt.date(2022, 6, 1),)), Filter("日期", "lte", (dt.date(2023, 1, 1),))],
         lambda r: r[2] is not None and dt.date(2022, 6, 1) < r[2] <= dt.date(2023, 1, 1)),
        ([Filter("人数", "in", (1, 2, 3))], lambda r: r[3] in (1, 2, 3)),
        ([Filter("名称", "prefix", ("龙南",))], lambda r: r[4].startswith("龙南")),
        ([Filter("名称", "prefix", ("%_",))], lambda r: r[4].startswith("%_")),  # no wildcard widens it
        ([Filter("金额", "null", (True,))], lambda r: r[1] is None),
        ([Filter("日期", "null", (False,)), Filter("有效", "eq", (True,))], lambda r: r[2] is not None and r[6]),
        ([Filter("时间", "gte", (dt.datetime(2024, 5, 1, 10, 0),))], lambda r: r[5] >= dt.datetime(2024, 5, 1, 10)),
        ([Filter("编号", "eq", ("K00042",))], lambda r: r[0] == "K00042"),
    ]
    for filters, wanted in cases:
        expected = [tuple(r) for r in rows if wanted(r)]
        got = _all_pages(store, RowQuery(TABLE, ALL, filters, limit=50))
        assert got == expected, filters
        assert count_rows(store, RowQuery(TABLE, ALL, filters), 1000) == (len(expected), "exact"), filters
    assert at  # the positions used above follow ALL


def test_a_count_beyond_its_limit_is_an_estimate_or_at_least_never_a_truncated_exact_number(store: Store) -> None:
    _fill(store, _rows(120))
    n, kind = count_rows(store, RowQuery(TABLE, ["编号"]), 50)
    if store.kind == "postgresql":
        assert kind == "estimate" and n > 50
    else:
        assert (n, kind) == (50, "at_least")
    assert count_rows(store, RowQuery(TABLE, ["编号"]), 120) == (120, "exact")


@pytest.mark.parametrize("sort", [[], [("金额", False)], [("日期", True), ("人数", False)]])
def test_parts_split_at_positions_give_every_row_once_in_order(store: Store, sort: list[tuple[str, bool]]) -> None:
    """A large download is built in parts (issue 11, CSV ≥ 100 k rows/s): the rows at or before a position, then
    the rows after it — together exactly the whole, in the whole's order, NULLs of a sort item included."""
    rows = _rows(230)
    _fill(store, rows)
    filters = [Filter("人数", "lt", (40,))]
    whole = _all_pages(store, RowQuery(TABLE, ALL, filters, sort=sort, limit=17))
    bounds = reader.positions_at(store, RowQuery(TABLE, ALL, filters, sort=sort), [0, 59, 130, len(whole) - 1,
                                                                                   len(whole)])
    assert bounds[-1] is None  # past the last row
    edges = [None, *bounds[:-1], None]
    got: list[tuple[Any, ...]] = []
    for after, until in zip(edges, edges[1:], strict=False):
        got += _all_pages(store, RowQuery(TABLE, ALL, filters, sort=sort, after=after, limit=17, until=until))
    assert got == whole
    first = _all_pages(store, RowQuery(TABLE, ALL, filters, sort=sort, limit=17, until=bounds[1]))
    assert first == whole[:60]


def test_a_count_that_outlasts_its_time_is_stopped_and_estimated_and_the_connection_is_left_clean(
        store: Store, store_url: str) -> None:
    """SHR-9: a page's count is bounded in time on a PostgreSQL centre (the server stops it), never a wrong exact
    number; SQLite has no such stop and counts exactly.  The count is held up here by a lock another session holds
    on the table until after the count's time is up."""
    _fill(store, _rows(120))
    query = RowQuery(TABLE, ["编号"], [Filter("人数", "lt", (25,))])
    exact = count_rows(store, query, 1000)
    assert exact[1] == "exact" and 0 < exact[0] < 120
    if store.kind == "sqlite":
        assert count_rows(store, query, 1000, milliseconds=1) == exact
        return
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(store_url.replace("postgresql+psycopg", "postgresql")) as other:
            other.execute(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
            locked.set()
            release.wait(10)
            time.sleep(0.3)  # well after the count's 100 ms: the estimate (planning needs the table too) waits

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        release.set()
        started = time.monotonic()
        n, kind = count_rows(store, query, 1000, milliseconds=100)
    finally:
        release.set()
        holder.join()
    assert kind == "estimate" and n >= 0 and time.monotonic() - started >= 0.1
    # the time limit was the count's own (SET LOCAL): later statements have none, and the store reads on
    assert store.read("SHOW statement_timeout", [], [None]) == [("0",)]
    assert [store.read(f"SHOW {name}", [], [None])[0][0] for name in ("jit", "max_parallel_workers_per_gather")] \
        == _server_settings(store, "jit", "max_parallel_workers_per_gather")
    assert count_rows(store, query, 1000, milliseconds=10_000) == exact


def _server_settings(store: Store, *names: str) -> list[str]:
    """The settings a new session of the store's server has."""
    with psycopg.connect(store.url.replace("postgresql+psycopg", "postgresql")) as other:
        return [str(other.execute(f"SHOW {name}").fetchone()[0]) for name in names]  # type: ignore[index]


def test_a_time_limited_read_inside_another_transaction_is_refused(store: Store) -> None:
    """Its SET LOCAL would outlive the read (to the end of the outer transaction)."""
    if store.kind == "sqlite":
        pytest.skip("SQLite reads have no time limit")
    _fill(store, _rows(3))
    with store._conn.transaction(), pytest.raises(StoreError, match="not inside another transaction"):
        store.read_within("SELECT 1", [], [None], 50)


def test_only_the_items_asked_for_are_returned_in_their_order(store: Store) -> None:
    _fill(store, _rows(5))
    page = read_rows(store, RowQuery(TABLE, ["名称", "编号"], sort=[("金额", True)], limit=2))
    assert all(len(row) == 2 and row[1].startswith("K") for row in page.rows)
    assert page.order == ["金额", "编号"] and page.after is not None and len(page.after) == 2


@pytest.mark.parametrize(("column", "text", "value"), [
    (StoreColumn("n", "N"), " 12.50 ", Decimal("12.50")), (StoreColumn("i", "I"), "-7", -7),
    (StoreColumn("d", "D"), "2024-02-29", dt.date(2024, 2, 29)), (StoreColumn("l", "L"), "是", True),
    (StoreColumn("t", "T"), "2024-05-01T08:00:00+08:00", dt.datetime(2024, 5, 1, 0, 0)),
    (StoreColumn("c", "C"), " 龙南 ", " 龙南 ")])
def test_filter_values_are_read_as_the_items_type(column: StoreColumn, text: str, value: Any) -> None:
    assert parse_value(column, text) == value


@pytest.mark.parametrize(("letter", "text"), [("N", "12,5"), ("N", "NaN"), ("I", "1.5"), ("D", "2023-02-29"),
                                              ("L", "maybe"), ("T", "yesterday"), ("C", "a\x00b"), ("B", "inf")])
def test_a_filter_value_that_is_not_of_the_items_type_is_refused_naming_the_item(letter: str, text: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_value(StoreColumn("成立日期", letter), text)
    assert caught.value.code == "bad_value" and caught.value.params["item"] == "成立日期"


def test_unknown_items_limits_and_operators_are_refused(store: Store) -> None:
    _fill(store, _rows(3))
    with pytest.raises(QueryError, match="no item"):
        read_rows(store, RowQuery(TABLE, ["不存在"]))
    with pytest.raises(QueryError, match="limit"):
        read_rows(store, RowQuery(TABLE, ["编号"], limit=0))
    with pytest.raises(QueryError, match="prefix"):
        read_rows(store, RowQuery(TABLE, ["编号"], [Filter("金额", "prefix", ("1",))]))
    with pytest.raises(QueryError, match="more than"):
        read_rows(store, RowQuery(TABLE, ["编号"], [Filter("人数", "in", tuple(range(reader.MAX_IN + 1)))]))
    with pytest.raises(QueryError, match="cursor"):
        read_rows(store, RowQuery(TABLE, ["编号"], after=["K1", "K2"]))


def test_decimal_keys_beyond_a_doubles_precision_are_all_read_page_by_page(store: Store) -> None:
    """Review H6: on SQLite decimals sort as doubles; keys differing beyond 15 digits tied and a page ended
    between them — rows were skipped.  The exact text now breaks the tie."""
    store.ensure_table("e_wide", [StoreColumn("号", "N"), StoreColumn("名", "C")], ["号"])
    keys = [Decimal(36078300000000000000 + i) for i in range(6)]
    store.apply("e_wide", [[k, f"n{i}"] for i, k in enumerate(keys)], run_id="r", batch=1, position={},
                rows_read=6, read_hash=combine(()))
    for desc in (False, True):
        got = _all_pages(store, RowQuery("e_wide", ["号"], sort=[("号", desc)], limit=2))
        assert sorted(g[0] for g in got) == keys and len(got) == 6
    assert len(_all_pages(store, RowQuery("e_wide", ["名"], limit=2))) == 6


# -- query indexes (govshare/datastore/engine/indexes.py: the data API's speed target, issue 11) --------------------

def _plan(store: Store, query: RowQuery) -> str:
    """The plan of the statement :func:`read_rows` runs for ``query`` (text of EXPLAIN)."""
    seen: list[tuple[str, list[Any]]] = []
    original = store.read

    def spy(sql: str, params: Any, letters: Any) -> Any:
        seen.append((sql, list(params)))
        return original(sql, params, letters)

    store.read = spy  # type: ignore[method-assign]
    try:
        read_rows(store, query)
    finally:
        del store.read
    sql, params = seen[0]
    if store.kind == "sqlite":
        return " ".join(str(r[-1]) for r in store._conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
    store._conn.execute("SET enable_seqscan = off")  # a small table: ask whether the index *can* serve it
    try:
        return " ".join(str(r[0]) for r in store._conn.execute("EXPLAIN " + sql.replace("?", "%s"), params))
    finally:
        store._conn.execute("RESET enable_seqscan")


@pytest.mark.parametrize("sort", [[("金额", True)], [("金额", False)], [("日期", True)], [("名称", False)]])
def test_a_query_index_serves_the_sort_on_its_item_and_pages_stay_exactly_as_without_it(
        store: Store, sort: list[tuple[str, bool]]) -> None:
    from govshare.datastore.engine import indexes

    rows = _rows(230)
    _fill(store, rows)
    query = RowQuery(TABLE, ALL, sort=sort, limit=17)
    before = _all_pages(store, query)
    assert indexes.sync(store, TABLE, [sort[0][0]]) == ([sort[0][0]], {})
    name = indexes.names_of(TABLE, ALL.index(sort[0][0]) + 1)[1 if sort[0][1] else 0]
    assert name in _plan(store, RowQuery(TABLE, ALL, sort=sort, limit=17))
    assert _all_pages(store, query) == before == _python_order(rows, sort)


def test_a_query_index_serves_equality_and_range_filters_on_its_item(store: Store) -> None:
    from govshare.datastore.engine import indexes

    _fill(store, _rows(230))
    indexes.sync(store, TABLE, ["日期", "名称"])
    on_date = _plan(store, RowQuery(TABLE, ALL, [Filter("日期", "gte", (dt.date(2023, 1, 1),))],
                                    sort=[("日期", True)], limit=5))
    assert indexes.prefix_of(TABLE) in on_date
    assert indexes.prefix_of(TABLE) in _plan(store, RowQuery(TABLE, ALL, [Filter("名称", "eq", ("赣州1",))], limit=5))


def test_sync_makes_the_tables_indexes_exactly_those_asked_for_and_says_why_an_item_cannot_have_one(
        store: Store) -> None:
    from govshare.datastore.engine import indexes

    _fill(store, _rows(20))
    prefix = indexes.prefix_of(TABLE)
    assert indexes.sync(store, TABLE, ["金额", "日期", "编号", "没有"])[1] == {"编号": "key", "没有": "unknown_item"}
    assert sorted(store.indexes(TABLE, prefix)) == sorted([*indexes.names_of(TABLE, 2), *indexes.names_of(TABLE, 3)])
    assert all(store.indexes(TABLE, prefix).values())
    assert indexes.sync(store, TABLE, ["日期"]) == (["日期"], {})  # 金额 dropped, 日期 kept (not built again)
    assert sorted(store.indexes(TABLE, prefix)) == sorted(indexes.names_of(TABLE, 3))
    assert indexes.sync(store, TABLE, lambda: []) == ([], {})
    assert store.indexes(TABLE, prefix) == {}
    key = [StoreColumn("编号", "C", 18)]
    assert indexes.unindexable(StoreColumn("备注", "M"), key, ["编号"]) == "type"
    assert indexes.unindexable(StoreColumn("照片", "G"), key, ["编号"]) == "type"
    # an index entry holds the item and the key: 4 bytes a character at most, 2 600 bytes in all
    assert indexes.unindexable(StoreColumn("名称", "C", 632), key, ["编号"]) is None  # 2 528 + 72
    assert indexes.unindexable(StoreColumn("长文", "C", 633), key, ["编号"]) == "too_long"
    assert indexes.unindexable(StoreColumn("名称", "C", 100), [StoreColumn("编号", "C", 600)], ["编号"]) == "too_long"
    assert indexes.unindexable(StoreColumn("名称", "C"), key, ["编号"]) == "too_long"  # no length: no bound
    assert indexes.unindexable(StoreColumn("日期", "D"), [StoreColumn("编号", "C")], ["编号"]) == "too_long"


def test_an_index_an_interrupted_build_left_unusable_is_built_again(store: Store) -> None:
    from govshare.datastore.engine import indexes

    if store.kind != "postgresql":
        pytest.skip("only PostgreSQL builds concurrently (and can leave an invalid index behind)")
    _fill(store, _rows(20))
    ascending, descending = indexes.names_of(TABLE, 3)
    # what a killed CREATE INDEX CONCURRENTLY leaves: the index, marked not valid
    store._conn.execute(f'CREATE INDEX {ascending} ON "{TABLE}" (c3) WHERE NOT _deleted')
    store._conn.execute("UPDATE pg_catalog.pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                        (ascending,))
    assert store.indexes(TABLE, indexes.prefix_of(TABLE)) == {ascending: False}
    assert indexes.sync(store, TABLE, ["日期"]) == (["日期"], {})
    assert store.indexes(TABLE, indexes.prefix_of(TABLE)) == {ascending: True, descending: True}


def test_an_item_lengthened_beyond_what_an_index_entry_holds_loses_its_index_and_copies_go_on(store: Store) -> None:
    """Review of the 11th session: a new version of the entry may lengthen an indexed item; its index would make
    writes of the longer values fail (PostgreSQL: "index row size exceeds …") — the store drops it as it widens the
    table."""
    from govshare.datastore.engine import indexes

    table = "e_grows"
    store.ensure_table(table, [StoreColumn("号", "C", 18), StoreColumn("名", "C", 100)], ["号"])
    indexes.sync(store, table, ["名"])
    assert len(store.indexes(table, indexes.prefix_of(table))) == 2
    store.ensure_table(table, [StoreColumn("号", "C", 18), StoreColumn("名", "C", 5000)], ["号"])
    assert store.indexes(table, indexes.prefix_of(table)) == {}
    store.apply(table, [["K1", "稀" * 3000]], run_id="r", batch=1, position={}, rows_read=1, read_hash=combine(()))
    assert indexes.sync(store, table, ["名"]) == (["名"], {"名": "too_long"})


def test_a_page_deep_in_a_sort_on_an_indexed_nullable_item_starts_the_index_at_the_cursor(store: Store) -> None:
    """Review of the 11th session: the page after a value reads the item's index from that value on (a bound the
    index can start at), then the rows without a value — not the index from its start on every page."""
    from govshare.datastore.engine import indexes

    rows = _rows(230)
    _fill(store, rows)
    indexes.sync(store, TABLE, ["日期"])
    for desc in (False, True):
        first = read_rows(store, RowQuery(TABLE, ALL, sort=[("日期", desc)], limit=100))
        plan = _plan(store, RowQuery(TABLE, ALL, sort=[("日期", desc)], after=first.after, limit=100))
        assert indexes.prefix_of(TABLE) in plan
        if store.kind == "postgresql":
            assert re.search(r"Index Cond: \(+c3 [<>]=", plan), plan
        else:
            assert "c3>?" in plan or "c3<?" in plan, plan
