"""Check characters of 统一社会信用代码 (GB 32100) and 公民身份号码 (GB 11643) — SEC-1.

Valid samples come from the demo generators; invalid ones are real-format codes broken in one way
each, and every error names what is wrong (code, field, message).
"""

from __future__ import annotations

import pytest

from govshare.core.demo import make_id_number, make_uscc
from govshare.core.errors import ValidationFailed
from govshare.core.validators import (
    USCC_ALPHABET,
    id_check_char,
    mask_id_number,
    normalize_id_number,
    normalize_uscc,
    uscc_check_char,
)

VALID_USCC = [make_uscc(region, seq) for region in ("360783", "110105", "440300") for seq in (1, 7, 1000, 99999)]
VALID_IDS = [make_id_number(region, birth, seq)
             for region, birth, seq in (("360783", "19900101", 101), ("110105", "19491001", 7),
                                        ("440300", "20000229", 999), ("360702", "19780312", 11))]


def _other_char(alphabet: str, ch: str) -> str:
    return next(c for c in alphabet if c != ch)


@pytest.mark.parametrize("code", VALID_USCC)
def test_a_generated_uscc_is_accepted(code: str) -> None:
    assert normalize_uscc(code) == code


def test_a_uscc_is_normalised_to_upper_case_without_spaces() -> None:
    code = "91350100M000100Y43"  # a published sample with letters in the body and check character
    assert normalize_uscc(f"  {code.lower()} ") == code


def test_a_published_real_world_uscc_is_accepted() -> None:
    # the check character of a well-known published code (Huawei Technologies Co., Ltd.)
    assert normalize_uscc("914403001922038216") == "914403001922038216"


@pytest.mark.parametrize("code", ["", "91440300192203821", "9144030019220382160", "9144030019220382"])
def test_a_uscc_of_the_wrong_length_is_refused_naming_the_length(code: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_uscc(code)
    assert info.value.code == "invalid_uscc_length"
    assert info.value.field == "uscc"
    assert str(len(code)) in info.value.render("en")


@pytest.mark.parametrize("bad", ["I", "O", "Z", "S", "V"])
def test_a_uscc_with_a_letter_gb32100_excludes_is_refused_naming_the_letter(bad: str) -> None:
    code = VALID_USCC[0]
    broken = code[:8] + bad + code[9:]
    with pytest.raises(ValidationFailed) as info:
        normalize_uscc(broken)
    assert info.value.code == "invalid_uscc_char"
    assert bad in info.value.render("en")


def test_a_uscc_with_a_wrong_check_character_is_refused_naming_the_expected_one() -> None:
    code = VALID_USCC[3]
    wrong = _other_char(USCC_ALPHABET, code[-1])
    with pytest.raises(ValidationFailed) as info:
        normalize_uscc(code[:17] + wrong)
    assert info.value.code == "invalid_uscc_check"
    message = info.value.render("en")
    assert f"expected {code[-1]}" in message and f"got {wrong}" in message


def test_a_single_changed_character_in_the_body_breaks_the_uscc_check() -> None:
    code = VALID_USCC[5]
    body = code[:10] + _other_char(USCC_ALPHABET, code[10]) + code[11:17]
    assert uscc_check_char(body) != code[-1]
    with pytest.raises(ValidationFailed):
        normalize_uscc(body + code[-1])


def test_the_error_field_can_be_renamed_for_other_forms() -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_uscc("123", field="provider_uscc")
    assert info.value.field == "provider_uscc"


@pytest.mark.parametrize("number", VALID_IDS)
def test_a_generated_id_number_is_accepted(number: str) -> None:
    assert normalize_id_number(number) == number


def test_a_lower_case_x_check_digit_is_accepted_as_upper_case() -> None:
    seq = next(s for s in range(1000) if id_check_char(f"11010519800101{s:03d}") == "X")
    number = make_id_number("110105", "19800101", seq)
    assert number.endswith("X")
    assert normalize_id_number(number.lower()) == number


@pytest.mark.parametrize("number", ["", "36078319900101101", "3607831990010110100", "36078319900101A01X",
                                    "36078319900101101Y"])
def test_an_id_number_of_the_wrong_format_is_refused(number: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_id_number(number)
    assert info.value.code == "invalid_id_format"
    assert info.value.field == "id_number"
    assert "GB 11643" in info.value.render("en")


@pytest.mark.parametrize("birth", ["19900230", "19901301", "18991231", "29990101", "19900000"])
def test_an_id_number_with_an_impossible_birth_date_is_refused(birth: str) -> None:
    first17 = f"360783{birth}101"
    with pytest.raises(ValidationFailed) as info:
        normalize_id_number(first17 + id_check_char(first17))
    assert info.value.code == "invalid_id_birthdate"
    assert "date of birth" in info.value.render("en")


def test_an_id_number_with_a_wrong_check_digit_is_refused_naming_the_expected_one() -> None:
    number = VALID_IDS[0]
    wrong = "0" if number[-1] != "0" else "1"
    with pytest.raises(ValidationFailed) as info:
        normalize_id_number(number[:17] + wrong)
    assert info.value.code == "invalid_id_check"
    assert f"expected {number[-1]}" in info.value.render("en")


def test_errors_are_rendered_in_chinese_and_english() -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_id_number("bad")
    data = info.value.as_dict()
    assert data["code"] == "invalid_id_format"
    assert data["message_en"] and data["message_zh"]


def test_a_masked_id_number_shows_only_region_prefix_and_last_four() -> None:
    number = VALID_IDS[0]
    masked = mask_id_number(number)
    assert masked == number[:4] + "*" * 10 + number[-4:]
    assert number[6:14] not in masked  # the birth date is hidden


# ------------------------------------------------------------------ one spelling per code (review finding 3, 20)

def _shift_digits(text: str, zero: str) -> str:
    return "".join(chr(ord(ch) - ord("0") + ord(zero)) if ch.isdigit() else ch for ch in text)


def test_a_full_width_id_number_is_the_same_number_in_ascii() -> None:
    number = VALID_IDS[1]
    full_width = _shift_digits(number, "０").replace("X", "Ｘ")
    assert normalize_id_number(f" {full_width} ") == number


@pytest.mark.parametrize("zero", ["٠", "۰", "०"])  # Arabic-Indic, extended Arabic-Indic, Devanagari
def test_an_id_number_in_other_scripts_digits_is_refused_as_a_format_error(zero: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_id_number(_shift_digits(VALID_IDS[0][:17], zero) + VALID_IDS[0][17])
    assert info.value.code == "invalid_id_format" and info.value.field == "id_number"


@pytest.mark.parametrize("odd", ["²", "①", "𝟐"])  # superscript, circled, mathematical digit
def test_an_id_number_with_an_odd_digit_is_a_validation_error_not_a_crash(odd: str) -> None:
    number = VALID_IDS[0]
    with pytest.raises(ValidationFailed) as info:
        normalize_id_number(number[:5] + odd + number[6:])
    assert info.value.field == "id_number"


def test_a_full_width_uscc_is_the_same_code_in_ascii() -> None:
    code = VALID_USCC[0]
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in code)  # ASCII → full-width forms
    assert normalize_uscc(full_width) == code


@pytest.mark.parametrize("region", ["ABCDEF", "36078A", "A60783"])
def test_a_uscc_whose_region_code_is_not_six_digits_is_refused_naming_it(region: str) -> None:
    """GB 32100 §4: characters 3-8 are the administrative-division code (GB/T 2260)."""
    first17 = "91" + region + "MA3500000"
    with pytest.raises(ValidationFailed) as info:
        normalize_uscc(first17 + uscc_check_char(first17))
    assert info.value.code == "invalid_uscc_region" and info.value.field == "uscc"
    assert region in info.value.render("en")
