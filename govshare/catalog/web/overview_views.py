"""The jurisdiction catalog (CAT-7): per-department counts across the jurisdiction, a bar chart, and
the numbered snapshots the centre publishes (downloadable)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from govshare.catalog import actions
from govshare.catalog.enums import ShareType
from govshare.catalog.forms import SnapshotForm
from govshare.catalog.models import CatalogEntry, CatalogSnapshot, EntryVersion
from govshare.catalog.permissions import OPEN_VALUES
from govshare.catalog.web.common import apply_errors, catalog_view, form_status, require_government
from govshare.catalog.web.mine_views import XLSX, _download
from govshare.core import access_log
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.models import Department, Jurisdiction
from govshare.core.permissions import Action, get_for, has_capability, restrict
from govshare.core.roles import Capability

PUBLISHED = Q(status=CatalogEntry.Status.PUBLISHED)
COUNTS = {
    "published": Count("pk", filter=PUBLISHED),
    "draft": Count("pk", filter=Q(status=CatalogEntry.Status.DRAFT)),
    "withdrawn": Count("pk", filter=Q(status=CatalogEntry.Status.WITHDRAWN)),
    "in_review": Count("pk", filter=Q(open_version__state__in=[EntryVersion.State.SUBMITTED,
                                                                EntryVersion.State.APPROVED])),
    "unconditional": Count("pk", filter=PUBLISHED & Q(current_version__share_type=ShareType.UNCONDITIONAL)),
    "conditional": Count("pk", filter=PUBLISHED & Q(current_version__share_type=ShareType.CONDITIONAL)),
    "not_shared": Count("pk", filter=PUBLISHED & Q(current_version__share_type=ShareType.NONE)),
    "open": Count("pk", filter=PUBLISHED & Q(current_version__open_attribute__in=OPEN_VALUES)),
}
KEYS = list(COUNTS)


def _jurisdiction(user: Any) -> Jurisdiction | None:
    department = getattr(user, "department", None)
    return department.jurisdiction if department is not None else None


def overview_context(user: Any, **extra: Any) -> dict[str, Any]:
    jurisdiction = _jurisdiction(user)
    departments = list(restrict(Department, user, Action.VIEW).filter(jurisdiction=jurisdiction, is_active=True)
                       .order_by("kind", "code"))
    counts: dict[int, dict[str, Any]] = {row["provider_id"]: dict(row) for row in restrict(CatalogEntry, user, Action.VIEW)
              .filter(provider__jurisdiction=jurisdiction).values("provider_id").annotate(**COUNTS)}
    rows = []
    totals = dict.fromkeys(KEYS, 0)
    for dept in departments:
        row = counts.get(dept.pk) or dict.fromkeys(KEYS, 0)
        values = {k: row[k] for k in KEYS}
        for k in KEYS:
            totals[k] += values[k]
        rows.append({"department": dept, **values})
    chart = {
        "categories": [d.short_name or d.name for d in departments],
        "series": [
            {"key": "unconditional", "name": str(ShareType.UNCONDITIONAL.label),
             "data": [r["unconditional"] for r in rows]},
            {"key": "conditional", "name": str(ShareType.CONDITIONAL.label), "data": [r["conditional"] for r in rows]},
            {"key": "not_shared", "name": str(ShareType.NONE.label), "data": [r["not_shared"] for r in rows]},
            {"key": "in_review", "name": _("In review"), "data": [r["in_review"] for r in rows]},
            {"key": "draft", "name": _("Draft (never published)"), "data": [r["draft"] for r in rows]},
        ],
    }
    snapshots = list(restrict(CatalogSnapshot, user, Action.VIEW).filter(jurisdiction=jurisdiction)
                     .defer("content").select_related("created_by").order_by("-number")[:100])
    may_publish = has_capability(user, Capability.PUBLISH_SNAPSHOT)
    context = {
        "jurisdiction": jurisdiction,
        "rows": rows,
        "totals": totals,
        "chart": chart,
        "snapshots": snapshots,
        "may_publish": may_publish,
        "snapshot_form": SnapshotForm() if may_publish else None,
        "xlsx_snapshots": _snapshot_workbook() is not None,
    }
    context.update(extra)
    return context


def _snapshot_workbook() -> Any:
    """The excel helper's snapshot writer, when it offers one."""
    try:
        from govshare.catalog import excel
    except ImportError:
        return None
    return getattr(excel, "snapshot_workbook", None)


@catalog_view
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    require_government(request.user)
    return render(request, "catalog/overview.html", overview_context(request.user))


@catalog_view
@require_POST
def snapshot_publish(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_government(user)
    form = SnapshotForm(request.POST)
    jurisdiction = _jurisdiction(user)
    if form.is_valid():
        try:
            if jurisdiction is None:
                raise ValidationFailed("required", gettext_lazy("This field is required."), field="jurisdiction")
            snap = actions.do_publish_snapshot(user, jurisdiction, title=form.cleaned_data["title"],
                                               note=form.cleaned_data["note"])
        except GovshareError as exc:
            if exc.status in (403, 404):
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("Snapshot %(number)s is published with %(count)s entries.")
                             % {"number": snap.number, "count": snap.entry_count})
            return redirect("catalog:overview")
    return render(request, "catalog/overview.html", overview_context(user, snapshot_form=form),
                  status=form_status(form))


@catalog_view
@require_safe
def snapshot_download(request: HttpRequest, pk: int) -> HttpResponse:
    snap = get_for(request.user, Action.VIEW, CatalogSnapshot.objects.select_related("jurisdiction"), pk=pk)
    fmt = request.GET.get("format", "json")
    name = f"catalog-snapshot-{snap.jurisdiction.code}-{snap.number}"
    access_log.note(request, AuditCode.READ_DOWNLOAD, snap, file=name, format=fmt[:20])  # SEC-4, LN-§23
    if fmt == "xlsx":
        writer = _snapshot_workbook()
        if writer is None:
            raise ValidationFailed("invalid_export_format", gettext_lazy("Unknown export format %(value)s."), field="format",
                                   value="xlsx")
        return _download(writer(snap), XLSX, f"{name}.xlsx")
    if fmt != "json":
        raise ValidationFailed("invalid_export_format", gettext_lazy("Unknown export format %(value)s."), field="format",
                               value=fmt[:20])
    body = json.dumps(snap.content, ensure_ascii=False, indent=1)
    return _download(body, "application/json; charset=utf-8", f"{name}.json")
