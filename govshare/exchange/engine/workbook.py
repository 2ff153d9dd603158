"""Excel data upload for departments without a business system (EXC-3; issue 11 item 8).  Django-free.

A department that keeps its data in spreadsheets, not in a business system with a front-end database, fills
in a *data template* for a catalog entry and uploads it.  This module does the two halves that need no
database:

:func:`make_template`
    The template (XLSX bytes) for a catalog entry's information items (:class:`Column`): the sheet ``数据``
    with one header per item (key items marked ``名称 *``), each column's default number format (text ``@``
    for C/M, so leading zeros and 18-digit ID numbers survive), data validations (drop-downs for enumerations
    and booleans, whole numbers, decimals, dates, text lengths), the guide sheet ``说明``, and, when an
    enumeration is too long for an inline list, the hidden sheet ``取值`` the drop-down refers to.
:func:`read_upload`
    Reads a filled-in template and validates every row: header names (columns may be in any order; trailing
    empty columns are ignored), each value by its item's guide letter, keys present and unique in the file,
    enumerations, and the caller's value rules (``checks``).  It returns the typed rows in the order of
    ``columns`` (:class:`Parsed`), or precise problems — sheet, Excel row, column letter, item, code — so the
    department can fix its file; a row with any problem is never returned.  Codes: :data:`PROBLEM_CODES`.

What it does not do:

* The hostile-file checks are the caller's and come first: size, a real XLSX (zip) file, zip-bomb limits
  (member count, expanded size, compression ratio), no macros or embedded objects, the XXE scan of the XML.
  The reader then opens the bytes with openpyxl in read-only mode.  It does trust no dimension the file
  declares (``reset_dimensions``), and reports a workbook openpyxl cannot parse as ``unreadable`` instead of
  raising.
* Formulas are refused, never evaluated: the workbook is opened with ``data_only=False``, so a formula cell
  is seen as its formula (and a cached result, which another program could have forged, is never read); text
  that starts with ``=`` is refused too (``formula``).
* Excel keeps only 15 significant digits of a number: an 18-digit ID number typed into a cell that is not
  text comes back as ``1.10101199001011E+17``.  A number of 16 or more digits in a text item is therefore
  refused (``digits_lost``) rather than stored with its last digits made up; the template formats text
  columns as text to prevent it.
* Text is kept as written apart from surrounding white space: no NFKC, no case folding.  Excel's
  ``_xHHHH_`` escapes in cell text are decoded (as Excel shows them), so a control character other than tab,
  line feed and carriage return is refused (``bad_character``).
* Loading the rows into the data centre, the messages shown for the codes, and the catalog's value rules are
  the caller's (``checks`` receives each clean row; :mod:`govshare.exchange.engine.rules` defines the rules).

Values come back as the copy engine types them: C/M ``str``, N/Y ``Decimal``, I ``int``, B/F ``float``,
D ``date``, T naive ``datetime``, L ``bool``; an empty cell is ``None``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from govshare.datastore.engine.store import decimal_digits

DATA_SHEET = "数据"
GUIDE_SHEET = "说明"
LISTS_SHEET = "取值"
#: the catalog guide's data-type letters this engine supports (G, binary, is not)
LETTERS = "CMNYIBFDTL"

#: the codes of :class:`Problem`, in the order a file is checked
PROBLEM_CODES = (
    # the file
    "unreadable", "no_sheet", "too_many_rows",
    # the header row
    "missing_column", "unknown_column", "duplicate_column",
    # a cell
    "formula", "key_missing", "bad_character", "digits_lost", "wrong_type", "too_long", "too_many_digits",
    "not_a_number",
    "not_an_integer", "out_of_range", "not_a_date", "has_time", "not_a_datetime", "not_a_boolean",
    "not_in_choices",
    # a row
    "duplicate_key", "rule",
)

#: the type names the guide sheet shows
TYPE_NAMES = {"C": "字符型C", "M": "长文本M", "N": "数值型N", "Y": "货币型Y", "I": "整数型I", "B": "浮点型B",
              "F": "浮点型F", "D": "日期型D", "T": "日期时间型T", "L": "布尔型L"}
#: each letter's number format (the column's default style in the template)
NUMBER_FORMATS = {"C": "@", "M": "@", "D": "yyyy-mm-dd", "T": "yyyy-mm-dd hh:mm:ss", "I": "0",
                  "N": "General", "Y": "General", "B": "General", "F": "General", "L": "General"}
#: the longest inline list a drop-down takes (Excel's limit is 255 characters with the quotes)
MAX_INLINE_LIST = 250
#: the most rows a sheet has (the template's ``data_rows`` is one fewer: row 1 is the header)
EXCEL_MAX_ROWS = 1_048_576
#: the most characters of a value shown in a problem's detail
SHOWN_CHARACTERS = 40

_EXCEL_MAX_CELL = 32_767
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_DIGITS_EXCEL_KEEPS = 10**15
_HEADER_FILL = "D9E1F2"
_KEY_FILL = "FFE699"

_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_DATES = (
    re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})"),
    re.compile(r"([0-9]{4})()([0-9]{2})([0-9]{2})"),
    re.compile(r"([0-9]{4})(年)([0-9]{1,2})月([0-9]{1,2})日"),
)
_DATE_TIME = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})(?:T| +)"
                        r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_HEADER_MARK = re.compile(r"\s*[*＊]$")
_BOOLEANS = {"是": True, "否": False, "true": True, "false": False, "yes": True, "no": False, "1": True,
             "0": False, "y": True, "n": False, "t": True, "f": False}
#: the code of a value of the wrong kind, per letter
_WRONG = {"C": "wrong_type", "M": "wrong_type", "N": "not_a_number", "Y": "not_a_number", "B": "not_a_number",
          "F": "not_a_number", "I": "not_an_integer", "D": "not_a_date", "T": "not_a_datetime",
          "L": "not_a_boolean"}


@dataclass(frozen=True)
class Column:
    """One information item of the catalog entry, a column of the template."""

    name: str                  # the information item's name (Chinese), the header text
    letter: str                # C M text, N Y decimal, I integer, B F double, D date, T date-time, L boolean
    length: int | None = None  # C: the most characters
    key: bool = False          # part of the key: required, and all key columns together unique in the file
    description: str = ""
    choices: tuple[str, ...] = ()     # allowed values (an enumeration): a drop-down in the template
    rules_text: tuple[str, ...] = ()  # the value rules in words, shown in the guide sheet


@dataclass
class Problem:
    """Something wrong with the uploaded file, where it is and why (codes: :data:`PROBLEM_CODES`)."""

    sheet: str
    row: int | None        # the Excel row number (header is row 1); None for a file-level problem
    column: str | None     # the Excel column letter ("A", "B", … "AA"); None when not about a column
    item: str | None       # the item name
    code: str
    detail: str = ""       # the value as written (at most 40 characters, then "…"), or the rule's reason text


@dataclass
class Parsed:
    """What :func:`read_upload` read: the clean rows, and the problems of the others."""

    rows: list[list[object]]   # typed values in the columns' order (the order of `columns`, NOT the file's)
    row_numbers: list[int]     # the Excel row number of each row in `rows`
    problems: list[Problem]    # at most max_problems
    problem_count: int         # all problems found (may exceed len(problems))
    total_rows: int            # data rows read (non-empty)


def shown(value: object) -> str:
    """A value as a problem's detail quotes it: at most 40 characters, then ``…``; control characters as
    ``\\xNN`` (the detail ends up in a web page)."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    return text[:SHOWN_CHARACTERS] + ("…" if len(text) > SHOWN_CHARACTERS else "")


def _check_columns(columns: Sequence[Column]) -> None:
    if not columns:
        raise ValueError("no columns")
    names: set[str] = set()
    for column in columns:
        if len(column.letter) != 1 or column.letter not in LETTERS:
            raise ValueError(f"{column.name!r}: data type {column.letter!r} is not one of {LETTERS}")
        name = column.name.strip()
        if not name or _HEADER_MARK.search(name):
            raise ValueError(f"{column.name!r}: not a column name")
        if name in names:
            raise ValueError(f"{column.name!r}: two columns of this name")
        names.add(name)
        if column.length is not None and column.length < 1:
            raise ValueError(f"{column.name!r}: length {column.length} is not positive")


# ------------------------------------------------------------------ the template


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _column_width(column: Column) -> float:
    width = _display_width(column.name) + (4 if column.key else 2)
    if column.letter in "CM" and column.length:
        width = max(width, min(column.length, 60) + 2)
    if column.letter == "T":
        width = max(width, 20)
    if column.choices:
        width = max(width, min(max(_display_width(c) for c in column.choices) + 4, 40))
    return max(12, min(width, 60))


def _text(ws: Any, row: int, column: int, value: object, *, font: Any = None) -> Any:
    """A text cell, never a formula, without the characters XML cannot hold."""
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:_EXCEL_MAX_CELL]
    cell = ws.cell(row=row, column=column)
    cell.value = text
    cell.data_type = "s"
    if text.startswith(("=", "+", "-", "@")):
        cell.quotePrefix = True  # Excel keeps it text when the cell is edited
    if font is not None:
        cell.font = font
    return cell


def _header_text(column: Column) -> str:
    return column.name.strip() + (" *" if column.key else "")


def _inline_list(values: Sequence[str]) -> str | None:
    """The formula of an inline drop-down of the values, or None when they do not fit in one."""
    joined = ",".join(values)
    if len(joined) > MAX_INLINE_LIST or any("," in v or '"' in v for v in values):
        return None
    return f'"{joined}"'


def _list_number(letter: str, choice: str) -> int | Decimal | None:
    """An allowed value of a numeric item as the number the hidden lists sheet holds (a drop-down compares it
    with what is typed, which Excel stores as a number); None when it is to be written as text."""
    text = choice.strip()
    if letter in "NYIBF" and _DECIMAL.fullmatch(text):
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else number
    return None


class _Lists:
    """The hidden sheet of the enumerations too long for an inline drop-down: one column per item."""

    def __init__(self, wb: Any) -> None:
        self.wb = wb
        self.sheet: Any = None
        self.used = 0

    def __call__(self, column: Column) -> str:
        """Writes the allowed values of ``column`` into the next column; the absolute reference to them."""
        if self.sheet is None:
            self.sheet = self.wb.create_sheet(LISTS_SHEET)
            self.sheet.sheet_state = "hidden"
        self.used += 1
        index = self.used
        _text(self.sheet, 1, index, column.name.strip(), font=Font(bold=True))
        for row, choice in enumerate(column.choices, start=2):
            number = _list_number(column.letter, choice)
            if number is None:
                _text(self.sheet, row, index, choice)
            else:
                self.sheet.cell(row=row, column=index, value=number)
        letter = get_column_letter(index)
        return f"'{LISTS_SHEET}'!${letter}$2:${letter}${len(column.choices) + 1}"


def _validation(column: Column, heading: str, lists: _Lists) -> DataValidation | None:
    """The data validation of a column (None for one without), its error message in Chinese."""
    common: dict[str, Any] = {"allow_blank": True, "showErrorMessage": True, "errorStyle": "stop",
                              "errorTitle": heading[:32]}
    if column.choices:
        formula = _inline_list(column.choices) or lists(column)
        return DataValidation(type="list", formula1=formula, error=f"请从下拉列表中选择“{heading}”的取值。",
                              **common)
    letter = column.letter
    if letter == "L":
        return DataValidation(type="list", formula1='"是,否"', error=f"“{heading}”请填写“是”或“否”。", **common)
    if letter == "I":
        return DataValidation(type="whole", operator="between", formula1="-999999999999999",
                              formula2="999999999999999", error=f"“{heading}”请填写整数。", **common)
    if letter in "NYBF":
        return DataValidation(type="decimal", operator="between", formula1="-1E+307", formula2="1E+307",
                              error=f"“{heading}”请填写数值。", **common)
    if letter == "D":
        return DataValidation(type="date", operator="greaterThanOrEqual", formula1="1",
                              error=f"“{heading}”请填写 1900-01-01 以后的日期，如 2024-01-31。", **common)
    if letter == "C" and column.length:
        return DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(column.length),
                              error=f"“{heading}”最多 {column.length} 个字符。", **common)
    return None


def _guide_rules(column: Column) -> str:
    parts = ["、".join(column.choices)] if column.choices else []
    parts.extend(column.rules_text)
    return "；".join(parts)


def _guide_sheet(wb: Any, columns: Sequence[Column], title: str, notes: Sequence[str]) -> None:
    ws = wb.create_sheet(GUIDE_SHEET)
    bold = Font(bold=True)
    _text(ws, 1, 1, title, font=Font(bold=True, size=14))
    row = 2
    for note in notes:
        _text(ws, row, 1, note)
        row += 1
    row += 1  # a blank row before the table
    fill = PatternFill("solid", fgColor=_HEADER_FILL)
    for index, heading in enumerate(("信息项", "类型", "长度", "必填", "说明", "取值规则"), start=1):
        _text(ws, row, index, heading, font=bold).fill = fill
    wrap = Alignment(wrap_text=True, vertical="top")
    for column in columns:
        row += 1
        length = "" if column.length is None else column.length
        values = (column.name.strip(), TYPE_NAMES[column.letter], length, "是（主键）" if column.key else "否",
                  column.description, _guide_rules(column))
        for index, value in enumerate(values, start=1):
            if isinstance(value, int):
                ws.cell(row=row, column=index, value=value)
            elif value:
                _text(ws, row, index, value).alignment = wrap
    for letter, width in zip("ABCDEF", (24, 14, 8, 12, 40, 60), strict=True):
        ws.column_dimensions[letter].width = width


def make_template(columns: Sequence[Column], *, title: str, notes: Sequence[str] = (),
                  data_rows: int = 10000) -> bytes:
    """The data template (XLSX) of a catalog entry whose information items are ``columns``.

    ``title`` and ``notes`` head the guide sheet; validations and formats cover rows 2 to ``data_rows + 1``.
    Raises ValueError for no columns, a letter not in :data:`LETTERS` (binary ``G``), a name empty or twice,
    or ``data_rows`` out of 1 … 1,048,575."""
    _check_columns(columns)
    if not 1 <= data_rows < EXCEL_MAX_ROWS:
        raise ValueError(f"data_rows {data_rows} is not in 1 … {EXCEL_MAX_ROWS - 1}")
    wb = Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    last = data_rows + 1
    _guide_sheet(wb, columns, title, notes)  # before the hidden lists sheet, which comes last
    lists = _Lists(wb)

    key_font, font = Font(bold=True, color="C00000"), Font(bold=True)
    key_fill, fill = PatternFill("solid", fgColor=_KEY_FILL), PatternFill("solid", fgColor=_HEADER_FILL)
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        heading = column.name.strip()
        cell = _text(ws, 1, index, _header_text(column), font=key_font if column.key else font)
        cell.fill = key_fill if column.key else fill
        dimension = ws.column_dimensions[letter]
        dimension.width = _column_width(column)
        # the column's default style: Excel gives it to every cell typed into the column (openpyxl writes it
        # as the <col> element's style), so the format need not be written cell by cell
        dimension.number_format = NUMBER_FORMATS[column.letter]
        validation = _validation(column, heading, lists)
        if validation is not None:
            validation.add(f"{letter}2:{letter}{last}")
            ws.data_validations.append(validation)
    ws.freeze_panes = "A2"
    wb.active = 0
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


# ------------------------------------------------------------------ reading


class _Invalid(Exception):
    """A cell's value does not fit its item: the problem's code and detail."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


class _Problems:
    """Problems in reading order: all counted, at most ``limit`` kept."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self.kept: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append(problem)

    def add_last(self, problem: Problem) -> None:
        """A problem that ends the reading: kept even when the list is full (in place of the last one)."""
        self.count += 1
        if len(self.kept) >= self.limit and self.kept:
            self.kept.pop()
        if self.limit:
            self.kept.append(problem)


def _unescape(text: str) -> str:
    """Excel's ``_xHHHH_`` escapes decoded, as Excel shows the text (openpyxl keeps them as written)."""
    if "_x" not in text:
        return text
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _header_name(value: object) -> str:
    if value is None:
        return ""
    text = _unescape(value).strip() if isinstance(value, str) else str(value).strip()
    return _HEADER_MARK.sub("", text).strip() if text else ""


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text_value(column: Column, value: object) -> str:
    if isinstance(value, str):
        text = value.strip()
        if _CONTROL.search(text):
            raise _Invalid("bad_character", shown(text))
    elif isinstance(value, bool):
        raise _Invalid("wrong_type", shown(value))
    elif isinstance(value, int):
        if abs(value) >= _DIGITS_EXCEL_KEEPS:  # a number typed into Excel keeps 15 significant digits
            raise _Invalid("digits_lost", shown(value))
        text = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        if value.is_integer():
            if abs(value) >= _DIGITS_EXCEL_KEEPS:
                raise _Invalid("digits_lost", shown(value))
            text = str(int(value))
        else:
            text = str(value)
    else:  # a date, time, duration or error value
        raise _Invalid("wrong_type", shown(value))
    if column.letter == "C" and column.length is not None and len(text) > column.length:
        raise _Invalid("too_long", f"{len(text)} > {column.length}")
    return text


def _decimal_value(value: object) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    if isinstance(value, str) and _DECIMAL.fullmatch(text := value.strip()):
        return Decimal(text)
    raise _Invalid("not_a_number", shown(value))


def _integer_value(value: object) -> int:
    number: int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= _DIGITS_EXCEL_KEEPS:
        # a number cell of 16 or more digits: Excel kept 15 of them (the template's validation stops at 15); a longer
        # integer is written as text
        raise _Invalid("digits_lost", shown(value))
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(text := value.strip()):
        if len(text.lstrip("+-").lstrip("0")) > 19:  # longer than any 64-bit integer (and than int() takes)
            raise _Invalid("out_of_range", shown(value))
        number = int(text)
    if number is None:
        raise _Invalid("not_an_integer", shown(value))
    if not _INT_MIN <= number <= _INT_MAX:
        raise _Invalid("out_of_range", shown(value))
    return number


def _float_value(value: object) -> float:
    number: float | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _FLOAT.fullmatch(text := value.strip()):
            number = float(text)
    except OverflowError:  # an integer beyond a double's range
        number = None
    if number is None or not math.isfinite(number):
        raise _Invalid("not_a_number", shown(value))
    return number


def _date_value(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0, 0):
            raise _Invalid("has_time", shown(value))
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for pattern in _DATES:
            if match := pattern.fullmatch(text):
                try:
                    return dt.date(int(match[1]), int(match[3]), int(match[4]))
                except ValueError:
                    break
    raise _Invalid("not_a_date", shown(value))


def _datetime_value(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str) and (match := _DATE_TIME.fullmatch(value.strip())):
        try:
            return dt.datetime(int(match[1]), int(match[3]), int(match[4]), int(match[5]), int(match[6]),
                               int(match[7] or 0))
        except ValueError:
            pass
    raise _Invalid("not_a_datetime", shown(value))


def _boolean_value(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and (answer := _BOOLEANS.get(value.strip().lower())) is not None:
        return answer
    raise _Invalid("not_a_boolean", shown(value))


_CONVERTERS: dict[str, Callable[[Any], object]] = {
    "N": _decimal_value, "Y": _decimal_value, "I": _integer_value, "B": _float_value, "F": _float_value,
    "D": _date_value, "T": _datetime_value, "L": _boolean_value,
}


class _Choices:
    """An enumeration's allowed values: text compared exactly, numbers (N/Y/I/B/F) by value."""

    def __init__(self, column: Column) -> None:
        self.letter = column.letter
        self.texts = frozenset(column.choices)
        self.numbers = frozenset(Decimal(c.strip()) for c in column.choices if _DECIMAL.fullmatch(c.strip()))
        self.doubles = frozenset(float(n) for n in self.numbers)

    def allows(self, value: object) -> bool:
        if isinstance(value, bool):
            return ("是" if value else "否") in self.texts or str(value) in self.texts
        if isinstance(value, float):
            return value in self.doubles or str(value) in self.texts
        if isinstance(value, int | Decimal):
            return Decimal(value) in self.numbers or _decimal_text(Decimal(value)) in self.texts
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ") in self.texts
        if isinstance(value, dt.date):
            return value.isoformat() in self.texts
        return str(value) in self.texts


def _decimal_text(number: Decimal) -> str:
    """A decimal's normalized text without an exponent: ``1.50`` → ``1.5``, ``1E+2`` → ``100``."""
    return format(number.normalize(), "f")


@dataclass(frozen=True)
class _Layout:
    """Where each of ``columns`` is in the file (0-based positions) and its letter there."""

    positions: tuple[int, ...]
    letters: tuple[str, ...]


def _read_header(cells: Sequence[Any], columns: Sequence[Column], problems: _Problems) -> _Layout | None:
    """The header row mapped to ``columns``; None (with the problems added) when it does not fit."""
    wanted = {column.name.strip(): index for index, column in enumerate(columns)}
    found: dict[str, int] = {}
    bad = False
    for position, cell in enumerate(cells):
        raw = cell.value
        if _is_empty(raw):
            continue
        name = _header_name(raw)
        letter = get_column_letter(position + 1)
        if name not in wanted:
            problems.add(Problem(DATA_SHEET, 1, letter, None, "unknown_column", shown(raw)))
            bad = True
        elif name in found:
            problems.add(Problem(DATA_SHEET, 1, letter, name, "duplicate_column",
                                 get_column_letter(found[name] + 1)))
            bad = True
        else:
            found[name] = position
    for column in columns:
        if column.name.strip() not in found:
            problems.add(Problem(DATA_SHEET, 1, None, column.name.strip(), "missing_column"))
            bad = True
    if bad:
        return None
    positions = tuple(found[column.name.strip()] for column in columns)
    return _Layout(positions, tuple(get_column_letter(p + 1) for p in positions))


def _rows(ws: Any, width: int, problems: _Problems) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(Excel row number, cells) of the data rows; a sheet openpyxl cannot parse ends them (``unreadable``)."""
    iterator = ws.iter_rows(min_row=2, min_col=1, max_col=width)
    number = 1
    while True:
        try:
            cells = next(iterator)
        except StopIteration:
            return
        except Exception as error:  # openpyxl's parse of a broken sheet: anything may be raised
            problems.add_last(Problem(DATA_SHEET, None, None, None, "unreadable", type(error).__name__))
            return
        number += 1
        yield number, cells


def read_upload(data: bytes, columns: Sequence[Column], *,
                checks: Callable[[list[object]], list[tuple[int, str]]] | None = None,
                max_rows: int = 1_000_000, max_problems: int = 200) -> Parsed:
    """Read and validate a filled-in data template (XLSX bytes that passed the caller's hostile-file checks).

    Every data row is read and checked (unless there are more than ``max_rows``); rows with no problem come
    back typed, in the order of ``columns``.  ``checks`` gets each row without a cell problem (typed values
    in the order of ``columns``) and returns ``(column index, reason)`` pairs, reported as ``rule``.

    Header problems (``missing_column``, ``unknown_column``, ``duplicate_column``) are on row 1 and end the
    reading before any data row.  A problem that ends the reading (``too_many_rows``, ``unreadable``) is kept
    even when ``max_problems`` are already kept, in place of the last of them.  Raises ValueError for
    ``columns`` :func:`make_template` would refuse, and for a column index ``checks`` should not return."""
    _check_columns(columns)
    problems = _Problems(max_problems)
    rows: list[list[object]] = []
    row_numbers: list[int] = []
    total = 0

    def parsed() -> Parsed:
        return Parsed(rows, row_numbers, problems.kept, problems.count, total)

    try:
        wb = load_workbook(BytesIO(data), read_only=True, data_only=False, keep_links=False)
    except Exception as error:  # not a workbook openpyxl can open: the caller's checks should have said so
        problems.add(Problem(DATA_SHEET, None, None, None, "unreadable", type(error).__name__))
        return parsed()
    try:
        ws = wb[DATA_SHEET] if DATA_SHEET in wb.sheetnames else None
        if ws is None or not hasattr(ws, "iter_rows"):  # absent, or a chart sheet
            problems.add(Problem(DATA_SHEET, None, None, None, "no_sheet"))
            return parsed()
        ws.reset_dimensions()  # the declared size may lie: read what is there
        try:
            header = next(iter(ws.iter_rows(min_row=1, max_row=1)), ())
        except Exception as error:  # as in _rows
            problems.add(Problem(DATA_SHEET, None, None, None, "unreadable", type(error).__name__))
            return parsed()
        layout = _read_header(header, columns, problems)
        if layout is None:
            return parsed()
        total = _read_rows(ws, columns, layout, problems, rows, row_numbers, checks, max_rows)
        return parsed()
    finally:
        wb.close()


def _read_rows(ws: Any, columns: Sequence[Column], layout: _Layout, problems: _Problems,
               rows: list[list[object]], row_numbers: list[int],
               checks: Callable[[list[object]], list[tuple[int, str]]] | None, max_rows: int) -> int:
    """Read, check and collect the data rows; the number of non-empty rows read."""
    names = [column.name.strip() for column in columns]
    letters = layout.letters
    # the cells of a row are checked left to right, as the file has them
    order = sorted(range(len(columns)), key=lambda i: layout.positions[i])
    keys = [i for i, column in enumerate(columns) if column.key]
    choices = {i: _Choices(column) for i, column in enumerate(columns) if column.choices}
    converters = [_CONVERTERS.get(column.letter) for column in columns]
    seen: dict[tuple[object, ...], int] = {}
    total = 0
    width = max(layout.positions) + 1
    for number, cells in _rows(ws, width, problems):
        raw: list[Any] = []
        empty = True
        for position in layout.positions:
            cell = cells[position] if position < len(cells) else None
            value = None if cell is None else cell.value
            if isinstance(value, str):
                value = _unescape(value)
            raw.append((value, None if cell is None else cell.data_type))
            if not _is_empty(value):
                empty = False
        if empty:
            continue
        if total >= max_rows:
            problems.add_last(Problem(DATA_SHEET, number, None, None, "too_many_rows", str(max_rows)))
            break
        total += 1
        values: list[object] = [None] * len(columns)
        bad = False
        for i in order:
            value, data_type = raw[i]
            column = columns[i]
            try:
                if data_type == "f" or (isinstance(value, str) and value.strip().startswith("=")):
                    raise _Invalid("formula", shown(getattr(value, "text", value)))
                if _is_empty(value):
                    if column.key:
                        raise _Invalid("key_missing", "")
                    continue
                if data_type == "e":  # an error value (#N/A, #VALUE!), not what was meant
                    raise _Invalid(_WRONG[column.letter], shown(value))
                converter = converters[i]
                typed = _text_value(column, value) if converter is None else converter(value)
                if column.letter in "NY" and column.length is not None and isinstance(typed, Decimal) and typed \
                        and decimal_digits(typed) > column.length:  # as a copy refuses it (copy._to_decimal)
                    raise _Invalid("too_many_digits", f"{decimal_digits(typed)} > {column.length}")
                if i in choices and not choices[i].allows(typed):
                    raise _Invalid("not_in_choices", shown(value))
                values[i] = typed
            except _Invalid as invalid:
                problems.add(Problem(DATA_SHEET, number, letters[i], names[i], invalid.code, invalid.detail))
                bad = True
        duplicate = False
        if keys and all(values[i] is not None for i in keys):
            first = seen.setdefault(tuple(values[i] for i in keys), number)
            if first != number:
                problems.add(Problem(DATA_SHEET, number, letters[keys[0]], names[keys[0]], "duplicate_key",
                                     str(first)))
                duplicate = True
        broken = False
        if checks is not None and not bad:
            for index, reason in checks(list(values)):
                if not 0 <= index < len(columns):
                    raise ValueError(f"checks returned column index {index} of {len(columns)} columns")
                problems.add(Problem(DATA_SHEET, number, letters[index], names[index], "rule", str(reason)))
                broken = True
        if bad or duplicate or broken:
            continue
        rows.append(values)
        row_numbers.append(number)
    return total
