"""The key the data was written with, and refusing any other (SEC-5, SEC-4, SEC-3).

The audit chain's HMAC and the encryption of ID numbers are keyed from ``GOVSHARE_FIELD_KEY``
(default: ``SECRET_KEY``, default: the ``secret_key`` file of the data dir).  A data dir that lost its
``secret_key`` file used to make the platform generate a new key silently: ``audit verify`` then
reported every row as tampered, and the verification wrote a row signed with the wrong key.

Now the database keeps the key's *fingerprint* (``KeyFingerprint``: an HMAC of a fixed label under the
key, never the key), written the first time.  :func:`require_key` — run by ``govshare`` before any
command (serve, worker, everything that writes), by the audit writer once per process, and as a
``manage.py check`` error — refuses a key whose fingerprint differs, and a database without a
fingerprint yet whose newest audit row or encrypted ID number does not verify under the key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from govshare.config import ConfigError

LABEL = b"govshare key fingerprint v1"
logger = logging.getLogger("govshare.keys")

#: (database, fingerprint) pairs checked by this process
_verified: set[tuple[str, str]] = set()


class KeyRefused(ConfigError):
    """The configured key is not the one the database was written with (or there is none)."""


def fingerprint(key: str | None = None) -> str:
    """HMAC-SHA256 of a fixed label under the key (hex): names the key without revealing it."""
    key = settings.GOVSHARE_FIELD_KEY if key is None else key
    return hmac.new(key.encode("utf-8"), LABEL, hashlib.sha256).hexdigest()


def _database() -> str:
    return f"{connection.vendor}:{connection.settings_dict.get('NAME')}"


def _table_exists() -> bool:
    """The fingerprint's table is there (the database is migrated); an unreachable database raises
    ``DatabaseError`` — it is never taken for one that was not migrated yet."""
    from govshare.core.models import KeyFingerprint

    with connection.cursor() as cur:
        return KeyFingerprint._meta.db_table in connection.introspection.table_names(cur)


def _key_was_generated() -> bool:
    """This process generated the key the data is keyed from (no SECRET_KEY, no field key, no file)."""
    config = getattr(settings, "CONFIG", None)
    return bool(getattr(config, "secret_key_generated", False)) and \
        getattr(config, "field_key", None) == getattr(config, "secret_key", "") == settings.GOVSHARE_FIELD_KEY


def _refusal(reason: str) -> KeyRefused:
    data_dir = Path(getattr(settings, "DATA_DIR", "."))
    if _key_was_generated():
        head = (f"密钥缺失：数据目录 {data_dir} 中没有 secret_key 文件，也未设置 SECRET_KEY / GOVSHARE_FIELD_KEY，"
                f"而数据库中的审计记录或加密数据是用原密钥写入的。 / The key is missing: the data dir {data_dir} "
                f"has no secret_key file and neither SECRET_KEY nor GOVSHARE_FIELD_KEY is set, but the "
                f"database holds audit rows or encrypted data written with the original key. ")
    else:
        head = ("密钥不符：配置的密钥不是写入该数据库时使用的密钥。 / The key differs from the one this "
                "database was written with. ")
    return KeyRefused(
        head + f"({reason}) "
        "请放回原来的 secret_key 文件（例如从带密钥的备份中恢复：govshare restore FILE --keys-only），或设置原来的 "
        "SECRET_KEY / GOVSHARE_FIELD_KEY；在此之前平台不会启动，也不写任何审计记录。 / Put the original secret_key "
        "file back (e.g. from a backup with keys: govshare restore FILE --keys-only) or set the original "
        "SECRET_KEY / GOVSHARE_FIELD_KEY; until then the platform does not start and writes no audit row. "
        "See docs/operations.md.")


def check_against_data() -> str:
    """With no fingerprint stored yet: the reason the key does not fit the data ('' when it fits).

    The newest audit row must verify under the key, and one encrypted ID number must decrypt."""
    from cryptography.fernet import InvalidToken

    from govshare.core import audit, crypto
    from govshare.core.models import AuditEvent, User

    row = (AuditEvent.objects.order_by("-id").values("id", "prev_hash", "row_hash", *audit.ALL_HASHED_FIELDS)
           .first())
    if row is not None and audit.row_digest(row["prev_hash"], row) != row["row_hash"]:
        return f"audit row {row['id']} does not verify under this key / 审计记录 {row['id']} 用此密钥校验不通过"
    token = (User.objects.exclude(id_number_encrypted="").order_by("id")
             .values_list("id_number_encrypted", flat=True).first())
    if token:
        try:
            crypto.decrypt(token)
        except (InvalidToken, ValueError):
            return "an encrypted ID number does not decrypt with this key / 加密的身份证号无法用此密钥解密"
    return ""


def stored_fingerprint() -> str | None:
    from govshare.core.models import KeyFingerprint

    return KeyFingerprint.objects.filter(pk=1).values_list("fingerprint", flat=True).first()


def problem(*, record: bool = False) -> str:
    """Why the configured key may not be used with this database ('' when it may).

    ``record``: store the fingerprint when there is none yet and the key fits the data."""
    if not _table_exists():
        return ""  # not migrated yet: nothing was written with any key
    current = fingerprint()
    stored = stored_fingerprint()
    if stored is not None:
        return "" if hmac.compare_digest(stored, current) else (
            "its fingerprint differs from the one stored in the database / 指纹与数据库中记录的不同")
    reason = check_against_data()
    if reason or not record:
        return reason
    from govshare.core.models import KeyFingerprint

    with transaction.atomic():
        KeyFingerprint.objects.get_or_create(pk=1, defaults={"fingerprint": current})
    return "" if stored_fingerprint() == current else "another process stored another key's fingerprint"


def require_key() -> None:
    """Refuse (``KeyRefused``) to go on with a key the database was not written with; store the
    fingerprint the first time.  Checked once per process and database."""
    marker = (_database(), fingerprint())
    if marker in _verified:
        return
    if not _table_exists():
        return  # not migrated yet: nothing was written with any key; checked again at the next call
    reason = problem(record=True)
    if reason:
        _forget_generated_key()
        raise _refusal(reason)
    _verified.add(marker)  # only a database whose fingerprint was read (an unreachable one raised)


def check_at_start() -> None:
    """:func:`require_key` before a process starts its work (every ``govshare`` command, the WSGI
    application).  A database unreachable now is left to the work itself (and ``/healthz``): the
    key is then checked at the first audit write."""
    try:
        require_key()
    except DatabaseError as exc:
        logger.warning("key not checked at start, the database is unreachable: %s", exc)


def _forget_generated_key() -> None:
    """A key this process generated protects nothing yet: remove it so that the next start does not
    keep it (the operator puts the original one back)."""
    if not _key_was_generated():
        return
    path = Path(settings.DATA_DIR) / "secret_key"
    try:
        if path.read_text().strip() == settings.SECRET_KEY:
            path.unlink()
            logger.warning("removed the newly generated %s: the database was written with another key", path)
    except OSError:
        pass


def forget_checks() -> None:
    """Tests, restore: check again on next use."""
    _verified.clear()


def system_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``manage.py check``: an error when the key does not fit the database (read-only)."""
    from django.core import checks

    from govshare.core.db import no_database_yet

    if no_database_yet(connection):
        return []  # no database yet (do not create an empty file by connecting)
    try:
        reason = problem(record=False)
    except (DatabaseError, RuntimeError):  # database unreachable or not allowed here (tests)
        return []
    if not reason:
        return []
    _forget_generated_key()
    return [checks.Error(str(_refusal(reason)), id="govshare.E901")]
