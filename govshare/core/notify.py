"""Notifications: an in-app inbox row per recipient, e-mail after the commit (SHR-9 groundwork).

Call :func:`notify` from inside an action: the rows are part of the action's transaction, and the
e-mail is sent only when it commits.

**One language per screen.**  A notification stores what it *means* — its kind, the message id and
the parameters (``Notification.message``, JSON) — and is rendered when it is shown: in the reader's
language in the inbox (web and API) and in the recipient's language in the e-mail
(``User.language``, Chinese when unset).  :func:`bilingual` builds such a message: a
:class:`Message` is a ``str`` (``中文 / English``, as before, for callers that print it, e.g. the
operator's CLI) that also carries msgid + params, and ``notify()`` stores those.  ``+`` joins
messages without losing their meaning.

**Task notices.**  A notice that asks its recipient to act (review this entry, answer this
application …) is a *task*.  Apps declare which kinds are tasks for which model with
:func:`register_task_resolver`; a notice remembers the object's state when it was sent and is
*resolved* as soon as that state changes (a ``post_save`` hook), so counts show what is still to
do while resolved notices stay readable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import models, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from govshare.core.messages import FIRST_LANGUAGE, Message, Node, Text, message, render, text, to_node
from govshare.core.models import Notification

__all__ = ["FIRST_LANGUAGE", "Message", "Text", "bilingual", "message", "notify", "register_task_resolver", "render",
           "resolve_tasks", "text", "to_node"]

log = logging.getLogger("govshare.notify")


def bilingual(message_: Any, **params: Any) -> Message:
    """The message with its params; ``str()`` of it is ``中文 / English`` (kept for existing callers).

    Parameters that are lazy strings (a choice label, ``_()``) are translated for each reader;
    other values (numbers, codes, names people typed) are kept as they are."""
    return message(message_, **params)


# ------------------------------------------------------------------ task notices

@dataclass(frozen=True)
class TaskRule:
    """Notices of ``kinds`` about a ``model`` object ask the recipient to act.

    ``state(obj)`` says what the object waits for (a short string); the notice is resolved when
    it changes, or at once when it is ``None`` (nothing to do any more).  ``assignee(obj, user)``
    narrows which recipients must act (others get a plain notice)."""

    model: type[models.Model]
    kinds: frozenset[str]
    state: Callable[[Any], str | None]
    assignee: Callable[[Any, Any], bool] | None = None


_RULES: dict[str, list[TaskRule]] = {}  # model label → rules
_WATCHED: set[tuple[type[models.Model], str]] = set()


def register_task_resolver(model: type[models.Model], kinds: Iterable[str], state: Callable[[Any], str | None], *,
                           assignee: Callable[[Any, Any], bool] | None = None,
                           watch: dict[type[models.Model], Callable[[Any], Any]] | None = None) -> TaskRule:
    """Declare task notices (see :class:`TaskRule`).  ``watch`` maps further models whose saves can
    change the state to the object they belong to, or its primary key (e.g. a version → its entry's id)."""
    rule = TaskRule(model, frozenset(kinds), state, assignee)
    label = model._meta.label_lower
    _RULES.setdefault(label, [])
    _RULES[label] = [r for r in _RULES[label] if not (r.kinds & rule.kinds)] + [rule]
    sources: dict[type[models.Model], Callable[[Any], Any]] = {model: lambda obj: obj, **(watch or {})}
    for sender, to_obj in sources.items():
        key = (sender, label)
        if key in _WATCHED:
            continue
        _WATCHED.add(key)
        post_save.connect(_saved_handler(model, to_obj, own=sender is model), sender=sender, weak=False,
                          dispatch_uid=f"govshare.notify.tasks:{sender._meta.label_lower}:{label}")
    return rule


def _rule_for(label: str, kind: str) -> TaskRule | None:
    return next((r for r in _RULES.get(label, ()) if kind in r.kinds), None)


def _state(rule: TaskRule, obj: Any) -> str | None:
    value = rule.state(obj)
    return None if value is None else str(value)[:120]


def _saved_handler(model: type[models.Model], to_obj: Callable[[Any], Any], *, own: bool) -> Callable[..., None]:
    """``own``: the saved row is the object itself — a row just created has no notices yet (no query)."""
    def handler(sender: Any, instance: Any, raw: bool = False, created: bool = False, **kwargs: Any) -> None:
        if raw or (own and created):
            return
        target = to_obj(instance)  # the object, or its primary key
        pk = target.pk if isinstance(target, models.Model) else target
        if pk is not None:
            resolve_tasks(model, pk)

    return handler


def resolve_tasks(model: type[models.Model], pk: Any, *, now: Any = None) -> int:
    """Resolve the open task notices about one object whose state has moved on; returns how many."""
    label = model._meta.label_lower
    open_notes = Notification.objects.filter(object_type=label, object_id=str(pk), task=True,
                                             resolved_at__isnull=True)
    waiting = list(open_notes.values_list("kind", "task_state").distinct())
    if not waiting:
        return 0
    obj = model._default_manager.filter(pk=pk).first()
    done = 0
    for kind, before in waiting:
        rule = _rule_for(label, kind)
        if rule is None:
            continue
        current = _state(rule, obj) if obj is not None else None
        if current is None or current != before:
            done += open_notes.filter(kind=kind, task_state=before).update(resolved_at=now or timezone.now())
    return done


def classify_old_notices() -> int:
    """Notices written before task notices existed (``task`` unset): mark the task kinds as tasks
    waiting for the object's present state, and resolve those whose object waits for nothing.
    Run after ``migrate`` (post_migrate); returns how many rows it looked at."""
    seen = 0
    now = timezone.now()
    while True:
        batch = list(Notification.objects.filter(task__isnull=True).order_by("pk")
                     .values_list("pk", "kind", "object_type", "object_id")[:1000])
        if not batch:
            return seen
        seen += len(batch)
        plain: list[int] = []
        states: dict[tuple[str, str, str], list[int]] = {}
        for pk, kind, label, object_id in batch:
            rule = _rule_for(label, kind)
            if rule is None or not object_id:
                plain.append(pk)
            else:
                states.setdefault((label, kind, object_id), []).append(pk)
        Notification.objects.filter(pk__in=plain).update(task=False)
        for (label, kind, object_id), pks in states.items():
            rule = _rule_for(label, kind)
            assert rule is not None
            obj = rule.model._default_manager.filter(pk=object_id).first() if object_id.isdigit() else None
            state = _state(rule, obj) if obj is not None else None
            Notification.objects.filter(pk__in=pks).update(task=True, task_state=state or "",
                                                           resolved_at=now if state is None else None)


#: what still asks for attention: open tasks, and unread notices that are not tasks
ATTENTION = models.Q(task=True, resolved_at__isnull=True) | (models.Q(read_at__isnull=True) & ~models.Q(task=True))


def pending(qs: models.QuerySet[Notification]) -> models.QuerySet[Notification]:
    """What still asks for attention: open tasks, and unread notices that are not tasks."""
    return qs.filter(ATTENTION)


def todo(qs: models.QuerySet[Notification]) -> models.QuerySet[Notification]:
    """Open task notices."""
    return qs.filter(task=True, resolved_at__isnull=True)


def unread(qs: models.QuerySet[Notification]) -> models.QuerySet[Notification]:
    """Unread notices, not counting tasks already done."""
    return qs.filter(read_at__isnull=True).exclude(task=True, resolved_at__isnull=False)


INBOX_TABS = ("todo", "unread", "all")


def inbox_tab(qs: models.QuerySet[Notification], tab: str) -> models.QuerySet[Notification]:
    """One inbox tab (web and API alike): ``todo``, ``unread`` or ``all``."""
    if tab == "todo":
        return todo(qs)
    if tab == "unread":
        return unread(qs)
    return qs


def inbox_counts(qs: models.QuerySet[Notification]) -> dict[str, int]:
    return {"todo": todo(qs).count(), "unread": unread(qs).count(), "pending": pending(qs).count()}


def inbox_order(qs: models.QuerySet[Notification]) -> models.QuerySet[Notification]:
    """What asks for attention first, then newest first."""
    return qs.annotate(_first=models.Case(models.When(ATTENTION, then=models.Value(0)), default=models.Value(1),
                                          output_field=models.IntegerField())).order_by("_first", "-created_at", "-pk")


# ------------------------------------------------------------------ writing and e-mail

def notify(recipients: Iterable[Any], kind: str, subject: Any, body: Any = "", *, url: str = "",
           obj: models.Model | None = None) -> list[Notification]:
    """Queue one notification per distinct active recipient; returns the rows written.

    ``subject`` and ``body`` are :class:`Message` objects (from :func:`bilingual`), lazy ``_()``
    strings or plain text; the meaning is stored and rendered for each reader.  A kind registered
    as a task for ``obj``'s model makes the notice a task (see :func:`register_task_resolver`)."""
    subject_node, body_node = to_node(subject), to_node(body)
    stored = {"v": 1, "subject": subject_node, "body": body_node}
    subject_text = render(subject_node, FIRST_LANGUAGE)[:300]
    body_text = render(body_node, FIRST_LANGUAGE)
    rule = _rule_for(obj._meta.label_lower, kind) if obj is not None else None
    state = None
    if rule is not None and obj is not None:  # the state as saved (the caller's instance may be stale)
        fresh = rule.model._default_manager.filter(pk=obj.pk).first()
        state = _state(rule, fresh) if fresh is not None else None
    now = timezone.now()
    seen: set[int] = set()
    rows: list[Notification] = []
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        is_task = rule is not None and (rule.assignee is None or bool(rule.assignee(obj, user)))
        rows.append(Notification(
            recipient=user, kind=kind, subject=subject_text, body=body_text, url=url, message=stored,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            task=is_task, task_state=(state or "") if is_task else "",
            resolved_at=now if is_task and state is None else None,
        ))
    created = Notification.objects.bulk_create(rows)
    ids = [n.pk for n in created if n.pk is not None]
    email_host: str = getattr(settings, "EMAIL_HOST", "")
    if ids and email_host:
        transaction.on_commit(lambda: send_emails(ids))
    return created


def language_of(user: Any) -> str:
    """The language a user reads their e-mail in: their choice, else the platform's first language."""
    chosen = getattr(user, "language", "") or ""
    return chosen if chosen in dict(settings.LANGUAGES) else FIRST_LANGUAGE


def send_emails(ids: list[int]) -> int:
    """Send the e-mail for each notification that has not been e-mailed; failures are logged."""
    sent = 0
    for note in Notification.objects.filter(pk__in=ids, emailed_at__isnull=True).select_related("recipient"):
        address = note.recipient.email
        if not address:
            continue
        language = language_of(note.recipient)
        subject, body = note.subject_in(language), note.body_in(language)
        try:
            send_mail(subject.replace("\n", " ")[:300], f"{body}\n\n{note.url}".strip(), None, [address])
        except Exception:  # noqa: BLE001 — the inbox row stays; e-mail is best effort
            log.exception("could not e-mail notification %s", note.pk)
            continue
        Notification.objects.filter(pk=note.pk).update(emailed_at=timezone.now())
        sent += 1
    return sent


def replace_in_notifications(qs: models.QuerySet[Notification], changes: dict[str, str]) -> int:
    """Replace text (e.g. a date) in stored notifications: their texts and message parameters.
    For the demo loader, which dates its history back after the actions ran."""
    def fix(node: Node) -> Node:
        if isinstance(node, str):
            for old, new in changes.items():
                node = node.replace(old, new)
            return node
        if isinstance(node, dict):
            if "join" in node:
                return {**node, "join": [fix(part) for part in node["join"]]}
            return {**node, "params": {k: fix(v) for k, v in (node.get("params") or {}).items()}}
        return node

    count = 0
    for note in qs:
        stored = {k: fix(v) if k in ("subject", "body") else v for k, v in (note.message or {}).items()}
        subject, body = fix(note.subject), fix(note.body)
        if (subject, body, stored) != (note.subject, note.body, note.message):
            type(note).objects.filter(pk=note.pk).update(subject=subject, body=body, message=stored)
            count += 1
    return count
