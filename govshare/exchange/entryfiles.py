"""Files shared under catalog entries of a file kind (EXC-2 file exchange; issue 11 item 7): what content each kind
takes, the checks every file passes before it is kept, and where versions are stored.

Every file is hostile until checked (:mod:`govshare.core.files`), by its content, never by its name:

=================  ==========================================================================================
format class       accepted content
=================  ==========================================================================================
电子文件 file        PDF (no JavaScript, launch actions, embedded files …: ``check_pdf``), OFD, DOCX, XLSX,
                   PPTX (no macros, external links, embedded objects; no DTD in any XML part), plain text
电子表格 spreadsheet  XLSX (as above), CSV / plain text
图形图像 image        PNG, JPEG (decoded whole: nothing after the picture, no page or script, no pixel bomb:
                   ``check_image``), TIFF (no page, script, PDF or ZIP inside)
流媒体 stream        MP4 (``ftyp``), MP3, WAV
自描述格式            JSON, GeoJSON, XML (no document type or entity declaration), plain text
=================  ==========================================================================================

Executables, scripts and archives that pretend to be something else are refused by what they are; a ZIP that is
not a document is refused; ZIP-based documents pass the archive-bomb limits.  Text is UTF-8 (or GB 18030) without
NUL bytes.  Whole-content checks (PDF structure, ZIP parts, XML declarations) read files up to
:data:`DEEP_CHECK_BYTES`; a larger PDF or ZIP-based document is refused (media files are checked by their headers).

Versions are kept under ``GOVSHARE_FILE_DIR`` (default ``<data dir>/files``) by their own token — put it on shared
storage (NFS, a mounted object store) when several servers serve the platform; resumable uploads collect their
pieces in its ``incoming`` folder.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import FormatClass
from govshare.core import files
from govshare.core.files import MB

#: the format classes whose entries share files
FILE_KINDS = (FormatClass.FILE, FormatClass.SPREADSHEET, FormatClass.IMAGE, FormatClass.STREAM,
              FormatClass.SELF_DESCRIBING)
ACCEPTED: dict[str, tuple[str, ...]] = {
    FormatClass.FILE: ("pdf", "ofd", "docx", "xlsx", "pptx", "text"),
    FormatClass.SPREADSHEET: ("xlsx", "text"),
    FormatClass.IMAGE: ("png", "jpeg", "tiff"),
    FormatClass.STREAM: ("mp4", "mp3", "wav"),
    FormatClass.SELF_DESCRIBING: ("json", "xml", "text"),
}
MEDIA_TYPES = {"pdf": "application/pdf", "ofd": "application/ofd",
               "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
               "text": "text/plain; charset=utf-8", "png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif",
               "tiff": "image/tiff", "mp4": "video/mp4", "mp3": "audio/mpeg", "wav": "audio/wav",
               "json": "application/json", "xml": "application/xml"}
EXTENSIONS = {"jpeg": "jpg", "text": "txt"}
KIND_NAMES = {"pdf": "PDF", "ofd": "OFD", "docx": "Word (.docx)", "xlsx": "Excel (.xlsx)", "pptx": "PowerPoint (.pptx)",
              "text": "文本 / text (UTF-8, CSV)", "png": "PNG", "jpeg": "JPEG", "gif": "GIF", "tiff": "TIFF",
              "mp4": "MP4", "mp3": "MP3", "wav": "WAV", "json": "JSON / GeoJSON", "xml": "XML"}
#: the most bytes read whole for a structural check (PDF, ZIP-based documents, XML, JSON)
DEEP_CHECK_BYTES = 256 * MB
HEAD_BYTES = 64 * 1024


def file_dir() -> Path:
    return Path(settings.GOVSHARE_FILE_DIR)


def incoming_dir() -> Path:
    return file_dir() / "incoming"


def stored_path(token: Any) -> Path:
    return file_dir() / str(token)


def max_bytes() -> int:
    return int(settings.GOVSHARE_FILE_MAX_MB) * MB


@dataclass(frozen=True)
class Checked:
    kind: str
    media_type: str


def _refuse(code: str, message: Any, where: str, **params: Any) -> files.FileRefused:
    return files.refuse(code, message, where=where, field="file", **params)


def _wrong(format_class: str, where: str, what: str) -> files.FileRefused:
    accepted = "、".join(KIND_NAMES[k] for k in ACCEPTED.get(format_class, ()))
    return _refuse("wrong_file_type", _("This entry shares %(accepted)s files; the content of this file is %(what)s."),
                   where, accepted=accepted, what=what)


def _zip_kind(data: bytes, where: str) -> str:
    limits = files.ZipLimits(max_parts=5000, max_unpacked=max(256 * MB, 12 * len(data)), max_ratio=200)
    zf = files.open_zip(data, limits, where=where, field="file")
    try:
        names = set(zf.namelist())
        if "OFD.xml" in names:
            kind = "ofd"
        elif "[Content_Types].xml" in names and "word/document.xml" in names:
            kind = "docx"
        elif "[Content_Types].xml" in names and "xl/workbook.xml" in names:
            kind = "xlsx"
        elif "[Content_Types].xml" in names and "ppt/presentation.xml" in names:
            kind = "pptx"
        else:
            raise _refuse("archive_not_document", _("A ZIP archive is not a document: share the files it holds one "
                                                    "by one."), where)
        if kind == "ofd":
            _check_ofd(zf, where)
        else:
            files.check_office_package(zf, where=where, field="file")
        files.scan_xml_parts(zf, where=where, field="file")
        return kind
    finally:
        zf.close()


#: what an OFD package (GB/T 33190) holds: its XML, pictures, fonts, signatures
OFD_MEMBERS = (".xml", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".jb2", ".ttf", ".otf", ".ttc", ".dat",
               ".esl", ".sig")
OFD_NAMESPACE = "http://www.ofdspec.org/2016}"


def _check_ofd(zf: Any, where: str) -> None:
    """An OFD package: ``OFD.xml`` is an OFD document (its namespace), every other member has an OFD member's kind and
    none is an executable, script or archive by its content."""
    roots: list[str] = []
    try:
        with zf.open("OFD.xml") as part:
            files.expat_parse(part, lambda name, _attrs: roots.append(name) if not roots else None)
    except files.ForbiddenXml:
        raise files.xml_doctype("OFD.xml", where=where, field="file") from None
    except Exception:  # noqa: BLE001 — not XML
        roots.clear()
    if not roots or roots[0] != OFD_NAMESPACE + "OFD":
        raise _refuse("archive_not_document", _("A ZIP archive is not a document: share the files it holds one by "
                                                "one."), where)
    for info in zf.infolist():
        if info.is_dir():
            continue
        with zf.open(info) as member:
            head = member.read(16)
        found = files.detect(head)
        if not info.filename.lower().endswith(OFD_MEMBERS) or (found is not None and found.dangerous):
            raise _refuse("archive_not_document", _("The OFD package holds %(part)s, which is not part of an OFD "
                                                    "document."), where, part=info.filename[:100])


def _image(path: Path, size: int, kind: str, where: str) -> None:
    """PNG/JPEG decoded whole by the letters' check; TIFF searched for what must not hide in a picture."""
    if size > DEEP_CHECK_BYTES:
        raise _refuse("too_large_to_check", _("An image over %(max)s MB cannot be checked."), where,
                      max=DEEP_CHECK_BYTES // MB)
    data = path.read_bytes()
    if kind in ("png", "jpeg"):
        files.check_image(data, files.PNG if kind == "png" else files.JPEG, where=where, field="file")
        return
    if files.find_markers(data, files.IMAGE_MARKERS, first=True) or files.zip_record(data) is not None:
        raise _refuse("hidden_content", _("The image holds a web page, script, PDF or ZIP archive inside it."), where)


def _text_kind(path: Path, head: bytes, size: int, where: str) -> str:
    if b"\x00" in head:
        raise _refuse("binary_text", _("The file holds NUL bytes: it is not text."), where)
    for encoding in ("utf-8", "gb18030"):  # the whole file, in pieces: no NUL anywhere, one encoding throughout
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(MB), b""):
                    if b"\x00" in block:
                        raise _refuse("binary_text", _("The file holds NUL bytes: it is not text."), where)
                    decoder.decode(block, final=False)
            decoder.decode(b"", final=True)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _refuse("not_text", _("The file is neither UTF-8 nor GB 18030 text."), where)
    stripped = head[:HEAD_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        if size > DEEP_CHECK_BYTES:
            raise _refuse("too_large_to_check", _("An XML file over %(max)s MB cannot be checked."), where,
                          max=DEEP_CHECK_BYTES // MB)
        with path.open("rb") as stream:
            try:
                files.expat_parse(stream, lambda _name, _attrs: None)
            except files.ForbiddenXml:
                raise _refuse("xml_doctype", _("The XML declares a document type or entities (a way to read files "
                                               "or exhaust memory on the reader's side); remove them."), where) from None
            except Exception as exc:  # noqa: BLE001 — expat's errors: the file is not well-formed
                raise _refuse("bad_xml", _("The XML is not well-formed (%(detail)s)."), where,
                              detail=str(exc)[:200]) from None
        return "xml"
    if stripped.startswith((b"{", b"[")):
        return "json"
    return "text"


def check_file(path: Path, size: int, format_class: str, where: str) -> Checked:
    """The checked kind of the file at ``path`` for an entry of ``format_class``, or :class:`files.FileRefused`."""
    files.check_size(size, max_bytes(), where=where, field="file")
    if size == 0:
        raise _refuse("empty_file", _("The file is empty."), where)
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    found = files.detect(head)
    kind: str | None = None
    if found is files.PDF:
        if size > DEEP_CHECK_BYTES:
            raise _refuse("too_large_to_check", _("A PDF over %(max)s MB cannot be checked."), where,
                          max=DEEP_CHECK_BYTES // MB)
        files.check_pdf(path.read_bytes(), unpack_budget=DEEP_CHECK_BYTES, where=where, field="file")
        kind = "pdf"
    elif found is files.ZIP:
        if size > DEEP_CHECK_BYTES:
            raise _refuse("too_large_to_check", _("A ZIP-based document over %(max)s MB cannot be checked."), where,
                          max=DEEP_CHECK_BYTES // MB)
        kind = _zip_kind(path.read_bytes(), where)
    elif found in (files.PNG, files.JPEG):
        kind = "png" if found is files.PNG else "jpeg"
        if format_class == FormatClass.IMAGE:
            _image(path, size, kind, where)
    elif found is files.GIF:
        kind = "gif"  # not taken by any kind: a GIF's trailing data cannot be checked here
    elif found is not None and found.dangerous:
        raise _refuse("disguised_file", _("The file was refused: its content is of type %(what)s."), where,
                      what=found.label)
    elif head.startswith((b"II*\x00", b"MM\x00*")):
        kind = "tiff"
        if format_class == FormatClass.IMAGE:
            _image(path, size, kind, where)
    elif head[4:8] == b"ftyp":
        kind = "mp4"
    elif head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        kind = "mp3"
    elif head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        kind = "wav"
    else:
        kind = _text_kind(path, head, size, where)
    accepted = ACCEPTED.get(format_class, ())
    if kind not in accepted and not (kind in ("json", "xml") and "text" in accepted):
        raise _wrong(format_class, where, KIND_NAMES.get(kind, kind))
    if kind == "json" and "json" not in accepted:
        kind = "text"
    if kind == "xml" and "xml" not in accepted:
        kind = "text"
    return Checked(kind, MEDIA_TYPES[kind])


def download_name(name: str, kind: str) -> str:
    """The name a version is downloaded as: the shared file's name with the extension of its checked kind."""
    extension = EXTENSIONS.get(kind, kind)
    base = name.rsplit(".", 1)[0] if "." in name[-6:] else name
    return f"{base}.{extension}"


__all__ = ["ACCEPTED", "FILE_KINDS", "Checked", "check_file", "download_name", "file_dir",
           "incoming_dir", "max_bytes", "stored_path"]


# -- who reads shared files ------------------------------------------------------------------------------------------

@dataclass
class Reader:
    """Who reads an entry's files and on what basis: ``own`` (the provider's staff), ``grant`` (a consumer, through
    the access check over the file channel: ``grant`` names it), or ``records`` (the centre and auditors: the list,
    not the content)."""

    basis: str
    grant: Any = None


def reader_of(user: Any, entry: Any, purpose: str, *, system: Any = None) -> Reader:
    """How ``user`` (or ``system``) may read ``entry``'s files for ``purpose`` — or the access check's refusal
    (:class:`govshare.datastore.delivery.AccessRefused`, recorded)."""
    from govshare.catalog.permissions import is_centre
    from govshare.core.roles import Role
    from govshare.datastore import delivery

    if system is None and user.has_role(Role.AUDITOR):
        return Reader("records")  # auditors read records, never the data (as the access check says for every channel)
    if system is None and getattr(user, "department_id", None) == entry.provider_id and \
            user.role_set() & {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}:
        return Reader("own")
    if system is None and is_centre(user) and not purpose:
        return Reader("records")
    allowed = delivery.authorise(entry, user=None if system is not None else user, system=system,
                                 purpose=purpose, items=None, channel="file")
    return Reader("grant", allowed.decision.grant)
