"""The centre's catalog administration: classification tree and search synonyms (CAT-1, CAT-9)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions._common import required_text
from govshare.catalog.enums import LEVEL_DIGITS, MAX_DETAIL_DIGITS, ClassKind
from govshare.catalog.models import Classification, SearchIndexState, Synonym
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.models import Department
from govshare.core.permissions import require
from govshare.core.roles import Capability

TOP_KINDS = {"1": ClassKind.BASIC, "2": ClassKind.THEME, "3": ClassKind.DEPARTMENT}


def _check_code(code: str, parent: Classification | None) -> int:
    """The level of ``code`` under ``parent``: 类 1 digit, 项 +2, 目 +3, 细目 +1…6 digits."""
    if not re.fullmatch(r"[0-9]+", code or ""):  # ASCII digits only: \d would take ٣ or full-width ３ too
        raise ValidationFailed("invalid_code", _("A classification code has digits only."), field="code")
    if parent is None:
        if len(code) != 1:
            raise ValidationFailed("invalid_code", _("A 类 code has exactly one digit."), field="code")
        return 1
    if not code.startswith(parent.code):
        raise ValidationFailed("invalid_code", _("The code must start with the parent's code %(parent)s."),
                               field="code", parent=parent.code)
    level = parent.level + 1
    extra = len(code) - len(parent.code)
    if level in LEVEL_DIGITS and extra != LEVEL_DIGITS[level]:
        raise ValidationFailed("invalid_code", _("A level-%(level)s code adds exactly %(digits)s digits to its parent."),
                               field="code", level=level, digits=LEVEL_DIGITS[level])
    if level == 4 and not 1 <= extra <= MAX_DETAIL_DIGITS:
        raise ValidationFailed("invalid_code", _("A 细目 code adds 1 to %(digits)s digits to its parent."),
                               field="code", digits=MAX_DETAIL_DIGITS)
    if level > 4:
        raise ValidationFailed("too_deep", _("The tree has four levels: 类, 项, 目, 细目."), field="parent")
    return level


@transaction.atomic
def do_create_classification(actor: Any, *, code: str, name: str, parent: Classification | None = None,
                             department: Department | None = None, description: str = "",
                             operator: bool = False) -> Classification:
    if not (actor is None and operator):
        require(actor, Capability.MANAGE_CLASSIFICATION)
    code = unicodedata.normalize("NFKC", code or "").strip()  # full-width ３０１ is 301
    name = required_text(name, "name", 100)
    level = _check_code(code, parent)
    if Classification.objects.filter(code=code).exists():
        raise Conflict("duplicate_code", _("Classification %(code)s already exists."), field="code", code=code)
    kind = TOP_KINDS.get(code[0])
    if kind is None:
        raise ValidationFailed("invalid_code", _("The national tree has the classes 1, 2 and 3 only."), field="code")
    if department is not None and kind != ClassKind.DEPARTMENT:
        raise ValidationFailed("department_not_allowed",
                               _("Only department resources (class 3) belong to a department."), field="department")
    if kind == ClassKind.DEPARTMENT and level == 2 and department is None:
        raise ValidationFailed("required", _("This field is required."), field="department")
    node = Classification.objects.create(code=code, name=name, level=level, parent=parent, kind=kind,
                                         department=department, description=(description or "").strip())
    audit.record(AuditCode.CLASSIFICATION_CREATED, actor=actor, obj=node,
                 changes={"code": [None, code], "name": [None, name]})
    return node


@transaction.atomic
def do_update_classification(actor: Any, node: Classification, *, name: str | None = None,
                             description: str | None = None, is_active: bool | None = None) -> Classification:
    require(actor, Capability.MANAGE_CLASSIFICATION)
    node = Classification.objects.select_for_update().get(pk=node.pk)
    changes: dict[str, list[Any]] = {}
    if name is not None:
        new = required_text(name, "name", 100)
        if new != node.name:
            changes["name"] = [node.name, new]
            node.name = new
    if description is not None and description.strip() != node.description:
        changes["description"] = [node.description, description.strip()]
        node.description = description.strip()
    if is_active is not None and is_active != node.is_active:
        if not is_active and node.children.filter(is_active=True).exists():
            raise Conflict("has_children", _("Deactivate the sub-classifications of %(code)s first."), code=node.code)
        changes["is_active"] = [node.is_active, is_active]
        node.is_active = is_active
    if changes:
        node.save()
        audit.record(AuditCode.CLASSIFICATION_UPDATED, actor=actor, obj=node, changes=changes)
        from govshare.catalog.signals import classification_changed

        classification_changed.send(sender=Classification, classification=node, changed=sorted(changes))
    return node


MAX_EXPANSIONS = 10


def _clean_terms(term: str, expansions: list[str] | str) -> tuple[str, list[str]]:
    term = required_text(term, "term", 40)
    if isinstance(expansions, str):
        expansions = re.split(r"[;；,，、\s]+", expansions)
    clean: list[str] = []
    for value in expansions:
        value = (value or "").strip()
        if not value or value == term or value in clean:
            continue
        if len(value) > 40:
            raise ValidationFailed("too_long", _("At most %(max)s characters."), field="expansions", max=40)
        clean.append(value)
    if not clean:
        raise ValidationFailed("required", _("Give at least one full term for %(term)s."), field="expansions",
                               term=term)
    if len(clean) > MAX_EXPANSIONS:
        raise ValidationFailed("too_many", _("At most %(max)s full terms."), field="expansions", max=MAX_EXPANSIONS)
    return term, clean


def _touch_synonyms() -> None:
    state, _created = SearchIndexState.objects.get_or_create(pk=1)
    state.synonyms_changed_at = timezone.now()
    state.save(update_fields=["synonyms_changed_at"])


@transaction.atomic
def do_set_synonym(actor: Any, term: str, expansions: list[str] | str, *, operator: bool = False) -> Synonym:
    """Create or replace the expansions of a search term (社保 → 社会保险).  Takes effect at once:
    synonyms are expanded at query time, no reindex needed."""
    if not (actor is None and operator):
        require(actor, Capability.MANAGE_SYNONYMS)
    term, clean = _clean_terms(term, expansions)
    existing = Synonym.objects.select_for_update().filter(term=term).first()
    before = list(existing.expansions) if existing else None
    if existing is None:
        existing = Synonym.objects.create(term=term, expansions=clean, updated_by=actor)
    else:
        existing.expansions = clean
        existing.updated_by = actor
        existing.updated_at = timezone.now()
        existing.save()
    _touch_synonyms()
    audit.record(AuditCode.SYNONYMS_CHANGED, actor=actor, obj=existing, changes={term: [before, clean]})
    return existing


@transaction.atomic
def do_delete_synonym(actor: Any, term: str) -> None:
    require(actor, Capability.MANAGE_SYNONYMS)
    existing = Synonym.objects.select_for_update().filter(term=(term or "").strip()).first()
    if existing is None:
        raise ValidationFailed("unknown_term", _("There is no synonym entry for %(term)s."), field="term", term=term)
    audit.record(AuditCode.SYNONYMS_CHANGED, actor=actor, obj=existing,
                 changes={existing.term: [list(existing.expansions), None]})
    existing.delete()
    _touch_synonyms()
