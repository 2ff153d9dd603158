"""Catalog search (CAT-9): Chinese words, synonyms, facets, filters, sorts, visibility, index upkeep.

No timing assertions here: the figures are in docs/benchmarks.md (bench/catalog_search.py).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from govshare.catalog import search, search_engine
from govshare.catalog.actions import (
    do_approve,
    do_discard_draft,
    do_edit_entry,
    do_request_withdrawal,
    do_set_synonym,
    do_update_draft,
)
from govshare.catalog.enums import ShareType
from govshare.catalog.models import CatalogEntry, SearchIndexState
from govshare.core.errors import ValidationFailed
from govshare.core.permissions import restrict
from tests import db_states
from tests.catalog_helpers import content


class Catalog:
    """A small catalog across police (301), market (302) and the centre (399) in every state."""

    def __init__(self, cat: Any) -> None:
        org = self.org = cat.org
        self.cat = cat
        # police: published not-open, published open, a draft, a withdrawn entry
        self.household = cat.published(org.police_specialist)  # 户籍人口基本信息, not open
        self.licence = cat.published(
            org.police_specialist, name="机动车驾驶证信息", summary="本市机动车驾驶证的准驾车型、有效期限等信息。",
            keywords=["驾驶证", "交通"], open_attribute="open", domain="交通")
        self.floating = cat.draft(org.police_specialist, name="流动人口居住登记信息",
                                  summary="流动人口的居住地址、登记日期等信息。", keywords=["流动人口"])
        self.withdrawn = cat.published(org.police_specialist, name="治安案件查处信息",
                                       summary="治安案件的受理、查处结果。", keywords=["治安"])
        do_request_withdrawal(org.police_specialist, self.withdrawn, reason="职能调整")
        do_approve(org.reviewer, self.withdrawn)
        self.withdrawn.refresh_from_db()
        # market: conditional, open on application, a draft
        self.company = cat.published(
            org.market_specialist, name="企业登记基本信息",
            summary="市场主体登记的企业名称、统一社会信用代码、法定代表人、注册资本等信息。",
            keywords=["企业", "法人"], share_type="conditional", share_condition="用于监管",
            share_basis="《市场主体登记管理条例》", update_cycle="realtime")
        self.food = cat.published(
            org.market_specialist, name="食品经营许可信息", summary="食品经营许可证的许可项目和有效期。",
            keywords=["食品"], open_attribute="on_application", open_condition="实名申请", domain="企业登记监管",
            format_class="spreadsheet", update_cycle="monthly")
        self.market_draft = cat.draft(org.market_specialist, name="特种设备登记信息", summary="特种设备使用登记。",
                                      keywords=["特种设备"])
        # centre: social insurance (synonym target), open
        self.insurance = cat.published(
            org.centre_admin, classification="399", name="社会保险参保缴费信息",
            summary="参保人员的参保险种和缴费基数，按月汇总。", keywords=["参保"], open_attribute="open",
            domain="社保", update_cycle="monthly")
        self.all = [self.household, self.licence, self.floating, self.withdrawn, self.company, self.food,
                    self.market_draft, self.insurance]


#: the catalog's rows, built once per test process (:func:`tests.db_states.built_once`)
_BUILT: dict[Any, Any] = {}


@pytest.fixture
def catalog(cat: Any) -> Catalog:
    """The catalog, built through the actions for the first test and written back for the others, its
    entries read afresh; the test's own search index is built from it."""
    def build() -> list[tuple[str, int]]:
        made = Catalog(cat)
        return [(name, value.pk) for name, value in vars(made).items() if isinstance(value, CatalogEntry)]

    names = db_states.built_once(_BUILT, "catalog", build)
    entries = CatalogEntry.objects.in_bulk([pk for _name, pk in names])
    built = Catalog.__new__(Catalog)
    built.org, built.cat = cat.org, cat
    for name, pk in names:
        setattr(built, name, entries[pk])
    built.all = [entries[pk] for _name, pk in names]
    search.rebuild()
    return built


def ids(result: search.SearchResult) -> set[int]:
    return {hit.entry_id for hit in result.hits}


def found(user: Any, q: str = "", **kwargs: Any) -> set[int]:
    kwargs.setdefault("per_page", 100)
    return ids(search.search(user, q, **kwargs))


# ------------------------------------------------------------------ Chinese words

def test_a_two_character_word_matches_whole_words_only(catalog: Catalog) -> None:
    centre = catalog.org.reviewer
    assert found(centre, "人口") == {catalog.household.pk, catalog.floating.pk}
    assert found(centre, "法人") == {catalog.company.pk}  # not 法定代表人
    # 户籍人口基本信息 contains the characters 口基, but not the word
    assert found(centre, "口基") == set()


def test_every_query_word_must_match_and_longer_words_match_inside_text(catalog: Catalog) -> None:
    centre = catalog.org.reviewer
    assert found(centre, "户籍 人口") == {catalog.household.pk}
    assert found(centre, "户籍人口基本信息") == {catalog.household.pk}
    assert found(centre, "人口 食品") == set()
    # 驾驶证 is written inside 机动车驾驶证; 公安局 inside the provider's name 龙南市公安局
    assert found(centre, "驾驶证") == {catalog.licence.pk}
    assert catalog.household.pk in found(centre, "公安局")


def test_resource_department_and_classification_codes_are_found_in_any_width_or_case(catalog: Catalog) -> None:
    centre = catalog.org.reviewer
    market = {catalog.company.pk, catalog.food.pk, catalog.market_draft.pk}
    assert found(centre, catalog.food.code) == {catalog.food.pk}
    assert found(centre, "sj") == market
    assert found(centre, "ＳＪ") == market
    assert found(centre, "302") == market


# ------------------------------------------------------------------ synonyms

def test_an_abbreviation_finds_the_full_term_and_the_other_way_round(catalog: Catalog) -> None:
    result = search.search(catalog.org.citizen, "社保")
    assert ids(result) == {catalog.insurance.pk}
    assert "社会保险" in result.expansions["社保"]
    # 营业执照 → 市场主体登记 (in the summary of the company register)
    assert found(catalog.org.reviewer, "营业执照") == {catalog.company.pk}
    entry = catalog.cat.draft(catalog.org.police_specialist, name="社保卡挂失信息", keywords=[])
    search.update_entries([entry.pk])
    assert entry.pk in found(catalog.org.reviewer, "社会保险")


def test_editing_a_synonym_changes_results_at_once_without_reindexing(catalog: Catalog) -> None:
    citizen = catalog.org.citizen
    assert found(citizen, "驾照") == {catalog.licence.pk}  # default list: 驾照 → 机动车驾驶证
    assert found(citizen, "车证") == set()
    do_set_synonym(catalog.org.centre_admin, "车证", ["驾驶证"])
    assert found(citizen, "车证") == {catalog.licence.pk}
    do_set_synonym(catalog.org.centre_admin, "社保", ["社会保障"])
    assert found(citizen, "社保") == set()


# ------------------------------------------------------------------ facets, filters, sorts, pages

def _db_counts(user: Any, key: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in restrict(CatalogEntry, user, "view").select_related("provider", "current_version__classification",
                                                                      "open_version__classification"):
        version = entry.current_version or entry.open_version
        assert version is not None
        value = {"classification": version.classification.code[:3], "provider": entry.provider.code,
                 "status": entry.status}.get(key) or getattr(version, key)
        if value:
            counts[value] += 1
    return counts


def test_facet_counts_equal_the_database_counts_of_what_the_user_sees(catalog: Catalog) -> None:
    for who in ("reviewer", "police_specialist", "auditor", "citizen"):
        user = getattr(catalog.org, who)
        result = search.search(user)
        assert result.total == restrict(CatalogEntry, user, "view").count(), who
        for key in search.FACET_KEYS:
            assert {f.value: f.count for f in result.facets[key]} == dict(_db_counts(user, key)), (who, key)


def test_facets_carry_labels_and_count_the_whole_result_not_only_the_page(catalog: Catalog) -> None:
    result = search.search(catalog.org.reviewer, "信息", per_page=1)
    assert len(result.hits) == 1
    assert result.total == len(catalog.all)
    assert sum(f.count for f in result.facets["status"]) == result.total
    facets = result.facets
    assert {f.value: f.label for f in facets["provider"]}["GA"] == "龙南市公安局"
    assert {f.value: f.label for f in facets["classification"]}["301"] == "公安局信息资源"
    labels = {f.value: f.label for f in facets["share_type"]}
    assert labels["unconditional"] == str(ShareType.UNCONDITIONAL.label)
    assert [f.count for f in facets["provider"]] == sorted((f.count for f in facets["provider"]), reverse=True)


def test_filters_are_or_within_a_key_and_and_across_keys(catalog: Catalog) -> None:
    centre = catalog.org.reviewer
    assert found(centre, filters={"provider": ["SJ"]}) == {catalog.company.pk, catalog.food.pk,
                                                          catalog.market_draft.pk}
    assert found(centre, filters={"provider": ["SJ", "CENTRE"]}) == {
        catalog.company.pk, catalog.food.pk, catalog.market_draft.pk, catalog.insurance.pk}
    assert found(centre, filters={"provider": ["SJ"], "share_type": ["conditional"]}) == {catalog.company.pk}
    assert found(centre, filters={"open_attribute": ["open", "on_application"]}) == {
        catalog.licence.pk, catalog.food.pk, catalog.insurance.pk}
    assert found(centre, filters={"classification": ["301"], "status": ["draft"]}) == {catalog.floating.pk}
    assert found(centre, filters={"classification": ["3"]}) == {e.pk for e in catalog.all}  # the 类
    assert found(centre, filters={"domain": ["社保"], "update_cycle": ["monthly"]}) == {catalog.insurance.pk}
    assert found(centre, filters={"provider": ["NOPE"]}) == set()
    result = search.search(centre, filters={"provider": ["SJ"]})
    assert {f.value: f.count for f in result.facets["provider"]} == {"SJ": 3}


def test_an_unknown_filter_or_sort_is_a_validation_error(org: Any) -> None:
    with pytest.raises(ValidationFailed) as err:
        search.search(org.reviewer, filters={"colour": ["red"]})
    assert err.value.code == "unknown_filter"
    with pytest.raises(ValidationFailed) as err:
        search.search(org.reviewer, sort="random")
    assert err.value.code == "invalid_sort"


def test_sort_by_date_shows_the_newest_first_and_by_code_follows_the_codes(catalog: Catalog) -> None:
    hits = search.search(catalog.org.reviewer, sort="date", per_page=100).hits
    stamps = [h.published_at for h in hits if h.published_at is not None]
    assert stamps == sorted(stamps, reverse=True)
    assert all(h.published_at is None for h in hits[len(stamps):])  # never-published drafts last
    hits = search.search(catalog.org.reviewer, sort="code", per_page=100).hits
    assert [h.code for h in hits] == sorted(e.code for e in catalog.all)


def test_code_rank_sorts_like_the_code_string() -> None:
    codes = ["301/000002", "301/000010", "3010/000001", "30101/000001", "302/000001", "1/000001", "101001/999999"]
    assert sorted(codes, key=search.code_rank) == sorted(codes)


def test_relevance_ranks_a_name_match_above_a_summary_match(catalog: Catalog) -> None:
    entry = catalog.cat.draft(catalog.org.police_specialist, name="居住证办理信息",
                              summary="涉及户籍人口和流动人口的居住证。", keywords=[])
    search.update_entries([entry.pk])
    hits = search.search(catalog.org.police_specialist, "流动人口").hits
    assert [h.entry_id for h in hits] == [catalog.floating.pk, entry.pk]
    assert hits[0].score > hits[1].score


def test_pages_cover_every_hit_once(catalog: Catalog) -> None:
    seen: list[int] = []
    for page in (1, 2, 3):
        result = search.search(catalog.org.reviewer, sort="code", page=page, per_page=3)
        assert result.total == len(catalog.all)
        seen += [h.entry_id for h in result.hits]
    assert sorted(seen) == sorted(e.pk for e in catalog.all)
    assert search.search(catalog.org.reviewer, page=9, per_page=3).hits == []
    relevance = [h.entry_id for p in (1, 2) for h in search.search(catalog.org.reviewer, "信息", page=p,
                                                                      per_page=4).hits]
    assert sorted(relevance) == sorted(e.pk for e in catalog.all)


def test_a_hit_carries_the_shown_version(catalog: Catalog) -> None:
    (hit,) = search.search(catalog.org.citizen, "食品").hits
    assert (hit.code, hit.name, hit.provider_code, hit.provider_name) == (
        catalog.food.code, "食品经营许可信息", "SJ", "龙南市市场监督管理局")
    assert (hit.classification, hit.share_type, hit.open_attribute, hit.format_class, hit.update_cycle,
            hit.domain, hit.status) == ("302", "unconditional", "on_application", "spreadsheet", "monthly",
                                        "企业登记监管", "published")
    assert hit.published_at == catalog.food.published_at


def test_a_hit_shows_the_published_version_while_a_new_one_is_drafted_and_a_draft_shows_itself(
        catalog: Catalog) -> None:
    org = catalog.org
    do_edit_entry(org.market_specialist, catalog.food, content(
        name="食品经营许可信息（修订中）", classification="302", domain="企业登记监管", summary="食品经营许可证的许可项目和有效期。", keywords=["食品"],
        update_cycle="daily", open_attribute="on_application", open_condition="实名申请"), change_reason="更新频度调整")
    for viewer in (org.market_specialist, org.citizen):  # the provider sees its draft on the entry page only
        (hit,) = [h for h in search.search(viewer, "食品").hits if h.entry_id == catalog.food.pk]
        assert (hit.name, hit.update_cycle, hit.status) == ("食品经营许可信息", "monthly", "published")
    (draft,) = search.search(org.market_specialist, "特种设备").hits
    assert (draft.entry_id, draft.name, draft.status, draft.published_at) == (
        catalog.market_draft.pk, "特种设备登记信息", "draft", None)


# ------------------------------------------------------------------ visibility

VIEWERS = ["citizen", "anonymous", "market_specialist", "police_specialist", "police_admin", "auditor",
           "reviewer", "centre_admin"]


def test_search_shows_exactly_what_the_permission_rule_shows(catalog: Catalog) -> None:
    for who in VIEWERS:
        user = AnonymousUser() if who == "anonymous" else getattr(catalog.org, who)
        visible = set(restrict(CatalogEntry, user, "view").values_list("pk", flat=True))
        for q in ("", "信息", "人口"):
            result = search.search(user, q, per_page=100)
            expected = visible & found(catalog.org.reviewer, q) if q else visible
            assert ids(result) == expected, (who, q)
            assert result.total == len(expected), (who, q)


def test_a_draft_is_found_by_its_department_and_the_centre_and_the_public_sees_the_open_catalog(
        catalog: Catalog) -> None:
    org = catalog.org
    draft = catalog.floating.pk
    assert draft in found(org.police_specialist, "流动人口")  # the owner
    assert draft in found(org.police_admin, "流动人口")  # a colleague
    assert draft in found(org.reviewer, "流动人口")  # the centre
    for outsider in (org.market_specialist, org.auditor, org.citizen, AnonymousUser()):
        assert found(outsider, "流动人口") == set()
    assert found(org.citizen) == {catalog.licence.pk, catalog.food.pk, catalog.insurance.pk}
    assert found(AnonymousUser(), "人口") == set()


def test_a_stale_document_never_shows_a_row_the_user_may_not_see(catalog: Catalog) -> None:
    # the index still says "open" but the database no longer does: the hit is dropped
    version = catalog.licence.current_version
    version.open_attribute = "not_open"
    version.save(update_fields=["open_attribute"])
    assert found(catalog.org.citizen, "驾驶证") == set()


# ------------------------------------------------------------------ keeping the index current

def test_the_index_follows_every_committed_change(cat: Any, django_capture_on_commit_callbacks: Any) -> None:
    org = cat.org
    search.rebuild()
    with django_capture_on_commit_callbacks(execute=True):
        entry = cat.draft(org.police_specialist, name="出入境证件信息", summary="出入境证件的签发信息。", keywords=[])
    assert found(org.police_specialist, "出入境") == {entry.pk}
    assert found(org.auditor, "出入境") == set()
    with django_capture_on_commit_callbacks(execute=True):
        do_update_draft(org.police_specialist, entry, content(name="护照签发信息", summary="护照签发记录。",
                                                              keywords=[]))
    assert found(org.police_specialist, "出入境") == set()
    assert found(org.police_specialist, "护照") == {entry.pk}
    with django_capture_on_commit_callbacks(execute=True):
        cat.publish(entry)
    assert found(org.auditor, "护照") == {entry.pk}
    assert found(org.citizen, "护照") == set()  # not open


def test_a_discarded_never_published_draft_leaves_the_index(cat: Any,
                                                            django_capture_on_commit_callbacks: Any) -> None:
    org = cat.org
    with django_capture_on_commit_callbacks(execute=True):
        entry = cat.draft(org.police_specialist, name="出入境证件信息", keywords=[])
    assert found(org.reviewer, "出入境") == {entry.pk}
    with django_capture_on_commit_callbacks(execute=True):
        do_discard_draft(org.police_specialist, entry)
    assert search.search(org.reviewer, "出入境").total == 0
    assert search.get_engine().index.searcher().num_docs == 0


def test_updating_a_deleted_entry_removes_its_document(cat: Any) -> None:
    entry = cat.draft(cat.org.market_specialist, name="特种设备登记信息")
    assert search.search(cat.org.reviewer, "特种设备").total == 1  # built on first use
    CatalogEntry.objects.filter(pk=entry.pk).delete()
    assert search.update_entries([entry.pk]) == 0
    assert search.search(cat.org.reviewer, "特种设备").total == 0


def test_rebuild_indexes_every_entry_and_records_it(cat: Any) -> None:
    org = cat.org
    search.search(org.reviewer)  # index created while the catalog is empty
    entries = [cat.published(org.police_specialist, name=f"测试资源{n}信息") for n in range(3)]
    assert search.search(org.reviewer).total == 0  # changes outside a commit are not indexed
    progress: list[tuple[int, int]] = []
    assert search.rebuild(progress=lambda done, total: progress.append((done, total))) == 3
    assert progress[-1] == (3, 3)
    assert found(org.reviewer) == {e.pk for e in entries}
    state = SearchIndexState.objects.get(pk=1)
    assert state.documents == 3 and state.rebuilt_at is not None


def test_a_missing_index_is_built_on_first_search(cat: Any) -> None:
    entry = cat.published(cat.org.police_specialist)
    assert not (search.index_dir() / f"v{search.SCHEMA_VERSION}").exists()
    assert found(cat.org.auditor, "人口") == {entry.pk}


def test_an_index_of_another_schema_is_recreated(tmp_path: Any) -> None:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("something_else")
    tantivy.Index(builder.build(), path=str(tmp_path))
    engine = search.Engine(tmp_path)
    assert engine.index.searcher().num_docs == 0
    assert engine.query("人口").total == 0


def test_a_busy_writer_fails_a_rebuild_and_queues_an_update(cat: Any) -> None:
    entry = cat.draft(cat.org.police_specialist)
    engine = search.get_engine()
    writer = engine.writer()
    assert writer is not None
    try:
        with pytest.raises(search.IndexBusy):
            search.rebuild(wait=0)
        assert search.update_entries([entry.pk], wait=0) == 0  # queued, not lost
    finally:
        writer.rollback()
        del writer
    assert search.update_entries([]) == 1  # the queued id is applied by the next writer
    assert found(cat.org.police_specialist, "人口") == {entry.pk}


def test_the_index_task_updates_the_index(cat: Any) -> None:
    from govshare.catalog.search_tasks import index_entries

    entry = cat.draft(cat.org.police_specialist)
    assert index_entries.call([entry.pk]) == 1
    assert found(cat.org.police_specialist, "人口") == {entry.pk}


# ------------------------------------------------------------------ the engine on plain documents

def _plain_docs(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(7)
    docs = []
    for i in range(1, n + 1):
        subject = rnd.choice(["户籍人口", "企业登记", "社会保险缴费", "住房公积金缴存"])
        status = rnd.choice(["published", "published", "published", "draft", "withdrawn"])
        docs.append({
            "entry_id": i, "code": f"3{rnd.randrange(1, 4):02d}/{i:06d}", "classification": f"3{rnd.randrange(1, 4):02d}",
            "name": f"{subject}信息", "summary": "", "keywords": [], "items": [], "provider_id": rnd.randrange(1, 4),
            "provider_names": ["某局"], "provider_code": "X", "provider_uscc": "", "status": status,
            "share_type": rnd.choice(["unconditional", "conditional"]),
            "open_attribute": rnd.choice(["open", "not_open"]), "format_class": "database", "update_cycle": "daily",
            "domain": "", "published_at": None if status == "draft" else dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
            + dt.timedelta(hours=i),
        })
    return docs


def _visible(doc: dict[str, Any], audience: search.Audience | None) -> bool:
    if audience is None:
        return True
    if audience.public:
        return doc["status"] == "published" and doc["open_attribute"] == "open"
    return doc["status"] == "published" or doc["provider_id"] == audience.dept_id


def test_the_engine_counts_and_pages_exactly_across_segments_and_candidate_limits(
        tmp_path: Any, monkeypatch: Any) -> None:
    docs = _plain_docs(300)
    engine = search.Engine(tmp_path / "ix")
    for part in (docs[:150], docs[150:]):  # two commits: two segments
        writer = engine.writer()
        assert writer is not None
        for doc in part:
            writer.add_document(search.build_document(doc))
        writer.commit()
        writer.wait_merging_threads()
        del writer
    engine.reload()
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    orders = {"code": lambda d: d["code"], "date": lambda d: -(d["published_at"] or epoch).timestamp(),
              "relevance": lambda d: d["entry_id"]}
    for audience in (None, search.PUBLIC, search.Audience(), search.Audience(dept_id=2)):
        for q, filters in (("", {}), ("人口", {}), ("社保", {"share_type": ["conditional"]}),
                           ("", {"classification": ["302"], "status": ["published", "draft"]})):
            expected = [d for d in docs if _visible(d, audience)
                        and (not q or ("人口" in d["name"] if q == "人口" else "社会保险" in d["name"]))
                        and all(d[k] in v for k, v in filters.items())]
            for sort, key in orders.items():
                pages = []
                for limit in (1000, 3):  # candidates checked, then the restricted fallback
                    monkeypatch.setattr(search_engine, "MAX_CANDIDATES", limit)
                    result = engine.query(q, synonyms={"社保": ["社会保险"]}, audience=audience, filters=filters,
                                          sort=sort, offset=5, limit=10, facet_keys=("provider", "share_type"))
                    assert result.total == len(expected)
                    assert dict(result.facets["provider"]) == dict(Counter(str(d["provider_id"]) for d in expected))
                    pages.append([entry_id for entry_id, _score in result.hits])
                assert pages[0] == pages[1], (audience, q, filters, sort)
                want = [d["entry_id"] for d in sorted(expected, key=key)][5:15]
                by_id = {d["entry_id"]: d for d in docs}
                assert [key(by_id[i]) for i in pages[0]] == [key(by_id[i]) for i in want] or sort == "relevance"
                assert set(pages[0]) <= {d["entry_id"] for d in expected} and len(pages[0]) == len(want)


def test_query_parsing_joins_synonym_terms_drops_function_words_and_keeps_codes() -> None:
    synonyms = {"不动产证": ["不动产权证书"], "社保": ["社会保险"]}
    parsed = search.parse_query("不动产证 的 社保", synonyms)
    assert parsed.words == ["不动产证", "社保"]  # 不动产 + 证 joined; 的 dropped
    assert parsed.expansions == {"不动产证": ["不动产权证书"], "社保": ["社会保险"]}
    assert search.parse_query("社会保险", synonyms).expansions == {"社会保险": ["社保"]}
    code = search.parse_query("301/000001")
    assert code.words == ["301/000001"] and code.node == search.Node("code", "301/000001")
    assert search.parse_query("  ").node is None
