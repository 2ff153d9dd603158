"""Notifications (inbox rows written with the action, e-mail after the commit) and periodic hooks."""

from __future__ import annotations

from typing import Any

from django.core import mail

from govshare.core import periodic
from govshare.core.models import Notification
from govshare.core.notify import bilingual, notify


def test_a_notification_is_an_inbox_row_per_distinct_active_recipient(org: Any) -> None:
    rows = notify([org.police_admin, org.police_admin, org.market_admin], "test.kind", "主题")
    assert len(rows) == 2
    assert Notification.objects.filter(recipient=org.police_admin, kind="test.kind").count() == 1


def test_email_leaves_only_after_the_commit_and_only_when_smtp_is_configured(
        org: Any, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org.police_admin.email = "police@example.org"
    org.police_admin.save()
    settings.EMAIL_HOST = ""
    with django_capture_on_commit_callbacks(execute=True):
        notify([org.police_admin], "test.kind", "无邮件")
    assert mail.outbox == []
    settings.EMAIL_HOST = "smtp.example.org"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notify([org.police_admin], "test.kind", "有邮件", "正文")
        assert mail.outbox == []  # not before the commit
    assert len(callbacks) == 1 and len(mail.outbox) == 1
    assert mail.outbox[0].to == ["police@example.org"]
    assert Notification.objects.get(subject="有邮件").emailed_at is not None


def test_bilingual_renders_chinese_then_english() -> None:
    from django.utils.translation import gettext_lazy as _

    assert bilingual(_("Not found.")).endswith("/ Not found.")


def test_periodic_hooks_run_when_due_and_survive_a_failing_hook() -> None:
    calls: list[str] = []

    @periodic.register("test.ok", every_seconds=3600)
    def ok() -> int:
        calls.append("ok")
        return 1

    @periodic.register("test.boom", every_seconds=3600)
    def boom() -> int:
        raise RuntimeError("boom")

    try:
        results = periodic.run_due(force=True)
        assert results["test.ok"] == 1 and isinstance(results["test.boom"], RuntimeError)
        periodic.run_due()  # interval not over: not run again
        assert calls == ["ok"]
        assert "catalog.apply_due_changes" in periodic.hooks()
    finally:
        periodic._HOOKS.pop("test.ok", None)
        periodic._HOOKS.pop("test.boom", None)
