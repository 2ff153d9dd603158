"""Reading the centre's rows for the delivery channels (issue 11: the data API — SHR-9 联机查询 — and downloads, SHR-4).
Django-free: who may read which items, and masking, are decided before a :class:`RowQuery` is made.

A query names the items to return, filters on items (``eq``, ``in``, ``gte``/``gt``/``lte``/``lt``, ``prefix``,
``null``), a sort (items, each ascending or descending; the table's key always follows, so the order is total)
and a page: **keyset pagination** — the next page starts after the sort values of the last row given
(:attr:`RowPage.after`), so a page costs the same wherever it is and a row is never given twice or skipped when
rows change between pages (a row changed to sort elsewhere moves, as in any live table).  Tombstoned rows are
never read.  NULLs sort after every value, in both directions.

Counting: :func:`count_rows` counts exactly up to a limit; beyond it PostgreSQL's planner estimate is given
(``estimate``), or on SQLite "more than the limit" (``at_least``) — never a silently truncated answer.

SQLite keeps decimals (N, Y) as canonical text: equality compares that text exactly, ranges and sorts compare
them as doubles (``CAST … AS REAL``: 15–17 significant digits).  Dates and times are ISO text there and compare
as such.  Only item positions and checked operators make the SQL; every value is a parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from govshare.datastore.engine.store import Store, StoreColumn, decimal_text

OPERATORS = ("eq", "in", "gte", "gt", "lte", "lt", "prefix", "null")
#: the longest number a filter takes (characters), and the largest decimal exponent (digits before or after the
#: point): beyond them the value cannot be one the centre holds
MAX_NUMBER_TEXT = 120
MAX_DECIMAL_DIGITS = 100
#: the most values an ``in`` filter takes
MAX_IN = 1000
_COMPARE = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


class QueryError(ValueError):
    """A query that cannot be run as asked; ``code`` and ``params`` name the place (the item, the value)."""

    def __init__(self, code: str, detail: str, **params: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.params = code, detail, params


@dataclass(frozen=True)
class Filter:
    item: str
    op: str
    values: tuple[Any, ...] = ()  # converted to the item's type (parse_value); ``null``: (True,) or (False,)


@dataclass
class RowQuery:
    table: str
    items: Sequence[str]  # what to return, in this order
    filters: Sequence[Filter] = ()
    sort: Sequence[tuple[str, bool]] = ()  # (item, descending)
    after: Sequence[Any] | None = None  # the sort values then the key values of the last row of the page before
    limit: int = 100
    until: Sequence[Any] | None = None  # a position (as ``after``): rows at or before it only (a download's part)


@dataclass
class RowPage:
    rows: list[tuple[Any, ...]]  # values of ``items`` in order
    after: list[Any] | None  # where the next page starts (None: this was the last)
    order: list[str] = field(default_factory=list)  # the items whose values ``after`` holds


def parse_value(column: StoreColumn, text: str) -> Any:
    """A filter's text as a value of ``column``'s type; :class:`QueryError` (``bad_value``) naming what was
    expected."""
    letter = column.letter
    raw = text.strip() if letter not in "CM" else text
    try:
        if letter in "CM":
            if "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):  # NUL, lone surrogates
                raise ValueError
            return text
        if letter in "NY":
            if len(raw) > MAX_NUMBER_TEXT:
                raise ValueError
            number = Decimal(raw)
            # a finite decimal of sane size: 1E999999999 would be written out digit by digit (review 2: GiBs)
            if not number.is_finite() or abs(number.adjusted()) > MAX_DECIMAL_DIGITS:
                raise ValueError
            return number
        if letter == "I":
            if len(raw) > MAX_NUMBER_TEXT:
                raise ValueError
            whole = int(raw)
            if not -(1 << 63) <= whole < (1 << 63):  # the centre's integers are 64-bit
                raise ValueError
            return whole
        if letter in "BF":
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        if letter == "D":
            return dt.date.fromisoformat(raw)
        if letter == "T":
            moment = dt.datetime.fromisoformat(raw)
            return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
        if letter == "L":
            lowered = raw.lower()
            if lowered in ("true", "1", "是", "t", "yes"):
                return True
            if lowered in ("false", "0", "否", "f", "no"):
                return False
            raise ValueError
    except (ValueError, InvalidOperation, OverflowError):
        pass
    else:
        raise QueryError("bad_value", f"item {column.name!r} ({letter}) cannot be filtered", item=column.name)
    expected = {"N": "a number", "Y": "a number", "I": "an integer", "B": "a number", "F": "a number",
                "D": "a date (YYYY-MM-DD)", "T": "a date and time (YYYY-MM-DDTHH:MM:SS)", "L": "true or false",
                "C": "text without NUL", "M": "text without NUL"}.get(letter, letter)
    raise QueryError("bad_value", f"{column.name}: {text[:60]!r} is not {expected}", item=column.name,
                     value=text[:60], expected=expected)


def check_operator(column: StoreColumn, op: str) -> None:
    """:class:`QueryError` (``bad_operator``) unless ``op`` filters items of ``column``'s type."""
    if op not in OPERATORS:
        raise QueryError("bad_operator", f"unknown operator {op!r}", item=column.name, op=op)
    if op == "prefix" and column.letter not in "CM":
        raise QueryError("bad_operator", f"{column.name}: prefix filters take text items only", item=column.name,
                         op=op)
    if op in _COMPARE and column.letter in "LGM":
        raise QueryError("bad_operator", f"{column.name}: no range filters on this type ({column.letter})",
                         item=column.name, op=op)


class _Built:
    """The SQL pieces of one query on one store."""

    def __init__(self, store: Store, query: RowQuery) -> None:
        columns, key = store.describe(query.table)
        self.store, self.query = store, query
        self.index = {column.name: i for i, column in enumerate(columns)}
        self.columns = columns
        self.key = key
        for name in [*query.items, *(f.item for f in query.filters), *(s for s, _ in query.sort)]:
            if name not in self.index:
                raise QueryError("unknown_item", f"the table has no item {name!r}", item=name)
        self.params: list[Any] = []
        self.where = self._where()

    def column(self, name: str) -> str:
        return f"c{self.index[name] + 1}"

    def letter(self, name: str) -> str:
        return self.columns[self.index[name]].letter

    def ordered(self, name: str) -> str:
        """The expression an item sorts and compares by."""
        if self.store.kind == "sqlite" and self.letter(name) in "NY":
            return f"CAST({self.column(name)} AS REAL)"
        return self.column(name)

    def ordered_param(self, name: str, value: Any) -> Any:
        if self.store.kind == "sqlite" and self.letter(name) in "NY":
            return float(value)
        return self.store.param(self.letter(name), value)

    def _where(self) -> list[str]:
        parts = ["NOT _deleted"]
        for one in self.query.filters:
            check_operator(self.columns[self.index[one.item]], one.op)
            column, letter = self.column(one.item), self.letter(one.item)
            if one.op == "null":
                parts.append(f"{column} IS {'' if one.values and one.values[0] else 'NOT '}NULL")
            elif one.op in ("eq", "in"):
                if not one.values:
                    raise QueryError("bad_value", f"{one.item}: no value given", item=one.item)
                if len(one.values) > MAX_IN:
                    raise QueryError("too_many_values", f"{one.item}: more than {MAX_IN} values", item=one.item,
                                     limit=MAX_IN)
                marks = ", ".join("?" * len(one.values))
                parts.append(f"{column} = ?" if len(one.values) == 1 else f"{column} IN ({marks})")
                self.params.extend(self._exact(letter, v) for v in one.values)
            elif one.op == "prefix":
                prefix = str(one.values[0])
                # substr/length, not LIKE: no wildcard in the value can widen the match, no collation narrows it
                parts.append(f"substr({column}, 1, ?) = ?")
                self.params.extend([len(prefix), prefix])
            else:
                parts.append(f"{self.ordered(one.item)} {_COMPARE[one.op]} ?")
                self.params.append(self.ordered_param(one.item, one.values[0]))
        return parts

    def _exact(self, letter: str, value: Any) -> Any:
        if self.store.kind == "sqlite" and letter in "NY":
            return decimal_text(value)
        return self.store.param(letter, value)

    def order(self) -> list[tuple[str, bool, bool]]:
        """(item, descending, nullable) of the whole order: the sort, then the key items not in it."""
        seen = {name for name, _ in self.query.sort}
        order = [(name, desc, name not in self.key) for name, desc in self.query.sort]
        order += [(name, False, False) for name in self.key if name not in seen]
        return order

    def terms(self, order: list[tuple[str, bool, bool]]) -> list[tuple[str, bool, bool, str, Any]]:
        """The order's SQL terms: (expression, descending, nullable, item, parameter of a value).  A decimal on
        SQLite is two terms: as a double, then its exact text — decimals equal as doubles (beyond 15 digits) still
        have one order, and a page never ends between them (review H6)."""
        found: list[tuple[str, bool, bool, str, Any]] = []
        for name, desc, nullable in order:
            found.append((self.ordered(name), desc, nullable, name, lambda v, n=name: self.ordered_param(n, v)))
            if self.store.kind == "sqlite" and self.letter(name) in "NY":
                found.append((self.column(name), desc, nullable, name, decimal_text))
        return found

    def order_by(self, order: list[tuple[str, bool, bool]]) -> list[str]:
        """The ORDER BY terms of ``order`` — NULLs after every value in both directions: PostgreSQL's own
        ``NULLS LAST``; on SQLite ``(expr IS NULL)`` first (its NULLs sort first).  The same terms are the columns of
        the query indexes (:func:`index_terms`), so an index made for a sort is one the planner takes for it."""
        found: list[str] = []
        for expr, desc, nullable, _name, _param in self.terms(order):
            term = expr + (" DESC" if desc else "")
            if nullable and self.store.kind == "postgresql":
                found.append(term + " NULLS LAST")
            elif nullable:
                found.extend([f"({expr} IS NULL)", term])
            else:
                found.append(term)
        return found

    def after(self, order: list[tuple[str, bool, bool]], values: Sequence[Any], *,
              inclusive_before: bool = False) -> tuple[str, list[Any]]:
        """The condition "strictly after ``values``" in ``order`` (NULLs last in both directions) — or, with
        ``inclusive_before``, its opposite: "at or before" them."""
        if len(values) != len(order):
            raise QueryError("bad_cursor", "the cursor does not fit this query")
        given = dict(zip([name for name, _d, _n in order], values, strict=True))
        terms = self.terms(order)
        if all(not nullable for _e, _d, nullable, _n, _p in terms) and len({desc for _e, desc, *_rest in terms}) == 1 \
                and all(given[name] is not None for _e, _d, _nl, name, _p in terms):
            # the usual case — the key, or a sort on key items: one row-value comparison, which the key's index
            # serves as a range (the OR form below made PostgreSQL read the index from its start on every page)
            desc = terms[0][1]
            left = ", ".join(expr for expr, *_rest in terms)
            marks = ", ".join("?" for _ in terms)
            operator = ("<" if desc else ">") if not inclusive_before else (">=" if desc else "<=")
            return f"(({left}) {operator} ({marks}))", [param(given[name]) for _e, _d, _nl, name, param in terms]
        alternatives: list[str] = []
        params: list[Any] = []
        equal: list[str] = []
        equal_params: list[Any] = []
        for expr, desc, nullable, name, param_of in terms:
            value = given[name]
            if value is None:
                beyond, beyond_params = "1 = 0", []  # after a NULL come only NULLs (equal ones)
                same, same_params = f"{expr} IS NULL", []
            else:
                param = param_of(value)
                beyond = f"({expr} {'<' if desc else '>'} ? OR {expr} IS NULL)" if nullable else \
                    f"{expr} {'<' if desc else '>'} ?"
                beyond_params = [param]
                same, same_params = f"{expr} = ?", [param]
            alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
            params.extend([*equal_params, *beyond_params])
            equal.append(same)
            equal_params.extend(same_params)
        if inclusive_before:
            return "(NOT (" + " OR ".join(alternatives) + "))", params
        return "(" + " OR ".join(alternatives) + ")", params


def read_rows(store: Store, query: RowQuery) -> RowPage:
    """One page of ``query``: up to ``limit`` rows and where the next page starts."""
    if isinstance(query.limit, bool) or not isinstance(query.limit, int) or not 1 <= query.limit <= 10_000:
        raise QueryError("bad_limit", "limit: 1 to 10 000")
    built = _Built(store, query)
    order = built.order()
    if query.until is not None:  # at or before: not after (the key ends every order, so no two rows are equal)
        beyond, beyond_params = built.after(order, query.until, inclusive_before=True)
        built.where.append(beyond)
        built.params.extend(beyond_params)
    wanted = list(query.items)
    extra = [name for name, _d, _n in order if name not in wanted]
    selected = [*wanted, *extra]
    keys = ", ".join(built.order_by(order))
    letters = [built.letter(n) for n in selected]

    def page(conditions: list[str], more: list[Any], limit: int) -> list[tuple[Any, ...]]:
        sql = (f'SELECT {", ".join(built.column(n) for n in selected)} FROM "{query.table}" '  # noqa: S608 — checked
               f"WHERE {' AND '.join([*built.where, *conditions])} ORDER BY {keys} LIMIT ?")
        return store.read(sql, [*built.params, *more, limit], letters)

    if query.after is None:
        rows = page([], [], query.limit + 1)
    else:
        condition, more = built.after(order, query.after)
        first_expr, first_desc, first_nullable, _name, first_param = built.terms(order)[0]
        first_value = query.after[0]  # the cursor's values are in the order's order (checked by after())
        if first_nullable and first_value is not None:
            # a page after a value of a nullable sort item: the rows with a value after it — bounded, so that the
            # item's index is read from the cursor on, not from its start (review of the 11th session) — then, if
            # the page is not full, the rows without one (they come last, all of them after any value)
            bound = f"{first_expr} {'<=' if first_desc else '>='} ?"
            rows = page([bound, condition], [first_param(first_value), *more], query.limit + 1)
            if len(rows) <= query.limit:
                rows += page([f"{first_expr} IS NULL"], [], query.limit + 1 - len(rows))
        else:
            rows = page([condition], more, query.limit + 1)
    more_rows = len(rows) > query.limit
    rows = rows[:query.limit]
    after = None
    if more_rows and rows:
        last = rows[-1]
        position = {name: last[i] for i, name in enumerate(selected)}
        after = [position[name] for name, _d, _n in order]
    return RowPage([row[:len(wanted)] for row in rows], after, [name for name, _d, _n in order])


def _bounded(store: Store, query: RowQuery) -> tuple[_Built, list[tuple[str, bool, bool]]]:
    """The query's pieces with its ``after`` (strictly after) and ``until`` (at or before) in its conditions."""
    built = _Built(store, query)
    order = built.order()
    for name, value in (("after", query.after), ("until", query.until)):
        if value is not None:
            condition, more = built.after(order, value, inclusive_before=name == "until")
            built.where.append(condition)
            built.params.extend(more)
    return built, order


def selection(store: Store, query: RowQuery, limit: int) -> tuple[str, list[Any]]:
    """Every column of the first ``limit`` rows ``query`` matches after its ``after`` (at or before its ``until``),
    in its order — a PostgreSQL statement with ``%s`` placeholders, and its parameters."""
    built, order = _bounded(store, query)
    sql = (f'SELECT * FROM "{query.table}" WHERE {" AND ".join(built.where)} '  # noqa: S608 — checked names
           f"ORDER BY {', '.join(built.order_by(order))} LIMIT ?")
    # (the limit a parameter: a statement always has one, so the client binds it — and undoubles its %%)
    return sql.replace("?", "%s"), [*built.params, int(limit)]


def position_of(store: Store, query: RowQuery, seq: int) -> list[Any] | None:
    """The position (as :attr:`RowQuery.after` takes it) of the live row with change number ``seq`` in ``query``'s
    order — None: no such row."""
    built = _Built(store, query)
    names = [name for name, _d, _n in built.order()]
    sql = (f'SELECT {", ".join(built.column(n) for n in names)} FROM "{query.table}" '  # noqa: S608 — checked names
           "WHERE NOT _deleted AND _seq = ?")
    rows = store.read(sql, [int(seq)], [built.letter(n) for n in names])
    return list(rows[0]) if rows else None


def item_columns(store: Store, table: str, items: Sequence[str]) -> list[tuple[str, str]]:
    """(the centre's column, its letter) of each of ``items`` — what SQL over the table names them by."""
    built = _Built(store, RowQuery(table, list(items)))
    return [(built.column(name), built.letter(name)) for name in items]


def rows_by_seq(store: Store, table: str, items: Sequence[str], seqs: Sequence[int]) -> list[tuple[Any, ...]]:
    """(change number, the values of ``items``) of the live rows with those change numbers."""
    built = _Built(store, RowQuery(table, list(items)))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(seqs), MAX_IN):
        chunk = [int(seq) for seq in seqs[start:start + MAX_IN]]
        marks = ", ".join("?" * len(chunk))
        sql = (f'SELECT _seq, {", ".join(built.column(n) for n in items)} FROM "{table}" '  # noqa: S608 — checked
               f"WHERE NOT _deleted AND _seq IN ({marks})")
        found += store.read(sql, chunk, [None, *(built.letter(n) for n in items)])
    return found


def positions_at(store: Store, query: RowQuery, offsets: Sequence[int]) -> list[list[Any] | None]:
    """The position (as :attr:`RowQuery.after` takes it) of the row at each of ``offsets`` (0: the first) among the
    rows ``query`` matches, in its order (all read in one snapshot: in increasing order); None past the last — where
    a download splits the rows into parts."""
    built = _Built(store, query)
    order = built.order()
    names = [name for name, _d, _n in order]
    sql = (f'SELECT {", ".join(built.column(n) for n in names)} FROM "{query.table}" '  # noqa: S608 — checked names
           f"WHERE {' AND '.join(built.where)} ORDER BY {', '.join(built.order_by(order))} LIMIT 1 OFFSET ?")
    found: list[list[Any] | None] = []
    with store.snapshot():  # one state of the table for all of them: rows committed meanwhile cannot reorder them
        for offset in offsets:
            rows = store.read(sql, [*built.params, int(offset)], [built.letter(n) for n in names])
            found.append(list(rows[0]) if rows else None)
    return found


def index_terms(store: Store, table: str, item: str, descending: bool) -> list[str]:
    """The columns of a query index serving a sort on ``item`` (either direction, then the key) and the filters on
    it: exactly the ORDER BY terms :func:`read_rows` writes for that sort (:meth:`_Built.order_by`)."""
    built = _Built(store, RowQuery(table, [item], sort=[(item, descending)]))
    return built.order_by(built.order())


def count_rows(store: Store, query: RowQuery, limit: int, *, milliseconds: int = 0) -> tuple[int, str]:
    """How many rows match ``query``'s filters: (n, ``exact``) up to ``limit``; beyond it (PostgreSQL's estimate,
    at least ``limit`` + 1, ``estimate``) or (``limit``, ``at_least``) on SQLite.  ``milliseconds`` (PostgreSQL;
    0: none): a count not done by then is stopped and the planner's estimate given instead (``estimate``, whatever
    its size) — a page of a 10 M-row table whose filter no index serves is not held up by its count."""
    built = _Built(store, RowQuery(query.table, query.items[:1], query.filters))
    where = " AND ".join(built.where)
    inner = f'SELECT 1 FROM "{query.table}" WHERE {where}'  # noqa: S608 — checked names
    found = store.read_within(f"SELECT count(*) FROM ({inner} LIMIT ?) s",  # noqa: S608 — checked names
                              [*built.params, limit + 1], [None], milliseconds)
    if found is None:  # stopped: the estimate, whatever it says (0 when the planner expects nothing)
        return max(store.estimate(inner, built.params) or 0, 0), "estimate"
    counted = int(found[0][0])
    if counted <= limit:
        return counted, "exact"
    estimate = store.estimate(inner, built.params)
    if estimate is None:
        return limit, "at_least"
    return max(estimate, limit + 1), "estimate"
