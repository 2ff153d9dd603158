"""The access log (SEC-4, LN-§23): every read of non-public information, every query, download,
export and access check leaves a hash-chained row — who, which object or which query and filters,
how many results, request id, client IP, path and the answer's status.

How it is used — one call in the view or API operation, nothing else::

    access_log.note(request, AuditCode.READ_ENTRY, entry)
    access_log.note(request, AuditCode.READ_SEARCH, query={"q": q, "filters": …}, results=total)

``note`` only collects (no query); :class:`govshare.core.middleware.RequestIdMiddleware` calls
:func:`flush` when the answer is ready, which fills in the status and writes the request's rows.
Besides the noted rows the flush adds, on its own:

* an ``API_REQUEST`` row for a request that came with an API token and noted nothing (method, path,
  token id, and like ``READ_PAGE`` the object, the query parameters and, for an API list answering
  ``{"total": N, …}``, N as the result count) — it replaces the audit log's generic ``TOKEN_USED`` row;
* a ``READ_PAGE`` row for any other page or list a logged-in user read (GET, answered < 400: a
  list of applications, grants, cases …) with the view's name and the query parameters — so every
  read of non-public information is traceable, not only the ones a view notes;
* a ``READ_REFUSED`` row when a logged-in user's read (GET) of a page or operation that exists was
  answered 403/404 and nothing was noted — an outsider probing for another department's objects
  leaves a trace (the path's ids name the object).

These three rows name their object from the route: :data:`ROUTE_OBJECTS` maps the path's collection
(``sharing/grants``, ``jobs`` …) to the model label in ``object_type`` and the path's first id is the
``object_id`` (further path values go into the detail as ``args``), so the auditor's filter by object
type and id finds them beside the noted rows.

Outside a request (the operator's ``govshare sharing check-access``) :func:`record` writes a row at
once, with no request id, IP or path and the operating-system user in its detail.

Every text a row records — query values and paths are the client's — has NUL and lone surrogates
(which PostgreSQL's text and jsonb refuse) replaced by U+FFFD before it is hashed (:func:`clean`).
The request id is ours unless a trusted proxy (``GOVSHARE_TRUSTED_PROXIES``) sent one; a client's own
``X-Request-ID`` is kept in the detail as ``client_request_id``.

Reads of public information by anonymous visitors are not recorded (no person to trace).

Why a separate log, and why this write path (issue 9: reads must not slow the platform): the audit
chain (:mod:`govshare.core.audit`) takes a lock and reads the chain head in every writing
transaction.  Reads are far more frequent than writes, so their rows go to their own table and
chain, written once per request in **one statement**, outside any transaction:

* the process keeps the chain head it last wrote; the rows are chained onto it in Python (HMAC with
  a key derived from the audit key) and inserted with one ``INSERT … SELECT … WHERE <head is still
  what we think>``: the statement inserts all rows or none;
* ``prev_hash`` is unique, so two processes can never both append to the same head (PostgreSQL
  makes the second wait and fail); a statement that inserted nothing or failed tries again on the
  current head (on PostgreSQL the statement answers the head it saw; on SQLite it is read).  In the
  common case (one process appends, or it appended last) a request costs exactly one query.

Rows are written before the answer leaves the server: a read that could not be recorded fails
instead of going unrecorded.

Tamper evidence as for the audit log: ``govshare audit head`` prints both chains' heads
(:func:`head`) and ``verify --expect-head`` checks both; retention (``govshare audit purge``) deletes
the oldest rows and moves :class:`~govshare.core.models.AccessAnchor`, and the ``AUDIT_PURGED`` event
in the (keyed) audit chain carries the anchor, so an anchor moved by anyone else is reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from govshare.core import audit, crypto
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AccessAnchor, AccessEvent

GENESIS = audit.GENESIS
#: the columns a row's hash covers (everything but id and the two hashes)
HASHED_FIELDS = (
    "occurred_at", "code", "action", "outcome", "actor_id", "actor_username", "actor_name", "department_id",
    "department_name", "token_id", "object_department_id", "object_department_name", "object_type", "object_id",
    "object_repr", "detail", "results", "ip", "request_id", "method", "path", "status",
)
_COLUMNS = (*HASHED_FIELDS, "prev_hash", "row_hash")
_ATTEMPTS = 8
_NOTES = "_govshare_access_notes"


@dataclass
class Note:
    code: AuditCode
    occurred_at: dt.datetime
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    object_department_id: int | None = None
    object_department_name: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    results: int | None = None


def _department_of(obj: models.Model) -> tuple[int | None, str]:
    """The object's department without a query: the id of a ``department``/``provider`` key (or the
    department itself), its name only when the related row is already loaded."""
    from govshare.core.models import Department

    if isinstance(obj, Department):
        return obj.pk, obj.name
    for name in ("department", "provider"):
        try:
            fk = obj._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if getattr(fk, "related_model", None) is not Department:
            continue
        pk = getattr(obj, f"{name}_id", None)
        cached = fk.is_cached(obj) if hasattr(fk, "is_cached") else False
        return pk, (getattr(obj, name).name if cached and pk is not None else "")
    return None, ""


def _recorded(request: HttpRequest) -> bool:
    """A signed-in user's request, or a consuming system's (its key: ``request.consuming_system``)."""
    if getattr(request, "consuming_system", None) is not None:
        return True
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


def note(request: HttpRequest, code: AuditCode, obj: models.Model | None = None, *, object_type: str = "",
         object_id: Any = "", object_repr: str = "", query: dict[str, Any] | None = None,
         results: int | None = None, **detail: Any) -> None:
    """Note one read of this request (written by :func:`flush` at its end, with the status).

    ``obj`` names the object read (its type, id, text and department are taken from it), or
    ``object_type``/``object_id`` when it is not loaded (yet); ``query`` the query text and filters,
    ``results`` how many results were given; further keywords go into the row's detail."""
    if not _recorded(request):
        return
    row = Note(code=code, occurred_at=timezone.now(), object_type=object_type, object_id=str(object_id or ""),
               object_repr=object_repr)
    if obj is not None:
        row.object_type = row.object_type or obj._meta.label_lower
        row.object_id = row.object_id or str(obj.pk)
        row.object_repr = row.object_repr or str(obj)[:200]
        row.object_department_id, row.object_department_name = _department_of(obj)
    if query is not None:
        detail["query"] = {k: v for k, v in query.items() if v not in (None, "", [], {})}
    row.detail = _jsonable(detail)
    row.results = results
    notes = getattr(request, _NOTES, None)
    if notes is None:
        notes = []
        setattr(request, _NOTES, notes)
    notes.append(row)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False))


#: characters PostgreSQL's text and jsonb refuse (NUL) or UTF-8 cannot carry (lone surrogates)
_REFUSED = re.compile("[\x00\ud800-\udfff]")


def clean(value: Any) -> Any:
    """``value`` with NUL and lone surrogates replaced by U+FFFD in every string, keys included (the
    query values and paths a row records are the client's; one refused character would fail the
    request on PostgreSQL).  Lengths do not change."""
    if isinstance(value, str):
        return _REFUSED.sub("\ufffd", value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _outcome(status: int | None) -> str:
    if status is None or status >= 500:
        return "failure"
    if status in (401, 403, 404):
        return "denied"
    return "success" if status < 400 else "failure"


#: the collection a route names → the model label of ``object_type`` (longest prefix of the route's
#: literal segments, ``api/v1/`` left out), so reads the views do not note can be found by object
ROUTE_OBJECTS: dict[str, str] = {
    "catalog": "catalog.catalogentry",  # the search page
    "catalog/entries": "catalog.catalogentry",
    "catalog/mine": "catalog.catalogentry",
    "catalog/export": "catalog.catalogentry",
    "catalog/review": "catalog.catalogentry",
    "catalog/review-queue": "catalog.catalogentry",
    "catalog/search": "catalog.catalogentry",
    "catalog/snapshots": "catalog.catalogsnapshot",
    "catalog/overview": "catalog.catalogsnapshot",
    "catalog/classifications": "catalog.classification",
    "catalog/projects": "catalog.project",
    "catalog/feedback": "catalog.feedback",
    "catalog/update-tasks": "catalog.updatetask",
    "catalog/synonyms": "catalog.synonym",
    "catalog/search-words": "catalog.searchword",
    "sharing/applications": "sharing.application",
    "sharing/review": "sharing.application",
    "sharing/to-answer": "sharing.application",
    "sharing/overdue": "sharing.application",
    "sharing/entries": "catalog.catalogentry",
    "sharing/demand": "catalog.catalogentry",
    "sharing/high-frequency": "catalog.catalogentry",
    "sharing/grants": "sharing.grant",
    "sharing/cases": "sharing.coordinationcase",
    "sharing/requests": "sharing.datarequest",
    "sharing/errors": "sharing.errorreport",
    "sharing/systems": "sharing.consumingsystem",
    "sharing/digest": "sharing.digestsetting",
    "departments": "core.department",
    "specialists": "core.specialistappointment",
    "users": "core.user",
    "account": "core.user",
    "me": "core.user",
    "jurisdictions": "core.jurisdiction",
    "jobs": "core.job",
    "tokens": "core.apitoken",
    "me/notifications": "core.notification",
    "inbox": "core.notification",
    "audit": "core.auditevent",
    "audit/events": "core.auditevent",
}
_API_PREFIX = "api/v1/"


def register_route_objects(routes: dict[str, str]) -> None:
    """An app names the models its routes read (from its ``AppConfig.ready()``), as sharing's are above."""
    ROUTE_OBJECTS.update(routes)


@dataclass(frozen=True)
class PathObject:
    view: str = ""
    object_type: str = ""
    object_id: str = ""
    #: further values of the path (a version number, a role …)
    args: dict[str, str] = field(default_factory=dict)


def _path_object(request: HttpRequest) -> PathObject:
    """The view's name and the object the path names: its model label from :data:`ROUTE_OBJECTS`,
    its first path value as the id."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return PathObject()
    values = [(str(k), str(v)) for k, v in match.kwargs.items()]
    object_id = values[0][1][:64] if values else ""
    args = {k: v[:64] for k, v in values[1:]}
    return PathObject((match.view_name or "")[:60], object_type_of(str(match.route or "")), object_id, args)


def object_type_of(route: str) -> str:
    """The model label a route (``sharing/grants/<int:pk>/``, ``api/v1/jobs/<job_id>``) names: the
    longest prefix of its literal segments before the first path value in :data:`ROUTE_OBJECTS`."""
    literal: list[str] = []
    for segment in route.removeprefix(_API_PREFIX).strip("/").split("/"):
        if "<" in segment or not segment:
            break
        literal.append(segment)
    for end in range(len(literal), 0, -1):
        object_type = ROUTE_OBJECTS.get("/".join(literal[:end]))
        if object_type:
            return object_type
    return ""


def _department_name(user: Any, department_id: int | None) -> str:
    """The reader's department name: loaded with the user (the session backend and the token check
    both select it), so no query of its own."""
    if department_id is None:
        return ""
    return str(user.department.name)


#: views that answer for an address that names nothing (like an unmatched URL, no row)
NO_SUCH_ADDRESS_VIEWS = frozenset({"api_not_found"})
#: pages that show nothing worth a row: the unread counter the browser polls, the API's own
#: documentation, the health check, the language switch
UNRECORDED_VIEWS = frozenset({"core:inbox_count", "api-v1:openapi-json", "api-v1:openapi-view", "healthz",
                              "set_language"})


def _page_detail(request: HttpRequest, view_name: str, args: dict[str, str] | None = None) -> dict[str, Any]:
    """A page's or list's name, further path values and its query parameters (the filters of a
    list, the page number)."""
    detail: dict[str, Any] = {"view": view_name} if view_name else {}
    if args:
        detail["args"] = args
    params = {key: [v[:200] for v in request.GET.getlist(key)[:10]] for key in list(request.GET)[:20]}
    if params:
        detail["query"] = {key: values[0] if len(values) == 1 else values for key, values in params.items()}
    return detail


#: an API list answers ``{"total": N, …}`` (the key first): N is how many results the reader got
_TOTAL = re.compile(rb'\A\{"total": ?([0-9]{1,12})[,}]')


def _listed_total(response: HttpResponse | None) -> int | None:
    """The ``total`` an API list answered, read from the first bytes of its JSON (no parsing)."""
    if response is None or getattr(response, "streaming", False):
        return None
    if not str(response.get("Content-Type", "")).startswith("application/json"):
        return None
    found = _TOTAL.match(response.content[:40])
    return int(found.group(1)) if found else None


def rows_for(request: HttpRequest, response: HttpResponse | None) -> list[dict[str, Any]]:
    """The request's rows as column values (without the hashes)."""
    from govshare.core.middleware import client_ip

    notes: list[Note] = list(getattr(request, _NOTES, None) or [])
    status = response.status_code if response is not None else None
    token = getattr(request, "api_token", None)
    system = getattr(request, "consuming_system", None)
    if not notes and _recorded(request):
        reading = request.method in ("GET", "HEAD") and getattr(request, "resolver_match", None) is not None
        where = _path_object(request)
        code: AuditCode | None = None
        if token is not None or system is not None:
            code = AuditCode.API_REQUEST
        elif reading and status in (403, 404) and where.view not in NO_SUCH_ADDRESS_VIEWS:
            code = AuditCode.READ_REFUSED
        elif reading and status is not None and status < 400 and where.view not in UNRECORDED_VIEWS:
            code = AuditCode.READ_PAGE
        if code is not None:
            notes.append(Note(code, timezone.now(), object_type=where.object_type, object_id=where.object_id,
                              detail=_page_detail(request, where.view, where.args),
                              results=_listed_total(response) if code != AuditCode.READ_REFUSED else None))
    if not notes:
        return []
    incoming = getattr(request, "client_request_id", "")
    if incoming:  # the id the client sent, not trusted as the request id (SEC-4)
        for n in notes:
            n.detail = {**n.detail, "client_request_id": str(incoming)[:100]}
    user = request.user
    if system is not None:  # a consuming system with its key: the system acts, for its department
        key = getattr(request, "system_key", None)
        actor: dict[str, Any] = {
            "actor_id": None, "actor_username": f"system:{system.code}"[:150], "actor_name": system.name[:100],
            "department_id": system.department_id, "department_name": system.department.name}
        for n in notes:
            n.detail = {**n.detail, "system": system.code, "system_key": getattr(key, "prefix", "")}
    else:
        department_id = getattr(user, "department_id", None)
        actor = {"actor_id": user.pk, "actor_username": user.get_username(),
                 "actor_name": getattr(user, "real_name", ""), "department_id": department_id,
                 "department_name": _department_name(user, department_id)}
    common = {
        "outcome": _outcome(status), **actor, "token_id": getattr(token, "pk", None),
        "ip": client_ip(request), "request_id": str(getattr(request, "request_id", ""))[:36],
        "method": str(request.method or "")[:8], "path": request.path[:300], "status": status,
    }
    return [{**common, "occurred_at": n.occurred_at, "code": int(n.code), "action": n.code.name.lower(),
             "object_department_id": n.object_department_id, "object_department_name": n.object_department_name,
             "object_type": n.object_type, "object_id": n.object_id[:64], "object_repr": n.object_repr[:200],
             "detail": n.detail, "results": n.results} for n in notes]


def flush(request: HttpRequest, response: HttpResponse | None) -> int:
    """Write the request's rows (called by the request middleware once the answer is ready)."""
    rows = rows_for(request, response)
    if rows:
        write(rows)
    setattr(request, _NOTES, None)
    return len(rows)


# ------------------------------------------------------------------ the chain

@lru_cache(maxsize=4)
def _key_from(audit_key: bytes) -> bytes:
    return hmac.new(audit_key, b"govshare access log", hashlib.sha256).digest()


def chain_key() -> bytes:
    """The access chain's HMAC key, derived from the audit chain's key (one secret to keep)."""
    return _key_from(crypto.audit_chain_key())


def row_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["occurred_at"] = fields["occurred_at"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hmac.new(chain_key(), (prev_hash + "\n" + body).encode("utf-8"), hashlib.sha256).hexdigest()


_lock = threading.Lock()
#: (database alias, database name, the open atomic blocks or none) → the chain head this process wrote last
_heads: dict[tuple[str, str, tuple[int, ...]], str] = {}


def _table(name: str, connection: Any) -> str:
    return connection.ops.quote_name(name)


def _head_sql(connection: Any) -> str:
    events, anchor = _table(AccessEvent._meta.db_table, connection), _table(AccessAnchor._meta.db_table, connection)
    return (f"COALESCE((SELECT row_hash FROM {events} ORDER BY id DESC LIMIT 1), "  # noqa: S608 — model tables
            f"(SELECT last_purged_hash FROM {anchor} WHERE id = 1), '{GENESIS}')")


def current_head(using: str = DEFAULT_DB_ALIAS) -> str:
    connection = connections[using]
    with connection.cursor() as cur:
        cur.execute(f"SELECT {_head_sql(connection)}")  # noqa: S608 — table names from the models
        return str(cur.fetchone()[0])


def _insert_if_head(connection: Any, rows: list[dict[str, Any]], head: str) -> tuple[int, str | None]:
    """One statement: insert every row when the chain head is still ``head``, else none.  Returns the
    number inserted and, on PostgreSQL, the head the statement saw (a miss then needs no extra read)."""
    fields: list[Any] = [AccessEvent._meta.get_field(name) for name in _COLUMNS]
    cast = connection.vendor == "postgresql"
    placeholders = ", ".join(f"CAST(%s AS {f.db_type(connection)})" if cast else "%s" for f in fields)
    values = ", ".join(f"({placeholders})" for _ in rows)
    params: list[Any] = []
    for row in rows:
        params.extend(f.get_db_prep_save(row[f.name], connection) for f in fields)
    params.append(head)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = _table(AccessEvent._meta.db_table, connection)
    if cast:  # PostgreSQL: a data-modifying CTE answers the head it saw along with the rows it inserted
        sql = (f"WITH h AS (SELECT {_head_sql(connection)} AS head), "  # noqa: S608 — placeholders
               f"ins AS (INSERT INTO {table} ({columns}) SELECT v.* FROM (VALUES {values}) AS v CROSS JOIN h "
               f"WHERE h.head = %s RETURNING 1) SELECT (SELECT head FROM h), (SELECT count(*) FROM ins)")
        with connection.cursor() as cur:
            cur.execute(sql, params)
            seen, inserted = cur.fetchone()
            return int(inserted), str(seen)
    sql = (f"INSERT INTO {table} ({columns}) "  # noqa: S608 — placeholders
           f"SELECT * FROM (VALUES {values}) AS v WHERE {_head_sql(connection)} = %s")
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return int(cur.rowcount), None


def _chained(rows: list[dict[str, Any]], head: str) -> tuple[list[dict[str, Any]], str]:
    out = []
    prev = head
    for row in rows:
        row = clean({**row, "detail": _jsonable(row["detail"])})
        digest = row_digest(prev, row)
        out.append({**row, "prev_hash": prev, "row_hash": digest})
        prev = digest
    return out, prev


def write(rows: list[dict[str, Any]], using: str = DEFAULT_DB_ALIAS) -> None:
    """Append ``rows`` to the chain in one statement (retried when another process appended)."""
    from govshare.core import keys

    keys.require_key()  # never sign a row with a key the data was not written with (SEC-5); once per process
    connection = connections[using]
    # inside a transaction (a test's, or a caller's) the cached head is good for that transaction and its
    # savepoints only: a rollback of any of them takes the rows it chained onto with it (a stale head
    # costs one more statement, never a wrong chain: the insert is conditional on the head)
    blocks = tuple(id(block) for block in connection.atomic_blocks) if connection.in_atomic_block else ()
    key = (using, str(connection.settings_dict.get("NAME")), blocks)
    with _lock:
        head = _heads.get(key)
        for _attempt in range(_ATTEMPTS):
            if head is None:
                head = current_head(using)
            chained, last = _chained(rows, head)
            seen: str | None = None
            try:
                if _in_real_transaction(connection):
                    with transaction.atomic(using=using):  # a savepoint: a refused insert leaves the outer one usable
                        inserted, seen = _insert_if_head(connection, chained, head)
                else:
                    inserted, seen = _insert_if_head(connection, chained, head)
            except IntegrityError:  # another process appended to the same head at the same moment
                inserted = 0
            if inserted == len(chained):
                if len(_heads) > 64:  # heads of transactions long over (tests)
                    _heads.clear()
                _heads[key] = last
                return
            head = seen if seen != head else None
        raise RuntimeError("the access log could not be appended to: the chain head keeps moving")


def _in_real_transaction(connection: Any) -> bool:
    """Inside an atomic block the application opened (the request's rows are written after the view,
    outside any: one statement in autocommit; test-case wrappers don't count)."""
    return connection.in_atomic_block and any(not getattr(block, "_from_testcase", False)
                                               for block in connection.atomic_blocks)


def head(using: str = DEFAULT_DB_ALIAS) -> tuple[int, str]:
    """The access chain's newest row as (id, hash) for ``govshare audit head``; after a purge that
    left no row, the anchor's; (0, GENESIS) while the log is empty."""
    row = AccessEvent.objects.using(using).order_by("-id").values_list("id", "row_hash").first()
    if row is not None:
        return int(row[0]), str(row[1])
    anchor = AccessAnchor.objects.using(using).filter(pk=1).values_list("last_purged_id", "last_purged_hash").first()
    if anchor is not None and anchor[0]:
        return int(anchor[0]), str(anchor[1])
    return 0, GENESIS


def record(code: AuditCode, obj: models.Model | None = None, *, actor: Any = None, object_type: str = "", object_id: Any = "", object_repr: str = "", results: int | None = None,
           as_system: Any = None, **detail: Any) -> None:
    """Write one row at once, outside any request — the operator's console (``govshare sharing
    check-access``), the worker: no request id, IP or path; ``actor`` None means the operating-system user, named
    in the detail — or ``as_system``, a consuming system the worker delivers to (named ``system:<code>``, with its
    department, as the data API names a system's calls).  Like the request's rows, it fails loudly rather than
    leave the read unrecorded."""
    import getpass

    row = Note(code=code, occurred_at=timezone.now(), object_type=object_type, object_id=str(object_id or ""),
               object_repr=object_repr, results=results)
    if obj is not None:
        row.object_type = row.object_type or obj._meta.label_lower
        row.object_id = row.object_id or str(obj.pk)
        row.object_repr = row.object_repr or str(obj)[:200]
        row.object_department_id, row.object_department_name = _department_of(obj)
    if actor is None:
        try:
            os_user = getpass.getuser()
        except Exception:  # noqa: BLE001 — no login name in some containers
            os_user = ""
        detail = {"via": "cli", "os_user": os_user, **detail}
    department_id = getattr(actor, "department_id", None) if actor is not None else None
    username = actor.get_username() if actor is not None else ""
    name = getattr(actor, "real_name", "") if actor is not None else ""
    if actor is None and as_system is not None:
        department_id, username, name = as_system.department_id, f"system:{as_system.code}", as_system.name
        detail = {**detail, "system": as_system.code}
    write([{
        "occurred_at": row.occurred_at, "code": int(code), "action": code.name.lower(),
        "outcome": "success",
        "actor_id": getattr(actor, "pk", None), "actor_username": username,
        "actor_name": name, "department_id": department_id,
        "department_name": _department_name(actor if actor is not None else as_system, department_id), "token_id": None,
        "object_department_id": row.object_department_id, "object_department_name": row.object_department_name,
        "object_type": row.object_type[:60], "object_id": row.object_id[:64], "object_repr": row.object_repr[:200],
        "detail": _jsonable(detail), "results": results, "ip": "", "request_id": "", "method": "", "path": "",
        "status": None,
    }])


def forget_head() -> None:
    """Forget the cached chain heads (after a restore or a purge, and in tests)."""
    with _lock:
        _heads.clear()


# ------------------------------------------------------------------ verification

def verify(progress: Any = None) -> audit.VerifyResult:
    """Walk the access chain from its anchor; name the first row whose hash or link does not match."""
    return audit.walk_chain(AccessEvent, AccessAnchor, HASHED_FIELDS, row_digest, progress)
