"""Value rules on the way in (EXC-7): GB 11643 ID numbers, GB 32100 USCCs, phone numbers, enumerations,
ranges and the provider's regular expressions, checked on converted values row by row
(:mod:`govshare.exchange.engine.rules`).  No database."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from govshare.core import idcodes
from govshare.core.idcodes import USCC_ALPHABET, id_check_char, uscc_check_char
from govshare.exchange.engine import rules
from govshare.exchange.engine.rules import (
    REASON_CODES,
    RULE_ERROR_CODES,
    Rule,
    RuleError,
    RuleSet,
    check,
    parse_rule,
)

pytestmark = pytest.mark.once

TODAY = dt.date(2025, 6, 1)
#: the example in GB 11643-1999 itself (Beijing Chaoyang, born 1949-12-31, sequence 002)
PUBLISHED_ID = "11010519491231002X"
#: a published sample with letters in the body and as check character (also in tests/test_validators.py)
PUBLISHED_USCC = "91350100M000100Y43"


def make_id(region: str = "110105", birth: str = "19900101", seq: int = 101) -> str:
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + id_check_char(first17)


def make_uscc(region: str = "360783", seq: int = 7) -> str:
    first17 = f"91{region}{seq:09d}"
    return first17 + uscc_check_char(first17)


def rule(letter: str = "C", **data: Any) -> Rule:
    return parse_rule(data, letter)


def reason_of(value: Any, kind: str, letter: str = "C", **data: Any) -> str | None:
    return check(value, parse_rule({"kind": kind, **data}, letter), today=TODAY)


def code_of(value: Any, kind: str, letter: str = "C", **data: Any) -> str | None:
    reason = reason_of(value, kind, letter, **data)
    if reason is None:
        return None
    code = reason.split(":", 1)[0]
    assert code in REASON_CODES
    return code


def rule_error(data: Any, letter: str = "C") -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rule(data, letter)
    assert caught.value.code in RULE_ERROR_CODES
    return caught.value


# -- the check-digit arithmetic (core.idcodes, shared with core.validators) --------------------------------

def test_the_fast_check_characters_equal_the_weighted_sums_of_the_standards() -> None:
    rng = random.Random(11643)
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(17))
        total = sum(int(ch) * w for ch, w in zip(digits, idcodes.ID_WEIGHTS, strict=True))
        assert id_check_char(digits) == idcodes.ID_CHECK[total % 11]
        body = "".join(rng.choice(USCC_ALPHABET) for _ in range(17))
        total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(body, idcodes.USCC_WEIGHTS, strict=True))
        assert uscc_check_char(body) == USCC_ALPHABET[(31 - total % 31) % 31]


@pytest.mark.parametrize("first17", ["1101051949123100", "110105194912310021", "1101051949123100x",
                                     "１１０１０５１９４９１２３１００２", "+1101051949123100", "1_101051949123100"])
def test_the_id_check_character_needs_17_ascii_digits(first17: str) -> None:
    with pytest.raises(ValueError):
        id_check_char(first17)


@pytest.mark.parametrize("first17", ["9135010OM000100Y4", "91350100m000100Y4", "9135010_M000100Y4",
                                     "91350100M000100Y", "+1350100M000100Y4", "91350100M000100Y4Z"])
def test_the_uscc_check_character_needs_17_characters_of_its_alphabet(first17: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_char(first17)


def test_the_rules_module_does_not_import_django() -> None:
    code = ("import sys, govshare.exchange.engine.rules; "
            "sys.exit(any(name.split('.')[0] == 'django' for name in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- id_number (GB 11643-1999) -----------------------------------------------------------------------------

def test_the_published_example_of_gb_11643_is_a_good_id_number() -> None:
    assert reason_of(PUBLISHED_ID, "id_number") is None


@pytest.mark.parametrize("number", [make_id(), make_id("360783", "20000229", 999), make_id("440300", "19000101", 7),
                                    make_id("110105", TODAY.strftime("%Y%m%d"), 1)])
def test_a_generated_id_number_is_good(number: str) -> None:
    assert reason_of(number, "id_number") is None


def test_an_id_number_with_a_wrong_check_digit_is_bad() -> None:
    number = make_id()
    wrong = number[:17] + next(ch for ch in "0123456789X" if ch != number[17])
    reason = reason_of(wrong, "id_number")
    assert reason is not None and reason.startswith(f"bad_id_check: {wrong[17]} → {number[17]}")


def test_an_id_number_with_a_lower_case_x_is_bad_because_the_standard_writes_x_in_capitals() -> None:
    assert PUBLISHED_ID.endswith("X")
    reason = reason_of(PUBLISHED_ID[:17] + "x", "id_number")
    assert reason is not None and reason.startswith("bad_id_number: a lower-case x")


def test_an_id_number_in_full_width_digits_is_bad_as_it_is_not_normalised() -> None:
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in make_id())
    assert code_of(full_width, "id_number") == "bad_id_number"


def test_an_id_number_padded_with_spaces_by_a_char_column_is_good() -> None:
    assert reason_of(f" {PUBLISHED_ID}  ", "id_number") is None
    assert reason_of(PUBLISHED_ID + "\u3000", "id_number") is None


@pytest.mark.parametrize("number", [make_id()[:17], make_id() + "1", "11010519491231002-", "ABCDEFGHIJKLMNOPQR", ""])
def test_an_id_number_of_the_wrong_shape_is_bad(number: str) -> None:
    assert code_of(number, "id_number") == "bad_id_number"


def test_a_15_digit_first_generation_number_has_its_own_reason() -> None:
    assert code_of("110105491231002", "id_number") == "id_number_legacy"


@pytest.mark.parametrize("birth", ["19990230", "19991301", "19990000", "18991231"])
def test_an_id_number_whose_birth_date_does_not_exist_or_is_before_1900_is_bad(birth: str) -> None:
    assert code_of(make_id(birth=birth), "id_number") == "bad_id_birth_date"


def test_an_id_number_born_after_today_is_bad() -> None:
    tomorrow = (TODAY + dt.timedelta(days=1)).strftime("%Y%m%d")
    assert code_of(make_id(birth=tomorrow), "id_number") == "bad_id_birth_date"
    assert check(make_id(birth=tomorrow), rule(kind="id_number"), today=TODAY + dt.timedelta(days=1)) is None


def test_a_rule_set_takes_today_when_it_is_made() -> None:
    today = dt.date.today()
    born_today = make_id(birth=today.strftime("%Y%m%d"))
    born_tomorrow = make_id(birth=(today + dt.timedelta(days=1)).strftime("%Y%m%d"))
    assert RuleSet({0: [rule(kind="id_number")]}).check_row([born_today]) == []
    assert RuleSet({0: [rule(kind="id_number")]}).check_row([born_tomorrow])[0][1].startswith("bad_id_birth_date")


@pytest.mark.parametrize("number", [make_id()[:17] + ("0" if make_id()[17] != "0" else "1"),  # check digit
                                    make_id(birth="19990230"), make_id(birth="20991231"),  # birth date
                                    PUBLISHED_ID[:17] + "x", make_id()[:17], "110105491231002",  # shape
                                    make_id() + "123456789"])
def test_reasons_about_id_numbers_show_them_masked(number: str) -> None:
    reason = reason_of(number, "id_number")
    assert reason is not None
    assert number not in reason
    assert number[4:-4] not in reason  # not even the birth date and sequence
    assert number[:4] in reason and "*" in reason


# -- uscc (GB 32100-2015) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [PUBLISHED_USCC, make_uscc(), make_uscc("110105", 1000), make_uscc("440300", 99999)])
def test_a_uscc_with_the_right_check_character_is_good(code: str) -> None:
    assert reason_of(code, "uscc") is None


def test_a_uscc_with_a_wrong_check_character_is_bad() -> None:
    code = make_uscc()
    wrong = code[:17] + next(ch for ch in USCC_ALPHABET if ch != code[17])
    reason = reason_of(wrong, "uscc")
    assert reason is not None and reason.startswith(f"bad_uscc_check: {wrong[17]} → {code[17]}")


def test_a_uscc_in_lower_case_is_bad_because_the_standard_writes_capitals() -> None:
    reason = reason_of(PUBLISHED_USCC.lower(), "uscc")
    assert reason is not None and reason.startswith("bad_uscc: a lower-case m")


@pytest.mark.parametrize("code", ["91350100I000100Y43", "91350100O000100Y43", "9135010ZM000100Y43"])
def test_a_uscc_with_a_letter_the_standard_leaves_out_is_bad(code: str) -> None:
    reason = reason_of(code, "uscc")
    assert reason is not None and reason.startswith("bad_uscc: '") and "not a GB 32100 character" in reason


def test_a_uscc_whose_characters_3_to_8_are_not_a_region_code_is_bad() -> None:
    reason = reason_of("91A50100M000100Y43", "uscc")
    assert reason is not None and reason.startswith("bad_uscc: characters 3-8")


@pytest.mark.parametrize("code", [PUBLISHED_USCC[:17], PUBLISHED_USCC + "1", ""])
def test_a_uscc_of_the_wrong_length_is_bad(code: str) -> None:
    assert code_of(code, "uscc") == "bad_uscc"


def test_a_uscc_padded_with_spaces_is_good_and_a_reason_quotes_it() -> None:
    assert reason_of(PUBLISHED_USCC + "  ", "uscc") is None
    assert reason_of(PUBLISHED_USCC[:17] + "0", "uscc") == (
        f"bad_uscc_check: 0 → 3: {PUBLISHED_USCC[:17] + '0'!r}")


# -- phone -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [
    "13812345678", "19912345678", "16612345678", "+8613812345678", "+86 13812345678", "+86-13812345678",
    "008613812345678", "0086 13812345678",
    "010-62345678", "01062345678", "010 62345678", "(010)62345678", "021-52345678", "0755-23456789",
    "0791-8123456", "07918123456", "(0791)8123456", "010-62345678-8012", "0755-23456789转123",
    "4008123456", "400-812-3456", "800 812 3456", "95588", "955880", "12345", "12315",
    " 13812345678 ",
])
def test_a_mainland_phone_number_in_a_usual_form_is_good(number: str) -> None:
    assert reason_of(number, "phone") is None


@pytest.mark.parametrize("number", [
    "12812345678", "1381234567", "138123456789", "138-1234-5678", "138 1234 5678", "+8513812345678",
    "8613812345678", "+86 010-62345678",
    "62345678", "010-12345678", "010-6234567", "0755-1234567", "0791-812345", "010-62345678-1234567",
    "010–62345678", "(010-62345678", "4008-123-456", "95", "1234", "110",
    "13812345678/13912345678", "13812345678,13912345678", "１３８１２３４５６７８", "tel:13812345678",
    "+852 91234567", "", "unknown",
])
def test_a_phone_number_that_is_not_one_mainland_number_is_bad(number: str) -> None:
    assert code_of(number, "phone") == "bad_phone"


# -- enum --------------------------------------------------------------------------------------------------

def test_a_text_enum_compares_exactly_but_without_the_padding_of_char_columns() -> None:
    codes: dict[str, Any] = {"values": ["01", "02", " 03 ", "是"]}
    assert reason_of("01", "enum", **codes) is None
    assert reason_of("01  ", "enum", **codes) is None
    assert reason_of("03", "enum", **codes) is None
    assert reason_of("是", "enum", **codes) is None
    assert reason_of("1", "enum", **codes) == "not_in_enum: not one of the 4 allowed values: '1'"
    assert code_of("０１", "enum", **codes) == "not_in_enum"


def test_a_text_enum_is_case_sensitive() -> None:
    assert reason_of("a", "enum", values=["A", "B"]) is not None


@pytest.mark.parametrize("letter", ["N", "Y"])
def test_a_number_enum_compares_values_so_one_point_zero_is_one(letter: str) -> None:
    allowed = {"values": [1, "2.50", 3.5]}
    assert reason_of(Decimal("1.0"), "enum", letter, **allowed) is None
    assert reason_of(Decimal("1"), "enum", letter, **allowed) is None
    assert reason_of(Decimal("2.5"), "enum", letter, **allowed) is None
    assert reason_of(Decimal("3.50"), "enum", letter, **allowed) is None
    assert reason_of(Decimal("1.01"), "enum", letter, **allowed) == "not_in_enum: not one of the 3 allowed values: '1.01'"


def test_an_integer_enum_takes_values_written_as_decimals_or_text() -> None:
    enum = rule("I", kind="enum", values=["1", 2, "3.0", "1.00"])
    assert enum.values == (1, 2, 3)
    assert check(3, enum) is None
    assert check(4, enum) is not None


# -- range -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("letter", ["N", "Y"])
def test_a_decimal_range_includes_its_bounds(letter: str) -> None:
    bounds = {"min": "0", "max": "100.5"}
    assert reason_of(Decimal("0"), "range", letter, **bounds) is None
    assert reason_of(Decimal("100.50"), "range", letter, **bounds) is None
    assert reason_of(Decimal("-0.001"), "range", letter, **bounds) == "below_min: less than 0: '-0.001'"
    assert reason_of(Decimal("100.51"), "range", letter, **bounds) == "above_max: more than 100.5: '100.51'"


def test_an_integer_range_includes_its_bounds_and_takes_fractional_ones_exactly() -> None:
    assert reason_of(1, "range", "I", min=1, max=10) is None
    assert reason_of(10, "range", "I", min=1, max=10) is None
    assert code_of(0, "range", "I", min=1, max=10) == "below_min"
    assert code_of(11, "range", "I", min=1, max=10) == "above_max"
    assert code_of(1, "range", "I", min="1.5") == "below_min"
    assert reason_of(2, "range", "I", min="1.5", max="2.5") is None
    assert code_of(3, "range", "I", max="2.5") == "above_max"
    assert reason_of(-(2**63), "range", "I", max=0) is None


@pytest.mark.parametrize("letter", ["B", "F"])
def test_a_double_range_compares_with_the_nearest_double_of_its_bounds(letter: str) -> None:
    assert reason_of(0.1, "range", letter, min="0.1", max=0.3) is None
    assert reason_of(0.3, "range", letter, min="0.1", max=0.3) is None
    assert code_of(0.30000000000000004, "range", letter, max="0.3") == "above_max"
    assert code_of(-1e-300, "range", letter, min=0) == "below_min"


def test_a_date_range_includes_its_bounds() -> None:
    bounds = {"min": "2020-01-01", "max": "2024-12-31"}
    assert reason_of(dt.date(2020, 1, 1), "range", "D", **bounds) is None
    assert reason_of(dt.date(2024, 12, 31), "range", "D", **bounds) is None
    assert reason_of(dt.date(2019, 12, 31), "range", "D", **bounds) == "below_min: less than 2020-01-01: '2019-12-31'"
    assert reason_of(dt.date(2025, 1, 1), "range", "D", **bounds) == "above_max: more than 2024-12-31: '2025-01-01'"


def test_a_datetime_range_includes_its_bounds_and_takes_zoned_bounds_in_utc() -> None:
    bounds = {"min": "2024-01-01T08:00:00+08:00", "max": "2024-06-30 23:59:59"}
    assert rule("T", kind="range", **bounds).min == dt.datetime(2024, 1, 1, 0, 0)
    assert reason_of(dt.datetime(2024, 1, 1), "range", "T", **bounds) is None
    assert reason_of(dt.datetime(2024, 6, 30, 23, 59, 59), "range", "T", **bounds) is None
    assert reason_of(dt.datetime(2023, 12, 31, 23, 59, 59), "range", "T", **bounds) == (
        "below_min: less than 2024-01-01 00:00:00: '2023-12-31 23:59:59'")
    assert code_of(dt.datetime(2024, 7, 1), "range", "T", **bounds) == "above_max"
    assert rule("T", kind="range", min="2024-01-01").min == dt.datetime(2024, 1, 1)


def test_a_range_with_one_bound_is_open_on_the_other_side() -> None:
    assert reason_of(Decimal("1e30"), "range", "N", min=0) is None
    assert reason_of(dt.date(1, 1, 1), "range", "D", max="2000-01-01") is None


# -- regex -------------------------------------------------------------------------------------------------

def test_a_pattern_must_match_the_whole_value() -> None:
    pattern = {"pattern": "[A-Z]{2}[0-9]{4}"}
    assert reason_of("AB1234", "regex", **pattern) is None
    assert reason_of("AB1234 ", "regex", **pattern) is None  # CHAR padding, as for every text rule
    assert reason_of("xAB1234", "regex", **pattern) == "no_match: does not match the pattern: 'xAB1234'"
    assert code_of("AB12345", "regex", **pattern) == "no_match"
    assert code_of("B", "regex", pattern="A|B|C") is None
    assert code_of("AB", "regex", pattern="A|B") == "no_match"


def test_digits_in_a_pattern_are_ascii_digits_and_chinese_is_written_with_p_han() -> None:
    assert reason_of("１２３", "regex", pattern=r"\d+") is not None
    assert reason_of("123", "regex", pattern=r"\d+") is None
    assert reason_of("北京市", "regex", pattern=r"\p{Han}{2,10}市") is None
    assert reason_of("beijing市", "regex", pattern=r"\p{Han}{2,10}市") is not None


def test_a_catastrophic_pattern_finishes_on_hostile_data() -> None:
    hostile = "a" * 50 + "!"
    assert code_of(hostile, "regex", pattern="(a+)+$") == "no_match"
    assert code_of("a" * 100_000 + "!", "regex", pattern="(a|aa)*c") == "no_match"
    assert code_of("a" * 50, "regex", pattern="(a+)+$") is None


def test_a_value_with_a_lone_surrogate_does_not_break_a_pattern() -> None:
    assert code_of("a\udc80", "regex", pattern="[a-z]+") == "no_match"


# -- definitions -------------------------------------------------------------------------------------------

#: (definition, letter, code, field) of definitions that cannot be used
BAD_DEFINITIONS: list[tuple[Any, str, str, str]] = [
    (["enum"], "C", "rule_invalid", ""),
    ("id_number", "C", "rule_invalid", ""),
    ({}, "C", "rule_unknown", "kind"),
    ({"kind": "email"}, "C", "rule_unknown", "kind"),
    ({"kind": 3}, "C", "rule_unknown", "kind"),
    ({"kind": "id_number"}, "M", "rule_not_for_type", "kind"),
    ({"kind": "uscc"}, "N", "rule_not_for_type", "kind"),
    ({"kind": "phone"}, "I", "rule_not_for_type", "kind"),
    ({"kind": "regex", "pattern": "a"}, "D", "rule_not_for_type", "kind"),
    ({"kind": "enum", "values": [1]}, "F", "rule_not_for_type", "kind"),
    ({"kind": "enum", "values": ["a"]}, "D", "rule_not_for_type", "kind"),
    ({"kind": "range", "min": 1}, "C", "rule_not_for_type", "kind"),
    ({"kind": "range", "min": 1}, "L", "rule_not_for_type", "kind"),
    ({"kind": "range", "min": 1}, "G", "rule_not_for_type", "kind"),
    ({"kind": "range", "min": 1}, "Z", "rule_not_for_type", "kind"),
    ({"kind": "id_number", "strict": True}, "C", "rule_extra_field", "strict"),
    ({"kind": "range", "min": 1, "maximum": 3}, "N", "rule_extra_field", "maximum"),
    ({"kind": "enum", "values": ["a"], "pattern": "a"}, "C", "rule_extra_field", "pattern"),
    ({"kind": "enum"}, "C", "enum_empty", "values"),
    ({"kind": "enum", "values": []}, "C", "enum_empty", "values"),
    ({"kind": "enum", "values": [str(n) for n in range(1001)]}, "C", "enum_too_many", "values"),
    ({"kind": "enum", "values": "01,02"}, "C", "enum_bad_value", "values"),
    ({"kind": "enum", "values": ["01", 2]}, "C", "enum_bad_value", "values"),
    ({"kind": "enum", "values": ["a" * 501]}, "C", "enum_bad_value", "values"),
    ({"kind": "enum", "values": ["a\x00"]}, "C", "enum_bad_value", "values"),
    ({"kind": "enum", "values": ["one"]}, "N", "enum_bad_value", "values"),
    ({"kind": "enum", "values": [True]}, "N", "enum_bad_value", "values"),
    ({"kind": "enum", "values": [float("nan")]}, "Y", "enum_bad_value", "values"),
    ({"kind": "enum", "values": ["Infinity"]}, "Y", "enum_bad_value", "values"),
    ({"kind": "enum", "values": [None]}, "N", "enum_bad_value", "values"),
    ({"kind": "enum", "values": [1.5]}, "I", "enum_bad_value", "values"),
    ({"kind": "enum", "values": [2**63]}, "I", "enum_bad_value", "values"),
    ({"kind": "range"}, "N", "range_empty", "min"),
    ({"kind": "range", "min": None, "max": None}, "D", "range_empty", "min"),
    ({"kind": "range", "min": "ten"}, "N", "range_bad_bound", "min"),
    ({"kind": "range", "max": "1_000"}, "N", "range_bad_bound", "max"),
    ({"kind": "range", "max": "1e1000000"}, "N", "range_bad_bound", "max"),
    ({"kind": "range", "max": 10**100}, "N", "range_bad_bound", "max"),
    ({"kind": "range", "max": False}, "N", "range_bad_bound", "max"),
    ({"kind": "range", "min": "1e400"}, "F", "range_bad_bound", "min"),
    ({"kind": "range", "min": 2**63}, "I", "range_bad_bound", "min"),
    ({"kind": "range", "min": "2024-02-30"}, "D", "range_bad_bound", "min"),
    ({"kind": "range", "min": "2024/01/01"}, "D", "range_bad_bound", "min"),
    ({"kind": "range", "min": "2024-01-01T00:00"}, "D", "range_bad_bound", "min"),
    ({"kind": "range", "min": 20240101}, "D", "range_bad_bound", "min"),
    ({"kind": "range", "max": "yesterday"}, "T", "range_bad_bound", "max"),
    ({"kind": "range", "min": 10, "max": "9.99"}, "N", "range_inverted", "max"),
    ({"kind": "range", "min": "2024-01-02", "max": "2024-01-01"}, "D", "range_inverted", "max"),
    ({"kind": "range", "min": "2024-01-01T09:00+08:00", "max": "2024-01-01T00:59"}, "T", "range_inverted", "max"),
    ({"kind": "regex", "pattern": "a" * 501}, "C", "regex_too_long", "pattern"),
    ({"kind": "regex"}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": ""}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": ["a"]}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": "(ab"}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": r"(a)\1"}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": "(?=a)a"}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": "a{1001}"}, "C", "regex_invalid", "pattern"),
    ({"kind": "regex", "pattern": "((a{100}){100}){100}"}, "C", "regex_invalid", "pattern"),
]


@pytest.mark.parametrize(("data", "letter", "code", "field"), BAD_DEFINITIONS)
def test_a_rule_definition_that_cannot_be_used_is_refused_with_its_code_and_field(
        data: Any, letter: str, code: str, field: str) -> None:
    error = rule_error(data, letter)
    assert (error.code, error.field) == (code, field)
    assert str(error).startswith(f"{code}: ") and error.detail


def test_every_rule_error_code_is_reachable() -> None:
    assert {code for _, _, code, _ in BAD_DEFINITIONS} == set(RULE_ERROR_CODES)


def test_a_pattern_that_does_not_compile_is_refused_with_re2s_message() -> None:
    error = rule_error({"kind": "regex", "pattern": "(ab"})
    assert error.detail == "RE2 cannot compile it: missing ): (ab"


def test_a_range_may_have_equal_bounds() -> None:
    assert reason_of(Decimal("5.0"), "range", "N", min=5, max="5.00") is None


@pytest.mark.parametrize(("data", "letter"), [
    ({"kind": "id_number"}, "C"), ({"kind": "uscc"}, "C"), ({"kind": "phone"}, "C"),
    ({"kind": "enum", "values": ["01", " 02 ", "01"]}, "C"), ({"kind": "enum", "values": [1, "2.50", 0.1]}, "N"),
    ({"kind": "enum", "values": ["7", 8]}, "I"),
    ({"kind": "range", "min": "-1.5E+3"}, "Y"), ({"kind": "range", "min": 0, "max": 1}, "I"),
    ({"kind": "range", "max": 0.25}, "F"), ({"kind": "range", "min": "2024-01-01", "max": "2024-12-31"}, "D"),
    ({"kind": "range", "max": "2024-01-01T08:00:00+08:00"}, "T"), ({"kind": "regex", "pattern": r"\d{6}"}, "C"),
])
def test_a_rule_as_data_reads_back_as_the_same_rule(data: dict[str, Any], letter: str) -> None:
    parsed = parse_rule(data, letter)
    assert parse_rule(parsed.as_data(), letter) == parsed
    assert set(parsed.as_data()) <= set(data)


def test_an_enum_keeps_each_value_once_in_the_given_order() -> None:
    assert rule(kind="enum", values=["02", "01", " 02", "01"]).values == ("02", "01")
    assert rule("N", kind="enum", values=["1.0", 1, "2"]).values == (Decimal("1.0"), Decimal("2"))


# -- one value, a row ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("letter", "data"), [
    ("C", {"kind": "id_number"}), ("C", {"kind": "uscc"}), ("C", {"kind": "phone"}),
    ("C", {"kind": "enum", "values": ["a"]}), ("N", {"kind": "enum", "values": [1]}),
    ("N", {"kind": "range", "min": 1}), ("D", {"kind": "range", "min": "2024-01-01"}),
    ("C", {"kind": "regex", "pattern": "a"}),
])
def test_an_empty_value_passes_every_rule(letter: str, data: dict[str, Any]) -> None:
    assert check(None, parse_rule(data, letter)) is None


@pytest.mark.parametrize("kind", ["id_number", "uscc", "phone"])
def test_an_empty_text_is_not_a_valid_code(kind: str) -> None:
    assert reason_of("", kind) is not None
    assert reason_of("   ", kind) is not None


def test_a_text_rule_given_a_value_that_was_not_converted_is_a_programming_error() -> None:
    for data in ({"kind": "id_number"}, {"kind": "uscc"}, {"kind": "phone"}, {"kind": "enum", "values": ["1"]},
                 {"kind": "regex", "pattern": "1"}):
        with pytest.raises(TypeError):
            check(1, parse_rule(data, "C"))


def test_a_reason_quotes_at_most_40_characters_of_the_value() -> None:
    reason = reason_of("x" * 100, "phone")
    assert reason == f"bad_phone: not a mobile, landline with area code or service number: {'x' * 40 + '…'!r}"
    assert rules.shown(b"\x00\xff") == "'00ff'"


def test_a_rule_set_reports_each_broken_rule_with_its_item_in_order() -> None:
    rule_set = RuleSet({
        5: [rule("N", kind="range", min=0), rule("N", kind="enum", values=[1, 2, 3])],
        0: [rule(kind="id_number")],
        2: [rule(kind="phone")],
        3: [],
    }, today=TODAY)
    assert len(rule_set) == 4
    assert list(rule_set.rules) == [0, 2, 5]
    good = [PUBLISHED_ID, "x", "13812345678", None, "y", Decimal(2)]
    assert rule_set.check_row(good) == []
    assert rule_set.check_row([None] * 6) == []
    problems = rule_set.check_row([PUBLISHED_ID[:17] + "0", "x", "13812345678", None, "y", Decimal(-5)])
    assert [(index, reason.split(":")[0]) for index, reason in problems] == [
        (0, "bad_id_check"), (5, "below_min"), (5, "not_in_enum")]


def test_an_empty_rule_set_checks_nothing() -> None:
    rule_set = RuleSet({})
    assert len(rule_set) == 0
    assert rule_set.check_row(["anything"]) == []


def test_a_rule_set_refuses_a_negative_item_index() -> None:
    with pytest.raises(ValueError):
        RuleSet({-1: [rule(kind="phone")]})


def test_every_reason_code_is_reachable() -> None:
    samples: list[tuple[Any, str, str, dict[str, Any]]] = [
        ("x", "id_number", "C", {}), ("110105491231002", "id_number", "C", {}),
        (make_id(birth="19990230"), "id_number", "C", {}), (PUBLISHED_ID[:17] + "1", "id_number", "C", {}),
        ("x", "uscc", "C", {}), (PUBLISHED_USCC[:17] + "0", "uscc", "C", {}), ("x", "phone", "C", {}),
        ("x", "enum", "C", {"values": ["y"]}), (0, "range", "I", {"min": 1}), (2, "range", "I", {"max": 1}),
        ("x", "regex", "C", {"pattern": "y"}),
    ]
    assert {code_of(value, kind, letter, **data) for value, kind, letter, data in samples} == set(REASON_CODES)
