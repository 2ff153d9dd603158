"""Delivery into the consumer's front-end database (库表 channel; issue 11 item 1; SHR-4, SEC-3, SEC-4): the market
binds its grant on the police's 户籍人口基本信息 to a table of its own front-end database; the worker creates the
table with the granted items, masked, copies the centre's rows and then every change, deletes included; receipts
prove the table equals the centre's rows masked the same way; a revoked grant stops the next delivery and says
why; every batch is in the access log.  Owner, colleague, outsider, auditor."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from govshare.core import jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, NotFound
from govshare.core.models import AccessEvent, AuditEvent
from govshare.datastore.centre import open_store, table_for
from govshare.exchange.actions import do_register_source
from govshare.exchange.actions.deliveries import do_bind_delivery, do_set_delivery_active, do_start_delivery
from govshare.exchange.models import DeliveryBinding, DeliveryRun
from govshare.sharing.actions import do_revoke_grant
from govshare.sharing.models import Grant
from tests.conftest import API, login
from tests.test_data_api import PEOPLE, data  # noqa: F401 — the fixture: 5 people in the centre

pytestmark = pytest.mark.django_db


def target_file(name: str = "market_fe.sqlite3") -> Path:
    folder = Path(settings.GOVSHARE_SOURCE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    sqlite3.connect(path).close()  # an empty database file, as the consumer's operator makes it
    return path


@pytest.fixture
def tabled(data: Any) -> Any:  # noqa: F811
    """The market's grant delivers into a database table; the market's SQLite front-end database receives
    deliveries."""
    Grant.objects.filter(pk=data.grant.pk).update(channel="table")
    data.grant.refresh_from_db()
    data.path = target_file()
    data.target = do_register_source(data.org.market_admin, name="市场监管前置库", code="SC-QZK", kind="sqlite",
                                     database="market_fe.sqlite3", receives_deliveries=True)
    return data


def _rows(path: Path, table: str = "户籍人口") -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(f'SELECT "身份号码", "姓名", "出生日期" FROM "{table}" ORDER BY "身份号码"').fetchall()


def _bind(tabled: Any, capture: Any, user: Any = None, **overrides: Any) -> DeliveryBinding:
    values: dict[str, Any] = {"system": tabled.market_system, "target": tabled.target, "table": "户籍人口",
                              "columns": {"公民身份号码": "身份号码"}}
    values.update(overrides)
    with capture(execute=True):
        binding = do_bind_delivery(user or tabled.org.market_specialist, tabled.grant, **values)
    return binding


def _start(capture: Any, user: Any, binding: DeliveryBinding, kind: str = "deliver") -> DeliveryRun:
    """Start a run as the action would; its job runs when the transaction commits."""
    with capture(execute=True):
        run = do_start_delivery(user, binding, kind=kind)
    run.refresh_from_db()
    return run


def _change(entry: Any, rows: list[list[Any]], run_id: str) -> None:
    """A later copy into the centre (its own run)."""
    with open_store() as store:
        store.apply(table_for(entry), rows, run_id=run_id, batch=1, position={}, rows_read=len(rows), read_hash="")


def _work() -> None:
    """Run every job still queued, as the worker would."""
    from govshare.core.models import Job

    for job in Job.objects.filter(status=Job.Status.QUEUED).order_by("created_at"):
        jobs.execute(job.pk, "test-worker")


def test_binding_a_grant_creates_the_table_and_delivers_the_granted_items_masked(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    binding = _bind(tabled, django_capture_on_commit_callbacks)  # the job runs when the binding commits
    run = DeliveryRun.objects.get(binding=binding)
    from govshare.core.models import Job
    assert run.status == "succeeded" and run.kind == "deliver", (run.error_message, list(Job.objects.values("status", "message", "log")))
    assert run.written == 5 and run.rows == 5 and run.created_table
    assert _rows(tabled.path) == [
        ("360783********0011", "李**", None), ("360783********0022", "王*", "1977-02-28"),
        ("360783********0033", "赵*", "1966-10-10"), ("360783********1234", "张*", "1990-01-01"),
        ("360783********432X", "欧阳**", "1985-05-05")]
    text = tabled.path.read_bytes()
    assert "张三".encode() not in text and b"360783199001011234" not in text
    binding.refresh_from_db()
    assert binding.rows == 5 and binding.last_seq > 0 and binding.delivered_at is not None and binding.stopped is None
    logged = AccessEvent.objects.get(code=AuditCode.DATA_DELIVERED)
    assert logged.results == 5 and logged.detail["grant"] == tabled.grant.number
    assert logged.actor_username == "system:SJ-DJ" and logged.department_id == tabled.org.market.pk
    assert logged.detail["system"] == "SJ-DJ" and logged.detail["target"] == "SC-QZK:户籍人口"
    usage = login(Client(), tabled.org.police_specialist).get(f"{API}/data/grants/{tabled.grant.pk}/usage").json()
    assert usage["totals"]["deliver"] == {"calls": 1, "rows": 5} and usage["items"][0]["kind"] == "deliver"
    assert AuditEvent.objects.filter(code=AuditCode.DELIVERY_BOUND).count() == 1


def test_changes_and_deletes_in_the_centre_follow_and_the_check_proves_the_table_equal(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    _work()
    _change(tabled.entry, [["360783199001011234", "张四", PEOPLE[3][2]], ["360783201001010018", "孙七", None]], "r2")
    with open_store() as store:
        store.tombstone(table_for(tabled.entry), [["360783196610100033"]], run_id="gone", batch=1, position={})
    run = _start(django_capture_on_commit_callbacks, tabled.org.market_admin, binding, "check")  # delivers first
    assert run.status == "succeeded" and run.written == 2 and run.deleted == 1
    assert [r[0] for r in _rows(tabled.path)] == ["360783********0011", "360783********0018", "360783********0022",
                                                  "360783********1234", "360783********432X"]
    binding.refresh_from_db()
    assert binding.last_check["equal"] is True and binding.last_check["target_rows"] == 5
    assert binding.last_check["target_hash"] == binding.last_check["centre_hash"] == binding.content_hash
    assert AuditEvent.objects.get(code=AuditCode.DELIVERY_CHECKED).outcome == "success"
    # the consumer's own hands change a row: the next check says so
    with sqlite3.connect(tabled.path) as db:
        db.execute('UPDATE "户籍人口" SET "姓名" = \'X\' WHERE "身份号码" = \'360783********0022\'')
    _start(django_capture_on_commit_callbacks, tabled.org.market_admin, binding, "check")
    binding.refresh_from_db()
    assert binding.last_check["equal"] is False and binding.last_check["different"] == 1


def test_a_revoked_grant_stops_delivery_and_the_next_run_says_why(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    _work()
    do_revoke_grant(tabled.org.police_admin, tabled.grant, reason="停止共享")
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    run = _start(django_capture_on_commit_callbacks, tabled.org.market_specialist, binding)
    assert run.status == "stopped" and run.written == 0
    assert "revoked" in run.error_message["en"] and "撤销" in run.error_message["zh"]
    assert len(_rows(tabled.path)) == 5  # nothing more delivered
    binding.refresh_from_db()
    assert binding.stopped is not None and "revoked" in binding.stopped["en"]
    assert AuditEvent.objects.filter(code=AuditCode.DELIVERY_FAILED).exists()
    # the periodic pass records the reason once, not on every pass
    from govshare.exchange.actions.deliveries import start_for_entries

    start_for_entries(None)
    start_for_entries(None)
    assert DeliveryRun.objects.filter(binding=binding, error_code="grant_not_usable").count() == 1


def test_only_the_consumers_staff_bind_and_run_and_the_provider_sees_where_its_data_goes(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    org = tabled.org
    for outsider in (org.police_specialist, org.centre_admin, org.auditor):
        with pytest.raises(GovshareError):
            _bind(tabled, django_capture_on_commit_callbacks, user=outsider)
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    with pytest.raises(NotFound):
        do_start_delivery(org.police_specialist, binding)
    do_set_delivery_active(org.market_admin, binding, False)  # a colleague pauses it
    with pytest.raises(GovshareError) as paused:
        do_start_delivery(org.market_specialist, binding)
    assert paused.value.code == "delivery_paused"
    for who, seen in ((org.market_specialist, 1), (org.police_specialist, 1), (org.auditor, 1),
                      (org.centre_admin, 1)):
        listed = login(Client(), who).get(f"{API}/exchange/deliveries")
        assert listed.status_code == 200 and len(listed.json()) == seen
    other = login(Client(), org.market_specialist).get(f"{API}/exchange/deliveries/{binding.pk}")
    assert other.status_code == 200 and other.json()["table"] == "户籍人口"


@pytest.mark.parametrize("overrides, code", [
    ({"table": "_gs_x"}, "bad_table_name"),
    ({"table": "a\"b"}, "bad_table_name"),
    ({"columns": {"公民身份号码": "姓名"}}, "duplicate_column"),
    ({"columns": {"不存在": "x"}}, "not_granted"),
    ({"schema": "public"}, "bad_schema"),
])
def test_bad_names_are_refused_naming_the_field(tabled: Any, django_capture_on_commit_callbacks: Any,
                                                overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(GovshareError) as refused:
        _bind(tabled, django_capture_on_commit_callbacks, **overrides)
    assert refused.value.code == code
    assert not DeliveryBinding.objects.exists()


def test_a_table_name_that_is_not_an_identifier_is_refused_in_the_readers_language(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """QA walk-through (21st session): "gx; drop table x" was made (quoted) in the consumer's database, and a refused
    name's reason was English inside the Chinese message."""
    with pytest.raises(GovshareError) as refused:
        _bind(tabled, django_capture_on_commit_callbacks, table="gx; drop table x")
    assert refused.value.code == "bad_table_name"
    chinese = refused.value.render("zh-hans")
    assert "gx; drop table x" in chinese and "only letters" not in chinese and "字母" in chinese
    assert "only letters" in refused.value.render("en")
    assert not DeliveryBinding.objects.exists()


def test_a_table_the_consumer_made_itself_or_a_source_not_receiving_deliveries_is_refused(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    with sqlite3.connect(tabled.path) as db:
        db.execute('CREATE TABLE "户籍人口" (x INTEGER)')
    with pytest.raises(GovshareError) as exists:
        _bind(tabled, django_capture_on_commit_callbacks)
    assert exists.value.code == "table_exists"
    target_file("read_only.sqlite3")
    reader = do_register_source(tabled.org.market_admin, name="只读前置库", code="SC-RO", kind="sqlite",
                                database="read_only.sqlite3")
    with pytest.raises(GovshareError) as not_target:
        _bind(tabled, django_capture_on_commit_callbacks, target=reader, table="t2")
    assert not_target.value.code == "not_a_target"
    Grant.objects.filter(pk=tabled.grant.pk).update(channel="api")
    with pytest.raises(GovshareError) as channel:
        _bind(tabled, django_capture_on_commit_callbacks, table="t3")
    assert channel.value.code == "not_table_channel"


def test_a_delivery_over_the_api_binds_runs_and_reports(tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), tabled.org.market_specialist)
    with django_capture_on_commit_callbacks(execute=True):
        made = client.post(f"{API}/exchange/deliveries", {
            "grant": tabled.grant.pk, "system": tabled.market_system.pk, "target": tabled.target.pk,
            "table": "户籍人口", "columns": {"公民身份号码": "身份号码"}}, content_type="application/json")
    assert made.status_code == 201, made.content
    _work()
    shown = client.get(f"{API}/exchange/deliveries/{made.json()['id']}").json()
    assert shown["rows"] == 5 and shown["runs"][0]["status"] == "succeeded" and shown["columns"]["公民身份号码"] == "身份号码"
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"{API}/exchange/deliveries/{made.json()['id']}/runs", {"kind": "check"},
                              content_type="application/json")
    assert started.status_code == 202, started.content
    _work()
    assert client.get(f"{API}/exchange/deliveries/{made.json()['id']}").json()["last_check"]["equal"] is True
    bad = client.post(f"{API}/exchange/deliveries", {
        "grant": tabled.grant.pk, "system": tabled.market_system.pk, "target": tabled.target.pk, "table": "户籍人口"},
        content_type="application/json")
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "table_taken"


def test_the_grant_page_offers_the_consumer_the_binding_form_and_shows_the_provider_the_state(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    org = tabled.org
    page = login(Client(), org.market_specialist).get(f"/sharing/grants/{tabled.grant.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-panel="delivery"' in html and "data-bind-delivery" in html and "市场监管前置库" in html
    client = login(Client(), org.market_specialist)
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(f"/exchange/grants/{tabled.grant.pk}/deliveries/", {
            "target": tabled.target.pk, "system": tabled.market_system.pk, "table": "户籍人口",
            "column:公民身份号码": "身份号码", "column:姓名": "姓名", "column:出生日期": "出生日期"})
    assert posted.status_code == 302
    binding = DeliveryBinding.objects.get()
    assert binding.rows == 5 and len(_rows(tabled.path)) == 5
    provider = login(Client(), org.police_specialist).get(f"/sharing/grants/{tabled.grant.pk}/").content.decode()
    assert "SC-QZK:户籍人口" in provider and "data-bind-delivery" not in provider and "Deliver now" not in provider \
        and "立即交付" not in provider
    # a bad table name comes back as a message naming the problem, nothing saved
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/exchange/grants/{tabled.grant.pk}/deliveries/", {
            "target": tabled.target.pk, "system": tabled.market_system.pk, "table": "_gs_bad"}, follow=True)
    assert "_gs_bad" in again.content.decode() and DeliveryBinding.objects.count() == 1
    # … and the form comes back open, as it was sent (QA walk-through, 21st session: it lost every value)
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/exchange/grants/{tabled.grant.pk}/deliveries/", {
            "target": tabled.target.pk, "system": tabled.market_system.pk, "table": "户籍人口",
            "column:姓名": "xm_custom"}, follow=True)
    form = again.content.decode()
    assert '<details id="delivery-form" open>' in form and 'value="户籍人口"' in form and 'value="xm_custom"' in form
    later = client.get(f"/sharing/grants/{tabled.grant.pk}/").content.decode()  # once: a later visit starts afresh
    assert 'value="xm_custom"' not in later and '<details id="delivery-form" open>' not in later
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/exchange/deliveries/{binding.pk}/run/", {"kind": "check"})
    binding.refresh_from_db()
    assert binding.last_check is not None and binding.last_check["equal"] is True


# -- review of the 10th session: each finding, fixed --------------------------------------------------------------

def test_a_tightened_masking_rule_reaches_a_table_already_delivered_without_any_change_in_the_centre(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review M4: the periodic pass queued a delivery only for new changes in the centre."""
    from govshare.exchange.actions.deliveries import start_for_entries

    _bind(tabled, django_capture_on_commit_callbacks)
    assert ("360783********0022", "王*", "1977-02-28") in _rows(tabled.path)
    tabled.entry.current_version.items.filter(name="出生日期").update(is_sensitive=True, masking_rule="置空")
    with django_capture_on_commit_callbacks(execute=True):
        assert start_for_entries(None)["started"] == 1
    assert {r[2] for r in _rows(tabled.path)} == {None}
    assert DeliveryRun.objects.filter(rebuilt=True).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert start_for_entries(None)["started"] == 0  # delivered as it is now: nothing more


def test_a_batch_committed_in_the_target_but_missing_from_the_access_log_is_recorded_by_the_next_run(
        tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review M6: the worker died between the target's commit and the access-log row."""
    from govshare.exchange import deliveries

    def lost(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(deliveries, "record_batch", lost)
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    assert len(_rows(tabled.path)) == 5 and not AccessEvent.objects.filter(code=AuditCode.DATA_DELIVERED).exists()
    monkeypatch.undo()
    DeliveryRun.objects.filter(binding=binding).update(status="failed")
    _start(django_capture_on_commit_callbacks, tabled.org.market_specialist, binding)
    recovered = AccessEvent.objects.get(code=AuditCode.DATA_DELIVERED)
    assert recovered.detail["recovered"] is True and recovered.detail["rows"] == 5
    assert recovered.detail["grant"] == tabled.grant.number


def test_a_database_that_no_longer_receives_deliveries_gets_no_more_rows_and_cannot_be_moved(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review M7: unticking "receives deliveries" did not stop writes; the address could be changed under a binding."""
    from govshare.exchange.actions import do_change_source
    from govshare.exchange.actions.deliveries import start_for_entries

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    with pytest.raises(GovshareError) as moved:
        do_change_source(tabled.org.market_admin, tabled.target, database="other.sqlite3")
    assert moved.value.code in ("source_has_deliveries", "no_such_file")
    do_change_source(tabled.org.market_admin, tabled.target, receives_deliveries=False)
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    with django_capture_on_commit_callbacks(execute=True):
        assert start_for_entries(None)["started"] == 0
    run = _start(django_capture_on_commit_callbacks, tabled.org.market_specialist, binding)
    assert run.status == "stopped" and len(_rows(tabled.path)) == 5


def test_a_stopped_delivery_is_retried_with_growing_waits_not_every_minute(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review L11: each periodic pass added a run, an ACCESS_DENIED and a DELIVERY_FAILED."""
    import datetime as dt

    from govshare.exchange.actions.deliveries import backing_off, start_for_entries
    from govshare.sharing.models import ConsumingSystem

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    ConsumingSystem.objects.filter(pk=tabled.market_system.pk).update(is_active=False)
    assert _start(django_capture_on_commit_callbacks, tabled.org.market_specialist, binding).status == "stopped"
    binding.refresh_from_db()
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            start_for_entries(None)
    assert DeliveryRun.objects.filter(binding=binding).count() == 2  # the first delivery, the stopped one
    assert backing_off(binding) and not backing_off(binding, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6))


# ------------------------------------------------------------------ production's pair: PostgreSQL on both sides

@pytest.fixture(scope="module")
def centre_server() -> Any:
    """A PostgreSQL server of the centre's own (a front-end database on the platform's server is refused)."""
    from tests.source_servers import _script

    with _script("with_postgres").throwaway_server(prefix="govshare-centre-") as url:
        yield url


@pytest.fixture
def pg_datastore(settings: Any, centre_server: str) -> str:
    """The centre on PostgreSQL (set before the people are loaded into it)."""
    import secrets

    from tests.source_servers import pg_admin

    name = f"centre_{secrets.token_hex(4)}"
    with pg_admin(centre_server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings.GOVSHARE_DATASTORE_URL = centre_server.rsplit("/", 1)[0] + f"/{name}"
    return name


@pytest.mark.once
@pytest.mark.xdist_group("sources")
def test_a_first_delivery_from_a_postgresql_centre_into_a_postgresql_database_is_made_in_sql_and_checks_equal(
        pg_datastore: str, tabled: Any, pg_source_url: str, django_capture_on_commit_callbacks: Any) -> None:
    from tests.delivery_targets import make_pg_target, query

    spec = make_pg_target(pg_source_url, f"market_{pg_datastore}")
    target = do_register_source(tabled.org.market_admin, name="市场监管 PostgreSQL 前置库", code="SC-PG",
                                kind="postgresql", host=spec["address"], port=spec["port"], database=spec["database"],
                                username=spec["user"], password=spec["password"], tls="prefer", connect_timeout=5,
                                receives_deliveries=True)
    with open_store() as store:
        assert store.kind == "postgresql"
    binding = _bind(tabled, django_capture_on_commit_callbacks, target=target)
    run = DeliveryRun.objects.get(binding=binding)
    assert run.status == "succeeded" and run.rows == 5 and run.created_table, run.error_message
    from govshare.exchange.engine.sources import SourceSpec

    plain = SourceSpec(**spec)
    rows = query(plain, 'SELECT "身份号码", "姓名", "出生日期"::text FROM "户籍人口" ORDER BY "身份号码"')
    assert rows == [("360783********0011", "李**", None), ("360783********0022", "王*", "1977-02-28"),
                    ("360783********0033", "赵*", "1966-10-10"), ("360783********1234", "张*", "1990-01-01"),
                    ("360783********432X", "欧阳**", "1985-05-05")]
    assert run.job is not None
    run.job.refresh_from_db()
    assert "first copy made in SQL by the centre: 1 batches" in run.job.log, run.job.log
    assert query(plain, "SELECT count(*) FROM pg_constraint WHERE conrelid = '\"户籍人口\"'::regclass "
                        "AND contype = 'p'") == [(1,)]
    checked = _start(django_capture_on_commit_callbacks, tabled.org.market_admin, binding, "check")
    assert checked.status == "succeeded"
    binding.refresh_from_db()
    assert binding.last_check["equal"] is True and binding.content_hash == binding.last_check["centre_hash"]
    assert AccessEvent.objects.filter(code=AuditCode.DATA_DELIVERED).count() == 1


def test_a_delivery_stops_when_the_centres_table_is_made_again_under_it(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-1 with issue 11 (review of the 19th session): a delivery works out the positions of its items once; a
    centre table made again meanwhile (a new version's items in other places) would give it other items' values —
    it stops at its next batch instead (the check before every batch compares the table's incarnation)."""
    from govshare.exchange.deliveries import prepare, still_allowed

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    table = table_for(tabled.entry)
    with open_store() as store:
        prepared = prepare(binding, store)
        assert prepared.incarnation and still_allowed(prepared) is None
        columns, key = store.describe(table)
        store.rebuild_table(table, columns, key)  # made again (here in the same shape)
        assert store.incarnation(table) != prepared.incarnation
    reason = still_allowed(prepared)
    assert reason is not None and "made again" in reason


def test_deliveries_wait_for_a_pending_rebuild_without_failing_and_go_on_at_once_after_it(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-1 with issue 11 (second review of the 19th session): while the entry's centre table is to be made again no
    delivery is queued by the periodic pass or by hand (nothing fails, nobody is told of a failure); one that failed
    or stopped because of the rebuild does not make the delivery wait after it."""
    from django.utils import timezone

    from govshare.core.errors import Conflict
    from govshare.exchange.actions.deliveries import backing_off, start_for_entries
    from govshare.exchange.models import TableBinding

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    assert DeliveryRun.objects.get(binding=binding).status == "succeeded"
    source = do_register_source(tabled.org.police_admin, name="公安前置库", code="GA-X", kind="sqlite",
                                database="market_fe.sqlite3")
    TableBinding.objects.create(entry=tabled.entry, version=tabled.entry.current_version, source=source,
                                table_name="t", rebuild_pending=True)
    _change(tabled.entry, [[PEOPLE[0][0], "改", PEOPLE[0][2]]], "later-1")
    assert start_for_entries(None)["started"] == 0
    with pytest.raises(Conflict) as caught:
        do_start_delivery(tabled.org.market_specialist, binding)
    assert caught.value.code == "delivery_centre_rebuilding"
    # a run the rebuild stopped (it was running when the rebuild was asked for), then the rebuild made the table
    DeliveryRun.objects.create(binding=binding, kind="deliver", status="stopped", finished_at=timezone.now())
    assert backing_off(binding)
    TableBinding.objects.filter(entry=tabled.entry).update(rebuild_pending=False, generation=2,
                                                           rebuilt_at=timezone.now())
    assert not backing_off(binding)
    assert start_for_entries([tabled.entry.pk])["started"] == 1


def test_an_entry_fed_by_uploads_holds_its_deliveries_while_a_replace_upload_makes_its_table_again(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-3 with issue 11 (20th session): an entry with no binding keeps its centre table's rebuild state on its
    upload feed — while a replace upload is making the table again no delivery is queued or started; after it the
    table's generation is part of the delivered table's shape (the next delivery makes the consumer's table again)."""
    from govshare.exchange.actions.deliveries import start_for_entries
    from govshare.exchange.deliveries import signature
    from govshare.exchange.models import TableBinding, UploadFeed

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    assert DeliveryRun.objects.get(binding=binding).status == "succeeded"
    before = signature(binding, tabled.grant)
    feed = UploadFeed.objects.create(entry=tabled.entry, rebuild_pending=True)
    _change(tabled.entry, [[PEOPLE[0][0], "改", PEOPLE[0][2]]], "later-1")
    assert TableBinding.objects.centre_state(tabled.entry.pk).rebuild_pending
    assert start_for_entries(None)["started"] == 0
    with pytest.raises(Conflict) as caught:
        do_start_delivery(tabled.org.market_specialist, binding)
    assert caught.value.code == "delivery_centre_rebuilding"
    UploadFeed.objects.filter(pk=feed.pk).update(rebuild_pending=False, generation=2)
    assert signature(binding, tabled.grant) != before
    assert start_for_entries([tabled.entry.pk])["started"] == 1


def test_a_feeds_pending_flag_is_ignored_once_the_entry_has_a_binding(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 8 of the 20th session: the binding keeps the table's state once there is one — a feed's flag left
    behind does not hold the entry's deliveries for ever."""
    from govshare.exchange.actions.deliveries import start_for_entries
    from govshare.exchange.models import TableBinding, UploadFeed

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    assert DeliveryRun.objects.get(binding=binding).status == "succeeded"
    UploadFeed.objects.create(entry=tabled.entry, rebuild_pending=True)
    source = do_register_source(tabled.org.police_admin, name="公安前置库", code="GA-Y", kind="sqlite",
                                database="market_fe.sqlite3")
    TableBinding.objects.create(entry=tabled.entry, version=tabled.entry.current_version, source=source,
                                table_name="t")
    _change(tabled.entry, [[PEOPLE[0][0], "改", PEOPLE[0][2]]], "later-2")
    assert not TableBinding.objects.centre_state(tabled.entry.pk).rebuild_pending
    assert start_for_entries([tabled.entry.pk])["started"] == 1


# -- a grant that changes during a delivery (review of the 21st session: every channel stops at once) ---------------

def _delivered(path: Any, table: str = "户籍人口") -> tuple[list[str], list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        cursor = db.execute(f'SELECT * FROM "{table}"')
        return [c[0] for c in cursor.description], cursor.fetchall()


def _after_first_batch(monkeypatch: Any, change: Any) -> None:
    """Batches of 2 rows; ``change`` made (committed, as by another process) right after the first batch."""
    from govshare.exchange import deliveries

    monkeypatch.setattr(deliveries, "BATCH_ROWS", 2)
    original = deliveries.record_batch
    calls = {"n": 0}

    def record(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            change()

    monkeypatch.setattr(deliveries, "record_batch", record)


def test_an_item_taken_from_the_grant_during_a_delivery_stops_it_at_the_next_batch(
        tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """The grant loses 出生日期 (unmasked) after the run's first batch.  The run compared only the masks of the grant's
    items as they were then, and wrote 出生日期 to the end of the run."""
    _after_first_batch(monkeypatch, lambda: Grant.objects.filter(pk=tabled.grant.pk).update(
        items=["公民身份号码", "姓名"]))
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    run = DeliveryRun.objects.get(binding=binding)
    columns, rows = _delivered(tabled.path)
    assert (run.status, run.batches) == ("stopped", 1), (run.status, run.batches)
    assert "items changed" in run.error_message["en"]
    assert len([r for r in rows if r[columns.index("出生日期")] is not None]) <= 2


def test_a_grant_moved_from_the_table_channel_stops_its_delivery_during_a_run_and_at_the_next(
        tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """The access check was given the grant's own channel, so a grant moved to the API channel went on delivering."""
    with monkeypatch.context() as patch:
        _after_first_batch(patch, lambda: Grant.objects.filter(pk=tabled.grant.pk).update(channel="api"))
        binding = _bind(tabled, django_capture_on_commit_callbacks)
    run = DeliveryRun.objects.get(binding=binding)
    assert (run.status, run.batches) == ("stopped", 1), (run.status, run.batches, run.written)
    written = len(_delivered(tabled.path)[1])
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    again = _start(django_capture_on_commit_callbacks, tabled.org.market_specialist, binding)
    assert again.status == "stopped" and again.written == 0 and len(_delivered(tabled.path)[1]) == written


def test_after_a_new_version_drops_an_item_the_delivery_goes_on_with_the_items_still_granted(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review of the 21st session: the delivery stopped for good (``unknown_items``), with no way to name the items
    left.  The table is made again without the dropped item and the rest goes on."""
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    tabled.entry.current_version.items.filter(name="出生日期").delete()
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    run = _start(django_capture_on_commit_callbacks, tabled.org.market_specialist, binding)
    assert run.status == "succeeded", (run.status, run.error_message)
    columns, rows = _delivered(tabled.path)
    assert "出生日期" not in columns and len(rows) == 6
