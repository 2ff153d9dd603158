"""One definition of every rule (issue 8): the work queues, "usable grant" and "working days left" are
defined once (querysets and the core clock mixin) and the API, the screens, the CLI and the digest
list the same objects and count the same days; reminders and escalations of every clocked kind are
audited (SHR-2, SHR-3, SHR-4, SHR-8, CAT-5, SEC-4).

Dates (龙南 profile: first review 2 working days, provider answer 5, coordination settlement and error
correction from the profile): applied Tue 1 Dec 2026 → first review due Thu 3 Dec; passed the same
day → answer due Tue 8 Dec.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse

from govshare.catalog.actions import do_open_update_task, notify_overdue
from govshare.catalog.models import UpdateTask
from govshare.core import audit
from govshare.core.actions import do_create_token
from govshare.core.audit_codes import AuditCode
from govshare.core.clock import Clocks, working_days_left
from govshare.core.errors import NotFound
from govshare.core.models import AuditEvent
from govshare.sharing.actions import (
    do_first_review,
    do_open_case,
    do_report_error,
    do_revoke_grant,
    do_set_digest,
    do_subscribe_entry,
    escalate_overdue,
    send_reminders,
)
from govshare.sharing.digest import compose
from govshare.sharing.models import Application, CoordinationCase, DigestSetting, ErrorReport, Grant
from tests.conftest import API, crash_client
from tests.sharing_helpers import at

pytestmark = pytest.mark.django_db

SHARING = API + "/sharing"


def travel(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def api_ids(user: Any, path: str, **params: Any) -> list[int]:
    response = crash_client(user).get(SHARING + path, {"per_page": 100, **params})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["items"]]


def web_ids(user: Any, url_name: str, key: str, **params: Any) -> list[int]:
    response = crash_client(user).get(reverse(url_name), params)
    assert response.status_code == 200, response.content
    return [row.pk for row in response.context[key]]


@pytest.fixture
def busy(share: Any) -> Any:
    """Two applications waiting for the provider, one for the first review, a case and an error report,
    all filed on Tue 1 Dec 2026."""
    org, cat = share.org, share.cat
    second = cat.published(name="机动车驾驶人信息", share_type="conditional", share_condition="需公函。",
                           share_basis="《道路交通安全法》", share_methods=["api"])
    third = cat.published(name="出入境证件信息", share_type="conditional", share_condition="需公函。",
                          share_basis="《出境入境管理法》", share_methods=["api"])
    with travel(at(2026, 12, 1, 10)):
        share.answering = [do_first_review(org.reviewer, share.apply(), decision="pass"),
                           do_first_review(org.reviewer, share.apply(entry=second), decision="pass")]
        share.reviewing = share.apply(entry=third)
        do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
        share.report = do_report_error(org.market_specialist, entry=share.unconditional, record_keys="360783199001010011",
                                       field="姓名", description="姓名与户籍登记不一致。")
        share.case = do_open_case(org.market_specialist, entry=share.not_shared, reason="追逃协查需要。", items=["姓名"],
                                  purpose="业务协同")
    return share


# ------------------------------------------------------------------ API and screens list the same objects

def test_the_provider_sees_the_same_applications_to_answer_in_the_api_and_on_the_screen(busy: Any) -> None:
    org = busy.org
    with travel(at(2026, 12, 2, 10)):
        expected = [a.pk for a in busy.answering]
        assert api_ids(org.police_specialist, "/applications", box="to_answer") == expected
        assert web_ids(org.police_specialist, "sharing:to_answer", "rows") == expected
        assert list(Application.objects.to_answer_by(org.police_specialist).values_list("pk", flat=True)) == expected
        assert api_ids(org.market_specialist, "/applications", box="to_answer") == []
        assert web_ids(org.market_specialist, "sharing:to_answer", "rows") == []


def test_the_centre_sees_the_same_first_review_queue_in_the_api_and_on_the_screen(busy: Any) -> None:
    with travel(at(2026, 12, 2, 10)):
        assert api_ids(busy.org.reviewer, "/applications", box="review") == [busy.reviewing.pk]
        assert web_ids(busy.org.reviewer, "sharing:review_queue", "rows") == [busy.reviewing.pk]


def test_the_overdue_lists_of_the_api_the_screen_and_the_digest_hold_the_same_objects(busy: Any) -> None:
    org = busy.org
    with travel(at(2026, 12, 4, 10)):  # the first review was due on Thu 3 Dec; the answers are not late yet
        assert api_ids(org.reviewer, "/applications", box="overdue") == [busy.reviewing.pk]
        assert web_ids(org.reviewer, "sharing:overdue", "apps") == [busy.reviewing.pk]
        assert api_ids(org.reviewer, "/cases", box="overdue") == web_ids(org.reviewer, "sharing:overdue", "cases")
        assert api_ids(org.reviewer, "/errors", box="overdue") == web_ids(org.reviewer, "sharing:overdue", "reports")
        digest = compose(org.centre, at(2026, 12, 4, 10), at(2026, 12, 3, 10))
        assert digest is not None and busy.reviewing.number in digest.body.split("已逾期的共享申请")[1]
    with travel(at(2027, 3, 1, 10)):  # everything has run out by now
        late = {busy.reviewing.pk, *(a.pk for a in busy.answering)}
        assert set(api_ids(org.reviewer, "/applications", box="overdue")) == late
        assert set(web_ids(org.reviewer, "sharing:overdue", "apps")) == late
        assert api_ids(org.reviewer, "/cases", box="overdue") == [busy.case.pk]
        assert web_ids(org.reviewer, "sharing:overdue", "cases") == [busy.case.pk]
        assert api_ids(org.reviewer, "/errors", box="overdue") == [busy.report.pk]
        assert web_ids(org.reviewer, "sharing:overdue", "reports") == [busy.report.pk]
        refused = crash_client(org.police_specialist).get(SHARING + "/errors", {"box": "overdue"})
        assert refused.status_code == 403  # the centre's list only


def test_the_provider_sees_the_same_error_reports_to_verify_in_the_api_and_on_the_screen(busy: Any) -> None:
    org = busy.org
    with travel(at(2026, 12, 2, 10)):
        assert api_ids(org.police_specialist, "/errors", box="to_answer") == [busy.report.pk]
        assert web_ids(org.police_specialist, "sharing:errors", "to_verify") == [busy.report.pk]
        assert api_ids(org.market_specialist, "/errors", box="mine") == [busy.report.pk]
        assert web_ids(org.market_specialist, "sharing:errors", "ours") == [busy.report.pk]
        assert web_ids(org.market_specialist, "sharing:errors", "to_verify") == []


def test_the_consumer_sees_the_same_applications_and_grants_in_the_api_and_on_the_screen(busy: Any) -> None:
    org = busy.org
    with travel(at(2026, 12, 2, 10)):
        mine = api_ids(org.market_admin, "/applications", box="mine")
        assert len(mine) == 4 and web_ids(org.market_admin, "sharing:my_applications", "rows") == mine
        grants = api_ids(org.market_admin, "/grants", box="mine")
        assert len(grants) == 1 and web_ids(org.market_admin, "sharing:my_grants", "rows") == grants


# ------------------------------------------------------------------ usable grant, working days left

def test_a_usable_grant_is_the_same_in_the_queryset_the_model_and_the_api(share: Any) -> None:
    org = share.org
    with travel(at(2026, 12, 1, 10)):
        held = do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
        revoked_entry = share.cat.published(name="常住人口信息")
        revoked = do_subscribe_entry(org.market_specialist, revoked_entry, purpose="工作参考")
        do_revoke_grant(org.police_admin, revoked, reason="停止共享。")
        expiring_entry = share.cat.published(name="暂住人口信息")
        expiring = do_subscribe_entry(org.market_specialist, expiring_entry, purpose="工作参考",
                                      period_end=dt.date(2026, 12, 10))
    for day in (dt.date(2026, 12, 1), dt.date(2026, 12, 10), dt.date(2026, 12, 11)):
        usable = set(Grant.objects.usable(on=day).values_list("pk", flat=True))
        assert usable == {g.pk for g in Grant.objects.all() if g.is_usable(day)}
        assert usable == {g.pk for g in Grant.objects.all() if g.state(day) == "active"}
    assert set(Grant.objects.usable(on=dt.date(2026, 12, 10)).values_list("pk", flat=True)) == {held.pk, expiring.pk}
    assert set(Grant.objects.usable(on=dt.date(2026, 12, 11)).values_list("pk", flat=True)) == {held.pk}
    with travel(at(2026, 12, 11, 10)):
        assert api_ids(org.market_admin, "/grants", box="mine", active=True) == [held.pk]
        assert set(api_ids(org.market_admin, "/grants", box="mine", active=False)) == {revoked.pk, expiring.pk}
        active_on_screen = crash_client(org.police_admin).get(reverse("sharing:grants_given"), {"state": "active"})
        assert [g.pk for g in active_on_screen.context["rows"]] == [held.pk]


def test_working_days_left_are_counted_once_for_the_model_the_screen_the_api_and_the_digest(busy: Any) -> None:
    org = busy.org
    app = busy.answering[0]
    # answer due Tue 8 Dec: on Fri 4 Dec two working days are left (Mon 7, Tue 8); on Wed 9 Dec one is late
    for moment, left in ((at(2026, 12, 4, 10), 2), (at(2026, 12, 8, 10), 0), (at(2026, 12, 9, 10), -1)):
        with travel(moment):
            app.refresh_from_db()
            assert working_days_left(dt.date(2026, 12, 8)) == left
            assert app.working_days_left() == left == app.remaining_working_days()
            assert Clocks().of(app).days_left == left
            row = crash_client(org.police_specialist).get(f"{SHARING}/applications/{app.pk}").json()
            assert row["remaining_working_days"] == left and row["overdue"] == (left < 0)
            screen = crash_client(org.police_specialist).get(reverse("sharing:to_answer"))
            assert next(r.clock for r in screen.context["rows"] if r.pk == app.pk).days_left == left
            body = compose(org.police, moment, moment - dt.timedelta(days=1)).body  # type: ignore[union-attr]
            line = next(x for x in body.splitlines() if app.number in x)
            expected = {2: "剩余 2 个工作日", 0: "今天到期", -1: "已逾期 1 个工作日"}[left]
            assert expected in line


def test_an_update_task_counts_its_working_days_with_the_same_clock(cat: Any) -> None:
    org = cat.org
    with travel(at(2026, 12, 1, 10)):
        task = do_open_update_task(org.centre_admin, department=org.police, reason="law", title="《户籍条例》修订",
                                   change_date=dt.date(2026, 12, 1))
        assert task.working_days_left() == working_days_left(task.deadline.due_date)
        assert task.remaining_working_days() == task.working_days_left()
        assert list(UpdateTask.objects.running()) == [task] and not task.is_overdue
    with travel(task.deadline.due_at + dt.timedelta(days=1)):
        task.refresh_from_db()
        assert task.is_overdue and list(UpdateTask.objects.overdue()) == [task]


# ------------------------------------------------------------------ reminders and escalations, audited

def _codes(obj: Any, *codes: AuditCode) -> list[int]:
    return list(AuditEvent.objects.filter(code__in=[int(c) for c in codes], object_id=str(obj.pk))
                .order_by("id").values_list("code", flat=True))


def test_cases_and_error_reports_are_reminded_and_escalated_once_each_with_an_audit_row(busy: Any) -> None:
    case, report = busy.case, busy.report
    case_due, report_due = case.deadline.due_date, report.deadline.due_date
    for obj, due, reminded, escalated in ((case, case_due, AuditCode.CASE_REMINDED, AuditCode.CASE_ESCALATED),
                                          (report, report_due, AuditCode.ERROR_REMINDED, AuditCode.ERROR_ESCALATED)):
        with travel(at(due.year, due.month, due.day, 9)):
            send_reminders()
            send_reminders()
            assert _codes(obj, reminded) == [int(reminded)]  # once per clock, and on record
        with travel(at(due.year, due.month, due.day, 9) + dt.timedelta(days=2)):
            escalate_overdue()
            escalate_overdue()
            assert _codes(obj, escalated) == [int(escalated)]
    assert CoordinationCase.objects.get(pk=case.pk).reminded_deadline_id == case.deadline_id
    assert ErrorReport.objects.get(pk=report.pk).escalated_deadline_id == report.deadline_id


def test_an_overdue_update_task_is_escalated_once_through_the_same_loop_and_audited(cat: Any) -> None:
    org = cat.org
    with travel(at(2026, 12, 1, 10)):
        task = do_open_update_task(org.centre_admin, department=org.police, reason="law", title="《户籍条例》修订",
                                   change_date=dt.date(2026, 12, 1))
        assert notify_overdue() == 0
    with travel(task.deadline.due_at + dt.timedelta(hours=1)):
        assert notify_overdue() == 1
        assert notify_overdue() == 0
        assert escalate_overdue() == 0  # sharing's hook does not touch catalog's kind
    assert _codes(task, AuditCode.UPDATE_TASK_ESCALATED) == [int(AuditCode.UPDATE_TASK_ESCALATED)]


# ------------------------------------------------------------------ permission before any write

def test_another_departments_digest_is_refused_before_a_setting_row_is_written(share: Any) -> None:
    org = share.org
    with pytest.raises(NotFound):
        do_set_digest(org.market_admin, org.police, enabled=True)
    audit.flush_pending()
    assert not DigestSetting.objects.filter(department=org.police).exists()
    assert AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), outcome="denied").exists()
    do_set_digest(org.police_admin, org.police, enabled=True)
    assert DigestSetting.objects.get(department=org.police).enabled


# ------------------------------------------------------------------ a read-only token on a write

@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "只读令牌"), ("en", "lacks write scope")])
def test_a_read_only_token_on_a_write_is_a_403_saying_so_even_without_a_csrf_token(
        share: Any, language: str, expected: str) -> None:
    read = do_create_token(share.org.market_specialist, name="reader", scope="read")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {read.secret}")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language  # the reader's language switch
    response = client.post(f"{SHARING}/subscribe", {"entry_id": share.unconditional.pk, "purpose": "工作参考"},
                           content_type="application/json")
    assert response.status_code == 403
    body = response.json()["error"]
    assert body["code"] == "token_read_only" and expected in body["message"]
    assert "CSRF" not in response.content.decode()
    assert "lacks write scope" in body["message_en"] and body["message_zh"]
    assert not Grant.objects.exists()
    assert client.get(f"{SHARING}/grants").status_code == 200  # reading is what the token is for
