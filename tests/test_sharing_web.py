"""The sharing web pages (issue 4 §10, SHR-1 … SHR-8): each screen renders for its role and refuses
the others, the forms change state through the actions, an action's error is shown next to the field
it names (a failed application keeps what was typed), an outsider gets 404 on every detail page and
every POST, the stamped letter downloads for the parties only, and a list page needs a fixed number
of queries whatever its length."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from govshare.catalog.models import CatalogEntry
from govshare.core.actions import do_create_department
from govshare.core.demo import make_uscc
from govshare.core.models import AuditEvent
from govshare.core.roles import Role
from govshare.sharing.actions import (
    do_add_case_note,
    do_answer,
    do_first_review,
    do_open_case,
    do_report_error,
    do_submit_request,
    do_subscribe_entry,
)
from govshare.sharing.models import (
    Application,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    DigestSetting,
    ErrorReport,
    Grant,
    HighFrequencyMark,
)
from tests.sharing_helpers import PDF, at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Messages are checked in English (the msgids); the default UI language is Chinese."""
    settings.LANGUAGE_CODE = "en"


def url(name: str, *args: Any) -> str:
    return reverse(f"sharing:{name}", args=args)


def html(response: Any) -> str:
    return response.content.decode()


def field_error(response: Any, field: str) -> str:
    """The error shown next to ``field`` (fails when there is none)."""
    page = html(response)
    marker = f'data-field="{field}"'
    assert marker in page, f"no error shown at {field}"
    start = page.index(marker)
    return page[page.index(">", start) + 1:page.index("</p>", start)]


def outsider_of(org: Any) -> Any:
    """A data specialist of a third department (neither consumer nor provider)."""
    edu = do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局",
                               uscc=make_uscc("360783", 4), code="JY", jurisdiction=org.county)
    return org.user("edu_specialist", edu, Role.DATA_SPECIALIST)


def form_post(share: Any, **overrides: Any) -> dict[str, Any]:
    """The application form's POST data (the letter as an uploaded PDF)."""
    data: dict[str, Any] = {
        "items": ["公民身份号码", "姓名"], "purpose": "行政依据", "purpose_detail": "核验法定代表人身份。",
        "system": str(share.market_system.pk), "period_start": "", "period_end": "2027-12-31", "channel": "api",
        "contact_name": "王五", "contact_phone": "0797-3512345",
        "letter": SimpleUploadedFile("申请函.pdf", PDF, content_type="application/pdf"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def subscribe(share: Any, user: Any = None) -> Grant:
    return do_subscribe_entry(user or share.org.market_specialist, share.unconditional, purpose="工作参考")


def passed(share: Any) -> Application:
    """An application that passed the centre's first review (waiting for the police's answer)."""
    return do_first_review(share.org.reviewer, share.apply(), decision="pass")


# ------------------------------------------------------------------ pages per role


ROLE_PAGES = [
    ("my_applications", {"market_specialist": 200, "market_admin": 200, "reviewer": 403, "auditor": 403,
                         "citizen": 403}),
    ("my_grants", {"market_specialist": 200, "reviewer": 403, "citizen": 403}),
    ("to_answer", {"police_specialist": 200, "police_admin": 200, "centre_admin": 200, "reviewer": 403,
                   "citizen": 403}),
    ("grants_given", {"police_specialist": 200, "centre_admin": 200, "reviewer": 403, "citizen": 403}),
    ("review_queue", {"reviewer": 200, "centre_admin": 200, "police_admin": 403, "market_specialist": 403,
                      "auditor": 403}),
    ("overdue", {"reviewer": 200, "centre_admin": 200, "police_admin": 403}),
    ("demand", {"reviewer": 200, "market_admin": 403}),
    ("high_frequency", {"reviewer": 200, "market_specialist": 200, "auditor": 200, "citizen": 403}),
    ("cases", {"market_specialist": 200, "police_admin": 200, "reviewer": 200, "auditor": 200}),
    ("requests", {"market_specialist": 200, "police_admin": 200, "reviewer": 200, "auditor": 200}),
    ("request_new", {"market_specialist": 200, "reviewer": 403, "citizen": 403}),
    ("errors", {"market_specialist": 200, "police_specialist": 200, "reviewer": 200, "auditor": 200}),
    ("systems", {"market_admin": 200, "market_specialist": 200, "centre_admin": 200}),
    ("digest", {"market_admin": 200, "centre_admin": 200, "market_specialist": 403, "reviewer": 403}),
]


@pytest.mark.parametrize("name,expected", ROLE_PAGES, ids=[p[0] for p in ROLE_PAGES])
def test_each_page_renders_for_its_roles_and_refuses_the_others(org: Any, client_for: Any, name: str,
                                                                 expected: dict[str, int]) -> None:
    for who, status in expected.items():
        response = client_for(getattr(org, who)).get(url(name))
        assert response.status_code == status, (who, response.status_code)


def test_pages_send_anonymous_visitors_to_the_login_page(db: Any) -> None:
    for name in ("my_applications", "to_answer", "review_queue", "cases"):
        response = Client().get(url(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("core:login"))


def test_each_role_finds_its_screens_in_the_menu(org: Any, client_for: Any) -> None:
    consumer = html(client_for(org.market_specialist).get(reverse("core:home")))
    for name in ("my_applications", "my_grants", "to_answer", "cases", "requests", "errors"):
        assert f'href="{url(name)}"' in consumer, name
    assert f'href="{url("review_queue")}"' not in consumer
    centre = html(client_for(org.reviewer).get(reverse("core:home")))
    for name in ("review_queue", "overdue", "cases", "requests", "demand", "high_frequency"):
        assert f'href="{url(name)}"' in centre, name
    assert f'href="{url("my_applications")}"' not in centre


def test_the_screens_show_the_open_items_with_their_working_days_left(share: Any, client_for: Any) -> None:
    org = share.org
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):  # first review due Thu 8 Oct (National Day)
        app = share.apply()
        grant = subscribe(share)
        mine = html(client_for(org.market_specialist).get(url("my_applications")))
        assert app.number in mine and "2 working days left" in mine and "2026-10-08" in mine
        queue = html(client_for(org.reviewer).get(url("review_queue")))
        assert app.number in queue and "2 working days left" in queue
        grants = html(client_for(org.market_specialist).get(url("my_grants")))
        assert grant.number in grants and 'data-state="active"' in grants
        given = html(client_for(org.police_specialist).get(url("grants_given")))
        assert grant.number in given
        detail = html(client_for(org.market_specialist).get(url("application_detail", app.pk)))
        assert "2 working days left" in detail and "the centre&#x27;s first review" in detail
    with time_machine.travel(at(2026, 10, 8, 17), tick=False):
        do_first_review(org.reviewer, app, decision="pass")
    with time_machine.travel(at(2026, 10, 16, 10), tick=False):  # answer was due Wed 14 Oct: 2 working days late
        answer = html(client_for(org.police_specialist).get(url("to_answer")))
        assert app.number in answer and 'class="overdue"' in answer and "overdue by 2 working days" in answer
        overdue = html(client_for(org.reviewer).get(url("overdue")))
        assert app.number in overdue and "overdue by 2 working days" in overdue


def test_the_queue_to_answer_lists_the_soonest_deadline_first(share: Any, cat: Any, client_for: Any) -> None:
    other = cat.published(name="出入境证件信息", share_type="conditional", share_condition="需公函",
                          share_basis="《出境入境管理法》")
    with time_machine.travel(at(2026, 11, 2, 10), tick=False):
        later = passed(share)
    with time_machine.travel(at(2026, 10, 30, 10), tick=False):
        sooner = do_first_review(share.org.reviewer, share.apply(entry=other), decision="pass")
    with time_machine.travel(at(2026, 11, 3, 10), tick=False):
        page = html(client_for(share.org.police_specialist).get(url("to_answer")))
    assert page.index(sooner.number) < page.index(later.number)


# ------------------------------------------------------------------ the catalog entry page links to sharing


def test_the_catalog_entry_page_offers_subscribe_apply_or_coordination(share: Any, client_for: Any) -> None:
    client = client_for(share.org.market_specialist)

    def page(entry: CatalogEntry) -> str:
        return html(client.get(reverse("catalog:entry_detail", args=[entry.pk])))

    assert f'href="{url("subscribe", share.unconditional.pk)}"' in page(share.unconditional)
    assert f'href="{url("apply", share.conditional.pk)}"' in page(share.conditional)
    assert f'href="{url("case_new")}?entry={share.not_shared.pk}"' in page(share.not_shared)
    grant = subscribe(share)
    after = page(share.unconditional)
    assert f'href="{url("grant_detail", grant.pk)}"' in after and f"{url('error_new')}?entry=" in after
    assert url("apply", share.conditional.pk) not in html(client_for(share.org.police_specialist).get(
        reverse("catalog:entry_detail", args=[share.conditional.pk])))  # the provider's own entry


# ------------------------------------------------------------------ SHR-1 subscribe


def test_subscribing_to_an_unconditional_entry_grants_at_once(share: Any, client_for: Any) -> None:
    client = client_for(share.org.market_specialist)
    form = html(client.get(url("subscribe", share.unconditional.pk)))
    assert len(re.findall(r'name="items"[^>]*checked', form)) == 3  # every item, by default
    response = client.post(url("subscribe", share.unconditional.pk),
                           {"purpose": "工作参考", "items": ["姓名", "出生日期"], "channel": "table"})
    grant = Grant.objects.get(consumer=share.org.market)
    assert response.status_code == 302 and response["Location"] == url("grant_detail", grant.pk)
    assert grant.items == ["姓名", "出生日期"] and grant.source == Grant.Source.UNCONDITIONAL
    assert grant.masking == {"姓名": "保留姓"}  # the catalog's rule of the sensitive item


def test_a_subscription_without_purpose_names_the_field(share: Any, client_for: Any) -> None:
    response = client_for(share.org.market_specialist).post(url("subscribe", share.unconditional.pk),
                                                            {"purpose": "", "items": ["姓名"], "channel": "table"})
    assert response.status_code == 400 and "required" in field_error(response, "purpose")
    assert not Grant.objects.exists()


# ------------------------------------------------------------------ SHR-2 apply, review, answer


def test_the_application_form_files_an_application_with_its_letter(share: Any, client_for: Any) -> None:
    client = client_for(share.org.market_specialist)
    form = html(client.get(url("apply", share.conditional.pk)))
    assert 'accept=".pdf,.png,.jpg,.jpeg"' in form and 'enctype="multipart/form-data"' in form
    assert f'href="{url("systems")}"' in form  # register a system that is not in the list
    response = client.post(url("apply", share.conditional.pk), form_post(share))
    app = Application.objects.get()
    assert response.status_code == 302 and response["Location"] == url("application_detail", app.pk)
    assert app.status == Application.Status.CENTRE_REVIEW and app.letter_name == "申请函.pdf"
    assert app.items == ["公民身份号码", "姓名"] and app.system == share.market_system


def test_a_failed_application_shows_each_error_at_its_field_and_keeps_the_input(share: Any,
                                                                                client_for: Any) -> None:
    response = client_for(share.org.market_specialist).post(url("apply", share.conditional.pk), form_post(
        share, system="", letter=None, contact_phone="call me", purpose_detail="核验法定代表人身份（保留）。"))
    assert response.status_code == 400
    assert "system" in field_error(response, "system")
    assert "letter" in field_error(response, "letter")
    assert "telephone" in field_error(response, "contact_phone")
    page = html(response)
    assert "核验法定代表人身份（保留）。" in page and 'value="call me"' in page and 'value="2027-12-31"' in page
    assert len(re.findall(r'name="items" value="(公民身份号码|姓名)"[^>]*checked', page)) == 2
    assert not Application.objects.exists()


def test_a_disguised_executable_is_refused_at_the_letter_field(share: Any, client_for: Any) -> None:
    exe = SimpleUploadedFile("申请函.pdf", b"MZ\x90\x00" + b"\x00" * 64, content_type="application/pdf")
    response = client_for(share.org.market_specialist).post(url("apply", share.conditional.pk),
                                                            form_post(share, letter=exe))
    assert response.status_code == 400 and "not a PDF" in field_error(response, "letter")
    assert "choose the letter again" in html(response)
    assert not Application.objects.exists()


def test_the_centre_passes_and_the_provider_approves_with_narrowed_items_and_masking(share: Any,
                                                                                    client_for: Any) -> None:
    app = share.apply()
    reviewer = client_for(share.org.reviewer)
    assert 'value="pass"' in html(reviewer.get(url("application_detail", app.pk)))
    response = reviewer.post(url("first_review", app.pk), {"decision": "pass", "comment": ""})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == Application.Status.PROVIDER_REVIEW
    police = client_for(share.org.police_specialist)
    page = html(police.get(url("application_detail", app.pk)))
    assert len(re.findall(r'name="items" value="[^"]+" id="approve-item-\d+" checked', page)) == 2
    assert 'value="保留前6位和后4位"' in page and 'value="保留姓"' in page  # the catalog's masking rules
    response = police.post(url("answer", app.pk), {"decision": "approve", "items": ["公民身份号码"],
                                                   "mask_0": "仅保留后4位", "mask_1": "保留姓",
                                                   "expires_on": "2027-06-30", "conditions": "仅用于登记核验"})
    assert response.status_code == 302
    grant = Grant.objects.get(application=app)
    assert grant.items == ["公民身份号码"] and grant.masking == {"公民身份号码": "仅保留后4位"}
    assert grant.expires_on == dt.date(2027, 6, 30) and grant.conditions == "仅用于登记核验"
    detail = html(client_for(share.org.market_specialist).get(url("application_detail", app.pk)))
    assert grant.number in detail and 'data-step="approved"' in detail and "on time" in detail


def test_a_refusal_without_basis_and_reason_names_both_fields_and_changes_nothing(share: Any,
                                                                                  client_for: Any) -> None:
    app = passed(share)
    response = client_for(share.org.police_specialist).post(url("answer", app.pk), {"decision": "refuse"})
    assert response.status_code == 400
    assert field_error(response, "basis") and field_error(response, "reason")
    app.refresh_from_db()
    assert app.status == Application.Status.PROVIDER_REVIEW and app.deadline.closed_at is None


def test_the_applicant_completes_a_returned_application_and_may_withdraw(share: Any, client_for: Any) -> None:
    app = do_first_review(share.org.reviewer, share.apply(), decision="return", comment="请补充用途说明。")
    client = client_for(share.org.market_specialist)
    form = html(client.get(url("resubmit", app.pk)))
    assert "请补充用途说明。" in form and 'value="王五"' in form
    data = form_post(share, letter=None, purpose_detail="补充：用于企业登记时核验法定代表人身份。")
    response = client.post(url("resubmit", app.pk), data)
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == Application.Status.CENTRE_REVIEW and app.purpose_detail.startswith("补充")
    response = client.post(url("withdraw", app.pk), {"reason": "不再需要"})
    app.refresh_from_db()
    assert response.status_code == 302 and app.status == Application.Status.WITHDRAWN
    again = client.post(url("withdraw", app.pk), {"reason": ""})  # already closed: a clear error, 409
    assert again.status_code == 409 and "cannot be withdrawn" in html(again)


def test_the_centre_reopens_an_overdue_answer_period(share: Any, client_for: Any) -> None:
    with time_machine.travel(at(2026, 9, 29, 10), tick=False):
        app = share.apply()
    with time_machine.travel(at(2026, 10, 8, 17), tick=False):
        app = do_first_review(share.org.reviewer, app, decision="pass")
    with time_machine.travel(at(2026, 10, 16, 10), tick=False):
        police = html(client_for(share.org.police_specialist).get(url("application_detail", app.pk)))
        assert "answer period has ended" in police and 'value="approve"' not in police
        client = client_for(share.org.reviewer)
        missing = client.post(url("reopen", app.pk), {"reason": ""})
        assert missing.status_code == 400 and field_error(missing, "reason")
        assert client.post(url("reopen", app.pk), {"reason": "提供方人员调整"}).status_code == 302
        app.refresh_from_db()
        assert app.deadline.due_date > dt.date(2026, 10, 16) and not app.is_overdue


# ------------------------------------------------------------------ owner, colleague, outsider


def test_an_outsider_gets_404_on_every_detail_page_and_every_post(share: Any, client_for: Any) -> None:
    org = share.org
    app = passed(share)
    grant = subscribe(share)
    refused = do_answer(org.police_specialist, app, decision="refuse", basis="《治安管理处罚法》", reason="涉密")
    case = do_open_case(org.market_specialist, application=refused, reason="登记核验需要")
    report = do_report_error(org.market_specialist, entry=share.unconditional, record_keys="360783...",
                             field="姓名", description="姓名有误")
    req = do_submit_request(org.market_specialist, title="企业社保缴纳信息", description="用于信用评价",
                            purpose="工作参考")
    outsider = client_for(outsider_of(org))
    pages = [url("application_detail", app.pk), url("letter", app.pk), url("resubmit", app.pk),
             url("grant_detail", grant.pk), url("case_detail", case.pk), url("error_detail", report.pk),
             url("request_detail", req.pk)]
    for path in pages:
        assert outsider.get(path).status_code == 404, path
    posts = [(url("withdraw", app.pk), {}), (url("first_review", app.pk), {"decision": "pass"}),
             (url("answer", app.pk), {"decision": "approve"}), (url("reopen", app.pk), {"reason": "x"}),
             (url("revoke", grant.pk), {"reason": "x"}), (url("case_note", case.pk), {"text": "x"}),
             (url("case_settle", case.pk), {"outcome": "refuse", "reason": "x"}),
             (url("case_withdraw", case.pk), {}), (url("error_acknowledge", report.pk), {}),
             (url("error_resolve", report.pk), {"outcome": "corrected", "resolution": "x"}),
             (url("error_withdraw", report.pk), {}), (url("request_decline", req.pk), {"reason": "x"}),
             (url("request_close", req.pk), {"reason": "x"})]
    for path, data in posts:
        assert outsider.post(path, data).status_code == 404, path
    assert Grant.objects.get(pk=grant.pk).revoked_at is None
    assert CoordinationCase.objects.get(pk=case.pk).status == CoordinationCase.Status.OPEN
    assert ErrorReport.objects.get(pk=report.pk).status == ErrorReport.Status.REPORTED
    assert DataRequest.objects.get(pk=req.pk).status == DataRequest.Status.SUBMITTED


def test_a_party_acting_outside_its_role_is_refused_and_nothing_changes(share: Any, client_for: Any) -> None:
    app = share.apply()
    colleague = client_for(share.org.market_admin)  # same department as the applicant: sees it, may not review
    assert colleague.get(url("application_detail", app.pk)).status_code == 200
    assert colleague.post(url("first_review", app.pk), {"decision": "pass"}).status_code == 403
    provider = client_for(share.org.police_specialist)  # a party: sees it, may not withdraw it
    refused = provider.post(url("withdraw", app.pk), {})
    assert refused.status_code == 403 and "Only the consumer department" in html(refused)
    app.refresh_from_db()
    assert app.status == Application.Status.CENTRE_REVIEW


def test_the_letter_downloads_for_the_parties_only(share: Any, client_for: Any) -> None:
    app = share.apply()
    for user in (share.org.market_specialist, share.org.market_admin, share.org.police_specialist,
                 share.org.reviewer):
        response = client_for(user).get(url("letter", app.pk))
        assert response.status_code == 200, user
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Type"] == "application/pdf" and response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("attachment")
    assert client_for(outsider_of(share.org)).get(url("letter", app.pk)).status_code == 404
    assert client_for(share.org.citizen).get(url("letter", app.pk)).status_code == 404
    assert AuditEvent.objects.filter(object_id=str(app.pk), outcome="success").count() >= 4


# ------------------------------------------------------------------ SHR-3, SHR-4, SHR-5/6, SHR-7, SHR-8


def test_a_refused_application_goes_to_coordination_and_the_centre_settles_with_a_grant(share: Any,
                                                                                      client_for: Any) -> None:
    org = share.org
    app = do_answer(org.police_specialist, passed(share), decision="refuse", basis="《治安管理处罚法》",
                    reason="涉及个人隐私")
    consumer = client_for(org.market_specialist)
    assert f"{url('case_new')}?application={app.pk}" in html(consumer.get(url("application_detail", app.pk)))
    response = consumer.post(f"{url('case_new')}?application={app.pk}",
                             {"reason": "企业登记需核验身份", "items": ["公民身份号码"], "purpose": "行政依据"})
    case = CoordinationCase.objects.get()
    assert response.status_code == 302 and case.application == app and case.items == ["公民身份号码"]
    centre = client_for(org.reviewer)
    assert centre.post(url("case_note", case.pk), {"text": "请双方说明理由。"}).status_code == 302
    page = html(centre.get(url("case_detail", case.pk)))
    assert "请双方说明理由。" in page and "working days left" in page
    missing = centre.post(url("case_settle", case.pk), {"outcome": "grant", "reason": "准予共享", "items": []})
    assert missing.status_code == 400 and field_error(missing, "expires_on")
    response = centre.post(url("case_settle", case.pk), {"outcome": "grant", "reason": "准予共享",
                                                         "items": ["公民身份号码"], "expires_on": "2027-12-31",
                                                         "channel": "api"})
    case.refresh_from_db()
    assert response.status_code == 302 and case.status == CoordinationCase.Status.GRANTED
    assert Grant.objects.get(case=case).items == ["公民身份号码"]


def test_the_provider_revokes_a_grant_with_a_reason(share: Any, client_for: Any) -> None:
    grant = subscribe(share)
    police = client_for(share.org.police_specialist)
    missing = police.post(url("revoke", grant.pk), {"reason": ""})
    assert missing.status_code == 400 and field_error(missing, "reason")
    assert police.post(url("revoke", grant.pk), {"reason": "数据停止共享"}).status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    page = html(client_for(share.org.market_specialist).get(url("grant_detail", grant.pk)))
    assert "数据停止共享" in page and 'data-state="revoked"' in page


def test_a_local_data_request_is_assigned_and_answered_with_an_entry(share: Any, client_for: Any) -> None:
    org = share.org
    consumer = client_for(org.market_specialist)
    response = consumer.post(url("request_new"), {"scope": "local", "title": "企业社保缴纳信息",
                                                  "description": "用于信用评价", "purpose": "工作参考",
                                                  "suggested_owner": str(org.police.pk)})
    req = DataRequest.objects.get()
    assert response.status_code == 302 and req.suggested_owner == org.police
    assert client_for(org.reviewer).post(url("request_assign", req.pk),
                                         {"owner": str(org.police.pk), "note": "请登记"}).status_code == 302
    police = client_for(org.police_specialist)
    assert share.conditional.code in html(police.get(url("request_detail", req.pk)))
    assert police.post(url("request_register", req.pk), {"entry": str(share.conditional.pk)}).status_code == 302
    req.refresh_from_db()
    assert req.status == DataRequest.Status.REGISTERED and req.entry == share.conditional
    assert share.conditional.code in html(consumer.get(url("requests")))


def test_an_upper_level_request_is_forwarded_and_its_answer_recorded(share: Any, client_for: Any) -> None:
    org = share.org
    consumer = client_for(org.market_specialist)
    missing = consumer.post(url("request_new"), {"scope": "upper", "title": "全省企业登记信息",
                                                 "description": "跨地区核验", "purpose": "数据校核"})
    assert missing.status_code == 400 and field_error(missing, "upper_jurisdiction")
    assert field_error(missing, "upper_resource")
    consumer.post(url("request_new"), {"scope": "upper", "title": "全省企业登记信息", "description": "跨地区核验",
                                       "purpose": "数据校核", "upper_jurisdiction": str(org.province.pk),
                                       "upper_resource": "省级企业登记库"})
    req = DataRequest.objects.get()
    centre = client_for(org.reviewer)
    assert centre.post(url("request_forward", req.pk), {"reason": "请省平台协助"}).status_code == 302
    assert "govshare.data_request" in html(centre.get(url("request_detail", req.pk)))  # the hand-off message
    assert centre.post(url("request_upper_answer", req.pk), {"fulfilled": "1", "answer": "已提供接口",
                                                             "reference": "JX-2026-1"}).status_code == 302
    req.refresh_from_db()
    assert req.status == DataRequest.Status.FULFILLED and req.upper_reference == "JX-2026-1"


def test_an_error_report_is_verified_and_resolved_by_the_provider(share: Any, client_for: Any) -> None:
    grant = subscribe(share)
    consumer = client_for(share.org.market_specialist)
    target = f"{url('error_new')}?grant={grant.pk}"
    missing = consumer.post(target, {"field": "姓名", "record_keys": "", "description": ""})
    assert missing.status_code == 400 and field_error(missing, "record_keys") and field_error(missing, "description")
    assert consumer.post(target, {"field": "姓名", "record_keys": "3607831990...",
                                  "description": "姓名与户籍不符"}).status_code == 302
    report = ErrorReport.objects.get()
    police = client_for(share.org.police_specialist)
    listing = html(police.get(url("errors")))
    assert report.number in listing and "working days left" in listing
    assert police.post(url("error_acknowledge", report.pk)).status_code == 302
    assert police.post(url("error_resolve", report.pk), {"outcome": "corrected",
                                                         "resolution": "已更正"}).status_code == 302
    report.refresh_from_db()
    assert report.status == ErrorReport.Status.CORRECTED
    assert "已更正" in html(consumer.get(url("error_detail", report.pk)))


def test_the_centre_puts_a_demanded_entry_in_the_high_frequency_library(share: Any, client_for: Any) -> None:
    subscribe(share)
    subscribe(share, outsider_of(share.org))
    centre = client_for(share.org.reviewer)
    page = html(centre.get(url("demand")))
    assert share.unconditional.code in page and 'data-demand="2"' in page
    assert share.unconditional.code not in html(centre.get(url("demand"), {"min": "3"}))
    assert centre.post(url("mark", share.unconditional.pk), {"note": "多部门需求"}).status_code == 302
    assert HighFrequencyMark.objects.filter(entry=share.unconditional).exists()
    library = html(client_for(share.org.market_specialist).get(url("high_frequency")))
    assert share.unconditional.code in library and "多部门需求" in library
    refused = centre.post(url("unmark", share.unconditional.pk), {"reason": ""})
    assert refused.status_code == 400 and HighFrequencyMark.objects.exists()
    assert centre.post(url("unmark", share.unconditional.pk), {"reason": "需求下降"}).status_code == 302
    assert not HighFrequencyMark.objects.exists()


def test_the_department_admin_registers_and_deactivates_systems_and_sets_the_digest(share: Any,
                                                                                    client_for: Any) -> None:
    admin = client_for(share.org.market_admin)
    duplicate = admin.post(url("systems"), {"name": "另一个系统", "code": "SJ-DJ"})
    assert duplicate.status_code == 409 and "exists already" in field_error(duplicate, "code")
    assert admin.post(url("systems"), {"name": "信用监管系统", "code": "SJ-XY"}).status_code == 302
    system = ConsumingSystem.objects.get(code="SJ-XY")
    assert admin.post(url("system_active", system.pk), {"active": "0"}).status_code == 302
    system.refresh_from_db()
    assert not system.is_active
    specialist = client_for(share.org.market_specialist)
    assert specialist.post(url("systems"), {"name": "x", "code": "SJ-X"}).status_code == 403
    assert specialist.post(url("system_active", system.pk), {"active": "1"}).status_code == 404
    assert admin.post(url("digest"), {"enabled": "on"}).status_code == 302
    assert DigestSetting.objects.get(department=share.org.market).enabled


def test_a_case_note_from_a_party_reaches_the_thread(share: Any, client_for: Any) -> None:
    case = do_open_case(share.org.market_specialist, entry=share.not_shared, reason="执法协查需要",
                        items=["公民身份号码"], purpose="业务协同")
    do_add_case_note(share.org.police_specialist, case, text="涉密，不予提供。")
    page = html(client_for(share.org.market_specialist).get(url("cases")))
    assert case.number in page and "working days left" in page
    detail = html(client_for(share.org.market_specialist).get(url("case_detail", case.pk)))
    assert "涉密，不予提供。" in detail and 'data-party="provider"' in detail


# ------------------------------------------------------------------ queries


def test_the_list_pages_need_a_fixed_number_of_queries(share: Any, cat: Any, client_for: Any,
                                                       django_assert_max_num_queries: Any) -> None:
    client = client_for(share.org.market_specialist)
    centre = client_for(share.org.reviewer)
    share.apply()
    client.get(url("my_applications"))  # warm the session
    centre.get(url("review_queue"))
    for n in range(3):
        entry = cat.published(name=f"出入境证件信息{n}", share_type="conditional", share_condition="需公函",
                              share_basis="《出境入境管理法》")
        share.apply(entry=entry)
    # session, user, roles, count, page, calendar (2), +1, and the read's access-log row (issue 9)
    with django_assert_max_num_queries(9):
        page = html(client.get(url("my_applications")))
    assert page.count("working days left") == 4
    with django_assert_max_num_queries(9):
        assert html(centre.get(url("review_queue"))).count("working days left") == 4


def test_pages_render_in_chinese_without_inline_script_or_style(share: Any, client_for: Any,
                                                               settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    app = passed(share)
    grant = subscribe(share)
    paths = {
        share.org.market_specialist: [url("my_applications"), url("my_grants"), url("apply", share.conditional.pk),
                                      url("subscribe", share.unconditional.pk), url("application_detail", app.pk),
                                      url("cases"), url("requests"), url("request_new"), url("errors"),
                                      f"{url('error_new')}?grant={grant.pk}", url("systems")],
        share.org.police_specialist: [url("to_answer"), url("grants_given"), url("application_detail", app.pk),
                                      url("grant_detail", grant.pk)],
        share.org.reviewer: [url("review_queue"), url("overdue"), url("demand"), url("high_frequency")],
        share.org.market_admin: [url("digest")],
    }
    for user, pages in paths.items():
        client = client_for(user)
        for path in pages:
            response = client.get(path)
            page = html(response)
            assert response.status_code == 200 and 'lang="zh-hans"' in page, path
            for tag in re.findall(r"<script[^>]*>", page):  # CSP: script-src 'self'
                assert "src=" in tag, (path, tag)
            assert " style=" not in page and "<style" not in page, path
