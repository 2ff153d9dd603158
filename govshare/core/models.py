"""Core models: organisations, people, roles, calendar, deadlines, tokens, audit log, jobs.

Writes go through :mod:`govshare.core.actions`; reads that depend on the user go through
:mod:`govshare.core.permissions`.  See docs/architecture.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core.roles import Role


class Jurisdiction(models.Model):
    """An administrative area with its own platform and policy profile (province → city → county)."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("Province")
        CITY = "city", _("City")
        COUNTY = "county", _("County / district")

    code = models.CharField(_("administrative division code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
                               verbose_name=_("parent"))
    policy_profile = models.CharField(_("policy profile"), max_length=50, default="national")

    class Meta:
        ordering = ["code"]
        verbose_name = _("jurisdiction")

    def __str__(self) -> str:
        return self.name

    def ancestors(self) -> list[Jurisdiction]:
        chain: list[Jurisdiction] = []
        seen = {self.pk}
        node = self.parent
        while node is not None and node.pk not in seen:  # the actions forbid cycles; never loop
            chain.append(node)
            seen.add(node.pk)
            node = node.parent
        return chain


class Department(models.Model):
    """A government department (provider/consumer) or the data-management centre itself."""

    class Kind(models.TextChoices):
        CENTRE = "centre", _("Data-management centre")
        DEPARTMENT = "department", _("Government department")

    name = models.CharField(_("name"), max_length=200)
    short_name = models.CharField(_("short name"), max_length=50)
    uscc = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    code = models.CharField(_("department code"), max_length=20, unique=True,
                            help_text=_("Provider code used in resource codes and on the command line."))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.DEPARTMENT)
    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT, related_name="departments",
                                     verbose_name=_("jurisdiction"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["jurisdiction__code", "code"]
        verbose_name = _("department")

    def __str__(self) -> str:
        return self.name

    @property
    def is_centre(self) -> bool:
        return self.kind == self.Kind.CENTRE


class User(AbstractUser):
    """A real-name user (SEC-1).  The ID number is stored encrypted, shown masked."""

    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    real_name = models.CharField(_("real name"), max_length=100)
    id_number_encrypted = models.TextField(_("ID number (encrypted)"), blank=True, default="")
    id_number_digest = models.CharField(max_length=64, blank=True, default="", db_index=True)
    id_number_masked = models.CharField(_("ID number"), max_length=18, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=20, blank=True, default="")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="members", verbose_name=_("department"))
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    #: the language the user chose with the switch; e-mail is written in it (Chinese when empty)
    language = models.CharField(_("language"), max_length=10, blank=True, default="",
                                choices=settings.LANGUAGES)

    objects = UserManager()  # type: ignore[misc]

    REQUIRED_FIELDS = ["email"]

    class Meta:
        verbose_name = _("user")
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(fields=["id_number_digest"], condition=~models.Q(id_number_digest=""),
                                    name="core_user_unique_id_number"),
        ]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.username})" if self.real_name else self.username

    # roles are cached per instance: permission checks ask many times per request
    def role_set(self) -> frozenset[str]:
        cached: frozenset[str] | None = getattr(self, "_role_cache", None)
        if cached is None:
            if not self.pk or not self.is_active:
                cached = frozenset()
            else:
                cached = frozenset(self.role_assignments.values_list("role", flat=True))
            self._role_cache = cached
        return cached

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_set().intersection(roles))

    def is_locked(self, now: Any = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())


class RoleAssignment(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="core_role_once_per_user")]
        ordering = ["user_id", "role"]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class SpecialistAppointment(models.Model):
    """The data-specialist register (数据专员/数据专班, LN-§13, §26; SUP-1).

    Rows are never edited away: ending an appointment sets ``ended_at``; the register's history is
    the set of all rows.
    """

    class Duty(models.TextChoices):
        LEAD = "lead", _("Lead data specialist (数据专员)")
        MEMBER = "member", _("Data task-force member (数据专班成员)")
        BACKUP = "backup", _("Backup contact")

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="specialists")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="appointments")
    duty = models.CharField(_("duty"), max_length=10, choices=Duty.choices, default=Duty.MEMBER)
    phone = models.CharField(_("office phone"), max_length=20, blank=True, default="")
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    appointed_at = models.DateTimeField(default=timezone.now)
    appointed_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    end_reason = models.CharField(_("reason"), max_length=200, blank=True, default="")

    class Meta:
        ordering = ["department_id", "-appointed_at"]
        constraints = [
            models.UniqueConstraint(fields=["department", "user"], condition=models.Q(ended_at__isnull=True),
                                    name="core_one_open_appointment"),
        ]

    @property
    def is_current(self) -> bool:
        return self.ended_at is None


class ApiToken(models.Model):
    """A personal API token: only a SHA-256 of the secret is stored; the secret is shown once."""

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "write", _("Read and write")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(_("scope"), max_length=5, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class HolidayYear(models.Model):
    """A year whose official holiday notice has been imported (the calendar is authoritative)."""

    year = models.PositiveIntegerField(unique=True)
    source_name = models.CharField(max_length=200)
    source_sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField(auto_now=True)
    imported_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["year"]


class CalendarDay(models.Model):
    """An admin-maintained day: a holiday on a weekday or a make-up working day (调休) on a weekend.

    Overrides win over the chinese-calendar package and the fallback rule.
    """

    class Source(models.TextChoices):
        IMPORT = "import", _("Imported notice")
        MANUAL = "manual", _("Edited by hand")

    date = models.DateField(unique=True)
    is_workday = models.BooleanField()
    name = models.CharField(max_length=50, blank=True, default="")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["date"]


class Deadline(models.Model):
    """A statutory deadline attached to any object, recomputed when the calendar changes.

    ``provisional`` is set when the computation touched a year with no official holiday data.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=60)
    profile = models.CharField(max_length=50)
    start_date = models.DateField()
    amount = models.PositiveIntegerField()
    unit = models.CharField(max_length=20)
    due_date = models.DateField()
    due_at = models.DateTimeField()
    provisional = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["content_type", "object_id"]),
            models.Index(fields=["closed_at", "due_at"]),
        ]


class AuditEvent(models.Model):
    """One row of the append-only, hash-chained audit log (SEC-4).

    ``row_hash`` = SHA-256 over ``prev_hash`` and the canonical JSON of the row's fields; the chain
    is checked by ``govshare audit verify``.  Actor and department are stored as snapshots so that
    the log never depends on rows that may change later.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        DENIED = "denied", _("Denied")
        FAILURE = "failure", _("Failure")

    occurred_at = models.DateTimeField(db_index=True)
    code = models.PositiveIntegerField(db_index=True)
    action = models.CharField(max_length=60)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True, default="")
    actor_name = models.CharField(max_length=100, blank=True, default="")
    #: the acting person's department (the 部门 column means this everywhere)
    department_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    department_name = models.CharField(max_length=200, blank=True, default="")
    #: when the actor acted for someone else (e.g. a provider's approval subscribes the applicant):
    #: that person, as a snapshot
    on_behalf_of_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    on_behalf_of_username = models.CharField(max_length=150, blank=True, default="")
    on_behalf_of_name = models.CharField(max_length=100, blank=True, default="")
    #: the department the object belongs to (a grant's consumer, a request's requester …)
    object_department_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    object_department_name = models.CharField(max_length=200, blank=True, default="")
    object_type = models.CharField(max_length=60, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")
    request_id = models.CharField(max_length=36, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("audit events are append-only; use `govshare audit purge`")

    @property
    def label(self) -> Any:
        from govshare.core.audit_codes import label

        return label(self.code)


class AuditAnchor(models.Model):
    """Where verification starts after retention purged the oldest rows (single row, id=1)."""

    last_purged_id = models.BigIntegerField(default=0)
    last_purged_hash = models.CharField(max_length=64, default="0" * 64)
    purged_at = models.DateTimeField(null=True, blank=True)
    #: the first audit row whose 部门 columns have today's meaning (issue 8, SEC-4): from it on
    #: ``department_*`` is the *actor's* department and ``object_department_*`` the object's; rows
    #: before it (written before migration core 0005) hold the *object's* department in
    #: ``department_*``.  Set once by that migration (None: every row has today's meaning); the
    #: chain forbids rewriting the old rows, so the audit screens show a note on them instead.
    actor_department_from_id = models.BigIntegerField(null=True, blank=True)


class Job(models.Model):
    """A long piece of background work with its status, progress, log and checkpoint.

    Workers claim a job with a conditional UPDATE (status queued → running), so one job runs on
    one worker; a job whose worker died (stale heartbeat) is requeued and resumes from
    ``checkpoint``.  See :mod:`govshare.core.jobs`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=60)
    #: the title as written (in Chinese); rows written before ``title_message`` existed show it as is
    title = models.CharField(max_length=200)
    #: what the title means (a :mod:`govshare.core.messages` node: msgid + params), rendered in the
    #: reader's language by :attr:`shown_title` — one language per screen
    title_message = models.JSONField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=300, blank=True, default="")
    #: what ``message`` means (a :mod:`govshare.core.messages` node), shown in the reader's language
    message_node = models.JSONField(null=True, blank=True)
    log = models.TextField(blank=True, default="")
    checkpoint = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker_id = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    department = models.ForeignKey(Department, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="jobs")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.shown_title} [{self.status}]"

    @property
    def shown_title(self) -> str:
        """The title in the active language (the stored text on rows written before titles kept their meaning)."""
        if self.title_message is None:
            return self.title
        from govshare.core.messages import render

        return render(self.title_message)

    @property
    def shown_message(self) -> str:
        """The message in the active language (the stored text where it was not kept as a node)."""
        return self.message_in(None)

    def message_in(self, language: str | None) -> str:
        """The message in ``language`` (None: the active one)."""
        from govshare.core.messages import shown

        return shown(self.message_node, self.message, language)[:300]

    @property
    def meaning(self) -> Any:
        """The message as a parameter of another message: rendered in each reader's language where it was kept so."""
        from govshare.core.messages import Text

        return self.message if self.message_node is None else Text(self.message_node)

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}


class WorkerHeartbeat(models.Model):
    """Each running ``govshare worker`` refreshes its row; /healthz reports the freshest."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=100, default="")
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)


class Notification(models.Model):
    """One message in a user's in-app inbox (and, when SMTP is configured, an e-mail).

    Written by :func:`govshare.core.notify.notify` inside the action that causes it; the e-mail
    leaves after the commit.  Later issues add digests on top of these rows."""

    recipient = models.ForeignKey("core.User", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=60)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    #: what the notice means — {"v": 1, "subject": node, "body": node}, nodes of msgid + params
    #: (see govshare.core.notify); rendered in the reader's language.  Empty on rows written before
    #: it existed: their ``subject``/``body`` texts are shown as they are.
    message = models.JSONField(default=dict, blank=True)
    #: a task notice asks the recipient to act on the object; it is resolved when the object's
    #: state (``task_state`` when sent) changes.  NULL: written before tasks existed, not yet classified.
    task = models.BooleanField(null=True, default=False)
    task_state = models.CharField(max_length=120, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"]),
                   models.Index(fields=["object_type", "object_id"], name="core_notif_object"),
                   models.Index(fields=["recipient", "task", "resolved_at"], name="core_notif_todo")]

    def __str__(self) -> str:
        return self.subject

    def subject_in(self, language: str | None = None) -> str:
        """The subject in ``language`` (default: the active one, i.e. the reader's)."""
        from govshare.core.notify import render

        if self.message and "subject" in self.message:
            return render(self.message["subject"], language)[:300]
        return self.subject

    def body_in(self, language: str | None = None) -> str:
        from govshare.core.notify import render

        if self.message and "body" in self.message:
            return render(self.message["body"], language)
        return self.body

    @property
    def shown_subject(self) -> str:
        return self.subject_in()

    @property
    def shown_body(self) -> str:
        return self.body_in()

    @property
    def is_open_task(self) -> bool:
        return bool(self.task) and self.resolved_at is None


class AccessEvent(models.Model):
    """One row of the append-only, hash-chained access log (SEC-4, LN-§23): a read, query, download,
    export or access check — who, what object or query, how many results, request id, IP.

    Kept apart from :class:`AuditEvent` (the writes) so that reading never waits for the audit
    chain: a request's rows are chained and written at its end in one statement (see
    :mod:`govshare.core.access_log`).  The columns the auditor filters on have the audit log's
    names, so one filter serves both logs.
    """

    occurred_at = models.DateTimeField(db_index=True)
    code = models.PositiveIntegerField()
    action = models.CharField(max_length=60)
    outcome = models.CharField(max_length=10, choices=AuditEvent.Outcome.choices)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True, default="")
    actor_name = models.CharField(max_length=100, blank=True, default="")
    #: the reader's department
    department_id = models.BigIntegerField(null=True, blank=True)
    department_name = models.CharField(max_length=200, blank=True, default="")
    #: the API token the request came with (reads through a token name it)
    token_id = models.BigIntegerField(null=True, blank=True)
    object_department_id = models.BigIntegerField(null=True, blank=True)
    object_department_name = models.CharField(max_length=200, blank=True, default="")
    object_type = models.CharField(max_length=60, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    object_repr = models.CharField(max_length=200, blank=True, default="")
    #: the query text and filters of a search, the format of an export …
    detail = models.JSONField(default=dict, blank=True)
    #: how many results the reader received (a search's total, an export's rows)
    results = models.IntegerField(null=True, blank=True)
    ip = models.CharField(max_length=45, blank=True, default="")
    request_id = models.CharField(max_length=36, blank=True, default="", db_index=True)
    method = models.CharField(max_length=8, blank=True, default="")
    path = models.CharField(max_length=300, blank=True, default="")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    #: unique: two rows can never claim the same predecessor, so concurrent writers cannot fork the chain
    prev_hash = models.CharField(max_length=64, unique=True)
    row_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("access events are written by govshare.core.access_log only")

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("access events are append-only")

    @property
    def label(self) -> Any:
        from govshare.core.audit_codes import label

        return label(self.code)


class AccessAnchor(models.Model):
    """Where verification of the access chain starts after retention removed its oldest rows (id=1)."""

    last_purged_id = models.BigIntegerField(default=0)
    last_purged_hash = models.CharField(max_length=64, default="0" * 64)
    purged_at = models.DateTimeField(null=True, blank=True)


class KeyFingerprint(models.Model):
    """Which key the database's audit chain and encrypted personal data were written with (SEC-5):
    an HMAC of a fixed label under ``GOVSHARE_FIELD_KEY`` — never the key.  One row (id=1), written
    the first time; :mod:`govshare.core.keys` refuses to run with a missing or different key."""

    fingerprint = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(default=timezone.now)


# ------------------------------------------------------------------ login protection (issue 9)


class LoginThrottle(models.Model):
    """Recent failed logins of one client address, or of one (user name, address) pair.

    After ``GOVSHARE_LOGIN_THROTTLE_FREE`` (pair) or ``…_IP_FREE`` (address) failures within the
    window, each further failure refuses the next attempt until ``blocked_until`` = now + base·2^k
    (capped).  Each attempt is counted before its password is checked, by one conditional UPDATE that
    matches nothing while a delay runs, so that it holds across server processes and parallel attempts;
    the right password gives the attempt back.  The key holds the user name as typed (lower-cased), so
    unknown names are throttled the same way, and the address — an IPv6 one as its /64 network."""

    class Scope(models.TextChoices):
        ADDRESS = "address", _("client address")
        ACCOUNT_ADDRESS = "account_address", _("user name and client address")

    scope = models.CharField(max_length=20, choices=Scope.choices)
    key = models.CharField(max_length=200)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="login_throttle_scope_key")]
        indexes = [models.Index(fields=["last_failure_at"], name="login_throttle_last_failure")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class LoginAddress(models.Model):
    """An address a user logged in from with the right password: the account lock, which failures
    from other addresses set, does not apply here (issue 9, docs/security.md)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_addresses")
    ip = models.CharField(max_length=45)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "ip"], name="login_address_user_ip")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.ip}"


class Stamp(models.Model):
    """A row the database's triggers add with every write to a table a stamp watches (:mod:`govshare.core.stamps`):
    the stamp's value is the sum of its rows' weights — processes keep answers while it stays."""

    name = models.CharField(max_length=40)
    #: 1 for a write; a pruned stamp's row carries the weights of the rows it replaced, plus one
    weight = models.BigIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["name", "id"], name="core_stamp_name_id")]

    def __str__(self) -> str:
        return f"{self.name}#{self.pk}"
