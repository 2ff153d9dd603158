"""DCAT-AP 3 export of the published catalog (issue 3 §4), with rdflib; JSON-LD and Turtle.

The mapping of the guide's fields to DCAT-AP 3 is documented in ``docs/dcat-mapping.md``; fields
with no DCAT equivalent (share type, condition, method, basis, the information items …) use the
``gs:`` vocabulary (``urn:govshare:catalog:``).  Dataset IRIs are built from the immutable resource
code: ``<base>/catalog/resource/<code>``.
"""

from __future__ import annotations

import re
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
EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"
EU_FREQUENCY = Namespace(EU_AUTHORITY + "frequency/")
EU_ACCESS = Namespace(EU_AUTHORITY + "access-right/")
EU_FILE_TYPE = Namespace(EU_AUTHORITY + "file-type/")
EU_LANGUAGE = Namespace(EU_AUTHORITY + "language/")
EU_DATA_THEME = Namespace(EU_AUTHORITY + "data-theme/")
PUBLISHER_TYPE = Namespace("http://purl.org/adms/publishertype/")
IANA = "https://www.iana.org/assignments/media-types/"
DCAT_AP = URIRef("http://data.europa.eu/r5r/")
DEFAULT_BASE = "https://govshare.invalid"
GUIDE_TITLE = "政务信息资源目录编制指南（试行）"
ZH = "zh"

#: the controlled vocabularies DCAT-AP 3 asks for: concept-scheme IRI and its English title.  Each concept
#: the export uses is described with its class, ``skos:inScheme`` and the vocabulary's English label, so the
#: export validates without downloading the vocabularies (the SHACL "no background knowledge" profiles).
SCHEMES = {
    "frequency": (URIRef(EU_AUTHORITY + "frequency"), "Frequency"),
    "access-right": (URIRef(EU_AUTHORITY + "access-right"), "Access right"),
    "file-type": (URIRef(EU_AUTHORITY + "file-type"), "File type"),
    "language": (URIRef(EU_AUTHORITY + "language"), "Language"),
    "data-theme": (URIRef(EU_AUTHORITY + "data-theme"), "Data theme"),
    "publishertype": (URIRef("http://purl.org/adms/publishertype/1.0"), "Publisher type"),
}

#: 更新周期 → EU frequency (code, English label of the EU table)
FREQUENCY = {
    "realtime": ("UPDATE_CONT", "continuously updated"),
    "daily": ("DAILY", "daily"),
    "weekly": ("WEEKLY", "weekly"),
    "monthly": ("MONTHLY", "monthly"),
    "quarterly": ("QUARTERLY", "quarterly"),
    "half_yearly": ("ANNUAL_2", "semiannual"),
    "yearly": ("ANNUAL", "annual"),
    "other": ("OTHER", "other"),
}
#: 开放属性 → EU access right: access by the public (sharing between departments is gs:shareType and the
#: distribution's dct:rights)
ACCESS_RIGHTS = {
    "open": ("PUBLIC", "public"),
    "on_application": ("RESTRICTED", "restricted"),
    "not_open": ("NON_PUBLIC", "non-public"),
}
#: a concrete format as written (upper case) → (EU file type, its English label, IANA media type or None).
#: Only registered IANA types are given; a format the EU table lacks (OFD, HLS, RTSP) gets no dct:format.
FILE_TYPES: dict[str, tuple[str, str, str | None]] = {
    "CSV": ("CSV", "CSV", "text/csv"),
    "TSV": ("TSV", "TSV", "text/tab-separated-values"),
    "XLSX": ("XLSX", "Excel XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "XLS": ("XLS", "Excel XLS", "application/vnd.ms-excel"),
    "ODS": ("ODS", "ODS", "application/vnd.oasis.opendocument.spreadsheet"),
    "JSON": ("JSON", "JSON", "application/json"),
    "JSON-LD": ("JSON_LD", "JSON-LD", "application/ld+json"),
    "XML": ("XML", "XML", "application/xml"),
    "PDF": ("PDF", "PDF", "application/pdf"),
    "DOC": ("DOC", "Word DOC", "application/msword"),
    "DOCX": ("DOCX", "Word DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "TXT": ("TXT", "TXT", "text/plain"),
    "HTML": ("HTML", "HTML", "text/html"),
    "JPEG": ("JPEG", "JPEG", "image/jpeg"),
    "JPG": ("JPEG", "JPEG", "image/jpeg"),
    "PNG": ("PNG", "PNG", "image/png"),
    "TIFF": ("TIFF", "TIFF", "image/tiff"),
    "TIF": ("TIFF", "TIFF", "image/tiff"),
    "GEOTIFF": ("GEOTIFF", "GeoTIFF", "image/tiff"),
    "GEOJSON": ("GEOJSON", "GeoJSON", "application/geo+json"),
    "GML": ("GML", "GML", "application/gml+xml"),
    "KML": ("KML", "KML", "application/vnd.google-earth.kml+xml"),
    "GPKG": ("GPKG", "GeoPackage", "application/geopackage+sqlite3"),
    "SHP": ("SHP", "SHP", None),
    "ESRI FILE GEODATABASE": ("GDB", "Esri File Geodatabase", None),
    "GDB": ("GDB", "Esri File Geodatabase", None),
    "MP4": ("MPEG4", "MPEG-4", "video/mp4"),
    "MP3": ("MP3", "MP3", "audio/mpeg"),
    "ZIP": ("ZIP", "ZIP", "application/zip"),
    "RDF": ("RDF_XML", "RDF/XML", "application/rdf+xml"),
    "RDF/XML": ("RDF_XML", "RDF/XML", "application/rdf+xml"),
    "TURTLE": ("RDF_TURTLE", "Turtle", "text/turtle"),
}
#: the class default when the concrete format says nothing known
FORMAT_CLASS_DEFAULT = {"spreadsheet": "XLSX", "self_describing": "XML"}
#: 开放领域 (policy profile, LN-§19) → EU data theme (code, English label of the EU table)
DATA_THEMES = {
    "信用": ("ECON", "Economy and finance"),
    "交通": ("TRAN", "Transport"),
    "医疗": ("HEAL", "Health"),
    "卫生": ("HEAL", "Health"),
    "就业": ("SOCI", "Population and society"),
    "社保": ("SOCI", "Population and society"),
    "地理": ("REGI", "Regions and cities"),
    "文化": ("EDUC", "Education, culture and sport"),
    "教育": ("EDUC", "Education, culture and sport"),
    "科技": ("TECH", "Science and technology"),
    "能源": ("ENER", "Energy"),
    "农业": ("AGRI", "Agriculture, fisheries, forestry and food"),
    "环境": ("ENVI", "Environment"),
    "经济": ("ECON", "Economy and finance"),
    "金融": ("ECON", "Economy and finance"),
    "安全": ("JUST", "Justice, legal system and public safety"),
    "统计": ("GOVE", "Government and public sector"),
    "气象": ("ENVI", "Environment"),
    "企业登记监管": ("ECON", "Economy and finance"),
}
XSD_TYPES = {"C": XSD.string, "N": XSD.decimal, "Y": XSD.decimal, "D": XSD.date, "T": XSD.dateTime,
             "L": XSD.boolean, "M": XSD.string, "G": XSD.base64Binary, "B": XSD.double, "I": XSD.integer,
             "F": XSD.float}
#: a concrete format is split into the formats it names ("PDF / GeoTIFF", "MP3/MP4") …
_FORMAT_SPLIT = re.compile(r"\s*[、,，;；]\s*|\s+/\s+|(?<=[A-Za-z0-9])/(?=[A-Za-z])")
#: … and each into its name and a parenthesised detail ("RESTful API（JSON）", "MP4（H.264）")
_FORMAT_DETAIL = re.compile(r"^(?P<name>[^（(]*)[（(](?P<detail>[^）)]*)[）)]")


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


def _known(text: str) -> tuple[str, str, str | None] | None:
    return FILE_TYPES.get(text.strip().upper().lstrip("."))


def formats_of(format_class: str, concrete: str) -> list[tuple[str, str, str | None]]:
    """The EU file types (code, English label, IANA media type) a concrete format names, in order and
    without repeats: ``"PDF / GeoTIFF"`` names two, ``"RESTful API（JSON）"`` is JSON, ``"MP4（H.264）"``
    MP4; a database product (``"达梦 DM8"``) none.  When nothing is recognised, the format class's
    default (电子表格 → XLSX, 自描述格式 → XML) or nothing."""
    concrete = (concrete or "").strip()
    whole = _known(concrete)
    parts = [concrete] if whole else [p for p in _FORMAT_SPLIT.split(concrete) if p.strip()]
    found: list[tuple[str, str, str | None]] = []
    for part in parts:
        match = _FORMAT_DETAIL.match(part.strip())
        candidates = [match["name"], match["detail"]] if match else [part]
        for text in candidates:
            known = _known(text)
            if known is not None:
                if known not in found:
                    found.append(known)
                break
    if not found:
        default = FORMAT_CLASS_DEFAULT.get(format_class)
        if default:
            found.append(FILE_TYPES[default])
    return found


def catalog_publisher(department: Any = None) -> Any:
    """Who publishes the catalog (DCAT-AP's mandatory ``dct:publisher`` of the catalog): the department
    for a department's export, else the data-management centre that runs the platform (the first active
    one), else None."""
    if department is not None:
        return department
    from govshare.core.models import Department

    return Department.objects.filter(kind=Department.Kind.CENTRE, is_active=True).order_by("pk").first()


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
        self.agents: set[str] = set()
        self.described: set[URIRef] = set()
        self.count = 0

    def start(self, title: str, publisher: Any) -> None:
        g, cat = self.g, self.catalog
        g.add((cat, RDF.type, DCAT.Catalog))
        g.add((cat, DCTERMS.title, Literal(title, lang=ZH)))
        g.add((cat, DCTERMS.description, Literal("按《政务信息资源目录编制指南》编制的政务信息资源目录（已发布部分）。",
                                                 lang=ZH)))
        g.add((cat, DCTERMS.modified, Literal(timezone.now().replace(microsecond=0), datatype=XSD.dateTime)))
        g.add((cat, DCTERMS.language, self.language()))
        g.add((cat, DCTERMS.publisher, self.agent(publisher) if publisher is not None else self.platform()))
        home = URIRef(f"{self.base}/")
        g.add((cat, FOAF.homepage, home))
        g.add((home, RDF.type, FOAF.Document))
        g.add((cat, DCAT.themeTaxonomy, self.scheme))
        g.add((cat, DCAT.themeTaxonomy, self.domain_scheme))
        g.add((cat, DCAT.themeTaxonomy, self.eu_scheme("data-theme")))
        g.add((cat, DCTERMS.conformsTo, DCAT_AP))
        g.add((DCAT_AP, RDF.type, DCTERMS.Standard))
        g.add((DCAT_AP, DCTERMS.title, Literal("DCAT-AP 3.0.1", lang="en")))
        g.add((self.scheme, RDF.type, SKOS.ConceptScheme))
        g.add((self.scheme, DCTERMS.title, Literal("政务信息资源分类（类/项/目/细目）", lang=ZH)))
        g.add((self.domain_scheme, RDF.type, SKOS.ConceptScheme))
        g.add((self.domain_scheme, DCTERMS.title, Literal("开放数据领域", lang=ZH)))
        g.add((self.guide, RDF.type, DCTERMS.Standard))
        g.add((self.guide, DCTERMS.title, Literal(GUIDE_TITLE, lang=ZH)))

    # -------------------------------------------------------------- controlled vocabularies

    def eu_scheme(self, name: str) -> URIRef:
        scheme, title = SCHEMES[name]
        if scheme not in self.described:
            self.described.add(scheme)
            self.g.add((scheme, RDF.type, SKOS.ConceptScheme))
            self.g.add((scheme, DCTERMS.title, Literal(title, lang="en")))
        return scheme

    def eu_concept(self, uri: URIRef, cls: URIRef, scheme: str, label: str, label_zh: str = "") -> URIRef:
        """A concept of a controlled vocabulary, described with the class DCAT-AP's range needs, its
        scheme and label."""
        if uri not in self.described:
            self.described.add(uri)
            g = self.g
            g.add((uri, RDF.type, cls))
            g.add((uri, RDF.type, SKOS.Concept))
            g.add((uri, SKOS.inScheme, self.eu_scheme(scheme)))
            g.add((uri, SKOS.prefLabel, Literal(label, lang="en")))
            if label_zh:
                g.add((uri, SKOS.prefLabel, Literal(label_zh, lang=ZH)))
        return uri

    def language(self) -> URIRef:
        return self.eu_concept(EU_LANGUAGE.ZHO, DCTERMS.LinguisticSystem, "language", "Chinese", "中文")

    def frequency(self, cycle: str) -> URIRef:
        code, label = FREQUENCY.get(cycle, FREQUENCY["other"])
        return self.eu_concept(EU_FREQUENCY[code], DCTERMS.Frequency, "frequency", label,
                               UPDATE_CYCLE_ZH.get(cycle, ""))

    def access_rights(self, attribute: str) -> URIRef:
        code, label = ACCESS_RIGHTS.get(attribute, ACCESS_RIGHTS["not_open"])
        return self.eu_concept(EU_ACCESS[code], DCTERMS.RightsStatement, "access-right", label,
                               OPEN_ATTRIBUTE_ZH.get(attribute, ""))

    def file_type(self, code: str, label: str) -> URIRef:
        return self.eu_concept(EU_FILE_TYPE[code], DCTERMS.MediaTypeOrExtent, "file-type", label)

    def media_type(self, name: str) -> URIRef:
        uri = URIRef(IANA + name)
        if uri not in self.described:
            self.described.add(uri)
            self.g.add((uri, RDF.type, DCTERMS.MediaType))
            self.g.add((uri, RDFS.label, Literal(name)))
        return uri

    def data_theme(self, domain: str) -> URIRef | None:
        known = DATA_THEMES.get(domain)
        if known is None:
            return None
        return self.eu_concept(EU_DATA_THEME[known[0]], SKOS.Concept, "data-theme", known[1])

    # -------------------------------------------------------------- agents and concepts

    def _describe_agent(self, node: URIRef, name: str) -> None:
        g = self.g
        g.add((node, RDF.type, FOAF.Agent))
        g.add((node, RDF.type, FOAF.Organization))
        g.add((node, FOAF.name, Literal(name, lang=ZH)))
        kind = self.eu_concept(PUBLISHER_TYPE.LocalAuthority, SKOS.Concept, "publishertype", "Local Authority",
                               "地方政府部门")
        g.add((node, DCTERMS.type, kind))

    def agent(self, department: Any) -> URIRef:
        node = URIRef(f"{self.base}/org/{quote(department.code)}")
        if department.code not in self.agents:
            self.agents.add(department.code)
            self._describe_agent(node, department.name)
            self.g.add((node, DCTERMS.identifier, Literal(department.uscc)))
            self.g.add((node, GS.departmentCode, Literal(department.code)))
        return node

    def platform(self) -> URIRef:
        """The catalog's publisher when no data-management centre is registered (a fresh installation)."""
        node = URIRef(f"{self.base}/org")
        if "" not in self.agents:
            self.agents.add("")
            self._describe_agent(node, getattr(settings, "GOVSHARE_PLATFORM_NAME", "") or "政务数据共享平台")
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
            theme = self.data_theme(name)
            if theme is not None:
                self.g.add((uri, SKOS.closeMatch, theme))
        return uri

    # -------------------------------------------------------------- datasets

    def dataset(self, entry: Any, version: Any) -> None:
        g = self.g
        ds = dataset_uri(self.base, entry.code)
        self.count += 1
        g.add((self.catalog, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(entry.code)))
        g.add((ds, DCTERMS.title, Literal(version.name, lang=ZH)))
        # dct:description is mandatory in DCAT-AP; the guide requires a summary, the name stands in
        g.add((ds, DCTERMS.description, _zh(version.summary) or Literal(version.name, lang=ZH)))
        for keyword in version.keywords or []:
            g.add((ds, DCAT.keyword, Literal(keyword, lang=ZH)))
        g.add((ds, DCTERMS.publisher, self.agent(entry.provider)))
        g.add((ds, DCTERMS.language, self.language()))
        g.add((ds, DCAT.theme, self.concept(version.classification)))
        if version.domain:
            g.add((ds, DCAT.theme, self.domain(version.domain)))
            theme = self.data_theme(version.domain)
            if theme is not None:
                g.add((ds, DCAT.theme, theme))
            g.add((ds, GS.openDataDomain, Literal(version.domain, lang=ZH)))
        g.add((ds, DCTERMS.accrualPeriodicity, self.frequency(version.update_cycle)))
        g.add((ds, GS.updateCycle, Literal(UPDATE_CYCLE_ZH.get(version.update_cycle, version.update_cycle),
                                           lang=ZH)))
        _add(g, ds, GS.updateCycleNote, _zh(version.update_cycle_note))
        g.add((ds, DCTERMS.accessRights, self.access_rights(version.open_attribute)))
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
        g.add((page, RDF.type, FOAF.Document))
        self.distributions(ds, version, page)
        self.items(ds, version)

    def sharing_rights(self, ds: URIRef, version: Any) -> URIRef:
        """The terms of sharing between departments (共享类型, 条件, 依据) as a ``dct:RightsStatement``."""
        node = URIRef(f"{ds}#sharing")
        g = self.g
        g.add((node, RDF.type, DCTERMS.RightsStatement))
        text = SHARE_TYPE_ZH.get(version.share_type, version.share_type)
        if (version.share_condition or "").strip():
            text += f"：{version.share_condition.strip()}"
        g.add((node, RDFS.label, Literal(text, lang=ZH)))
        _add(g, node, DCTERMS.description, _zh(version.share_basis))
        return node

    def distributions(self, ds: URIRef, version: Any, page: URIRef) -> None:
        """One distribution per file type the format names (the first keeps ``#distribution``); one
        without ``dct:format`` when it names none (a database, a stream)."""
        g = self.g
        label = FORMAT_CLASS_ZH.get(version.format_class, version.format_class)
        rights = self.sharing_rights(ds, version)
        kinds: list[tuple[str, str, str | None] | None] = list(formats_of(version.format_class, version.format))
        methods = "、".join(SHARE_METHOD_ZH.get(m, m) for m in version.share_methods or [])
        description = "；".join(part for part in (
            f"格式：{label}" + (f"（{version.format}）" if version.format else ""),
            f"共享方式：{methods}" if methods else "",
            "经本平台申请获取" if version.share_type != "unconditional" else "经本平台获取") if part) + "。"
        for position, known in enumerate(kinds or [None], start=1):
            dist = URIRef(f"{ds}#distribution" + (f"-{position}" if position > 1 else ""))
            g.add((ds, DCAT.distribution, dist))
            g.add((dist, RDF.type, DCAT.Distribution))
            title = f"{version.name}（{label}）" if known is None or len(kinds) == 1 \
                else f"{version.name}（{label}，{known[1]}）"
            g.add((dist, DCTERMS.title, Literal(title, lang=ZH)))
            g.add((dist, DCTERMS.description, Literal(description, lang=ZH)))
            g.add((dist, DCAT.accessURL, page))
            g.add((dist, DCTERMS.rights, rights))
            g.add((dist, GS.formatClass, Literal(label, lang=ZH)))
            _add(g, dist, GS["format"], Literal(version.format) if version.format else None)
            if known is not None:
                g.add((dist, DCTERMS["format"], self.file_type(known[0], known[1])))
                if known[2]:
                    g.add((dist, DCAT.mediaType, self.media_type(known[2])))
            for method in version.share_methods or []:
                g.add((dist, GS.shareMethod, Literal(SHARE_METHOD_ZH.get(method, method), lang=ZH)))

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
                title: str | None = None, publisher: Any = None) -> Graph:
    """The DCAT-AP 3 graph of the given (entry, published version) pairs.  The catalog's publisher is
    ``publisher``, else ``department``, else the data-management centre (see ``catalog_publisher``)."""
    builder = _Builder(resolve_base(base_uri))
    if title is None:
        title = f"{department.name} 政务信息资源目录" if department is not None else "政务信息资源目录"
    builder.start(title, publisher if publisher is not None else catalog_publisher(department))
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

