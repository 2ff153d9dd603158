"""The key the data was written with (SEC-5, SEC-4): a missing or different key is refused with a
clear message, and no audit row is ever signed with it.

Before issue 9 a data dir without its ``secret_key`` file made govshare generate a new key silently;
``audit verify`` then reported every row as tampered and wrote its own row with the wrong key, so the
chain stayed broken after the right key came back.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from govshare.core import audit, keys
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, KeyFingerprint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _check_keys_again() -> Iterator[None]:
    keys.forget_checks()
    yield
    keys.forget_checks()


def _write_row() -> AuditEvent:
    with transaction.atomic():
        return audit.record(AuditCode.AUDIT_VIEWED, actor=None, detail={"test": "keys"})


@pytest.mark.django_db
def test_the_database_keeps_a_fingerprint_of_the_key_never_the_key(settings: Any) -> None:
    keys.require_key()
    stored = KeyFingerprint.objects.get(pk=1).fingerprint
    assert stored == keys.fingerprint() and len(stored) == 64
    assert settings.GOVSHARE_FIELD_KEY not in stored
    assert keys.fingerprint("another key") != stored


@pytest.mark.django_db
def test_a_different_key_is_refused_and_no_audit_row_is_signed_with_it(settings: Any) -> None:
    _write_row()
    before = AuditEvent.objects.count()
    settings.GOVSHARE_FIELD_KEY = "a different key"
    with pytest.raises(keys.KeyRefused, match="密钥不符.*The key differs from the one this database was written with"):
        _write_row()
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_the_access_log_signs_nothing_with_a_different_key_either(settings: Any) -> None:
    from govshare.core import access_log
    from govshare.core.models import AccessEvent

    keys.require_key()
    before = AccessEvent.objects.count()
    settings.GOVSHARE_FIELD_KEY = "a different key"
    with pytest.raises(keys.KeyRefused):
        access_log.write([])
    assert AccessEvent.objects.count() == before


@pytest.mark.django_db
def test_a_database_unreachable_at_the_check_is_checked_again_at_the_first_write(
        settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`govshare serve` started before PostgreSQL accepts connections: the check at start cannot read
    the fingerprint, and must not count as passed (the rows would be signed with a wrong key)."""
    from django.db import DatabaseError, OperationalError, connection

    keys.require_key()  # the right key's fingerprint is stored
    keys.forget_checks()
    settings.GOVSHARE_FIELD_KEY = "a different key"

    def down(*args: Any, **kwargs: Any) -> list[str]:
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(connection.introspection, "table_names", down)
        with pytest.raises(DatabaseError):
            keys.require_key()
    before = AuditEvent.objects.count()
    with pytest.raises(keys.KeyRefused):
        _write_row()
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_without_a_stored_fingerprint_the_newest_audit_row_decides(settings: Any) -> None:
    """A database written before the fingerprint existed: the key must verify its newest audit row."""
    _write_row()
    KeyFingerprint.objects.all().delete()
    right = settings.GOVSHARE_FIELD_KEY
    settings.GOVSHARE_FIELD_KEY = "a different key"
    keys.forget_checks()
    assert "does not verify under this key" in keys.problem(record=True)
    assert not KeyFingerprint.objects.exists()  # nothing recorded for a key that does not fit
    settings.GOVSHARE_FIELD_KEY = right
    keys.forget_checks()
    keys.require_key()
    assert KeyFingerprint.objects.get(pk=1).fingerprint == keys.fingerprint(right)


@pytest.mark.django_db
def test_manage_py_check_reports_a_wrong_key_as_an_error(settings: Any) -> None:
    keys.require_key()
    assert keys.system_check() == []
    settings.GOVSHARE_FIELD_KEY = "a different key"
    errors = keys.system_check()
    assert [e.id for e in errors] == ["govshare.E901"]
    assert "GOVSHARE_FIELD_KEY" in errors[0].msg


# ------------------------------------------------------------------ a real instance, real processes


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govshare.cli", *argv], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _audit_rows(env: dict[str, str]) -> int:
    con = sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"))
    try:
        return int(con.execute("SELECT COUNT(*) FROM core_auditevent").fetchone()[0])
    finally:
        con.close()


def _stored_fingerprint(env: dict[str, str]) -> str:
    con = sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"))
    try:
        return str(con.execute("SELECT fingerprint FROM core_keyfingerprint WHERE id = 1").fetchone()[0])
    finally:
        con.close()


def test_a_lost_secret_key_file_stops_every_command_until_the_key_is_back(demo_site: dict[str, str]) -> None:
    env = {k: v for k, v in demo_site.items() if k not in ("SECRET_KEY", "GOVSHARE_FIELD_KEY")}
    key_file = Path(env["GOVSHARE_DATA_DIR"]) / "secret_key"
    original = key_file.read_text()
    rows = _audit_rows(env)
    key_file.unlink()

    verify = _run(env, "audit", "verify")
    assert verify.returncode == 2
    assert "密钥缺失" in verify.stderr and "has no secret_key file" in verify.stderr
    assert "govshare restore FILE --keys-only" in verify.stderr
    serve = _run(env, "serve", "--port", "1")  # refused before gunicorn starts
    assert serve.returncode == 2 and "The key is missing" in serve.stderr
    assert _audit_rows(env) == rows  # no row written with the generated key
    assert not key_file.exists()  # the generated key was not kept

    key_file.write_text(original)  # the right key back: the chain was never signed with another (tests/test_backup.py
    # restores a lost key from a backup and verifies the chain)
    assert keys.fingerprint(original.strip()) == _stored_fingerprint(env)


def test_a_different_secret_key_is_refused(demo_site: dict[str, str]) -> None:
    env = {**demo_site, "SECRET_KEY": "not-the-key-this-site-was-written-with"}
    env.pop("GOVSHARE_FIELD_KEY", None)
    rows = _audit_rows(env)
    result = _run(env, "audit", "purge", "--dry-run")
    assert result.returncode == 2
    assert "The key differs from the one this database was written with" in result.stderr
    # gunicorn started on the WSGI application directly (not through `govshare serve`) cannot boot
    # with it either: loading the application checks the key, as gunicorn's workers do
    wsgi = subprocess.run([sys.executable, "-c", "import govshare.wsgi"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert wsgi.returncode != 0 and "KeyRefused" in wsgi.stderr
    assert "The key differs from the one this database was written with" in wsgi.stderr
    assert _audit_rows(env) == rows
