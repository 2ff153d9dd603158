"""A first delivery made in SQL (issue 11 item 1's speed; govshare/exchange/engine/deliver.py ``_fast_copy``; SHR-4, EXC-6, SEC-3): from a
PostgreSQL centre into a PostgreSQL front-end database, the centre's server masks, keys and hashes the rows and they go
over as binary COPY.  It must give exactly what the Python path gives — the same values, ``_gs_key``, ``_gs_hash`` and
receipt — with the values a mask's SQL form cannot handle masked in Python in the same batch; a copy cut short (a
crash, a revoked grant) leaves a table the next run settles; and it is taken only where it is exact."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from govshare.core import masking
from govshare.datastore.engine.store import Store, StoreColumn
from govshare.exchange.engine import deliver, sources
from govshare.exchange.engine.deliver import CentreTable, DeliveryError
from govshare.exchange.engine.sources import SourceSpec
from tests.delivery_targets import query, quoted
from tests.source_servers import pg_admin
from tests.test_exchange_deliver import GRANTED, ITEMS, KEY, MASKS, SECRET, TABLE, Centre, people, plan_for

pytestmark = [pytest.mark.once, pytest.mark.xdist_group("sources")]

SYSTEM = ["_gs_key", "_gs_seq", "_gs_hash"]


class PgCentre(Centre):
    """A real centre store in its own database on the suite's PostgreSQL server."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url

    def table(self, masks: list[Any], granted: list[int] = GRANTED) -> CentreTable:
        columns = [(f"c{i + 1}", item.letter) for i, item in enumerate(ITEMS)]
        return CentreTable(self.url, TABLE, key=(columns[0],), items=tuple(columns[i] for i in granted),
                           masks=tuple(masks), mask_key=SECRET)


@pytest.fixture
def pg_centre(pg_source_url: str) -> Iterator[PgCentre]:
    name = f"centre_{secrets.token_hex(4)}"
    with pg_admin(pg_source_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = pg_source_url.rsplit("/", 1)[0] + f"/{name}"
    made = PgCentre(url)
    # names of Han characters only are masked by the server, the others ("张三7") in Python
    rows = people(60)
    for i, row in enumerate(rows):
        if i % 3:
            row[1] = ["王小明", "欧阳修", "李", "司马相如"][i % 4]
    made.put(rows)
    yield made
    made.store.close()
    with pg_admin(pg_source_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mask_with(masks: list[Any]) -> Callable[[tuple[Any, ...]], list[Any]]:
    return lambda values: masking.mask_row(masks, values, key=SECRET, fail_closed=True)


def everything(spec: SourceSpec, plan: deliver.DeliveryPlan) -> list[tuple[Any, ...]]:
    names = ", ".join(quoted(spec, n) for n in [*(c.name for c in plan.columns), *SYSTEM])
    return sorted(query(spec, f"SELECT {names} FROM {quoted(spec, plan.table)}"))


def change(spec: SourceSpec, sql: str, params: tuple[Any, ...] = ()) -> None:
    """The consumer's own hands on its table."""
    with sources.connect(spec, write=True) as conn:
        conn.execute(sql, params)
        conn.commit()


def primary_key(spec: SourceSpec, table: str) -> list[tuple[Any, ...]]:
    return query(spec, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
                 (quoted(spec, table),))


def both(make_target: Callable[[str], SourceSpec], centre: PgCentre, masks: list[Any], granted: list[int] = GRANTED,
         **kwargs: Any) -> tuple[SourceSpec, deliver.DeliveryPlan, deliver.DeliveryResult, deliver.DeliveryResult]:
    """The same delivery made in SQL (table 快) and in Python (table 慢) into one front-end database."""
    spec = make_target("postgresql")
    fast_plan = plan_for(spec, table="快", binding="fast", masks=masks)
    slow_plan = plan_for(spec, table="慢", binding="slow", masks=masks)
    fast = deliver.deliver(fast_plan, centre.changes, mask_with(masks), SECRET, centre=centre.table(masks, granted),
                           **kwargs)
    slow = deliver.deliver(slow_plan, centre.changes, mask_with(masks), SECRET)
    return spec, fast_plan, fast, slow


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_a_first_copy_in_sql_gives_byte_for_byte_what_the_python_path_gives(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre, streams: int) -> None:
    spec, plan, fast, slow = both(make_target, pg_centre, MASKS, fast_batch=25, streams=streams)
    assert deliver.fast_problem(plan, pg_centre.table(MASKS)) is None
    assert everything(spec, plan) == everything(spec, plan_for(spec, table="慢", masks=MASKS))
    assert (fast.rows, fast.content_hash, fast.last_seq) == (slow.rows, slow.content_hash, slow.last_seq) == \
        (60, fast.content_hash, 60)
    # three batches of 25 change numbers; the hash is taken when the copy ends; the key is back
    assert [b.written for b in fast.batches] == [25, 25, 10]
    assert [b.content_hash for b in fast.batches][:2] == [deliver.PENDING] * 2
    assert primary_key(spec, "快")
    check = deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, 60)
    assert check.equal and check.state_hash == check.target_hash == fast.content_hash


@pytest.mark.parametrize("masks", [
    [None] * 6,
    [masking.parse("假名化"), masking.parse("置空"), masking.parse("取整"), masking.parse("日期保留到年"),
     masking.parse("日期保留到月"), None],
    [masking.parse("自然人保留前6位和后4位，单位不脱敏"), masking.parse("自然人保留姓氏，单位名称不脱敏"),
     masking.parse("四舍五入到百位"), None, None, masking.parse("置空")],
], ids=["unmasked", "pseudonym-null-round-date", "person-keep-and-surname"])
def test_every_kind_of_mask_in_sql_gives_what_python_gives(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre, masks: list[Any]) -> None:
    spec, plan, fast, slow = both(make_target, pg_centre, masks, fast_batch=40)
    assert everything(spec, plan) == everything(spec, plan_for(spec, table="慢", masks=masks))
    assert (fast.rows, fast.content_hash) == (slow.rows, slow.content_hash)


def test_all_items_unmasked_give_what_python_gives_even_after_the_centre_table_grew(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre) -> None:
    # the entry gained an item: the centre's rows keep their _hash of the items they had (review of the 13th session)
    pg_centre.store.ensure_table(TABLE, [*ITEMS, StoreColumn("备注", "C", 20)], KEY)
    spec = make_target("postgresql")
    items = list(range(len(ITEMS)))
    columns = tuple(deliver.TargetColumn(item.name, item.letter, item.length) for item in ITEMS)
    shape = deliver.shape_of(columns, ["none"] * len(ITEMS), [i.name for i in ITEMS], key=KEY)
    plans = [deliver.DeliveryPlan(target=spec, schema="", table=name, binding=name, columns=columns, shape=shape)
             for name in ("whole_fast", "whole_slow")]

    def changes(seq: int, limit: int) -> list[deliver.Change]:
        return [((row[0],), tuple(row[:len(ITEMS)]), int(row[-2]), bool(row[-1]))
                for row in pg_centre.store.changes_since(TABLE, seq, limit)]

    def plain(values: tuple[Any, ...]) -> list[Any]:
        return list(values)

    fast = deliver.deliver(plans[0], changes, plain, SECRET, centre=pg_centre.table([None] * len(ITEMS), items))
    slow = deliver.deliver(plans[1], changes, plain, SECRET)
    assert (fast.rows, fast.content_hash) == (slow.rows, slow.content_hash) == (60, slow.content_hash)
    names = ", ".join(quoted(spec, n) for n in [*(i.name for i in ITEMS), *SYSTEM])
    assert sorted(query(spec, f"SELECT {names} FROM whole_fast")) == \
        sorted(query(spec, f"SELECT {names} FROM whole_slow"))


def test_a_first_copy_cut_short_is_settled_by_the_next_run_and_ends_equal(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre) -> None:
    spec = make_target("postgresql")
    plan = plan_for(spec, table="快", binding="fast")
    table = pg_centre.table(MASKS)
    cut = deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=table, fast_batch=20,
                          max_batches=2)
    assert cut.rows == 40 and cut.content_hash == deliver.PENDING and not primary_key(spec, "快")
    assert deliver.target_state(plan).content_hash == deliver.PENDING  # type: ignore[union-attr]
    # meanwhile the centre changes rows already delivered and deletes one
    changed = people(3)
    changed[0][1] = "赵六"
    pg_centre.put(changed)
    pg_centre.delete([people(1, start=5)[0][0]])
    done = deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=table, fast_batch=20)
    assert primary_key(spec, "快") and done.rows == 59 and done.content_hash != deliver.PENDING
    check = deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, done.last_seq)
    assert check.equal and check.target_rows == 59 and check.state_hash == check.target_hash


def test_a_grant_revoked_during_a_first_copy_in_sql_stops_it_with_the_table_settled(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre) -> None:
    spec = make_target("postgresql")
    plan = plan_for(spec, table="快", binding="fast")
    asked: list[int] = []

    def allowed() -> str | None:
        asked.append(1)
        return "the grant was revoked" if len(asked) > 1 else None

    with pytest.raises(DeliveryError) as stopped:
        deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=pg_centre.table(MASKS),
                        fast_batch=20, allowed=allowed)
    assert stopped.value.code == "stopped" and "revoked" in stopped.value.detail
    assert query(spec, f"SELECT count(*) FROM {quoted(spec, '快')}") == [(20,)]
    # the stopped copy leaves the table settled — its key made, its hash taken — since it may stay so for long
    state = deliver.target_state(plan)
    assert state is not None and state.content_hash != deliver.PENDING and state.rows == 20
    assert primary_key(spec, "快")
    again = deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=pg_centre.table(MASKS))
    assert again.rows == 60 and deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, 60).equal


def test_the_sql_path_is_taken_only_where_it_is_exact(make_target: Callable[[str], SourceSpec],
                                                      pg_centre: PgCentre) -> None:
    pg = plan_for(make_target("postgresql"))
    table = pg_centre.table(MASKS)
    assert deliver.fast_problem(pg, table) is None
    assert "sqlite" in (deliver.fast_problem(plan_for(make_target("sqlite")), table) or "")
    assert deliver.fast_problem(pg, None) == "no centre table given"
    sqlite_centre = CentreTable("sqlite:////tmp/x.sqlite3", TABLE, key=table.key, items=table.items, masks=table.masks)
    assert "not PostgreSQL" in (deliver.fast_problem(pg, sqlite_centre) or "")
    float_key = CentreTable(table.url, TABLE, key=(("c1", "F"),), items=table.items, masks=table.masks)
    assert "B/F" in (deliver.fast_problem(pg, float_key) or "")
    iso_text_date = list(MASKS)
    iso_text_date[1] = masking.parse("日期保留到月")  # on a text item: ISO texts are Python's to read
    assert "no SQL form" in (deliver.fast_problem(pg, pg_centre.table(iso_text_date)) or "")
    no_key = CentreTable(table.url, TABLE, key=table.key, items=table.items,
                         masks=(masking.parse("假名化"), *table.masks[1:]))
    assert "no SQL form" in (deliver.fast_problem(pg, no_key) or "")


def _deliver_in_sql_slowly(spec: SourceSpec, url: str, started: Any) -> None:
    centre = PgCentre.__new__(PgCentre)
    centre.url, centre.store, centre.batch = url, Store.open(url), 0
    plan = plan_for(spec, table="快", binding="fast")

    def on_batch(receipt: deliver.BatchReceipt) -> None:
        started.set()
        time.sleep(0.05)

    deliver.deliver(plan, centre.changes, mask_with(MASKS), SECRET, centre=centre.table(MASKS), fast_batch=10,
                    on_batch=on_batch, streams=2)


def test_a_first_copy_in_sql_killed_mid_way_resumes_without_loss_or_duplicates(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre) -> None:
    spec = make_target("postgresql")
    pg_centre.put(people(400, start=100))
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    child = context.Process(target=_deliver_in_sql_slowly, args=(spec, pg_centre.url, started))
    child.start()
    assert started.wait(60)
    time.sleep(0.3)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    plan = plan_for(spec, table="快", binding="fast")
    state = deliver.target_state(plan)
    assert state is not None and 0 < state.rows < 460 and state.content_hash == deliver.PENDING
    assert query(spec, f"SELECT count(*) FROM {quoted(spec, '快')}") == [(state.rows,)]  # committed together
    result = deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=pg_centre.table(MASKS))
    assert result.rows == 460 and result.batches and result.batches[0].seq_from == state.last_seq
    check = deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, result.last_seq)
    assert check.equal and check.target_rows == 460 and check.state_hash == check.target_hash
    assert primary_key(spec, "快")


def test_a_stream_that_fails_fails_the_batch_and_nothing_of_it_is_kept(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre, monkeypatch: Any) -> None:
    spec = make_target("postgresql")
    plan = plan_for(spec, table="快", binding="fast")
    relay = deliver._relay
    calls: list[int] = []

    def second_batch_breaks(sources: Any, statements: list[str], *args: Any) -> int:
        calls.append(1)
        if len(calls) == 2:  # the second stream of the second batch fails after the first has sent rows
            statements = [statements[0], "SELECT 1 / (_seq - _seq) FROM (" + statements[1] + ") broken"]
        return relay(sources, statements, *args)

    monkeypatch.setattr(deliver, "_relay", second_batch_breaks)
    with pytest.raises(DeliveryError, match="division by zero") as failed:
        deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=pg_centre.table(MASKS),
                        fast_batch=20, streams=2)
    assert failed.value.code == "store"  # the centre's failure, not the front-end database's
    state = deliver.target_state(plan)
    assert state is not None and state.rows == 20 and state.last_seq == 20  # the first batch only
    assert query(spec, f"SELECT count(*) FROM {quoted(spec, '快')}") == [(20,)]
    monkeypatch.setattr(deliver, "_relay", relay)
    done = deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=pg_centre.table(MASKS),
                           streams=2)
    assert done.rows == 60 and deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, 60).equal


@pytest.mark.parametrize("streams", [1, 2])
def test_the_check_in_sql_finds_what_the_python_check_finds(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre, streams: int) -> None:
    spec = make_target("postgresql")
    plan = plan_for(spec, table="快", binding="fast")
    table = pg_centre.table(MASKS)
    deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=table)

    def both_checks() -> tuple[deliver.CheckResult, deliver.CheckResult]:
        seq = pg_centre.store.summary(TABLE).last_seq
        in_sql = deliver.check(plan, iter(()), mask_with(MASKS), SECRET, seq, centre=table, streams=streams)
        in_python = deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, seq)
        return in_sql, in_python

    def same(a: deliver.CheckResult, b: deliver.CheckResult) -> bool:
        ignored = ("method", "not_in_sql", "sample")
        return {k: v for k, v in a.as_dict().items() if k not in ignored} == \
            {k: v for k, v in b.as_dict().items() if k not in ignored} and \
            sorted(k.rstrip() for k in a.sample) == sorted(k.rstrip() for k in b.sample)  # (CHAR(64) pads)

    in_sql, in_python = both_checks()
    assert in_sql.method == "sql" and in_python.method == "python"
    assert in_sql.equal and same(in_sql, in_python) and in_sql.target_rows == 60
    # the consumer's hands: a row changed, one deleted, one added; the centre: one row deleted, not yet delivered
    first, second = sorted(query(spec, 'SELECT "_gs_key" FROM "快"'))[:2]
    change(spec, 'UPDATE "快" SET "姓名" = \'X\' WHERE "_gs_key" = %s', (first[0],))
    change(spec, 'DELETE FROM "快" WHERE "_gs_key" = %s', (second[0],))
    change(spec, 'INSERT INTO "快" SELECT "身份证号", "姓名", "金额", "登记日期", "更新时间", "有效", %s, 1, "_gs_hash" '
                'FROM "快" LIMIT 1', ("f" * 64,))
    pg_centre.delete([people(1, start=7)[0][0]])
    in_sql, in_python = both_checks()
    assert not in_sql.equal and (in_sql.missing, in_sql.extra, in_sql.different) == (1, 2, 1)
    assert same(in_sql, in_python)
    # keys the consumer wrote in another form (a tab, non-ASCII, upper case) are extra rows, never out of order
    for odd in ("a\tb", "é" * 64, "F" * 64):
        change(spec, 'INSERT INTO "快" SELECT "身份证号", "姓名", "金额", "登记日期", "更新时间", "有效", %s, 1, '
                     '"_gs_hash" FROM "快" LIMIT 1', (odd,))
    in_sql, in_python = both_checks()
    assert (in_sql.missing, in_sql.extra, in_sql.different) == (1, 5, 1) and same(in_sql, in_python)


def test_a_target_column_the_consumer_changed_is_checked_in_python(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre) -> None:
    spec = make_target("postgresql")
    plan = plan_for(spec, table="快", binding="fast")
    table = pg_centre.table(MASKS)
    deliver.deliver(plan, pg_centre.changes, mask_with(MASKS), SECRET, centre=table)
    seq = pg_centre.store.summary(TABLE).last_seq
    change(spec, 'ALTER TABLE "快" ALTER COLUMN "金额" TYPE text')  # the SQL hash of a numeric fails on text
    result = deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, seq, centre=table)
    assert result.equal and result.target_rows == 60 and result.method == "python"
    assert "column types" in result.not_in_sql
    # a timestamp made timestamptz would render in the session's zone in SQL: Python reads it (as UTC)
    change(spec, 'ALTER TABLE "快" ALTER COLUMN "金额" TYPE numeric USING "金额"::numeric')
    assert deliver.check(plan, iter(()), mask_with(MASKS), SECRET, seq, centre=table).method == "sql"
    change(spec, 'ALTER TABLE "快" ALTER COLUMN "更新时间" TYPE timestamptz USING "更新时间" AT TIME ZONE \'UTC\'')
    result = deliver.check(plan, pg_centre.live(), mask_with(MASKS), SECRET, seq, centre=table)
    assert result.equal and result.method == "python"


@pytest.mark.parametrize("streams", [1, 2])
def test_many_changes_after_the_first_copy_are_delivered_in_sql_exactly_as_in_python(
        make_target: Callable[[str], SourceSpec], pg_centre: PgCentre, streams: int) -> None:
    spec = make_target("postgresql")
    plans = {name: plan_for(spec, table=name, binding=name) for name in ("快", "慢")}
    table = pg_centre.table(MASKS)

    def deliver_both() -> dict[str, deliver.DeliveryResult]:
        return {"快": deliver.deliver(plans["快"], pg_centre.changes, mask_with(MASKS), SECRET, centre=table,
                                      streams=streams, sql_changes=1, fast_batch=15),
                "慢": deliver.deliver(plans["慢"], pg_centre.changes, mask_with(MASKS), SECRET)}

    deliver_both()
    changed = people(6, start=10)
    changed[0][1] = "钱七"  # Han only: masked by the server
    changed[1][1] = "Qian Qi"  # masked in Python
    changed[2][2] = None
    pg_centre.put(changed + people(4, start=200))  # six changed, four new
    pg_centre.delete([people(1, start=20)[0][0], people(1, start=11)[0][0], "no such key"])  # 11: just changed
    results = deliver_both()
    fast, slow = results["快"], results["慢"]
    assert fast.in_sql and (fast.written, fast.deleted) == (slow.written, slow.deleted) == (8, 2)
    assert (fast.rows, fast.content_hash) == (slow.rows, slow.content_hash) == (62, slow.content_hash)
    assert everything(spec, plans["快"]) == everything(spec, plans["慢"])
    check = deliver.check(plans["快"], iter(()), mask_with(MASKS), SECRET, 0, centre=table)
    assert check.equal and check.state_hash == check.target_hash == fast.content_hash
    # a few changes go in Python (no centre sessions opened for them)
    pg_centre.put(people(1, start=300))
    few = deliver.deliver(plans["快"], pg_centre.changes, mask_with(MASKS), SECRET, centre=table)
    assert not few.in_sql and few.written == 1 and few.rows == 63
