"""Stopping ``govshare demo`` stops what it started (issue 8): gunicorn (master and workers) and the
background worker do not survive a SIGTERM or a Ctrl-C (SIGINT) of the demo.

The demo runs for real in a subprocess, on a free port, against its own SQLite database and data
directory: ``demo_site`` (tests/conftest.py), a private copy for the module of the demo loaded once
per test process by ``govshare demo --no-serve``.  Finding the demo data there, ``govshare demo``
skips the load (``load_demo`` creates nothing that exists) and goes straight to serving.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table in /proc"),
    # the demo it drives is its own SQLite database, whatever the run's: once per `make test` is enough
    pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="runs once, in the SQLite pass: it drives its own demo database"),
]

ROOT = Path(__file__).resolve().parent.parent
#: generous limits for a loaded 2-core machine: these bound the waiting, they assert no timing
START_LIMIT = 180.0
STOP_LIMIT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.fixture
def running_demo(demo_site: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "govshare.cli", "demo", "--port", str(port)], env=demo_site,
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc, port
    finally:
        leftovers = _descendants(proc.pid) | {proc.pid}
        for pid in leftovers:  # whatever a failing test left behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo stopped while starting"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail("the demo did not answer /healthz")


def _children_running(proc: subprocess.Popen[bytes]) -> set[int]:
    """The demo's children once gunicorn's workers are up: the worker, the gunicorn master and its workers."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        found = _descendants(proc.pid)
        if len(found) >= 4:  # worker + gunicorn master + 2 gunicorn workers
            return found
        time.sleep(0.2)
    return _descendants(proc.pid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C (SIGINT)"])
def test_stopping_the_demo_stops_gunicorn_and_the_worker(running_demo: Any, signum: int) -> None:
    proc, port = running_demo
    _wait_until_serving(proc, port)
    children = _children_running(proc)
    assert len(children) >= 4, "worker, gunicorn master and two gunicorn workers"
    proc.send_signal(signum)
    assert proc.wait(timeout=STOP_LIMIT) == 0
    deadline = time.monotonic() + STOP_LIMIT
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert [pid for pid in children if _alive(pid)] == []
    with pytest.raises(OSError):  # nothing answers on the port any more
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)  # noqa: S310
