"""Front-end databases (前置库, EXC-6 system docking): a department administrator registers the database
the centre reads its shared tables from, changes it, tests the connection, deactivates it.

Every problem of a form is reported at once.  Addresses and paths pass :mod:`govshare.exchange.guard`
before anything is saved or any connection is opened; a refusal is recorded (SOURCE_REFUSED) even
though nothing is saved.  The password is stored encrypted and never shown again.

``do_test_source`` talks to the source outside any transaction (a slow network must not hold database
locks), then records the result and its audit event in one short transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions import required_text
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability, Role
from govshare.exchange import guard
from govshare.exchange.engine import sources as engine
from govshare.exchange.engine import tls as engine_tls
from govshare.exchange.models import DataSource
from govshare.exchange.permissions import USE
from govshare.exchange.sources import SourceUnusable, explain, spec_for

#: bounds of the timeouts a source may have (seconds)
CONNECT_TIMEOUT = (1, 120)
STATEMENT_TIMEOUT = (1, 86400)
HOST_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]")


def _text(value: Any, field: str, max_len: int, *, required: bool = False) -> str:
    """The catalog's text rule (trimmed, no control characters, bounded); empty allowed unless ``required``."""
    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return ""
    return required_text(value, field, max_len)


def _password(value: Any) -> str:
    """A password as typed (spaces kept: they are part of it); no NUL, at most 200 characters."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise ValidationFailed("control_characters", _("Remove the control characters (such as NUL) from this text."),
                               field="password")
    if len(text) > 200:
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field="password", max=200)
    return text


def _number(value: Any, field: str, bounds: tuple[int, int], *, optional: bool = False) -> int | None:
    if value in (None, "") and optional:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("invalid", _("Give a whole number."), field=field) from None
    low, high = bounds
    if not low <= number <= high:
        raise ValidationFailed("out_of_range", _("Give a number from %(low)s to %(high)s."), field=field,
                               low=low, high=high)
    return number


def _choice(value: Any, field: str, choices: type[Any]) -> str:
    if value not in choices.values:
        raise ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field=field,
                               choices=", ".join(choices.values))
    return str(value)


#: what is wrong with pasted CA certificates, by :class:`engine_tls.CertificateError` code
CERTIFICATE_PROBLEMS: dict[str, Any] = {
    "too_long": _("At most %(max)s characters: paste the CA certificates only."),
    "not_text": _("Paste the certificates as PEM text (-----BEGIN CERTIFICATE----- …), not a binary file."),
    "no_certificate": _("No certificate found: paste PEM text that starts with -----BEGIN CERTIFICATE-----."),
    "private_key": _("This is a private key: never paste a key anywhere. Paste the CA's certificate instead, and "
                     "ask whoever holds the key to replace it if it may have been seen."),
    "not_certificate": _("Block %(number)s is a %(kind)s, not a certificate."),
    "unreadable": _("Certificate %(number)s cannot be read: %(detail)s"),
    "too_many": _("At most %(max)s certificates."),
}


def _certificates(value: Any) -> str:
    """Pasted CA certificates, kept as just their PEM blocks; empty: none (the system's CAs for verify-full)."""
    text = value if isinstance(value, str) else ""
    if not text.strip():
        return ""
    try:
        return engine_tls.read_certificates(text.replace("\r\n", "\n"))[0]
    except engine_tls.CertificateError as exc:
        raise ValidationFailed(f"tls_ca_{exc.code}", CERTIFICATE_PROBLEMS[exc.code], field="tls_ca",
                               number=exc.number or "", kind=exc.detail, detail=exc.detail or "—",
                               max=engine_tls.MAX_CERTIFICATES if exc.code == "too_many"
                               else engine_tls.MAX_PEM_CHARS) from None


def fingerprints(pem: str) -> list[str]:
    """The SHA-256 fingerprints of stored CA certificates (what the audit records of a change)."""
    return [cert.sha256 for cert in engine_tls.read_certificates(pem)[1]] if pem else []


@dataclass
class _Fields:
    values: dict[str, Any]
    problems: list[GovshareError]

    def take(self, field: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            value = fn(*args, **kwargs)
        except ValidationFailed as exc:
            self.problems.append(exc)
            return None
        self.values[field] = value
        return value


def _check(fields: dict[str, Any], *, actor: Any, department: Any, current: DataSource | None) -> dict[str, Any]:
    """Every field of a new or changed source checked at once; the address last (it resolves the host)."""
    out = _Fields({}, [])
    out.take("name", _text, fields.get("name"), "name", 200, required=True)
    out.take("description", _text, fields.get("description"), "description", 500)
    code = out.take("code", _text, fields.get("code"), "code", 40, required=True)
    if code and (not code.isascii() or not all(ch.isalnum() or ch in "-_." for ch in code)):
        out.problems.append(ValidationFailed("invalid_code", _("Use letters, digits, '-', '_' and '.' only."),
                                             field="code"))
    kind = out.take("kind", _choice, fields.get("kind"), "kind", DataSource.Kind)
    out.take("connect_timeout", _number, fields.get("connect_timeout", 10), "connect_timeout", CONNECT_TIMEOUT)
    out.take("statement_timeout", _number, fields.get("statement_timeout", 600), "statement_timeout",
             STATEMENT_TIMEOUT)
    receives = fields.get("receives_deliveries", False)
    if not isinstance(receives, bool):
        out.problems.append(ValidationFailed("invalid_choice", _("Choose yes or no."), field="receives_deliveries"))
    else:
        out.values["receives_deliveries"] = receives
    if kind == DataSource.Kind.SQLITE:
        out.values.update(host="", port=None, username="", tls=DataSource.Tls.DISABLE, tls_ca="")
        path = out.take("database", _text, fields.get("database"), "database", 255, required=True)
        if path:
            _address(out, actor, department, guard.stored_sqlite_path, path, field="database")
    elif kind:
        host = out.take("host", _text, fields.get("host"), "host", 253, required=True)
        if host and not set(host) <= HOST_CHARACTERS:
            out.problems.append(ValidationFailed("invalid_host", _("A host is a name or an IP address (letters, "
                                                                   "digits, '.', '-', ':')."), field="host"))
            host = None
        port = out.take("port", _number, fields.get("port"), "port", (1, 65535), optional=True)
        out.take("database", _text, fields.get("database"), "database", 255, required=True)
        out.take("username", _text, fields.get("username"), "username", 120, required=True)
        mode = out.take("tls", _choice, fields.get("tls") or DataSource.Tls.PREFER, "tls", DataSource.Tls)
        ca = out.take("tls_ca", _certificates, fields.get("tls_ca"))
        if ca and mode and mode not in engine_tls.VERIFYING:
            out.problems.append(ValidationFailed(
                "tls_ca_unused", _("CA certificates are used only to check the server's certificate: choose a TLS "
                                   "setting that checks it, or remove them."), field="tls_ca"))
        if ca == "" and mode == DataSource.Tls.VERIFY_CA:
            out.problems.append(ValidationFailed(
                "tls_ca_missing", _("This setting checks the server's certificate against your CA: paste the CA's "
                                    "certificate (any public CA's certificate would pass otherwise)."),
                field="tls_ca"))
        if host and not any(p.field == "port" for p in out.problems):
            _address(out, actor, department, guard.checked_address, kind, host, port, field="host")
    password = fields.get("password")
    if password is not None and kind != DataSource.Kind.SQLITE:
        out.take("password", _password, password)
    if code and not any(p.field == "code" for p in out.problems):
        same = DataSource.objects.filter(code__iexact=code)
        if current is not None:
            same = same.exclude(pk=current.pk)
        if same.exists():
            out.problems.append(Conflict("duplicate_code", _("A front-end database with the code %(code)s exists "
                                                             "already."), field="code", code=code))
    name = out.values.get("name")
    if name:
        same = DataSource.objects.filter(department=department, name=name)
        if current is not None:
            same = same.exclude(pk=current.pk)
        if same.exists():
            out.problems.append(Conflict("duplicate_name", _("Your department has a front-end database named "
                                                             "%(name)s already."), field="name", name=name))
    if out.problems:
        if len(out.problems) == 1:
            raise out.problems[0]
        raise ManyProblems(out.problems)
    return out.values


def _address(out: _Fields, actor: Any, department: Any, fn: Any, *args: Any, field: str) -> None:
    try:
        value = fn(*args)
    except guard.AddressRefused as exc:
        audit.record_now(AuditCode.SOURCE_REFUSED, actor=actor, outcome="denied", object_department=department,
                         detail={"reason": exc.reason, "field": field, "value": str(args[-1] if field == "database"
                                                                                     else args[1])[:255]})
        out.problems.append(exc)
    except ValidationFailed as exc:
        out.problems.append(exc)
    else:
        if field == "database":
            out.values["database"] = value


@transaction.atomic
def do_register_source(actor: Any, *, department: Any = None, **fields: Any) -> DataSource:
    """Register a front-end database of the actor's department (the centre administrator: of ``department``).

    ``fields``: name, code, kind, host, port, database, username, password, tls, tls_ca, connect_timeout,
    statement_timeout, description, receives_deliveries (the department's grants may be delivered into it)."""
    require(actor, Capability.MANAGE_SOURCES)
    dept = department if department is not None and actor.has_role(Role.CENTRE_ADMIN) else actor.department
    if dept is None:
        raise ValidationFailed("no_department", _("Your account belongs to no department."), field="department")
    values = _check(fields, actor=actor, department=dept, current=None)
    password = values.pop("password", "") or ""
    source = DataSource(department=dept, created_by=actor, **values)
    source.set_password(password)
    source.save()
    audit.record(AuditCode.SOURCE_REGISTERED, actor=actor, obj=source, object_department=dept,
                 detail={"code": source.code, "kind": source.kind, "address": source.address_text(),
                         "password": "set" if password else "none", "tls": source.tls,
                         **({"tls_ca": fingerprints(source.tls_ca)} if source.tls_ca else {})})
    return source


EDITABLE = ("name", "description", "kind", "host", "port", "database", "username", "tls", "tls_ca",
            "connect_timeout", "statement_timeout", "receives_deliveries")


@transaction.atomic
def do_change_source(actor: Any, source: DataSource, *, password: str | None = None, **changes: Any) -> DataSource:
    """Change a source.  ``password``: None keeps the stored one, "" removes it, text replaces it.
    The code never changes (bindings and audit rows name it)."""
    source = get_for(actor, Action.CHANGE, DataSource.objects.select_for_update(), pk=source.pk)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed("unknown_field", _("%(fields)s cannot be changed."), fields=", ".join(sorted(unknown)))
    fields = {name: getattr(source, name) for name in EDITABLE} | {"code": source.code} | changes
    if password is not None:
        fields["password"] = password
    values = _check(fields, actor=actor, department=source.department, current=source)
    new_password = values.pop("password", None)
    diff: dict[str, list[Any]] = {}
    for name in EDITABLE:
        if name in values and values[name] != getattr(source, name):
            # certificates by their fingerprints: what a reader of the audit log compares
            diff[name] = [fingerprints(getattr(source, name)), fingerprints(values[name])] if name == "tls_ca" \
                else [getattr(source, name), values[name]]
            setattr(source, name, values[name])
    if {"kind", "host", "port", "database"} & set(diff) and source.bindings.filter(mode="log").exists():
        # a replication slot lives on the server as it was: moving the binding's source would leave it there,
        # unwatched, keeping that server's log for ever
        raise ValidationFailed("source_has_slots", _("Bindings of this database copy from its log through a "
                                                     "replication slot there: switch them out of log mode first."),
                               field="host")
    if {"kind", "host", "port", "database"} & set(diff) and source.deliveries.filter(is_active=True).exists():
        # the tables delivered there, their positions and receipts live in that database: pointing the source
        # elsewhere would start writing grants' data into another database
        raise ValidationFailed("source_has_deliveries", _("Grants are delivered into tables of this database: pause "
                                                          "those deliveries first."), field="host")
    if source.kind == DataSource.Kind.SQLITE and source.password_encrypted:
        new_password = ""
    if new_password is not None and (new_password != source.password()):
        diff["password"] = ["***" if source.has_password else "", "***" if new_password else ""]
        source.set_password(new_password)
    if diff:
        source.updated_at = timezone.now()
        if {"kind", "host", "port", "database", "username", "password", "tls", "tls_ca"} & set(diff):
            source.last_test_ok = None  # what was tested is no longer what is registered
            source.last_test_code = ""
        source.save()
        audit.record(AuditCode.SOURCE_CHANGED, actor=actor, obj=source, object_department=source.department,
                     changes=diff)
    return source


@transaction.atomic
def do_set_source_active(actor: Any, source: DataSource, active: bool) -> DataSource:
    source = get_for(actor, Action.CHANGE, DataSource.objects.select_for_update(), pk=source.pk)
    if source.is_active != active:
        source.is_active = active
        source.updated_at = timezone.now()
        source.save(update_fields=["is_active", "updated_at"])
        audit.record(AuditCode.SOURCE_ACTIVATED if active else AuditCode.SOURCE_DEACTIVATED, actor=actor,
                     obj=source, object_department=source.department)
    return source


@dataclass(frozen=True)
class SourceTest:
    """The answer of "test connection": ``error`` is None when it worked."""

    source: DataSource
    ok: bool
    code: str
    error: GovshareError | None
    report: engine.ConnectionReport | None
    elapsed_ms: int


def do_test_source(actor: Any, source: DataSource, *, operator: bool = False) -> SourceTest:
    """Connect (read-only), read the server's version and count the tables the user sees; record the answer
    on the source and in the audit log (SOURCE_TESTED, outcome success or failure).  ``operator``: the
    machine operator at the console (``govshare exchange test``; no user, the audit row names none)."""
    if operator:
        actor = None
        source = DataSource.objects.select_related("department").get(pk=source.pk)
    else:
        source = get_for(actor, USE, DataSource.objects.select_related("department"), pk=source.pk)
    started = time.monotonic()
    report: engine.ConnectionReport | None = None
    error: GovshareError | None = None
    try:
        spec = spec_for(source)
        report = engine.test_connection(spec)
    except guard.AddressRefused as exc:
        audit.record_now(AuditCode.SOURCE_REFUSED, actor=actor, obj=source, outcome="denied",
                         object_department=source.department, detail={"reason": exc.reason})
        error = exc
    except ValidationFailed as exc:  # a host that no longer resolves, a file that is gone
        error = exc
    except engine.SourceError as exc:
        error = explain(exc, source)
    elapsed = int((time.monotonic() - started) * 1000)
    code = "ok" if error is None else (error.code if not isinstance(error, SourceUnusable) else error.code)
    with transaction.atomic():
        DataSource.objects.filter(pk=source.pk).update(
            last_test_at=timezone.now(), last_test_ok=error is None, last_test_code=code,
            last_test_version=(report.server_version[:200] if report else ""),
            last_test_tables=(report.tables if report else None), last_test_ms=elapsed)
        audit.record(AuditCode.SOURCE_TESTED, actor=actor, obj=source, object_department=source.department,
                     outcome="success" if error is None else "failure",
                     detail={"code": code, "elapsed_ms": elapsed,
                             **({"server_version": report.server_version[:200], "tables": report.tables}
                                if report else {"message": error.render("en")[:500] if error else ""})})
    source.refresh_from_db()
    return SourceTest(source, error is None, code, error, report, elapsed)
