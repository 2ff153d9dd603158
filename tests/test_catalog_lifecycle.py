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
