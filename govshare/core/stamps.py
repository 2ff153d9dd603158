"""Stamps: a value the database changes whenever any row an answer depends on changes — so that a process may keep
that answer between requests and still never serve it one request after a change (issue 11, the data API's speed;
docs/decisions/0006).

A stamp is the rows of ``core_stamp`` under its name: triggers on the watched tables (:data:`WATCHED`) *add a row*
of weight 1 in the same transaction as every INSERT, UPDATE (of the columns that matter) and DELETE — PostgreSQL's
TRUNCATE too — whether the write came through the ORM, a queryset ``update()``, ``bulk_create`` or a SQL console.
The stamp's value is the *sum of the weights*: every commit that adds rows raises it; a transaction rolled back
leaves it (and the rows) as they were.  Adding rows takes no lock another writer waits for (an UPDATE of one shared
row would: two transactions taking it and a row of a watched table in opposite orders would deadlock), and no
``OR IGNORE`` / ``OR REPLACE`` of the outer statement can turn the insert into a conflict (SQLite applies the
outer statement's conflict clause inside its triggers).  :func:`prune` replaces the rows it sees by one row
carrying their weights plus one, in one transaction — so the value only ever grows, whatever order writers and
pruners commit in (rows of transactions still open are not seen, so not replaced: their commit raises the value as
ever).  The first row weighs the time in microseconds: a table made again (a migration back and forth) starts above
any value a running process may have kept.  The worker prunes every minute; :func:`read` prunes when the rows pile
up.

The triggers are made (again, if a migration rebuilt a table: SQLite drops a table's triggers with it) after every
``migrate`` (:func:`ensure_triggers`, a ``post_migrate`` handler); a process keeps nothing when one is missing
(:func:`enabled`), and ``govshare check`` names it (``govshare.E902``).

:class:`StampedCache` keeps answers under the value read *before* they were computed: a change committed while one
is computed gives the stamp a value the cache never saw, so the next request computes again.  No stamp (no row:
a flushed database) keeps nothing.

``ACCESS``: what a consuming system's access check reads — its key, the system and its department, the entry, its
versions and items, the grants (:mod:`govshare.sharing.auth`, :func:`govshare.datastore.delivery.authorise_system`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

from django.db import DatabaseError, connections, transaction

from govshare.core import periodic

log = logging.getLogger("govshare.stamps")

#: the stamp of the consuming systems' access check
ACCESS = "access"

#: the tables each stamp watches: table → the columns whose updates count (empty: every column)
WATCHED: dict[str, dict[str, tuple[str, ...]]] = {
    ACCESS: {
        "core_department": (),
        "catalog_catalogentry": (),
        "catalog_entryversion": (),
        "catalog_informationitem": (),
        "sharing_grant": (),
        "sharing_consumingsystem": (),
        # a key's "last used" (written once a minute by its calls) is not watched
        "sharing_systemkey": ("id", "system_id", "name", "prefix", "secret_hash", "created_by_id", "created_at",
                              "expires_at", "revoked_at", "revoked_by_id"),
    },
}

#: rows of a stamp past which :func:`read` prunes them itself (the worker's minute keeps far fewer)
PRUNE_AT = 2000

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz_0123456789")
Value = int


def _checked(name: str) -> str:
    if not name or set(name) - _NAME_CHARS:
        raise ValueError(f"not a stamp, table or column name: {name!r}")
    return name


# -- the triggers ----------------------------------------------------------------------------------------------

def trigger_sql(vendor: str, stamp: str, table: str, *, columns: Sequence[str] = ()) -> list[str]:
    """The statements that make every write to ``table`` add a row to ``stamp`` (``columns``: only updates of these
    count; none: any update).  ``vendor``: ``sqlite`` or ``postgresql``.  Names are checked: nothing here comes
    from a request."""
    _checked(stamp), _checked(table)
    for column in columns:
        _checked(column)
    name = f"gs_stamp_{stamp}_{table}"
    of = f" OF {', '.join(columns)}" if columns else ""
    insert = f"INSERT INTO core_stamp (name, weight) VALUES ('{stamp}', 1)"  # noqa: S608 — checked names
    if vendor == "sqlite":
        return [f"CREATE TRIGGER IF NOT EXISTS {name}_{event[0].lower()} AFTER {event} ON {table} "
                f"BEGIN {insert}; END" for event in ("INSERT", f"UPDATE{of}", "DELETE")]
    if vendor == "postgresql":
        function = f"gs_stamp_{stamp}"
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {insert}; RETURN NULL; END $$",
            f"CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR UPDATE{of} OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE OR REPLACE TRIGGER {name}_t AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    raise ValueError(f"stamps: no triggers for {vendor}")


def drop_sql(vendor: str, stamp: str, table: str) -> list[str]:
    name = f"gs_stamp_{_checked(stamp)}_{_checked(table)}"
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}_{suffix}" for suffix in ("i", "u", "d")]
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP TRIGGER IF EXISTS {name}_t ON {table}"]


def _trigger_names(vendor: str, stamp: str, table: str) -> list[str]:
    name = f"gs_stamp_{stamp}_{table}"
    return [f"{name}_i", f"{name}_u", f"{name}_d"] if vendor == "sqlite" else [name, f"{name}_t"]


def _present(conn: Any) -> set[str]:
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'gs_stamp_%'")
        else:  # a trigger disabled by hand (ALTER TABLE … DISABLE TRIGGER) counts as missing
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'gs_stamp_%' AND NOT tgisinternal "
                           "AND tgenabled <> 'D'")
        return {row[0] for row in cursor.fetchall()}


def missing_triggers(*, using: str = "default") -> list[str]:
    """The watched tables (``stamp:table``) whose triggers are not all in the database (or not enabled)."""
    conn = connections[using]
    found = _present(conn)
    return [f"{stamp}:{table}" for stamp, tables in WATCHED.items() for table in tables
            if any(name not in found for name in _trigger_names(conn.vendor, stamp, table))]


def ensure_triggers(using: str = "default", **kwargs: Any) -> None:
    """Make the watched tables' missing triggers (``post_migrate``: after the migrations, and again after a
    migration that rebuilt a table); tables not there yet are left for the next ``migrate``."""
    conn = connections[using]
    if conn.vendor not in ("sqlite", "postgresql"):
        return
    tables = set(conn.introspection.table_names())
    if "core_stamp" not in tables:
        return
    found = _present(conn)
    with transaction.atomic(using=using), conn.cursor() as cursor:
        for stamp, watched in WATCHED.items():
            made = False
            for table, columns in watched.items():
                if table not in tables or all(n in found for n in _trigger_names(conn.vendor, stamp, table)):
                    continue
                for sql in drop_sql(conn.vendor, stamp, table) + trigger_sql(conn.vendor, stamp, table,
                                                                              columns=columns):
                    cursor.execute(sql)
                made = True
            cursor.execute("SELECT count(*) FROM core_stamp WHERE name = %s", [stamp])
            if not cursor.fetchone()[0]:  # a first value, above any a running process may have kept
                cursor.execute("INSERT INTO core_stamp (name, weight) VALUES (%s, %s)",
                               [stamp, int(time.time() * 1_000_000)])
            elif made:  # writes while a trigger was missing (a table rebuilt by a migration) went unseen
                cursor.execute("INSERT INTO core_stamp (name, weight) VALUES (%s, 1)", [stamp])
    forget()


def drop_triggers(using: str = "default") -> None:
    """Drop every stamp trigger (the migration that removes ``core_stamp`` does first)."""
    conn = connections[using]
    with conn.cursor() as cursor:
        for stamp, watched in WATCHED.items():
            for table in watched:
                if table in conn.introspection.table_names():
                    for sql in drop_sql(conn.vendor, stamp, table):
                        cursor.execute(sql)
        if conn.vendor == "postgresql":
            for stamp in WATCHED:
                cursor.execute(f"DROP FUNCTION IF EXISTS gs_stamp_{_checked(stamp)}()")


# -- reading ---------------------------------------------------------------------------------------------------

_ENABLED: dict[str, bool] = {}
_ENABLED_LOCK = threading.Lock()


def enabled(using: str = "default") -> bool:
    """Whether every watched table has its triggers (checked once per process; :func:`forget` checks again)."""
    found = _ENABLED.get(using)
    if found is None:
        with _ENABLED_LOCK:
            try:
                missing = missing_triggers(using=using)
            except DatabaseError:
                return False
            if missing:
                log.warning("stamps: triggers missing on %s — nothing is kept between requests (govshare check)",
                            ", ".join(missing))
            found = _ENABLED[using] = not missing
    return found


def read(name: str, *, using: str = "default") -> Value | None:
    """The stamp's value now (the sum of its rows' weights) — None when there is none (no row, no table), or its
    triggers are not all there."""
    if not enabled(using):
        return None
    conn = connections[using]
    # inside a transaction, a savepoint: a failure must not spoil the caller's transaction
    guard = transaction.atomic(using=using) if conn.in_atomic_block else contextlib.nullcontext()
    try:
        with guard, conn.cursor() as cursor:
            cursor.execute("SELECT count(*), sum(weight) FROM core_stamp WHERE name = %s", [name])
            count, value = cursor.fetchone()
    except DatabaseError:  # core_stamp not there (a migration going back): nothing is kept
        return None
    if not count:
        return None
    if count > PRUNE_AT and not conn.in_atomic_block:
        _prune_now(name, using)  # the value read stands: pruning leaves it or raises it, never lowers it
    return int(value)


def _prune_now(name: str, using: str) -> None:
    """:func:`prune` from a read, never waiting for the database (SQLite: no busy wait) and never failing it."""
    conn = connections[using]
    try:
        if conn.vendor != "sqlite":
            prune(name, using=using)
            return
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            (waited,) = cursor.fetchone()
            cursor.execute("PRAGMA busy_timeout = 0")
        try:
            prune(name, using=using)
        finally:
            with conn.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {int(waited)}")
    except DatabaseError:  # a read-only moment (a standby, the file locked): the worker prunes
        log.info("stamps: %s not pruned now", name, exc_info=True)


def prune(name: str, *, using: str = "default") -> int:
    """Replace the stamp's rows this transaction sees by one row carrying their weights plus one: the value grows
    by one, and stays above every value before it whatever order other writers commit in (their rows, not seen
    here, keep their own weight).  Returns the rows replaced."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("INSERT INTO core_stamp (name, weight) VALUES (%s, 1) RETURNING id", [name])
        (last,) = cursor.fetchone()
        cursor.execute("DELETE FROM core_stamp WHERE name = %s AND id < %s RETURNING weight", [name, last])
        weights = [int(row[0]) for row in cursor.fetchall()]
        if weights:
            cursor.execute("UPDATE core_stamp SET weight = weight + %s WHERE id = %s", [sum(weights), last])
        return len(weights)


def forget() -> None:
    """Check the triggers again at the next read, and drop every answer kept (tests; after ``migrate``)."""
    _ENABLED.clear()
    for cache in list(_ALL):
        cache.clear()


def system_check(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """``govshare check``: an error naming each watched table whose triggers are missing or disabled."""
    from django.core import checks

    from govshare.core.db import no_database_yet

    if not databases or "default" not in databases:
        return []
    conn = connections["default"]
    if no_database_yet(conn):
        return []  # migrate makes it (and its triggers); do not create an empty file here
    try:
        if "core_stamp" not in conn.introspection.table_names():
            return []  # not migrated yet
        missing = missing_triggers()
    except DatabaseError as exc:
        return [checks.Error(f"The database could not be read: {str(exc).strip()[:200]}", id="govshare.E903")]
    return [checks.Error(f"The triggers of the stamp {name.split(':')[0]} on {name.split(':')[1]} are missing or "
                         "disabled: the server processes keep no access check between calls until they are back.",
                         hint="Run `govshare migrate` (it makes them); see docs/operations.md §8.", id="govshare.E902")
            for name in missing]


# -- keeping answers -------------------------------------------------------------------------------------------

_ALL: weakref.WeakSet[StampedCache] = weakref.WeakSet()


class StampedCache:
    """Answers kept under one stamp's value, at most ``size`` of them (the least recently used go first); a value
    of the stamp other than the one they were kept under empties the cache.  Shared by a process's threads."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._stamp: Hashable | None = None
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        _ALL.add(self)

    def get(self, key: Hashable, stamp: Hashable | None) -> Any:
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

    def put(self, key: Hashable, stamp: Hashable | None, value: Any) -> None:
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


@periodic.register("core.prune_stamps", every_seconds=60)
def _prune_all() -> int:
    """The worker's minute: each stamp's rows pruned to one (a stamp without rows — a flushed database — is left)."""
    pruned = 0
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT name, count(*) FROM core_stamp GROUP BY name")
        counts = dict(cursor.fetchall())
    for name in WATCHED:
        if counts.get(name, 0) > 1:
            pruned += prune(name)
    return pruned

