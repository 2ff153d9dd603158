"""Catalog import and export (issue 3 §4; CAT-1, CAT-2, CAT-6, CAT-7).

* :func:`do_import_catalog` — an Excel workbook (the template layout) or a JSON document compiled by a
  department.  Every problem is collected with its place (sheet, row, column — or ``entries[3]``
  and the key); if there is any, *nothing* is written, :class:`ManyProblems` is raised and
  ``CATALOG_IMPORT_REJECTED`` is recorded (it survives the rollback).  Otherwise every entry is
  created or updated through the entry actions in one transaction and ``CATALOG_IMPORTED`` is
  recorded with the counts.
* :func:`do_download_template` — the department's workbook, pre-filled with its entries for update.
* :func:`do_export_catalog` — the published catalog visible to the user as XLSX, JSON, DCAT-AP 3
  JSON-LD or Turtle (``CATALOG_EXPORTED``).
* :func:`do_start_reindex` — the ``catalog.reindex`` job (CAT-9), for ``govshare catalog reindex``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from govshare.catalog import excel, jsonio
from govshare.catalog.actions._common import profile_of
from govshare.catalog.actions.entries import (
    check_provider_member,
    do_create_entry,
    do_edit_entry,
    resolve_classification,
)
from govshare.catalog.models import CatalogEntry, EntryVersion, version_content
from govshare.catalog.validation import check_content, name_key
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ManyProblems, ValidationFailed, choice_label
from govshare.core.models import Department, Job
from govshare.core.permissions import Action, require, restrict
from govshare.core.roles import Capability

IMPORT_FORMATS = ("xlsx", "json")
EXPORT_FORMATS = ("xlsx", "json", "dcat-jsonld", "dcat-ttl")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "dcat-jsonld": "application/ld+json",
    "dcat-ttl": "text/turtle; charset=utf-8",
}
EXTENSIONS = {"xlsx": "xlsx", "json": "json", "dcat-jsonld": "jsonld", "dcat-ttl": "ttl"}
#: problems kept in the audit event of a rejected import
AUDIT_PROBLEMS = 20


@dataclass
class ImportReport:
    format: str
    filename: str
    department: str
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    codes: list[str] = field(default_factory=list)  # every entry of the file, in file order
    created_codes: list[str] = field(default_factory=list)
    updated_codes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "filename": self.filename, "department": self.department,
                "dry_run": self.dry_run, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "codes": self.codes, "created_codes": self.created_codes,
                "updated_codes": self.updated_codes}


@dataclass
class _Op:
    kind: str  # create | update | unchanged
    row: excel.ImportRow
    content: dict[str, Any]
    entry: CatalogEntry | None = None


def _display_name(filename: str) -> str:
    name = PurePath(str(filename or "").replace("\\", "/")).name
    return re.sub(r"[\x00-\x1f\x7f]", "", name)[:100] or "upload"


def detect_format(filename: str, data: bytes) -> str:
    """``xlsx`` or ``json`` from the file name, else from the content."""
    suffix = PurePath(str(filename or "").lower()).suffix
    if suffix in (".xlsx",):
        return "xlsx"
    if suffix in (".json",):
        return "json"
    if suffix in (".xls", ".xlsm", ".xlsb", ".et", ".csv", ".ods"):
        raise ValidationFailed("unsupported_format", _("%(suffix)s files are not accepted; save the catalog as an "
                                                       "Excel workbook (.xlsx) or export it as JSON."),
                               where=_display_name(filename), suffix=suffix)
    if data.startswith((excel.ZIP_MAGIC, excel.OLE2_MAGIC)):
        return "xlsx"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        return "json"
    raise ValidationFailed("unsupported_format", _("%(suffix)s files are not accepted; save the catalog as an "
                                                   "Excel workbook (.xlsx) or export it as JSON."),
                           where=_display_name(filename), suffix=suffix or "—")


def _sort_key(indexed: tuple[int, GovshareError]) -> tuple[int, int, int, int]:
    seq, problem = indexed
    where = problem.where or ""
    if where in excel.DATA_SHEETS:
        return (1 + excel.DATA_SHEETS.index(where), problem.row or 0, 0, seq)
    match = re.match(r"^entries\[(\d+)\]$", where)
    if match:
        return (3, int(match.group(1)), 0, seq)
    return (0, problem.row or 0, 0, seq)


def _sorted(problems: list[GovshareError]) -> list[GovshareError]:
    return [p for _i, p in sorted(enumerate(problems), key=_sort_key)]


def _place_text(row: excel.ImportRow) -> str:
    return f"{row.where} 第 {row.row} 行" if row.row is not None else row.where


def plan_import(actor: Any, department: Department, rows: list[excel.ImportRow]) -> tuple[list[_Op],
                                                                                         list[GovshareError]]:
    """Decide what each row does (create / update / unchanged) and collect every problem."""
    domains = profile_of(department).list("open_data_domains")
    editable = restrict(CatalogEntry, actor, Action.CHANGE).filter(provider=department)
    codes = sorted({r.code for r in rows if r.code})
    existing: dict[str, CatalogEntry] = {}
    for start in range(0, len(codes), 500):
        chunk = editable.filter(code__in=codes[start:start + 500]).select_related(
            "open_version__classification", "current_version__classification").prefetch_related(
            "open_version__items", "current_version__items")
        existing.update({e.code: e for e in chunk})
    names_in_db: dict[str, str] = {}
    for code, open_name, current_name in editable.exclude(status=CatalogEntry.Status.WITHDRAWN).values_list(
            "code", "open_version__name", "current_version__name"):
        for name in (open_name, current_name):
            if name:
                names_in_db.setdefault(name_key(name), code)
    seen_codes: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    nodes: dict[str, tuple[Any, list[GovshareError]]] = {}  # classification code → (node, problems)
    ops: list[_Op] = []
    problems: list[GovshareError] = []
    for row in rows:
        if row.provider_code and row.provider_code != department.uscc:
            row.problem("other_provider", _("The provider code %(value)s is not that of %(department)s (%(uscc)s); "
                                            "a file is imported into one department only."), "provider_code",
                        value=row.provider_code[:20], department=department.name, uscc=department.uscc)
        if row.provider and row.provider != department.code:
            row.problem("other_provider", _("The provider code %(value)s is not that of %(department)s (%(uscc)s); "
                                            "a file is imported into one department only."), "provider",
                        value=row.provider[:20], department=department.name, uscc=department.code)
        entry: CatalogEntry | None = None
        if row.code:
            if row.code in seen_codes:
                row.problem("duplicate_code", _("Resource code %(code)s appears twice in the file (first at "
                                                "%(first)s)."), "code", code=row.code[:40], first=seen_codes[row.code])
            else:
                seen_codes[row.code] = _place_text(row)
                entry = existing.get(row.code)
                if entry is None:
                    row.problem("unknown_code", _("%(department)s has no resource %(code)s; leave the resource code "
                                                  "empty for a new resource."), "code", code=row.code[:40],
                                department=department.name)
                elif entry.status == CatalogEntry.Status.WITHDRAWN:
                    row.problem("entry_withdrawn", _("%(code)s is withdrawn and can no longer be edited."), "code",
                                code=entry.code)
                    entry = None
        name = str(row.content.get("name") or "").strip()
        key = name_key(name)  # 户籍人口(常住) and 户籍人口（常住）are one name to a reader
        if name:
            if key in seen_names:
                row.problem("duplicate_name", _("The resource name %(name)s appears twice in the file (first at "
                                                "%(first)s)."), "name", name=name[:60], first=seen_names[key])
            else:
                seen_names[key] = _place_text(row)
                other = names_in_db.get(key)
                if other and other != row.code:
                    row.problem("name_exists", _("%(department)s already has a resource named %(name)s (%(code)s); "
                                                 "enter its resource code to update it."), "name",
                                department=department.name, name=name[:60], code=other)
        checked = check_content(row.content, domains=domains)
        local = list(checked.problems)
        node = None
        code = checked.content["classification"]
        if code and "classification" not in row.reported:
            if code not in nodes:
                found: list[GovshareError] = []
                nodes[code] = (resolve_classification(code, department, problems=found), found)
            node, found = nodes[code]
            local += found
        for problem in local:
            placed = row.place(problem)
            if placed is not None:
                row.problems.append(placed)
        if not row.problems and node is not None:
            target = {**checked.content, "classification": node.code, "items": checked.items}
            op = _decide(row, entry, target)
            if op is not None and not row.problems:
                ops.append(op)
        problems.extend(row.problems)
    return ops, problems


def _decide(row: excel.ImportRow, entry: CatalogEntry | None, target: dict[str, Any]) -> _Op | None:
    if entry is None:
        return _Op("create", row, target)
    shown = entry.open_version or entry.current_version
    if shown is not None and version_content(shown) == target:
        return _Op("unchanged", row, target, entry)
    pending = entry.open_version
    if pending is not None and not pending.is_editable:
        row.problem("under_review", _("%(code)s is being reviewed (%(state)s); it can be changed again once the "
                                      "centre has decided."), "code", code=entry.code,
                    state=choice_label(pending, "state"))
        return None
    if entry.status == CatalogEntry.Status.PUBLISHED:
        if not entry.code.startswith(f"{target['classification']}/"):
            row.problem("code_immutable", _("%(code)s is published: its classification (and so its code) cannot "
                                            "change."), "classification", code=entry.code)
        if not row.change_reason and not (pending is not None and pending.change_reason):
            row.problem("change_reason_required", _("Changing the published resource %(code)s needs a reason for the "
                                                    "change."), "change_reason", code=entry.code)
        if row.problems:
            return None
    return _Op("update", row, target, entry)


def _reject(actor: Any, department: Department, filename: str, fmt: str, exc: GovshareError) -> None:
    problems = exc.problems if isinstance(exc, ManyProblems) else [exc]
    audit.record_now(AuditCode.CATALOG_IMPORT_REJECTED, actor=actor, obj=department, outcome="failure",
                     detail={"filename": filename, "format": fmt, "problems": len(problems),
                             "first": [{k: v for k, v in (("code", p.code), ("where", p.where), ("row", p.row),
                                                          ("field", p.field)) if v is not None}
                                       for p in problems[:AUDIT_PROBLEMS]]})


def do_import_catalog(actor: Any, file_bytes_or_path: bytes | str | PurePath | IO[bytes], filename: str,
                      department: Department, *, dry_run: bool = False) -> ImportReport:
    """Import a department's catalog from an Excel workbook or a JSON document, all or nothing.

    ``dry_run`` checks everything and returns the report without writing (nor auditing)."""
    check_provider_member(actor, department)
    name = _display_name(filename)
    fmt = "?"
    try:
        data = excel.read_limited(file_bytes_or_path, excel.limit("GOVSHARE_CATALOG_IMPORT_MAX_BYTES"), name)
        fmt = detect_format(filename, data)
        extra: list[GovshareError] = []
        if fmt == "xlsx":
            result = excel.read_workbook(data, name)
            rows, structural, extra = result.rows, result.problems, result.orphans
        else:
            rows, structural = jsonio.read_json(data, name)
        if structural:
            raise ManyProblems(_sorted(structural), where=name)
        if not rows and not extra:
            raise ValidationFailed("empty_catalog", _("The file contains no resources."), where=name)
        ops, problems = plan_import(actor, department, rows)
        problems += extra
        if problems:
            raise ManyProblems(_sorted(problems), where=name)
        report = ImportReport(fmt, name, department.code, dry_run=dry_run)
        if dry_run:
            for op in ops:
                _count(report, op.kind, op.entry.code if op.entry else "")
            return report
        return _apply(actor, department, ops, report)
    except ManyProblems as exc:
        _reject(actor, department, name, fmt, exc)
        raise
    except ValidationFailed as exc:
        wrapped = ManyProblems([exc], where=name)
        _reject(actor, department, name, fmt, wrapped)
        raise wrapped from None


def _count(report: ImportReport, kind: str, code: str) -> None:
    report.codes.append(code)
    if kind == "create":
        report.created += 1
        report.created_codes.append(code)
    elif kind == "update":
        report.updated += 1
        report.updated_codes.append(code)
    else:
        report.unchanged += 1


@transaction.atomic
def _apply(actor: Any, department: Department, ops: list[_Op], report: ImportReport) -> ImportReport:
    for op in ops:
        try:
            if op.kind == "create":
                entry = do_create_entry(actor, op.content, provider=department)
            elif op.kind == "update":
                assert op.entry is not None
                do_edit_entry(actor, op.entry, op.content, change_reason=op.row.change_reason)
                entry = CatalogEntry.objects.get(pk=op.entry.pk)
            else:
                assert op.entry is not None
                entry = op.entry
        except ManyProblems as exc:
            raise ManyProblems([op.row.place(p) or p for p in exc.problems], where=report.filename) from None
        except ValidationFailed as exc:
            raise ManyProblems([op.row.place(exc) or exc], where=report.filename) from None
        except GovshareError as exc:
            raise ManyProblems([ValidationFailed(exc.code, exc.message, where=op.row.where, row=op.row.row,
                                                 field=exc.field, **exc.params)], where=report.filename) from None
        _count(report, op.kind, entry.code)
    audit.record(AuditCode.CATALOG_IMPORTED, actor=actor, obj=department,
                 detail={"filename": report.filename, "format": report.format, "created": report.created,
                         "updated": report.updated, "unchanged": report.unchanged,
                         "codes": report.created_codes[:200] + report.updated_codes[:200]})
    return report


# ------------------------------------------------------------------ exports


def _operator_detail() -> dict[str, Any]:
    import getpass

    try:
        os_user = getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name in some containers: still audit
        os_user = ""
    return {"via": "cli", "os_user": os_user}


def exportable(actor: Any, *, department: Department | None = None, operator: bool = False,
               include_drafts: bool = False) -> QuerySet[CatalogEntry]:
    """The entries an export contains: published ones (and, with ``include_drafts``, the drafts the user
    may see) visible to ``actor``; the machine operator (``operator=True``, CLI) exports the whole
    published catalog."""
    if operator:
        qs = CatalogEntry.objects.filter(status=CatalogEntry.Status.PUBLISHED)
    else:
        qs = restrict(CatalogEntry, actor, Action.VIEW)
        qs = qs.exclude(status=CatalogEntry.Status.WITHDRAWN) if include_drafts \
            else qs.filter(status=CatalogEntry.Status.PUBLISHED)
    if department is not None:
        qs = qs.filter(provider=department)
    return qs.select_related("provider", "project", "current_version__classification",
                             "open_version__classification").order_by("code")


def entry_pairs(qs: QuerySet[CatalogEntry], *, drafts: bool = False, viewer: Any = None
                ) -> Iterator[tuple[CatalogEntry, EntryVersion]]:
    """(entry, version) for each entry — the published version, or with ``drafts`` the one in progress
    when ``viewer`` may see it (another department's pending change stays private, SEC-2) — streamed
    in chunks with their information items prefetched."""
    lookups = ["current_version__items"] + (["open_version__items"] if drafts else [])
    if drafts:
        visible = restrict(EntryVersion, viewer, Action.VIEW)
        qs = qs.annotate(open_visible=Exists(visible.filter(pk=OuterRef("open_version_id"))))
    for entry in qs.prefetch_related(*lookups).iterator(chunk_size=500):
        version = entry.current_version
        if drafts and entry.open_version is not None and entry.open_visible:  # type: ignore[attr-defined]
            version = entry.open_version
        if version is not None:
            yield entry, version


def _check_format(fmt: str) -> str:
    value = (fmt or "").strip().lower()
    if value not in EXPORT_FORMATS:
        raise ValidationFailed("invalid_export_format", _("Unknown export format %(value)s (use %(choices)s)."),
                               field="format", value=fmt or "", choices=", ".join(EXPORT_FORMATS))
    return value


def do_export_catalog(actor: Any, fmt: str, out: IO[bytes], *, department: Department | None = None,
                      operator: bool = False, include_drafts: bool = False, base_uri: str | None = None) -> int:
    """Write the catalog in ``fmt`` to the binary file ``out``; return the number of entries.

    The export is built outside any transaction (a long read must not hold SQLite's write lock);
    ``CATALOG_EXPORTED`` is recorded afterwards."""
    fmt = _check_format(fmt)
    if include_drafts and fmt.startswith("dcat"):
        include_drafts = False  # DCAT describes the published catalog only
    qs = exportable(actor, department=department, operator=operator, include_drafts=include_drafts)
    pairs = entry_pairs(qs, drafts=include_drafts and not operator, viewer=actor)
    if fmt == "xlsx":
        count = excel.write_workbook(out, pairs, excel.lists_for(department))
    elif fmt == "json":
        count = jsonio.write_json(out, pairs)
    else:
        from govshare.catalog import dcat

        graph = dcat.build_graph(pairs, base_uri=base_uri, department=department)
        count = dcat.dataset_count(graph)
        out.write(dcat.serialize(graph, "json-ld" if fmt == "dcat-jsonld" else "turtle"))
    detail: dict[str, Any] = {"format": fmt, "entries": count, "drafts": include_drafts,
                              "department": department.code if department else None}
    if operator:
        detail.update(_operator_detail())
    with transaction.atomic():
        audit.record(AuditCode.CATALOG_EXPORTED, actor=None if operator else actor, obj=department,
                     detail=detail)
    return count


def do_download_template(actor: Any, department: Department, out: IO[bytes], *, prefill: bool = True) -> int:
    """The department's import workbook; ``prefill`` adds its current entries (the draft or the
    version in progress, else the published one) so that editing and re-importing updates them."""
    check_provider_member(actor, department)
    pairs: Iterator[tuple[CatalogEntry, EntryVersion]] = iter(())
    if prefill:
        qs = restrict(CatalogEntry, actor, Action.VIEW).filter(provider=department).exclude(
            status=CatalogEntry.Status.WITHDRAWN).select_related(
            "provider", "project", "current_version__classification", "open_version__classification").order_by("code")
        pairs = entry_pairs(qs, drafts=True, viewer=actor)
    count = excel.write_workbook(out, pairs, excel.lists_for(department))
    with transaction.atomic():
        audit.record(AuditCode.CATALOG_EXPORTED, actor=actor, obj=department,
                     detail={"format": "xlsx", "template": True, "entries": count, "department": department.code})
    return count


# ------------------------------------------------------------------ search index


@transaction.atomic
def do_start_reindex(actor: Any, *, operator: bool = False) -> Job:
    """Queue the full rebuild of the search index (CAT-9) as the ``catalog.reindex`` job."""
    from govshare.catalog import search_tasks  # noqa: F401  (registers the job handler)
    from govshare.core import jobs

    if not operator:
        require(actor, Capability.MANAGE_SYNONYMS)
    job = jobs.create_job("catalog.reindex", _("Rebuild the catalog search index"), {},
                          user=None if operator else actor)
    detail = {"kind": "catalog.reindex", "job": str(job.pk)}
    if operator:
        detail.update(_operator_detail())
    audit.record(AuditCode.SEARCH_REINDEX_STARTED, actor=None if operator else actor, obj=job, detail=detail)
    return job


def record_inline_reindex(documents: int) -> None:
    """Audit a rebuild the operator ran in the foreground (``govshare catalog reindex --now``)."""
    with transaction.atomic():
        audit.record(AuditCode.SEARCH_REINDEX_STARTED, actor=None,
                     detail={"inline": True, "documents": documents, **_operator_detail()})
