"""Bad input to the sharing actions (issue 4): each is a clear error — a stable code, the field and
a message in Chinese and English (``as_dict``) — and nothing changes: no row, no deadline, no
notification, no audit event, no letter file."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from govshare.catalog.models import CatalogEntry, Subscription
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, Forbidden, GovshareError, NotFound, ValidationFailed
from govshare.core.models import AuditEvent, Deadline, Notification
from govshare.sharing import letters
from govshare.sharing.actions import (
    do_answer,
    do_first_review,
    do_open_case,
    do_resubmit,
    do_revoke_grant,
    do_set_system_active,
    do_settle_case,
    do_subscribe_entry,
    do_withdraw_application,
)
from govshare.sharing.models import (
    Application,
    ApplicationStep,
    CaseNote,
    ConsumingSystem,
    CoordinationCase,
    ErrorReport,
    Grant,
)
from tests.sharing_helpers import JPEG, LETTERS, PDF, PNG, at

pytestmark = pytest.mark.django_db

TRACKED = (Application, ApplicationStep, Grant, CoordinationCase, CaseNote, ErrorReport, ConsumingSystem,
           Subscription, Deadline, Notification, CatalogEntry)


def snapshot() -> dict[str, Any]:
    """Every row an action could touch, the audit trail (denials aside: they are recorded on purpose)
    and the stored letters."""
    state: dict[str, Any] = {m.__name__: list(m.objects.order_by("pk").values()) for m in TRACKED}
    state["audit"] = list(AuditEvent.objects.exclude(code=AuditCode.PERMISSION_DENIED)
                          .order_by("pk").values_list("pk", "code"))
    state["letters"] = stored_letters()
    return state


def stored_letters() -> list[str]:
    folder = letters.letters_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def problem(error: GovshareError, code: str, field: str | None) -> dict[str, Any]:
    """The rendered problem ``code`` (alone or among several), with its field and both languages."""
    body = error.as_dict()
    found = [p for p in body.get("errors", [body]) if p["code"] == code]
    assert found, body
    rendered = found[0]
    assert rendered.get("field") == field, rendered
    assert rendered["message_zh"].strip() and rendered["message_en"].strip(), rendered
    return rendered


def refused(fn: Any, error_class: type[GovshareError], code: str, field: str | None = None) -> dict[str, Any]:
    """Call ``fn``; it must raise ``error_class`` carrying ``code`` and leave everything as it was."""
    before = snapshot()
    with pytest.raises(error_class) as caught:
        fn()
    assert snapshot() == before
    return problem(caught.value, code, field)


def _passed(share: Any, **overrides: Any) -> Application:
    return do_first_review(share.org.reviewer, share.apply(**overrides), decision="pass")


# ------------------------------------------------------------------ refusals need a basis and a reason

def test_a_refusal_without_a_legal_basis_is_refused_and_the_answer_clock_keeps_running(share: Any) -> None:
    app = _passed(share)
    refused(lambda: do_answer(share.org.police_admin, app, decision="refuse", basis="", reason="用途超出范围。"),
            ValidationFailed, "required", "basis")
    app.refresh_from_db()
    assert app.status == Application.Status.PROVIDER_REVIEW and app.deadline.closed_at is None


def test_a_refusal_without_a_reason_is_refused(share: Any) -> None:
    app = _passed(share)
    refused(lambda: do_answer(share.org.police_admin, app, decision="refuse", basis="《保守国家秘密法》第九条",
                              reason="   "), ValidationFailed, "required", "reason")


def test_a_refusal_without_basis_and_reason_names_both_fields(share: Any) -> None:
    app = _passed(share)
    with pytest.raises(ValidationFailed) as caught:
        do_answer(share.org.police_admin, app, decision="refuse")
    assert {p["field"] for p in caught.value.as_dict()["errors"]} == {"basis", "reason"}


def test_an_unknown_decision_is_refused(share: Any) -> None:
    app = _passed(share)
    refused(lambda: do_answer(share.org.police_admin, app, decision="maybe"), ValidationFailed, "invalid_choice",
            "decision")
    other = share.apply(user=share.org.market_admin, entry=_other_conditional(share))
    refused(lambda: do_first_review(share.org.reviewer, other, decision="later"), ValidationFailed,
            "invalid_choice", "decision")


def test_a_return_or_rejection_at_first_review_needs_a_comment(share: Any) -> None:
    app = share.apply()
    refused(lambda: do_first_review(share.org.reviewer, app, decision="return"), ValidationFailed, "required",
            "comment")
    refused(lambda: do_first_review(share.org.reviewer, app, decision="reject", comment=" "), ValidationFailed,
            "required", "comment")


# ------------------------------------------------------------------ the stamped letter

JS_PDF = PDF.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>")
OBJSTM_PDF = (LETTERS / "js_objstm_flate.pdf").read_bytes()  # more in tests/test_hostile_letters.py
BAD_LETTERS = {
    "plain text": ("申请函.txt", "我局申请共享违法犯罪人员信息。".encode(), "letter_type"),
    "HTML": ("申请函.html", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "letter_type"),
    "SVG image": ("申请函.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                  "letter_type"),
    "ZIP archive": ("申请函.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40, "letter_disguised"),
    "Word file with macros": ("申请函.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "letter_disguised"),
    "executable named .pdf": ("申请函.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + PDF, "letter_disguised"),
    "ELF binary named .pdf": ("申请函.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56, "letter_disguised"),
    "shell script named .pdf": ("申请函.pdf", b"#!/bin/sh\nrm -rf /\n%PDF-1.4\n%%EOF\n", "letter_disguised"),
    "PDF with JavaScript": ("申请函.pdf", JS_PDF, "letter_active_content"),
    "PDF with a launch action": ("申请函.pdf", PDF.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction "
                                                      b"<< /S /Launch /F (cmd.exe) >>"), "letter_active_content"),
    "PDF with an embedded file": ("申请函.pdf", PDF.replace(b"/Type /Catalog", b"/Type /Catalog /Names "
                                                        b"<< /EmbeddedFiles 2 0 R >> /EmbeddedFile"),
                                  "letter_active_content"),
    "PDF with JavaScript behind a #-escaped name": ("申请函.pdf", JS_PDF.replace(b"/JavaScript", b"/J#61vaScript")
                                                    .replace(b"/JS ", b"/J#53 "), "letter_active_content"),
    "PDF with JavaScript in a compressed object stream": ("申请函.pdf", OBJSTM_PDF, "letter_active_content"),
    "truncated PDF": ("申请函.pdf", PDF[: PDF.index(b"%%EOF")], "letter_damaged"),
    "truncated PNG": ("申请函.png", PNG[:40], "letter_damaged"),
    "truncated JPEG": ("申请函.jpg", JPEG[:-2], "letter_damaged"),
    "empty file": ("申请函.pdf", b"", "letter_empty"),
}


@pytest.mark.parametrize("kind", list(BAD_LETTERS))
def test_a_letter_that_is_not_a_clean_pdf_or_image_is_refused_and_nothing_is_stored(share: Any, kind: str) -> None:
    name, data, code = BAD_LETTERS[kind]
    refused(lambda: share.apply(letter=(name, data)), ValidationFailed, code, "letter")
    assert stored_letters() == []
    assert not Application.objects.exists()


def test_a_letter_over_the_configured_size_is_refused(share: Any, settings: Any) -> None:
    settings.GOVSHARE_LETTER_MAX_BYTES = len(PDF) + 10
    big = PDF.replace(b"%%EOF", b"%" + b"x" * 40 + b"\n%%EOF")
    rendered = refused(lambda: share.apply(letter=("申请函.pdf", big)), ValidationFailed, "letter_too_large",
                       "letter")
    assert str(len(PDF) + 10) in rendered["message_en"]
    assert share.apply(letter=("申请函.pdf", PDF)).letter_size == len(PDF)  # at the limit and under: accepted


def test_a_pdf_that_unpacks_to_far_more_than_the_size_limit_is_refused(share: Any, settings: Any) -> None:
    settings.GOVSHARE_LETTER_MAX_BYTES = 2000
    packed = zlib.compress(b"0" * 9000)
    bomb = PDF.replace(b"endobj\n", b"endobj\n9 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
                       + packed + b"\nendstream\nendobj\n", 1)
    assert len(bomb) < 2000
    refused(lambda: share.apply(letter=("申请函.pdf", bomb)), ValidationFailed, "letter_too_large", "letter")


def test_a_pdf_with_ordinary_compressed_content_is_accepted(share: Any) -> None:
    content = (LETTERS / "ok_scanned_letter.pdf").read_bytes()  # a Flate text stream and a JPEG image
    assert share.apply(letter=("申请函.pdf", content)).letter_size == len(content)


def test_a_missing_letter_is_refused(share: Any) -> None:
    refused(lambda: share.apply(letter=None), ValidationFailed, "letter_required", "letter")


@pytest.mark.parametrize(("name", "data", "kind"), [("盖章函.PDF", PDF, "application/pdf"),
                                                    ("scan.png", PNG, "image/png"), ("photo.jpeg", JPEG, "image/jpeg")])
def test_a_clean_pdf_png_or_jpeg_letter_is_accepted(share: Any, name: str, data: bytes, kind: str) -> None:
    app = share.apply(letter=(name, data))
    assert app.letter_type == kind and app.letter_name == name
    assert letters.path_of(app.letter_path).read_bytes() == data


def test_a_letter_name_with_path_parts_or_control_characters_is_kept_only_as_a_clean_label(share: Any) -> None:
    app = share.apply(letter=("../../etc/申请函.pdf", PDF))
    assert app.letter_name == "申请函.pdf" and "/" not in app.letter_path
    app2 = share.apply(user=share.org.market_admin, entry=_other_conditional(share),
                       letter=("申请\x00函.pdf", PDF))
    assert app2.letter_name == "letter"


def test_a_failed_application_leaves_no_letter_file_behind(share: Any, monkeypatch: Any) -> None:
    """The letter is written before the clock starts; a failure after that removes it again."""
    from govshare.sharing.actions import applications

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("calendar unavailable")

    monkeypatch.setattr(applications, "start_clock", broken)
    before = snapshot()
    with pytest.raises(RuntimeError):
        share.apply()
    assert snapshot() == before
    assert stored_letters() == []


def test_a_failed_resubmission_removes_the_new_letter_and_keeps_the_old_one(share: Any, monkeypatch: Any) -> None:
    from govshare.sharing.actions import applications

    app = do_first_review(share.org.reviewer, share.apply(), decision="return", comment="公章不清晰。")
    old = stored_letters()
    assert old == [app.letter_path]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("calendar unavailable")

    monkeypatch.setattr(applications, "start_clock", broken)
    before = snapshot()
    with pytest.raises(RuntimeError):
        do_resubmit(share.org.market_specialist, app, letter=("新申请函.png", PNG))
    assert snapshot() == before
    assert stored_letters() == old


# ------------------------------------------------------------------ double submission

def test_a_second_application_for_the_same_entry_is_a_conflict_and_stores_no_second_letter(share: Any) -> None:
    first = share.apply()
    rendered = refused(lambda: share.apply(), Conflict, "duplicate_application", None)
    assert first.number in rendered["message_zh"] and first.number in rendered["message_en"]
    # the department applies once: a colleague's second application is the same duplicate
    refused(lambda: share.apply(user=share.org.market_admin), Conflict, "duplicate_application", None)
    assert stored_letters() == [first.letter_path]


def test_a_second_subscription_to_the_same_entry_is_a_conflict(share: Any) -> None:
    grant = do_subscribe_entry(share.org.market_specialist, share.unconditional, purpose="工作参考")
    rendered = refused(lambda: do_subscribe_entry(share.org.market_admin, share.unconditional, purpose="工作参考"),
                       Conflict, "already_granted", None)
    assert grant.number in rendered["message_en"]


def test_a_second_coordination_case_on_the_same_entry_is_a_conflict(share: Any) -> None:
    do_open_case(share.org.market_specialist, entry=share.not_shared, reason="登记核验需要。", items=["姓名"],
                 purpose="行政依据")
    refused(lambda: do_open_case(share.org.market_admin, entry=share.not_shared, reason="再次申请。",
                                 items=["姓名"], purpose="行政依据"), Conflict, "duplicate_case", None)


def test_answering_twice_is_a_conflict(share: Any) -> None:
    app = _passed(share)
    do_answer(share.org.police_admin, app, decision="approve")
    refused(lambda: do_answer(share.org.police_specialist, app, decision="refuse", basis="依据", reason="理由"),
            Conflict, "not_waiting_for_answer", None)


def test_revoking_twice_is_a_conflict_and_a_revocation_needs_a_reason(share: Any) -> None:
    grant = do_subscribe_entry(share.org.market_specialist, share.unconditional, purpose="工作参考")
    refused(lambda: do_revoke_grant(share.org.police_admin, grant, reason=""), ValidationFailed, "required",
            "reason")
    do_revoke_grant(share.org.police_admin, grant, reason="用途变更。")
    refused(lambda: do_revoke_grant(share.org.reviewer, grant, reason="再次撤销。"), Conflict, "already_revoked")


# ------------------------------------------------------------------ too late

def test_approving_after_the_answer_deadline_is_refused_until_the_centre_reopens_it(share: Any) -> None:
    with time_machine.travel(at(2026, 12, 1, 10), tick=False):  # Tuesday
        app = _passed(share)
        assert app.deadline.due_date == dt.date(2026, 12, 8)  # 5 working days
    with time_machine.travel(at(2026, 12, 9, 0, 1), tick=False):
        rendered = refused(lambda: do_answer(share.org.police_admin, app, decision="approve"), Forbidden,
                           "answer_period_over")
        assert "2026-12-08" in rendered["message_en"]
        refused(lambda: do_answer(share.org.police_admin, app, decision="refuse", basis="依据", reason="理由"),
                Forbidden, "answer_period_over")


def test_approving_after_the_requested_period_of_use_has_ended_is_refused(share: Any) -> None:
    with time_machine.travel(at(2026, 12, 1, 10), tick=False):
        app = _passed(share, period_end=dt.date(2026, 12, 2))
    with time_machine.travel(at(2026, 12, 3, 10), tick=False):  # the answer period still runs
        refused(lambda: do_answer(share.org.police_admin, app, decision="approve"), Conflict, "period_expired",
                "period_end")


def test_an_expiry_in_the_past_or_beyond_the_requested_period_is_refused(share: Any) -> None:
    app = _passed(share, period_end=dt.date(2027, 6, 30))
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    refused(lambda: do_answer(share.org.police_admin, app, decision="approve", expires_on=yesterday),
            ValidationFailed, "expiry_past", "expires_on")
    refused(lambda: do_answer(share.org.police_admin, app, decision="approve", expires_on=dt.date(2027, 7, 1)),
            ValidationFailed, "expiry_after_period", "expires_on")


def test_an_expiry_before_the_requested_period_starts_is_refused(share: Any) -> None:
    start = timezone.localdate() + dt.timedelta(days=30)
    app = _passed(share, period_start=start)
    refused(lambda: do_answer(share.org.police_admin, app, decision="approve",
                              expires_on=start - dt.timedelta(days=1)),
            ValidationFailed, "expiry_before_start", "expires_on")


def test_settling_a_case_with_a_grant_needs_an_expiry_in_the_future_and_a_reason(share: Any) -> None:
    case = do_open_case(share.org.market_specialist, entry=share.not_shared, reason="登记核验需要。",
                        items=["姓名"], purpose="行政依据")
    reviewer = share.org.reviewer
    refused(lambda: do_settle_case(reviewer, case, outcome="grant", reason="同意。"), ValidationFailed, "required",
            "expires_on")
    refused(lambda: do_settle_case(reviewer, case, outcome="grant", reason="同意。",
                                   expires_on=timezone.localdate() - dt.timedelta(days=1)),
            ValidationFailed, "expiry_past", "expires_on")
    refused(lambda: do_settle_case(reviewer, case, outcome="refuse", reason=""), ValidationFailed, "required",
            "reason")


# ------------------------------------------------------------------ someone else's application

def test_acting_on_another_departments_application_is_not_found(share: Any, org_education: Any) -> None:
    app = share.apply()
    outsider, outsider_admin = org_education
    refused(lambda: do_withdraw_application(outsider, app), NotFound, "not_found")
    refused(lambda: do_resubmit(outsider, app), NotFound, "not_found")
    passed = do_first_review(share.org.reviewer, app, decision="pass")
    refused(lambda: do_answer(outsider_admin, passed, decision="approve"), NotFound, "not_found")
    refused(lambda: do_open_case(outsider, application=passed, reason="想要。"), NotFound, "not_found")


def test_the_consumer_cannot_answer_its_own_application(share: Any) -> None:
    app = _passed(share)
    refused(lambda: do_answer(share.org.market_admin, app, decision="approve"), Forbidden, "wrong_party")


def test_a_system_of_another_department_cannot_be_switched_off(share: Any) -> None:
    refused(lambda: do_set_system_active(share.org.market_admin, share.police_system, False), NotFound,
            "not_found")


# ------------------------------------------------------------------ the application's content

def test_items_the_entry_does_not_have_are_refused_by_name(share: Any) -> None:
    rendered = refused(lambda: share.apply(items=["姓名", "血型", "指纹"]), ValidationFailed, "unknown_items",
                       "items")
    assert "血型" in rendered["message_zh"] and "指纹" in rendered["message_en"]


@pytest.mark.parametrize("items", [[], None, "姓名", [1, 2]])
def test_missing_or_malformed_items_are_refused(share: Any, items: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        share.apply(items=items)
    assert any(p["field"] == "items" for p in caught.value.as_dict()["errors"])
    assert not Application.objects.exists()


def test_the_provider_cannot_narrow_to_items_that_were_not_requested(share: Any) -> None:
    app = _passed(share)  # 公民身份号码 and 姓名
    rendered = refused(lambda: do_answer(share.org.police_admin, app, decision="approve", items=["姓名", "出生日期"]),
                       ValidationFailed, "items_outside_scope", "items")
    assert "出生日期" in rendered["message_en"]


def test_masking_an_item_that_is_not_granted_is_refused(share: Any) -> None:
    app = _passed(share)
    refused(lambda: do_answer(share.org.police_admin, app, decision="approve", items=["姓名"],
                              masking={"公民身份号码": "保留前6位"}),
            ValidationFailed, "masking_item_not_granted", "masking")
    refused(lambda: do_answer(share.org.police_admin, app, decision="approve", masking={"血型": "全部遮盖"}),
            ValidationFailed, "masking_item_not_granted", "masking")


def test_a_case_settlement_masking_an_item_that_is_not_granted_is_refused(share: Any) -> None:
    case = do_open_case(share.org.market_specialist, entry=share.not_shared, reason="登记核验需要。",
                        items=["姓名"], purpose="行政依据")
    refused(lambda: do_settle_case(share.org.reviewer, case, outcome="grant", reason="同意。",
                                   expires_on=dt.date(2027, 12, 31), masking={"公民身份号码": "保留前6位"}),
            ValidationFailed, "masking_item_not_granted", "masking")


def test_a_period_that_ends_before_it_starts_is_refused(share: Any) -> None:
    refused(lambda: share.apply(period_start=dt.date(2027, 3, 1), period_end=dt.date(2027, 2, 1)),
            ValidationFailed, "period_reversed", "period_end")


def test_a_period_in_the_past_is_refused(share: Any) -> None:
    today = timezone.localdate()
    refused(lambda: share.apply(period_end=today - dt.timedelta(days=1)), ValidationFailed, "period_past",
            "period_end")
    refused(lambda: share.apply(period_start=today - dt.timedelta(days=30)), ValidationFailed, "period_past",
            "period_start")


def test_a_period_longer_than_five_years_or_without_an_end_is_refused(share: Any) -> None:
    today = timezone.localdate()
    refused(lambda: share.apply(period_end=today.replace(year=today.year + 6)), ValidationFailed,
            "period_too_long", "period_end")
    refused(lambda: share.apply(period_end=None), ValidationFailed, "required", "period_end")
    refused(lambda: share.apply(period_end="2027-12-31"), ValidationFailed, "invalid_date", "period_end")


def test_a_purpose_outside_the_profile_list_is_refused(share: Any) -> None:
    rendered = refused(lambda: share.apply(purpose="商业营销"), ValidationFailed, "invalid_purpose", "purpose")
    assert "行政依据" in rendered["message_en"]  # the allowed choices are named
    refused(lambda: do_subscribe_entry(share.org.market_admin, share.unconditional, purpose="商业营销"),
            ValidationFailed, "invalid_purpose", "purpose")
    refused(lambda: do_open_case(share.org.market_admin, entry=share.not_shared, reason="需要。", items=["姓名"],
                                 purpose="商业营销"), ValidationFailed, "invalid_purpose", "purpose")


def test_a_channel_the_entry_does_not_offer_is_refused(share: Any) -> None:
    rendered = refused(lambda: share.apply(channel="file"), ValidationFailed, "invalid_channel", "channel")
    assert "table/api" in rendered["message_en"]
    refused(lambda: share.apply(channel="ftp"), ValidationFailed, "invalid_channel", "channel")
    refused(lambda: share.apply(channel=""), ValidationFailed, "required", "channel")


def test_a_system_of_another_department_an_unknown_or_a_deactivated_system_is_refused(share: Any) -> None:
    refused(lambda: share.apply(system=share.police_system.pk), ValidationFailed, "unknown_system", "system")
    refused(lambda: share.apply(system=999999), ValidationFailed, "unknown_system", "system")
    refused(lambda: share.apply(system="1 OR 1=1"), ValidationFailed, "unknown_system", "system")
    refused(lambda: share.apply(system=None), ValidationFailed, "required", "system")
    do_set_system_active(share.org.market_admin, share.market_system, False)
    refused(lambda: share.apply(), ValidationFailed, "unknown_system", "system")


@pytest.mark.parametrize("field", ["purpose_detail", "contact_name", "contact_phone"])
def test_control_characters_in_the_application_are_refused(share: Any, field: str) -> None:
    value = {"purpose_detail": "核验\x00身份", "contact_name": "王\x07五", "contact_phone": "0797\x1b3512345"}[field]
    refused(lambda: share.apply(**{field: value}), ValidationFailed, "control_characters", field)


def test_control_characters_in_a_refusal_a_case_or_a_revocation_are_refused(share: Any) -> None:
    app = _passed(share)
    refused(lambda: do_answer(share.org.police_admin, app, decision="refuse", basis="依据\x00", reason="理由"),
            ValidationFailed, "control_characters", "basis")
    refused(lambda: do_open_case(share.org.market_admin, entry=share.not_shared, reason="需要\x00。",
                                 items=["姓名"], purpose="行政依据"), ValidationFailed, "control_characters", "reason")
    grant = do_subscribe_entry(share.org.market_specialist, share.unconditional, purpose="工作参考")
    refused(lambda: do_revoke_grant(share.org.police_admin, grant, reason="撤销\x08"), ValidationFailed,
            "control_characters", "reason")


def test_an_invalid_phone_number_is_refused(share: Any) -> None:
    refused(lambda: share.apply(contact_phone="call me maybe"), ValidationFailed, "invalid_phone", "contact_phone")


def test_every_problem_of_an_application_is_reported_at_once(share: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        share.apply(items=["血型"], purpose="商业营销", channel="file", system=share.police_system.pk,
                    contact_name="", letter=("x.exe", b"MZ" + b"\x00" * 10))
    fields = {p["field"] for p in caught.value.as_dict()["errors"]}
    assert fields == {"items", "purpose", "channel", "system", "contact_name", "letter"}
    assert stored_letters() == []


# ------------------------------------------------------------------ helpers (fixtures)

def _other_conditional(share: Any) -> Any:
    return share.cat.published(name="出入境证件信息", share_type="conditional", share_condition="公函。",
                               share_basis="《出境入境管理法》", share_methods=["table", "api"])


@pytest.fixture
def org_education(share: Any) -> tuple[Any, Any]:
    """An outsider department (教育局): its data specialist and administrator."""
    from govshare.core.actions import do_create_department
    from govshare.core.demo import make_uscc
    from govshare.core.roles import Role

    org = share.org
    dept = do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局",
                                uscc=make_uscc("360783", 4), code="JY", jurisdiction=org.county)
    return org.user("edu_specialist", dept, Role.DATA_SPECIALIST), org.user("edu_admin", dept, Role.DEPT_ADMIN)
