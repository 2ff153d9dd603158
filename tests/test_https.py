"""HTTPS and sessions (issue 9; SEC-3 access authentication): with GOVSHARE_HTTPS=true every answer carries HSTS, plain HTTP is
redirected, cookies are Secure + HttpOnly + SameSite; GOVSHARE_PROXY_SSL_HEADER trusts a TLS-terminating
proxy's header; ``manage.py check --deploy`` passes with production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD, project_settings

ROOT = Path(__file__).resolve().parent.parent
#: the settings govshare.settings derives from GOVSHARE_HTTPS and GOVSHARE_PROXY_SSL_HEADER
DERIVED = ["SECURE_SSL_REDIRECT", "SECURE_REDIRECT_EXEMPT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
           "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY",
           "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE", "CSRF_TRUSTED_ORIGINS"]


def _project_settings(monkeypatch: Any, tmp_path: Path, **env: str) -> types.ModuleType:
    """govshare/settings.py evaluated afresh under ``env``, without the HTTPS variables of this machine."""
    module: types.ModuleType = project_settings(
        monkeypatch, tmp_path, unset=("GOVSHARE_HTTPS", "GOVSHARE_PROXY_SSL_HEADER", "GOVSHARE_SECURE_COOKIES",
                                      "GOVSHARE_HSTS_SECONDS", "GOVSHARE_HSTS_PRELOAD", "CSRF_TRUSTED_ORIGINS",
                                      "GOVSHARE_PUBLIC_URL"), **env)
    return module


def _apply(settings: Any, module: types.ModuleType) -> None:
    for name in DERIVED:
        setattr(settings, name, getattr(module, name))
    settings.SECURE_PROXY_SSL_HEADER = getattr(module, "SECURE_PROXY_SSL_HEADER", None)


@pytest.fixture
def https_on(settings: Any, monkeypatch: Any, tmp_path: Path) -> types.ModuleType:
    module = _project_settings(monkeypatch, tmp_path, GOVSHARE_HTTPS="true",
                               GOVSHARE_PUBLIC_URL="https://share.example.gov.cn")
    _apply(settings, module)
    return module


def test_with_https_plain_http_is_redirected(org: Any, https_on: Any) -> None:
    response = Client().get("/login/?next=/catalog/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/?next=/catalog/"


def test_with_https_every_answer_carries_hsts_for_a_year_with_subdomains(org: Any, https_on: Any) -> None:
    response = Client().get("/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_the_hsts_max_age_is_configurable(settings: Any, monkeypatch: Any, tmp_path: Path) -> None:
    module = _project_settings(monkeypatch, tmp_path, GOVSHARE_HTTPS="true", GOVSHARE_HSTS_SECONDS="600",
                               GOVSHARE_HSTS_PRELOAD="false")
    _apply(settings, module)
    assert Client().get("/login/", secure=True)["Strict-Transport-Security"] == "max-age=600; includeSubDomains"


def test_the_health_check_answers_over_plain_http_on_the_machine(org: Any, https_on: Any) -> None:
    assert Client().get("/healthz").status_code in (200, 503)


def test_with_https_cookies_are_secure_httponly_and_samesite(org: Any, https_on: Any) -> None:
    client = Client()
    client.get("/login/", secure=True)  # sets the CSRF cookie
    client.post("/login/", {"username": "police_specialist", "password": PASSWORD}, secure=True)
    for name in ("sessionid", "csrftoken"):
        cookie = client.cookies[name]
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax", name


def test_with_https_the_public_url_is_a_trusted_csrf_origin(https_on: Any) -> None:
    assert "https://share.example.gov.cn" in https_on.CSRF_TRUSTED_ORIGINS


def test_without_the_flag_there_is_no_redirect_and_no_hsts(org: Any, settings: Any, monkeypatch: Any,
                                                           tmp_path: Path) -> None:
    _apply(settings, _project_settings(monkeypatch, tmp_path))
    assert Client().get("/login/").status_code == 200
    assert "Strict-Transport-Security" not in Client().get("/login/", secure=True)


def test_behind_a_proxy_its_forwarded_proto_header_counts_as_https(org: Any, settings: Any, monkeypatch: Any,
                                                                    tmp_path: Path) -> None:
    module = _project_settings(monkeypatch, tmp_path, GOVSHARE_HTTPS="true",
                               GOVSHARE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert module.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    _apply(settings, module)
    proxied = Client().get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200 and "Strict-Transport-Security" in proxied
    assert Client().get("/login/", headers={"X-Forwarded-Proto": "http"}).status_code == 301


def _check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS", "GOVSHARE_",
                                                                      "DEBUG", "SECRET_KEY"))}
    base.update({"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "share.example.gov.cn",
                 "GOVSHARE_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    base.update(env)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=base, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_production_settings(tmp_path: Path) -> None:
    result = _check_deploy(tmp_path, GOVSHARE_HTTPS="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_https(settings: Any, monkeypatch: Any, tmp_path: Path) -> None:
    """The control (in this process: a second subprocess costs seconds): production settings without
    HTTPS are refused — no HSTS (W004), no redirect (W008), cookies not Secure (W012, W016)."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    module = _project_settings(monkeypatch, tmp_path, DEBUG="false", ALLOWED_HOSTS="share.example.gov.cn")
    _apply(settings, module)
    settings.DEBUG, settings.SECRET_KEY, settings.ALLOWED_HOSTS = module.DEBUG, module.SECRET_KEY, module.ALLOWED_HOSTS
    with pytest.raises(SystemCheckError) as refused:
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "security")
    for code in ("W004", "W008", "W012", "W016"):
        assert f"security.{code}" in str(refused.value)
