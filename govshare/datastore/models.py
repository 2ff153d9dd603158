"""The datastore app's own rows in the platform database (the centre's data is in its own database)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CallWindow(models.Model):
    """How many calls a caller made of a rate-limited channel (online verification) in its current minute —
    counted by one conditional UPDATE (:mod:`govshare.datastore.actions.calls`), shared by every server
    process."""

    caller = models.CharField(max_length=80)  # "system:<id>" or "user:<id>"
    channel = models.CharField(max_length=20)
    started_at = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "channel"], name="datastore_call_window_unique")]

    def __str__(self) -> str:
        return f"{self.caller} {self.channel} {self.calls}"


class Download(models.Model):
    """A batch download of a grant's data (部门批量下载, the 文件 channel; issue 11 item 4): built as a background
    job into a file under ``GOVSHARE_DOWNLOAD_DIR``, masked like every channel, kept for
    ``GOVSHARE_DOWNLOAD_KEEP_DAYS``, fetched only by the grant's consumer department (or the system that asked).
    Its content hash and the grant are the fingerprint leak tracing starts from."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        JSONL = "jsonl", "JSON Lines"

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        BUILDING = "building", _("being built")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("catalog entry"))
    grant = models.ForeignKey("sharing.Grant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("department"))
    requested_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    system = models.ForeignKey("sharing.ConsumingSystem", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    purpose = models.CharField(_("purpose"), max_length=40)
    items = models.JSONField(default=list)
    filters = models.JSONField(default=list, blank=True)  # [[item, op, [tagged values]]]
    masking = models.JSONField(default=dict, blank=True)  # item → the mask the file was built with (structured)
    format = models.CharField(_("format"), max_length=5, choices=Format.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    rows = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    message = models.CharField(max_length=300, blank=True, default="")
    #: what ``message`` means (a :mod:`govshare.core.messages` node), shown in the reader's language
    message_node = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("batch download")
        indexes = [models.Index(fields=["department", "created_at"]), models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.entry_id} {self.format} {str(self.id)[:8]}"

    @property
    def filename(self) -> str:
        return f"{self.id}.{self.format}"

    @property
    def shown_message(self) -> str:
        """Why it failed, in the active language (the stored text where it was not kept as a node)."""
        from govshare.core.messages import shown

        return shown(self.message_node, self.message)


class QueryIndex(models.Model):
    """An item of an entry's centre table that the centre indexes for the data API's filters and sorts (issue 11;
    SHR-9), chosen by the entry's provider (:mod:`govshare.datastore.actions.indexes`); the indexes themselves are
    built by a background job (:func:`govshare.datastore.engine.indexes.sync`)."""

    class State(models.TextChoices):
        WAITING = "waiting", _("waiting for the first copy")
        BUILDING = "building", _("being built")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.CASCADE, related_name="query_indexes",
                              verbose_name=_("catalog entry"))
    item = models.CharField(_("information item"), max_length=200)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.BUILDING)
    message = models.CharField(max_length=300, blank=True, default="")
    requested_by = models.ForeignKey("core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["entry", "pk"]
        constraints = [models.UniqueConstraint(fields=["entry", "item"], name="datastore_query_index_unique")]

    def __str__(self) -> str:
        return f"{self.entry_id} {self.item} {self.state}"
