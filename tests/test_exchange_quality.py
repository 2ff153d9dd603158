"""Quality on the way in (issue 10 item 9; EXC-7): the provider picks value rules per item — GB 11643 ID numbers,
GB 32100 credit codes, phone numbers, allowed values, ranges, patterns; rows that break one are quarantined
with the reason in the reader's language, and a batch with more of them than the binding allows stops the copy
with nothing of it applied.  The rules engine's own tests: tests/test_exchange_rules.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from govshare.core.errors import ManyProblems, ValidationFailed
from govshare.core.idcodes import id_check_char
from govshare.exchange.actions import do_set_binding_rules
from govshare.exchange.models import TableBinding
from tests.conftest import login
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
