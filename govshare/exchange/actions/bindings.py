"""Table bindings (issue 10 item 2): the provider binds a table or view of its front-end database to a
published 库表 entry — a column for every information item, and a key.

``do_bind_table`` reads the table's shape from the source (outside the transaction, like a connection
test), judges the mapping (:func:`govshare.exchange.bindings.check`: every problem at once, naming the
item and the column), then saves the binding — new or replacing the entry's binding — and its audit event
in one transaction.  Warnings (values that may not fit an item) are kept with the binding and shown."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.exchange import bindings, guard
from govshare.exchange.bindings import bindable
from govshare.exchange.engine import sources as engine
from govshare.exchange.models import DataSource, TableBinding, Upload, UploadFeed
from govshare.exchange.permissions import CHANGE, USE
from govshare.exchange.sources import explain, spec_for

#: how the reader calls the ``table`` field of a binding
TABLE = _("table or view")


def _shape(actor: Any, source: DataSource, schema: str, table: str) -> engine.TableShape:
    try:
        return engine.describe_table(spec_for(source), schema, table)
    except guard.AddressRefused as exc:
        audit.record_now(AuditCode.SOURCE_REFUSED, actor=actor, obj=source, outcome="denied",
                         object_department=source.department, detail={"reason": exc.reason})
        raise
    except engine.SourceError as exc:
        error = explain(exc, source, table=f"{schema}.{table}" if schema else table)
        if exc.code == "not_found":
            raise ValidationFailed(error.code, error.message, field="table", label=TABLE, **error.params) from None
        raise error from None


def do_bind_table(actor: Any, entry: CatalogEntry, *, source: DataSource, schema: str, table: str,
                  mapping: dict[str, str], key_columns: list[str] | None = None) -> TableBinding:
    """Bind (or bind again) ``entry`` to ``schema.table`` of ``source``.  ``key_columns`` None: the key the
    table declares."""
    require(actor, Capability.BIND_TABLES)
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry.pk)
    source = get_for(actor, USE, DataSource.objects.select_related("department"), pk=source.pk)
    problem = bindable(entry)
    if problem is not None:
        raise problem
    if source.department_id != entry.provider_id:
        raise ValidationFailed("source_of_another_department", _("Bind a front-end database of the entry's "
                                                                 "provider (%(department)s)."),
                               field="source", department=entry.provider.name)
    if not source.is_active:
        raise ValidationFailed("source_inactive", _("Front-end database %(name)s is deactivated."), field="source",
                               name=source.name)
    schema, table = (schema or "").strip(), (table or "").strip()
    if not table:
        raise ValidationFailed("required", _("Choose a table or view."), field="table", label=TABLE)
    shape = _shape(actor, source, schema, table)
    keys = list(shape.primary_key) if key_columns is None else [k.strip() for k in key_columns if k.strip()]
    version = entry.current_version
    assert version is not None
    judgement = bindings.check(version, shape, {k: (v or "") for k, v in mapping.items()}, keys, kind=source.kind)
    if judgement.problems:
        raise judgement.problems[0] if len(judgement.problems) == 1 else ManyProblems(judgement.problems)
    rows = [{"item": item.name, "column": mapping[item.name].strip()} for item in bindings.items_of(version)]
    warnings = [{"code": w.code, "field": w.field, "message_zh": w.render("zh-hans"), "message_en": w.render("en")}
                for w in judgement.warnings]
    with transaction.atomic():
        existing = TableBinding.objects.select_for_update().filter(entry=entry).first()
        if existing is not None and existing.mode == TableBinding.Mode.LOG and (
                existing.source_id != source.pk or existing.table_name != shape.name):
            raise ValidationFailed("binding_in_log_mode", _("The binding copies from the log of %(table)s through a "
                                                            "replication slot: switch it out of log mode first."),
                                   field="table", table=existing.table_text())
        values = {"version": version, "source": source, "schema_name": shape.schema if schema else "",
                  "table_name": shape.name, "mapping": rows, "key_columns": keys,
                  "key_chosen": keys != list(shape.primary_key), "warnings": warnings}
        if existing is None:
            _refuse_while_uploading(entry)
            # an entry fed by uploads until now: the centre table's rebuild state goes on in the binding
            state: dict[str, Any] = dict(UploadFeed.objects.filter(entry=entry).values(
                "rebuild_pending", "generation", "rebuilt_at").first() or {})
            binding = TableBinding.objects.create(entry=entry, created_by=actor, **values, **state)
            audit.record(AuditCode.BINDING_CREATED, actor=actor, obj=binding, object_department=entry.provider,
                         detail={"entry": entry.code, "source": source.code, "table": binding.table_text(),
                                 "key": keys, "warnings": len(warnings)})
            return binding
        get_for(actor, CHANGE, TableBinding.objects.all(), pk=existing.pk)
        before = {"source": existing.source.code, "table": existing.table_text(), "mapping": existing.mapping,
                  "key_columns": existing.key_columns}
        for name, value in values.items():
            setattr(existing, name, value)
        existing.updated_at = timezone.now()
        existing.save()
        after = {"source": source.code, "table": existing.table_text(), "mapping": rows, "key_columns": keys}
        audit.record(AuditCode.BINDING_CHANGED, actor=actor, obj=existing, object_department=entry.provider,
                     changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
                     detail={"entry": entry.code, "version": version.number})
        return existing


def _refuse_while_uploading(entry: CatalogEntry) -> None:
    """A binding copies into the entry's centre table: not while a spreadsheet upload is being checked or loaded
    into it (the two would write the same rows, and a rebuild of either would drop the other's)."""
    if Upload.objects.filter(feed__entry=entry, status__in=Upload.OPEN_STATUSES).exists():
        raise Conflict("upload_open", _("A spreadsheet upload of %(entry)s is being checked or loaded: let it end "
                                        "before the front-end table copies into the entry."), field="binding",
                       entry=entry.code)


@transaction.atomic
def do_set_binding_active(actor: Any, binding: TableBinding, active: bool) -> TableBinding:
    """Pause (``active`` False) or resume a binding: a paused binding is not run."""
    require(actor, Capability.BIND_TABLES)
    binding = get_for(actor, CHANGE, TableBinding.objects.select_for_update().select_related("entry__provider"),
                      pk=binding.pk)
    if active and not binding.is_active:
        _refuse_while_uploading(binding.entry)
    if binding.is_active != active:
        binding.is_active = active
        binding.updated_at = timezone.now()
        binding.save(update_fields=["is_active", "updated_at"])
        audit.record(AuditCode.BINDING_RESUMED if active else AuditCode.BINDING_PAUSED, actor=actor, obj=binding,
                     object_department=binding.entry.provider)
    return binding


@transaction.atomic
def do_set_binding_schedule(actor: Any, binding: TableBinding, schedule: str) -> TableBinding:
    """Follow the entry's update cycle (``cycle``) or copy only when started by hand (``manual``)."""
    require(actor, Capability.BIND_TABLES)
    binding = get_for(actor, CHANGE, TableBinding.objects.select_for_update().select_related("entry__provider"),
                      pk=binding.pk)
    if schedule not in TableBinding.Schedule.values:
        raise ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field="schedule",
                               choices=", ".join(TableBinding.Schedule.values))
    if binding.schedule != schedule:
        audit.record(AuditCode.BINDING_CHANGED, actor=actor, obj=binding, object_department=binding.entry.provider,
                     changes={"schedule": [binding.schedule, schedule]})
        binding.schedule = schedule
        binding.updated_at = timezone.now()
        binding.save(update_fields=["schedule", "updated_at"])
    return binding


def slot_name_for(binding: TableBinding) -> str:
    """A new replication slot's name: ``govshare_``, the entry's resource code and a random tail — a slot made
    again (another plugin, a slot lost) has another name, so no copy takes the old one's position for its."""
    import secrets

    from govshare.datastore.centre import table_for

    return ("govshare_" + table_for(binding.entry).removeprefix("e_"))[:54] + "_" + secrets.token_hex(4)


def _slot_change(actor: Any, binding: TableBinding, mode: str, plugin: str) -> str:
    """Make the replication slot when the binding enters log mode (or changes its plugin), drop it when it
    leaves — a forgotten slot makes the source keep its log for ever.  Outside any transaction (it talks to
    the source); returns the slot's name in the new mode ("" outside log mode)."""
    from govshare.exchange.engine import logical
    from govshare.exchange.sources import spec_for

    keep = mode == TableBinding.Mode.LOG and binding.slot_name and plugin == binding.plugin
    try:
        spec = spec_for(binding.source)
        if keep:
            if logical.slot_state(spec, binding.slot_name).exists:
                return binding.slot_name
            # the slot is gone from the source: a new one (the next copy is a full one)
        elif binding.slot_name:
            try:
                logical.drop_slot(spec, binding.slot_name)
            except logical.LogError as exc:
                if exc.code != "no_slot":  # already gone is fine; anything else must not leave it behind unseen
                    raise
        if mode != TableBinding.Mode.LOG:
            return ""
        slot = slot_name_for(binding)
        logical.create_slot(spec, slot, plugin)
        return slot
    except guard.AddressRefused as exc:
        audit.record_now(AuditCode.SOURCE_REFUSED, actor=actor, obj=binding.source, outcome="denied",
                         object_department=binding.source.department, detail={"reason": exc.reason})
        raise
    except engine.SourceError as exc:
        error = explain(exc, binding.source, table=binding.table_text())
        raise ValidationFailed(error.code, error.message, field="mode", **error.params) from None


def do_set_binding_mode(actor: Any, binding: TableBinding, *, mode: str, update_column: str = "",
                        overlap_seconds: int | None = None, sweep_hours: int | None = None,
                        delete_guard_percent: int | None = None, plugin: str = "") -> TableBinding:
    """How the binding's copies read the source (issue 10 item 5): ``full`` (a full copy each time),
    ``watermark`` (the rows changed since the last run, by ``update_column``, read again over
    ``overlap_seconds``; every ``sweep_hours`` a run also reads every key to find deleted rows) or ``log``
    (PostgreSQL sources: every change from the database's log through a replication slot made here, with
    ``plugin`` test_decoding or wal2json; the slot is dropped when the binding leaves log mode), and the
    mass-delete guard (``delete_guard_percent`` of the table).  The update-time column and the slot are checked
    and made on the source as it is now (outside the transaction)."""
    require(actor, Capability.BIND_TABLES)
    binding = get_for(actor, CHANGE, TableBinding.objects.select_related("entry__provider", "source__department"),
                      pk=binding.pk)
    from govshare.exchange.models import ExchangeRun

    if binding.runs.filter(status__in=ExchangeRun.BLOCKING_STATUSES).exists():
        raise Conflict("run_open", _("A copy of this binding is queued, running or waiting for confirmation: change "
                                     "the mode once it has ended."), field="mode")
    if mode not in TableBinding.Mode.values:
        raise ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field="mode",
                               choices=", ".join(TableBinding.Mode.values))
    update_column = (update_column or "").strip()
    problems: list[GovshareError] = []
    numbers = {"overlap_seconds": (overlap_seconds, binding.overlap_seconds, 0, 7 * 86400),
               "sweep_hours": (sweep_hours, binding.sweep_hours, 0, 24 * 366),
               "delete_guard_percent": (delete_guard_percent, binding.delete_guard_percent, 1, 100)}
    values: dict[str, Any] = {}
    for name, (given, current, low, high) in numbers.items():
        value = current if given is None else given
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(ValidationFailed("out_of_range", _("Enter a whole number from %(low)s to %(high)s."),
                                             field=name, low=low, high=high))
        values[name] = value
    if mode == TableBinding.Mode.WATERMARK:
        if not update_column:
            problems.append(ValidationFailed("required", _("Choose the column that holds each row's last update "
                                                           "time."), field="update_column"))
        else:
            shape = _shape(actor, binding.source, binding.schema_name, binding.table_name)
            problem = bindings.update_column_problem(shape, update_column, kind=binding.source.kind)
            if problem is not None:
                problems.append(problem)
    else:
        update_column = ""
    plugin = (plugin or binding.plugin or "test_decoding").strip()
    if mode == TableBinding.Mode.LOG:
        if binding.source.kind != "postgresql":
            problems.append(ValidationFailed("log_needs_postgresql", _("Log mode reads a PostgreSQL database's log: "
                                                                       "%(name)s is not PostgreSQL."),
                                             field="mode", name=binding.source.name))
        if plugin not in ("test_decoding", "wal2json"):
            problems.append(ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field="plugin",
                                             choices="test_decoding, wal2json"))
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    slot = _slot_change(actor, binding, mode, plugin)
    values.update(mode=mode, update_column=update_column, slot_name=slot,
                  plugin=plugin if mode == TableBinding.Mode.LOG else binding.plugin)
    with transaction.atomic():
        binding = TableBinding.objects.select_for_update().select_related("entry__provider").get(pk=binding.pk)
        changes = {name: [getattr(binding, name), value] for name, value in values.items()
                   if getattr(binding, name) != value}
        if changes:
            for name, value in values.items():
                setattr(binding, name, value)
            binding.updated_at = timezone.now()
            binding.save(update_fields=[*values, "updated_at"])
            audit.record(AuditCode.BINDING_CHANGED, actor=actor, obj=binding, object_department=binding.entry.provider,
                         changes=changes, detail={"entry": binding.entry.code})
    return binding


def do_set_binding_rules(actor: Any, binding: TableBinding, *, rules: list[dict[str, Any]],
                         reject_limit_percent: int | None = None) -> TableBinding:
    """The provider's value rules for the binding's items (EXC-7; ``[{"item": name, "rule": {"kind": …}}]``,
    :mod:`govshare.exchange.engine.rules`), replacing the ones before, and the share of a batch that may be
    quarantined before the batch fails.  Every problem at once, naming the item."""
    require(actor, Capability.BIND_TABLES)
    binding = get_for(actor, CHANGE, TableBinding.objects.select_related("entry__provider", "entry__current_version"),
                      pk=binding.pk)
    version = binding.entry.current_version
    assert version is not None
    problems: list[GovshareError] = []
    if not isinstance(rules, list) or len(rules) > 200:
        problems.append(ValidationFailed("too_many_rules", _("At most 200 value rules."), field="rules"))
        rules = []
    parsed, found = bindings.parse_rules(version, rules)
    problems.extend(found)
    limit = binding.reject_limit_percent if reject_limit_percent is None else reject_limit_percent
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        problems.append(ValidationFailed("out_of_range", _("Enter a whole number from %(low)s to %(high)s."),
                                         field="reject_limit_percent", low=1, high=100))
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    items = bindings.items_of(version)
    stored = [{"item": items[position].name, "rule": rule.as_data()} for position in sorted(parsed)
              for rule in parsed[position]]
    with transaction.atomic():
        binding = TableBinding.objects.select_for_update().select_related("entry__provider").get(pk=binding.pk)
        changes = {name: [getattr(binding, name), value] for name, value in
                   (("rules", stored), ("reject_limit_percent", limit)) if getattr(binding, name) != value}
        if changes:
            binding.rules, binding.reject_limit_percent = stored, limit
            binding.updated_at = timezone.now()
            binding.save(update_fields=["rules", "reject_limit_percent", "updated_at"])
            audit.record(AuditCode.BINDING_CHANGED, actor=actor, obj=binding, object_department=binding.entry.provider,
                         changes=changes, detail={"entry": binding.entry.code, "rules": len(stored)})
    return binding
