"""The guide's rules for an entry's content (CAT-1, CAT-2, CAT-6), checked in one place.

:func:`check_content` returns *every* problem (imports report them all, row by row); actions raise
them together as :class:`~govshare.core.errors.ManyProblems`.  The input is a plain dict (the
shape of :func:`govshare.catalog.models.version_content`); the output is the normalised dict.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import (
    DATA_TYPES_WITH_LENGTH,
    DataType,
    FormatClass,
    OpenAttribute,
    ShareMethod,
    ShareType,
    UpdateCycle,
)
from govshare.core import masking
from govshare.core.errors import GovshareError, ManyProblems, ValidationFailed
from govshare.core.validators import has_control_characters

CODE_RE = re.compile(r"^[0-9]{1,16}/[0-9]{6}$")  # ASCII digits: \d also takes ٣ and ３
MAX_ITEMS = 500
MAX_KEYWORDS = 20


@dataclass
class Checked:
    content: dict[str, Any]
    items: list[dict[str, Any]]
    problems: list[GovshareError] = field(default_factory=list)


def _p(problems: list[GovshareError], code: str, message: Any, field: str, **params: Any) -> None:
    problems.append(ValidationFailed(code, message, field=field, **params))


def _text(data: dict[str, Any], key: str, max_len: int) -> str:
    value = data.get(key)
    if value is None:
        return ""
    return str(value).strip()[: max_len + 1]


def _clean_text(problems: list[GovshareError], value: Any, field: str, max_len: int) -> str:
    """The stripped text of ``value``; an over-long text or one with control characters (NUL …) is
    reported against ``field``, never cut or stored silently (imports send whatever they like)."""
    text = "" if value is None else str(value).strip()
    if has_control_characters(text):
        _p(problems, "control_characters", _("Remove the control characters (such as NUL) from this text."),
           field)
    if len(text) > max_len:
        _p(problems, "too_long", _("At most %(max)s characters."), field, max=max_len)
    return text[:max_len]


def name_key(name: str) -> str:
    """What makes two names the same to a reader: full-width and half-width forms (NFKC), white space
    and invisible format characters (zero-width space …) do not count."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch) != "Cf")


def _str_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = re.split(r"[;；,，、\s]+", value)
    elif isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = [str(value)]
    out: list[str] = []
    for part in parts:
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def check_content(data: dict[str, Any], *, domains: tuple[str, ...] = ()) -> Checked:
    """Normalise and check one entry's content; ``domains`` is the profile's open-data domain list."""
    problems: list[GovshareError] = []
    c: dict[str, Any] = {}
    c["classification"] = _text(data, "classification", 16)
    if not c["classification"]:
        _p(problems, "required", _("This field is required."), "classification")
    name = _clean_text(problems, data.get("name"), "name", 200)
    if not name:
        _p(problems, "required", _("This field is required."), "name")
    c["name"] = name
    c["summary"] = _clean_text(problems, data.get("summary"), "summary", 4000)
    if not c["summary"]:
        _p(problems, "required", _("This field is required."), "summary")
    keywords = _str_list(data.get("keywords"))
    if len(keywords) > MAX_KEYWORDS:
        _p(problems, "too_many", _("At most %(max)s keywords."), "keywords", max=MAX_KEYWORDS)
    c["keywords"] = []
    for keyword in keywords[:MAX_KEYWORDS]:
        checked = _clean_text(problems, keyword, "keywords", 40)
        if checked not in c["keywords"]:
            c["keywords"].append(checked)

    c["format_class"] = _text(data, "format_class", 20)
    if c["format_class"] not in FormatClass.values:
        _p(problems, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
           "format_class", value=c["format_class"] or "—", choices="/".join(FormatClass.values))
    c["format"] = _clean_text(problems, data.get("format"), "format", 60)

    share_type = _text(data, "share_type", 16)
    c["share_type"] = share_type
    if share_type not in ShareType.values:
        _p(problems, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
           "share_type", value=share_type or "—", choices="/".join(ShareType.values))
    c["share_condition"] = _clean_text(problems, data.get("share_condition"), "share_condition", 2000)
    methods = _str_list(data.get("share_methods"))
    bad = [m for m in methods if m not in ShareMethod.values]
    if bad:
        _p(problems, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
           "share_methods", value=bad[0], choices="/".join(ShareMethod.values))
    c["share_methods"] = [m for m in methods if m in ShareMethod.values]
    c["share_basis"] = _clean_text(problems, data.get("share_basis"), "share_basis", 2000)
    # the guide's rules (N51-§10(一), LN-§11)
    if share_type == ShareType.UNCONDITIONAL and not c["share_methods"]:
        _p(problems, "share_method_required", _("An unconditionally shared resource needs a share method."),
           "share_methods")
    if share_type == ShareType.CONDITIONAL:
        if not c["share_condition"]:
            _p(problems, "share_condition_required",
               _("A conditionally shared resource needs its share condition."), "share_condition")
        if not c["share_methods"]:
            _p(problems, "share_method_required", _("A conditionally shared resource needs a share method."),
               "share_methods")
        if not c["share_basis"]:
            _p(problems, "basis_required",
               _("A conditionally shared resource needs its legal or policy basis (CAT-2)."), "share_basis")
    if share_type == ShareType.NONE:
        if not c["share_basis"]:
            _p(problems, "basis_required",
               _("A resource that is not shared needs its legal or policy basis (CAT-2)."), "share_basis")
        c["share_methods"] = []

    open_attr = _text(data, "open_attribute", 16) or OpenAttribute.NOT_OPEN
    c["open_attribute"] = open_attr
    if open_attr not in OpenAttribute.values:
        _p(problems, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
           "open_attribute", value=open_attr, choices="/".join(OpenAttribute.values))
    c["open_condition"] = _clean_text(problems, data.get("open_condition"), "open_condition", 2000)
    if open_attr in (OpenAttribute.OPEN, OpenAttribute.ON_APPLICATION) and share_type in ShareType.values \
            and share_type != ShareType.UNCONDITIONAL:
        _p(problems, "open_needs_unconditional",
           _("A resource open to the public must be shared unconditionally (CAT-6, LN-§7)."), "share_type")
    if open_attr == OpenAttribute.ON_APPLICATION and not c["open_condition"]:
        _p(problems, "open_condition_required",
           _("A resource open on application needs its open condition."), "open_condition")
    domain = _clean_text(problems, data.get("domain"), "domain", 40)
    c["domain"] = domain
    if domain and domains and domain not in domains:
        _p(problems, "unknown_domain", _("%(value)s is not an open-data domain of this profile (%(choices)s)."),
           "domain", value=domain, choices="、".join(domains))
    if open_attr in (OpenAttribute.OPEN, OpenAttribute.ON_APPLICATION) and not domain and domains:
        _p(problems, "domain_required", _("A resource open to the public needs its open-data domain."), "domain")

    c["update_cycle"] = _text(data, "update_cycle", 12)
    if c["update_cycle"] not in UpdateCycle.values:
        _p(problems, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
           "update_cycle", value=c["update_cycle"] or "—", choices="/".join(UpdateCycle.values))
    c["update_cycle_note"] = _clean_text(problems, data.get("update_cycle_note"), "update_cycle_note", 100)
    if c["update_cycle"] == UpdateCycle.OTHER and not c["update_cycle_note"]:
        _p(problems, "update_cycle_note_required", _("Describe the update cycle when it is 'other'."),
           "update_cycle_note")
    related = _str_list(data.get("related_codes"))
    for code in related:
        if not CODE_RE.match(code):
            _p(problems, "invalid_code", _("%(value)s is not a resource code (classification/sequence)."),
               "related_codes", value=code)
    c["related_codes"] = related

    items = check_items(data.get("items") or [], problems)
    return Checked(c, items, problems)


def check_items(raw_items: Any, problems: list[GovshareError]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if not isinstance(raw_items, (list, tuple)):
        _p(problems, "invalid", _("Information items must be a list."), "items")
        return items
    if not raw_items:
        _p(problems, "items_required", _("A resource needs at least one information item."), "items")
    if len(raw_items) > MAX_ITEMS:
        _p(problems, "too_many", _("At most %(max)s information items."), "items", max=MAX_ITEMS)
        raw_items = raw_items[:MAX_ITEMS]
    seen: set[str] = set()
    for index, raw in enumerate(raw_items, start=1):
        where = f"items[{index}]"
        if not isinstance(raw, dict):
            _p(problems, "invalid", _("An information item must be an object."), where)
            continue
        name = _clean_text(problems, raw.get("name") or "", f"{where}.name", 100)
        key = name_key(name)
        if not name:
            _p(problems, "required", _("This field is required."), f"{where}.name")
        elif key in seen:  # 姓名 and 姓名 with a zero-width space, ＩＤ and ID: the same item to a reader
            _p(problems, "duplicate_item", _("The information item %(name)s appears twice."), f"{where}.name",
               name=name)
        seen.add(key)
        data_type = str(raw.get("data_type") or "").strip().upper()
        if data_type not in DataType.values:
            _p(problems, "invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
               f"{where}.data_type", value=data_type or "—", choices="/".join(DataType.values))
        length = raw.get("length")
        if length in ("", None):
            length = None
        else:
            try:
                length = int(str(length).strip())
                if isinstance(raw.get("length"), float) and raw["length"] != int(raw["length"]):
                    raise ValueError
                if length <= 0 or length > 1_000_000:
                    raise ValueError
            except (TypeError, ValueError):
                _p(problems, "invalid_length", _("%(value)s is not a valid length (a whole number ≥ 1)."),
                   f"{where}.length", value=str(raw.get("length")))
                length = None
        if length is None and data_type in DATA_TYPES_WITH_LENGTH:
            _p(problems, "length_required", _("Data type %(type)s needs a length."), f"{where}.length",
               type=data_type)
        sensitive = _bool(raw.get("is_sensitive"))
        masking = _clean_text(problems, raw.get("masking_rule") or "", f"{where}.masking_rule", 200)
        if sensitive and not masking:
            _p(problems, "masking_required", _("A sensitive item needs its masking rule."),
               f"{where}.masking_rule")
        elif masking:
            _check_masking_rule(problems, masking, data_type, sensitive, f"{where}.masking_rule")
        items.append({
            "name": name[:100], "data_type": data_type, "length": length,
            "description": _clean_text(problems, raw.get("description") or "", f"{where}.description", 500),
            "is_primary_key": _bool(raw.get("is_primary_key")), "is_sensitive": sensitive,
            "masking_rule": masking,
        })
    return items


def _check_masking_rule(problems: list[GovshareError], rule: str, data_type: str, sensitive: bool,
                        field: str) -> None:
    problem = masking_rule_problem(rule, data_type, sensitive, field)
    if problem is not None:
        problems.append(problem)


def masking_rule_problem(rule: str, data_type: str, sensitive: bool, field: str) -> GovshareError | None:
    """Why a masking rule cannot go with an item, or None: every delivery channel must be able to apply it (SEC-3,
    :mod:`govshare.core.masking`): one it understands, that hides something on a sensitive item, and fits the item's
    data type.  The catalog's items and the grants' masking are both checked with it."""
    problems: list[GovshareError] = []
    try:
        mask = masking.parse(rule)
    except masking.MaskRuleError:
        return ValidationFailed("masking_rule_unknown", MASKING_RULE_HELP, field=field, rule=rule)
    if sensitive and (not mask.hides_value or (mask.kind == "round" and mask.digits >= 0 and data_type == "I")):
        _p(problems, "masking_hides_nothing", _("A sensitive item needs a masking rule that hides something, "
                                                "not %(rule)s."), field, rule=rule)
    elif mask.kind == "date" and data_type not in ("D", "T", "C"):
        _p(problems, "masking_wrong_type", _("%(rule)s masks dates; the item's data type is %(type)s."), field,
           rule=rule, type=data_type)
    elif mask.kind == "round" and data_type not in ("N", "Y", "I", "B", "F"):
        _p(problems, "masking_wrong_type", _("%(rule)s rounds numbers; the item's data type is %(type)s."), field,
           rule=rule, type=data_type)
    return problems[0] if problems else None


#: what a masking rule may say (shown when one is not understood)
MASKING_RULE_HELP = _("The masking rule %(rule)s is not understood. Write it like: 保留前6位和后4位，其余以*替代; "
                      "仅保留后4位; 保留姓氏; 自然人保留姓氏，单位名称不脱敏; 保留至乡镇（街道）一级; 日期保留到月; "
                      "取整; 保留2位小数; 四舍五入到百位; 假名化; 不提供明文.")


TRUE_WORDS = {"1", "true", "yes", "y", "是", "√", "✓", "t"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否", "f", "none"}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in TRUE_WORDS


def raise_problems(problems: list[GovshareError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ManyProblems(problems)
