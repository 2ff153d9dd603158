"""The audit path (SEC-4): record, verify, purge.

``record()`` appends one hash-chained row (HMAC-SHA256 keyed from ``GOVSHARE_FIELD_KEY``) inside the
caller's transaction, so a write and its audit
event commit or roll back together.  Appends are serialised: on PostgreSQL with a transaction-level
advisory lock, on SQLite by its single writer (transactions start IMMEDIATE, see settings).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from govshare.core import context, crypto, keys
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditAnchor, AuditEvent

GENESIS = "0" * 64
_ADVISORY_KEY = 0x60565A5E  # arbitrary constant: "the audit chain" lock

HASHED_FIELDS = (
    "occurred_at", "code", "action", "outcome", "actor_id", "actor_username", "actor_name", "department_id",
    "department_name", "object_type", "object_id", "object_repr", "ip", "request_id", "changes", "detail",
)
#: fields added later (issue 8, SEC-4 attribution): part of the canonical row when they hold a value,
#: left out when empty — rows written before they existed hash exactly as they did, and emptying or
#: filling one on any row breaks its hash
OPTIONAL_HASHED_FIELDS = (
    "on_behalf_of_id", "on_behalf_of_username", "on_behalf_of_name", "object_department_id",
    "object_department_name",
)
ALL_HASHED_FIELDS = HASHED_FIELDS + OPTIONAL_HASHED_FIELDS


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False))


def row_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload.update({name: fields[name] for name in OPTIONAL_HASHED_FIELDS if fields.get(name) not in (None, "")})
    occurred = payload["occurred_at"]
    payload["occurred_at"] = occurred.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hmac.new(crypto.audit_chain_key(), (prev_hash + "\n" + body).encode("utf-8"), hashlib.sha256).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_KEY])


def _last_hash() -> str:
    last = AuditEvent.objects.order_by("-id").values_list("row_hash", flat=True).first()
    if last:
        return last
    anchor = AuditAnchor.objects.filter(pk=1).values_list("last_purged_hash", flat=True).first()
    return anchor or GENESIS


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field-by-field before/after of the fields that changed."""
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    return _jsonable({f: getattr(obj, f) for f in fields})


def _department_of(obj: models.Model) -> Any:
    """The department an object belongs to, when it says so plainly (a department itself, or a
    ``department`` / ``provider`` foreign key); otherwise none."""
    from govshare.core.models import Department

    if isinstance(obj, Department):
        return obj
    names = {f.name: f for f in obj._meta.get_fields()}
    for name in ("department", "provider"):
        field = names.get(name)
        if field is not None and getattr(field, "related_model", None) is Department:
            return getattr(obj, name, None)
    return None


class _FromContext:
    def __repr__(self) -> str:
        return "<the request's user>"


FROM_CONTEXT: Any = _FromContext()


def record(
    code: AuditCode,
    *,
    actor: Any = FROM_CONTEXT,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    department: Any = None,
    object_department: Any = None,
    on_behalf_of: Any = None,
) -> AuditEvent:
    """Append one audit event in the current transaction (call it from inside an action).

    ``actor`` defaults to the user bound to the request/command context; ``actor=None`` records
    the system (bootstrap, scheduled work) explicitly.

    Attribution (SEC-4): the row names the person who acted, and the 部门 columns mean one thing
    everywhere — ``department_*`` is the *actor's* department, ``object_department_*`` the
    department the object belongs to (``department=`` is accepted as the older name of
    ``object_department=``).  ``on_behalf_of`` names the person something was done for; only
    the action that acts for someone says so (a provider's approval subscribes the applicant:
    ``do_subscribe(provider, entry, subscriber=applicant)``).  It is never inferred: an explicit
    ``actor`` is recorded as given, whoever the request's context names (a request authenticated
    by an API token acts as the token's user, whatever session cookie came along)."""
    ctx = context.current()
    if actor is FROM_CONTEXT:
        actor = ctx.user
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if on_behalf_of is not None and not getattr(on_behalf_of, "is_authenticated", False):
        on_behalf_of = None
    if on_behalf_of is not None and actor is not None and on_behalf_of.pk == actor.pk:
        on_behalf_of = None
    if object_department is None:
        object_department = department
    department = getattr(actor, "department", None) if actor is not None else None
    if object_department is None and obj is not None:
        object_department = _department_of(obj)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
    fields: dict[str, Any] = {
        "occurred_at": timezone.now(),
        "code": int(code),
        "action": code.name.lower(),
        "outcome": str(outcome),
        "actor_id": actor.pk if actor is not None else None,
        "actor_username": actor.get_username() if actor is not None else "",
        "actor_name": getattr(actor, "real_name", "") if actor is not None else "",
        "department_id": department.pk if department is not None else None,
        "department_name": department.name if department is not None else "",
        "on_behalf_of_id": on_behalf_of.pk if on_behalf_of is not None else None,
        "on_behalf_of_username": on_behalf_of.get_username() if on_behalf_of is not None else "",
        "on_behalf_of_name": getattr(on_behalf_of, "real_name", "") if on_behalf_of is not None else "",
        "object_department_id": object_department.pk if object_department is not None else None,
        "object_department_name": object_department.name if object_department is not None else "",
        "object_type": object_type,
        "object_id": str(object_id),
        "object_repr": object_repr[:200],
        "ip": ctx.ip,
        "request_id": ctx.request_id,
        "changes": _jsonable(changes or {}),
        "detail": _jsonable(detail or {}),
    }
    keys.require_key()  # never sign a row with a key the chain was not written with (SEC-5); once per process
    # the lock, the head and the row in one transaction (a savepoint inside the caller's: a caller that
    # catches a failure here, like the job runner, can still write in its own transaction)
    with transaction.atomic():
        _lock_chain()
        prev = _last_hash()
        event = AuditEvent(**fields, prev_hash=prev, row_hash=row_digest(prev, fields))
        event.save()
    return event


def _in_real_transaction() -> bool:
    """True inside an atomic block opened by the application (test-case wrappers don't count)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks) \
        if connection.in_atomic_block else False


_pending: ContextVar[tuple[tuple[AuditCode, dict[str, Any]], ...]] = ContextVar("govshare_pending_audit",
                                                                                default=())


def record_now(code: AuditCode, **kwargs: Any) -> AuditEvent | None:
    """Record an event that must survive the caller's rollback (failed logins, permission
    denials).  Outside a transaction it is written at once; inside one — typically an action that
    is about to fail because of this very denial — it is kept and written by ``flush_pending()``
    once the transaction is over (the request middleware, the CLI and the job runner call it)."""
    if _in_real_transaction():
        if kwargs.get("actor", FROM_CONTEXT) is FROM_CONTEXT:
            kwargs["actor"] = context.current().user
        _pending.set((*_pending.get(), (code, kwargs)))
        return None
    with transaction.atomic():
        return record(code, **kwargs)


def flush_pending() -> int:
    """Write the events ``record_now`` had to keep while a transaction was open."""
    items = _pending.get()
    if not items:
        return 0
    _pending.set(())
    if connection.in_atomic_block and _in_real_transaction():
        _pending.set(items)  # still inside the application's transaction: try again later
        return 0
    with transaction.atomic():
        for code, kwargs in items:
            record(code, **kwargs)
    return len(items)


def discard_pending() -> None:
    _pending.set(())


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""


def walk_chain(model: type[models.Model], anchor_model: type[models.Model], hashed_fields: tuple[str, ...],
               digest: Any, progress: Any = None, batch: int = 2000) -> VerifyResult:
    """Walk a hash chain (the audit log's, or the access log's) from its anchor in id order and name
    the first row whose link or hash does not match."""
    anchor = anchor_model.objects.filter(pk=1).first()  # type: ignore[attr-defined]
    expected_prev = anchor.last_purged_hash if anchor else GENESIS
    checked, last = 0, 0
    while True:
        chunk = list(model.objects.filter(id__gt=last).order_by("id")[:batch])  # type: ignore[attr-defined]
        if not chunk:
            return VerifyResult(True, checked)
        for row in chunk:
            if row.prev_hash != expected_prev:
                # ids may have gaps (rolled-back transactions use up sequence values), so only the
                # link tells whether a row before this one was removed or rewritten
                return VerifyResult(False, checked, row.id, "link to the previous row is broken "
                                    "(a row before it was deleted or rewritten)")
            if digest(row.prev_hash, {name: getattr(row, name) for name in hashed_fields}) != row.row_hash:
                return VerifyResult(False, checked, row.id, "row content does not match its hash")
            expected_prev = row.row_hash
            checked += 1
            if progress is not None and checked % 5000 == 0:
                progress(checked)
        last = chunk[-1].id


def verify(progress: Any = None) -> VerifyResult:
    """Walk the audit chain from the anchor and name the first row whose hash or link does not match."""
    return walk_chain(AuditEvent, AuditAnchor, ALL_HASHED_FIELDS, row_digest, progress)


def actor_department_from_id() -> int | None:
    """The first row whose ``department_*`` is the actor's department (issue 8); the rows before it
    hold the object's department there, and stay as written (see ``AuditAnchor``)."""
    return AuditAnchor.objects.filter(pk=1).values_list("actor_department_from_id", flat=True).first()


def head() -> tuple[int, str] | None:
    """The newest row's id and hash — an auditor notes it (``govshare audit head``) and later checks
    with ``govshare audit verify --expect-head ID:HASH`` that no row up to it was removed."""
    row = AuditEvent.objects.order_by("-id").values_list("id", "row_hash").first()
    return (row[0], row[1]) if row else None
