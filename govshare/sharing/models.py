"""Sharing (SHR-1 … SHR-8): applications, grants, coordination, data requests, error reports.

Writes go through :mod:`govshare.sharing.actions`; reads that depend on the user go through the
permission chokepoint (:mod:`govshare.sharing.permissions`).  The one question every delivery channel
asks — may this user or system receive these items of this entry for this purpose? — is answered by
:func:`govshare.sharing.access.check_access`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareMethod
from govshare.core.clock import Clocked, ClockedQuerySet, PermittedQuerySet

# the permission actions of govshare.sharing.permissions (imported there from here would be a cycle)
_VIEW, _CONSUME, _ANSWER, _REVIEW = "view", "consume", "answer", "review"


def _department_id(user: Any) -> int | None:
    return getattr(user, "department_id", None)


class ApplicationQuerySet(ClockedQuerySet):
    """The work queues of share applications, defined once for the API, the screens, the CLI and the digest."""

    def mine(self, user: Any) -> Self:
        """我的申请: the applications of the user's department (as consumer)."""
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(consumer_id=dept) if dept else self.none()

    def to_answer(self) -> Self:
        """Waiting for a provider's answer, soonest deadline first."""
        return self.filter(status=Application.Status.PROVIDER_REVIEW).by_deadline()

    def to_answer_by(self, user: Any) -> Self:
        """待答复: what the user's department must answer as provider."""
        dept = _department_id(user)
        return self.permitted(user, _ANSWER).filter(provider_id=dept).to_answer() if dept else self.none()

    def to_review(self) -> Self:
        """Waiting for the centre's first review, soonest deadline first."""
        return self.filter(status=Application.Status.CENTRE_REVIEW).by_deadline()

    def to_review_by(self, user: Any) -> Self:
        """初审: the centre's first-review queue (nothing for anyone else)."""
        return self.permitted(user, _REVIEW).to_review()

    def overdue_for(self, user: Any, now: dt.datetime | None = None) -> Self:
        """The centre's overdue list: running clocks past their due instant, most overdue first."""
        return self.permitted(user, _REVIEW).overdue(now).by_deadline()

    def provided_in(self, jurisdiction_id: int | None) -> Self:
        return self.filter(provider__jurisdiction_id=jurisdiction_id)


class GrantQuerySet(PermittedQuerySet):
    """"Usable grant" defined once (SHR-4): not revoked, already valid, not expired — the same as
    :meth:`Grant.state` ``== "active"``."""

    @staticmethod
    def usable_q(on: dt.date | None = None) -> Q:
        day = on or timezone.localdate()
        return Q(revoked_at__isnull=True, valid_from__lte=day) & (Q(expires_on__isnull=True) | Q(expires_on__gte=day))

    def usable(self, on: dt.date | None = None) -> Self:
        return self.filter(self.usable_q(on))

    def not_usable(self, on: dt.date | None = None) -> Self:
        return self.exclude(self.usable_q(on))

    def revoked(self) -> Self:
        return self.filter(revoked_at__isnull=False)

    def expiring(self, on: dt.date, until: dt.date) -> Self:
        """Usable on ``on`` and ending by ``until`` (the digest's "expiring soon")."""
        return self.usable(on).filter(expires_on__isnull=False, expires_on__lte=until)

    def held_by(self, user: Any) -> Self:
        """我的授权: the grants the user's department holds."""
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(consumer_id=dept) if dept else self.none()

    def given_by(self, user: Any) -> Self:
        """The grants on the user's department's entries."""
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(provider_id=dept) if dept else self.none()


class CaseQuerySet(ClockedQuerySet):
    def mine(self, user: Any) -> Self:
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(consumer_id=dept) if dept else self.none()

    def about_data_of(self, user: Any) -> Self:
        """Open cases about the user's department's data (the provider's side), soonest deadline first."""
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(provider_id=dept).open().by_deadline() if dept else self.none()

    def to_settle(self) -> Self:
        return self.open().by_deadline()

    def to_settle_by(self, user: Any) -> Self:
        """The centre's cases to mediate and settle."""
        return self.permitted(user, _REVIEW).to_settle()

    def overdue_for(self, user: Any, now: dt.datetime | None = None) -> Self:
        return self.permitted(user, _REVIEW).overdue(now).by_deadline()

    def provided_in(self, jurisdiction_id: int | None) -> Self:
        return self.filter(provider__jurisdiction_id=jurisdiction_id)


class DataRequestQuerySet(PermittedQuerySet):
    ROUTE_STATUSES = ("submitted", "declined", "forwarded")

    def open(self) -> Self:
        return self.filter(status__in=DataRequest.OPEN_STATUSES)

    def mine(self, user: Any) -> Self:
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(requester_id=dept) if dept else self.none()

    def to_answer(self) -> Self:
        return self.filter(status=DataRequest.Status.ASSIGNED).order_by("assigned_at", "pk")

    def to_answer_by(self, user: Any) -> Self:
        """Requests the centre assigned to the user's department: register an entry or decline."""
        dept = _department_id(user)
        return self.permitted(user, _ANSWER).filter(owner_id=dept).to_answer() if dept else self.none()

    def to_route(self) -> Self:
        """Waiting for the centre: to assign (submitted, or declined by the presumed owner), or to record
        the upper level's answer (forwarded)."""
        return self.filter(status__in=self.ROUTE_STATUSES).order_by("requested_at", "pk")

    def to_route_by(self, user: Any) -> Self:
        return self.permitted(user, _REVIEW).to_route()


class ErrorReportQuerySet(ClockedQuerySet):
    def mine(self, user: Any) -> Self:
        """Reports the user's department made."""
        dept = _department_id(user)
        return self.permitted(user, _VIEW).filter(reporter_department_id=dept) if dept else self.none()

    def to_verify(self) -> Self:
        return self.open().by_deadline()

    def to_verify_by(self, user: Any) -> Self:
        """Open reports about the user's department's data, soonest deadline first."""
        dept = _department_id(user)
        return self.permitted(user, _ANSWER).filter(provider_id=dept).to_verify() if dept else self.none()

    def overdue_for(self, user: Any, now: dt.datetime | None = None) -> Self:
        return self.permitted(user, _REVIEW).overdue(now).by_deadline()

    def provided_in(self, jurisdiction_id: int | None) -> Self:
        return self.filter(provider__jurisdiction_id=jurisdiction_id)


class ConsumingSystem(models.Model):
    """A department's information system that consumes shared data (名称 in the application, SHR-2).

    Exchange jobs and the gateway authenticate as a registered system; a grant may be limited to one."""

    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="consuming_systems",
                                   verbose_name=_("department"))
    name = models.CharField(_("system name"), max_length=200)
    code = models.CharField(_("system code"), max_length=40, unique=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["department_id", "name"]
        verbose_name = _("consuming information system")
        constraints = [models.UniqueConstraint(fields=["department", "name"], name="sharing_system_unique_name")]

    def __str__(self) -> str:
        return self.name


class SystemKey(models.Model):
    """A consuming system's own credential for the data API and the other channels (issue 11 item 3): only a
    SHA-256 of the secret is stored; the secret (``gsk_<prefix>_…``) is shown once.  Revocable at once; it
    ends on its expiry date; a deactivated system's keys are refused with it."""

    system = models.ForeignKey(ConsumingSystem, on_delete=models.CASCADE, related_name="keys",
                               verbose_name=_("consuming information system"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("system key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class Application(Clocked, models.Model):
    """A share application (共享申请) for one catalog entry by one consumer department.

    Unconditional entries are granted at once (SHR-1): the application is recorded already approved.
    Conditional entries go through the centre's first review and the provider's answer (SHR-2),
    each on the working-day clock of the provider's jurisdiction profile."""

    class Kind(models.TextChoices):
        UNCONDITIONAL = "unconditional", _("Unconditional (granted at once)")
        CONDITIONAL = "conditional", _("Conditional (reviewed)")

    class Status(models.TextChoices):
        CENTRE_REVIEW = "centre_review", _("Waiting for the centre's first review")
        RETURNED = "returned", _("Returned for completion")
        PROVIDER_REVIEW = "provider_review", _("Waiting for the provider's answer")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused by the provider")
        REJECTED = "rejected", _("Rejected at first review")
        WITHDRAWN = "withdrawn", _("Withdrawn by the applicant")

    OPEN_STATUSES = (Status.CENTRE_REVIEW, Status.RETURNED, Status.PROVIDER_REVIEW)
    #: a returned application waits for the applicant without a clock
    CLOCKED_STATUSES = (Status.CENTRE_REVIEW, Status.PROVIDER_REVIEW)

    number = models.CharField(_("application number"), max_length=20, unique=True, null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, db_index=True)
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="share_applications",
                              verbose_name=_("catalog entry"))
    entry_version = models.ForeignKey("catalog.EntryVersion", on_delete=models.PROTECT, related_name="+",
                                      verbose_name=_("entry version applied for"))
    provider = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="share_requests_received",
                                 verbose_name=_("provider"))
    consumer = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="share_applications",
                                 verbose_name=_("applying department"))
    applicant = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="share_applications",
                                  verbose_name=_("applicant"))
    items = models.JSONField(_("requested information items"), default=list)
    purpose = models.CharField(_("purpose"), max_length=40)
    purpose_detail = models.TextField(_("purpose in detail"), blank=True)
    system = models.ForeignKey(ConsumingSystem, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="applications", verbose_name=_("consuming information system"))
    period_start = models.DateField(_("use from"))
    period_end = models.DateField(_("use until"), null=True, blank=True)
    channel = models.CharField(_("delivery channel"), max_length=8, choices=ShareMethod.choices)
    contact_name = models.CharField(_("contact"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    # the stamped letter (加盖公章的申请函); the file lives under DATA_DIR/sharing/letters
    letter_path = models.CharField(max_length=200, blank=True)
    letter_name = models.CharField(_("letter"), max_length=200, blank=True)
    letter_type = models.CharField(max_length=40, blank=True)
    letter_size = models.PositiveIntegerField(default=0)
    letter_sha256 = models.CharField(max_length=64, blank=True)
    profile = models.CharField(_("policy profile"), max_length=50)
    deadline = models.ForeignKey("core.Deadline", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("current deadline"))
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    first_reviewed_at = models.DateTimeField(_("first review"), null=True, blank=True)
    first_reviewer = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    first_review_comment = models.TextField(_("first-review comment"), blank=True)
    answered_at = models.DateTimeField(_("provider answer"), null=True, blank=True)
    answered_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    refusal_basis = models.TextField(_("legal or policy basis of the refusal"), blank=True)
    refusal_reason = models.TextField(_("reason of the refusal"), blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # one reminder and one escalation per deadline: the columns hold the deadline they were sent for
    reminded_deadline_id = models.BigIntegerField(null=True, blank=True)
    escalated_deadline_id = models.BigIntegerField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("share application")
        indexes = [models.Index(fields=["consumer", "status"]), models.Index(fields=["provider", "status"])]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    @property
    def stage(self) -> str:
        """Who must act next: ``centre``, ``consumer``, ``provider`` or ``""`` once decided."""
        return {self.Status.CENTRE_REVIEW: "centre", self.Status.RETURNED: "consumer",
                self.Status.PROVIDER_REVIEW: "provider"}.get(self.status, "")  # type: ignore[call-overload]

    @property
    def is_overdue(self) -> bool:
        return self.overdue_at()


class ApplicationStep(models.Model):
    """The timeline of an application: every step with its time, actor and clock (kept for evaluation)."""

    class Step(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        RESUBMITTED = "resubmitted", _("Resubmitted after completion")
        PASSED = "passed", _("Passed first review")
        RETURNED = "returned", _("Returned for completion")
        REJECTED = "rejected", _("Rejected at first review")
        APPROVED = "approved", _("Approved by the provider")
        REFUSED = "refused", _("Refused by the provider")
        WITHDRAWN = "withdrawn", _("Withdrawn by the applicant")
        REMINDED = "reminded", _("Reminder sent")
        ESCALATED = "escalated", _("Overdue: escalated to the centre")
        EXTENDED = "extended", _("Answer period reopened by the centre")
        GRANTED = "granted", _("Granted at once (unconditional)")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=16, choices=Step.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(blank=True)
    stage = models.CharField(max_length=10, blank=True)  # whose clock the step closes or opens
    due_date = models.DateField(null=True, blank=True)  # the due day of the clock the step relates to
    working_days_used = models.IntegerField(null=True, blank=True)  # from the clock's start to this step
    on_time = models.BooleanField(null=True)

    class Meta:
        ordering = ["at", "id"]


class Grant(models.Model):
    """共享授权 (SHR-4): the only thing that lets a channel deliver an entry's data to a consumer.

    States its scope (information items), purpose, per-item masking, expiry and channel; revocable
    with immediate effect.  Held by the consumer department, optionally limited to one system."""

    class Source(models.TextChoices):
        UNCONDITIONAL = "unconditional", _("Unconditional sharing")
        APPLICATION = "application", _("Approved application")
        COORDINATION = "coordination", _("Coordination outcome")

    number = models.CharField(_("grant number"), max_length=20, unique=True, null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    application = models.ForeignKey(Application, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="grants")
    case = models.ForeignKey("CoordinationCase", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="grants")
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="grants",
                              verbose_name=_("catalog entry"))
    provider = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="grants_given")
    consumer = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="grants",
                                 verbose_name=_("consumer department"))
    system = models.ForeignKey(ConsumingSystem, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="grants", verbose_name=_("consuming information system"))
    items = models.JSONField(_("information items"), default=list)
    masking = models.JSONField(_("masking per item"), default=dict, blank=True)
    purpose = models.CharField(_("purpose"), max_length=40)
    purpose_detail = models.TextField(_("purpose in detail"), blank=True)
    channel = models.CharField(_("delivery channel"), max_length=8, choices=ShareMethod.choices)
    conditions = models.TextField(_("conditions of use"), blank=True)
    valid_from = models.DateField(_("valid from"))
    expires_on = models.DateField(_("valid until"), null=True, blank=True)
    granted_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    revoke_reason = models.TextField(_("reason for revoking"), blank=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["-granted_at", "-id"]
        verbose_name = _("grant")
        indexes = [models.Index(fields=["entry", "consumer"])]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    def state(self, today: dt.date | None = None) -> str:
        """``active`` (usable: see :meth:`GrantQuerySet.usable`), ``pending``, ``expired`` or ``revoked``."""
        today = today or timezone.localdate()
        if self.revoked_at is not None:
            return "revoked"
        if today < self.valid_from:
            return "pending"
        if self.expires_on is not None and today > self.expires_on:
            return "expired"
        return "active"

    def is_usable(self, on: dt.date | None = None) -> bool:
        return self.state(on) == "active"

    @property
    def is_active(self) -> bool:
        return self.is_usable()


class CoordinationCase(Clocked, models.Model):
    """A coordination case (SHR-3): the consumer asks the sharing authority (the centre) to settle a
    refusal or a 不予共享 entry; the outcome is a grant or a final refusal with reason."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MEDIATING = "mediating", _("Being mediated")
        GRANTED = "granted", _("Settled: granted")
        REFUSED = "refused", _("Settled: finally refused")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    OPEN_STATUSES = (Status.OPEN, Status.MEDIATING)

    number = models.CharField(_("case number"), max_length=20, unique=True, null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="coordination_cases")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="coordination_cases")
    provider = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="+")
    consumer = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="coordination_cases")
    opened_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(_("why the data is needed"))
    items = models.JSONField(_("information items"), default=list)
    purpose = models.CharField(_("purpose"), max_length=40)
    profile = models.CharField(max_length=50)
    deadline = models.ForeignKey("core.Deadline", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    mediator = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    outcome_reason = models.TextField(_("outcome"), blank=True)
    reminded_deadline_id = models.BigIntegerField(null=True, blank=True)
    escalated_deadline_id = models.BigIntegerField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("coordination case")

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"



class CaseNote(models.Model):
    """A statement in a coordination case (consumer, provider or centre)."""

    case = models.ForeignKey(CoordinationCase, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    party = models.CharField(max_length=10)  # consumer / provider / centre
    text = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]


class DataRequest(models.Model):
    """A request for data that is not in the catalog (SHR-5) or that an upper-level platform holds (SHR-6).

    * local: the centre assigns it to the presumed owner, who registers an entry (linked through
      ``CatalogEntry.request_ref``) or declines with a reason;
    * upper: the centre forwards it to the upper-level platform and records the answer (the transport
      between platforms comes with federation)."""

    class Scope(models.TextChoices):
        LOCAL = "local", _("Not in the catalog (local)")
        UPPER = "upper", _("Upper-level platform")

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        ASSIGNED = "assigned", _("Assigned to the presumed owner")
        REGISTERED = "registered", _("Registered in the catalog")
        DECLINED = "declined", _("Declined by the presumed owner")
        FORWARDED = "forwarded", _("Forwarded to the upper-level platform")
        FULFILLED = "fulfilled", _("Answered: provided by the upper level")
        UPPER_REFUSED = "upper_refused", _("Answered: refused by the upper level")
        CLOSED = "closed", _("Closed by the centre")

    OPEN_STATUSES = (Status.SUBMITTED, Status.ASSIGNED, Status.FORWARDED)

    number = models.CharField(_("request number"), max_length=20, unique=True, null=True, blank=True)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices, default=Scope.LOCAL)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SUBMITTED,
                              db_index=True)
    title = models.CharField(_("data wanted"), max_length=200)
    description = models.TextField(_("description"))
    wanted_items = models.TextField(_("information items wanted"), blank=True)
    purpose = models.CharField(_("purpose"), max_length=40)
    requester = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="data_requests")
    requested_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    suggested_owner = models.ForeignKey("core.Department", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("suggested owner"))
    owner = models.ForeignKey("core.Department", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="data_requests_assigned", verbose_name=_("presumed owner"))
    assigned_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    assigned_at = models.DateTimeField(null=True, blank=True)
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="data_requests")
    answered_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(_("answer"), blank=True)
    # upper level (SHR-6)
    upper_jurisdiction = models.ForeignKey("core.Jurisdiction", on_delete=models.PROTECT, null=True, blank=True,
                                           related_name="+", verbose_name=_("upper-level platform"))
    upper_resource = models.CharField(_("upper-level resource (code or name)"), max_length=200, blank=True)
    forwarded_at = models.DateTimeField(null=True, blank=True)
    forwarded_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    upper_reference = models.CharField(_("upper-level reference"), max_length=100, blank=True)
    handoff = models.JSONField(default=dict, blank=True)  # the message federation will carry

    objects = DataRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("data request")

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class HighFrequencyMark(models.Model):
    """An entry the centre has put in the high-frequency shared library (高频共享库, SHR-7)."""

    entry = models.OneToOneField("catalog.CatalogEntry", on_delete=models.CASCADE, related_name="high_frequency")
    marked_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    marked_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)
    demand = models.PositiveIntegerField(default=0)  # departments asking when it was marked

    class Meta:
        ordering = ["-marked_at"]


class ErrorReport(Clocked, models.Model):
    """Doubtful or wrong shared data (SHR-8): the consumer reports, the provider verifies and corrects
    within the profile's deadline.  Never blocks the consumer: access checks ignore reports."""

    class Status(models.TextChoices):
        REPORTED = "reported", _("Reported")
        VERIFYING = "verifying", _("Being verified")
        CORRECTED = "corrected", _("Corrected")
        NOT_AN_ERROR = "not_an_error", _("Checked: the data is right")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    OPEN_STATUSES = (Status.REPORTED, Status.VERIFYING)

    number = models.CharField(_("report number"), max_length=20, unique=True, null=True, blank=True)
    status = models.CharField(_("status"), max_length=14, choices=Status.choices, default=Status.REPORTED,
                              db_index=True)
    entry = models.ForeignKey("catalog.CatalogEntry", on_delete=models.PROTECT, related_name="error_reports")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="error_reports")
    provider = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="+")
    reporter_department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="+")
    reported_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(default=timezone.now)
    record_keys = models.TextField(_("record keys"))
    field = models.CharField(_("information item"), max_length=100)
    description = models.TextField(_("what is wrong"))
    profile = models.CharField(max_length=50)
    deadline = models.ForeignKey("core.Deadline", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    resolution = models.TextField(_("resolution"), blank=True)
    reminded_deadline_id = models.BigIntegerField(null=True, blank=True)
    escalated_deadline_id = models.BigIntegerField(null=True, blank=True)

    objects = ErrorReportQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_at", "-id"]
        verbose_name = _("data error report")

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"



class DigestSetting(models.Model):
    """A department's optional daily digest e-mail (one per department)."""

    department = models.OneToOneField("core.Department", on_delete=models.CASCADE, related_name="sharing_digest")
    enabled = models.BooleanField(default=False)
    last_sent_on = models.DateField(null=True, blank=True)
    #: the languages whose digest went out on a day whose send failed for another language
    #: (``{"2026-10-09": ["zh-hans"]}``): the retry sends only the languages still missing
    delivered = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey("core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)


def number_for(prefix: str, obj: Any) -> str:
    """A readable number such as ``GX2026-000042`` (the year of creation, the row id)."""
    year = timezone.localdate().year
    return f"{prefix}{year}-{obj.pk:06d}"
