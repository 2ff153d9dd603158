"""Issue 3 item 9: the catalog demo data (CAT-1 … CAT-10) — ≥ 200 realistic entries of twelve
departments in every share/open class, taken through the real lifecycle by the actions layer.

The demo is loaded once per test run (through ``load_demo()``, which calls the registered loaders) and
copied into the database for this module (``demo_data_module`` of tests/conftest.py) inside a
transaction that is rolled back at the end; the tests only read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from govshare.catalog import demo
from govshare.catalog.enums import FormatClass, OpenAttribute, ShareType, UpdateCycle
from govshare.catalog.models import (
    CatalogEntry,
    CatalogSnapshot,
    EntryVersion,
    Feedback,
    Project,
    Subscription,
    UpdateTask,
    version_content,
)
from govshare.catalog.validation import check_content
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import load_demo
from govshare.core.models import AuditEvent, Department, User
from govshare.core.policy import get_profile
from govshare.core.roles import Role

DEPARTMENT_CODES = {"LNGA", "LNSJ", "LNRS", "LNWJ", "LNMZ", "LNZR", "LNJT", "LNST", "LNJY", "LNSW", "LNZJ", "LNYB"}


@pytest.fixture(scope="module")
def loaded(demo_data_module: Any) -> None:
    """The demo for the module (loaded once per test run, see tests/conftest.py), rolled back afterwards."""


def published() -> Any:
    return CatalogEntry.objects.filter(status=CatalogEntry.Status.PUBLISHED).select_related(
        "current_version", "current_version__classification").prefetch_related("current_version__items")


# ------------------------------------------------------------------ the vocabulary itself (no database)

def test_the_vocabulary_has_over_200_distinct_names_of_the_twelve_departments() -> None:
    specs = demo.parse_catalog()
    assert len(specs) >= 200
    assert len({s.name for s in specs}) == len(specs)
    assert {s.dept for s in specs} == DEPARTMENT_CODES
    assert min(Counter(s.dept for s in specs).values()) >= 12


def test_every_vocabulary_entry_has_three_to_twelve_typed_items_and_passes_the_guide_rules() -> None:
    specs = demo.parse_catalog()
    codes = demo.plan_codes(specs)
    domains = get_profile("longnan").list("open_data_domains")
    for spec in specs:
        assert 3 <= len(spec.items) <= 12, spec.name
        checked = check_content(demo.content_for(spec, codes), domains=domains)
        assert checked.problems == [], (spec.name, [str(p) for p in checked.problems])


def test_personal_items_are_sensitive_with_a_masking_rule_and_dates_are_dates() -> None:
    item = demo.infer_item
    assert item("*公民身份号码") == {"name": "公民身份号码", "data_type": "C", "length": 18,
                                    "description": "GB 11643 公民身份号码，18位", "is_primary_key": True,
                                    "is_sensitive": True, "masking_rule": demo.MASK_ID}
    assert item("监护人姓名")["masking_rule"] == demo.MASK_NAME
    assert item("联系电话")["is_sensitive"]
    assert not item("法定代表人姓名")["is_sensitive"]
    assert item("出生日期")["data_type"] == "D"
    assert item("罚款金额")["data_type"] == "Y" and item("罚款金额")["length"] == 16
    assert item("床位数")["data_type"] == "I"
    assert item("是否联网")["data_type"] == "L"
    assert item("首班时间:C5")["data_type"] == "C" and item("首班时间:C5")["length"] == 5


# ------------------------------------------------------------------ the loaded demo

def test_the_demo_catalog_has_over_200_entries_from_twelve_providers(loaded: None) -> None:
    assert CatalogEntry.objects.count() >= 200
    providers = set(CatalogEntry.objects.values_list("provider__code", flat=True))
    assert providers >= DEPARTMENT_CODES
    assert published().count() >= 180


def test_every_share_type_open_attribute_update_cycle_and_format_class_is_published(loaded: None) -> None:
    versions = [e.current_version for e in published()]
    shares = Counter(v.share_type for v in versions)
    assert set(shares) == set(ShareType.values)
    assert {v.open_attribute for v in versions} == set(OpenAttribute.values)
    assert {v.update_cycle for v in versions} == set(UpdateCycle.values)
    assert {v.format_class for v in versions} == set(FormatClass.values)
    total = len(versions)
    # roughly half unconditional, a third conditional, the rest not shared
    assert shares[ShareType.UNCONDITIONAL] / total > 0.4
    assert shares[ShareType.CONDITIONAL] / total > 0.25
    assert shares[ShareType.NONE] / total > 0.08


def test_every_published_entry_passes_the_guide_rules(loaded: None) -> None:
    domains = demo.open_data_domains()
    for entry in published():
        checked = check_content(version_content(entry.current_version), domains=domains)
        assert checked.problems == [], (entry.code, [str(p) for p in checked.problems])
        assert 3 <= len(checked.items) <= 12


def test_open_entries_are_unconditionally_shared_with_a_profile_domain(loaded: None) -> None:
    domains = set(demo.open_data_domains())
    open_versions = [e.current_version for e in published() if e.current_version.in_open_catalog]
    assert len(open_versions) >= 30
    for version in open_versions:
        assert version.share_type == ShareType.UNCONDITIONAL
        assert version.domain in domains


def test_related_codes_point_at_existing_entries(loaded: None) -> None:
    codes = set(CatalogEntry.objects.values_list("code", flat=True))
    related = [c for e in published() for c in e.current_version.related_codes]
    assert len(related) >= 40
    assert set(related) <= codes


def test_every_entry_was_created_through_the_actions_by_its_departments_specialist(loaded: None) -> None:
    entries = {str(e.pk): e for e in CatalogEntry.objects.select_related("provider", "created_by")}
    created = AuditEvent.objects.filter(code=AuditCode.ENTRY_CREATED)
    assert created.count() == len(entries)
    for event in created:
        entry = entries[event.object_id]
        assert event.actor_id == entry.created_by_id
        assert event.department_id == entry.provider_id
        assert entry.created_by.has_role(Role.DATA_SPECIALIST)
    published_events = AuditEvent.objects.filter(code=AuditCode.ENTRY_PUBLISHED)
    assert published_events.count() >= published().count()
    reviewer = User.objects.get(username="centre_reviewer")
    assert set(published_events.values_list("actor_id", flat=True)) == {reviewer.pk}


def test_each_department_has_an_appointed_data_specialist(loaded: None) -> None:
    for dept in Department.objects.filter(code__in=DEPARTMENT_CODES):
        members = User.objects.filter(department=dept, is_active=True)
        assert any(u.has_role(Role.DATA_SPECIALIST) for u in members), dept.code
        assert dept.specialists.filter(ended_at__isnull=True).exists(), dept.code


def test_drafts_the_review_queue_and_returned_entries_are_there(loaded: None) -> None:
    assert CatalogEntry.objects.filter(status=CatalogEntry.Status.DRAFT, open_version__state=EntryVersion.State.DRAFT
                                       ).count() >= 8
    queue = EntryVersion.objects.filter(state=EntryVersion.State.SUBMITTED)
    assert queue.count() >= 5
    returned = EntryVersion.objects.filter(state=EntryVersion.State.RETURNED)
    assert returned.count() >= 3
    assert all(v.review_comment for v in returned)


def test_changes_in_their_notice_period_have_subscribers_from_other_departments(loaded: None) -> None:
    now = timezone.now()
    pending = EntryVersion.objects.filter(notice_ends_at__gt=now, entry__status=CatalogEntry.Status.PUBLISHED,
                                          state__in=[EntryVersion.State.APPROVED, EntryVersion.State.SUBMITTED])
    assert pending.filter(state=EntryVersion.State.APPROVED).count() >= 2
    assert pending.count() >= 3
    for version in pending.select_related("entry"):
        subscribers = Subscription.objects.filter(entry=version.entry).select_related("user")
        assert subscribers.count() >= 3
        assert all(s.user.department_id != version.entry.provider_id for s in subscribers)
    assert AuditEvent.objects.filter(code=AuditCode.CHANGE_NOTICE_SENT).count() >= 3


def test_withdrawn_entries_keep_their_history(loaded: None) -> None:
    withdrawn = CatalogEntry.objects.filter(status=CatalogEntry.Status.WITHDRAWN)
    assert 1 <= withdrawn.count() <= 3
    for entry in withdrawn:
        assert entry.versions.filter(kind=EntryVersion.Kind.WITHDRAWAL, state=EntryVersion.State.PUBLISHED).exists()
        assert entry.first_published_at is not None


def test_update_tasks_include_an_overdue_a_completed_and_an_open_one(loaded: None) -> None:
    tasks = list(UpdateTask.objects.select_related("deadline"))
    assert any(t.status == UpdateTask.Status.OPEN and t.is_overdue for t in tasks)
    assert any(t.status == UpdateTask.Status.OPEN and not t.is_overdue for t in tasks)
    assert any(t.status == UpdateTask.Status.COMPLETED for t in tasks)


def test_projects_feedback_and_the_published_snapshot(loaded: None) -> None:
    application = Project.objects.get(stage=Project.Stage.APPLICATION)
    assert application.entries.filter(status=CatalogEntry.Status.DRAFT).exists()
    construction = Project.objects.get(stage=Project.Stage.CONSTRUCTION)
    assert construction.entries.filter(status=CatalogEntry.Status.PUBLISHED).count() >= 2
    assert {f.status for f in Feedback.objects.all()} == set(Feedback.Status.values)
    assert all(f.department_id != f.entry.provider_id for f in Feedback.objects.select_related("entry"))
    snapshot = CatalogSnapshot.objects.get()
    assert snapshot.entry_count == published().count()
    assert snapshot.department_count == len(DEPARTMENT_CODES)


def test_loading_the_demo_again_changes_nothing(loaded: None) -> None:
    before = (CatalogEntry.objects.count(), EntryVersion.objects.count(), AuditEvent.objects.count(),
              User.objects.count())
    load_demo()
    demo.load_catalog_demo()
    after = (CatalogEntry.objects.count(), EntryVersion.objects.count(), AuditEvent.objects.count(),
             User.objects.count())
    assert after == before
