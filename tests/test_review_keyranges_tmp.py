"""Review probes for the key check by ranges (temporary)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from govshare.datastore.engine.store import Store, StoreColumn
from govshare.exchange.engine import keyranges, sources
from govshare.exchange.engine.copy import CopyPlan, delete_unseen, full_copy, watermark_copy
from govshare.exchange.engine.fastcopy import fast_watermark_copy
from tests import test_exchange_copy as _copy_tests
from tests.test_exchange_copy import Source, live, stop_after
from tests.test_exchange_fastcopy import GOODS_COLUMNS, GOODS_SQL, _receipts, _unique

make_source = _copy_tests.make_source
make_store = _copy_tests.make_store

pytestmark = [pytest.mark.once, pytest.mark.xdist_group("sources")]


def _goods(source: Source, *, unique: bool, batch_rows: int = 500) -> CopyPlan:
    plan = source.plan("goods", GOODS_COLUMNS, ("id",), batch_rows=batch_rows)
    plan = dataclasses.replace(plan, watermark="updated_at")
    return _unique(plan) if unique else plan


@pytest.mark.parametrize("unique", [False, True], ids=["keyset-copy", "fast-copy"])
def test_race_row_inserted_after_snapshot_is_tombstoned(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch, unique: bool) -> None:
    source = make_source("postgresql", GOODS_SQL)
    plan = _goods(source, unique=unique)
    store = make_store("postgresql")
    first = full_copy(plan, store, run_id="full")
    source.admin("DELETE FROM goods WHERE id IN (100, 101);")
    original = keyranges.begin

    def begin(*args: Any, **kwargs: Any) -> Any:
        digests = original(*args, **kwargs)
        assert digests is not None
        digests._source.result()  # the source's snapshot S is taken
        # row 101 comes back at the source after S, before the copy reads its pages
        source.admin("INSERT INTO goods VALUES (101, 'back', 1, '2024-06-01');")
        return digests

    monkeypatch.setattr(keyranges, "begin", begin)
    notes: list[str] = []
    keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                          check_keys=True, log=notes.append)
    print(notes)
    gone = delete_unseen(plan, store, run_id="inc", guard_share=0.5)
    rows = live(store)
    print("deleted", gone.deleted, "101 live:", 101 in rows)
    assert 101 in rows, f"row 101 exists at the source but was tombstoned ({gone.deleted} deleted)"


@pytest.mark.parametrize("path", ["slow", "fast"])
def test_row_changed_again_during_the_run_later_read_wins(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store], path: str) -> None:
    from tests.test_exchange_incremental import plan_of, table_sql

    rows = [(n, "", "2024-03-01 08:00:00") for n in range(1, 13)]
    source = make_source("postgresql", table_sql("postgresql", rows))
    plan = _unique(plan_of(source))
    store = make_store("postgresql")
    first = full_copy(plan, store, run_id="r1")
    source.admin("UPDATE goods SET amount = 1, updated_at = '2024-03-01 09:00:00' WHERE id <= 4;"
                 "UPDATE goods SET amount = 2, updated_at = '2024-03-01 10:00:00' WHERE id > 4;")
    copy = fast_watermark_copy if path == "fast" else watermark_copy
    on_batch, should_stop = stop_after(1)
    copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=0, on_batch=on_batch,
         should_stop=should_stop)
    print("batches", store.last_batch("e_copy", "r2"))
    # row 1, read in batch 1, changes again with an update time still within the run's mark
    source.admin("UPDATE goods SET amount = 999, updated_at = '2024-03-01 10:00:00' WHERE id = 1;")
    got = copy(plan, store, run_id="r2", since=first.watermark, overlap_seconds=0)
    print(path, "rejected", got.rejected, "row 1:", live(store)[1])
    for r in _receipts(store, "r2"):
        print(r[:6], r[-1])
    print(store._conn.execute("SELECT row_key, item, reason FROM _gs_quarantine WHERE run_id='r2'").fetchall())
    assert live(store)[1][2] == 999, "the later read must win (copy.watermark_copy's docstring)"


FLAGGED_SQL = GOODS_SQL + (
    "CREATE TABLE flag (on_ boolean);"
    "CREATE FUNCTION chk(i integer) RETURNS integer LANGUAGE plpgsql STABLE AS $$ BEGIN "
    "IF EXISTS (SELECT 1 FROM flag) THEN RAISE EXCEPTION 'the source refuses'; END IF; RETURN i; END $$;"
    "CREATE VIEW vgoods AS SELECT chk(id) AS id, name, amount, updated_at FROM goods;")


def test_source_error_in_the_digest_is_not_a_source_error(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    source = make_source("postgresql", FLAGGED_SQL)
    plan = source.plan("vgoods", GOODS_COLUMNS, ("id",), batch_rows=500)
    store = make_store("postgresql")
    full_copy(plan, store, run_id="full")
    source.admin("INSERT INTO flag VALUES (true);")
    with pytest.raises(Exception) as caught:
        keyranges.range_key_check(plan, store, run_id="r2")
    print("digest failure ->", type(caught.value).__mro__[:3], caught.value)
    assert isinstance(caught.value, sources.SourceError)


@pytest.mark.parametrize("where", ["listing", "restore"])
def test_source_lost_during_listing_or_restore(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    source = make_source("postgresql", GOODS_SQL)
    plan = source.plan("goods", GOODS_COLUMNS, ("id",), batch_rows=500)
    store = make_store("postgresql")
    full_copy(plan, store, run_id="full")
    source.admin("DELETE FROM goods WHERE id = 100; INSERT INTO goods VALUES (30000, 'x', 1, '2020-01-01');")
    if where == "listing":
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
    with pytest.raises(Exception) as caught:
        keyranges.range_key_check(plan, store, run_id="r2")
    print(where, "failure ->", type(caught.value).__mro__[:3], caught.value)
    assert isinstance(caught.value, sources.SourceError)


def test_copy_failure_while_digests_run_leaks_nothing(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from govshare.exchange.engine import fastcopy

    source = make_source("postgresql", GOODS_SQL)
    plan = _goods(source, unique=True)
    store = make_store("postgresql")
    first = full_copy(plan, store, run_id="full")
    original = Store.range_digests

    def slow_digests(self: Store, table: str, *, width: int) -> int:
        self._conn.execute("SELECT pg_sleep(2)")
        return original(self, table, width=width)

    def failing_copy(*_args: Any, **_kwargs: Any) -> Any:
        time.sleep(0.3)
        raise RuntimeError("the copy failed")

    monkeypatch.setattr(Store, "range_digests", slow_digests)
    monkeypatch.setattr(fastcopy, "incremental_copy", failing_copy)
    before = threading.active_count()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the copy failed"):
        keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                              check_keys=True)
    print("closed after", round(time.monotonic() - started, 2), "s; threads", before, [t.name for t in threading.enumerate()])
    time.sleep(0.5)
    centre_db = store._conn.info.dbname
    rows = store._conn.execute(
        "SELECT datname, state, left(query, 60) FROM pg_stat_activity WHERE datname IN (%s, %s) AND pid <> pg_backend_pid()",
        (centre_db, source.spec.database)).fetchall()
    print(rows)
    assert threading.active_count() == before


@pytest.mark.parametrize("relation", ["table", "view"])
@pytest.mark.parametrize("kind", ["smallint", "integer", "bigint"])
def test_quoted_names_and_key_types(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store], kind: str,
        relation: str) -> None:
    sql = ('CREATE SCHEMA "Sch%Ema";'
           f'CREATE TABLE "Sch%Ema"."T""ab%le" ("I""d%" {kind} PRIMARY KEY, "V%s" text, "Up%d" timestamp);'
           'INSERT INTO "Sch%Ema"."T""ab%le" SELECT g, \'v\' || g, \'2024-01-01\' FROM generate_series(-3000, 3000) g;'
           'CREATE VIEW "Sch%Ema"."V""iew%" AS SELECT * FROM "Sch%Ema"."T""ab%le";')
    source = make_source("postgresql", sql)
    columns = [('I"d%', StoreColumn("编号", "I")), ("V%s", StoreColumn("值", "C", 20))]
    plan = Source.plan(source, 'T"ab%le' if relation == "table" else 'V"iew%', columns, ('I"d%',), batch_rows=500)
    plan = dataclasses.replace(plan, schema='Sch%Ema', watermark="Up%d", key_unique=relation == "table")
    store, reference = make_store("postgresql"), make_store("postgresql")
    first = full_copy(plan, store, run_id="full")
    source.admin('DELETE FROM "Sch%Ema"."T""ab%le" WHERE "I""d%" IN (-3000, -17, 0, 5, 3000);'
                 'INSERT INTO "Sch%Ema"."T""ab%le" VALUES (-3001, \'old\', \'2020-01-01\'), (3001, \'new\', \'2024-06-01\');'
                 'UPDATE "Sch%Ema"."T""ab%le" SET "V%s" = \'c\', "Up%d" = \'2024-06-01\' WHERE "I""d%" = 10;')
    notes: list[str] = []
    rows, keys = keyranges.incremental(plan, plan, store, run_id="inc", since=first.watermark, overlap_seconds=60,
                                       check_keys=True, log=notes.append)
    print(notes)
    assert any(n.startswith("key check by ranges:") for n in notes)
    gone = delete_unseen(plan, store, run_id="inc", guard_share=0.5)
    assert gone.deleted == 5
    full_copy(plan, reference, run_id="ref")
    assert live(store) == live(reference)


@pytest.mark.parametrize(("source_kind", "store_kind"), [("postgresql", "sqlite"), ("sqlite", "postgresql")])
def test_other_pairs_fall_back(make_source: Callable[[str, str], Source], make_store: Callable[[str], Store],
                               source_kind: str, store_kind: str) -> None:
    from tests.test_exchange_incremental import plan_of, table_sql

    rows = [(n, "", "2024-03-01 08:00:00") for n in range(1, 40)]
    source = make_source(source_kind, table_sql(source_kind, rows))
    plan = _unique(plan_of(source))
    store = make_store(store_kind)
    first = full_copy(plan, store, run_id="r1")
    source.admin("DELETE FROM goods WHERE id IN (3, 30);"
                 "INSERT INTO goods VALUES (100, 'x', 1, '2024-03-01 09:00:00'), (101, 'y', 1, '2020-01-01 00:00:00');")
    notes: list[str] = []
    keyranges.incremental(plan, plan, store, run_id="r2", since=first.watermark, overlap_seconds=0, check_keys=True,
                          log=notes.append)
    print(notes)
    gone = delete_unseen(plan, store, run_id="r2", guard_share=0.5)
    assert gone.deleted == 2 and {100, 101} <= set(live(store))


def test_incremental_with_check_into_a_missing_table(
        make_source: Callable[[str, str], Source], make_store: Callable[[str], Store]) -> None:
    source = make_source("postgresql", GOODS_SQL)
    plan = _goods(source, unique=True)
    store = make_store("postgresql")
    notes: list[str] = []
    try:
        keyranges.incremental(plan, plan, store, run_id="r2", since=None, overlap_seconds=0, check_keys=True,
                              log=notes.append)
    except Exception as exc:  # noqa: BLE001
        print("missing table ->", type(exc).__name__, exc)
        raise
    print(notes)
