"""``govshare tick``: the workers' periodic housekeeping, run once by hand or from cron.

Every ``govshare worker`` runs the hooks of :mod:`govshare.core.periodic` on its own (overdue update
tasks, sharing reminders and escalations, daily digests, pruning login throttles, and recovering
the jobs of workers that stopped beating).  With no worker alive nothing runs them: ``/healthz``
then reports orphaned task rows and a dead worker, and ``govshare tick`` does the housekeeping
once — failing the dead workers' task rows and requeueing their jobs for the next worker.  The
hooks claim their work with conditional UPDATEs, so a tick beside running workers is harmless.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    p = add(sub, "tick", "运行一次定时维护（提醒、督办、摘要、恢复失联工作进程的任务） / run the periodic "
                         "housekeeping once (reminders, escalations, digests, jobs of dead workers)", run)
    p.add_argument("--only", action="append", default=[], metavar="HOOK",
                   help="只运行指定的任务（可重复） / run only this hook (repeatable)")


def run(args: argparse.Namespace) -> int:
    from govshare.core import periodic

    names = periodic.hooks()
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        print(f"没有这些定时任务 / no such hook: {', '.join(unknown)} (有 / known: {', '.join(names)})",
              file=sys.stderr)
        return 2
    results = periodic.run_due(force=True, only=set(args.only) or None)
    failed = 0
    for name in sorted(results):
        result = results[name]
        if isinstance(result, Exception):
            failed += 1
            print(f"{name}\t失败 / failed: {type(result).__name__}: {result}")
        else:
            print(f"{name}\t{result}")
    return 1 if failed else 0
