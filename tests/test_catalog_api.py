"""The catalog JSON API (/api/v1/catalog, issue 3 items 6 and 8): every endpoint's happy path, bad
input answered with the field named in Chinese and English, flat query counts on the lists, and
the OpenAPI document.  Who may do what is pinned in ``test_catalog_api_access.py``."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from govshare.catalog.actions import (
    do_edit_entry,
    do_open_update_task,
    do_raise_feedback,
    do_set_synonym,
    do_submit,
    do_subscribe,
)
from govshare.catalog.models import (
    CatalogEntry,
    CatalogSnapshot,
    Classification,
    EntryVersion,
    Feedback,
    Project,
    Synonym,
    UpdateTask,
)
from govshare.core.actions import do_create_token
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, Notification
from govshare.core.notify import notify
from tests.catalog_helpers import content
from tests.conftest import API, crash_client

HAS_SEARCH = importlib.util.find_spec("govshare.catalog.search") is not None


def call(user: Any, method: str, path: str, body: Any = None, client: Client | None = None, **params: Any) -> Any:
    """``/api/v1/catalog`` + ``path`` as ``user`` (None: anonymous); GET takes query ``params``."""
    client = client or crash_client(user)
    url = API + path if path.startswith("/me/") else API + "/catalog" + path
    if method == "get":
        return client.get(url, params)
    return getattr(client, method)(url, body if body is not None else {}, content_type="application/json")


def error(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


def assert_bilingual(err: dict[str, Any]) -> None:
    assert err["message_zh"] and err["message_en"]


# ------------------------------------------------------------------ create, read, edit

def test_a_specialist_registers_a_draft_and_gets_its_generated_code(cat: Any) -> None:
    response = call(cat.org.police_specialist, "post", "/entries", content())
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["code"] == "301/000001" and data["status"] == "draft"
    assert data["current_version"] is None
    draft = data["open_version"]
    assert draft["state"] == "draft" and draft["classification"] == "301" and draft["number"] == 1
    assert [i["name"] for i in draft["items"]] == ["公民身份号码", "姓名", "出生日期"]
    assert data["provider"]["code"] == "GA" and data["provider"]["uscc"] == cat.org.police.uscc
    assert AuditEvent.objects.filter(code=int(AuditCode.ENTRY_CREATED), object_id=str(data["id"])).exists()


def test_a_conditional_entry_without_its_basis_is_a_400_naming_share_basis(cat: Any) -> None:
    body = content(share_type="conditional", share_condition="仅限公安业务", share_basis="")
    response = call(cat.org.police_specialist, "post", "/entries", body)
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "basis_required" and err["field"] == "share_basis"
    assert "CAT-2" in err["message_en"]
    assert_bilingual(err)
    assert not CatalogEntry.objects.exists()


def test_every_problem_of_an_entry_is_reported_at_once_with_its_field(cat: Any) -> None:
    body = content(share_type="none", share_basis="", update_cycle="hourly", name="",
                   items=[{"name": "x", "data_type": "C"}])
    response = call(cat.org.police_specialist, "post", "/entries", body)
    assert response.status_code == 400
    err = error(response)
    fields = {e["field"] for e in err["errors"]}
    assert {"name", "share_basis", "update_cycle", "items[1].length"} <= fields
    assert all(e["message_zh"] and e["message_en"] for e in err["errors"])


def test_an_unknown_classification_is_a_400_naming_the_field(cat: Any) -> None:
    response = call(cat.org.police_specialist, "post", "/entries", content(classification="388"))
    assert response.status_code == 400
    assert error(response)["code"] == "unknown_classification" and error(response)["field"] == "classification"


def test_another_departments_classification_is_refused(cat: Any) -> None:
    response = call(cat.org.police_specialist, "post", "/entries", content(classification="302"))
    assert response.status_code == 400 and error(response)["code"] == "classification_other_department"


def test_an_unknown_project_code_is_a_400_naming_the_project(cat: Any) -> None:
    response = call(cat.org.police_specialist, "post", "/entries", content(project="NOPE"))
    assert response.status_code == 400
    assert error(response)["field"] == "project" and error(response)["code"] == "unknown_project"
    assert_bilingual(error(response))


@pytest.mark.parametrize(("field", "value"), [("name", "名" * 201), ("summary", "x" * 4001),
                                              ("classification", "3" * 17), ("format", "f" * 61)])
def test_an_overlong_content_field_is_a_422_naming_it(cat: Any, field: str, value: str) -> None:
    response = call(cat.org.police_specialist, "post", "/entries", content(**{field: value}))
    assert response.status_code == 422 and error(response)["field"] == field
    assert not CatalogEntry.objects.exists()


def test_a_wrongly_typed_item_is_a_422_naming_the_item_field(cat: Any) -> None:
    body = content(items=[{"name": "年龄", "data_type": "I", "length": "很长"}])
    response = call(cat.org.police_specialist, "post", "/entries", body)
    assert response.status_code == 422 and error(response)["field"] == "items.0.length"


def test_a_nul_character_in_content_is_a_422(cat: Any) -> None:
    response = call(cat.org.police_specialist, "post", "/entries", content(summary="a\x00b"))
    assert response.status_code == 422 and error(response)["field"] == "summary"


def test_an_entry_is_read_by_id_or_by_resource_code(cat: Any) -> None:
    entry = cat.published()
    by_id = call(cat.org.market_specialist, "get", f"/entries/{entry.pk}")
    by_code = call(cat.org.market_specialist, "get", f"/entries/{entry.code}")
    assert by_id.status_code == by_code.status_code == 200
    assert by_id.json() == by_code.json()
    current = by_id.json()["current_version"]
    assert current["number"] == 1 and current["state"] == "published" and len(current["items"]) == 3


@pytest.mark.parametrize("ref", ["999999", "301/999999", "9" * 30, "0"])
def test_a_missing_entry_is_a_404(cat: Any, ref: str) -> None:
    response = call(cat.org.centre_admin, "get", f"/entries/{ref}")
    assert response.status_code == 404


def test_editing_a_draft_replaces_its_content(cat: Any) -> None:
    entry = cat.draft()
    response = call(cat.org.police_specialist, "put", f"/entries/{entry.pk}/draft", content(name="暂住人口信息"))
    assert response.status_code == 200
    assert response.json()["open_version"]["name"] == "暂住人口信息"
    assert response.json()["open_version"]["number"] == 1


def test_editing_a_published_entry_opens_version_two_and_keeps_version_one_in_force(cat: Any) -> None:
    entry = cat.published()
    body = {**content(summary="新的摘要"), "change_reason": "职能调整"}
    response = call(cat.org.police_specialist, "put", f"/entries/{entry.code}/draft", body)
    assert response.status_code == 200
    data = response.json()
    assert data["current_version"]["number"] == 1 and data["current_version"]["summary"] != "新的摘要"
    assert data["open_version"]["number"] == 2 and data["open_version"]["change_reason"] == "职能调整"


def test_changing_a_published_entry_needs_a_reason(cat: Any) -> None:
    entry = cat.published()
    response = call(cat.org.police_specialist, "put", f"/entries/{entry.pk}/draft", content(summary="改"))
    assert response.status_code == 400 and error(response)["field"] == "change_reason"
    entry.refresh_from_db()
    assert entry.open_version is None


def test_the_published_code_cannot_move_to_another_classification(cat: Any) -> None:
    other = Classification.objects.create(code="301001", name="户籍", level=3, parent=cat.police_class,
                                          kind="department")
    entry = cat.published()
    body = {**content(classification="303"), "change_reason": "x"}
    assert call(cat.org.police_specialist, "put", f"/entries/{entry.pk}/draft", body).status_code == 400
    assert other.code.startswith("301")


# ------------------------------------------------------------------ lifecycle

def test_submit_approve_publishes_and_notifies_the_department(cat: Any) -> None:
    entry = cat.draft()
    submitted = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/submit")
    assert submitted.status_code == 200 and submitted.json()["open_version"]["state"] == "submitted"
    approved = call(cat.org.reviewer, "post", f"/entries/{entry.pk}/approve", {"comment": "同意"})
    assert approved.status_code == 200
    data = approved.json()
    assert data["status"] == "published" and data["open_version"] is None
    assert data["current_version"]["review_comment"] == "同意"
    assert data["published_at"] is not None


def test_approving_needs_no_body(cat: Any) -> None:
    entry = cat.draft()
    do_submit(cat.org.police_specialist, entry)
    response = crash_client(cat.org.reviewer).generic("POST", f"{API}/catalog/entries/{entry.pk}/approve")
    assert response.status_code == 200 and response.json()["status"] == "published"


def test_approving_a_draft_that_was_not_submitted_is_a_409(cat: Any) -> None:
    entry = cat.draft()
    response = call(cat.org.reviewer, "post", f"/entries/{entry.pk}/approve")
    assert response.status_code == 409 and error(response)["code"] == "invalid_transition"
    assert_bilingual(error(response))


def test_submitting_twice_is_a_409(cat: Any) -> None:
    entry = cat.draft()
    assert call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/submit").status_code == 200
    assert call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/submit").status_code == 409


def test_a_reviewer_cannot_approve_their_own_submission(cat: Any) -> None:
    entry = cat.draft(cat.org.centre_admin, classification="399")
    do_submit(cat.org.centre_admin, entry)
    response = call(cat.org.centre_admin, "post", f"/entries/{entry.pk}/approve")
    assert response.status_code == 403 and error(response)["code"] == "own_submission"


def test_returning_needs_a_comment_and_sends_the_draft_back(cat: Any) -> None:
    entry = cat.draft()
    do_submit(cat.org.police_specialist, entry)
    missing = call(cat.org.reviewer, "post", f"/entries/{entry.pk}/return", {"comment": " "})
    assert missing.status_code == 400 and error(missing)["field"] == "comment"
    returned = call(cat.org.reviewer, "post", f"/entries/{entry.pk}/return", {"comment": "请补充共享依据"})
    assert returned.status_code == 200
    assert returned.json()["open_version"]["state"] == "returned"
    assert returned.json()["open_version"]["review_comment"] == "请补充共享依据"


def test_withdrawing_goes_through_review_and_then_the_entry_is_withdrawn(cat: Any) -> None:
    entry = cat.published()
    missing = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/withdraw", {"reason": ""})
    assert missing.status_code == 400 and error(missing)["field"] == "reason"
    asked = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/withdraw", {"reason": "职能划转"})
    assert asked.status_code == 200
    assert asked.json()["open_version"]["kind"] == "withdrawal"
    done = call(cat.org.reviewer, "post", f"/entries/{entry.pk}/approve")
    assert done.json()["status"] == "withdrawn" and done.json()["withdrawn_at"] is not None


def test_withdrawing_a_draft_is_a_409(cat: Any) -> None:
    entry = cat.draft()
    response = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/withdraw", {"reason": "不要了"})
    assert response.status_code == 409 and error(response)["code"] == "invalid_transition"


def test_editing_a_withdrawn_entry_is_a_409(cat: Any) -> None:
    entry = cat.published()
    call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/withdraw", {"reason": "撤销"})
    call(cat.org.reviewer, "post", f"/entries/{entry.pk}/approve")
    body = {**content(), "change_reason": "恢复"}
    response = call(cat.org.police_specialist, "put", f"/entries/{entry.pk}/draft", body)
    assert response.status_code == 409 and error(response)["code"] == "entry_withdrawn"


def test_withdrawing_during_a_notice_period_is_a_409(cat: Any) -> None:
    entry = cat.published()
    do_subscribe(cat.org.market_specialist, entry)
    do_edit_entry(cat.org.police_specialist, entry, content(summary="变更"), change_reason="调整")
    do_submit(cat.org.police_specialist, entry)
    response = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/withdraw", {"reason": "撤销"})
    assert response.status_code == 409 and error(response)["code"] == "notice_period_running"


def test_a_change_with_subscribers_is_approved_but_waits_for_the_notice_period(cat: Any) -> None:
    entry = cat.published()
    do_subscribe(cat.org.market_specialist, entry)
    do_edit_entry(cat.org.police_specialist, entry, content(summary="变更"), change_reason="调整")
    do_submit(cat.org.police_specialist, entry)
    data = call(cat.org.reviewer, "post", f"/entries/{entry.pk}/approve").json()
    assert data["current_version"]["number"] == 1
    assert data["open_version"]["state"] == "approved" and data["open_version"]["notice_ends_at"]


def test_discarding_a_never_published_draft_deletes_the_entry(cat: Any) -> None:
    entry = cat.draft()
    response = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/discard")
    assert response.status_code == 204 and not CatalogEntry.objects.filter(pk=entry.pk).exists()


def test_discarding_a_new_version_keeps_the_published_one(cat: Any) -> None:
    entry = cat.published()
    do_edit_entry(cat.org.police_specialist, entry, content(summary="草稿"), change_reason="试改")
    response = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/discard")
    assert response.status_code == 200
    assert response.json()["open_version"] is None and response.json()["current_version"]["number"] == 1


def test_discarding_when_nothing_is_in_progress_is_a_409(cat: Any) -> None:
    entry = cat.published()
    response = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/discard")
    assert response.status_code == 409 and error(response)["code"] == "not_editable"


# ------------------------------------------------------------------ subscriptions

def test_subscribing_and_unsubscribing(cat: Any) -> None:
    entry = cat.published()
    subscribed = call(cat.org.market_specialist, "post", f"/entries/{entry.pk}/subscribe")
    assert subscribed.status_code == 201 and subscribed.json() == {
        "code": entry.code, "subscribed": True, "created_at": subscribed.json()["created_at"]}
    assert call(cat.org.market_specialist, "get", f"/entries/{entry.pk}").json()["subscribed"] is True
    assert call(cat.org.market_specialist, "delete", f"/entries/{entry.pk}/subscribe").status_code == 204
    assert call(cat.org.market_specialist, "get", f"/entries/{entry.pk}").json()["subscribed"] is False


def test_the_subscriber_count_is_shown_to_the_provider_and_the_centre_only(cat: Any) -> None:
    entry = cat.published()
    do_subscribe(cat.org.market_specialist, entry)
    do_subscribe(cat.org.market_admin, entry)
    path = f"/entries/{entry.pk}"
    assert call(cat.org.police_specialist, "get", path).json()["subscriber_count"] == 2
    assert call(cat.org.reviewer, "get", path).json()["subscriber_count"] == 2
    assert call(cat.org.market_specialist, "get", path).json()["subscriber_count"] is None


def test_a_citizen_cannot_subscribe(cat: Any) -> None:
    entry = cat.published(open_attribute="open", domain="交通")
    response = call(cat.org.citizen, "post", f"/entries/{entry.pk}/subscribe")
    assert response.status_code == 403 and error(response)["code"] == "government_only"


def test_subscribing_to_a_draft_is_a_409(cat: Any) -> None:
    entry = cat.draft()
    assert call(cat.org.police_admin, "post", f"/entries/{entry.pk}/subscribe").status_code == 409


# ------------------------------------------------------------------ versions and diffs

@pytest.fixture
def two_versions(cat: Any) -> CatalogEntry:
    entry = cat.published()
    items = content()["items"][:2] + [{"name": "民族", "data_type": "C", "length": 20}]
    do_edit_entry(cat.org.police_specialist, entry, content(summary="第二版摘要", items=items),
                  change_reason="增加民族")
    cat.publish(entry)
    return entry


def test_the_versions_of_an_entry_are_listed_newest_first(cat: Any, two_versions: CatalogEntry) -> None:
    data = call(cat.org.market_specialist, "get", f"/entries/{two_versions.pk}/versions").json()
    assert data["total"] == 2
    assert [(v["number"], v["state"]) for v in data["items"]] == [(2, "published"), (1, "superseded")]


def test_one_version_has_its_content_and_items(cat: Any, two_versions: CatalogEntry) -> None:
    data = call(cat.org.market_specialist, "get", f"/entries/{two_versions.code}/versions/1").json()
    assert data["number"] == 1 and data["summary"] != "第二版摘要"
    assert [i["name"] for i in data["items"]] == ["公民身份号码", "姓名", "出生日期"]
    assert call(cat.org.market_specialist, "get", f"/entries/{two_versions.pk}/versions/9").status_code == 404


def test_the_diff_compares_field_by_field_with_the_previous_version(cat: Any, two_versions: CatalogEntry) -> None:
    data = call(cat.org.market_specialist, "get", f"/entries/{two_versions.pk}/versions/2/diff").json()
    assert data["number"] == 2 and data["against"] == 1
    by_field = {(c["field"], c.get("item")): c for c in data["changes"]}
    assert by_field[("summary", None)]["after"] == "第二版摘要" and by_field[("summary", None)]["label"]
    assert by_field[("items", "民族")]["change"] == "added"
    assert by_field[("items", "出生日期")]["change"] == "removed"


def test_the_diff_against_a_chosen_version_and_of_the_first_version(cat: Any, two_versions: CatalogEntry) -> None:
    back = call(cat.org.police_specialist, "get", f"/entries/{two_versions.pk}/versions/1/diff",
                against=2).json()
    assert back["against"] == 2 and any(c.get("item") == "民族" and c["change"] == "removed"
                                        for c in back["changes"])
    first = call(cat.org.police_specialist, "get", f"/entries/{two_versions.pk}/versions/1/diff").json()
    assert first["against"] is None and {c["field"] for c in first["changes"]} >= {"name", "summary", "items"}


def test_a_diff_against_a_missing_version_is_a_404(cat: Any, two_versions: CatalogEntry) -> None:
    response = call(cat.org.police_specialist, "get", f"/entries/{two_versions.pk}/versions/2/diff", against=7)
    assert response.status_code == 404


def test_the_public_sees_no_superseded_history(cat: Any) -> None:
    entry = cat.published(open_attribute="open", domain="交通")
    do_edit_entry(cat.org.police_specialist, entry, content(open_attribute="open", domain="交通", summary="二"),
                  change_reason="更新")
    cat.publish(entry)
    versions = call(None, "get", f"/entries/{entry.pk}/versions").json()
    assert [v["number"] for v in versions["items"]] == [2]
    assert call(None, "get", f"/entries/{entry.pk}/versions/1").status_code == 404
    assert call(None, "get", f"/entries/{entry.pk}/versions/2/diff").status_code == 404


# ------------------------------------------------------------------ review queue

def test_the_review_queue_lists_submitted_versions_oldest_first(cat: Any) -> None:
    first = cat.draft(name="甲")
    second = cat.draft(cat.org.market_specialist, name="乙")
    cat.draft(name="未提交")
    do_submit(cat.org.market_specialist, second)
    do_submit(cat.org.police_specialist, first)
    EntryVersion.objects.filter(entry=second).update(submitted_at=timezone.now() - dt.timedelta(days=2))
    data = call(cat.org.reviewer, "get", "/review-queue").json()
    assert data["total"] == 2
    assert [i["code"] for i in data["items"]] == [second.code, first.code]
    assert data["items"][0]["first_version"] is True and data["items"][0]["provider"] == "SJ"
    assert data["items"][0]["submitted_by"] == cat.org.market_specialist.real_name


@pytest.mark.parametrize("who", ["police_specialist", "police_admin", "auditor", "citizen"])
def test_only_the_centre_reads_the_review_queue(cat: Any, who: str) -> None:
    assert call(getattr(cat.org, who), "get", "/review-queue").status_code == 403


# ------------------------------------------------------------------ entry lists

@pytest.fixture
def listing(cat: Any) -> dict[str, CatalogEntry]:
    org = cat.org
    published = cat.published(name="户籍人口")
    changing = cat.published(name="出入境证件")
    do_edit_entry(org.police_specialist, changing, content(summary="修订"), change_reason="修订")
    do_submit(org.police_specialist, changing)
    return {"published": published, "changing": changing, "draft": cat.draft(name="草稿"),
            "market": cat.published(org.market_specialist, name="市场主体登记信息")}


def _codes(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [i["code"] for i in response.json()["items"]]


def test_listing_entries_filters_by_provider_status_and_mine(cat: Any, listing: Any) -> None:
    spec = cat.org.police_specialist
    assert _codes(call(spec, "get", "/entries", provider="SJ")) == [listing["market"].code]
    assert len(_codes(call(spec, "get", "/entries", status="published"))) == 3
    assert _codes(call(spec, "get", "/entries", status="draft")) == [listing["draft"].code]
    assert set(_codes(call(spec, "get", "/entries", mine="true"))) == {
        listing[k].code for k in ("published", "changing", "draft")}
    assert _codes(call(cat.org.market_specialist, "get", "/entries", mine="true")) == [listing["market"].code]
    assert _codes(call(cat.org.citizen, "get", "/entries", mine="true")) == []


def test_repeated_list_filters_mean_or(cat: Any, listing: Any) -> None:
    codes = _codes(call(cat.org.reviewer, "get", "/entries?provider=GA&provider=SJ&status=draft&status=published"))
    assert len(codes) == 4


def test_filtering_by_the_state_of_the_version_in_progress_needs_to_see_it(cat: Any, listing: Any) -> None:
    assert _codes(call(cat.org.reviewer, "get", "/entries", state="submitted")) == [listing["changing"].code]
    owner = call(cat.org.police_specialist, "get", "/entries", state="submitted").json()["items"]
    assert [i["open_version_state"] for i in owner] == ["submitted"]
    # an outsider sees the published entry but not that a change is under review
    assert _codes(call(cat.org.market_specialist, "get", "/entries", state="submitted")) == []
    outsider = call(cat.org.market_specialist, "get", "/entries", provider="GA").json()["items"]
    assert all(i["open_version_state"] is None for i in outsider)


def test_listing_pages_and_sorts(cat: Any, listing: Any) -> None:
    first = call(cat.org.reviewer, "get", "/entries", per_page=2, page=1).json()
    second = call(cat.org.reviewer, "get", "/entries", per_page=2, page=2).json()
    beyond = call(cat.org.reviewer, "get", "/entries", per_page=2, page=9).json()
    assert first["total"] == 4 and len(first["items"]) == 2 and len(second["items"]) == 2
    assert beyond["items"] == [] and beyond["total"] == 4
    assert {i["code"] for i in first["items"] + second["items"]} == {e.code for e in listing.values()}
    newest = call(cat.org.reviewer, "get", "/entries", sort="updated").json()["items"]
    assert newest[0]["code"] == listing["market"].code


@pytest.mark.parametrize("params", [{"per_page": 0}, {"per_page": 101}, {"page": 0}, {"sort": "name"},
                                    {"page": "9" * 30}])
def test_bad_list_parameters_are_a_422_naming_them(cat: Any, params: dict[str, Any]) -> None:
    response = call(cat.org.reviewer, "get", "/entries", **params)
    assert response.status_code == 422 and error(response)["field"] == next(iter(params))


def test_the_list_shows_a_drafts_content_to_its_department(cat: Any, listing: Any) -> None:
    items = call(cat.org.police_admin, "get", "/entries", status="draft").json()["items"]
    assert items[0]["name"] == "草稿" and items[0]["version"] == 1 and items[0]["open_version_state"] == "draft"


def _many(cat: Any, n: int) -> None:
    """Drafts, open published entries, and published entries with a change in progress, of two departments."""
    for i in range(n):
        user = cat.org.police_specialist if i % 3 else cat.org.market_specialist
        if i % 2 == 0:
            cat.draft(user, name=f"资源{i}")
        elif i % 4 == 1:
            cat.published(user, name=f"资源{i}", open_attribute="open", domain="交通")
        else:
            entry = cat.published(user, name=f"资源{i}")
            extra = {"classification": "302"} if user == cat.org.market_specialist else {}
            do_edit_entry(user, entry, content(summary=f"修订{i}", **extra), change_reason="修订")


def test_the_entry_list_uses_the_same_number_of_queries_for_3_and_13_entries(
        cat: Any, django_assert_max_num_queries: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    users = {who: getattr(cat.org, who) if who else None
             for who in ("police_specialist", "market_specialist", "reviewer", "citizen", None)}
    counts: dict[str | None, list[int]] = {who: [] for who in users}
    for n in (3, 10):  # 3, then 13 entries
        _many(cat, n)
        for who, user in users.items():
            client = crash_client(user)
            client.get(API + "/catalog/entries")  # the session is loaded once per client
            with CaptureQueriesContext(connection) as captured:
                response = client.get(API + "/catalog/entries", {"per_page": 100})
            assert response.status_code == 200 and response.json()["items"]
            counts[who].append(len(captured))
    assert all(first == second for first, second in counts.values()), counts
    client = crash_client(cat.org.reviewer)
    # session, user, roles; count, page; the access log (issue 9): the chain head on a first read, the row
    with django_assert_max_num_queries(7):
        assert len(client.get(API + "/catalog/entries", {"per_page": 100}).json()["items"]) == 13


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"per_page": 100})
    assert response.status_code == 200, response.content
    return len(captured)


def _add_submitted(cat: Any, n: int) -> None:
    for i in range(n):
        user = cat.org.police_specialist if i % 2 else cat.org.market_specialist
        do_submit(user, cat.draft(user, name=f"待审{i}"))


def _add_feedback(cat: Any, n: int) -> None:
    entry = cat.published(name=f"反馈对象{Feedback.objects.count()}")
    for i in range(n):
        raiser = cat.org.market_specialist if i % 2 else cat.org.market_admin
        do_raise_feedback(raiser, entry, kind="doubt", description=f"疑问{i}")


def _add_projects(cat: Any, n: int) -> None:
    from govshare.catalog.actions import do_create_project

    start = Project.objects.count()
    for i in range(start, start + n):
        do_create_project(cat.org.police_specialist, name=f"项目{i}", code=f"P-{i}")


def _add_notifications(cat: Any, n: int) -> None:
    for i in range(n):
        note = notify([cat.org.police_specialist], "test", f"消息{i}")[0]
        if i % 2:
            Notification.objects.filter(pk=note.pk).update(read_at=timezone.now())


def _add_snapshots(cat: Any, n: int) -> None:
    from govshare.catalog.actions import do_publish_snapshot

    for i in range(n):
        do_publish_snapshot(cat.org.centre_admin, cat.org.county, title=f"第{i}期")


@pytest.mark.parametrize(("url", "who", "add"), [
    ("/catalog/review-queue", "reviewer", _add_submitted),
    ("/catalog/feedback", "reviewer", _add_feedback),
    ("/catalog/feedback", "police_admin", _add_feedback),
    ("/catalog/projects", "police_admin", _add_projects),
    ("/catalog/snapshots", "police_admin", _add_snapshots),
    ("/me/notifications", "police_specialist", _add_notifications),
    ("/catalog/classifications", "citizen", lambda cat, n: None),
])
def test_list_endpoints_use_the_same_number_of_queries_for_3_and_13_rows(
        cat: Any, url: str, who: str, add: Callable[[Any, int], None]) -> None:
    counts = []
    for n in (3, 10):
        add(cat, n)
        counts.append(_queries(crash_client(getattr(cat.org, who)), API + url))
    assert counts[0] == counts[1] <= 8  # 7, and the access log's row (issue 9: one INSERT per recorded read)


def test_a_projects_entries_use_a_fixed_number_of_queries(cat: Any) -> None:
    from govshare.catalog.actions import do_attach_entry, do_create_project

    project = do_create_project(cat.org.police_specialist, name="项目", code="P-Q")
    counts = []
    for n in (3, 10):
        for _i in range(n):
            do_attach_entry(cat.org.police_specialist, cat.published(), project)
        counts.append(_queries(crash_client(cat.org.police_admin), API + "/catalog/projects/P-Q"))
    assert counts[0] == counts[1]


# ------------------------------------------------------------------ search (CAT-9)

@dataclass
class FakeHit:
    entry_id: int
    code: str
    name: str = "户籍人口"
    summary: str = "摘要"
    provider_code: str = "GA"
    provider_name: str = "龙南市公安局"
    classification: str = "301"
    share_type: str = "unconditional"
    open_attribute: str = "not_open"
    format_class: str = "database"
    update_cycle: str = "daily"
    domain: str = ""
    status: str = "published"
    published_at: dt.datetime | None = None
    score: float = 1.5


@dataclass
class FakeFacet:
    value: str
    label: str
    count: int


@dataclass
class FakeResult:
    total: int
    page: int
    per_page: int
    hits: list[FakeHit]
    facets: dict[str, list[FakeFacet]] = field(default_factory=dict)
    query_terms: list[str] = field(default_factory=list)


@pytest.fixture
def fake_engine(monkeypatch: Any) -> list[dict[str, Any]]:
    """Replace govshare.catalog.search.search by a recorder (the real engine is tested by its own suite)."""
    calls: list[dict[str, Any]] = []

    def fake_search(user: Any, q: str = "", *, filters: Any = None, sort: str = "relevance", page: int = 1,
                    per_page: int = 20) -> FakeResult:
        calls.append({"user": user, "q": q, "filters": filters, "sort": sort, "page": page, "per_page": per_page})
        return FakeResult(total=41, page=page, per_page=per_page,
                          hits=[FakeHit(entry_id=1, code="301/000001", published_at=timezone.now())],
                          facets={"provider": [FakeFacet("GA", "龙南市公安局", 41)]}, query_terms=["人口"])

    if HAS_SEARCH:
        import govshare.catalog.search as real

        monkeypatch.setattr(real, "search", fake_search)
    else:
        module = types.ModuleType("govshare.catalog.search")
        module.search = fake_search  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "govshare.catalog.search", module)
        import govshare.catalog

        monkeypatch.setattr(govshare.catalog, "search", module, raising=False)
    return calls


def test_search_passes_repeated_filters_as_or_lists_and_renders_the_result(cat: Any, fake_engine: Any) -> None:
    url = (API + "/catalog/search?q=人口&provider=GA&provider=SJ&share_type=unconditional&sort=date"
           "&page=2&per_page=5")
    response = crash_client(cat.org.market_specialist).get(url)
    assert response.status_code == 200, response.content
    sent = fake_engine[0]
    assert sent["q"] == "人口" and sent["sort"] == "date" and (sent["page"], sent["per_page"]) == (2, 5)
    assert sent["filters"] == {"provider": ["GA", "SJ"], "share_type": ["unconditional"]}
    assert sent["user"].pk == cat.org.market_specialist.pk
    data = response.json()
    assert data["total"] == 41 and (data["page"], data["per_page"]) == (2, 5)
    assert data["facets"] == {"provider": [{"value": "GA", "label": "龙南市公安局", "count": 41}]}
    assert data["results"][0]["code"] == "301/000001" and data["results"][0]["provider_code"] == "GA"
    assert data["query_terms"] == ["人口"] and data["pages"] == 9 and data["expansions"] == {}
    assert "score" not in data["results"][0]  # scores count hidden entries too (SEC-2): the order is the rank


def test_search_without_filters_passes_none_and_the_anonymous_user(db: Any, fake_engine: Any) -> None:
    assert crash_client().get(API + "/catalog/search").status_code == 200
    assert fake_engine[0]["filters"] is None and fake_engine[0]["q"] == ""
    assert not fake_engine[0]["user"].is_authenticated


@pytest.mark.parametrize("params", [{"sort": "random"}, {"per_page": 500}, {"page": 0}, {"q": "词" * 201}])
def test_bad_search_parameters_are_a_422_naming_them(db: Any, fake_engine: Any, params: dict[str, Any]) -> None:
    response = crash_client().get(API + "/catalog/search", params)
    assert response.status_code == 422 and error(response)["field"] == next(iter(params))
    assert not fake_engine


@pytest.mark.skipif(not HAS_SEARCH, reason="govshare.catalog.search is written in parallel")
def test_search_finds_entries_with_facets_and_the_public_sees_only_the_open_catalog(cat: Any) -> None:
    from govshare.catalog import search as engine

    cat.published(name="户籍人口基本信息")
    cat.published(name="人口流动统计", open_attribute="open", domain="统计")
    cat.draft(name="人口草稿")
    engine.rebuild()
    staff = call(cat.org.market_specialist, "get", "/search", q="人口").json()
    assert staff["total"] == 2 and "provider" in staff["facets"]
    public = call(None, "get", "/search", q="人口").json()
    assert public["total"] == 1 and public["results"][0]["name"] == "人口流动统计"
    owner = call(cat.org.police_specialist, "get", "/search", q="人口").json()
    assert owner["total"] == 3
    do_set_synonym(cat.org.centre_admin, "户口", ["户籍"])
    expanded = call(cat.org.market_specialist, "get", "/search", q="户口").json()
    assert expanded["total"] == 2 and expanded["expansions"] == {"户口": ["户籍"]}
    assert call(cat.org.market_specialist, "get", "/search", q="人口", open_attribute="open").json()["total"] == 1
    assert call(cat.org.market_specialist, "get", "/search", share_type="bogus").json()["total"] == 0
    deep = call(cat.org.market_specialist, "get", "/search", page=10_000, per_page=100)
    assert deep.status_code == 200 and deep.json()["results"] == []


# ------------------------------------------------------------------ classifications

def test_the_classification_tree_is_public_flat_with_parent_codes(cat: Any) -> None:
    data = call(None, "get", "/classifications").json()
    police = next(c for c in data if c["code"] == "301")
    assert police == {"code": "301", "name": "公安局信息资源", "level": 2, "kind": "department", "parent": "3",
                      "department": "GA", "description": "", "is_active": True}
    assert {"1", "2", "3"} <= {c["code"] for c in data if c["parent"] is None}


def test_the_classification_tree_nests(cat: Any) -> None:
    roots = call(None, "get", "/classifications/tree").json()
    three = next(r for r in roots if r["code"] == "3")
    assert {c["code"] for c in three["children"]} >= {"301", "302", "399"}


def test_the_centre_admin_adds_and_renames_a_classification(cat: Any) -> None:
    admin = cat.org.centre_admin
    created = call(admin, "post", "/classifications", {"code": "301001", "name": "户籍管理", "parent": "301"})
    assert created.status_code == 201 and created.json()["level"] == 3 and created.json()["parent"] == "301"
    renamed = call(admin, "patch", "/classifications/301001", {"name": "户籍与人口管理"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "户籍与人口管理"
    off = call(admin, "patch", "/classifications/301001", {"is_active": False})
    assert off.json()["is_active"] is False
    assert "301001" not in {c["code"] for c in call(admin, "get", "/classifications").json()}
    assert "301001" in {c["code"] for c in call(admin, "get", "/classifications", include_inactive="true").json()}
    assert call(admin, "get", "/classifications/301001").json()["name"] == "户籍与人口管理"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"code": "301001", "name": "x", "parent": "388"}, 400, "parent"),
    ({"code": "30201", "name": "x", "parent": "302"}, 400, "code"),
    ({"code": "301", "name": "重复", "parent": "3"}, 409, "code"),
    ({"code": "304", "name": "无部门", "parent": "3"}, 400, "department"),
    ({"code": "304", "name": "x", "parent": "3", "department": "NOPE"}, 400, "department"),
    ({"code": "301001", "name": "", "parent": "301"}, 400, "name"),
    ({"code": "301001", "name": "名" * 101, "parent": "301"}, 422, "name"),
])
def test_bad_classifications_name_the_field(cat: Any, body: dict[str, Any], status: int, field: str) -> None:
    response = call(cat.org.centre_admin, "post", "/classifications", body)
    assert response.status_code == status and error(response)["field"] == field
    assert_bilingual(error(response))


def test_deactivating_a_classification_with_active_children_is_a_409(cat: Any) -> None:
    response = call(cat.org.centre_admin, "patch", "/classifications/3", {"is_active": False})
    assert response.status_code == 409 and error(response)["code"] == "has_children"


@pytest.mark.parametrize("who", ["reviewer", "police_admin"])
def test_only_the_centre_admin_edits_the_tree(cat: Any, who: str) -> None:
    user = getattr(cat.org, who)
    assert call(user, "post", "/classifications", {"code": "305", "name": "x", "parent": "3"}).status_code == 403
    assert call(user, "patch", "/classifications/301", {"name": "x"}).status_code == 403
    assert Classification.objects.get(code="301").name == "公安局信息资源"


def test_an_unknown_classification_is_a_404(cat: Any) -> None:
    assert call(cat.org.centre_admin, "patch", "/classifications/388", {"name": "x"}).status_code == 404
    assert call(None, "get", "/classifications/388").status_code == 404


# ------------------------------------------------------------------ synonyms

def test_the_centre_admin_maintains_synonyms(cat: Any) -> None:
    admin = cat.org.centre_admin
    put = call(admin, "put", "/synonyms/网格员", {"expansions": ["网格化管理员", "网格管理员"]})
    assert put.status_code == 200 and put.json()["expansions"] == ["网格化管理员", "网格管理员"]
    again = call(admin, "put", "/synonyms/网格员", {"expansions": ["网格化管理员"]})
    assert again.json()["expansions"] == ["网格化管理员"]
    assert call(cat.org.police_specialist, "get", "/synonyms/网格员").json()["term"] == "网格员"
    terms = [s["term"] for s in call(cat.org.police_specialist, "get", "/synonyms").json()]
    assert "网格员" in terms and terms == sorted(terms)
    assert call(admin, "delete", "/synonyms/网格员").status_code == 204
    assert not Synonym.objects.filter(term="网格员").exists()


def test_bad_synonyms_name_the_field(cat: Any) -> None:
    admin = cat.org.centre_admin
    empty = call(admin, "put", "/synonyms/医保", {"expansions": ["医保", " "]})
    assert empty.status_code == 400 and error(empty)["field"] == "expansions"
    too_many = call(admin, "put", "/synonyms/医保", {"expansions": [f"词{i}" for i in range(11)]})
    assert too_many.status_code == 400 and error(too_many)["code"] == "too_many"
    missing = call(admin, "delete", "/synonyms/不存在")
    assert missing.status_code == 400 and error(missing)["field"] == "term"
    assert call(admin, "put", "/synonyms/医保", {}).status_code == 422


def test_synonyms_are_edited_by_the_centre_admin_and_read_inside_government(cat: Any) -> None:
    do_set_synonym(cat.org.centre_admin, "公积金", ["住房公积金"])
    assert call(cat.org.police_admin, "put", "/synonyms/公积金", {"expansions": ["x"]}).status_code == 403
    assert call(cat.org.reviewer, "delete", "/synonyms/公积金").status_code == 403
    assert call(cat.org.citizen, "get", "/synonyms/公积金").status_code == 404
    assert call(cat.org.citizen, "get", "/synonyms").json() == []
    assert call(None, "get", "/synonyms").status_code == 401
    assert Synonym.objects.get(term="公积金").expansions == ["住房公积金"]


# ------------------------------------------------------------------ update tasks (CAT-5)

def _task_body(**overrides: Any) -> dict[str, Any]:
    body = {"department": "GA", "reason": "law", "title": "《户口登记条例》修订",
            "change_date": timezone.localdate().isoformat(), "description": "请更新户籍类目录"}
    body.update(overrides)
    return body


def test_the_centre_opens_an_update_task_with_a_working_day_deadline(cat: Any) -> None:
    response = call(cat.org.reviewer, "post", "/update-tasks", _task_body())
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["department"]["code"] == "GA" and data["status"] == "open" and data["overdue"] is False
    assert data["remaining_working_days"] == 15  # the profile's catalog_update_after_change (N51-§8)
    assert dt.date.fromisoformat(data["due_date"]) > timezone.localdate()
    assert cat.org.police_specialist.notifications.filter(kind="catalog.update_task").exists()


@pytest.mark.parametrize(("override", "field", "status"), [
    ({"department": "NOPE"}, "department", 400), ({"reason": "whim"}, "reason", 422),  # the schema states the reasons
    ({"title": ""}, "title", 400), ({"department": "CENTRE"}, "department", 400),
    ({"change_date": "2099-01-01"}, "change_date", 400)])
def test_bad_update_tasks_are_refused_naming_the_field(cat: Any, override: dict[str, Any], field: str,
                                                      status: int) -> None:
    response = call(cat.org.reviewer, "post", "/update-tasks", _task_body(**override))
    assert response.status_code == status and error(response)["field"] == field
    assert not UpdateTask.objects.exists()


def test_a_malformed_change_date_is_a_422(cat: Any) -> None:
    response = call(cat.org.reviewer, "post", "/update-tasks", _task_body(change_date="2026-02-30"))
    assert response.status_code == 422 and error(response)["field"] == "change_date"


def test_a_department_cannot_open_update_tasks(cat: Any) -> None:
    assert call(cat.org.police_admin, "post", "/update-tasks", _task_body()).status_code == 403


def test_update_tasks_are_listed_with_remaining_days_and_overdue_flags(cat: Any) -> None:
    org = cat.org
    late = do_open_update_task(org.reviewer, department=org.police, reason="law", title="旧的变化",
                               change_date=timezone.localdate() - dt.timedelta(days=60))
    fresh = do_open_update_task(org.reviewer, department=org.police, reason="function", title="新的变化",
                                change_date=timezone.localdate())
    do_open_update_task(org.reviewer, department=org.market, reason="other", title="市场监管变化",
                        change_date=timezone.localdate())
    tasks = call(org.police_specialist, "get", "/update-tasks").json()
    assert tasks["total"] == 2
    by_id = {t["id"]: t for t in tasks["items"]}
    assert by_id[late.pk]["overdue"] is True and by_id[late.pk]["remaining_working_days"] < 0
    assert by_id[fresh.pk]["overdue"] is False and by_id[fresh.pk]["remaining_working_days"] == 15
    overdue = call(org.reviewer, "get", "/update-tasks", overdue="true").json()
    assert [t["id"] for t in overdue["items"]] == [late.pk]
    assert call(org.reviewer, "get", "/update-tasks", department="SJ").json()["total"] == 1
    assert call(org.reviewer, "get", f"/update-tasks/{fresh.pk}").json()["title"] == "新的变化"


def test_the_department_completes_and_the_centre_cancels_tasks(cat: Any) -> None:
    org = cat.org
    one = do_open_update_task(org.reviewer, department=org.police, reason="law", title="一",
                              change_date=timezone.localdate())
    two = do_open_update_task(org.reviewer, department=org.police, reason="law", title="二",
                              change_date=timezone.localdate())
    missing_note = call(org.police_specialist, "post", f"/update-tasks/{one.pk}/complete", {"note": ""})
    assert missing_note.status_code == 400 and error(missing_note)["field"] == "note"
    done = call(org.police_specialist, "post", f"/update-tasks/{one.pk}/complete", {"note": "已更新 301/000001"})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert done.json()["remaining_working_days"] is None
    again = call(org.police_specialist, "post", f"/update-tasks/{one.pk}/complete", {"note": "再次"})
    assert again.status_code == 409 and error(again)["code"] == "task_closed"
    assert call(org.police_specialist, "post", f"/update-tasks/{two.pk}/cancel", {"reason": "x"}).status_code == 403
    cancelled = call(org.reviewer, "post", f"/update-tasks/{two.pk}/cancel", {"reason": "重复"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_another_departments_task_is_a_404(cat: Any) -> None:
    task = do_open_update_task(cat.org.reviewer, department=cat.org.police, reason="law", title="一",
                               change_date=timezone.localdate())
    assert call(cat.org.market_admin, "get", f"/update-tasks/{task.pk}").status_code == 404
    assert call(cat.org.market_admin, "post", f"/update-tasks/{task.pk}/complete", {"note": "x"}).status_code == 404


def test_the_update_task_list_uses_the_same_number_of_queries_for_3_and_13_tasks(cat: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for n in (3, 10):
        for i in range(n):
            do_open_update_task(cat.org.reviewer, department=cat.org.police, reason="law", title=f"变化{i}",
                                change_date=timezone.localdate() - dt.timedelta(days=40 * (i % 3)))
        client = crash_client(cat.org.police_specialist)
        client.get(API + "/catalog/update-tasks")
        with CaptureQueriesContext(connection) as captured:
            assert client.get(API + "/catalog/update-tasks", {"per_page": 100}).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


# ------------------------------------------------------------------ projects (CAT-8)

def test_a_project_cannot_move_on_without_a_published_entry_and_can_with_one(cat: Any) -> None:
    spec = cat.org.police_specialist
    created = call(spec, "post", "/projects", {"name": "智慧警务平台", "code": "GA-2026-01"})
    assert created.status_code == 201 and created.json()["stage"] == "application"
    assert created.json()["department"]["code"] == "GA"
    blocked = call(spec, "post", "/projects/GA-2026-01/stage", {"stage": "construction"})
    assert blocked.status_code == 409 and error(blocked)["code"] == "project_needs_catalog"
    assert_bilingual(error(blocked))
    entry = cat.published()
    attached = call(spec, "post", f"/entries/{entry.pk}/project", {"project": "GA-2026-01"})
    assert attached.status_code == 200 and attached.json()["project"] == "GA-2026-01"
    moved = call(spec, "post", "/projects/GA-2026-01/stage", {"stage": "construction"})
    assert moved.status_code == 200 and moved.json()["approved_at"] is not None
    skipped = call(spec, "post", "/projects/GA-2026-01/stage", {"stage": "application"})
    assert skipped.status_code == 409 and error(skipped)["code"] == "invalid_transition"
    detail = call(spec, "get", "/projects/GA-2026-01").json()
    assert [e["code"] for e in detail["entries"]] == [entry.code]
    assert [p["code"] for p in call(spec, "get", "/projects").json()] == ["GA-2026-01"]
    detached = call(spec, "post", f"/entries/{entry.pk}/project", {"project": None})
    assert detached.json()["project"] is None


def test_an_entry_created_under_a_project_belongs_to_it(cat: Any) -> None:
    spec = cat.org.police_specialist
    call(spec, "post", "/projects", {"name": "项目", "code": "P1"})
    response = call(spec, "post", "/entries", content(project="P1"))
    assert response.status_code == 201 and response.json()["project"] == "P1"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"name": "x", "code": "有空格 的代码"}, 400, "code"),
    ({"name": "", "code": "P2"}, 400, "name"),
    ({"name": "x", "code": "P2", "department": "NOPE"}, 400, "department"),
])
def test_bad_projects_name_the_field(cat: Any, body: dict[str, Any], status: int, field: str) -> None:
    response = call(cat.org.police_specialist, "post", "/projects", body)
    assert response.status_code == status and error(response)["field"] == field


def test_projects_are_seen_by_their_department_only(cat: Any) -> None:
    call(cat.org.police_specialist, "post", "/projects", {"name": "x", "code": "P3"})
    assert call(cat.org.market_specialist, "get", "/projects/P3").status_code == 404
    assert call(cat.org.market_specialist, "get", "/projects").json() == []
    assert call(cat.org.market_admin, "post", "/projects/P3/stage", {"stage": "construction"}).status_code == 404
    other = call(cat.org.market_specialist, "post", "/projects", {"name": "x", "code": "P4", "department": "GA"})
    assert other.status_code == 403 and not Project.objects.filter(code="P4").exists()


def test_an_entry_cannot_join_another_departments_project(cat: Any) -> None:
    call(cat.org.market_specialist, "post", "/projects", {"name": "市场项目", "code": "SJ-1"})
    entry = cat.published()
    response = call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/project", {"project": "SJ-1"})
    assert response.status_code == 400 and error(response)["field"] == "project"


# ------------------------------------------------------------------ feedback (CAT-10)

def test_feedback_is_raised_answered_and_closed(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    raised = call(org.market_specialist, "post", f"/entries/{entry.pk}/feedback",
                  {"kind": "error", "description": "出生日期应为日期型", "field_name": "出生日期"})
    assert raised.status_code == 201, raised.content
    fb = raised.json()
    assert fb["status"] == "open" and fb["department"]["code"] == "SJ" and fb["version_number"] == 1
    listed = call(org.police_specialist, "get", f"/entries/{entry.pk}/feedback").json()
    assert [f["id"] for f in listed] == [fb["id"]]
    early = call(org.police_specialist, "post", f"/feedback/{fb['id']}/close")
    assert early.status_code == 409 and error(early)["code"] == "answer_first"
    answered = call(org.police_specialist, "post", f"/feedback/{fb['id']}/answer", {"answer": "已核实并修正"})
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert answered.json()["answered_at"] is not None
    twice = call(org.police_admin, "post", f"/feedback/{fb['id']}/answer", {"answer": "再答"})
    assert twice.status_code == 409
    closed = call(org.police_specialist, "post", f"/feedback/{fb['id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_the_feedback_box_separates_my_entries_and_my_reports(cat: Any) -> None:
    org = cat.org
    police_entry = cat.published()
    market_entry = cat.published(org.market_specialist, name="市场主体登记信息")
    on_mine = do_raise_feedback(org.market_specialist, police_entry, kind="doubt", description="更新周期？")
    by_me = do_raise_feedback(org.police_specialist, market_entry, kind="error", description="字段缺失")
    provider = call(org.police_admin, "get", "/feedback", role="provider").json()
    raiser = call(org.police_specialist, "get", "/feedback", role="raiser").json()
    assert [f["id"] for f in provider["items"]] == [on_mine.pk]
    assert [f["id"] for f in raiser["items"]] == [by_me.pk]
    assert call(org.police_admin, "get", "/feedback", role="raiser").json()["total"] == 0
    assert call(org.reviewer, "get", "/feedback").json()["total"] == 2
    assert call(org.police_admin, "get", "/feedback", status="closed").json()["total"] == 0


@pytest.mark.parametrize(("body", "field", "status"), [({"kind": "rant", "description": "x"}, "kind", 422),
                                                       ({"kind": "doubt", "description": " "}, "description", 400)])
def test_bad_feedback_names_the_field(cat: Any, body: dict[str, Any], field: str, status: int) -> None:
    entry = cat.published()
    response = call(cat.org.market_specialist, "post", f"/entries/{entry.pk}/feedback", body)
    assert response.status_code == status and error(response)["field"] == field
    assert not Feedback.objects.exists()


def test_feedback_access(cat: Any) -> None:
    org = cat.org
    entry = cat.published(open_attribute="open", domain="交通")
    fb = do_raise_feedback(org.market_specialist, entry, kind="doubt", description="x")
    body = {"kind": "doubt", "description": "为什么"}
    assert call(org.citizen, "post", f"/entries/{entry.pk}/feedback", body).status_code == 403
    assert call(org.auditor, "post", f"/entries/{entry.pk}/feedback", body).status_code == 403
    # the raiser's department sees its report but does not answer it; the public does not see it
    assert call(org.market_admin, "get", "/feedback").json()["total"] == 1
    assert call(org.market_admin, "post", f"/feedback/{fb.pk}/answer", {"answer": "x"}).status_code == 404
    assert call(org.citizen, "post", f"/feedback/{fb.pk}/answer", {"answer": "x"}).status_code == 404
    draft = cat.draft(name="草稿")
    assert call(org.market_specialist, "post", f"/entries/{draft.pk}/feedback", body).status_code == 404
    assert call(org.police_admin, "post", f"/entries/{draft.pk}/feedback", body).status_code == 409


# ------------------------------------------------------------------ snapshots (CAT-7)

def test_the_centre_publishes_a_downloadable_jurisdiction_snapshot(cat: Any) -> None:
    org = cat.org
    cat.published()
    cat.published(org.market_specialist, name="市场主体登记信息")
    cat.draft(name="草稿不进快照")
    response = call(org.centre_admin, "post", "/snapshots", {"jurisdiction": "360783", "title": "2026 年第一期"})
    assert response.status_code == 201, response.content
    meta = response.json()
    assert (meta["number"], meta["entry_count"], meta["department_count"]) == (1, 2, 2)
    listed = call(org.police_specialist, "get", "/snapshots").json()
    assert [s["id"] for s in listed] == [meta["id"]] and "content" not in listed[0]
    detail = call(org.police_specialist, "get", f"/snapshots/{meta['id']}").json()
    assert len(detail["content"]["entries"]) == 2 and detail["sha256"] == meta["sha256"]
    download = crash_client(org.auditor).get(f"{API}/catalog/snapshots/{meta['id']}/download")
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert hashlib.sha256(download.content).hexdigest() == meta["sha256"] == download["X-Content-SHA256"]
    second = call(org.centre_admin, "post", "/snapshots", {"jurisdiction": "360783", "title": "第二期"})
    assert second.json()["number"] == 2


def test_bad_snapshot_requests(cat: Any) -> None:
    org = cat.org
    unknown = call(org.centre_admin, "post", "/snapshots", {"jurisdiction": "999999", "title": "x"})
    assert unknown.status_code == 400 and error(unknown)["field"] == "jurisdiction"
    untitled = call(org.centre_admin, "post", "/snapshots", {"jurisdiction": "360783", "title": ""})
    assert untitled.status_code == 400 and error(untitled)["field"] == "title"
    assert call(org.reviewer, "post", "/snapshots", {"jurisdiction": "360783", "title": "x"}).status_code == 403
    assert not CatalogSnapshot.objects.exists()
    assert call(org.citizen, "get", "/snapshots").json() == []
    assert call(org.police_admin, "get", "/snapshots/999").status_code == 404


# ------------------------------------------------------------------ notifications inbox

def test_the_inbox_lists_unread_first_and_marks_read(cat: Any) -> None:
    org = cat.org
    old = notify([org.police_specialist], "test.old", "旧消息")[0]
    new = notify([org.police_specialist], "test.new", "新消息")[0]
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    notify([org.market_specialist], "test.other", "别人的消息")
    read = call(org.police_specialist, "post", f"/me/notifications/{old.pk}/read")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    newer_read = notify([org.police_specialist], "test.newest", "最新但已读")[0]
    Notification.objects.filter(pk=newer_read.pk).update(read_at=timezone.now())
    inbox = call(org.police_specialist, "get", "/me/notifications").json()
    assert inbox["total"] == 3 and inbox["unread"] == 1
    assert [n["id"] for n in inbox["items"]] == [new.pk, newer_read.pk, old.pk]
    unread = call(org.police_specialist, "get", "/me/notifications", unread="true").json()
    assert [n["id"] for n in unread["items"]] == [new.pk]
    assert call(org.police_specialist, "post", "/me/notifications/read-all").json() == {"marked": 1}
    assert call(org.police_specialist, "get", "/me/notifications").json()["unread"] == 0


def test_another_users_notification_is_a_404(cat: Any) -> None:
    note = notify([cat.org.market_specialist], "test", "私信")[0]
    assert call(cat.org.police_specialist, "post", f"/me/notifications/{note.pk}/read").status_code == 404
    assert call(cat.org.centre_admin, "post", f"/me/notifications/{note.pk}/read").status_code == 404
    assert Notification.objects.get(pk=note.pk).read_at is None
    assert call(None, "get", "/me/notifications").status_code == 401


def test_catalog_actions_fill_the_inbox(cat: Any) -> None:
    entry = cat.draft()
    call(cat.org.police_specialist, "post", f"/entries/{entry.pk}/submit")
    inbox = call(cat.org.reviewer, "get", "/me/notifications").json()
    assert inbox["items"][0]["kind"] == "catalog.review_requested" and entry.code in inbox["items"][0]["subject"]


# ------------------------------------------------------------------ tokens, anonymous writes, OpenAPI

def test_a_read_only_token_reads_the_catalog_but_cannot_write(cat: Any) -> None:
    entry = cat.published()
    read = do_create_token(cat.org.police_specialist, name="reader", scope="read")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {read.secret}")
    assert call(None, "get", f"/entries/{entry.pk}", client=client).json()["subscriber_count"] == 0
    refused = call(None, "post", "/entries", content(), client=client)
    assert refused.status_code == 403 and error(refused)["code"] == "token_read_only"
    write = do_create_token(cat.org.police_specialist, name="writer", scope="write")
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {write.secret}")
    assert call(None, "post", "/entries", content(), client=writer).status_code == 201


def test_a_bad_token_is_refused_even_where_the_public_may_read(cat: Any) -> None:
    client = Client(HTTP_AUTHORIZATION="Bearer gs_nonsense_token")
    response = call(None, "get", "/entries", client=client)
    assert response.status_code == 401 and error(response)["code"].startswith("token_")


@pytest.mark.parametrize(("method", "path"), [("post", "/entries"), ("post", "/entries/1/submit"),
                                              ("put", "/synonyms/社保"), ("post", "/classifications"),
                                              ("get", "/review-queue"), ("get", "/update-tasks"),
                                              ("get", "/feedback"), ("get", "/projects"), ("get", "/snapshots")])
def test_anonymous_visitors_must_log_in_outside_the_public_catalog(cat: Any, method: str, path: str) -> None:
    response = call(None, method, path, {})
    assert response.status_code == 401 and error(response)["code"] == "auth_required"


def test_openapi_still_builds_and_lists_the_catalog_paths(db: Any) -> None:
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/catalog/search", "/api/v1/catalog/entries", "/api/v1/catalog/entries/{ref}",
                 "/api/v1/catalog/entries/{ref}/draft", "/api/v1/catalog/entries/{ref}/versions/{number}/diff",
                 "/api/v1/catalog/review-queue", "/api/v1/catalog/classifications", "/api/v1/catalog/synonyms/{term}",
                 "/api/v1/catalog/update-tasks", "/api/v1/catalog/projects/{code}/stage",
                 "/api/v1/catalog/feedback/{feedback_id}/answer", "/api/v1/catalog/snapshots/{snapshot_id}",
                 "/api/v1/me/notifications", "/api/v1/me/notifications/{notification_id}/read"):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/catalog/entries"])
    assert {"post", "delete"} <= set(paths["/api/v1/catalog/entries/{ref}/subscribe"])
    assert paths["/api/v1/catalog/search"]["get"]["tags"] == ["catalog"]


def test_a_malformed_json_body_gets_a_bilingual_400(org: Any) -> None:
    client = Client()
    client.force_login(org.police_specialist)
    response = client.post("/api/v1/catalog/entries", "{not json", content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and error["message_zh"] and error["message_en"]
