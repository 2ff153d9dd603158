"""Real source servers for the exchange tests (EXC-6): a throwaway PostgreSQL of its own (not the suite's
``DATABASE_URL`` server) and a throwaway MariaDB, each started once per test process, on first use.

* ``pg_source_url``: ``postgresql://govshare@127.0.0.1:PORT/postgres`` — ``govshare`` is a superuser
  without a password (trust), every other account needs its password over TCP (scram-sha-256); the server
  offers TLS with a certificate for ``localhost`` issued by a test CA (``source_ca``, trusted by no system); members of the role ``tls_only`` are turned
  away without TLS (``hostnossl ... reject``); ``wal_level=logical`` (log mode's replication slots).
* ``mysql_source_url``: ``mysql://root:PASSWORD@127.0.0.1:PORT/`` — offers TLS with the same certificate.

:func:`make_pg_database` and :func:`make_mysql_database` make a database from a SQL script with two
accounts, ``<name>_reader`` (SELECT on everything in it) and ``<name>_nobody`` (may connect, nothing more),
and return the reader's connection settings as keyword arguments of ``SourceSpec``; :func:`as_nobody`
turns them into the other account's.  A missing server binary fails the test with the package to install
(``.ci/run`` installs both); nothing is skipped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import ipaddress
import os
import pwd
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pymysql
import pytest
from pymysql.constants import CLIENT

ROOT = Path(__file__).resolve().parent.parent

#: the role whose members the PostgreSQL source refuses without TLS
TLS_ONLY_ROLE = "tls_only"

#: the client authentication of the PostgreSQL source (replaces initdb's trust-everyone file)
PG_HBA = f"""\
local all all trust
host all govshare 127.0.0.1/32 trust
hostnossl all +{TLS_ONLY_ROLE} 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256
"""


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"govshare_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_ca(common_name: str = "govshare test CA") -> tuple[Any, Any, str]:
    """A certificate authority nobody's system trusts: its key, its certificate and that as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _server_certificate(directory: Path) -> tuple[Path, Path, str]:
    """A certificate for ``localhost`` / 127.0.0.1 issued by a test CA no system store trusts, its key, and
    the CA's certificate as PEM (what a department's administrator pastes with the source)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key, ca_cert, ca_pem = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    (directory / "ca.pem").write_text(ca_pem, encoding="ascii")
    if os.geteuid() == 0:  # the server runs as postgres and must own its key (MariaDB runs as root there)
        postgres = pwd.getpwnam("postgres")
        for path in (directory, cert_file, key_file):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
    return cert_file, key_file, ca_pem


@pytest.fixture(scope="session")
def source_tls() -> Iterator[tuple[Path, Path, str]]:
    """The source servers' TLS: certificate file, key file, and the PEM of the CA that issued the certificate."""
    with tempfile.TemporaryDirectory(prefix="govshare-src-tls-") as tls_dir:
        yield _server_certificate(Path(tls_dir))


@pytest.fixture(scope="session")
def source_ca(source_tls: tuple[Path, Path, str]) -> str:
    """The PEM of the CA that issued the source servers' certificates (trusted by no system store)."""
    return source_tls[2]


@pytest.fixture(scope="session")
def pg_source_url(source_tls: tuple[Path, Path, str]) -> Iterator[str]:
    """A throwaway PostgreSQL server playing a department's front-end database."""
    with_postgres = _script("with_postgres")
    try:
        with_postgres.find_bindir()
    except SystemExit as exc:
        pytest.fail(f"the exchange tests need a PostgreSQL source server: {exc.code} (.ci/run installs it)")
    cert, key, _ca = source_tls
    # wal_level=logical: log mode reads the source's changes through replication slots (issue 10 item 5;
    # PostgreSQL's default max_replication_slots, 10, is enough: each test drops its slots)
    settings = (f"-c max_connections=40 -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key} "
                "-c wal_level=logical")
    with with_postgres.throwaway_server(settings=settings, prefix="govshare-pgsrc-") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            (hba_file,) = conn.execute("SHOW hba_file").fetchone()  # type: ignore[misc]
            Path(hba_file).write_text(PG_HBA, encoding="utf-8")
            conn.execute(f"CREATE ROLE {TLS_ONLY_ROLE} NOLOGIN")
            conn.execute("SELECT pg_reload_conf()")
        yield url


@pytest.fixture(scope="session")
def mysql_source_url(source_tls: tuple[Path, Path, str]) -> Iterator[str]:
    """A throwaway MariaDB server playing a department's front-end database (TLS offered, not required)."""
    with_mariadb = _script("with_mariadb")
    try:
        with_mariadb.find_binaries()
    except with_mariadb.ServerMissing as exc:
        pytest.fail(f"the exchange tests need a MariaDB source server: {exc} (.ci/run installs it)")
    cert, key, _ca = source_tls
    with with_mariadb.throwaway_server(prefix="govshare-mariadb-src-",
                                       options=[f"--ssl-cert={cert}", f"--ssl-key={key}"]) as url:
        yield url


def _parts(url: str) -> tuple[str, int, str, str]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", int(parts.port or 0), unquote(parts.username or ""), \
        unquote(parts.password or "")


# -- PostgreSQL --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def pg_admin(url: str, database: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
    """The superuser's connection (autocommit) to ``database`` of the PostgreSQL source."""
    host, port, user, _ = _parts(url)
    with psycopg.connect(host=host, port=port, user=user, dbname=database, autocommit=True) as conn:
        yield conn


def make_pg_database(url: str, name: str, sql: str) -> dict[str, Any]:
    """A fresh database ``name`` on the PostgreSQL source, made by ``sql`` (run by the superuser), with the
    accounts ``<name>_reader`` (USAGE on every schema, SELECT on every table and view) and ``<name>_nobody``;
    returns the reader's settings."""
    password = secrets.token_hex(12)
    reader, nobody = f"{name}_reader", f"{name}_nobody"
    with pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in (reader, nobody):
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
            admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
        admin.execute(f'CREATE DATABASE "{name}"')
    with pg_admin(url, name) as admin:
        if sql.strip():
            admin.execute(sql.encode())  # several statements: the simple query protocol
        schemas = [row[0] for row in admin.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'")]
        for schema in schemas:
            admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{reader}"')
            admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{reader}"')
    host, port, _, _ = _parts(url)
    return {"kind": "postgresql", "host": "localhost", "address": host, "port": port, "database": name,
            "user": reader, "password": password, "tls": "prefer", "connect_timeout": 5.0,
            "statement_timeout": 10.0}


# -- MariaDB -----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def mysql_admin(url: str, database: str | None = None) -> Iterator[Any]:
    """root's connection (autocommit, several statements per call) to the MariaDB source."""
    host, port, user, password = _parts(url)
    conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           charset="utf8mb4", autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        yield conn
    finally:
        conn.close()


def mysql_script(conn: Any, sql: str) -> None:
    """Run a script of several statements, reading every result."""
    with conn.cursor() as cursor:
        cursor.execute(sql)
        while cursor.nextset():
            pass


def make_mysql_database(url: str, name: str, sql: str) -> dict[str, Any]:
    """A fresh database ``name`` (utf8mb4) on the MariaDB source, made by ``sql`` (run by root), with the
    accounts ``<name>_reader`` (SELECT on the database) and ``<name>_nobody`` (no privilege); returns the
    reader's settings."""
    password = secrets.token_hex(12)
    reader, nobody = f"{name}_reader", f"{name}_nobody"
    with mysql_admin(url) as admin:
        mysql_script(admin, f"DROP DATABASE IF EXISTS `{name}`; "
                            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; "
                            f"DROP USER IF EXISTS '{reader}'@'%', '{nobody}'@'%'; "
                            f"CREATE USER '{reader}'@'%' IDENTIFIED BY '{password}'; "
                            f"CREATE USER '{nobody}'@'%' IDENTIFIED BY '{password}'; "
                            f"GRANT SELECT ON `{name}`.* TO '{reader}'@'%'")
    if sql.strip():
        with mysql_admin(url, name) as admin:
            mysql_script(admin, sql)
    host, port, _, _ = _parts(url)
    return {"kind": "mysql", "host": "localhost", "address": host, "port": port, "database": name,
            "user": reader, "password": password, "tls": "prefer", "connect_timeout": 5.0,
            "statement_timeout": 10.0}


def as_nobody(spec: dict[str, Any]) -> dict[str, Any]:
    """The same database, as the account without privileges (same password)."""
    return {**spec, "user": f"{spec['database']}_nobody"}


def as_admin(spec: dict[str, Any], url: str) -> dict[str, Any]:
    """The same database, as the server's administrator (the URL's account)."""
    _, _, user, password = _parts(url)
    return {**spec, "user": user, "password": password}
