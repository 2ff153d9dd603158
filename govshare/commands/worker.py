"""``govshare worker``: runs django-tasks-db's worker plus job recovery and a heartbeat."""

from __future__ import annotations

import argparse
import os
import socket
import threading
import uuid
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    p = add(sub, "worker", "运行后台任务处理进程 / run a background worker", run)
    p.add_argument("--batch", action="store_true",
                   help="处理完队列后退出 / exit when the queue is empty")
    p.add_argument("--interval", type=float, default=1.0, help="轮询间隔秒 / poll interval in seconds")


def _heartbeat_loop(worker_id: str, stop: threading.Event) -> None:
    from django.db import close_old_connections

    from govshare.core import jobs, periodic

    while not stop.wait(jobs.HEARTBEAT_SECONDS):
        try:
            jobs.beat(worker_id, socket.gethostname(), os.getpid())
            jobs.recover_stale()
            periodic.run_due()
        except Exception:  # noqa: BLE001, S110 — a heartbeat failure must not kill the worker
            pass
        finally:
            close_old_connections()


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from govshare.core import jobs

    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    os.environ["GOVSHARE_WORKER_ID"] = worker_id
    jobs.beat(worker_id, socket.gethostname(), os.getpid())
    requeued = jobs.recover_stale()
    if requeued:
        print(f"govshare worker: requeued {requeued} interrupted job(s) / 已重新排队 {requeued} 个中断的任务")
    stop = threading.Event()
    thread = threading.Thread(target=_heartbeat_loop, args=(worker_id, stop), daemon=True)
    thread.start()
    try:
        call_command("db_worker", batch=args.batch, interval=args.interval, queue_name="*",
                     worker_id=worker_id[:64], startup_delay=False, reload=False)
    finally:
        stop.set()
    return 0
