"""Bookkeeping of the search index (CAT-9): written by the index itself after a rebuild, no user."""

from __future__ import annotations

from django.utils import timezone

from govshare.catalog.models import SearchIndexState


def record_rebuild(documents: int) -> None:
    """Note when the search index was last rebuilt and how many documents it holds."""
    state, _created = SearchIndexState.objects.get_or_create(pk=1)
    state.rebuilt_at = timezone.now()
    state.documents = documents
    state.save(update_fields=["rebuilt_at", "documents"])
