"""Reading an import workbook (CAT-1): the file is hostile until proven otherwise.

:func:`open_xlsx` makes the checks of :mod:`govshare.core.files` (size is checked by the caller with
:func:`read_limited`): a real ZIP with the parts of an XLSX (a renamed file is refused), zip-bomb
limits (total unpacked size, compression ratio, number of parts), no member escaping the archive, no
macros, external links, embedded objects or XML document type declarations (XXE, billion laughs).
Then a streaming pass counts rows and finds merged cells *before* openpyxl reads anything — a
100 000-row file is refused after reading a few thousand rows.  Values are then read in openpyxl's
read-only mode with formulas kept as formulas (``data_only=False``) so that they can be refused.

Headers are matched by name (order does not matter); values may be written in the guide's Chinese
terms (无条件共享, 每季度, C 字符型 …) or as codes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any

from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import DATA_TYPE_ZH, SHARE_METHOD_ZH, DataType, from_zh
from govshare.catalog.excel.columns import (
    DATA_SHEETS,
    ENTRY_COLUMNS,
    ENTRY_HEADERS,
    ENUM_FIELDS,
    ITEM_COLUMNS,
    ITEM_HEADERS,
    MAX_COLUMNS,
    NO,
    SHEET_ENTRIES,
    SHEET_ITEMS,
    YES,
    Column,
    data_type_label,
    limit,
)
from govshare.catalog.excel.rows import ImportRow, ItemPlace
from govshare.core import files
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.files import MB, OLE2_MAGIC, ZIP_MAGIC

__all__ = ["OLE2_MAGIC", "ZIP_MAGIC", "ReadResult", "SheetScan", "open_xlsx", "parse_classification",
           "parse_data_type", "parse_share_methods", "read_limited", "read_workbook", "scan_sheet", "sheet_parts"]

#: the core refusals under the catalog import's stable codes
EXCEL_CODES = {"not_zip": "not_xlsx", "damaged_zip": "damaged_xlsx", "encrypted_zip": "encrypted_xlsx",
               "macros": "macro_workbook"}


def _fail(error_code: str, message: Any, where: str, **params: Any) -> ValidationFailed:
    return ValidationFailed(error_code, message, where=where, **params)


def read_limited(source: bytes | str | PurePath | IO[bytes], max_bytes: int, where: str) -> bytes:
    """The bytes of ``source`` (bytes, a path or a binary file), refusing anything over ``max_bytes``."""
    return files.read_limited(source, max_bytes, where=where)


def _not_xlsx(where: str) -> ValidationFailed:
    return _fail("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of file renamed to "
                               ".xlsx."), where)


def open_xlsx(data: bytes, where: str) -> zipfile.ZipFile:
    """Check that ``data`` is a genuine, harmless XLSX package and return it opened as a ZIP."""
    if data.startswith(OLE2_MAGIC):
        raise _fail("old_excel_format",
                    _("This is an Excel 97-2003 (.xls) or a password-protected workbook; save it as an "
                      "unprotected Excel workbook (.xlsx) and import again."), where)
    if not data.startswith(ZIP_MAGIC):
        raise _not_xlsx(where)
    zip_limits = files.ZipLimits(max_parts=limit("GOVSHARE_CATALOG_IMPORT_MAX_PARTS"),
                                 max_unpacked=limit("GOVSHARE_CATALOG_IMPORT_MAX_UNPACKED"),
                                 max_ratio=limit("GOVSHARE_CATALOG_IMPORT_MAX_RATIO"))
    try:
        zf = files.open_zip(data, zip_limits, where=where)
        names = set(zf.namelist())
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise _not_xlsx(where)
        files.check_office_package(zf, where=where)
        files.scan_xml_parts(zf, where=where)
    except files.FileRefused as exc:
        raise exc.renamed(EXCEL_CODES.get(exc.code, exc.code)) from None
    return zf


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
            files.expat_parse(fh, start)
    except KeyError:
        raise _fail("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of file "
                                  "renamed to .xlsx."), where) from None
    except Exception as exc:  # noqa: BLE001 — any parser failure of a hostile part is "damaged"
        raise _xml_error(name, exc, where) from None
    return found


def damage_reason(exc: BaseException) -> Any:
    """What is wrong with the file, in the reader's language (not an exception class name such as
    "BadZipFile" inside a Chinese message; issue 8, one language per screen)."""
    from xml.etree.ElementTree import ParseError
    from xml.parsers.expat import ExpatError

    if isinstance(exc, zipfile.BadZipFile | zipfile.LargeZipFile | EOFError):
        return _("the ZIP container is incomplete or damaged")
    if isinstance(exc, ExpatError | ParseError | UnicodeError):
        return _("its XML is not well-formed")
    if isinstance(exc, KeyError | FileNotFoundError):
        return _("a part the workbook refers to is missing")
    if isinstance(exc, MemoryError | OverflowError):
        return _("it is too large to read")
    return _("its content is not what an .xlsx workbook holds")


def _xml_error(part: str, exc: Exception, where: str) -> ValidationFailed:
    if isinstance(exc, files.ForbiddenXml):
        return _fail("xml_doctype", _("Part %(part)s of the workbook declares an XML document type; such files are "
                                      "refused."), where, part=part[:100])
    return _fail("damaged_xml", _("Part %(part)s of the workbook is damaged: %(reason)s"), where, part=part[:100],
                 reason=damage_reason(exc))


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
            files.expat_parse(fh, start, end)
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
                                             "in Excel or WPS."), where, reason=damage_reason(exc)) from None
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
