"""Quality on the way in (issue 10 item 9; EXC-7): the provider picks value rules per item — GB 11643 ID numbers,
GB 32100 credit codes, phone numbers, allowed values, ranges, patterns; rows that break one are quarantined
with the reason in the reader's language, and a batch with more of them than the binding allows stops the copy
with nothing of it applied.  The rules engine's own tests: tests/test_exchange_rules.py."""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from govshare.cli import main as cli
from govshare.core.errors import ManyProblems, ValidationFailed
from govshare.core.idcodes import id_check_char
from govshare.exchange.actions import do_set_binding_rules
from govshare.exchange.models import TableBinding
from tests.conftest import API, login
from tests.test_exchange_runs import ROWS, bound, centre_rows, front_end, start  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db


def valid(number: str) -> str:
    return number[:17] + id_check_char(number[:17])


def test_rules_are_checked_against_the_items_and_every_problem_names_its_item(bound: Any) -> None:  # noqa: F811
    with pytest.raises(ManyProblems) as caught:
        do_set_binding_rules(bound.org.police_specialist, bound.binding, rules=[
            {"item": "出生日期", "rule": {"kind": "id_number"}},
            {"item": "没有这一项", "rule": {"kind": "phone"}},
            {"item": "姓名", "rule": {"kind": "regex", "pattern": "(张"}},
            {"item": "出生日期", "rule": {"kind": "range", "min": "2000-01-01", "max": "1990-01-01"}}])
    problems = {p.code: p for p in caught.value.problems}
    assert set(problems) == {"rule_not_for_type", "rule_item_unknown", "regex_invalid", "range_inverted"}
    assert "出生日期" in problems["rule_not_for_type"].render("zh-hans")
    assert problems["regex_invalid"].field == "rules.2.pattern"
    with pytest.raises(ValidationFailed) as one:
        do_set_binding_rules(bound.org.police_specialist, bound.binding, rules=[], reject_limit_percent=0)
    assert one.value.field == "reject_limit_percent"


def test_rows_breaking_a_rule_are_quarantined_and_too_many_in_a_batch_stop_the_copy(
        bound: Any, start: Any, client_for: Any) -> None:  # noqa: F811
    rows = [(valid(number), name, born) for number, name, born in ROWS]
    rows[7] = (rows[7][0][:17] + ("0" if rows[7][0][17] != "0" else "1"), rows[7][1], rows[7][2])  # wrong check
    rows[8] = (rows[8][0], "8号张", rows[8][2])  # the pattern: a name starts with a Chinese character
    front_end(rows)
    do_set_binding_rules(bound.org.police_specialist, bound.binding, rules=[
        {"item": "公民身份号码", "rule": {"kind": "id_number"}},
        {"item": "姓名", "rule": {"kind": "regex", "pattern": r"\p{Han}[\p{Han}0-9]{0,19}"}},
        {"item": "出生日期", "rule": {"kind": "range", "min": "1900-01-01"}}])
    run = start(bound.org.police_specialist, bound.binding)
    assert (run.status, run.inserted, run.rejected) == ("succeeded", 118, 2), run.error_message
    held = {q["item"]: q for q in client_for(bound.org.police_specialist).get(
        f"/api/v1/exchange/runs/{run.pk}").json()["quarantine"]}
    assert held["公民身份号码"]["code"] == "bad_id_check" and held["姓名"]["code"] == "no_match"
    assert rows[7][0] not in held["公民身份号码"]["detail"]  # the reason shows the number masked
    assert held["公民身份号码"]["reason"] == "身份证号码校验位错误"
    # the department's system breaks: most numbers lose their check digit — the batch stops the copy
    front_end([(number[:17] + "X" if number[17] != "X" else number[:17] + "0", name, born)
               for number, name, born in rows])
    failed = start(bound.org.police_specialist, bound.binding)
    assert (failed.status, failed.error_code, failed.updated) == ("failed", "quality_limit", 0)
    assert "10%" in failed.error_message["en"] and "公民身份号码" in failed.error_message["zh"]
    assert rows[0][0] not in failed.error_message["zh"]  # no ID number in a message others see
    names = {row[0]: row for row in centre_rows(bound.entry) if not row[-1]}
    assert len(names) == 118  # nothing of the refused batch was applied, nothing deleted
    do_set_binding_rules(bound.org.police_admin, bound.binding,
                         rules=TableBinding.objects.get(pk=bound.binding.pk).rules, reject_limit_percent=100)
    # every row is now quarantined, and the numbers it had are gone from the source: the guard holds the deletions
    allowed = start(bound.org.police_specialist, bound.binding)
    assert (allowed.status, allowed.rejected, allowed.pending_deletes, allowed.deleted) == ("held", 120, 118, 0)


def test_only_the_providers_staff_set_rules_on_the_page_and_the_api(bound: Any, client_for: Any) -> None:  # noqa: F811
    url = f"/api/v1/exchange/bindings/{bound.binding.pk}/rules"
    body = {"rules": [{"item": "姓名", "rule": {"kind": "enum", "values": ["张三"]}}]}
    assert client_for(bound.org.market_admin).post(url, body, content_type="application/json").status_code == 404
    assert client_for(bound.org.auditor).post(url, body, content_type="application/json").status_code in (403, 404)
    answer = client_for(bound.org.police_admin).post(url, body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["rules"] == body["rules"]
    page = login(Client(), bound.org.police_specialist)
    added = page.post(f"/exchange/bindings/{bound.binding.pk}/rules/", {
        "action": "add", "item": "公民身份号码", "kind": "id_number", "reject_limit_percent": "5"})
    assert added.status_code == 302
    html = page.get(f"/exchange/bindings/{bound.binding.pk}/").content.decode()
    assert 'id="rule-list"' in html and "id_number" in html and "张三" in html
    wrong = page.post(f"/exchange/bindings/{bound.binding.pk}/rules/", {
        "action": "add", "item": "姓名", "kind": "regex", "pattern": "(a", "reject_limit_percent": "5"})
    assert wrong.status_code == 400 and 'id="rule-errors"' in wrong.content.decode()
    removed = page.post(f"/exchange/bindings/{bound.binding.pk}/rules/", {"remove": "0", "reject_limit_percent": "5"})
    assert removed.status_code == 302
    assert [r["rule"]["kind"] for r in TableBinding.objects.get(pk=bound.binding.pk).rules] == ["enum"]


# ------------------------------------------------------------------ the score (EXC-7)

def test_a_successful_copy_leaves_its_quality_and_the_score_is_shown_to_those_who_may_see_it(
        bound: Any, start: Any, client_for: Any) -> None:  # noqa: F811
    import datetime as dt

    from govshare.sharing.models import Grant

    rows = list(ROWS)
    for n in range(0, 120, 4):  # a quarter of the births unknown
        rows[n] = (rows[n][0], rows[n][1], None)
    rows[5] = (rows[5][0], rows[5][1], "2023-02-30")  # quarantined: no such day
    front_end(rows)
    run = start(bound.org.police_specialist, bound.binding)
    # shares to four places, rounded down (89 / 119 = 0.74789…; 119 / 120 = 0.99166…)
    assert run.quality["items"]["出生日期"] == 0.7478 and run.quality["items"]["姓名"] == 1.0
    assert run.quality["validity"] == 0.9916
    url = f"/api/v1/exchange/quality/{bound.entry.pk}"
    body = client_for(bound.org.police_specialist).get(url).json()
    assert (body["timeliness"], body["consistency"], body["stale"]) == (1.0, None, False)
    expected = math.floor(100 * (run.quality["completeness"] + run.quality["validity"] + 1.0) / 3)  # down
    assert body["score"] == expected and body["live_rows"] == 119
    assert client_for(bound.org.centre_admin).get(url).status_code == 200
    assert client_for(bound.org.auditor).get(url).status_code == 200
    market = client_for(bound.org.market_admin)
    assert market.get(url).status_code == 404  # not the provider, no grant
    Grant.objects.create(source="unconditional", entry=bound.entry, provider=bound.entry.provider,
                         consumer=bound.org.market, items=["姓名"], purpose="行政依据", channel="table",
                         valid_from=dt.date(2020, 1, 1))
    assert market.get(url).status_code == 200  # a consumer sees the quality of what it receives
    page = login(Client(), bound.org.police_specialist).get(f"/exchange/quality/{bound.entry.pk}/").content.decode()
    assert f'data-score="{expected}"' in page and 'id="item-fill"' in page
    entry_page = login(Client(), bound.org.police_specialist).get(f"/catalog/entries/{bound.entry.pk}/")
    assert f"/exchange/quality/{bound.entry.pk}/" in entry_page.content.decode()


# ------------------------------------------------------------------ 一数一源 cross-source checks

def market_register(cat: Any, names: dict[int, str]) -> Any:
    """The market regulator's own register of the same people (another provider), bound and copied."""
    import sqlite3
    from pathlib import Path

    from django.conf import settings

    from govshare.exchange.actions import do_bind_table, do_register_source

    path = Path(settings.GOVSHARE_SOURCE_DIR) / "sj.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS ryxx (sfzh VARCHAR(18) PRIMARY KEY, xm VARCHAR(50), csrq VARCHAR(10))")
        db.executemany("INSERT INTO ryxx VALUES (?,?,?)",
                       [(number, names.get(n, name), born) for n, (number, name, born) in enumerate(ROWS[:100])])
    db.close()
    entry = cat.published(cat.org.market_specialist)
    source = do_register_source(cat.org.market_admin, name="市场前置库", code="SJ-QZK", kind="sqlite",
                                database="sj.sqlite3")
    binding = do_bind_table(cat.org.market_specialist, entry, source=source, schema="main", table="ryxx",
                            mapping={"公民身份号码": "sfzh", "姓名": "xm", "出生日期": "csrq"})
    return entry, binding


def test_the_centre_compares_two_providers_values_and_tells_both_when_they_differ(
        bound: Any, start: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    from govshare.core.audit_codes import AuditCode
    from govshare.core.models import AuditEvent, Notification
    from govshare.exchange.actions import do_declare_cross_check, do_run_cross_check
    from govshare.exchange.models import CrossCheck

    start(bound.org.police_specialist, bound.binding)
    market_entry, market_binding = market_register(bound, {3: "张三丰", 9: "李九"})
    with pytest.raises(ValidationFailed) as caught:  # the same provider twice is not one datum, two sources
        do_declare_cross_check(bound.org.centre_admin, name="姓名", left_entry=bound.entry, left_key="公民身份号码",
                               left_item="姓名", right_entry=bound.entry, right_key="公民身份号码", right_item="姓名")
    assert caught.value.code == "same_provider"
    with pytest.raises(ManyProblems) as many:
        do_declare_cross_check(bound.org.centre_admin, name="姓名", left_entry=bound.entry, left_key="身份证",
                               left_item="姓名", right_entry=market_entry, right_key="公民身份号码",
                               right_item="出生日期")
    assert {p.code for p in many.value.problems} == {"no_such_item", "types_differ"}
    with pytest.raises(Exception) as refused:  # a department cannot declare one
        do_declare_cross_check(bound.org.police_admin, name="x", left_entry=bound.entry, left_key="公民身份号码",
                               left_item="姓名", right_entry=market_entry, right_key="公民身份号码", right_item="姓名")
    assert getattr(refused.value, "status", None) == 403
    check = do_declare_cross_check(bound.org.centre_admin, name="人员姓名一致性", left_entry=bound.entry,
                                   left_key="公民身份号码", left_item="姓名", right_entry=market_entry,
                                   right_key="公民身份号码", right_item="姓名")
    not_yet = do_run_cross_check(bound.org.centre_admin, check)
    assert not_yet.error and not_yet.compared is None  # the market's table is not copied yet
    start(bound.org.market_specialist, market_binding)
    with django_capture_on_commit_callbacks(execute=True):
        done = do_run_cross_check(bound.org.reviewer, check)
    assert (done.compared, done.differing, done.left_only, done.right_only) == (100, 2, 20, 0)
    assert {d["right"] for d in done.sample} == {"张三丰", "李九"} and done.consistency == 0.98
    told = set(Notification.objects.filter(kind="exchange.cross_check").values_list("recipient__username", flat=True))
    assert {"police_specialist", "police_admin", "market_specialist", "market_admin"} <= told
    assert AuditEvent.objects.filter(code=AuditCode.CROSS_CHECKED, outcome="failure").count() == 2
    # both providers see the values; the quality of each entry counts the check
    body = client_for(bound.org.market_specialist).get(f"/api/v1/exchange/cross-checks/{check.pk}").json()
    assert body["differing"] == 2 and len(body["sample"]) == 2
    assert client_for(bound.org.auditor).get(f"/api/v1/exchange/cross-checks/{check.pk}").status_code == 200
    assert client_for(bound.org.police_specialist).get(f"/api/v1/exchange/quality/{bound.entry.pk}").json()[
        "consistency"] == 0.98
    assert cli(["exchange", "cross-check"]) == 1
    page = login(Client(), bound.org.centre_admin).get(f"/exchange/cross-checks/{check.pk}/").content.decode()
    assert 'data-differing="2"' in page and 'id="differences"' in page
    assert CrossCheck.objects.get(pk=check.pk).checked_at is not None


def test_the_cross_check_list_and_form_are_the_centres(bound: Any, start: Any) -> None:  # noqa: F811
    market_entry, _binding = market_register(bound, {})
    centre = login(Client(), bound.org.centre_admin)
    page = centre.get("/exchange/cross-checks/").content.decode()
    assert 'id="check-form"' in page
    wrong = centre.post("/exchange/cross-checks/", {"name": "x", "left_entry": bound.entry.code, "left_key": "无",
                                                    "left_item": "姓名", "right_entry": market_entry.code,
                                                    "right_key": "公民身份号码", "right_item": "姓名"})
    assert wrong.status_code == 400 and 'id="check-errors"' in wrong.content.decode()
    made = centre.post("/exchange/cross-checks/", {"name": "姓名", "left_entry": bound.entry.code,
                                                   "left_key": "公民身份号码", "left_item": "姓名",
                                                   "right_entry": market_entry.code, "right_key": "公民身份号码",
                                                   "right_item": "姓名"})
    assert made.status_code == 302
    police = login(Client(), bound.org.police_specialist).get("/exchange/cross-checks/").content.decode()
    assert 'id="check-form"' not in police and "姓名" in police
    other = login(Client(), bound.org.market_admin)
    assert other.get("/exchange/cross-checks/").status_code == 200


# ------------------------------------------------------------------ base libraries (EXC-8)

def test_the_base_libraries_show_what_keeps_each_entry_from_its_consumers(cat: Any, client_for: Any) -> None:
    population = cat.published(classification="101")
    body = client_for(cat.org.centre_admin).get("/api/v1/exchange/base-libraries").json()
    assert [(row["entry"]["code"], row["problems"]) for row in body] == [(population.code, ["not_bound"])]
    assert client_for(cat.org.police_specialist).get("/api/v1/exchange/base-libraries").json()[0]["entry"][
        "code"] == population.code
    assert client_for(cat.org.market_specialist).get("/api/v1/exchange/base-libraries").json() == []
    page = login(Client(), cat.org.auditor).get("/exchange/base/").content.decode()
    assert f'data-entry="{population.code}"' in page and 'data-problems="not_bound"' in page
    assert cli(["exchange", "base"]) == 1


def _people(n: int) -> list[tuple[Any, ...]]:
    return [(f"3607831990{i:07d}{i % 10}", f"张{i}", "1990-01-02") for i in range(n)]


# ------------------------------------------------------------------ review of the 22nd session: score arithmetic

def test_one_quarantined_row_in_300_is_never_shown_as_100_percent_nor_scored_100(
        bound: Any, start: Any, client_for: Any) -> None:  # noqa: F811
    rows = _people(300)
    rows[5] = (rows[5][0], rows[5][1], "2023-02-30")  # quarantined: no such day
    front_end(rows)
    run = start(bound.org.police_specialist, bound.binding)
    assert (run.status, run.rejected) == ("succeeded", 1)
    body = client_for(bound.org.police_specialist).get(f"{API}/exchange/quality/{bound.entry.pk}").json()
    page = login(Client(), bound.org.police_specialist).get(f"/exchange/quality/{bound.entry.pk}/").content.decode()
    validity = re.search(r'data-measure="validity">([^<]*)<', page).group(1).strip()
    # a quarantined row exists: neither the validity nor the score may read as perfect
    assert validity == "99.6 %", f"validity shown as {validity!r} although 1 of 300 rows was quarantined"
    assert body["validity"] == 0.9966 and body["score"] == 99, body  # 299 / 300 = 0.99666…, down


def test_an_empty_table_has_no_score_not_a_perfect_one(bound: Any, start: Any, client_for: Any) -> None:  # noqa: F811
    front_end([])
    run = start(bound.org.police_specialist, bound.binding)
    assert run.status == "succeeded", run.error_message
    body = client_for(bound.org.police_specialist).get(f"{API}/exchange/quality/{bound.entry.pk}").json()
    assert body["live_rows"] == 0 and body["completeness"] is None and body["validity"] is None
    # nothing measured but timeliness: a table with no data must not be shown as "score 100" (perfect quality)
    assert body["score"] != 100, body


# ------------------------------------------------------------------ cross-checks

def _declare(bound: Any, market_entry: Any) -> Any:
    from govshare.exchange.actions import do_declare_cross_check

    return do_declare_cross_check(bound.org.centre_admin, name="人员姓名一致性", left_entry=bound.entry,
                                  left_key="公民身份号码", left_item="姓名", right_entry=market_entry,
                                  right_key="公民身份号码", right_item="姓名")


def test_a_check_that_now_fails_drops_its_old_result_and_no_longer_counts_in_the_score(
        bound: Any, start: Any, client_for: Any, monkeypatch: Any) -> None:  # noqa: F811
    from govshare.datastore.engine.store import StoreError
    from govshare.exchange.actions import checks, do_run_cross_check

    start(bound.org.police_specialist, bound.binding)
    market_entry, market_binding = market_register(bound, {3: "张三丰", 9: "李九"})
    start(bound.org.market_specialist, market_binding)
    check = _declare(bound, market_entry)
    assert do_run_cross_check(bound.org.centre_admin, check).consistency == 0.98

    def broken(*args: Any, **kwargs: Any) -> Any:  # e.g. the compared item is gone from a new version's table
        raise StoreError("shape_changed", "t has no item '姓名'")

    monkeypatch.setattr(checks, "cross_compare", broken)
    failed = do_run_cross_check(bound.org.centre_admin, check)
    assert failed.error  # the check cannot be made any more
    body = client_for(bound.org.centre_admin).get(f"{API}/exchange/cross-checks/{check.pk}").json()
    quality = client_for(bound.org.police_specialist).get(f"{API}/exchange/quality/{bound.entry.pk}").json()
    # the old counts are still presented (and scored) as the check's result next to its error
    assert (body["compared"], body["differing"]) == (None, None), body
    assert quality["consistency"] is None, quality


def test_an_unchanged_mismatch_is_notified_once_not_on_every_run(
        bound: Any, start: Any, django_capture_on_commit_callbacks: Any) -> None:  # noqa: F811
    from govshare.core.models import Notification
    from govshare.exchange.actions import do_run_cross_check

    start(bound.org.police_specialist, bound.binding)
    market_entry, market_binding = market_register(bound, {3: "张三丰"})
    start(bound.org.market_specialist, market_binding)
    check = _declare(bound, market_entry)
    for _day in range(3):  # the daily hook, three days, nothing changed
        with django_capture_on_commit_callbacks(execute=True):
            do_run_cross_check(None, check, operator=True)
    sent = Notification.objects.filter(kind="exchange.cross_check", recipient=bound.org.police_specialist).count()
    assert sent == 1, f"{sent} identical notices for one unchanged mismatch"


def test_fixed_width_char_padding_does_not_make_compared_values_differ(bound: Any, start: Any) -> None:  # noqa: F811
    """One provider keeps 姓名 in a fixed-width CHAR(50) column (padded with spaces, as PostgreSQL/Oracle return it);
    the rules engine strips such padding, the cross-check does not."""
    from govshare.exchange.actions import do_run_cross_check

    start(bound.org.police_specialist, bound.binding)
    market_entry, market_binding = market_register(bound, {3: "张三丰"})
    path = Path(settings.GOVSHARE_SOURCE_DIR) / "sj.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE ryxx SET xm = substr(xm || '                                                  ', 1, 50)")
    db.close()
    start(bound.org.market_specialist, market_binding)
    done = do_run_cross_check(bound.org.centre_admin, _declare(bound, market_entry))
    assert done.compared == 100
    assert done.differing == 1, f"{done.differing} of 100 reported as differing; only 张3/张三丰 really differs"


# ------------------------------------------------------------------ base libraries (EXC-8) and uploads

def test_a_base_library_fed_by_uploads_is_in_order_and_has_a_score(
        cat: Any, django_capture_on_commit_callbacks: Any) -> None:
    from tests.test_exchange_uploads import ROWS as UPLOAD_ROWS
    from tests.test_exchange_uploads import filled, upload

    population = cat.published(classification="101")
    client = login(Client(), cat.org.police_specialist)
    answer = upload(client, population, filled(population, client, UPLOAD_ROWS), django_capture_on_commit_callbacks)
    assert answer.status_code == 202
    assert client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()["status"] == "loaded"
    rows = login(Client(), cat.org.centre_admin).get(f"{API}/exchange/base-libraries").json()
    problems = {row["entry"]["code"]: row["problems"] for row in rows}
    quality = client.get(f"{API}/exchange/quality/{population.pk}")
    # the entry's data is in the centre, fresh, loaded by the provider today
    assert quality.status_code == 200, "the provider gets 404 for its own entry's quality score"
    assert problems[population.code] == [], problems
    score = quality.json()
    assert (score["validity"], score["timeliness"], score["stale"]) == (1.0, 1.0, False), score
    assert score["live_rows"] == len(UPLOAD_ROWS) and score["completeness"] is not None and score["score"], score
    page = client.get(f"/exchange/quality/{population.pk}/").content.decode()
    assert "最近一次成功导入" in page and f'data-score="{score["score"]}"' in page


# ------------------------------------------------------------------ permissions

def test_a_consumers_quality_page_lists_no_cross_check_the_check_rule_hides_from_it(
        bound: Any, start: Any, client_for: Any) -> None:  # noqa: F811
    """A third department with a grant on the police entry: the CrossCheck rule gives it no view of the check
    (API 404), but the quality page lists the check's name and its mismatch counts."""
    import datetime as dt

    from govshare.core.actions import do_create_department
    from govshare.core.demo import make_uscc
    from govshare.core.roles import Role
    from govshare.exchange.actions import do_run_cross_check
    from govshare.sharing.models import Grant

    start(bound.org.police_specialist, bound.binding)
    market_entry, market_binding = market_register(bound, {3: "张三丰", 9: "李九"})
    start(bound.org.market_specialist, market_binding)
    check = do_run_cross_check(bound.org.centre_admin, _declare(bound, market_entry))
    tax = do_create_department(bound.org.centre_admin, name="龙南市税务局", short_name="税务局",
                               uscc=make_uscc("360783", 9), code="SW", jurisdiction=bound.org.county)
    clerk = bound.org.user("tax_specialist", tax, Role.DATA_SPECIALIST)
    Grant.objects.create(source="unconditional", entry=bound.entry, provider=bound.entry.provider, consumer=tax,
                         items=["姓名"], purpose="行政依据", channel="table", valid_from=dt.date(2020, 1, 1))
    assert client_for(clerk).get(f"{API}/exchange/cross-checks/{check.pk}").status_code == 404
    page = login(Client(), clerk).get(f"/exchange/quality/{bound.entry.pk}/").content.decode()
    assert "人员姓名一致性" not in page, "the check and its counts are on the consumer's page"


# ------------------------------------------------------------------ language

def test_a_cross_check_that_cannot_be_made_says_why_in_the_readers_words_only(bound: Any, start: Any) -> None:  # noqa: F811
    from govshare.exchange.actions import do_run_cross_check

    start(bound.org.police_specialist, bound.binding)
    market_entry, _binding = market_register(bound, {})
    not_yet = do_run_cross_check(bound.org.centre_admin, _declare(bound, market_entry))
    zh = not_yet.error["zh"]
    assert not re.search(r"[A-Za-z_]{4,}", zh), f"mixed-language message: {zh!r}"
