"""The optional daily digest per department: one e-mail a day listing what waits for the department,
each item with its due day and the working days left (or how late it is).

* A provider department reads the share applications it must answer, the data errors it must verify
  and correct, the data requests assigned to it and its open coordination cases; as a consumer, its
  own open applications (a returned one waits for it), its open error reports and the grants that
  expire within :data:`EXPIRY_WINDOW_DAYS` days.
* The centre reads the first reviews waiting in its jurisdiction, every overdue clock (applications,
  coordination cases, error reports), the cases to settle and the data requests to assign, forward
  or answer for the upper level.
* Both close with the notifications the department's people received since the last digest.

The digest is switched on per department (:class:`DigestSetting`,
:func:`govshare.sharing.actions.digest_settings.do_set_digest`).  The
worker's periodic hook calls :func:`send_daily_digests`: nothing is sent without ``EMAIL_HOST`` (the
inbox is then the only channel), nothing before ``DIGEST_HOUR`` o'clock local time
(``GOVSHARE_DIGEST_HOUR``, default 8), and at most once a day per department — the day is claimed
with a conditional UPDATE of ``last_sent_on`` before sending, so several workers never send twice;
a failed send gives the claim back so that a later run tries again.  A department with nothing to
report gets no e-mail that day.  Recipients: the department's administrators and data specialists
(the centre's administrators and reviewers for the centre) who have an e-mail address.

One language per screen (issue 8): each recipient reads the digest in their own language
(``User.language``, Chinese when unset, as :func:`govshare.core.notify.language_of` decides);
:func:`compose_for_readers` composes one digest per language among the recipients.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from govshare.core.clock import Clocks
from govshare.core.messages import FIRST_LANGUAGE
from govshare.core.models import Department, Notification, RoleAssignment
from govshare.core.notify import language_of
from govshare.core.roles import Role
from govshare.sharing.actions._common import department_editors
from govshare.sharing.models import (
    Application,
    CoordinationCase,
    DataRequest,
    DigestSetting,
    ErrorReport,
    Grant,
)

log = logging.getLogger("govshare.sharing.digest")

DIGEST_HOUR = 8
EXPIRY_WINDOW_DAYS = 30
MAX_NOTIFICATIONS = 30
MAX_LOOKBACK = dt.timedelta(days=7)


# ------------------------------------------------------------------ composing


@dataclass(frozen=True)
class Digest:
    department: Department
    subject: str
    body: str
    recipients: list[str]  # e-mail addresses
    items: int  # things waiting (the notifications not counted)
    language: str = FIRST_LANGUAGE


def digest_hour() -> int:
    return int(getattr(settings, "GOVSHARE_DIGEST_HOUR", DIGEST_HOUR))


def recipients(department: Department) -> list[Any]:
    """Who reads a department's digest: its administrators and data specialists (for the centre: its
    administrators and reviewers)."""
    if not department.is_centre:
        return department_editors(department)
    rows = RoleAssignment.objects.filter(user__department=department, user__is_active=True,
                                         role__in=[Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER]).select_related("user")
    return list({r.user.pk: r.user for r in rows}.values())


def _when(obj: Any, clocks: Clocks) -> str:
    state = clocks.of(obj) if hasattr(obj, "clock_state") else None
    if state is None:
        return ""
    due, left = state.due_date, state.days_left
    if left < 0:
        text = ngettext("overdue by %(days)d working day", "overdue by %(days)d working days", -left) % {"days": -left}
    elif left == 0:
        text = _("due today")
    else:
        text = ngettext("%(days)d working day left", "%(days)d working days left", left) % {"days": left}
    return f" — {due.isoformat()} ({text})"


def _by_deadline(qs: QuerySet[Any]) -> list[Any]:
    """The queue's rows (its own order: soonest deadline first)."""
    return list(qs)


class _Body:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.today = timezone.localdate(now)
        self.clocks = Clocks(now)
        self.lines: list[str] = []
        self.items = 0

    def section(self, title: str, link: str, rows: list[Any], describe: Any, *, count: bool = True) -> None:
        if not rows:
            return
        if self.lines:
            self.lines.append("")
        self.lines.append(f"{title} ({len(rows)}): {link}")
        for row in rows:
            self.lines.append(f"- {row.number} {describe(row)}{_when(row, self.clocks)}")
        if count:
            self.items += len(rows)


def _provider_sections(body: _Body, department: Department) -> None:
    body.section(_("Share applications to answer"), "/sharing/to-answer/", _by_deadline(
        Application.objects.to_answer().filter(provider=department)
        .select_related("deadline", "entry_version", "consumer")),
        lambda a: f"{a.consumer.name} · {a.entry_version.name}")
    body.section(_("Data errors to verify and correct"), "/sharing/errors/", _by_deadline(
        ErrorReport.objects.to_verify().filter(provider=department)
        .select_related("deadline", "entry__current_version", "reporter_department")),
        lambda e: f"{e.reporter_department.name} · {_entry_name(e.entry)} · {e.field}")
    body.section(_("Data requests to register or decline"), "/sharing/requests/", list(
        DataRequest.objects.to_answer().filter(owner=department).select_related("requester")),
        lambda r: f"{r.requester.name} · {r.title}")


def _consumer_sections(body: _Body, department: Department) -> None:
    body.section(_("Our open share applications"), "/sharing/applications/", _by_deadline(
        Application.objects.open().filter(consumer=department).by_deadline()
        .select_related("deadline", "entry_version")),
        lambda a: f"{a.entry_version.name} · {_status(a)}" + (" · " + _("waiting for us")
                                                               if a.status == Application.Status.RETURNED else ""))
    body.section(_("Our open data error reports"), "/sharing/errors/", _by_deadline(
        ErrorReport.objects.open().filter(reporter_department=department).by_deadline()
        .select_related("deadline", "entry__current_version")),
        lambda e: f"{_entry_name(e.entry)} · {e.field} · {_status(e)}", count=False)
    horizon = body.today + dt.timedelta(days=EXPIRY_WINDOW_DAYS)
    body.section(_("Grants expiring within %(days)d days") % {"days": EXPIRY_WINDOW_DAYS}, "/sharing/grants/", list(
        Grant.objects.expiring(body.today, horizon).filter(consumer=department).select_related("entry__current_version")
        .order_by("expires_on", "pk")),
        lambda g: f"{_entry_name(g.entry)} · " + _("valid until %(date)s") % {"date": g.expires_on.isoformat()})


def _centre_sections(body: _Body, department: Department) -> None:
    local = department.jurisdiction_id
    body.section(_("Share applications waiting for the first review"), "/sharing/review/", _by_deadline(
        Application.objects.to_review().provided_in(local)
        .select_related("deadline", "entry_version", "consumer")),
        lambda a: f"{a.consumer.name} · {a.entry_version.name}")
    body.section(_("Overdue share applications"), "/sharing/overdue/", _by_deadline(
        Application.objects.overdue(body.now).provided_in(local).by_deadline()
        .select_related("deadline", "entry_version", "provider")),
        lambda a: f"{a.provider.name} · {a.entry_version.name}")
    body.section(_("Coordination cases to settle"), "/sharing/cases/", _by_deadline(
        CoordinationCase.objects.to_settle().provided_in(local)
        .select_related("deadline", "entry__current_version", "consumer", "provider")),
        lambda c: f"{c.consumer.name} ↔ {c.provider.name} · {_entry_name(c.entry)} · {_status(c)}")
    body.section(_("Overdue data error reports"), "/sharing/overdue/", _by_deadline(
        ErrorReport.objects.overdue(body.now).provided_in(local).by_deadline()
        .select_related("deadline", "entry__current_version", "provider")),
        lambda e: f"{e.provider.name} · {_entry_name(e.entry)} · {e.field}")
    body.section(_("Data requests to assign, forward or answer"), "/sharing/requests/", list(
        DataRequest.objects.to_route().filter(requester__jurisdiction_id=local).select_related("requester")),
        lambda r: f"{r.requester.name} · {r.title} · {_status(r)}")


def _entry_name(entry: Any) -> str:
    return entry.current_version.name if entry.current_version else entry.code


def _status(obj: Any) -> str:
    return str(obj.get_status_display())


def compose(department: Department, now: dt.datetime, since: dt.datetime, *, language: str = FIRST_LANGUAGE,
            readers: list[Any] | None = None) -> Digest | None:
    """The department's digest as of ``now`` (notifications from ``since`` on) in ``language``, addressed
    to ``readers`` (default: every recipient), or None when nothing waits and nothing was notified."""
    body = _Body(now)
    today = body.today
    people = recipients(department)
    with translation.override(language):
        if department.is_centre:
            _centre_sections(body, department)
        else:
            _provider_sections(body, department)
            _consumer_sections(body, department)
        notes = (Notification.objects.filter(recipient__in=people, created_at__gte=since)
                 .order_by("-created_at", "-id")[:MAX_NOTIFICATIONS * 4])
        # the same message to several people is listed once, in this digest's language
        subjects = list(dict.fromkeys(note.subject_in(language) for note in notes))
        if subjects:
            if body.lines:
                body.lines.append("")
            body.lines.append(_("New notifications (%(count)d): %(link)s") % {"count": len(subjects), "link": "/inbox/"})
            body.lines += [f"- {s}" for s in subjects[:MAX_NOTIFICATIONS]]
            if len(subjects) > MAX_NOTIFICATIONS:
                more = len(subjects) - MAX_NOTIFICATIONS
                body.lines.append("- " + ngettext("… %(count)d more in the inbox", "… %(count)d more in the inbox",
                                                  more) % {"count": more})
        if not body.lines:
            return None
        name = department.short_name or department.name
        subject = "[govshare] " + ngettext("%(name)s daily digest %(date)s: %(count)d to do",
                                           "%(name)s daily digest %(date)s: %(count)d to do",
                                           body.items) % {"name": name, "date": today.isoformat(), "count": body.items}
    text = "\n".join([f"{department.name} — {today.isoformat()}", "", *body.lines])
    addresses = sorted({u.email for u in (people if readers is None else readers) if u.email})
    return Digest(department, subject, text, addresses, body.items, language)


def compose_for_readers(department: Department, now: dt.datetime, since: dt.datetime) -> list[Digest]:
    """One digest per language the department's recipients read (Chinese first), each addressed to
    the recipients of that language; empty when nothing waits and nothing was notified."""
    by_language: dict[str, list[Any]] = {}
    for person in recipients(department):
        if person.email:
            by_language.setdefault(language_of(person), []).append(person)
    digests = [compose(department, now, since, language=language, readers=readers)
               for language, readers in sorted(by_language.items(), key=lambda pair: pair[0] != FIRST_LANGUAGE)]
    return [d for d in digests if d is not None]


# ------------------------------------------------------------------ sending


def since(setting: DigestSetting, now: dt.datetime) -> dt.datetime:
    """Notifications since the last digest (at most a week back; a day back the first time)."""
    if setting.last_sent_on is None:
        return now - dt.timedelta(days=1)
    start = dt.datetime.combine(setting.last_sent_on, dt.time(digest_hour()), tzinfo=timezone.get_current_timezone())
    return max(start, now - MAX_LOOKBACK)


def due_settings(today: dt.date) -> QuerySet[DigestSetting]:
    return DigestSetting.objects.filter(enabled=True, department__is_active=True).filter(
        Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today)).select_related("department")


def preview_digests(now: dt.datetime | None = None, *, departments: list[Department] | None = None) -> list[Digest]:
    """The digests that would be composed at ``now`` (nothing is claimed or sent): for the enabled
    departments not yet served that day, or for ``departments`` whatever their setting."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if departments is None:
        pairs = [(s.department, since(s, now)) for s in due_settings(today)]
    else:
        known = {s.department_id: s for s in DigestSetting.objects.filter(department__in=departments)}
        pairs = [(d, since(known[d.pk], now) if d.pk in known else now - dt.timedelta(days=1)) for d in departments]
    digests: list[Digest] = []
    for dept, start in pairs:
        # a department whose people have no e-mail address still shows what it would say (in Chinese)
        digests += compose_for_readers(dept, now, start) or [d for d in [compose(dept, now, start)] if d is not None]
    return digests


def send_daily_digests(now: dt.datetime | None = None) -> int:
    """Send today's digests (see :func:`govshare.sharing.actions.digest_settings.send_daily_digests`)."""
    from govshare.sharing.actions.digest_settings import send_daily_digests as send

    return send(now)
