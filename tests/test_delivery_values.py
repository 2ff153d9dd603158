"""The same values on every channel (SHR-9, EXC-2, EXC-3, SEC-3): what the data API gives, a CSV or XLSX file holds,
verification finds and a consumer's table receives — found by a differential review of the 21st session that fetched
one grant's hostile-but-valid rows through every channel and compared them value by value.  Each test fails on the
code before it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
import sqlite3
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as dj_settings
from django.test import Client
from django.utils.http import urlencode

from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import StoreColumn, combine
from govshare.exchange.actions import do_register_source
from govshare.exchange.actions.deliveries import do_bind_delivery, do_start_delivery
from govshare.exchange.models import DeliveryRun
from govshare.sharing.actions import do_subscribe_entry
from govshare.sharing.models import Grant
from tests.conftest import API, login

pytestmark = pytest.mark.django_db
PURPOSE = "行政依据"
INT_MAX, INT_MIN = 2**63 - 1, -(2**63)


def _entry(share: Any, items: list[tuple[str, str, int | None, bool, str]], rows: list[list[Any]]) -> tuple[Any, Any]:
    """A published entry of ``items`` (name, type, length, sensitive, masking rule; the first is the key) whose centre
    table holds ``rows``, and the market department's subscription to it."""
    spec = [{"name": n, "data_type": t, "length": length, "description": "", "is_primary_key": i == 0,
             "is_sensitive": s, "masking_rule": r} for i, (n, t, length, s, r) in enumerate(items)]
    entry = share.cat.published(name=f"取值{secrets.token_hex(2)}", items=spec, share_methods=["table", "api", "file"])
    version_items = list(entry.current_version.items.order_by("position", "pk"))
    with open_store() as store:
        table = table_for(entry)
        store.ensure_table(table, [StoreColumn(i.name, i.data_type, i.length) for i in version_items],
                           [i.name for i in version_items if i.is_primary_key])
        store.apply(table, rows, run_id="load", batch=1, position={}, rows_read=len(rows), read_hash=combine(()))
    grant = do_subscribe_entry(share.org.market_specialist, entry, purpose=PURPOSE, channel="api")
    return entry, grant


def _rows(client: Client, entry: Any, **params: Any) -> Any:
    params.setdefault("purpose", PURPOSE)
    return client.get(f"{API}/data/{entry.code}/rows?{urlencode(params)}")


def _download(client: Client, entry: Any, grant: Any, capture: Any, fmt: str) -> bytes:
    Grant.objects.filter(pk=grant.pk).update(channel="file")
    with capture(execute=True):
        made = client.post(f"{API}/data/{entry.code}/downloads", {"purpose": PURPOSE, "format": fmt},
                           content_type="application/json").json()
    return b"".join(client.get(f"{API}/data/downloads/{made['id']}/file").streaming_content)


def _sqlite_target(share: Any) -> Any:
    folder = Path(dj_settings.GOVSHARE_SOURCE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(folder / "values.sqlite3").close()
    return do_register_source(share.org.market_admin, name="前置库（取值）", code="FE-VALUES", kind="sqlite",
                              database="values.sqlite3", receives_deliveries=True)


def _bind(share: Any, grant: Any, target: Any, capture: Any) -> DeliveryRun:
    Grant.objects.filter(pk=grant.pk).update(channel="table")
    grant.refresh_from_db()
    with capture(execute=True):
        binding = do_bind_delivery(share.org.market_admin, grant, system=share.market_system, target=target,
                                   table="t", columns={})
    run = DeliveryRun.objects.filter(binding=binding).order_by("pk").first()
    assert run is not None
    return run


def test_an_integer_rounded_at_the_64_bit_limit_stays_within_it_in_the_api_and_the_consumers_table(
        share: Any, django_capture_on_commit_callbacks: Any) -> None:
    """四舍五入到十位 of 9223372036854775807 would be …810, which no bigint holds: every delivery of the grant failed
    (an SQLite target's job even crashed, its run left "running").  It is the nearest ten within the limit."""
    from tests.delivery_targets import query

    entry, grant = _entry(share, [("编号", "C", 10, False, ""), ("人数", "I", None, True, "四舍五入到十位")],
                          [["K1", INT_MAX], ["K2", INT_MIN], ["K3", 15]])
    body = _rows(login(Client(), share.org.market_specialist), entry).json()
    expected = {"K1": 9223372036854775800, "K2": -9223372036854775800, "K3": 20}
    assert {r["编号"]: r["人数"] for r in body["rows"]} == expected
    run = _bind(share, grant, _sqlite_target(share), django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    from govshare.exchange.sources import spec_for

    assert sorted(v for (v,) in query(spec_for(run.binding.target), 'SELECT "人数" FROM "t"')) == sorted(
        expected.values())


def test_a_delivery_that_fails_unexpectedly_ends_failed_saying_so_rather_than_running_for_ever(
        share: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    from govshare.exchange.engine import deliver

    entry, grant = _entry(share, [("编号", "C", 10, False, ""), ("名称", "C", 20, False, "")], [["K1", "甲"]])

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    monkeypatch.setattr(deliver, "deliver", broken)
    run = _bind(share, grant, _sqlite_target(share), django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert (run.status, run.error_code) == ("failed", "delivery_unexpected")
    assert "OverflowError" in run.error_message["en"] and "tell the centre" in run.error_message["en"]


def test_binary_values_are_base64_in_csv_as_in_json_not_pythons_bytes_text(
        share: Any, django_capture_on_commit_callbacks: Any) -> None:
    entry, grant = _entry(share, [("编号", "C", 10, False, ""), ("附件", "G", None, False, "")],
                          [["K1", b"\x00\xff"], ["K2", b"abc"], ["K3", b"\xfb\xff"]])
    client = login(Client(), share.org.market_specialist)
    expected = {"K1": "AP8=", "K2": "YWJj", "K3": "+/8="}  # (a "+" first: base64 calls nothing, left as it is)
    assert {r["编号"]: r["附件"] for r in _rows(client, entry).json()["rows"]} == expected
    text = b"".join(_rows(client, entry, format="csv").streaming_content).decode("utf-8")
    assert dict(list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]) == expected
    data = _download(client, entry, grant, django_capture_on_commit_callbacks, "csv").decode("utf-8")
    assert dict(list(csv.reader(io.StringIO(data.lstrip("\ufeff"))))[1:]) == expected


def test_verification_finds_a_key_exactly_as_the_api_gave_it_and_as_a_person_types_it(share: Any) -> None:
    """The key was looked up only after NFKC and trimming: keys the centre holds with spaces or full-width letters
    (as the data API hands them out) were never found.  Now as given first, then as typed, then in capitals."""
    keys = [" K1", "Ｋ2", "K3 ", "K4", "K5X"]
    entry, _grant = _entry(share, [("编号", "C", 10, False, ""), ("姓名", "C", 20, False, "")],
                           [[k, "张三"] for k in keys])
    client = login(Client(), share.org.market_specialist)

    def found(key: str) -> bool:
        answer = client.post(f"{API}/verify/{entry.code}", {"purpose": PURPOSE, "key": {"编号": key},
                                                             "claims": {"姓名": "张三"}}, content_type="application/json")
        assert answer.status_code == 200, answer.content
        return bool(answer.json()["found"])

    assert [found(k) for k in keys] == [True] * 5
    assert found("Ｋ４") and found(" K4 ") and found("k5x")  # typed: full-width, spaces, small letters
    assert not found("K6")


def test_an_xlsx_file_writes_what_excel_cannot_hold_as_exact_text_and_says_where_it_cut(
        share: Any, django_capture_on_commit_callbacks: Any) -> None:
    import openpyxl

    last = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    entry, grant = _entry(share, [("编号", "C", 10, False, ""), ("时刻", "T", None, False, ""),
                                  ("金额", "N", 40, False, ""), ("长文", "M", None, False, "")],
                          [["K1", last, Decimal("0.1234567890123456789012345678901234"), "a" * 40000],
                           ["K2", dt.datetime(2024, 1, 1, 8, 0, 0, 123456), Decimal("1.5"), "b"],
                           ["K3", dt.datetime(2024, 1, 1, 8, 0, 0, 123000), Decimal("12345678901234567890"), "c"]])
    client = login(Client(), share.org.market_specialist)
    data = _download(client, entry, grant, django_capture_on_commit_callbacks, "xlsx")
    with warnings.catch_warnings(record=True):
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
        got = {r[0]: r for r in sheet.iter_rows(values_only=True)}
    assert got["K1"][1] == "9999-12-31 23:59:59.999999"  # not #VALUE!
    assert got["K1"][2] == "0.1234567890123456789012345678901234"  # not a float's 16 digits
    cut = got["K1"][3]
    assert len(cut) == 32767 and cut.startswith("a" * 32000) and "40000" in cut[32000:]
    assert got["K2"][1] == "2024-01-01 08:00:00.123456" and got["K2"][2] == 1.5  # microseconds kept
    assert got["K3"][1] == dt.datetime(2024, 1, 1, 8, 0, 0, 123000)  # milliseconds: still a date cell
    assert got["K3"][2] == "12345678901234567890"


# -- MySQL/MariaDB consumers' tables -----------------------------------------------------------------------------

def _mysql_target(share: Any, request: Any) -> tuple[Any, dict[str, Any]]:
    from tests.delivery_targets import make_mysql_target

    spec = make_mysql_target(request.getfixturevalue("mysql_source_url"), f"fe_val_{secrets.token_hex(3)}")
    return do_register_source(share.org.market_admin, name="前置库（MariaDB 取值）", code="FE-VALUES-MY", kind="mysql",
                              host=spec["address"], port=spec["port"], database=spec["database"],
                              username=spec["user"], password=spec["password"], tls="prefer", connect_timeout=5,
                              receives_deliveries=True), spec


@pytest.mark.xdist_group("sources")
def test_a_mariadb_table_holds_every_number_the_item_allows_exactly_and_its_check_is_equal(
        share: Any, django_capture_on_commit_callbacks: Any, request: Any) -> None:
    """DECIMAL(65, 30) rounded a 34th fraction digit away (and the check then found the table different) and refused
    36 integer digits: a number item longer than 30 digits is delivered as its exact text; up to 30, as a decimal."""
    from govshare.exchange.engine.sources import SourceSpec
    from tests.delivery_targets import query

    fraction, whole = Decimal("0.1234567890123456789012345678901234"), Decimal("123456789012345678901234567890123456")
    entry, grant = _entry(share, [("编号", "C", 10, False, ""), ("金额", "N", 40, False, ""),
                                  ("单价", "N", 12, False, "")],
                          [["K1", fraction, Decimal("1.5")], ["K2", whole, Decimal("-0.000001")],
                           ["K3", Decimal("1E-7"), None]])
    target, spec = _mysql_target(share, request)
    run = _bind(share, grant, target, django_capture_on_commit_callbacks)
    assert run.status == "succeeded", run.error_message
    stored = {k: (Decimal(a) if a is not None else None, b)
              for k, a, b in query(SourceSpec(**spec), "SELECT `编号`, `金额`, `单价` FROM `t`")}
    assert stored == {"K1": (fraction, Decimal("1.5")), "K2": (whole, Decimal("-0.000001")),
                      "K3": (Decimal("0.0000001"), None)}
    with django_capture_on_commit_callbacks(execute=True):
        do_start_delivery(share.org.market_admin, run.binding, kind="check")
    run.binding.refresh_from_db()
    assert run.binding.last_check["equal"] is True, run.binding.last_check


@pytest.mark.xdist_group("sources")
def test_a_mariadb_table_takes_an_entry_whose_long_text_items_pass_its_row_size_together(
        share: Any, django_capture_on_commit_callbacks: Any, request: Any) -> None:
    """Five text items of 4 000 characters were five VARCHAR(4000) columns: 80 000 bytes in utf8mb4, more than MySQL's
    65 535-byte row, so the table could not be made.  The longest become TEXT until the rest fit."""
    from govshare.exchange.engine.sources import SourceSpec
    from tests.delivery_targets import query

    items = [("编号", "C", 10, False, "")] + [(f"说明{i}", "C", 4000, False, "") for i in range(5)]
    long = "长" * 4000
    entry, grant = _entry(share, items, [["K1", *[long] * 5]])
    target, spec = _mysql_target(share, request)
    run = _bind(share, grant, target, django_capture_on_commit_callbacks)
    assert run.status == "succeeded", run.error_message
    assert query(SourceSpec(**spec), "SELECT `说明4` FROM `t`") == [(long,)]
    kinds = dict(query(SourceSpec(**spec), "SELECT column_name, data_type FROM information_schema.columns "
                                           "WHERE table_schema = DATABASE() AND table_name = 't'"))
    assert kinds["编号"] == "varchar" and sorted(kinds[f"说明{i}"] for i in range(5)).count("varchar") >= 2


@pytest.mark.xdist_group("sources")
def test_a_mariadb_table_holds_a_long_number_with_a_fraction_written_before_lengths_were_checked(
        share: Any, django_capture_on_commit_callbacks: Any, request: Any) -> None:
    """Review of the 21st session: the exact-text column of a number item of over 30 digits was sized for the item's
    length in all (length + 3): a value written before uploads checked digits (31 integer + 5 fraction digits for
    N(31)) failed every delivery, where DECIMAL(65, 30) had held it.  The text column holds both parts at full length."""
    from govshare.exchange.engine.sources import SourceSpec
    from tests.delivery_targets import query

    value = Decimal("1234567890123456789012345678901.12345")
    _entry_, grant = _entry(share, [("编号", "C", 10, False, ""), ("金额", "N", 31, False, "")], [["K1", value]])
    target, spec = _mysql_target(share, request)
    run = _bind(share, grant, target, django_capture_on_commit_callbacks)
    assert run.status == "succeeded", run.error_message
    assert [Decimal(v) for (v,) in query(SourceSpec(**spec), "SELECT `金额` FROM `t`")] == [value]
