"""Periodic catalog work run by every worker (see :mod:`govshare.core.periodic`)."""

from __future__ import annotations

from typing import Any

from govshare.core import periodic


@periodic.register("catalog.apply_due_changes", every_seconds=60)
def apply_due_changes() -> int:
    """CAT-4: approved changes take effect when their notice period ends."""
    from govshare.catalog.actions import apply_due_changes as run

    return run()


@periodic.register("catalog.notify_overdue_update_tasks", every_seconds=300)
def notify_overdue_update_tasks() -> int:
    """CAT-5: tell the department and the centre when a catalog-update task is overdue."""
    from govshare.catalog.actions import notify_overdue

    return notify_overdue()


def _reindex_department(sender: object, department: Any, changed: list[str], **kwargs: object) -> None:
    """A renamed or re-coded department: its entries' provider name and code are in the index."""
    if not {"name", "short_name", "uscc"} & set(changed):
        return
    from govshare.catalog.actions._common import reindex_after_commit
    from govshare.catalog.models import CatalogEntry

    reindex_after_commit(list(CatalogEntry.objects.filter(provider=department).values_list("pk", flat=True)))


def connect() -> None:
    from govshare.core.signals import department_changed

    department_changed.connect(_reindex_department, dispatch_uid="catalog.reindex_department")


connect()
