"""Audit-log API, mounted at /api/v1/audit (SEC-4).

Auditors only (``Capability.READ_AUDIT``): anyone else gets 403 on the list, export and verify,
and 404 on a single event (the same answer as for a missing one).  Handlers are thin: they parse
the filters and call :mod:`govshare.core.actions.audit`, which records every read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import translation
from ninja import Field, Query, Router, Schema, Status

from govshare.core import access_log
from govshare.core.actions import audit as audit_actions
from govshare.core.api_helpers import answers
from govshare.core.audit_codes import AuditCode, domain_label, domain_of
from govshare.core.models import AccessEvent, AuditEvent
from govshare.core.validators import MAX_DB_ID

router = Router(tags=["audit"])

MAX_LIMIT = 500


class AuditFilterQuery(Schema):
    date_from: dt.date | None = Field(None, description="first day, Asia/Shanghai (inclusive)")
    date_to: dt.date | None = Field(None, description="last day, Asia/Shanghai (inclusive)")
    code: int | None = Field(None, description="event code, see docs/audit-codes.md")
    domain: str | None = Field(None, description="core, catalog, sharing, exchange, datastore, gateway, ...")
    outcome: str | None = Field(None, description="success, denied or failure")
    actor: str | None = Field(None, description="user name or real name contains")
    department: str | None = Field(None, description="the acting user's department: id, or name contains")
    object_department: str | None = Field(None, description="the object's department: id, or name contains")
    object_type: str | None = Field(None, description="e.g. core.department")
    object_id: str | None = None
    request_id: str | None = None
    q: str | None = Field(None, description="free text in object, actor name or detail")
    log: Literal["writes", "reads", "both"] | None = Field(
        None, description="读写: writes (the audit log, the default), reads (the access log: reads, queries, "
                          "downloads, exports, access checks) or both, newest first")


class PageQuery(AuditFilterQuery):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_DB_ID - MAX_LIMIT)  # OFFSET + LIMIT stays a 64-bit integer


class ExportQuery(AuditFilterQuery):
    format: str = Field("csv", description="csv (UTF-8 with BOM) or xlsx")


class AuditEventOut(Schema):
    id: int
    occurred_at: dt.datetime
    code: int
    action: str
    label: str = Field(description="what happened, in the reader's language")
    domain: str
    domain_label: str
    outcome: str
    outcome_label: str
    actor_id: int | None = Field(description="the person who acted")
    actor_username: str
    actor_name: str
    department_id: int | None = Field(description="the acting person's department")
    department_name: str
    on_behalf_of_id: int | None = Field(description="the person the actor acted for, if any")
    on_behalf_of_username: str
    on_behalf_of_name: str
    object_department_id: int | None = Field(description="the department the object belongs to")
    object_department_name: str
    object_type: str
    object_id: str
    object_repr: str
    ip: str
    request_id: str
    changes: dict[str, Any] = Field(description="changed fields: {field: [before, after]}")
    detail: dict[str, Any]
    log: Literal["write", "read"] = Field("write", description="a write (audit log) or a read (access log)")
    method: str = Field("", description="a read: the HTTP method")
    path: str = Field("", description="a read: the path it came through")
    status: int | None = Field(None, description="a read: the answer's HTTP status")
    results: int | None = Field(None, description="a read: how many results were given")
    token_id: int | None = Field(None, description="a read: the API token it came with")

    @staticmethod
    def resolve_log(obj: Any) -> str:
        return "read" if isinstance(obj, AccessEvent) else "write"

    @staticmethod
    def resolve_changes(obj: Any) -> dict[str, Any]:
        return getattr(obj, "changes", None) or {}

    @staticmethod
    def resolve_on_behalf_of_id(obj: Any) -> int | None:
        return getattr(obj, "on_behalf_of_id", None)

    @staticmethod
    def resolve_on_behalf_of_username(obj: Any) -> str:
        return getattr(obj, "on_behalf_of_username", "")

    @staticmethod
    def resolve_on_behalf_of_name(obj: Any) -> str:
        return getattr(obj, "on_behalf_of_name", "")

    @staticmethod
    def resolve_domain(obj: AuditEvent) -> str:
        return domain_of(obj.code)

    @staticmethod
    def resolve_label(obj: AuditEvent) -> str:
        return str(obj.label)

    @staticmethod
    def resolve_domain_label(obj: AuditEvent) -> str:
        return str(domain_label(domain_of(obj.code)))

    @staticmethod
    def resolve_outcome_label(obj: AuditEvent) -> str:
        return str(obj.get_outcome_display())


class AuditEventDetailOut(AuditEventOut):
    prev_hash: str
    row_hash: str


class AuditPageOut(Schema):
    total: int
    limit: int
    offset: int
    items: list[AuditEventOut]


class BrokenRowOut(Schema):
    id: int | None
    code: int | None
    action: str
    occurred_at: dt.datetime | None
    reason: str


class VerifyOut(Schema):
    ok: bool
    checked: int
    message: str
    message_zh: str
    message_en: str
    first_broken: BrokenRowOut | None


class VerifyJobOut(Schema):
    job_id: str
    status: str


def _filters(query: AuditFilterQuery) -> dict[str, Any]:
    return query.dict(include=set(AuditFilterQuery.model_fields))


@router.get("/events", response=AuditPageOut, summary="Search the audit log (auditors only, SEC-4)")
@answers(400)  # a filter the rules refuse (issue 9: every answer is declared)
def list_events(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    qs = audit_actions.do_search_audit(request.user, _filters(query), record=query.offset == 0)
    total = qs.count()
    items = list(qs[query.offset:query.offset + query.limit])
    return {"total": total, "limit": query.limit, "offset": query.offset, "items": items}


@router.get("/events/{event_id}", response=AuditEventDetailOut, summary="One audit event with its hashes")
def get_event(request: HttpRequest, event_id: int,
              log: Literal["write", "read"] = Query("write", description="the log the id is of: write (the audit "
                                                                         "log) or read (the access log)")) -> Any:
    return audit_actions.do_view_audit_event(request.user, event_id, log=log)


@router.get("/verify", response=VerifyOut, summary="Check the whole hash chain now; names the first broken row")
def verify(request: HttpRequest) -> dict[str, Any]:
    report = audit_actions.do_verify_audit(request.user)
    broken = None
    if not report.ok:
        broken = {"id": report.first_broken_id, "code": report.code, "action": report.action,
                  "occurred_at": report.occurred_at, "reason": report.reason}
    messages = {}
    for key, language in (("message_zh", "zh-hans"), ("message_en", "en")):
        with translation.override(language):
            messages[key] = report.message
    return {"ok": report.ok, "checked": report.checked, "message": report.message, **messages,
            "first_broken": broken}


@router.post("/verify/jobs", response={202: VerifyJobOut},
             summary="Verify a long chain in the background (see /api/v1/jobs/{id} for progress)")
def start_verify_job(request: HttpRequest) -> Any:
    job = audit_actions.do_start_audit_verify(request.user)
    return Status(202, {"job_id": str(job.pk), "status": job.status})


@router.get("/export", summary="Export the (filtered) audit log as CSV (UTF-8 with BOM) or XLSX")
def export(request: HttpRequest, query: Query[ExportQuery]) -> Any:
    result = audit_actions.do_export_audit(request.user, _filters(query), query.format)
    access_log.note(request, AuditCode.READ_EXPORT, object_type="core.auditevent", query=result.filters.as_dict(),
                    results=result.count, format=result.fmt)
    return result.response()
