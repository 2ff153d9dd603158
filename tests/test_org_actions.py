"""Organisation actions: departments, real-name users, roles and the data-specialist register
(SEC-1, SEC-2, SUP-1).  Separation of duties follows GB/T 39477.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from govshare.core import crypto
from govshare.core.actions import (
    do_appoint_specialist,
    do_create_department,
    do_create_user,
    do_deactivate_user,
    do_end_specialist,
    do_grant_role,
    do_revoke_role,
    do_update_department,
    do_update_user,
)
from govshare.core.actions.auth import do_create_token
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_id_number, make_uscc
from govshare.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.core.models import AuditEvent, Department, RoleAssignment, SpecialistAppointment, User
from govshare.core.permissions import Action, has_capability, restrict
from govshare.core.roles import Capability, Role
from tests.conftest import PASSWORD

ID_A = make_id_number("360783", "19850505", 501)
ID_B = make_id_number("360783", "19860606", 502)


def _events(code: AuditCode) -> Any:
    return AuditEvent.objects.filter(code=int(code))


def _new_department(actor: Any, org: Any, seq: int = 50, **kw: Any) -> Department:
    data = {"name": "龙南市民政局", "short_name": "民政局", "uscc": make_uscc("360783", seq), "code": f"MZ{seq}",
            "jurisdiction": org.county}
    data.update(kw)
    return do_create_department(actor, **data)


# ------------------------------------------------------------------ departments

def test_centre_admin_creates_a_department_and_it_is_audited(org: Any) -> None:
    dept = _new_department(org.centre_admin, org)
    assert dept.uscc == make_uscc("360783", 50)
    event = _events(AuditCode.DEPARTMENT_CREATED).get(object_id=str(dept.pk))
    assert event.actor_id == org.centre_admin.pk
    assert event.changes["uscc"] == [None, dept.uscc]


def test_an_invalid_uscc_is_refused_naming_the_field_and_nothing_is_stored(org: Any) -> None:
    before = Department.objects.count()
    good = make_uscc("360783", 51)
    with pytest.raises(ValidationFailed) as info:
        _new_department(org.centre_admin, org, uscc=good[:17] + ("0" if good[-1] != "0" else "1"))
    assert info.value.code == "invalid_uscc_check" and info.value.field == "uscc"
    assert Department.objects.count() == before


def test_a_duplicate_uscc_is_a_conflict(org: Any) -> None:
    with pytest.raises(Conflict) as info:
        _new_department(org.centre_admin, org, uscc=org.police.uscc)
    assert info.value.code == "duplicate_uscc" and info.value.field == "uscc"


def test_a_duplicate_department_code_is_a_conflict(org: Any) -> None:
    with pytest.raises(Conflict) as info:
        _new_department(org.centre_admin, org, code=org.police.code)
    assert info.value.code == "duplicate_code"


@pytest.mark.parametrize("who", ["police_admin", "reviewer", "auditor", "police_specialist", "citizen"])
def test_only_a_centre_admin_creates_departments(org: Any, who: str) -> None:
    before = Department.objects.count()
    with pytest.raises(Forbidden):
        _new_department(getattr(org, who), org)
    assert Department.objects.count() == before


def test_a_department_admin_may_change_the_short_name_of_their_own_department_only(org: Any) -> None:
    do_update_department(org.police_admin, org.police, short_name="公安")
    org.police.refresh_from_db()
    assert org.police.short_name == "公安"
    with pytest.raises(ValidationFailed) as info:
        do_update_department(org.police_admin, org.police, name="别的名字")
    assert info.value.field == "name"
    with pytest.raises(NotFound):  # outsider: the same 404 as a missing department
        do_update_department(org.market_admin, org.police, short_name="x")


def test_a_colleague_without_the_admin_role_cannot_change_the_department(org: Any) -> None:
    with pytest.raises(NotFound):
        do_update_department(org.police_specialist, org.police, short_name="x")


def test_auditor_cannot_change_a_department(org: Any) -> None:
    with pytest.raises(NotFound):
        do_update_department(org.auditor, org.police, short_name="审计改")
    org.police.refresh_from_db()
    assert org.police.short_name == "公安局"


def test_changing_the_uscc_to_another_departments_is_a_conflict(org: Any) -> None:
    with pytest.raises(Conflict):
        do_update_department(org.centre_admin, org.police, uscc=org.market.uscc)


# ------------------------------------------------------------------ users

def test_a_users_id_number_is_stored_encrypted_and_shown_masked(org: Any) -> None:
    user = do_create_user(org.centre_admin, username="zhang", real_name="张三", password=None, id_number=ID_A,
                          department=org.police)
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM core_user WHERE id = %s", [user.pk])
        row = cur.fetchone()
    assert not any(ID_A in str(value) for value in row), "the ID number is in the row in plain text"
    assert user.id_number_masked == ID_A[:4] + "*" * 10 + ID_A[-4:]
    assert crypto.decrypt(user.id_number_encrypted) == ID_A
    created = _events(AuditCode.USER_CREATED).get(object_id=str(user.pk))
    assert ID_A not in str(created.changes) and ID_A not in str(created.detail)


def test_a_duplicate_id_number_is_a_conflict_and_nothing_is_stored(org: Any) -> None:
    do_create_user(org.centre_admin, username="zhang", real_name="张三", password=None, id_number=ID_A,
                   department=org.police)
    users, events = User.objects.count(), AuditEvent.objects.count()
    with pytest.raises(Conflict) as info:
        do_create_user(org.centre_admin, username="zhang2", real_name="张三", password=None,
                       id_number=ID_A.lower(), department=org.police)
    assert info.value.code == "duplicate_id_number" and info.value.field == "id_number"
    assert (User.objects.count(), AuditEvent.objects.count()) == (users, events)


def test_an_invalid_id_number_is_refused_and_nothing_is_stored(org: Any) -> None:
    users = User.objects.count()
    with pytest.raises(ValidationFailed) as info:
        do_create_user(org.centre_admin, username="li", real_name="李四", password=None,
                       id_number=ID_A[:17] + ("1" if ID_A[-1] != "1" else "2"), department=org.police)
    assert info.value.field == "id_number"
    assert User.objects.count() == users


def test_a_duplicate_user_name_is_a_conflict_whatever_the_case(org: Any) -> None:
    with pytest.raises(Conflict) as info:
        do_create_user(org.centre_admin, username="Police_Admin", real_name="x", password=None)
    assert info.value.code == "duplicate_username"


def test_a_weak_password_is_refused_naming_the_password_field(org: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        do_create_user(org.centre_admin, username="weak", real_name="弱", password="123")
    assert info.value.field == "password"
    assert not User.objects.filter(username="weak").exists()


def test_a_department_admin_creates_users_in_their_own_department(org: Any) -> None:
    user = do_create_user(org.police_admin, username="police2", real_name="警员", password=None,
                          department=org.police, roles=[Role.DATA_SPECIALIST])
    assert user.department == org.police and user.has_role(Role.DATA_SPECIALIST)


def test_a_department_admin_cannot_manage_another_departments_users(org: Any) -> None:
    with pytest.raises(Forbidden) as info:
        do_create_user(org.police_admin, username="spy", real_name="x", password=None, department=org.market)
    assert info.value.code == "forbidden_department"
    with pytest.raises(Forbidden):
        do_grant_role(org.police_admin, org.market_specialist, Role.DEPT_ADMIN)
    with pytest.raises(NotFound):
        do_update_user(org.police_admin, org.market_specialist, real_name="改名")
    with pytest.raises(NotFound):
        do_deactivate_user(org.police_admin, org.market_specialist)
    assert not User.objects.filter(username="spy").exists()


def test_a_department_admin_cannot_grant_centre_roles(org: Any) -> None:
    for role in (Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.AUDITOR):
        with pytest.raises(Forbidden) as info:
            do_grant_role(org.police_admin, org.police_specialist, role)
        assert info.value.code in {"forbidden_role", "auditor_role"}
    assert org.police_specialist.role_set() == {Role.DATA_SPECIALIST}


def test_a_data_specialist_cannot_manage_users_even_in_their_own_department(org: Any) -> None:
    with pytest.raises(Forbidden):
        do_create_user(org.police_specialist, username="x1", real_name="x", password=None, department=org.police)


def test_centre_roles_are_only_for_centre_staff(org: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        do_grant_role(org.centre_admin, org.police_specialist, Role.CENTRE_REVIEWER)
    assert info.value.code == "role_needs_centre"


@pytest.mark.parametrize("held,new", [
    ("auditor", Role.CENTRE_ADMIN),
    ("auditor", Role.DEPT_ADMIN),
    ("auditor", Role.DATA_SPECIALIST),
    ("centre_admin", Role.AUDITOR),
    ("reviewer", Role.AUDITOR),
    ("police_admin", Role.AUDITOR),
])
def test_the_auditor_role_cannot_be_combined_with_admin_or_operator_roles(org: Any, held: str, new: str) -> None:
    user = getattr(org, held)
    before = set(user.role_set())
    with pytest.raises(ValidationFailed) as info:
        # the operator, who alone manages auditor accounts, is held to the same rule
        do_grant_role(None, user, new, operator=True)
    assert info.value.code == "separation_of_duties" and info.value.field == "role"
    assert "GB/T 39477" in info.value.render("en")
    assert set(RoleAssignment.objects.filter(user=user).values_list("role", flat=True)) == before


def test_creating_a_user_with_incompatible_roles_stores_nothing(org: Any) -> None:
    users, events = User.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationFailed):
        do_create_user(None, username="both", real_name="两者", password=None, id_number=ID_B,
                       department=org.centre, roles=[Role.CENTRE_REVIEWER, Role.AUDITOR], operator=True)
    assert (User.objects.count(), AuditEvent.objects.count()) == (users, events)


def test_an_admin_cannot_read_the_audit_log(org: Any) -> None:
    for admin in (org.centre_admin, org.police_admin):
        assert not has_capability(admin, Capability.READ_AUDIT)
        assert not restrict(AuditEvent, admin, Action.VIEW).exists()
    assert restrict(AuditEvent, org.auditor, Action.VIEW).exists()


def test_an_auditor_cannot_change_anything_else(org: Any) -> None:
    with pytest.raises(Forbidden):
        do_create_user(org.auditor, username="a2", real_name="x", password=None, department=org.centre)
    with pytest.raises(NotFound):
        do_update_user(org.auditor, org.police_specialist, real_name="x")
    with pytest.raises(NotFound):
        do_appoint_specialist(org.auditor, org.police, org.police_specialist)
    # not even their own contact details (roles.py: only their own password and tokens)
    with pytest.raises(ValidationFailed):
        do_update_user(org.auditor, org.auditor, phone="0797-1")
    assert do_create_token(org.auditor, name="reports").secret


def test_administrators_cannot_grant_the_auditor_role_or_touch_an_auditor_account(org: Any) -> None:
    from govshare.core.actions import do_change_password, do_deactivate_user

    for change in (
        lambda: do_grant_role(org.centre_admin, org.reviewer, Role.AUDITOR),
        lambda: do_change_password(org.centre_admin, org.auditor, old_password=None, new_password="Other-horse-77"),
        lambda: do_deactivate_user(org.centre_admin, org.auditor, "inconvenient"),
        lambda: do_update_user(org.centre_admin, org.auditor, phone="1"),
    ):
        with pytest.raises(Forbidden) as info:
            change()
        assert info.value.code in {"auditor_role", "auditor_account"}
    org.auditor.refresh_from_db()
    assert org.auditor.is_active and org.auditor.check_password(PASSWORD)


def test_a_user_changes_only_their_own_contact_details(org: Any) -> None:
    do_update_user(org.police_specialist, org.police_specialist, email="li@example.org")
    with pytest.raises(ValidationFailed) as info:
        do_update_user(org.police_specialist, org.police_specialist, real_name="新名")
    assert info.value.field == "real_name"


def test_role_grant_and_revoke_are_audited(org: Any) -> None:
    do_grant_role(org.police_admin, org.police_specialist, Role.DEPT_ADMIN)
    do_revoke_role(org.police_admin, org.police_specialist, Role.DEPT_ADMIN)
    assert _events(AuditCode.ROLE_GRANTED).filter(object_id=str(org.police_specialist.pk),
                                                  changes__roles=[None, "dept_admin"]).exists()
    assert _events(AuditCode.ROLE_REVOKED).filter(object_id=str(org.police_specialist.pk)).exists()
    assert not org.police_specialist.role_assignments.filter(role=Role.DEPT_ADMIN).exists()


def test_an_admin_cannot_remove_their_own_admin_role(org: Any) -> None:
    with pytest.raises(ValidationFailed):
        do_revoke_role(org.police_admin, org.police_admin, Role.DEPT_ADMIN)


def test_deactivating_a_user_revokes_their_tokens(org: Any) -> None:
    new = do_create_token(org.police_specialist, name="etl")
    do_deactivate_user(org.police_admin, org.police_specialist, reason="调岗")
    new.token.refresh_from_db()
    assert new.token.revoked_at is not None
    org.police_specialist.refresh_from_db()
    assert not org.police_specialist.is_active
    assert _events(AuditCode.USER_DEACTIVATED).get(object_id=str(org.police_specialist.pk)).detail == {
        "reason": "调岗"}


def test_nobody_deactivates_their_own_account(org: Any) -> None:
    with pytest.raises(ValidationFailed):
        do_deactivate_user(org.centre_admin, org.centre_admin)


# ------------------------------------------------------------------ the data-specialist register (SUP-1)

def test_a_specialist_registers_history_is_kept_after_ending_an_appointment(org: Any) -> None:
    first = do_appoint_specialist(org.police_admin, org.police, org.police_specialist, duty="lead",
                                  phone="0797-3521101")
    do_end_specialist(org.police_admin, first, reason="调任其他岗位")
    second = do_appoint_specialist(org.police_admin, org.police, org.police_specialist, duty="member")
    rows = list(SpecialistAppointment.objects.filter(department=org.police).order_by("pk"))
    assert [r.pk for r in rows] == [first.pk, second.pk]
    assert rows[0].ended_at is not None and rows[0].ended_by == org.police_admin
    assert rows[0].end_reason == "调任其他岗位" and rows[0].duty == "lead"
    assert rows[1].is_current
    assert _events(AuditCode.SPECIALIST_APPOINTED).count() == 2
    ended = _events(AuditCode.SPECIALIST_ENDED).get(object_id=str(first.pk))
    assert ended.detail == {"reason": "调任其他岗位"} and ended.actor_id == org.police_admin.pk


def test_appointing_grants_the_data_specialist_role(org: Any) -> None:
    new = do_create_user(org.police_admin, username="p3", real_name="警员三", password=None, department=org.police)
    do_appoint_specialist(org.police_admin, org.police, new)
    assert User.objects.get(pk=new.pk).has_role(Role.DATA_SPECIALIST)


def test_only_members_of_the_department_can_be_appointed(org: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        do_appoint_specialist(org.centre_admin, org.police, org.market_specialist)
    assert info.value.code == "specialist_department" and info.value.field == "user"


def test_a_person_is_on_a_register_once_at_a_time(org: Any) -> None:
    do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    with pytest.raises(Conflict) as info:
        do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    assert info.value.code == "already_appointed"


def test_an_ended_appointment_cannot_end_twice(org: Any) -> None:
    appointment = do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    do_end_specialist(org.police_admin, appointment, reason="x")
    with pytest.raises(Conflict):
        do_end_specialist(org.police_admin, appointment, reason="y")


def test_another_departments_admin_cannot_change_the_register(org: Any) -> None:
    appointment = do_appoint_specialist(org.centre_admin, org.police, org.police_specialist)
    with pytest.raises(NotFound):
        do_appoint_specialist(org.market_admin, org.police, org.police_specialist)
    with pytest.raises(NotFound):
        do_end_specialist(org.market_admin, appointment, reason="x")
    with pytest.raises(NotFound):  # a colleague without the admin role
        do_end_specialist(org.police_specialist, appointment, reason="x")
    appointment.refresh_from_db()
    assert appointment.is_current
