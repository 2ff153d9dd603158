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
* **PDF** — :func:`pdf_active_content`: JavaScript, launch actions, embedded files, also inside
  compressed object streams, with an unpacking budget.

Every refusal is a :class:`FileRefused` (a :class:`~govshare.core.errors.ValidationFailed`) with a
stable code; a channel may rename the code for its own API (:meth:`FileRefused.renamed`).  The module
depends on Django only for settings-free translation and the error class.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, Any, NoReturn

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed

MB = 1024 * 1024
SCAN_CHUNK = 64 * 1024


class FileRefused(ValidationFailed):
    """A file refused by one of the checks of this module."""

    def renamed(self, code: str | None = None, *, field: str | None = None,
                where: str | None = None) -> FileRefused:
        """The same refusal under a channel's own code, field or place (message and parameters kept)."""
        return FileRefused(code or self.code, self.message, field=field if field is not None else self.field,
                           row=self.row, where=where if where is not None else self.where, **self.params)


def refuse(code: str, message: Any, *, where: str | None = None, field: str | None = None,
           **params: Any) -> FileRefused:
    return FileRefused(code, message, where=where, field=field, **params)


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


# ------------------------------------------------------------------ PDF

PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|RichMedia|OpenAction\s*<<[^>]*?/S\s*/JavaScript)\b")
PDF_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)


def _unescape_names(data: bytes) -> bytes:
    """A PDF name may spell a character as #xx (/J#61vaScript is /JavaScript)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


def _pdf_parts(data: bytes, budget: int, where: str | None, field: str | None) -> Iterator[bytes]:
    """The file itself, then every Flate-compressed stream unpacked (object streams hide dictionaries,
    and with them /JavaScript or /Launch).  Unpacking stops at ``budget`` bytes: more is refused."""
    yield data
    limit = budget
    for match in PDF_STREAM.finditer(data):
        unpacker = zlib.decompressobj()
        try:
            part = unpacker.decompress(match.group(1), budget + 1)
        except zlib.error:
            continue  # not Flate (an image, say): nothing to unpack
        budget -= len(part)
        if budget < 0:
            raise refuse("file_too_large", _("The PDF unpacks to more than %(max)s bytes."), where=where, field=field,
                         max=limit)
        yield part


def check_pdf(data: bytes, *, unpack_budget: int, where: str | None = None, field: str | None = None) -> None:
    """Refuse an incomplete PDF and one with active content (scripts, launch actions, embedded files),
    looking into compressed streams up to ``unpack_budget`` unpacked bytes."""
    if b"%%EOF" not in data[-2048:]:
        raise refuse("damaged_file", _("The PDF is incomplete (no end-of-file marker)."), where=where, field=field)
    for part in _pdf_parts(data, unpack_budget, where, field):
        if PDF_ACTIVE.search(_unescape_names(part)):
            raise refuse("active_content", _("The PDF contains scripts, launch actions or embedded files; print it "
                                             "to a plain PDF."), where=where, field=field)


def check_image(data: bytes, kind: FileType, *, where: str | None = None, field: str | None = None) -> None:
    """Refuse a truncated or damaged PNG or JPEG."""
    if kind is PNG and (len(data) < 33 or data[12:16] != b"IHDR" or b"IEND" not in data[-12:]):
        raise refuse("damaged_file", _("The PNG image is damaged or incomplete."), where=where, field=field)
    if kind is JPEG and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise refuse("damaged_file", _("The JPEG image is damaged or incomplete."), where=where, field=field)


def clean_name(name: str, default: str = "file") -> str:
    """The user's file name as a label only: path parts and control characters removed."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:150].strip()
    return base or default
