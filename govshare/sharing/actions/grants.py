"""Grants (SHR-4): the only thing that lets a channel deliver data.  Created by the application,
subscription and coordination actions (:func:`make_grant`, audited with them), revoked with immediate
effect by the provider or the centre (:func:`do_revoke_grant`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.catalog.validation import MASKING_RULE_HELP, masking_rule_problem
from govshare.core import audit
from govshare.core import masking as masks
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.notify import bilingual, notify
from govshare.sharing.actions._common import (
    assign_number,
    department_editors,
    optional_text,
    required_text,
    url,
)
from govshare.sharing.models import Application, Grant
from govshare.sharing.permissions import ANSWER, get_acting


def active_grant(entry: CatalogEntry, consumer_id: int) -> Grant | None:
    """The consumer's usable grant for ``entry`` (see :meth:`GrantQuerySet.usable`), if any."""
    return Grant.objects.usable().filter(entry=entry, consumer_id=consumer_id).order_by("-granted_at", "-pk").first()


def make_grant(actor: Any, *, source: str, entry: CatalogEntry, consumer_id: int, items: list[str],
               masking: dict[str, str], purpose: str, purpose_detail: str, channel: str, system: Any,
               expires_on: dt.date | None, conditions: str = "", application: Application | None = None,
               case: Any = None, valid_from: dt.date | None = None) -> Grant:
    """Create and audit a grant (called by an action that has checked who may give it)."""
    grant = Grant.objects.create(
        source=source, application=application, case=case, entry=entry, provider_id=entry.provider_id,
        consumer_id=consumer_id, system=system, items=items, masking=masking, purpose=purpose,
        purpose_detail=purpose_detail, channel=channel, conditions=conditions,
        valid_from=valid_from or timezone.localdate(), expires_on=expires_on, granted_by=actor)
    assign_number(grant, "SQ")
    audit.record(AuditCode.GRANT_CREATED, actor=actor, obj=grant, department=grant.consumer,
                 detail={"entry": entry.code, "source": source, "items": items, "purpose": purpose,
                         "channel": channel, "expires_on": expires_on.isoformat() if expires_on else None,
                         "masking": masking, "system": system.code if system else None})
    return grant


def default_masking(entry: CatalogEntry, items: list[str]) -> dict[str, str]:
    """The catalog's masking rules for the sensitive items among ``items`` (a grant's default)."""
    assert entry.current_version is not None
    return {i.name: i.masking_rule for i in entry.current_version.items.all()
            if i.name in items and i.is_sensitive and i.masking_rule}


def check_masking(masking: Any, items: list[str], version: Any = None) -> dict[str, str]:
    """A grant's masking (item → rule): rules every channel can apply; given the entry's ``version``, each fitting
    its item's data type, and one that hides something on a sensitive item (review M1, M3)."""
    if masking in (None, ""):
        return {}
    if not isinstance(masking, dict):
        raise ValidationFailed("invalid", _("Give the masking as item name → rule."), field="masking")
    clean: dict[str, str] = {}
    for name, rule in masking.items():
        if name not in items:
            raise ValidationFailed("masking_item_not_granted", _("%(item)s is not among the approved items."),
                                   field="masking", item=name)
        text = optional_text(rule, f"masking.{name}", 200)
        if text:
            item = version.items.filter(name=name).first() if version is not None else None
            if item is not None:
                problem = masking_rule_problem(text, item.data_type, item.is_sensitive, f"masking.{name}")
                if problem is not None:
                    raise problem
            try:
                masks.parse(text)  # every channel applies it (SEC-3): one it understands, or none at all
            except masks.MaskRuleError:
                raise ValidationFailed("masking_rule_unknown", MASKING_RULE_HELP, field=f"masking.{name}",
                                       rule=text) from None
            clean[name] = text
    return clean


@transaction.atomic
def do_revoke_grant(actor: Any, grant: Grant, *, reason: str) -> Grant:
    """Revoke a grant with immediate effect (the provider, or the centre as sharing authority)."""
    grant = get_acting(actor, ANSWER, Grant.objects.select_for_update(), pk=grant.pk)
    if grant.revoked_at is not None:
        raise Conflict("already_revoked", _("Grant %(grant)s was already revoked."), grant=grant.number)
    text = required_text(reason, "reason")
    grant.revoked_at, grant.revoked_by, grant.revoke_reason = timezone.now(), actor, text
    grant.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit.record(AuditCode.GRANT_REVOKED, actor=actor, obj=grant, department=grant.consumer,
                 detail={"reason": text[:500], "entry_id": grant.entry_id})
    notify(department_editors(grant.consumer), "sharing.revoked",
           bilingual(_("Grant %(grant)s revoked"), grant=grant.number), body=text, url=url("grant", grant.pk),
           obj=grant)
    return grant
