"""``govshare jobs list|show ID`` — background jobs for operators."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from govshare.commands._util import add, print_help


def register(sub: Any) -> None:
    p = add(sub, "jobs", "后台作业 / background jobs", None)
    inner = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    lst = inner.add_parser("list", help="列出作业 / list recent jobs")
    lst.add_argument("--status", default=None)
    lst.set_defaults(handler=run_list, needs_django=True)
    show = inner.add_parser("show", help="显示作业及日志 / show a job and its log")
    show.add_argument("id")
    show.set_defaults(handler=run_show, needs_django=True)
    p.set_defaults(handler=lambda args: print_help(p))


def run_list(args: argparse.Namespace) -> int:
    from govshare.core.models import Job

    qs = Job.objects.all()
    if args.status:
        qs = qs.filter(status=args.status)
    for job in qs[:50]:
        pct = f"{job.percent}%" if job.percent is not None else str(job.progress_done)
        print(f"{job.pk}\t{job.status}\t{pct}\t{job.kind}\t{job.shown_title}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from govshare.core.errors import NotFound
    from govshare.core.models import Job

    try:
        job_id = uuid.UUID(args.id.strip())
    except ValueError:
        raise NotFound("job") from None  # not a job id: the same answer as for a job that does not exist
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound("job")
    print(f"{job.shown_title}\nstatus: {job.status}  progress: {job.progress_done}/{job.progress_total or '?'}"
          f"  attempts: {job.attempts}\nmessage: {job.message}\n--- log ---\n{job.log}")
    return 0
