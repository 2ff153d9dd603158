"""Stamps: a value the database changes whenever any row an answer depends on changes — so that a process may keep
that answer between requests and still never serve it one request after a change (issue 11, the data API's speed).

A stamp is one row of ``core_stamp`` (name → a random 64-bit value).  Triggers on the watched tables — created by
each table's own app in its migrations with :func:`trigger_sql` — give it a new random value in the same
transaction as every INSERT, UPDATE (of the columns that matter) and DELETE, PostgreSQL's TRUNCATE too, whether
the write came through the ORM, a queryset ``update()`` or a SQL console.  A random value rather than a counter:
a rolled-back transaction puts the old value back together with the old rows, so a value never names two states.

:class:`StampedCache` keeps answers under the stamp read *before* they were computed: a change committed while one
is computed gives the stamp a value the cache never saw, so the next request computes again.  A stamp that is not
there (a fresh or flushed database, before the first write) caches nothing.  Reading one is a single-row SELECT
without the ORM (~6 µs on SQLite).

``ACCESS``: what the delivery channels' access check of a consuming system reads — its key, the system and its
department, the entry, its version and items, the grants (:mod:`govshare.sharing.actions.system_keys`,
:func:`govshare.datastore.delivery.authorise_system`).
"""

from __future__ import annotations

import secrets
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

from django.db import connections

#: the stamp of the consuming systems' access check (the tables are listed in the migrations that watch them)
ACCESS = "access"

#: the tables each stamp watches now (what the migrations made; :func:`system_check` finds a trigger missing)
WATCHED: dict[str, tuple[str, ...]] = {
    ACCESS: ("core_department", "catalog_catalogentry", "catalog_entryversion", "catalog_informationitem",
             "sharing_grant", "sharing_consumingsystem", "sharing_systemkey"),
}

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz_0123456789")


def _checked(name: str) -> str:
    if not name or set(name) - _NAME_CHARS:
        raise ValueError(f"not a stamp or table name: {name!r}")
    return name


def read(name: str, *, using: str = "default") -> int | None:
    """The stamp's value now (None: no write has set it yet)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT value FROM core_stamp WHERE name = %s", [name])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def trigger_sql(vendor: str, stamp: str, table: str, *, columns: Sequence[str] = ()) -> list[str]:
    """The statements that make every write to ``table`` give ``stamp`` a new value (``columns``: only updates
    of these, e.g. not a key's "last used"; none: any update).  ``vendor``: ``sqlite`` or ``postgresql``."""
    _checked(stamp), _checked(table)
    for column in columns:
        _checked(column)
    name = f"gs_stamp_{stamp}_{table}"
    of = f" OF {', '.join(columns)}" if columns else ""
    if vendor == "sqlite":
        # names checked above (lower-case letters, digits, "_"): nothing here comes from a request
        bump = f"INSERT OR REPLACE INTO core_stamp (name, value) VALUES ('{stamp}', random());"  # noqa: S608
        return [f"CREATE TRIGGER {name}_{event[0].lower()} AFTER {event} ON {table} BEGIN {bump} END"
                for event in ("INSERT", f"UPDATE{of}", "DELETE")]
    if vendor == "postgresql":
        function = f"gs_stamp_{stamp}"
        upsert = (f"INSERT INTO core_stamp (name, value) VALUES ('{stamp}', (random() * 9e18)::bigint) "  # noqa: S608
                  "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;")
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {upsert} RETURN NULL; END $$",
            f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE{of} OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name}_t AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    raise ValueError(f"stamps: no triggers for {vendor}")


def drop_sql(vendor: str, stamp: str, table: str) -> list[str]:
    name = f"gs_stamp_{_checked(stamp)}_{_checked(table)}"
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}_{suffix}" for suffix in ("i", "u", "d")]
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP TRIGGER IF EXISTS {name}_t ON {table}"]


def watch(stamp: str, tables: dict[str, Sequence[str]]) -> Any:
    """A migration operation that watches ``tables`` (name → the columns whose updates count; empty: all)."""
    from django.db import migrations

    def forward(apps: Any, schema_editor: Any) -> None:
        for table, columns in tables.items():
            for sql in trigger_sql(schema_editor.connection.vendor, stamp, table, columns=columns):
                schema_editor.execute(sql)
        # a first value: answers may be kept from the start, not only after the first write
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DELETE FROM core_stamp WHERE name = %s", [stamp])
            cursor.execute("INSERT INTO core_stamp (name, value) VALUES (%s, %s)", [stamp, secrets.randbits(62)])

    def backward(apps: Any, schema_editor: Any) -> None:
        for table in tables:
            for sql in drop_sql(schema_editor.connection.vendor, stamp, table):
                schema_editor.execute(sql)

    return migrations.RunPython(forward, backward, elidable=False)


def missing_triggers(*, using: str = "default") -> list[str]:
    """The watched tables (``stamp:table``) whose triggers are not in the database (a schema not made by the
    migrations, a trigger dropped by hand)."""
    conn = connections[using]
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'gs_stamp_%'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'gs_stamp_%' AND NOT tgisinternal")
        found = {row[0] for row in cursor.fetchall()}
    suffixes = ("_i", "_u", "_d") if conn.vendor == "sqlite" else ("", "_t")
    return [f"{stamp}:{table}" for stamp, tables in WATCHED.items() for table in tables
            if any(f"gs_stamp_{stamp}_{table}{suffix}" not in found for suffix in suffixes)]


def system_check(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """``govshare check``: an error naming each watched table without its triggers."""
    from django.core import checks
    from django.db import DatabaseError
    from django.db.migrations.executor import MigrationExecutor

    if not databases or "default" not in databases:
        return []
    try:
        applied = MigrationExecutor(connections["default"]).loader.applied_migrations
        if ("sharing", "0005_access_stamp") not in applied or ("catalog", "0005_access_stamp") not in applied:
            return []  # not migrated yet: migrate makes them
        missing = missing_triggers()
    except DatabaseError:
        return []
    return [checks.Error(f"The triggers of the stamp {name.split(':')[0]} on {name.split(':')[1]} are missing: "
                         "answers kept by the server processes would outlive changes of that table.",
                         hint="See docs/operations.md §8.", id="govshare.E902") for name in missing]


_ALL: weakref.WeakSet[StampedCache] = weakref.WeakSet()


def clear_all() -> None:
    """Forget every answer kept (a test starts with none: its settings may differ from the last test's)."""
    for cache in list(_ALL):
        cache.clear()


class StampedCache:
    """Answers kept under one stamp's value, at most ``size`` of them (the least recently used go first); a value
    of the stamp other than the one they were kept under empties the cache.  Shared by a process's threads."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        _ALL.add(self)

    def get(self, key: Hashable, stamp: int | None) -> Any:
        """The answer kept for ``key`` under ``stamp`` (read before this request computed anything), or None."""
        if stamp is None:
            return None
        with self._lock:
            if stamp != self._stamp:
                self._items.clear()
                self._stamp = stamp
                return None
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, stamp: int | None, value: Any) -> None:
        """Keep ``value`` for ``key``, computed after ``stamp`` was read (not kept if the stamp moved since)."""
        if stamp is None or value is None:
            return
        with self._lock:
            if stamp != self._stamp:
                return  # another request read another value since (:meth:`get` comes first): which is newer is
                # not known, so nothing is kept — the next request computes again
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._stamp = None
