"""Field-by-field differences between two versions of an entry (CAT-3)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import EntryVersion, version_content

FIELD_LABELS: dict[str, Any] = {
    "classification": _("classification"),
    "name": _("resource name"),
    "summary": _("summary"),
    "keywords": _("keywords"),
    "format_class": _("format class"),
    "format": _("format"),
    "share_type": _("share type"),
    "share_condition": _("share condition"),
    "share_methods": _("share methods"),
    "share_basis": _("legal or policy basis"),
    "open_attribute": _("open attribute"),
    "open_condition": _("open condition"),
    "update_cycle": _("update cycle"),
    "update_cycle_note": _("update cycle (other)"),
    "domain": _("open-data domain"),
    "related_codes": _("related resource codes"),
}
ITEM_FIELDS = ["data_type", "length", "description", "is_primary_key", "is_sensitive", "masking_rule"]


def diff_content(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """A list of changes: ``{"field", "before", "after"}`` for entry fields, and for information
    items ``{"field": "items", "item", "change": added|removed|changed, "before", "after"}``."""
    before = before or {}
    changes: list[dict[str, Any]] = []
    for key in FIELD_LABELS:
        if before.get(key) != after.get(key):
            changes.append({"field": key, "before": before.get(key), "after": after.get(key)})
    old_items = {i["name"]: i for i in before.get("items", [])}
    new_items = {i["name"]: i for i in after.get("items", [])}
    for name, item in new_items.items():
        if name not in old_items:
            changes.append({"field": "items", "item": name, "change": "added", "before": None, "after": item})
        else:
            old = old_items[name]
            changed = {k: (old.get(k), item.get(k)) for k in ITEM_FIELDS if old.get(k) != item.get(k)}
            if changed:
                changes.append({"field": "items", "item": name, "change": "changed",
                                "before": {k: v[0] for k, v in changed.items()},
                                "after": {k: v[1] for k, v in changed.items()}})
    for name, item in old_items.items():
        if name not in new_items:
            changes.append({"field": "items", "item": name, "change": "removed", "before": item, "after": None})
    old_order = [n for n in old_items if n in new_items]
    new_order = [n for n in new_items if n in old_items]
    if old_order != new_order:
        changes.append({"field": "items_order", "before": old_order, "after": new_order})
    return changes


def diff_versions(old: EntryVersion | None, new: EntryVersion) -> list[dict[str, Any]]:
    return diff_content(version_content(old) if old is not None else None, version_content(new))


def previous_version(version: EntryVersion) -> EntryVersion | None:
    """The version this one was compared against: the latest earlier version that took effect
    (published or superseded), else the version just before it."""
    earlier = version.entry.versions.filter(number__lt=version.number)
    effective = earlier.filter(state__in=[EntryVersion.State.PUBLISHED, EntryVersion.State.SUPERSEDED],
                               kind=EntryVersion.Kind.CONTENT).order_by("-number").first()
    return effective or earlier.order_by("-number").first()


def summarize(changes: list[dict[str, Any]]) -> str:
    """A short human line: the labels of the changed fields."""
    names: list[str] = []
    for change in changes:
        label = str(FIELD_LABELS.get(change["field"], _("information items")))
        if label not in names:
            names.append(label)
    return "、".join(names)
