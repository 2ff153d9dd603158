"""The datastore actions layer: its writes in the platform database (one module per noun: ``calls``,
``downloads``, ``indexes``)."""

from govshare.datastore.actions.calls import take_call
from govshare.datastore.actions.downloads import (
    build_download,
    do_request_download,
    expire_downloads,
    record_fetch,
)
from govshare.datastore.actions.indexes import build_query_indexes, do_set_query_indexes

__all__ = ["build_download", "build_query_indexes", "do_request_download", "do_set_query_indexes", "expire_downloads", "record_fetch", "take_call"]
