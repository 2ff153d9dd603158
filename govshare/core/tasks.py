"""django-tasks entry points of the core app."""

from __future__ import annotations

import os
import socket

from django_tasks import task

from govshare.core import jobs


@task()
def run_job(job_id: str) -> str:
    worker_id = os.environ.get("GOVSHARE_WORKER_ID") or f"{socket.gethostname()}:{os.getpid()}"
    return jobs.execute(job_id, worker_id)
