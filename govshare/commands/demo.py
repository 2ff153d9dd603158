"""``govshare demo``: migrate, load demo data, start a worker and serve (issue 2 §1)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    p = add(sub, "demo", "准备演示数据并启动 / prepare demo data and serve", run)
    p.add_argument("--no-serve", action="store_true",
                   help="只准备数据库和演示数据 / only prepare the database and demo data, then exit")
    p.add_argument("--port", type=int, default=8000, help="端口 / port (default 8000)")


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from govshare.core.demo import DEMO_PASSWORD, load_demo

    call_command("migrate", interactive=False, verbosity=0)
    accounts = load_demo()
    print(f"演示账号 / demo logins (password / 密码: {DEMO_PASSWORD})")
    for username, label in accounts:
        print(f"  {username:<18} {label}")
    if args.no_serve:
        return 0
    from govshare.commands.serve import gunicorn_argv

    env = dict(os.environ)
    worker = subprocess.Popen([sys.executable, "-m", "govshare.cli", "worker"], env=env)
    print(f"\ngovshare: http://127.0.0.1:{args.port}/  (Ctrl+C 停止 / to stop)", flush=True)
    server = subprocess.Popen(gunicorn_argv("127.0.0.1", args.port, 2), env=env)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in (server, worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (server, worker):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
