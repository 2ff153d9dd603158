"""``govshare audit verify|purge|export`` — the audit log for operators (SEC-4).

* ``verify [--expect-head HEADS]`` walks the hash chains (the audit log and the access log of reads):
  prints OK with the number of rows, or names the first broken row (id, code, time, reason) and
  exits 1.  ``--expect-head`` takes what ``head`` printed earlier; each named row must still be there.
* ``head`` prints both chains' heads on one line, for auditors to keep outside the system::

      audit=ID:HASH access=ID:HASH

  (``ID`` the newest row's id, ``HASH`` its 64 hex digits; ``0:000…0`` for a chain still empty).
  Pass the whole line, quoted, to ``verify --expect-head``; a bare ``ID:HASH`` noted by an older
  version names the audit chain alone.
* ``purge [--dry-run]`` deletes rows of both logs older than the longest audit-log retention of the
  policy profiles in use (never younger than the national floor of 6 months).
* ``export --format csv|xlsx -o FILE [filters]`` writes the (filtered) log to a file.

Each run is itself recorded in the audit log, naming the operating-system user.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from govshare.commands._util import add, print_help

FILTER_OPTIONS = (
    ("--from", "date_from", "起始日期 / first day, YYYY-MM-DD (Asia/Shanghai)"),
    ("--to", "date_to", "截止日期 / last day, YYYY-MM-DD (Asia/Shanghai)"),
    ("--code", "code", "事件代码 / event code, e.g. 1001 (see docs/audit-codes.md)"),
    ("--domain", "domain", "领域 / domain: core, catalog, sharing, exchange, ..."),
    ("--outcome", "outcome", "结果 / outcome: success, denied, failure"),
    ("--actor", "actor", "操作人用户名或姓名包含 / user name or real name contains"),
    ("--department", "department", "操作人所属部门 ID 或名称包含 / the acting user's department: id, or name contains"),
    ("--object-department", "object_department", "对象所属部门 ID 或名称包含 / the object's department: id, or name contains"),
    ("--object-type", "object_type", "对象类型 / object type, e.g. core.department"),
    ("--object-id", "object_id", "对象 ID / object id"),
    ("--request-id", "request_id", "请求 ID / request id"),
    ("--text", "q", "全文 / free text in object, actor name or detail"),
    ("--log", "log", "读写 / writes (the audit log, default), reads (the access log) or both"),
)


def register(sub: Any) -> None:
    p = add(sub, "audit", "审计日志 / audit log", None)
    inner = p.add_subparsers(dest="audit_command", metavar="ACTION")
    verify = inner.add_parser("verify", help="校验哈希链 / check the hash chain, name the first broken row")
    verify.add_argument("--expect-head", default=None, metavar="'audit=ID:HASH access=ID:HASH'",
                        help="此前记下的链头必须仍在 / the heads noted earlier (`audit head`) must still be there")
    verify.set_defaults(handler=run_verify, needs_django=True)
    head = inner.add_parser("head", help="显示审计日志和访问日志的链头, 供审计员另行保存 / print both chains' heads "
                                         "(audit=ID:HASH access=ID:HASH) for auditors to keep")
    head.set_defaults(handler=run_head, needs_django=True)
    purge = inner.add_parser("purge", help="删除超过保留期限的记录 / delete rows older than the retention period")
    purge.add_argument("--dry-run", action="store_true", help="只显示将删除的数量 / only show what would go")
    purge.set_defaults(handler=run_purge, needs_django=True)
    export = inner.add_parser("export", help="导出 / export to CSV or XLSX")
    export.add_argument("--format", dest="fmt", choices=["csv", "xlsx"], default="csv",
                        help="格式 / format (csv is UTF-8 with BOM)")
    export.add_argument("-o", "--output", required=True, help="输出文件 / output file")
    for flag, dest, text in FILTER_OPTIONS:
        export.add_argument(flag, dest=dest, default=None, help=text)
    export.set_defaults(handler=run_export, needs_django=True)
    p.set_defaults(handler=lambda args: print_help(p))


def run_verify(args: argparse.Namespace) -> int:
    from govshare.core.actions.audit import do_verify_audit

    report = do_verify_audit(None, operator=True, expect_head=args.expect_head)
    if report.ok:
        print(f"OK: {report.checked} rows, chain intact / 哈希链完整，共 {report.checked} 条; "
              f"access log / 访问日志: {report.reads_checked} rows / 条")
        return 0
    assert report.error is not None
    print(f"BROKEN / 哈希链已被破坏: {report.error.bilingual()}", file=sys.stderr)
    if report.first_broken_id is not None:
        log = "access log / 访问日志" if report.chain == "access" else "audit log / 审计日志"
        print(f"first broken row / 首个损坏记录 ({log}): id={report.first_broken_id} code={report.code} "
              f"reason={report.reason}", file=sys.stderr)
    return 1


def run_head(args: argparse.Namespace) -> int:
    from govshare.core.actions.audit import format_heads

    print(format_heads())  # one line: audit=ID:HASH access=ID:HASH
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from django.utils import timezone

    from govshare.core.actions.audit import do_purge_audit

    result = do_purge_audit(None, operator=True, dry_run=args.dry_run)
    rule = result.rule
    cutoff = timezone.localtime(rule.cutoff).strftime("%Y-%m-%d %H:%M:%S")
    print(f"retention / 保留期限: {rule.amount} {rule.unit} ({rule.profile}, {rule.source}); "
          f"profiles in use / 使用中的配置: {', '.join(rule.profiles)}")
    print(f"cutoff / 截止时间: {cutoff} (Asia/Shanghai)")
    for log, deleted, last in (("audit log / 审计日志", result.deleted, result.last_purged_id),
                               ("access log / 访问日志", result.reads_deleted, result.reads_last_purged_id)):
        ids = f" (ids ≤ {last})" if last else ""
        if args.dry_run:
            print(f"dry run / 试运行, {log}: {deleted} rows would be deleted / 将删除 {deleted} 条{ids}")
        else:
            print(f"deleted / 已删除, {log}: {deleted} rows / 条{ids}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from govshare.core.actions.audit import do_export_audit

    filters = {dest: getattr(args, dest) for _flag, dest, _text in FILTER_OPTIONS}
    export = do_export_audit(None, filters, args.fmt, operator=True)
    path = Path(args.output)
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("wb") as out:
            written = export.write(out)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(f"OK: {written} rows → {path} / 已导出 {written} 条")
    return 0
