"""Entries and their lifecycle (CAT-1 … CAT-4, CAT-6).

draft → submitted → (returned → submitted …) → approved → published; a published entry is changed
by opening a new version that goes through the same review, and withdrawn by a withdrawal version.
When a published entry has subscribers, a change or withdrawal takes effect only after the
profile's notice period (``catalog_change_notice``, LN-§8) *and* the centre's approval; the
subscribers are told when the notice starts and when the change takes effect.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions._common import (
    centre_reviewers,
    department_editors,
    profile_of,
    reindex_after_commit,
    required_text,
)
from govshare.catalog.diff import diff_content, summarize
from govshare.catalog.enums import ClassKind
from govshare.catalog.models import (
    CatalogEntry,
    Classification,
    EntryVersion,
    InformationItem,
    Project,
    Subscription,
    version_content,
)
from govshare.catalog.permissions import is_government
from govshare.catalog.validation import check_content, raise_problems
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ValidationFailed, choice_label
from govshare.core.models import Department
from govshare.core.notify import bilingual, notify
from govshare.core.permissions import Action, deny, get_for, require, require_object
from govshare.core.roles import Capability, Role
from govshare.core.workdays import compute_due

CONTENT_FIELDS = ["name", "summary", "keywords", "format_class", "format", "share_type", "share_condition",
                  "share_methods", "share_basis", "open_attribute", "open_condition", "update_cycle",
                  "update_cycle_note", "domain", "related_codes"]


def entry_url(entry: CatalogEntry) -> str:
    return f"/catalog/entries/{entry.pk}/"


# ------------------------------------------------------------------ content

def resolve_classification(code: str, provider: Department, *, problems: list[GovshareError] | None = None
                           ) -> Classification | None:
    node = Classification.objects.filter(code=code, is_active=True).first()
    error: GovshareError | None = None
    if node is None:
        error = ValidationFailed("unknown_classification", _("There is no active classification %(code)s."),
                                 field="classification", code=code)
    elif node.level < 2:
        error = ValidationFailed("classification_too_broad",
                                 _("Choose a 项, 目 or 细目 under %(code)s, not the 类 itself."),
                                 field="classification", code=code)
    elif node.kind == ClassKind.DEPARTMENT:
        top = next((n for n in node.path() if n.department_id), None)
        if top is not None and top.department_id != provider.pk:
            error = ValidationFailed("classification_other_department",
                                     _("Classification %(code)s belongs to %(department)s."),
                                     field="classification", code=code, department=str(top.department))
    if error is not None:
        if problems is None:
            raise error
        problems.append(error)
        return None
    return node


def checked_content(data: dict[str, Any], provider: Department) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                          Classification]:
    """Validate everything at once (every problem reported) and resolve the classification."""
    domains = profile_of(provider).list("open_data_domains")
    checked = check_content(data, domains=domains)
    problems = list(checked.problems)
    node = None
    if checked.content["classification"]:
        node = resolve_classification(checked.content["classification"], provider, problems=problems)
    raise_problems(problems)
    assert node is not None
    return checked.content, checked.items, node


def _write_content(version: EntryVersion, content: dict[str, Any], items: list[dict[str, Any]],
                   node: Classification) -> None:
    version.classification = node
    for key in CONTENT_FIELDS:
        setattr(version, key, content[key])
    version.updated_at = timezone.now()
    version.save()
    version.items.all().delete()
    InformationItem.objects.bulk_create(
        [InformationItem(version=version, position=i, **item) for i, item in enumerate(items, start=1)])


def next_sequence(node: Classification) -> int:
    Classification.objects.select_for_update().filter(pk=node.pk).first()  # serialise code allocation
    prefix = f"{node.code}/"
    top = CatalogEntry.objects.filter(code__startswith=prefix).aggregate(m=Max("sequence"))["m"] or 0
    return top + 1


def make_code(node: Classification, sequence: int) -> str:
    """资源代码 = classification code + "/" + a six-digit sequence number (the guide's 前段码/后段码)."""
    return f"{node.code}/{sequence:06d}"


def check_provider_member(actor: Any, provider: Department) -> None:
    require(actor, Capability.EDIT_CATALOG)
    if actor.department_id != provider.pk:
        deny(actor, "other_department", _("You compile only your own department's catalog."), obj=provider)


def _open_version_for_edit(entry: CatalogEntry) -> EntryVersion:
    version = entry.open_version
    if version is None or not version.is_editable:
        raise Conflict("not_editable", _("%(code)s has no draft to edit (state: %(state)s)."),
                       code=entry.code, state=choice_label(version, "state") if version else choice_label(entry))
    return version


# ------------------------------------------------------------------ create / edit

@transaction.atomic
def do_create_entry(actor: Any, content: dict[str, Any], *, provider: Department | None = None,
                    project: Project | None = None, request_ref: str = "") -> CatalogEntry:
    provider = provider or getattr(actor, "department", None)
    if provider is None:
        raise ValidationFailed("required", _("This field is required."), field="provider")
    check_provider_member(actor, provider)
    ref_limit = int(CatalogEntry._meta.get_field("request_ref").max_length or 0)
    if len(request_ref or "") > ref_limit:  # refused, never cut
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field="request_ref", max=ref_limit)
    clean, items, node = checked_content(content, provider)
    if project is not None:
        require_object(actor, Action.CHANGE, project)
        if project.department_id != provider.pk:
            raise ValidationFailed("project_other_department", _("The project belongs to another department."),
                                   field="project")
    sequence = next_sequence(node)
    now = timezone.now()
    entry = CatalogEntry.objects.create(code=make_code(node, sequence), sequence=sequence, provider=provider,
                                        project=project, request_ref=request_ref, created_by=actor,
                                        created_at=now, updated_at=now)
    version = EntryVersion(entry=entry, number=1, created_by=actor, classification=node)
    _write_content(version, clean, items, node)
    version.edited_by.add(actor)
    entry.open_version = version
    entry.save(update_fields=["open_version"])
    audit.record(AuditCode.ENTRY_CREATED, actor=actor, obj=entry,
                 changes={"code": [None, entry.code], "name": [None, version.name]},
                 detail={"version": 1, "items": len(items)})
    reindex_after_commit([entry.pk])
    return entry


@transaction.atomic
def do_open_version(actor: Any, entry: CatalogEntry, *, change_reason: str) -> EntryVersion:
    """Start changing a published entry: a new draft version copied from the published one."""
    entry = _lock(actor, entry)
    check_provider_member(actor, entry.provider)
    reason = required_text(change_reason, "change_reason")
    if entry.status == CatalogEntry.Status.WITHDRAWN:
        raise Conflict("entry_withdrawn", _("%(code)s is withdrawn and can no longer be edited."), code=entry.code)
    if entry.open_version is not None:
        raise Conflict("version_in_progress", _("Version %(number)s of %(code)s is already in progress (%(state)s)."),
                       code=entry.code, number=entry.open_version.number,
                       state=choice_label(entry.open_version, "state"))
    if entry.current_version is None:
        raise Conflict("not_published", _("%(code)s is not published yet: edit its draft."), code=entry.code)
    base = entry.current_version
    version = _copy_version(base, actor, kind=EntryVersion.Kind.CONTENT, reason=reason)
    entry.open_version = version
    entry.updated_at = timezone.now()
    entry.save(update_fields=["open_version", "updated_at"])
    audit.record(AuditCode.ENTRY_VERSION_OPENED, actor=actor, obj=entry,
                 detail={"version": version.number, "reason": reason})
    return version


def _copy_version(base: EntryVersion, actor: Any, *, kind: str, reason: str) -> EntryVersion:
    number = (base.entry.versions.aggregate(m=Max("number"))["m"] or 0) + 1
    version = EntryVersion(entry=base.entry, number=number, kind=kind, created_by=actor, change_reason=reason,
                           classification=base.classification)
    for key in CONTENT_FIELDS:
        setattr(version, key, getattr(base, key))
    version.save()
    InformationItem.objects.bulk_create([
        InformationItem(version=version, position=i.position, name=i.name, data_type=i.data_type, length=i.length,
                        description=i.description, is_primary_key=i.is_primary_key, is_sensitive=i.is_sensitive,
                        masking_rule=i.masking_rule)
        for i in base.items.all()])
    return version


@transaction.atomic
def do_update_draft(actor: Any, entry: CatalogEntry, content: dict[str, Any], *,
                    change_reason: str | None = None) -> EntryVersion:
    """Replace the content of the entry's draft (a never-published entry, or a new version)."""
    return _update_draft(actor, _lock(actor, entry), content, change_reason=change_reason)


def _update_draft(actor: Any, entry: CatalogEntry, content: dict[str, Any], *,
                  change_reason: str | None) -> EntryVersion:
    """:func:`do_update_draft` on an entry already locked (inside the caller's transaction)."""
    check_provider_member(actor, entry.provider)
    if entry.status == CatalogEntry.Status.WITHDRAWN:
        raise Conflict("entry_withdrawn", _("%(code)s is withdrawn and can no longer be edited."), code=entry.code)
    version = _open_version_for_edit(entry)
    before = version_content(version)
    clean, items, node = checked_content(content, entry.provider)
    published = entry.current_version
    if entry.status == CatalogEntry.Status.PUBLISHED and published is not None \
            and node.pk != published.classification_id and not entry.code.startswith(f"{node.code}/"):
        # the resource code is immutable once published; moving it would need a new code
        raise ValidationFailed("code_immutable",
                               _("%(code)s is published: its classification (and so its code) cannot change."),
                               field="classification", code=entry.code)
    if entry.status == CatalogEntry.Status.DRAFT and not entry.code.startswith(f"{node.code}/"):
        entry.sequence = next_sequence(node)
        entry.code = make_code(node, entry.sequence)
    if change_reason is not None and entry.status == CatalogEntry.Status.PUBLISHED:
        version.change_reason = required_text(change_reason, "change_reason")
    if version.state == EntryVersion.State.RETURNED:
        version.state = EntryVersion.State.DRAFT
    _write_content(version, clean, items, node)  # saves the version (once)
    version.edited_by.add(actor)  # whoever writes part of a version may not review it
    entry.updated_at = timezone.now()
    entry.save(update_fields=["code", "sequence", "updated_at"])
    changes = diff_content(before, version_content(version))
    audit.record(AuditCode.ENTRY_DRAFT_UPDATED, actor=actor, obj=entry,
                 changes={c["field"] if c["field"] != "items" else f"items.{c['item']}": [c["before"], c["after"]]
                          for c in changes},
                 detail={"version": version.number})
    reindex_after_commit([entry.pk])
    return version


@transaction.atomic
def do_edit_entry(actor: Any, entry: CatalogEntry, content: dict[str, Any], *, change_reason: str = "") -> EntryVersion:
    """Edit whatever is editable: the draft, or — for a published entry without one — a new version."""
    entry = _lock(actor, entry)
    if entry.status == CatalogEntry.Status.PUBLISHED and entry.open_version is None:
        do_open_version(actor, entry, change_reason=change_reason)
        entry.refresh_from_db()
    return _update_draft(actor, entry, content, change_reason=change_reason or None)  # locked above


@transaction.atomic
def do_discard_draft(actor: Any, entry: CatalogEntry) -> CatalogEntry | None:
    """Drop the draft in progress; a never-published entry disappears with it (its code is freed)."""
    entry = _lock(actor, entry)
    check_provider_member(actor, entry.provider)
    version = _open_version_for_edit(entry)
    audit.record(AuditCode.ENTRY_DRAFT_DISCARDED, actor=actor, obj=entry,
                 detail={"version": version.number, "code": entry.code})
    if entry.status == CatalogEntry.Status.DRAFT:
        entry_id = entry.pk
        entry.delete()
        reindex_after_commit([entry_id])
        return None
    version.state = EntryVersion.State.DISCARDED
    version.save(update_fields=["state"])
    entry.open_version = None
    entry.save(update_fields=["open_version"])
    reindex_after_commit([entry.pk])
    return entry


def _lock(actor: Any, entry: CatalogEntry) -> CatalogEntry:
    """Re-read the entry under a row lock, through the permission chokepoint (404 when invisible)."""
    locked = get_for(actor, Action.VIEW, CatalogEntry.objects.select_for_update(), pk=entry.pk)
    return locked


# ------------------------------------------------------------------ review

def _has_subscribers(entry: CatalogEntry) -> bool:
    return entry.subscriptions.filter(user__is_active=True).exists()


def _start_notice(actor: Any, entry: CatalogEntry, version: EntryVersion, now: dt.datetime) -> None:
    if version.notice_started_at is not None or entry.status != CatalogEntry.Status.PUBLISHED:
        return
    if not _has_subscribers(entry):
        return
    period = profile_of(entry.provider).deadline("catalog_change_notice")
    due = compute_due(timezone.localdate(now), period)
    version.notice_started_at = now
    version.notice_ends_at = due.due_at
    if version.kind == EntryVersion.Kind.WITHDRAWAL:
        what = bilingual(_("%(code)s %(name)s will be withdrawn from the catalog."), code=entry.code,
                         name=version.name)
    else:
        base = entry.current_version
        changed = summarize(diff_content(version_content(base) if base else None, version_content(version)))
        what = bilingual(_("%(code)s %(name)s will change: %(fields)s."), code=entry.code, name=version.name,
                         fields=changed or "—")
    ends = timezone.localtime(due.due_at).date().isoformat()
    body = what + "\n" + bilingual(_("The change takes effect at the earliest after %(date)s (%(period)s, %(source)s),"
                                     " once the centre approves it."),
                                   date=ends, period=period.describe(), source=period.source)
    users = [s.user for s in entry.subscriptions.select_related("user")]
    notify(users, "catalog.change_notice", bilingual(_("Catalog change notice: %(code)s"), code=entry.code), body,
           url=entry_url(entry), obj=entry)
    audit.record(AuditCode.CHANGE_NOTICE_SENT, actor=actor, obj=entry,
                 detail={"version": version.number, "kind": version.kind, "subscribers": len(users),
                         "notice_ends_at": due.due_at.isoformat(), "source": period.source})


@transaction.atomic
def do_submit(actor: Any, entry: CatalogEntry) -> EntryVersion:
    entry = _lock(actor, entry)
    check_provider_member(actor, entry.provider)
    version = entry.open_version
    if version is None or version.state not in (EntryVersion.State.DRAFT, EntryVersion.State.RETURNED):
        raise Conflict("invalid_transition", _("Only a draft can be submitted for review (%(code)s is %(state)s)."),
                       code=entry.code, state=choice_label(version, "state") if version else choice_label(entry))
    checked_content(version_content(version), entry.provider)  # the rules may have changed since it was saved
    if entry.status == CatalogEntry.Status.PUBLISHED and not version.change_reason:
        raise ValidationFailed("required", _("This field is required."), field="change_reason")
    now = timezone.now()
    version.state = EntryVersion.State.SUBMITTED
    version.submitted_by = actor
    version.submitted_at = now
    _start_notice(actor, entry, version, now)
    version.save()
    entry.updated_at = now
    entry.save(update_fields=["updated_at"])
    audit.record(AuditCode.ENTRY_SUBMITTED, actor=actor, obj=entry,
                 changes={"state": [EntryVersion.State.DRAFT, EntryVersion.State.SUBMITTED]},
                 detail={"version": version.number})
    notify(centre_reviewers(entry.provider), "catalog.review_requested",
           bilingual(_("Catalog entry to review: %(code)s %(name)s"), code=entry.code, name=version.name),
           url=entry_url(entry), obj=entry)
    return version


@transaction.atomic
def do_request_withdrawal(actor: Any, entry: CatalogEntry, *, reason: str) -> EntryVersion:
    """Ask to withdraw a published entry; it goes to review like a change (CAT-4)."""
    entry = _lock(actor, entry)
    check_provider_member(actor, entry.provider)
    text = required_text(reason, "reason")
    if entry.status != CatalogEntry.Status.PUBLISHED:
        raise Conflict("invalid_transition", _("Only a published entry can be withdrawn (%(code)s is %(state)s)."),
                       code=entry.code, state=choice_label(entry))
    pending = entry.open_version
    if pending is not None:
        if pending.notice_started_at is not None:
            raise Conflict("notice_period_running",
                           _("A change of %(code)s is in its notice period until %(date)s: withdraw it after the "
                             "change took effect, or ask the centre to return the change first."),
                           code=entry.code,
                           date=timezone.localtime(pending.notice_ends_at).date().isoformat())
        raise Conflict("version_in_progress", _("Version %(number)s of %(code)s is already in progress (%(state)s)."),
                       code=entry.code, number=pending.number, state=choice_label(pending, "state"))
    assert entry.current_version is not None
    version = _copy_version(entry.current_version, actor, kind=EntryVersion.Kind.WITHDRAWAL, reason=text)
    now = timezone.now()
    version.state = EntryVersion.State.SUBMITTED
    version.submitted_by = actor
    version.submitted_at = now
    _start_notice(actor, entry, version, now)
    version.save()
    entry.open_version = version
    entry.updated_at = now
    entry.save(update_fields=["open_version", "updated_at"])
    audit.record(AuditCode.ENTRY_WITHDRAWAL_REQUESTED, actor=actor, obj=entry,
                 detail={"version": version.number, "reason": text})
    notify(centre_reviewers(entry.provider), "catalog.review_requested",
           bilingual(_("Withdrawal to review: %(code)s %(name)s"), code=entry.code, name=version.name),
           url=entry_url(entry), obj=entry)
    return version


def _reviewable(actor: Any, entry: CatalogEntry) -> EntryVersion:
    require(actor, Capability.REVIEW_CATALOG)
    version = entry.open_version
    if version is None or version.state != EntryVersion.State.SUBMITTED:
        raise Conflict("invalid_transition", _("Only a submitted version can be reviewed (%(code)s is %(state)s)."),
                       code=entry.code, state=choice_label(version, "state") if version else choice_label(entry))
    if version.is_own_work(actor):
        deny(actor, "own_submission", _("You cannot review a version you wrote or submitted yourself."), obj=entry)
    return version


@transaction.atomic
def do_approve(actor: Any, entry: CatalogEntry, *, comment: str = "") -> EntryVersion:
    entry = _lock(actor, entry)
    version = _reviewable(actor, entry)
    if version.kind == EntryVersion.Kind.CONTENT:
        # the rules (tree, profile lists) may have changed since submission: publish only valid content
        checked_content(version_content(version), entry.provider)
    now = timezone.now()
    version.reviewed_by = actor
    version.reviewed_at = now
    version.review_comment = required_text(comment, "comment") if (comment or "").strip() else ""
    version.state = EntryVersion.State.APPROVED
    # someone may have subscribed while the version was under review: they are told in advance too (CAT-4)
    _start_notice(actor, entry, version, now)
    audit.record(AuditCode.ENTRY_APPROVED, actor=actor, obj=entry,
                 changes={"state": [EntryVersion.State.SUBMITTED, EntryVersion.State.APPROVED]},
                 detail={"version": version.number, "comment": version.review_comment})
    if version.notice_ends_at is not None and version.notice_ends_at > now:
        version.effective_at = version.notice_ends_at
        version.save()
        notify(department_editors(entry.provider), "catalog.approved",
               bilingual(_("%(code)s approved; it takes effect on %(date)s after the notice period."),
                         code=entry.code, date=timezone.localtime(version.notice_ends_at).date().isoformat()),
               url=entry_url(entry), obj=entry)
        return version
    version.save()
    _make_effective(actor, entry, version, now)
    return version


@transaction.atomic
def do_return(actor: Any, entry: CatalogEntry, *, comment: str) -> EntryVersion:
    entry = _lock(actor, entry)
    version = _reviewable(actor, entry)
    text = required_text(comment, "comment")
    now = timezone.now()
    version.reviewed_by = actor
    version.reviewed_at = now
    version.review_comment = text
    if version.kind == EntryVersion.Kind.WITHDRAWAL:
        # a returned withdrawal is simply not carried out: the entry stays published
        version.state = EntryVersion.State.DISCARDED
        entry.open_version = None
        entry.save(update_fields=["open_version"])
    else:
        version.state = EntryVersion.State.RETURNED
    announced = version.notice_started_at is not None
    # the announced change is off (the subscribers are told below): a resubmission announces afresh
    # and waits a whole notice period again (CAT-4)
    version.notice_started_at = version.notice_ends_at = version.effective_at = None
    version.save()
    audit.record(AuditCode.ENTRY_RETURNED, actor=actor, obj=entry,
                 changes={"state": [EntryVersion.State.SUBMITTED, version.state]},
                 detail={"version": version.number, "comment": text})
    recipients = [u for u in [version.submitted_by, version.created_by] if u is not None]
    notify(recipients + department_editors(entry.provider), "catalog.returned",
           bilingual(_("%(code)s returned by the centre: %(comment)s"), code=entry.code, comment=text[:100]),
           body=text, url=entry_url(entry), obj=entry)
    if announced:
        notify([s.user for s in entry.subscriptions.select_related("user")], "catalog.change_cancelled",
               bilingual(_("The announced change of %(code)s will not take effect as announced."), code=entry.code),
               url=entry_url(entry), obj=entry)
    return version


def _make_effective(actor: Any, entry: CatalogEntry, version: EntryVersion, now: dt.datetime) -> None:
    previous = entry.current_version
    version.state = EntryVersion.State.PUBLISHED
    version.published_at = now
    version.effective_at = now
    version.save()
    entry.open_version = None
    entry.updated_at = now
    if version.kind == EntryVersion.Kind.WITHDRAWAL:
        entry.status = CatalogEntry.Status.WITHDRAWN
        entry.withdrawn_at = now
        entry.save()
        audit.record(AuditCode.ENTRY_WITHDRAWN, actor=actor, obj=entry,
                     changes={"status": [CatalogEntry.Status.PUBLISHED, CatalogEntry.Status.WITHDRAWN]},
                     detail={"version": version.number})
        subject = bilingual(_("%(code)s %(name)s has been withdrawn from the catalog."), code=entry.code,
                            name=version.name)
    else:
        if previous is not None and previous.pk != version.pk:
            previous.state = EntryVersion.State.SUPERSEDED
            previous.save(update_fields=["state"])
        before_status = entry.status
        entry.current_version = version
        entry.status = CatalogEntry.Status.PUBLISHED
        entry.published_at = now
        entry.first_published_at = entry.first_published_at or now
        entry.save()
        audit.record(AuditCode.ENTRY_PUBLISHED, actor=actor, obj=entry,
                     changes={"status": [before_status, CatalogEntry.Status.PUBLISHED],
                              "version": [previous.number if previous else None, version.number]},
                     detail={"version": version.number})
        subject = bilingual(_("%(code)s %(name)s: version %(number)s is now in effect."), code=entry.code,
                            name=version.name, number=version.number)
    subscribers = [s.user for s in entry.subscriptions.select_related("user")] if previous is not None else []
    notify(subscribers + department_editors(entry.provider), "catalog.effective", subject, url=entry_url(entry),
           obj=entry)
    reindex_after_commit([entry.pk])


def apply_due_changes(now: dt.datetime | None = None) -> int:
    """Carry out approved changes whose notice period has ended (run by the worker; idempotent)."""
    now = now or timezone.now()
    done = 0
    due_ids = list(EntryVersion.objects.filter(state=EntryVersion.State.APPROVED, notice_ends_at__lte=now)
                   .values_list("pk", flat=True))
    for version_id in due_ids:
        with transaction.atomic():
            # claim with a conditional UPDATE: a second worker finds nothing to do
            claimed = EntryVersion.objects.filter(pk=version_id, state=EntryVersion.State.APPROVED).update(
                state=EntryVersion.State.PUBLISHED)
            if not claimed:
                continue
            version = EntryVersion.objects.select_related("entry").get(pk=version_id)
            entry = CatalogEntry.objects.select_for_update().get(pk=version.entry_id)
            _make_effective(None, entry, version, now)
            done += 1
    return done


# ------------------------------------------------------------------ subscriptions

@transaction.atomic
def do_subscribe(actor: Any, entry: CatalogEntry, *, subscriber: Any = None) -> Subscription:
    """Follow an entry's change notices.  ``subscriber``: someone the actor subscribes (a sharing
    action's approval subscribes the applicant); the audit row names the actor and, in its own
    field, the person it was done for (SEC-4)."""
    subscriber = subscriber or actor
    if not is_government(subscriber):
        deny(subscriber, "government_only", _("Only government users subscribe to catalog changes."), obj=entry)
    if subscriber.has_role(Role.AUDITOR):  # separation of duties: an auditor changes nothing (SEC-1)
        deny(subscriber, "auditor_read_only", _("An auditor reads the catalog but changes nothing, not even "
                                                "subscriptions."), obj=entry)
    entry = get_for(subscriber, Action.VIEW, CatalogEntry, pk=entry.pk)
    if entry.status != CatalogEntry.Status.PUBLISHED:
        raise Conflict("not_published", _("%(code)s is not published."), code=entry.code)
    sub, created = Subscription.objects.get_or_create(entry=entry, user=subscriber)
    if created:
        audit.record(AuditCode.ENTRY_SUBSCRIBED, actor=actor, obj=entry,
                     on_behalf_of=subscriber if subscriber.pk != actor.pk else None)
    return sub


@transaction.atomic
def do_unsubscribe(actor: Any, entry: CatalogEntry) -> None:
    deleted, _n = Subscription.objects.filter(entry=entry, user=actor).delete()
    if deleted:
        audit.record(AuditCode.ENTRY_UNSUBSCRIBED, actor=actor, obj=entry)
