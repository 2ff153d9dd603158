"""Files from outside — uploads and imports — are hostile until checked (SEC-7, CAT-1, SHR-2).

One home for the checks every upload channel makes (the catalog import workbook, the stamped
application letter, and the exchange files and open-data uploads to come):

* **size** — :func:`read_limited` reads at most the limit (a path, bytes or a stream), :func:`check_size`;
* **type by content** — :func:`detect` names a file by its magic bytes, never by its name or the declared
  type; :func:`require_type` accepts only the expected types and refuses executables, scripts and
  archives under any name (:data:`FileType.label` is translatable: a refusal reads in one language);
* **archives** — :func:`open_zip`: a real ZIP, limits on parts, unpacked size and compression ratio
  (zip bombs), no encryption, and no member whose name escapes the archive (``../``, absolute paths,
  drive letters, backslashes), no symbolic links, no duplicate names;
* **office packages** — :func:`check_office_package`: no macros, external links or embedded objects;
* **XML** — :func:`scan_xml_parts` and :func:`expat_parse` refuse document type and entity declarations
  (XXE, "billion laughs") and non-UTF-8 parts, streaming, without building a tree;
* **PDF** — :func:`check_pdf`: parsed by qpdf (pikepdf), every filter chain and object stream resolved,
  the trailer walked too; JavaScript, launch actions, embedded files, rich media, XFA and actions that leave
  the file by themselves (stream dictionaries read like dictionaries) are refused, and so are encrypted or
  damaged files, anything before the header or after the real end (the last cross-reference section qpdf
  reads), a ZIP anywhere and a web page outside the streams, with an unpacking budget; every limit refuses;
* **images** — :func:`check_image`: a PNG or JPEG decodes completely (Pillow, a pixel limit) and is
  nothing else — no bytes after its end, no web page, script, PDF or ZIP in its text, and no long marker
  of one (or ZIP record) anywhere in it, pixel data included.

Every refusal is a :class:`FileRefused` (a :class:`~govshare.core.errors.ValidationFailed`) with a
stable code; a channel may rename the code for its own API (:meth:`FileRefused.renamed`).  The module
depends on Django only for settings-free translation and the error class.
"""

from __future__ import annotations

import functools
import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, Any, NoReturn

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed

MB = 1024 * 1024
SCAN_CHUNK = 64 * 1024


class FileRefused(ValidationFailed):
    """A file refused by one of the checks of this module.

    ``code`` is the family a channel maps to its own stable code (``active_content``, ``damaged_file``,
    ``file_too_large`` …); ``specific`` names exactly what was found (``pdf_javascript``,
    ``image_trailing_data`` …, the code itself when there is nothing more to say)."""

    def __init__(self, error_code: str, message: Any, /, *, specific: str | None = None, **kwargs: Any) -> None:
        super().__init__(error_code, message, **kwargs)
        self.specific = specific or error_code

    def renamed(self, code: str | None = None, *, field: str | None = None,
                where: str | None = None) -> FileRefused:
        """The same refusal under a channel's own code, field or place (message, parameters and
        ``specific`` kept)."""
        return FileRefused(code or self.code, self.message, specific=self.specific,
                           field=field if field is not None else self.field, row=self.row,
                           where=where if where is not None else self.where, **self.params)


def refuse(code: str, message: Any, *, where: str | None = None, field: str | None = None,
           specific: str | None = None, **params: Any) -> FileRefused:
    return FileRefused(code, message, where=where, field=field, specific=specific, **params)


# ------------------------------------------------------------------ size


def check_size(size: int, max_bytes: int, *, where: str | None = None, field: str | None = None) -> None:
    """Refuse an empty file or one over ``max_bytes``."""
    if size <= 0:
        raise refuse("empty_file", _("The file is empty."), where=where, field=field)
    if size > max_bytes:
        raise _too_large(size, max_bytes, where, field)


def _too_large(size: int, max_bytes: int, where: str | None, field: str | None) -> FileRefused:
    return refuse("file_too_large", _("The file is %(size)s bytes (%(size_mb)s MB); at most %(max)s bytes "
                                      "(%(max_mb)s MB) are accepted."),
                  where=where, field=field, size=size, max=max_bytes, size_mb=round(size / MB, 1),
                  max_mb=round(max_bytes / MB, 1))


def read_limited(source: bytes | str | PurePath | IO[bytes], max_bytes: int, *, where: str | None = None,
                 field: str | None = None) -> bytes:
    """The bytes of ``source`` (bytes, a path or a binary file), reading at most ``max_bytes`` + 1:
    anything larger is refused without being read whole."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | PurePath):
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise _too_large(size, max_bytes, where, field)
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise refuse("file_unreadable", _("The file cannot be read: %(reason)s."), where=where, field=field,
                         reason=exc.strerror or str(exc)) from None
    else:
        data = source.read(max_bytes + 1)
    check_size(len(data), max_bytes, where=where, field=field)
    return data


# ------------------------------------------------------------------ type by content


@dataclass(frozen=True)
class FileType:
    """A kind of file recognised by its content."""

    code: str
    label: Promise  # translatable: "Windows 可执行文件" for Chinese readers, "Windows executable" in English
    media_type: str
    extension: str
    dangerous: bool = False  # runs or unpacks when opened: never accepted where it is not the expected type

    def __str__(self) -> str:
        return str(self.label)


PDF = FileType("pdf", _("PDF document"), "application/pdf", "pdf")
PNG = FileType("png", _("PNG image"), "image/png", "png")
JPEG = FileType("jpeg", _("JPEG image"), "image/jpeg", "jpg")
GIF = FileType("gif", _("GIF image"), "image/gif", "gif")
ZIP = FileType("zip", _("ZIP archive"), "application/zip", "zip", dangerous=True)
OLE2 = FileType("ole2", _("Office 97-2003 document (may carry macros)"), "application/x-ole-storage", "doc",
                dangerous=True)
WINDOWS_EXE = FileType("windows_executable", _("Windows executable"), "application/vnd.microsoft.portable-executable",
                       "exe", dangerous=True)
ELF = FileType("elf_executable", _("Linux executable (ELF)"), "application/x-executable", "elf", dangerous=True)
MACHO = FileType("macho_executable", _("macOS executable (Mach-O)"), "application/x-mach-binary", "macho",
                 dangerous=True)
FAT_BINARY = FileType("fat_binary", _("macOS universal executable or Java class file"),
                      "application/x-mach-binary", "class", dangerous=True)
SCRIPT = FileType("script", _("script"), "text/x-script", "sh", dangerous=True)
RAR = FileType("rar", _("RAR archive"), "application/vnd.rar", "rar", dangerous=True)
SEVEN_ZIP = FileType("7z", _("7-Zip archive"), "application/x-7z-compressed", "7z", dangerous=True)
GZIP = FileType("gzip", _("gzip archive"), "application/gzip", "gz", dangerous=True)

#: magic bytes → type, most specific first
SIGNATURES: tuple[tuple[bytes, FileType], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),  # an empty archive
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    (b"\xd0\xcf\x11\xe0", OLE2),
    (b"MZ", WINDOWS_EXE),
    (b"\x7fELF", ELF),
    (b"\xcf\xfa\xed\xfe", MACHO),
    (b"\xce\xfa\xed\xfe", MACHO),
    (b"\xfe\xed\xfa\xcf", MACHO),
    (b"\xfe\xed\xfa\xce", MACHO),
    (b"\xca\xfe\xba\xbe", FAT_BINARY),
    (b"#!", SCRIPT),
    (b"Rar!\x1a\x07", RAR),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_ZIP),
    (b"\x1f\x8b", GZIP),
)
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def detect(data: bytes) -> FileType | None:
    """The type of a file by its first bytes, or None when the content is none of the known types."""
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            return kind
    return None


def _names(types: Iterable[FileType]) -> str:
    from django.utils import translation

    names = [str(t.label) for t in types]
    chinese = (translation.get_language() or "").startswith("zh")
    if len(names) < 2:
        return "".join(names)
    separator, last = ("、", "或") if chinese else (", ", " or ")
    return separator.join(names[:-1]) + last + names[-1]


def require_type(data: bytes, accepted: Iterable[FileType], *, where: str | None = None,
                 field: str | None = None) -> FileType:
    """The file's type when it is one of ``accepted``.  An executable, script or archive that is not
    expected is refused as ``disguised_file`` naming what it is; anything else as ``wrong_file_type``."""
    accepted = tuple(accepted)
    kind = detect(data)
    if kind is not None and kind in accepted:
        return kind
    expected = _ExpectedTypes(accepted)
    if kind is not None and kind.dangerous:
        raise refuse("disguised_file", _("The file was refused: its content is of type %(what)s, not a %(expected)s."),
                     where=where, field=field, what=kind.label, expected=expected)
    if kind is not None:
        raise refuse("wrong_file_type", _("The file must be a %(expected)s; its content is of type %(what)s."),
                     where=where, field=field, what=kind.label, expected=expected)
    if PDF in accepted and b"%PDF-" in data[:1024]:
        raise leading_bytes(data, where=where, field=field)
    raise refuse("wrong_file_type", _("The file must be a %(expected)s; its content is none of these."),
                 where=where, field=field, expected=expected)


class _ExpectedTypes:
    """The accepted types as a list rendered in the reader's language when the message is rendered."""

    def __init__(self, types: tuple[FileType, ...]) -> None:
        self.types = types

    def __str__(self) -> str:
        return _names(self.types)


# ------------------------------------------------------------------ archives


@dataclass(frozen=True)
class ZipLimits:
    max_parts: int = 1000
    max_unpacked: int = 256 * MB
    max_ratio: int = 100  # a part over 1 MB may not be compressed more than this


_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_member_name(name: str) -> bool:
    """True for a member name that would escape the directory it is unpacked into (zip slip)."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or _DRIVE.match(name):
        return True
    return ".." in PurePosixPath(name).parts


def open_zip(data: bytes, limits: ZipLimits, *, where: str | None = None, field: str | None = None) -> zipfile.ZipFile:
    """``data`` opened as a ZIP archive after checking it: readable, at most ``max_parts`` members, no
    encrypted member, no zip bomb (total unpacked size, ratio of a large part), no member name that
    escapes the archive, no symbolic link, no name twice.  Nothing is unpacked."""
    if not data.startswith((ZIP_MAGIC, b"PK\x05\x06")):
        raise refuse("not_zip", _("The file is not a ZIP archive."), where=where, field=field)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise refuse("damaged_zip", _("The file is a damaged ZIP archive and cannot be read."), where=where,
                     field=field) from None
    if len(members) > limits.max_parts:
        raise refuse("too_many_parts", _("The file has too many parts (%(count)s; at most %(max)s)."), where=where,
                     field=field, count=len(members), max=limits.max_parts)
    total = 0
    seen: set[str] = set()
    for info in members:
        name = info.filename
        if unsafe_member_name(name):
            raise refuse("unsafe_path", _("A part of the archive has a name that points outside it (%(part)s); the "
                                          "file is refused."), where=where, field=field, part=name[:100])
        if stat.S_ISLNK(info.external_attr >> 16):
            raise refuse("unsafe_path", _("A part of the archive is a symbolic link (%(part)s); the file is "
                                          "refused."), where=where, field=field, part=name[:100])
        if name in seen:
            raise refuse("duplicate_part", _("The archive holds the part %(part)s twice; the file is refused."),
                         where=where, field=field, part=name[:100])
        seen.add(name)
        if info.flag_bits & 0x1:
            raise refuse("encrypted_zip", _("The file is password-protected; remove the password and try again."),
                         where=where, field=field)
        total += info.file_size
        if info.file_size > MB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise refuse("zip_bomb", _("A part of the file (%(part)s) is compressed more than %(ratio)s times; the "
                                       "file is refused as a possible archive bomb."),
                         where=where, field=field, part=name[:100], ratio=limits.max_ratio)
    if total > limits.max_unpacked:
        raise refuse("zip_bomb", _("The file unpacks to more than %(max)s MB; it is refused as a possible archive "
                                   "bomb."), where=where, field=field, max=limits.max_unpacked // MB)
    return zf


def check_office_package(zf: zipfile.ZipFile, *, where: str | None = None, field: str | None = None) -> None:
    """Refuse an Office Open XML package (xlsx, docx, pptx) with macros, links to external data or
    embedded objects."""
    lowered = {n.lower() for n in zf.namelist()}
    content_types = b""
    if "[Content_Types].xml" in zf.namelist() and zf.getinfo("[Content_Types].xml").file_size <= MB:
        content_types = zf.read("[Content_Types].xml")
    if any(n.endswith("vbaproject.bin") for n in lowered) or b"macroEnabled" in content_types:
        raise refuse("macros", _("The file contains macros (VBA); save it without macros and try again."),
                     where=where, field=field)
    if any(n.startswith(("xl/externallinks/",)) for n in lowered) or "xl/connections.xml" in lowered:
        raise refuse("external_links", _("The file links to other files or external data; replace the links by "
                                         "their values and try again."), where=where, field=field)
    if any("/embeddings/" in n or "/activex/" in n for n in lowered):
        raise refuse("embedded_objects", _("The file contains embedded objects; remove them and try again."),
                     where=where, field=field)
    for info in zf.infolist():  # relationships to outside the package: an OLE object, a template, a frame …
        if not info.filename.lower().endswith(".rels") or info.file_size > MB:
            continue
        outside: list[str] = []

        def relation(name: str, attrs: dict[str, str], found: list[str] = outside) -> None:
            if name.endswith("Relationship") and attrs.get("TargetMode", "").lower() == "external" and \
                    not attrs.get("Type", "").endswith("/hyperlink"):
                found.append(attrs.get("Type", "").rsplit("/", 1)[-1])

        try:
            with zf.open(info) as part:
                expat_parse(part, relation)
        except ForbiddenXml:
            raise xml_doctype(info.filename, where=where, field=field) from None
        except Exception:  # noqa: BLE001 — a relationship part that is not XML: the package is not sound
            raise refuse("damaged_zip", _("The file is a damaged ZIP archive and cannot be read."), where=where,
                         field=field) from None
        if outside:
            raise refuse("external_links", _("The file links to other files or external data; replace the links by "
                                             "their values and try again."), where=where, field=field)


# ------------------------------------------------------------------ XML

_FORBIDDEN_XML = (b"<!DOCTYPE", b"<!ENTITY")
XML_SUFFIXES = (".xml", ".rels", ".vml")


def scan_xml_parts(zf: zipfile.ZipFile, *, where: str | None = None, field: str | None = None,
                   suffixes: tuple[str, ...] = XML_SUFFIXES) -> None:
    """Refuse document type and entity declarations (XXE, entity expansion) and non-UTF-8 encodings in
    every XML part of an archive, by a streaming byte scan."""
    for info in zf.infolist():
        if info.filename.lower().endswith(suffixes):
            _scan_xml_part(zf, info, where, field)


def _scan_xml_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str | None, field: str | None) -> None:
    tail = b""
    first = True
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(SCAN_CHUNK)
                if not chunk:
                    return
                if first and (chunk.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in chunk[:200]):
                    raise refuse("xml_encoding", _("Part %(part)s of the file is not UTF-8 encoded XML."),
                                 where=where, field=field, part=info.filename[:100])
                first = False
                window = tail + chunk
                if any(token in window for token in _FORBIDDEN_XML):
                    raise xml_doctype(info.filename, where=where, field=field)
                tail = window[-16:]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error):
        raise refuse("damaged_zip", _("The file is a damaged ZIP archive and cannot be read."), where=where,
                     field=field) from None


def xml_doctype(part: str, *, where: str | None = None, field: str | None = None) -> FileRefused:
    return refuse("xml_doctype", _("Part %(part)s of the file declares an XML document type; such files are "
                                   "refused."), where=where, field=field, part=part[:100])


class ForbiddenXml(Exception):
    """Raised from an expat handler to refuse a document type, an entity or an external reference."""


def _forbid(*args: Any) -> NoReturn:
    raise ForbiddenXml


def expat_parse(source: IO[bytes], on_start: Callable[[str, dict[str, str]], None],
                on_end: Callable[[str], None] | None = None) -> None:
    """Stream ``source`` through expat with namespace processing (``uri}local`` names), refusing any
    document type declaration, entity declaration or external entity (:class:`ForbiddenXml`) — the
    guards of defusedxml, without building a tree.  A handler stops the parse by raising."""
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    parser.StartElementHandler = on_start
    if on_end is not None:
        parser.EndElementHandler = on_end
    parser.buffer_text = True
    while True:
        chunk = source.read(SCAN_CHUNK)
        if not chunk:
            break
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


# ------------------------------------------------------------------ markers of other files (SHR-2, issue 9)

#: (marker in lower case, the bytes one of which must follow it — empty: anything)
Markers = tuple[tuple[bytes, bytes], ...]
_SPACE_OR = b"\x00\t\n\x0b\x0c\r "


# ------------------------------------------------------------------ PDF (SHR-2, issue 9)
#
# A PDF is read by a real parser (pikepdf, i.e. qpdf): it resolves every filter chain and every object
# stream, so nothing a viewer would see escapes the check — neither /ASCIIHexDecode nor a Flate stream
# compressed twice nor a dictionary inside an object stream, and a name spelt /J#61vaScript is the name
# /JavaScript.  A file qpdf can only read by repairing it is refused: a viewer may repair it differently
# and show something other than what was checked.

#: filters qpdf decodes at its "generalized" level: each unpacked stream counts against the budget
PDF_GENERAL_FILTERS = frozenset({"/FlateDecode", "/Fl", "/ASCIIHexDecode", "/AHx", "/ASCII85Decode", "/A85",
                                 "/RunLengthDecode", "/RL"})
#: image codecs: left packed (a viewer decodes them into pixels, never into PDF objects)
PDF_IMAGE_FILTERS = frozenset({"/DCTDecode", "/DCT", "/JPXDecode", "/CCITTFaxDecode", "/CCF", "/JBIG2Decode"})
#: LZW: refused, qpdf unpacks it without a memory limit (an archive bomb no budget could stop)
PDF_REFUSED_FILTERS = frozenset({"/LZWDecode", "/LZW"})
#: what an /OpenAction or an /AA (additional action) may not do by itself, without the reader's click
PDF_AUTO_ACTIONS: dict[str, Promise] = {
    "/URI": _("open a web address"),
    "/SubmitForm": _("send form data to a server"),
    "/ImportData": _("import form data from a file"),
    "/GoToR": _("open another PDF file"),
    "/GoToE": _("open an embedded document"),
}
PDF_TRIGGERS: dict[str, Promise] = {
    "/OpenAction": _("when the file is opened"),
    "/AA": _("when a page, an annotation or a form field is shown or used"),
}
PDF_MAX_WARNINGS = 50
#: a letter has hundreds of objects; a hundred thousand take the check most of a second
PDF_MAX_OBJECTS = 100_000
#: values walked in one object that looks suspect (an annotation with /AA has a few dozen)
PDF_MAX_NODES = 20_000
#: actions one /OpenAction or /AA may chain (/Next); a letter has one or two
PDF_MAX_ACTIONS = 1000
#: cross-reference sections (the file and its incremental updates) followed from the end of the file
PDF_MAX_SECTIONS = 1000
#: names that make an object worth the structured walk, in qpdf's canonical form of the object (names
#: unescaped, parentheses inside strings escaped: a string is removed before searching)
PDF_SUSPECT = re.compile(rb"/(?:JS|JavaScript|Launch|EmbeddedFiles?|EF|FileAttachment|RichMedia\w*|XFA|"
                         rb"OpenAction|AA)(?=[\s/<>\[\]()%{}]|$)")
PDF_STRING = re.compile(rb"\((?:\\.|[^\\()])*\)", re.S)
PLAIN = _("print it to a plain PDF and try again")
SAVE_AGAIN = _("save or print it again as a PDF and upload the new file")
SAVE_AGAIN_SENTENCE = _("Save or print it again as a PDF and upload the new file")


def _ref(obj: Any) -> str:
    num, gen = obj.objgen
    return f"{num} {gen} R"


class _PdfScan:
    """One pass over every object of an opened PDF: each is searched in qpdf's canonical form for the
    names of active content, and one that has any is walked (nested direct objects included) to find
    what exactly it does; every stream is unpacked within the budget."""

    def __init__(self, pdf: Any, budget: int, where: str | None, field: str | None) -> None:
        import pikepdf

        self.pk = pikepdf
        self.pdf = pdf
        self.limit = self.budget = budget
        self.where, self.field = where, field
        self.actions_seen: set[tuple[int, int]] = set()

    def refuse(self, specific: str, message: Any, code: str = "active_content", **params: Any) -> FileRefused:
        return refuse(code, message, where=self.where, field=self.field, specific=specific, **params)

    def run(self) -> None:
        pk = self.pk
        size = self.pdf.trailer.get("/Size")
        if isinstance(size, int) and size > PDF_MAX_OBJECTS:
            raise self.too_many(PDF_MAX_OBJECTS)
        for count, obj in enumerate(self.pdf.objects):
            if count >= PDF_MAX_OBJECTS:
                raise self.too_many(PDF_MAX_OBJECTS)
            stream = isinstance(obj, pk.Stream)
            if stream or isinstance(obj, pk.Dictionary | pk.Array):
                text = (obj.stream_dict if stream else obj).unparse(resolved=True)
                if PDF_SUSPECT.search(PDF_STRING.sub(b"()", text)):
                    self.walk(obj, _ref(obj))
            if stream:
                self.unpack(obj, _ref(obj))
        # the trailer is no object of its own: a catalog (or anything else) written directly in it is walked here
        self.walk(self.pdf.trailer, "trailer")

    def too_many(self, limit: int, specific: str = "pdf_too_many_objects") -> FileRefused:
        return self.refuse(specific, _("The PDF is made of more than %(max)s objects and values; a letter has far "
                                       "fewer. %(fix)s."), "file_too_large", max=limit, fix=SAVE_AGAIN_SENTENCE)

    def dictionary(self, obj: Any) -> Any:
        """The dictionary of ``obj`` — a stream's dictionary is read like any other (an action, a name tree
        or an /AA may be written as a stream) — or None when it has none."""
        if isinstance(obj, self.pk.Stream):
            return obj.stream_dict
        return obj if isinstance(obj, self.pk.Dictionary) else None

    def walk(self, top: Any, ref: str) -> None:
        pk = self.pk
        stack = [top]
        nodes = 0
        while stack:
            node = stack.pop()
            nodes += 1
            if nodes > PDF_MAX_NODES:
                raise self.too_many(PDF_MAX_NODES)
            if isinstance(node, pk.Array):
                children = list(node)
            else:
                node = self.dictionary(node)
                self.check_dict(node, ref)
                children = [node[key] for key in node]
            # an indirect child is an object of its own: walked when ``pdf.objects`` reaches it
            stack.extend(child for child in children if isinstance(child, pk.Dictionary | pk.Array)
                         and not isinstance(child, pk.Stream) and not child.is_indirect)

    def name(self, node: Any, key: str) -> str:
        value = node.get(key)
        return str(value) if isinstance(value, self.pk.Name) else ""

    def check_dict(self, node: Any, ref: str) -> None:
        keys = {str(key) for key in node}
        action = self.name(node, "/S")
        kinds = {self.name(node, "/Type"), self.name(node, "/Subtype")}
        if keys & {"/JS", "/JavaScript"} or action == "/JavaScript":
            raise self.refuse("pdf_javascript", _("The PDF contains JavaScript (object %(obj)s); %(fix)s."),
                              obj=ref, fix=PLAIN)
        if action == "/Launch":
            raise self.refuse("pdf_launch", _("The PDF contains an action that starts a program (object %(obj)s); "
                                              "%(fix)s."), obj=ref, fix=PLAIN)
        if keys & {"/EmbeddedFiles", "/EF"} or kinds & {"/EmbeddedFile", "/FileAttachment"}:
            raise self.refuse("pdf_embedded_file", _("The PDF carries an embedded file (object %(obj)s); %(fix)s."),
                              obj=ref, fix=PLAIN)
        if any(key.startswith("/RichMedia") for key in keys) or any(k.startswith("/RichMedia") for k in kinds):
            raise self.refuse("pdf_rich_media", _("The PDF contains rich media such as Flash or video (object "
                                                  "%(obj)s); %(fix)s."), obj=ref, fix=PLAIN)
        if "/XFA" in keys:
            raise self.refuse("pdf_xfa", _("The PDF contains an XFA form, which can run scripts (object %(obj)s); "
                                           "%(fix)s."), obj=ref, fix=PLAIN)
        if "/OpenAction" in keys:
            self.automatic(node["/OpenAction"], "/OpenAction", ref)
        additional = self.dictionary(node["/AA"]) if "/AA" in keys else None
        if additional is not None:
            for event in additional:
                self.automatic(additional[event], "/AA", ref)

    def automatic(self, first: Any, trigger: str, ref: str) -> None:
        """An action run without a click, followed along its /Next chain: none may leave the letter.  An
        action object already followed (from any trigger) is not followed again; a chain longer than
        :data:`PDF_MAX_ACTIONS` is refused, never taken for clean."""
        pk = self.pk
        stack: list[Any] = [first]
        steps = 0
        while stack:
            node = stack.pop()
            action = self.dictionary(node)
            if action is None:
                continue  # a destination array: go to a page of this file
            where = _ref(node) if node.is_indirect else ref
            if node.is_indirect:
                if node.objgen in self.actions_seen:
                    continue
                self.actions_seen.add(node.objgen)
            steps += 1
            if steps > PDF_MAX_ACTIONS:
                raise self.refuse("pdf_action_chain", _("The PDF chains more than %(max)s actions one after another "
                                                        "(object %(obj)s); %(fix)s."), max=PDF_MAX_ACTIONS,
                                  obj=ref, fix=PLAIN)
            kind = self.name(action, "/S")
            if kind == "/JavaScript" or kind == "/Launch":
                self.check_dict(action, where)
            if kind in PDF_AUTO_ACTIONS:
                raise self.refuse("pdf_auto_action", _("The PDF would %(action)s by itself, %(trigger)s (object "
                                                       "%(obj)s); %(fix)s."), action=PDF_AUTO_ACTIONS[kind],
                                  trigger=PDF_TRIGGERS[trigger], obj=where, fix=PLAIN)
            after = action.get("/Next")
            if isinstance(after, pk.Array):
                stack.extend(after)
            elif after is not None:
                stack.append(after)

    def unpack(self, stream: Any, ref: str) -> None:
        """Unpack a stream's generalized filters, counting the bytes against the budget."""
        pk = self.pk
        chain = stream.get("/Filter")
        filters = [str(f) for f in chain] if isinstance(chain, pk.Array) else [str(chain)] if chain is not None else []
        if set(filters) & PDF_REFUSED_FILTERS:
            raise self.refuse("pdf_lzw", _("The PDF uses LZW compression (object %(obj)s), which is not accepted; "
                                           "%(fix)s."), "damaged_file", obj=ref, fix=SAVE_AGAIN)
        unknown = [f for f in filters if f not in PDF_GENERAL_FILTERS | PDF_IMAGE_FILTERS]
        if unknown:
            raise self.refuse("pdf_damaged_stream", _("A part of the PDF (object %(obj)s) is packed in a way no "
                                                      "viewer knows; %(fix)s."), "damaged_file", obj=ref,
                              fix=SAVE_AGAIN)
        if any(f in PDF_IMAGE_FILTERS for f in filters):
            return  # an image: pixels, never objects
        try:
            size = len(stream.read_bytes())
        except pk.PdfError as exc:
            if "memory limit" in str(exc):
                raise self.bomb() from None
            raise self.refuse("pdf_damaged_stream", _("A part of the PDF (object %(obj)s) cannot be unpacked; "
                                                      "%(fix)s."), "damaged_file", obj=ref, fix=SAVE_AGAIN) from None
        self.budget -= size
        if self.budget < 0:
            raise self.bomb()

    def bomb(self) -> FileRefused:
        return self.refuse("pdf_bomb", _("The PDF unpacks to more than %(max)s bytes."), "file_too_large",
                           max=self.limit)


def _pdf_unreadable(refused: Any, exc: Exception, unpack_budget: int) -> FileRefused:
    """What qpdf's failure to read a PDF means for the sender: a decompression bomb stopped by the
    memory limits, or a damaged structure."""
    if "memory limit" in str(exc):
        return refused("pdf_bomb", _("The PDF unpacks to more than %(max)s bytes."), "file_too_large",
                       max=unpack_budget)
    return refused("pdf_unreadable", _("The PDF cannot be read: its structure is damaged; %(fix)s."),
                   fix=SAVE_AGAIN)


def check_pdf(data: bytes, *, unpack_budget: int, where: str | None = None, field: str | None = None) -> None:
    """Refuse a PDF that is not exactly one intact, unencrypted PDF, or that carries active content:
    JavaScript, launch actions, embedded files, rich media, XFA forms, or an /OpenAction or /AA that
    would open a web address, send or import form data or open another file by itself; or that is
    another file too: anything after its real end (:func:`_pdf_check_end`), a ZIP anywhere
    (:func:`zip_record`), a web page or script outside its streams.  Every stream is unpacked (filter
    chains, object streams) within ``unpack_budget`` bytes in all."""
    import pikepdf
    from pikepdf import settings as qpdf

    def refused(specific: str, message: Any, code: str = "damaged_file", **params: Any) -> FileRefused:
        return refuse(code, message, where=where, field=field, specific=specific, **params)

    if not data.startswith(b"%PDF-"):
        raise leading_bytes(data, where=where, field=field)
    misplaced = _pdf_check_end(data, refused)
    hidden_zip = zip_record(data, headers=False)
    if hidden_zip is not None:
        raise _pdf_hidden(refused, _("a ZIP archive"), hidden_zip)
    # qpdf unpacks object streams while it parses: cap each stream's unpacking before it starts
    qpdf.set_qpdf_limits(flate_max_memory=unpack_budget + 1, run_length_max_memory=unpack_budget + 1,
                         png_max_memory=unpack_budget + 1, tiff_max_memory=unpack_budget + 1,
                         doc_max_warnings=PDF_MAX_WARNINGS)
    try:
        pdf = pikepdf.open(io.BytesIO(data), inherit_page_attributes=False, suppress_warnings=True)
    except pikepdf.PasswordError:
        raise refused("pdf_encrypted", _("The PDF is encrypted or password-protected; remove the protection and "
                                         "try again.")) from None
    except (pikepdf.PdfError, ValueError, RuntimeError) as exc:
        raise _pdf_unreadable(refused, exc, unpack_budget) from None
    with pdf:
        if pdf.is_encrypted:
            raise refused("pdf_encrypted", _("The PDF is encrypted or password-protected; remove the protection "
                                             "and try again."))
        try:
            _PdfScan(pdf, unpack_budget, where, field).run()
            if misplaced or pdf.get_warnings():
                raise _pdf_repaired(refused)
            markup = _pdf_markup_outside_streams(data, pdf)
        except FileRefused:
            raise
        except (pikepdf.PdfError, ValueError, RuntimeError) as exc:
            raise _pdf_unreadable(refused, exc, unpack_budget) from None
        if markup is not None:
            raise _pdf_hidden(refused, _("a web page or script"), markup)


def _pdf_repaired(refused: Callable[..., FileRefused]) -> FileRefused:
    return refused("pdf_repaired", _("The PDF is damaged: it can only be read after repairing its structure, and a "
                                     "viewer might then show something other than what was checked; %(fix)s."),
                   fix=SAVE_AGAIN)


def _pdf_hidden(refused: Callable[..., FileRefused], what: Any, offset: int) -> FileRefused:
    return refused("pdf_hidden_content", _("The PDF also carries %(what)s (at byte %(offset)s), which another program "
                                           "could open; such files are refused."), "active_content", what=what,
                   offset=offset)


# The real end of a PDF, as qpdf finds it: the last ``startxref`` gives the offset of the newest
# cross-reference section; qpdf reads it and the older ones its /Prev (and /XRefStm) name.  The last of
# those sections in the file must be followed by nothing but that ``startxref … %%EOF``: anything else
# after the end (a ZIP whose comment repeats the ``startxref``, a web page followed by a second
# ``%%EOF``) is another file riding along.  A linearized file's last ``startxref`` names its first-page
# section at the top, whose /Prev is the main section at the bottom: still the last in the file.

_PDF_WS = b"\x00\t\n\x0c\r "
_PDF_SPACE = re.compile(rb"(?:[\x00\t\n\x0c\r ]+|%[^\r\n]*)*")
_PDF_STARTXREF = re.compile(rb"startxref[\x00\t\n\x0c\r ]+(\d{1,15})[\x00\t\n\x0c\r ]+%%EOF")
_PDF_XREF_TABLE = re.compile(rb"xref[0-9fn\x00\t\n\x0c\r ]*trailer")
_PDF_OBJ_HEADER = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj")
_PDF_STREAM_START = re.compile(rb"[\x00\t\n\x0c\r ]*stream(?:\r\n|\n|\r)")
_PDF_STREAM_END = re.compile(rb"[\x00\t\n\x0c\r ]*endstream[\x00\t\n\x0c\r ]*endobj")
_PDF_REGULAR = re.compile(rb"/?[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_PDF_STRING_PART = re.compile(rb"\\.|[()]", re.S)
#: a web page or script where no viewer looks but a browser might (outside the data of every stream)
PDF_MARKUP: Markers = ((b"<script", b""), (b"<html", _SPACE_OR + b">"), (b"<!doctype", b""), (b"<iframe", b""),
                       (b"<svg", _SPACE_OR + b"/>"), (b"<body", _SPACE_OR + b">"), (b"<object", b""),
                       (b"<embed", b""), (b"javascript:", b""))


class _PdfCap(Exception):
    """A limit of the raw structure walk was reached: refused, never taken for clean."""


def _pdf_check_end(data: bytes, refused: Callable[..., FileRefused]) -> bool:
    """Refuse a PDF with anything after its real end (see above), or without one.  True when a
    cross-reference section is not where the file says: qpdf will read it only by repairing it (refused
    after the objects are checked, so that what they hide is named first)."""
    last = None
    for match in _PDF_STARTXREF.finditer(data):
        last = match
    if last is None:
        if b"%%EOF" not in data:
            raise refused("pdf_truncated", _("The PDF is incomplete (no end-of-file marker)."))
        raise refused("pdf_unreadable", _("The PDF cannot be read: its structure is damaged; %(fix)s."),
                      fix=SAVE_AGAIN)
    trailing = len(data[last.end():].strip(_PDF_WS))
    if not trailing:
        try:
            end = _pdf_sections_end(data, int(last.group(1)))
        except ValueError:
            return True
        except _PdfCap:
            raise refused("pdf_too_many_sections", _("The PDF was updated more than %(max)s times; %(fix)s."),
                          "file_too_large", max=PDF_MAX_SECTIONS, fix=SAVE_AGAIN) from None
        if end > last.start():
            return True
        trailing = len(data[end:last.start()].strip(_PDF_WS))
    if trailing:
        raise refused("pdf_trailing_data", _("The PDF has %(count)s bytes of other content after its end (another "
                                             "file may hide there); such files are refused."), "active_content",
                      count=trailing)
    return False


def _pdf_sections_end(data: bytes, first: int) -> int:
    """Where the last (in the file) of the cross-reference sections reached from ``first`` ends;
    ValueError when one is not where it is said to be."""
    todo, ends = [first], []
    seen: set[int] = set()
    while todo:
        offset = todo.pop()
        if offset in seen:
            continue
        if len(seen) >= PDF_MAX_SECTIONS:
            raise _PdfCap
        seen.add(offset)
        end, entries = _pdf_section(data, offset)
        ends.append(end)
        for key in (b"/Prev", b"/XRefStm"):
            value = entries.get(key)
            if value is not None:
                if not value.isdigit():
                    raise ValueError("offset")
                todo.append(int(value))
    return max(ends)


def _pdf_section(data: bytes, offset: int) -> tuple[int, dict[bytes, bytes | None]]:
    """The end of the cross-reference section (a table and its trailer, or a cross-reference stream)
    at ``offset``, and its dictionary's top-level entries."""
    if not 0 <= offset < len(data):
        raise ValueError("offset")
    pos = _PDF_SPACE.match(data, offset).end()  # type: ignore[union-attr]
    table = _PDF_XREF_TABLE.match(data, pos)
    if table:
        return _pdf_dict(data, _PDF_SPACE.match(data, table.end()).end())  # type: ignore[union-attr]
    header = _PDF_OBJ_HEADER.match(data, pos)
    if not header:
        raise ValueError("section")
    end, entries = _pdf_dict(data, _PDF_SPACE.match(data, header.end()).end())  # type: ignore[union-attr]
    length = entries.get(b"/Length")
    start = _PDF_STREAM_START.match(data, end)
    if entries.get(b"/Type") != b"/XRef" or length is None or not length.isdigit() or not start:
        raise ValueError("xref stream")
    close = _PDF_STREAM_END.match(data, start.end() + int(length))
    if not close:
        raise ValueError("xref stream")
    return close.end(), entries


def _pdf_dict(data: bytes, pos: int) -> tuple[int, dict[bytes, bytes | None]]:
    """Where the dictionary starting at ``pos`` ends, and its top-level entries: a name or number as
    written, None for a reference, an array, a dictionary or a string.  ValueError when it is not a
    well-formed dictionary."""
    if not data.startswith(b"<<", pos):
        raise ValueError("dictionary")
    closing: list[bytes] = []
    tokens: list[bytes | None] = []
    n = len(data)
    while True:
        pos = _PDF_SPACE.match(data, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            raise ValueError("unterminated")
        top = len(closing) == 1
        if data.startswith(b"<<", pos) or data[pos:pos + 1] == b"[":
            if top:
                tokens.append(None)
            opener = data[pos:pos + 1]
            closing.append(b">>" if opener == b"<" else b"]")
            pos += 2 if opener == b"<" else 1
        elif data.startswith(b">>", pos) or data[pos:pos + 1] == b"]":
            token = b">>" if data[pos:pos + 1] == b">" else b"]"
            if not closing or closing.pop() != token:
                raise ValueError("nesting")
            pos += len(token)
            if not closing:
                break
        elif data[pos:pos + 1] == b"(":
            pos = _pdf_string_end(data, pos)
            if top:
                tokens.append(None)
        elif data[pos:pos + 1] == b"<":
            close = data.find(b">", pos)
            if close < 0:
                raise ValueError("hex string")
            pos = close + 1
            if top:
                tokens.append(None)
        else:
            word = _PDF_REGULAR.match(data, pos).group()  # type: ignore[union-attr]
            if not word.strip(b"/") and word != b"/":
                raise ValueError("token")
            pos += len(word)
            if top:
                tokens.append(word)
    entries: dict[bytes, bytes | None] = {}
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if key is None or not key.startswith(b"/") or i + 1 >= len(tokens):
            raise ValueError("entry")
        value = tokens[i + 1]
        if (i + 3 < len(tokens) and tokens[i + 3] == b"R" and value is not None and value.isdigit()
                and (tokens[i + 2] or b"").isdigit()):
            entries[key] = None
            i += 4
        else:
            entries[key] = value
            i += 2
    return pos, entries


def _pdf_string_end(data: bytes, pos: int) -> int:
    """Where the literal string opening at ``pos`` ends (balanced parentheses, backslash escapes)."""
    depth = 0
    for part in _PDF_STRING_PART.finditer(data, pos):
        if part.group() == b"(":
            depth += 1
        elif part.group() == b")":
            depth -= 1
            if depth == 0:
                return part.end()
    raise ValueError("string")


def _pdf_markup_outside_streams(data: bytes, pdf: Any) -> int | None:
    """The offset of the first web-page or script marker outside the data of every stream qpdf reads (in a
    comment, a string, between objects, in an object no cross-reference names), or None."""
    import bisect

    import pikepdf

    hits = sorted(pos for pos, _marker in find_markers(data, PDF_MARKUP))
    if not hits:
        return None
    regions: list[tuple[int, int]] = []
    for (num, gen), entry in pdf.get_xref_table().items():
        if entry.type != 1:
            continue
        obj = pdf.get_object(num, gen)
        if not isinstance(obj, pikepdf.Stream):
            continue
        header = _PDF_OBJ_HEADER.match(data, entry.offset)
        try:
            if not header:
                continue
            end, _entries = _pdf_dict(data, _PDF_SPACE.match(data, header.end()).end())  # type: ignore[union-attr]
        except ValueError:
            continue
        start = _PDF_STREAM_START.match(data, end)
        if start:
            regions.append((start.end(), start.end() + len(obj.read_raw_bytes())))
    regions.sort()
    starts = [start for start, _end in regions]
    for hit in hits:
        at = bisect.bisect_right(starts, hit) - 1
        if at < 0 or hit >= regions[at][1]:
            return hit
    return None


def leading_bytes(data: bytes, *, where: str | None = None, field: str | None = None) -> FileRefused:
    """A PDF behind other content (viewers look for the header in the first kilobyte: a web page may
    come first)."""
    return refuse("wrong_file_type", _("The file has %(count)s bytes of other content (such as a web page) before "
                                       "its PDF header; such files are refused."), where=where, field=field,
                  specific="pdf_leading_bytes", count=max(data.find(b"%PDF-"), 0))


# ------------------------------------------------------------------ images (SHR-2, issue 9)

#: the largest image decoded: a page of A4 scanned at 600 dpi is about 35 million pixels
IMAGE_MAX_PIXELS = 40_000_000
#: what the text an image keeps (JPEG comments and XMP, PNG text chunks) must not carry: a web page or
#: script, a PDF, a ZIP (the GIFAR trick).  Some of these patterns are short (``<a ``, ``<img``): they turn
#: up by chance in compressed bytes — in about 2 % of photos with an EXIF thumbnail — so they are searched
#: in text only, never in binary segments
IMAGE_HIDDEN = re.compile(rb"<\s*(?:script|html|body|head|iframe|svg|object|embed|meta|img|a\s|!doctype)|"
                          rb"javascript:|<\?php|%PDF-|PK\x03\x04", re.I)
#: markers long enough (about 2^-34 per byte or less in random bytes) to be searched in the whole file —
#: pixel data, thumbnails, colour profiles and all: a web page stored uncompressed in a PNG's pixels or in
#: a JPEG's quantization tables is still a web page to a browser
IMAGE_MARKERS: Markers = ((b"<script", b""), (b"<html", _SPACE_OR + b">"), (b"<!doctype", b""), (b"<iframe", b""),
                          (b"<svg", _SPACE_OR + b"/>"), (b"<object", b""), (b"<embed", b""), (b"<?php", b""),
                          (b"javascript:", b""), (b"%pdf-", b""))
#: a PNG text chunk unpacks to at most this (Pillow's own limit for one text chunk)
IMAGE_MAX_TEXT = MB
_TEXT_CHUNKS = {b"tEXt": 0, b"zTXt": 1, b"iTXt": 2}
#: application segments of a JPEG that hold text: XMP and extended XMP
_XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
#: start-of-frame markers (baseline, progressive, lossless …; not DHT C4, JPG C8, DAC CC)
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: further pictures a multi-picture JPEG (CIPA DC-007 "MPF": phones' HDR gain maps and depth maps,
#: stereo cameras) may carry after its first one's end
JPEG_MAX_FURTHER_PICTURES = 4
_ZIP_RECORD = re.compile(rb"PK(?:\x03\x04|\x01\x02|\x05\x06)")


def find_markers(data: bytes, markers: Markers, *, first: bool = False) -> list[tuple[int, bytes]]:
    """Where ``markers`` occur in ``data``, case aside: (offset, marker) pairs, only the first one with
    ``first``.  One case-sensitive expression over the lower-cased file (``re.I`` takes four times longer:
    a third of a second on a 10 MB image)."""
    pattern = _marker_pattern(markers)
    lowered = data.lower()
    found = [pattern.search(lowered)] if first else pattern.finditer(lowered)
    return [(m.start(), m.group()) for m in found if m is not None]


@functools.cache
def _marker_pattern(markers: Markers) -> re.Pattern[bytes]:
    return re.compile(b"|".join(re.escape(literal) + (b"(?=[" + re.escape(follow) + b"])" if follow else b"")
                                for literal, follow in markers))


def zip_record(data: bytes, *, headers: bool = True) -> int | None:
    """The offset of the first ZIP record in ``data`` (the GIFAR or PDF/ZIP polyglot), or None.

    An end-of-central-directory record counts when a ZIP reader would find its central directory right
    before it (or where it says, or a ZIP64 locator before it): that is how every reader opens an archive,
    and four bytes ``PK\\x05\\x06`` alone turn up by chance in one 10 MB file in 400.  With ``headers``,
    a local or central file header (its "version needed" below 6.4) counts too."""
    n = len(data)
    for found in _ZIP_RECORD.finditer(data):
        pos = found.start()
        kind = data[pos + 2]
        if kind == 3 and headers:
            if data[pos + 4:pos + 6] and data[pos + 4] < 64 and data[pos + 5:pos + 6] == b"\x00":
                return pos
        elif kind == 1 and headers:
            if data[pos + 6:pos + 8] and data[pos + 6] < 64 and data[pos + 7:pos + 8] == b"\x00":
                return pos
        elif kind == 5 and pos + 22 <= n:
            size, offset = struct.unpack_from("<II", data, pos + 12)
            directory = pos - size
            if ((0 <= directory < pos and data.startswith(b"PK\x01\x02", directory))
                    or (offset < n and data.startswith(b"PK\x01\x02", offset))
                    or (pos >= 20 and data.startswith(b"PK\x06\x07", pos - 20))):
                return pos
    return None


class _TooMuchText(ValueError):
    """A PNG text chunk that unpacks beyond :data:`IMAGE_MAX_TEXT`."""


def check_image(data: bytes, kind: FileType, *, where: str | None = None, field: str | None = None) -> None:
    """Refuse a PNG or JPEG that does not decode completely or is something else too: bytes after its
    end, a web page, script, PDF or ZIP in its text (:data:`IMAGE_HIDDEN`) or anywhere in it
    (:data:`IMAGE_MARKERS`, :func:`zip_record`), or more than :data:`IMAGE_MAX_PIXELS` pixels.

    A multi-picture JPEG (a phone photo with an HDR gain map or a depth map after the photo) passes
    when everything after the first picture is the further pictures its MPF index names, each a
    complete JPEG checked like the first, together no larger than the first (:func:`_further_pictures`)."""
    damaged = (_("The PNG image is damaged or incomplete.") if kind is PNG
               else _("The JPEG image is damaged or incomplete."))

    def refused(specific: str, message: Any, code: str = "damaged_file", **params: Any) -> FileRefused:
        return refuse(code, message, where=where, field=field, specific=specific, **params)

    try:
        texts, end, size_of_first = _png_parts(data) if kind is PNG else _jpeg_parts(data)
        width, height = size_of_first
    except _TooMuchText:
        raise refused("image_text_too_large", _("A text chunk of the image unpacks to more than %(max)s MB; such "
                                                "files are refused."), "file_too_large",
                      max=IMAGE_MAX_TEXT // MB) from None
    except ValueError:
        raise refused("image_damaged", damaged) from None
    if width * height > IMAGE_MAX_PIXELS:
        raise _image_bomb(refused, width, height)
    further = [] if end == len(data) else None if kind is PNG else _further_pictures(data, end)
    if further is None:
        raise refused("image_trailing_data", _("The image has %(count)s bytes of other content after its end "
                                               "(another file may hide there); such files are refused."),
                      "active_content", count=len(data) - end)
    further_pixels = 0
    for _start, _stop, more, (width, height) in further:  # each further picture is checked as the first one is
        # together no more pixels than the first picture (a gain map or depth map is smaller): at most
        # twice the first picture's decoding work
        further_pixels += width * height
        if width * height > IMAGE_MAX_PIXELS or further_pixels > size_of_first[0] * size_of_first[1]:
            raise _image_bomb(refused, width, height)
        texts = texts + more
    for text in texts:
        found = IMAGE_HIDDEN.search(text)
        if found:
            raise refused("image_hidden_content", _("The image carries %(what)s in its metadata; such files are "
                                                    "refused."), "active_content", what=_hidden_what(found.group()))
    markers = find_markers(data, IMAGE_MARKERS, first=True)
    at = zip_record(data, headers=True)
    if markers and (at is None or markers[0][0] < at):
        at, what = markers[0][0], _hidden_what(markers[0][1].upper())
    else:
        what = _hidden_what(b"PK")
    if at is not None:
        raise refused("image_hidden_content", _("The image carries %(what)s hidden in its data (at byte "
                                                "%(offset)s); such files are refused."), "active_content", what=what,
                      offset=at)
    _decode_image(data[:end], kind, size_of_first, refused, damaged)
    for start, stop, _texts, size in further:
        _decode_image(data[start:stop], kind, size, refused, damaged)


def _further_pictures(data: bytes, end: int) -> list[tuple[int, int, list[bytes], tuple[int, int]]] | None:
    """The further pictures of a multi-picture JPEG after its first one's ``end`` — where each starts
    and ends, its text segments and its size in pixels; None when what follows is anything else.  The first picture must declare them (CIPA DC-007: an APP2 ``MPF``
    index) and every byte after it must be the pictures its index names, starting where it says, one
    after the other, each a complete JPEG of its own, at most :data:`JPEG_MAX_FURTHER_PICTURES`.  A ZIP,
    a web page or padding there is refused."""
    declared = _mpf_pictures(data)
    if not declared or len(declared) > JPEG_MAX_FURTHER_PICTURES:
        return None
    pictures: list[tuple[int, int, list[bytes], tuple[int, int]]] = []
    pos = end
    for start, _size in declared:  # where each starts (the sizes some writers get wrong: read them here)
        if start != pos or data[pos:pos + 2] != b"\xff\xd8":
            return None
        try:
            texts, length, pixels = _jpeg_parts(data[pos:])
        except ValueError:
            return None
        pictures.append((pos, pos + length, texts, pixels))
        pos += length
    return pictures if pos == len(data) else None


def _mpf_pictures(data: bytes) -> list[tuple[int, int]] | None:
    """(offset in the file, size) of the pictures after the first that the first picture's MPF index
    names, in file order; None without a readable index (none, or one that does not add up)."""
    found: list[tuple[int, int]] = []
    try:
        _jpeg_parts(data, mpf=found)
    except ValueError:
        return None
    return _mpf_index(found[0][0], data[found[0][0]:found[0][1]]) if found else None


def _mpf_index(base: int, header: bytes) -> list[tuple[int, int]] | None:
    """The MP Index IFD of an MPF segment (``header``: from its byte-order mark; offsets in it count
    from ``base``, its place in the file): the further pictures' (offset in the file, size)."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(header[:4])
    if order is None or len(header) < 10:
        return None
    try:
        ifd = struct.unpack_from(order + "I", header, 4)[0]
        (count,) = struct.unpack_from(order + "H", header, ifd)
        tags = {}
        for i in range(min(count, 64)):
            tag, _type, number, value = struct.unpack_from(order + "HHII", header, ifd + 2 + 12 * i)
            tags[tag] = (number, value)
        images = tags[0xB001][1]  # NumberOfImages
        number, at = tags[0xB002]  # MPEntry: 16 bytes a picture
        if not 2 <= images <= JPEG_MAX_FURTHER_PICTURES + 1 or number != 16 * images:
            return None
        entries = [struct.unpack_from(order + "IIIHH", header, at + 16 * i) for i in range(images)]
    except (struct.error, KeyError):
        return None
    if entries[0][2] != 0:  # the first picture is the one read
        return None
    further = sorted((base + offset, size) for _attr, size, offset, _d1, _d2 in entries[1:])
    return further if all(size > 0 and offset > 0 for _attr, size, offset, _d1, _d2 in entries[1:]) else None


def _hidden_what(found: bytes) -> Any:
    return (_("a PDF document") if found.startswith(b"%PDF") else _("a ZIP archive") if found.startswith(b"PK")
            else _("a web page or script"))


def _png_parts(data: bytes) -> tuple[list[bytes], int, tuple[int, int]]:
    """The text of a PNG's text chunks (unpacked), where IEND ends and the size in pixels; ValueError
    when a chunk is cut short, its checksum is wrong or IEND is missing."""
    if data[12:16] != b"IHDR" or len(data) < 24:
        raise ValueError("header")
    texts: list[bytes] = []
    pos = 8
    while True:
        if pos + 12 > len(data):
            raise ValueError("truncated")
        length, name = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated")
        body = data[pos + 8:end - 4]
        if zlib.crc32(name + body) != int.from_bytes(data[end - 4:end], "big"):
            raise ValueError("checksum")
        if name in _TEXT_CHUNKS:
            texts.extend(_png_text(body, _TEXT_CHUNKS[name]))
        pos = end
        if name == b"IEND":
            width, height = struct.unpack(">II", data[16:24])
            return texts, pos, (width, height)


def _png_text(body: bytes, kind: int) -> list[bytes]:
    """The text of a tEXt, zTXt or iTXt chunk: its keyword and the text, unpacked (at most
    :data:`IMAGE_MAX_TEXT`; more is :class:`_TooMuchText`)."""
    keyword, _sep, rest = body.partition(b"\x00")
    if kind == 0:  # tEXt: keyword \0 text
        return [body]
    if kind == 2:  # iTXt: flag, method, language \0, translated keyword \0, text
        flag = rest[:1]
        language, _sep, rest = rest[2:].partition(b"\x00")
        translated, _sep, rest = rest.partition(b"\x00")
        keyword += b"\x00" + language + b"\x00" + translated
        if flag != b"\x01":
            return [keyword, rest]
    else:  # zTXt: method, compressed text
        rest = rest[1:]
    unpack = zlib.decompressobj()
    try:
        text = unpack.decompress(rest, IMAGE_MAX_TEXT)
    except zlib.error:
        raise ValueError("text") from None
    if unpack.unconsumed_tail:
        raise _TooMuchText
    return [keyword, text]


def _jpeg_parts(data: bytes, mpf: list[tuple[int, int]] | None = None) -> tuple[list[bytes], int, tuple[int, int]]:
    """The text segments of a JPEG (comments, XMP), where its end-of-image marker ends and the size in
    pixels (of its first frame); ValueError when the structure is cut short or broken.  ``mpf``: gets
    where the MP index of an APP2 ``MPF`` segment before the first scan starts and ends."""
    texts: list[bytes] = []
    size = (0, 0)
    scanned = False
    pos, n = 2, len(data)
    while pos + 1 < n:
        if data[pos] != 0xFF:
            raise ValueError("marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            return texts, pos + 2, size
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > n:
            raise ValueError("truncated")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > n:
            raise ValueError("truncated")
        body = data[pos + 4:pos + 2 + length]
        if marker == 0xFE or (marker == 0xE1 and body.startswith(_XMP_PREFIXES)):
            texts.append(body)
        elif marker in _JPEG_FRAMES and size == (0, 0) and length >= 7:
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            size = (width, height)
        elif marker == 0xE2 and mpf is not None and not mpf and not scanned and body.startswith(b"MPF\x00"):
            mpf.append((pos + 8, pos + 2 + length))
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            scanned = True
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    raise ValueError("truncated")
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                    continue
                if following == 0xFF:
                    pos += 1
                    continue
                break
    raise ValueError("truncated")


def _image_bomb(refused: Callable[..., FileRefused], width: int, height: int) -> FileRefused:
    return refused("image_bomb", _("The image is %(width)s × %(height)s pixels; at most %(max)s million pixels are "
                                   "accepted."), "file_too_large", width=width, height=height,
                   max=IMAGE_MAX_PIXELS // 1_000_000)


def _decode_image(data: bytes, kind: FileType, size: tuple[int, int], refused: Callable[..., FileRefused],
                  damaged: Any) -> None:
    """Decode every pixel (Pillow); Pillow's own decompression-bomb warning is a refusal too."""
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = IMAGE_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=["PNG" if kind is PNG else "JPEG"]) as image:
                if image.width * image.height > IMAGE_MAX_PIXELS:  # a frame larger than the header said
                    raise _image_bomb(refused, image.width, image.height)
                image.load()
        except FileRefused:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise _image_bomb(refused, *size) from None
        except Exception:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, struct.error …)
            raise refused("image_damaged", damaged) from None


def clean_name(name: str, default: str = "file") -> str:
    """The user's file name as a label only: path parts and control characters removed."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:150].strip()
    return base or default
