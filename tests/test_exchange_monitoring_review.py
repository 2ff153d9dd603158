"""A review of schedules, monitoring and usage records (EXC-1, EXC-6, SEC-4; issue 10 item 8, issue 11 item 9; 22nd
session).
Each test was a defect the review found (its docstring: what was expected, what happened, how bad), fixed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from govshare.core import jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, Job, Notification
from govshare.exchange import schedule
from govshare.exchange.models import DeliveryRun, ExchangeRun, TableBinding
from tests.conftest import API, login
from tests.test_data_api import PEOPLE, data  # noqa: F401 — fixture
from tests.test_data_downloads import _ask, _file, filed  # noqa: F401 — fixture
from tests.test_exchange_deliveries import _bind, _change, tabled  # noqa: F401 — fixture
from tests.test_exchange_schedule import bound  # noqa: F401 — fixture

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ failures that end outside the handler

def test_a_copy_whose_job_failed_for_good_is_told_to_the_provider_and_the_centre(
        bound: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """HIGH (lost alarm).  A copy whose worker is killed every time (out of memory on a big table: five attempts,
    then core.jobs gives up) is settled as FAILED by settle_orphaned_runs, audited — but no one is told: the
    failure notice goes out only from runs._finish/record_unstartable.  Each cycle repeats it silently.
    Expected: an exchange.run_failed notice; actual: none."""
    from govshare.exchange.actions import do_start_run
    from govshare.exchange.actions.runs import settle_orphaned_runs

    with django_capture_on_commit_callbacks(execute=False):
        run = do_start_run(bound.org.police_specialist, bound.binding)
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.FAILED, message="gave up after 5 attempts / 重试 5 次后放弃")
    with django_capture_on_commit_callbacks(execute=True):
        assert settle_orphaned_runs() == 1
    run.refresh_from_db()
    assert run.status == ExchangeRun.Status.FAILED
    assert Notification.objects.filter(kind="exchange.run_failed").exists(), "failed run, nobody notified"


def test_a_delivery_whose_job_failed_for_good_backs_off_is_audited_and_told(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """HIGH (noisy + lost alarm).  deliveries.settle_orphaned marks the run FAILED but writes no DELIVERY_FAILED,
    no notice, and leaves binding.stopped empty — so backing_off() never applies and the next minute's pass
    (start_behind) queues the same delivery again at once, for ever.
    Expected: no new run within 5 minutes, one DELIVERY_FAILED, one notice; actual: a new run at once, none."""
    from govshare.exchange.actions.deliveries import do_start_delivery
    from govshare.exchange.deliveries import start_behind

    capture = django_capture_on_commit_callbacks
    binding = _bind(tabled, capture)
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    with capture(execute=False):
        run = do_start_delivery(tabled.org.market_specialist, binding)
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.FAILED, message="gave up after 5 attempts")
    with capture(execute=True):  # the notice goes after commit (and no delivery is queued: it backs off)
        start_behind()
    run.refresh_from_db()
    assert run.status == DeliveryRun.Status.FAILED
    observed = {"runs_after_pass": DeliveryRun.objects.filter(binding=binding).count(),
                "delivery_failed_audited": AuditEvent.objects.filter(code=AuditCode.DELIVERY_FAILED).count(),
                "notices": Notification.objects.filter(kind="exchange.delivery_failed").count()}
    from govshare.exchange.runs import staff_of

    told = len(staff_of(binding.grant.consumer_id))  # each of the consumer's staff, once
    assert told and observed == {"runs_after_pass": 2, "delivery_failed_audited": 1, "notices": told}


# ------------------------------------------------------------------ schedule

def in_log_mode(bound: Any, kind: str, started: dt.datetime, finished: dt.datetime) -> TableBinding:  # noqa: F811
    """The binding in log mode, with one successful copy of ``kind`` between those times."""
    TableBinding.objects.filter(pk=bound.binding.pk).update(mode=TableBinding.Mode.LOG, slot_name="gs_slot")
    binding = TableBinding.objects.get(pk=bound.binding.pk)
    ExchangeRun.objects.create(binding=binding, kind=kind, target="t", status="succeeded", started_at=started,
                               finished_at=finished, watermark={"slot": "gs_slot", "position": None})
    return binding


def test_refused_deletions_of_a_log_mode_binding_wait_a_whole_cycle_not_a_minute(bound: Any) -> None:  # noqa: F811
    """MEDIUM (stuck/noisy).  is_due() looks for a refusal within ``interval``, which for a log-mode binding is
    LOG_INTERVAL (1 minute), not the entry's cycle.  After a person refuses a TRUNCATE the slot is read again a
    minute later, the same deletions are held again and everyone is notified again: refusing does nothing.
    Expected: not due 2 minutes after the refusal (daily entry); actual: due."""
    now = timezone.now()
    binding = in_log_mode(bound, "full", now - dt.timedelta(hours=3), now - dt.timedelta(hours=2))
    ExchangeRun.objects.create(binding=binding, kind="log", target="t", status="stopped", started_at=now,
                               finished_at=now, error_code="deletes_refused")
    assert schedule.is_due(binding, now + dt.timedelta(minutes=2)) is False


def test_a_daily_copy_does_not_slide_later_by_its_own_duration_every_day(bound: Any) -> None:  # noqa: F811
    """LOW.  Due-ness is measured from the last success's *end*: a daily copy that starts at 02:00 and takes two
    hours is next due at 04:00, then 06:00 … drifting into office hours (and a calendar day is skipped now and
    then).  Expected: due again 24 h after the last copy *started*; actual: only 24 h after it ended."""
    started = timezone.now() - dt.timedelta(days=1, minutes=1)
    ExchangeRun.objects.create(binding=bound.binding, kind="full", target="t", status="succeeded",
                               started_at=started, finished_at=started + dt.timedelta(hours=2))
    assert schedule.is_due(bound.binding) is True


# ------------------------------------------------------------------ monitor: rows/s and ETA

def test_the_rate_of_a_held_copy_does_not_decay_while_it_waits_for_a_person(bound: Any) -> None:  # noqa: F811
    """MEDIUM (wrong figure shown as fact).  run_out() divides rows_read by (finished_at or now) − started_at, so a
    copy held by the mass-delete guard "slows down" every second it waits (60 000 rows in a minute shows 1 000
    rows/s, a day later 0.7 rows/s); a confirmed run keeps the wait in its final rate, a resumed run the time its
    worker was down.  Expected: the rate of the reading (unchanged while held); actual: it decays."""
    from govshare.exchange.api import run_out

    now = timezone.now()
    job = Job.objects.create(kind="exchange.run", title="held copy", status=Job.Status.SUCCEEDED,
                             started_at=now - dt.timedelta(minutes=1), finished_at=now)  # the hold ends its job
    run = ExchangeRun.objects.create(binding=bound.binding, kind="full", target="t", status="held", job=job,
                                     started_at=now - dt.timedelta(minutes=1), rows_read=60_000,
                                     rows_expected=60_000, pending_deletes=500, live_rows=1000)
    run = ExchangeRun.objects.select_related("binding__entry", "binding__version", "job").get(pk=run.pk)
    with time_machine.travel(now, tick=False):
        at_hold = run_out(run)["rows_per_second"]
    with time_machine.travel(now + dt.timedelta(days=1), tick=False):
        a_day_later = run_out(run)["rows_per_second"]
    assert at_hold == pytest.approx(1000, rel=0.01)
    assert a_day_later == at_hold, f"held run's rate decays: {at_hold} → {a_day_later} rows/s"


# ------------------------------------------------------------------ deliveries: pause / resume

def paused_delivery(tabled: Any, capture: Any) -> tuple[Any, DeliveryRun]:  # noqa: F811
    """A delivery with a change to deliver, started, and paused by a colleague before its worker ran it (which it
    then did: it saw the pause and stopped)."""
    from govshare.exchange.actions.deliveries import do_set_delivery_active, do_start_delivery

    binding = _bind(tabled, capture)
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    with capture(execute=False):
        run = do_start_delivery(tabled.org.market_specialist, binding)
    do_set_delivery_active(tabled.org.market_admin, binding, False)
    with capture(execute=True):
        jobs.execute(run.job_id, "test-worker")
    return binding, run


def test_pausing_a_delivery_is_not_reported_as_a_failure_and_resuming_starts_it_at_once(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """MEDIUM.  A colleague pauses a queued/running delivery: the run stops with delivery_stopped, which finish()
    audits as DELIVERY_FAILED and _tell() sends to every consumer staff member as "Delivery … stopped"; then
    binding.stopped is set, so resuming (do_set_delivery_active True → start_for_entries) is swallowed by
    backing_off() for 5 minutes — the person presses Resume and nothing happens.
    Expected: no failure notice, a new run at resume; actual: a notice, no run."""
    from govshare.exchange.actions.deliveries import do_set_delivery_active

    capture = django_capture_on_commit_callbacks
    binding, run = paused_delivery(tabled, capture)
    run.refresh_from_db()
    assert run.status == DeliveryRun.Status.STOPPED, run.error_message
    notices = Notification.objects.filter(kind="exchange.delivery_failed").count()
    with capture(execute=True):
        do_set_delivery_active(tabled.org.market_admin, binding, True)
    runs = DeliveryRun.objects.filter(binding=binding).count()
    assert {"failure_notices": notices, "runs": runs} == {"failure_notices": 0, "runs": 3}


# ------------------------------------------------------------------ usage records

def test_a_downloads_usage_record_names_its_filter(filed: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """MEDIUM (SEC-4 "who, entry, grant, purpose, filter, row count").  The DATA_DOWNLOADED row written at the fetch
    has the grant, purpose, sha256 and rows but not the filters and items the download was made with, so the
    usage view (API and grant page) shows "—" for a filtered download.  Expected: detail.query.filters names
    出生日期 ≥ 1980-01-01; actual: no query in the detail."""
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks, format="jsonl",
                 filters={"出生日期__gte": "1980-01-01"}).json()
    assert _file(client, asked["id"]).status_code == 200
    usage = client.get(f"{API}/data/grants/{filed.grant.pk}/usage").json()
    row = usage["items"][0]
    assert row["kind"] == "download" and row["rows"] == 2
    filters = (row["detail"].get("query") or {}).get("filters")
    assert filters and filters[0][0] == "出生日期", f"download usage row without its filter: {row['detail']}"


def test_a_recovered_delivery_batch_counts_its_rows_in_the_usage_totals(
        tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:  # noqa: F811
    """LOW/MEDIUM (counts disagree).  When the access-log row of a batch was lost, record_gap() writes one row
    with results=None; the usage totals then say 1 delivery batch, 0 rows, while the run and the front-end table
    hold 5.  Expected: deliver rows 5; actual: 0."""
    from govshare.datastore.usage import usage_totals
    from govshare.exchange import deliveries
    from govshare.exchange.actions.deliveries import do_start_delivery

    def lost(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the worker died here")

    capture = django_capture_on_commit_callbacks
    monkeypatch.setattr(deliveries, "record_batch", lost)
    binding = _bind(tabled, capture)
    monkeypatch.undo()
    DeliveryRun.objects.filter(binding=binding).update(status="failed")
    with capture(execute=True):
        do_start_delivery(tabled.org.market_specialist, binding)
    assert usage_totals(tabled.grant)["deliver"] == {"calls": 1, "rows": 5}


def test_the_grant_pages_usage_totals_count_file_fetches(data: Any, rf: Any) -> None:  # noqa: F811
    """LOW (page and API disagree).  usage_totals() has a "file" kind (FILE_FETCHED) and the API reports it, but
    the panel's summary line names queries, verifications, downloads and deliveries only: a documents grant whose
    files were fetched reads "0 queries · 0 verifications · 0 downloads".  Expected: the fetch counted on the
    page; actual: absent."""
    from govshare.core import access_log
    from govshare.datastore.panels import usage_panel

    access_log.record(AuditCode.FILE_FETCHED, data.entry, actor=data.org.market_specialist, results=1,
                      grant=data.grant.number, file="规划.pdf", version=1)
    request = rf.get("/")
    request.user = data.org.market_specialist
    html = usage_panel(request, data.grant)
    totals = html.split("data-usage-totals>")[1].split("</p>")[0]
    assert "1" in totals, f"file fetch not in the totals line: {totals!r}"


def test_exchange_status_of_an_unknown_entry_says_so(bound: Any, capsys: Any) -> None:  # noqa: F811
    """LOW.  ``govshare exchange status NOPE`` prints "no copies yet" and exits 0 — the same as a bound entry
    never copied; a typo looks like a healthy idle binding.  Expected: exit 2 naming the unknown entry."""
    from govshare.exchange.commands import _status

    class Args:
        entry = "999999/NOPE"
        json = False

    code = _status(Args())
    out = capsys.readouterr()
    assert code == 2, (code, out.out)


def test_a_copy_queued_before_its_binding_was_paused_does_not_run(
        bound: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """MEDIUM.  run_copy() never looks at binding.is_active: a copy the schedule queued (a worker down, a long
    queue) still reads the source after a specialist paused the binding — e.g. paused because the source is
    being repaired.  Deliveries check "paused" before every batch; copies do not.
    Expected: the queued run ends stopped without reading; actual: it succeeds."""
    from govshare.exchange.actions import do_set_binding_active, do_start_run

    with django_capture_on_commit_callbacks(execute=False):
        run = do_start_run(bound.org.police_specialist, bound.binding)
    do_set_binding_active(bound.org.police_specialist, bound.binding, False)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.execute(run.job_id, "test-worker")
    run.refresh_from_db()
    assert (run.status, run.rows_read) == (ExchangeRun.Status.STOPPED, 0)


def test_a_copy_a_person_stopped_is_not_started_again_by_the_schedule_a_minute_later(
        bound: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """MEDIUM.  A specialist stops a scheduled copy (it loads the source at office hours): the run ends STOPPED,
    which is_due() counts neither as a success nor as a failure, so the next exchange.schedule pass (60 s) queues
    the same copy again.  Stop is undone by the machine; only pausing the binding holds.
    Expected: not due a minute after the stop; actual: due."""
    from govshare.exchange.actions import do_start_run
    from govshare.exchange.actions.runs import do_stop_run

    with django_capture_on_commit_callbacks(execute=False):
        run = do_start_run(bound.org.police_specialist, bound.binding)
    do_stop_run(bound.org.police_specialist, run)
    run.refresh_from_db()
    assert run.status == ExchangeRun.Status.STOPPED
    assert schedule.due_bindings(timezone.now() + dt.timedelta(minutes=1)) == []


def test_a_copys_job_message_is_in_the_readers_language(
        bound: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """LOW (mixed languages).  run_copy's progress message is a plain f-string ("batch 1 (rows)") and stays the
    job's message after it ends: the job monitor and /jobs show English on a Chinese page (deliveries: "5 rows").
    Expected: Chinese under zh-hans; actual: "batch 1 (rows)"."""
    from django.utils import translation

    from govshare.exchange.actions import do_start_run

    with django_capture_on_commit_callbacks(execute=True):
        run = do_start_run(bound.org.police_specialist, bound.binding)
    run.refresh_from_db()
    assert run.status == ExchangeRun.Status.SUCCEEDED
    job = Job.objects.get(pk=run.job_id)
    with translation.override("zh-hans"):
        shown = job.shown_message
    assert "batch" not in shown, shown
