"""Keys of consuming systems (issue 11 item 3): a department administrator issues a key to one of its
department's systems — the secret is shown once, only its SHA-256 is kept — and revokes it with immediate
effect.  A system calling the data API presents it as ``Authorization: Bearer gsk_…`` over TLS; every refusal is
audited (``SYSTEM_KEY_REJECTED``) and every use is in the access log."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, crypto, stamps
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, Forbidden, ValidationFailed
from govshare.core.permissions import Action, get_for
from govshare.core.roles import Role
from govshare.sharing.actions._common import required_text
from govshare.sharing.models import ConsumingSystem, SystemKey

KEY_PREFIX = "gsk"
#: the longest a key may live (the administrator issues a new one before it ends)
MAX_KEY_DAYS = 1095


@dataclass
class NewSystemKey:
    key: SystemKey
    secret: str  # shown once


def parse_system_key(raw: str) -> str | None:
    """The lookup prefix of a presented key (``gsk_<8 hex>_<secret>``), or None when it is not one."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8 or len(parts[2]) < 32:
        return None
    return parts[1]


@transaction.atomic
def do_issue_system_key(actor: Any, system: ConsumingSystem, *, name: str, days: int = 365) -> NewSystemKey:
    """A new key for ``system`` (its department's administrator only)."""
    system = get_for(actor, Action.CHANGE, ConsumingSystem.objects.select_for_update(), pk=system.pk)
    if not (actor.has_role(Role.DEPT_ADMIN) and actor.department_id == system.department_id):
        # review H5: a key reads as its department (own data unmasked): only that department's administrator issues
        # one — not the centre's, who may still revoke any
        raise Forbidden("not_own_system", _("Only the administrator of %(department)s issues keys to its systems."),
                        department=system.department.name)
    name = required_text(name, "name", 100)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_KEY_DAYS:
        raise ValidationFailed("key_days", _("A key must expire within 1 to %(max)d days."), max=MAX_KEY_DAYS,
                               field="days")
    if not system.is_active:
        raise Conflict("system_inactive", _("The system %(system)s is deactivated: reactivate it first."),
                       system=system.name)
    if system.keys.filter(name=name, revoked_at__isnull=True).exists():
        raise Conflict("duplicate_key_name", _("The system already has a key named %(name)s."), name=name,
                       field="name")
    prefix = secrets.token_hex(4)
    while SystemKey.objects.filter(prefix=prefix).exists():  # 4 random bytes: a collision is rare, not impossible
        prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = SystemKey.objects.create(system=system, name=name, prefix=prefix, secret_hash=crypto.token_hash(secret),
                                   created_by=actor, expires_at=timezone.now() + dt.timedelta(days=days))
    audit.record(AuditCode.SYSTEM_KEY_ISSUED, actor=actor, obj=key, department=system.department,
                 detail={"system": system.code, "name": name, "prefix": prefix,
                         "expires_at": key.expires_at.isoformat()})
    return NewSystemKey(key, secret)


@transaction.atomic
def do_revoke_system_key(actor: Any, key: SystemKey) -> SystemKey:
    """Revoke a key at once (its system's department administrator, or the centre's)."""
    key = get_for(actor, Action.CHANGE, SystemKey.objects.select_for_update().select_related("system"), pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at, key.revoked_by = timezone.now(), actor
        key.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(AuditCode.SYSTEM_KEY_REVOKED, actor=actor, obj=key, department=key.system.department,
                     detail={"system": key.system.code, "prefix": key.prefix})
    return key


#: how often a key's "last used" is written (each call of a system is in the access log anyway)
LAST_USED_EVERY = dt.timedelta(minutes=1)


#: usable keys by the SHA-256 of their secret, with their system and its department, kept while the access stamp
#: stays the same (any write to keys, systems or departments but a key's "last used" changes it)
_USABLE_KEYS = stamps.StampedCache(size=1024)


def _refusal(key: SystemKey, now: dt.datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at <= now:
        return "expired"
    if not key.system.is_active or not key.system.department.is_active:
        return "system_inactive"
    return ""


def authenticate_system_key(raw: str, *, stamp: Any) -> tuple[ConsumingSystem | None, SystemKey | None, str]:
    """(system, key, "") for a usable key; else (None, the key if known, the reason: ``malformed``,
    ``unknown``, ``revoked``, ``expired``, ``system_inactive``), the refusal audited.  A key found usable is
    kept under the access stamp (:mod:`govshare.core.stamps`; ``stamp``: its value as the request read it first,
    before anything else — :class:`govshare.sharing.auth.SystemKeyAuth`): the next call reads the stamp, not three
    tables — and a
    revocation, a deactivation or any other change of them counts from the next call on."""
    prefix = parse_system_key(raw)
    key = None
    reason = ""
    now = timezone.now()
    if prefix is None:
        reason = "malformed"
    else:
        digest = crypto.token_hash(raw.strip())
        kept = _USABLE_KEYS.get(digest, stamp)
        if kept is not None and not _refusal(kept, now):
            _touch(kept, now)
            return kept.system, kept, ""
        key = SystemKey.objects.select_related("system", "system__department").filter(prefix=prefix).first()
        if key is None or not secrets.compare_digest(key.secret_hash, digest):
            reason, key = "unknown", None
        else:
            reason = _refusal(key, now)
            if not reason:
                _USABLE_KEYS.put(digest, stamp, key)
    if reason:
        with transaction.atomic():
            audit.record(AuditCode.SYSTEM_KEY_REJECTED, obj=key, outcome="denied",
                         department=key.system.department if key else None,
                         detail={"reason": reason, "system": key.system.code if key else ""})
        return None, key, reason
    assert key is not None
    _touch(key, now)
    return key.system, key, ""


def _touch(key: SystemKey, now: dt.datetime) -> None:
    """Write the key's "last used" to the minute: a system calling many times a second does not write its row
    each time (nor does it change the access stamp: the column is not watched)."""
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        key.last_used_at = now
        SystemKey.objects.filter(pk=key.pk).update(last_used_at=now)
