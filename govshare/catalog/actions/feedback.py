"""Doubts and errors reported on catalog entries (CAT-10, LN-§8)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions._common import department_editors, required_text
from govshare.catalog.models import CatalogEntry, Feedback
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed, choice_label
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, deny, get_for, require


def feedback_url(fb: Feedback) -> str:
    return f"/catalog/entries/{fb.entry_id}/#feedback-{fb.pk}"


@transaction.atomic
def do_raise_feedback(actor: Any, entry: CatalogEntry, *, kind: str, description: str,
                      field_name: str = "") -> Feedback:
    from govshare.core.roles import Capability

    require(actor, Capability.RAISE_FEEDBACK)
    entry = get_for(actor, Action.VIEW, CatalogEntry, pk=entry.pk)
    if entry.status != CatalogEntry.Status.PUBLISHED or entry.current_version is None:
        raise Conflict("not_published", _("%(code)s is not published."), code=entry.code)
    if kind not in Feedback.Kind.values:
        raise ValidationFailed("invalid_choice", _("Unknown value %(value)s; expected one of %(choices)s."),
                               field="kind", value=kind, choices="/".join(Feedback.Kind.values))
    text = required_text(description, "description", 4000)
    field_name = (field_name or "").strip()
    limit = int(Feedback._meta.get_field("field_name").max_length or 0)
    if len(field_name) > limit:  # refused, never cut
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field="field_name", max=limit)
    if actor.department_id is None:
        deny(actor, "no_department", _("Only department users raise catalog feedback."), obj=entry)
    fb = Feedback.objects.create(entry=entry, version_number=entry.current_version.number, kind=kind,
                                 field_name=field_name, description=text, raised_by=actor,
                                 department=actor.department)
    audit.record(AuditCode.FEEDBACK_RAISED, actor=actor, obj=fb,
                 detail={"entry": entry.code, "kind": kind, "field": fb.field_name})
    notify(department_editors(entry.provider), "catalog.feedback",
           bilingual(_("Feedback on %(code)s from %(department)s"), code=entry.code,
                     department=actor.department.name),
           body=text, url=feedback_url(fb), obj=fb)
    return fb


@transaction.atomic
def do_answer_feedback(actor: Any, fb: Feedback, *, answer: str) -> Feedback:
    fb = get_for(actor, Action.CHANGE, Feedback.objects.select_for_update().select_related("entry"), pk=fb.pk)
    if actor.department_id != fb.entry.provider_id:
        deny(actor, "provider_only", _("Only the provider department answers feedback on its entries."), obj=fb)
    if fb.status != Feedback.Status.OPEN:
        raise Conflict("invalid_transition", _("This feedback is already %(status)s."), status=choice_label(fb))
    fb.answer = required_text(answer, "answer", 4000)
    fb.answered_by = actor
    fb.answered_at = timezone.now()
    fb.status = Feedback.Status.ANSWERED
    fb.save()
    audit.record(AuditCode.FEEDBACK_ANSWERED, actor=actor, obj=fb,
                 changes={"status": [Feedback.Status.OPEN, Feedback.Status.ANSWERED]})
    notify([fb.raised_by], "catalog.feedback_answered",
           bilingual(_("Your feedback on %(code)s was answered"), code=fb.entry.code), body=fb.answer,
           url=feedback_url(fb), obj=fb)
    return fb


@transaction.atomic
def do_close_feedback(actor: Any, fb: Feedback) -> Feedback:
    """The provider closes answered feedback; the person who raised it may close it at any time."""
    fb = get_for(actor, Action.CHANGE, Feedback.objects.select_for_update().select_related("entry"), pk=fb.pk)
    if fb.status == Feedback.Status.CLOSED:
        raise Conflict("invalid_transition", _("This feedback is already %(status)s."), status=choice_label(fb))
    is_raiser = actor.pk == fb.raised_by_id
    if not is_raiser and fb.status != Feedback.Status.ANSWERED:
        raise Conflict("answer_first", _("Answer the feedback before closing it."))
    before = fb.status
    fb.status = Feedback.Status.CLOSED
    fb.closed_by = actor
    fb.closed_at = timezone.now()
    fb.save()
    audit.record(AuditCode.FEEDBACK_CLOSED, actor=actor, obj=fb, changes={"status": [before, Feedback.Status.CLOSED]})
    if not is_raiser:
        notify([fb.raised_by], "catalog.feedback_closed",
               bilingual(_("Your feedback on %(code)s was closed"), code=fb.entry.code), url=feedback_url(fb), obj=fb)
    return fb
