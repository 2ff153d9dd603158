"""The one access check every channel calls (SHR-4): who may receive which items of which entry for
which purpose — and, when not, every reason with its code and a message a person can act on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from govshare.catalog.models import CatalogEntry
from govshare.core.actions import do_deactivate_user, do_update_department
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, User
from govshare.core.roles import Role
from govshare.sharing.access import Decision, check_access
from govshare.sharing.actions import (
    do_answer,
    do_first_review,
    do_register_system,
    do_revoke_grant,
    do_set_system_active,
    do_subscribe_entry,
)
from govshare.sharing.models import Grant

pytestmark = pytest.mark.django_db

PURPOSE = "行政依据"


@pytest.fixture
def granted(share: Any) -> Grant:
    """The market holds a conditional grant: 公民身份号码 + 姓名, for 行政依据, through the api, for its
    registration system, until 2027-12-31."""
    app = do_first_review(share.org.reviewer, share.apply(), decision="pass")
    do_answer(share.org.police_admin, app, decision="approve")
    return Grant.objects.get(application=app)


def _ask(share: Any, **kwargs: Any) -> Decision:
    kwargs.setdefault("entry", share.conditional)
    kwargs.setdefault("purpose", PURPOSE)
    if "user" not in kwargs:
        kwargs.setdefault("system", share.market_system)
    return check_access(**kwargs)


def _denied_for(decision: Decision, *codes: str) -> None:
    assert not decision.allowed and decision.grant is None and decision.basis == ""
    assert [r.code for r in decision.reasons] == list(codes), decision.as_dict()
    for reason in decision.reasons:
        assert reason.message.strip()  # zh / en (identical until the translations are merged)
        assert reason.as_dict() == {"code": reason.code, "message": reason.message,  # 中文 / English, and each alone
                                    "message_zh": reason.message.render("zh-hans"),
                                    "message_en": reason.message.render("en")}
    for language in ("zh-hans", "en"):  # a web page shows the explanation in the reader's language only
        assert decision.explain().render(language) == "; ".join(r.message.render(language) for r in decision.reasons)


# ------------------------------------------------------------------ allowed

def test_a_system_named_in_the_grant_receives_the_granted_items(share: Any, granted: Grant) -> None:
    decision = _ask(share, items=["姓名"], channel="api")
    assert decision.allowed and decision.basis == "grant" and decision.grant == granted
    assert decision.items == ["姓名"] and decision.reasons == []
    assert granted.number in decision.explain()
    assert decision.as_dict()["grant"] == granted.number


def test_without_items_every_item_of_the_entry_is_asked_for(share: Any, granted: Grant) -> None:
    decision = _ask(share)
    assert decision.items == ["公民身份号码", "姓名", "出生日期"]
    _denied_for(decision, "items_not_granted")
    assert "出生日期" in decision.reasons[0].message


def test_masking_is_returned_only_for_the_items_asked_for(share: Any, granted: Grant) -> None:
    assert granted.masking == {"公民身份号码": "保留前6位和后4位", "姓名": "保留姓"}
    assert _ask(share, items=["姓名"]).masking == {"姓名": "保留姓"}
    assert _ask(share, items=["公民身份号码", "姓名"]).masking == granted.masking


def test_the_department_reads_its_own_data_without_a_grant(share: Any) -> None:
    for who in ({"user": share.org.police_specialist}, {"user": share.org.police_admin},
                {"system": share.police_system}):
        decision = check_access(entry=share.not_shared, purpose="工作参考", **who)
        assert decision.allowed and decision.basis == "own_data" and decision.grant is None
        assert decision.explain()


def test_a_department_user_uses_an_unconditional_grant_without_a_system(share: Any) -> None:
    grant = do_subscribe_entry(share.org.market_specialist, share.unconditional, purpose=PURPOSE)
    decision = check_access(entry=share.unconditional, user=share.org.market_admin, purpose=PURPOSE)
    assert decision.allowed and decision.grant == grant
    assert check_access(entry=share.unconditional.pk, system=share.market_system, purpose=PURPOSE).allowed


def test_an_open_error_report_or_anything_else_never_blocks_a_valid_grant(share: Any, granted: Grant) -> None:
    from govshare.sharing.actions import do_report_error

    do_report_error(share.org.market_specialist, entry=share.conditional, record_keys="1", field="姓名",
                    description="疑似错误。")
    assert _ask(share, items=["姓名"]).allowed


def test_the_best_of_several_grants_allows(share: Any, granted: Grant) -> None:
    do_revoke_grant(share.org.police_admin, granted, reason="改用新授权。")
    app = do_first_review(share.org.reviewer, share.apply(purpose="数据校核"), decision="pass")
    newer = Grant.objects.get(application=do_answer(share.org.police_admin, app, decision="approve"))
    assert _ask(share, items=["姓名"], purpose="数据校核").grant == newer
    _denied_for(_ask(share, items=["姓名"]), "wrong_purpose")  # the newer grant is the closer one


# ------------------------------------------------------------------ every denial, by code

def test_who_missing_when_neither_or_both_a_user_and_a_system_are_named(share: Any) -> None:
    _denied_for(check_access(entry=share.conditional, purpose=PURPOSE), "who_missing")
    _denied_for(check_access(entry=share.conditional, purpose=PURPOSE, user=share.org.market_admin,
                             system=share.market_system), "who_missing")


def test_system_inactive(share: Any, granted: Grant) -> None:
    do_set_system_active(share.org.market_admin, share.market_system, False)
    share.market_system.refresh_from_db()
    _denied_for(_ask(share, items=["姓名"]), "system_inactive")


def test_department_inactive_for_its_systems_and_its_users(share: Any, granted: Grant) -> None:
    do_subscribe_entry(share.org.market_specialist, share.unconditional, purpose=PURPOSE)
    do_update_department(share.org.centre_admin, share.org.market, is_active=False)
    system = type(share.market_system).objects.get(pk=share.market_system.pk)
    _denied_for(_ask(share, system=system, items=["姓名"]), "department_inactive")
    user = User.objects.get(pk=share.org.market_specialist.pk)
    _denied_for(check_access(entry=share.unconditional, user=user, purpose=PURPOSE), "department_inactive")


def test_not_signed_in(share: Any) -> None:
    _denied_for(check_access(entry=share.conditional, user=AnonymousUser(), purpose=PURPOSE), "not_signed_in")
    do_deactivate_user(share.org.centre_admin, share.org.market_specialist, "调离。")
    gone = User.objects.get(pk=share.org.market_specialist.pk)
    _denied_for(check_access(entry=share.conditional, user=gone, purpose=PURPOSE), "not_signed_in")


def test_auditor(share: Any) -> None:
    _denied_for(check_access(entry=share.conditional, user=share.org.auditor, purpose=PURPOSE), "auditor")


def test_not_government(share: Any) -> None:
    _denied_for(check_access(entry=share.unconditional, user=share.org.citizen, purpose=PURPOSE), "not_government")


def test_no_department(share: Any) -> None:
    lost = share.org.user("drifter", share.org.market, Role.DATA_SPECIALIST)
    User.objects.filter(pk=lost.pk).update(department=None)  # an account whose department was taken away
    lost = User.objects.get(pk=lost.pk)
    _denied_for(check_access(entry=share.unconditional, user=lost, purpose=PURPOSE), "no_department")


def test_entry_not_published(share: Any) -> None:
    draft = share.cat.draft(name="暂住人口信息")
    _denied_for(check_access(entry=draft, user=share.org.police_admin, purpose=PURPOSE), "entry_not_published")
    CatalogEntry.objects.filter(pk=share.unconditional.pk).update(status=CatalogEntry.Status.WITHDRAWN)
    _denied_for(check_access(entry=share.unconditional.pk, user=share.org.police_admin, purpose=PURPOSE),
                "entry_not_published")


def test_no_such_entry(share: Any) -> None:
    decision = check_access(entry=987654, user=share.org.market_admin, purpose=PURPOSE)
    _denied_for(decision, "no_such_entry")
    assert decision.entry_id is None


def test_unknown_items_are_named(share: Any, granted: Grant) -> None:
    decision = _ask(share, items=["姓名", "血型"])
    _denied_for(decision, "unknown_items")
    assert "血型" in decision.reasons[0].message


def test_no_grant(share: Any) -> None:
    decision = check_access(entry=share.conditional, user=share.org.market_admin, purpose=PURPOSE)
    _denied_for(decision, "no_grant")
    assert share.conditional.code in decision.reasons[0].message
    _denied_for(check_access(entry=share.conditional, user=share.org.reviewer, purpose=PURPOSE), "no_grant")


def test_grant_revoked(share: Any, granted: Grant) -> None:
    do_revoke_grant(share.org.police_admin, granted, reason="超范围使用。")
    _denied_for(_ask(share, items=["姓名"]), "grant_revoked")


def test_grant_expired(share: Any, granted: Grant) -> None:
    assert _ask(share, items=["姓名"], today=dt.date(2027, 12, 31)).allowed  # the last day still counts
    decision = _ask(share, items=["姓名"], today=dt.date(2028, 1, 1))
    _denied_for(decision, "grant_expired")
    assert "2027-12-31" in decision.reasons[0].message


def test_grant_not_yet_valid(share: Any) -> None:
    start = timezone.localdate() + dt.timedelta(days=10)
    app = do_first_review(share.org.reviewer, share.apply(period_start=start), decision="pass")
    grant = Grant.objects.get(application=do_answer(share.org.police_admin, app, decision="approve"))
    assert grant.valid_from == start
    _denied_for(_ask(share, items=["姓名"]), "grant_not_yet_valid")
    assert _ask(share, items=["姓名"], today=start).allowed


def test_wrong_system(share: Any, granted: Grant) -> None:
    other = do_register_system(share.org.market_admin, name="市场监管执法系统", code="SJ-ZF")
    _denied_for(_ask(share, system=other, items=["姓名"]), "wrong_system")
    _denied_for(check_access(entry=share.conditional, user=share.org.market_admin, purpose=PURPOSE, items=["姓名"]),
                "wrong_system")  # the grant names the system: a person of the department is not it


def test_wrong_purpose(share: Any, granted: Grant) -> None:
    decision = _ask(share, items=["姓名"], purpose="工作参考")
    _denied_for(decision, "wrong_purpose")
    assert "行政依据" in decision.reasons[0].message and "工作参考" in decision.reasons[0].message


def test_wrong_channel(share: Any, granted: Grant) -> None:
    _denied_for(_ask(share, items=["姓名"], channel="table"), "wrong_channel")
    assert _ask(share, items=["姓名"], channel="api").allowed


def test_items_not_granted(share: Any, granted: Grant) -> None:
    decision = _ask(share, items=["姓名", "出生日期"])
    _denied_for(decision, "items_not_granted")
    assert "出生日期" in decision.reasons[0].message and "姓名" not in decision.reasons[0].message


def test_several_problems_with_one_grant_are_all_explained(share: Any, granted: Grant) -> None:
    other = do_register_system(share.org.market_admin, name="市场监管执法系统", code="SJ-ZF")
    _denied_for(_ask(share, system=other, purpose="工作参考", channel="file", items=["出生日期"]),
                "wrong_system", "wrong_purpose", "wrong_channel", "items_not_granted")


# ------------------------------------------------------------------ recording and cost

def test_record_writes_a_denial_to_the_audit_log_and_an_allowed_check_writes_nothing(share: Any,
                                                                                    granted: Grant) -> None:
    before = AuditEvent.objects.count()
    _ask(share, items=["姓名"], record=True)
    _ask(share, items=["姓名"], purpose="工作参考")  # not recorded: a screen that only explains
    assert AuditEvent.objects.count() == before
    _ask(share, items=["姓名"], purpose="工作参考", channel="api", record=True)
    event = AuditEvent.objects.get(code=AuditCode.ACCESS_DENIED)
    assert event.outcome == "denied" and event.object_id == str(share.conditional.pk)
    assert event.detail["reasons"] == ["wrong_purpose"] and event.detail["system"] == "SJ-DJ"
    assert event.detail["purpose"] == "工作参考" and event.detail["channel"] == "api"
    check_access(entry=share.conditional, user=share.org.market_admin, purpose=PURPOSE, items=["姓名"], record=True)
    by_user = AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED).order_by("-id").first()
    assert by_user.actor_id == share.org.market_admin.pk and by_user.detail["reasons"] == ["wrong_system"]


def test_one_check_costs_a_small_constant_number_of_queries(share: Any, granted: Grant,
                                                             django_assert_num_queries: Any) -> None:
    system = type(share.market_system).objects.select_related("department").get(pk=share.market_system.pk)
    entry = CatalogEntry.objects.select_related("current_version").get(pk=share.conditional.pk)
    with django_assert_num_queries(2):  # the entry's items, the department's grants
        assert check_access(entry=entry, system=system, purpose=PURPOSE, items=["姓名"]).allowed
    # more grants (revoked, other purposes) do not cost more
    for purpose in ("工作参考", "数据校核", "业务协同"):
        app = do_first_review(share.org.reviewer, share.apply(purpose=purpose), decision="pass")
        do_answer(share.org.police_admin, app, decision="approve")
    do_revoke_grant(share.org.police_admin, granted, reason="换发。")
    with django_assert_num_queries(2):
        assert not check_access(entry=entry, system=system, purpose=PURPOSE, items=["姓名"]).allowed
    with django_assert_num_queries(3):  # by id: the entry is read first
        check_access(entry=entry.pk, system=system, purpose="业务协同", items=["姓名"])
    user = User.objects.select_related("department").get(pk=share.org.police_admin.pk)
    with django_assert_num_queries(2):  # own data: the user's roles and the entry's items
        assert check_access(entry=entry, user=user, purpose=PURPOSE).allowed
