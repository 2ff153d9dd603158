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

import hashlib
from collections.abc import Callable, Iterable, Sequence

from govshare.datastore.engine import reader
from govshare.datastore.engine.store import Store, StoreColumn, StoreError

#: the longest text item (characters) that can be indexed: a PostgreSQL index entry holds at most ~2 700 bytes, and
#: a value of an indexed item longer than that would make every later write of its row fail
MAX_INDEXED_CHARS = 600


def prefix_of(table: str) -> str:
    return f"gsq_{hashlib.sha256(table.encode()).hexdigest()[:12]}_"


def names_of(table: str, position: int) -> tuple[str, str]:
    """The two index names of the item in column ``c{position}`` (ascending, descending)."""
    base = f"{prefix_of(table)}c{position}"
    return base + "a", base + "d"


def unindexable(column: StoreColumn, key: Sequence[str]) -> str | None:
    """Why ``column`` cannot be given a query index (a code), or None."""
    if list(key) == [column.name]:
        return "key"  # the key's own index serves it already
    if column.letter in "MG":
        return "type"  # long text, binary: no filters or sorts the API offers on them
    if column.letter == "C" and (column.length is None or column.length > MAX_INDEXED_CHARS):
        return "too_long"
    return None


def sync(store: Store, table: str, items: Iterable[str], *,
         progress: Callable[[str, int, int], None] | None = None) -> dict[str, str]:
    """Make ``table``'s query indexes those of ``items``: the others dropped, the missing (or unusable) ones built.
    Returns each item's failure code (``unknown_item``, ``key``, ``type``, ``too_long``, or a store error's
    ``code: detail``);
    the items missing from the result have their indexes ready.  ``progress(item, done, total)`` before each
    build."""
    columns, key = store.describe(table)
    position = {column.name: i for i, column in enumerate(columns, 1)}
    wanted: dict[str, tuple[str, str]] = {}
    failed: dict[str, str] = {}
    for item in dict.fromkeys(items):
        if item not in position:
            failed[item] = "unknown_item"
            continue
        why = unindexable(columns[position[item] - 1], key)
        if why is not None:
            failed[item] = why
            continue
        wanted[item] = names_of(table, position[item])
    present = store.indexes(table, prefix_of(table))
    keep = {name for pair in wanted.values() for name in pair}
    for name in sorted(set(present) - keep):
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
    return failed
