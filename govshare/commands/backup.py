"""``govshare backup|restore|drill`` — backup, restore and the yearly emergency drill (SEC-5, LN-§23).

    govshare backup [-o FILE] [--with-keys [--passphrase-file F]]
    govshare restore FILE [--passphrase-file F]        # onto an empty instance only
    govshare restore FILE --keys-only [--passphrase-file F]   # put a lost secret_key back
    govshare drill [FILE] [--passphrase-file F]        # default: the newest backup in GOVSHARE_BACKUP_DIR

See docs/operations.md for the schedule, the restore steps and the drill; the archive format is
described in :mod:`govshare.core.backup`.  Each prints what it did; errors say which step failed and
why, exit status 1 (drill: any step failed) or 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from govshare.commands._util import add

PASSPHRASE_HELP = "口令文件（首行为口令）；缺省时在终端询问 / file holding the passphrase; asked for on a terminal if absent"


def register(sub: Any) -> None:
    b = add(sub, "backup", "备份数据库、数据文件和（可选，加密的）密钥 / back up the database, the data files and "
                           "(optionally, encrypted) the keys", run_backup)
    b.add_argument("-o", "--output", default=None,
                   help="输出文件 (.tar.gz 或 .tar)，缺省写入备份目录 / output file (.tar.gz or .tar); default: a "
                        "new file in GOVSHARE_BACKUP_DIR")
    b.add_argument("--with-keys", action="store_true",
                   help="用口令加密后一并备份密钥 / include the keys, encrypted with a passphrase")
    b.add_argument("--passphrase-file", default=None, help=PASSPHRASE_HELP)

    r = add(sub, "restore", "将备份恢复到空实例 / restore a backup onto an empty instance", run_restore)
    r.add_argument("archive", help="备份文件 / backup file")
    r.add_argument("--passphrase-file", default=None, help=PASSPHRASE_HELP + " (backups with keys)")
    r.add_argument("--keys-only", action="store_true",
                   help="只把备份中的密钥放回数据目录 / only put the backup's keys back into the data dir")
    r.add_argument("--no-reindex", action="store_true", help="不排队重建搜索索引 / do not queue the search index rebuild")
    # run by restore and drill in the restored instance (a fresh process that reads its keys)
    r.add_argument("--probe", choices=("check", "finish", "keys"), default=None, help=argparse.SUPPRESS)
    r.set_defaults(checks_key=False)  # the target is empty, or its key is what --keys-only puts back

    d = add(sub, "drill", "应急演练：恢复到临时位置并校验 / the yearly drill: restore into a scratch place and check it",
            run_drill)
    d.add_argument("archive", nargs="?", default=None,
                   help="备份文件，缺省为备份目录中最新的 / backup file; default: the newest in GOVSHARE_BACKUP_DIR")
    d.add_argument("--passphrase-file", default=None,
                   help="口令文件：同时演练用备份中的密钥恢复 / passphrase file: also drill restoring the keys")
    d.add_argument("--json", action="store_true", help="以 JSON 输出报告 / print the report as JSON")



def _passphrase(args: argparse.Namespace, *, confirm: bool = False, required: bool = True) -> str | None:
    from govshare.core.backup import BackupError, read_passphrase_file

    if args.passphrase_file:
        return read_passphrase_file(args.passphrase_file)
    if not required:
        return None
    if not sys.stdin.isatty():
        raise BackupError("需要口令：请用 --passphrase-file 指定 / a passphrase is needed: give --passphrase-file")
    first = getpass.getpass("口令 / passphrase: ")
    if confirm and getpass.getpass("再次输入 / again: ") != first:
        raise BackupError("两次输入的口令不同 / the passphrases differ")
    if not first:
        raise BackupError("口令为空 / the passphrase is empty")
    return first


def _fail(exc: Exception) -> int:
    print(f"错误 / error: {exc}", file=sys.stderr)
    return 1


def run_backup(args: argparse.Namespace) -> int:
    from govshare.core.actions.backup import do_backup
    from govshare.core.backup import BackupError

    try:
        passphrase = _passphrase(args, confirm=True) if args.with_keys else None
        out, manifest = do_backup(Path(args.output) if args.output else None, passphrase=passphrase)
    except BackupError as exc:
        return _fail(exc)
    files = sum(1 for m in manifest.members if m.startswith("data/"))
    print(f"OK: {out} ({out.stat().st_size} bytes; database {manifest.vendor}, {files} files, "
          f"keys {'encrypted' if manifest.has_keys else 'not included'}) / 备份完成")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from django.apps import apps
    from django.conf import settings

    from govshare.core.actions.backup import do_restore, do_restore_keys, instance_env, live_database
    from govshare.core.backup import BackupError

    path = Path(args.archive)
    if args.probe:
        return run_probe(args)
    try:
        if args.keys_only:
            written, checked = do_restore_keys(path, passphrase=_passphrase(args) or "")
            chain = checked["audit"]
            print(f"OK: {', '.join(written)} → {settings.DATA_DIR} / 密钥已放回; audit chain / 审计链: "
                  f"{'OK' if chain['ok'] else 'BROKEN'} ({chain['checked']} rows)")
            return 0 if chain["ok"] else 1
        result, report = do_restore(path, passphrase=_passphrase(args, required=False))
    except BackupError as exc:
        return _fail(exc)
    chain = report["audit"]
    print(f"restored / 已恢复: database {result.manifest.vendor}, {result.files} files"
          + (f", keys {', '.join(result.keys_written)}" if result.keys_written else ""))
    print(f"audit chain / 审计链: {'OK' if chain['ok'] else 'BROKEN'} ({chain['checked']} rows)")
    print(f"ID numbers decrypted / 身份证号解密: {report['decrypt']['ok']}/{report['decrypt']['sampled']}")
    if report["key_problem"]:
        print(f"key / 密钥: {report['key_problem']}", file=sys.stderr)
        return 1
    if not args.no_reindex and apps.is_installed("govshare.catalog"):
        env = instance_env(live_database(), Path(settings.DATA_DIR), env_keys=not result.keys_written)
        proc = subprocess.run([sys.executable, "-m", "govshare.cli", "catalog", "reindex"], env=env,
                              capture_output=True, text=True, check=False)
        print("search index / 搜索索引: " + ("rebuild queued, the worker runs it / 已排队重建" if proc.returncode == 0
                                          else f"not queued / 未排队: {proc.stderr.strip()[-500:]}"))
    return 0 if chain["ok"] else 1


def run_drill(args: argparse.Namespace) -> int:
    from govshare.core.actions.backup import DrillStep, do_drill
    from govshare.core.backup import BackupError

    def say(step: DrillStep) -> None:
        if not args.json:
            mark = "OK  " if step.ok else "FAIL"
            print(f"[{mark}] {step.label}: {step.seconds:.2f} s" + (f" — {step.note}" if step.note else ""),
                  flush=True)

    try:
        report = do_drill(Path(args.archive) if args.archive else None,
                          passphrase=_passphrase(args, required=False), say=say)
    except BackupError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    else:
        print(f"{'PASSED / 演练通过' if report.ok else 'FAILED / 演练未通过'}: {report.archive}, "
              f"total / 总用时 {report.seconds:.2f} s")
    return 0 if report.ok else 1


def run_probe(args: argparse.Namespace) -> int:
    from govshare.core.actions.backup import probe

    print(json.dumps(probe(mode=args.probe, archive=args.archive), ensure_ascii=False))
    return 0
