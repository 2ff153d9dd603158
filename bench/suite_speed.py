#!/usr/bin/env python3
"""Test-suite speed (issue 8): ``make test``'s two pytest runs, before and after, in one run.

Runs the SQLite run (``DATABASE_URL= pytest -n auto``) and the PostgreSQL run
(``scripts/with_postgres.py -- pytest -n auto``) of ``make test`` first for a git ref — checked out
with ``git worktree add`` into a temporary directory and run with this repository's ``.venv`` — then
for the working tree, one after the other on the same machine, and prints wall-clock seconds, test
counts and the working tree / ref ratio.  Run it on an otherwise idle machine.  Each tree starts
without compiled modules (as a fresh clone), and its runs get the variables its Makefile's
``TEST_ENV`` gives ``make test`` (bytecode written even where ``PYTHONDONTWRITEBYTECODE`` is set;
the ref before issue 8 has no such line).

    .venv/bin/python bench/suite_speed.py                         # ref 4c3bc5c (before issue 8) vs. working tree
    .venv/bin/python bench/suite_speed.py --ref HEAD~3 --backends sqlite
    .venv/bin/python bench/suite_speed.py -k "audit" tests/test_audit_core.py   # a subset (to try it out)

The ref's code is the one imported in its runs: pytest runs as ``python -m pytest`` from the worktree
with ``PYTHONPATH`` set to it (ahead of the editable install of this repository); the script checks
this by asking the worktree's interpreter where ``govshare`` comes from.  Untracked build products the
suite needs (``govshare/static/vendor``) are linked into the worktree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # noqa: N817 — our own pytest's report
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402 — bench/, importable however this script is loaded

PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_REF = "4c3bc5c"  # the commit before issue 8's work


@dataclass
class Run:
    label: str
    backend: str
    seconds: float
    counts: dict[str, int]
    returncode: int


def pytest_argv(args: argparse.Namespace) -> list[str]:
    argv = [str(PYTHON), "-m", "pytest", "-n", args.workers]  # -q and -p no:cacheprovider: pyproject
    if args.k:
        argv += ["-k", args.k]
    return argv + list(args.paths)


def imported_from(tree: Path) -> str:
    out = subprocess.run([str(PYTHON), "-c", "import govshare, pathlib; print(pathlib.Path(govshare.__file__).parent)"],
                         cwd=tree, env=env_for(tree), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def make_test_env(tree: Path) -> dict[str, str]:
    """The variables the tree's ``make test`` sets for its pytest runs (``TEST_ENV := NAME=value …`` in
    its Makefile; none before that line existed)."""
    makefile = tree / "Makefile"
    for line in makefile.read_text(encoding="utf-8").splitlines() if makefile.exists() else []:
        if line.startswith("TEST_ENV") and ":=" in line:
            return dict(word.split("=", 1) for word in line.split(":=", 1)[1].split() if "=" in word)
    return {}


def fresh_bytecode(tree: Path) -> None:
    """Remove the tree's compiled modules (not the virtualenv's): each tree starts as a fresh clone."""
    for cache in tree.rglob("__pycache__"):
        if ".venv" not in cache.relative_to(tree).parts and cache.is_dir():
            shutil.rmtree(cache, ignore_errors=True)


def env_for(tree: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("DATABASE_URL", None)
    env.update(make_test_env(tree))
    env.update(extra)
    return env


def run_suite(label: str, tree: Path, backend: str, args: argparse.Namespace) -> Run:
    report_file = Path(tempfile.mkdtemp(prefix="govshare-suite-report-")) / "junit.xml"
    argv = [*pytest_argv(args), f"--junitxml={report_file}"]  # the counts, whatever the verbosity
    if backend == "postgres":
        argv = [str(PYTHON), str(ROOT / "scripts" / "with_postgres.py"), "--", *argv]
        env = env_for(tree)
    else:
        env = env_for(tree, DATABASE_URL="")
    print(f"[{label} / {backend}] {' '.join(argv)}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    counts = junit_counts(report_file)
    if args.verbose or proc.returncode not in (0, 1) or not counts:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    print(f"    {seconds:7.1f} s  {counts}", flush=True)
    return Run(label, backend, seconds, counts, proc.returncode)


def junit_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {"passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
            "failed": total["failures"], "error": total["errors"], "skipped": total["skipped"]}


def add_worktree(ref: str) -> Path:
    return bench_common.add_worktree(ref, prefix="govshare-suite-")


remove_worktree = bench_common.remove_worktree


def report(runs: list[Run], backends: list[str]) -> None:
    print("\n| tree | backend | seconds | passed | failed | errors |")
    print("|---|---|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {r.label} | {r.backend} | {r.seconds:.1f} | {r.counts.get('passed', 0)} | "
              f"{r.counts.get('failed', 0)} | {r.counts.get('error', 0)} |")
    by = {(r.label, r.backend): r for r in runs}
    labels = list(dict.fromkeys(r.label for r in runs))
    if len(labels) == 2:
        before, after = labels
        total = {label: sum(by[label, b].seconds for b in backends if (label, b) in by) for label in labels}
        for backend in backends:
            if (before, backend) in by and (after, backend) in by:
                print(f"{backend}: {after} / {before} = {by[after, backend].seconds / by[before, backend].seconds:.2f}")
        if total[before]:
            print(f"both runs: {total[after]:.1f} s / {total[before]:.1f} s = {total[after] / total[before]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default=DEFAULT_REF, help=f"the git ref to compare with (default {DEFAULT_REF})")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres (default both)")
    parser.add_argument("-n", "--workers", default="auto", help="pytest-xdist workers (make test: auto)")
    parser.add_argument("-k", help="only tests matching this expression (to try the script on a subset)")
    parser.add_argument("--no-ref", action="store_true", help="time the working tree only")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the end of each pytest output")
    parser.add_argument("paths", nargs="*", help="test files or directories (default: the whole suite)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    runs: list[Run] = []
    if not args.no_ref:
        tree = add_worktree(args.ref)
        try:
            where = imported_from(tree)
            print(f"{args.ref}: worktree {tree}, imports govshare from {where}")
            if not where.startswith(str(tree)):
                sys.exit(f"the worktree's runs would import {where}, not the worktree's code")
            fresh_bytecode(tree)
            for backend in backends:
                runs.append(run_suite(args.ref, tree, backend, args))
        finally:
            remove_worktree(tree)
    print(f"working tree: {ROOT}, imports govshare from {imported_from(ROOT)}")
    fresh_bytecode(ROOT)
    for backend in backends:
        runs.append(run_suite("working tree", ROOT, backend, args))
    report(runs, backends)
    return 0 if all(r.returncode == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
