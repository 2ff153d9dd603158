"""Long-running jobs on top of django-tasks (issue 2 §8).

A :class:`~govshare.core.models.Job` row holds status, progress, log and a checkpoint.  The task
``run_job`` claims it with a conditional UPDATE (queued → running), so exactly one worker runs it.
Handlers call ``ctx.progress()`` / ``ctx.log()`` / ``ctx.save_checkpoint()``; each refreshes the
heartbeat.  A job whose heartbeat is older than ``STALE_AFTER`` (its worker died) is put back in
the queue by ``recover_stale()`` — which every worker runs at start and then periodically — and
its handler resumes from the checkpoint.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from govshare.core import messages
from govshare.core.errors import GovshareError
from govshare.core.models import Job, WorkerHeartbeat

log = logging.getLogger("govshare.jobs")

STALE_AFTER = dt.timedelta(seconds=120)
HEARTBEAT_SECONDS = 15  # a worker refreshes its WorkerHeartbeat row this often
#: a task still waiting after this long means no worker is taking work (reported by /healthz)
QUEUE_STUCK_AFTER = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
LOG_LIMIT = 200_000  # characters of log kept on the row

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
        fields["heartbeat_at"] = timezone.now()
        updated = Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING, worker_id=self.worker_id).update(
            **fields)
        if not updated:
            raise JobCancelled(str(self.job.pk))  # cancelled, or taken over after we were presumed dead
        for key, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(self.job, key, value)

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        fields: dict[str, Any] = {"progress_done": done}
        if total is not None:
            fields["progress_total"] = total
        if message:
            fields["message"] = message[:300]
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
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, worker_id=worker_id, heartbeat_at=now, attempts=F("attempts") + 1,
        started_at=now,
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
        message = exc.bilingual() if isinstance(exc, GovshareError) else f"{type(exc).__name__}: {exc}"
        text = (ctx.job.log + f"ERROR: {message}\n{traceback.format_exc(limit=8)}")[-LOG_LIMIT:]
        Job.objects.filter(pk=job.pk, worker_id=worker_id).update(
            status=Job.Status.FAILED, finished_at=timezone.now(), message=message[:300], log=text)
        _audit_finish(job.pk)
        return "failed"
    Job.objects.filter(pk=job.pk, worker_id=worker_id, status=Job.Status.RUNNING).update(
        status=Job.Status.SUCCEEDED, finished_at=timezone.now(), result=result,
        progress_done=F("progress_total") if job.progress_total else F("progress_done"))
    _audit_finish(job.pk)
    return "succeeded"


def _audit_finish(job_id: Any) -> None:
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    job = Job.objects.select_related("created_by", "department").get(pk=job_id)
    with transaction.atomic():
        audit.record(AuditCode.JOB_FINISHED, actor=job.created_by, obj=job, department=job.department,
                     outcome="success" if job.status == Job.Status.SUCCEEDED else "failure",
                     detail={"kind": job.kind, "status": job.status, "message": job.message})


def recover_stale(now: dt.datetime | None = None) -> int:
    """Requeue running jobs whose worker stopped sending heartbeats; fail those retried too often."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    stale = list(Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", "attempts"))
    requeued = 0
    for pk, attempts in stale:
        if attempts >= MAX_ATTEMPTS:
            Job.objects.filter(pk=pk, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).update(
                status=Job.Status.FAILED, finished_at=now,
                message=f"gave up after {attempts} attempts / 重试 {attempts} 次后放弃")
            continue
        with transaction.atomic():
            moved = Job.objects.filter(pk=pk, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).update(
                status=Job.Status.QUEUED, worker_id="")
            if moved:
                from govshare.core import audit
                from govshare.core.audit_codes import AuditCode

                job = Job.objects.get(pk=pk)
                audit.record(AuditCode.JOB_REQUEUED, actor=None, obj=job, detail={"attempts": attempts})
                transaction.on_commit(functools.partial(_enqueue, pk))
                requeued += 1
    return requeued


def beat(worker_id: str, hostname: str, pid: int) -> None:
    WorkerHeartbeat.objects.update_or_create(worker_id=worker_id, defaults={
        "hostname": hostname[:100], "pid": pid, "seen_at": timezone.now()})


def worker_heartbeat_age() -> float | None:
    seen = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    return None if seen is None else (timezone.now() - seen).total_seconds()
