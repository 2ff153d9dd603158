"""The Django side of the data resource centre: which database (``GOVSHARE_DATASTORE_URL``), the table of
each catalog entry, and its health for ``/healthz``."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from govshare.datastore.engine.store import Store, StoreError


def url() -> str:
    return str(settings.GOVSHARE_DATASTORE_URL)


def open_store() -> Store:
    """The centre's database (the caller closes it: ``with open_store() as store``)."""
    return Store.open(url())


_readers = threading.local()


@contextlib.contextmanager
def reading_store() -> Iterator[Store]:
    """The centre for a read-only request of the data API: one store kept open per thread (a PostgreSQL centre:
    no connection made per request — measured ~10 ms each), checked idle and with its table knowledge forgotten at
    each use (:meth:`Store.fresh_for_reading`); one that is not (a failed statement, a lost server) is closed and
    another opened."""
    store: Store | None = getattr(_readers, "store", None)
    if store is not None and (store.url != url() or not store.fresh_for_reading()):
        store.close()
        store = None
    if store is None:
        store = Store.open(url())
        _readers.store = store
    yield store  # an error inside leaves a connection that is not idle: the next use opens another


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
