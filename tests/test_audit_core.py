"""The audit path (SEC-4): every action writes its event in the same transaction, with before/after,
actor, department, IP and request id; the chain links every row to the previous one."""

from __future__ import annotations

import pytest
from django.db import transaction

from govshare.core import audit, context
from govshare.core.actions import do_update_department
from govshare.core.audit_codes import AuditCode, domain_of
from govshare.core.errors import ValidationFailed
from govshare.core.models import AuditEvent
from tests.conftest import Org


def test_an_action_records_who_what_where_and_the_changed_fields(org: Org) -> None:
    with context.bind(ip="10.1.2.3", request_id="req-12345678"):
        do_update_department(org.centre_admin, org.police, short_name="龙南公安")
    event = AuditEvent.objects.order_by("-id").first()
    assert event.code == AuditCode.DEPARTMENT_UPDATED
    assert event.actor_username == "admin" and event.actor_id == org.centre_admin.pk
    # 部门 is the actor's department; the object's department has its own column (SEC-4)
    assert event.department_name == "龙南市政务和数据服务中心" and event.department_id == org.centre.pk
    assert event.object_department_name == "龙南市公安局" and event.object_department_id == org.police.pk
    assert event.object_type == "core.department" and event.object_id == str(org.police.pk)
    assert event.changes == {"short_name": ["公安局", "龙南公安"]}
    assert (event.ip, event.request_id) == ("10.1.2.3", "req-12345678")
    assert domain_of(event.code) == "core"


def test_a_failed_action_leaves_neither_the_change_nor_an_audit_event(org: Org) -> None:
    count = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed):
        do_update_department(org.centre_admin, org.police, short_name="新简称", uscc="BAD")
    org.police.refresh_from_db()
    assert org.police.short_name == "公安局"
    assert AuditEvent.objects.count() == count


def test_the_audit_event_rolls_back_with_the_write(org: Org) -> None:
    count = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        do_update_department(org.centre_admin, org.police, short_name="临时")
        raise RuntimeError("the caller fails after the action")
    assert AuditEvent.objects.count() == count


def test_every_row_links_to_the_previous_one_and_verifies(org: Org) -> None:
    rows = list(AuditEvent.objects.order_by("id"))
    assert rows[0].prev_hash == audit.GENESIS
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == prev.row_hash
    result = audit.verify()
    assert result.ok and result.checked == len(rows)


def test_audit_rows_cannot_be_saved_twice_or_deleted(org: Org) -> None:
    event = AuditEvent.objects.first()
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


def test_audit_codes_are_unique_and_grouped_by_domain() -> None:
    codes = [c.value for c in AuditCode]
    assert len(codes) == len(set(codes))
    assert all(1000 <= c < 10000 for c in codes)


def test_every_audit_code_has_a_human_label_in_both_languages() -> None:
    from django.utils import translation

    from govshare.core.audit_codes import _labels, label

    assert set(_labels()) == set(AuditCode)
    with translation.override("zh-hans"):
        assert str(label(AuditCode.LOGIN_FAILED)) == "登录失败"
    with translation.override("en"):
        assert str(label(AuditCode.LOGIN_FAILED)) == "Login failed"
