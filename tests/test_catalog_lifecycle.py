"""CAT-3, CAT-4: the entry lifecycle, versions and change notices."""

from __future__ import annotations

from typing import Any

import pytest

from govshare.catalog.actions import (
    do_approve,
    do_edit_entry,
    do_request_withdrawal,
    do_return,
    do_submit,
    do_subscribe,
)
from govshare.catalog.models import CatalogEntry, EntryVersion
from govshare.core.errors import Conflict
from tests.catalog_helpers import content


def test_a_new_entry_gets_a_generated_resource_code_under_its_classification(cat: Any) -> None:
    first = cat.draft()
    second = cat.draft(name="暂住人口信息")
    assert first.code == "301/000001"
    assert second.code == "301/000002"
    assert first.status == CatalogEntry.Status.DRAFT


def test_submit_then_approve_publishes_version_one(cat: Any) -> None:
    entry = cat.published()
    assert entry.status == CatalogEntry.Status.PUBLISHED
    assert entry.current_version.number == 1
    assert entry.open_version is None


def test_editing_a_published_entry_without_subscribers_publishes_after_review(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_edit_entry(org.police_specialist, entry, content(name="户籍人口基本信息（新）"), change_reason="新增字段")
    entry.refresh_from_db()
    assert entry.current_version.number == 1 and entry.open_version.number == 2
    do_submit(org.police_specialist, entry)
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.current_version.number == 2
    assert EntryVersion.objects.get(entry=entry, number=1).state == EntryVersion.State.SUPERSEDED


def test_a_change_with_subscribers_waits_for_the_notice_period(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_edit_entry(org.police_specialist, entry, content(summary="变更后的摘要"), change_reason="职能调整")
    do_submit(org.police_specialist, entry)
    entry.refresh_from_db()
    assert entry.open_version.notice_ends_at is not None
    assert org.market_specialist.notifications.filter(kind="catalog.change_notice").exists()
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.open_version.state == EntryVersion.State.APPROVED
    assert entry.current_version.number == 1
    with pytest.raises(Conflict) as err:
        do_request_withdrawal(org.police_specialist, entry, reason="撤销")
    assert err.value.code == "notice_period_running"


def test_returning_needs_a_comment_and_the_draft_can_be_resubmitted(cat: Any) -> None:
    org = cat.org
    entry = cat.draft()
    do_submit(org.police_specialist, entry)
    do_return(org.reviewer, entry, comment="请补充共享依据")
    entry.refresh_from_db()
    assert entry.open_version.state == EntryVersion.State.RETURNED
    do_submit(org.police_specialist, entry)
    entry.refresh_from_db()
    assert entry.open_version.state == EntryVersion.State.SUBMITTED


# ---------------------------------------------------------------- invalid transitions

from datetime import timedelta  # noqa: E402

from django.utils import timezone  # noqa: E402

from govshare.catalog.actions import (  # noqa: E402
    apply_due_changes,
    do_discard_draft,
    do_open_version,
    do_unsubscribe,
    do_update_draft,
)
from govshare.catalog.diff import diff_versions, previous_version  # noqa: E402
from govshare.core import audit  # noqa: E402
from govshare.core.audit_codes import AuditCode  # noqa: E402
from govshare.core.errors import Forbidden, NotFound, ValidationFailed  # noqa: E402
from govshare.core.models import AuditEvent  # noqa: E402


def test_a_draft_cannot_be_approved_without_being_submitted(cat: Any) -> None:
    entry = cat.draft()
    with pytest.raises(Conflict) as err:
        do_approve(cat.org.reviewer, entry)
    assert err.value.code == "invalid_transition"
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.DRAFT


def test_a_department_cannot_approve_its_own_entry(cat: Any) -> None:
    entry = cat.draft()
    do_submit(cat.org.police_specialist, entry)
    with pytest.raises(Forbidden):
        do_approve(cat.org.police_admin, entry)


def test_a_reviewer_cannot_approve_a_version_they_submitted(cat: Any) -> None:
    org = cat.org
    entry = cat.draft(org.centre_admin, classification="399", name="政务数据目录汇总")
    do_submit(org.centre_admin, entry)
    with pytest.raises(Forbidden) as err:
        do_approve(org.centre_admin, entry)
    assert err.value.code == "own_submission"
    do_approve(org.reviewer, entry)  # another reviewer may


def test_a_colleague_edits_the_department_draft_but_an_outsider_gets_404(cat: Any) -> None:
    org = cat.org
    entry = cat.draft()
    do_update_draft(org.police_admin, entry, content(summary="同事修改"))  # colleague
    with pytest.raises(NotFound):
        do_update_draft(org.market_specialist, entry, content(summary="外部修改"))  # outsider
    with pytest.raises(NotFound):
        do_submit(org.market_admin, entry)
    audit.flush_pending()  # what the request middleware and the CLI do after an action
    denied = AuditEvent.objects.filter(code=AuditCode.PERMISSION_DENIED, object_id=str(entry.pk))
    assert denied.exists()


def test_an_outsider_who_sees_a_published_entry_still_cannot_change_it(cat: Any) -> None:
    entry = cat.published()
    with pytest.raises(Forbidden):
        do_open_version(cat.org.market_specialist, entry, change_reason="想改")


def test_a_withdrawn_entry_cannot_be_edited(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_request_withdrawal(org.police_specialist, entry, reason="职能划转")
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.WITHDRAWN
    with pytest.raises(Conflict) as err:
        do_edit_entry(org.police_specialist, entry, content(), change_reason="再改")
    assert err.value.code == "entry_withdrawn"


def test_a_new_version_of_a_published_entry_needs_a_reason(cat: Any) -> None:
    entry = cat.published()
    with pytest.raises(ValidationFailed) as err:
        do_open_version(cat.org.police_specialist, entry, change_reason="  ")
    assert err.value.field == "change_reason"


def test_only_one_version_can_be_in_progress(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_open_version(org.police_specialist, entry, change_reason="改一")
    with pytest.raises(Conflict) as err:
        do_open_version(org.police_specialist, entry, change_reason="改二")
    assert err.value.code == "version_in_progress"
    with pytest.raises(Conflict):
        do_request_withdrawal(org.police_specialist, entry, reason="撤")


def test_the_resource_code_is_immutable_once_published(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    with pytest.raises(ValidationFailed) as err:
        do_edit_entry(org.police_specialist, entry, content(classification="101"), change_reason="改分类")
    assert err.value.code == "code_immutable"


def test_a_draft_moved_to_another_classification_gets_a_new_code(cat: Any) -> None:
    entry = cat.draft()
    do_update_draft(cat.org.police_specialist, entry, content(classification="101"))
    entry.refresh_from_db()
    assert entry.code == "101/000001"


def test_discarding_a_never_published_draft_removes_it_and_is_audited(cat: Any) -> None:
    entry = cat.draft()
    code = entry.code
    assert do_discard_draft(cat.org.police_specialist, entry) is None
    assert not CatalogEntry.objects.filter(code=code).exists()
    assert AuditEvent.objects.filter(code=AuditCode.ENTRY_DRAFT_DISCARDED).exists()


def test_discarding_a_new_version_keeps_the_published_one(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_edit_entry(org.police_specialist, entry, content(name="草稿名"), change_reason="试改")
    do_discard_draft(org.police_specialist, entry)
    entry.refresh_from_db()
    assert entry.open_version is None and entry.current_version.name == "户籍人口基本信息"


# ---------------------------------------------------------------- versions and diffs

def test_history_keeps_every_version_with_a_field_diff(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    new_items = content()["items"][:2] + [{"name": "户籍地址", "data_type": "C", "length": 200}]
    do_edit_entry(org.police_specialist, entry, content(update_cycle="weekly", items=new_items),
                  change_reason="调整更新周期")
    do_submit(org.police_specialist, entry)
    do_approve(org.reviewer, entry)
    v2 = EntryVersion.objects.get(entry=entry, number=2)
    assert previous_version(v2).number == 1
    changes = diff_versions(previous_version(v2), v2)
    by_field = {(c["field"], c.get("item")): c for c in changes}
    assert by_field[("update_cycle", None)]["before"] == "daily"
    assert by_field[("update_cycle", None)]["after"] == "weekly"
    assert by_field[("items", "户籍地址")]["change"] == "added"
    assert by_field[("items", "出生日期")]["change"] == "removed"
    assert entry.versions.count() == 2


# ---------------------------------------------------------------- notice period (CAT-4)

def _pending_change(cat: Any) -> CatalogEntry:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_edit_entry(org.police_specialist, entry, content(summary="新的摘要"), change_reason="职能调整")
    do_submit(org.police_specialist, entry)
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    return entry


def test_the_notice_period_comes_from_the_profile(cat: Any) -> None:
    entry = _pending_change(cat)
    version = entry.open_version
    days = (timezone.localtime(version.notice_ends_at).date() - timezone.localtime(version.notice_started_at).date()).days
    assert 28 <= days <= 31  # 龙南: one month (LN-§8)
    event = AuditEvent.objects.get(code=AuditCode.CHANGE_NOTICE_SENT)
    assert event.detail["source"] == "LN-§8"


def test_an_approved_change_takes_effect_only_after_the_notice_period(cat: Any) -> None:
    entry = _pending_change(cat)
    assert apply_due_changes() == 0
    entry.refresh_from_db()
    assert entry.current_version.number == 1
    later = entry.open_version.notice_ends_at + timedelta(seconds=1)
    assert apply_due_changes(now=later) == 1
    assert apply_due_changes(now=later) == 0  # idempotent: claimed once
    entry.refresh_from_db()
    assert entry.current_version.number == 2 and entry.open_version is None
    assert cat.org.market_specialist.notifications.filter(kind="catalog.effective").exists()


def test_approval_after_the_notice_period_publishes_at_once(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_edit_entry(org.police_specialist, entry, content(summary="新摘要"), change_reason="调整")
    do_submit(org.police_specialist, entry)
    EntryVersion.objects.filter(entry=entry, number=2).update(notice_ends_at=timezone.now() - timedelta(days=1))
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.current_version.number == 2


def test_withdrawal_with_subscribers_waits_for_notice_and_then_withdraws(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_request_withdrawal(org.police_specialist, entry, reason="数据停止采集")
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PUBLISHED
    apply_due_changes(now=entry.open_version.notice_ends_at + timedelta(minutes=1))
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.WITHDRAWN


def test_a_returned_withdrawal_leaves_the_entry_published(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_request_withdrawal(org.police_specialist, entry, reason="撤销")
    do_return(org.reviewer, entry, comment="仍有部门在用")
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PUBLISHED and entry.open_version is None


def test_unsubscribed_users_get_no_notice(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_unsubscribe(org.market_specialist, entry)
    do_edit_entry(org.police_specialist, entry, content(summary="x摘要"), change_reason="调整")
    do_submit(org.police_specialist, entry)
    entry.refresh_from_db()
    assert entry.open_version.notice_started_at is None
    assert not org.market_specialist.notifications.filter(kind="catalog.change_notice").exists()


def test_the_public_cannot_subscribe(cat: Any) -> None:
    entry = cat.published(open_attribute="open", domain="社保")
    with pytest.raises(Forbidden):
        do_subscribe(cat.org.citizen, entry)


def test_every_lifecycle_step_is_audited(cat: Any) -> None:
    entry = cat.published()
    codes = set(AuditEvent.objects.filter(object_id=str(entry.pk), object_type="catalog.catalogentry")
                .values_list("code", flat=True))
    assert {AuditCode.ENTRY_CREATED, AuditCode.ENTRY_SUBMITTED, AuditCode.ENTRY_APPROVED,
            AuditCode.ENTRY_PUBLISHED} <= codes


def test_one_transaction_sends_all_its_changed_entries_to_one_index_task(
        cat: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    from django.db import transaction

    from govshare.catalog import search_tasks

    batches: list[list[int]] = []
    monkeypatch.setattr(search_tasks, "enqueue_index", lambda ids: batches.append(list(ids)))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = cat.draft(name="甲")
        second = cat.draft(name="乙")
    assert batches == [sorted([first.pk, second.pk])]
    with django_capture_on_commit_callbacks(execute=True):
        third = cat.draft(name="丙")
    assert batches[-1] == [third.pk]


def test_approval_rechecks_the_rules_in_force(cat: Any) -> None:
    from govshare.catalog.actions import do_create_classification, do_update_classification
    from govshare.catalog.models import Classification

    org = cat.org
    node = do_create_classification(org.centre_admin, code="301001", name="人口管理", parent=cat.police_class)
    entry = cat.draft(classification="301001")
    do_submit(org.police_specialist, entry)
    do_update_classification(org.centre_admin, Classification.objects.get(code="301001"), is_active=False)
    with pytest.raises(ValidationFailed) as err:
        do_approve(org.reviewer, entry)
    assert err.value.field == "classification"
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.DRAFT
    assert node.pk


def test_renaming_a_department_reindexes_its_entries(
        cat: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    from govshare.catalog import search_tasks
    from govshare.core.actions import do_update_department

    batches: list[list[int]] = []
    monkeypatch.setattr(search_tasks, "enqueue_index", lambda ids: batches.append(list(ids)))
    with django_capture_on_commit_callbacks(execute=True):
        entry = cat.draft()
    with django_capture_on_commit_callbacks(execute=True):
        do_update_department(cat.org.centre_admin, cat.org.police, short_name="公安局")  # unchanged: nothing to do
    with django_capture_on_commit_callbacks(execute=True):
        do_update_department(cat.org.centre_admin, cat.org.police, name="龙南市公安分局")
    assert batches == [[entry.pk], [entry.pk]]
