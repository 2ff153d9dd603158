"""What each sharing action does (SHR-1 … SHR-8): the state it leaves, the clock it starts or stops,
who hears of it, and the audit event it writes in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from govshare.catalog.actions import do_create_classification
from govshare.catalog.models import CatalogEntry, Classification, Subscription
from govshare.core import audit
from govshare.core.actions import do_create_department, do_create_jurisdiction
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_uscc
from govshare.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.core.models import AuditEvent, Deadline, Notification
from govshare.core.roles import Role
from govshare.sharing import letters
from govshare.sharing.access import check_access
from govshare.sharing.actions import (
    aggregated_demand,
    do_acknowledge_error,
    do_add_case_note,
    do_answer,
    do_assign_request,
    do_close_request,
    do_decline_request,
    do_first_review,
    do_forward_request,
    do_mark_high_frequency,
    do_open_case,
    do_record_upper_answer,
    do_register_for_request,
    do_reopen_answer,
    do_report_error,
    do_resolve_error,
    do_resubmit,
    do_revoke_grant,
    do_settle_case,
    do_submit_request,
    do_subscribe_entry,
    do_unmark_high_frequency,
    do_withdraw_application,
    do_withdraw_case,
    do_withdraw_error,
    escalate_overdue,
    send_reminders,
)
from govshare.sharing.models import (
    Application,
    ApplicationStep,
    CoordinationCase,
    DataRequest,
    ErrorReport,
    Grant,
    HighFrequencyMark,
)
from tests.sharing_helpers import PNG, at

pytestmark = pytest.mark.django_db


def _travel(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def _kinds(user: Any) -> list[str]:
    return list(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


def _codes(obj: Any) -> list[int]:
    return list(AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
                .order_by("id").values_list("code", flat=True))


def _steps(app: Application) -> list[str]:
    return list(ApplicationStep.objects.filter(application=app).values_list("step", flat=True))


def _passed(share: Any, **overrides: Any) -> Application:
    return do_first_review(share.org.reviewer, share.apply(**overrides), decision="pass")


def _refused(share: Any) -> Application:
    return do_answer(share.org.police_admin, _passed(share), decision="refuse", basis="《治安管理处罚法》第八十条",
                     reason="用途超出法定核查范围。")


def _subscribe(share: Any, user: Any = None, **kwargs: Any) -> Grant:
    kwargs.setdefault("purpose", "行政依据")
    return do_subscribe_entry(user or share.org.market_specialist, share.unconditional, **kwargs)


def _allowed(share: Any, entry: Any, **kwargs: Any) -> bool:
    kwargs.setdefault("purpose", "行政依据")
    kwargs.setdefault("user", share.org.market_specialist)
    return check_access(entry=entry, **kwargs).allowed


@pytest.fixture
def depts(share: Any) -> Any:
    """Two more departments (教育局, 人社局) with an administrator and a data specialist each."""
    org = share.org

    class Depts:
        education = do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局",
                                         uscc=make_uscc("360783", 4), code="JY", jurisdiction=org.county)
        hr = do_create_department(org.centre_admin, name="龙南市人力资源和社会保障局", short_name="人社局",
                                  uscc=make_uscc("360783", 5), code="RS", jurisdiction=org.county)
        edu_admin = org.user("edu_admin", education, Role.DEPT_ADMIN)
        edu_specialist = org.user("edu_specialist", education, Role.DATA_SPECIALIST)
        hr_admin = org.user("hr_admin", hr, Role.DEPT_ADMIN)
        hr_specialist = org.user("hr_specialist", hr, Role.DATA_SPECIALIST)

    return Depts


# ------------------------------------------------------------------ SHR-1 unconditional sharing

def test_subscribing_to_an_unconditional_entry_grants_at_once_records_it_and_tells_the_provider(share: Any) -> None:
    org = share.org
    grant = _subscribe(share, items=["公民身份号码", "出生日期"], channel="table")
    assert grant.source == Grant.Source.UNCONDITIONAL and grant.is_active
    assert grant.consumer_id == org.market.pk and grant.provider_id == org.police.pk
    assert grant.items == ["公民身份号码", "出生日期"] and grant.channel == "table"
    assert grant.masking == {"公民身份号码": "保留前6位和后4位"}  # the catalog's rule for the sensitive item
    app = grant.application
    assert app.kind == Application.Kind.UNCONDITIONAL and app.status == Application.Status.APPROVED
    assert _steps(app) == ["granted"]
    assert Subscription.objects.filter(entry=share.unconditional, user=org.market_specialist).exists()
    assert AuditCode.GRANT_CREATED in _codes(grant) and AuditCode.SHARE_APPLIED in _codes(app)
    assert "sharing.granted_unconditional" in _kinds(org.police_admin)
    assert "sharing.granted_unconditional" in _kinds(org.police_specialist)
    assert _allowed(share, share.unconditional, items=["出生日期"])
    assert not _allowed(share, share.unconditional, items=["姓名"])  # outside the items subscribed to


def test_a_subscription_with_an_end_date_expires_then(share: Any) -> None:
    grant = _subscribe(share, period_end=dt.date(2027, 6, 30))
    assert grant.expires_on == dt.date(2027, 6, 30)
    decision = check_access(entry=share.unconditional, user=share.org.market_admin, purpose="行政依据",
                            today=dt.date(2027, 7, 1))
    assert [r.code for r in decision.reasons] == ["grant_expired"]


# ------------------------------------------------------------------ SHR-2 conditional sharing

def test_an_application_starts_the_centres_first_review_clock_and_tells_the_centre(share: Any) -> None:
    org = share.org
    with _travel(at(2026, 12, 1, 10)):  # Tuesday
        app = share.apply()
    assert app.status == Application.Status.CENTRE_REVIEW and app.kind == Application.Kind.CONDITIONAL
    assert app.number.startswith("GX2026-")
    assert app.deadline.kind == "share_first_review" and app.deadline.due_date == dt.date(2026, 12, 3)
    assert app.items == ["公民身份号码", "姓名"] and app.system == share.market_system
    assert letters.path_of(app.letter_path).exists() and app.letter_type == "application/pdf"
    assert _steps(app) == ["submitted"]
    assert _codes(app) == [AuditCode.SHARE_APPLIED]
    assert "sharing.first_review" in _kinds(org.reviewer)
    assert "sharing.first_review" not in _kinds(org.police_admin)  # the provider hears after the first review


def test_a_returned_application_is_completed_and_its_clock_restarts_with_the_new_letter(
        share: Any, django_capture_on_commit_callbacks: Any) -> None:
    org = share.org
    with _travel(at(2026, 12, 1, 10)):
        app = share.apply()
        old_letter = app.letter_path
    with _travel(at(2026, 12, 2, 10)):
        app = do_first_review(org.reviewer, app, decision="return", comment="申请函未加盖公章。")
        assert app.status == Application.Status.RETURNED and app.deadline is None
        assert "sharing.return" in _kinds(org.market_specialist)
        assert "sharing.return" in _kinds(org.market_admin)
        assert app.remaining_working_days() is None  # nobody's clock runs while the consumer completes
    with _travel(at(2026, 12, 7, 10)), django_capture_on_commit_callbacks(execute=True):  # Monday
        app = do_resubmit(org.market_admin, app, letter=("盖章申请函.png", PNG), contact_name="李四")
    assert app.status == Application.Status.CENTRE_REVIEW
    assert app.deadline.start_date == dt.date(2026, 12, 7) and app.deadline.due_date == dt.date(2026, 12, 9)
    assert app.contact_name == "李四" and app.items == ["公民身份号码", "姓名"]  # the rest is kept
    assert app.letter_name == "盖章申请函.png" and app.letter_type == "image/png"
    assert app.letter_path != old_letter
    assert letters.path_of(app.letter_path).read_bytes() == PNG
    assert not letters.path_of(old_letter).exists()  # replaced, not kept
    assert _steps(app) == ["submitted", "returned", "resubmitted"]
    returned = ApplicationStep.objects.get(application=app, step="returned")
    assert returned.working_days_used == 1 and returned.on_time is True
    assert _codes(app) == [AuditCode.SHARE_APPLIED, AuditCode.SHARE_RETURNED, AuditCode.SHARE_RESUBMITTED]
    assert Deadline.objects.filter(object_id=str(app.pk), closed_at__isnull=True).count() == 1


def test_a_resubmission_without_a_new_letter_keeps_the_old_one(share: Any) -> None:
    app = do_first_review(share.org.reviewer, share.apply(), decision="return", comment="补充用途说明。")
    old = app.letter_path
    app = do_resubmit(share.org.market_specialist, app, purpose_detail="用于市场主体登记时核验法定代表人身份。")
    assert app.letter_path == old and letters.path_of(old).exists()


def test_a_rejection_at_first_review_ends_the_application(share: Any) -> None:
    org = share.org
    app = do_first_review(org.reviewer, share.apply(), decision="reject", comment="用途与本单位职能无关。")
    assert app.status == Application.Status.REJECTED and app.decided_at is not None and app.deadline is None
    assert app.first_review_comment == "用途与本单位职能无关。" and app.first_reviewer == org.reviewer
    assert _steps(app) == ["submitted", "rejected"]
    assert AuditCode.SHARE_REJECTED in _codes(app)
    assert "sharing.reject" in _kinds(org.market_specialist)
    assert not Grant.objects.exists()
    with pytest.raises(Conflict):
        do_resubmit(org.market_specialist, app)


def test_passing_the_first_review_starts_the_providers_answer_clock(share: Any) -> None:
    org = share.org
    with _travel(at(2026, 12, 1, 10)):
        app = share.apply()
    with _travel(at(2026, 12, 2, 15)):
        app = do_first_review(org.reviewer, app, decision="pass", comment="材料齐全。")
    assert app.status == Application.Status.PROVIDER_REVIEW
    assert app.deadline.kind == "share_provider_answer" and app.deadline.due_date == dt.date(2026, 12, 9)
    assert Deadline.objects.get(kind="share_first_review", object_id=str(app.pk)).closed_at is not None
    assert "sharing.answer" in _kinds(org.police_specialist) and "sharing.passed" in _kinds(org.market_specialist)


def test_the_provider_approves_with_narrowed_items_masking_expiry_and_conditions(share: Any) -> None:
    org = share.org
    app = _passed(share, period_end=dt.date(2027, 12, 31))
    app = do_answer(org.police_specialist, app, decision="approve", items=["姓名"], masking={"姓名": "仅显示姓"},
                    expires_on=dt.date(2027, 6, 30), conditions="仅用于登记核验，不得向第三方提供。")
    grant = Grant.objects.get(application=app)
    assert app.status == Application.Status.APPROVED and app.answered_by == org.police_specialist
    assert grant.items == ["姓名"] and grant.masking == {"姓名": "仅显示姓"}
    assert grant.expires_on == dt.date(2027, 6, 30) and grant.conditions.startswith("仅用于")
    assert grant.system == share.market_system and grant.channel == "api" and grant.purpose == "行政依据"
    assert AuditCode.SHARE_APPROVED in _codes(app) and AuditCode.GRANT_CREATED in _codes(grant)
    assert "sharing.approved" in _kinds(org.market_specialist)
    assert Subscription.objects.filter(entry=share.conditional, user=org.market_specialist).exists()
    assert _steps(app) == ["submitted", "passed", "approved"]


def test_the_provider_refuses_with_basis_and_reason_and_the_consumer_is_told_it_may_coordinate(share: Any) -> None:
    app = _refused(share)
    assert app.status == Application.Status.REFUSED and app.refusal_basis.startswith("《治安管理处罚法》")
    assert app.refusal_reason == "用途超出法定核查范围。" and not Grant.objects.exists()
    assert AuditCode.SHARE_REFUSED in _codes(app)
    note = Notification.objects.get(recipient=share.org.market_specialist, kind="sharing.refused")
    assert "《治安管理处罚法》第八十条" in note.body


@pytest.mark.parametrize("stage", ["centre_review", "returned", "provider_review"])
def test_an_open_application_is_withdrawn_at_any_stage_and_its_clock_stops(share: Any, stage: str) -> None:
    org = share.org
    app = share.apply()
    if stage == "returned":
        app = do_first_review(org.reviewer, app, decision="return", comment="补充。")
    elif stage == "provider_review":
        app = do_first_review(org.reviewer, app, decision="pass")
    app = do_withdraw_application(org.market_admin, app, reason="业务调整，不再需要。")
    assert app.status == Application.Status.WITHDRAWN and app.deadline is None and app.decided_at is not None
    assert not Deadline.objects.filter(object_id=str(app.pk), closed_at__isnull=True).exists()
    assert _steps(app)[-1] == "withdrawn"
    assert AuditCode.SHARE_WITHDRAWN in _codes(app)
    told = org.police_admin if stage == "provider_review" else org.reviewer
    assert "sharing.withdrawn" in _kinds(told)
    with pytest.raises(Conflict) as again:
        do_withdraw_application(org.market_admin, app)
    assert again.value.code == "not_open"
    share.apply()  # the department may apply again


def test_a_decided_application_cannot_be_withdrawn(share: Any) -> None:
    app = do_answer(share.org.police_admin, _passed(share), decision="approve")
    with pytest.raises(Conflict):
        do_withdraw_application(share.org.market_specialist, app)


def test_the_centre_reopens_the_answer_period_only_once_it_is_overdue(share: Any) -> None:
    org = share.org
    with _travel(at(2026, 12, 1, 10)):
        app = _passed(share)  # answer due Tue 8 December
        with pytest.raises(Conflict) as early:
            do_reopen_answer(org.reviewer, app, reason="督办。")
        assert early.value.code == "not_overdue"
    with _travel(at(2026, 12, 9, 9)):
        with pytest.raises(ValidationFailed):
            do_reopen_answer(org.reviewer, app, reason="")
        with pytest.raises(Forbidden):
            do_reopen_answer(org.police_admin, app, reason="我们想延期。")
        app = do_reopen_answer(org.reviewer, app, reason="已电话督办。")
        assert app.deadline.start_date == dt.date(2026, 12, 9) and app.deadline.due_date == dt.date(2026, 12, 16)
        assert AuditCode.SHARE_ANSWER_REOPENED in _codes(app)
        with pytest.raises(Conflict):
            do_reopen_answer(org.reviewer, app, reason="再次。")  # no longer overdue
        assert do_answer(org.police_admin, app, decision="approve").status == Application.Status.APPROVED


def test_a_revoked_grant_stops_access_at_once(share: Any) -> None:
    org = share.org
    grant = Grant.objects.get(application=do_answer(org.police_admin, _passed(share), decision="approve"))
    ask = {"entry": share.conditional, "system": share.market_system, "purpose": "行政依据", "items": ["姓名"]}
    assert check_access(**ask).allowed
    do_revoke_grant(org.police_specialist, grant, reason="发现超范围使用。")
    decision = check_access(**ask)
    assert not decision.allowed and [r.code for r in decision.reasons] == ["grant_revoked"]
    grant.refresh_from_db()
    assert grant.state() == "revoked" and grant.revoke_reason == "发现超范围使用。"
    assert AuditCode.GRANT_REVOKED in _codes(grant)
    assert "sharing.revoked" in _kinds(org.market_admin)


def test_the_centre_may_revoke_any_grant_as_sharing_authority(share: Any) -> None:
    grant = _subscribe(share)
    do_revoke_grant(share.org.reviewer, grant, reason="共享主管部门决定停止共享。")
    assert not _allowed(share, share.unconditional)


def test_the_national_profile_gives_the_provider_ten_working_days(share: Any) -> None:
    org = share.org
    ruijin = do_create_jurisdiction(org.centre_admin, code="360781", name="瑞金市", level="county",
                                    parent=org.province, policy_profile="national")
    police = do_create_department(org.centre_admin, name="瑞金市公安局", short_name="瑞金公安",
                                  uscc=make_uscc("360781", 7), code="RJGA", jurisdiction=ruijin)
    specialist = org.user("rj_police", police, Role.DATA_SPECIALIST)
    do_create_classification(org.centre_admin, code="304", name="瑞金市公安局信息资源",
                             parent=Classification.objects.get(code="3"), department=police)
    entry = share.cat.published(specialist, classification="304", name="瑞金市户籍人口信息",
                                share_type="conditional", share_condition="需提供公函。", share_basis="《户口登记条例》",
                                share_methods=["table", "api"])
    with _travel(at(2026, 12, 1, 10)):
        app = share.apply(entry=entry)
        assert app.profile == "national" and app.deadline.due_date == dt.date(2026, 12, 3)
    with _travel(at(2026, 12, 2, 10)):
        app = do_first_review(org.reviewer, app, decision="pass")
    # 10 working days after Wed 2 December: 3, 4, 7, 8, 9, 10, 11, 14, 15, 16
    assert app.deadline.due_date == dt.date(2026, 12, 16) and app.remaining_working_days(dt.date(2026, 12, 2)) == 10


# ------------------------------------------------------------------ SHR-3 coordination

def test_a_case_on_a_refused_application_takes_its_items_and_purpose_and_runs_on_the_clock(share: Any) -> None:
    org = share.org
    app = _refused(share)
    with _travel(at(2026, 12, 1, 10)):
        case = do_open_case(org.market_admin, application=app, reason="登记核验依法需要此数据。")
    assert case.status == CoordinationCase.Status.OPEN and case.application == app
    assert case.items == app.items and case.purpose == app.purpose and case.entry == share.conditional
    assert case.deadline.kind == "coordination_settlement" and case.deadline.due_date == dt.date(2026, 12, 15)
    assert AuditCode.CASE_OPENED in _codes(case)
    assert "sharing.case" in _kinds(org.reviewer) and "sharing.case" in _kinds(org.police_admin)


def test_a_case_is_opened_on_an_entry_that_is_not_shared_but_not_on_a_shared_one(share: Any) -> None:
    org = share.org
    case = do_open_case(org.market_specialist, entry=share.not_shared, reason="办案协查确需。", items=["姓名"],
                        purpose="业务协同")
    assert case.application is None and case.items == ["姓名"] and case.purpose == "业务协同"
    with pytest.raises(Conflict) as shared:
        do_open_case(org.market_specialist, entry=share.conditional, reason="想要。", items=["姓名"],
                     purpose="行政依据")
    assert shared.value.code == "shared_entry"
    with pytest.raises(Conflict) as open_app:
        do_open_case(org.market_specialist, application=_passed(share), reason="等不及。")
    assert open_app.value.code == "not_refused"


def test_a_second_open_case_on_the_same_entry_is_a_conflict_but_a_new_one_after_settlement_is_not(
        share: Any) -> None:
    org = share.org
    case = do_open_case(org.market_specialist, entry=share.not_shared, reason="需要。", items=["姓名"],
                        purpose="行政依据")
    with pytest.raises(Conflict) as duplicate:
        do_open_case(org.market_admin, entry=share.not_shared, reason="再来。", items=["姓名"], purpose="行政依据")
    assert duplicate.value.code == "duplicate_case"
    do_settle_case(org.reviewer, case, outcome="refuse", reason="涉密数据，不予共享。")
    assert do_open_case(org.market_admin, entry=share.not_shared, reason="情况变化。", items=["姓名"],
                        purpose="行政依据").is_open


def test_notes_from_the_parties_and_the_centres_first_note_starts_mediation(share: Any) -> None:
    org = share.org
    case = do_open_case(org.market_specialist, application=_refused(share), reason="确需。")
    do_add_case_note(org.market_admin, case, text="我局承诺仅用于登记核验。")
    do_add_case_note(org.police_admin, case, text="可提供脱敏后的姓名。")
    case.refresh_from_db()
    assert case.status == CoordinationCase.Status.OPEN
    note = do_add_case_note(org.reviewer, case, text="请双方于周五前确认脱敏方案。")
    case.refresh_from_db()
    assert note.party == "centre" and case.status == CoordinationCase.Status.MEDIATING
    assert case.mediator == org.reviewer
    assert [n.party for n in case.notes.all()] == ["consumer", "provider", "centre"]
    assert _codes(case).count(AuditCode.CASE_NOTE_ADDED) == 3
    assert "sharing.case_note" in _kinds(org.police_specialist)
    with pytest.raises(Forbidden):
        do_add_case_note(org.auditor, case, text="审计意见。")


def test_settling_with_a_grant_creates_a_grant_with_the_cases_items(share: Any) -> None:
    org = share.org
    case = do_open_case(org.market_specialist, entry=share.not_shared, reason="办案协查。",
                        items=["公民身份号码", "姓名"], purpose="业务协同")
    do_add_case_note(org.reviewer, case, text="协调中。")
    case = do_settle_case(org.centre_admin, case, outcome="grant", reason="经协调，同意在脱敏后共享。",
                          expires_on=dt.date(2027, 12, 31), masking={"姓名": "仅显示姓"}, channel="file")
    grant = Grant.objects.get(case=case)
    assert case.status == CoordinationCase.Status.GRANTED and case.settled_by == org.centre_admin
    assert grant.source == Grant.Source.COORDINATION and grant.items == ["公民身份号码", "姓名"]
    assert grant.masking == {"公民身份号码": "保留前6位和后4位", "姓名": "仅显示姓"}
    assert grant.purpose == "业务协同" and grant.channel == "file" and grant.expires_on == dt.date(2027, 12, 31)
    assert Deadline.objects.get(pk=case.deadline_id).closed_at is not None
    assert AuditCode.CASE_SETTLED in _codes(case) and AuditCode.GRANT_CREATED in _codes(grant)
    assert "sharing.case_settled" in _kinds(org.market_specialist)
    assert _allowed(share, share.not_shared, purpose="业务协同", items=["姓名"])
    with pytest.raises(Conflict):
        do_settle_case(org.reviewer, case, outcome="refuse", reason="改主意。")


def test_settling_with_a_final_refusal_creates_no_grant(share: Any) -> None:
    org = share.org
    case = do_open_case(org.market_specialist, application=_refused(share), reason="确需。")
    case = do_settle_case(org.reviewer, case, outcome="refuse", reason="依法不予共享，维持原答复。")
    assert case.status == CoordinationCase.Status.REFUSED and case.outcome_reason.startswith("依法")
    assert not Grant.objects.exists() and not case.is_open


def test_the_consumer_withdraws_its_case(share: Any) -> None:
    org = share.org
    case = do_open_case(org.market_specialist, entry=share.not_shared, reason="需要。", items=["姓名"],
                        purpose="行政依据")
    with pytest.raises(Forbidden):
        do_withdraw_case(org.police_admin, case)
    case = do_withdraw_case(org.market_admin, case, reason="已通过其他途径获取。")
    assert case.status == CoordinationCase.Status.WITHDRAWN and not case.is_open
    assert Deadline.objects.get(pk=case.deadline_id).closed_at is not None
    assert AuditCode.CASE_WITHDRAWN in _codes(case)
    with pytest.raises(Conflict):
        do_add_case_note(org.reviewer, case, text="晚了。")


def test_an_overdue_case_is_reminded_the_day_before_and_escalated_once(share: Any) -> None:
    org = share.org
    with _travel(at(2026, 12, 1, 10)):
        case = do_open_case(org.market_specialist, entry=share.not_shared, reason="需要。", items=["姓名"],
                            purpose="行政依据")
        assert case.deadline.due_date == dt.date(2026, 12, 15)
    with _travel(at(2026, 12, 11, 10)):
        assert send_reminders() == 0
    with _travel(at(2026, 12, 14, 9)):
        assert send_reminders() == 1 and send_reminders() == 0
        assert "sharing.reminder" in _kinds(org.reviewer)
    with _travel(at(2026, 12, 15, 23, 59)):
        assert escalate_overdue() == 0
    with _travel(at(2026, 12, 16, 0, 5)):
        assert escalate_overdue() == 1 and escalate_overdue() == 0
        case.refresh_from_db()
        assert case.remaining_working_days() == -1
    assert "sharing.overdue" in _kinds(org.centre_admin)
    assert _codes(case).count(AuditCode.CASE_ESCALATED) == 1


# ------------------------------------------------------------------ SHR-5 / SHR-6 data requests

def _request(user: Any, **kwargs: Any) -> DataRequest:
    kwargs.setdefault("title", "校外培训机构从业人员信息")
    kwargs.setdefault("description", "用于校外培训机构监管，目录中未找到。")
    kwargs.setdefault("purpose", "业务协同")
    return do_submit_request(user, **kwargs)


def test_a_request_not_in_the_catalog_is_assigned_declined_reassigned_and_registered(share: Any, depts: Any) -> None:
    org = share.org
    req = _request(depts.edu_specialist, suggested_owner=org.police)
    assert req.status == DataRequest.Status.SUBMITTED and req.number.startswith("XQ")
    assert "sharing.request" in _kinds(org.reviewer)
    req = do_assign_request(org.reviewer, req, owner=org.police, note="请公安局登记。")
    assert req.status == DataRequest.Status.ASSIGNED and req.owner == org.police
    assert "sharing.request_assigned" in _kinds(org.police_admin)
    req = do_decline_request(org.police_admin, req, reason="我局不掌握该数据。")
    assert req.status == DataRequest.Status.DECLINED and req.answer == "我局不掌握该数据。"
    assert "sharing.request_declined" in _kinds(depts.edu_specialist)
    with pytest.raises(Conflict):
        do_decline_request(org.police_admin, req, reason="再次。")
    req = do_assign_request(org.reviewer, req, owner=org.market)
    assert req.status == DataRequest.Status.ASSIGNED and req.owner == org.market and req.answer == ""
    draft = share.cat.draft(org.market_specialist, name="校外培训机构从业人员信息")
    req = do_register_for_request(org.market_specialist, req, entry=draft)
    draft.refresh_from_db()
    assert req.status == DataRequest.Status.REGISTERED and req.entry == draft
    assert draft.request_ref == req.number
    assert "sharing.request_registered" in _kinds(depts.edu_specialist)
    assert _codes(req) == [AuditCode.DATA_REQUEST_SUBMITTED, AuditCode.DATA_REQUEST_ASSIGNED,
                           AuditCode.DATA_REQUEST_DECLINED, AuditCode.DATA_REQUEST_ASSIGNED,
                           AuditCode.DATA_REQUEST_REGISTERED]
    with pytest.raises(Conflict):
        do_close_request(org.reviewer, req, reason="结案。")


def test_the_owner_links_only_its_own_entry_and_an_entry_answers_one_request(share: Any, depts: Any) -> None:
    org = share.org
    req = do_assign_request(org.reviewer, _request(depts.edu_specialist), owner=org.police)
    with pytest.raises(NotFound):  # the market's draft is not the police's to link (nor to see)
        do_register_for_request(org.police_admin, req, entry=share.cat.draft(org.market_specialist, name="某数据"))
    with pytest.raises(Forbidden) as requester:  # the requester sees its request but does not answer it
        do_register_for_request(depts.edu_admin, req, entry=share.conditional)
    assert requester.value.code == "wrong_party"
    other_req = do_assign_request(org.reviewer, _request(depts.hr_specialist, title="另一项需求"), owner=org.police)
    do_register_for_request(org.police_admin, other_req, entry=share.conditional)
    with pytest.raises(Conflict) as linked:
        do_register_for_request(org.police_admin, req, entry=share.conditional)
    assert linked.value.code == "entry_linked"


def test_an_upper_level_request_is_forwarded_with_a_handoff_message_and_answered(share: Any, depts: Any) -> None:
    org = share.org
    req = _request(depts.edu_specialist, scope="upper", upper_jurisdiction=org.province,
                   upper_resource="江西省学籍信息", wanted_items="学籍号、姓名")
    with pytest.raises(Conflict):
        do_assign_request(org.reviewer, req, owner=org.police)
    req = do_forward_request(org.reviewer, req, note="请省平台协调。")
    assert req.status == DataRequest.Status.FORWARDED and req.forwarded_by == org.reviewer
    handoff = req.handoff
    assert handoff["type"] == "govshare.data_request" and handoff["number"] == req.number
    assert handoff["from_jurisdiction"] == "360783" and handoff["to_jurisdiction"] == "360000"
    assert handoff["resource"] == "江西省学籍信息" and handoff["wanted_items"] == "学籍号、姓名"
    assert handoff["requester"] == "龙南市教育局" and handoff["note"] == "请省平台协调。"
    assert "sharing.request_forwarded" in _kinds(depts.edu_specialist)
    req = do_record_upper_answer(org.reviewer, req, fulfilled=True, answer="省平台已开通接口。", reference="JX-2026-88")
    assert req.status == DataRequest.Status.FULFILLED and req.upper_reference == "JX-2026-88"
    assert "sharing.request_answered" in _kinds(depts.edu_specialist)
    with pytest.raises(Conflict):
        do_record_upper_answer(org.reviewer, req, fulfilled=False, answer="再答。")


def test_an_upper_request_must_name_a_platform_above_the_requester(share: Any, depts: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _request(depts.edu_specialist, scope="upper", upper_jurisdiction=share.org.county, upper_resource="X")
    assert [p["code"] for p in caught.value.as_dict()["errors"]] == ["not_upper_level"]
    local = _request(depts.edu_specialist)
    with pytest.raises(Conflict):
        do_forward_request(share.org.reviewer, local)


def test_an_upper_refusal_and_closing_a_request(share: Any, depts: Any) -> None:
    org = share.org
    req = do_forward_request(org.reviewer, _request(depts.edu_specialist, scope="upper",
                                                    upper_jurisdiction=org.province, upper_resource="省学籍"))
    req = do_record_upper_answer(org.reviewer, req, fulfilled=False, answer="省级不予共享。")
    assert req.status == DataRequest.Status.UPPER_REFUSED
    other = do_close_request(org.reviewer, _request(depts.hr_specialist), reason="已在目录中找到对应资源。")
    assert other.status == DataRequest.Status.CLOSED and "sharing.request_closed" in _kinds(depts.hr_specialist)
    with pytest.raises(Forbidden):
        do_close_request(org.police_admin, _request(depts.hr_specialist, title="第三项"), reason="关。")


# ------------------------------------------------------------------ SHR-7 aggregated demand

def test_an_entry_asked_for_by_three_departments_is_listed_and_can_be_marked_high_frequency(
        share: Any, depts: Any) -> None:
    org = share.org
    _subscribe(share)
    _subscribe(share, user=depts.edu_specialist)
    _subscribe(share, user=depts.hr_admin)
    share.apply()  # the conditional entry: one department only
    listed = aggregated_demand(min_departments=3)
    assert [(e.pk, e.demand) for e in listed] == [(share.unconditional.pk, 3)]
    assert listed[0].high_frequency_mark is None
    assert [e.pk for e in aggregated_demand(min_departments=1)] == [share.unconditional.pk, share.conditional.pk]
    with pytest.raises(Forbidden):
        do_mark_high_frequency(org.police_admin, share.unconditional)
    mark = do_mark_high_frequency(org.reviewer, share.unconditional, note="三个部门高频使用。")
    assert mark.demand == 3 and mark.marked_by == org.reviewer
    assert aggregated_demand(min_departments=3)[0].high_frequency_mark == mark
    assert "sharing.high_frequency" in _kinds(org.police_specialist)
    with pytest.raises(Conflict):
        do_mark_high_frequency(org.centre_admin, share.unconditional)
    do_unmark_high_frequency(org.reviewer, share.unconditional, reason="需求下降。")
    assert not HighFrequencyMark.objects.exists()
    with pytest.raises(Conflict):
        do_unmark_high_frequency(org.reviewer, share.unconditional, reason="再次。")
    codes = list(AuditEvent.objects.filter(object_type="catalog.catalogentry", object_id=str(share.unconditional.pk))
                 .values_list("code", flat=True))
    assert AuditCode.HIGH_FREQUENCY_MARKED in codes and AuditCode.HIGH_FREQUENCY_UNMARKED in codes


# ------------------------------------------------------------------ SHR-8 error reports

def _report(share: Any, user: Any = None, entry: Any = None) -> ErrorReport:
    return do_report_error(user or share.org.market_specialist, entry=entry or share.unconditional,
                           record_keys="360783199001011234", field="姓名", description="姓名与户籍登记不一致。")


def test_an_error_report_needs_data_received_under_a_grant(share: Any) -> None:
    with pytest.raises(Conflict) as caught:
        _report(share)
    assert caught.value.code == "no_grant"
    _subscribe(share)
    with pytest.raises(ValidationFailed) as unknown:
        do_report_error(share.org.market_specialist, entry=share.unconditional, record_keys="1", field="血型",
                        description="错误。")
    assert unknown.value.as_dict()["errors"][0]["code"] == "unknown_items"


def test_an_error_report_runs_on_the_correction_clock_and_is_acknowledged_and_corrected(share: Any) -> None:
    org = share.org
    grant = _subscribe(share)
    with _travel(at(2026, 12, 1, 10)):
        report = _report(share)
    assert report.status == ErrorReport.Status.REPORTED and report.grant == grant
    assert report.deadline.kind == "data_error_correction" and report.deadline.due_date == dt.date(2026, 12, 8)
    assert "sharing.error_reported" in _kinds(org.police_specialist)
    report = do_acknowledge_error(org.police_specialist, report)
    assert report.status == ErrorReport.Status.VERIFYING and report.acknowledged_at is not None
    assert "sharing.error_verifying" in _kinds(org.market_specialist)
    with pytest.raises(Conflict):
        do_acknowledge_error(org.police_admin, report)
    report = do_resolve_error(org.police_admin, report, outcome="corrected", resolution="已按户籍登记更正。")
    assert report.status == ErrorReport.Status.CORRECTED and report.resolved_by == org.police_admin
    assert Deadline.objects.get(pk=report.deadline_id).closed_at is not None
    assert "sharing.error_resolved" in _kinds(org.market_specialist)
    assert _codes(report) == [AuditCode.ERROR_REPORTED, AuditCode.ERROR_ACKNOWLEDGED, AuditCode.ERROR_RESOLVED]
    with pytest.raises(Conflict):
        do_resolve_error(org.police_admin, report, outcome="not_an_error", resolution="再议。")


def test_a_report_can_be_answered_as_not_an_error_without_acknowledging_first(share: Any) -> None:
    _subscribe(share)
    report = do_resolve_error(share.org.police_specialist, _report(share), outcome="not_an_error",
                              resolution="经核对，数据正确。")
    assert report.status == ErrorReport.Status.NOT_AN_ERROR and report.acknowledged_at is not None
    with pytest.raises(ValidationFailed):
        do_resolve_error(share.org.police_specialist, _report(share), outcome="ignored", resolution="x")


def test_the_reporter_withdraws_a_report(share: Any) -> None:
    _subscribe(share)
    report = _report(share)
    with pytest.raises(Forbidden):
        do_withdraw_error(share.org.police_admin, report)
    report = do_withdraw_error(share.org.market_admin, report)
    assert report.status == ErrorReport.Status.WITHDRAWN and not report.is_open
    assert Deadline.objects.get(pk=report.deadline_id).closed_at is not None
    assert AuditCode.ERROR_WITHDRAWN in _codes(report)


def test_an_open_error_report_never_blocks_access(share: Any) -> None:
    _subscribe(share)
    _report(share)
    do_acknowledge_error(share.org.police_admin, _report(share))
    assert ErrorReport.objects.filter(status__in=ErrorReport.OPEN_STATUSES).count() == 2
    assert _allowed(share, share.unconditional, items=["姓名"])


def test_an_error_report_is_reminded_the_day_before_and_escalated_once_overdue(share: Any) -> None:
    org = share.org
    _subscribe(share)
    with _travel(at(2026, 12, 1, 10)):
        report = _report(share)
    with _travel(at(2026, 12, 4, 10)):  # two working days left
        assert send_reminders() == 0
    with _travel(at(2026, 12, 7, 10)):
        assert send_reminders() == 1 and send_reminders() == 0
        assert "sharing.reminder" in _kinds(org.police_admin)
    with _travel(at(2026, 12, 9, 0, 5)):
        assert escalate_overdue() == 1 and escalate_overdue() == 0
    assert "sharing.overdue" in _kinds(org.reviewer) and "sharing.overdue" in _kinds(org.police_specialist)
    assert _codes(report).count(AuditCode.ERROR_ESCALATED) == 1
    with _travel(at(2026, 12, 9, 10)):  # late, but still answered and kept as late
        report = do_resolve_error(org.police_admin, report, outcome="corrected", resolution="已更正。")
    event = AuditEvent.objects.filter(code=AuditCode.ERROR_RESOLVED, object_id=str(report.pk)).get()
    assert event.detail["on_time"] is False


# ------------------------------------------------------------------ audit: same transaction, intact chain

def test_a_failing_action_leaves_no_audit_row_and_no_change(share: Any, monkeypatch: Any) -> None:
    from govshare.sharing.actions import applications

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("mail queue down")

    app = _passed(share)
    other = share.cat.published(name="出入境证件信息", share_type="conditional", share_condition="公函。",
                                share_basis="《出境入境管理法》")
    before = AuditEvent.objects.count()
    monkeypatch.setattr(applications, "notify", broken)  # fails after the audit row is written
    with pytest.raises(RuntimeError):
        do_answer(share.org.police_admin, app, decision="approve")
    with pytest.raises(RuntimeError):
        share.apply(user=share.org.market_admin, entry=other)
    assert AuditEvent.objects.count() == before
    assert not AuditEvent.objects.filter(code__in=[AuditCode.SHARE_APPROVED, AuditCode.GRANT_CREATED]).exists()
    assert Application.objects.count() == 1 and not Grant.objects.exists()
    app.refresh_from_db()
    assert app.status == Application.Status.PROVIDER_REVIEW and app.deadline.closed_at is None


def test_the_audit_chain_verifies_after_a_full_sharing_story(share: Any) -> None:
    org = share.org
    _subscribe(share)
    app = do_answer(org.police_admin, _passed(share), decision="approve")
    do_revoke_grant(org.reviewer, Grant.objects.get(application=app), reason="测试撤销。")
    case = do_open_case(org.market_specialist, entry=share.not_shared, reason="需要。", items=["姓名"],
                        purpose="行政依据")
    do_settle_case(org.reviewer, case, outcome="grant", reason="同意。", expires_on=dt.date(2027, 12, 31))
    do_resolve_error(org.police_admin, _report(share), outcome="corrected", resolution="已更正。")
    check_access(entry=share.conditional, user=org.market_admin, purpose="行政依据", record=True)
    result = audit.verify()
    assert result.ok, result
    assert result.checked == AuditEvent.objects.count()
    sharing_codes = set(AuditEvent.objects.filter(code__gte=3000, code__lt=4000).values_list("code", flat=True))
    assert {AuditCode.GRANT_CREATED, AuditCode.SHARE_APPROVED, AuditCode.GRANT_REVOKED, AuditCode.CASE_SETTLED,
            AuditCode.ERROR_RESOLVED, AuditCode.ACCESS_DENIED} <= sharing_codes


def test_the_entry_being_withdrawn_meanwhile_stops_the_answer(share: Any) -> None:
    app = _passed(share)
    CatalogEntry.objects.filter(pk=share.conditional.pk).update(status=CatalogEntry.Status.WITHDRAWN)
    with pytest.raises(Conflict) as caught:
        do_answer(share.org.police_admin, app, decision="approve")
    assert caught.value.code == "not_published"


def test_remaining_working_days_count_down_on_every_open_object(share: Any) -> None:
    with _travel(at(2026, 12, 1, 10)):
        app = share.apply()
        _subscribe(share)
        report = _report(share)
        case = do_open_case(share.org.market_specialist, entry=share.not_shared, reason="需要。", items=["姓名"],
                            purpose="行政依据")
    today = dt.date(2026, 12, 2)
    assert app.remaining_working_days(today) == 1
    assert report.remaining_working_days(today) == 4
    assert case.remaining_working_days(today) == 9


def test_a_revoked_unconditional_grant_is_not_undone_by_subscribing_again_but_may_be_coordinated(share: Any) -> None:
    from govshare.core.errors import Conflict
    from govshare.sharing.actions import do_open_case, do_revoke_grant, do_subscribe_entry

    org = share.org
    grant = do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    do_revoke_grant(org.police_admin, grant, reason="超出用途使用。")
    with pytest.raises(Conflict) as refused:
        do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    assert refused.value.code == "grant_revoked"
    case = do_open_case(org.market_specialist, entry=share.unconditional, reason="整改完毕，申请恢复。",
                        items=["姓名"], purpose="工作参考")
    assert case.is_open
