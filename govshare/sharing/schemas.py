"""Request and response shapes of the sharing JSON API (SHR-1 … SHR-8), see :mod:`govshare.sharing.api`.

Input bodies bound every string by its model field's length (a longer value is a 422 naming the
field) and refuse control characters (:class:`govshare.core.api.InSchema`).  Everything else —
purposes of the policy profile, information items of the entry, transitions, the letter — is
checked by the actions, which answer 400/403/404/409 in the house error body
(:class:`govshare.core.api_helpers.Error`): a stable ``code``, ``message_zh`` and ``message_en``, the ``field`` where it
applies, and ``errors`` listing every problem when there are several.  Content fields default to
empty so that one request reports every problem at once.  Dates and times are ISO 8601 strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from govshare.catalog.schemas import DepartmentRef, PageQuery
from govshare.core.api import DbId, InSchema
from govshare.core.api_helpers import Error

Str8 = Annotated[str, Field(max_length=8)]
Str16 = Annotated[str, Field(max_length=16)]
ItemName = Annotated[str, Field(max_length=100)]
MaskRule = Annotated[str, Field(max_length=200)]

def _choices(*values: str) -> dict[str, Any]:
    """The choices of a field the rules check (a 400 naming the field, reported with the form's other
    problems), stated in the document (issue 9); empty: not given, the rules say it is required."""
    return {"enum": ["", *values]}


#: the most information items a request names (an entry has at most a few hundred)
MAX_ITEMS = 500


# the house error body is the API's one ``Error`` schema (govshare.core.api_helpers), declared on every
# operation with the statuses it can answer (issue 9)
ErrorOut = Error

# ------------------------------------------------------------------ shared pieces

class EntryRef(Schema):
    id: int
    code: str
    name: str = Field(description="the entry's name (of the version applied for, on applications)")


class SystemRef(Schema):
    id: int
    code: str
    name: str


class ClockFields(Schema):
    """The working-day clock that runs now (null fields once nobody has to act)."""

    due_date: dt.date | None = Field(description="the last day to act (ends 23:59:59 Beijing time)")
    due_at: dt.datetime | None
    provisional: bool | None = Field(description="the deadline crosses a year without official holiday data")
    remaining_working_days: int | None = Field(description="0 on the due day, negative once overdue")
    overdue: bool


# ------------------------------------------------------------------ consuming systems

class SystemOut(Schema):
    id: int
    code: str
    name: str
    description: str
    department: DepartmentRef
    is_active: bool
    created_at: dt.datetime


class SystemPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[SystemOut]


class SystemQuery(PageQuery):
    department: str | None = Field(None, max_length=20, description="department code")
    active: bool | None = None


class SystemIn(InSchema):
    name: str = Field("", max_length=200)
    code: str = Field("", max_length=40, description="letters, digits, '-', '_', '.'; unique")
    description: str = Field("", max_length=500)
    department: str | None = Field(None, max_length=20,
                                   description="department code (centre administrators); default: yours")


class SystemKeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="the key's first part (gsk_<prefix>_…): which key a log row names")
    system: SystemRef
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    usable: bool


class NewSystemKeyOut(SystemKeyOut):
    secret: str = Field(description="the key itself — shown this once, never again (only its hash is kept)")


class SystemKeyIn(InSchema):
    name: str = Field("", max_length=100)
    days: int = Field(365, ge=1, le=1095, description="days until the key expires")


# ------------------------------------------------------------------ applications (SHR-1, SHR-2)

class ApplicationListItemOut(ClockFields):
    id: int
    number: str | None
    kind: str = Field(description="unconditional or conditional")
    status: str
    status_label: str
    stage: str = Field(description="who acts next: centre, consumer, provider, or empty once decided")
    entry: EntryRef
    provider: DepartmentRef
    consumer: DepartmentRef
    applicant: str
    items: list[str]
    purpose: str
    channel: str
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None


class ApplicationPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[ApplicationListItemOut]


class ApplicationQuery(PageQuery):
    box: Literal["mine", "to_answer", "review", "overdue"] | None = Field(
        None, description="mine: my department's applications; to_answer: applications to my department "
                          "waiting for its answer, soonest deadline first; review: the centre's first-review "
                          "queue, soonest first; overdue: open applications past their deadline (centre)")
    status: list[Str16] = Field([], max_length=7, description="repeat = OR")


class LetterOut(Schema):
    name: str
    content_type: str
    size: int
    sha256: str
    url: str = Field(description="download (audited)")


class StepOut(Schema):
    step: str
    label: str
    at: dt.datetime
    actor: str | None
    note: str
    stage: str = Field(description="whose clock the step closes or opens: centre, provider")
    due_date: dt.date | None
    working_days_used: int | None = Field(description="working days from the clock's start to this step")
    on_time: bool | None


class GrantRef(Schema):
    id: int
    number: str | None


class ApplicationOut(ApplicationListItemOut):
    purpose_detail: str
    system: SystemRef | None
    period_start: dt.date
    period_end: dt.date | None
    contact_name: str
    contact_phone: str
    letter: LetterOut | None
    profile: str = Field(description="the policy profile whose deadlines apply")
    first_reviewed_at: dt.datetime | None
    first_reviewer: str | None
    first_review_comment: str
    answered_at: dt.datetime | None
    answered_by: str | None
    refusal_basis: str
    refusal_reason: str
    escalated_at: dt.datetime | None
    steps: list[StepOut] = Field(description="the timeline, oldest first")
    grants: list[GrantRef]


class SubscribeIn(InSchema):
    entry_id: DbId
    purpose: str = Field("", max_length=40, description="one of the profile's share purposes, e.g. 行政依据")
    purpose_detail: str = Field("", max_length=2000)
    items: list[ItemName] | None = Field(None, max_length=MAX_ITEMS, description="default: every item")
    channel: str = Field("", max_length=8, description="table, file or api; default: the entry's first")
    system: str | None = Field(None, max_length=40, description="code of one of your department's systems")
    period_end: dt.date | None = None


class ApplicationIn(InSchema):
    """The JSON part (``payload``) of a multipart application; the stamped letter is the ``letter`` part."""

    entry_id: DbId
    items: list[ItemName] = Field([], max_length=MAX_ITEMS, description="a subset of the entry's items")
    purpose: str = Field("", max_length=40, description="one of the profile's share purposes, e.g. 行政依据")
    purpose_detail: str = Field("", max_length=2000)
    system: str = Field("", max_length=40, description="code of one of your department's registered systems")
    period_start: dt.date | None = Field(None, description="default: today")
    period_end: dt.date | None = None
    channel: str = Field("", max_length=8, description="table, file or api (库表/文件/接口)")
    contact_name: str = Field("", max_length=50)
    contact_phone: str = Field("", max_length=30)


class ResubmitIn(InSchema):
    """The JSON part (``payload``) of a resubmission: fields left out keep their values."""

    items: list[ItemName] | None = Field(None, max_length=MAX_ITEMS)
    purpose: str | None = Field(None, max_length=40)
    purpose_detail: str | None = Field(None, max_length=2000)
    system: str | None = Field(None, max_length=40)
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    channel: str | None = Field(None, max_length=8)
    contact_name: str | None = Field(None, max_length=50)
    contact_phone: str | None = Field(None, max_length=30)


class FirstReviewIn(InSchema):
    decision: str = Field("", max_length=8, description="pass, return (for completion) or reject",
                          json_schema_extra=_choices("pass", "return", "reject"))
    comment: str = Field("", max_length=2000, description="required to return or reject")


class AnswerIn(InSchema):
    decision: str = Field("", max_length=8, description="approve or refuse",
                          json_schema_extra=_choices("approve", "refuse"))
    items: list[ItemName] | None = Field(None, max_length=MAX_ITEMS,
                                         description="approve: narrow the requested items (default: all)")
    masking: dict[ItemName, MaskRule] | None = Field(None, description="approve: item → masking rule")
    expires_on: dt.date | None = Field(None, description="approve: default the end of the period of use")
    conditions: str = Field("", max_length=2000, description="approve: conditions of use")
    basis: str = Field("", max_length=2000, description="refuse: the legal or policy basis (required)")
    reason: str = Field("", max_length=2000, description="refuse: the reason (required)")


class ReasonIn(InSchema):
    reason: str = Field("", max_length=2000)


# ------------------------------------------------------------------ grants (SHR-4)

class GrantOut(Schema):
    id: int
    number: str | None
    source: str = Field(description="unconditional, application or coordination")
    state: str = Field(description="active, pending, expired or revoked")
    entry: EntryRef
    provider: DepartmentRef
    consumer: DepartmentRef
    system: SystemRef | None
    items: list[str]
    masking: dict[str, str]
    purpose: str
    purpose_detail: str
    channel: str
    conditions: str
    valid_from: dt.date
    expires_on: dt.date | None
    granted_at: dt.datetime
    granted_by: str | None
    revoked_at: dt.datetime | None
    revoke_reason: str
    application_id: int | None
    case_id: int | None


class GrantPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[GrantOut]


class GrantQuery(PageQuery):
    box: Literal["mine", "given", "all"] = Field(
        "all", description="mine: held by my department; given: on my department's entries; all: every grant "
                           "you may see")
    active: bool | None = Field(None, description="true: usable today; false: revoked, expired or not yet valid")
    entry_id: DbId | None = None


# ------------------------------------------------------------------ the access check (SHR-4)

class AccessCheckIn(InSchema):
    entry_id: DbId
    items: list[ItemName] | None = Field(None, max_length=MAX_ITEMS, description="default: every item")
    purpose: str = Field(max_length=40)
    channel: str | None = Field(None, max_length=8, description="table, file or api")
    system_code: str | None = Field(None, max_length=40,
                                    description="check for one of your department's systems instead of yourself")


class ReasonOut(Schema):
    code: str
    message: str = Field(description="中文 / English")
    message_zh: str = Field(description="the reason in Chinese")
    message_en: str = Field(description="the reason in English")


class DecisionOut(Schema):
    allowed: bool
    basis: str = Field(description="grant or own_data when allowed")
    grant: str | None = Field(description="the number of the grant that allows it")
    entry_id: int | None
    items: list[str]
    purpose: str
    masking: dict[str, str] = Field(description="item → masking rule to apply before delivery")
    reasons: list[ReasonOut] = Field(description="why not, when refused")


# ------------------------------------------------------------------ coordination cases (SHR-3)

class CaseOut(ClockFields):
    id: int
    number: str | None
    status: str
    status_label: str
    entry: EntryRef
    application_id: int | None
    provider: DepartmentRef
    consumer: DepartmentRef
    opened_by: str
    opened_at: dt.datetime
    reason: str
    items: list[str]
    purpose: str
    mediator: str | None
    settled_at: dt.datetime | None
    settled_by: str | None
    outcome_reason: str


class CasePageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[CaseOut]


class CaseNoteOut(Schema):
    id: int
    party: str = Field(description="consumer, provider or centre")
    author: str
    text: str
    at: dt.datetime


class CaseDetailOut(CaseOut):
    notes: list[CaseNoteOut]
    grants: list[GrantRef]


class CaseQuery(PageQuery):
    box: Literal["mine", "to_answer", "review", "overdue"] | None = Field(
        None, description="mine: opened by my department; to_answer: open cases on my department's entries; review: "
                          "open cases for the centre, soonest deadline first; overdue: the centre's overdue cases")
    status: list[Str16] = Field([], max_length=5)


class CaseIn(InSchema):
    entry_id: DbId | None = Field(None, description="a 不予共享 entry; or name the refused application")
    application_id: DbId | None = Field(None, description="the refused or rejected application")
    reason: str = Field("", max_length=5000, description="why the data is needed")
    items: list[ItemName] | None = Field(None, max_length=MAX_ITEMS)
    purpose: str = Field("", max_length=40)


class CaseNoteIn(InSchema):
    text: str = Field("", max_length=5000)


class SettleIn(InSchema):
    outcome: str = Field("", max_length=8, description="grant or refuse", json_schema_extra=_choices("grant", "refuse"))
    reason: str = Field("", max_length=2000)
    items: list[ItemName] | None = Field(None, max_length=MAX_ITEMS)
    masking: dict[ItemName, MaskRule] | None = None
    expires_on: dt.date | None = Field(None, description="required for a grant")
    channel: str = Field("", max_length=8)
    conditions: str = Field("", max_length=2000)


# ------------------------------------------------------------------ data requests (SHR-5, SHR-6)

class JurisdictionRef(Schema):
    code: str
    name: str


class EntryLinkOut(Schema):
    id: int
    code: str
    status: str


class DataRequestOut(Schema):
    id: int
    number: str | None
    scope: str = Field(description="local (not in the catalog) or upper (upper-level platform)")
    status: str
    status_label: str
    title: str
    description: str
    wanted_items: str
    purpose: str
    requester: DepartmentRef
    requested_by: str
    requested_at: dt.datetime
    suggested_owner: DepartmentRef | None
    owner: DepartmentRef | None
    assigned_at: dt.datetime | None
    entry: EntryLinkOut | None = Field(description="the catalog entry registered for the request")
    answer: str
    answered_at: dt.datetime | None
    upper_jurisdiction: JurisdictionRef | None
    upper_resource: str
    forwarded_at: dt.datetime | None
    upper_reference: str
    handoff: dict[str, Any] = Field(description="the message handed to the upper-level platform")


class DataRequestPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[DataRequestOut]


class DataRequestQuery(PageQuery):
    box: Literal["mine", "to_answer", "review"] | None = Field(
        None, description="mine: asked by my department; to_answer: assigned to my department; review: open "
                          "requests for the centre")
    scope: Literal["local", "upper"] | None = None
    status: list[Str16] = Field([], max_length=8)


class DataRequestIn(InSchema):
    scope: Literal["local", "upper"] = Field("local", description="local or upper")
    title: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    purpose: str = Field("", max_length=40)
    wanted_items: str = Field("", max_length=5000)
    suggested_owner: str | None = Field(None, max_length=20, description="department code (local)")
    upper_jurisdiction: str | None = Field(None, max_length=12, description="division code (upper)")
    upper_resource: str = Field("", max_length=200, description="code or name at the upper level (upper)")


class AssignIn(InSchema):
    owner: str = Field(max_length=20, description="department code of the presumed owner")
    note: str = Field("", max_length=2000)


class RegisterIn(InSchema):
    entry_id: DbId


class NoteIn(InSchema):
    note: str = Field("", max_length=2000)


class UpperAnswerIn(InSchema):
    fulfilled: bool
    answer: str = Field("", max_length=2000)
    reference: str = Field("", max_length=100)


# ------------------------------------------------------------------ demand and the high-frequency library (SHR-7)

class MarkOut(Schema):
    marked_at: dt.datetime
    note: str
    demand: int = Field(description="departments asking when it was marked")


class DemandOut(Schema):
    entry: EntryRef
    provider: DepartmentRef
    demand: int = Field(description="distinct consumer departments that applied or hold a grant")
    high_frequency: MarkOut | None


class DemandPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[DemandOut]


class DemandQuery(PageQuery):
    min_departments: int = Field(2, ge=1, le=10_000)


class HighFrequencyOut(Schema):
    entry: EntryRef
    provider: DepartmentRef
    marked_at: dt.datetime
    marked_by: str
    note: str
    demand_when_marked: int
    demand: int = Field(description="departments asking now")


class HighFrequencyPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[HighFrequencyOut]


class MarkIn(InSchema):
    entry_id: DbId
    note: str = Field("", max_length=2000)


# ------------------------------------------------------------------ error reports (SHR-8)

class ErrorReportOut(ClockFields):
    id: int
    number: str | None
    status: str
    status_label: str
    entry: EntryRef
    provider: DepartmentRef
    reporter_department: DepartmentRef
    reported_by: str
    reported_at: dt.datetime
    grant: str | None = Field(description="the grant under which the data was received")
    record_keys: str
    field: str
    description: str
    acknowledged_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution: str


class ErrorReportPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[ErrorReportOut]


class ErrorReportQuery(PageQuery):
    box: Literal["mine", "to_answer", "overdue"] | None = Field(
        None, description="mine: reported by my department; to_answer: open reports on my department's data, "
                          "soonest first; overdue: the centre's overdue reports")
    status: list[Str16] = Field([], max_length=5)


class ErrorReportIn(InSchema):
    entry_id: DbId
    record_keys: str = Field("", max_length=2000, description="keys of the records concerned")
    field: str = Field("", max_length=100, description="the information item concerned")
    description: str = Field("", max_length=5000)


class ResolveIn(InSchema):
    outcome: str = Field("", max_length=14, description="corrected or not_an_error",
                         json_schema_extra=_choices("corrected", "not_an_error"))
    resolution: str = Field("", max_length=2000)


# ------------------------------------------------------------------ the daily digest

class DigestOut(Schema):
    department: DepartmentRef
    enabled: bool
    last_sent_on: dt.date | None
    updated_at: dt.datetime | None
    updated_by: str | None


class DigestIn(InSchema):
    enabled: bool


class DigestQuery(Schema):
    department: str | None = Field(None, max_length=20, description="department code (centre administrators)")
