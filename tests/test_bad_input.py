"""Bad input gets a clear error naming the field, never a 500 (review findings 4, 6, 11-14):
unicode digits, huge numbers, dates at the end of time, over-long strings, NUL characters,
explicit nulls, and API tokens minting tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from govshare.cli import main
from govshare.core.actions import do_create_token
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_uscc
from govshare.core.models import ApiToken, AuditEvent, Department, User
from govshare.core.validators import MAX_DB_ID
from tests.conftest import API, api_json, crash_client

HUGE = "9" * 30


_client = crash_client
_json = api_json


def _field(response: Any) -> str:
    return str(response.json()["error"]["field"])


# ------------------------------------------------------------------ API bodies: model limits, NUL

USER = {"username": "newbie", "real_name": "新人", "department_id": None}


@pytest.mark.parametrize(("field", "value"), [
    ("username", "u" * 151), ("real_name", "名" * 101), ("email", "a" * 250 + "@x.cn"), ("phone", "1" * 21),
    ("id_number", "1" * 41), ("password", "p" * 1025),
])
def test_an_overlong_user_field_is_a_422_naming_it_and_nothing_is_stored(org: Any, field: str, value: str) -> None:
    body = {**USER, "department_id": org.police.pk, field: value}
    response = _json(_client(org.centre_admin), "post", "/users", body)
    assert response.status_code == 422 and _field(response) == field
    assert not User.objects.filter(username__in=["newbie", body["username"]]).exists()


@pytest.mark.parametrize("field", ["real_name", "email", "phone"])
def test_a_nul_character_is_a_422_naming_the_field(org: Any, field: str) -> None:
    body = {**USER, "department_id": org.police.pk, field: "a\x00b"}
    response = _json(_client(org.centre_admin), "post", "/users", body)
    assert response.status_code == 422 and _field(response) == field
    assert "control characters" in response.json()["error"]["message_en"]
    assert "控制字符" in response.json()["error"]["message_zh"]  # one language per message
    assert not User.objects.filter(username="newbie").exists()


def test_a_real_name_of_exactly_the_model_length_is_accepted(org: Any) -> None:
    body = {**USER, "department_id": org.police.pk, "real_name": "名" * 100}
    assert _json(_client(org.centre_admin), "post", "/users", body).status_code == 201


@pytest.mark.parametrize(("field", "value"), [("name", "局" * 201), ("short_name", "局" * 51), ("code", "C" * 21),
                                              ("kind", "k" * 13)])
def test_an_overlong_department_field_is_a_422_naming_it(org: Any, field: str, value: str) -> None:
    body = {"name": "龙南市民政局", "short_name": "民政局", "uscc": make_uscc("360783", 61), "code": "MZ",
            "jurisdiction_id": org.county.pk, field: value}
    response = _json(_client(org.centre_admin), "post", "/departments", body)
    assert response.status_code == 422 and _field(response) == field
    assert not Department.objects.filter(code__in=["MZ", body["code"]]).exists()


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/tokens", {"name": "t" * 101, "scope": "read", "days": 1}, "name"),
    ("/users/{user}/roles", {"role": "r" * 21}, "role"),
    ("/departments/{dept}/specialists", {"user_id": "{user}", "note": "n" * 201}, "note"),
    ("/departments/{dept}/specialists", {"user_id": "{user}", "phone": "1" * 21}, "phone"),
])
def test_overlong_strings_elsewhere_are_a_422_naming_the_field(org: Any, path: str, body: dict[str, Any],
                                                               field: str) -> None:
    ids = {"user": str(org.police_specialist.pk), "dept": str(org.police.pk)}
    body = {k: int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v for k, v in body.items()}
    response = _json(_client(org.centre_admin), "post", path.format(**ids), body)
    assert response.status_code == 422 and _field(response) == field


# ------------------------------------------------------------------ API: nulls and huge numbers

def test_patching_a_department_with_a_null_is_a_422_and_changes_nothing(org: Any) -> None:
    for field in ("is_active", "name", "uscc"):
        response = _json(_client(org.centre_admin), "patch", f"/departments/{org.police.pk}", {field: None})
        assert response.status_code == 422 and _field(response) == field
    org.police.refresh_from_db()
    assert org.police.is_active and org.police.name == "龙南市公安局"


def test_patching_a_department_still_changes_only_what_is_sent(org: Any) -> None:
    response = _json(_client(org.centre_admin), "patch", f"/departments/{org.police.pk}", {"short_name": "公安"})
    assert response.status_code == 200
    org.police.refresh_from_db()
    assert (org.police.short_name, org.police.is_active) == ("公安", True)


@pytest.mark.parametrize("value", [HUGE, str(MAX_DB_ID + 1), "0", "-1"])
def test_a_department_filter_out_of_range_is_a_422(org: Any, value: str) -> None:
    response = _client(org.centre_admin).get(API + "/users", {"department_id": value})
    assert response.status_code == 422 and _field(response) == "department_id"


@pytest.mark.parametrize("path", [f"/departments/{HUGE}", f"/users/{HUGE}/roles/auditor", f"/audit/events/{HUGE}",
                                  f"/jobs/{HUGE}"])
def test_huge_ids_in_paths_are_not_a_crash(org: Any, path: str) -> None:
    client = _client(org.auditor if path.startswith("/audit/") else org.centre_admin)
    status = (client.delete if "roles" in path else client.get)(API + path).status_code
    assert status in (404, 422)


@pytest.mark.parametrize(("field", "value"), [("department_id", HUGE), ("department_id", 0)])
def test_huge_ids_in_bodies_are_a_422(org: Any, field: str, value: Any) -> None:
    body = {**USER, field: int(value)}
    response = _json(_client(org.centre_admin), "post", "/users", body)
    assert response.status_code == 422 and _field(response) == field


# ------------------------------------------------------------------ audit filters

@pytest.mark.parametrize(("param", "value"), [("date_to", "9999-12-31"), ("date_from", "0001-01-01"),
                                              ("date_from", "1989-12-31"), ("date_to", "2200-01-01")])
def test_audit_dates_outside_the_platforms_years_are_a_400_naming_the_field(org: Any, param: str,
                                                                           value: str) -> None:
    response = _client(org.auditor).get(API + "/audit/events", {param: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_date", param)
    assert "1990" in error["message_en"] and "2199" in error["message_en"]


def test_audit_dates_inside_the_platforms_years_are_fine(org: Any) -> None:
    response = _client(org.auditor).get(API + "/audit/events", {"date_from": "1990-01-01", "date_to": "2199-12-31"})
    assert response.status_code == 200 and response.json()["total"] > 0


@pytest.mark.parametrize(("param", "value"), [("department", "²"), ("domain", "²"), ("code", "²"), ("code", "١٠٠١"),
                                              ("code", HUGE), ("department", HUGE), ("date_to", "9999-12-31")])
def test_audit_page_filters_of_odd_input_are_answered_not_crashed(org: Any, param: str, value: str) -> None:
    assert _client(org.auditor).get("/audit/", {param: value}).status_code in (200, 400)


def test_an_audit_department_filter_of_unicode_digits_searches_the_name(org: Any) -> None:
    response = _client(org.auditor).get(API + "/audit/events", {"department": "²"})
    assert response.status_code == 200 and response.json()["total"] == 0


@pytest.mark.parametrize("value", ["١٠٠١", "²", HUGE])
def test_an_audit_code_must_be_ascii_digits(org: Any, value: str) -> None:
    from govshare.core.actions.audit import AuditFilters
    from govshare.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        AuditFilters.parse({"code": value})
    assert info.value.field == "code"


def test_a_huge_audit_offset_is_a_422_and_the_largest_allowed_is_an_empty_page(org: Any) -> None:
    from govshare.core.api_audit import MAX_LIMIT

    client = _client(org.auditor)
    assert client.get(API + "/audit/events", {"offset": HUGE}).status_code == 422
    response = client.get(API + "/audit/events", {"offset": MAX_DB_ID - MAX_LIMIT, "limit": MAX_LIMIT})
    assert response.status_code == 200 and response.json()["items"] == []


# ------------------------------------------------------------------ pages with id parameters

@pytest.mark.parametrize("value", ["²", "١", HUGE, "-1", ""])
def test_user_pages_with_odd_department_numbers_are_answered(org: Any, value: str) -> None:
    client = _client(org.centre_admin)
    assert client.get("/users/", {"department": value}).status_code == 200
    assert client.get("/users/new/", {"department": value}).status_code == 200


def test_the_user_list_still_filters_by_department(org: Any) -> None:
    page = _client(org.centre_admin).get("/users/", {"department": str(org.police.pk)})
    names = {u.username for u in page.context["users"]}
    assert "police_admin" in names and "market_admin" not in names


# ------------------------------------------------------------------ console

@pytest.mark.parametrize("job_id", ["x" * 36, "²" * 36, "not-a-uuid", "1" * 32 + "zzzz"])
def test_jobs_show_with_a_malformed_id_is_a_bilingual_not_found(db: Any, job_id: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "show", job_id]) == 2
    assert "/" in capsys.readouterr().err  # 中文 / English


def test_audit_export_to_the_end_of_time_is_a_bilingual_error(db: Any, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "export", "-o", str(tmp_path / "out.csv"), "--to", "9999-12-31"]) == 2
    assert "2199" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


# ------------------------------------------------------------------ tokens and policies over the API

def _bearer(user: Any, scope: str = "write") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {do_create_token(user, name='ci', scope=scope, days=1).secret}"}


def test_an_api_token_cannot_create_a_token_and_the_refusal_is_audited(org: Any) -> None:
    response = _json(_client(), "post", "/tokens", {"name": "child", "scope": "write", "days": 30},
                     **_bearer(org.police_admin))
    assert response.status_code == 403 and response.json()["error"]["code"] == "token_needs_session"
    assert list(org.police_admin.api_tokens.values_list("name", flat=True)) == ["ci"]
    denial = AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), actor_id=org.police_admin.pk).last()
    assert denial is not None and denial.detail["reason"] == "token_needs_session"
    assert denial.object_type == "core.apitoken"


def test_an_api_token_cannot_revoke_a_token(org: Any) -> None:
    headers = _bearer(org.police_admin)
    other = do_create_token(org.police_admin, name="other", scope="read", days=1).token
    response = _client().delete(f"{API}/tokens/{other.pk}", **headers)
    assert response.status_code == 403
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None


def test_an_api_token_still_lists_its_owners_tokens(org: Any) -> None:
    response = _client().get(API + "/tokens", **_bearer(org.police_admin, "read"))
    assert response.status_code == 200 and [t["name"] for t in response.json()] == ["ci"]


def test_the_browser_session_creates_and_revokes_tokens(org: Any) -> None:
    client = _client(org.police_admin)
    response = _json(client, "post", "/tokens", {"name": "laptop", "scope": "read", "days": 30})
    assert response.status_code == 201
    assert client.delete(f"{API}/tokens/{response.json()['token']['id']}").status_code == 200


@pytest.mark.parametrize("who", ["centre_admin", "reviewer", "police_admin", "police_specialist", "auditor"])
def test_government_users_read_policy_profiles_over_the_api(org: Any, who: str) -> None:
    client = _client(getattr(org, who))
    assert "longnan" in client.get(API + "/policies").json()
    assert client.get(API + "/policies/longnan").json()["deadlines"]["share_provider_answer"]["amount"] == 5


def test_a_citizen_is_refused_policy_profiles_over_the_api_and_it_is_audited(org: Any) -> None:
    client = _client(org.citizen)
    assert client.get(API + "/policies").status_code == 403
    assert client.get(API + "/policies/national").status_code == 403
    assert AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), actor_id=org.citizen.pk,
                                     detail__capability="view_policy").count() == 2


def test_a_request_body_over_the_platform_limit_is_refused_before_it_is_read(org: Any, settings: Any) -> None:

    settings.GOVSHARE_MAX_REQUEST_BYTES = 1000
    client = Client()
    client.force_login(org.centre_admin)
    response = client.post("/api/v1/departments", data="x" * 2000, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("path", [
    "/api/v1/catalog/synonyms/a%00b",        # a text id looked up in the database
    "/sharing/applications/?status=%00",     # a query value
    "/catalog/?q=ab%00c",                    # a search
    "/api/v1/catalog/entries?%00=1",         # a query key
])
def test_a_nul_character_in_the_address_is_refused_with_400_on_every_backend(org: Any, path: str) -> None:
    """PostgreSQL cannot store or compare a NUL in text: the request is refused before any view, lookup
    or access-log row would try (a 500 before issue 9's review)."""
    answer = crash_client(org.police_specialist).get(path)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "nul_character"


@pytest.mark.django_db
def test_a_field_called_domain_is_named_for_what_it_means_where_the_error_is_raised(cat: Any) -> None:
    """An entry's ``domain`` is its open-data domain, the audit filter's ``domain`` an audit area: the
    same field name, two labels (an entry form once said "审计范围" about the open-data domain)."""
    from django.utils import translation

    from govshare.catalog.actions import do_create_entry
    from govshare.core.actions.audit import AuditFilters
    from govshare.core.errors import GovshareError
    from tests.catalog_helpers import content

    org = cat.org
    with translation.override("zh-hans"):
        with pytest.raises(GovshareError) as entry_error:
            do_create_entry(org.police_specialist, content(open_attribute="open", domain=""))
        with pytest.raises(GovshareError) as audit_error:
            AuditFilters.parse({"domain": "weather"})
    assert "开放领域" in str(entry_error.value) and "审计范围" not in str(entry_error.value)
    assert str(audit_error.value).startswith("审计范围")
