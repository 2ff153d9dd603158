"""``govshare sharing …`` at the console: the clocks (SHR-2), the daily digest, the access check
(SHR-4) and a department's grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
import time_machine
from django.core import mail

from govshare.cli import main
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, Notification, User
from govshare.sharing.actions import do_answer, do_first_review, do_revoke_grant, do_set_digest
from govshare.sharing.models import Application, DigestSetting, Grant
from tests.sharing_helpers import at

pytestmark = pytest.mark.django_db


def _approved(share: Any) -> Grant:
    """An approved application of the market department for two items of the police entry, with masking."""
    org = share.org
    app = share.apply()
    do_first_review(org.reviewer, app, decision="pass")
    do_answer(org.police_specialist, app, decision="approve", items=["公民身份号码", "姓名"],
              masking={"公民身份号码": "保留前6位和后4位"})
    return Grant.objects.get(application=app)


def _emails(org: Any) -> None:
    for user in (org.market_admin, org.market_specialist, org.police_admin, org.police_specialist, org.reviewer,
                 org.centre_admin):
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@longnan.example")


def test_sharing_and_its_actions_have_bilingual_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sharing", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for action in ("remind", "escalate", "digest", "check-access", "grants"):
        assert action in text
    with pytest.raises(SystemExit):
        main(["sharing", "check-access", "--help"])
    text = capsys.readouterr().out
    for flag in ("--entry", "--system", "--user", "--purpose", "--items", "--channel"):
        assert flag in text
    assert "用途" in text and "purpose" in text


def test_check_access_needs_exactly_one_of_system_and_user(share: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sharing", "check-access", "--entry", share.conditional.code, "--purpose", "行政依据"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["sharing", "check-access", "--entry", share.conditional.code, "--purpose", "行政依据",
              "--system", "SJ-DJ", "--user", "market_admin"])
    assert "error" in capsys.readouterr().err


# ------------------------------------------------------------------ the clocks

def test_remind_and_escalate_run_the_worker_hooks_once_per_clock(share: Any,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    org = share.org
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
    with time_machine.travel(at(2026, 9, 30, 9), tick=False):
        assert main(["sharing", "remind"]) == 0
        assert "1 reminders sent" in capsys.readouterr().out
        assert Notification.objects.filter(recipient=org.reviewer, kind="sharing.reminder").count() == 1
        assert main(["sharing", "remind"]) == 0
        assert "0 reminders sent" in capsys.readouterr().out
        do_first_review(org.reviewer, app, decision="pass")  # answer due 13 October (5 working days)
    with time_machine.travel(at(2026, 10, 14, 0, 5), tick=False):
        assert main(["sharing", "escalate"]) == 0
        assert "1 overdue items escalated" in capsys.readouterr().out
        assert main(["sharing", "escalate"]) == 0
        assert "0 overdue" in capsys.readouterr().out
    app.refresh_from_db()
    assert app.escalated_at is not None
    event = AuditEvent.objects.get(code=AuditCode.SHARE_ESCALATED)
    assert event.actor_id is None and event.ip == "cli"  # the system acting, from the console


# ------------------------------------------------------------------ the access check

def test_check_access_prints_the_grant_and_masking_and_exits_0_when_allowed(
        share: Any, capsys: pytest.CaptureFixture[str]) -> None:
    grant = _approved(share)
    assert main(["sharing", "check-access", "--entry", share.conditional.code, "--system", "sj-dj",
                 "--purpose", "行政依据", "--items", "公民身份号码,姓名", "--channel", "api"]) == 0
    out = capsys.readouterr().out
    assert "allowed" in out and grant.number in out
    assert "公民身份号码: 保留前6位和后4位" in out


def test_check_access_explains_each_denial_and_exits_3(share: Any, capsys: pytest.CaptureFixture[str]) -> None:
    grant = _approved(share)
    code = share.conditional.code
    assert main(["sharing", "check-access", "--entry", code, "--system", "SJ-DJ", "--purpose", "工作参考",
                 "--items", "公民身份号码，出生日期"]) == 3
    out = capsys.readouterr().out
    assert "denied" in out
    assert "[wrong_purpose]" in out and "[items_not_granted]" in out and "出生日期" in out
    # the grant is bound to the market department's system: a person of the department is not that system
    assert main(["sharing", "check-access", "--entry", code, "--user", "market_specialist", "--purpose",
                 "行政依据", "--items", "姓名"]) == 3
    assert "[wrong_system]" in capsys.readouterr().out
    # a department without a grant is told to apply; the provider's own system reads its own data
    assert main(["sharing", "check-access", "--entry", code, "--user", "reviewer", "--purpose", "行政依据"]) == 3
    assert "[no_grant]" in capsys.readouterr().out
    assert main(["sharing", "check-access", "--entry", code, "--system", "GA-JW", "--purpose", "行政依据"]) == 0
    assert "own data" in capsys.readouterr().out
    do_revoke_grant(share.org.police_admin, grant, reason="超出用途使用。")
    assert main(["sharing", "check-access", "--entry", code, "--system", "SJ-DJ", "--purpose", "行政依据",
                 "--items", "姓名", "--json"]) == 3
    body = json.loads(capsys.readouterr().out)
    assert body["allowed"] is False and [r["code"] for r in body["reasons"]] == ["grant_revoked"]
    # the console explains; only the delivery channels record their denials
    assert not AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED).exists()


def test_check_access_with_an_unknown_entry_system_or_user_is_an_error(
        share: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sharing", "check-access", "--entry", "999/000001", "--system", "SJ-DJ",
                 "--purpose", "行政依据"]) == 2
    assert "999/000001" in capsys.readouterr().err
    assert main(["sharing", "check-access", "--entry", share.conditional.code, "--system", "NOPE",
                 "--purpose", "行政依据"]) == 2
    assert "NOPE" in capsys.readouterr().err
    assert main(["sharing", "check-access", "--entry", share.conditional.code, "--user", "nobody",
                 "--purpose", "行政依据"]) == 2
    assert "nobody" in capsys.readouterr().err


# ------------------------------------------------------------------ grants

def test_grants_lists_what_a_department_holds_or_gives(share: Any, capsys: pytest.CaptureFixture[str]) -> None:
    grant = _approved(share)
    assert main(["sharing", "grants", "--department", "SJ"]) == 0
    out = capsys.readouterr().out
    assert grant.number in out and "active" in out and share.conditional.code in out
    assert main(["sharing", "grants", "--department", "GA"]) == 0
    assert grant.number not in capsys.readouterr().out  # the police hold no grant
    assert main(["sharing", "grants", "--department", "GA", "--given", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in rows] == [grant.number]
    assert rows[0]["consumer"] == "SJ" and rows[0]["items"] == ["公民身份号码", "姓名"]
    do_revoke_grant(share.org.police_admin, grant, reason="超出用途使用。")
    assert main(["sharing", "grants", "--department", "SJ", "--active"]) == 0
    assert grant.number not in capsys.readouterr().out
    assert main(["sharing", "grants", "--department", "SJ"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["sharing", "grants", "--department", "XX"]) == 2


# ------------------------------------------------------------------ the digest

def test_digest_dry_run_prints_the_digests_and_sends_and_marks_nothing(
        share: Any, settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    org = share.org
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMAIL_HOST = "smtp.example.org"
    _emails(org)
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
        do_first_review(org.reviewer, app, decision="pass")  # the police answer by 12 October
        do_set_digest(org.police_admin, org.police, enabled=True)
    with time_machine.travel(at(2026, 10, 9, 9), tick=False):
        assert main(["sharing", "digest", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert app.number in out and "2026-10-12" in out
        assert "剩余 2 个工作日" in out  # Sat 10 (make-up day), Mon 12; in the readers' language (Chinese)
        assert "police_admin@longnan.example" in out and "1 份摘要 (未发送) / digests (not sent)" in out
        assert mail.outbox == []
        assert DigestSetting.objects.get(department=org.police).last_sent_on is None
        # another day, and a department whose digest is off (previewed on request)
        assert main(["sharing", "digest", "--dry-run", "--date", "2026-10-12"]) == 0
        assert "今天到期" in capsys.readouterr().out
        assert main(["sharing", "digest", "--dry-run", "--department", "SJ"]) == 0
        out = capsys.readouterr().out
        assert app.number in out and "market_specialist@longnan.example" in out
        assert main(["sharing", "digest", "--date", "2026-10-13"]) == 2  # --date only previews
        assert main(["sharing", "digest", "--dry-run", "--date", "13/10/2026"]) == 2


def test_digest_sends_once_a_day_and_only_with_smtp(share: Any, settings: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    org = share.org
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _emails(org)
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        share.apply()
        do_set_digest(org.market_admin, org.market, enabled=True)
    settings.EMAIL_HOST = ""
    with time_machine.travel(at(2026, 9, 30, 9), tick=False):
        assert main(["sharing", "digest"]) == 0
        assert "EMAIL_HOST" in capsys.readouterr().out and mail.outbox == []
        settings.EMAIL_HOST = "smtp.example.org"
        assert main(["sharing", "digest"]) == 0
        assert "1 daily digests sent" in capsys.readouterr().out
        assert main(["sharing", "digest"]) == 0
        assert "0 daily digests sent" in capsys.readouterr().out
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["market_admin@longnan.example", "market_specialist@longnan.example"]
    assert Application.objects.get().number in mail.outbox[0].body
