"""Aggregated demand and the high-frequency shared library (高频共享库, SHR-7): the centre sees which
entries several departments ask for and marks them; providers are told."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, get_for, require
from govshare.core.roles import Capability
from govshare.sharing.actions._common import department_editors, optional_text, required_text
from govshare.sharing.models import Application, Grant, HighFrequencyMark


def aggregated_demand(*, min_departments: int = 2) -> list[CatalogEntry]:
    """Published entries asked for by at least ``min_departments`` distinct consumer departments
    (applications of any outcome, and grants), most demanded first; each carries ``demand`` and
    ``high_frequency_mark`` (or None)."""
    pairs = set(Application.objects.values_list("entry_id", "consumer_id"))
    pairs |= set(Grant.objects.values_list("entry_id", "consumer_id"))
    counts: dict[int, int] = {}
    for entry_id, _consumer in pairs:
        counts[entry_id] = counts.get(entry_id, 0) + 1
    wanted = [pk for pk, n in counts.items() if n >= max(1, min_departments)]
    marks = {m.entry_id: m for m in HighFrequencyMark.objects.filter(entry_id__in=wanted)}
    entries = list(CatalogEntry.objects.filter(pk__in=wanted, status=CatalogEntry.Status.PUBLISHED)
                   .select_related("current_version", "provider"))
    for entry in entries:
        entry.demand = counts[entry.pk]  # type: ignore[attr-defined]
        entry.high_frequency_mark = marks.get(entry.pk)  # type: ignore[attr-defined]
    entries.sort(key=lambda e: (-e.demand, e.code))  # type: ignore[attr-defined]
    return entries


def demand_counts(entry_ids: list[int]) -> dict[int, int]:
    pairs = set(Application.objects.filter(entry_id__in=entry_ids).values_list("entry_id", "consumer_id"))
    pairs |= set(Grant.objects.filter(entry_id__in=entry_ids).values_list("entry_id", "consumer_id"))
    counts: dict[int, int] = {}
    for entry_id, _consumer in pairs:
        counts[entry_id] = counts.get(entry_id, 0) + 1
    return counts


@transaction.atomic
def do_mark_high_frequency(actor: Any, entry: CatalogEntry, *, note: str = "") -> HighFrequencyMark:
    require(actor, Capability.REVIEW_SHARE)
    entry = get_for(actor, Action.VIEW, CatalogEntry, pk=entry.pk)
    if entry.status != CatalogEntry.Status.PUBLISHED:
        raise Conflict("not_published", _("%(code)s is not published."), code=entry.code)
    if HighFrequencyMark.objects.filter(entry=entry).exists():
        raise Conflict("already_marked", _("%(code)s is already in the high-frequency library."), code=entry.code)
    demand = demand_counts([entry.pk]).get(entry.pk, 0)
    mark = HighFrequencyMark.objects.create(entry=entry, marked_by=actor, note=optional_text(note, "note"),
                                            demand=demand)
    audit.record(AuditCode.HIGH_FREQUENCY_MARKED, actor=actor, obj=entry, department=entry.provider,
                 detail={"demand": demand, "note": mark.note})
    notify(department_editors(entry.provider), "sharing.high_frequency",
           bilingual(_("%(code)s is now in the high-frequency shared library"), code=entry.code),
           body=mark.note, url=f"/catalog/entries/{entry.pk}/", obj=entry)
    return mark


@transaction.atomic
def do_unmark_high_frequency(actor: Any, entry: CatalogEntry, *, reason: str) -> None:
    require(actor, Capability.REVIEW_SHARE)
    mark = HighFrequencyMark.objects.filter(entry_id=entry.pk).first()
    if mark is None:
        raise Conflict("not_marked", _("%(code)s is not in the high-frequency library."), code=entry.code)
    text = required_text(reason, "reason")
    mark.delete()
    audit.record(AuditCode.HIGH_FREQUENCY_UNMARKED, actor=actor, obj=entry, department=entry.provider,
                 detail={"reason": text[:500]})
