"""Delivery of grants into consumers' front-end tables (库表 channel; issue 11 item 1, SHR-4, SEC-3, SEC-4): the job
that runs them on the worker, and when they run.

A delivery run is a core job (``exchange.deliver``).  It makes the one access check every channel makes
(:func:`govshare.datastore.delivery.authorise`, for the consuming system that owns the front-end database, the
grant's purpose, the table channel, judged by the binding's own grant), masks with the grant's rules through the
one masking library, and writes the centre's changes after the target's own position
(:mod:`govshare.exchange.engine.deliver`: each batch and the target's state row in one target transaction).
Before every batch the grant is checked again: a revoked or expired grant stops the delivery there, and the run
says why.  Every batch is in the access log (``DATA_DELIVERED``: the grant, the system, the table, the changes,
the receipt) — the grant's usage records.

When: after every successful copy of the entry into the centre, and every minute for a binding behind the centre
(the periodic hook), or by hand.  A *check* run first delivers what is pending, then recomputes the consumer's
table against the centre's rows masked the same way (counts and hashes: source → centre → each consumer)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareMethod
from govshare.core import access_log, audit, crypto, jobs, masking, messages, periodic
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError
from govshare.core.models import AccessEvent
from govshare.core.notify import bilingual, notify
from govshare.datastore import delivery
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import Store, StoreError
from govshare.exchange.engine import deliver
from govshare.exchange.engine import sources as engine
from govshare.exchange.models import DeliveryBinding, DeliveryRun, TableBinding
from govshare.exchange.sources import explain, spec_for
from govshare.sharing.access import check_access
from govshare.sharing.models import Grant

DELIVER_JOB = "exchange.deliver"
BATCH_ROWS = 5000
#: how many centre rows a check reads per page
CHECK_PAGE = 20_000
log = logging.getLogger("govshare.exchange")

WORDS: dict[str, Any] = {
    "table_exists": _("The table %(table)s already exists in the front-end database and was not made by govshare: "
                      "choose another table name (govshare never writes into a table it did not make)."),
    "table_taken": _("The table %(table)s receives another delivery: choose another table name."),
    "conflict": _("Another process delivered into %(table)s at the same time; the delivery will go on from there."),
    "stopped": _("Delivery stopped: %(detail)s"),
    "target": _("The front-end database refused the delivery (%(detail)s)."),
    "not_in_centre": _("The data resource centre holds no data of %(entry)s yet: it is delivered after the first copy "
                       "into the centre."),
    "item_not_in_centre": _("The data resource centre's table of %(entry)s has no item %(item)s yet (the entry "
                            "changed): it is delivered after the next copy into the centre."),
    "store": _("The data resource centre's database cannot be read (%(detail)s)."),
    "unexpected": _("The delivery failed unexpectedly (%(detail)s): what was committed stays, the next delivery goes "
                    "on from there; if it fails again, tell the centre."),
    "centre_rebuilding": _("The data resource centre's table of %(entry)s is to be made again for the entry's new "
                           "version: it is delivered after that copy."),
}


class DeliveryFailed(GovshareError):
    status = 409


def failure(code: str, **params: Any) -> DeliveryFailed:
    return DeliveryFailed(f"delivery_{code}", WORDS.get(code, WORDS["target"]), **params)


@dataclass
class Prepared:
    """Everything a delivery of ``binding`` needs, as of now."""

    binding: DeliveryBinding
    grant: Grant
    plan: deliver.DeliveryPlan
    centre_table: str
    key_positions: list[int]
    item_positions: list[int]
    mask: Any
    secret: bytes
    masks: dict[str, str]
    #: the centre's table for a first copy in SQL (a PostgreSQL centre: deliver.fast_problem decides)
    centre: deliver.CentreTable | None = None
    #: the centre's table as the positions were read from it (``Store.incarnation``): made again since, the
    #: delivery stops (its positions would take other items' values)
    incarnation: str = ""
    #: the items delivered, in order: the grant's items otherwise since, the delivery stops at its next batch
    items: tuple[str, ...] = ()


def signature(binding: DeliveryBinding, grant: Grant) -> str:
    """What a delivered table is made with, from the platform's records alone (no access check, no centre read):
    the grant's items and masking, the catalog's masking of the entry's sensitive items, the consumer's columns, the
    entry's version.  When it differs from the last delivery's, the next pass delivers — and the engine rebuilds the
    table if its shape changed (a tightened rule reaches rows already delivered, not only new ones)."""
    import hashlib
    import json

    body: list[Any] = [sorted(str(i) for i in grant.items or []), grant.masking or {},
                       delivery.catalog_masking(grant.entry), binding.columns or {}, grant.entry.current_version_id]
    generation = TableBinding.objects.centre_state(grant.entry_id).generation
    if generation > 1:  # the centre's table made again (signatures made before any rebuild stay as they were)
        body.append(["generation", generation])
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def grant_secret(grant: Grant) -> bytes:
    """The grant's own key: ``_gs_key`` of its delivered rows (and its pseudonyms) cannot be joined across grants."""
    return masking.grant_key(crypto.pseudonym_secret(), str(grant.number or grant.pk))


def prepare(binding: DeliveryBinding, store: Store) -> Prepared:
    """The plan of a delivery: the access check (refused: :class:`…delivery.AccessRefused`, recorded), the
    masks, the centre's positions of the key and the granted items, the target's columns and shape."""
    grant = Grant.objects.select_related("entry__current_version", "entry__provider").get(pk=binding.grant_id)
    entry = grant.entry
    # a delivery into a table is the table channel, whatever the grant says now (a grant moved to the API channel
    # stops its deliveries — review of the 21st session: the grant's own channel was passed, which always passed)
    allowed = delivery.authorise(entry, system=binding.system, purpose=grant.purpose,
                                 items=delivery.granted_items(entry, grant), channel=ShareMethod.TABLE, grant=grant)
    table = table_for(entry)
    if not store.has_table(table):
        raise failure("not_in_centre", entry=entry.code)
    state = TableBinding.objects.centre_state(entry.pk)
    if state.rebuild_pending:
        raise failure("centre_rebuilding", entry=entry.code)
    incarnation = store.incarnation(table)
    columns, key = store.describe(table)
    position = {c.name: i for i, c in enumerate(columns)}
    missing = [name for name in allowed.items if name not in position]
    if missing:
        raise failure("item_not_in_centre", entry=entry.code, item=missing[0])
    targets: list[deliver.TargetColumn] = []
    for name, mask in zip(allowed.items, allowed.masks, strict=True):
        column = columns[position[name]]
        hides = mask is not None and mask.kind != "none"
        targets.append(deliver.TargetColumn(
            str(binding.columns.get(name) or name), mask.output_letter(column.letter) if hides and mask else column.letter,
            None if hides else column.length, digits=column.length if column.letter in "NY" else None))
    canonical = allowed.canonical_masks
    shape = deliver.shape_of(targets, [canonical[name] for name in allowed.items], [*allowed.items], key=key,
                             generation=state.generation)
    plan = deliver.DeliveryPlan(target=spec_for(binding.target, interactive=False), schema=binding.schema_name,
                                table=binding.table_name, binding=binding.name, columns=tuple(targets), shape=shape,
                                batch_rows=BATCH_ROWS)
    letters = [(f"c{position[name] + 1}", columns[position[name]].letter) for name in allowed.items]
    centre = deliver.CentreTable(
        store.url, table, key=tuple((f"c{position[k] + 1}", columns[position[k]].letter) for k in key),
        items=tuple(letters), masks=tuple(allowed.masks), mask_key=allowed.key) if store.kind == "postgresql" else None
    return Prepared(binding, grant, plan, table, [position[k] for k in key], [position[n] for n in allowed.items],
                    allowed.mask, grant_secret(grant), allowed.masked, centre, incarnation, tuple(allowed.items))


#: why a delivery stopped when a person paused it (the worker saw it: :func:`finish`'s ``paused``)
PAUSED = _("the delivery was paused")


def still_allowed(prepared: Prepared, store: Store | None = None) -> str | None:
    """Why the delivery must stop now (None: go on) — asked before every batch: the grant revoked or expired,
    the binding paused, the system or the front-end database deactivated, the masks changed, the centre's table to
    be made again or made again.  ``store``: the delivery's own (idle between batches), else one is opened."""
    binding = DeliveryBinding.objects.select_related("system", "target").get(pk=prepared.binding.pk)
    if not binding.is_active:
        return str(bilingual(PAUSED))
    if not binding.target.is_active:
        return str(bilingual(_("the front-end database was deactivated")))
    if not binding.target.receives_deliveries:
        return str(bilingual(_("the front-end database no longer receives deliveries")))
    if TableBinding.objects.centre_state(prepared.grant.entry_id).rebuild_pending:
        return str(bilingual(_("the centre's table of the entry is to be made again (the next delivery after it "
                               "makes the table again)")))
    if prepared.incarnation:
        with contextlib.nullcontext(store) if store is not None else open_store() as centre:
            if centre.incarnation(prepared.centre_table) != prepared.incarnation:
                return str(bilingual(_("the centre's table of the entry was made again (the next delivery makes "
                                       "the table again)")))
    grant = Grant.objects.select_related("entry__current_version").get(pk=prepared.grant.pk)
    decision = check_access(entry=grant.entry, purpose=grant.purpose, items=delivery.granted_items(grant.entry, grant),
                            system=binding.system, channel=ShareMethod.TABLE, grant=grant, record=True)
    if not decision.allowed:
        return str(decision.explain())
    if prepared.items and tuple(decision.items) != prepared.items:  # an item taken from the grant (or added) since
        return str(bilingual(_("the grant's items changed (the next delivery makes the table again)")))
    masks, _key = delivery.masks_for(decision, grant.entry)
    now = {name: (m.canonical() if m is not None and m.hides_value else "") for name, m in zip(decision.items, masks,
                                                                                               strict=True)}
    if {k: v for k, v in now.items() if v} != prepared.masks:
        return str(bilingual(_("the masking rules changed (the next delivery rebuilds the table)")))
    return None


def changes_of(prepared: Prepared, store: Store) -> Any:
    keys, items = prepared.key_positions, prepared.item_positions

    def changes(seq: int, limit: int) -> list[deliver.Change]:
        return [(tuple(row[i] for i in keys), tuple(row[i] for i in items), int(row[-2]), bool(row[-1]))
                for row in store.changes_since(prepared.centre_table, seq, limit)]

    return changes


def centre_rows(prepared: Prepared, store: Store) -> Any:
    """The centre's live rows ``(key, granted values)``, page by page along ``_seq``."""
    keys, items = prepared.key_positions, prepared.item_positions
    seq = 0
    while True:
        page = store.changes_since(prepared.centre_table, seq, CHECK_PAGE)
        for row in page:
            if not row[-1]:
                yield tuple(row[i] for i in keys), tuple(row[i] for i in items)
        if len(page) < CHECK_PAGE:
            return
        seq = int(page[-1][-2])


# -- the job ----------------------------------------------------------------------------------------------------

def _explained(exc: BaseException, binding: DeliveryBinding) -> GovshareError:
    if isinstance(exc, GovshareError):
        return exc
    if isinstance(exc, deliver.DeliveryError):
        return failure(exc.code, table=binding.table_text(), detail=exc.detail)
    if isinstance(exc, engine.SourceError):
        return explain(exc, binding.target, table=binding.table_text())
    if isinstance(exc, StoreError):
        return failure("store", detail=str(exc))
    return failure("unexpected", detail=f"{type(exc).__name__}: {exc}"[:300])


@jobs.handler(DELIVER_JOB)
def run_delivery(ctx: jobs.JobContext) -> dict[str, Any]:
    run = DeliveryRun.objects.select_related("binding__grant__entry", "binding__system", "binding__target").get(
        pk=ctx.params["run"])
    if run.status not in DeliveryRun.OPEN_STATUSES:
        ctx.log(f"delivery run {run.pk} has already ended ({run.status})")
        return {"run": run.pk, "status": run.status}
    DeliveryRun.objects.filter(pk=run.pk, status__in=DeliveryRun.OPEN_STATUSES).update(
        status=DeliveryRun.Status.RUNNING, started_at=run.started_at or timezone.now())
    binding = run.binding
    totals: dict[str, Any] = {"batches": 0, "written": 0, "deleted": 0}
    try:
        with open_store() as store:
            prepared = prepare(binding, store)
            ctx.log(f"{run.kind} {binding.grant.number} -> {binding.target.code}:{binding.table_text()}")
            summary = store.summary(prepared.centre_table)

            def on_batch(receipt: deliver.BatchReceipt) -> None:
                totals["batches"] += 1
                totals["written"] += receipt.written
                totals["deleted"] += receipt.deleted
                totals.setdefault("seq_from", receipt.seq_from)
                totals.update(seq_to=receipt.seq_to, rows=receipt.rows, content_hash=receipt.content_hash)
                DeliveryRun.objects.filter(pk=run.pk).update(**totals)
                record_batch(binding, prepared.grant, receipt)
                ctx.progress(receipt.seq_to - int(totals["seq_from"]), max(1, summary.last_seq - int(totals["seq_from"])),
                             messages.message(_("%(rows)s rows in the table"), rows=receipt.rows))

            result = deliver.deliver(prepared.plan, changes_of(prepared, store), prepared.mask, prepared.secret,
                                     allowed=lambda: still_allowed(prepared, store), on_batch=on_batch,
                                     on_state=lambda state: record_gap(binding, prepared.grant, state),
                                     centre=prepared.centre, streams=settings.GOVSHARE_DELIVERY_STREAMS)
            totals.update(rows=result.rows, content_hash=result.content_hash, seq_to=result.last_seq,
                          created_table=result.created, rebuilt=result.rebuilt)
            made_with = signature(binding, prepared.grant)
            if result.in_sql:
                ctx.log(f"first copy made in SQL by the centre: {result.in_sql} batches, "
                        f"{settings.GOVSHARE_DELIVERY_STREAMS} centre sessions")
            elif result.not_in_sql and prepared.plan.target.kind == "postgresql":
                ctx.log(f"first copy made in Python: {result.not_in_sql}")
            if result.rebuilt:
                ctx.log("the grant's items or masks changed: the table was made again and everything delivered anew")
            check = None
            if run.kind == DeliveryRun.Kind.CHECK:
                last_seq = store.summary(prepared.centre_table).last_seq
                check = deliver.check(prepared.plan, centre_rows(prepared, store), prepared.mask, prepared.secret,
                                      last_seq, centre=prepared.centre, streams=settings.GOVSHARE_DELIVERY_STREAMS)
                ctx.log(f"check: {'equal' if check.equal else 'DIFFERENT'} ({check.target_rows} rows in the table, "
                        f"{check.centre_rows} in the centre; computed in {check.method}"
                        + (f": {check.not_in_sql}" if check.not_in_sql and prepared.plan.target.kind == "postgresql"
                           else "") + ")")
    except jobs.JobCancelled:
        raise  # stopped by a person or taken over by another worker: the job layer ends or goes on with the run
    except Exception as exc:  # noqa: BLE001 — explained below (an unexpected one is raised again once recorded)
        error = _explained(exc, binding)
        stopped = isinstance(exc, deliver.DeliveryError) and exc.code == "stopped" or \
            isinstance(exc, delivery.AccessRefused)
        paused = isinstance(exc, deliver.DeliveryError) and exc.code == "stopped" and exc.detail == str(bilingual(PAUSED))
        finish(run, DeliveryRun.Status.STOPPED if stopped else DeliveryRun.Status.FAILED, totals, error=error,
               paused=paused)
        if error.code == "delivery_unexpected":
            raise  # ended failed, saying so; the job's log keeps the traceback
        return {"run": run.pk, "status": "stopped" if stopped else "failed", "error": error.code}
    finish(run, DeliveryRun.Status.SUCCEEDED, totals, check=check, made_with=made_with)
    return {"run": run.pk, "status": "succeeded", **{k: v for k, v in totals.items() if k != "content_hash"}}


def record_gap(binding: DeliveryBinding, grant: Grant, state: deliver.State) -> None:
    """Batches the target committed that the access log lacks (the worker died between the target's commit and its
    record): one row for them, marked recovered — a delivery is never missing from the usage records and traces."""
    # the binding's latest row says how far the log goes (one row read, not every batch ever delivered; after a
    # rebuild the sequence starts again, and the latest row is the rebuilt table's)
    seq = (AccessEvent.objects.filter(code=int(AuditCode.DATA_DELIVERED), object_type="catalog.catalogentry",
                                      object_id=str(grant.entry_id), detail__delivery=binding.pk)
           .order_by("-id").values_list("detail__seq", flat=True).first())
    logged = seq[1] if isinstance(seq, list) and len(seq) == 2 and isinstance(seq[1], int) else 0
    if state.last_seq <= logged or state.batches == 0:
        return
    # the rows: known when nothing of the table was logged before (every row of it came in the gap), else not
    # (review of the 22nd session: a first delivery's recovered batch counted 0 rows in the usage totals)
    access_log.record(AuditCode.DATA_DELIVERED, grant.entry, actor=None, as_system=binding.system,
                      results=state.rows if logged == 0 else None,
                      via="worker", grant=grant.number, purpose=grant.purpose, delivery=binding.pk,
                      target=f"{binding.target.code}:{binding.table_text()}", seq=[logged, state.last_seq],
                      rows=state.rows, hash=state.content_hash, recovered=True)


def record_batch(binding: DeliveryBinding, grant: Grant, receipt: deliver.BatchReceipt) -> None:
    """The batch in the access log (SEC-4: the grant's usage records, leak tracing)."""
    access_log.record(AuditCode.DATA_DELIVERED, grant.entry, actor=None, as_system=binding.system,
                      results=receipt.written + receipt.deleted, via="worker", grant=grant.number, purpose=grant.purpose,
                      delivery=binding.pk,
                      target=f"{binding.target.code}:{binding.table_text()}", seq=[receipt.seq_from, receipt.seq_to],
                      written=receipt.written, deleted=receipt.deleted, rows=receipt.rows, hash=receipt.content_hash)


def finish(run: DeliveryRun, status: str, totals: dict[str, Any], *, error: GovshareError | None = None,
           check: deliver.CheckResult | None = None, made_with: str = "", by_person: bool = False,
           paused: bool = False) -> bool:
    """The run's end, once (a conditional UPDATE from an open status), mirrored on the binding; a failure is audited
    and told to the consumer's staff (once per incident).  A run a person ended — stopped because the worker saw the
    delivery paused (``paused``), its job cancelled (``by_person``) — is no failure: neither audited nor told as one
    (the pause and the cancellation are audited themselves), recorded as ``delivery_paused`` (which ends a back-off
    streak: a pause leaves no reason to back off from) / ``delivery_cancelled``; one resumed meanwhile is delivered
    at once (reviews of the 22nd session).  Returns whether it ended the run."""
    if paused:
        error = GovshareError("delivery_paused", _("The delivery was paused."))
    now = timezone.now()
    words = {"code": error.code, "zh": error.render("zh-hans"), "en": error.render("en")} if error else None
    with transaction.atomic():
        moved = DeliveryRun.objects.filter(pk=run.pk, status__in=DeliveryRun.OPEN_STATUSES).update(
            status=status, finished_at=now, error_code=error.code if error else "",
            error_message={"zh": words["zh"], "en": words["en"]} if words else None, **totals)
        if not moved:
            return False
        binding = DeliveryBinding.objects.select_for_update().get(pk=run.binding_id)
        mirror: dict[str, Any] = {"stopped": None if paused else words, "updated_at": now}
        if "rows" in totals:
            mirror.update(rows=totals["rows"], content_hash=totals.get("content_hash", ""),
                          last_seq=totals.get("seq_to", binding.last_seq))
        if totals.get("batches") or status == DeliveryRun.Status.SUCCEEDED:
            mirror["delivered_at"] = now
        if check is not None:
            mirror.update(checked_at=now, last_check=check.as_dict())
        if made_with:
            mirror["signature"] = made_with
        DeliveryBinding.objects.filter(pk=binding.pk).update(**mirror)
        grant = run.binding.grant
        detail = {"grant": grant.number, "target": f"{run.binding.target.code}:{run.binding.table_text()}",
                  "status": status, **{k: v for k, v in totals.items() if k != "content_hash"},
                  **({"error": error.code} if error else {})}
        if check is not None:
            audit.record(AuditCode.DELIVERY_CHECKED, actor=None, obj=run.binding, object_department=grant.consumer,
                         outcome="success" if check.equal else "failure",
                         detail={**detail, "equal": check.equal, "missing": check.missing, "extra": check.extra,
                                 "different": check.different})
        if status != DeliveryRun.Status.SUCCEEDED and not (paused or by_person):
            audit.record(AuditCode.DELIVERY_FAILED, actor=None, obj=run.binding, object_department=grant.consumer,
                         outcome="failure", detail=detail)
            _tell(run, error)
        elif status == DeliveryRun.Status.SUCCEEDED and check is not None and not check.equal:
            _tell(run, None, check=check)
        if paused and binding.is_active:  # resumed while this run was stopping: the resume found it still open
            from govshare.exchange.actions.deliveries import start_for_entries

            transaction.on_commit(lambda: start_for_entries(None, bindings=[binding.pk], at_once=True))
    return True


def _tell(run: DeliveryRun, error: GovshareError | None, *, check: deliver.CheckResult | None = None) -> None:
    from govshare.exchange.runs import staff_of

    before = (DeliveryRun.objects.filter(binding_id=run.binding_id, finished_at__isnull=False)
              .exclude(pk=run.pk).order_by("-finished_at", "-pk").first())
    if error is not None and before is not None and before.error_code == error.code:
        return  # the same incident as the last run: recorded, not sent again
    grant = run.binding.grant
    recipients = staff_of(grant.consumer_id)
    if check is not None:
        subject = messages.message(_("The front-end table of grant %(grant)s differs from the data resource centre"),
                                   grant=grant.number)
        body = messages.message(_("%(missing)s rows missing, %(extra)s rows extra, %(different)s rows different."),
                                missing=check.missing, extra=check.extra, different=check.different)
    else:
        subject = messages.message(_("Delivery of grant %(grant)s into the front-end table stopped"), grant=grant.number)
        body = messages.message(error.message, **error.params) if error else messages.message("")
    transaction.on_commit(lambda: notify(recipients, "exchange.delivery_failed", subject, body,
                                         url=f"/sharing/grants/{grant.pk}/", obj=run.binding))


@periodic.register("exchange.deliveries", every_seconds=60)
def start_behind() -> dict[str, int]:
    """Queue a delivery for every active binding whose usable grant's entry has changes in the centre it has not
    delivered (after a copy into the centre, a crash, a pause)."""
    from govshare.exchange.actions.deliveries import settle_orphaned, start_for_entries

    settle_orphaned()
    return start_for_entries(None)
