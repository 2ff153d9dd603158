#!/usr/bin/env python3
"""Read auditing (issue 9, SEC-4, LN-§23): pages/s with and without the access log, in one run.

Serves the demo twice — a git ref from before read auditing (``--ref``, default ``HEAD``: a ``git
worktree``) and the working tree — one after the other on the same machine and backend, and drives
each with N concurrent logged-in clients (default 50) doing only reads, the ones the access log
records:

    search       30 %   GET /catalog/?q=…                 (query, filters and result count recorded)
    entry        30 %   GET /catalog/entries/<id>/        (the entry read)
    application  20 %   GET /sharing/applications/<id>/   (an application the client's department may see)
    inbox        20 %   GET /inbox/

It prints requests/s, p50/p95/p99 per kind, and the working tree / ref ratio; the issue's target is
a ratio of at least 0.85 (≤ 15 % fewer pages/s).  The serving, the clients and the report are
``bench/load.py``'s (gunicorn 2 processes × 4 threads and a worker, as ``make demo`` runs them).

    .venv/bin/python bench/read_audit.py                                   # HEAD vs. working tree, SQLite, 60 s each
    .venv/bin/python bench/read_audit.py --backend both --duration 120     # the figures for docs/benchmarks.md
    .venv/bin/python bench/read_audit.py --ref 1112801 --clients 10 --duration 15   # a short try
    .venv/bin/python bench/read_audit.py --micro 2000      # only the log's own cost, in-process (SQLite file)

``--micro N`` isolates the access log from everything else a tree changes: in one process on a fresh
SQLite file it writes N requests' rows (one row each, as a page does) through
``govshare.core.access_log.write`` — one after the other, then from 8 threads at once (gunicorn's
2 × 4) — and prints milliseconds per request, to set against a page's time.

The ref and the working tree differ in everything committed since, not only in read auditing.
``--isolate`` compares the working tree with a copy of itself in which the request middleware does
not write the access log (the one line ``access_log.flush(request, response)`` replaced), so that
only the log's cost is measured.  Run it on an otherwise idle machine (the clients share the CPU with
the server).

    .venv/bin/python bench/read_audit.py --isolate --duration 30         # the log's cost alone, 50 clients
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READ_MIX = [("search", 30), ("entry", 30), ("application", 20), ("inbox", 20)]


def _load_module() -> Any:
    spec = importlib.util.spec_from_file_location("govshare_bench_load", ROOT / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


load = _load_module()
_step = load.Client.step


def _prepare_reads(self: Any, published: list[dict[str, Any]]) -> None:
    """Only reads: the entries to open and the applications the client's department may see."""
    self.seen = [e["id"] for e in published]
    status, listing = self.json("GET", "/api/v1/sharing/applications?per_page=100")
    self.applications = [a["id"] for a in listing["items"]] if status == 200 else []


def _read_step(self: Any, kind: str, n: int) -> tuple[int, int]:
    if kind == "application" and self.applications:
        return self.request("GET", f"/sharing/applications/{self.rng.choice(self.applications)}/")[0], 200
    if kind in ("application", "inbox"):  # a department without applications reads its inbox instead
        return self.request("GET", "/inbox/")[0], 200
    return _step(self, kind, n)


load.MIX = READ_MIX
load.Client.prepare = _prepare_reads
load.Client.step = _read_step


FLUSH_LINE = "access_log.flush(request, response)"


def without_the_log() -> Path:
    """A copy of the working tree whose request middleware does not write the access log."""
    import tarfile
    import tempfile

    tree = Path(tempfile.mkdtemp(prefix="govshare-read-audit-off-")) / "tree"
    skip = {".git", ".venv", "var", "node_modules", "__pycache__"}
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(ROOT, arcname=".", filter=lambda info: None if set(Path(info.name).parts) & skip else info)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            tar.extractall(tree, filter="tar")
    middleware = tree / "govshare" / "core" / "middleware.py"
    text = middleware.read_text(encoding="utf-8")
    if FLUSH_LINE not in text:
        raise SystemExit(f"{middleware}: {FLUSH_LINE!r} not found")
    middleware.write_text(text.replace(FLUSH_LINE, "pass  # bench/read_audit.py --isolate: no access log"),
                          encoding="utf-8")
    return tree


def micro(n: int) -> int:
    """The access log's own cost per recorded request, in-process on a fresh SQLite file."""
    import os
    import tempfile
    import threading
    import time

    base = Path(tempfile.mkdtemp(prefix="govshare-read-audit-"))
    os.environ.update({"DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}", "GOVSHARE_DATA_DIR": str(base / "data"),
                       "DJANGO_SETTINGS_MODULE": "govshare.settings", "DEBUG": "false"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from govshare.core import access_log
    from govshare.core.audit_codes import AuditCode

    call_command("migrate", verbosity=0)

    def row(i: int) -> dict[str, Any]:
        return {"occurred_at": timezone.now(), "code": int(AuditCode.READ_ENTRY), "action": "read_entry",
                "outcome": "success", "actor_id": 1, "actor_username": "police_specialist", "actor_name": "张三",
                "department_id": 2, "department_name": "龙南市公安局", "token_id": None, "object_department_id": 2,
                "object_department_name": "龙南市公安局", "object_type": "catalog.catalogentry", "object_id": str(i),
                "object_repr": f"GA-{i:05d} 户籍人口基本信息", "detail": {}, "results": None, "ip": "10.0.0.8",
                "request_id": f"{i:08d}-bench", "method": "GET", "path": f"/catalog/entries/{i}/", "status": 200}

    began = time.perf_counter()
    for i in range(n):
        access_log.write([row(i)])
    serial = (time.perf_counter() - began) * 1000 / n
    per_thread = n // 8

    def work(offset: int) -> None:
        for i in range(per_thread):
            access_log.write([row(offset + i)])
        connection.close()

    threads = [threading.Thread(target=work, args=(n + t * per_thread,)) for t in range(8)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    threaded = (time.perf_counter() - began) * 1000 / (per_thread * 8)
    from govshare.core.actions.audit import check_chain

    report = check_chain()
    print(f"access log, SQLite file, {n} requests: {serial:.2f} ms per request one after the other; "
          f"{threaded:.2f} ms per request (wall) from 8 threads; chain verifies: {report.ok} "
          f"({report.reads_checked} rows)")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--micro", type=int, metavar="N", help="only the log's own cost: N requests in-process")
    parser.add_argument("--ref", default="HEAD", help="the tree before read auditing (a git ref; HEAD)")
    parser.add_argument("--clients", "-n", type=int, default=50, help="concurrent logged-in clients (50)")
    parser.add_argument("--duration", "-d", type=float, default=60.0, help="seconds of load per run (60)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--isolate", action="store_true",
                        help="compare with a copy of the working tree that does not write the access log")
    args = parser.parse_args(argv)
    if args.micro:
        return micro(args.micro)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.isolate:
        before_label, worktree = "log off", without_the_log()
    else:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.ref], capture_output=True,
                             text=True, check=True).stdout.strip()
        before_label, worktree = f"ref {sha}", load.add_worktree(args.ref)
    results = []
    try:
        for backend in backends:
            for label, tree in ((before_label, worktree), ("working tree", ROOT)):
                with load.served_demo(tree, backend, label) as port:
                    print(f"[{label} / {backend}] {args.clients} clients reading for {args.duration:.0f} s", flush=True)
                    results.append(load.drive(port, args.clients, args.duration, label, backend))
    finally:
        if args.isolate:
            shutil.rmtree(worktree.parent, ignore_errors=True)
        else:
            load.remove_worktree(worktree)
    load.report(results)
    by = {(r.label, r.backend): load.rows(r)[-1] for r in results}
    verdicts = []
    for backend in backends:
        before, after = by.get((before_label, backend)), by.get(("working tree", backend))
        if before and after:
            ratio = after[2] / before[2]
            verdicts.append(ratio >= 0.85)
            print(f"{backend}: pages/s with read auditing / without = {after[2]:.1f} / {before[2]:.1f} = {ratio:.2f} "
                  f"(target ≥ 0.85: {'met' if ratio >= 0.85 else 'NOT met'})")
    return 0 if verdicts and all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
