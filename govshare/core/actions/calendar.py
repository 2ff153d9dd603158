"""Actions on the working-day calendar (issue 2 §5): import a year's holiday notice, edit one day.

Only a centre administrator (``Capability.MANAGE_CALENDAR``) changes the calendar; the machine
operator may import a notice from the command line (``operator=True``).  Each change queues the
``core.recompute_deadlines`` job, which moves the open deadlines touching the changed year and
audits ``DEADLINES_RECOMPUTED``.

The capability is checked *before* the transaction opens, so that the audited denial is not rolled
back with it.
"""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, context, jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Forbidden, NotFound, ValidationFailed
from govshare.core.holidays import NAME_MAX, Notice, check_year, parse_notice
from govshare.core.messages import text
from govshare.core.models import CalendarDay, HolidayYear, Job
from govshare.core.permissions import require
from govshare.core.roles import Capability
from govshare.core.workdays import MAX_YEAR, MIN_YEAR, recompute

RECOMPUTE_JOB = "core.recompute_deadlines"


@dataclass(frozen=True)
class ImportResult:
    year: int
    holidays: int
    workdays: int
    replaced_manual: tuple[str, ...]
    holiday_year: HolidayYear
    job: Job


def _operator_detail() -> dict[str, Any]:
    try:
        os_user = getpass.getuser()
    except Exception:  # noqa: BLE001 — no login name (containers): still audit the import
        os_user = ""
    return {"via": "cli", "os_user": os_user}


def _check_actor(actor: Any, operator: bool) -> dict[str, Any]:
    if actor is None:
        if not operator:
            raise Forbidden("forbidden", _("You do not have the right to do this (%(capability)s)."),
                            capability=str(Capability.MANAGE_CALENDAR))
        return _operator_detail()
    require(actor, Capability.MANAGE_CALENDAR)
    return {}


#: why deadlines are recomputed (kept in English in the job's params; shown in the reader's language)
_RECOMPUTE_REASONS = {"holidays imported": _("holidays imported"), "day edited": _("day edited"),
                      "day cleared": _("day cleared")}


def _queue_recompute(actor: Any, years: list[int], reason: str) -> Job:
    title = text(_("Recompute deadlines %(years)s (%(reason)s)"), years=", ".join(str(y) for y in years),
                 reason=_RECOMPUTE_REASONS.get(reason, reason))
    return jobs.create_job(RECOMPUTE_JOB, title, {"years": years, "reason": reason}, user=actor)


def _check_date(day: Any) -> dt.date:
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise ValidationFailed("invalid_date", _("A date in the form YYYY-MM-DD is required."), field="date")
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValidationFailed("date_out_of_range", _("The date must lie between the years %(min)d and %(max)d."),
                               min=MIN_YEAR, max=MAX_YEAR, field="date")
    return day


def do_import_holidays(actor: Any, year: int, filename: str, content_bytes: bytes, *,
                       operator: bool = False) -> ImportResult:
    """Import the official holiday notice of ``year`` from a file (see :mod:`govshare.core.holidays`).

    All or nothing: the file is validated completely first.  The year's imported days are replaced;
    a hand-edited day the notice also lists is replaced by the notice (and named in the audit
    event), other hand-edited days stay.  ``actor=None`` is the machine operator and is accepted
    only with ``operator=True`` (``govshare workdays import``).
    """
    detail = _check_actor(actor, operator)
    check_year(year)
    notice = parse_notice(content_bytes, year, filename)
    # the operator is no platform user: make sure the audit event names none
    with context.bind(user=actor), transaction.atomic():
        return _import(actor, notice, detail)


def _import(actor: Any, notice: Notice, detail: dict[str, Any]) -> ImportResult:
    year = notice.year
    in_year = CalendarDay.objects.filter(date__year=year)
    before = {row.date.isoformat(): [row.is_workday, row.name]
              for row in in_year.filter(source=CalendarDay.Source.IMPORT)}
    dates = [d.date for d in notice.days]
    replaced_manual = tuple(d.isoformat() for d in in_year.filter(
        source=CalendarDay.Source.MANUAL, date__in=dates).order_by("date").values_list("date", flat=True))
    in_year.filter(source=CalendarDay.Source.IMPORT).delete()
    CalendarDay.objects.filter(date__in=dates).delete()
    CalendarDay.objects.bulk_create([
        CalendarDay(date=d.date, is_workday=d.is_workday, name=d.name, source=CalendarDay.Source.IMPORT,
                    updated_by=actor)
        for d in notice.days
    ])
    previous = HolidayYear.objects.filter(year=year).first()
    holiday_year, _created = HolidayYear.objects.update_or_create(year=year, defaults={
        "source_name": notice.source_name, "source_sha256": notice.sha256, "imported_by": actor})
    after = {d.date.isoformat(): [d.is_workday, d.name] for d in notice.days}
    changes = {
        "days": audit.diff(before, after),
        "source_sha256": [previous.source_sha256 if previous else None, notice.sha256],
    }
    job = _queue_recompute(actor, [year], "holidays imported")
    audit.record(AuditCode.HOLIDAYS_IMPORTED, actor=actor, obj=holiday_year, object_repr=str(year),
                 changes=changes, detail={
                     **detail, "year": year, "file": notice.source_name, "sha256": notice.sha256,
                     "holidays": len(notice.holidays), "workdays": len(notice.workdays),
                     "replaced_manual": list(replaced_manual), "job": str(job.pk)})
    return ImportResult(year, len(notice.holidays), len(notice.workdays), replaced_manual, holiday_year, job)


def _day_repr(day: dt.date, name: str) -> str:
    return f"{day.isoformat()} {name}".strip()


def do_set_calendar_day(actor: Any, date: dt.date, is_workday: bool, name: str = "") -> CalendarDay:
    """Mark one day by hand as a working day or a day off (wins over the package and the notice)."""
    require(actor, Capability.MANAGE_CALENDAR)
    day = _check_date(date)
    if not isinstance(is_workday, bool):
        raise ValidationFailed("invalid_choice", _("Say whether the day is a working day."), field="is_workday")
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        raise ValidationFailed("name_too_long", _("The name is longer than %(max)d characters."), max=NAME_MAX,
                               field="name")
    with transaction.atomic():
        row = CalendarDay.objects.select_for_update().filter(date=day).first()
        fields = ["is_workday", "name", "source"]
        before = audit.snapshot(row, fields) if row else {}
        if row is None:
            row = CalendarDay(date=day)
        row.is_workday, row.name, row.source, row.updated_by = is_workday, name, CalendarDay.Source.MANUAL, actor
        row.save()
        job = _queue_recompute(actor, [day.year], "day edited")
        audit.record(AuditCode.CALENDAR_DAY_SET, actor=actor, object_type="core.calendarday",
                     object_id=day.isoformat(), object_repr=_day_repr(day, name),
                     changes=audit.diff(before, audit.snapshot(row, fields)), detail={"job": str(job.pk)})
    return row


def do_clear_calendar_day(actor: Any, date: dt.date) -> None:
    """Remove the override of one day: the package / notice / fallback rule applies again."""
    require(actor, Capability.MANAGE_CALENDAR)
    day = _check_date(date)
    with transaction.atomic():
        row = CalendarDay.objects.select_for_update().filter(date=day).first()
        if row is None:
            raise NotFound("calendar day")
        before = audit.snapshot(row, ["is_workday", "name", "source"])
        row.delete()
        job = _queue_recompute(actor, [day.year], "day cleared")
        audit.record(AuditCode.CALENDAR_DAY_CLEARED, actor=actor, object_type="core.calendarday",
                     object_id=day.isoformat(), object_repr=_day_repr(day, before["name"]),
                     changes=audit.diff(before, {}), detail={"job": str(job.pk)})


# ------------------------------------------------------------------ the recompute job

def run_recompute(years: list[int] | None, actor: Any = None, *, reason: str = "") -> dict[str, Any]:
    """Recompute the open deadlines touching ``years`` and audit it, in one transaction."""
    with context.bind(user=actor), transaction.atomic():
        result = recompute(years)
        audit.record(AuditCode.DEADLINES_RECOMPUTED, actor=actor, object_type="core.deadline",
                     object_repr=", ".join(str(y) for y in years) if years else "*",
                     detail={"years": years, "reason": reason, "checked": result.checked,
                             "changed": result.changed, "changed_ids": list(result.changed_ids[:500])})
    return {"years": years, "checked": result.checked, "changed": result.changed}


#: open deadlines recomputed per transaction by the job (issue 9: each batch commits with its audit
#: row and the job's checkpoint, so a job whose worker died resumes after the last committed batch)
RECOMPUTE_BATCH = 2000


@jobs.handler(RECOMPUTE_JOB)
def _recompute_job(ctx: jobs.JobContext) -> dict[str, Any]:
    years = ctx.params.get("years")
    reason = str(ctx.params.get("reason", ""))
    actor = ctx.job.created_by
    done = {"after_id": 0, "checked": 0, "changed": 0, **ctx.checkpoint}
    ctx.progress(done["checked"], message=_("Recomputing open deadlines…"))
    while True:
        with context.bind(user=actor), transaction.atomic():
            batch = recompute(years, after_id=done["after_id"], limit=RECOMPUTE_BATCH)
            if batch.checked or not done["checked"]:  # one row per batch; one row when there is nothing
                audit.record(AuditCode.DEADLINES_RECOMPUTED, actor=actor, object_type="core.deadline",
                             object_repr=", ".join(str(y) for y in years) if years else "*",
                             detail={"years": years, "reason": reason, "checked": batch.checked,
                                     "changed": batch.changed, "changed_ids": list(batch.changed_ids[:500]),
                                     "after_id": done["after_id"], "job": str(ctx.job.pk)})
            done = {"after_id": batch.last_id or done["after_id"], "checked": done["checked"] + batch.checked,
                    "changed": done["changed"] + batch.changed}
            ctx.save_checkpoint(done, done=done["checked"])  # in the batch's transaction: all or nothing
        if batch.checked < RECOMPUTE_BATCH:
            break
    ctx.log(f"checked {done['checked']} open deadlines, {done['changed']} changed")
    ctx.progress(done["checked"], max(done["checked"], 1))
    return {"years": years, "checked": done["checked"], "changed": done["changed"]}


__all__ = [
    "ImportResult",
    "RECOMPUTE_JOB",
    "do_clear_calendar_day",
    "do_import_holidays",
    "do_set_calendar_day",
    "run_recompute",
]
