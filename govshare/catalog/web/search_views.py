"""Search and browse the catalog (CAT-9): query box, facets with counts, removable filters, sort and
pages.  Public: anonymous visitors search the open catalog (CAT-6); what each user finds is decided
inside :func:`govshare.catalog.search.search` by the same rule as ``restrict(CatalogEntry, user)``.

With htmx the result panel is replaced in place (``hx-get`` + ``hx-push-url``); without JavaScript
every link and the form are ordinary GET requests that render the whole page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from govshare.catalog.web.common import OPEN_BADGE, SHARE_BADGE, is_htmx, label, public_view
from govshare.core import access_log
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError

PER_PAGE = 20
MAX_PAGE = 500
MAX_QUERY = 200
MAX_VALUES = 20
#: facet keys in the order of the sidebar, with their headings
FACETS: list[tuple[str, Any]] = [
    ("classification", _("Classification (项)")),
    ("provider", _("Provider")),
    ("share_type", _("share type")),
    ("open_attribute", _("open attribute")),
    ("format_class", _("format class")),
    ("update_cycle", _("update cycle")),
    ("domain", _("open-data domain")),
    ("status", _("Status")),
]
FILTER_KEYS = [key for key, _heading in FACETS]
SORTS: list[tuple[str, Any]] = [("relevance", _("Relevance")), ("date", _("Newest first")),
                                ("code", _("Resource code"))]
SORT_KEYS = {key for key, _label in SORTS}


def parse_params(get: Any) -> tuple[str, dict[str, list[str]], str, int]:
    q = (get.get("q") or "").strip()[:MAX_QUERY]
    filters: dict[str, list[str]] = {}
    for key in FILTER_KEYS:
        values: list[str] = []
        for value in get.getlist(key):
            value = (value or "").strip()[:64]
            if value and value not in values:
                values.append(value)
        if values:
            filters[key] = values[:MAX_VALUES]
    sort = get.get("sort") or "relevance"
    if sort not in SORT_KEYS:
        sort = "relevance"
    raw_page = (get.get("page") or "1").strip()
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 6 else 1
    return q, filters, sort, min(max(page, 1), MAX_PAGE)


def _query(q: str, filters: dict[str, list[str]], sort: str, page: int = 1) -> str:
    pairs: list[tuple[str, str]] = []
    if q:
        pairs.append(("q", q))
    for key in FILTER_KEYS:
        pairs.extend((key, value) for value in filters.get(key, []))
    if sort != "relevance":
        pairs.append(("sort", sort))
    if page > 1:
        pairs.append(("page", str(page)))
    return urlencode(pairs)


def _with(filters: dict[str, list[str]], key: str, value: str, *, add: bool) -> dict[str, list[str]]:
    out = {k: list(v) for k, v in filters.items()}
    values = out.setdefault(key, [])
    if add and value not in values:
        values.append(value)
    if not add and value in values:
        values.remove(value)
    if not values:
        out.pop(key)
    return out


def _facet_label(key: str, value: str, facet_labels: dict[tuple[str, str], str]) -> str:
    return facet_labels.get((key, value)) or label(key, value) or value


def _card(hit: Any) -> dict[str, Any]:
    return {
        "hit": hit,
        "url": reverse("catalog:entry_detail", args=[hit.entry_id]),
        "share_label": label("share_type", hit.share_type),
        "share_badge": SHARE_BADGE.get(hit.share_type, ""),
        "open_label": label("open_attribute", hit.open_attribute),
        "open_badge": OPEN_BADGE.get(hit.open_attribute, ""),
        "cycle_label": label("update_cycle", hit.update_cycle),
        "format_label": label("format_class", hit.format_class),
    }


def search_context(user: Any, q: str, filters: dict[str, list[str]], sort: str, page: int) -> dict[str, Any]:
    from govshare.catalog import search as engine

    base = reverse("catalog:search")
    error = ""
    result = None
    try:
        result = engine.search(user, q, filters=filters, sort=sort, page=page, per_page=PER_PAGE)
    except GovshareError as exc:
        error = exc.render()
    facet_labels: dict[tuple[str, str], str] = {}
    facets: list[dict[str, Any]] = []
    if result is not None:
        for key, heading in FACETS:
            values = []
            for fv in result.facets.get(key, []):
                text = str(fv.label or "")
                if key == "classification" and text and text != fv.value:
                    text = f"{fv.value} {text}"
                facet_labels[(key, fv.value)] = text
                active = fv.value in filters.get(key, [])
                values.append({"value": fv.value, "label": _facet_label(key, fv.value, facet_labels),
                               "count": fv.count, "active": active,
                               "url": f"{base}?{_query(q, _with(filters, key, fv.value, add=not active), sort)}"})
            if values and (key != "status" or len(values) > 1 or filters.get(key)):
                facets.append({"key": key, "heading": heading, "values": values})
    active_filters = [
        {"key": key, "value": value, "label": _facet_label(key, value, facet_labels),
         "heading": dict(FACETS).get(key, key),
         "url": f"{base}?{_query(q, _with(filters, key, value, add=False), sort)}"}
        for key in FILTER_KEYS for value in filters.get(key, [])
    ]
    total = result.total if result is not None else 0
    pages = min(result.pages if result is not None else 1, MAX_PAGE)
    window = list(range(max(1, page - 3), min(pages, page + 3) + 1))
    return {
        "q": q,
        "filters": filters,
        "hidden_filters": [(key, value) for key in FILTER_KEYS for value in filters.get(key, [])],
        "sort": sort,
        "sorts": [{"key": key, "label": text, "active": key == sort,
                   "url": f"{base}?{_query(q, filters, key)}"} for key, text in SORTS],
        "result": result,
        "total": total,
        "cards": [_card(h) for h in result.hits] if result is not None else [],
        "facets": facets,
        "active_filters": active_filters,
        "clear_url": f"{base}?{_query(q, {}, sort)}",
        "page": page,
        "pages": pages,
        "page_links": [{"number": n, "url": f"{base}?{_query(q, filters, sort, n)}", "current": n == page}
                       for n in window],
        "prev_url": f"{base}?{_query(q, filters, sort, page - 1)}" if page > 1 else "",
        "next_url": f"{base}?{_query(q, filters, sort, page + 1)}" if page < pages else "",
        "expansions": sorted((result.expansions or {}).items()) if result is not None else [],
        "error": error,
    }


@public_view
@require_safe
def search_page(request: HttpRequest) -> HttpResponse:
    q, filters, sort, page = parse_params(request.GET)
    context = search_context(request.user, q, filters, sort, page)
    access_log.note(request, AuditCode.READ_SEARCH, query={"q": q, "filters": filters, "sort": sort, "page": page},
                    results=context["total"])
    template = "catalog/search_panel.html" if is_htmx(request) else "catalog/search.html"
    response = render(request, template, context, status=400 if context["error"] else 200)
    response["Vary"] = "HX-Request"
    return response
