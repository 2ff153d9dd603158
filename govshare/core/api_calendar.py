"""Working-day clock and holiday calendar API, mounted at ``/api/v1/workdays`` (issue 2 §5).

Everyone authenticated may compute and read; importing a notice and editing a day need
``Capability.MANAGE_CALENDAR`` (a centre administrator) and a write token or the session.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Path, Router, Schema, Status

from govshare.core.actions.calendar import do_clear_calendar_day, do_import_holidays, do_set_calendar_day
from govshare.core.api_helpers import answers
from govshare.core.errors import ValidationFailed
from govshare.core.holidays import MAX_NOTICE_BYTES
from govshare.core.permissions import require
from govshare.core.roles import Capability
from govshare.core.workdays import MAX_YEAR, MIN_YEAR, WorkCalendar, working_due

router = Router(tags=["calendar"])

#: a notice upload: the file plus its multipart envelope (boundaries, the year, a CSRF token)
MAX_IMPORT_REQUEST_BYTES = MAX_NOTICE_BYTES + 16 * 1024


class UploadTooLarge(ValidationFailed):
    status = 413


def refuse_oversized_import(request: HttpRequest) -> None:
    """Refuse a notice upload by its declared size, before anything reads the body (the web page
    and the API call this after the capability check, so that nobody else's upload is read)."""
    raw = str(request.META.get("CONTENT_LENGTH") or "").strip()
    length = int(raw) if re.fullmatch(r"[0-9]{1,18}", raw, re.ASCII) else 0
    if length > MAX_IMPORT_REQUEST_BYTES:
        raise UploadTooLarge("file_too_large",
                             _("The file is larger than %(max)d KiB: a holiday notice is much smaller."),
                             max=MAX_NOTICE_BYTES // 1024, field="file")


def import_year(raw: Any) -> int:
    """The year field of an import form (ASCII digits; the action checks the range)."""
    text = str(raw or "").strip()
    if not re.fullmatch(r"[0-9]{1,4}", text, re.ASCII):
        raise ValidationFailed("invalid_year", _("Enter the year as a number, e.g. 2027."), field="year")
    return int(text)


# the handler reads the multipart body itself, after the permission and size checks: declared
# File/Form parameters would be parsed before the handler runs
IMPORT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["year", "file"],
    "properties": {"year": {"type": "integer", "description": "the year of the notice"},
                   "file": {"type": "string", "format": "binary",
                            "description": f"CSV or JSON, at most {MAX_NOTICE_BYTES // 1024} KiB"}}}}}}}


class DueOut(Schema):
    due_date: dt.date = Field(description="the due day (YYYY-MM-DD)")
    due_at: dt.datetime = Field(description="the deadline ends at 23:59:59 Asia/Shanghai on the due day")
    provisional: bool = Field(description="true when a year without official holiday data was counted")


class BetweenOut(Schema):
    working_days: int = Field(description="working days after a up to and including b")
    provisional: bool


class DayOut(Schema):
    date: dt.date
    is_workday: bool
    kind: str = Field(description="holiday | makeup | workday | weekend")
    name: str
    source: str = Field(description="manual | import | notice | package | fallback")
    official: bool


class YearOut(Schema):
    year: int
    official: bool = Field(description="false: no official data; deadlines touching the year are provisional")
    source: str = Field(description="import | package | fallback")
    days: list[DayOut] = Field(description="the holidays and make-up workdays of the year")


class DayIn(Schema):
    is_workday: bool
    name: str = ""


class ImportOut(Schema):
    year: int
    holidays: int
    workdays: int
    replaced_manual: list[str]
    job_id: str


@router.get("/add", response=DueOut, summary="The n-th working day after a date (the date not counted)")
@answers(400)  # a date, or a due day, outside the calendar's years; an unknown profile
def add(request: HttpRequest, date: dt.date, n: int, profile: str | None = None) -> Any:
    return working_due(date, n, profile)


@router.get("/between", response=BetweenOut, summary="Working days after a up to and including b")
def between(request: HttpRequest, a: dt.date, b: dt.date) -> Any:
    count, provisional = WorkCalendar().between(a, b)
    return {"working_days": count, "provisional": provisional}


@router.get("/year/{year}", response=YearOut, summary="A year's holidays and make-up workdays")
def year(request: HttpRequest, year: int = Path(..., ge=MIN_YEAR, le=MAX_YEAR)) -> Any:
    cal = WorkCalendar()
    days = [d for d in cal.year_days(year) if d.is_special]
    return {"year": year, "official": cal.is_official(year), "source": cal.year_source(year), "days": days}


@router.post("/import", response={201: ImportOut}, openapi_extra=IMPORT_BODY,
             summary="Import a year's official holiday notice (CSV or JSON)")
def import_notice(request: HttpRequest) -> Any:
    require(request.user, Capability.MANAGE_CALENDAR)  # refuse (audited) before the upload is read
    refuse_oversized_import(request)
    year = import_year(request.POST.get("year"))
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed("required", _("This field is required."), field="file")
    # one byte more than allowed is enough for the parser to refuse a file that is too large
    result = do_import_holidays(request.user, year, upload.name or "", upload.read(MAX_NOTICE_BYTES + 1))
    return Status(201, {"year": result.year, "holidays": result.holidays, "workdays": result.workdays,
                 "replaced_manual": list(result.replaced_manual), "job_id": str(result.job.pk)})


@router.put("/days/{date}", response=DayOut, summary="Mark one day by hand (holiday or make-up workday)")
def set_day(request: HttpRequest, date: dt.date, payload: DayIn) -> Any:
    do_set_calendar_day(request.user, date, payload.is_workday, payload.name)
    return WorkCalendar().day(date)


@router.delete("/days/{date}", response={204: None}, summary="Remove the hand-made or imported entry of a day")
def clear_day(request: HttpRequest, date: dt.date) -> Any:
    do_clear_calendar_day(request.user, date)
    return Status(204, None)
