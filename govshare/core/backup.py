"""Backup archives, restore onto an empty instance, and the yearly drill's checks (SEC-5, LN-§23).

Django-free: the command layer (:mod:`govshare.commands.backup`) passes the database settings, the
data dir, the key fingerprint and the keys.  One archive is a tar (gzip unless it ends in ``.tar``):

* ``database/db.sqlite3`` — SQLite's online backup API (a consistent copy while the platform runs), or
  ``database/db.pgdump`` — ``pg_dump -Fc`` of the same major version as the server;
* ``data/…`` — the files under the data dir (stamped letters, uploads; the SQLite databases there — the
  data resource centre's embedded store, SQLite front-end databases — by the online backup API), without
  the keys, the static files (collected again) and the search index (rebuilt on restore:
  ``govshare catalog reindex``); a PostgreSQL data resource centre is backed up with its own server's tools;
* ``keys.enc`` — only when asked: ``secret_key`` / the field key, encrypted with a passphrase
  (scrypt → AES-256-GCM); the keys are never in the archive in clear;
* ``manifest.json`` (last) — SHA-256 and size of every other member, versions, migration state, the
  key's fingerprint (:mod:`govshare.core.keys`, never the key), row counts, created-at.

``restore`` checks every checksum, the passphrase and the key before it writes anything, refuses a
target that is not empty, and writes all or nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import glob
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger("govshare.backup")

FORMAT = "govshare-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEYS_MEMBER = "keys.enc"
SQLITE_MEMBER = "database/db.sqlite3"
PG_MEMBER = "database/db.pgdump"
DATA_PREFIX = "data/"
#: files and folders of the data dir that are not backed up (keys: only encrypted; the rest is rebuilt).
#: Every file at the data dir's root whose name starts with a key file's name is key material
#: (``secret_key.replaced`` kept by ``restore --keys-only``, an editor's ``secret_key~``) and is skipped.
KEY_FILES = ("secret_key", "field_key")
SKIPPED_DIRS = ("static", "search", "backups")
SEARCH_NOTE = "not included: rebuilt on restore (govshare catalog reindex) / 不含搜索索引：恢复后重建"
_AAD = b"govshare-backup-keys-v1"
_CHUNK = 1 << 20
#: the scrypt parameters a keys member may name (read from the archive, so bounded: a hostile n or r
#: would take gigabytes of memory).  Writing uses n=2**15, r=8, p=1.
SCRYPT_N = frozenset({2**14, 2**15, 2**16, 2**17})
SCRYPT_R = frozenset({8})
SCRYPT_P = frozenset({1, 2})
#: the largest keys member read (a few hundred bytes in practice)
MAX_KEYS_MEMBER = 64 * 1024
#: the largest manifest read (a checksum line per file: megabytes for a very large data dir)
MAX_MANIFEST = 256 * 1024 * 1024


class BackupError(Exception):
    """A backup, restore or drill step failed; the message says which and why (Chinese / English)."""


@dataclass(frozen=True)
class Database:
    """The database settings of an instance (``settings.DATABASES['default']``, Django-free)."""

    vendor: str  # "sqlite" | "postgresql"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""

    @classmethod
    def from_settings(cls, settings_dict: dict[str, Any]) -> Database:
        engine = str(settings_dict.get("ENGINE", ""))
        vendor = "sqlite" if "sqlite" in engine else "postgresql" if "postgres" in engine else engine
        return cls(vendor, str(settings_dict.get("NAME") or ""), str(settings_dict.get("USER") or ""),
                   str(settings_dict.get("PASSWORD") or ""), str(settings_dict.get("HOST") or ""),
                   str(settings_dict.get("PORT") or ""))

    def url(self) -> str:
        if self.vendor == "sqlite":
            return f"sqlite:///{self.name}"
        from urllib.parse import quote

        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        return f"postgres://{auth}@{self.host or 'localhost'}:{self.port or 5432}/{self.name}"

    def pg_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"PGHOST": self.host or "localhost", "PGPORT": self.port or "5432", "PGUSER": self.user,
                    "PGDATABASE": self.name})
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


@dataclass
class Manifest:
    body: dict[str, Any]

    @property
    def members(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("members", {}))

    @property
    def has_keys(self) -> bool:
        return KEYS_MEMBER in self.members

    @property
    def fingerprint(self) -> str:
        return str(self.body.get("key_fingerprint", ""))

    @property
    def vendor(self) -> str:
        return str(self.body.get("database", {}).get("vendor", ""))


# ------------------------------------------------------------------ keys, encrypted with a passphrase

def encrypt_keys(keys: dict[str, str], passphrase: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if not passphrase:
        raise BackupError("口令为空 / the passphrase is empty")
    salt, nonce = os.urandom(16), os.urandom(12)
    n, r, p = 2**15, 8, 1
    key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    sealed = AESGCM(key).encrypt(nonce, json.dumps(keys).encode("utf-8"), _AAD)
    b64 = base64.b64encode
    return json.dumps({"kdf": "scrypt", "n": n, "r": r, "p": p, "cipher": "AES-256-GCM",
                       "salt": b64(salt).decode(), "nonce": b64(nonce).decode(),
                       "ciphertext": b64(sealed).decode()}, indent=1).encode("utf-8")


def decrypt_keys(blob: bytes, passphrase: str) -> dict[str, str]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    damaged = "备份中的密钥文件已损坏 / the keys member of the backup is damaged"
    if len(blob) > MAX_KEYS_MEMBER:
        raise BackupError(f"{damaged}: {len(blob)} bytes")
    try:
        box = json.loads(blob)
        if not isinstance(box, dict):
            raise BackupError(f"{damaged}: not a JSON object")
        n, r, p = box.get("n"), box.get("r"), box.get("p")
        if box.get("kdf") != "scrypt" or box.get("cipher", "AES-256-GCM") != "AES-256-GCM" \
                or not all(type(v) is int for v in (n, r, p)) \
                or n not in SCRYPT_N or r not in SCRYPT_R or p not in SCRYPT_P:
            raise BackupError(
                f"备份中的密钥使用了不支持的密钥派生参数 / the keys member names key-derivation parameters this "
                f"version does not accept: kdf={str(box.get('kdf'))[:20]!r} n={str(n)[:20]} r={str(r)[:20]} "
                f"p={str(p)[:20]} (scrypt with n in 2^14…2^17, r=8, p≤2)")
        parts = [box.get(k) for k in ("salt", "nonce", "ciphertext")]
        if not all(isinstance(v, str) for v in parts):
            raise BackupError(f"{damaged}: salt, nonce and ciphertext must be text")
        salt, nonce, sealed = (base64.b64decode(str(v), validate=True) for v in parts)
        if len(salt) < 8 or len(nonce) != 12:
            raise BackupError(f"{damaged}: salt or nonce of the wrong size")
        key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
        found = json.loads(AESGCM(key).decrypt(nonce, sealed, _AAD))
    except BackupError:
        raise
    except InvalidTag:
        raise BackupError("口令错误，无法解密备份中的密钥 / wrong passphrase: the keys in the backup do not "
                          "decrypt") from None
    except Exception as exc:  # noqa: BLE001 — whatever a hostile member provokes is a damaged member
        raise BackupError(f"{damaged}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        raise BackupError(f"{damaged}: the keys are not a mapping of names to text")
    return found


# ------------------------------------------------------------------ PostgreSQL tools

def pg_tool(name: str, server_major: int | None = None) -> str:
    """``pg_dump`` / ``pg_restore`` of the server's major version (found like scripts/with_postgres.py)."""
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    if server_major is not None:
        found.sort(key=lambda p: int(p.split("/")[-2]) != server_major)
    candidates += found
    for path in candidates:
        if path and (Path(path) / name).exists():
            return str(Path(path) / name)
    which = shutil.which(name)
    if which:
        return which
    raise BackupError(f"找不到 {name}（apt-get install postgresql-client，或设置 PG_BINDIR） / {name} not found: "
                      f"install the PostgreSQL client or set PG_BINDIR")


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{what} 失败 / failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")


# ------------------------------------------------------------------ writing an archive

def _sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def data_files(data_dir: Path, skip: tuple[Path, ...] = ()) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of the files under the data dir that a backup holds."""
    skip_resolved = {p.resolve() for p in skip}
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        rel_root = here.relative_to(data_dir)
        dirs[:] = sorted(d for d in dirs if not (rel_root == Path(".") and d in SKIPPED_DIRS)
                         and not d.startswith(".restore-") and (here / d).resolve() not in skip_resolved)
        for name in sorted(files):
            path = here / name
            if rel_root == Path(".") and name.startswith(KEY_FILES):
                continue  # secret_key, field_key and any copy of them (secret_key.replaced …): never in clear
            if name.endswith((".part", "-wal", "-shm", "-journal")) or path.resolve() in skip_resolved \
                    or not path.is_file() or path.is_symlink():
                continue
            yield DATA_PREFIX + path.relative_to(data_dir).as_posix(), path


SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def sqlite_copy(source: str, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


def sqlite_counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                           "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: int(con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}  # noqa: S608
    finally:
        con.close()


def _open_for_write(path: Path) -> tarfile.TarFile:
    """The archive holds personal data (encrypted ID numbers, letters): readable by its owner only."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    mode = "w" if path.name.endswith(".tar") else "w:gz"
    return tarfile.open(path, mode)  # type: ignore[call-overload,no-any-return]


def _add_file(tar: tarfile.TarFile, name: str, path: Path, members: dict[str, Any]) -> None:
    sha, size = _sha256_file(path)
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(path.stat().st_mtime), 0o600
    with path.open("rb") as handle:
        tar.addfile(info, handle)
    members[name] = {"sha256": sha, "size": size}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, members: dict[str, Any] | None) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))
    if members is not None:
        members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def create(out: Path, *, database: Database, data_dir: Path, fingerprint: str, info: dict[str, Any],
           keys: dict[str, str] | None = None, passphrase: str | None = None,
           skip: tuple[Path, ...] = ()) -> Manifest:
    """Write the archive ``out`` (via ``out.part``, renamed when complete)."""
    if keys is not None and not passphrase:
        raise BackupError("备份密钥需要口令 / backing up the keys needs a passphrase")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    members: dict[str, Any] = {}
    db_info: dict[str, Any] = {"vendor": database.vendor}
    try:
        with tempfile.TemporaryDirectory(prefix="govshare-backup-") as tmp, _open_for_write(part) as tar:
            if database.vendor == "sqlite":
                copy = Path(tmp) / "db.sqlite3"
                sqlite_copy(database.name, copy)
                db_info.update(member=SQLITE_MEMBER, tables=sqlite_counts(copy))
                _add_file(tar, SQLITE_MEMBER, copy, members)
                copy.unlink()
            elif database.vendor == "postgresql":
                dump = Path(tmp) / "db.pgdump"
                tool = pg_tool("pg_dump", info.get("server_major"))
                _run([tool, "-Fc", "--no-owner", "--no-privileges", "-f", str(dump)], database.pg_env(), "pg_dump")
                db_info.update(member=PG_MEMBER, server_version=info.get("server_version"), tool=tool)
                _add_file(tar, PG_MEMBER, dump, members)
                dump.unlink()
            else:
                raise BackupError(f"不支持的数据库 / unsupported database: {database.vendor}")
            skip_all = (*skip, out.parent, Path(database.name)) if database.vendor == "sqlite" else (*skip, out.parent)
            for name, path in data_files(data_dir, skip_all):
                if is_sqlite_file(path):
                    # a live SQLite database under the data dir (the data resource centre's embedded store, a
                    # department's SQLite front-end database): its online backup, not its bytes — a plain copy
                    # would miss what is still in its write-ahead log, or catch a page half written
                    snapshot = Path(tmp) / "member.sqlite3"
                    try:
                        sqlite_copy(str(path), snapshot)
                    except sqlite3.Error:  # not a readable database after all (damaged, half copied in): its bytes
                        snapshot.unlink(missing_ok=True)
                        _add_file(tar, name, path, members)
                        continue
                    _add_file(tar, name, snapshot, members)
                    snapshot.unlink()
                else:
                    _add_file(tar, name, path, members)
            if keys is not None:
                assert passphrase is not None
                _add_bytes(tar, KEYS_MEMBER, encrypt_keys(keys, passphrase), members)
            body = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "database": db_info, "key_fingerprint": fingerprint, "keys_included": keys is not None,
                    "search_index": SEARCH_NOTE, **{k: v for k, v in info.items() if k != "server_major"},
                    "members": members}
            _add_bytes(tar, MANIFEST, json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True).encode(), None)
        part.replace(out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Manifest(body)


# ------------------------------------------------------------------ reading and checking an archive

def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return bool(name) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in name \
        and (name in (MANIFEST, KEYS_MEMBER, SQLITE_MEMBER, PG_MEMBER) or name.startswith(DATA_PREFIX))


def _open_read(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"无法读取备份文件 {path} / cannot read the backup {path}: {exc}") from None


def _damaged(exc: BaseException) -> BackupError:
    return BackupError(f"备份文件已损坏 / the backup is damaged: {type(exc).__name__}: {str(exc)[:200]}")


def _small_member(path: Path, name: str, limit: int, *, not_valid: str, missing: str) -> bytes:
    """The bytes of one small member of the archive (the manifest, the keys); every failure is a
    BackupError: ``missing`` when there is no such member, ``not_valid`` when it is not a file of at
    most ``limit`` bytes, "damaged" for anything tar or zlib raise."""
    try:
        with _open_read(path) as tar:
            member = tar.getmember(name)
            if not member.isfile() or member.size > limit:
                raise BackupError(not_valid)
            handle = tar.extractfile(member)
            assert handle is not None
            return handle.read()
    except BackupError:
        raise
    except KeyError:
        raise BackupError(missing) from None
    except Exception as exc:  # noqa: BLE001 — tar, zlib …: a damaged archive
        raise _damaged(exc) from None


def read_manifest(path: Path) -> Manifest:
    raw = _small_member(path, MANIFEST, MAX_MANIFEST,
                        not_valid=f"备份清单无效 / the backup's manifest is not valid: not a file of at most "
                                  f"{MAX_MANIFEST} bytes",
                        missing=f"{path} 不是 govshare 备份（缺少 manifest.json） / {path} is not a govshare backup "
                                "(no manifest.json)")
    try:
        body = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 — JSON (RecursionError …): a damaged archive
        raise _damaged(exc) from None
    check_manifest(body)
    return Manifest(body)


_HEX = frozenset("0123456789abcdef")


def check_manifest(body: Any) -> None:
    """The manifest is the one this version writes: a JSON object of the right format and version,
    ``members`` mapping safe names to ``{sha256, size}``, ``database`` naming its vendor.  Read from
    the archive, so nothing is assumed before it is checked (BackupError naming the problem)."""
    def bad(problem: str) -> BackupError:
        return BackupError(f"备份清单无效 / the backup's manifest is not valid: {problem}")

    if not isinstance(body, dict):
        raise bad(f"a JSON object is expected, not {type(body).__name__}")
    version = body.get("format_version")
    if body.get("format") != FORMAT or type(version) is not int or not 1 <= version <= FORMAT_VERSION:
        raise BackupError(f"不支持的备份格式 / unsupported backup format: {str(body.get('format'))[:40]!r} "
                          f"v{str(version)[:20]} (this version reads {FORMAT} v1…v{FORMAT_VERSION})")
    members = body.get("members")
    if not isinstance(members, dict):
        raise bad(f"members must be an object, not {type(members).__name__}")
    for name, want in members.items():
        if not _safe_name(name) or name == MANIFEST:
            raise bad(f"member name not allowed: {name[:100]!r}")
        if not isinstance(want, dict):
            raise bad(f"{name[:100]}: an object with sha256 and size is expected")
        sha, size = want.get("sha256"), want.get("size")
        if not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _HEX:
            raise bad(f"{name[:100]}: sha256 must be 64 hexadecimal digits")
        if type(size) is not int or size < 0:
            raise bad(f"{name[:100]}: size must be a whole number ≥ 0")
    database = body.get("database")
    if not isinstance(database, dict) or not isinstance(database.get("vendor"), str):
        raise bad("database must be an object naming its vendor")
    if not isinstance(body.get("key_fingerprint", ""), str):
        raise bad("key_fingerprint must be text")


def verify(path: Path) -> Manifest:
    """Every member is listed in the manifest with its size and SHA-256, and nothing else is there."""
    manifest = read_manifest(path)
    expected = manifest.members
    seen: set[str] = set()
    try:
        with _open_read(path) as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if not member.isfile() or not _safe_name(member.name):
                    raise BackupError(f"备份中有不允许的条目 / the backup holds a member it may not: {member.name!r}")
                if member.name in seen:
                    raise BackupError(f"条目重复 / member appears twice in the backup: {member.name}")
                want = expected.get(member.name)
                if want is None:
                    raise BackupError(f"条目不在清单中 / member not in the manifest: {member.name}")
                handle = tar.extractfile(member)
                assert handle is not None
                digest, size = hashlib.sha256(), 0
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                if size != want["size"] or digest.hexdigest() != want["sha256"]:
                    raise BackupError(f"校验和不符，备份已被改动或损坏 / checksum mismatch, the backup was changed or "
                                      f"damaged: {member.name}")
                seen.add(member.name)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:  # zlib.error is not an OSError
        raise BackupError(f"备份文件已损坏 / the backup is damaged: {exc}") from None
    except Exception as exc:  # zlib.error and friends from a corrupted compressed stream
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"备份文件已损坏 / the backup is damaged: {exc!r}") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(f"备份缺少条目 / members missing from the backup: {', '.join(missing[:5])}")
    return manifest


def read_keys(path: Path, passphrase: str) -> dict[str, str]:
    """The keys of the archive (decrypted with ``passphrase``); every failure is a BackupError."""
    blob = _small_member(path, KEYS_MEMBER, MAX_KEYS_MEMBER,
                         not_valid=f"备份中的密钥文件已损坏 / the keys member of the backup is damaged: not a file "
                                   f"of at most {MAX_KEYS_MEMBER} bytes",
                         missing="该备份不含密钥 / the backup holds no keys (it was written without --with-keys)")
    return decrypt_keys(blob, passphrase)


# ------------------------------------------------------------------ restore

def sqlite_tables(path: Path) -> list[str]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                          "AND name NOT LIKE 'sqlite_%'")]
    finally:
        con.close()


def postgres_tables(database: Database) -> list[str]:
    with _pg_connect(database) as con:
        rows = con.execute("SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                           "'information_schema')").fetchall()
    return [r[0] for r in rows]


def _pg_connect(database: Database) -> Any:
    import psycopg

    return psycopg.connect(host=database.host or "localhost", port=database.port or "5432", user=database.user,
                           password=database.password or None, dbname=database.name)


def _pg_objects(con: Any) -> list[tuple[str, str]]:
    """(kind, name to drop it by) of every view, table, sequence and function outside the system
    schemas that no extension owns, in the order they can be dropped."""
    from psycopg import sql

    found: list[tuple[str, str]] = []
    for kind, relation, column in (("VIEW", "pg_views", "viewname"), ("TABLE", "pg_tables", "tablename"),
                                   ("SEQUENCE", "pg_sequences", "sequencename")):
        rows = con.execute(sql.SQL("SELECT schemaname, {} FROM {} WHERE schemaname NOT IN ('pg_catalog', "
                                   "'information_schema') AND schemaname NOT LIKE 'pg_toast%%'").format(
            sql.Identifier(column), sql.Identifier(relation))).fetchall()
        found += [(kind, sql.Identifier(schema, name).as_string(con)) for schema, name in rows]
    rows = con.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                       "p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT "
                       "EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')").fetchall()
    return found + [("ROUTINE", signature) for (signature,) in rows]  # regprocedure's text is quoted as needed


def postgres_objects(database: Database) -> set[tuple[str, str]]:
    """What :func:`empty_postgres` must leave alone: the database's objects before a restore."""
    with _pg_connect(database) as con:
        return set(_pg_objects(con))


def empty_postgres(database: Database, keep: set[tuple[str, str]]) -> None:
    """Drop, in one transaction, what a failed restore created: every view, table, sequence and
    function outside the system schemas that is not in ``keep`` (:func:`postgres_objects` before
    ``pg_restore``; a pooler's function or the operator's own objects stay)."""
    from psycopg import sql

    with _pg_connect(database) as con:
        for kind, name in _pg_objects(con):
            if (kind, name) not in keep:
                con.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(kind), sql.SQL(name)))


def leftover_files(data_dir: Path, database: Database) -> list[str]:
    """Files in the target data dir that a restore would not expect (keys, static files and the
    SQLite file itself are allowed)."""
    if not data_dir.exists():
        return []
    skip = (Path(database.name),) if database.vendor == "sqlite" else ()
    return [name for name, _path in data_files(data_dir, skip)]


def check_empty(database: Database, data_dir: Path) -> None:
    tables = sqlite_tables(Path(database.name)) if database.vendor == "sqlite" else postgres_tables(database)
    if tables:
        raise BackupError(
            f"目标数据库不是空的（已有 {len(tables)} 张表）：只能恢复到新的空数据库，请新建一个（createdb，或将 "
            f"DATABASE_URL 指向新的 SQLite 文件）。 / The target database is not empty ({len(tables)} tables): "
            "restore only onto a new, empty database (createdb, or point DATABASE_URL at a new SQLite file).")
    files = leftover_files(data_dir, database)
    if files:
        raise BackupError(
            f"目标数据目录 {data_dir} 不是空的（如 {files[0]}）：请使用新的空数据目录（GOVSHARE_DATA_DIR）。 / The "
            f"target data dir {data_dir} is not empty (e.g. {files[0]}): use a new, empty GOVSHARE_DATA_DIR.")


@dataclass
class RestoreResult:
    manifest: Manifest
    files: int
    keys_written: list[str] = field(default_factory=list)


def restore(path: Path, *, database: Database, data_dir: Path, current_fingerprint: str,
            passphrase: str | None = None, fingerprint_of: Callable[[str], str] | None = None,
            server_major: int | None = None, check_target: bool = True) -> RestoreResult:
    """Restore the archive onto an empty instance: all checks first, then all or nothing.

    Keys: with ``passphrase`` the archive's keys are decrypted and written to the data dir (their
    fingerprint must be the manifest's); without, the instance's key must be the one the backup
    was written with (``current_fingerprint``)."""
    manifest = verify(path)
    if manifest.vendor != database.vendor:
        raise BackupError(f"备份来自 {manifest.vendor} 数据库，目标是 {database.vendor} / the backup is of a "
                          f"{manifest.vendor} database, the target is {database.vendor}")
    keys: dict[str, str] = {}
    if passphrase and manifest.has_keys:
        keys = read_keys(path, passphrase)
        field_key = keys.get("field_key") or keys.get("secret_key", "")
        if fingerprint_of is not None and manifest.fingerprint and fingerprint_of(field_key) != manifest.fingerprint:
            raise BackupError("备份中的密钥与清单中的指纹不符 / the keys in the backup do not match its fingerprint")
    elif manifest.fingerprint and current_fingerprint != manifest.fingerprint:
        if manifest.has_keys:
            raise BackupError("备份是用另一个密钥写入的，请提供口令以使用备份中的密钥（--passphrase-file）。 / The backup "
                              "was written with another key: give the passphrase to use the keys in the backup "
                              "(--passphrase-file).")
        raise BackupError("备份是用另一个密钥写入的，且不含密钥：请设置原来的 SECRET_KEY / GOVSHARE_FIELD_KEY，或把原 "
                          "secret_key 文件放入数据目录。 / The backup was written with another key and holds no keys: "
                          "set the original SECRET_KEY / GOVSHARE_FIELD_KEY or put the original secret_key file in "
                          "the data dir.")
    if check_target:
        check_empty(database, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    db_written = False
    before: set[tuple[str, str]] = set()
    moved: list[Path] = []
    try:
        count = 0
        with _open_read(path) as tar:
            for member in tar:
                if member.name == MANIFEST or member.name == KEYS_MEMBER:
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                target = staging / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("wb") as out:
                    shutil.copyfileobj(handle, out, _CHUNK)
                count += 1 if member.name.startswith(DATA_PREFIX) else 0
        # files were checked while reading the archive once; check what landed on disk again
        for name, want in manifest.members.items():
            if name == KEYS_MEMBER:
                continue
            sha, size = _sha256_file(staging / name)
            if (sha, size) != (want["sha256"], want["size"]):
                raise BackupError(f"校验和不符 / checksum mismatch after extraction: {name}")
        if database.vendor == "sqlite":
            db_file = Path(database.name)
            db_file.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("-wal", "-shm", "-journal"):
                Path(str(db_file) + suffix).unlink(missing_ok=True)
            os.replace(staging / SQLITE_MEMBER, db_file)
        else:
            tool = pg_tool("pg_restore", server_major)
            before = postgres_objects(database)
            _run([tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                  "-d", database.name, str(staging / PG_MEMBER)], database.pg_env(), "pg_restore")
        db_written = True
        data_root = staging / "data"
        if data_root.exists():
            for src in sorted(p for p in data_root.rglob("*") if p.is_file()):
                dest = data_dir / src.relative_to(data_root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dest)
                moved.append(dest)
        written = []
        for name in KEY_FILES:
            value = keys.get(name)
            if value and not (name == "field_key" and value == keys.get("secret_key")):
                write_key_file(data_dir / name, value)
                written.append(name)
        return RestoreResult(manifest, count, written)
    except BaseException:  # leave the target as empty as it was
        for dest in moved:
            dest.unlink(missing_ok=True)
        if database.vendor == "sqlite" and db_written:
            Path(database.name).unlink(missing_ok=True)
        elif db_written:  # pg_restore committed (one transaction) before a later step failed
            try:
                empty_postgres(database, keep=before)
            except Exception:  # noqa: BLE001 — report the first failure; say what is left
                logger.exception("the restored tables could not be dropped again from %s: drop the database "
                                 "and create it anew before the next restore", database.name)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_key_file(path: Path, value: str) -> None:
    """Replace ``path`` by a 0600 file holding ``value`` (a key file generated for the empty instance goes)."""
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.replace(tmp, path)


# ------------------------------------------------------------------ the drill's file check

def check_files(manifest: Manifest, data_dir: Path) -> tuple[int, list[str]]:
    """Re-hash the restored data files; (files checked, names that differ or are missing)."""
    bad: list[str] = []
    checked = 0
    for name, want in manifest.members.items():
        if not name.startswith(DATA_PREFIX):
            continue
        path = data_dir / name[len(DATA_PREFIX):]
        checked += 1
        if not path.is_file() or _sha256_file(path) != (want["sha256"], want["size"]):
            bad.append(name)
    return checked, bad


def newest(backup_dir: Path) -> Path | None:
    found = [p for p in backup_dir.glob("*.tar*") if p.is_file() and not p.name.endswith(".part")]
    return max(found, key=lambda p: (p.stat().st_mtime, p.name)) if found else None


def default_name(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    return f"govshare-{now:%Y%m%d-%H%M%S}.tar.gz"


def read_passphrase_file(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"无法读取口令文件 / cannot read the passphrase file {path}: {exc}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise BackupError(f"口令文件为空 / the passphrase file {path} is empty")
    return value
