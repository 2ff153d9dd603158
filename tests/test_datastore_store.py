"""The data resource centre's store (govshare/datastore/engine/store.py) on a SQLite file and on a PostgreSQL
database (made on the exchange tests' throwaway server, tests/source_servers.py): typed columns per item,
change sequence numbers and tombstones, batches committed with their receipts and quarantine, idempotent
replays (EXC-1 table exchange; EXC-7 quality: receipts, reconciliation hashes, quarantine)."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from govshare.datastore.engine.store import (
    LETTERS,
    BatchReceipt,
    Store,
    StoreColumn,
    StoreError,
    combine,
    merge,
    query_index_prefix,
    row_hash,
)
from tests.source_servers import pg_admin

#: the store never touches the platform's database: these tests run once, in the SQLite pass of ``make test``
pytestmark = pytest.mark.once

_databases = itertools.count(1)

ITEMS = [StoreColumn("编号", "C", 18), StoreColumn("金额", "N"), StoreColumn("日期", "D")]
KEY = ["编号"]


def pg_store_url(server_url: str, prefix: str = "centre") -> str:
    """A fresh database on the throwaway PostgreSQL server, as a store URL."""
    name = f"{prefix}_{next(_databases)}"
    with pg_admin(server_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.xdist_group("sources"))])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/centre.sqlite3"
    return pg_store_url(request.getfixturevalue("pg_source_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


def raw(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """A query on the store's own connection (to look behind the API)."""
    return [tuple(row) for row in store._conn.execute(sql).fetchall()]


def apply(store: Store, rows: list[list[Any]], *, run_id: str = "r1", batch: int = 1, table: str = "e_1",
          **kwargs: Any) -> BatchReceipt:
    return store.apply(table, rows, run_id=run_id, batch=batch, position={"after": batch},
                       rows_read=kwargs.pop("rows_read", len(rows)), read_hash=combine(map(row_hash, rows)),
                       **kwargs)


def seqs(store: Store, table: str = "e_1") -> dict[Any, tuple[int, str]]:
    """Each row's key (first column) → (_seq, _run)."""
    return {row[0]: (int(row[1]), row[2]) for row in raw(store, f'SELECT c1, _seq, _run FROM "{table}"')}


# -- hashes ------------------------------------------------------------------------------------------------

def test_row_hash_is_canonical_and_type_tagged() -> None:
    """EXC-7 reconciliation: the same values hash the same whatever produced them (1.50 and 1.5, an aware time
    and its UTC time); values of different types or split differently never collide; the set hash ignores
    order and adds up across batches."""
    assert row_hash([Decimal("1.50")]) == row_hash([Decimal("1.5")]) == row_hash([Decimal("15E-1")])
    assert row_hash([Decimal("1E+2")]) == row_hash([Decimal("100")])
    assert row_hash([Decimal("-0.00")]) == row_hash([Decimal("0")])
    aware = dt.datetime(2024, 1, 2, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert row_hash([aware]) == row_hash([dt.datetime(2024, 1, 2, 0, 0)])
    kinds = [1, "1", 1.0, Decimal(1), True, b"1", dt.date(2001, 1, 1), None, ""]
    assert len({row_hash([value]) for value in kinds}) == len(kinds)
    assert row_hash(["ab", "c"]) != row_hash(["a", "bc"])
    assert row_hash(["a", None]) != row_hash(["a"])
    assert row_hash(["数据"]) != row_hash(["数据 "])
    hashes = [row_hash([n, f"行{n}"]) for n in range(50)]
    assert combine(hashes) == combine(reversed(hashes))
    assert merge([combine(hashes[:20]), combine(hashes[20:])]) == combine(hashes)
    assert combine(hashes[:49]) != combine(hashes)
    assert len(combine(hashes)) == 32 and combine([]) == "0" * 32


# -- tables ------------------------------------------------------------------------------------------------

SQLITE_TYPES = {"C": "TEXT", "N": "TEXT", "Y": "TEXT", "D": "TEXT", "T": "TEXT", "L": "INTEGER", "M": "TEXT",
                "G": "BLOB", "B": "REAL", "I": "INTEGER", "F": "REAL"}
PG_TYPES = {"C": "text", "N": "numeric", "Y": "numeric", "D": "date", "T": "timestamp without time zone",
            "L": "boolean", "M": "text", "G": "bytea", "B": "double precision", "I": "bigint",
            "F": "double precision"}


def declared(store: Store, table: str) -> dict[str, str]:
    if store.kind == "sqlite":
        return {row[1]: row[2] for row in raw(store, f"SELECT * FROM pragma_table_info('{table}')")}
    sql = f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}'"
    return {row[0]: row[1] for row in raw(store, sql)}


def test_a_typed_column_per_letter_and_values_kept_exactly(store: Store) -> None:
    """EXC-1: one typed column per information item (c1…cN in item order, one per letter of the guide) plus
    the system columns; every kind of value comes back as it went in — a 39-digit decimal without rounding
    (SQLite keeps N as text), microseconds, bytes with NUL, Chinese text — and an aware time is kept in
    UTC."""
    items = [StoreColumn(f"项{letter}", letter, 18 if letter == "C" else None) for letter in LETTERS]
    store.ensure_table("e_types", items, ["项C"])
    types = declared(store, "e_types")
    expected = SQLITE_TYPES if store.kind == "sqlite" else PG_TYPES
    assert {f"c{i}": types[f"c{i}"] for i in range(1, 12)} == {f"c{i}": expected[letter]
                                                              for i, letter in enumerate(LETTERS, 1)}
    assert {"_seq", "_deleted", "_hash", "_run"} <= set(types)
    row: list[Any] = ["统一社会信用代码", Decimal("123456789012345678901234567890.123456789"), Decimal("12.50"),
           dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 23, 59, 59, 123456), True, "备注\n" * 100,
           b"\x00\xffGIF", 2.5e-300, -(2**63), 0.1]
    aware = list(row)
    aware[0], aware[4] = "另一行", dt.datetime(2024, 3, 1, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    nulls: list[Any] = ["空行"] + [None] * 10
    receipt = apply(store, [row, aware, nulls], table="e_types")
    assert (receipt.inserted, receipt.written_hash) == (3, combine(map(row_hash, [row, aware, nulls])))
    back = {values[0]: values[:-2] for values in store.changes_since("e_types", 0, 10)}
    assert back["统一社会信用代码"] == tuple(row)
    assert back["另一行"][4] == dt.datetime(2024, 2, 29, 23, 0)  # 07:00 at +08:00
    assert back["空行"] == tuple(nulls)
    assert str(back["统一社会信用代码"][1]) == "123456789012345678901234567890.123456789"
    if store.kind == "sqlite":
        assert raw(store, "SELECT typeof(c2), c2 FROM e_types WHERE c1 = '统一社会信用代码'") == [
            ("text", "123456789012345678901234567890.123456789")]


HOSTILE_TABLES = ['x"; DROP TABLE _gs_tables; --', "E_UPPER", "1abc", "_gs_tables", "sqlite_master",
                  "pg_class", "a" * 64, "", "名称", "e-1", "e 1", "e_1;"]


def test_hostile_table_names_are_refused_and_item_names_never_reach_sql(store: Store) -> None:
    """EXC-1 (SEC hostile input): a store table name is ``[a-z][a-z0-9_]{0,62}``, anything else is refused
    before any SQL; the items' names — quotes, semicolons, Chinese — only live in ``_gs_tables``."""
    for name in HOSTILE_TABLES:
        with pytest.raises(StoreError) as caught:
            store.ensure_table(name, ITEMS, KEY)
        assert caught.value.code == "other", name
    hostile_items = [StoreColumn('a"; DROP TABLE _gs_tables; --', "C"), StoreColumn("`b`", "I"),
                     StoreColumn("统一社会信用代码", "C", 18)]
    store.ensure_table("e_hostile", hostile_items, ['a"; DROP TABLE _gs_tables; --'])
    assert apply(store, [["x", 1, "91110000000000000X"]], table="e_hostile").inserted == 1
    assert {"c1", "c2", "c3"} <= set(declared(store, "e_hostile"))
    assert raw(store, "SELECT count(*) FROM _gs_tables") == [(1,)]


def test_same_shape_is_a_no_op_another_is_shape_changed_and_nothing_is_altered(store: Store) -> None:
    """EXC-1: ensure_table is idempotent for the same items and key; another type, item order, a removed item or
    another key is ``shape_changed`` naming what differs, and the table keeps its columns and rows; a table the
    store did not make is never adopted.  (A table that only grows takes the change: the next test.)"""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", Decimal(1), None]])
    store.ensure_table("e_1", ITEMS, KEY)
    changes = {
        "'金额': N → I": ([ITEMS[0], StoreColumn("金额", "I"), ITEMS[2]], KEY),
        "'备注' added": ([StoreColumn("备注", "M"), *ITEMS], KEY),  # added, but not at the end
        "'日期' removed": (ITEMS[:2], KEY),
        "key (编号) → (编号, 日期)": (ITEMS, ["编号", "日期"]),
        "another order": ([ITEMS[1], ITEMS[0], ITEMS[2]], KEY),
    }
    for words, (items, key) in changes.items():
        with pytest.raises(StoreError) as caught:
            store.ensure_table("e_1", items, key)
        assert caught.value.code == "shape_changed" and words in caught.value.detail, caught.value.detail
    assert sorted(c for c in declared(store, "e_1") if c.startswith("c")) == ["c1", "c2", "c3"]
    assert [row[:3] for row in store.changes_since("e_1", 0, 10)] == [("a", Decimal(1), None)]
    store._conn.execute('CREATE TABLE "e_foreign" (x integer)')
    with pytest.raises(StoreError) as caught:
        store.ensure_table("e_foreign", ITEMS, KEY)
    assert caught.value.code == "shape_changed"


def test_a_table_takes_an_entry_version_that_only_grows_lengths_changed_and_items_added_at_the_end(
        store: Store) -> None:
    """EXC-1 (review): a new version of the entry with a longer item and a new item must not stop every later
    copy: the table takes it — rows already there keep their values, the new column is empty until the next
    copy fills it."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", Decimal(1), None]])
    grown = [StoreColumn("编号", "C", 20), *ITEMS[1:], StoreColumn("备注", "M")]
    store.ensure_table("e_1", grown, KEY)
    store.ensure_table("e_1", grown, KEY)  # and it is then the table's shape
    assert sorted(c for c in declared(store, "e_1") if c.startswith("c")) == ["c1", "c2", "c3", "c4"]
    assert [row[:4] for row in store.changes_since("e_1", 0, 10)] == [("a", Decimal(1), None, None)]
    receipt = store.apply("e_1", [["a", Decimal(1), None, "补充"]], run_id="r2", batch=1, position={},
                          rows_read=1, read_hash="")
    assert receipt.updated == 1 and store.changes_since("e_1", 1, 10)[0][3] == "补充"


def test_a_table_is_made_again_for_a_version_it_cannot_take_keeping_its_history_and_sequence(store: Store) -> None:
    """EXC-1 (an entry's new version removed, reordered or retyped its items): ``rebuild_table`` makes the table
    again, empty, in the new shape — its rows, key list, query indexes and bucket maps go; the receipts of its
    runs stay; sequence numbers go on after the old table's last, so whoever follows its changes sees the next
    copy's rows as new; the next copy into it is a first one (fresh), and this connection's scratch tables are
    made again in the new types."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", Decimal(1), None], ["b", Decimal(2), None]])
    apply(store, [["c", Decimal(3), None]], batch=2)
    store.remember("e_1", [["a"]], run_id="r9", batch=1, position={}, rows_read=1)  # a key list with a run in it
    from govshare.datastore.engine import indexes

    assert indexes.sync(store, "e_1", ["金额"]) == (["金额"], {})
    assert store.indexes("e_1", query_index_prefix("e_1"))
    retyped = [StoreColumn("编号", "C", 18), StoreColumn("金额", "I"), StoreColumn("备注", "M")]
    assert store.rebuild_table("e_1", retyped, KEY) == 3
    assert declared(store, "e_1")["c2"] == {"sqlite": "INTEGER", "postgresql": "bigint"}[store.kind]
    assert store.describe("e_1") == (retyped, KEY) and store.changes_since("e_1", 0, 10) == []
    assert [r.batch for r in store.receipts("e_1", "r1")] == [1, 2]  # the history of its runs
    assert store.summary("e_1").live_rows == 0
    index_names = raw(store, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'e_1'"
                      if store.kind == "sqlite" else "SELECT indexname FROM pg_indexes WHERE tablename = 'e_1'")
    assert not [name for (name,) in index_names if name.startswith(query_index_prefix("e_1"))]
    assert store.indexes("e_1", query_index_prefix("e_1")) == {}
    receipt = apply(store, [["x", 7, "新"], ["y", 8, None]], run_id="r10")
    assert (receipt.inserted, receipt.rejected) == (2, 0)
    assert sorted(seq for seq, _run in seqs(store).values()) == [4, 5]  # after the old table's 3
    # another connection (a worker that had written batches before) sees the new shape too
    with Store.open(store.url) as other:
        assert other.describe("e_1")[0] == retyped
        assert other.apply("e_1", [["z", 9, None]], run_id="r11", batch=1, position={}, rows_read=1,
                           read_hash="").inserted == 1
    assert store.rebuild_table("e_new", ITEMS, KEY) == 0 and store.describe("e_new") == (ITEMS, KEY)
    store._conn.execute('CREATE TABLE "e_foreign" (x integer)')
    with pytest.raises(StoreError) as caught:
        store.rebuild_table("e_foreign", ITEMS, KEY)
    assert caught.value.code == "shape_changed"


def test_a_rebuild_waits_for_the_tables_readers_in_short_tries_so_new_readers_are_never_held_behind_it(
        store: Store) -> None:
    """EXC-1 with issue 11 (19th session's note): on PostgreSQL a DROP TABLE waiting for a reader (a download's
    snapshot) queues every later reader behind it — the data API would stop answering.  The rebuild tries in short
    lock waits: a reader arriving meanwhile is answered at once; when the first reader ends the rebuild goes
    through; a reader that stays longer than the rebuild may wait fails it as "busy", the table untouched — and the
    same for the ALTER of a version that grows the table."""
    import threading
    import time

    import psycopg

    if store.kind != "postgresql":
        pytest.skip("SQLite readers do not hold a table against a DROP")
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", Decimal(1), None], ["b", Decimal(2), None]])
    with psycopg.connect(store.url) as holder:  # a download: a snapshot that has read the table
        holder.execute('SELECT count(*) FROM "e_1"').fetchone()
        with pytest.raises(StoreError) as caught:
            store.rebuild_table("e_1", ITEMS, KEY, lock_wait=1.5)
        assert caught.value.code == "busy" and "being read" in caught.value.detail
        assert store.summary("e_1").live_rows == 2  # as it was
        done: list[Any] = []
        worker = threading.Thread(target=lambda: done.append(store.rebuild_table("e_1", ITEMS, KEY, lock_wait=30)))
        worker.start()
        time.sleep(0.8)  # the rebuild is trying now
        with psycopg.connect(store.url, autocommit=True) as reader:
            # (queued behind a DROP that waits for the download, it would wait until the download ends: never here)
            reader.execute("SET statement_timeout = '5s'")
            assert reader.execute('SELECT count(*) FROM "e_1"').fetchone() == (2,)
        assert worker.is_alive() and not done
        holder.rollback()  # the download ends
        worker.join(10)
    assert done == [2] and store.summary("e_1").live_rows == 0
    # the same for a version that grows the table (ALTER TABLE … ADD COLUMN)
    grown = [*ITEMS, StoreColumn("新增", "C", 10)]
    with psycopg.connect(store.url) as holder:
        holder.execute('SELECT count(*) FROM "e_1"').fetchone()
        with pytest.raises(StoreError) as caught:
            store.ensure_table("e_1", grown, KEY, lock_wait=1.5)
        assert caught.value.code == "busy"
    with Store.open(store.url) as other:
        assert other.describe("e_1")[0] == ITEMS  # nothing changed
    store.ensure_table("e_1", grown, KEY)
    assert store.describe("e_1")[0] == grown


# -- batches -----------------------------------------------------------------------------------------------

def test_unchanged_rows_are_not_rewritten_and_counts_are_exact(store: Store) -> None:
    """EXC-1: a row whose content hash is unchanged is not rewritten (its _seq and _run stay; on PostgreSQL
    not even a new row version); a changed row and a new row get the table's next sequence numbers;
    inserted / updated / unchanged are exact and the written hash covers only what was written."""
    store.ensure_table("e_1", ITEMS, KEY)
    first: list[list[Any]] = [["a", Decimal("1.50"), dt.date(2024, 1, 1)], ["b", Decimal(2), None],
                              ["c", None, None]]
    receipt = apply(store, first)
    assert (receipt.inserted, receipt.updated, receipt.unchanged, receipt.rejected) == (3, 0, 0, 0)
    before = seqs(store)
    assert sorted(seq for seq, _ in before.values()) == [1, 2, 3]
    versions = raw(store, "SELECT c1, xmin::text FROM e_1 ORDER BY c1") if store.kind == "postgresql" else []
    second: list[list[Any]] = [["a", Decimal("1.5"), dt.date(2024, 1, 1)],  # the same, written differently
                               ["b", Decimal(3), None], ["c", None, None], ["d", Decimal(4), None]]
    receipt = apply(store, second, run_id="r2")
    assert (receipt.inserted, receipt.updated, receipt.unchanged) == (1, 1, 2)
    assert receipt.written_hash == combine(map(row_hash, second[1::2]))
    after = seqs(store)
    assert after["a"] == before["a"] and after["c"] == before["c"]
    assert after["b"] == (4, "r2") and after["d"] == (5, "r2")
    assert store.summary("e_1").last_seq == 5
    if store.kind == "postgresql":
        now = dict(raw(store, "SELECT c1, xmin::text FROM e_1 ORDER BY c1"))
        assert [now[key] for key in ("a", "c")] == [dict(versions)[key] for key in ("a", "c")]
    receipt = apply(store, second, run_id="r3")
    assert (receipt.inserted, receipt.updated, receipt.unchanged, receipt.written_hash) == (0, 0, 4, "0" * 32)
    assert seqs(store) == after


def test_a_committed_batch_replayed_is_a_no_op_and_batches_have_no_gaps(store: Store) -> None:
    """EXC-1 checkpoints: applying a batch number already committed for (table, run) — what a worker killed
    after the commit does on its next run — returns the stored receipt and changes nothing, whatever rows it
    carries; a batch number that would leave a gap is refused."""
    store.ensure_table("e_1", ITEMS, KEY)
    stored = apply(store, [["a", Decimal(1), None]])
    again = apply(store, [["a", Decimal(99), None], ["z", None, None]])
    assert again == stored
    assert [row[:2] for row in store.changes_since("e_1", 0, 10)] == [("a", Decimal(1))]
    assert len(store.receipts("e_1", "r1")) == 1
    with pytest.raises(StoreError, match="batch 3 of run r1 after batch 1"):
        apply(store, [["b", None, None]], batch=3)
    assert apply(store, [["b", None, None]], batch=2).inserted == 1
    assert (store.last_batch("e_1", "r1"), store.position("e_1", "r1")) == (2, {"after": 2})
    assert (store.last_batch("e_1", "other"), store.position("e_1", "other")) == (0, None)
    assert [r.batch for r in store.receipts("e_1", "r1")] == [1, 2]


def test_tombstones_and_revivals_get_new_sequence_numbers(store: Store) -> None:
    """EXC-1: a row deleted at the source is tombstoned (kept, ``_deleted``, a new _seq) so that consumers
    see the deletion; a key already deleted or unknown changes nothing; a tombstoned row that comes back is
    revived with a new _seq; the content hash covers live rows only."""
    store.ensure_table("e_1", ITEMS, KEY)
    rows = [["a", Decimal(1), None], ["b", Decimal(2), None], ["c", Decimal(3), None]]
    apply(store, rows)
    receipt = store.tombstone("e_1", [["b"], ["zz"]], run_id="d1", batch=1, position={"k": 1})
    assert (receipt.deleted, receipt.unchanged, receipt.written_hash) == (1, 1, combine([row_hash(rows[1])]))
    assert store.tombstone("e_1", [["b"]], run_id="d1", batch=2, position={}).deleted == 0
    summary = store.summary("e_1")
    assert (summary.live_rows, summary.deleted_rows, summary.last_seq) == (2, 1, 4)
    assert summary.content_hash == combine(map(row_hash, [rows[0], rows[2]]))
    assert store.changes_since("e_1", 3, 10) == [("b", Decimal(2), None, 4, True)]
    revived = apply(store, [rows[1]], run_id="r2")  # counted as added again (QA walk-through, 21st session)
    assert (revived.inserted, revived.updated, revived.unchanged) == (1, 0, 0)
    assert store.changes_since("e_1", 4, 10) == [("b", Decimal(2), None, 5, False)]
    assert store.summary("e_1").content_hash == combine(map(row_hash, rows))


def test_a_postgresql_stores_write_transactions_run_without_jit_and_its_reads_keep_it(store: Store) -> None:
    """EXC-1 (speed): a batch's statements run once each over many rows — PostgreSQL's JIT would compile each and
    throw it away — so a write transaction turns JIT off for itself; snapshots (a whole table's summary) and
    anything after the transaction keep the server's setting, also a write nested in a snapshot."""
    if store.kind != "postgresql":
        pytest.skip("a PostgreSQL setting")

    def jit() -> str:
        return str(store._conn.execute("SHOW jit").fetchone()[0])

    default = jit()
    with store._transaction():
        assert jit() == "off"
    assert jit() == default
    with store._transaction(snapshot=True):
        assert jit() == default
        with store._transaction():
            pass
        assert jit() == default


def test_tombstones_take_sequence_numbers_in_the_order_of_the_keys_given(store: Store) -> None:
    """EXC-1: the rows of a batch of deletes are numbered in the order the keys came (a consumer sees them in
    the source's order), one number each and none skipped among keys unknown or already deleted; the live-row
    count follows; a key given twice is refused."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [[k, Decimal(n), None] for n, k in enumerate("abcdef")])
    store.tombstone("e_1", [["f"]], run_id="d0", batch=1, position={})
    with pytest.raises(StoreError, match="twice"):
        store.tombstone("e_1", [["e"], ["e"]], run_id="d1", batch=1, position={})
    receipt = store.tombstone("e_1", [["e"], ["zz"], ["b"], ["f"], ["a"]], run_id="d1", batch=1, position={})
    assert (receipt.deleted, receipt.unchanged, receipt.rows_read) == (3, 2, 5)
    assert [(row[0], row[3]) for row in store.changes_since("e_1", 7, 10)] == [("e", 8), ("b", 9), ("a", 10)]
    summary = store.summary("e_1")
    assert (summary.live_rows, summary.deleted_rows, summary.last_seq) == (2, 4, 10)
    assert store.live_rows("e_1") == 2


def key_list(store: Store, run_id: str, table: str = "e_1") -> list[Any]:
    """The keys in a run's key list (looked up behind the API)."""
    name = store._keys(table, store._shape(table))
    return sorted(row[0] for row in raw(store, f"SELECT c1 FROM {name} WHERE run_id = '{run_id}'"))


def test_a_run_that_begins_on_an_empty_table_inserts_and_keeps_no_key_list_of_what_it_wrote(
        store: Store, store_url: str) -> None:
    """EXC-1 first copy (存量数据一次性拷贝): a run whose first batch finds the table empty is *fresh* — its batches
    are plain inserts (gap-free _seq in row order, exact receipts), it keeps no key list of the rows it wrote,
    yet after it every row it wrote counts as read (nothing looks deleted) — also to a process that resumes it."""
    store.ensure_table("e_1", ITEMS, KEY)
    first = [["a", Decimal(1), None], ["b", Decimal("2.50"), dt.date(2024, 2, 29)]]
    one = apply(store, first)
    two = apply(store, [["c", None, None]], batch=2)
    assert (one.inserted, one.updated, one.unchanged, two.inserted) == (2, 0, 0, 1)
    assert one.written_hash == combine(map(row_hash, first))
    assert seqs(store) == {"a": (1, "r1"), "b": (2, "r1"), "c": (3, "r1")}
    assert key_list(store, "r1") == []
    assert raw(store, "SELECT table_name, run_id FROM _gs_fresh_runs") == [("e_1", "r1")]
    assert store.count_unseen("e_1", "r1") == (0, 3)
    assert store.unseen("e_1", "r1", 10) == []
    with Store.open(store_url) as other:  # another process resuming the run knows it is fresh
        assert other.count_unseen("e_1", "r1") == (0, 3)
        assert other.apply("e_1", [["d", None, None]], run_id="r1", batch=3, position={}, rows_read=1,
                           read_hash="0" * 32).inserted == 1
    assert key_list(store, "r1") == []
    store.forget("e_1", "r1")
    assert raw(store, "SELECT count(*) FROM _gs_fresh_runs") == [(0,)]
    # the next run is not fresh: it keeps its key list, and what it did not read looks deleted
    again = apply(store, [["a", Decimal(1), None], ["c", None, None]], run_id="r2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert key_list(store, "r2") == ["a", "c"]
    assert store.count_unseen("e_1", "r2") == (2, 4)
    assert sorted(store.unseen("e_1", "r2", 10)) == [("b",), ("d",)]


def test_a_fresh_run_quarantines_a_key_it_already_wrote_or_rejected(store: Store) -> None:
    """EXC-7 in a fresh run: a row whose key the run wrote in an earlier batch (two source rows whose keys became
    equal on conversion) is quarantined, not written over the first — the table's primary key finds it, and the
    rest of the batch is applied; a row whose key the run rejected earlier is quarantined too (the key list then
    holds just the rejected keys).  Sequence numbers stay gap-free."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", Decimal(1), None]], rows_read=2, rejects=[("x", "日期", "no_such_date: '2023-02-30'")],
          seen=[["x"]])
    assert key_list(store, "r1") == ["x"]
    receipt = apply(store, [["b", None, None], ["a", Decimal(9), None], ["x", Decimal(5), None],
                            ["c", None, None]], batch=2)
    assert (receipt.rows_read, receipt.inserted, receipt.rejected) == (4, 2, 2)
    assert receipt.written_hash == combine(map(row_hash, [["b", None, None], ["c", None, None]]))
    assert seqs(store) == {"a": (1, "r1"), "b": (2, "r1"), "c": (3, "r1")}
    assert raw(store, "SELECT c2 FROM e_1 WHERE c1 = 'a'")[0][0] in (Decimal(1), "1")
    held = [(q["key"], q["reason"].split(":")[0]) for q in store.quarantine("e_1", "r1") if q["batch"] == 2]
    assert sorted(held) == [("a", "duplicate_key"), ("x", "duplicate_key")]
    assert store.summary("e_1").last_seq == 3
    assert store.count_unseen("e_1", "r1") == (0, 3)


def test_the_postgresql_server_adds_up_row_hashes_exactly_as_combine(store: Store) -> None:
    """EXC-1 receipts: the sum of a batch's row hashes that PostgreSQL computes for the fast copy (no hash crosses
    the wire) equals :func:`combine` — halves with the top bit set, carries, the wrap-around at 2**128 — and a
    hash of another length is refused."""
    if store.kind != "postgresql":
        pytest.skip("the server-side sum is PostgreSQL's")
    hashes = [bytes([255] * 16), bytes([128] + [0] * 15), bytes([0] * 8 + [255] * 8), bytes(range(16)),
              bytes([255] * 15 + [254]), row_hash(["a"]), row_hash([Decimal(1)])]
    with store._transaction():
        store._conn.execute("CREATE TEMP TABLE sums (_hash BYTEA) ON COMMIT DROP")
        assert store._sum_hashes("sums") == (0, combine([]))
        for count in range(1, len(hashes) + 1):
            store._conn.execute("DELETE FROM sums")
            with store._conn.cursor() as cursor:
                cursor.executemany("INSERT INTO sums VALUES (%s)", [(h,) for h in hashes[:count]])
            assert store._sum_hashes("sums") == (count, combine(hashes[:count]))
        store._conn.execute("INSERT INTO sums VALUES ('\\x00'::bytea)")
        with pytest.raises(StoreError, match="not 16 bytes"):
            store._sum_hashes("sums")


def test_a_table_that_holds_only_tombstones_is_not_fresh(store: Store) -> None:
    """EXC-1: a table whose rows were all deleted at the source still holds their tombstones: a run on it is not
    fresh — a row that comes back is revived (one row, a new _seq; counted as added again), not inserted twice."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", Decimal(1), None]])
    store.tombstone("e_1", [["a"]], run_id="d1", batch=1, position={})
    back = apply(store, [["a", Decimal(1), None], ["b", None, None]], run_id="r2")
    assert (back.inserted, back.updated, store.summary("e_1").live_rows) == (2, 0, 2)
    assert raw(store, "SELECT count(*) FROM e_1") == [(2,)]
    assert raw(store, "SELECT run_id FROM _gs_fresh_runs ORDER BY run_id") == [("r1",)]
    assert key_list(store, "r2") == ["a", "b"]
    assert seqs(store) == {"a": (3, "r2"), "b": (4, "r2")}


def test_the_live_row_count_is_kept_by_every_write_and_counted_once_for_an_older_table(store: Store) -> None:
    """EXC-1, the mass-delete guard's denominator: ``live_rows`` is kept by each write in its transaction — rows
    inserted by a fresh run (a collision quarantined), by a later run, updated rows, tombstones, a tombstone
    revived, a bucketed (compare) batch — and always equals the table's live rows; a table whose counter is
    unknown (made before it existed) is counted once, then kept; a counter gone wrong behind the store's back
    is forgotten by the next summary."""
    store.ensure_table("e_1", ITEMS, KEY)

    def check() -> None:
        assert store.live_rows("e_1") == store.summary("e_1").live_rows

    assert store.live_rows("e_1") == 0
    apply(store, [["a", Decimal(1), None], ["b", None, None]])
    apply(store, [["a", Decimal(9), None], ["c", None, None]], batch=2)  # a collision in a fresh run
    check()
    apply(store, [["a", Decimal(2), None], ["d", None, None], ["e", None, None]], run_id="r2")
    check()
    store.tombstone("e_1", [["b"], ["d"], ["zz"]], run_id="d1", batch=1, position={})
    assert store.live_rows("e_1") == 3
    check()
    apply(store, [["b", Decimal(5), None], ["f", None, None]], run_id="r3", buckets=[7, 8])  # b revived
    assert store.live_rows("e_1") == 5
    check()
    apply(store, [["b", Decimal(5), None]], run_id="r4")  # unchanged: nothing counted
    check()
    store._run("UPDATE _gs_tables SET live_rows = NULL WHERE table_name = ?", ("e_1",))  # a table from before
    assert store.live_rows("e_1") == 5
    assert raw(store, "SELECT live_rows FROM _gs_tables WHERE table_name = 'e_1'") == [(5,)]
    store.tombstone("e_1", [["e"]], run_id="d2", batch=1, position={})
    check()
    # a writer that does not keep the counter (an older worker, a hand-made change): the next summary — every
    # run ends with one — forgets it, and the next reader counts again
    store._run("UPDATE e_1 SET _deleted = ? WHERE c1 = 'a'", (True,))
    assert store.live_rows("e_1") == 4  # wrong until the summary sees it
    assert store.summary("e_1").live_rows == 3
    assert raw(store, "SELECT live_rows FROM _gs_tables WHERE table_name = 'e_1'") == [(None,)]
    assert store.live_rows("e_1") == 3


def test_a_store_made_before_the_live_row_counter_gets_it_when_opened(store: Store, store_url: str) -> None:
    """EXC-1: an older centre database (``_gs_tables`` without ``live_rows``) takes the column when opened; its tables'
    live rows are counted when first asked, then kept."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", None, None], ["b", None, None]])
    store._conn.execute("ALTER TABLE _gs_tables DROP COLUMN live_rows")
    with Store.open(store_url) as reopened:
        assert reopened.live_rows("e_1") == 2
        reopened.tombstone("e_1", [["a"]], run_id="d1", batch=1, position={})
        assert reopened.live_rows("e_1") == 1 == reopened.summary("e_1").live_rows


def test_consumers_resume_from_their_own_sequence_number(store: Store) -> None:
    """EXC-1: every later channel reads changes_since(its position) in _seq order — inserts, updates and
    tombstones — and resumes from where it stopped, without a per-consumer log."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [[f"k{n}", Decimal(n), None] for n in range(5)])
    position, seen = 0, []
    while page := store.changes_since("e_1", position, 2):
        seen += page
        position = page[-1][-2]
    assert [row[-2] for row in seen] == [1, 2, 3, 4, 5]
    apply(store, [["k1", Decimal(10), None], ["k9", None, None]], run_id="r2")
    store.tombstone("e_1", [["k3"]], run_id="r3", batch=1, position={})
    later = store.changes_since("e_1", position, 100)
    assert [(row[0], row[-2], row[-1]) for row in later] == [("k1", 6, False), ("k9", 7, False),
                                                             ("k3", 8, True)]


def test_rejected_rows_are_quarantined_with_their_reasons_and_counted(store: Store) -> None:
    """EXC-7: values that could not be converted are not applied; the batch's receipt counts the rejected rows
    (rows read − rows applied) and the quarantine holds (row key, item, reason) in the same transaction; a
    rejection without a reason is refused."""
    store.ensure_table("e_1", ITEMS, KEY)
    rejects = [("x", "日期", "no_such_date: '2023-02-30'"), ("y", "金额", "not_a_number: 'abc'"),
               ("y", "编号", "too_long: 30 characters, at most 18")]
    receipt = apply(store, [["a", None, None]], rows_read=3, rejects=rejects)
    assert (receipt.rows_read, receipt.inserted, receipt.rejected) == (3, 1, 2)
    found = store.quarantine("e_1", "r1")
    assert [(q["key"], q["item"], q["reason"], q["batch"]) for q in found] == [(*r, 1) for r in rejects]
    assert store.quarantine("e_1", "r1", limit=1)[0]["key"] == "x"
    with pytest.raises(StoreError, match="without a reason"):
        apply(store, [["b", None, None]], batch=2, rows_read=2)
    assert store.last_batch("e_1", "r1") == 1


def test_a_batch_that_fails_half_way_leaves_nothing(store: Store, tmp_path: Path) -> None:
    """EXC-1 checkpoints: rows, sequence counter, receipt and quarantine are one transaction — a batch that
    fails after its rows were written (SQLite: the disk is full, ``full``; PostgreSQL: a reason the database
    refuses) leaves no row, no receipt and no sequence number behind; the same batch applies afterwards."""
    store.ensure_table("e_1", ITEMS, KEY)
    apply(store, [["a", None, None]])
    rows = [[f"k{n:05d}", Decimal(n), dt.date(2024, 1, 1)] for n in range(3000)]
    rejects = [("x", "日期", "bad\x00reason")]
    if store.kind == "sqlite":
        (pages,) = raw(store, "PRAGMA page_count")[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 5}")
        expected = "full"
    else:
        expected = "other"
    with pytest.raises(StoreError) as caught:
        apply(store, rows, batch=2, rows_read=3001, rejects=rejects)
    assert caught.value.code == expected
    assert store.summary("e_1").live_rows == 1 and store.summary("e_1").last_seq == 1
    assert (store.last_batch("e_1", "r1"), store.quarantine("e_1")) == (1, [])
    if store.kind == "sqlite":
        store._conn.execute("PRAGMA max_page_count = 1073741823")
    receipt = apply(store, rows, batch=2, rows_read=3001, rejects=[("x", "日期", "no_such_date")])
    assert (receipt.inserted, receipt.rejected, store.summary("e_1").last_seq) == (3000, 1, 3001)


def test_wrong_values_are_the_callers_error_and_change_nothing(store: Store) -> None:
    """EXC-7: the store takes converted values only — text for a number, a NULL or repeated key, a row of the
    wrong width are refused before anything is written (never coerced, never cut)."""
    store.ensure_table("e_1", ITEMS, KEY)
    for rows in ([["a", "abc", None]], [[None, None, None]], [["a", None, None], ["a", None, None]],
                 [["a", None]], [["a", Decimal("NaN"), None]], [["a", None, dt.datetime(2024, 1, 1)]],
                 [["a\x00", None, None]]):
        with pytest.raises(StoreError) as caught:
            store.apply("e_1", rows, run_id="r1", batch=1, position={}, rows_read=len(rows), read_hash="")
        assert caught.value.code == "other", rows
    assert store.summary("e_1").live_rows == 0 and store.last_batch("e_1", "r1") == 0
    with pytest.raises(StoreError, match="ensure_table first"):
        apply(store, [["a", None, None]], table="e_unknown")


def test_concurrent_writers_get_unique_gap_free_sequence_numbers(store_url: str) -> None:
    """EXC-1: two processes applying to the same table at once (here: two connections in two threads) are
    serialised — every change gets its own sequence number, none is skipped, no write is lost."""
    with Store.open(store_url) as setup:
        setup.ensure_table("e_1", ITEMS, KEY)
    errors: list[BaseException] = []
    both_open = threading.Barrier(2, timeout=30)

    def writer(run_id: str, offset: int) -> None:
        try:
            with Store.open(store_url) as mine:
                both_open.wait()
                for batch in range(1, 13):
                    rows = [[f"k{(offset + batch * 7 + n) % 60:02d}", Decimal(batch * 100 + n), None]
                            for n in range(10)]
                    apply(mine, rows, run_id=run_id, batch=batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(run, offset)) for run, offset in (("a", 0), ("b", 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(store_url) as check:
        receipts = check.receipts("e_1")
        changes = sum(r.inserted + r.updated for r in receipts)
        summary = check.summary("e_1")
        assert len(receipts) == 24 and summary.last_seq == changes
        assert summary.live_rows == sum(r.inserted for r in receipts)
        rows = raw(check, "SELECT _seq FROM e_1")
        assert max(seq for (seq,) in rows) == changes and len({seq for (seq,) in rows}) == len(rows)


def test_summary_is_the_combined_hash_of_the_live_rows(store: Store) -> None:
    """EXC-7 reconciliation: summary().content_hash is combine() of the live rows' hashes, computed from the
    values as given — the number a full read of an unchanged source must reproduce."""
    store.ensure_table("e_1", ITEMS, KEY)
    rows = [[f"行{n}", Decimal(n) / 7, dt.date(2024, 1, 1) + dt.timedelta(days=n)] for n in range(40)]
    apply(store, rows[:25])
    apply(store, rows[25:], batch=2)
    summary = store.summary("e_1")
    assert (summary.live_rows, summary.deleted_rows) == (40, 0)
    assert summary.content_hash == combine(map(row_hash, rows))
    assert summary.content_hash == merge(r.read_hash for r in store.receipts("e_1", "r1"))


def test_a_store_that_cannot_be_opened_is_unavailable(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """EXC-1: every way of not reaching the centre's database is ``unavailable`` (a folder that does not
    exist, a relative path, a file that is not SQLite, an unknown URL, nothing listening)."""
    (tmp_path / "not.sqlite3").write_bytes(b"not a database" * 100)
    for url in [f"sqlite:///{tmp_path}/missing/centre.sqlite3", "sqlite:///relative.sqlite3",
                f"sqlite:///{tmp_path}/not.sqlite3", "mysql://x@localhost/db",
                "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"]:
        with pytest.raises(StoreError) as caught:
            Store.open(url).close()
        assert caught.value.code == "unavailable", url


@pytest.mark.xdist_group("sources")
def test_a_postgresql_store_without_its_database_is_unavailable(pg_source_url: str) -> None:
    """EXC-1: a PostgreSQL store whose database does not exist is ``unavailable``; the metadata tables are
    made once, by whoever opens first."""
    missing = urlunsplit(urlsplit(pg_source_url)._replace(path="/no_such_centre"))
    with pytest.raises(StoreError) as caught:
        Store.open(missing)
    assert caught.value.code == "unavailable"
    url = pg_store_url(pg_source_url)
    with Store.open(url), Store.open(url) as second:
        assert second.kind == "postgresql"
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_gs\\_%'").fetchone()
        # _gs_tables, _gs_receipts, _gs_quarantine, _gs_fresh_runs, _gs_ranged_runs, _gs_key_ranges
        assert found == (6,)


def test_sqlite_store_is_a_wal_file(tmp_path: Path) -> None:
    """EXC-1: the embedded store is one SQLite file in WAL mode (readers never block the copy)."""
    path = tmp_path / "centre.sqlite3"
    with Store.open(f"sqlite:///{path}") as store:
        assert store.kind == "sqlite"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
