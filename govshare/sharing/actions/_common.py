"""Helpers shared by the sharing actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions import centre_reviewers, department_editors, profile_of, required_text
from govshare.catalog.models import CatalogEntry, EntryVersion
from govshare.core.errors import GovshareError, ManyProblems, ValidationFailed
from govshare.core.models import Deadline, Department
from govshare.core.policy import Profile
from govshare.core.validators import has_control_characters
from govshare.core.workdays import bind_deadline, open_deadline, working_days_between

__all__ = ["centre_reviewers", "department_editors", "profile_of", "required_text", "optional_text", "check_items",
           "check_purpose", "start_clock", "close_clock", "clock_usage", "entry_items", "URLS", "ManyProblems",
           "collect", "assign_number"]

URLS = {
    "application": "/sharing/applications/{pk}/",
    "grant": "/sharing/grants/{pk}/",
    "case": "/sharing/cases/{pk}/",
    "request": "/sharing/requests/{pk}/",
    "error": "/sharing/errors/{pk}/",
}


def url(kind: str, pk: Any) -> str:
    return URLS[kind].format(pk=pk)


def optional_text(value: Any, field: str, max_len: int = 2000) -> str:
    text = (value or "").strip() if isinstance(value, str) else ("" if value is None else str(value).strip())
    if has_control_characters(text):
        raise ValidationFailed("control_characters", _("Remove the control characters (such as NUL) from this text."),
                               field=field)
    if len(text) > max_len:
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field=field, max=max_len)
    return text


def entry_items(version: EntryVersion) -> list[str]:
    return list(version.items.order_by("position").values_list("name", flat=True))


def check_items(version: EntryVersion, items: Any, field: str = "items", *, allowed: list[str] | None = None) -> list[str]:
    """The requested items: a non-empty subset of the entry's items (or of ``allowed``), in entry order."""
    known = entry_items(version)
    scope = allowed if allowed is not None else known
    if items is None or (isinstance(items, list | tuple) and not items):
        raise ValidationFailed("required", _("Choose at least one information item."), field=field)
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValidationFailed("invalid", _("Give the information items as a list of names."), field=field)
    names = [i.strip() for i in items]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationFailed("unknown_items", _("The entry has no information items named: %(items)s."),
                               field=field, items="、".join(unknown))
    outside = [n for n in names if n not in scope]
    if outside:
        raise ValidationFailed("items_outside_scope", _("These items were not requested: %(items)s."),
                               field=field, items="、".join(outside))
    chosen = set(names)
    return [n for n in known if n in chosen]


def check_purpose(profile: Profile, purpose: Any, field: str = "purpose") -> str:
    allowed = profile.list("share_purposes")
    value = (purpose or "").strip() if isinstance(purpose, str) else ""
    if not value:
        raise ValidationFailed("required", _("This field is required."), field=field)
    if value not in allowed:
        raise ValidationFailed("invalid_purpose", _("Unknown purpose %(value)s; choose one of %(choices)s."),
                               field=field, value=value, choices="、".join(allowed))
    return value


def provider_profile(entry: CatalogEntry) -> Profile:
    return profile_of(entry.provider)


def start_clock(obj: Any, kind: str, profile: Profile, start: dt.datetime | None = None) -> Deadline:
    """Open the working-day clock ``kind`` for ``obj`` (saved) from today (the start day is not counted)."""
    start_date = timezone.localdate(start) if start else timezone.localdate()
    deadline = open_deadline(obj, kind, profile.name, start_date)
    bind_deadline(deadline, obj)
    return deadline


def close_clock(deadline: Deadline | None, at: dt.datetime | None = None) -> None:
    if deadline is not None and deadline.closed_at is None:
        deadline.closed_at = at or timezone.now()
        Deadline.objects.filter(pk=deadline.pk).update(closed_at=deadline.closed_at)


def clock_usage(deadline: Deadline | None, at: dt.datetime | None = None) -> tuple[int | None, bool | None]:
    """Working days from the clock's start to ``at`` and whether that was on time."""
    if deadline is None:
        return None, None
    at = at or timezone.now()
    used = working_days_between(deadline.start_date, timezone.localdate(at)) if timezone.localdate(at) >= \
        deadline.start_date else 0
    return used, at <= deadline.due_at


def deadline_ct(model: Any) -> ContentType:
    return ContentType.objects.get_for_model(model)


def dept_users(department: Department) -> list[Any]:
    return department_editors(department)


def collect(problems: list[GovshareError], fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a check; a :class:`ValidationFailed` joins ``problems`` (every problem of a form at once)."""
    try:
        return fn(*args, **kwargs)
    except ValidationFailed as exc:
        problems.append(exc)
        return None


def assign_number(obj: Any, prefix: str) -> None:
    """Give a saved object its readable number (``GX2026-000042``)."""
    from govshare.sharing.models import number_for

    obj.number = number_for(prefix, obj)
    type(obj).objects.filter(pk=obj.pk).update(number=obj.number)
