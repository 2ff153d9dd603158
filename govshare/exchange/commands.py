"""``govshare exchange sources|test|tables`` — front-end databases at the console (issue 10; EXC-6).

The machine operator's work, like the other console commands: it sees every department's sources;
``test`` records its answer and an audit row naming no user (ip "cli").

    govshare exchange sources [--department SJ] [--json]
    govshare exchange test CODE [--json]
    govshare exchange tables CODE [--table SCHEMA.NAME] [--json]
    govshare exchange run ENTRY [--here]       # queue a full copy of the entry's bound table (--here: run it now)
    govshare exchange status [ENTRY] [--json]  # the latest copies
    govshare exchange reconcile ENTRY [--json] # compare the source table and the centre's copy (exit 1: differ)

Exit status: 0 done, 1 the source could not be reached or read (the reason printed in words), 2 an error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from govshare.commands._util import add, fail


def register(sub: Any) -> None:
    p = add(sub, "exchange", "数据交换: 前置库 / exchange: front-end databases", None)
    inner = p.add_subparsers(dest="exchange_command", metavar="ACTION")
    s = inner.add_parser("sources", help="列出前置库 / list the front-end databases")
    s.add_argument("--department", default=None, help="部门代码 / department code")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=_sources, needs_django=True)
    t = inner.add_parser("test", help="测试前置库连接 / test a front-end database's connection")
    t.add_argument("code", help="前置库代码 / the source's code")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=_test, needs_django=True)
    b = inner.add_parser("tables", help="列出前置库的表, 或一张表的字段 / list a source's tables, or one table's columns")
    b.add_argument("code", help="前置库代码 / the source's code")
    b.add_argument("--table", default=None, help="SCHEMA.NAME (SQLite: main.NAME)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=_tables, needs_django=True)
    bl = inner.add_parser("bindings", help="挂接的库表 (模式、最近成功拷贝、是否过期) / the bound tables (mode, last "
                                           "successful copy, stale)")
    bl.add_argument("--department", default=None, help="部门代码 / department code")
    bl.add_argument("--json", action="store_true")
    bl.set_defaults(handler=_bindings, needs_django=True)
    r = inner.add_parser("run", help="拷贝到数据资源中心 (全量或增量) / copy an entry's bound table into the centre "
                                     "(full or incremental)")
    r.add_argument("entry", help="资源代码 / resource code, e.g. 102001/000001")
    r.add_argument("--kind", choices=["auto", "full", "incremental"], default="auto",
                   help="auto: 按挂接的模式 / as the binding's mode says (the first copy is full)")
    r.add_argument("--here", action="store_true",
                   help="在本进程中立即执行, 不经后台工作进程 / run it in this process now, not on a worker")
    r.set_defaults(handler=_run, needs_django=True)
    rb = inner.add_parser("rebuild", help="重建数据资源中心的表并全量拷贝 (资源新版本改了信息项) / make the centre's table "
                                          "again for the entry's current items and copy the whole table into it")
    rb.add_argument("entry", help="资源代码 / resource code")
    rb.add_argument("--yes", action="store_true", help="确认: 拷贝结束前该表只有已拷贝的行 / confirm: until the copy "
                                                       "ends the table holds only what it has copied")
    rb.add_argument("--here", action="store_true", help="在本进程中立即执行 / run it in this process now")
    rb.set_defaults(handler=_rebuild, needs_django=True)
    cf = inner.add_parser("confirm-deletes", help="确认被批量删除保护拦下的删除 / confirm the deletions the "
                                                  "mass-delete guard held")
    cf.add_argument("run", type=int, help="拷贝编号 / the run's number")
    cf.add_argument("--pending", type=int, default=None, help="您确认的删除行数 / the number of deletions you confirm")
    cf.add_argument("--here", action="store_true", help="在本进程中立即执行 / run it in this process now")
    cf.set_defaults(handler=_confirm, needs_django=True)
    rf = inner.add_parser("refuse-deletes", help="拒绝被拦下的删除 / refuse the deletions the guard held")
    rf.add_argument("run", type=int, help="拷贝编号 / the run's number")
    rf.set_defaults(handler=_refuse, needs_django=True)
    cc = inner.add_parser("cross-check", help="一数一源核查: 比对两个提供方的同一数据 / run the cross-source checks "
                                             "(all active ones, or one); exit 1 when values differ")
    cc.add_argument("check", nargs="?", type=int, default=None, help="核查编号 / the check's number")
    cc.set_defaults(handler=_cross_check, needs_django=True)
    bs = inner.add_parser("base", help="基础库: 无条件共享的基础信息资源及其状态 / the base libraries (EXC-8) and what "
                                       "keeps each from its consumers")
    bs.add_argument("--json", action="store_true")
    bs.set_defaults(handler=_base, needs_django=True)
    st = inner.add_parser("status", help="最近的拷贝 / the latest copies")
    st.add_argument("entry", nargs="?", default=None, help="资源代码 / resource code")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=_status, needs_django=True)
    rc = inner.add_parser("reconcile", help="核对前置库与数据资源中心 (行数、内容哈希、差异主键) / compare the source and "
                                            "the centre's copy (counts, hashes, differing keys); exit 1 when they differ")
    rc.add_argument("entry", help="资源代码 / resource code")
    rc.add_argument("--json", action="store_true")
    rc.set_defaults(handler=_reconcile, needs_django=True)


def _source(code: str) -> Any:
    from govshare.exchange.models import DataSource

    return DataSource.objects.select_related("department").filter(code__iexact=code.strip()).first()


def _sources(args: Any) -> int:
    from govshare.exchange.api import source_out
    from govshare.exchange.models import DataSource

    qs = DataSource.objects.select_related("department").order_by("department__code", "name")
    if args.department:
        qs = qs.filter(department__code=args.department)
    rows = list(qs)
    if args.json:
        print(json.dumps([source_out(s) for s in rows], ensure_ascii=False, default=str, indent=1))
        return 0
    for s in rows:
        test = "—" if s.last_test_ok is None else ("ok" if s.last_test_ok else s.last_test_code)
        state = "" if s.is_active else "  (停用 / deactivated)"
        print(f"{s.code:<16} {s.department.code:<8} {s.kind:<10} {s.address_text():<40} {test}{state}  {s.name}")
    if not rows:
        print("没有前置库 / no front-end database")
    return 0


def _test(args: Any) -> int:
    from govshare.exchange.actions import do_test_source

    source = _source(args.code)
    if source is None:
        return fail(f"没有代码为 {args.code} 的前置库 / no front-end database with the code {args.code}")
    result = do_test_source(None, source, operator=True)
    if args.json:
        print(json.dumps({"ok": result.ok, "code": result.code, "elapsed_ms": result.elapsed_ms,
                          "server_version": result.report.server_version if result.report else "",
                          "tables": result.report.tables if result.report else None,
                          "message": result.error.bilingual() if result.error else ""}, ensure_ascii=False))
    elif result.ok and result.report is not None:
        print(f"连接成功 / connected: {result.report.server_version}; {result.report.tables} 张表和视图 / tables "
              f"and views; {result.elapsed_ms} ms")
    else:
        print(result.error.bilingual() if result.error else result.code, file=sys.stderr)
    return 0 if result.ok else 1


def _tables(args: Any) -> int:
    from govshare.core.errors import GovshareError
    from govshare.exchange.sources import shape_of, tables_of

    source = _source(args.code)
    if source is None:
        return fail(f"没有代码为 {args.code} 的前置库 / no front-end database with the code {args.code}")
    try:
        if args.table:
            schema, _, name = args.table.rpartition(".")
            _, shape = shape_of(None, source.pk, schema, name, operator=True)  # no schema: the source's default
            if args.json:
                print(json.dumps({"schema": shape.schema, "name": shape.name, "kind": shape.kind,
                                  "primary_key": list(shape.primary_key),
                                  "columns": [vars(c) for c in shape.columns]}, ensure_ascii=False))
                return 0
            print(f"{shape.schema}.{shape.name} ({shape.kind}) 主键 / primary key: "
                  f"{', '.join(shape.primary_key) or '—'}")
            for c in shape.columns:
                size = c.length if c.length is not None else (f"{c.precision},{c.scale}" if c.precision else "")
                print(f"  {c.ordinal:>3} {c.name:<30} {c.data_type}{f'({size})' if size else ''}"
                      f"{'' if c.nullable else ' NOT NULL'}")
            return 0
        _, tables = tables_of(None, source.pk, operator=True)
    except GovshareError as exc:
        print(exc.bilingual(), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([vars(t) for t in tables], ensure_ascii=False))
        return 0
    for t in tables:
        rows = "" if t.estimated_rows is None else f"~{t.estimated_rows}"
        print(f"{t.schema}.{t.name:<40} {t.kind:<6} {rows}")
    return 0


def _binding(code: str) -> Any:
    from govshare.exchange.models import TableBinding

    return TableBinding.objects.select_related("entry", "source").filter(entry__code=code.strip()).first()


def _run(args: Any) -> int:
    from govshare.exchange.actions import do_start_run

    binding = _binding(args.entry)
    if binding is None:
        return fail(f"资源 {args.entry} 没有挂接库表 / entry {args.entry} has no bound table")
    run = do_start_run(None, binding, operator=True, kind=args.kind)
    print(f"已排队 / queued: {run.kind} run {run.pk} ({run.run_id}) -> {run.target}")
    return _here(run, args.here)


def _rebuild(args: Any) -> int:
    from govshare.exchange.actions import do_rebuild_centre_table

    binding = _binding(args.entry)
    if binding is None:
        return fail(f"资源 {args.entry} 没有挂接库表 / entry {args.entry} has no bound table")
    run = do_rebuild_centre_table(None, binding, confirm=args.yes, operator=True)
    print(f"已排队 / queued: the centre's table {run.target} is made again, then full run {run.pk} ({run.run_id})")
    return _here(run, args.here)


def _here(run: Any, here: bool) -> int:
    """A run just queued: with ``--here`` run in this process now (no worker), its outcome printed; else 0."""
    from govshare.core import jobs
    from govshare.exchange.models import ExchangeRun

    if not here:
        return 0
    assert run.job is not None
    jobs.execute(run.job.pk, "cli")
    return _outcome(ExchangeRun.objects.get(pk=run.pk))


def _outcome(run: Any) -> int:
    from govshare.exchange.models import ExchangeRun

    print(f"{run.status}: {run.rows_read} 行读取 / rows read, {run.inserted} 新增 / new, {run.updated} 更新 / changed, "
          f"{run.unchanged} 未变 / unchanged, {run.rejected} 隔离 / quarantined, {run.deleted} 删除 / deleted")
    if run.status == ExchangeRun.Status.HELD:
        print(f"批量删除保护: {run.pending_deletes}/{run.live_rows} 行待确认 — govshare exchange confirm-deletes {run.pk} "
              f"/ mass-delete guard: {run.pending_deletes} of {run.live_rows} rows wait for confirmation",
              file=sys.stderr)
    if run.error_message:
        print(f"{run.error_message.get('zh', '')} / {run.error_message.get('en', '')}", file=sys.stderr)
    return 0 if run.status == ExchangeRun.Status.SUCCEEDED else 1


def _bindings(args: Any) -> int:
    from govshare.exchange import schedule

    qs = schedule.bindings_shown().order_by("entry__code")
    if args.department:
        qs = qs.filter(entry__provider__code=args.department.strip())
    rows = list(qs)
    if args.json:
        from govshare.exchange.api import binding_out

        print(json.dumps([binding_out(b) for b in rows], ensure_ascii=False, default=str, indent=1))
        return 0
    for b in rows:
        last = f"{b.last_success_at:%Y-%m-%d %H:%M}" if b.last_success_at else "-"
        flags = " ".join(f for f, on in (("过期/stale", schedule.is_stale(b)), ("暂停/paused", not b.is_active)) if on)
        mode = f"{b.mode}({b.update_column})" if b.update_column else b.mode
        print(f"{b.entry.code:<16} {b.source.code}:{b.table_text():<24} {mode:<24} {b.schedule:<7} {last:<16} {flags}")
    if not rows:
        print("没有挂接的库表 / no bound tables")
    return 0


def _confirm(args: Any) -> int:
    from govshare.exchange.actions import do_confirm_deletes
    from govshare.exchange.models import ExchangeRun

    run = ExchangeRun.objects.filter(pk=args.run).first()
    if run is None:
        return fail(f"没有拷贝 {args.run} / no run {args.run}")
    run = do_confirm_deletes(None, run, pending=args.pending, operator=True)
    print(f"已确认 / confirmed: {run.confirmed_deletes} 行 / rows, run {run.pk}")
    return _here(run, args.here)


def _refuse(args: Any) -> int:
    from govshare.exchange.actions import do_refuse_deletes
    from govshare.exchange.models import ExchangeRun

    run = ExchangeRun.objects.filter(pk=args.run).first()
    if run is None:
        return fail(f"没有拷贝 {args.run} / no run {args.run}")
    run = do_refuse_deletes(None, run, operator=True)
    print(f"已拒绝 / refused: run {run.pk} {run.status}")
    return 0


def _status(args: Any) -> int:
    from govshare.exchange.api import run_out
    from govshare.exchange.models import ExchangeRun

    qs = ExchangeRun.objects.select_related("binding__entry", "binding__version", "job").order_by("-created_at")
    if args.entry:
        if _binding(args.entry) is None:  # a typo is not "no copies yet" (review of the 22nd session)
            return fail(f"资源 {args.entry} 没有挂接库表 / entry {args.entry} has no bound table")
        qs = qs.filter(binding__entry__code=args.entry.strip())
    rows = list(qs[:50])
    if args.json:
        print(json.dumps([run_out(r) for r in rows], ensure_ascii=False, default=str, indent=1))
        return 0
    for r in rows:
        print(f"{r.pk:>5} {r.binding.entry.code:<16} {r.kind:<11} {r.status:<10} {r.rows_read:>10} "
              f"+{r.inserted} ~{r.updated} ={r.unchanged} !{r.rejected} -{r.deleted}  {r.created_at:%Y-%m-%d %H:%M}")
    if not rows:
        print("没有拷贝记录 / no copies yet")
    return 0


def _reconcile(args: Any) -> int:
    from govshare.exchange.actions import do_reconcile
    from govshare.exchange.api import reconciliation_out

    binding = _binding(args.entry)
    if binding is None:
        return fail(f"资源 {args.entry} 没有挂接库表 / entry {args.entry} has no bound table")
    rec = do_reconcile(None, binding, operator=True)
    if args.json:
        print(json.dumps(reconciliation_out(rec), ensure_ascii=False, indent=1, default=str))
        return 0 if rec.equal else 1
    if rec.error_message:
        print(f"{rec.error_message.get('zh', '')} / {rec.error_message.get('en', '')}", file=sys.stderr)
        return 1
    verdict = "一致 / equal" if rec.equal else "不一致 / they differ"
    print(f"{verdict}: 前置库 / source {rec.source_rows} 行 rows {rec.source_hash}; "
          f"中心 / centre {rec.centre_rows} 行 rows {rec.centre_hash}; "
          f"无法入库 / not storable {rec.source_unstorable}; {rec.seconds or 0:.1f} s")
    for label, keys in (("中心缺少 / missing in the centre", rec.missing_in_centre),
                        ("中心多出 / extra in the centre", rec.extra_in_centre),
                        ("内容不同 / different values", rec.different)):
        if keys:
            print(f"  {label}: {', '.join(keys)}")
    return 0 if rec.equal else 1


def _cross_check(args: Any) -> int:
    from govshare.exchange.actions import do_run_cross_check
    from govshare.exchange.models import CrossCheck

    checks = CrossCheck.objects.filter(pk=args.check) if args.check else CrossCheck.objects.filter(is_active=True)
    if args.check and not checks.exists():
        return fail(f"没有核查 {args.check} / no check {args.check}")
    differ = False
    for check in checks:
        done = do_run_cross_check(None, check, operator=True)
        if done.error:
            print(f"{done.pk:>4} {done.name}: {done.error.get('zh', '')} / {done.error.get('en', '')}", file=sys.stderr)
            differ = True
            continue
        differ = differ or bool(done.differing)
        print(f"{done.pk:>4} {done.name}: {done.compared} 共有主键 / shared keys, {done.differing} 不一致 / differ, "
              f"{done.left_only} / {done.right_only} 仅一方有 / on one side only")
    return 1 if differ else 0


def _base(args: Any) -> int:
    from govshare.exchange.quality import base_libraries

    rows = base_libraries(None)
    if args.json:
        print(json.dumps([{"entry": r["entry"].code, "name": r["version"].name, "provider": r["entry"].provider.name,
                           "score": r["score"].score if r["score"] else None, "problems": r["problems"]}
                          for r in rows], ensure_ascii=False, indent=1))
    else:
        for r in rows:
            score = r["score"].score if r["score"] and r["score"].score is not None else "-"
            print(f"{r['entry'].code:<16} {r['version'].name:<24} {score!s:>4}  {' '.join(r['problems']) or 'ok'}")
        if not rows:
            print("没有已发布的基础信息资源 / no published base information resource")
    return 1 if any(r["problems"] for r in rows) else 0
