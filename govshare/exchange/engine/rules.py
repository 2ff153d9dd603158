"""Value rules on the way in (EXC-7 quality on the way in; issue 10 item 9).  Django-free.

Rows copied from a department's front-end database pass the catalog's rules — type, length, key — in
:func:`govshare.exchange.engine.copy.convert`, and then the *value rules* the provider picks per information
item, defined here.  A row that breaks one is quarantined with its reasons (never dropped in silence); the
copy fails the batch when such rows exceed the share it was given.

A rule is defined in JSON, ``{"kind": "...", ...}``, checked by :func:`parse_rule` against the item's guide
letter (C text, N/Y decimal, I integer, B/F double, D date, T date and time), and applied by :func:`check` (one
value) or a :class:`RuleSet` (a row).  Values are those :func:`convert` gives (C ``str``, N/Y ``Decimal``,
I ``int``, B/F ``float``, D ``date``, T ``datetime``); ``None`` always passes (whether a value is required is
the catalog's business, not a value rule's).

Text rules (``id_number``, ``uscc``, ``phone``, ``regex`` and ``enum`` on C) look at the value without its
surrounding white space, because fixed-width ``CHAR(n)`` columns pad with spaces; they change nothing else: no
NFKC, no case folding.  A full-width ``１１０１…``, a lower-case ``x`` check character or a lower-case USCC
is refused, because the centre keeps the value as it was read, and other departments compare it as text.

Kinds (``Rule.kind``) and the letters they fit:

``id_number`` (C)
    公民身份号码, GB 11643-1999: 17 ASCII digits and a check character ``0``-``9`` or ``X`` (upper case),
    the mod-11 check right, positions 7-14 a day that exists, not before 1900 and not after ``today``
    (:func:`govshare.core.idcodes.id_birth_date`).  The region code is not checked against GB/T 2260.  The
    15-digit numbers of the first-generation cards (two-digit year, no check digit) are refused with their
    own reason, ``id_number_legacy``: the source should hold the 18-digit number.  Reasons never show the
    number: it is masked as :func:`govshare.core.idcodes.mask_id_number` does (``1101**********002X``).
``uscc`` (C)
    统一社会信用代码, GB 32100-2015: 18 characters over ``0-9 A-H J-N P-R T U W-Y`` (upper case), characters
    3-8 digits (the administrative-division code), the mod-31 check character right.
``phone`` (C)
    One telephone number, digits as written (no separators other than those below):

    * a mainland mobile number ``1[3-9]`` + 9 digits, optionally after ``+86`` or ``0086`` and one space or
      hyphen: ``13812345678``, ``+86 13812345678``, ``0086-13812345678``;
    * a landline with its area code: ``0`` + ``10``/``2x`` and an 8-digit local number, or ``0`` + three
      digits ``3``-``9``… and a 7- or 8-digit local number; the local number starts with 2-9; the area code
      is followed by a hyphen, a space or nothing, or stands in parentheses; an extension may follow after
      ``-`` or ``转`` (1-6 digits): ``010-62345678``, ``(0755)23456789``, ``0791 8123456-102``;
    * service numbers: ``400``/``800`` + 7 digits (groups of 3-3-4 may be split by a space or a hyphen),
      ``95`` + 3 to 6 digits (``95588``), and the five-digit ``12xxx`` public hotlines (``12345``).

    Refused: a local number without its area code, numbers outside the mainland, two numbers in one value.
``enum`` (C N Y I)
    The value is one of ``values`` (1 to 1000).  Text compares exactly (after the white-space rule above;
    the allowed values are stripped too); numbers compare by value, so ``Decimal('1.0')`` matches ``1``.
``range`` (N Y I B F D T)
    ``min`` and/or ``max``, both inclusive.  Number bounds are JSON numbers or text, kept as exact decimals
    (B/F compare with the nearest double of the bound, as their values are doubles); D bounds are ISO dates
    (``2024-01-31``), T bounds ISO date-times (a bound with a zone is taken in UTC, as ``convert`` stores
    aware values; one without is compared as written).  The length of text is the catalog's, not a range.
``regex`` (C)
    The provider's ``pattern`` (at most 500 characters) must match the whole value.  It runs on RE2
    (``google-re2``), whose time is linear in the value's length whatever the pattern, so a pattern such as
    ``(a+)+$`` cannot stall a copy on hostile data.  RE2 syntax: no back-references, no look-around,
    repetition counts up to 1000; ``\\d``, ``\\w`` and ``\\s`` are ASCII only (``\\p{Han}`` for Chinese
    characters).  A pattern that does not compile is refused with RE2's message.

Reasons are ``code: detail`` like :func:`convert`'s, the detail quoting at most 40 characters of the value
(:func:`shown`); codes in :data:`REASON_CODES`.  Rule definitions that are wrong raise :class:`RuleError`,
codes in :data:`RULE_ERROR_CODES`.

Speed (EXC-7 runs on millions of rows): the rules are compiled once per :class:`RuleSet`, the check
characters computed by one C-level ``int()`` each (:mod:`govshare.core.idcodes`).  A 12-item row with three
rules (``id_number``, ``phone``, a 4-value text ``enum``; all passing) is checked about 600,000 times a
second — 1.6-1.7 µs a row — on one core of the development machine (Xeon, CPython 3.11); of that the ID
number takes about 1.2 µs (0.6 µs its birth date).  A ``uscc`` costs about 0.8 µs, a ``regex`` about 1.3 µs
(UTF-8 encoding and the RE2 call), ``enum`` and ``range`` under 0.1 µs.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import re2

from govshare.core.idcodes import USCC_ALPHABET, id_birth_date, id_check_char, mask_id_number, uscc_check_char

#: the rule kinds, and the guide letters each fits
KINDS: dict[str, str] = {"id_number": "C", "uscc": "C", "phone": "C", "regex": "C", "enum": "CNYI",
                         "range": "NYIBFDT"}
#: the fields a definition of each kind may have besides ``kind``
FIELDS: dict[str, frozenset[str]] = {"id_number": frozenset(), "uscc": frozenset(), "phone": frozenset(),
                                     "enum": frozenset({"values"}), "range": frozenset({"min", "max"}),
                                     "regex": frozenset({"pattern"})}
#: most values of an ``enum``
MAX_ENUM_VALUES = 1000
#: most characters of an allowed text value of an ``enum``
MAX_ENUM_TEXT = 500
#: most characters of a ``regex`` pattern
MAX_PATTERN = 500
#: most characters of a number written as text (an enum value or a range bound)
MAX_NUMBER_TEXT = 100

#: the codes of :func:`check`'s reasons
REASON_CODES = ("bad_id_number", "id_number_legacy", "bad_id_birth_date", "bad_id_check", "bad_uscc",
                "bad_uscc_check", "bad_phone", "not_in_enum", "below_min", "above_max", "no_match")
#: the codes of :class:`RuleError`
RULE_ERROR_CODES = ("rule_invalid", "rule_unknown", "rule_not_for_type", "rule_extra_field", "enum_empty",
                    "enum_too_many", "enum_bad_value", "range_empty", "range_bad_bound", "range_inverted",
                    "regex_too_long", "regex_invalid")

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,6})?", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_ID = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}", re.ASCII)
_PHONE = re.compile(r"""
    (?:(?:\+86|0086)[ -]?)?1[3-9][0-9]{9}                                    # mobile
  | (?:0(?:10|2[0-9])[ -]?|\(0(?:10|2[0-9])\))[2-9][0-9]{7}(?:(?:-|转)[0-9]{1,6})?          # 010, 02x
  | (?:0[3-9][0-9]{2}[ -]?|\(0[3-9][0-9]{2}\))[2-9][0-9]{6,7}(?:(?:-|转)[0-9]{1,6})?      # 0xxx
  | [48]00(?:[0-9]{7}|-[0-9]{3}-[0-9]{4}|\ [0-9]{3}\ [0-9]{4})                 # 400 / 800
  | 95[0-9]{3,6} | 12[0-9]{3}                                                # 95xxx, 12xxx hotlines
""", re.ASCII | re.VERBOSE)

Bound = Decimal | dt.date | dt.datetime


def shown(value: Any) -> str:
    """A value as a reason quotes it: at most 40 characters (bytes in hex), ``…`` when cut."""
    text = value.hex() if isinstance(value, bytes) else str(value)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


class RuleError(ValueError):
    """A rule definition that cannot be used: ``code`` (one of :data:`RULE_ERROR_CODES`), ``detail`` (English,
    for logs and as a hint under the translated words), ``field`` (the definition's field: ``kind``,
    ``values``, ``min``, ``max``, ``pattern``, or the unexpected field's name; ``""`` for the whole)."""

    def __init__(self, code: str, detail: str, field: str = "") -> None:
        super().__init__(code, detail, field)
        self.code = code
        self.detail = detail
        self.field = field

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class Rule:
    """One value rule for an item of guide letter ``letter``.  ``values``: an ``enum``'s allowed values,
    distinct, in the given order (``str`` for C, ``Decimal`` for N/Y, ``int`` for I); ``min``/``max``: a
    ``range``'s bounds (``Decimal`` for numbers, ``date`` for D, naive ``datetime`` for T; None: open);
    ``pattern``: a ``regex``'s pattern.  Build it with :func:`parse_rule`."""

    kind: str
    letter: str
    values: tuple[str | Decimal | int, ...] = ()
    min: Bound | None = None
    max: Bound | None = None
    pattern: str = ""

    def as_data(self) -> dict[str, Any]:
        """The definition as JSON data (numbers as exact text), which :func:`parse_rule` reads back."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind == "enum":
            data["values"] = [value if isinstance(value, str) else str(value) for value in self.values]
        elif self.kind == "range":
            for name, bound in (("min", self.min), ("max", self.max)):
                if bound is not None:
                    data[name] = bound.isoformat() if isinstance(bound, dt.date) else str(bound)
        elif self.kind == "regex":
            data["pattern"] = self.pattern
        return data


# -- definitions -------------------------------------------------------------------------------------------

def _number(raw: Any) -> Decimal:
    """A JSON number or a number written as text, exactly; ValueError saying why not."""
    if isinstance(raw, bool):
        raise ValueError("true/false is not a number")
    if isinstance(raw, int):
        if abs(raw) >= 10**MAX_NUMBER_TEXT:
            raise ValueError(f"more than {MAX_NUMBER_TEXT} digits")
        return Decimal(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError(f"not a finite number: {raw!r}")
        return Decimal(repr(raw))
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError(f"more than {MAX_NUMBER_TEXT} characters")
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"not a number: {shown(raw)}")
        return Decimal(text)
    raise ValueError(f"a {type(raw).__name__}, not a number")


def _bound(raw: Any, letter: str) -> Bound:
    if letter in "NYIBF":
        number = _number(raw)
        if letter == "I" and not _INT_MIN <= number <= _INT_MAX:
            raise ValueError(f"outside the 64-bit integers: {shown(raw)}")
        if letter in "BF" and not math.isfinite(float(number)):
            raise ValueError(f"outside the doubles: {shown(raw)}")
        return number
    if not isinstance(raw, str):
        raise ValueError(f"a {type(raw).__name__}, not an ISO 8601 {'date' if letter == 'D' else 'date-time'}")
    text = raw.strip()
    if letter == "D":
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(f"not a date written YYYY-MM-DD: {shown(raw)}")
        return dt.date.fromisoformat(text)  # ValueError: no such day
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {shown(raw)}") from None
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _enum_value(raw: Any, letter: str) -> str | Decimal | int:
    if letter == "C":
        if not isinstance(raw, str):
            raise ValueError(f"a {type(raw).__name__}, not text (write codes such as \"01\" as text)")
        if len(raw) > MAX_ENUM_TEXT:
            raise ValueError(f"more than {MAX_ENUM_TEXT} characters: {shown(raw)}")
        if "\x00" in raw:
            raise ValueError("a NUL character")
        return raw.strip()
    number = _number(raw)
    if letter == "I":
        if number != number.to_integral_value():
            raise ValueError(f"not a whole number, so no integer item can have it: {shown(raw)}")
        if not _INT_MIN <= number <= _INT_MAX:
            raise ValueError(f"outside the 64-bit integers: {shown(raw)}")
        return int(number)
    return number


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the message goes into RuleError instead of stderr
_RE2_OPTIONS.never_capture = True


def _compile_pattern(pattern: str) -> Any:
    """The RE2 program of a pattern, over UTF-8 bytes; ``re2.error`` when it does not compile."""
    return re2.compile(pattern.encode("utf-8", "surrogatepass"), _RE2_OPTIONS)


def parse_rule(data: Any, letter: str) -> Rule:
    """The rule a provider defines in JSON (``{"kind": "enum", "values": ["01", "02"]}``) for an item of guide
    letter ``letter``; :class:`RuleError` when it cannot be used."""
    if not isinstance(data, Mapping):
        raise RuleError("rule_invalid", f"a rule is a JSON object, not a {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise RuleError("rule_unknown", f"no rule kind {shown(kind)}; kinds: {', '.join(KINDS)}", "kind")
    if letter not in KINDS[kind]:
        raise RuleError("rule_not_for_type", f"a {kind} rule does not fit an item of type {shown(letter)}; it "
                                             f"fits {', '.join(KINDS[kind])}", "kind")
    extra = sorted(str(name) for name in data if name != "kind" and name not in FIELDS[kind])
    if extra:
        raise RuleError("rule_extra_field", f"a {kind} rule has no field {shown(extra[0])}", extra[0])
    if kind == "enum":
        return _parse_enum(data.get("values"), letter)
    if kind == "range":
        return _parse_range(data.get("min"), data.get("max"), letter)
    if kind == "regex":
        return _parse_regex(data.get("pattern"))
    return Rule(kind, letter)


def _parse_enum(raw: Any, letter: str) -> Rule:
    if raw is None or (isinstance(raw, (list, tuple)) and not raw):
        raise RuleError("enum_empty", "an enum rule needs at least one value", "values")
    if not isinstance(raw, (list, tuple)):
        raise RuleError("enum_bad_value", f"values is a list, not a {type(raw).__name__}", "values")
    if len(raw) > MAX_ENUM_VALUES:
        raise RuleError("enum_too_many", f"{len(raw)} values, at most {MAX_ENUM_VALUES}", "values")
    values: dict[str | Decimal | int, None] = {}
    for position, item in enumerate(raw, 1):
        try:
            value = _enum_value(item, letter)
        except ValueError as error:
            raise RuleError("enum_bad_value", f"value {position}: {error}", "values") from None
        values.setdefault(value, None)  # 1 and 1.0 are one value
    return Rule("enum", letter, values=tuple(values))


def _parse_range(raw_min: Any, raw_max: Any, letter: str) -> Rule:
    if raw_min is None and raw_max is None:
        raise RuleError("range_empty", "a range rule needs min, max or both", "min")
    bounds: dict[str, Bound | None] = {"min": None, "max": None}
    for name, raw in (("min", raw_min), ("max", raw_max)):
        if raw is not None:
            try:
                bounds[name] = _bound(raw, letter)
            except ValueError as error:
                raise RuleError("range_bad_bound", f"{name}: {error}", name) from None
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:  # type: ignore[operator]  # one type, by letter
        raise RuleError("range_inverted", f"min {_bound_text(low)} is greater than max {_bound_text(high)}",
                        "max")
    return Rule("range", letter, min=low, max=high)


def _parse_regex(pattern: Any) -> Rule:
    if not isinstance(pattern, str) or not pattern:
        raise RuleError("regex_invalid", "a regex rule needs a pattern (text)", "pattern")
    if len(pattern) > MAX_PATTERN:
        raise RuleError("regex_too_long", f"{len(pattern)} characters, at most {MAX_PATTERN}", "pattern")
    try:
        _compile_pattern(pattern)
    except re2.error as error:
        message = error.args[0] if error.args else ""
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise RuleError("regex_invalid", f"RE2 cannot compile it: {message}", "pattern") from None
    return Rule("regex", "C", pattern=pattern)


def _bound_text(bound: Bound) -> str:
    if isinstance(bound, dt.datetime):
        return bound.isoformat(sep=" ")
    return bound.isoformat() if isinstance(bound, dt.date) else str(bound)


# -- checks ------------------------------------------------------------------------------------------------

Checker = Callable[[Any], "str | None"]


def _not_text(value: Any) -> TypeError:
    return TypeError(f"a text rule was given a {type(value).__name__}; check converted values")


def _id_number_checker(today: dt.date) -> Checker:
    def test(value: Any) -> str | None:
        if not isinstance(value, str):
            raise _not_text(value)
        text = value.strip()
        if not _ID.fullmatch(text):
            return _id_format_reason(text)
        if id_birth_date(text, today) is None:
            return (f"bad_id_birth_date: positions 7-14 are not a date of birth (a day that exists, from 1900 "
                    f"to {today.isoformat()}): {shown(mask_id_number(text))}")
        expected = id_check_char(text[:17])
        if text[17] != expected:
            return f"bad_id_check: {text[17]} → {expected}: {shown(mask_id_number(text))}"  # (shown in any language)
        return None

    return test


def _id_format_reason(text: str) -> str:
    masked = shown(mask_id_number(text))
    if len(text) == 15 and _DIGITS.fullmatch(text):
        return f"id_number_legacy: a 15-digit first-generation number, GB 11643 has 18 digits: {masked}"
    if len(text) != 18:
        return f"bad_id_number: {len(text)} characters, GB 11643 has 18: {masked}"
    if text[17] == "x" and _DIGITS.fullmatch(text[:17]):
        return f"bad_id_number: a lower-case x check character, GB 11643 writes X: {masked}"
    return f"bad_id_number: not 17 ASCII digits and a digit or X: {masked}"


def _uscc_test(value: Any) -> str | None:
    if not isinstance(value, str):
        raise _not_text(value)
    code = value.strip()
    if not _USCC.fullmatch(code):
        return _uscc_format_reason(code)
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"bad_uscc_check: {code[17]} → {expected}: {shown(code)}"
    return None


def _uscc_format_reason(code: str) -> str:
    if len(code) != 18:
        return f"bad_uscc: {len(code)} characters, GB 32100 has 18: {shown(code)}"
    bad = next((ch for ch in code if ch not in USCC_ALPHABET), None)
    if bad is not None:
        if bad.upper() in USCC_ALPHABET:
            return f"bad_uscc: a lower-case {bad}, GB 32100 writes capitals: {shown(code)}"
        return f"bad_uscc: {bad!r} is not a GB 32100 character (0-9 and A-Z without I, O, S, V, Z): {shown(code)}"
    return f"bad_uscc: characters 3-8 are not the six-digit administrative-division code: {shown(code)}"


def _phone_test(value: Any) -> str | None:
    if not isinstance(value, str):
        raise _not_text(value)
    if _PHONE.fullmatch(value.strip()):
        return None
    return f"bad_phone: not a mobile, landline with area code or service number: {shown(value)}"


def _enum_checker(rule: Rule) -> Checker:
    allowed = frozenset(rule.values)
    count = len(allowed)
    if rule.letter == "C":
        def test_text(value: Any) -> str | None:
            if not isinstance(value, str):
                raise _not_text(value)
            if value.strip() in allowed:
                return None
            return f"not_in_enum: not one of the {count} allowed values: {shown(value)}"

        return test_text

    def test(value: Any) -> str | None:
        if value in allowed:  # numbers: equal values hash alike, Decimal('1.0') in {1}
            return None
        return f"not_in_enum: not one of the {count} allowed values: {shown(value)}"

    return test


def _range_checker(rule: Rule) -> Checker:
    low: Any = rule.min
    high: Any = rule.max
    if rule.letter in "BF":  # the values are doubles: compare with the bound's nearest double
        low = None if low is None else float(low)
        high = None if high is None else float(high)
    elif rule.letter == "I":  # exact for integers, and int with int is faster than int with Decimal
        low = None if low is None else math.ceil(low)
        high = None if high is None else math.floor(high)
    below = f"below_min: less than {_bound_text(rule.min)}: " if rule.min is not None else ""
    above = f"above_max: more than {_bound_text(rule.max)}: " if rule.max is not None else ""

    def test(value: Any) -> str | None:
        if low is not None and value < low:
            return below + shown(_value_text(value))
        if high is not None and value > high:
            return above + shown(_value_text(value))
        return None

    return test


def _value_text(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value


def _regex_checker(rule: Rule) -> Checker:
    fullmatch = _compile_pattern(rule.pattern).fullmatch

    def test(value: Any) -> str | None:
        if not isinstance(value, str):
            raise _not_text(value)
        if fullmatch(value.strip().encode("utf-8", "surrogatepass")) is not None:
            return None
        return f"no_match: does not match the pattern: {shown(value)}"

    return test


def compile_rule(rule: Rule, today: dt.date | None = None) -> Checker:
    """The rule as a function of one non-None converted value: None when it passes, else the reason.
    ``today``: the latest date of birth an ID number may hold (default: the system's date, now)."""
    kind = rule.kind
    if kind == "id_number":
        return _id_number_checker(today or dt.date.today())
    if kind == "uscc":
        return _uscc_test
    if kind == "phone":
        return _phone_test
    if kind == "enum":
        return _enum_checker(rule)
    if kind == "range":
        return _range_checker(rule)
    if kind == "regex":
        return _regex_checker(rule)
    raise ValueError(f"no rule kind {kind!r}")


@functools.lru_cache(maxsize=256)
def _cached(rule: Rule, today: dt.date) -> Checker:
    return compile_rule(rule, today)


def check(value: Any, rule: Rule, today: dt.date | None = None) -> str | None:
    """None when the converted ``value`` passes ``rule`` (None passes every rule), else the reason
    ``"code: detail"``.  For many rows use a :class:`RuleSet`."""
    if value is None:
        return None
    return _cached(rule, today or dt.date.today())(value)


class RuleSet:
    """The value rules of a table: for each item index (the position of its value in a row), its rules,
    compiled once.  ``today`` bounds the birth dates in ID numbers (default: the system's date when the set
    is made)."""

    def __init__(self, rules: Mapping[int, Sequence[Rule]], today: dt.date | None = None) -> None:
        day = today or dt.date.today()
        self.rules: dict[int, tuple[Rule, ...]] = {index: tuple(rules[index]) for index in sorted(rules)
                                                   if rules[index]}
        if any(index < 0 for index in self.rules):
            raise ValueError("item indexes start at 0")
        self._checks: tuple[tuple[int, Checker], ...] = tuple(
            (index, compile_rule(rule, day)) for index, item_rules in self.rules.items() for rule in item_rules)

    def __len__(self) -> int:
        """The number of rules."""
        return len(self._checks)

    def check_row(self, values: Sequence[Any]) -> list[tuple[int, str]]:
        """The row's broken rules as ``(item index, reason)``, in item order and each item's rules' order;
        empty when the row passes."""
        problems: list[tuple[int, str]] = []
        for index, test in self._checks:
            value = values[index]
            if value is not None:
                reason = test(value)
                if reason is not None:
                    problems.append((index, reason))
        return problems
