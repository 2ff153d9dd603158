"""The data API (接口 / 联机查询; issue 11 item 3, SHR-4, SEC-3, SEC-4) and online verification (联机核验, item 6,
SHR-9), mounted at ``/api/v1``.

``GET /api/v1/data/{entry}/rows`` — the rows the centre holds for a catalog entry, for a consumer whose
department holds a usable grant over the 接口 channel (or the provider, its own data):

* ``purpose`` (required): the grant's purpose — data may be used only for the purpose granted;
* ``fields``: item names, comma-separated (default: the grant's items);
* filters, one query parameter each, ``<item>__<op>=<value>`` with ``op`` one of ``eq`` (the default:
  ``<item>=<value>``), ``in`` (comma-separated values; repeat the parameter for a value with a comma in it),
  ``gte``, ``gt``, ``lte``, ``lt``, ``prefix`` (text items), ``null`` (``true``/``false``);
* ``sort``: item names, comma-separated, ``-`` before a name for descending (the key always follows);
* ``limit`` (1–1000, default 100) and ``cursor`` (the ``next`` link's): keyset pages;
* ``format``: ``json`` (default), ``csv`` (UTF-8 with BOM) or ``xlsx`` — one page, the next page's link in the
  ``Link`` header;
* ``count``: ``true`` (default) counts the matching rows exactly up to 10 000 and estimates beyond
  (``count_kind``: ``exact``, ``estimate`` or ``at_least``) — never a silently truncated answer; on a PostgreSQL
  centre a count not done within ``GOVSHARE_DATA_COUNT_MS`` (20 ms) is stopped and estimated (``estimate``).

Only granted items are returned, masked by the grant's rules; masked items cannot be filtered or sorted on.
Every answer is in the access log (who, entry, grant, purpose, filters, row count); a refusal is in the audit
log (``ACCESS_DENIED``) with its reasons.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from ninja import Field, Path, Query, Router, Schema, Status

from govshare.catalog.enums import ShareMethod
from govshare.catalog.refs import EntryRefPath, get_entry, get_published_entry
from govshare.core import access_log, crypto, exports
from govshare.core.api import InSchema
from govshare.core.api_helpers import user_of
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from govshare.core.permissions import get_for, require, restrict
from govshare.core.roles import Capability
from govshare.core.validators import MAX_DB_ID
from govshare.datastore import centre, delivery
from govshare.datastore.actions import do_request_download, do_set_query_indexes, record_fetch, take_call
from govshare.datastore.actions.downloads import file_of, recheck
from govshare.datastore.actions.indexes import states_of
from govshare.datastore.engine import reader, verify
from govshare.datastore.engine.store import StoreError
from govshare.datastore.models import Download, QueryIndex
from govshare.datastore.permissions import FETCH, VIEW, may_view_indexes
from govshare.datastore.usage import KINDS as USAGE_KINDS
from govshare.datastore.usage import is_party, shown_detail, usage_of, usage_totals
from govshare.sharing.access import record_refusal
from govshare.sharing.auth import access_stamp_of, channel_auth, system_of
from govshare.sharing.models import Grant
from govshare.sharing.permissions import VIEW as VIEW_GRANT

router = Router(tags=["data"])
#: at the root of /api/v1: /data/{entry}/rows and /verify/{entry}
api_prefix = "/"

#: matching rows are counted exactly up to this many, estimated beyond
COUNT_LIMIT = 10_000
MAX_LIMIT = 1000
RESERVED = frozenset({"purpose", "fields", "sort", "limit", "cursor", "format", "count"})
_SPLIT = re.compile(r"[,，]")



class RowsQuery(Schema):
    purpose: str = Field(..., min_length=1, max_length=40, description="the grant's purpose")
    fields: str = Field("", max_length=4000, description="item names, comma-separated (default: the grant's)")
    sort: str = Field("", max_length=2000, description="item names, comma-separated; '-' first: descending")
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    cursor: str = Field("", max_length=20000, description="the next link's cursor")
    format: Literal["json", "csv", "xlsx"] = "json"
    count: bool = True


class FieldOut(Schema):
    name: str
    type: str
    masked: str | None


class EntryBrief(Schema):
    id: int
    code: str
    name: str


class RowsOut(Schema):
    entry: EntryBrief
    basis: str
    grant: str | None
    purpose: str
    fields: list[FieldOut]
    rows: list[dict[str, Any]]
    count: int | None
    count_kind: str | None
    limit: int
    cursor: str | None
    next: str | None


T = TypeVar("T")


def _caller(request: HttpRequest) -> tuple[Any, Any]:
    """(user, system) of a channel's request: a consuming system with its key acts as itself, never as a user."""
    system = system_of(request)
    return (None if system is not None else user_of(request)), system


def _entry(ref: str, user: Any, system: Any) -> Any:
    """The entry named in the path: a person's through the permission chokepoint; a system's among the published
    (a government system's catalog is every published entry; its grant decides the rest)."""
    return get_published_entry(ref) if system is not None else get_entry(user, ref)


def _centre_table(store: Any, entry: Any) -> tuple[str, list[Any], list[str]]:
    """The entry's table in the centre: (name, its items, its key) — or 404 ``no_data`` when no copy made it yet."""
    table, shape, key, _made = _centre_shape(store, entry)
    return table, shape, key


def _centre_shape(store: Any, entry: Any) -> tuple[str, list[Any], list[str], str]:
    """As :func:`_centre_table`, with the table's incarnation (:meth:`Store.incarnation`)."""
    table = centre.table_for(entry)
    made = store.incarnation(table)
    if not made:
        raise delivery.NoData("no_data", _("The data resource centre holds no data of %(code)s yet."), code=entry.code)
    shape, key = store.describe(table)
    return table, shape, key, made


def _one_table(store: Any, entry: Any, read: Callable[[str, list[Any], list[str]], T]) -> T:
    """``read(table, items, key)`` of the entry's centre table — its rows read by the positions of its items — with
    the table the same from its shape to its rows: one made again in between (a rebuild for a new version: items in
    other columns, another item's values under a name, masked by another rule) is read again, once; a second time,
    the caller is told to ask again."""
    for _attempt in range(2):
        table, shape, key, made = _centre_shape(store, entry)
        try:
            result = read(table, shape, key)
        except (StoreError, reader.QueryError):  # a column gone with the old table …
            if store.incarnation(table) == made:
                raise
        else:
            if store.incarnation(table) == made:
                return result
        store.fresh_for_reading()  # (what it knew of the table's shape)
    raise Conflict("centre_rebuilding", _("The data resource centre is making the table of %(code)s again: ask again "
                                          "in a moment."), code=entry.code)


def _names(text: str) -> list[str]:
    return [name.strip() for name in _SPLIT.split(text) if name.strip()]


def _filters(given: Any, columns: dict[str, Any], masked: dict[str, str]) -> list[reader.Filter]:
    """The filters among ``given`` (a query dict, or ``{parameter: value}``): ``<item>`` or ``<item>__<op>``."""
    found: list[reader.Filter] = []
    getlist = given.getlist if hasattr(given, "getlist") else (lambda name: [given[name]])
    for name in sorted(set(given.keys()) - RESERVED):
        item, _sep, op = name.rpartition("__") if "__" in name else (name, "", "eq")
        if op not in reader.OPERATORS:
            raise ValidationFailed("bad_operator", _("Unknown filter %(op)s in %(param)s; use eq, in, gte, gt, lte, "
                                                     "lt, prefix or null."), field=name, op=op, param=name)
        if item not in columns:
            raise ValidationFailed("unknown_field", _("%(item)s is not an item you may read here."), field=name,
                                   item=item)
        try:
            reader.check_operator(columns[item], op)
        except reader.QueryError:
            raise ValidationFailed("bad_operator", _("%(item)s (type %(type)s) cannot be filtered with %(op)s."),
                                   field=name, item=item, type=columns[item].letter, op=op) from None
        if item in masked:
            raise ValidationFailed("masked_item", _("%(item)s is masked under your grant (%(rule)s): it cannot be "
                                                    "filtered on."), field=name, item=item, rule=masked[item])
        texts = list(getlist(name))
        if op == "in":
            texts = [part for text in texts for part in (text.split(",") if len(texts) == 1 else [text])]
            if len(texts) > reader.MAX_IN:
                raise ValidationFailed("too_many_values", _("%(item)s: at most %(limit)s values in one filter."),
                                       field=name, item=item, limit=reader.MAX_IN)
        elif len(texts) > 1:
            raise ValidationFailed("repeated_filter", _("%(param)s is given more than once."), field=name,
                                   param=name)
        try:
            if op == "null":
                value = texts[0].strip().lower()
                if value not in ("true", "false", "1", "0"):
                    raise ValidationFailed("bad_value", _("%(param)s takes true (empty) or false (not empty), not "
                                                          "%(value)s."), field=name, param=name, value=texts[0][:60])
                values: tuple[Any, ...] = (value in ("true", "1"),)
            else:
                values = tuple(reader.parse_value(columns[item], text) for text in texts)
        except reader.QueryError as exc:
            bad = str(exc.params.get("value", texts[0]))
            raise ValidationFailed("bad_value", _("%(value)s is not a valid value of %(item)s (type %(type)s)."),
                                   field=name, value=bad[:60], item=item, type=columns[item].letter) from None
        found.append(reader.Filter(item, op, values))
    return found


def _sort(text: str, columns: dict[str, Any], masked: dict[str, str]) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in _names(text):
        name, desc = (part[1:].strip(), True) if part.startswith("-") else (part, False)
        if not name:
            raise ValidationFailed("bad_sort", _("Name an item after “-” (a descending sort): sort=-成立日期."),
                                   field="sort")
        if name not in columns:
            raise ValidationFailed("unknown_field", _("%(item)s is not an item you may read here."), field="sort",
                                   item=name)
        if name in masked:
            raise ValidationFailed("masked_item", _("%(item)s is masked under your grant (%(rule)s): it cannot be "
                                                    "sorted on."), field="sort", item=name, rule=masked[name])
        if name not in [n for n, _d in order]:
            order.append((name, desc))
    return order


#: a page's count runs beside the page (a thread of its own, with a centre connection of its own): the answer waits
#: for the longer of the two, not for both one after the other — up to COUNT_THREADS at once per process; beyond
#: that a request counts in its own thread (never queued behind other requests' counts)
COUNT_THREADS = 4
_COUNTING = ThreadPoolExecutor(max_workers=COUNT_THREADS, thread_name_prefix="govshare-count")
_COUNT_SLOTS = threading.BoundedSemaphore(COUNT_THREADS)


def _count(row_query: reader.RowQuery) -> tuple[int, str]:
    with centre.reading_store() as store:
        return reader.count_rows(store, row_query, COUNT_LIMIT, milliseconds=settings.GOVSHARE_DATA_COUNT_MS)


def _count_beside(row_query: reader.RowQuery) -> Future[tuple[int, str]]:
    if not _COUNT_SLOTS.acquire(blocking=False):
        done: Future[tuple[int, str]] = Future()
        try:
            done.set_result(_count(row_query))
        except BaseException as exc:  # noqa: BLE001 — raised where the result is read, as from the pool
            done.set_exception(exc)
        return done
    try:
        counting = _COUNTING.submit(_count, row_query)
    except BaseException:
        _COUNT_SLOTS.release()
        raise
    counting.add_done_callback(lambda _f: _COUNT_SLOTS.release())
    return counting


#: a consuming system's key first (``Bearer gsk_…``), then a personal token or the browser session
DATA_AUTH = channel_auth()


@router.get("/data/{entryref:ref}/rows", response={200: RowsOut}, auth=DATA_AUTH,
            summary="Rows of an entry through a grant: granted items only, masked (接口 / 联机查询)")
def entry_rows(request: HttpRequest, ref: EntryRefPath, query: Query[RowsQuery]) -> Any:
    user, system = _caller(request)
    asked = _names(query.fields) or None
    if system is not None:
        entry, granted = delivery.authorise_system(ref, system, purpose=query.purpose, items=asked,
                                                   channel=ShareMethod.API, stamp=access_stamp_of(request))
    else:
        entry = get_entry(user, ref)
        granted = delivery.authorise(entry, user=user, purpose=query.purpose, items=asked, channel=ShareMethod.API)
    masked = granted.masked
    hidden = {**granted.masked_anywhere, **masked}

    def read(table: str, shape: list[Any], _key: list[str]) -> Any:
        readable = set(granted.items) | set(granted.filterable)
        columns = {column.name: column for column in shape if column.name in readable}
        missing = [name for name in granted.items if name not in columns]
        if missing:
            raise delivery.NoData("no_data_for_items", _("The data resource centre holds no data of %(items)s "
                                                         "of %(code)s."), items="、".join(missing),
                                  code=entry.code)
        row_query = reader.RowQuery(table, granted.items, _filters(request.GET, columns, hidden),
                                    _sort(query.sort, columns, hidden), limit=query.limit)
        fingerprint = delivery.query_fingerprint(entry, granted.decision, row_query)
        if query.cursor:
            row_query.after = delivery.read_cursor(fingerprint, query.cursor)
        counting = _count_beside(row_query) if query.count else None
        page = reader.read_rows(store, row_query)  # an error here leaves the count to end on its own
        counted = counting.result() if counting is not None else None
        return columns, row_query, fingerprint, page, counted

    try:
        with centre.reading_store() as store:
            columns, row_query, fingerprint, page, counted = _one_table(store, entry, read)
    except reader.QueryError as exc:
        if exc.code == "too_many_values":
            raise ValidationFailed(exc.code, _("%(item)s: at most %(limit)s values in one filter."),
                                   field=str(exc.params.get("item", "")), item=exc.params.get("item", ""),
                                   limit=reader.MAX_IN) from None
        raise ValidationFailed(exc.code, _("The query cannot be run: %(detail)s"), detail=exc.detail) from None
    except StoreError as exc:
        raise delivery.NoData("centre_unavailable", _("The data resource centre cannot be read now (%(code)s); try "
                                                      "again later."), code=exc.code) from None
    rows: list[Any] = (delivery.json_rows(granted, [columns[name].letter for name in granted.items], page.rows)
                       if query.format == "json" else [granted.mask(row) for row in page.rows])
    cursor = delivery.sign_cursor(fingerprint, page.after) if page.after is not None else None
    next_url = None
    if cursor is not None:
        params = [(k, v) for k in request.GET for v in request.GET.getlist(k) if k != "cursor"]
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode([*params, ("cursor", cursor)])
    access_log.note(request, AuditCode.DATA_ROWS_READ, entry, results=len(rows),
                    query={"purpose": query.purpose, "fields": granted.items,
                           "filters": [[f.item, f.op, [delivery.jsonable(v) for v in f.values]]
                                       for f in row_query.filters],
                           "sort": [("-" if d else "") + n for n, d in row_query.sort], "page": bool(query.cursor),
                           "format": query.format},
                    grant=granted.decision.grant.number if granted.decision.grant else None,
                    basis=granted.decision.basis, channel=ShareMethod.API.value)
    if query.format != "json":
        cells = [delivery.exact_cells(row) for row in rows] if query.format == "csv" else rows
        response: Any = exports.export_response(query.format, f"{entry.code.replace('/', '-')}-rows",
                                                granted.items, cells)
        if next_url:
            response["Link"] = f'<{next_url}>; rel="next"'
        return response
    # RowsOut, written here: ninja's validation of a page it did not build (~1 ms of a ~10 ms call) is skipped
    body = {
        "entry": {"id": entry.pk, "code": entry.code,
                  "name": entry.current_version.name if entry.current_version else ""},
        "basis": granted.decision.basis,
        "grant": granted.decision.grant.number if granted.decision.grant else None,
        "purpose": query.purpose,
        "fields": [{"name": name, "type": columns[name].letter,
                    "masked": masked.get(name)} for name in granted.items],
        "rows": rows,
        "count": counted[0] if counted else None,
        "count_kind": counted[1] if counted else None,
        "limit": query.limit,
        "cursor": cursor,
        "next": next_url,
    }
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False, "allow_nan": False})



# ------------------------------------------------------------------ online verification (联机核验, SHR-9)

class VerifyIn(InSchema):
    purpose: str = Field(..., min_length=1, max_length=40, description="the grant's purpose")
    key: dict[str, str] = Field(..., description="the entry's key items and their values (e.g. 公民身份号码)")
    claims: dict[str, str] = Field(..., description="items and the values the caller was given, to verify")


class VerdictOut(Schema):
    result: Literal["match", "mismatch", "invalid"]
    label: str


class VerifyOut(Schema):
    entry: EntryBrief
    grant: str | None
    found: bool
    fields: dict[str, VerdictOut]


#: the most claims one verification carries
MAX_CLAIMS = 50
#: masks under which an item is not verified (as a claim or as the key): see verify_claims
UNVERIFIABLE = frozenset({"null", "pseudonym", "date", "round"})
_LABELS = {verify.MATCH: _("match (一致)"), verify.MISMATCH: _("mismatch (不一致)"),
           verify.INVALID: _("not a valid value of the item")}


def _refused_verification(entry: Any, user: Any, system: Any, purpose: str, items: list[str], code: str) -> None:
    """A verification refused after the access check (an item it may not verify, too many a minute): audited as every
    channel's refusal is — such refusals are what probing looks like (review of the 22nd session)."""
    record_refusal(entry, user=user, system=system, purpose=purpose, items=list(dict.fromkeys(items)),
                   channel=ShareMethod.API.value, reasons=[code], verification=True)


@router.post("/verify/{entryref:ref}", response={200: VerifyOut}, auth=DATA_AUTH,
             summary="Verify claimed values against the centre's (一致 / 不一致 per item, never the value; SHR-9)")
def verify_claims(request: HttpRequest, ref: EntryRefPath, payload: VerifyIn) -> Any:
    user, system = _caller(request)
    if user is not None:  # a person verifies for a department that uses shared data (an auditor never does)
        require(user, Capability.APPLY_SHARE)
    # a system's entry and grant are kept between its calls under the access stamp (govshare.core.stamps)
    entry = delivery.published_entry(ref, access_stamp_of(request)) if system is not None else get_entry(user, ref)
    if not payload.claims:
        raise ValidationFailed("no_claims", _("Name at least one item to verify."), field="claims")
    if len(payload.claims) > MAX_CLAIMS or len(payload.key) > MAX_CLAIMS:
        raise ValidationFailed("too_many_claims", _("At most %(limit)s items in one verification."), field="claims",
                               limit=MAX_CLAIMS)
    caller = f"system:{system.pk}" if system is not None else f"user:{getattr(user, 'pk', '')}"
    wait = take_call(caller, "verify", int(settings.GOVSHARE_VERIFY_PER_MINUTE))
    if wait:
        _refused_verification(entry, user, system, payload.purpose, [*payload.key, *payload.claims], "rate_limited")
        raise TooManyRequests("rate_limited", _("Too many verifications: at most %(limit)s a minute; try again in "
                                            "%(seconds)s s."), limit=settings.GOVSHARE_VERIFY_PER_MINUTE,
                          seconds=wait, retry_after=wait)
    items = list(dict.fromkeys([*payload.key, *payload.claims]))
    if system is not None:
        granted = delivery.authorise_system(ref, system, purpose=payload.purpose, items=items,
                                            channel=ShareMethod.API, stamp=access_stamp_of(request))[1]
    else:
        granted = delivery.authorise(entry, user=user, purpose=payload.purpose, items=items, channel=ShareMethod.API)
    # an item the grant delivers as nothing or as a pseudonym is not to be learnt at all, and one it delivers as a
    # year, a month or a rounded number leaves too few values to guess from: verifying it — as a claim, or as the
    # key whose existence "found" answers — would reveal it one guess at a time (reviews M4, 2)
    # (a keep rule of no character is "nothing" written otherwise — review of the 22nd session)
    sealed = [name for name, mask in zip(granted.items, granted.masks, strict=True)
              if mask is not None and (mask.kind in UNVERIFIABLE or mask.shows_nothing)
              and (name in payload.claims or name in payload.key)]
    if sealed:
        refused = ValidationFailed("not_verifiable", _("%(items)s cannot be verified under your grant: it delivers "
                                                       "them masked as nothing, as pseudonyms, as dates or as rounded "
                                                       "numbers."), field="claims", items="、".join(sealed))
        _refused_verification(entry, user, system, payload.purpose, items, refused.code)  # probing, audited
        raise refused
    def read(table: str, shape: list[Any], key: list[str]) -> Any:
        columns = {column.name: column for column in shape}
        if sorted(payload.key) != sorted(key):
            raise ValidationFailed("key_required", _("Give exactly the key of %(code)s: %(items)s."),
                                   field="key", code=entry.code, items="、".join(key))
        def filters_of(typed: bool) -> list[reader.Filter] | None:
            """The key as given (None: not a value of its type as it stands) or as typed by a person — NFKC
            (full-width digits and letters of an input method) and without surrounding spaces."""
            filters = []
            for name in key:
                given = payload.key[name]
                try:
                    value = reader.parse_value(columns[name], unicodedata.normalize("NFKC", given).strip()
                                               if typed else given)
                except reader.QueryError:
                    if not typed:
                        return None
                    raise ValidationFailed("bad_value", _("%(value)s is not a valid value of %(item)s (type "
                                                          "%(type)s)."), field=f"key.{name}", value=given[:60],
                                           item=name, type=columns[name].letter) from None
                filters.append(reader.Filter(name, "eq", (value,)))
            return filters

        typed = filters_of(True)
        assert typed is not None
        claimed = list(payload.claims)
        missing = [name for name in claimed if name not in columns]
        if missing:
            raise delivery.NoData("no_data_for_items", _("The data resource centre holds no data of %(items)s "
                                                         "of %(code)s."), items="、".join(missing),
                                  code=entry.code)
        # the key exactly as given first (as the data API handed it out: a key the centre holds with spaces or
        # full-width characters is found — review of the 21st session), then as a person types it; codes are
        # written in capitals (GB 11643's check character X, GB 32100): a key in small letters last in capitals
        tries: list[list[reader.Filter]] = []
        for filters in (filters_of(False), typed,
                        [reader.Filter(f.item, "eq", (f.values[0].upper(),)) if isinstance(f.values[0], str) else f
                         for f in typed]):
            if filters is not None and filters not in tries:
                tries.append(filters)
        for filters in tries:
            page = reader.read_rows(store, reader.RowQuery(table, claimed, filters, limit=1))
            if page.rows:
                break
        return columns, key, claimed, page

    try:
        with centre.reading_store() as store:
            columns, key, claimed, page = _one_table(store, entry, read)
    except StoreError as exc:
        raise delivery.NoData("centre_unavailable", _("The data resource centre cannot be read now (%(code)s); try "
                                                      "again later."), code=exc.code) from None
    found = bool(page.rows)
    verdicts = {name: verify.compare(columns[name], page.rows[0][i], payload.claims[name])
                for i, name in enumerate(claimed)} if found else {}
    access_log.note(request, AuditCode.DATA_VERIFIED, entry, results=int(found),
                    query={"purpose": payload.purpose, "key_items": list(payload.key), "items": claimed},
                    key_digest=crypto.digest(json.dumps([payload.key[k] for k in key], ensure_ascii=False)),
                    verdicts=verdicts, grant=granted.decision.grant.number if granted.decision.grant else None,
                    basis=granted.decision.basis, channel=ShareMethod.API.value)
    return {"entry": {"id": entry.pk, "code": entry.code,
                      "name": entry.current_version.name if entry.current_version else ""},
            "grant": granted.decision.grant.number if granted.decision.grant else None,
            "found": found,
            "fields": {name: {"result": result, "label": str(_LABELS[result])} for name, result in verdicts.items()}}


# ------------------------------------------------------------------ batch downloads (部门批量下载, the 文件 channel)

class DownloadIn(InSchema):
    purpose: str = Field(..., min_length=1, max_length=40, description="the grant's purpose")
    fields: list[str] = Field(default_factory=list, max_length=1000, description="item names (default: the grant's)")
    filters: dict[str, str] = Field(default_factory=dict, description="as the rows' query parameters: "
                                                                     "{\"登记状态\": \"存续\", \"成立日期__gte\": \"2020-01-01\"}")
    format: Literal["csv", "xlsx", "jsonl"] = "csv"


class DownloadOut(Schema):
    id: str
    entry: EntryBrief
    grant: str | None
    purpose: str
    format: str
    items: list[str]
    status: str
    progress_done: int | None
    progress_total: int | None
    rows: int | None
    bytes: int | None
    sha256: str
    message: str
    created_at: dt.datetime
    ready_at: dt.datetime | None
    expires_at: dt.datetime | None
    file: str | None = Field(description="where to fetch the file (ready downloads, for the department only)")


def _download_out(request: HttpRequest, download: Download) -> dict[str, Any]:
    job = download.job
    ready = download.status == Download.Status.READY
    return {
        "id": str(download.pk), "entry": {"id": download.entry.pk, "code": download.entry.code,
                                          "name": download.entry.current_version.name
                                          if download.entry.current_version else ""},
        "grant": download.grant.number if download.grant else None, "purpose": download.purpose,
        "format": download.format, "items": list(download.items), "status": download.status,
        "progress_done": job.progress_done if job else None, "progress_total": job.progress_total if job else None,
        "rows": download.rows, "bytes": download.bytes, "sha256": download.sha256, "message": download.shown_message,
        "created_at": download.created_at, "ready_at": download.ready_at, "expires_at": download.expires_at,
        "file": request.build_absolute_uri(f"/api/v1/data/downloads/{download.pk}/file") if ready else None,
    }


def _downloads(request: HttpRequest, action: str) -> Any:
    """The downloads the caller may see (``view``) or fetch (``fetch``): a system, those it asked for; a person,
    those of the department — but never the file of one a system asked for (review H1)."""
    qs = Download.objects.select_related("entry__current_version", "grant", "job")
    system = system_of(request)
    if system is not None:
        return qs.filter(system=system)
    qs = restrict(qs, user_of(request), action)
    return qs.filter(system__isnull=True) if action == FETCH else qs


@router.post("/data/{entryref:ref}/downloads", response={202: DownloadOut}, auth=DATA_AUTH,
             summary="Ask for a grant's data as a file (CSV, XLSX, JSON Lines), built in the background (文件 channel)")
def request_download(request: HttpRequest, ref: EntryRefPath, payload: DownloadIn) -> Any:
    user, system = _caller(request)
    if user is not None:  # department staff ask for their department's files (an auditor never does)
        require(user, Capability.APPLY_SHARE)
    entry = _entry(ref, user, system)
    asked = list(dict.fromkeys(name.strip() for name in payload.fields if name.strip())) or None
    granted = delivery.authorise(entry, user=user, system=system, purpose=payload.purpose, items=asked,
                                 channel=ShareMethod.FILE)
    try:
        with centre.open_store() as store:
            _table, shape, _key = _centre_table(store, entry)
    except StoreError as exc:
        raise delivery.NoData("centre_unavailable", _("The data resource centre cannot be read now (%(code)s); try "
                                                      "again later."), code=exc.code) from None
    readable = set(granted.items) | set(granted.filterable)
    columns = {column.name: column for column in shape if column.name in readable}
    filters = _filters(payload.filters, columns, {**granted.masked_anywhere, **granted.masked})
    download = do_request_download(user=user, system=system, entry=entry, purpose=payload.purpose,
                                   items=granted.items, filters=filters, fmt=payload.format)
    return Status(202, _download_out(request, Download.objects.select_related(
        "entry__current_version", "grant", "job").get(pk=download.pk)))


@router.get("/data/downloads", response={200: list[DownloadOut]}, auth=DATA_AUTH,
            summary="Batch downloads: your department's (a system: those it asked for), newest first")
def list_downloads(request: HttpRequest, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    return [_download_out(request, d) for d in _downloads(request, VIEW).order_by("-created_at")[:limit]]


@router.get("/data/downloads/{download_id}", response={200: DownloadOut}, auth=DATA_AUTH)
def get_download(request: HttpRequest, download_id: uuid.UUID) -> dict[str, Any]:
    download = _downloads(request, VIEW).filter(pk=download_id).first()
    if download is None:
        raise NotFound("download")
    return _download_out(request, download)


@router.get("/data/downloads/{download_id}/file", auth=DATA_AUTH,
            summary="The file of a ready download — its department only, while its grant still allows it")
def fetch_download(request: HttpRequest, download_id: uuid.UUID) -> Any:
    download = _downloads(request, FETCH).filter(pk=download_id).first()
    if download is None:
        raise NotFound("download")
    if download.status == Download.Status.READY and download.expires_at is not None \
            and download.expires_at <= timezone.now():
        download.status = Download.Status.EXPIRED  # the periodic clean-up has not come by yet
    if download.status != Download.Status.READY:
        raise Conflict("not_ready", _("The download is %(status)s, not ready."), status=download.get_status_display())
    user, system = _caller(request)
    # revoked or expired since, or another grant now: refused (and audited) like any channel — for the one fetching
    recheck(download, **({"system": system} if system is not None else {"user": user}))
    path = file_of(download)
    if not path.exists():
        raise Conflict("file_missing", _("The file of this download is gone; ask for it again."))
    record_fetch(download)
    access_log.note(request, AuditCode.DATA_DOWNLOADED, download.entry, results=download.rows,
                    download=str(download.pk), sha256=download.sha256, format=download.format,
                    grant=download.grant.number if download.grant else None, purpose=download.purpose,
                    # SEC-4: the usage records name the filter (and items) the file was made with, as for a query
                    query={"purpose": download.purpose, "fields": list(download.items),
                           "filters": [[item, op, [delivery.jsonable(delivery.untag(v)) for v in values]]
                                       for item, op, values in (download.filters or [])],
                           "format": download.format})
    stamp = timezone.localtime(download.ready_at).strftime("%Y%m%d") if download.ready_at else ""
    response = FileResponse(open(path, "rb"), as_attachment=True,  # noqa: SIM115 — FileResponse closes it
                            filename=f"{download.entry.code.replace('/', '-')}-{stamp}.{download.format}",
                            content_type=CONTENT_TYPES[download.format])
    response["X-Content-SHA256"] = download.sha256
    return response


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


# ------------------------------------------------------------------ usage records per grant (SEC-4, LN-§23)

class UsageRowOut(Schema):
    at: dt.datetime
    kind: Literal["rows", "verify", "download", "deliver", "file"]
    actor: str
    department: str
    rows: int | None
    detail: dict[str, Any]


class UsageOut(Schema):
    grant: str | None
    totals: dict[str, dict[str, int]]
    items: list[UsageRowOut]




@router.get("/data/grants/{grant_id}/usage", response={200: UsageOut},
            summary="Usage records of a grant: queries, verifications, downloads (its provider, its consumer)")
def grant_usage(request: HttpRequest, grant_id: int = Path(..., ge=1, le=MAX_DB_ID),
                limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    user = user_of(request)
    grant = get_for(user, VIEW_GRANT, Grant, pk=grant_id)
    rows = usage_of(grant)[:limit]
    party = is_party(user, grant)
    return {"grant": grant.number, "totals": usage_totals(grant), "items": [
        {"at": r.occurred_at, "kind": USAGE_KINDS[int(r.code)], "actor": r.actor_name or r.actor_username,
         "department": r.department_name, "rows": r.results, "detail": shown_detail(r.detail, party)}
        for r in rows]}


class QueryIndexOut(Schema):
    item: str
    state: Literal["waiting", "building", "ready", "failed"]
    reason: str = Field("", description="why it failed, in the reader's language")
    ready_at: dt.datetime | None = None


class QueryIndexesOut(Schema):
    entry: str
    limit: int = Field(..., description="the most items of one entry indexed (GOVSHARE_MAX_QUERY_INDEXES)")
    indexable: list[str] = Field(..., description="the items that can be indexed (the centre's table's; before its "
                                                  "first copy, the catalog's: chosen ones wait for it)")
    items: list[QueryIndexOut]


class QueryIndexesIn(InSchema):
    items: list[str] = Field(..., max_length=200, description="exactly the items to index (none: [])")


def _indexes_out(entry: Any) -> dict[str, Any]:
    items, _has_table, _unreachable = states_of(entry)
    return {"entry": entry.code, "limit": settings.GOVSHARE_MAX_QUERY_INDEXES,
            "indexable": [i.name for i in items if i.column and not i.why],
            "items": [{"item": i.name, "state": i.state, "reason": i.reason,
                       "ready_at": i.row.ready_at if i.state == QueryIndex.State.READY else None}
                      for i in items if i.row is not None]}


@router.get("/data/{entryref:ref}/indexes", response={200: QueryIndexesOut},
            summary="The items of an entry's centre table indexed for filters and sorts (its provider, the centre)")
def query_indexes(request: HttpRequest, ref: EntryRefPath) -> dict[str, Any]:
    user = user_of(request)
    entry = get_entry(user, ref)
    if not may_view_indexes(user, entry):
        raise NotFound("entry")
    return _indexes_out(entry)


@router.put("/data/{entryref:ref}/indexes", response={202: QueryIndexesOut},
            summary="Choose the items of an entry's centre table to index (its provider); built in the background")
def set_query_indexes(request: HttpRequest, ref: EntryRefPath, payload: QueryIndexesIn) -> Any:
    user = user_of(request)
    entry = get_entry(user, ref)
    do_set_query_indexes(user, entry, payload.items)
    return Status(202, _indexes_out(entry))
