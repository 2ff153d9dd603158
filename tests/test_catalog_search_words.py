"""The platform's words in search (CAT-9, issue 8): jurisdiction and department names and the
centre's word list keep local names whole; renamed classifications are reindexed; the word list
is edited by the centre administrator through an action (permission first, audit, reindex job),
on a web page and in the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from govshare.catalog import search
from govshare.catalog.actions import do_delete_search_word, do_set_search_word, do_update_classification
from govshare.catalog.models import Classification, SearchWord
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Forbidden, ValidationFailed
from govshare.core.models import AuditEvent, Job
from tests.conftest import API, crash_client


def found(user: Any, q: str) -> set[int]:
    return {h.entry_id for h in search.search(user, q, per_page=100).hits}


# ------------------------------------------------------------------ segmentation with the platform's names

def test_longnan_finds_entries_that_name_longnan_shi(cat: Any) -> None:
    org = cat.org
    entry = cat.published(org.police_specialist, name="出入境证件办理信息", summary="龙南市居民的出入境证件。",
                          keywords=[])
    other = cat.published(org.market_specialist, name="食品经营许可信息", summary="食品经营许可。", keywords=[])
    search.rebuild()
    # the provider of both is 龙南市…局; the summary names 龙南市 too
    assert {entry.pk, other.pk} <= found(org.reviewer, "龙南")
    assert found(org.reviewer, "龙南 出入境") == {entry.pk}
    assert found(org.reviewer, "龙南市公安局") >= {entry.pk}
    assert other.pk not in found(org.reviewer, "龙南市公安局")


def test_a_word_of_the_list_is_kept_whole_after_the_reindex_it_starts(
        cat: Any, django_capture_on_commit_callbacks: Any) -> None:
    org = cat.org
    entry = cat.published(org.police_specialist, name="杨村镇流动人口信息", summary="杨村镇的流动人口。", keywords=[])
    search.rebuild()
    assert found(org.reviewer, "杨村") == set()  # jieba: 杨 / 村镇
    with django_capture_on_commit_callbacks(execute=True):
        do_set_search_word(org.centre_admin, "杨村镇", "乡镇名")
    job = Job.objects.get(kind="catalog.reindex")
    assert job.status == Job.Status.SUCCEEDED  # the job ran (tasks run in-process in the tests)
    assert search.parse_query("杨村镇流动人口", dictionary=search.load_dictionary()).words == ["杨村镇", "流动人口"]
    assert found(org.reviewer, "杨村") == {entry.pk}  # the stem of the place name
    assert found(org.reviewer, "杨村镇") == {entry.pk}


# ------------------------------------------------------------------ classification names

def test_renaming_a_classification_reindexes_the_entries_filed_under_it(
        cat: Any, django_capture_on_commit_callbacks: Any) -> None:
    org = cat.org
    with django_capture_on_commit_callbacks(execute=True):
        entry = cat.published(org.police_specialist, name="户籍人口基本信息")
    assert found(org.reviewer, "治安管理") == set()
    node = Classification.objects.get(code="301")
    with django_capture_on_commit_callbacks(execute=True):
        do_update_classification(org.centre_admin, node, name="治安管理信息资源")
    assert found(org.reviewer, "治安管理") == {entry.pk}


# ------------------------------------------------------------------ the word list: actions

def test_the_centre_admin_keeps_the_word_list_and_each_change_is_audited_with_its_reindex_job(org: Any) -> None:
    word = do_set_search_word(org.centre_admin, " 桃江 ", "河流")
    assert (word.word, word.note, word.updated_by) == ("桃江", "河流", org.centre_admin)
    event = AuditEvent.objects.filter(code=AuditCode.SEARCH_WORDS_CHANGED).latest("pk")
    assert event.detail["job"] == str(Job.objects.filter(kind="catalog.reindex").latest("created_at").pk)
    jobs = Job.objects.filter(kind="catalog.reindex").count()
    do_set_search_word(org.centre_admin, "桃江", "赣江支流")  # a new note only: no reindex
    assert Job.objects.filter(kind="catalog.reindex").count() == jobs
    assert SearchWord.objects.get(word="桃江").note == "赣江支流"
    do_delete_search_word(org.centre_admin, "桃江")
    assert not SearchWord.objects.filter(word="桃江").exists()
    assert Job.objects.filter(kind="catalog.reindex").count() == jobs + 1
    assert AuditEvent.objects.filter(code=AuditCode.SEARCH_WORDS_CHANGED).count() == 3


@pytest.mark.parametrize("who", ["reviewer", "police_admin", "police_specialist", "auditor", "citizen"])
def test_only_the_centre_admin_changes_the_word_list_and_a_refusal_writes_nothing(org: Any, who: str) -> None:
    with pytest.raises(Forbidden):
        do_set_search_word(getattr(org, who), "桃江")
    assert not SearchWord.objects.filter(word="桃江").exists()
    assert not Job.objects.filter(kind="catalog.reindex").exists()


@pytest.mark.parametrize("bad,code", [("", "required"), ("龙", "too_short"), ("龙 南", "invalid_word"),
                                      ("桃江!", "invalid_word"), ("词" * 41, "too_long")])
def test_a_bad_word_is_refused_naming_the_field(org: Any, bad: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        do_set_search_word(org.centre_admin, bad)
    assert (err.value.code, err.value.field) == (code, "word")


def test_full_width_and_upper_case_words_are_stored_as_search_sees_them(org: Any) -> None:
    assert do_set_search_word(org.centre_admin, "ＣＭＡ认证").word == "cma认证"
    with pytest.raises(ValidationFailed) as err:
        do_delete_search_word(org.centre_admin, "不存在")
    assert err.value.code == "unknown_word"


# ------------------------------------------------------------------ the word list: page and API

def test_the_word_list_page_adds_and_deletes_for_the_admin_and_is_read_only_for_others(
        org: Any, client_for: Any, settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"
    page = reverse("catalog:search_words")
    admin = client_for(org.centre_admin)
    response = admin.post(page, {"word": "桃江", "note": "河流"})
    assert response.status_code == 302
    word = SearchWord.objects.get(word="桃江")
    assert "桃江" in admin.get(page).content.decode()
    bad = admin.post(page, {"word": "龙", "note": ""})
    assert bad.status_code == 400 and "at least two characters" in bad.content.decode()
    reader = client_for(org.police_admin)
    shown = reader.get(page)
    assert shown.status_code == 200 and "桃江" in shown.content.decode()
    assert reverse("catalog:search_word_delete", args=[word.pk]) not in shown.content.decode()
    assert reader.post(page, {"word": "渡江"}).status_code == 403
    assert reader.post(reverse("catalog:search_word_delete", args=[word.pk])).status_code == 404
    assert client_for(org.citizen).get(page).status_code == 403
    assert admin.post(reverse("catalog:search_word_delete", args=[word.pk])).status_code == 302
    assert not SearchWord.objects.filter(word="桃江").exists()


def test_the_api_lists_sets_and_deletes_words(org: Any) -> None:
    def call(user: Any, method: str, path: str, body: Any = None) -> Any:
        client: Client = crash_client(user)
        url = f"{API}/catalog{path}"
        if method == "get":
            return client.get(url)
        return getattr(client, method)(url, body or {}, content_type="application/json")

    put = call(org.centre_admin, "put", "/search-words/桃江", {"note": "河流"})
    assert put.status_code == 200 and put.json()["word"] == "桃江"
    listed = [w["word"] for w in call(org.police_specialist, "get", "/search-words").json()]
    assert "桃江" in listed and "公租房" in listed  # (公租房: one of the shipped words)
    assert call(org.police_admin, "put", "/search-words/渡江", {}).status_code == 403
    assert call(org.centre_admin, "put", "/search-words/龙", {}).status_code == 400
    assert call(org.citizen, "get", "/search-words").json() == []
    assert call(org.centre_admin, "delete", "/search-words/桃江").status_code == 204
    assert call(org.centre_admin, "delete", "/search-words/桃江").status_code == 400
