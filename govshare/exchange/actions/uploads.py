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
from govshare.core.errors import Conflict, GovshareError, ManyProblems, ValidationFailed
from govshare.core.files import MB, OLE2_MAGIC, ZIP_MAGIC
from govshare.core.notify import notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.exchange import bindings
from govshare.exchange.models import Upload, UploadFeed
from govshare.exchange.uploads import UPLOAD_JOB, file_of, upload_dir, uploadable

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
def do_set_upload_rules(actor: Any, entry: CatalogEntry, *, rules: list[dict[str, Any]]) -> UploadFeed:
    """The value rules uploads of ``entry`` are checked with (the same form and checks as a binding's)."""
    entry = _entry(actor, entry)
    version = entry.current_version
    assert version is not None
    _found, problems = bindings.parse_rules(version, rules)
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    feed, _made = UploadFeed.objects.select_for_update().get_or_create(entry=entry, defaults={"created_by": actor})
    before = feed.rules
    feed.rules = rules
    feed.updated_at = timezone.now()
    feed.save(update_fields=["rules", "updated_at"])
    audit.record(AuditCode.UPLOAD_RULES_CHANGED, actor=actor, obj=feed, object_department=entry.provider,
                 changes={"rules": [before, rules]}, detail={"entry": entry.code})
    return feed


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


__all__ = ["GovshareError", "check_file", "do_remind_upload", "do_set_upload_rules", "do_upload", "template_of"]
