"""Acceptance (issue 4): a conditional request filed on 2026-09-29 under the 龙南 profile runs through
both stages across the National Day holiday (1–7 October 2026; make-up working day Saturday
10 October), and a silent provider is escalated to the centre (SHR-2, LN-§15).

The expected dates are worked out by hand from the State Council's 2026 holiday notice:
  first review, 2 working days after Tue 29 Sep: Wed 30 Sep (1), [1–7 Oct off], Thu 8 Oct (2);
  provider answer, 5 working days after Thu 8 Oct: Fri 9 (1), Sat 10 (2, make-up day), Mon 12 (3),
  Tue 13 (4), Wed 14 Oct (5).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from govshare.core.errors import Forbidden
from govshare.core.models import AuditEvent, Notification
from govshare.sharing.access import check_access
from govshare.sharing.actions import (
    do_answer,
    do_first_review,
    do_reopen_answer,
    escalate_overdue,
    send_reminders,
)
from govshare.sharing.models import Application, ApplicationStep, Grant
from tests.sharing_helpers import at

pytestmark = pytest.mark.django_db


def _travel(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def _kinds(user: Any) -> list[str]:
    return list(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


def test_a_request_filed_on_29_september_runs_through_both_stages_across_national_day(share: Any) -> None:
    org = share.org
    with _travel(at(2026, 9, 29, 10)):
        app = share.apply()
        assert app.status == Application.Status.CENTRE_REVIEW
        assert app.profile == "longnan"
        assert app.deadline.due_date == dt.date(2026, 10, 8)  # 2 working days, the holiday skipped
        assert app.remaining_working_days() == 2
        assert send_reminders() == 0  # two working days left: too early for a reminder

    with _travel(at(2026, 9, 30, 9)):
        app.refresh_from_db()
        assert app.remaining_working_days() == 1
        assert send_reminders() == 1  # the working day before the due day
        assert "sharing.reminder" in _kinds(org.reviewer)
        assert send_reminders() == 0  # once per clock

    with _travel(at(2026, 10, 4, 11)):  # in the holiday: nothing is overdue, one working day still left
        app.refresh_from_db()
        assert app.remaining_working_days() == 1
        assert escalate_overdue() == 0

    with _travel(at(2026, 10, 8, 17)):  # the last day of the first review: on time
        app = do_first_review(org.reviewer, app, decision="pass", comment="材料齐全。")
        assert app.status == Application.Status.PROVIDER_REVIEW
        assert app.deadline.due_date == dt.date(2026, 10, 14)  # 5 working days, Saturday 10 Oct counted
        assert app.deadline.start_date == dt.date(2026, 10, 8)
        assert app.remaining_working_days() == 5
        assert "sharing.answer" in _kinds(org.police_specialist)

    with _travel(at(2026, 10, 10, 9)):  # the make-up Saturday is a working day
        app.refresh_from_db()
        assert app.remaining_working_days() == 3

    with _travel(at(2026, 10, 13, 9)):
        assert send_reminders() == 1
        assert "sharing.reminder" in _kinds(org.police_admin)

    with _travel(at(2026, 10, 14, 16)):
        app.refresh_from_db()
        assert app.remaining_working_days() == 0  # due today
        app = do_answer(org.police_specialist, app, decision="approve", items=["公民身份号码"],
                        masking={"公民身份号码": "保留前6位和后4位"}, conditions="仅用于登记核验。")
        assert app.status == Application.Status.APPROVED
        grant = Grant.objects.get(application=app)
        assert grant.items == ["公民身份号码"]  # narrowed by the provider
        assert grant.masking == {"公民身份号码": "保留前6位和后4位"}
        assert grant.expires_on == dt.date(2027, 12, 31)
        assert check_access(entry=share.conditional, system=share.market_system, purpose="行政依据",
                            items=["公民身份号码"]).allowed
        assert escalate_overdue() == 0  # nothing open is late

    steps = {s.step: s for s in ApplicationStep.objects.filter(application=app)}
    assert steps["passed"].working_days_used == 2 and steps["passed"].on_time is True
    assert steps["passed"].due_date == dt.date(2026, 10, 8)
    assert steps["approved"].working_days_used == 5 and steps["approved"].on_time is True
    assert steps["approved"].due_date == dt.date(2026, 10, 14)
    assert [s.step for s in ApplicationStep.objects.filter(application=app)] == [
        "submitted", "reminded", "passed", "reminded", "approved"]


def test_a_silent_provider_is_escalated_to_the_centre_and_can_no_longer_answer(share: Any) -> None:
    org = share.org
    with _travel(at(2026, 9, 29, 10)):
        app = share.apply()
    with _travel(at(2026, 9, 30, 10)):
        app = do_first_review(org.reviewer, app, decision="pass")
        # 5 working days after Wed 30 Sep: Thu 8, Fri 9, Sat 10 (make-up), Mon 12, Tue 13 October
        assert app.deadline.due_date == dt.date(2026, 10, 13)
    with _travel(at(2026, 10, 13, 23, 59)):
        assert escalate_overdue() == 0  # the due day runs to its end
    with _travel(at(2026, 10, 14, 0, 5)):
        assert escalate_overdue() == 1
        assert escalate_overdue() == 0  # once per clock
        app.refresh_from_db()
        assert app.is_overdue and app.remaining_working_days() == -1
        assert app.escalated_at is not None
        assert "sharing.overdue" in _kinds(org.reviewer)
        assert "sharing.overdue" in _kinds(org.centre_admin)
        assert "sharing.overdue" in _kinds(org.police_admin)  # the late party hears too
        assert AuditEvent.objects.filter(code=3109, object_id=str(app.pk)).exists()
        with pytest.raises(Forbidden) as refused:
            do_answer(org.police_specialist, app, decision="approve")
        assert refused.value.code == "answer_period_over"
        app.refresh_from_db()
        assert app.status == Application.Status.PROVIDER_REVIEW and not Grant.objects.exists()
        app = do_reopen_answer(org.reviewer, app, reason="已电话督办，公安局承诺三日内答复。")
        assert app.deadline.due_date == dt.date(2026, 10, 21)  # 5 working days after Wed 14 Oct
    with _travel(at(2026, 10, 15, 10)):
        app = do_answer(org.police_admin, app, decision="refuse", basis="《治安管理处罚法》第八十条",
                        reason="申请用途超出法定核查范围。")
        assert app.status == Application.Status.REFUSED
    steps = [s.step for s in ApplicationStep.objects.filter(application=app)]
    assert steps == ["submitted", "passed", "escalated", "extended", "refused"]
    escalated = ApplicationStep.objects.get(application=app, step="escalated")
    assert escalated.on_time is False and escalated.due_date == dt.date(2026, 10, 13)
