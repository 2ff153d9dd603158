"""DCAT-AP 3 export of the published catalog (issue 3 §4), with rdflib; JSON-LD and Turtle.

The mapping of the guide's fields to DCAT-AP 3 is documented in ``docs/dcat-mapping.md``; fields
with no DCAT equivalent (share type, condition, method, basis, the information items …) use the
``gs:`` vocabulary (``urn:govshare:catalog:``).  Dataset IRIs are built from the immutable resource
code: ``<base>/catalog/resource/<code>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from govshare.catalog.enums import (
    DATA_TYPE_ZH,
    FORMAT_CLASS_ZH,
    OPEN_ATTRIBUTE_ZH,
    SHARE_METHOD_ZH,
    SHARE_TYPE_ZH,
    UPDATE_CYCLE_ZH,
)

#: DCAT 3 (rdflib's closed DCAT namespace predates dcat:version)
DCAT = Namespace("http://www.w3.org/ns/dcat#")
GS = Namespace("urn:govshare:catalog:")
CSVW = Namespace("http://www.w3.org/ns/csvw#")
EU_FREQUENCY = Namespace("http://publications.europa.eu/resource/authority/frequency/")
EU_ACCESS = Namespace("http://publications.europa.eu/resource/authority/access-right/")
EU_FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
EU_LANGUAGE = Namespace("http://publications.europa.eu/resource/authority/language/")
PUBLISHER_TYPE = Namespace("http://purl.org/adms/publishertype/")
IANA = "https://www.iana.org/assignments/media-types/"
DCAT_AP = URIRef("http://data.europa.eu/r5r/")
DEFAULT_BASE = "https://govshare.invalid"
GUIDE_TITLE = "政务信息资源目录编制指南（试行）"
ZH = "zh"

FREQUENCY = {
    "realtime": "CONT",  # continuous
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "half_yearly": "ANNUAL_2",  # semi-annual
    "yearly": "ANNUAL",
    "other": "OTHER",
}
ACCESS_RIGHTS = {"open": "PUBLIC", "on_application": "RESTRICTED", "not_open": "NON_PUBLIC"}
#: concrete format (as written in the entry, upper case) → (EU file type, IANA media type)
FILE_TYPES = {
    "CSV": ("CSV", "text/csv"),
    "XLSX": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "XLS": ("XLS", "application/vnd.ms-excel"),
    "ODS": ("ODS", "application/vnd.oasis.opendocument.spreadsheet"),
    "JSON": ("JSON", "application/json"),
    "XML": ("XML", "application/xml"),
    "PDF": ("PDF", "application/pdf"),
    "DOC": ("DOC", "application/msword"),
    "DOCX": ("DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "OFD": ("OFD", "application/ofd"),
    "TXT": ("TXT", "text/plain"),
    "HTML": ("HTML", "text/html"),
    "JPEG": ("JPEG", "image/jpeg"),
    "JPG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "TIFF": ("TIFF", "image/tiff"),
    "GEOJSON": ("GEOJSON", "application/geo+json"),
    "SHP": ("SHP", "application/vnd.shp"),
    "MP4": ("MP4", "video/mp4"),
    "ZIP": ("ZIP", "application/zip"),
    "RDF": ("RDF", "application/rdf+xml"),
}
#: the class default when the concrete format says nothing known
FORMAT_CLASS_DEFAULT = {"spreadsheet": "XLSX", "self_describing": "XML"}
XSD_TYPES = {"C": XSD.string, "N": XSD.decimal, "Y": XSD.decimal, "D": XSD.date, "T": XSD.dateTime,
             "L": XSD.boolean, "M": XSD.string, "G": XSD.base64Binary, "B": XSD.double, "I": XSD.integer,
             "F": XSD.float}


def resolve_base(value: str | None = None) -> str:
    return (value or getattr(settings, "GOVSHARE_PUBLIC_URL", "") or DEFAULT_BASE).rstrip("/")


def dataset_uri(base: str, code: str) -> URIRef:
    return URIRef(f"{base}/catalog/resource/{quote(code, safe='/')}")


PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "skos": SKOS, "xsd": XSD, "rdf": RDF, "rdfs": RDFS,
            "csvw": CSVW, "gs": GS}


def _bind(g: Graph) -> None:
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns, override=True)


def _zh(text: str | None) -> Literal | None:
    text = (text or "").strip()
    return Literal(text, lang=ZH) if text else None


def _add(g: Graph, s: Any, p: Any, o: Any) -> None:
    if o is not None:
        g.add((s, p, o))


def _format_of(format_class: str, concrete: str) -> tuple[str, str] | None:
    key = (concrete or "").strip().upper().lstrip(".")
    if key in FILE_TYPES:
        return FILE_TYPES[key]
    default = FORMAT_CLASS_DEFAULT.get(format_class)
    return FILE_TYPES[default] if default else None


class _Builder:
    def __init__(self, base: str) -> None:
        self.base = base
        self.g = Graph(bind_namespaces="core")
        _bind(self.g)
        self.catalog = URIRef(f"{base}/catalog")
        self.scheme = URIRef(f"{base}/catalog/classification")
        self.domain_scheme = URIRef(f"{base}/catalog/domain")
        self.guide = URIRef(f"{base}/catalog/guide")
        self.concepts: set[str] = set()
        self.agents: set[int] = set()
        self.count = 0

    def start(self, title: str) -> None:
        g, cat = self.g, self.catalog
        g.add((cat, RDF.type, DCAT.Catalog))
        g.add((cat, DCTERMS.title, Literal(title, lang=ZH)))
        g.add((cat, DCTERMS.description, Literal("按《政务信息资源目录编制指南》编制的政务信息资源目录（已发布部分）。",
                                                 lang=ZH)))
        g.add((cat, DCTERMS.modified, Literal(timezone.now().replace(microsecond=0), datatype=XSD.dateTime)))
        g.add((cat, DCTERMS.language, EU_LANGUAGE.ZHO))
        g.add((cat, DCAT.themeTaxonomy, self.scheme))
        g.add((cat, DCTERMS.conformsTo, DCAT_AP))
        g.add((self.scheme, RDF.type, SKOS.ConceptScheme))
        g.add((self.scheme, DCTERMS.title, Literal("政务信息资源分类（类/项/目/细目）", lang=ZH)))
        g.add((self.domain_scheme, RDF.type, SKOS.ConceptScheme))
        g.add((self.domain_scheme, DCTERMS.title, Literal("开放数据领域", lang=ZH)))
        g.add((self.guide, RDF.type, DCTERMS.Standard))
        g.add((self.guide, DCTERMS.title, Literal(GUIDE_TITLE, lang=ZH)))

    def agent(self, department: Any) -> URIRef:
        node = URIRef(f"{self.base}/org/{quote(department.code)}")
        if department.pk not in self.agents:
            self.agents.add(department.pk)
            g = self.g
            g.add((node, RDF.type, FOAF.Agent))
            g.add((node, RDF.type, FOAF.Organization))
            g.add((node, FOAF.name, Literal(department.name, lang=ZH)))
            g.add((node, DCTERMS.identifier, Literal(department.uscc)))
            g.add((node, GS.departmentCode, Literal(department.code)))
            g.add((node, DCTERMS.type, PUBLISHER_TYPE.LocalAuthority))
        return node

    def concept(self, node: Any) -> URIRef:
        uri = URIRef(f"{self.scheme}/{quote(node.code)}")
        if node.code not in self.concepts:
            self.concepts.add(node.code)
            g = self.g
            g.add((uri, RDF.type, SKOS.Concept))
            g.add((uri, SKOS.prefLabel, Literal(node.name, lang=ZH)))
            g.add((uri, SKOS.notation, Literal(node.code)))
            g.add((uri, SKOS.inScheme, self.scheme))
            parent = node.parent
            if parent is None:
                g.add((uri, SKOS.topConceptOf, self.scheme))
                g.add((self.scheme, SKOS.hasTopConcept, uri))
            else:
                g.add((uri, SKOS.broader, self.concept(parent)))
        return uri

    def domain(self, name: str) -> URIRef:
        uri = URIRef(f"{self.domain_scheme}/{quote(name)}")
        key = f"domain:{name}"
        if key not in self.concepts:
            self.concepts.add(key)
            self.g.add((uri, RDF.type, SKOS.Concept))
            self.g.add((uri, SKOS.prefLabel, Literal(name, lang=ZH)))
            self.g.add((uri, SKOS.inScheme, self.domain_scheme))
        return uri

    def dataset(self, entry: Any, version: Any) -> None:
        g = self.g
        ds = dataset_uri(self.base, entry.code)
        self.count += 1
        g.add((self.catalog, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(entry.code)))
        g.add((ds, DCTERMS.title, Literal(version.name, lang=ZH)))
        _add(g, ds, DCTERMS.description, _zh(version.summary))
        for keyword in version.keywords or []:
            g.add((ds, DCAT.keyword, Literal(keyword, lang=ZH)))
        g.add((ds, DCTERMS.publisher, self.agent(entry.provider)))
        g.add((ds, DCAT.theme, self.concept(version.classification)))
        if version.domain:
            g.add((ds, DCAT.theme, self.domain(version.domain)))
            g.add((ds, GS.openDataDomain, Literal(version.domain, lang=ZH)))
        g.add((ds, DCTERMS.accrualPeriodicity, EU_FREQUENCY[FREQUENCY.get(version.update_cycle, "OTHER")]))
        g.add((ds, GS.updateCycle, Literal(UPDATE_CYCLE_ZH.get(version.update_cycle, version.update_cycle),
                                           lang=ZH)))
        _add(g, ds, GS.updateCycleNote, _zh(version.update_cycle_note))
        g.add((ds, DCTERMS.accessRights, EU_ACCESS[ACCESS_RIGHTS.get(version.open_attribute, "NON_PUBLIC")]))
        g.add((ds, GS.openAttribute, Literal(OPEN_ATTRIBUTE_ZH.get(version.open_attribute, version.open_attribute),
                                             lang=ZH)))
        _add(g, ds, GS.openCondition, _zh(version.open_condition))
        g.add((ds, GS.shareType, Literal(SHARE_TYPE_ZH.get(version.share_type, version.share_type), lang=ZH)))
        _add(g, ds, GS.shareCondition, _zh(version.share_condition))
        _add(g, ds, GS.shareBasis, _zh(version.share_basis))
        for method in version.share_methods or []:
            g.add((ds, GS.shareMethod, Literal(SHARE_METHOD_ZH.get(method, method), lang=ZH)))
        g.add((ds, GS.providerCode, Literal(entry.provider.uscc)))
        g.add((ds, DCTERMS.conformsTo, self.guide))
        g.add((ds, DCAT.version, Literal(str(version.number))))
        if entry.first_published_at:
            g.add((ds, DCTERMS.issued, Literal(entry.first_published_at.replace(microsecond=0),
                                               datatype=XSD.dateTime)))
        if entry.published_at:
            g.add((ds, DCTERMS.modified, Literal(entry.published_at.replace(microsecond=0), datatype=XSD.dateTime)))
        for code in version.related_codes or []:
            g.add((ds, DCTERMS.relation, dataset_uri(self.base, code)))
        page = URIRef(f"{self.base}/catalog/entries/{entry.pk}/")
        g.add((ds, DCAT.landingPage, page))
        self.distribution(ds, entry, version, page)
        self.items(ds, version)

    def distribution(self, ds: URIRef, entry: Any, version: Any, page: URIRef) -> None:
        g = self.g
        dist = URIRef(f"{ds}#distribution")
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        label = FORMAT_CLASS_ZH.get(version.format_class, version.format_class)
        g.add((dist, DCTERMS.title, Literal(f"{version.name}（{label}）", lang=ZH)))
        g.add((dist, DCAT.accessURL, page))
        g.add((dist, GS.formatClass, Literal(label, lang=ZH)))
        _add(g, dist, GS["format"], Literal(version.format) if version.format else None)
        known = _format_of(version.format_class, version.format)
        if known is not None:
            g.add((dist, DCTERMS.format, EU_FILE_TYPE[known[0]]))
            g.add((dist, DCAT.mediaType, URIRef(IANA + known[1])))
        for method in version.share_methods or []:
            g.add((dist, GS.shareMethod, Literal(SHARE_METHOD_ZH.get(method, method), lang=ZH)))
        g.add((dist, DCTERMS.accessRights, EU_ACCESS[ACCESS_RIGHTS.get(version.open_attribute, "NON_PUBLIC")]))

    def items(self, ds: URIRef, version: Any) -> None:
        g = self.g
        schema = URIRef(f"{ds}#schema")
        g.add((ds, CSVW.tableSchema, schema))
        g.add((schema, RDF.type, CSVW.Schema))
        for item in version.items.all():
            col = URIRef(f"{ds}#item-{item.position}")
            g.add((schema, CSVW.column, col))
            g.add((ds, GS.informationItem, col))
            g.add((col, RDF.type, CSVW.Column))
            g.add((col, CSVW.name, Literal(item.name)))
            g.add((col, CSVW.titles, Literal(item.name, lang=ZH)))
            g.add((col, CSVW.datatype, XSD_TYPES.get(item.data_type, XSD.string)))
            g.add((col, GS.position, Literal(item.position, datatype=XSD.integer)))
            g.add((col, GS.dataType, Literal(item.data_type)))
            g.add((col, RDFS.label, Literal(f"{item.data_type} {DATA_TYPE_ZH.get(item.data_type, '')}".strip(),
                                            lang=ZH)))
            if item.length is not None:
                g.add((col, GS.length, Literal(item.length, datatype=XSD.integer)))
            _add(g, col, DCTERMS.description, _zh(item.description))
            g.add((col, GS.primaryKey, Literal(bool(item.is_primary_key))))
            g.add((col, GS.sensitive, Literal(bool(item.is_sensitive))))
            _add(g, col, GS.maskingRule, _zh(item.masking_rule))


def build_graph(pairs: Iterable[tuple[Any, Any]], *, base_uri: str | None = None, department: Any = None,
                title: str | None = None) -> Graph:
    """The DCAT-AP 3 graph of the given (entry, published version) pairs."""
    builder = _Builder(resolve_base(base_uri))
    if title is None:
        title = f"{department.name} 政务信息资源目录" if department is not None else "政务信息资源目录"
    builder.start(title)
    for entry, version in pairs:
        builder.dataset(entry, version)
    builder.g.add((builder.catalog, GS.datasetCount, Literal(builder.count, datatype=XSD.integer)))
    return builder.g


def dataset_count(graph: Graph) -> int:
    return sum(1 for _ in graph.subjects(RDF.type, DCAT.Dataset))


def serialize(graph: Graph, fmt: str) -> bytes:
    """``turtle`` or ``json-ld`` as UTF-8 bytes."""
    if fmt == "json-ld":
        context = {prefix: str(ns) for prefix, ns in PREFIXES.items()}
        text = graph.serialize(format="json-ld", context=context, indent=2, ensure_ascii=False)
    else:
        text = graph.serialize(format="turtle")
    return text.encode("utf-8") if isinstance(text, str) else text

