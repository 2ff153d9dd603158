"""The working-day clock (issue 2 §5): statutory holidays, 调休, fallback years, deadlines, CLI.

Deadlines of SHR-2, OPN-3, CAT-5 and SUP-3 are counted in working days "following the Chinese
statutory calendar, including make-up workdays" (REQUIREMENTS.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from govshare import cli
from govshare.core import workdays
from govshare.core.errors import ValidationFailed
from govshare.core.models import AuditEvent, CalendarDay, Deadline, HolidayYear
from govshare.core.policy import Period, get_profile
from govshare.core.workdays import (
    WorkCalendar,
    add_months,
    add_working_days,
    compute_due,
    fixed_holidays,
    open_deadline,
    package_knows,
    recompute_open_deadlines,
    working_days_between,
    working_due,
)

D = dt.date.fromisoformat
SHANGHAI = ZoneInfo("Asia/Shanghai")
EXAMPLE_2027 = Path(__file__).resolve().parent.parent / "docs" / "examples" / "holidays-2027.csv"


@pytest.fixture
def no_official_2027(monkeypatch: Any) -> None:
    """2027 has no official data: true for chinesecalendar 1.11 (2004–2026); forced here so that the
    tests keep meaning the same when a later package release learns 2027."""
    real = workdays.package_knows
    monkeypatch.setattr(workdays, "package_knows", lambda year: False if year == 2027 else real(year))


def import_2027_directly(user: Any = None) -> None:
    """The example notice as rows (the import action itself is tested in test_holidays.py)."""
    from govshare.core.holidays import parse_notice

    notice = parse_notice(EXAMPLE_2027.read_bytes(), 2027, EXAMPLE_2027.name)
    CalendarDay.objects.bulk_create([CalendarDay(date=d.date, is_workday=d.is_workday, name=d.name,
                                                 source=CalendarDay.Source.IMPORT) for d in notice.days])
    HolidayYear.objects.create(year=2027, source_name=notice.source_name, source_sha256=notice.sha256)


# ------------------------------------------------------------------ the installed package


@pytest.mark.django_db
def test_the_package_knows_2026_with_its_national_day_make_up_days() -> None:
    assert package_knows(2026)
    cal = WorkCalendar()
    assert cal.day(D("2026-09-20")).kind == "makeup"  # Sunday worked (调休)
    assert cal.day(D("2026-10-10")).kind == "makeup"  # Saturday worked (调休)
    assert [cal.day(D(f"2026-10-0{i}")).is_workday for i in range(1, 8)] == [False] * 7
    assert cal.day(D("2026-10-01")).name == "国庆节"


# ------------------------------------------------------------------ 2026: National Day and Spring Festival


@pytest.mark.django_db
def test_five_working_days_after_30_september_2026_is_13_october() -> None:
    # 1–7 Oct off; Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13
    assert add_working_days(D("2026-09-30"), 5) == D("2026-10-13")
    assert working_due(D("2026-09-30"), 5).provisional is False


@pytest.mark.django_db
def test_the_given_day_is_not_counted() -> None:
    assert add_working_days(D("2026-06-01"), 1) == D("2026-06-02")  # Monday → Tuesday
    assert add_working_days(D("2026-06-05"), 1) == D("2026-06-08")  # Friday → Monday


@pytest.mark.django_db
def test_the_make_up_saturday_10_october_2026_is_a_working_day() -> None:
    assert add_working_days(D("2026-10-09"), 1) == D("2026-10-10")


@pytest.mark.django_db
def test_the_make_up_sunday_20_september_2026_is_a_working_day() -> None:
    assert add_working_days(D("2026-09-19"), 1) == D("2026-09-20")


@pytest.mark.django_db
def test_spring_festival_2026_skips_15_to_23_february_and_counts_the_make_up_saturdays() -> None:
    assert add_working_days(D("2026-02-13"), 1) == D("2026-02-14")  # Saturday worked before the holiday
    assert add_working_days(D("2026-02-14"), 1) == D("2026-02-24")  # 15–23 Feb off
    assert working_days_between(D("2026-02-13"), D("2026-02-28")) == 6  # 14, 24, 25, 26, 27, 28 (Sat worked)


@pytest.mark.django_db
def test_working_days_between_counts_after_a_up_to_and_including_b() -> None:
    assert working_days_between(D("2026-09-30"), D("2026-10-13")) == 5
    assert working_days_between(D("2026-09-30"), D("2026-09-30")) == 0
    assert working_days_between(D("2026-10-13"), D("2026-09-30")) == -5
    assert working_days_between(D("2026-10-01"), D("2026-10-07")) == 0


@pytest.mark.django_db
def test_between_is_the_inverse_of_add_on_working_days() -> None:
    start = D("2026-01-01")
    for n in (1, 3, 10, 22, 60):
        assert working_days_between(start, add_working_days(start, n)) == n


@pytest.mark.django_db
def test_negative_n_counts_back_and_zero_is_the_day_itself() -> None:
    assert add_working_days(D("2026-10-13"), -5) == D("2026-09-30")
    assert add_working_days(D("2026-10-03"), 0) == D("2026-10-03")


@pytest.mark.django_db
def test_a_deadline_ends_at_23_59_59_shanghai_on_the_due_day() -> None:
    due = working_due(D("2026-09-30"), 5)
    assert due.due_at == dt.datetime(2026, 10, 13, 23, 59, 59, tzinfo=SHANGHAI)
    assert due.due_at.astimezone(dt.UTC) == dt.datetime(2026, 10, 13, 15, 59, 59, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_an_aware_datetime_counts_as_its_day_in_shanghai() -> None:
    late_utc = dt.datetime(2026, 9, 29, 17, 0, tzinfo=dt.UTC)  # already 30 Sep 01:00 in Shanghai
    assert add_working_days(late_utc, 5) == D("2026-10-13")


# ------------------------------------------------------------------ a year without official data


@pytest.mark.django_db
def test_a_year_without_official_data_falls_back_to_weekdays_minus_fixed_holidays(no_official_2027: None) -> None:
    cal = WorkCalendar()
    assert not cal.is_official(2027)
    assert cal.year_source(2027) == "fallback"
    assert cal.day(D("2027-01-01")).kind == "holiday"  # Friday, New Year
    assert cal.day(D("2027-02-08")).is_workday  # Spring Festival is not a fixed date: unknown
    # Fri 1 Oct is a fixed holiday, 2–3 Oct a weekend: the next working day is Mon 4 Oct
    due = working_due(D("2027-09-30"), 1)
    assert (due.due_date, due.provisional) == (D("2027-10-04"), True)


@pytest.mark.django_db
def test_a_deadline_touching_a_fallback_year_is_provisional(no_official_2027: None) -> None:
    # Thu 31 Dec 2026 (1), Fri 1 Jan 2027 holiday, Mon 4 Jan (2), Tue 5 Jan (3)
    due = working_due(D("2026-12-30"), 3)
    assert (due.due_date, due.provisional) == (D("2027-01-05"), True)
    assert working_due(D("2026-12-01"), 5).provisional is False


def test_the_fixed_date_holidays_follow_the_2024_revision_of_the_holiday_measures() -> None:
    assert set(fixed_holidays(2027)) == {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}
    assert (5, 2) not in fixed_holidays(2003)


@pytest.mark.django_db
def test_an_imported_notice_makes_the_year_official(no_official_2027: None) -> None:
    import_2027_directly()
    cal = WorkCalendar()
    assert cal.year_source(2027) == "import" and cal.is_official(2027)
    due = working_due(D("2027-09-30"), 1)
    assert (due.due_date, due.provisional) == (D("2027-10-08"), False)  # 1–7 Oct off in the notice
    assert add_working_days(D("2027-10-08"), 1) == D("2027-10-09")  # make-up Saturday


# ------------------------------------------------------------------ overrides


@pytest.mark.django_db
def test_a_day_edited_by_hand_wins_over_the_package() -> None:
    CalendarDay.objects.create(date=D("2026-10-08"), is_workday=False, name="台风停工")
    assert add_working_days(D("2026-09-30"), 5) == D("2026-10-14")
    CalendarDay.objects.create(date=D("2026-10-11"), is_workday=True, name="加班")
    assert add_working_days(D("2026-09-30"), 5) == D("2026-10-13")


@pytest.mark.django_db
def test_an_imported_year_follows_the_notice_not_the_package() -> None:
    # a notice for 2026 that lists nothing but 1 Oct: the package's other days no longer apply
    HolidayYear.objects.create(year=2026, source_name="x.csv", source_sha256="0" * 64)
    CalendarDay.objects.create(date=D("2026-10-01"), is_workday=False, name="国庆节",
                               source=CalendarDay.Source.IMPORT)
    assert add_working_days(D("2026-09-30"), 1) == D("2026-10-02")


@pytest.mark.django_db
def test_many_deadlines_on_one_calendar_need_few_queries(django_assert_max_num_queries: Any) -> None:
    cal = WorkCalendar()
    with django_assert_max_num_queries(3):
        for offset in range(60):
            working_due(D("2026-08-01") + dt.timedelta(days=offset), 10, calendar=cal)


# ------------------------------------------------------------------ bad input


@pytest.mark.django_db
@pytest.mark.parametrize("n", [5000, -5000])
def test_counting_too_many_working_days_is_refused(n: int) -> None:
    with pytest.raises(ValidationFailed) as exc:
        add_working_days(D("2026-01-01"), n)
    assert exc.value.code == "amount_too_large" and exc.value.field == "n"


@pytest.mark.django_db
def test_dates_outside_the_supported_years_are_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        working_days_between(D("1900-01-01"), D("2026-01-01"))
    assert exc.value.field == "a"


@pytest.mark.django_db
def test_an_unknown_profile_is_refused_and_a_known_one_accepted() -> None:
    with pytest.raises(ValidationFailed) as exc:
        add_working_days(D("2026-09-30"), 5, "atlantis")
    assert exc.value.code == "unknown_profile"
    assert add_working_days(D("2026-09-30"), 5, "longnan") == D("2026-10-13")
    assert add_working_days(D("2026-09-30"), 5, get_profile("national")) == D("2026-10-13")


# ------------------------------------------------------------------ periods of every unit


@pytest.mark.django_db
def test_compute_due_for_working_days_calendar_days_and_months() -> None:
    work = compute_due(D("2026-09-30"), Period("k", 5, "working_days", "test"))
    days = compute_due(D("2026-09-30"), Period("k", 10, "calendar_days", "HLJ-6.1"))
    months = compute_due(D("2026-01-31"), Period("k", 1, "months", "LN-§8"))
    assert work.due_date == D("2026-10-13")
    assert (days.due_date, days.provisional) == (D("2026-10-10"), False)
    assert (months.due_date, months.due_at) == (D("2026-02-28"), dt.datetime(2026, 2, 28, 23, 59, 59,
                                                                               tzinfo=SHANGHAI))


@pytest.mark.django_db
def test_calendar_day_deadlines_are_never_provisional(no_official_2027: None) -> None:
    assert compute_due(D("2026-12-30"), Period("k", 10, "calendar_days", "x")).provisional is False


def test_adding_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(D("2028-01-31"), 1) == D("2028-02-29")
    assert add_months(D("2026-11-30"), 3) == D("2027-02-28")
    assert add_months(D("2026-05-15"), 12) == D("2027-05-15")


# ------------------------------------------------------------------ deadlines on objects


@pytest.mark.django_db
def test_open_deadline_reads_the_period_from_the_profile(org: Any) -> None:
    deadline = open_deadline(org.police, "share_provider_answer", "longnan", D("2026-09-30"))
    assert (deadline.amount, deadline.unit) == (5, "working_days")  # LN-§15
    assert deadline.due_date == D("2026-10-13")
    assert deadline.due_at == dt.datetime(2026, 10, 13, 23, 59, 59, tzinfo=SHANGHAI)
    assert (deadline.object_id, deadline.kind, deadline.profile) == (str(org.police.pk), "share_provider_answer",
                                                                      "longnan")
    national = open_deadline(org.police, "share_provider_answer", "national", D("2026-09-30"))
    assert national.amount == 10  # N51-§12
    notice = open_deadline(org.police, "catalog_change_notice", "longnan", D("2026-01-31"))
    assert (notice.unit, notice.due_date) == ("months", D("2026-02-28"))


@pytest.mark.django_db
def test_recompute_moves_provisional_deadlines_once_the_year_is_official(org: Any, no_official_2027: None) -> None:
    deadline = open_deadline(org.police, "share_provider_answer", "longnan", D("2027-09-30"))
    closed = open_deadline(org.market, "share_provider_answer", "longnan", D("2027-09-30"))
    Deadline.objects.filter(pk=closed.pk).update(closed_at=dt.datetime(2027, 10, 1, tzinfo=dt.UTC))
    elsewhere = open_deadline(org.market, "share_provider_answer", "longnan", D("2026-03-02"))
    assert (deadline.due_date, deadline.provisional) == (D("2027-10-08"), True)  # 4–8 Oct under the fallback
    import_2027_directly()
    assert recompute_open_deadlines([2027]) == 1
    deadline.refresh_from_db()
    closed.refresh_from_db()
    elsewhere.refresh_from_db()
    # the notice: 1–7 Oct off, Sat 9 Oct worked → Fri 8, Sat 9, Mon 11, Tue 12, Wed 13
    assert (deadline.due_date, deadline.provisional) == (D("2027-10-13"), False)
    assert closed.provisional is True  # closed deadlines are history
    assert recompute_open_deadlines() == 0  # nothing else moves


# ------------------------------------------------------------------ the CLI


@pytest.mark.django_db
def test_cli_add_prints_the_due_date(capsys: Any) -> None:
    assert cli.main(["workdays", "add", "2026-09-30", "5"]) == 0
    assert capsys.readouterr().out == "2026-10-13\n"


@pytest.mark.django_db
def test_cli_add_with_a_profile(capsys: Any) -> None:
    assert cli.main(["workdays", "add", "2026-09-30", "5", "--profile", "longnan"]) == 0
    assert capsys.readouterr().out == "2026-10-13\n"


@pytest.mark.django_db
def test_cli_add_marks_a_provisional_due_date_on_the_same_line(capsys: Any, no_official_2027: None) -> None:
    assert cli.main(["workdays", "add", "2027-09-30", "1"]) == 0
    assert capsys.readouterr().out == "2027-10-04 provisional\n"


@pytest.mark.django_db
def test_cli_between_prints_the_number_of_working_days(capsys: Any) -> None:
    assert cli.main(["workdays", "between", "2026-09-30", "2026-10-13"]) == 0
    assert capsys.readouterr().out == "5\n"


@pytest.mark.django_db
@pytest.mark.parametrize("argv, field", [
    (["workdays", "add", "2026-02-30", "5"], "日期"),  # the field by its label (issue 8), in both languages
    (["workdays", "add", "2026-09-30", "five"], "工作日数"),
    (["workdays", "add", "2026-09-30", "5", "--profile", "atlantis"], "policy profile"),
    (["workdays", "between", "2026-09-30", "tomorrow"], "end date"),
])
def test_cli_bad_input_exits_2_with_a_bilingual_message(capsys: Any, argv: list[str], field: str) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert field in captured.err and " / " in captured.err


@pytest.mark.django_db
def test_cli_show_lists_holidays_and_make_up_days(capsys: Any) -> None:
    assert cli.main(["workdays", "show", "2026"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("2026: official")
    assert "2026-10-10\tmakeup\t国庆节\tpackage" in out
    assert "2026-10-01\tholiday\t国庆节\tpackage" in out


@pytest.mark.django_db
def test_cli_show_labels_a_fallback_year_provisional(capsys: Any, no_official_2027: None) -> None:
    assert cli.main(["workdays", "show", "2027"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("2027: provisional")
    assert "2027-10-01\tholiday\t国庆节\tfallback" in out


@pytest.mark.django_db
def test_cli_import_runs_as_the_operator_and_is_audited(capsys: Any, no_official_2027: None) -> None:
    assert cli.main(["workdays", "import", str(EXAMPLE_2027), "--year", "2027"]) == 0
    out = capsys.readouterr().out
    assert "18 holidays" in out and "5 make-up workdays" in out
    assert HolidayYear.objects.filter(year=2027).exists()
    event = AuditEvent.objects.filter(action="holidays_imported").get()
    assert event.actor_id is None and event.detail["via"] == "cli" and "os_user" in event.detail
    capsys.readouterr()
    assert cli.main(["workdays", "add", "2027-09-30", "1"]) == 0
    assert capsys.readouterr().out == "2027-10-08\n"


@pytest.mark.django_db
def test_cli_import_of_a_bad_file_names_every_bad_line(capsys: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,name\n2027-01-01,holiday,元旦\n2027-13-01,holiday,x\n2027-01-01,休,元旦\n",
                   encoding="utf-8")
    assert cli.main(["workdays", "import", str(bad), "--year", "2027"]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "row 4" in err and "bad.csv" in err
    assert not HolidayYear.objects.exists() and not CalendarDay.objects.exists()


@pytest.mark.django_db
def test_cli_import_of_a_missing_file_is_a_clear_error(capsys: Any, tmp_path: Path) -> None:
    assert cli.main(["workdays", "import", str(tmp_path / "nope.csv"), "--year", "2027"]) == 2
    assert "nope.csv" in capsys.readouterr().err
