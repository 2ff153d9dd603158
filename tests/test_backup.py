"""Backup, restore onto an empty instance and the yearly drill (SEC-5, LN-§23), for real: ``govshare
backup|restore|drill`` run as subprocesses against the demo site (``demo_site``: its own SQLite file
and data dir with stamped letters, audit rows and encrypted ID numbers).  On a PostgreSQL run, the
same round trip through ``pg_dump``/``pg_restore`` on scratch databases of the test server.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from govshare.core import backup
from govshare.core import keys as govshare_keys

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "a long passphrase for the drill"
#: tables a restore itself writes to: its audit row and the queued search-index rebuild
WRITTEN_BY_RESTORE = {"core_auditevent", "core_accessevent", "core_job", "django_tasks_database_dbtaskresult"}


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govshare.cli", *argv], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _db(env: dict[str, str]) -> Path:
    return Path(env["DATABASE_URL"].removeprefix("sqlite:///"))


def _counts(path: Path) -> dict[str, int]:
    return backup.sqlite_counts(path)


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def _files(data_dir: Path) -> dict[str, str]:
    """Each file's hash; a SQLite database's by its content (its backup is a fresh file with the same rows:
    the data resource centre's store, the demo's SQLite front-end database)."""
    def digest(path: Path) -> str:
        if backup.is_sqlite_file(path):
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
            finally:
                con.close()
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {name: digest(path) for name, path in backup.data_files(data_dir)}


def _fresh(tmp: Path) -> dict[str, str]:
    """An empty instance: a new SQLite file and data dir, no key (it comes from the backup)."""
    from tests.conftest import demo_site_env

    tmp.mkdir(parents=True, exist_ok=True)
    return demo_site_env(tmp)


@pytest.fixture(scope="module")
def archive(demo_site: dict[str, str], tmp_path_factory: Any) -> Path:
    """A backup of the demo site with its keys, encrypted with a passphrase."""
    folder = tmp_path_factory.mktemp("backups")
    (folder / "pass").write_text(PASSPHRASE + "\n")
    out = folder / "site.tar.gz"
    result = _run(demo_site, "backup", "-o", str(out), "--with-keys", "--passphrase-file", str(folder / "pass"))
    assert result.returncode == 0, result.stderr
    assert "keys encrypted" in result.stdout
    return out


def test_a_backup_restores_onto_an_empty_instance_with_the_same_rows_files_and_audit_chain(
        demo_site: dict[str, str], archive: Path, tmp_path: Path) -> None:
    target = _fresh(tmp_path / "restored")
    (tmp_path / "pass").write_text(PASSPHRASE)
    result = _run(target, "restore", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert result.returncode == 0, result.stderr
    assert "audit chain / 审计链: OK" in result.stdout

    source_counts, restored_counts = _counts(_db(demo_site)), _counts(_db(target))
    same = {t for t in source_counts if t not in WRITTEN_BY_RESTORE}
    assert {t: restored_counts[t] for t in same} == {t: source_counts[t] for t in same}
    users = "SELECT username, real_name, id_number_encrypted, password FROM core_user ORDER BY id"
    assert _query(_db(target), users) == _query(_db(demo_site), users)
    source_files = _files(Path(demo_site["GOVSHARE_DATA_DIR"]))
    assert any("letters" in name for name in source_files)  # the demo's stamped letters are in the backup
    # and the data resource centre's embedded store, with the demo's first copy (issue 10)
    assert "data/datastore.sqlite3" in source_files
    assert _files(Path(target["GOVSHARE_DATA_DIR"])) == source_files
    # the key came from the backup: the restored site verifies its chain and reads its ID numbers
    assert (Path(target["GOVSHARE_DATA_DIR"]) / "secret_key").read_text() == \
        (Path(demo_site["GOVSHARE_DATA_DIR"]) / "secret_key").read_text()
    # the restored chain was verified by a fresh process holding the restored key, which then recorded the restore
    assert _query(_db(target), "SELECT COUNT(*) FROM core_auditevent WHERE code = 1701")[0][0] == 1


def _tampered(archive: Path, out: Path) -> Path:
    """The same archive with one stamped letter changed and the manifest left as it was."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        changed = False
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if not changed and member.name.startswith("data/") and "letters" in member.name:
                data, changed = data + b"\n%tampered", True
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    assert changed
    return out


def test_a_tampered_or_damaged_archive_is_refused_before_anything_is_written(archive: Path, tmp_path: Path) -> None:
    target = _fresh(tmp_path / "target")
    result = _run(target, "restore", str(_tampered(archive, tmp_path / "tampered.tar.gz")))
    assert result.returncode == 1
    assert "校验和不符" in result.stderr and "checksum mismatch" in result.stderr and "letters" in result.stderr
    assert not _db(target).exists() or not backup.sqlite_tables(_db(target))
    assert _files(Path(target["GOVSHARE_DATA_DIR"])) == {}

    damaged = tmp_path / "damaged.tar.gz"
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.raises(backup.BackupError, match="damaged|checksum|损坏"):
        backup.verify(damaged)


def test_restore_refuses_an_instance_that_is_not_empty(demo_site: dict[str, str], archive: Path) -> None:
    before = _counts(_db(demo_site))
    result = _run(demo_site, "restore", str(archive))
    assert result.returncode == 1
    assert "目标数据库不是空的" in result.stderr and "The target database is not empty" in result.stderr
    assert _counts(_db(demo_site)) == before


def test_the_keys_are_in_the_archive_only_encrypted(demo_site: dict[str, str], archive: Path) -> None:
    key = (Path(demo_site["GOVSHARE_DATA_DIR"]) / "secret_key").read_text().strip()
    with tarfile.open(archive) as tar:
        contents = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert backup.KEYS_MEMBER in contents
    for name, data in contents.items():
        assert key.encode() not in data, name
    manifest = json.loads(contents[backup.MANIFEST])
    assert manifest["keys_included"] and len(manifest["key_fingerprint"]) == 64
    assert backup.decrypt_keys(contents[backup.KEYS_MEMBER], PASSPHRASE)["secret_key"] == key
    with pytest.raises(backup.BackupError, match="wrong passphrase"):
        backup.decrypt_keys(contents[backup.KEYS_MEMBER], "not the passphrase")


def test_the_drill_passes_on_the_newest_backup_and_fails_on_a_damaged_one(demo_site: dict[str, str], archive: Path,
                                                                         tmp_path: Path) -> None:
    backups = Path(demo_site["GOVSHARE_DATA_DIR"]) / "backups"  # GOVSHARE_BACKUP_DIR's default
    backups.mkdir(exist_ok=True)
    shutil.copy(archive, backups / "govshare-20260101-013000.tar.gz")
    drill = _run(demo_site, "drill")  # the newest there; no passphrase: the live key restores it
    assert drill.returncode == 0, drill.stdout + drill.stderr
    lines = drill.stdout.splitlines()
    for step in ("archive checksums", "restore into a scratch instance", "the key fits", "audit verify",
                 "decrypt a sample of ID numbers", "file checksums", "row counts"):
        assert any(line.startswith("[OK  ]") and step in line for line in lines), (step, drill.stdout)
    assert "PASSED / 演练通过" in drill.stdout and "total / 总用时" in drill.stdout

    newest = backup.newest(Path(demo_site["GOVSHARE_DATA_DIR"]) / "backups")
    assert newest is not None
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    failed = _run(demo_site, "drill", str(broken))
    assert failed.returncode == 1
    assert "[FAIL] 校验备份文件 / archive checksums" in failed.stdout and "FAILED / 演练未通过" in failed.stdout
    outcomes = _query(_db(demo_site), "SELECT outcome FROM core_auditevent WHERE code = 1702 ORDER BY id")
    assert outcomes[-2:] == [("success",), ("failure",)]


def test_a_lost_secret_key_comes_back_from_a_backup_with_keys(demo_site: dict[str, str], archive: Path,
                                                               tmp_path: Path) -> None:
    key_file = Path(demo_site["GOVSHARE_DATA_DIR"]) / "secret_key"
    original = key_file.read_text()
    key_file.unlink()
    (tmp_path / "pass").write_text(PASSPHRASE)
    result = _run(demo_site, "restore", str(archive), "--keys-only", "--passphrase-file", str(tmp_path / "pass"))
    assert result.returncode == 0, result.stderr
    assert key_file.read_text() == original
    assert "secret_key" in result.stdout and "audit chain / 审计链: OK" in result.stdout
    # a fresh process with the key put back verified it and recorded the event: the chain is whole
    assert _query(_db(demo_site), "SELECT COUNT(*) FROM core_auditevent WHERE code = 1703")[0][0] == 1


# ------------------------------------------------------------------ hostile archives (pure functions, no subprocess)


def _archive(path: Path, manifest: Any, members: dict[str, bytes] | None = None) -> Path:
    """A tar holding ``members`` and, last, ``manifest`` as its manifest.json (any JSON value)."""
    with tarfile.open(path, "w") as tar:
        for name, data in {**(members or {}), backup.MANIFEST: json.dumps(manifest).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _listed(members: dict[str, bytes]) -> dict[str, Any]:
    return {"format": backup.FORMAT, "format_version": 1, "database": {"vendor": "sqlite"},
            "members": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}}


@pytest.mark.parametrize(("manifest", "says"), [
    (["a"], "not valid: a JSON object is expected, not list"),
    ("text", "not valid: a JSON object is expected, not str"),
    ({"format": backup.FORMAT, "format_version": "x"}, "unsupported backup format"),
    ({"format": backup.FORMAT, "format_version": 1.5}, "unsupported backup format"),
    ({"format": backup.FORMAT, "format_version": 99}, "unsupported backup format"),
    ({"format": "zip", "format_version": 1}, "unsupported backup format"),
    ({"format": backup.FORMAT, "format_version": 1, "members": ["data/x"]}, "members must be an object, not list"),
    ({"format": backup.FORMAT, "format_version": 1, "members": {"data/x": "abc"}}, "an object with sha256 and size"),
    ({"format": backup.FORMAT, "format_version": 1, "members": {"data/x": {"sha256": "zz", "size": 1}}},
     "sha256 must be 64 hexadecimal digits"),
    ({"format": backup.FORMAT, "format_version": 1, "members": {"data/x": {"sha256": "0" * 64, "size": "1"}}},
     "size must be a whole number"),
    ({"format": backup.FORMAT, "format_version": 1, "members": {"../etc/passwd": {"sha256": "0" * 64, "size": 1}}},
     "member name not allowed"),
    ({"format": backup.FORMAT, "format_version": 1, "members": {}, "database": "sqlite"}, "database must be an object"),
])
def test_a_hostile_manifest_is_refused_with_a_message_naming_the_problem(tmp_path: Path, manifest: Any,
                                                                         says: str) -> None:
    path = _archive(tmp_path / "hostile.tar", manifest)
    with pytest.raises(backup.BackupError, match=says) as refused:
        backup.verify(path)
    assert " / " in str(refused.value)  # Chinese / English, like every other refusal


def _keys_member(**fields: Any) -> bytes:
    sealed = json.loads(backup.encrypt_keys({"secret_key": "k" * 50}, PASSPHRASE))
    return json.dumps({**sealed, **fields}).encode()


@pytest.mark.parametrize(("fields", "says"), [
    ({"n": 2**24, "r": 64}, "key-derivation parameters this version does not accept"),  # 128 GiB: refused unread
    ({"n": 2**15, "r": 8, "p": 64}, "key-derivation parameters"),
    ({"n": "32768"}, "key-derivation parameters"),
    ({"n": 2**15 + 1}, "key-derivation parameters"),
    ({"kdf": "pbkdf2"}, "key-derivation parameters"),
    ({"salt": 5}, "salt, nonce and ciphertext must be text"),
    ({"nonce": "AAAA"}, "salt or nonce of the wrong size"),
    ({"ciphertext": "not base64!"}, "damaged"),
])
def test_hostile_key_derivation_parameters_are_refused_before_any_work(tmp_path: Path, fields: dict[str, Any],
                                                                        says: str) -> None:
    blob = _keys_member(**fields)
    path = _archive(tmp_path / "keys.tar", _listed({backup.KEYS_MEMBER: blob}), {backup.KEYS_MEMBER: blob})
    assert backup.verify(path).has_keys
    with pytest.raises(backup.BackupError, match=says):
        backup.read_keys(path, PASSPHRASE)


def test_keys_written_by_this_version_still_decrypt_and_a_list_is_not_keys(tmp_path: Path) -> None:
    blob = _keys_member()
    path = _archive(tmp_path / "keys.tar", _listed({backup.KEYS_MEMBER: blob}), {backup.KEYS_MEMBER: blob})
    assert backup.read_keys(path, PASSPHRASE) == {"secret_key": "k" * 50}
    for body in ([1, 2], "text"):
        with pytest.raises(backup.BackupError, match="damaged"):
            backup.decrypt_keys(json.dumps(body).encode(), PASSPHRASE)
    without = _archive(tmp_path / "nokeys.tar", _listed({}))
    with pytest.raises(backup.BackupError, match="holds no keys"):
        backup.read_keys(without, PASSPHRASE)


def test_a_member_twice_in_the_archive_is_refused(tmp_path: Path) -> None:
    data = b"letter"
    path = tmp_path / "twice.tar"
    with tarfile.open(path, "w") as tar:
        for name, body in (("data/a", data), ("data/a", data),
                           (backup.MANIFEST, json.dumps(_listed({"data/a": data})).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    with pytest.raises(backup.BackupError, match="appears twice"):
        backup.verify(path)


def test_no_key_material_of_the_data_dir_root_is_backed_up_not_even_a_replaced_copy(tmp_path: Path) -> None:
    """``restore --keys-only`` keeps the key it replaces as ``secret_key.replaced``: that copy is key
    material too, and never goes into an archive in clear (a letter named like a key in a folder does)."""
    for name in ("secret_key", "secret_key.replaced", "field_key", "field_key.replaced", "letter.pdf"):
        (tmp_path / name).write_text(name)
    (tmp_path / "letters").mkdir()
    (tmp_path / "letters" / "secret_key.pdf").write_text("a letter")
    assert [name for name, _path in backup.data_files(tmp_path)] == ["data/letter.pdf", "data/letters/secret_key.pdf"]


# ------------------------------------------------------------------ PostgreSQL: pg_dump / pg_restore


def _pg(database: backup.Database, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(host=database.host or "localhost", port=database.port or "5432", user=database.user,
                         password=database.password or None, dbname=database.name, autocommit=True) as con:
        cur = con.execute(sql)
        return list(cur.fetchall()) if cur.description else []


def _pg_counts(database: backup.Database) -> dict[str, int]:
    tables = [r[0] for r in _pg(database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return {t: int(_pg(database, f'SELECT COUNT(*) FROM "{t}"')[0][0]) for t in tables}  # noqa: S608


def test_on_postgresql_a_backup_round_trips_through_pg_dump_and_the_drill_passes(
        db: Any, tmp_path: Path) -> None:
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("runs when the suite runs on PostgreSQL (scripts/with_postgres.py)")
    test_db = backup.Database.from_settings(connection.settings_dict)
    source = backup.Database("postgresql", f"{test_db.name}_bk_src"[:63], test_db.user, test_db.password,
                             test_db.host, test_db.port)
    target = backup.Database("postgresql", f"{test_db.name}_bk_dst"[:63], test_db.user, test_db.password,
                             test_db.host, test_db.port)
    keys = {"SECRET_KEY": settings.SECRET_KEY, "GOVSHARE_FIELD_KEY": settings.GOVSHARE_FIELD_KEY}
    from govshare.core.actions.backup import instance_env

    dump = tmp_path / "test.pgdump"
    try:
        for db in (source, target):
            _pg(test_db, f'CREATE DATABASE "{db.name}"')
        # the source instance: the migrated test database, copied, plus a stamped letter
        subprocess.run([backup.pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(dump)], env=test_db.pg_env(),
                       check=True)
        subprocess.run([backup.pg_tool("pg_restore"), "--no-owner", "-d", source.name, str(dump)],
                       env=test_db.pg_env(), check=True)
        src_env = {**instance_env(source, tmp_path / "src-data", env_keys=True), **keys}
        letters = tmp_path / "src-data" / "sharing" / "letters"
        letters.mkdir(parents=True)
        (letters / "letter.pdf").write_bytes(b"%PDF-1.4 stamped letter")
        out = tmp_path / "pg.tar.gz"
        made = _run(src_env, "backup", "-o", str(out))
        assert made.returncode == 0, made.stderr
        assert backup.read_manifest(out).body["database"]["member"] == backup.PG_MEMBER

        # a restore that fails after pg_restore committed (moving the files) leaves the database empty
        # again, as on SQLite: the next restore onto it is not refused as "not empty"
        failing = tmp_path / "failing-data"

        def replace_but_not_there(src: Any, dest: Any) -> None:
            if str(dest).startswith(str(failing)):
                raise OSError(28, "No space left on device")
            real_replace(src, dest)

        real_replace = os.replace
        # what the operator had in the empty database (a pooler's function, a sequence, a view) stays
        _pg(target, "CREATE FUNCTION pooler_auth() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        _pg(target, "CREATE SEQUENCE operator_counter")
        _pg(target, "CREATE VIEW server_version AS SELECT version()")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "replace", replace_but_not_there)
            with pytest.raises(OSError, match="No space left"):
                backup.restore(out, database=target, data_dir=failing, current_fingerprint=govshare_keys.fingerprint())
        assert backup.postgres_tables(target) == []
        assert _pg(target, "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'") == [("operator_counter",)]
        assert _pg(target, "SELECT viewname FROM pg_views WHERE schemaname = 'public'") == [("server_version",)]
        assert _pg(target, "SELECT proname FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace "
                           "WHERE nspname = 'public'") == [("pooler_auth",)]
        assert [p for p in failing.rglob("*") if p.is_file()] == []

        dst_env = {**instance_env(target, tmp_path / "dst-data", env_keys=True), **keys}
        restored = _run(dst_env, "restore", str(out), "--no-reindex")
        assert restored.returncode == 0, restored.stderr
        assert "audit chain / 审计链: OK" in restored.stdout
        source_counts, target_counts = _pg_counts(source), _pg_counts(target)
        same = {t for t in source_counts if t not in WRITTEN_BY_RESTORE}
        assert {t: target_counts[t] for t in same} == {t: source_counts[t] for t in same}
        assert (tmp_path / "dst-data" / "sharing" / "letters" / "letter.pdf").read_bytes() == b"%PDF-1.4 stamped letter"
        again = _run(dst_env, "restore", str(out), "--no-reindex")
        assert again.returncode == 1 and "The target database is not empty" in again.stderr

        drill = _run(src_env, "drill", str(out))
        assert drill.returncode == 0, drill.stdout + drill.stderr
        assert "PASSED" in drill.stdout
    finally:
        for db in (source, target):
            _pg(test_db, f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


def test_sqlite_databases_under_the_data_dir_are_backed_up_live_and_a_damaged_one_as_its_bytes(
        tmp_path: Path) -> None:
    """SEC-5 / issue 10: the data resource centre's embedded store is copied with SQLite's online backup — what
    is still in its write-ahead log is in the archive — and a file that only looks like a database (damaged,
    half copied in) does not stop the backup."""
    data = tmp_path / "data"
    (data / "sources").mkdir(parents=True)
    platform = tmp_path / "platform.sqlite3"
    sqlite3.connect(platform).close()
    centre = sqlite3.connect(data / "datastore.sqlite3")
    centre.execute("PRAGMA journal_mode=WAL")
    centre.execute("PRAGMA wal_autocheckpoint=0")  # the rows stay in the WAL, not in the main file
    centre.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, v TEXT)")
    centre.executemany("INSERT INTO e VALUES (?, ?)", [(i, f"v{i}") for i in range(500)])
    centre.commit()
    (data / "sources" / "broken.sqlite3").write_bytes(backup.SQLITE_HEADER + b"\x00" * 200)
    out = tmp_path / "b.tar.gz"
    backup.create(out, database=backup.Database("sqlite", str(platform)), data_dir=data, fingerprint="f", info={})
    centre.close()
    with tarfile.open(out) as tar:
        restored = tmp_path / "restored.sqlite3"
        restored.write_bytes(tar.extractfile("data/datastore.sqlite3").read())  # type: ignore[union-attr]
        broken = tar.extractfile("data/sources/broken.sqlite3").read()  # type: ignore[union-attr]
    con = sqlite3.connect(restored)
    assert con.execute("SELECT COUNT(*) FROM e").fetchone()[0] == 500
    con.close()
    assert broken == backup.SQLITE_HEADER + b"\x00" * 200
