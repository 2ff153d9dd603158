"""The catalog as an Excel workbook (issue 3 §4, CAT-1): template, export and the reading side of import.

Layout (the same for the template, an export and an import, so an export re-imports cleanly):

* ``资源目录`` — one row per resource (entry), Chinese headers in row 1, data from row 2;
* ``信息项`` — one row per information item, linked to its resource by ``资源序号``;
* ``说明`` — what each column means and the guide's rules;
* ``代码表`` — hidden: the lists behind the drop-down validations.

Headers are matched by name (order does not matter); values may be written in the guide's Chinese
terms (无条件共享, 每季度, C 字符型 …) or as codes.

The file is hostile until proven otherwise (:func:`open_xlsx`): size limit, a real ZIP with the
parts of an XLSX (a renamed file is refused), zip-bomb limits (total unpacked size, compression
ratio, number of parts), no macros, external links, embedded objects or XML document type
declarations (XXE, billion laughs), then a streaming pass that counts rows and finds merged
cells *before* openpyxl reads anything — a 100 000-row file is refused after reading a few
thousand rows.  Values are then read in openpyxl's read-only mode with formulas kept as formulas
(``data_only=False``) so that they can be refused.

Writing follows the conventions of :mod:`govshare.core.exports`: every text cell is a plain string
(never a formula) and text that a spreadsheet would run (``= + - @``) is also marked with Excel's
quote prefix, so that editing the cell keeps it text.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NoReturn

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import (
    DATA_TYPE_ZH,
    FORMAT_CLASS_ZH,
    OPEN_ATTRIBUTE_ZH,
    SHARE_METHOD_ZH,
    SHARE_TYPE_ZH,
    UPDATE_CYCLE_ZH,
    ClassKind,
    DataType,
    ShareMethod,
    from_zh,
)
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.exports import FORMULA_PREFIXES, XLSX_MAX_CELL

SHEET_ENTRIES = "资源目录"
SHEET_ITEMS = "信息项"
SHEET_GUIDE = "说明"
SHEET_CODES = "代码表"
DATA_SHEETS = (SHEET_ENTRIES, SHEET_ITEMS)

MB = 1024 * 1024
MAX_COLUMNS = 64  # header cells read from row 1
XLSX_MAX_ROWS = 1_048_576
YES, NO = "是", "否"
LIST_SEPARATOR = "、"

# ------------------------------------------------------------------ limits (settings may change them)

DEFAULT_LIMITS = {
    "GOVSHARE_CATALOG_IMPORT_MAX_BYTES": 20 * MB,
    "GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES": 5000,
    "GOVSHARE_CATALOG_IMPORT_MAX_ITEMS": 50_000,
    "GOVSHARE_CATALOG_IMPORT_MAX_UNPACKED": 256 * MB,
    "GOVSHARE_CATALOG_IMPORT_MAX_RATIO": 100,
    "GOVSHARE_CATALOG_IMPORT_MAX_PARTS": 1000,
}


def limit(name: str) -> int:
    return int(getattr(settings, name, DEFAULT_LIMITS[name]))


# ------------------------------------------------------------------ columns


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False  # the header must be present
    kind: str = "text"  # text | int | key | bool | info
    width: int = 14
    note: str = ""


ENTRY_COLUMNS: tuple[Column, ...] = (
    Column("row_key", "资源序号", True, "key", 9, "本文件内的序号（1、2、3…）；信息项表用它关联到资源。"),
    Column("code", "资源代码", False, "text", 16, "已有资源填其资源代码（更新该资源）；新资源留空，发布时由平台生成。"),
    Column("classification", "分类代码", True, "text", 24, "从下拉列表选择：本部门的部门信息资源分类，或基础/主题信息资源的项/目。"),
    Column("name", "资源名称", True, "text", 28, "必填，至多 200 字。"),
    Column("summary", "资源摘要", True, "text", 40, "必填：资源的内容、用途等。"),
    Column("keywords", "关键字", False, "text", 20, "多个用“、”或“；”分隔，至多 20 个。"),
    Column("format_class", "格式分类", True, "text", 12, "电子文件/电子表格/数据库/图形图像/流媒体/自描述格式/服务接口/其他"),
    Column("format", "资源格式", False, "text", 12, "具体格式，如 PostgreSQL、XLSX、JSON、PDF。"),
    Column("share_type", "共享类型", True, "text", 12, "无条件共享/有条件共享/不予共享"),
    Column("share_condition", "共享条件", True, "text", 24, "有条件共享必填。"),
    Column("share_methods", "共享方式", True, "text", 14, "库表/文件/接口，可多选，用“、”分隔；无条件和有条件共享必填。"),
    Column("share_basis", "共享依据", True, "text", 30, "有条件共享、不予共享必填：法律、行政法规或党中央、国务院政策依据。"),
    Column("open_attribute", "开放属性", True, "text", 12, "无条件开放/依申请开放/不予开放；向社会开放的资源须为无条件共享。"),
    Column("open_condition", "开放条件", False, "text", 20, "依申请开放必填。"),
    Column("domain", "开放领域", False, "text", 12, "向社会开放的资源必填，从下拉列表选择。"),
    Column("update_cycle", "更新周期", True, "text", 10, "实时/每日/每周/每月/每季度/每半年/每年/其他"),
    Column("update_cycle_note", "更新周期说明", False, "text", 16, "更新周期为“其他”时必填。"),
    Column("related_codes", "关联资源代码", False, "text", 20, "多个用“、”分隔，如 301/000001。"),
    Column("change_reason", "变更原因", False, "text", 20, "修改已发布的资源时必填（将生成新版本并送审）。"),
    Column("provider_name", "资源提供方", False, "info", 20, "仅供参考，导入时不读取。"),
    Column("provider_code", "资源提供方代码", False, "text", 20, "统一社会信用代码；填写时须为导入部门的代码。"),
    Column("status", "状态", False, "info", 10, "仅供参考，导入时不读取。"),
    Column("published_at", "发布日期", False, "info", 12, "仅供参考，导入时不读取。"),
)

ITEM_COLUMNS: tuple[Column, ...] = (
    Column("row_key", "资源序号", True, "key", 9, "所属资源在“资源目录”表中的资源序号。"),
    Column("resource_name", "资源名称", False, "text", 24, "可选：所属资源的名称，填写时须与资源序号对应的资源名称一致。"),
    Column("name", "信息项名称", True, "text", 20, "必填；同一资源内不得重复。"),
    Column("data_type", "数据类型", True, "text", 12, "C 字符型、N 数值型、Y 货币型、D 日期型、T 日期时间型、L 逻辑型、M 备注型、"
                                                    "G 通用型、B 双精度型、I 整型、F 浮点型"),
    Column("length", "数据长度", True, "int", 9, "正整数；C、N、Y、B、F 型必填。"),
    Column("description", "信息项描述", False, "text", 30, ""),
    Column("is_primary_key", "是否主键", False, "bool", 9, "是/否"),
    Column("is_sensitive", "是否敏感", False, "bool", 9, "是/否；敏感信息项须填写脱敏规则。"),
    Column("masking_rule", "脱敏规则", False, "text", 20, "敏感信息项必填，如“保留前6位和后4位”。"),
)

ENTRY_HEADERS = {c.key: c.header for c in ENTRY_COLUMNS}
ITEM_HEADERS = {c.key: c.header for c in ITEM_COLUMNS}
ENUM_FIELDS = {
    "format_class": FORMAT_CLASS_ZH,
    "share_type": SHARE_TYPE_ZH,
    "open_attribute": OPEN_ATTRIBUTE_ZH,
    "update_cycle": UPDATE_CYCLE_ZH,
}


def share_method_combinations() -> list[str]:
    """Every non-empty combination of share methods, in the guide's order (库表、文件、接口)."""
    methods = [SHARE_METHOD_ZH[m] for m in ShareMethod.values]
    out: list[str] = []
    for mask in range(1, 1 << len(methods)):
        out.append(LIST_SEPARATOR.join(m for i, m in enumerate(methods) if mask & (1 << i)))
    return sorted(out, key=lambda s: (s.count(LIST_SEPARATOR), methods.index(s.split(LIST_SEPARATOR)[0])))


def data_type_label(code: str) -> str:
    return f"{code} {DATA_TYPE_ZH.get(code, '')}".strip()


# ------------------------------------------------------------------ rows read from a file (shared with jsonio)


@dataclass
class ItemPlace:
    """Where one information item came from: sheet and row, and the name of each field there."""

    where: str
    row: int | None
    fields: dict[str, str]


@dataclass
class ImportRow:
    """One entry read from an import file (Excel or JSON), with its place for error messages."""

    where: str  # sheet name, or "entries[3]"
    row: int | None  # Excel row number (None for JSON)
    code: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    change_reason: str = ""
    provider_code: str = ""  # the provider's USCC, if the file gives one
    provider: str = ""  # the provider's department code, if the file gives one
    fields: dict[str, str] = field(default_factory=dict)  # content key → column header / JSON key
    items: list[ItemPlace] = field(default_factory=list)
    problems: list[GovshareError] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)  # fields already reported (no duplicate message)

    def problem(self, error_code: str, message: Any, key: str, /, **params: Any) -> None:
        self.reported.add(key)
        self.problems.append(ValidationFailed(error_code, message, where=self.where, row=self.row,
                                              field=self.fields.get(key, key) or None, **params))

    def item_problem(self, index: int, error_code: str, message: Any, key: str, /, **params: Any) -> None:
        """``index`` is 0-based."""
        self.reported.add(f"items[{index + 1}].{key}")
        place = self.items[index]
        self.problems.append(ValidationFailed(error_code, message, where=place.where, row=place.row,
                                              field=place.fields.get(key, key), **params))

    def place(self, problem: GovshareError) -> GovshareError | None:
        """Re-issue a problem of :func:`~govshare.catalog.validation.check_content` at this row's place
        (``None`` if the same field was already reported while reading the file)."""
        key = problem.field or ""
        if key in self.reported:
            return None
        match = re.match(r"^items\[(\d+)\](?:\.(\w+))?$", key)
        if match and 1 <= int(match.group(1)) <= len(self.items):
            item = self.items[int(match.group(1)) - 1]
            sub = match.group(2) or ""
            return ValidationFailed(problem.code, problem.message, where=item.where, row=item.row,
                                    field=item.fields.get(sub, sub or key), **problem.params)
        return ValidationFailed(problem.code, problem.message, where=self.where, row=self.row,
                                field=self.fields.get(key, key), **problem.params)


# ------------------------------------------------------------------ hostile-file checks


def _fail(error_code: str, message: Any, where: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(error_code, message, where=where, **params)


def read_limited(source: bytes | str | Any, max_bytes: int, where: str) -> bytes:
    """The bytes of ``source`` (bytes, a path or a binary file), refusing anything over ``max_bytes``."""
    from pathlib import Path

    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise _too_large(size, max_bytes, where)
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise _fail("file_unreadable", _("The file cannot be read: %(reason)s."), where,
                        reason=exc.strerror or str(exc)) from None
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes, where)
    if not data:
        raise _fail("empty_file", _("The file is empty."), where)
    return data


def _too_large(size: int, max_bytes: int, where: str) -> ValidationFailed:
    return _fail("file_too_large", _("The file is larger than %(max)s MB (%(size)s MB); split it into smaller files."),
                 where, max=round(max_bytes / MB, 1), size=round(size / MB, 1))


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_SCAN_CHUNK = 64 * 1024
_FORBIDDEN_XML = (b"<!DOCTYPE", b"<!ENTITY")


def open_xlsx(data: bytes, where: str) -> zipfile.ZipFile:
    """Check that ``data`` is a genuine, harmless XLSX package and return it opened as a ZIP."""
    if data.startswith(OLE2_MAGIC):
        raise _fail("old_excel_format",
                    _("This is an Excel 97-2003 (.xls) or a password-protected workbook; save it as an "
                      "unprotected Excel workbook (.xlsx) and import again."), where)
    if not data.startswith(ZIP_MAGIC):
        raise _fail("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of file "
                                  "renamed to .xlsx."), where)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _fail("damaged_xlsx", _("The file is a damaged ZIP archive and cannot be read as an Excel workbook."),
                    where) from None
    max_parts = limit("GOVSHARE_CATALOG_IMPORT_MAX_PARTS")
    if len(members) > max_parts:
        raise _fail("too_many_parts", _("The file has too many parts (%(count)s; at most %(max)s)."), where,
                    count=len(members), max=max_parts)
    max_unpacked = limit("GOVSHARE_CATALOG_IMPORT_MAX_UNPACKED")
    max_ratio = limit("GOVSHARE_CATALOG_IMPORT_MAX_RATIO")
    total = 0
    names = set()
    for info in members:
        names.add(info.filename)
        total += info.file_size
        if info.flag_bits & 0x1:
            raise _fail("encrypted_xlsx", _("The workbook is password-protected; remove the password and import "
                                            "again."), where)
        if info.file_size > MB and info.file_size > max_ratio * max(info.compress_size, 1):
            raise _fail("zip_bomb", _("A part of the file (%(part)s) is compressed more than %(ratio)s times; "
                                      "the file is refused as a possible archive bomb."), where,
                        part=info.filename[:100], ratio=max_ratio)
    if total > max_unpacked:
        raise _fail("zip_bomb", _("The file unpacks to more than %(max)s MB; it is refused as a possible "
                                  "archive bomb."), where, max=max_unpacked // MB)
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _fail("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of file "
                                  "renamed to .xlsx."), where)
    lowered = {n.lower() for n in names}
    content_types = zf.read("[Content_Types].xml")[:MB] if zf.getinfo("[Content_Types].xml").file_size <= MB \
        else b""
    if any(n.endswith("vbaproject.bin") for n in lowered) or b"macroEnabled" in content_types:
        raise _fail("macro_workbook", _("The workbook contains macros (VBA); save it as a plain Excel workbook "
                                        "(.xlsx) without macros."), where)
    if any(n.startswith("xl/externallinks/") for n in lowered) or "xl/connections.xml" in lowered:
        raise _fail("external_links", _("The workbook links to other workbooks or external data; replace the "
                                        "links by their values and import again."), where)
    if any(n.startswith(("xl/embeddings/", "xl/activex/")) for n in lowered):
        raise _fail("embedded_objects", _("The workbook contains embedded objects; remove them and import again."),
                    where)
    for info in members:
        if info.filename.lower().endswith((".xml", ".rels", ".vml")):
            _scan_xml_part(zf, info, where)
    return zf


def _scan_xml_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> None:
    """Refuse document type declarations (XXE, entity expansion) and non-UTF-8 parts anywhere."""
    tail = b""
    first = True
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(_SCAN_CHUNK)
                if not chunk:
                    return
                if first and (chunk.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in chunk[:200]):
                    raise _fail("xml_encoding", _("Part %(part)s of the workbook is not UTF-8 encoded XML."), where,
                                part=info.filename[:100])
                first = False
                window = tail + chunk
                if any(token in window for token in _FORBIDDEN_XML):
                    raise _fail("xml_doctype", _("Part %(part)s of the workbook declares an XML document type; "
                                                 "such files are refused."), where, part=info.filename[:100])
                tail = window[-16:]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        raise _fail("damaged_xlsx", _("The file is a damaged ZIP archive and cannot be read as an Excel workbook."),
                    where) from None


class _Forbidden(Exception):
    """Raised from an expat handler to refuse a document type, an entity or an external reference."""


def _refuse(*args: Any) -> NoReturn:
    raise _Forbidden


def _expat_parse(source: IO[bytes], on_start: Any, on_end: Any = None) -> None:
    """Stream ``source`` through expat with namespace processing (``uri}local`` names), refusing any
    document type declaration, entity declaration or external entity — the guards of defusedxml,
    without building a tree (fast and flat in memory).  A handler stops the parse by raising."""
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = on_start
    if on_end is not None:
        parser.EndElementHandler = on_end
    parser.buffer_text = True
    while True:
        chunk = source.read(_SCAN_CHUNK)
        if not chunk:
            break
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships}"


def _parse_small(zf: zipfile.ZipFile, name: str, where: str, tag: str) -> list[dict[str, str]]:
    """The attributes of every ``tag`` element of a small part."""
    found: list[dict[str, str]] = []

    def start(element: str, attrs: dict[str, str]) -> None:
        if element == tag:
            found.append(attrs)

    try:
        with zf.open(name) as fh:
            _expat_parse(fh, start)
    except KeyError:
        raise _fail("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of file "
                                  "renamed to .xlsx."), where) from None
    except Exception as exc:  # noqa: BLE001 — any parser failure of a hostile part is "damaged"
        raise _xml_error(name, exc, where) from None
    return found


def _xml_error(part: str, exc: Exception, where: str) -> ValidationFailed:
    if isinstance(exc, _Forbidden):
        return _fail("xml_doctype", _("Part %(part)s of the workbook declares an XML document type; such files are "
                                      "refused."), where, part=part[:100])
    return _fail("damaged_xml", _("Part %(part)s of the workbook is damaged: %(reason)s"), where, part=part[:100],
                 reason=type(exc).__name__)


SMALL_PART_MAX = 5 * MB


def sheet_parts(zf: zipfile.ZipFile, where: str) -> dict[str, str]:
    """Sheet name → the ZIP part holding it (from xl/workbook.xml and its relationships)."""
    for name in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
        if name in zf.namelist() and zf.getinfo(name).file_size > SMALL_PART_MAX:
            raise _fail("damaged_xml", _("Part %(part)s of the workbook is damaged: %(reason)s"), where, part=name,
                        reason="too large")
    targets: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in zf.namelist():
        for attrs in _parse_small(zf, "xl/_rels/workbook.xml.rels", where, f"{NS_PKG_REL}Relationship"):
            target = attrs.get("Target") or ""
            target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            targets[attrs.get("Id") or ""] = target
    sheets: dict[str, str] = {}
    for attrs in _parse_small(zf, "xl/workbook.xml", where, f"{NS_MAIN}sheet"):
        sheets[(attrs.get("name") or "").strip()] = targets.get(attrs.get(f"{NS_REL}id") or "", "")
    return sheets


@dataclass
class SheetScan:
    rows: int = 0  # non-empty rows, the header included
    last_row: int = 0  # number of the last non-empty row
    merges: list[str] = field(default_factory=list)


class _StopScan(Exception):
    pass


def scan_sheet(zf: zipfile.ZipFile, part: str, sheet: str, max_data_rows: int) -> SheetScan:
    """Count the non-empty rows and collect merged ranges in one streaming pass, stopping as soon as
    the sheet has more data rows than allowed (so a huge file is refused after a few thousand rows)."""
    scan = SheetScan()
    row_tag, merge_tag = f"{NS_MAIN}row", f"{NS_MAIN}mergeCell"
    value_tags = frozenset({f"{NS_MAIN}v", f"{NS_MAIN}is", f"{NS_MAIN}f"})
    max_index = 2 * max_data_rows + 1
    state = {"row": 0, "filled": False}

    def start(element: str, attrs: dict[str, str]) -> None:
        if element in value_tags:
            state["filled"] = True
        elif element == row_tag:
            try:
                state["row"] = int(attrs.get("r") or state["row"] + 1)
            except ValueError:
                state["row"] += 1
            state["filled"] = False
        elif element == merge_tag:
            scan.merges.append(attrs.get("ref") or "")
            if len(scan.merges) > 1000:
                raise _StopScan

    def end(element: str) -> None:
        if element != row_tag or not state["filled"]:
            return
        scan.rows += 1
        scan.last_row = state["row"]
        if scan.rows - 1 > max_data_rows:
            raise _fail("too_many_rows", _("Sheet %(sheet)s has more than %(max)s data rows; split the catalog into "
                                           "several files."), sheet, sheet=sheet, max=max_data_rows)
        if scan.last_row > max_index:
            raise _fail("row_out_of_range", _("Sheet %(sheet)s has data beyond the last allowed row %(max)s."), sheet,
                        sheet=sheet, row=scan.last_row, max=max_index)

    try:
        with zf.open(part) as fh:
            _expat_parse(fh, start, end)
    except (GovshareError, _StopScan) as exc:
        if isinstance(exc, GovshareError):
            raise
    except KeyError:
        raise _fail("damaged_xlsx", _("The file is a damaged ZIP archive and cannot be read as an Excel workbook."),
                    sheet) from None
    except Exception as exc:  # noqa: BLE001 — any parser failure of a hostile part is "damaged"
        raise _xml_error(part, exc, sheet) from None
    return scan


# ------------------------------------------------------------------ reading


@dataclass
class ReadResult:
    rows: list[ImportRow]
    problems: list[GovshareError]  # structural problems (sheets, headers, merged cells): fatal at once
    orphans: list[GovshareError] = field(default_factory=list)  # item rows of no resource


def _norm_header(value: Any) -> str:
    text = "" if value is None else str(value)
    return re.sub(r"\s+", "", text).rstrip("*＊")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _CellProblem(Exception):
    def __init__(self, error_code: str, message: Any, **params: Any) -> None:
        super().__init__(error_code)
        self.error_code = error_code
        self.message = message
        self.params = params


def _convert(cell: Any, column: Column) -> Any:
    """The cell's value for its column, or raise :class:`_CellProblem` naming what is wrong."""
    value = getattr(cell, "value", None)
    data_type = getattr(cell, "data_type", None)
    if value is None:
        return None
    if data_type == "f" or (not isinstance(value, str | int | float | bool | dt.date | dt.datetime | dt.time
                                           | dt.timedelta)):
        raise _CellProblem("formula", _("A formula is not accepted (%(formula)s); paste the value instead."),
                           formula=str(getattr(value, "text", value))[:60])
    if data_type == "e":
        raise _CellProblem("cell_error", _("The cell holds the Excel error %(value)s."), value=str(value)[:20])
    if isinstance(value, dt.date | dt.datetime | dt.time | dt.timedelta):
        raise _CellProblem("wrong_type", _("A date or time is not expected here; enter %(expected)s."),
                           expected=_expected(column))
    if column.kind == "int":
        if isinstance(value, bool):
            raise _CellProblem("wrong_type", _("%(value)s is not a whole number."), value=str(value))
        if isinstance(value, float):
            if not value.is_integer():
                raise _CellProblem("wrong_type", _("%(value)s is not a whole number."), value=str(value))
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if not re.fullmatch(r"\d{1,9}", text):
                raise _CellProblem("wrong_type", _("%(value)s is not a whole number."), value=text[:40])
            return int(text)
        return value
    if column.kind == "bool":
        if isinstance(value, bool):
            return value
        text = _cell_text(value).lower()
        if text in ("", NO, "n", "no", "false", "0", "f", "×"):
            return False
        if text in (YES, "y", "yes", "true", "1", "t", "√", "✓"):
            return True
        raise _CellProblem("wrong_value", _("%(value)s is not yes or no (是/否)."), value=str(value)[:40])
    text = _cell_text(value)
    return text or None


def _expected(column: Column) -> Any:
    if column.kind == "int":
        return _("a whole number")
    if column.kind == "bool":
        return "是/否"
    return _("text")


def _choices(mapping: dict[str, str]) -> str:
    return "/".join(mapping.values())


def _enum(row: ImportRow, key: str, value: str, mapping: dict[str, str]) -> str:
    if not value:
        return ""
    code = from_zh(mapping, value)
    if code is None:
        row.problem("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."), key,
                    value=value[:40], choices=_choices(mapping))
        return value
    return code


def parse_share_methods(row: ImportRow, value: Any) -> list[str]:
    if value in (None, ""):
        return []
    parts = value if isinstance(value, list) else re.split(r"[;；,，、/\s]+", str(value))
    out: list[str] = []
    for part in parts:
        part = str(part).strip()
        if not part:
            continue
        code = from_zh(SHARE_METHOD_ZH, part)
        if code is None:
            row.problem("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                        "share_methods", value=part[:40], choices=_choices(SHARE_METHOD_ZH))
            continue
        if code not in out:
            out.append(code)
    return out


def parse_classification(row: ImportRow, value: str) -> str:
    """``301``, ``301 公安局信息资源`` or ``301公安局信息资源`` → ``301``."""
    if not value:
        return ""
    match = re.match(r"^\s*(\d{1,16})(?:\s+.*|[^\x00-\x7f].*)?$", value)
    if match is None:
        row.problem("invalid_classification", _("%(value)s is not a classification code (digits, e.g. 301)."),
                    "classification", value=value[:40])
        return ""
    return match.group(1)


def parse_data_type(value: str) -> str | None:
    """``C``, ``c``, ``C 字符型`` or ``字符型`` → ``C``."""
    text = (value or "").strip()
    if not text:
        return ""
    head = text.split()[0].upper()
    if head in DataType.values:
        return head
    return from_zh(DATA_TYPE_ZH, text)


def read_workbook(data: bytes, where: str) -> ReadResult:
    """Read an import workbook into :class:`ImportRow` objects, collecting every problem with its place."""
    zf = open_xlsx(data, where)
    parts = sheet_parts(zf, where)
    problems: list[GovshareError] = []
    missing = [name for name in DATA_SHEETS if name not in parts or not parts[name]]
    if missing:
        found = "、".join(n for n in parts if n) or "—"
        for name in missing:
            problems.append(ValidationFailed("missing_sheet", _("The workbook has no sheet %(sheet)s (sheets found: "
                                                                "%(found)s); use the catalog template."),
                                             where=name, sheet=name, found=found))
        return ReadResult([], problems)
    scans = {
        SHEET_ENTRIES: scan_sheet(zf, parts[SHEET_ENTRIES], SHEET_ENTRIES,
                                  limit("GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES")),
        SHEET_ITEMS: scan_sheet(zf, parts[SHEET_ITEMS], SHEET_ITEMS, limit("GOVSHARE_CATALOG_IMPORT_MAX_ITEMS")),
    }
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds of errors on a broken file
        raise _fail("unreadable_workbook", _("The workbook cannot be read (%(reason)s); save it again as .xlsx "
                                             "in Excel or WPS."), where, reason=type(exc).__name__) from None
    try:
        entry_sheet = _read_sheet(wb[SHEET_ENTRIES], SHEET_ENTRIES, ENTRY_COLUMNS, scans[SHEET_ENTRIES], problems)
        item_sheet = _read_sheet(wb[SHEET_ITEMS], SHEET_ITEMS, ITEM_COLUMNS, scans[SHEET_ITEMS], problems)
    finally:
        wb.close()
    if entry_sheet is None or item_sheet is None:
        return ReadResult([], problems)
    orphans: list[GovshareError] = []
    rows = _build_rows(entry_sheet, item_sheet, orphans)
    return ReadResult(rows, problems, orphans)


@dataclass
class _SheetRow:
    number: int
    values: dict[str, Any]
    problems: list[tuple[str, GovshareError]]  # (column key, problem)


@dataclass
class _Sheet:
    name: str
    headers: dict[str, str]  # key → header
    rows: list[_SheetRow]


def _read_sheet(ws: Any, name: str, columns: tuple[Column, ...], scan: SheetScan,
                problems: list[GovshareError]) -> _Sheet | None:
    from openpyxl.utils import get_column_letter, range_boundaries

    ws.reset_dimensions()
    header_cells = next(iter(ws.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS)), ())
    by_header = {c.header: c for c in columns}
    positions: dict[int, Column] = {}
    seen: dict[str, int] = {}
    structural = len(problems)
    for index, cell in enumerate(header_cells, start=1):
        raw = getattr(cell, "value", None)
        header = _norm_header(raw)
        if not header:
            continue
        letter = get_column_letter(index)
        column = by_header.get(header)
        if column is None:
            problems.append(ValidationFailed("unknown_column", _("Unknown column %(header)s (column %(letter)s); the "
                                                                 "columns of this sheet are: %(known)s."),
                                             where=name, row=1, field=header, header=header, letter=letter,
                                             known="、".join(by_header)))
            continue
        if header in seen:
            problems.append(ValidationFailed("duplicate_column", _("Column %(header)s appears twice (columns "
                                                                   "%(first)s and %(letter)s)."),
                                             where=name, row=1, field=header, header=header,
                                             first=get_column_letter(seen[header]), letter=letter))
            continue
        seen[header] = index
        positions[index] = column
    for column in columns:
        if column.required and column.header not in seen:
            problems.append(ValidationFailed("missing_column", _("The required column %(header)s is missing."),
                                             where=name, row=1, field=column.header, header=column.header))
    if not seen:
        return None
    headers = {c.key: c.header for c in positions.values()}
    for ref in scan.merges:
        try:
            min_col, min_row, _max_col, _max_row = range_boundaries(ref)
        except (TypeError, ValueError):
            min_col, min_row = 1, 1
        column = positions.get(min_col or 1)
        problems.append(ValidationFailed("merged_cells", _("Merged cells (%(range)s) are not accepted; unmerge them "
                                                           "and fill every cell."),
                                         where=name, row=min_row, field=column.header if column else ref,
                                         range=ref))
    if len(problems) > structural:
        return None  # the structure is wrong: reading the rows would only add noise
    last_col = max(positions)
    rows: list[_SheetRow] = []
    if scan.last_row >= 2:
        for number, cells in enumerate(ws.iter_rows(min_row=2, max_row=scan.last_row, max_col=last_col), start=2):
            values: dict[str, Any] = {}
            row_problems: list[tuple[str, GovshareError]] = []
            for index, column in positions.items():
                cell = cells[index - 1] if index - 1 < len(cells) else None
                try:
                    values[column.key] = _convert(cell, column) if cell is not None else None
                except _CellProblem as exc:
                    values[column.key] = None
                    row_problems.append((column.key, ValidationFailed(exc.error_code, exc.message, where=name,
                                                                      row=number, field=column.header,
                                                                      **exc.params)))
            if row_problems or any(v not in (None, "") for k, v in values.items() if k not in _INFO_KEYS):
                rows.append(_SheetRow(number, values, row_problems))
    return _Sheet(name, headers, rows)


_INFO_KEYS = frozenset(c.key for c in ENTRY_COLUMNS if c.kind == "info")


def _build_rows(entries: _Sheet, items: _Sheet, problems: list[GovshareError]) -> list[ImportRow]:
    rows: list[ImportRow] = []
    by_key: dict[str, ImportRow] = {}
    first_row: dict[str, int] = {}
    for sheet_row in entries.rows:
        v = sheet_row.values
        row = ImportRow(where=entries.name, row=sheet_row.number,
                        fields={**ENTRY_HEADERS, "items": ENTRY_HEADERS["row_key"]})
        for key, problem in sheet_row.problems:
            row.reported.add(key)
            row.problems.append(problem)
        key = _cell_text(v.get("row_key"))
        if not key:
            if "row_key" not in row.reported:
                row.problem("required", _("This field is required."), "row_key")
        elif key in by_key:
            row.problem("duplicate_row_key", _("Number %(key)s is already used in row %(first)s."), "row_key",
                        key=key, first=first_row[key])
        else:
            by_key[key] = row
            first_row[key] = sheet_row.number
        row.code = _cell_text(v.get("code"))
        row.provider_code = _cell_text(v.get("provider_code"))
        row.change_reason = _cell_text(v.get("change_reason"))
        content: dict[str, Any] = {
            "classification": parse_classification(row, _cell_text(v.get("classification"))),
            "name": _cell_text(v.get("name")),
            "summary": _cell_text(v.get("summary")),
            "keywords": _cell_text(v.get("keywords")),
            "format": _cell_text(v.get("format")),
            "share_condition": _cell_text(v.get("share_condition")),
            "share_methods": parse_share_methods(row, _cell_text(v.get("share_methods"))),
            "share_basis": _cell_text(v.get("share_basis")),
            "open_condition": _cell_text(v.get("open_condition")),
            "update_cycle_note": _cell_text(v.get("update_cycle_note")),
            "domain": _cell_text(v.get("domain")),
            "related_codes": _cell_text(v.get("related_codes")),
            "items": [],
        }
        for key_name, mapping in ENUM_FIELDS.items():
            content[key_name] = _enum(row, key_name, _cell_text(v.get(key_name)), mapping)
        row.content = content
        rows.append(row)
    for sheet_row in items.rows:
        v = sheet_row.values
        key = _cell_text(v.get("row_key"))
        owner = by_key.get(key) if key else None
        if owner is None:
            problems.extend(p for _k, p in sheet_row.problems)
            if key:
                problems.append(ValidationFailed("unknown_row_key", _("There is no resource numbered %(key)s in "
                                                                      "sheet %(sheet)s."),
                                                 where=items.name, row=sheet_row.number,
                                                 field=ITEM_HEADERS["row_key"], key=key, sheet=entries.name))
            elif not any(k == "row_key" for k, _p in sheet_row.problems):
                problems.append(ValidationFailed("required", _("This field is required."), where=items.name,
                                                 row=sheet_row.number, field=ITEM_HEADERS["row_key"]))
            continue
        index = len(owner.items)
        owner.items.append(ItemPlace(items.name, sheet_row.number, dict(ITEM_HEADERS)))
        for col_key, problem in sheet_row.problems:
            owner.reported.add(f"items[{index + 1}].{col_key}")
            owner.problems.append(problem)
        resource_name = _cell_text(v.get("resource_name"))
        if resource_name and owner.content.get("name") and resource_name != owner.content["name"]:
            owner.item_problem(index, "resource_name_mismatch",
                               _("Resource name %(value)s does not match the resource numbered %(key)s (%(name)s)."),
                               "resource_name", value=resource_name[:60], key=key, name=owner.content["name"][:60])
        raw_type = _cell_text(v.get("data_type"))
        data_type = parse_data_type(raw_type)
        if data_type is None:
            owner.item_problem(index, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               "data_type", value=raw_type[:40],
                               choices="/".join(data_type_label(c) for c in DataType.values))
            data_type = raw_type
        owner.content["items"].append({
            "name": _cell_text(v.get("name")),
            "data_type": data_type,
            "length": v.get("length"),
            "description": _cell_text(v.get("description")),
            "is_primary_key": bool(v.get("is_primary_key")),
            "is_sensitive": bool(v.get("is_sensitive")),
            "masking_rule": _cell_text(v.get("masking_rule")),
        })
    return rows


# ------------------------------------------------------------------ writing


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
