"""Deliveries into consumers' front-end tables (issue 11 item 1): the consumer binds a grant over the table channel
to a table of its own front-end database; runs are started by hand, after each copy into the centre and by the
periodic hook (:mod:`govshare.exchange.deliveries`).

``do_bind_delivery`` checks everything a person can get wrong — the grant (theirs, usable, over the table
channel), the consuming system (theirs; the grant's own if it names one), the front-end database (theirs, marked
as receiving deliveries, active), the table and column names — and tries the database (a writable session, the
table free: never a table govshare did not make) before it saves the binding and its audit event in one
transaction; the first delivery is queued after commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareMethod
from govshare.core import audit, jobs, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, NotFound, ValidationFailed
from govshare.core.models import Job
from govshare.core.permissions import get_for, require
from govshare.core.roles import Capability
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import StoreError
from govshare.exchange import guard
from govshare.exchange.deliveries import DELIVER_JOB, WORDS, finish, signature
from govshare.exchange.engine import deliver
from govshare.exchange.engine import sources as engine
from govshare.exchange.models import CentreTableState, DataSource, DeliveryBinding, DeliveryRun, TableBinding
from govshare.exchange.permissions import CHANGE, USE
from govshare.exchange.sources import explain, spec_for
from govshare.sharing.models import ConsumingSystem, Grant

#: why a table, schema or column name cannot be used (:func:`deliver.check_name`'s codes), in the reader's language
NAME_WORDS: dict[str, Any] = {
    "empty": _("a name is needed, without spaces at either end"),
    "too_long": _("%(name)s is longer than %(limit)s bytes (a Chinese character takes 3)"),
    "bad_character": _("%(name)s has a quote, backslash, percent sign or control character"),
    "reserved": _("%(name)s is reserved: names starting with _gs_ and the table _govshare_delivery are govshare's"),
    "not_identifier": _("%(name)s may hold only letters (of any script), digits and _, and may not start with a "
                        "digit"),
}


def _why(code: str, name: str) -> Any:
    return messages.text(NAME_WORDS[code], name=name, limit=deliver.NAME_BYTES)


def _names(grant: Grant, table: str, schema: str, columns: dict[str, str], target: DataSource) -> tuple[str, str, dict[str, str]]:
    problems: list[GovshareError] = []
    table, schema = (table or "").strip(), (schema or "").strip()
    why = deliver.check_name(table, "table")
    if why:
        problems.append(ValidationFailed("bad_table_name", _("The table name cannot be used: %(why)s."), field="table",
                                         why=_why(why, table)))
    if target.kind == DataSource.Kind.SQLITE and schema in ("main",):
        schema = ""
    if schema and target.kind != DataSource.Kind.POSTGRESQL and not (
            target.kind == DataSource.Kind.MYSQL and schema == target.database):
        problems.append(ValidationFailed("bad_schema", _("Only a PostgreSQL database has schemas: leave the schema "
                                                         "empty."), field="schema_name"))
    elif schema and target.kind == DataSource.Kind.MYSQL:
        schema = ""
    elif schema and (why := deliver.check_name(schema, "schema")):
        problems.append(ValidationFailed("bad_schema", _("The schema name cannot be used: %(why)s."), field="schema_name",
                                         why=_why(why, schema)))
    items = [str(name) for name in grant.items or []]
    chosen: dict[str, str] = {}
    seen: dict[str, str] = {}
    for item in columns or {}:
        if item not in items:
            problems.append(ValidationFailed("not_granted", _("%(item)s is not an item of the grant."),
                                             field=f"columns.{item}", item=item))
    for item in items:
        column = str((columns or {}).get(item) or item).strip()
        why = deliver.check_name(column)
        if why:
            problems.append(ValidationFailed("bad_column_name", _("The column name for %(item)s cannot be used: "
                                                                  "%(why)s."), field=f"columns.{item}", item=item,
                                             why=_why(why, column)))
            continue
        if column.lower() in seen:
            problems.append(ValidationFailed("duplicate_column", _("%(item)s and %(other)s have the same column name "
                                                                   "%(column)s."), field=f"columns.{item}", item=item,
                                             other=seen[column.lower()], column=column))
            continue
        seen[column.lower()] = item
        if column != item:
            chosen[item] = column
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    return table, schema, chosen


def do_bind_delivery(actor: Any, grant: Grant, *, system: ConsumingSystem, target: DataSource, table: str,
                     schema: str = "", columns: dict[str, str] | None = None) -> DeliveryBinding:
    """Bind ``grant`` (the actor's department's, over the table channel) to ``table`` of ``target``."""
    require(actor, Capability.RECEIVE_DELIVERIES)
    grant = get_for(actor, "view", Grant.objects.select_related("entry", "consumer", "system"), pk=grant.pk)
    if grant.consumer_id != actor.department_id:
        raise NotFound("grant")
    if grant.channel != ShareMethod.TABLE:
        raise ValidationFailed("not_table_channel", _("Grant %(grant)s delivers through %(channel)s, not into a "
                                                      "database table."), field="grant", grant=grant.number,
                               channel=grant.get_channel_display())
    if not Grant.objects.usable().filter(pk=grant.pk).exists():
        raise ValidationFailed("grant_not_usable", _("Grant %(grant)s is not in force (revoked, expired or not yet "
                                                     "valid)."), field="grant", grant=grant.number)
    system = ConsumingSystem.objects.filter(pk=system.pk, department_id=grant.consumer_id).first()  # type: ignore[assignment]
    if system is None:
        raise ValidationFailed("system_of_another_department", _("Choose one of your department's consuming "
                                                                 "systems."), field="system")
    if not system.is_active:
        raise ValidationFailed("system_inactive", _("The system %(system)s is deactivated."), field="system",
                               system=system.name)
    if grant.system_id is not None and grant.system_id != system.pk:
        raise ValidationFailed("grant_for_another_system", _("Grant %(grant)s is for the system %(system)s only."),
                               field="system", grant=grant.number, system=grant.system.name if grant.system else "")
    target = get_for(actor, USE, DataSource.objects.select_related("department"), pk=target.pk)
    if target.department_id != grant.consumer_id:
        raise ValidationFailed("source_of_another_department", _("Choose a front-end database of your department."),
                               field="target")
    if not target.receives_deliveries:
        raise ValidationFailed("not_a_target", _("Front-end database %(name)s is not marked as receiving deliveries "
                                                 "(its settings: \"receives deliveries\", with an account that may "
                                                 "create tables)."), field="target", name=target.name)
    if not target.is_active:
        raise ValidationFailed("source_inactive", _("Front-end database %(name)s is deactivated."), field="target",
                               name=target.name)
    table, schema, chosen = _names(grant, table, schema, columns or {}, target)
    if DeliveryBinding.objects.filter(target=target, schema_name=schema, table_name=table).exists():
        raise Conflict("table_taken", WORDS["table_taken"], field="table", table=table)
    try:
        refused = deliver.probe(spec_for(target), schema, table, "-")
    except guard.AddressRefused as exc:
        audit.record_now(AuditCode.SOURCE_REFUSED, actor=actor, obj=target, outcome="denied",
                         object_department=target.department, detail={"reason": exc.reason})
        raise
    except engine.SourceError as exc:
        raise explain(exc, target, table=table) from None
    if refused:
        raise ValidationFailed(refused, WORDS[refused], field="table", table=table)
    try:
        with transaction.atomic():
            binding = DeliveryBinding.objects.create(grant=grant, system=system, target=target, schema_name=schema,
                                                     table_name=table, columns=chosen, created_by=actor)
            audit.record(AuditCode.DELIVERY_BOUND, actor=actor, obj=binding, object_department=grant.consumer,
                         detail={"grant": grant.number, "entry": grant.entry.code, "system": system.code,
                                 "target": target.code, "table": binding.table_text(), "columns": chosen})
            transaction.on_commit(lambda: start_for_entries(None, bindings=[binding.pk]))
    except IntegrityError:
        raise Conflict("table_taken", WORDS["table_taken"], field="table", table=table) from None
    return binding


@transaction.atomic
def do_set_delivery_active(actor: Any, binding: DeliveryBinding, active: bool) -> DeliveryBinding:
    """Pause (a running delivery stops before its next batch) or resume a delivery."""
    require(actor, Capability.RECEIVE_DELIVERIES)
    binding = get_for(actor, CHANGE, DeliveryBinding.objects.select_for_update().select_related("grant"),
                      pk=binding.pk)
    if binding.is_active == active:
        return binding
    binding.is_active = active
    binding.updated_at = timezone.now()
    binding.save(update_fields=["is_active", "updated_at"])
    audit.record(AuditCode.DELIVERY_RESUMED if active else AuditCode.DELIVERY_PAUSED, actor=actor, obj=binding,
                 object_department=binding.grant.consumer, detail={"grant": binding.grant.number})
    if active:
        # at once: a person resumed it, whatever the failures before (a pause is no failure to back off from)
        transaction.on_commit(lambda: start_for_entries(None, bindings=[binding.pk], at_once=True))
    return binding


def do_start_delivery(actor: Any, binding: DeliveryBinding, *, kind: str = DeliveryRun.Kind.DELIVER,
                      operator: bool = False) -> DeliveryRun:
    """Queue a delivery (or a receipt check, which delivers what is pending first) of ``binding``."""
    if kind not in DeliveryRun.Kind.values:
        raise ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field="kind",
                               choices=", ".join(DeliveryRun.Kind.values))
    if operator:
        actor = None
        binding = DeliveryBinding.objects.select_related("grant__entry", "grant__consumer", "target").get(pk=binding.pk)
    else:
        require(actor, Capability.RECEIVE_DELIVERIES)
        binding = get_for(actor, CHANGE, DeliveryBinding.objects.select_related("grant__entry", "grant__consumer",
                                                                                 "target"), pk=binding.pk)
    settle_orphaned()
    if not binding.is_active:
        raise ValidationFailed("delivery_paused", _("The delivery is paused: resume it first."), field="delivery")
    if TableBinding.objects.centre_state(binding.grant.entry_id).rebuild_pending:
        raise Conflict("delivery_centre_rebuilding", _("The data resource centre's table of %(entry)s is to be made "
                                                       "again for the entry's new version: it is delivered after "
                                                       "that copy."), field="delivery", entry=binding.grant.entry.code)
    return _queue(actor, binding, kind)


def _queue(actor: Any, binding: DeliveryBinding, kind: str, *, refused: GovshareError | None = None) -> DeliveryRun:
    grant = binding.grant
    title = (_("Check of the front-end table %(table)s of grant %(grant)s") if kind == DeliveryRun.Kind.CHECK
             else _("Delivery of grant %(grant)s into the front-end table %(table)s"))
    try:
        with transaction.atomic():
            if refused is not None:  # the next run says why, without a job
                now = timezone.now()
                run = DeliveryRun.objects.create(binding=binding, kind=kind, status=DeliveryRun.Status.STOPPED,
                                                 started_by=actor, started_at=now, finished_at=now,
                                                 error_code=refused.code,
                                                 error_message={"zh": refused.render("zh-hans"),
                                                                "en": refused.render("en")})
                DeliveryBinding.objects.filter(pk=binding.pk).update(
                    stopped={"code": refused.code, "zh": refused.render("zh-hans"), "en": refused.render("en")})
                audit.record(AuditCode.DELIVERY_FAILED, actor=actor, obj=binding, object_department=grant.consumer,
                             outcome="failure", detail={"grant": grant.number, "error": refused.code})
                return run
            run = DeliveryRun.objects.create(binding=binding, kind=kind, started_by=actor)
            job = jobs.create_job(DELIVER_JOB, messages.message(title, grant=grant.number, table=binding.table_text()),
                                  {"run": run.pk}, user=actor, department=grant.consumer)
            DeliveryRun.objects.filter(pk=run.pk).update(job=job)
            run.job = job
            audit.record(AuditCode.DELIVERY_STARTED, actor=actor, obj=binding, object_department=grant.consumer,
                         detail={"grant": grant.number, "kind": kind, "run": run.pk,
                                 "target": f"{binding.target.code}:{binding.table_text()}"})
    except IntegrityError:
        raise Conflict("delivery_open", _("A delivery into %(table)s is already queued or running."), field="delivery",
                       table=binding.table_text()) from None
    return run


def _grant_refusal(grant: Grant) -> GovshareError:
    return ValidationFailed("grant_not_usable", _("Grant %(grant)s is not in force (revoked, expired or not yet "
                                                  "valid): nothing more is delivered."), grant=grant.number)


def start_for_entries(entry_ids: list[int] | None, *, bindings: list[int] | None = None,
                      at_once: bool = False) -> dict[str, int]:
    """Queue a delivery for every active binding (of these entries, or these bindings) that has changes in the
    centre it has not delivered and no open run.  A binding whose grant is no longer in force gets one stopped run
    that says why (not one per pass).  ``at_once``: whatever the back-off after failures (a person resumed it)."""
    found = DeliveryBinding.objects.filter(is_active=True, target__is_active=True, target__receives_deliveries=True
                                           ).select_related("grant__entry", "grant__consumer", "target"
                                                            ).exclude(runs__status__in=DeliveryRun.OPEN_STATUSES)
    # (an entry whose centre table is to be made again is delivered after that copy: its _deliver_after)
    found = found.exclude(CentreTableState.pending("grant__entry"))
    if entry_ids is not None:
        found = found.filter(grant__entry_id__in=entry_ids)
    if bindings is not None:
        found = found.filter(pk__in=bindings)
    started = refused = 0
    usable = set(Grant.objects.usable().filter(pk__in=found.values("grant_id")).values_list("pk", flat=True))
    last: dict[int, int | None] = {}
    try:
        with open_store() as store:
            for binding in found:
                if binding.grant_id not in usable:
                    if not binding.stopped or binding.stopped.get("code") != "grant_not_usable":
                        _queue(None, binding, DeliveryRun.Kind.DELIVER, refused=_grant_refusal(binding.grant))
                        refused += 1
                    continue
                entry = binding.grant.entry_id
                if entry not in last:
                    table = table_for(binding.grant.entry)
                    last[entry] = store.summary(table).last_seq if store.has_table(table) else None
                if last[entry] is None:
                    continue
                current = binding.rows is not None and binding.last_seq >= (last[entry] or 0) and \
                    binding.signature == signature(binding, binding.grant)
                if current and not binding.stopped:
                    continue
                if binding.stopped and not at_once and backing_off(binding):
                    continue
                try:
                    _queue(None, binding, DeliveryRun.Kind.DELIVER)
                    started += 1
                except Conflict:
                    continue
    except StoreError:
        return {"started": started, "not_started": refused}
    return {"started": started, "not_started": refused}


#: the codes of runs a person paused (no failure: they end a back-off streak; a cancelled run still counts in it, so
#: that the periodic pass does not start again at once what a person just stopped)
BY_PERSON = ("delivery_paused",)
#: after a stopped or failed delivery, the periodic pass waits this long before the next try, doubling per failure
FIRST_RETRY = dt.timedelta(minutes=5)
LONGEST_WAIT = dt.timedelta(days=1)


def backing_off(binding: DeliveryBinding, now: dt.datetime | None = None) -> bool:
    """A stopped binding is tried again after 5 minutes, then 10, 20 … at most a day (its failures are recorded
    once per try, not once a minute)."""
    now = now or timezone.now()
    failed = 0
    latest = None
    # runs that failed or stopped before the centre's table was last made again (those the rebuild stopped) count not
    rebuilt = TableBinding.objects.centre_state(binding.grant.entry_id).rebuilt_at
    for status, finished, code in binding.runs.order_by("-created_at", "-pk").values_list(
            "status", "finished_at", "error_code")[:20]:
        if status not in (DeliveryRun.Status.FAILED, DeliveryRun.Status.STOPPED) or code in BY_PERSON:
            break  # a success, or a person's pause, ends the streak (a pause is no failure)
        if rebuilt is not None and finished is not None and finished <= rebuilt:
            break
        failed += 1
        latest = latest or finished
    if not failed or latest is None:
        return False
    return now - latest < min(FIRST_RETRY * 2 ** min(failed - 1, 16), LONGEST_WAIT)


def start_checks(entry_id: int) -> int:
    """Queue a receipt check of every active delivery of the entry under a grant in force (after a reconciliation of
    the source with the centre: the report then spans each consumer)."""
    started = 0
    usable = Grant.objects.usable().filter(entry_id=entry_id).values("pk")
    for binding in DeliveryBinding.objects.filter(is_active=True, target__is_active=True, grant__in=usable).exclude(
            runs__status__in=DeliveryRun.OPEN_STATUSES).exclude(CentreTableState.pending("grant__entry")
                                                                ).select_related("grant__entry", "grant__consumer",
                                                                                 "target"):
        try:
            _queue(None, binding, DeliveryRun.Kind.CHECK)
            started += 1
        except Conflict:
            continue
    return started


def settle_orphaned() -> int:
    """Delivery runs whose job ended without them (cancelled, failed for good): ended to match."""
    ended: dict[str, str] = {Job.Status.CANCELLED: DeliveryRun.Status.STOPPED,
                             Job.Status.FAILED: DeliveryRun.Status.FAILED, Job.Status.SUCCEEDED: DeliveryRun.Status.FAILED}
    count = 0
    for run in DeliveryRun.objects.filter(status__in=DeliveryRun.OPEN_STATUSES, job__status__in=list(ended)) \
            .select_related("job", "binding__grant", "binding__target"):
        assert run.job is not None
        status = ended[run.job.status]
        cancelled = run.job.status == Job.Status.CANCELLED
        # as a run that ends in its handler: mirrored on the binding (a failure backs off), audited and told — the
        # periodic pass queued the same delivery again every minute, silently (review of the 22nd session)
        reason = run.job.meaning
        error = (GovshareError("delivery_cancelled", _("The delivery's job was cancelled: %(reason)s"), reason=reason)
                 if cancelled else
                 GovshareError("delivery_job_ended", _("The delivery's job ended without it: %(reason)s"), reason=reason))
        count += finish(run, status, {}, error=error, by_person=cancelled)
    return count


__all__ = ["do_bind_delivery", "do_set_delivery_active", "do_start_delivery", "settle_orphaned", "start_for_entries"]

