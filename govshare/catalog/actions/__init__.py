"""The catalog's actions layer: every write to the catalog goes through a ``do_*`` function here
(transaction, permission check and audit event together; notifications and index updates after
the commit)."""

from govshare.catalog.actions._common import centre_reviewers, department_editors, profile_of, required_text
from govshare.catalog.actions.admin import (
    do_create_classification,
    do_delete_synonym,
    do_set_synonym,
    do_update_classification,
)
from govshare.catalog.actions.entries import (
    apply_due_changes,
    do_approve,
    do_create_entry,
    do_discard_draft,
    do_edit_entry,
    do_open_version,
    do_request_withdrawal,
    do_return,
    do_submit,
    do_subscribe,
    do_unsubscribe,
    do_update_draft,
)
from govshare.catalog.actions.feedback import do_answer_feedback, do_close_feedback, do_raise_feedback
from govshare.catalog.actions.imports import do_download_template, do_export_catalog, do_import_catalog
from govshare.catalog.actions.projects import do_attach_entry, do_create_project, do_move_project
from govshare.catalog.actions.search_words import do_delete_search_word, do_set_search_word
from govshare.catalog.actions.snapshots import do_publish_snapshot
from govshare.catalog.actions.update_tasks import (
    do_cancel_update_task,
    do_complete_update_task,
    do_open_update_task,
    notify_overdue,
)

__all__ = [
    "centre_reviewers",
    "department_editors",
    "profile_of",
    "required_text",
    "apply_due_changes",
    "do_answer_feedback",
    "do_approve",
    "do_attach_entry",
    "do_cancel_update_task",
    "do_close_feedback",
    "do_complete_update_task",
    "do_create_classification",
    "do_create_entry",
    "do_create_project",
    "do_delete_search_word",
    "do_delete_synonym",
    "do_discard_draft",
    "do_download_template",
    "do_edit_entry",
    "do_export_catalog",
    "do_import_catalog",
    "do_move_project",
    "do_open_update_task",
    "do_open_version",
    "do_publish_snapshot",
    "do_raise_feedback",
    "do_request_withdrawal",
    "do_return",
    "do_set_search_word",
    "do_set_synonym",
    "do_submit",
    "do_subscribe",
    "do_unsubscribe",
    "do_update_classification",
    "do_update_draft",
    "notify_overdue",
]
