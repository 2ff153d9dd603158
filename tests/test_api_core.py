"""The core JSON API (/api/v1/): departments, users and roles, the specialist register, tokens,
OpenAPI.  Each access test has an owner, a colleague and an outsider (SEC-2)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from govshare.core.actions import do_appoint_specialist, do_create_token, do_create_user
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_id_number, make_uscc
from govshare.core.models import AuditEvent, Department, SpecialistAppointment, User

API = "/api/v1"


@pytest.fixture
def api(client_for: Any) -> Any:
    """A session-authenticated API client for a user of the ``org`` fixture."""
    return client_for


def _json(client: Client, method: str, path: str, body: Any = None) -> Any:
    fn = getattr(client, method)
    if body is None:
        return fn(API + path)
    return fn(API + path, body, content_type="application/json")


# ------------------------------------------------------------------ departments

def test_every_staff_user_lists_departments(org: Any, api: Any) -> None:
    for who in ("centre_admin", "police_specialist", "auditor"):
        response = _json(api(getattr(org, who)), "get", "/departments")
        assert response.status_code == 200
        assert {d["code"] for d in response.json()} >= {"CENTRE", "GA", "SJ"}


def test_a_department_can_be_read_by_id(org: Any, api: Any) -> None:
    response = _json(api(org.market_specialist), "get", f"/departments/{org.police.pk}")
    assert response.status_code == 200 and response.json()["uscc"] == org.police.uscc
    assert _json(api(org.market_specialist), "get", "/departments/999999").status_code == 404


def test_the_centre_admin_creates_a_department_over_the_api(org: Any, api: Any) -> None:
    body = {"name": "龙南市民政局", "short_name": "民政局", "uscc": make_uscc("360783", 60), "code": "MZ",
            "jurisdiction_id": org.county.pk}
    response = _json(api(org.centre_admin), "post", "/departments", body)
    assert response.status_code == 201
    assert Department.objects.filter(code="MZ").exists()


def test_an_invalid_uscc_over_the_api_names_the_field_in_both_languages(org: Any, api: Any) -> None:
    body = {"name": "x", "short_name": "x", "uscc": "91360783ABCDEFGHIZ", "code": "BAD",
            "jurisdiction_id": org.county.pk}
    response = _json(api(org.centre_admin), "post", "/departments", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "uscc" and error["code"].startswith("invalid_uscc")
    assert error["message_en"] and error["message_zh"]
    assert not Department.objects.filter(code="BAD").exists()


def test_a_department_admin_cannot_create_departments_over_the_api(org: Any, api: Any) -> None:
    body = {"name": "x", "short_name": "x", "uscc": make_uscc("360783", 61), "code": "X",
            "jurisdiction_id": org.county.pk}
    response = _json(api(org.police_admin), "post", "/departments", body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_refused_department_creation_is_audited_although_the_action_rolled_back(org: Any, api: Any) -> None:
    body = {"name": "x", "short_name": "x", "uscc": make_uscc("360783", 62), "code": "X2",
            "jurisdiction_id": org.county.pk}
    assert _json(api(org.police_admin), "post", "/departments", body).status_code == 403
    denied = AuditEvent.objects.get(code=int(AuditCode.PERMISSION_DENIED), actor_id=org.police_admin.pk)
    assert denied.outcome == "denied" and denied.detail == {"capability": "manage_departments"}


@pytest.mark.parametrize("who,status", [("police_admin", 200), ("police_specialist", 404), ("market_admin", 404)])
def test_patching_a_department_owner_colleague_outsider(org: Any, api: Any, who: str, status: int) -> None:
    response = _json(api(getattr(org, who)), "patch", f"/departments/{org.police.pk}", {"short_name": "公安"})
    assert response.status_code == status
    org.police.refresh_from_db()
    assert (org.police.short_name == "公安") == (status == 200)


def test_a_department_admin_patching_a_field_they_may_not_change_gets_400_naming_it(org: Any, api: Any) -> None:
    response = _json(api(org.police_admin), "patch", f"/departments/{org.police.pk}", {"name": "新名称"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "name"


# ------------------------------------------------------------------ users

def test_a_department_admin_lists_only_their_departments_users(org: Any, api: Any) -> None:
    names = {u["username"] for u in _json(api(org.police_admin), "get", "/users").json()}
    assert names == {"police_admin", "police_specialist"}


def test_a_colleague_sees_their_department_and_an_outsider_does_not(org: Any, api: Any) -> None:
    colleague = {u["username"] for u in _json(api(org.police_specialist), "get", "/users").json()}
    outsider = {u["username"] for u in _json(api(org.market_specialist), "get", "/users").json()}
    assert "police_admin" in colleague
    assert "police_admin" not in outsider


def test_the_api_never_returns_a_full_id_number(org: Any, api: Any) -> None:
    number = make_id_number("360783", "19880808", 808)
    do_create_user(org.centre_admin, username="wang", real_name="王五", password=None, id_number=number,
                   department=org.police)
    response = _json(api(org.police_admin), "get", "/users")
    assert number not in response.content.decode()
    wang = next(u for u in response.json() if u["username"] == "wang")
    assert wang["id_number"] == number[:4] + "*" * 10 + number[-4:]


def test_a_department_admin_creates_a_user_in_their_department_over_the_api(org: Any, api: Any) -> None:
    body = {"username": "police3", "real_name": "警员三", "department_id": org.police.pk,
            "id_number": make_id_number("360783", "19920202", 303), "roles": ["data_specialist"]}
    response = _json(api(org.police_admin), "post", "/users", body)
    assert response.status_code == 201
    assert response.json()["roles"] == ["data_specialist"]


def test_a_department_admin_cannot_create_a_user_in_another_department(org: Any, api: Any) -> None:
    body = {"username": "spy", "real_name": "x", "department_id": org.market.pk}
    response = _json(api(org.police_admin), "post", "/users", body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_department"
    assert not User.objects.filter(username="spy").exists()


def test_a_duplicate_id_number_over_the_api_is_409_naming_the_field(org: Any, api: Any) -> None:
    number = make_id_number("360783", "19930303", 404)
    body = {"username": "a1", "real_name": "甲", "department_id": org.police.pk, "id_number": number}
    assert _json(api(org.police_admin), "post", "/users", body).status_code == 201
    response = _json(api(org.police_admin), "post", "/users", {**body, "username": "a2"})
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "id_number"


@pytest.mark.parametrize("who,status", [("police_admin", 200), ("police_specialist", 404), ("market_admin", 404)])
def test_granting_a_role_owner_colleague_outsider(org: Any, api: Any, who: str, status: int) -> None:
    target = do_create_user(org.centre_admin, username="p4", real_name="警员四", password=None,
                            department=org.police)
    response = _json(api(getattr(org, who)), "post", f"/users/{target.pk}/roles", {"role": "data_specialist"})
    assert response.status_code == status
    assert User.objects.get(pk=target.pk).has_role("data_specialist") == (status == 200)


def test_separation_of_duties_over_the_api_is_a_400_naming_the_role(org: Any, api: Any) -> None:
    response = _json(api(org.centre_admin), "post", f"/users/{org.police_admin.pk}/roles", {"role": "public"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "separation_of_duties" and error["field"] == "role"


def test_an_administrator_cannot_touch_an_auditor_account_over_the_api(org: Any, api: Any) -> None:
    response = _json(api(org.centre_admin), "post", f"/users/{org.auditor.pk}/roles", {"role": "centre_admin"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auditor_account"


def test_revoking_a_role_over_the_api(org: Any, api: Any) -> None:
    response = _json(api(org.police_admin), "delete", f"/users/{org.police_specialist.pk}/roles/data_specialist")
    assert response.status_code == 200
    assert response.json()["roles"] == []


# ------------------------------------------------------------------ specialists

@pytest.mark.parametrize("who,status", [("police_admin", 201), ("police_specialist", 404), ("market_admin", 404)])
def test_appointing_a_specialist_owner_colleague_outsider(org: Any, api: Any, who: str, status: int) -> None:
    body = {"user_id": org.police_specialist.pk, "duty": "lead", "phone": "0797-1"}
    response = _json(api(getattr(org, who)), "post", f"/departments/{org.police.pk}/specialists", body)
    assert response.status_code == status
    assert SpecialistAppointment.objects.filter(department=org.police).exists() == (status == 201)


def test_the_register_lists_current_entries_and_the_history_on_request(org: Any, api: Any) -> None:
    first = do_appoint_specialist(org.police_admin, org.police, org.police_specialist, duty="lead")
    client = api(org.police_admin)
    ended = _json(client, "post", f"/specialists/{first.pk}/end", {"reason": "调岗"})
    assert ended.status_code == 200 and ended.json()["end_reason"] == "调岗"
    do_appoint_specialist(org.police_admin, org.police, org.police_admin, duty="backup")
    reader = api(org.market_specialist)  # the register is known across government
    current = _json(reader, "get", f"/departments/{org.police.pk}/specialists").json()
    history = _json(reader, "get", f"/departments/{org.police.pk}/specialists?include_history=true").json()
    assert [s["duty"] for s in current] == ["backup"]
    assert {s["duty"] for s in history} == {"lead", "backup"}
    assert next(s for s in history if s["duty"] == "lead")["ended_at"] is not None


@pytest.mark.parametrize("who,status", [("police_admin", 200), ("police_specialist", 404), ("market_admin", 404)])
def test_ending_an_appointment_owner_colleague_outsider(org: Any, api: Any, who: str, status: int) -> None:
    appointment = do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    response = _json(api(getattr(org, who)), "post", f"/specialists/{appointment.pk}/end", {"reason": "x"})
    assert response.status_code == status


def test_the_public_does_not_read_the_register(org: Any, api: Any) -> None:
    do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    response = _json(api(org.citizen), "get", f"/departments/{org.police.pk}/specialists")
    assert response.status_code == 200 and response.json() == []


# ------------------------------------------------------------------ tokens

def test_tokens_are_personal_lists_show_only_mine(org: Any, api: Any) -> None:
    do_create_token(org.police_specialist, name="mine")
    do_create_token(org.police_admin, name="boss")
    names = [t["name"] for t in _json(api(org.police_specialist), "get", "/tokens").json()]
    assert names == ["mine"]
    assert _json(api(org.centre_admin), "get", "/tokens").json() == []


def test_creating_a_token_over_the_api_returns_the_secret_once(org: Any, api: Any) -> None:
    client = api(org.police_specialist)
    response = _json(client, "post", "/tokens", {"name": "etl", "scope": "write", "days": 30})
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("gs_")
    assert secret not in _json(client, "get", "/tokens").content.decode()


def test_an_invalid_token_period_names_the_days_field(org: Any, api: Any) -> None:
    response = _json(api(org.police_specialist), "post", "/tokens", {"name": "x", "days": 0})
    assert response.status_code == 422 and response.json()["error"]["field"] == "days"  # a range the schema states


@pytest.mark.parametrize("who,status", [("police_specialist", 200), ("police_admin", 404), ("market_admin", 404)])
def test_revoking_a_token_owner_colleague_outsider(org: Any, api: Any, who: str, status: int) -> None:
    new = do_create_token(org.police_specialist, name="t")
    response = _json(api(getattr(org, who)), "delete", f"/tokens/{new.token.pk}")
    assert response.status_code == status
    new.token.refresh_from_db()
    assert (new.token.revoked_at is not None) == (status == 200)


# ------------------------------------------------------------------ me, policies, OpenAPI

def test_me_lists_roles_and_capabilities(org: Any, api: Any) -> None:
    data = _json(api(org.auditor), "get", "/me").json()
    assert data["user"]["roles"] == ["auditor"]
    assert "read_audit" in data["capabilities"] and "manage_users" not in data["capabilities"]


def test_a_policy_profile_over_the_api_cites_sources(org: Any, api: Any) -> None:
    data = _json(api(org.police_specialist), "get", "/policies/longnan").json()
    assert data["deadlines"]["share_provider_answer"] == {"amount": 5, "unit": "working_days",
                                                          "source": "LN-§15", "note": ""}


def test_openapi_is_version_3_1_and_lists_the_core_endpoints(db: Any) -> None:
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    paths = schema["paths"]
    for path in ("/api/v1/me", "/api/v1/departments", "/api/v1/departments/{dept_id}",
                 "/api/v1/departments/{dept_id}/specialists", "/api/v1/specialists/{appointment_id}/end",
                 "/api/v1/users", "/api/v1/users/{user_id}/roles", "/api/v1/tokens", "/api/v1/tokens/{token_id}",
                 "/api/v1/policies/{name}", "/api/v1/jobs"):
        assert path in paths, path
    assert "post" in paths["/api/v1/departments"] and "delete" in paths["/api/v1/tokens/{token_id}"]


# ------------------------------------------------------------------ query counts stay flat

def _more_users(org: Any, n: int) -> None:
    for i in range(n):
        user = do_create_user(org.centre_admin, username=f"bulk{i}", real_name=f"批量{i}", password=None,
                              department=org.police, roles=["data_specialist"])
        do_appoint_specialist(org.centre_admin, org.police, user)
        do_create_token(org.centre_admin, name=f"t{i}")


# session + user + roles (3), then the list itself: one query, or two with the roles prefetched; then the
# read's access-log row (issue 9) and, on the first read in a transaction, the chain head (2)
@pytest.mark.parametrize("path,queries", [("/departments", 6), ("/users", 7), ("/tokens", 5), ("/jobs", 6),
                                          ("/jurisdictions", 5)])
def test_list_endpoints_use_a_fixed_number_of_queries(org: Any, api: Any, path: str, queries: int,
                                                      django_assert_max_num_queries: Any) -> None:
    _more_users(org, 12)
    client = api(org.centre_admin)
    with django_assert_max_num_queries(queries):
        assert _json(client, "get", path).status_code == 200


def test_the_specialist_register_endpoint_uses_a_fixed_number_of_queries(
        org: Any, api: Any, django_assert_max_num_queries: Any) -> None:
    _more_users(org, 12)
    client = api(org.centre_admin)
    with django_assert_max_num_queries(7):  # and the access log: the chain head on a first read, the row
        response = _json(client, "get", f"/departments/{org.police.pk}/specialists?include_history=true")
    assert len(response.json()) == 12


def test_a_token_authenticated_list_uses_a_fixed_number_of_queries(
        org: Any, django_assert_max_num_queries: Any) -> None:
    _more_users(org, 12)
    new = do_create_token(org.police_admin, name="reader")
    client = Client()
    with django_assert_max_num_queries(12):  # token look-up, last-used update, audit event (+ advisory lock on PG)
        response = client.get(f"{API}/users", headers={"Authorization": f"Bearer {new.secret}"})
    assert response.status_code == 200 and len(response.json()) == 14


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/catalog/entries/abc"),  # not an id: no route matches
    ("get", "/api/v1/no-such-thing"),
    ("post", "/api/v1/no-such-thing"),  # a write without a CSRF token still gets the API's answer
    ("delete", "/api/v1/catalog/entries/1/nothing-here"),
])
def test_an_address_under_the_api_that_names_no_endpoint_gets_a_json_404_in_both_languages(
        db: None, method: str, path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "no_such_endpoint" and error["path"] == path
    assert "/api/v1/docs" in error["message_zh"] and "/api/v1/docs" in error["message_en"]
    assert "没有" in error["message_zh"] and "no API endpoint" in error["message_en"]


def test_pages_outside_the_api_keep_the_html_404(db: None, client: Client) -> None:
    response = client.get("/catalog/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
