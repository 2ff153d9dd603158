"""Typed configuration read from environment variables (one place, validated at start-up).

Every setting an operator may change is listed here with its type and default, so that
README.md, ``govshare --help`` and settings.py agree.  DEBUG is off unless asked for.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """An environment variable holds a value we cannot use."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true/false / 应为 true 或 false")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: expected an integer / 应为整数") from exc


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def _header(name: str) -> str:
    """An HTTP header name such as ``X-Forwarded-Proto`` (empty: none)."""
    raw = os.environ.get(name, "").strip()
    if raw and not all(c.isalnum() or c == "-" for c in raw):
        raise ConfigError(f"{name}={raw!r}: expected an HTTP header name such as X-Forwarded-Proto / "
                          "应为 HTTP 头名称，如 X-Forwarded-Proto")
    return raw


def _networks(name: str) -> list[str]:
    """IP addresses or CIDR networks, comma-separated, checked at start-up."""
    import ipaddress

    values = _list(name, [])
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{name}: {value!r} is not an IP address or network / 不是 IP 地址或网段") from exc
    return values


@dataclass(frozen=True)
class Config:
    debug: bool
    data_dir: Path
    database_url: str
    #: PostgreSQL: server-side binding and prepared statements (off behind a transaction-mode pooler)
    pg_prepared_statements: bool
    secret_key: str
    #: no SECRET_KEY and no ``secret_key`` file in the data dir: this process generated a new key (SEC-5,
    #: :mod:`govshare.core.keys` refuses to run on a database written with another one)
    secret_key_generated: bool
    #: where `govshare backup` writes and `govshare drill` looks for the newest backup (SEC-5)
    backup_dir: Path
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    field_key: str
    default_profile: str
    login_max_failures: int
    login_lockout_minutes: int
    session_age_minutes: int
    session_idle_minutes: int
    max_request_mb: int
    email_host: str
    email_port: int
    email_from: str
    secure_cookies: bool
    public_url: str
    letter_max_mb: int
    verify_per_minute: int
    download_dir: Path | None
    download_keep_days: int
    upload_dir: Path | None
    upload_max_mb: int
    upload_max_rows: int
    file_dir: Path | None
    file_max_mb: int
    max_query_indexes: int
    count_ms: int
    download_parts: int
    delivery_streams: int
    digest_hour: int
    worker_stale_seconds: int
    # --- HTTPS, proxies and login protection (issue 9)
    https: bool
    hsts_seconds: int
    hsts_preload: bool
    proxy_ssl_header: str
    trusted_proxies: list[str]
    login_throttle_free: int
    login_throttle_ip_free: int
    login_throttle_base_seconds: int
    login_throttle_max_seconds: int
    login_throttle_window_minutes: int
    login_known_address_days: int
    # --- front-end databases (issue 10, EXC-6): where SQLite sources may lie, which addresses may be reached
    #: log mode: the WAL a replication slot may hold on a source, and how far behind it may be, before the alarm
    slot_alarm_mb: int
    slot_alarm_minutes: int
    source_dir: Path
    source_allow_loopback: bool
    source_allow_networks: list[str]
    source_deny_networks: list[str]
    #: the data resource centre's own database (issue 10): never the metadata database
    datastore_url: str

    @classmethod
    def from_env(cls) -> Config:
        debug = _bool("DEBUG", False)
        data_dir = Path(os.environ.get("GOVSHARE_DATA_DIR") or BASE_DIR / "var").resolve()
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'govshare.sqlite3'}"
        secret_key = os.environ.get("SECRET_KEY", "")
        generated = False
        if not secret_key:
            secret_key, generated = _local_secret(data_dir)
        return cls(
            debug=debug,
            data_dir=data_dir,
            database_url=database_url,
            pg_prepared_statements=_bool("GOVSHARE_PG_PREPARED_STATEMENTS", True),
            secret_key=secret_key,
            secret_key_generated=generated,
            backup_dir=Path(os.environ.get("GOVSHARE_BACKUP_DIR") or data_dir / "backups").resolve(),
            allowed_hosts=_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"]),
            csrf_trusted_origins=_list("CSRF_TRUSTED_ORIGINS", []),
            # Key for encrypting personal data (ID numbers) at rest; defaults to one derived
            # from SECRET_KEY.  Rotating SECRET_KEY without setting this makes stored ID
            # numbers unreadable — see README "Environment".  A ``field_key`` file in the data dir
            # (written by `govshare restore` from a backup with keys) stands for the variable.
            field_key=os.environ.get("GOVSHARE_FIELD_KEY", "") or _key_file(data_dir / "field_key") or secret_key,
            default_profile=os.environ.get("GOVSHARE_DEFAULT_PROFILE", "national"),
            login_max_failures=_int("GOVSHARE_LOGIN_MAX_FAILURES", 5),
            login_lockout_minutes=_int("GOVSHARE_LOGIN_LOCKOUT_MINUTES", 15),
            session_age_minutes=_int("GOVSHARE_SESSION_MINUTES", 480),
            session_idle_minutes=_int("GOVSHARE_SESSION_IDLE_MINUTES", 30),
            max_request_mb=_int("GOVSHARE_MAX_REQUEST_MB", 100),
            email_host=os.environ.get("EMAIL_HOST", ""),  # empty: in-app inbox only
            email_port=_int("EMAIL_PORT", 25),
            email_from=os.environ.get("EMAIL_FROM", "govshare@localhost"),
            secure_cookies=_bool("GOVSHARE_SECURE_COOKIES", not debug and _bool("GOVSHARE_HTTPS", False)),
            # the platform's public address: base of DCAT identifiers and links in e-mails
            public_url=os.environ.get("GOVSHARE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
            letter_max_mb=_int("GOVSHARE_LETTER_MAX_MB", 10),  # stamped application letters (SHR-2)
            verify_per_minute=_int("GOVSHARE_VERIFY_PER_MINUTE", 600),  # online verification per caller (SHR-9)
            download_dir=Path(os.environ["GOVSHARE_DOWNLOAD_DIR"]).resolve()
            if os.environ.get("GOVSHARE_DOWNLOAD_DIR") else None,  # batch downloads (issue 11): shared storage
            download_keep_days=_int("GOVSHARE_DOWNLOAD_KEEP_DAYS", 7),
            upload_dir=Path(os.environ["GOVSHARE_UPLOAD_DIR"]).resolve()
            if os.environ.get("GOVSHARE_UPLOAD_DIR") else None,  # spreadsheet uploads (EXC-3): shared storage
            upload_max_mb=max(1, _int("GOVSHARE_UPLOAD_MAX_MB", 100)),
            upload_max_rows=max(1, _int("GOVSHARE_UPLOAD_MAX_ROWS", 1_000_000)),
            file_dir=Path(os.environ["GOVSHARE_FILE_DIR"]).resolve()
            if os.environ.get("GOVSHARE_FILE_DIR") else None,  # shared files (EXC-2): put on shared storage
            file_max_mb=max(1, _int("GOVSHARE_FILE_MAX_MB", 1024)),
            # items of one entry's centre table indexed for filters and sorts (issue 11): two indexes each
            max_query_indexes=max(0, _int("GOVSHARE_MAX_QUERY_INDEXES", 8)),
            # the data API's exact count of a page's matching rows (PostgreSQL centre): one that takes longer is
            # stopped and the planner's estimate given instead, labelled so (0: no limit) — 20 ms: with the ~10 ms
            # of a request before its count starts, a counted page stays within the 50 ms target (issue 11)
            count_ms=max(0, _int("GOVSHARE_DATA_COUNT_MS", 20)),
            # a large batch download is built in this many parts at once, a process each (1: one at a time)
            download_parts=max(1, _int("GOVSHARE_DOWNLOAD_PARTS", min(4, os.cpu_count() or 1))),
            # a first delivery made in SQL (PostgreSQL centre and front-end database) reads the centre in this many
            # sessions at once, each masking and hashing a part of every batch (1: one)
            delivery_streams=max(1, min(16, _int("GOVSHARE_DELIVERY_STREAMS", min(4, os.cpu_count() or 1)))),
            digest_hour=_int("GOVSHARE_DIGEST_HOUR", 8),  # local hour after which daily digests go out
            # a running job whose worker has not sent a heartbeat for this long is resumed elsewhere (issue 9);
            # with a beat every sixth of it, a dead worker is found within 25 + 25/6 < 30 s
            worker_stale_seconds=max(1, _int("GOVSHARE_WORKER_STALE_SECONDS", 25)),
            # HTTPS: HSTS + redirect + secure cookies; behind a TLS-terminating proxy name the header
            # it sets (X-Forwarded-Proto) — only a trusted proxy may set it (see docs/security.md)
            https=_bool("GOVSHARE_HTTPS", False),
            hsts_seconds=_int("GOVSHARE_HSTS_SECONDS", 365 * 24 * 3600),
            hsts_preload=_bool("GOVSHARE_HSTS_PRELOAD", True),
            proxy_ssl_header=_header("GOVSHARE_PROXY_SSL_HEADER"),
            # proxies whose X-Forwarded-For is believed (IPs or CIDRs); empty: REMOTE_ADDR is the client
            trusted_proxies=_networks("GOVSHARE_TRUSTED_PROXIES"),
            # login protection: free failures per (account, address) and per address, then a delay of
            # base·2^k seconds (capped) before the next attempt; failures older than the window are forgotten
            login_throttle_free=_int("GOVSHARE_LOGIN_THROTTLE_FREE", 3),
            login_throttle_ip_free=_int("GOVSHARE_LOGIN_THROTTLE_IP_FREE", 20),
            login_throttle_base_seconds=_int("GOVSHARE_LOGIN_THROTTLE_BASE_SECONDS", 2),
            login_throttle_max_seconds=_int("GOVSHARE_LOGIN_THROTTLE_MAX_SECONDS", 900),
            login_throttle_window_minutes=_int("GOVSHARE_LOGIN_THROTTLE_WINDOW_MINUTES", 60),
            # an address an account logged in from within this many days is "known": the account lock
            # does not apply there
            login_known_address_days=_int("GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS", 90),
            # SQLite front-end databases are files in this folder (nothing outside it is ever opened)
            source_dir=Path(os.environ.get("GOVSHARE_SOURCE_DIR") or data_dir / "sources").resolve(),
            # a front-end database on this machine's loopback: off in production (it would be the
            # platform's own host); the test suite and single-machine trials switch it on
            source_allow_loopback=_bool("GOVSHARE_SOURCE_ALLOW_LOOPBACK", False),
            # when set, front-end databases only in these networks; always refused besides: link-local and
            # cloud metadata addresses, the platform's own databases, and GOVSHARE_SOURCE_DENY_NETWORKS
            source_allow_networks=_networks("GOVSHARE_SOURCE_ALLOW_NETWORKS"),
            source_deny_networks=_networks("GOVSHARE_SOURCE_DENY_NETWORKS"),
            slot_alarm_mb=max(1, _int("GOVSHARE_SLOT_ALARM_MB", 1024)),
            slot_alarm_minutes=max(1, _int("GOVSHARE_SLOT_ALARM_MINUTES", 60)),
            datastore_url=_datastore_url(data_dir, database_url),
        )


def _datastore_url(data_dir: Path, database_url: str) -> str:
    """``GOVSHARE_DATASTORE_URL`` (default: an embedded SQLite file in the data dir); the metadata database
    itself is refused — the centre's copies of departments' tables never mix with the platform's rows."""
    url = os.environ.get("GOVSHARE_DATASTORE_URL") or f"sqlite:///{data_dir / 'datastore.sqlite3'}"
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(f"GOVSHARE_DATASTORE_URL: {url.split(':', 1)[0]}: is not sqlite:/// or postgresql:// "
                          "/ 只支持 sqlite:/// 或 postgresql://")
    if url.rstrip("/") == database_url.rstrip("/"):
        raise ConfigError("GOVSHARE_DATASTORE_URL is DATABASE_URL: the data resource centre needs a database of "
                          "its own / 数据资源中心须使用独立的数据库")
    return url


def _read_key(path: Path) -> str | None:
    """A key file's text (None when there is none); any other failure to read it is named."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc}) / 无法读取 {path}（{exc}）") from exc


def _key_file(path: Path) -> str:
    key = _read_key(path)
    if key is None:
        return ""
    if not key:
        raise ConfigError(f"{path} is empty: remove the empty file, then put the original key back (govshare "
                          f"restore FILE --keys-only) / {path} 为空：请删除此空文件，再放回原来的密钥"
                          f"（govshare restore FILE --keys-only）")
    return key


#: how long a process waits for a key file that another process is still writing in place (file
#: systems without hard links); an empty file still empty after it is refused
KEY_FILE_WAIT = 5.0
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def _local_secret(data_dir: Path) -> tuple[str, bool]:
    """No SECRET_KEY in the environment: keep a random one in the data dir (never in the repo).

    Returns the key and whether this process generated it.  A new key is right for a new instance
    only: on a database written with another key :mod:`govshare.core.keys` refuses to start and
    removes the generated file again (SEC-5).

    Processes that start together on a new data dir (``govshare serve`` and ``govshare worker`` on a
    first boot) all end up with the same key: the key is written whole to a file of this process's own
    (``secret_key.<pid>.<random>.part``, which backups skip like the key) and then hard-linked into
    place, which only one of them can do; the others read the winner's complete file.  (Created in
    place, a loser could read the file between its creation and its content, and run with another
    key than the one the database is written with.)  On a file system without hard links the key is
    created in place and a reader that finds the file empty waits up to :data:`KEY_FILE_WAIT`."""
    path = data_dir / "secret_key"
    deadline = time.monotonic() + KEY_FILE_WAIT
    while True:
        key = _read_key(path)
        if key is None and path.is_symlink() and not path.exists():  # (a file linked in since: another's key)
            raise ConfigError(f"{path} is a link to nothing: put the original secret_key file there / "
                              f"{path} 指向不存在的文件：请放回原来的 secret_key 文件")
        if key:
            _remove_stale_parts(data_dir)
            return key, False
        if key is None:
            try:
                return _create_key(data_dir, path), True
            except FileExistsError:
                pass  # another process won the race: read its key
            except OSError as exc:
                raise ConfigError(f"cannot create {path} ({exc}): set SECRET_KEY, or give the data dir to the "
                                  f"user govshare runs as / 无法创建 {path}（{exc}）：请设置 SECRET_KEY，或让运行"
                                  f"用户可写数据目录") from exc
        if time.monotonic() > deadline:
            raise ConfigError(f"{path} is empty: put the original secret_key file back, or remove the empty file "
                              f"on a new installation / {path} 为空：请放回原来的 secret_key 文件；新安装可删除此空文件")
        time.sleep(0.05)


def _remove_stale_parts(data_dir: Path) -> None:
    """A process killed while creating the key leaves its ``secret_key.*.part`` (a key in clear, never
    used): remove those older than a minute (a younger one may be another process's, at work)."""
    for part in data_dir.glob("secret_key.*.part"):
        try:
            if time.time() - part.lstat().st_mtime > 60:
                part.unlink()
        except OSError:
            pass


def _create_key(data_dir: Path, path: Path) -> str:
    """A new key at ``path``, complete before anyone can read it; ``FileExistsError`` when another
    process put one there first."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    own = data_dir / f"secret_key.{os.getpid()}.{secrets.token_hex(4)}.part"
    try:
        _write_new(own, key)
        try:
            os.link(own, path)  # FileExistsError: another process was first
        except OSError as exc:
            if isinstance(exc, FileExistsError) or exc.errno not in _NO_HARD_LINKS:
                raise
            _write_new(path, key)  # no hard links here: in place (readers of an empty file wait)
    finally:
        own.unlink(missing_ok=True)
    try:  # the new name survives a power cut along with what the database was written with
        directory = os.open(data_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:
        pass
    return key


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
