#!/usr/bin/env python3
"""Load (issue 9): N concurrent logged-in clients against the served demo, for D seconds.

Each backend gets a fresh demo site — ``govshare demo --port P`` in a subprocess, with its own data
dir and its own database (a SQLite file, or a throwaway PostgreSQL server started the way
``scripts/with_postgres.py`` starts one) — i.e. gunicorn (2 processes × 4 threads) and a worker, as
``make demo`` runs them.  Then N clients (threads, one keep-alive ``http.client`` connection and one
session each) log in as the demo's data specialists and, until D seconds have passed, repeat a mix
of what they do all day:

    search 30 %   GET /catalog/?q=…               (the search page, a term from a fixed list)
    entry  30 %   GET /catalog/entries/<id>/      (an entry page they may see)
    lists  20 %   GET /sharing/applications/ | /sharing/to-answer/ | /sharing/grants/
    draft  10 %   PUT /api/v1/catalog/entries/<id>/draft   (each client saves its own draft)
    feedback 10 % POST /api/v1/catalog/entries/<id>/feedback (a doubt on another department's entry)

and the script prints requests/s, p50/p95/p99 per kind and overall, and the errors (any status
other than the expected one, or a connection error).  ``--ref GITREF`` serves that ref too (a ``git
worktree``, like ``bench/suite_speed.py``) in the same run, one after the other on each backend, and
prints the working tree / ref ratios — H4 uses it to compare read auditing before and after.

    .venv/bin/python bench/load.py                                  # 50 clients, 120 s, SQLite and PostgreSQL
    .venv/bin/python bench/load.py --backend sqlite --duration 20   # a short try
    .venv/bin/python bench/load.py --ref HEAD --backend sqlite      # before / after in one run

The clients run on the same machine as the server and take CPU from it; run it on an otherwise
idle machine.  Target of the issue: 0 errors, p95 ≤ 200 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402 — bench/, importable however this script is loaded

PYTHON = ROOT / ".venv" / "bin" / "python"
PASSWORD = "Longnan-demo-2026"  # the demo's (README "Demo logins")
#: the demo's data specialists (one per department): client i logs in as USERS[i % len(USERS)]
USERS = ["police_specialist", "market_admin", "hr_specialist", "health_specialist", "civil_specialist",
         "land_specialist", "transport_specialist", "eco_specialist", "edu_specialist", "tax_specialist",
         "housing_specialist", "medins_specialist"]
TERMS = ["人口", "企业", "社保", "医疗", "车辆", "户籍", "营业执照", "不动产", "纳税", "学校", "低保", "公积金",
         "环境监测", "道路", "婚姻登记"]
MIX = [("search", 30), ("entry", 30), ("lists", 20), ("draft", 10), ("feedback", 10)]
LISTS = ["/sharing/applications/", "/sharing/to-answer/", "/sharing/grants/"]
START_LIMIT = 900.0  # a demo load on a busy machine


# ---------------------------------------------------------------------------- one client


class Failed(Exception):
    pass


class Client:
    """One logged-in person: a keep-alive connection and the session's cookies."""

    def __init__(self, port: int, username: str) -> None:
        self.port, self.username = port, username
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.draft: int | None = None
        self.others: list[int] = []
        self.seen: list[int] = []
        self.classification = ""
        self.rng = random.Random(f"{username}-{id(self)}")

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Accept-Language": "zh-hans",
                **(headers or {})}
        if method != "GET":
            sent["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            sent["Referer"] = f"http://127.0.0.1:{self.port}/"
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile: reconnect once
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _sep, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body=body, headers={"Content-Type": "application/json"})
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data[:200]

    def login(self) -> None:
        self.request("GET", "/login/")
        form = urllib.parse.urlencode({"username": self.username, "password": PASSWORD,
                                       "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}).encode()
        status, _ = self.request("POST", "/login/", body=form,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "sessionid" not in self.cookies:
            raise Failed(f"{self.username}: login answered {status}")

    def prepare(self, published: list[dict[str, Any]]) -> None:
        """My department's entries are not fed back on; a draft of my own to save again and again."""
        status, mine = self.json("GET", "/api/v1/catalog/entries?mine=true&per_page=100")
        if status != 200:
            raise Failed(f"{self.username}: my entries answered {status}")
        own = {item["id"] for item in mine["items"]}
        self.others = [e["id"] for e in published if e["id"] not in own]
        self.seen = [e["id"] for e in published]
        self.classification = published[0]["classification"]
        status, created = self.json("POST", "/api/v1/catalog/entries", self.content(0))
        if status != 201:
            raise Failed(f"{self.username}: creating a draft answered {status}: {created}")
        self.draft = int(created["id"])

    def content(self, n: int) -> dict[str, Any]:
        """A complete entry (drafts are checked like any version), saved for the ``n``-th time."""
        return {"classification": self.classification, "name": f"压力测试资源 {self.username} {id(self) % 10000}",
                "summary": f"bench/load.py 写入的草稿，第 {n} 次保存 / a draft saved by the load test ({n})",
                "keywords": ["压力测试"], "format_class": "spreadsheet", "format": "xlsx",
                "share_type": "unconditional", "share_methods": ["table"], "update_cycle": "monthly",
                "items": [{"name": "统一社会信用代码", "data_type": "C", "length": 18},
                          {"name": "登记日期", "data_type": "D", "description": f"save {n}"}]}

    def step(self, kind: str, n: int) -> tuple[int, int]:
        """One request of ``kind``: (status, expected status)."""
        rng = self.rng
        if kind == "search":
            return self.request("GET", "/catalog/?q=" + urllib.parse.quote(rng.choice(TERMS)))[0], 200
        if kind == "entry":
            return self.request("GET", f"/catalog/entries/{rng.choice(self.seen)}/")[0], 200
        if kind == "lists":
            return self.request("GET", rng.choice(LISTS))[0], 200
        if kind == "draft":
            status, _ = self.json("PUT", f"/api/v1/catalog/entries/{self.draft}/draft", self.content(n))
            return status, 200
        status, _ = self.json("POST", f"/api/v1/catalog/entries/{rng.choice(self.others)}/feedback",
                              {"kind": "doubt", "description": f"压力测试：第 {n} 条疑问 / load test doubt {n}"})
        return status, 201


@dataclass
class Result:
    label: str
    backend: str
    clients: int
    seconds: float
    samples: dict[str, list[float]] = field(default_factory=dict)  # kind → milliseconds of the good answers
    errors: dict[str, int] = field(default_factory=dict)  # "kind status" → count
    error_examples: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.samples.values()) + sum(self.errors.values())


def drive(port: int, clients: int, duration: float, label: str, backend: str, think: float = 0.0) -> Result:
    users = [Client(port, USERS[i % len(USERS)]) for i in range(clients)]
    anonymous = Client(port, "")
    status, listing = anonymous.json("GET", "/api/v1/catalog/entries?status=published&per_page=100")
    if status != 200 or not listing["items"]:
        raise Failed(f"the published entries answered {status}")
    published = listing["items"]
    for user in users:  # one after the other: the logins are not what is measured
        user.login()
        user.prepare(published)
    result = Result(label, backend, clients, duration)
    lock = threading.Lock()
    kinds = [k for k, weight in MIX for _ in range(weight)]
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def run(user: Client) -> None:
        local: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        examples: list[str] = []
        start.wait()
        n = 0
        while time.monotonic() < stop_at[0]:
            n += 1
            kind = user.rng.choice(kinds)
            began = time.perf_counter()
            try:
                status, expected = user.step(kind, n)
            except (OSError, http.client.HTTPException) as exc:
                status, expected = -1, 0
                examples.append(f"{kind}: {type(exc).__name__}: {exc}")
                user.conn.close()
            ms = (time.perf_counter() - began) * 1000
            if status == expected:
                local.setdefault(kind, []).append(ms)
            else:
                errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1
                if status != -1 and len(examples) < 5:
                    examples.append(f"{kind}: {status} (expected {expected})")
            if think:  # a person reads the page before the next click: 0.5–1.5 × the mean, seeded per client
                time.sleep(min(user.rng.uniform(0.5, 1.5) * think, max(0.0, stop_at[0] - time.monotonic())))
        with lock:
            for kind, values in local.items():
                result.samples.setdefault(kind, []).extend(values)
            for key, count in errors.items():
                result.errors[key] = result.errors.get(key, 0) + count
            result.error_examples.extend(examples[: max(0, 5 - len(result.error_examples))])

    threads = [threading.Thread(target=run, args=(user,), daemon=True) for user in users]
    for thread in threads:
        thread.start()
    stop_at.append(time.monotonic() + duration)
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    return result


# ---------------------------------------------------------------------------- the served demo


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def throwaway_postgres() -> contextlib.AbstractContextManager[str]:
    """A private PostgreSQL server (``scripts/with_postgres.py``'s), for the bench."""
    return bench_common.throwaway_postgres("-c max_connections=100", prefix="govshare-load-pg-")


def add_worktree(ref: str) -> Path:
    try:
        return bench_common.add_worktree(ref, prefix="govshare-load-")
    except RuntimeError as exc:
        raise Failed(str(exc)) from None


remove_worktree = bench_common.remove_worktree


@contextlib.contextmanager
def served_demo(tree: Path, backend: str, label: str) -> Iterator[int]:
    """``govshare demo`` of ``tree`` on a free port with its own data dir and database; stopped after."""
    with contextlib.ExitStack() as stack:
        base = Path(tempfile.mkdtemp(prefix=f"govshare-load-{backend}-"))
        stack.callback(shutil.rmtree, base, True)
        if backend == "postgres":
            database_url = stack.enter_context(throwaway_postgres())
        else:
            database_url = f"sqlite:///{base / 'db.sqlite3'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.update({"DATABASE_URL": database_url, "GOVSHARE_DATA_DIR": str(base / "data"), "PYTHONPATH": str(tree),
                    "DEBUG": "false", "EMAIL_HOST": "", "PYTHONUNBUFFERED": "1"})
        port = free_port()
        log_path = base / "demo.log"
        log = stack.enter_context(log_path.open("wb"))
        print(f"[{label} / {backend}] govshare demo --port {port}  (log: {log_path})", flush=True)
        proc = subprocess.Popen([str(PYTHON), "-m", "govshare.cli", "demo", "--port", str(port)], cwd=tree, env=env,
                                stdout=log, stderr=subprocess.STDOUT)

        def stop() -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the demo stops gunicorn and the worker (issue 8)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

        stack.callback(stop)
        began = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise Failed(f"the demo stopped while starting:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - began > START_LIMIT:
                raise Failed("the demo did not answer /healthz")
            time.sleep(1)
        print(f"[{label} / {backend}] serving after {time.monotonic() - began:.0f} s", flush=True)
        yield port


# ---------------------------------------------------------------------------- report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def rows(result: Result) -> list[tuple[str, int, float, float, float, float, int]]:
    out = []
    for kind, _weight in [*MIX, ("all", 0)]:
        values = [v for vs in result.samples.values() for v in vs] if kind == "all" else result.samples.get(kind, [])
        errors = sum(c for k, c in result.errors.items() if kind == "all" or k.split()[0] == kind)
        out.append((kind, len(values) + errors, (len(values) + errors) / result.seconds, pct(values, 50),
                    pct(values, 95), pct(values, 99), errors))
    return out


def report(results: list[Result]) -> None:
    print("\n| tree | backend | kind | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for kind, count, rate, p50, p95, p99, errors in rows(r):
            name = f"**{kind}**" if kind == "all" else kind
            print(f"| {r.label} | {r.backend} | {name} | {count} | {rate:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} | "
                  f"{errors} |")
    for r in results:
        if r.errors:
            print(f"\n{r.label} / {r.backend} errors: {r.errors}; e.g. {r.error_examples}")
    labels = list(dict.fromkeys(r.label for r in results))
    if len(labels) == 2:
        ref_label, tree_label = labels
        by = {(r.label, r.backend): r for r in results}
        print(f"\n| backend | {tree_label} / {ref_label}: req/s | p50 | p95 | p99 |")
        print("|---|---:|---:|---:|---:|")
        for backend in dict.fromkeys(r.backend for r in results):
            if (ref_label, backend) in by and (tree_label, backend) in by:
                before, after = rows(by[(ref_label, backend)])[-1], rows(by[(tree_label, backend)])[-1]
                print(f"| {backend} | {after[2] / before[2]:.2f} | {after[3] / before[3]:.2f} | "
                      f"{after[4] / before[4]:.2f} | {after[5] / before[5]:.2f} |")
    for r in results:
        overall = rows(r)[-1]
        verdict = "met" if overall[6] == 0 and overall[4] <= 200 else "NOT met"
        print(f"{r.label} / {r.backend}: {r.clients} clients, {r.seconds:.0f} s, {r.requests} requests — "
              f"target 0 errors and p95 ≤ 200 ms {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", "-n", type=int, default=50, help="concurrent logged-in clients (50)")
    parser.add_argument("--duration", "-d", type=float, default=120.0, help="seconds of load per run (120)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--ref", help="also serve this git ref (a worktree) and print working tree / ref ratios")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a client pauses between requests (0: none, the machine saturates)")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument("--port", type=int, help="drive a demo already served on this port instead (its data "
                                                  "changes; --backend and --ref are then ignored)")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    trees: list[tuple[str, Path]] = []
    worktree = None
    if args.ref and not args.port:
        worktree = add_worktree(args.ref)
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.ref], capture_output=True,
                             text=True, check=True).stdout.strip()
        trees.append((f"ref {sha}", worktree))
    trees.append(("working tree", ROOT))
    results: list[Result] = []
    if args.port:
        results.append(drive(args.port, args.clients, args.duration, "served", f"port {args.port}", args.think))
        trees = []
    try:
        for backend in backends:
            for label, tree in trees:
                with served_demo(tree, backend, label) as port:
                    print(f"[{label} / {backend}] {args.clients} clients for {args.duration:.0f} s, "
                          f"think time {args.think:g} s", flush=True)
                    results.append(drive(port, args.clients, args.duration, label, backend, args.think))
    finally:
        if worktree is not None:
            remove_worktree(worktree)
    report(results)
    if args.json:
        args.json.write_text(json.dumps([{"label": r.label, "backend": r.backend, "clients": r.clients,
                                          "seconds": r.seconds, "errors": r.errors,
                                          "rows": [dict(zip(["kind", "requests", "rps", "p50", "p95", "p99",
                                                             "errors"], row, strict=True)) for row in rows(r)]}
                                         for r in results], indent=2))
    return 0 if all(rows(r)[-1][6] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
