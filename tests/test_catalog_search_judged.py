"""Search finds what people type (issue 8, CAT-9): a judged query set over the demo catalog.

``tests/data/search_judged.yaml`` holds ≥ 60 queries people type — abbreviations, two-character
words, codes, department names, place names, mixed Chinese/English, one-character typos — each
with the demo entries that must appear in the top 3.  The demo is loaded and indexed once
(``demo_data_module``, rolled back after the module); the tests only read.
``bench/search_judged.py`` prints the same share for docs/benchmarks.md.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from govshare.catalog import search
from govshare.catalog.models import CatalogEntry
from govshare.core.models import User
from tests.search_judging import judge, load_judged

TARGET_SHARE = 0.95


@pytest.fixture
def demo(demo_data_module: Any, settings: Any) -> None:
    """The demo, loaded once (see tests/conftest.py) with its search index built once."""
    settings.GOVSHARE_SEARCH_DIR = demo_data_module.search_dir


def hits_for(q: str, username: str = "police_specialist") -> list[search.Hit]:
    return search.search(User.objects.get(username=username), q, per_page=10).hits


# ------------------------------------------------------------------ the demo

def test_at_least_95_percent_of_the_judged_queries_have_their_entries_in_the_top_3(demo: None) -> None:
    judged = load_judged()
    names = set(CatalogEntry.objects.values_list("current_version__name", flat=True))
    misses = []
    for case in judged["queries"]:
        assert set(case.get("expect", [])) <= names, case  # a judgment names demo entries
        problems = judge(case, hits_for(str(case["q"]), case.get("user", judged["user"])))
        if problems:
            misses.append(f"{case['q']} ({case['kind']}): {'; '.join(problems)}")
    share = 1 - len(misses) / len(judged["queries"])
    print(f"\njudged search: {share:.1%} of {len(judged['queries'])} queries right in the top 3")
    for miss in misses:
        print("  miss:", miss)
    assert share >= TARGET_SHARE, misses


def test_a_department_user_searching_faren_finds_the_entries_filed_under_102(demo: None) -> None:
    # issue 8: 法人 found nothing — the classification path (102 法人单位信息) was not searchable text
    found = search.search(User.objects.get(username="police_specialist"), "法人", per_page=50).hits
    under_102 = {h.name for h in found if h.classification.startswith("102")}
    assert {"市场主体登记信息（营业执照）", "纳税人登记信息", "参保单位信息"} <= under_102
    assert all(h.classification.startswith("102") for h in found[:3])


def test_longnan_finds_every_entry_of_the_longnan_departments_although_jieba_cuts_longnan_shi_apart(
        demo: None) -> None:
    # rjieba alone cuts 龙南市 as 龙 / 南市: only 赣州市龙南生态环境局 held the word 龙南
    reviewer = User.objects.get(username="centre_reviewer")
    assert search.search(reviewer, "龙南").total == CatalogEntry.objects.count()
    hits = search.search(reviewer, "龙南 公积金").hits
    assert "住房公积金缴存信息" in [h.name for h in hits[:3]]  # its summary names 龙南市住房公积金管理中心


# ------------------------------------------------------------------ the judged set itself (no database)

def test_the_judged_set_has_over_60_queries_of_every_kind_each_with_a_judgment() -> None:
    judged = load_judged()
    queries = judged["queries"]
    assert len(queries) >= 60
    kinds = Counter(c["kind"] for c in queries)
    assert set(kinds) == {"word", "abbreviation", "code", "department", "place", "mixed", "typo", "phrase"}
    assert min(kinds.values()) >= 5
    assert len({str(c["q"]) for c in queries}) == len(queries)
    for case in queries:
        assert case.get("expect") or case.get("classification") or case.get("provider"), case
        assert len(case.get("expect", [])) <= 3, case
