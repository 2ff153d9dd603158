"""Calendar pages and the /api/v1/workdays API (issue 2 §5): everyone logged in views and computes,
only a centre administrator imports notices and edits days (SEC-2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from govshare.core import workdays
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, CalendarDay, HolidayYear

D = dt.date.fromisoformat
EXAMPLE_2027 = Path(__file__).resolve().parent.parent / "docs" / "examples" / "holidays-2027.csv"
EVERYONE = ["centre_admin", "reviewer", "police_admin", "police_specialist", "auditor", "citizen"]
NOT_ADMINS = ["reviewer", "police_admin", "auditor", "citizen"]


@pytest.fixture
def no_official_2027(monkeypatch: Any) -> None:
    real = workdays.package_knows
    monkeypatch.setattr(workdays, "package_knows", lambda year: False if year == 2027 else real(year))


def upload(content: bytes | None = None, name: str = "holidays-2027.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, EXAMPLE_2027.read_bytes() if content is None else content, "text/csv")


# ------------------------------------------------------------------ pages


@pytest.mark.django_db
def test_the_calendar_page_needs_a_login(org: Any) -> None:
    response = Client().get(reverse("core:calendar"))
    assert response.status_code == 302 and reverse("core:login") in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", EVERYONE)
def test_everyone_logged_in_sees_the_year_view(org: Any, client_for: Any, who: str) -> None:
    response = client_for(getattr(org, who)).get(reverse("core:calendar"), {"year": 2026})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="day holiday"' in html and "2026-10-01 国庆节" in html
    assert 'class="day makeup"' in html and "2026-10-10 国庆节" in html
    assert html.count('class="cal-month"') == 12
    assert 'name="date"' in html  # the calculator


@pytest.mark.django_db
def test_only_the_centre_admin_sees_the_import_and_edit_forms(org: Any, client_for: Any) -> None:
    url = reverse("core:calendar")
    admin_html = client_for(org.centre_admin).get(url).content.decode()
    assert reverse("core:calendar_import") in admin_html and reverse("core:calendar_day") in admin_html
    for who in NOT_ADMINS:
        html = client_for(getattr(org, who)).get(url).content.decode()
        assert reverse("core:calendar_import") not in html and reverse("core:calendar_day") not in html


@pytest.mark.django_db
def test_a_year_without_official_data_is_dashed_and_labelled_provisional(
        org: Any, client_for: Any, no_official_2027: None) -> None:
    html = client_for(org.citizen).get(reverse("core:calendar"), {"year": 2027}).content.decode()
    assert 'class="cal-year provisional"' in html
    assert 'class="cal-status provisional"' in html
    assert "2027-05-02" in html  # the fixed-date holidays it assumes are listed


@pytest.mark.django_db
def test_the_calculator_answers_an_htmx_request_with_a_fragment(org: Any, client_for: Any) -> None:
    response = client_for(org.police_specialist).get(
        reverse("core:calendar_calc"), {"date": "2026-09-30", "n": "5", "profile": "longnan"},
        HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert '<span class="due">2026-10-13</span>' in html and "provisional" not in html


@pytest.mark.django_db
def test_the_calculator_marks_a_provisional_result(org: Any, client_for: Any, no_official_2027: None) -> None:
    html = client_for(org.citizen).get(reverse("core:calendar_calc"), {"date": "2027-09-30", "n": "1"},
                                       HTTP_HX_REQUEST="true").content.decode()
    assert "2027-10-04" in html and 'class="badge warn"' in html


@pytest.mark.django_db
def test_the_calculator_works_without_javascript(org: Any, client_for: Any) -> None:
    html = client_for(org.auditor).get(reverse("core:calendar"), {"date": "2026-09-30", "n": "5"}).content.decode()
    assert '<span class="due">2026-10-13</span>' in html


@pytest.mark.django_db
@pytest.mark.parametrize("params, text", [
    ({"date": "2026-02-30", "n": "5"}, "YYYY-MM-DD"),
    ({"date": "2026-09-30", "n": "many"}, "whole number"),
    ({"date": "2026-09-30", "n": "5", "profile": "atlantis"}, "atlantis"),
])
def test_the_calculator_explains_bad_input(org: Any, client_for: Any, params: dict[str, str], text: str) -> None:
    client = client_for(org.citizen)
    client.cookies["django_language"] = "en"
    html = client.get(reverse("core:calendar_calc"), params, HTTP_HX_REQUEST="true",
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'class="error"' in html and text in html


@pytest.mark.django_db
def test_a_centre_admin_imports_a_notice_through_the_page(org: Any, client_for: Any, no_official_2027: None) -> None:
    response = client_for(org.centre_admin).post(reverse("core:calendar_import"),
                                                 {"year": "2027", "file": upload()})
    assert response.status_code == 302 and response["Location"].endswith("?year=2027")
    assert HolidayYear.objects.filter(year=2027).exists()
    html = client_for(org.citizen).get(reverse("core:calendar"), {"year": 2027}).content.decode()
    assert 'class="cal-year"' in html and "2027-10-09 国庆节" in html


@pytest.mark.django_db
def test_a_bad_notice_is_shown_with_its_lines_and_nothing_is_stored(org: Any, client_for: Any) -> None:
    client = client_for(org.centre_admin)
    response = client.post(reverse("core:calendar_import"), {
        "year": "2027", "file": upload(b"2027-01-01,holiday,a\n2027-01-02,holiday,b\n2027-01-01,holiday,c\n",
                                       "bad.csv")}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    html = response.content.decode()
    assert "第 2 行" in html and "第 3 行" in html  # Chinese first
    assert not HolidayYear.objects.exists() and not CalendarDay.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", NOT_ADMINS)
def test_others_cannot_import_through_the_page(org: Any, client_for: Any, who: str) -> None:
    response = client_for(getattr(org, who)).post(reverse("core:calendar_import"),
                                                  {"year": "2027", "file": upload()})
    assert response.status_code == 403
    assert not HolidayYear.objects.exists()


@pytest.mark.django_db
def test_a_centre_admin_edits_and_clears_a_day_through_the_page(org: Any, client_for: Any) -> None:
    client = client_for(org.centre_admin)
    url = reverse("core:calendar_day")
    response = client.post(url, {"date": "2026-10-12", "kind": "holiday", "name": "台风停工", "year": "2026"})
    assert response.status_code == 302
    assert CalendarDay.objects.get(date=D("2026-10-12")).name == "台风停工"
    assert client.post(url, {"date": "2026-10-12", "kind": "clear"}).status_code == 302
    assert not CalendarDay.objects.exists()
    assert client.post(url, {"date": "12/10/2026", "kind": "holiday"}).status_code == 400
    assert client.post(url, {"date": "2026-10-12", "kind": "maybe"}).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("who", NOT_ADMINS)
def test_others_cannot_edit_a_day_through_the_page(org: Any, client_for: Any, who: str) -> None:
    response = client_for(getattr(org, who)).post(reverse("core:calendar_day"),
                                                  {"date": "2026-10-12", "kind": "holiday"})
    assert response.status_code == 403
    assert not CalendarDay.objects.exists()
    assert AuditEvent.objects.filter(action="permission_denied", actor_id=getattr(org, who).pk).exists()


# ------------------------------------------------------------------ API


@pytest.mark.django_db
@pytest.mark.parametrize("who", EVERYONE)
def test_api_add_and_between_for_everyone(org: Any, client_for: Any, who: str) -> None:
    client = client_for(getattr(org, who))
    body = client.get("/api/v1/workdays/add", {"date": "2026-09-30", "n": 5, "profile": "longnan"}).json()
    assert body["due_date"] == "2026-10-13" and body["provisional"] is False
    assert dt.datetime.fromisoformat(body["due_at"]) == dt.datetime(2026, 10, 13, 15, 59, 59, tzinfo=dt.UTC)
    between = client.get("/api/v1/workdays/between", {"a": "2026-09-30", "b": "2026-10-13"}).json()
    assert between == {"working_days": 5, "provisional": False}


@pytest.mark.django_db
def test_api_needs_authentication(org: Any) -> None:
    assert Client().get("/api/v1/workdays/add", {"date": "2026-09-30", "n": 5}).status_code == 401


@pytest.mark.django_db
def test_api_add_reports_provisional_and_bad_input(org: Any, client_for: Any, no_official_2027: None) -> None:
    client = client_for(org.citizen)
    assert client.get("/api/v1/workdays/add", {"date": "2027-09-30", "n": 1}).json()["provisional"] is True
    response = client.get("/api/v1/workdays/add", {"date": "2026-09-30", "n": 5000})
    assert response.status_code == 400 and response.json()["error"]["field"] == "n"
    response = client.get("/api/v1/workdays/add", {"date": "2026-09-30", "n": 5, "profile": "atlantis"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_profile"
    assert client.get("/api/v1/workdays/add", {"date": "2026-02-30", "n": 5}).status_code == 422


@pytest.mark.django_db
def test_api_year_lists_holidays_and_make_up_days_with_the_official_flag(
        org: Any, client_for: Any, no_official_2027: None) -> None:
    client = client_for(org.auditor)
    body = client.get("/api/v1/workdays/year/2026").json()
    assert (body["official"], body["source"]) == (True, "package")
    kinds = {d["date"]: d["kind"] for d in body["days"]}
    assert kinds["2026-10-10"] == "makeup" and kinds["2026-10-01"] == "holiday" and "2026-10-12" not in kinds
    fallback = client.get("/api/v1/workdays/year/2027").json()
    assert (fallback["official"], fallback["source"]) == (False, "fallback")
    assert all(d["official"] is False for d in fallback["days"])


@pytest.mark.django_db
def test_api_import_by_the_centre_admin(org: Any, client_for: Any, no_official_2027: None) -> None:
    response = client_for(org.centre_admin).post("/api/v1/workdays/import", {"year": 2027, "file": upload()})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["year"], body["holidays"], body["workdays"]) == (2027, 18, 5) and body["job_id"]
    assert client_for(org.citizen).get("/api/v1/workdays/year/2027").json()["official"] is True


@pytest.mark.django_db
def test_api_import_of_a_bad_notice_names_the_line(org: Any, client_for: Any) -> None:
    response = client_for(org.centre_admin).post("/api/v1/workdays/import", {
        "year": 2027, "file": upload(b"2027-01-01,holiday,a\n2027-01-04,workday,b\n", "bad.csv")})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["row"], error["field"], error["where"]) == ("workday_on_weekday", 2, "kind",
                                                                             "bad.csv")
    assert "第 2 行" in error["message_zh"] and "row 2" in error["message_en"]
    assert not HolidayYear.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", NOT_ADMINS)
def test_api_import_and_day_edits_are_refused_to_others(org: Any, client_for: Any, who: str) -> None:
    client = client_for(getattr(org, who))
    assert client.post("/api/v1/workdays/import", {"year": 2027, "file": upload()}).status_code == 403
    put = client.put("/api/v1/workdays/days/2026-10-12", {"is_workday": False, "name": "x"},
                     content_type="application/json")
    assert put.status_code == 403
    CalendarDay.objects.create(date=D("2026-10-12"), is_workday=False)
    assert client.delete("/api/v1/workdays/days/2026-10-12").status_code == 403
    assert list(CalendarDay.objects.values_list("date", flat=True)) == [D("2026-10-12")]
    assert not HolidayYear.objects.exists()


@pytest.mark.django_db
def test_api_set_and_clear_a_day(org: Any, client_for: Any) -> None:
    client = client_for(org.centre_admin)
    response = client.put("/api/v1/workdays/days/2026-10-11", {"is_workday": True, "name": "加班"},
                          content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"date": "2026-10-11", "is_workday": True, "kind": "makeup", "name": "加班",
                               "source": "manual", "official": True}
    assert client.get("/api/v1/workdays/add", {"date": "2026-09-30", "n": 5}).json()["due_date"] == "2026-10-12"
    assert client.delete("/api/v1/workdays/days/2026-10-11").status_code == 204
    assert client.delete("/api/v1/workdays/days/2026-10-11").status_code == 404


# ------------------------------------------------------------------ upload size (review: refuse before reading)

def _too_large() -> SimpleUploadedFile:
    from govshare.core.api_calendar import MAX_IMPORT_REQUEST_BYTES

    return upload(b"#" * (MAX_IMPORT_REQUEST_BYTES + 1), "huge.csv")


@pytest.mark.django_db
@pytest.mark.parametrize("api", [False, True])
def test_an_oversized_notice_is_refused_by_its_size_and_nothing_is_stored(org: Any, client_for: Any,
                                                                         api: bool) -> None:
    url = "/api/v1/workdays/import" if api else reverse("core:calendar_import")
    response = client_for(org.centre_admin).post(url, {"year": "2027", "file": _too_large()},
                                                 HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 413
    assert "KiB" in response.content.decode()
    assert not HolidayYear.objects.exists() and not CalendarDay.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["police_admin", "citizen"])
@pytest.mark.parametrize("api", [False, True])
def test_an_oversized_upload_by_someone_else_is_refused_for_the_right_first(org: Any, client_for: Any, who: str,
                                                                           api: bool) -> None:
    user = getattr(org, who)
    url = "/api/v1/workdays/import" if api else reverse("core:calendar_import")
    response = client_for(user).post(url, {"year": "2027", "file": _too_large()})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), actor_id=user.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [({"file": "x"}, "year"), ({"year": "²⁰²⁷", "file": "x"}, "year"),
                                             ({"year": "2027"}, "file")])
def test_api_import_without_a_year_or_file_names_the_field(org: Any, client_for: Any, body: dict[str, Any],
                                                           field: str) -> None:
    if body.get("file"):
        body = {**body, "file": upload()}
    response = client_for(org.centre_admin).post("/api/v1/workdays/import", body)
    assert response.status_code == 400 and response.json()["error"]["field"] == field
