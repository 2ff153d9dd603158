"""The full copy (govshare/exchange/engine/copy.py) from real front-end databases — SQLite files, the
session's throwaway PostgreSQL and MariaDB (tests/source_servers.py) — into the centre's store on SQLite and
on PostgreSQL (EXC-1 存量 full copy with checkpoints and receipts; EXC-7 quality on the way in: quarantine,
reconciliation hashes).  The kill test kills a real copying process with SIGKILL."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from govshare.datastore.engine.store import Store, StoreColumn, StoreError, combine, merge, row_hash
from govshare.exchange.engine.copy import CopyPlan, CopyResult, convert, decode_key, encode_key, full_copy
from govshare.exchange.engine.sources import SourceError, SourceSpec
from tests.source_servers import make_mysql_database, make_pg_database, mysql_admin, mysql_script, pg_admin

#: nothing here touches the platform's database: these tests run once, in the SQLite pass of ``make test``
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent
_names = itertools.count(1)


# -- sources and stores ------------------------------------------------------------------------------------

@dataclass
class Source:
    kind: str
    spec: SourceSpec
    schema: str
    admin: Callable[[str], None]  # runs a script as the source's owner

    def plan(self, table: str, columns: list[tuple[str, StoreColumn]], key: tuple[str, ...], *,
             target: str = "e_copy", batch_rows: int = 5000) -> CopyPlan:
        return CopyPlan(source=self.spec, schema=self.schema, table=table,
                        columns=tuple(column for column, _ in columns),
                        items=tuple(item for _, item in columns), key=key, target=target,
                        batch_rows=batch_rows)


@pytest.fixture
def make_source(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, str], Source]:
    """``make_source(kind, sql)``: a fresh front-end database of that kind made by the script."""

    def make(kind: str, sql: str) -> Source:
        name = f"copy_{next(_names)}"
        if kind == "sqlite":
            path = tmp_path / f"{name}.db"

            def sqlite_admin(script: str) -> None:
                with contextlib.closing(sqlite3.connect(path)) as conn:
                    conn.executescript(script)

            sqlite_admin(sql)
            return Source(kind, SourceSpec(kind="sqlite", database=str(path), statement_timeout=30.0), "main",
                          sqlite_admin)
        if kind == "postgresql":
            url = request.getfixturevalue("pg_source_url")

            def pg_script(script: str) -> None:
                with pg_admin(url, name) as conn:
                    conn.execute(script.encode())

            return Source(kind, SourceSpec(**make_pg_database(url, name, sql)), "public", pg_script)
        url = request.getfixturevalue("mysql_source_url")

        def maria_script(script: str) -> None:
            with mysql_admin(url, name) as conn:
                mysql_script(conn, script)

        return Source(kind, SourceSpec(**make_mysql_database(url, name, sql)), name, maria_script)

    return make


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """``make_store(kind)``: an empty centre store (SQLite file, or a fresh PostgreSQL database)."""
    opened: list[Store] = []

    def make(kind: str) -> Store:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path}/centre_{next(_names)}.sqlite3"
        else:
            server = request.getfixturevalue("pg_source_url")
            name = f"centre_copy_{next(_names)}"
            with pg_admin(server) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{name}"')
            url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        opened.append(Store.open(url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def cases(*combinations: tuple[str, ...]) -> list[Any]:
    """Parameters; a case with a server joins the xdist group of the source servers (tests/conftest.py)."""
    return [pytest.param(*case, id="-".join(case),
                         marks=[pytest.mark.xdist_group("sources")] if set(case) - {"sqlite"} else [])
            for case in combinations]


def live(store: Store, table: str = "e_copy") -> dict[Any, tuple[Any, ...]]:
    """The store table's live rows by their first value, without the system columns."""
    return {row[0]: row[:-2] for row in store.changes_since(table, 0, 1_000_000) if not row[-1]}


def sequence_numbers(store: Store, table: str = "e_copy") -> dict[Any, int]:
    return {row[0]: row[-2] for row in store.changes_since(table, 0, 1_000_000)}


def reconciles(store: Store, result: CopyResult, table: str = "e_copy") -> bool:
    """EXC-7: the run's read hash (accepted rows, as converted) equals the store's content hash."""
    return result.read_hash == merge(r.read_hash for r in store.receipts(table, result.run_id)) \
        == store.summary(table).content_hash


def stop_after(batches: int) -> tuple[Callable[[Any], None], Callable[[], bool]]:
    """on_batch and should_stop that stop a copy once ``batches`` batches are committed."""
    done: list[Any] = []
    return done.append, lambda: len(done) >= batches


# -- every letter from every kind of source ----------------------------------------------------------------

PEOPLE = {
    "sqlite": """CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(40), amount NUMERIC(14, 2),
                 price NUMERIC(10, 2), born DATE, seen TIMESTAMP, active BOOLEAN, note TEXT, photo BLOB,
                 score DOUBLE, visits BIGINT, ratio REAL);
                 INSERT INTO people VALUES (1, '张三', 1234.50, 99.99, '1980-01-02', '2024-01-01 08:00:00', 1,
                   '备注：第一行', X'0001474946', 15000000000.5, 9007199254740993, 0.25);""",
    "postgresql": """CREATE TABLE people (id integer PRIMARY KEY, name varchar(40), amount numeric(14, 2),
                 price numeric(10, 2), born date, seen timestamptz, active boolean, note text, photo bytea,
                 score double precision, visits bigint, ratio real);
                 INSERT INTO people VALUES (1, '张三', 1234.50, 99.99, '1980-01-02', '2024-01-01 08:00:00+00',
                   true, '备注：第一行', '\\x0001474946', 15000000000.5, 9007199254740993, 0.25);""",
    "mysql": """CREATE TABLE people (id int PRIMARY KEY, name varchar(40), amount decimal(14, 2),
                 price decimal(10, 2), born date, seen datetime(6), active tinyint(1), note text, photo blob,
                 score double, visits bigint, ratio float);
                 INSERT INTO people VALUES (1, '张三', 1234.50, 99.99, '1980-01-02', '2024-01-01 08:00:00', 1,
                   '备注：第一行', X'0001474946', 15000000000.5, 9007199254740993, 0.25);""",
}
PEOPLE_MORE = """INSERT INTO people VALUES (2, 'O''Brien "quoted"', -0.01, 0, '2000-02-29',
                   '1999-12-31 23:59:59{zone}', false, '', NULL, -2.5, -1, -0.5);
                 INSERT INTO people (id) VALUES (3);"""
PEOPLE_ITEMS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 40)),
                ("amount", StoreColumn("金额", "N")), ("price", StoreColumn("价格", "Y")),
                ("born", StoreColumn("出生日期", "D")), ("seen", StoreColumn("最近登记", "T")),
                ("active", StoreColumn("有效", "L")), ("note", StoreColumn("备注", "M")),
                ("photo", StoreColumn("照片", "G")), ("score", StoreColumn("评分", "B")),
                ("visits", StoreColumn("次数", "I")), ("ratio", StoreColumn("比率", "F"))]
PEOPLE_EXPECTED = {
    1: (1, "张三", Decimal("1234.5"), Decimal("99.99"), dt.date(1980, 1, 2), dt.datetime(2024, 1, 1, 8), True,
        "备注：第一行", b"\x00\x01GIF", 15000000000.5, 9007199254740993, 0.25),
    2: (2, 'O\'Brien "quoted"', Decimal("-0.01"), Decimal(0), dt.date(2000, 2, 29),
        dt.datetime(1999, 12, 31, 23, 59, 59), False, "", None, -2.5, -1, -0.5),
    3: (3, None, None, None, None, None, None, None, None, None, None, None),
}


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(
    ("sqlite", "sqlite"), ("postgresql", "postgresql"), ("mysql", "sqlite"), ("sqlite", "postgresql")))
def test_full_copy_gives_a_typed_value_per_item_from_every_kind_of_source(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-1: a full copy puts each item of each row into its typed column — every letter of the guide from
    each kind of front-end database (a timestamptz in UTC, MySQL's tinyint(1) as logical, bytes as bytes,
    NULLs as NULL) — and the run's read hash reconciles with the store's content hash (EXC-7)."""
    more = PEOPLE_MORE.format(zone="+00" if source_kind == "postgresql" else "")
    source = make_source(source_kind, PEOPLE[source_kind] + more)
    store = make_store(store_kind)
    result = full_copy(source.plan("people", PEOPLE_ITEMS, ("id",)), store, run_id="r1")
    assert (result.complete, result.rows_read, result.inserted, result.rejected) == (True, 3, 3, 0)
    assert live(store) == PEOPLE_EXPECTED
    assert reconciles(store, result)
    assert result.read_hash == combine(row_hash(row) for row in PEOPLE_EXPECTED.values())


# -- unchanged rows, resumption, keys ----------------------------------------------------------------------

ITEMS_SQL = ("CREATE TABLE items (id integer PRIMARY KEY, name varchar(40), amount numeric(12, 2));\n"
             + "".join(f"INSERT INTO items VALUES ({n}, '物品{n}', {n}.25);\n" for n in range(1, 21)))
ITEMS_COLUMNS = [("id", StoreColumn("编号", "I")), ("name", StoreColumn("名称", "C", 40)),
                 ("amount", StoreColumn("金额", "N"))]


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(("sqlite", "sqlite"), ("postgresql", "sqlite"),
                                                              ("mysql", "postgresql")))
def test_a_second_copy_of_an_unchanged_source_rewrites_nothing(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-1: unchanged rows are not rewritten — a second full copy of an unchanged source counts every row
    unchanged and leaves every _seq as it was; after one update and one insert at the source, exactly those
    two rows get new sequence numbers (in key order), and the counts say so."""
    source = make_source(source_kind, ITEMS_SQL)
    store = make_store(store_kind)
    plan = source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=7)
    first = full_copy(plan, store, run_id="r1")
    assert (first.batches, first.inserted, first.updated, first.unchanged) == (3, 20, 0, 0)
    before = sequence_numbers(store)
    second = full_copy(plan, store, run_id="r2")
    assert (second.inserted, second.updated, second.unchanged, second.rows_read) == (0, 0, 20, 20)
    assert sequence_numbers(store) == before and reconciles(store, second)
    assert all(r.written_hash == "0" * 32 for r in store.receipts("e_copy", "r2"))
    source.admin("UPDATE items SET amount = 99.99 WHERE id = 5; INSERT INTO items VALUES (21, '新物品', 1);")
    third = full_copy(plan, store, run_id="r3")
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 19)
    after = sequence_numbers(store)
    assert {key: seq for key, seq in after.items() if before.get(key) != seq} == {5: 21, 21: 22}
    assert live(store)[5] == (5, "物品5", Decimal("99.99")) and reconciles(store, third)


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(
    ("sqlite", "sqlite"), ("postgresql", "postgresql"), ("mysql", "sqlite")))
def test_a_stopped_copy_resumes_after_its_last_committed_batch(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-1 checkpoints: a copy stopped after batch 2 has committed exactly two batches and their position;
    the next call with the same run id resumes after them — no row read or applied twice, receipts numbered
    1…n without a gap, the totals those of one complete copy; a finished run called again changes nothing."""
    source = make_source(source_kind, ITEMS_SQL + "INSERT INTO items VALUES (21, 'x', 1), (22, 'y', 2), "
                                                  "(23, 'z', 3);")
    store = make_store(store_kind)
    plan = source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=5)
    on_batch, should_stop = stop_after(2)
    stopped = full_copy(plan, store, run_id="r1", on_batch=on_batch, should_stop=should_stop)
    assert (stopped.complete, stopped.batches, stopped.rows_read, stopped.resumed_from_batch) == (
        False, 2, 10, 0)
    assert store.position("e_copy", "r1") == {"phase": "rows", "after": [["int", "10"]], "done": False, "mark": None}
    assert store.summary("e_copy").live_rows == 10
    seen: list[int] = []
    resumed = full_copy(plan, store, run_id="r1", on_batch=lambda receipt: seen.append(receipt.batch))
    assert (resumed.complete, resumed.resumed_from_batch, seen) == (True, 2, [3, 4, 5])
    assert (resumed.batches, resumed.rows_read, resumed.inserted, resumed.updated, resumed.unchanged) == (
        5, 23, 23, 0, 0)
    assert [r.batch for r in store.receipts("e_copy", "r1")] == [1, 2, 3, 4, 5]
    assert sorted(live(store)) == list(range(1, 24)) and reconciles(store, resumed)
    again = full_copy(plan, store, run_id="r1", on_batch=lambda receipt: seen.append(-1))
    assert (again.batches, again.rows_read, again.resumed_from_batch, seen[-1]) == (5, 23, 5, 5)


VISITS_SQL = ("CREATE TABLE visits (day date NOT NULL, 名称 varchar(20) NOT NULL, 序号 numeric(6, 1) NOT NULL, "
              "note varchar(40), PRIMARY KEY (day, 名称, 序号));\n"
              + "".join(f"INSERT INTO visits VALUES ('{('2024-01-01', '2024-02-29')[n % 2]}', '{name}', "
                        f"{n // 6}.5, {'NULL' if n % 5 == 0 else repr('第' + str(n) + '次')});\n"
                        for n, name in enumerate(["张三", "李四", "王五", "赵六", "张三丰", "李"] * 4)))
VISITS_COLUMNS = [("day", StoreColumn("日期", "D")), ("名称", StoreColumn("名称", "C", 20)),
                  ("序号", StoreColumn("序号", "N")), ("note", StoreColumn("说明", "C", 40))]


@pytest.mark.parametrize("source_kind", cases(("sqlite",), ("postgresql",), ("mysql",)))
def test_a_composite_key_with_a_date_and_chinese_text_pages_exactly(
        source_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-1: keyset pagination on a composite key (a date, a Chinese text, a decimal) reads every row exactly
    once, pages splitting rows of the same day and name; the committed position keeps the key's types (date,
    text, decimal) and a resumed run continues from it; NULL in a non-key column stays NULL."""
    source = make_source(source_kind, VISITS_SQL)
    store = make_store("sqlite")
    plan = source.plan("visits", VISITS_COLUMNS, ("day", "名称", "序号"), batch_rows=5)
    on_batch, should_stop = stop_after(3)
    full_copy(plan, store, run_id="r1", on_batch=on_batch, should_stop=should_stop)
    position = store.position("e_copy", "r1")
    assert position is not None and [part[0] for part in position["after"]] == (
        ["str", "str", "float"] if source_kind == "sqlite" else ["date", "str", "decimal"])  # the driver's
    result = full_copy(plan, store, run_id="r1")
    assert (result.rows_read, result.inserted, result.rejected, result.batches) == (24, 24, 0, 5)
    rows = [row[:-2] for row in store.changes_since("e_copy", 0, 100)]
    assert len({row[:3] for row in rows}) == 24
    assert sum(1 for row in rows if row[3] is None) == 5
    assert {row[1] for row in rows} == {"张三", "李四", "王五", "赵六", "张三丰", "李"}
    assert reconciles(store, result)


# -- quality on the way in ---------------------------------------------------------------------------------

RAW_SQL = """CREATE TABLE raw_data (id integer PRIMARY KEY, day varchar(20), amount varchar(20),
               code varchar(40), note varchar(40));
             INSERT INTO raw_data VALUES (1, '2024-01-31', '12.50', '91110000000000000X', NULL);
             INSERT INTO raw_data VALUES (2, '2023-02-30', '1', 'A', 'x');
             INSERT INTO raw_data VALUES (3, '2024-01-01', 'abc', 'B', NULL);
             INSERT INTO raw_data VALUES (4, '2024-01-01', '2', '911100000000000000000000000000', NULL);
             INSERT INTO raw_data VALUES (5, NULL, NULL, NULL, NULL);
             INSERT INTO raw_data VALUES (6, '2023-02-30', 'abc', 'C', NULL);"""
RAW_COLUMNS = [("id", StoreColumn("编号", "I")), ("day", StoreColumn("日期", "D")),
               ("amount", StoreColumn("金额", "N")), ("code", StoreColumn("统一社会信用代码", "C", 18)),
               ("note", StoreColumn("备注", "C", 40))]


@pytest.mark.parametrize(("source_kind", "store_kind"), cases(
    ("sqlite", "postgresql"), ("postgresql", "sqlite"), ("mysql", "sqlite")))
def test_values_that_cannot_be_converted_are_quarantined_never_cut(
        source_kind: str, store_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-7: an impossible date, text in a number, a 30-character value for a C(18) item — the row is not
    applied, each bad value is quarantined with the row's key, the item and the reason, and the receipt counts
    the rejected rows; NULLs are not errors; the read hash covers the accepted rows and reconciles."""
    source = make_source(source_kind, RAW_SQL)
    store = make_store(store_kind)
    result = full_copy(source.plan("raw_data", RAW_COLUMNS, ("id",)), store, run_id="r1")
    assert (result.rows_read, result.inserted, result.rejected) == (6, 2, 4)
    assert live(store) == {1: (1, dt.date(2024, 1, 31), Decimal("12.5"), "91110000000000000X", None),
                           5: (5, None, None, None, None)}
    found = [(q["key"], q["item"], q["reason"].split(":")[0]) for q in store.quarantine("e_copy", "r1")]
    assert found == [("2", "日期", "no_such_date"), ("3", "金额", "not_a_number"),
                     ("4", "统一社会信用代码", "too_long"), ("6", "日期", "no_such_date"), ("6", "金额", "not_a_number")]
    too_long = store.quarantine("e_copy")[2]["reason"]
    assert "30 characters, at most 18" in too_long
    assert reconciles(store, result)


def test_repeated_and_empty_keys_are_counted_and_quarantined(make_source: Callable[[str, str], Source],
                                                              make_store: Callable[[str], Store]) -> None:
    """EXC-7: with a key chosen for a table that declares none, a repeated key (within a page, and beyond the
    page's end where keyset paging would skip it) and an empty key are quarantined, not lost: rows_read is the
    table's row count."""
    source = make_source("sqlite", "CREATE TABLE t (code TEXT, v INTEGER);" + "".join(
        f"INSERT INTO t VALUES ({code}, {n});" for n, code in enumerate(
            ["'a'", "'b'", "'c'", "'c'", "'c'", "'d'", "NULL", "NULL", "'e'"])))
    store = make_store("sqlite")
    plan = source.plan("t", [("code", StoreColumn("代码", "C")), ("v", StoreColumn("值", "I"))], ("code",),
                       batch_rows=4)
    result = full_copy(plan, store, run_id="r1")
    assert (result.rows_read, result.inserted, result.rejected) == (9, 5, 4)
    reasons = [(q["key"], q["reason"]) for q in store.quarantine("e_copy")]
    assert [(key, reason.split(":")[0]) for key, reason in reasons] == [
        ("c", "duplicate_key"), ("c", "duplicate_key"), ("", "empty_key")]
    assert "1 more rows" in reasons[1][1] and "2 rows" in reasons[2][1]
    assert sorted(live(store)) == ["a", "b", "c", "d", "e"]


HOSTILE = 'x"`; DROP TABLE people; -- %s'


def hostile_sql(kind: str) -> str:
    if kind == "mysql":
        quote: Callable[[str], str] = lambda name: "`" + name.replace("`", "``") + "`"  # noqa: E731
    else:
        quote = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    odd = quote('a"b`c')
    return (f"CREATE TABLE people (id integer PRIMARY KEY);\n"
            f"CREATE TABLE {quote(HOSTILE)} ({quote('名称')} varchar(20) PRIMARY KEY, "
            f"{quote('rate%s')} integer, {odd} varchar(10));\n"
            f"INSERT INTO {quote(HOSTILE)} VALUES ('甲', 1, 'q'), ('乙', 2, NULL);")


@pytest.mark.parametrize("source_kind", cases(("sqlite",), ("postgresql",), ("mysql",)))
def test_hostile_table_and_column_names_are_quoted_by_the_sources_rules(
        source_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-1 (SEC hostile input): a source table and columns named with quotes, backticks, a semicolon and
    ``%s`` are read as names (double quotes or backticks by the dialect, ``%`` doubled where the driver
    formats parameters) — nothing else runs; a hostile store table name is refused before anything is read."""
    source = make_source(source_kind, hostile_sql(source_kind))
    store = make_store("sqlite")
    columns = [("名称", StoreColumn("名称", "C", 20)), ("rate%s", StoreColumn("比率", "I")),
               ('a"b`c', StoreColumn("备注", "C", 10))]
    result = full_copy(source.plan(HOSTILE, columns, ("名称",)), store, run_id="r1")
    assert (result.rows_read, result.inserted) == (2, 2)
    assert live(store) == {"甲": ("甲", 1, "q"), "乙": ("乙", 2, None)}
    source.admin("INSERT INTO people VALUES (1);")  # the other table is still there
    with pytest.raises(StoreError) as caught:
        full_copy(source.plan(HOSTILE, columns, ("名称",), target='e"; DROP TABLE _gs_tables; --'), store,
                  run_id="r2")
    assert caught.value.code == "other" and store.receipts("e_copy") != []


# -- failures: the source, the disk, the schema ------------------------------------------------------------

@pytest.mark.parametrize("source_kind", cases(("postgresql",), ("mysql",)))
def test_a_source_that_drops_the_connection_is_resumed_after_the_last_committed_batch(
        source_kind: str, make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        request: pytest.FixtureRequest) -> None:
    """EXC-1 checkpoints: the server kills the copy's connection after batch 2 — the copy fails with the
    source's error, batches 1–2 stay committed; the next call resumes with batch 3 and the table is whole, no
    row twice."""
    source = make_source(source_kind, ITEMS_SQL)
    store = make_store("sqlite")
    plan = source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=6)

    def kill_after_second(receipt: Any) -> None:
        if receipt.batch != 2:
            return
        if source_kind == "postgresql":
            with pg_admin(request.getfixturevalue("pg_source_url")) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                              (source.spec.user,))
        else:
            with mysql_admin(request.getfixturevalue("mysql_source_url")) as admin, admin.cursor() as cursor:
                cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s",
                               (source.spec.user,))
                for (thread,) in cursor.fetchall():
                    cursor.execute(f"KILL CONNECTION {int(thread)}")

    with pytest.raises(SourceError):
        full_copy(plan, store, run_id="r1", on_batch=kill_after_second)
    assert store.last_batch("e_copy", "r1") == 2 and store.summary("e_copy").live_rows == 12
    result = full_copy(plan, store, run_id="r1")
    assert (result.resumed_from_batch, result.batches, result.rows_read, result.inserted) == (2, 4, 20, 20)
    assert sorted(live(store)) == list(range(1, 21)) and reconciles(store, result)


@pytest.mark.parametrize("source_kind", cases(("sqlite",), ("postgresql",)))
def test_a_source_that_lost_a_column_fails_with_the_sources_own_error(
        source_kind: str, make_source: Callable[[str, str], Source],
        make_store: Callable[[str], Store]) -> None:
    """EXC-1: when the source table lost a column between runs, the copy fails with the source's error naming
    the column, before writing anything; the centre's table is untouched."""
    source = make_source(source_kind, ITEMS_SQL)
    store = make_store("sqlite")
    plan = source.plan("items", ITEMS_COLUMNS, ("id",))
    full_copy(plan, store, run_id="r1")
    before = store.summary("e_copy")
    source.admin("ALTER TABLE items DROP COLUMN amount;")
    with pytest.raises(SourceError) as caught:
        full_copy(plan, store, run_id="r2")
    assert "amount" in caught.value.detail
    assert store.summary("e_copy") == before and store.receipts("e_copy", "r2") == []


def test_a_full_disk_stops_the_copy_and_the_next_run_resumes(make_source: Callable[[str, str], Source],
                                                             tmp_path: Path) -> None:
    """EXC-1 checkpoints: the centre's disk fills up mid-copy — the copy fails with ``full`` after its last
    complete batch; once there is room the same run resumes and ends with every row once."""
    source = make_source("sqlite", "CREATE TABLE items (id integer PRIMARY KEY, name varchar(40), "
                                   "amount numeric); WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL "
                                   "SELECT value + 1 FROM n WHERE value < 3000) INSERT INTO items "
                                   "SELECT value, printf('物品%05d', value), value * 1.5 FROM n;")
    plan = source.plan("items", ITEMS_COLUMNS, ("id",), batch_rows=500)
    with Store.open(f"sqlite:///{tmp_path}/full.sqlite3") as store:
        store.ensure_table("e_copy", [item for _, item in ITEMS_COLUMNS], ["编号"])
        (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
        store._conn.execute(f"PRAGMA max_page_count = {pages + 40}")
        with pytest.raises(StoreError) as caught:
            full_copy(plan, store, run_id="r1")
        assert caught.value.code == "full"
        committed = store.last_batch("e_copy", "r1")
        assert 0 < committed < 6 and store.summary("e_copy").live_rows == committed * 500
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        result = full_copy(plan, store, run_id="r1")
        assert (result.resumed_from_batch, result.rows_read, result.inserted) == (committed, 3000, 3000)
        assert [r.batch for r in store.receipts("e_copy", "r1")] == list(range(1, 8))  # 7: the end, empty


# -- memory and kill -9 ------------------------------------------------------------------------------------

def big_source(path: Path, rows: int) -> SourceSpec:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC, day DATE)")
        conn.execute("WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n "
                     f"WHERE value < {rows}) INSERT INTO big SELECT value, "
                     "printf('%s-%08d', hex(randomblob(40)), value), value * 0.25, "
                     "date('2000-01-01', '+' || (value % 9000) || ' days') FROM n")
        conn.commit()
    return SourceSpec(kind="sqlite", database=str(path), statement_timeout=60.0)


BIG_COLUMNS = (("id", "name", "amount", "day"),
               (StoreColumn("编号", "I"), StoreColumn("名称", "C", 100), StoreColumn("金额", "N"),
                StoreColumn("日期", "D")))


MEASURED_COPY = """
import sys
from govshare.datastore.engine.store import Store, StoreColumn
from govshare.exchange.engine.copy import CopyPlan, full_copy
from govshare.exchange.engine.sources import SourceSpec


def high_water_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


plan = CopyPlan(SourceSpec(kind="sqlite", database=sys.argv[1], statement_timeout=60.0), "main", "big",
                ("id", "name", "amount", "day"), (StoreColumn("编号", "I"), StoreColumn("名称", "C", 100),
                StoreColumn("金额", "N"), StoreColumn("日期", "D")), ("id",), "e_big", batch_rows=5000)
with Store.open("sqlite:///" + sys.argv[2]) as store:
    store.ensure_table("e_big", plan.items, ["编号"])
    before = high_water_kib()
    result = full_copy(plan, store, run_id="r1")
    print(result.rows_read, result.inserted, result.batches, high_water_kib() - before,
          store.summary("e_big").content_hash == result.read_hash)
"""


def test_a_full_copy_streams_in_constant_memory(tmp_path: Path) -> None:
    """EXC-1: the full copy holds one batch at a time — 200 000 rows (≈ 18 MB of text alone; one batch of
    them all takes ≈ 150 MB) copied in 5 000-row batches by a process whose peak resident memory grows by less
    than 30 MB.  Measured in a child process (VmHWM) rather than with tracemalloc: it sees the drivers' own
    memory too, and tracing every allocation made the copy six times slower."""
    big_source(tmp_path / "big.db", 200_000)
    child = subprocess.run([sys.executable, "-c", MEASURED_COPY, str(tmp_path / "big.db"),
                            str(tmp_path / "centre.sqlite3")], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, check=True)
    rows_read, inserted, batches, growth_kib, reconciled = child.stdout.split()
    assert (int(rows_read), int(inserted), int(batches), reconciled) == (200_000, 200_000, 41, "True")
    assert int(growth_kib) < 30 * 1024, f"peak memory grew by {int(growth_kib) / 1024:.1f} MB"


# the kill -9 test (20 moments of a full copy, 20 of an incremental run): tests/test_exchange_incremental.py


# -- conversion and positions ------------------------------------------------------------------------------

CONVERSIONS: list[tuple[Any, str, int | None, Any]] = [
    # value, letter, length, the store's value or the reason's code
    ("123456789012345678", "C", 18, "123456789012345678"),
    ("1234567890123456789", "C", 18, "too_long"),
    ("统一社会信用代码", "C", 8, "统一社会信用代码"),
    ("统一社会信用代码!", "C", 8, "too_long"),
    (Decimal("1234.50"), "C", None, "1234.50"),
    (dt.date(2024, 1, 31), "C", None, "2024-01-31"),
    (b"\xe4\xb8\xad", "C", None, "中"),
    (b"\xff", "C", None, "not_text"),
    ({"a": 1}, "C", None, '{"a": 1}'),
    (dt.timedelta(hours=-26, minutes=-5), "C", None, "-26:05:00"),
    ("a\x00b", "M", None, "nul_character"),
    ("1.50", "N", None, Decimal("1.50")),
    (" 12 ", "N", None, Decimal(12)),
    ("abc", "N", None, "not_a_number"),
    ("1,000", "N", None, "not_a_number"),
    ("NaN", "N", None, "not_a_number"),
    (float("nan"), "N", None, "not_finite"),
    (True, "N", None, "not_a_number"),
    (Decimal("12345.67"), "N", 7, Decimal("12345.67")),
    (Decimal("12345.678"), "N", 7, "too_many_digits"),
    (0.1, "Y", None, Decimal("0.1")),
    (Decimal("3.00"), "I", None, 3),
    (3.5, "I", None, "not_whole"),
    ("7", "I", None, 7),
    (2**63, "I", None, "out_of_range"),
    (-(2**63), "I", None, -(2**63)),
    (Decimal("0.1"), "B", None, 0.1),
    (Decimal("1E+400"), "B", None, "out_of_range"),
    (float("inf"), "B", None, "not_finite"),
    ("2.5", "F", None, 2.5),
    (-0.0, "F", None, 0.0),
    ("2023-02-30", "D", None, "no_such_date"),
    ("0000-00-00", "D", None, "no_such_date"),
    ("2024-02-29", "D", None, dt.date(2024, 2, 29)),
    ("20240131", "D", None, dt.date(2024, 1, 31)),
    ("2024年1月31日", "D", None, dt.date(2024, 1, 31)),
    ("2024/1/31", "D", None, dt.date(2024, 1, 31)),
    ("yesterday", "D", None, "not_a_date"),
    (dt.datetime(2024, 1, 31, 0, 0), "D", None, dt.date(2024, 1, 31)),
    (dt.datetime(2024, 1, 31, 9, 30), "D", None, "has_time"),
    ("2024-01-31 09:30:00", "D", None, "has_time"),
    (None, "D", None, None),
    ("2024-01-31 09:30:00+08:00", "T", None, dt.datetime(2024, 1, 31, 1, 30)),
    ("2024/01/31 09:30", "T", None, dt.datetime(2024, 1, 31, 9, 30)),
    ("2023-02-30 10:00:00", "T", None, "no_such_date"),
    ("10:00", "T", None, "not_a_datetime"),
    (dt.date(2024, 1, 31), "T", None, dt.datetime(2024, 1, 31)),
    (1, "L", None, True),
    ("否", "L", None, False),
    (b"\x01", "L", None, True),
    (2, "L", None, "not_logical"),
    ("maybe", "L", None, "not_logical"),
    ("文本", "G", None, "文本".encode()),
    (memoryview(b"\x00\x01"), "G", None, b"\x00\x01"),
    (12, "G", None, "not_binary"),
]


@pytest.mark.parametrize(("value", "letter", "length", "expected"), CONVERSIONS)
def test_convert_gives_the_items_type_or_a_reason_never_a_cut_value(
        value: Any, letter: str, length: int | None, expected: Any) -> None:
    """EXC-7: each source value becomes the item's type exactly, or a ValueError whose reason starts with its
    code — a C value one character too long, a day that does not exist, a fraction into I: never cut, never
    rounded (B/F take the nearest double), never guessed."""
    column = StoreColumn("项", letter, length)
    codes = {"too_long", "not_text", "nul_character", "not_a_number", "not_finite", "too_many_digits",
             "not_whole", "out_of_range", "no_such_date", "not_a_date", "has_time", "not_a_datetime",
             "not_logical", "not_binary"}
    if isinstance(expected, str) and expected in codes:
        with pytest.raises(ValueError, match=f"^{expected}: "):
            convert(value, column)
        return
    converted = convert(value, column)
    assert converted == expected and type(converted) is type(expected)


def test_positions_round_trip_every_key_type_exactly() -> None:
    """EXC-1 checkpoints: a committed position holds the last key's values with their types, so the resumed
    copy compares the source's key with exactly the same values (dates, decimals with their scale, aware
    times, bytes, big integers)."""
    values = (dt.date(2024, 2, 29), Decimal("1.50"), "张三 ", 2**70, 0.1, True,
              dt.datetime(2024, 1, 1, 8, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),
              dt.datetime(2024, 1, 1, 8), b"\x00\xff", dt.timedelta(hours=-1, microseconds=7),
              dt.time(23, 59))
    back = decode_key(json.loads(json.dumps(encode_key(values))))
    assert back == values and [type(v) for v in back] == [type(v) for v in values]
    assert str(back[1]) == "1.50" and back[6].utcoffset() == dt.timedelta(hours=8)
    with pytest.raises(SourceError):
        encode_key([object()])


def test_a_worker_that_finds_its_batch_committed_by_another_goes_on_from_the_committed_position(
        make_source: Any, make_store: Any) -> None:
    """EXC-1 (review): two workers on one run — the second, presumed dead but still running, must continue from
    what the first committed, not from its own page: no row is lost."""
    src = make_source("sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x<9) "
                      "INSERT INTO t SELECT x, 'v'||x FROM n;")
    a = make_store("sqlite")
    url = f"sqlite:///{a._conn.execute('PRAGMA database_list').fetchone()[2]}"
    plan = src.plan("t", [("id", StoreColumn("编号", "I")), ("v", StoreColumn("值", "C", 20))], ("id",),
                    batch_rows=3)

    class Late(Store):  # asked for the last batch before the other worker committed batch 1
        first = True

        def last_batch(self, table: str, run_id: str) -> int:
            if self.first:
                self.first = False
                return 0
            return super().last_batch(table, run_id)

    def on_batch(receipt: Any) -> None:
        if receipt.batch == 1:
            src.admin("DELETE FROM t WHERE id = 2;")  # deleted at the source meanwhile
            full_copy(plan, Late("sqlite", Store.open(url)._conn), run_id="r1")

    full_copy(plan, a, run_id="r1", on_batch=on_batch)
    assert sorted(live(a)) == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # 2 was copied before it went; 4 is not lost
    done = [r.batch for r in a.receipts("e_copy", "r1") if r.position.get("done")]
    assert len(done) == 1


@pytest.mark.parametrize("store_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.xdist_group("sources"))])
def test_keys_that_become_equal_on_conversion_in_different_batches_are_quarantined_not_overwritten(
        make_source: Any, make_store: Any, store_kind: str) -> None:
    """EXC-7 (review): '2024-01-31' and '2024/01/31' are one date: the second row must not silently replace the
    first — it is quarantined with the reason, the first stays."""
    src = make_source("sqlite", "CREATE TABLE t (day TEXT PRIMARY KEY, v TEXT);"
                      "INSERT INTO t VALUES ('2024-01-31','first'),('2024/01/31','second');")
    store = make_store(store_kind)
    plan = src.plan("t", [("day", StoreColumn("日期", "D")), ("v", StoreColumn("值", "C", 20))], ("day",),
                    batch_rows=1)
    result = full_copy(plan, store, run_id="r1")
    assert (result.rows_read, result.inserted, result.updated, result.rejected) == (2, 1, 0, 1)
    assert [row[1] for row in live(store).values()] == ["first"]
    (held,) = store.quarantine("e_copy")
    assert held["reason"].startswith("duplicate_key") and "2024-01-31" in held["key"]
    again = full_copy(plan, store, run_id="r2")  # the next copy: the first row unchanged, the second held again
    assert (again.unchanged, again.rejected, again.updated) == (1, 1, 0)


# ------------------------------------------------------------------ reconciliation (issue 10 item 7)

def test_reconciliation_finds_an_unchanged_copy_equal_and_names_missing_extra_and_different_keys(
        make_source: Any, make_store: Any) -> None:
    """EXC-7: source and centre compared by count and content hash; when they differ, the keys are named."""
    from govshare.exchange.engine.copy import reconcile

    src = make_source("sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, d TEXT);"
                      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x<500) "
                      "INSERT INTO t SELECT x, 'v'||x, '2024-01-02' FROM n;")
    store = make_store("sqlite")
    plan = src.plan("t", [("id", StoreColumn("编号", "I")), ("v", StoreColumn("值", "C", 20)),
                          ("d", StoreColumn("日期", "D"))], ("id",), batch_rows=100)
    full_copy(plan, store, run_id="r1")
    same = reconcile(plan, store)
    assert same.equal and same.source_rows == same.centre_rows == 500 and same.buckets_differing == 0
    src.admin("DELETE FROM t WHERE id = 7; UPDATE t SET v = 'changed' WHERE id = 250;"
              "INSERT INTO t VALUES (501, 'new', '2024-01-03'), (502, 'bad', '2024-02-30');")
    report = reconcile(plan, store)
    assert not report.equal and report.source_unstorable == 1
    assert (report.missing_in_centre, report.extra_in_centre, report.different) == (["501"], ["7"], ["250"])
    assert report.source_rows == 500 and report.centre_rows == 500


@pytest.mark.xdist_group("sources")
def test_a_postgresql_infinity_date_is_quarantined_not_the_end_of_the_copy(make_source: Any, make_store: Any) -> None:
    """EXC-7 (review): a value Python cannot hold (PostgreSQL's infinity, a date before year 1) is one quarantined
    value; the other rows are copied."""
    src = make_source("postgresql", "CREATE TABLE t (id int PRIMARY KEY, d date, ts timestamptz);"
                      "INSERT INTO t SELECT g, DATE '2020-01-01', TIMESTAMPTZ '2020-01-01 08:00+08' "
                      "FROM generate_series(1, 10) g;"
                      "UPDATE t SET d = 'infinity' WHERE id = 7; UPDATE t SET ts = '-infinity' WHERE id = 8;")
    store = make_store("sqlite")
    plan = src.plan("t", [("id", StoreColumn("编号", "I")), ("d", StoreColumn("日期", "D")),
                          ("ts", StoreColumn("时间", "T"))], ("id",))
    result = full_copy(plan, store, run_id="r1")
    assert (result.rows_read, result.inserted, result.rejected) == (10, 8, 2)
    reasons = {q["key"]: q["reason"] for q in store.quarantine("e_copy")}
    assert set(reasons) == {"7", "8"} and "infinity" in reasons["7"]


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_text_that_is_not_utf8_in_a_sqlite_source_is_quarantined_by_row_and_the_copy_goes_on(
        store_kind: str, make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """EXC-7 (a source that lies about its text): a SQLite file written by a GBK program holds bytes that are not
    UTF-8 in TEXT columns — in a value and in a key.  Each such row is quarantined with the reason and its key
    (shown as hex when the key itself is not text); every other row is copied, across pages and a resume, none
    skipped — by the full copy, watermark mode's key check, compare mode and the reconciliation alike."""
    from govshare.exchange.engine.compare import compare_copy
    from govshare.exchange.engine.copy import delete_unseen, key_scan, reconcile

    gbk = "张三".encode("gbk").hex()
    source = make_source("sqlite", "CREATE TABLE t (code TEXT PRIMARY KEY, name TEXT);" + "".join(
        f"INSERT INTO t VALUES ('k{n:02d}', '名{n}');" for n in range(1, 10))
        + f"INSERT INTO t VALUES ('k05x', CAST(x'{gbk}' AS TEXT));"
        + f"INSERT INTO t VALUES (CAST(x'6b3035{gbk}' AS TEXT), '键坏了');")  # k05…: after k05x, before k06
    store = make_store(store_kind)
    plan = source.plan("t", [("code", StoreColumn("代码", "C", 20)), ("name", StoreColumn("名称", "C", 20))],
                       ("code",), batch_rows=7)  # the first page ends on the key that is not text
    stopped = full_copy(plan, store, run_id="r1", should_stop=iter([False, True]).__next__)
    assert not stopped.complete and stopped.rows_read == 7
    result = full_copy(plan, store, run_id="r1")  # resumed from the position kept with the first batch
    assert (result.rows_read, result.inserted, result.rejected) == (11, 9, 2)
    assert sorted(live(store)) == [f"k{n:02d}" for n in range(1, 10)]
    held = {q["item"]: q for q in store.quarantine("e_copy", "r1")}
    assert held["名称"]["key"] == "k05x" and held["名称"]["reason"].startswith("not_text")
    assert held["代码"]["reason"].startswith("not_text") and gbk in held["代码"]["reason"]
    again = full_copy(plan, store, run_id="r2")  # the next copy: the same, nothing deleted or duplicated
    assert (again.rows_read, again.inserted, again.unchanged, again.rejected) == (11, 0, 9, 2)
    keys = key_scan(plan, store, run_id="r3")  # watermark mode's key check reads the same keys
    assert keys.keys_read == 11 and keys.rejected == 2  # (rows the centre lacks are read again: held again)
    assert delete_unseen(plan, store, run_id="r3", guard_share=0.5).deleted == 0
    compared = compare_copy(plan, store, run_id="r4", guard_share=0.5)  # compare mode: nothing changed
    assert compared.complete and compared.deletions.deleted == 0 and sorted(live(store)) == [f"k{n:02d}" for n in range(1, 10)]
    report = reconcile(plan, store)
    assert (report.source_rows, report.source_unstorable, report.centre_rows) == (9, 2, 9), report
    assert report.source_hash == report.centre_hash and not report.missing_in_centre


def test_an_update_time_that_is_not_utf8_stops_watermark_mode_saying_so_instead_of_keeping_bytes(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    """Review 5 of the 20th session: a GBK update time became the watermark (as TEXT it sorts after every real time),
    and the next runs read nothing.  Now the run fails naming the column and the value; no position is kept."""
    from govshare.exchange.engine.copy import watermark_copy

    gbk = "2024年5月1日".encode("gbk").hex()
    source = make_source("sqlite", "CREATE TABLE t (code TEXT PRIMARY KEY, upd TEXT);"
                                   "INSERT INTO t VALUES ('k1', '2024-05-01 08:00:00');"
                                   f"INSERT INTO t VALUES ('k2', CAST(x'{gbk}' AS TEXT));")
    store = make_store("sqlite")
    plan = source.plan("t", [("code", StoreColumn("代码", "C", 20)), ("upd", StoreColumn("更新时间", "C", 40))],
                       ("code",))
    plan = replace(plan, watermark="upd")
    with pytest.raises(SourceError) as caught:
        watermark_copy(plan, store, run_id="w1", since=None, overlap_seconds=0)
    assert "not UTF-8" in caught.value.detail and "upd" in caught.value.detail
