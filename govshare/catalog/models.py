"""Catalog models (CAT-1 … CAT-10).

* :class:`Classification` — the tree 类/项/目/细目, data the centre edits.
* :class:`CatalogEntry` — one information resource with its immutable resource code; its content
  lives in :class:`EntryVersion` rows (draft → submitted → published …), each with its
  :class:`InformationItem` rows.  ``current_version`` is what the catalog shows; ``open_version`` is
  the one being edited or reviewed (at most one at a time).
* :class:`Subscription` — who gets change notices (CAT-4); :class:`UpdateTask` (CAT-5);
  :class:`CatalogSnapshot` (CAT-7); :class:`Project` (CAT-8); :class:`Feedback` (CAT-10);
  :class:`Synonym` (CAT-9 search).

Writes go through :mod:`govshare.catalog.actions`; reads through :mod:`govshare.core.permissions`.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import (
    ClassKind,
    DataType,
    FormatClass,
    OpenAttribute,
    ShareType,
    UpdateCycle,
)
from govshare.core.clock import Clocked, ClockedQuerySet


class Classification(models.Model):
    """A node of the classification tree; ``code`` is the full code (类 1 digit + 项 2 + 目 3 + 细目)."""

    code = models.CharField(_("classification code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"))  # 1 类, 2 项, 3 目, 4 细目
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children",
                               verbose_name=_("parent"))
    kind = models.CharField(_("class"), max_length=12, choices=ClassKind.choices)
    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="classifications", verbose_name=_("department"),
                                   help_text=_("For department resources: the department this 项 belongs to."))
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("classification")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def path(self) -> list[Classification]:
        chain = [self]
        node = self.parent
        while node is not None and len(chain) < 8:
            chain.insert(0, node)
            node = node.parent
        return chain


class CatalogEntry(models.Model):
    """An information resource of a provider department.  Its content is versioned."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft (never published)")
        PUBLISHED = "published", _("Published")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    code = models.CharField(_("resource code"), max_length=40, unique=True)
    sequence = models.PositiveIntegerField(_("sequence number"))
    provider = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="catalog_entries",
                                 verbose_name=_("provider"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.DRAFT,
                              db_index=True)
    current_version = models.ForeignKey("EntryVersion", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("published version"))
    open_version = models.ForeignKey("EntryVersion", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("version in progress"))
    project = models.ForeignKey("Project", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="entries", verbose_name=_("IT project"))
    request_ref = models.CharField(_("data request"), max_length=64, blank=True,
                                   help_text=_("The data request (SHR-5) this entry answers, if any."))
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    first_published_at = models.DateTimeField(_("first published"), null=True, blank=True)
    published_at = models.DateTimeField(_("last published"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("catalog entry")
        verbose_name_plural = _("catalog entries")

    def __str__(self) -> str:
        version = self.current_version or self.open_version
        return f"{self.code} {version.name if version else ''}".strip()

    @property
    def shown_version(self) -> EntryVersion | None:
        return self.current_version or self.open_version

    @property
    def provider_code(self) -> str:
        """资源提供方代码: the provider's unified social credit code."""
        return self.provider.uscc


class EntryVersion(models.Model):
    """One version of an entry's content (CAT-3).  Published versions are never edited again."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted for review")
        RETURNED = "returned", _("Returned for changes")
        APPROVED = "approved", _("Approved, waiting for the notice period")
        PUBLISHED = "published", _("Published")
        SUPERSEDED = "superseded", _("Superseded")
        DISCARDED = "discarded", _("Discarded")

    class Kind(models.TextChoices):
        CONTENT = "content", _("Content")
        WITHDRAWAL = "withdrawal", _("Withdrawal")

    OPEN_STATES = (State.DRAFT, State.SUBMITTED, State.RETURNED, State.APPROVED)
    EDITABLE_STATES = (State.DRAFT, State.RETURNED)

    entry = models.ForeignKey(CatalogEntry, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.CONTENT)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.DRAFT, db_index=True)
    # --- content (CAT-1)
    classification = models.ForeignKey(Classification, on_delete=models.PROTECT, related_name="versions",
                                       verbose_name=_("classification"))
    name = models.CharField(_("resource name"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    format_class = models.CharField(_("format class"), max_length=20, choices=FormatClass.choices)
    format = models.CharField(_("format"), max_length=60, blank=True)
    share_type = models.CharField(_("share type"), max_length=16, choices=ShareType.choices)
    share_condition = models.TextField(_("share condition"), blank=True)
    share_methods = models.JSONField(_("share methods"), default=list, blank=True)
    share_basis = models.TextField(_("legal or policy basis"), blank=True)
    open_attribute = models.CharField(_("open attribute"), max_length=16, choices=OpenAttribute.choices,
                                      default=OpenAttribute.NOT_OPEN)
    open_condition = models.TextField(_("open condition"), blank=True)
    update_cycle = models.CharField(_("update cycle"), max_length=12, choices=UpdateCycle.choices)
    update_cycle_note = models.CharField(_("update cycle (other)"), max_length=100, blank=True)
    domain = models.CharField(_("open-data domain"), max_length=40, blank=True)
    related_codes = models.JSONField(_("related resource codes"), default=list, blank=True)
    # --- workflow
    change_reason = models.TextField(_("reason for the change"), blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    #: everyone who wrote the content of this version (separation of duties: none of them reviews it)
    edited_by = models.ManyToManyField("core.User", blank=True, related_name="+")
    reviewed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(_("review comment"), blank=True)
    notice_started_at = models.DateTimeField(_("notice given"), null=True, blank=True)
    notice_ends_at = models.DateTimeField(_("notice period ends"), null=True, blank=True)
    effective_at = models.DateTimeField(_("effective"), null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["entry", "-number"]
        constraints = [models.UniqueConstraint(fields=["entry", "number"], name="catalog_version_unique_number")]
        indexes = [models.Index(fields=["state", "notice_ends_at"])]

    def __str__(self) -> str:
        return f"{self.entry.code} v{self.number}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_editable(self) -> bool:
        return self.state in self.EDITABLE_STATES and self.kind == self.Kind.CONTENT

    def is_own_work(self, user: Any) -> bool:
        """Whether ``user`` created, edited or submitted this version (and so may not review it)."""
        if user is None or user.pk is None:
            return False
        if user.pk in (self.created_by_id, self.submitted_by_id):
            return True
        return any(u.pk == user.pk for u in self.edited_by.all())

    @property
    def in_open_catalog(self) -> bool:
        """CAT-6: entries open to the public (unconditionally or on application) form the open catalog."""
        return self.open_attribute != OpenAttribute.NOT_OPEN


class InformationItem(models.Model):
    """信息项: one data element of a resource version."""

    version = models.ForeignKey(EntryVersion, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    name = models.CharField(_("item name"), max_length=100)
    data_type = models.CharField(_("data type"), max_length=1, choices=DataType.choices)
    length = models.PositiveIntegerField(_("length"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    is_primary_key = models.BooleanField(_("primary key"), default=False)
    is_sensitive = models.BooleanField(_("sensitive"), default=False)
    masking_rule = models.CharField(_("masking rule"), max_length=200, blank=True)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="catalog_item_unique_position"),
            models.UniqueConstraint(fields=["version", "name"], name="catalog_item_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Subscription(models.Model):
    """A department user who follows an entry and gets its change notices (CAT-4)."""

    entry = models.ForeignKey(CatalogEntry, on_delete=models.CASCADE, related_name="subscriptions")
    user = models.ForeignKey("core.User", on_delete=models.CASCADE, related_name="catalog_subscriptions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "user"], name="catalog_subscription_unique")]


class UpdateTask(Clocked, models.Model):
    """The centre asks a department to update its catalog after a change (CAT-5, N51-§8).

    On the working-day clock (:class:`govshare.core.clock.Clocked`): open while ``open``; overdue
    tasks are escalated once through the core table of clocked kinds (``overdue_notified_at``)."""

    class Reason(models.TextChoices):
        LAW = "law", _("Change of law or regulation")
        FUNCTION = "function", _("Change of the department's functions")
        OTHER = "other", _("Other change")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN_STATUSES = (Status.OPEN,)

    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="catalog_update_tasks")
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    title = models.CharField(_("change"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    opened_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    change_date = models.DateField(_("date of the change"))
    deadline = models.OneToOneField("core.Deadline", on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("deadline"))
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    completion_note = models.TextField(_("completion note"), blank=True)

    objects = ClockedQuerySet.as_manager()

    class Meta:
        ordering = ["status", "deadline__due_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def due_at(self) -> Any:
        return self.deadline.due_at

    @property
    def is_overdue(self) -> bool:
        """Open and past its due instant, or closed after it (a late completion stays marked)."""
        if self.status == self.Status.OPEN:
            return self.overdue_at()
        return self.closed_at is not None and self.closed_at > self.due_at


class CatalogSnapshot(models.Model):
    """A published, numbered copy of a jurisdiction's consolidated catalog (CAT-7)."""

    jurisdiction = models.ForeignKey("core.Jurisdiction", on_delete=models.PROTECT, related_name="catalog_snapshots")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    entry_count = models.PositiveIntegerField(default=0)
    department_count = models.PositiveIntegerField(default=0)
    content = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["jurisdiction", "-number"]
        constraints = [models.UniqueConstraint(fields=["jurisdiction", "number"], name="catalog_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.jurisdiction} #{self.number}"


class Project(models.Model):
    """An IT project and its resource catalog (CAT-8, N51-§21)."""

    class Stage(models.TextChoices):
        APPLICATION = "application", _("Project application")
        CONSTRUCTION = "construction", _("Construction")
        ACCEPTANCE = "acceptance", _("Acceptance")

    name = models.CharField(_("project name"), max_length=200)
    code = models.CharField(_("project code"), max_length=40, unique=True)
    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="projects",
                                   verbose_name=_("department"))
    description = models.TextField(_("description"), blank=True)
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices, default=Stage.APPLICATION)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Feedback(models.Model):
    """A doubt or an error reported on an entry (CAT-10); timestamps feed the evaluation."""

    class Kind(models.TextChoices):
        DOUBT = "doubt", _("Doubt")
        ERROR = "error", _("Error")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    entry = models.ForeignKey(CatalogEntry, on_delete=models.CASCADE, related_name="feedback")
    version_number = models.PositiveIntegerField()
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    field_name = models.CharField(_("field or item"), max_length=100, blank=True)
    description = models.TextField(_("description"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    raised_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey("core.Department", on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    answer = models.TextField(_("answer"), blank=True)
    answered_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]


class Synonym(models.Model):
    """A search abbreviation and the full terms it stands for (社保 → 社会保险), edited by the centre."""

    term = models.CharField(_("term"), max_length=40, unique=True)
    expansions = models.JSONField(_("stands for"), default=list)
    updated_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return f"{self.term} → {', '.join(self.expansions)}"


class SearchWord(models.Model):
    """A word of the platform that search keeps whole (CAT-9): jieba does not know local names
    (龙南市 → 龙 / 南市), so the centre lists them.  Jurisdiction and department names are added
    automatically; changing this list rebuilds the index."""

    word = models.CharField(_("word"), max_length=40, unique=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_by = models.ForeignKey("core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word


class SearchIndexState(models.Model):
    """Bookkeeping of the search index: one row (pk=1)."""

    rebuilt_at = models.DateTimeField(null=True, blank=True)
    documents = models.PositiveIntegerField(default=0)
    synonyms_changed_at = models.DateTimeField(null=True, blank=True)


def version_content(version: EntryVersion) -> dict[str, Any]:
    """The comparable content of a version (for diffs, exports and snapshots)."""
    return {
        "classification": version.classification.code,
        "name": version.name,
        "summary": version.summary,
        "keywords": list(version.keywords or []),
        "format_class": version.format_class,
        "format": version.format,
        "share_type": version.share_type,
        "share_condition": version.share_condition,
        "share_methods": list(version.share_methods or []),
        "share_basis": version.share_basis,
        "open_attribute": version.open_attribute,
        "open_condition": version.open_condition,
        "update_cycle": version.update_cycle,
        "update_cycle_note": version.update_cycle_note,
        "domain": version.domain,
        "related_codes": list(version.related_codes or []),
        "items": [
            {"name": i.name, "data_type": i.data_type, "length": i.length, "description": i.description,
             "is_primary_key": i.is_primary_key, "is_sensitive": i.is_sensitive, "masking_rule": i.masking_rule}
            for i in version.items.all()
        ],
    }
