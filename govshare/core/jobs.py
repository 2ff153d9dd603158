"""Long-running jobs on top of django-tasks (issue 2 §8, issue 9 "background work that recovers fast").

A :class:`~govshare.core.models.Job` row holds status, progress, log and a checkpoint.  The task
``run_job`` claims it with a conditional UPDATE (queued → running), so exactly one worker runs it.
Handlers call ``ctx.progress()`` / ``ctx.log()`` / ``ctx.save_checkpoint()`` and read ``ctx.checkpoint``
to resume.

Every ``govshare worker`` beats from a thread of its own (:func:`beat`, every
:func:`heartbeat_seconds`): its :class:`~govshare.core.models.WorkerHeartbeat` row and the heartbeat
of the jobs it runs are refreshed even while a handler is busy in one long step.  A worker silent
for :func:`stale_after` (``GOVSHARE_WORKER_STALE_SECONDS``, 25 s by default; with a beat every sixth
of it a dead worker is found within 30 s) is presumed dead (``kill -9``, out of memory, power):
:func:`recover_stale` — run by every live worker at each beat, and as a periodic hook — puts its
jobs back in the queue, where the next worker resumes them from their checkpoint, marks the
django-tasks-db task rows it left RUNNING as failed (so ``/healthz`` does not count them as
running) and records ``WORKER_LOST`` / ``JOB_REQUEUED`` in the audit log.

Every heartbeat is stamped with the database's clock (``Now()``) and every "silent since" is compared
in SQL against the database's clock too: the hosts of the workers need not agree on the time, and a
host whose clock runs ahead cannot take a live worker's jobs.  A worker that finishes a job it no
longer holds (it was presumed dead and another worker took the job over) writes nothing: the job's
end is recorded once, by the worker that holds it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import messages, periodic
from govshare.core.errors import GovshareError
from govshare.core.models import AuditEvent, Job, WorkerHeartbeat

log = logging.getLogger("govshare.jobs")

#: a task still waiting after this long means no worker is taking work (reported by /healthz)
QUEUE_STUCK_AFTER = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
LOG_LIMIT = 200_000  # characters of log kept on the row


def stale_after() -> dt.timedelta:
    """A worker silent this long is presumed dead (``GOVSHARE_WORKER_STALE_SECONDS``)."""
    return dt.timedelta(seconds=settings.GOVSHARE_WORKER_STALE_SECONDS)


def silent_since() -> ExpressionWrapper:
    """The database's "now minus :func:`stale_after`", evaluated in SQL: a heartbeat older than this
    is stale, whatever the clock of the host that asks."""
    return ExpressionWrapper(Now() - Value(stale_after(), output_field=DurationField()),
                             output_field=DateTimeField())


def heartbeat_seconds() -> float:
    """How often a worker beats: six beats per stale limit, so a few lost beats (a busy database)
    do not make a live worker look dead; at most every 5 s, at least every 0.2 s."""
    return min(5.0, max(0.2, settings.GOVSHARE_WORKER_STALE_SECONDS / 6))


class WorkerLost(Exception):
    """Stored as the exception of a task row whose worker died while running it."""


Handler = Callable[["JobContext"], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def known_kinds() -> list[str]:
    return sorted(_HANDLERS)


class JobCancelled(Exception):
    pass


@dataclass
class JobContext:
    job: Job
    worker_id: str

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    @property
    def checkpoint(self) -> dict[str, Any]:
        return self.job.checkpoint

    def _touch(self, **fields: Any) -> None:
        fields["heartbeat_at"] = Now()
        updated = Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING, worker_id=self.worker_id).update(
            **fields)
        if not updated:
            raise JobCancelled(str(self.job.pk))  # cancelled, or taken over after we were presumed dead
        for key, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(self.job, key, value)

    def progress(self, done: int, total: int | None = None, message: Any = "") -> None:
        """Report progress; ``message`` (a lazy ``_()`` text or a :func:`messages.message`) is shown in each reader's
        language, a plain ``str`` as it is)."""
        fields: dict[str, Any] = {"progress_done": done}
        if total is not None:
            fields["progress_total"] = total
        if message:
            fields["message"], fields["message_node"] = messages.stored(message)
        self._touch(**fields)

    def log(self, line: str) -> None:
        stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")
        text = (self.job.log + f"[{stamp}] {line}\n")[-LOG_LIMIT:]
        self._touch(log=text)

    def save_checkpoint(self, checkpoint: dict[str, Any], done: int | None = None) -> None:
        fields: dict[str, Any] = {"checkpoint": checkpoint}
        if done is not None:
            fields["progress_done"] = done
        self._touch(**fields)


def create_job(kind: str, title: Any, params: dict[str, Any] | None = None, *, user: Any = None,
               department: Any = None) -> Job:
    """Create a job row and enqueue its task after commit.  Call from inside an action.

    ``title``: a lazy ``_()`` string or a :func:`govshare.core.messages.message` /
    :func:`~govshare.core.messages.text` with parameters — its meaning is stored and shown in the
    reader's language (jobs pages, API, ``govshare jobs``); a plain string is kept as written."""
    if kind not in _HANDLERS:
        raise LookupError(f"no job handler for {kind!r}")
    node = None if type(title) is str else messages.to_node(title)
    text = title if node is None else messages.render(node, messages.FIRST_LANGUAGE)
    job = Job.objects.create(kind=kind, title=text[:200], title_message=node, params=params or {}, created_by=user,
                             department=department or getattr(user, "department", None))
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: Any) -> None:
    from govshare.core.tasks import run_job

    run_job.enqueue(str(job_id))


def claim(job_id: Any, worker_id: str) -> Job | None:
    """Conditional UPDATE: only one worker can move the job from queued to running."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, worker_id=worker_id, heartbeat_at=Now(), attempts=F("attempts") + 1,
        started_at=Now(),
    )
    return Job.objects.get(pk=job_id) if claimed else None


def execute(job_id: Any, worker_id: str) -> str:
    from govshare.core import audit, context

    with context.bind(ip="worker"):
        try:
            return _execute(job_id, worker_id)
        finally:
            audit.flush_pending()


def _execute(job_id: Any, worker_id: str) -> str:
    job = claim(job_id, worker_id)
    if job is None:
        return "not-claimed"
    ctx = JobContext(job, worker_id)
    fn = _HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no job handler for {job.kind!r}")
        if job.attempts > 1:
            ctx.log(f"resuming (attempt {job.attempts}) from checkpoint {job.checkpoint!r}")
        result = fn(ctx) or {}
    except JobCancelled:
        log.info("job %s was cancelled or taken over", job_id)
        return "cancelled"
    except Exception as exc:  # noqa: BLE001 — a job failure is recorded on the row
        # shown in the reader's language where it has one
        message, node = messages.stored(exc.node() if isinstance(exc, GovshareError) else f"{type(exc).__name__}: {exc}")
        text = (ctx.job.log + f"ERROR: {message}\n{traceback.format_exc(limit=8)}")[-LOG_LIMIT:]
        # only while this worker still holds the job: taken over or cancelled meanwhile, it writes nothing
        if not _holding(job.pk, worker_id).update(
                status=Job.Status.FAILED, finished_at=Now(), message=message, message_node=node, log=text):
            return "taken-over"
        _audit_finish(job.pk)
        return "failed"
    if not _holding(job.pk, worker_id).update(
            status=Job.Status.SUCCEEDED, finished_at=Now(), result=result,
            progress_done=F("progress_total") if job.progress_total else F("progress_done")):
        log.info("job %s finished on worker %s, which no longer holds it: nothing recorded", job_id, worker_id)
        return "taken-over"
    _audit_finish(job.pk)
    return "succeeded"


def _holding(job_id: Any, worker_id: str) -> Any:
    """The job, while ``worker_id`` still runs it (a conditional UPDATE's filter)."""
    return Job.objects.filter(pk=job_id, worker_id=worker_id, status=Job.Status.RUNNING)


def _audit_finish(job_id: Any) -> None:
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    job = Job.objects.select_related("created_by", "department").get(pk=job_id)
    with transaction.atomic():
        audit.record(AuditCode.JOB_FINISHED, actor=job.created_by, obj=job, department=job.department,
                     outcome="success" if job.status == Job.Status.SUCCEEDED else "failure",
                     detail={"kind": job.kind, "status": job.status, "message": job.message})


def recover_stale() -> int:
    """Requeue the running jobs of workers that stopped beating (they resume from their checkpoint),
    fail those retried too often, and clean up after the dead workers; returns the jobs requeued.

    Any number of workers may run it at once: every change is a conditional UPDATE / DELETE.  "Stopped
    beating" is judged by the database's clock (:func:`silent_since`), never this host's."""
    cutoff = silent_since()
    live = WorkerHeartbeat.objects.filter(seen_at__gte=cutoff).values("worker_id")
    stale = list(Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
                 .exclude(worker_id__in=live).values_list("pk", "attempts", "worker_id"))
    _forget_dead_workers(cutoff)  # first: their task rows are failed before the jobs run again
    requeued = 0
    for pk, attempts, worker_id in stale:
        if _requeue(pk, attempts, worker_id, cutoff):
            requeued += 1
    return requeued


def _requeue(pk: Any, attempts: int, worker_id: str, cutoff: Any) -> bool:
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    still_stale = Job.objects.filter(pk=pk, status=Job.Status.RUNNING, worker_id=worker_id, heartbeat_at__lt=cutoff)
    with transaction.atomic():
        if attempts >= MAX_ATTEMPTS:
            message, node = messages.stored(messages.message(
                _("Gave up after %(attempts)s attempts: its worker stopped each time."), attempts=attempts))
            if still_stale.update(status=Job.Status.FAILED, finished_at=Now(), message=message,
                                  message_node=node):  # not the last progress report's text
                transaction.on_commit(functools.partial(_audit_finish, pk))
            return False
        if not still_stale.update(status=Job.Status.QUEUED, worker_id=""):
            return False  # another worker recovered it first, or its worker came back
        job = Job.objects.select_related("department").get(pk=pk)
        audit.record(AuditCode.JOB_REQUEUED, actor=None, obj=job, object_department=job.department,
                     detail={"attempts": attempts, "worker": worker_id, "kind": job.kind,
                             "checkpoint": bool(job.checkpoint), "progress_done": job.progress_done})
        transaction.on_commit(functools.partial(_enqueue, pk))
    log.warning("job %s of silent worker %s requeued (attempt %s done)", pk, worker_id, attempts)
    return True


def _forget_dead_workers(cutoff: Any) -> None:
    """A worker that stopped beating leaves its row and, when it died in a task, a task row RUNNING
    for ever: fail those task rows (their jobs are requeued next) and drop the worker's row."""
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    for dead in WorkerHeartbeat.objects.filter(seen_at__lt=cutoff):
        with transaction.atomic():
            if not WorkerHeartbeat.objects.filter(pk=dead.pk, seen_at__lt=cutoff).delete()[0]:
                continue  # another worker got there first, or it beat again
            seen = timezone.localtime(dead.seen_at).strftime("%Y-%m-%d %H:%M:%S")
            failed = _fail_task_rows(dead.worker_id, f"worker {dead.worker_id} (pid {dead.pid} on {dead.hostname}) "
                                                     f"stopped sending heartbeats at {seen}; its jobs were requeued "
                                                     f"/ 工作进程失联，任务已重新排队")
            audit.record(AuditCode.WORKER_LOST, actor=None, object_type="core.workerheartbeat",
                         object_id=dead.worker_id[:64], object_repr=f"{dead.hostname} pid {dead.pid}",
                         outcome=AuditEvent.Outcome.FAILURE,
                         detail={"worker": dead.worker_id, "hostname": dead.hostname, "pid": dead.pid,
                                 "last_seen": dead.seen_at.isoformat(), "task_rows_failed": failed})
        log.warning("worker %s presumed dead (last beat %s); %s task row(s) marked failed", dead.worker_id, seen,
                    failed)


def _fail_task_rows(worker_id: str, why: str) -> int:
    """Fail the django-tasks-db rows ``worker_id`` still holds RUNNING (nothing runs them any more);
    returns how many.  ``why`` goes into their traceback after ``WorkerLost:``."""
    from django_tasks_db.models import DBTaskResult

    running = DBTaskResult.objects.filter(status="RUNNING").values_list("pk", "worker_ids")
    held = [pk for pk, workers in running if workers and workers[-1] == worker_id]
    if not held:
        return 0
    return DBTaskResult.objects.filter(pk__in=held, status="RUNNING").update(
        status="FAILED", finished_at=Now(), return_value=None,
        exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}", traceback=f"WorkerLost: {why}\n")


@periodic.register("core.recover_stale_jobs", every_seconds=settings.GOVSHARE_WORKER_STALE_SECONDS)
def _recover_periodically() -> int:
    """A backstop to the check at each beat, run by the workers' housekeeping threads (and by
    anything that runs the periodic hooks)."""
    return recover_stale()


def beat(worker_id: str, hostname: str, pid: int) -> None:
    """The worker is alive: refresh its row and the heartbeat of the jobs it is running — stamped with
    the database's clock (``Now()``), like every comparison with them."""
    fields = {"hostname": hostname[:100], "pid": pid, "seen_at": Now()}
    if not WorkerHeartbeat.objects.filter(worker_id=worker_id).update(**fields):
        WorkerHeartbeat.objects.get_or_create(worker_id=worker_id, defaults={**fields, "started_at": Now()})
    Job.objects.filter(status=Job.Status.RUNNING, worker_id=worker_id).update(heartbeat_at=Now())


def stopped(worker_id: str) -> None:
    """A worker that stops in order removes its row (a row left behind means a worker died).

    A task row it still holds RUNNING is failed first: nothing runs it any more, and once the row is
    gone no other worker could tell whose it was (``/healthz`` would count it orphaned for ever).
    django-tasks-db fails a task interrupted inside its run itself; this covers a stop between
    claiming a task row and running it.  Its job, left running without a heartbeat, is requeued by
    the next recovery (a live worker, ``govshare tick``)."""
    failed = _fail_task_rows(worker_id, f"worker {worker_id} was stopped in the middle of this task; its job is "
                                        f"requeued / 工作进程在任务中途被停止，任务将重新排队")
    if failed:
        log.warning("worker %s stopped while holding %s task row(s): marked failed", worker_id, failed)
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def worker_heartbeat_age() -> float | None:
    """Seconds since the freshest worker's beat, by the database's clock."""
    age = (WorkerHeartbeat.objects.order_by("-seen_at")
           .annotate(age=ExpressionWrapper(Now() - F("seen_at"), output_field=DurationField()))
           .values_list("age", flat=True).first())
    return None if age is None else max(0.0, age.total_seconds())


def live_workers() -> set[str]:
    return set(WorkerHeartbeat.objects.filter(seen_at__gte=silent_since()).values_list("worker_id", flat=True))
