"""Signals of the catalog app."""

from __future__ import annotations

from django.dispatch import Signal

#: sent by ``do_update_classification`` inside its transaction, with ``classification`` and
#: ``changed`` (the names of the changed fields); the search index reindexes the entries filed
#: under it, whose documents carry the names of their classification path (CAT-9)
classification_changed = Signal()
