"""Exchange JSON API, mounted at ``/api/v1/exchange`` (EXC-6 system docking; issue 10).

Front-end databases (前置库): list, read, register, change, activate/deactivate, test the connection,
list a source's tables and describe one.  Table bindings: propose a mapping, bind, check, pause/resume.
Runs: queue a full copy, follow it, read its receipts and what it quarantined.  Thin handlers: the permission chokepoint for reads, the actions
for writes.  A failed connection test is an answer (200, ``ok`` false, the reason in words); reading
the tables of a source that cannot be reached answers 502 with the reason."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import File, Form, Path, Query, Router, Status, UploadedFile

from govshare.catalog.models import CatalogEntry
from govshare.catalog.permissions import dept_of, is_centre
from govshare.catalog.schemas import dept_ref
from govshare.core.api_helpers import known, named, page, user_of
from govshare.core.errors import GovshareError, NotFound
from govshare.core.models import Department
from govshare.core.permissions import Action, get_for, require, restrict
from govshare.core.roles import Capability
from govshare.core.validators import MAX_DB_ID
from govshare.exchange import actions, bindings, quality, schedule
from govshare.exchange import schemas as s
from govshare.exchange.models import (
    CrossCheck,
    DataSource,
    DeliveryBinding,
    DeliveryRun,
    ExchangeRun,
    Reconciliation,
    TableBinding,
    Upload,
    UploadFeed,
)
from govshare.exchange.permissions import CHANGE as USE_BINDING
from govshare.exchange.permissions import VIEW
from govshare.exchange.runs import run_receipts
from govshare.exchange.sources import propose_for, shape_of, tables_of
from govshare.sharing.auth import channel_auth

router = Router(tags=["exchange"])

ID = Path(..., ge=1, le=MAX_DB_ID)


def source_out(source: DataSource) -> dict[str, Any]:
    return {
        "id": source.pk, "code": source.code, "name": source.name, "description": source.description,
        "department": dept_ref(source.department), "kind": source.kind, "host": source.host, "port": source.port,
        "database": source.database, "username": source.username, "has_password": source.has_password,
        "tls": source.tls, "tls_ca": source.tls_ca,
        "tls_ca_certificates": [{**cert.__dict__, "expired": cert.expired()} for cert in source.certificates()],
        "connect_timeout": source.connect_timeout, "statement_timeout": source.statement_timeout,
        "is_active": source.is_active, "receives_deliveries": source.receives_deliveries,
        "last_test": {"at": source.last_test_at, "ok": source.last_test_ok, "code": source.last_test_code,
                      "server_version": source.last_test_version, "tables": source.last_test_tables,
                      "elapsed_ms": source.last_test_ms},
        "created_at": source.created_at, "updated_at": source.updated_at,
    }


def _source(user: Any, source_id: int) -> DataSource:
    return get_for(user, VIEW, DataSource.objects.select_related("department"), pk=source_id)


@router.get("/sources", response={200: s.SourcePageOut},
            summary="Front-end databases: your department's (the centre and auditors: all)")
def list_sources(request: HttpRequest, query: Query[s.SourceQuery]) -> dict[str, Any]:
    qs = restrict(DataSource.objects.select_related("department"), user_of(request), VIEW)
    if query.department:
        qs = qs.filter(department__code=query.department)
    if query.kind:
        qs = qs.filter(kind=query.kind)
    if query.active is not None:
        qs = qs.filter(is_active=query.active)
    return page(qs.order_by("department__code", "name", "pk"), query, source_out)


@router.get("/sources/{source_id}", response={200: s.SourceOut})
def get_source(request: HttpRequest, source_id: int = ID) -> dict[str, Any]:
    return source_out(_source(user_of(request), source_id))


@router.post("/sources", response={201: s.SourceOut},
             summary="Register a front-end database (department administrators; EXC-6)")
def register_source(request: HttpRequest, payload: s.SourceIn) -> Any:
    user = user_of(request)
    data = payload.dict()
    code = data.pop("department")
    department = known(user, Department, "department", code, code=code) if code else None
    source = actions.do_register_source(user, department=department, **data)
    return Status(201, source_out(_source(user, source.pk)))


@router.patch("/sources/{source_id}", response={200: s.SourceOut},
              summary="Change a front-end database (only the fields given; the code never changes)")
def change_source(request: HttpRequest, payload: s.SourceChangeIn, source_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    changes = payload.dict(exclude_unset=True)
    password = changes.pop("password", None)
    source = actions.do_change_source(user, _source(user, source_id), password=password, **changes)
    return source_out(_source(user, source.pk))


@router.post("/sources/{source_id}/activate", response={200: s.SourceOut})
def activate_source(request: HttpRequest, source_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    source = actions.do_set_source_active(user, _source(user, source_id), True)
    return source_out(_source(user, source.pk))


@router.post("/sources/{source_id}/deactivate", response={200: s.SourceOut},
             summary="Deactivate a front-end database: nothing is read from it until it is reactivated")
def deactivate_source(request: HttpRequest, source_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    source = actions.do_set_source_active(user, _source(user, source_id), False)
    return source_out(_source(user, source.pk))


@router.post("/sources/{source_id}/test", response={200: s.TestOut},
             summary="Test the connection: connect read-only, read the version, count the visible tables")
def test_source(request: HttpRequest, source_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    result = actions.do_test_source(user, _source(user, source_id))
    error = result.error
    return {
        "ok": result.ok, "code": result.code,
        "message": error.render() if error else "", "message_zh": error.render("zh-hans") if error else "",
        "message_en": error.render("en") if error else "",
        "server_version": result.report.server_version if result.report else "",
        "tables": result.report.tables if result.report else None, "elapsed_ms": result.elapsed_ms,
        "source": source_out(result.source),
    }


@router.get("/sources/{source_id}/tables", response={200: list[s.TableOut]}, by_alias=True,
            summary="The tables and views the source's user can see")
def list_source_tables(request: HttpRequest, source_id: int = ID) -> list[dict[str, Any]]:
    _, tables = tables_of(user_of(request), source_id)
    return [{"schema": t.schema, "name": t.name, "kind": t.kind, "estimated_rows": t.estimated_rows} for t in tables]


@router.get("/sources/{source_id}/tables/{schema_name}/{table_name}", response={200: s.TableShapeOut}, by_alias=True,
            summary="One table's columns and primary key, as the source declares them (SQLite: schema main)")
def describe_source_table(request: HttpRequest, schema_name: str = Path(..., max_length=128),
                          table_name: str = Path(..., max_length=128), source_id: int = ID) -> dict[str, Any]:
    _, shape = shape_of(user_of(request), source_id, schema_name, table_name)
    return {"schema": shape.schema, "name": shape.name, "kind": shape.kind,
            "columns": [vars(c) for c in shape.columns], "primary_key": list(shape.primary_key)}


# ------------------------------------------------------------------ table bindings (issue 10 item 2)

def binding_out(binding: TableBinding) -> dict[str, Any]:
    entry, version = binding.entry, binding.version
    return {
        "id": binding.pk, "entry": {"id": entry.pk, "code": entry.code, "name": version.name},
        "version": version.number,
        "source": {"id": binding.source.pk, "code": binding.source.code, "name": binding.source.name},
        "schema": binding.schema_name, "table": binding.table_name, "mapping": binding.mapping,
        "key_columns": binding.key_columns, "key_chosen": binding.key_chosen, "warnings": binding.warnings,
        "is_active": binding.is_active, "schedule": binding.schedule, "mode": binding.mode,
        "update_column": binding.update_column, "overlap_seconds": binding.overlap_seconds,
        "sweep_hours": binding.sweep_hours, "delete_guard_percent": binding.delete_guard_percent,
        "rules": binding.rules, "reject_limit_percent": binding.reject_limit_percent,
        "slot_name": binding.slot_name, "plugin": binding.plugin, "slot_state": binding.slot_state,
        "last_success_at": schedule.last_success(binding), "stale": schedule.is_stale(binding),
        "rebuild_pending": binding.rebuild_pending, "generation": binding.generation, "rebuilt_at": binding.rebuilt_at,
        "created_at": binding.created_at, "updated_at": binding.updated_at,
    }


_binding_qs = schedule.bindings_shown


def _binding(user: Any, binding_id: int) -> TableBinding:
    return get_for(user, VIEW, _binding_qs(), pk=binding_id)


def _problem_out(error: GovshareError) -> dict[str, Any]:
    return {"code": error.code, "field": error.field, "message_zh": error.render("zh-hans"),
            "message_en": error.render("en")}


@router.get("/bindings", response={200: s.BindingPageOut}, by_alias=True,
            summary="Table bindings: your department's (the centre and auditors: all)")
def list_bindings(request: HttpRequest, query: Query[s.BindingQuery]) -> dict[str, Any]:
    qs = restrict(_binding_qs(), user_of(request), VIEW)
    if query.department:
        qs = qs.filter(entry__provider__code=query.department)
    if query.source_id:
        qs = qs.filter(source_id=query.source_id)
    if query.active is not None:
        qs = qs.filter(is_active=query.active)
    return page(qs.order_by("entry__code", "pk"), query, binding_out)


@router.get("/bindings/{binding_id}", response={200: s.BindingOut}, by_alias=True)
def get_binding(request: HttpRequest, binding_id: int = ID) -> dict[str, Any]:
    return binding_out(_binding(user_of(request), binding_id))


def _bind_targets(user: Any, payload: s.ProposeIn) -> tuple[CatalogEntry, DataSource]:
    entry = named(user, CatalogEntry.objects.select_related("current_version"), "entry_id", payload.entry_id,
                  pk=payload.entry_id)
    source = named(user, DataSource, "source_id", payload.source_id, pk=payload.source_id)
    return entry, source


@router.post("/binding-proposals", response={200: s.ProposalOut}, by_alias=True,
             summary="Read a table's shape and propose a column for each item of the entry (nothing is saved)")
def propose_binding(request: HttpRequest, payload: s.ProposeIn) -> dict[str, Any]:
    user = user_of(request)
    entry, source = _bind_targets(user, payload)
    proposal = propose_for(user, entry, source, payload.schema_name, payload.table)
    shape = proposal.shape
    return {"table": {"schema": shape.schema, "name": shape.name, "kind": shape.kind,
                      "columns": [vars(c) for c in shape.columns], "primary_key": list(shape.primary_key)},
            "mapping": proposal.mapping, "key_columns": proposal.key_columns, "key_declared": proposal.key_declared}


@router.post("/bindings", response={201: s.BindingOut}, by_alias=True,
             summary="Bind a table or view of the provider's front-end database to a published 库表 entry "
                     "(again: replaces the entry's binding)")
def bind_table(request: HttpRequest, payload: s.BindIn) -> Any:
    user = user_of(request)
    entry, source = _bind_targets(user, payload)
    binding = actions.do_bind_table(user, entry, source=source, schema=payload.schema_name, table=payload.table,
                                    mapping=payload.mapping, key_columns=payload.key_columns)
    return Status(201, binding_out(_binding(user, binding.pk)))


@router.post("/bindings/{binding_id}/check", response={200: s.CheckOut},
             summary="Check a binding against the entry's current version and the table as it is now")
def check_binding(request: HttpRequest, binding_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    require(user, Capability.BIND_TABLES)  # like every write of a binding: no capability → 403, not yours → 404
    binding = get_for(user, USE_BINDING, _binding_qs(), pk=binding_id)
    judgement = bindings.verify(binding)
    return {"ok": judgement.ok, "problems": [_problem_out(p) for p in judgement.problems],
            "warnings": [_problem_out(w) for w in judgement.warnings]}


def reconciliation_out(rec: Reconciliation, *, with_keys: bool = True) -> dict[str, Any]:
    """``with_keys``: the differing keys (they may be ID numbers: the provider's staff only; others get counts)."""
    return {"id": rec.pk, "binding_id": rec.binding_id, "status": rec.status, "equal": rec.equal,
            "source_rows": rec.source_rows, "source_hash": rec.source_hash, "source_unstorable": rec.source_unstorable,
            "centre_rows": rec.centre_rows, "centre_hash": rec.centre_hash,
            "missing_in_centre": rec.missing_in_centre if with_keys else [],
            "extra_in_centre": rec.extra_in_centre if with_keys else [],
            "different": rec.different if with_keys else [], "buckets_differing": rec.buckets_differing, "seconds": rec.seconds,
            "error": {"code": rec.error_code, "message_zh": (rec.error_message or {}).get("zh", ""),
                      "message_en": (rec.error_message or {}).get("en", "")} if rec.error_code else None,
            "created_at": rec.created_at, "finished_at": rec.finished_at}


@router.post("/bindings/{binding_id}/reconcile", response={202: s.ReconciliationOut},
             summary="Queue a comparison of the source table and the centre's copy: counts, content hashes and the "
                     "differing keys (a background job: it reads both whole)")
def reconcile(request: HttpRequest, binding_id: int = ID) -> Any:
    user = user_of(request)
    rec = actions.do_reconcile(user, _binding(user, binding_id))
    return Status(202, reconciliation_out(Reconciliation.objects.get(pk=rec.pk)))


@router.get("/reconciliations/{reconciliation_id}", response={200: s.ReconciliationOut},
            summary="A comparison of the source and the centre: its state and, once done, what differs")
def get_reconciliation(request: HttpRequest, reconciliation_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    rec = Reconciliation.objects.filter(pk=reconciliation_id).first()
    if rec is None or not restrict(TableBinding, user, VIEW).filter(pk=rec.binding_id).exists():
        raise NotFound()
    return reconciliation_out(rec, with_keys=restrict(TableBinding, user, USE_BINDING).filter(
        pk=rec.binding_id).exists())


@router.post("/bindings/{binding_id}/pause", response={200: s.BindingOut}, by_alias=True,
             summary="Pause a binding: it is not run until resumed")
def pause_binding(request: HttpRequest, binding_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    binding = actions.do_set_binding_active(user, _binding(user, binding_id), False)
    return binding_out(_binding(user, binding.pk))


@router.post("/bindings/{binding_id}/schedule", response={200: s.BindingOut}, by_alias=True,
             summary="Copy by itself at the entry's update cycle (cycle) or only by hand (manual)")
def set_binding_schedule(request: HttpRequest, payload: s.ScheduleIn, binding_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    binding = actions.do_set_binding_schedule(user, _binding(user, binding_id), payload.schedule)
    return binding_out(_binding(user, binding.pk))


@router.post("/bindings/{binding_id}/mode", response={200: s.BindingOut}, by_alias=True,
             summary="How copies read the source: a full copy each time, or the changed rows by an update-time "
                     "column (with its overlap window and the check for deleted rows), and the mass-delete guard")
def set_binding_mode(request: HttpRequest, payload: s.ModeIn, binding_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    binding = actions.do_set_binding_mode(user, _binding(user, binding_id), mode=payload.mode,
                                          update_column=payload.update_column,
                                          overlap_seconds=payload.overlap_seconds, sweep_hours=payload.sweep_hours,
                                          delete_guard_percent=payload.delete_guard_percent, plugin=payload.plugin)
    return binding_out(_binding(user, binding.pk))


@router.post("/bindings/{binding_id}/rules", response={200: s.BindingOut}, by_alias=True,
             summary="The provider's value rules per item (GB 11643 ID number, GB 32100 USCC, phone, allowed values, "
                     "range, pattern) and the share of a batch that may be quarantined")
def set_binding_rules(request: HttpRequest, payload: s.RulesIn, binding_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    binding = actions.do_set_binding_rules(user, _binding(user, binding_id),
                                           rules=[row.model_dump() for row in payload.rules],
                                           reject_limit_percent=payload.reject_limit_percent)
    return binding_out(_binding(user, binding.pk))


@router.post("/bindings/{binding_id}/resume", response={200: s.BindingOut}, by_alias=True)
def resume_binding(request: HttpRequest, binding_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    binding = actions.do_set_binding_active(user, _binding(user, binding_id), True)
    return binding_out(_binding(user, binding.pk))


# ------------------------------------------------------------------ runs (copies into the centre)

def run_out(run: ExchangeRun) -> dict[str, Any]:
    entry = run.binding.entry
    # a run held for a person's decision stopped reading when its job ended: its rate is frozen there (it decayed
    # every second it waited — review of the 22nd session)
    end = run.finished_at or (run.job.finished_at if run.status == ExchangeRun.Status.HELD and run.job is not None
                              and run.job.finished_at else None) or timezone.now()
    # a run confirmed after a hold read its rows before the wait and goes on after it: no honest rate (its rows read
    # and its times span the wait)
    seconds = end - run.started_at if run.started_at and run.confirmed_deletes is None else None
    rate = round(run.rows_read / seconds.total_seconds(), 1) if seconds and seconds.total_seconds() > 0 else None
    job = run.job
    return {
        "id": run.pk, "binding_id": run.binding_id,
        "entry": {"id": entry.pk, "code": entry.code, "name": run.binding.version.name},
        "kind": run.kind, "status": run.status, "target": run.target, "batches": run.batches,
        "rows_read": run.rows_read, "inserted": run.inserted, "updated": run.updated, "unchanged": run.unchanged,
        "rejected": run.rejected, "content_hash": run.content_hash, "checks_deletes": run.checks_deletes,
        "keys_read": run.keys_read, "deleted": run.deleted, "pending_deletes": run.pending_deletes,
        "live_rows": run.live_rows, "confirmed_deletes": run.confirmed_deletes, "since": run.since,
        "watermark": run.watermark,
        "rows_per_second": rate, "rows_expected": run.rows_expected,
        "eta_seconds": round((run.rows_expected - run.rows_read) / rate)
        if rate and run.rows_expected and run.status == ExchangeRun.Status.RUNNING
        and run.rows_expected > run.rows_read else None,
        "error": {"code": run.error_code, "message_zh": (run.error_message or {}).get("zh", ""),
                  "message_en": (run.error_message or {}).get("en", "")} if run.error_code else None,
        "job": {"id": str(job.pk), "status": job.status, "progress_done": job.progress_done,
                "message": job.shown_message} if job else None,
        "created_at": run.created_at, "started_at": run.started_at, "finished_at": run.finished_at,
    }


def _run_qs() -> Any:
    return ExchangeRun.objects.select_related("binding__entry", "binding__version", "job")


@router.post("/bindings/{binding_id}/runs", response={201: s.RunOut},
             summary="Queue a copy of the bound table into the data resource centre — full or incremental, as the "
                     "binding's mode says or as asked (the binding is checked first)")
def start_run(request: HttpRequest, binding_id: int = ID, payload: s.StartIn | None = None) -> Any:
    user = user_of(request)
    run = actions.do_start_run(user, _binding(user, binding_id), kind=payload.kind if payload else "")
    return Status(201, run_out(get_for(user, VIEW, _run_qs(), pk=run.pk)))


@router.post("/bindings/{binding_id}/rebuild", response={201: s.RunOut},
             summary="Make the centre's table of the entry again in the shape of its current version and copy the "
                     "whole source table into it (for a new version the table cannot take: items removed, "
                     "reordered, retyped, another key); the table is emptied when the copy starts")
def rebuild_centre_table(request: HttpRequest, payload: s.RebuildIn, binding_id: int = ID) -> Any:
    user = user_of(request)
    run = actions.do_rebuild_centre_table(user, _binding(user, binding_id), confirm=payload.confirm)
    return Status(201, run_out(get_for(user, VIEW, _run_qs(), pk=run.pk)))


@router.post("/runs/{run_id}/confirm-deletes", response={200: s.RunOut},
             summary="Confirm the deletions the mass-delete guard held: the copy goes on and tombstones them")
def confirm_deletes(request: HttpRequest, payload: s.ConfirmIn | None = None, run_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    run = actions.do_confirm_deletes(user, get_for(user, VIEW, _run_qs(), pk=run_id),
                                     pending=payload.pending if payload else None)
    return run_out(get_for(user, VIEW, _run_qs(), pk=run.pk))


@router.post("/runs/{run_id}/refuse-deletes", response={200: s.RunOut},
             summary="Refuse the deletions the mass-delete guard held: the copy ends without deleting")
def refuse_deletes(request: HttpRequest, run_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    run = actions.do_refuse_deletes(user, get_for(user, VIEW, _run_qs(), pk=run_id))
    return run_out(get_for(user, VIEW, _run_qs(), pk=run.pk))


@router.post("/runs/{run_id}/stop", response={200: s.RunOut},
             summary="Stop a queued or running copy (what was committed stays; a later copy goes on from there)")
def stop_run(request: HttpRequest, run_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    run = actions.do_stop_run(user, get_for(user, VIEW, _run_qs(), pk=run_id))
    return run_out(get_for(user, VIEW, _run_qs(), pk=run.pk))


@router.get("/runs", response={200: s.RunPageOut}, summary="Copies into the centre, newest first")
def list_runs(request: HttpRequest, query: Query[s.RunQuery]) -> dict[str, Any]:
    qs = restrict(_run_qs(), user_of(request), VIEW)
    if query.binding_id:
        qs = qs.filter(binding_id=query.binding_id)
    if query.status:
        qs = qs.filter(status=query.status)
    return page(qs.order_by("-created_at", "-pk"), query, run_out)


@router.get("/runs/{run_id}", response={200: s.RunDetailOut},
            summary="One copy: its totals, its receipt per batch and what it quarantined")
def get_run(request: HttpRequest, run_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    run = get_for(user, VIEW, _run_qs(), pk=run_id)
    receipts, quarantine = run_receipts(run)
    # the quarantined values are the provider's data as it came (ID numbers, names): only its own staff see them
    if not restrict(TableBinding, user, USE_BINDING).filter(pk=run.binding_id).exists():
        quarantine = []
    return {**run_out(run), "receipts": receipts, "quarantine": quarantine}


# ------------------------------------------------------------------ quality (EXC-7) and base libraries (EXC-8)

@router.get("/quality/{entry_id}", response={200: s.QualityOut},
            summary="An entry's data quality: completeness, validity, timeliness, consistency and the score (its "
                    "provider, the centre, auditors and departments with a usable grant)")
def entry_quality(request: HttpRequest, entry_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    feed = quality.feed_of(entry_id)  # its binding, or its spreadsheet uploads (review of the 22nd session)
    if feed is None or not quality.may_see(user, feed.entry):
        raise NotFound()
    version = feed.entry.current_version
    return {"entry": {"id": feed.entry_id, "code": feed.entry.code, "name": version.name if version else ""},
            **quality.score_of_feed(feed).as_dict()}


@router.get("/base-libraries", response={200: list[s.BaseLibraryRow]},
            summary="EXC-8: the published 基础信息资源 entries (unconditionally shared), with what keeps each from "
                    "reaching consumers: not unconditional, not a table, not bound, paused, stale")
def base_libraries(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"entry": {"id": row["entry"].pk, "code": row["entry"].code, "name": row["version"].name},
             "classification": row["version"].classification.code, "provider": row["entry"].provider.name,
             "share_type": row["version"].share_type, "binding_id": row["binding"].pk if row["binding"] else None,
             "score": row["score"].score if row["score"] else None,
             "last_success_at": row["score"].last_success_at if row["score"] else None, "problems": row["problems"]}
            for row in quality.base_libraries(user_of(request))]


def cross_check_out(check: CrossCheck, user: Any) -> dict[str, Any]:
    # the differing values are the two providers' data (names, numbers): the providers and the centre see them,
    # auditors the counts
    sees_values = is_centre(user) or dept_of(user) in (check.left_entry.provider_id, check.right_entry.provider_id)
    return {"id": check.pk, "name": check.name, "is_active": check.is_active, "checked_at": check.checked_at,
            "left": {"entry": {"id": check.left_entry_id, "code": check.left_entry.code}, "key": check.left_key,
                     "item": check.left_item},
            "right": {"entry": {"id": check.right_entry_id, "code": check.right_entry.code}, "key": check.right_key,
                      "item": check.right_item},
            "compared": check.compared, "differing": check.differing, "left_only": check.left_only,
            "right_only": check.right_only, "consistency": check.consistency,
            "sample": check.sample if sees_values else [], "error": check.error}


def _checks() -> Any:
    return CrossCheck.objects.select_related("left_entry", "right_entry")


@router.get("/cross-checks", response={200: list[s.CrossCheckOut]},
            summary="一数一源 cross-source checks you may see, with their last result")
def list_cross_checks(request: HttpRequest) -> list[dict[str, Any]]:
    user = user_of(request)
    return [cross_check_out(c, user) for c in restrict(_checks(), user, VIEW)[:500]]


@router.post("/cross-checks", response={201: s.CrossCheckOut},
             summary="Declare that two entries of different providers hold the same item for the same key (the centre)")
def declare_cross_check(request: HttpRequest, payload: s.CrossCheckIn) -> Any:
    user = user_of(request)
    left = named(user, CatalogEntry.objects.all(), "left_entry_id", payload.left_entry_id, pk=payload.left_entry_id)
    right = named(user, CatalogEntry.objects.all(), "right_entry_id", payload.right_entry_id,
                  pk=payload.right_entry_id)
    check = actions.do_declare_cross_check(user, name=payload.name, left_entry=left, left_key=payload.left_key,
                                           left_item=payload.left_item, right_entry=right, right_key=payload.right_key,
                                           right_item=payload.right_item)
    return Status(201, cross_check_out(get_for(user, VIEW, _checks(), pk=check.pk), user))


@router.get("/cross-checks/{check_id}", response={200: s.CrossCheckOut})
def get_cross_check(request: HttpRequest, check_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    return cross_check_out(get_for(user, VIEW, _checks(), pk=check_id), user)


@router.post("/cross-checks/{check_id}/run", response={200: s.CrossCheckOut},
             summary="Compare the two entries in the data resource centre now")
def run_cross_check(request: HttpRequest, check_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    check = actions.do_run_cross_check(user, get_for(user, VIEW, _checks(), pk=check_id))
    return cross_check_out(get_for(user, VIEW, _checks(), pk=check.pk), user)


# -- deliveries into consumers' front-end tables (issue 11 item 1) --------------------------------------------------

def delivery_run_out(run: DeliveryRun) -> dict[str, Any]:
    return {"id": run.pk, "kind": run.kind, "status": run.status, "batches": run.batches, "written": run.written,
            "deleted": run.deleted, "rows": run.rows, "seq_from": run.seq_from, "seq_to": run.seq_to,
            "content_hash": run.content_hash, "created_table": run.created_table, "rebuilt": run.rebuilt,
            "error_code": run.error_code, "error_message": run.error_message,
            "job": str(run.job_id) if run.job_id else None, "created_at": run.created_at,
            "started_at": run.started_at, "finished_at": run.finished_at}


def delivery_out(binding: DeliveryBinding, *, runs: int = 10) -> dict[str, Any]:
    grant = binding.grant
    return {"id": binding.pk, "grant": grant.pk, "grant_number": grant.number, "entry": grant.entry.code,
            "consumer": dept_ref(grant.consumer), "system": binding.system.code, "target": binding.target_id,
            "target_code": binding.target.code, "schema": binding.schema_name, "table": binding.table_name,
            "columns": binding.columns, "is_active": binding.is_active, "grant_in_force": grant.state() == "active",
            "last_seq": binding.last_seq, "rows": binding.rows, "content_hash": binding.content_hash,
            "delivered_at": binding.delivered_at, "stopped": binding.stopped, "checked_at": binding.checked_at,
            "last_check": binding.last_check,
            "runs": [delivery_run_out(r) for r in binding.runs.order_by("-created_at", "-pk")[:runs]],
            "created_at": binding.created_at}


def _deliveries(user: Any) -> Any:
    return restrict(DeliveryBinding.objects.select_related("grant__entry", "grant__consumer", "system", "target"),
                    user, VIEW)


@router.get("/deliveries", response={200: list[s.DeliveryOut]}, by_alias=True,
            summary="Deliveries into front-end tables (库表): your department's as consumer and as provider")
def list_deliveries(request: HttpRequest) -> list[dict[str, Any]]:
    return [delivery_out(b, runs=1) for b in _deliveries(user_of(request)).order_by("-created_at", "-pk")[:500]]


@router.get("/deliveries/{delivery_id}", response={200: s.DeliveryOut}, by_alias=True)
def get_delivery(request: HttpRequest, delivery_id: int = ID) -> dict[str, Any]:
    return delivery_out(get_for(user_of(request), VIEW, _deliveries(user_of(request)), pk=delivery_id))


@router.post("/deliveries", response={201: s.DeliveryOut}, by_alias=True,
             summary="Bind your department's grant (table channel) to a table of its front-end database; the first "
                     "delivery is queued")
def bind_delivery(request: HttpRequest, payload: s.DeliveryIn) -> Any:
    from govshare.exchange.actions.deliveries import do_bind_delivery
    from govshare.sharing.models import ConsumingSystem, Grant

    user = user_of(request)
    grant = get_for(user, VIEW, Grant.objects.all(), pk=payload.grant)
    system = ConsumingSystem.objects.filter(pk=payload.system).first()
    target = get_for(user, VIEW, DataSource.objects.all(), pk=payload.target)
    if system is None:
        raise NotFound("system")
    binding = do_bind_delivery(user, grant, system=system, target=target, table=payload.table,
                               schema=payload.schema_, columns=payload.columns)
    return Status(201, delivery_out(get_for(user, VIEW, _deliveries(user), pk=binding.pk)))


@router.post("/deliveries/{delivery_id}/runs", response={202: s.DeliveryRunOut},
             summary="Deliver now, or check the table against the centre (it delivers what is pending first)")
def start_delivery(request: HttpRequest, payload: s.DeliveryRunIn, delivery_id: int = ID) -> Any:
    from govshare.exchange.actions.deliveries import do_start_delivery

    user = user_of(request)
    run = do_start_delivery(user, get_for(user, VIEW, _deliveries(user), pk=delivery_id), kind=payload.kind)
    return Status(202, delivery_run_out(run))


@router.post("/deliveries/{delivery_id}/pause", response={200: s.DeliveryOut}, by_alias=True,
             summary="Pause a delivery (a running one stops before its next batch)")
def pause_delivery(request: HttpRequest, delivery_id: int = ID) -> dict[str, Any]:
    from govshare.exchange.actions.deliveries import do_set_delivery_active

    user = user_of(request)
    binding = do_set_delivery_active(user, get_for(user, VIEW, _deliveries(user), pk=delivery_id), False)
    return delivery_out(get_for(user, VIEW, _deliveries(user), pk=binding.pk))


@router.post("/deliveries/{delivery_id}/resume", response={200: s.DeliveryOut}, by_alias=True)
def resume_delivery(request: HttpRequest, delivery_id: int = ID) -> dict[str, Any]:
    from govshare.exchange.actions.deliveries import do_set_delivery_active

    user = user_of(request)
    binding = do_set_delivery_active(user, get_for(user, VIEW, _deliveries(user), pk=delivery_id), True)
    return delivery_out(get_for(user, VIEW, _deliveries(user), pk=binding.pk))


# -- spreadsheet uploads (EXC-3, issue 11 item 8) --------------------------------------------------------------------

def upload_out(upload: Upload, *, with_problems: bool = True) -> dict[str, Any]:
    """An upload as the API gives it; ``with_problems`` False (the list): no problems (``problems_kept`` None; the
    upload's own answer and its problems file have them)."""
    from govshare.exchange.uploads import SHOWN_PROBLEMS, problem_text

    return {"id": upload.pk, "entry": upload.feed.entry.code, "file_name": upload.file_name, "size": upload.size,
            "sha256": upload.sha256, "mode": upload.mode, "status": upload.status, "rows": upload.rows,
            "problem_count": upload.problem_count,
            "problems": [{**{k: p.get(k) for k in ("sheet", "row", "column", "item", "code")},
                          "detail": str(p.get("detail") or ""), "message": problem_text(p)}
                         for p in ((upload.problems or []) if with_problems else [])[:SHOWN_PROBLEMS]],
            "problems_kept": len(upload.problems or []) if with_problems else None,
            "problems_file": f"/exchange/uploads/{upload.pk}/problems/?format=csv" if upload.problem_count else None,
            "batches": upload.batches, "inserted": upload.inserted, "updated": upload.updated,
            "unchanged": upload.unchanged, "deleted": upload.deleted, "rebuilt": upload.rebuilt,
            "pending_deletes": upload.pending_deletes, "confirmed_deletes": upload.confirmed_deletes,
            "content_hash": upload.content_hash, "error_code": upload.error_code, "error_message": upload.error_message,
            "job": str(upload.job_id) if upload.job_id else None,
            "uploaded_by": upload.uploaded_by.get_username() if upload.uploaded_by else "",
            "created_at": upload.created_at, "finished_at": upload.finished_at}


def _uploads(user: Any) -> Any:
    return restrict(Upload.objects.select_related("feed__entry", "uploaded_by"), user, VIEW)


def _provider_entry(user: Any, entry_id: int) -> CatalogEntry:
    return get_for(user, VIEW, CatalogEntry.objects.select_related("current_version", "provider"), pk=entry_id)


@router.get("/entries/{entry_id}/template", summary="The data template of a 库表 entry (XLSX, EXC-3): typed columns, "
                                                  "the key marked, drop-downs for allowed values")
def upload_template(request: HttpRequest, entry_id: int = ID) -> HttpResponse:
    from urllib.parse import quote

    from govshare.exchange.actions.uploads import template_of

    user = user_of(request)
    name, data = template_of(user, _provider_entry(user, entry_id))
    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@router.post("/entries/{entry_id}/uploads", response={202: s.UploadOut},
             summary="Upload a filled-in data template (multipart: file, mode = upsert | append | replace); every row "
                     "is checked, all or nothing, then loaded")
def upload_data(request: HttpRequest, file: UploadedFile = File(...), mode: str = Form("upsert"),  # noqa: B008
                entry_id: int = ID) -> Any:
    from django.conf import settings

    from govshare.core import files
    from govshare.exchange.actions.uploads import do_upload

    user = user_of(request)
    entry = _provider_entry(user, entry_id)
    limit = settings.GOVSHARE_UPLOAD_MAX_MB * files.MB
    if file.size is not None:
        files.check_size(int(file.size), limit, where=file.name or "file", field="file")
    data = file.read(limit + 1)
    files.check_size(len(data), limit, where=file.name or "file", field="file")
    upload = do_upload(user, entry, file_name=file.name or "upload.xlsx", data=data, mode=mode)
    return Status(202, upload_out(get_for(user, VIEW, _uploads(user), pk=upload.pk)))


@router.put("/entries/{entry_id}/upload-rules", response={200: list[s.RuleRow]},
            summary="The value rules uploads of the entry are checked with (as a binding's)")
def set_upload_rules(request: HttpRequest, payload: s.UploadRulesIn, entry_id: int = ID) -> list[dict[str, Any]]:
    from govshare.exchange.actions.uploads import do_set_upload_rules

    user = user_of(request)
    rules = None if payload.rules is None else [r.model_dump() for r in payload.rules]
    feed = do_set_upload_rules(user, _provider_entry(user, entry_id), rules=rules,
                               delete_guard_percent=payload.delete_guard_percent)
    return list(feed.rules)


@router.get("/entries/{entry_id}/upload-rules", response={200: s.UploadRulesOut},
            summary="The value rules uploads of the entry are checked with, and its mass-delete guard (the provider's "
                    "staff)")
def get_upload_rules(request: HttpRequest, entry_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    entry = get_for(user, Action.CHANGE, CatalogEntry.objects.all(), pk=entry_id)
    feed = UploadFeed.objects.filter(entry=entry).first() or UploadFeed(entry=entry)
    return {"rules": list(feed.rules or []), "delete_guard_percent": feed.delete_guard_percent}


@router.get("/uploads", response={200: list[s.UploadOut]}, summary="Spreadsheet uploads, newest first")
def list_uploads(request: HttpRequest, entry: int | None = Query(None, ge=1, le=MAX_DB_ID)) -> list[dict[str, Any]]:
    qs = _uploads(user_of(request))
    if entry is not None:
        qs = qs.filter(feed__entry_id=entry)
    # the list leaves the problems to each upload's own answer: up to 10 000 are kept an upload (review, 22nd session)
    return [upload_out(u, with_problems=False) for u in qs.defer("problems").order_by("-created_at", "-pk")[:200]]


@router.get("/uploads/{upload_id}", response={200: s.UploadOut})
def get_upload(request: HttpRequest, upload_id: int = ID) -> dict[str, Any]:
    user = user_of(request)
    return upload_out(get_for(user, VIEW, _uploads(user), pk=upload_id))


@router.post("/uploads/{upload_id}/confirm-deletes", response={200: s.UploadOut},
             summary="Confirm the deletions the mass-delete guard held a replace upload for: it is checked and loaded")
def confirm_upload_deletes(request: HttpRequest, payload: s.ConfirmIn | None = None,
                           upload_id: int = ID) -> dict[str, Any]:
    from govshare.exchange.actions.uploads import do_confirm_upload_deletes

    user = user_of(request)
    upload = do_confirm_upload_deletes(user, get_for(user, VIEW, _uploads(user), pk=upload_id),
                                       pending=payload.pending if payload else None)
    return upload_out(get_for(user, VIEW, _uploads(user), pk=upload.pk))


@router.post("/uploads/{upload_id}/resume", response={200: s.UploadOut},
             summary="Resume a failed load from its last committed batch (the rows it stored stay)")
def resume_upload(request: HttpRequest, upload_id: int = ID) -> dict[str, Any]:
    from govshare.exchange.actions.uploads import do_resume_upload

    user = user_of(request)
    upload = do_resume_upload(user, get_for(user, VIEW, _uploads(user), pk=upload_id))
    return upload_out(get_for(user, VIEW, _uploads(user), pk=upload.pk))


@router.post("/uploads/{upload_id}/discard", response={200: s.UploadOut},
             summary="Discard an upload the mass-delete guard held: nothing of it is stored")
def discard_upload(request: HttpRequest, upload_id: int = ID) -> dict[str, Any]:
    from govshare.exchange.actions.uploads import do_discard_upload

    user = user_of(request)
    upload = do_discard_upload(user, get_for(user, VIEW, _uploads(user), pk=upload_id))
    return upload_out(get_for(user, VIEW, _uploads(user), pk=upload.pk))


# -- shared files (EXC-2, issue 11 item 7) ---------------------------------------------------------------------------

#: a consuming system's key first, then a personal token or the browser session (as the data API)
FILE_AUTH = channel_auth()

def _file_out(found: Any, purpose: str) -> dict[str, Any]:
    from urllib.parse import urlencode

    query = f"?{urlencode({'purpose': purpose})}" if purpose else ""
    return {"id": found.pk, "name": found.name, "description": found.description, "versions": [
        {"number": v.number, "original_name": v.original_name, "kind": v.kind, "media_type": v.media_type,
         "size": v.size, "sha256": v.sha256, "note": v.note, "uploaded_at": v.uploaded_at,
         "content": f"/api/v1/exchange/files/{found.pk}/versions/{v.number}/content{query}"}
        for v in found.versions.order_by("-number")]}


def _file_reader(request: HttpRequest, entry_id: int, purpose: str) -> tuple[Any, Any]:
    """(entry, how the caller may read its files): a consuming system with its key (``Bearer gsk_…``) acts as
    itself under its grants over the file channel, as on the data API; a person through the permission
    chokepoint.  A refusal is recorded (the access check)."""
    from govshare.catalog.refs import get_published_entry
    from govshare.exchange.entryfiles import reader_of
    from govshare.sharing.auth import system_of

    system = system_of(request)
    if system is not None:
        entry = get_published_entry(str(entry_id))
        return entry, reader_of(None, entry, purpose, system=system)
    user = user_of(request)
    entry = get_for(user, VIEW, CatalogEntry.objects.select_related("current_version", "provider"), pk=entry_id)
    return entry, reader_of(user, entry, purpose)


@router.get("/entries/{entry_id}/files", response={200: list[s.EntryFileOut]}, auth=FILE_AUTH,
            summary="The files shared under an entry of a file kind, every version (a consumer: ?purpose= of its "
                    "grant over the file channel; a consuming system may call with its own key)")
def list_entry_files(request: HttpRequest, entry_id: int = ID,
                     purpose: str = Query("", max_length=100)) -> list[dict[str, Any]]:
    from govshare.exchange.models import EntryFile

    entry, _reader = _file_reader(request, entry_id, purpose)
    return [_file_out(f, purpose) for f in EntryFile.objects.filter(entry=entry).prefetch_related("versions")]


@router.post("/entries/{entry_id}/files", response={201: s.FileVersionOut},
             summary="Share a file, or a new version of one (multipart: file, name, note, file_id); large files: "
                     "the resumable upload")
def share_file(request: HttpRequest, file: UploadedFile = File(...), name: str = Form(""),  # noqa: B008
               note: str = Form(""), file_id: int | None = Form(None), entry_id: int = ID) -> Any:  # noqa: B008
    from govshare.core import files as core_files
    from govshare.exchange.actions.files import do_share_file

    user = user_of(request)
    entry = _provider_entry(user, entry_id)
    limit = 100 * core_files.MB  # a whole file in one request; larger ones through the resumable upload
    core_files.check_size(int(file.size or 0), limit, where=file.name or "file", field="file")
    version = do_share_file(user, entry, name=name, original_name=file.name or "file", data=file.read(limit + 1),
                            note=note, file_id=file_id)
    return Status(201, _file_out(version.file, "")["versions"][0])


def _upload_out(upload: Any) -> dict[str, Any]:
    return {"id": str(upload.token), "offset": upload.received, "size": upload.size, "status": upload.status,
            "version": upload.version.number if upload.version_id else None, "error": upload.error}


@router.post("/entries/{entry_id}/file-uploads", response={201: s.FileUploadOut},
             summary="Start a resumable upload of a large file: then PATCH /file-uploads/{id} with the header "
                     "Upload-Offset and the bytes (pieces up to 16 MB)")
def start_file_upload(request: HttpRequest, payload: s.FileUploadIn, entry_id: int = ID) -> Any:
    from govshare.exchange.actions.files import do_start_file_upload

    user = user_of(request)
    upload = do_start_file_upload(user, _provider_entry(user, entry_id), name=payload.name,
                                  original_name=payload.file_name, size=payload.size, sha256=payload.sha256,
                                  note=payload.note, file_id=payload.file)
    return Status(201, _upload_out(upload))


def _file_upload(user: Any, token: str) -> Any:
    import uuid

    from govshare.exchange.models import FileUpload

    try:
        key = uuid.UUID(token)
    except ValueError:
        raise NotFound("file_upload") from None
    found = FileUpload.objects.select_related("version").filter(token=key, created_by=user).first()
    if found is None:
        raise NotFound("file_upload")
    return found


@router.get("/file-uploads/{token}", response={200: s.FileUploadOut}, summary="How much of an upload has arrived")
def get_file_upload(request: HttpRequest, token: str = Path(..., max_length=40)) -> dict[str, Any]:
    return _upload_out(_file_upload(user_of(request), token))


@router.patch("/file-uploads/{token}", response={200: s.FileUploadOut},
              summary="Send the next piece (raw body; header Upload-Offset: the offset the server holds)")
def append_file_upload(request: HttpRequest, token: str = Path(..., max_length=40)) -> dict[str, Any]:
    from govshare.core.errors import ValidationFailed
    from govshare.exchange.actions.files import MAX_PIECE, do_append_file_upload

    user = user_of(request)
    upload = _file_upload(user, token)
    offset = request.headers.get("Upload-Offset", "")
    if not re.fullmatch(r"[0-9]{1,15}", offset):
        raise ValidationFailed("bad_offset", "Upload-Offset: the offset in bytes, a whole number.", field="offset")
    piece = request.read(MAX_PIECE + 1)
    upload = do_append_file_upload(user, upload, offset=int(offset), piece=piece)
    return _upload_out(upload)


@router.get("/files/{file_id}/versions/{number}/content", auth=FILE_AUTH,
            summary="Download a version of a shared file (the provider; a consumer with ?purpose= of its file grant, "
                    "a consuming system with its own key too; recorded with the file's SHA-256)")
def file_content(request: HttpRequest, file_id: int = ID, number: int = Path(..., ge=1, le=100000),
                 purpose: str = Query("", max_length=100)) -> Any:
    from urllib.parse import quote

    from django.http import FileResponse

    from govshare.core import access_log
    from govshare.core.audit_codes import AuditCode
    from govshare.exchange.entryfiles import download_name, stored_path
    from govshare.exchange.models import FileVersion

    version = FileVersion.objects.select_related("file__entry__provider").filter(file_id=file_id, number=number).first()
    if version is None:
        raise NotFound("file")
    entry, reader = _file_reader(request, version.file.entry_id, purpose)
    if reader.basis == "records":
        raise NotFound("file")  # the centre and auditors see the list, not the content
    access_log.note(request, AuditCode.FILE_FETCHED, entry, results=1, file=version.file.name, version=number,
                    sha256=version.sha256, size=version.size, purpose=purpose,
                    grant=reader.grant.number if reader.grant is not None else None)
    response = FileResponse(stored_path(version.token).open("rb"), content_type=version.media_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(download_name(version.file.name, version.kind))}"
    response["X-Content-SHA256"] = version.sha256
    return response
