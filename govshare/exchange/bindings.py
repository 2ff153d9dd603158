"""Table bindings (issue 10 item 2): which column of a source table holds each information item of a
published 库表 entry, and the key of a row.

* :func:`propose` suggests a column for every item: the same name (case and ``_`` ignored), the item's
  pinyin (``faren``) or its pinyin initials (``tyshxydm`` for 统一社会信用代码, the usual naming in front-end
  databases); and the key the source declares, else the columns of the items marked as primary key.
* :func:`check` judges a mapping against the entry version's items and the table's shape: every item
  mapped to an existing column, no column twice, each column's type one the item's data type accepts
  (:mod:`govshare.exchange.engine.types`), a key of mapped columns.  Blocking problems name the item and
  the column; warnings (a column that can hold longer values than the item) are kept with the binding.
* :func:`verify` reads the table's shape again and checks a saved binding against the entry's current
  version: what every run asks first (a binding that no longer matches cannot run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _
from pypinyin import Style, lazy_pinyin

from govshare.catalog.enums import ShareMethod
from govshare.catalog.models import CatalogEntry, EntryVersion, InformationItem
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.datastore.engine.store import StoreColumn
from govshare.exchange.engine import sources as engine
from govshare.exchange.engine import types

#: how each compatibility problem of the engine reads
WORDS: dict[str, Any] = {
    "type": _("Item %(item)s (%(letter)s) cannot take column %(column)s of type %(type)s."),
    "too_long": _("Column %(column)s holds up to %(column_length)s characters, the item at most %(length)s: "
                  "longer values will be quarantined."),
    "too_many_digits": _("Column %(column)s holds up to %(digits)s digits, the item at most %(length)s: larger "
                         "values will be quarantined."),
    "untyped": _("Column %(column)s declares no type: each value is checked on the way in, and one the item "
                 "cannot take will be quarantined."),
    "not_whole": _("Column %(column)s has %(scale)s decimal places and the item is an integer: values with "
                   "a fraction will be quarantined."),
}


def _plain(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).casefold()


def _spellings(name: str) -> set[str]:
    """The item's name as a column may spell it: itself, its pinyin, its pinyin initials."""
    found = {_plain(name)}
    if _has_han(name):
        found.add(_plain("".join(lazy_pinyin(name))))
        found.add(_plain("".join(lazy_pinyin(name, style=Style.FIRST_LETTER))))
    return found


@dataclass
class Proposal:
    shape: engine.TableShape
    mapping: dict[str, str | None]  # item → column (None: nothing found)
    key_columns: list[str]
    key_declared: bool


def bindable(entry: CatalogEntry) -> ValidationFailed | None:
    """Why an entry cannot be bound (None: it can): published, shared as a 库表."""
    version = entry.current_version
    if entry.status != CatalogEntry.Status.PUBLISHED or version is None:
        return ValidationFailed("entry_not_published", _("Only a published entry can be bound."), field="entry")
    if ShareMethod.TABLE not in (version.share_methods or []):
        return ValidationFailed("entry_not_a_table", _("Entry %(code)s is not shared as a database table (库表)."),
                                field="entry", code=entry.code)
    return None


def items_of(version: EntryVersion) -> list[InformationItem]:
    return list(version.items.order_by("position"))


def store_shape(version: EntryVersion) -> tuple[list[StoreColumn], list[str]]:
    """The centre's table for the version's items: a store column per item, in order, and the key's item names."""
    items = items_of(version)
    return [StoreColumn(i.name, i.data_type, i.length) for i in items], [i.name for i in items if i.is_primary_key]


#: where a column comment's name ends and its explanation begins ("姓名（中文）", "公民身份号码，18位", "xm: 姓名" …)
_COMMENT_PARTS = re.compile(r"[,，;；:：、/|（(\[【<《—]+")


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _comment_names(comment: str) -> set[str]:
    """What a column comment may name: the whole comment, each part between separators ("xm: 姓名" names 姓名,
    "公民身份号码（18位）" names 公民身份号码), and the Chinese words of a part ("证件号码 18位").  An English
    comment names only what its parts say whole ("Name of the holder" names no item called "name")."""
    if not comment:
        return set()
    found = {_plain(comment)}
    for part in _COMMENT_PARTS.split(comment):
        if part.strip():
            found.add(_plain(part))
            found.update(_plain(word) for word in part.split() if _has_han(word))
    return found


def propose(version: EntryVersion, shape: engine.TableShape) -> Proposal:
    """A column for each item: first the columns whose name spells the item (itself, its pinyin, its pinyin
    initials), then, for the items left, a column whose comment names the item — departments' columns are often
    abbreviations (``c07``, ``zjhm``) with the Chinese name in their comment.  Each column is proposed once."""
    columns = {_plain(c.name): c.name for c in shape.columns}
    taken: set[str] = set()
    mapping: dict[str, str | None] = {}
    items = items_of(version)
    for item in items:
        match = next((columns[s] for s in _spellings(item.name) if s in columns and columns[s] not in taken), None)
        mapping[item.name] = match
        if match:
            taken.add(match)
    for item in items:
        if mapping[item.name] is None:
            name = _plain(item.name)
            match = next((c.name for c in shape.columns if c.name not in taken and name in _comment_names(c.comment)),
                         None)
            mapping[item.name] = match
            if match:
                taken.add(match)
    if shape.primary_key:
        return Proposal(shape, mapping, list(shape.primary_key), True)
    key = [mapping[i.name] for i in items if i.is_primary_key and mapping.get(i.name)]
    return Proposal(shape, mapping, [k for k in key if k], False)


@dataclass
class Judgement:
    problems: list[GovshareError] = field(default_factory=list)  # blocking
    warnings: list[GovshareError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


#: column families an update-time column may have (watermark mode): values the source orders as times
UPDATE_FAMILIES = frozenset({types.DATETIME, types.DATE, types.INTEGER, types.DECIMAL, types.TEXT, types.ANY})


def update_column_problem(shape: engine.TableShape, column: str, *, kind: str = "") -> ValidationFailed | None:
    """Why ``column`` cannot be the update-time column of watermark mode (None: it can)."""
    info = next((c for c in shape.columns if c.name == column), None)
    if info is None:
        return ValidationFailed("no_such_update_column", _("Table %(table)s has no column %(column)s (the update-time "
                                                           "column)."), field="update_column", table=shape.name,
                                column=column)
    if types.family(info.data_type, column_length=info.length, kind=kind) not in UPDATE_FAMILIES:
        return ValidationFailed("update_column_type", _("Column %(column)s (%(type)s) cannot be an update time: "
                                                        "choose a date and time, date or number column."),
                                field="update_column", column=column, type=info.data_type)
    return None


def check(version: EntryVersion, shape: engine.TableShape, mapping: dict[str, str],
          key_columns: list[str], *, kind: str = "", update_column: str = "") -> Judgement:
    """Every problem of a mapping at once (``field`` is ``mapping.<item>``, ``key_columns`` or
    ``update_column``)."""
    out = Judgement()
    if update_column:
        bad = update_column_problem(shape, update_column, kind=kind)
        if bad is not None:
            out.problems.append(bad)
    columns = {c.name: c for c in shape.columns}
    items = items_of(version)
    names = {i.name for i in items}
    for name in sorted(set(mapping) - names):
        out.problems.append(ValidationFailed("unknown_item", _("The entry has no item %(item)s."),
                                             field=f"mapping.{name}", label=name, item=name))
    used: dict[str, str] = {}
    for item in items:
        column = (mapping.get(item.name) or "").strip()
        where = f"mapping.{item.name}"
        if not column:
            out.problems.append(ValidationFailed("item_unmapped", _("Choose the column that holds item %(item)s."),
                                                 field=where, label=item.name, item=item.name))
            continue
        info = columns.get(column)
        if info is None:
            out.problems.append(ValidationFailed(
                "no_such_column", _("Table %(table)s has no column %(column)s (item %(item)s)."), field=where,
                label=item.name, table=shape.name, column=column, item=item.name))
            continue
        if column in used:
            out.problems.append(ValidationFailed(
                "column_twice", _("Column %(column)s is chosen for both %(first)s and %(item)s."), field=where,
                label=item.name, column=column, first=used[column], item=item.name))
            continue
        used[column] = item.name
        for problem in types.problems(item.data_type, item.length, info.data_type, column_length=info.length,
                                      precision=info.precision, scale=info.scale, kind=kind):
            params: dict[str, Any] = {"item": item.name, "column": column, **problem.params}
            error = ValidationFailed(f"column_{problem.code}", WORDS[problem.code], field=where, label=item.name,
                                     **params)
            (out.problems if problem.blocking else out.warnings).append(error)
    if not key_columns:
        out.problems.append(ValidationFailed(
            "key_required", _("Table %(table)s declares no primary key: choose the columns that identify a row."),
            field="key_columns", table=shape.name))
    for column in key_columns:
        if column not in used:
            out.problems.append(ValidationFailed(
                "key_not_mapped", _("Key column %(column)s must hold one of the entry's items."),
                field="key_columns", column=column))
        elif columns[column].nullable and column not in shape.primary_key:
            out.warnings.append(ValidationFailed(
                "key_nullable", _("Key column %(column)s may be empty in the source: rows without a key will be "
                                  "quarantined."), field="key_columns", column=column))
    if len(set(key_columns)) != len(key_columns):
        out.problems.append(ValidationFailed("key_twice", _("A key column is named twice."), field="key_columns"))
    return out


def verify(binding: Any, *, shape: engine.TableShape | None = None) -> Judgement:
    """Check a saved binding against its entry's current version and the table as it is now (one read of
    the source's catalog).  The entry's new version must still be a published 库表 entry."""
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode
    from govshare.exchange import guard
    from govshare.exchange.sources import explain, spec_for

    entry = binding.entry
    version = entry.current_version
    problem = bindable(entry)  # withdrawn, or its new version no longer shared as a table
    if problem is not None or version is None:
        return Judgement([problem or ValidationFailed("entry_not_published", _("The entry has no published "
                                                                                "version."), field="entry")])
    if shape is None:
        try:
            shape = engine.describe_table(spec_for(binding.source), binding.schema_name, binding.table_name)
        except engine.SourceError as exc:
            return Judgement([explain(exc, binding.source, table=binding.table_text())])
        except guard.AddressRefused as exc:
            audit.record_now(AuditCode.SOURCE_REFUSED, obj=binding.source, outcome="denied",
                             object_department=binding.source.department, detail={"reason": exc.reason})
            return Judgement([exc])
        except ValidationFailed as exc:  # a host that no longer resolves, a file that is gone
            return Judgement([exc])
    judgement = check(version, shape, binding.column_of(), list(binding.key_columns), kind=binding.source.kind,
                      update_column=binding.update_column if binding.mode == binding.Mode.WATERMARK else "")
    judgement.problems.extend(parse_rules(version, binding.rules)[1])  # an item gone, or of another type now
    return judgement


# ------------------------------------------------------------------ value rules (issue 10 item 9, EXC-7)

#: why a value rule cannot be used, by :class:`govshare.exchange.engine.rules.RuleError` code
RULE_WORDS: dict[str, Any] = {
    "rule_invalid": _("Item %(item)s: a rule is an object with a kind."),
    "rule_unknown": _("Item %(item)s: choose a rule kind (ID number, USCC, phone, list of values, range, pattern)."),
    "rule_not_for_type": _("Item %(item)s (%(letter)s): this kind of rule does not fit the item's data type."),
    "rule_extra_field": _("Item %(item)s: this kind of rule takes no %(detail)s."),
    "enum_empty": _("Item %(item)s: give at least one allowed value."),
    "enum_too_many": _("Item %(item)s: at most 1000 allowed values."),
    "enum_bad_value": _("Item %(item)s: an allowed value does not fit the item's data type (%(detail)s)."),
    "range_empty": _("Item %(item)s: give a lowest or a highest value, or both."),
    "range_bad_bound": _("Item %(item)s: a bound is not a value of the item's data type (%(detail)s)."),
    "range_inverted": _("Item %(item)s: the lowest value is above the highest."),
    "regex_too_long": _("Item %(item)s: a pattern has at most 500 characters."),
    "regex_invalid": _("Item %(item)s: the pattern is not valid (%(detail)s)."),
    "rule_item_unknown": _("The entry has no item %(item)s for a value rule."),
}


def parse_rules(version: EntryVersion, data: Any) -> tuple[dict[int, list[Any]], list[GovshareError]]:
    """The binding's value rules (``[{"item": name, "rule": {…}}]``) checked against the entry's items: the
    rules by item position, and every problem (``field`` ``rules.<n>.<field>``), naming the item."""
    from govshare.exchange.engine.rules import RuleError, parse_rule

    items = items_of(version)
    position = {item.name: n for n, item in enumerate(items)}
    found: dict[int, list[Any]] = {}
    problems: list[GovshareError] = []
    if not isinstance(data, list):
        return {}, [ValidationFailed("rule_invalid", RULE_WORDS["rule_invalid"], field="rules", item="")]
    for n, row in enumerate(data):
        name = str(row.get("item", "")) if isinstance(row, dict) else ""
        if name not in position:
            problems.append(ValidationFailed("rule_item_unknown", RULE_WORDS["rule_item_unknown"],
                                             field=f"rules.{n}.item", label=name or "—", item=name))
            continue
        item = items[position[name]]
        try:
            rule = parse_rule(row.get("rule"), item.data_type)
        except RuleError as exc:
            where = f"rules.{n}.{exc.field}" if exc.field else f"rules.{n}"
            problems.append(ValidationFailed(exc.code, RULE_WORDS.get(exc.code, RULE_WORDS["rule_invalid"]),
                                             field=where, label=name, item=name, letter=item.data_type,
                                             detail=exc.detail[:200]))
            continue
        found.setdefault(position[name], []).append(rule)
    return found, problems
