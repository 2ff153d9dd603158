"""Request and response shapes of the exchange JSON API (EXC-6), see :mod:`govshare.exchange.api`.

Input strings are bounded by their model fields (422 naming the field) and refuse control characters;
everything else — kinds, TLS modes, timeouts, hosts, SQLite paths — is checked by the actions, which answer
400/403/404/409 in the house error body (every problem of a form at once)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

from govshare.catalog.schemas import DepartmentRef, PageQuery
from govshare.core.api import InSchema
from govshare.core.validators import MAX_DB_ID
from govshare.exchange.engine import tls

KINDS = ["postgresql", "mysql", "sqlite"]
TLS_MODES = list(tls.MODES)


def _choices(*values: str) -> dict[str, Any]:
    return {"enum": ["", *values]}


class LastTestOut(Schema):
    at: dt.datetime | None
    ok: bool | None = Field(description="null: never tested since the connection settings last changed")
    code: str = Field(description="ok, or why not (source_auth, source_unreachable, source_address_refused …)")
    server_version: str
    tables: int | None
    elapsed_ms: int | None


class CertificateOut(Schema):
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str = Field(description="the fingerprint (SHA-256 of the DER form), colon-separated hex")
    is_ca: bool = Field(description="a CA's certificate (basicConstraints CA:TRUE); false: a server's own")
    expired: bool


class SourceOut(Schema):
    id: int
    code: str
    name: str
    description: str
    department: DepartmentRef
    kind: str = Field(description="postgresql, mysql or sqlite")
    host: str
    port: int | None
    database: str = Field(description="the database name; SQLite: the file's path inside GOVSHARE_SOURCE_DIR")
    username: str
    has_password: bool = Field(description="a password is stored (it is never shown)")
    tls: str
    tls_ca: str = Field(description="the CA certificates (PEM) trusted for verify-ca / verify-full instead of the "
                                    "system's; empty: none given")
    tls_ca_certificates: list[CertificateOut]
    connect_timeout: int
    statement_timeout: int
    is_active: bool
    receives_deliveries: bool = Field(description="the department's grants may be delivered into it (库表 channel)")
    last_test: LastTestOut
    created_at: dt.datetime
    updated_at: dt.datetime


class SourcePageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[SourceOut]


class SourceQuery(PageQuery):
    department: str | None = Field(None, max_length=20, description="department code")
    kind: str | None = Field(None, max_length=20, json_schema_extra=_choices(*KINDS))
    active: bool | None = None


class SourceIn(InSchema):
    name: str = Field("", max_length=200)
    code: str = Field("", max_length=40, description="letters, digits, '-', '_', '.'; unique")
    description: str = Field("", max_length=500)
    kind: str = Field("", max_length=20, json_schema_extra=_choices(*KINDS))
    host: str = Field("", max_length=253)
    port: int | None = Field(None, description="1–65535; default 5432 (PostgreSQL), 3306 (MySQL)")
    database: str = Field("", max_length=255)
    username: str = Field("", max_length=120)
    password: str = Field("", max_length=200, description="stored encrypted, never shown again")
    tls: str = Field("prefer", max_length=20, json_schema_extra=_choices(*TLS_MODES))
    tls_ca: str = Field("", max_length=65536, description="PEM: your own CA's certificates, trusted instead of the "
                                                          "system's (required by verify-ca; only with verify-ca or "
                                                          "verify-full)")
    connect_timeout: int = Field(10, description="seconds, 1–120")
    statement_timeout: int = Field(600, description="seconds, 1–86400")
    receives_deliveries: bool = Field(False, description="the department's grants may be delivered into it: govshare "
                                                         "creates and writes its tables with this account")
    department: str | None = Field(None, max_length=20,
                                   description="department code (centre administrators); default: yours")


class SourceChangeIn(InSchema):
    """Only the fields given change.  ``password``: absent keeps the stored one, "" removes it."""

    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=500)
    kind: str | None = Field(None, max_length=20, json_schema_extra=_choices(*KINDS))
    host: str | None = Field(None, max_length=253)
    port: int | None = Field(None, description="1–65535")
    database: str | None = Field(None, max_length=255)
    username: str | None = Field(None, max_length=120)
    password: str | None = Field(None, max_length=200)
    tls: str | None = Field(None, max_length=20, json_schema_extra=_choices(*TLS_MODES))
    tls_ca: str | None = Field(None, max_length=65536, description="PEM; \"\" removes them")
    connect_timeout: int | None = Field(None, description="seconds, 1–120")
    statement_timeout: int | None = Field(None, description="seconds, 1–86400")
    receives_deliveries: bool | None = None


class TestOut(Schema):
    ok: bool
    code: str = Field(description="ok, or the reason's code")
    message: str = Field(description="what happened, in the reader's language")
    message_zh: str
    message_en: str
    server_version: str
    tables: int | None
    elapsed_ms: int
    source: SourceOut


class TableOut(Schema):
    schema_name: str = Field(alias="schema")
    name: str
    kind: str = Field(description="table or view")
    estimated_rows: int | None


class ColumnOut(Schema):
    name: str
    data_type: str = Field(description="the source's own type name")
    nullable: bool
    length: int | None
    precision: int | None
    scale: int | None
    ordinal: int
    comment: str = Field(description="the source's comment on the column (PostgreSQL, MySQL; empty: none)")


class TableShapeOut(Schema):
    schema_name: str = Field(alias="schema")
    name: str
    kind: str
    columns: list[ColumnOut]
    primary_key: list[str]


# ------------------------------------------------------------------ table bindings (issue 10 item 2)

class EntryRef(Schema):
    id: int
    code: str
    name: str


class SourceRef(Schema):
    id: int
    code: str
    name: str


class MappingRow(Schema):
    item: str
    column: str


class WarningOut(Schema):
    code: str
    field: str | None
    message_zh: str
    message_en: str


class RuleRow(Schema):
    item: str = Field(..., max_length=200, description="the information item's name")
    rule: dict[str, Any] = Field(..., description='{"kind": "id_number" | "uscc" | "phone" | "enum" (values) | '
                                                  '"range" (min, max) | "regex" (pattern)}')


class BindingOut(Schema):
    id: int
    entry: EntryRef
    version: int = Field(description="the entry version the mapping was made against")
    source: SourceRef
    schema_name: str = Field(alias="schema")
    table: str
    mapping: list[MappingRow]
    key_columns: list[str]
    key_chosen: bool = Field(description="the provider chose the key (the table declares none, or another)")
    warnings: list[WarningOut]
    is_active: bool
    schedule: str = Field(description="cycle: copied by itself at the entry's update cycle; manual: only by hand")
    mode: str = Field(description="full: a full copy each time; watermark: the rows changed since the last copy, by "
                                  "update_column; log: every change from a PostgreSQL source's log")
    update_column: str = Field(description="watermark mode: the source column with each row's last update time")
    overlap_seconds: int = Field(description="watermark mode: how far back before the last copy's end each copy "
                                             "reads again (late commits, clocks that differ)")
    sweep_hours: int = Field(description="watermark mode: how often a copy also reads every key to find rows "
                                         "deleted at the source (0: every copy)")
    delete_guard_percent: int = Field(description="mass-delete guard: a copy that would delete more than this share "
                                                  "of the table waits for a person to confirm")
    slot_name: str = Field(description="log mode: the replication slot on the source")
    plugin: str = Field(description="log mode: test_decoding or wal2json")
    slot_state: dict[str, Any] | None = Field(description="log mode: the slot as last seen (held_bytes, lag_bytes, "
                                                          "lag_seconds, wal_status, alarm, at)")
    rules: list[RuleRow] = Field(description="the provider's value rules per item (EXC-7)")
    reject_limit_percent: int = Field(description="a batch with more quarantined rows than this share fails the "
                                                  "copy")
    last_success_at: dt.datetime | None = Field(description="end of the last successful copy into the centre")
    stale: bool = Field(description="never copied, or the last successful copy is older than the update cycle")
    rebuild_pending: bool = Field(description="the centre's table is made again when the next (full) copy starts")
    generation: int = Field(description="how many times the centre's table was made (1: never rebuilt)")
    rebuilt_at: dt.datetime | None = Field(description="when the centre's table was last made again")
    created_at: dt.datetime
    updated_at: dt.datetime


class RebuildIn(InSchema):
    confirm: bool = Field(False, description="true: you know the centre's table is emptied until the full copy "
                                             "that follows has filled it again, and delivered tables are made again")


class ScheduleIn(InSchema):
    schedule: str = Field("", max_length=10, json_schema_extra=_choices("cycle", "manual"))


class RulesIn(InSchema):
    rules: list[RuleRow] = Field(..., max_length=200, description="replaces the binding's value rules")
    reject_limit_percent: int | None = Field(None, ge=0, le=MAX_DB_ID, description="absent: unchanged")


class ModeIn(InSchema):
    mode: str = Field(..., max_length=12, json_schema_extra=_choices("full", "watermark", "log"))
    plugin: str = Field("", max_length=20, json_schema_extra=_choices("", "test_decoding", "wal2json"),
                        description="log mode: the output plugin (absent: test_decoding, or unchanged)")
    update_column: str = Field("", max_length=128, description="watermark mode: the update-time column")
    overlap_seconds: int | None = Field(None, ge=0, le=MAX_DB_ID, description="absent: unchanged")
    sweep_hours: int | None = Field(None, ge=0, le=MAX_DB_ID, description="absent: unchanged")
    delete_guard_percent: int | None = Field(None, ge=0, le=MAX_DB_ID, description="absent: unchanged")


class StartIn(InSchema):
    kind: str = Field("auto", max_length=12, json_schema_extra=_choices("auto", "full", "incremental"),
                      description="auto: what the binding's mode says (a first copy is always full)")


class ConfirmIn(InSchema):
    pending: int | None = Field(None, ge=0, le=MAX_DB_ID, description="the number of deletions you saw and "
                                                                       "confirm (absent: the run's count)")


class BindingPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[BindingOut]


class BindingQuery(PageQuery):
    department: str | None = Field(None, max_length=20, description="the provider's department code")
    source_id: int | None = Field(None, ge=1, le=MAX_DB_ID)
    active: bool | None = None


class ProposeIn(InSchema):
    entry_id: int = Field(..., ge=1, le=MAX_DB_ID)
    source_id: int = Field(..., ge=1, le=MAX_DB_ID)
    schema_name: str = Field("", alias="schema", max_length=128, description="SQLite: main")
    table: str = Field("", max_length=128)


class ProposalOut(Schema):
    table: TableShapeOut
    mapping: dict[str, str | None] = Field(description="item → proposed column (null: none found)")
    key_columns: list[str]
    key_declared: bool = Field(description="the key is the table's declared primary key")


class BindIn(ProposeIn):
    mapping: dict[str, str] = Field(..., description="item → column, for every item of the entry")
    key_columns: list[str] | None = Field(None, description="absent: the key the table declares")


class CheckOut(Schema):
    ok: bool
    problems: list[WarningOut]
    warnings: list[WarningOut]


# ------------------------------------------------------------------ runs (copies into the centre)

class RunError(Schema):
    code: str
    message_zh: str
    message_en: str


class RunJob(Schema):
    id: str
    status: str
    progress_done: int
    message: str


class ReceiptOut(Schema):
    batch: int
    phase: str = Field(description="rows (rows read and applied), keys (keys read to find deletions), deletes")
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    deleted: int
    read_hash: str
    written_hash: str
    at: str


class QuarantineOut(Schema):
    key: str
    item: str
    reason: str = Field(description="why, in the reader's language")
    code: str = Field(description="the reason's code (too_long, no_such_date, duplicate_key …)")
    detail: str = Field(description="the engine's detail (the value as read, shortened)")


class RunOut(Schema):
    id: int
    binding_id: int
    entry: EntryRef
    kind: str
    status: str = Field(description="queued, running, held (deletions wait for confirmation), succeeded, failed, "
                                    "stopped")
    target: str = Field(description="the entry's table in the data resource centre")
    batches: int
    rows_read: int
    inserted: int
    updated: int
    unchanged: int = Field(description="rows read that were already in the centre as they are (not rewritten)")
    rejected: int = Field(description="rows quarantined with a reason, not applied")
    checks_deletes: bool = Field(description="the copy reads every key of the source to find deleted rows")
    keys_read: int = Field(description="keys read by the check for deleted rows (incremental copies)")
    deleted: int = Field(description="rows tombstoned because the source no longer has them")
    pending_deletes: int | None = Field(description="held: the rows the copy would delete (the mass-delete guard)")
    live_rows: int | None = Field(description="held: the live rows of the entry's table in the centre")
    confirmed_deletes: int | None = Field(description="the deletions a person confirmed")
    since: dict[str, Any] | None = Field(description="incremental: the update time the copy read from")
    watermark: dict[str, Any] | None = Field(description="the update time the next incremental copy reads from")
    rows_per_second: float | None
    rows_expected: int | None = Field(description="full copies: about how many rows the source table has (its own "
                                                  "estimate)")
    eta_seconds: int | None = Field(description="while running: the time left at the current rate")
    content_hash: str = Field(description="order-independent hash of the entry's table in the centre afterwards")
    error: RunError | None
    job: RunJob | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RunDetailOut(RunOut):
    receipts: list[ReceiptOut] = Field(description="one per batch, from the centre's database")
    quarantine: list[QuarantineOut] = Field(description="the first 200 quarantined values of this run (the "
                                                        "provider's staff only: they are its data as it came)")


class RunPageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[RunOut]


class RunQuery(PageQuery):
    binding_id: int | None = Field(None, ge=1, le=MAX_DB_ID)
    status: str | None = Field(None, max_length=12,
                               json_schema_extra=_choices("queued", "running", "held", "succeeded", "failed",
                                                          "stopped"))


class ReconciliationOut(Schema):
    id: int
    binding_id: int
    status: str = Field(description="queued, running, succeeded, failed (a background job: it reads both tables)")
    equal: bool | None = Field(description="same row count and content hash (null until done)")
    source_rows: int | None = Field(description="rows of the source table the centre can store")
    source_hash: str
    source_unstorable: int | None = Field(description="source rows with a value the centre cannot store "
                                                      "(quarantined)")
    centre_rows: int | None
    centre_hash: str
    missing_in_centre: list[str] = Field(description="keys the source has and the centre has not (at most 100)")
    extra_in_centre: list[str] = Field(description="keys the centre has and the source has not (at most 100)")
    different: list[str] = Field(description="keys whose values differ (at most 100)")
    buckets_differing: int | None
    seconds: float | None
    error: RunError | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class QualityOut(Schema):
    entry: EntryRef
    score: int | None = Field(description="mean of the measured shares × 100 (EXC-7)")
    completeness: float | None = Field(description="share of the values present in the centre's copy")
    validity: float | None = Field(description="share of the rows the last copy read that were not quarantined")
    timeliness: float | None = Field(description="1 while fresh; the update cycle ÷ the copy's age once stale")
    consistency: float | None = Field(description="share of keys shared with other sources whose values agree")
    items: dict[str, float | None] = Field(description="completeness per item")
    live_rows: int | None
    last_success_at: dt.datetime | None
    stale: bool


class BaseLibraryRow(Schema):
    entry: EntryRef
    classification: str
    provider: str
    share_type: str
    binding_id: int | None
    score: int | None
    last_success_at: dt.datetime | None
    problems: list[str] = Field(description="not_unconditional, not_a_table, not_bound, paused, stale")


class CrossCheckIn(InSchema):
    name: str = Field(..., max_length=200)
    left_entry_id: int = Field(..., ge=1, le=MAX_DB_ID)
    left_key: str = Field(..., max_length=200)
    left_item: str = Field(..., max_length=200)
    right_entry_id: int = Field(..., ge=1, le=MAX_DB_ID)
    right_key: str = Field(..., max_length=200)
    right_item: str = Field(..., max_length=200)


class CrossCheckOut(Schema):
    id: int
    name: str
    left: dict[str, Any] = Field(description="entry (id, code), key item, compared item")
    right: dict[str, Any]
    is_active: bool
    checked_at: dt.datetime | None
    compared: int | None = Field(description="keys both entries have")
    differing: int | None = Field(description="of those, with different values")
    left_only: int | None
    right_only: int | None
    consistency: float | None
    sample: list[dict[str, Any]] = Field(description="the first differing keys with both values (the two providers, "
                                                     "the centre and auditors only)")
    error: dict[str, str] | None


# -- deliveries into consumers' front-end tables (issue 11 item 1) --------------------------------------------------

class DeliveryIn(InSchema):
    grant: int = Field(ge=1, le=2**31 - 1, description="the grant (your department's, over the table channel)")
    system: int = Field(ge=1, le=2**31 - 1, description="the consuming system that owns the front-end database")
    target: int = Field(ge=1, le=2**31 - 1, description="your department's front-end database that receives deliveries")
    table: str = Field(max_length=200, description="the table govshare creates (it must not exist yet)")
    schema_: str = Field("", alias="schema", max_length=200, description="PostgreSQL only: the schema")
    columns: dict[str, str] = Field(default_factory=dict, max_length=500,
                                    description="{item: column}; an item not named keeps its own name")


class DeliveryRunIn(InSchema):
    kind: str = Field("deliver", max_length=10, description="deliver, or check (delivers what is pending, then "
                                                            "compares the table with the centre)")


class DeliveryRunOut(Schema):
    id: int
    kind: str
    status: str
    batches: int
    written: int
    deleted: int
    rows: int | None
    seq_from: int | None
    seq_to: int | None
    content_hash: str
    created_table: bool
    rebuilt: bool
    error_code: str
    error_message: dict[str, str] | None
    job: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class DeliveryOut(Schema):
    id: int
    grant: int
    grant_number: str
    entry: str
    consumer: DepartmentRef
    system: str
    target: int
    target_code: str
    schema_: str = Field(alias="schema")
    table: str
    columns: dict[str, str]
    is_active: bool
    grant_in_force: bool
    last_seq: int
    rows: int | None
    content_hash: str
    delivered_at: dt.datetime | None
    stopped: dict[str, str] | None = Field(description="why the last run could not deliver: code, zh, en")
    checked_at: dt.datetime | None
    last_check: dict[str, Any] | None = Field(description="the last receipt check: counts and hashes of the centre's "
                                                          "rows (masked) and of the table, rows missing, extra, "
                                                          "different")
    runs: list[DeliveryRunOut]
    created_at: dt.datetime


# -- spreadsheet uploads (EXC-3, issue 11 item 8) --------------------------------------------------------------------

class UploadProblemOut(Schema):
    sheet: str
    row: int | None
    column: str | None
    item: str | None
    code: str
    detail: str
    message: str = Field(description="where and why, in the reader's language")


class UploadOut(Schema):
    id: int
    entry: str
    file_name: str
    size: int
    sha256: str
    mode: str = Field(description="upsert, append or replace")
    status: str = Field(description="received, checking, refused, loading, loaded, failed")
    rows: int | None
    problem_count: int
    problems: list[UploadProblemOut] = Field(description="the first 200 problems (the list of uploads: none — GET the "
                                                         "upload)")
    problems_kept: int | None = Field(None, description="the problems kept (up to 10 000): all of them in the problems "
                                                        "file (the list of uploads: null)")
    problems_file: str | None = Field(None, description="every kept problem as CSV (the web page's export; "
                                                        "?format=xlsx for a workbook), in the reader's language")
    batches: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    rebuilt: bool = Field(description="the centre's table was made again for the upload's entry version before the "
                                      "load (a replace upload of a version the table could not take as it was)")
    pending_deletes: int | None = Field(description="held (status held): the rows the replace would delete; nothing "
                                                    "is stored until a person confirms the number or discards it")
    confirmed_deletes: int | None = Field(description="the number of deletions a person confirmed")
    content_hash: str
    error_code: str
    error_message: dict[str, str] | None
    job: str | None
    uploaded_by: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class UploadRulesIn(InSchema):
    rules: list[RuleRow] | None = Field(None, max_length=500, description="the whole list (absent: kept)")
    delete_guard_percent: int | None = Field(None, ge=1, le=100, description="a replace upload that would delete more "
                                             "than this share of the table waits for a person (absent: kept)")


class UploadRulesOut(Schema):
    rules: list[RuleRow]
    delete_guard_percent: int = Field(description="a replace upload that would delete more than this share of the "
                                                  "table waits for a person")


# -- shared files (EXC-2, issue 11 item 7) ---------------------------------------------------------------------------

class FileVersionOut(Schema):
    number: int
    original_name: str
    kind: str
    media_type: str
    size: int
    sha256: str
    note: str
    uploaded_at: dt.datetime
    content: str = Field(description="where to download it (add ?purpose=… as a consumer)")


class EntryFileOut(Schema):
    id: int
    name: str
    description: str
    versions: list[FileVersionOut] = Field(description="every version, newest first")


class FileUploadIn(InSchema):
    name: str = Field("", max_length=200, description="the shared file's name (default: the file name)")
    file_name: str = Field(max_length=255, description="the name of the file on the uploader's machine")
    size: int = Field(ge=1, le=2**53, description="bytes")
    sha256: str = Field("", max_length=64, description="the whole file's SHA-256, checked when all has arrived")
    note: str = Field("", max_length=500)
    file: int | None = Field(None, ge=1, le=MAX_DB_ID, description="a new version of this shared file")


class FileUploadOut(Schema):
    id: str = Field(description="the upload's token: PATCH /exchange/file-uploads/{id} with Upload-Offset")
    offset: int = Field(description="bytes the server holds: send the next piece from here")
    size: int
    status: str = Field(description="open, done, refused, expired")
    version: int | None = Field(description="the version made when the upload completed")
    error: dict[str, str] | None
