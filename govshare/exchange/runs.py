"""Copies of bound tables into the data resource centre (issue 10 items 4, 6, 7; EXC-1): the job that runs
them, on the worker.

A run is a core job (``exchange.copy``): a worker claims it, it streams the source table in keyed batches
into the entry's table in the centre (:func:`govshare.exchange.engine.copy.full_copy`), each batch's rows,
position and receipt committed together in the centre's database.  A worker killed at any moment leaves
the job to another worker (core.jobs), which resumes after the last committed batch: the run id is the
same, so no batch is applied twice.  The binding is checked first (:func:`govshare.exchange.bindings.verify`):
a binding that no longer matches the entry or the table fails the run with the item and the column named.

The run row mirrors the totals (from the receipts, which are authoritative) and the outcome in words; the
end is audited (RUN_FINISHED / RUN_FAILED / RUN_STOPPED) and a failure is sent to the provider's data
specialists and administrators and to the centre's administrators."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit, jobs, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.models import Job, User
from govshare.core.notify import notify
from govshare.core.roles import Role
from govshare.datastore.centre import open_store
from govshare.datastore.engine.store import StoreColumn, StoreError
from govshare.exchange import bindings
from govshare.exchange.engine import copy
from govshare.exchange.engine import sources as engine
from govshare.exchange.engine.rules import RuleSet
from govshare.exchange.models import ExchangeRun, Reconciliation, TableBinding
from govshare.exchange.sources import explain, spec_for

RUN_JOB = "exchange.copy"
#: how long a rebuild waits for the entry's running deliveries to stop at their next batch
REBUILD_WAIT_SECONDS = 120
RECONCILE_JOB = "exchange.reconcile"
#: the binary-COPY path's batches: 10× the keyset copy's (measured 2.4× the throughput at 1 M rows; positions are
#: keys, so a run resumes the same whatever the size)
FAST_BATCH_ROWS = 50_000
log = logging.getLogger("govshare.exchange")

STORE_WORDS: dict[str, Any] = {
    "unavailable": _("The data resource centre's database cannot be reached (%(detail)s)."),
    "shape_changed": _("The centre's table of this entry has other columns than the binding now gives "
                       "(%(detail)s): the entry's items changed since the last copy. Rebuild the centre's table "
                       "from the binding's page."),
    "full": _("The data resource centre's disk is full (%(detail)s)."),
    "busy": _("The centre's table of this entry is being read by a download or a long query and could not be made "
              "again (%(detail)s): the next copy tries again."),
    "other": _("The data resource centre's database refused the copy (%(detail)s)."),
}


def plan_for(binding: TableBinding, *, batch_rows: int = 5000) -> copy.CopyPlan:
    """What to copy: the source column of each item of the entry's current version, the key, the target, the
    update-time column in watermark mode."""
    from govshare.datastore.centre import table_for

    entry: CatalogEntry = binding.entry
    version = entry.current_version
    assert version is not None
    column_of = binding.column_of()
    items = bindings.items_of(version)
    rules, _problems = bindings.parse_rules(version, binding.rules)  # verify() refuses a binding with problems
    return copy.CopyPlan(
        source=spec_for(binding.source, interactive=False), schema=binding.schema_name, table=binding.table_name,
        columns=tuple(column_of[i.name] for i in items),
        items=tuple(StoreColumn(i.name, i.data_type, i.length) for i in items),
        key=tuple(binding.key_columns), target=table_for(entry), batch_rows=batch_rows,
        watermark=binding.update_column if binding.mode == TableBinding.Mode.WATERMARK else "",
        rules=RuleSet(rules) if rules else None, reject_limit=binding.reject_limit_percent / 100,
        key_unique=not binding.key_chosen)


def table_identity(binding: TableBinding) -> str:
    """Which table a watermark was read from: a binding moved to another source or table starts again."""
    return f"{binding.source_id}:{binding.table_text()}"


def _totals(run: ExchangeRun) -> dict[str, Any]:
    """The run's totals from the centre's receipts (authoritative: a batch committed just before a crash
    counts, though its progress update was lost), and the content hash of the entry's table after it."""
    with open_store() as store:
        receipts = store.receipts(run.target, run.run_id)
        summary = store.summary(run.target) if receipts else None
    rows = [r for r in receipts if copy.phase_of(r.position) == "rows" or r.position.get("restore")]
    keys = [r for r in receipts if copy.phase_of(r.position) == "keys" and not r.position.get("restore")]
    return {"batches": len(receipts), "rows_read": sum(r.rows_read for r in rows),
            "inserted": sum(r.inserted for r in rows), "updated": sum(r.updated for r in rows),
            "unchanged": sum(r.unchanged for r in rows), "rejected": sum(r.rejected for r in receipts),
            "keys_read": sum(r.rows_read for r in keys), "deleted": sum(r.deleted for r in receipts),
            "content_hash": summary.content_hash if summary else "",
            "_rows_rejected": sum(r.rejected for r in rows)}  # for validity: rows read, not keys scanned


@jobs.handler(RUN_JOB)
def run_copy(ctx: jobs.JobContext) -> dict[str, Any]:
    run = ExchangeRun.objects.select_related("binding__source__department", "binding__entry__current_version",
                                            "binding__entry__provider").get(pk=ctx.params["run"])
    if run.status not in ExchangeRun.OPEN_STATUSES:
        # ended already (its end committed, then the worker died before the job row said so): nothing again —
        # no second audit row, no second notice, no finished run turned back into a running one
        ctx.log(f"run {run.run_id} has already ended ({run.status})")
        return {"run": run.pk, "status": run.status}
    if not run.binding.is_active and not ctx.params.get("confirmed"):
        # paused after it was queued (the source under repair): nothing more is read — review of the 22nd session
        ctx.log(f"run {run.run_id}: the binding is paused; nothing more read")
        _finish(run, ExchangeRun.Status.STOPPED, GovshareError(
            "binding_paused", _("The binding was paused before the copy began: nothing was read.")
            if run.started_at is None else _("The binding was paused while the copy waited for a worker to go on: "
                                              "the batches it committed stay.")))
        return {"run": run.pk, "status": ExchangeRun.Status.STOPPED}
    ExchangeRun.objects.filter(pk=run.pk, status__in=ExchangeRun.OPEN_STATUSES).update(
        status=ExchangeRun.Status.RUNNING, started_at=run.started_at or timezone.now())
    binding = run.binding
    confirmed = ctx.params.get("confirmed")
    try:
        judgement = bindings.verify(binding)
        if not judgement.ok:
            raise judgement.problems[0]
        plan = plan_for(binding)
        ctx.log(f"{run.kind} copy {binding.source.code}:{binding.table_text()} -> {run.target} ({run.run_id})")
        if run.kind == ExchangeRun.Kind.FULL and TableBinding.objects.centre_state(binding.entry_id).rebuild_pending:
            _rebuild(ctx, run, binding, plan)
        expected = None
        if run.kind == ExchangeRun.Kind.FULL:
            try:  # the progress bar's total (an estimate): a source that cannot say leaves it open
                expected = copy.estimate_rows(plan)
            except engine.SourceError:
                expected = None
            if expected is not None:
                ExchangeRun.objects.filter(pk=run.pk).update(rows_expected=expected)

        def on_batch(receipt: Any) -> None:
            phase = "rows" if receipt.position.get("restore") else copy.phase_of(receipt.position)
            counted = {"rows": {"rows_read": F("rows_read") + receipt.rows_read,
                                "inserted": F("inserted") + receipt.inserted,
                                "updated": F("updated") + receipt.updated,
                                "unchanged": F("unchanged") + receipt.unchanged},
                       "keys": {"keys_read": F("keys_read") + receipt.rows_read},
                       "deletes": {"deleted": F("deleted") + receipt.deleted}}[phase]
            ExchangeRun.objects.filter(pk=run.pk).update(batches=F("batches") + 1,
                                                         rejected=F("rejected") + receipt.rejected, **counted)
            run.rows_read += receipt.rows_read if phase == "rows" else 0
            ctx.progress(run.rows_read, total=expected,  # raises JobCancelled when stopped
                         message=messages.message(_("batch %(batch)s (%(phase)s)"), batch=receipt.batch,
                                                  phase=PHASES.get(phase, phase)))

        log_position: dict[str, Any] | None = None
        caught_up: str | None = None
        with open_store() as store:
            if run.kind == ExchangeRun.Kind.LOG:
                from govshare.exchange.engine import logical

                try:
                    logged = logical.log_copy(plan, store, run_id=run.run_id, slot=binding.slot_name,
                                              plugin=binding.plugin, since=(run.since or {}).get("position"),
                                              on_batch=on_batch, guard_share=binding.delete_guard_percent / 100,
                                              confirmed=None if confirmed is None else int(confirmed))
                except logical.DeletesHeld as held:  # a TRUNCATE, a DELETE without WHERE: a person decides
                    ctx.log(f"held: {held.pending} of {held.live} rows would be deleted")
                    _hold(run, copy.Deletions(held.pending, held.live, 0, True))
                    return {"run": run.pk, "status": ExchangeRun.Status.HELD, "pending_deletes": held.pending}
                result: copy.CopyResult = logged
                # where the next run goes on: this run's last committed position; a run that found nothing of
                # the table committed none — then the one it started from (None: from the slot itself)
                log_position = store.position(plan.target, run.run_id) or (run.since or {}).get("position")
                if not isinstance(log_position, dict) or "lsn" not in log_position:
                    log_position = None
                ctx.log(f"log: {logged.changes} changes up to {logged.lsn}"
                        + (" (rows read again by key by binary COPY, converted in the centre)" if logged.keyed else ""))
                caught_up = logged.caught_up_at.isoformat() if logged.caught_up_at is not None else None
            elif run.kind == ExchangeRun.Kind.COMPARE:
                from govshare.exchange.engine import compare

                compared = compare.compare_copy(plan, store, run_id=run.run_id,
                                                guard_share=binding.delete_guard_percent / 100,
                                                confirmed=None if confirmed is None else int(confirmed),
                                                on_batch=on_batch)
                result = compared.copy
                ctx.log(f"compare: {compared.buckets_read} of {compared.compared or compared.buckets} buckets read "
                        f"({'a full pass' if compared.full_pass else 'changed buckets only'}), aggregate "
                        f"{compared.aggregate_seconds:.1f} s")
                if compared.deletions.held:
                    ctx.log(f"held: {compared.deletions.pending} of {compared.deletions.live} rows would be deleted")
                    _hold(run, compared.deletions)
                    return {"run": run.pk, "status": ExchangeRun.Status.HELD,
                            "pending_deletes": compared.deletions.pending}
            elif run.kind == ExchangeRun.Kind.INCREMENTAL:
                from govshare.exchange.engine import keyranges

                # the changed rows, then (every sweep_hours) the key check, by the fastest paths the pair allows
                result, _keys = keyranges.incremental(
                    dataclasses.replace(plan, batch_rows=FAST_BATCH_ROWS), plan, store, run_id=run.run_id,
                    since=(run.since or {}).get("value"), overlap_seconds=binding.overlap_seconds,
                    check_keys=run.checks_deletes, on_batch=on_batch, log=ctx.log)
            else:
                result = _full_copy(ctx, plan, store, run.run_id, on_batch)
            ctx.log(f"rows: {result.rows_read} read, {result.inserted} inserted, {result.updated} updated, "
                    f"{result.unchanged} unchanged, {result.rejected} quarantined")
            if run.checks_deletes and run.kind != ExchangeRun.Kind.COMPARE:  # compare finds its own
                # a PostgreSQL centre tombstones in the fast paths' batches (a look for unseen rows each)
                deleting = dataclasses.replace(plan, batch_rows=FAST_BATCH_ROWS) if store.kind == "postgresql" \
                    else plan
                outcome = copy.delete_unseen(deleting, store, run_id=run.run_id,
                                             guard_share=binding.delete_guard_percent / 100,
                                             confirmed=None if confirmed is None else int(confirmed),
                                             on_batch=on_batch)
                if outcome.held:
                    ctx.log(f"held: {outcome.pending} of {outcome.live} rows would be deleted "
                            f"(guard {binding.delete_guard_percent}%)")
                    _hold(run, outcome)
                    return {"run": run.pk, "status": ExchangeRun.Status.HELD, "pending_deletes": outcome.pending}
                ctx.log(f"deletions: {outcome.deleted} rows the source no longer has")
        watermark: dict[str, Any] | None = None
        if binding.mode == TableBinding.Mode.LOG and binding.slot_name:
            # where the next log run starts: the position this one ended at (a full copy: the slot's own)
            watermark = {"slot": binding.slot_name, "position": log_position, "caught_up_at": caught_up}
        elif plan.watermark and result.watermark is not None:
            watermark = {"column": plan.watermark, "value": result.watermark, "table": table_identity(binding)}
    except jobs.JobCancelled:
        # cancelled — or taken over by another worker after this one was presumed dead: then that worker
        # carries on with the run, and nothing is recorded here
        if Job.objects.filter(pk=ctx.job.pk, status=Job.Status.CANCELLED).exists():
            _finish(run, ExchangeRun.Status.STOPPED)
        raise
    except engine.SourceError as exc:
        unusable = explain(exc, binding.source, table=binding.table_text())
        _finish(run, ExchangeRun.Status.FAILED, unusable)
        raise unusable from None
    except copy.BatchRefused as exc:
        # items and reasons only: row keys may be ID numbers, and the error is shown beyond the provider
        reasons = "; ".join(dict.fromkeys(f"{item}: {held_words(reason)}" for _key, item, reason in exc.reasons))
        refused = GovshareError(
            "quality_limit", _("Batch %(batch)s: %(rejected)s of its %(rows)s rows broke the rules, more than the "
                               "%(limit)s%% the binding allows — nothing of this batch was applied and the copy "
                               "stopped. First reasons: %(reasons)s"),
            batch=exc.batch, rejected=exc.rejected, rows=exc.rows_read, limit=round(exc.limit * 100),
            reasons=reasons)
        _finish(run, ExchangeRun.Status.FAILED, refused)
        raise refused from None
    except StoreError as exc:
        refused = GovshareError(f"store_{exc.code}", STORE_WORDS.get(exc.code, STORE_WORDS["other"]),
                                detail=exc.detail[:300])
        _finish(run, ExchangeRun.Status.FAILED, refused)
        raise refused from None
    except (GovshareError, ValidationFailed) as exc:
        _finish(run, ExchangeRun.Status.FAILED, exc)
        raise
    except Exception as exc:  # anything else (the platform's own database failing …): the run ends too
        unexpected = GovshareError("run_error", _("The copy stopped on an unexpected error: %(detail)s"),
                                   detail=f"{type(exc).__name__}: {exc}"[:300])
        _finish(run, ExchangeRun.Status.FAILED, unexpected)
        raise
    totals = _finish(run, ExchangeRun.Status.SUCCEEDED, watermark=watermark)
    return {"run": run.pk, **totals}


def _rebuild(ctx: jobs.JobContext, run: ExchangeRun, binding: TableBinding, plan: copy.CopyPlan) -> None:
    """Make the centre's table again in the shape the binding now gives (asked for by
    :func:`govshare.exchange.actions.runs.do_rebuild_centre_table`), before the full copy fills it."""
    key = [plan.items[i].name for i in copy._check(plan)]
    remake_centre_table(ctx, binding, plan.target, plan.items, key, run=run.run_id)


def remake_centre_table(ctx: jobs.JobContext, owner: Any, table: str, items: Any, key: list[str], *,
                        store: Any = None, settle: bool = True, **detail: Any) -> None:
    """Make the centre's table of ``owner``'s entry again, empty, for these items and key — ``owner`` the row
    that keeps the table's rebuild state (a :class:`TableBinding`, or an upload feed for an entry fed by
    spreadsheets alone), its ``rebuild_pending`` set by the caller.  The store's part is one transaction; a worker
    killed before the owner says it is done makes the (still empty) table again, harmlessly.  The entry's query
    indexes are built again once the table exists (``build_waiting``).  ``settle``: the owner
    says so at once (:func:`settle_rebuild`; a binding: its full copy fills the table after); False: the caller
    settles when the table is filled (a replace upload: deliveries wait until then).  ``store``: the caller's own
    (idle), else one is opened; ``detail``: what the audit event adds (the run, the upload)."""
    from govshare.exchange.models import DeliveryRun

    entry = owner.entry
    # deliveries of the entry that were running when the rebuild was asked for stop at their next batch (they see
    # rebuild_pending), new ones do not start: wait for them — a table made again under one would mix its items
    deadline = time.monotonic() + REBUILD_WAIT_SECONDS
    while DeliveryRun.objects.filter(binding__grant__entry_id=entry.pk,
                                     status__in=DeliveryRun.OPEN_STATUSES, started_at__isnull=False).exists():
        if time.monotonic() > deadline:
            raise GovshareError("deliveries_running", _("Deliveries of %(entry)s are still running: the centre's table "
                                                        "was not made again (try again later)."),
                                entry=entry.code)
        ctx.progress(0, message=_("Waiting for the deliveries of the entry to stop…"))
        time.sleep(1)
    from govshare.datastore.actions.indexes import rebuild_after_remake

    with contextlib.nullcontext(store) if store is not None else open_store() as centre:
        dropped = centre.rebuild_table(table, items, key)
    with transaction.atomic():
        rebuild_after_remake(entry.pk)  # (its query indexes went with the old table)
        if settle:
            settle_rebuild(owner)
        audit.record(AuditCode.CENTRE_TABLE_REBUILT, obj=owner, object_department=entry.provider,
                     detail={"entry": entry.code, "table": table, **detail, "rows_dropped": dropped,
                             "generation": owner.generation + (0 if settle else 1),
                             "items": [item.name for item in items], "key": key})
    ctx.log(f"the centre's table {table} was made again for the entry's items as they are now "
            f"({dropped} rows of the old table dropped)")


def settle_rebuild(owner: Any) -> bool:
    """The centre's table of ``owner``'s entry is made again (and filled, for a replace upload): no longer pending,
    one generation more (deliveries make their tables again).  Once: a conditional UPDATE from pending (False: it was
    not pending).  In the caller's transaction."""
    changed = type(owner).objects.filter(pk=owner.pk, rebuild_pending=True).update(
        rebuild_pending=False, generation=F("generation") + 1, rebuilt_at=timezone.now())
    owner.refresh_from_db(fields=["rebuild_pending", "generation", "rebuilt_at"])
    return bool(changed)


def _full_copy(ctx: jobs.JobContext, plan: copy.CopyPlan, store: Any, run_id: str, on_batch: Any) -> copy.CopyResult:
    """A full copy by the fastest path the pair allows (docs/decisions/0004): a PostgreSQL or MySQL/MariaDB source
    into a PostgreSQL centre is converted and hashed in the centre's SQL when every item allows it
    (:func:`fastcopy.eligible`, :func:`mysqlcopy.eligible`: the same rows, hashes, receipts and quarantine as the
    keyset copy); every other pair, and a plan with value rules, floats or a chosen key, takes the keyset copy.
    The run's log says which and why."""
    from govshare.exchange.engine import fastcopy, mysqlcopy

    if plan.source.kind in ("postgresql", "mysql") and store.kind == "postgresql":
        if plan.source.kind == "postgresql":
            why = fastcopy.eligible(plan, store, fastcopy.source_types(plan))
            how = "binary COPY into the centre"
        else:
            why = mysqlcopy.eligible(plan, store, mysqlcopy.source_types(plan))
            how = "rows written as COPY lines by the source's server"
        if why is None:
            ctx.log(f"path: {how}, converted and hashed there, {FAST_BATCH_ROWS} rows a batch")
            try:
                return fastcopy.fast_full_copy(dataclasses.replace(plan, batch_rows=FAST_BATCH_ROWS), store,
                                               run_id=run_id, on_batch=on_batch)
            except mysqlcopy.PageChanged as exc:
                # a busy table without transactions would fail this path's batches again and again: the keyset
                # copy, which needs no snapshot, goes on from the last batch written (the failed one was not)
                ctx.log(f"path: keyset copy for the rest of the run — {exc}")
        else:
            ctx.log(f"path: keyset copy ({why})")
    return copy.full_copy(plan, store, run_id=run_id, on_batch=on_batch)


def _hold(run: ExchangeRun, outcome: copy.Deletions) -> None:
    """The mass-delete guard tripped: the run waits (HELD) with what it would delete; the provider's staff and
    the centre are told.  The run's key list stays in the centre for the confirmation."""
    try:
        totals = _totals(run)
    except StoreError:
        totals = {}
    totals.pop("_rows_rejected", None)
    with transaction.atomic():
        moved = ExchangeRun.objects.filter(pk=run.pk, status__in=ExchangeRun.OPEN_STATUSES).update(
            status=ExchangeRun.Status.HELD, pending_deletes=outcome.pending, live_rows=outcome.live, **totals)
        if not moved:
            return
        run.refresh_from_db()
        entry = run.binding.entry
        percent = run.binding.delete_guard_percent
        audit.record(AuditCode.DELETES_HELD, actor=None, obj=run, object_department=entry.provider,
                     outcome="failure", detail={"entry": entry.code, "run": run.run_id, "pending": outcome.pending,
                                                "live": outcome.live, "guard_percent": percent})
        subject = messages.message(_("Copy of %(entry)s: %(pending)s deletions wait for confirmation"),
                                   entry=entry.code, pending=outcome.pending)
        body = messages.message(_("The copy found %(pending)s of the %(live)s rows in the data resource centre "
                                  "missing at the source — more than the %(percent)s%% the binding allows. A "
                                  "half-read or emptied source looks like this. Nothing was deleted: confirm the "
                                  "deletions or refuse them on the run's page."),
                                pending=outcome.pending, live=outcome.live, percent=percent)
        recipients = [*_provider_staff(run), *_centre_staff()]
        transaction.on_commit(lambda: notify(recipients, "exchange.deletes_held", subject, body,
                                             url=f"/exchange/runs/{run.pk}/", obj=run))


def forget_keys(run: ExchangeRun) -> None:
    """The run's key list in the centre, no longer needed once the run has ended (best effort)."""
    try:
        with open_store() as store:
            store.forget(run.target, run.run_id)
    except StoreError:
        log.warning("could not drop the key list of run %s", run.run_id)


def _finish(run: ExchangeRun, status: str, error: GovshareError | None = None,
            watermark: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record the run's end once: a conditional UPDATE from an open status (a second call writes nothing)."""
    try:
        totals = _totals(run)
    except StoreError:
        totals = {}
    rows_rejected = totals.pop("_rows_rejected", 0)
    if status == ExchangeRun.Status.SUCCEEDED and totals:
        from govshare.exchange.quality import measure

        try:
            with open_store() as store:
                totals["quality"] = measure(store, run.target, totals["rows_read"], rows_rejected)
        except StoreError:
            log.warning("could not measure the quality of run %s", run.run_id)
    code: dict[str, AuditCode] = {ExchangeRun.Status.SUCCEEDED: AuditCode.RUN_FINISHED,
                                  ExchangeRun.Status.STOPPED: AuditCode.RUN_STOPPED}
    with transaction.atomic():
        moved = ExchangeRun.objects.filter(pk=run.pk, status__in=ExchangeRun.OPEN_STATUSES).update(
            status=status, finished_at=timezone.now(), error_code=error.code if error else "",
            error_message={"zh": error.render("zh-hans"), "en": error.render("en")} if error else None,
            watermark=watermark, **totals)
        run.refresh_from_db()
        if not moved:
            return totals
        entry = run.binding.entry
        audit.record(code.get(status, AuditCode.RUN_FAILED), actor=None, obj=run,
                     object_department=entry.provider,
                     outcome="success" if status == ExchangeRun.Status.SUCCEEDED else "failure",
                     detail={"entry": entry.code, "run": run.run_id, "status": status,
                             **({"error": error.code} if error else {}),
                             **{k: v for k, v in totals.items() if k != "quality"}})
        if status == ExchangeRun.Status.FAILED:
            tell_failure(run, error)
        if status == ExchangeRun.Status.SUCCEEDED:  # the consumers' front-end tables follow (issue 11 item 1)
            transaction.on_commit(lambda: _deliver_after(entry.pk))
    forget_keys(run)
    return totals


def _deliver_after(entry_id: int) -> None:
    from govshare.exchange.actions.deliveries import start_for_entries

    try:
        start_for_entries([entry_id])
    except Exception:  # noqa: BLE001 — the copy succeeded; the periodic hook tries the deliveries again
        log.exception("deliveries of entry %s not started", entry_id)


def _provider_staff(run: ExchangeRun) -> list[User]:
    return staff_of(run.binding.entry.provider_id)


def staff_of(*department_ids: int) -> list[User]:
    """The data specialists and administrators of these departments: who is told about their copies."""
    return list(User.objects.filter(department_id__in=department_ids, is_active=True,
                                    role_assignments__role__in=[Role.DATA_SPECIALIST, Role.DEPT_ADMIN]).distinct())


def _centre_staff() -> list[User]:
    return list(User.objects.filter(is_active=True, role_assignments__role=Role.CENTRE_ADMIN).distinct())


def tell_failure(run: ExchangeRun, error: GovshareError | None) -> None:
    """Tell the provider's staff and the centre — once per incident: a copy that fails as the one before it did
    (same reason) is recorded and audited, not sent again."""
    entry = run.binding.entry
    before = (ExchangeRun.objects.filter(binding_id=run.binding_id, finished_at__isnull=False)
              .exclude(pk=run.pk).order_by("-finished_at", "-pk").first())
    if before is not None and before.status == ExchangeRun.Status.FAILED and error is not None \
            and before.error_code == error.code:
        return
    recipients = [*_provider_staff(run), *_centre_staff()]
    subject = messages.message(_("Copy of %(entry)s into the data resource centre failed"), entry=entry.code)
    body = messages.message(error.message, **error.params) if error else ""
    transaction.on_commit(lambda: notify(recipients, "exchange.run_failed", subject, body,
                                         url=f"/exchange/runs/{run.pk}/", obj=run))


def run_receipts(run: ExchangeRun, *, quarantine_limit: int = 200) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's receipts (one per batch) and the first quarantined values, from the centre's database;
    empty when the centre cannot be read (the page says the totals only)."""
    try:
        with open_store() as store:
            receipts = store.receipts(run.target, run.run_id)
            held = store.quarantine(run.target, run.run_id, limit=quarantine_limit)
    except StoreError:
        return [], []
    return ([{"batch": r.batch, "phase": copy.phase_of(r.position), "rows_read": r.rows_read,
              "inserted": r.inserted, "updated": r.updated, "unchanged": r.unchanged, "rejected": r.rejected,
              "deleted": r.deleted, "read_hash": r.read_hash, "written_hash": r.written_hash, "at": r.at}
             for r in receipts],
            [_held(q) for q in held])


#: a copy's phases as its job's progress names them
PHASES: dict[str, Any] = {"rows": _("rows"), "keys": _("keys"), "deletes": _("deletions")}

#: why a value was quarantined (the copy engine's reason codes), in the reader's language
REASONS: dict[str, Any] = {
    "not_text": _("not text (bytes that are not UTF-8)"),
    "nul_character": _("text with a NUL character"),
    "too_long": _("longer than the item allows"),
    "not_a_number": _("not a number"),
    "not_finite": _("not a finite number"),
    "too_many_digits": _("more digits than the item allows"),
    "not_whole": _("not a whole number"),
    "out_of_range": _("out of the range the item can hold"),
    "no_such_date": _("a date that does not exist"),
    "has_time": _("a date and time where a date is wanted"),
    "not_a_date": _("not a date"),
    "not_a_datetime": _("not a date and time"),
    "not_logical": _("not a yes/no value (0/1, true/false, 是/否)"),
    "not_binary": _("not binary data"),
    "type": _("a value of a type the item cannot take"),
    "duplicate_key": _("a key another row of this copy already has"),
    "empty_key": _("a row without a value in its key"),
    # the provider's value rules (govshare.exchange.engine.rules)
    "bad_id_number": _("not a citizen ID number (18 characters, GB 11643)"),
    "id_number_legacy": _("a 15-digit ID number of the first-generation cards"),
    "bad_id_birth_date": _("an ID number whose date of birth does not exist or lies ahead"),
    "bad_id_check": _("an ID number whose check digit is wrong"),
    "bad_uscc": _("not a unified social credit code (18 characters, GB 32100)"),
    "bad_uscc_check": _("a unified social credit code whose check character is wrong"),
    "bad_phone": _("not a telephone number"),
    "not_in_enum": _("not one of the allowed values"),
    "below_min": _("below the lowest value allowed"),
    "above_max": _("above the highest value allowed"),
    "no_match": _("does not match the item's pattern"),
}


def held_words(reason: str) -> str:
    """A quarantine reason (``code: detail``) in the reader's language when its code is known."""
    code, _sep, _detail = str(reason).partition(": ")
    words = REASONS.get(code)
    return str(words) if words is not None else str(reason)


def _held(entry: dict[str, Any]) -> dict[str, Any]:
    """A quarantined value as the pages and the API show it: the reason in words, its code, the engine's detail."""
    code, _sep, detail = str(entry.get("reason", "")).partition(": ")
    words = REASONS.get(code)
    return {"key": str(entry.get("key", "")), "item": str(entry.get("item", "")),
            "reason": str(words) if words is not None else str(entry.get("reason", "")),
            "code": code if words is not None else "", "detail": detail if words is not None else ""}


# ------------------------------------------------------------------ reconciliation (issue 10 item 7)

def reconcile_now(rec: Reconciliation) -> Reconciliation:
    """Compare the source and the centre for ``rec`` and record the outcome once (audit 4204: outcome success
    when equal, failure when they differ or cannot be compared)."""
    from dataclasses import asdict

    rec = Reconciliation.objects.select_related("binding__entry__current_version", "binding__entry__provider",
                                                "binding__source").get(pk=rec.pk)
    if rec.status in (Reconciliation.Status.SUCCEEDED, Reconciliation.Status.FAILED):
        return rec
    Reconciliation.objects.filter(pk=rec.pk).update(status=Reconciliation.Status.RUNNING)
    binding = rec.binding
    error: GovshareError | None = None
    values: dict[str, Any] = {}
    try:
        with open_store() as store:
            report = copy.reconcile(plan_for(binding), store)
        values = asdict(report)
        values["equal"] = report.equal
    except engine.SourceError as exc:
        error = explain(exc, binding.source, table=binding.table_text())
    except StoreError as exc:
        error = GovshareError(f"store_{exc.code}", STORE_WORDS.get(exc.code, STORE_WORDS["other"]),
                              detail=exc.detail[:300])
    except GovshareError as exc:  # the address refused, the file gone, the binding no longer matching
        error = exc
    except Exception as exc:  # anything else ends the comparison too: none stays "running" for ever
        log.exception("reconciliation %s", rec.pk)
        error = GovshareError("run_error", _("The copy stopped on an unexpected error: %(detail)s"),
                              detail=f"{type(exc).__name__}: {exc}"[:300])
    with transaction.atomic():
        if error is not None:
            values = {"status": Reconciliation.Status.FAILED, "error_code": error.code,
                      "error_message": {"zh": error.render("zh-hans"), "en": error.render("en")}}
        else:
            values["status"] = Reconciliation.Status.SUCCEEDED
        Reconciliation.objects.filter(pk=rec.pk).update(finished_at=timezone.now(), **values)
        rec.refresh_from_db()
        audit.record(AuditCode.RECONCILED, actor=None, obj=binding, object_department=binding.entry.provider,
                     outcome="success" if rec.equal else "failure",
                     detail={"entry": binding.entry.code, "reconciliation": rec.pk, "source_rows": rec.source_rows,
                             "centre_rows": rec.centre_rows, "unstorable": rec.source_unstorable,
                             "missing": len(rec.missing_in_centre), "extra": len(rec.extra_in_centre),
                             "different": len(rec.different), **({"error": error.code} if error else {}),
                             **({"started_by": rec.started_by_id} if rec.started_by_id else {})})
        if error is None:  # the report spans source → centre → each consumer: their tables are checked next
            transaction.on_commit(lambda: _check_deliveries(binding.entry_id))
    return rec


def _check_deliveries(entry_id: int) -> None:
    from govshare.exchange.actions.deliveries import start_checks

    try:
        start_checks(entry_id)
    except Exception:  # noqa: BLE001 — the reconciliation itself is recorded; a check can be started by hand
        log.exception("checks of the deliveries of entry %s not started", entry_id)


@jobs.handler(RECONCILE_JOB)
def run_reconcile(ctx: jobs.JobContext) -> dict[str, Any]:
    rec = reconcile_now(Reconciliation.objects.get(pk=ctx.params["reconciliation"]))
    ctx.log(f"reconciliation {rec.pk}: {rec.status}, equal={rec.equal}")
    return {"reconciliation": rec.pk, "status": rec.status, "equal": rec.equal}


def settle_orphaned_reconciliations() -> int:
    """Comparisons whose job ended without them (a worker gone for good, a job cancelled): ended as failed."""
    ended = Reconciliation.objects.filter(status__in=[Reconciliation.Status.QUEUED, Reconciliation.Status.RUNNING],
                                          job__status__in=[Job.Status.FAILED, Job.Status.CANCELLED,
                                                           Job.Status.SUCCEEDED])
    return ended.update(status=Reconciliation.Status.FAILED, finished_at=timezone.now(), error_code="job_ended",
                        error_message={"zh": "后台任务已结束，比对未完成。", "en": "The background job ended before the "
                                                                             "comparison was done."})
