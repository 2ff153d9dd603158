"""Separation of duties around the audit log (SEC-2, SEC-4; GB/T 39477): only auditors read,
export and verify it; administrators cannot; auditors cannot change anything else.

Parties: the *owner* is the auditor; the *colleague* is the centre administrator (same centre
department, more power elsewhere but none here); *outsiders* are a department admin and a citizen.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from govshare.core import audit
from govshare.core.actions.audit import do_export_audit, do_purge_audit, do_search_audit, do_verify_audit
from govshare.core.audit_codes import AuditCode, domain_label, label
from govshare.core.errors import Forbidden, NotFound
from govshare.core.models import AuditEvent, Department
from govshare.core.navigation import menu_for
from tests.conftest import Org

NOT_AUDITORS = ["centre_admin", "police_admin", "citizen"]


def _some_event() -> AuditEvent:
    return AuditEvent.objects.filter(code=AuditCode.DEPARTMENT_CREATED).first()


# ------------------------------------------------------------------ API

def test_the_auditor_lists_events_with_a_total_and_pages(org: Org, client_for: Any) -> None:
    client = client_for(org.auditor)
    body = client.get("/api/v1/audit/events", {"limit": 5}).json()
    assert body["total"] == AuditEvent.objects.count()  # including this search's own AUDIT_VIEWED
    assert body["limit"] == 5 and body["offset"] == 0
    assert len(body["items"]) == 5
    first = body["items"][0]
    assert {"code", "action", "domain", "outcome", "actor_username", "department_name", "object_repr", "ip",
            "request_id", "changes"} <= set(first)
    assert [i["id"] for i in body["items"]] == sorted((i["id"] for i in body["items"]), reverse=True)
    second = client.get("/api/v1/audit/events", {"limit": 5, "offset": 5}).json()
    assert not {i["id"] for i in body["items"]} & {i["id"] for i in second["items"]}


def test_the_auditor_opens_one_event_with_its_hashes_and_the_view_is_recorded(org: Org, client_for: Any) -> None:
    event = _some_event()
    response = client_for(org.auditor).get(f"/api/v1/audit/events/{event.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["row_hash"] == event.row_hash and body["changes"] == event.changes
    viewed = AuditEvent.objects.order_by("-id").first()
    assert viewed.code == AuditCode.AUDIT_VIEWED and viewed.object_id == str(event.pk)


def test_the_auditor_verifies_the_chain_through_the_api(org: Org, client_for: Any) -> None:
    body = client_for(org.auditor).get("/api/v1/audit/verify").json()
    assert body["ok"] is True and body["first_broken"] is None
    assert body["checked"] > 0 and body["message_en"] and body["message_zh"]


def test_the_auditor_starts_a_background_verification(org: Org, client_for: Any) -> None:
    response = client_for(org.auditor).post("/api/v1/audit/verify/jobs")
    assert response.status_code == 202 and response.json()["job_id"]


@pytest.mark.parametrize("who", NOT_AUDITORS)
@pytest.mark.parametrize("url", ["/api/v1/audit/events", "/api/v1/audit/verify",
                                 "/api/v1/audit/export?format=csv"])
def test_anyone_but_an_auditor_is_refused_the_audit_api(org: Org, client_for: Any, who: str, url: str) -> None:
    response = client_for(getattr(org, who)).get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("who", NOT_AUDITORS)
def test_a_single_event_is_not_found_for_anyone_but_an_auditor(org: Org, client_for: Any, who: str) -> None:
    event = _some_event()
    existing = client_for(getattr(org, who)).get(f"/api/v1/audit/events/{event.pk}")
    missing = client_for(getattr(org, who)).get("/api/v1/audit/events/999999")
    assert existing.status_code == missing.status_code == 404
    assert existing.json() == missing.json()


def test_a_refused_read_is_itself_audited(org: Org, client_for: Any) -> None:
    client_for(org.centre_admin).get("/api/v1/audit/events")
    denial = AuditEvent.objects.filter(code=AuditCode.PERMISSION_DENIED, actor_id=org.centre_admin.pk).last()
    assert denial is not None and denial.outcome == "denied"
    assert denial.detail == {"capability": "read_audit"}


def test_a_background_verification_is_refused_to_an_administrator(org: Org, client_for: Any) -> None:
    assert client_for(org.centre_admin).post("/api/v1/audit/verify/jobs").status_code == 403


def test_the_audit_api_needs_a_login(org: Org) -> None:
    assert Client().get("/api/v1/audit/events").status_code == 401


def test_the_list_takes_the_same_number_of_queries_for_five_rows_or_fifty(org: Org, client_for: Any) -> None:
    client = client_for(org.auditor)
    client.get("/api/v1/audit/events", {"limit": 5})  # warm-up: session, roles
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/v1/audit/events", {"limit": 5}).json()["items"]) == 5
    for i in range(60):
        audit.record(AuditCode.USER_UPDATED, object_repr=f"row {i}", changes={"phone": ["1", "2"]})
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/audit/events", {"limit": 50}).json()["items"]) == 50
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 15


# ------------------------------------------------------------------ the auditor changes nothing else

def test_the_auditor_cannot_create_a_department(org: Org, client_for: Any) -> None:
    count = Department.objects.count()
    response = client_for(org.auditor).post(
        "/api/v1/departments", {"name": "审计部门", "short_name": "审", "uscc": "91360783MA35XXXX1X", "code": "AU",
                                "jurisdiction_id": org.county.pk}, content_type="application/json")
    assert response.status_code == 403
    assert Department.objects.count() == count


def test_the_auditor_cannot_change_a_department(org: Org, client_for: Any) -> None:
    response = client_for(org.auditor).patch(f"/api/v1/departments/{org.police.pk}", {"short_name": "改名"},
                                             content_type="application/json")
    assert response.status_code in {403, 404}
    org.police.refresh_from_db()
    assert org.police.short_name == "公安局"


def test_the_auditor_cannot_create_a_user_or_grant_a_role(org: Org, client_for: Any) -> None:
    client = client_for(org.auditor)
    created = client.post("/api/v1/users", {"username": "x1", "real_name": "某人", "roles": []},
                          content_type="application/json")
    assert created.status_code == 403
    granted = client.post(f"/api/v1/users/{org.citizen.pk}/roles", {"role": "auditor"},
                          content_type="application/json")
    assert granted.status_code in {403, 404}
    assert not org.citizen.role_assignments.filter(role="auditor").exists()


def test_nobody_purges_the_log_through_an_account(org: Org) -> None:
    for user in (org.auditor, org.centre_admin):
        with pytest.raises(Forbidden):
            do_purge_audit(user)


# ------------------------------------------------------------------ actions

@pytest.mark.parametrize("who", NOT_AUDITORS)
def test_the_actions_refuse_anyone_but_an_auditor(org: Org, who: str) -> None:
    user = getattr(org, who)
    with pytest.raises(Forbidden):
        do_search_audit(user, {})
    with pytest.raises(Forbidden):
        do_export_audit(user, {}, "csv")
    with pytest.raises(Forbidden):
        do_verify_audit(user)


# ------------------------------------------------------------------ web pages

def test_the_auditor_sees_the_audit_page_with_filters_export_and_verify(org: Org, client_for: Any) -> None:
    response = client_for(org.auditor).get(reverse("core:audit"), {"domain": "core"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="date_from"' in html and 'name="request_id"' in html
    assert reverse("core:audit_export") + "?format=csv&amp;domain=core" in html
    assert reverse("core:audit_export") + "?format=xlsx&amp;domain=core" in html
    assert reverse("core:audit_verify") in html
    assert "龙南市公安局" in html
    # codes and outcomes in the reader's language, not as identifiers
    with translation.override("zh-hans"):
        assert str(label(AuditCode.DEPARTMENT_CREATED)) in html and str(domain_label("core")) in html
        assert str(AuditEvent.Outcome.SUCCESS.label) in html
    assert "department_created" not in html


def test_the_audit_page_shows_before_and_after_of_changed_fields(org: Org, client_for: Any) -> None:
    from govshare.core.actions import do_update_department

    do_update_department(org.centre_admin, org.police, short_name="龙南公安")
    event = AuditEvent.objects.filter(code=AuditCode.DEPARTMENT_UPDATED).last()
    client = client_for(org.auditor)
    page = client.get(reverse("core:audit"), {"code": "1111"}).content.decode()
    assert "short_name" in page and "公安局" in page and "龙南公安" in page
    detail = client.get(reverse("core:audit_event", args=[event.pk]))
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "short_name" in html and "龙南公安" in html and event.row_hash in html


def test_the_auditor_verifies_from_the_page(org: Org, client_for: Any) -> None:
    client = client_for(org.auditor)
    partial = client.post(reverse("core:audit_verify"), headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b"<html" not in partial.content
    assert b'class="badge ok"' in partial.content
    full = client.post(reverse("core:audit_verify"))
    assert full.status_code == 200 and b"<html" in full.content


def test_the_auditor_exports_from_the_page(org: Org, client_for: Any) -> None:
    response = client_for(org.auditor).get(reverse("core:audit_export"), {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("who", NOT_AUDITORS)
def test_the_audit_pages_are_refused_to_anyone_but_an_auditor(org: Org, client_for: Any, who: str) -> None:
    client = client_for(getattr(org, who))
    assert client.get(reverse("core:audit")).status_code == 403
    assert client.get(reverse("core:audit_export"), {"format": "csv"}).status_code == 403
    assert client.post(reverse("core:audit_verify")).status_code == 403
    assert client.get(reverse("core:audit_event", args=[_some_event().pk])).status_code == 404


def test_the_audit_pages_send_an_anonymous_visitor_to_the_login(org: Org) -> None:
    response = Client().get(reverse("core:audit"))
    assert response.status_code == 302 and reverse("core:login") in response["Location"]


def test_a_bad_filter_on_the_page_names_the_field(org: Org, client_for: Any) -> None:
    response = client_for(org.auditor).get(reverse("core:audit"), {"date_from": "2024-02-30"})
    assert response.status_code == 400
    assert "date_from" in response.content.decode()


def test_only_the_auditor_has_the_audit_log_in_the_menu(org: Org) -> None:
    url = reverse("core:audit")
    assert url in {i["url"] for i in menu_for(org.auditor)}
    for who in NOT_AUDITORS:
        assert url not in {i["url"] for i in menu_for(getattr(org, who))}


def test_a_missing_event_page_is_not_found_for_the_auditor_too(org: Org, client_for: Any) -> None:
    assert client_for(org.auditor).get(reverse("core:audit_event", args=[999999])).status_code == 404


def test_viewing_a_missing_event_raises_not_found(org: Org) -> None:
    from govshare.core.actions.audit import do_view_audit_event

    with pytest.raises(NotFound):
        do_view_audit_event(org.auditor, 999999)


def test_a_read_of_the_access_log_is_opened_by_its_own_id_not_a_write_of_the_same_number(
        org: Org, client_for: Any) -> None:
    """The two logs number their rows each on its own: /audit/events/{id} gave the write of a read's number (the QA
    walk-through of the 21st session opened 1400 查阅审计日志 for a 5000 read).  ``log=read`` names the access log;
    the reads' rows of the page link to it.  Owner (auditor), colleague (centre administrator), outsiders: 404."""
    from govshare.core import access_log
    from govshare.core.models import AccessEvent

    access_log.record(AuditCode.READ_ACCESS_CHECK, object_type="catalog.catalogentry", object_repr="某目录")
    read = AccessEvent.objects.order_by("-id").first()
    assert read is not None
    auditor = client_for(org.auditor)
    body = auditor.get(f"/api/v1/audit/events/{read.pk}", {"log": "read"}).json()
    assert (body["log"], body["code"], body["row_hash"], body["object_repr"]) == (
        "read", AuditCode.READ_ACCESS_CHECK, read.row_hash, "某目录")
    viewed = AuditEvent.objects.order_by("-id").first()
    assert (viewed.code, viewed.object_type, viewed.object_id) == (AuditCode.AUDIT_VIEWED, "core.accessevent",
                                                                    str(read.pk))
    page = auditor.get(reverse("core:audit"), {"log": "reads"}).content.decode()
    link = reverse("core:audit_event", args=[read.pk]) + "?log=read"
    assert link in page
    detail = auditor.get(link).content.decode()
    assert "data-read-request" in detail and read.row_hash in detail
    for who in NOT_AUDITORS:
        assert client_for(getattr(org, who)).get(f"/api/v1/audit/events/{read.pk}", {"log": "read"}).status_code == 404
