"""Core JSON API: who am I, organisations, users and roles, tokens, policy profiles, jobs.

Calendar and audit endpoints live in ``api_calendar.py`` and ``api_audit.py``.  Every handler is
thin: parse, call an action or a restricted query, serialise.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, ClassVar, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ValidationInfo, field_validator

from govshare.core import access_log, actions, audit
from govshare.core.actions.auth import MAX_TOKEN_DAYS
from govshare.core.api_helpers import personal
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Forbidden, NotFound, SchemaValueError
from govshare.core.models import (
    ApiToken,
    AuditEvent,
    Department,
    Job,
    Jurisdiction,
    SpecialistAppointment,
    User,
)
from govshare.core.permissions import Action, get_for, has_capability, require, restrict
from govshare.core.policy import available_profiles, get_profile
from govshare.core.roles import Capability, Role
from govshare.core.validators import MAX_DB_ID, has_control_characters

router = Router()

#: a password is hashed, never stored: the bound only keeps hashing cheap
PASSWORD_INPUT_MAX = 1024


# ------------------------------------------------------------------ schemas

class InSchema(Schema):
    """Input bodies: every string is bounded by its model field's ``max_length`` (``Field`` on each
    field, so an over-long value is a 422 naming the field, not a DataError on PostgreSQL) and may
    hold no control characters (PostgreSQL refuses NUL)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and has_control_characters(t) for t in texts):
            raise SchemaValueError(_("This field contains control characters (such as NUL)."))
        return value


#: a row id in a body or query: larger numbers than a BIGINT are refused before they reach a query
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


def choice_of(values: Any) -> Any:
    """The schema type of a model field with choices: what the rules accept is what the document
    states (issue 9), from the model's own ``choices``."""
    return Literal[tuple(str(v) for v in values)]


RoleName = choice_of(Role.values)


class DepartmentOut(Schema):
    id: int
    name: str
    short_name: str
    code: str
    uscc: str
    kind: str
    jurisdiction_id: int
    is_active: bool


# USCC input may carry surrounding spaces or full-width characters; the validator answers its length
USCC_INPUT_MAX = 40


class DepartmentIn(InSchema):
    name: str = Field(max_length=200)
    short_name: str = Field(max_length=50)
    uscc: str = Field(max_length=USCC_INPUT_MAX,
                      description="统一社会信用代码, GB 32100 (18 characters with check character)")
    code: str = Field(max_length=20)
    jurisdiction_id: DbId
    kind: choice_of(Department.Kind.values) = Department.Kind.DEPARTMENT  # type: ignore[valid-type]


class PatchIn(InSchema):
    """PATCH bodies: a field left out keeps its value; an explicit ``null`` is a 422 naming the field,
    except for the fields in ``nullable`` (validators do not run on left-out fields' defaults)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise SchemaValueError(_("Leave the field out to keep its value; null is not a value."))
        return value


class DepartmentPatch(PatchIn):
    name: str | None = Field(None, max_length=200)
    short_name: str | None = Field(None, max_length=50)
    uscc: str | None = Field(None, max_length=USCC_INPUT_MAX)
    is_active: bool | None = None


class JurisdictionOut(Schema):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    policy_profile: str


class JurisdictionIn(InSchema):
    code: str = Field(max_length=12, description="administrative division code (GB/T 2260)")
    name: str = Field(max_length=100)
    level: choice_of(Jurisdiction.Level.values) = Field(  # type: ignore[valid-type]
        description="province, city or county")
    parent_id: DbId | None = None
    policy_profile: str = Field("national", max_length=50, description="see /api/v1/policies")


class JurisdictionPatch(PatchIn):
    nullable = frozenset({"parent_id"})

    name: str | None = Field(None, max_length=100)
    policy_profile: str | None = Field(None, max_length=50)
    parent_id: DbId | None = Field(None, description="null: the jurisdiction becomes a root")


class UserOut(Schema):
    id: int
    username: str
    real_name: str
    id_number: str = Field(alias="id_number_masked", description="masked; the full number is never returned")
    email: str
    phone: str
    department_id: int | None
    is_active: bool
    roles: list[str]
    locked_until: dt.datetime | None = Field(None, description="locked for addresses it never logged in from "
                                                               "until then (issue 9); null: not locked")

    @staticmethod
    def resolve_roles(obj: User) -> list[str]:
        return sorted(obj.role_set())

    @staticmethod
    def resolve_locked_until(obj: User) -> dt.datetime | None:
        return obj.locked_until if obj.is_locked() else None


class UserIn(InSchema):
    username: str = Field(max_length=150)
    real_name: str = Field(max_length=100)
    password: str | None = Field(None, max_length=PASSWORD_INPUT_MAX)
    id_number: str | None = Field(default=None, max_length=40, description="公民身份号码, GB 11643 (stored encrypted)")
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=20)
    department_id: DbId | None = None
    roles: list[RoleName] = Field([], max_length=len(Role.values))  # type: ignore[valid-type]


class RoleIn(InSchema):
    role: RoleName  # type: ignore[valid-type]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scope: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenIn(InSchema):
    name: str = Field(max_length=100)
    scope: choice_of(ApiToken.Scope.values) = ApiToken.Scope.READ  # type: ignore[valid-type]
    days: int = Field(90, ge=1, le=MAX_TOKEN_DAYS)


class NewTokenOut(Schema):
    token: TokenOut
    secret: str = Field(description="shown once; store it now")


class SpecialistOut(Schema):
    id: int
    department_id: int
    user_id: int
    user_name: str
    duty: str
    phone: str
    appointed_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str

    @staticmethod
    def resolve_user_name(obj: SpecialistAppointment) -> str:
        return obj.user.real_name


class SpecialistIn(InSchema):
    user_id: DbId
    duty: choice_of(SpecialistAppointment.Duty.values) = SpecialistAppointment.Duty.MEMBER  # type: ignore[valid-type]
    phone: str = Field("", max_length=20)
    note: str = Field("", max_length=200)


class EndIn(InSchema):
    reason: str = Field("", max_length=200)


class JobOut(Schema):
    id: str
    kind: str
    title: str
    status: str
    progress_done: int
    progress_total: int | None
    percent: int | None
    message: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    result: dict[str, Any]

    @staticmethod
    def resolve_id(obj: Job) -> str:
        return str(obj.pk)

    @staticmethod
    def resolve_title(obj: Job) -> str:
        return obj.shown_title  # in the reader's language

    @staticmethod
    def resolve_message(obj: Job) -> str:
        return obj.shown_message  # in the reader's language


class JobDetailOut(JobOut):
    log: str


class MeOut(Schema):
    user: UserOut
    capabilities: list[str]


# ------------------------------------------------------------------ endpoints

@router.get("/me", response=MeOut, tags=["core"], summary="The authenticated user, roles and capabilities")
def me(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.user
    return {"user": user, "capabilities": [c for c in Capability.values if has_capability(user, c)]}


@router.get("/jurisdictions", response=list[JurisdictionOut], tags=["core"])
def list_jurisdictions(request: HttpRequest) -> Any:
    return restrict(Jurisdiction, request.user, Action.VIEW).order_by("code")


@router.post("/jurisdictions", response={201: JurisdictionOut}, tags=["core"],
             summary="Add a jurisdiction with its policy profile (centre administrators)")
def create_jurisdiction(request: HttpRequest, payload: JurisdictionIn) -> Any:
    parent = None
    if payload.parent_id is not None:
        parent = get_for(request.user, Action.VIEW, Jurisdiction, pk=payload.parent_id)
    data = payload.dict(exclude={"parent_id"})
    return Status(201, actions.do_create_jurisdiction(request.user, parent=parent, **data))


@router.patch("/jurisdictions/{jurisdiction_id}", response=JurisdictionOut, tags=["core"],
              summary="Rename a jurisdiction, move it in the tree or change its policy profile")
def update_jurisdiction(request: HttpRequest, jurisdiction_id: int, payload: JurisdictionPatch) -> Any:
    jurisdiction = get_for(request.user, Action.CHANGE, Jurisdiction, pk=jurisdiction_id)
    changes = payload.dict(exclude_unset=True)
    if "parent_id" in changes:
        parent_id = changes.pop("parent_id")
        changes["parent"] = None if parent_id is None else get_for(request.user, Action.VIEW, Jurisdiction,
                                                                   pk=parent_id)
    return actions.do_update_jurisdiction(request.user, jurisdiction, **changes)


@router.get("/departments", response=list[DepartmentOut], tags=["core"], summary="Departments (SEC-1)")
def list_departments(request: HttpRequest) -> Any:
    return restrict(Department, request.user, Action.VIEW).order_by("code")


@router.get("/departments/{dept_id}", response=DepartmentOut, tags=["core"])
def get_department(request: HttpRequest, dept_id: int) -> Any:
    return get_for(request.user, Action.VIEW, Department, pk=dept_id)


@router.post("/departments", response={201: DepartmentOut}, tags=["core"])
def create_department(request: HttpRequest, payload: DepartmentIn) -> Any:
    jurisdiction = get_for(request.user, Action.VIEW, Jurisdiction, pk=payload.jurisdiction_id)
    data = payload.dict(exclude={"jurisdiction_id"})
    return Status(201, actions.do_create_department(request.user, jurisdiction=jurisdiction, **data))


@router.patch("/departments/{dept_id}", response=DepartmentOut, tags=["core"])
def update_department(request: HttpRequest, dept_id: int, payload: DepartmentPatch) -> Any:
    dept = get_for(request.user, Action.CHANGE, Department, pk=dept_id)
    return actions.do_update_department(request.user, dept, **payload.dict(exclude_unset=True))


@router.get("/departments/{dept_id}/specialists", response=list[SpecialistOut], tags=["core"],
            summary="Data-specialist register with history (SUP-1)")
def list_specialists(request: HttpRequest, dept_id: int, include_history: bool = False) -> Any:
    dept = get_for(request.user, Action.VIEW, Department, pk=dept_id)
    qs = restrict(SpecialistAppointment, request.user, Action.VIEW).filter(department=dept).select_related("user")
    return qs if include_history else qs.filter(ended_at__isnull=True)


@router.post("/departments/{dept_id}/specialists", response={201: SpecialistOut}, tags=["core"])
def appoint_specialist(request: HttpRequest, dept_id: int, payload: SpecialistIn) -> Any:
    dept = get_for(request.user, Action.VIEW, Department, pk=dept_id)
    user = get_for(request.user, Action.VIEW, User, pk=payload.user_id)
    return Status(201, actions.do_appoint_specialist(request.user, dept, user, duty=payload.duty,
                                                     phone=payload.phone, note=payload.note))


@router.post("/specialists/{appointment_id}/end", response=SpecialistOut, tags=["core"])
def end_specialist(request: HttpRequest, appointment_id: int, payload: EndIn) -> Any:
    appointment = get_for(request.user, Action.CHANGE, SpecialistAppointment, pk=appointment_id)
    return actions.do_end_specialist(request.user, appointment, payload.reason)


@router.get("/users", response=list[UserOut], tags=["core"])
def list_users(request: HttpRequest, department_id: int | None = Query(None, ge=1, le=MAX_DB_ID)) -> Any:
    qs = restrict(User, request.user, Action.VIEW).prefetch_related("role_assignments")
    if department_id is not None:
        qs = qs.filter(department_id=department_id)
    users = list(qs.order_by("username"))
    for u in users:  # roles were prefetched: fill the per-instance cache instead of querying again
        u._role_cache = frozenset(a.role for a in u.role_assignments.all())
    access_log.note(request, AuditCode.READ_USER, object_type="core.user", query={"department_id": department_id},
                    results=len(users))
    return users


@router.post("/users", response={201: UserOut}, tags=["core"], summary="Create a real-name user (SEC-1)")
def create_user(request: HttpRequest, payload: UserIn) -> Any:
    dept = None
    if payload.department_id is not None:
        dept = get_for(request.user, Action.VIEW, Department, pk=payload.department_id)
    data = payload.dict(exclude={"department_id"})
    return Status(201, actions.do_create_user(request.user, department=dept, **data))


@router.post("/users/{user_id}/roles", response=UserOut, tags=["core"])
def grant_role(request: HttpRequest, user_id: int, payload: RoleIn) -> Any:
    user = get_for(request.user, Action.CHANGE, User, pk=user_id)
    actions.do_grant_role(request.user, user, payload.role)
    return user


@router.delete("/users/{user_id}/roles/{role}", response=UserOut, tags=["core"])
def revoke_role(request: HttpRequest, role: RoleName,  # type: ignore[valid-type]
                user_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> Any:
    user = get_for(request.user, Action.CHANGE, User, pk=user_id)
    actions.do_revoke_role(request.user, user, role)
    return user


@router.post("/users/{user_id}/unlock", response=UserOut, tags=["core"],
             summary="Lift an account's login lock and login delays (department admin or centre; issue 9)")
def unlock_user(request: HttpRequest, user_id: int) -> Any:
    user = get_for(request.user, Action.CHANGE, User, pk=user_id)
    return actions.do_unlock_user(request.user, user)


def _session_only(request: HttpRequest, what: str) -> None:
    """Tokens are created and revoked in the browser session: a token that could mint tokens would
    outlive its own expiry and revocation through its children (SEC-2).  The refusal is audited."""
    api_token = getattr(request, "api_token", None)
    if api_token is None:
        return
    audit.record_now(AuditCode.PERMISSION_DENIED, actor=request.user, obj=api_token,
                     outcome=AuditEvent.Outcome.DENIED, detail={"action": what, "reason": "token_needs_session"})
    raise Forbidden("token_needs_session",
                    _("API tokens are created and revoked in the browser session, not with an API token."))


@router.get("/tokens", response=list[TokenOut], tags=["auth"], summary="My API tokens")
def list_tokens(request: HttpRequest) -> Any:
    return restrict(ApiToken, request.user, Action.VIEW)


@router.post("/tokens", response={201: NewTokenOut}, tags=["auth"],
             summary="Create a personal API token; the secret is shown once")
@personal
def create_token(request: HttpRequest, response: HttpResponse, payload: TokenIn) -> Any:
    _session_only(request, "create_token")
    new = actions.do_create_token(request.user, name=payload.name, scope=payload.scope, days=payload.days)
    response["Cache-Control"] = "no-store"  # the secret, shown once, is kept by no cache
    return Status(201, {"token": new.token, "secret": new.secret})


@router.delete("/tokens/{token_id}", response=TokenOut, tags=["auth"], summary="Revoke a token at once")
@personal
def revoke_token(request: HttpRequest, token_id: int) -> Any:
    _session_only(request, "revoke_token")
    token = get_for(request.user, Action.CHANGE, ApiToken, pk=token_id)
    return actions.do_revoke_token(request.user, token)


@router.get("/policies", response=list[str], tags=["policy"], summary="Names of the shipped policy profiles")
def list_policies(request: HttpRequest) -> list[str]:
    require(request.user, Capability.VIEW_POLICY)
    return available_profiles()


@router.get("/policies/{name}", response=dict[str, Any], tags=["policy"],
            summary="A policy profile: deadlines, retention, lists, each with its source article")
def show_policy(request: HttpRequest, name: str = Path(..., max_length=50)) -> dict[str, Any]:
    require(request.user, Capability.VIEW_POLICY)
    if name not in available_profiles():  # a profile is named in the path: an unknown one is not found
        raise NotFound("policy")
    return get_profile(name).as_dict()


@router.get("/jobs", response=list[JobOut], tags=["jobs"])
def list_jobs(request: HttpRequest,
              status: choice_of(Job.Status.values) | None = None) -> Any:  # type: ignore[valid-type]
    qs = restrict(Job, request.user, Action.VIEW)
    if status:
        qs = qs.filter(status=status)
    return qs[:200]


@router.get("/jobs/{job_id}", response=JobDetailOut, tags=["jobs"])
def get_job(request: HttpRequest, job_id: uuid.UUID) -> Any:
    return get_for(request.user, Action.VIEW, Job, pk=job_id)


@router.post("/jobs/{job_id}/cancel", response=JobDetailOut, tags=["jobs"], summary="Cancel a queued or running job")
@personal
def cancel_job(request: HttpRequest, job_id: uuid.UUID) -> Any:
    job = get_for(request.user, Action.CHANGE, Job, pk=job_id)
    return actions.do_cancel_job(request.user, job)


#: core's endpoints sit at the root of ``/api/v1`` (see :mod:`govshare.core.plugins`)
api_prefix = "/"


def _include_subrouters() -> None:
    from govshare.core.api_audit import router as audit_router
    from govshare.core.api_calendar import router as calendar_router
    from govshare.core.api_inbox import router as inbox_router

    router.add_router("/workdays", calendar_router)
    router.add_router("/audit", audit_router)
    router.add_router("/me/notifications", inbox_router)


_include_subrouters()

__all__ = ["router", "Role"]
