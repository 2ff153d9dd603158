"""Periodic datastore work run by every worker (see :mod:`govshare.core.periodic`)."""

from __future__ import annotations

from govshare.core import periodic


@periodic.register("datastore.expire_downloads", every_seconds=600)
def expire_downloads() -> int:
    """Batch downloads past their time lose their files (issue 11 item 4)."""
    from govshare.datastore.actions.downloads import expire_downloads as expire

    return expire()


@periodic.register("datastore.query_indexes", every_seconds=60)
def build_waiting_query_indexes() -> int:
    """Query indexes chosen before an entry's first copy are built once the centre holds its table."""
    from govshare.datastore.actions.indexes import build_waiting

    return build_waiting()
