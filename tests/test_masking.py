"""Masking has one home (SEC-3, LN-§22; issue 11): ``govshare.core.masking`` turns the catalog's free-text
masking rules into structured masks — strictly, a rule it does not understand is refused (fail closed) —
and applies them to names, ID numbers, phone numbers, addresses, accounts, dates and amounts.  Django-free:
these tests need no database."""

from __future__ import annotations

import ast
import base64
import datetime as dt
import hashlib
import hmac
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from govshare.core import masking
from govshare.core.masking import KINDS, Mask, MaskRuleError, grant_key, mask_row, parse

pytestmark = pytest.mark.once

#: the demo's rules (govshare/catalog/demo_data/tables.yaml, ``masks:``) and what they must parse to
DEMO_RULES = {
    "account": ("仅保留后4位，其余以*替代", Mask("keep", last=4)),
    "address": ("保留至乡镇（街道）一级，其后以*替代", Mask("address", unit="township")),
    "document": ("保留前2位和后3位，其余以*替代", Mask("keep", first=2, last=3)),
    "health": ("不提供明文；统计用途仅提供疾病分类编码（ICD-10）前3位", Mask("null")),
    "id": ("保留前6位和后4位，其余以*替代", Mask("keep", first=6, last=4)),
    "name": ("保留姓氏，其余以*替代", Mask("surname")),
    "owner": ("自然人保留姓氏，单位名称不脱敏", Mask("person_surname")),
    "phone": ("保留前3位和后4位，其余以*替代", Mask("keep", first=3, last=4)),
}

#: one mask of every kind (and the fill and unit variants)
EVERY_KIND = [Mask("none"), Mask("keep", first=6, last=4), Mask("keep", last=4, fill="#"),
              Mask("keep", first=3), Mask("surname"), Mask("surname", fill="X"), Mask("person_surname"),
              Mask("address", unit="township"), Mask("address", unit="township", fill="○"), Mask("null"),
              Mask("date", unit="month"), Mask("date", unit="year"), Mask("round", digits=2),
              Mask("round", digits=0), Mask("round", digits=-3), Mask("pseudonym")]

KEY = grant_key(b"platform secret", "GR-2026-0001")
OTHER_GRANT_KEY = grant_key(b"platform secret", "GR-2026-0002")


def _error(rule: str | None) -> MaskRuleError:
    with pytest.raises(MaskRuleError) as caught:
        parse(rule)
    return caught.value


# ------------------------------------------------------------------ the module stays Django-free

def test_the_masking_module_imports_the_standard_library_only_so_table_copy_engines_can_call_it() -> None:
    tree = ast.parse(Path(masking.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"django", "govshare"}
    assert imported <= {"__future__", "base64", "datetime", "functools", "hashlib", "hmac", "math", "re",
                        "unicodedata", "uuid", "collections", "dataclasses", "decimal", "typing"}


# ------------------------------------------------------------------ parsing the demo's rules

@pytest.mark.parametrize("name", sorted(DEMO_RULES))
def test_every_demo_rule_parses_to_its_structured_mask(name: str) -> None:
    rule, expected = DEMO_RULES[name]
    assert parse(rule) == expected


def test_the_demo_rules_are_exactly_the_rules_of_the_demo_data_file() -> None:
    text = (Path(masking.__file__).parents[1] / "catalog/demo_data/tables.yaml").read_text(encoding="utf-8")
    block = text.split("\nmasks:\n", 1)[1].split("\n")
    rules = {}
    for line in block:
        if not line.startswith("  "):
            break
        name, _, rule = line.strip().partition(": ")
        rules[name] = rule
    assert rules == {name: rule for name, (rule, _) in DEMO_RULES.items()}


def test_the_health_rule_delivers_nothing_its_statistics_exception_is_not_applied() -> None:
    mask = parse(DEMO_RULES["health"][0])
    assert mask.kind == "null"
    assert mask.apply("J45.901 支气管哮喘") is None


# ------------------------------------------------------------------ parsing: the accepted forms

@pytest.mark.parametrize(("rule", "expected"), [
    ("保留前6位和后4位", Mask("keep", first=6, last=4)),
    ("保留前6位、后4位", Mask("keep", first=6, last=4)),
    ("保留前6位", Mask("keep", first=6)),
    ("保留后4位", Mask("keep", last=4)),
    ("仅保留前3位", Mask("keep", first=3)),
    ("只保留后4个字符", Mask("keep", last=4)),
    ("保留前1字和后1字", Mask("keep", first=1, last=1)),
    ("保留前３位和后４位", Mask("keep", first=3, last=4)),
    ("保留前三位和后四位", Mask("keep", first=3, last=4)),
    ("保留前两位和后十二位", Mask("keep", first=2, last=12)),
    ("  保留 前6位 和 后4位 。", Mask("keep", first=6, last=4)),
    ("保留前6位和后4位其余用X代替", Mask("keep", first=6, last=4, fill="X")),
    ("保留后4位，其余以#替代", Mask("keep", last=4, fill="#")),
    ("保留后4位，其余以＃号替代", Mask("keep", last=4, fill="#")),
    ("保留后4位，其余以星号替代", Mask("keep", last=4)),
    ("保留后4位；其余替换为X", Mask("keep", last=4, fill="X")),
    ("仅显示姓氏", Mask("surname")),
    ("只保留姓", Mask("surname")),
    ("个人保留姓氏，单位不脱敏", Mask("person_surname")),
    ("保留到乡镇(街道)", Mask("address", unit="township")),
    ("保留至乡镇级", Mask("address", unit="township")),
    ("保留至乡镇（街道）一级，其后以○替代", Mask("address", unit="township", fill="○")),
    ("不提供明文", Mask("null")),
    ("置空", Mask("null")),
    ("不提供", Mask("null")),
    ("不予提供", Mask("null")),
    ("屏蔽", Mask("null")),
    ("日期保留到月", Mask("date", unit="month")),
    ("保留至月份", Mask("date", unit="month")),
    ("精确到月", Mask("date", unit="month")),
    ("日期保留到年", Mask("date", unit="year")),
    ("保留至年份", Mask("date", unit="year")),
    ("精确到年", Mask("date", unit="year")),
    ("取整", Mask("round")),
    ("数值取整", Mask("round")),
    ("保留2位小数", Mask("round", digits=2)),
    ("保留两位小数", Mask("round", digits=2)),
    ("四舍五入到十位", Mask("round", digits=-1)),
    ("四舍五入到百位", Mask("round", digits=-2)),
    ("四舍五入到千位", Mask("round", digits=-3)),
    ("精确到万位", Mask("round", digits=-4)),
    ("假名", Mask("pseudonym")),
    ("假名化", Mask("pseudonym")),
    ("按授权生成假名", Mask("pseudonym")),
    ("关键字哈希", Mask("pseudonym")),
    ("哈希化", Mask("pseudonym")),
    ("", Mask("none")),
    ("   ", Mask("none")),
    (None, Mask("none")),
    ("不脱敏", Mask("none")),
    ("无", Mask("none")),
    ("none", Mask("none")),
])
def test_parse_accepts_the_sec3_rule_forms(rule: str | None, expected: Mask) -> None:
    assert parse(rule) == expected


@pytest.mark.parametrize(("rule", "expected"), [
    ("keep:first=6,last=4", Mask("keep", first=6, last=4)),
    ("KEEP : First = 6 , LAST = 4", Mask("keep", first=6, last=4)),
    ("keep:last=4,first=6,fill=#", Mask("keep", first=6, last=4, fill="#")),
    ("keep:first=6,last=4,fill=X", Mask("keep", first=6, last=4, fill="X")),
    ("ｋｅｅｐ：ｆｉｒｓｔ＝６，ｌａｓｔ＝４", Mask("keep", first=6, last=4)),
    ("Surname", Mask("surname")),
    ("address: township", Mask("address", unit="township")),
    ("DATE:Month", Mask("date", unit="month")),
    ("round: -3", Mask("round", digits=-3)),
    ("round:+2", Mask("round", digits=2)),
    ("NULL", Mask("null")),
    ("Pseudonym", Mask("pseudonym")),
])
def test_structured_forms_are_case_insensitive_and_allow_spaces_around_punctuation(rule: str, expected: Mask) -> None:
    assert parse(rule) == expected


@pytest.mark.parametrize("mask", EVERY_KIND, ids=lambda m: m.canonical())
def test_the_canonical_form_of_every_kind_parses_back_to_the_same_mask(mask: Mask) -> None:
    assert parse(mask.canonical()) == mask


def test_canonical_forms_are_the_structured_forms() -> None:
    assert [m.canonical() for m in EVERY_KIND] == [
        "none", "keep:first=6,last=4", "keep:first=0,last=4,fill=#", "keep:first=3,last=0", "surname",
        "surname:fill=X", "person_surname", "address:township", "address:township,fill=○", "null",
        "date:month", "date:year", "round:2", "round:0", "round:-3", "pseudonym"]


def test_every_kind_is_covered_by_the_round_trip_cases() -> None:
    assert {m.kind for m in EVERY_KIND} == set(KINDS)


def test_parse_is_cached_on_the_rule_text() -> None:
    assert parse("保留前6位和后4位，其余以*替代") is parse("保留前6位和后4位，其余以*替代")


# ------------------------------------------------------------------ parsing: refusing what it does not understand

@pytest.mark.parametrize("rule", ["保留一些", "abc", "keep", "keep:fill=#", "keep:first=6,middle=2",
                                  "keep:first=6,first=4", "date:week", "round", "address:county",
                                  "surname:first=1", "保留前6位和后4位，其余随意", "仅显示名字", "脱敏处理",
                                  "日期保留到日", "四舍五入到厘位"])
def test_a_rule_it_does_not_understand_is_refused_never_guessed(rule: str) -> None:
    error = _error(rule)
    assert error.code == "unknown_rule"
    assert repr(rule.strip()) in error.detail or repr(rule) in error.detail
    assert "保留前m位和后n位" in error.detail  # lists the accepted forms


@pytest.mark.parametrize("rule", ["keep:first=x", "keep:first=6,last=-1", "保留前100位", "保留前65位",
                                  "keep:first=65,last=0", "round:13", "round:-13", "round:x", "保留13位小数",
                                  "保留前二二位"])
def test_counts_that_are_not_numbers_or_out_of_range_are_refused_as_bad_number(rule: str) -> None:
    assert _error(rule).code == "bad_number"


def test_the_largest_counts_in_range_are_accepted() -> None:
    assert parse("keep:first=64,last=64") == Mask("keep", first=64, last=64)
    assert parse("round:-12") == Mask("round", digits=-12)
    assert parse("保留12位小数") == Mask("round", digits=12)


@pytest.mark.parametrize("rule", ["其余以*替代", "，；。", "、"])
def test_a_rule_without_anything_to_keep_is_refused_as_empty(rule: str) -> None:
    assert _error(rule).code == "empty_rule"


@pytest.mark.parametrize("rule", ["保留后4位，其余以0替代", "keep:last=4,fill=0", "keep:last=4,fill=**",
                                  "保留后4位，其余以#替代，其余以*替代"])
def test_a_fill_that_is_a_digit_or_ambiguous_is_refused(rule: str) -> None:
    assert _error(rule).code == "unknown_rule"


@pytest.mark.parametrize("rule", ["取整，其余以*替代", "date:month,fill=#", "null:fill=#", "pseudonym:fill=#"])
def test_a_replacement_character_on_a_kind_that_replaces_no_characters_is_refused(rule: str) -> None:
    assert _error(rule).code == "unknown_rule"


def test_a_rule_that_is_not_text_is_refused() -> None:
    assert _error(42).code == "unknown_rule"  # type: ignore[arg-type]


def test_masks_built_directly_are_checked_like_parsed_ones() -> None:
    with pytest.raises(MaskRuleError) as caught:
        Mask("blur")
    assert caught.value.code == "unknown_rule"
    with pytest.raises(MaskRuleError) as caught:
        Mask("keep", first=65)
    assert caught.value.code == "bad_number"
    with pytest.raises(MaskRuleError):
        Mask("surname", first=1)
    with pytest.raises(MaskRuleError):
        Mask("date")
    with pytest.raises(MaskRuleError):
        Mask("round", digits=2, fill="#")
    assert Mask("address") == Mask("address", unit="township")


def test_a_mask_rule_error_keeps_its_code_and_detail_across_processes() -> None:
    error = pickle.loads(pickle.dumps(MaskRuleError("unknown_rule", "masking rule 'x' is not understood")))
    assert (error.code, error.detail) == ("unknown_rule", "masking rule 'x' is not understood")
    assert isinstance(error, ValueError)


# ------------------------------------------------------------------ keep: ID numbers, phones, accounts, documents

def test_id_number_keeps_first_six_and_last_four() -> None:
    assert parse(DEMO_RULES["id"][0]).apply("360727199001011234") == "360727********1234"


def test_id_number_ending_in_x_keeps_its_check_character() -> None:
    assert parse(DEMO_RULES["id"][0]).apply("36072719900101123X") == "360727********123X"


def test_mobile_number_keeps_first_three_and_last_four() -> None:
    assert parse(DEMO_RULES["phone"][0]).apply("13800138000") == "138****8000"


def test_fixed_line_number_keeps_first_three_and_last_four_and_its_length() -> None:
    assert parse(DEMO_RULES["phone"][0]).apply("0797-1234567") == "079*****4567"


def test_account_keeps_only_its_last_four_digits() -> None:
    assert parse(DEMO_RULES["account"][0]).apply("6222021234567890123") == "*" * 15 + "0123"


def test_document_number_keeps_first_two_and_last_three() -> None:
    assert parse(DEMO_RULES["document"][0]).apply("E12345678") == "E1****678"


def test_keep_counts_chinese_characters_one_each() -> None:
    assert Mask("keep", first=2, last=1).apply("赣州市龙南市") == "赣州***市"


def test_keep_with_a_custom_fill_character() -> None:
    assert parse("保留后4位，其余以#替代").apply("6222021234567890") == "#" * 12 + "7890"


@pytest.mark.parametrize(("value", "expected"), [
    ("1234", "**34"), ("1234567", "1****67"), ("12", "*2"), ("1", "*"), ("", "")])
def test_keep_on_a_value_no_longer_than_both_kept_parts_shows_at_most_half_of_it(value: str, expected: str) -> None:
    masked = Mask("keep", first=3, last=4).apply(value)
    assert masked == expected
    assert len(masked) == len(value)
    assert sum(ch != "*" for ch in masked) <= len(value) // 2


def test_keep_on_a_short_value_takes_the_shown_characters_proportionally_from_both_ends() -> None:
    assert Mask("keep", first=6, last=4).apply("3607271234") == "360*****34"
    assert Mask("keep", first=4, last=0).apply("abcd") == "ab**"
    assert Mask("keep", first=0, last=4).apply("abcd") == "**cd"


def test_keep_nothing_masks_every_character() -> None:
    assert Mask("keep").apply("13800138000") == "*" * 11


def test_keep_works_on_the_text_of_numbers_dates_and_booleans() -> None:
    keep = Mask("keep", first=3, last=4)
    assert keep.apply(13800138000) == "138****8000"
    assert keep.apply(Decimal("13800138000.50")) == "138*******0.50"
    assert keep.apply(Decimal("1E+10")) == "100****0000"
    assert keep.apply(dt.date(1990, 1, 1)) == "199***1-01"
    assert keep.apply(dt.datetime(1990, 1, 1, 8, 30)) == "199" + "*" * 12 + "0:00"
    assert Mask("keep", first=1).apply(True) == "t***"


def test_text_masks_refuse_bytes_naming_the_kind_of_value_not_the_value() -> None:
    for mask in (Mask("keep", last=4), Mask("surname"), Mask("person_surname"), Mask("address"),
                 Mask("pseudonym")):
        with pytest.raises(MaskRuleError) as caught:
            mask.apply(b"secret-bytes", key=KEY)
        assert caught.value.code == "not_applicable"
        assert "bytes" in caught.value.detail and "secret" not in caught.value.detail


# ------------------------------------------------------------------ surname: names

@pytest.mark.parametrize(("name", "expected"), [
    ("张三", "张*"), ("李小龙", "李**"), ("欧阳娜娜", "欧阳**"), ("欧阳", "欧*"), ("司马光", "司马*"),
    ("诸葛孔明", "诸葛**"), ("买买提·艾力", "买**·**"), ("张", "*"), ("", ""),
])
def test_surname_keeps_the_surname_compound_ones_of_two_characters(name: str, expected: str) -> None:
    assert parse(DEMO_RULES["name"][0]).apply(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("Zhang San", "Zhang ***"), ("ZHANG San Feng", "ZHANG *** ****"), ("Madonna", "M******"),
    ("O'Brien Mary-Jane", "O'Brien ****-****"),
])
def test_surname_of_a_latin_name_keeps_its_first_word(name: str, expected: str) -> None:
    assert Mask("surname").apply(name) == expected


def test_surname_keeps_separators_and_spaces_and_uses_the_fill() -> None:
    assert Mask("surname", fill="某").apply("阿卜杜拉 • 买买提") == "阿某某某 • 某某某"


# ------------------------------------------------------------------ person_surname: owners

@pytest.mark.parametrize("organisation", ["江西龙南稀土有限公司", "龙南市公安局", "龙南县第二中学校", "龙南市人民医院",
                                          "杨村镇人民政府", "龙南县金塘大道便民超市", "Longnan Rare Earth Co., Ltd."])
def test_person_surname_leaves_organisation_names_unmasked(organisation: str) -> None:
    assert parse(DEMO_RULES["owner"][0]).apply(organisation) == organisation


@pytest.mark.parametrize(("person", "expected"), [
    ("王五", "王*"), ("李学军", "李**"), ("欧阳娜娜", "欧阳**"), ("阿卜杜热合曼·买买提明", "阿*****·****"),
    ("Zhang San Feng", "Zhang *** ****"),
])
def test_person_surname_masks_person_names_as_surname(person: str, expected: str) -> None:
    assert parse(DEMO_RULES["owner"][0]).apply(person) == expected


def test_the_organisation_heuristic_errs_towards_masking() -> None:
    # one-character markers count only as the last character: 学, 会 … are common in given names
    assert not masking.is_organisation("张学友")
    assert not masking.is_organisation("王会芳")
    assert masking.is_organisation("龙南县教育局")
    # review: given names ending in 学 会 行 科 …, long names, names with another dot are persons
    for person in ("张文学", "李志会", "王一行", "刘建科", "王学", "阿不都热合曼买买提", "阿不都热合曼.买买提",
                   "买买提．艾力江", "阿卜杜热合曼·买买提明"):
        assert not masking.is_organisation(person), person
    # an organisation without a marker is masked like a person: the safe side
    assert not masking.is_organisation("龙南县稀土矿业开发")
    assert parse(DEMO_RULES["owner"][0]).apply("阿不都热合曼.买买提") == "阿*****.***"


# ------------------------------------------------------------------ address

@pytest.mark.parametrize(("address", "expected"), [
    ("江西省赣州市龙南市龙南镇金塘大道12号", "江西省赣州市龙南市龙南镇" + "*" * 7),
    ("广东省深圳市南山区粤海街道科技园路1号", "广东省深圳市南山区粤海街道" + "*" * 6),
    ("江西省赣州市龙南市临塘乡东坑村3组", "江西省赣州市龙南市临塘乡" + "*" * 5),
    ("内蒙古自治区锡林郭勒盟正蓝旗那日图苏木巴音嘎查8号", "内蒙古自治区锡林郭勒盟正蓝旗那日图苏木" + "*" * 6),
    ("北京市朝阳区建国路88号", "北京市朝阳区" + "*" * 6),
    ("南京市玄武区中山街88号", "南京市玄武区" + "*" * 6),
    ("金塘大道12号", "*" * 7),
    # review: a township word after the street (a compound's name) is not the township level
    ("赣州市章贡区红旗大道36号江南乡韵小区5栋301", "赣州市章贡区" + "*" * 18),
    ("深圳市南山区深南大道9988号华润城润府小镇3栋", "深圳市南山区" + "*" * 18),
    ("", ""),
])
def test_address_keeps_up_to_the_township_or_else_the_county(address: str, expected: str) -> None:
    assert parse(DEMO_RULES["address"][0]).apply(address) == expected


def test_address_keeps_up_to_the_earliest_township_marker() -> None:
    assert Mask("address").apply("龙南市龙南镇乡村路1号") == "龙南市龙南镇" + "*" * 5


def test_address_looks_for_a_county_marker_in_the_first_twelve_characters_only() -> None:
    assert Mask("address").apply("金塘大道一二三四五六七八号阳光小区") == "*" * 17


# ------------------------------------------------------------------ null and none

@pytest.mark.parametrize("value", ["J45.901", 42, Decimal("1.5"), dt.date(2024, 5, 17), b"\x00", True])
def test_null_delivers_nothing(value: Any) -> None:
    assert Mask("null").apply(value) is None


@pytest.mark.parametrize("value", ["张三", 42, Decimal("1.50"), dt.date(2024, 5, 17), b"\x00", True])
def test_none_delivers_the_value_unchanged(value: Any) -> None:
    assert Mask("none").apply(value) is value


@pytest.mark.parametrize("mask", EVERY_KIND, ids=lambda m: m.canonical())
def test_a_missing_value_stays_missing_under_every_kind(mask: Mask) -> None:
    assert mask.apply(None) is None
    assert mask.apply(None, key=KEY) is None


def test_hides_value_is_false_only_for_none() -> None:
    assert [m.kind for m in EVERY_KIND if not m.hides_value] == ["none"]


# ------------------------------------------------------------------ date

@pytest.mark.parametrize("value", [dt.date(2024, 5, 17), dt.datetime(2024, 5, 17, 23, 59), "2024-05-17",
                                   "20240517", "2024-05-17T10:00:00+08:00", "2024-05-17 10:00:00"])
def test_date_keeps_the_year_and_month_or_the_year(value: Any) -> None:
    assert Mask("date", unit="month").apply(value) == "2024-05"
    assert Mask("date", unit="year").apply(value) == "2024"


@pytest.mark.parametrize("value", ["张三", "2024-13-01", "20240231", "2024/05/17", "2024-05", 20240517,
                                   Decimal("20240517"), dt.time(10, 0), b"2024-05-17"])
def test_date_refuses_a_value_that_is_not_a_date_without_naming_it(value: Any) -> None:
    with pytest.raises(MaskRuleError) as caught:
        Mask("date", unit="month").apply(value)
    assert caught.value.code == "not_applicable"
    assert str(value) not in caught.value.detail


# ------------------------------------------------------------------ round

@pytest.mark.parametrize(("digits", "value", "expected"), [
    (-2, 1250, 1300), (-2, 1249, 1200), (-2, -1250, -1300), (-1, 5, 10), (-4, 123456, 120000),
    (0, 1250, 1250), (2, 1250, 1250),
])
def test_round_on_an_int_rounds_half_up_and_stays_an_int(digits: int, value: int, expected: int) -> None:
    result = Mask("round", digits=digits).apply(value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(("digits", "value", "expected"), [
    (-2, "1250.7", "1300"), (-2, "1249.99", "1200"), (0, "2.5", "3"), (0, "-2.5", "-3"), (2, "1.005", "1.01"),
    (2, "1.5", "1.50"), (-3, "-0.4", "0"),
])
def test_round_on_a_decimal_quantizes_half_up(digits: int, value: str, expected: str) -> None:
    result = Mask("round", digits=digits).apply(Decimal(value))
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_round_on_a_decimal_to_hundreds_has_exponent_zero() -> None:
    assert Mask("round", digits=-2).apply(Decimal("1250.7")).as_tuple().exponent == 0


@pytest.mark.parametrize(("digits", "value", "expected"), [
    (2, 1.005, 1.01), (2, 2.675, 2.68), (0, 0.5, 1.0), (-2, 1250.0, 1300.0), (-1, -15.0, -20.0)])
def test_round_on_a_float_rounds_half_up_through_its_decimal_text(digits: int, value: float, expected: float) -> None:
    result = Mask("round", digits=digits).apply(value)
    assert result == expected and type(result) is float


@pytest.mark.parametrize(("digits", "value", "expected"), [
    (-2, "1250.7", "1300"), (2, " 3.14159 ", "3.14"), (0, "1250", "1250"), (1, "-0.04", "0.0")])
def test_round_on_a_numeric_text_returns_text(digits: int, value: str, expected: str) -> None:
    assert Mask("round", digits=digits).apply(value) == expected


@pytest.mark.parametrize("value", ["十二", "1,250", "1e3", "", True, dt.date(2024, 5, 17), b"12"])
def test_round_refuses_values_that_are_not_numbers(value: Any) -> None:
    with pytest.raises(MaskRuleError) as caught:
        Mask("round", digits=-2).apply(value)
    assert caught.value.code == "not_applicable"


def test_round_leaves_nan_and_infinity_as_they_are() -> None:
    assert Mask("round", digits=2).apply(Decimal("Infinity")) == Decimal("Infinity")
    assert Mask("round", digits=2).apply(float("inf")) == float("inf")


# ------------------------------------------------------------------ pseudonym

def test_pseudonym_is_the_same_for_the_same_value_within_a_grant() -> None:
    mask = parse("按授权生成假名")
    token = mask.apply("360727199001011234", key=KEY)
    assert token == mask.apply("360727199001011234", key=KEY)
    assert token.startswith("P") and len(token) == 17 and token[1:].isalnum() and token[1:].isupper()
    assert mask.apply("360727199001011235", key=KEY) != token


def test_pseudonym_differs_across_grants() -> None:
    mask = Mask("pseudonym")
    assert mask.apply("360727199001011234", key=KEY) != mask.apply("360727199001011234", key=OTHER_GRANT_KEY)


def test_pseudonym_is_hmac_sha256_of_the_text_in_base32() -> None:
    digest = hmac.new(KEY, "张三".encode(), hashlib.sha256).digest()
    assert Mask("pseudonym").apply("张三", key=KEY) == "P" + base64.b32encode(digest).decode()[:16]


def test_grant_key_is_hmac_of_the_secret_over_the_grant() -> None:
    key = grant_key(b"platform secret", "GR-2026-0001")
    assert key == hmac.new(b"platform secret", b"govshare pseudonym v1\x00GR-2026-0001", hashlib.sha256).digest()
    assert len(key) == 32


def test_pseudonym_depends_on_the_text_so_the_int_42_and_the_str_42_give_one_token() -> None:
    mask = Mask("pseudonym")
    assert mask.apply(42, key=KEY) == mask.apply("42", key=KEY)
    assert mask.apply(Decimal("42.0"), key=KEY) != mask.apply(42, key=KEY)


@pytest.mark.parametrize("key", [None, b""])
def test_pseudonym_needs_the_grants_key(key: bytes | None) -> None:
    with pytest.raises(MaskRuleError) as caught:
        Mask("pseudonym").apply("张三", key=key)
    assert caught.value.code == "needs_key"


# ------------------------------------------------------------------ rows and data types

def test_mask_row_masks_position_wise_and_leaves_unmasked_positions() -> None:
    masks = [None, parse("保留姓氏"), parse(DEMO_RULES["id"][0]), Mask("none"), parse("日期保留到月"),
             Mask("null"), Mask("pseudonym")]
    row = ["A001", "李小龙", "360727199001011234", 3.5, dt.date(1990, 1, 1), "J45", None]
    assert mask_row(masks, row, key=KEY) == ["A001", "李**", "360727********1234", 3.5, "1990-01", None, None]


def test_mask_row_passes_the_grants_key_to_pseudonyms() -> None:
    assert mask_row([Mask("pseudonym")], ["张三"], key=KEY) == [Mask("pseudonym").apply("张三", key=KEY)]
    with pytest.raises(MaskRuleError):
        mask_row([Mask("pseudonym")], ["张三"])


def test_a_page_masked_column_by_column_is_what_masking_each_row_gives() -> None:
    """The many-row channels (batch downloads) mask a page a column at a time (column_masker): the same values as
    mask_row on each row — the unmasked columns not even copied, a value its mask cannot handle None when failing
    closed (the rest of its column still masked), an error otherwise."""
    import random

    from govshare.core.masking import column_masker

    rng = random.Random(5)
    masks = [None, parse("保留姓氏"), parse(DEMO_RULES["id"][0]), Mask("none"), parse("日期保留到月"), Mask("null"),
             Mask("pseudonym"), parse("取整"), parse("保留至乡镇（街道）一级")]
    pool = [["A001", "B2", None], ["李小龙", "欧阳娜娜", "Ann Lee", None, ""], ["360727199001011234", "12", None],
            [3.5, None, "x"], [dt.date(1990, 1, 1), "2024-02-30", "1990-05-06", None, 7],
            ["J45", None], ["张三", 42, None], [Decimal("12.5"), -3, 2.5, "9.51", "abc", None],
            ["龙南市龙南镇金水大道8号", "江西省赣州市龙南市", None]]
    rows = [[rng.choice(values) for values in pool] for _ in range(300)]
    columns = [list(column) for column in zip(*rows, strict=True)]
    masked = column_masker(masks, key=KEY, fail_closed=True)(columns)
    assert [list(row) for row in zip(*masked, strict=True)] == [mask_row(masks, row, key=KEY, fail_closed=True)
                                                                for row in rows]
    assert masked[0] is columns[0] and masked[3] is columns[3]  # not copied
    with pytest.raises(MaskRuleError):
        column_masker(masks, key=KEY)(columns)  # "2024-02-30" is no date
    with pytest.raises(ValueError, match="9 masks for 2 columns"):
        column_masker(masks, key=KEY)(columns[:2])


def test_mask_row_refuses_a_row_of_another_length() -> None:
    with pytest.raises(ValueError, match="2 masks for a row of 1"):
        mask_row([None, None], ["x"])


@pytest.mark.parametrize(("mask", "letter", "expected"), [
    (Mask("keep", first=6, last=4), "C", "C"), (Mask("keep", last=4), "I", "C"), (Mask("surname"), "M", "C"),
    (Mask("person_surname"), "C", "C"), (Mask("address"), "M", "C"), (Mask("pseudonym"), "N", "C"),
    (Mask("date", unit="month"), "D", "C"), (Mask("date", unit="year"), "T", "C"), (Mask("null"), "D", "D"),
    (Mask("null"), "G", "G"), (Mask("round", digits=-2), "N", "N"), (Mask("round", digits=2), "F", "F"),
    (Mask("round"), "I", "I"), (Mask("none"), "L", "L"),
])
def test_output_letter_is_text_for_text_masks_and_the_items_own_type_otherwise(mask: Mask, letter: str,
                                                                              expected: str) -> None:
    assert mask.output_letter(letter) == expected


def test_output_letter_refuses_an_unknown_data_type_letter() -> None:
    with pytest.raises(ValueError):
        Mask("none").output_letter("X")


def test_a_keep_rule_for_natural_persons_leaves_an_organisations_credit_code_as_it_is() -> None:
    """The demo's 权利人证件号码 rule: a person's ID number is masked, an organisation's USCC (GB 32100, valid
    check character) is not; anything else — a USCC with a wrong check character — is masked."""
    from govshare.core.demo import make_uscc

    mask = masking.parse("自然人保留前6位和后4位，其余以*替代；单位不脱敏")
    assert mask == masking.Mask("keep", first=6, last=4, unit="person")
    assert masking.parse(mask.canonical()) == mask and mask.canonical() == "keep:first=6,last=4,person"
    uscc = make_uscc("360783", 5)
    assert mask.apply(uscc) == uscc
    assert mask.apply("360783199001011234") == "360783********1234"
    wrong = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
    assert mask.apply(wrong) == wrong[:6] + "********" + wrong[-4:]


def test_all_covered_replaces_every_character_and_keeps_the_length() -> None:
    mask = masking.parse("全部遮盖")
    assert mask == masking.Mask("keep") and mask.apply("A型") == "**" and mask.apply("") == ""



def test_a_valid_citizens_id_number_is_masked_even_when_it_passes_the_credit_codes_check() -> None:
    """Review C1: about one valid ID number in 31 also passes GB 32100's check character; ``keep…,person`` kept
    those unmasked.  Now a valid GB 11643 number is always a person's, and a credit code needs its structure."""
    mask = masking.parse("自然人保留前6位和后4位，其余以*替代；单位不脱敏")
    for number in ("510107197611063759", "440305195603178602"):
        assert masking.is_id_number(number) and not masking.is_uscc(number)
        assert mask.apply(number) == number[:6] + "********" + number[-4:]
    from govshare.core.demo import make_id_number

    unmasked = [n for n in (make_id_number("360783", "19900101", i) for i in range(1, 999)) if mask.apply(n) == n]
    assert unmasked == []


@pytest.mark.parametrize("fill", ["〇", "O", "0", "·", "."])
def test_a_fill_that_makes_a_masked_value_look_real_is_refused(fill: str) -> None:
    with pytest.raises(MaskRuleError):
        Mask("keep", first=6, last=4, fill=fill)



@pytest.mark.parametrize("person", ["个体户张三", "张三（个体工商户）", "吴局", "郑店", "张院"])
def test_person_surname_masks_persons_the_organisation_words_used_to_let_through(person: str) -> None:
    """Review 2: 个体 kept a sole trader's own name whole; a two-character name ending in 局/店/院 was taken for an
    organisation."""
    assert parse(DEMO_RULES["owner"][0]).apply(person) != person


def test_a_mistyped_id_number_is_still_a_persons_and_masked() -> None:
    """Review 2: an ID number with a wrong check character could pass the credit code's check and leave whole."""
    mask = masking.parse("自然人保留前6位和后4位，其余以*替代；单位不脱敏")
    assert mask.apply("360783199802091200") == "360783********1200"
    assert masking.looks_like_id_number("360783199802091200") and not masking.is_uscc("360783199802091200")


@pytest.mark.parametrize(("address", "expected"), [
    ("龙南市人民医院家属区", "龙南市*******"), ("龙南市教师新村区", "龙南市*****")])
def test_the_county_fallback_never_keeps_a_whole_address(address: str, expected: str) -> None:
    assert parse(DEMO_RULES["address"][0]).apply(address) == expected


def test_the_fast_paths_give_what_the_general_ones_give() -> None:
    """Rounding without a new decimal context and Chinese names without a per-character script check (a download
    masks millions of values) answer exactly as the general code does."""
    import random
    from decimal import localcontext

    rng = random.Random(11)
    for _ in range(3000):
        number = Decimal(rng.randrange(-10**12, 10**12)).scaleb(-rng.randrange(0, 6))
        for digits in (-4, -2, 0, 1, 2):
            with localcontext() as context:
                context.prec = 60
                slow = number.quantize(Decimal(1).scaleb(-digits), rounding="ROUND_HALF_UP")
                if digits < 0:
                    slow = slow.quantize(Decimal(1))
                slow = slow.copy_abs() if slow.is_zero() else slow
            assert masking._round_decimal(number, digits) == slow, (number, digits)
    assert Mask("surname").apply("诸葛亮") == "诸葛*" and Mask("surname").apply("诸葛") == "诸*"
    assert Mask("surname").apply("㐀𠀀王") == "㐀**" and Mask("surname").apply("王") == "*"
