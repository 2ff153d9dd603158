"""Masking (脱敏) of sensitive information items, Django-free: its one home (SEC-3, LN-§22; issue 11).

A catalog item carries its masking rule as free text (``masking_rule``, e.g. “保留前6位和后4位，其余以*替代”)
and a grant carries ``masking: {item name: rule text}``.  :func:`parse` turns such a text into a structured
:class:`Mask`; :meth:`Mask.apply` masks one value and :func:`mask_row` a row.  The table-copy engines, the
file channel and the data API all call this module, so it imports the standard library only.

**Fail closed.**  :func:`parse` is strict: a text it does not understand raises
:class:`MaskRuleError` (``unknown_rule``), never a guess, and a channel refuses to deliver an item whose rule
does not parse.  A value a mask cannot handle (bytes for a text mask, a non-date for a date mask) raises
``not_applicable``; the error names the kind of value, never the value.

Rule texts (normalised first: NFKC, so full-width digits, letters and brackets become half-width;
whitespace removed; ，,、；;。 are one separator; counts in Arabic digits or Chinese numerals 零…十, 两,
up to 九十九).  A rule may end with a replacement clause — 其余以X替代 / 其余用X代替 / 其余以X号替代 /
其后以X替代 / 其余替换为X (X one character, 星号 = ``*``; default ``*``) — which only the kinds that replace
characters (keep, surname, person_surname, address) accept:

=================  ==========================================================  =========================
kind               rule texts                                                  structured form
=================  ==========================================================  =========================
``keep``           保留前m位和后n位, 保留前m位、后n位, (仅)保留前m位, (仅)保留后n位   ``keep:first=6,last=4``
                   全部遮盖 (every character replaced)                          ``keep:first=0,last=0``
                   (位 / 个字符 / 字; m, n 0…64)                                (``,fill=#``)
                   自然人保留前m位和后n位，单位不脱敏: a valid unified social      ``keep:first=6,last=4,``
                   credit code (an organisation's, GB 32100) is left as it is     ``person``
``surname``        保留姓氏, 仅显示姓氏, 只保留姓                                 ``surname``
``person_surname`` 自然人保留姓氏，单位名称不脱敏, 个人保留姓氏，单位不脱敏            ``person_surname``
``address``        保留至乡镇（街道）一级, 保留到乡镇(街道), 保留至乡镇级              ``address:township``
``null``           不提供明文… (anything after it), 置空, 不提供, 不予提供, 屏蔽      ``null``
``date``           日期保留到月, 保留至月份, 精确到月; …到年, 保留至年份, 精确到年      ``date:month``, ``date:year``
``round``          取整, 数值取整; 保留n位小数; 四舍五入到十位/百位/千位/万位, 精确到百位  ``round:2``, ``round:-3``
``pseudonym``      假名, 假名化, 按授权生成假名, 关键字哈希, 哈希化                     ``pseudonym``
``none``           "" (or None), 不脱敏, 无                                      ``none``
=================  ==========================================================  =========================

Structured forms are case-insensitive and may have spaces around their punctuation;
``parse(m.canonical()) == m`` for every mask.  The health rule of the demo (“不提供明文；统计用途仅提供疾病
分类编码（ICD-10）前3位”) is ``null``: its second clause is a purpose-specific exception the platform does
not apply — it delivers nothing.

What :meth:`Mask.apply` does (``None`` stays ``None`` for every kind):

* The text kinds (keep, surname, person_surname, address, pseudonym) work on the value's text — a str as
  is, an int as ``str()``, a Decimal without exponent (``format(d, "f")``, its stored scale kept), a float
  as its shortest repr without exponent, a date/time in ISO form (``isoformat(" ")`` for a datetime), a
  bool as ``true``/``false``, a UUID as its text; bytes and other types raise ``not_applicable`` — and
  return a str.  Characters are code points: a Chinese character counts one.
* ``keep`` shows the first m and last n characters and replaces each other one (the length is kept).  A
  value of no more than m + n characters shows at most half of its characters (rounded down): s = len // 2
  characters, of which ``s * m // (m + n)`` at the start and the rest at the end — ``keep:first=3,last=4``
  shows ``**34`` of ``1234``.
* ``surname`` keeps the surname — two characters for a compound surname (欧阳, 司马, … :data:`COMPOUND_SURNAMES`)
  of a name longer than two characters, else one — and replaces every other character except the name
  separators · • ・ ‧ and spaces.  A one-character name is masked entirely.  A Latin-script name keeps its
  first word and masks the letters and digits of the others (“Zhang ***”); a one-word Latin name keeps its
  first character.
* ``person_surname`` leaves organisation names as they are and masks person names as ``surname``.  This is a
  heuristic on the value (:func:`is_organisation`), erring towards masking: an organisation name contains a
  multi-character marker (公司, 中心, 医院, 委员会 …) anywhere, or ends with a one-character marker (局, 厂,
  院, 学, 村 …), or has more than 6 characters besides separators — except a name with a separator ·
  (a transliterated person name) or in Latin script, which is an organisation only by a marker.
* ``address`` keeps the text up to and including the earliest township-level marker (街道, 镇, 乡, 苏木; a
  lone 街 is none) and replaces each character after it; without one, it keeps up to the last county-level
  marker (县, 区, 市, 旗) within the first 12 characters; without that, it masks the whole value.
* ``null`` returns ``None``.
* ``date`` turns a date, a datetime (its own calendar date, no time-zone conversion) or an ISO date text
  (``YYYY-MM-DD…`` or ``YYYYMMDD``) into ``"YYYY-MM"`` or ``"YYYY"``.
* ``round`` rounds half away from zero (ROUND_HALF_UP) at ``digits`` decimal places (negative: tens,
  hundreds …): an int stays an int (unchanged for digits ≥ 0), a Decimal a Decimal (exponent 0 for negative
  digits), a float a float (rounded through ``Decimal(repr(x))``), a numeric text a text; NaN and infinities
  are returned as they are; a bool or anything else raises ``not_applicable``.
* ``pseudonym`` needs the grant's key (:func:`grant_key`; else ``needs_key``): ``"P"`` + 16 characters of
  base32(HMAC-SHA256(key, text)).  The same value gives the same token within a grant and another token in
  another grant.  The token depends on the text only: the int 42 and the str "42" give the same token (but
  ``Decimal("42.0")``, text "42.0", another one).
* ``none`` returns the value unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

KINDS = ("none", "keep", "surname", "person_surname", "address", "null", "date", "round", "pseudonym")
#: the kinds whose masked value is text (data-type letter C)
TEXT_KINDS = frozenset({"keep", "surname", "person_surname", "address", "pseudonym", "date"})
#: the kinds that replace characters with the fill character
FILL_KINDS = frozenset({"keep", "surname", "person_surname", "address"})
#: the catalog's data-type letters (C text, M long text, N/Y decimal, I integer, B/F float, D date,
#: T datetime, L boolean, G binary)
LETTERS = "CNYDTLMGBIF"
DEFAULT_FILL = "*"
MAX_KEEP = 64
MAX_DIGITS = 12
DATE_UNITS = ("month", "year")
PSEUDONYM_CONTEXT = b"govshare pseudonym v1\x00"

COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木",
    "独孤", "南宫", "万俟", "闻人", "百里", "西门", "呼延", "澹台", "公冶", "太史", "申屠", "淳于", "濮阳", "钟离", "宗政", "仲孙",
    "拓跋", "赫连", "单于"})
#: characters of a name that ``surname`` leaves in place (besides whitespace)
NAME_SEPARATORS = frozenset("·•・‧.．-‐‑")
#: organisation markers that count anywhere in a value (person_surname)
ORGANISATION_WORDS = ("公司", "企业", "集团", "中心", "委员会", "医院", "银行", "协会", "学会", "基金会", "研究",
                      "合作社", "事务所", "工作室", "门市", "商行", "政府", "街道", "有限", "股份", "学校",
                      "幼儿园", "超市", "酒店", "饭店", "商店", "农场", "工厂", "经营部", "服务部", "管理局", "办事处")
#: organisation markers that count as a value's last character (a person's given name may hold them)
#: (characters common in given names — 学 会 行 科 … — are not among them: 张文学 is a person)
ORGANISATION_ENDINGS = frozenset("厂店社局委院校所站馆")
#: Latin-script organisation words (whole words, case-insensitive)
LATIN_ORGANISATION_WORDS = frozenset({"co", "ltd", "limited", "inc", "llc", "corp", "corporation", "company",
                                      "gmbh", "bank", "university", "association", "foundation", "institute"})
TOWNSHIP_MARKERS = ("街道", "镇", "乡", "苏木")
COUNTY_MARKERS = "县区市"  # and 旗 after a 盟 (Inner Mongolia): 红旗大道 is a road
#: how many leading characters of an address without a township marker are searched for a county marker
COUNTY_SEARCH = 12

ACCEPTED = ("保留前m位和后n位 / 仅保留后n位 (keep:first=m,last=n), 保留姓氏 (surname), "
            "自然人保留姓氏，单位名称不脱敏 (person_surname), 保留至乡镇（街道）一级 (address:township), "
            "不提供明文 / 置空 (null), 日期保留到月 / 到年 (date:month, date:year), "
            "取整 / 保留n位小数 / 四舍五入到百位 (round:n), 假名化 (pseudonym), 不脱敏 (none); "
            "optionally ending in 其余以X替代")


class MaskRuleError(ValueError):
    """A masking rule that cannot be used, or a value a mask cannot handle (SEC-3: fail closed).

    ``code``: ``empty_rule`` (only punctuation or a replacement clause), ``unknown_rule``, ``bad_number``
    (a count out of range or not a number), ``needs_key`` (a pseudonym without the grant's key),
    ``not_applicable`` (a value the mask cannot handle).  ``detail`` is English and names the rule text or
    the kind of value, never a value."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        # copy engines may hand the error across processes: rebuild it from both arguments
        return (type(self), (self.code, self.detail))


def _fill_problem(fill: Any) -> str | None:
    """Why ``fill`` cannot be a fill character, or None: one visible character, not a digit (a masked
    number must not look like a real one), not a separator of the rule syntax, unchanged by NFKC."""
    if not isinstance(fill, str) or len(fill) != 1:
        return "the fill must be one character"
    if fill.isspace() or unicodedata.category(fill).startswith("C"):
        return "the fill must be a visible character"
    if fill.isdigit() or fill in "〇零OoIl" or fill in NAME_SEPARATORS:
        return "the fill must not be a digit, a letter like one or a name separator (a masked value must not look real)"
    if fill in ",:=;、。\"'" or unicodedata.normalize("NFKC", fill) != fill:
        return "the fill must not be punctuation of the rule syntax or a full-width form"
    return None


@dataclass(frozen=True)
class Mask:
    """A parsed masking rule (SEC-3): see the module docstring for each kind.  Fields that do not belong
    to the kind must keep their defaults (so ``parse(m.canonical()) == m``); an ``address`` mask's unit is
    ``township``."""

    kind: str
    first: int = 0
    last: int = 0
    fill: str = DEFAULT_FILL
    unit: str = ""
    digits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MaskRuleError("unknown_rule", f"unknown mask kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if self.kind == "address" and self.unit == "":
            object.__setattr__(self, "unit", "township")
        for name in ("first", "last", "digits"):
            number = getattr(self, name)
            if not isinstance(number, int) or isinstance(number, bool):
                raise MaskRuleError("bad_number", f"{self.kind} mask: {name} must be an int")
        if self.kind == "keep":
            if not (0 <= self.first <= MAX_KEEP and 0 <= self.last <= MAX_KEEP):
                raise MaskRuleError("bad_number", f"keep mask: first and last must be 0…{MAX_KEEP}")
        elif self.first or self.last:
            raise MaskRuleError("unknown_rule", f"{self.kind} mask: first and last belong to keep only")
        if self.kind == "round":
            if not -MAX_DIGITS <= self.digits <= MAX_DIGITS:
                raise MaskRuleError("bad_number", f"round mask: digits must be -{MAX_DIGITS}…{MAX_DIGITS}")
        elif self.digits:
            raise MaskRuleError("unknown_rule", f"{self.kind} mask: digits belong to round only")
        units = {"date": DATE_UNITS, "address": ("township",), "keep": ("", "person")}.get(self.kind, ("",))
        if self.unit not in units:
            raise MaskRuleError("unknown_rule", f"{self.kind} mask: unit must be one of {units}")
        if self.kind in FILL_KINDS:
            problem = _fill_problem(self.fill)
            if problem:
                raise MaskRuleError("unknown_rule", f"{self.kind} mask: {problem}")
        elif self.fill != DEFAULT_FILL:
            raise MaskRuleError("unknown_rule", f"{self.kind} mask replaces no characters: it takes no fill")

    def canonical(self) -> str:
        """The structured form: ``keep:first=6,last=4``, ``surname``, ``address:township``, ``date:month``,
        ``round:-2``, … with ``fill=X`` when the fill is not ``*``."""
        fill = [] if self.fill == DEFAULT_FILL else [f"fill={self.fill}"]
        params: list[str]
        if self.kind == "keep":
            params = [f"first={self.first}", f"last={self.last}", *([self.unit] if self.unit else []), *fill]
        elif self.kind == "address":
            params = [self.unit, *fill]
        elif self.kind == "date":
            params = [self.unit]
        elif self.kind == "round":
            params = [str(self.digits)]
        else:
            params = fill
        return f"{self.kind}:{','.join(params)}" if params else self.kind

    @property
    def hides_value(self) -> bool:
        """Whether the mask changes what is delivered: False only for ``none``."""
        return self.kind != "none"

    @property
    def shows_nothing(self) -> bool:
        """Whether no character of the value is delivered: ``null``, and ``keep`` of none at either end (stars)."""
        return self.kind == "null" or (self.kind == "keep" and self.first == 0 and self.last == 0)

    def apply(self, value: Any, *, key: bytes | None = None) -> Any:
        """The masked ``value`` (``None`` stays ``None``); ``key`` is the grant's pseudonym key
        (:func:`grant_key`), needed by ``pseudonym`` only."""
        if value is None:
            return None
        return _APPLY[self.kind](self, value, key)

    def output_letter(self, letter: str) -> str:
        """The data-type letter of the masked value for an item of type ``letter``: ``C`` for the text
        kinds and ``date``; the item's own letter for ``null``, ``round`` and ``none``."""
        if letter not in LETTERS or len(letter) != 1:
            raise ValueError(f"unknown data-type letter {letter!r}; letters: {LETTERS}")
        return "C" if self.kind in TEXT_KINDS else letter


#: GB 32100-2015: the characters of a unified social credit code and the weights of its check character
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 32100-2015 登记管理部门代码: the first character of a credit code
USCC_AUTHORITIES = frozenset("123456789ANY")
#: GB 11643-1999: the weights of an identity number's check character and the character for each remainder
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


# ------------------------------------------------------------------ parsing

_SEPARATOR = re.compile(r"[,，、;；。]")
_STRUCTURED = re.compile(r"([A-Za-z_]+)(?::(.*))?", re.S)
_NUMBER = r"([0-9]+|[零〇一二两三四五六七八九十]+)"
_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                   "八": 8, "九": 9}
_FILL_CLAUSE = re.compile(
    r"(?:(?:其余|其后|其他|剩余)(?:部分)?(?:以|用)[\"'“”‘’「」]?(星号|[^\"'“”‘’「」])[\"'“”‘’「」]?号?"
    r"(?:替代|代替|替换|填充|表示|遮盖)"
    r"|(?:其余|其后|其他|剩余)(?:部分)?替换(?:为|成)[\"'“”‘’「」]?(星号|[^\"'“”‘’「」])[\"'“”‘’「」]?号?)$")
_UNIT = r"(?:位|个字符|个字|字)"
_KEEP = re.compile(
    rf"(?:仅|只)?保留(?:(?:前|首){_NUMBER}{_UNIT}(?:(?:和|及|与|以及|,)?(?:后|末|最后){_NUMBER}{_UNIT})?"
    rf"|(?:后|末|最后){_NUMBER}{_UNIT})")
_PERSON_KEEP = re.compile(r"(?:自然人|个人)(?:证件号码?|身份证件号码?|身份证号码?)?(.+),"
                          r"(?:单位|法人|机构|组织)(?:证件号码?|代码|名称)?不脱敏")
_ALL = re.compile(r"(?:全部|全文|整体)(?:遮盖|隐藏|遮蔽|替代|替换|以\*替代|用\*替代)")
_SURNAME = re.compile(r"(?:姓名)?(?:仅|只)?(?:保留|显示)姓氏?")
_PERSON = r"(?:自然人|个人)(?:姓名)?(?:仅|只)?(?:保留|显示)姓氏?"
_ORGANISATION = r"(?:单位|法人|机构|组织)(?:名称)?不(?:做|作)?脱敏"
_PERSON_SURNAME = re.compile(rf"{_PERSON},?{_ORGANISATION}|{_ORGANISATION},?{_PERSON}")
_ADDRESS = re.compile(r"(?:地址)?(?:仅|只)?保留(?:至|到)乡镇(?:\(街道(?:办事处)?\)|/街道|或街道|街道)?(?:一级|级)?")
_NULL = re.compile(r"置空|不提供|不予提供|屏蔽")
_DATE_MONTH = re.compile(r"(?:日期)?(?:保留|精确)(?:至|到)(?:年月|月份?)")
_DATE_YEAR = re.compile(r"(?:日期)?(?:保留|精确)(?:至|到)年份?")
_ROUND_INTEGER = re.compile(r"(?:数值)?(?:四舍五入)?取整|(?:四舍五入|精确|保留)(?:到|至)(?:整数|个位)")
_ROUND_DECIMALS = re.compile(rf"(?:四舍五入)?(?:保留{_NUMBER}位小数|(?:精确|保留)(?:到|至)小数点后{_NUMBER}位)")
_ROUND_PLACE = re.compile(r"(?:四舍五入|精确|保留)(?:到|至)(十|百|千|万|十万|百万|千万|亿)位")
_PLACES = {"十": -1, "百": -2, "千": -3, "万": -4, "十万": -5, "百万": -6, "千万": -7, "亿": -8}
_PSEUDONYM = re.compile(r"按授权生成假名|假名化?(?:处理)?|(?:关键字)?哈希化?(?:处理)?")
_NONE = re.compile(r"不脱敏|无需脱敏|无")


def _shown(rule: str) -> str:
    return repr(rule if len(rule) <= 200 else rule[:200] + "…")


def _unknown(rule: str, why: str = "") -> MaskRuleError:
    reason = f" ({why})" if why else ""
    return MaskRuleError("unknown_rule", f"masking rule {_shown(rule)} is not understood{reason}; "
                                         f"accepted: {ACCEPTED}")


def _count(text: str, rule: str, low: int, high: int) -> int:
    """A count in Arabic digits or Chinese numerals (零…九, 十, 两; up to 九十九), in low…high."""
    number: int | None = None
    if text.isascii() and text.isdigit():
        number = int(text) if len(text) <= 4 else None
    elif text.count("十") <= 1 and all(ch in _CHINESE_DIGITS or ch == "十" for ch in text):
        if "十" in text:
            tens, _, ones = text.partition("十")
            if len(tens) <= 1 and len(ones) <= 1 and tens not in ("零", "〇"):
                number = _CHINESE_DIGITS[tens] * 10 if tens else 10
                number += _CHINESE_DIGITS[ones] if ones else 0
        elif len(text) == 1:
            number = _CHINESE_DIGITS[text]
    if number is None or not low <= number <= high:
        raise MaskRuleError("bad_number", f"masking rule {_shown(rule)}: {text!r} is not a count in {low}…{high}")
    return number


def _normalise(rule: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", rule).split())
    return _SEPARATOR.sub(",", text)


@functools.lru_cache(maxsize=4096)
def parse(rule: str | None) -> Mask:
    """The :class:`Mask` of a rule text or structured form (SEC-3); ``""``, ``None``, 不脱敏 and ``none``
    give ``Mask("none")``.  Strict: a text it does not understand raises :class:`MaskRuleError`
    (``unknown_rule``, ``bad_number`` or ``empty_rule``) — a channel then refuses to deliver the item."""
    if rule is None:
        return Mask("none")
    if not isinstance(rule, str):
        raise MaskRuleError("unknown_rule", f"a masking rule is text, not {type(rule).__name__}")
    text = _normalise(rule)
    if not text:
        return Mask("none")
    if text.startswith("不提供明文"):
        return Mask("null")
    if text[0].isascii() and text[0].isalpha():
        return _parse_structured(text, rule)
    fill: str | None = None
    body: list[str] = []
    for clause in text.split(","):
        found = _FILL_CLAUSE.search(clause)
        if found:
            char = found.group(1) or found.group(2)
            char = DEFAULT_FILL if char == "星号" else char
            if fill is not None and fill != char:
                raise _unknown(rule, "two different replacement characters")
            fill = char
            clause = clause[:found.start()]
        if clause:
            body.append(clause)
    if not body:
        raise MaskRuleError("empty_rule", f"masking rule {_shown(rule)} says nothing about what to keep; "
                                          f"accepted: {ACCEPTED}")
    mask = _parse_text(",".join(body), rule)
    if fill is None:
        return mask
    if mask.kind not in FILL_KINDS:
        raise _unknown(rule, f"a {mask.kind} rule replaces no characters: it takes no replacement character")
    problem = _fill_problem(fill)
    if problem:
        raise _unknown(rule, problem)
    return Mask(mask.kind, mask.first, mask.last, fill, mask.unit, mask.digits)


def _parse_text(body: str, rule: str) -> Mask:
    if found := _PERSON_KEEP.fullmatch(body):  # 自然人保留前6位和后4位；单位不脱敏: organisations' codes as they are
        kept = _parse_text(found.group(1), rule)
        if kept.kind == "keep":
            return Mask("keep", first=kept.first, last=kept.last, unit="person")
    if _ALL.fullmatch(body):  # 全部遮盖: every character replaced (the length stays visible)
        return Mask("keep")
    if found := _KEEP.fullmatch(body):
        first, last, last_only = found.groups()
        return Mask("keep",
                    first=_count(first, rule, 0, MAX_KEEP) if first else 0,
                    last=_count(last or last_only, rule, 0, MAX_KEEP) if (last or last_only) else 0)
    if _SURNAME.fullmatch(body):
        return Mask("surname")
    if _PERSON_SURNAME.fullmatch(body):
        return Mask("person_surname")
    if _ADDRESS.fullmatch(body):
        return Mask("address", unit="township")
    if _NULL.fullmatch(body):
        return Mask("null")
    if _DATE_MONTH.fullmatch(body):
        return Mask("date", unit="month")
    if _DATE_YEAR.fullmatch(body):
        return Mask("date", unit="year")
    if _ROUND_INTEGER.fullmatch(body):
        return Mask("round", digits=0)
    if found := _ROUND_DECIMALS.fullmatch(body):
        return Mask("round", digits=_count(found.group(1) or found.group(2), rule, 0, MAX_DIGITS))
    if found := _ROUND_PLACE.fullmatch(body):
        return Mask("round", digits=_PLACES[found.group(1)])
    if _PSEUDONYM.fullmatch(body):
        return Mask("pseudonym")
    if _NONE.fullmatch(body):
        return Mask("none")
    raise _unknown(rule)


def _parse_structured(text: str, rule: str) -> Mask:
    found = _STRUCTURED.fullmatch(text)
    kind = found.group(1).lower() if found else ""
    if not found or kind not in KINDS:
        raise _unknown(rule)
    params = found.group(2)
    if params is None:
        if kind in ("keep", "date", "round"):
            raise _unknown(rule, f"{kind} needs its parameters")
        return Mask(kind)
    values: dict[str, str] = {}
    bare: list[str] = []
    for param in params.split(","):
        name, equals, value = param.partition("=")
        if not equals:
            bare.append(param.lower())
        elif name.lower() in values or name.lower() not in ("first", "last", "fill") or not value:
            raise _unknown(rule, f"parameter {param!r}")
        else:
            values[name.lower()] = value
    fill = values.pop("fill", DEFAULT_FILL)
    if fill != DEFAULT_FILL and kind not in FILL_KINDS:
        raise _unknown(rule, f"a {kind} mask takes no fill")
    if (problem := _fill_problem(fill)) is not None:
        raise _unknown(rule, problem)
    if kind == "keep":
        if bare not in ([], ["person"]) or not values:
            raise _unknown(rule, "keep takes first=m and/or last=n (and person)")
        return Mask("keep", first=_count(values.get("first", "0"), rule, 0, MAX_KEEP),
                    last=_count(values.get("last", "0"), rule, 0, MAX_KEEP), fill=fill, unit="".join(bare))
    if values:
        raise _unknown(rule, f"{kind} takes no first or last")
    if kind == "date" and len(bare) == 1 and bare[0] in DATE_UNITS:
        return Mask("date", unit=bare[0])
    if kind == "address" and bare == ["township"]:
        return Mask("address", unit="township", fill=fill)
    if kind == "round" and len(bare) == 1:
        sign = -1 if bare[0].startswith("-") else 1
        digits = bare[0][1:] if bare[0].startswith(("+", "-")) else bare[0]
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 4 or int(digits) > MAX_DIGITS:
            raise MaskRuleError("bad_number", f"masking rule {_shown(rule)}: {bare[0]!r} is not a number of "
                                              f"digits in -{MAX_DIGITS}…{MAX_DIGITS}")
        return Mask("round", digits=sign * int(digits))
    if kind in ("surname", "person_surname") and not bare:
        return Mask(kind, fill=fill)
    raise _unknown(rule, f"parameters of {kind}")


# ------------------------------------------------------------------ keys

def grant_key(secret: bytes, grant: str) -> bytes:
    """The per-grant pseudonym key: HMAC-SHA256(secret, ``b"govshare pseudonym v1\\0"`` + grant), so the
    tokens of one grant cannot be joined with another grant's (SEC-3)."""
    return hmac.new(secret, PSEUDONYM_CONTEXT + grant.encode("utf-8"), hashlib.sha256).digest()


# ------------------------------------------------------------------ applying

def _kind_of(value: Any) -> str:
    return type(value).__name__


def _text(value: Any, kind: str) -> str:
    """The text a text kind masks (see the module docstring)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise MaskRuleError("not_applicable", f"{kind} masking works on text, numbers, dates and booleans, "
                                          f"not on a {_kind_of(value)} value")


def looks_like_id_number(text: str) -> bool:
    """17 digits, a plausible birth date at 7–14 and a last digit or X — a citizen's identity number, its check
    character right or mistyped (a mistyped one is still a person's: review 2)."""
    if len(text) != 18 or not text[:17].isascii() or not text[:17].isdigit() or text[17] not in "0123456789X":
        return False
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return 1800 <= born.year <= 2200


def is_id_number(text: str) -> bool:
    """Whether ``text`` is a citizen's identity number (GB 11643-1999): 17 digits, a valid birth date at 7–14, the
    check character (digit or X)."""
    if len(text) != 18 or not text[:17].isascii() or not text[:17].isdigit() or text[17] not in "0123456789X":
        return False
    try:
        dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    total = sum(int(ch) * weight for ch, weight in zip(text[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == text[17]


def is_uscc(text: str) -> bool:
    """Whether ``text`` is an organisation's unified social credit code (GB 32100-2015) — the structure
    (registration authority, category, a 6-digit area code) and the check character — and *not* a valid citizen's
    identity number (one in 31 of which passes the credit code's check by chance: those are persons, masked).
    ``keep:…,person`` leaves only such codes as they are."""
    if len(text) != 18 or any(ch not in USCC_ALPHABET for ch in text):
        return False
    if text[0] not in USCC_AUTHORITIES or not text[2:8].isdigit() or looks_like_id_number(text):
        return False
    total = sum(USCC_ALPHABET.index(ch) * weight for ch, weight in zip(text[:17], USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31] == text[17]


def _keep(mask: Mask, value: Any, key: bytes | None) -> str:
    text = _text(value, "keep")
    if mask.unit == "person" and len(text) == 18 and is_uscc(text.upper()):  # (upper() may lengthen: "ﬀ" → "FF")
        return text
    size, first, last = len(text), mask.first, mask.last
    if first + last and size <= first + last:
        shown = size // 2
        first = shown * first // (first + last)
        last = shown - first
    return text[:first] + mask.fill * (size - first - last) + text[size - last:]


def _is_separator(ch: str) -> bool:
    return ch in NAME_SEPARATORS or ch.isspace()


def _is_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(ch.isascii() or "LATIN" in unicodedata.name(ch, "") for ch in letters)


#: a name of Chinese characters only (the common case, masked without looking at each character's script)
_HAN_NAME = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f]+")


def _surname_text(text: str, fill: str) -> str:
    if _HAN_NAME.fullmatch(text):  # the same result as below, faster (a download masks millions of names)
        count = len(text)
        end = 0 if count == 1 else 2 if count > 2 and text[:2] in COMPOUND_SURNAMES else 1
        return text[:end] + fill * (count - end)
    start = next((i for i, ch in enumerate(text) if not _is_separator(ch)), len(text))
    if start == len(text):
        return text
    if _is_latin(text):
        end = next((i for i in range(start, len(text)) if _is_separator(text[i])), len(text))
        if end == len(text):
            end = start + 1
        return text[:end] + "".join(fill if ch.isalnum() else ch for ch in text[end:])
    count = sum(1 for ch in text if not _is_separator(ch))
    if count == 1:
        end = start
    elif text[start:start + 2] in COMPOUND_SURNAMES and count > 2:
        end = start + 2
    else:
        end = start + 1
    return text[:end] + "".join(ch if _is_separator(ch) else fill for ch in text[end:])


def _surname(mask: Mask, value: Any, key: bytes | None) -> str:
    return _surname_text(_text(value, "surname"), mask.fill)


def is_organisation(name: str) -> bool:
    """Whether ``person_surname`` takes ``name`` for an organisation — a heuristic on the value, erring
    towards masking (a person name taken for an organisation would be delivered unmasked): a marker of
    :data:`ORGANISATION_WORDS` anywhere, or a last character of :data:`ORGANISATION_ENDINGS` (none common in given
    names); a name in Latin script by a marker of :data:`LATIN_ORGANISATION_WORDS` only.  An organisation without
    a marker is masked like a person (the safe side)."""
    text = name.strip()
    if _is_latin(text):
        return any(word in LATIN_ORGANISATION_WORDS for word in re.findall(r"[^\W\d_]+", text.lower()))
    if any(word in text for word in ORGANISATION_WORDS):
        return True
    # an ending counts on three characters or more (吴局, 张院 are persons); length alone is no evidence
    return len(text) >= 3 and text[-1] in ORGANISATION_ENDINGS


def _person_surname(mask: Mask, value: Any, key: bytes | None) -> str:
    text = _text(value, "person_surname")
    return text if is_organisation(text) else _surname_text(text, mask.fill)


def _address(mask: Mask, value: Any, key: bytes | None) -> str:
    text = _text(value, "address")
    found = [(at, at + len(marker)) for marker in TOWNSHIP_MARKERS if (at := text.find(marker)) >= 0]
    # a township marker counts only before the street level: after a road, a number or a house it is part of a
    # place's name (红旗大道36号江南乡韵小区) and keeping up to it would keep the house
    street = _STREET.search(text)
    found = [place for place in found if street is None or place[1] <= street.start()]
    if found:
        end = min(found)[1]
    else:
        markers = COUNTY_MARKERS + ("旗" if "盟" in text[:COUNTY_SEARCH] else "")  # 旗 is a county in a 盟 only
        end = max(text.rfind(marker, 0, COUNTY_SEARCH) for marker in markers) + 1
        if street is not None and end > street.start():
            end = 0
        if end >= len(text):  # 龙南市人民医院家属区: the last "区" is not a county — keep up to the first 市 at most
            end = text.find("市", 0, COUNTY_SEARCH) + 1 if text.find("市", 0, COUNTY_SEARCH) + 1 < len(text) else 0
    return text[:end] + mask.fill * (len(text) - end)


#: the street level of an address: a road, lane, number, building, or any digit
_STREET = re.compile(r"[0-9０-９]|大道|大街|路|街(?!道)|巷|弄|胡同|号|栋|幢|楼|室|小区|村委|组")


_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ].*)?|([0-9]{4})([0-9]{2})([0-9]{2})", re.S)
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _date(mask: Mask, value: Any, key: bytes | None) -> str:
    if isinstance(value, dt.date):
        year, month = value.year, value.month
    elif isinstance(value, str) and (found := _ISO_DATE.fullmatch(value.strip())):
        parts = found.groups()
        year_text, month_text, day_text = parts[:3] if parts[0] else parts[3:]
        try:
            day = dt.date(int(year_text), int(month_text), int(day_text))
        except ValueError:
            raise MaskRuleError("not_applicable", "date masking: a str that is not a valid date") from None
        year, month = day.year, day.month
    else:
        what = "a str that is not an ISO date" if isinstance(value, str) else f"a {_kind_of(value)} value"
        raise MaskRuleError("not_applicable", f"date masking works on dates, datetimes and ISO date texts "
                                              f"(YYYY-MM-DD…, YYYYMMDD), not on {what}")
    return f"{year:04d}-{month:02d}" if mask.unit == "month" else f"{year:04d}"


#: an I item's values are 64-bit (the centre's and every target's bigint)
_INT_LIMITS = (-(2**63), 2**63 - 1)


def _round_int(number: int, digits: int) -> int:
    """Half away from zero to a multiple of 10^-digits; a result past the 64-bit limits (9223372036854775807 to tens
    would be …810, which no channel's bigint holds) is the nearest multiple within them, one step toward zero."""
    if digits >= 0:
        return number
    step = 10 ** -digits
    rounded = (abs(number) + step // 2) // step * step
    if rounded > (-_INT_LIMITS[0] if number < 0 else _INT_LIMITS[1]):
        rounded -= step
    return -rounded if number < 0 else rounded


_ONE = Decimal(1)
_STEPS = {d: Decimal(1).scaleb(-d) for d in range(-12, 13)}


def _round_decimal(number: Decimal, digits: int) -> Decimal:
    if not number.is_finite():
        return number
    if abs(number.adjusted()) + abs(digits) + 3 <= 28:  # the default context holds it (most values): no new context
        rounded = number.quantize(_STEPS[digits], rounding=ROUND_HALF_UP) if digits in _STEPS else \
            number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        if digits < 0:
            rounded = rounded.quantize(_ONE)
        return rounded.copy_abs() if rounded.is_zero() else rounded
    with localcontext() as context:
        context.prec = max(context.prec, abs(number.adjusted()) + abs(digits) + 3)
        rounded = number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        if digits < 0:
            rounded = rounded.quantize(Decimal(1))
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _round(mask: Mask, value: Any, key: bytes | None) -> Any:
    digits = mask.digits
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return _round_int(value, digits)
    elif isinstance(value, Decimal):
        return _round_decimal(value, digits)
    elif isinstance(value, float):
        return float(_round_decimal(Decimal(repr(value)), digits)) if math.isfinite(value) else value
    elif isinstance(value, str):
        text = value.strip()
        if _DECIMAL_TEXT.fullmatch(text):
            return format(_round_decimal(Decimal(text), digits), "f")
        raise MaskRuleError("not_applicable", "round masking: a str that is not a decimal number")
    raise MaskRuleError("not_applicable", f"round masking works on numbers and numeric texts, "
                                          f"not on a {_kind_of(value)} value")


def _pseudonym(mask: Mask, value: Any, key: bytes | None) -> str:
    if not key:
        raise MaskRuleError("needs_key", "pseudonym masking needs the grant's key (grant_key)")
    digest = hmac.new(key, _text(value, "pseudonym").encode("utf-8"), hashlib.sha256).digest()
    return "P" + base64.b32encode(digest).decode("ascii")[:16]


def _null(mask: Mask, value: Any, key: bytes | None) -> None:
    return None


def _none(mask: Mask, value: Any, key: bytes | None) -> Any:
    return value


_APPLY: dict[str, Callable[[Mask, Any, bytes | None], Any]] = {
    "none": _none, "keep": _keep, "surname": _surname, "person_surname": _person_surname, "address": _address,
    "null": _null, "date": _date, "round": _round, "pseudonym": _pseudonym}


def mask_row(masks: Sequence[Mask | None], row: Sequence[Any], *, key: bytes | None = None,
             fail_closed: bool = False) -> list[Any]:
    """``row`` masked position-wise by ``masks`` (``None`` or a ``none`` mask: the value as is); the two
    must have the same length (ValueError).  ``fail_closed`` (what every channel does): a value its mask cannot
    handle becomes ``None`` instead of raising :class:`MaskRuleError` — never the value as it is."""
    return row_masker(masks, key=key, fail_closed=fail_closed)(row)


def row_masker(masks: Sequence[Mask | None], *, key: bytes | None = None,
               fail_closed: bool = False) -> Callable[[Sequence[Any]], list[Any]]:
    """:func:`mask_row` with ``masks`` fixed: the masked positions found once, so a channel that masks millions of
    rows (a download, a delivery) touches only those in each row."""
    width = len(masks)
    active = [(i, _APPLY[mask.kind], mask) for i, mask in enumerate(masks) if mask is not None and mask.kind != "none"]

    def apply(row: Sequence[Any]) -> list[Any]:
        if len(row) != width:
            raise ValueError(f"{width} masks for a row of {len(row)} values")
        out = list(row)
        for i, fn, mask in active:
            value = out[i]
            if value is None:
                continue
            try:
                out[i] = fn(mask, value, key)
            except MaskRuleError:
                if not fail_closed:
                    raise
                out[i] = None
        return out

    return apply


def columns_of(rows: Sequence[Sequence[Any]], width: int) -> list[Sequence[Any]]:
    """A page of rows column by column (``[i]``: the ``i``-th value of each row; ``width`` empty columns for no
    rows) — what :func:`column_masker`'s masker takes."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def column_masker(masks: Sequence[Mask | None], *, key: bytes | None = None,
                  fail_closed: bool = False) -> Callable[[list[Sequence[Any]]], list[Sequence[Any]]]:
    """:func:`row_masker` for a page held column by column (``columns[i]``: the values of ``masks[i]``'s item in
    each row): the same values, each masked column made in one pass over its values and the others left as they
    are (not copied) — a download's millions of rows cost one call per column and page, not one per row."""
    width = len(masks)
    active = [(i, _APPLY[mask.kind], mask) for i, mask in enumerate(masks) if mask is not None and mask.kind != "none"]

    def one(fn: Callable[[Mask, Any, bytes | None], Any], mask: Mask, value: Any) -> Any:
        try:
            return fn(mask, value, key)
        except MaskRuleError:
            if not fail_closed:
                raise
            return None

    def apply(columns: list[Sequence[Any]]) -> list[Sequence[Any]]:
        if len(columns) != width:
            raise ValueError(f"{width} masks for {len(columns)} columns")
        out = list(columns)
        for i, fn, mask in active:
            try:
                out[i] = [None if value is None else fn(mask, value, key) for value in columns[i]]
            except MaskRuleError:  # a value the mask cannot handle: the column again, value by value
                if not fail_closed:
                    raise
                out[i] = [None if value is None else one(fn, mask, value) for value in columns[i]]
        return out

    return apply


# ------------------------------------------------------------------ the same masks in SQL (PostgreSQL)

@dataclass(frozen=True)
class SqlMask:
    """A mask as PostgreSQL expressions over a column (:func:`sql_mask`): ``lets`` — stages of ``(name, SQL)`` pairs
    computed first, stage by stage (each over the column and the names of the stages before it); ``value`` — the masked value, over the column
    and the lets' names; ``flag`` — SQL true for a value these expressions do not mask exactly as :meth:`Mask.apply`
    does (a name outside the Han script, an address without a township), never NULL; such rows are masked in Python.  ``letter``: the masked value's
    data-type letter."""

    value: str
    letter: str
    lets: tuple[tuple[tuple[str, str], ...], ...] = ()
    flag: str | None = None


#: the text-typed letters the SQL forms of the text kinds take (a value's text is the value itself)
_SQL_TEXT = "CM"
_HAN_SQL = r"^[\u3400-\u9fff\U00020000-\U0003134f]+$"
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#: the street level (:data:`_STREET`) as separate searches: PostgreSQL's regular expressions are slow on the whole
_STREET_WORDS = ("大道", "大街", "路", "巷", "弄", "胡同", "号", "栋", "幢", "楼", "室", "小区", "村委", "组")


def sql_literal(text: str) -> str:
    """``text`` as a PostgreSQL string literal (standard_conforming_strings on)."""
    return "'" + text.replace("'", "''") + "'"


def sql_bytes(data: bytes) -> str:
    """``data`` as a PostgreSQL bytea literal (standard_conforming_strings on)."""
    return f"'\\x{data.hex()}'::bytea"


def _in_list(values: Sequence[str] | frozenset[str]) -> str:
    return ", ".join(sql_literal(v) for v in sorted(values))


def _surname_sql(v: str, fill: str) -> str:
    """:func:`_surname_text` of a name of Han characters only (the flag sends the others to Python)."""
    n = f"char_length({v})"
    end = (f"(CASE WHEN {n} = 1 THEN 0 WHEN {n} > 2 AND left({v}, 2) IN ({_in_list(COMPOUND_SURNAMES)}) THEN 2 "
           f"ELSE 1 END)")
    return f"(left({v}, {end}) || repeat({sql_literal(fill)}, {n} - {end}))"


def hmac_sql(key: bytes, message: str) -> str:
    """The SQL of HMAC-SHA256 (RFC 2104) of the bytea expression ``message`` under ``key`` (PostgreSQL 11+): two
    ``sha256()`` calls, the pads made here."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
    return f"sha256({sql_bytes(outer)} || sha256({sql_bytes(inner)} || {message}))"


def sql_mask(mask: Mask | None, letter: str, value: str, *, key: bytes | None = None, name: str = "x"
             ) -> SqlMask | None:
    """``mask`` of an item of type ``letter`` as PostgreSQL expressions over the column ``value`` (an identifier),
    giving exactly what :meth:`Mask.apply` gives (``None`` stays NULL; a value the SQL cannot mask exactly is flagged
    for Python) — or None: this mask of this type has no SQL form (the channel masks every value in Python).
    ``key``: the grant's pseudonym key; ``name``: a prefix for the lets' names, unique per column.  The database
    must be UTF8 (characters are code points, as Python counts them)."""
    if letter not in LETTERS or len(letter) != 1:
        raise ValueError(f"unknown data-type letter {letter!r}; letters: {LETTERS}")
    v = value
    if mask is None or mask.kind == "none":
        return SqlMask(v, letter)
    kind = mask.kind
    if kind == "null":
        return SqlMask("NULL", letter)
    if kind == "date":
        if letter not in "DT":
            return None
        return SqlMask(f"to_char({v}, {sql_literal('YYYY-MM' if mask.unit == 'month' else 'YYYY')})", "C")
    if kind == "round":
        if letter in "NY":
            flag = f"coalesce({v} IN ('NaN'::numeric, 'Infinity'::numeric, '-Infinity'::numeric), false)"
            return SqlMask(f"round({v}, {int(mask.digits)})", letter, flag=flag)
        if letter == "I":
            if mask.digits >= 0:
                return SqlMask(v, letter)
            # a value the flag sends to Python is not rounded here: its rounding can pass the bigint limit (review)
            near = f"abs({v}::numeric) > 9000000000000000000"
            return SqlMask(f"CASE WHEN {near} THEN NULL ELSE round({v}::numeric, {int(mask.digits)})::bigint END",
                           letter, flag=f"coalesce({near}, false)")
        return None
    if kind == "pseudonym":
        if not key or letter not in _SQL_TEXT + "I":
            return None
        text = f"convert_to({v}, 'UTF8')" if letter in _SQL_TEXT else f"convert_to({v}::text, 'UTF8')"
        bits = f"{name}_b"
        lets: tuple[tuple[tuple[str, str], ...], ...] = (
            ((bits, f"('x' || encode(substring({hmac_sql(key, text)} FROM 1 FOR 10), 'hex'))::bit(80)"),),)
        chars = " || ".join(f"substr({sql_literal(_BASE32)}, substring({bits} FROM {5 * i + 1} FOR 5)::int + 1, 1)"
                            for i in range(16))
        return SqlMask(f"CASE WHEN {v} IS NULL THEN NULL ELSE 'P' || {chars} END", "C", lets=lets)
    if letter not in _SQL_TEXT and not (kind == "keep" and letter == "I"):
        return None
    text = v if letter in _SQL_TEXT else f"{v}::text"
    if kind == "keep":
        first, last, fill = mask.first, mask.last, sql_literal(mask.fill)
        n = f"char_length({text})"
        if first + last == 0:
            masked = f"repeat({fill}, {n})"
        else:
            short_first = f"({n} / 2 * {first} / {first + last})"
            short_last = f"({n} / 2 - {short_first})"
            masked = (f"CASE WHEN {n} <= {first + last} THEN left({text}, {short_first}) || "
                      f"repeat({fill}, {n} - {short_first} - {short_last}) || right({text}, {short_last}) "
                      f"ELSE left({text}, {first}) || repeat({fill}, {n} - {first + last}) || right({text}, {last}) END")
        person = f"coalesce({n} = 18, false)" if mask.unit == "person" else None  # maybe a credit code: Python's
        return SqlMask(masked, "C", flag=person)
    han = f"coalesce({v} !~ {sql_literal(_HAN_SQL)}, false)"
    if kind == "surname":
        return SqlMask(_surname_sql(v, mask.fill), "C", flag=han)
    if kind == "person_surname":
        words = " OR ".join(f"strpos({v}, {sql_literal(word)}) > 0" for word in ORGANISATION_WORDS)
        ending = f"(char_length({v}) >= 3 AND right({v}, 1) IN ({_in_list(list(ORGANISATION_ENDINGS))}))"
        return SqlMask(f"CASE WHEN {words} OR {ending} THEN {v} ELSE {_surname_sql(v, mask.fill)} END", "C",
                       flag=han)
    if kind == "address":
        # each township marker's first place (NULL: none) and the street level's first character; then the earliest
        # marker before the street level; then where the kept text ends — each computed once (lets)
        street, start, end = f"{name}_s", f"{name}_e", f"{name}_n"
        places = [(f"{name}_p{i}", marker) for i, marker in enumerate(TOWNSHIP_MARKERS)]
        lone = (f"CASE WHEN strpos({v}, '街') = 0 THEN NULL WHEN strpos({v}, '街') <> strpos({v}, '街道') "
                f"THEN strpos({v}, '街') ELSE nullif(regexp_instr({v}, '街(?!道)'), 0) END")
        searches = [f"nullif(regexp_instr({v}, '[0-9０-９]'), 0)", lone,
                    *(f"nullif(strpos({v}, {sql_literal(word)}), 0)" for word in _STREET_WORDS)]
        qualified = [f"CASE WHEN {at} + {len(marker)} <= coalesce({street}, 2147483647) THEN {at} END"
                     for at, marker in places]
        ends = " ".join(f"WHEN {at} THEN {start} - 1 + {len(marker)}" for at, marker in places)
        lets = (((street, f"least({', '.join(searches)})"),
                 *((at, f"nullif(strpos({v}, {sql_literal(marker)}), 0)") for at, marker in places)),
                ((start, f"least({', '.join(qualified)})"),), ((end, f"CASE {start} {ends} END"),))
        masked = f"left({v}, {end}) || repeat({sql_literal(mask.fill)}, char_length({v}) - {end})"
        return SqlMask(masked, "C", lets=lets, flag=f"({v} IS NOT NULL AND {start} IS NULL)")
    return None
