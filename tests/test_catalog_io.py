"""Issue 3 §4: JSON import/export and the DCAT-AP 3 export (JSON-LD and Turtle, rdflib)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, SKOS

from govshare.catalog.actions import do_export_catalog, do_import_catalog
from govshare.catalog.dcat import DCAT, GS, build_graph, dataset_uri, serialize
from govshare.catalog.models import CatalogEntry
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import ManyProblems
from govshare.core.models import AuditEvent
from tests.catalog_helpers import content

EU_FREQ = Namespace("http://publications.europa.eu/resource/authority/frequency/")
EU_ACCESS = Namespace("http://publications.europa.eu/resource/authority/access-right/")
CSVW = Namespace("http://www.w3.org/ns/csvw#")
BASE = "https://data.longnan.example"


def export(user: Any, fmt: str, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    do_export_catalog(user, fmt, out, **kwargs)
    return out.getvalue()


def document(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"format": "govshare-catalog", "format_version": 1, "entries": list(entries)},
                      ensure_ascii=False).encode()


def rejected(user: Any, department: Any, data: bytes) -> list[tuple[Any, Any, str]]:
    before = (CatalogEntry.objects.count(), AuditEvent.objects.filter(code=AuditCode.ENTRY_CREATED).count())
    with pytest.raises(ManyProblems) as info:
        do_import_catalog(user, data, "catalog.json", department)
    audit.flush_pending()
    assert (CatalogEntry.objects.count(), AuditEvent.objects.filter(code=AuditCode.ENTRY_CREATED).count()) == before
    assert not [p for p in info.value.problems if "%(" in p.render("en") or "%(" in p.render("zh-hans")]
    assert AuditEvent.objects.filter(code=AuditCode.CATALOG_IMPORT_REJECTED).exists()
    return [(p.where, p.field, p.code) for p in info.value.problems]


# ------------------------------------------------------------------ JSON


def test_the_json_export_has_the_format_header_and_the_published_entries(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    cat.draft(name="草稿资源")
    doc = json.loads(export(org.market_specialist, "json"))
    assert doc["format"] == "govshare-catalog" and doc["format_version"] == 1 and doc["exported_at"]
    assert doc["count"] == 1 and [e["code"] for e in doc["entries"]] == [entry.code]
    first = doc["entries"][0]
    assert first["provider_code"] == org.police.uscc and first["items"][0]["name"] == "公民身份号码"
    assert AuditEvent.objects.filter(code=AuditCode.CATALOG_EXPORTED, detail__format="json",
                                     actor_id=org.market_specialist.pk).exists()


def test_a_json_export_reimports_unchanged_and_new_entries_are_created(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    doc = json.loads(export(org.police_specialist, "json", department=org.police))
    report = do_import_catalog(org.police_specialist, json.dumps(doc).encode(), "catalog.json", org.police)
    assert (report.format, report.unchanged, report.created) == ("json", 1, 0)
    new = content(name="暂住人口信息", share_type="有条件共享", share_condition="公安业务", share_basis="《居住证暂行条例》",
                  share_methods=["接口"], update_cycle="每月")
    doc["entries"].append(new)
    report = do_import_catalog(org.police_specialist, json.dumps(doc, ensure_ascii=False).encode(),
                               "catalog.json", org.police)
    assert (report.unchanged, report.created) == (1, 1)
    created = CatalogEntry.objects.get(code=report.created_codes[0])
    assert created.open_version.share_type == "conditional" and created.open_version.update_cycle == "monthly"
    assert entry.code in report.codes


def test_json_problems_name_the_entry_and_the_key(cat: Any) -> None:
    org = cat.org
    bad_item = content()["items"]
    bad_item[1] = {**bad_item[1], "length": "很长"}
    data = document(content(), content(name="第二个", share_type="none", items=bad_item),
                    content(name="第三个", keywords={"a": 1}, items=[{"name": "x", "data_type": "C", "length": True}]),
                    "not an object")
    problems = rejected(org.police_specialist, org.police, data)
    assert ("entries[1]", "share_basis", "basis_required") in problems
    assert ("entries[1]", "items[1].length", "invalid_length") in problems
    assert ("entries[2]", "keywords", "wrong_type") in problems
    assert ("entries[2]", "items[0].length", "wrong_type") in problems
    assert ("entries[3]", None, "invalid") in problems


def test_json_duplicate_codes_and_other_departments_are_refused(cat: Any) -> None:
    org = cat.org
    entry = cat.draft()
    data = document({**content(), "code": entry.code}, {**content(name="另一个"), "code": entry.code},
                    {**content(name="第三个"), "provider": "SJ"})
    problems = rejected(org.police_specialist, org.police, data)
    assert ("entries[1]", "code", "duplicate_code") in problems
    assert ("entries[2]", "provider", "other_provider") in problems


@pytest.mark.parametrize(("body", "code"), [
    (b"[1, 2, 3]", "not_catalog_json"),
    (b'"just a string"', "not_catalog_json"),
    (b"{not json", "invalid_json"),
    (b"\xff\xfe{", "not_utf8"),
    (b"[" * 5000 + b"]" * 5000, "too_deep"),
    (json.dumps({"format": "govshare-catalog", "format_version": 1,
                 "entries": [{"name": [[[[[[[["deep"]]]]]]]]}]}).encode(), "too_deep"),
    (json.dumps({"format": "other", "format_version": 9, "entries": []}).encode(), "not_catalog_json"),
    (json.dumps({"format": "govshare-catalog", "format_version": 1, "entries": {}}).encode(), "invalid"),
])
def test_hostile_or_foreign_json_is_refused(cat: Any, body: bytes, code: str) -> None:
    org = cat.org
    problems = rejected(org.police_specialist, org.police, body)
    assert problems[0][2] == code


def test_json_size_and_entry_limits(cat: Any, settings: Any) -> None:
    org = cat.org
    settings.GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES = 2
    assert rejected(org.police_specialist, org.police, document(content(), content(), content()))[0][2] == \
        "too_many_rows"
    settings.GOVSHARE_CATALOG_IMPORT_MAX_BYTES = 100
    assert rejected(org.police_specialist, org.police, document(content()))[0][2] == "file_too_large"


# ------------------------------------------------------------------ DCAT-AP 3


@pytest.fixture
def published(cat: Any) -> dict[str, Any]:
    org = cat.org
    shared = cat.published()
    opened = cat.published(name="机动车登记信息", summary="机动车登记的公开信息。", open_attribute="open",
                           domain="交通", update_cycle="quarterly", format_class="spreadsheet", format="CSV",
                           related_codes=[shared.code])
    return {"shared": shared, "opened": opened, "org": org}


def test_the_turtle_export_parses_back_with_the_expected_triples(published: dict[str, Any]) -> None:
    org, shared, opened = published["org"], published["shared"], published["opened"]
    ttl = export(org.market_specialist, "dcat-ttl", base_uri=BASE)
    g = Graph()
    g.parse(data=ttl.decode(), format="turtle")
    catalog = URIRef(f"{BASE}/catalog")
    ds = dataset_uri(BASE, opened.code)
    assert (catalog, RDF.type, DCAT.Catalog) in g
    assert set(g.objects(catalog, DCAT.dataset)) == {ds, dataset_uri(BASE, shared.code)}
    assert (ds, RDF.type, DCAT.Dataset) in g
    assert (ds, DCTERMS.identifier, Literal(opened.code)) in g
    assert (ds, DCTERMS.title, Literal("机动车登记信息", lang="zh")) in g
    assert (ds, DCAT.keyword, Literal("户籍", lang="zh")) in g
    assert (ds, DCTERMS.accrualPeriodicity, EU_FREQ.QUARTERLY) in g
    assert (ds, DCTERMS.accessRights, EU_ACCESS.PUBLIC) in g
    assert (dataset_uri(BASE, shared.code), DCTERMS.accessRights, EU_ACCESS.NON_PUBLIC) in g
    assert (ds, DCTERMS.relation, dataset_uri(BASE, shared.code)) in g
    assert (ds, GS.shareType, Literal("无条件共享", lang="zh")) in g
    assert (ds, GS.openDataDomain, Literal("交通", lang="zh")) in g
    assert g.value(ds, DCTERMS.issued) is not None and g.value(ds, DCTERMS.modified) is not None
    publisher = g.value(ds, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in g
    assert (publisher, FOAF.name, Literal(org.police.name, lang="zh")) in g
    assert (publisher, DCTERMS.identifier, Literal(org.police.uscc)) in g
    theme = next(t for t in g.objects(ds, DCAT.theme) if (t, SKOS.notation, Literal("301")) in g)
    assert (theme, RDF.type, SKOS.Concept) in g
    scheme = g.value(theme, SKOS.inScheme)
    assert (scheme, RDF.type, SKOS.ConceptScheme) in g and (catalog, DCAT.themeTaxonomy, scheme) in g
    dist = g.value(ds, DCAT.distribution)
    assert (dist, DCTERMS["format"], URIRef("http://publications.europa.eu/resource/authority/file-type/CSV")) in g
    assert (dist, DCAT.mediaType, URIRef("https://www.iana.org/assignments/media-types/text/csv")) in g
    columns = list(g.objects(ds, GS.informationItem))
    assert len(columns) == 3 and all((c, RDF.type, CSVW.Column) in g for c in columns)
    id_column = next(c for c in columns if (c, CSVW.name, Literal("公民身份号码")) in g)
    assert (id_column, GS.primaryKey, Literal(True)) in g
    assert (id_column, GS.maskingRule, Literal("保留前6位和后4位", lang="zh")) in g


@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib.*")
def test_the_json_ld_export_describes_the_same_graph(published: dict[str, Any]) -> None:
    org = published["org"]
    ttl, jsonld = export(org.market_specialist, "dcat-ttl", base_uri=BASE), \
        export(org.market_specialist, "dcat-jsonld", base_uri=BASE)
    doc = json.loads(jsonld)
    assert "@context" in doc and doc["@context"]["dcat"] == str(DCAT)
    a, b = Graph(), Graph()
    a.parse(data=ttl.decode(), format="turtle")
    b.parse(data=jsonld.decode(), format="json-ld")
    datasets = set(a.subjects(RDF.type, DCAT.Dataset))
    assert datasets == set(b.subjects(RDF.type, DCAT.Dataset)) and len(datasets) == 2
    assert len(a) == len(b)


def test_the_public_dcat_export_has_only_the_open_catalog(published: dict[str, Any]) -> None:
    g = Graph()
    g.parse(data=export(None, "dcat-ttl", base_uri=BASE).decode(), format="turtle")
    assert set(g.subjects(RDF.type, DCAT.Dataset)) == {dataset_uri(BASE, published["opened"].code)}


def test_build_graph_without_entries_is_an_empty_catalog_published_by_the_platform(db: None) -> None:
    g = Graph()
    g.parse(data=serialize(build_graph([], base_uri=BASE), "turtle").decode(), format="turtle")
    assert (URIRef(f"{BASE}/catalog"), RDF.type, DCAT.Catalog) in g
    assert not list(g.subjects(RDF.type, DCAT.Dataset))
    # no data-management centre registered yet: the platform itself is the catalog's publisher (CAT-1)
    publisher = g.value(URIRef(f"{BASE}/catalog"), DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in g and g.value(publisher, FOAF.name) is not None


def test_an_unknown_export_format_is_named(cat: Any) -> None:
    from govshare.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        export(cat.org.police_specialist, "pdf")
    assert info.value.field == "format"
