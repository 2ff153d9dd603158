"""Auditor pages: search, detail, export and chain verification (SEC-4).

Thin views over :mod:`govshare.core.actions.audit`; the actions check ``READ_AUDIT`` (auditors
only) and record each read.  A platform error is rendered as a page with its status (403, 404, 400).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.apps import apps as django_apps
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from govshare.core import access_log, audit
from govshare.core.actions import audit as audit_actions
from govshare.core.audit_codes import DOMAINS, AuditCode, domain_label, domain_of, label
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.models import AccessEvent, AuditEvent, Department
from govshare.core.permissions import Action, restrict

PAGE_SIZE = 50
#: chains longer than this are verified by a background job with progress (a UI nicety, not a rule)
SYNC_VERIFY_LIMIT = 200_000
OUTCOME_BADGES = {"success": "ok", "denied": "bad", "failure": "warn"}


def _renders_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except GovshareError as exc:
            return render(request, "core/audit_error.html", {"error": exc}, status=exc.status)

    return wrapped


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _changes(event: AuditEvent) -> list[dict[str, str]]:
    rows = []
    for name, pair in sorted((event.changes or {}).items()):
        before, after = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        rows.append({"field": name, "before": _value_text(before), "after": _value_text(after)})
    return rows


def object_label(object_type: str) -> Any:
    """The kind of object in the reader's language (the model's translated name), or ``None`` when
    the model names itself only in English (the identifier is shown then, as data)."""
    try:
        model = django_apps.get_model(object_type)
    except (LookupError, ValueError):
        return None
    return model._meta.verbose_name if "verbose_name" in model._meta.original_attrs else None


def _decorate(events: list[Any]) -> list[Any]:
    """Audit events (writes) and access events (reads, issue 9) for the table."""
    new_meaning_from = audit.actor_department_from_id()  # rows before it hold the object's department
    for event in events:
        event.is_read = isinstance(event, AccessEvent)
        event.department_is_objects = (
            not event.is_read and new_meaning_from is not None and event.id < new_meaning_from)
        event.object_label = object_label(event.object_type) if event.object_type else None
        event.badge = OUTCOME_BADGES.get(event.outcome, "")
        event.change_rows = [] if event.is_read else _changes(event)
        event.query_text = _value_text(event.detail.get("query")) if event.is_read and event.detail.get("query") else ""
        event.domain = domain_of(event.code)  # type: ignore[attr-defined]
        event.domain_label = domain_label(event.domain)  # type: ignore[attr-defined]
    return events


def _jobs_url() -> str:
    try:
        return reverse("core:jobs")
    except NoReverseMatch:
        return ""


def _form_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "form": request.GET,
        "codes": [(int(c), label(c)) for c in AuditCode],
        "domains": [(name, domain_label(name)) for name in DOMAINS.values()],
        "outcomes": AuditEvent.Outcome.choices,
        "logs": [("writes", _("Writes")), ("reads", _("Reads")), ("both", _("Reads and writes"))],
        "departments": restrict(Department, request.user, Action.VIEW).only("id", "name"),
        "object_types": [(m._meta.label_lower, object_label(m._meta.label_lower) or "")
                         for m in django_apps.get_models() if m.__module__.startswith("govshare.")],
    }


@login_required
@require_safe
@_renders_errors
def audit_list(request: HttpRequest) -> HttpResponse:
    """Filter form, paginated table (newest first), export and verify buttons."""
    error: ValidationFailed | None = None
    try:
        filters = audit_actions.AuditFilters.parse(request.GET)
    except ValidationFailed as exc:
        error, filters = exc, audit_actions.AuditFilters()
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    qs = audit_actions.do_search_audit(request.user, filters, record=error is None and number == 1)
    page = None
    if error is None:
        page = Paginator(qs, PAGE_SIZE).get_page(number)
        _decorate(list(page.object_list))
    query = filters.querystring()
    context = {"page": page, "error": error, "query": query, "filters": filters.as_dict(),
               **_form_context(request)}
    return render(request, "core/audit.html", context, status=400 if error else 200)


@login_required
@require_safe
@_renders_errors
def audit_event(request: HttpRequest, event_id: int) -> HttpResponse:
    """One event with the before/after of each changed field and its place in the chain."""
    log = "read" if request.GET.get("log") == "read" else "write"
    event = audit_actions.do_view_audit_event(request.user, event_id, log=log)
    _decorate([event])
    detail = json.dumps(event.detail or {}, ensure_ascii=False, indent=2, sort_keys=True)
    return render(request, "core/audit_detail.html", {"event": event, "detail_json": detail})


@login_required
@require_safe
@_renders_errors
def audit_export(request: HttpRequest) -> HttpResponse:
    result = audit_actions.do_export_audit(request.user, request.GET, request.GET.get("format", "csv"))
    access_log.note(request, AuditCode.READ_EXPORT, object_type="core.auditevent", query=result.filters.as_dict(),
                    results=result.count, format=result.fmt)
    return result.response()


@login_required
@require_POST
@_renders_errors
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Check the chain now, or — for a very long chain — start a background job with progress."""
    context: dict[str, Any] = {}
    if AuditEvent.objects.count() > SYNC_VERIFY_LIMIT:
        context["job"] = audit_actions.do_start_audit_verify(request.user)
        context["jobs_url"] = _jobs_url()
    else:
        context["report"] = audit_actions.do_verify_audit(request.user)
    if request.headers.get("HX-Request"):
        return render(request, "core/audit_verify_result.html", context)
    return render(request, "core/audit_verify.html", context)
