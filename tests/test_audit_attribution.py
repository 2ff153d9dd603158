"""Audit attribution (SEC-4, issue 8).

* An audit row names the person who acted.  When a provider approves an application, the
  applicant's change-notice subscription (2111) is recorded as done *by the provider*, *on behalf
  of* the applicant — in a field of its own.
* The 部门 column is the actor's department everywhere; the object's department has its own column.
* The new fields are part of the hash chain; rows written before they existed still verify.
* The audit screens, API and CSV export show them; an empty result says so; codes and outcomes are
  in the reader's language.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client
from django.utils import translation

from govshare.catalog.actions import do_subscribe
from govshare.core import audit, context, crypto
from govshare.core.actions.audit import check_chain
from govshare.core.actions.auth import do_create_token
from govshare.core.audit_codes import AuditCode, label
from govshare.core.models import AuditEvent
from govshare.sharing.actions import do_answer, do_first_review
from tests.conftest import API, login


def _last(code: AuditCode) -> AuditEvent:
    return AuditEvent.objects.filter(code=code).order_by("-id").first()


def _approved(share: Any) -> Any:
    org = share.org
    app = share.apply()
    do_first_review(org.reviewer, app, decision="pass")
    do_answer(org.police_specialist, app, decision="approve", items=["姓名"])
    return app


def test_the_applicants_subscription_is_recorded_as_done_by_the_approving_provider(share: Any) -> None:
    org = share.org
    _approved(share)
    event = _last(AuditCode.ENTRY_SUBSCRIBED)
    assert (event.actor_id, event.actor_username) == (org.police_specialist.pk, "police_specialist")
    assert event.department_id == org.police.pk  # the actor's department
    assert (event.on_behalf_of_id, event.on_behalf_of_username) == (org.market_specialist.pk, "market_specialist")
    assert event.on_behalf_of_name == org.market_specialist.real_name
    assert event.object_department_id == org.police.pk  # the entry's provider


def test_a_user_who_subscribes_themselves_acts_on_nobodys_behalf(share: Any) -> None:
    org = share.org
    do_subscribe(org.market_admin, share.unconditional)
    event = _last(AuditCode.ENTRY_SUBSCRIBED)
    assert event.actor_id == org.market_admin.pk and event.department_id == org.market.pk
    assert event.on_behalf_of_id is None and event.on_behalf_of_username == ""


def test_an_explicit_actor_is_recorded_as_given_whoever_the_context_names(share: Any) -> None:
    org = share.org
    with context.bind(user=org.police_admin):  # someone else's request context
        do_subscribe(org.market_admin, share.unconditional)
    event = _last(AuditCode.ENTRY_SUBSCRIBED)
    assert event.actor_id == org.market_admin.pk and event.department_id == org.market.pk
    assert event.on_behalf_of_id is None  # "on behalf of" is said by the action, never inferred


def _session_with_token_of(session_user: Any, token_user: Any, scope: str) -> tuple[Client, str]:
    token = do_create_token(token_user, name="attribution", scope=scope)
    return login(Client(), session_user), f"Bearer {token.secret}"


def test_a_request_with_a_session_and_a_token_acts_as_the_tokens_user(share: Any) -> None:
    org = share.org
    client, bearer = _session_with_token_of(org.police_specialist, org.market_specialist, "write")
    first = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    response = client.post(f"{API}/sharing/subscribe", {"entry_id": share.unconditional.pk, "purpose": "工作参考"},
                           content_type="application/json", HTTP_AUTHORIZATION=bearer)
    assert response.status_code in (200, 201), response.content
    rows = list(AuditEvent.objects.filter(id__gt=first).order_by("id"))
    assert rows and AuditCode.TOKEN_USED not in [r.code for r in rows]  # token uses: the access log (issue 9)
    assert {(r.actor_username, r.on_behalf_of_username) for r in rows} == {("market_specialist", "")}
    assert _last(AuditCode.ENTRY_SUBSCRIBED).department_id == org.market.pk


def test_a_refused_token_sent_with_a_session_is_recorded_as_the_tokens_user(share: Any) -> None:
    org = share.org
    client, bearer = _session_with_token_of(org.police_specialist, org.market_specialist, "read")
    response = client.post(f"{API}/sharing/subscribe", {"entry_id": share.unconditional.pk, "purpose": "工作参考"},
                           content_type="application/json", HTTP_AUTHORIZATION=bearer)
    assert response.status_code == 403 and response.json()["error"]["code"] == "token_read_only"
    event = _last(AuditCode.TOKEN_REJECTED)
    assert (event.actor_username, event.on_behalf_of_username) == ("market_specialist", "")


def test_the_department_column_is_always_the_actors(share: Any) -> None:
    org = share.org
    app = _approved(share)
    approved = _last(AuditCode.SHARE_APPROVED)  # the provider acts on the consumer's application
    assert approved.department_id == org.police.pk and approved.object_department_id == org.market.pk
    passed = AuditEvent.objects.get(code=AuditCode.SHARE_FIRST_REVIEW_PASSED, object_id=str(app.pk))
    assert passed.department_id == org.centre.pk  # the centre's reviewer acted
    assert passed.department_name == "龙南市政务和数据服务中心"


# ------------------------------------------------------------------ the hash chain

def _pre_issue_8_digest(prev_hash: str, row: AuditEvent) -> str:
    """How rows were hashed before the attribution fields existed."""
    names = ("occurred_at", "code", "action", "outcome", "actor_id", "actor_username", "actor_name", "department_id",
             "department_name", "object_type", "object_id", "object_repr", "ip", "request_id", "changes", "detail")
    payload = {name: getattr(row, name) for name in names}
    payload["occurred_at"] = row.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hmac.new(crypto.audit_chain_key(), (prev_hash + "\n" + body).encode(), hashlib.sha256).hexdigest()


def test_rows_without_the_new_fields_hash_as_before(org: Any) -> None:
    with context.bind(user=None):
        event = audit.record(AuditCode.CALENDAR_DAY_SET, actor=None, detail={"day": "2026-10-10"})
    assert event.object_department_id is None and event.on_behalf_of_id is None
    assert event.row_hash == _pre_issue_8_digest(event.prev_hash, event)
    assert check_chain().ok


def _lift_update_guard() -> None:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_no_update")
        else:
            cur.execute("DROP TRIGGER core_auditevent_no_update")


def test_rewriting_who_it_was_done_for_breaks_the_chain(share: Any) -> None:
    _approved(share)
    event = _last(AuditCode.ENTRY_SUBSCRIBED)
    assert check_chain().ok
    _lift_update_guard()
    AuditEvent.objects.filter(pk=event.pk).update(on_behalf_of_username="", on_behalf_of_id=None)
    report = check_chain()
    assert not report.ok and report.first_broken_id == event.pk


# ------------------------------------------------------------------ screens, API, export

def _auditor(org: Any, language: str = "zh-hans") -> Client:
    client = login(Client(), org.auditor)
    client.cookies["django_language"] = language
    return client


def test_the_audit_page_shows_on_behalf_of_and_both_departments(share: Any) -> None:
    org = share.org
    _approved(share)
    html = _auditor(org).get("/audit/", {"code": "2111"}).content.decode()
    assert "代 测试market_specialist（market_specialist）办理" in html
    assert "部门（操作人所属）" in html and "对象所属部门" in html
    event = _last(AuditCode.ENTRY_SUBSCRIBED)
    detail = _auditor(org).get(f"/audit/{event.pk}/").content.decode()
    assert "market_specialist" in detail and "龙南市公安局" in detail


def test_an_empty_audit_result_says_so(org: Any) -> None:
    html = _auditor(org).get("/audit/", {"code": "9999"}).content.decode()
    assert 'data-count="0"' in html and "没有符合条件的事件" in html


def test_codes_and_outcomes_are_in_the_readers_language(org: Any) -> None:
    english = _auditor(org, "en").get("/audit/", {"domain": "core"}).content.decode()
    chinese = _auditor(org).get("/audit/", {"domain": "core"}).content.decode()
    for language, html in (("en", english), ("zh-hans", chinese)):
        with translation.override(language):
            assert str(label(AuditCode.USER_CREATED)) in html and str(AuditEvent.Outcome.SUCCESS.label) in html
    assert "user_created" not in chinese and "Platform core" in english


def test_the_api_and_the_csv_export_carry_the_attribution(share: Any) -> None:
    org = share.org
    _approved(share)
    client = _auditor(org, "en")
    item = client.get(f"{API}/audit/events", {"code": "2111"}).json()["items"][0]
    assert item["on_behalf_of_username"] == "market_specialist" and item["actor_username"] == "police_specialist"
    assert item["department_id"] == org.police.pk and item["object_department_id"] == org.police.pk
    assert item["label"] == "Subscribed to a catalog entry" and item["outcome_label"] == "Success"
    text = b"".join(client.get(f"{API}/audit/export", {"code": "2111", "format": "csv"}).streaming_content)
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    header, row = rows[0], rows[1]
    assert row[header.index("On behalf of (user name)")] == "market_specialist"
    assert row[header.index("Department (of the user)")] == "龙南市公安局"
    assert row[header.index("Department of the object")] == "龙南市公安局"
    assert row[header.index("Event")] == "Subscribed to a catalog entry"
    assert row[header.index("Outcome")] == "Success"


def test_the_api_filters_by_the_objects_department(share: Any) -> None:
    org = share.org
    _approved(share)
    client = _auditor(org)
    items = client.get(f"{API}/audit/events", {"object_department": str(org.market.pk), "limit": 500}).json()["items"]
    assert items and all(i["object_department_id"] == org.market.pk for i in items)
    assert any(i["department_id"] == org.police.pk for i in items)  # the provider acted on the consumer's objects


# ------------------------------------------------------------------ rows written before the 部门 column changed meaning

def _note_boundary() -> None:
    import importlib

    from django.apps import apps

    module = importlib.import_module("govshare.core.migrations.0005_job_title_meaning_audit_department_boundary")
    module.note_boundary(apps, None)


def test_the_migration_notes_the_first_row_with_the_new_meaning(org: Any) -> None:
    from govshare.core.models import AuditAnchor

    first_new = AuditEvent.objects.filter(object_department_id__isnull=False).order_by("id").first()
    assert first_new is not None
    _note_boundary()
    assert AuditAnchor.objects.get(pk=1).actor_department_from_id == first_new.pk
    assert audit.actor_department_from_id() == first_new.pk


def test_without_a_row_with_the_new_fields_every_row_so_far_is_old(org: Any) -> None:
    from govshare.core.models import AuditAnchor

    newest = AuditEvent.objects.order_by("-id").first()
    _lift_update_guard()  # pretend the fixtures' rows were written before the new fields existed
    AuditEvent.objects.update(object_department_id=None, on_behalf_of_id=None)
    _note_boundary()
    assert AuditAnchor.objects.get(pk=1).actor_department_from_id == newest.pk + 1


def test_the_audit_screens_note_the_rows_whose_department_is_the_objects(share: Any) -> None:
    from govshare.core.models import AuditAnchor

    _approved(share)
    new = _last(AuditCode.ENTRY_SUBSCRIBED)
    old = AuditEvent.objects.filter(id__lt=new.pk, code=AuditCode.SHARE_FIRST_REVIEW_PASSED).order_by("-id").first()
    AuditAnchor.objects.update_or_create(pk=1, defaults={"actor_department_from_id": new.pk})
    note = "对象所属部门（本列改为记录操作人所属部门之前写入）"
    client = _auditor(share.org)
    assert note in client.get("/audit/", {"code": str(int(AuditCode.SHARE_FIRST_REVIEW_PASSED))}).content.decode()
    assert note not in client.get("/audit/", {"code": "2111"}).content.decode()
    assert "此处记录的是对象所属部门" in client.get(f"/audit/{old.pk}/").content.decode()
    assert "此处记录的是对象所属部门" not in client.get(f"/audit/{new.pk}/").content.decode()
    assert check_chain().ok  # nothing was rewritten


def test_a_database_without_old_rows_notes_nothing(org: Any) -> None:
    assert audit.actor_department_from_id() is None
    assert "对象所属部门（本列改为" not in _auditor(org).get("/audit/").content.decode()
