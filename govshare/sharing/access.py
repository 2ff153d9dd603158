"""The one access check every delivery channel calls (SHR-4).

Exchange jobs, the data API and the gateway ask :func:`check_access` before they deliver anything:
*who* (a user, or a registered consuming system), *which entry*, *which information items*, *for
which purpose* (and optionally over which channel).  The answer is a :class:`Decision`: allowed or
not, the grant that allows it with the masking to apply, and — when refused — every reason, so that
the person or system refused knows what to do.  A reason keeps what it means (msgid and parameters):
the API gives it in Chinese and English (``message_zh``, ``message_en``; ``message`` is both), a web
page shows :attr:`Reason.text` / :attr:`Decision.explanation` in the reader's language only.

Only grants allow: a data-error report (SHR-8) or anything else never blocks a valid grant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core.messages import Message
from govshare.core.notify import bilingual
from govshare.core.roles import Role
from govshare.sharing.models import ConsumingSystem, Grant


@dataclass(frozen=True)
class Reason:
    code: str
    message: Message  # str() is 中文 / English; .render(language) one language

    @property
    def text(self) -> str:
        """The reason in the reader's (active) language — what a web page shows."""
        return self.message.render()

    def __str__(self) -> str:
        return self.text

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": str(self.message), "message_zh": self.message.render("zh-hans"),
                "message_en": self.message.render("en")}


@dataclass
class Decision:
    allowed: bool
    entry_id: int | None
    items: list[str]
    purpose: str
    grant: Grant | None = None
    masking: dict[str, str] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    basis: str = ""  # "grant" or "own_data" when allowed

    def explain(self) -> Message:
        """Why (not): ``str()`` is 中文 / English (the command line), ``.render(language)`` one language."""
        if self.allowed and self.grant is not None:
            return bilingual(_("Allowed by grant %(grant)s."), grant=self.grant.number)
        if self.allowed:
            return bilingual(_("Allowed: the department's own data."))
        joined: Message | None = None
        for reason in self.reasons:
            joined = reason.message if joined is None else joined + "; " + reason.message
        return joined if joined is not None else Message("")

    @property
    def explanation(self) -> str:
        """:meth:`explain` in the reader's (active) language — what a web page shows."""
        return self.explain().render()

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "basis": self.basis,
            "grant": self.grant.number if self.grant else None,
            "entry_id": self.entry_id,
            "items": self.items,
            "purpose": self.purpose,
            "masking": self.masking,
            "reasons": [r.as_dict() for r in self.reasons],
        }


def _reason(reason_code: str, message: Any, /, **params: Any) -> Reason:
    return Reason(reason_code, bilingual(message, **params))


def _denied(entry: CatalogEntry | None, items: list[str], purpose: str, *reasons: Reason) -> Decision:
    return Decision(False, entry.pk if entry else None, items, purpose, reasons=list(reasons))


def _grant_problems(grant: Grant, *, items: list[str], purpose: str, channel: str | None,
                    system: ConsumingSystem | None, today: dt.date) -> list[Reason]:
    problems: list[Reason] = []
    state = grant.state(today)
    if state == "revoked":
        problems.append(_reason("grant_revoked", _("Grant %(grant)s was revoked on %(date)s."), grant=grant.number,
                                date=timezone.localtime(grant.revoked_at).date().isoformat()))
    elif state == "expired":
        problems.append(_reason("grant_expired", _("Grant %(grant)s expired on %(date)s."), grant=grant.number,
                                date=grant.expires_on.isoformat() if grant.expires_on else ""))
    elif state == "pending":
        problems.append(_reason("grant_not_yet_valid", _("Grant %(grant)s is valid from %(date)s."),
                                grant=grant.number, date=grant.valid_from.isoformat()))
    if grant.system_id is not None and (system is None or system.pk != grant.system_id):
        problems.append(_reason("wrong_system", _("Grant %(grant)s is for the system %(system)s only."),
                                grant=grant.number, system=grant.system.name if grant.system else ""))
    if purpose != grant.purpose:
        problems.append(_reason("wrong_purpose",
                                _("Grant %(grant)s allows the purpose %(allowed)s, not %(asked)s; data may be used "
                                  "only for the purpose granted."), grant=grant.number, allowed=grant.purpose,
                                asked=purpose))
    if channel and channel != grant.channel:
        problems.append(_reason("wrong_channel", _("Grant %(grant)s delivers through %(allowed)s, not %(asked)s."),
                                grant=grant.number, allowed=grant.channel, asked=channel))
    outside = [name for name in items if name not in grant.items]
    if outside:
        problems.append(_reason("items_not_granted", _("Grant %(grant)s does not cover the items: %(items)s."),
                                grant=grant.number, items="、".join(outside)))
    return problems


def check_access(*, entry: CatalogEntry | int, purpose: str, items: list[str] | None = None, user: Any = None,
                 system: ConsumingSystem | None = None, channel: str | None = None,
                 today: dt.date | None = None, record: bool = False, grant: Grant | None = None) -> Decision:
    """May ``user`` (or ``system``) receive ``items`` of ``entry`` for ``purpose``?

    ``items=None`` asks for every item of the entry's published version.  With ``record=True`` a
    refusal is written to the audit log (ACCESS_DENIED) — channels pass it; screens that only
    explain do not.  ``grant``: judge by this grant only (a file made under it), not the department's best."""
    today = today or timezone.localdate()
    if not isinstance(entry, CatalogEntry):
        found = CatalogEntry.objects.select_related("current_version").filter(pk=entry).first()
        if found is None:
            return _denied(None, list(items or []), purpose,
                           _reason("no_such_entry", _("There is no catalog entry %(id)s."), id=entry))
        entry = found
    decision = _decide(entry, purpose=purpose, items=items, user=user, system=system, channel=channel, today=today,
                       only=grant)
    if record and not decision.allowed:
        record_refusal(entry, user=user, system=system, purpose=purpose, items=decision.items, channel=channel or "",
                       reasons=[r.code for r in decision.reasons])
    return decision


def record_refusal(entry: CatalogEntry, *, user: Any, system: Any, purpose: str, items: list[str], channel: str,
                   reasons: list[str], **detail: Any) -> None:
    """A channel's refusal in the audit log (ACCESS_DENIED) at once — whatever becomes of the request's transaction:
    the access check's own, and a channel's later ones (a download whose grant changed since it was asked for)."""
    from govshare.core import audit
    from govshare.core.audit_codes import AuditCode

    audit.record_now(AuditCode.ACCESS_DENIED, actor=user, obj=entry, outcome="denied",
                     detail={"system": system.code if system else "", "purpose": purpose, "items": items[:50],
                             "channel": channel, "reasons": reasons, **detail})


def _decide(entry: CatalogEntry, *, purpose: str, items: list[str] | None, user: Any,
            system: ConsumingSystem | None, channel: str | None, today: dt.date,
            only: Grant | None = None) -> Decision:
    asked = list(dict.fromkeys(items)) if items else []
    if (user is None) == (system is None):
        return _denied(entry, asked, purpose, _reason("who_missing", _("Name exactly one user or one system.")))
    department_id: int | None
    if system is not None:
        if not system.is_active:
            return _denied(entry, asked, purpose, _reason("system_inactive", _("The system %(system)s is "
                                                                             "deactivated."), system=system.name))
        department_id = system.department_id
        if not system.department.is_active:
            return _denied(entry, asked, purpose, _reason("department_inactive", _("The department of the system "
                                                                                 "is deactivated.")))
    else:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return _denied(entry, asked, purpose, _reason("not_signed_in", _("Sign in first.")))
        if user.has_role(Role.AUDITOR):
            return _denied(entry, asked, purpose, _reason("auditor", _("Auditors read records; they receive no "
                                                                      "shared data.")))
        if not user.role_set() & {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}:
            return _denied(entry, asked, purpose, _reason("not_government", _("Only government departments receive "
                                                                             "shared data.")))
        department_id = user.department_id
        if department_id is None:
            return _denied(entry, asked, purpose, _reason("no_department", _("Your account belongs to no "
                                                                            "department.")))
        if not user.department.is_active:
            return _denied(entry, asked, purpose, _reason("department_inactive", _("Your department is "
                                                                                 "deactivated.")))
    if entry.status != CatalogEntry.Status.PUBLISHED or entry.current_version is None:
        return _denied(entry, asked, purpose, _reason("entry_not_published", _("%(code)s is not published in the "
                                                                               "catalog."), code=entry.code))
    entry_items = list(entry.current_version.items.values_list("name", flat=True))
    if not asked:
        asked = entry_items
    unknown = [name for name in asked if name not in entry_items]
    if unknown:
        return _denied(entry, asked, purpose, _reason("unknown_items", _("%(code)s has no items named: %(items)s."),
                                                       code=entry.code, items="、".join(unknown)))
    if department_id == entry.provider_id:
        return Decision(True, entry.pk, asked, purpose, basis="own_data")
    grants = list(Grant.objects.filter(entry=entry, consumer_id=department_id).select_related("system")
                  .order_by("-granted_at", "-id"))
    if only is not None:  # this grant alone (what a file was made under), not the best of the department's
        grants = [g for g in grants if g.pk == only.pk]
    if not grants:
        return _denied(entry, asked, purpose, _reason("no_grant", _("Your department holds no grant for %(code)s; "
                                                                    "apply for it in the sharing portal."),
                                                       code=entry.code))
    best: list[Reason] | None = None
    for grant in grants:
        problems = _grant_problems(grant, items=asked, purpose=purpose, channel=channel, system=system, today=today)
        if not problems:
            masking = {name: rule for name, rule in (grant.masking or {}).items() if name in asked and rule}
            return Decision(True, entry.pk, asked, purpose, grant=grant, masking=masking, basis="grant")
        if best is None or len(problems) < len(best):
            best = problems
    return _denied(entry, asked, purpose, *(best or []))
