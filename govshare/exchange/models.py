"""A department's front-end database (前置库, EXC-6 "system docking"): where the centre reads the tables
the department shares.  Only SELECT is ever run on it (the engine opens read-only sessions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import crypto


class DataSource(models.Model):
    class Kind(models.TextChoices):
        POSTGRESQL = "postgresql", _("PostgreSQL (and servers that speak its protocol)")
        MYSQL = "mysql", _("MySQL / MariaDB")
        SQLITE = "sqlite", _("SQLite file")

    class Tls(models.TextChoices):
        DISABLE = "disable", _("No TLS")
        PREFER = "prefer", _("TLS when the server offers it")
        REQUIRE = "require", _("TLS required")
        VERIFY_CA = "verify-ca", _("TLS required, certificate checked against the CA given (not the host name)")
        VERIFY_FULL = "verify-full", _("TLS required, certificate and host name checked")

    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="data_sources",
                                   verbose_name=_("department"))
    name = models.CharField(_("source name"), max_length=200)
    code = models.CharField(_("source code"), max_length=40, unique=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    kind = models.CharField(_("database kind"), max_length=20, choices=Kind.choices)
    host = models.CharField(_("host"), max_length=253, blank=True)
    port = models.PositiveIntegerField(_("port"), null=True, blank=True)
    #: server sources: the database name; SQLite: the file's path inside GOVSHARE_SOURCE_DIR
    database = models.CharField(_("database"), max_length=255)
    username = models.CharField(_("user name"), max_length=120, blank=True)
    #: Fernet-encrypted like ID numbers (SEC-3); never shown again once saved
    password_encrypted = models.TextField(blank=True, default="")
    tls = models.CharField(_("TLS"), max_length=20, choices=Tls.choices, default=Tls.PREFER)
    #: the CA certificates (PEM, as :func:`govshare.exchange.engine.tls.read_certificates` keeps them) trusted for
    #: verify-ca / verify-full instead of the system's: a department's own CA; public, shown to who sees the source
    tls_ca = models.TextField(_("CA certificates (PEM)"), blank=True, default="")
    connect_timeout = models.PositiveIntegerField(_("connect timeout (seconds)"), default=10)
    statement_timeout = models.PositiveIntegerField(_("statement timeout (seconds)"), default=600)
    is_active = models.BooleanField(_("active"), default=True)
    #: the department's grants may be delivered into this database (issue 11 item 1): govshare creates and writes
    #: tables in it with this account, which then needs those privileges; otherwise it is only ever read
    receives_deliveries = models.BooleanField(_("receives deliveries"), default=False)
    # the last "test connection": when, whether it worked, why not (the engine's code), what it saw
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_code = models.CharField(max_length=40, blank=True)
    last_test_version = models.CharField(max_length=200, blank=True)
    last_test_tables = models.PositiveIntegerField(null=True, blank=True)
    last_test_ms = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["department_id", "name"]
        verbose_name = _("front-end database")
        constraints = [
            models.UniqueConstraint(fields=["department", "name"], name="exchange_source_unique_name"),
            models.CheckConstraint(condition=models.Q(kind__in=["postgresql", "mysql", "sqlite"]),
                                   name="exchange_source_kind"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_server(self) -> bool:
        return self.kind != self.Kind.SQLITE

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, password: str) -> None:
        self.password_encrypted = crypto.encrypt(password) if password else ""

    def password(self) -> str:
        return crypto.decrypt(self.password_encrypted) if self.password_encrypted else ""

    def certificates(self) -> list[Any]:
        """The CA certificates trusted for this source (subject, issuer, validity, fingerprint)."""
        from govshare.exchange.engine.tls import CertificateError, read_certificates

        if not self.tls_ca:
            return []
        try:
            return read_certificates(self.tls_ca)[1]
        except CertificateError:  # stored by hand, bypassing the action's check: shown as nothing trusted
            return []

    def address_text(self) -> str:
        """How a person names the source: host:port/database, or the SQLite file."""
        if not self.is_server:
            return self.database
        port = f":{self.port}" if self.port else ""
        return f"{self.host}{port}/{self.database}"


@dataclass(frozen=True)
class CentreTableState:
    """Where the centre's table of an entry stands in its rebuilds: kept by the entry's binding, or by its upload feed
    when it has no binding (an entry with neither: never rebuilt)."""

    rebuild_pending: bool = False
    generation: int = 1
    rebuilt_at: Any = None

    @staticmethod
    def pending(entry_path: str) -> models.Q:
        """Rows whose entry (reached by ``entry_path``, e.g. ``"grant__entry"``) has its centre table to be made
        again: by its binding's state, or its upload feed's when it has no binding (as :meth:`centre_state`)."""
        return (models.Q(**{f"{entry_path}__table_binding__rebuild_pending": True})
                | models.Q(**{f"{entry_path}__table_binding__isnull": True,
                              f"{entry_path}__upload_feed__rebuild_pending": True}))


class TableBindingQuerySet(models.QuerySet["TableBinding"]):
    def centre_state(self, entry_id: int) -> CentreTableState:
        """The rebuild state of the centre's table of ``entry_id`` — what deliveries, downloads and the schedule ask
        before they read or write it.  The binding keeps it; an entry fed by spreadsheet uploads alone, its feed
        (:func:`govshare.exchange.uploads.rebuild_for_upload`)."""
        fields = ("rebuild_pending", "generation", "rebuilt_at")
        found = self.filter(entry_id=entry_id).values_list(*fields).first()
        if found is None:
            found = UploadFeed.objects.filter(entry_id=entry_id).values_list(*fields).first()
        return CentreTableState(*found) if found is not None else CentreTableState()

    def state_owner(self, entry_id: int) -> Any:
        """The row that keeps that state, to change it: the entry's binding (paused while it takes uploads), else its
        upload feed (which an upload always has)."""
        binding = self.select_related("entry__provider").filter(entry_id=entry_id).first()
        return binding if binding is not None else UploadFeed.objects.select_related("entry__provider").get(
            entry_id=entry_id)


class TableBinding(models.Model):
    """A published 库表 catalog entry fed from one table or view of its provider's front-end database
    (issue 10 item 2): which column holds each information item, and the key that identifies a row.

    ``mapping`` lists ``{"item": name, "column": column}`` in the items' order, for the entry version it
    was made against (``version``).  When the entry publishes a new version or the source changes, the
    binding is checked again before any run (:mod:`govshare.exchange.bindings`); a binding that no longer
    matches cannot run, and the reason names the item and the column."""

    entry = models.OneToOneField("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="table_binding",
                                 verbose_name=_("catalog entry"))
    version = models.ForeignKey("catalog.EntryVersion", on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("entry version"))
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="bindings",
                               verbose_name=_("front-end database"))
    schema_name = models.CharField(_("schema"), max_length=128, blank=True)
    table_name = models.CharField(_("table or view"), max_length=128)
    mapping = models.JSONField(_("column of each item"), default=list)
    key_columns = models.JSONField(_("key columns"), default=list)
    #: the key was chosen by the provider (the source declares none, or another one)
    key_chosen = models.BooleanField(default=False)
    #: warnings accepted when the binding was saved (lengths, digits): values that do not fit are quarantined
    warnings = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Schedule(models.TextChoices):
        CYCLE = "cycle", _("Follow the entry's update cycle")
        MANUAL = "manual", _("Only when started by hand")

    schedule = models.CharField(_("schedule"), max_length=10, choices=Schedule.choices, default=Schedule.CYCLE)

    class Mode(models.TextChoices):
        FULL = "full", _("Full copy each time")
        WATERMARK = "watermark", _("Changed rows by an update-time column")
        COMPARE = "compare", _("Changed rows found by comparing hashes (no update time needed)")
        LOG = "log", _("Every change from the database's log (PostgreSQL logical decoding)")

    #: how each scheduled copy reads the source (issue 10 item 5); the first copy is always a full one
    mode = models.CharField(_("copy mode"), max_length=12, choices=Mode.choices, default=Mode.FULL)
    #: watermark mode: the source column holding each row's last update time
    update_column = models.CharField(_("update-time column"), max_length=128, blank=True)
    #: watermark mode: how far back before the last run's end each run reads again (late commits, clocks)
    overlap_seconds = models.PositiveIntegerField(_("overlap window (seconds)"), default=300)
    #: watermark mode: how often a run also reads every key to find the rows deleted at the source; 0: each run
    sweep_hours = models.PositiveIntegerField(_("check for deleted rows every (hours)"), default=24)
    #: the mass-delete guard: a run that would delete more than this share of the table waits for a person
    delete_guard_percent = models.PositiveSmallIntegerField(_("mass-delete guard (% of the table)"), default=10)
    #: the centre's table of the entry is made again at the start of the next (full) copy: an entry version it cannot
    #: take (items removed, reordered, retyped, another key) — asked for by a person (do_rebuild_centre_table)
    rebuild_pending = models.BooleanField(default=False)
    #: how many times the centre's table was made (1: never rebuilt); a delivery's shape changes with it
    generation = models.PositiveIntegerField(default=1)
    #: when the centre's table was last made again: no copy that ended before it says what the table holds
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    #: log mode: the replication slot on the source (made when the binding enters log mode, dropped when it
    #: leaves) and its output plugin
    slot_name = models.CharField(_("replication slot"), max_length=63, blank=True)
    plugin = models.CharField(_("output plugin"), max_length=20, default="test_decoding",
                              choices=[("test_decoding", "test_decoding"), ("wal2json", "wal2json")])
    #: log mode: the slot as last seen (WAL held, lag), and when its alarm was last sent
    slot_state = models.JSONField(null=True, blank=True)
    slot_alarm_at = models.DateTimeField(null=True, blank=True)
    #: the provider's value rules (EXC-7): ``[{"item": name, "rule": {"kind": …, …}}]``
    #: (:mod:`govshare.exchange.engine.rules`); a row that breaks one is quarantined with the reason
    rules = models.JSONField(_("value rules"), default=list, blank=True)
    #: a batch with more quarantined rows than this share fails the copy (nothing of it applied)
    reject_limit_percent = models.PositiveSmallIntegerField(_("quarantine limit (% of a batch)"), default=10)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TableBindingQuerySet.as_manager()

    class Meta:
        ordering = ["entry_id"]
        verbose_name = _("table binding")
        constraints = [
            models.CheckConstraint(condition=models.Q(delete_guard_percent__gte=1, delete_guard_percent__lte=100),
                                   name="exchange_binding_guard_percent"),
            models.CheckConstraint(condition=~models.Q(mode="watermark") | ~models.Q(update_column=""),
                                   name="exchange_binding_watermark_has_column"),
            models.CheckConstraint(condition=~models.Q(mode="log") | ~models.Q(slot_name=""),
                                   name="exchange_binding_log_has_slot"),
            models.CheckConstraint(condition=models.Q(reject_limit_percent__gte=1, reject_limit_percent__lte=100),
                                   name="exchange_binding_reject_limit"),
        ]

    def __str__(self) -> str:
        return f"{self.entry} ← {self.source.code}:{self.table_text()}"

    def table_text(self) -> str:
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name

    def column_of(self) -> dict[str, str]:
        return {row["item"]: row["column"] for row in self.mapping}


class ExchangeRun(models.Model):
    """One copy of a bound table into the data resource centre (issue 10): a full copy (存量) or an
    incremental one (增量: the rows changed since the last run, by an update-time column), each followed by the
    deletions it found when it read every key (a full copy always; an incremental one when its key check is
    due) — unless the mass-delete guard holds them for a person to confirm.

    The work is a core :class:`~govshare.core.models.Job` (status, progress, log; resumed by another worker
    after a crash).  The authoritative position is in the centre's database, committed with each batch's
    rows (:meth:`govshare.datastore.engine.store.Store.apply`); this row mirrors the totals for lists and
    the API, and keeps the outcome in words."""

    class Kind(models.TextChoices):
        FULL = "full", _("Full copy")
        INCREMENTAL = "incremental", _("Incremental copy")
        COMPARE = "compare", _("Compared copy")
        LOG = "log", _("Changes from the log")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        STOPPED = "stopped", _("Stopped")
        HELD = "held", _("Deletions waiting for confirmation")

    #: a worker has it or will take it
    OPEN_STATUSES = (Status.QUEUED, Status.RUNNING)
    #: no other copy of the binding may start meanwhile (a held run waits for a person's decision)
    BLOCKING_STATUSES = (Status.QUEUED, Status.RUNNING, Status.HELD)

    binding = models.ForeignKey(TableBinding, on_delete=models.PROTECT, related_name="runs")
    #: the run's name in the centre's database: never reused, even if the platform's database is restored to
    #: an earlier point (a primary key would be, and a reused name would find its old "done" receipt)
    token = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.FULL)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED,
                              db_index=True)
    job = models.OneToOneField("core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    #: the store table written (e_<resource code>)
    target = models.CharField(max_length=63)
    batches = models.PositiveIntegerField(default=0)
    #: about how many rows the source table had when a full copy started (the source's estimate), for the ETA
    rows_expected = models.BigIntegerField(null=True, blank=True)
    rows_read = models.BigIntegerField(default=0)
    inserted = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    #: rows tombstoned because the source no longer has them; keys read by the key check
    deleted = models.BigIntegerField(default=0)
    keys_read = models.BigIntegerField(default=0)
    #: this run reads every key of the source to find deleted rows (full copies always do)
    checks_deletes = models.BooleanField(default=False)
    #: the mass-delete guard held the run: the rows it would delete, of the live rows; what a person confirmed
    pending_deletes = models.BigIntegerField(null=True, blank=True)
    live_rows = models.BigIntegerField(null=True, blank=True)
    confirmed_deletes = models.BigIntegerField(null=True, blank=True)
    confirmed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    #: watermark mode: the update time the run read from (the last run's end) and up to (where the next starts),
    #: as the copy engine encodes source values
    since = models.JSONField(null=True, blank=True)
    watermark = models.JSONField(null=True, blank=True)
    #: EXC-7, measured when the run succeeded: {"completeness": share of values present in the centre's table,
    #: "items": {item: share}, "validity": share of the rows read that were not quarantined}
    quality = models.JSONField(null=True, blank=True)
    #: the order-independent content hash of the entry's table in the centre after the run (receipts: per batch)
    content_hash = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.JSONField(null=True, blank=True)  # {"zh": …, "en": …}
    started_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("exchange run")
        constraints = [
            # one open run per binding: starting another while one runs is refused, and two requests at once
            # cannot both succeed
            models.UniqueConstraint(fields=["binding"],
                                    condition=models.Q(status__in=["queued", "running", "held"]),
                                    name="exchange_one_open_run_per_binding"),
        ]

    def __str__(self) -> str:
        return f"{self.binding.entry.code} {self.kind} #{self.pk}"

    @property
    def run_id(self) -> str:
        """The run's name in the centre's database (receipts, checkpoints)."""
        return f"run-{self.token}"


class CrossCheck(models.Model):
    """一数一源、多元校核 (EXC-7; issue 10 item 9): two entries of different providers that hold the same datum
    for the same key — e.g. 企业名称 by 统一社会信用代码 in the market regulator's register and in the tax
    bureau's — declared by the centre and compared in the data resource centre.  The last result is kept here
    (every run is in the audit log); mismatches are sent to both providers."""

    name = models.CharField(_("name"), max_length=200)
    left_entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("first entry"))
    left_key = models.CharField(_("key item of the first entry"), max_length=200)
    left_item = models.CharField(_("compared item of the first entry"), max_length=200)
    right_entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("second entry"))
    right_key = models.CharField(_("key item of the second entry"), max_length=200)
    right_item = models.CharField(_("compared item of the second entry"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # the last run
    checked_at = models.DateTimeField(null=True, blank=True)
    compared = models.BigIntegerField(null=True, blank=True)
    differing = models.BigIntegerField(null=True, blank=True)
    left_only = models.BigIntegerField(null=True, blank=True)
    right_only = models.BigIntegerField(null=True, blank=True)
    sample = models.JSONField(default=list, blank=True)  # [{"key", "left", "right"}], the first 200
    error = models.JSONField(null=True, blank=True)  # {"zh", "en"} when the last run could not compare

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("cross-source check")
        constraints = [
            models.CheckConstraint(condition=~models.Q(left_entry=models.F("right_entry")),
                                   name="exchange_crosscheck_two_entries"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def consistency(self) -> float | None:
        if not self.compared:
            return None
        return 1 - (self.differing or 0) / self.compared


class Reconciliation(models.Model):
    """A comparison of a bound table with the entry's table in the centre (issue 10 item 7; EXC-7): counts and
    order-independent content hashes, and the keys that differ.  It reads both tables whole, so it runs as a
    background job (``exchange.reconcile``); the console runs it in place."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    binding = models.ForeignKey(TableBinding, on_delete=models.PROTECT, related_name="reconciliations")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    job = models.OneToOneField("core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    equal = models.BooleanField(null=True, blank=True)
    source_rows = models.BigIntegerField(null=True, blank=True)
    source_hash = models.CharField(max_length=64, blank=True)
    source_unstorable = models.BigIntegerField(null=True, blank=True)
    centre_rows = models.BigIntegerField(null=True, blank=True)
    centre_hash = models.CharField(max_length=64, blank=True)
    missing_in_centre = models.JSONField(default=list, blank=True)
    extra_in_centre = models.JSONField(default=list, blank=True)
    different = models.JSONField(default=list, blank=True)
    buckets_differing = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.JSONField(null=True, blank=True)  # {"zh": …, "en": …}
    started_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("reconciliation")

    def __str__(self) -> str:
        return f"{self.binding.entry.code} reconciliation #{self.pk}"


class DeliveryBinding(models.Model):
    """A grant delivered into a table of the consumer's own front-end database (库表 channel; issue 11 item 1,
    SHR-4, EXC-6): govshare creates the table with the granted items only (the column names the consumer chose),
    copies the centre's rows once and then every change from the centre's change sequence, masked as the grant
    says (:mod:`govshare.exchange.engine.deliver`).

    The authoritative position is the state row in the target itself, committed with each batch; this row
    mirrors it (the last change delivered, the rows, their combined hash) and says why delivery stopped."""

    grant = models.ForeignKey("sharing.Grant", on_delete=models.PROTECT, related_name="deliveries",
                              verbose_name=_("grant"))
    #: the consuming system that owns the front-end database: the access check is made for it
    system = models.ForeignKey("sharing.ConsumingSystem", on_delete=models.PROTECT, related_name="deliveries",
                               verbose_name=_("consuming system"))
    target = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="deliveries",
                               verbose_name=_("front-end database"))
    schema_name = models.CharField(_("schema"), max_length=63, blank=True)
    table_name = models.CharField(_("table"), max_length=63)
    #: the consumer's column for each granted item ``{item: column}``
    columns = models.JSONField(_("column of each item"), default=dict)
    #: the binding's name in the target's state table (``_govshare_delivery``)
    token = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    # the target's state after the last run
    last_seq = models.BigIntegerField(default=0)
    rows = models.BigIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    #: why the last run could not deliver (a revoked grant, a target that refused): {"code", "zh", "en"}
    stopped = models.JSONField(null=True, blank=True)
    #: what the table was last delivered with (the grant's items and masking, the catalog's masking, the columns):
    #: a different one — a tightened rule — queues a delivery that rebuilds the table, even with no change in the centre
    signature = models.CharField(max_length=64, blank=True)
    #: the last receipt check: source → centre → this consumer (counts and hashes, :class:`…deliver.CheckResult`)
    checked_at = models.DateTimeField(null=True, blank=True)
    last_check = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("delivery binding")
        constraints = [
            models.UniqueConstraint(fields=["target", "schema_name", "table_name"],
                                    name="exchange_delivery_one_binding_per_table"),
        ]

    def __str__(self) -> str:
        return f"{self.grant} → {self.target.code}:{self.table_text()}"

    def table_text(self) -> str:
        return f"{self.schema_name}.{self.table_name}" if self.schema_name else self.table_name

    @property
    def name(self) -> str:
        """The binding's name in the target's state table."""
        return f"delivery-{self.token}"


class DeliveryRun(models.Model):
    """One delivery into a consumer's table (or one check of it): a core job (``exchange.deliver``), resumed after a
    crash from the target's own state.  Totals are the batches' receipts."""

    class Kind(models.TextChoices):
        DELIVER = "deliver", _("Delivery")
        CHECK = "check", _("Receipt check")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        STOPPED = "stopped", _("Stopped")

    OPEN_STATUSES = (Status.QUEUED, Status.RUNNING)

    binding = models.ForeignKey(DeliveryBinding, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DELIVER)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED,
                              db_index=True)
    job = models.OneToOneField("core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    batches = models.PositiveIntegerField(default=0)
    written = models.BigIntegerField(default=0)
    deleted = models.BigIntegerField(default=0)
    seq_from = models.BigIntegerField(null=True, blank=True)
    seq_to = models.BigIntegerField(null=True, blank=True)
    rows = models.BigIntegerField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    #: the table was made (first delivery) or made again (the grant's items or masks changed)
    created_table = models.BooleanField(default=False)
    rebuilt = models.BooleanField(default=False)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.JSONField(null=True, blank=True)  # {"zh": …, "en": …}
    started_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("delivery run")
        constraints = [
            models.UniqueConstraint(fields=["binding"], condition=models.Q(status__in=["queued", "running"]),
                                    name="exchange_one_open_delivery_run"),
        ]

    def __str__(self) -> str:
        return f"{self.binding_id} {self.kind} #{self.pk}"


class UploadFeed(models.Model):
    """A published 库表 entry whose provider has no business system to copy from: its data comes as filled-in
    spreadsheet templates (EXC-3; issue 11 item 8).  Made with the entry's first upload or its value rules; it
    carries the value rules the uploads are checked with (the same form as a binding's) and when the provider was
    last reminded that an upload is due by the entry's update cycle."""

    entry = models.OneToOneField("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="upload_feed",
                                 verbose_name=_("catalog entry"))
    #: the provider's value rules (EXC-7): ``[{"item": name, "rule": {"kind": …, …}}]``, as a binding's
    rules = models.JSONField(_("value rules"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    #: the centre's table's rebuild state when the entry has no binding (a binding keeps its own): as
    #: TableBinding's — made again by a replace upload of a version the table cannot take
    rebuild_pending = models.BooleanField(default=False)
    generation = models.PositiveIntegerField(default=1)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    #: the mass-delete guard of "replace" uploads: one that would delete more than this share of the table's rows
    #: waits for a person to confirm the number (a half-filled template looks like a mass delete), as a binding's
    delete_guard_percent = models.PositiveSmallIntegerField(_("mass-delete guard (% of the table)"), default=10)
    #: the live rows of the entry's table before a replace upload began making it again, until a load into the new
    #: table ends: later replace uploads are guarded against it (a failed load leaves part of a file in the table)
    rows_before_rebuild = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["entry_id"]
        verbose_name = _("spreadsheet upload feed")

    def __str__(self) -> str:
        return f"{self.entry} ← Excel"


class Upload(models.Model):
    """One uploaded spreadsheet (EXC-3): every row checked (sheet, row, column, reason) — all or nothing — then
    loaded into the entry's table in the centre as a run of batches with receipts (a worker killed half-way goes on
    from the last committed batch), in the mode the provider chose."""

    class Mode(models.TextChoices):
        UPSERT = "upsert", _("Add new rows, update rows with the same key")
        APPEND = "append", _("Only add rows (a key already in the centre is refused)")
        REPLACE = "replace", _("Replace: rows not in the file are deleted")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        CHECKING = "checking", _("Checking")
        REFUSED = "refused", _("Refused: see the problems")
        LOADING = "loading", _("Loading")
        LOADED = "loaded", _("Loaded")
        FAILED = "failed", _("Failed")
        HELD = "held", _("Held: deletions to confirm")

    OPEN_STATUSES = (Status.RECEIVED, Status.CHECKING, Status.LOADING)

    feed = models.ForeignKey(UploadFeed, on_delete=models.PROTECT, related_name="uploads")
    version = models.ForeignKey("catalog.EntryVersion", on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.UPSERT)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RECEIVED,
                              db_index=True)
    #: the upload's run name in the centre's database (receipts): never reused
    token = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    job = models.OneToOneField("core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    file_name = models.CharField(_("file name"), max_length=255)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    #: data rows read; the problems found (the first 200: sheet, row, column, item, code, detail) and how many
    rows = models.BigIntegerField(null=True, blank=True)
    problems = models.JSONField(default=list, blank=True)
    problem_count = models.PositiveIntegerField(default=0)
    #: the value rules the file passed with (a load resumed after a crash goes on with these, not later ones)
    rules_used = models.JSONField(null=True, blank=True)
    batches = models.PositiveIntegerField(default=0)
    inserted = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unchanged = models.BigIntegerField(default=0)
    deleted = models.BigIntegerField(default=0)
    #: the centre's table was made again for this upload's version before it was loaded (replace mode)
    rebuilt = models.BooleanField(default=False)
    #: replace mode's mass-delete guard: the rows the file would delete when it held the upload (nothing stored), the
    #: keys of the first of them (shown to the provider's staff), and the number a person confirmed, and who
    pending_deletes = models.BigIntegerField(null=True, blank=True)
    pending_keys = models.JSONField(default=list, blank=True)
    confirmed_deletes = models.BigIntegerField(null=True, blank=True)
    confirmed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    #: the table's last change when the upload was held: a confirmation is of the table as it was then
    held_seq = models.BigIntegerField(null=True, blank=True)
    #: the table's last change when the load failed: a resume is refused once anything else wrote to the table
    failed_seq = models.BigIntegerField(null=True, blank=True)
    #: the order-independent content hash of the entry's table in the centre after the load
    content_hash = models.CharField(max_length=64, blank=True)
    #: the quality the load left (:func:`govshare.exchange.quality.measure`), as a run's
    quality = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.JSONField(null=True, blank=True)  # {"zh": …, "en": …}
    uploaded_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("spreadsheet upload")
        constraints = [
            models.UniqueConstraint(fields=["feed"], condition=models.Q(status__in=["received", "checking", "loading"]),
                                    name="exchange_one_open_upload_per_feed"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} #{self.pk}"

    @property
    def run_id(self) -> str:
        return f"upload-{self.token}"


class EntryFile(models.Model):
    """A file a provider shares under a catalog entry of a file kind (电子文件, 电子表格, 图形图像, 流媒体, 自描述格式;
    EXC-2, issue 11 item 7): a named document whose versions are all kept.  Consumers with a grant over the file
    channel download its versions."""

    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="files",
                              verbose_name=_("catalog entry"))
    name = models.CharField(_("file name"), max_length=200)
    description = models.CharField(_("description"), max_length=500, blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["entry_id", "name"]
        verbose_name = _("shared file")
        constraints = [models.UniqueConstraint(fields=["entry", "name"], name="exchange_entryfile_unique_name")]

    def __str__(self) -> str:
        return self.name


class FileVersion(models.Model):
    """One version of a shared file: its content checked (type by content, hostile structures refused), its size
    and SHA-256; kept under ``GOVSHARE_FILE_DIR`` by its own token, never by the name the uploader gave."""

    file = models.ForeignKey(EntryFile, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    token = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    original_name = models.CharField(max_length=255)
    kind = models.CharField(_("content type"), max_length=20)  # the checked kind: pdf, docx, xlsx, png, mp4 …
    media_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    note = models.CharField(_("what changed"), max_length=500, blank=True)
    uploaded_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["file_id", "-number"]
        verbose_name = _("file version")
        constraints = [models.UniqueConstraint(fields=["file", "number"], name="exchange_fileversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.file.name} v{self.number}"


class FileUpload(models.Model):
    """A resumable upload of a large file (EXC-2): the bytes arrive in pieces at the offset the server holds; when
    all have arrived the content is checked and a new version made.  An upload left unfinished expires."""

    class Status(models.TextChoices):
        OPEN = "open", _("Receiving")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")
        EXPIRED = "expired", _("Expired")

    token = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="+")
    #: the file it adds a version to (None: a new file called ``name``)
    file = models.ForeignKey(EntryFile, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    name = models.CharField(max_length=200)
    original_name = models.CharField(max_length=255)
    note = models.CharField(max_length=500, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)  # what the uploader says the whole file's digest is
    received = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    version = models.ForeignKey(FileVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.JSONField(null=True, blank=True)  # {"code", "zh", "en"} when refused
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("file upload")

    def __str__(self) -> str:
        return f"{self.name} ({self.received}/{self.size})"
