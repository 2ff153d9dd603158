"""Catalog search (CAT-9), the Django layer over :mod:`govshare.catalog.search_engine`.

It reads entries, synonyms and the platform's words from the database, maps users to what they
may see, keeps the index in ``settings.GOVSHARE_SEARCH_DIR`` current and renders labels.

Documents.  :func:`entry_source` turns an entry into the plain dict the engine indexes: the shown
version's texts, the names of its whole classification path (类/项/目/细目) and the provider's name
and short name — so 法人 finds the entries filed under 102 法人单位信息.  A renamed department or
classification reindexes its entries (``department_changed`` / ``classification_changed``).

The dictionary.  :func:`load_dictionary` gives the engine the platform's own words — jurisdiction
names, department names and short names, and the centre's word list
(:class:`~govshare.catalog.models.SearchWord`) — for segmentation at index *and* query time
(龙南 finds 龙南市…).  Editing the word list starts a reindex job.

Visibility.  :func:`audience_for` maps a user to what they may see, mirroring the rule of
``restrict(CatalogEntry, user, "view")`` in :mod:`govshare.catalog.permissions` (the tests compare
the two).  Hits are re-read from the database through ``restrict`` as well, so a stale index never
shows a row the user may not see.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tantivy
from tantivy import Query

from govshare.catalog.search_engine import (
    FACET_FIELDS,
    FACET_KEYS,
    MAX_QUERY_CHARS,
    MAX_WINDOW,
    ORG,
    PLACE,
    PUBLIC,
    REBUILD_HEAP,
    SCHEMA,
    SCHEMA_VERSION,
    SORTS,
    UPDATE_HEAP,
    WORD,
    Audience,
    Dictionary,
    Engine,
    Node,
    ParsedQuery,
    RawResult,
    build_document,
    code_rank,
    normalize,
    parse_query,
)

__all__ = [
    "FACET_FIELDS", "FACET_KEYS", "MAX_QUERY_CHARS", "MAX_WINDOW", "PUBLIC", "SCHEMA_VERSION", "SORTS", "Audience",
    "Dictionary", "Engine", "FacetValue", "Hit", "IndexBusy", "Node", "ParsedQuery", "RawResult", "SearchResult",
    "audience_for", "build_document", "code_rank", "entry_source", "get_engine", "index_dir", "load_dictionary",
    "load_synonyms", "normalize", "parse_query", "rebuild", "search", "update_entries",
]

log = logging.getLogger(__name__)

LAZY_BUILD_LIMIT = 20_000  # a missing index is built on first use when the catalog is this small
WRITER_WAIT_SECONDS = 10.0


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
    approximate: list[str] = field(default_factory=list)  # query words matched with one edit (typos)

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

def classification_names(code: str, names: Mapping[str, str]) -> list[str]:
    """The names along the classification path of ``code`` (类, 项, 目, 细目), from ``names`` (code → name)."""
    return [names[code[:n]] for n in range(1, len(code) + 1) if code[:n] in names]


def _classification_names_by_code() -> dict[str, str]:
    from govshare.catalog.models import Classification

    return dict(Classification.objects.values_list("code", "name"))


def entry_source(entry: Any, items: Sequence[str], class_names: Mapping[str, str] | None = None
                 ) -> dict[str, Any] | None:
    """The plain dict :func:`build_document` indexes for ``entry`` (None: nothing to show).
    ``class_names``: code → name of every classification (read from the database when not given)."""
    version = entry.current_version or entry.open_version
    if version is None:
        return None
    provider = entry.provider
    code = version.classification.code
    names = class_names if class_names is not None else _classification_names_by_code()
    return {
        "entry_id": entry.pk, "code": entry.code, "classification": code,
        "classification_names": classification_names(code, names),
        "name": version.name, "summary": version.summary, "keywords": list(version.keywords or []),
        "items": list(items), "format": version.format, "provider_id": provider.pk,
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
    class_names = _classification_names_by_code()
    for entry in rows:
        src = entry_source(entry, items.get(shown[entry.pk] or 0, []), class_names)
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


def _apply(writer: tantivy.IndexWriter, ids: Iterable[int], dictionary: Dictionary) -> int:
    ids = sorted(set(ids))
    for entry_id in ids:  # (delete_documents_by_term misses u64 fields in tantivy-py 0.27: use a query)
        writer.delete_documents_by_query(Query.term_query(SCHEMA, "entry_id", entry_id))
    added = 0
    for src in _sources(ids):
        writer.add_document(build_document(src, dictionary))
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
        added = _apply(writer, pending, load_dictionary())
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
    from govshare.catalog.actions.search_index import record_rebuild
    from govshare.catalog.models import CatalogEntry

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
    dictionary = load_dictionary()
    try:
        writer.delete_all_documents()
        for batch in _iter_all_sources():
            for src in batch:
                writer.add_document(build_document(src, dictionary))
            count += len(batch)
            if progress is not None:
                progress(count, total)
        pending = _take_pending()
        if pending:
            _apply(writer, pending, dictionary)
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
    record_rebuild(engine.index.searcher().num_docs)
    return count


# ---------------------------------------------------------------------- searching

def load_synonyms() -> dict[str, list[str]]:
    from govshare.catalog.models import Synonym

    return {term: list(expansions or []) for term, expansions in Synonym.objects.values_list("term", "expansions")}


def load_dictionary() -> Dictionary:
    """The platform's own words for segmentation (see :class:`~govshare.catalog.search_engine.Dictionary`):
    jurisdiction names (places), department names and short names (organisations) and the centre's
    word list.  The index must be rebuilt when they change (the word-list actions start the job)."""
    from govshare.catalog.models import SearchWord
    from govshare.core.models import Department, Jurisdiction

    words: list[tuple[str, str]] = [(name, PLACE) for name in Jurisdiction.objects.values_list("name", flat=True)]
    for name, short_name in Department.objects.values_list("name", "short_name"):
        words += [(name, ORG), (short_name, ORG)]
    words += [(word, WORD) for word in SearchWord.objects.values_list("word", flat=True)]
    return _dictionary(tuple(words))


@functools.lru_cache(maxsize=8)
def _dictionary(words: tuple[tuple[str, str], ...]) -> Dictionary:
    return Dictionary(words)  # built once per word list (a search reads the list, not the regexes)


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


#: what a hit shows of the entry's version (current, else the one being worked on)
_HIT_VERSION_FIELDS = ("name", "summary", "classification__code", "share_type", "open_attribute", "format_class",
                       "update_cycle", "domain")


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
    departments = {pk: (code, name) for pk, code, name in Department.objects.values_list("pk", "code", "name")}
    by_code = {code.lower(): pk for pk, (code, _name) in departments.items()}
    engine_filters: dict[str, list[str]] = {}
    for key, values in (filters or {}).items():
        values = [str(v).strip() for v in (values if isinstance(values, list | tuple | set) else [values])]
        values = [v for v in values if v]
        if not values:
            continue
        if key == "provider":
            values = [str(by_code[v.lower()]) if v.lower() in by_code else f"unknown:{v}" for v in values]
        engine_filters[key] = values
    raw = get_engine().query(q or "", synonyms=load_synonyms(), dictionary=load_dictionary(),
                             audience=audience_for(user),
                             filters=engine_filters, sort=sort, offset=(page - 1) * per_page, limit=per_page,
                             facet_keys=keys)
    # hits: re-read through the permission chokepoint (a stale index never shows an invisible row);
    # plain values, not model instances: a page of 20 hits is read on every search
    ids = [entry_id for entry_id, _score in raw.hits]
    rows = {row["pk"]: row for row in restrict(CatalogEntry, user, "view").filter(pk__in=ids).values(
        "pk", "code", "status", "published_at", "provider__code", "provider__name", "current_version_id",
        *(f"{version}__{name}" for version in ("current_version", "open_version") for name in _HIT_VERSION_FIELDS))}
    hits = []
    for entry_id, score in raw.hits:
        row = rows.get(entry_id)
        if row is None:
            continue
        version = "current_version" if row["current_version_id"] is not None else "open_version"
        v = {name: row[f"{version}__{name}"] for name in _HIT_VERSION_FIELDS}
        if v["name"] is None:  # no version at all
            continue
        hits.append(Hit(entry_id=entry_id, code=row["code"], name=v["name"], summary=v["summary"],
                        provider_code=row["provider__code"], provider_name=row["provider__name"],
                        classification=v["classification__code"], share_type=v["share_type"],
                        open_attribute=v["open_attribute"], format_class=v["format_class"],
                        update_cycle=v["update_cycle"], domain=v["domain"], status=row["status"],
                        published_at=row["published_at"], score=score))
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
                out.append(FacetValue(dept[0], dept[1], count))
            elif key == "classification":
                out.append(FacetValue(value, cls_names.get(value, value), count))
            else:
                out.append(FacetValue(value, labels.get(key, {}).get(value, value), count))
        facets[key] = out
    return SearchResult(total=raw.total, page=page, per_page=per_page, hits=hits, facets=facets,
                        query_terms=raw.parsed.words, expansions=raw.parsed.expansions,
                        approximate=raw.parsed.approximate)
