"""The sharing JSON API (/api/v1/sharing, issue 4 item 10): every endpoint's happy path, the role
views, who may see and do what (owner, colleague, outsider: an outsider's 404 is the body of a
missing id, and nothing changes), bad input answered in the house error body, flat query counts on
the lists, token authentication and the OpenAPI document.

The working-day numbers in the clock tests are worked out by hand (龙南 profile: first review 2
working days, provider answer 5): applied Tue 1 Dec 2026 → first review due Thu 3 Dec; passed the
same day → answer due Tue 8 Dec (2, 3, 4, 7, 8 Dec); reopened on Wed 9 Dec → due Wed 16 Dec.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from govshare.core.actions import do_create_department, do_create_token
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_uscc
from govshare.core.models import AuditEvent
from govshare.core.roles import Role
from govshare.sharing.actions import (
    do_first_review,
    do_open_case,
    do_register_system,
    do_report_error,
    do_subscribe_entry,
    do_withdraw_application,
    do_withdraw_case,
)
from govshare.sharing.models import Application, CoordinationCase, DataRequest, Grant
from tests.conftest import API, crash_client
from tests.sharing_helpers import PDF, PNG, at

pytestmark = pytest.mark.django_db

SHARING = API + "/sharing"
MISSING = 999_999_999


# ------------------------------------------------------------------ helpers

def call(user: Any, method: str, path: str, body: Any = None, client: Client | None = None, **params: Any) -> Any:
    """``/api/v1/sharing`` + ``path`` as ``user``; GET takes query ``params``, the rest a JSON body."""
    client = client or crash_client(user)
    if method == "get":
        return client.get(SHARING + path, params)
    return getattr(client, method)(SHARING + path, body if body is not None else {}, content_type="application/json")


def upload(user: Any, path: str, payload: dict[str, Any] | None = None,
           letter: tuple[str, bytes] | None = ("申请函.pdf", PDF), client: Client | None = None) -> Any:
    """A multipart post: the JSON part ``payload`` and the file part ``letter``."""
    data: dict[str, Any] = {}
    if payload is not None:
        data["payload"] = json.dumps(payload, ensure_ascii=False)
    if letter is not None:
        data["letter"] = SimpleUploadedFile(letter[0], letter[1], content_type="application/pdf")
    return (client or crash_client(user)).post(SHARING + path, data)


def error(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


def problems(response: Any) -> dict[str, dict[str, Any]]:
    """field → problem, of a 400 listing several problems (or the single one)."""
    err = error(response)
    return {p["field"]: p for p in err.get("errors") or [err]}


def assert_bilingual(err: dict[str, Any]) -> None:
    assert err["message_zh"] and err["message_en"]


def payload(share: Any, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "entry_id": share.conditional.pk, "items": ["公民身份号码", "姓名"], "purpose": "行政依据",
        "purpose_detail": "市场主体登记时核验法定代表人身份。", "system": "SJ-DJ", "period_end": "2027-12-31",
        "channel": "api", "contact_name": "王五", "contact_phone": "0797-3512345",
    }
    data.update(overrides)
    return data


def travel(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def hidden(user: Any, method: str, path: str, body: Any = None, *, kind: str = "json") -> None:
    """``user`` gets the 404 of a missing id: same status, same body."""
    parts = path.split("/")  # "", collection, id, action…
    missing_path = "/".join([*parts[:2], str(MISSING), *parts[3:]])
    answers = []
    for target in (path, missing_path):
        if kind == "multipart":
            answers.append(upload(user, target, body))
        else:
            answers.append(call(user, method, target, body))
    seen, missing = answers
    assert seen.status_code == 404, (path, seen.content)
    assert seen.json() == missing.json()
    assert error(seen)["code"] == "not_found"


@pytest.fixture
def outsider(share: Any) -> Any:
    """A data specialist of a third department (税务局): neither provider nor consumer."""
    org = share.org
    tax = do_create_department(org.centre_admin, name="龙南市税务局", short_name="税务局",
                               uscc=make_uscc("360783", 4), code="SW", jurisdiction=org.county)
    return org.user("tax_specialist", tax, Role.DATA_SPECIALIST)


def passed(share: Any, **overrides: Any) -> Application:
    app = share.apply(**overrides)
    return do_first_review(share.org.reviewer, app, decision="pass")


# ------------------------------------------------------------------ consuming systems

def test_a_department_admin_registers_a_system_and_each_department_lists_its_own(share: Any) -> None:
    org = share.org
    response = call(org.market_admin, "post", "/systems", {"name": "企业信用平台", "code": "SJ-XY"})
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["code"] == "SJ-XY" and data["department"]["code"] == "SJ" and data["is_active"]
    codes = [row["code"] for row in call(org.market_specialist, "get", "/systems").json()["items"]]
    assert sorted(codes) == ["SJ-DJ", "SJ-XY"]
    assert [row["code"] for row in call(org.police_specialist, "get", "/systems").json()["items"]] == ["GA-JW"]
    assert call(org.reviewer, "get", "/systems", department="SJ").json()["total"] == 2


def test_a_duplicate_system_code_is_a_409_naming_the_code(share: Any) -> None:
    response = call(share.org.market_admin, "post", "/systems", {"name": "另一个", "code": "sj-dj"})
    assert response.status_code == 409 and error(response)["field"] == "code"
    assert_bilingual(error(response))


def test_a_data_specialist_may_not_register_a_system(share: Any) -> None:
    response = call(share.org.market_specialist, "post", "/systems", {"name": "x", "code": "SJ-X"})
    assert response.status_code == 403 and error(response)["code"] == "forbidden"


def test_deactivating_a_system_owner_colleague_outsider(share: Any) -> None:
    org, system = share.org, share.market_system
    hidden(org.police_admin, "post", f"/systems/{system.pk}/deactivate")
    assert call(org.police_admin, "get", f"/systems/{system.pk}").status_code == 404
    assert call(org.market_specialist, "get", f"/systems/{system.pk}").status_code == 200  # colleague sees it
    assert call(org.market_specialist, "post", f"/systems/{system.pk}/deactivate").status_code == 404  # not admin
    system.refresh_from_db()
    assert system.is_active
    response = call(org.market_admin, "post", f"/systems/{system.pk}/deactivate")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert call(org.market_admin, "post", f"/systems/{system.pk}/activate").json()["is_active"] is True


# ------------------------------------------------------------------ SHR-1 subscribe

def test_subscribing_to_an_unconditional_entry_grants_at_once(share: Any) -> None:
    response = call(share.org.market_specialist, "post", "/subscribe",
                    {"entry_id": share.unconditional.pk, "purpose": "工作参考", "system": "SJ-DJ"})
    assert response.status_code == 201, response.content
    grant = response.json()
    assert grant["source"] == "unconditional" and grant["state"] == "active"
    assert grant["items"] == ["公民身份号码", "姓名", "出生日期"]
    assert grant["consumer"]["code"] == "SJ" and grant["system"]["code"] == "SJ-DJ"
    assert grant["masking"]["公民身份号码"] == "保留前6位和后4位"
    assert dt.date.fromisoformat(grant["valid_from"])  # dates are ISO strings
    again = call(share.org.market_specialist, "post", "/subscribe",
                 {"entry_id": share.unconditional.pk, "purpose": "工作参考"})
    assert again.status_code == 409 and error(again)["code"] == "already_granted"


def test_subscribing_to_a_conditional_entry_is_a_409(share: Any) -> None:
    response = call(share.org.market_specialist, "post", "/subscribe",
                    {"entry_id": share.conditional.pk, "purpose": "工作参考"})
    assert response.status_code == 409 and error(response)["code"] == "not_unconditional"


def test_an_unknown_entry_in_a_body_is_a_400_naming_entry_id(share: Any) -> None:
    response = call(share.org.market_specialist, "post", "/subscribe", {"entry_id": MISSING, "purpose": "工作参考"})
    assert response.status_code == 400 and error(response)["field"] == "entry_id"
    assert_bilingual(error(response))


# ------------------------------------------------------------------ SHR-2 apply (multipart)

def test_an_application_with_its_letter_starts_the_first_review_clock(share: Any) -> None:
    with travel(at(2026, 12, 1, 10)):
        response = upload(share.org.market_specialist, "/applications", payload(share))
        assert response.status_code == 201, response.content
        data = response.json()
    assert data["status"] == "centre_review" and data["stage"] == "centre" and data["kind"] == "conditional"
    assert data["number"].startswith("GX2026-")
    assert data["due_date"] == "2026-12-03" and data["remaining_working_days"] == 2 and data["overdue"] is False
    assert data["items"] == ["公民身份号码", "姓名"] and data["system"]["code"] == "SJ-DJ"
    assert data["period_end"] == "2027-12-31" and data["profile"] == "longnan"
    letter = data["letter"]
    assert letter["name"] == "申请函.pdf" and letter["content_type"] == "application/pdf"
    assert letter["size"] == len(PDF) and len(letter["sha256"]) == 64
    assert letter["url"] == f"{SHARING}/applications/{data['id']}/letter"
    assert [step["step"] for step in data["steps"]] == ["submitted"]
    assert data["steps"][0]["due_date"] == "2026-12-03" and data["steps"][0]["actor"] == "测试market_specialist"


def test_the_detail_shows_the_timeline_the_clock_and_the_grant(share: Any) -> None:
    org = share.org
    with travel(at(2026, 12, 1, 10)):
        app = share.apply()
        reviewed = call(org.reviewer, "post", f"/applications/{app.pk}/first-review",
                        {"decision": "pass", "comment": "材料齐全。"})
        assert reviewed.status_code == 200, reviewed.content
        data = reviewed.json()
        assert data["status"] == "provider_review" and data["due_date"] == "2026-12-08"
        assert data["remaining_working_days"] == 5 and data["first_review_comment"] == "材料齐全。"
    with travel(at(2026, 12, 4, 10)):
        app.refresh_from_db()
        data = call(org.police_specialist, "get", f"/applications/{app.pk}").json()
        assert data["remaining_working_days"] == app.remaining_working_days() == 2
        listed = call(org.police_specialist, "get", "/applications", box="to_answer").json()["items"]
        assert listed[0]["remaining_working_days"] == 2
        answered = call(org.police_specialist, "post", f"/applications/{app.pk}/answer",
                        {"decision": "approve", "items": ["公民身份号码"], "masking": {"公民身份号码": "保留前6位"},
                         "expires_on": "2027-06-30", "conditions": "仅用于登记核验。"})
    assert answered.status_code == 200, answered.content
    data = answered.json()
    assert data["status"] == "approved" and data["due_date"] is None and data["remaining_working_days"] is None
    steps = data["steps"]
    assert [s["step"] for s in steps] == ["submitted", "passed", "approved"]
    assert steps[1]["stage"] == "centre" and steps[1]["working_days_used"] == 0 and steps[1]["on_time"] is True
    assert steps[2]["stage"] == "provider" and steps[2]["working_days_used"] == 3 and steps[2]["on_time"] is True
    assert len(data["grants"]) == 1
    grant = call(org.market_specialist, "get", f"/grants/{data['grants'][0]['id']}").json()
    assert grant["items"] == ["公民身份号码"] and grant["masking"] == {"公民身份号码": "保留前6位"}
    assert grant["expires_on"] == "2027-06-30" and grant["conditions"] == "仅用于登记核验。"
    assert grant["application_id"] == app.pk and grant["source"] == "application"


def test_multipart_without_the_letter_is_a_400_naming_letter(share: Any) -> None:
    response = upload(share.org.market_specialist, "/applications", payload(share), letter=None)
    assert response.status_code == 400
    found = problems(response)
    assert found["letter"]["code"] == "letter_required"
    assert_bilingual(found["letter"])
    assert not Application.objects.exists()


def test_every_problem_of_the_form_is_reported_at_once(share: Any) -> None:
    body = payload(share, items=[], purpose="好奇", system="NOPE", channel="", contact_phone="")
    response = upload(share.org.market_specialist, "/applications", body, letter=None)
    assert response.status_code == 400
    assert {"items", "purpose", "system", "channel", "contact_phone", "letter"} <= set(problems(response))


def test_a_pdf_that_is_an_executable_is_refused(share: Any) -> None:
    response = upload(share.org.market_specialist, "/applications", payload(share),
                      letter=("申请函.pdf", b"MZ\x90\x00" + b"\x00" * 200))
    assert response.status_code == 400
    assert problems(response)["letter"]["code"] == "letter_disguised"
    assert not Application.objects.exists()


def test_an_oversized_letter_is_refused_before_it_is_read(share: Any, settings: Any) -> None:
    settings.GOVSHARE_LETTER_MAX_BYTES = 64
    response = upload(share.org.market_specialist, "/applications", payload(share),
                      letter=("申请函.pdf", PDF + b"%" * 100))
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "letter_too_large" and err["field"] == "letter" and "64" in err["message_en"]
    assert_bilingual(err)
    assert not Application.objects.exists()
    letters_dir = settings.GOVSHARE_LETTERS_DIR
    assert not letters_dir.exists() or not any(letters_dir.iterdir())  # nothing was stored


def test_applying_twice_for_the_same_entry_is_a_409(share: Any) -> None:
    first = upload(share.org.market_specialist, "/applications", payload(share))
    assert first.status_code == 201
    second = upload(share.org.market_admin, "/applications", payload(share))
    assert second.status_code == 409 and error(second)["code"] == "duplicate_application"
    assert first.json()["number"] in error(second)["message_en"]
    assert Application.objects.count() == 1


def test_items_not_in_the_entry_are_a_400_naming_them(share: Any) -> None:
    response = upload(share.org.market_specialist, "/applications",
                      payload(share, items=["姓名", "银行账号", "指纹"]))
    assert response.status_code == 400
    found = problems(response)["items"]
    assert found["code"] == "unknown_items" and "银行账号" in found["message_zh"] and "指纹" in found["message_en"]


def test_a_payload_that_is_not_json_is_a_bilingual_400(share: Any) -> None:
    client = crash_client(share.org.market_specialist)
    response = client.post(SHARING + "/applications", {"payload": "{not json",
                                                        "letter": SimpleUploadedFile("a.pdf", PDF)})
    assert response.status_code == 400 and error(response)["code"] == "invalid_json"


def test_the_provider_may_not_apply_for_its_own_entry(share: Any) -> None:
    response = upload(share.org.police_specialist, "/applications", payload(share, system="GA-JW"))
    assert response.status_code == 409 and error(response)["code"] == "own_entry"


# ------------------------------------------------------------------ SHR-2 review, answer, resubmit, withdraw

def test_a_refusal_without_basis_is_a_400_naming_basis_and_changes_nothing(share: Any) -> None:
    app = passed(share)
    response = call(share.org.police_specialist, "post", f"/applications/{app.pk}/answer",
                    {"decision": "refuse", "reason": "涉及侦查秘密。"})
    assert response.status_code == 400
    found = problems(response)
    assert set(found) == {"basis"} and found["basis"]["code"] == "required"
    app.refresh_from_db()
    assert app.status == Application.Status.PROVIDER_REVIEW and app.deadline.closed_at is None


def test_a_refusal_with_its_basis_and_a_coordination_case_that_settles_with_a_grant(share: Any) -> None:
    org = share.org
    app = passed(share)
    refused = call(org.police_specialist, "post", f"/applications/{app.pk}/answer",
                   {"decision": "refuse", "basis": "《公安机关办理刑事案件程序规定》", "reason": "涉及侦查秘密。"})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    assert refused.json()["refusal_basis"] == "《公安机关办理刑事案件程序规定》"
    opened = call(org.market_specialist, "post", "/cases", {"application_id": app.pk, "reason": "登记核验确有需要。"})
    assert opened.status_code == 201, opened.content
    case = opened.json()
    assert case["status"] == "open" and case["items"] == ["公民身份号码", "姓名"] and case["due_date"]
    noted = call(org.reviewer, "post", f"/cases/{case['id']}/notes", {"text": "请双方说明。"})
    assert noted.status_code == 201 and noted.json()["status"] == "mediating"
    call(org.police_specialist, "post", f"/cases/{case['id']}/notes", {"text": "可提供脱敏后的身份号码。"})
    settled = call(org.reviewer, "post", f"/cases/{case['id']}/settle",
                   {"outcome": "grant", "reason": "协调一致。", "items": ["公民身份号码"], "expires_on": "2027-06-30"})
    assert settled.status_code == 200, settled.content
    data = settled.json()
    assert data["status"] == "granted" and data["remaining_working_days"] is None
    assert [(n["party"], n["text"]) for n in data["notes"]] == [("centre", "请双方说明。"),
                                                                 ("provider", "可提供脱敏后的身份号码。")]
    grant = Grant.objects.get(pk=data["grants"][0]["id"])
    assert grant.source == Grant.Source.COORDINATION and grant.items == ["公民身份号码"]


def test_a_returned_application_is_completed_with_or_without_a_new_letter(share: Any) -> None:
    org = share.org
    app = share.apply()
    returned = call(org.reviewer, "post", f"/applications/{app.pk}/first-review",
                    {"decision": "return", "comment": "请补充用途说明。"})
    assert returned.json()["status"] == "returned" and returned.json()["stage"] == "consumer"
    response = upload(org.market_specialist, f"/applications/{app.pk}/resubmit",
                      {"purpose_detail": "用于企业开办一网通办的身份核验。"}, letter=None)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "centre_review" and data["purpose_detail"] == "用于企业开办一网通办的身份核验。"
    assert data["letter"]["content_type"] == "application/pdf" and data["items"] == ["公民身份号码", "姓名"]
    assert [s["step"] for s in data["steps"]] == ["submitted", "returned", "resubmitted"]
    do_first_review(org.reviewer, app, decision="return", comment="公章不清晰。")
    again = upload(org.market_specialist, f"/applications/{app.pk}/resubmit", None, letter=("盖章函.png", PNG))
    assert again.status_code == 200, again.content
    assert again.json()["letter"]["content_type"] == "image/png" and again.json()["letter"]["name"] == "盖章函.png"


def test_resubmitting_an_application_that_was_not_returned_is_a_409(share: Any) -> None:
    app = share.apply()
    response = upload(share.org.market_specialist, f"/applications/{app.pk}/resubmit", {}, letter=None)
    assert response.status_code == 409 and error(response)["code"] == "not_returned"


def test_the_applicant_withdraws_and_a_rejection_needs_a_comment(share: Any) -> None:
    org = share.org
    app = share.apply()
    bare = call(org.reviewer, "post", f"/applications/{app.pk}/first-review", {"decision": "reject"})
    assert bare.status_code == 400 and error(bare)["field"] == "comment"
    response = call(org.market_specialist, "post", f"/applications/{app.pk}/withdraw", {"reason": "需求取消。"})
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    again = call(org.market_specialist, "post", f"/applications/{app.pk}/withdraw", {})
    assert again.status_code == 409 and error(again)["code"] == "not_open"


def test_an_overdue_answer_is_refused_until_the_centre_reopens_the_period(share: Any) -> None:
    org = share.org
    with travel(at(2026, 12, 1, 10)):
        app = passed(share)
    with travel(at(2026, 12, 9, 10)):
        overdue = call(org.reviewer, "get", "/applications", box="overdue").json()["items"]
        assert [row["id"] for row in overdue] == [app.pk]
        assert overdue[0]["overdue"] is True and overdue[0]["remaining_working_days"] == -1
        late = call(org.police_specialist, "post", f"/applications/{app.pk}/answer", {"decision": "approve"})
        assert late.status_code == 403 and error(late)["code"] == "answer_period_over"
        assert call(org.police_admin, "get", "/applications", box="overdue").status_code == 403
        reopened = call(org.reviewer, "post", f"/applications/{app.pk}/reopen-answer", {"reason": "提供方申请延期。"})
        assert reopened.status_code == 200, reopened.content
        assert reopened.json()["due_date"] == "2026-12-16" and reopened.json()["remaining_working_days"] == 5
        assert reopened.json()["steps"][-1]["step"] == "extended"
        assert call(org.reviewer, "get", "/applications", box="overdue").json()["total"] == 0
        approved = call(org.police_specialist, "post", f"/applications/{app.pk}/answer", {"decision": "approve"})
        assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_reopening_an_answer_period_that_is_not_overdue_is_a_409(share: Any) -> None:
    app = passed(share)
    response = call(share.org.reviewer, "post", f"/applications/{app.pk}/reopen-answer", {"reason": "x"})
    assert response.status_code == 409 and error(response)["code"] == "not_overdue"


def test_the_letter_downloads_as_an_audited_attachment_with_its_stored_type(share: Any) -> None:
    app = share.apply()
    for user in (share.org.market_specialist, share.org.police_specialist, share.org.reviewer):
        response = crash_client(user).get(f"{SHARING}/applications/{app.pk}/letter")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("attachment;")
    events = AuditEvent.objects.filter(code=int(AuditCode.SHARE_LETTER_DOWNLOADED), object_id=str(app.pk))
    assert events.count() == 3


# ------------------------------------------------------------------ role views

def test_the_role_boxes_show_each_party_what_waits_for_it(share: Any) -> None:
    org, cat = share.org, share.cat
    second = cat.published(name="机动车驾驶人信息", share_type="conditional", share_condition="需公函。",
                           share_basis="《道路交通安全法》", share_methods=["api"])
    with travel(at(2026, 12, 1, 10)):
        first_app = passed(share)
    with travel(at(2026, 12, 2, 10)):
        second_app = share.apply(entry=second)
        review = call(org.reviewer, "get", "/applications", box="review").json()["items"]
        assert [row["id"] for row in review] == [second_app.pk] and review[0]["stage"] == "centre"
        assert review[0]["due_date"] == "2026-12-04"
        refused = call(org.market_specialist, "get", "/applications", box="review")
        assert refused.status_code == 403 and error(refused)["code"] == "forbidden"
        do_first_review(org.reviewer, second_app, decision="pass")
        assert call(org.reviewer, "get", "/applications", box="review").json()["total"] == 0
        waiting = call(org.police_specialist, "get", "/applications", box="to_answer").json()["items"]
        assert [row["id"] for row in waiting] == [first_app.pk, second_app.pk]  # soonest deadline first
        assert [row["due_date"] for row in waiting] == ["2026-12-08", "2026-12-09"]
        mine = call(org.market_admin, "get", "/applications", box="mine").json()["items"]
        assert [row["id"] for row in mine] == [second_app.pk, first_app.pk]  # newest first
        assert call(org.market_admin, "get", "/applications", box="to_answer").json()["total"] == 0
        assert call(org.police_specialist, "get", "/applications", box="mine").json()["total"] == 0
        filtered = call(org.reviewer, "get", "/applications", status=["provider_review", "approved"]).json()
        assert filtered["total"] == 2


def test_an_unknown_box_is_a_422_naming_box(share: Any) -> None:
    response = call(share.org.market_specialist, "get", "/applications", box="everything")
    assert response.status_code == 422 and error(response)["field"] == "box"


# ------------------------------------------------------------------ access: owner, colleague, outsider

APP_WRITES: dict[str, tuple[str, str, str, Any, list[tuple[str, int]]]] = {
    # name: (state, kind, path suffix, body, [(another party, status), (colleague, status)])
    "detail": ("centre_review", "get", "", None, [("police_specialist", 200), ("market_admin", 200)]),
    "resubmit": ("returned", "multipart", "/resubmit", {"purpose_detail": "补充说明。"},
                 [("police_specialist", 403), ("market_admin", 200)]),
    "first-review": ("centre_review", "json", "/first-review", {"decision": "pass"},
                     [("market_specialist", 403), ("centre_admin", 200)]),
    "answer": ("provider_review", "json", "/answer", {"decision": "approve"},
               [("market_specialist", 403), ("police_admin", 200)]),
    "withdraw": ("centre_review", "json", "/withdraw", {"reason": "不再需要。"},
                 [("police_specialist", 403), ("market_admin", 200)]),
    "reopen-answer": ("overdue", "json", "/reopen-answer", {"reason": "延期。"},
                      [("police_specialist", 403), ("centre_admin", 200)]),
    "letter": ("centre_review", "get", "/letter", None, [("police_specialist", 200), ("market_admin", 200)]),
}


@pytest.mark.parametrize("write", list(APP_WRITES))
def test_an_application_owner_colleague_outsider(share: Any, outsider: Any, write: str) -> None:
    """The outsider gets the 404 of a missing id and nothing changes; a party that sees the
    application but may not do this (the other side, no right) gets a 403; the colleague acts."""
    org = share.org
    state, kind, suffix, body, parties = APP_WRITES[write]
    with travel(at(2026, 12, 1, 10)):
        app = share.apply()
        if state == "returned":
            do_first_review(org.reviewer, app, decision="return", comment="请补充。")
        elif state in ("provider_review", "overdue"):
            do_first_review(org.reviewer, app, decision="pass")
    app.refresh_from_db()
    before = app.status
    with travel(at(2026, 12, 9 if state == "overdue" else 2, 10)):
        path = f"/applications/{app.pk}{suffix}"
        hidden(outsider, "get" if kind == "get" else "post", path, body, kind=kind)
        app.refresh_from_db()
        assert app.status == before
        for name, status in parties:
            user = getattr(org, name)
            response = upload(user, path, body, letter=None) if kind == "multipart" else call(
                user, "get" if kind == "get" else "post", path, body)
            assert response.status_code == status, (name, response.content)
            if status >= 400:
                assert_bilingual(error(response))


# ------------------------------------------------------------------ grants (SHR-4)

def test_grants_by_box_and_activity_and_revoking_them(share: Any, outsider: Any) -> None:
    org = share.org
    held = do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    mine = call(org.market_specialist, "get", "/grants", box="mine").json()
    assert [g["number"] for g in mine["items"]] == [held.number]
    assert call(org.market_specialist, "get", "/grants", box="given").json()["total"] == 0
    assert call(org.police_specialist, "get", "/grants", box="given").json()["total"] == 1
    assert call(outsider, "get", "/grants").json()["total"] == 0
    hidden(outsider, "get", f"/grants/{held.pk}")
    hidden(outsider, "post", f"/grants/{held.pk}/revoke", {"reason": "x"})
    consumer = call(org.market_specialist, "post", f"/grants/{held.pk}/revoke", {"reason": "x"})
    assert consumer.status_code == 403  # the consumer sees its grant but only the provider or centre revokes
    assert error(consumer)["code"] == "wrong_party"
    no_reason = call(org.police_admin, "post", f"/grants/{held.pk}/revoke", {})
    assert no_reason.status_code == 400 and error(no_reason)["field"] == "reason"
    revoked = call(org.police_admin, "post", f"/grants/{held.pk}/revoke", {"reason": "数据口径调整。"})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoke_reason"] == "数据口径调整。"
    assert call(org.market_specialist, "get", "/grants", box="mine", active="true").json()["total"] == 0
    assert call(org.market_specialist, "get", "/grants", box="mine", active="false").json()["total"] == 1
    again = call(org.reviewer, "post", f"/grants/{held.pk}/revoke", {"reason": "x"})
    assert again.status_code == 409 and error(again)["code"] == "already_revoked"


# ------------------------------------------------------------------ the access check

def test_the_access_check_explains_itself_for_a_user_and_for_a_system(share: Any, outsider: Any) -> None:
    org = share.org
    body = {"entry_id": share.unconditional.pk, "purpose": "工作参考", "items": ["姓名"]}
    before = call(org.market_specialist, "post", "/access-check", body).json()
    assert before["allowed"] is False and [r["code"] for r in before["reasons"]] == ["no_grant"]
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    allowed = call(org.market_specialist, "post", "/access-check", body).json()
    assert allowed["allowed"] is True and allowed["basis"] == "grant" and allowed["masking"] == {"姓名": "保留姓"}
    wrong = call(org.market_specialist, "post", "/access-check", {**body, "purpose": "数据校核"}).json()
    assert wrong["allowed"] is False and wrong["reasons"][0]["code"] == "wrong_purpose"
    assert "数据校核" in wrong["reasons"][0]["message"]
    by_system = call(org.market_specialist, "post", "/access-check", {**body, "system_code": "SJ-DJ"}).json()
    assert by_system["allowed"] is True
    own = call(org.police_specialist, "post", "/access-check", body).json()
    assert own["allowed"] is True and own["basis"] == "own_data"
    unknown = call(org.market_specialist, "post", "/access-check", {**body, "items": ["血型"]}).json()
    assert unknown["reasons"][0]["code"] == "unknown_items"


def test_checking_for_another_departments_system_is_a_404(share: Any) -> None:
    body = {"entry_id": share.unconditional.pk, "purpose": "工作参考", "system_code": "GA-JW"}
    other = call(share.org.market_specialist, "post", "/access-check", body)
    missing = call(share.org.market_specialist, "post", "/access-check", {**body, "system_code": "NOPE"})
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
    centre = call(share.org.reviewer, "post", "/access-check", body)
    assert centre.status_code == 404  # the centre sees every system but checks only its own


def test_the_access_check_of_a_deactivated_system_says_so(share: Any) -> None:
    org = share.org
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    call(org.market_admin, "post", f"/systems/{share.market_system.pk}/deactivate")
    body = {"entry_id": share.unconditional.pk, "purpose": "工作参考", "system_code": "SJ-DJ"}
    decision = call(org.market_specialist, "post", "/access-check", body).json()
    assert decision["allowed"] is False and decision["reasons"][0]["code"] == "system_inactive"


def test_the_access_check_of_an_entry_you_may_not_see_is_a_404(share: Any) -> None:
    draft = share.cat.draft(name="草稿资源")
    response = call(share.org.market_specialist, "post", "/access-check", {"entry_id": draft.pk, "purpose": "工作参考"})
    assert response.status_code == 404 and error(response)["code"] == "not_found"


# ------------------------------------------------------------------ coordination cases (SHR-3)

def test_a_case_on_a_not_shared_entry_by_box_refused_and_withdrawn(share: Any, outsider: Any) -> None:
    org = share.org
    response = call(org.market_specialist, "post", "/cases",
                    {"entry_id": share.not_shared.pk, "reason": "追逃协查需要。", "items": ["姓名"], "purpose": "业务协同"})
    assert response.status_code == 201, response.content
    case = response.json()
    assert case["number"].startswith("XT") and case["consumer"]["code"] == "SJ"
    assert case["remaining_working_days"] is not None
    assert [c["id"] for c in call(org.market_admin, "get", "/cases", box="mine").json()["items"]] == [case["id"]]
    assert call(org.police_specialist, "get", "/cases", box="to_answer").json()["total"] == 1
    assert call(org.reviewer, "get", "/cases", box="review").json()["total"] == 1
    assert call(org.police_specialist, "get", "/cases", box="review").status_code == 403
    duplicate = call(org.market_admin, "post", "/cases", {"entry_id": share.not_shared.pk, "reason": "再次。",
                                                          "items": ["姓名"], "purpose": "业务协同"})
    assert duplicate.status_code == 409 and error(duplicate)["code"] == "duplicate_case"
    for path, body in ((f"/cases/{case['id']}", None), (f"/cases/{case['id']}/notes", {"text": "x"}),
                       (f"/cases/{case['id']}/settle", {"outcome": "refuse", "reason": "x"}),
                       (f"/cases/{case['id']}/withdraw", {})):
        hidden(outsider, "get" if body is None else "post", path, body)
    assert CoordinationCase.objects.get(pk=case["id"]).status == CoordinationCase.Status.OPEN
    assert call(org.market_specialist, "post", f"/cases/{case['id']}/settle",
                {"outcome": "refuse", "reason": "x"}).status_code == 403
    no_expiry = call(org.reviewer, "post", f"/cases/{case['id']}/settle", {"outcome": "grant", "reason": "同意。"})
    assert no_expiry.status_code == 400 and "expires_on" in problems(no_expiry)
    settled = call(org.reviewer, "post", f"/cases/{case['id']}/settle", {"outcome": "refuse", "reason": "涉密。"})
    assert settled.status_code == 200 and settled.json()["status"] == "refused"
    assert settled.json()["settled_by"] == "测试reviewer" and settled.json()["outcome_reason"] == "涉密。"
    second = do_open_case(org.market_specialist, entry=share.not_shared, reason="再议。", items=["姓名"],
                          purpose="业务协同")
    withdrawn = call(org.market_admin, "post", f"/cases/{second.pk}/withdraw", {"reason": "已另行解决。"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"


def test_a_case_on_a_shared_entry_is_a_409(share: Any) -> None:
    response = call(share.org.market_specialist, "post", "/cases",
                    {"entry_id": share.conditional.pk, "reason": "x", "items": ["姓名"], "purpose": "业务协同"})
    assert response.status_code == 409 and error(response)["code"] == "shared_entry"


# ------------------------------------------------------------------ data requests (SHR-5, SHR-6)

def test_a_local_request_is_assigned_and_answered_with_an_entry(share: Any, outsider: Any) -> None:
    org = share.org
    response = call(org.market_specialist, "post", "/requests",
                    {"title": "电动自行车登记信息", "description": "市场监管需要核查电动自行车销售。", "purpose": "数据校核",
                     "suggested_owner": "GA"})
    assert response.status_code == 201, response.content
    req = response.json()
    assert req["status"] == "submitted" and req["suggested_owner"]["code"] == "GA" and req["scope"] == "local"
    assert call(org.reviewer, "get", "/requests", box="review").json()["total"] == 1
    unknown = call(org.reviewer, "post", f"/requests/{req['id']}/assign", {"owner": "NOPE"})
    assert unknown.status_code == 400 and error(unknown)["field"] == "owner"
    for path, body in ((f"/requests/{req['id']}", None), (f"/requests/{req['id']}/assign", {"owner": "GA"}),
                       (f"/requests/{req['id']}/close", {"reason": "x"})):
        hidden(outsider, "get" if body is None else "post", path, body)
    assigned = call(org.reviewer, "post", f"/requests/{req['id']}/assign", {"owner": "GA", "note": "请登记。"})
    assert assigned.status_code == 200 and assigned.json()["owner"]["code"] == "GA"
    assert call(org.police_admin, "get", "/requests", box="to_answer").json()["total"] == 1
    hidden(outsider, "post", f"/requests/{req['id']}/register", {"entry_id": share.unconditional.pk})
    hidden(outsider, "post", f"/requests/{req['id']}/decline", {"reason": "x"})
    assert call(org.market_specialist, "post", f"/requests/{req['id']}/decline", {"reason": "x"}).status_code == 403
    entry = share.cat.draft(name="电动自行车登记信息")
    registered = call(org.police_specialist, "post", f"/requests/{req['id']}/register", {"entry_id": entry.pk})
    assert registered.status_code == 200, registered.content
    data = registered.json()
    assert data["status"] == "registered" and data["entry"] == {"id": entry.pk, "code": entry.code, "status": "draft"}
    entry.refresh_from_db()
    assert entry.request_ref == req["number"]
    assert call(org.market_specialist, "get", "/requests", box="mine").json()["items"][0]["status"] == "registered"


def test_a_declined_request_is_closed_by_the_centre(share: Any) -> None:
    org = share.org
    req = call(org.market_specialist, "post", "/requests",
               {"title": "某数据", "description": "说明。", "purpose": "数据校核"}).json()
    call(org.reviewer, "post", f"/requests/{req['id']}/assign", {"owner": "GA"})
    declined = call(org.police_admin, "post", f"/requests/{req['id']}/decline", {"reason": "本部门不掌握该数据。"})
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    closed = call(org.reviewer, "post", f"/requests/{req['id']}/close", {"reason": "无部门掌握。"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = call(org.reviewer, "post", f"/requests/{req['id']}/close", {"reason": "x"})
    assert again.status_code == 409


def test_an_upper_level_request_is_forwarded_and_answered(share: Any) -> None:
    org = share.org
    missing = call(org.market_specialist, "post", "/requests",
                   {"scope": "upper", "title": "全省企业信用", "description": "说明。", "purpose": "数据校核"})
    assert missing.status_code == 400
    assert {"upper_jurisdiction", "upper_resource"} <= set(problems(missing))
    req = call(org.market_specialist, "post", "/requests",
               {"scope": "upper", "title": "全省企业信用", "description": "说明。", "purpose": "数据校核",
                "upper_jurisdiction": "360000", "upper_resource": "省企业信用信息"}).json()
    assert req["upper_jurisdiction"] == {"code": "360000", "name": "江西省"}
    assert call(org.reviewer, "post", f"/requests/{req['id']}/assign", {"owner": "GA"}).status_code == 409
    forwarded = call(org.reviewer, "post", f"/requests/{req['id']}/forward", {"note": "请省平台协调。"})
    assert forwarded.status_code == 200 and forwarded.json()["status"] == "forwarded"
    handoff = forwarded.json()["handoff"]
    assert handoff["to_jurisdiction"] == "360000" and handoff["resource"] == "省企业信用信息"
    answered = call(org.reviewer, "post", f"/requests/{req['id']}/upper-answer",
                    {"fulfilled": True, "answer": "已开通接口。", "reference": "JX-2026-001"})
    assert answered.status_code == 200 and answered.json()["status"] == "fulfilled"
    assert answered.json()["upper_reference"] == "JX-2026-001"
    assert DataRequest.objects.get(pk=req["id"]).answer == "已开通接口。"


# ------------------------------------------------------------------ demand and the high-frequency library (SHR-7)

def test_the_centre_sees_aggregated_demand_and_keeps_the_high_frequency_library(share: Any, outsider: Any) -> None:
    org = share.org
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    do_subscribe_entry(outsider, share.unconditional, purpose="工作参考")
    share.apply()
    demand = call(org.reviewer, "get", "/demand").json()
    assert [(row["entry"]["id"], row["demand"]) for row in demand["items"]] == [(share.unconditional.pk, 2)]
    assert demand["items"][0]["high_frequency"] is None
    assert call(org.reviewer, "get", "/demand", min_departments=1).json()["total"] == 2
    refused = call(org.market_admin, "get", "/demand")
    assert refused.status_code == 403 and error(refused)["code"] == "forbidden"
    assert call(org.market_admin, "post", "/high-frequency", {"entry_id": share.unconditional.pk}).status_code == 403
    marked = call(org.reviewer, "post", "/high-frequency", {"entry_id": share.unconditional.pk, "note": "高频使用。"})
    assert marked.status_code == 201, marked.content
    assert marked.json()["demand"] == 2 and marked.json()["demand_when_marked"] == 2
    twice = call(org.reviewer, "post", "/high-frequency", {"entry_id": share.unconditional.pk})
    assert twice.status_code == 409 and error(twice)["code"] == "already_marked"
    assert call(org.reviewer, "get", "/demand").json()["items"][0]["high_frequency"]["note"] == "高频使用。"
    library = call(org.market_specialist, "get", "/high-frequency").json()
    assert [row["entry"]["id"] for row in library["items"]] == [share.unconditional.pk]
    assert call(org.citizen, "get", "/high-frequency").json()["total"] == 0
    no_reason = call(org.reviewer, "post", f"/high-frequency/{share.unconditional.pk}/unmark", {})
    assert no_reason.status_code == 400 and error(no_reason)["field"] == "reason"
    unmarked = call(org.reviewer, "post", f"/high-frequency/{share.unconditional.pk}/unmark", {"reason": "需求下降。"})
    assert unmarked.status_code == 204
    assert call(org.market_specialist, "get", "/high-frequency").json()["total"] == 0


# ------------------------------------------------------------------ error reports (SHR-8)

def test_an_error_report_is_verified_and_corrected_within_its_deadline(share: Any, outsider: Any) -> None:
    org = share.org
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    response = call(org.market_specialist, "post", "/errors",
                    {"entry_id": share.unconditional.pk, "record_keys": "360783199001010011", "field": "姓名",
                     "description": "姓名与户籍登记不一致。"})
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["status"] == "reported" and report["grant"] and report["remaining_working_days"] is not None
    assert call(org.police_specialist, "get", "/errors", box="to_answer").json()["total"] == 1
    assert call(org.market_admin, "get", "/errors", box="mine").json()["total"] == 1
    for path in ("", "/acknowledge", "/resolve", "/withdraw"):
        body = None if not path else ({"outcome": "corrected", "resolution": "x"} if path == "/resolve" else {})
        hidden(outsider, "get" if not path else "post", f"/errors/{report['id']}{path}", body)
    assert call(org.market_specialist, "post", f"/errors/{report['id']}/acknowledge").status_code == 403
    ack = call(org.police_specialist, "post", f"/errors/{report['id']}/acknowledge")
    assert ack.status_code == 200 and ack.json()["status"] == "verifying"
    bad = call(org.police_specialist, "post", f"/errors/{report['id']}/resolve", {"outcome": "fixed", "resolution": "x"})
    assert bad.status_code == 400 and error(bad)["field"] == "outcome"
    done = call(org.police_admin, "post", f"/errors/{report['id']}/resolve",
                {"outcome": "corrected", "resolution": "已按户籍登记更正。"})
    assert done.status_code == 200 and done.json()["status"] == "corrected"
    assert done.json()["remaining_working_days"] is None and done.json()["resolved_by"] == "测试police_admin"


def test_an_error_on_an_unknown_item_is_a_400_and_a_report_may_be_withdrawn(share: Any) -> None:
    org = share.org
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    body = {"entry_id": share.unconditional.pk, "record_keys": "k1", "field": "血型", "description": "x"}
    bad = call(org.market_specialist, "post", "/errors", body)
    assert bad.status_code == 400 and problems(bad)["field"]["code"] == "unknown_items"
    report = do_report_error(org.market_specialist, entry=share.unconditional, record_keys="k1", field="姓名",
                             description="x")
    withdrawn = call(org.market_admin, "post", f"/errors/{report.pk}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"


def test_reporting_without_a_grant_is_a_409(share: Any) -> None:
    response = call(share.org.market_specialist, "post", "/errors",
                    {"entry_id": share.unconditional.pk, "record_keys": "k", "field": "姓名", "description": "x"})
    assert response.status_code == 409 and error(response)["code"] == "no_grant"


# ------------------------------------------------------------------ the daily digest

def put(user: Any, path: str, body: Any) -> Any:
    return crash_client(user).put(SHARING + path, body, content_type="application/json")


def test_the_digest_setting_department_admin_and_centre_admin(share: Any) -> None:
    org = share.org
    assert call(org.market_admin, "get", "/digest").json()["enabled"] is False
    switched = call(org.market_admin, "put", "/digest", {"enabled": True})
    assert switched.status_code == 200 and switched.json()["enabled"] is True
    assert switched.json()["department"]["code"] == "SJ" and switched.json()["updated_by"] == "测试market_admin"
    other = call(org.market_admin, "get", "/digest", department="GA")
    assert other.status_code == 404 and error(other)["code"] == "not_found"
    put_other = put(org.market_admin, "/digest?department=GA", {"enabled": True})
    assert put_other.status_code == 404
    assert call(org.market_specialist, "get", "/digest").status_code == 403
    centre = call(org.centre_admin, "get", "/digest", department="SJ")
    assert centre.status_code == 200 and centre.json()["enabled"] is True
    off = put(org.centre_admin, "/digest?department=SJ", {"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False


# ------------------------------------------------------------------ query counts of the lists

def _rows(share: Any, outsider: Any) -> None:
    """Several rows of every kind, open clocks included, for two consumer departments (market, tax)."""
    org = share.org
    second = share.cat.published(name="机动车驾驶人信息", share_type="conditional", share_condition="需公函。",
                                 share_basis="《道路交通安全法》", share_methods=["api"])
    tax_system = do_register_system(org.centre_admin, name="税务征管系统", code="SW-ZG", department=outsider.department)
    with travel(at(2026, 12, 1, 10)):
        for user, system in ((org.market_specialist, share.market_system.pk), (outsider, tax_system.pk)):
            do_withdraw_application(user, share.apply(user, system=system))
            passed(share, user=user, system=system)  # waits for the provider
            share.apply(user, entry=second, system=system, channel="api")  # waits for the centre
            do_subscribe_entry(user, share.unconditional, purpose="工作参考")
            do_withdraw_case(user, do_open_case(user, entry=share.not_shared, reason="需要。", items=["姓名"],
                                                purpose="业务协同"))
            do_open_case(user, entry=share.not_shared, reason="仍需要。", items=["姓名"], purpose="业务协同")
            for i in range(2):
                do_report_error(user, entry=share.unconditional, record_keys=f"k{i}", field="姓名", description="x")
                call(user, "post", "/requests", {"title": f"数据{i}", "description": "说明。", "purpose": "数据校核",
                                                 "suggested_owner": "GA"})
        call(org.reviewer, "post", "/high-frequency", {"entry_id": share.unconditional.pk})
        call(org.reviewer, "post", "/high-frequency", {"entry_id": share.conditional.pk})


#: (who, path, query, at least this many rows)
LISTS = [
    ("market_specialist", "/applications", {}, 3),
    ("market_specialist", "/applications", {"box": "mine"}, 3),
    ("police_specialist", "/applications", {"box": "to_answer"}, 2),
    ("reviewer", "/applications", {"box": "review"}, 2),
    ("reviewer", "/applications", {"box": "overdue"}, 4),
    ("market_specialist", "/grants", {"box": "mine", "active": "true"}, 1),
    ("reviewer", "/grants", {}, 2),
    ("reviewer", "/cases", {}, 4),
    ("police_specialist", "/cases", {"box": "to_answer"}, 2),
    ("reviewer", "/requests", {}, 4),
    ("market_specialist", "/errors", {}, 2),
    ("police_specialist", "/errors", {"box": "to_answer"}, 4),
    ("reviewer", "/systems", {}, 3),
    ("reviewer", "/demand", {"min_departments": 1}, 3),
    ("market_specialist", "/high-frequency", {}, 2),
]

#: session, user, roles; count, page; the working-day calendar (imported years, overrides) where clocks run;
#: demand: the (entry, department) pairs of applications and grants, the marks, the entries
#: each includes the read's access-log row (issue 9: one INSERT per recorded read)
LIST_QUERIES = {"/applications": 8, "/grants": 6, "/cases": 8, "/requests": 6, "/errors": 8, "/systems": 6,
                "/demand": 8, "/high-frequency": 8}


def test_the_lists_cost_a_fixed_number_of_queries(share: Any, outsider: Any,
                                                  django_assert_max_num_queries: Any) -> None:
    _rows(share, outsider)
    with travel(at(2026, 12, 21, 10)):  # every clock overdue: the overdue box is full too
        for who, path, params, rows in LISTS:
            client = crash_client(getattr(share.org, who))
            client.get(SHARING + "/systems")  # the session is loaded once per client
            with django_assert_max_num_queries(LIST_QUERIES[path], info=f"{who} {path} {params}"):
                response = client.get(SHARING + path, {"per_page": 100, **params})
            assert response.status_code == 200, response.content
            assert len(response.json()["items"]) >= rows, (path, params, response.json())


# ------------------------------------------------------------------ tokens, anonymous, OpenAPI

def test_a_write_token_applies_and_a_read_only_token_only_reads(share: Any) -> None:
    org = share.org
    write = do_create_token(org.market_specialist, name="system", scope="write")
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {write.secret}")
    filed = upload(None, "/applications", payload(share), client=writer)
    assert filed.status_code == 201, filed.content
    read = do_create_token(org.market_specialist, name="reader", scope="read")
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {read.secret}")
    assert call(None, "get", f"/applications/{filed.json()['id']}", client=reader).status_code == 200
    refused = call(None, "post", "/access-check", {"entry_id": share.conditional.pk, "purpose": "行政依据"},
                   client=reader)
    assert refused.status_code == 403 and error(refused)["code"] == "token_read_only"


@pytest.mark.parametrize(("method", "path"), [("get", "/applications"), ("post", "/subscribe"),
                                              ("post", "/access-check"), ("get", "/grants"), ("get", "/digest")])
def test_anonymous_visitors_must_log_in(db: Any, method: str, path: str) -> None:
    response = call(None, method, path, {} if method == "post" else None)
    assert response.status_code == 401 and error(response)["code"] == "auth_required"


def test_openapi_still_builds_and_documents_the_sharing_api(db: Any) -> None:
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in ("/api/v1/sharing/systems", "/api/v1/sharing/applications",
                 "/api/v1/sharing/applications/{application_id}", "/api/v1/sharing/subscribe",
                 "/api/v1/sharing/applications/{application_id}/resubmit",
                 "/api/v1/sharing/applications/{application_id}/first-review",
                 "/api/v1/sharing/applications/{application_id}/answer",
                 "/api/v1/sharing/applications/{application_id}/letter", "/api/v1/sharing/grants/{grant_id}/revoke",
                 "/api/v1/sharing/access-check", "/api/v1/sharing/cases/{case_id}/settle",
                 "/api/v1/sharing/requests/{request_id}/upper-answer", "/api/v1/sharing/demand",
                 "/api/v1/sharing/high-frequency", "/api/v1/sharing/errors/{report_id}/resolve",
                 "/api/v1/sharing/digest", "/api/v1/catalog/entries"):
        assert path in paths, path
    apply = paths["/api/v1/sharing/applications"]["post"]
    form = apply["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"payload", "letter"} <= set(form)
    assert apply["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert apply["tags"] == ["sharing"]
    assert "application/pdf" in paths["/api/v1/sharing/applications/{application_id}/letter"]["get"]["responses"][
        "200"]["content"]
    assert {"get", "put"} <= set(paths["/api/v1/sharing/digest"])

