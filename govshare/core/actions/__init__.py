"""The actions layer of the core app: every write goes through a ``do_*`` function here.

An action owns its transaction, checks permission through :mod:`govshare.core.permissions`, and
records its audit event in the same transaction; e-mail and task enqueues run ``on_commit``.
Views, the API and the CLI only parse input, call an action and render the result.
"""

from govshare.core.actions.auth import (
    do_change_password,
    do_create_token,
    do_record_login,
    do_record_login_failure,
    do_record_logout,
    do_revoke_token,
    do_unlock_user,
)
from govshare.core.actions.calendar import (
    do_clear_calendar_day,
    do_import_holidays,
    do_set_calendar_day,
)
from govshare.core.actions.jobs import do_cancel_job
from govshare.core.actions.org import (
    do_appoint_specialist,
    do_create_department,
    do_create_jurisdiction,
    do_create_user,
    do_deactivate_user,
    do_end_specialist,
    do_grant_role,
    do_revoke_role,
    do_update_department,
    do_update_jurisdiction,
    do_update_user,
)

__all__ = [
    "do_appoint_specialist",
    "do_cancel_job",
    "do_change_password",
    "do_clear_calendar_day",
    "do_create_department",
    "do_create_jurisdiction",
    "do_create_token",
    "do_create_user",
    "do_deactivate_user",
    "do_end_specialist",
    "do_grant_role",
    "do_import_holidays",
    "do_record_login",
    "do_record_login_failure",
    "do_record_logout",
    "do_revoke_role",
    "do_revoke_token",
    "do_set_calendar_day",
    "do_unlock_user",
    "do_update_department",
    "do_update_jurisdiction",
    "do_update_user",
]
