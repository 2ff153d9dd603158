"""Naming a catalog entry in a path — by its id (``42``) or its resource code (``301/000001``) — and finding
it for a user through the permission chokepoint (missing and not visible: the same 404).  Used by every app's
API that addresses an entry (the catalog's, the data API)."""

from __future__ import annotations

from typing import Annotated, Any

from django.db.models import QuerySet
from django.urls import register_converter
from ninja import Path

from govshare.catalog.models import CatalogEntry
from govshare.core.errors import NotFound
from govshare.core.permissions import Action, get_for
from govshare.core.validators import MAX_DB_ID


class EntryRefConverter:
    """An entry id (``42``) or a resource code (``301/000001``) in a path."""

    regex = r"[0-9]{1,30}(?:/[0-9]{1,30})?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: Any) -> str:
        return str(value)


register_converter(EntryRefConverter, "entryref")

#: the entry in a path, as the document states it (issue 9): what the converter above accepts
EntryRefPath = Annotated[str, Path(pattern=rf"^{EntryRefConverter.regex}$",
                                   description="the entry's id (42) or resource code (301/000001)")]


def entry_qs() -> QuerySet[CatalogEntry]:
    return CatalogEntry.objects.select_related("provider", "project", "current_version__classification",
                                               "open_version__classification")


def get_entry(user: Any, ref: str) -> CatalogEntry:
    """The entry with this id or resource code, if ``user`` may see it (else 404, missing or not)."""
    if "/" in ref:
        return get_for(user, Action.VIEW, entry_qs(), code=ref)
    pk = int(ref)
    if not 1 <= pk <= MAX_DB_ID:
        raise NotFound("catalogentry")
    return get_for(user, Action.VIEW, entry_qs(), pk=pk)


def get_published_entry(ref: str) -> CatalogEntry:
    """The published entry with this id or resource code, for a caller that is not a user (a consuming system
    with its key: government, so every published entry is in its catalog); else 404."""
    # what the channels read of an entry (its code, provider, current version and items): fewer joins to compile
    qs = CatalogEntry.objects.select_related("provider", "current_version").filter(
        status=CatalogEntry.Status.PUBLISHED)
    if "/" not in ref and not 1 <= int(ref) <= MAX_DB_ID:
        raise NotFound("catalogentry")
    # unique either way: no ORDER BY to compile and run (a data-API call makes this lookup every time)
    found = next(iter(qs.filter(**({"code": ref} if "/" in ref else {"pk": int(ref)}))[:1]), None)
    if found is None:
        raise NotFound("catalogentry")
    return found
