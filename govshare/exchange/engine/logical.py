"""Log mode (实时, real time): a PostgreSQL front-end database's changes read from its write-ahead log by logical
decoding and applied to the data resource centre (EXC-1 table exchange; issue 10 item 5).  Django-free.

A *logical replication slot* on the source (:func:`create_slot`) keeps every committed change of the source's
database from the moment it was made; :func:`log_copy` reads them with ``pg_logical_slot_peek_changes`` (peek:
reading does not consume), keeps the changes of the plan's table, applies them to the centre batch by batch, each batch committed with
its position, and only after those commits moves the slot on with ``pg_replication_slot_advance`` (once per
peek: each advance decodes the WAL from the slot's restart point again, after every batch it would cost as
much as the peek).  Inserts and updates become upserts (values converted by
:func:`govshare.exchange.engine.copy.convert` into the plan's items, with the copies' quarantine and value rules),
deletes become tombstones — deletes are caught directly, no key scan needed.  An update that changes the key
tombstones the old key and upserts the new one; a ``TRUNCATE`` tombstones every live row.

Output plugins: ``test_decoding`` (built into PostgreSQL, always there; its text output is parsed here) and
``wal2json`` (format version 2, Debian's ``postgresql-15-wal2json``).  Whether a server has a plugin is found by
creating a slot with it (:func:`plugin_available`), never from ``pg_available_extensions`` (a plugin is no
extension).  Only the changes of committed transactions are decoded, in commit order.

What the source needs:

* ``wal_level = logical`` (a restart), and a free slot (``max_replication_slots``, 10 by default);
* an account with the ``REPLICATION`` attribute (or a superuser) and SELECT on the table;
* a table (not a view, not a partitioned table: their changes are logged under each partition's name) whose
  *replica identity* covers the plan's key: the primary key (``REPLICA IDENTITY DEFAULT``), the index of
  ``REPLICA IDENTITY USING INDEX``, or ``REPLICA IDENTITY FULL``.  PostgreSQL logs the old values of these
  columns only: without them a DELETE cannot name its row.  :func:`log_copy` checks it before reading
  (``no_replica_identity``) and again for each DELETE (``no_key_in_change``).

Positions and resumption (issue 10 item 6).  The decoded stream is ordered by commit; the ``lsn`` column of a
COMMIT row is the end of that transaction's commit record.  Change LSNs are *not* ordered across transactions (a
transaction that began early and committed late carries low LSNs after higher ones), so a change's LSN cannot
be compared with a position.  Each batch's position is therefore::

    {"phase": "rows", "lsn": <end of the last transaction applied whole>, "xid": <the transaction being
     applied, or null>, "skip": <its changes of the table already applied>, "relid": <the table's oid>,
     "part": "upserts" | "deletes" | "truncate", "done": <this call had caught up>}

(the last batch of a call that caught up has, as ``lsn``, the WAL position flushed when the call began: every
transaction that committed before it has been read).  The slot is moved to ``lsn`` after the centre's commit
— never into a transaction (a slot moved to an LSN inside a transaction would skip it whole).  A transaction bigger than a batch spans several batches: a run
that resumes inside it reads it again from its start and skips the ``skip`` changes already applied.  A crash
between the centre's commit and the slot's advance leaves the slot behind the centre: the next call first moves
the slot to the centre's position (finishing the interrupted step), so nothing is read twice.  A slot found
*ahead* of the centre's position means changes were consumed elsewhere (another binding using the same slot,
someone advancing it by hand): ``slot_moved`` — the changes in between are lost to this table, a full copy is
needed.  A call that finds nothing of the table commits no batch and leaves the slot, unless it would
leave ``idle_advance_bytes`` of WAL held (other tables', other databases' WAL; the burst a restart point has
not yet passed): then an empty batch moves it.  Within a batch the changes are applied in stream order and only the last change of each key counts
(a DELETE then an INSERT of one key ends alive).  When a batch has both upserts and deletes they are two
commits of the store (:meth:`Store.apply` then :meth:`Store.tombstone`); the first carries the deletes still to
do in its position (``tombstones``), so a crash between the two finishes them on the next call.  A worker that
finds its batch committed by another (presumed dead, still running) starts again from what that one committed.

TOAST: an UPDATE that leaves a large ("TOASTed") value unchanged does not log it (test_decoding prints
``unchanged-toast-datum``, wal2json leaves the column out): such rows are read again from the source by key
(:func:`govshare.exchange.engine.sources.connect`, read-only) and applied as they are then — or not at all if
the row is gone (its DELETE follows in the stream).

The fast path (PostgreSQL → PostgreSQL centre, a plan :func:`fastcopy.eligible` takes): only the keys are taken
from the log; the rows of the keys inserted or updated are read again by key with a binary ``COPY`` into the
centre, converted and hashed there (:class:`fastcopy.KeyedReader`).  Its batches are pipelined over two
connections of the centre (:class:`_Writer`): batch k + 1's rows are read and converted while batch k is
written, and the log is read meanwhile; the batches still commit one after the other, in the log's order, and
nothing commits after a failed batch, after an ``on_batch`` that raises, or after a takeover.  ``should_stop`` is
asked before each batch, as on the other path, but up to two batches may be on their way then: they commit
before the call returns.

The first copy: create the slot *before* the initial full copy; log mode then replays the changes made since
the slot's start (those the copy already saw are unchanged, not rewritten; the others converge to the source).

Watching the slot (for the Django layer).  A slot keeps on the *source's* disk all WAL from its
``restart_lsn`` on, whatever else happens: a consumer that stops (a binding paused, a worker dead, the centre
down) makes the department's database fill its disk.  Therefore:

* every minute or so, for each slot, call :func:`slot_state` (a read-only account is enough) and raise the
  alarm with :func:`lag_alarm` — it fires when the slot holds more WAL than the limit, when the consumer is
  more than ``max_seconds`` behind, when PostgreSQL reports the WAL as no longer safely kept
  (``wal_status`` ``unreserved``/``lost``, ``safe_wal_size`` below the limit) or when the slot is gone.  Pick
  ``max_bytes`` well below the source's free disk (say 1 GiB, or a tenth of the free space): the alarm must
  leave days, not minutes, to act;
* pass the ``caught_up_at`` of the last complete :func:`log_copy` (:class:`LogResult`) to :func:`slot_state`:
  its ``lag_seconds`` is then the time since the consumer last read everything (source's clock);
* ask the department to set ``max_slot_wal_keep_size`` on the source: past it PostgreSQL drops the slot's WAL
  (``wal_status`` ``lost``, error ``slot_lost`` here, a full copy needed) instead of filling the disk;
* :func:`drop_slot` when a binding leaves log mode or is deleted: a forgotten slot holds WAL for ever.

Throughput, measured on a 2-core machine with the source, a PostgreSQL centre and the worker on it (batches of
5 000, a 300 000-row table, 30 000 updates and 3 000 deletes): ≈ 19 000 changes/s into a SQLite centre,
≈ 8 000–10 000 into PostgreSQL by the values of the log (its :meth:`Store.apply` is ~40 % of the time),
test_decoding a little faster than wal2json; at 1 000 changes/s, polled every 0.25 s, the lag per batch is
≈ 0.4 s (p95).  The pipelined fast path applied 110 000 changes to a 10 M-row PostgreSQL centre in 3.6–4.5 s
(≈ 25 000–30 000 changes/s; docs/benchmarks.md, 18th session).  ``lag_seconds``
of :class:`LogResult` lists, per batch committed, the seconds from the source's commit of its oldest
transaction to the centre's commit.

Errors leave as :class:`SourceError` (:class:`LogError` for the codes below) or :class:`StoreError`:

========================  =========================================================================
code                      when
========================  =========================================================================
no_slot                   no such slot (or a physical one, one of another database, of another plugin)
slot_exists               :func:`create_slot` of a name already taken
slot_in_use               another session holds the slot (a running consumer, a temporary slot)
slot_lost                 PostgreSQL removed WAL the slot needed (``max_slot_wal_keep_size``)
slot_moved                the slot is past the centre's position (consumed elsewhere)
slot_limit                no free slot (``max_replication_slots``)
no_replication_privilege  the account is neither superuser nor ``REPLICATION``
wal_level                 the server's ``wal_level`` is not ``logical``
plugin_missing            the output plugin is not installed on the server
no_replica_identity       the table's replica identity does not cover the plan's key
no_key_in_change          a DELETE arrived without the key's old values
column_gone               a plan column is no longer in the table or in a change, the table was renamed,
                          dropped or replaced (another oid)
========================  =========================================================================

and the codes of :mod:`~govshare.exchange.engine.sources` (``not_found``: no such table; ``timeout``,
``unreachable``, ``auth``, ``protocol`` …).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.adapt import Transformer
from psycopg.pq import Format

from govshare.datastore.engine.store import BatchReceipt, Store, StoreError, combine, merge
from govshare.exchange.engine import sources
from govshare.exchange.engine.copy import (
    CopyPlan,
    CopyResult,
    _check,
    _convert_page,
    _key_items,
    _key_text,
    _limit,
    _Reader,
    convert,
    decode_key,
    encode_key,
)
from govshare.exchange.engine.sources import SourceError, SourceSpec

PLUGINS = ("test_decoding", "wal2json")
#: a slot's name (PostgreSQL allows lower-case letters, digits and underscores, 63 bytes at most)
SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")
LOG_CODES = ("no_slot", "slot_exists", "slot_in_use", "slot_lost", "slot_moved", "slot_limit",
             "no_replication_privilege", "wal_level", "plugin_missing", "no_replica_identity", "no_key_in_change",
             "column_gone")
#: most WAL one peek decodes at first (doubled while a stretch holds no commit: a huge transaction)
PEEK_BYTES = 64 << 20
#: a call that read nothing of the table moves the slot (with a receipt) once it is this far behind, or holds
#: this much WAL before its confirmed position
IDLE_ADVANCE_BYTES = 8 << 20
#: keys per statement when rows are read again from the source (TOAST)
REREAD_KEYS = 500
_FETCH_ROWS = 2000
#: the fast path's main thread takes the batches written meanwhile every so many changes it reads
_POLL_CHANGES = 256


class LogError(SourceError):
    """A log-mode failure: ``code`` is one of :data:`LOG_CODES` (or of :data:`sources.CODES`)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        if code in LOG_CODES:
            self.code = code


@dataclass(frozen=True)
class SlotState:
    """A slot as the source sees it.  Byte counts are WAL positions subtracted: ``held_bytes`` = current WAL
    position − ``restart_lsn`` (the WAL kept on the source's disk for this slot), ``lag_bytes`` = current −
    ``confirmed_flush_lsn`` (not yet confirmed by the consumer).  ``lag_seconds``: 0 when nothing waits, else
    the time since the consumer last caught up when told (``caught_up_at``), else None.  ``wal_status`` and
    ``safe_wal_size``: PostgreSQL's (``reserved``, ``extended``, ``unreserved``, ``lost``; bytes left before
    ``max_slot_wal_keep_size`` removes the slot's WAL, None without such a limit)."""

    slot: str
    exists: bool
    plugin: str | None = None
    active: bool = False
    restart_lsn: str | None = None
    confirmed_flush_lsn: str | None = None
    current_lsn: str | None = None
    held_bytes: int | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    wal_status: str | None = None
    safe_wal_size: int | None = None
    checked_at: dt.datetime | None = None  # the source's clock


@dataclass
class LogResult(CopyResult):
    """:class:`CopyResult` (the run's totals from its receipts; ``rows_read`` counts upserted rows, rejected
    rows and tombstoned keys, after the changes of one key in a batch were merged) and this call's: ``lsn``,
    where the centre's position (and the slot) stand; ``changes``, the table's changes read;
    ``lag_seconds``, per batch committed, the seconds from the source's commit of its oldest transaction to the
    centre's commit (clocks of two machines: as good as their agreement); ``caught_up_at``, when the call
    read everything committed up to its start (the source's clock; None when it stopped before); ``keyed``: the
    changed rows were read again by key and converted in the centre (the fast path), not taken from the log."""

    lsn: str = ""
    changes: int = 0
    lag_seconds: list[float] = field(default_factory=list)
    caught_up_at: dt.datetime | None = None
    keyed: bool = False


# -- names, LSNs, errors -----------------------------------------------------------------------------------

def _slot_name(slot: str) -> str:
    if not isinstance(slot, str) or not SLOT_NAME.fullmatch(slot):
        raise ValueError("a slot name is 1 to 63 of a-z, 0-9 and _")
    return slot


def _plugin_name(plugin: str) -> str:
    if not isinstance(plugin, str) or not SLOT_NAME.fullmatch(plugin):
        raise ValueError("an output plugin's name is 1 to 63 of a-z, 0-9 and _")
    return plugin


def lsn_number(text: str) -> int:
    """A PostgreSQL LSN (``16/B374D848``) as a number of bytes."""
    high, _, low = str(text).partition("/")
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise SourceError("protocol", f"not an LSN: {str(text)[:40]!r}") from None


def lsn_text(number: int) -> str:
    return f"{number >> 32:X}/{number & 0xFFFFFFFF:X}"


def _error(exc: BaseException) -> SourceError:
    """The driver's error as a :class:`SourceError`: the slot's errors by SQLSTATE and message, the rest as
    :mod:`sources` says."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.errors.QueryCanceled):
        state = exc.sqlstate or ""
        text = str(exc)
        lower = text.lower()
        if state == "53400" and "replication slot" in lower:  # all replication slots are in use
            return LogError("slot_limit", text)
        if "can no longer get changes" in lower or "this slot has been invalidated" in lower:
            return LogError("slot_lost", text)
        if "replication slot" in lower:
            if state == "42704":
                return LogError("no_slot", text)
            if state == "42710":
                return LogError("slot_exists", text)
            if state == "55006":
                return LogError("slot_in_use", text)
            if "was not created in this database" in lower or "physical replication slot" in lower:
                return LogError("no_slot", text)
            if state == "42501":
                return LogError("no_replication_privilege", text)
        if "wal_level" in lower:
            return LogError("wal_level", text)
        if state == "58P01":  # could not access file "wal2json": No such file or directory
            return LogError("plugin_missing", text)
        if state == "42703":  # a column read again (TOAST) is gone
            return LogError("column_gone", text)
    return sources._pg_error(exc)


@contextlib.contextmanager
def _replication(spec: SourceSpec) -> Iterator[psycopg.Connection[Any]]:
    """A connection that may use replication slots (not read-only: the slot functions write the slot's
    state), in autocommit, times in UTC, with the source's statement timeout and a client-side deadline a
    little after it — the settings of :func:`sources.connect` otherwise."""
    if spec.kind != "postgresql":
        raise LogError("other", "log mode reads PostgreSQL sources only")
    sources._check(spec)
    params: dict[str, Any] = {
        "host": spec.host or spec.address, "port": spec.port or sources.DEFAULT_PORTS["postgresql"],
        "dbname": spec.database, "user": spec.user, "password": spec.password,
        "connect_timeout": max(1, math.ceil(spec.connect_timeout)), "application_name": sources.APPLICATION_NAME,
        "options": f"-c statement_timeout={math.ceil(spec.statement_timeout * 1000)} -c TimeZone=UTC",
        "gssencmode": "disable", "passfile": sources.NO_FILE,
    }
    if spec.address:
        params["hostaddr"] = spec.address
    params.update(sources._pg_tls(spec))
    try:
        conn = sources._PgConnection.connect(autocommit=True, prepare_threshold=None,
                                             cursor_factory=sources._PgCursor, **params)
    except Exception as exc:
        raise _error(exc) from exc
    conn.guard_seconds = sources._guard_seconds(spec)
    for type_name, loader in (("date", sources._DateOrText), ("timestamp", sources._TimestampOrText),
                              ("timestamptz", sources._TimestamptzOrText)):
        conn.adapters.register_loader(type_name, loader)
    try:
        yield conn
    except psycopg.Error as exc:
        raise _error(exc) from exc
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _require(conn: psycopg.Connection[Any]) -> tuple[int, dt.datetime]:
    """wal_level and the account's privilege checked; (the WAL flushed so far, the source's clock)."""
    row = conn.execute(
        "SELECT pg_catalog.current_setting('wal_level'), (SELECT r.rolsuper OR r.rolreplication FROM "
        "pg_catalog.pg_roles r WHERE r.rolname = current_user), pg_catalog.pg_current_wal_flush_lsn()::text, "
        "pg_catalog.clock_timestamp()").fetchone()
    assert row is not None
    level, allowed, flushed, now = row
    if level != "logical":
        raise LogError("wal_level", f"the server's wal_level is {level}, logical decoding needs logical "
                                    "(postgresql.conf, then a restart)")
    if not allowed:
        raise LogError("no_replication_privilege", "the account needs the REPLICATION attribute "
                                                   "(ALTER ROLE … REPLICATION) to use replication slots")
    return lsn_number(flushed), now


# -- slots -------------------------------------------------------------------------------------------------

def create_slot(spec: SourceSpec, slot: str, plugin: str = "test_decoding") -> str:
    """Create the logical slot ``slot`` decoding with ``plugin`` in the source's database; the LSN from which
    it keeps changes.  PostgreSQL waits for the transactions running at that moment to end (bounded by the
    statement timeout: ``timeout``).  ``plugin_missing`` when the server does not have the plugin."""
    _slot_name(slot)
    _plugin_name(plugin)
    with _replication(spec) as conn:
        _require(conn)
        row = conn.execute("SELECT lsn::text FROM pg_catalog.pg_create_logical_replication_slot(%s, %s)",
                           (slot, plugin)).fetchone()
        assert row is not None
        return str(row[0])


def plugin_available(spec: SourceSpec, plugin: str) -> bool:
    """Whether the server decodes with ``plugin``: a temporary slot is made with it and dropped."""
    _plugin_name(plugin)
    probe = f"govshare_probe_{secrets.token_hex(6)}"
    with _replication(spec) as conn:
        _require(conn)
        try:
            conn.execute("SELECT pg_catalog.pg_create_logical_replication_slot(%s, %s, true)", (probe, plugin))
        except psycopg.Error as exc:
            error = _error(exc)
            if error.code == "plugin_missing":
                return False
            raise error from exc
        conn.execute("SELECT pg_catalog.pg_drop_replication_slot(%s)", (probe,))
        return True


def drop_slot(spec: SourceSpec, slot: str) -> None:
    """Drop the slot (the WAL it held is freed at the source's next checkpoint); ``no_slot`` when there is
    none, ``slot_in_use`` while a session holds it."""
    _slot_name(slot)
    with _replication(spec) as conn:
        _require(conn)
        conn.execute("SELECT pg_catalog.pg_drop_replication_slot(%s)", (slot,))


_SLOT_SQL = """
SELECT s.plugin, s.slot_type, s.database, s.active, s.active_pid, s.restart_lsn::text,
       s.confirmed_flush_lsn::text, s.wal_status, s.safe_wal_size,
       (pg_catalog.pg_current_wal_lsn() - s.restart_lsn)::bigint,
       (pg_catalog.pg_current_wal_lsn() - s.confirmed_flush_lsn)::bigint,
       pg_catalog.pg_current_wal_lsn()::text, pg_catalog.clock_timestamp(), pg_catalog.current_database()
  FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = %s"""


def slot_state(spec: SourceSpec, slot: str, *, caught_up_at: dt.datetime | None = None) -> SlotState:
    """The slot's positions and the WAL it holds back (a read-only session: any account that may connect).
    ``caught_up_at``: when the consumer last read everything (:attr:`LogResult.caught_up_at`)."""
    _slot_name(slot)

    def work(conn: Any) -> SlotState:
        found = conn.execute("SELECT pg_catalog.clock_timestamp()").fetchone()
        row = conn.execute(_SLOT_SQL, (slot,)).fetchone()
        if row is None:
            return SlotState(slot, False, checked_at=found[0])
        plugin, _kind, _database, active, _pid, restart, confirmed, status, safe, held, lag, current, now, _ = row
        lag_bytes = None if lag is None else max(0, int(lag))
        seconds: float | None = None
        if lag_bytes == 0:
            seconds = 0.0
        elif caught_up_at is not None:
            seconds = max(0.0, (now - caught_up_at).total_seconds())
        return SlotState(slot, True, plugin, bool(active), restart, confirmed, current,
                         None if held is None else max(0, int(held)), lag_bytes, seconds, status,
                         None if safe is None else int(safe), now)

    try:
        with sources.connect(spec) as conn:
            return work(conn)
    except SourceError:
        raise
    except Exception as exc:
        raise _error(exc) from exc


def lag_alarm(state: SlotState, *, max_bytes: int, max_seconds: float | None = None) -> bool:
    """True when the slot needs a person: it is gone, its WAL is no longer safely kept (``unreserved``,
    ``lost``, or fewer than ``max_bytes`` left before ``max_slot_wal_keep_size``), it holds more than
    ``max_bytes`` of WAL or is that far behind, or the consumer is more than ``max_seconds`` behind."""
    if not state.exists or state.wal_status in ("unreserved", "lost"):
        return True
    if state.safe_wal_size is not None and state.safe_wal_size < max_bytes:
        return True
    if (state.held_bytes or 0) > max_bytes or (state.lag_bytes or 0) > max_bytes:
        return True
    return max_seconds is not None and state.lag_seconds is not None and state.lag_seconds > max_seconds


# -- decoding the plugins' output --------------------------------------------------------------------------

#: a column value the change does not carry (an unchanged TOASTed value)
TOAST = object()


@dataclass
class Change:
    """One change of the table: ``action`` I, U, D or T (truncate); ``new`` and ``old``: column → (type, text
    or None for NULL, or :data:`TOAST`) — the type an oid (wal2json) or a type name (test_decoding); ``old``
    only where the plugin shows the old key (None: not shown)."""

    action: str
    new: dict[str, tuple[int | str, Any]] | None = None
    old: dict[str, tuple[int | str, Any]] | None = None
    #: the test_decoding line of a change read only up to its key (log mode's fast path), to read whole if needed
    line: str | None = field(default=None, compare=False, repr=False)
    #: the transaction that made it (``include-xids``), for the fast path's wait until it is visible
    xid: str | None = field(default=None, compare=False, repr=False)


_BARE_NAME = re.compile(r"[^\s\[\]\"':,.]++")
_QUOTED_NAME = re.compile(r'"((?:[^"]++|"")*+)"')
#: one column of test_decoding's tuple: a name (quoted: 1, bare: 2), ``[type]:`` (3), a value (quoted: 4, bare: 5)
_COLUMN = re.compile(r'(?:"((?:[^"]++|"")*+)"|([^\s\[\]"\':,.]++))'
                     r'\[((?:[^\]"\[]++|"(?:[^"]++|"")*+"|\[\])*+)\]:'
                     r"(?:'((?:[^']++|'')*+)'|([^ '][^ ]*+))")
_COMMIT = re.compile(r"COMMIT(?: (\d+))?(?: \(at (.+)\))?$")


def _name(text: str, at: int) -> tuple[str, int]:
    """An identifier as ``quote_identifier`` wrote it, from ``at``; (name, index after it)."""
    if text.startswith('"', at):
        match = _QUOTED_NAME.match(text, at)
        if match is None:
            raise SourceError("protocol", f"an unterminated quoted name at {at}")
        return match.group(1).replace('""', '"'), match.end()
    match = _BARE_NAME.match(text, at)
    if match is None:
        raise SourceError("protocol", f"no name at {at}: {text[at:at + 40]!r}")
    return match.group(0), match.end()


def _qualified(text: str, at: int) -> tuple[tuple[str, str], int]:
    schema, at = _name(text, at)
    if not text.startswith(".", at):
        raise SourceError("protocol", f"no schema-qualified table name at {at}")
    table, at = _name(text, at + 1)
    return (schema, table), at


def _tuple(text: str, at: int, stop: str | None = None, only: frozenset[str] | None = None
           ) -> tuple[dict[str, tuple[int | str, Any]], int]:
    """``name[type]:value`` … separated by single spaces, up to the end or to ``stop`` (``new-tuple:``) — or, with
    ``only``, as soon as those columns are read (the rest of the line is not parsed)."""
    columns: dict[str, tuple[int | str, Any]] = {}
    wanted = len(only) if only is not None else -1
    end = len(text)
    match_column = _COLUMN.match
    while at < end:
        if stop is not None and text.startswith(stop, at):
            break
        match = match_column(text, at)
        if match is None:
            raise SourceError("protocol", f"not a column at {at}: {text[at:at + 40]!r}")
        quoted_name, name, type_name, quoted, token = match.groups()
        if quoted_name is not None:
            name = quoted_name.replace('""', '"')
        value: Any
        if quoted is not None:
            value = quoted.replace("''", "'")
        elif token == "null":
            value = None
        elif token == "unchanged-toast-datum":
            value = TOAST
        elif token.startswith("B'") and token.endswith("'") and len(token) >= 3:  # bit strings
            value = token[2:-1]
        else:  # numbers, true/false, NaN, Infinity
            value = token
        columns[name] = (type_name, value)
        at = match.end()
        if only is not None and name in only:
            wanted -= 1
            if not wanted:
                break
        if at < end:
            if text[at] != " ":
                raise SourceError("protocol", f"no space after column {name!r}")
            at += 1
    return columns, at


def parse_test_decoding(data: str, table: tuple[str, str], prefix: str = "",
                        only: frozenset[str] | None = None) -> Change | None:
    """A ``test_decoding`` change line of ``table`` (schema, name) as a :class:`Change`; None for another
    table's line.  ``table s.t: INSERT: a[integer]:1 b[text]:'it''s'``; ``UPDATE: old-key: … new-tuple: …``;
    ``DELETE: …`` (the old key) or ``(no-tuple-data)``; ``table s.a, s.t: TRUNCATE: (no-flags)``.  ``prefix``:
    the line's start for this table as the server quotes it (``table s.t:``), read without parsing it.
    ``only``: the new tuple's columns that are wanted (the key, for log mode's fast path): the line is read up to
    them (the old key and a DELETE's key are read whole)."""
    if not data.startswith("table "):
        return None
    names: list[tuple[str, str]] = []
    if prefix and data.startswith(prefix + " "):
        names, at = [table], len(prefix) - 1
    else:
        at = len("table ")
        while True:
            name, at = _qualified(data, at)
            names.append(name)
            if data.startswith(", ", at):
                at += 2
                continue
            break
    if not data.startswith(": ", at):
        raise SourceError("protocol", f"no action after the table name: {data[:80]!r}")
    action_end = data.find(":", at + 2)
    if action_end < 0:
        raise SourceError("protocol", f"no action: {data[:80]!r}")
    action = data[at + 2:action_end]
    at = action_end + 1
    if action == "TRUNCATE":
        return Change("T") if table in names else None
    if names != [table]:
        return None
    if action not in ("INSERT", "UPDATE", "DELETE"):
        raise SourceError("protocol", f"an unknown action {action!r}")
    if data.startswith(" ", at):
        at += 1
    if data.startswith("(no-tuple-data)", at):
        return Change(action[0], None, None)
    if action == "DELETE":
        return Change("D", None, _tuple(data, at)[0])
    old: dict[str, tuple[int | str, Any]] | None = None
    if action == "UPDATE" and data.startswith("old-key: ", at):
        old, at = _tuple(data, at + len("old-key: "), stop="new-tuple: ")
        if not data.startswith("new-tuple: ", at):
            raise SourceError("protocol", "old-key: without new-tuple:")
        at += len("new-tuple: ")
    new, _ = _tuple(data, at, only=only)
    return Change(action[0], new, old)


def _json_value(value: Any) -> Any:
    """A wal2json value back as PostgreSQL's text (numbers were parsed as their text)."""
    if value is None or isinstance(value, str):
        return value
    if value is True:
        return "t"
    if value is False:
        return "f"
    return json.dumps(value, ensure_ascii=False)


#: numeric, real, double precision: wal2json writes their NaN and infinities as JSON null, like a NULL
_FLOATING = frozenset({1700, 700, 701})


def _json_columns(items: Any, bytea_oid: int = 17) -> dict[str, tuple[int | str, Any]]:
    """A wal2json tuple's columns: (type oid, value as PostgreSQL's text).  A null number may be a NaN or an
    infinity (wal2json 2.5 cannot say which): it stands as :data:`TOAST` — not in the log — and its row is read
    again from the source, as for an unchanged large value (review 18: a NaN was stored as NULL)."""
    columns: dict[str, tuple[int | str, Any]] = {}
    for item in items:
        oid = int(item.get("typeoid") or 0)
        raw = item.get("value")
        value = TOAST if raw is None and oid in _FLOATING else _json_value(raw)
        if oid == bytea_oid and isinstance(value, str):  # wal2json writes bytea as bare hex digits
            value = "\\x" + value
        columns[str(item["name"])] = (oid, value)
    return columns


def parse_wal2json(record: dict[str, Any], table: tuple[str, str]) -> Change | None:
    """A wal2json (format version 2, ``include-type-oids``) change of ``table`` as a :class:`Change`."""
    action = record.get("action")
    if action not in ("I", "U", "D", "T") or (record.get("schema"), record.get("table")) != table:
        return None
    new = _json_columns(record["columns"]) if "columns" in record else None
    old = _json_columns(record["identity"]) if "identity" in record else None
    return Change(str(action), new, old)


def _load_json(data: str) -> dict[str, Any]:
    # numbers kept as their text: a numeric(30, 10) must not pass through a double
    try:
        parsed = json.loads(data, parse_float=str, parse_int=str, parse_constant=str)
    except ValueError as exc:
        raise SourceError("protocol", f"a wal2json record that is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise SourceError("protocol", "a wal2json record that is not an object")
    return parsed


# -- the run -----------------------------------------------------------------------------------------------

class DeletesHeld(Exception):
    """The mass-delete guard (issue 10 item 5) in log mode: the call's deletions — a ``TRUNCATE``, a ``DELETE``
    without a ``WHERE`` — would take more than the guard's share of the table.  Nothing of the batch that would
    do it was committed, and the slot stays where the centre is: the next call (with ``confirmed``) goes on."""

    def __init__(self, pending: int, live: int) -> None:
        super().__init__(f"{pending} of {live} rows would be deleted")
        self.pending, self.live = pending, live


#: deletions of one call below this many are never held (no count of the table for a few deletes)
GUARD_MIN_ROWS = 10


class _TakenOver(Exception):
    """Another worker committed the batch this one was about to: start again from what it committed."""


@dataclass
class _Table:
    relid: int
    columns: set[str]
    prefix: str  # test_decoding's "table <schema>.<name>:"


def _table(conn: psycopg.Connection[Any], plan: CopyPlan, relid: int | None) -> _Table:
    """The table's oid and columns; its replica identity checked against the plan's key."""
    schema = plan.schema or "public"
    row = conn.execute(
        "SELECT c.oid, c.relkind, c.relreplident, "
        "ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
        "AND NOT a.attisdropped), "
        "ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON "
        "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = c.oid AND "
        "CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END), "
        "'table ' || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || ':' "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (schema, plan.table)).fetchone()
    if row is None:
        if relid is not None:
            moved = conn.execute("SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = %s",
                                 (relid,)).fetchone()
            if moved is not None:
                raise LogError("column_gone", f"the table {schema}.{plan.table} was renamed {moved[0]}")
        raise SourceError("not_found", f"no table {schema}.{plan.table}")
    oid, relkind, identity, columns, identity_columns, prefix = row
    if relid is not None and int(oid) != int(relid):
        raise LogError("column_gone", f"the table {schema}.{plan.table} was dropped and made again "
                                      "(another relation): its changes since then need a full copy")
    if relkind != "r":
        raise LogError("other", f"{schema}.{plan.table} is not a plain table (kind {relkind}): log mode "
                                "reads tables only (a partitioned table logs under its partitions' names)")
    gone = [c for c in plan.columns if c not in columns]
    if gone:
        raise LogError("column_gone", f"no column {', '.join(gone)} in {schema}.{plan.table}")
    covered = set(columns) if identity == "f" else set(identity_columns)
    if not set(plan.key) <= covered:
        raise LogError("no_replica_identity",
                       f"the replica identity of {schema}.{plan.table} ({identity}: "
                       f"{', '.join(sorted(covered)) or 'nothing'}) does not cover the key "
                       f"({', '.join(plan.key)}): deletes could not name their row — make the key the primary "
                       "key, or ALTER TABLE … REPLICA IDENTITY FULL")
    return _Table(int(oid), set(columns), str(prefix))


@dataclass
class _Slot:
    plugin: str
    confirmed: int
    restart: int


def _slot(conn: psycopg.Connection[Any], slot: str, plugin: str) -> _Slot:
    row = conn.execute(_SLOT_SQL, (slot,)).fetchone()
    if row is None:
        raise LogError("no_slot", f"no replication slot {slot} (create_slot first)")
    found_plugin, kind, database, active, pid, restart, confirmed, status, *_rest, here = row
    if kind != "logical" or database != here:
        raise LogError("no_slot", f"the slot {slot} is not a logical slot of the database {here}")
    if found_plugin != plugin:
        raise LogError("no_slot", f"the slot {slot} decodes with {found_plugin}, not {plugin}")
    if status == "lost" or confirmed is None:
        raise LogError("slot_lost", f"the source removed WAL the slot {slot} needed: a full copy is needed, "
                                    "then a new slot")
    if active:
        raise LogError("slot_in_use", f"the slot {slot} is in use by the source's process {pid}")
    return _Slot(str(found_plugin), lsn_number(confirmed), lsn_number(restart or confirmed))


def _written_by(changes: Sequence[Change]) -> set[int]:
    """The transactions (32-bit ids) of a batch's inserts and updates."""
    return {int(change.xid) for change in changes if change.xid and change.action != "D"}


class _Writer:
    """Log mode's fast path, pipelined over two centre connections (``stores``: the run's own and, from the second
    item on, the run's second one, :meth:`_Run.pipelined`): batch k + 1's rows are read again from the source and
    converted on one connection while batch k is written on the other, and the main thread reads the log
    meanwhile.  Batches still commit one after the other, in the log's order: an
    item holds the source's session in its turn (``fastcopy._Pipeline``) and locks the table only once the main
    thread has taken every commit of the item before (:meth:`_take`: :meth:`_Run._committed` — positions,
    ``on_batch``, takeovers — then the grant).  So an item that fails, or whose ``on_batch`` raises, or that finds
    itself taken over, lets nothing behind it commit; the items behind wait for their turn until the main thread
    reaches the failure, in order, and stops them (:meth:`close`).  Before the main thread reads the run's
    position or uses the run's first connection itself, it drains (:meth:`drain`); while it reads the log it
    takes the items already done (:meth:`poll`), so the next one need not wait for its turn."""

    def __init__(self, run: _Run) -> None:
        from govshare.exchange.engine.fastcopy import _Pipeline

        self.run = run
        self.stores = [run.store]  # the second connection is opened with the second item (_Run.pipelined)
        self.line = _Pipeline(0, None)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="logmode")
        self.pending: collections.deque[tuple[int, concurrent.futures.Future[_Done]]] = collections.deque()
        self.turn = 0
        self.number = run.batch + 1

    def take(self, count: int) -> int:
        """The first of ``count`` batch numbers for the next item (after every number given or committed)."""
        first = self.number if self.pending else self.run.batch + 1
        self.number = first + count
        return first

    def submit(self, work: Callable[[Store, int, list[tuple[BatchReceipt, dict[str, Any]]]], None]) -> None:
        """``work(store, turn, done)`` on the next turn's connection, once a connection is free; ``work``
        appends each commit it makes to ``done`` (its receipt and the position sent)."""
        if self.turn == 1:  # a second item: it may be prepared on a second connection while the first is written
            self.stores = self.run.pipelined()
        while len(self.pending) >= len(self.stores):
            self._take()
        turn = self.turn
        self.turn += 1
        store = self.stores[turn % len(self.stores)]
        self.pending.append((turn, self.pool.submit(self._one, work, store, turn)))

    @staticmethod
    def _one(work: Callable[[Store, int, list[tuple[BatchReceipt, dict[str, Any]]]], None], store: Store,
             turn: int) -> _Done:
        done: list[tuple[BatchReceipt, dict[str, Any]]] = []
        try:
            work(store, turn, done)
        except BaseException as exc:  # the commits made before it are still taken, in order
            return done, exc
        return done, None

    def _take(self) -> None:
        """The oldest item's commits, in order; then the next item may lock — or its failure, raised."""
        turn, future = self.pending.popleft()
        try:
            done, error = future.result()
            for receipt, sent in done:
                self.run._committed(receipt, sent)  # raises _TakenOver; on_batch may raise
            if error is not None:
                raise error
        except BaseException:
            self.close()
            raise
        self.line.grant(turn + 1)

    def poll(self) -> None:
        """Take the items already done (no wait)."""
        while self.pending and self.pending[0][1].done():
            self._take()

    def drain(self) -> None:
        while self.pending:
            self._take()

    def close(self) -> None:
        """Stop: the items still on their way give up before they lock; wait for them."""
        self.line.stop()
        while self.pending:
            with contextlib.suppress(Exception):  # cancelled, or failed without committing
                self.pending.popleft()[1].result()
        self.pool.shutdown(wait=True)


#: what an item of :class:`_Writer` did: its commits (receipt, position sent), and the error that stopped it
_Done = tuple[list[tuple[BatchReceipt, dict[str, Any]]], BaseException | None]


class _Run:
    def __init__(self, plan: CopyPlan, store: Store, run_id: str, slot: str, plugin: str, max_changes: int,
                 on_batch: Callable[[BatchReceipt], None] | None, should_stop: Callable[[], bool] | None,
                 idle_advance_bytes: int, guard_share: float = 1.0, confirmed: int | None = None) -> None:
        self.plan, self.store, self.run_id, self.slot, self.plugin = plan, store, run_id, slot, plugin
        self.guard_share, self.confirmed = guard_share, confirmed
        self.deleting = 0
        self.live: int | None = None
        self.max_changes, self.on_batch, self.should_stop = max_changes, on_batch, should_stop
        self.idle_advance_bytes = idle_advance_bytes
        self.key_at = _check(plan)
        self.key_items = [plan.items[i] for i in self.key_at]
        self.changes = 0
        self.lags: list[float] = []
        self.caught_up_at: dt.datetime | None = None
        self.types: dict[int | str, Any] = {}
        self.reader: Any = None  # a read-only session for TOAST re-reads, opened when needed
        self.fast: Any = None  # fastcopy.KeyedReader: rows read again by key, converted in the centre
        self.twin: Store | None = None  # the fast path's second centre connection (_Writer), opened when needed
        self.twin_tried = False
        self.writer: _Writer | None = None  # the fast path's batches on their way (one peek's)
        self.aux: Any = None  # a session of the source for the fast path's rows rebuilt from the log
        self.aux_types: dict[int | str, Any] = {}
        self.aux_lock = threading.Lock()
        self.name = (plan.schema or "public", plan.table)
        self.position: dict[str, Any] = {}
        self.advanced = 0
        self.relid = 0
        self.restart = 0
        self.batch = 0
        self._stack = contextlib.ExitStack()

    # -- the centre --------------------------------------------------------------------------------------

    def _stopped(self) -> bool:
        return (self.should_stop is not None and self.should_stop()) or self.changes >= self.max_changes

    def _committed(self, receipt: BatchReceipt, sent: dict[str, Any]) -> None:
        """After a commit: a batch number already committed by another worker with another position means
        this worker was taken over (presumed dead): what the other committed is the truth — start again."""
        if receipt.position != sent:
            raise _TakenOver
        self.batch = receipt.batch
        self.position = sent
        if self.on_batch is not None:
            self.on_batch(receipt)

    def _next(self) -> int:
        """This worker's next batch number (its own count, as the copies do: a number the store already has
        returns the stored receipt, which tells a takeover)."""
        return self.batch + 1

    def _apply(self, rows: list[list[Any]], hashes: list[bytes], rows_read: int,
               rejects: list[tuple[str, str, str]], sent: dict[str, Any]) -> None:
        receipt = self.store.apply(self.plan.target, rows, run_id=self.run_id, batch=self._next(), position=sent,
                                   rows_read=rows_read, read_hash=combine(hashes), rejects=rejects,
                                   remember=False, hashes=hashes)
        self._committed(receipt, sent)

    def _tombstone(self, keys: Sequence[Sequence[Any]], sent: dict[str, Any]) -> None:
        self._drain()
        receipt = self.store.tombstone(self.plan.target, keys, run_id=self.run_id, batch=self._next(),
                                       position=sent)
        self._committed(receipt, sent)

    def _drain(self) -> None:
        """Wait for the fast path's batches on their way and take their commits (positions, ``on_batch``)."""
        if self.writer is not None:
            self.writer.drain()

    def _live(self) -> int:
        if self.live is None:
            self.live = self.store.live_rows(self.plan.target)
        return self.live

    def _guard(self, more: int) -> None:
        """Count ``more`` deletions of this call against the mass-delete guard (before any of them commits)."""
        total = self.deleting + more
        if self.guard_share < 1 and total >= GUARD_MIN_ROWS:
            if self.live is None:
                self._drain()  # the count is read on the run's first connection, which a writer may be using
            live = self._live()
            if total > self.guard_share * max(live, 1) and (self.confirmed is None or total > self.confirmed):
                raise DeletesHeld(total, live)
        self.deleting = total

    def _truncate(self, base: dict[str, Any]) -> None:
        """Tombstone every live row, a batch at a time (the run's key list is empty: ``unseen`` is all)."""
        while True:
            keys = self.store.unseen(self.plan.target, self.run_id, self.plan.batch_rows)
            last = len(keys) < self.plan.batch_rows
            self._tombstone(keys, {**base, "part": "truncate", "truncate": not last})
            if last:
                return

    def _finish(self, position: dict[str, Any]) -> dict[str, Any]:
        """The work a committed position says is still to do (the deletes of its batch, a truncate)."""
        if position.get("tombstones") is not None:
            keys = [decode_key(key) for key in position["tombstones"]]
            sent = {k: v for k, v in position.items() if k != "tombstones"} | {"part": "deletes"}
            self._tombstone(keys, sent)
            position = sent
        if position.get("truncate"):
            self._truncate({k: v for k, v in position.items() if k != "truncate"})
            position = self.position
        return position

    # -- the source --------------------------------------------------------------------------------------

    def _advance(self, conn: psycopg.Connection[Any], target: int) -> None:
        if target > self.advanced:
            try:
                with conn.transaction():  # a savepoint inside a peek's transaction
                    _advance(conn, self.slot, target)
            except psycopg.Error as exc:
                if "cannot advance replication slot" in str(exc).lower():
                    raise _TakenOver from exc  # another worker moved it further: start again from its commit
                raise
            self.advanced = target

    def _loader(self, conn: psycopg.Connection[Any], transformer: Any, kind: int | str) -> Any:
        """The psycopg loader of a type (an oid, or a name as test_decoding prints it); a domain's base type."""
        types = self.aux_types if conn is self.aux else self.types
        loader = types.get(kind)
        if loader is None:
            row = None
            where = "%s::oid" if isinstance(kind, int) else "pg_catalog.to_regtype(%s)"
            sql = ("WITH RECURSIVE t(oid, base, depth) AS (SELECT y.oid, y.typbasetype, 0 "  # noqa: S608
                   f"FROM pg_catalog.pg_type y WHERE y.oid = {where} UNION ALL SELECT y.oid, y.typbasetype, t.depth + 1 FROM t "
                   "JOIN pg_catalog.pg_type y ON y.oid = t.base WHERE t.base <> 0 AND t.depth < 10) "
                   "SELECT oid FROM t ORDER BY depth DESC LIMIT 1")
            with contextlib.suppress(psycopg.Error), conn.transaction():  # a savepoint: a bad name fails alone
                row = conn.execute(sql, (kind,)).fetchone()
            oid = int(row[0]) if row is not None else 0
            loader = transformer.get_loader(oid or 25, Format.TEXT)
            types[kind] = loader
        return loader

    def _value(self, conn: psycopg.Connection[Any], transformer: Any, typed: tuple[int | str, Any]) -> Any:
        kind, text = typed
        if text is None or text is TOAST:
            return text
        try:
            return self._loader(conn, transformer, kind).load(text.encode("utf-8"))
        except (psycopg.DataError, ValueError, TypeError, OverflowError):
            return text  # kept as the source wrote it: the conversion quarantines it with the reason

    def _row(self, conn: psycopg.Connection[Any], transformer: Any, change: Change) -> tuple[list[Any], bool]:
        """The plan's columns of the change's new values, loaded; whether one is an unchanged TOASTed value."""
        new = change.new or {}
        values: list[Any] = []
        toast = False
        for column in self.plan.columns:
            typed = new.get(column)
            if typed is None:
                if change.action == "U" and self.plugin == "wal2json":  # wal2json leaves unchanged TOAST out
                    values.append(TOAST)
                    toast = True
                    continue
                raise LogError("column_gone", f"a change of {self.plan.table} without the column {column}")
            value = self._value(conn, transformer, typed)
            toast = toast or value is TOAST
            values.append(value)
        return values, toast

    def _old_key(self, conn: psycopg.Connection[Any], transformer: Any, change: Change,
                 required: bool) -> list[Any] | None:
        old = change.old or {}
        if not all(k in old and old[k][1] is not TOAST for k in self.plan.key):
            if required:
                raise LogError("no_key_in_change", f"a {'DELETE' if change.action == 'D' else 'change'} of "
                                                   f"{self.plan.table} without its key ({', '.join(self.plan.key)})"
                                                   ": the table's replica identity must include the key")
            return None
        return [self._value(conn, transformer, old[k]) for k in self.plan.key]

    def _convert_key(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if any(value is None for value in raw):
            raise ValueError("empty_key: a key without a value")
        return tuple(convert(value, item) for item, value in zip(self.key_items, raw, strict=True))

    def _reread(self, raws: list[list[Any]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """The rows of these keys (raw values, in key order) as the source has them now, by converted key."""
        if self.reader is None:
            self.reader = self._stack.enter_context(sources.connect(self.plan.source))
        quoted = _Reader(self.plan)
        columns = ", ".join(quoted.quote(c) for c in self.plan.columns)
        keys = [quoted.quote(k) for k in self.plan.key]
        found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for start in range(0, len(raws), REREAD_KEYS):
            chunk = raws[start:start + REREAD_KEYS]
            one = "(" + ", ".join(["%s"] * len(keys)) + ")"
            sql = (f"SELECT {columns} FROM {quoted.table} WHERE ({', '.join(keys)}) IN "  # noqa: S608 — quoted
                   f"({', '.join([one] * len(chunk))})")
            try:
                rows = self.reader.execute(sql, [value for raw in chunk for value in raw]).fetchall()
            except psycopg.Error as exc:
                raise _error(exc) from exc
            for row in rows:
                with contextlib.suppress(ValueError):
                    found[self._convert_key([row[i] for i in self.key_at])] = tuple(row)
        return found

    # -- batches -----------------------------------------------------------------------------------------

    def _flush_fast(self, conn: psycopg.Connection[Any], transformer: Any, changes: list[Change],
                    at: dict[str, Any], commit_times: list[dt.datetime]) -> None:
        """:meth:`_flush` by :class:`fastcopy.KeyedReader`: only the keys are taken from the log; the rows of the
        keys inserted or updated are read again from the source, as it is now, and converted in the centre."""
        ops: dict[tuple[Any, ...], tuple[str, Any]] = {}
        rejects: list[tuple[str, str, str]] = []
        unplaced = 0
        key_names = _key_items(self.plan, self.key_at)
        for change in changes:
            if change.action == "D":
                self._op_delete(ops, conn, transformer, change)
                continue
            new = change.new or {}
            old = self._old_key(conn, transformer, change, required=False) if change.action == "U" else None
            raw_key: list[Any] = []
            for position, column in enumerate(self.plan.key):
                typed = new.get(column)
                value = TOAST if typed is None else self._value(conn, transformer, typed)
                if value is TOAST and change.action == "U" and old is not None:
                    value = old[position]  # an unchanged large key value is not logged again: it is the old one
                elif typed is None and not (change.action == "U" and self.plugin == "wal2json"):
                    raise LogError("column_gone", f"a change of {self.plan.table} without the column {column}")
                raw_key.append(value)
            unplaced += self._op_upsert(ops, rejects, key_names, raw_key, old, "U", (raw_key, change))
        keys = [value[0] for op, value in ops.values() if op == "U"]
        deletes = [list(key) for key, (op, _) in ops.items() if op == "D"]
        if deletes:
            self._guard(len(deletes))
        base = {"phase": "rows", **at, "relid": self.relid}
        xids = _written_by(changes) if keys else set()
        upserts, tombstones = self._commits(bool(keys or unplaced), deletes, base)

        def logged(found: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
            """The rows, as the log has them, of the keys the re-read did not find: not visible yet to other
            sessions (a commit still waiting for a synchronous standby) — or deleted since, and then tombstoned
            by the DELETE that follows in the log.  A row whose logged values lack an unchanged large value
            cannot be rebuilt: left to that DELETE, as the values' path leaves it.  (On a writer's thread: the
            values are loaded with a session of the source of their own, not the log's.)"""
            seen = set()
            for raw in found:
                with contextlib.suppress(ValueError):
                    seen.add(self._convert_key(list(raw)))
            missing = [value[1] for key, (op, value) in ops.items() if op == "U" and key not in seen]
            if not missing:
                return []
            rows: list[tuple[Any, ...]] = []
            with self.aux_lock:
                if self.aux is None:
                    self.aux = self._stack.enter_context(_replication(self.plan.source))
                aux = self.aux
                loading = Transformer(aux)
                for change in missing:
                    whole = change if change.line is None else parse_test_decoding(change.line, self.name)
                    if whole is None:
                        continue
                    row, toast = self._row(aux, loading, whole)
                    if not toast:
                        rows.append(tuple(row))
            return rows

        assert self.writer is not None
        writer = self.writer
        line = writer.line
        number = writer.take(int(upserts is not None) + int(tombstones is not None))

        def work(store: Store, turn: int, done: list[tuple[BatchReceipt, dict[str, Any]]]) -> None:
            """The batch's commits on ``store``: its rows read again while it holds the source's turn, its commits
            once the batch before has been taken."""
            line.wait(lambda: line.source == turn)
            try:
                if keys:  # the re-read must see what the log says was committed (review: synchronous standbys)
                    self.fast.wait_visible(xids)
                if upserts is not None:
                    receipt = self.fast.apply(
                        store, keys, unplaced, rejects, run_id=self.run_id, batch=number, position=upserts,
                        logged=logged, after_read=lambda: line.hand_on(turn),
                        before_lock=lambda: line.wait(lambda: line.granted >= turn))
                    done.append((receipt, upserts))
                    if receipt.position != upserts:  # taken over: the other worker's commits rule
                        return
            finally:
                line.hand_on(turn)
            if tombstones is not None:
                line.wait(lambda: line.granted >= turn)
                receipt = store.tombstone(self.plan.target, deletes, run_id=self.run_id,
                                          batch=number + int(upserts is not None), position=tombstones)
                done.append((receipt, tombstones))
            self._lag(commit_times)

        writer.submit(work)

    def _flush(self, conn: psycopg.Connection[Any], transformer: Any, changes: list[Change],
               at: dict[str, Any], commit_times: list[dt.datetime]) -> None:
        """Apply a batch of changes (in stream order; the last change of a key wins) with its position."""
        if self.fast is not None:
            self._flush_fast(conn, transformer, changes, at, commit_times)
            return
        ops: dict[tuple[Any, ...], tuple[str, Any]] = {}
        rejects: list[tuple[str, str, str]] = []
        unplaced = 0
        key_names = _key_items(self.plan, self.key_at)
        for change in changes:
            if change.action == "D":
                self._op_delete(ops, conn, transformer, change)
                continue
            raw, toast = self._row(conn, transformer, change)
            raw_key = [raw[i] for i in self.key_at]
            old = self._old_key(conn, transformer, change, required=False) if change.action == "U" else None
            unplaced += self._op_upsert(ops, rejects, key_names, raw_key, old, "R" if toast else "U", raw)
        again = [value for value in ops.values() if value[0] == "R"]
        if again:
            from govshare.exchange.engine.fastcopy import wait_visible

            if self.reader is None:
                self.reader = self._stack.enter_context(sources.connect(self.plan.source))
            # the re-read must see what the log says was committed (review: a commit waiting for a standby)
            wait_visible(self.reader, _written_by(changes))
            current = self._reread([[value[1][i] for i in self.key_at] for value in again])
            for key, (op, _raw) in list(ops.items()):
                if op == "R":
                    if key in current:
                        ops[key] = ("U", list(current[key]))
                    else:
                        del ops[key]  # gone from the source since: its DELETE follows in the stream
        upserts = [tuple(raw) for op, raw in ops.values() if op == "U"]
        deletes = [list(key) for key, (op, _) in ops.items() if op == "D"]
        accepted, hashes, quarantined, _ = _convert_page(self.plan, self.key_at, upserts)
        rejects.extend(quarantined)
        rows_read = len(upserts) + unplaced
        batch = self._next()
        _limit(self.plan, batch, rows_read, len(accepted), rejects)
        if deletes:
            self._guard(len(deletes))
        base = {"phase": "rows", **at, "relid": self.relid}
        self._write(lambda sent: self._apply(accepted, hashes, rows_read, rejects, sent), bool(rows_read), deletes,
                    base, commit_times)

    def _op_delete(self, ops: dict[tuple[Any, ...], tuple[str, Any]], conn: psycopg.Connection[Any],
                   transformer: Any, change: Change) -> None:
        """A DELETE in a batch's operations: the last change of its key."""
        raw_old = self._old_key(conn, transformer, change, required=True)
        assert raw_old is not None
        with contextlib.suppress(ValueError):  # a key the centre cannot hold: its row is not there
            ops[self._convert_key(raw_old)] = ("D", raw_old)

    def _op_upsert(self, ops: dict[tuple[Any, ...], tuple[str, Any]], rejects: list[tuple[str, str, str]],
                   key_names: str, raw_key: list[Any], old: list[Any] | None, op: str, value: Any) -> int:
        """An INSERT or UPDATE in a batch's operations (``op``, ``value``: what to apply); an UPDATE that changed
        the key deletes the old one.  1 when the key cannot be converted (quarantined), else 0."""
        unplaced = 0
        try:
            if any(part is TOAST for part in raw_key):
                raise ValueError("empty_key: the key's value is not in the log (unchanged TOAST)")
            key: tuple[Any, ...] | None = self._convert_key(raw_key)
        except ValueError as exc:
            key = None
            unplaced = 1
            rejects.append((_key_text(raw_key), key_names, str(exc)))
        if old is not None:
            with contextlib.suppress(ValueError):
                old_key = self._convert_key(old)
                if old_key != key:
                    ops[old_key] = ("D", old)
        if key is not None:
            ops.pop(key, None)  # re-inserted at the end: the dict keeps the stream's order
            ops[key] = (op, value)
        return unplaced

    @staticmethod
    def _commits(rows: bool, deletes: list[list[Any]], base: dict[str, Any]
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """A batch's commits, as positions (None: not made): the upserts (carrying the deletes still to do), then
        the tombstones — or the upserts alone (also a batch without rows: it commits the position)."""
        upserts = None if deletes and not rows else \
            {**base, "part": "upserts", **({"tombstones": [encode_key(key) for key in deletes]} if deletes else {})}
        return upserts, ({**base, "part": "deletes"} if deletes else None)

    def _lag(self, commit_times: list[dt.datetime]) -> None:
        """After a batch's commits: the seconds from the source's commit of its oldest transaction."""
        if commit_times:
            now = dt.datetime.now(dt.UTC)
            self.lags.append(round(max(0.0, (now - min(commit_times)).total_seconds()), 3))

    def _write(self, upsert: Callable[[dict[str, Any]], None], rows: bool, deletes: list[list[Any]],
               base: dict[str, Any], commit_times: list[dt.datetime]) -> None:
        """A batch's commits (:meth:`_commits`), one after the other."""
        upserts, tombstones = self._commits(rows, deletes, base)
        if upserts is not None:
            upsert(upserts)
        if tombstones is not None:
            self._tombstone(deletes, tombstones)
        self._lag(commit_times)

    def _peek_sql(self, table: _Table) -> tuple[str, list[Any]]:
        if self.plugin == "test_decoding":
            return ("SELECT lsn::text, xid::text, data FROM pg_catalog.pg_logical_slot_peek_changes(%s, "
                    "%s::pg_lsn, NULL, 'include-xids', '1', 'include-timestamp', '1', 'skip-empty-xacts', '1') "
                    "WHERE pg_catalog.starts_with(data, 'COMMIT') OR pg_catalog.starts_with(data, %s) OR "
                    "(pg_catalog.starts_with(data, 'table ') AND pg_catalog.strpos(data, ': TRUNCATE: ') > 0)",
                    [table.prefix])
        return ("SELECT lsn::text, xid::text, data FROM pg_catalog.pg_logical_slot_peek_changes(%s, "
                "%s::pg_lsn, NULL, 'format-version', '2', 'include-type-oids', '1', 'include-timestamp', '1', "
                "'include-xids', '1') WHERE (data::json ->> 'action') = 'C' OR "
                "((data::json ->> 'schema') = %s AND (data::json ->> 'table') = %s)",
                list(self.name))

    def _session(self, conn: psycopg.Connection[Any], table: _Table, upto: int, final: bool) -> tuple[bool, bool]:
        """One peek up to ``upto``: its changes applied batch by batch.  (a transaction was read to its end,
        the call must stop: ``should_stop`` or ``max_changes``).  The fast path's batches go through a
        :class:`_Writer`, drained before the peek ends."""
        if self.fast is None:
            return self._peek(conn, table, upto, final)
        self.writer = _Writer(self)
        try:
            return self._peek(conn, table, upto, final)
        finally:
            writer, self.writer = self.writer, None
            writer.close()

    def _peek(self, conn: psycopg.Connection[Any], table: _Table, upto: int, final: bool) -> tuple[bool, bool]:
        transformer = Transformer(conn)
        sql, extra = self._peek_sql(table)
        only = frozenset(self.plan.key) if self.fast is not None else None  # the fast path needs the keys only
        position = self.position
        last_commit = position["lsn"]
        skip_xid, skip = position.get("xid"), int(position.get("skip") or 0)
        xid: str | None = None
        in_txn = 0
        batch: list[Change] = []
        commit_times: list[dt.datetime] = []
        in_batch = False  # the open transaction has changes in the batch
        moved = False
        name = self.name
        with conn.transaction():
            cursor = conn.cursor(name=f"govshare_log_{secrets.token_hex(4)}")
            cursor.itersize = _FETCH_ROWS
            cursor.execute(sql, [self.slot, lsn_text(upto), *extra])
            for row_lsn, row_xid, data in cursor:
                if self.plugin == "test_decoding":
                    matched = _COMMIT.match(data) if data.startswith("COMMIT") else None
                    if data.startswith("COMMIT") and matched is None:
                        raise SourceError("protocol", f"an unknown COMMIT line: {data[:80]!r}")
                    commit = matched is not None
                    change = None if commit else parse_test_decoding(data, name, table.prefix, only)
                    if change is not None and only is not None:
                        change.line = data
                    stamp = matched.group(2) if matched else None
                else:
                    record = _load_json(data)
                    commit = record.get("action") == "C"
                    change = None if commit else parse_wal2json(record, name)
                    stamp = record.get("timestamp") if commit else None
                if commit:
                    if skip_xid is not None and (row_xid != skip_xid or in_txn < skip):
                        raise LogError("slot_moved", f"the transaction {skip_xid} the centre had begun is not "
                                                     "where the slot resumes: the slot was moved")
                    skip_xid = None
                    if in_batch and stamp:
                        with contextlib.suppress(ValueError):
                            commit_times.append(dt.datetime.fromisoformat(str(stamp)))
                    last_commit, xid, in_txn, in_batch, moved = row_lsn, None, 0, False, True
                    continue
                if change is None:
                    continue
                if self.writer is not None and not self.changes % _POLL_CHANGES:
                    self.writer.poll()  # a batch written meanwhile: the next may lock
                if skip_xid is not None:
                    if row_xid != skip_xid:
                        raise LogError("slot_moved", f"the transaction {skip_xid} the centre had begun is not "
                                                     "where the slot resumes: the slot was moved")
                    if in_txn < skip:
                        xid, in_txn = row_xid, in_txn + 1
                        continue
                if len(batch) >= self.plan.batch_rows:
                    self._flush(conn, transformer, batch, self._at(last_commit, xid, in_txn, False), commit_times)
                    batch, commit_times, in_batch = [], [], False
                    if self._stopped():
                        self._drain()
                        self._advance(conn, lsn_number(self.position["lsn"]))
                        return moved, True
                xid, in_txn = row_xid, in_txn + 1
                self.changes += 1
                if change.action == "T":
                    if batch:
                        self._flush(conn, transformer, batch, self._at(last_commit, xid, in_txn - 1, False),
                                    commit_times)
                        batch, commit_times = [], []
                    self._drain()
                    self._guard(self._live())  # a TRUNCATE deletes every live row
                    self._truncate({"phase": "rows", **self._at(last_commit, xid, in_txn, False),
                                    "relid": self.relid})
                    in_batch = False
                    continue
                change.xid = row_xid
                batch.append(change)
                in_batch = True
        self._drain()
        committed = lsn_number(self.position["lsn"])
        if final:
            if skip_xid is not None:
                raise LogError("slot_moved", f"the transaction {skip_xid} the centre had begun is no longer in "
                                             "the slot: the slot was moved")
            # every transaction that committed before ``upto`` has been read: the slot may move there — when
            # there are changes, when that is far, or when the slot still holds much WAL it no longer needs (its
            # restart point moves only when a later advance decodes the source's next running-transactions
            # record: after a burst, the WAL of the burst stays held until then)
            # (a commit record that straddles ``upto`` is read too: its end may lie past it)
            target = max(upto, lsn_number(last_commit))
            idle = self.idle_advance_bytes
            if batch or target - committed >= idle or (target > committed and committed - self.restart >= idle):
                self._flush(conn, transformer, batch, self._at(lsn_text(target), None, 0, True), commit_times)
        elif batch or lsn_number(last_commit) > committed:
            self._flush(conn, transformer, batch, self._at(last_commit, None, 0, False), commit_times)
        self._drain()
        # the slot follows the centre once per peek, after the commits (each advance decodes the WAL from the
        # slot's restart point again: after every batch it would cost as much as the peek)
        self._advance(conn, lsn_number(self.position["lsn"]))
        return moved, False

    @staticmethod
    def _at(lsn: str, xid: str | None, skip: int, done: bool) -> dict[str, Any]:
        return {"lsn": lsn, "xid": xid, "skip": skip if xid is not None else 0, "done": done}

    # -- the call ----------------------------------------------------------------------------------------

    def run(self, since: dict[str, Any] | None) -> LogResult:
        started = time.monotonic()
        self.store.ensure_table(self.plan.target, self.plan.items, [item.name for item in self.key_items])
        resumed = self.store.last_batch(self.plan.target, self.run_id)
        with self._stack, _replication(self.plan.source) as conn:
            self._choose_path(conn)
            while True:
                try:
                    complete = self._call(conn, since)
                    break
                except _TakenOver:
                    continue
                except psycopg.Error as exc:  # translated here, before the reader's session sees it
                    raise _error(exc) from exc
        return self._result(resumed, started, complete)

    def _choose_path(self, conn: psycopg.Connection[Any]) -> None:
        """PostgreSQL → PostgreSQL centre, for a plan the fast copy takes (:func:`fastcopy.eligible`): the changed
        rows are read again by key by binary COPY and converted and hashed in the centre (:class:`KeyedReader`);
        otherwise every value of the log is loaded, converted and hashed here."""
        from govshare.exchange.engine import fastcopy

        if self.store.kind != "postgresql" or self.plan.rules is not None:
            return
        try:
            types = fastcopy.read_source_types(conn, self.plan)
        except psycopg.Error:
            return
        if fastcopy.eligible(self.plan, self.store, types) is not None:
            return
        if self.reader is None:
            self.reader = self._stack.enter_context(sources.connect(self.plan.source))
        self.fast = fastcopy.KeyedReader(self.plan, self.reader, types)

    def pipelined(self) -> list[Store]:
        """The fast path's centre connections: the run's own and, from the second batch of a call on, a second
        one of the same centre, opened once a run (a call with one batch — a quiet table — opens none)."""
        if not self.twin_tried:
            self.twin_tried = True
            try:
                self.twin = self.store.twin()
            except StoreError:  # the centre takes no more connections now: one batch at a time
                self.twin = None
            if self.twin is not None:
                self._stack.callback(self.twin.close)
        return [self.store] if self.twin is None else [self.store, self.twin]

    def _call(self, conn: psycopg.Connection[Any], since: dict[str, Any] | None) -> bool:
        call_end, now = _require(conn)
        slot = _slot(conn, self.slot, self.plugin)
        self.restart = slot.restart
        # read after the slot: a worker advances the slot only after its commit, so this is at least as far
        self.batch = self.store.last_batch(self.plan.target, self.run_id)
        position = self.store.position(self.plan.target, self.run_id) if self.batch else since
        if position is not None and not (isinstance(position.get("lsn"), str) and "skip" in position):
            raise ValueError("not a log-mode position (another mode's run, or since= of another mode)")
        relid = position.get("relid") if position else None
        table = _table(conn, self.plan, relid)
        self.relid = table.relid
        if position:
            self.position = position
            position = self._finish(dict(position))
            mine = lsn_number(position["lsn"])
            if mine < slot.confirmed:
                raise LogError("slot_moved", f"the slot {self.slot} is at {lsn_text(slot.confirmed)}, past the "
                                             f"centre's position {position['lsn']}: changes in between were read "
                                             "elsewhere (another binding on the same slot?) — a full copy is needed")
            self.advanced = slot.confirmed
            self._advance(conn, mine)  # a commit whose advance did not happen (a crash in between)
            self.position = {k: position.get(k) for k in ("lsn", "xid", "skip")}
        else:
            self.position = {"lsn": lsn_text(slot.confirmed), "xid": None, "skip": 0}
            self.advanced = slot.confirmed
        window = PEEK_BYTES
        while True:
            if self._stopped():
                return False
            base = lsn_number(self.position["lsn"])
            upto = min(call_end, base + window)
            final = upto >= call_end
            moved, stopped = self._session(conn, table, upto, final)
            if stopped:
                return False
            if final:
                self.caught_up_at = now
                return True
            window = PEEK_BYTES if moved else window * 2

    def _result(self, resumed: int, started: float, complete: bool) -> LogResult:
        receipts = self.store.receipts(self.plan.target, self.run_id)
        applied = [r for r in receipts if r.position.get("part") == "upserts"]
        return LogResult(
            run_id=self.run_id, batches=len(receipts), rows_read=sum(r.rows_read for r in receipts),
            inserted=sum(r.inserted for r in receipts), updated=sum(r.updated for r in receipts),
            unchanged=sum(r.unchanged for r in receipts), rejected=sum(r.rejected for r in receipts),
            read_hash=merge(r.read_hash for r in applied), resumed_from_batch=resumed,
            seconds=round(time.monotonic() - started, 3), complete=complete,
            deleted=sum(r.deleted for r in receipts),
            lsn=str(receipts[-1].position.get("lsn", "")) if receipts else "", changes=self.changes,
            lag_seconds=self.lags, caught_up_at=self.caught_up_at if complete else None, keyed=self.fast is not None)


def _advance(conn: psycopg.Connection[Any], slot: str, target: int) -> None:
    """Move the slot's confirmed position to ``target`` (the end of a transaction the centre has committed)."""
    conn.execute("SELECT pg_catalog.pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, lsn_text(target)))


def log_copy(plan: CopyPlan, store: Store, *, run_id: str, slot: str, plugin: str = "test_decoding",
             since: dict[str, Any] | None = None, max_changes: int = 1_000_000,
             on_batch: Callable[[BatchReceipt], None] | None = None,
             should_stop: Callable[[], bool] | None = None,
             idle_advance_bytes: int = IDLE_ADVANCE_BYTES, guard_share: float = 1.0,
             confirmed: int | None = None) -> LogResult:
    """Apply the changes the slot holds for ``plan``'s table to ``plan.target``, batches of at most
    ``plan.batch_rows`` changes, each committed with its position, the slot advanced after the commits; up to
    the WAL flushed when the call started (a busy source still ends its call), or until ``max_changes``
    changes of the table were read, or ``should_stop`` (asked before each batch) says so.  Calling again with
    the same ``run_id`` goes on from the run's last committed batch; a new run starts from ``since`` (the last
    position of the run before: ``store.position(target, previous_run)``) or, without it, from the slot.
    ``plan.source``'s account needs REPLICATION (see the module's documentation).  Errors:
    :class:`LogError`/:class:`SourceError` from the source, :class:`StoreError` from the centre,
    :class:`~govshare.exchange.engine.copy.BatchRefused` (the plan's reject limit), :class:`DeletesHeld` (more
    deletions in this call — a ``TRUNCATE``, a mass ``DELETE`` — than ``guard_share`` of the table's live rows,
    and not ``confirmed`` by a person for at least that many); the committed batches
    stay."""
    _slot_name(slot)
    if plugin not in PLUGINS:
        raise ValueError(f"log mode decodes {' or '.join(PLUGINS)}, not {plugin!r}")
    if isinstance(max_changes, bool) or not isinstance(max_changes, int) or max_changes < 1:
        raise ValueError("max_changes: at least 1")
    return _Run(plan, store, run_id, slot, plugin, max_changes, on_batch, should_stop, idle_advance_bytes,
                guard_share, confirmed).run(since)
