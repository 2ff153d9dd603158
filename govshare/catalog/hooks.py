"""Periodic catalog work run by every worker (see :mod:`govshare.core.periodic`)."""

from __future__ import annotations

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
