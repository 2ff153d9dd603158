"""Writing the catalog workbook (CAT-1): the import template, an export, a department's prefilled file.

Writing follows the conventions of :mod:`govshare.core.exports`: every text cell is a plain string
(never a formula) and text that a spreadsheet would run (``= + - @``) is also marked with Excel's
quote prefix, so that editing the cell keeps it text.  Write-only mode: memory stays flat however
many entries are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import (
    FORMAT_CLASS_ZH,
    OPEN_ATTRIBUTE_ZH,
    SHARE_METHOD_ZH,
    SHARE_TYPE_ZH,
    UPDATE_CYCLE_ZH,
    ClassKind,
    DataType,
    ShareMethod,
)
from govshare.catalog.excel.columns import (
    ENTRY_COLUMNS,
    ITEM_COLUMNS,
    LIST_SEPARATOR,
    MB,
    NO,
    SHEET_CODES,
    SHEET_ENTRIES,
    SHEET_GUIDE,
    SHEET_ITEMS,
    XLSX_MAX_ROWS,
    YES,
    Column,
    data_type_label,
    limit,
    share_method_combinations,
)
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.exports import FORMULA_PREFIXES, XLSX_MAX_CELL


@dataclass
class Lists:
    """The values behind the drop-down lists."""

    classifications: list[str]
    domains: list[str]


def classification_choices(department: Any = None) -> list[str]:
    """``code name`` of the classifications a department may use: its own 部门信息资源 subtree and the
    项/目 of the basic and theme resources (all active 项/目/细目 when no department is given)."""
    from govshare.catalog.models import Classification

    nodes = {n.pk: n for n in Classification.objects.filter(is_active=True)}

    def owner(node: Any) -> int | None:
        seen = 0
        while node is not None and seen < 10:
            if node.department_id:
                return int(node.department_id)
            node = nodes.get(node.parent_id)
            seen += 1
        return None

    out = []
    for node in sorted(nodes.values(), key=lambda n: n.code):
        if node.level < 2:
            continue
        if department is not None:
            if node.kind == ClassKind.DEPARTMENT:
                if owner(node) != department.pk:
                    continue
            elif node.level > 3:
                continue
        out.append(f"{node.code} {node.name}")
    return out


def lists_for(department: Any = None) -> Lists:
    from govshare.catalog.actions._common import profile_of
    from govshare.core.policy import platform_profile

    profile = profile_of(department) if department is not None else platform_profile()
    try:
        domains = list(profile.list("open_data_domains"))
    except GovshareError:
        domains = []
    return Lists(classification_choices(department), domains)


def _text_cell(ws: Any, value: Any, *, font: Any = None) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))[:XLSX_MAX_CELL]
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # a plain string, never a formula (govshare.core.exports convention)
    if text.startswith(FORMULA_PREFIXES):
        cell.quotePrefix = True  # Excel keeps it text even when the cell is edited
    if font is not None:
        cell.font = font
    return cell


def _value_cell(ws: Any, value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _text_cell(ws, value)


def _header_row(ws: Any, columns: tuple[Column, ...]) -> list[Any]:
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.freeze_panes = "A2"
    cells = []
    for column in columns:
        font = Font(bold=True, color="C00000" if column.required else "000000")
        cell = _text_cell(ws, column.header, font=font)
        if column.note:
            note = ("（必填列）" if column.required else "") + column.note
            cell.comment = Comment(note, "govshare", width=260, height=110)
        cells.append(cell)
    return cells


LIST_NAMES = {
    "share_type": "list_share_type",
    "share_methods": "list_share_methods",
    "open_attribute": "list_open_attribute",
    "format_class": "list_format_class",
    "update_cycle": "list_update_cycle",
    "data_type": "list_data_type",
    "domain": "list_domain",
    "classification": "list_classification",
    "is_primary_key": "list_yes_no",
    "is_sensitive": "list_yes_no",
}


def _code_lists(lists: Lists) -> list[tuple[str, str, list[str]]]:
    """(defined name, title, values) of each drop-down list, in the columns of 代码表."""
    return [
        ("list_share_type", "共享类型", list(SHARE_TYPE_ZH.values())),
        ("list_share_methods", "共享方式", share_method_combinations()),
        ("list_open_attribute", "开放属性", list(OPEN_ATTRIBUTE_ZH.values())),
        ("list_format_class", "格式分类", list(FORMAT_CLASS_ZH.values())),
        ("list_update_cycle", "更新周期", list(UPDATE_CYCLE_ZH.values())),
        ("list_data_type", "数据类型", [data_type_label(c) for c in DataType.values]),
        ("list_domain", "开放领域", lists.domains or ["—"]),
        ("list_classification", "分类代码", lists.classifications or ["—"]),
        ("list_yes_no", "是/否", [YES, NO]),
    ]


def _validations(ws: Any, columns: tuple[Column, ...], max_row: int) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    for index, column in enumerate(columns, start=1):
        name = LIST_NAMES.get(column.key)
        if name is None:
            continue
        dv = DataValidation(type="list", formula1=f"={name}", allow_blank=True, showErrorMessage=True,
                            showInputMessage=bool(column.note), errorStyle="stop",
                            errorTitle="取值不在列表中", error=f"请从下拉列表中选择“{column.header}”的取值。",
                            promptTitle=column.header[:32], prompt=column.note[:255])
        letter = get_column_letter(index)
        dv.add(f"{letter}2:{letter}{max_row}")
        ws.data_validations.append(dv)


GUIDE_RULES = [
    "本模板依据《政务信息资源目录编制指南》。一个文件只能导入一个部门的资源；导入“要么全部成功，要么全部不导入”：有任何问题时，"
    "平台逐条列出（工作表、行号、列名、原因），不保存任何内容。",
    "“资源目录”表每行一个资源；“信息项”表每行一个信息项，用“资源序号”关联到所属资源。第 1 行为列名，数据从第 2 行开始；"
    "列的顺序可以调整，但列名不得修改。",
    "“资源代码”留空表示新增资源（代码由平台按“分类代码/六位顺序号”生成）；填写已有资源代码表示更新该资源：未发布的资源更新其草稿，"
    "已发布的资源生成新版本并须填写“变更原因”，经数据中心审核后生效。",
    "共享类型为“无条件共享”的，须填写共享方式；“有条件共享”的，须填写共享条件、共享方式和共享依据；“不予共享”的，须填写共享依据"
    "（法律、行政法规或党中央、国务院政策依据）。",
    "开放属性为“无条件开放”或“依申请开放”的资源须为“无条件共享”，并须填写开放领域；“依申请开放”的须填写开放条件。",
    "更新周期为“其他”时须填写“更新周期说明”。",
    "每个资源至少一个信息项；同一资源内信息项名称不得重复；数据类型为 C、N、Y、B、F 的须填写数据长度（正整数）；"
    "标为敏感的信息项须填写脱敏规则。",
    "不接受：公式、合并单元格、宏、外部链接、嵌入对象；日期格式的单元格（请以文本填写）；同一文件中重复的资源代码或资源名称。",
]


def _guide_rows(ws: Any, lists: Lists) -> Iterator[list[Any]]:
    from openpyxl.styles import Font

    bold = Font(bold=True)
    yield [_text_cell(ws, "政务信息资源目录导入模板 — 填写说明", font=Font(bold=True, size=14))]
    yield []
    yield [_text_cell(ws, "规则", font=bold)]
    for number, rule in enumerate(GUIDE_RULES, start=1):
        yield [number, None, _text_cell(ws, rule)]
    limits_text = (f"文件不超过 {limit('GOVSHARE_CATALOG_IMPORT_MAX_BYTES') // MB} MB，"
                   f"资源不超过 {limit('GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES')} 个，"
                   f"信息项不超过 {limit('GOVSHARE_CATALOG_IMPORT_MAX_ITEMS')} 个。")
    yield [len(GUIDE_RULES) + 1, None, _text_cell(ws, limits_text)]
    for sheet, columns in ((SHEET_ENTRIES, ENTRY_COLUMNS), (SHEET_ITEMS, ITEM_COLUMNS)):
        yield []
        yield [_text_cell(ws, f"“{sheet}”表的列", font=bold)]
        yield [_text_cell(ws, "列名", font=bold), _text_cell(ws, "必填列", font=bold),
               _text_cell(ws, "说明", font=bold)]
        for column in columns:
            yield [_text_cell(ws, column.header), _text_cell(ws, YES if column.required else ""),
                   _text_cell(ws, column.note)]


def entry_cells(entry: Any, version: Any, row_key: int) -> dict[str, Any]:
    """The values of one 资源目录 row, by column key."""
    from django.utils import timezone

    methods = [m for m in ShareMethod.values if m in (version.share_methods or [])]
    methods += [m for m in version.share_methods or [] if m not in methods]
    published = entry.first_published_at
    return {
        "row_key": row_key,
        "code": entry.code,
        "classification": f"{version.classification.code} {version.classification.name}",
        "name": version.name,
        "summary": version.summary,
        "keywords": LIST_SEPARATOR.join(version.keywords or []),
        "format_class": FORMAT_CLASS_ZH.get(version.format_class, version.format_class),
        "format": version.format,
        "share_type": SHARE_TYPE_ZH.get(version.share_type, version.share_type),
        "share_condition": version.share_condition,
        "share_methods": LIST_SEPARATOR.join(SHARE_METHOD_ZH.get(m, m) for m in methods),
        "share_basis": version.share_basis,
        "open_attribute": OPEN_ATTRIBUTE_ZH.get(version.open_attribute, version.open_attribute),
        "open_condition": version.open_condition,
        "domain": version.domain,
        "update_cycle": UPDATE_CYCLE_ZH.get(version.update_cycle, version.update_cycle),
        "update_cycle_note": version.update_cycle_note,
        "related_codes": LIST_SEPARATOR.join(version.related_codes or []),
        "change_reason": "",
        "provider_name": entry.provider.name,
        "provider_code": entry.provider.uscc,
        "status": str(entry.get_status_display()),
        "published_at": timezone.localtime(published).date().isoformat() if published else "",
    }


def item_cells(item: Any, row_key: int, resource_name: str) -> dict[str, Any]:
    return {
        "row_key": row_key,
        "resource_name": resource_name,
        "name": item.name,
        "data_type": data_type_label(item.data_type),
        "length": item.length,
        "description": item.description,
        "is_primary_key": YES if item.is_primary_key else NO,
        "is_sensitive": YES if item.is_sensitive else NO,
        "masking_rule": item.masking_rule,
    }


def _too_many_rows() -> ValidationFailed:
    return ValidationFailed("too_many_for_xlsx", _("Too many rows for one Excel sheet; export as JSON instead."),
                            field="format")


def write_workbook(out: IO[bytes] | str, pairs: Iterable[tuple[Any, Any]], lists: Lists) -> int:
    """Write the template layout with the given (entry, version) pairs as rows; return the entry count.

    Write-only mode: memory stays flat however many entries are written."""
    from openpyxl import Workbook
    from openpyxl.workbook.defined_name import DefinedName

    wb = Workbook(write_only=True)
    ws_entries = wb.create_sheet(SHEET_ENTRIES)
    ws_items = wb.create_sheet(SHEET_ITEMS)
    ws_guide = wb.create_sheet(SHEET_GUIDE)
    ws_codes = wb.create_sheet(SHEET_CODES)
    ws_codes.sheet_state = "hidden"
    _validations(ws_entries, ENTRY_COLUMNS, limit("GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES") + 1)
    _validations(ws_items, ITEM_COLUMNS, limit("GOVSHARE_CATALOG_IMPORT_MAX_ITEMS") + 1)
    ws_entries.append(_header_row(ws_entries, ENTRY_COLUMNS))
    ws_items.append(_header_row(ws_items, ITEM_COLUMNS))
    count = 0
    item_rows = 1
    for entry, version in pairs:
        count += 1
        values = entry_cells(entry, version, count)
        ws_entries.append([_value_cell(ws_entries, values[c.key]) for c in ENTRY_COLUMNS])
        for item in version.items.all():
            item_rows += 1
            if item_rows > XLSX_MAX_ROWS:
                raise _too_many_rows()
            values = item_cells(item, count, version.name)
            ws_items.append([_value_cell(ws_items, values[c.key]) for c in ITEM_COLUMNS])
        if count + 1 > XLSX_MAX_ROWS:
            raise _too_many_rows()
    for letter, width in (("A", 18), ("B", 8), ("C", 110)):
        ws_guide.column_dimensions[letter].width = width
    for row in _guide_rows(ws_guide, lists):
        ws_guide.append(row)
    code_lists = _code_lists(lists)
    height = max(len(choices) for _n, _t, choices in code_lists)
    ws_codes.append([_text_cell(ws_codes, title) for _n, title, _v in code_lists])
    for index in range(height):
        ws_codes.append([_text_cell(ws_codes, choices[index]) if index < len(choices) else None
                         for _n, _t, choices in code_lists])
    from openpyxl.utils import get_column_letter

    for column, (name, _title, choices) in enumerate(code_lists, start=1):
        letter = get_column_letter(column)
        wb.defined_names[name] = DefinedName(name, attr_text=f"'{SHEET_CODES}'!${letter}$2:${letter}${len(choices) + 1}")
    wb.save(out)
    return count
