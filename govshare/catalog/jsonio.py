"""The catalog as JSON (issue 3 §4): one document format for export and import.

    {"format": "govshare-catalog", "format_version": 1, "exported_at": "…",
     "entries": [<serialize.entry_dict(entry)>, …], "count": N}

An import accepts the same document (the department's own entries): ``code`` empty or absent
creates a resource, an existing code updates it; the export-only keys (status, version,
published_at …) are ignored.  Enumerations may be codes or the guide's Chinese terms.  Problems are
reported with ``where="entries[3]"`` (0-based, like the JSON array) and ``field`` the key
(``items[0].length`` for an information item).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import DataType, from_zh
from govshare.catalog.excel import (
    ENUM_FIELDS,
    ImportRow,
    ItemPlace,
    data_type_label,
    limit,
    parse_data_type,
    parse_share_methods,
)
from govshare.catalog.serialize import FORMAT_VERSION, entry_dict
from govshare.catalog.validation import MAX_ITEMS
from govshare.core.errors import GovshareError, ValidationFailed

FORMAT_NAME = "govshare-catalog"
MAX_DEPTH = 8  # document → entries → entry → items → item → value is 6 deep
TEXT_FIELDS = ("classification", "name", "summary", "format", "share_condition", "share_basis", "open_condition",
               "update_cycle_note", "domain")
LIST_FIELDS = ("keywords", "related_codes")
ITEM_TEXT_FIELDS = ("name", "description", "masking_rule")
ITEM_BOOL_FIELDS = ("is_primary_key", "is_sensitive")


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _problem(error_code: str, message: Any, where: str, field: str | None = None, **params: Any) -> ValidationFailed:
    return ValidationFailed(error_code, message, where=where, field=field, **params)


def load_document(data: bytes, where: str) -> Any:
    """Decode and parse, refusing what is not UTF-8 JSON or is nested too deeply."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _problem("not_utf8", _("The file is not UTF-8 encoded text."), where) from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise _problem("too_deep", _("The JSON document is nested more than %(max)s levels deep."), where,
                       max=MAX_DEPTH) from None
    except json.JSONDecodeError as exc:
        raise _problem("invalid_json", _("The file is not valid JSON (line %(line)s, column %(column)s: "
                                         "%(reason)s)."), where, line=exc.lineno, column=exc.colno,
                       reason=exc.msg) from None
    except ValueError:
        raise _problem("invalid_json", _("The file is not valid JSON (line %(line)s, column %(column)s: "
                                         "%(reason)s)."), where, line=1, column=1, reason="—") from None
    if _depth_exceeds(doc, MAX_DEPTH):
        raise _problem("too_deep", _("The JSON document is nested more than %(max)s levels deep."), where,
                       max=MAX_DEPTH)
    return doc


def read_json(data: bytes, where: str) -> tuple[list[ImportRow], list[GovshareError]]:
    """Read a catalog JSON document into :class:`ImportRow` objects and the document-level problems."""
    doc = load_document(data, where)
    if not isinstance(doc, dict):
        raise _problem("not_catalog_json", _('The file must be a JSON object with "format": "%(format)s".'),
                       where, format=FORMAT_NAME)
    problems: list[GovshareError] = []
    if doc.get("format") != FORMAT_NAME:
        problems.append(_problem("not_catalog_json", _('The file must be a JSON object with "format": '
                                                       '"%(format)s".'), where, "format", format=FORMAT_NAME))
    if doc.get("format_version") != FORMAT_VERSION:
        problems.append(_problem("unsupported_version", _("Unsupported format_version %(value)s (this platform "
                                                          "reads %(expected)s)."), where, "format_version",
                                 value=str(doc.get("format_version"))[:20], expected=FORMAT_VERSION))
    entries = doc.get("entries")
    if not isinstance(entries, list):
        problems.append(_problem("invalid", _("%(name)s must be a list."), where, "entries", name="entries"))
        return [], problems
    max_entries = limit("GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES")
    if len(entries) > max_entries:
        raise _problem("too_many_rows", _("The file has more than %(max)s entries; split the catalog into several "
                                          "files."), where, "entries", max=max_entries)
    total_items = sum(len(e.get("items") or []) for e in entries
                      if isinstance(e, dict) and isinstance(e.get("items"), list))
    max_items = limit("GOVSHARE_CATALOG_IMPORT_MAX_ITEMS")
    if total_items > max_items:
        raise _problem("too_many_rows", _("The file has more than %(max)s information items; split the catalog "
                                          "into several files."), where, "entries", max=max_items)
    if problems:
        return [], problems
    return [_read_entry(raw, f"entries[{index}]") for index, raw in enumerate(entries)], problems


def _text(row: ImportRow, raw: dict[str, Any], key: str, *, item: int | None = None) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool) and key in ("classification", "name"):
        return str(value)
    message = _("%(name)s must be text.")
    if item is None:
        row.problem("wrong_type", message, key, name=key)
    else:
        row.item_problem(item, "wrong_type", message, key, name=f"items[{item}].{key}")
    return ""


def _read_entry(raw: Any, where: str) -> ImportRow:
    row = ImportRow(where=where, row=None)
    if not isinstance(raw, dict):
        row.problem("invalid", _("An entry must be a JSON object."), "")
        return row
    row.code = _text(row, raw, "code")
    row.provider = _text(row, raw, "provider")
    row.provider_code = _text(row, raw, "provider_code")
    row.change_reason = _text(row, raw, "change_reason")
    content: dict[str, Any] = {key: _text(row, raw, key) for key in TEXT_FIELDS}
    for key, mapping in ENUM_FIELDS.items():
        value = _text(row, raw, key)
        content[key] = value
        if value:
            code = from_zh(mapping, value)
            if code is None:
                row.problem("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."), key,
                            value=value[:40], choices="/".join(mapping))
            else:
                content[key] = code
    for key in LIST_FIELDS:
        listed = raw.get(key)
        if listed is None or isinstance(listed, str) or (isinstance(listed, list)
                                                          and all(isinstance(v, str) for v in listed)):
            content[key] = listed or []
        else:
            row.problem("wrong_type", _("%(name)s must be a list of texts."), key, name=key)
            content[key] = []
    methods = raw.get("share_methods")
    if methods is None or isinstance(methods, str) or (isinstance(methods, list)
                                                        and all(isinstance(v, str) for v in methods)):
        content["share_methods"] = parse_share_methods(row, methods)
    else:
        row.problem("wrong_type", _("%(name)s must be a list of texts."), "share_methods", name="share_methods")
        content["share_methods"] = []
    raw_items = raw.get("items")
    items: list[Any] = []
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list):
        row.problem("wrong_type", _("%(name)s must be a list."), "items", name="items")
        raw_items = []
    for index, raw_item in enumerate(raw_items[:MAX_ITEMS + 1]):
        row.items.append(ItemPlace(where, None, {k: f"items[{index}].{k}" for k in
                                                 ("name", "data_type", "length", "description", "is_primary_key",
                                                  "is_sensitive", "masking_rule")} | {"": f"items[{index}]"}))
        if not isinstance(raw_item, dict):
            items.append(raw_item)  # check_items reports it
            continue
        items.append(_read_item(row, index, raw_item))
    content["items"] = items
    row.content = content
    return row


def _read_item(row: ImportRow, index: int, raw: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {key: _text(row, raw, key, item=index) for key in ITEM_TEXT_FIELDS}
    raw_type = raw.get("data_type")
    if raw_type is None or isinstance(raw_type, str):
        data_type = parse_data_type(raw_type or "")
        if data_type is None:
            row.item_problem(index, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                             "data_type", value=str(raw_type)[:40],
                             choices="/".join(data_type_label(c) for c in DataType.values))
            data_type = str(raw_type)
        item["data_type"] = data_type
    else:
        row.item_problem(index, "wrong_type", _("%(name)s must be text."), "data_type",
                         name=f"items[{index}].data_type")
        item["data_type"] = ""
    length = raw.get("length")
    if isinstance(length, bool) or not (length is None or isinstance(length, int | float | str)):
        row.item_problem(index, "wrong_type", _("%(value)s is not a whole number."), "length", value=str(length)[:40])
        length = None
    item["length"] = length
    for key in ITEM_BOOL_FIELDS:
        value = raw.get(key)
        if value is None:
            item[key] = False
        elif isinstance(value, bool):
            item[key] = value
        else:
            row.item_problem(index, "wrong_type", _("%(name)s must be true or false."), key,
                             name=f"items[{index}].{key}")
            item[key] = False
    return item


def write_json(out: IO[bytes], pairs: Iterable[tuple[Any, Any]]) -> int:
    """Stream the export document to a binary file, one entry at a time; return the entry count."""
    head = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "exported_at": timezone.now().isoformat()}
    out.write(json.dumps(head, ensure_ascii=False)[:-1].encode("utf-8"))
    out.write(b', "entries": [')
    count = 0
    for entry, version in pairs:
        out.write(b",\n" if count else b"\n")
        out.write(json.dumps(entry_dict(entry, version), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        count += 1
    out.write(f'\n], "count": {count}}}\n'.encode())
    return count

