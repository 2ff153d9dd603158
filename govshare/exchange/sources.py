"""From a registered :class:`DataSource` to the engine and back (EXC-6): the checked connection settings
(:mod:`govshare.exchange.guard`), and the engine's failure codes in plain words, in the reader's language."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from govshare.core.errors import GovshareError
from govshare.exchange import guard
from govshare.exchange.engine import sources as engine
from govshare.exchange.models import DataSource

#: what each failure of the engine means to the person who registered the source
MEANINGS: dict[str, Any] = {
    "unreachable": _("Nothing accepted a connection at %(address)s: check the host, the port and the firewall "
                     "between the platform and the front-end database."),
    "timeout": _("No answer from %(address)s within %(seconds)s seconds: the host may be down, or a firewall "
                 "drops the connection."),
    "auth": _("The server refused the user name %(user)s or its password."),
    "no_database": _("There is no database %(database)s there (or the file is not a SQLite database)."),
    "no_privilege": _("The user %(user)s may not read this: grant it SELECT (nothing more is needed)."),
    "tls": _("The TLS connection failed: the server offers no TLS, or its certificate was not accepted "
             "(TLS setting: %(tls)s). A certificate from your department's own CA is accepted once that CA's "
             "certificate is pasted with the source."),
    "not_found": _("There is no table or view %(table)s."),
    # also what the copy could not use of a server's answers (a column's type changed under it, a page that
    # changed under its re-read, text that is not UTF-8 …): the detail says which
    "protocol": _("%(address)s did not answer as a %(kind)s server does: %(detail)s"),
    "other": _("The connection failed: %(detail)s"),
    # log mode (PostgreSQL logical decoding: govshare.exchange.engine.logical)
    "no_slot": _("The replication slot of this binding is gone from %(address)s: switch the binding to log mode "
                 "again (a full copy follows)."),
    "slot_exists": _("A replication slot of this name already exists on %(address)s."),
    "slot_in_use": _("Another session is reading the replication slot: try again in a minute."),
    "slot_lost": _("The source removed log the replication slot still needed (max_slot_wal_keep_size): a full "
                   "copy is needed."),
    "slot_moved": _("The replication slot was read by someone else: changes were lost to this binding, a full "
                    "copy is needed."),
    "slot_limit": _("The source has no free replication slot (max_replication_slots)."),
    "no_replication_privilege": _("The user %(user)s may not use logical decoding: give it the REPLICATION "
                                  "attribute."),
    "wal_level": _("The source is not set up for logical decoding: set wal_level = logical and restart it."),
    "plugin_missing": _("The output plugin is not installed on the source (wal2json: Debian's "
                        "postgresql-15-wal2json), or choose test_decoding."),
    "no_replica_identity": _("Table %(table)s does not log the key of a deleted row: give it a primary key or "
                             "REPLICA IDENTITY FULL."),
    "no_key_in_change": _("A deleted row of %(table)s came without its key: set REPLICA IDENTITY on the table."),
    "column_gone": _("Table %(table)s changed (a column dropped or renamed, the table replaced): check the "
                     "binding (%(detail)s)."),
}


class SourceUnusable(GovshareError):
    """The source could not be read; ``code`` is ``source_<engine code>``; 502 like a gateway's upstream."""

    status = 502


#: the longest a statement may run for a person waiting on a page or an API call (testing a connection, listing
#: tables, describing one, checking a binding): a source's own statement timeout, meant for copies, may be hours
INTERACTIVE_SECONDS = 30.0


def spec_for(source: DataSource, *, password: str | None = None, interactive: bool = True) -> engine.SourceSpec:
    """The engine's connection settings, the host resolved and checked, the SQLite path checked.  ``interactive``
    (the default): statements bounded by :data:`INTERACTIVE_SECONDS` too; copies pass False."""
    seconds = float(source.statement_timeout)
    if interactive:
        seconds = min(seconds, INTERACTIVE_SECONDS)
    if source.kind == DataSource.Kind.SQLITE:
        return engine.SourceSpec(kind="sqlite", database=str(guard.checked_sqlite_path(source.database)),
                                 connect_timeout=float(source.connect_timeout), statement_timeout=seconds)
    address = guard.checked_address(source.kind, source.host, source.port)
    return engine.SourceSpec(
        kind=source.kind, host=source.host, address=address, port=source.port, database=source.database,
        user=source.username, password=source.password() if password is None else password, tls=source.tls,
        tls_ca=source.tls_ca, connect_timeout=float(source.connect_timeout), statement_timeout=seconds)


def explain(exc: engine.SourceError, source: DataSource, *, table: str = "") -> SourceUnusable:
    code = exc.code if exc.code in MEANINGS else "other"
    error = SourceUnusable(f"source_{code}", MEANINGS[code], field=None, address=source.address_text(),
                          seconds=source.connect_timeout, user=source.username or "—", database=source.database,
                          tls=source.get_tls_display(), table=table, kind=source.get_kind_display(),
                          detail=exc.detail[:300])
    if code == "not_found":
        error.status = 404  # a table that is not there, like any other missing object
    return error


def _usable(user: Any, source_id: int, operator: bool = False) -> DataSource:
    from govshare.core.permissions import get_for
    from govshare.exchange.permissions import USE

    if operator:  # the machine operator at the console
        source = DataSource.objects.select_related("department").get(pk=source_id)
    else:
        source = get_for(user, USE, DataSource.objects.select_related("department"), pk=source_id)
    if not source.is_active:
        from govshare.core.errors import Conflict

        raise Conflict("source_inactive", _("Front-end database %(name)s is deactivated: nothing is read from it "
                                            "until it is reactivated."), name=source.name)
    return source


def _read(user: Any, source: DataSource, fn: Any, *args: Any, table: str = "") -> Any:
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    try:
        spec = spec_for(source)
    except guard.AddressRefused as exc:
        audit.record_now(AuditCode.SOURCE_REFUSED, actor=user, obj=source, outcome="denied",
                         object_department=source.department, detail={"reason": exc.reason})
        raise
    try:
        return fn(spec, *args)
    except engine.SourceError as exc:
        raise explain(exc, source, table=table) from None


def tables_of(user: Any, source_id: int, *, operator: bool = False) -> tuple[DataSource, list[engine.TableInfo]]:
    """The tables and views the source's user can see (for binding a table to an entry)."""
    source = _usable(user, source_id, operator)
    return source, _read(user, source, engine.list_tables)


def shape_of(user: Any, source_id: int, schema: str, name: str, *,
             operator: bool = False) -> tuple[DataSource, engine.TableShape]:
    """One table's columns and primary key as the source declares them."""
    source = _usable(user, source_id, operator)
    return source, _read(user, source, engine.describe_table, schema, name, table=f"{schema}.{name}")


def propose_for(user: Any, entry: Any, source: DataSource, schema: str, table: str) -> Any:
    """Read a table's shape (the user may use the source and change the entry) and propose a mapping."""
    from govshare.catalog.models import CatalogEntry
    from govshare.core.permissions import Action, get_for
    from govshare.exchange.actions.bindings import bindable
    from govshare.exchange.bindings import propose

    entry = get_for(user, Action.CHANGE, CatalogEntry.objects.select_related("current_version"), pk=entry.pk)
    problem = bindable(entry)
    if problem is not None:
        raise problem
    _, shape = shape_of(user, source.pk, schema, table)
    return propose(entry.current_version, shape)
