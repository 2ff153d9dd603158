"""The sharing actions layer: every write in sharing goes through a ``do_*`` function here
(transaction, permission check first, write and audit event together; notifications after the commit).

One module per noun: ``systems``, ``system_keys``, ``applications``, ``grants``, ``coordination``, ``requests``,
``high_frequency``, ``error_reports``, ``digest_settings``, ``clock`` (reminders and escalations)."""

from govshare.sharing.actions.applications import (
    do_answer,
    do_apply,
    do_first_review,
    do_reopen_answer,
    do_resubmit,
    do_subscribe_entry,
    do_withdraw_application,
    letter_for_download,
)
from govshare.sharing.actions.clock import escalate_overdue, send_reminders
from govshare.sharing.actions.coordination import (
    do_add_case_note,
    do_open_case,
    do_settle_case,
    do_withdraw_case,
)
from govshare.sharing.actions.digest_settings import do_set_digest, send_daily_digests
from govshare.sharing.actions.error_reports import (
    do_acknowledge_error,
    do_report_error,
    do_resolve_error,
    do_withdraw_error,
)
from govshare.sharing.actions.grants import do_revoke_grant
from govshare.sharing.actions.high_frequency import (
    aggregated_demand,
    demand_counts,
    do_mark_high_frequency,
    do_unmark_high_frequency,
)
from govshare.sharing.actions.requests import (
    do_assign_request,
    do_close_request,
    do_decline_request,
    do_forward_request,
    do_record_upper_answer,
    do_register_for_request,
    do_submit_request,
)
from govshare.sharing.actions.system_keys import do_issue_system_key, do_revoke_system_key
from govshare.sharing.actions.systems import do_register_system, do_set_system_active

__all__ = [
    "aggregated_demand", "demand_counts", "do_acknowledge_error", "do_add_case_note", "do_answer", "do_apply", "do_assign_request",
    "do_close_request", "do_decline_request", "do_first_review", "do_forward_request", "do_mark_high_frequency",
    "do_open_case", "do_record_upper_answer", "do_register_for_request", "do_register_system", "do_reopen_answer",
    "do_report_error", "do_resolve_error", "do_resubmit", "do_revoke_grant", "do_set_digest", "do_set_system_active",
    "do_issue_system_key", "do_revoke_system_key",
    "do_settle_case", "do_submit_request", "do_subscribe_entry", "do_unmark_high_frequency",
    "do_withdraw_application", "do_withdraw_case", "do_withdraw_error", "escalate_overdue", "letter_for_download",
    "send_daily_digests", "send_reminders",
]
