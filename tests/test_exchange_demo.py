"""The exchange demo (issue 10 item 11; EXC-1, EXC-7): several bound entries with history — a full copy, then incremental
ones by update time; one copy stale; one with quarantined rows (value rules); a 一数一源 check with
differences.  The demo is loaded once per test run (tests/conftest.py) and only read here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from govshare.exchange import schedule
from govshare.exchange.models import CrossCheck, DataSource, ExchangeRun, TableBinding

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def loaded(demo_data_module: Any) -> Iterator[None]:
    with override_settings(GOVSHARE_SEARCH_DIR=demo_data_module.search_dir):
        yield


def test_the_demo_has_bound_entries_with_history_one_stale_one_with_quarantined_rows(loaded: None) -> None:
    assert set(DataSource.objects.values_list("code", flat=True)) == {"LNSJ-QZK", "LNGA-QZK", "LNSW-QZK"}
    market = TableBinding.objects.get(entry__provider__code="LNSJ")
    assert (market.mode, market.update_column, len(market.rules)) == ("watermark", "gxsj", 2)
    kinds = list(market.runs.order_by("created_at").values_list("kind", "status"))
    assert kinds == [("full", "succeeded"), ("incremental", "succeeded"), ("incremental", "succeeded")]
    first = market.runs.order_by("created_at").first()
    assert first is not None and first.rejected == 3 and first.quality["validity"] < 1
    assert market.runs.filter(kind="incremental", updated__gt=0).count() == 2
    tax = TableBinding.objects.get(entry__provider__code="LNSW")
    assert schedule.is_stale(tax) and not schedule.is_stale(market)
    assert tax.schedule == "manual" and tax not in schedule.due_bindings()  # stays stale when the demo runs
    check = CrossCheck.objects.get()
    assert (check.compared, check.differing) == (480, 4) and len(check.sample) == 4
    assert ExchangeRun.objects.filter(status="failed").count() == 0


def test_the_demo_delivers_the_tax_bureaus_table_grant_into_its_front_end_database(loaded: None) -> None:
    """Issue 11 item 1: 税务局's grant on the market register (库表) arrives in its own front-end database, masked,
    checked equal to the centre."""
    from govshare.exchange.models import DeliveryBinding

    binding = DeliveryBinding.objects.get(target__code="LNSW-QZK")
    assert binding.table_name == "gx_scztdjxx" and binding.rows is not None and binding.rows > 500
    assert binding.last_check is not None and binding.last_check["equal"] is True
    assert binding.last_check["target_rows"] == binding.rows and binding.stopped is None
    assert binding.runs.filter(status="succeeded", written=binding.rows).exists()


def test_the_demo_has_a_refused_a_loaded_and_a_held_spreadsheet_upload(loaded: None) -> None:
    """Issue 11 item 8: 民政局's 养老机构信息 comes as filled-in templates; the first had a broken credit code and a
    formula, named by row and column; the corrected one is loaded; a half-filled one in mode "replace" waits for
    someone to confirm its 16 deletions (the mass-delete guard)."""
    from govshare.exchange.models import Upload

    first, second, third = Upload.objects.order_by("created_at", "pk")
    assert (third.status, third.pending_deletes, len(third.pending_keys)) == ("held", 16, 16)
    assert first.status == "refused" and {(p["row"], p["code"]) for p in first.problems} == {(6, "rule"),
                                                                                          (11, "formula")}
    assert second.status == "loaded" and second.rows == 24 and second.inserted == 24, (second.inserted, second.updated, second.unchanged, second.batches, second.deleted)


def test_the_demo_shares_a_file_in_two_versions_with_a_consumer_holding_a_file_grant(loaded: None) -> None:
    """Issue 11 item 7: 民政局's division codes, two versions kept; 交通运输局 takes them over the file channel."""
    from govshare.exchange.models import EntryFile
    from govshare.sharing.models import Grant

    shared = EntryFile.objects.get(name="龙南市行政区划代码表")
    assert list(shared.versions.order_by("number").values_list("number", "kind")) == [(1, "text"), (2, "text")]
    assert Grant.objects.usable().filter(entry=shared.entry, consumer__code="LNJT", channel="file").exists()
