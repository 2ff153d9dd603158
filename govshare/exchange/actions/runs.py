"""Starting a copy of a bound table into the data resource centre (issue 10 items 4, 8; EXC-1).

``do_start_run`` checks the binding against the entry and the table first (outside the transaction: it
reads the source), then records the run and its job in one transaction; the worker runs it
(:mod:`govshare.exchange.runs`).  One open run per binding: a second start while one is queued or running is
refused (409), also when two requests arrive at once (a partial unique index decides)."""

from __future__ import annotations

import functools
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, jobs, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed
from govshare.core.permissions import get_for, require
from govshare.core.roles import Capability
from govshare.datastore.centre import table_for
from govshare.exchange import bindings
from govshare.exchange.models import ExchangeRun, Reconciliation, TableBinding
from govshare.exchange.permissions import CHANGE
from govshare.exchange.runs import (
    RECONCILE_JOB,
    RUN_JOB,
    forget_keys,
    reconcile_now,
    settle_orphaned_reconciliations,
    table_identity,
    tell_failure,
)


def choose_kind(binding: TableBinding, requested: str = "") -> tuple[str, bool, dict[str, Any] | None]:
    """What the next copy of ``binding`` is: (kind, whether it reads every key to find deleted rows, the
    watermark it starts from).  Full mode, a first copy, an update-time column changed since the last copy,
    or ``requested`` "full": a full copy (it always finds deletions).  Otherwise an incremental copy from
    the last successful copy's watermark, which also checks for deletions when the last check is older than
    the binding's ``sweep_hours`` (0: every run)."""
    from datetime import timedelta

    from django.utils import timezone

    if requested not in ("", "auto", ExchangeRun.Kind.FULL, ExchangeRun.Kind.INCREMENTAL, ExchangeRun.Kind.LOG,
                         ExchangeRun.Kind.COMPARE):
        raise ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field="kind",
                               choices="auto, full, incremental, compare, log")
    if binding.rebuild_pending:  # the centre's table is made again at the start of a full copy
        if requested not in ("", "auto", ExchangeRun.Kind.FULL):
            raise ValidationFailed("rebuild_pending", _("The centre's table of this entry is to be made again: the "
                                                        "next copy is a full one."), field="kind")
        return ExchangeRun.Kind.FULL, True, None
    # what a copy ended before the centre's table was last made again says nothing of the table as it is now
    since_rebuild = ({"finished_at__gt": binding.rebuilt_at} if binding.rebuilt_at is not None else {})
    if binding.mode == TableBinding.Mode.LOG and requested != ExchangeRun.Kind.FULL:
        # log mode: a full copy after the slot was made, then the changes the slot holds from there on
        last_log = (binding.runs.filter(status=ExchangeRun.Status.SUCCEEDED, watermark__isnull=False,
                                        **since_rebuild)
                    .order_by("-finished_at", "-pk").first())
        if last_log is not None and isinstance(last_log.watermark, dict) and \
                last_log.watermark.get("slot") == binding.slot_name:
            return ExchangeRun.Kind.LOG, False, last_log.watermark
        if requested in (ExchangeRun.Kind.INCREMENTAL, ExchangeRun.Kind.LOG):
            raise ValidationFailed("no_watermark", _("The first copy through replication slot %(column)s is a full "
                                                     "one."), field="kind", column=binding.slot_name)
        return ExchangeRun.Kind.FULL, True, None
    if requested == ExchangeRun.Kind.LOG:
        raise ValidationFailed("not_log", _("The binding is not in log mode."), field="kind")
    if binding.mode == TableBinding.Mode.COMPARE and requested != ExchangeRun.Kind.FULL:
        # its first run reads everything (no map of the source's hashes yet); later ones only what changed
        return ExchangeRun.Kind.COMPARE, True, None
    if requested == ExchangeRun.Kind.FULL or binding.mode != TableBinding.Mode.WATERMARK:
        if requested == ExchangeRun.Kind.INCREMENTAL:
            raise ValidationFailed("not_incremental", _("The binding copies the whole table each time: set an "
                                                        "update-time column first."), field="kind")
        return ExchangeRun.Kind.FULL, True, None
    last = (binding.runs.filter(status=ExchangeRun.Status.SUCCEEDED, watermark__isnull=False, **since_rebuild)
            .order_by("-finished_at", "-pk").first())
    if last is None or not isinstance(last.watermark, dict) or last.watermark.get("column") != binding.update_column \
            or last.watermark.get("table") != table_identity(binding):
        if requested == ExchangeRun.Kind.INCREMENTAL:
            raise ValidationFailed("no_watermark", _("No copy by update-time column %(column)s has finished yet: "
                                                     "the first copy is a full one."), field="kind",
                                   column=binding.update_column)
        return ExchangeRun.Kind.FULL, True, None
    recent = timezone.now() - timedelta(hours=binding.sweep_hours)
    checked = binding.sweep_hours and binding.runs.filter(
        status=ExchangeRun.Status.SUCCEEDED, checks_deletes=True, finished_at__gte=recent).exists()
    return ExchangeRun.Kind.INCREMENTAL, not checked, last.watermark


def do_start_run(actor: Any, binding: TableBinding, *, operator: bool = False, kind: str = "",
                 verified: bool = False) -> ExchangeRun:
    """Queue a copy of ``binding``'s table (``kind``: "full", "incremental", or chosen by the binding's mode:
    :func:`choose_kind`).  ``operator``: the machine operator at the console.  ``verified``: the caller checked
    the binding against the entry and the table just before, outside its transaction (the check reads the
    source: never inside a transaction)."""
    if operator:
        actor = None
        binding = TableBinding.objects.select_related("entry__provider", "entry__current_version",
                                                      "source").get(pk=binding.pk)
    else:
        require(actor, Capability.BIND_TABLES)
        binding = get_for(actor, CHANGE, TableBinding.objects.select_related(
            "entry__provider", "entry__current_version", "source"), pk=binding.pk)
    settle_orphaned_runs()  # a run whose job ended without it must not block this one
    entry = binding.entry
    if binding.runs.filter(status=ExchangeRun.Status.HELD).exists():
        raise Conflict("run_held", _("A copy of %(entry)s has deletions waiting for confirmation: confirm or refuse "
                                     "them first."), field="binding", entry=entry.code)
    if not binding.is_active:
        raise ValidationFailed("binding_paused", _("The binding is paused: resume it first."), field="binding")
    if not binding.source.is_active:
        raise ValidationFailed("source_inactive", _("Front-end database %(name)s is deactivated."), field="binding",
                               name=binding.source.name)
    run_kind, checks_deletes, since = choose_kind(binding, kind)
    if not verified:
        _verify(binding)
    titles: dict[str, Any] = {ExchangeRun.Kind.INCREMENTAL: _("Incremental copy of %(entry)s into the data resource centre"),
              ExchangeRun.Kind.COMPARE: _("Compared copy of %(entry)s into the data resource centre"),
              ExchangeRun.Kind.LOG: _("Changes of %(entry)s from the log into the data resource centre")}
    title = titles.get(run_kind, _("Full copy of %(entry)s into the data resource centre"))
    try:
        with transaction.atomic():
            run = ExchangeRun.objects.create(binding=binding, kind=run_kind, target=table_for(entry),
                                             started_by=actor, checks_deletes=checks_deletes, since=since)
            job = jobs.create_job(RUN_JOB, messages.message(title, entry=entry.code),
                                  {"run": run.pk}, user=actor, department=entry.provider)
            ExchangeRun.objects.filter(pk=run.pk).update(job=job)
            run.job = job
            audit.record(AuditCode.RUN_STARTED, actor=actor, obj=run, object_department=entry.provider,
                         detail={"entry": entry.code, "run": run.run_id, "kind": run.kind,
                                 "checks_deletes": checks_deletes, "source": binding.source.code,
                                 "table": binding.table_text()})
    except IntegrityError:
        raise Conflict("run_open", _("A copy of %(entry)s is already queued or running."), field="binding",
                       entry=entry.code) from None
    return run


def _verify(binding: TableBinding) -> None:
    judgement = bindings.verify(binding)
    if not judgement.ok:
        raise judgement.problems[0] if len(judgement.problems) == 1 else ManyProblems(judgement.problems)


def do_rebuild_centre_table(actor: Any, binding: TableBinding, *, confirm: bool = False,
                            operator: bool = False) -> ExchangeRun:
    """Make the centre's table of the binding's entry again, in the shape of the entry's current version, and copy
    the whole source table into it: for a new version the table cannot take as it is (an item removed, reordered,
    of another type, another key: the copies fail "shape_changed").  The table is emptied when the full copy this
    queues starts (:func:`govshare.exchange.runs.run_copy`), so the entry's data channels serve less until it ends;
    consumers' delivered tables are made again after it.  ``confirm`` must be true (a person was told that)."""
    related = ("entry__provider", "entry__current_version", "version", "source")
    if operator:
        actor = None
        binding = TableBinding.objects.select_related(*related).get(pk=binding.pk)
    else:
        require(actor, Capability.BIND_TABLES)
        binding = get_for(actor, CHANGE, TableBinding.objects.select_related(*related), pk=binding.pk)
    entry = binding.entry
    if not confirm:
        raise ValidationFailed("confirm_rebuild", _("Rebuilding empties the centre's table of %(entry)s until the "
                                                    "full copy that follows has read the source table again, and "
                                                    "makes consumers' delivered tables again: confirm to go on."),
                               field="confirm", entry=entry.code)
    _refuse_while_busy(binding)
    _verify(binding)  # before the transaction: it reads the source
    with transaction.atomic():
        TableBinding.objects.select_for_update().filter(pk=binding.pk).first()
        _refuse_while_busy(binding)  # again, under the binding's lock
        if not binding.rebuild_pending:
            TableBinding.objects.filter(pk=binding.pk).update(rebuild_pending=True)
            binding.rebuild_pending = True
        audit.record(AuditCode.REBUILD_REQUESTED, actor=actor, obj=binding, object_department=entry.provider,
                     detail={"entry": entry.code, "table": table_for(entry), "version": binding.version.number})
        return do_start_run(actor, binding, operator=operator, kind=ExchangeRun.Kind.FULL, verified=True)


def _refuse_while_busy(binding: TableBinding) -> None:
    """A rebuild waits for the binding's open or held copy, and for the deliveries of its entry that are running (they
    read the table by the positions of its items: a table made again under them would mix its items)."""
    from govshare.exchange.models import DeliveryRun

    entry = binding.entry
    if binding.runs.filter(status=ExchangeRun.Status.HELD).exists():
        raise Conflict("run_held", _("A copy of %(entry)s has deletions waiting for confirmation: confirm or refuse "
                                     "them first."), field="binding", entry=entry.code)
    if binding.runs.filter(status__in=ExchangeRun.OPEN_STATUSES).exists():
        raise Conflict("run_open", _("A copy of %(entry)s is already queued or running."), field="binding",
                       entry=entry.code)
    if DeliveryRun.objects.filter(binding__grant__entry=entry, status__in=DeliveryRun.OPEN_STATUSES).exists():
        raise Conflict("deliveries_running", _("Deliveries of %(entry)s are running: rebuild when they have ended."),
                       field="binding", entry=entry.code)


def _held_run(actor: Any, run: ExchangeRun, operator: bool) -> tuple[TableBinding, ExchangeRun]:
    if operator:  # the machine operator at the console
        binding = TableBinding.objects.select_related("entry__provider").get(pk=run.binding_id)
    else:
        require(actor, Capability.BIND_TABLES)
        binding = get_for(actor, CHANGE, TableBinding.objects.select_related("entry__provider"), pk=run.binding_id)
    run = ExchangeRun.objects.select_for_update().get(pk=run.pk, binding=binding)
    if run.status != ExchangeRun.Status.HELD:
        raise Conflict("run_not_held", _("This copy has no deletions waiting for confirmation."))
    return binding, run


def do_confirm_deletes(actor: Any, run: ExchangeRun, *, pending: int | None = None,
                       operator: bool = False) -> ExchangeRun:
    """Confirm the deletions the mass-delete guard held (issue 10 item 5): the run goes on (a new job, the same
    run) and tombstones the rows it found missing when it was held (the source is not read again) — as long as
    they are no more than the number the person confirms (``pending``, the run's count when not given)."""
    with transaction.atomic():
        binding, run = _held_run(actor, run, operator)
        actor = None if operator else actor
        seen = run.pending_deletes if pending is None else pending
        if isinstance(seen, bool) or not isinstance(seen, int) or seen < 0:
            raise ValidationFailed("invalid", _("Enter the number of deletions you confirm."), field="pending")
        job = jobs.create_job(RUN_JOB, messages.message(_("Deletions confirmed in %(entry)s"), entry=binding.entry.code),
                              {"run": run.pk, "confirmed": seen}, user=actor, department=binding.entry.provider)
        ExchangeRun.objects.filter(pk=run.pk).update(status=ExchangeRun.Status.QUEUED, job=job, confirmed_deletes=seen,
                                                     confirmed_by=actor)
        audit.record(AuditCode.DELETES_CONFIRMED, actor=actor, obj=run, object_department=binding.entry.provider,
                     detail={"entry": binding.entry.code, "run": run.run_id, "confirmed": seen,
                             "pending": run.pending_deletes, "live": run.live_rows})
    run.refresh_from_db()
    return run


def do_refuse_deletes(actor: Any, run: ExchangeRun, *, operator: bool = False) -> ExchangeRun:
    """Refuse the held deletions: the run ends (stopped) without deleting anything; the rows it copied stay.
    The next scheduled copy waits a whole cycle (the source is presumably being repaired) and is held again
    if the rows are still missing."""
    from django.utils import timezone


    with transaction.atomic():
        binding, run = _held_run(actor, run, operator)
        actor = None if operator else actor
        error = GovshareError("deletes_refused", _("The %(pending)s deletions the copy found were refused: nothing "
                                                   "was deleted."), pending=run.pending_deletes)
        ExchangeRun.objects.filter(pk=run.pk).update(
            status=ExchangeRun.Status.STOPPED, finished_at=timezone.now(), error_code=error.code,
            error_message={"zh": error.render("zh-hans"), "en": error.render("en")})
        audit.record(AuditCode.DELETES_REFUSED, actor=actor, obj=run, object_department=binding.entry.provider,
                     detail={"entry": binding.entry.code, "run": run.run_id, "pending": run.pending_deletes})
    run.refresh_from_db()
    forget_keys(run)
    return run


def record_unstartable(binding: TableBinding, error: GovshareError) -> ExchangeRun:
    """A scheduled copy that could not start (the binding no longer matches, the source refuses): recorded as
    a failed run — its page and the notice say why, and the next try waits (exchange.schedule backs off)."""
    from django.utils import timezone

    with transaction.atomic():
        run = ExchangeRun.objects.create(
            binding=binding, kind=choose_kind(binding)[0], target=table_for(binding.entry),
            status=ExchangeRun.Status.FAILED, finished_at=timezone.now(), error_code=error.code,
            error_message={"zh": error.render("zh-hans"), "en": error.render("en")})
        audit.record(AuditCode.RUN_FAILED, actor=None, obj=run, object_department=binding.entry.provider,
                     outcome="failure", detail={"entry": binding.entry.code, "run": run.run_id, "status": run.status,
                                                "error": error.code, "scheduled": True})
        tell_failure(run, error)
    return run


def do_stop_run(actor: Any, run: ExchangeRun) -> ExchangeRun:
    """Stop a queued or running copy.  Its job is cancelled (a conditional UPDATE); a running copy stops after
    the batch in hand — everything committed so far stays, a later copy goes on from the centre's state — and
    its end is recorded by the worker; a queued one is recorded as stopped here."""
    from django.utils import timezone

    from govshare.core.models import Job

    require(actor, Capability.BIND_TABLES)
    with transaction.atomic():
        binding = get_for(actor, CHANGE, TableBinding.objects.select_related("entry__provider"), pk=run.binding_id)
        run = ExchangeRun.objects.select_for_update().get(pk=run.pk, binding=binding)
        if run.status not in ExchangeRun.OPEN_STATUSES:
            raise Conflict("run_finished", _("This copy has already ended."))
        if run.job_id is not None:
            message, node = messages.stored(messages.message(_("Stopped by %(user)s."), user=str(actor)))
            Job.objects.filter(pk=run.job_id, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
                status=Job.Status.CANCELLED, finished_at=timezone.now(), message=message, message_node=node)
        if run.status == ExchangeRun.Status.QUEUED:
            run.status = ExchangeRun.Status.STOPPED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
            stopped = run
            transaction.on_commit(lambda: forget_keys(stopped))  # a confirmed run may have a key list
            audit.record(AuditCode.RUN_STOPPED, actor=actor, obj=run, object_department=binding.entry.provider,
                         detail={"entry": binding.entry.code, "run": run.run_id, "status": run.status})
    return run


def settle_orphaned_runs() -> int:
    """Runs whose job ended without them (cancelled while queued, failed for good after its workers died):
    ended to match, so none stays "running" for ever or blocks the next copy.  Returns how many."""
    from django.utils import timezone

    from govshare.core.models import Job

    ended: dict[str, str] = {Job.Status.CANCELLED: ExchangeRun.Status.STOPPED,
                             Job.Status.FAILED: ExchangeRun.Status.FAILED,
                             Job.Status.SUCCEEDED: ExchangeRun.Status.FAILED}
    count = 0
    for run in ExchangeRun.objects.filter(status__in=ExchangeRun.OPEN_STATUSES,
                                          job__status__in=list(ended)).select_related("job", "binding__entry"):
        assert run.job is not None
        status = ended[run.job.status]
        with transaction.atomic():
            moved = ExchangeRun.objects.filter(pk=run.pk, status__in=ExchangeRun.OPEN_STATUSES).update(
                status=status, finished_at=timezone.now(), error_code="" if status == "stopped" else "job_ended",
                error_message=None if status == "stopped" else {
                    "zh": f"后台任务已结束（{run.job.status}）：{run.job.message_in('zh-hans')}",
                    "en": f"The background job ended ({run.job.status}): {run.job.message_in('en')}"})
            if moved:
                count += 1
                transaction.on_commit(functools.partial(forget_keys, run))  # the run's key list in the centre
                audit.record(AuditCode.RUN_STOPPED if status == "stopped" else AuditCode.RUN_FAILED, actor=None,
                             obj=run, object_department=run.binding.entry.provider, outcome="failure",
                             detail={"entry": run.binding.entry.code, "run": run.run_id, "status": status,
                                     "job": str(run.job_id)})
                if status == ExchangeRun.Status.FAILED:  # told as a failure in the handler is (review, 22nd session)
                    tell_failure(run, GovshareError("job_ended", _("The background job of the copy ended without it: "
                                                                   "%(reason)s"), reason=run.job.meaning))
    return count


def do_reconcile(actor: Any, binding: TableBinding, *, operator: bool = False) -> Reconciliation:
    """Compare the bound table with the entry's table in the centre (issue 10 item 7): counts, content hashes,
    the differing keys.  It reads both whole: queued as a background job (``exchange.reconcile``) for people;
    the machine operator at the console (``operator``) runs it in place.  The binding is checked first."""
    if not operator:
        require(actor, Capability.BIND_TABLES)
        binding = get_for(actor, CHANGE, TableBinding.objects.select_related(
            "entry__current_version", "entry__provider", "source"), pk=binding.pk)
    else:
        actor = None
    settle_orphaned_reconciliations()
    if binding.reconciliations.filter(status__in=[Reconciliation.Status.QUEUED, Reconciliation.Status.RUNNING]).exists():
        raise Conflict("reconcile_open", _("A comparison of %(entry)s is already under way: its result comes on the "
                                           "binding's page."), field="binding", entry=binding.entry.code)
    judgement = bindings.verify(binding)
    if not judgement.ok:
        raise judgement.problems[0]
    with transaction.atomic():
        rec = Reconciliation.objects.create(binding=binding, started_by=actor)
        if not operator:
            job = jobs.create_job(RECONCILE_JOB, messages.message(_("Reconciliation of %(entry)s with its source"),
                                                                  entry=binding.entry.code),
                                  {"reconciliation": rec.pk}, user=actor, department=binding.entry.provider)
            Reconciliation.objects.filter(pk=rec.pk).update(job=job)
            rec.job = job
    if operator:
        reconcile_now(rec)
        rec.refresh_from_db()
    return rec
