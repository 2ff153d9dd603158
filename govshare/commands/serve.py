from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    p = add(sub, "serve", "启动网站服务 / serve the web application (gunicorn)", run)
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                   help="端口 / port (default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="监听地址 / bind address (default 127.0.0.1)")
    p.add_argument("--workers", type=int, default=2, help="进程数 / worker processes (default 2)")


def gunicorn_argv(host: str, port: int, workers: int) -> list[str]:
    # a request line up to gunicorn's largest (8 190 bytes, not 4 094): a data-API page filtered with a long "in" list
    # of Chinese names reaches the API's own limit and its JSON answer, not an HTML 414 (QA walk-through, 21st session)
    return [sys.executable, "-m", "gunicorn", "govshare.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", "4", "--access-logfile", "-", "--timeout", "120",
            "--limit-request-line", "8190"]


def run(args: argparse.Namespace) -> int:
    argv = gunicorn_argv(args.host, args.port, args.workers)
    print(f"govshare: http://{args.host}:{args.port}/", flush=True)
    os.execv(argv[0], argv)  # noqa: S606 — replace this process by the server
    return 0
