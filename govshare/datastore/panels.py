"""The grant page's "how to get the data" panel for the data API (issue 11 items 3 and 10): the call with an
example, for the consumer's staff and the provider's; whether the centre holds the entry's data yet."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.http import urlencode

from govshare.catalog.enums import FormatClass, ShareMethod
from govshare.core.permissions import can
from govshare.datastore import centre
from govshare.datastore.engine.store import StoreError
from govshare.datastore.models import Download
from govshare.sharing.panels import register_grant_panel
from govshare.sharing.permissions import CONSUME


def _live_rows(grant: Any) -> int | None:
    """The entry's live rows in the centre (None: it holds none of its data yet, or cannot be read now)."""
    try:
        with centre.open_store() as store:
            table = centre.table_for(grant.entry)
            return store.live_rows(table) if store.has_table(table) else None
    except StoreError:
        return None


@register_grant_panel
def data_api_panel(request: Any, grant: Any) -> str:
    if grant.channel != ShareMethod.API or grant.revoked_at is not None:
        return ""
    user = request.user
    if not (can(user, CONSUME, grant) or getattr(user, "department_id", None) == grant.provider_id):
        return ""
    path = f"/api/v1/data/{grant.entry.code}/rows"
    query = urlencode({"purpose": grant.purpose, "fields": ",".join(grant.items), "limit": 100})
    url = request.build_absolute_uri(path) + "?" + query
    live = _live_rows(grant)
    return render_to_string("datastore/grant_api_panel.html", {
        "grant": grant, "url": url, "live": live, "system_only": grant.system is not None}, request=request)


@register_grant_panel
def download_panel(request: Any, grant: Any) -> str:
    """File-channel grants: ask for the data as a file; the department's last downloads of this grant."""
    if grant.channel != ShareMethod.FILE or grant.revoked_at is not None or not can(request.user, CONSUME, grant):
        return ""
    version = grant.entry.current_version
    if version is not None and version.format_class in (FormatClass.FILE, FormatClass.IMAGE, FormatClass.STREAM):
        return ""  # documents, images, media: the files themselves (exchange's panel), no rows to download
    recent = list(Download.objects.filter(grant=grant).select_related("job").order_by("-created_at")[:5])
    return render_to_string("datastore/grant_download_panel.html", {
        "grant": grant, "recent": recent, "formats": Download.Format.choices, "live": _live_rows(grant)},
        request=request)


@register_grant_panel
def usage_panel(request: Any, grant: Any) -> str:
    """Usage records of the grant (SEC-4, LN-§23): for everyone who sees the grant's page — its provider's and
    consumer's staff, the centre, auditors."""
    from govshare.datastore.usage import is_party, shown_detail, usage_of, usage_totals

    rows = list(usage_of(grant)[:20])
    party = is_party(request.user, grant)
    for row in rows:
        row.detail = shown_detail(row.detail, party)
    totals = usage_totals(grant)
    if not rows and grant.channel not in (ShareMethod.API, ShareMethod.FILE, ShareMethod.TABLE):
        return ""
    return render_to_string("datastore/grant_usage_panel.html", {
        "grant": grant, "rows": rows, "totals": totals}, request=request)
