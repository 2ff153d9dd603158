"""Second review of schedules, monitoring and usage records (22nd session; EXC-1 and EXC-6 deliveries and copies,
SEC-4 records): each test was a defect it found in the first review's fixes, fixed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from govshare.core import jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, Job, Notification
from govshare.exchange import schedule
from govshare.exchange.models import DeliveryBinding, DeliveryRun, ExchangeRun, TableBinding
from tests.test_data_api import PEOPLE, data  # noqa: F401 — fixture
from tests.test_exchange_deliveries import _bind, _change, tabled  # noqa: F401 — fixture
from tests.test_exchange_schedule import bound  # noqa: F401 — fixture

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ deliveries: a pause is no failure … half-way

def test_after_a_pause_the_next_real_stop_of_a_delivery_is_told(
        tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:  # noqa: F811
    """MEDIUM (lost alarm).  finish() no longer tells a paused run (STOPPED, error_code delivery_stopped), but
    _tell()'s "same incident" dedupe still compares with the previous finished run's error_code, whatever its status
    and whether it was told.  After a pause, the next run that really stops with delivery_stopped (grant revoked or
    expired mid-delivery, masks changed, the front-end database deactivated: every still_allowed() reason has that
    code) is audited DELIVERY_FAILED but sent to nobody.
    Expected: the consumer's staff told of the stop after the resume; actual: no notice."""
    from govshare.exchange import deliveries
    from govshare.exchange.actions.deliveries import do_set_delivery_active
    from tests.test_exchange_monitoring_review import paused_delivery

    capture = django_capture_on_commit_callbacks
    binding, run = paused_delivery(tabled, capture)  # stopped by the pause: silent (as the fix wants)
    assert Notification.objects.filter(kind="exchange.delivery_failed").count() == 0
    # the grant is revoked while the resumed delivery runs: still_allowed() says why, before its first batch
    monkeypatch.setattr(deliveries, "still_allowed", lambda *_a, **_k: "grant revoked / 授权已撤销")
    with capture(execute=True):
        do_set_delivery_active(tabled.org.market_admin, binding, True)  # at once: queued and run
    last = DeliveryRun.objects.filter(binding=binding).order_by("-pk").first()
    assert last is not None and last.pk != run.pk and last.status == DeliveryRun.Status.STOPPED
    assert AuditEvent.objects.filter(code=AuditCode.DELIVERY_FAILED).count() == 1  # audited as a failure …
    assert Notification.objects.filter(kind="exchange.delivery_failed").exists(), "… and told to nobody"


def test_a_pause_undone_while_the_worker_stopped_is_no_failure_and_the_delivery_goes_on(
        tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:  # noqa: F811
    """LOW/MEDIUM (false alarm, resume swallowed).  finish() decides "paused" from binding.is_active *when the run
    ends*.  A person pauses and resumes (an accidental click, undone) while a batch is in hand: still_allowed() saw the
    pause, the run stops with delivery_stopped, but at finish the binding is active again → DELIVERY_FAILED audited, a
    failure notice to every consumer staff member, binding.stopped set.  The resume's start_for_entries(at_once)
    found the run still open and queued nothing; the next periodic pass backs off 5 minutes.
    Expected: no failure, the delivery goes on at once; actual: failure audited, stopped set, nothing queued."""
    from govshare.exchange import deliveries
    from govshare.exchange.actions.deliveries import do_start_delivery, start_for_entries

    capture = django_capture_on_commit_callbacks
    binding = _bind(tabled, capture)
    _change(tabled.entry, [["360783201001010018", "孙七", None]], "r2")
    with capture(execute=False):
        run = do_start_delivery(tabled.org.market_specialist, binding)
    original = deliveries.still_allowed

    def paused_then_resumed(prepared: Any, store: Any = None) -> str | None:
        if DeliveryBinding.objects.filter(pk=binding.pk, is_active=True).exists() and not hasattr(run, "_done"):
            run._done = True  # type: ignore[attr-defined]
            DeliveryBinding.objects.filter(pk=binding.pk).update(is_active=False)  # Pause …
            why = original(prepared, store)  # … seen by the worker
            DeliveryBinding.objects.filter(pk=binding.pk).update(is_active=True)  # … Resume, a second later
            start_for_entries(None, bindings=[binding.pk], at_once=True)  # do_set_delivery_active's on_commit
            return why
        return original(prepared, store)

    monkeypatch.setattr(deliveries, "still_allowed", paused_then_resumed)
    with capture(execute=False):
        jobs.execute(run.job_id, "test-worker")
    run.refresh_from_db()
    binding.refresh_from_db()
    assert run.status == DeliveryRun.Status.STOPPED
    with capture(execute=False):
        deliveries.start_behind()  # the next minute's pass
    observed = {"delivery_failed": AuditEvent.objects.filter(code=AuditCode.DELIVERY_FAILED).count(),
                "stopped_set": binding.stopped is not None,
                "runs_after": DeliveryRun.objects.filter(binding=binding).exclude(pk=run.pk).count()}
    assert observed == {"delivery_failed": 0, "stopped_set": False, "runs_after": 2}, observed


def test_back_off_after_one_real_failure_does_not_count_earlier_pauses(
        tabled: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    """LOW.  "A pause is no failure to back off from" — yet backing_off() counts every STOPPED run in the streak,
    the silent pauses (and cancellations) included.  Three pauses during deliveries, then one real failure: the
    binding waits 40 minutes (5·2³), not 5.  Expected: not backing off 6 minutes after the only failure;
    actual: backing off."""
    from govshare.exchange.actions.deliveries import backing_off

    binding = _bind(tabled, django_capture_on_commit_callbacks)
    now = timezone.now()
    for minutes in (60, 50, 40):  # three pauses while a delivery ran (finish: no failure, stopped cleared)
        DeliveryRun.objects.create(binding=binding, kind="deliver", status="stopped", error_code="delivery_paused",
                                   started_at=now - dt.timedelta(minutes=minutes + 1),
                                   finished_at=now - dt.timedelta(minutes=minutes))
    DeliveryRun.objects.create(binding=binding, kind="deliver", status="failed", error_code="delivery_unreachable",
                               started_at=now - dt.timedelta(minutes=7), finished_at=now - dt.timedelta(minutes=6))
    DeliveryBinding.objects.filter(pk=binding.pk).update(stopped={"code": "delivery_unreachable", "zh": "x", "en": "x"})
    binding.refresh_from_db()
    assert backing_off(binding, now) is False


# ------------------------------------------------------------------ schedule: a person's stop waits a whole cycle

def test_a_stopped_log_mode_read_does_not_hold_the_slot_for_a_whole_day(bound: Any) -> None:  # noqa: F811
    """MEDIUM (source WAL retained, slot alarm).  is_due() holds every binding a whole interval_of() after a person
    stops one run — for log mode too ("log mode's one-minute pass included").  A daily entry in log mode whose
    one-minute read a specialist stopped is not read for 24 h: the replication slot keeps the provider's WAL all that
    time (GOVSHARE_SLOT_ALARM_MINUTES, 60 by default, fires after an hour), though stopping one read says nothing of
    the next (a log read takes seconds; pausing the binding is the way to hold it).
    Expected: due again within the hour; actual: not due for a day."""
    from tests.test_exchange_monitoring_review import in_log_mode

    now = timezone.now()
    binding = in_log_mode(bound, "log", now - dt.timedelta(minutes=3), now - dt.timedelta(minutes=3))
    ExchangeRun.objects.create(binding=binding, kind="log", target="t", status="stopped",
                               started_at=now - dt.timedelta(minutes=2), finished_at=now - dt.timedelta(minutes=2))
    assert schedule.is_due(binding, now + dt.timedelta(hours=1)) is True


def test_a_stopped_rebuild_copy_is_not_held_a_whole_year(bound: Any) -> None:  # noqa: F811
    """MEDIUM (centre table and every delivery blocked for a cycle).  is_due() skips the cycle check while
    rebuild_pending ("tried again with the usual backoff, not a whole cycle later"), but the new stop check has no
    such exception: a person stops the rebuild's full copy (it loads the source at office hours) and a yearly entry
    is not rebuilt for 365 days — while rebuild_pending every delivery of the entry waits (start_for_entries excludes
    it).  The same holds for a binding with no success at all (a first copy stopped).
    Expected: due again within a day; actual: not due for a year."""
    from govshare.catalog.models import EntryVersion

    EntryVersion.objects.filter(pk=bound.entry.current_version_id).update(update_cycle="yearly")
    TableBinding.objects.filter(pk=bound.binding.pk).update(rebuild_pending=True)
    binding = TableBinding.objects.select_related("entry__current_version").get(pk=bound.binding.pk)
    now = timezone.now()
    ExchangeRun.objects.create(binding=binding, kind="full", target="t", status="succeeded",
                               started_at=now - dt.timedelta(days=40), finished_at=now - dt.timedelta(days=40))
    ExchangeRun.objects.create(binding=binding, kind="full", target="t", status="stopped",
                               started_at=now - dt.timedelta(minutes=20), finished_at=now - dt.timedelta(minutes=10))
    assert schedule.is_due(binding, now) is False  # right after the stop: held, fine
    assert schedule.is_due(binding, now + dt.timedelta(days=1)) is True


# ------------------------------------------------------------------ monitor

def test_a_confirmed_copy_shows_no_rate_spanning_its_wait_for_a_person(bound: Any) -> None:  # noqa: F811
    """LOW (missed half of the fix).  The fix freezes a HELD run's rate at its job's end, but the same run once
    confirmed (status queued → running → succeeded, started_at kept, its first job replaced) is again divided by
    finished_at − started_at: 60 000 rows read in a minute, held a day, confirmed → 0.7 rows/s for ever on the run's
    page (the reviewed defect's own docstring names this case).  Expected ≈1000 rows/s; actual 0.7."""
    from govshare.exchange.api import run_out

    now = timezone.now()
    job = Job.objects.create(kind="exchange.run", title="confirmed", status=Job.Status.SUCCEEDED,
                             started_at=now - dt.timedelta(seconds=5), finished_at=now)
    run = ExchangeRun.objects.create(binding=bound.binding, kind="full", target="t", status="succeeded", job=job,
                                     started_at=now - dt.timedelta(days=1, minutes=1), finished_at=now,
                                     rows_read=60_000, pending_deletes=500, live_rows=1000, confirmed_deletes=500)
    run = ExchangeRun.objects.select_related("binding__entry", "binding__version", "job").get(pk=run.pk)
    # its rows were read before a day's wait and its times span it: no rate is shown rather than a false one
    assert run_out(run)["rows_per_second"] is None and run_out(run)["eta_seconds"] is None


# ------------------------------------------------------------------ uploads: 10 000 kept problems

def test_the_uploads_list_does_not_load_every_kept_problem_of_every_upload(
        django_capture_on_commit_callbacks: Any, cat: Any) -> None:
    """LOW/MEDIUM (performance).  KEPT_PROBLEMS went from 200 to 10 000, but the uploads page (30 uploads) and
    GET /exchange/uploads (200, each listing 200) still load and decode Upload.problems whole: measured here with
    61 refused uploads of 10 000 problems — page 0.22 s → 1.3 s, API 4.3 s → 11.5 s (≈1.5 MB of JSON per upload
    decoded to show a count).  Expected: the list page's query leaves ``problems`` out (defer; the API a slice);
    actual: it selects the column."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import login
    from tests.test_exchange_uploads import filled, person, upload

    entry = cat.published()
    client = login(Client(), cat.org.police_specialist)
    workbook = filled(entry, client, [[person(i), "=1+1", None] for i in range(3)])
    upload(client, entry, workbook, django_capture_on_commit_callbacks)
    with CaptureQueriesContext(connection) as seen:
        assert client.get("/exchange/uploads/").status_code == 200
    loading = [q["sql"] for q in seen.captured_queries
               if 'FROM "exchange_upload"' in q["sql"] and '"exchange_upload"."problems"' in q["sql"]]
    assert loading == [], loading[0][:300]
