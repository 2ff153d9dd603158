"""The catalog as an Excel workbook (issue 3 §4, CAT-1): template, export and the reading side of import.

* :mod:`.columns` — the layout: sheets, columns, coded values, import limits;
* :mod:`.rows` — the rows read from a file (shared with the JSON import);
* :mod:`.read` — reading an import workbook, hostile until proven otherwise (the file checks themselves
  live in :mod:`govshare.core.files`, shared by every upload channel);
* :mod:`.write` — the template and the export.

The names below are the package's public interface (``from govshare.catalog import excel``).
"""

from govshare.catalog.excel.columns import (
    DATA_SHEETS,
    DEFAULT_LIMITS,
    ENTRY_COLUMNS,
    ENTRY_HEADERS,
    ENUM_FIELDS,
    ITEM_COLUMNS,
    ITEM_HEADERS,
    LIST_SEPARATOR,
    MAX_COLUMNS,
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
from govshare.catalog.excel.read import (
    OLE2_MAGIC,
    ZIP_MAGIC,
    ReadResult,
    SheetScan,
    open_xlsx,
    parse_classification,
    parse_data_type,
    parse_share_methods,
    read_limited,
    read_workbook,
    scan_sheet,
    sheet_parts,
)
from govshare.catalog.excel.rows import ImportRow, ItemPlace
from govshare.catalog.excel.write import (
    GUIDE_RULES,
    Lists,
    classification_choices,
    entry_cells,
    item_cells,
    lists_for,
    write_workbook,
)

__all__ = [
    "DATA_SHEETS", "DEFAULT_LIMITS", "ENTRY_COLUMNS", "ENTRY_HEADERS", "ENUM_FIELDS", "GUIDE_RULES", "ITEM_COLUMNS",
    "ITEM_HEADERS", "LIST_SEPARATOR", "MAX_COLUMNS", "MB", "NO", "OLE2_MAGIC", "SHEET_CODES", "SHEET_ENTRIES",
    "SHEET_GUIDE", "SHEET_ITEMS", "XLSX_MAX_ROWS", "YES", "ZIP_MAGIC", "Column", "ImportRow", "ItemPlace", "Lists",
    "ReadResult", "SheetScan", "classification_choices", "data_type_label", "entry_cells", "item_cells", "limit",
    "lists_for", "open_xlsx", "parse_classification", "parse_data_type", "parse_share_methods", "read_limited",
    "read_workbook", "scan_sheet", "share_method_combinations", "sheet_parts", "write_workbook",
]
