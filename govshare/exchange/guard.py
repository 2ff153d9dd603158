"""Where a front-end database may be (EXC-6; hostile until checked): the one check every way of reaching a
source goes through — registering it, testing it, reading its tables, copying from it.

* A server source's host is resolved **once** here; the engine connects to the address that was checked,
  never to the name again (a DNS answer that changes between check and connect — rebinding — cannot
  steer it elsewhere).  Refused: link-local and cloud-metadata addresses, unspecified, multicast and
  broadcast addresses, this machine — loopback and its own interfaces' addresses — (unless
  ``GOVSHARE_SOURCE_ALLOW_LOOPBACK``), the platform's own databases (also when they cannot be resolved: fail closed), ``GOVSHARE_SOURCE_DENY_NETWORKS``, and — when
  ``GOVSHARE_SOURCE_ALLOW_NETWORKS`` is set — everything outside it.
* A SQLite source is a file inside ``GOVSHARE_SOURCE_DIR``; its real path (links followed) must stay
  there.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}

#: cloud metadata services (AWS/OpenStack/Tencent/Huawei are link-local anyway; Alibaba Cloud's is not)
METADATA = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "100.100.100.200/32", "fd00:ec2::254/128",
                                               "fe80::/10")]

REASONS: dict[str, Any] = {
    "metadata": _("a link-local or cloud metadata address"),
    "loopback": _("this machine (loopback or one of its own addresses)"),
    "unspecified": _("an unspecified, multicast, broadcast or reserved address"),
    "platform": _("the platform's own database"),
    "denied": _("a network the operator has closed to sources (GOVSHARE_SOURCE_DENY_NETWORKS)"),
    "not_allowed": _("outside the networks the operator has opened to sources (GOVSHARE_SOURCE_ALLOW_NETWORKS)"),
}


class AddressRefused(ValidationFailed):
    """A host or path a source may not have; ``reason`` is a key of :data:`REASONS` (or ``outside_folder``).
    The actions record each refusal (SOURCE_REFUSED) even though nothing is saved."""

    def __init__(self, reason: str, message: Any, *, field: str, **params: Any) -> None:
        self.reason = reason
        super().__init__("source_address_refused", message, field=field, reason=reason, **params)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4 address written as IPv6 (::ffff:a.b.c.d, 6to4 is not followed) is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself); ValidationFailed when it resolves to none."""
    host = host.strip().strip("[]")
    try:
        return [_plain(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValidationFailed("host_not_found", _("The host name %(host)s cannot be resolved (%(why)s)."),
                               field="host", host=host, why=str(exc)) from None
    found: list[IPAddress] = []
    for info in infos:
        address = _plain(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        if address not in found:
            found.append(address)
    return found


def is_this_machine(address: IPAddress) -> bool:
    """Loopback, or an address of one of this machine's own interfaces (a socket can be bound to it): a
    service listening on all interfaces is reached through those as well as through 127.0.0.1."""
    if address.is_loopback:
        return True
    if address.is_unspecified or address.is_multicast or address.is_reserved:  # (255.255.255.255 binds too)
        return False
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True


def _own_databases() -> list[tuple[set[IPAddress], int, bool]]:
    """(addresses, port, on loopback) of the databases the platform itself uses."""
    own: list[tuple[set[IPAddress], int, bool]] = []
    urls: list[tuple[str, str, Any]] = []
    for conf in settings.DATABASES.values():
        engine = str(conf.get("ENGINE", ""))
        kind = "postgresql" if "postgres" in engine else "mysql" if "mysql" in engine else ""
        if kind:
            urls.append((kind, str(conf.get("HOST") or ""), conf.get("PORT")))
    datastore = getattr(settings, "GOVSHARE_DATASTORE_URL", "")
    if datastore and not datastore.startswith("sqlite"):
        parts = urlsplit(datastore)
        urls.append(("mysql" if parts.scheme.startswith("mysql") else "postgresql", parts.hostname or "", parts.port))
    for kind, host, port in urls:
        number = int(port) if port else DEFAULT_PORTS[kind]
        if not host or host.startswith("/") or host == "localhost":  # a unix socket is this machine
            own.append((set(), number, True))
            continue
        try:
            addresses = set(resolve(host, number))
        except ValidationFailed:  # fail closed: a platform database we cannot place could be any address
            raise ValidationFailed("platform_unresolved", _("The platform's own database host %(host)s cannot be "
                                                             "resolved now, so no source address can be checked "
                                                             "against it; try again."), field="host",
                                   host=host) from None
        own.append((addresses, number, any(is_this_machine(a) for a in addresses)))
    return own


def refusal(address: IPAddress, port: int) -> str | None:
    """Why ``address:port`` may not be a source's address (a key of :data:`REASONS`), or None."""
    address = _plain(address)
    if any(address in net for net in METADATA if net.version == address.version):
        return "metadata"
    local = is_this_machine(address)
    for addresses, own_port, on_this_machine in _own_databases():
        if port == own_port and (address in addresses or (on_this_machine and local)):
            return "platform"
    if local:  # loopback or this machine's own address (::1 is also "reserved")
        return None if settings.GOVSHARE_SOURCE_ALLOW_LOOPBACK else "loopback"
    if address.is_unspecified or address.is_multicast or address.is_reserved or (
            isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255")):
        return "unspecified"
    if any(address in net for net in _networks(settings.GOVSHARE_SOURCE_DENY_NETWORKS)
           if net.version == address.version):
        return "denied"
    allowed = _networks(settings.GOVSHARE_SOURCE_ALLOW_NETWORKS)
    if allowed and not any(address in net for net in allowed
                                                       if net.version == address.version):
        return "not_allowed"
    return None


def checked_address(kind: str, host: str, port: int | None) -> str:
    """The address to connect to for ``host``: every address it resolves to must pass :func:`refusal`
    (a name with one good and one bad address is refused: the driver might pick either)."""
    number = port or DEFAULT_PORTS[kind]
    addresses = resolve(host, number)
    for address in addresses:
        reason = refusal(address, number)
        if reason is not None:
            raise AddressRefused(reason, _("%(host)s (%(address)s) may not be a source: it is %(why)s."),
                                 field="host", host=host, address=str(address), why=REASONS[reason])
    return str(addresses[0])


def _platform_files() -> set[Path]:
    """The real paths of the platform's own SQLite databases (metadata, data resource centre) and their
    journals: never a source, whatever folder the operator chose for sources."""
    paths = [str(conf.get("NAME", "")) for conf in settings.DATABASES.values()
             if "sqlite" in str(conf.get("ENGINE", ""))]
    datastore = str(getattr(settings, "GOVSHARE_DATASTORE_URL", ""))
    if datastore.startswith("sqlite:///"):
        paths.append(datastore.removeprefix("sqlite:///"))
    found: set[Path] = set()
    for path in paths:
        if path and path != ":memory:":
            real = Path(path).resolve()
            found |= {real, *(real.with_name(real.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}
    return found


def source_dir() -> Path:
    return Path(settings.GOVSHARE_SOURCE_DIR)


def checked_sqlite_path(path: str) -> Path:
    """The real path of a SQLite source given relative to (or inside) ``GOVSHARE_SOURCE_DIR``."""
    folder = source_dir().resolve()
    text = path.strip()
    if not text or "\x00" in text:
        raise ValidationFailed("required", _("Give the file's path inside %(folder)s."), field="database",
                               folder=str(folder))
    candidate = Path(text) if os.path.isabs(text) else folder / text
    real = candidate.resolve()
    if real != folder and folder not in real.parents:
        raise AddressRefused("outside_folder", _("%(path)s is outside the folder for SQLite sources (%(folder)s)."),
                             field="database", path=text, folder=str(folder))
    if real in _platform_files():
        raise AddressRefused("platform", _("%(path)s is one of the platform's own databases."), field="database",
                             path=text)
    if not real.exists():
        raise ValidationFailed("no_such_file", _("There is no file %(path)s in %(folder)s."), field="database",
                               path=text, folder=str(folder))
    if not real.is_file():
        raise ValidationFailed("not_a_file", _("%(path)s is not a file."), field="database", path=text)
    return real


def stored_sqlite_path(path: str) -> str:
    """How a checked SQLite path is stored: relative to the folder (the folder may move with the data dir)."""
    return str(checked_sqlite_path(path).relative_to(source_dir().resolve()))
