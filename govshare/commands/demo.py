"""``govshare demo``: migrate, load demo data, start a worker and serve (issue 2 §1).

Stopping the demo (Ctrl-C, SIGTERM, SIGHUP, or the terminal closing) stops what it started: the
worker and gunicorn run in process groups of their own, and the demo sends each group SIGTERM,
waits for it and kills what is left (issue 8).  If the demo itself is killed outright (SIGKILL),
Linux sends its children SIGTERM (``PR_SET_PDEATHSIG``).  If one child exits, the demo stops the
other and exits with the child's status.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

from govshare.commands._util import add

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: how long the children have to stop after SIGTERM before they are killed (gunicorn lets
#: running requests finish)
GRACE_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


def register(sub: Any) -> None:
    p = add(sub, "demo", "准备演示数据并启动 / prepare demo data and serve", run)
    p.add_argument("--no-serve", action="store_true",
                   help="只准备数据库和演示数据 / only prepare the database and demo data, then exit")
    p.add_argument("--port", type=int, default=8000, help="端口 / port (default 8000)")


class _Stop(Exception):  # noqa: N818 — a request to stop, not an error
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when the demo dies (Linux), even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the demo died before prctl took effect
        os._exit(1)


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a child in a process group of its own (a terminal's Ctrl-C reaches the demo only,
    which then stops the whole group — gunicorn's workers included)."""
    parent = os.getpid()
    preexec = (lambda: _die_with_parent(parent)) if sys.platform.startswith("linux") else None
    return subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=preexec)  # noqa: PLW1509


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_all(procs: list[subprocess.Popen[bytes]], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM each child's process group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    while time.monotonic() < deadline and any(_group_alive(p.pid) for p in procs):
        time.sleep(0.1)  # the leader exited; its own children (gunicorn's workers) are finishing
    for proc in procs:
        if _group_alive(proc.pid):
            _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    previous = {s: signal.signal(s, _raise_stop) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def supervise(commands: dict[str, list[str]], env: dict[str, str], *, poll: float = 0.5) -> int:
    """Run the commands (label → argv) until one exits or the demo is asked to stop; then stop them all."""
    procs: list[subprocess.Popen[bytes]] = []
    code = 0
    with _stop_signals():
        try:
            for argv in commands.values():
                procs.append(start(argv, env))
            while True:
                for label, proc in zip(commands, procs, strict=False):
                    status = proc.poll()
                    if status is not None:
                        print(f"govshare demo: {label} 已退出 / exited ({status}); 正在停止其余进程 / stopping the rest",
                              file=sys.stderr, flush=True)
                        code = status or 1
                        raise _Stop(0)
                time.sleep(poll)
        except _Stop:
            pass
        finally:
            # a second Ctrl-C while stopping must not leave the children behind
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_IGN)
            stop_all(procs)
    return code


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from govshare.core.demo import DEMO_NOTES, DEMO_ORIGIN, DEMO_PASSWORD, load_demo

    call_command("migrate", interactive=False, verbosity=0)
    accounts = load_demo()
    print(f"演示账号 / demo logins (password / 密码: {DEMO_PASSWORD})")
    for username, label in accounts:
        print(f"  {username:<18} {label}")
    for note in DEMO_NOTES:
        print(note.replace(DEMO_ORIGIN, f"http://127.0.0.1:{args.port}"))
    if args.no_serve:
        return 0
    from django.db import connections

    from govshare.commands.serve import gunicorn_argv

    connections.close_all()
    env = dict(os.environ)
    print(f"\ngovshare: http://127.0.0.1:{args.port}/  (Ctrl+C 停止 / to stop)", flush=True)
    return supervise({"worker": [sys.executable, "-m", "govshare.cli", "worker"],
                      "gunicorn": gunicorn_argv("127.0.0.1", args.port, 2)}, env)
