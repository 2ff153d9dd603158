"""Platform shell (issue 2 §1, §2, §9): configuration, console command, health, CSP, no CDN, i18n."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from govshare.cli import build_parser, main
from govshare.config import Config, ConfigError
from tests.conftest import DemoData, Org, project_settings

ROOT = Path(__file__).resolve().parent.parent


def test_debug_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEBUG", raising=False)
    assert Config.from_env().debug is False
    monkeypatch.setenv("DEBUG", "true")
    assert Config.from_env().debug is True


def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ConfigError, match="DEBUG='maybe'"):
        Config.from_env()


def test_database_and_data_dir_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    config = Config.from_env()
    assert config.database_url == f"sqlite:///{tmp_path / 'govshare.sqlite3'}"
    assert config.secret_key == (tmp_path / "secret_key").read_text()  # generated once, kept out of the repo
    assert Config.from_env().secret_key == config.secret_key
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/govshare")
    assert Config.from_env().database_url == "postgresql://u@db/govshare"


#: one process of the key race: imports the config, says it is ready, waits for the start signal
#: (a file), then asks for the data dir's key; "no-links" plays a file system without hard links
_KEY_RACER = """
import errno, json, os, sys, time
from pathlib import Path
if sys.argv[3] == "no-links":
    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")
    os.link = no_link
from govshare.config import _local_secret
go, data_dir = Path(sys.argv[1]), Path(sys.argv[2])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.001)
print(json.dumps(_local_secret(data_dir)))
"""


@pytest.mark.parametrize("links", ["links", "no-links"])
def test_processes_starting_together_on_a_new_data_dir_share_one_key(tmp_path: Path, links: str) -> None:
    """SEC-5: `govshare serve` and `govshare worker` on a first boot (and the worker test's three
    processes): none may run with a key of its own, or with the empty key of a file read before its
    content."""
    (tmp_path / "start").mkdir()
    go, data_dir = tmp_path / "start" / "go", tmp_path / "data"
    procs = [subprocess.Popen([sys.executable, "-c", _KEY_RACER, str(go), str(data_dir), links], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
    try:
        deadline = time.monotonic() + 60
        while len(list((tmp_path / "start").glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
            assert all(proc.poll() is None for proc in procs), [proc.communicate() for proc in procs]
            time.sleep(0.01)
        go.touch()
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert [proc.returncode for proc in procs] == [0] * 8, [err.decode() for _out, err in outputs]
    results = [json.loads(out) for out, _err in outputs]
    stored = (data_dir / "secret_key").read_text()
    assert len(stored) > 40 and {key for key, _generated in results} == {stored}
    assert sum(generated for _key, generated in results) == 1
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]  # no half-written leftovers


def test_an_empty_key_file_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import govshare.config

    monkeypatch.setattr(govshare.config, "KEY_FILE_WAIT", 0.2)  # no other process is writing it
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'secret_key'} is empty"):
        Config.from_env()
    (tmp_path / "secret_key").write_text("the-original-key")
    (tmp_path / "field_key").write_text("")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'field_key'} is empty"):
        Config.from_env()


def test_a_data_dir_where_no_key_can_be_written_or_read_is_named(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    import govshare.config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "a-file" / "data"))
    with pytest.raises(ConfigError, match="cannot read .*secret_key"):
        Config.from_env()

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")  # a read-only mount (as root, chmod would not stop us)

    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "data"))
    with monkeypatch.context() as patch:
        patch.setattr(govshare.config, "_write_new", refused)
        with pytest.raises(ConfigError, match="cannot create .*secret_key.*Permission denied.*set SECRET_KEY"):
            Config.from_env()
    assert [p.name for p in (tmp_path / "data").iterdir()] == []

    (tmp_path / "data" / "secret_key").symlink_to(tmp_path / "gone")
    with pytest.raises(ConfigError, match="is a link to nothing"):
        Config.from_env()
    (tmp_path / "data" / "secret_key").unlink()
    (tmp_path / "data" / "field_key").mkdir()
    with pytest.raises(ConfigError, match="cannot read .*field_key"):
        Config.from_env()


def test_a_key_file_left_half_made_by_a_killed_process_is_removed_at_the_next_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    old, young = tmp_path / "secret_key.111.aaaa.part", tmp_path / "secret_key.222.bbbb.part"
    old.write_text("a key that was never used")
    young.write_text("another process, at work")
    os.utime(old, (time.time() - 600, time.time() - 600))
    Config.from_env()  # creates the key
    Config.from_env()  # reads it, and tidies up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key", young.name]


def test_every_console_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[attr-defined]
    assert {"demo", "serve", "worker", "migrate", "createadmin", "workdays", "policy", "audit"} <= names
    for name in names:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.strip()


def test_an_unknown_argument_gets_a_bilingual_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "eighty"])
    assert exit_info.value.code == 2
    assert "参数错误 / error" in capsys.readouterr().err


def test_demo_without_serving_prepares_data_and_prints_every_role(
        capsys: pytest.CaptureFixture[str], demo_data: DemoData) -> None:
    # the demo is loaded once per test run (tests/conftest.py); here the command finds it in place
    assert main(["demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    for username in ("centre_admin", "centre_reviewer", "police_admin", "market_admin", "police_specialist",
                     "auditor", "citizen"):
        assert username in out
    assert main(["demo", "--no-serve"]) == 0  # idempotent


def test_demo_logins_work(demo_data: DemoData, client: Client) -> None:
    from govshare.core.demo import DEMO_PASSWORD

    response = client.post("/login/", {"username": "auditor", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_healthz_reports_database_queue_and_data_dir(db: None, client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["queue"]["ok"] and body["checks"]["data_dir"]["ok"]


def test_the_data_dir_check_holds_when_many_processes_probe_at_once(tmp_path: Path) -> None:
    """Two server processes answering /healthz at once used to share one probe file: one removed the
    other's, which then answered 503 with FileNotFoundError."""
    from govshare.core.views import data_dir_check

    def probe_many(_: int) -> list[dict[str, Any]]:
        return [data_dir_check(tmp_path) for _ in range(200)]

    with ThreadPoolExecutor(8) as pool:
        results = [result for batch in pool.map(probe_many, range(8)) for result in batch]
    assert [r for r in results if not r["ok"]] == []
    assert list(tmp_path.iterdir()) == []  # no probe left behind
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        assert data_dir_check(tmp_path / "ro") == {"ok": False, "error": "PermissionError"}
    assert data_dir_check(tmp_path / "missing") == {"ok": False, "error": "FileNotFoundError"}


def test_pages_send_a_content_security_policy_and_load_nothing_from_outside(org: Org, client: Client) -> None:
    client.force_login(org.centre_admin)
    response = client.get("/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "no CDN or external asset"


def test_templates_reference_no_external_assets() -> None:
    pattern = re.compile(r"(src|href)=[\"'](https?:)?//")
    offenders = [str(p) for p in (ROOT / "govshare").rglob("*.html") if pattern.search(p.read_text())]
    assert offenders == []


def test_the_interface_speaks_chinese_first_and_english_on_request(org: Org, client: Client) -> None:
    response = client.get("/login/")
    assert "登录" in response.content.decode()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"}, follow=True)
    assert "Log in" in response.content.decode()


def test_openapi_is_served_as_openapi_3_1(db: None, client: Client) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/me" in spec["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_the_api_requires_authentication_with_a_bilingual_error(db: None, client: Client) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message_zh"] and error["message_en"]


def test_every_request_gets_a_request_id(db: None, client: Client) -> None:
    from django.test import override_settings

    with override_settings(GOVSHARE_TRUSTED_PROXIES=["127.0.0.1"]):  # only a trusted proxy's id is kept (SEC-4)
        response = client.get("/healthz", HTTP_X_REQUEST_ID="abcdef12-3456")
    assert response["X-Request-ID"] == "abcdef12-3456"
    assert len(client.get("/healthz")["X-Request-ID"]) == 36


def test_every_message_in_the_catalogue_has_a_chinese_translation() -> None:
    import polib

    po = polib.pofile(str(ROOT / "govshare/locale/zh_Hans/LC_MESSAGES/django.po"))
    untranslated = [e.msgid for e in po if not e.translated()]
    assert untranslated == []


def test_the_chinese_interface_calls_each_thing_by_one_name() -> None:
    """A consuming system is 使用系统 and a start date 起始日期 everywhere; a grant is 撤销 (withdrawn) while a key or
    token is 吊销 (its credential cancelled) — the grant pages once showed a revoked grant as 已吊销 (QA walk-through
    of the 21st session)."""
    import polib
    from django.utils.translation import gettext, override, pgettext

    po = polib.pofile(str(ROOT / "govshare/locale/zh_Hans/LC_MESSAGES/django.po"))
    texts = [entry.msgstr for entry in po if entry.msgstr]
    assert not [t for t in texts if "应用系统" in t or "开始日期" in t]
    with override("zh-hans"):
        assert (pgettext("grant", "revoked"), gettext("revoked")) == ("已撤销", "已吊销")
    grants = [e for e in po if "grant" in e.msgid.lower() and "revok" in e.msgid.lower() and e.msgstr]
    assert grants and not [e.msgid for e in grants if "吊销" in e.msgstr]


def test_the_interactive_api_docs_load_only_local_assets(db: None, client: Client) -> None:
    response = client.get("/api/v1/docs")
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_a_browser_asking_for_english_still_gets_chinese_until_the_user_switches(db: None, client: Client) -> None:
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "登录" in response.content.decode()
    client.cookies["django_language"] = "en"
    assert "Log in" in client.get("/login/").content.decode()


def test_healthz_reports_a_stuck_queue_and_whether_a_worker_is_alive(db: None, client: Client) -> None:
    import datetime as dt

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from govshare.core import jobs

    assert client.get("/healthz").json()["checks"]["queue"]["worker_alive"] is False
    jobs.beat("w-test", "host", 1)
    assert client.get("/healthz").json()["checks"]["queue"]["worker_alive"] is True
    from govshare.core.tasks import run_job

    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        result = run_job.using(backend="default").enqueue("00000000-0000-0000-0000-000000000000")
    DBTaskResult.objects.filter(pk=result.id).update(enqueued_at=timezone.now() - dt.timedelta(hours=1))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["queue"]["ok"] is False


def test_on_postgresql_queries_use_server_side_parameters_and_prepared_statements_unless_turned_off(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOVSHARE_PG_PREPARED_STATEMENTS", raising=False)
    options = project_settings(monkeypatch, tmp_path, DATABASE_URL="postgresql://u@db/govshare").DATABASES[
        "default"]["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5
    assert project_settings(monkeypatch, tmp_path, DATABASE_URL="postgresql://u@db/govshare").DATABASES[
        "default"]["ENGINE"] == "govshare.core.db.postgresql"  # binds too long a statement on the client
    off = project_settings(monkeypatch, tmp_path, DATABASE_URL="postgresql://u@db/govshare",
                          GOVSHARE_PG_PREPARED_STATEMENTS="false").DATABASES["default"]
    assert "server_side_binding" not in off.get("OPTIONS", {})  # behind a transaction-mode pooler
    assert off["ENGINE"] == "django.db.backends.postgresql"
    sqlite = project_settings(monkeypatch, tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert "server_side_binding" not in sqlite.DATABASES["default"]["OPTIONS"]


@pytest.mark.django_db
def test_on_postgresql_a_query_repeated_on_a_connection_is_prepared_once(org: Org) -> None:
    from django.db import connection

    from govshare.core.models import Department

    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("server_side_binding"):
        pytest.skip("PostgreSQL with prepared statements only (the PostgreSQL pass of make test)")
    for _ in range(6):
        list(Department.objects.filter(code="zz-none"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('"core_department"' in sql and "code" in sql for sql in prepared), prepared


@pytest.mark.django_db
def test_on_postgresql_a_statement_with_more_parameters_than_the_server_binds_still_runs(org: Org) -> None:
    """Server-side binding allows 65 535 parameters: a longer ``pk__in`` list (re-indexing a renamed
    department's entries, a cascade) runs on a client-side-binding cursor instead, plain or streamed."""
    from django.db import connection

    from govshare.core.db.postgresql.base import MAX_SERVER_PARAMETERS
    from govshare.core.models import Department

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (the PostgreSQL pass of make test)")
    ids = [org.police.pk, *range(10**9, 10**9 + MAX_SERVER_PARAMETERS + 10)]
    assert list(Department.objects.filter(pk__in=ids).values_list("pk", flat=True)) == [org.police.pk]
    assert [d.pk for d in Department.objects.filter(pk__in=ids).iterator(chunk_size=10)] == [org.police.pk]
    assert Department.objects.filter(pk__in=ids[1:]).update(name="x") == 0
    assert Department.objects.filter(pk__in=ids[:3]).count() == 1  # the next statements bind on the server again
