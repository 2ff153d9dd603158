"""The optional daily digest per department: one e-mail a day to the department's admins and data
specialists listing what waits for them (answers due, overdue items, open cases and error reports)
and the notifications of the last day.  Switched on per department (:class:`DigestSetting`); sent by
the worker after ``DIGEST_HOUR`` local time, claimed with a conditional UPDATE so it goes out once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.models import Department, Notification
from govshare.core.permissions import get_for, require
from govshare.core.roles import Capability
from govshare.sharing.actions._common import department_editors
from govshare.sharing.models import (
    Application,
    CoordinationCase,
    DataRequest,
    DigestSetting,
    ErrorReport,
    remaining_working_days,
)

DIGEST_HOUR = 8


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


def _line(number: str | None, what: str, due: dt.date | None, today: dt.date) -> str:
    if due is None:
        return f"- {number} {what}"
    left = remaining_working_days(due, today)
    state = f"逾期 {-left} 个工作日 / overdue by {-left} working days" if left < 0 else \
        f"剩余 {left} 个工作日 / {left} working days left"
    return f"- {number} {what} — {due.isoformat()} ({state})"


def compose(department: Department, today: dt.date, since: dt.datetime) -> tuple[str, str] | None:
    """Subject and body of the department's digest, or None when there is nothing to say."""
    lines: list[str] = []
    to_answer = Application.objects.filter(provider=department, status=Application.Status.PROVIDER_REVIEW) \
        .select_related("deadline", "entry_version", "consumer").order_by("deadline__due_at")
    if to_answer:
        lines.append("待答复的共享申请 / Share applications to answer:")
        lines += [_line(a.number, f"{a.consumer.name} · {a.entry_version.name}",
                        a.deadline.due_date if a.deadline else None, today) for a in to_answer]
    mine = Application.objects.filter(consumer=department, status__in=Application.OPEN_STATUSES) \
        .select_related("deadline", "entry_version")
    if mine:
        lines.append("本部门在办的申请 / Our open applications:")
        lines += [_line(a.number, f"{a.entry_version.name} · {a.get_status_display()}",
                        a.deadline.due_date if a.deadline else None, today) for a in mine]
    errors = ErrorReport.objects.filter(provider=department, status__in=ErrorReport.OPEN_STATUSES) \
        .select_related("deadline")
    if errors:
        lines.append("待核实的数据纠错 / Data errors to verify:")
        lines += [_line(e.number, e.field, e.deadline.due_date if e.deadline else None, today) for e in errors]
    cases = CoordinationCase.objects.filter(Q(provider=department) | Q(consumer=department),
                                            status__in=CoordinationCase.OPEN_STATUSES).select_related("deadline")
    if cases:
        lines.append("协调中的案件 / Open coordination cases:")
        lines += [_line(c.number, c.get_status_display(), c.deadline.due_date if c.deadline else None, today)
                  for c in cases]
    requests = DataRequest.objects.filter(owner=department, status=DataRequest.Status.ASSIGNED)
    if requests:
        lines.append("待登记的数据需求 / Data requests to register:")
        lines += [_line(r.number, r.title, None, today) for r in requests]
    recent = Notification.objects.filter(recipient__department=department, created_at__gte=since) \
        .values_list("subject", flat=True).distinct()[:50]
    if recent:
        lines.append("过去一天的通知 / Notifications of the last day:")
        lines += [f"- {s}" for s in recent]
    if not lines:
        return None
    subject = f"[govshare] {department.short_name or department.name} 每日摘要 / daily digest {today.isoformat()}"
    return subject, "\n".join(lines)


def send_daily_digests(now: dt.datetime | None = None) -> int:
    """Send today's digest to every department that switched it on (once a day, after DIGEST_HOUR)."""
    if not getattr(settings, "EMAIL_HOST", ""):
        return 0  # the digest is an e-mail; without SMTP the inbox is the only channel
    now = now or timezone.now()
    local = timezone.localtime(now)
    if local.hour < DIGEST_HOUR:
        return 0
    today = local.date()
    sent = 0
    for setting in DigestSetting.objects.filter(enabled=True).filter(
            Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today)).select_related("department"):
        if not DigestSetting.objects.filter(pk=setting.pk).filter(
                Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today)).update(last_sent_on=today):
            continue  # another worker sent it
        with translation.override("zh-hans"):
            message = compose(setting.department, today, now - dt.timedelta(days=1))
        if message is None:
            continue
        addresses = sorted({u.email for u in department_editors(setting.department) if u.email})
        if not addresses:
            continue
        subject, body = message
        send_mail(subject, body, None, addresses)
        sent += 1
    return sent
