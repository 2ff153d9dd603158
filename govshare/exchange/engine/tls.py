"""TLS to front-end databases (EXC-6, SEC): the one home of what a connection to a PostgreSQL or MySQL/MariaDB
source or delivery target trusts.  Django-free.

Modes (``SourceSpec.tls``): ``disable``; ``prefer`` (TLS when the server offers it, certificate not checked);
``require`` (TLS or no connection, certificate not checked); ``verify-ca`` (the certificate must come from the
CA certificates the source's administrator gave — the host name is not checked: for servers reached by an
address their certificate does not name); ``verify-full`` (the certificate must come from those CAs, or from the
system's when none was given, and name the host).

Departments' intranets mostly run their own certificate authority: the administrator pastes its certificate
(PEM, :func:`read_certificates` checks it) and only that CA is then trusted for the source — never the system's
CAs beside it.  ``verify-ca`` takes no system CAs at all: any certificate any public CA issued would pass it.

PostgreSQL's libpq reads trusted CAs from a file only (``sslrootcert``): :func:`ca_file` writes each distinct
PEM once per process into a private directory (mode 0700, removed at exit).  MySQL: an ``ssl.SSLContext``
loaded from the PEM in memory (:func:`mysql_context`).
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import hashlib
import os
import re
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
#: the modes that check the server's certificate
VERIFYING = frozenset({"verify-ca", "verify-full"})
#: the most a pasted PEM may hold (a chain of a few CAs is a few KiB)
MAX_PEM_CHARS = 64 * 1024
MAX_CERTIFICATES = 20

#: a private key in any of the forms people export them: PEM (PKCS#1, #8, EC, OpenSSH, encrypted), PuTTY's .ppk
_PRIVATE_KEY = re.compile(r"PRIVATE KEY-----|^Private-Lines:|^PuTTY-User-Key-File-", re.MULTILINE)


def looks_like_private_key(text: str) -> bool:
    """Whether pasted text holds a private key (it must be refused by name and never shown back)."""
    return bool(_PRIVATE_KEY.search(text))


_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


class CertificateError(ValueError):
    """A pasted PEM that cannot be used: ``code`` says why (too_long, not_text, no_certificate, private_key,
    not_certificate, unreadable, too_many), ``number`` which block (1, 2 …; 0: the whole text)."""

    def __init__(self, code: str, number: int = 0, detail: str = "") -> None:
        super().__init__(code, number, detail)
        self.code, self.number, self.detail = code, number, detail


@dataclass(frozen=True)
class Certificate:
    """What a person checks of a CA certificate before trusting it."""

    subject: str
    issuer: str
    not_before: dt.datetime  # UTC
    not_after: dt.datetime  # UTC
    sha256: str  # the fingerprint, as browsers and ``openssl x509 -fingerprint -sha256`` show it
    is_ca: bool  # basicConstraints CA:TRUE (a server's own self-signed certificate may be trusted as it is)

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or dt.datetime.now(dt.UTC)) > self.not_after


def read_certificates(pem: str) -> tuple[str, list[Certificate]]:
    """The certificates of a pasted PEM text, and the text made of just them (what is stored and trusted:
    comments and attributes around the blocks dropped).  Raises :class:`CertificateError`: a private key is
    refused by name (it must never be pasted anywhere), any other block that is not a certificate too."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if len(pem) > MAX_PEM_CHARS:
        raise CertificateError("too_long")
    if _BINARY.search(pem):  # a DER file's bytes; text around the blocks may be in any script
        raise CertificateError("not_text")
    blocks = _blocks(pem)
    if looks_like_private_key(pem):
        number = next((i for i, (label, _text) in enumerate(blocks, 1) if "PRIVATE KEY" in label), 0)
        raise CertificateError("private_key", number)
    if not blocks:
        raise CertificateError("no_certificate")
    if len(blocks) > MAX_CERTIFICATES:
        raise CertificateError("too_many")
    found: list[Certificate] = []
    kept: list[str] = []
    for number, (label, text) in enumerate(blocks, 1):
        if label != "CERTIFICATE":
            raise CertificateError("not_certificate", number, label)
        try:
            cert = x509.load_pem_x509_certificate(text.encode("ascii"))
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value \
                if any(e.oid == x509.oid.ExtensionOID.BASIC_CONSTRAINTS for e in cert.extensions) else None
            der = cert.public_bytes(serialization.Encoding.DER)
            found.append(Certificate(
                subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                sha256=":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()),
                is_ca=bool(constraints and constraints.ca)))
            kept.append(cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))
        except ValueError as exc:  # also what cryptography raises for a malformed extension
            raise CertificateError("unreadable", number, str(exc)[:200]) from None
    try:  # what OpenSSL will be given must load there too
        ssl.create_default_context(cadata="".join(kept))
    except (ssl.SSLError, ValueError) as exc:
        raise CertificateError("unreadable", 0, str(exc)[:200]) from None
    return "".join(kept), found


_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----")


def _blocks(pem: str) -> list[tuple[str, str]]:
    """The PEM blocks of a text, (label, the block), in one pass: each BEGIN is matched with the first END of the same
    label after it (a lazy regular expression over hostile text would take quadratic time)."""
    found: list[tuple[str, str]] = []
    at = 0
    while (begin := _BEGIN.search(pem, at)) is not None:
        end_marker = f"-----END {begin.group(1)}-----"
        end = pem.find(end_marker, begin.end())
        if end < 0:  # a BEGIN without its END (words, a note): the blocks after it still count
            at = begin.end()
            continue
        found.append((begin.group(1), pem[begin.start():end + len(end_marker)]))
        at = end + len(end_marker)
    return found


# -- PostgreSQL ------------------------------------------------------------------------------------------------

_files_lock = threading.Lock()
_files_dir: Path | None = None


def ca_file(pem: str) -> str:
    """A file holding ``pem`` for libpq's ``sslrootcert``, in this process's private directory (written once
    per distinct PEM, atomically; made again if something removed it)."""
    global _files_dir
    digest = hashlib.sha256(pem.encode("utf-8")).hexdigest()
    with _files_lock:
        if _files_dir is None or not _files_dir.is_dir():
            _files_dir = Path(tempfile.mkdtemp(prefix="govshare-ca-"))  # 0700, a name nobody could guess
            atexit.register(shutil.rmtree, _files_dir, True)
        path = _files_dir / f"{digest}.pem"
        if not path.is_file():
            scratch = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            scratch.write_text(pem, encoding="ascii")
            os.replace(scratch, path)
    return str(path)


def pg_params(mode: str, ca: str, libpq_version: int) -> dict[str, Any]:
    """libpq's connection parameters for the mode and the CAs given (``ca``: PEM, empty: the system's)."""
    params: dict[str, Any] = {"sslmode": mode}
    if libpq_version >= 160000:
        params["sslcertmode"] = "disable"  # no client certificate from this machine's ~/.postgresql
        if mode in ("disable", "prefer"):
            params["require_auth"] = "!password"  # no cleartext password outside TLS
    if mode in VERIFYING and ca:
        params["sslrootcert"] = ca_file(ca)
    elif mode in VERIFYING and libpq_version >= 160000:
        params["sslrootcert"] = "system"  # the system's CAs, never ~/.postgresql/root.crt of whoever runs it
    return params


# -- MySQL / MariaDB -------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def mysql_context(mode: str, ca: str) -> ssl.SSLContext:
    """The TLS context of a MySQL connection in a mode other than ``disable`` (cached: loading the system's CAs
    takes ~25 ms).  ``ca``: the PEM of the CAs trusted instead of the system's."""
    if mode not in VERIFYING:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cadata=ca) if ca else ssl.create_default_context()
    context.check_hostname = mode == "verify-full"
    return context
