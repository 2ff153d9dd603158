"""Periodic sharing work run by every worker (see :mod:`govshare.core.periodic`)."""

from __future__ import annotations

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
