"""Catalog search (CAT-9): a tantivy index of the catalog, segmented with rjieba.

Two layers:

* the **engine** (:func:`build_document`, :func:`parse_query`, :class:`Engine`) works on plain dicts
  and tantivy only — the benchmark (``bench/catalog_search.py``) drives it directly;
* the **Django layer** (:func:`search`, :func:`update_entries`, :func:`rebuild`, :func:`index_dir`)
  reads entries and synonyms from the database, applies visibility and renders labels.

Words.  The name, keywords, summary, item names and provider name are each indexed as the output of
``rjieba.cut_for_search`` taken word by word (tantivy's whitespace tokenizer): 户籍人口基本信息 →
户籍 / 人口 / 基本 / 信息; 社会保险 → 社会 / 保险 / 社会保险.  A query is segmented with
``rjieba.cut`` and *every* query word must match.  A word of one or two characters matches whole
indexed words only — 人口 finds 户籍人口基本信息, 口基 does not; a Chinese word of three or more
characters also matches inside longer text, through a trigram field (驾驶证 in 机动车驾驶证,
社会保障 in 人力资源和社会保障局), where word segmentation in context would miss it.  A query of a
single character matches single characters of the name and keywords.

Synonyms.  Each query word also matches its expansions in the centre-edited
:class:`~govshare.catalog.models.Synonym` table (社保 → 社会保险 | 社会保障), and a full term
matches its abbreviation; they are read at query time, so editing them needs no reindex.

Codes.  Resource codes (``301/000001``), classification codes (and their prefixes), department codes
and USCCs match exactly.

Visibility.  Each document carries audience tokens computed from the entry (``public`` = published
and open, ``hidden`` = not published, ``dept:<id>`` = its provider); :func:`audience_for` maps a user
to what they may see, mirroring the rule of ``restrict(CatalogEntry, user, "view")`` in
:mod:`govshare.catalog.permissions` (the tests compare the two).  Hits are re-read from the database
through ``restrict`` as well, so a stale index never shows a row the user may not see.

Counts and facets.  One ``Searcher.aggregate`` pass over the whole filtered result set gives the
terms counts of every facet (fast fields); the total is the sum of the ``status`` buckets (every
document has exactly one status).  The page of hits is a second, top-k search (see ``Engine._page``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rjieba
import tantivy
from tantivy import Occur, Query

log = logging.getLogger(__name__)

#: bump when the schema or the way documents are built changes; the index then lives in a new
#: sub-directory and is rebuilt lazily (small catalogs) or by ``govshare catalog reindex``
SCHEMA_VERSION = 2

FACET_KEYS = ("classification", "provider", "share_type", "open_attribute", "format_class", "update_cycle",
              "domain", "status")
#: index field of each facet/filter key (raw tokenizer, fast)
FACET_FIELDS = {"classification": "cls", "provider": "provider", "share_type": "share_type",
                "open_attribute": "open_attribute", "format_class": "format_class",
                "update_cycle": "update_cycle", "domain": "domain", "status": "status"}
SORTS = ("relevance", "date", "code")
OPEN_VALUES = ("open", "on_application")
PUBLISHED = "published"

#: relevance: name over keywords over summary over item names over provider name.  The words of
#: each part go into one field this many times, so one posting list per word serves both matching
#: and BM25 ranking (term frequency 6 > 4 > 3 > 2 > 1 keeps that order: ranking five boosted
#: fields cost several times more on broad queries)
WEIGHTS = {"name": 6, "keywords": 4, "summary": 3, "items": 2, "provider": 1}
CODE_BOOST = 10.0
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 12
MAX_WINDOW = 10_000  # deepest hit reachable by paging
MAX_CANDIDATES = 1_000  # unrestricted top hits checked against visibility and filters (see Engine._page)
FACET_SIZE = 10_000  # more than any facet's distinct values, so the counts are exact

UPDATE_HEAP = 50_000_000
REBUILD_HEAP = 400_000_000
LAZY_BUILD_LIMIT = 20_000  # a missing index is built on first use when the catalog is this small
WRITER_WAIT_SECONDS = 10.0

#: function words dropped from queries (they are not what people look for)
STOPWORDS = frozenset({"的", "和", "与", "及", "或", "等", "了", "在", "是", "之", "其", "以及", "有关", "相关"})
_WORDLIKE = re.compile(r"\w")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{3,}")
_CODE_WORD = re.compile(r"[0-9a-z][0-9a-z/._-]*")
_RESOURCE_CODE = re.compile(r"\d+/\d*")


# ====================================================================== engine: documents

TRIGRAMS, UNIGRAMS = "govshare_trigram", "govshare_unigram"


def register_tokenizers(index: tantivy.Index) -> None:
    """The n-gram analyzers the schema names; every opened index needs them before writing."""
    index.register_tokenizer(TRIGRAMS, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(3, 3, False)).build())
    index.register_tokenizer(UNIGRAMS, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(1, 1, False)).build())


def make_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("entry_id", indexed=True, fast=True)
    sb.add_text_field("words", tokenizer_name="whitespace", index_option="freq")  # jieba words, weighted
    sb.add_text_field("tri", tokenizer_name=TRIGRAMS, index_option="basic")  # substrings of longer words
    sb.add_text_field("chars", tokenizer_name=UNIGRAMS, index_option="basic")  # one-character queries
    sb.add_text_field("codes", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("cls_path", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("aud", tokenizer_name="raw", index_option="basic")
    for name in FACET_FIELDS.values():
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_integer_field("published", indexed=False, fast=True)
    sb.add_unsigned_field("code_rank", indexed=False, fast=True)
    return sb.build()


SCHEMA = make_schema()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def normalize(text: str) -> str:
    """Full-width to half-width, lower case: the same on both sides of the index."""
    return unicodedata.normalize("NFKC", text or "").lower()


def trigrams(run: str) -> list[str]:
    return [run[i:i + 3] for i in range(len(run) - 2)]


def audience_tokens(status: str, open_attribute: str, provider_id: int) -> list[str]:
    """Who may find a document (see :func:`audience_for` for the user side): ``public`` — published
    and open; ``hidden`` — not published (seen only by the provider and the centre); ``dept:<id>``."""
    tokens = [f"dept:{provider_id}"]
    if status != PUBLISHED:
        tokens.append("hidden")
    elif open_attribute in OPEN_VALUES:
        tokens.append("public")
    return tokens


def code_rank(code: str) -> int:
    """A number that sorts like the resource code string (``301/000002`` < ``3010…``): each of up to
    12 classification digits in base 11 (0 = no more digits, as "/" sorts before the digits),
    then the sequence number in 20 bits."""
    classification, _slash, sequence = code.partition("/")
    rank = 0
    for i in range(12):
        ch = classification[i] if i < len(classification) else ""
        rank = rank * 11 + (int(ch) + 1 if ch.isdigit() else 0)
    seq = int(sequence) if sequence.isdigit() else 0
    return (rank << 20) | min(seq, (1 << 20) - 1)


def code_prefixes(classification: str) -> list[str]:
    """``30101`` → 301, 3010, 30101: the classification codes a typed code may name (from the 项 on)."""
    return [classification[:n] for n in range(min(3, len(classification)), len(classification) + 1)]


def build_document(src: Mapping[str, Any]) -> tantivy.Document:
    """One index document from a plain dict (see :func:`entry_source` for the keys)."""
    doc = tantivy.Document()
    doc.add_unsigned("entry_id", int(src["entry_id"]))
    texts = {
        "name": normalize(src["name"]),
        "keywords": normalize(" ".join(src.get("keywords") or [])),
        "summary": normalize(src.get("summary") or ""),
        "items": normalize(" ".join(src.get("items") or [])),
        "provider": normalize(" ".join(src.get("provider_names") or [])),
    }
    segmented: list[str] = []
    for name, text in texts.items():
        if text:
            # the whitespace tokenizer takes jieba's words as they are (punctuation words are never queried)
            segmented += [" ".join(rjieba.cut_for_search(text))] * WEIGHTS[name]
            # trigrams and single characters are cut by tantivy's n-gram tokenizers (see register_tokenizers)
            doc.add_text("tri", text)
    if segmented:
        doc.add_text("words", " ".join(segmented))
    if texts["name"] or texts["keywords"]:
        doc.add_text("chars", f"{texts['name']} {texts['keywords']}")
    code = normalize(src["code"])
    classification = src["classification"]
    for value in {code, *code_prefixes(classification), normalize(src.get("provider_code") or ""),
                  normalize(src.get("provider_uscc") or "")}:
        if value:
            doc.add_text("codes", value)
    for n in range(1, len(classification) + 1):  # 类, 项, 目, 细目: a filter may name any level
        doc.add_text("cls_path", classification[:n])
    for token in audience_tokens(src["status"], src["open_attribute"], src["provider_id"]):
        doc.add_text("aud", token)
    values = {
        "cls": classification[:3], "provider": str(src["provider_id"]), "share_type": src["share_type"],
        "open_attribute": src["open_attribute"], "format_class": src["format_class"],
        "update_cycle": src["update_cycle"], "domain": src.get("domain") or "", "status": src["status"],
    }
    for name, value in values.items():
        if value:
            doc.add_text(name, value)
    published: dt.datetime | None = src.get("published_at")
    doc.add_integer("published", (published - _EPOCH) // _MICROSECOND if published else 0)
    doc.add_unsigned("code_rank", code_rank(code))
    return doc


# ====================================================================== engine: queries

@dataclass
class Node:
    """A query tree: ``term`` (an indexed word), ``substring`` (Chinese text matched through its
    trigrams), ``code``, ``char``, or ``and``/``or`` of children."""

    kind: str
    value: str = ""
    children: list[Node] = field(default_factory=list)


@dataclass
class ParsedQuery:
    words: list[str]  # the query words as segmented (for display and highlighting)
    expansions: dict[str, list[str]]  # word → the synonyms it was expanded to
    node: Node | None  # None: no words (browse)


def _or(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Node("or", children=nodes)


def _and(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Node("and", children=nodes)


#: query words of at least this many Chinese characters also match inside longer words (社会保障 in
#: 社会保障局, 住房公积金 in …住房公积金缴存…); shorter ones match whole words only (人口 ≠ 口基)
MIN_SUBSTRING_CHARS = 3


def _word_node(word: str) -> Node:
    alternatives = [Node("term", word)]
    if len(word) >= MIN_SUBSTRING_CHARS and _CJK_RUN.fullmatch(word):
        alternatives.append(Node("substring", word))
    if _CODE_WORD.fullmatch(word):
        alternatives.append(Node("code", word))
    return _or(alternatives)


def _phrase_node(text: str) -> Node | None:
    """A synonym's full term: matched as it is written (Chinese: as a substring), else word by word."""
    text = normalize(text).strip()
    if _CJK_RUN.fullmatch(text):
        return _word_node(text)
    tokens = [t for t in rjieba.cut(normalize(text)) if _WORDLIKE.search(t) and t.strip()]
    return _and([_word_node(t) for t in tokens]) if tokens else None


def _merge_synonym_terms(tokens: list[str], synonyms: Mapping[str, Sequence[str]]) -> list[str]:
    """Join adjacent segments that spell a synonym term (不动产 + 证 → 不动产证)."""
    if not synonyms:
        return tokens
    longest = max((len(k) for k in synonyms), default=0)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        taken = 1
        for j in range(min(len(tokens), i + 6), i + 1, -1):
            joined = "".join(tokens[i:j])
            if len(joined) <= longest and joined in synonyms:
                taken = j - i
                break
        out.append("".join(tokens[i:i + taken]))
        i += taken
    return out


def parse_query(q: str, synonyms: Mapping[str, Sequence[str]] | None = None) -> ParsedQuery:
    """Segment ``q`` and expand every word through ``synonyms`` (term → full terms)."""
    syn = {normalize(k): [normalize(e) for e in v] for k, v in (synonyms or {}).items()}
    reverse: dict[str, list[str]] = {}
    for term, full_terms in syn.items():
        for e in full_terms:
            reverse.setdefault(e, []).append(term)
    text = normalize(q)[:MAX_QUERY_CHARS]
    found: list[tuple[str, bool]] = []  # (word, the whole chunk is this one character)
    for chunk in text.split():
        if _RESOURCE_CODE.fullmatch(chunk):
            found.append((chunk, False))
            continue
        tokens = [t for t in rjieba.cut(chunk) if _WORDLIKE.search(t) and t.strip()]
        for token in _merge_synonym_terms(tokens, syn):
            found.append((token, len(chunk) == 1 and bool(_CJK_CHAR.fullmatch(chunk))))
    if len(found) > 1:
        kept = [f for f in found if f[0] not in STOPWORDS]
        found = kept or found[:1]
    seen: set[str] = set()
    nodes: list[Node] = []
    shown: list[str] = []
    expansions: dict[str, list[str]] = {}
    for word, single in found[:MAX_QUERY_WORDS]:
        if word in seen:
            continue
        seen.add(word)
        shown.append(word)
        if _RESOURCE_CODE.fullmatch(word):
            nodes.append(Node("code", word))
            continue
        alternatives = [_word_node(word)]
        if single:
            alternatives.append(Node("char", word))
        for e in syn.get(word, []):
            phrase = _phrase_node(e)
            if phrase is not None:
                alternatives.append(phrase)
        for term in reverse.get(word, []):
            alternatives.append(_word_node(term))
        used = syn.get(word, []) + reverse.get(word, [])
        if used:
            expansions[word] = used
        nodes.append(_or(alternatives))
    return ParsedQuery(words=shown, expansions=expansions, node=_and(nodes) if nodes else None)


# ====================================================================== engine: index

@dataclass(frozen=True)
class Audience:
    """Who is searching: ``public`` sees published open entries only; otherwise all published
    entries plus, with ``dept_id``, that department's unpublished ones.  (None: everything.)"""

    public: bool = False
    dept_id: int | None = None


PUBLIC = Audience(public=True)


@dataclass
class RawResult:
    total: int
    hits: list[tuple[int, float]]  # (entry id, score)
    facets: dict[str, list[tuple[str, int]]]  # facet key → (indexed value, count), most frequent first
    parsed: ParsedQuery


def _writer_busy(exc: Exception) -> bool:
    return "LockBusy" in str(exc)


class Engine:
    """A tantivy index in ``path`` (created empty when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        except ValueError as exc:
            if "schema does not match" not in str(exc):
                raise
            # an index of an older build of this schema version: it is derived data, start again
            log.warning("search index %s has another schema: recreated empty (run `govshare catalog reindex`)",
                        self.path)
            shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
            self.index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        register_tokenizers(self.index)
        self.schema = SCHEMA

    # ---------------------------------------------------------------- writing

    def writer(self, heap: int = UPDATE_HEAP, threads: int = 1, wait: float = 0.0) -> tantivy.IndexWriter | None:
        """The index's single writer, or None when another one holds the lock for ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return self.index.writer(heap_size=heap, num_threads=threads)
            except ValueError as exc:
                if not _writer_busy(exc) or time.monotonic() >= deadline:
                    if _writer_busy(exc):
                        return None
                    raise
            time.sleep(0.05)

    def reload(self) -> None:
        self.index.reload()

    # ---------------------------------------------------------------- queries

    def _leaf(self, node: Node, rank: bool) -> Query:
        if node.kind == "term":
            return Query.term_query(self.schema, "words", node.value, index_option="freq" if rank else "basic")
        if node.kind == "substring":
            grams = [Query.term_query(self.schema, "tri", g, index_option="basic") for g in trigrams(node.value)]
            return grams[0] if len(grams) == 1 else Query.boolean_query([(Occur.Must, g) for g in grams])
        fieldname = "codes" if node.kind == "code" else "chars"
        query = Query.term_query(self.schema, fieldname, node.value, index_option="basic")
        return Query.boost_query(query, CODE_BOOST) if rank and node.kind == "code" else query

    def compile(self, node: Node, rank: bool = False) -> Query:
        if node.kind in ("and", "or"):
            occur = Occur.Must if node.kind == "and" else Occur.Should
            return Query.boolean_query([(occur, self.compile(c, rank)) for c in node.children])
        return self._leaf(node, rank)

    def _term(self, field: str, value: str) -> Query:
        return Query.term_query(self.schema, field, value, index_option="basic")

    def _filter_clauses(self, filters: Mapping[str, Sequence[str]] | None) -> list[tuple[Occur, Query]]:
        out: list[tuple[Occur, Query]] = []
        for key, values in (filters or {}).items():
            wanted = sorted({str(v) for v in values if str(v)})
            if not wanted:
                continue
            name = "cls_path" if key == "classification" else FACET_FIELDS[key]
            terms = [self._term(name, v) for v in wanted]
            out.append((Occur.Must, terms[0] if len(terms) == 1
                        else Query.boolean_query([(Occur.Should, t) for t in terms])))
        return out

    def _restrictions(self, audience: Audience | None, filters: Mapping[str, Sequence[str]] | None
                      ) -> list[tuple[Occur, Query]]:
        """Visibility and filters as boolean clauses."""
        out = self._filter_clauses(filters)
        if audience is not None:
            if audience.public:
                out.append((Occur.Must, self._term("aud", "public")))
            elif audience.dept_id is None:
                out.append((Occur.MustNot, self._term("aud", "hidden")))
            else:  # not: (unpublished and from another department)
                out.append((Occur.MustNot, Query.boolean_query([
                    (Occur.Must, self._term("aud", "hidden")),
                    (Occur.MustNot, self._term("aud", f"dept:{audience.dept_id}"))])))
        return out

    @staticmethod
    def _combine(positive: Query | None, clauses: list[tuple[Occur, Query]]) -> Query:
        if positive is None and any(occur == Occur.Must for occur, _q in clauses):
            musts = [c for c in clauses if c[0] == Occur.Must]
            if len(musts) == 1 and len(clauses) == 1:
                return musts[0][1]
            return Query.boolean_query(clauses)
        base = positive if positive is not None else Query.all_query()
        return Query.boolean_query([(Occur.Must, base), *clauses]) if clauses else base

    def query(self, q: str = "", *, synonyms: Mapping[str, Sequence[str]] | None = None,
              audience: Audience | None = None, filters: Mapping[str, Sequence[str]] | None = None,
              sort: str = "relevance", offset: int = 0, limit: int = 20,
              facet_keys: Iterable[str] = FACET_KEYS) -> RawResult:
        """Count, facet and page the documents matching ``q`` that ``audience`` may see (None:
        everything), within ``filters`` (facet key → indexed values; OR within a key, AND across keys).

        Pass 1 aggregates the whole filtered result: the facets, and the total (the sum of the
        ``status`` buckets: every document has one).  Pass 2 finds the page (see :meth:`_page`)."""
        parsed = parse_query(q, synonyms)
        positive = self.compile(parsed.node) if parsed.node else None
        wanted_keys = tuple(facet_keys)
        keys = list(dict.fromkeys([*wanted_keys, "status"]))
        aggs = {key: {"terms": {"field": FACET_FIELDS[key], "size": FACET_SIZE}} for key in keys}
        searcher = self.index.searcher()
        restrictions = self._restrictions(audience, filters)
        raw = searcher.aggregate(self._combine(positive, restrictions), aggs)
        facets: dict[str, list[tuple[str, int]]] = {}
        for key in keys:
            buckets = raw.get(key, {}).get("buckets", [])
            facets[key] = sorted(((str(b["key"]), int(b["doc_count"])) for b in buckets),
                                 key=lambda kv: (-kv[1], kv[0]))
        total = sum(count for _value, count in facets["status"])
        if "status" not in wanted_keys:
            facets.pop("status")
        offset = max(0, offset)
        limit = max(0, min(limit, MAX_WINDOW - offset))
        hits: list[tuple[int, float]] = []
        if total and limit and offset < total:
            hits = self._page(searcher, parsed, positive, restrictions, audience, sort, offset, limit, total)
        return RawResult(total=total, hits=hits, facets=facets, parsed=parsed)

    def _top(self, searcher: tantivy.Searcher, query: Query, sort: str, ranked: bool, count: int
             ) -> list[tuple[int, float]]:
        if ranked:
            result = searcher.search(query, count, count=False)
        elif sort == "code":
            result = searcher.search(query, count, count=False, order_by_field="code_rank", order=tantivy.Order.Asc)
        else:
            result = searcher.search(query, count, count=False, order_by_field="published",
                                     order=tantivy.Order.Desc)
        ids = searcher.fast_field_values("entry_id", [address for _score, address in result.hits])
        return [(int(entry_id or 0), float(score) if ranked else 0.0)
                for (score, _address), entry_id in zip(result.hits, ids, strict=True)]

    def _page(self, searcher: tantivy.Searcher, parsed: ParsedQuery, positive: Query | None,
              restrictions: list[tuple[Occur, Query]], audience: Audience | None, sort: str, offset: int,
              limit: int, total: int) -> list[tuple[int, float]]:
        """The hits ``offset … offset+limit`` in relevance, date or code order.

        Intersecting a broad query with the visibility and filter clauses costs more than ranking
        it, so the top candidates are ranked *without* them first and then checked against them
        (a cheap query on those entry ids); only when too few pass is the restricted query ranked.
        The order is the same either way: the restrictions never change a score."""
        ranked = sort == "relevance" and parsed.node is not None
        query = self.compile(parsed.node, rank=True) if ranked and parsed.node is not None else positive
        need = offset + limit
        if restrictions:
            factor = (6 if audience is not None and audience.public else 2) * 3 ** sum(
                1 for occur, _q in restrictions if occur == Occur.Must and not (audience and audience.public))
            want = min(MAX_CANDIDATES, max(50, need * factor))
            # without words the unrestricted set is the whole index: worth it only for a large share
            if query is not None or total * factor >= searcher.num_docs:
                candidates = self._top(searcher, query or Query.all_query(), sort, ranked, want)
                check = Query.boolean_query([(Occur.Should, Query.term_query(self.schema, "entry_id", entry_id))
                                             for entry_id, _score in candidates])
                passed = {entry_id for entry_id, _s in self._top(
                    searcher, Query.boolean_query([(Occur.Must, check), *restrictions]), "code", False,
                    len(candidates))} if candidates else set()
                kept = [c for c in candidates if c[0] in passed]
                if len(kept) >= need or len(candidates) < want:  # enough, or every match was a candidate
                    return kept[offset:need]
            scored = [(occur, Query.const_score_query(clause, 0.0) if occur == Occur.Must and ranked else clause)
                      for occur, clause in restrictions]
            return self._top(searcher, self._combine(query, scored), sort, ranked, need)[offset:need]
        return self._top(searcher, query or Query.all_query(), sort, ranked, need)[offset:need]


# ====================================================================== Django layer

@dataclass
class FacetValue:
    value: str
    label: str
    count: int


@dataclass
class Hit:
    entry_id: int
    code: str
    name: str
    summary: str
    provider_code: str
    provider_name: str
    classification: str
    share_type: str
    open_attribute: str
    format_class: str
    update_cycle: str
    domain: str
    status: str
    published_at: dt.datetime | None
    score: float


@dataclass
class SearchResult:
    total: int
    page: int
    per_page: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]]
    query_terms: list[str]
    expansions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, MAX_WINDOW) // self.per_page))


def index_dir() -> Path:
    from django.conf import settings

    return Path(settings.GOVSHARE_SEARCH_DIR)


def _version_dir() -> Path:
    return index_dir() / f"v{SCHEMA_VERSION}"


_cache_lock = threading.Lock()
_cached: Engine | None = None


def _meta_exists(path: Path) -> bool:
    return (path / "meta.json").exists()


def get_engine(*, lazy_build: bool = True) -> Engine:
    """This process's engine for :func:`index_dir` (cached; tantivy reloads its searcher after commits).
    A missing index is created; a small catalog is indexed at once (larger: ``govshare catalog reindex``)."""
    global _cached
    path = _version_dir()
    with _cache_lock:
        engine = _cached
        if engine is not None and engine.path == path and _meta_exists(path):
            return engine
        fresh = not _meta_exists(path)
        engine = Engine(path)
        _cached = engine
    if fresh and lazy_build:
        _lazy_build(engine)
    return engine


def _lazy_build(engine: Engine) -> None:
    from govshare.catalog.models import CatalogEntry

    count = CatalogEntry.objects.count()
    if not count:
        return
    if count > LAZY_BUILD_LIMIT:
        log.warning("catalog search index %s is empty: run `govshare catalog reindex` (%d entries)",
                    engine.path, count)
        return
    try:
        rebuild(wait=0.0)
    except IndexBusy:
        log.info("catalog search index is being built by another process")


# ---------------------------------------------------------------------- visibility

def audience_for(user: Any) -> Audience | None:
    """What ``user`` may find (None: everything) — the rule of ``restrict(CatalogEntry, user, "view")``
    in :mod:`govshare.catalog.permissions`: the centre sees everything; government users the
    published catalog plus (editors) their department's unpublished entries; everyone else the
    published open catalog."""
    from govshare.catalog.permissions import dept_of, is_centre, is_editor, is_government

    if is_centre(user):
        return None
    if is_government(user):
        return Audience(dept_id=dept_of(user) if is_editor(user) else None)
    return PUBLIC


# ---------------------------------------------------------------------- reading entries

def entry_source(entry: Any, items: Sequence[str]) -> dict[str, Any] | None:
    """The plain dict :func:`build_document` indexes for ``entry`` (None: nothing to show)."""
    version = entry.current_version or entry.open_version
    if version is None:
        return None
    provider = entry.provider
    return {
        "entry_id": entry.pk, "code": entry.code, "classification": version.classification.code,
        "name": version.name, "summary": version.summary, "keywords": list(version.keywords or []),
        "items": list(items), "provider_id": provider.pk,
        "provider_names": [provider.name, provider.short_name], "provider_code": provider.code,
        "provider_uscc": provider.uscc, "share_type": version.share_type,
        "open_attribute": version.open_attribute, "format_class": version.format_class,
        "update_cycle": version.update_cycle, "domain": version.domain, "status": entry.status,
        "published_at": entry.published_at,
    }


def _sources(entry_ids: Sequence[int] | None = None, *, after: int = 0, limit: int | None = None
             ) -> list[dict[str, Any]]:
    from govshare.catalog.models import CatalogEntry, InformationItem

    qs = (CatalogEntry.objects.select_related("provider", "current_version__classification",
                                              "open_version__classification").order_by("pk"))
    qs = qs.filter(pk__in=list(entry_ids)) if entry_ids is not None else qs.filter(pk__gt=after)
    rows = list(qs[:limit] if limit else qs)
    shown = {e.pk: (e.current_version_id or e.open_version_id) for e in rows}
    items: dict[int, list[str]] = {}
    version_ids = [v for v in shown.values() if v]
    for version_id, name in (InformationItem.objects.filter(version_id__in=version_ids)
                             .order_by("version_id", "position").values_list("version_id", "name")):
        items.setdefault(version_id, []).append(name)
    out = []
    for entry in rows:
        src = entry_source(entry, items.get(shown[entry.pk] or 0, []))
        if src is not None:
            out.append(src)
    return out


def _iter_all_sources(batch: int = 2000) -> Iterator[list[dict[str, Any]]]:
    from govshare.catalog.models import CatalogEntry

    after = 0
    while True:
        ids = list(CatalogEntry.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return
        after = ids[-1]
        yield _sources(ids)


# ---------------------------------------------------------------------- writing

class IndexBusy(Exception):
    pass


def _pending_path() -> Path:
    return _version_dir() / "pending-ids"


def _marker_path() -> Path:
    return _version_dir() / "rebuilding"


def _append_pending(ids: Iterable[int]) -> None:
    text = "".join(f"{int(i)}\n" for i in ids)
    if not text:
        return
    with open(_pending_path(), "a", encoding="ascii") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(text)
        fh.flush()


def _take_pending() -> set[int]:
    path = _pending_path()
    if not path.exists():
        return set()
    with open(path, "r+", encoding="ascii") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        lines = fh.read().split()
        fh.seek(0)
        fh.truncate()
    return {int(x) for x in lines if x.isdigit()}


def _apply(writer: tantivy.IndexWriter, ids: Iterable[int]) -> int:
    ids = sorted(set(ids))
    for entry_id in ids:  # (delete_documents_by_term misses u64 fields in tantivy-py 0.27: use a query)
        writer.delete_documents_by_query(Query.term_query(SCHEMA, "entry_id", entry_id))
    added = 0
    for src in _sources(ids):
        writer.add_document(build_document(src))
        added += 1
    return added


def update_entries(entry_ids: Iterable[int], *, wait: float = WRITER_WAIT_SECONDS) -> int:
    """Re-index these entries from the database (deleted ones leave the index); returns how many
    documents were written.  While a rebuild holds the writer, the ids wait in a pending list that
    the rebuild (or the next update) applies."""
    engine = get_engine()
    _append_pending(entry_ids)
    writer = engine.writer(wait=0.0 if _marker_path().exists() else wait)
    if writer is None:
        log.info("search index busy: %s queued", _pending_path())
        return 0
    pending = _take_pending()
    try:
        added = _apply(writer, pending)
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.rollback()
        _append_pending(pending)  # not lost: the next writer tries again
        raise
    finally:
        del writer
    engine.reload()
    return added


def rebuild(progress: Callable[[int, int], Any] | None = None, *, wait: float = WRITER_WAIT_SECONDS) -> int:
    """Recreate the whole index from the database in one writer, one commit; returns the number of
    documents.  Searches see the old index until the commit."""
    from django.utils import timezone

    from govshare.catalog.models import CatalogEntry, SearchIndexState

    engine = get_engine(lazy_build=False)
    total = CatalogEntry.objects.count()
    big = total > 20_000  # one big in-memory segment per thread: few segments, fast searches
    writer = engine.writer(heap=REBUILD_HEAP if big else UPDATE_HEAP,
                           threads=max(1, min(2, os.cpu_count() or 1)) if big else 1, wait=wait)
    if writer is None:
        raise IndexBusy(str(engine.path))
    marker = _marker_path()
    marker.write_text(str(os.getpid()), encoding="ascii")
    count = 0
    pending: set[int] = set()
    try:
        writer.delete_all_documents()
        for batch in _iter_all_sources():
            for src in batch:
                writer.add_document(build_document(src))
            count += len(batch)
            if progress is not None:
                progress(count, total)
        pending = _take_pending()
        if pending:
            _apply(writer, pending)
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.rollback()
        _append_pending(pending)
        raise
    finally:
        del writer
        marker.unlink(missing_ok=True)
    engine.reload()
    if _pending_path().exists() and _pending_path().stat().st_size:
        update_entries([])  # changes queued while the rebuild finished
    for old in index_dir().glob("v*"):
        if old.is_dir() and old.name != f"v{SCHEMA_VERSION}":
            shutil.rmtree(old, ignore_errors=True)
    state, _created = SearchIndexState.objects.get_or_create(pk=1)
    state.rebuilt_at = timezone.now()
    state.documents = engine.index.searcher().num_docs
    state.save(update_fields=["rebuilt_at", "documents"])
    return count


# ---------------------------------------------------------------------- searching

def load_synonyms() -> dict[str, list[str]]:
    from govshare.catalog.models import Synonym

    return {term: list(expansions or []) for term, expansions in Synonym.objects.values_list("term", "expansions")}


def _enum_labels() -> dict[str, dict[str, str]]:
    from govshare.catalog.enums import FormatClass, OpenAttribute, ShareType, UpdateCycle
    from govshare.catalog.models import CatalogEntry

    return {
        "share_type": {c.value: str(c.label) for c in ShareType},
        "open_attribute": {c.value: str(c.label) for c in OpenAttribute},
        "format_class": {c.value: str(c.label) for c in FormatClass},
        "update_cycle": {c.value: str(c.label) for c in UpdateCycle},
        "status": {c.value: str(c.label) for c in CatalogEntry.Status},
    }


def _check(q: str, filters: Mapping[str, Sequence[str]] | None, sort: str) -> None:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed

    if sort not in SORTS:
        raise ValidationFailed("invalid_sort", _("Unknown sort order %(value)s: use relevance, date or code."),
                               field="sort", value=sort)
    for key in filters or {}:
        if key not in FACET_FIELDS:
            raise ValidationFailed("unknown_filter", _("Unknown filter %(value)s: use %(choices)s."),
                                   field="filters", value=key, choices=", ".join(FACET_KEYS))
    if len(q or "") > MAX_QUERY_CHARS:
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field="q", max=MAX_QUERY_CHARS)


def search(user: Any, q: str = "", *, filters: Mapping[str, Sequence[str]] | None = None,
           sort: str = "relevance", page: int = 1, per_page: int = 20,
           facet_keys: Sequence[str] | None = None) -> SearchResult:
    """Search the catalog as ``user`` sees it (CAT-9).  ``filters``: facet key → values (OR within a
    key, AND across keys); ``classification`` takes a 项 (or any longer classification code) and
    ``provider`` department codes.  Facet counts are over the whole filtered result set."""
    from govshare.catalog.models import CatalogEntry, Classification
    from govshare.core.models import Department
    from govshare.core.permissions import restrict

    _check(q, filters, sort)
    page = max(1, int(page or 1))
    per_page = max(1, min(100, int(per_page or 20)))
    keys = [k for k in (facet_keys if facet_keys is not None else FACET_KEYS) if k in FACET_FIELDS]
    departments = {d.pk: d for d in Department.objects.all()}
    by_code = {d.code.lower(): d.pk for d in departments.values()}
    engine_filters: dict[str, list[str]] = {}
    for key, values in (filters or {}).items():
        values = [str(v).strip() for v in (values if isinstance(values, list | tuple | set) else [values])]
        values = [v for v in values if v]
        if not values:
            continue
        if key == "provider":
            values = [str(by_code[v.lower()]) if v.lower() in by_code else f"unknown:{v}" for v in values]
        engine_filters[key] = values
    raw = get_engine().query(q or "", synonyms=load_synonyms(), audience=audience_for(user),
                             filters=engine_filters, sort=sort, offset=(page - 1) * per_page, limit=per_page,
                             facet_keys=keys)
    # hits: re-read through the permission chokepoint (a stale index never shows an invisible row)
    ids = [entry_id for entry_id, _score in raw.hits]
    rows = {e.pk: e for e in restrict(CatalogEntry, user, "view").filter(pk__in=ids).select_related(
        "provider", "current_version__classification", "open_version__classification")}
    hits = []
    for entry_id, score in raw.hits:
        entry = rows.get(entry_id)
        version = (entry.current_version or entry.open_version) if entry is not None else None
        if entry is None or version is None:
            continue
        hits.append(Hit(entry_id=entry.pk, code=entry.code, name=version.name, summary=version.summary,
                        provider_code=entry.provider.code, provider_name=entry.provider.name,
                        classification=version.classification.code, share_type=version.share_type,
                        open_attribute=version.open_attribute, format_class=version.format_class,
                        update_cycle=version.update_cycle, domain=version.domain, status=entry.status,
                        published_at=entry.published_at, score=score))
    labels = _enum_labels()
    cls_values = [v for v, _n in raw.facets.get("classification", [])]
    cls_names = dict(Classification.objects.filter(code__in=cls_values).values_list("code", "name"))
    facets: dict[str, list[FacetValue]] = {}
    for key in keys:
        out = []
        for value, count in raw.facets.get(key, []):
            if key == "provider":
                dept = departments.get(int(value)) if value.isdigit() else None
                if dept is None:
                    continue
                out.append(FacetValue(dept.code, dept.name, count))
            elif key == "classification":
                out.append(FacetValue(value, cls_names.get(value, value), count))
            else:
                out.append(FacetValue(value, labels.get(key, {}).get(value, value), count))
        facets[key] = out
    return SearchResult(total=raw.total, page=page, per_page=per_page, hits=hits, facets=facets,
                        query_terms=raw.parsed.words, expansions=raw.parsed.expansions)
