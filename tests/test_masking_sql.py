"""The masks in SQL (``masking.sql_mask``; issue 11 item 1's fast delivery, SEC-3): on a real PostgreSQL server, every
value either comes out exactly as :meth:`Mask.apply` masks it or is flagged for Python — never another value.  Names
(Han, compound, one character, Latin, with separators), organisations, addresses, ID numbers, phones, credit codes,
amounts, dates and NULLs."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from govshare.core import masking
from govshare.core.masking import Mask

pytestmark = pytest.mark.once  # the platform's database is not involved

KEY = b"g" * 32
NAMES = ["张三", "李四光", "王", "欧阳修", "欧阳", "司马相如", "诸葛亮", "上官婉儿", "𠀋小明", "㐀一二", "阿依古丽·买买提",
         "Zhang San", "li", "张 三", "Mary-Jane Watson", "", "张三1", "龙南县人民医院", "赣州市龙南建设有限公司", "李局",
         "江西省龙南市第一中学校", "王建国委", "张文学", "刘德华", "龙南市东江乡人民政府", "吴店", "陈家村村委会", "O'Brien",
         "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"]
ADDRESSES = ["江西省赣州市龙南市龙南镇新都大道36号", "江西省赣州市龙南市武当镇", "龙南市东江乡岗下村3组",
             "江西省赣州市龙南市金塘大道8号", "龙南市人民医院家属区", "北京市海淀区中关村街道某路1号",
             "龙南市红旗大道36号江南乡韵小区", "内蒙古兴安盟科尔沁右翼前旗巴日嘎斯台乡", "上海市黄浦区南京东路街道",
             "龙南市渡江镇街道口10号", "某某街坊镇", "广州市天河区五山街道五山路", "龙南市杨村镇２号", "镇", "乡",
             "苏木", "阿拉善左旗巴润别立镇", "龙南市里仁镇新里村", "深圳市南山区粤海街道科技园", "武汉市洪山区珞喻路街道",
             "龙南市桃江乡", "江西省龙南市", "无地址", "", "临江街临江镇", "汇通街道", "广东省广州市越秀区北京街道"]
IDS = ["91360727MA35ﬀ0X1W", "110101199003077578", "36072719850101123X", "12345", "1234567", "91360727MA35XXXX0X", "913607277165434921",
       "13800138000", "1", "", "ABCDEF", "６２３４５６７８９０"]
NUMBERS = [Decimal("1234.5"), Decimal("-1250"), Decimal("0.005"), Decimal("-0.004"), Decimal("99999999.999"),
           Decimal("12.345678"), Decimal("0"), Decimal("1.50"), Decimal("123456789012345678901234567890.5"),
           Decimal("-5"), Decimal("5")]
INTEGERS = [0, 1, -1, 49, 50, -50, 1234567, -9_123_456_789, 9_000_000_000_000_000_001, 1 << 62]
DAYS = [dt.date(2024, 2, 29), dt.date(1, 1, 1), dt.date(999, 12, 31), dt.date(9999, 12, 31)]
TIMES = [dt.datetime(2024, 5, 1, 23, 59, 59, 999999), dt.datetime(1000, 1, 1)]

TEXT_MASKS = [Mask("keep", first=6, last=4), Mask("keep", first=3, last=4), Mask("keep", last=4, fill="#"),
              Mask("keep", first=3), Mask("keep"), Mask("keep", first=1, last=1, fill="○"),
              Mask("keep", first=6, last=4, unit="person"), Mask("surname"), Mask("surname", fill="○"),
              Mask("person_surname"), Mask("address", unit="township"), Mask("address", unit="township", fill="X"),
              Mask("pseudonym"), Mask("null"), Mask("none")]


def _random_texts(count: int) -> list[str]:
    rng = random.Random(11)
    alphabet = "张王李赵欧阳司马镇乡街道苏木路号区县市旗盟1２ ·-aZ公司局院X*'"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14))) for _ in range(count)]


def _compare(conn: psycopg.Connection[Any], mask: Mask, letter: str, values: list[Any]) -> int:
    """Every value through the SQL form and through Python; the number of values the SQL took (not flagged)."""
    form = masking.sql_mask(mask, letter, "v", key=KEY, name="m")
    assert form is not None, (mask, letter)
    sql_type = {"C": "text", "N": "numeric", "I": "bigint", "D": "date", "T": "timestamp"}[letter]
    level = f"SELECT n, v FROM unnest(%s::{sql_type}[]) WITH ORDINALITY AS u(v, n)"
    for stage, lets in enumerate(form.lets):
        computed = ", ".join(f"{expression} AS {let}" for let, expression in lets)
        level = f"SELECT *, {computed} FROM ({level} OFFSET 0) l{stage}"
    rows = conn.execute(f"SELECT n, ({form.value})::{ {'C': 'text'}.get(form.letter, sql_type) }, "
                        f"{form.flag or 'false'} FROM ({level}) q ORDER BY n", (values,)).fetchall()
    taken = 0
    for (n, got, flagged), value in zip(rows, values, strict=True):
        assert isinstance(flagged, bool), (mask, value)
        if flagged:
            continue
        taken += 1
        expected = masking.mask_row([mask], [value], key=KEY, fail_closed=True)[0]
        assert got == expected and type(got) is type(expected), (mask.canonical(), letter, value, got, expected)
    return taken


@pytest.fixture(scope="module")
def pg(pg_source_url: str) -> Any:
    with psycopg.connect(pg_source_url, autocommit=True) as conn:
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        yield conn


@pytest.mark.parametrize("mask", TEXT_MASKS, ids=lambda m: m.canonical())
def test_a_text_mask_in_sql_gives_pythons_value_or_flags_it(pg: Any, mask: Mask) -> None:
    values = [*NAMES, *ADDRESSES, *IDS, *_random_texts(400), None]
    taken = _compare(pg, mask, "C", values)
    assert taken >= 50  # the SQL form does the common cases itself


def test_a_surname_and_an_address_are_masked_in_sql_for_the_common_values(pg: Any) -> None:
    han = [n for n in NAMES if n and all("\u3400" <= ch <= "\u9fff" or ch >= "\U00020000" for ch in n)]
    assert _compare(pg, Mask("surname"), "C", han) == len(han)
    with_township = ["江西省赣州市龙南市龙南镇新都大道36号", "龙南市东江乡岗下村3组", "上海市黄浦区外滩街道"]
    assert _compare(pg, Mask("address", unit="township"), "C", with_township) == len(with_township)


@pytest.mark.parametrize("mask", [Mask("round", digits=d) for d in (-3, -2, -1, 0, 1, 2, 4)] + [Mask("null"), Mask("none")],
                         ids=lambda m: m.canonical())
def test_rounding_in_sql_gives_pythons_numbers(pg: Any, mask: Mask) -> None:
    assert _compare(pg, mask, "N", [*NUMBERS, None]) == len(NUMBERS) + 1
    taken = _compare(pg, mask, "I", [*INTEGERS, None])
    assert taken >= len(INTEGERS) - 1


@pytest.mark.parametrize("mask", [Mask("keep", first=2, last=2), Mask("pseudonym")], ids=lambda m: m.canonical())
def test_an_integer_masked_as_text_in_sql(pg: Any, mask: Mask) -> None:
    assert _compare(pg, mask, "I", [*INTEGERS, None]) == len(INTEGERS) + 1


@pytest.mark.parametrize("unit", ["month", "year"])
def test_a_date_to_month_or_year_in_sql(pg: Any, unit: str) -> None:
    mask = Mask("date", unit=unit)
    assert _compare(pg, mask, "D", [*DAYS, None]) == len(DAYS) + 1
    assert _compare(pg, mask, "T", [*TIMES, None]) == len(TIMES) + 1


def test_the_masks_without_an_sql_form_say_so() -> None:
    assert masking.sql_mask(Mask("pseudonym"), "C", "v", key=None) is None  # no key: never a keyless token
    assert masking.sql_mask(Mask("date", unit="month"), "C", "v") is None  # ISO texts: Python
    assert masking.sql_mask(Mask("round", digits=1), "F", "v") is None  # float text is Python's
    assert masking.sql_mask(Mask("surname"), "D", "v") is None
    assert masking.sql_mask(Mask("keep", first=1), "T", "v") is None
    assert masking.sql_mask(None, "F", "v") == masking.SqlMask("v", "F")
