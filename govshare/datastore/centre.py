"""The Django side of the data resource centre: which database (``GOVSHARE_DATASTORE_URL``), the table of
each catalog entry, and its health for ``/healthz``."""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings

from govshare.datastore.engine.store import Store, StoreError


def url() -> str:
    return str(settings.GOVSHARE_DATASTORE_URL)


def open_store() -> Store:
    """The centre's database (the caller closes it: ``with open_store() as store``)."""
    return Store.open(url())


def table_for(entry: Any) -> str:
    """The centre's table of a catalog entry: from its resource code, fixed once published
    (``102001/000001`` → ``e_102001_000001``)."""
    return "e_" + re.sub(r"[^0-9a-z]+", "_", str(entry.code).lower()).strip("_")


def health() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with open_store() as store:
            kind = store.kind
    except StoreError as exc:
        return {"ok": False, "error": exc.code}
    return {"ok": True, "kind": kind, "ms": round((time.monotonic() - started) * 1000, 1)}
