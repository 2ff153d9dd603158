"""review19 probes (temporary)."""
from __future__ import annotations

import ssl
import time
from typing import Any

import pytest

from govshare.exchange.engine import sources as engine
from govshare.exchange.engine import tls
from govshare.exchange.engine.sources import SourceError, SourceSpec
from tests.source_servers import make_pg_database, pg_admin, make_mysql_database, mysql_admin, mysql_script

pytestmark = pytest.mark.once


def _skip_sql_ascii(pg_source_url: str) -> None:
    settings = make_pg_database(pg_source_url, "r19plain", "")
    with pg_admin(pg_source_url) as admin:
        admin.execute('DROP DATABASE IF EXISTS "r19ascii" WITH (FORCE)')
        admin.execute("CREATE DATABASE r19ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
        admin.execute('GRANT CONNECT ON DATABASE r19ascii TO "r19plain_reader"')
    with pg_admin(pg_source_url, "r19ascii") as admin:
        admin.execute("CREATE TABLE t (xm text PRIMARY KEY, zjhm text)")
        admin.execute("CREATE TABLE u (xm text PRIMARY KEY, zjhm text)")
        # GBK bytes of 姓名 in a comment, as legacy front-end databases hold them
        admin.execute(b"COMMENT ON COLUMN t.xm IS '\xd0\xd5\xc3\xfb'")
        admin.execute('GRANT SELECT ON t, u TO "r19plain_reader"')
    spec = SourceSpec(**{**settings, "database": "r19ascii"})
    shape_u = engine.describe_table(spec, "public", "u")
    print("no comment:", shape_u.columns)
    try:
        shape = engine.describe_table(spec, "public", "t")
        print("GBK comment:", [c.comment for c in shape.columns])
    except SourceError as exc:
        print("GBK comment -> SourceError", exc.code, exc.detail)
        raise


def test_r19_mysql_context_has_only_given_ca(source_ca: str) -> None:
    context = tls.mysql_context("verify-full", source_ca)
    print("CAs in verify-full context:", len(context.get_ca_certs()), context.check_hostname, context.verify_mode)
    assert len(context.get_ca_certs()) == 1
    ca_ctx = tls.mysql_context("verify-ca", source_ca)
    assert ca_ctx.check_hostname is False and ca_ctx.verify_mode == ssl.CERT_REQUIRED


def test_r19_pem_regex_time() -> None:
    pem = ("-----BEGIN A-----" + "x" * 3) * (tls.MAX_PEM_CHARS // 20)
    pem = pem[: tls.MAX_PEM_CHARS]
    started = time.monotonic()
    with pytest.raises(tls.CertificateError) as caught:
        tls.read_certificates(pem)
    print("hostile PEM:", caught.value.code, round(time.monotonic() - started, 2), "s")


def test_r19_ca_file_modes(source_ca: str) -> None:
    import os
    from pathlib import Path
    path = Path(tls.ca_file(source_ca))
    print("file mode", oct(path.stat().st_mode & 0o777), "dir mode", oct(path.parent.stat().st_mode & 0o777), path)
