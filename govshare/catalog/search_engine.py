"""The catalog search engine (CAT-9): a tantivy index of the catalog, segmented with rjieba and the
platform's own dictionary.  Django-free — it works on plain dicts; :mod:`govshare.catalog.search` is
the Django layer (visibility, documents from models, settings) and ``bench/catalog_search.py``
drives this module directly.

Words.  Every text of an entry — name, keywords, summary, item names, the names of its
classification path (类/项/目/细目, e.g. 102 法人单位信息 › 102001 企业和市场主体) and the provider's
name and short name — is indexed word by word (tantivy's whitespace tokenizer) as segmented by
:class:`Dictionary`: ``rjieba.cut`` with the platform's own words kept whole (see below), each word
followed by its parts (``cut_for_search``: 社会保险 → 社会 / 保险 / 社会保险).  A query is segmented
the same way, without the parts, and *every* query word must match.  A word of one or two
characters matches whole indexed words only — 人口 finds 户籍人口基本信息, 口基 does not; a Chinese
word of three or more characters also matches inside longer text, through a trigram field
(驾驶证 in 机动车驾驶证), where segmentation in context would miss it.  A query of a single character
matches single characters of the name and keywords.

The platform's words.  jieba does not know local names: it cuts 龙南市 as 龙 / 南市, so 龙南 found
nothing.  A :class:`Dictionary` of custom words — jurisdiction names (and their stems: 龙南市 → 龙南),
department names and short names (and their stems: 卫健委 → 卫健) and the centre's word list
(``SearchWord``) — is applied identically to documents and queries (rjieba has no ``add_word``):
custom words of three or more characters are found in the raw text first (greedy longest match),
shorter ones by joining adjacent jieba tokens; a custom word is kept whole and, in documents, also
yields its sensible parts (the custom words inside it, its stem, jieba's parts unless jieba cuts it
into orphan characters).  Changing the dictionary therefore needs a reindex.

Synonyms.  Each query word also matches its expansions in the centre-edited synonym table
(社保 → 社会保险 | 社会保障, 法人 → 市场主体 | 企业 | 单位 …), and a full term matches its
abbreviation; they are read at query time, so editing them needs no reindex.

Typos.  When a query finds nothing, each of its words that is not in the index (身分证, 户藉,
驾驶症 — a lone character is joined to its neighbour first) is matched with one edit of distance
(tantivy's fuzzy term query) and the hits are ranked by the characters they share with the query.
"Not in the index" means: in no document the user may see (see Visibility).

Codes.  Resource codes (``301/000001``), classification codes (and their prefixes), department codes
and USCCs match exactly.

Visibility.  Each document carries audience tokens computed from the entry (``public`` = published
and open, ``hidden`` = not published, ``dept:<id>`` = its provider); an :class:`Audience` restricts a
query to what a user may see (the Django layer maps users to audiences).  Every statistic that
decides *which* documents a query returns — the total, the facet counts, whether a word is known (and
so whether the typo fallback runs) — is computed within the user's visibility (SEC-2): the answer is
the same whether or not documents the user cannot see exist, so a search can neither reveal a draft
nor be switched off by one.  Whole-index counts (``doc_freq``) are only used where they cannot change
that answer (a word absent from the index is absent from what anyone sees; one counted in more
documents than can be deleted or invisible is in a visible one — see ``Engine._slack``).  Not so the relevance
*scores*: BM25's statistics (document frequencies, document count, average lengths) and the
:data:`BROAD_WORD_DOCS` cut are index-wide — tantivy offers no per-query statistics — so a score
(and the order of hits of unequal score) can shift slightly with invisible documents.

Counts and facets.  One ``Searcher.aggregate`` pass over the whole filtered result set gives the
terms counts of every facet (fast fields); the total is the sum of the ``status`` buckets (every
document has exactly one status).  The page of hits is a second, top-k search (see ``Engine._page``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rjieba
import tantivy
from tantivy import Occur, Query

log = logging.getLogger(__name__)

#: bump when the schema or the way documents are built changes; the index then lives in a new
#: sub-directory and is rebuilt lazily (small catalogs) or by ``govshare catalog reindex``
SCHEMA_VERSION = 3

FACET_KEYS = ("classification", "provider", "share_type", "open_attribute", "format_class", "update_cycle",
              "domain", "status")
#: index field of each facet/filter key (raw tokenizer, fast)
FACET_FIELDS = {"classification": "cls", "provider": "provider", "share_type": "share_type",
                "open_attribute": "open_attribute", "format_class": "format_class",
                "update_cycle": "update_cycle", "domain": "domain", "status": "status"}
SORTS = ("relevance", "date", "code")
OPEN_VALUES = ("open", "on_application")
PUBLISHED = "published"

#: relevance: name over keywords over summary over item names over the classification path, the
#: concrete format (GeoJSON, Oracle 19c) and the provider's names.  The words of each part go into
#: one field this many times, so one posting list per word serves both matching and BM25 ranking
#: (term frequency 6 > 4 > 3 > 2 > 1 keeps that order: ranking several boosted fields cost several
#: times more on broad queries); as term frequency saturates, a word of the name also scores in the
#: small ``title`` field (:data:`TITLE_BOOST`), so 纳税人登记信息 leads for 纳税人
WEIGHTS = {"name": 6, "keywords": 4, "summary": 3, "items": 2, "classification": 3, "format": 1, "provider": 1}
CODE_BOOST = 10.0
#: words of the classification path that say nothing about an entry (基础信息资源, 人口信息 …)
GENERIC_PATH_WORDS = frozenset({"信息", "资源", "信息资源", "数据"})
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 12
MAX_WINDOW = 10_000  # deepest hit reachable by paging
MAX_CANDIDATES = 1_000  # unrestricted top hits checked against visibility and filters (see Engine._page)
FACET_SIZE = 10_000  # more than any facet's distinct values, so the counts are exact

UPDATE_HEAP = 50_000_000
REBUILD_HEAP = 400_000_000

#: function words dropped from queries (they are not what people look for)
STOPWORDS = frozenset({"的", "和", "与", "及", "或", "等", "了", "在", "是", "之", "其", "以及", "有关", "相关"})
_WORDLIKE = re.compile(r"\w")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{3,}")
_CJK_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{2,}")
_CODE_WORD = re.compile(r"[0-9a-z][0-9a-z/._-]*")
_RESOURCE_CODE = re.compile(r"\d+/\d*")


# ====================================================================== the platform's words

#: kinds of custom word: a place (its stem drops the administrative suffix; jieba's parts of a
#: place name are noise: 龙南市 → 龙 / 南市), an organisation (its stem drops 局/委/中心 …) and a
#: word of the centre's list (a place suffix is dropped too: 杨村镇 → 杨村)
PLACE, ORG, WORD = "place", "org", "word"
PLACE_SUFFIXES = ("特别行政区", "自治州", "自治县", "自治区", "自治旗", "街道", "社区", "省", "市", "县", "区", "镇",
                  "乡", "村", "旗")
ORG_SUFFIXES = ("委员会", "中心", "局", "委", "厅", "办", "院", "所", "站", "队")
#: custom words of at least this many characters are looked for in raw text (longest first);
#: shorter ones only where jieba's tokens spell them (人社 must not cut 个人社保 into 个/人社/保)
RAW_MATCH_CHARS = 3
SHORT_TEXT_CHARS = 40
TEXT_CACHE_SIZE = 20_000


def stem(word: str, kind: str) -> str:
    """龙南市 → 龙南, 卫健委 → 卫健, 市场监管局 → 市场监管 (kept only when two characters or more
    remain).  A word of the centre's list ending like a place is taken for one (杨村镇 → 杨村)."""
    suffixes = ORG_SUFFIXES if kind == ORG else PLACE_SUFFIXES
    for suffix in suffixes:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[:-len(suffix)]
    return ""


def _wordlike(tokens: Iterable[str]) -> list[str]:
    return [t for t in tokens if t.strip() and _WORDLIKE.search(t)]


class Dictionary:
    """The platform's own words, used by segmentation at index *and* query time.

    ``words``: (word, kind) pairs — :data:`PLACE`, :data:`ORG` or :data:`WORD`.  Stems of places and
    organisations are words too.  Two dictionaries of the same words segment alike; building one
    compiles two regular expressions, so the Django layer keeps one per word list."""

    def __init__(self, words: Iterable[tuple[str, str]] = ()) -> None:
        kinds: dict[str, str] = {}
        for raw, kind in words:
            word = normalize(raw).strip()
            if len(word) >= 2 and " " not in word:
                kinds.setdefault(word, kind)
        # stems of the simple names (卫健委 → 卫健), not of names made of others (龙南市公安局)
        for word, kind in list(kinds.items()):
            base = stem(word, kind)
            if base and not any(other != word and other in word for other in kinds):
                kinds.setdefault(base, kind)
        self.kinds = kinds
        long_words = sorted((w for w in kinds if len(w) >= RAW_MATCH_CHARS), key=lambda w: (-len(w), w))
        self._raw = re.compile("|".join(re.escape(w) for w in long_words)) if long_words else None
        self._longest = max((len(w) for w in kinds), default=0)
        short_words = sorted(w for w in kinds if len(w) < RAW_MATCH_CHARS)
        self._short = re.compile("|".join(re.escape(w) for w in short_words)) if short_words else None
        self._parts_cache: dict[str, tuple[str, ...]] = {}
        self._text_cache: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.kinds)

    def __contains__(self, word: object) -> bool:
        return word in self.kinds

    # ---------------------------------------------------------------- segmentation

    def _spans(self, text: str) -> list[tuple[str, bool]]:
        """``text`` as (piece, is a custom word): long custom words first, by greedy longest match."""
        if self._raw is None:
            return [(text, False)]
        out: list[tuple[str, bool]] = []
        pos = 0
        for match in self._raw.finditer(text):
            if match.start() > pos:
                out.append((text[pos:match.start()], False))
            out.append((match.group(), True))
            pos = match.end()
        if pos < len(text):
            out.append((text[pos:], False))
        return out

    def _join(self, tokens: list[str]) -> list[tuple[str, bool]]:
        """Join adjacent jieba tokens that spell a custom word (龙 + 南 → 龙南)."""
        out: list[tuple[str, bool]] = []
        i = 0
        while i < len(tokens):
            taken = 0
            if self.kinds:
                length = 0
                for j in range(i, min(len(tokens), i + 8)):
                    length += len(tokens[j])
                    if length > self._longest:
                        break
                    if j > i or len(tokens[i]) >= 2:
                        joined = "".join(tokens[i:j + 1])
                        if joined in self.kinds:
                            taken = j + 1 - i
            if taken:
                out.append(("".join(tokens[i:i + taken]), True))
                i += taken
            else:
                out.append((tokens[i], False))
                i += 1
        return out

    def tokens(self, text: str) -> list[tuple[str, bool]]:
        """The words of ``text`` (normalized) in order, each with whether it is a custom word."""
        out: list[tuple[str, bool]] = []
        for piece, custom in self._spans(text):
            if custom:
                out.append((piece, True))
            elif self._short is not None and self._short.search(piece):
                out += self._join(rjieba.cut(piece))
            else:
                out += [(t, False) for t in rjieba.cut(piece)]
        return [(t, custom) for t, custom in out if t.strip() and _WORDLIKE.search(t)]

    def query_words(self, text: str) -> list[str]:
        """How a query chunk is segmented: the words only, custom words whole."""
        return [t for t, _custom in self.tokens(text)]

    def index_words(self, text: str) -> list[str]:
        """How a document text is segmented: every word followed by its parts.  Short texts — the
        names of providers and classifications, repeated across entries — are segmented once."""
        if len(text) > SHORT_TEXT_CHARS:
            return self._index_words(text)
        cached = self._text_cache.get(text)
        if cached is None:
            if len(self._text_cache) >= TEXT_CACHE_SIZE:
                self._text_cache.clear()
            cached = self._text_cache[text] = self._index_words(text)
        return cached

    def _index_words(self, text: str) -> list[str]:
        out: list[str] = []  # (punctuation and spaces stay: never queried, cheaper than filtering)
        for piece, custom in self._spans(text):
            if custom:
                out += self.parts(piece)
            elif self._short is not None and self._short.search(piece):
                for token, joined in self._join(rjieba.cut(piece)):
                    out += self.parts(token) if joined else rjieba.cut_for_search(token)
            else:  # (cut_for_search of a text is that of its words in turn)
                out += rjieba.cut_for_search(piece)
        return out

    def parts(self, word: str) -> tuple[str, ...]:
        """A custom word, then what inside it people may type: the custom words it contains (with
        their parts), its stem, and jieba's parts — unless jieba leaves an orphan character, the
        sign of a name it does not know (龙南市 → 龙 / 南市)."""
        cached = self._parts_cache.get(word)
        if cached is not None:
            return cached
        kind = self.kinds.get(word, WORD)
        found: list[str] = [word]
        base = stem(word, kind)
        if base in self.kinds:
            found.append(base)
        inner = self._inner(word)
        if len(inner) > 1:  # 龙南市公安局 → 龙南市 (龙南) + 公安局 (公安)
            for piece, custom in inner:
                found += self.parts(piece) if custom else [
                    t for t in _wordlike(rjieba.cut_for_search(piece)) if len(t) >= 2]
        elif kind != PLACE:
            cut = rjieba.cut(word)
            orphans = [t for t in cut[:-1] if len(t) == 1]  # a last single character is a suffix (局)
            if not orphans:
                found += [t for t in _wordlike(rjieba.cut_for_search(word)) if len(t) >= 2]
        result = tuple(dict.fromkeys(found))
        self._parts_cache[word] = result
        return result

    def _inner(self, word: str) -> list[tuple[str, bool]]:
        """``word`` segmented without itself as a custom word."""
        out: list[tuple[str, bool]] = []
        pos = 0
        while pos < len(word):
            best = ""
            for end in range(len(word), pos + 1, -1):
                candidate = word[pos:end]
                if candidate != word and candidate in self.kinds and len(candidate) >= 2:
                    best = candidate
                    break
            if best:
                out.append((best, True))
                pos += len(best)
            else:
                # the characters up to the next custom word are plain text
                nxt = pos + 1
                while nxt < len(word) and not any(word[nxt:end] in self.kinds and word[nxt:end] != word
                                                  for end in range(len(word), nxt + 1, -1)):
                    nxt += 1
                out.append((word[pos:nxt], False))
                pos = nxt
        return out


EMPTY_DICTIONARY = Dictionary()


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
    sb.add_text_field("title", tokenizer_name="whitespace", index_option="freq")  # the name's words (ranking)
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


def build_document(src: Mapping[str, Any], dictionary: Dictionary = EMPTY_DICTIONARY) -> tantivy.Document:
    """One index document from a plain dict (see ``govshare.catalog.search.entry_source`` for the
    keys), segmented with ``dictionary`` (the same one queries use)."""
    doc = tantivy.Document()
    doc.add_unsigned("entry_id", int(src["entry_id"]))
    texts = {
        "name": normalize(src["name"]),
        "keywords": normalize(" ".join(src.get("keywords") or [])),
        "summary": normalize(src.get("summary") or ""),
        "items": normalize(" ".join(src.get("items") or [])),
        "classification": normalize(" ".join(src.get("classification_names") or [])),
        "format": normalize(src.get("format") or ""),
        "provider": normalize(" ".join(src.get("provider_names") or [])),
    }
    segmented: list[str] = []
    for name, text in texts.items():
        if text:
            # the whitespace tokenizer takes the words as they are (punctuation words are never queried)
            parts = dictionary.index_words(text)
            if name == "classification":  # 信息资源 is in every path: it would only slow 信息 down
                parts = [w for w in parts if w not in GENERIC_PATH_WORDS]
            words = " ".join(parts)
            segmented += [words] * WEIGHTS[name]
            if name in ("name", "classification"):
                doc.add_text("title", words)
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
    trigrams), ``code``, ``char``, ``fuzzy`` (an indexed word one edit away), or ``and``/``or`` of
    children."""

    kind: str
    value: str = ""
    children: list[Node] = field(default_factory=list)
    weight: float = 1.0  # relevance factor (a synonym counts less than the word typed)


@dataclass
class ParsedQuery:
    words: list[str]  # the query words as segmented (for display and highlighting)
    expansions: dict[str, list[str]]  # word → the synonyms it was expanded to
    node: Node | None  # None: no words (browse)
    word_nodes: dict[str, Node] = field(default_factory=dict)  # word → its part of ``node``
    approximate: list[str] = field(default_factory=list)  # words matched with one edit (see Engine.query)


def _or(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Node("or", children=nodes)


def _and(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Node("and", children=nodes)


#: a match through a synonym scores this share of a match of the word typed
SYNONYM_WEIGHT = 0.6
#: a query word in the entry's name scores this much more (weights in one field saturate in BM25)
TITLE_BOOST = 1.5
#: a query word in more documents than this ranks by the word field only (no ``title`` clause)
BROAD_WORD_DOCS = 50_000
#: an entry matching several alternatives of one query word (the word, its synonyms, the text
#: around it) scores its best one plus this share of the others
TIE_BREAKER = 0.1

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


def _phrase_node(text: str, dictionary: Dictionary) -> Node | None:
    """A synonym's full term: matched as it is written (Chinese: as a substring), else word by word."""
    text = normalize(text).strip()
    if _CJK_RUN.fullmatch(text) or text in dictionary:
        return _word_node(text)
    tokens = dictionary.query_words(text)
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


def parse_query(q: str, synonyms: Mapping[str, Sequence[str]] | None = None,
                dictionary: Dictionary = EMPTY_DICTIONARY) -> ParsedQuery:
    """Segment ``q`` with ``dictionary`` and expand every word through ``synonyms`` (term → full terms)."""
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
        for token in _merge_synonym_terms(dictionary.query_words(chunk), syn):
            found.append((token, len(chunk) == 1 and bool(_CJK_CHAR.fullmatch(chunk))))
    if len(found) > 1:
        kept = [f for f in found if f[0] not in STOPWORDS]
        found = kept or found[:1]
    seen: set[str] = set()
    nodes: list[Node] = []
    word_nodes: dict[str, Node] = {}
    shown: list[str] = []
    expansions: dict[str, list[str]] = {}
    for word, single in found[:MAX_QUERY_WORDS]:
        if word in seen:
            continue
        seen.add(word)
        shown.append(word)
        if _RESOURCE_CODE.fullmatch(word):
            nodes.append(Node("code", word))
            word_nodes[word] = nodes[-1]
            continue
        alternatives = [_word_node(word)]
        if single:
            alternatives.append(Node("char", word))
        for e in syn.get(word, []):
            phrase = _phrase_node(e, dictionary)
            if phrase is not None:
                phrase.weight = SYNONYM_WEIGHT
                alternatives.append(phrase)
        for term in reverse.get(word, []):
            alternatives.append(_word_node(term))
            alternatives[-1].weight = SYNONYM_WEIGHT
        used = syn.get(word, []) + reverse.get(word, [])
        if used:
            expansions[word] = used
        nodes.append(_or(alternatives))
        word_nodes[word] = nodes[-1]
    return ParsedQuery(words=shown, expansions=expansions, node=_and(nodes) if nodes else None,
                       word_nodes=word_nodes)


#: a word missing from the index is matched with one edit when it has this many characters, or two
#: when another query word matches exactly (户藉 人口); a lone two-character typo (口基) is too loose
FUZZY_ALONE_CHARS = 3


def typo_query(parsed: ParsedQuery, known: Callable[[str], bool]) -> ParsedQuery | None:
    """The query again with each word that is not in the index (``known`` says) matched with one
    edit — a lone unknown character joined to its neighbour first (驾驶 + 症 → 驾驶症 ≈ 驾驶证).
    None: every word is known (then nothing near is meant either: 人口 食品 stays empty)."""
    words = [w for w in parsed.words if w in parsed.word_nodes]
    # a lone character next to a Chinese word is the rest of a mistyped word: 公积 + 经, 驾驶 + 症
    joined: list[list[Any]] = []  # [text, joined]
    for word in words:
        lone = len(word) == 1 and _CJK_CHAR.fullmatch(word) is not None
        if joined and _CJK_CHAR.match(word) and _CJK_CHAR.search(joined[-1][0][-1]) and (
                lone or (len(joined[-1][0]) == 1 and not joined[-1][1])):
            joined[-1] = [joined[-1][0] + word, True]
        else:
            joined.append([word, False])
    groups = [(text, not was_joined and known(text)) for text, was_joined in joined]
    if all(ok for _w, ok in groups):
        return None
    any_known = any(ok for _w, ok in groups)
    nodes: list[Node] = []
    approximate: list[str] = []
    for text, ok in groups:
        if ok:
            nodes.append(parsed.word_nodes[text])
        elif (len(text) >= FUZZY_ALONE_CHARS or any_known) if _CJK_WORD.fullmatch(text) else len(text) >= 4:
            approximate.append(text)  # (letters and digits: from four on)
            nodes.append(Node("fuzzy", text))
        else:
            return None  # a word that cannot be matched approximately: nothing is found
    return ParsedQuery(words=parsed.words, expansions=parsed.expansions, node=_and(nodes),
                       word_nodes=parsed.word_nodes, approximate=approximate)


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
            if not rank:
                return Query.term_query(self.schema, "words", node.value, index_option="basic")
            if self.index.searcher().doc_freq("words", node.value) > BROAD_WORD_DOCS:
                # a word this common (信息, 企业): the title clause would cost more than it tells
                return Query.term_query(self.schema, "words", node.value, index_option="freq")
            return Query.boolean_query([
                (Occur.Must, Query.term_query(self.schema, "words", node.value, index_option="freq")),
                (Occur.Should, Query.boost_query(Query.term_query(self.schema, "title", node.value,
                                                                  index_option="freq"), TITLE_BOOST))])
        if node.kind == "substring":
            grams = [Query.term_query(self.schema, "tri", g, index_option="basic") for g in trigrams(node.value)]
            return grams[0] if len(grams) == 1 else Query.boolean_query([(Occur.Must, g) for g in grams])
        if node.kind == "fuzzy":
            fuzzy = Query.fuzzy_term_query(self.schema, "words", node.value, distance=1, transposition_cost_one=True)
            if not rank:
                return fuzzy
            # ranked by the characters the hit's name and keywords share with the typed word
            shared = [(Occur.Should, Query.term_query(self.schema, "chars", ch, index_option="basic"))
                      for ch in dict.fromkeys(node.value)]
            return Query.boolean_query([(Occur.Must, fuzzy), *shared])
        fieldname = "codes" if node.kind == "code" else "chars"
        query = Query.term_query(self.schema, fieldname, node.value, index_option="basic")
        return Query.boost_query(query, CODE_BOOST) if rank and node.kind == "code" else query

    def compile(self, node: Node, rank: bool = False) -> Query:
        if node.kind == "and":
            query = Query.boolean_query([(Occur.Must, self.compile(c, rank)) for c in node.children])
        elif node.kind == "or" and rank:
            query = Query.disjunction_max_query([self.compile(c, rank) for c in node.children], TIE_BREAKER)
        elif node.kind == "or":
            query = Query.boolean_query([(Occur.Should, self.compile(c, rank)) for c in node.children])
        else:
            query = self._leaf(node, rank)
        return Query.boost_query(query, node.weight) if rank and node.weight != 1.0 else query

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

    def _visibility(self, audience: Audience | None) -> list[tuple[Occur, Query]]:
        """The visibility clauses of ``audience`` alone (no filters): the scope of every statistic
        that decides what a query returns (see :meth:`_known`)."""
        return self._restrictions(audience, None)

    @staticmethod
    def _slack(searcher: tantivy.Searcher, audience: Audience | None) -> int:
        """A word counted (``doc_freq``) in more documents than this is surely in a live document
        ``audience`` may see: term counts include deleted documents until a merge, and at most this
        many of them are deleted or invisible (every document has one ``status`` term; ``public`` and
        ``hidden`` bound the invisible ones).  It spares the query of :meth:`_known` for common words."""
        everything = sum(count for _term, count in searcher.terms_with_prefix("status", ""))
        deleted = max(0, everything - searcher.num_docs)
        if audience is None:
            return deleted
        if audience.public:  # invisible ≤ live documents − live public ones, ≥ doc_freq(public) − deleted
            return 2 * deleted + searcher.num_docs - searcher.doc_freq("aud", "public")
        return deleted + searcher.doc_freq("aud", "hidden")  # invisible ⊆ hidden

    def _known(self, searcher: tantivy.Searcher, visibility: list[tuple[Occur, Query]], slack: int,
               word: str) -> bool:
        """Is ``word`` an indexed word, a code, or (Chinese, three characters or more) text inside a
        longer word, in a live document ``visibility`` lets the user see?

        Decided within the visibility clauses, never by counts over the whole index (SEC-2, CAT-9):
        whether a query falls back to one-edit matching must not depend on documents the user cannot
        see — a draft holding 执炤 would otherwise switch the correction of 营业执炤 off for the public
        and tell them that such a draft exists.  Whole-index counts only settle what they prove: a
        word absent from the index is absent from what anyone sees, and one counted in more than
        ``slack`` documents (see :meth:`_slack`) is in a visible one; otherwise one query decides."""
        alternatives: list[Query] = []
        for fieldname in ("words", "codes"):
            freq = searcher.doc_freq(fieldname, word)
            if freq > slack:
                return True
            if freq:
                alternatives.append(self._term(fieldname, word))
        if len(word) >= MIN_SUBSTRING_CHARS and _CJK_RUN.fullmatch(word) and all(
                searcher.doc_freq("tri", g) for g in trigrams(word)):
            alternatives.append(self._leaf(Node("substring", word), rank=False))  # its trigrams, in one document
        if not alternatives:
            return False
        match = alternatives[0] if len(alternatives) == 1 else Query.boolean_query(
            [(Occur.Should, q) for q in alternatives])
        query = Query.boolean_query([(Occur.Must, Query.const_score_query(match, 0.0)), *visibility])
        return bool(searcher.search(query, 1, count=False).hits)

    def _facets(self, searcher: tantivy.Searcher, positive: Query | None, restrictions: list[tuple[Occur, Query]],
                keys: list[str]) -> dict[str, list[tuple[str, int]]]:
        aggs = {key: {"terms": {"field": FACET_FIELDS[key], "size": FACET_SIZE}} for key in keys}
        raw = searcher.aggregate(self._combine(positive, restrictions), aggs)
        facets: dict[str, list[tuple[str, int]]] = {}
        for key in keys:
            buckets = raw.get(key, {}).get("buckets", [])
            facets[key] = sorted(((str(b["key"]), int(b["doc_count"])) for b in buckets),
                                 key=lambda kv: (-kv[1], kv[0]))
        return facets

    def query(self, q: str = "", *, synonyms: Mapping[str, Sequence[str]] | None = None,
              dictionary: Dictionary = EMPTY_DICTIONARY, audience: Audience | None = None,
              filters: Mapping[str, Sequence[str]] | None = None, sort: str = "relevance", offset: int = 0,
              limit: int = 20, facet_keys: Iterable[str] = FACET_KEYS) -> RawResult:
        """Count, facet and page the documents matching ``q`` that ``audience`` may see (None:
        everything), within ``filters`` (facet key → indexed values; OR within a key, AND across keys).
        ``dictionary`` must be the one the index was built with.

        Pass 1 aggregates the whole filtered result: the facets, and the total (the sum of the
        ``status`` buckets: every document has one).  When nothing matches and some query word is
        not in the index, the query is tried again with those words one edit away (typos; see
        :func:`typo_query`).  Pass 2 finds the page (see :meth:`_page`)."""
        parsed = parse_query(q, synonyms, dictionary)
        positive = self.compile(parsed.node) if parsed.node else None
        wanted_keys = tuple(facet_keys)
        keys = list(dict.fromkeys([*wanted_keys, "status"]))
        searcher = self.index.searcher()
        restrictions = self._restrictions(audience, filters)
        facets = self._facets(searcher, positive, restrictions, keys)
        total = sum(count for _value, count in facets["status"])
        if not total and parsed.node is not None:
            known = functools.partial(self._known, searcher, self._visibility(audience),
                                      self._slack(searcher, audience))
            relaxed = typo_query(parsed, known)
            if relaxed is not None and relaxed.node is not None:
                parsed, positive = relaxed, self.compile(relaxed.node)
                facets = self._facets(searcher, positive, restrictions, keys)
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


