"""The datastore actions layer: its writes in the platform database (one module per noun: ``calls``,
``downloads``)."""

from govshare.datastore.actions.calls import take_call
from govshare.datastore.actions.downloads import (
    build_download,
    do_request_download,
    expire_downloads,
    record_fetch,
)

__all__ = ["build_download", "do_request_download", "expire_downloads", "record_fetch", "take_call"]
