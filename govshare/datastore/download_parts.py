"""The process that builds one part of a large batch download (:func:`govshare.datastore.actions.downloads.build_part`).

Parts are started with multiprocessing's *spawn* — a fresh interpreter — not forked from the worker: a fork
inherits every lock the worker's other threads held at that moment (the heartbeat's SQLite calls hold SQLite's
allocator mutex now and then), and a part that needed one hung for good (seen in the 12th session's benchmark).
This module is what the new interpreter imports first, so it imports nothing of Django until it has set it up."""

from __future__ import annotations

import os
import signal
from typing import Any

#: what a part ignores: a stop asked of all the worker's processes (Ctrl-C, `systemctl stop`) is the worker's to
#: handle — it lets its job finish, and the parts with it — or it dies, and they with it (PR_SET_PDEATHSIG); the
#: worker starts a part with them blocked, so that none arrives before they are ignored
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def main(spec: dict[str, Any], conn: Any) -> None:
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)  # (a pending one is dropped)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
        import django

        django.setup()
        from govshare.datastore.actions.downloads import build_part
    except BaseException as exc:  # noqa: BLE001 — said to the worker, whatever it was
        try:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        finally:
            os._exit(1)
    build_part(spec, conn)
