"""Copies that run by themselves at the entry's update cycle, back off after failures, and copies in the
centre that are flagged stale (issue 10 items 8, 9; EXC-1 "增量数据动态更新", EXC-7 timeliness)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from govshare.core.models import Notification
from govshare.exchange import schedule
from govshare.exchange.actions import (
    do_bind_table,
    do_register_source,
    do_set_binding_active,
    do_set_binding_schedule,
)
from govshare.exchange.models import ExchangeRun
from tests.conftest import api_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def bound(cat: Any) -> Any:
    folder = Path(settings.GOVSHARE_SOURCE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(folder / "ga.sqlite3") as db:
        db.execute("CREATE TABLE rkxx (gmsfhm VARCHAR(18) PRIMARY KEY, xm VARCHAR(50), csrq DATE)")
        db.executemany("INSERT INTO rkxx VALUES (?,?,?)", [(f"3607831990010100{i:02d}", "张三", "1990-01-01")
                                                          for i in range(30)])
    db.close()
    cat.entry = cat.published()  # a daily entry (catalog_helpers.content)
    cat.source = do_register_source(cat.org.police_admin, name="公安前置库", code="GA-QZK", kind="sqlite",
                                    database="ga.sqlite3")
    cat.binding = do_bind_table(cat.org.police_specialist, cat.entry, source=cat.source, schema="main",
                                table="rkxx", mapping={"公民身份号码": "gmsfhm", "姓名": "xm", "出生日期": "csrq"})
    return cat


@pytest.fixture
def tick(django_capture_on_commit_callbacks: Any) -> Any:
    """One pass of the worker's ``exchange.schedule`` hook, the runs it queues carried out at commit."""
    def go(now: dt.datetime | None = None) -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return schedule.start_due(now)

    return go


def test_a_binding_never_copied_is_due_copied_then_not_due_until_its_cycle_has_passed(bound: Any,
                                                                                     tick: Any) -> None:
    assert schedule.is_stale(bound.binding)
    assert tick() == {"started": 1, "not_started": 0}
    run = ExchangeRun.objects.get()
    assert run.status == ExchangeRun.Status.SUCCEEDED and run.started_by is None
    assert not schedule.is_stale(bound.binding) and tick() == {"started": 0, "not_started": 0}
    later = timezone.now() + dt.timedelta(hours=23)
    assert schedule.due_bindings(later) == []
    assert schedule.due_bindings(timezone.now() + dt.timedelta(days=1, minutes=1)) == [bound.binding]


def test_a_copy_older_than_its_cycle_and_a_tenth_is_stale(bound: Any, tick: Any) -> None:
    tick()
    assert not schedule.is_stale(bound.binding, timezone.now() + dt.timedelta(hours=26))
    assert schedule.is_stale(bound.binding, timezone.now() + dt.timedelta(hours=27))


def test_manual_paused_or_inactive_bindings_are_not_copied_by_themselves(bound: Any, tick: Any) -> None:
    from govshare.exchange.actions import do_set_source_active

    do_set_binding_schedule(bound.org.police_specialist, bound.binding, "manual")
    assert tick()["started"] == 0
    do_set_binding_schedule(bound.org.police_specialist, bound.binding, "cycle")
    do_set_binding_active(bound.org.police_specialist, bound.binding, False)
    assert tick()["started"] == 0
    do_set_binding_active(bound.org.police_specialist, bound.binding, True)
    do_set_source_active(bound.org.police_admin, bound.source, False)
    assert tick()["started"] == 0
    assert not ExchangeRun.objects.exists()


def test_a_binding_that_no_longer_matches_fails_once_says_why_and_backs_off(bound: Any, tick: Any) -> None:
    with sqlite3.connect(Path(settings.GOVSHARE_SOURCE_DIR) / "ga.sqlite3") as db:
        db.execute("ALTER TABLE rkxx RENAME COLUMN xm TO name")
    db.close()
    assert tick() == {"started": 0, "not_started": 1}
    run = ExchangeRun.objects.get()
    assert run.status == ExchangeRun.Status.FAILED and "xm" in run.error_message["en"]
    assert Notification.objects.filter(kind="exchange.run_failed", recipient=bound.org.police_specialist).exists()
    now = timezone.now()
    assert schedule.due_bindings(now + dt.timedelta(minutes=4)) == []  # waits 5 minutes after one failure
    assert schedule.due_bindings(now + dt.timedelta(minutes=6)) == [bound.binding]
    with time_machine.travel(now + dt.timedelta(minutes=6), tick=False):
        assert tick() == {"started": 0, "not_started": 1}
    assert ExchangeRun.objects.count() == 2
    assert schedule.due_bindings(now + dt.timedelta(minutes=15)) == []  # then 10 minutes after the second
    assert schedule.due_bindings(now + dt.timedelta(minutes=17)) == [bound.binding]


def test_the_schedule_is_changed_through_the_api_by_the_provider_only(bound: Any, client_for: Any) -> None:
    path = f"/exchange/bindings/{bound.binding.pk}/schedule"
    answer = api_json(client_for(bound.org.police_specialist), "post", path, {"schedule": "manual"})
    assert answer.status_code == 200 and answer.json()["schedule"] == "manual" and answer.json()["stale"] is True
    assert api_json(client_for(bound.org.market_admin), "post", path, {"schedule": "cycle"}).status_code == 404
    wrong = api_json(client_for(bound.org.police_specialist), "post", path, {"schedule": "hourly"})
    assert wrong.status_code in (400, 422)
