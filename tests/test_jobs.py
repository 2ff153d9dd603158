"""Background jobs (issue 2 §8): created by an action, run by the task backend, claimed once,
recovered after a worker died and resumed from the checkpoint, failures recorded; the job page
shows progress and polls while the job runs."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from govshare.core import jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import ValidationFailed
from govshare.core.models import AuditEvent, Job

# ------------------------------------------------------------------ handlers used by these tests


@jobs.handler("test.count")
def _count(ctx: jobs.JobContext) -> dict[str, Any]:
    """Counts to ``total``, saving a checkpoint after each item; resumes from the checkpoint."""
    total = int(ctx.params.get("total", 5))
    start = int(ctx.checkpoint.get("next", 0))
    ctx.progress(start, total, message="counting")
    for i in range(start, total):
        ctx.save_checkpoint({"next": i + 1}, done=i + 1)
    ctx.log(f"counted {total - start} items")
    return {"counted": total, "resumed_from": start}


@jobs.handler("test.fail")
def _fail(ctx: jobs.JobContext) -> None:
    ctx.progress(1, 3)
    raise ValidationFailed("bad_row", "row %(row_no)s has no name", row_no=7)


@jobs.handler("test.cancelled")
def _cancelled_midway(ctx: jobs.JobContext) -> None:
    Job.objects.filter(pk=ctx.job.pk).update(status=Job.Status.CANCELLED)  # someone cancels it meanwhile
    ctx.progress(1, 2)  # the next heartbeat notices and stops the handler
    raise AssertionError("not reached")


@jobs.handler("test.taken_over")
def _taken_over(ctx: jobs.JobContext) -> dict[str, Any]:
    """Finishes its work after another worker took the job over (this one was presumed dead), without
    touching the job on the way, so nothing stopped it."""
    Job.objects.filter(pk=ctx.job.pk).update(worker_id="new-worker")
    if ctx.params.get("fail"):
        raise ValueError("the old worker's late failure")
    return {"from": "the old worker"}


def _create(kind: str, user: Any, **params: Any) -> Job:
    return jobs.create_job(kind, f"test job {kind}", params, user=user)


# ------------------------------------------------------------------ running


def test_a_job_created_in_a_transaction_runs_after_commit(org: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = _create("test.count", org.police_specialist, total=4)
        assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED  # nothing runs before commit
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (job.progress_done, job.progress_total, job.percent) == (4, 4, 100)
    assert job.result == {"counted": 4, "resumed_from": 0}
    assert "counted 4 items" in job.log
    assert job.department == org.police
    finished = AuditEvent.objects.get(code=int(AuditCode.JOB_FINISHED), object_id=str(job.pk))
    assert finished.outcome == "success" and finished.actor_id == org.police_specialist.pk


def test_an_unknown_job_kind_is_refused(org: Any) -> None:
    with pytest.raises(LookupError):
        _create("test.nothing", org.police_specialist)


def test_claim_is_a_conditional_update_a_second_claim_gets_nothing(org: Any) -> None:
    job = _create("test.count", org.police_specialist)
    first = jobs.claim(job.pk, "worker-a")
    assert first is not None and first.status == Job.Status.RUNNING and first.worker_id == "worker-a"
    assert jobs.claim(job.pk, "worker-b") is None
    job.refresh_from_db()
    assert (job.worker_id, job.attempts) == ("worker-a", 1)
    assert jobs.execute(job.pk, "worker-b") == "not-claimed"


def test_a_failing_handler_marks_the_job_failed_with_its_message(
        org: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = _create("test.fail", org.police_specialist)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "row 7 has no name" in job.message
    assert "row 7 has no name" in job.log and job.finished_at is not None
    finished = AuditEvent.objects.get(code=int(AuditCode.JOB_FINISHED), object_id=str(job.pk))
    assert finished.outcome == "failure"


def test_a_job_cancelled_while_running_stops_at_its_next_heartbeat(
        org: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = _create("test.cancelled", org.police_specialist)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


@jobs.handler("test.fail_translated")
def _fail_translated(ctx: jobs.JobContext) -> None:
    from django.utils.translation import gettext_lazy

    ctx.progress(1, 2, message=gettext_lazy("Recomputing open deadlines…"))
    raise ValidationFailed("job_finished", gettext_lazy("The job has already finished (%(status)s)."), status="x")


def test_a_failed_jobs_message_is_shown_in_each_readers_language_not_as_one_bilingual_text(
        org: Any, django_capture_on_commit_callbacks: Any, client_for: Any) -> None:
    """Issue 8 ("one language per screen"): what a job's message means is kept (``message_node``) and each reader
    gets it in their language — on the job page and in the API; the stored ``message`` stays both, for the CLI."""
    with django_capture_on_commit_callbacks(execute=True):
        job = _create("test.fail_translated", org.police_specialist)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.message == "作业已结束（x）。 / The job has already finished (x)."
    client = client_for(org.police_specialist)

    def shown() -> str:  # the message's line of the job page (its log below keeps the technical record)
        page = client.get(reverse("core:job_progress", args=[job.pk])).content.decode()
        return re.findall(r'<p class="error" role="status">(.*?)</p>', page)[0]

    assert shown() == "作业已结束（x）。"
    assert client.get(f"/api/v1/jobs/{job.pk}").json()["message"] == "作业已结束（x）。"
    client.cookies["django_language"] = "en"
    assert shown() == "The job has already finished (x)."
    assert client.get(f"/api/v1/jobs/{job.pk}").json()["message"] == "The job has already finished (x)."


def test_a_progress_message_and_a_cancellation_are_shown_in_the_readers_language(
        org: Any, client_for: Any) -> None:
    from django.utils.translation import gettext_lazy

    from govshare.core.actions.jobs import do_cancel_job

    job = _create("test.count", org.police_specialist)
    jobs.claim(job.pk, "w1")
    jobs.JobContext(Job.objects.get(pk=job.pk), "w1").progress(1, 4, message=gettext_lazy("Recomputing open deadlines…"))
    client = client_for(org.police_specialist)
    assert "正在重算未结期限" in client.get(reverse("core:job_progress", args=[job.pk])).content.decode()
    client.cookies["django_language"] = "en"
    assert "Recomputing open deadlines" in client.get(reverse("core:job_progress", args=[job.pk])).content.decode()
    do_cancel_job(org.police_specialist, Job.objects.get(pk=job.pk))
    english = client.get(f"/api/v1/jobs/{job.pk}").json()["message"]
    assert english.startswith("Cancelled by ") and "取消" not in english, english
    client.cookies["django_language"] = "zh-hans"
    assert client.get(f"/api/v1/jobs/{job.pk}").json()["message"].startswith("已由 ")


# ------------------------------------------------------------------ recovery after a worker died


def _die_midway(job: Job, done: int, *, attempts_left_behind: int = 1) -> None:
    """What a worker that crashed after ``done`` items leaves behind: running, old heartbeat."""
    jobs.claim(job.pk, "dead-worker")
    old = timezone.now() - jobs.stale_after() - dt.timedelta(seconds=5)
    Job.objects.filter(pk=job.pk).update(checkpoint={"next": done}, progress_done=done, progress_total=5,
                                         heartbeat_at=old, attempts=attempts_left_behind)


def test_a_stale_running_job_is_requeued_and_resumes_from_its_checkpoint(
        org: Any, django_capture_on_commit_callbacks: Any) -> None:
    job = _create("test.count", org.police_specialist, total=5)
    _die_midway(job, 3)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.recover_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"counted": 5, "resumed_from": 3}
    assert job.attempts == 2 and job.worker_id != "dead-worker"
    assert "resuming (attempt 2)" in job.log
    assert AuditEvent.objects.filter(code=int(AuditCode.JOB_REQUEUED), object_id=str(job.pk)).exists()


def test_the_deadline_recompute_job_resumes_after_its_last_committed_batch(
        org: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any) -> None:
    from govshare.core.actions import calendar
    from govshare.core.models import Deadline
    from govshare.core.workdays import open_deadline

    monkeypatch.setattr(calendar, "RECOMPUTE_BATCH", 1)
    first, second, _third = (open_deadline(org.police, "share_provider_answer", "longnan", dt.date(2026, 9, day))
                            for day in (1, 2, 3))
    job = jobs.create_job(calendar.RECOMPUTE_JOB, "recompute", {"years": None, "reason": "test"})
    jobs.claim(job.pk, "dead-worker")  # it died after committing the batch of the first deadline
    Job.objects.filter(pk=job.pk).update(checkpoint={"after_id": first.pk, "checked": 1, "changed": 0},
                                         heartbeat_at=timezone.now() - jobs.stale_after() - dt.timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.recover_stale() == 1
    job.refresh_from_db()
    later = Deadline.objects.filter(closed_at__isnull=True, unit="working_days", pk__gt=first.pk).count()
    assert job.status == Job.Status.SUCCEEDED and job.result["checked"] == 1 + later
    batches = AuditEvent.objects.filter(code=int(AuditCode.DEADLINES_RECOMPUTED), detail__job=str(job.pk))
    starts = sorted(e.detail["after_id"] for e in batches)
    # one committed batch per deadline after the checkpoint — none from zero, the first one not again
    assert starts[:2] == [first.pk, second.pk] and len(starts) == later and 0 not in starts


def test_a_running_job_with_a_fresh_heartbeat_is_left_alone(org: Any) -> None:
    job = _create("test.count", org.police_specialist)
    jobs.claim(job.pk, "live-worker")
    assert jobs.recover_stale() == 0
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.worker_id == "live-worker"


def test_a_job_that_keeps_dying_is_given_up(org: Any) -> None:
    job = _create("test.count", org.police_specialist)
    _die_midway(job, 1, attempts_left_behind=jobs.MAX_ATTEMPTS)
    assert jobs.recover_stale() == 0
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "Gave up after" in job.message and "放弃" in job.message


def test_the_old_worker_cannot_write_after_the_job_was_taken_over(org: Any) -> None:
    job = _create("test.count", org.police_specialist)
    claimed = jobs.claim(job.pk, "slow-worker")
    assert claimed is not None
    Job.objects.filter(pk=job.pk).update(worker_id="new-worker")  # recovered and claimed elsewhere
    with pytest.raises(jobs.JobCancelled):
        jobs.JobContext(claimed, "slow-worker").progress(2, 5)


def test_a_live_worker_keeps_its_jobs_alive_while_a_handler_is_busy_in_one_long_step(org: Any) -> None:
    job = _create("test.count", org.police_specialist)
    jobs.claim(job.pk, "busy-worker")
    old = timezone.now() - jobs.stale_after() - dt.timedelta(seconds=5)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=old)  # the handler has not touched the job for long
    jobs.beat("busy-worker", "host", 1)  # ... but the worker's heartbeat thread beats
    assert jobs.recover_stale() == 0
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


@pytest.mark.parametrize("fail", [False, True])
def test_an_old_worker_finishing_a_job_taken_over_records_nothing(org: Any, fail: bool) -> None:
    """The job's end is recorded once, by the worker that holds it: the old worker's late success (or
    failure) changes neither the row nor the audit log (no second JOB_FINISHED)."""
    job = _create("test.taken_over", org.police_specialist, fail=fail)
    assert jobs.execute(job.pk, "old-worker") == "taken-over"
    job.refresh_from_db()
    assert (job.status, job.worker_id, job.result, job.finished_at) == (Job.Status.RUNNING, "new-worker", {}, None)
    assert not AuditEvent.objects.filter(code=int(AuditCode.JOB_FINISHED), object_id=str(job.pk)).exists()


def test_a_host_whose_clock_runs_ahead_cannot_requeue_a_live_workers_job(
        org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats are stamped and judged by the database's clock: a worker host an hour ahead that runs
    the recovery sees the live worker as live, and a host an hour behind beats as fresh as any."""
    job = _create("test.count", org.police_specialist)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() - dt.timedelta(hours=1))
    jobs.claim(job.pk, "slow-clock-worker")
    jobs.beat("slow-clock-worker", "host-behind", 1)
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(hours=1))
    assert jobs.recover_stale() == 0
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.worker_id == "slow-clock-worker"
    assert jobs.live_workers() == {"slow-clock-worker"}
    age = jobs.worker_heartbeat_age()
    assert age is not None and age < jobs.stale_after().total_seconds()


@pytest.mark.parametrize(("limit", "requeued"), [(5, 1), (30, 0)])
def test_the_stale_limit_comes_from_the_settings(org: Any, settings: Any, limit: int, requeued: int) -> None:
    settings.GOVSHARE_WORKER_STALE_SECONDS = limit
    job = _create("test.count", org.police_specialist)
    jobs.claim(job.pk, "quiet-worker")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=10))
    assert jobs.recover_stale() == requeued
    assert jobs.heartbeat_seconds() <= limit / 3  # several beats within the limit


def test_by_default_a_dead_worker_is_found_within_30_seconds(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from govshare.config import Config

    monkeypatch.delenv("GOVSHARE_WORKER_STALE_SECONDS", raising=False)
    settings.GOVSHARE_WORKER_STALE_SECONDS = Config.from_env().worker_stale_seconds  # the default
    # dead right after a beat: silent for the limit, then found at the next beat of a live worker
    assert jobs.stale_after().total_seconds() + jobs.heartbeat_seconds() < 30


def _task_row(status: str, worker: str) -> Any:
    from django.test import override_settings
    from django_tasks_db.models import DBTaskResult

    from govshare.core.tasks import run_job

    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        result = run_job.using(backend="default").enqueue("00000000-0000-0000-0000-000000000000")
    DBTaskResult.objects.filter(pk=result.id).update(status=status, worker_ids=[worker], started_at=timezone.now())
    return DBTaskResult.objects.get(pk=result.id)


def test_the_task_row_of_a_dead_worker_is_failed_and_the_loss_audited(db: None, client: Any) -> None:
    from govshare.core.models import WorkerHeartbeat

    jobs.beat("dead-worker", "host-a", 11)
    jobs.beat("live-worker", "host-b", 22)
    WorkerHeartbeat.objects.filter(worker_id="dead-worker").update(
        seen_at=timezone.now() - jobs.stale_after() - dt.timedelta(seconds=1))
    orphan, held = _task_row("RUNNING", "dead-worker"), _task_row("RUNNING", "live-worker")
    queue = client.get("/healthz").json()["checks"]["queue"]
    assert (queue["running"], queue["orphaned"]) == (1, 1)  # /healthz does not count the orphan as running

    jobs.recover_stale()
    orphan.refresh_from_db()
    held.refresh_from_db()
    assert orphan.status == "FAILED" and orphan.exception_class_path == "govshare.core.jobs.WorkerLost"
    assert "dead-worker" in orphan.traceback and orphan.finished_at is not None
    assert held.status == "RUNNING"
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["live-worker"]
    lost = AuditEvent.objects.get(code=int(AuditCode.WORKER_LOST))
    assert lost.object_id == "dead-worker" and lost.detail["task_rows_failed"] == 1 and lost.detail["pid"] == 11
    queue = client.get("/healthz").json()["checks"]["queue"]
    assert (queue["running"], queue["orphaned"], queue["workers"]) == (1, 0, 1)
    jobs.recover_stale()  # a second pass (or another worker) finds nothing more to do
    assert AuditEvent.objects.filter(code=int(AuditCode.WORKER_LOST)).count() == 1


# SEC-5 (recovery): `govshare tick` does the workers' housekeeping when none is alive
def test_with_no_worker_alive_govshare_tick_requeues_a_dead_workers_job_and_fails_its_task_row(
        org: Any, client: Any, capsys: pytest.CaptureFixture[str], django_capture_on_commit_callbacks: Any) -> None:
    from govshare.cli import main
    from govshare.core import periodic
    from govshare.core.models import WorkerHeartbeat

    jobs.beat("dead-worker", "host-a", 11)
    WorkerHeartbeat.objects.filter(worker_id="dead-worker").update(
        seen_at=timezone.now() - jobs.stale_after() - dt.timedelta(seconds=1))
    job = _create("test.count", org.police_specialist, total=5)
    _die_midway(job, 2)
    orphan = _task_row("RUNNING", "dead-worker")
    assert client.get("/healthz").json()["checks"]["queue"]["orphaned"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert main(["tick", "--only", "core.recover_stale_jobs"]) == 0
    assert capsys.readouterr().out.splitlines() == ["core.recover_stale_jobs\t1"]  # one job requeued
    orphan.refresh_from_db()
    job.refresh_from_db()
    assert orphan.status == "FAILED" and "dead-worker" in orphan.traceback
    assert job.status == Job.Status.SUCCEEDED and job.result == {"counted": 5, "resumed_from": 2}
    assert client.get("/healthz").json()["checks"]["queue"]["orphaned"] == 0

    # every hook once, each named with its result; an unknown hook is refused by name
    assert main(["tick"]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == periodic.hooks()
    assert main(["tick", "--only", "no.such_hook"]) == 2
    assert "no such hook: no.such_hook" in capsys.readouterr().err


def test_a_failing_hook_makes_tick_exit_1_and_the_others_still_run(
        db: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from govshare.cli import main
    from govshare.core import periodic

    def broken() -> None:
        raise RuntimeError("mail server gone")

    monkeypatch.setitem(periodic._HOOKS, "aa.broken", periodic._Hook("aa.broken", broken, 60))
    assert main(["tick"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "aa.broken\t失败 / failed: RuntimeError: mail server gone"
    assert len(out) == len(periodic.hooks())  # the others ran


def test_a_worker_that_stops_in_order_removes_its_heartbeat_row(db: None) -> None:
    from govshare.core.models import WorkerHeartbeat

    jobs.beat("w", "host", 1)
    jobs.stopped("w")
    assert not WorkerHeartbeat.objects.exists()


def test_a_worker_stopped_in_the_middle_of_a_task_fails_its_task_row_and_leaves_no_orphan(
        org: Any, client: Any, django_capture_on_commit_callbacks: Any) -> None:
    """A second Ctrl-C stops django-tasks-db's loop inside a task; the heartbeat row goes with the
    worker, so no later recovery could tell whose the RUNNING task row was."""
    jobs.beat("stopped-worker", "host-a", 11)
    jobs.beat("other-worker", "host-b", 22)
    job = _create("test.count", org.police_specialist, total=5)
    jobs.claim(job.pk, "stopped-worker")
    mine, theirs = _task_row("RUNNING", "stopped-worker"), _task_row("RUNNING", "other-worker")

    jobs.stopped("stopped-worker")
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == "FAILED" and mine.exception_class_path == "govshare.core.jobs.WorkerLost"
    assert "stopped-worker" in mine.traceback and theirs.status == "RUNNING"
    queue = client.get("/healthz").json()["checks"]["queue"]
    assert (queue["running"], queue["orphaned"]) == (1, 0)

    # its job, left running without a heartbeat, is requeued by the next recovery and finishes
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - jobs.stale_after() - dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.recover_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


# ------------------------------------------------------------------ the real django-tasks-db worker


@pytest.mark.django_db(transaction=True)
def test_the_database_worker_processes_a_job(org: Any, settings: Any,
                                             django_capture_on_commit_callbacks: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        job = _create("test.count", org.police_specialist, total=3)
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED
    call_command("db_worker", batch=True, queue_name="*", startup_delay=False, reload=False, worker_id="test")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == {"counted": 3, "resumed_from": 0}
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


# ------------------------------------------------------------------ pages


def _running(org: Any, done: int = 2, total: int = 4) -> Job:
    job = _create("test.count", org.police_specialist, total=total)
    jobs.claim(job.pk, "w")
    Job.objects.filter(pk=job.pk).update(progress_done=done, progress_total=total, message="counting",
                                         log="[2026-01-05 10:00:00] started\n")
    return Job.objects.get(pk=job.pk)


def test_the_job_page_shows_progress_and_polls_every_2_seconds_while_running(org: Any, client_for: Any) -> None:
    job = _running(org)
    response = client_for(org.police_specialist).get(reverse("core:job_detail", args=[job.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<progress max="100" value="50"' in html and "2 / 4" in html
    assert f'hx-get="{reverse("core:job_progress", args=[job.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "started" in html and "counting" in html


def test_the_progress_fragment_stops_polling_when_the_job_is_finished(
        org: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = _create("test.count", org.police_specialist, total=2)
    client = client_for(org.police_specialist)
    fragment = client.get(reverse("core:job_progress", args=[job.pk]))
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert "<html" not in html  # a fragment, not a page
    assert "hx-trigger" not in html and 'data-finished="true"' in html
    assert 'value="100"' in html


def test_the_progress_fragment_keeps_polling_while_running(org: Any, client_for: Any) -> None:
    job = _running(org)
    html = client_for(org.police_specialist).get(reverse("core:job_progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in html and 'hx-swap="outerHTML"' in html


@pytest.mark.parametrize("who,status", [("police_specialist", 200), ("centre_admin", 200),
                                        ("police_admin", 404), ("market_specialist", 404), ("auditor", 404)])
def test_a_job_page_owner_colleague_outsider(org: Any, client_for: Any, who: str, status: int) -> None:
    job = _running(org)
    client = client_for(getattr(org, who))
    assert client.get(reverse("core:job_detail", args=[job.pk])).status_code == status
    assert client.get(reverse("core:job_progress", args=[job.pk])).status_code == status


def test_the_job_list_shows_my_jobs_and_the_centre_admin_sees_all(org: Any, client_for: Any) -> None:
    mine = _running(org)
    other = _create("test.count", org.market_specialist)
    listed = {j.pk for j in client_for(org.police_specialist).get(reverse("core:jobs")).context["jobs"]}
    assert listed == {mine.pk}
    listed = {j.pk for j in client_for(org.market_admin).get(reverse("core:jobs")).context["jobs"]}
    assert listed == set()
    listed = {j.pk for j in client_for(org.centre_admin).get(reverse("core:jobs")).context["jobs"]}
    assert listed == {mine.pk, other.pk}


def test_the_job_list_filters_by_status(org: Any, client_for: Any) -> None:
    running = _running(org)
    _create("test.count", org.police_specialist)
    response = client_for(org.police_specialist).get(reverse("core:jobs") + "?status=running")
    assert [j.pk for j in response.context["jobs"]] == [running.pk]


# ------------------------------------------------------------------ cancelling


def _queued(user: Any) -> Job:
    return Job.objects.create(kind="test.count", title="queued job", params={"total": 3}, created_by=user,
                              department=user.department)


@pytest.mark.parametrize(("who", "allowed"), [
    ("police_specialist", True),    # owner
    ("police_admin", False),        # colleague
    ("market_specialist", False),   # outsider
    ("centre_admin", True),         # the centre operates the platform
])
def test_a_queued_job_is_cancelled_by_its_owner_or_the_centre(org: Any, who: str, allowed: bool) -> None:
    from django.test import Client

    job = _queued(org.police_specialist)
    client = Client()
    client.force_login(getattr(org, who))
    response = client.post(f"/api/v1/jobs/{job.pk}/cancel")
    job.refresh_from_db()
    if allowed:
        assert response.status_code == 200 and job.status == Job.Status.CANCELLED
        assert AuditEvent.objects.filter(code=AuditCode.JOB_CANCELLED, object_id=str(job.pk)).exists()
    else:
        assert response.status_code == 404 and job.status == Job.Status.QUEUED


def test_a_cancelled_job_is_not_run_when_its_task_comes(org: Any) -> None:
    from govshare.core.actions import do_cancel_job

    job = _queued(org.police_specialist)
    do_cancel_job(org.police_specialist, job)
    assert jobs.execute(job.pk, "w1") == "not-claimed"
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.progress_done == 0


def test_cancelling_a_finished_job_is_refused_and_changes_nothing(org: Any) -> None:
    from govshare.core.actions import do_cancel_job
    from govshare.core.errors import Conflict

    job = _queued(org.police_specialist)
    jobs.execute(job.pk, "w1")
    with pytest.raises(Conflict):
        do_cancel_job(org.police_specialist, Job.objects.get(pk=job.pk))
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_an_invalid_job_id_is_a_404_not_a_crash(org: Any) -> None:
    from django.test import Client

    client = Client()
    client.force_login(org.police_specialist)
    assert client.get("/api/v1/jobs/not-a-uuid").status_code in {404, 422}
    assert client.get("/jobs/not-a-uuid/").status_code == 404


def test_the_job_page_offers_cancel_while_the_job_is_open(org: Any) -> None:
    from django.test import Client

    job = _queued(org.police_specialist)
    client = Client()
    client.force_login(org.police_specialist)
    page = client.get(reverse("core:job_detail", args=[job.pk])).content.decode()
    assert reverse("core:job_cancel", args=[job.pk]) in page
    response = client.post(reverse("core:job_cancel", args=[job.pk]))
    assert response.status_code == 302
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
