"""Holiday notice files and the calendar actions (issue 2 §5): every bad input names its line and
field, nothing is stored half-way, only a centre administrator (or the machine operator) changes
the calendar, every change is audited (SEC-4) and moves the open deadlines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from govshare.core import workdays
from govshare.core.actions.calendar import (
    RECOMPUTE_JOB,
    do_clear_calendar_day,
    do_import_holidays,
    do_set_calendar_day,
)
from govshare.core.errors import Forbidden, NotFound, ValidationFailed
from govshare.core.holidays import MAX_NOTICE_BYTES, NoticeError, parse_notice, render_csv
from govshare.core.models import AuditEvent, CalendarDay, Deadline, HolidayYear, Job
from govshare.core.workdays import WorkCalendar, add_working_days, open_deadline

D = dt.date.fromisoformat
EXAMPLE_2027 = Path(__file__).resolve().parent.parent / "docs" / "examples" / "holidays-2027.csv"
GOOD = "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-20,workday,春节\n"


@pytest.fixture
def no_official_2027(monkeypatch: Any) -> None:
    real = workdays.package_knows
    monkeypatch.setattr(workdays, "package_knows", lambda year: False if year == 2027 else real(year))


def problem(content: str | bytes, year: int = 2027, filename: str = "notice.csv") -> NoticeError:
    raw = content.encode("utf-8") if isinstance(content, str) else content
    with pytest.raises(NoticeError) as exc:
        parse_notice(raw, year, filename)
    return exc.value


def audit_codes() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# ------------------------------------------------------------------ reading files


def test_the_example_2027_file_is_a_valid_notice_labelled_as_an_example() -> None:
    content = EXAMPLE_2027.read_bytes()
    assert content.decode("utf-8").splitlines()[0].startswith("# EXAMPLE")
    notice = parse_notice(content, 2027, EXAMPLE_2027.name)
    assert (len(notice.holidays), len(notice.workdays)) == (18, 5)
    assert notice.days[0].date == D("2027-01-01") and notice.days[0].name == "元旦"


def test_csv_accepts_chinese_kinds_a_bom_crlf_no_header_and_no_name() -> None:
    content = "\ufeff# 2027\r\n2027-01-01,休,元旦\r\n\r\n2027-02-20,班\r\n".encode()
    notice = parse_notice(content, 2027, "n.csv")
    assert [(d.date, d.is_workday, d.name) for d in notice.days] == [
        (D("2027-01-01"), False, "元旦"), (D("2027-02-20"), True, "")]


def test_csv_names_may_be_quoted() -> None:
    notice = parse_notice('2027-01-01,holiday,"New Year, 元旦"\n'.encode(), 2027, "n.csv")
    assert notice.days[0].name == "New Year, 元旦"


def test_json_notice() -> None:
    data = {"year": 2027, "days": [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
                                   {"date": "2027-02-20", "kind": "班"}]}
    notice = parse_notice(json.dumps(data, ensure_ascii=False).encode(), 2027, "n.json")
    assert [d.kind for d in notice.days] == ["holiday", "workday"]


def test_a_json_file_is_recognised_without_its_extension() -> None:
    notice = parse_notice(b'{"days": [{"date": "2027-01-01", "kind": "holiday"}]}', 2027, "upload")
    assert notice.days[0].date == D("2027-01-01")


def test_render_csv_writes_what_parse_reads() -> None:
    text = render_csv(2027, [(D("2027-02-20"), True, "春节"), (D("2027-01-01"), False, "元旦")])
    assert [d.date for d in parse_notice(text.encode(), 2027, "x.csv").days] == [D("2027-01-01"), D("2027-02-20")]


# ------------------------------------------------------------------ every bad input names line and field


@pytest.mark.parametrize("line, code, field", [
    ("2027/01/01,holiday,元旦", "invalid_date", "date"),
    ("2027-02-30,holiday,x", "invalid_date", "date"),
    ("20270101,holiday,x", "invalid_date", "date"),
    ("2026-12-31,holiday,x", "date_outside_year", "date"),
    ("2027-01-04,vacation,x", "invalid_kind", "kind"),
    ("2027-01-02,holiday,x", "holiday_on_weekend", "kind"),  # Saturday: off anyway
    ("2027-01-04,workday,x", "workday_on_weekday", "kind"),  # Monday: worked anyway
    ("2027-01-04,holiday,x,extra", "wrong_columns", None),
    ("2027-01-04", "wrong_columns", None),
    ("2027-01-04,holiday," + "长" * 51, "name_too_long", "name"),
])
def test_a_bad_csv_line_is_named_with_its_field(line: str, code: str, field: str | None) -> None:
    err = problem(f"# comment\ndate,kind,name\n2027-01-01,holiday,元旦\n{line}\n")
    assert (err.code, err.row, err.field, err.where) == (code, 4, field, "notice.csv")
    assert "row 4" in err.render("en") and "第 4 行" in err.render("zh-hans")


def test_a_duplicate_day_names_both_lines() -> None:
    err = problem("2027-01-01,holiday,元旦\n2027-02-20,班,春节\n2027-01-01,休,元旦\n")
    assert (err.code, err.row, err.field) == ("duplicate_date", 3, "date")
    assert "line 1" in err.render("en")


def test_every_problem_of_a_file_is_reported_not_only_the_first() -> None:
    err = problem("2027-13-01,holiday,x\n2027-01-04,nope,x\n2027-01-02,holiday,x\n")
    assert [(p.row, p.code) for p in err.problems] == [(1, "invalid_date"), (2, "invalid_kind"),
                                                       (3, "holiday_on_weekend")]
    assert len(err.as_dict()["problems"]) == 3


def test_a_file_that_is_not_utf8_names_the_line() -> None:
    err = problem("2027-01-01,holiday,元旦\n".encode() + "2027-02-20,班,春节\n".encode("gbk"))
    assert (err.code, err.row) == ("not_utf8", 2)


def test_a_binary_file_is_refused() -> None:
    assert problem(b"2027-01-01,holiday,x\n\x00\x01\x02").code == "not_text"


def test_a_file_that_is_too_large_is_refused() -> None:
    assert problem(b"#" * (MAX_NOTICE_BYTES + 1)).code == "file_too_large"


def test_an_empty_file_is_refused() -> None:
    assert problem("# nothing here\n").code == "empty_notice"


def test_a_year_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_notice(GOOD.encode(), 1899, "n.csv")
    assert exc.value.field == "year"


def test_json_syntax_errors_name_the_line() -> None:
    err = problem('{"year": 2027,\n "days": [\n  {"date": "2027-01-01" "kind": "holiday"}\n]}', filename="n.json")
    assert (err.code, err.row) == ("invalid_json", 3)


def test_json_bad_day_names_its_line_and_field() -> None:
    text = ('{"year": 2027,\n "days": [\n  {"date": "2027-01-01", "kind": "holiday"},\n'
            '  {"date": "2027-01-01", "kind": "holiday"},\n  {"date": "2027-01-09", "kind": "holiday"}\n]}')
    err = problem(text, filename="n.json")
    assert [(p.row, p.code, p.field) for p in err.problems] == [(4, "duplicate_date", "date"),
                                                                (5, "holiday_on_weekend", "kind")]


def test_json_year_that_differs_from_the_declared_year_is_refused() -> None:
    err = problem('{\n"year": 2028,\n"days": [{"date": "2027-01-01", "kind": "holiday"}]}', filename="n.json")
    assert (err.code, err.row, err.field) == ("year_mismatch", 2, "year")


@pytest.mark.parametrize("text, code", [
    ('[{"date": "2027-01-01", "kind": "holiday"}]', "invalid_notice"),
    ('{"year": 2027, "day": []}', "invalid_notice"),
    ('{"year": 2027, "days": [], "colour": "red"}', "unknown_key"),
    ('{"year": 2027, "days": ["2027-01-01"]}', "invalid_day"),
    ('{"year": 2027, "days": [{"date": "2027-01-01", "kind": "holiday", "why": 1}]}', "unknown_key"),
    ('{"year": 2027, "days": [{"date": 20270101, "kind": "holiday"}]}', "invalid_date"),
    ('{"year": 2027, "days": [{"date": "2027-01-01", "kind": 1}]}', "invalid_kind"),
])
def test_malformed_json_notices_are_refused(text: str, code: str) -> None:
    assert problem(text, filename="n.json").code == code


# ------------------------------------------------------------------ importing (the action)


@pytest.mark.django_db
def test_a_centre_admin_imports_a_notice(org: Any, no_official_2027: None) -> None:
    result = do_import_holidays(org.centre_admin, 2027, "holidays-2027.csv", EXAMPLE_2027.read_bytes())
    assert (result.holidays, result.workdays) == (18, 5)
    year = HolidayYear.objects.get(year=2027)
    assert year.imported_by == org.centre_admin and year.source_name == "holidays-2027.csv"
    assert CalendarDay.objects.filter(source=CalendarDay.Source.IMPORT).count() == 23
    assert WorkCalendar().is_official(2027)
    event = AuditEvent.objects.get(action="holidays_imported")
    assert event.actor_id == org.centre_admin.pk and event.detail["holidays"] == 18
    assert event.changes["days"]["2027-10-01"] == [None, [False, "国庆节"]]
    assert Job.objects.get(pk=result.job.pk).kind == RECOMPUTE_JOB


@pytest.mark.django_db
def test_importing_a_year_recomputes_its_open_provisional_deadlines(
        org: Any, no_official_2027: None, django_capture_on_commit_callbacks: Any) -> None:
    deadline = open_deadline(org.police, "share_provider_answer", "longnan", D("2027-09-30"))
    assert (deadline.due_date, deadline.provisional) == (D("2027-10-08"), True)
    with django_capture_on_commit_callbacks(execute=True):
        result = do_import_holidays(org.centre_admin, 2027, "holidays-2027.csv", EXAMPLE_2027.read_bytes())
    deadline.refresh_from_db()
    assert (deadline.due_date, deadline.provisional) == (D("2027-10-13"), False)
    job = Job.objects.get(pk=result.job.pk)
    assert job.status == Job.Status.SUCCEEDED and job.result["changed"] == 1
    event = AuditEvent.objects.get(action="deadlines_recomputed")
    assert event.actor_id == org.centre_admin.pk
    assert event.detail["changed_ids"] == [deadline.pk] and event.detail["years"] == [2027]


@pytest.mark.django_db
def test_a_bad_file_stores_nothing_and_keeps_the_previous_import(org: Any) -> None:
    do_import_holidays(org.centre_admin, 2027, "v1.csv", GOOD.encode())
    before = list(CalendarDay.objects.values_list("date", "is_workday", "name", "source"))
    events = audit_codes()
    with pytest.raises(NoticeError) as exc:
        do_import_holidays(org.centre_admin, 2027, "v2.csv", b"2027-01-04,holiday,a\n2027-01-04,holiday,b\n")
    assert (exc.value.row, exc.value.code) == (2, "duplicate_date")
    assert list(CalendarDay.objects.values_list("date", "is_workday", "name", "source")) == before
    assert HolidayYear.objects.get(year=2027).source_name == "v1.csv"
    assert audit_codes() == events
    assert Job.objects.count() == 1  # only the first import's recompute


@pytest.mark.django_db
def test_reimporting_replaces_the_imported_days_and_the_notice_beats_a_hand_edit(org: Any) -> None:
    do_import_holidays(org.centre_admin, 2027, "v1.csv", GOOD.encode())
    do_set_calendar_day(org.centre_admin, D("2027-01-04"), False, "手工")  # listed again below
    do_set_calendar_day(org.centre_admin, D("2027-06-14"), False, "手工")  # not in the notice: stays
    result = do_import_holidays(org.centre_admin, 2027, "v2.csv", b"2027-01-04,holiday,new\n")
    assert result.replaced_manual == ("2027-01-04",)
    rows = {r.date: (r.source, r.name) for r in CalendarDay.objects.all()}
    assert rows == {D("2027-01-04"): ("import", "new"), D("2027-06-14"): ("manual", "手工")}
    assert HolidayYear.objects.get(year=2027).source_name == "v2.csv"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["reviewer", "police_admin", "auditor", "citizen"])
def test_only_a_centre_admin_may_import(org: Any, who: str) -> None:
    # owner: centre_admin (above); colleague: reviewer/auditor of the centre; outsiders: police_admin, citizen
    with pytest.raises(Forbidden):
        do_import_holidays(getattr(org, who), 2027, "n.csv", GOOD.encode())
    assert not HolidayYear.objects.exists() and not CalendarDay.objects.exists()
    denied = AuditEvent.objects.filter(action="permission_denied").last()
    assert denied is not None and denied.actor_id == getattr(org, who).pk


@pytest.mark.django_db
def test_the_permission_is_checked_before_the_file_is_read(org: Any) -> None:
    with pytest.raises(Forbidden):
        do_import_holidays(org.police_admin, 2027, "n.csv", b"not a notice")


@pytest.mark.django_db
def test_without_a_user_only_the_operator_may_import(org: Any) -> None:
    with pytest.raises(Forbidden):
        do_import_holidays(None, 2027, "n.csv", GOOD.encode())
    do_import_holidays(None, 2027, "n.csv", GOOD.encode(), operator=True)
    event = AuditEvent.objects.get(action="holidays_imported")
    assert event.actor_id is None and event.detail["via"] == "cli"


# ------------------------------------------------------------------ single days


@pytest.mark.django_db
def test_a_centre_admin_sets_and_clears_a_day_and_both_are_audited(org: Any) -> None:
    assert add_working_days(D("2026-09-30"), 5) == D("2026-10-13")
    row = do_set_calendar_day(org.centre_admin, D("2026-10-12"), False, "台风停工")
    assert (row.source, row.updated_by) == (CalendarDay.Source.MANUAL, org.centre_admin)
    assert add_working_days(D("2026-09-30"), 5) == D("2026-10-14")
    do_clear_calendar_day(org.centre_admin, D("2026-10-12"))
    assert add_working_days(D("2026-09-30"), 5) == D("2026-10-13")
    events = AuditEvent.objects.filter(action__in=["calendar_day_set", "calendar_day_cleared"]).order_by("id")
    assert [(e.action, e.object_id) for e in events] == [("calendar_day_set", "2026-10-12"),
                                                         ("calendar_day_cleared", "2026-10-12")]
    assert events[0].changes["is_workday"] == [None, False]
    assert Job.objects.filter(kind=RECOMPUTE_JOB, params__years=[2026]).count() == 2


@pytest.mark.django_db
def test_editing_a_day_moves_open_deadlines(org: Any, django_capture_on_commit_callbacks: Any) -> None:
    deadline = open_deadline(org.police, "share_provider_answer", "longnan", D("2026-09-30"))
    with django_capture_on_commit_callbacks(execute=True):
        do_set_calendar_day(org.centre_admin, D("2026-10-12"), False, "台风停工")
    deadline.refresh_from_db()
    assert deadline.due_date == D("2026-10-14")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["reviewer", "police_admin", "auditor", "citizen"])
def test_only_a_centre_admin_may_edit_a_day(org: Any, who: str) -> None:
    CalendarDay.objects.create(date=D("2026-10-12"), is_workday=False, name="x")
    with pytest.raises(Forbidden):
        do_set_calendar_day(getattr(org, who), D("2026-10-13"), False, "x")
    with pytest.raises(Forbidden):
        do_clear_calendar_day(getattr(org, who), D("2026-10-12"))
    assert list(CalendarDay.objects.values_list("date", flat=True)) == [D("2026-10-12")]


@pytest.mark.django_db
def test_clearing_a_day_without_an_entry_is_not_found(org: Any) -> None:
    with pytest.raises(NotFound):
        do_clear_calendar_day(org.centre_admin, D("2026-10-12"))


@pytest.mark.django_db
def test_a_day_name_longer_than_50_characters_is_refused(org: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:
        do_set_calendar_day(org.centre_admin, D("2026-10-12"), False, "长" * 51)
    assert exc.value.field == "name"
    assert not CalendarDay.objects.exists()


@pytest.mark.django_db
def test_open_deadlines_of_other_years_are_left_alone(org: Any, django_capture_on_commit_callbacks: Any) -> None:
    other = open_deadline(org.police, "share_provider_answer", "longnan", D("2025-03-03"))
    stamp = Deadline.objects.filter(pk=other.pk).values_list("due_date", "provisional").get()
    with django_capture_on_commit_callbacks(execute=True):
        do_set_calendar_day(org.centre_admin, D("2026-10-12"), False, "x")
    assert Deadline.objects.filter(pk=other.pk).values_list("due_date", "provisional").get() == stamp
    assert AuditEvent.objects.get(action="deadlines_recomputed").detail["checked"] == 0
