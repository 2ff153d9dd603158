"""The stamped application letter (加盖公章的申请函, SHR-2): hostile until checked.

Accepted: PDF, PNG and JPEG, recognised by their content (magic bytes and structure), not by the
name or the declared type.  Refused: empty or oversized files, executables and archives under any
name, PDFs with active content (JavaScript, launch actions, embedded files), truncated images.
The checks are those of :mod:`govshare.core.files`, shared by every upload channel; the refusals keep
the letter's own codes (``letter_*``) and field.  Files are stored under ``DATA_DIR/sharing/letters/``
with a random name; the user's file name is kept only as a label (path parts stripped)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from govshare.core import files
from govshare.core.errors import ValidationFailed

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
ACCEPTED = (files.PDF, files.PNG, files.JPEG)
FIELD = "letter"
#: the core refusals under the letter's stable codes
LETTER_CODES = {
    "empty_file": "letter_empty",
    "file_too_large": "letter_too_large",
    "disguised_file": "letter_disguised",
    "wrong_file_type": "letter_type",
    "damaged_file": "letter_damaged",
    "active_content": "letter_active_content",
}


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


def clean_name(name: str) -> str:
    return files.clean_name(name, "letter")


def check_letter(name: str, data: bytes) -> Letter:
    """Validate an uploaded letter; raises :class:`ValidationFailed` (field ``letter``) with the reason."""
    limit = max_bytes()
    try:
        files.check_size(len(data), limit, field=FIELD)
        kind = files.require_type(data, ACCEPTED, field=FIELD)
        if kind is files.PDF:
            files.check_pdf(data, unpack_budget=4 * limit, field=FIELD)
        else:
            files.check_image(data, kind, field=FIELD)
    except files.FileRefused as exc:
        raise exc.renamed(LETTER_CODES.get(exc.code, exc.code), field=FIELD) from None
    return Letter(name=clean_name(name), content_type=kind.media_type, extension=kind.extension, size=len(data),
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
