"""Sharing notifications: an inbox row for the right people at every step of the application (SHR-2),
coordination (SHR-3), data-request (SHR-5/6) and error-report (SHR-8) flows; e-mail through a real
SMTP server on 127.0.0.1 when ``EMAIL_HOST`` is set; the optional daily digest per department.

E-mail leaves after the commit (core.notify), so the steps run inside
``django_capture_on_commit_callbacks(execute=True)``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.utils.translation import gettext_lazy as _

from govshare.core.models import Notification, User
from govshare.core.notify import message as notice
from govshare.sharing.actions import (
    do_acknowledge_error,
    do_add_case_note,
    do_answer,
    do_assign_request,
    do_close_request,
    do_decline_request,
    do_first_review,
    do_forward_request,
    do_open_case,
    do_record_upper_answer,
    do_register_for_request,
    do_reopen_answer,
    do_report_error,
    do_resolve_error,
    do_resubmit,
    do_revoke_grant,
    do_set_digest,
    do_settle_case,
    do_submit_request,
    do_subscribe_entry,
    do_withdraw_application,
    do_withdraw_case,
    do_withdraw_error,
    escalate_overdue,
    send_daily_digests,
    send_reminders,
)
from govshare.sharing.models import DigestSetting, Grant
from tests.sharing_helpers import PDF, at

pytestmark = pytest.mark.django_db

CENTRE = {"admin", "reviewer"}  # the centre's administrator and reviewer
POLICE = {"police_admin", "police_specialist"}  # the provider's editors
MARKET = {"market_admin", "market_specialist"}  # the consumer's editors


# ------------------------------------------------------------------ a real SMTP server



def zh(msgid: Any, **params: Any) -> str:
    """A notice in Chinese, the language of recipients who chose none."""
    return notice(msgid, **params).render("zh-hans")

@dataclass
class Mailbox:
    """What the local SMTP server received: (envelope recipients, parsed message) per e-mail."""

    messages: list[tuple[list[str], Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def take(self) -> list[tuple[list[str], Any]]:
        taken, self.messages = self.messages, []
        return taken

    def to(self) -> dict[str, list[str]]:
        """Recipient address → subjects received (and clears the box)."""
        got: dict[str, list[str]] = {}
        for rcpts, message in self.take():
            for rcpt in rcpts:
                got.setdefault(rcpt, []).append(subject_of(message))
        return got


def subject_of(message: Any) -> str:
    """The decoded subject.  Django folds a long non-ASCII subject after "Subject:" (an empty first
    line), which the decoder returns as one leading space; mail clients strip it, so do we."""
    return str(message["subject"]).strip()


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "govshare@longnan.example"
    try:
        yield box
    finally:
        controller.stop()


def address(username: str) -> str:
    return f"{username}@longnan.example"


@pytest.fixture
def mailed(share: Any) -> Any:
    """The test organisation, everyone with an e-mail address."""
    for user in User.objects.all():
        User.objects.filter(pk=user.pk).update(email=address(user.username))
    return share


class Inbox:
    """The inbox rows written since the last look: {kind: {username, …}}."""

    def __init__(self) -> None:
        self.seen = self._last()

    @staticmethod
    def _last() -> int:
        row = Notification.objects.order_by("-id").first()
        return row.pk if row else 0

    def new(self) -> dict[str, set[str]]:
        rows = Notification.objects.filter(pk__gt=self.seen).select_related("recipient")
        got: dict[str, set[str]] = {}
        for row in rows:
            got.setdefault(row.kind, set()).add(row.recipient.username)
        self.seen = self._last()
        return got


# ------------------------------------------------------------------ e-mail of the application steps


def test_each_step_of_an_application_emails_the_people_who_must_act_or_know(
        mailed: Any, smtp: Mailbox, django_capture_on_commit_callbacks: Any) -> None:
    share = mailed
    org = share.org
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            app = share.apply()
        assert smtp.to() == {address(u): [zh(_("Share application %(number)s to review by %(date)s"),
                                                    number=app.number, date="2026-10-08")] for u in CENTRE}
        with django_capture_on_commit_callbacks(execute=True):
            do_first_review(org.reviewer, app, decision="return", comment="请补充加盖公章的申请函。")
        returned = zh(_("Application %(number)s returned for completion"), number=app.number)
        assert smtp.to() == {address(u): [returned] for u in MARKET}
        with django_capture_on_commit_callbacks(execute=True):
            do_resubmit(org.market_specialist, app, letter=("盖章申请函.pdf", PDF))
        assert set(smtp.to()) == {address(u) for u in CENTRE}
    with time_machine.travel(at(2026, 9, 30, 10), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            do_first_review(org.reviewer, app, decision="pass")
        got = smtp.to()
        answer = zh(_("Share application %(number)s to answer by %(date)s"), number=app.number,
                           date="2026-10-13")
        assert {a: s for a, s in got.items() if a != address("market_specialist")} == {
            address(u): [answer] for u in POLICE}
        assert got[address("market_specialist")] == [
            zh(_("Application %(number)s passed the first review"), number=app.number)]
    with time_machine.travel(at(2026, 10, 9, 10), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            do_answer(org.police_specialist, app, decision="approve", items=["姓名"])
        grant = Grant.objects.get(application=app)
        approved = zh(_("Application %(number)s approved: grant %(grant)s"), number=app.number,
                             grant=grant.number)
        assert smtp.to() == {address(u): [approved] for u in MARKET}
    assert all(n.emailed_at is not None for n in Notification.objects.filter(kind__startswith="sharing."))


def test_the_email_is_in_the_recipients_language_with_the_link(
        mailed: Any, smtp: Mailbox, django_capture_on_commit_callbacks: Any) -> None:
    """One language per message: Chinese unless the recipient chose English with the switch."""
    User.objects.filter(username="admin").update(language="en")
    with django_capture_on_commit_callbacks(execute=True):
        app = mailed.apply()
    by_address = {rcpts[0]: message for rcpts, message in smtp.take()}
    chinese, english = by_address[address("reviewer")], by_address[address("admin")]
    subject = _("Share application %(number)s to review by %(date)s")
    params = {"number": app.number, "date": app.deadline.due_date.isoformat()}
    assert subject_of(chinese) == zh(subject, **params) and subject_of(chinese).startswith("共享申请")
    assert "to review by" not in subject_of(chinese)
    assert subject_of(english) == notice(subject, **params).render("en") and "共享" not in subject_of(english)
    note = Notification.objects.get(recipient__username="reviewer", kind="sharing.first_review")
    assert subject_of(chinese) == note.subject  # encoded for SMTP and decoded intact
    body = chinese.get_content()
    assert "龙南市市场监督管理局" in body and "违法犯罪人员信息" in body  # Chinese travels intact
    assert "working day" not in body and "个工作日" in body  # the period in the same language
    assert "个工作日" not in english.get_content() and "working days" in english.get_content()
    assert f"/sharing/applications/{app.pk}/" in body
    assert chinese["from"] == "govshare@longnan.example"


def test_without_email_host_only_the_inbox_is_written(mailed: Any, smtp: Mailbox, settings: Any,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    settings.EMAIL_HOST = ""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        mailed.apply()
    assert smtp.messages == [] and callbacks == []
    assert Notification.objects.filter(kind="sharing.first_review", emailed_at__isnull=True).count() == 2


# ------------------------------------------------------------------ inbox rows, flow by flow


def test_inbox_rows_for_every_step_of_a_conditional_application(share: Any) -> None:
    org = share.org
    inbox = Inbox()
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
        assert inbox.new() == {"sharing.first_review": CENTRE}
        do_first_review(org.reviewer, app, decision="return", comment="材料不全。")
        assert inbox.new() == {"sharing.return": MARKET}
        do_resubmit(org.market_specialist, app)
        assert inbox.new() == {"sharing.first_review": CENTRE}
    with time_machine.travel(at(2026, 9, 30, 9), tick=False):
        assert send_reminders() == 1  # the first review is due on 8 October, the next working day
        assert inbox.new() == {"sharing.reminder": CENTRE}
        do_first_review(org.reviewer, app, decision="pass")
        assert inbox.new() == {"sharing.answer": POLICE, "sharing.passed": {"market_specialist"}}
    with time_machine.travel(at(2026, 10, 12, 9), tick=False):
        assert send_reminders() == 1
        assert inbox.new() == {"sharing.reminder": POLICE}
    with time_machine.travel(at(2026, 10, 14, 9), tick=False):
        assert escalate_overdue() == 1
        assert inbox.new() == {"sharing.overdue": CENTRE | POLICE}
        do_reopen_answer(org.reviewer, app, reason="公安局已说明原因，重新给予答复期限。")
        assert inbox.new() == {"sharing.answer": POLICE}
        do_answer(org.police_admin, app, decision="approve")
        assert inbox.new() == {"sharing.approved": MARKET}
        do_revoke_grant(org.police_admin, Grant.objects.get(application=app), reason="超出用途使用。")
        assert inbox.new() == {"sharing.revoked": MARKET}


def _overdue_tasks(obj: Any) -> dict[bool, set[str]]:
    got: dict[bool, set[str]] = {True: set(), False: set()}
    for note in Notification.objects.filter(kind="sharing.overdue", object_id=str(obj.pk),
                                            object_type=obj._meta.label_lower).select_related("recipient"):
        got[bool(note.task)].add(note.recipient.username)
    return got


def test_an_overdue_notice_is_a_task_only_for_the_party_that_must_act(share: Any) -> None:
    """The centre is told of an overdue answer or correction and follows it; only the provider has
    something to do (a reviewer's inbox does not fill with tasks nobody there can close)."""
    org = share.org
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
        do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
        report = do_report_error(org.market_specialist, entry=share.unconditional, record_keys="1", field="姓名",
                                 description="姓名与身份证不符。")
    with time_machine.travel(at(2026, 9, 30, 9), tick=False):
        do_first_review(org.reviewer, app, decision="pass")
    app.refresh_from_db()
    report.refresh_from_db()
    after = max(app.deadline.due_date, report.deadline.due_date) + dt.timedelta(days=1)
    with time_machine.travel(at(after.year, after.month, after.day, 9), tick=False):
        assert escalate_overdue() == 2
    assert _overdue_tasks(app) == {True: POLICE, False: CENTRE}
    assert _overdue_tasks(report) == {True: POLICE, False: CENTRE}


def test_an_overdue_first_review_is_the_centres_task(share: Any) -> None:
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
    after = app.deadline.due_date + dt.timedelta(days=1)
    with time_machine.travel(at(after.year, after.month, after.day, 9), tick=False):
        assert escalate_overdue() == 1
    assert _overdue_tasks(app) == {True: CENTRE, False: set()}


def test_inbox_rows_for_refusal_rejection_withdrawal_and_unconditional_sharing(share: Any) -> None:
    org = share.org
    inbox = Inbox()
    app = share.apply()
    do_first_review(org.reviewer, app, decision="pass")
    inbox.new()
    do_answer(org.police_specialist, app, decision="refuse", basis="《中华人民共和国保守国家秘密法》", reason="涉密。")
    assert inbox.new() == {"sharing.refused": MARKET}
    rejected = share.apply()
    inbox.new()
    do_first_review(org.reviewer, rejected, decision="reject", comment="用途不符。")
    assert inbox.new() == {"sharing.reject": MARKET}
    at_centre = share.apply()
    inbox.new()
    do_withdraw_application(org.market_admin, at_centre, reason="不再需要。")
    assert inbox.new() == {"sharing.withdrawn": CENTRE}  # whoever had the clock
    at_provider = share.apply()
    do_first_review(org.reviewer, at_provider, decision="pass")
    inbox.new()
    do_withdraw_application(org.market_admin, at_provider)
    assert inbox.new() == {"sharing.withdrawn": POLICE}
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    assert inbox.new() == {"sharing.granted_unconditional": POLICE}


def test_inbox_rows_for_a_coordination_case(share: Any) -> None:
    org = share.org
    inbox = Inbox()
    case = do_open_case(org.market_specialist, entry=share.not_shared, reason="办理登记需要核查。",
                        items=["公民身份号码"], purpose="行政依据")
    assert inbox.new() == {"sharing.case": CENTRE | POLICE}
    do_add_case_note(org.reviewer, case, text="请公安局说明不予共享的依据。")
    assert inbox.new() == {"sharing.case_note": MARKET | POLICE}  # the others hear of it, not the writer's side
    do_add_case_note(org.police_admin, case, text="属于涉密信息。")
    assert inbox.new() == {"sharing.case_note": MARKET | CENTRE}
    do_add_case_note(org.market_admin, case, text="仅需核验结果。")
    assert inbox.new() == {"sharing.case_note": POLICE | CENTRE}
    do_settle_case(org.centre_admin, case, outcome="refuse", reason="依法不予共享。")
    assert inbox.new() == {"sharing.case_settled": MARKET | POLICE}
    other = do_open_case(org.market_specialist, entry=share.not_shared, reason="再次申请协调。",
                         items=["公民身份号码"], purpose="行政依据")
    inbox.new()
    do_withdraw_case(org.market_specialist, other)
    assert inbox.new() == {"sharing.case_withdrawn": CENTRE}


def test_inbox_rows_for_data_requests_local_and_upper_level(share: Any) -> None:
    org = share.org
    inbox = Inbox()
    req = do_submit_request(org.market_specialist, title="外来务工人员居住信息", description="登记核查需要。",
                            purpose="行政依据")
    assert inbox.new() == {"sharing.request": CENTRE}
    do_assign_request(org.reviewer, req, owner=org.police, note="请登记。")
    assert inbox.new() == {"sharing.request_assigned": POLICE | {"market_specialist"}}
    do_decline_request(org.police_specialist, req, reason="本局不掌握。")
    assert inbox.new() == {"sharing.request_declined": {"market_specialist"} | CENTRE}
    do_assign_request(org.reviewer, req, owner=org.police)
    inbox.new()
    entry = share.cat.published(name="外来务工人员居住登记信息")
    inbox.new()
    do_register_for_request(org.police_specialist, req, entry=entry)
    assert inbox.new() == {"sharing.request_registered": {"market_specialist"} | CENTRE}
    closed = do_submit_request(org.market_specialist, title="重复需求", description="同上。", purpose="行政依据")
    inbox.new()
    do_close_request(org.reviewer, closed, reason="与已登记资源重复。")
    assert inbox.new() == {"sharing.request_closed": {"market_specialist"}}
    upper = do_submit_request(org.market_specialist, scope="upper", title="全省企业登记信息", description="跨省核查。",
                              purpose="数据校核", upper_jurisdiction=org.province, upper_resource="江西省市场主体登记信息")
    inbox.new()
    do_forward_request(org.reviewer, upper)
    assert inbox.new() == {"sharing.request_forwarded": {"market_specialist"}}
    do_record_upper_answer(org.reviewer, upper, fulfilled=True, answer="已开通接口。")
    assert inbox.new() == {"sharing.request_answered": {"market_specialist"}}


def test_inbox_rows_for_a_data_error_report(share: Any) -> None:
    org = share.org
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    inbox = Inbox()
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        report = do_report_error(org.market_specialist, entry=share.unconditional, record_keys="3607831990…",
                                 field="姓名", description="姓名有错别字。")
        assert inbox.new() == {"sharing.error_reported": POLICE}
        do_acknowledge_error(org.police_specialist, report)
        assert inbox.new() == {"sharing.error_verifying": {"market_specialist"}}
    with time_machine.travel(at(2026, 10, 12, 9), tick=False):  # due today, 12 October (5 working days)
        assert send_reminders() == 1
        assert inbox.new() == {"sharing.reminder": POLICE}
    with time_machine.travel(at(2026, 10, 14, 9), tick=False):
        assert escalate_overdue() == 1
        assert inbox.new() == {"sharing.overdue": CENTRE | POLICE}
        do_resolve_error(org.police_specialist, report, outcome="corrected", resolution="已更正。")
        assert inbox.new() == {"sharing.error_resolved": {"market_specialist"}}
    again = do_report_error(org.market_admin, entry=share.unconditional, record_keys="x", field="姓名",
                            description="又一处错误。")
    inbox.new()
    do_withdraw_error(org.market_admin, again)
    assert inbox.new() == {"sharing.error_withdrawn": POLICE}  # the provider stops verifying


# ------------------------------------------------------------------ the daily digest


def _waiting_work(share: Any) -> Any:
    """On 29 September: an application the police must answer by 12 October (5 working days).  The
    notifications of setting up the catalog are dated before, so that they are not in the digests."""
    org = share.org
    Notification.objects.update(created_at=at(2026, 9, 1))
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
        do_first_review(org.reviewer, app, decision="pass")
        do_set_digest(org.police_admin, org.police, enabled=True)
        do_set_digest(org.centre_admin, org.centre, enabled=True)
        do_set_digest(org.market_admin, org.market, enabled=False)  # switched off: no digest
    return app


def test_the_digest_goes_once_a_day_from_8_to_each_enabled_department(mailed: Any, smtp: Mailbox) -> None:
    app = _waiting_work(mailed)
    with time_machine.travel(at(2026, 10, 9, 7, 59), tick=False):
        assert send_daily_digests() == 0  # not before 08:00
    assert smtp.messages == []
    with time_machine.travel(at(2026, 10, 9, 8, 0), tick=False):
        assert send_daily_digests() == 1  # the police (the centre has nothing waiting nor notified that day)
        assert send_daily_digests() == 0  # once a day
    with time_machine.travel(at(2026, 10, 9, 17, 0), tick=False):
        assert send_daily_digests() == 0
    [(rcpts, message)] = smtp.take()
    assert sorted(rcpts) == [address(u) for u in sorted(POLICE)]
    subject = str(message["subject"])
    assert "公安局 每日摘要 2026-10-09：1 项待办" in subject and "daily digest" not in subject
    body = message.get_content()
    assert "待答复的共享申请 (1)" in body
    assert f"- {app.number} 龙南市市场监督管理局 · 违法犯罪人员信息 — 2026-10-12 (剩余 2 个工作日)" in body
    assert "working day" not in body and "Share applications" not in body  # one language (issue 8)
    assert DigestSetting.objects.get(department=mailed.org.police).last_sent_on.isoformat() == "2026-10-09"
    with time_machine.travel(at(2026, 10, 10, 8, 30), tick=False):  # the make-up Saturday: the next day
        assert send_daily_digests() == 1
    [(rcpts, message)] = smtp.take()
    assert "剩余 1 个工作日" in message.get_content()
    assert all(address(u) not in rcpts for u in MARKET)


def test_the_centres_digest_lists_first_reviews_and_overdue_answers(mailed: Any, smtp: Mailbox) -> None:
    late = _waiting_work(mailed)
    other = mailed.cat.published(name="违法犯罪嫌疑人信息", share_type="conditional", share_condition="办案协查。",
                                 share_basis="《中华人民共和国刑事诉讼法》", share_methods=["api"])
    Notification.objects.update(created_at=at(2026, 9, 1))
    with time_machine.travel(at(2026, 10, 13, 10), tick=False):
        waiting = mailed.apply(entry=other)  # due 15 October (2 working days)
    with time_machine.travel(at(2026, 10, 14, 9), tick=False):
        assert send_daily_digests() == 2  # the centre and the police
    mails = {tuple(sorted(r)): m for r, m in smtp.take()}
    centre = mails[tuple(sorted(address(u) for u in CENTRE))].get_content()
    assert "待初审的共享申请 (1)" in centre
    assert f"- {waiting.number} " in centre and "2026-10-15 (剩余 1 个工作日)" in centre
    assert "已逾期的共享申请 (1)" in centre
    assert f"- {late.number} 龙南市公安局 · 违法犯罪人员信息 — 2026-10-12 (已逾期 2 个工作日)" in centre


def test_a_reader_who_chose_english_gets_the_digest_in_english(mailed: Any, smtp: Mailbox) -> None:
    app = _waiting_work(mailed)
    User.objects.filter(username="police_admin").update(language="en")
    with time_machine.travel(at(2026, 10, 9, 8, 0), tick=False):
        assert send_daily_digests() == 2  # the police's digest, once per language its readers read
    mails = {tuple(sorted(r)): m for r, m in smtp.take()}
    english, chinese = mails[(address("police_admin"),)], mails[(address("police_specialist"),)]
    assert "daily digest 2026-10-09: 1 to do" in str(english["subject"])
    body = english.get_content()
    assert "Share applications to answer (1)" in body
    assert f"- {app.number} 龙南市市场监督管理局 · 违法犯罪人员信息 — 2026-10-12 (2 working days left)" in body
    assert "待答复" not in body and "工作日" not in body  # the names are data; the words are English
    assert "每日摘要" in str(chinese["subject"]) and "待答复的共享申请 (1)" in chinese.get_content()


def test_no_digest_without_email_host_and_a_failed_send_is_tried_again(
        mailed: Any, smtp: Mailbox, settings: Any) -> None:
    _waiting_work(mailed)
    police = mailed.org.police
    with time_machine.travel(at(2026, 10, 9, 9), tick=False):
        settings.EMAIL_HOST = ""
        assert send_daily_digests() == 0
        assert DigestSetting.objects.get(department=police).last_sent_on is None
        settings.EMAIL_HOST, port = "127.0.0.1", settings.EMAIL_PORT
        settings.EMAIL_PORT = _free_port()  # nobody listens there: the send fails
        assert send_daily_digests() == 0
        assert DigestSetting.objects.get(department=police).last_sent_on is None  # the day is given back
        settings.EMAIL_PORT = port
        assert send_daily_digests() == 1
    assert len(smtp.take()) == 1


def test_when_one_languages_digest_fails_only_that_language_is_tried_again(mailed: Any, smtp: Mailbox) -> None:
    """The police's readers read Chinese and English; the English e-mail cannot be sent (the only
    English reader's address is refused).  The Chinese digest goes out once, not on every run."""
    _waiting_work(mailed)
    User.objects.filter(username="police_admin").update(language="en", email="bad\naddress@longnan.example")
    for minute in (0, 15, 30):
        with time_machine.travel(at(2026, 10, 9, 8, minute), tick=False):
            send_daily_digests()
    assert [sorted(rcpts) for rcpts, _message in smtp.take()] == [[address("police_specialist")]]
    setting = DigestSetting.objects.get(department=mailed.org.police)
    assert setting.last_sent_on is None and setting.delivered == {"2026-10-09": ["zh-hans"]}
    User.objects.filter(username="police_admin").update(email=address("police_admin"))  # the address is fixed
    with time_machine.travel(at(2026, 10, 9, 8, 45), tick=False):
        assert send_daily_digests() == 1  # English only
    assert [sorted(rcpts) for rcpts, _message in smtp.take()] == [[address("police_admin")]]
    setting.refresh_from_db()
    assert setting.last_sent_on.isoformat() == "2026-10-09" and setting.delivered == {}
