"""Typed configuration read from environment variables (one place, validated at start-up).

Every setting an operator may change is listed here with its type and default, so that
README.md, ``govshare --help`` and settings.py agree.  DEBUG is off unless asked for.
"""

from __future__ import annotations

import os
import secrets
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


@dataclass(frozen=True)
class Config:
    debug: bool
    data_dir: Path
    database_url: str
    secret_key: str
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
    digest_hour: int

    @classmethod
    def from_env(cls) -> Config:
        debug = _bool("DEBUG", False)
        data_dir = Path(os.environ.get("GOVSHARE_DATA_DIR") or BASE_DIR / "var").resolve()
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'govshare.sqlite3'}"
        secret_key = os.environ.get("SECRET_KEY", "")
        if not secret_key:
            secret_key = _local_secret(data_dir)
        return cls(
            debug=debug,
            data_dir=data_dir,
            database_url=database_url,
            secret_key=secret_key,
            allowed_hosts=_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"]),
            csrf_trusted_origins=_list("CSRF_TRUSTED_ORIGINS", []),
            # Key for encrypting personal data (ID numbers) at rest; defaults to one derived
            # from SECRET_KEY.  Rotating SECRET_KEY without setting this makes stored ID
            # numbers unreadable — see README "Environment".
            field_key=os.environ.get("GOVSHARE_FIELD_KEY", "") or secret_key,
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
            digest_hour=_int("GOVSHARE_DIGEST_HOUR", 8),  # local hour after which daily digests go out
        )


def _local_secret(data_dir: Path) -> str:
    """No SECRET_KEY in the environment: keep a random one in the data dir (never in the repo)."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
