"""``govshare worker``: runs django-tasks-db's worker plus a heartbeat, job recovery and housekeeping.

Two daemon threads run beside the task loop (issue 9):

* the heartbeat: every :func:`govshare.core.jobs.heartbeat_seconds` it refreshes the worker's row and
  its running jobs (so a handler busy in one long step still counts as alive), then recovers the
  jobs of workers that went silent (:func:`govshare.core.jobs.recover_stale`);
* housekeeping: the periodic hooks (:mod:`govshare.core.periodic`), which may take a while and so
  never delay a beat.

A worker that stops in order (SIGTERM, Ctrl-C, ``--batch`` done) removes its heartbeat row; one
killed leaves it behind, which tells the other workers it died.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from govshare.commands._util import add

log = logging.getLogger("govshare.worker")


def register(sub: Any) -> None:
    p = add(sub, "worker", "运行后台任务处理进程 / run a background worker", run)
    p.add_argument("--batch", action="store_true",
                   help="处理完队列后退出 / exit when the queue is empty")
    p.add_argument("--interval", type=float, default=1.0, help="轮询间隔秒 / poll interval in seconds")


def _loop(every: float, stop: threading.Event, step: Callable[[], object], what: str) -> None:
    from django.db import close_old_connections

    while not stop.wait(every):
        try:
            step()
        except Exception:  # noqa: BLE001 — a failing beat or hook must not kill the worker
            log.exception("worker %s failed", what)
        finally:
            close_old_connections()


def _beat_and_recover(worker_id: str) -> None:
    from govshare.core import jobs

    jobs.beat(worker_id, socket.gethostname(), os.getpid())
    jobs.recover_stale()


def worker_name() -> str:
    """``host:pid:random``, at most 64 characters (django-tasks-db keeps that many)."""
    tail = f":{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return socket.gethostname()[: 64 - len(tail)] + tail


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from govshare.core import jobs, periodic

    worker_id = worker_name()
    os.environ["GOVSHARE_WORKER_ID"] = worker_id  # read by core.tasks.run_job: the job rows name this worker
    jobs.beat(worker_id, socket.gethostname(), os.getpid())
    requeued = jobs.recover_stale()
    if requeued:
        print(f"govshare worker: requeued {requeued} interrupted job(s) / 已重新排队 {requeued} 个中断的任务",
              flush=True)
    stop = threading.Event()
    every = jobs.heartbeat_seconds()
    threads = [
        threading.Thread(target=_loop, args=(every, stop, lambda: _beat_and_recover(worker_id), "heartbeat"),
                         name="govshare-heartbeat", daemon=True),
        threading.Thread(target=_loop, args=(every, stop, periodic.run_due, "housekeeping"),
                         name="govshare-housekeeping", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        call_command("db_worker", batch=args.batch, interval=args.interval, queue_name="*",
                     worker_id=worker_id, startup_delay=False, reload=False)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=every + 1)
        try:
            jobs.stopped(worker_id)
        except Exception:  # noqa: BLE001 — the database may be gone; the row then ages out
            log.exception("worker could not remove its heartbeat row")
    return 0
