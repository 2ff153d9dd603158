#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL server (used by ``make test``).

Creates a cluster in a temporary directory with Debian's ``postgresql`` binaries, listens on a free
loopback port, exports ``DATABASE_URL`` to the command, and removes everything afterwards.  When
run as root (CI), the server runs as the ``postgres`` system user, since PostgreSQL refuses root.

    python scripts/with_postgres.py -- pytest -q
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def find_bindir() -> Path:
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for path in candidates:
        if path and (Path(path) / "initdb").exists():
            return Path(path)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    sys.exit("PostgreSQL server binaries not found: apt-get install postgresql  (or set PG_BINDIR)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_server(settings: str = "-c max_connections=50", prefix: str = "govshare-pg-") -> Iterator[str]:
    """A private PostgreSQL server in a temporary directory, for the duration of the block; yields its
    URL.  ``settings``: extra ``-c name=value`` options (durability is off: nothing here must survive).
    Also used by the bench scripts (bench/load.py, bench/catalog_search.py)."""
    bindir = find_bindir()
    root = os.geteuid() == 0
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    run_as: list[str] = []
    if root:
        pg = pwd.getpwnam("postgres")
        os.chown(tmp, pg.pw_uid, pg.pw_gid)
        os.chown(sock, pg.pw_uid, pg.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    log = tmp / "server.log"

    def run(cmd: list[str]) -> None:
        subprocess.run(run_as + cmd, check=True, stdout=subprocess.DEVNULL)

    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "govshare", "-A", "trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"])
        opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                f"-c full_page_writes=off {settings}")
        if root:
            log.touch()
            os.chown(log, pwd.getpwnam("postgres").pw_uid, -1)
        run([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start"])
        yield f"postgresql://govshare@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("usage: with_postgres.py -- COMMAND [ARGS...]")
    with throwaway_server() as url:
        started = time.monotonic()
        result = subprocess.run(argv, env=dict(os.environ, DATABASE_URL=url))
        print(f"[with_postgres] PostgreSQL run took {time.monotonic() - started:.1f}s", file=sys.stderr)
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
