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
    TOKEN_USED = 1022
    TOKEN_REJECTED = 1023
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
        AuditCode.SNAPSHOT_PUBLISHED: _("Jurisdiction catalog snapshot published"),
        AuditCode.PROJECT_CREATED: _("IT project registered"),
        AuditCode.PROJECT_UPDATED: _("IT project changed"),
        AuditCode.PROJECT_STAGE_CHANGED: _("IT project moved to another stage"),
        AuditCode.FEEDBACK_RAISED: _("Catalog feedback raised"),
        AuditCode.FEEDBACK_ANSWERED: _("Catalog feedback answered"),
        AuditCode.FEEDBACK_CLOSED: _("Catalog feedback closed"),
        AuditCode.SYNONYMS_CHANGED: _("Search synonyms changed"),
        AuditCode.SEARCH_REINDEX_STARTED: _("Search index rebuild started"),
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
