"""Shared files (EXC-2 file exchange; issue 11 item 7): the provider's staff share files under a published entry of a
file kind, and new versions of them (every version kept); large files arrive as resumable uploads.

Each file's content is checked first (:mod:`govshare.exchange.entryfiles`); a refusal is audited (``FILE_REFUSED``) and
nothing is kept.  An accepted file is moved into ``GOVSHARE_FILE_DIR`` under its version's token, then the version row
and its audit event are written in one transaction (a crash between leaves an unreferenced file, never a version
without its file).  Resumable uploads take pieces only at the offset the server holds (a conditional UPDATE: a
piece sent twice, or two senders at once, cannot both land)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareMethod
from govshare.catalog.models import CatalogEntry
from govshare.core import audit, files
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, NotFound, ValidationFailed
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.exchange import entryfiles
from govshare.exchange.models import EntryFile, FileUpload, FileVersion

#: a resumable upload with no piece for this long expires
UPLOAD_IDLE = dt.timedelta(hours=24)
#: the largest piece of a resumable upload
MAX_PIECE = 16 * files.MB


def _entry(actor: Any, entry: CatalogEntry) -> CatalogEntry:
    require(actor, Capability.BIND_TABLES)
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry.pk)
    version = entry.current_version
    if entry.status != CatalogEntry.Status.PUBLISHED or version is None:
        raise ValidationFailed("entry_not_published", _("Files are shared under a published entry."), field="entry")
    if version.format_class not in entryfiles.FILE_KINDS or ShareMethod.FILE not in (version.share_methods or []):
        raise ValidationFailed("entry_not_files", _("Entry %(code)s does not share files (its format is %(format)s)."),
                               field="entry", code=entry.code, format=version.get_format_class_display())
    return entry


def _name(name: str) -> str:
    text = " ".join((name or "").split())[:200]
    if not text or any(ch in text for ch in "/\\\x00"):
        raise ValidationFailed("bad_file_name", _("Give the file a name (without / or \\)."), field="name")
    return text


def _target(entry: CatalogEntry, name: str, file_id: int | None) -> EntryFile | None:
    if file_id is None:
        return EntryFile.objects.filter(entry=entry, name=name).first()
    found = EntryFile.objects.filter(entry=entry, pk=file_id).first()
    if found is None:
        raise NotFound("file")
    return found


def _keep(actor: Any, entry: CatalogEntry, *, path: Path, size: int, name: str, original_name: str, note: str,
          target: EntryFile | None) -> FileVersion:
    """Check the file at ``path`` and keep it as the next version of ``target`` (or a new file ``name``)."""
    version = entry.current_version
    assert version is not None
    try:
        checked = entryfiles.check_file(path, size, version.format_class, original_name or name)
    except files.FileRefused as exc:
        path.unlink(missing_ok=True)
        audit.record_now(AuditCode.FILE_REFUSED, actor=actor, obj=entry, outcome="denied",
                         object_department=entry.provider,
                         detail={"entry": entry.code, "file": original_name[:200], "size": size, "reason": exc.code})
        raise
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    with transaction.atomic():
        if target is None:
            target, _made = EntryFile.objects.get_or_create(entry=entry, name=name, defaults={"created_by": actor})
        target = EntryFile.objects.select_for_update().get(pk=target.pk)
        number = (target.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        made = FileVersion(file=target, number=number, original_name=original_name[:255], kind=checked.kind,
                           media_type=checked.media_type, size=size, sha256=digest.hexdigest(), note=note[:500],
                           uploaded_by=actor)
        destination = entryfiles.stored_path(made.token)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, destination)
        made.save()
        audit.record(AuditCode.FILE_VERSION_ADDED, actor=actor, obj=made, object_department=entry.provider,
                     detail={"entry": entry.code, "file": target.name, "version": number, "kind": checked.kind,
                             "size": size, "sha256": made.sha256})
    return made


def do_share_file(actor: Any, entry: CatalogEntry, *, name: str, original_name: str, data: bytes, note: str = "",
                  file_id: int | None = None) -> FileVersion:
    """Share a file (or a new version of ``file_id``) given whole (the web form, small files)."""
    entry = _entry(actor, entry)
    name = _name(name or original_name)
    target = _target(entry, name, file_id)
    files.check_size(len(data), entryfiles.max_bytes(), where=original_name, field="file")
    scratch = entryfiles.incoming_dir() / f"whole-{uuid.uuid4()}"  # its own: another request never writes it
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_bytes(data)
    return _keep(actor, entry, path=scratch, size=len(data), name=target.name if target else name,
                 original_name=original_name or name, note=note, target=target)


def do_start_file_upload(actor: Any, entry: CatalogEntry, *, name: str, original_name: str, size: int,
                         sha256: str = "", note: str = "", file_id: int | None = None) -> FileUpload:
    """Open a resumable upload of ``size`` bytes; pieces follow with :func:`do_append_file_upload`."""
    entry = _entry(actor, entry)
    name = _name(name or original_name)
    target = _target(entry, name, file_id)
    files.check_size(size, entryfiles.max_bytes(), where=original_name or name, field="size")
    if size <= 0:
        raise ValidationFailed("empty_file", _("The file is empty."), field="size")
    digest = (sha256 or "").strip().lower()
    if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise ValidationFailed("bad_sha256", _("The SHA-256 is 64 hexadecimal digits."), field="sha256")
    with transaction.atomic():
        upload = FileUpload.objects.create(entry=entry, file=target, name=target.name if target else name,
                                           original_name=(original_name or name)[:255], note=note[:500], size=size,
                                           sha256=digest, created_by=actor)
        entryfiles.incoming_dir().mkdir(parents=True, exist_ok=True)
        _part(upload).touch()
    return upload


def _part(upload: FileUpload) -> Path:
    return entryfiles.incoming_dir() / f"{upload.token}.part"


def do_append_file_upload(actor: Any, upload: FileUpload, *, offset: int, piece: bytes) -> FileUpload:
    """Add ``piece`` at ``offset`` (which must be what the server holds: else 409 with the offset to go on from);
    the last piece completes the upload — checked, digest compared, kept as a version, or refused."""
    upload = FileUpload.objects.select_related("entry__current_version", "entry__provider").get(pk=upload.pk)
    if upload.created_by_id != getattr(actor, "pk", None):
        raise NotFound("file_upload")
    _entry(actor, upload.entry)  # still the uploader's to share: the department, the role, the entry published
    if not piece or len(piece) > MAX_PIECE:
        raise ValidationFailed("bad_piece", _("A piece is 1 byte to %(max)s MB and does not go past the announced "
                                              "size (%(size)s bytes)."), field="offset", max=MAX_PIECE // files.MB,
                               size=upload.size)
    with transaction.atomic():  # one piece at a time per upload: the row locked while the piece is written
        upload = FileUpload.objects.select_for_update(of=("self",)).select_related(
            "entry__current_version", "entry__provider", "file").get(pk=upload.pk)
        if upload.status != FileUpload.Status.OPEN:
            raise Conflict("upload_closed", _("This upload has ended (%(status)s): start a new one."), field="offset",
                           status=upload.get_status_display())
        if offset != upload.received:
            raise Conflict("wrong_offset", _("The server holds %(received)s bytes of this upload: send from there."),
                           field="offset", received=upload.received)
        if upload.received + len(piece) > upload.size:
            raise ValidationFailed("bad_piece", _("A piece is 1 byte to %(max)s MB and does not go past the announced "
                                                  "size (%(size)s bytes)."), field="offset",
                                   max=MAX_PIECE // files.MB, size=upload.size)
        with _part(upload).open("r+b") as out:
            out.seek(offset)
            out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        FileUpload.objects.filter(pk=upload.pk).update(received=offset + len(piece), updated_at=timezone.now())
    upload.refresh_from_db()
    if upload.received < upload.size:
        return upload
    return _complete(actor, upload)


def _complete(actor: Any, upload: FileUpload) -> FileUpload:
    part = _part(upload)
    entry = upload.entry
    if upload.sha256:
        digest = hashlib.sha256()
        with part.open("rb") as stream:
            for block in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(block)
        if digest.hexdigest() != upload.sha256:
            part.unlink(missing_ok=True)
            error = ValidationFailed("sha256_mismatch", _("The file that arrived does not have the SHA-256 announced: "
                                                          "it was damaged on the way; upload it again."), field="sha256")
            FileUpload.objects.filter(pk=upload.pk).update(status=FileUpload.Status.REFUSED, error={
                "code": error.code, "zh": error.render("zh-hans"), "en": error.render("en")})
            raise error
    try:
        with transaction.atomic():
            made = _keep(actor, entry, path=part, size=upload.size, name=upload.name,
                         original_name=upload.original_name, note=upload.note, target=upload.file)
            FileUpload.objects.filter(pk=upload.pk).update(status=FileUpload.Status.DONE, version=made,
                                                           updated_at=timezone.now())
    except files.FileRefused as exc:
        FileUpload.objects.filter(pk=upload.pk).update(status=FileUpload.Status.REFUSED, error={
            "code": exc.code, "zh": exc.render("zh-hans"), "en": exc.render("en")})
        raise
    except IntegrityError:
        raise Conflict("upload_closed", _("This upload has ended: start a new one."), field="offset") from None
    upload.refresh_from_db()
    return upload


def expire_uploads(now: dt.datetime | None = None) -> int:
    """Resumable uploads idle for a day: expired, their pieces removed."""
    cutoff = (now or timezone.now()) - UPLOAD_IDLE
    count = 0
    for upload in FileUpload.objects.filter(status=FileUpload.Status.OPEN, updated_at__lt=cutoff):
        if FileUpload.objects.filter(pk=upload.pk, status=FileUpload.Status.OPEN).update(
                status=FileUpload.Status.EXPIRED):
            _part(upload).unlink(missing_ok=True)
            count += 1
    return count


__all__ = ["do_append_file_upload", "do_share_file", "do_start_file_upload", "expire_uploads"]
