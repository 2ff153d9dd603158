#!/usr/bin/env python3
"""Run a command against a throwaway MariaDB server (the exchange tests' MySQL-family source, bench scripts).

Creates a server in a temporary directory with Debian's ``mariadb-server`` binaries, listening on a free
loopback port and on a unix socket in that directory, with a random root password; exports
``GOVSHARE_TEST_MYSQL_URL`` (``mysql://root:PASSWORD@127.0.0.1:PORT/``) to the command and removes
everything afterwards.  No option file is read (``--no-defaults``): a system MariaDB on the same machine
is neither used nor disturbed.  When run as root (CI), the server runs as root (``--user=root``).

    python scripts/with_mariadb.py -- pytest -q tests/test_exchange_source_engine.py
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

#: how long the server may take to accept connections
START_TIMEOUT = 60.0

#: nothing here must survive a crash: durability off, small memory, no binary log, no host name lookups
SERVER_OPTIONS = [
    "--skip-name-resolve", "--skip-log-bin", "--skip-performance-schema",
    "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=8M", "--innodb-use-native-aio=0", "--innodb-buffer-pool-load-at-startup=0",
    "--innodb-buffer-pool-dump-at-shutdown=0", "--sync-binlog=0",
    "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci", "--max-connections=100",
]

#: root on localhost (socket) and 127.0.0.1 (TCP) only, no anonymous account (run at installation)
ROOT_HOSTS = ("localhost", "127.0.0.1")
ONLY_ROOT = ("DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1'));\n"
             "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1');\n"
             "FLUSH PRIVILEGES;\n")


class ServerMissing(RuntimeError):
    """The MariaDB server binaries are not installed."""


def find_binaries() -> tuple[Path, Path]:
    """``(mariadbd, mariadb-install-db)``; ``MARIADB_BINDIR`` overrides the search."""
    dirs = [os.environ["MARIADB_BINDIR"]] if os.environ.get("MARIADB_BINDIR") else ["/usr/sbin", "/usr/bin"]

    def find(name: str) -> Path | None:
        found = next((Path(d) / name for d in dirs if (Path(d) / name).exists()), None)
        return found or (Path(which) if (which := shutil.which(name)) else None)

    server, install = find("mariadbd"), find("mariadb-install-db")
    if not server or not install:
        raise ServerMissing("MariaDB server binaries not found (mariadbd, mariadb-install-db): "
                            "apt-get install mariadb-server  (or set MARIADB_BINDIR)")
    return server, install


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(log: Path) -> bool:
    """The server says it accepts connections (not merely: something answers on the port)."""
    try:
        return b"ready for connections" in log.read_bytes()
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@contextlib.contextmanager
def throwaway_server(prefix: str = "govshare-mariadb-", options: Sequence[str] = ()) -> Iterator[str]:
    """A private MariaDB server in a temporary directory, for the duration of the block; yields its URL
    ``mysql://root:PASSWORD@127.0.0.1:PORT/`` (the same root account on the unix socket ``sock`` of the
    directory).  ``options``: extra ``mariadbd`` options (``--name=value``)."""
    server, install = find_binaries()
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data, sock, log = tmp / "data", tmp / "sock", tmp / "server.log"
    password = secrets.token_hex(16)  # hex: safe inside SQL quotes and in a URL
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    extra = tmp / "accounts.sql"
    extra.write_text(ONLY_ROOT + "".join(f"ALTER USER 'root'@'{host}' IDENTIFIED BY '{password}';\n"
                                         for host in ROOT_HOSTS), encoding="utf-8")
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        installed = subprocess.run(
            [str(install), "--no-defaults", f"--datadir={data}", *as_root, "--auth-root-authentication-method=normal",
             "--skip-test-db", "--skip-name-resolve", f"--extra-file={extra}", "--innodb-log-file-size=8M",
             "--innodb-buffer-pool-size=16M", "--innodb-use-native-aio=0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        extra.unlink()
        if installed.returncode:
            raise RuntimeError(f"mariadb-install-db failed:\n{installed.stdout.decode(errors='replace')[-4000:]}")
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [str(server), "--no-defaults", *as_root, f"--datadir={data}", f"--socket={sock}", f"--port={port}",
                 "--bind-address=127.0.0.1", f"--pid-file={tmp / 'mariadbd.pid'}", f"--tmpdir={tmp}",
                 f"--log-error={log}", *SERVER_OPTIONS, *options],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(log):
            if process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with status {process.returncode}; its log:\n{_log_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd did not accept connections within {START_TIMEOUT:.0f}s; its log:\n"
                                   f"{_log_tail(log)}")
            time.sleep(0.05)
        yield f"mysql://root:{password}@127.0.0.1:{port}/"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)  # nothing to keep: no clean shutdown needed
            process.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("usage: with_mariadb.py -- COMMAND [ARGS...]")
    try:
        with throwaway_server() as url:
            started = time.monotonic()
            result = subprocess.run(argv, env=dict(os.environ, GOVSHARE_TEST_MYSQL_URL=url))
            print(f"[with_mariadb] MariaDB run took {time.monotonic() - started:.1f}s", file=sys.stderr)
            return result.returncode
    except ServerMissing as exc:
        sys.exit(str(exc))

if __name__ == "__main__":
    sys.exit(main())
