"""Export of the audit log and the reusable exporter (SEC-4): CSV opens in Excel with 中文 intact,
XLSX never contains formulas, and a cell that a spreadsheet would execute is neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from govshare.cli import main as cli
from govshare.core import audit, context, exports
from govshare.core.actions import do_create_department
from govshare.core.actions.audit import EXPORT_COLUMNS, AuditFilters, do_export_audit, do_search_audit
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_uscc
from govshare.core.errors import ValidationFailed
from govshare.core.models import AuditEvent
from tests.conftest import Org

DANGEROUS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://x","点我")']
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV must start with the UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> tuple[list[list[Any]], list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).active
    cells = [c for row in sheet.iter_rows() for c in row]
    return [[c.value for c in row] for row in sheet.iter_rows()], cells


def exports_columns() -> Any:
    return EXPORT_COLUMNS


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# ------------------------------------------------------------------ the reusable exporter

def test_csv_starts_with_a_bom_and_keeps_chinese_text() -> None:
    out = io.BytesIO()
    count = exports.write_csv(out, ["名称", "数量"], [["龙南市公安局", 3], ["市场监管局", 4]])
    assert count == 2
    assert _csv_rows(out.getvalue()) == [["名称", "数量"], ["龙南市公安局", "3"], ["市场监管局", "4"]]


@pytest.mark.parametrize("text", DANGEROUS)
def test_csv_prefixes_formula_like_text_with_a_quote(text: str) -> None:
    out = io.BytesIO()
    exports.write_csv(out, ["value"], [[text]])
    assert _csv_rows(out.getvalue())[1] == ["'" + text]


def test_csv_leaves_numbers_and_harmless_text_alone() -> None:
    out = io.BytesIO()
    exports.write_csv(out, ["a", "b", "c", "d"], [[-5, 2.5, "a=b", None]])
    assert _csv_rows(out.getvalue())[1] == ["-5", "2.5", "a=b", ""]


def test_xlsx_writes_formula_like_text_as_plain_strings() -> None:
    out = io.BytesIO()
    exports.write_xlsx(out, ["值"], [[text] for text in DANGEROUS] + [["中文 文本"], [42]])
    rows, cells = _xlsx_rows(out.getvalue())
    assert not [c for c in cells if c.data_type == "f"], "an exported workbook must hold no formula"
    written = [r[0] for r in rows[1:len(DANGEROUS) + 1]]
    # the text is kept as it is (without lxml, openpyxl's XML writer turns a lone carriage return
    # into a line feed; with lxml — a dependency of pikepdf — it is kept)
    assert [w.replace("\r", "\n") for w in written] == [t.replace("\r", "\n") for t in DANGEROUS]
    assert all(c.data_type == "s" for c in cells[1:len(DANGEROUS) + 1])
    assert rows[-2][0] == "中文 文本" and rows[-1][0] == 42


def test_xlsx_and_csv_show_times_in_beijing_time() -> None:
    moment = dt.datetime(2025, 1, 1, 16, 30, tzinfo=dt.UTC)  # 00:30 on 2 January in Asia/Shanghai
    out = io.BytesIO()
    exports.write_csv(out, ["t"], [[moment]])
    assert _csv_rows(out.getvalue())[1] == ["2025-01-02 00:30:00"]
    out = io.BytesIO()
    exports.write_xlsx(out, ["t"], [[moment]])
    rows, _cells = _xlsx_rows(out.getvalue())
    assert rows[1][0] == dt.datetime(2025, 1, 2, 0, 30)


def test_the_csv_response_streams() -> None:
    rows = ([i, f"行{i}"] for i in range(1000))
    response = exports.csv_response("导出", ["n", "text"], rows)
    assert response.streaming
    parsed = _csv_rows(_body(response))
    assert len(parsed) == 1001 and parsed[-1] == ["999", "行999"]
    assert "attachment" in response["Content-Disposition"]


def test_an_unknown_format_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        exports.check_format("pdf")
    assert info.value.field == "format"


# ------------------------------------------------------------------ exporting the audit log

@pytest.fixture
def risky_department(org: Org) -> Any:
    return do_create_department(org.centre_admin, name="=HYPERLINK(\"http://evil\",\"公安\")", short_name="风险",
                                uscc=make_uscc("360783", 9), code="RISK", jurisdiction=org.county)


def test_the_auditor_exports_csv_through_the_api_and_the_export_is_recorded(org: Org, risky_department: Any,
                                                                            client_for: Any) -> None:
    expected = AuditEvent.objects.filter(code=AuditCode.DEPARTMENT_CREATED).count()
    response = client_for(org.auditor).get("/api/v1/audit/export", {"format": "csv", "code": "1110"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv_rows(_body(response))
    assert len(rows) == expected + 1
    header, data = rows[0], rows[1:]
    repr_col = header.index(str(dict(exports_columns())["object_repr"]))
    reprs = {r[repr_col] for r in data}
    assert "龙南市公安局" in reprs
    assert "'=HYPERLINK(\"http://evil\",\"公安\")" in reprs
    recorded = AuditEvent.objects.filter(code=AuditCode.AUDIT_EXPORTED).order_by("-id").first()
    assert recorded.actor_id == org.auditor.pk
    assert recorded.detail["rows"] == expected and recorded.detail["format"] == "csv"
    assert recorded.detail["filters"] == {"code": 1110}


def test_the_auditor_exports_xlsx_without_formulas(org: Org, risky_department: Any, client_for: Any) -> None:
    response = client_for(org.auditor).get("/api/v1/audit/export", {"format": "xlsx", "domain": "core"})
    assert response.status_code == 200
    assert response["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
    rows, cells = _xlsx_rows(_body(response))
    assert not [c for c in cells if c.data_type == "f"]
    flat = {v for row in rows for v in row}
    assert "=HYPERLINK(\"http://evil\",\"公安\")" in flat and "龙南市公安局" in flat
    assert len(rows) - 1 == AuditEvent.objects.filter(code__lt=2000).count() - 1  # minus the export event


def test_an_export_contains_only_rows_that_existed_when_it_was_recorded(org: Org) -> None:
    export = do_export_audit(org.auditor, {}, "csv")
    audit.record(AuditCode.USER_UPDATED, object_repr="written during the download")
    out = io.BytesIO()
    assert export.write(out) == export.count
    assert "written during the download" not in out.getvalue().decode("utf-8-sig")


def test_the_console_exports_a_filtered_file(org: Org, tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "审计.csv"
    assert cli(["audit", "export", "--format", "csv", "-o", str(target), "--actor", "admin"]) == 0
    rows = _csv_rows(target.read_bytes())
    column = [k for k, _label in exports_columns()].index("actor_username")
    assert len(rows) - 1 == AuditEvent.objects.filter(actor_username__icontains="admin").count()
    assert {row[column] for row in rows[1:]} == {"admin"}
    xlsx = tmp_path / "audit.xlsx"
    assert cli(["audit", "export", "--format", "xlsx", "-o", str(xlsx), "--domain", "core"]) == 0
    assert load_workbook(xlsx).active.max_row > 1
    recorded = AuditEvent.objects.filter(code=AuditCode.AUDIT_EXPORTED).order_by("-id").first()
    assert recorded.detail["via"] == "cli" and recorded.actor_id is None


# ------------------------------------------------------------------ filters

def _at(monkeypatch: Any, when: dt.datetime, **kwargs: Any) -> AuditEvent:
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: when)
        return audit.record(AuditCode.USER_UPDATED, **kwargs)


def test_date_filters_are_whole_days_in_beijing_time(org: Org, monkeypatch: Any) -> None:
    late = _at(monkeypatch, dt.datetime(2024, 1, 1, 23, 30, tzinfo=SHANGHAI), object_repr="late on new year's day")
    early = _at(monkeypatch, dt.datetime(2024, 1, 2, 0, 10, tzinfo=SHANGHAI), object_repr="just after midnight")
    on_first = do_search_audit(org.auditor, {"date_from": "2024-01-01", "date_to": "2024-01-01"})
    assert list(on_first) == [late]
    on_second = do_search_audit(org.auditor, {"date_from": "2024-01-02", "date_to": "2024-01-02"})
    assert list(on_second) == [early]


def test_filters_by_code_domain_outcome_actor_department_object_and_request(org: Org) -> None:
    def ids(**filters: Any) -> set[int]:
        return set(do_search_audit(org.auditor, filters, record=False).values_list("id", flat=True))

    created = AuditEvent.objects.filter(code=AuditCode.DEPARTMENT_CREATED)
    assert ids(code=1110) == set(created.values_list("id", flat=True))
    assert ids(domain="core") == ids(domain="1") == set(AuditEvent.objects.filter(
        code__gte=1000, code__lt=2000).values_list("id", flat=True))
    assert ids(domain="catalog") == set()
    assert ids(outcome="denied") == set(AuditEvent.objects.filter(outcome="denied").values_list("id", flat=True))
    assert ids(actor="ADMIN") == set(AuditEvent.objects.filter(actor_username__icontains="admin")
                                     .values_list("id", flat=True))
    assert ids(department=str(org.police.pk)) == set(AuditEvent.objects.filter(department_id=org.police.pk)
                                                     .values_list("id", flat=True))
    assert ids(department="市场监督") == set(AuditEvent.objects.filter(department_id=org.market.pk)
                                             .values_list("id", flat=True))
    assert ids(object_type="core.department", object_id=str(org.market.pk)) == set(AuditEvent.objects.filter(
        object_type="core.department", object_id=str(org.market.pk)).values_list("id", flat=True))
    with context.bind(request_id="req-0123abcd"):
        event = audit.record(AuditCode.USER_UPDATED, object_repr="x")
    assert ids(request_id="req-0123abcd") == {event.pk}


def test_free_text_finds_chinese_inside_the_detail(org: Org) -> None:
    event = audit.record(AuditCode.LOGIN_FAILED, outcome="failure", detail={"username": "张三丰"})
    found = do_search_audit(org.auditor, {"q": "三丰"}, record=False)
    assert list(found.values_list("id", flat=True)) == [event.pk]
    assert do_search_audit(org.auditor, {"q": "公安局"}, record=False).exists()


@pytest.mark.parametrize(("field", "value"), [("date_from", "2024-13-01"), ("code", "abc"),
                                              ("domain", "weather"), ("outcome", "maybe")])
def test_a_bad_filter_is_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        AuditFilters.parse({field: value})
    assert info.value.field == field


def test_an_end_date_before_the_start_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        AuditFilters.parse({"date_from": "2024-02-01", "date_to": "2024-01-01"})
    assert info.value.field == "date_to"


def test_the_api_answers_a_bad_filter_with_the_field_in_both_languages(org: Org, client_for: Any) -> None:
    response = client_for(org.auditor).get("/api/v1/audit/events", {"domain": "weather"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "domain" and error["message_en"] and error["message_zh"]
    response = client_for(org.auditor).get("/api/v1/audit/export", {"format": "pdf"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "format"


def test_the_search_records_its_filters_once_per_search_not_per_page(org: Org, client_for: Any) -> None:
    client = client_for(org.auditor)
    before = AuditEvent.objects.filter(code=AuditCode.AUDIT_VIEWED).count()
    client.get("/api/v1/audit/events", {"actor": "admin", "limit": 5})
    client.get("/api/v1/audit/events", {"actor": "admin", "limit": 5, "offset": 5})
    viewed = AuditEvent.objects.filter(code=AuditCode.AUDIT_VIEWED).order_by("id")
    assert viewed.count() == before + 1
    assert viewed.last().detail == {"filters": {"actor": "admin"}}
