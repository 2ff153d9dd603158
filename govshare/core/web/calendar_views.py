"""The working-day calendar pages (issue 2 §5): a year view, a due-date calculator (htmx) and, for
centre administrators, the notice import and the single-day edit.  Views only parse input, call
the actions in :mod:`govshare.core.actions.calendar` and render."""

from __future__ import annotations

import calendar as _stdlib_calendar
import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from govshare.core.actions.calendar import do_clear_calendar_day, do_import_holidays, do_set_calendar_day
from govshare.core.api_calendar import refuse_oversized_import
from govshare.core.errors import GovshareError
from govshare.core.holidays import MAX_NOTICE_BYTES, NoticeError
from govshare.core.permissions import has_capability, require
from govshare.core.policy import available_profiles
from govshare.core.roles import Capability
from govshare.core.workdays import (
    MAX_YEAR,
    MIN_YEAR,
    WorkCalendar,
    fixed_holidays,
    package_years,
    working_due,
)

WEEKDAY_LABELS = ("一", "二", "三", "四", "五", "六", "日")


def _year_param(request: HttpRequest, *, read_body: bool = True) -> int:
    raw = request.GET.get("year") or (request.POST.get("year") if read_body else "") or ""
    try:
        year = int(raw)
    except ValueError:
        return timezone.localdate().year
    return year if MIN_YEAR <= year <= MAX_YEAR else timezone.localdate().year


def _months(days: list[Any], year: int) -> list[dict[str, Any]]:
    by_date = {info.date: info for info in days}
    months = []
    for month in range(1, 13):
        weeks = []
        for week in _stdlib_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            weeks.append([by_date[d] if d.month == month else None for d in week])
        months.append({"number": month, "weeks": weeks})
    return months


def _calc(params: Any) -> dict[str, Any]:
    """Run the calculator on GET/POST parameters: returns the form values and a result or error."""
    form = {"date": (params.get("date") or "").strip(), "n": (params.get("n") or "").strip(),
            "profile": (params.get("profile") or "").strip()}
    out: dict[str, Any] = {"form": form, "result": None, "error": ""}
    if not form["date"] and not form["n"]:
        return out
    try:
        start = dt.date.fromisoformat(form["date"])
    except ValueError:
        out["error"] = _("Enter the start day as YYYY-MM-DD.")
        return out
    try:
        n = int(form["n"])
    except ValueError:
        out["error"] = _("Enter the number of working days as a whole number.")
        return out
    try:
        out["result"] = working_due(start, n, form["profile"] or None)
    except GovshareError as exc:
        out["error"] = exc.render()
    out["start"], out["n"] = start, n
    return out


def _page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    year = extra.pop("year", None) or _year_param(request)
    cal = WorkCalendar()
    days = cal.year_days(year)
    known = package_years()
    context = {
        "year": year,
        "months": _months(days, year),
        "weekday_labels": WEEKDAY_LABELS,
        "official": cal.is_official(year),
        "source": cal.year_source(year),
        "special_days": [d for d in days if d.is_special],
        "imported_years": sorted(cal.imported_years()),
        "package_first": known[0] if known else None,
        "package_last": known[-1] if known else None,
        "profiles": available_profiles(),
        "can_edit": has_capability(request.user, Capability.MANAGE_CALENDAR),
        "calc": _calc(request.GET),
        "max_kib": MAX_NOTICE_BYTES // 1024,
        "fixed_days": ", ".join(f"{year}-{m:02d}-{d:02d}" for m, d in sorted(fixed_holidays(year))),
        "import_errors": [],
        "day_error": "",
    }
    context.update(extra)
    return render(request, "core/calendar.html", context, status=status)


@login_required
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_GET
def calendar_calc(request: HttpRequest) -> HttpResponse:
    """The calculator's result (an htmx fragment; the full page without htmx)."""
    if request.headers.get("HX-Request") != "true":
        return _page(request)
    return render(request, "core/calendar_calc.html", {"calc": _calc(request.GET)})


def _back(year: int) -> HttpResponse:
    return redirect(f"{reverse('core:calendar')}?year={year}")


def _refused(request: HttpRequest, exc: GovshareError) -> HttpResponse:
    return render(request, "core/calendar_denied.html", {"message": exc.render()}, status=exc.status)


@login_required
@require_POST
def calendar_import(request: HttpRequest) -> HttpResponse:
    try:
        require(request.user, Capability.MANAGE_CALENDAR)  # refuse (audited) before reading the upload
        refuse_oversized_import(request)
    except GovshareError as exc:
        if exc.status in (403, 404):
            return _refused(request, exc)
        return _page(request, status=exc.status, year=_year_param(request, read_body=False),
                     import_errors=[exc.render()])
    year = _year_param(request)
    upload = request.FILES.get("file")
    try:
        raw_year = int(request.POST.get("year", ""))
    except ValueError:
        raw_year = 0
    try:
        if upload is None:
            return _page(request, status=400, year=year, import_errors=[_("Choose the notice file to import.")])
        result = do_import_holidays(request.user, raw_year, upload.name or "", upload.read(MAX_NOTICE_BYTES + 1))
    except NoticeError as exc:
        return _page(request, status=400, year=year, import_errors=[p.render() for p in exc.problems])
    except GovshareError as exc:
        if exc.status in (403, 404):
            return _refused(request, exc)
        return _page(request, status=400, year=year, import_errors=[exc.render()])
    messages.success(request, _("%(year)d: %(holidays)d holidays and %(workdays)d make-up workdays imported; "
                                "open deadlines are being recomputed.")
                     % {"year": result.year, "holidays": result.holidays, "workdays": result.workdays})
    return _back(result.year)


@login_required
@require_POST
def calendar_day(request: HttpRequest) -> HttpResponse:
    raw = (request.POST.get("date") or "").strip()
    kind = request.POST.get("kind", "")
    name = request.POST.get("name", "")
    year = _year_param(request)
    try:
        require(request.user, Capability.MANAGE_CALENDAR)  # refuse (audited) before looking at the input
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            return _page(request, status=400, year=year, day_error=_("Enter the day as YYYY-MM-DD."))
        if kind == "clear":
            do_clear_calendar_day(request.user, day)
            messages.success(request, _("%(date)s follows the normal calendar again.") % {"date": day.isoformat()})
        elif kind in ("holiday", "workday"):
            do_set_calendar_day(request.user, day, kind == "workday", name)
            messages.success(request, _("%(date)s saved.") % {"date": day.isoformat()})
        else:
            return _page(request, status=400, year=year, day_error=_("Choose holiday, make-up workday or clear."))
    except GovshareError as exc:
        if exc.status == 403:
            return _refused(request, exc)
        return _page(request, status=exc.status, year=year, day_error=exc.render())
    return _back(day.year)
