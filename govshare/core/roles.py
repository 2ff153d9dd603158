"""Roles and the capabilities they give (SEC-1, SEC-2).

Duties are separated after GB/T 39477 (三员分立): the auditor role cannot be combined with any role
that changes data, administrators cannot read the audit log, and an auditor can change nothing but
their own password and tokens.  Object-level rules live in :mod:`govshare.core.permissions`.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CENTRE_ADMIN = "centre_admin", _("Centre administrator")
    CENTRE_REVIEWER = "centre_reviewer", _("Centre reviewer")
    DEPT_ADMIN = "dept_admin", _("Department administrator")
    DATA_SPECIALIST = "data_specialist", _("Data specialist")
    AUDITOR = "auditor", _("Auditor")
    PUBLIC = "public", _("Public user")


#: roles that only make sense for staff of the data-management centre
CENTRE_ROLES = frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER})
#: roles that need a department (a provider/consumer department, or the centre itself)
DEPARTMENT_ROLES = frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER})
#: pairs that may never be held by one person (GB/T 39477 separation of duties)
INCOMPATIBLE = {
    Role.AUDITOR: frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST,
                             Role.PUBLIC}),
    Role.PUBLIC: frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST,
                            Role.AUDITOR}),
}


class Capability(models.TextChoices):
    """Platform-wide capabilities; each is given by a fixed set of roles."""

    MANAGE_JURISDICTIONS = "manage_jurisdictions", _("Manage jurisdictions")
    MANAGE_DEPARTMENTS = "manage_departments", _("Manage departments")
    MANAGE_USERS = "manage_users", _("Manage users")
    MANAGE_CALENDAR = "manage_calendar", _("Maintain the working-day calendar")
    READ_AUDIT = "read_audit", _("Read and export the audit log")
    VIEW_JOBS_ALL = "view_jobs_all", _("See every background job")
    VIEW_POLICY = "view_policy", _("Read policy profiles")
    # catalog (CAT-*)
    EDIT_CATALOG = "edit_catalog", _("Compile the department's resource catalog")
    REVIEW_CATALOG = "review_catalog", _("Review catalog entries")
    MANAGE_CLASSIFICATION = "manage_classification", _("Maintain the classification tree")
    MANAGE_SYNONYMS = "manage_synonyms", _("Maintain the search synonym list")
    MANAGE_UPDATE_TASKS = "manage_update_tasks", _("Open catalog-update tasks")
    PUBLISH_SNAPSHOT = "publish_snapshot", _("Publish jurisdiction catalog snapshots")
    RAISE_FEEDBACK = "raise_feedback", _("Raise doubts on catalog entries")
    MANAGE_PROJECTS = "manage_projects", _("Register IT projects and their catalogs")
    # sharing (SHR-*)
    APPLY_SHARE = "apply_share", _("Apply for shared data for the department")
    ANSWER_SHARE = "answer_share", _("Answer share applications for the department's entries")
    REVIEW_SHARE = "review_share", _("Review share applications and mediate for the centre")
    MANAGE_SYSTEMS = "manage_systems", _("Register the department's consuming information systems")
    MANAGE_DIGEST = "manage_digest", _("Switch the department's daily digest on or off")
    # exchange (EXC-*)
    MANAGE_SOURCES = "manage_sources", _("Register the department's front-end databases")
    BIND_TABLES = "bind_tables", _("Bind front-end tables to the department's catalog entries")
    SUPERVISE_QUALITY = "supervise_quality", _("Declare and run cross-source checks of the shared data (一数一源)")
    RECEIVE_DELIVERIES = "receive_deliveries", _("Have the department's grants delivered into its front-end tables")


CAPABILITIES: dict[str, frozenset[str]] = {
    Capability.MANAGE_JURISDICTIONS: frozenset({Role.CENTRE_ADMIN}),
    Capability.MANAGE_DEPARTMENTS: frozenset({Role.CENTRE_ADMIN}),
    # department admins manage the users of their own department (object rule in permissions.py)
    Capability.MANAGE_USERS: frozenset({Role.CENTRE_ADMIN, Role.DEPT_ADMIN}),
    Capability.MANAGE_CALENDAR: frozenset({Role.CENTRE_ADMIN}),
    Capability.READ_AUDIT: frozenset({Role.AUDITOR}),
    Capability.VIEW_JOBS_ALL: frozenset({Role.CENTRE_ADMIN}),
    Capability.VIEW_POLICY: frozenset(
        {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}
    ),
    # the provider department compiles its own catalog; the centre compiles the centre's (object rule)
    Capability.EDIT_CATALOG: frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}),
    Capability.REVIEW_CATALOG: frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}),
    Capability.MANAGE_CLASSIFICATION: frozenset({Role.CENTRE_ADMIN}),
    Capability.MANAGE_SYNONYMS: frozenset({Role.CENTRE_ADMIN}),
    Capability.MANAGE_UPDATE_TASKS: frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}),
    Capability.PUBLISH_SNAPSHOT: frozenset({Role.CENTRE_ADMIN}),
    Capability.RAISE_FEEDBACK: frozenset(
        {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST}
    ),
    Capability.MANAGE_PROJECTS: frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}),
    # a department applies for and answers on its own behalf (object rules in sharing/permissions.py)
    Capability.APPLY_SHARE: frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST}),
    Capability.ANSWER_SHARE: frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}),
    Capability.REVIEW_SHARE: frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}),
    Capability.MANAGE_SYSTEMS: frozenset({Role.DEPT_ADMIN, Role.CENTRE_ADMIN}),
    Capability.MANAGE_DIGEST: frozenset({Role.DEPT_ADMIN, Role.CENTRE_ADMIN}),
    # a department docks its own front-end databases; the centre administrator may do it for one (EXC-6)
    Capability.MANAGE_SOURCES: frozenset({Role.DEPT_ADMIN, Role.CENTRE_ADMIN}),
    # the provider's staff say which column holds each item of their entries (issue 10)
    Capability.BIND_TABLES: frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}),
    Capability.SUPERVISE_QUALITY: frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}),
    # the consumer's staff bind a grant (库表 channel) to a table of their own front-end database (issue 11)
    Capability.RECEIVE_DELIVERIES: frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST}),
}
