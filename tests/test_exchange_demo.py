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
