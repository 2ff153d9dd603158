"""``govshare datastore trace FILE`` — leak tracing at the console (泄露溯源; issue 11 item 5, SEC-4).

The centre's (the machine operator's) tool, like the other console commands: it sees every department's
deliveries.  It takes a file found outside the platform (CSV, XLSX, JSON Lines or a saved data-API answer) and
names the deliveries it can have come from (:mod:`govshare.datastore.trace`): a download whose SHA-256 is the
file's (certain), then the grants ranked by the share of the file's rows found in what each grant delivers, with
their downloads and data-API reads — who, when, which filters.  It only reads.

    govshare datastore trace FILE [--json] [--max-rows N]
    govshare datastore indexes ENTRY [--set ITEM,ITEM] [--as USER]   (the query indexes of an entry's centre table)

Exit status: 0 something matched, 1 nothing matched, 2 the file cannot be read (refused as hostile, not a table,
missing) or another error — printed in Chinese and English.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from govshare.commands._util import add, department_editor, print_help

NOTHING = 1
UNREADABLE = 2

STATES = {"active": "有效 / active", "pending": "未生效 / not yet valid", "expired": "已过期 / expired",
          "revoked": "已撤销 / revoked", "own_data": "提供部门自有数据, 不脱敏 / the provider's own data, unmasked"}

#: the report's notes: (中文, English), formatted with the note's parameters
NOTES = {
    "truncated": ("只比对了文件的前 {max} 行", "only the file's first {max} rows were compared"),
    "rows_not_compared": ("文件无法按表格读取, 未比对其中的行: {reason}",
                          "the file cannot be read as a table, its rows were not compared: {reason}"),
    "no_entry": ("没有哪个有交付记录的目录资源的信息项与文件的列名 ({columns}) 相符",
                 "no catalog entry with recorded deliveries has the file's column names ({columns}) as its items"),
    "no_centre_data": ("数据资源中心没有该资源的数据", "the centre holds no data of this entry"),
    "columns_not_in_centre": ("数据资源中心的表中没有这些列: {columns}", "the centre's table lacks: {columns}"),
    "centre_unavailable": ("数据资源中心暂时无法读取 ({code})", "the centre cannot be read now ({code})"),
    "centre_unreadable": ("数据资源中心的表无法读取 ({code})", "the centre's table cannot be read ({code})"),
    "no_grant_found": ("交付记录没有指明授权", "the deliveries name no grant"),
    "covers_no_column": ("该授权不含文件的任何一列, 不可能是来源", "the grant covers none of the file's columns: not "
                                                                     "a possible source"),
    "covers_some_columns": ("该授权只含文件的 {columns} 列 (共 {of})", "the grant covers only {columns} of {of}"),
    "masking_unusable": ("该授权的脱敏规则无法使用, 未比对: {reason}", "the grant's masking rule is unusable, not "
                                                                         "compared: {reason}"),
    "cannot_tell_apart": ("无法区分 {grants}: 它们对这些列交付相同的值 (相同的脱敏, 无假名化)",
                          "cannot tell apart {grants}: they deliver the same values of these columns (the same "
                          "masking, no pseudonym)"),
    "few_rows": ("只命中 {rows} 种不同的行, 证据较弱", "only {rows} distinct rows matched: weak evidence"),
    "partial": ("命中 {matched} / {rows} 行: 交付后数据可能已变化, 部分命中仍是证据",
                "{matched} of {rows} rows matched: the data may have changed since the delivery; a partial match is "
                "still evidence"),
    "pseudonyms_match": ("文件中 {matched} / {rows} 行的假名化列 ({columns}) 与该授权交付的一致 (其他列被改动或交付后已变化): "
                         "假名只属于该授权", "the pseudonymised columns ({columns}) of {matched} of {rows} rows are "
                         "the grant's (the other columns were edited or have changed since): the tokens are this "
                         "grant's alone"),
    "same_file_several_grants": ("同一文件 (相同 SHA-256) 在 {grants} 下都被下载过: 无法区分", "the same file (the same "
                                 "SHA-256) was downloaded under {grants}: they cannot be told apart"),
    "nothing_matched": ("未找到来源: 文件不是任何一次下载, 其中的行也不在任何授权交付的数据中",
                        "nothing matched: the file is no download, and none of its rows is in what any grant "
                        "delivers"),
}


def register(sub: Any) -> None:
    p = add(sub, "datastore", "数据资源中心 (泄露溯源) / the data resource centre: leak tracing", None)
    inner = p.add_subparsers(dest="datastore_command", metavar="ACTION")
    t = inner.add_parser("trace", help="找出平台外发现的文件可能来自哪些交付 (exit 0 找到, 1 未找到, 2 无法读取) / name the "
                                       "deliveries a file found outside the platform can have come from (exit 0 "
                                       "matched, 1 nothing, 2 unreadable)")
    t.add_argument("file", metavar="FILE", help="CSV、XLSX、JSON Lines 或保存的接口返回 (JSON) / a CSV, XLSX, JSON "
                                                "Lines file or a saved data-API answer (JSON)")
    t.add_argument("--json", action="store_true", help="JSON 输出 / JSON output")
    t.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help="最多比对的行数 (缺省 200000) / the most rows compared (default 200000)")
    t.set_defaults(handler=run_trace, needs_django=True)
    x = inner.add_parser("indexes", help="目录资源在数据资源中心的查询索引 (列出, 或 --set 设置) / the query indexes of an "
                                         "entry's centre table (list them, or choose them with --set)")
    x.add_argument("entry", metavar="ENTRY", help="资源代码或编号 / resource code or id")
    x.add_argument("--set", dest="items", default=None, metavar="ITEM,ITEM",
                   help="要建索引的数据项, 逗号分隔 (空串: 全部去掉) / the items to index, comma-separated ('' drops all)")
    x.add_argument("--as", dest="as_user", default=None,
                   help="以该提供部门用户身份设置 (缺省: 部门管理员或数据专员) / act as this user of the provider")
    x.set_defaults(handler=run_indexes, needs_django=True)
    p.set_defaults(handler=lambda args: print_help(p), needs_django=False)


def note_text(code: str, params: dict[str, Any]) -> str:
    shown = {k: "、".join(str(x) for x in v) if isinstance(v, list) else v for k, v in params.items()}
    zh, en = NOTES.get(code, (code, code))
    try:
        return f"{zh.format(**shown)} / {en.format(**shown)}"
    except (KeyError, IndexError, ValueError):
        return f"{code} {params}"


def run_trace(args: argparse.Namespace) -> int:
    from govshare.core.files import FileRefused
    from govshare.datastore import trace as tracing

    max_rows = args.max_rows if args.max_rows and args.max_rows > 0 else tracing.MAX_ROWS
    try:
        report = tracing.trace(args.file, max_rows=max_rows)
    except FileRefused as exc:
        if args.json:
            print(json.dumps({"matched": False, "error": exc.as_dict()}, ensure_ascii=False, indent=2))
        else:
            print(f"无法读取文件 / the file cannot be read: {exc.bilingual()}", file=sys.stderr)
        return UNREADABLE
    # a trace reads every department's deliveries: it leaves an access-log row (SEC-4), the OS user as operator
    from govshare.core import access_log
    from govshare.core.audit_codes import AuditCode

    best = report.best
    access_log.record(AuditCode.DATA_TRACED, object_type="datastore.trace", object_id=report.sha256[:64],
                      object_repr=str(args.file)[-200:], results=len(report.exact) + len(report.candidates),
                      sha256=report.sha256, rows=report.rows_read, matched=report.matched,
                      exact=[str(d.id) for d in report.exact][:20],
                      best=best.grant if best is not None else None)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print(report)
    return 0 if report.matched else NOTHING


def run_indexes(args: argparse.Namespace) -> int:
    """List an entry's query indexes, or choose them (``--set``) as a user of its provider; the worker builds them."""
    from govshare.catalog.models import CatalogEntry
    from govshare.core.errors import GovshareError, ManyProblems
    from govshare.datastore.actions import do_set_query_indexes
    from govshare.datastore.actions.indexes import reason
    from govshare.datastore.models import QueryIndex

    ref = args.entry.strip()
    entry = CatalogEntry.objects.select_related("provider").filter(code=ref).first() or (
        CatalogEntry.objects.select_related("provider").filter(pk=int(ref)).first() if ref.isdigit() else None)
    if entry is None:
        print(f"错误 / error: 没有该目录资源 / no such entry: {ref}", file=sys.stderr)
        return 2
    if args.items is not None:
        items = [i.strip() for i in args.items.replace("，", ",").split(",") if i.strip()]
        try:
            actor = department_editor(entry.provider, args.as_user)
            do_set_query_indexes(actor, entry, items)
        except ManyProblems as exc:
            for problem in exc.problems:
                print(f"错误 / error: {problem.bilingual()}", file=sys.stderr)
            return 2
        except GovshareError as exc:
            print(f"错误 / error: {exc.bilingual()}", file=sys.stderr)
            return 2
        print(f"已保存, 由后台任务建立 / saved, built by the worker ({actor.username}): {', '.join(items) or '—'}")
    states = {"waiting": "等待首次汇聚 / waiting for the first copy", "building": "建立中 / being built",
              "ready": "可用 / ready", "failed": "失败 / failed"}
    rows = list(QueryIndex.objects.filter(entry=entry))
    if not rows:
        print(f"{entry.code}: 无查询索引 / no query indexes")
    for row in rows:
        state = states.get(row.state, row.state)
        why = f" — {_both(lambda row=row: reason(row.message))}" if row.message else ""
        print(f"{entry.code}\t{row.item}\t{state}{why}")
    return 0


def _both(text: Any) -> str:
    """``text()`` in Chinese, then in English (the console serves both)."""
    from django.utils import translation

    with translation.override("zh-hans"):
        zh = str(text())
    with translation.override("en"):
        en = str(text())
    return zh if zh == en else f"{zh} / {en}"


# ------------------------------------------------------------------ the readable report


def _when(moment: Any) -> str:
    from django.utils import timezone

    if moment is None:
        return "—"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(moment) else \
        moment.strftime("%Y-%m-%d %H:%M")


def _size(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else \
        f"{size / 1024 / 1024:.1f} MiB"


def _filters(filters: list[Any]) -> str:
    shown = []
    for one in filters:
        try:
            item, op, values = one
        except (TypeError, ValueError):
            shown.append(str(one))
            continue
        shown.append(f"{item} {op} {','.join(str(v) for v in values)}")
    return "; ".join(shown) or "—"


def _who(who: str, name: str, department: str) -> str:
    detail = ", ".join(part for part in (name, department) if part)
    return f"{who or '—'} ({detail})" if detail else (who or "—")


def _download(record: Any, first: str, indent: str) -> None:
    covers = "" if record.covers else "  [未含全部比对列 / does not cover the compared columns]"
    print(f"{first}{_when(record.created_at)} {_who(record.who, record.name, record.department)} "
          f"{record.format.upper()} {record.rows if record.rows is not None else '—'} 行 / rows, "
          f"{record.status}{covers}")
    print(f"{indent}下载 / download {record.id}  SHA-256 {record.sha256 or '—'}")
    print(f"{indent}信息项 / items: {'、'.join(record.items)}  过滤 / filters: {_filters(record.filters)}")
    for fetch in record.fetches:
        print(f"{indent}取走 / fetched {_when(fetch.at)} {_who(fetch.who, fetch.name, fetch.department)}")


def _print(report: Any) -> None:
    print(f"文件 / file: {report.path}")
    print(f"  SHA-256: {report.sha256}  大小 / size: {_size(report.size)}")
    if report.format:
        encoding = f" ({report.encoding})" if report.encoding else ""
        print(f"  格式 / format: {report.format.upper()}{encoding}  比对行数 / rows compared: {report.rows_read}")
        print(f"  列 / columns: {'、'.join(c for c in report.columns if c) or '—'}")
    if report.exact:
        print()
        print("完全一致, 确定来源 / exact match, certain: this very file was downloaded")
        for record in report.exact:
            print(f"  资源 / entry {record.entry}, 授权 / grant {record.grant or '— (提供部门自有数据 / own data)'}")
            _download(record, "    ", "      ")
    shown = [c for c in report.candidates if c.matched_rows or c.exact]
    unmatched = [c for c in report.candidates if c not in shown]
    if shown:
        print()
        print("可能的来源 (按命中行占比排序) / possible sources, ranked by the share of the file's rows found:")
        for rank, candidate in enumerate(shown, start=1):
            _candidate(rank, candidate)
    if unmatched:
        print()
        print("已比对, 未命中 / compared, nothing found:")
        for candidate in unmatched:
            notes = "".join(f"; {note_text(n.code, n.params)}" for n in candidate.notes)
            print(f"  - {_grant_line(candidate)}: 0 / {candidate.file_rows}{notes}")
    for entry in report.entries:
        for note in entry.notes:
            print(f"  资源 / entry {entry.code} {entry.name}: {note_text(note.code, note.params)}")
    print()
    for note in report.notes:
        print(f"注意 / note: {note_text(note.code, note.params)}")
    print(_verdict(report))


def _grant_line(candidate: Any) -> str:
    who = f"{candidate.consumer} ({candidate.consumer_code})"
    if candidate.grant is None:
        return f"资源 / entry {candidate.entry}: {STATES['own_data']}, {who}"
    system = f", 系统 / system {candidate.system}" if candidate.system else ""
    return (f"授权 / grant {candidate.grant} [{STATES.get(candidate.state, candidate.state)}] {who}{system}, "
            f"{candidate.purpose}, {candidate.channel}")


def _candidate(rank: int, candidate: Any) -> None:
    print(f"{rank:>2}. {_grant_line(candidate)}")
    print(f"    资源 / entry {candidate.entry} {candidate.entry_name}")
    exact = "  完全一致 / exact match" if candidate.exact else ""
    print(f"    命中 / matched: {candidate.matched_rows} / {candidate.file_rows} 行 / rows "
          f"({candidate.share:.1%}), {candidate.distinct_matched} 种不同的行 / distinct{exact}")
    if candidate.pseudonym_columns:
        print(f"    假名一致 / pseudonyms matched ({', '.join(candidate.pseudonym_columns)}): "
              f"{candidate.pseudonym_rows} / {candidate.file_rows} 行 / rows")
    columns = ", ".join(f"{c} [{candidate.masking[c]}]" if c in candidate.masking else c for c in candidate.columns)
    print(f"    比对列 / columns: {columns}")
    if candidate.same_values_as:
        print(f"    与之交付相同的值 / delivers the same values as: {', '.join(candidate.same_values_as)}")
    for note in candidate.notes:
        print(f"    注意 / note: {note_text(note.code, note.params)}")
    covering = [d for d in candidate.downloads if d.covers]
    print(f"    批量下载 / downloads: {len(candidate.downloads)} (含比对列 / covering the columns: {len(covering)})")
    for record in candidate.downloads:
        _download(record, "      - ", "          ")
    reads = candidate.reads
    if reads.calls:
        print(f"    接口查询 / data-API reads: {reads.calls} 次 / calls, {reads.rows} 行 / rows, "
              f"{_when(reads.first)} – {_when(reads.last)}")
        for reader in reads.readers:
            print(f"      读取人 / reader {_who(reader.who, reader.name, reader.department)}: {reader.calls} 次 / "
                  f"calls, {reader.rows} 行 / rows")
        for read in reads.latest:
            print(f"      - {_when(read.at)} {_who(read.who, read.name, read.department)} "
                  f"{read.rows if read.rows is not None else '—'} 行 / rows, {read.format or 'json'}, "
                  f"过滤 / filters: {_filters(read.filters)}")
    else:
        print("    接口查询 / data-API reads: 0")


def _verdict(report: Any) -> str:
    if report.exact and report.ambiguous:
        grants = ", ".join(report.ambiguous)
        return (f"结论 / verdict: 确定是下载过的文件, 但无法区分 {grants} / certain that it is a downloaded file, but "
                f"cannot tell apart {grants}")
    if report.exact:
        first = report.exact[0]
        return (f"结论 / verdict: 确定 — 该文件就是下载 {first.id} (授权 {first.grant or '—'}) / certain — the file is "
                f"download {first.id} (grant {first.grant or '—'})")
    best = report.best
    if best is None:
        return "结论 / verdict: 未找到来源 / nothing matched"
    if report.ambiguous:
        grants = ", ".join(report.ambiguous)
        return f"结论 / verdict: 无法区分 {grants} / cannot tell apart {grants}"
    label = best.grant or f"{best.entry} (提供部门自有数据 / own data)"
    if best.pseudonym_rows > best.matched_rows:
        share = best.pseudonym_rows / best.file_rows if best.file_rows else 0.0
        return (f"结论 / verdict: 最可能的来源 {label}, {share:.1%} 的行的假名与之一致 / most likely source {label}, "
                f"its pseudonyms in {share:.1%} of the rows")
    return (f"结论 / verdict: 最可能的来源 {label}, 命中 {best.share:.1%} / most likely source {label}, "
            f"{best.share:.1%} of the rows found")
