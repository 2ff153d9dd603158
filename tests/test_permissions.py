"""The permission chokepoint (SEC-2): one place restricts querysets; missing and forbidden answer
the same 404; denials are audited."""

from __future__ import annotations

import pytest

from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Forbidden, NotFound
from govshare.core.models import ApiToken, AuditEvent, Department, User
from govshare.core.permissions import Action, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from tests.conftest import Org


def test_a_department_admin_may_change_only_their_own_department(org: Org) -> None:
    # owner
    assert get_for(org.police_admin, Action.CHANGE, Department, pk=org.police.pk) == org.police
    # colleague (same department, no admin role)
    with pytest.raises(NotFound):
        get_for(org.police_specialist, Action.CHANGE, Department, pk=org.police.pk)
    # outsider (another department's admin)
    with pytest.raises(NotFound):
        get_for(org.market_admin, Action.CHANGE, Department, pk=org.police.pk)


def test_missing_and_forbidden_are_the_same_404_but_only_forbidden_is_audited(org: Org) -> None:
    before = AuditEvent.objects.filter(code=AuditCode.PERMISSION_DENIED).count()
    with pytest.raises(NotFound) as missing:
        get_for(org.market_admin, Action.CHANGE, Department, pk=999_999)
    with pytest.raises(NotFound) as forbidden:
        get_for(org.market_admin, Action.CHANGE, Department, pk=org.police.pk)
    assert missing.value.as_dict() == forbidden.value.as_dict()
    denials = AuditEvent.objects.filter(code=AuditCode.PERMISSION_DENIED).order_by("id")
    assert denials.count() == before + 1
    assert denials.last().object_id == str(org.police.pk)
    assert denials.last().actor_id == org.market_admin.pk


def test_colleagues_see_each_other_but_outsiders_do_not(org: Org) -> None:
    visible = set(restrict(User, org.police_specialist, Action.VIEW).values_list("username", flat=True))
    assert {"police_admin", "police_specialist"} <= visible
    assert "market_admin" not in visible
    # the colleague cannot change the department admin
    assert not restrict(User, org.police_specialist, Action.CHANGE).filter(pk=org.police_admin.pk).exists()
    # the owner (department admin) can change their specialist; the outsider cannot
    assert restrict(User, org.police_admin, Action.CHANGE).filter(pk=org.police_specialist.pk).exists()
    assert not restrict(User, org.market_admin, Action.CHANGE).filter(pk=org.police_specialist.pk).exists()


def test_tokens_are_personal_even_for_the_centre_admin(org: Org) -> None:
    from govshare.core.actions import do_create_token

    new = do_create_token(org.police_specialist, name="etl")
    assert restrict(ApiToken, org.police_specialist).filter(pk=new.token.pk).exists()
    assert not restrict(ApiToken, org.police_admin).filter(pk=new.token.pk).exists()
    assert not restrict(ApiToken, org.centre_admin).filter(pk=new.token.pk).exists()


def test_only_auditors_read_the_audit_log(org: Org) -> None:
    assert restrict(AuditEvent, org.auditor).exists()
    for user in (org.centre_admin, org.police_admin, org.reviewer, org.citizen):
        assert not restrict(AuditEvent, user).exists()
    assert not restrict(AuditEvent, org.auditor, Action.CHANGE).exists()
    assert not restrict(AuditEvent, org.auditor, Action.DELETE).exists()


def test_capabilities_follow_roles_and_denials_are_audited(org: Org) -> None:
    assert has_capability(org.centre_admin, Capability.MANAGE_DEPARTMENTS)
    assert not has_capability(org.centre_admin, Capability.READ_AUDIT)
    assert has_capability(org.auditor, Capability.READ_AUDIT)
    assert not has_capability(org.auditor, Capability.MANAGE_USERS)
    with pytest.raises(Forbidden):
        require(org.auditor, Capability.MANAGE_DEPARTMENTS)
    event = AuditEvent.objects.order_by("-id").first()
    assert event.code == AuditCode.PERMISSION_DENIED and event.outcome == "denied"
    assert event.detail == {"capability": "manage_departments"}


def test_anonymous_and_inactive_users_get_nothing(org: Org) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert not restrict(User, AnonymousUser()).exists()
    org.police_admin.is_active = False
    org.police_admin.save()
    org.police_admin.__dict__.pop("_role_cache", None)
    assert not has_capability(org.police_admin, Capability.MANAGE_USERS)
