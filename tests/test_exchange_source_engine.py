"""The source engine (govshare/exchange/engine/sources.py) against real servers: a PostgreSQL and a MariaDB
started for the session (tests/source_servers.py), SQLite files, and — for the sources that lie — small TCP
listeners that speak just enough of a protocol to misbehave (EXC-6 system docking; SEC hostile input).

What describe_table says about a table the account may not read (decided here, see its docstring): PostgreSQL
shows every table in its catalog, so the engine answers ``no_privilege``; MySQL/MariaDB hide such a table
from the account, so the engine answers ``not_found`` — in both cases list_tables leaves it out, and reading
it through ``connect()`` is ``no_privilege``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from govshare.exchange.engine import sources as engine
from govshare.exchange.engine import tls
from govshare.exchange.engine.sources import SourceError, SourceSpec
from tests.source_servers import (
    as_admin,
    as_nobody,
    make_ca,
    make_mysql_database,
    make_pg_database,
    mysql_admin,
    mysql_script,
    pg_admin,
)

#: the engine never touches the platform's database: these tests run once, in the SQLite pass of ``make test``
pytestmark = pytest.mark.once

KINDS = ["postgresql", "mysql", "sqlite"]
SERVERS = ["postgresql", "mysql"]
HOSTILE = 'x"; DROP TABLE people; --'

PG_SAMPLE = f"""
CREATE TABLE people (id integer PRIMARY KEY, name varchar(40) NOT NULL, born date, income numeric(12, 2),
                     seen timestamptz, code char(6));
CREATE TABLE visits (person_id integer NOT NULL, day date NOT NULL, office smallint NOT NULL, note text,
                     PRIMARY KEY (day, person_id, office));
CREATE TABLE log_lines (line text, at timestamp);
CREATE VIEW adults AS SELECT id, name FROM people;
CREATE TABLE "人口信息" ("姓名" varchar(20) PRIMARY KEY, "年龄" integer);
CREATE TABLE "{HOSTILE.replace('"', '""')}" (a integer);
CREATE SCHEMA archive;
CREATE TABLE archive.people_2019 (id bigint PRIMARY KEY);
CREATE TABLE secret (x integer);
INSERT INTO people VALUES (1, '张三', '1980-01-02', 1234.50, now(), 'A00001');
ANALYZE people;
"""

MYSQL_SAMPLE = f"""
CREATE TABLE people (id int(11) PRIMARY KEY, name varchar(40) NOT NULL, born date, income decimal(12, 2),
                     seen datetime, code char(6));
CREATE TABLE visits (person_id int NOT NULL, day date NOT NULL, office smallint NOT NULL, note text,
                     PRIMARY KEY (day, person_id, office));
CREATE TABLE log_lines (line text, at timestamp NULL);
CREATE VIEW adults AS SELECT id, name FROM people;
CREATE TABLE `人口信息` (`姓名` varchar(20) PRIMARY KEY, `年龄` int);
CREATE TABLE `{HOSTILE}` (a int);
CREATE TABLE secret (x int);
INSERT INTO people VALUES (1, '张三', '1980-01-02', 1234.50, now(), 'A00001');
ANALYZE TABLE people;
"""

SQLITE_SAMPLE = f"""
CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, born DATE, income NUMERIC(12, 2),
                     seen TIMESTAMP, code CHAR(6));
CREATE TABLE visits (person_id INTEGER NOT NULL, day DATE NOT NULL, office SMALLINT NOT NULL, note TEXT,
                     PRIMARY KEY (day, person_id, office));
CREATE TABLE log_lines (line TEXT, at TIMESTAMP);
CREATE VIEW adults AS SELECT id, name FROM people;
CREATE TABLE "人口信息" ("姓名" VARCHAR(20) PRIMARY KEY, "年龄" INTEGER);
CREATE TABLE "{HOSTILE.replace('"', '""')}" (a INTEGER);
INSERT INTO people VALUES (1, '张三', '1980-01-02', 1234.50, '2024-01-01 08:00:00', 'A00001');
"""

#: what each sample's reader sees, as list_tables returns it
SAMPLE_TABLES = {
    "postgresql": [("archive", "people_2019", "table"), ("public", "adults", "view"),
                   ("public", "log_lines", "table"), ("public", "people", "table"), ("public", "visits", "table"),
                   ("public", HOSTILE, "table"), ("public", "人口信息", "table")],
    "mysql": [("sample", name, kind) for name, kind in [("adults", "view"), ("log_lines", "table"),
                                                         ("people", "table"), ("secret", "table"),
                                                         ("visits", "table"), (HOSTILE, "table"),
                                                         ("人口信息", "table")]],
    "sqlite": [("main", name, kind) for name, kind in [("adults", "view"), ("log_lines", "table"),
                                                        ("people", "table"), ("visits", "table"),
                                                        (HOSTILE, "table"), ("人口信息", "table")]],
}
SCHEMA = {"postgresql": "public", "mysql": "sample", "sqlite": "main"}


# -- the samples -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgresql_sample(pg_source_url: str) -> dict[str, Any]:
    spec = make_pg_database(pg_source_url, "sample", PG_SAMPLE)
    with pg_admin(pg_source_url, "sample") as admin:
        admin.execute("REVOKE SELECT ON secret FROM sample_reader")
    return spec


@pytest.fixture(scope="module")
def mysql_sample(mysql_source_url: str) -> dict[str, Any]:
    spec = make_mysql_database(mysql_source_url, "sample", MYSQL_SAMPLE)
    with mysql_admin(mysql_source_url) as admin:  # an account that may read one table only
        mysql_script(admin, f"DROP USER IF EXISTS 'sample_partial'@'%'; "
                            f"CREATE USER 'sample_partial'@'%' IDENTIFIED BY '{spec['password']}'; "
                            f"GRANT SELECT ON sample.people TO 'sample_partial'@'%'")
    return spec


@pytest.fixture(scope="module")
def sqlite_sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("sqlite-source") / "front-end.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SQLITE_SAMPLE)
    conn.close()
    return {"kind": "sqlite", "database": str(path), "connect_timeout": 5.0, "statement_timeout": 10.0}


def grouped(*kinds: str) -> list[Any]:
    """The kinds as fixture parameters; a server's tests join the xdist group of the tests that name the source
    servers (tests/conftest.py), which these reach through ``getfixturevalue`` only."""
    return [kind if kind == "sqlite" else pytest.param(kind, marks=pytest.mark.xdist_group("sources"))
            for kind in kinds]


@pytest.fixture(params=grouped(*KINDS))
def sample(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The sample database of each kind, as its reader (SQLite: the file)."""
    return dict(request.getfixturevalue(f"{request.param}_sample"))


@pytest.fixture(params=grouped(*SERVERS))
def server_sample(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.getfixturevalue(f"{request.param}_sample"))


@pytest.fixture
def admin_sample(sample: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The sample as the server's administrator, who could write anything (SQLite: the file's owner)."""
    if sample["kind"] == "postgresql":
        return as_admin(sample, request.getfixturevalue("pg_source_url"))
    if sample["kind"] == "mysql":
        return as_admin(sample, request.getfixturevalue("mysql_source_url"))
    return sample


def spec(settings: dict[str, Any], **changes: Any) -> SourceSpec:
    return SourceSpec(**{**settings, **changes})


def failure(call: Callable[..., Any], *args: Any) -> tuple[SourceError, float]:
    """The SourceError ``call(*args)`` raises (anything else fails the test) and how long it took."""
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        call(*args)
    return caught.value, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- sources that lie: a listener and what it plays ---------------------------------------------------------

class FakeServer:
    """A TCP listener on 127.0.0.1: each connection goes to ``play`` in a thread; every byte a client sent is
    kept in ``received``."""

    def __init__(self, play: Callable[[socket.socket, FakeServer], None]) -> None:
        self.play = play
        self.received = bytearray()
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.play(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def read(self, conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        self.received += data
        return data

    def hold(self, conn: socket.socket) -> None:
        """Keep the connection open, answering nothing, until the client leaves or the test ends."""
        conn.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return
            self.received += data

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def fake_server() -> Iterator[Callable[[Callable[[socket.socket, FakeServer], None]], FakeServer]]:
    servers: list[FakeServer] = []

    def start(play: Callable[[socket.socket, FakeServer], None]) -> FakeServer:
        servers.append(FakeServer(play))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def never_answers(conn: socket.socket, server: FakeServer) -> None:
    server.hold(conn)


def says(data: bytes, then_close: bool = False) -> Callable[[socket.socket, FakeServer], None]:
    def play(conn: socket.socket, server: FakeServer) -> None:
        conn.sendall(data)
        if not then_close:
            server.hold(conn)
    return play


def closes_at_once(conn: socket.socket, server: FakeServer) -> None:
    pass


def pg_message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def pg_startup(conn: socket.socket, server: FakeServer) -> None:
    """Read the client's start: an SSLRequest is answered "N" (no TLS here), then the startup message."""
    while True:
        (length,) = struct.unpack("!I", server.read(conn, 4))
        body = server.read(conn, length - 4)
        if body[:4] == struct.pack("!I", 80877103):  # SSLRequest
            conn.sendall(b"N")
            continue
        return


def pg_logged_in(conn: socket.socket) -> None:
    """AuthenticationOk, the parameters a client needs, BackendKeyData, ReadyForQuery."""
    params = [(b"server_version", b"15.0"), (b"client_encoding", b"UTF8"), (b"standard_conforming_strings", b"on"),
              (b"integer_datetimes", b"on"), (b"DateStyle", b"ISO, MDY")]
    conn.sendall(pg_message(b"R", struct.pack("!I", 0))
                 + b"".join(pg_message(b"S", name + b"\0" + value + b"\0") for name, value in params)
                 + pg_message(b"K", struct.pack("!II", 4242, 1234)) + pg_message(b"Z", b"I"))


def pg_without_tls(conn: socket.socket, server: FakeServer) -> None:
    """What a PostgreSQL server without TLS answers to an SSLRequest: "N"."""
    server.read(conn, 8)
    conn.sendall(b"N")
    server.hold(conn)


def pg_stalls_after_login(conn: socket.socket, server: FakeServer) -> None:
    pg_startup(conn, server)
    pg_logged_in(conn)
    server.hold(conn)


def pg_asks_cleartext(conn: socket.socket, server: FakeServer) -> None:
    pg_startup(conn, server)
    conn.sendall(pg_message(b"R", struct.pack("!I", 3)))  # AuthenticationCleartextPassword
    server.hold(conn)


def mysql_packet(sequence: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([sequence]) + payload


MYSQL_OK = b"\x00\x00\x00\x02\x00\x00\x00"


def mysql_greeting(plugin: bytes = b"mysql_native_password") -> bytes:
    """A MariaDB-like handshake (protocol 10) without TLS."""
    capabilities = (0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000)
    payload = (b"\x0a" + b"5.5.5-10.11.0-MariaDB-fake\0" + struct.pack("<I", 7) + b"12345678\0"
               + struct.pack("<H", capabilities & 0xFFFF) + b"\x2d" + struct.pack("<H", 2)
               + struct.pack("<H", capabilities >> 16) + bytes([21]) + b"\0" * 10 + b"abcdefghijkl\0" + plugin + b"\0")
    return mysql_packet(0, payload)


def mysql_read(conn: socket.socket, server: FakeServer) -> bytes:
    header = server.read(conn, 4)
    if len(header) < 4:
        raise ConnectionResetError
    return server.read(conn, int.from_bytes(header[:3], "little"))


def mysql_stalls_after_login(conn: socket.socket, server: FakeServer) -> None:
    """Logs anyone in and answers the session's SET statements, then never answers a query."""
    conn.sendall(mysql_greeting())
    mysql_read(conn, server)
    conn.sendall(mysql_packet(2, MYSQL_OK))
    while True:
        command = mysql_read(conn, server)
        if not command.startswith(b"\x03SET"):
            server.hold(conn)
            return
        conn.sendall(mysql_packet(1, MYSQL_OK))


def mysql_asks_cleartext(conn: socket.socket, server: FakeServer) -> None:
    conn.sendall(mysql_greeting())
    mysql_read(conn, server)
    conn.sendall(mysql_packet(2, b"\xfemysql_clear_password\0"))  # AuthSwitchRequest
    server.hold(conn)


def fake_spec(kind: str, port: int, **changes: Any) -> SourceSpec:
    """Settings for a listener on 127.0.0.1 (the host name is never resolved)."""
    return SourceSpec(**{**{"kind": kind, "host": "db.example.test", "address": "127.0.0.1", "port": port,
                            "database": "sample", "user": "reader", "password": "Secret-Passw0rd-42"}, **changes})


# -- test connection ----------------------------------------------------------------------------------------

def test_test_connection_reports_the_version_the_readable_tables_the_time_and_tls(sample: dict[str, Any]) -> None:
    """EXC-6: "Test connection" tells who answers, how many tables and views the account can read (what
    list_tables lists), how long it took and whether TLS protects the connection (the PostgreSQL source
    offers TLS, the MariaDB source too, SQLite is a file)."""
    kind = sample["kind"]
    report = engine.test_connection(spec(sample))
    assert report.server_version.startswith({"postgresql": "PostgreSQL 15", "mysql": "MariaDB 10.11",
                                             "sqlite": "SQLite 3."}[kind])
    assert report.tables == len(SAMPLE_TABLES[kind]) == len(engine.list_tables(spec(sample)))
    assert 0 < report.elapsed_ms < 5000
    assert report.tls_in_use is {"postgresql": True, "mysql": True, "sqlite": None}[kind]


def test_an_empty_database_is_a_working_source_with_no_tables(server_sample: dict[str, Any],
                                                              request: pytest.FixtureRequest) -> None:
    """EXC-6: no tables is not an error (the department has not filled its front-end database yet)."""
    if server_sample["kind"] == "postgresql":
        empty = make_pg_database(request.getfixturevalue("pg_source_url"), "empty", "")
    else:
        empty = make_mysql_database(request.getfixturevalue("mysql_source_url"), "empty", "")
    assert engine.test_connection(spec(empty)).tables == 0
    assert engine.list_tables(spec(empty)) == []


# -- what the source declares -------------------------------------------------------------------------------

def test_list_tables_lists_the_readable_tables_and_views_sorted_with_their_schema(sample: dict[str, Any]) -> None:
    """EXC-6: PostgreSQL lists every non-system schema (a table without SELECT is left out); MySQL's schema is
    the database; SQLite's is main.  Row estimates come from the catalog (views have none, SQLite keeps none)."""
    kind = sample["kind"]
    tables = engine.list_tables(spec(sample))
    assert [(t.schema, t.name, t.kind) for t in tables] == SAMPLE_TABLES[kind]
    estimates = {t.name: t.estimated_rows for t in tables}
    assert estimates["adults"] is None
    assert estimates["people"] == (None if kind == "sqlite" else 1)


def test_describe_table_reports_types_lengths_precision_nullability_and_order(sample: dict[str, Any]) -> None:
    """EXC-6: the source's own type names (lower case), varchar(n)/char(n) lengths, numeric(p, s); MySQL's
    int display width is not a length."""
    kind = sample["kind"]
    shape = engine.describe_table(spec(sample), SCHEMA[kind], "people")
    assert (shape.schema, shape.name, shape.kind, shape.primary_key) == (SCHEMA[kind], "people", "table", ("id",))
    types = {
        "postgresql": ["integer", "character varying", "date", "numeric", "timestamp with time zone", "character"],
        "mysql": ["int", "varchar", "date", "decimal", "datetime", "char"],
        "sqlite": ["integer", "varchar", "date", "numeric", "timestamp", "char"],
    }[kind]
    assert [(c.ordinal, c.name, c.data_type) for c in shape.columns] == list(
        zip(range(1, 7), ["id", "name", "born", "income", "seen", "code"], types, strict=True))
    columns = {c.name: c for c in shape.columns}
    assert (columns["name"].length, columns["name"].nullable) == (40, False)
    assert (columns["code"].length, columns["code"].precision) == (6, None)
    assert (columns["income"].precision, columns["income"].scale, columns["income"].length) == (12, 2, None)
    assert (columns["id"].length, columns["id"].precision, columns["id"].scale) == (None, None, None)
    assert columns["born"].nullable


@pytest.mark.parametrize("kind", grouped(*SERVERS))
def test_describe_table_reads_each_columns_comment_made_safe_to_show(kind: str, request: pytest.FixtureRequest) -> None:
    """EXC-6 item 2: departments name columns ``c01`` or ``zjhm`` and write the Chinese name in the column's
    comment (PostgreSQL ``COMMENT ON COLUMN``, MySQL ``COMMENT``): it is read with the shape — control characters
    made spaces, at most ``COMMENT_CHARS`` characters (a source's text is hostile until checked)."""
    long = "长" * 1000
    if kind == "postgresql":
        settings = make_pg_database(request.getfixturevalue("pg_source_url"), "commented",
                                    "CREATE TABLE t (c01 VARCHAR(18) PRIMARY KEY, c02 TEXT, c03 INT);"
                                    "COMMENT ON COLUMN t.c01 IS '公民身份号码（18位）';"
                                    "COMMENT ON COLUMN t.c02 IS E'姓名\\n<script>\\x01';"
                                    "COMMENT ON TABLE t IS '人口';")
        with pg_admin(request.getfixturevalue("pg_source_url"), "commented") as admin:
            admin.execute(f"COMMENT ON COLUMN t.c03 IS '{long}'")
    else:
        settings = make_mysql_database(request.getfixturevalue("mysql_source_url"), "commented",
                                       "CREATE TABLE t (c01 VARCHAR(18) PRIMARY KEY COMMENT '公民身份号码（18位）', "
                                       "c02 TEXT COMMENT '姓名\\n<script>\\x01', "
                                       f"c03 INT COMMENT '{long[:1024]}')")
    shape = engine.describe_table(spec(settings), "public" if kind == "postgresql" else "commented", "t")
    comments = [c.comment for c in shape.columns]
    # (MySQL reads \\x as x: only the newline is a control character there)
    assert comments[:2] == ["公民身份号码（18位）", "姓名 <script>" + ("" if kind == "postgresql" else "x01")]
    assert comments[2] == "长" * engine.COMMENT_CHARS
    # characters that reorder or hide text (a comment is shown beside the column it explains)
    assert engine._comment("姓名\u202e（反向）\u200b") == "姓名 （反向）"


def test_a_composite_primary_key_comes_in_key_order_not_column_order(sample: dict[str, Any]) -> None:
    """EXC-1/EXC-6: incremental exchange keys rows by the declared primary key, in its declared order."""
    shape = engine.describe_table(spec(sample), SCHEMA[sample["kind"]], "visits")
    assert [c.name for c in shape.columns] == ["person_id", "day", "office", "note"]
    assert shape.primary_key == ("day", "person_id", "office")


def test_a_table_without_primary_key_and_a_view_have_none(sample: dict[str, Any]) -> None:
    """EXC-6: no primary key is ``()``; a view is a view, with its columns."""
    schema = SCHEMA[sample["kind"]]
    log_lines = engine.describe_table(spec(sample), schema, "log_lines")
    assert (log_lines.kind, log_lines.primary_key, [c.name for c in log_lines.columns]) == ("table", (), ["line", "at"])
    adults = engine.describe_table(spec(sample), schema, "adults")
    assert (adults.kind, adults.primary_key, [c.name for c in adults.columns]) == ("view", (), ["id", "name"])


def test_chinese_table_and_column_names_are_found_as_they_are(sample: dict[str, Any]) -> None:
    """EXC-6: a department's table 人口信息 with the column 姓名."""
    shape = engine.describe_table(spec(sample), SCHEMA[sample["kind"]], "人口信息")
    assert [(c.name, c.length) for c in shape.columns] == [("姓名", 20), ("年龄", None)]
    assert shape.primary_key == ("姓名",)


def test_a_hostile_table_name_is_looked_up_never_executed(sample: dict[str, Any]) -> None:
    """SEC: names go to the catalog as parameters: a table named like an injection is found as a table, a
    missing one is not found, and nothing is dropped."""
    schema = SCHEMA[sample["kind"]]
    assert [c.name for c in engine.describe_table(spec(sample), schema, HOSTILE).columns] == ["a"]
    for name in ['people"; DROP TABLE visits; --', "people'; DROP TABLE visits; --", "people` ; DROP TABLE visits; --",
                 "people' OR '1'='1", "people\\", "PEOPLE"]:
        error, _ = failure(engine.describe_table, spec(sample), schema, name)
        assert error.code == "not_found", name
    assert engine.describe_table(spec(sample), schema, "visits").primary_key == ("day", "person_id", "office")


def test_a_missing_table_a_system_table_and_another_schema_are_not_found(sample: dict[str, Any]) -> None:
    """EXC-6: only the source's own tables are described."""
    kind = sample["kind"]
    missing = [(SCHEMA[kind], "nowhere"), ("elsewhere", "people")]
    missing += {"postgresql": [("pg_catalog", "pg_class"), ("information_schema", "tables")],
                "mysql": [("mysql", "user"), ("information_schema", "TABLES")],
                "sqlite": [("main", "sqlite_master"), ("temp", "people")]}[kind]
    for schema, name in missing:
        error, _ = failure(engine.describe_table, spec(sample), schema, name)
        assert error.code == "not_found", (schema, name)


# -- failures, each from a real situation --------------------------------------------------------------------

def test_a_wrong_password_is_reported_as_auth(server_sample: dict[str, Any]) -> None:
    """EXC-6: wrong password ("password authentication failed" / MariaDB 1045), unknown user, no password."""
    for changes in [{"password": "wrong"}, {"user": "ghost"}, {"password": ""}]:
        error, _ = failure(engine.test_connection, spec(server_sample, **changes))
        assert error.code == "auth", (changes, error.detail)


def test_an_unknown_database_is_reported_as_no_database(server_sample: dict[str, Any],
                                                        request: pytest.FixtureRequest) -> None:
    """EXC-6: PostgreSQL says 3D000 to anyone; MariaDB says 1049 to an account that may see all databases."""
    settings = server_sample
    if server_sample["kind"] == "mysql":
        settings = as_admin(server_sample, request.getfixturevalue("mysql_source_url"))
    error, _ = failure(lambda: engine.test_connection(spec(settings, database="no_such_db")))
    assert error.code == "no_database", error.detail


def test_mysql_answers_no_privilege_for_a_database_the_account_may_not_see(mysql_sample: dict[str, Any]) -> None:
    """EXC-6: MariaDB does not tell a missing database from a forbidden one (1044) to a plain account."""
    error, _ = failure(lambda: engine.test_connection(spec(mysql_sample, database="no_such_db")))
    assert error.code == "no_privilege", error.detail


def test_an_account_that_may_read_nothing_is_told_no_privilege(server_sample: dict[str, Any]) -> None:
    """EXC-6: PostgreSQL: it may connect and sees tables in the catalog, but may read none of them; MariaDB:
    it may not use the database (1044)."""
    error, _ = failure(lambda: engine.test_connection(spec(as_nobody(server_sample))))
    assert error.code == "no_privilege", error.detail


def test_a_table_without_select_is_no_privilege_on_postgresql(postgresql_sample: dict[str, Any]) -> None:
    """EXC-6: the catalog shows ``secret``; the reader has no SELECT on it: left out of the list,
    described as no_privilege, and reading it is no_privilege (42501)."""
    assert "secret" not in [t.name for t in engine.list_tables(spec(postgresql_sample))]
    error, _ = failure(lambda: engine.describe_table(spec(postgresql_sample), "public", "secret"))
    assert error.code == "no_privilege"

    def read() -> None:
        with engine.connect(spec(postgresql_sample)) as conn:
            conn.execute("SELECT * FROM secret")

    assert failure(read)[0].code == "no_privilege"


def test_a_table_without_select_is_hidden_on_mysql(mysql_sample: dict[str, Any]) -> None:
    """EXC-6: MariaDB hides the tables an account may not read: not listed, not_found; reading one is
    no_privilege (1142)."""
    partial = spec(mysql_sample, user="sample_partial")
    assert [t.name for t in engine.list_tables(partial)] == ["people"]
    assert failure(lambda: engine.describe_table(partial, "sample", "secret"))[0].code == "not_found"

    def read() -> None:
        with engine.connect(partial) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT * FROM secret")

    assert failure(read)[0].code == "no_privilege"


@pytest.mark.parametrize("kind", SERVERS)
def test_a_port_nobody_listens_on_is_unreachable(kind: str) -> None:
    """EXC-6: connection refused (the server's name, which the message repeats, does not change the answer)."""
    for host in ("db.example.test", "ssl-certificate-timeout-db.example.test"):
        error, seconds = failure(engine.test_connection, fake_spec(kind, free_port(), host=host))
        assert (error.code, seconds < 2) == ("unreachable", True), error.detail


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_that_never_answers_is_a_timeout(kind: str, fake_server: Any) -> None:
    """EXC-6/SEC: it accepts the connection and says nothing: connect_timeout=1 gives up in time (libpq
    waits 2 s at least)."""
    server = fake_server(never_answers)
    error, seconds = failure(lambda: engine.test_connection(fake_spec(kind, server.port, connect_timeout=1.0)))
    assert error.code == "timeout", error.detail
    assert seconds < 3.5


def dribbles(conn: socket.socket, server: FakeServer) -> None:
    """Answers, one byte every 0.2 s, forever: each read gets something, the handshake never ends.  For
    PostgreSQL (the client speaks first): "no TLS", then parameter after parameter; for MySQL: a greeting
    that never finishes."""
    conn.settimeout(0.3)
    try:
        first = server.read(conn, 8)
    except TimeoutError:
        first = b""
    conn.settimeout(None)
    if first[4:8] == struct.pack("!I", 80877103):
        conn.sendall(b"N")
        stream = pg_message(b"R", struct.pack("!I", 0)) + pg_message(b"S", b"application_name\0x\0") * 10_000
    else:
        stream = mysql_packet(0, b"\x0a" + b"5" * 60_000)
    for byte in stream:
        if server.stopped.wait(0.2):
            return
        conn.sendall(bytes([byte]))


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_that_answers_a_byte_at_a_time_is_given_up_at_the_connect_timeout(kind: str,
                                                                                  fake_server: Any) -> None:
    """SEC: the connect timeout bounds the whole handshake, not each read (a slow-loris source)."""
    server = fake_server(dribbles)
    error, seconds = failure(lambda: engine.test_connection(fake_spec(kind, server.port, connect_timeout=1.0)))
    assert error.code == "timeout", error.detail
    assert seconds < 3


GARBAGE = {
    "an HTTP server": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "an SSH server": b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
    "random bytes": bytes(range(7, 256, 3)) * 8,
    "a huge length": b"\xff\xff\xff\x00" + b"\x0a" * 64,
    "an error byte": b"E\x00\x00\x00\x08abcd",
    "nothing": b"",
}


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("what", GARBAGE)
def test_a_server_that_is_not_a_database_is_a_protocol_error(kind: str, what: str, fake_server: Any) -> None:
    """EXC-6/SEC: something else answers on the port (a wrong port, a hostile source) and hangs up:
    "protocol" at once, and a SourceError, never another exception."""
    server = fake_server(says(GARBAGE[what], then_close=True))
    error, seconds = failure(lambda: engine.test_connection(fake_spec(kind, server.port)))
    assert error.code == "protocol", error.detail
    assert seconds < 1


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("what", ["an SSH server", "a huge length"])
def test_a_server_that_says_something_else_and_waits_is_given_up_in_time(kind: str, what: str,
                                                                         fake_server: Any) -> None:
    """EXC-6/SEC: the same, but the other end keeps the connection open: "protocol" when what it said is
    already wrong, "timeout" when the client waits for the rest of a message; never longer than the connect
    timeout (libpq: 2 s at least)."""
    server = fake_server(says(GARBAGE[what]))
    error, seconds = failure(lambda: engine.test_connection(fake_spec(kind, server.port, connect_timeout=1.0)))
    assert error.code in ("protocol", "timeout"), error.detail
    assert seconds < 3


#: a PostgreSQL server whose lc_messages is zh_CN (the strings of Debian's postgres-15.mo): this machine has
#: no zh_CN locale to start such a server, so the engine's reading of the messages is checked directly
CHINESE_FAILURES = {
    '致命错误:  用户 "reader" Password 认证失败': "auth",
    '致命错误:  角色 "ghost" 不存在': "auth",
    '致命错误:  数据库 "人口库" 不存在': "no_database",
    '致命错误:  访问数据库"人口库"的权限不够': "no_privilege",
    '致命错误:  没有用于主机 "10.0.0.9", 用户 "reader", 数据库 "人口库", SSL 关闭 的 pg_hba.conf 记录': "tls",
    '致命错误:  没有用于主机 "10.0.0.9", 用户 "reader", 数据库 "人口库", no encryption 的 pg_hba.conf 记录': "tls",
    '致命错误:  没有用于主机 "10.0.0.9", 用户 "reader", 数据库 "人口库" 的 pg_hba.conf 记录': "auth",
}


@pytest.mark.parametrize("message", CHINESE_FAILURES)
def test_a_chinese_postgresql_server_s_refusals_are_understood(message: str) -> None:
    """EXC-6: departments' servers often answer in Chinese; libpq gives no SQLSTATE for a failed connection."""
    error = psycopg.OperationalError(f'connection failed: connection to server at "10.0.0.9", port 5432 failed: '
                                     f"{message}")
    assert engine._pg_error(error).code == CHINESE_FAILURES[message]


# -- TLS ------------------------------------------------------------------------------------------------------

def mysql_without_tls(conn: socket.socket, server: FakeServer) -> None:
    conn.sendall(mysql_greeting())
    server.hold(conn)


@pytest.mark.parametrize("kind", SERVERS)
def test_tls_required_of_a_server_without_tls_is_tls(kind: str, fake_server: Any) -> None:
    """EXC-6/SEC: "require" never falls back to plain text.  A PostgreSQL server without TLS answers "N" to the
    client's SSLRequest; a MySQL server's greeting lacks the SSL capability — as these listeners do."""
    server = fake_server(pg_without_tls if kind == "postgresql" else mysql_without_tls)
    for mode in ("require", "verify-full"):
        error, _ = failure(lambda mode=mode: engine.test_connection(fake_spec(kind, server.port, tls=mode)))
        assert error.code == "tls", (mode, error.detail)
    assert b"Secret-Passw0rd-42" not in server.received


def test_tls_is_used_when_asked_and_offered(server_sample: dict[str, Any]) -> None:
    """EXC-6: prefer and require use the server's TLS; disable does not."""
    for mode, used in [("prefer", True), ("require", True), ("disable", False)]:
        assert engine.test_connection(spec(server_sample, tls=mode)).tls_in_use is used, mode


def test_a_certificate_nobody_trusts_fails_verify_full_as_tls(server_sample: dict[str, Any]) -> None:
    """SEC: without CA certificates of its own, verify-full checks the certificate against the system's CAs (the
    sources' test CA is in no system store)."""
    error, _ = failure(lambda: engine.test_connection(spec(server_sample, tls="verify-full")))
    assert error.code == "tls", error.detail


def test_verify_full_trusts_the_ca_given_with_the_source_and_no_other(server_sample: dict[str, Any],
                                                                     source_ca: str) -> None:
    """EXC-6/SEC: a department's own CA, pasted with the source, is what the server's certificate is checked
    against — on PostgreSQL (libpq reads it from a private file) and MySQL alike; a certificate from another CA
    is refused, and the password never crosses a connection that failed its check."""
    report = engine.test_connection(spec(server_sample, tls="verify-full", tls_ca=source_ca))
    assert report.tls_in_use is True and report.tables > 0
    _key, _cert, other = make_ca("another department's CA")
    error, _ = failure(lambda: engine.test_connection(spec(server_sample, tls="verify-full", tls_ca=other)))
    assert error.code == "tls", error.detail
    # both: any of the CAs given may have issued it
    assert engine.test_connection(spec(server_sample, tls="verify-full", tls_ca=other + source_ca)).tls_in_use


def test_verify_ca_checks_the_issuer_but_not_the_host_name(server_sample: dict[str, Any], source_ca: str) -> None:
    """EXC-6: a server reached by a name its certificate does not carry passes verify-ca (its CA is checked), not
    verify-full (the name is checked too)."""
    renamed = spec(server_sample, host="db.example.test", tls_ca=source_ca)  # the address stays 127.0.0.1
    assert engine.test_connection(dataclasses.replace(renamed, tls="verify-ca")).tls_in_use is True
    error, _ = failure(lambda: engine.test_connection(dataclasses.replace(renamed, tls="verify-full")))
    assert error.code == "tls", error.detail
    _key, _cert, other = make_ca("another department's CA")
    error, _ = failure(lambda: engine.test_connection(dataclasses.replace(renamed, tls="verify-ca", tls_ca=other)))
    assert error.code == "tls", error.detail


@pytest.mark.parametrize(("mode", "ca"), [("verify-ca", ""), ("require", "PEM"), ("prefer", "PEM"),
                                          ("disable", "PEM")])
def test_ca_certificates_go_with_a_checking_mode_only(mode: str, ca: str, source_ca: str) -> None:
    """SEC: verify-ca without a CA of the source's own would take any public CA's certificate; CA certificates
    with a mode that checks nothing would look like protection and be none."""
    error, _ = failure(lambda: engine.test_connection(
        fake_spec("postgresql", 1, tls=mode, tls_ca=source_ca if ca else "")))
    assert error.code == "other" and ("verify-ca" in error.detail), error.detail


def test_log_mode_sessions_trust_the_same_ca(postgresql_sample: dict[str, Any], source_ca: str) -> None:
    """EXC-6: the replication session of log mode takes the source's TLS settings from the same place."""
    from govshare.exchange.engine import logical

    checked = spec(postgresql_sample, tls="verify-full", tls_ca=source_ca)
    with logical._replication(checked) as conn:
        assert conn.pgconn.ssl_in_use
    with pytest.raises(SourceError) as caught, logical._replication(dataclasses.replace(checked, tls_ca="")):
        pass
    assert caught.value.code == "tls"


def test_pasted_certificates_are_kept_as_their_pem_blocks_with_what_a_person_checks(source_ca: str) -> None:
    """EXC-6: text around the blocks (``openssl`` prints "Bag Attributes", people add comments) is dropped; the
    subject, issuer, validity and SHA-256 fingerprint are what the page shows."""
    kept, found = tls.read_certificates(f"# our CA\r\nBag Attributes: x\n{source_ca}\n\ntrailing words")
    assert kept == source_ca
    (cert,) = found
    assert cert.subject == cert.issuer == "CN=govshare test CA" and cert.is_ca and not cert.expired()
    assert len(cert.sha256) == 95 and cert.sha256.count(":") == 31


@pytest.mark.parametrize(("text", "code"), [
    ("", "no_certificate"),
    ("just words", "no_certificate"),
    ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "private_key"),
    ("-----BEGIN EC PRIVATE KEY-----\nMIIB\n-----END EC PRIVATE KEY-----\n", "private_key"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", "not_certificate"),
    ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", "unreadable"),
    ("-----BEGIN CERTIFICATE-----\n\u8bc1\u4e66\n-----END CERTIFICATE-----\n", "unreadable"),
    ("0\x82\x03\x1d0\x82\x02\x05\xa0\x03", "not_text"),
    ("x" * (tls.MAX_PEM_CHARS + 1), "too_long"),
])
def test_what_is_not_a_usable_ca_certificate_is_refused_by_name(text: str, code: str) -> None:
    """SEC (hostile input): a private key pasted by mistake is named as such; anything else that is not a
    certificate says what it is."""
    with pytest.raises(tls.CertificateError) as caught:
        tls.read_certificates(text)
    assert caught.value.code == code


def test_a_key_beside_the_certificate_is_refused_too(source_ca: str) -> None:
    """SEC: a bundle of the CA's certificate and its key (a common export) must not be stored."""
    key, _cert, pem = make_ca()
    from cryptography.hazmat.primitives import serialization

    bundle = pem + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()).decode()
    with pytest.raises(tls.CertificateError) as caught:
        tls.read_certificates(bundle)
    assert (caught.value.code, caught.value.number) == ("private_key", 2)
    with pytest.raises(tls.CertificateError) as caught:
        tls.read_certificates(source_ca * (tls.MAX_CERTIFICATES + 1))
    assert caught.value.code == "too_many"


def test_the_ca_file_handed_to_libpq_is_private_and_made_again_when_removed(source_ca: str) -> None:
    """SEC: libpq reads trusted CAs from a file: it lives in a directory only this process's user may enter."""
    path = Path(tls.ca_file(source_ca))
    assert path.read_text() == source_ca and (path.parent.stat().st_mode & 0o777) == 0o700
    assert tls.ca_file(source_ca) == str(path)
    path.unlink()
    assert Path(tls.ca_file(source_ca)).read_text() == source_ca
    import shutil

    shutil.rmtree(path.parent)
    again = Path(tls.ca_file(source_ca))
    assert again.read_text() == source_ca and again.parent != path.parent


def test_a_server_that_wants_tls_turns_away_a_plain_connection_as_tls(postgresql_sample: dict[str, Any],
                                                                       pg_source_url: str) -> None:
    """EXC-6: the source's pg_hba.conf rejects its account without TLS ("no encryption")."""
    with pg_admin(pg_source_url) as admin:
        admin.execute("DROP ROLE IF EXISTS tls_reader")
        admin.execute("CREATE ROLE tls_reader LOGIN PASSWORD 'Tls-reader-1' IN ROLE tls_only")
        admin.execute("GRANT sample_reader TO tls_reader")
    tls_reader = spec(postgresql_sample, user="tls_reader", password="Tls-reader-1")
    error, _ = failure(lambda: engine.test_connection(spec(postgresql_sample, user="tls_reader",
                                                           password="Tls-reader-1", tls="disable")))
    assert error.code == "tls", error.detail
    assert engine.test_connection(tls_reader).tls_in_use is True


@pytest.mark.parametrize("kind", SERVERS)
def test_a_password_is_never_sent_in_clear_text_outside_tls(kind: str, fake_server: Any) -> None:
    """SEC: a server (or a man in the middle) that asks for the password in clear text without TLS gets
    nothing; the answer is "tls"."""
    server = fake_server(pg_asks_cleartext if kind == "postgresql" else mysql_asks_cleartext)
    settings = fake_spec(kind, server.port)
    error, _ = failure(lambda: engine.test_connection(settings))
    assert error.code == "tls", error.detail
    assert settings.password.encode() not in server.received
    assert b"reader" in server.received  # the listener did hear the client


def test_the_checked_address_is_used_and_the_host_name_never_resolved(server_sample: dict[str, Any]) -> None:
    """SEC (DNS rebinding): the engine connects to the address the caller checked; the host name, which does
    not resolve at all, only names the server."""
    assert engine.test_connection(spec(server_sample, host="rebound.invalid")).tables > 0


# -- read-only, and the time a statement may take -------------------------------------------------------------

WRITES = ["INSERT INTO people (id, name) VALUES (2, 'x')", "UPDATE people SET name = 'x'", "DELETE FROM people",
          "CREATE TABLE intruder (a int)", "DROP TABLE log_lines", "ALTER TABLE people ADD COLUMN z int"]


@pytest.mark.parametrize("statement", WRITES)
def test_a_write_through_connect_fails_even_for_an_administrator(admin_sample: dict[str, Any], statement: str,
                                                                 request: pytest.FixtureRequest) -> None:
    """EXC-6: sessions are read-only (PostgreSQL default_transaction_read_only, MariaDB SET SESSION
    TRANSACTION READ ONLY, SQLite mode=ro + query_only), whatever the account may do; the data is intact."""

    def write() -> None:
        with engine.connect(spec(admin_sample)) as conn:
            conn.cursor().execute(statement)

    before = engine.list_tables(spec(admin_sample))
    error, _ = failure(write)
    assert error.code == "no_privilege", error.detail
    assert engine.list_tables(spec(admin_sample)) == before
    assert len(engine.describe_table(spec(admin_sample), SCHEMA[admin_sample["kind"]], "people").columns) == 6
    with engine.connect(spec(admin_sample)) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*), max(name) FROM people")
        assert tuple(cursor.fetchone()) == (1, "张三")


def test_sqlite_refuses_attach_and_pragmas_that_write(sqlite_sample: dict[str, Any], tmp_path: Path) -> None:
    """SEC: through a SQLite source no other file is opened and no setting is changed."""
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    for statement in [f"ATTACH DATABASE '{other}' AS other", "PRAGMA query_only = OFF", "PRAGMA journal_mode = WAL",
                      "PRAGMA writable_schema = ON"]:
        def run(statement: str = statement) -> None:
            with engine.connect(spec(sqlite_sample)) as conn:
                conn.execute(statement)
        assert failure(run)[0].code == "no_privilege", statement
    with engine.connect(spec(sqlite_sample)) as conn:
        assert conn.execute("SELECT count(*) FROM pragma_table_info('people')").fetchone() == (6,)


LONG_STATEMENTS = {
    "postgresql": "SELECT pg_sleep(5)",
    "mysql": "SELECT SLEEP(5)",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
              "SELECT count(*) FROM n",
}


def test_a_long_statement_is_stopped_by_the_statement_timeout(sample: dict[str, Any]) -> None:
    """EXC-6: statement_timeout=1 s stops a 5 s statement (PostgreSQL 57014, MariaDB 1969, SQLite's progress
    handler) after about a second."""

    def run() -> None:
        with engine.connect(spec(sample, statement_timeout=1.0)) as conn:
            conn.cursor().execute(LONG_STATEMENTS[sample["kind"]])

    error, seconds = failure(run)
    assert error.code == "timeout", error.detail
    assert 0.9 < seconds < 3


def test_the_statement_timeout_counts_from_each_statement(sqlite_sample: dict[str, Any]) -> None:
    """EXC-6: on SQLite the clock restarts with each statement, not with the connection."""
    counting = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT count(*) FROM n"
    with engine.connect(spec(sqlite_sample, statement_timeout=0.5)) as conn:
        assert conn.execute(counting).fetchone() == (100000,)
        time.sleep(0.6)
        assert conn.execute(counting).fetchone() == (100000,)  # long enough to meet the progress handler


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_that_stalls_after_login_is_cut_off_by_the_client_deadline(kind: str, fake_server: Any) -> None:
    """SEC: a source that logs the platform in and then never answers a query cannot hold the worker: the
    client gives up a little after the statement timeout."""
    server = fake_server(pg_stalls_after_login if kind == "postgresql" else mysql_stalls_after_login)
    settings = fake_spec(kind, server.port, statement_timeout=1.0, password="", tls="disable")
    error, seconds = failure(lambda: engine.test_connection(settings))
    assert error.code == "timeout", error.detail
    assert 1.5 < seconds < 4


# -- SQLite files ---------------------------------------------------------------------------------------------

NOT_SQLITE = {
    "a missing file": None,
    "an empty file": b"",
    "a CSV file": "姓名,年龄\n张三,40\n".encode(),
    "a directory": "directory",
    "a header and zeros": b"SQLite format 3\x00" + b"\x00" * 200,
    "a header and garbage": b"SQLite format 3\x00" + bytes(range(256)) * 16,
}


@pytest.mark.parametrize("what", NOT_SQLITE)
def test_a_file_that_is_not_a_sqlite_database_is_no_database(what: str, tmp_path: Path) -> None:
    """EXC-6/SEC: a missing file, an empty one, a CSV, a directory, a SQLite header followed by nonsense."""
    path, content = tmp_path / "source.db", NOT_SQLITE[what]
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    error, _ = failure(lambda: engine.test_connection(SourceSpec(kind="sqlite", database=str(path))))
    assert error.code == "no_database", error.detail


def test_a_sqlite_path_with_uri_characters_opens_that_file(tmp_path: Path, sqlite_sample: dict[str, Any]) -> None:
    """SEC: the path is quoted into the URI: "?mode=rwc" or "#" in a file name are part of the name."""
    path = tmp_path / "odd ?mode=rwc#x%20.db"
    path.write_bytes(Path(sqlite_sample["database"]).read_bytes())
    assert engine.test_connection(SourceSpec(kind="sqlite", database=str(path))).tables == 6
    assert not (tmp_path / "odd ").exists()


# -- the contract ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "code"), [
    ({"kind": "oracle"}, "other"),
    ({"tls": "maybe"}, "other"),
    ({"connect_timeout": 0.0}, "other"),
    ({"statement_timeout": float("nan")}, "other"),
    ({"host": "", "address": ""}, "unreachable"),
    ({"host": "a,b"}, "unreachable"),
    ({"port": 70000}, "unreachable"),
    ({"database": ""}, "no_database"),
    ({"password": "a\x00b"}, "other"),
    ({"kind": "sqlite", "database": "relative/path.db"}, "no_database"),
])
def test_settings_that_cannot_work_are_refused_before_connecting(changes: dict[str, Any], code: str) -> None:
    """EXC-6: every failure is a SourceError, bad settings included."""
    error, _ = failure(lambda: engine.test_connection(fake_spec(**{"kind": "postgresql", "port": free_port(),
                                                                   **changes})))
    assert error.code == code, error.detail


def test_a_driver_error_inside_connect_leaves_as_source_error(sample: dict[str, Any]) -> None:
    """EXC-6: the Django layer handles SourceError only; the code comes from the error, not from the names in
    its message."""

    def read() -> None:
        with engine.connect(spec(sample)) as conn:
            conn.cursor().execute("SELECT * FROM interrupted_ssl_timeout_denied")

    assert failure(read)[0].code == "not_found"


def test_a_source_error_keeps_its_code_through_pickling_and_a_spec_hides_its_password() -> None:
    """EXC-6/SEC: errors travel through task queues; settings are logged without the password."""
    error = pickle.loads(pickle.dumps(SourceError("auth", "denied")))
    assert (error.code, error.detail, str(error)) == ("auth", "denied", "auth: denied")
    assert SourceError("bogus").code == "other"
    assert "Secret-Passw0rd-42" not in repr(fake_spec("mysql", 1))


def test_the_engine_imports_nothing_of_django_or_the_platform() -> None:
    """The engine is Django-free: it runs in a worker or a script without settings (it may use the data
    resource centre's engine, core's check-digit arithmetic — the one home of GB 11643 / GB 32100 — and core's
    masking — the one home of SEC-3's masks, which the delivery applies in SQL — both Django-free too)."""
    root = Path(engine.__file__).parent
    core = root.parent.parent / "core"
    for path in [*root.glob("*.py"), core / "idcodes.py", core / "masking.py"]:
        text = path.read_text(encoding="utf-8")
        assert "import django" not in text and "from django" not in text, path
        for line in text.splitlines():
            if line.startswith(("import govshare", "from govshare")):
                assert line.startswith(("from govshare.exchange.engine", "from govshare.datastore.engine",
                                        "from govshare.core.idcodes", "from govshare.core import masking")), \
                    (path, line)


def test_the_environment_does_not_leak_into_a_postgresql_connection(postgresql_sample: dict[str, Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """SEC: the platform's PGPASSWORD or PGSSLMODE do not stand in for a source's settings (an empty password
    stays empty)."""
    monkeypatch.setenv("PGPASSWORD", postgresql_sample["password"])
    monkeypatch.setenv("PGSSLMODE", "disable")
    error, _ = failure(lambda: engine.test_connection(spec(postgresql_sample, password="")))
    assert error.code == "auth", error.detail
    assert engine.test_connection(spec(postgresql_sample)).tls_in_use is True


# ------------------------------------------------------------------ slow senders and borrowed keys (review)

def _mysql_trickles(conn: socket.socket, server: Any) -> None:
    """Logs in, answers SET, then answers the first query with one byte every 0.5 s, for ever."""
    conn.sendall(mysql_greeting())
    mysql_read(conn, server)
    conn.sendall(mysql_packet(2, MYSQL_OK))
    while True:
        command = mysql_read(conn, server)
        if command.startswith(b"\x03SET"):
            conn.sendall(mysql_packet(1, MYSQL_OK))
            continue
        conn.sendall(b"\xff\xff\xff\x01")  # a 16 MB packet's header
        while not server.stopped.is_set():
            conn.sendall(b"A")
            time.sleep(0.5)
        return


def test_a_mysql_server_that_answers_one_byte_at_a_time_is_cut_off_at_the_statement_deadline(
        fake_server: Any) -> None:
    """SEC (hostile source): the per-read timeout alone let such a server hold the caller for ever."""
    server = fake_server(_mysql_trickles)
    spec = fake_spec("mysql", server.port, statement_timeout=1.0, connect_timeout=2.0, password="", tls="disable")
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        engine.test_connection(spec)
    assert caught.value.code == "timeout" and time.monotonic() - started < 6


def _mysql_borrowed_key(conn: socket.socket, server: Any) -> None:
    """Switches to sha256_password and hands over its own RSA key: whoever answers would read the password."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    conn.sendall(mysql_greeting())
    mysql_read(conn, server)
    salt = b"0123456789abcdefghij"
    conn.sendall(mysql_packet(2, b"\xfesha256_password\0" + salt + b"\0"))
    mysql_read(conn, server)
    conn.sendall(mysql_packet(4, b"\x01" + pem))
    with contextlib.suppress(Exception):
        blob = mysql_read(conn, server)
        plain = key.decrypt(blob, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(),
                                               label=None))
        server.stolen = bytes(a ^ salt[i % len(salt)] for i, a in enumerate(plain)).rstrip(b"\0")
    conn.sendall(mysql_packet(6, b"\xff\x15\x04#28000Access denied"))


@pytest.mark.parametrize("tls", ["disable", "prefer"])
def test_a_mysql_server_that_offers_its_own_rsa_key_outside_tls_never_gets_the_password(
        fake_server: Any, tls: str) -> None:
    server = fake_server(_mysql_borrowed_key)
    spec = fake_spec("mysql", server.port, tls=tls)
    with pytest.raises(SourceError) as caught:
        engine.test_connection(spec)
    assert caught.value.code == "tls" and getattr(server, "stolen", None) is None


@pytest.mark.xdist_group("sources")
def test_a_mysql_password_with_chinese_characters_is_sent_as_utf8(request: Any) -> None:
    url = request.getfixturevalue("mysql_source_url")
    spec = make_mysql_database(url, "utf8pw", "CREATE TABLE t (id INT PRIMARY KEY)")
    with mysql_admin(url) as admin:
        mysql_script(admin, "ALTER USER 'utf8pw_reader'@'%' IDENTIFIED BY '密码Secret'")
    report = engine.test_connection(SourceSpec(**{**spec, "password": "密码Secret"}))
    assert report.tables == 1


@pytest.mark.xdist_group("sources")
def test_mysql_booleans_and_unsigned_integers_are_described_as_such(request: Any) -> None:
    """Review: DATA_TYPE alone says tinyint and bigint; COLUMN_TYPE says tinyint(1) (MySQL's boolean) and
    unsigned (a bigint unsigned has 20 digits) — the binding's type check needs both."""
    from govshare.exchange.engine import types

    url = request.getfixturevalue("mysql_source_url")
    spec = make_mysql_database(url, "mytypes", "CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, ok TINYINT(1), "
                                               "n INT UNSIGNED)")
    shape = engine.describe_table(SourceSpec(**spec), "", "t")
    assert [c.data_type for c in shape.columns] == ["bigint unsigned", "tinyint(1)", "int unsigned"]
    assert types.family("tinyint(1)") == types.BOOLEAN
    (digits,) = types.problems("N", 19, "bigint unsigned")
    assert digits.code == "too_many_digits" and digits.params["digits"] == 20


@pytest.mark.xdist_group("sources")
def test_a_postgresql_session_watches_for_a_host_gone_from_the_network(postgresql_sample: dict[str, Any]) -> None:
    """EXC-6: a COPY waiting for its next row has no client-side deadline — TCP keepalives (idle 30 s, every 10 s,
    3 probes) end the session of a host gone from the network in about a minute, as the session reports them."""
    with engine.connect(spec(postgresql_sample)) as conn:
        options = {option.keyword.decode(): (option.val or b"").decode() for option in conn.pgconn.info}
    assert (options["keepalives"], options["keepalives_idle"], options["keepalives_interval"],
            options["keepalives_count"]) == ("1", "30", "10", "3")
