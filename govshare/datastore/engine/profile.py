"""What the centre's copy of a table looks like, for data quality (EXC-7: completeness; 一数一源、多元校核 —
"one datum, one source" with cross-source verification).  Django-free; read-only.

* :func:`fill_counts` — the live rows of a table and, per item, how many of them have a value: completeness.
* :func:`cross_compare` — two tables of the centre (two providers' entries) joined on a shared key item
  (e.g. 统一社会信用代码), one item compared (e.g. 企业名称): how many keys both have, how many of those differ,
  the first differing ones, and how many keys only one side has.  Both tables are in the centre's database,
  so this is one query on each side, whatever their size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govshare.datastore.engine.store import Store, StoreError, _errors, _from_sqlite


@dataclass
class Fill:
    live_rows: int
    filled: list[int]  # per item (in item order): live rows with a value

    @property
    def completeness(self) -> float | None:
        """Share of the values present over all items and live rows (None: an empty table)."""
        if not self.live_rows or not self.filled:
            return None
        return sum(self.filled) / (self.live_rows * len(self.filled))


def fill_counts(store: Store, table: str) -> Fill:
    shape = store._shape(table)
    counts = ", ".join(f"count(c{i})" for i in range(1, len(shape.columns) + 1))
    sql = f'SELECT count(*), {counts} FROM "{table}" WHERE NOT _deleted'  # noqa: S608 — a checked name
    with _errors():
        row = store._conn.execute(sql).fetchone()
    return Fill(int(row[0]), [int(n) for n in row[1:]])


@dataclass
class Comparison:
    compared: int  # keys both tables have (live rows)
    differing: int  # of those, with another value of the compared item
    left_only: int
    right_only: int
    sample: list[dict[str, Any]] = field(default_factory=list)  # {"key", "left", "right"}, the first ones

    @property
    def consistency(self) -> float | None:
        return None if not self.compared else 1 - self.differing / self.compared


def _column(store: Store, table: str, item: str) -> tuple[str, str]:
    shape = store._shape(table)
    for index, column in enumerate(shape.columns, 1):
        if column.name == item:
            return f"c{index}", column.letter
    raise StoreError("shape_changed", f"{table} has no item {item!r}")


def cross_compare(store: Store, left: str, left_key: str, left_item: str, right: str, right_key: str,
                  right_item: str, *, limit: int = 200) -> Comparison:
    """Compare ``left_item`` of ``left`` with ``right_item`` of ``right`` for the live rows whose key items
    (``left_key``, ``right_key``: item names) are equal.  A value and an empty value differ; two empty values
    do not.  Text is compared without the spaces around it (a fixed-width ``CHAR`` column pads its values; the
    value rules ignore them too), and a text of spaces only is empty.  Keys that repeat on one side (a key item that
    is not the table's key) count once per pair."""
    lk, _ = _column(store, left, left_key)
    li, left_letter = _column(store, left, left_item)
    rk, _ = _column(store, right, right_key)
    ri, right_letter = _column(store, right, right_item)
    differ = "IS NOT" if store.kind == "sqlite" else "IS DISTINCT FROM"
    join = (f'FROM "{left}" a JOIN "{right}" b ON a.{lk} = b.{rk} '  # noqa: S608 — checked names
            "WHERE NOT a._deleted AND NOT b._deleted")
    a_value = f"nullif(trim(a.{li}), '')" if left_letter in "CM" else f"a.{li}"
    b_value = f"nullif(trim(b.{ri}), '')" if right_letter in "CM" else f"b.{ri}"
    only = ('SELECT count(*) FROM "{one}" a WHERE NOT a._deleted AND a.{k} IS NOT NULL AND NOT EXISTS '
            '(SELECT 1 FROM "{other}" b WHERE NOT b._deleted AND b.{ok} = a.{k})')
    with _errors():
        compared, differing = store._conn.execute(
            f"SELECT count(*), coalesce(sum(CASE WHEN {a_value} {differ} {b_value} THEN 1 ELSE 0 END), 0) {join}"
        ).fetchone()
        rows = store._conn.execute(
            f"SELECT a.{lk}, a.{li}, b.{ri} {join} AND {a_value} {differ} {b_value} ORDER BY a.{lk} "
            f"LIMIT {int(limit)}"
        ).fetchall()
        (left_only,) = store._conn.execute(only.format(one=left, other=right, k=lk, ok=rk)).fetchone()
        (right_only,) = store._conn.execute(only.format(one=right, other=left, k=rk, ok=lk)).fetchone()
    sample = []
    for key, a, b in rows:
        if store.kind == "sqlite":
            a, b = _from_sqlite(left_letter, a), _from_sqlite(right_letter, b)
        sample.append({"key": str(key), "left": None if a is None else str(a), "right": None if b is None else str(b)})
    return Comparison(int(compared), int(differing), int(left_only), int(right_only), sample)
