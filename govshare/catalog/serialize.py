"""One JSON shape for an entry, shared by the API, JSON import/export, snapshots and DCAT."""

from __future__ import annotations

from typing import Any

from govshare.catalog.models import CatalogEntry, EntryVersion, version_content

FORMAT_VERSION = 1


def entry_dict(entry: CatalogEntry, version: EntryVersion | None = None) -> dict[str, Any]:
    """``version`` defaults to the published one (or the one in progress for a draft)."""
    version = version or entry.shown_version
    data: dict[str, Any] = {
        "code": entry.code,
        "provider": entry.provider.code,
        "provider_name": entry.provider.name,
        "provider_code": entry.provider.uscc,
        "status": entry.status,
        "version": version.number if version else None,
        "version_state": version.state if version else None,
        "first_published_at": entry.first_published_at.isoformat() if entry.first_published_at else None,
        "published_at": entry.published_at.isoformat() if entry.published_at else None,
        "project": entry.project.code if entry.project_id and entry.project else None,
    }
    if version is not None:
        data.update(version_content(version))
        data["classification_name"] = version.classification.name
    return data
