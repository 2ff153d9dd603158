"""Stable numbered audit event codes (SEC-4).

Codes are grouped by domain in blocks of 1000: core 1xxx, catalog 2xxx, sharing 3xxx, exchange 4xxx,
datastore 5xxx, gateway 6xxx, opendata 7xxx, oversight 8xxx, federation 9xxx.  A code, once used,
never changes meaning; retired codes stay listed.  docs/audit-codes.md is generated from this file.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class AuditCode(IntEnum):
    # --- core: authentication 10xx
    LOGIN_SUCCEEDED = 1001
    LOGIN_FAILED = 1002
    LOGOUT = 1003
    ACCOUNT_LOCKED = 1004
    PASSWORD_CHANGED = 1005
    PERMISSION_DENIED = 1010
    TOKEN_CREATED = 1020
    TOKEN_REVOKED = 1021
    TOKEN_USED = 1022  # retired (issue 9): each request with a token leaves an access-log row instead
    TOKEN_REJECTED = 1023
    LOGIN_THROTTLED = 1030  # an attempt refused before its password was checked (delay or account lock)
    LOGIN_DELAY_STARTED = 1031  # a failure made the next attempts from an address wait
    # --- core: organisations 11xx
    JURISDICTION_CREATED = 1100
    JURISDICTION_UPDATED = 1101
    DEPARTMENT_CREATED = 1110
    DEPARTMENT_UPDATED = 1111
    # --- core: users and roles 12xx
    USER_CREATED = 1200
    USER_UPDATED = 1201
    USER_DEACTIVATED = 1202
    USER_UNLOCKED = 1203
    ROLE_GRANTED = 1210
    ROLE_REVOKED = 1211
    SPECIALIST_APPOINTED = 1220
    SPECIALIST_ENDED = 1221
    # --- core: calendar 13xx
    CALENDAR_DAY_SET = 1300
    CALENDAR_DAY_CLEARED = 1301
    HOLIDAYS_IMPORTED = 1302
    DEADLINES_RECOMPUTED = 1303
    # --- core: audit 14xx (the log auditing itself)
    AUDIT_VIEWED = 1400
    AUDIT_EXPORTED = 1401
    AUDIT_VERIFIED = 1402
    AUDIT_PURGED = 1403
    # --- core: jobs 15xx
    JOB_CREATED = 1500
    JOB_FINISHED = 1501
    JOB_CANCELLED = 1502
    JOB_REQUEUED = 1503
    # --- core: reads, queries, downloads and access checks 16xx (the access log, LN-§23)
    READ_SEARCH = 1600
    READ_ENTRY = 1601
    READ_APPLICATION = 1602
    READ_USER = 1603
    READ_INBOX = 1604
    READ_DOWNLOAD = 1605
    READ_EXPORT = 1606
    READ_ACCESS_CHECK = 1607
    API_REQUEST = 1608
    READ_REFUSED = 1609
    READ_PAGE = 1610
    WORKER_LOST = 1510  # a worker stopped sending heartbeats: its task rows failed, its jobs requeued
    # --- core: backup, restore and the emergency drill 17xx (SEC-5, LN-§23)
    BACKUP_CREATED = 1700
    BACKUP_RESTORED = 1701
    RESTORE_DRILL_RUN = 1702
    KEYS_RESTORED = 1703
    # --- catalog: classification tree 20xx
    CLASSIFICATION_CREATED = 2001
    CLASSIFICATION_UPDATED = 2002
    # --- catalog: entries and versions 21xx
    ENTRY_CREATED = 2100
    ENTRY_DRAFT_UPDATED = 2101
    ENTRY_VERSION_OPENED = 2102
    ENTRY_SUBMITTED = 2103
    ENTRY_RETURNED = 2104
    ENTRY_APPROVED = 2105
    ENTRY_PUBLISHED = 2106
    ENTRY_WITHDRAWAL_REQUESTED = 2107
    ENTRY_WITHDRAWN = 2108
    ENTRY_DRAFT_DISCARDED = 2109
    CHANGE_NOTICE_SENT = 2110
    ENTRY_SUBSCRIBED = 2111
    ENTRY_UNSUBSCRIBED = 2112
    # --- catalog: import and export 22xx
    CATALOG_IMPORTED = 2200
    CATALOG_EXPORTED = 2201
    CATALOG_IMPORT_REJECTED = 2202
    # --- catalog: update tasks 23xx
    UPDATE_TASK_OPENED = 2300
    UPDATE_TASK_COMPLETED = 2301
    UPDATE_TASK_CANCELLED = 2302
    UPDATE_TASK_ESCALATED = 2303
    # --- catalog: jurisdiction snapshots 24xx
    SNAPSHOT_PUBLISHED = 2400
    # --- catalog: IT projects 25xx
    PROJECT_CREATED = 2500
    PROJECT_UPDATED = 2501
    PROJECT_STAGE_CHANGED = 2502
    # --- catalog: feedback 26xx
    FEEDBACK_RAISED = 2600
    FEEDBACK_ANSWERED = 2601
    FEEDBACK_CLOSED = 2602
    # --- catalog: search 27xx
    SYNONYMS_CHANGED = 2700
    SEARCH_REINDEX_STARTED = 2701
    SEARCH_WORDS_CHANGED = 2702
    # --- sharing: consuming systems 30xx
    SYSTEM_REGISTERED = 3001
    SYSTEM_UPDATED = 3002
    SYSTEM_KEY_ISSUED = 3003  # a consuming system's key for the data API (the secret is shown once, never kept)
    SYSTEM_KEY_REVOKED = 3004
    SYSTEM_KEY_REJECTED = 3005  # a request with a system key that is unknown, revoked, expired or of an inactive system
    # --- sharing: applications 31xx
    SHARE_APPLIED = 3100
    SHARE_RESUBMITTED = 3101
    SHARE_FIRST_REVIEW_PASSED = 3102
    SHARE_RETURNED = 3103
    SHARE_REJECTED = 3104
    SHARE_APPROVED = 3105
    SHARE_REFUSED = 3106
    SHARE_WITHDRAWN = 3107
    SHARE_REMINDED = 3108
    SHARE_ESCALATED = 3109
    SHARE_ANSWER_REOPENED = 3110
    SHARE_LETTER_DOWNLOADED = 3111
    # --- sharing: grants 32xx
    GRANT_CREATED = 3200
    GRANT_REVOKED = 3201
    ACCESS_DENIED = 3202
    # --- sharing: coordination 33xx
    CASE_OPENED = 3300
    CASE_NOTE_ADDED = 3301
    CASE_SETTLED = 3302
    CASE_WITHDRAWN = 3303
    CASE_ESCALATED = 3304
    CASE_REMINDED = 3305
    # --- sharing: data requests 34xx
    DATA_REQUEST_SUBMITTED = 3400
    DATA_REQUEST_ASSIGNED = 3401
    DATA_REQUEST_REGISTERED = 3402
    DATA_REQUEST_DECLINED = 3403
    DATA_REQUEST_FORWARDED = 3404
    DATA_REQUEST_UPPER_ANSWERED = 3405
    DATA_REQUEST_CLOSED = 3406
    # --- sharing: high-frequency library 35xx
    HIGH_FREQUENCY_MARKED = 3500
    HIGH_FREQUENCY_UNMARKED = 3501
    # --- sharing: data error reports 36xx
    ERROR_REPORTED = 3600
    ERROR_ACKNOWLEDGED = 3601
    ERROR_RESOLVED = 3602
    ERROR_WITHDRAWN = 3603
    ERROR_ESCALATED = 3604
    ERROR_REMINDED = 3605
    # --- sharing: notifications 37xx
    DIGEST_SETTING_CHANGED = 3700
    # --- exchange: front-end databases (data sources) 40xx
    SOURCE_REGISTERED = 4000
    SOURCE_CHANGED = 4001
    SOURCE_TESTED = 4002  # "test connection": outcome success or failure, the reason's code in detail
    SOURCE_ACTIVATED = 4003
    SOURCE_DEACTIVATED = 4004
    SOURCE_REFUSED = 4005  # an address or path refused before any connection (SSRF guard, outside the folder)
    # --- exchange: table bindings 41xx
    BINDING_CREATED = 4100
    BINDING_CHANGED = 4101
    BINDING_PAUSED = 4102
    BINDING_RESUMED = 4103
    REBUILD_REQUESTED = 4104  # the centre's table of a binding's entry to be made again (a new version it cannot take)
    CENTRE_TABLE_REBUILT = 4105  # the centre's table made again, empty, in the entry's new shape (rows it held)
    # --- exchange: runs (copies into the data resource centre) 42xx
    RUN_STARTED = 4200
    RUN_FINISHED = 4201
    RUN_FAILED = 4202
    RUN_STOPPED = 4203
    RECONCILED = 4204  # source and centre compared (counts, hashes, differing keys)
    DELETES_HELD = 4205  # the mass-delete guard held a run's deletions for a person to confirm
    DELETES_CONFIRMED = 4206  # a person confirmed held deletions (the run goes on and deletes them)
    DELETES_REFUSED = 4207  # a person refused held deletions (the run ends without deleting)
    SLOT_ALARM = 4208  # log mode: a replication slot holds too much of the source's log, lags, or is gone
    # --- exchange: quality (一数一源 cross-source checks) 43xx
    CROSS_CHECK_DECLARED = 4300
    CROSS_CHECKED = 4301  # two entries compared in the centre: outcome failure when values differ
    CROSS_CHECK_CHANGED = 4302
    # --- exchange: delivery into consumers' front-end tables 44xx
    DELIVERY_BOUND = 4400  # a grant bound to a table of the consumer's front-end database
    DELIVERY_PAUSED = 4401
    DELIVERY_RESUMED = 4402
    DELIVERY_STARTED = 4403  # a delivery (or receipt check) queued, by a person or after a copy into the centre
    DELIVERY_FAILED = 4404  # a delivery ended without delivering everything: why (revoked grant, target refused)
    DELIVERY_CHECKED = 4405  # the consumer's table checked against the centre (counts, hashes): failure if they differ
    # --- exchange: spreadsheet uploads (EXC-3) 45xx
    UPLOAD_RECEIVED = 4500  # a filled-in template received (file name, size, SHA-256, mode)
    UPLOAD_REFUSED = 4501  # refused: a hostile or wrong file, or rows with problems (how many; nothing stored)
    UPLOAD_LOADED = 4502  # loaded into the centre (rows inserted, updated, deleted; content hash)
    UPLOAD_FAILED = 4503  # the load failed (the centre refused; what it had stored: batches, rows); may be resumed
    UPLOAD_RULES_CHANGED = 4504  # the value rules uploads are checked with
    UPLOAD_REMINDED = 4505  # the provider reminded that an upload is due by the entry's update cycle
    UPLOAD_HELD = 4506  # a replace upload would delete more than the guard's share: held, nothing stored (how many)
    UPLOAD_DELETES_CONFIRMED = 4507  # a person confirmed a held upload's deletions (the number): it is loaded
    UPLOAD_RESUMED = 4508  # a person resumed a failed load: it goes on from its last committed batch
    # --- exchange: shared files (EXC-2) 46xx
    FILE_VERSION_ADDED = 4600  # a file or a new version of it shared under a file-kind entry (size, SHA-256, kind)
    FILE_REFUSED = 4601  # a file refused by its content (what it is, why), nothing kept
    # --- datastore: delivery to consumers 50xx
    DATA_ROWS_READ = 5000  # rows of an entry read through the data API (who, grant, purpose, filters, row count)
    DATA_VERIFIED = 5001  # claimed values verified against the centre's (items, verdicts, a keyed digest of the key)
    DOWNLOAD_REQUESTED = 5002  # a batch download of a grant's data asked for (format, items, filters)
    DATA_DOWNLOADED = 5003  # a batch download's file fetched (its SHA-256, rows, the grant: the fingerprint)
    DATA_TRACED = 5004  # a file found outside traced to the deliveries it can have come from (govshare datastore trace)
    DATA_DELIVERED = 5005  # rows delivered into a consumer's front-end table (grant, system, table, changes, receipt)
    FILE_FETCHED = 5006  # a version of a shared file downloaded under a grant (its SHA-256, the grant, the purpose)
    # --- datastore: the centre's tables 51xx
    QUERY_INDEXES_SET = 5100  # the items of an entry's centre table indexed for filters and sorts (before → after)
    QUERY_INDEXES_BUILT = 5101  # the indexes built (or dropped); failure: which items and why


DOMAINS = {
    1: "core",
    2: "catalog",
    3: "sharing",
    4: "exchange",
    5: "datastore",
    6: "gateway",
    7: "opendata",
    8: "oversight",
    9: "federation",
}


def domain_of(code: int) -> str:
    return DOMAINS.get(code // 1000, "other")


def domain_label(domain: str) -> Any:
    """A domain's name in the reader's language (lazy); unknown names are shown as they are."""
    from django.utils.translation import gettext_lazy as _

    labels = {
        "core": _("Platform core"), "catalog": _("Resource catalog"), "sharing": _("Sharing"),
        "exchange": _("Data exchange"), "datastore": _("Data store"), "gateway": _("API gateway"),
        "opendata": _("Open data"), "oversight": _("Oversight"), "federation": _("Federation"),
        "other": _("Other"),
    }
    return labels.get(domain, domain)


def _labels() -> dict[int, Any]:
    from django.utils.translation import gettext_lazy as _

    return {
        AuditCode.LOGIN_SUCCEEDED: _("Logged in"),
        AuditCode.LOGIN_FAILED: _("Login failed"),
        AuditCode.LOGOUT: _("Logged out"),
        AuditCode.ACCOUNT_LOCKED: _("Account locked"),
        AuditCode.PASSWORD_CHANGED: _("Password changed"),
        AuditCode.PERMISSION_DENIED: _("Permission denied"),
        AuditCode.TOKEN_CREATED: _("API token created"),
        AuditCode.TOKEN_REVOKED: _("API token revoked"),
        AuditCode.TOKEN_USED: _("API token used"),
        AuditCode.TOKEN_REJECTED: _("API token rejected"),
        AuditCode.LOGIN_THROTTLED: _("Login attempt refused (too many failures)"),
        AuditCode.LOGIN_DELAY_STARTED: _("Login attempts delayed after repeated failures"),
        AuditCode.JURISDICTION_CREATED: _("Jurisdiction created"),
        AuditCode.JURISDICTION_UPDATED: _("Jurisdiction changed"),
        AuditCode.DEPARTMENT_CREATED: _("Department created"),
        AuditCode.DEPARTMENT_UPDATED: _("Department changed"),
        AuditCode.USER_CREATED: _("User created"),
        AuditCode.USER_UPDATED: _("User changed"),
        AuditCode.USER_DEACTIVATED: _("User deactivated"),
        AuditCode.USER_UNLOCKED: _("User unlocked"),
        AuditCode.ROLE_GRANTED: _("Role granted"),
        AuditCode.ROLE_REVOKED: _("Role revoked"),
        AuditCode.SPECIALIST_APPOINTED: _("Data specialist appointed"),
        AuditCode.SPECIALIST_ENDED: _("Data specialist appointment ended"),
        AuditCode.CALENDAR_DAY_SET: _("Calendar day set"),
        AuditCode.CALENDAR_DAY_CLEARED: _("Calendar day cleared"),
        AuditCode.HOLIDAYS_IMPORTED: _("Holiday notice imported"),
        AuditCode.DEADLINES_RECOMPUTED: _("Deadlines recomputed"),
        AuditCode.AUDIT_VIEWED: _("Audit log viewed"),
        AuditCode.AUDIT_EXPORTED: _("Audit log exported"),
        AuditCode.AUDIT_VERIFIED: _("Audit chain verified"),
        AuditCode.AUDIT_PURGED: _("Audit log purged (retention)"),
        AuditCode.JOB_CREATED: _("Job created"),
        AuditCode.JOB_FINISHED: _("Job finished"),
        AuditCode.JOB_CANCELLED: _("Job cancelled"),
        AuditCode.JOB_REQUEUED: _("Job requeued after a worker stopped"),
        AuditCode.BACKUP_CREATED: _("Backup written"),
        AuditCode.BACKUP_RESTORED: _("Backup restored onto an empty instance"),
        AuditCode.RESTORE_DRILL_RUN: _("Restore drill run"),
        AuditCode.KEYS_RESTORED: _("Keys restored from a backup"),
        AuditCode.READ_SEARCH: _("Catalog searched"),
        AuditCode.READ_ENTRY: _("Catalog entry read"),
        AuditCode.READ_APPLICATION: _("Share application read"),
        AuditCode.READ_USER: _("User's personal data read"),
        AuditCode.READ_INBOX: _("Inbox read"),
        AuditCode.READ_DOWNLOAD: _("File downloaded"),
        AuditCode.READ_EXPORT: _("Data exported"),
        AuditCode.READ_ACCESS_CHECK: _("Data access checked"),
        AuditCode.API_REQUEST: _("Request made with an API token"),
        AuditCode.READ_REFUSED: _("Read refused (not found or not allowed)"),
        AuditCode.READ_PAGE: _("Page or list read"),
        AuditCode.WORKER_LOST: _("Background worker lost"),
        AuditCode.CLASSIFICATION_CREATED: _("Classification created"),
        AuditCode.CLASSIFICATION_UPDATED: _("Classification changed"),
        AuditCode.ENTRY_CREATED: _("Catalog entry created"),
        AuditCode.ENTRY_DRAFT_UPDATED: _("Catalog draft edited"),
        AuditCode.ENTRY_VERSION_OPENED: _("New version of a catalog entry opened"),
        AuditCode.ENTRY_SUBMITTED: _("Catalog entry submitted for review"),
        AuditCode.ENTRY_RETURNED: _("Catalog entry returned with comments"),
        AuditCode.ENTRY_APPROVED: _("Catalog entry approved"),
        AuditCode.ENTRY_PUBLISHED: _("Catalog entry published"),
        AuditCode.ENTRY_WITHDRAWAL_REQUESTED: _("Withdrawal of a catalog entry requested"),
        AuditCode.ENTRY_WITHDRAWN: _("Catalog entry withdrawn"),
        AuditCode.ENTRY_DRAFT_DISCARDED: _("Catalog draft discarded"),
        AuditCode.CHANGE_NOTICE_SENT: _("Change notice sent to subscribers"),
        AuditCode.ENTRY_SUBSCRIBED: _("Subscribed to a catalog entry"),
        AuditCode.ENTRY_UNSUBSCRIBED: _("Unsubscribed from a catalog entry"),
        AuditCode.CATALOG_IMPORTED: _("Catalog imported"),
        AuditCode.CATALOG_EXPORTED: _("Catalog exported"),
        AuditCode.CATALOG_IMPORT_REJECTED: _("Catalog import rejected"),
        AuditCode.UPDATE_TASK_OPENED: _("Catalog-update task opened"),
        AuditCode.UPDATE_TASK_COMPLETED: _("Catalog-update task completed"),
        AuditCode.UPDATE_TASK_CANCELLED: _("Catalog-update task cancelled"),
        AuditCode.UPDATE_TASK_ESCALATED: _("Overdue catalog-update task escalated"),
        AuditCode.SNAPSHOT_PUBLISHED: _("Jurisdiction catalog snapshot published"),
        AuditCode.PROJECT_CREATED: _("IT project registered"),
        AuditCode.PROJECT_UPDATED: _("IT project changed"),
        AuditCode.PROJECT_STAGE_CHANGED: _("IT project moved to another stage"),
        AuditCode.FEEDBACK_RAISED: _("Catalog feedback raised"),
        AuditCode.FEEDBACK_ANSWERED: _("Catalog feedback answered"),
        AuditCode.FEEDBACK_CLOSED: _("Catalog feedback closed"),
        AuditCode.SYNONYMS_CHANGED: _("Search synonyms changed"),
        AuditCode.SEARCH_REINDEX_STARTED: _("Search index rebuild started"),
        AuditCode.SEARCH_WORDS_CHANGED: _("Search word list changed"),
        AuditCode.SYSTEM_REGISTERED: _("Consuming information system registered"),
        AuditCode.SYSTEM_UPDATED: _("Consuming information system changed"),
        AuditCode.SHARE_APPLIED: _("Share application submitted"),
        AuditCode.SHARE_RESUBMITTED: _("Share application resubmitted after completion"),
        AuditCode.SHARE_FIRST_REVIEW_PASSED: _("Share application passed the centre's first review"),
        AuditCode.SHARE_RETURNED: _("Share application returned for completion"),
        AuditCode.SHARE_REJECTED: _("Share application rejected at first review"),
        AuditCode.SHARE_APPROVED: _("Share application approved by the provider"),
        AuditCode.SHARE_REFUSED: _("Share application refused by the provider"),
        AuditCode.SHARE_WITHDRAWN: _("Share application withdrawn"),
        AuditCode.SHARE_REMINDED: _("Share deadline reminder sent"),
        AuditCode.SHARE_ESCALATED: _("Overdue share answer escalated to the centre"),
        AuditCode.SHARE_ANSWER_REOPENED: _("Provider answer period reopened by the centre"),
        AuditCode.SHARE_LETTER_DOWNLOADED: _("Stamped application letter downloaded"),
        AuditCode.GRANT_CREATED: _("Grant created"),
        AuditCode.GRANT_REVOKED: _("Grant revoked"),
        AuditCode.ACCESS_DENIED: _("Data access refused by the grant check"),
        AuditCode.CASE_OPENED: _("Coordination case opened"),
        AuditCode.CASE_NOTE_ADDED: _("Statement added to a coordination case"),
        AuditCode.CASE_SETTLED: _("Coordination case settled"),
        AuditCode.CASE_WITHDRAWN: _("Coordination case withdrawn"),
        AuditCode.CASE_ESCALATED: _("Overdue coordination case escalated"),
        AuditCode.CASE_REMINDED: _("Coordination case deadline reminder sent"),
        AuditCode.DATA_REQUEST_SUBMITTED: _("Data request submitted"),
        AuditCode.DATA_REQUEST_ASSIGNED: _("Data request assigned to the presumed owner"),
        AuditCode.DATA_REQUEST_REGISTERED: _("Data request answered with a catalog entry"),
        AuditCode.DATA_REQUEST_DECLINED: _("Data request declined by the presumed owner"),
        AuditCode.DATA_REQUEST_FORWARDED: _("Data request forwarded to the upper-level platform"),
        AuditCode.DATA_REQUEST_UPPER_ANSWERED: _("Upper-level answer to a data request recorded"),
        AuditCode.DATA_REQUEST_CLOSED: _("Data request closed by the centre"),
        AuditCode.HIGH_FREQUENCY_MARKED: _("Entry put in the high-frequency shared library"),
        AuditCode.HIGH_FREQUENCY_UNMARKED: _("Entry taken out of the high-frequency shared library"),
        AuditCode.ERROR_REPORTED: _("Data error reported"),
        AuditCode.ERROR_ACKNOWLEDGED: _("Data error report taken up by the provider"),
        AuditCode.ERROR_RESOLVED: _("Data error report resolved"),
        AuditCode.ERROR_WITHDRAWN: _("Data error report withdrawn"),
        AuditCode.ERROR_ESCALATED: _("Overdue data error report escalated"),
        AuditCode.ERROR_REMINDED: _("Data error report deadline reminder sent"),
        AuditCode.DIGEST_SETTING_CHANGED: _("Daily digest setting changed"),
        AuditCode.SOURCE_REGISTERED: _("Front-end database registered"),
        AuditCode.SOURCE_CHANGED: _("Front-end database changed"),
        AuditCode.SOURCE_TESTED: _("Front-end database connection tested"),
        AuditCode.SOURCE_ACTIVATED: _("Front-end database reactivated"),
        AuditCode.SOURCE_DEACTIVATED: _("Front-end database deactivated"),
        AuditCode.SOURCE_REFUSED: _("Front-end database address or path refused"),
        AuditCode.BINDING_CREATED: _("Table bound to a catalog entry"),
        AuditCode.BINDING_CHANGED: _("Table binding changed"),
        AuditCode.BINDING_PAUSED: _("Table binding paused"),
        AuditCode.BINDING_RESUMED: _("Table binding resumed"),
        AuditCode.REBUILD_REQUESTED: _("Rebuild of the centre's table requested"),
        AuditCode.CENTRE_TABLE_REBUILT: _("Centre's table rebuilt for the entry's new version"),
        AuditCode.RUN_STARTED: _("Copy into the data resource centre started"),
        AuditCode.RUN_FINISHED: _("Copy into the data resource centre finished"),
        AuditCode.RUN_FAILED: _("Copy into the data resource centre failed"),
        AuditCode.RUN_STOPPED: _("Copy into the data resource centre stopped"),
        AuditCode.RECONCILED: _("Source and data resource centre reconciled"),
        AuditCode.DELETES_HELD: _("Mass-delete guard held a copy's deletions"),
        AuditCode.DELETES_CONFIRMED: _("Held deletions confirmed"),
        AuditCode.DELETES_REFUSED: _("Held deletions refused"),
        AuditCode.SLOT_ALARM: _("Replication slot alarm (the source's log piles up)"),
        AuditCode.CROSS_CHECK_DECLARED: _("Cross-source check declared"),
        AuditCode.CROSS_CHECKED: _("Cross-source check run"),
        AuditCode.CROSS_CHECK_CHANGED: _("Cross-source check changed"),
        AuditCode.DELIVERY_BOUND: _("Grant bound to a table of the consumer's front-end database"),
        AuditCode.DELIVERY_PAUSED: _("Delivery into a front-end table paused"),
        AuditCode.DELIVERY_RESUMED: _("Delivery into a front-end table resumed"),
        AuditCode.DELIVERY_STARTED: _("Delivery into a front-end table started"),
        AuditCode.DELIVERY_FAILED: _("Delivery into a front-end table failed or stopped"),
        AuditCode.DELIVERY_CHECKED: _("Front-end table checked against the data resource centre"),
        AuditCode.UPLOAD_RECEIVED: _("Spreadsheet upload received"),
        AuditCode.UPLOAD_REFUSED: _("Spreadsheet upload refused"),
        AuditCode.UPLOAD_LOADED: _("Spreadsheet upload loaded into the data resource centre"),
        AuditCode.UPLOAD_FAILED: _("Spreadsheet upload failed to load"),
        AuditCode.UPLOAD_RULES_CHANGED: _("Value rules of spreadsheet uploads changed"),
        AuditCode.UPLOAD_REMINDED: _("Provider reminded that a spreadsheet upload is due"),
        AuditCode.UPLOAD_HELD: _("Mass-delete guard held a spreadsheet upload"),
        AuditCode.UPLOAD_DELETES_CONFIRMED: _("A held upload's deletions confirmed"),
        AuditCode.UPLOAD_RESUMED: _("A failed spreadsheet load resumed"),
        AuditCode.FILE_VERSION_ADDED: _("Shared file or new version added"),
        AuditCode.FILE_REFUSED: _("Shared file refused by its content"),
        AuditCode.DATA_ROWS_READ: _("Rows read through the data API"),
        AuditCode.DATA_VERIFIED: _("Values verified online against the data resource centre"),
        AuditCode.DOWNLOAD_REQUESTED: _("Batch download requested"),
        AuditCode.DATA_DOWNLOADED: _("Batch download fetched"),
        AuditCode.DATA_TRACED: _("File traced to the deliveries it can come from"),
        AuditCode.DATA_DELIVERED: _("Rows delivered into a consumer's front-end table"),
        AuditCode.FILE_FETCHED: _("Shared file downloaded"),
        AuditCode.QUERY_INDEXES_SET: _("Query indexes chosen"),
        AuditCode.QUERY_INDEXES_BUILT: _("Query indexes built"),
        AuditCode.SYSTEM_KEY_ISSUED: _("Key issued to a consuming system"),
        AuditCode.SYSTEM_KEY_REVOKED: _("Key of a consuming system revoked"),
        AuditCode.SYSTEM_KEY_REJECTED: _("Key of a consuming system refused"),
    }


def label(code: int) -> Any:
    """A human label for a code (translated); later domains add theirs to ``EXTRA_LABELS``."""
    found = _labels().get(code) or EXTRA_LABELS.get(code)
    if found is not None:
        return found
    try:
        return AuditCode(code).name.lower()
    except ValueError:
        return str(code)


#: labels registered by later apps for their own codes
EXTRA_LABELS: dict[int, Any] = {}
