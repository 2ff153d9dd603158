"""The one permission chokepoint (SEC-2).

* ``restrict(queryset, user, action)`` narrows any queryset to what ``user`` may ``action``; each
  model registers its rule with ``@rule(Model)``.  Views, API and CLI never filter by hand.
* ``get_for(user, action, queryset_or_model, **lookup)`` returns one object or raises
  :class:`NotFound` — the same 404 for "missing" and "forbidden"; the forbidden case is audited.
* ``require(user, capability)`` checks a platform capability given by roles (403, audited).

Later apps register rules for their own models in their ``permissions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import Forbidden, NotFound
from govshare.core.roles import CAPABILITIES, Role

M = TypeVar("M", bound=models.Model)


class Action(StrEnum):
    VIEW = "view"
    CHANGE = "change"
    DELETE = "delete"


RuleFn = Callable[[Any, str], Q | bool]
_RULES: dict[type[models.Model], RuleFn] = {}


def rule(model: type[models.Model]) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        _RULES[model] = fn
        return fn

    return register


def is_anonymous(user: Any) -> bool:
    """No user, not logged in, or deactivated: treated as the public."""
    return user is None or not getattr(user, "is_authenticated", False) or not user.is_active


_is_anonymous = is_anonymous  # the old private name, for core's own callers


def restrict(qs: QuerySet[M] | type[M], user: Any, action: str = Action.VIEW) -> QuerySet[M]:
    queryset: QuerySet[M] = qs._default_manager.all() if isinstance(qs, type) else qs  # type: ignore[attr-defined]
    fn = _RULES.get(queryset.model)
    if fn is None:
        raise LookupError(f"no permission rule registered for {queryset.model.__name__}")
    verdict = fn(user, str(action))
    if verdict is True:
        return queryset
    if verdict is False:
        return queryset.none()
    return queryset.filter(verdict)


def get_for(user: Any, action: str, qs: QuerySet[M] | type[M], **lookup: Any) -> M:
    queryset: QuerySet[M] = qs._default_manager.all() if isinstance(qs, type) else qs  # type: ignore[attr-defined]
    try:
        return restrict(queryset, user, action).get(**lookup)
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        existing = queryset.filter(**lookup).first()
        if existing is not None:
            _audit_denial(user, action, existing)
        raise NotFound(queryset.model._meta.model_name or "object") from None


def can(user: Any, action: str, obj: models.Model) -> bool:
    model = obj._meta.model  # not type(obj): request.user is a lazy wrapper
    return restrict(model._default_manager.filter(pk=obj.pk), user, action).exists()


def require_object(user: Any, action: str, obj: models.Model) -> None:
    if not can(user, action, obj):
        _audit_denial(user, action, obj)
        raise NotFound(obj._meta.model_name or "object")


def has_capability(user: Any, capability: str) -> bool:
    if _is_anonymous(user):
        return False
    return bool(user.role_set() & CAPABILITIES[capability])


def require(user: Any, capability: str) -> None:
    if not has_capability(user, capability):
        from govshare.core import audit
        from govshare.core.audit_codes import AuditCode

        audit.record_now(AuditCode.PERMISSION_DENIED, actor=user, outcome="denied",
                         detail={"capability": str(capability)})
        raise Forbidden("forbidden", _("You do not have the right to do this (%(capability)s)."),
                        capability=str(capability))


def deny(user: Any, code: str, message: Any, *, obj: models.Model | None = None, field: str | None = None,
         **params: Any) -> NoReturn:
    """Refuse with 403 and record the refusal (PERMISSION_DENIED) — the one way an action says no
    for a reason other than a missing capability or an invisible object."""
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    audit.record_now(AuditCode.PERMISSION_DENIED, actor=user, obj=obj, outcome="denied",
                     detail={"code": code, **{k: str(v) for k, v in params.items()}})
    raise Forbidden(code, message, field=field, **params)


def _audit_denial(user: Any, action: str, obj: models.Model) -> None:
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    audit.record_now(AuditCode.PERMISSION_DENIED, actor=user, obj=obj, outcome="denied",
                     detail={"action": str(action)})


# ---------------------------------------------------------------- core rules

def _dept_id(user: Any) -> int | None:
    return getattr(user, "department_id", None)


from govshare.core.models import (  # noqa: E402  (rules below need the models; models need nothing here)
    AccessEvent,
    ApiToken,
    AuditEvent,
    Department,
    Job,
    Jurisdiction,
    Notification,
    SpecialistAppointment,
    User,
)


@rule(Jurisdiction)
def _jurisdiction_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        return True  # the organisation tree is public information
    return not _is_anonymous(user) and user.has_role(Role.CENTRE_ADMIN)


@rule(Department)
def _department_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        return Q(is_active=True) if _is_anonymous(user) or user.has_role(Role.PUBLIC) else True
    if _is_anonymous(user):
        return False
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    if user.has_role(Role.DEPT_ADMIN) and _dept_id(user):
        return Q(pk=_dept_id(user))
    return False


@rule(User)
def _user_rule(user: Any, action: str) -> Q | bool:
    if _is_anonymous(user):
        return False
    own = Q(pk=user.pk)
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    if user.has_role(Role.DEPT_ADMIN) and _dept_id(user):
        return own | Q(department_id=_dept_id(user))
    if action == Action.VIEW and _dept_id(user) and not user.has_role(Role.AUDITOR):
        return own | Q(department_id=_dept_id(user))  # colleagues see each other
    if action == Action.VIEW and user.has_role(Role.AUDITOR):
        return True  # auditors must be able to identify actors (read only)
    return own


@rule(SpecialistAppointment)
def _specialist_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        # the register is known inside government: any department user or auditor reads it
        return not _is_anonymous(user) and not user.has_role(Role.PUBLIC) and bool(user.role_set())
    if _is_anonymous(user):
        return False
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    if user.has_role(Role.DEPT_ADMIN) and _dept_id(user):
        return Q(department_id=_dept_id(user))
    return False


@rule(ApiToken)
def _token_rule(user: Any, action: str) -> Q | bool:
    if _is_anonymous(user):
        return False
    return Q(user_id=user.pk)  # tokens are personal: not even a centre admin sees another's


@rule(AuditEvent)
def _audit_rule(user: Any, action: str) -> Q | bool:
    # separation of duties: only auditors read; nobody changes
    return action == Action.VIEW and not _is_anonymous(user) and user.has_role(Role.AUDITOR)


rule(AccessEvent)(_audit_rule)  # the access log (reads, issue 9): the same rule as the audit log


@rule(Job)
def _job_rule(user: Any, action: str) -> Q | bool:
    if _is_anonymous(user):
        return False
    own = Q(created_by_id=user.pk)
    if user.has_role(Role.CENTRE_ADMIN):
        # the centre operates the platform and may see and cancel any job — except the auditors'
        # jobs on the audit log, whose results describe the log (separation of duties)
        return own | ~Q(kind__startswith="core.audit_")
    return own


@rule(Notification)
def _notification_rule(user: Any, action: str) -> Q | bool:
    # a notification is personal: not even an administrator reads another's inbox
    if _is_anonymous(user):
        return False
    return Q(recipient_id=user.pk)
