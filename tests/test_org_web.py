"""Web pages of organisations, users, the specialist register, passwords, tokens and policy
profiles: each renders for the right roles, answers 403/404 to the wrong ones, shows form errors
next to their field, and the menu differs per role (SEC-1, SEC-2, SUP-1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from govshare.core.actions import do_appoint_specialist
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_id_number, make_uscc
from govshare.core.models import AuditEvent, Department, SpecialistAppointment, User
from tests.conftest import PASSWORD

STAFF = ["centre_admin", "reviewer", "police_admin", "police_specialist", "auditor"]


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Messages are checked in English (the msgids); the default UI language is Chinese."""
    settings.LANGUAGE_CODE = "en"


def _get(client_for: Any, user: Any, name: str, *args: Any) -> Any:
    return client_for(user).get(reverse(name, args=args))


def _field_error(response: Any, field: str) -> str:
    """The error shown next to ``field`` in the rendered page (and in the form)."""
    html = response.content.decode()
    assert f'data-field="{field}"' in html, f"no error shown at {field}"
    return " ".join(str(e) for e in response.context["form"].errors[field])


# ------------------------------------------------------------------ every page needs a login

@pytest.mark.parametrize("name", ["departments", "users", "specialists", "password_change", "tokens", "jobs",
                                  "policies", "department_create", "user_create"])
def test_pages_send_anonymous_visitors_to_the_login_page(db: Any, name: str) -> None:
    response = Client().get(reverse(f"core:{name}"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("core:login"))


# ------------------------------------------------------------------ departments

@pytest.mark.parametrize("who", [*STAFF, "citizen"])
def test_the_department_tree_renders_for_every_user(org: Any, client_for: Any, who: str) -> None:
    response = _get(client_for, getattr(org, who), "core:departments")
    assert response.status_code == 200
    html = response.content.decode()
    assert "龙南市" in html and "江西省" in html and "龙南市公安局" in html


def test_only_the_centre_admin_sees_the_new_department_button(org: Any, client_for: Any) -> None:
    create = reverse("core:department_create")
    assert create in _get(client_for, org.centre_admin, "core:departments").content.decode()
    assert create not in _get(client_for, org.police_admin, "core:departments").content.decode()


def test_the_department_page_shows_members_to_the_owner_and_colleague_not_the_outsider(
        org: Any, client_for: Any) -> None:
    for who, sees in (("police_admin", True), ("police_specialist", True), ("market_specialist", False)):
        response = _get(client_for, getattr(org, who), "core:department_detail", org.police.pk)
        assert response.status_code == 200
        assert ("测试police_specialist" in response.content.decode()) is sees, who


def test_a_missing_department_is_404(org: Any, client_for: Any) -> None:
    assert _get(client_for, org.centre_admin, "core:department_detail", 99999).status_code == 404


@pytest.mark.parametrize("who,status", [("centre_admin", 200), ("police_admin", 403), ("auditor", 403),
                                        ("police_specialist", 403), ("citizen", 403)])
def test_the_new_department_form_is_for_the_centre_admin(org: Any, client_for: Any, who: str, status: int) -> None:
    assert _get(client_for, getattr(org, who), "core:department_create").status_code == status


def test_an_invalid_uscc_is_shown_next_to_its_field_and_nothing_is_stored(org: Any, client_for: Any) -> None:
    good = make_uscc("360783", 70)
    before = Department.objects.count()
    response = client_for(org.centre_admin).post(reverse("core:department_create"), {
        "name": "龙南市民政局", "short_name": "民政局", "uscc": good[:17] + ("0" if good[-1] != "0" else "1"),
        "code": "MZ", "kind": "department", "jurisdiction": org.county.pk})
    assert response.status_code == 400
    assert "check character" in _field_error(response, "uscc")
    assert Department.objects.count() == before
    # the other values stay in the form
    assert 'value="龙南市民政局"' in response.content.decode()


def test_a_duplicate_uscc_is_shown_next_to_its_field(org: Any, client_for: Any) -> None:
    response = client_for(org.centre_admin).post(reverse("core:department_create"), {
        "name": "x", "short_name": "x", "uscc": org.police.uscc, "code": "NEW", "kind": "department",
        "jurisdiction": org.county.pk})
    assert response.status_code == 400
    assert _field_error(response, "uscc")


def test_the_new_department_form_shows_every_problem_at_once(org: Any, client_for: Any) -> None:
    before = Department.objects.count()
    response = client_for(org.centre_admin).post(reverse("core:department_create"), {
        "name": "", "short_name": "民政局", "uscc": org.police.uscc, "code": org.police.code, "kind": "department",
        "jurisdiction": org.county.pk})
    assert response.status_code == 400
    assert _field_error(response, "name") and _field_error(response, "uscc") and _field_error(response, "code")
    assert Department.objects.count() == before


def test_the_centre_admin_creates_a_department_on_the_web(org: Any, client_for: Any) -> None:
    response = client_for(org.centre_admin).post(reverse("core:department_create"), {
        "name": "龙南市民政局", "short_name": "民政局", "uscc": make_uscc("360783", 71), "code": "MZ",
        "kind": "department", "jurisdiction": org.county.pk})
    dept = Department.objects.get(code="MZ")
    assert response.status_code == 302 and response["Location"] == reverse("core:department_detail", args=[dept.pk])


@pytest.mark.parametrize("who,status", [("centre_admin", 200), ("police_admin", 200), ("police_specialist", 404),
                                        ("market_admin", 404), ("auditor", 404)])
def test_the_department_edit_page_owner_colleague_outsider(org: Any, client_for: Any, who: str,
                                                           status: int) -> None:
    assert _get(client_for, getattr(org, who), "core:department_edit", org.police.pk).status_code == status


def test_a_department_admin_edits_only_the_short_name(org: Any, client_for: Any) -> None:
    client = client_for(org.police_admin)
    form = client.get(reverse("core:department_edit", args=[org.police.pk])).context["form"]
    assert list(form.fields) == ["short_name"]
    response = client.post(reverse("core:department_edit", args=[org.police.pk]),
                           {"short_name": "公安", "name": "被忽略的名称"})
    assert response.status_code == 302
    org.police.refresh_from_db()
    assert (org.police.short_name, org.police.name) == ("公安", "龙南市公安局")


def test_an_empty_short_name_is_shown_next_to_its_field(org: Any, client_for: Any) -> None:
    response = client_for(org.police_admin).post(reverse("core:department_edit", args=[org.police.pk]),
                                                 {"short_name": ""})
    assert response.status_code == 400
    assert _field_error(response, "short_name")


# ------------------------------------------------------------------ users

@pytest.mark.parametrize("who,status", [("centre_admin", 200), ("police_admin", 200), ("police_specialist", 403),
                                        ("auditor", 403), ("reviewer", 403), ("citizen", 403)])
def test_the_user_list_is_for_administrators(org: Any, client_for: Any, who: str, status: int) -> None:
    assert _get(client_for, getattr(org, who), "core:users").status_code == status


def test_a_department_admin_lists_only_their_departments_users(org: Any, client_for: Any) -> None:
    users = _get(client_for, org.police_admin, "core:users").context["users"]
    assert {u.username for u in users} == {"police_admin", "police_specialist"}
    everyone = _get(client_for, org.centre_admin, "core:users").context["users"]
    assert len(everyone) == User.objects.count()


def test_the_user_list_shows_masked_id_numbers_only(org: Any, client_for: Any) -> None:
    html = _get(client_for, org.centre_admin, "core:users").content.decode()
    number = make_id_number("360783", "19900101", 101)  # the first fixture user's number
    assert number not in html and number[:4] + "*" * 10 + number[-4:] in html


def test_the_new_user_form_offers_a_department_admin_only_their_department_and_roles(
        org: Any, client_for: Any) -> None:
    form = _get(client_for, org.police_admin, "core:user_create").context["form"]
    assert list(form.fields["department"].queryset) == [org.police]
    assert {v for v, _label in form.fields["roles"].choices} == {"dept_admin", "data_specialist"}


def test_an_invalid_id_number_is_shown_next_to_its_field_and_nothing_is_stored(org: Any, client_for: Any) -> None:
    number = make_id_number("360783", "19900230", 1)  # 30 February
    users = User.objects.count()
    response = client_for(org.police_admin).post(reverse("core:user_create"), {
        "username": "newcomer", "real_name": "新人", "id_number": number, "department": org.police.pk})
    assert response.status_code == 400
    assert "date of birth" in _field_error(response, "id_number")
    assert User.objects.count() == users


def test_incompatible_roles_on_the_new_user_form_store_nothing(org: Any, client_for: Any) -> None:
    users = User.objects.count()
    response = client_for(org.centre_admin).post(reverse("core:user_create"), {
        "username": "both", "real_name": "两者", "department": org.police.pk,
        "roles": ["data_specialist", "public"]})
    assert response.status_code == 400
    assert "GB/T 39477" in _field_error(response, "roles")
    assert User.objects.count() == users


def test_the_new_user_form_shows_every_problem_at_once_and_stores_nothing(org: Any, client_for: Any) -> None:
    """Five problems, one submission: the form's own (an e-mail that is no address) and the action's
    (a user name with a space, an impossible ID number, a weak password, incompatible roles)."""
    users = User.objects.count()
    response = client_for(org.centre_admin).post(reverse("core:user_create"), {
        "username": "new comer", "real_name": "新人", "id_number": make_id_number("360783", "19900230", 1),
        "email": "not-an-address", "department": org.police.pk, "password": "12345678",
        "roles": ["data_specialist", "public"]})
    assert response.status_code == 400
    assert "letters, digits" in _field_error(response, "username")
    assert "date of birth" in _field_error(response, "id_number")
    assert _field_error(response, "email")
    assert _field_error(response, "password")
    assert "GB/T 39477" in _field_error(response, "roles")
    assert User.objects.count() == users


def test_a_field_the_form_refused_shows_the_form_s_message_only(org: Any, client_for: Any) -> None:
    response = client_for(org.centre_admin).post(reverse("core:user_create"), {
        "username": "", "real_name": "新人", "department": org.police.pk, "roles": ["data_specialist", "public"]})
    assert response.status_code == 400
    assert len(response.context["form"].errors["username"]) == 1
    assert "GB/T 39477" in _field_error(response, "roles")


def test_creating_a_user_reports_all_problems_together_with_their_fields(org: Any) -> None:
    from govshare.core.actions import do_create_user
    from govshare.core.errors import ManyProblems

    with pytest.raises(ManyProblems) as caught:
        do_create_user(org.centre_admin, username="police_admin", real_name="", password="short",
                       department=org.police, roles=["centre_reviewer"])
    found = {(p.code, p.field) for p in caught.value.problems}
    assert {("duplicate_username", "username"), ("required", "real_name"), ("weak_password", "password"),
            ("role_needs_centre", "role")} <= found
    assert caught.value.as_dict()["errors"][0]["field"]


def test_permission_is_checked_before_the_input(org: Any) -> None:
    """An outsider learns nothing about the input (a taken user name) before being refused."""
    from govshare.core.actions import do_create_user
    from govshare.core.errors import Forbidden

    with pytest.raises(Forbidden):
        do_create_user(org.market_admin, username="police_admin", real_name="", password=None,
                       department=org.police)
    with pytest.raises(Forbidden):
        do_create_user(org.police_admin, username="police_admin", real_name="", password=None,
                       department=org.police, roles=["centre_admin"])


def test_a_department_admin_creates_a_user_with_an_id_number(org: Any, client_for: Any) -> None:
    number = make_id_number("360783", "19920505", 55)
    response = client_for(org.police_admin).post(reverse("core:user_create"), {
        "username": "newcomer", "real_name": "新人", "id_number": number, "department": org.police.pk,
        "roles": ["data_specialist"], "password": "A-long-enough-pass-9"})
    user = User.objects.get(username="newcomer")
    assert response.status_code == 302 and response["Location"] == reverse("core:user_detail", args=[user.pk])
    assert user.has_role("data_specialist") and user.check_password("A-long-enough-pass-9")
    detail = client_for(org.police_admin).get(response["Location"]).content.decode()
    assert number not in detail and user.id_number_masked in detail


@pytest.mark.parametrize("viewer,target,status,manages", [
    ("police_admin", "police_specialist", 200, True),       # owner: the department's administrator
    ("centre_admin", "police_specialist", 200, True),
    ("police_specialist", "police_admin", 200, False),      # colleague: reads, manages nothing
    ("market_admin", "police_specialist", 404, False),      # outsider
    ("auditor", "police_specialist", 200, False),           # auditors identify actors, read only
])
def test_the_user_page_owner_colleague_outsider(org: Any, client_for: Any, viewer: str, target: str, status: int,
                                                manages: bool) -> None:
    target_user = getattr(org, target)
    response = _get(client_for, getattr(org, viewer), "core:user_detail", target_user.pk)
    assert response.status_code == status
    if status == 200:
        assert response.context["manage"] is manages
        assert (reverse("core:user_grant_role", args=[target_user.pk]) in response.content.decode()) is manages


def test_a_department_admin_granting_a_centre_role_sees_the_error_in_place(org: Any, client_for: Any) -> None:
    response = client_for(org.police_admin).post(
        reverse("core:user_grant_role", args=[org.police_specialist.pk]), {"role": "centre_reviewer"})
    assert response.status_code == 400
    assert 'data-field="role"' in response.content.decode()
    assert "Only the centre can grant the role" in str(response.context["role_form"].errors["role"])
    assert not org.police_specialist.role_assignments.filter(role="centre_reviewer").exists()


def test_an_administrator_grants_and_revokes_a_role_on_the_web(org: Any, client_for: Any) -> None:
    client = client_for(org.police_admin)
    url = reverse("core:user_detail", args=[org.police_specialist.pk])
    assert client.post(reverse("core:user_grant_role", args=[org.police_specialist.pk]),
                       {"role": "dept_admin"})["Location"] == url
    assert User.objects.get(pk=org.police_specialist.pk).has_role("dept_admin")
    client.post(reverse("core:user_revoke_role", args=[org.police_specialist.pk]), {"role": "dept_admin"})
    assert not User.objects.get(pk=org.police_specialist.pk).has_role("dept_admin")


def test_an_outsider_cannot_grant_roles_on_the_web(org: Any, client_for: Any) -> None:
    response = client_for(org.market_admin).post(
        reverse("core:user_grant_role", args=[org.police_specialist.pk]), {"role": "dept_admin"})
    assert response.status_code == 404
    assert AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), actor_id=org.market_admin.pk).exists()


def test_a_colleague_cannot_grant_roles_on_the_web(org: Any, client_for: Any) -> None:
    response = client_for(org.police_specialist).post(
        reverse("core:user_grant_role", args=[org.police_admin.pk]), {"role": "data_specialist"})
    assert response.status_code == 404


def test_an_administrator_deactivates_a_user(org: Any, client_for: Any) -> None:
    response = client_for(org.police_admin).post(
        reverse("core:user_deactivate", args=[org.police_specialist.pk]), {"reason": "离职"})
    assert response.status_code == 302
    assert not User.objects.get(pk=org.police_specialist.pk).is_active


def test_an_administrator_sets_a_weak_password_and_sees_why_in_place(org: Any, client_for: Any) -> None:
    response = client_for(org.police_admin).post(
        reverse("core:user_set_password", args=[org.police_specialist.pk]), {"new_password": "123"})
    assert response.status_code == 400
    assert 'data-field="new_password"' in response.content.decode()


@pytest.mark.parametrize("who,status,fields", [
    ("police_admin", 200, ["real_name", "id_number", "email", "phone"]),
    ("police_specialist", 200, ["email", "phone"]),  # self-service
    ("market_admin", 404, None),
    ("auditor", 404, None),
])
def test_the_user_edit_form_owner_self_outsider(org: Any, client_for: Any, who: str, status: int,
                                                fields: list[str] | None) -> None:
    response = _get(client_for, getattr(org, who), "core:user_edit", org.police_specialist.pk)
    assert response.status_code == status
    if fields is not None:
        assert list(response.context["form"].fields) == fields


def test_a_duplicate_id_number_on_the_edit_form_is_shown_in_place(org: Any, client_for: Any) -> None:
    taken = make_id_number("360783", "19900101", 101)  # the centre admin's number
    response = client_for(org.police_admin).post(reverse("core:user_edit", args=[org.police_specialist.pk]), {
        "real_name": "李", "id_number": taken, "email": "", "phone": ""})
    assert response.status_code == 400
    assert _field_error(response, "id_number")


# ------------------------------------------------------------------ the specialist register

@pytest.mark.parametrize("who,status", [*[(w, 200) for w in STAFF], ("citizen", 403)])
def test_the_register_is_readable_inside_government(org: Any, client_for: Any, who: str, status: int) -> None:
    do_appoint_specialist(org.police_admin, org.police, org.police_specialist, duty="lead")
    response = _get(client_for, getattr(org, who), "core:specialists")
    assert response.status_code == status
    if status == 200:
        assert "测试police_specialist" in response.content.decode()
    assert _get(client_for, getattr(org, who), "core:specialist_history", org.police.pk).status_code == status


@pytest.mark.parametrize("who,status", [("police_admin", 200), ("centre_admin", 200), ("police_specialist", 404),
                                        ("market_admin", 404), ("auditor", 404)])
def test_the_appoint_form_owner_colleague_outsider(org: Any, client_for: Any, who: str, status: int) -> None:
    assert _get(client_for, getattr(org, who), "core:specialist_appoint", org.police.pk).status_code == status


def test_appointing_and_ending_keeps_who_when_why_in_the_history(org: Any, client_for: Any) -> None:
    client = client_for(org.police_admin)
    response = client.post(reverse("core:specialist_appoint", args=[org.police.pk]),
                           {"user": org.police_specialist.pk, "duty": "lead", "phone": "0797-1", "note": ""})
    assert response.status_code == 302
    appointment = SpecialistAppointment.objects.get(department=org.police)
    missing_reason = client.post(reverse("core:specialist_end", args=[appointment.pk]), {"reason": ""})
    assert missing_reason.status_code == 400 and _field_error(missing_reason, "reason")
    assert client.post(reverse("core:specialist_end", args=[appointment.pk]),
                       {"reason": "调任"}).status_code == 302
    history = client.get(reverse("core:specialist_history", args=[org.police.pk]))
    html = history.content.decode()
    assert "调任" in html and "测试police_admin" in html
    assert history.context["current"] == [] and len(history.context["history"]) == 1


def test_appointing_someone_already_on_the_register_is_shown_in_place(org: Any, client_for: Any) -> None:
    do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    response = client_for(org.police_admin).post(reverse("core:specialist_appoint", args=[org.police.pk]),
                                                 {"user": org.police_specialist.pk, "duty": "member"})
    assert response.status_code == 400
    assert _field_error(response, "user")


def test_the_appoint_form_offers_only_members_of_the_department(org: Any, client_for: Any) -> None:
    form = _get(client_for, org.centre_admin, "core:specialist_appoint", org.police.pk).context["form"]
    assert set(form.fields["user"].queryset) == {org.police_admin, org.police_specialist}


@pytest.mark.parametrize("who,status", [("police_admin", 200), ("police_specialist", 404), ("market_admin", 404)])
def test_the_end_form_owner_colleague_outsider(org: Any, client_for: Any, who: str, status: int) -> None:
    appointment = do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    assert _get(client_for, getattr(org, who), "core:specialist_end", appointment.pk).status_code == status


# ------------------------------------------------------------------ own password

@pytest.mark.parametrize("who", [*STAFF, "citizen"])
def test_everyone_has_a_change_password_page(org: Any, client_for: Any, who: str) -> None:
    assert _get(client_for, getattr(org, who), "core:password_change").status_code == 200


def test_a_wrong_current_password_is_shown_in_place(org: Any, client_for: Any) -> None:
    response = client_for(org.citizen).post(reverse("core:password_change"), {
        "old_password": "not-it", "new_password": "Another-horse-43", "new_password_again": "Another-horse-43"})
    assert response.status_code == 400
    assert _field_error(response, "old_password")


def test_two_different_new_passwords_are_shown_in_place(org: Any, client_for: Any) -> None:
    response = client_for(org.citizen).post(reverse("core:password_change"), {
        "old_password": PASSWORD, "new_password": "Another-horse-43", "new_password_again": "Another-horse-44"})
    assert response.status_code == 400
    assert _field_error(response, "new_password_again")


def test_changing_my_password_keeps_me_logged_in_and_is_audited(org: Any, client_for: Any) -> None:
    client = client_for(org.citizen)
    response = client.post(reverse("core:password_change"), {
        "old_password": PASSWORD, "new_password": "Another-horse-43", "new_password_again": "Another-horse-43"})
    assert response.status_code == 302
    assert client.get(reverse("core:tokens")).status_code == 200
    assert User.objects.get(pk=org.citizen.pk).check_password("Another-horse-43")
    assert AuditEvent.objects.filter(code=int(AuditCode.PASSWORD_CHANGED), actor_id=org.citizen.pk).exists()


# ------------------------------------------------------------------ tokens, jobs and policy pages

@pytest.mark.parametrize("who", [*STAFF, "citizen"])
def test_everyone_has_the_token_and_job_pages(org: Any, client_for: Any, who: str) -> None:
    assert _get(client_for, getattr(org, who), "core:tokens").status_code == 200
    assert _get(client_for, getattr(org, who), "core:jobs").status_code == 200


@pytest.mark.parametrize("who,status", [*[(w, 200) for w in STAFF], ("citizen", 403)])
def test_policy_profiles_are_for_government_users(org: Any, client_for: Any, who: str, status: int) -> None:
    assert _get(client_for, getattr(org, who), "core:policies").status_code == status
    assert _get(client_for, getattr(org, who), "core:policy_detail", "longnan").status_code == status


def test_the_policy_page_shows_every_value_with_its_source_article(org: Any, client_for: Any) -> None:
    from govshare.core.policy import get_profile

    response = _get(client_for, org.police_specialist, "core:policy_detail", "longnan")
    html = response.content.decode()
    profile = get_profile("longnan")
    for key, period in [*profile.deadlines.items(), *profile.retention.items()]:
        assert f'data-key="{key}"' in html and period.source in html
    for key in profile.lists:
        assert f'data-key="{key}"' in html and profile.list_sources[key] in html
    assert "龙南市" in html  # the jurisdiction using it


def test_the_policy_list_names_every_shipped_profile(org: Any, client_for: Any) -> None:
    from govshare.core.policy import available_profiles

    html = _get(client_for, org.auditor, "core:policies").content.decode()
    for name in available_profiles():
        assert reverse("core:policy_detail", args=[name]) in html


def test_an_unknown_policy_profile_is_404(org: Any, client_for: Any) -> None:
    assert _get(client_for, org.auditor, "core:policy_detail", "atlantis").status_code == 404


# ------------------------------------------------------------------ navigation per role

def _nav(client_for: Any, user: Any) -> set[str]:
    return {item["name"] for item in _get(client_for, user, "core:home").context["nav_items"]}


def test_an_auditor_sees_the_audit_link_and_no_users_link(org: Any, client_for: Any) -> None:
    nav = _nav(client_for, org.auditor)
    assert "core:audit" in nav and "core:users" not in nav
    html = _get(client_for, org.auditor, "core:home").content.decode()
    assert f'href="{reverse("core:audit")}"' in html and f'href="{reverse("core:users")}"' not in html


def test_a_centre_admin_sees_users_and_no_audit_link(org: Any, client_for: Any) -> None:
    nav = _nav(client_for, org.centre_admin)
    assert {"core:users", "core:departments", "core:specialists", "core:policies"} <= nav
    assert "core:audit" not in nav


def test_a_citizen_sees_only_personal_pages(org: Any, client_for: Any) -> None:
    nav = _nav(client_for, org.citizen)
    assert {"core:tokens", "core:password_change", "core:inbox"} <= nav
    assert not nav & {"core:users", "core:audit", "core:specialists", "core:policies", "core:departments",
                      "core:jobs", "core:calendar"}


def test_a_data_specialist_sees_no_users_link(org: Any, client_for: Any) -> None:
    nav = _nav(client_for, org.police_specialist)
    assert "core:specialists" in nav and "core:users" not in nav and "core:audit" not in nav


def test_pages_carry_no_inline_script_or_style(org: Any, client_for: Any) -> None:
    do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    client = client_for(org.centre_admin)
    for url in (reverse("core:departments"), reverse("core:department_detail", args=[org.police.pk]),
                reverse("core:users"), reverse("core:user_detail", args=[org.police_specialist.pk]),
                reverse("core:user_create"), reverse("core:specialists"),
                reverse("core:specialist_history", args=[org.police.pk]), reverse("core:tokens"),
                reverse("core:jobs"), reverse("core:policies"), reverse("core:policy_detail", args=["national"]),
                reverse("core:password_change")):
        html = client.get(url).content.decode()
        assert " style=" not in html and "<style" not in html, url
        assert "<script>" not in html and "onclick=" not in html, url
