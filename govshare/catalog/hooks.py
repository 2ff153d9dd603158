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


def _reindex_classification(sender: object, classification: Any, changed: list[str], **kwargs: object) -> None:
    """A renamed classification: the names of their classification path are in its entries' documents."""
    if "name" not in changed:
        return
    from django.db.models import Q

    from govshare.catalog.actions._common import reindex_after_commit
    from govshare.catalog.models import CatalogEntry

    code = classification.code
    under = (Q(current_version__classification__code__startswith=code)
             | Q(open_version__classification__code__startswith=code))
    reindex_after_commit(list(CatalogEntry.objects.filter(under).values_list("pk", flat=True)))


def connect() -> None:
    from govshare.catalog.signals import classification_changed
    from govshare.core.signals import department_changed

    department_changed.connect(_reindex_department, dispatch_uid="catalog.reindex_department")
    classification_changed.connect(_reindex_classification, dispatch_uid="catalog.reindex_classification")


connect()


# ------------------------------------------------------------------ task notices (issue 8: an inbox that stays useful)

def _entry_waits_for(entry: Any) -> str | None:
    """A review (submitted) or a corrected resubmission (returned) of the open version; else nothing."""
    from govshare.catalog.models import EntryVersion

    version = entry.open_version
    if version is None or version.state not in (EntryVersion.State.SUBMITTED, EntryVersion.State.RETURNED):
        return None
    return f"{version.pk}:{version.state}"


def _open_or_none(obj: Any) -> str | None:
    return "open" if obj.status == type(obj).Status.OPEN else None


def register_task_notices() -> None:
    from govshare.catalog.models import CatalogEntry, EntryVersion, Feedback, UpdateTask
    from govshare.core.notify import register_task_resolver

    # the centre reviews a submitted entry or withdrawal; the provider corrects a returned one
    register_task_resolver(CatalogEntry, ["catalog.review_requested", "catalog.returned"], _entry_waits_for,
                           watch={EntryVersion: lambda version: version.entry_id})
    # the department updates its catalog (the centre, told of an overdue task, only follows it)
    register_task_resolver(UpdateTask, ["catalog.update_task", "catalog.update_task_overdue"], _open_or_none,
                           assignee=lambda task, user: user.department_id == task.department_id)
    # the provider answers feedback on its entry
    register_task_resolver(Feedback, ["catalog.feedback"], _open_or_none)


register_task_notices()
