"""Jurisdiction catalog snapshots (CAT-7): the centre publishes a numbered, checksummed copy of
all published entries of the jurisdiction's departments."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from govshare.catalog.actions._common import required_text
from govshare.catalog.models import CatalogEntry, CatalogSnapshot
from govshare.catalog.serialize import FORMAT_VERSION, entry_dict
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.models import Jurisdiction
from govshare.core.permissions import require
from govshare.core.roles import Capability


def published_entries(jurisdiction: Jurisdiction) -> Any:
    return (CatalogEntry.objects.filter(status=CatalogEntry.Status.PUBLISHED,
                                        provider__jurisdiction=jurisdiction)
            .select_related("provider", "project", "current_version__classification")
            .prefetch_related("current_version__items").order_by("code"))


@transaction.atomic
def do_publish_snapshot(actor: Any, jurisdiction: Jurisdiction, *, title: str, note: str = "",
                        operator: bool = False) -> CatalogSnapshot:
    """``operator=True`` with ``actor=None``: the machine's operator (``govshare catalog snapshot``,
    e.g. from cron for the periodic publication of CAT-7)."""
    if not (actor is None and operator):
        require(actor, Capability.PUBLISH_SNAPSHOT)
    title = required_text(title, "title", 200)
    jurisdiction = Jurisdiction.objects.select_for_update().get(pk=jurisdiction.pk)  # one number at a time
    number = (CatalogSnapshot.objects.filter(jurisdiction=jurisdiction).aggregate(m=Max("number"))["m"] or 0) + 1
    now = timezone.now()
    entries = [entry_dict(e, e.current_version) for e in published_entries(jurisdiction)]
    content = {"format": "govshare-catalog", "format_version": FORMAT_VERSION,
               "jurisdiction": {"code": jurisdiction.code, "name": jurisdiction.name},
               "snapshot": number, "title": title, "published_at": now.isoformat(), "entries": entries}
    digest = hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    snap = CatalogSnapshot.objects.create(
        jurisdiction=jurisdiction, number=number, title=title, note=(note or "").strip(), created_by=actor,
        created_at=now, entry_count=len(entries), department_count=len({e["provider"] for e in entries}),
        content=content, sha256=digest)
    audit.record(AuditCode.SNAPSHOT_PUBLISHED, actor=actor, obj=snap,
                 detail={"number": number, "entries": len(entries), "sha256": digest})
    return snap
