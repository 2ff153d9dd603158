"""Copies of bound tables into the data resource centre (issue 10 items 3, 4, 6, 7, 8; EXC-1, EXC-5, EXC-7):
a run is queued, a worker copies the table in keyed batches into the entry's table in the centre's own
database, each batch with its receipt; values that cannot be stored are quarantined with their reason; a
failure is explained and sent to the provider and the centre.  The engines' own tests (resume, kill -9,
constant memory, each source and store kind): tests/test_exchange_copy.py, tests/test_datastore_store.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from govshare.cli import main as cli
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.models import AuditEvent, Notification
from govshare.datastore.centre import open_store, table_for
from govshare.exchange import runs
from govshare.exchange.actions import do_bind_table, do_register_source, do_start_run
from govshare.exchange.models import ExchangeRun
from tests.conftest import login

pytestmark = pytest.mark.django_db

ROWS = [(f"36078319900101{i:03d}{i % 10}", f"张{i}", f"1990-01-{1 + i % 28:02d}") for i in range(120)]


def front_end(rows: list[tuple[Any, ...]] = ROWS) -> Path:
    folder = Path(settings.GOVSHARE_SOURCE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ga.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS rkxx (gmsfhm VARCHAR(18) PRIMARY KEY, xm VARCHAR(50) NOT NULL, "
                   "csrq VARCHAR(10))")
        db.execute("DELETE FROM rkxx")
        db.executemany("INSERT INTO rkxx VALUES (?,?,?)", rows)
    db.close()
    return path


@pytest.fixture
def bound(cat: Any) -> Any:
    """The police's published 库表 entry bound to its SQLite front-end database (120 people)."""
    front_end()
    cat.entry = cat.published()
    cat.source = do_register_source(cat.org.police_admin, name="公安前置库", code="GA-QZK", kind="sqlite",
                                    database="ga.sqlite3")
    cat.binding = do_bind_table(cat.org.police_specialist, cat.entry, source=cat.source, schema="main",
                                table="rkxx", mapping={"公民身份号码": "gmsfhm", "姓名": "xm", "出生日期": "csrq"})
    return cat


@pytest.fixture
def start(django_capture_on_commit_callbacks: Any) -> Any:
    """Start a run as the action would, its job running when the transaction commits (the test's own
    transaction never commits: the callbacks are run by hand, as the commit would)."""
    def go(user: Any, binding: Any) -> ExchangeRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = do_start_run(user, binding)
        run.refresh_from_db()
        return run

    return go


def centre_rows(entry: Any) -> list[tuple[Any, ...]]:
    with open_store() as store:
        return store.changes_since(table_for(entry), 0, 10_000)


# ------------------------------------------------------------------ a full copy

def test_a_full_copy_fills_the_entrys_table_in_the_centre_with_receipts(bound: Any, start: Any) -> None:
    run = start(bound.org.police_specialist, bound.binding)
    assert run.status == ExchangeRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_read, run.inserted, run.updated, run.rejected, run.rows_expected) == (120, 120, 0, 0, 120)
    assert run.target == table_for(bound.entry) and len(centre_rows(bound.entry)) == 120
    with open_store() as store:
        receipts = store.receipts(run.target, run.run_id)
        assert sum(r.rows_read for r in receipts) == 120 and run.content_hash == store.summary(run.target).content_hash
    codes = list(AuditEvent.objects.filter(object_type="exchange.exchangerun", object_id=str(run.pk))
                 .order_by("pk").values_list("code", flat=True))
    assert codes == [AuditCode.RUN_STARTED, AuditCode.RUN_FINISHED]


def test_a_second_copy_of_an_unchanged_source_rewrites_nothing(bound: Any, start: Any) -> None:
    first = start(bound.org.police_specialist, bound.binding)
    before = centre_rows(bound.entry)
    changed = list(ROWS)
    changed[5] = (changed[5][0], "李四", changed[5][2])
    front_end(changed)
    second = start(bound.org.police_specialist, bound.binding)
    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 119)
    after = centre_rows(bound.entry)
    assert len(after) == 121 or len(after) == 120  # changes_since lists each row once, at its last change
    seqs_before = {r[0]: r[-2] for r in before}
    moved = [r for r in after if seqs_before.get(r[0]) != r[-2]]
    assert [r[1] for r in moved] == ["李四"]
    assert first.pk != second.pk


def test_values_that_cannot_be_stored_are_quarantined_with_their_reason_not_dropped(bound: Any, start: Any,
                                                                                   client_for: Any) -> None:
    rows = list(ROWS)
    rows[3] = (rows[3][0], rows[3][1], "2023-02-30")  # a day that does not exist
    rows[4] = (rows[4][0], "名" * 60, rows[4][2])  # longer than the item's 50 characters
    front_end(rows)
    run = start(bound.org.police_specialist, bound.binding)
    assert run.status == ExchangeRun.Status.SUCCEEDED and run.rejected == 2 and run.inserted == 118
    body = client_for(bound.org.police_specialist).get(f"/api/v1/exchange/runs/{run.pk}").json()
    held = {q["item"]: q for q in body["quarantine"]}
    assert set(held) == {"出生日期", "姓名"} and rows[3][0] in held["出生日期"]["key"]
    assert held["出生日期"]["code"] == "no_such_date" and held["姓名"]["code"] == "too_long"
    assert held["出生日期"]["reason"] == "一个不存在的日期"  # in the reader's language (Chinese first)
    # the values are the provider's data as it came (ID numbers): the auditor sees the counts, not them
    seen = client_for(bound.org.auditor).get(f"/api/v1/exchange/runs/{run.pk}").json()
    assert seen["rejected"] == 2 and seen["quarantine"] == []
    # the run's job is linked for the one who started it, not for the auditor (its page would answer 404: QA, 21st)
    job_link = f"/jobs/{run.job_id}/"
    assert job_link in client_for(bound.org.police_specialist).get(f"/exchange/runs/{run.pk}/").content.decode()
    assert job_link not in client_for(bound.org.auditor).get(f"/exchange/runs/{run.pk}/").content.decode()


# ------------------------------------------------------------------ refused before it starts, failing while it runs

def test_a_binding_that_no_longer_matches_the_table_cannot_start_and_names_the_column(bound: Any) -> None:
    with sqlite3.connect(Path(settings.GOVSHARE_SOURCE_DIR) / "ga.sqlite3") as db:
        db.execute("ALTER TABLE rkxx RENAME COLUMN csrq TO birth")
    db.close()
    with pytest.raises(ValidationFailed) as caught:
        do_start_run(bound.org.police_specialist, bound.binding)
    assert caught.value.field == "mapping.出生日期" and "csrq" in caught.value.render("en")
    assert not ExchangeRun.objects.exists()


def test_a_paused_binding_or_a_deactivated_source_does_not_start(bound: Any) -> None:
    from govshare.exchange.actions import do_set_binding_active, do_set_source_active

    do_set_binding_active(bound.org.police_specialist, bound.binding, False)
    with pytest.raises(ValidationFailed) as caught:
        do_start_run(bound.org.police_specialist, bound.binding)
    assert caught.value.code == "binding_paused"
    do_set_binding_active(bound.org.police_specialist, bound.binding, True)
    do_set_source_active(bound.org.police_admin, bound.source, False)
    with pytest.raises(ValidationFailed) as caught:
        do_start_run(bound.org.police_specialist, bound.binding)
    assert caught.value.code == "source_inactive"


def test_only_one_copy_of_a_binding_is_queued_at_a_time(bound: Any, settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # queued for a worker
    first = do_start_run(bound.org.police_specialist, bound.binding)
    assert first.status == ExchangeRun.Status.QUEUED
    with pytest.raises(Conflict) as caught:
        do_start_run(bound.org.police_admin, bound.binding)
    assert caught.value.code == "run_open"


def test_a_centre_that_cannot_be_written_fails_the_run_in_words_and_tells_the_provider_and_the_centre(
        bound: Any, settings: Any, tmp_path: Path, start: Any) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings.GOVSHARE_DATASTORE_URL = f"sqlite:///{blocker / 'datastore.sqlite3'}"
    run = start(bound.org.police_specialist, bound.binding)
    assert run.status == ExchangeRun.Status.FAILED and run.error_code == "store_unavailable"
    assert run.error_message["zh"] != run.error_message["en"]
    told = set(Notification.objects.filter(kind="exchange.run_failed").values_list("recipient__username", flat=True))
    assert {"police_specialist", "police_admin", "admin"} <= told and "market_admin" not in told
    assert AuditEvent.objects.get(code=AuditCode.RUN_FAILED).outcome == "failure"


# ------------------------------------------------------------------ a PostgreSQL centre (production's)

def test_a_full_copy_into_a_postgresql_centre(bound: Any, settings: Any, pg_source_url: str, start: Any) -> None:
    """The centre on a PostgreSQL server of its own (here a database on the suite's source server)."""
    from tests.source_servers import pg_admin

    with pg_admin(pg_source_url) as admin:
        admin.execute("DROP DATABASE IF EXISTS centre_store WITH (FORCE)")
        admin.execute("CREATE DATABASE centre_store")
    settings.GOVSHARE_DATASTORE_URL = pg_source_url.rsplit("/", 1)[0] + "/centre_store"
    run = start(bound.org.police_specialist, bound.binding)
    assert run.status == ExchangeRun.Status.SUCCEEDED and run.inserted == 120
    with open_store() as store:
        assert store.kind == "postgresql" and store.summary(run.target).live_rows == 120


def _bound_rkxx(cat: Any, spec: dict[str, Any], code: str) -> Any:
    """The police's MariaDB front-end database ``spec`` registered as source ``code``, its table rkxx bound to the
    catalog's published entry (公民身份号码, 姓名, 出生日期)."""
    source = do_register_source(cat.org.police_admin, name=f"公安 MariaDB 前置库 {code}", code=code, kind="mysql",
                                host=spec["address"], port=spec["port"], database=spec["database"],
                                username=spec["user"], password=spec["password"], tls="disable", connect_timeout=5)
    return do_bind_table(cat.org.police_specialist, cat.published(), source=source, schema=spec["database"],
                         table="rkxx", mapping={"公民身份号码": "gmsfhm", "姓名": "xm", "出生日期": "csrq"})


def test_a_copy_from_mariadb_into_a_postgresql_centre_takes_the_servers_path_and_says_so(
        cat: Any, settings: Any, pg_source_url: str, request: Any, start: Any) -> None:
    """Issue 10 item 4, decision 0004 "MySQL": a MariaDB front-end database into a PostgreSQL centre is copied by
    the path where the source's server writes COPY lines (tests/test_exchange_mysqlcopy.py); the run's log says
    so, and a value that exists only in MySQL (the zero date) is quarantined with its reason, as ever."""
    from tests.source_servers import make_mysql_database, pg_admin

    with pg_admin(pg_source_url) as admin:
        admin.execute("DROP DATABASE IF EXISTS centre_store_my WITH (FORCE)")
        admin.execute("CREATE DATABASE centre_store_my")
    settings.GOVSHARE_DATASTORE_URL = pg_source_url.rsplit("/", 1)[0] + "/centre_store_my"
    spec = make_mysql_database(
        request.getfixturevalue("mysql_source_url"), "runs_fast",
        "SET SESSION sql_mode = ''; CREATE TABLE rkxx (gmsfhm char(18) PRIMARY KEY, xm varchar(50), csrq date) "
        "ENGINE=InnoDB; INSERT INTO rkxx SELECT CONCAT('62120019900101', LPAD(seq, 4, '0')), CONCAT('姓名', seq), "
        "IF(seq = 7, '0000-00-00', DATE_ADD('1990-01-01', INTERVAL seq DAY)) FROM seq_1_to_120;")
    run = start(cat.org.police_specialist, _bound_rkxx(cat, spec, "GA-MY"))
    assert run.status == ExchangeRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_read, run.inserted, run.rejected) == (120, 119, 1)
    assert run.job is not None and "path: rows written as COPY lines by the source's server" in run.job.log
    with open_store() as store:
        assert store.summary(run.target).live_rows == 119
        assert [q["reason"].split(":")[0] for q in store.quarantine(run.target, run.run_id)] == ["no_such_date"]


@pytest.mark.parametrize("fast_batch_rows", [50_000, 50])  # the page that changes: the first, or the third
def test_a_table_without_transactions_that_changes_under_the_servers_path_is_finished_by_the_keyset_copy(
        fast_batch_rows: int, cat: Any, settings: Any, pg_source_url: str, request: Any, start: Any,
        monkeypatch: Any) -> None:
    """A MyISAM table keeps no snapshot: a flagged row (a zero date) deleted between its page and its re-read
    failed the batch, and on a busy table the next run's too, for ever. Now the run goes on by the keyset copy,
    which needs no snapshot, from the last batch written — and its log says why (review of the 14th session)."""
    from govshare.exchange.engine import copy as copy_engine
    from tests.source_servers import make_mysql_database, mysql_admin, pg_admin

    with pg_admin(pg_source_url) as admin:
        admin.execute("DROP DATABASE IF EXISTS centre_store_myisam WITH (FORCE)")
        admin.execute("CREATE DATABASE centre_store_myisam")
    settings.GOVSHARE_DATASTORE_URL = pg_source_url.rsplit("/", 1)[0] + "/centre_store_myisam"
    mysql_url = request.getfixturevalue("mysql_source_url")
    spec = make_mysql_database(
        mysql_url, "runs_myisam",
        "SET SESSION sql_mode = ''; CREATE TABLE rkxx (gmsfhm char(18) PRIMARY KEY, xm varchar(50), csrq date) "
        "ENGINE=MyISAM; INSERT INTO rkxx SELECT CONCAT('62120019900101', LPAD(seq, 4, '0')), CONCAT('姓名', seq), "
        "IF(seq = 107, '0000-00-00', DATE_ADD('1990-01-01', INTERVAL seq DAY)) FROM seq_1_to_120;")
    page = copy_engine._Reader.page
    deleted: list[bool] = []

    def busy(self: Any, after: Any, lower: Any = None, *, window: Any = None) -> Any:
        if window is not None and not deleted:  # another system deletes the flagged row meanwhile
            with mysql_admin(mysql_url, "runs_myisam") as admin, admin.cursor() as cursor:
                cursor.execute("DELETE FROM rkxx WHERE gmsfhm = '621200199001010107'")
            deleted.append(True)
        return page(self, after, lower, window=window)

    monkeypatch.setattr(copy_engine._Reader, "page", busy)
    monkeypatch.setattr(runs, "FAST_BATCH_ROWS", fast_batch_rows)
    run = start(cat.org.police_specialist, _bound_rkxx(cat, spec, "GA-MYI"))
    assert deleted and run.status == ExchangeRun.Status.SUCCEEDED, run.error_message
    assert (run.rows_read, run.inserted, run.rejected) == (119, 119, 0)
    assert run.job is not None and "path: keyset copy for the rest of the run" in run.job.log
    assert "the table changed while its page was read" in run.job.log
    with open_store() as store:
        assert store.summary(run.target).live_rows == 119
        receipts = store.receipts(run.target, run.run_id)
    # the batches the servers' path wrote before the page that changed stay; the keyset copy goes on after them
    assert [r.batch for r in receipts] == list(range(1, len(receipts) + 1))
    assert sum(r.rows_read for r in receipts) == 119
    if fast_batch_rows == 50:
        assert [r.rows_read for r in receipts[:2]] == [50, 50]


# ------------------------------------------------------------------ who, and every channel

def test_the_provider_starts_a_copy_through_the_api_and_another_department_sees_nothing(
        bound: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(bound.org.police_specialist).generic(  # no body: the binding's mode decides
            "POST", f"/api/v1/exchange/bindings/{bound.binding.pk}/runs")
    assert answer.status_code == 201, answer.content
    run_id = answer.json()["id"]
    body = client_for(bound.org.police_specialist).get(f"/api/v1/exchange/runs/{run_id}").json()
    assert body["status"] == "succeeded" and len(body["receipts"]) == body["batches"] >= 1
    outsider = client_for(bound.org.market_admin)
    assert outsider.get(f"/api/v1/exchange/runs/{run_id}").status_code == 404
    assert outsider.post(f"/api/v1/exchange/bindings/{bound.binding.pk}/runs", {"kind": "full"},
                         content_type="application/json").status_code == 404
    assert outsider.get("/api/v1/exchange/runs").json()["total"] == 0
    assert client_for(bound.org.auditor).get(f"/api/v1/exchange/runs/{run_id}").status_code == 200


def test_the_pages_start_a_copy_and_show_its_receipts(bound: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), bound.org.police_specialist)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/exchange/bindings/{bound.binding.pk}/run/")
    assert answer.status_code == 302
    page = client.get(answer["Location"]).content.decode()
    assert 'data-status="succeeded"' in page and 'id="receipts"' in page
    page = client.get(f"/exchange/bindings/{bound.binding.pk}/").content.decode()
    assert 'data-run="' in page


def test_the_console_runs_a_copy_here_and_lists_it(bound: Any, capsys: Any, settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # no worker: --here runs it
    assert cli(["exchange", "run", bound.entry.code, "--here"]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert cli(["exchange", "status", bound.entry.code]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert cli(["exchange", "run", "999999/000001"]) == 2


# ------------------------------------------------------------------ the centre's own database (settings)

def test_the_centre_defaults_to_a_sqlite_file_in_the_data_dir_and_never_shares_the_platforms_database(
        monkeypatch: Any, tmp_path: Path) -> None:
    from govshare.config import ConfigError
    from tests.conftest import project_settings

    module = project_settings(monkeypatch, tmp_path, unset=("GOVSHARE_DATASTORE_URL",))
    assert f"sqlite:///{tmp_path.resolve() / 'datastore.sqlite3'}" == module.GOVSHARE_DATASTORE_URL
    same = "postgresql://u@db:5432/govshare"
    with pytest.raises(ConfigError, match="GOVSHARE_DATASTORE_URL is DATABASE_URL"):
        project_settings(monkeypatch, tmp_path, DATABASE_URL=same, GOVSHARE_DATASTORE_URL=same)
    with pytest.raises(ConfigError, match="sqlite:/// or postgresql://"):
        project_settings(monkeypatch, tmp_path, GOVSHARE_DATASTORE_URL="mysql://u@db/centre")


def test_healthz_reports_the_centres_database(client: Client, settings: Any, tmp_path: Path) -> None:
    body = client.get("/healthz").json()
    assert body["checks"]["datastore"]["ok"] is True and body["checks"]["datastore"]["kind"] == "sqlite"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings.GOVSHARE_DATASTORE_URL = f"sqlite:///{blocker / 'centre.sqlite3'}"
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["checks"]["datastore"] == {"ok": False,
                                                                                  "error": "unavailable"}


# ------------------------------------------------------------------ stopping, and runs whose job ended without them

def test_a_queued_copy_is_stopped_and_the_next_one_may_start(bound: Any, settings: Any, client_for: Any) -> None:
    from govshare.core.models import Job

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # queued for a worker
    run = do_start_run(bound.org.police_specialist, bound.binding)
    outsider = client_for(bound.org.market_admin)
    assert outsider.post(f"/api/v1/exchange/runs/{run.pk}/stop").status_code == 404
    answer = client_for(bound.org.police_admin).post(f"/api/v1/exchange/runs/{run.pk}/stop")
    assert answer.status_code == 200 and answer.json()["status"] == "stopped"
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.CANCELLED
    assert (job.message_in("zh-hans").startswith("已由 "), job.message_in("en").startswith("Stopped by ")) == (True, True)
    assert AuditEvent.objects.filter(code=AuditCode.RUN_STOPPED, object_id=str(run.pk)).exists()
    again = client_for(bound.org.police_admin).post(f"/api/v1/exchange/runs/{run.pk}/stop")
    assert again.status_code == 409
    assert do_start_run(bound.org.police_specialist, bound.binding).status == ExchangeRun.Status.QUEUED


def test_a_run_whose_job_failed_for_good_is_ended_and_does_not_block_the_next(bound: Any, settings: Any) -> None:
    from govshare.core.models import Job

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    run = do_start_run(bound.org.police_specialist, bound.binding)
    # its workers died too often: core.jobs.recover_stale gave the job up (arranged here)
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.FAILED, message="worker lost 5 times")
    second = do_start_run(bound.org.police_specialist, bound.binding)
    run.refresh_from_db()
    assert run.status == ExchangeRun.Status.FAILED and "worker lost" in run.error_message["en"]
    assert second.status == ExchangeRun.Status.QUEUED


# ------------------------------------------------------------------ reconciliation

def test_reconciliation_at_the_console_and_through_the_api_names_what_differs(
        bound: Any, start: Any, capsys: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    start(bound.org.police_specialist, bound.binding)
    assert cli(["exchange", "reconcile", bound.entry.code]) == 0
    assert "equal" in capsys.readouterr().out
    rows = list(ROWS)
    rows[10] = (rows[10][0], "王五", rows[10][2])
    front_end(rows[:-1])  # one row gone at the source, one changed
    assert cli(["exchange", "reconcile", bound.entry.code]) == 1
    out = capsys.readouterr().out
    assert ROWS[-1][0] in out and ROWS[10][0] in out
    provider = client_for(bound.org.police_specialist)
    with django_capture_on_commit_callbacks(execute=True):  # a background job: it reads both tables whole
        queued = provider.generic("POST", f"/api/v1/exchange/bindings/{bound.binding.pk}/reconcile")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    body = provider.get(f"/api/v1/exchange/reconciliations/{queued.json()['id']}").json()
    assert body["status"] == "succeeded"
    assert body["equal"] is False and body["extra_in_centre"] == [ROWS[-1][0]] and body["different"] == [ROWS[10][0]]
    assert client_for(bound.org.market_admin).generic(
        "POST", f"/api/v1/exchange/bindings/{bound.binding.pk}/reconcile").status_code == 404
    assert client_for(bound.org.market_admin).get(
        f"/api/v1/exchange/reconciliations/{queued.json()['id']}").status_code == 404
    assert client_for(bound.org.auditor).get(
        f"/api/v1/exchange/reconciliations/{queued.json()['id']}").status_code == 200
    assert AuditEvent.objects.filter(code=AuditCode.RECONCILED, outcome="failure").count() == 2


def test_the_binding_page_reconciles_and_says_what_differs(bound: Any, start: Any,
                                                          django_capture_on_commit_callbacks: Any) -> None:
    start(bound.org.police_specialist, bound.binding)
    front_end(ROWS[:-1])
    client = login(Client(), bound.org.police_specialist)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/exchange/bindings/{bound.binding.pk}/reconcile/")
    assert answer.status_code == 302
    page = client.get(answer["Location"]).content.decode()
    assert 'data-equal="0"' in page and ROWS[-1][0] in page
    block = client.get(f"/exchange/bindings/{bound.binding.pk}/?part=reconciliation").content.decode()
    assert 'id="reconcile-block"' in block and "<html" not in block
    assert login(Client(), bound.org.market_admin).post(
        f"/exchange/bindings/{bound.binding.pk}/reconcile/").status_code == 404


def test_a_comparison_whose_source_file_is_gone_ends_failed_and_its_keys_are_the_providers(
        bound: Any, start: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review: a comparison whose source can no longer be read stayed "running" for ever; the differing keys
    (ID numbers) were shown to auditors."""
    from govshare.exchange.actions import do_reconcile

    start(bound.org.police_specialist, bound.binding)
    front_end(ROWS[:-1])
    with django_capture_on_commit_callbacks(execute=True):
        rec = do_reconcile(bound.org.police_specialist, bound.binding)
    url = f"/api/v1/exchange/reconciliations/{rec.pk}"
    assert client_for(bound.org.police_specialist).get(url).json()["extra_in_centre"] == [ROWS[-1][0]]
    seen = client_for(bound.org.auditor).get(url).json()
    assert seen["equal"] is False and seen["extra_in_centre"] == []
    from govshare.core import jobs

    queued = do_reconcile(bound.org.police_specialist, bound.binding)  # queued, then the source file disappears
    (Path(settings.GOVSHARE_SOURCE_DIR) / "ga.sqlite3").unlink()
    assert queued.job is not None
    jobs.execute(queued.job.pk, "test")
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.error_message["zh"] and queued.finished_at is not None


def test_a_binding_that_keeps_failing_the_same_way_tells_people_once(bound: Any, settings: Any, tmp_path: Path,
                                                                     start: Any) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings.GOVSHARE_DATASTORE_URL = f"sqlite:///{blocker / 'datastore.sqlite3'}"
    first = start(bound.org.police_specialist, bound.binding)
    second = start(bound.org.police_specialist, bound.binding)
    assert first.status == second.status == ExchangeRun.Status.FAILED
    assert Notification.objects.filter(kind="exchange.run_failed", recipient__username="police_admin").count() == 1
    assert AuditEvent.objects.filter(code=AuditCode.RUN_FAILED).count() == 2


# ------------------------------------------------------------------ a new version the centre's table cannot take

def _retyped_version(cat: Any) -> None:
    """A new version of the entry whose 出生日期 is text now (another type: the table cannot take it as it is),
    published, and the binding moved to it."""
    from govshare.catalog.actions import do_edit_entry
    from tests.catalog_helpers import content

    items = content()["items"]
    items[2] = {**items[2], "data_type": "C", "length": 10}
    do_edit_entry(cat.org.police_specialist, cat.entry, content(items=items), change_reason="出生日期改为文本")
    cat.entry = cat.publish(cat.entry)
    cat.binding = do_bind_table(cat.org.police_specialist, cat.entry, source=cat.source, schema="main",
                                table="rkxx", mapping={"公民身份号码": "gmsfhm", "姓名": "xm", "出生日期": "csrq"})


def test_a_version_the_centres_table_cannot_take_is_copied_after_a_rebuild_the_provider_confirms(
        bound: Any, start: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-1 (an entry's new version retyped an item): copies fail "shape_changed" and the binding's page says to
    rebuild; the provider confirms (refused unconfirmed), the table is made again in the new shape when the full
    copy starts and filled by it — sequence numbers after the old table's, the old receipts kept, both steps
    audited, the binding's generation counted (deliveries make their tables again by it); an outsider cannot."""
    first = start(bound.org.police_specialist, bound.binding)
    assert first.status == ExchangeRun.Status.SUCCEEDED
    _retyped_version(bound)
    failed = start(bound.org.police_specialist, bound.binding)
    assert failed.status == ExchangeRun.Status.FAILED and failed.error_code == "store_shape_changed"
    page = login(Client(), bound.org.police_specialist).get(f"/exchange/bindings/{bound.binding.pk}/").content.decode()
    assert 'id="shape-changed"' in page and 'id="rebuild-form"' in page
    assert 'id="rebuild-form"' not in login(Client(), bound.org.auditor).get(
        f"/exchange/bindings/{bound.binding.pk}/").content.decode()

    with pytest.raises(ValidationFailed) as caught:
        actions_rebuild(bound.org.police_specialist, bound.binding, confirm=False)
    assert caught.value.code == "confirm_rebuild"
    outsider = client_for(bound.org.market_admin)
    assert outsider.post(f"/api/v1/exchange/bindings/{bound.binding.pk}/rebuild", {"confirm": True},
                         content_type="application/json").status_code == 404
    refused = client_for(bound.org.auditor).post(f"/api/v1/exchange/bindings/{bound.binding.pk}/rebuild",
                                                 {"confirm": True}, content_type="application/json")
    assert refused.status_code in (403, 404)
    bound.binding.refresh_from_db()
    assert not bound.binding.rebuild_pending and not ExchangeRun.objects.filter(status="queued").exists()

    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(bound.org.police_specialist).post(
            f"/api/v1/exchange/bindings/{bound.binding.pk}/rebuild", {"confirm": True},
            content_type="application/json")
    assert answer.status_code == 201, answer.content
    run = ExchangeRun.objects.get(pk=answer.json()["id"])
    assert run.kind == ExchangeRun.Kind.FULL and run.status == ExchangeRun.Status.SUCCEEDED, run.error_message
    assert run.inserted == 120
    with open_store() as store:
        columns, _key = store.describe(run.target)
        assert [c.letter for c in columns] == ["C", "C", "C"]
        rows = store.changes_since(run.target, 0, 10_000)
        assert len(rows) == 120 and min(r[-2] for r in rows) == 121  # after the old table's 120
        assert store.receipts(run.target, first.run_id)  # the history of the first copy
    assert {r[2] for r in rows} >= {"1990-01-01"}  # the dates, now text
    bound.binding.refresh_from_db()
    assert (bound.binding.rebuild_pending, bound.binding.generation) == (False, 2) and bound.binding.rebuilt_at
    rebuilt = AuditEvent.objects.get(code=AuditCode.CENTRE_TABLE_REBUILT)
    assert rebuilt.detail["rows_dropped"] == 120 and rebuilt.detail["generation"] == 2
    assert AuditEvent.objects.filter(code=AuditCode.REBUILD_REQUESTED,
                                     actor_id=bound.org.police_specialist.pk).count() == 1
    body = client_for(bound.org.police_specialist).get(f"/api/v1/exchange/bindings/{bound.binding.pk}").json()
    assert body["generation"] == 2 and body["rebuild_pending"] is False
    again = start(bound.org.police_specialist, bound.binding)  # an ordinary copy again: nothing changed
    assert (again.status, again.inserted, again.unchanged) == (ExchangeRun.Status.SUCCEEDED, 0, 120)


def test_a_rebuild_waits_for_the_open_copy_and_a_failed_one_leaves_the_next_copy_full(
        bound: Any, start: Any, settings: Any) -> None:
    """EXC-1: no rebuild while a copy is queued; a rebuild whose copy fails (the source gone) leaves the table to be
    made again by the next copy — which is full whatever the mode asks, and an incremental one is refused."""
    from govshare.exchange.actions import do_set_binding_mode
    from govshare.exchange.actions.runs import choose_kind

    start(bound.org.police_specialist, bound.binding)
    queued = do_start_run(bound.org.police_specialist, bound.binding)  # its job is not run (no commit)
    with pytest.raises(Conflict):
        actions_rebuild(bound.org.police_specialist, bound.binding, confirm=True)
    ExchangeRun.objects.filter(pk=queued.pk).update(status=ExchangeRun.Status.STOPPED)
    do_set_binding_mode(bound.org.police_specialist, bound.binding, mode="watermark", update_column="csrq")
    bound.binding.refresh_from_db()
    TableBindingModel().objects.filter(pk=bound.binding.pk).update(rebuild_pending=True)
    bound.binding.refresh_from_db()
    assert choose_kind(bound.binding)[0] == ExchangeRun.Kind.FULL
    with pytest.raises(ValidationFailed) as caught:
        choose_kind(bound.binding, ExchangeRun.Kind.INCREMENTAL)
    assert caught.value.code == "rebuild_pending"
    from govshare.exchange import schedule

    assert schedule.is_due(bound.binding)  # a copy succeeded a moment ago, but the rebuild is still to be done
    # rebuilt (the table made again), then the copy failed: the last good watermark is from before the rebuild
    from django.utils import timezone

    TableBindingModel().objects.filter(pk=bound.binding.pk).update(rebuild_pending=False, generation=2,
                                                                   rebuilt_at=timezone.now())
    bound.binding.refresh_from_db()
    assert choose_kind(bound.binding)[0] == ExchangeRun.Kind.FULL
    # …and the binding is stale and due at once: no copy since the table was made again holds its rows
    from govshare.exchange import schedule

    assert schedule.last_success(bound.binding) is None and schedule.is_stale(bound.binding)
    assert schedule.is_due(bound.binding)
    listed = schedule.bindings_shown().get(pk=bound.binding.pk)
    assert listed.last_success_at is None


def test_a_delivered_tables_shape_changes_with_the_centre_tables_generation() -> None:
    """Issue 11 with EXC-1: a table delivered from a centre table made again is made again too; the shapes of
    tables delivered before any rebuild stay as they were."""
    from govshare.exchange.engine.deliver import TargetColumn, shape_of

    columns = [TargetColumn("姓名", "C", 50)]
    before = shape_of(columns, ["none"], ["姓名"], key=["姓名"])
    assert shape_of(columns, ["none"], ["姓名"], key=["姓名"], generation=1) == before
    assert shape_of(columns, ["none"], ["姓名"], key=["姓名"], generation=2) not in (before, shape_of(
        columns, ["none"], ["姓名"], key=["姓名"], generation=3))


def actions_rebuild(*args: Any, **kwargs: Any) -> Any:
    from govshare.exchange.actions import do_rebuild_centre_table

    return do_rebuild_centre_table(*args, **kwargs)


def TableBindingModel() -> Any:  # noqa: N802 — a model class
    from govshare.exchange.models import TableBinding

    return TableBinding


def test_the_page_and_the_console_rebuild_only_when_confirmed(bound: Any, start: Any, capsys: Any,
                                                              settings: Any) -> None:
    """EXC-1: the binding's page refuses a rebuild whose box is not ticked, saying why; the console asks for
    --yes, then rebuilds and copies (here, without a worker)."""
    start(bound.org.police_specialist, bound.binding)
    _retyped_version(bound)
    client = login(Client(), bound.org.police_specialist)
    page = client.post(f"/exchange/bindings/{bound.binding.pk}/rebuild/")
    assert page.status_code == 400 and 'id="rebuild-errors"' in page.content.decode()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # no worker: --here runs it
    assert cli(["exchange", "rebuild", bound.entry.code, "--here"]) != 0
    assert cli(["exchange", "rebuild", bound.entry.code, "--yes", "--here"]) == 0
    assert "succeeded" in capsys.readouterr().out
    with open_store() as store:
        assert [c.letter for c in store.describe(table_for(bound.entry))[0]] == ["C", "C", "C"]
