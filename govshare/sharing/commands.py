"""``govshare sharing remind|escalate|digest|check-access|grants`` — the sharing clocks and grants at the
console (issue 4; SHR-2, SHR-4, SHR-8).

Who acts.  Everything here is the machine operator's work, as ``govshare catalog apply-due`` is:
``remind``, ``escalate`` and ``digest`` run exactly what the worker's periodic hooks run (the
system acting: audit rows name no actor, ``ip`` "cli"), so cron can drive them where no worker runs.
``check-access`` asks the one access check every delivery channel asks and explains the answer
without recording it (the channels record their denials); ``grants`` lists a department's grants
for the operator, whatever the department — both only read.

    govshare sharing remind
    govshare sharing escalate
    govshare sharing digest [--dry-run [--date 2026-10-12] [--department GA]]
    govshare sharing check-access --entry 301/000001 --system SJ-DJ --purpose 行政依据 [--items 姓名,性别]
    govshare sharing grants --department SJ [--active] [--given] [--json]

Exit status: 0 done (``check-access``: allowed), 3 ``check-access`` denied, 2 an error (printed in
Chinese and English).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from govshare.commands._util import add, print_help

DENIED = 3


def register(sub: Any) -> None:
    p = add(sub, "sharing", "数据共享 (提醒、督办、摘要、授权核验) / sharing: reminders, escalation, digest, "
                            "access check, grants", None)
    inner = p.add_subparsers(dest="sharing_command", metavar="ACTION")

    r = inner.add_parser("remind", help="提醒即将到期的办理人 (到期前一个工作日) / remind whoever must act the working "
                                        "day before a deadline")
    r.set_defaults(handler=run_remind, needs_django=True)

    e = inner.add_parser("escalate", help="逾期事项报中心督办 / escalate overdue clocks to the centre")
    e.set_defaults(handler=run_escalate, needs_django=True)

    d = inner.add_parser("digest", help="发送每日摘要邮件 (每个部门每天一次, 8 点后) / send the daily digest e-mails "
                                        "(once a day per department, from 08:00)")
    d.add_argument("--dry-run", action="store_true",
                   help="只显示将发送的摘要, 不发送也不记录 / print the digests, send and mark nothing")
    d.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                   help="与 --dry-run 一起: 按该日 8 点预览 / with --dry-run: preview as of that day at 08:00")
    d.add_argument("--department", default=None, metavar="CODE",
                   help="与 --dry-run 一起: 预览该部门 (不论是否开启) / with --dry-run: preview this department, "
                        "switched on or not")
    d.set_defaults(handler=run_digest, needs_django=True)

    c = inner.add_parser("check-access", help="核验某部门系统或用户能否获取某资源 / may this system or user receive "
                                              "this entry's data? (exit 0 allowed, 3 denied)")
    c.add_argument("--entry", required=True, metavar="CODE", help="资源代码 / resource code, e.g. 301/000001")
    who = c.add_mutually_exclusive_group(required=True)
    who.add_argument("--system", default=None, metavar="CODE", help="使用系统代码 / consuming system code")
    who.add_argument("--user", default=None, metavar="USERNAME", help="用户名 / username")
    c.add_argument("--purpose", required=True, help="用途 / purpose (行政依据、工作参考、数据校核、业务协同 …)")
    c.add_argument("--items", default=None, metavar="A,B",
                   help="信息项, 逗号分隔; 缺省为全部 / information items, comma separated (default: all)")
    c.add_argument("--channel", default=None, choices=("table", "file", "api"),
                   help="共享方式 / channel: table 库表, file 文件, api 接口")
    c.add_argument("--json", action="store_true", help="JSON 输出 / JSON output")
    c.set_defaults(handler=run_check_access, needs_django=True)

    g = inner.add_parser("grants", help="列出部门持有 (或给出) 的共享授权 / list the grants a department holds (or "
                                        "gives)")
    g.add_argument("--department", required=True, metavar="CODE", help="部门代码 / department code")
    g.add_argument("--active", action="store_true", help="只列有效授权 / active grants only")
    g.add_argument("--given", action="store_true",
                   help="列出作为提供部门给出的授权 / the grants the department gives as provider")
    g.add_argument("--json", action="store_true", help="JSON 输出 / JSON output")
    g.set_defaults(handler=run_grants, needs_django=True)

    p.set_defaults(handler=lambda args: print_help(p), needs_django=False)


# ------------------------------------------------------------------ helpers


def _department(code: str) -> Any:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed
    from govshare.core.models import Department

    dept = Department.objects.filter(code=(code or "").strip()).first()
    if dept is None:
        raise ValidationFailed("unknown_department", _("No department with code %(code)s."), code=code,
                               field="--department")
    return dept


def _date(text: str) -> dt.date:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("invalid_date", _("Enter a valid date."), field="--date") from None


# ------------------------------------------------------------------ clocks and digest


def run_remind(args: argparse.Namespace) -> int:
    from govshare.sharing.actions import send_reminders

    count = send_reminders()
    print(f"已发送 {count} 条提醒 / {count} reminders sent")
    return 0


def run_escalate(args: argparse.Namespace) -> int:
    from govshare.sharing.actions import escalate_overdue

    count = escalate_overdue()
    print(f"已督办 {count} 项逾期事项 / {count} overdue items escalated to the centre")
    return 0


def run_digest(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.utils import timezone

    from govshare.sharing.digest import digest_hour, preview_digests, send_daily_digests

    if not args.dry_run:
        if args.date or args.department:
            print("错误 / error: --date 和 --department 只用于 --dry-run / --date and --department go with "
                  "--dry-run only", file=sys.stderr)
            return 2
        if not getattr(settings, "EMAIL_HOST", ""):
            print("未配置 EMAIL_HOST, 不发送邮件 / EMAIL_HOST is not set: no e-mail is sent")
            return 0
        count = send_daily_digests()
        print(f"已发送 {count} 份每日摘要 / {count} daily digests sent")
        return 0
    now = timezone.now()
    if args.date:
        day = _date(args.date)
        now = dt.datetime.combine(day, dt.time(digest_hour()), tzinfo=timezone.get_current_timezone())
    departments = [_department(args.department)] if args.department else None
    digests = preview_digests(now, departments=departments)
    for digest in digests:
        print(f"收件人 / To: {', '.join(digest.recipients) or '—'}")
        print(f"主题 / Subject: {digest.subject}")
        print()
        print(digest.body)
        print("-" * 72)
    print(f"{len(digests)} 份摘要 (未发送) / digests (not sent)")
    return 0


# ------------------------------------------------------------------ access and grants


def run_check_access(args: argparse.Namespace) -> int:
    from django.utils.translation import gettext_lazy as _

    from govshare.catalog.models import CatalogEntry
    from govshare.core import access_log
    from govshare.core.audit_codes import AuditCode
    from govshare.core.errors import ValidationFailed
    from govshare.core.models import User
    from govshare.sharing.access import check_access
    from govshare.sharing.models import ConsumingSystem

    entry = CatalogEntry.objects.select_related("current_version").filter(code=args.entry.strip()).first()
    if entry is None:
        raise ValidationFailed("unknown_entry", _("No catalog entry with code %(code)s."), code=args.entry,
                               field="--entry")
    system = user = None
    if args.system:
        system = ConsumingSystem.objects.select_related("department").filter(code__iexact=args.system.strip()).first()
        if system is None:
            raise ValidationFailed("unknown_system", _("No consuming system with code %(code)s."), code=args.system,
                                   field="--system")
    else:
        user = User.objects.filter(username=args.user.strip()).first()
        if user is None:
            raise ValidationFailed("unknown_user", _("No user named %(name)s."), name=args.user, field="--user")
    items = [i.strip() for i in args.items.replace("，", ",").split(",") if i.strip()] if args.items else None
    decision = check_access(entry=entry, purpose=args.purpose.strip(), items=items, user=user, system=system,
                            channel=args.channel)
    # every access check leaves an access-log row (SEC-4, LN-§23): no request, the OS user as operator
    access_log.record(AuditCode.READ_ACCESS_CHECK, entry, purpose=decision.purpose, items=list(decision.items),
                      allowed=decision.allowed, channel=args.channel, system=system.code if system else None,
                      user=user.username if user else None)
    if args.json:
        print(json.dumps(decision.as_dict(), ensure_ascii=False, indent=2))
        return 0 if decision.allowed else DENIED
    who = f"{system.code} ({system.name}, {system.department.name})" if system else \
        f"{user.username} ({user.real_name})" if user else ""
    version = entry.current_version
    print(f"资源 / entry: {entry.code} {version.name if version else ''}")
    print(f"申请方 / who: {who}")
    print(f"用途 / purpose: {decision.purpose}")
    print(f"信息项 / items: {'、'.join(decision.items) or '—'}")
    if decision.allowed:
        print(f"允许 / allowed: {decision.explain()}")
        if decision.grant is not None:
            grant = decision.grant
            print(f"  授权 / grant: {grant.number} ({grant.get_channel_display()}, "
                  f"{grant.valid_from.isoformat()} – {grant.expires_on.isoformat() if grant.expires_on else '—'})")
        for name, rule in decision.masking.items():
            print(f"  脱敏 / masking: {name}: {rule}")
        return 0
    print("拒绝 / denied:")
    for reason in decision.reasons:
        print(f"  - [{reason.code}] {reason.message}")
    return DENIED


def run_grants(args: argparse.Namespace) -> int:
    from django.utils import timezone

    from govshare.sharing.models import Grant

    dept = _department(args.department)
    today = timezone.localdate()
    qs = Grant.objects.filter(provider=dept) if args.given else Grant.objects.filter(consumer=dept)
    if args.active:
        qs = qs.usable(today)  # the one definition of a usable grant (SHR-4)
    grants = list(qs.select_related("entry__current_version", "consumer", "provider", "system")
                  .order_by("-granted_at", "-id"))
    if args.json:
        print(json.dumps([_grant_dict(g, today) for g in grants], ensure_ascii=False, indent=2))
        return 0
    side = "给出 / given by" if args.given else "持有 / held by"
    print(f"{dept.name} {side}: {len(grants)} 项授权 / grants")
    for g in grants:
        other = g.consumer if args.given else g.provider
        name = g.entry.current_version.name if g.entry.current_version else ""
        until = g.expires_on.isoformat() if g.expires_on else "—"
        print(f"{g.number}\t{g.state(today)}\t{g.entry.code} {name}\t{other.name}\t{g.purpose}\t{g.channel}\t"
              f"{g.system.code if g.system else '—'}\t{g.valid_from.isoformat()}–{until}\t{'、'.join(g.items)}")
    return 0


def _grant_dict(grant: Any, today: dt.date) -> dict[str, Any]:
    return {
        "number": grant.number, "state": grant.state(today), "source": grant.source, "entry": grant.entry.code,
        "entry_name": grant.entry.current_version.name if grant.entry.current_version else "",
        "provider": grant.provider.code, "consumer": grant.consumer.code,
        "system": grant.system.code if grant.system else None, "items": grant.items, "masking": grant.masking,
        "purpose": grant.purpose, "channel": grant.channel, "conditions": grant.conditions,
        "valid_from": grant.valid_from.isoformat(), "expires_on": grant.expires_on.isoformat() if grant.expires_on
        else None, "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
    }
