"""The fast full copy MySQL/MariaDB → PostgreSQL centre (issue 10, EXC-1; docs/decisions/0004, "MySQL").
Django-free.

The same copy as :func:`govshare.exchange.engine.copy.full_copy` from a MySQL-family source — the same batches,
positions, receipts, quarantine reasons, hashes and resumption, so a run begun by either path may be resumed by
the other — with the per-value work done by the two servers instead of Python (:func:`fastcopy.fast_full_copy`
calls it; :func:`eligible` says when):

1. Each page of ``plan.batch_rows`` rows (keyset, in key order) is read in a consistent-snapshot transaction of
   one of the copy's source sessions, as two things per row: the key columns (the batch's position, exactly as
   the keyset copy reads them) and one *line* the source's server writes in PostgreSQL's COPY CSV format
   (:func:`line_sql`): every value as the server shows it, text quoted, binary values as hex, and a last field
   of flags.  The source's server flags what the centre's input functions would not read as PyMySQL and
   :func:`copy.convert` do (:func:`_bad`): a NUL character in text, a date or time that does not exist (the
   zero date, year 0, 30 February under ``ALLOW_INVALID_DATES``: MySQL's own date arithmetic refuses them), a
   boolean other than 0 and 1 — and sends such a value as NULL.  PyMySQL reads two values per row, not twelve.
2. The lines go by ``COPY … FROM STDIN (FORMAT CSV)`` into a temporary staging table whose columns have the
   types that hold what the source's column types hold (:class:`MySQLDialect`: ``varchar(n)``, ``numeric(p,s)``,
   ``bigint``, ``date``, ``timestamp``, ``boolean``, ``bytea``): PostgreSQL's input functions parse each value
   once, and a value its declared type cannot hold — a source that lies about its schema, or changed it under
   the copy — fails the batch as ``SourceError("protocol")`` quoting the value; nothing of the batch is written.
   :class:`fastcopy._Batch` then converts (mostly nothing to do) and hashes in SQL, and flags in addition what
   the item allows and the source's type does not promise (a length, a number of digits, an unsigned bigint
   past 2^63 − 1).
3. Flagged rows (a handful) — and rows whose keys became equal on their way — are read again by their place in
   the page, in the page's snapshot, with the same driver and types as the keyset copy, and converted by
   :func:`copy.convert` (:func:`fastcopy.take_flagged`): quarantine reasons and hashes are exactly the keyset
   copy's.  The snapshot ends there, before the batch waits for its turn.  Each page also reads the column types
   again under its metadata lock: a column changed since the copy began stops it (the staging would read the new
   values as the old type).
4. From the scratch table on, the store's own batch write; batches pipelined over two connections of the centre
   and two sessions of the source (:func:`fastcopy.run_batches`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg

from govshare.datastore.engine.store import BatchReceipt, StagedBatch, Store, StoreColumn
from govshare.exchange.engine import sources
from govshare.exchange.engine.copy import (
    CopyPlan,
    _fetch,
    _key_items,
    _key_text,
    _limit,
    _Reader,
    decode_key,
    encode_key,
    moving_on,
)
from govshare.exchange.engine.fastcopy import (
    Dialect,
    _Batch,
    _centre_version,
    _flag,
    _Pipeline,
    eligible_for,
    run_batches,
    take_flagged,
)
from govshare.exchange.engine.sources import SourceError

_TEXT = frozenset({"char", "varchar", "tinytext", "text", "enum"})
#: MySQL's integer types and the PostgreSQL type with as many digits or more (fastcopy._flag's digit limits)
_INTEGER = {"tinyint": "smallint", "smallint": "smallint", "mediumint": "integer", "int": "integer",
            "bigint": "bigint"}
_NUMBER = frozenset({"decimal", *_INTEGER})
#: the source column types each letter takes on this path (``information_schema.COLUMNS.DATA_TYPE``)
ALLOWED: dict[str, frozenset[str]] = {
    "C": _TEXT, "M": _TEXT, "N": _NUMBER, "Y": _NUMBER, "I": frozenset(_INTEGER), "D": frozenset({"date"}),
    "T": frozenset({"datetime", "timestamp"}), "L": frozenset({"tinyint"}),
    "G": frozenset({"binary", "varbinary", "tinyblob", "blob"})}

def read_source_types(conn: Any, plan: CopyPlan) -> dict[str, str]:
    """Each column of the source table with its type (from :func:`sources.mysql_columns`): ``DATA_TYPE``,
    ``unsigned`` after an unsigned integer, a decimal's precision and scale, a char's or varchar's length
    (``decimal(18,2)``, ``bigint unsigned``, ``varchar(40)``, ``text``).  Empty: no such table visible to the
    source's account."""
    found: dict[str, str] = {}
    for row in sources.mysql_columns(conn, plan.schema or plan.source.database, plan.table):
        name, data_type, length, precision, scale, column_type = row[2], row[3], row[5], row[6], row[7], row[9]
        kind = sources._text(data_type).lower()
        if kind == "decimal" and precision is not None:
            kind += f"({int(precision)},{int(scale or 0)})"
        elif kind in ("char", "varchar") and length is not None:
            kind += f"({int(length)})"
        elif kind in _INTEGER and "unsigned" in sources._text(column_type).lower():
            kind += " unsigned"
        found[sources._text(name)] = kind
    return found


def source_types(plan: CopyPlan) -> dict[str, str]:
    """:func:`read_source_types` on a session of its own (for :func:`eligible` before a run)."""
    with sources.connect(plan.source) as conn:
        return read_source_types(conn, plan)


def _base(kind: str) -> str:
    return kind.split("(")[0].split(" ")[0]


def eligible(plan: CopyPlan, store: Store, source_types: Mapping[str, str]) -> str | None:
    """None when :func:`copy_pages` copies this plan exactly as :func:`full_copy` would; else why not."""
    return eligible_for(plan, store, source_types, ("mysql", "MySQL"), ALLOWED, _base)


# -- the source's side: one line of COPY text per row -------------------------------------------------------

_NULL = "''"  # CSV: NULL is an empty field without quotes


def _bad(letter: str, column: str) -> str | None:
    """MySQL SQL true for a value the centre's input would not read as PyMySQL + :func:`copy.convert` do (its row
    is flagged and read again): a text holding a NUL character, a date or time that does not exist (the zero
    date, year 0, 30 February under ``ALLOW_INVALID_DATES``: MySQL's own date arithmetic refuses them), a
    boolean other than 0 and 1; None: no such values."""
    if letter in "CM":
        return f"LOCATE(X'00', {column}) > 0"
    if letter == "D":
        return f"{column} IS NOT NULL AND {column} + INTERVAL 0 DAY IS NULL"
    if letter == "T":
        return f"{column} IS NOT NULL AND {column} + INTERVAL 0 SECOND IS NULL"
    if letter == "L":
        return f"{column} NOT IN (0, 1)"
    return None


def _value(letter: str, column: str) -> str:
    """The MySQL SQL of one field of a row's line in COPY's CSV format: text in double quotes (inner quotes
    doubled, a NUL character dropped — :func:`_bad` flags it), binary values as ``\\x`` and hex (bytea's input),
    other values as the server shows them; an empty field for NULL and for a value :func:`_bad` flags.  No
    backslash or quote whose meaning depends on the server's ``sql_mode``: hex literals."""
    if letter in "CM":
        text = f"REPLACE(REPLACE(CONVERT({column} USING utf8mb4), X'22', X'2222'), X'00', '')"
        return f"IF({column} IS NULL, {_NULL}, CONCAT(X'22', {text}, X'22'))"
    if letter == "G":
        return f"IF({column} IS NULL, {_NULL}, CONCAT(X'5C78', HEX({column})))"
    bad = _bad(letter, column)
    if letter == "L":  # t / f: a ZEROFILL tinyint shows 001
        return f"CASE WHEN {column} IS NULL OR ({bad}) THEN {_NULL} WHEN {column} = 1 THEN 't' ELSE 'f' END"
    if bad is not None:
        return f"CASE WHEN {column} IS NULL OR ({bad}) THEN {_NULL} ELSE {column} END"
    return f"COALESCE({column}, {_NULL})"


def line_sql(plan: CopyPlan, reader: _Reader) -> str:
    """The MySQL expression of a row's line: its fields comma-separated, then a ``1`` for each value :func:`_bad`
    flags (empty: none)."""
    pairs = list(zip(plan.columns, plan.items, strict=True))
    fields = [_value(item.letter, reader.quote(column)) for column, item in pairs]
    marks = [f"IF({bad}, '1', '')" for bad in (_bad(item.letter, reader.quote(column)) for column, item in pairs)
             if bad is not None]
    fields.append(f"CONCAT({', '.join(marks)})" if marks else "''")
    # CONCAT, not CONCAT_WS: a field a function could not make (NULL past ``max_allowed_packet``) makes the whole
    # line NULL — read again by key (:func:`_lines`) — instead of vanishing from it
    joined = ", X'2C', ".join(fields)
    return f"CAST(CONCAT({joined}) AS BINARY)"


# -- the centre's side: staged in the store's types -----------------------------------------------------------

def _length(kind: str) -> int | None:
    """A char's or varchar's declared length (None: another type)."""
    return int(kind.split("(")[1].rstrip(")")) if _base(kind) in ("char", "varchar") and "(" in kind else None


class MySQLDialect(Dialect):
    """The staging table of lines: each value in the type that reads what its source column type holds —
    ``varchar(n)`` for char/varchar(n), ``numeric(p,s)`` for decimal(p,s), ``bigint`` for the integers (numeric for
    bigint unsigned), ``date``, ``timestamp``, ``boolean``, ``bytea`` — so COPY's input functions parse every value
    once and a value its type cannot hold fails the batch; ``f``, the source's flags (:func:`_bad`).  The centre
    still checks what the item allows and the source type does not promise: a length, a number of digits, an
    unsigned bigint past 2^63 − 1."""

    name = "mysql"
    copy_format = "CSV"
    extra = (("f", "text", "f IS NOT NULL"),)  # CSV: an empty field is NULL

    def staged_type(self, item: StoreColumn, kind: str) -> str:
        base, letter = _base(kind), item.letter
        if letter in "CM":
            length = _length(kind)
            return f"varchar({length})" if length else "text"
        if letter in "NYI":
            if base == "decimal":
                return "numeric" + kind[len("decimal"):]
            return "numeric" if kind == "bigint unsigned" else "bigint"
        return {"D": "date", "T": "timestamp", "L": "boolean", "G": "bytea"}[letter]

    def converted(self, item: StoreColumn, kind: str, s: str) -> str:
        """A cast where the staged type is not the store's (N/Y numeric, I bigint); else the value as staged."""
        store = {"N": "numeric", "Y": "numeric", "I": "bigint"}.get(item.letter)
        return f"{s}::{store}" if store and not self.staged_type(item, kind).startswith(store) else s

    def flag(self, item: StoreColumn, kind: str, s: str, infinite_numbers: bool) -> str | None:
        letter, base = item.letter, _base(kind)
        if letter == "C" and item.length:
            length = _length(kind)
            return None if length is not None and length <= item.length else \
                f"coalesce(char_length({s}) > {int(item.length)}, false)"
        if letter in "NY":
            pg_kind = self.staged_type(item, kind) if base == "decimal" or kind == "bigint unsigned" \
                else _INTEGER[base]
            return _flag(item, pg_kind, s, infinite_numbers)
        if letter == "I" and kind == "bigint unsigned":
            return f"coalesce({s} > 9223372036854775807, false)"  # Python says out_of_range
        return None


MYSQL = MySQLDialect()


# -- the copy ----------------------------------------------------------------------------------------------

def _repeated_keys(statements: _Batch, key_at: list[int]) -> str:
    """SQL flagging the staged rows whose key another staged row has too."""
    keys = ", ".join(statements.staged[i] for i in key_at)
    return (f"UPDATE {statements.staging} SET f = coalesce(f, '') || 'k' WHERE ({keys}) IN "  # noqa: S608
            f"(SELECT {keys} FROM {statements.staging} GROUP BY {keys} HAVING count(*) > 1)")


def _same_key(staged: Sequence[Any], read: Sequence[Any]) -> bool:
    """Whether a line's key fields (as the centre parsed them; NULL where the source flagged the value) name the
    key read beside it (PyMySQL's values)."""
    for mine, theirs in zip(staged, read, strict=True):
        if mine is None or theirs is None:
            continue
        if isinstance(theirs, str) and isinstance(mine, str):
            equal = mine == theirs.replace("\x00", "")  # the line drops a NUL character (and flags it)
        elif isinstance(theirs, (bytes, bytearray, memoryview)):
            equal = bytes(mine) == bytes(theirs)
        else:
            try:
                equal = mine == theirs
            except TypeError:
                equal = str(mine) == str(theirs)
        if not equal:
            return False
    return True


class PageChanged(SourceError):
    """A flagged row was not where its page had it when read again: the table changed under the page (an engine
    without transactions — MyISAM, Aria — keeps no snapshot).  The run goes on by the keyset copy, which needs
    none (govshare.exchange.runs)."""


def _reread(centre: Any, statements: _Batch, scratch: str, source: Any, plan: CopyPlan, key_at: list[int],
            keys: Sequence[tuple[Any, ...]], after: tuple[Any, ...] | None
            ) -> tuple[int, list[tuple[str, str, str]], list[list[Any]]]:
    """The flagged rows of the staging table read again from ``source`` and converted in Python
    (:func:`fastcopy.take_flagged`): (rejected, quarantine entries, rejected keys).  Read again *by their place in
    the page* — the statement of the page after ``after``, a window over the flagged rows of it — in the page's
    snapshot — not by key: a key the centre cannot name exactly (a GBK character shown as "?", a
    TIMESTAMP in the hour a clock goes back) is read back all the same.  Each row read must have the key read
    beside its line; else the table changed under the page (a table without transactions, MyISAM or Aria, has no
    snapshot) or the line was another row's: the source's error, the batch not written."""
    staging = statements.staging
    staged_keys = ", ".join(statements.staged[i] for i in key_at)
    numbered = centre.execute(  # n counts on from batch to batch in a session: the page's rows from its first
        f"SELECT n, n - (SELECT min(n) FROM {staging}), {staged_keys} FROM {staging} "  # noqa: S608 — names made here
        f"WHERE {statements.flagged} ORDER BY n").fetchall()
    places = [int(row[1]) for row in numbered]
    for row, at in zip(numbered, places, strict=True):
        if not _same_key(row[2:], keys[at]):
            raise SourceError("protocol", f"the source's line for row {_key_text(keys[at])} holds another key "
                                          f"({_key_text(row[2:])})")
    first, last = places[0], places[-1]
    again = _fetch(source, *_Reader(plan).page(after, window=(first, last - first + 1)))
    rows: list[tuple[int, tuple[Any, ...]]] = []
    for row, at in zip(numbered, places, strict=True):
        raw = again[at - first] if at - first < len(again) else None
        if raw is None or tuple(raw[i] for i in key_at) != keys[at]:
            raise PageChanged("protocol", f"row {_key_text(keys[at])} of the page was not there when read again: "
                                          f"the table changed while its page was read (a table without "
                                          f"transactions?); the next run reads the page again")
        rows.append((int(row[0]), tuple(raw)))
    return take_flagged(centre, scratch, plan, key_at, rows)


#: sql_mode flags that change what this path's SQL means: in Oracle mode CONCAT skips a NULL (a field past
#: max_allowed_packet would vanish from its line), EMPTY_STRING_IS_NULL makes every '' NULL.  Neither changes how a
#: stored value is read.
_MODES_OFF = frozenset({"ORACLE", "EMPTY_STRING_IS_NULL"})


def _session(source: Any) -> None:
    """A source session of this path: snapshots that hold for the page and its re-read; the server's sql_mode but
    for :data:`_MODES_OFF`."""
    _fetch(source, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", ())
    (mode,) = _fetch(source, "SELECT @@SESSION.sql_mode", ())[0]
    modes = [m for m in sources._text(mode or "").split(",") if m]
    if any(m.upper() in _MODES_OFF for m in modes):
        _fetch(source, "SET SESSION sql_mode = %s", (",".join(m for m in modes if m.upper() not in _MODES_OFF),))


def _unchanged(now: Mapping[str, str], before: Mapping[str, str], plan: CopyPlan) -> None:
    for column in plan.columns:
        if now.get(column) != before.get(column):
            raise SourceError("protocol", f"column {column} of {plan.table} changed from {before.get(column)} to "
                                          f"{now.get(column) or 'nothing'} during the copy; the next run reads it "
                                          "as it is now")


def _key_field(letter: str, value: Any) -> str:
    """A key value PyMySQL read, as a field of a line (:func:`_value`'s form) — for a line the server could not make;
    empty (NULL) for a value it would not have written as such."""
    if value is None:
        return ""
    if letter in "CM" and isinstance(value, str):
        return '"' + value.replace("\x00", "").replace('"', '""') + '"'
    if letter in "NYI" and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if letter == "D" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if letter == "T" and isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if letter == "G" and isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    if letter == "L" and isinstance(value, int) and value in (0, 1):  # as _value writes it: t / f
        return "t" if value else "f"
    return ""


def _lines(rows: Sequence[tuple[Any, ...]], width: int, key_at: Sequence[int] = (),
           key_letters: Sequence[str] = ()) -> bytes:
    """The page's lines as COPY data (each row: its key values, then its line); a line the server could not make
    (NULL: longer than its ``max_allowed_packet``) stands as its key read beside it and NULLs, marked flagged — it
    is read again, and a key it shares with another row after conversion is seen (:func:`_repeated_keys`)."""
    data = bytearray()
    for row in rows:
        line = row[-1]
        if line is None:
            fields = [""] * width
            for i, (at, letter) in enumerate(zip(key_at, key_letters, strict=True)):
                fields[at] = _key_field(letter, row[i])
            line = (",".join(fields) + ",1").encode("utf-8")
        elif not isinstance(line, (bytes, bytearray)):
            raise SourceError("protocol", f"the source sent its line as {type(line).__name__}, not bytes")
        data += line
        data += b"\n"
    return bytes(data)


def copy_pages(plan: CopyPlan, stores: list[Store], conn: Any, types: Mapping[str, str], key_at: list[int],
               run_id: str, batch: int, position: dict[str, Any] | None, mark: Any,
               on_batch: Callable[[BatchReceipt], None] | None, should_stop: Callable[[], bool] | None) -> str:
    """:func:`fastcopy._copy_pages` for a MySQL source: the batches after ``batch``, one source session per
    connection of the centre (``conn`` the first), each page read in its session's consistent snapshot."""
    after = decode_key(position["after"]) if position and position.get("after") is not None else None
    whole = _Reader(plan)
    reader = _Reader(plan, columns=plan.key, extra=line_sql(plan, whole))
    key_items = _key_items(plan, key_at)
    key_letters = [plan.items[at].letter for at in key_at]
    width = len(plan.key)
    statements: dict[str, _Batch] = {}
    lock = threading.Lock()

    def prepared(centre: Any) -> _Batch:
        with lock:
            if "batch" not in statements:
                _centre_version(centre, "the fast copy")
                statements["batch"] = _Batch(plan.target, plan.items, [types[c] for c in plan.columns], True,
                                             dialect=MYSQL)
            return statements["batch"]

    with contextlib.ExitStack() as stack:
        readers = [conn]
        for _ in stores[1:]:
            try:
                readers.append(stack.enter_context(sources.connect(plan.source)))
            except SourceError:  # the source takes no more sessions now: fewer streams
                break
        stores = stores[:len(readers)]
        for source in readers:
            _session(source)
        line = _Pipeline(batch + 1, after)
        passed: set[str] = set()

        def one(number: int, centre_store: Store) -> tuple[BatchReceipt, dict[str, Any]] | None:
            source = readers[next(i for i, s in enumerate(stores) if s is centre_store)]
            line.wait(lambda: line.source == number)
            try:
                if line.finished:
                    return None
                _fetch(source, "START TRANSACTION WITH CONSISTENT SNAPSHOT", ())
                after = line.after
                rows = _fetch(source, *reader.page(after))
                # the page's read holds the table's metadata lock until the snapshot ends: the types now are the
                # types of its rows — a column changed since the copy began would be read wrongly by the staging
                _unchanged(read_source_types(source, plan), types, plan)
                full = len(rows) == plan.batch_rows
                last = tuple(rows[-1][:width]) if rows else line.after
                if full:
                    moving_on(passed, last, plan)
                empty = 0 if full else int(_fetch(source, whole.count_empty, ())[0][0])
                line.after, line.finished = last, not full
            except BaseException:
                with contextlib.suppress(Exception):
                    _fetch(source, "ROLLBACK", ())
                raise
            finally:
                line.hand_on(number)  # the next batch may read its page while this one is converted
            sent = {"phase": "rows", "after": None if last is None else encode_key(last), "done": not full,
                    "mark": mark}
            keys = [tuple(row[:width]) for row in rows]

            def fill(centre: Any, scratch: str) -> StagedBatch:
                statements_ = prepared(centre)
                centre.execute(statements_.create)
                centre.execute("SET LOCAL client_encoding TO 'UTF8'")  # the lines are UTF-8 bytes, whatever PG* says
                try:
                    with centre.cursor() as cursor:
                        with cursor.copy(statements_.copy_in) as into:
                            into.write(_lines(rows, len(plan.items), key_at, key_letters))
                        copied = int(cursor.rowcount)
                    # keys that became equal on their way (a GBK character with no Unicode twin shown as "?", a
                    # TIMESTAMP key in the hour a clock goes back): flagged, so that Python keeps the first and
                    # quarantines the others, as the keyset copy does
                    centre.execute(_repeated_keys(statements_, key_at))
                    converted = centre.execute(statements_.insert(scratch)).rowcount
                except psycopg.DataError as exc:  # class 22: what the source sent does not fit its column types
                    raise SourceError("protocol", f"the source sent a value its column type cannot hold: "
                                                  f"{str(exc).strip()[:300]}") from exc
                if copied != len(rows):
                    raise SourceError("protocol", f"{len(rows)} rows read, {copied} lines made of them")
                rejected, rejects, seen = (0, [], []) if converted == copied else \
                    _reread(centre, statements_, scratch, source, plan, key_at, keys, after)
                _fetch(source, "ROLLBACK", ())  # the snapshot's end (it only read): not held while the batch waits
                if empty:
                    rejects.append(("", key_items, f"empty_key: {empty} rows without a value in the key"))
                _limit(plan, number, copied + empty, copied - rejected, rejects)
                return StagedBatch(rows_read=copied + empty, rejects=rejects, seen=seen)

            try:
                receipt = centre_store.apply_staged(plan.target, fill, run_id=run_id, batch=number, position=sent,
                                                    before_lock=lambda: line.wait(lambda: line.granted >= number))
            finally:  # the snapshot's end, also for a batch found committed already (never filled) or failed
                with contextlib.suppress(Exception):
                    _fetch(source, "ROLLBACK", ())
            return receipt, sent

        return run_batches(stores, batch, line, one, on_batch, should_stop)
