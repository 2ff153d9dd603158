"""Encryption of personal data at rest (SEC-3): Fernet (AES-128-CBC + HMAC-SHA256).

The key is derived with HKDF from ``GOVSHARE_FIELD_KEY`` (default: SECRET_KEY).  A keyed digest
(HMAC-SHA256) of the normalised value allows uniqueness checks and look-ups without decrypting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _derive(info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"govshare", info=info).derive(
        settings.GOVSHARE_FIELD_KEY.encode("utf-8")
    )


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"field-encryption")))


def encrypt(value: str) -> str:
    return _fernet(settings.GOVSHARE_FIELD_KEY).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    return _fernet(settings.GOVSHARE_FIELD_KEY).decrypt(token.encode("ascii")).decode("utf-8")


def digest(value: str) -> str:
    return hmac.new(_derive(b"field-digest"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def token_hash(secret: str) -> str:
    """API-token secrets are 256-bit random strings: a plain SHA-256 is enough (no brute force)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def audit_chain_key() -> bytes:
    """Key of the audit hash chain (HMAC): someone who can write the database but does not hold
    the application's key cannot rebuild a consistent chain after tampering (SEC-4)."""
    return _chain_key(settings.GOVSHARE_FIELD_KEY)


@lru_cache(maxsize=4)
def _chain_key(key: str) -> bytes:
    return _derive(b"audit-chain")


def pseudonym_secret() -> bytes:
    """The secret the per-grant pseudonym keys are derived from (SEC-3, :func:`govshare.core.masking.grant_key`):
    the same person gets the same token inside one grant, other tokens in other grants."""
    return _pseudonym_secret(settings.GOVSHARE_FIELD_KEY)


@lru_cache(maxsize=4)
def _pseudonym_secret(key: str) -> bytes:
    return _derive(b"pseudonyms")


def seal(data: bytes, purpose: str) -> str:
    """``data`` encrypted and authenticated (Fernet) under a key of its own for ``purpose`` — for tokens handed to
    clients that must neither be read nor changed by them (the data API's page cursors hold key values)."""
    return _sealer(settings.GOVSHARE_FIELD_KEY, purpose).encrypt(data).decode("ascii")


def unseal(token: str, purpose: str) -> bytes:
    """What :func:`seal` sealed; ``cryptography.fernet.InvalidToken`` for anything else."""
    return _sealer(settings.GOVSHARE_FIELD_KEY, purpose).decrypt(token.encode("ascii"))


@lru_cache(maxsize=16)
def _sealer(key: str, purpose: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"sealed:" + purpose.encode("utf-8"))))
