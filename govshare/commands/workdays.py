"""``govshare workdays add|between|import|show`` — the working-day clock (issue 2 §5).

    govshare workdays add 2026-09-30 5 [--profile P]   → 2026-10-13   (… provisional)
    govshare workdays between 2026-09-30 2026-10-13    → 5
    govshare workdays import holidays-2027.csv --year 2027
    govshare workdays show 2026
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from govshare.commands._util import add, print_help


def register(sub: Any) -> None:
    p = add(sub, "workdays", "工作日计算与节假日日历 / working-day clock and holiday calendar", None)
    inner = p.add_subparsers(dest="workdays_command", metavar="ACTION")

    a = inner.add_parser("add", help="某日之后第 N 个工作日 / the N-th working day after DATE (DATE not counted)")
    a.add_argument("date", help="起算日 / start day, YYYY-MM-DD")
    a.add_argument("n", help="工作日数 / number of working days")
    a.add_argument("--profile", default=None, help="政策配置 / policy profile (e.g. longnan)")
    a.set_defaults(handler=run_add, needs_django=True)

    b = inner.add_parser("between", help="A 之后至 B(含)的工作日数 / working days after A up to and including B")
    b.add_argument("a", help="YYYY-MM-DD")
    b.add_argument("b", help="YYYY-MM-DD")
    b.set_defaults(handler=run_between, needs_django=True)

    i = inner.add_parser("import", help="导入年度放假通知 / import a year's official holiday notice (CSV or JSON)")
    i.add_argument("file", help="通知文件 / notice file: CSV date,kind,name or JSON")
    i.add_argument("--year", required=True, type=int, help="年份 / year of the notice")
    i.set_defaults(handler=run_import, needs_django=True)

    s = inner.add_parser("show", help="列出某年节假日与调休上班日 / list a year's holidays and make-up days")
    s.add_argument("year", type=int, help="年份 / year")
    s.set_defaults(handler=run_show, needs_django=True)

    p.set_defaults(handler=lambda args: print_help(p), needs_django=False)


def _date(value: str, field: str) -> dt.date:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed

    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed("invalid_date", _("%(value)r is not a date in the form YYYY-MM-DD."), value=value,
                               field=field) from None


def _int(value: str, field: str) -> int:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed

    try:
        return int(value.strip())
    except ValueError:
        raise ValidationFailed("invalid_amount", _("The number of working days must be a whole number."),
                               field=field) from None


def run_add(args: argparse.Namespace) -> int:
    from govshare.core.workdays import working_due

    due = working_due(_date(args.date, "date"), _int(args.n, "n"), args.profile)
    print(f"{due.due_date.isoformat()} provisional" if due.provisional else due.due_date.isoformat())
    return 0


def run_between(args: argparse.Namespace) -> int:
    from govshare.core.workdays import working_days_between

    print(working_days_between(_date(args.a, "a"), _date(args.b, "b")))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.actions.calendar import do_import_holidays
    from govshare.core.errors import ValidationFailed
    from govshare.core.holidays import MAX_NOTICE_BYTES, NoticeError

    path = Path(args.file)
    try:
        with path.open("rb") as fh:
            content = fh.read(MAX_NOTICE_BYTES + 1)
    except OSError as exc:
        raise ValidationFailed("file_unreadable", _("The file cannot be read: %(reason)s."),
                               reason=exc.strerror or str(exc), where=str(path)) from None
    try:
        result = do_import_holidays(None, args.year, path.name, content, operator=True)
    except NoticeError as exc:
        for problem in exc.problems:
            print(f"错误 / error: {problem.bilingual()}", file=sys.stderr)
        return 2
    print(f"{result.year}: {result.holidays} holidays / 个节假日, {result.workdays} make-up workdays / 个调休上班日"
          f" imported / 已导入")
    if result.replaced_manual:
        print(f"replaced hand-edited days / 已替换手工修改的日期: {', '.join(result.replaced_manual)}")
    print(f"recompute job / 期限重算任务: {result.job.pk}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from govshare.core.workdays import WorkCalendar

    cal = WorkCalendar()
    days = cal.year_days(args.year)
    source = cal.year_source(args.year)
    label = {"import": "official (imported notice) / 官方(已导入通知)",
             "package": "official (chinese-calendar) / 官方(chinese-calendar)",
             "fallback": "provisional: no official data, Mon-Fri minus fixed holidays / 暂定:无官方数据"}[source]
    print(f"{args.year}: {label}")
    for info in days:
        if info.is_special:
            print(f"{info.date.isoformat()}\t{info.kind}\t{info.name or '-'}\t{info.source}")
    return 0
