"""Who sees and acts on what in sharing (SHR-*, SEC-2), registered with the core chokepoint.

Actions used with :func:`govshare.core.permissions.restrict`:

* ``view`` — the consumer department, the provider department, the centre and auditors;
* ``consume`` — the consumer department's admins and data specialists (resubmit, withdraw, report);
* ``answer`` — the provider department's admins and data specialists (answer, verify, revoke own grants);
* ``review`` — the centre (first review, mediation, assignment, forwarding);
* ``change`` — any of the three acting parties (used for notes in a coordination case).

Nobody outside these sees the object at all: "missing" and "forbidden" are the same 404.  Someone
who sees the object but is not the party that may act on it (the consumer answering its own
application, the centre withdrawing it, an auditor) is refused with 403 — :func:`get_acting`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from govshare.catalog.permissions import dept_of, is_centre
from govshare.core.permissions import deny, get_for, is_anonymous, restrict, rule
from govshare.core.roles import Role
from govshare.sharing.models import (
    Application,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    DigestSetting,
    ErrorReport,
    Grant,
    HighFrequencyMark,
    SystemKey,
)

VIEW, CONSUME, ANSWER, REVIEW, CHANGE = "view", "consume", "answer", "review", "change"
DEPT_ACTORS = frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST})

WRONG_PARTY = {
    CONSUME: _("Only the consumer department acts on %(object)s in this way."),
    ANSWER: _("Only the provider department acts on %(object)s in this way."),
    REVIEW: _("Only the centre acts on %(object)s in this way."),
    CHANGE: _("Only the parties (consumer, provider, centre) act on %(object)s."),
}


def get_acting(user: Any, action: str, qs: QuerySet[Any] | type[Model], **lookup: Any) -> Any:
    """The object ``user`` is about to ``action``: 404 when they do not see it at all (missing and
    forbidden alike), 403 (audited) when they see it but are not the party that may do this."""
    obj = get_for(user, VIEW, qs, **lookup)
    if action != VIEW and not restrict(type(obj)._default_manager.filter(pk=obj.pk), user, action).exists():
        deny(user, "wrong_party", WRONG_PARTY.get(action, WRONG_PARTY[CHANGE]), obj=obj, object=str(obj))
    return obj


def is_auditor(user: Any) -> bool:
    return not is_anonymous(user) and user.has_role(Role.AUDITOR)


def is_dept_actor(user: Any) -> bool:
    """An admin or data specialist of a (non-centre or centre) department: acts for it."""
    return not is_anonymous(user) and bool(user.role_set() & DEPT_ACTORS) and dept_of(user) is not None


def _parties(user: Any, action: str, consumer: str, provider: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if action == VIEW:
        if is_centre(user) or is_auditor(user):
            return True
        if is_dept_actor(user):
            return Q(**{consumer: dept_of(user)}) | Q(**{provider: dept_of(user)})
        return False
    if action == REVIEW:
        return is_centre(user)
    if action == CONSUME:
        return Q(**{consumer: dept_of(user)}) if is_dept_actor(user) else False
    if action == ANSWER:
        if is_dept_actor(user) or (user.has_role(Role.CENTRE_ADMIN) and dept_of(user)):
            return Q(**{provider: dept_of(user)})  # the centre answers for the centre's own entries
        return False
    if action == CHANGE:
        if is_centre(user):
            return True
        if is_dept_actor(user):
            return Q(**{consumer: dept_of(user)}) | Q(**{provider: dept_of(user)})
        return False
    return False


@rule(Application)
def _application_rule(user: Any, action: str) -> Q | bool:
    return _parties(user, action, "consumer_id", "provider_id")


@rule(Grant)
def _grant_rule(user: Any, action: str) -> Q | bool:
    if action == ANSWER and is_centre(user):
        return True  # the centre may revoke any grant (sharing authority)
    return _parties(user, action, "consumer_id", "provider_id")


@rule(CoordinationCase)
def _case_rule(user: Any, action: str) -> Q | bool:
    return _parties(user, action, "consumer_id", "provider_id")


@rule(ErrorReport)
def _error_rule(user: Any, action: str) -> Q | bool:
    return _parties(user, action, "reporter_department_id", "provider_id")


@rule(DataRequest)
def _request_rule(user: Any, action: str) -> Q | bool:
    # the presumed owner answers once the centre has assigned the request to it
    return _parties(user, action, "requester_id", "owner_id")


@rule(ConsumingSystem)
def _system_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if action == VIEW:
        if is_centre(user) or is_auditor(user):
            return True
        return Q(department_id=dept_of(user)) if dept_of(user) else False
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    if user.has_role(Role.DEPT_ADMIN) and dept_of(user):
        return Q(department_id=dept_of(user))
    return False


@rule(SystemKey)
def _system_key_rule(user: Any, action: str) -> Q | bool:
    """A system's keys: as the system (its department's administrators manage them, the centre's too)."""
    allowed = _system_rule(user, action)
    if isinstance(allowed, bool):
        return allowed
    return Q(system__department_id=dept_of(user)) if dept_of(user) else False


@rule(HighFrequencyMark)
def _hf_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user) or user.has_role(Role.PUBLIC):
        return False
    if action == VIEW:
        return bool(user.role_set())
    return is_centre(user)


def _digest_scope(user: Any) -> bool | int:
    """Whose digest setting ``user`` manages: every department (True), one (its id) or none (False)."""
    if is_anonymous(user):
        return False
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    if user.has_role(Role.DEPT_ADMIN) and dept_of(user):
        return int(dept_of(user))  # type: ignore[arg-type]
    return False


def may_manage_digest(user: Any, department: Any) -> bool:
    """The DigestSetting rule asked before the setting exists (the action checks it before any write)."""
    scope = _digest_scope(user)
    return scope is True or (scope is not False and scope == department.pk)


@rule(DigestSetting)
def _digest_rule(user: Any, action: str) -> Q | bool:
    scope = _digest_scope(user)
    return scope if isinstance(scope, bool) else Q(department_id=scope)
