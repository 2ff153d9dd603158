"""Actions on the audit log itself (SEC-4, SEC-2): search, export, verify, purge.

Separation of duties (GB/T 39477, :mod:`govshare.core.roles`): only auditors read and export the
log (``Capability.READ_AUDIT``); administrators cannot read it; nobody changes it.  Deleting rows
older than the retention period is an operator duty (``govshare audit purge``), never a web action.

Every read of the log is itself audited: a search (first page of a filter set) records
``AUDIT_VIEWED`` with the filters, opening one event records ``AUDIT_VIEWED`` naming it, an export
records ``AUDIT_EXPORTED`` with the filters and the row count, a verification records
``AUDIT_VERIFIED`` with its result and a purge records ``AUDIT_PURGED``.

Permission checks run *before* the transaction opens, so that the audited denial survives the
refusal (``audit.record_now`` inside a rolled-back transaction would vanish with it).
"""

from __future__ import annotations

import calendar
import datetime as dt
import getpass
import heapq
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import access_log, audit, context, exports, jobs
from govshare.core.audit_codes import DOMAINS, AuditCode, domain_label, domain_of
from govshare.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from govshare.core.models import AccessAnchor, AccessEvent, AuditAnchor, AuditEvent, Job, Jurisdiction
from govshare.core.permissions import Action, get_for, require, restrict
from govshare.core.policy import available_profiles, get_profile, platform_profile
from govshare.core.roles import Capability

VERIFY_JOB = "core.audit_verify"
EXPORT_BATCH = 2000
#: the baseline profile whose audit retention is the platform floor (SEC-4: at least 6 months)
FLOOR_PROFILE = "national"


# ------------------------------------------------------------------ filters

#: the 读写 filter: the audit log of writes, the access log of reads (issue 9), or both together
LOGS = ("writes", "reads", "both")

#: dates an audit filter may name: wide enough for any real event, narrow enough that a day either
#: side and the Asia/Shanghai → UTC conversion never leave Python's date range (9999-12-31, 0001-01-01)
FIRST_YEAR, LAST_YEAR = 1990, 2199
#: numbers in filters are ASCII digits only ("²".isdigit() is true, int("²") fails), short enough
#: for a database integer
_CODE = re.compile(r"[0-9]{1,9}", re.ASCII)
_DB_ID = re.compile(r"[0-9]{1,18}", re.ASCII)


def _text(data: Mapping[str, Any], key: str, limit: int = 200) -> str:
    value = data.get(key)
    if value is None:
        return ""
    return str(value).strip()[:limit]


def _date(data: Mapping[str, Any], key: str) -> dt.date | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        day = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationFailed("invalid_date", _("Not a date (use YYYY-MM-DD): %(value)s"),
                                   value=str(value)[:40], field=key) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValidationFailed("invalid_date", _("The date must lie between the years %(first)d and %(last)d, "
                                                 "got %(value)s."),
                               first=FIRST_YEAR, last=LAST_YEAR, value=day.isoformat(), field=key)
    return day


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


@dataclass(frozen=True)
class AuditFilters:
    """What an auditor can filter on.  Dates are calendar days in Asia/Shanghai, both inclusive."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    code: int | None = None
    domain: str = ""
    outcome: str = ""
    actor: str = ""
    department: str = ""
    object_department: str = ""
    object_type: str = ""
    object_id: str = ""
    request_id: str = ""
    q: str = ""
    #: 读写: "writes" (the audit log, the default), "reads" (the access log, issue 9) or "both"
    log: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> AuditFilters:
        """Build from query parameters / CLI options; bad values raise an error naming the field."""
        data = data or {}
        date_from, date_to = _date(data, "date_from"), _date(data, "date_to")
        if date_from and date_to and date_from > date_to:
            raise ValidationFailed("invalid_date_range", _("The end date is before the start date."),
                                   field="date_to")
        code: int | None = None
        raw_code = data.get("code")
        if raw_code not in (None, ""):
            text = str(raw_code).strip()
            if not _CODE.fullmatch(text) or int(text) <= 0:
                raise ValidationFailed("invalid_code", _("An event code is a number, e.g. 1001: %(value)s"),
                                       value=text[:20], field="code")
            code = int(text)
        domain = _text(data, "domain", 20).lower()
        if domain:
            if _CODE.fullmatch(domain) and int(domain) in DOMAINS:
                domain = DOMAINS[int(domain)]
            if domain not in DOMAINS.values():
                raise ValidationFailed("invalid_domain", _("Unknown domain %(value)s (known: %(known)s)."),
                                       value=domain, known=", ".join(DOMAINS.values()), field="domain",
                                       label=_("audit area"))
        outcome = _text(data, "outcome", 20).lower()
        if outcome and outcome not in AuditEvent.Outcome.values:
            raise ValidationFailed("invalid_choice", _("Unknown outcome %(value)s (known: %(known)s)."),
                                   value=outcome, known=", ".join(AuditEvent.Outcome.values), field="outcome")
        log = _text(data, "log", 10).lower()
        if log and log not in LOGS:
            raise ValidationFailed("invalid_choice", _("Unknown log %(value)s (known: %(known)s)."),
                                   value=log, known=", ".join(LOGS), field="log")
        return cls(date_from=date_from, date_to=date_to, code=code, domain=domain, outcome=outcome, log=log,
                   actor=_text(data, "actor", 150), department=_text(data, "department", 200),
                   object_department=_text(data, "object_department", 200),
                   object_type=_text(data, "object_type", 60), object_id=_text(data, "object_id", 64),
                   request_id=_text(data, "request_id", 36), q=_text(data, "q", 200))

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set (JSON-safe): recorded in audit details, used in links."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, ""):
                continue
            out[f.name] = value.isoformat() if isinstance(value, dt.date) else value
        return out

    def querystring(self) -> str:
        return urlencode(self.as_dict())

    @property
    def reads(self) -> bool:
        return self.log in ("reads", "both")

    @property
    def writes(self) -> bool:
        return self.log != "reads"

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if self.date_from:
            qs = qs.filter(occurred_at__gte=_local_midnight(self.date_from))
        if self.date_to:
            qs = qs.filter(occurred_at__lt=_local_midnight(self.date_to + dt.timedelta(days=1)))
        if self.code is not None:
            qs = qs.filter(code=self.code)
        if self.domain:
            block = next(n for n, name in DOMAINS.items() if name == self.domain)
            qs = qs.filter(code__gte=block * 1000, code__lt=(block + 1) * 1000)
        if self.outcome:
            qs = qs.filter(outcome=self.outcome)
        if self.actor:
            qs = qs.filter(Q(actor_username__icontains=self.actor) | Q(actor_name__icontains=self.actor))
        if self.department:  # the actor's department
            if _DB_ID.fullmatch(self.department):
                qs = qs.filter(department_id=int(self.department))
            else:
                qs = qs.filter(department_name__icontains=self.department)
        if self.object_department:  # the department the object belongs to
            if _DB_ID.fullmatch(self.object_department):
                qs = qs.filter(object_department_id=int(self.object_department))
            else:
                qs = qs.filter(object_department_name__icontains=self.object_department)
        if self.object_type:
            qs = qs.filter(object_type=self.object_type.lower())
        if self.object_id:
            qs = qs.filter(object_id=self.object_id)
        if self.request_id:
            qs = qs.filter(request_id=self.request_id)
        if self.q:
            text = Q(object_repr__icontains=self.q) | Q(actor_name__icontains=self.q) | Q(
                actor_username__icontains=self.q) | Q(detail__icontains=self.q)
            if qs.model is AuditEvent:
                text |= Q(on_behalf_of_name__icontains=self.q) | Q(on_behalf_of_username__icontains=self.q)
            else:  # a read: the path it came through
                text |= Q(path__icontains=self.q)
            escaped = json.dumps(self.q)[1:-1]  # JSON text on SQLite keeps non-ASCII as \uXXXX escapes
            if escaped != self.q:
                text |= Q(detail__icontains=escaped)
            qs = qs.filter(text)
        return qs


# ------------------------------------------------------------------ reading

def _record_as(operator: bool, code: AuditCode, *, actor: Any, **kwargs: Any) -> None:
    """Record ``code``; an operator run names no account (not even one left in the request context)."""
    if operator:
        with context.bind(user=None):
            audit.record(code, actor=None, **kwargs)
    else:
        audit.record(code, actor=actor, **kwargs)


def _operator_detail() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name in some containers
        user = ""
    return {"via": "cli", "os_user": user}


def _readable(actor: Any) -> QuerySet[AuditEvent]:
    require(actor, Capability.READ_AUDIT)
    return restrict(AuditEvent, actor, Action.VIEW)


class BothLogs:
    """Writes and reads together, newest first; counts and slices like a queryset (for paging)."""

    def __init__(self, writes: QuerySet[AuditEvent], reads: QuerySet[AccessEvent]) -> None:
        self.writes, self.reads = writes, reads

    def count(self) -> int:
        return self.writes.count() + self.reads.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Any]:
        start, stop = index.start or 0, index.stop
        assert stop is not None, "page through both logs with a bounded slice"
        writes: list[Any] = list(self.writes.order_by("-occurred_at", "-id")[:stop])
        reads: list[Any] = list(self.reads.order_by("-occurred_at", "-id")[:stop])
        merged = heapq.merge(writes, reads, key=lambda e: e.occurred_at, reverse=True)
        return list(itertools.islice(merged, start, stop))


def _readable_reads(actor: Any) -> QuerySet[AccessEvent]:
    require(actor, Capability.READ_AUDIT)
    return restrict(AccessEvent, actor, Action.VIEW)


def do_search_audit(actor: Any, filters: AuditFilters | Mapping[str, Any] | None = None, *,
                    record: bool = True) -> Any:
    """Auditor-only search, newest first.  ``record=False`` for further pages of the same search
    (the first page already recorded ``AUDIT_VIEWED`` with the filters).

    The 读写 filter (``log``) chooses the writes (a queryset of audit events, the default), the reads
    (of access events) or both (:class:`BothLogs`, rows of both kinds; a read has ``is_read``)."""
    if not isinstance(filters, AuditFilters):
        filters = AuditFilters.parse(filters)
    qs: Any = filters.apply(_readable(actor)).order_by("-id")
    if filters.reads:
        reads = filters.apply(_readable_reads(actor)).order_by("-id")
        qs = reads if filters.log == "reads" else BothLogs(qs, reads)
    if record:
        with transaction.atomic():
            audit.record(AuditCode.AUDIT_VIEWED, actor=actor, detail={"filters": filters.as_dict()})
    return qs


def do_view_audit_event(actor: Any, event_id: int, *, log: str = "write") -> Any:
    """One event of the audit log (``log="write"``) or of the access log (``"read"``: the two logs number their rows
    each on its own): the same 404 for a missing event and for a non-auditor (the denial is audited)."""
    model: Any = AccessEvent if log == "read" else AuditEvent
    event = get_for(actor, Action.VIEW, model, pk=event_id)
    with transaction.atomic():
        audit.record(AuditCode.AUDIT_VIEWED, actor=actor, object_type=model._meta.label_lower, object_id=str(event.pk),
                     object_repr=f"#{event.pk} {event.code} {event.action}")
    return event


EXPORT_COLUMNS = (
    ("id", _("ID")),
    ("occurred_at", _("Time (Asia/Shanghai)")),
    ("code", _("Code")),
    ("label", _("Event")),
    ("action", _("Event identifier")),
    ("domain", _("Domain")),
    ("outcome", _("Outcome")),
    ("actor_username", _("User name")),
    ("actor_name", _("Real name")),
    ("department_name", _("Department (of the user)")),
    ("on_behalf_of_username", _("On behalf of (user name)")),
    ("on_behalf_of_name", _("On behalf of (real name)")),
    ("object_department_name", _("Department of the object")),
    ("object_type", _("Object type")),
    ("object_id", _("Object ID")),
    ("object_repr", _("Object")),
    ("ip", _("IP address")),
    ("request_id", _("Request ID")),
    ("changes", _("Changes (before, after)")),
    ("detail", _("Detail")),
    ("row_hash", _("Row hash")),
)


#: columns added when the export includes reads (the 读写 filter, issue 9)
READ_COLUMNS = (
    ("log", _("Read or write")),
    ("method", _("Method")),
    ("path", _("Path")),
    ("status", _("Status")),
    ("results", _("Results")),
    ("token_id", _("API token")),
)


def export_row(event: AuditEvent | AccessEvent, *, with_reads: bool = False) -> list[Any]:
    values = []
    for key, _label in EXPORT_COLUMNS:
        if key == "domain":
            values.append(str(domain_label(domain_of(event.code))))
        elif key == "label":
            values.append(str(event.label))
        elif key == "outcome":
            values.append(str(event.get_outcome_display()))
        else:
            values.append(getattr(event, key, ""))  # a read has no changes and acts for no one
    if with_reads:
        is_read = isinstance(event, AccessEvent)
        values.append(str(_("Read") if is_read else _("Write")))
        values.extend(getattr(event, key) if is_read else "" for key, _label in READ_COLUMNS[1:])
    return values


@dataclass
class AuditExport:
    """A recorded export: the rows are fixed at the moment of export (ids up to ``max_id``)."""

    fmt: str
    count: int
    max_id: int
    filters: AuditFilters
    queryset: QuerySet[AuditEvent] | None
    filename_stem: str
    #: the reads asked for with the 读写 filter (issue 9), after the writes
    reads: QuerySet[AccessEvent] | None = None

    def header(self) -> list[str]:
        columns = EXPORT_COLUMNS + (READ_COLUMNS if self.reads is not None else ())
        return exports.header_texts(label for _key, label in columns)

    def rows(self) -> Iterator[list[Any]]:
        """Rows in chain order (the writes, then the reads), read in keyset batches (no long-open
        cursor, constant memory)."""
        with_reads = self.reads is not None
        sources: tuple[QuerySet[Any] | None, ...] = (self.queryset, self.reads)
        for qs in sources:
            if qs is None:
                continue
            last = 0
            while True:
                batch = list(qs.filter(id__gt=last).order_by("id")[:EXPORT_BATCH])
                if not batch:
                    break
                for event in batch:
                    yield export_row(event, with_reads=with_reads)
                last = batch[-1].id

    def response(self) -> Any:
        return exports.export_response(self.fmt, self.filename_stem, self.header(), self.rows(),
                                       sheet_title="audit")

    def write(self, out: Any) -> int:
        return exports.write_file(self.fmt, out, self.header(), self.rows(), sheet_title="audit")


def do_export_audit(actor: Any, filters: AuditFilters | Mapping[str, Any] | None, fmt: str, *,
                    operator: bool = False) -> AuditExport:
    """Record ``AUDIT_EXPORTED`` (filters, format, row count) and return the export to stream.

    ``operator=True`` is the console (``govshare audit export``): whoever runs it on the server
    already holds the database credentials; the event then names the OS user instead of an account.
    """
    fmt = exports.check_format(fmt)
    if not isinstance(filters, AuditFilters):
        filters = AuditFilters.parse(filters)
    base = AuditEvent.objects.all() if operator else _readable(actor)
    reads: QuerySet[AccessEvent] | None = None
    if filters.reads:
        reads = AccessEvent.objects.all() if operator else _readable_reads(actor)
    with transaction.atomic():
        max_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        qs: QuerySet[AuditEvent] | None = filters.apply(base).filter(id__lte=max_id) if filters.writes else None
        count = qs.count() if qs is not None else 0
        detail: dict[str, Any] = {"format": fmt, "filters": filters.as_dict(), "rows": count, "max_id": max_id}
        if reads is not None:
            max_read = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
            reads = filters.apply(reads).filter(id__lte=max_read)
            read_count = reads.count()
            count += read_count
            detail.update(rows=count, reads=read_count, max_read_id=max_read)
        if operator:
            detail.update(_operator_detail())
        _record_as(operator, AuditCode.AUDIT_EXPORTED, actor=actor, detail=detail)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return AuditExport(fmt=fmt, count=count, max_id=max_id, filters=filters, queryset=qs,
                       filename_stem=f"audit-{stamp}", reads=reads)


# ------------------------------------------------------------------ verification

@dataclass
class VerifyReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    code: int | None = None
    action: str = ""
    occurred_at: dt.datetime | None = None
    reason: str = ""  # "link", "content", "anchor", "head" or ""
    error: ValidationFailed | None = field(default=None, repr=False)
    #: rows of the access log (reads, issue 9) checked; ``chain`` names the broken chain: "audit" or "access"
    reads_checked: int = 0
    chain: str = "audit"

    @property
    def message(self) -> str:
        if self.ok and self.reads_checked:
            return str(_("The audit chain is intact: %(count)d rows checked, and the access log's chain: "
                         "%(reads)d rows.") % {"count": self.checked, "reads": self.reads_checked})
        if self.ok:
            return str(_("The audit chain is intact: %(count)d rows checked.") % {"count": self.checked})
        return self.error.render() if self.error else ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "checked": self.checked, "first_broken_id": self.first_broken_id,
                                "code": self.code, "action": self.action,
                                "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
                                "reason": self.reason, "reads_checked": self.reads_checked, "chain": self.chain}
        if self.error is not None:
            body["error"] = self.error.as_dict()
        return body


_BROKEN_MESSAGES = {
    "link": _("Audit row %(row_id)s (code %(code)s %(action)s, %(time)s) is broken: its link to the previous row "
              "does not match, so a row before it was deleted or rewritten."),
    "content": _("Audit row %(row_id)s (code %(code)s %(action)s, %(time)s) is broken: its content does not match "
                 "its hash, so it was changed after it was written."),
}


_BROKEN_ACCESS_MESSAGES = {
    "link": _("Access-log row %(row_id)s (code %(code)s %(action)s, %(time)s) is broken: its link to the previous "
              "row does not match, so a row before it was deleted or rewritten."),
    "content": _("Access-log row %(row_id)s (code %(code)s %(action)s, %(time)s) is broken: its content does not "
                 "match its hash, so it was changed after it was written."),
}


def _check_access_chain(checked: int, progress: Any = None) -> VerifyReport:
    """The access log's own chain (reads, issue 9: SEC-4, LN-§23), after the audit chain held."""
    result = access_log.verify(progress=progress)
    if result.ok:
        return VerifyReport(True, checked, reads_checked=result.checked)
    row = AccessEvent.objects.filter(pk=result.first_broken_id or 0).first()
    kind = _classify(result.reason)
    when = timezone.localtime(row.occurred_at).strftime("%Y-%m-%d %H:%M:%S") if row else "?"
    error = ValidationFailed("access_chain_broken", _BROKEN_ACCESS_MESSAGES[kind], row_id=result.first_broken_id,
                             code=row.code if row else "?", action=row.action if row else "", time=when)
    return VerifyReport(False, checked, first_broken_id=result.first_broken_id, code=row.code if row else None,
                        action=row.action if row else "", occurred_at=row.occurred_at if row else None,
                        reason=kind, error=error, reads_checked=result.checked, chain="access")


def _classify(reason: str) -> str:
    return "link" if reason.startswith("link") else "content"


def _anchor_explained(anchor: AuditAnchor | AccessAnchor | None, prefix: str) -> bool:
    """Whether a chain's anchor is the genesis or the one the newest ``AUDIT_PURGED`` event (inside
    the keyed audit chain) recorded — ``prefix`` "" for the audit chain's, "access_" for the access
    log's.  An anchor nobody purged to is how removed oldest rows would be hidden."""
    if anchor is None or (not anchor.last_purged_id and anchor.last_purged_hash == audit.GENESIS):
        return True
    purge = (AuditEvent.objects.filter(code=AuditCode.AUDIT_PURGED).order_by("-id")
             .values_list("detail", flat=True).first())
    return purge is not None and purge.get(f"{prefix}last_purged_hash") == anchor.last_purged_hash and int(
        purge.get(f"{prefix}last_purged_id") or 0) == anchor.last_purged_id


def _check_anchor() -> VerifyReport | None:
    """After a purge the chain starts at the anchor; the anchor must agree with the newest
    ``AUDIT_PURGED`` event, which carries the purged row's hash inside the chain itself."""
    anchor = AuditAnchor.objects.filter(pk=1).first()
    if _anchor_explained(anchor, ""):
        return None
    assert anchor is not None
    error = ValidationFailed("audit_anchor_mismatch",
                             _("The audit chain's starting point (rows up to %(row_id)s removed) does not match "
                               "the last recorded purge: rows were removed outside `govshare audit purge`."),
                             row_id=anchor.last_purged_id)
    return VerifyReport(False, 0, first_broken_id=anchor.last_purged_id, reason="anchor", error=error)


def _check_access_anchor() -> VerifyReport | None:
    """The access log's anchor, cross-checked the same way: the newest ``AUDIT_PURGED`` event carries
    it as ``access_last_purged_id``/``access_last_purged_hash`` (issue 9)."""
    anchor = AccessAnchor.objects.filter(pk=1).first()
    if _anchor_explained(anchor, "access_"):
        return None
    assert anchor is not None
    error = ValidationFailed("access_anchor_mismatch",
                             _("The access log's starting point (rows up to %(row_id)s removed) does not match "
                               "the last recorded purge: rows were removed outside `govshare audit purge`."),
                             row_id=anchor.last_purged_id)
    return VerifyReport(False, 0, first_broken_id=anchor.last_purged_id, reason="anchor", error=error,
                        chain="access")


def check_chain(progress: Any = None) -> VerifyReport:
    """Verify the whole chain and describe the first broken row (no audit record; see do_verify_audit)."""
    result = audit.verify(progress=progress)
    if result.ok:
        anchor_problem = _check_anchor() or _check_access_anchor()
        if anchor_problem is not None:
            anchor_problem.checked = result.checked
            return anchor_problem
        return _check_access_chain(result.checked)
    row = AuditEvent.objects.filter(pk=result.first_broken_id or 0).first()
    kind = _classify(result.reason)
    when = timezone.localtime(row.occurred_at).strftime("%Y-%m-%d %H:%M:%S") if row else "?"
    error = ValidationFailed("audit_chain_broken", _BROKEN_MESSAGES[kind], row_id=result.first_broken_id,
                             code=row.code if row else "?", action=row.action if row else "", time=when)
    return VerifyReport(False, result.checked, first_broken_id=result.first_broken_id,
                        code=row.code if row else None, action=row.action if row else "",
                        occurred_at=row.occurred_at if row else None, reason=kind, error=error)


def _record_verification(report: VerifyReport, *, actor: Any, operator: bool = False,
                         extra: dict[str, Any] | None = None) -> None:
    detail = {"ok": report.ok, "checked": report.checked, "first_broken_id": report.first_broken_id,
              "reason": report.reason, **(extra or {})}
    if report.reads_checked or report.chain != "audit":
        detail.update(reads_checked=report.reads_checked, chain=report.chain)
    with transaction.atomic():
        _record_as(operator, AuditCode.AUDIT_VERIFIED, actor=actor, outcome="success" if report.ok else "failure",
                   detail=detail)


_HASH = re.compile(r"[0-9a-f]{64}", re.ASCII)
#: the chains ``govshare audit head`` names: the audit log (writes) and the access log (reads, issue 9)
HEAD_CHAINS = ("audit", "access")


def format_heads() -> str:
    """Both chains' heads on one line, ``audit=ID:HASH access=ID:HASH`` — what ``govshare audit head``
    prints and ``verify --expect-head`` reads back (an empty chain is ``0:000…``)."""
    audit_head = audit.head() or (0, audit.GENESIS)
    access_head = access_log.head()
    return f"audit={audit_head[0]}:{audit_head[1]} access={access_head[0]}:{access_head[1]}"


def parse_heads(expected: str) -> dict[str, tuple[int, str]]:
    """``audit=ID:HASH access=ID:HASH`` (either may be left out); a bare ``ID:HASH`` — noted before the
    access log existed — is the audit chain's."""
    heads: dict[str, tuple[int, str]] = {}
    for token in expected.replace(",", " ").split():
        name, sep, value = token.partition("=")
        if not sep:
            name, value = "audit", token
        row_id, _sep, row_hash = value.partition(":")
        if name not in HEAD_CHAINS or name in heads or not _DB_ID.fullmatch(row_id) or not _HASH.fullmatch(row_hash):
            heads.clear()
            break
        heads[name] = (int(row_id), row_hash)
    if not heads:
        raise ValidationFailed("invalid_head", _("The expected head must be as printed by `govshare audit head`: "
                                                 "audit=ID:HASH access=ID:HASH."), field="--expect-head")
    return heads


def check_head(expected: str) -> VerifyReport | None:
    """``expected`` was noted earlier from ``govshare audit head``: each named row must still be there
    with that hash — otherwise rows at the end of that chain were removed or rewritten."""
    heads = parse_heads(expected)
    if "audit" in heads:
        row_id, row_hash = heads["audit"]
        anchor = AuditAnchor.objects.filter(pk=1).first()
        purged = row_id == 0 or (anchor is not None and row_id <= anchor.last_purged_id)
        # purged by retention since it was noted: the anchor check covers that part
        if not purged and AuditEvent.objects.filter(pk=row_id).values_list("row_hash", flat=True).first() != row_hash:
            error = ValidationFailed("audit_head_missing",
                                     _("Audit row %(row_id)s, noted as the head of the chain, is missing or changed: "
                                       "rows at the end of the log were removed or rewritten."), row_id=row_id)
            return VerifyReport(False, 0, first_broken_id=row_id, reason="head", error=error)
    if "access" in heads:
        row_id, row_hash = heads["access"]
        access_anchor = AccessAnchor.objects.filter(pk=1).first()
        purged = row_id == 0 or (access_anchor is not None and row_id <= access_anchor.last_purged_id)
        if not purged and AccessEvent.objects.filter(pk=row_id).values_list("row_hash", flat=True).first() != row_hash:
            error = ValidationFailed("access_head_missing",
                                     _("Access-log row %(row_id)s, noted as the head of the access log, is missing or "
                                       "changed: rows at the end of the access log were removed or rewritten."),
                                     row_id=row_id)
            return VerifyReport(False, 0, first_broken_id=row_id, reason="head", error=error, chain="access")
    return None


def do_verify_audit(actor: Any, *, operator: bool = False, expect_head: str | None = None) -> VerifyReport:
    """Check the whole chain now and record ``AUDIT_VERIFIED`` with the result."""
    if not operator:
        require(actor, Capability.READ_AUDIT)
    report = check_chain()
    if report.ok and expect_head:
        head_problem = check_head(expect_head)
        if head_problem is not None:
            head_problem.checked, head_problem.reads_checked = report.checked, report.reads_checked
            report = head_problem
    _record_verification(report, actor=actor, operator=operator, extra=_operator_detail() if operator else None)
    return report


@transaction.atomic
def _create_verify_job(actor: Any) -> Job:
    job = jobs.create_job(VERIFY_JOB, _("Verify the audit chain"), {}, user=actor)
    audit.record(AuditCode.JOB_CREATED, actor=actor, obj=job, detail={"kind": VERIFY_JOB})
    return job


def do_start_audit_verify(actor: Any) -> Job:
    """Verify a long chain in the background; the job shows progress and records the result."""
    require(actor, Capability.READ_AUDIT)
    return _create_verify_job(actor)


@jobs.handler(VERIFY_JOB)
def _verify_job(ctx: jobs.JobContext) -> dict[str, Any]:
    total = AuditEvent.objects.count()
    ctx.progress(0, total, _("Verifying the audit chain"))
    report = check_chain(progress=lambda done: ctx.progress(done, total))
    ctx.progress(report.checked, total, report.message)
    _record_verification(report, actor=ctx.job.created_by, extra={"job": str(ctx.job.pk)})
    return report.as_dict()


# ------------------------------------------------------------------ retention

def _months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same wall-clock time ``months`` calendar months earlier (Asia/Shanghai), day clamped."""
    local = timezone.localtime(moment)
    years, month0 = divmod(local.month - 1 - months, 12)
    year, month = local.year + years, month0 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    naive = local.replace(tzinfo=None).replace(year=year, month=month, day=day)
    return timezone.make_aware(naive, timezone.get_default_timezone())


def _period_cutoff(period: Any, now: dt.datetime) -> dt.datetime:
    if period.unit == "months":
        return _months_before(now, period.amount)
    if period.unit == "calendar_days":
        return now - dt.timedelta(days=period.amount)
    # working days: two calendar days per working day is always at least as long (never purges early)
    return now - dt.timedelta(days=2 * period.amount)


@dataclass(frozen=True)
class RetentionRule:
    cutoff: dt.datetime
    profile: str
    amount: int
    unit: str
    source: str
    profiles: tuple[str, ...]


def retention_rule(now: dt.datetime | None = None) -> RetentionRule:
    """The longest audit-log retention among the platform profile, every jurisdiction's profile
    and the national floor: rows older than ``cutoff`` may go."""
    now = now or timezone.now()
    names = {platform_profile().name}
    names.update(Jurisdiction.objects.values_list("policy_profile", flat=True).distinct())
    if FLOOR_PROFILE in available_profiles():
        names.add(FLOOR_PROFILE)
    best: RetentionRule | None = None
    for name in sorted(names):
        profile = get_profile(name)
        period = profile.retention.get("audit_log")
        if period is None:
            raise ValidationFailed("missing_retention", _("The profile %(profile)s does not define an audit-log "
                                                          "retention."), profile=name,
                                   where="retention.audit_log")
        cutoff = _period_cutoff(period, now)
        if best is None or cutoff < best.cutoff:
            best = RetentionRule(cutoff, name, period.amount, period.unit, period.source, ())
    assert best is not None
    return RetentionRule(best.cutoff, best.profile, best.amount, best.unit, best.source, tuple(sorted(names)))


@dataclass
class PurgeResult:
    rule: RetentionRule
    deleted: int
    last_purged_id: int | None
    dry_run: bool
    #: the access log's rows (reads, issue 9) deleted under the same rule, and the newest of them
    reads_deleted: int = 0
    reads_last_purged_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": self.rule.cutoff.isoformat(), "retention": f"{self.rule.amount} {self.rule.unit}",
                "profile": self.rule.profile, "source": self.rule.source, "profiles": list(self.rule.profiles),
                "deleted": self.deleted, "last_purged_id": self.last_purged_id, "dry_run": self.dry_run,
                "reads_deleted": self.reads_deleted, "reads_last_purged_id": self.reads_last_purged_id}


def _expired(model: type[AuditEvent] | type[AccessEvent], cutoff: dt.datetime) -> tuple[Any, dict[str, Any] | None]:
    """The chain's prefix older than ``cutoff`` — up to the first row still inside the retention
    period — as (rows, newest of them); the newest row is named by id, so a row appended meanwhile
    is never part of it."""
    boundary = (model.objects.filter(occurred_at__gte=cutoff).order_by("id")
                .values_list("id", flat=True).first())
    candidates = model.objects.all() if boundary is None else model.objects.filter(id__lt=boundary)
    last = candidates.order_by("-id").values("id", "row_hash").first()
    if last is None:
        return model.objects.none(), None
    return model.objects.filter(id__lte=last["id"]), {"id": last["id"], "row_hash": last["row_hash"]}


def do_purge_audit(actor: Any = None, *, operator: bool = False, now: dt.datetime | None = None,
                   dry_run: bool = False) -> PurgeResult:
    """Delete audit rows and access-log rows older than the longest retention, oldest first, and
    move each chain's anchor.

    Only the operator (``govshare audit purge``, a scheduled run) purges: administrators cannot
    alter the log and auditors change nothing.  Rows are removed as a prefix of the chain — up to
    the first row that is still inside the retention period — so a row younger than the minimum
    is never deleted, and ``verify`` starts from the anchor afterwards.  A broken chain is not
    purged: the evidence would go with it.  The ``AUDIT_PURGED`` event carries both anchors (the
    audit chain's as ``last_purged_id``/``last_purged_hash``, the access log's with the prefix
    ``access_``), so ``verify`` can tell an anchor moved by anyone else.
    """
    if not operator:
        audit.record_now(AuditCode.PERMISSION_DENIED, actor=actor, outcome="denied",
                         detail={"action": "audit_purge"})
        raise Forbidden("audit_purge_operator_only",
                        _("Only the operator may purge expired audit rows (govshare audit purge)."))
    now = now or timezone.now()
    rule = retention_rule(now)
    report = check_chain()
    if not report.ok:
        assert report.error is not None
        raise Conflict("audit_chain_broken", _("Not purged, the chain must be intact first: %(problem)s"),
                       problem=report.error.render())
    with transaction.atomic():
        audit._lock_chain()  # appends wait until the anchor has moved
        doomed, last = _expired(AuditEvent, rule.cutoff)
        doomed_reads, last_read = _expired(AccessEvent, rule.cutoff)
        if last is None and last_read is None:
            return PurgeResult(rule, 0, None, dry_run)
        result = PurgeResult(rule, doomed.count() if last else 0, last["id"] if last else None, dry_run,
                             reads_deleted=doomed_reads.count() if last_read else 0,
                             reads_last_purged_id=last_read["id"] if last_read else None)
        if dry_run:
            return result
        # QuerySet deletion never calls AuditEvent.delete() / AccessEvent.delete() (which refuse by
        # design); the raw delete is one statement and fires no per-row signals.  The DB triggers
        # forbid UPDATE only.  Access rows are appended without the audit lock: deleting a prefix
        # named by id never touches the head they chain onto (an emptied log's head is the anchor).
        if last is not None:
            doomed._raw_delete(doomed.db)
            AuditAnchor.objects.update_or_create(pk=1, defaults={
                "last_purged_id": last["id"], "last_purged_hash": last["row_hash"], "purged_at": now})
        if last_read is not None:
            doomed_reads._raw_delete(doomed_reads.db)
            AccessAnchor.objects.update_or_create(pk=1, defaults={
                "last_purged_id": last_read["id"], "last_purged_hash": last_read["row_hash"], "purged_at": now})
        anchor = AuditAnchor.objects.filter(pk=1).values("last_purged_id", "last_purged_hash").first() or {
            "last_purged_id": 0, "last_purged_hash": audit.GENESIS}
        access_anchor = AccessAnchor.objects.filter(pk=1).values("last_purged_id", "last_purged_hash").first() or {
            "last_purged_id": 0, "last_purged_hash": access_log.GENESIS}
        detail = {**result.as_dict(), "last_purged_id": anchor["last_purged_id"],
                  "last_purged_hash": anchor["last_purged_hash"],
                  "access_last_purged_id": access_anchor["last_purged_id"],
                  "access_last_purged_hash": access_anchor["last_purged_hash"]}
        if actor is None:
            detail.update(_operator_detail())
        _record_as(actor is None, AuditCode.AUDIT_PURGED, actor=actor, detail=detail)
    access_log.forget_head()
    return result


def get_event_or_404(actor: Any, event_id: Any) -> AuditEvent:
    try:
        pk = int(event_id)
    except (TypeError, ValueError):
        raise NotFound("auditevent") from None
    return do_view_audit_event(actor, pk)
