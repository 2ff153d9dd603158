"""Departments' front-end databases (前置库) as read-only sources (EXC-6 system docking; SEC: hostile input).

Django-free.  The caller (:mod:`govshare.exchange.guard`) resolves and checks the address and the SQLite path;
this module connects to exactly that address, opens read-only sessions only, and bounds every wait on both
sides: the server's own statement timeout and, in case the server stalls on purpose, a client-side deadline.
Every failure leaves as a :class:`SourceError` whose ``code`` comes from the driver's real error.  PostgreSQL:
a failed connection carries no SQLSTATE in libpq, so its message is read (English, or the server's zh_CN
translation; quoted names blanked first); statements carry their SQLSTATE.  MySQL/MariaDB: the error number.

============  ==================================================================================
code          PostgreSQL (psycopg) / MySQL, MariaDB (PyMySQL) / SQLite
============  ==================================================================================
unreachable   "Connection refused", "No route to host", host name unknown / the socket's error
              before the handshake; a connection lost later (2013 without a timeout)
timeout       connecting: ``ConnectionTimeout`` / ``socket.timeout``, the handshake deadline;
              a statement: 57014 / 1969 (MariaDB), 3024 (MySQL) / "interrupted";
              a server that stops answering: the client-side deadline
auth          "password authentication failed", "no password supplied", no such role, pg_hba.conf
              rejects (28P01, 28000) / 1045, 1698, 1130
no_database   "database ... does not exist" (3D000) / 1049 / no file, not a SQLite file
no_privilege  42501, 25006 (read-only transaction), "permission denied for database", tables exist
              but none is readable / 1044, 1142, 1143, 1227, 1290, 1792 / "attempt to write a
              readonly database", "not authorized" (ATTACH, pragmas), an unreadable file
tls           SSL/certificate errors, "no encryption" in a pg_hba.conf rejection, a cleartext
              password asked outside TLS / 2026, 3159, ``ssl.SSLError``, cleartext plugins outside TLS
not_found     no such table or view (looked up in the catalog with the names as parameters);
              42P01 / 1146 / "no such table"
protocol      not that protocol: a bad answer to the SSL request, "server closed the connection
              unexpectedly", "expected authentication request" / a wrong packet sequence, a lost or
              unparsable handshake / "database disk image is malformed"; any answer of the wrong
              shape to a catalog query
other         anything else (``detail`` has the driver's message)
============  ==================================================================================

MySQL and MariaDB answer 1044 (no privilege) for a database the account may not see, whether it exists or
not; PostgreSQL tells 3D000 apart.  PostgreSQL's catalog is readable by every account, MySQL's hides the
tables an account has no privilege on: see :func:`describe_table`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import sqlite3
import ssl
import struct
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import psycopg.types.datetime
import pymysql
from psycopg import pq

from govshare.exchange.engine import tls

KINDS = ("postgresql", "mysql", "sqlite")
TLS_MODES = tls.MODES
CODES = ("unreachable", "timeout", "auth", "no_database", "no_privilege", "tls", "not_found", "protocol", "other")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
SQLITE_HEADER = b"SQLite format 3\x00"
APPLICATION_NAME = "govshare-exchange"
#: a path that cannot exist (below a device file)
NO_FILE = "/dev/null/none"
#: longest server version kept (a lying server may send megabytes)
VERSION_LENGTH = 200

T = TypeVar("T")


@dataclass(frozen=True)
class SourceSpec:
    """How to reach a source.  ``address``: the IP the caller resolved and checked; the engine connects to it and
    never resolves ``host`` again (``host`` still names the server for TLS).  SQLite: ``database`` is the
    absolute path of the file, already checked by the caller."""

    kind: str
    host: str = ""
    address: str = ""
    port: int | None = None
    database: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    tls: str = "prefer"
    #: PEM of the CAs trusted for ``verify-ca`` / ``verify-full`` instead of the system's (:mod:`.tls`)
    tls_ca: str = field(default="", repr=False)
    connect_timeout: float = 10.0
    statement_timeout: float = 60.0


class SourceError(Exception):
    """A source could not be used; ``code`` is one of :data:`CODES`, ``detail`` the driver's own message."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code if code in CODES else "other"
        self.detail = detail[:2000]

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


@dataclass(frozen=True)
class ConnectionReport:
    server_version: str
    tables: int  # tables and views this account can read
    elapsed_ms: float
    tls_in_use: bool | None  # None: not a network connection (SQLite)


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str  # "table" | "view"
    estimated_rows: int | None


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    data_type: str  # the source's own type name, lower case
    nullable: bool
    length: int | None
    precision: int | None
    scale: int | None
    ordinal: int  # 1, 2, ... in the table's order
    #: what the source's designers wrote about the column (PostgreSQL ``COMMENT ON COLUMN``, MySQL ``COMMENT``;
    #: SQLite has none): departments' columns are often pinyin abbreviations with the Chinese name here
    comment: str = ""


def _comment(value: Any) -> str:
    """A column's comment as the source gives it, made safe to show: control characters gone, at most
    :data:`COMMENT_CHARS` characters (a source's text, hostile until checked)."""
    text = _text(value) if value is not None else ""
    # control characters, and the invisible ones that reorder or hide text (U+202E …): a comment is shown beside
    # the column it explains and must read as it is
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    return re.sub(r" {2,}", " ", text).strip()[:COMMENT_CHARS]


#: the longest column comment kept (PostgreSQL's may be any length, MySQL's 1 024 characters)
COMMENT_CHARS = 500


@dataclass(frozen=True)
class TableShape:
    schema: str
    name: str
    kind: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]  # declared primary key, in key order; () if none


# -- shared ------------------------------------------------------------------------------------------------

#: what a source that lies makes Python raise when its answers are read (wrong types, bad bytes, short data)
_MALFORMED = (ValueError, TypeError, IndexError, KeyError, UnicodeError, struct.error, OverflowError)


def _check(spec: SourceSpec) -> None:
    if spec.kind not in KINDS:
        raise SourceError("other", f"unknown kind of source {spec.kind!r}")
    if spec.tls not in TLS_MODES:
        raise SourceError("other", f"unknown TLS mode {spec.tls!r}")
    if spec.tls_ca and spec.tls not in tls.VERIFYING:
        raise SourceError("other", "CA certificates are used only to check the server's certificate "
                                   "(verify-ca, verify-full)")
    if spec.tls == "verify-ca" and not spec.tls_ca:
        raise SourceError("other", "verify-ca checks the server's certificate against the CA certificates given "
                                   "with it: none were given")
    if not (0 < spec.connect_timeout <= 3600 and 0 < spec.statement_timeout <= 86400):
        raise SourceError("other", "timeouts must be positive (at most an hour to connect, a day per statement)")
    if any("\x00" in value for value in (spec.host, spec.address, spec.database, spec.user, spec.password)):
        raise SourceError("other", "a connection setting contains a NUL character")
    if spec.kind == "sqlite":
        if not os.path.isabs(spec.database):
            raise SourceError("no_database", "a SQLite source is an absolute file path")
        return
    if not (spec.host or spec.address) or "," in spec.host + spec.address:
        raise SourceError("unreachable", "one host name or address is needed")
    if spec.port is not None and not 0 < spec.port < 65536:
        raise SourceError("unreachable", f"no such port {spec.port}")
    if not spec.database:
        raise SourceError("no_database", "no database named")


def _guard_seconds(spec: SourceSpec) -> float:
    """The client-side deadline of a statement: the server's timeout, then a little more for its answer."""
    return spec.statement_timeout + max(1.0, spec.statement_timeout / 10)


class _Deadline:
    """Shuts a socket down if the block lasts more than ``seconds``: the blocked read returns, the driver fails,
    ``fired`` tells why.  A server that stalls on purpose cannot hold a worker longer than that."""

    def __init__(self, fileno: int, seconds: float) -> None:
        self.fired = False
        self._fileno = fileno
        self._active = True
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:  # after this, _fire does nothing: the descriptor may be closed and reused
            self._active = False
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.fired = True
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self._fileno)) as sock:
                sock.shutdown(socket.SHUT_RDWR)


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)


# -- PostgreSQL --------------------------------------------------------------------------------------------

_LIBPQ_VERSION = pq.version()

_PG_STATES = {"28P01": "auth", "3D000": "no_database", "42501": "no_privilege", "25006": "no_privilege",
              "57014": "timeout", "42P01": "not_found", "08P01": "protocol"}

#: what a connection failure says (libpq reports none of them with a SQLSTATE), first match wins; the server's
#: messages in English or in its Chinese translation (a server whose lc_messages is zh_CN).  Matched with the
#: quoted names emptied (``database ""``): a host, user or database name cannot steer the answer.
_PG_MESSAGES = [(re.compile(pattern), code) for pattern, code in [
    (r"timeout expired", "timeout"),
    (r"server requested a cleartext password", "tls"),  # refused by require_auth=!password outside TLS
    # the server's hostssl lines only (the Chinese message names the reason before pg_hba.conf)
    (r"pg_hba\.conf.*(no encryption|ssl off|ssl 关闭)|(no encryption|ssl off|ssl 关闭).*pg_hba\.conf", "tls"),
    (r"pg_hba\.conf", "auth"),
    (r'password authentication failed|认证失败|no password supplied|role "" does not exist|角色 "" 不存在', "auth"),
    (r'database "" does not exist|数据库 "" 不存在', "no_database"),
    (r"permission denied for database|访问数据库.*权限不够", "no_privilege"),
    (r"invalid response to ssl negotiation|error response during ssl exchange|expected authentication request"
     r"|server closed the connection unexpectedly|invalid message|unexpected message|lost synchronization"
     r"|insufficient data", "protocol"),
    (r"ssl|certificate", "tls"),
    (r"connection refused|no route to host|network is unreachable|host is unreachable|could not translate host "
     r"name|name or service not known", "unreachable"),
]]
_QUOTED = re.compile(r'"[^"]*"')


class _Stalled(psycopg.OperationalError):
    """The server did not answer within the client-side deadline."""


class _PgConnection(psycopg.Connection[Any]):
    guard_seconds: float | None = None


class _PgCursor(psycopg.Cursor[Any]):
    """Each statement also has a client-side deadline (:func:`_guard_seconds`)."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        seconds = getattr(self.connection, "guard_seconds", None)
        if seconds is None:
            return super().execute(*args, **kwargs)
        with _Deadline(self.connection.pgconn.socket, seconds) as deadline:
            try:
                return super().execute(*args, **kwargs)
            except psycopg.OperationalError as exc:
                if deadline.fired:
                    raise _Stalled(f"no answer within {seconds:g} s (client-side deadline)") from exc
                raise


def _pg_error(exc: BaseException) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    text = _message(exc)
    if isinstance(exc, (_Stalled, psycopg.errors.ConnectionTimeout)):
        return SourceError("timeout", text)
    if not isinstance(exc, psycopg.Error):
        return SourceError("protocol" if isinstance(exc, _MALFORMED) else "other", text)
    state = exc.sqlstate or ""
    lower = text.lower()
    if state == "28000":  # pg_hba.conf: no line for this host/user/database (perhaps only with TLS)
        return SourceError("tls" if "no encryption" in lower or "ssl off" in lower else "auth", text)
    if state in _PG_STATES:
        return SourceError(_PG_STATES[state], text)
    if state.startswith("28"):
        return SourceError("auth", text)
    if state:
        return SourceError("other", text)
    unquoted = _QUOTED.sub('""', lower)
    return SourceError(next((code for pattern, code in _PG_MESSAGES if pattern.search(unquoted)), "other"), text)


def _open_pg(spec: SourceSpec, write: bool = False) -> _PgConnection:
    read_only = "" if write else "-c default_transaction_read_only=on "
    params: dict[str, Any] = {
        "host": spec.host or spec.address, "port": spec.port or DEFAULT_PORTS["postgresql"], "dbname": spec.database,
        "user": spec.user, "password": spec.password,
        "connect_timeout": max(1, math.ceil(spec.connect_timeout)),  # whole seconds, libpq makes 1 into 2
        "application_name": APPLICATION_NAME,
        "options": f"{read_only}-c statement_timeout={math.ceil(spec.statement_timeout * 1000)}",
        # nothing from this machine's environment: no GSSAPI ticket, no ~/.pgpass, no client certificate
        "gssencmode": "disable", "passfile": NO_FILE,
        # a host gone from the network (not a slow server: its statement_timeout bounds that) is found within about
        # a minute even while a COPY waits for its next row, which no client-side deadline of a statement covers
        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
    }
    if spec.address:
        params["hostaddr"] = spec.address
    params.update(_pg_tls(spec))
    try:
        conn = _PgConnection.connect(autocommit=True, prepare_threshold=None, cursor_factory=_PgCursor, **params)
    except Exception as exc:
        raise _pg_error(exc) from exc
    conn.guard_seconds = _guard_seconds(spec)
    for type_name, loader in (("date", _DateOrText), ("timestamp", _TimestampOrText),
                              ("timestamptz", _TimestamptzOrText)):
        conn.adapters.register_loader(type_name, loader)
    return conn


def _or_text(base: type) -> type:
    """A loader that gives a value Python cannot hold (PostgreSQL's ``infinity``, a date before year 1) as the
    server's text instead of failing the whole read: the copy then quarantines that one value."""
    class OrText(base):  # type: ignore[misc, valid-type]
        def load(self, data: Any) -> Any:
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode("utf-8", "replace")

    return OrText


_DateOrText = _or_text(psycopg.types.datetime.DateLoader)
_TimestampOrText = _or_text(psycopg.types.datetime.TimestampLoader)
_TimestamptzOrText = _or_text(psycopg.types.datetime.TimestamptzLoader)


_PG_RELATIONS = """
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND NOT c.relispartition
   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"""
_PG_READABLE = ("pg_catalog.has_schema_privilege(n.oid, 'USAGE') "
                "AND pg_catalog.has_table_privilege(c.oid, 'SELECT')")
_PG_KIND = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}


def _pg_overview(conn: Any) -> tuple[str, int, bool | None]:
    version, readable, total = conn.execute(
        f"SELECT pg_catalog.current_setting('server_version'), count(*) FILTER (WHERE {_PG_READABLE}), count(*)"
        f"{_PG_RELATIONS}").fetchone()
    if total and not readable:
        raise SourceError("no_privilege", f"{total} tables and views, none readable by this user")
    return f"PostgreSQL {version}", int(readable), bool(conn.pgconn.ssl_in_use)


def _pg_tables(conn: Any) -> list[TableInfo]:
    rows = conn.execute(f"SELECT n.nspname, c.relname, c.relkind, c.reltuples{_PG_RELATIONS} AND {_PG_READABLE}")
    tables = []
    for schema, name, relkind, reltuples in rows:
        kind = _PG_KIND[relkind]
        estimate = None if kind == "view" or reltuples is None or reltuples < 0 else int(reltuples)
        tables.append(TableInfo(str(schema), str(name), kind, estimate))
    return tables


def _pg_typmod(typname: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """(length, precision, scale) from a column's type modifier."""
    if typname in ("varchar", "bpchar") and typmod >= 4:
        return typmod - 4, None, None
    if typname in ("bit", "varbit") and typmod > 0:
        return typmod, None, None
    if typname == "numeric" and typmod >= 4:
        packed = typmod - 4
        return None, (packed >> 16) & 0xFFFF, ((packed & 0x7FF) ^ 1024) - 1024  # scale may be negative (PG 15)
    return None, None, None


def _pg_describe(conn: Any, schema: str, name: str) -> TableShape:
    if schema == "information_schema" or schema.startswith("pg_"):
        raise SourceError("not_found", f"{schema}.{name} is a system table")
    found = conn.execute(
        "SELECT c.oid, c.relkind, pg_catalog.has_schema_privilege(n.oid, 'USAGE') "
        "AND pg_catalog.has_table_privilege(c.oid, 'SELECT') "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'f', 'v', 'm')",
        (schema, name)).fetchone()
    if found is None:
        raise SourceError("not_found", f"no table or view {schema}.{name}")
    oid, relkind, readable = found
    if not readable:
        raise SourceError("no_privilege", f"{schema}.{name} is not readable by this user")
    columns = []
    for ordinal, (column, data_type, notnull, typname, typmod, comment) in enumerate(conn.execute(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL), a.attnotnull, t.typname, a.atttypmod, "
            "pg_catalog.col_description(a.attrelid, a.attnum) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (oid,)), 1):
        length, precision, scale = _pg_typmod(str(typname), int(typmod))
        columns.append(ColumnInfo(str(column), str(data_type).lower(), not notnull, length, precision, scale,
                                  ordinal, _comment(comment)))
    key = conn.execute(
        "SELECT a.attname FROM pg_catalog.pg_constraint k "
        "CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS u(attnum, position) "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum "
        "WHERE k.conrelid = %s AND k.contype = 'p' ORDER BY u.position", (oid,)).fetchall()
    return TableShape(schema, name, _PG_KIND[relkind], tuple(columns), tuple(str(row[0]) for row in key))


# -- MySQL / MariaDB ---------------------------------------------------------------------------------------

_MYSQL_ERRORS = {1045: "auth", 1698: "auth", 1130: "auth", 1049: "no_database", 1044: "no_privilege",
                 1142: "no_privilege", 1143: "no_privilege", 1227: "no_privilege", 1290: "no_privilege",
                 1370: "no_privilege", 1792: "no_privilege", 1146: "not_found", 1969: "timeout", 3024: "timeout",
                 2026: "tls", 3159: "tls"}
_CONNECTION_LOST = (2003, 2006, 2013)


def _cause(exc: BaseException) -> BaseException | None:
    return getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__


def _mysql_error(exc: BaseException, connecting: bool = False) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    text = _message(exc)
    cause = _cause(exc)
    if isinstance(exc, ssl.SSLError) or isinstance(cause, ssl.SSLError):
        return SourceError("tls", text)
    if isinstance(exc, TimeoutError) or isinstance(cause, TimeoutError):
        return SourceError("timeout", text)
    if isinstance(exc, pymysql.err.Error):
        number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if number in _CONNECTION_LOST:
            if "timed out" in text:
                return SourceError("timeout", text)
            # the server took the TCP connection but did not speak MySQL; later: the connection broke
            return SourceError("protocol" if connecting else "unreachable", text)
        if number in _MYSQL_ERRORS:
            return SourceError(_MYSQL_ERRORS[number], text)
        if number is None and connecting:  # "Packet sequence number wrong", unexpected packets
            return SourceError("protocol", text)
        return SourceError("other", text)
    if isinstance(exc, OSError):
        return SourceError("unreachable", text)
    if isinstance(exc, _MALFORMED) or connecting:
        return SourceError("protocol", text)
    return SourceError("other", text)


class _ClearTextRefused:
    """PyMySQL's handler for the ``mysql_clear_password`` and ``dialog`` (PAM) plugins: they send the password as
    it is, so only inside TLS."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def authenticate(self, packet: Any) -> Any:
        if not isinstance(self.conn._sock, ssl.SSLSocket):
            raise SourceError("tls", "the server asked for the password in clear text outside TLS")
        self.conn.write_packet(self.conn.password + b"\0")
        return self.conn._read_packet()


class _Sha256OutsideTlsRefused:
    """``sha256_password`` outside TLS sends the password encrypted with an RSA key the server itself hands
    over: whoever answers at the address (a fake server, a man in the middle) reads it.  Only inside TLS."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def authenticate(self, packet: Any) -> Any:
        if not isinstance(self.conn._sock, ssl.SSLSocket):
            raise SourceError("tls", "the server asked for the password under its own RSA key outside TLS")
        return pymysql._auth.sha256_password_auth(self.conn, packet)


class _CachingSha2OutsideTls:
    """``caching_sha2_password`` (MySQL 8's default): the fast path proves the password without sending it, so
    it is kept outside TLS; the full path would send it under a key the server hands over — only inside TLS."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def authenticate(self, packet: Any) -> Any:
        conn = self.conn
        if isinstance(conn._sock, ssl.SSLSocket) or not conn.password:
            return pymysql._auth.caching_sha2_password_auth(conn, packet)
        if packet.is_auth_switch_request():
            conn.salt = packet.read_all().removesuffix(b"\0")
            packet = pymysql._auth._roundtrip(conn, pymysql._auth.scramble_caching_sha2(conn.password, conn.salt))
        if not packet.is_extra_auth_data():
            raise SourceError("protocol", "an unknown answer to the caching_sha2 fast authentication")
        packet.advance(1)
        if packet.read_uint8() != 3:  # 3: the fast path succeeded; 2, 4: the server wants the password itself
            raise SourceError("tls", "the server asked for the full password exchange outside TLS (the account's "
                                     "password is not in its cache): use TLS for this source")
        answer = conn._read_packet()
        answer.check_error()
        return answer


def _pg_tls(spec: SourceSpec) -> dict[str, Any]:
    """libpq's TLS parameters of a source (:func:`tls.pg_params`; also log mode's replication sessions)."""
    try:
        return tls.pg_params(spec.tls, spec.tls_ca, _LIBPQ_VERSION)
    except OSError as exc:  # the CA file could not be written
        raise SourceError("tls", f"the CA certificates could not be handed to libpq: {exc}") from exc


def _mysql_tls(spec: SourceSpec) -> dict[str, Any]:
    if spec.tls == "disable":
        return {"ssl_disabled": True}
    if spec.tls == "prefer":
        return {}  # PyMySQL's default: TLS when the server offers it, certificate not checked
    try:
        return {"ssl": tls.mysql_context(spec.tls, spec.tls_ca)}
    except (ssl.SSLError, ValueError) as exc:
        raise SourceError("tls", f"the CA certificates cannot be used: {exc}") from exc


class _MySQLConnection(pymysql.connections.Connection):
    #: the whole answer to one statement must arrive within this (seconds; None during the handshake): the
    #: per-read socket timeout alone lets a server that sends one byte at a time hold the caller for ever
    statement_deadline: float | None = None

    def _create_ssl_ctx(self, sslp: Any) -> Any:
        """For "prefer", PyMySQL would load the system's CAs at each connection, and not use them."""
        return tls.mysql_context("prefer", "") if sslp == {} else super()._create_ssl_ctx(sslp)

    def query(self, sql: Any, unbuffered: bool = False) -> int:
        sock = self._sock
        if self.statement_deadline is None or sock is None:
            return int(super().query(sql, unbuffered))
        deadline = _Deadline(sock.fileno(), self.statement_deadline)
        try:
            with deadline:
                return int(super().query(sql, unbuffered))
        except Exception as exc:
            if deadline.fired:  # 3024: MySQL's own "maximum statement execution time exceeded" → timeout
                raise pymysql.err.OperationalError(
                    3024, f"no complete answer within {self.statement_deadline:g} s") from exc
            raise


def _open_mysql(spec: SourceSpec, write: bool = False) -> Any:
    port = spec.port or DEFAULT_PORTS["mysql"]
    try:
        conn = _MySQLConnection(
            # bytes: PyMySQL would encode a str password as Latin-1 (a Chinese password could never log in)
            host=spec.host or spec.address, port=port, user=spec.user, password=spec.password.encode("utf-8"),
            database=spec.database, charset="utf8mb4", autocommit=True, local_infile=False, defer_connect=True,
            connect_timeout=spec.connect_timeout, read_timeout=spec.connect_timeout,
            write_timeout=spec.connect_timeout, program_name=APPLICATION_NAME,
            auth_plugin_map={"mysql_clear_password": _ClearTextRefused, "dialog": _ClearTextRefused,
                             "sha256_password": _Sha256OutsideTlsRefused,
                             "caching_sha2_password": _CachingSha2OutsideTls},
            **_mysql_tls(spec))
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError("other", _message(exc)) from exc
    # the TCP connection is made here, to the checked address (PyMySQL would resolve ``host``)
    try:
        sock = socket.create_connection((spec.address or spec.host, port), timeout=spec.connect_timeout)
    except TimeoutError as exc:
        raise SourceError("timeout", _message(exc)) from exc
    except OSError as exc:
        raise SourceError("unreachable", _message(exc)) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    deadline = _Deadline(sock.fileno(), spec.connect_timeout)  # the whole handshake, not each read
    try:
        with deadline:
            conn.connect(sock)
    except SourceError:  # a cleartext password refused
        sock.close()
        raise
    except Exception as exc:
        sock.close()
        if deadline.fired:
            raise SourceError("timeout", f"no complete handshake within {spec.connect_timeout:g} s") from exc
        raise _mysql_error(exc, connecting=True) from exc
    # from now on a read or write may last as long as a statement (PyMySQL reads these before each call)
    conn._read_timeout = conn._write_timeout = _guard_seconds(spec)
    conn.statement_deadline = _guard_seconds(spec)
    try:
        with conn.cursor() as cursor:
            if not write:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
            if "mariadb" in str(conn.get_server_info()).lower():
                cursor.execute("SET SESSION max_statement_time = %s", (float(spec.statement_timeout),))
            else:
                cursor.execute("SET SESSION max_execution_time = %s", (math.ceil(spec.statement_timeout * 1000),))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.close()
        raise _mysql_error(exc, connecting=True) from exc
    return conn


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


_MYSQL_KIND = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}


def _mysql_tables(conn: Any, database: str, name: str | None = None) -> list[TableInfo]:
    """The tables and views of ``database`` this account sees (information_schema hides the others).  The
    catalog compares names without regard to case: the exact names are kept here."""
    sql = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
    with conn.cursor() as cursor:
        cursor.execute(sql + (" AND TABLE_NAME = %s" if name is not None else ""),
                       (database,) if name is None else (database, name))
        rows = cursor.fetchall()
    tables = []
    for schema, table, table_type, table_rows in rows:
        kind = _MYSQL_KIND.get(_text(table_type).upper())
        if kind and _text(schema) == database and (name is None or _text(table) == name):
            estimate = None if kind == "view" or table_rows is None else int(table_rows)
            tables.append(TableInfo(database, _text(table), kind, estimate))
    return tables


def _mysql_server(conn: Any) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = _text(cursor.fetchone()[0])
    return f"{'MariaDB' if 'mariadb' in version.lower() else 'MySQL'} {version}"


def _mysql_overview(conn: Any, database: str) -> tuple[str, int, bool | None]:
    return _mysql_server(conn), len(_mysql_tables(conn, database)), isinstance(conn._sock, ssl.SSLSocket)


_MYSQL_LENGTHS = ("char", "varchar", "binary", "varbinary")
_DECIMALS = ("decimal", "numeric")


def mysql_columns(conn: Any, database: str, name: str) -> list[tuple[Any, ...]]:
    """``information_schema.COLUMNS`` of one table or view, in column order: TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME,
    DATA_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, ORDINAL_POSITION,
    COLUMN_TYPE, COLUMN_COMMENT — only rows whose names are exactly these (the server may compare them without case)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, "
            "NUMERIC_PRECISION, NUMERIC_SCALE, ORDINAL_POSITION, COLUMN_TYPE, COLUMN_COMMENT "
            "FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (database, name))
        return [tuple(row) for row in cursor.fetchall() if (_text(row[0]), _text(row[1])) == (database, name)]


def _mysql_describe(conn: Any, database: str, schema: str, name: str) -> TableShape:
    if schema not in ("", database):
        raise SourceError("not_found", f"{schema} is not the source's database {database}")
    found = _mysql_tables(conn, database, name)
    if not found:
        raise SourceError("not_found", f"no table or view {database}.{name} visible to this user")
    column_rows = mysql_columns(conn, database, name)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY ORDINAL_POSITION", (database, name))
        key_rows = cursor.fetchall()
    columns: list[ColumnInfo] = []
    for row in column_rows:
        data_type = _text(row[3]).lower()
        length = int(row[5]) if data_type in _MYSQL_LENGTHS and row[5] is not None else None
        column_type = _text(row[9]).lower()
        if column_type.startswith("tinyint(1)"):  # MySQL's boolean: DATA_TYPE alone says tinyint
            data_type = "tinyint(1)"
        elif "unsigned" in column_type:  # a bigint unsigned holds 20 digits, not 19
            data_type += " unsigned"
        decimal = data_type in _DECIMALS
        precision = int(row[6]) if decimal and row[6] is not None else None
        scale = int(row[7]) if decimal and row[7] is not None else None
        columns.append(ColumnInfo(_text(row[2]), data_type, _text(row[4]).upper() == "YES", length, precision,
                                  scale, len(columns) + 1, _comment(row[10])))
    key = tuple(_text(row[2]) for row in key_rows if (_text(row[0]), _text(row[1])) == (database, name))
    return TableShape(database, name, found[0].kind, tuple(columns), key)


# -- SQLite ------------------------------------------------------------------------------------------------

#: the pragmas that only read (anything else, and ATTACH, is refused by the authorizer)
_SQLITE_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                             "foreign_key_list", "collation_list", "function_list", "pragma_list"})
#: how SQLite's messages start (they name tables unquoted: only the start is matched)
_SQLITE_MESSAGES = [
    ("interrupted", "timeout"),
    ("database is locked", "timeout"),
    ("not authorized", "no_privilege"),
    ("attempt to write a readonly database", "no_privilege"),
    ("no such table", "not_found"),
    ("file is not a database", "no_database"),
    ("unable to open database file", "no_database"),
    ("database disk image is malformed", "protocol"),
    ("could not decode", "protocol"),
]


def _sqlite_error(exc: BaseException) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    text = _message(exc)
    if isinstance(exc, sqlite3.Error):
        lower = text.lower()
        return SourceError(next((code for start, code in _SQLITE_MESSAGES if lower.startswith(start)), "other"), text)
    return SourceError("protocol" if isinstance(exc, _MALFORMED) else "other", text)


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, database: str | None,
                       trigger: str | None) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() not in _SQLITE_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _open_sqlite(spec: SourceSpec, write: bool = False) -> sqlite3.Connection:
    path = spec.database
    if write and not os.path.lexists(path):  # a delivery target not made yet: an empty database file is made
        try:
            sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=rwc", uri=True).close()
        except Exception as exc:
            raise _sqlite_error(exc) from exc
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except PermissionError as exc:
        raise SourceError("no_privilege", _message(exc)) from exc
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise SourceError("no_database", _message(exc)) from exc
    except OSError as exc:
        raise SourceError("other", _message(exc)) from exc
    if header != SQLITE_HEADER and not (write and header == b""):
        raise SourceError("no_database", f"{path} is not a SQLite database")
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode={'rw' if write else 'ro'}", uri=True,
                               isolation_level=None, timeout=spec.connect_timeout)
    except Exception as exc:
        raise _sqlite_error(exc) from exc
    try:
        # a hostile file: its views and triggers call no function with side effects; nothing is written
        conn.execute("PRAGMA trusted_schema = OFF")
        if not write:
            conn.execute("PRAGMA query_only = ON")
    except Exception as exc:
        conn.close()
        raise _sqlite_error(exc) from exc
    conn.set_authorizer(_sqlite_authorizer)
    # the statement timeout: each statement's clock starts when SQLite starts it (the trace callback) and the
    # progress handler interrupts it once the time is up, rows not yet fetched included
    deadline = [math.inf]
    timeout = spec.statement_timeout

    def started(_statement: str) -> None:
        deadline[0] = time.monotonic() + timeout

    conn.set_trace_callback(started)
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)
    return conn


def _sqlite_overview(conn: Any) -> tuple[str, int, bool | None]:
    (count,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\'").fetchone()
    return f"SQLite {sqlite3.sqlite_version}", int(count), None


def _sqlite_tables(conn: Any) -> list[TableInfo]:
    rows = conn.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
    return [TableInfo("main", str(name), str(kind), None) for name, kind in rows]


_DECLARED = re.compile(r"^\s*(.*?)\s*(?:\(\s*([+-]?\d+)\s*(?:,\s*([+-]?\d+)\s*)?\))?\s*$", re.DOTALL)


def _sqlite_type(declared: str) -> tuple[str, int | None, int | None, int | None]:
    """(type, length, precision, scale) of a declared type such as ``VARCHAR(20)`` or ``NUMERIC(10, 2)``."""
    match = _DECLARED.match(declared)
    if not match:
        return " ".join(declared.lower().split()), None, None, None
    base = " ".join(match.group(1).lower().split())
    first, second = (int(n) if n is not None else None for n in match.group(2, 3))
    if any(word in base for word in ("char", "clob", "text")):
        return base, first, None, None
    if base in _DECIMALS:
        return base, None, first, second if first is not None else None
    return base, None, None, None


def _sqlite_describe(conn: Any, schema: str, name: str) -> TableShape:
    if schema not in ("", "main"):
        raise SourceError("not_found", f"a SQLite source has one schema, main (not {schema})")
    found = conn.execute("SELECT type FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')",
                         (name,)).fetchone()
    if found is None:
        raise SourceError("not_found", f"no table or view {name}")
    columns: list[ColumnInfo] = []
    key: list[tuple[int, str]] = []
    for cid, column, declared, notnull, pk in conn.execute(
            'SELECT cid, name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', (name,)):
        data_type, length, precision, scale = _sqlite_type(str(declared or ""))
        columns.append(ColumnInfo(str(column), data_type, not notnull, length, precision, scale, int(cid) + 1))
        if pk:
            key.append((int(pk), str(column)))
    return TableShape("main", name, str(found[0]), tuple(columns), tuple(column for _, column in sorted(key)))


# -- the API -----------------------------------------------------------------------------------------------

_DRIVER_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    # PyMySQL decodes text as it reads a row: bytes that are not text in the connection's character set (a utf8mb4
    # column holding a lone surrogate's bytes, which MariaDB accepts) raise UnicodeDecodeError from the driver
    "postgresql": (psycopg.Error,), "mysql": (pymysql.err.Error, UnicodeDecodeError), "sqlite": (sqlite3.Error,)}


@contextlib.contextmanager
def connect(spec: SourceSpec, *, write: bool = False) -> Iterator[Any]:
    """A read-only DB-API connection to the source, in autocommit mode (each statement its own read-only
    transaction; open one explicitly for a consistent snapshot), closed at the end of the block.

    PostgreSQL: ``default_transaction_read_only`` and ``statement_timeout`` set at connection.  MySQL/MariaDB:
    ``SET SESSION TRANSACTION READ ONLY`` and ``max_statement_time`` (MariaDB, s) or ``max_execution_time``
    (MySQL, ms).  SQLite: opened ``mode=ro`` with ``query_only``, ATTACH and writing pragmas refused, each
    statement interrupted after ``statement_timeout`` from its start.  PostgreSQL and MySQL statements also
    have a client-side deadline a little after the server's.  The drivers' errors raised in the block leave
    it as :class:`SourceError`.

    ``write=True`` (a consumer's front-end database receiving deliveries, issue 11 item 1; only the delivery
    engine asks for it): the same session without the read-only settings — what it may write is then the
    account's privileges; a SQLite target file that does not exist yet is made (the caller checked its path),
    ATTACH and pragmas outside the list stay refused."""
    _check(spec)
    opened: Any = {"postgresql": _open_pg, "mysql": _open_mysql, "sqlite": _open_sqlite}[spec.kind](spec, write)
    translate = {"postgresql": _pg_error, "mysql": _mysql_error, "sqlite": _sqlite_error}[spec.kind]
    try:
        yield opened
    except _DRIVER_ERRORS[spec.kind] as exc:
        raise translate(exc) from exc
    finally:
        with contextlib.suppress(Exception):
            opened.close()


def _read(spec: SourceSpec, work: Callable[[Any], T]) -> T:
    """``work(connection)``; whatever goes wrong leaves as :class:`SourceError`."""
    try:
        with connect(spec) as conn:
            return work(conn)
    except SourceError:
        raise
    except _MALFORMED as exc:  # an answer of the wrong shape
        raise SourceError("protocol", _message(exc)) from exc
    except Exception as exc:
        raise SourceError("other", _message(exc)) from exc


def test_connection(spec: SourceSpec) -> ConnectionReport:
    """Connect, read the server's version and count the tables and views this account can read (PostgreSQL:
    outside the system schemas; MySQL: in the named database; SQLite: outside ``sqlite_*``).  PostgreSQL: an
    account that sees tables but may read none of them is ``no_privilege``."""
    started = time.perf_counter()

    def work(conn: Any) -> tuple[str, int, bool | None]:
        if spec.kind == "postgresql":
            return _pg_overview(conn)
        if spec.kind == "mysql":
            return _mysql_overview(conn, spec.database)
        return _sqlite_overview(conn)

    version, tables, tls = _read(spec, work)
    return ConnectionReport(version[:VERSION_LENGTH], tables, round((time.perf_counter() - started) * 1000, 1),
                            tls)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported by one


def list_tables(spec: SourceSpec) -> list[TableInfo]:
    """The tables and views this account can read, sorted by (schema, name).  PostgreSQL: every schema but the
    system ones (partitions are left out: their parent is listed); MySQL: schema = the database; SQLite: schema
    ``main``."""

    def work(conn: Any) -> list[TableInfo]:
        if spec.kind == "postgresql":
            return _pg_tables(conn)
        if spec.kind == "mysql":
            return _mysql_tables(conn, spec.database)
        return _sqlite_tables(conn)

    return sorted(_read(spec, work), key=lambda table: (table.schema, table.name))


def describe_table(spec: SourceSpec, schema: str, name: str) -> TableShape:
    """One table's or view's columns and declared primary key, looked up with the names as parameters.

    ``not_found`` when there is no such table or view *for this account*; ``no_privilege`` when the source
    shows it exists but this account may not read it.  PostgreSQL's catalog shows every table, so a table
    without SELECT is ``no_privilege`` there; MySQL and MariaDB hide such a table from the account, so it is
    ``not_found`` there (telling the two apart would take SQL built from the names)."""
    if "\x00" in schema or "\x00" in name:
        raise SourceError("not_found", "a name with a NUL character")

    def work(conn: Any) -> TableShape:
        if spec.kind == "postgresql":
            return _pg_describe(conn, schema, name)
        if spec.kind == "mysql":
            return _mysql_describe(conn, spec.database, schema, name)
        return _sqlite_describe(conn, schema, name)

    return _read(spec, work)
