"""Helpers shared by the catalog actions."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed
from govshare.core.models import Department, RoleAssignment
from govshare.core.policy import Profile, profile_for_jurisdiction
from govshare.core.roles import Role
from govshare.core.validators import has_control_characters


def required_text(value: Any, field: str, max_len: int = 2000) -> str:
    text = (value or "").strip() if isinstance(value, str) else ("" if value is None else str(value).strip())
    if not text:
        raise ValidationFailed("required", _("This field is required."), field=field)
    if has_control_characters(text):  # PostgreSQL refuses NUL; no control character belongs in a note
        raise ValidationFailed("control_characters", _("Remove the control characters (such as NUL) from this text."),
                               field=field)
    if len(text) > max_len:
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field=field, max=max_len)
    return text


def profile_of(department: Department) -> Profile:
    return profile_for_jurisdiction(department.jurisdiction)


def department_editors(department: Department) -> list[Any]:
    """The people who compile a department's catalog: its administrators and data specialists."""
    rows = RoleAssignment.objects.filter(user__department=department, user__is_active=True,
                                         role__in=[Role.DEPT_ADMIN, Role.DATA_SPECIALIST]).select_related("user")
    return list({r.user.pk: r.user for r in rows}.values())


def centre_reviewers(department: Department) -> list[Any]:
    """Centre reviewers and administrators of the department's jurisdiction (else of any)."""
    rows = RoleAssignment.objects.filter(user__is_active=True,
                                         role__in=[Role.CENTRE_REVIEWER, Role.CENTRE_ADMIN]).select_related(
        "user__department")
    local = [r.user for r in rows if r.user.department and r.user.department.jurisdiction_id
             == department.jurisdiction_id]
    chosen = local or [r.user for r in rows]
    return list({u.pk: u for u in chosen}.values())


def reindex_after_commit(entry_ids: list[int]) -> None:
    """CAT-9: the search index follows every committed change (through a background task).

    All the ids touched by one transaction go to a single task: an import or the demo touching
    hundreds of entries opens the index once, not once per action."""
    if not entry_ids:
        return
    conn = transaction.get_connection()
    pending: set[int] | None = getattr(conn, "_govshare_reindex_ids", None)
    registered = pending is not None and any(
        getattr(item[1], "_govshare_reindex", False) for item in conn.run_on_commit)
    if pending is None or not registered:  # first change in this transaction (or the last one rolled back)
        pending = set()
        conn._govshare_reindex_ids = pending  # type: ignore[attr-defined]

        def enqueue() -> None:
            from govshare.catalog.search_tasks import enqueue_index

            ids = sorted(pending)
            conn._govshare_reindex_ids = None  # type: ignore[attr-defined]
            enqueue_index(ids)

        enqueue._govshare_reindex = True  # type: ignore[attr-defined]
        transaction.on_commit(enqueue)
    pending.update(entry_ids)
