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

The digest is switched on per department (:class:`DigestSetting`, :func:`do_set_digest`).  The
worker's periodic hook calls :func:`send_daily_digests`: nothing is sent without ``EMAIL_HOST`` (the
inbox is then the only channel), nothing before ``DIGEST_HOUR`` o'clock local time
(``GOVSHARE_DIGEST_HOUR``, default 8), and at most once a day per department — the day is claimed
with a conditional UPDATE of ``last_sent_on`` before sending, so several workers never send twice;
a failed send gives the claim back so that a later run tries again.  A department with nothing to
report gets no e-mail that day.  Recipients: the department's administrators and data specialists
(the centre's administrators and reviewers for the centre) who have an e-mail address.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.models import Department, Notification, RoleAssignment
from govshare.core.permissions import get_for, require
from govshare.core.roles import Capability, Role
from govshare.sharing.actions._common import department_editors
from govshare.sharing.models import (
    Application,
    CoordinationCase,
    DataRequest,
    DigestSetting,
    ErrorReport,
    Grant,
    remaining_working_days,
)

log = logging.getLogger("govshare.sharing.digest")

DIGEST_HOUR = 8
EXPIRY_WINDOW_DAYS = 30
MAX_NOTIFICATIONS = 30
MAX_LOOKBACK = dt.timedelta(days=7)


@transaction.atomic
def do_set_digest(actor: Any, department: Department, *, enabled: bool) -> DigestSetting:
    require(actor, Capability.MANAGE_DIGEST)
    setting, _created = DigestSetting.objects.get_or_create(department=department)
    setting = get_for(actor, "change", DigestSetting.objects.select_for_update(), pk=setting.pk)
    if setting.enabled != enabled:
        setting.enabled, setting.updated_by, setting.updated_at = enabled, actor, timezone.now()
        setting.save()
        audit.record(AuditCode.DIGEST_SETTING_CHANGED, actor=actor, obj=setting, department=department,
                     changes={"enabled": [not enabled, enabled]})
    return setting


# ------------------------------------------------------------------ composing


@dataclass(frozen=True)
class Digest:
    department: Department
    subject: str
    body: str
    recipients: list[str]  # e-mail addresses
    items: int  # things waiting (the notifications not counted)


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


def _when(due: dt.date | None, today: dt.date) -> str:
    if due is None:
        return ""
    left = remaining_working_days(due, today)
    days = "working day" if abs(left) == 1 else "working days"
    if left < 0:
        state = f"已逾期 {-left} 个工作日 / overdue by {-left} {days}"
    elif left == 0:
        state = "今天到期 / due today"
    else:
        state = f"剩余 {left} 个工作日 / {left} {days} left"
    return f" — {due.isoformat()} ({state})"


def _due(obj: Any) -> dt.date | None:
    deadline = getattr(obj, "deadline", None)
    return deadline.due_date if deadline is not None and deadline.closed_at is None else None


def _by_deadline(qs: QuerySet[Any]) -> list[Any]:
    rows = list(qs)
    rows.sort(key=lambda o: (_due(o) or dt.date.max, o.pk))
    return rows


class _Body:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.today = timezone.localdate(now)
        self.lines: list[str] = []
        self.items = 0

    def section(self, title: str, link: str, rows: list[Any], describe: Any, *, count: bool = True) -> None:
        if not rows:
            return
        if self.lines:
            self.lines.append("")
        self.lines.append(f"{title} ({len(rows)}): {link}")
        for row in rows:
            self.lines.append(f"- {row.number} {describe(row)}{_when(_due(row), self.today)}")
        if count:
            self.items += len(rows)


def _provider_sections(body: _Body, department: Department) -> None:
    body.section("待答复的共享申请 / Share applications to answer", "/sharing/to-answer/", _by_deadline(
        Application.objects.filter(provider=department, status=Application.Status.PROVIDER_REVIEW)
        .select_related("deadline", "entry_version", "consumer")),
        lambda a: f"{a.consumer.name} · {a.entry_version.name}")
    body.section("待核实的数据纠错 / Data errors to verify and correct", "/sharing/errors/", _by_deadline(
        ErrorReport.objects.filter(provider=department, status__in=ErrorReport.OPEN_STATUSES)
        .select_related("deadline", "entry__current_version", "reporter_department")),
        lambda e: f"{e.reporter_department.name} · {_entry_name(e.entry)} · {e.field}")
    body.section("待登记的数据需求 / Data requests to register or decline", "/sharing/requests/", list(
        DataRequest.objects.filter(owner=department, status=DataRequest.Status.ASSIGNED)
        .select_related("requester").order_by("assigned_at", "pk")),
        lambda r: f"{r.requester.name} · {r.title}")


def _consumer_sections(body: _Body, department: Department) -> None:
    body.section("本部门在办的共享申请 / Our open share applications", "/sharing/applications/", _by_deadline(
        Application.objects.filter(consumer=department, status__in=Application.OPEN_STATUSES)
        .select_related("deadline", "entry_version")),
        lambda a: f"{a.entry_version.name} · {_status(a)}" + (" · 待本部门补正 / waiting for us"
                                                               if a.status == Application.Status.RETURNED else ""))
    body.section("本部门的纠错反馈 / Our open data error reports", "/sharing/errors/", _by_deadline(
        ErrorReport.objects.filter(reporter_department=department, status__in=ErrorReport.OPEN_STATUSES)
        .select_related("deadline", "entry__current_version")),
        lambda e: f"{_entry_name(e.entry)} · {e.field} · {_status(e)}", count=False)
    horizon = body.today + dt.timedelta(days=EXPIRY_WINDOW_DAYS)
    body.section(f"{EXPIRY_WINDOW_DAYS} 天内到期的授权 / Grants expiring within {EXPIRY_WINDOW_DAYS} days", "/sharing/grants/", list(
        Grant.objects.filter(consumer=department, revoked_at__isnull=True, expires_on__gte=body.today,
                             expires_on__lte=horizon).select_related("entry__current_version")
        .order_by("expires_on", "pk")),
        lambda g: f"{_entry_name(g.entry)} · 有效期至 / valid until {g.expires_on.isoformat()}")


def _centre_sections(body: _Body, department: Department) -> None:
    local = Q(provider__jurisdiction_id=department.jurisdiction_id)
    body.section("待初审的共享申请 / Share applications waiting for the first review", "/sharing/review/", _by_deadline(
        Application.objects.filter(local, status=Application.Status.CENTRE_REVIEW)
        .select_related("deadline", "entry_version", "consumer")),
        lambda a: f"{a.consumer.name} · {a.entry_version.name}")
    late = Q(deadline__closed_at__isnull=True, deadline__due_at__lt=body.now)
    body.section("已逾期的共享申请 / Overdue share applications", "/sharing/overdue/", _by_deadline(
        Application.objects.filter(local, late, status=Application.Status.PROVIDER_REVIEW)
        .select_related("deadline", "entry_version", "provider")),
        lambda a: f"{a.provider.name} · {a.entry_version.name}")
    body.section("待调解的协调案件 / Coordination cases to settle", "/sharing/cases/", _by_deadline(
        CoordinationCase.objects.filter(local, status__in=CoordinationCase.OPEN_STATUSES)
        .select_related("deadline", "entry__current_version", "consumer", "provider")),
        lambda c: f"{c.consumer.name} ↔ {c.provider.name} · {_entry_name(c.entry)} · {_status(c)}")
    body.section("已逾期的数据纠错 / Overdue data error reports", "/sharing/overdue/", _by_deadline(
        ErrorReport.objects.filter(local, late, status__in=ErrorReport.OPEN_STATUSES)
        .select_related("deadline", "entry__current_version", "provider")),
        lambda e: f"{e.provider.name} · {_entry_name(e.entry)} · {e.field}")
    body.section("待处理的数据需求 / Data requests to assign, forward or answer", "/sharing/requests/", list(
        DataRequest.objects.filter(requester__jurisdiction_id=department.jurisdiction_id,
                                   status__in=[DataRequest.Status.SUBMITTED, DataRequest.Status.DECLINED,
                                               DataRequest.Status.FORWARDED])
        .select_related("requester").order_by("requested_at", "pk")),
        lambda r: f"{r.requester.name} · {r.title} · {_status(r)}")


def _entry_name(entry: Any) -> str:
    return entry.current_version.name if entry.current_version else entry.code


def _status(obj: Any) -> str:
    return str(obj.get_status_display())


def compose(department: Department, now: dt.datetime, since: dt.datetime) -> Digest | None:
    """The department's digest as of ``now`` (notifications from ``since`` on), or None when nothing
    waits and nothing was notified."""
    body = _Body(now)
    today = body.today
    with translation.override("zh-hans"):
        if department.is_centre:
            _centre_sections(body, department)
        else:
            _provider_sections(body, department)
            _consumer_sections(body, department)
        people = recipients(department)
        notes = list(Notification.objects.filter(recipient__in=people, created_at__gte=since)
                     .order_by("-created_at", "-id").values_list("subject", flat=True)[:MAX_NOTIFICATIONS * 4])
        subjects = list(dict.fromkeys(notes))  # the same message to several people is listed once
        if subjects:
            if body.lines:
                body.lines.append("")
            body.lines.append(f"新通知 / New notifications ({len(subjects)}): /inbox/")
            body.lines += [f"- {s}" for s in subjects[:MAX_NOTIFICATIONS]]
            if len(subjects) > MAX_NOTIFICATIONS:
                body.lines.append(f"- …… 另有 {len(subjects) - MAX_NOTIFICATIONS} 条 / "
                                  f"{len(subjects) - MAX_NOTIFICATIONS} more in the inbox")
    if not body.lines:
        return None
    name = department.short_name or department.name
    subject = (f"[govshare] {name} 每日摘要 / daily digest {today.isoformat()}: "
               f"{body.items} 项待办 / {body.items} to do")
    text = "\n".join([f"{department.name} — {today.isoformat()}", "", *body.lines])
    addresses = sorted({u.email for u in people if u.email})
    return Digest(department, subject, text, addresses, body.items)


# ------------------------------------------------------------------ sending


def _since(setting: DigestSetting, now: dt.datetime) -> dt.datetime:
    """Notifications since the last digest (at most a week back; a day back the first time)."""
    if setting.last_sent_on is None:
        return now - dt.timedelta(days=1)
    start = dt.datetime.combine(setting.last_sent_on, dt.time(digest_hour()), tzinfo=timezone.get_current_timezone())
    return max(start, now - MAX_LOOKBACK)


def _due_settings(today: dt.date) -> QuerySet[DigestSetting]:
    return DigestSetting.objects.filter(enabled=True, department__is_active=True).filter(
        Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today)).select_related("department")


def preview_digests(now: dt.datetime | None = None, *, departments: list[Department] | None = None) -> list[Digest]:
    """The digests that would be composed at ``now`` (nothing is claimed or sent): for the enabled
    departments not yet served that day, or for ``departments`` whatever their setting."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if departments is None:
        pairs = [(s.department, _since(s, now)) for s in _due_settings(today)]
    else:
        known = {s.department_id: s for s in DigestSetting.objects.filter(department__in=departments)}
        pairs = [(d, _since(known[d.pk], now) if d.pk in known else now - dt.timedelta(days=1)) for d in departments]
    digests = [compose(dept, now, since) for dept, since in pairs]
    return [d for d in digests if d is not None]


def send_daily_digests(now: dt.datetime | None = None) -> int:
    """Send today's digest to every department that switched it on (once a day, from DIGEST_HOUR on);
    returns the number of e-mails sent."""
    if not getattr(settings, "EMAIL_HOST", ""):
        return 0  # the digest is an e-mail; without SMTP the inbox is the only channel
    now = now or timezone.now()
    local = timezone.localtime(now)
    if local.hour < digest_hour():
        return 0
    today = local.date()
    sent = 0
    for setting in _due_settings(today):
        previous = setting.last_sent_on
        since = _since(setting, now)
        claim = DigestSetting.objects.filter(pk=setting.pk).filter(Q(last_sent_on__isnull=True) |
                                                                    Q(last_sent_on__lt=today))
        if not claim.update(last_sent_on=today):
            continue  # another worker has it
        digest = compose(setting.department, now, since)
        if digest is None or not digest.recipients:
            continue  # nothing to say today (or nobody to say it to)
        try:
            send_mail(digest.subject, digest.body, None, digest.recipients)
        except Exception:  # noqa: BLE001 — give the day back; the next run tries again
            log.exception("could not send the daily digest of %s", setting.department.code)
            DigestSetting.objects.filter(pk=setting.pk, last_sent_on=today).update(last_sent_on=previous)
            continue
        sent += 1
    return sent
