"""Spreadsheet uploads (EXC-3; issue 11 item 8): the provider's staff upload a filled-in data template of a published
库表 entry; the worker checks every row and loads it (:mod:`govshare.exchange.uploads`).

``do_upload`` treats the file as hostile until checked (``govshare.core.files``): its size, that it is a real XLSX
(a renamed file, an old .xls, a password-protected one are refused by name), no archive bomb, no member escaping
the archive, no macros, external links or embedded objects, no XML document type declaration (XXE).  A refused
file is in the audit log; an accepted one is kept under ``GOVSHARE_UPLOAD_DIR`` by the upload's own name (never the
name the user gave) and its job queued after commit.  One upload at a time per entry."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit, files, jobs, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems, NotFound, ValidationFailed
from govshare.core.files import MB, OLE2_MAGIC, ZIP_MAGIC
from govshare.core.notify import notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.exchange import bindings
from govshare.exchange.models import Upload, UploadFeed
from govshare.exchange.uploads import UPLOAD_JOB, file_of, settle_orphaned_uploads, upload_dir, uploadable

#: the most parts of an uploaded workbook, and how much more than the file it may unpack to
MAX_PARTS = 300
UNPACK_FACTOR = 12


def _entry(actor: Any, entry: CatalogEntry) -> CatalogEntry:
    require(actor, Capability.BIND_TABLES)
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=entry.pk)
    problem = uploadable(entry)
    if problem is not None:
        raise problem
    return entry


def check_file(data: bytes, where: str) -> None:
    """The hostile-file checks of an uploaded workbook (raises :class:`govshare.core.files.FileRefused`)."""
    files.check_size(len(data), settings.GOVSHARE_UPLOAD_MAX_MB * MB, where=where, field="file")
    if data.startswith(OLE2_MAGIC):
        raise files.refuse("old_excel_format", _("This is an Excel 97-2003 (.xls) or a password-protected workbook; "
                                                 "save it as an unprotected Excel workbook (.xlsx)."), where=where,
                           field="file")
    if not data.startswith(ZIP_MAGIC):
        raise files.refuse("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of file "
                                         "renamed to .xlsx."), where=where, field="file")
    limits = files.ZipLimits(max_parts=MAX_PARTS, max_unpacked=max(64 * MB, UNPACK_FACTOR * len(data)), max_ratio=200)
    zf = files.open_zip(data, limits, where=where, field="file")
    try:
        names = set(zf.namelist())
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise files.refuse("not_xlsx", _("The file is not an Excel workbook (.xlsx); it may be another kind of "
                                             "file renamed to .xlsx."), where=where, field="file")
        files.check_office_package(zf, where=where, field="file")
        files.scan_xml_parts(zf, where=where, field="file")
    finally:
        zf.close()


def do_upload(actor: Any, entry: CatalogEntry, *, file_name: str, data: bytes, mode: str = "upsert") -> Upload:
    """Receive a filled-in template of ``entry``; its check and load are queued."""
    entry = _entry(actor, entry)
    if mode not in Upload.Mode.values:
        raise ValidationFailed("invalid_choice", _("Choose one of: %(choices)s."), field="mode",
                               choices=", ".join(Upload.Mode.values))
    name = os.path.basename((file_name or "").replace("\\", "/")).strip()[:200] or "upload.xlsx"
    try:
        check_file(data, name)
    except files.FileRefused as exc:
        audit.record_now(AuditCode.UPLOAD_REFUSED, actor=actor, obj=entry, outcome="denied",
                         object_department=entry.provider,
                         detail={"entry": entry.code, "file": name, "size": len(data), "reason": exc.code})
        raise
    digest = hashlib.sha256(data).hexdigest()
    version = entry.current_version
    settle_orphaned_uploads()  # an upload whose job ended without it must not block this one
    assert version is not None
    if Upload.objects.filter(feed__entry=entry, status__in=Upload.OPEN_STATUSES).exists():
        raise Conflict("upload_open", _("An upload of %(entry)s is being checked or loaded: wait for it to end."),
                       field="file", entry=entry.code)
    upload: Upload | None = None
    try:
        with transaction.atomic():
            feed, _made = UploadFeed.objects.get_or_create(entry=entry, defaults={"created_by": actor})
            upload = Upload.objects.create(feed=feed, version=version, mode=mode, file_name=name, size=len(data),
                                           sha256=digest, uploaded_by=actor)
            for held in Upload.objects.select_for_update().filter(feed=feed, status=Upload.Status.HELD):
                _discard(actor, held, upload)  # a held upload confirmed after this one would undo it
            path = file_of(upload)
            upload_dir().mkdir(parents=True, exist_ok=True)
            part = path.with_name(path.name + ".part")
            part.write_bytes(data)
            os.replace(part, path)
            job = jobs.create_job(UPLOAD_JOB, messages.message(_("Check and load %(file)s into %(entry)s"), file=name,
                                                               entry=entry.code),
                                  {"upload": upload.pk}, user=actor, department=entry.provider)
            Upload.objects.filter(pk=upload.pk).update(job=job)
            upload.job = job
            audit.record(AuditCode.UPLOAD_RECEIVED, actor=actor, obj=upload, object_department=entry.provider,
                         detail={"entry": entry.code, "file": name, "size": len(data), "sha256": digest,
                                 "mode": mode, "version": version.number})
    except IntegrityError:
        if upload is not None and upload.pk:
            file_of(upload).unlink(missing_ok=True)
        raise Conflict("upload_open", _("An upload of %(entry)s is being checked or loaded: wait for it to end."),
                       field="file", entry=entry.code) from None
    return upload


@transaction.atomic
def do_set_upload_rules(actor: Any, entry: CatalogEntry, *, rules: list[dict[str, Any]] | None = None,
                        delete_guard_percent: int | None = None) -> UploadFeed:
    """The value rules uploads of ``entry`` are checked with (the same form and checks as a binding's), and the
    share of the table a replace upload may delete before a person must confirm it (1–100 %); None: kept."""
    entry = _entry(actor, entry)
    version = entry.current_version
    assert version is not None
    problems: list[GovshareError] = []
    if rules is not None:
        _found, problems = bindings.parse_rules(version, rules)
    guard = delete_guard_percent
    if guard is not None and (isinstance(guard, bool) or not isinstance(guard, int) or not 1 <= guard <= 100):
        problems.append(ValidationFailed("invalid", _("The mass-delete guard is a share of the table from 1 to 100 %."),
                                         field="delete_guard_percent"))
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    feed, _made = UploadFeed.objects.select_for_update().get_or_create(entry=entry, defaults={"created_by": actor})
    changes: dict[str, Any] = {}
    if rules is not None and rules != feed.rules:
        changes["rules"] = [feed.rules, rules]
        feed.rules = rules
    if guard is not None and guard != feed.delete_guard_percent:
        changes["delete_guard_percent"] = [feed.delete_guard_percent, guard]
        feed.delete_guard_percent = guard
    feed.updated_at = timezone.now()
    feed.save(update_fields=["rules", "delete_guard_percent", "updated_at"])
    audit.record(AuditCode.UPLOAD_RULES_CHANGED, actor=actor, obj=feed, object_department=entry.provider,
                 changes=changes, detail={"entry": entry.code})
    return feed


def _held(actor: Any, upload: Upload, *, loading: bool, status: str = Upload.Status.HELD) -> Upload:
    """The held (or failed: ``status``) upload, locked, for a person who may change its entry (others: 404 as if it
    did not exist).  ``loading`` (a confirmation, a resume): the entry must still take uploads, in the version the
    file was made for."""
    require(actor, Capability.BIND_TABLES)
    entry = get_for(actor, Action.CHANGE, CatalogEntry.objects.select_related("current_version", "provider"),
                    pk=upload.feed.entry_id)
    found = Upload.objects.select_for_update().select_related("feed__entry__provider").filter(
        pk=upload.pk, feed__entry=entry).first()
    if found is None:
        raise NotFound("upload")
    if found.status != status:
        if status == Upload.Status.FAILED:
            raise Conflict("upload_not_failed", _("Only a load that failed can be resumed."), field="upload")
        raise Conflict("upload_not_held", _("This upload has no deletions waiting for confirmation."), field="upload")
    if loading:
        problem = uploadable(entry)
        if problem is not None:
            raise problem
        if found.version_id != entry.current_version_id:
            raise Conflict("upload_outdated", _("The entry has a newer version than this file was made for: discard it "
                                                "and upload the new version's template."), field="upload")
    return found


def do_confirm_upload_deletes(actor: Any, upload: Upload, *, pending: int | None = None) -> Upload:
    """Confirm the deletions the mass-delete guard held a replace upload for: it is checked and loaded again, and
    deletes no more than the number confirmed (``pending``: the count the person was shown; another count since —
    a newer load changed the table — holds it again)."""
    seen = upload.pending_deletes if pending is None else pending
    if isinstance(seen, bool) or not isinstance(seen, int) or seen < 0:
        raise ValidationFailed("invalid", _("Enter the number of deletions you confirm."), field="pending")
    settle_orphaned_uploads()
    try:
        with transaction.atomic():
            upload = _held(actor, upload, loading=True)
            entry = upload.feed.entry
            if seen < (upload.pending_deletes or 0):  # would only be held again (and the uploader told twice)
                raise Conflict("deletes_not_confirmed", _("This upload would delete %(pending)s rows, not %(given)s: "
                                                          "confirm that number, or discard the upload."),
                               field="pending", pending=upload.pending_deletes, given=seen)
            _queue_again(actor, upload, Upload.Status.RECEIVED, confirmed_deletes=seen, confirmed_by=actor)
            audit.record(AuditCode.UPLOAD_DELETES_CONFIRMED, actor=actor, obj=upload, object_department=entry.provider,
                         detail={"entry": entry.code, "upload": upload.pk, "confirmed": seen,
                                 "pending": upload.pending_deletes})
    except IntegrityError:  # another upload of the entry is open
        raise _open_already(upload) from None
    upload.refresh_from_db()
    return upload


def _table_changed_since(upload: Upload) -> bool:
    """Whether anything but this upload wrote to the entry's centre table since its load failed (review of the 21st
    session: a binding's copies in between were overwritten and, by a replace, deleted past the guard).  A centre
    that cannot be read, or a failure that could not read it, counts as changed: nothing is resumed blind."""
    from govshare.datastore.centre import open_store, table_for
    from govshare.datastore.engine.store import StoreError

    if upload.failed_seq is None:
        return True
    try:
        with open_store() as store:
            table = table_for(upload.feed.entry)
            return (store.summary(table).last_seq if store.has_table(table) else 0) != upload.failed_seq
    except StoreError:
        return True


def _queue_again(actor: Any, upload: Upload, status: str, **values: Any) -> None:
    """A new job for ``upload`` (a held one confirmed, a failed one resumed), its row open again (``status``); in the
    caller's transaction — another open upload of the entry makes it raise IntegrityError (:func:`_open_already`)."""
    entry = upload.feed.entry
    job = jobs.create_job(UPLOAD_JOB, messages.message(_("Check and load %(file)s into %(entry)s"),
                                                       file=upload.file_name, entry=entry.code),
                          {"upload": upload.pk}, user=actor, department=entry.provider)
    Upload.objects.filter(pk=upload.pk).update(status=status, job=job, finished_at=None, **values)


def _open_already(upload: Upload) -> Conflict:
    return Conflict("upload_open", _("An upload of %(entry)s is being checked or loaded: wait for it to end."),
                    field="upload", entry=upload.feed.entry.code)


def do_resume_upload(actor: Any, upload: Upload) -> Upload:
    """Resume a failed load (the centre refused a batch, the worker's job ended without it …): the rows it stored stay,
    it goes on from its last committed batch with the rules the file passed with, and a replace then deletes what the
    file lacks — the rest of the file, not all of it again.  Not after a later upload that may have stored rows (this
    older file would overwrite them), nor once the entry has a newer version or no longer takes uploads."""
    settle_orphaned_uploads()
    try:
        with transaction.atomic():
            upload = _held(actor, upload, loading=True, status=Upload.Status.FAILED)
            entry = upload.feed.entry
            later = Upload.objects.filter(feed_id=upload.feed_id, pk__gt=upload.pk).exclude(
                status__in=[Upload.Status.REFUSED, Upload.Status.HELD]).order_by("pk").first()
            if later is not None:
                raise Conflict("upload_superseded", _("A later upload of the entry (%(file)s) may have stored rows: "
                                                      "resuming this older file would overwrite them. Upload it again "
                                                      "if it is still wanted."), field="upload", file=later.file_name)
            if not file_of(upload).is_file():
                raise Conflict("upload_file_gone", _("The uploaded file is no longer kept: upload it again."),
                               field="upload")
            if _table_changed_since(upload):  # a copy, another load: this older file would be written over it
                raise Conflict("upload_table_changed", _("The entry's table in the centre changed since this load "
                                                         "failed (a copy or another load): resuming would write this "
                                                         "older file over it. Upload it again if it is still "
                                                         "wanted."), field="upload")
            # a load that had begun goes on loading with the rules it passed with; one that failed while it was
            # checked is checked again
            _queue_again(actor, upload, Upload.Status.LOADING if upload.rules_used is not None else
                         Upload.Status.RECEIVED, error_code="", error_message=None)
            audit.record(AuditCode.UPLOAD_RESUMED, actor=actor, obj=upload, object_department=entry.provider,
                         detail={"entry": entry.code, "upload": upload.pk, "error": upload.error_code,
                                 "batches": upload.batches})
    except IntegrityError:  # another upload of the entry is open
        raise _open_already(upload) from None
    upload.refresh_from_db()
    return upload


def do_discard_upload(actor: Any, upload: Upload) -> Upload:
    """Discard a held upload: nothing of it is stored (it ends refused, saying why) and its file is removed."""
    with transaction.atomic():
        upload = _held(actor, upload, loading=False)
        _discard(actor, upload, None)
    upload.refresh_from_db()
    return upload


def _discard(actor: Any, upload: Upload, superseded_by: Upload | None) -> None:
    entry = upload.feed.entry
    if superseded_by is not None:
        error = GovshareError("upload_superseded", _("A newer upload of the entry (%(file)s) took its place: nothing "
                                                     "of this one was stored."), file=superseded_by.file_name)
    else:
        error = GovshareError("deletes_refused", _("The %(pending)s deletions were refused: nothing of the file was "
                                                   "stored."), pending=upload.pending_deletes)
    Upload.objects.filter(pk=upload.pk, status=Upload.Status.HELD).update(
        status=Upload.Status.REFUSED, finished_at=timezone.now(), error_code=error.code,
        error_message={"zh": error.render("zh-hans"), "en": error.render("en")})
    audit.record(AuditCode.UPLOAD_REFUSED, actor=actor, obj=upload, object_department=entry.provider,
                 outcome="failure", detail={"entry": entry.code, "upload": upload.pk, "reason": error.code,
                                            "pending": upload.pending_deletes})
    held = upload
    transaction.on_commit(lambda: file_of(held).unlink(missing_ok=True))


def do_remind_upload(feed: UploadFeed, now: dt.datetime) -> bool:
    """Tell the provider's staff that an upload of ``feed``'s entry is due — once per update cycle (a conditional
    UPDATE of ``reminded_at``: two workers' passes remind once); audited."""
    from govshare.exchange.runs import staff_of
    from govshare.exchange.uploads import interval_of, last_load

    interval = interval_of(feed)
    with transaction.atomic():
        if not UploadFeed.objects.filter(pk=feed.pk).filter(
                Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - interval)).update(reminded_at=now):
            return False
        entry = feed.entry
        audit.record(AuditCode.UPLOAD_REMINDED, actor=None, obj=feed, object_department=entry.provider,
                     detail={"entry": entry.code, "last_load": str(last_load(feed) or "")})
        version = entry.current_version
        subject = messages.message(_("An upload of %(entry)s is due (update cycle: %(cycle)s)"), entry=entry.code,
                                   cycle=version.get_update_cycle_display() if version else "")
        recipients = staff_of(entry.provider_id)
        transaction.on_commit(lambda: notify(recipients, "exchange.upload_due", subject, "",
                                             url="/exchange/uploads/", obj=feed))
    return True


def template_of(actor: Any, entry: CatalogEntry) -> tuple[str, bytes]:
    """The data template of ``entry`` for its provider's staff (a read: nothing is written)."""
    from govshare.exchange.uploads import template

    return template(_entry(actor, entry))


__all__ = ["GovshareError", "check_file", "do_confirm_upload_deletes", "do_discard_upload", "do_remind_upload",
           "do_set_upload_rules", "do_upload", "template_of"]
