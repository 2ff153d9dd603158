"""Issue 3 §4 and "Bad input": the Excel template, import all-or-nothing with a row-by-row report, export."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from govshare.catalog.actions import do_download_template, do_export_catalog, do_import_catalog
from govshare.catalog.excel import (
    ENTRY_COLUMNS,
    ITEM_COLUMNS,
    SHEET_CODES,
    SHEET_ENTRIES,
    SHEET_GUIDE,
    SHEET_ITEMS,
)
from govshare.catalog.models import CatalogEntry, EntryVersion
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Forbidden, ManyProblems
from govshare.core.models import AuditEvent

# ------------------------------------------------------------------ helpers (also used by the CLI tests)

ENTRY = {
    "资源序号": 1, "分类代码": "301 公安局信息资源", "资源名称": "常住人口信息", "资源摘要": "本辖区常住人口的基本信息。",
    "关键字": "常住、人口", "格式分类": "数据库", "资源格式": "PostgreSQL", "共享类型": "无条件共享",
    "共享方式": "库表、接口", "共享条件": "", "共享依据": "", "开放属性": "不予开放", "更新周期": "每日",
}
ITEMS = [
    {"资源序号": 1, "信息项名称": "公民身份号码", "数据类型": "C 字符型", "数据长度": 18, "是否主键": "是",
     "是否敏感": "是", "脱敏规则": "保留前6位和后4位"},
    {"资源序号": 1, "信息项名称": "登记日期", "数据类型": "D", "是否主键": "否", "是否敏感": "否"},
]


def entry_row(**changes: Any) -> dict[str, Any]:
    row = dict(ENTRY)
    row.update(changes)
    return row


def item_rows(key: Any = 1) -> list[dict[str, Any]]:
    return [{**item, "资源序号": key} for item in ITEMS]


def template_bytes(user: Any, department: Any, *, prefill: bool = True) -> bytes:
    out = io.BytesIO()
    do_download_template(user, department, out, prefill=prefill)
    return out.getvalue()


def fill(workbook: bytes, entries: list[dict[str, Any]], items: list[dict[str, Any]]) -> bytes:
    """Append rows (header → value) under the headers of a template or export."""
    wb = load_workbook(io.BytesIO(workbook))
    for name, rows in ((SHEET_ENTRIES, entries), (SHEET_ITEMS, items)):
        ws = wb[name]
        headers = [c.value for c in ws[1]]
        for row in rows:
            unknown = set(row) - set(headers)
            assert not unknown, unknown
            ws.append([row.get(h) for h in headers])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def workbook(entries: list[dict[str, Any]], items: list[dict[str, Any]], *,
             entry_headers: list[str] | None = None, item_headers: list[str] | None = None,
             sheets: tuple[str, str] = (SHEET_ENTRIES, SHEET_ITEMS),
             edit: Callable[[Workbook], None] | None = None) -> bytes:
    """A workbook made from scratch (not from the template), for structural bad-input cases."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, headers, rows in ((sheets[0], entry_headers or [c.header for c in ENTRY_COLUMNS], entries),
                                (sheets[1], item_headers or [c.header for c in ITEM_COLUMNS], items)):
        ws = wb.create_sheet(name)
        ws.append(headers)
        for row in rows:
            ws.append([row.get(h) for h in headers])
    if edit is not None:
        edit(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def state() -> tuple[int, int, int]:
    """What an import could change: entries, versions, and their audit events."""
    writes = AuditEvent.objects.filter(code__in=[AuditCode.ENTRY_CREATED, AuditCode.ENTRY_DRAFT_UPDATED,
                                                 AuditCode.ENTRY_VERSION_OPENED, AuditCode.CATALOG_IMPORTED])
    return CatalogEntry.objects.count(), EntryVersion.objects.count(), writes.count()


def rejected(user: Any, department: Any, data: bytes, filename: str = "catalog.xlsx") -> list[Any]:
    """Import expecting a refusal; check that nothing changed and the refusal was audited."""
    before = state()
    refusals = AuditEvent.objects.filter(code=AuditCode.CATALOG_IMPORT_REJECTED).count()
    with pytest.raises(ManyProblems) as info:
        do_import_catalog(user, data, filename, department)
    audit.flush_pending()
    assert state() == before
    assert not [p for p in info.value.problems if "%(" in p.render("en") or "%(" in p.render("zh-hans")]
    assert AuditEvent.objects.filter(code=AuditCode.CATALOG_IMPORT_REJECTED).count() == refusals + 1
    return info.value.problems


def places(problems: list[Any]) -> list[tuple[Any, Any, Any, str]]:
    return [(p.where, p.row, p.field, p.code) for p in problems]


# ------------------------------------------------------------------ the template


def test_the_template_has_the_entry_and_item_sheets_with_chinese_headers_a_guide_and_hidden_lists(cat: Any) -> None:
    org = cat.org
    wb = load_workbook(io.BytesIO(template_bytes(org.police_specialist, org.police)))
    assert wb.sheetnames == [SHEET_ENTRIES, SHEET_ITEMS, SHEET_GUIDE, SHEET_CODES]
    assert [c.value for c in wb[SHEET_ENTRIES][1]] == [c.header for c in ENTRY_COLUMNS]
    assert [c.value for c in wb[SHEET_ITEMS][1]] == [c.header for c in ITEM_COLUMNS]
    assert wb[SHEET_CODES].sheet_state == "hidden"
    assert wb[SHEET_ENTRIES]["D1"].comment is not None  # each column explains itself
    guide = " ".join(str(c.value) for row in wb[SHEET_GUIDE].iter_rows() for c in row if c.value)
    assert "不予共享" in guide and "共享依据" in guide and "脱敏规则" in guide


def test_the_template_drop_downs_offer_the_guides_terms_and_only_the_departments_classifications(cat: Any) -> None:
    org = cat.org
    wb = load_workbook(io.BytesIO(template_bytes(org.police_specialist, org.police)))
    codes = wb[SHEET_CODES]
    columns = {col[0].value: [c.value for c in col[1:] if c.value] for col in codes.iter_cols()}
    assert columns["共享类型"] == ["无条件共享", "有条件共享", "不予共享"]
    assert "库表、接口" in columns["共享方式"] and "库表" in columns["共享方式"]
    assert columns["数据类型"][0] == "C 字符型" and len(columns["数据类型"]) == 11
    assert "社保" in columns["开放领域"]  # the department's profile (龙南) list
    classes = columns["分类代码"]
    assert "301 公安局信息资源" in classes and "101 人口信息" in classes
    assert not any(c.startswith(("302", "399")) for c in classes)  # other departments' subtrees
    validated = {dv.formula1 for dv in wb[SHEET_ENTRIES].data_validations.dataValidation}
    assert {"=list_share_type", "=list_share_methods", "=list_open_attribute", "=list_format_class",
            "=list_update_cycle", "=list_domain", "=list_classification"} <= validated
    item_validated = {dv.formula1 for dv in wb[SHEET_ITEMS].data_validations.dataValidation}
    assert {"=list_data_type", "=list_yes_no"} <= item_validated
    assert set(wb.defined_names) >= {"list_share_type", "list_classification", "list_yes_no"}


def test_only_the_departments_editors_download_its_template(cat: Any) -> None:
    org = cat.org
    with pytest.raises(Forbidden):
        do_download_template(org.market_specialist, org.police, io.BytesIO())
    with pytest.raises(Forbidden):
        do_download_template(org.auditor, org.police, io.BytesIO())
    assert template_bytes(org.police_admin, org.police)


# ------------------------------------------------------------------ import: the good path


def test_a_filled_template_imports_new_entries_with_their_items(cat: Any) -> None:
    org = cat.org
    data = fill(template_bytes(org.police_specialist, org.police, prefill=False),
                [entry_row(), entry_row(资源序号=2, 资源名称="暂住人口信息", 共享类型="有条件共享",
                                        共享条件="仅限公安业务使用", 共享依据="《居住证暂行条例》", 共享方式="接口")],
                item_rows(1) + item_rows(2))
    report = do_import_catalog(org.police_specialist, data, "公安目录.xlsx", org.police)
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert report.codes == ["301/000001", "301/000002"]
    second = CatalogEntry.objects.get(code="301/000002")
    version = second.open_version
    assert version.share_type == "conditional" and version.share_methods == ["api"]
    assert version.share_basis == "《居住证暂行条例》"
    items = list(version.items.all())
    assert [i.name for i in items] == ["公民身份号码", "登记日期"]
    assert items[0].data_type == "C" and items[0].length == 18 and items[0].is_primary_key and items[0].is_sensitive
    assert items[1].data_type == "D" and items[1].length is None and not items[1].is_sensitive
    event = AuditEvent.objects.get(code=AuditCode.CATALOG_IMPORTED)
    assert event.detail["created"] == 2 and event.actor_id == org.police_specialist.pk
    assert AuditEvent.objects.filter(code=AuditCode.ENTRY_CREATED).count() == 2


def test_columns_may_come_in_any_order_and_codes_stand_for_the_chinese_terms(cat: Any) -> None:
    org = cat.org
    headers = list(reversed([c.header for c in ENTRY_COLUMNS if c.required]))
    data = workbook([entry_row(格式分类="database", 共享类型="unconditional", 共享方式="table", 开放属性="not_open",
                               更新周期="每季", 分类代码=301)],
                    item_rows(), entry_headers=headers)
    report = do_import_catalog(org.police_specialist, data, "x.xlsx", org.police)
    version = CatalogEntry.objects.get(code=report.codes[0]).open_version
    assert (version.format_class, version.share_methods, version.update_cycle) == ("database", ["table"],
                                                                                  "quarterly")


def test_an_exported_template_reimports_unchanged_and_an_edited_row_updates_the_draft(cat: Any) -> None:
    org = cat.org
    draft = cat.draft()
    exported = template_bytes(org.police_specialist, org.police)
    report = do_import_catalog(org.police_specialist, exported, "same.xlsx", org.police)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    assert not AuditEvent.objects.filter(code=AuditCode.ENTRY_DRAFT_UPDATED).exists()
    wb = load_workbook(io.BytesIO(exported))
    ws = wb[SHEET_ENTRIES]
    headers = [c.value for c in ws[1]]
    ws.cell(row=2, column=headers.index("资源摘要") + 1, value="更新后的摘要。")
    out = io.BytesIO()
    wb.save(out)
    report = do_import_catalog(org.police_specialist, out.getvalue(), "edited.xlsx", org.police)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    draft.refresh_from_db()
    assert draft.open_version.summary == "更新后的摘要。" and draft.open_version.number == 1


def test_editing_a_published_entry_by_import_opens_a_new_version_with_the_reason(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    wb = load_workbook(io.BytesIO(template_bytes(org.police_specialist, org.police)))
    ws = wb[SHEET_ENTRIES]
    headers = [c.value for c in ws[1]]
    ws.cell(row=2, column=headers.index("资源摘要") + 1, value="职能调整后的摘要。")
    out = io.BytesIO()
    wb.save(out)
    problems = rejected(org.police_specialist, org.police, out.getvalue())
    assert places(problems) == [(SHEET_ENTRIES, 2, "变更原因", "change_reason_required")]
    ws.cell(row=2, column=headers.index("变更原因") + 1, value="职能调整")
    out = io.BytesIO()
    wb.save(out)
    report = do_import_catalog(org.police_specialist, out.getvalue(), "v2.xlsx", org.police)
    assert report.updated == 1
    entry.refresh_from_db()
    assert entry.current_version.number == 1 and entry.open_version.number == 2
    assert entry.open_version.change_reason == "职能调整" and entry.open_version.summary == "职能调整后的摘要。"


def test_a_dry_run_reports_without_writing(cat: Any) -> None:
    org = cat.org
    data = workbook([entry_row()], item_rows())
    before = state()
    report = do_import_catalog(org.police_specialist, data, "x.xlsx", org.police, dry_run=True)
    assert report.created == 1 and report.dry_run
    assert state() == before


# ------------------------------------------------------------------ import: bad input, each named and nothing changed


def test_a_missing_sheet_is_named_with_the_sheets_found(cat: Any) -> None:
    org = cat.org
    data = workbook([entry_row()], item_rows(), sheets=(SHEET_ENTRIES, "Sheet2"))
    problems = rejected(org.police_specialist, org.police, data)
    assert places(problems) == [(SHEET_ITEMS, None, None, "missing_sheet")]
    assert "Sheet2" in problems[0].render("en")


def test_missing_and_unknown_columns_are_reported_together(cat: Any) -> None:
    org = cat.org
    headers = [c.header for c in ENTRY_COLUMNS if c.header not in ("共享依据", "资源摘要")] + ["备注"]
    data = workbook([entry_row()], item_rows(), entry_headers=headers)
    problems = rejected(org.police_specialist, org.police, data)
    assert sorted(places(problems)) == sorted([
        (SHEET_ENTRIES, 1, "备注", "unknown_column"),
        (SHEET_ENTRIES, 1, "资源摘要", "missing_column"),
        (SHEET_ENTRIES, 1, "共享依据", "missing_column"),
    ])


def test_merged_cells_are_refused_naming_the_range(cat: Any) -> None:
    org = cat.org

    def merge(wb: Workbook) -> None:
        wb[SHEET_ITEMS].merge_cells("C2:D2")

    data = workbook([entry_row()], item_rows(), edit=merge)
    problems = rejected(org.police_specialist, org.police, data)
    assert places(problems) == [(SHEET_ITEMS, 2, "信息项名称", "merged_cells")]
    assert "C2:D2" in problems[0].render("en")


def test_formulas_are_refused_cell_by_cell(cat: Any) -> None:
    org = cat.org
    items = item_rows()
    items[1]["数据长度"] = "=LEN(C3)"
    data = workbook([entry_row(资源名称="=CONCAT(\"常住\",\"人口\")")], items)
    problems = rejected(org.police_specialist, org.police, data)
    assert (SHEET_ENTRIES, 2, "资源名称", "formula") in places(problems)
    assert (SHEET_ITEMS, 3, "数据长度", "formula") in places(problems)


def test_wrong_types_name_the_cell(cat: Any) -> None:
    import datetime as dt

    org = cat.org
    items = item_rows()
    items[0]["数据长度"] = "十八"
    items[1]["数据长度"] = 2.5
    items[1]["是否敏感"] = "也许"
    data = workbook([entry_row(资源摘要=dt.datetime(2026, 3, 1))], items)
    problems = places(rejected(org.police_specialist, org.police, data))
    assert (SHEET_ENTRIES, 2, "资源摘要", "wrong_type") in problems
    assert (SHEET_ITEMS, 2, "数据长度", "wrong_type") in problems
    assert (SHEET_ITEMS, 3, "数据长度", "wrong_type") in problems
    assert (SHEET_ITEMS, 3, "是否敏感", "wrong_value") in problems


def test_unknown_terms_and_the_guides_rules_are_reported_row_by_row(cat: Any) -> None:
    org = cat.org
    items = item_rows(1) + item_rows(2) + [{"资源序号": 3, "信息项名称": "名称", "数据类型": "C"}]
    items[0]["数据类型"] = "X 未知型"
    data = workbook([
        entry_row(共享类型="随便共享"),
        entry_row(资源序号=2, 资源名称="企业信息", 共享类型="有条件共享", 共享条件="仅限监管"),
        entry_row(资源序号=3, 资源名称="第三个", 共享类型="不予共享", 共享方式=""),
    ], items)
    problems = places(rejected(org.police_specialist, org.police, data))
    assert (SHEET_ENTRIES, 2, "共享类型", "invalid_choice") in problems
    assert (SHEET_ITEMS, 2, "数据类型", "invalid_choice") in problems
    assert (SHEET_ENTRIES, 3, "共享依据", "basis_required") in problems
    assert (SHEET_ENTRIES, 4, "共享依据", "basis_required") in problems
    assert (SHEET_ITEMS, 6, "数据长度", "length_required") in problems
    # one message per cell: the unknown share type is not reported twice
    assert problems.count((SHEET_ENTRIES, 2, "共享类型", "invalid_choice")) == 1


def test_a_missing_basis_where_required_names_sheet_row_and_column(cat: Any) -> None:
    org = cat.org
    data = workbook([entry_row(), entry_row(资源序号=2, 资源名称="涉密数据", 共享类型="不予共享")],
                    item_rows(1) + item_rows(2))
    problems = rejected(org.police_specialist, org.police, data)
    assert places(problems) == [(SHEET_ENTRIES, 3, "共享依据", "basis_required")]
    assert "共享依据" in problems[0].render("zh-hans") and "第 3 行" in problems[0].render("zh-hans")


def test_duplicate_codes_and_names_in_the_file_are_errors(cat: Any) -> None:
    org = cat.org
    first = cat.draft()
    second = cat.draft(name="暂住人口信息")
    data = workbook([
        entry_row(资源代码=first.code, 资源名称="户籍人口基本信息"),
        entry_row(资源序号=2, 资源代码=first.code, 资源名称="另一个"),
        entry_row(资源序号=3, 资源名称="常住人口信息"),
        entry_row(资源序号=4, 资源名称="常住人口信息"),
        entry_row(资源序号=5, 资源名称=second.open_version.name),
        entry_row(资源序号=5, 资源名称="第六个"),
    ], item_rows(1) + item_rows(2) + item_rows(3) + item_rows(4) + item_rows(5))
    problems = places(rejected(org.police_specialist, org.police, data))
    assert (SHEET_ENTRIES, 7, "资源序号", "duplicate_row_key") in problems
    assert (SHEET_ENTRIES, 3, "资源代码", "duplicate_code") in problems
    assert (SHEET_ENTRIES, 5, "资源名称", "duplicate_name") in problems
    assert (SHEET_ENTRIES, 6, "资源名称", "name_exists") in problems  # would duplicate 301/000002


def test_codes_of_other_departments_and_unknown_row_keys_are_refused(cat: Any) -> None:
    org = cat.org
    market_entry = cat.draft(org.market_specialist)
    items = item_rows(1) + [{"资源序号": 9, "信息项名称": "孤儿", "数据类型": "I"}]
    data = workbook([entry_row(资源代码=market_entry.code)], items)
    problems = places(rejected(org.police_specialist, org.police, data))
    assert (SHEET_ENTRIES, 2, "资源代码", "unknown_code") in problems
    assert (SHEET_ITEMS, 4, "资源序号", "unknown_row_key") in problems


def test_a_resource_without_items_and_a_foreign_classification_are_refused(cat: Any) -> None:
    org = cat.org
    data = workbook([entry_row(), entry_row(资源序号=2, 资源名称="市场主体", 分类代码="302")], item_rows(1))
    problems = places(rejected(org.police_specialist, org.police, data))
    assert (SHEET_ENTRIES, 3, "资源序号", "items_required") in problems
    assert (SHEET_ENTRIES, 3, "分类代码", "classification_other_department") in problems


def test_a_file_for_another_department_is_refused(cat: Any) -> None:
    org = cat.org
    data = workbook([entry_row(资源提供方代码=org.market.uscc)], item_rows())
    assert places(rejected(org.police_specialist, org.police, data)) == [
        (SHEET_ENTRIES, 2, "资源提供方代码", "other_provider")]
    with pytest.raises(Forbidden):
        do_import_catalog(org.market_specialist, data, "x.xlsx", org.police)


def test_a_text_file_renamed_to_xlsx_is_refused(cat: Any) -> None:
    org = cat.org
    problems = rejected(org.police_specialist, org.police, "资源序号,资源名称\n1,户籍\n".encode(), "catalog.xlsx")
    assert places(problems) == [("catalog.xlsx", None, None, "not_xlsx")]
    problems = rejected(org.police_specialist, org.police, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
                        "old.xlsx")
    assert places(problems) == [("old.xlsx", None, None, "old_excel_format")]
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    assert places(rejected(org.police_specialist, org.police, docx.getvalue()))[0][3] == "not_xlsx"
    assert places(rejected(org.police_specialist, org.police, b"PK\x03\x04garbage"))[0][3] == "damaged_xlsx"


def _repack(data: bytes, extra: dict[str, bytes] | None = None,
            replace: dict[str, Callable[[bytes], bytes]] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if replace and info.filename in replace:
                body = replace[info.filename](body)
            dst.writestr(info.filename, body)
        for name, body in (extra or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(cat: Any, settings: Any) -> None:
    org = cat.org
    good = workbook([entry_row()], item_rows())
    bomb = _repack(good, extra={"xl/media/image1.png": b"\0" * (30 * 1024 * 1024)})
    assert places(rejected(org.police_specialist, org.police, bomb)) == [("catalog.xlsx", None, None, "zip_bomb")]
    settings.GOVSHARE_CATALOG_IMPORT_MAX_UNPACKED = 1024  # the total, whatever the ratio
    assert places(rejected(org.police_specialist, org.police, good))[0][3] == "zip_bomb"


def test_macros_external_links_and_xml_entities_are_refused(cat: Any) -> None:
    org = cat.org
    good = workbook([entry_row()], item_rows())
    macro = _repack(good, extra={"xl/vbaProject.bin": b"VBA"})
    assert places(rejected(org.police_specialist, org.police, macro))[0][3] == "macro_workbook"
    linked = _repack(good, extra={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    assert places(rejected(org.police_specialist, org.police, linked))[0][3] == "external_links"

    def xxe(body: bytes) -> bytes:
        return b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body

    hostile = _repack(good, replace={"xl/worksheets/sheet1.xml": xxe})
    assert places(rejected(org.police_specialist, org.police, hostile))[0][3] == "xml_doctype"


def test_a_workbook_with_a_part_named_outside_the_archive_is_refused(cat: Any) -> None:
    """The shared archive checks (govshare.core.files) apply to the import: no zip slip."""
    org = cat.org
    good = workbook([entry_row()], item_rows())
    slip = _repack(good, extra={"../../xl/evil.xml": b"<evil/>"})
    assert places(rejected(org.police_specialist, org.police, slip)) == [("catalog.xlsx", None, None, "unsafe_path")]


def test_a_file_over_the_size_limit_is_refused(cat: Any, settings: Any) -> None:
    org = cat.org
    settings.GOVSHARE_CATALOG_IMPORT_MAX_BYTES = 1000
    data = workbook([entry_row()], item_rows())
    assert places(rejected(org.police_specialist, org.police, data)) == [("catalog.xlsx", None, None,
                                                                          "file_too_large")]


def test_other_spreadsheet_formats_are_named(cat: Any) -> None:
    org = cat.org
    assert places(rejected(org.police_specialist, org.police, b"a,b\n", "catalog.csv"))[0][3] == "unsupported_format"
    assert places(rejected(org.police_specialist, org.police, b"PK\x03\x04", "book.xlsm"))[0][3] == "unsupported_format"


@pytest.fixture(scope="module")
def huge_workbook() -> bytes:
    """100 000 entry rows, written once per module in write-only mode."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_ENTRIES)
    ws.append(["资源序号"])
    for n in range(1, 100_001):
        ws.append([n])
    wb.create_sheet(SHEET_ITEMS).append(["资源序号", "信息项名称"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_a_100k_row_file_is_refused_by_counting_rows_before_reading_values(
        cat: Any, huge_workbook: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    def must_not_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the workbook was loaded although the row count alone refuses it")

    monkeypatch.setattr(openpyxl, "load_workbook", must_not_load)
    org = cat.org
    problems = rejected(org.police_specialist, org.police, huge_workbook)
    assert places(problems) == [(SHEET_ENTRIES, None, None, "too_many_rows")]
    assert "5000" in problems[0].render("en")


def test_the_report_lists_every_problem_in_sheet_and_row_order(cat: Any) -> None:
    org = cat.org
    items = item_rows(1) + item_rows(2)
    items[3]["数据长度"] = "x"
    data = workbook([entry_row(资源摘要=""), entry_row(资源序号=2, 资源名称="二", 更新周期="")], items)
    problems = rejected(org.police_specialist, org.police, data)
    assert [(p.where, p.row) for p in problems] == [(SHEET_ENTRIES, 2), (SHEET_ENTRIES, 3), (SHEET_ITEMS, 5)]
    body = ManyProblems(problems).as_dict()
    assert body["errors"][0]["where"] == SHEET_ENTRIES and body["errors"][0]["field"] == "资源摘要"
    assert body["errors"][0]["row"] == 2 and body["errors"][0]["message_zh"]


# ------------------------------------------------------------------ export


def test_an_xlsx_export_neutralises_formula_text_and_reimports_cleanly(cat: Any) -> None:
    org = cat.org
    entry = cat.published(summary="=HYPERLINK(\"http://evil\",\"点击\")", keywords=["@risk", "+1"])
    out = io.BytesIO()
    assert do_export_catalog(org.police_specialist, "xlsx", out, department=org.police) == 1
    wb = load_workbook(io.BytesIO(out.getvalue()))
    ws = wb[SHEET_ENTRIES]
    headers = [c.value for c in ws[1]]
    summary = ws.cell(row=2, column=headers.index("资源摘要") + 1)
    assert summary.data_type == "s" and summary.value.startswith("=HYPERLINK") and summary.quotePrefix
    assert AuditEvent.objects.filter(code=AuditCode.CATALOG_EXPORTED, detail__format="xlsx").exists()
    report = do_import_catalog(org.police_specialist, out.getvalue(), "export.xlsx", org.police)
    assert (report.unchanged, report.codes) == (1, [entry.code])


def test_the_xlsx_export_contains_only_what_the_user_may_see(cat: Any) -> None:
    org = cat.org
    cat.published()
    cat.draft(name="草稿资源")
    cat.published(org.market_specialist, name="市场主体登记信息", open_attribute="open", domain="企业登记监管")
    for user, expected in ((org.market_specialist, 2), (None, 1)):
        out = io.BytesIO()
        assert do_export_catalog(user, "xlsx", out) == expected
        names = [row[3] for row in load_workbook(io.BytesIO(out.getvalue()))[SHEET_ENTRIES].iter_rows(
            min_row=2, values_only=True)]
        assert "草稿资源" not in names


def test_the_streaming_scan_refuses_entities_even_where_the_byte_scan_would_not_look() -> None:
    from govshare.catalog.excel import scan_sheet
    from govshare.core.errors import ValidationFailed

    body = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            '<row r="1"><c r="A1"><v>&b;</v></c></row></sheetData></worksheet>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("xl/worksheets/sheet1.xml", body)
    with pytest.raises(ValidationFailed) as info, zipfile.ZipFile(buffer) as zf:
        scan_sheet(zf, "xl/worksheets/sheet1.xml", SHEET_ENTRIES, 10)
    assert info.value.code == "xml_doctype"


def test_an_item_sheet_over_its_limit_and_data_far_below_the_table_are_refused(cat: Any, settings: Any) -> None:
    org = cat.org
    settings.GOVSHARE_CATALOG_IMPORT_MAX_ITEMS = 3
    data = workbook([entry_row()], item_rows() + item_rows())
    assert places(rejected(org.police_specialist, org.police, data)) == [(SHEET_ITEMS, None, None, "too_many_rows")]
    settings.GOVSHARE_CATALOG_IMPORT_MAX_ITEMS = 50_000

    def far(wb: Workbook) -> None:
        wb[SHEET_ENTRIES]["D20000"] = "远处的数据"

    settings.GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES = 100
    data = workbook([entry_row()], item_rows(), edit=far)
    problems = rejected(org.police_specialist, org.police, data)
    assert places(problems) == [(SHEET_ENTRIES, 20000, None, "row_out_of_range")]
    assert "row 20000" in problems[0].render("en") and "201" in problems[0].render("en")
