"""Database states built once per test run and copied into each test that asks for them (issue 8,
suite speed; see docs/decisions/0002-test-fixtures-built-once.md).

Building the test organisation through the actions costs hundreds of queries, password hashing and
a hash-chained audit row per step — and most tests need it.  Instead it is built once per test
process (per xdist worker), inside a transaction that is rolled back, and what it changed in the
database is kept as rows (a :class:`StateDiff`).  A test then gets the same rows written back by a
handful of multi-row INSERTs inside its own transaction (which ``db`` rolls back as before), plus a
deep copy of the Python objects the build returned, so in-memory changes never leak between tests.

The rows are copied as stored, ids and hashes included, so the audit chain of a copied state verifies
and continues.  After a build the id counters are moved past the ids it used (PostgreSQL sequences
already are; SQLite's ``sqlite_sequence`` is set), so rows a test creates never take a copied id.

A test that commits (``transactional_db``) ends with Django's flush, which empties every table;
:func:`restore_baseline` then writes back the state the migrations left, so the next test starts
from the same database as the first one did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, transaction

Row = tuple[Any, ...]


@dataclass
class TableRows:
    columns: tuple[str, ...]
    pk_index: int
    rows: dict[Any, Row]


#: every table Django manages, as (columns, pk position, rows by primary key)
Snapshot = dict[str, TableRows]


@dataclass
class TableDiff:
    table: str
    columns: tuple[str, ...]
    pk_index: int
    inserts: list[Row] = field(default_factory=list)
    updates: list[Row] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)


@dataclass
class StateDiff:
    """What a build changed, table by table (in the order Django lists the tables)."""

    tables: list[TableDiff]

    @property
    def row_count(self) -> int:
        return sum(len(t.inserts) + len(t.updates) + len(t.deletes) for t in self.tables)

    def max_ids(self) -> dict[str, int]:
        """The largest inserted integer id per table (to move the id counters past it)."""
        out: dict[str, int] = {}
        for t in self.tables:
            ids = [r[t.pk_index] for r in t.inserts if isinstance(r[t.pk_index], int)]
            if ids:
                out[t.table] = max(ids)
        return out


def _pk_columns() -> dict[str, str]:
    return {m._meta.db_table: m._meta.pk.column for m in apps.get_models(include_auto_created=True)
            if m._meta.managed and not m._meta.proxy}


#: tables whose rows are not state but follow from it: the stamps' random values, which the triggers set with every
#: write to the tables they watch (govshare.core.stamps) — copying a state sets them anew
DERIVED = frozenset({"core_stamp"})


def table_names() -> list[str]:
    return sorted(set(connection.introspection.django_table_names(only_existing=True, include_views=False))
                  - DERIVED)


def snapshot(tables: Iterable[str] | None = None) -> Snapshot:
    """Every row of every Django table (a few thousand rows after the migrations)."""
    pks = _pk_columns()
    qn = connection.ops.quote_name
    out: Snapshot = {}
    with connection.cursor() as cur:
        for table in tables if tables is not None else table_names():
            cur.execute(f"SELECT * FROM {qn(table)}")  # noqa: S608 — table names come from Django
            columns = tuple(col[0] for col in cur.description)
            pk_index = columns.index(pks[table])
            out[table] = TableRows(columns, pk_index, {row[pk_index]: tuple(row) for row in cur.fetchall()})
    return out


def diff(before: Snapshot, after: Snapshot) -> StateDiff:
    tables = []
    for table, now in after.items():
        was = before.get(table)
        old = was.rows if was is not None else {}
        change = TableDiff(table, now.columns, now.pk_index)
        for pk, row in now.rows.items():
            if pk not in old:
                change.inserts.append(row)
            elif old[pk] != row:
                change.updates.append(row)
        change.deletes = [pk for pk in old if pk not in now.rows]
        if change.inserts or change.updates or change.deletes:
            change.inserts.sort(key=lambda r: r[now.pk_index])
            tables.append(change)
    return StateDiff(tables)


def _insert(cur: Any, table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
    qn = connection.ops.quote_name
    head = f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) VALUES "
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    limit = connection.features.max_query_params or 30_000
    per_statement = max(1, min(500, limit // len(columns)))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        cur.execute(head + ", ".join([one] * len(chunk)), [value for row in chunk for value in row])


def apply(state: StateDiff) -> None:
    """Write ``state`` into the current database (which must be in the state it was diffed from)."""
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cur:
        for t in state.tables:
            pk = qn(t.columns[t.pk_index])
            for key in t.deletes:
                cur.execute(f"DELETE FROM {qn(t.table)} WHERE {pk} = %s", [key])  # noqa: S608
            if t.updates:
                sets = ", ".join(f"{qn(c)} = %s" for i, c in enumerate(t.columns) if i != t.pk_index)
                for row in t.updates:
                    values = [v for i, v in enumerate(row) if i != t.pk_index]
                    cur.execute(f"UPDATE {qn(t.table)} SET {sets} WHERE {pk} = %s",  # noqa: S608
                                [*values, row[t.pk_index]])
            if t.inserts:
                _insert(cur, t.table, t.columns, t.inserts)


def built_once(cache: dict[Any, tuple[StateDiff, Any, Any]], key: Any, build: Callable[[], Any]) -> Any:
    """Write into the current transaction the rows ``build()`` writes, and return what it returned the
    first time: it runs through the actions once (in a savepoint rolled back at once, keeping the rows
    it wrote) and its rows are written back every next time.  The caller turns the value (ids, not
    model objects: those belong to the first test) into fresh objects.

    The rows fit only the state they were built on: the same ids free, the same audit-chain head to
    continue.  So it must be called before the test writes anything (the fixtures below it are the
    same in every test); a call on another state fails at once, naming the difference.  Only the rows
    are kept: e-mails, pending audit events and on-commit callbacks of the build are not replayed."""
    if key not in cache:
        sid = transaction.savepoint()
        try:
            before, marks = snapshot(), _marks(table_names())
            value = build()
            rows = diff(before, snapshot())
            inserted = _inserted_into(rows)
            cache[key] = (rows, value, tuple(mark for mark in marks if mark[0] in inserted))
        finally:
            transaction.savepoint_rollback(sid)
    rows, value, marks = cache[key]
    now = _marks(_inserted_into(rows))
    assert now == marks, (f"built_once({key!r}): the database is not in the state the rows were built on "
                          f"(largest ids and audit head then {marks}, now {now}); call it before writing")
    apply(rows)
    return value


def _inserted_into(rows: StateDiff) -> set[str]:
    return {t.table for t in rows.tables if t.inserts} | {"core_auditevent", "audit head"}


def _counted_tables() -> dict[str, str]:
    """The tables whose ids come from a counter (others, with random ids, cannot collide), by their id column."""
    return {m._meta.db_table: m._meta.pk.column for m in apps.get_models(include_auto_created=True)
            if m._meta.managed and not m._meta.proxy
            and m._meta.pk.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField")}


def _marks(tables: Iterable[str]) -> tuple[tuple[str, Any], ...]:
    """The largest id of each of ``tables`` that counts its ids, and the audit chain's newest hash
    ("audit head"), read in two statements."""
    qn = connection.ops.quote_name
    pks = _counted_tables()
    sql = " UNION ALL ".join(f"SELECT '{t}', CAST(MAX({qn(pks[t])}) AS TEXT) FROM {qn(t)}"  # noqa: S608
                             for t in sorted(set(tables) & set(pks)))
    with connection.cursor() as cur:
        cur.execute(sql)
        largest = dict(cur.fetchall())
        cur.execute("SELECT row_hash FROM core_auditevent ORDER BY id DESC LIMIT 1")
        head = cur.fetchone()
    return (*sorted(largest.items()), ("audit head", head[0] if head else None))


def move_id_counters_past(max_ids: dict[str, int]) -> None:
    """After a rolled-back build: new rows must not take the ids the build used (they are copied
    into tests).  PostgreSQL sequences do not roll back; SQLite's ``sqlite_sequence`` does."""
    if connection.vendor != "sqlite" or not max_ids:
        return
    with transaction.atomic(), connection.cursor() as cur:
        for table, top in max_ids.items():
            cur.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s AND seq < %s", [top, table, top])
            cur.execute("SELECT 1 FROM sqlite_sequence WHERE name = %s", [table])
            if cur.fetchone() is None:
                cur.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, top])


@contextmanager
def rolled_back_build() -> Iterator[None]:
    """A transaction marked like Django's TestCase wrapper (so the code under build behaves as in
    a test), rolled back at the end."""
    block = transaction.atomic()
    block._from_testcase = True  # type: ignore[attr-defined]
    with block:
        yield
        transaction.set_rollback(True)


def restore_baseline(baseline: Snapshot) -> None:
    """Empty every table (after a flush, ``post_migrate`` re-created some rows with new ids) and
    write back the rows the migrations left."""
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cur:
        # DELETE, not TRUNCATE: foreign keys are checked at commit, whatever the order
        for table in table_names():
            cur.execute(f"DELETE FROM {qn(table)}")  # noqa: S608
        for table, rows in baseline.items():
            if rows.rows:
                _insert(cur, table, rows.columns, sorted(rows.rows.values(), key=lambda r: r[rows.pk_index]))
