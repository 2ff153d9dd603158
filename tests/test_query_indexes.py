"""Query indexes of an entry's centre table (issue 11, the data API's speed target; SHR-9): the provider chooses the
items consumers filter and sort on, a background job builds the indexes in the centre (and drops those no longer
asked for), and the state of each is shown on the API and the entry's page.  Owner (the provider's data
specialist), colleague (the provider's administrator), outsider (the consumer department, the centre and the auditor
see but do not change, the public sees nothing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, Job
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine import indexes
from govshare.datastore.models import QueryIndex
from tests import test_data_api
from tests.conftest import API, login
from tests.test_data_api import PEOPLE, _load, _rows

data = test_data_api.data  # the fixture: the police's people in the centre, the market's api grant

pytestmark = pytest.mark.django_db


def _put(client: Client, entry: Any, items: list[str], capture: Any) -> Any:
    with capture(execute=True):  # the job runs when the request's transaction commits
        return client.put(f"{API}/data/{entry.code}/indexes", json.dumps({"items": items}),
                          content_type="application/json")


def _in_centre(entry: Any) -> dict[str, bool]:
    table = table_for(entry)
    with open_store() as store:
        return store.indexes(table, indexes.prefix_of(table))


def test_the_provider_chooses_items_and_the_job_builds_their_indexes_in_the_centre(
        data: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), data.org.police_specialist)
    answer = _put(client, data.entry, ["姓名", "出生日期"], django_capture_on_commit_callbacks)
    assert answer.status_code == 202, answer.content
    body = client.get(f"{API}/data/{data.entry.code}/indexes").json()
    assert body["indexable"] == ["姓名", "出生日期"]  # not the key: its own index serves it
    assert [(i["item"], i["state"]) for i in body["items"]] == [("姓名", "ready"), ("出生日期", "ready")]
    assert len(_in_centre(data.entry)) == 4 and all(_in_centre(data.entry).values())
    assert AuditEvent.objects.filter(code=AuditCode.QUERY_INDEXES_SET, actor_id=data.org.police_specialist.pk,
                                     changes__items=[[], ["姓名", "出生日期"]]).exists()
    assert AuditEvent.objects.get(code=AuditCode.QUERY_INDEXES_BUILT).detail["ready"] == ["姓名", "出生日期"]
    # fewer items: the others' indexes are dropped
    assert _put(client, data.entry, ["出生日期"], django_capture_on_commit_callbacks).status_code == 202
    assert sorted(_in_centre(data.entry)) == sorted(indexes.names_of(table_for(data.entry), 3))
    assert list(QueryIndex.objects.filter(entry=data.entry).values_list("item", flat=True)) == ["出生日期"]


def test_the_consumers_sorted_pages_are_the_same_with_the_index(data: Any,
                                                                django_capture_on_commit_callbacks: Any) -> None:
    consumer = login(Client(), data.org.market_specialist)
    before = _rows(consumer, data.entry, sort="-出生日期", limit=2)
    _put(login(Client(), data.org.police_specialist), data.entry, ["出生日期"], django_capture_on_commit_callbacks)
    after = _rows(consumer, data.entry, sort="-出生日期", limit=2)
    assert after.status_code == 200
    assert after.json()["rows"] == before.json()["rows"]
    second = consumer.get(after.json()["next"]).json()["rows"] + consumer.get(
        consumer.get(after.json()["next"]).json()["next"]).json()["rows"]
    assert [r["出生日期"] for r in after.json()["rows"] + second] == ["1990-01-01", "1985-05-05", "1977-02-28",
                                                                    "1966-10-10", None]  # NULLs last


def test_a_colleague_changes_them_the_centre_and_the_auditor_only_see_them_an_outsider_gets_404(
        data: Any, django_capture_on_commit_callbacks: Any) -> None:
    colleague = login(Client(), data.org.police_admin)
    assert _put(colleague, data.entry, ["姓名"], django_capture_on_commit_callbacks).status_code == 202
    for user in (data.org.centre_admin, data.org.auditor, data.org.reviewer):
        client = login(Client(), user)
        assert [i["item"] for i in client.get(f"{API}/data/{data.entry.code}/indexes").json()["items"]] == ["姓名"]
        assert _put(client, data.entry, [], django_capture_on_commit_callbacks).status_code in (403, 404), user
    outsider = login(Client(), data.org.market_specialist)  # the consumer: its grant's data, not the centre's tables
    assert outsider.get(f"{API}/data/{data.entry.code}/indexes").status_code == 404
    assert _put(outsider, data.entry, [], django_capture_on_commit_callbacks).status_code == 404
    assert Client().get(f"{API}/data/{data.entry.code}/indexes").status_code == 401
    assert list(QueryIndex.objects.filter(entry=data.entry).values_list("item", flat=True)) == ["姓名"]
    assert len(_in_centre(data.entry)) == 2


@pytest.mark.parametrize(("items", "code", "where"), [
    (["没有这项"], "unknown_item", "没有这项"),
    (["公民身份号码"], "key", "key"),
    (["姓名", "出生日期", "姓名 "], None, None),  # the same item twice: once
])
def test_an_item_that_cannot_be_indexed_is_refused_naming_it_and_nothing_changes(
        data: Any, django_capture_on_commit_callbacks: Any, items: list[str], code: str | None,
        where: str | None) -> None:
    client = login(Client(), data.org.police_specialist)
    answer = _put(client, data.entry, items, django_capture_on_commit_callbacks)
    if code is None:
        assert answer.status_code == 202
        assert [i["item"] for i in answer.json()["items"]] == ["姓名", "出生日期"]
        return
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == code and where in error["message_en"] and error["message_zh"] != error["message_en"]
    assert not QueryIndex.objects.exists() and not Job.objects.filter(kind="datastore.indexes").exists()
    assert not AuditEvent.objects.filter(code=AuditCode.QUERY_INDEXES_SET).exists()


def test_more_items_than_the_limit_are_refused(data: Any, django_capture_on_commit_callbacks: Any,
                                               settings: Any) -> None:
    settings.GOVSHARE_MAX_QUERY_INDEXES = 1
    answer = _put(login(Client(), data.org.police_specialist), data.entry, ["姓名", "出生日期"],
                  django_capture_on_commit_callbacks)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "too_many"
    assert "At most 1" in answer.json()["error"]["message_en"] and "最多" in answer.json()["error"]["message_zh"]
    assert not QueryIndex.objects.exists()


def test_items_chosen_before_the_first_copy_wait_for_it_and_are_built_after_it(
        share: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Chosen from the catalog's items while the centre holds nothing of the entry; the periodic hook queues the
    build once a copy has made the table (and never twice while one is queued)."""
    from govshare.datastore.actions.indexes import build_waiting

    entry = share.unconditional
    client = login(Client(), share.org.police_specialist)
    assert _put(client, entry, ["公民身份号码"], django_capture_on_commit_callbacks).json()["error"]["code"] == "key"
    answer = _put(client, entry, ["姓名"], django_capture_on_commit_callbacks)
    assert answer.status_code == 202, answer.content
    assert [(i["item"], i["state"]) for i in answer.json()["items"]] == [("姓名", "waiting")]
    assert build_waiting() == 0  # still no table
    _load(entry, PEOPLE)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert build_waiting() == 1
        assert build_waiting() == 0  # queued already: not twice
    assert QueryIndex.objects.get(entry=entry).state == "building"
    for callback in queued:
        callback()
    assert QueryIndex.objects.get(entry=entry).state == "ready"
    assert len(_in_centre(entry)) == 2


def test_the_entry_page_links_to_the_indexes_page_where_the_provider_chooses_them(
        data: Any, django_capture_on_commit_callbacks: Any) -> None:
    page = f"/data/entries/{data.entry.pk}/indexes/"
    owner = login(Client(), data.org.police_specialist)
    assert page in owner.get(f"/catalog/entries/{data.entry.pk}/").content.decode()
    shown = owner.get(page).content.decode()
    assert 'name="items" value="姓名"' in shown and 'value="公民身份号码"' not in shown
    with django_capture_on_commit_callbacks(execute=True):
        saved = owner.post(page, {"items": ["出生日期"]})
    assert saved.status_code == 302
    shown = owner.get(page).content.decode()
    assert 'value="出生日期" aria-label="出生日期" checked' in shown and 'data-state="ready"' in shown
    auditor = login(Client(), data.org.auditor)
    assert "disabled" in auditor.get(page).content.decode()
    assert auditor.post(page, {"items": []}).status_code == 404
    outsider = login(Client(), data.org.market_specialist)
    assert page not in outsider.get(f"/catalog/entries/{data.entry.pk}/").content.decode()
    assert outsider.get(page).status_code == 404
    assert list(QueryIndex.objects.values_list("item", flat=True)) == ["出生日期"]


def test_the_console_lists_and_sets_an_entrys_query_indexes_as_a_user_of_its_provider(
        data: Any, django_capture_on_commit_callbacks: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from govshare.cli import main

    with django_capture_on_commit_callbacks(execute=True):
        assert main(["datastore", "indexes", data.entry.code, "--set", "出生日期，姓名"]) == 0
    assert main(["datastore", "indexes", data.entry.code]) == 0
    out = capsys.readouterr().out
    assert "出生日期\t可用 / ready" in out and "姓名\t可用 / ready" in out
    assert main(["datastore", "indexes", data.entry.code, "--set", "公民身份号码"]) == 2
    assert "key" in capsys.readouterr().err
    assert main(["datastore", "indexes", data.entry.code, "--set", "姓名", "--as",
                 data.org.market_specialist.username]) == 2  # an outsider: the same "not found" as a missing entry
    assert main(["datastore", "indexes", "999/999999"]) == 2
    assert sorted(QueryIndex.objects.values_list("item", flat=True)) == ["出生日期", "姓名"]


def test_a_centre_that_cannot_be_reached_fails_each_item_with_why_and_the_audit_says_so(
        data: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review of the 11th session: a store error outside an index's build (opening the centre, reading its
    indexes) left the items "being built" for ever, with no 5101 event."""
    from govshare.datastore.actions import indexes as actions
    from govshare.datastore.engine.store import StoreError

    client = login(Client(), data.org.police_specialist)
    real = actions.open_store

    def unreachable() -> Any:
        raise StoreError("unavailable", "connection refused")

    monkeypatch.setattr(actions, "open_store", unreachable)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        monkeypatch.setattr(actions, "open_store", real)  # the choice itself reads the centre's items
        answer = client.put(f"{API}/data/{data.entry.code}/indexes", json.dumps({"items": ["姓名"]}),
                            content_type="application/json")
        monkeypatch.setattr(actions, "open_store", unreachable)
    assert answer.status_code == 202
    for callback in queued:
        callback()
    body = client.get(f"{API}/data/{data.entry.code}/indexes", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["items"][0]["state"] == "failed"
    event = AuditEvent.objects.get(code=AuditCode.QUERY_INDEXES_BUILT)
    assert event.outcome == "failure" and event.detail["failed"] == {"姓名": "unavailable: connection refused"}
    monkeypatch.setattr(actions, "open_store", real)
    assert _put(client, data.entry, ["姓名"], django_capture_on_commit_callbacks).status_code == 202  # chosen again
    assert QueryIndex.objects.get(entry=data.entry).state == "ready"
