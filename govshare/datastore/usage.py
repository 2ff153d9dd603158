"""Usage records per grant (SEC-4, LN-§23; issue 11 item 9): every query, verification and download fetched
under a grant, from the access log — for the provider's and the consumer's staff (the grant page, the API).
Pushing them to both departments comes with the oversight issue; the records are complete now."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from govshare.core.audit_codes import AuditCode
from govshare.core.models import AccessEvent

#: the access-log rows of data that left the centre under a grant
USAGE_CODES = (AuditCode.DATA_ROWS_READ, AuditCode.DATA_VERIFIED, AuditCode.DATA_DOWNLOADED, AuditCode.DATA_DELIVERED,
               AuditCode.FILE_FETCHED)
#: the kind of use each code records (the API's ``kind``)
KINDS = {int(AuditCode.DATA_ROWS_READ): "rows", int(AuditCode.DATA_VERIFIED): "verify",
         int(AuditCode.DATA_DOWNLOADED): "download", int(AuditCode.DATA_DELIVERED): "deliver",
         int(AuditCode.FILE_FETCHED): "file"}


def usage_of(grant: Any) -> QuerySet[AccessEvent]:
    """The grant's usage rows, newest first (answered ones: a refused call is not a use; the worker's deliveries
    into a front-end table have no HTTP status)."""
    return (AccessEvent.objects.filter(Q(status__lt=400) | Q(status__isnull=True),
                                       code__in=[int(c) for c in USAGE_CODES], object_type="catalog.catalogentry",
                                       object_id=str(grant.entry_id), detail__grant=grant.number)
            .order_by("-occurred_at", "-id"))


def usage_totals(grant: Any) -> dict[str, dict[str, int]]:
    """Per kind (``rows``, ``verify``, ``download``, ``deliver``): calls (batches) and rows."""
    names = KINDS
    totals = {name: {"calls": 0, "rows": 0} for name in names.values()}
    for code, calls, rows in usage_of(grant).order_by().values("code").annotate(
            calls=Count("id"), rows=Sum("results")).values_list("code", "calls", "rows"):
        totals[names[int(code)]] = {"calls": int(calls), "rows": int(rows or 0)}
    return totals


def is_party(user: Any, grant: Any) -> bool:
    """The provider's or the consumer's staff: they see the filters' values (their own data, their own queries);
    the centre and auditors see the records without them (the values may be ID numbers — review 2)."""
    return getattr(user, "department_id", None) in (grant.provider_id, grant.consumer_id)


def shown_detail(detail: dict[str, Any], party: bool) -> dict[str, Any]:
    """A usage row's detail as ``party`` (or not) sees it."""
    shown = {k: v for k, v in detail.items() if k in ("query", "format", "sha256", "verdicts", "system", "target",
                                                      "written", "deleted", "hash", "file", "version")}
    if not party and isinstance(shown.get("query"), dict):
        query = dict(shown["query"])
        query["filters"] = [[f[0], f[1], ["…"]] for f in query.get("filters") or [] if len(f) >= 2]
        shown["query"] = query
    return shown
