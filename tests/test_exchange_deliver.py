"""The delivery engine (govshare/exchange/engine/deliver.py; issue 11 item 1, SHR-4, EXC-6): a grant's rows from
the centre's change sequence into the consumer's front-end database — a real SQLite file, a database on the
suite's throwaway PostgreSQL and MariaDB servers — masked, keyed by ``_gs_key``, deletes included, exactly once
across kills, with receipts (count + hash) recomputed from what the consumer actually holds."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from govshare.core import masking
from govshare.datastore.engine.store import Store, StoreColumn, combine, row_hash
from govshare.exchange.engine import deliver
from govshare.exchange.engine.deliver import DeliveryError, DeliveryPlan, TargetColumn
from govshare.exchange.engine.sources import SourceSpec
from tests.delivery_targets import TARGET_KINDS, query, quoted

pytestmark = pytest.mark.once  # the platform's database is not involved

ITEMS = [StoreColumn("身份证号", "C", 18), StoreColumn("姓名", "C", 20), StoreColumn("金额", "N"),
         StoreColumn("登记日期", "D"), StoreColumn("更新时间", "T"), StoreColumn("有效", "L"), StoreColumn("次数", "I")]
KEY = ["身份证号"]
TABLE = "e_people"
SECRET = b"k" * 32
#: the grant: every item but 次数; the ID number keeps its first 6 and last 4, the name its surname
GRANTED = [0, 1, 2, 3, 4, 5]
MASKS = [masking.parse("保留前6位和后4位"), masking.parse("仅保留姓"), None, None, None, None]


def people(n: int, start: int = 0) -> list[list[Any]]:
    rows = []
    for i in range(start, start + n):
        rows.append([f"11010119900101{i:04d}", f"张三{i}", Decimal(f"{i}.50"), dt.date(2020, 1, 1 + i % 28),
                     dt.datetime(2024, 5, 1, 8, 0, i % 60, 123456), i % 2 == 0, i])
    return rows


def plan_for(spec: SourceSpec, *, table: str = "人员", binding: str = "b-1", masks: list[Any] | None = None,
             batch_rows: int = 40) -> DeliveryPlan:
    masks = MASKS if masks is None else masks
    columns = tuple(TargetColumn(ITEMS[i].name, (m.output_letter(ITEMS[i].letter) if m else ITEMS[i].letter),
                                 ITEMS[i].length if m is None else None) for i, m in zip(GRANTED, masks, strict=True))
    shape = deliver.shape_of(columns, [m.canonical() if m else "none" for m in masks], [ITEMS[i].name for i in GRANTED])
    return DeliveryPlan(target=spec, schema="", table=table, binding=binding, columns=columns, shape=shape,
                        batch_rows=batch_rows)


class Centre:
    """A real centre store (a SQLite file, or a store URL) with the people table, and what the delivery engine asks
    of it."""

    def __init__(self, path: Path | str) -> None:
        self.store = Store.open(path if isinstance(path, str) else f"sqlite:///{path}")
        self.store.ensure_table(TABLE, ITEMS, KEY)
        self.batch = 0

    def put(self, rows: list[list[Any]]) -> None:
        self.batch += 1
        self.store.apply(TABLE, rows, run_id="r", batch=self.batch, position={}, rows_read=len(rows), read_hash="",
                         remember=False)

    def delete(self, keys: list[str]) -> None:
        self.batch += 1
        self.store.tombstone(TABLE, [[k] for k in keys], run_id="r", batch=self.batch, position={})

    def changes(self, seq: int, limit: int) -> list[deliver.Change]:
        return [((row[0],), tuple(row[i] for i in GRANTED), int(row[-2]), bool(row[-1]))
                for row in self.store.changes_since(TABLE, seq, limit)]

    def live(self) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        return [((row[0],), tuple(row[i] for i in GRANTED)) for row in self.store.changes_since(TABLE, 0, 10**9)
                if not row[-1]]

    @property
    def last_seq(self) -> int:
        return self.store.summary(TABLE).last_seq


def mask_with(masks: list[Any]) -> Callable[[tuple[Any, ...]], list[Any]]:
    return lambda values: masking.mask_row(masks, values, key=SECRET, fail_closed=True)


@pytest.fixture
def centre(tmp_path: Path) -> Centre:
    made = Centre(tmp_path / "centre.sqlite3")
    made.put(people(100))
    return made


def run(plan: DeliveryPlan, centre: Centre, masks: list[Any] | None = None, **kwargs: Any) -> deliver.DeliveryResult:
    return deliver.deliver(plan, centre.changes, mask_with(MASKS if masks is None else masks), SECRET, **kwargs)


def target_rows(spec: SourceSpec, table: str = "人员") -> dict[str, tuple[Any, ...]]:
    names = ", ".join(quoted(spec, n) for n in ["_gs_key", "身份证号", "姓名", "金额", "有效"])
    return {str(r[0]): tuple(r[1:]) for r in query(spec, f"SELECT {names} FROM {quoted(spec, table)}")}


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_a_first_delivery_creates_the_table_with_the_granted_items_masked_and_receipts_that_match(
        kind: str, make_target: Callable[[str], SourceSpec], centre: Centre) -> None:
    spec = make_target(kind)
    plan = plan_for(spec)
    result = run(plan, centre)
    assert result.created and result.rows == 100 and len(result.batches) == 3 and result.last_seq == centre.last_seq
    rows = target_rows(spec)
    assert len(rows) == 100
    ids = sorted(r[0] for r in rows.values())
    assert ids[0] == "110101********0000" and all(len(i) == 18 and "19900101" not in i for i in ids)
    assert all(r[1].startswith("张") and "三" not in r[1] and str(i) not in r[1] for i, r in enumerate(rows.values()))
    assert {Decimal(str(r[2])) for r in rows.values()} == {Decimal(f"{i}.5") for i in range(100)}
    # 次数 is not granted: six items and the three system columns
    assert len(query(spec, f"SELECT * FROM {quoted(spec, '人员')} LIMIT 1")[0]) == 6 + 3
    check = deliver.check(plan, centre.live(), mask_with(MASKS), SECRET, centre.last_seq)
    assert check.equal and check.target_rows == check.centre_rows == 100
    assert check.target_hash == check.centre_hash == check.state_hash == result.content_hash
    assert check.state_seq == centre.last_seq


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_changes_and_deletes_in_the_centre_reach_the_consumer_and_the_receipt_stays_exact(
        kind: str, make_target: Callable[[str], SourceSpec], centre: Centre) -> None:
    spec = make_target(kind)
    plan = plan_for(spec)
    run(plan, centre)
    changed = people(5)
    for row in changed:
        row[2] = Decimal("999.99")
    centre.put(changed + people(3, start=100))
    centre.delete([people(1, start=50)[0][0], people(1, start=51)[0][0], "no such key"])
    result = run(plan, centre)
    assert result.written == 8 and result.deleted == 2 and result.rows == 101
    rows = target_rows(spec)
    assert len(rows) == 101
    assert sum(1 for r in rows.values() if Decimal(str(r[2])) == Decimal("999.99")) == 5
    check = deliver.check(plan, centre.live(), mask_with(MASKS), SECRET, centre.last_seq)
    assert check.equal and check.state_hash == check.target_hash == result.content_hash
    # a deleted row comes back (revived at the source)
    centre.put(people(1, start=50))
    assert run(plan, centre).rows == 102
    # nothing new: no batch
    again = run(plan, centre)
    assert again.batches == [] and again.rows == 102


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_a_table_the_consumer_made_itself_is_never_touched(kind: str, make_target: Callable[[str], SourceSpec],
                                                           centre: Centre) -> None:
    spec = make_target(kind)
    from govshare.exchange.engine import sources

    with sources.connect(spec, write=True) as conn:
        conn.cursor().execute(f"CREATE TABLE {quoted(spec, '人员')} (x INTEGER)")
        conn.cursor().execute(f"INSERT INTO {quoted(spec, '人员')} VALUES (7)")
    with pytest.raises(DeliveryError) as refused:
        run(plan_for(spec), centre)
    assert refused.value.code == "table_exists"
    assert query(spec, f"SELECT x FROM {quoted(spec, '人员')}") == [(7,)]


def test_two_bindings_cannot_write_one_table(make_target: Callable[[str], SourceSpec], centre: Centre) -> None:
    spec = make_target("sqlite")
    run(plan_for(spec, binding="b-1"), centre)
    with pytest.raises(DeliveryError) as refused:
        run(plan_for(spec, binding="b-2"), centre)
    assert refused.value.code == "table_taken"


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_a_changed_masking_rule_rebuilds_the_table_so_no_row_keeps_the_old_mask(
        kind: str, make_target: Callable[[str], SourceSpec], centre: Centre) -> None:
    spec = make_target(kind)
    run(plan_for(spec), centre)
    stricter = [masking.parse("保留前6位和后4位"), masking.parse("置空"), None, None, None, None]
    plan = plan_for(spec, masks=stricter)
    result = run(plan, centre, masks=stricter)
    assert result.rebuilt and result.rows == 100
    assert {r[1] for r in target_rows(spec).values()} == {None}
    assert deliver.check(plan, centre.live(), mask_with(stricter), SECRET, centre.last_seq).equal


def test_a_revoked_grant_stops_before_the_next_batch_and_keeps_what_was_committed(
        make_target: Callable[[str], SourceSpec], centre: Centre) -> None:
    spec = make_target("sqlite")
    plan = plan_for(spec)
    asked = []

    def allowed() -> str | None:
        asked.append(1)
        return "授权已撤销 / the grant was revoked" if len(asked) > 1 else None

    with pytest.raises(DeliveryError) as stopped:
        run(plan, centre, allowed=allowed)
    assert stopped.value.code == "stopped" and "revoked" in stopped.value.detail
    state = deliver.target_state(plan)
    assert state is not None and state.rows == 40 and state.batches == 1
    assert len(target_rows(spec)) == 40


def test_the_check_finds_rows_the_consumer_changed_added_or_deleted(make_target: Callable[[str], SourceSpec],
                                                                    centre: Centre) -> None:
    spec = make_target("sqlite")
    plan = plan_for(spec)
    run(plan, centre)
    keys = sorted(target_rows(spec))
    with deliver.sources.connect(spec, write=True) as conn:
        conn.execute('UPDATE "人员" SET "金额" = \'1\' WHERE "_gs_key" = ?', (keys[0],))
        conn.execute('DELETE FROM "人员" WHERE "_gs_key" = ?', (keys[1],))
        conn.execute('INSERT INTO "人员" ("_gs_key", "_gs_seq", "_gs_hash") VALUES (\'zz\', 1, \'x\')')
    check = deliver.check(plan, centre.live(), mask_with(MASKS), SECRET, centre.last_seq)
    assert not check.equal and (check.different, check.missing, check.extra) == (1, 1, 1)
    assert set(check.sample) == {keys[0], keys[1], "zz"}
    assert check.state_rows == 100 and check.target_rows == 100


def test_row_keys_are_per_grant_and_reveal_nothing(centre: Centre) -> None:
    key = ("110101199001010000",)
    assert deliver.row_key(SECRET, key) != deliver.row_key(b"other" * 8, key)
    assert deliver.row_key(SECRET, key) == deliver.row_key(SECRET, key) and len(deliver.row_key(SECRET, key)) == 64
    assert "1101011990" not in deliver.row_key(SECRET, key)


@pytest.mark.parametrize("name, ok", [("姓名", True), ("a" * 63, True), ("名" * 21, True), ("名" * 22, False),
                                      ("_gs_key", False), ("_GS_x", False), ("a\"b", False), ("a`b", False),
                                      (" a", False), ("", False), ("a%sb", False), ("_govshare_delivery", False),
                                      ("注册资本（万元）", True), ("gx; drop table x", True)])
def test_target_names_are_checked(name: str, ok: bool) -> None:
    assert (deliver.check_name(name) is None) is ok


@pytest.mark.parametrize("name, ok", [("gx_scztdjxx", True), ("市场主体_2024", True), ("_t", True),
                                      ("gx; drop table x", False), ("gx-jdc", False), ("gx jdc", False),
                                      ("2024gx", False), ("注册资本（万元）", False), ("_gs_t", False)])
def test_a_table_or_schema_name_is_an_identifier_the_consumers_tools_take_unquoted(name: str, ok: bool) -> None:
    """QA walk-through (21st session): a table named "gx; drop table x" was made (quoted) and broke the consumer's
    tools.  Columns may still be items' names as written (quoted on every target)."""
    assert (deliver.check_name(name, "table") is None) is ok


def _deliver_slowly(spec: SourceSpec, centre_path: str, started: Any) -> None:
    centre = Centre.__new__(Centre)
    centre.store = Store.open(f"sqlite:///{centre_path}")
    centre.batch = 0
    plan = plan_for(spec, batch_rows=10)

    def on_batch(receipt: deliver.BatchReceipt) -> None:
        started.set()
        time.sleep(0.05)

    run(plan, centre, on_batch=on_batch)


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_a_delivery_killed_mid_way_resumes_from_what_the_target_committed_without_loss_or_duplicates(
        kind: str, make_target: Callable[[str], SourceSpec], centre: Centre, tmp_path: Path) -> None:
    spec = make_target(kind)
    centre.put(people(400, start=100))
    started = multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(target=_deliver_slowly,
                                                        args=(spec, str(tmp_path / "centre.sqlite3"), started))
    child.start()
    assert started.wait(60)
    time.sleep(0.3)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    plan = plan_for(spec, batch_rows=10)
    state = deliver.target_state(plan)
    assert state is not None and 0 < state.rows < 500 and state.batches >= 1
    assert len(target_rows(spec)) == state.rows  # the state and the rows were committed together
    result = run(plan, centre)
    assert result.rows == 500 and result.batches and result.batches[0].seq_from == state.last_seq
    check = deliver.check(plan, centre.live(), mask_with(MASKS), SECRET, centre.last_seq)
    assert check.equal and check.target_rows == 500 and check.state_hash == check.target_hash


def test_hashes_of_read_back_values_equal_the_delivered_ones_on_every_type() -> None:
    values = [Decimal("1.50"), 3, 1.25, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5, 6), True, b"x", "文"]
    letters = ["N", "I", "F", "D", "T", "L", "G", "C"]
    back = [Decimal("1.500000000"), "3", "1.25", "2024-01-02", "2024-01-02 03:04:05.000006", 1, memoryview(b"x"), "文"]
    assert row_hash([deliver.normal(letter, v) for letter, v in zip(letters, back, strict=True)]) == row_hash(values)
    assert combine([]) == deliver._hex(0)


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_a_first_copy_meeting_rows_changed_or_deleted_during_it_ends_equal(
        kind: str, make_target: Callable[[str], SourceSpec], centre: Centre) -> None:
    """The first copy inserts without looking up old rows; a row the centre changes again (or deletes) after it was
    delivered in an earlier batch of the same run is upserted (or deleted), not lost or doubled."""
    spec = make_target(kind)
    plan = plan_for(spec, batch_rows=30)
    done: list[int] = []

    def meanwhile(receipt: deliver.BatchReceipt) -> None:
        done.append(receipt.batch)
        if len(done) == 1:
            changed = people(3)
            for row in changed:
                row[1] = "李四"
            centre.put(changed)
            centre.delete([people(1, start=5)[0][0]])

    result = run(plan, centre, on_batch=meanwhile)
    assert result.rows == 99
    check = deliver.check(plan, centre.live(), mask_with(MASKS), SECRET, centre.last_seq)
    assert check.equal and check.state_hash == check.target_hash
    assert sum(1 for r in target_rows(spec).values() if r[1] == "李*") == 3


def test_a_crash_right_after_the_table_was_first_made_does_not_block_the_delivery(
        make_target: Callable[[str], SourceSpec], centre: Centre, monkeypatch: Any) -> None:
    """Review L10: the table was made (DDL committed) before its state row; every later run said table_exists.  On
    SQLite and PostgreSQL the table and its state row are now one transaction (MySQL: a "creating" marker first)."""
    spec = make_target("sqlite")
    plan = plan_for(spec)
    real = deliver.Target._put_state
    calls = {"n": 0}

    def killed(self: Any, state: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt("killed after CREATE TABLE")
        real(self, state)

    monkeypatch.setattr(deliver.Target, "_put_state", killed)
    with pytest.raises(KeyboardInterrupt):
        run(plan, centre)
    monkeypatch.undo()
    assert run(plan, centre).rows == 100
