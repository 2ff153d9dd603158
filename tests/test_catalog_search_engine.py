"""The search engine on its own (CAT-9, issue 8): no Django, plain dicts in, entry ids out.

Segmentation with the platform's dictionary (龙南 finds 龙南市), classification path names as
text, and one-edit matching of mistyped words.
"""

from __future__ import annotations

import ast
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest

from govshare.catalog import search_engine as se

ENGINE_FILE = Path(se.__file__)
PLATFORM_WORDS = [("江西省", se.PLACE), ("赣州市", se.PLACE), ("龙南市", se.PLACE),
                  ("龙南市公安局", se.ORG), ("公安局", se.ORG), ("龙南市人力资源和社会保障局", se.ORG),
                  ("人社局", se.ORG), ("龙南市卫生健康委员会", se.ORG), ("卫健委", se.ORG),
                  ("赣州市龙南生态环境局", se.ORG), ("生态环境局", se.ORG), ("公租房", se.WORD)]


def test_the_engine_module_imports_nothing_of_django_or_the_apps() -> None:
    tree = ast.parse(ENGINE_FILE.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"rjieba", "tantivy"}


# ------------------------------------------------------------------ segmentation

def test_a_place_name_jieba_cuts_apart_stays_whole_and_yields_its_stem() -> None:
    words = se.Dictionary(PLATFORM_WORDS)
    assert words.query_words("龙南市") == ["龙南市"]
    assert words.query_words("龙南") == ["龙南"]
    assert {"龙南市", "龙南"} <= set(words.index_words("龙南市"))
    assert "南市" not in words.index_words("龙南市")  # jieba's 龙 / 南市 is noise, not a part
    # without the dictionary jieba's cut stands: the document never holds 龙南
    assert "龙南" not in se.EMPTY_DICTIONARY.index_words("龙南市")


def test_a_department_name_yields_the_place_the_short_name_and_the_stem() -> None:
    words = se.Dictionary(PLATFORM_WORDS)
    assert words.query_words("龙南市公安局") == ["龙南市公安局"]
    parts = set(words.index_words("龙南市公安局"))
    assert {"龙南市公安局", "龙南市", "龙南", "公安局", "公安"} <= parts
    assert {"卫健委", "卫健"} <= set(words.index_words("龙南市卫生健康委员会 卫健委"))
    assert {"生态环境局", "生态环境", "龙南", "赣州市"} <= set(words.index_words("赣州市龙南生态环境局"))
    assert {"人社局", "人社"} <= set(words.index_words("人社局"))


def test_a_short_custom_word_never_cuts_the_words_jieba_found_around_it() -> None:
    words = se.Dictionary(PLATFORM_WORDS)  # 人社 (the stem of 人社局) is inside 个人社保编号
    assert words.query_words("个人社保编号") == ["个人", "社保", "编号"]
    assert "社保" in words.index_words("个人社保编号")


def test_queries_and_documents_are_segmented_alike() -> None:
    words = se.Dictionary(PLATFORM_WORDS)
    for text in ("龙南市住房公积金管理中心归集的缴存信息", "赣州市龙南生态环境局的排污许可", "公租房保障对象",
                 "国家税务总局龙南市税务局", "PM2.5浓度 AQI"):
        indexed = set(words.index_words(se.normalize(text)))
        assert set(words.query_words(se.normalize(text))) <= indexed, text


def test_a_word_jieba_cuts_into_an_orphan_character_is_kept_whole_only() -> None:
    words = se.Dictionary([("公租房", se.WORD)])
    assert words.query_words("公租房") == ["公租房"]
    assert words.parts("公租房") == ("公租房",)  # not 公 / 租房


# ------------------------------------------------------------------ typos

def test_a_lone_character_joins_its_neighbour_and_unknown_words_are_matched_with_one_edit() -> None:
    indexed = {"公积", "公积金", "经", "人口", "户籍"}
    parsed = se.parse_query("公积经")
    relaxed = se.typo_query(parsed, indexed.__contains__)
    assert relaxed is not None and relaxed.approximate == ["公积经"]
    parsed = se.parse_query("户藉 人口")
    relaxed = se.typo_query(parsed, indexed.__contains__)
    assert relaxed is not None and relaxed.approximate == ["户藉"]


def test_known_words_that_find_nothing_together_are_not_loosened() -> None:
    indexed = {"人口", "食品"}
    assert se.typo_query(se.parse_query("人口 食品"), indexed.__contains__) is None
    # a lone two-character word nobody indexed is too loose to guess (口基 ≈ 口岸, 地基 …)
    assert se.typo_query(se.parse_query("口基"), indexed.__contains__) is None


# ------------------------------------------------------------------ the index

def source(entry_id: int, name: str, **extra: Any) -> dict[str, Any]:
    src = {"entry_id": entry_id, "code": f"102001/{entry_id:06d}", "classification": "102001", "name": name,
           "summary": "", "keywords": [], "items": [], "provider_id": 1, "provider_names": ["龙南市市场监督管理局"],
           "share_type": "unconditional", "open_attribute": "open", "format_class": "database",
           "update_cycle": "daily", "status": "published",
           "published_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    src.update(extra)
    return src


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    def build(sources: list[dict[str, Any]], dictionary: se.Dictionary = se.EMPTY_DICTIONARY) -> se.Engine:
        eng = se.Engine(tmp_path / f"index{len(list(tmp_path.iterdir()))}")
        writer = eng.writer()
        assert writer is not None
        for src in sources:
            writer.add_document(se.build_document(src, dictionary))
        writer.commit()
        writer.wait_merging_threads()
        eng.reload()
        return eng
    return build


def found(eng: se.Engine, q: str, **kwargs: Any) -> list[int]:
    return [entry_id for entry_id, _score in eng.query(q, **kwargs).hits]


def test_the_names_of_the_classification_path_are_searchable(engine: Any) -> None:
    eng = engine([source(1, "纳税人登记信息", classification_names=["基础信息资源", "法人单位信息", "企业和市场主体"]),
                  source(2, "道路运输经营许可信息", classification_names=["部门信息资源", "交通运输局信息资源"])])
    assert found(eng, "法人") == [1]
    assert found(eng, "市场主体") == [1]
    assert found(eng, "交通运输局") == [2]


def test_longnan_finds_longnan_shi_only_with_the_dictionary_on_both_sides(engine: Any) -> None:
    words = se.Dictionary(PLATFORM_WORDS)
    sources = [source(1, "住房公积金缴存信息", summary="龙南市住房公积金管理中心归集的缴存信息。"),
               source(2, "食品经营许可信息", provider_names=["赣州市市场监督管理局"])]
    with_words = engine(sources, words)
    assert found(with_words, "龙南", dictionary=words) == [1]
    assert found(with_words, "龙南市", dictionary=words) == [1]
    assert found(engine(sources), "龙南") == []  # jieba alone: 龙 / 南市


def test_a_mistyped_word_finds_the_word_one_edit_away_and_says_so(engine: Any) -> None:
    eng = engine([source(1, "居民身份证办理信息", keywords=["身份证"]), source(2, "户籍人口基本信息")])
    result = eng.query("身分证")
    assert [entry_id for entry_id, _s in result.hits] == [1]
    assert result.parsed.approximate == ["身分证"]
    assert eng.query("身份证").parsed.approximate == []


def test_the_name_ranks_above_the_same_word_elsewhere_and_a_synonym_below_the_word(engine: Any) -> None:
    eng = engine([source(1, "税收优惠备案信息", items=["纳税人识别号", "纳税人名称"]),
                  source(2, "纳税人登记信息", items=["纳税人识别号", "纳税人名称", "纳税人状态"]),
                  source(3, "企业登记信息"), source(4, "法人单位名录")])
    assert found(eng, "纳税人")[0] == 2
    assert found(eng, "法人", synonyms={"法人": ["企业"]}) == [4, 3]


def test_the_generic_words_of_every_classification_path_do_not_make_every_entry_match(engine: Any) -> None:
    eng = engine([source(1, "流动人口居住登记", classification_names=["基础信息资源", "人口信息", "流动人口"])])
    assert found(eng, "人口") == [1]
    assert found(eng, "信息") == []  # 信息资源, 人口信息: in every path, it would only slow 信息 down
    assert found(eng, "流动人口 基础") == [1]


@pytest.mark.parametrize(("visible", "typed"), [("permit registry", "permat"), ("营业执照信息", "营业执炤"),
                                                ("最低生活保障", "最低生活保账")])
def test_typo_correction_is_the_same_whether_or_not_an_entry_the_user_cannot_see_holds_the_typed_word(
        engine: Any, visible: str, typed: str) -> None:
    # SEC-2: whether a query falls back to one-edit matching is decided within what the user may see,
    # so a draft (or, for the public, a published entry that is not open) holding the mistyped word
    # neither switches the correction off nor tells the user that it exists
    shown = source(1, visible, provider_id=7)
    draft = source(2, f"{typed} 核查名单", provider_id=8, status="draft", open_attribute="not_open")
    not_open = source(3, f"{typed} 内部台账", provider_id=8, open_attribute="not_open")
    for audience, hidden in ((se.PUBLIC, [draft, not_open]), (se.Audience(dept_id=7), [draft])):
        answers = []
        for sources in ([shown], [shown, *hidden]):
            result = engine(sources).query(typed, audience=audience)
            # (not the scores: BM25 statistics are index-wide — see the engine's module docstring)
            answers.append((result.total, [entry_id for entry_id, _s in result.hits], result.facets,
                            result.parsed.approximate))
        assert answers[0][:2] == (1, [1]) and answers[0][3]  # found through the correction
        assert answers[1] == answers[0], audience


def test_a_word_found_only_in_hidden_entries_is_a_typo_for_the_public_and_a_word_for_its_department(
        engine: Any) -> None:
    eng = engine([source(1, "permit registry", provider_id=7),
                  source(2, "permat checklist", provider_id=8, status="draft")])
    assert eng.query("permat", audience=se.PUBLIC).parsed.approximate == ["permat"]
    assert found(eng, "permat", audience=se.PUBLIC) == [1]
    own = eng.query("permat", audience=se.Audience(dept_id=8))
    assert own.parsed.approximate == [] and [entry_id for entry_id, _s in own.hits] == [2]
    assert found(eng, "permat") == [2]  # everything visible (the centre): the word is known


def test_a_word_left_only_in_a_deleted_document_is_a_typo_for_everyone(engine: Any) -> None:
    # term counts keep deleted documents until a merge: they must not make a word known either
    eng = engine([source(1, "permit registry"), source(2, "permat checklist")])
    writer = eng.writer()
    assert writer is not None
    writer.delete_documents_by_query(se.Query.term_query(se.SCHEMA, "entry_id", 2))
    writer.commit()
    writer.wait_merging_threads()
    eng.reload()
    for audience in (se.PUBLIC, se.Audience(dept_id=1), None):
        result = eng.query("permat", audience=audience)
        assert [entry_id for entry_id, _s in result.hits] == [1] and result.parsed.approximate == ["permat"]
