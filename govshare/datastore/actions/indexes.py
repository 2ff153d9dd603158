"""Query indexes of an entry's centre table (issue 11: the data API's speed target; SHR-9).

The entry's provider chooses the items consumers filter and sort on (:func:`do_set_query_indexes`: the
provider's administrators and data specialists, who bind its tables); a background job makes the centre's indexes
those (:func:`build_query_indexes`, :func:`govshare.datastore.engine.indexes.sync`: built without stopping readers
or copies on PostgreSQL, run again safely after a crash) and records each item ready or failed, with why.  At most
``GOVSHARE_MAX_QUERY_INDEXES`` items per entry (each costs two indexes: disk, and time on every write)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit, jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ManyProblems, ValidationFailed
from govshare.core.messages import message
from govshare.core.models import Job
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine import indexes
from govshare.datastore.engine.store import StoreColumn, StoreError
from govshare.datastore.models import QueryIndex

INDEX_JOB = "datastore.indexes"
ITEMS = _("indexed items")

#: why an item has no index, by code (the engine's and the job's)
REASONS: dict[str, Any] = {
    "unknown_item": _("the centre's table has no such item"),
    "key": _("it is the table's key, which is always indexed"),
    "type": _("long text and binary items are not filtered or sorted on"),
    "too_long": lazy(lambda: str(_("its values (with the key's) can be longer than an index entry holds (%(n)s "
                                   "bytes)")) % {"n": indexes.QUERY_INDEX_MAX_BYTES}, str)(),
    "unavailable": _("the centre's database could not be reached"),
}


def reason(code: str) -> Any:
    """A failure code of an item (``QueryIndex.message``: a code, or a store error's ``code: detail``), lazy: in the
    reader's language when shown."""
    found = REASONS.get(code.split(":", 1)[0])
    if found is not None:
        return found
    return lazy(lambda: str(_("the database refused: %(detail)s")) % {"detail": code}, str)()


def choosable(entry: CatalogEntry) -> tuple[list[StoreColumn], list[str], bool]:
    """The items an index can be chosen among and the key: the centre's table's, or — before its first copy or
    upload — the catalog's current version's (the table is made from them); and whether the table exists."""
    table = table_for(entry)
    with open_store() as store:
        if store.has_table(table):
            columns, key = store.describe(table)
            return columns, key, True
    version = entry.current_version
    items = list(version.items.order_by("position", "pk")) if version is not None else []
    return ([StoreColumn(i.name, i.data_type, i.length) for i in items], [i.name for i in items if i.is_primary_key],
            False)


@dataclass
class ItemState:
    """One item as the page and the API show it: why it cannot be indexed (a code, or ""), its choice if chosen,
    the state shown (an item made unindexable since it was chosen — a longer length — shows as failed: the store
    dropped its indexes) and, in the reader's language, why it cannot be indexed or why its build failed."""

    name: str
    why: str
    row: QueryIndex | None
    state: str
    reason: str
    column: bool = True  # an item of the table (or the catalog's version), not only a choice on record


def states_of(entry: CatalogEntry) -> tuple[list[ItemState], bool, bool]:
    """Every item of the entry with its index state, then any chosen item not among them (the centre unreachable:
    every choice, as recorded); whether the centre holds its table; whether it could not be reached."""
    try:
        columns, key, has_table = choosable(entry)
        unreachable = False
    except StoreError:
        columns, key, has_table, unreachable = [], [], False, True
    rows = {row.item: row for row in QueryIndex.objects.filter(entry=entry)}
    found: list[ItemState] = []
    for column in columns:
        why = indexes.unindexable(column, columns, key) or ""
        row = rows.pop(column.name, None)
        state = "" if row is None else QueryIndex.State.FAILED if why else row.state
        code = why or (row.message if row is not None else "")
        found.append(ItemState(column.name, why, row, state, str(reason(code)) if code else ""))
    for row in rows.values():  # chosen, and not among the items read (the centre unreachable)
        found.append(ItemState(row.item, "", row, row.state, str(reason(row.message)) if row.message else "",
                               column=False))
    return found, has_table, unreachable


def do_set_query_indexes(actor: Any, entry: CatalogEntry, items: Sequence[str]) -> list[QueryIndex]:
    """Index exactly ``items`` of the entry's centre table (an empty list: none).  Checked all at once — every item
    the table has, of an indexable type, no more than the limit — then saved with its audit event; the job that
    builds and drops the indexes is queued after commit."""
    require(actor, Capability.BIND_TABLES)
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_related("provider", "current_version"),
                    pk=entry.pk)
    wanted = list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    limit = settings.GOVSHARE_MAX_QUERY_INDEXES
    if len(wanted) > limit:
        raise ValidationFailed("too_many", _("At most %(limit)s items of an entry are indexed; %(count)s chosen."),
                               field="items", label=ITEMS, limit=limit, count=len(wanted))
    try:
        columns, key, has_table = choosable(entry)
    except StoreError as exc:
        raise ValidationFailed("centre_unavailable", _("The centre's database could not be reached: %(detail)s"),
                               detail=exc.code) from exc
    by_name = {column.name: column for column in columns}
    problems: list[GovshareError] = []
    for item in wanted:
        column = by_name.get(item)
        why = "unknown_item" if column is None else indexes.unindexable(column, columns, key)
        if why is not None:
            problems.append(ValidationFailed(why, _("%(item)s cannot be indexed: %(reason)s."), field="items",
                                             label=ITEMS, item=item, reason=reason(why)))
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    with transaction.atomic():
        # one choice of an entry's indexes at a time (two first choices at once: the second waits, then sees the first)
        CatalogEntry.objects.select_for_update().filter(pk=entry.pk).values_list("pk", flat=True).first()
        rows = {row.item: row for row in QueryIndex.objects.select_for_update().filter(entry=entry)}
        before = sorted(rows)
        QueryIndex.objects.filter(entry=entry).exclude(item__in=wanted).delete()
        kept: list[QueryIndex] = []
        # no table yet: the items wait for the first copy or upload (build_waiting queues the job then)
        state = QueryIndex.State.BUILDING if has_table else QueryIndex.State.WAITING
        for item in wanted:
            row = rows.get(item)
            if row is None:
                row = QueryIndex.objects.create(entry=entry, item=item, requested_by=actor, state=state)
            elif row.state in (QueryIndex.State.FAILED, QueryIndex.State.WAITING):  # tried again
                row.state, row.message, row.requested_by = state, "", actor
                row.save(update_fields=["state", "message", "requested_by"])
            kept.append(row)
        if has_table:
            jobs.create_job(INDEX_JOB, message(_("Query indexes of %(code)s"), code=entry.code),
                            {"entry": entry.pk}, user=actor, department=entry.provider)
        audit.record(AuditCode.QUERY_INDEXES_SET, actor=actor, obj=entry, department=getattr(actor, "department", None),
                     object_department=entry.provider, changes={"items": [before, wanted]},
                     detail={"entry": entry.code, "table": table_for(entry)})
    return kept


@jobs.handler(INDEX_JOB)
def build_query_indexes(ctx: jobs.JobContext) -> dict[str, Any]:
    """Make the centre's indexes of the entry those its rows ask for; record each item ready or failed."""
    entry = CatalogEntry.objects.select_related("provider").get(pk=ctx.params["entry"])
    table = table_for(entry)

    def progress(item: str, done: int, total: int) -> None:
        ctx.progress(done, total, item)
        ctx.log(f"building the indexes of {item}")

    def chosen() -> list[str]:  # read once the table's sync lock is held: what is wanted then
        return list(QueryIndex.objects.filter(entry=entry).values_list("item", flat=True))

    try:
        with open_store() as store:
            waiting = not store.has_table(table)
            wanted, failed = (chosen(), {}) if waiting else indexes.sync(store, table, chosen, progress=progress)
    except StoreError as exc:  # the centre unreachable, a statement refused: each item says so (chosen again retries)
        wanted = chosen()
        failed = dict.fromkeys(wanted, f"{exc.code}: {exc.detail}" if exc.detail else exc.code)
        waiting = False
    if waiting:  # built once the first copy or upload has made the table (build_waiting)
        QueryIndex.objects.filter(entry=entry, item__in=wanted).update(state=QueryIndex.State.WAITING, message="")
        ctx.log("the centre holds no data of this entry yet: the indexes are built after its first copy")
        return {"entry": entry.code, "waiting": len(wanted)}
    ctx.log(f"{len(wanted) - len(failed)} of {len(wanted)} items indexed")  # and this worker still holds the job
    now = timezone.now()
    with transaction.atomic():
        for row in QueryIndex.objects.select_for_update().filter(entry=entry, item__in=wanted):
            if row.item in failed:
                row.state, row.message = QueryIndex.State.FAILED, failed[row.item][:300]
            else:
                row.state, row.message, row.ready_at = QueryIndex.State.READY, "", row.ready_at or now
            row.save(update_fields=["state", "message", "ready_at"])
        audit.record(AuditCode.QUERY_INDEXES_BUILT, obj=entry, object_department=entry.provider,
                     outcome="failure" if failed else "success",
                     detail={"entry": entry.code, "table": table, "ready": [i for i in wanted if i not in failed],
                             "failed": failed})
    return {"entry": entry.code, "ready": len(wanted) - len(failed), "failed": failed}


def rebuild_after_remake(entry_id: int) -> int:
    """The centre's table of the entry was made again (its indexes went with the old one): every chosen item waits
    to be built again (:func:`build_waiting`).  Returns how many.  Called in the transaction that records the
    remaking."""
    return QueryIndex.objects.filter(entry_id=entry_id).update(state=QueryIndex.State.WAITING, message="",
                                                               ready_at=None)


def build_waiting() -> int:
    """Queue the build of the indexes chosen before the centre held the entry's table, once it does (the periodic
    hook ``datastore.query_indexes``); an entry whose build is already queued or running is left to it."""
    entries = set(QueryIndex.objects.filter(state=QueryIndex.State.WAITING).values_list("entry_id", flat=True))
    if not entries:
        return 0
    queued = 0
    with open_store() as store:
        for entry in CatalogEntry.objects.filter(pk__in=entries).select_related("provider"):
            if not store.has_table(table_for(entry)) or Job.objects.filter(
                    kind=INDEX_JOB, status__in=[Job.Status.QUEUED, Job.Status.RUNNING], params__entry=entry.pk).exists():
                continue
            with transaction.atomic():
                QueryIndex.objects.filter(entry=entry, state=QueryIndex.State.WAITING).update(
                    state=QueryIndex.State.BUILDING)
                jobs.create_job(INDEX_JOB, message(_("Query indexes of %(code)s"), code=entry.code),
                                {"entry": entry.pk}, department=entry.provider)
            queued += 1
    return queued
