"""Issue 4: the sharing demo data (SHR-1 … SHR-8) — realistic activity among the twelve demo
departments on the published demo catalog, every workflow in every state, made by the actions.

The demo is loaded once per test run (through ``load_demo()``, which calls the core, catalog and
sharing loaders in order) and copied into the database for this module (``demo_data_module`` of
tests/conftest.py) inside a transaction that is rolled back at the end; the tests only read.
The module is marked ``django_db`` so that the test database is set up even when it runs alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from govshare.catalog.models import CatalogEntry
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import DEMO_LOADERS, load_demo
from govshare.core.models import AuditEvent, Deadline, Department, Notification
from govshare.core.policy import get_profile
from govshare.core.workdays import compute_due
from govshare.sharing import demo
from govshare.sharing.access import check_access
from govshare.sharing.actions import aggregated_demand
from govshare.sharing.models import (
    Application,
    ApplicationStep,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    DigestSetting,
    ErrorReport,
    Grant,
)

pytestmark = pytest.mark.django_db

DEPARTMENT_CODES = {"LNGA", "LNSJ", "LNRS", "LNWJ", "LNMZ", "LNZR", "LNJT", "LNST", "LNJY", "LNSW", "LNZJ", "LNYB"}


@pytest.fixture(scope="module")
def loaded(demo_data_module: Any, tmp_path_factory: Any) -> Iterator[None]:
    """The demo for the module (loaded once per test run, see tests/conftest.py), rolled back afterwards
    (letters go to a temporary directory)."""
    with override_settings(GOVSHARE_LETTERS_DIR=tmp_path_factory.mktemp("letters"),
                           GOVSHARE_SEARCH_DIR=demo_data_module.search_dir, EMAIL_HOST=""):
        yield


def conditional() -> Any:
    return Application.objects.filter(kind=Application.Kind.CONDITIONAL)


def test_the_sharing_loader_runs_after_the_catalog_loader() -> None:
    names = [f.__module__ for f in DEMO_LOADERS]
    assert names.index("govshare.catalog.demo") < names.index("govshare.sharing.demo")


def test_the_demo_letter_is_a_pdf_the_letter_check_accepts() -> None:
    from govshare.sharing.letters import check_letter

    letter = check_letter("申请函.pdf", demo.letter_pdf(["Demo (letter) \\ with brackets", "第二行"]))
    assert letter.content_type == "application/pdf"


# ------------------------------------------------------------------ the loaded demo

def test_every_department_has_a_registered_consuming_system(loaded: None) -> None:
    codes = set(ConsumingSystem.objects.values_list("department__code", flat=True))
    assert codes == DEPARTMENT_CODES
    assert AuditEvent.objects.filter(code=AuditCode.SYSTEM_REGISTERED).count() == ConsumingSystem.objects.count()


def test_unconditional_subscriptions_are_granted_at_once(loaded: None) -> None:
    subscriptions = Application.objects.filter(kind=Application.Kind.UNCONDITIONAL)
    assert subscriptions.count() >= 10
    assert set(subscriptions.values_list("status", flat=True)) == {Application.Status.APPROVED}
    for app in subscriptions:
        grant = Grant.objects.get(application=app)
        assert grant.source == Grant.Source.UNCONDITIONAL and grant.entry_id == app.entry_id
        assert grant.entry.current_version.share_type == "unconditional"
        assert grant.consumer_id != grant.provider_id


def test_conditional_applications_appear_in_every_state(loaded: None) -> None:
    assert set(conditional().values_list("status", flat=True)) == set(Application.Status.values)
    assert {a.consumer.code for a in conditional().select_related("consumer")} <= DEPARTMENT_CODES
    assert all(a.letter_sha256 and a.system_id for a in conditional())


def test_waiting_applications_show_working_days_left_and_one_due_tomorrow_is_reminded(loaded: None) -> None:
    waiting = [a for a in conditional().select_related("deadline") if a.status in (
        Application.Status.CENTRE_REVIEW, Application.Status.PROVIDER_REVIEW) and not a.is_overdue]
    assert len(waiting) >= 4
    assert all(a.remaining_working_days() is not None and a.remaining_working_days() >= 0 for a in waiting)
    assert any(a.status == Application.Status.PROVIDER_REVIEW and a.remaining_working_days() >= 2 for a in waiting)
    today = timezone.localdate()
    if demo.Past().calendar.day(today).is_workday:  # on a working day the 1-day-left clocks are reminded
        assert ApplicationStep.objects.filter(step=ApplicationStep.Step.REMINDED).exists()


def test_an_overdue_application_shows_as_overdue_and_was_escalated_to_the_centre(loaded: None) -> None:
    late = [a for a in conditional().select_related("deadline") if a.is_overdue]
    assert len(late) == 1
    app = late[0]
    assert app.status == Application.Status.PROVIDER_REVIEW
    assert app.remaining_working_days() < 0
    assert app.escalated_at is not None and app.escalated_deadline_id == app.deadline_id
    assert app.steps.filter(step=ApplicationStep.Step.ESCALATED, on_time=False).exists()
    assert Notification.objects.filter(kind="sharing.overdue", recipient__username="centre_reviewer",
                                       object_id=str(app.pk)).exists()


def test_an_approval_narrowed_the_items_and_added_masking(loaded: None) -> None:
    narrowed = [a for a in conditional().filter(status=Application.Status.APPROVED)
                if set(Grant.objects.get(application=a).items) < set(a.items)]
    assert narrowed
    grant = Grant.objects.get(application=narrowed[0])
    assert grant.masking and set(grant.masking) <= set(grant.items)
    assert grant.expires_on is not None and grant.conditions


def test_refusals_state_basis_and_reason_and_rejections_a_comment(loaded: None) -> None:
    refused = conditional().filter(status=Application.Status.REFUSED)
    assert refused.exists()
    assert all(a.refusal_basis and a.refusal_reason for a in refused)
    rejected = conditional().filter(status=Application.Status.REJECTED)
    assert all(a.first_review_comment for a in rejected)


def test_a_revoked_grant_is_refused_by_the_access_check(loaded: None) -> None:
    grant = Grant.objects.select_related("system").get(revoked_at__isnull=False)
    assert grant.revoke_reason and grant.state() == "revoked"
    decision = check_access(entry=grant.entry_id, system=grant.system, purpose=grant.purpose, items=grant.items)
    assert not decision.allowed
    assert [r.code for r in decision.reasons] == ["grant_revoked"]


def test_an_approved_system_bound_grant_allows_its_system_only(loaded: None) -> None:
    grant = Grant.objects.filter(source=Grant.Source.APPLICATION, revoked_at__isnull=True,
                                 system__isnull=False).select_related("system").first()
    assert grant is not None
    assert check_access(entry=grant.entry_id, system=grant.system, purpose=grant.purpose, items=grant.items).allowed
    other = ConsumingSystem.objects.filter(department_id=grant.consumer_id).exclude(pk=grant.system_id).first() or \
        ConsumingSystem.objects.exclude(department_id=grant.consumer_id).first()
    assert not check_access(entry=grant.entry_id, system=other, purpose=grant.purpose, items=grant.items).allowed


def test_coordination_cases_appear_in_every_state_with_statements(loaded: None) -> None:
    cases = CoordinationCase.objects.all()
    assert set(cases.values_list("status", flat=True)) == set(CoordinationCase.Status.values)
    mediating = cases.get(status=CoordinationCase.Status.MEDIATING)
    assert {n.party for n in mediating.notes.all()} == {"consumer", "provider", "centre"}
    granted = cases.get(status=CoordinationCase.Status.GRANTED)
    assert Grant.objects.filter(case=granted, source=Grant.Source.COORDINATION).exists()
    assert cases.get(status=CoordinationCase.Status.REFUSED).outcome_reason
    assert cases.filter(application__isnull=True).exists()  # one on a 不予共享 entry
    for case in cases.filter(status__in=CoordinationCase.OPEN_STATUSES).select_related("deadline"):
        assert case.remaining_working_days() is not None and case.remaining_working_days() >= 0


def test_data_requests_appear_in_every_state(loaded: None) -> None:
    requests = DataRequest.objects.all()
    assert set(requests.values_list("status", flat=True)) == set(DataRequest.Status.values)
    registered = requests.get(status=DataRequest.Status.REGISTERED)
    assert registered.entry is not None and registered.entry.request_ref == registered.number
    forwarded = requests.filter(scope=DataRequest.Scope.UPPER, status=DataRequest.Status.FORWARDED).get()
    assert forwarded.handoff["number"] == forwarded.number and forwarded.handoff["to_jurisdiction"]
    assert requests.get(status=DataRequest.Status.FULFILLED).upper_reference
    assert requests.get(status=DataRequest.Status.DECLINED).answer


def test_an_entry_asked_for_by_three_or_more_departments_is_in_the_high_frequency_library(loaded: None) -> None:
    popular = aggregated_demand(min_departments=3)
    assert popular
    assert all(e.demand >= 3 for e in popular)
    marked = [e for e in popular if e.high_frequency_mark is not None]
    assert marked
    assert any(e.current_version.name == demo.HOUSEHOLD for e in marked)
    assert any(e.high_frequency_mark is None for e in aggregated_demand(min_departments=2))  # a candidate left


def test_error_reports_appear_in_every_state_and_the_overdue_one_shows_as_overdue(loaded: None) -> None:
    reports = ErrorReport.objects.select_related("deadline")
    assert set(reports.values_list("status", flat=True)) == set(ErrorReport.Status.values)
    late = [r for r in reports if r.is_open and r.remaining_working_days() < 0]
    assert len(late) == 1
    assert late[0].escalated_deadline_id == late[0].deadline_id
    assert all(r.reporter_department_id != r.provider_id for r in reports)
    assert all(r.grant is not None and r.grant.consumer_id == r.reporter_department_id for r in reports)


def test_back_dated_clocks_follow_the_working_day_calendar(loaded: None) -> None:
    deadlines = Deadline.objects.filter(kind__in=["share_first_review", "share_provider_answer",
                                                  "coordination_settlement", "data_error_correction"])
    assert deadlines.count() >= 20
    assert any(d.start_date < timezone.localdate() for d in deadlines)
    for deadline in deadlines:
        due = compute_due(deadline.start_date, get_profile(deadline.profile).deadline(deadline.kind))
        assert (deadline.due_date, deadline.due_at) == (due.due_date, due.due_at), deadline.kind
        if deadline.closed_at is not None:
            assert timezone.localdate(deadline.closed_at) >= deadline.start_date


def test_application_timelines_run_forward_and_keep_their_timings(loaded: None) -> None:
    for app in conditional():
        steps = list(app.steps.order_by("id"))
        times = [s.at for s in steps]
        assert times == sorted(times), app.number
        assert steps[0].step == ApplicationStep.Step.SUBMITTED and steps[0].at == app.created_at
        assert app.submitted_at is not None and app.submitted_at <= timezone.now()
        for step in steps:
            if step.step in (ApplicationStep.Step.PASSED, ApplicationStep.Step.APPROVED,
                             ApplicationStep.Step.REFUSED):
                assert step.on_time is True and step.working_days_used is not None
    approved = conditional().filter(status=Application.Status.APPROVED)
    for app in approved:
        grant = Grant.objects.get(application=app)
        assert grant.valid_from == timezone.localdate(app.decided_at)


def test_the_notifications_quote_the_back_dated_due_dates(loaded: None) -> None:
    app = conditional().filter(status=Application.Status.PROVIDER_REVIEW).select_related("deadline").exclude(
        deadline__start_date=timezone.localdate()).first()
    assert app is not None
    notes = Notification.objects.filter(object_type="sharing.application", object_id=str(app.pk),
                                        kind="sharing.answer")
    assert notes and all(app.deadline.due_date.isoformat() in n.subject for n in notes)
    assert all(n.created_at < timezone.now() - dt.timedelta(hours=1) for n in notes)


def test_everything_was_done_through_the_actions(loaded: None) -> None:
    assert AuditEvent.objects.filter(code=AuditCode.SHARE_APPLIED).count() == Application.objects.count()
    assert AuditEvent.objects.filter(code=AuditCode.GRANT_CREATED).count() == Grant.objects.count()
    assert AuditEvent.objects.filter(code=AuditCode.CASE_OPENED).count() == CoordinationCase.objects.count()
    assert AuditEvent.objects.filter(code=AuditCode.DATA_REQUEST_SUBMITTED).count() == DataRequest.objects.count()
    assert AuditEvent.objects.filter(code=AuditCode.ERROR_REPORTED).count() == ErrorReport.objects.count()
    assert AuditEvent.objects.filter(code=AuditCode.GRANT_REVOKED).count() == 1


def test_the_digest_is_on_for_a_few_departments_including_the_centre(loaded: None) -> None:
    enabled = DigestSetting.objects.filter(enabled=True).select_related("department")
    assert any(s.department.is_centre for s in enabled)
    assert enabled.count() == len(demo.DIGEST_DEPARTMENTS)


def test_loading_the_demo_again_changes_nothing(loaded: None) -> None:
    def counts() -> tuple[int, ...]:
        return (Application.objects.count(), Grant.objects.count(), CoordinationCase.objects.count(),
                DataRequest.objects.count(), ErrorReport.objects.count(), AuditEvent.objects.count(),
                CatalogEntry.objects.count(), Department.objects.count())

    before = counts()
    load_demo()
    demo.load_sharing_demo()
    assert counts() == before
