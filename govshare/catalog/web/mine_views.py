"""My department's catalog, the Excel template, import and export (CAT-1, CAT-3, issue 3 §4).

The import and export work is done by the actions in :mod:`govshare.catalog.actions.imports` (with
:mod:`~govshare.catalog.excel`, :mod:`~govshare.catalog.jsonio` and :mod:`~govshare.catalog.dcat`);
these views only pass the upload in and stream the file out.  An import is all-or-nothing: its problems are listed row by row
(sheet, row, column, reason) and nothing is saved.
"""

from __future__ import annotations

import tempfile
from typing import IO, Any

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from govshare.catalog.forms import ImportForm
from govshare.catalog.models import CatalogEntry, EntryVersion, UpdateTask
from govshare.catalog.web.common import catalog_view, error_text, require_government
from govshare.core import access_log
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ManyProblems
from govshare.core.models import Department
from govshare.core.permissions import Action, deny, require, restrict
from govshare.core.roles import Capability

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _own_department(user: Any) -> Department:
    require(user, Capability.EDIT_CATALOG)
    department: Department | None = user.department
    if department is None:
        deny(user, "no_department", gettext_lazy("Only members of a department compile catalog entries."))
    return department


def _file(out: IO[bytes], content_type: str, filename: str) -> FileResponse:
    """Stream a temporary file (closed and gone when the response is done)."""
    out.seek(0)
    response = FileResponse(out, as_attachment=True, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _download(content: bytes | str, content_type: str, filename: str) -> HttpResponse:
    body = content.encode("utf-8") if isinstance(content, str) else content
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@catalog_view
@require_safe
def mine(request: HttpRequest) -> HttpResponse:
    """The department's entries by status, with the versions in progress and open update tasks."""
    user: Any = request.user
    department = _own_department(user)
    entries = list(restrict(CatalogEntry, user, Action.VIEW).filter(provider=department)
                   .select_related("current_version", "open_version", "project").order_by("code"))
    groups = []
    for status, title in CatalogEntry.Status.choices:
        rows = [e for e in entries if e.status == status]
        groups.append({"status": status, "title": title, "entries": rows})
    in_progress = [e for e in entries if e.open_version_id]
    tasks = list(restrict(UpdateTask, user, Action.VIEW).filter(department=department, status=UpdateTask.Status.OPEN)
                 .select_related("deadline"))
    return render(request, "catalog/mine.html", {
        "department": department,
        "groups": groups,
        "in_progress": in_progress,
        "total": len(entries),
        "tasks": tasks,
        "returned": sum(1 for e in in_progress if e.open_version and e.open_version.state
                        == EntryVersion.State.RETURNED),
    })


@catalog_view
@require_safe
def template_download(request: HttpRequest) -> FileResponse:
    """The department's Excel template (entries and information-items sheets, drop-downs), pre-filled
    with its current entries so that editing and re-importing updates them."""
    from govshare.catalog.actions.imports import do_download_template

    department = _own_department(request.user)
    out = tempfile.TemporaryFile()  # noqa: SIM115 — FileResponse closes it when the response is sent
    do_download_template(request.user, department, out, prefill=request.GET.get("empty") != "1")
    return _file(out, XLSX, f"catalog-template-{department.code}.xlsx")


def _problem_rows(exc: GovshareError) -> list[dict[str, Any]]:
    problems = exc.problems if isinstance(exc, ManyProblems) else [exc]
    return [{"sheet": p.where or "", "row": p.row, "column": p.field or "", "reason": error_text(p),
             "code": p.code} for p in problems]


def _report_lines(report: Any) -> list[tuple[str, Any]]:
    """What the import did, whatever shape the report has (a dataclass, an object or a dict)."""
    if report is None:
        return []
    data = report if isinstance(report, dict) else getattr(report, "__dict__", {})
    return [(str(key).replace("_", " "), value) for key, value in data.items()
            if not str(key).startswith("_") and isinstance(value, (int, str, float)) and value != ""]


@catalog_view
@require_http_methods(["GET", "POST"])
def catalog_import(request: HttpRequest) -> HttpResponse:
    from govshare.catalog.actions import imports

    user: Any = request.user
    department = _own_department(user)
    posted = request.method == "POST"
    form = ImportForm(request.POST if posted else None, request.FILES if posted else None)
    problems: list[dict[str, Any]] = []
    report: Any = None
    status = 200
    if posted and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload is None:
            form.add_error("file", _("Choose the file to import."))
            status = 400
        else:
            try:
                report = imports.do_import_catalog(user, upload.read(), upload.name or "", department)
            except GovshareError as exc:
                if exc.status in (403, 404):
                    raise
                problems = _problem_rows(exc)
                status = exc.status
            else:
                messages.success(request, _("The catalog file is imported."))
    return render(request, "catalog/import.html", {
        "department": department, "form": form, "problems": problems, "report": report,
        "report_lines": _report_lines(report),
    }, status=status)


@catalog_view
@require_safe
def catalog_export(request: HttpRequest) -> FileResponse:
    """The published catalog the user may see (or only their department's, ``scope=mine``) as XLSX,
    JSON or DCAT-AP 3 (JSON-LD, Turtle); the action records ``CATALOG_EXPORTED``."""
    from govshare.catalog.actions.imports import CONTENT_TYPES, EXTENSIONS, do_export_catalog

    user: Any = request.user
    require_government(user)
    fmt = (request.GET.get("format") or "xlsx").strip().lower()[:20]
    department = user.department if request.GET.get("scope") == "mine" else None
    out = tempfile.TemporaryFile()  # noqa: SIM115 — FileResponse closes it when the response is sent
    try:
        count = do_export_catalog(user, fmt, out, department=department)
    except BaseException:
        out.close()
        raise
    stamp = timezone.localdate().isoformat()
    name = f"catalog-{department.code if department else 'all'}-{stamp}.{EXTENSIONS[fmt]}"
    access_log.note(request, AuditCode.READ_EXPORT, department, object_type="catalog.catalogentry",
                    query={"format": fmt, "scope": request.GET.get("scope", "")}, results=count, file=name)
    return _file(out, CONTENT_TYPES[fmt], name)
