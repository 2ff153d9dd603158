"""CAT-5 update tasks, CAT-7 snapshots, CAT-8 projects, CAT-10 feedback, and the centre's tree/synonyms."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from govshare.catalog.actions import (
    do_answer_feedback,
    do_attach_entry,
    do_cancel_update_task,
    do_close_feedback,
    do_complete_update_task,
    do_create_classification,
    do_create_project,
    do_delete_synonym,
    do_move_project,
    do_open_update_task,
    do_publish_snapshot,
    do_raise_feedback,
    do_set_synonym,
    do_update_classification,
    notify_overdue,
)
from govshare.catalog.models import CatalogSnapshot, Classification, Feedback, Project, Synonym, UpdateTask
from govshare.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.core.models import Deadline
from govshare.core.workdays import add_working_days

# ---------------------------------------------------------------- update tasks (CAT-5)


def test_an_update_task_is_due_the_profiles_working_days_after_the_change(cat: Any) -> None:
    org = cat.org
    change = dt.date(2026, 9, 28)
    task = do_open_update_task(org.reviewer, department=org.police, reason="law", title="《户口登记条例》修订",
                               change_date=change)
    expected = add_working_days(change, 15, "longnan")  # national N51-§8, inherited by 龙南
    assert timezone.localtime(task.due_at).date() == expected
    assert expected == dt.date(2026, 10, 23)  # 1–7 Oct not counted; Sat 10 Oct is a make-up workday
    assert Deadline.objects.get(pk=task.deadline_id).kind == "catalog_update_after_change"
    assert org.police_specialist.notifications.filter(kind="catalog.update_task").exists()


def test_an_overdue_task_is_flagged_and_announced_once(cat: Any) -> None:
    org = cat.org
    task = do_open_update_task(org.reviewer, department=org.police, reason="function", title="职能调整",
                               change_date=timezone.localdate() - dt.timedelta(days=60))
    assert task.is_overdue and task.remaining_working_days() < 0
    assert notify_overdue() == 1
    assert notify_overdue() == 0
    assert org.police_admin.notifications.filter(kind="catalog.update_task_overdue").count() == 1


def test_the_department_completes_its_task_and_an_outsider_cannot(cat: Any) -> None:
    org = cat.org
    task = do_open_update_task(org.reviewer, department=org.police, reason="law", title="法规修订",
                               change_date=timezone.localdate())
    with pytest.raises(NotFound):
        do_complete_update_task(org.market_admin, task, note="不是我的")  # outsider
    with pytest.raises(ValidationFailed):
        do_complete_update_task(org.police_specialist, task, note="")
    done = do_complete_update_task(org.police_admin, task, note="已更新 3 条目录")  # colleague of the owner
    assert done.status == UpdateTask.Status.COMPLETED and not done.is_overdue
    assert Deadline.objects.get(pk=done.deadline_id).closed_at is not None
    with pytest.raises(Conflict):
        do_complete_update_task(org.police_admin, task, note="再次")


def test_only_the_centre_opens_and_cancels_update_tasks(cat: Any) -> None:
    org = cat.org
    with pytest.raises(Forbidden):
        do_open_update_task(org.police_admin, department=org.police, reason="law", title="自己开",
                            change_date=timezone.localdate())
    task = do_open_update_task(org.centre_admin, department=org.market, reason="other", title="机构改革",
                               change_date=timezone.localdate())
    with pytest.raises(Forbidden):
        do_cancel_update_task(org.market_admin, task, reason="不想做")
    assert do_cancel_update_task(org.reviewer, task, reason="重复").status == UpdateTask.Status.CANCELLED


def test_an_update_task_with_an_unknown_reason_is_refused(cat: Any) -> None:
    with pytest.raises(ValidationFailed) as err:
        do_open_update_task(cat.org.reviewer, department=cat.org.police, reason="whim", title="x",
                            change_date=timezone.localdate())
    assert err.value.field == "reason"


# ---------------------------------------------------------------- projects (CAT-8)


def test_a_project_cannot_be_approved_or_accepted_without_a_published_entry(cat: Any) -> None:
    org = cat.org
    project = do_create_project(org.police_admin, name="智慧警务平台", code="LN-2026-001")
    draft = cat.draft()
    do_attach_entry(org.police_specialist, draft, project)
    with pytest.raises(Conflict) as err:
        do_move_project(org.police_admin, project, stage="construction")
    assert err.value.code == "project_needs_catalog"
    cat.publish(draft)
    project = do_move_project(org.police_admin, project, stage="construction")
    assert project.stage == Project.Stage.CONSTRUCTION and project.approved_at
    project = do_move_project(org.police_admin, project, stage="acceptance")
    assert project.accepted_at


def test_a_project_moves_one_stage_at_a_time(cat: Any) -> None:
    org = cat.org
    project = do_create_project(org.police_admin, name="人口库", code="LN-2026-002")
    do_attach_entry(org.police_specialist, cat.published(), project)
    with pytest.raises(Conflict) as err:
        do_move_project(org.police_admin, project, stage="acceptance")
    assert err.value.code == "invalid_transition"


def test_projects_belong_to_their_department(cat: Any) -> None:
    org = cat.org
    project = do_create_project(org.police_admin, name="项目", code="LN-2026-003")
    with pytest.raises(NotFound):
        do_move_project(org.market_admin, project, stage="construction")  # outsider
    market_entry = cat.draft(org.market_specialist)
    with pytest.raises(NotFound):
        do_attach_entry(org.market_specialist, market_entry, project)
    with pytest.raises(Conflict):
        do_create_project(org.police_specialist, name="重复", code="LN-2026-003")


# ---------------------------------------------------------------- feedback (CAT-10)


def test_feedback_is_raised_answered_and_closed_with_timestamps(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    fb = do_raise_feedback(org.market_specialist, entry, kind="error", description="出生日期字段类型应为 D",
                           field_name="出生日期")
    assert org.police_specialist.notifications.filter(kind="catalog.feedback").exists()
    with pytest.raises(Forbidden):
        do_answer_feedback(org.market_specialist, fb, answer="自己答")  # the raiser is not the provider
    with pytest.raises(Conflict):
        do_close_feedback(org.police_admin, fb)  # the provider answers first
    fb = do_answer_feedback(org.police_admin, fb, answer="已核实并更正")
    fb = do_close_feedback(org.police_specialist, fb)
    assert fb.status == Feedback.Status.CLOSED
    assert fb.raised_at <= fb.answered_at <= fb.closed_at


def test_an_outsider_neither_sees_nor_answers_other_feedback(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    fb = do_raise_feedback(org.police_admin, entry, kind="doubt", description="更新周期是否为每日？")
    with pytest.raises(NotFound):
        do_answer_feedback(org.market_admin, fb, answer="?")


def test_the_public_cannot_raise_catalog_feedback(cat: Any) -> None:
    entry = cat.published(open_attribute="open", domain="社保")
    with pytest.raises(Forbidden):
        do_raise_feedback(cat.org.citizen, entry, kind="doubt", description="?")


def test_feedback_on_a_draft_is_refused(cat: Any) -> None:
    with pytest.raises(NotFound):
        do_raise_feedback(cat.org.market_specialist, cat.draft(), kind="doubt", description="?")


# ---------------------------------------------------------------- snapshots (CAT-7)


def test_a_snapshot_holds_the_published_catalog_numbered_and_checksummed(cat: Any) -> None:
    org = cat.org
    cat.published()
    cat.published(org.market_specialist, name="市场主体登记信息")
    cat.draft(name="未发布")
    first = do_publish_snapshot(org.centre_admin, org.county, title="2026 年第四季度目录")
    second = do_publish_snapshot(org.centre_admin, org.county, title="2026 年第四季度目录（更新）")
    assert (first.number, second.number) == (1, 2)
    assert first.entry_count == 2 and first.department_count == 2
    assert {e["name"] for e in first.content["entries"]} == {"户籍人口基本信息", "市场主体登记信息"}
    assert len(first.sha256) == 64
    with pytest.raises(Forbidden):
        do_publish_snapshot(org.reviewer, org.county, title="x")
    assert CatalogSnapshot.objects.count() == 2


# ---------------------------------------------------------------- classification tree and synonyms


def test_the_centre_extends_the_tree_with_codes_of_the_right_length(cat: Any) -> None:
    org = cat.org
    parent = Classification.objects.get(code="101")
    node = do_create_classification(org.centre_admin, code="101001", name="人口基本信息", parent=parent)
    assert node.level == 3 and node.kind == "basic"
    detail = do_create_classification(org.centre_admin, code="10100101", name="户籍人口", parent=node)
    assert detail.level == 4
    for code, parent_node in [("10101", parent), ("2010", Classification.objects.get(code="201")),
                              ("301", Classification.objects.get(code="3"))]:
        with pytest.raises((ValidationFailed, Conflict)):
            do_create_classification(org.centre_admin, code=code, name="坏", parent=parent_node,
                                     department=org.police if code.startswith("3") else None)


def test_a_classification_with_active_children_cannot_be_deactivated(cat: Any) -> None:
    org = cat.org
    with pytest.raises(Conflict):
        do_update_classification(org.centre_admin, Classification.objects.get(code="3"), is_active=False)
    node = do_update_classification(org.centre_admin, cat.market_class, name="市场监管信息资源")
    assert node.name == "市场监管信息资源"
    with pytest.raises(Forbidden):
        do_update_classification(org.police_admin, cat.police_class, name="x")


def test_the_centre_edits_synonyms_and_others_cannot(cat: Any) -> None:
    org = cat.org
    assert Synonym.objects.get(term="社保").expansions[0] == "社会保险"
    do_set_synonym(org.centre_admin, "一网通办", "政务服务、网上办事")
    assert Synonym.objects.get(term="一网通办").expansions == ["政务服务", "网上办事"]
    with pytest.raises(Forbidden):
        do_set_synonym(org.reviewer, "社保", ["x"])
    with pytest.raises(ValidationFailed):
        do_set_synonym(org.centre_admin, "空", [])
    do_delete_synonym(org.centre_admin, "一网通办")
    assert not Synonym.objects.filter(term="一网通办").exists()
