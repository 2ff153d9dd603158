"""Copy modes and deletions as users meet them (issue 10 item 5; EXC-1 "存量数据一次性拷贝 + 增量数据动态更新"): a
provider switches a binding to copies by an update-time column; the first copy is full, the next ones read
the changed rows; deleted rows are found (full copies, and the scheduled key check of incremental ones) and
tombstoned — unless they are more than the binding's mass-delete guard allows: then the run is held, the
provider's staff and the centre are told, and a person confirms or refuses, on the page, the API or the
console.  The engines' own tests: tests/test_exchange_incremental.py."""

from __future__ import annotations

import datetime as dt
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
from govshare.exchange import schedule
from govshare.exchange.actions import (
    do_refuse_deletes,
    do_set_binding_mode,
    do_start_run,
)
from govshare.exchange.models import ExchangeRun, TableBinding
from tests.conftest import login
from tests.test_exchange_runs import ROWS, bound, centre_rows, front_end, start  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db

T0 = "2024-05-01 08:00:00"


def stamp(rows_changed: dict[int, tuple[str, str]] | None = None, *, delete: range | None = None) -> None:
    """Give the front-end table an update-time column (gxsj), then change rows (index → (name, time)) and
    delete some, as the department's own systems would."""
    with sqlite3.connect(Path(settings.GOVSHARE_SOURCE_DIR) / "ga.sqlite3") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(rkxx)")]
        if "gxsj" not in columns:
            db.execute("ALTER TABLE rkxx ADD COLUMN gxsj VARCHAR(19)")
            db.execute("UPDATE rkxx SET gxsj = ?", (T0,))
        for index, (name, at) in (rows_changed or {}).items():
            db.execute("UPDATE rkxx SET xm = ?, gxsj = ? WHERE gmsfhm = ?", (name, at, ROWS[index][0]))
        for index in delete or ():
            db.execute("DELETE FROM rkxx WHERE gmsfhm = ?", (ROWS[index][0],))
    db.close()


@pytest.fixture
def incremental(bound: Any) -> Any:  # noqa: F811
    stamp()
    bound.binding = do_set_binding_mode(bound.org.police_specialist, bound.binding, mode="watermark",
                                        update_column="gxsj", overlap_seconds=0, sweep_hours=24)
    return bound


# ------------------------------------------------------------------ the mode

def test_the_provider_sets_the_update_time_column_and_a_missing_column_is_named(bound: Any) -> None:  # noqa: F811
    stamp()
    with pytest.raises(ValidationFailed) as caught:
        do_set_binding_mode(bound.org.police_specialist, bound.binding, mode="watermark", update_column="xgsj")
    assert caught.value.field == "update_column" and "xgsj" in caught.value.render("en")
    with pytest.raises(ValidationFailed) as caught:
        do_set_binding_mode(bound.org.police_specialist, bound.binding, mode="watermark", update_column="")
    assert caught.value.code == "required"
    with pytest.raises(ValidationFailed) as caught:
        do_set_binding_mode(bound.org.police_specialist, bound.binding, mode="full", delete_guard_percent=0)
    assert caught.value.field == "delete_guard_percent"
    binding = do_set_binding_mode(bound.org.police_admin, bound.binding, mode="watermark", update_column="gxsj",
                                  overlap_seconds=120, delete_guard_percent=25)
    assert (binding.mode, binding.update_column, binding.overlap_seconds, binding.delete_guard_percent) == (
        "watermark", "gxsj", 120, 25)
    changed = AuditEvent.objects.filter(code=AuditCode.BINDING_CHANGED).latest("pk")
    assert changed.changes["update_column"] == ["", "gxsj"] and changed.actor_id == bound.org.police_admin.pk


def test_only_the_providers_staff_change_the_mode_through_the_api(bound: Any, client_for: Any) -> None:  # noqa: F811
    stamp()
    url = f"/api/v1/exchange/bindings/{bound.binding.pk}/mode"
    body = {"mode": "watermark", "update_column": "gxsj"}
    assert client_for(bound.org.market_admin).post(url, body, content_type="application/json").status_code == 404
    assert client_for(bound.org.auditor).post(url, body, content_type="application/json").status_code in (403, 404)
    answer = client_for(bound.org.police_specialist).post(url, body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["update_column"] == "gxsj"
    wrong = client_for(bound.org.police_specialist).post(url, {"mode": "watermark", "update_column": "nope"},
                                                         content_type="application/json")
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "update_column"


# ------------------------------------------------------------------ full, then incremental

def test_the_first_copy_is_full_and_the_next_reads_only_the_changed_rows(incremental: Any, start: Any) -> None:
    first = start(incremental.org.police_specialist, incremental.binding)
    assert (first.kind, first.status, first.inserted, first.checks_deletes) == ("full", "succeeded", 120, True)
    assert first.watermark == {"column": "gxsj", "value": [["str", T0]],
                               "table": f"{incremental.source.pk}:main.rkxx"}
    stamp({3: ("改名三", "2024-05-02 09:00:00"), 4: ("改名四", "2024-05-02 09:00:00")})
    second = start(incremental.org.police_specialist, incremental.binding)
    assert (second.kind, second.status, second.since) == ("incremental", "succeeded", first.watermark)
    # the rows at the watermark's very time are read again (unchanged, not rewritten): none is ever skipped
    assert (second.rows_read, second.updated, second.inserted, second.unchanged) == (120, 2, 0, 118)
    assert not second.checks_deletes  # the key check ran with the full copy less than 24 hours ago
    assert second.watermark["value"] == [["str", "2024-05-02 09:00:00"]]
    names = {row[0]: row[1] for row in centre_rows(incremental.entry)}
    assert names[ROWS[3][0]] == "改名三"
    full = do_start_run(incremental.org.police_specialist, incremental.binding, kind="full")
    assert full.kind == "full"


def test_an_incremental_copy_checks_for_deleted_rows_when_its_key_check_is_due(incremental: Any, start: Any) -> None:
    start(incremental.org.police_specialist, incremental.binding)
    ExchangeRun.objects.update(finished_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))  # the last check: long ago
    stamp(delete=range(10, 15))
    run = start(incremental.org.police_specialist, incremental.binding)
    assert (run.kind, run.checks_deletes, run.keys_read, run.deleted, run.status) == (
        "incremental", True, 115, 5, "succeeded")
    live = [row for row in centre_rows(incremental.entry) if not row[-1]]
    assert len(live) == 115


# ------------------------------------------------------------------ the mass-delete guard

def test_a_copy_that_would_delete_more_than_the_guard_allows_is_held_and_the_provider_is_told(
        incremental: Any, start: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    start(incremental.org.police_specialist, incremental.binding)
    stamp(delete=range(0, 60))  # a half-read source looks like this
    held = do_start_run(incremental.org.police_specialist, incremental.binding, kind="full")
    from govshare.core import jobs

    with django_capture_on_commit_callbacks(execute=True):
        assert held.job is not None
        jobs.execute(held.job.pk, "test")
    held.refresh_from_db()
    assert (held.status, held.pending_deletes, held.live_rows, held.deleted) == ("held", 60, 120, 0)
    assert len([row for row in centre_rows(incremental.entry) if not row[-1]]) == 120  # nothing deleted
    told = set(Notification.objects.filter(kind="exchange.deletes_held").values_list("recipient__username", flat=True))
    assert {"police_specialist", "police_admin", "admin"} <= told and "market_admin" not in told
    assert AuditEvent.objects.get(code=AuditCode.DELETES_HELD).detail["pending"] == 60
    with pytest.raises(Conflict) as caught:  # nothing else starts meanwhile, by hand or by the schedule
        do_start_run(incremental.org.police_specialist, incremental.binding)
    assert caught.value.code == "run_held"
    assert incremental.binding not in schedule.due_bindings()
    # who may decide: the provider's staff; the auditor and another department may not
    url = f"/api/v1/exchange/runs/{held.pk}/confirm-deletes"
    assert client_for(incremental.org.market_admin).generic("POST", url).status_code == 404
    assert client_for(incremental.org.auditor).generic("POST", url).status_code in (403, 404)
    too_few = client_for(incremental.org.police_admin).post(url, {"pending": 59}, content_type="application/json")
    assert too_few.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        run = ExchangeRun.objects.get(pk=held.pk)
        assert run.job is not None
        jobs.execute(run.job.pk, "test")
    run.refresh_from_db()
    assert (run.status, run.pending_deletes) == ("held", 60)  # more were missing than the person confirmed
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(incremental.org.police_admin).post(url, {"pending": 60}, content_type="application/json")
        assert answer.status_code == 200
        run.refresh_from_db()
        assert run.job is not None
        jobs.execute(run.job.pk, "test")
    run.refresh_from_db()
    assert (run.status, run.deleted, run.confirmed_deletes, run.confirmed_by) == (
        "succeeded", 60, 60, incremental.org.police_admin)
    assert len([row for row in centre_rows(incremental.entry) if not row[-1]]) == 60
    codes = list(AuditEvent.objects.filter(object_id=str(run.pk), object_type="exchange.exchangerun",
                                           code__gte=4000).order_by("pk").values_list("code", flat=True))
    assert codes == [AuditCode.RUN_STARTED, AuditCode.DELETES_HELD, AuditCode.DELETES_CONFIRMED,
                     AuditCode.DELETES_HELD, AuditCode.DELETES_CONFIRMED, AuditCode.RUN_FINISHED]


def test_refused_deletions_end_the_run_and_the_next_copy_waits_a_whole_cycle(incremental: Any, start: Any,
                                                                              capsys: Any) -> None:
    start(incremental.org.police_specialist, incremental.binding)
    stamp(delete=range(0, 60))
    assert cli(["exchange", "run", incremental.entry.code, "--kind", "full", "--here"]) == 1
    held = ExchangeRun.objects.get(status="held")
    assert f"confirm-deletes {held.pk}" in capsys.readouterr().err
    with pytest.raises(Exception) as caught:  # another department: as if the run did not exist
        do_refuse_deletes(incremental.org.market_admin, held)
    assert getattr(caught.value, "status", None) in (403, 404)
    run = do_refuse_deletes(incremental.org.police_specialist, held)
    assert (run.status, run.error_code, run.deleted) == ("stopped", "deletes_refused", 0)
    assert "60" in run.error_message["zh"] and AuditEvent.objects.filter(code=AuditCode.DELETES_REFUSED).exists()
    assert len([row for row in centre_rows(incremental.entry) if not row[-1]]) == 120
    assert not schedule.is_due(TableBinding.objects.get(pk=incremental.binding.pk))
    with pytest.raises(Conflict) as caught:
        do_refuse_deletes(incremental.org.police_specialist, run)
    assert caught.value.code == "run_not_held"


def test_the_console_confirms_held_deletions(incremental: Any, start: Any, capsys: Any) -> None:
    start(incremental.org.police_specialist, incremental.binding)
    stamp(delete=range(0, 30))
    assert cli(["exchange", "run", incremental.entry.code, "--kind", "full", "--here"]) == 1
    held = ExchangeRun.objects.get(status="held")
    assert cli(["exchange", "confirm-deletes", str(held.pk), "--pending", "30", "--here"]) == 0
    assert "30" in capsys.readouterr().out
    held.refresh_from_db()
    assert (held.status, held.deleted, held.confirmed_by) == ("succeeded", 30, None)
    assert cli(["exchange", "bindings"]) == 0
    assert "watermark(gxsj)" in capsys.readouterr().out


# ------------------------------------------------------------------ the pages

def test_the_binding_page_sets_the_mode_and_names_a_wrong_column(bound: Any) -> None:  # noqa: F811
    stamp()
    client = login(Client(), bound.org.police_specialist)
    page = client.get(f"/exchange/bindings/{bound.binding.pk}/").content.decode()
    assert 'id="mode-form"' in page and 'data-mode="full"' in page
    wrong = client.post(f"/exchange/bindings/{bound.binding.pk}/mode/", {
        "mode": "watermark", "update_column": "xgsj", "overlap_seconds": "300", "sweep_hours": "24",
        "delete_guard_percent": "10"})
    assert wrong.status_code == 400 and "xgsj" in wrong.content.decode()
    right = client.post(f"/exchange/bindings/{bound.binding.pk}/mode/", {
        "mode": "watermark", "update_column": "gxsj", "overlap_seconds": "300", "sweep_hours": "0",
        "delete_guard_percent": "20"})
    assert right.status_code == 302
    page = client.get(f"/exchange/bindings/{bound.binding.pk}/").content.decode()
    assert 'data-mode="watermark"' in page and 'id="id_kind"' in page
    auditor = login(Client(), bound.org.auditor).get(f"/exchange/bindings/{bound.binding.pk}/").content.decode()
    assert 'id="mode-form"' not in auditor


def test_the_run_page_of_a_held_copy_lets_the_provider_decide_and_nobody_else(incremental: Any, start: Any,
                                                                             capsys: Any) -> None:
    """EXC-1 (the mass-delete guard): the provider sees what a held copy would delete and decides; the auditor sees
    the count only."""
    start(incremental.org.police_specialist, incremental.binding)
    stamp(delete=range(0, 60))
    cli(["exchange", "run", incremental.entry.code, "--kind", "full", "--here"])
    held = ExchangeRun.objects.get(status="held")
    provider = login(Client(), incremental.org.police_specialist)
    page = provider.get(f"/exchange/runs/{held.pk}/").content.decode()
    assert 'id="run-held"' in page and 'id="held-actions"' in page and 'data-pending="60"' in page
    # what the provider is asked to confirm: the keys of the first 20 rows it would delete
    sample = page[page.index('id="held-sample"'):page.index('id="held-actions"')]
    shown = [row[0] for row in ROWS[:60] if row[0] in sample]
    assert len(shown) == 20 and "20" in sample and "60" in sample
    binding_page = provider.get(f"/exchange/bindings/{incremental.binding.pk}/").content.decode()
    assert 'id="held-banner"' in binding_page
    auditor_page = login(Client(), incremental.org.auditor).get(f"/exchange/runs/{held.pk}/").content.decode()
    assert 'id="run-held"' in auditor_page and 'id="held-actions"' not in auditor_page
    assert 'id="held-sample"' not in auditor_page and ROWS[0][0] not in auditor_page
    refused = provider.post(f"/exchange/runs/{held.pk}/refuse-deletes/")
    assert refused.status_code == 302
    assert ExchangeRun.objects.get(pk=held.pk).status == "stopped"


# ------------------------------------------------------------------ compare mode

def test_compare_mode_reads_only_the_changed_buckets_and_catches_deletes_behind_the_guard(
        bound: Any, start: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """A table without a usable update time: the source hashes its rows per key bucket and only the buckets whose
    hashes changed are read; rows gone from them are tombstoned — unless too many, then held like any copy."""
    from govshare.core import jobs

    binding = do_set_binding_mode(bound.org.police_specialist, bound.binding, mode="compare")
    first = start(bound.org.police_specialist, binding)
    assert (first.kind, first.status, first.inserted, first.rows_read) == ("compare", "succeeded", 120, 120)
    unchanged = start(bound.org.police_specialist, binding)
    assert (unchanged.status, unchanged.rows_read, unchanged.updated) == ("succeeded", 0, 0)
    rows = list(ROWS)
    rows[7] = (rows[7][0], "改名七", rows[7][2])
    front_end(rows[:-1])  # one changed, one deleted
    changed = start(bound.org.police_specialist, binding)
    assert (changed.status, changed.updated, changed.deleted) == ("succeeded", 1, 1)
    assert 0 < changed.rows_read < 60  # only the rows of the changed buckets travelled
    front_end(rows[:40])  # a half-read source: 79 of 119 rows missing
    held = start(bound.org.police_specialist, binding)
    assert (held.status, held.pending_deletes, held.deleted) == ("held", 79, 0)
    from govshare.exchange.actions import do_confirm_deletes

    with django_capture_on_commit_callbacks(execute=True):
        run = do_confirm_deletes(bound.org.police_admin, held)
        assert run.job is not None
        jobs.execute(run.job.pk, "test")
    run.refresh_from_db()
    assert (run.status, run.deleted) == ("succeeded", 79)
    assert len([row for row in centre_rows(bound.entry) if not row[-1]]) == 40


# ------------------------------------------------------------------ review fixes

def test_a_binding_moved_to_another_table_starts_with_a_full_copy(incremental: Any, start: Any) -> None:
    """A watermark belongs to the table it was read from: re-bound to another table with the same column, the
    next copy is a full one (it used to read from the old table's watermark and miss every row)."""
    start(incremental.org.police_specialist, incremental.binding)
    with sqlite3.connect(Path(settings.GOVSHARE_SOURCE_DIR) / "ga.sqlite3") as db:
        db.execute("CREATE TABLE rkxx2 AS SELECT * FROM rkxx")
    db.close()
    from govshare.exchange.actions import do_bind_table

    binding = do_bind_table(incremental.org.police_specialist, incremental.entry, source=incremental.source,
                            schema="main", table="rkxx2", mapping={"公民身份号码": "gmsfhm", "姓名": "xm",
                                                                   "出生日期": "csrq"}, key_columns=["gmsfhm"])
    assert binding.mode == "watermark"
    assert start(incremental.org.police_specialist, binding).kind == "full"


def test_the_mode_cannot_change_while_a_copy_waits_for_confirmation(incremental: Any, start: Any) -> None:
    start(incremental.org.police_specialist, incremental.binding)
    stamp(delete=range(0, 60))
    cli(["exchange", "run", incremental.entry.code, "--kind", "full", "--here"])
    with pytest.raises(Conflict) as caught:
        do_set_binding_mode(incremental.org.police_specialist, incremental.binding, mode="full")
    assert caught.value.code == "run_open"
