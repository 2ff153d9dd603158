"""The stamped application letter (加盖公章的申请函, SHR-2): hostile until checked.

Accepted: PDF, PNG and JPEG, recognised by their content (magic bytes and structure), not by the
name or the declared type.  Refused: empty or oversized files, executables and archives under any
name, PDFs with active content (JavaScript, launch actions, embedded files), truncated images.
Files are stored under ``DATA_DIR/sharing/letters/`` with a random name; the user's file name is
kept only as a label (path parts stripped)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
EXECUTABLE_MAGIC = (
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O/Java class"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"#!", "script"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"Rar!", "RAR archive"),
    (b"7z\xbc\xaf", "7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "OLE document (may carry macros)"),
)
PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|RichMedia|OpenAction\s*<<[^>]*?/S\s*/JavaScript)\b")
PDF_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
FIELD = "letter"


@dataclass(frozen=True)
class Letter:
    name: str
    content_type: str
    extension: str
    size: int
    sha256: str
    data: bytes


def max_bytes() -> int:
    return int(getattr(settings, "GOVSHARE_LETTER_MAX_BYTES", DEFAULT_MAX_BYTES))


def _refuse(code: str, message: Any, **params: Any) -> ValidationFailed:
    return ValidationFailed(code, message, field=FIELD, **params)


def clean_name(name: str) -> str:
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:150].strip()
    return base or "letter"


def _sniff(data: bytes) -> tuple[str, str] | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf", "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    return None


def _unescape_names(data: bytes) -> bytes:
    """A PDF name may spell a character as #xx (/J#61vaScript is /JavaScript)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


def _pdf_parts(data: bytes, budget: int) -> Iterator[bytes]:
    """The file itself, then every Flate-compressed stream unpacked (object streams hide dictionaries,
    and with them /JavaScript or /Launch).  Unpacking stops at ``budget`` bytes: more is refused."""
    yield data
    for match in PDF_STREAM.finditer(data):
        unpacker = zlib.decompressobj()
        try:
            part = unpacker.decompress(match.group(1), budget + 1)
        except zlib.error:
            continue  # not Flate (an image, say): nothing to unpack
        budget -= len(part)
        if budget < 0:
            raise _refuse("letter_too_large", _("The PDF unpacks to more than %(max)s bytes."), max=4 * max_bytes())
        yield part


def check_letter(name: str, data: bytes) -> Letter:
    """Validate an uploaded letter; raises :class:`ValidationFailed` (field ``letter``) with the reason."""
    size = len(data)
    if size == 0:
        raise _refuse("letter_empty", _("The letter file is empty."))
    limit = max_bytes()
    if size > limit:
        raise _refuse("letter_too_large", _("The letter is %(size)s bytes; at most %(max)s bytes are accepted."),
                      size=size, max=limit)
    for magic, what in EXECUTABLE_MAGIC:
        if data.startswith(magic):
            raise _refuse("letter_disguised", _("The file is a %(what)s, not a PDF or an image; it was refused."),
                          what=what)
    sniffed = _sniff(data)
    if sniffed is None:
        raise _refuse("letter_type", _("The letter must be a PDF, PNG or JPEG file (the content is neither)."))
    content_type, ext = sniffed
    if ext == "pdf":
        tail = data[-2048:]
        if b"%%EOF" not in tail:
            raise _refuse("letter_damaged", _("The PDF is incomplete (no end-of-file marker)."))
        if any(PDF_ACTIVE.search(_unescape_names(part)) for part in _pdf_parts(data, 4 * limit)):
            raise _refuse("letter_active_content",
                          _("The PDF contains scripts, launch actions or embedded files; print it to a plain PDF."))
    elif ext == "png":
        if len(data) < 33 or data[12:16] != b"IHDR" or b"IEND" not in data[-12:]:
            raise _refuse("letter_damaged", _("The PNG image is damaged or incomplete."))
    elif not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise _refuse("letter_damaged", _("The JPEG image is damaged or incomplete."))
    return Letter(name=clean_name(name), content_type=content_type, extension=ext, size=size,
                  sha256=hashlib.sha256(data).hexdigest(), data=data)


def letters_dir() -> Path:
    configured = getattr(settings, "GOVSHARE_LETTERS_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "sharing" / "letters"


def store(letter: Letter) -> str:
    """Write the letter under a random name; returns the path relative to the letters directory."""
    folder = letters_dir()
    folder.mkdir(parents=True, exist_ok=True)
    rel = f"{secrets.token_hex(16)}.{letter.extension}"
    (folder / rel).write_bytes(letter.data)
    return rel


def path_of(rel: str) -> Path:
    """The absolute path of a stored letter; refuses anything that is not a plain stored name."""
    if not re.fullmatch(r"[0-9a-f]{32}\.(pdf|png|jpg)", rel or ""):
        raise ValidationFailed("letter_missing", _("No letter is stored for this application."), field=FIELD)
    return letters_dir() / rel


def discard(rel: str) -> None:
    with contextlib.suppress(ValidationFailed):
        path_of(rel).unlink(missing_ok=True)
