"""Query indexes of the centre's tables (issue 11, the data API's speed target; SHR-9).  Django-free.

The centre indexes each table's key and change sequence only.  A filter or sort on another item then reads and
sorts every matching row (on 10 M rows, about a second a page: docs/benchmarks.md).  The provider chooses the
items consumers filter and sort on (:mod:`govshare.datastore.actions.indexes`); for each, two indexes of the live
rows are kept — one per sort direction, each the item then the key, with exactly the terms the reader's ORDER BY
uses (:func:`govshare.datastore.engine.reader.index_terms`), so the planner takes them for the sort and for
equality and range filters on the item.

Names are ``gsq_<12 hex digits of the table's name>_c<column><a|d>``: found again per table, never colliding with
the store's own.  :func:`sync` makes the table's indexes those asked for — drops the others, builds the missing
ones and those an interrupted build left unusable — and can be run again at any time (after a ``kill -9`` too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from govshare.datastore.engine import reader
from govshare.datastore.engine.store import (
    QUERY_INDEX_MAX_BYTES,
    Store,
    StoreColumn,
    StoreError,
    query_index_prefix,
    query_index_problem,
)

__all__ = ["QUERY_INDEX_MAX_BYTES", "names_of", "prefix_of", "sync", "unindexable"]


def prefix_of(table: str) -> str:
    return query_index_prefix(table)


def names_of(table: str, position: int) -> tuple[str, str]:
    """The two index names of the item in column ``c{position}`` (ascending, descending)."""
    base = f"{prefix_of(table)}c{position}"
    return base + "a", base + "d"


def unindexable(column: StoreColumn, columns: Sequence[StoreColumn], key: Sequence[str]) -> str | None:
    """Why ``column`` cannot be given a query index (``key``, ``type``, ``too_long``), or None
    (:func:`govshare.datastore.engine.store.query_index_problem`: the store drops an index that a longer item
    makes too long)."""
    return query_index_problem(column, columns, key)


def sync(store: Store, table: str, items: Iterable[str] | Callable[[], Iterable[str]], *,
         progress: Callable[[str, int, int], None] | None = None) -> tuple[list[str], dict[str, str]]:
    """Make ``table``'s query indexes those of ``items`` — the others dropped, the missing (or unusable) ones built —
    one sync of the table at a time (:meth:`Store.query_index_lock`); ``items`` a callable is read once the lock is
    held (so a sync never builds what a later choice no longer wants).  Returns the items synced and each one's
    failure code (``unknown_item``, ``key``, ``type``, ``too_long``, or a store error's ``code: detail``); an item
    without one has its indexes ready.  ``progress(item, done, total)`` before each build."""
    with store.query_index_lock(table):
        chosen = list(dict.fromkeys(items() if callable(items) else items))
        columns, key = store.describe(table)
        position = {column.name: i for i, column in enumerate(columns, 1)}
        wanted: dict[str, tuple[str, str]] = {}
        failed: dict[str, str] = {}
        for item in chosen:
            if item not in position:
                failed[item] = "unknown_item"
                continue
            why = unindexable(columns[position[item] - 1], columns, key)
            if why is not None:
                failed[item] = why
                continue
            wanted[item] = names_of(table, position[item])
        present = store.indexes(table, prefix_of(table))
        keep = {name for pair in wanted.values() for name in pair}
        # those no longer chosen, and those a killed build left unusable (built again below)
        for name in sorted(name for name, usable in present.items() if name not in keep or not usable):
            store.drop_index(name)
        for done, (item, pair) in enumerate(wanted.items()):
            if all(present.get(name) for name in pair):
                continue
            if progress is not None:
                progress(item, done, len(wanted))
            try:
                for name, descending in zip(pair, (False, True), strict=True):
                    if not present.get(name):
                        store.create_index(name, table, reader.index_terms(store, table, item, descending))
            except StoreError as exc:  # "code: detail" — what the database said
                failed[item] = f"{exc.code}: {exc.detail}" if exc.detail else exc.code
    return chosen, failed
