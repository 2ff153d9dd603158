"""Front-end databases (前置库): registering, changing, testing and reading them (EXC-6 system docking), and
the guard every way of reaching one goes through (hostile input: SSRF, paths outside the folder; SEC-2 for
who may do what).  The engine's own tests against real servers: tests/test_exchange_source_engine.py."""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from govshare.cli import main as cli
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ManyProblems, NotFound, ValidationFailed
from govshare.core.models import AuditEvent
from govshare.exchange import guard
from govshare.exchange.actions import (
    do_change_source,
    do_register_source,
    do_set_source_active,
    do_test_source,
)
from govshare.exchange.demo import write_market_database
from govshare.exchange.models import DataSource
from tests.conftest import api_json, login

pytestmark = pytest.mark.django_db


def folder() -> Path:
    """The test's folder of SQLite sources (GOVSHARE_SOURCE_DIR), made on first use."""
    path = Path(settings.GOVSHARE_SOURCE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sqlite_file(name: str = "qzk.sqlite3", rows: int = 3) -> Path:
    """A small SQLite front-end database in the test's source folder."""
    path = folder() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE 人口信息 (身份证号 VARCHAR(18) PRIMARY KEY, 姓名 VARCHAR(50) NOT NULL, 出生日期 DATE)")
        db.executemany("INSERT INTO 人口信息 VALUES (?,?,?)",
                       [(f"36078319900101{i:03d}X", f"张{i}", "1990-01-01") for i in range(rows)])
    db.close()
    return path


def register_sqlite(org: Any, user: Any = None, **overrides: Any) -> DataSource:
    sqlite_file()
    fields = {"name": "市场监管局前置库", "code": "SJ-QZK", "kind": "sqlite", "database": "qzk.sqlite3"} | overrides
    return do_register_source(user or org.market_admin, **fields)


def refusals() -> Any:
    """The SOURCE_REFUSED rows: recorded even though the action rolled back (written once it is over, as the
    request middleware and the console do)."""
    from govshare.core import audit

    audit.flush_pending()
    return AuditEvent.objects.filter(code=AuditCode.SOURCE_REFUSED)


def server_fields(**overrides: Any) -> dict[str, Any]:
    return {"name": "公安局前置库", "code": "GA-QZK", "kind": "postgresql", "host": "10.36.7.21", "port": 5432,
            "database": "qzk", "username": "reader", "password": "s3cret-Pass"} | overrides


# ------------------------------------------------------------------ registering (EXC-6)

def test_a_department_admin_registers_a_sqlite_source_stored_relative_to_the_folder(org: Any) -> None:
    source = register_sqlite(org, database=str(folder() / "qzk.sqlite3"))
    assert source.department == org.market and source.database == "qzk.sqlite3"
    event = AuditEvent.objects.get(code=AuditCode.SOURCE_REGISTERED, object_id=str(source.pk))
    assert event.actor_id == org.market_admin.pk and event.detail["kind"] == "sqlite"


def test_the_password_is_stored_encrypted_and_never_shown_or_audited(org: Any, client_for: Any) -> None:
    source = do_register_source(org.police_admin, **server_fields())
    assert "s3cret-Pass" not in source.password_encrypted and source.password() == "s3cret-Pass"
    body = client_for(org.police_admin).get(f"/api/v1/exchange/sources/{source.pk}").json()
    assert body["has_password"] is True and "s3cret" not in json.dumps(body)
    page = client_for(org.police_admin).get(f"/exchange/sources/{source.pk}/").content.decode()
    assert "s3cret-Pass" not in page
    assert not any("s3cret" in json.dumps(e.detail) + json.dumps(e.changes)
                   for e in AuditEvent.objects.filter(object_id=str(source.pk)))


def test_every_problem_of_a_registration_is_reported_at_once(org: Any) -> None:
    with pytest.raises(ManyProblems) as caught:
        do_register_source(org.police_admin, name="", code="bad code!", kind="postgresql", host="", port=70000,
                           database="", username="", tls="sometimes", connect_timeout=0)
    fields = {p.field for p in caught.value.problems}
    assert fields >= {"name", "code", "host", "port", "database", "username", "tls", "connect_timeout"}


def test_a_kind_that_is_not_offered_is_refused_by_name(org: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        do_register_source(org.police_admin, **server_fields(kind="oracle"))
    assert caught.value.field == "kind"


def test_codes_are_unique_on_the_platform_and_names_within_a_department(org: Any) -> None:
    do_register_source(org.police_admin, **server_fields())
    with pytest.raises(GovshareError) as caught:
        do_register_source(org.market_admin, **server_fields(code="ga-qzk", name="另一个"))
    assert caught.value.code == "duplicate_code" and caught.value.status == 409
    with pytest.raises(GovshareError) as caught:
        do_register_source(org.police_admin, **server_fields(code="GA-2"))
    assert caught.value.code == "duplicate_name"
    do_register_source(org.market_admin, **server_fields(code="SJ-2"))  # the same name in another department


def test_a_data_specialist_may_not_register_a_source(org: Any) -> None:
    from govshare.core.errors import Forbidden

    with pytest.raises(Forbidden):
        do_register_source(org.police_specialist, **server_fields())
    assert not DataSource.objects.exists()


def test_the_centre_admin_registers_a_source_for_a_department(org: Any) -> None:
    source = do_register_source(org.centre_admin, department=org.police, **server_fields())
    assert source.department == org.police


# ------------------------------------------------------------------ the guard (hostile addresses and paths)

@pytest.mark.parametrize("host, reason", [
    ("169.254.169.254", "metadata"),  # AWS, OpenStack, Tencent, Huawei metadata
    ("100.100.100.200", "metadata"),  # Alibaba Cloud metadata
    ("::ffff:169.254.169.254", "metadata"),  # the same written as IPv6
    ("fe80::1", "metadata"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "unspecified"),
    ("255.255.255.255", "unspecified"),
])
def test_a_metadata_link_local_or_unspecified_address_is_refused_and_recorded(org: Any, host: str,
                                                                              reason: str) -> None:
    with pytest.raises(guard.AddressRefused) as caught:
        do_register_source(org.police_admin, **server_fields(host=host))
    assert caught.value.reason == reason and caught.value.field == "host"
    assert not DataSource.objects.exists()
    refused = refusals().get()
    assert refused.outcome == "denied" and refused.detail["reason"] == reason


def test_loopback_is_refused_unless_the_operator_allows_it(org: Any, settings: Any) -> None:
    settings.GOVSHARE_SOURCE_ALLOW_LOOPBACK = False
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost"):
        with pytest.raises(guard.AddressRefused) as caught:
            do_register_source(org.police_admin, **server_fields(host=host))
        assert caught.value.reason == "loopback"
    settings.GOVSHARE_SOURCE_ALLOW_LOOPBACK = True
    assert do_register_source(org.police_admin, **server_fields(host="127.0.0.1")).host == "127.0.0.1"


def test_the_platforms_own_database_is_refused_even_where_loopback_is_allowed(org: Any, settings: Any) -> None:
    settings.GOVSHARE_DATASTORE_URL = "postgresql://centre@127.0.0.1:6543/datastore"
    with pytest.raises(guard.AddressRefused) as caught:
        do_register_source(org.police_admin, **server_fields(host="localhost", port=6543))
    assert caught.value.reason == "platform"
    do_register_source(org.police_admin, **server_fields(host="127.0.0.1", port=6544))  # another server


def test_on_postgresql_the_platforms_own_server_is_refused(org: Any) -> None:
    default = settings.DATABASES["default"]
    if "postgres" not in default["ENGINE"]:
        pytest.skip("the PostgreSQL pass checks the platform's own server")
    with pytest.raises(guard.AddressRefused) as caught:
        do_register_source(org.police_admin, **server_fields(host=default["HOST"] or "127.0.0.1",
                                                            port=int(default["PORT"] or 5432)))
    assert caught.value.reason == "platform"


def test_the_operators_deny_and_allow_networks_are_applied(org: Any, settings: Any) -> None:
    settings.GOVSHARE_SOURCE_DENY_NETWORKS = ["10.36.0.0/16"]
    with pytest.raises(guard.AddressRefused) as caught:
        do_register_source(org.police_admin, **server_fields())
    assert caught.value.reason == "denied"
    settings.GOVSHARE_SOURCE_DENY_NETWORKS = []
    settings.GOVSHARE_SOURCE_ALLOW_NETWORKS = ["192.168.10.0/24"]
    with pytest.raises(guard.AddressRefused) as caught:
        do_register_source(org.police_admin, **server_fields())
    assert caught.value.reason == "not_allowed"
    assert do_register_source(org.police_admin, **server_fields(host="192.168.10.5")).host == "192.168.10.5"


def test_a_host_that_does_not_resolve_is_named(org: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        do_register_source(org.police_admin, **server_fields(host="no-such-host.invalid"))
    assert caught.value.code == "host_not_found" and caught.value.field == "host"


def test_a_name_with_one_bad_address_among_good_ones_is_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(guard.socket, "getaddrinfo", lambda *a, **k: [
        (2, 1, 6, "", ("10.1.2.3", 5432)), (2, 1, 6, "", ("169.254.169.254", 5432))])
    with pytest.raises(guard.AddressRefused):
        guard.checked_address("postgresql", "rebinding.example", 5432)


def test_the_engine_is_given_the_checked_address_not_the_name(org: Any, monkeypatch: Any) -> None:
    """DNS rebinding: the name is resolved once, by the guard; the engine connects to that address."""
    from govshare.exchange.sources import spec_for

    source = do_register_source(org.police_admin, **server_fields(host="10.9.8.7"))
    answers = iter([[(2, 1, 6, "", ("10.1.2.3", 5432))], [(2, 1, 6, "", ("169.254.169.254", 5432))]])
    monkeypatch.setattr(guard.socket, "getaddrinfo", lambda *a, **k: next(answers))
    DataSource.objects.filter(pk=source.pk).update(host="qzk.example")
    source.refresh_from_db()
    spec = spec_for(source)
    assert spec.address == "10.1.2.3" and spec.host == "qzk.example"


@pytest.mark.parametrize("path", ["../outside.sqlite3", "/etc/passwd", "sub/../../outside.sqlite3"])
def test_a_sqlite_path_outside_the_folder_is_refused(org: Any, path: str) -> None:
    (folder().parent / "outside.sqlite3").write_bytes(b"SQLite format 3\x00")
    with pytest.raises(guard.AddressRefused) as caught:
        register_sqlite(org, database=path)
    assert caught.value.reason == "outside_folder" and caught.value.field == "database"
    assert refusals().count() == 1


def test_a_link_inside_the_folder_that_points_outside_is_refused(org: Any) -> None:
    outside = folder().parent / "secret.sqlite3"
    sqlite3.connect(outside).close()
    (folder() / "link.sqlite3").symlink_to(outside)
    with pytest.raises(guard.AddressRefused):
        register_sqlite(org, database="link.sqlite3")


def test_a_missing_sqlite_file_is_named(org: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        do_register_source(org.market_admin, name="x", code="X", kind="sqlite", database="nope.sqlite3")
    assert caught.value.code == "no_such_file"


def test_the_guard_keeps_ipv4_written_as_ipv6_as_ipv4() -> None:
    assert guard.refusal(ipaddress.ip_address("::ffff:100.100.100.200"), 5432) == "metadata"
    assert guard.refusal(ipaddress.ip_address("10.0.0.5"), 5432) is None


# ------------------------------------------------------------------ testing the connection

def test_testing_a_sqlite_source_reports_its_tables_and_is_audited(org: Any) -> None:
    source = register_sqlite(org)
    result = do_test_source(org.market_specialist, source)
    assert result.ok and result.report is not None and result.report.tables == 1
    assert result.source.last_test_ok is True and result.source.last_test_tables == 1
    event = AuditEvent.objects.get(code=AuditCode.SOURCE_TESTED)
    assert event.outcome == "success" and event.actor_id == org.market_specialist.pk


def test_a_file_that_is_not_a_sqlite_database_fails_the_test_in_words(org: Any) -> None:
    (folder() / "fake.sqlite3").write_text("name,id\n张三,1\n")
    source = do_register_source(org.market_admin, name="x", code="X", kind="sqlite", database="fake.sqlite3")
    result = do_test_source(org.market_admin, source)
    assert not result.ok and result.code == "source_no_database" and result.error is not None
    assert "SQLite" in result.error.render("en")
    assert AuditEvent.objects.get(code=AuditCode.SOURCE_TESTED).outcome == "failure"


def test_an_unreachable_server_fails_the_test_within_its_timeout(org: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    source = do_register_source(org.police_admin, **server_fields(host="127.0.0.1", port=port, connect_timeout=2))
    result = do_test_source(org.police_admin, source)
    assert not result.ok and result.code == "source_unreachable" and result.elapsed_ms < 5000
    assert str(port) in result.error.render("en")  # type: ignore[union-attr]


def test_what_a_copy_could_not_use_of_a_servers_answers_is_said_with_its_detail_in_both_languages(org: Any) -> None:
    """The engine's "protocol" failures are many (a column's type changed under the copy, a page changed under its
    re-read, text that is not UTF-8): the message names which, not only "not a MySQL server"."""
    from govshare.exchange.engine.sources import SourceError
    from govshare.exchange.sources import explain

    source = do_register_source(org.police_admin, **server_fields(host="127.0.0.1", port=3306, kind="mysql"))
    error = explain(SourceError("protocol", "column csrq of rkxx changed from date to varchar(10) during the copy"),
                    source, table="rkxx")
    assert error.code == "source_protocol"
    for language in ("en", "zh-hans"):
        assert "column csrq of rkxx changed from date to varchar(10)" in error.render(language)
        assert "127.0.0.1:3306" in error.render(language)
    assert "MySQL" in error.render("zh-hans") and "未按" in error.render("zh-hans")


def test_a_source_whose_file_was_moved_out_of_the_folder_fails_the_test_without_reading_it(org: Any) -> None:
    source = register_sqlite(org)
    path = folder() / "qzk.sqlite3"
    outside = folder().parent / "moved.sqlite3"
    path.rename(outside)
    path.symlink_to(outside)
    result = do_test_source(org.market_admin, source)
    assert not result.ok and result.code == "source_address_refused"
    assert refusals().exists()


# ------------------------------------------------------------------ changing

def test_changing_the_connection_forgets_the_last_test_and_audits_which_fields_changed(org: Any) -> None:
    source = register_sqlite(org)
    do_test_source(org.market_admin, source)
    sqlite_file("other.sqlite3")
    source = do_change_source(org.market_admin, source, database="other.sqlite3", description="新的")
    assert source.last_test_ok is None
    event = AuditEvent.objects.get(code=AuditCode.SOURCE_CHANGED)
    assert set(event.changes) == {"database", "description"}


def test_a_new_password_replaces_the_old_and_an_empty_one_removes_it(org: Any) -> None:
    source = do_register_source(org.police_admin, **server_fields())
    source = do_change_source(org.police_admin, source, password="n3w-Pass")
    assert source.password() == "n3w-Pass"
    assert AuditEvent.objects.get(code=AuditCode.SOURCE_CHANGED).changes == {"password": ["***", "***"]}
    source = do_change_source(org.police_admin, source, password=None, name="公安局前置库（新）")
    assert source.password() == "n3w-Pass"
    source = do_change_source(org.police_admin, source, password="")
    assert not source.has_password


def test_a_change_to_a_refused_address_keeps_the_source_as_it_was(org: Any) -> None:
    source = do_register_source(org.police_admin, **server_fields())
    with pytest.raises(guard.AddressRefused):
        do_change_source(org.police_admin, source, host="169.254.169.254")
    source.refresh_from_db()
    assert source.host == "10.36.7.21"


def test_deactivating_and_reactivating_are_audited(org: Any) -> None:
    source = register_sqlite(org)
    do_set_source_active(org.market_admin, source, False)
    do_set_source_active(org.market_admin, source, True)
    codes = list(AuditEvent.objects.filter(object_id=str(source.pk)).order_by("pk").values_list("code", flat=True))
    assert codes[-2:] == [AuditCode.SOURCE_DEACTIVATED, AuditCode.SOURCE_ACTIVATED]


# ------------------------------------------------------------------ who may do what (owner, colleague, outsider)

def test_the_owner_changes_the_colleague_tests_and_the_outsider_sees_nothing(org: Any) -> None:
    source = register_sqlite(org)
    do_change_source(org.market_admin, source, description="改")  # owner
    assert do_test_source(org.market_specialist, source).ok  # colleague: may use
    with pytest.raises(NotFound):
        do_change_source(org.market_specialist, source, description="x")  # colleague: may not change
    for outsider in (org.police_admin, org.police_specialist, org.citizen):
        with pytest.raises(NotFound):
            do_test_source(outsider, source)
        with pytest.raises(NotFound):
            do_change_source(outsider, source, description="x")


def test_the_api_answers_404_alike_for_a_missing_source_and_one_of_another_department(org: Any,
                                                                                     client_for: Any) -> None:
    source = register_sqlite(org)
    outsider = client_for(org.police_admin)
    for path in (f"/sources/{source.pk}", f"/sources/{source.pk + 1000}"):
        assert outsider.get(f"/api/v1/exchange{path}").status_code == 404
        assert outsider.post(f"/api/v1/exchange{path}/test").status_code == 404
        assert outsider.get(f"/api/v1/exchange{path}/tables").status_code == 404
    assert outsider.get("/api/v1/exchange/sources").json()["total"] == 0


def test_the_centre_and_the_auditor_see_every_source_but_only_the_centre_admin_changes_one(
        org: Any, client_for: Any) -> None:
    source = register_sqlite(org)
    for user in (org.reviewer, org.auditor, org.centre_admin):
        assert client_for(user).get("/api/v1/exchange/sources").json()["total"] == 1
    for user in (org.reviewer, org.auditor):
        answer = api_json(client_for(user), "patch", f"/exchange/sources/{source.pk}", {"description": "x"})
        assert answer.status_code == 404
    answer = api_json(client_for(org.centre_admin), "patch", f"/exchange/sources/{source.pk}", {"description": "x"})
    assert answer.status_code == 200 and answer.json()["description"] == "x"


# ------------------------------------------------------------------ the API

def test_the_api_registers_tests_and_reads_a_sqlite_sources_tables(org: Any, client_for: Any) -> None:
    sqlite_file()
    client = client_for(org.market_admin)
    answer = api_json(client, "post", "/exchange/sources", {"name": "前置库", "code": "SJ-1", "kind": "sqlite",
                                                             "database": "qzk.sqlite3"})
    assert answer.status_code == 201, answer.content
    pk = answer.json()["id"]
    test = client.post(f"/api/v1/exchange/sources/{pk}/test").json()
    assert test["ok"] is True and test["tables"] == 1 and test["source"]["last_test"]["ok"] is True
    tables = client.get(f"/api/v1/exchange/sources/{pk}/tables").json()
    assert tables == [{"schema": "main", "name": "人口信息", "kind": "table", "estimated_rows": tables[0]["estimated_rows"]}]
    shape = client.get(f"/api/v1/exchange/sources/{pk}/tables/main/人口信息").json()
    assert shape["primary_key"] == ["身份证号"] and [c["name"] for c in shape["columns"]] == ["身份证号", "姓名", "出生日期"]
    missing = client.get(f"/api/v1/exchange/sources/{pk}/tables/main/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "source_not_found"


def test_the_api_reports_every_problem_of_a_registration_with_its_field(org: Any, client_for: Any) -> None:
    answer = api_json(client_for(org.police_admin), "post", "/exchange/sources",
                      {"kind": "postgresql", "host": "169.254.169.254"})
    assert answer.status_code == 400
    fields = {e.get("field") for e in answer.json()["error"]["errors"]}
    assert {"name", "code", "database", "username", "host"} <= fields


def test_a_failed_test_is_an_answer_in_both_languages(org: Any, client_for: Any) -> None:
    (folder() / "bad.sqlite3").write_bytes(b"\x00" * 200)
    source = do_register_source(org.market_admin, name="x", code="X", kind="sqlite", database="bad.sqlite3")
    body = client_for(org.market_admin).post(f"/api/v1/exchange/sources/{source.pk}/test").json()
    assert body["ok"] is False and body["code"] == "source_no_database"
    assert body["message_zh"] != body["message_en"] and "SQLite" in body["message_en"]


# ------------------------------------------------------------------ the pages

def test_the_pages_register_test_and_show_a_sources_tables(org: Any) -> None:
    sqlite_file()
    client = login(Client(), org.market_admin)
    assert client.get("/exchange/").status_code == 200
    answer = client.post("/exchange/", {"name": "前置库", "code": "SJ-1", "kind": "sqlite", "database": "qzk.sqlite3",
                                        "tls": "prefer", "connect_timeout": 10, "statement_timeout": 600})
    assert answer.status_code == 302
    source = DataSource.objects.get(code="SJ-1")
    page = client.post(f"/exchange/sources/{source.pk}/test/").content.decode()
    assert 'id="test-result"' in page and 'data-code="ok"' in page
    page = client.get(f"/exchange/sources/{source.pk}/?tables=1").content.decode()
    assert "人口信息" in page
    page = client.get(f"/exchange/sources/{source.pk}/?schema=main&table=人口信息").content.decode()
    assert "身份证号" in page and "出生日期" in page


def test_the_registration_page_shows_every_problem_next_to_its_field(org: Any) -> None:
    client = login(Client(), org.police_admin)
    page = client.post("/exchange/", {"kind": "postgresql", "host": "169.254.169.254", "tls": "prefer",
                                      "connect_timeout": 10, "statement_timeout": 600})
    assert page.status_code == 400
    text = page.content.decode()
    for field in ("name", "code", "database", "username", "host"):
        assert f'data-field="{field}"' in text


def test_a_colleague_sees_no_change_form_and_an_outsider_gets_404(org: Any) -> None:
    source = register_sqlite(org)
    page = login(Client(), org.market_specialist).get(f"/exchange/sources/{source.pk}/").content.decode()
    assert "Test connection" in page or "测试连接" in page
    assert 'name="remove_password"' not in page
    assert login(Client(), org.police_admin).get(f"/exchange/sources/{source.pk}/").status_code == 404
    assert login(Client(), org.market_specialist).post(f"/exchange/sources/{source.pk}/",
                                                       {"name": "x"}).status_code == 404


# ------------------------------------------------------------------ the console

def test_the_console_lists_tests_and_describes_sources(org: Any, capsys: Any) -> None:
    source = register_sqlite(org)
    assert cli(["exchange", "sources"]) == 0
    assert "SJ-QZK" in capsys.readouterr().out
    assert cli(["exchange", "test", "sj-qzk"]) == 0
    assert "1" in capsys.readouterr().out
    source.refresh_from_db()
    assert source.last_test_ok is True
    assert AuditEvent.objects.get(code=AuditCode.SOURCE_TESTED).actor_id is None
    assert cli(["exchange", "tables", "SJ-QZK", "--table", "main.人口信息"]) == 0
    assert "身份证号" in capsys.readouterr().out
    assert cli(["exchange", "test", "NOPE"]) == 2


def test_the_console_exits_1_with_the_reason_when_a_source_fails(org: Any, capsys: Any) -> None:
    (folder() / "bad.sqlite3").write_bytes(b"not a database")
    do_register_source(org.market_admin, name="x", code="BAD", kind="sqlite", database="bad.sqlite3")
    assert cli(["exchange", "test", "BAD"]) == 1
    assert "SQLite" in capsys.readouterr().err


# ------------------------------------------------------------------ the demo

def test_the_demo_market_database_holds_600_registrations_with_valid_credit_codes(tmp_path: Path) -> None:
    from govshare.core.validators import normalize_uscc

    path = tmp_path / "m.sqlite3"
    assert write_market_database(path) == 600
    with sqlite3.connect(path) as db:
        codes = [r[0] for r in db.execute("SELECT tyshxydm FROM scztdjxx")]
        views = db.execute("SELECT count(*) FROM sqlite_master WHERE type='view'").fetchone()[0]
    assert len(set(codes)) == 600 and all(normalize_uscc(c) == c for c in codes) and views == 1


# ------------------------------------------------------------------ real PostgreSQL and MariaDB sources

SAMPLE = {
    "postgresql": "CREATE TABLE rkxx (sfzh VARCHAR(18) PRIMARY KEY, xm VARCHAR(50) NOT NULL, csrq DATE);"
                  "COMMENT ON COLUMN rkxx.xm IS '姓名';"
                  "INSERT INTO rkxx VALUES ('360783199001010011', '张三', '1990-01-01');",
    "mysql": "CREATE TABLE rkxx (sfzh VARCHAR(18) PRIMARY KEY, xm VARCHAR(50) NOT NULL COMMENT '姓名', csrq DATE);"
             "INSERT INTO rkxx VALUES ('360783199001010011', '张三', '1990-01-01');",
}


def server_source(org: Any, request: Any, kind: str, name: str, **overrides: Any) -> DataSource:
    from tests.source_servers import make_mysql_database, make_pg_database

    if kind == "postgresql":
        spec = make_pg_database(request.getfixturevalue("pg_source_url"), name, SAMPLE[kind])
    else:
        spec = make_mysql_database(request.getfixturevalue("mysql_source_url"), name, SAMPLE[kind])
    fields = {"name": f"{kind} 前置库", "code": f"{kind}-{name}", "kind": kind, "host": spec["address"],
              "port": spec["port"], "database": spec["database"], "username": spec["user"],
              "password": spec["password"], "tls": "disable" if kind == "mysql" else "prefer",
              "connect_timeout": 5} | overrides
    return do_register_source(org.police_admin, **fields)


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_server_source_is_tested_and_its_tables_read_through_the_api(org: Any, client_for: Any, request: Any,
                                                                      kind: str) -> None:
    source = server_source(org, request, kind, "xdemo")
    client = client_for(org.police_specialist)
    body = client.post(f"/api/v1/exchange/sources/{source.pk}/test").json()
    assert body["ok"] is True and body["tables"] == 1 and body["server_version"]
    tables = client.get(f"/api/v1/exchange/sources/{source.pk}/tables").json()
    assert [t["name"] for t in tables] == ["rkxx"]
    schema = tables[0]["schema"]
    shape = client.get(f"/api/v1/exchange/sources/{source.pk}/tables/{schema}/rkxx").json()
    assert shape["primary_key"] == ["sfzh"]
    assert [(c["name"], c["length"], c["comment"]) for c in shape["columns"]] == [
        ("sfzh", 18, ""), ("xm", 50, "姓名"), ("csrq", None, "")]
    page = login(Client(), org.police_specialist).get(
        f"/exchange/sources/{source.pk}/?schema={schema}&table=rkxx").content.decode()
    assert "<td>姓名</td>" in page


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_wrong_password_is_explained_and_the_stored_one_is_never_sent_back(org: Any, client_for: Any,
                                                                            request: Any, kind: str) -> None:
    source = server_source(org, request, kind, "xauth", password="wrong-password")
    body = client_for(org.police_admin).post(f"/api/v1/exchange/sources/{source.pk}/test").json()
    assert body["ok"] is False and body["code"] == "source_auth"
    assert "wrong-password" not in json.dumps(body) and source.username in body["message_en"]
    assert "用户名" in body["message_zh"]


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_reading_the_tables_of_a_source_that_refuses_answers_502_with_the_reason(
        org: Any, client_for: Any, request: Any, kind: str) -> None:
    source = server_source(org, request, kind, "xgone", database="no_such_db")
    answer = client_for(org.police_admin).get(f"/api/v1/exchange/sources/{source.pk}/tables")
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] in ("source_no_database", "source_auth", "source_no_privilege")


# ------------------------------------------------------------------ review findings (issue 10, adversarial review)

def _own_non_loopback_address() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] in ("inet", "inet6"):
            address = ipaddress.ip_address(parts[3].split("/")[0])
            if not address.is_loopback and not address.is_link_local:
                return str(address)
    return None


def test_this_machines_own_network_address_counts_as_this_machine(org: Any, settings: Any) -> None:
    own = _own_non_loopback_address()
    if own is None:
        pytest.skip("this machine has no network address besides loopback")
    assert guard.is_this_machine(ipaddress.ip_address(own)) and not guard.is_this_machine(
        ipaddress.ip_address("10.36.7.21"))
    settings.GOVSHARE_SOURCE_ALLOW_LOOPBACK = False
    with pytest.raises(guard.AddressRefused) as caught:
        do_register_source(org.police_admin, **server_fields(host=own))
    assert caught.value.reason == "loopback"


def test_the_platforms_own_sqlite_databases_are_never_a_source(org: Any, settings: Any, tmp_path: Path) -> None:
    settings.GOVSHARE_SOURCE_DIR = tmp_path  # an operator who put the sources folder over the data dir
    centre = tmp_path / "datastore.sqlite3"
    sqlite3.connect(centre).close()
    settings.GOVSHARE_DATASTORE_URL = f"sqlite:///{centre}"
    with pytest.raises(guard.AddressRefused) as caught:
        register_sqlite(org, database="datastore.sqlite3")
    assert caught.value.reason == "platform"


def test_a_deactivated_source_is_not_read_but_may_still_be_tested(org: Any, client_for: Any) -> None:
    source = register_sqlite(org)
    do_set_source_active(org.market_admin, source, False)
    client = client_for(org.market_admin)
    answer = client.get(f"/api/v1/exchange/sources/{source.pk}/tables")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "source_inactive"
    assert client.post(f"/api/v1/exchange/sources/{source.pk}/test").json()["ok"] is True


def test_a_password_keeps_its_spaces(org: Any) -> None:
    source = do_register_source(org.police_admin, **server_fields(password="  spaced out  "))
    assert source.password() == "  spaced out  "


def test_the_registration_page_reports_a_bad_port_with_every_other_problem(org: Any) -> None:
    page = login(Client(), org.police_admin).post("/exchange/", {"kind": "postgresql", "port": "abc",
                                                                "code": "bad code!", "tls": "prefer"})
    assert page.status_code == 400
    text = page.content.decode()
    for field in ("name", "code", "host", "database", "username", "port"):
        assert f'data-field="{field}"' in text, field


def test_an_oversized_id_in_a_query_is_refused_not_a_server_error(org: Any, client_for: Any) -> None:
    answer = client_for(org.police_admin).get("/api/v1/exchange/bindings", {"source_id": 10 ** 25})
    assert answer.status_code == 422


def test_a_person_waits_at_most_30_seconds_on_a_source_a_copy_as_long_as_the_source_allows(org: Any) -> None:
    """Review: interactive reads (test, tables, describe, check) are bounded whatever the source's statement
    timeout, which is meant for copies."""
    from govshare.exchange.sources import INTERACTIVE_SECONDS, spec_for

    source = register_sqlite(org, statement_timeout=7200)
    assert spec_for(source).statement_timeout == INTERACTIVE_SECONDS == 30
    assert spec_for(source, interactive=False).statement_timeout == 7200


# ------------------------------------------------------------------ TLS checked against the department's own CA

def test_a_source_checked_against_the_departments_own_ca_connects_shows_the_ca_and_audits_it(
        org: Any, client_for: Any, request: Any, source_ca: str, pg_source_url: str) -> None:
    """EXC-6/SEC: a department's front-end database whose certificate comes from the department's own CA: the
    administrator pastes the CA's certificate (a browser sends CR LF), the test connects with the certificate and
    the host checked, the source's page and API show what is trusted (subject, validity, fingerprint), the audit
    log names it by fingerprint; without it the same server fails the check, in words."""
    source = server_source(org, request, "postgresql", "xca", tls="verify-full",
                           tls_ca="# 龙南市政务CA\r\n" + source_ca.replace("\n", "\r\n"))
    assert source.tls_ca == source_ca
    specialist = client_for(org.police_specialist)
    body = specialist.post(f"/api/v1/exchange/sources/{source.pk}/test").json()
    assert body["ok"] is True, body
    out = specialist.get(f"/api/v1/exchange/sources/{source.pk}").json()
    (cert,) = out["tls_ca_certificates"]
    assert (cert["subject"], cert["is_ca"], cert["expired"]) == ("CN=govshare test CA", True, False)
    assert out["tls"] == "verify-full" and out["tls_ca"] == source_ca
    registered = AuditEvent.objects.filter(code=AuditCode.SOURCE_REGISTERED, object_id=str(source.pk)).get()
    assert registered.detail["tls_ca"] == [cert["sha256"]]
    page = login(Client(), org.police_specialist).get(f"/exchange/sources/{source.pk}/").content.decode()
    assert 'id="tls-ca"' in page and cert["sha256"] in page and "CN=govshare test CA" in page

    answer = api_json(client_for(org.police_admin), "patch", f"/exchange/sources/{source.pk}", {"tls_ca": ""})
    assert answer.status_code == 200 and answer.json()["tls_ca_certificates"] == []
    changed = AuditEvent.objects.filter(code=AuditCode.SOURCE_CHANGED, object_id=str(source.pk)).get()
    assert changed.changes == {"tls_ca": [[cert["sha256"]], []]}
    body = specialist.post(f"/api/v1/exchange/sources/{source.pk}/test").json()
    assert body["ok"] is False and body["code"] == "source_tls"
    assert "CA" in body["message_zh"] and "CA" in body["message_en"]


@pytest.mark.parametrize(("fields", "code"), [
    ({"tls": "prefer", "tls_ca": "CA"}, "tls_ca_unused"),
    ({"tls": "require", "tls_ca": "CA"}, "tls_ca_unused"),
    ({"tls": "verify-ca"}, "tls_ca_missing"),
    ({"tls": "verify-full", "tls_ca": "CA-AND-KEY"}, "tls_ca_private_key"),
    ({"tls": "verify-full", "tls_ca": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"},
     "tls_ca_not_certificate"),
    ({"tls": "verify-full", "tls_ca": "hello"}, "tls_ca_no_certificate"),
])
def test_ca_certificates_that_cannot_protect_a_source_are_refused_saying_why(
        org: Any, client_for: Any, source_ca: str, fields: dict[str, str], code: str) -> None:
    """SEC (hostile or mistaken input): a CA with a setting that checks nothing, verify-ca without a CA (any public
    CA's certificate would pass), a private key (refused by name, never stored), what is not a certificate."""
    from tests.source_servers import make_ca

    key, _cert, _pem = make_ca()
    from cryptography.hazmat.primitives import serialization

    pasted = {"CA": source_ca, "CA-AND-KEY": source_ca + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()}
    fields = {name: pasted.get(value, value) for name, value in fields.items()}
    answer = api_json(client_for(org.police_admin), "post", "/exchange/sources", server_fields(**fields))
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert [(e["code"], e.get("field")) for e in error.get("errors") or [error]] == [(code, "tls_ca")]
    for problem in error.get("errors") or [error]:  # every parameter filled in, the field named
        assert "%(" not in problem["message"] and not problem["message"].startswith(":"), problem["message"]
    assert not DataSource.objects.filter(code="GA-QZK").exists()
    page = login(Client(), org.police_admin).post("/exchange/", {
        **server_fields(**fields), "connect_timeout": 10, "statement_timeout": 600})
    assert page.status_code == 400 and 'data-field="tls_ca"' in page.content.decode()
    assert "PRIVATE KEY" not in page.content.decode() or code != "tls_ca_private_key"
    # a form refused for another reason (a port out of range) does not show a pasted key back either
    page = login(Client(), org.police_admin).post("/exchange/", {
        **server_fields(**fields), "port": "123456789012", "connect_timeout": 10, "statement_timeout": 600})
    assert page.status_code == 400
    assert "PRIVATE KEY" not in page.content.decode() or code != "tls_ca_private_key"


def test_a_sqlite_source_keeps_no_ca_and_a_change_of_ca_forgets_the_last_test(org: Any, source_ca: str) -> None:
    """EXC-6: a file has no TLS; a new CA is a new connection setting: the last test no longer speaks for it."""
    source = register_sqlite(org, tls="verify-full", tls_ca=source_ca)
    assert source.tls_ca == "" and source.tls == "disable"
    server = do_register_source(org.police_admin, **server_fields(tls="verify-full"))
    server.last_test_ok = True
    server.save(update_fields=["last_test_ok"])
    server = do_change_source(org.police_admin, server, tls_ca=source_ca)
    assert server.last_test_ok is None and [c.subject for c in server.certificates()] == ["CN=govshare test CA"]
