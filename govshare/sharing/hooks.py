"""Periodic sharing work run by every worker (see :mod:`govshare.core.periodic`)."""

from __future__ import annotations

from typing import Any

from govshare.core import periodic


@periodic.register("sharing.reminders", every_seconds=600)
def reminders() -> int:
    """SHR-2/SHR-8: remind the party that must act the working day before its deadline."""
    from govshare.sharing.actions.clock import send_reminders

    return send_reminders()


@periodic.register("sharing.escalations", every_seconds=300)
def escalations() -> int:
    """SHR-2/3/8: overdue answers escalate to the centre."""
    from govshare.sharing.actions.clock import escalate_overdue

    return escalate_overdue()


@periodic.register("sharing.daily_digest", every_seconds=900)
def daily_digest() -> int:
    """The optional daily digest per department (sent once a day, after 08:00)."""
    from govshare.sharing.digest import send_daily_digests

    return send_daily_digests()


# ------------------------------------------------------------------ task notices (issue 8: an inbox that stays useful)

def _application_waits_for(app: Any) -> str | None:
    """The open stage and its clock: a decision, or a new deadline (the centre reopened the answer
    period), resolves the notices about the stage before."""
    return f"{app.status}:{app.deadline_id}" if _is_open(app) else None


def _is_open(obj: Any) -> bool:
    return obj.status in type(obj).OPEN_STATUSES


def _open_or_none(obj: Any) -> str | None:
    return "open" if _is_open(obj) else None


def _request_waits_for(req: Any) -> str | None:
    return f"{req.status}:{req.owner_id}" if _is_open(req) else None


def _must_act_on_application(app: Any, user: Any) -> bool:
    """The provider's answer is the provider's to give; the first review is the centre's (only
    centre reviewers are told of an overdue first review)."""
    if app.status == type(app).Status.PROVIDER_REVIEW:
        return bool(user.department_id == app.provider_id)
    return True


def register_task_notices() -> None:
    from govshare.core.notify import register_task_resolver
    from govshare.sharing.models import Application, CoordinationCase, DataRequest, ErrorReport

    # a reminder goes only to the party that must act; an overdue notice also tells the centre, who
    # follows it (a task only for the party that must act, like catalog.update_task_overdue)
    register_task_resolver(Application, ["sharing.first_review", "sharing.answer", "sharing.return",
                                         "sharing.reminder"], _application_waits_for)
    register_task_resolver(Application, ["sharing.overdue"], _application_waits_for,
                           assignee=_must_act_on_application)
    register_task_resolver(CoordinationCase, ["sharing.case", "sharing.reminder", "sharing.overdue"], _open_or_none)
    register_task_resolver(ErrorReport, ["sharing.error_reported", "sharing.reminder"], _open_or_none)
    register_task_resolver(ErrorReport, ["sharing.overdue"], _open_or_none,
                           assignee=lambda report, user: user.department_id == report.provider_id)
    # the centre assigns a request; the presumed owner registers or declines it (the requester,
    # told of the assignment, has nothing to do)
    register_task_resolver(DataRequest, ["sharing.request"], lambda req: _request_waits_for(req)
                           if req.status == DataRequest.Status.SUBMITTED else None)
    register_task_resolver(DataRequest, ["sharing.request_assigned"], _request_waits_for,
                           assignee=lambda req, user: user.department_id == req.owner_id)


register_task_notices()
