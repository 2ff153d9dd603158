"""``govshare catalog import|template|export|search|reindex|apply-due`` — the resource catalog at the
console (issue 3 §4, §6; CAT-1, CAT-4, CAT-7, CAT-9).

Who acts.  An import changes a department's catalog, so it runs as one of that department's
editors: ``--as USERNAME`` (a department administrator or data specialist of ``--department``), by
default the department's first active department administrator (else its first data specialist).
The entries are created and audited in that person's name, with ``ip`` "cli".  ``template`` does
the same.  ``export`` runs as the machine operator (the whole published catalog, audited with the
OS user) unless ``--as`` names a user (what that user may see) or ``--public`` asks for the open
catalog only.  ``search`` searches as the public unless ``--as`` is given.  ``reindex`` and
``apply-due`` are operator work.

    govshare catalog import catalog.xlsx --department GA [--as zhang] [--dry-run]
    govshare catalog template --department GA -o ga.xlsx [--empty]
    govshare catalog export --format dcat-ttl -o catalog.ttl
    govshare catalog search 人口 --json --limit 5
    govshare catalog reindex --now
    govshare catalog apply-due
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import IO, Any

from govshare.commands._util import add, department_editor, named_user, print_help

EXPORT_CHOICES = ("xlsx", "json", "dcat-jsonld", "dcat-ttl")


def register(sub: Any) -> None:
    p = add(sub, "catalog", "政务信息资源目录 / the resource catalog", None)
    inner = p.add_subparsers(dest="catalog_command", metavar="ACTION")

    i = inner.add_parser("import", help="导入部门目录 (xlsx 或 json, 全部成功或全部不导入) / import a department's "
                                        "catalog (xlsx or json, all or nothing)",
                         description="导入部门目录。以 --as 指定的部门编目人员身份执行, 缺省为该部门第一位部门管理员。"
                                     " / Import a department's catalog, acting as the --as user (default: the "
                                     "department's first department administrator).")
    i.add_argument("file", help="文件 / file (.xlsx from the template, or .json)")
    i.add_argument("--department", required=True, help="部门代码 / department code")
    i.add_argument("--as", dest="as_user", default=None,
                   help="以该部门编目人员身份执行 / act as this editor of the department (username)")
    i.add_argument("--dry-run", action="store_true", help="只检查不保存 / check only, save nothing")
    i.set_defaults(handler=run_import, needs_django=True)

    t = inner.add_parser("template", help="下载导入模板 (含本部门现有资源) / the import workbook, pre-filled with the "
                                          "department's entries")
    t.add_argument("--department", required=True, help="部门代码 / department code")
    t.add_argument("-o", "--output", required=True, help="输出文件 / output file (.xlsx)")
    t.add_argument("--as", dest="as_user", default=None, help="以该部门编目人员身份 / act as this editor")
    t.add_argument("--empty", action="store_true", help="空白模板, 不含现有资源 / a blank template")
    t.set_defaults(handler=run_template, needs_django=True)

    e = inner.add_parser("export", help="导出已发布目录 / export the published catalog")
    e.add_argument("--format", required=True, choices=EXPORT_CHOICES, help="xlsx | json | dcat-jsonld | dcat-ttl")
    e.add_argument("-o", "--output", default=None,
                   help="输出文件; 文本格式缺省输出到标准输出 / output file (text formats default to stdout)")
    e.add_argument("--department", default=None, help="只导出该部门 / only this department (code)")
    e.add_argument("--as", dest="as_user", default=None, help="按该用户可见范围导出 / what this user may see")
    e.add_argument("--public", action="store_true", help="仅开放目录 (公众可见) / the open catalog only")
    e.add_argument("--base-uri", default=None, help="DCAT 标识符前缀 / base of the DCAT IRIs")
    e.set_defaults(handler=run_export, needs_django=True)

    s = inner.add_parser("search", help="检索目录 / search the catalog")
    s.add_argument("query", help="检索词 / query")
    s.add_argument("--json", action="store_true", help="JSON 输出 / JSON output")
    s.add_argument("--limit", type=int, default=20, help="结果数 (1-100) / number of results")
    s.add_argument("--as", dest="as_user", default=None, help="按该用户可见范围检索 / search as this user")
    s.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="筛选, 可重复 / filter, repeatable (classification, provider, share_type, …)")
    s.add_argument("--sort", default="relevance", choices=("relevance", "date", "code"))
    s.set_defaults(handler=run_search, needs_django=True)

    r = inner.add_parser("reindex", help="重建搜索索引 (后台作业) / rebuild the search index (background job)")
    r.add_argument("--now", action="store_true", help="在前台立即重建并显示进度 / rebuild now, showing progress")
    r.set_defaults(handler=run_reindex, needs_django=True)

    a = inner.add_parser("apply-due", help="执行通知期已满的变更并提醒逾期更新任务 / carry out changes whose notice "
                                           "period ended and flag overdue update tasks")
    a.set_defaults(handler=run_apply_due, needs_django=True)

    sn = inner.add_parser("snapshot", help="发布辖区目录快照 (可由 cron 定期执行) / publish a jurisdiction catalog "
                                           "snapshot (e.g. periodically from cron)")
    sn.add_argument("--jurisdiction", required=True, help="行政区划代码 / jurisdiction code")
    sn.add_argument("--title", required=True, help="快照标题 / title")
    sn.add_argument("--note", default="", help="说明 / note")
    sn.set_defaults(handler=run_snapshot, needs_django=True)

    p.set_defaults(handler=lambda args: print_help(p), needs_django=False)


# ------------------------------------------------------------------ helpers


def _department(code: str) -> Any:
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed
    from govshare.core.models import Department

    dept = Department.objects.filter(code=(code or "").strip(), is_active=True).first()
    if dept is None:
        raise ValidationFailed("unknown_department", _("No active department with code %(code)s."), code=code,
                               field="--department")
    return dept


_user = named_user
_editor = department_editor


def _open_output(path: str | None) -> tuple[IO[bytes], bool]:
    if not path or path == "-":
        return sys.stdout.buffer, False
    return Path(path).open("wb"), True


# ------------------------------------------------------------------ sub-commands


def run_import(args: argparse.Namespace) -> int:
    from govshare.catalog.actions import do_import_catalog
    from govshare.core.errors import ManyProblems

    dept = _department(args.department)
    actor = _editor(dept, args.as_user)
    try:
        report = do_import_catalog(actor, Path(args.file), Path(args.file).name, dept, dry_run=args.dry_run)
    except ManyProblems as exc:
        print(f"错误 / error: {exc.bilingual()}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem.bilingual()}", file=sys.stderr)
        print("未导入任何内容 / nothing was imported", file=sys.stderr)
        return 2
    verb = "可导入 / would import" if report.dry_run else "已导入 / imported"
    print(f"{verb} {dept.code} ({actor.username}): {report.created} 新增 / created, {report.updated} 更新 / "
          f"updated, {report.unchanged} 未变 / unchanged")
    for code in report.created_codes + report.updated_codes:
        if code:
            print(code)
    return 0


def run_template(args: argparse.Namespace) -> int:
    from govshare.catalog.actions import do_download_template

    dept = _department(args.department)
    actor = _editor(dept, args.as_user)
    path = Path(args.output)
    with path.open("wb") as out:
        count = do_download_template(actor, dept, out, prefill=not args.empty)
    print(f"{path}: {count} 个资源 / entries")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from govshare.catalog.actions import do_export_catalog

    dept = _department(args.department) if args.department else None
    actor = _user(args.as_user) if args.as_user else None
    operator = actor is None and not args.public
    if args.format == "xlsx" and not args.output:
        print("错误 / error: xlsx 须用 -o 指定文件 / xlsx needs -o FILE", file=sys.stderr)
        return 2
    out, close = _open_output(args.output)
    try:
        count = do_export_catalog(actor, args.format, out, department=dept, operator=operator,
                                  base_uri=args.base_uri)
    finally:
        if close:
            out.close()
        else:
            out.flush()
    if args.output:
        print(f"{args.output}: {count} 个资源 / entries")
    else:
        print(f"{count} 个资源 / entries", file=sys.stderr)
    return 0


def run_search(args: argparse.Namespace) -> int:
    from django.utils.translation import gettext_lazy as _

    from govshare.catalog import search
    from govshare.core.errors import ValidationFailed

    user = _user(args.as_user) if args.as_user else None
    filters: dict[str, list[str]] = {}
    for text in args.filter:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed("invalid_filter", _("A filter is written KEY=VALUE (%(value)s)."), value=text,
                                   field="--filter")
        filters.setdefault(key.strip(), []).append(value.strip())
    limit = max(1, min(100, args.limit))
    result = search.search(user, args.query, filters=filters or None, sort=args.sort, per_page=limit)
    if args.json:
        body = {
            "total": result.total,
            "query_terms": list(result.query_terms),
            "hits": [_jsonable(dataclasses.asdict(hit)) for hit in result.hits],
            "facets": {key: [dataclasses.asdict(v) for v in values] for key, values in result.facets.items()},
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    print(f"共 {result.total} 条 / {result.total} results")
    for hit in result.hits:
        print(f"{hit.code}\t{hit.name}\t{hit.provider_name}\t{hit.status}")
    return 0


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


def run_reindex(args: argparse.Namespace) -> int:
    from govshare.catalog.actions.imports import do_start_reindex, record_inline_reindex

    if not args.now:
        job = do_start_reindex(None, operator=True)
        print(f"已排队 / queued: job {job.pk} (govshare jobs show {job.pk})")
        return 0
    from govshare.catalog import search

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    count = search.rebuild(progress=progress)
    print("", file=sys.stderr)
    record_inline_reindex(count)
    print(f"已重建索引 / index rebuilt: {count} 个资源 / entries")
    return 0


def run_apply_due(args: argparse.Namespace) -> int:
    from govshare.catalog.actions import apply_due_changes, notify_overdue

    applied = apply_due_changes()
    overdue = notify_overdue()
    print(f"{applied} 项变更已生效 / changes took effect; {overdue} 项逾期更新任务已提醒 / overdue update tasks "
          f"flagged")
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    from django.utils.translation import gettext_lazy as _

    from govshare.catalog.actions import do_publish_snapshot
    from govshare.core.errors import ValidationFailed
    from govshare.core.models import Jurisdiction

    jurisdiction = Jurisdiction.objects.filter(code=(args.jurisdiction or "").strip()).first()
    if jurisdiction is None:
        raise ValidationFailed("unknown_jurisdiction", _("No jurisdiction with code %(code)s."),
                               code=args.jurisdiction, field="--jurisdiction")
    snap = do_publish_snapshot(None, jurisdiction, title=args.title, note=args.note, operator=True)
    print(f"快照 / snapshot #{snap.number}: {snap.entry_count} 个资源 / entries, "
          f"{snap.department_count} 个部门 / departments, sha256 {snap.sha256}")
    return 0
