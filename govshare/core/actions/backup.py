"""Backup, restore and the emergency drill as operator actions (SEC-5, LN-§23).

Operator work only (``govshare backup|restore|drill``), audited with the OS user: a backup records
``BACKUP_CREATED`` on the live instance, a restore ``BACKUP_RESTORED`` in the restored one (written by
a fresh process that holds the restored key), a drill ``RESTORE_DRILL_RUN`` on the live instance with
every step, its time and the outcome.  The archive work itself is :mod:`govshare.core.backup`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from govshare.core import audit, backup, keys
from govshare.core.actions.audit import _operator_detail
from govshare.core.audit_codes import AuditCode

#: how many encrypted ID numbers the drill decrypts
DECRYPT_SAMPLE = 20


def backup_dir() -> Path:
    config = getattr(settings, "CONFIG", None)
    configured = getattr(config, "backup_dir", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "backups"


def live_database() -> backup.Database:
    return backup.Database.from_settings(connection.settings_dict)


def _server_version() -> tuple[int | None, str | None]:
    if connection.vendor != "postgresql":
        return None, None
    with connection.cursor() as cur:
        cur.execute("SHOW server_version_num")
        num = int(cur.fetchone()[0])
        cur.execute("SHOW server_version")
        return num // 10000, str(cur.fetchone()[0])


def _migrations() -> dict[str, list[str]]:
    from django.db.migrations.recorder import MigrationRecorder

    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import django

    try:
        own = version("govshare")
    except PackageNotFoundError:
        own = "unknown"
    return {"govshare": own, "django": django.get_version(), "python": platform.python_version()}


def live_keys() -> dict[str, str]:
    found = {"secret_key": settings.SECRET_KEY}
    if settings.GOVSHARE_FIELD_KEY != settings.SECRET_KEY:
        found["field_key"] = settings.GOVSHARE_FIELD_KEY
    return found


def do_backup(out: Path | None, *, passphrase: str | None = None) -> tuple[Path, backup.Manifest]:
    """Write a backup archive (keys only with a passphrase) and record ``BACKUP_CREATED``."""
    out = out or backup_dir() / backup.default_name()
    major, server = _server_version()
    info = {"versions": _versions(), "migrations": _migrations(), "server_major": major, "server_version": server}
    manifest = backup.create(out, database=live_database(), data_dir=Path(settings.DATA_DIR),
                             fingerprint=keys.fingerprint(), info=info,
                             keys=live_keys() if passphrase else None, passphrase=passphrase,
                             skip=(backup_dir(), out.parent))
    members = manifest.members
    detail = {"file": str(out), "bytes": out.stat().st_size, "members": len(members),
              "files": sum(1 for m in members if m.startswith(backup.DATA_PREFIX)),
              "keys_included": manifest.has_keys, "database": connection.vendor, **_operator_detail()}
    with transaction.atomic():
        audit.record(AuditCode.BACKUP_CREATED, actor=None, object_type="backup", object_id=out.name[:64],
                     object_repr=out.name, detail=detail)
    return out, manifest


# ------------------------------------------------------------------ probing a restored instance


def probe(*, mode: str = "check", archive: str = "") -> dict[str, Any]:
    """Run inside a restored instance: is the key right, does the audit chain verify, do ID numbers
    decrypt, how many rows.  Mode ``finish`` (after a real restore) records ``BACKUP_RESTORED`` there,
    ``keys`` (after ``restore --keys-only``) ``KEYS_RESTORED``; ``check`` (the drill) writes nothing."""
    from cryptography.fernet import InvalidToken

    from govshare.core import crypto
    from govshare.core.actions.audit import check_chain
    from govshare.core.models import User

    report: dict[str, Any] = {}
    started = time.monotonic()
    report["key_problem"] = keys.problem(record=False)
    started = _lap(report, "key", started)
    chain = check_chain()
    report["audit"] = {"ok": chain.ok, "checked": chain.checked, "first_broken_id": chain.first_broken_id,
                       "reason": chain.reason}
    started = _lap(report, "audit", started)
    tokens = list(User.objects.exclude(id_number_encrypted="").order_by("?")
                  .values_list("id_number_encrypted", flat=True)[:DECRYPT_SAMPLE])
    decrypted = 0
    for token in tokens:
        try:
            value = crypto.decrypt(token)
        except (InvalidToken, ValueError):
            continue
        decrypted += 1 if len(value) == 18 else 0
    report["decrypt"] = {"sampled": len(tokens), "ok": decrypted}
    started = _lap(report, "decrypt", started)
    with connection.cursor() as cur:
        tables = connection.introspection.table_names(cur)
        counts = {}
        for table in sorted(tables):
            cur.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = int(cur.fetchone()[0])
    report["tables"] = counts
    _lap(report, "counts", started)
    code = {"finish": AuditCode.BACKUP_RESTORED, "keys": AuditCode.KEYS_RESTORED}.get(mode)
    if code is not None and not report["key_problem"]:
        with transaction.atomic():
            audit.record(code, actor=None, object_type="backup",
                         object_id=Path(archive).name[:64], object_repr=Path(archive).name,
                         detail={"file": archive, "audit_ok": chain.ok, "audit_rows": chain.checked,
                                 **_operator_detail()})
    return report


def _lap(report: dict[str, Any], name: str, started: float) -> float:
    now = time.monotonic()
    report.setdefault("seconds", {})[name] = round(now - started, 3)
    return now


def run_probe(database: backup.Database, data_dir: Path, *, mode: str = "check", archive: str = "",
              env_keys: bool = True) -> dict[str, Any]:
    """:func:`probe` in a fresh ``govshare`` process pointed at the restored instance."""
    env = instance_env(database, data_dir, env_keys=env_keys)
    argv = [sys.executable, "-m", "govshare.cli", "restore", archive, "--probe", mode]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise backup.BackupError(f"检查恢复后的实例失败 / checking the restored instance failed: "
                                 f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def instance_env(database: backup.Database, data_dir: Path, *, env_keys: bool) -> dict[str, str]:
    """The environment of another instance; without ``env_keys`` the keys come from its data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update({"DATABASE_URL": database.url(), "GOVSHARE_DATA_DIR": str(data_dir),
                "DJANGO_SETTINGS_MODULE": "govshare.settings"})
    if not env_keys:
        env.pop("SECRET_KEY", None)
        env.pop("GOVSHARE_FIELD_KEY", None)
    return env


# ------------------------------------------------------------------ restore


def do_restore(path: Path, *, passphrase: str | None = None) -> tuple[backup.RestoreResult, dict[str, Any]]:
    """Restore onto this (empty) instance, then check it and record ``BACKUP_RESTORED`` in it."""
    data_dir = Path(settings.DATA_DIR)
    database = live_database()
    major, _server = _server_version()
    connection.close()  # the restore replaces the SQLite file / fills the database from outside
    result = backup.restore(path, database=database, data_dir=data_dir, current_fingerprint=keys.fingerprint(),
                            passphrase=passphrase, fingerprint_of=keys.fingerprint, server_major=major)
    report = run_probe(database, data_dir, mode="finish", archive=str(path), env_keys=not result.keys_written)
    return result, report


def do_restore_keys(path: Path, *, passphrase: str) -> tuple[list[str], dict[str, Any]]:
    """Put the keys of a backup back into the data dir (the ``secret_key`` file was lost).

    Only keys whose fingerprint is the one the database holds are written (or, without one yet, the
    backup's); a key file already there is kept as ``<name>.replaced``."""
    manifest = backup.verify(path)
    if not manifest.has_keys:
        raise backup.BackupError("该备份不含密钥 / the backup holds no keys (it was written without --with-keys)")
    found = backup.read_keys(path, passphrase)
    field_key = found.get("field_key") or found.get("secret_key", "")
    stored = keys.stored_fingerprint() if keys._table_exists() else None
    wanted = stored or manifest.fingerprint
    if keys.fingerprint(field_key) != wanted:
        raise backup.BackupError("备份中的密钥不是此数据库使用的密钥 / the keys in the backup are not the ones this "
                                 "database was written with")
    data_dir = Path(settings.DATA_DIR)
    written = []
    for name in backup.KEY_FILES:
        value = found.get(name)
        if not value:
            continue
        target = data_dir / name
        if target.exists() and target.read_text().strip() != value:
            shutil.copy2(target, target.with_name(name + ".replaced"))
        backup.write_key_file(target, value)
        written.append(name)
    # this process still holds the key it started with: a fresh one checks the key and records the event
    report = run_probe(live_database(), data_dir, mode="keys", archive=str(path), env_keys=False)
    if report["key_problem"]:
        raise backup.BackupError(f"密钥已放回，但仍不匹配 / the keys were put back but still do not fit: "
                                 f"{report['key_problem']} (SECRET_KEY / GOVSHARE_FIELD_KEY set in the environment?)")
    return written, report


# ------------------------------------------------------------------ the drill


@dataclass
class DrillStep:
    name: str
    label: str
    ok: bool
    seconds: float
    note: str = ""


@dataclass
class DrillReport:
    archive: str
    steps: list[DrillStep] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {"archive": self.archive, "ok": self.ok, "seconds": round(self.seconds, 3),
                "steps": [{"name": s.name, "ok": s.ok, "seconds": round(s.seconds, 3), "note": s.note}
                          for s in self.steps]}


class _Scratch:
    """A throwaway instance: a temp data dir with a SQLite file, or a scratch PostgreSQL database."""

    def __init__(self, vendor: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="govshare-drill-"))
        self.data_dir = self.root / "data"
        live = live_database()
        if vendor == "sqlite":
            self.database = backup.Database("sqlite", str(self.root / "db.sqlite3"))
        else:
            import secrets

            name = f"{live.name}_drill_{secrets.token_hex(4)}"[:63]
            self.database = backup.Database("postgresql", name, live.user, live.password, live.host, live.port)
            with connection.cursor() as cur:
                cur.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        self.vendor = vendor

    def close(self) -> None:
        if self.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(self.database.name)} WITH (FORCE)")
        shutil.rmtree(self.root, ignore_errors=True)


def do_drill(path: Path | None, *, passphrase: str | None = None,
             say: Callable[[DrillStep], None] | None = None) -> DrillReport:
    """The yearly drill (应急演练): restore the newest (or given) backup into a scratch place, verify the
    audit chain there, decrypt a sample of ID numbers, check the files and row counts, time each step;
    record ``RESTORE_DRILL_RUN`` with the outcome on the live instance."""
    if path is None:
        path = backup.newest(backup_dir())
        if path is None:
            raise backup.BackupError(f"备份目录 {backup_dir()} 中没有备份 / no backup in {backup_dir()}")
    report = DrillReport(str(path))
    started = time.monotonic()
    manifest: backup.Manifest | None = None
    scratch: _Scratch | None = None

    def step(name: str, label: str, ok: bool, seconds: float, note: str = "") -> bool:
        item = DrillStep(name, label, ok, seconds, note)
        report.steps.append(item)
        if say is not None:
            say(item)
        return ok

    try:
        t = time.monotonic()
        try:
            manifest = backup.verify(path)
            step("checksums", "校验备份文件 / archive checksums", True, time.monotonic() - t,
                 f"{len(manifest.members)} members")
        except backup.BackupError as exc:
            step("checksums", "校验备份文件 / archive checksums", False, time.monotonic() - t, str(exc))
            return report
        t = time.monotonic()
        try:
            scratch = _Scratch(manifest.vendor)
            if not manifest.has_keys or not passphrase:
                for name, value in live_keys().items():  # the live key, as a key file of the scratch instance
                    scratch.data_dir.mkdir(parents=True, exist_ok=True)
                    backup.write_key_file(scratch.data_dir / name, value)
            major, _server = _server_version()
            restored = backup.restore(path, database=scratch.database, data_dir=scratch.data_dir,
                                      current_fingerprint=keys.fingerprint(), passphrase=passphrase,
                                      fingerprint_of=keys.fingerprint, server_major=major)
            step("restore", "恢复到临时位置 / restore into a scratch instance", True, time.monotonic() - t,
                 f"{restored.files} files" + (", keys from the backup" if restored.keys_written else ""))
        except backup.BackupError as exc:
            step("restore", "恢复到临时位置 / restore into a scratch instance", False, time.monotonic() - t, str(exc))
            return report
        t = time.monotonic()
        try:
            found = run_probe(scratch.database, scratch.data_dir, archive=str(path), env_keys=False)
        except backup.BackupError as exc:
            step("probe", "启动恢复的实例 / start the restored instance", False, time.monotonic() - t, str(exc))
            return report
        secs = found.get("seconds", {})
        step("key", "密钥匹配 / the key fits", not found["key_problem"], secs.get("key", 0.0), found["key_problem"])
        chain = found["audit"]
        step("audit", "审计链校验 / audit verify", bool(chain["ok"]), secs.get("audit", 0.0),
             f"{chain['checked']} rows" + ("" if chain["ok"] else f", first broken id {chain['first_broken_id']}"))
        dec = found["decrypt"]
        step("decrypt", "身份证号解密抽样 / decrypt a sample of ID numbers", dec["ok"] == dec["sampled"],
             secs.get("decrypt", 0.0), f"{dec['ok']}/{dec['sampled']}")
        t = time.monotonic()
        checked, bad = backup.check_files(manifest, scratch.data_dir)
        step("files", "文件校验和 / file checksums", not bad, time.monotonic() - t,
             f"{checked} files" + (f", differ: {', '.join(bad[:3])}" if bad else ""))
        expected = manifest.body.get("database", {}).get("tables")
        if expected:
            got = found["tables"]
            differ = sorted(n for n, c in expected.items() if got.get(n) != c)
            step("rows", "行数比对 / row counts", not differ, secs.get("counts", 0.0),
                 f"{len(expected)} tables" + (f", differ: {', '.join(differ[:3])}" if differ else ""))
        return report
    finally:
        if scratch is not None:
            scratch.close()
        report.seconds = time.monotonic() - started
        with transaction.atomic():
            audit.record(AuditCode.RESTORE_DRILL_RUN, actor=None, outcome="success" if report.ok else "failure",
                         object_type="backup", object_id=Path(report.archive).name[:64],
                         object_repr=Path(report.archive).name, detail={**report.as_dict(), **_operator_detail()})
