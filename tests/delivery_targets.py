"""Consumers' front-end databases that receive deliveries (issue 11 item 1): a fresh database with a writing
account on the suite's throwaway PostgreSQL and MariaDB servers, or a SQLite file, as engine settings."""

from __future__ import annotations

import contextlib
import itertools
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from govshare.exchange.engine.sources import SourceSpec
from tests.source_servers import _parts, mysql_admin, mysql_script, pg_admin

_names = itertools.count(1)
TARGET_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.xdist_group("sources")),
                pytest.param("mysql", marks=pytest.mark.xdist_group("sources"))]


def make_pg_target(url: str, name: str) -> dict[str, Any]:
    """A fresh database owned by ``<name>_writer`` (it may create tables in its public schema)."""
    password = secrets.token_hex(12)
    writer = f"{name}_writer"
    with pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{writer}"')
        admin.execute(f"CREATE ROLE \"{writer}\" LOGIN PASSWORD '{password}'")
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{writer}"')
    host, port, _, _ = _parts(url)
    return {"kind": "postgresql", "host": "localhost", "address": host, "port": port, "database": name,
            "user": writer, "password": password, "tls": "prefer", "connect_timeout": 5.0, "statement_timeout": 30.0}


def make_mysql_target(url: str, name: str) -> dict[str, Any]:
    """A fresh utf8mb4 database on which ``<name>_writer`` has every privilege."""
    password = secrets.token_hex(12)
    writer = f"{name}_writer"
    with mysql_admin(url) as admin:
        mysql_script(admin, f"DROP DATABASE IF EXISTS `{name}`; "
                            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
                            f"DROP USER IF EXISTS '{writer}'@'%'; "
                            f"CREATE USER '{writer}'@'%' IDENTIFIED BY '{password}'; "
                            f"GRANT ALL ON `{name}`.* TO '{writer}'@'%'")
    host, port, _, _ = _parts(url)
    return {"kind": "mysql", "host": "localhost", "address": host, "port": port, "database": name,
            "user": writer, "password": password, "tls": "prefer", "connect_timeout": 5.0, "statement_timeout": 30.0}


@pytest.fixture
def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], SourceSpec]:
    """``make_target(kind)``: the settings of an empty front-end database that receives deliveries."""

    def make(kind: str) -> SourceSpec:
        name = f"target_{next(_names)}"
        if kind == "sqlite":
            return SourceSpec(kind="sqlite", database=str(tmp_path / f"{name}.db"), statement_timeout=30.0)
        if kind == "postgresql":
            return SourceSpec(**make_pg_target(request.getfixturevalue("pg_source_url"), name))
        return SourceSpec(**make_mysql_target(request.getfixturevalue("mysql_source_url"), name))

    return make


def query(spec: SourceSpec, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run on the target as its writer (the consumer looking at its own table)."""
    from govshare.exchange.engine import sources

    with sources.connect(spec, write=True) as conn:
        if spec.kind == "sqlite":
            return [tuple(row) for row in conn.execute(sql.replace("%s", "?"), params).fetchall()]
        with contextlib.closing(conn.cursor()) as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]


def quoted(spec: SourceSpec, name: str) -> str:
    return f"`{name}`" if spec.kind == "mysql" else f'"{name}"'


def sqlite_file(spec: SourceSpec) -> sqlite3.Connection:
    return sqlite3.connect(spec.database)
