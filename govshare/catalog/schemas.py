"""Request and response shapes of the catalog JSON API (CAT-1 … CAT-10), see :mod:`govshare.catalog.api`.

Input bodies bound every string by its model field's length (a longer value is a 422 naming the
field) and refuse control characters (:class:`govshare.core.api.InSchema`); everything else — the
guide's rules, unknown codes, transitions — is checked by the actions, which answer 400/403/404/409
with the field named, in Chinese and English.  Content fields default to empty so that one request
reports *every* problem of an entry at once (``errors`` of a ``ManyProblems`` answer).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from govshare.catalog.diff import FIELD_LABELS
from govshare.catalog.models import (
    CatalogEntry,
    CatalogSnapshot,
    Classification,
    EntryVersion,
    Feedback,
    Project,
    Subscription,
    UpdateTask,
)
from govshare.catalog.validation import MAX_ITEMS
from govshare.core.api import InSchema, PatchIn, choice_of

#: the most rows one page of a list answers
MAX_PER_PAGE = 100
#: the deepest page a list answers (keeps OFFSET small and bounded)
MAX_PAGE = 10_000

Str16 = Annotated[str, Field(max_length=16)]
Str40 = Annotated[str, Field(max_length=40)]


# ------------------------------------------------------------------ shared pieces

class PageQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)


class DepartmentRef(Schema):
    id: int
    code: str
    name: str


def dept_ref(dept: Any) -> dict[str, Any] | None:
    return None if dept is None else {"id": dept.pk, "code": dept.code, "name": dept.name}


# ------------------------------------------------------------------ entry content (input)

class ItemIn(InSchema):
    """信息项 (CAT-1): the data type is one of the guide's letters C N Y D T L M G B I F."""

    name: str = Field("", max_length=100)
    data_type: str = Field("", max_length=10, description="C N Y D T L M G B I F")
    length: int | None = Field(None, ge=1, le=1_000_000, description="required for C, N, Y, B and F")
    description: str = Field("", max_length=500)
    is_primary_key: bool = False
    is_sensitive: bool = False
    masking_rule: str = Field("", max_length=200, description="required when the item is sensitive")


class EntryContentIn(InSchema):
    """The content of one entry version, in the guide's terms (CAT-1, CAT-2, CAT-6)."""

    classification: str = Field("", max_length=16, description="a 项, 目 or 细目 code, e.g. 301")
    name: str = Field("", max_length=200)
    summary: str = Field("", max_length=4000)
    keywords: list[Str40] = Field([], max_length=50)
    format_class: str = Field("", max_length=20, description="file, spreadsheet, database, image, stream, "
                                                             "self_describing, service or other")
    format: str = Field("", max_length=60)
    share_type: str = Field("", max_length=16, description="unconditional, conditional or none (CAT-2)")
    share_condition: str = Field("", max_length=2000)
    share_methods: list[Str16] = Field([], max_length=10, description="table, file, api")
    share_basis: str = Field("", max_length=2000, description="legal or policy basis: required for "
                                                                "conditional and none")
    open_attribute: str = Field("not_open", max_length=16, description="open, on_application or not_open")
    open_condition: str = Field("", max_length=2000)
    update_cycle: str = Field("", max_length=12, description="realtime, daily, weekly, monthly, quarterly, "
                                                             "half_yearly, yearly or other")
    update_cycle_note: str = Field("", max_length=100)
    domain: str = Field("", max_length=40, description="open-data domain of the policy profile")
    related_codes: list[Str40] = Field([], max_length=100)
    items: list[ItemIn] = Field([], max_length=MAX_ITEMS)

    def content(self) -> dict[str, Any]:
        return self.dict(exclude={"project", "request_ref", "change_reason"})


class EntryCreateIn(EntryContentIn):
    project: str | None = Field(None, max_length=40, description="code of an IT project of the department (CAT-8)")
    request_ref: str = Field("", max_length=64, description="the data request this entry answers")


class EntryEditIn(EntryContentIn):
    change_reason: str = Field("", max_length=2000,
                               description="required when changing a published entry (a new version)")


class CommentIn(InSchema):
    comment: str = Field("", max_length=2000)


class ReasonIn(InSchema):
    reason: str = Field("", max_length=2000)


class NoteIn(InSchema):
    note: str = Field("", max_length=2000)


# ------------------------------------------------------------------ entries and versions (output)

class ItemOut(Schema):
    position: int
    name: str
    data_type: str
    length: int | None
    description: str
    is_primary_key: bool
    is_sensitive: bool
    masking_rule: str


class VersionSummaryOut(Schema):
    number: int
    kind: str
    state: str
    name: str
    change_reason: str
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    review_comment: str
    notice_started_at: dt.datetime | None
    notice_ends_at: dt.datetime | None
    effective_at: dt.datetime | None
    published_at: dt.datetime | None


class VersionOut(VersionSummaryOut):
    classification: str
    classification_name: str
    summary: str
    keywords: list[str]
    format_class: str
    format: str
    share_type: str
    share_condition: str
    share_methods: list[str]
    share_basis: str
    open_attribute: str
    open_condition: str
    update_cycle: str
    update_cycle_note: str
    domain: str
    related_codes: list[str]
    items: list[ItemOut]

    @staticmethod
    def resolve_classification(obj: EntryVersion) -> str:
        return obj.classification.code

    @staticmethod
    def resolve_classification_name(obj: EntryVersion) -> str:
        return obj.classification.name

    @staticmethod
    def resolve_items(obj: EntryVersion) -> Any:
        return obj.items.all()


class EntryListItemOut(Schema):
    id: int
    code: str
    status: str
    provider: str = Field(description="provider department code")
    provider_name: str
    name: str
    summary: str
    classification: str
    share_type: str
    open_attribute: str
    format_class: str
    update_cycle: str
    version: int | None = Field(description="the published version, else the draft's")
    open_version_state: str | None = Field(description="state of the version in progress, when you may see it")
    first_published_at: dt.datetime | None
    published_at: dt.datetime | None
    updated_at: dt.datetime

    @staticmethod
    def _shown(obj: CatalogEntry) -> EntryVersion:
        version = obj.shown_version
        assert version is not None
        return version

    @staticmethod
    def resolve_provider(obj: CatalogEntry) -> str:
        return obj.provider.code

    @staticmethod
    def resolve_provider_name(obj: CatalogEntry) -> str:
        return obj.provider.name

    @staticmethod
    def resolve_name(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).name

    @staticmethod
    def resolve_summary(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).summary

    @staticmethod
    def resolve_classification(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).classification.code

    @staticmethod
    def resolve_share_type(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).share_type

    @staticmethod
    def resolve_open_attribute(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).open_attribute

    @staticmethod
    def resolve_format_class(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).format_class

    @staticmethod
    def resolve_update_cycle(obj: CatalogEntry) -> str:
        return EntryListItemOut._shown(obj).update_cycle

    @staticmethod
    def resolve_version(obj: CatalogEntry) -> int | None:
        return EntryListItemOut._shown(obj).number

    @staticmethod
    def resolve_open_version_state(obj: CatalogEntry) -> str | None:
        if obj.open_version is None or not getattr(obj, "open_visible", False):
            return None
        return obj.open_version.state


class EntryPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[EntryListItemOut]


class ProviderOut(Schema):
    id: int
    code: str
    name: str
    uscc: str = Field(description="资源提供方代码: the provider's unified social credit code")


class EntryDetailOut(Schema):
    id: int
    code: str
    status: str
    provider: ProviderOut
    project: str | None = Field(description="code of the IT project (CAT-8)")
    request_ref: str
    created_at: dt.datetime
    first_published_at: dt.datetime | None
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    updated_at: dt.datetime
    current_version: VersionOut | None = Field(description="the published version")
    open_version: VersionOut | None = Field(description="the version being edited or reviewed, when you may see it")
    subscriber_count: int | None = Field(description="for the provider department and the centre (CAT-4)")
    subscribed: bool = Field(description="whether you get this entry's change notices")


class VersionPageOut(Schema):
    total: int
    items: list[VersionSummaryOut]


class DiffChangeOut(Schema):
    field: str
    label: str
    item: str | None = None
    change: str | None = Field(None, description="added, removed or changed (information items)")
    before: Any = None
    after: Any = None


def change_label(change: dict[str, Any]) -> str:
    if change["field"] in FIELD_LABELS:
        return str(FIELD_LABELS[change["field"]])
    from govshare.catalog.diff import summarize

    return summarize([change])


class DiffOut(Schema):
    code: str
    number: int
    against: int | None = Field(description="the version compared against; null for the first version")
    changes: list[DiffChangeOut]


class SubscriptionOut(Schema):
    code: str
    subscribed: bool
    created_at: dt.datetime | None

    @staticmethod
    def from_subscription(sub: Subscription) -> dict[str, Any]:
        return {"code": sub.entry.code, "subscribed": True, "created_at": sub.created_at}


class ReviewItemOut(Schema):
    entry_id: int
    code: str
    provider: str
    provider_name: str
    number: int
    kind: str
    name: str
    change_reason: str
    submitted_at: dt.datetime | None
    submitted_by: str
    notice_ends_at: dt.datetime | None
    first_version: bool = Field(description="a new entry rather than a change of a published one")

    @staticmethod
    def resolve_code(obj: EntryVersion) -> str:
        return obj.entry.code

    @staticmethod
    def resolve_provider(obj: EntryVersion) -> str:
        return obj.entry.provider.code

    @staticmethod
    def resolve_provider_name(obj: EntryVersion) -> str:
        return obj.entry.provider.name

    @staticmethod
    def resolve_submitted_by(obj: EntryVersion) -> str:
        return obj.submitted_by.real_name if obj.submitted_by else ""

    @staticmethod
    def resolve_first_version(obj: EntryVersion) -> bool:
        return obj.entry.current_version_id is None


class ReviewPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[ReviewItemOut]


# ------------------------------------------------------------------ search (CAT-9)

class SearchQuery(Schema):
    q: str = Field("", max_length=200, description="words, in Chinese or not; abbreviations expand (社保 → 社会保险)")
    classification: list[Str16] = Field([], max_length=50, description="项 code (first three digits); repeat = OR")
    provider: list[Str40] = Field([], max_length=50, description="department code; repeat = OR")
    share_type: list[Str16] = Field([], max_length=10)
    open_attribute: list[Str16] = Field([], max_length=10)
    format_class: list[Annotated[str, Field(max_length=20)]] = Field([], max_length=10)
    update_cycle: list[Str16] = Field([], max_length=10)
    domain: list[Str40] = Field([], max_length=50)
    status: list[Str16] = Field([], max_length=5)
    sort: Literal["relevance", "date", "code"] = "relevance"
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)


SEARCH_FILTERS = ("classification", "provider", "share_type", "open_attribute", "format_class", "update_cycle",
                  "domain", "status")


class FacetValueOut(Schema):
    value: str
    label: str
    count: int


class HitOut(Schema):
    entry_id: int
    code: str
    name: str
    summary: str
    provider_code: str = Field(description="department code")
    provider_name: str
    classification: str
    share_type: str
    open_attribute: str
    format_class: str
    update_cycle: str
    domain: str
    status: str
    published_at: dt.datetime | None
    # no relevance score: tantivy computes it over the whole index, hidden entries included, so it
    # would tell a reader how many entries they may not see contain a word (SEC-2); the order is the rank


class SearchOut(Schema):
    total: int
    page: int
    per_page: int
    pages: int
    query_terms: list[str] = Field(description="the query's words as segmented")
    expansions: dict[str, list[str]] = Field(description="word → the full terms it was expanded to (synonyms)")
    facets: dict[str, list[FacetValueOut]]
    results: list[HitOut]


# ------------------------------------------------------------------ classifications, synonyms

class ClassificationOut(Schema):
    code: str
    name: str
    level: int
    kind: str
    parent: str | None
    department: str | None = Field(description="department code, for department resources (class 3)")
    description: str
    is_active: bool

    @staticmethod
    def resolve_parent(obj: Classification) -> str | None:
        return obj.parent.code if obj.parent_id and obj.parent else None

    @staticmethod
    def resolve_department(obj: Classification) -> str | None:
        return obj.department.code if obj.department_id and obj.department else None


class ClassificationNodeOut(Schema):
    code: str
    name: str
    level: int
    kind: str
    department: str | None
    description: str
    is_active: bool
    children: list[ClassificationNodeOut]


ClassificationNodeOut.model_rebuild()


class ClassificationIn(InSchema):
    code: str = Field(max_length=16, description="the full code: 类 1 digit, 项 +2, 目 +3, 细目 +1…6")
    name: str = Field(max_length=100)
    parent: str | None = Field(None, max_length=16, description="the parent's code; none for a 类")
    department: str | None = Field(None, max_length=20, description="department code, for a 项 of class 3")
    description: str = Field("", max_length=2000)


class ClassificationPatch(PatchIn):
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)
    is_active: bool | None = None


class SynonymOut(Schema):
    term: str
    expansions: list[str]
    updated_at: dt.datetime


class SynonymIn(InSchema):
    expansions: list[Str40] = Field(max_length=50, description="the full terms the abbreviation stands for")


# ------------------------------------------------------------------ update tasks (CAT-5)

class UpdateTaskOut(Schema):
    id: int
    department: DepartmentRef
    reason: str
    title: str
    description: str
    status: str
    opened_at: dt.datetime
    change_date: dt.date
    due_date: dt.date
    due_at: dt.datetime
    provisional: bool = Field(description="the deadline crosses a year without official holiday data")
    remaining_working_days: int | None = Field(description="negative when overdue; null once closed")
    overdue: bool
    closed_at: dt.datetime | None
    completion_note: str


class UpdateTaskIn(InSchema):
    department: str = Field(max_length=20, description="department code")
    reason: choice_of(UpdateTask.Reason.values) = Field(description="law, function or other")  # type: ignore[valid-type]
    title: str = Field(max_length=200)
    change_date: dt.date
    description: str = Field("", max_length=4000)


class UpdateTaskQuery(PageQuery):
    status: list[Annotated[str, Field(max_length=12)]] = Field([], max_length=3)
    department: str | None = Field(None, max_length=20, description="department code")
    overdue: bool | None = Field(None, description="true: open tasks past their deadline only")


class UpdateTaskPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[UpdateTaskOut]


# ------------------------------------------------------------------ projects (CAT-8)

class ProjectOut(Schema):
    id: int
    code: str
    name: str
    department: DepartmentRef
    description: str
    stage: str
    created_at: dt.datetime
    approved_at: dt.datetime | None
    accepted_at: dt.datetime | None

    @staticmethod
    def resolve_department(obj: Project) -> dict[str, Any] | None:
        return dept_ref(obj.department)


class ProjectDetailOut(ProjectOut):
    entries: list[EntryListItemOut] = Field(description="the project's entries you may see")

    @staticmethod
    def resolve_entries(obj: Project) -> list[CatalogEntry]:
        return list(getattr(obj, "visible_entries", []))


class ProjectIn(InSchema):
    name: str = Field(max_length=200)
    code: str = Field(max_length=40)
    department: str | None = Field(None, max_length=20, description="department code; default: yours")
    description: str = Field("", max_length=4000)


class StageIn(InSchema):
    stage: choice_of(Project.Stage.values) = Field(  # type: ignore[valid-type]
        description="application → construction → acceptance")


class AttachIn(InSchema):
    project: str | None = Field(max_length=40, description="project code; null takes the entry out")


# ------------------------------------------------------------------ feedback (CAT-10)

class FeedbackOut(Schema):
    id: int
    entry_id: int
    code: str
    version_number: int
    kind: str
    field_name: str
    description: str
    status: str
    raised_by: str
    department: DepartmentRef
    raised_at: dt.datetime
    answer: str
    answered_at: dt.datetime | None
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_code(obj: Feedback) -> str:
        return obj.entry.code

    @staticmethod
    def resolve_raised_by(obj: Feedback) -> str:
        return obj.raised_by.real_name

    @staticmethod
    def resolve_department(obj: Feedback) -> dict[str, Any] | None:
        return dept_ref(obj.department)


class FeedbackIn(InSchema):
    kind: choice_of(Feedback.Kind.values) = Field(description="doubt or error")  # type: ignore[valid-type]
    description: str = Field(max_length=4000)
    field_name: str = Field("", max_length=100, description="the field or information item concerned")


class AnswerIn(InSchema):
    answer: str = Field("", max_length=4000)


class FeedbackQuery(PageQuery):
    status: list[Annotated[str, Field(max_length=10)]] = Field([], max_length=3)
    role: Literal["provider", "raiser"] | None = Field(
        None, description="provider: feedback on my department's entries; raiser: feedback I raised")


class FeedbackPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[FeedbackOut]


# ------------------------------------------------------------------ snapshots (CAT-7)

class SnapshotOut(Schema):
    id: int
    jurisdiction: str
    jurisdiction_name: str
    number: int
    title: str
    note: str
    created_at: dt.datetime
    entry_count: int
    department_count: int
    sha256: str

    @staticmethod
    def resolve_jurisdiction(obj: CatalogSnapshot) -> str:
        return obj.jurisdiction.code

    @staticmethod
    def resolve_jurisdiction_name(obj: CatalogSnapshot) -> str:
        return obj.jurisdiction.name


class SnapshotDetailOut(SnapshotOut):
    content: dict[str, Any]


class SnapshotIn(InSchema):
    jurisdiction: str = Field(max_length=12, description="administrative division code")
    title: str = Field(max_length=200)
    note: str = Field("", max_length=2000)

