"""``govshare createadmin`` bootstraps the first centre administrator — and only the first."""

from __future__ import annotations

import pytest

from govshare.cli import main
from govshare.core.actions import do_create_department, do_create_jurisdiction
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_id_number, make_uscc
from govshare.core.models import AuditEvent, User
from govshare.core.roles import Role


@pytest.fixture
def centre(db: None) -> None:
    county = do_create_jurisdiction(None, code="360783", name="龙南市", level="county", policy_profile="longnan")
    do_create_department(None, name="龙南市政务和数据服务中心", short_name="中心", uscc=make_uscc("360783", 1),
                         code="CENTRE", kind="centre", jurisdiction=county)


def test_createadmin_creates_a_centre_administrator_from_the_environment(
        centre: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVSHARE_ADMIN_PASSWORD", "Strong-pass-2026!")
    code = main(["createadmin", "--username", "boss", "--real-name", "刘建华", "--department", "CENTRE",
                 "--id-number", make_id_number("360783", "19780312", 11)])
    assert code == 0
    user = User.objects.get(username="boss")
    assert user.has_role(Role.CENTRE_ADMIN) and user.check_password("Strong-pass-2026!")
    assert AuditEvent.objects.filter(code=AuditCode.USER_CREATED, object_id=str(user.pk)).exists()


def test_createadmin_refuses_once_an_administrator_exists(
        centre: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVSHARE_ADMIN_PASSWORD", "Strong-pass-2026!")
    assert main(["createadmin", "--username", "boss", "--real-name", "甲", "--department", "CENTRE"]) == 0
    assert main(["createadmin", "--username", "intruder", "--real-name", "乙", "--department", "CENTRE"]) == 2
    assert "centre administrator" in capsys.readouterr().err
    assert not User.objects.filter(username="intruder").exists()


def test_createadmin_names_an_unknown_centre_and_a_weak_password(
        centre: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVSHARE_ADMIN_PASSWORD", "Strong-pass-2026!")
    assert main(["createadmin", "--username", "boss", "--real-name", "甲", "--department", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err
    monkeypatch.setenv("GOVSHARE_ADMIN_PASSWORD", "123")
    assert main(["createadmin", "--username", "boss", "--real-name", "甲", "--department", "CENTRE"]) == 2
    assert "password" in capsys.readouterr().err
    assert not User.objects.filter(username="boss").exists()


def test_the_operator_manages_auditor_accounts_at_the_console(
        centre: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    from django.utils import timezone

    monkeypatch.setenv("GOVSHARE_AUDITOR_PASSWORD", "Audit-pass-2026!")
    assert main(["auditor", "create", "--username", "aud", "--real-name", "孙丽", "--department", "CENTRE"]) == 0
    auditor = User.objects.get(username="aud")
    assert auditor.role_set() == {Role.AUDITOR} and auditor.check_password("Audit-pass-2026!")
    User.objects.filter(pk=auditor.pk).update(locked_until=timezone.now() + dt.timedelta(minutes=10))
    monkeypatch.setenv("GOVSHARE_AUDITOR_PASSWORD", "Second-pass-2026!")
    assert main(["auditor", "reset-password", "aud"]) == 0
    auditor.refresh_from_db()
    assert auditor.check_password("Second-pass-2026!") and auditor.locked_until is None
    assert main(["auditor", "deactivate", "aud", "--reason", "retired"]) == 0
    auditor.refresh_from_db()
    assert not auditor.is_active
    assert AuditEvent.objects.filter(code=AuditCode.USER_DEACTIVATED, object_id=str(auditor.pk),
                                     actor_id__isnull=True).exists()


def test_the_auditor_command_touches_only_auditor_accounts(
        centre: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVSHARE_ADMIN_PASSWORD", "Strong-pass-2026!")
    assert main(["createadmin", "--username", "boss", "--real-name", "甲", "--department", "CENTRE"]) == 0
    monkeypatch.setenv("GOVSHARE_AUDITOR_PASSWORD", "Audit-pass-2026!")
    assert main(["auditor", "reset-password", "boss"]) == 2
    assert not User.objects.get(username="boss").check_password("Audit-pass-2026!")
