"""Excel data upload for departments without a business system (govshare/exchange/engine/workbook.py; EXC-3,
issue 11 item 8): the data template a catalog entry's items give (headers, key marks, formats, validations,
the guide and the hidden lists sheet), and the reading of a filled-in template — typed rows, or every problem
with its sheet, row, column letter and item."""

from __future__ import annotations

import ast
import datetime as dt
import re
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from govshare.exchange.engine import workbook
from govshare.exchange.engine.workbook import (
    DATA_SHEET,
    GUIDE_SHEET,
    LISTS_SHEET,
    PROBLEM_CODES,
    Column,
    Parsed,
    Problem,
    make_template,
    read_upload,
)

pytestmark = pytest.mark.once

ID = "110101199003071234"
USCC = "91360727MA35XXXX1Y"
#: one item of every letter; 编号 is the key
ALL = [Column("编号", "C", 18, key=True, description="统一社会信用代码"), Column("备注", "M"),
       Column("金额", "N"), Column("费用", "Y"), Column("人数", "I"), Column("比例", "B"), Column("系数", "F"),
       Column("成立日期", "D"), Column("更新时间", "T"), Column("有效", "L")]


def _template(columns: Sequence[Column], **kwargs: Any) -> openpyxl.Workbook:
    return openpyxl.load_workbook(BytesIO(make_template(columns, title="测试资源数据模板", data_rows=50, **kwargs)))


def _save(wb: openpyxl.Workbook) -> bytes:
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _put(ws: Any, ref: str, value: object, *, text: bool = False) -> None:
    ws[ref] = value
    if text:  # a string openpyxl would otherwise store as a formula
        ws[ref].data_type = "s"


def filled(columns: Sequence[Column], rows: dict[int, Sequence[object]]) -> bytes:
    """The template of ``columns`` with ``rows`` (Excel row number → values in the template's column order)."""
    wb = _template(columns)
    ws = wb[DATA_SHEET]
    for number, values in rows.items():
        for index, value in enumerate(values, start=1):
            if value is not None:
                ws.cell(row=number, column=index, value=value)
    return _save(wb)


def sheet(header: Sequence[object], rows: Sequence[Sequence[object]] = (), *, title: str = DATA_SHEET) -> bytes:
    """A workbook made from scratch: ``header`` in row 1, ``rows`` from row 2."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    return _save(wb)


def where(parsed: Parsed) -> list[tuple[object, ...]]:
    return [(p.sheet, p.row, p.column, p.item, p.code, p.detail) for p in parsed.problems]


def codes(parsed: Parsed) -> list[str]:
    return [p.code for p in parsed.problems]


# ------------------------------------------------------------------ the engine


def test_the_module_imports_nothing_from_django() -> None:
    tree = ast.parse(Path(workbook.__file__).read_text(encoding="utf-8"))
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    modules += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert modules and not [m for m in modules if m.split(".")[0] == "django"]


# ------------------------------------------------------------------ the template


def test_the_template_has_the_data_sheet_first_and_active_with_one_header_per_item_keys_marked() -> None:
    wb = _template(ALL)
    assert wb.sheetnames == [DATA_SHEET, GUIDE_SHEET]  # no lists sheet when no drop-down needs one
    ws = wb.active
    assert ws.title == DATA_SHEET
    assert [c.value for c in ws[1]] == ["编号 *"] + [c.name for c in ALL[1:]]
    key, other = ws["A1"], ws["B1"]
    assert key.font.b and other.font.b
    assert key.fill.fgColor.rgb != other.fill.fgColor.rgb
    assert ws.freeze_panes == "A2"
    assert ws.max_row == 1  # the formats are the columns' default styles, not written cell by cell


def test_the_template_formats_each_column_by_its_letter_and_sizes_it() -> None:
    ws = _template([*ALL, Column("很长的信息项名称很长的信息项名称", "C", 200)])[DATA_SHEET]
    formats = {ws.cell(row=1, column=i).value: ws.column_dimensions[openpyxl.utils.get_column_letter(i)].number_format
               for i in range(1, len(ALL) + 2)}
    assert formats == {"编号 *": "@", "备注": "@", "金额": "General", "费用": "General", "人数": "0",
                       "比例": "General", "系数": "General", "成立日期": "yyyy-mm-dd", "更新时间": "yyyy-mm-dd hh:mm:ss",
                       "有效": "General", "很长的信息项名称很长的信息项名称": "@"}
    widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i in range(1, len(ALL) + 2)]
    assert min(widths) >= 12
    assert widths[-1] > 30  # a long name and a long text


def test_the_template_validates_each_column_with_an_error_message() -> None:
    columns = [*ALL, Column("类别", "C", 2, choices=("甲", "乙", "丙")), Column("等级", "I", choices=("1", "2"))]
    ws = _template(columns)[DATA_SHEET]
    found = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    assert {ref: (dv.type, dv.operator, dv.formula1) for ref, dv in found.items()} == {
        "A2:A51": ("textLength", "lessThanOrEqual", "18"),
        "C2:C51": ("decimal", "between", "-1E+307"), "D2:D51": ("decimal", "between", "-1E+307"),
        "E2:E51": ("whole", "between", "-999999999999999"),
        "F2:F51": ("decimal", "between", "-1E+307"), "G2:G51": ("decimal", "between", "-1E+307"),
        "H2:H51": ("date", "greaterThanOrEqual", "1"),
        "J2:J51": ("list", None, '"是,否"'),
        "K2:K51": ("list", None, '"甲,乙,丙"'),  # the choices, not the length
        "L2:L51": ("list", None, '"1,2"'),
    }  # B (long text) and I (date and time) have none
    for dv in found.values():
        assert dv.showErrorMessage and dv.error and re.search(r"[\u4e00-\u9fff]", dv.error)


def test_long_or_comma_holding_choices_go_to_the_hidden_lists_sheet() -> None:
    many = tuple(f"第{i:03d}类事项" for i in range(60))  # 60 × 8 characters: longer than an inline list takes
    columns = [Column("编号", "C", key=True), Column("类别", "C", choices=many),
               Column("地址", "C", choices=("北京市,东城区", "上海市")), Column("等级", "N", choices=tuple(map(str, range(100))))]
    wb = _template(columns)
    assert wb.sheetnames == [DATA_SHEET, GUIDE_SHEET, LISTS_SHEET]
    lists = wb[LISTS_SHEET]
    assert lists.sheet_state == "hidden"
    formulas = {str(dv.sqref): dv.formula1 for dv in wb[DATA_SHEET].data_validations.dataValidation}
    assert formulas == {"B2:B51": f"'{LISTS_SHEET}'!$A$2:$A$61", "C2:C51": f"'{LISTS_SHEET}'!$B$2:$B$3",
                        "D2:D51": f"'{LISTS_SHEET}'!$C$2:$C$101"}
    assert [c.value for c in lists[1]] == ["类别", "地址", "等级"]
    assert [lists.cell(row=r, column=1).value for r in range(2, 62)] == list(many)
    assert [lists["B2"].value, lists["B3"].value] == ["北京市,东城区", "上海市"]
    assert lists["C3"].value == 1  # numbers, as Excel compares them with what is typed


def test_the_guide_sheet_has_the_title_the_notes_and_one_row_per_item() -> None:
    columns = [Column("编号", "C", 18, key=True, description="统一社会信用代码", rules_text=("18 位", "校验码正确")),
               Column("类别", "C", choices=("甲", "乙")), *ALL[1:]]
    ws = _template(columns, notes=("第一条说明", "第二条说明"))[GUIDE_SHEET]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0][0] == "测试资源数据模板" and ws["A1"].font.b
    assert [rows[1][0], rows[2][0]] == ["第一条说明", "第二条说明"]
    start = next(i for i, row in enumerate(rows) if row[0] == "信息项")
    assert rows[start] == ["信息项", "类型", "长度", "必填", "说明", "取值规则"]
    table = rows[start + 1:]
    assert table[0] == ["编号", "字符型C", 18, "是（主键）", "统一社会信用代码", "18 位；校验码正确"]
    assert table[1] == ["类别", "字符型C", None, "否", None, "甲、乙"]
    assert [row[1] for row in table[2:]] == ["长文本M", "数值型N", "货币型Y", "整数型I", "浮点型B", "浮点型F",
                                             "日期型D", "日期时间型T", "布尔型L"]


def test_guide_text_that_looks_like_a_formula_stays_text() -> None:
    ws = _template([Column("编号", "C", description="=HYPERLINK(\"http://x\",\"y\")")])[GUIDE_SHEET]
    cells = [c for row in ws.iter_rows() for c in row if c.value and str(c.value).startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)


@pytest.mark.parametrize("columns", [[], [Column("照片", "G")], [Column("编号", "C"), Column("编号", "N")]])
def test_the_template_refuses_no_columns_a_binary_item_or_a_name_twice(columns: list[Column]) -> None:
    with pytest.raises(ValueError):
        make_template(columns, title="t")


# ------------------------------------------------------------------ reading: values


def test_every_letter_comes_back_typed_in_the_order_of_the_columns() -> None:
    data = filled(ALL, {2: [USCC, "第一行\n第二行", 12.5, 3, 42, 0.25, -1.5, dt.datetime(2024, 1, 31),
                            dt.datetime(2024, 5, 1, 8, 30, 15), True],
                        3: ["007", None, -3, None, None, 2, None, None, dt.datetime(2024, 5, 1), False]})
    parsed = read_upload(data, ALL)
    assert parsed.problems == [] and parsed.problem_count == 0 and parsed.total_rows == 2
    assert parsed.row_numbers == [2, 3]
    assert parsed.rows[0] == [USCC, "第一行\n第二行", Decimal("12.5"), Decimal(3), 42, 0.25, -1.5, dt.date(2024, 1, 31),
                              dt.datetime(2024, 5, 1, 8, 30, 15), True]
    assert [type(v) for v in parsed.rows[0]] == [str, str, Decimal, Decimal, int, float, float, dt.date, dt.datetime,
                                                bool]
    assert parsed.rows[1] == ["007", None, Decimal(-3), None, None, 2.0, None, None, dt.datetime(2024, 5, 1), False]
    assert isinstance(parsed.rows[1][5], float)


def test_values_written_as_text_are_converted_by_their_letter() -> None:
    data = filled(ALL, {2: ["  0012  ", " 多行 ", "-12.50", "+0.10", "-0042", "1e3", ".5", "2024/1/5",
                            "2024-05-01T08:30", "yes"],
                        3: ["K2", None, None, None, None, None, None, "20240105", "2024/05/01 08:30:59", "否"],
                        4: ["K3", None, None, None, None, None, None, "2024.01.05", None, "N"]})
    parsed = read_upload(data, ALL)
    assert parsed.problems == []
    assert parsed.rows[0] == ["0012", "多行", Decimal("-12.50"), Decimal("0.10"), -42, 1000.0, 0.5, dt.date(2024, 1, 5),
                              dt.datetime(2024, 5, 1, 8, 30), True]
    assert parsed.rows[1][7:] == [dt.date(2024, 1, 5), dt.datetime(2024, 5, 1, 8, 30, 59), False]
    assert parsed.rows[2][7:] == [dt.date(2024, 1, 5), None, False]


@pytest.mark.parametrize(("text", "day"), [("2024年1月5日", dt.date(2024, 1, 5)), ("2024年01月05日", dt.date(2024, 1, 5)),
                                           ("2023年12月31日", dt.date(2023, 12, 31))])
def test_a_date_written_in_chinese_is_a_date(text: str, day: dt.date) -> None:
    parsed = read_upload(filled(ALL, {2: ["K1", *[None] * 6, text]}), ALL)
    assert parsed.problems == [] and parsed.rows[0][7] == day


def test_numbers_in_text_items_keep_their_digits_and_excel_escapes_are_decoded() -> None:
    data = filled(ALL, {2: [123456789012345, "a_x0041_b"], 3: [1.5, 7.0]})
    parsed = read_upload(data, ALL)
    assert parsed.problems == []
    assert [row[:2] for row in parsed.rows] == [["123456789012345", "aAb"], ["1.5", "7"]]


def test_an_18_digit_id_number_typed_as_a_number_has_lost_its_digits() -> None:
    # Excel keeps 15 significant digits: the number is a double, not the ID number
    data = filled(ALL, {2: [float(ID)], 3: ["K3", 1234567890123456], 4: [ID]})
    parsed = read_upload(data, ALL)
    assert where(parsed) == [(DATA_SHEET, 2, "A", "编号", "digits_lost", "1.101011990030712e+17"),
                             (DATA_SHEET, 3, "B", "备注", "digits_lost", "1234567890123456")]
    assert parsed.rows == [[ID, *[None] * 9]] and parsed.row_numbers == [4]


def test_formulas_are_refused_as_formula_cells_and_as_text() -> None:
    wb = _template(ALL)
    ws = wb[DATA_SHEET]
    ws["A2"] = '=HYPERLINK("http://x","y")'
    assert ws["A2"].data_type == "f"
    ws["A3"], ws["C3"] = "K3", "=1+1"
    _put(ws, "A4", "K4")
    _put(ws, "B4", "  =cmd|' /C calc'!A0", text=True)
    parsed = read_upload(_save(wb), ALL)
    assert where(parsed) == [(DATA_SHEET, 2, "A", "编号", "formula", '=HYPERLINK("http://x","y")'),
                             (DATA_SHEET, 3, "C", "金额", "formula", "=1+1"),
                             (DATA_SHEET, 4, "B", "备注", "formula", "  =cmd|' /C calc'!A0")]
    assert parsed.rows == [] and parsed.total_rows == 3


@pytest.mark.parametrize(("index", "value", "code", "detail"), [
    (0, True, "wrong_type", "True"),
    (1, dt.datetime(2024, 1, 1), "wrong_type", "2024-01-01 00:00:00"),
    (1, "#N/A", "wrong_type", "#N/A"),  # an error value
    (1, "a_x0001_b", "bad_character", "a\\x01b"),
    (0, "9" * 19, "too_long", "19 > 18"),
    (2, "1,000", "not_a_number", "1,000"),
    (3, "1e5", "not_a_number", "1e5"),
    (2, False, "not_a_number", "False"),
    (4, 1.5, "not_an_integer", "1.5"),
    (4, "12.0", "not_an_integer", "12.0"),
    (4, "9223372036854775808", "out_of_range", "9223372036854775808"),
    (4, -9.3e18, "digits_lost", "-9.3e+18"),
    (4, 1234567890123456, "digits_lost", "1234567890123456"),  # a number cell: Excel kept 15 digits (QA, 21st session)
    (4, "1" * 5000, "out_of_range", "1" * 40 + "…"),
    (5, "abc", "not_a_number", "abc"),
    (6, "inf", "not_a_number", "inf"),
    (7, "2023-02-29", "not_a_date", "2023-02-29"),
    (7, "31/01/2024", "not_a_date", "31/01/2024"),
    (7, 45000, "not_a_date", "45000"),
    (7, dt.datetime(2024, 1, 31, 9, 0), "has_time", "2024-01-31 09:00:00"),
    (8, "2024-01-31", "not_a_datetime", "2024-01-31"),
    (8, "2024-01-31 25:00", "not_a_datetime", "2024-01-31 25:00"),
    (9, "也许", "not_a_boolean", "也许"),
    (9, 2, "not_a_boolean", "2"),
])
def test_a_value_that_does_not_fit_its_item_is_a_problem_at_its_cell(index: int, value: object, code: str,
                                                                      detail: str) -> None:
    row: list[object] = ["K1", *[None] * 9]
    row[index] = value
    parsed = read_upload(filled(ALL, {2: row}), ALL)
    letter = "ABCDEFGHIJ"[index]
    assert where(parsed) == [(DATA_SHEET, 2, letter, ALL[index].name, code, detail)]
    assert parsed.rows == [] and parsed.total_rows == 1


def test_choices_compare_text_exactly_and_numbers_by_value() -> None:
    columns = [Column("编号", "C", key=True), Column("类别", "C", choices=("甲类", "乙类")),
               Column("等级", "N", choices=("1", "2.5")), Column("级别", "I", choices=("1", "2")),
               Column("有效", "L", choices=("是",))]
    data = filled(columns, {2: ["K2", "甲类", "1.0", 2, "是"], 3: ["K3", "甲类 ", 2.5, None, None],
                            4: ["K4", "丙类", 3, "02", "否"]})
    parsed = read_upload(data, columns)
    assert parsed.rows == [["K2", "甲类", Decimal("1.0"), 2, True], ["K3", "甲类", Decimal("2.5"), None, None]]
    assert where(parsed) == [(DATA_SHEET, 4, "B", "类别", "not_in_choices", "丙类"),
                             (DATA_SHEET, 4, "C", "等级", "not_in_choices", "3"),
                             (DATA_SHEET, 4, "E", "有效", "not_in_choices", "否")]


# ------------------------------------------------------------------ reading: rows and keys


def test_a_key_item_left_empty_is_a_problem() -> None:
    columns = [Column("编号", "C", key=True), Column("年度", "I", key=True), Column("名称", "C")]
    parsed = read_upload(filled(columns, {2: [None, 2024, "甲"], 3: ["K3", "  ", "乙"]}), columns)
    assert where(parsed) == [(DATA_SHEET, 2, "A", "编号", "key_missing", ""),
                             (DATA_SHEET, 3, "B", "年度", "key_missing", "")]


def test_a_repeated_key_names_the_row_it_repeats() -> None:
    columns = [Column("编号", "C", key=True), Column("名称", "C"), Column("年度", "I", key=True)]
    data = filled(columns, {2: ["K1", "甲", 2024], 3: ["K1", "乙", 2023], 4: ["K2", "丙", 2024],
                            5: ["K1", "丁", "2024"], 6: ["K1", "戊", 2023.0]})
    parsed = read_upload(data, columns)
    assert where(parsed) == [(DATA_SHEET, 5, "A", "编号", "duplicate_key", "2"),
                             (DATA_SHEET, 6, "A", "编号", "duplicate_key", "3")]
    assert parsed.row_numbers == [2, 3, 4]


def test_empty_rows_are_skipped_and_rows_keep_their_excel_numbers() -> None:
    wb = _template(ALL)
    ws = wb[DATA_SHEET]
    ws["A2"] = "K2"
    _put(ws, "B3", "   ")  # white space only: empty
    ws["A7"] = "K7"
    ws["K7"] = "a value under no header is ignored"
    ws["M9"] = "so is this row"
    parsed = read_upload(_save(wb), ALL)
    assert parsed.problems == [] and parsed.total_rows == 2
    assert parsed.row_numbers == [2, 7]
    assert [row[0] for row in parsed.rows] == ["K2", "K7"]


def test_all_rows_are_checked_but_only_max_problems_are_kept() -> None:
    data = filled(ALL, {n: [f"K{n}", None, "x"] for n in range(2, 12)})
    parsed = read_upload(data, ALL, max_problems=3)
    assert parsed.problem_count == 10 and parsed.total_rows == 10
    assert [(p.row, p.code) for p in parsed.problems] == [(2, "not_a_number"), (3, "not_a_number"),
                                                         (4, "not_a_number")]


def test_more_than_max_rows_stops_the_reading_where_it_is_exceeded() -> None:
    data = filled(ALL, {2: ["K2"], 3: ["K3"], 5: ["K5"], 6: ["K6"], 7: ["K7"]})
    parsed = read_upload(data, ALL, max_rows=3)
    assert where(parsed) == [(DATA_SHEET, 6, None, None, "too_many_rows", "3")]
    assert parsed.total_rows == 3 and parsed.row_numbers == [2, 3, 5]


def test_too_many_rows_is_kept_even_when_the_problem_list_is_full() -> None:
    data = filled(ALL, {n: [f"K{n}", None, "x"] for n in range(2, 8)})
    parsed = read_upload(data, ALL, max_rows=4, max_problems=2)
    assert [(p.row, p.code) for p in parsed.problems] == [(2, "not_a_number"), (6, "too_many_rows")]
    assert parsed.problem_count == 5


def test_the_callers_checks_report_rule_problems_at_the_columns_letter_in_the_file() -> None:
    columns = [Column("编号", "C", key=True), Column("名称", "C"), Column("人数", "I")]
    seen: list[list[object]] = []

    def checks(values: list[object]) -> list[tuple[int, str]]:
        seen.append(values)
        return [(2, "人数须为正数")] if isinstance(values[2], int) and values[2] <= 0 else []

    # the file has the columns in another order: 人数, 编号, 名称
    data = sheet(["人数", "编号 *", "名称"], [[5, "K2", "甲"], [0, "K3", "乙"], ["x", "K4", "丙"]])
    parsed = read_upload(data, columns, checks=checks)
    assert seen == [["K2", "甲", 5], ["K3", "乙", 0]]  # not for a row with a cell problem
    assert where(parsed) == [(DATA_SHEET, 3, "A", "人数", "rule", "人数须为正数"),
                             (DATA_SHEET, 4, "A", "人数", "not_an_integer", "x")]
    assert parsed.rows == [["K2", "甲", 5]] and parsed.row_numbers == [2]


def test_a_wrong_column_index_from_the_checks_is_the_callers_error() -> None:
    with pytest.raises(ValueError, match="column index"):
        read_upload(sheet(["编号"], [["K1"]]), [Column("编号", "C")], checks=lambda values: [(3, "x")])


# ------------------------------------------------------------------ reading: the header and the file


def test_columns_in_another_order_map_by_name_and_come_back_in_the_columns_order() -> None:
    columns = [Column("编号", "C", key=True), Column("日期", "D"), Column("金额", "N")]
    data = sheet(["金额", None, "编号*", "日期"], [[1.25, "ignored", "K1", "2024-01-31"]])
    parsed = read_upload(data, columns)
    assert parsed.problems == []
    assert parsed.rows == [["K1", dt.date(2024, 1, 31), Decimal("1.25")]]


@pytest.mark.parametrize("header", ["编号 *", "编号*", " 编号  * ", "编号", "编号 ＊"])
def test_a_header_with_or_without_the_key_mark_is_accepted(header: str) -> None:
    parsed = read_upload(sheet([header], [["K1"]]), [Column("编号", "C", key=True)])
    assert parsed.problems == [] and parsed.rows == [["K1"]]


def test_missing_unknown_and_duplicate_headers_are_reported_and_no_row_is_read() -> None:
    columns = [Column("编号", "C", key=True), Column("名称", "C"), Column("日期", "D")]
    data = sheet(["编号 *", "名字", "编号", None, "备注"], [["K1", "甲", "K1", None, "x"]])
    parsed = read_upload(data, columns)
    assert where(parsed) == [(DATA_SHEET, 1, "B", None, "unknown_column", "名字"),
                             (DATA_SHEET, 1, "C", "编号", "duplicate_column", "A"),
                             (DATA_SHEET, 1, "E", None, "unknown_column", "备注"),
                             (DATA_SHEET, 1, None, "名称", "missing_column", ""),
                             (DATA_SHEET, 1, None, "日期", "missing_column", "")]
    assert parsed.rows == [] and parsed.total_rows == 0


def test_an_empty_sheet_misses_every_column() -> None:
    parsed = read_upload(sheet([]), [Column("编号", "C"), Column("名称", "C")])
    assert codes(parsed) == ["missing_column", "missing_column"]


def test_a_workbook_without_the_data_sheet_is_a_file_problem() -> None:
    parsed = read_upload(sheet(["编号"], [["K1"]], title="Sheet1"), [Column("编号", "C")])
    assert where(parsed) == [(DATA_SHEET, None, None, None, "no_sheet", "")]
    assert parsed.problem_count == 1


def test_bytes_openpyxl_cannot_open_are_unreadable_not_an_exception() -> None:
    parsed = read_upload(b"PK\x03\x04 not really a zip", [Column("编号", "C")])
    assert codes(parsed) == ["unreadable"] and parsed.problems[0].row is None


def test_a_declared_sheet_size_that_lies_does_not_hide_rows() -> None:
    data = sheet(["编号"], [["K2"], ["K3"], ["K4"]])
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                content, count = re.subn(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:A2"/>', content)
                assert count == 1
            target.writestr(info, content)
    parsed = read_upload(out.getvalue(), [Column("编号", "C")])
    assert parsed.problems == [] and parsed.row_numbers == [2, 3, 4]


def test_a_round_trip_through_the_template_with_drop_downs_on_a_hidden_sheet() -> None:
    many = tuple(f"第{i:03d}类事项" for i in range(60))
    columns = [Column("编号", "C", key=True), Column("类别", "C", choices=many)]
    parsed = read_upload(filled(columns, {2: ["K2", "第042类事项"], 3: ["K3", "第999类事项"]}), columns)
    assert parsed.rows == [["K2", "第042类事项"]]
    assert where(parsed) == [(DATA_SHEET, 3, "B", "类别", "not_in_choices", "第999类事项")]


def test_problem_codes_are_listed() -> None:
    assert len(set(PROBLEM_CODES)) == len(PROBLEM_CODES)
    assert {"no_sheet", "formula", "digits_lost", "duplicate_key", "rule", "too_many_rows"} <= set(PROBLEM_CODES)
    assert Problem(DATA_SHEET, None, None, None, "no_sheet").detail == ""


def test_a_number_with_more_digits_than_its_item_is_a_problem_at_its_cell() -> None:
    """Review of the 21st session: an upload never checked a number against its item's length (a copy does), so a
    value a MariaDB delivery could not hold reached the centre."""
    import io
    from decimal import Decimal

    from govshare.exchange.engine import workbook

    columns = [workbook.Column("编号", "C", 10, key=True), workbook.Column("金额", "N", 31)]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = workbook.DATA_SHEET
    sheet.append(["编号 *", "金额"])
    sheet.append(["K1", "1234567890123456789012345678901.12345"])  # 31 integer + 5 fraction digits: 36 > 31
    sheet.append(["K2", "0.50"])
    out = io.BytesIO()
    book.save(out)
    parsed = workbook.read_upload(out.getvalue(), columns)
    assert [(p.row, p.code, p.detail) for p in parsed.problems] == [(2, "too_many_digits", "36 > 31")]
    assert parsed.rows == [["K2", Decimal("0.50")]] and parsed.total_rows == 2
