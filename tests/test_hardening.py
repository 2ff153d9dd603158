"""Hardening of issue 2 ("Platform foundation") after an adversarial review: each test states what
the spec asks for and pins the fix of a defect the review found (privilege escalation, separation of
duties, crashes on bad input, unaudited refusals, organisation invariants).

Clients here answer a crash with a 500 instead of raising it into the test (``_client``), so that a
crash on bad input shows as "500 is not 400".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from govshare.core import jobs
from govshare.core.actions import audit as audit_actions
from govshare.core.actions import (
    do_appoint_specialist,
    do_create_jurisdiction,
    do_create_token,
    do_create_user,
    do_deactivate_user,
    do_grant_role,
    do_update_jurisdiction,
    do_update_user,
)
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_id_number
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.models import AuditEvent, Job, SpecialistAppointment, User
from govshare.core.roles import Role
from govshare.core.validators import normalize_uscc, uscc_check_char
from tests.conftest import API, api_json, crash_client

HUGE = "9" * 30


_client = crash_client
_json = api_json


def _denials(user: Any) -> int:
    return AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), actor_id=user.pk).count()


def _policy_file(tmp_path: Path, extra: str) -> Path:
    from govshare.core.policy import PROFILE_DIR

    path = tmp_path / "probe.yaml"
    path.write_text((PROFILE_DIR / "national.yaml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


# ================================================================== privilege and separation of duties

def test_a_department_admin_cannot_take_over_an_account_holding_roles_they_cannot_grant(org: Any) -> None:
    """A department admin of the centre's own department may only grant dept_admin/data_specialist,
    but today may reset the centre admin's password (and deactivate the auditor): escalation."""
    do_grant_role(org.centre_admin, org.reviewer, Role.DEPT_ADMIN)  # a centre staff member as its dept admin
    client = _client(org.reviewer)
    client.post(f"/users/{org.centre_admin.pk}/password/", {"new_password": "Another-horse-77"})
    client.post(f"/users/{org.auditor.pk}/deactivate/", {"reason": "inconvenient"})
    org.centre_admin.refresh_from_db()
    org.auditor.refresh_from_db()
    assert not org.centre_admin.check_password("Another-horse-77")
    assert org.auditor.is_active


def test_the_centre_admin_cannot_take_over_the_auditor_account_by_resetting_its_password(org: Any) -> None:
    """Separation of duties: the administrator must not be able to read the audit log — but
    setting the auditor's password and logging in as the auditor does exactly that."""
    _client(org.centre_admin).post(f"/users/{org.auditor.pk}/password/", {"new_password": "Another-horse-77"})
    org.auditor.refresh_from_db()
    assert not org.auditor.check_password("Another-horse-77")


def test_the_centre_admin_neither_reads_nor_cancels_the_auditors_chain_verification(org: Any) -> None:
    job = audit_actions.do_start_audit_verify(org.auditor)
    jobs.execute(job.pk, "test-worker")
    admin = _client(org.centre_admin)
    assert admin.get(f"{API}/jobs/{job.pk}").status_code == 404  # its result describes the audit log
    assert _json(admin, "post", f"/jobs/{job.pk}/cancel").status_code == 404


def test_the_auditor_cannot_change_their_own_contact_details(org: Any) -> None:
    """roles.py: "an auditor can change nothing but their own password and tokens"."""
    _client(org.auditor).post(f"/users/{org.auditor.pk}/edit/", {"email": "a@example.cn", "phone": "12345"})
    org.auditor.refresh_from_db()
    assert org.auditor.phone != "12345"


def test_an_api_token_cannot_mint_further_tokens(org: Any) -> None:
    """Otherwise a leaked token outlives its own expiry and revocation through its children."""
    parent = do_create_token(org.police_admin, name="ci", scope="write", days=1)
    response = _json(_client(), "post", "/tokens", {"name": "child", "scope": "write", "days": 366},
                     HTTP_AUTHORIZATION=f"Bearer {parent.secret}")
    assert response.status_code in (401, 403), response.status_code


def test_policy_profiles_over_the_api_are_for_government_users_only(org: Any) -> None:
    """The web pages require Capability.VIEW_POLICY (no public role); the API does not."""
    client = _client(org.citizen)
    assert client.get(API + "/policies").status_code == 403
    assert client.get(API + "/policies/national").status_code == 403


# ================================================================== real-name identity

def _other_digits(text: str, zero: str) -> str:
    return "".join(chr(ord(ch) - ord("0") + ord(zero)) for ch in text)


@pytest.mark.parametrize("zero", ["０", "٠"])  # full-width and Arabic-Indic digits
def test_an_id_number_written_with_non_ascii_digits_is_the_same_person(org: Any, zero: str) -> None:
    number = make_id_number("360783", "19850505", 7)
    do_create_user(org.centre_admin, username="first", real_name="甲", password=None, id_number=number,
                   department=org.police)
    with pytest.raises(GovshareError):
        do_create_user(org.centre_admin, username="second", real_name="乙", password=None,
                       id_number=_other_digits(number[:17], zero) + number[17], department=org.police)
    assert not User.objects.filter(username="second").exists()


def test_an_id_number_with_a_superscript_digit_is_a_clear_400_not_a_crash(org: Any) -> None:
    number = "36078²" + make_id_number("360783", "19850505", 8)[6:]
    response = _json(_client(org.centre_admin), "post", "/users", {
        "username": "sup", "real_name": "丙", "id_number": number, "department_id": org.police.pk})
    assert response.status_code == 400, response.status_code
    assert response.json()["error"]["field"] == "id_number"


def test_a_uscc_region_code_must_be_six_digits(org: Any) -> None:
    """GB 32100 §4: characters 3-8 are the registration authority's administrative-division code."""
    first17 = "11" + "ABCDEF" + "MB1234567"
    with pytest.raises(ValidationFailed):
        normalize_uscc(first17 + uscc_check_char(first17))


# ================================================================== permission denials are audited

def test_a_refused_cross_department_user_creation_is_audited(org: Any) -> None:
    before = _denials(org.police_admin)
    response = _json(_client(org.police_admin), "post", "/users", {
        "username": "intruder", "real_name": "丁", "department_id": org.market.pk})
    assert response.status_code == 403
    assert _denials(org.police_admin) == before + 1


def test_a_refused_centre_role_grant_by_a_department_admin_is_audited(org: Any) -> None:
    before = _denials(org.police_admin)
    response = _json(_client(org.police_admin), "post", f"/users/{org.police_specialist.pk}/roles",
                     {"role": "centre_admin"})
    assert response.status_code == 403
    assert _denials(org.police_admin) == before + 1


def test_a_citizen_refused_the_specialist_register_page_is_audited(org: Any) -> None:
    before = _denials(org.citizen)
    assert _client(org.citizen).get("/specialists/").status_code == 403
    assert _denials(org.citizen) == before + 1


# ================================================================== organisation invariants

def test_a_jurisdiction_cannot_become_its_own_ancestor(org: Any) -> None:
    """A cycle makes Jurisdiction.ancestors() loop for ever (department page hangs)."""
    with pytest.raises(ValidationFailed):
        do_update_jurisdiction(org.centre_admin, org.province, parent=org.county)


def test_the_centre_admin_manages_jurisdictions_over_the_api(org: Any) -> None:
    """Issue 2: a jurisdiction tree with a policy profile each — today only code/bootstrap can add one."""
    response = _json(_client(org.centre_admin), "post", "/jurisdictions", {
        "code": "360781", "name": "瑞金市", "level": "county", "parent_id": org.province.pk,
        "policy_profile": "national"})
    assert response.status_code == 201, response.status_code


def test_moving_a_centre_reviewer_to_a_provider_department_is_refused(org: Any) -> None:
    """do_grant_role refuses centre roles outside the centre; a later move must not get round it."""
    with pytest.raises(GovshareError):
        do_update_user(org.centre_admin, org.reviewer, department=org.police)


def test_moving_a_specialist_to_another_department_does_not_leave_them_on_the_old_register(org: Any) -> None:
    do_appoint_specialist(org.centre_admin, org.police, org.police_specialist)
    try:
        do_update_user(org.centre_admin, org.police_specialist, department=org.market)
    except GovshareError:
        return  # refusing the move until the appointment has ended is fine too
    assert not SpecialistAppointment.objects.filter(department=org.police, user=org.police_specialist,
                                                    ended_at__isnull=True).exists()


def test_a_deactivated_user_is_not_left_on_the_current_register(org: Any) -> None:
    """SUP-1: the register is kept current."""
    do_appoint_specialist(org.centre_admin, org.police, org.police_specialist)
    do_deactivate_user(org.centre_admin, org.police_specialist, "left the department")
    assert not SpecialistAppointment.objects.filter(user=org.police_specialist, ended_at__isnull=True).exists()


def test_a_deactivated_user_cannot_be_appointed_over_the_api(org: Any) -> None:
    gone = do_create_user(org.centre_admin, username="gone", real_name="离职", password=None, department=org.police)
    do_deactivate_user(org.centre_admin, gone)
    response = _json(_client(org.police_admin), "post", f"/departments/{org.police.pk}/specialists",
                     {"user_id": gone.pk})
    assert response.status_code in (400, 409), response.status_code


def test_revoking_an_unknown_role_is_a_clear_error(org: Any) -> None:
    response = _client(org.centre_admin).delete(f"{API}/users/{org.police_specialist.pk}/roles/nonsense")
    # the roles are stated in the API's schema (issue 9): a 422 naming the field
    assert response.status_code == 422 and response.json()["error"]["field"] == "role", response.status_code


# ================================================================== authentication

def test_lockout_does_not_reveal_which_user_names_exist(org: Any, settings: Any) -> None:
    settings.GOVSHARE_LOGIN_MAX_FAILURES = 3
    answers = {}
    for name in ("police_admin", "nobody_here"):
        client = _client()
        for _ in range(3):
            client.post("/login/", {"username": name, "password": "wrong-password-1"})
        page = client.post("/login/", {"username": name, "password": "wrong-password-1"}).content.decode()
        answers[name] = re.search(r'role="alert">(.*?)</p>', page).group(1)  # type: ignore[union-attr]
    assert answers["police_admin"] == answers["nobody_here"]


# ================================================================== bad input: clear errors, no 500

def test_an_audit_end_date_at_the_end_of_time_is_a_clear_error_not_a_crash(org: Any) -> None:
    client = _client(org.auditor)
    assert client.get(API + "/audit/events", {"date_to": "9999-12-31"}).status_code in (200, 400, 422)
    assert client.get("/audit/", {"date_to": "9999-12-31"}).status_code in (200, 400)
    assert client.get(API + "/audit/events", {"date_from": "0001-01-01"}).status_code in (200, 400, 422)


def test_audit_filters_of_unicode_digits_are_a_clear_error_not_a_crash(org: Any) -> None:
    client = _client(org.auditor)
    for param in ("department", "domain"):
        assert client.get("/audit/", {param: "²"}).status_code in (200, 400), param


def test_a_huge_audit_offset_is_a_clear_error_not_a_crash(org: Any) -> None:
    assert _client(org.auditor).get(API + "/audit/events", {"offset": HUGE}).status_code in (200, 400, 422)


def test_user_list_filters_of_odd_numbers_are_not_a_crash(org: Any) -> None:
    client = _client(org.centre_admin)
    assert client.get("/users/", {"department": "²"}).status_code in (200, 400)
    assert client.get("/users/new/", {"department": "²"}).status_code in (200, 400)
    assert client.get(API + "/users", {"department_id": HUGE}).status_code in (200, 400, 422)


def test_patching_a_department_with_null_active_is_a_clear_error_not_a_crash(org: Any) -> None:
    response = _json(_client(org.centre_admin), "patch", f"/departments/{org.police.pk}", {"is_active": None})
    assert response.status_code in (400, 422), response.status_code


def test_an_overlong_real_name_over_the_api_is_a_clear_error_and_nothing_is_stored(org: Any) -> None:
    """Model max_length is not enforced on SQLite and raises DataError (500) on PostgreSQL."""
    response = _json(_client(org.centre_admin), "post", "/users", {
        "username": "long", "real_name": "名" * 101, "department_id": org.police.pk})
    assert response.status_code in (400, 422), response.status_code
    assert not User.objects.filter(username="long").exists()


@pytest.mark.parametrize("username", ["a b/c", "ａｄｍｉｎ", "x\u0000y"])
def test_a_user_name_django_would_refuse_or_normalise_is_refused(org: Any, username: str) -> None:
    response = _json(_client(org.centre_admin), "post", "/users", {
        "username": username, "real_name": "名", "department_id": org.police.pk})
    assert response.status_code in (400, 422), response.status_code


# ================================================================== policy profiles

def test_a_duplicate_key_in_a_policy_profile_is_refused(tmp_path: Path) -> None:
    from govshare.core.policy import load_file

    with pytest.raises(ValidationFailed):
        load_file(_policy_file(tmp_path, "\ntitle: a second title silently wins\n"))


def test_a_report_date_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    from govshare.core.policy import PROFILE_DIR, load_file

    text = (PROFILE_DIR / "national.yaml").read_text(encoding="utf-8").replace("day: last", "day: 30")
    path = tmp_path / "feb30.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed):
        load_file(path)  # 30 February


def test_the_placeholder_template_profile_cannot_govern_a_jurisdiction(org: Any) -> None:
    """template.yaml cites "XXXX-§? (replace)": it is a starting point, not a rule to apply."""
    with pytest.raises(ValidationFailed):
        do_create_jurisdiction(org.centre_admin, code="360782", name="南康区", level="county",
                               parent=org.province, policy_profile="template")


# ================================================================== pinned (passing) behaviour

def test_session_api_writes_need_the_csrf_token(org: Any) -> None:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(org.police_admin)
    response = _json(client, "post", "/tokens", {"name": "x", "scope": "write", "days": 1})
    assert response.status_code == 403
    assert not Job.objects.exists() and not org.police_admin.api_tokens.exists()



@pytest.mark.parametrize("argv", [
    ["jobs", "show", "x" * 36],
    ["audit", "export", "-o", "{tmp}/out.csv", "--to", "9999-12-31"],
])
def test_the_console_answers_bad_input_with_a_bilingual_error_not_a_traceback(org: Any, tmp_path: Path,
                                                                               argv: list[str]) -> None:
    from govshare.cli import main

    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
