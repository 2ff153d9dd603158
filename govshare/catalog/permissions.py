"""Who sees and changes what in the catalog (CAT-9 visibility, SEC-2), registered with the chokepoint.

* the public (and anonymous visitors) see published entries of the open catalog (CAT-6);
* department users and auditors see the whole published share catalog;
* drafts, versions under review and withdrawn entries are seen only inside the provider
  department and by the centre;
* only the provider department changes its entries (the centre compiles the centre's own).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from govshare.catalog.enums import OpenAttribute
from govshare.catalog.models import (
    CatalogEntry,
    CatalogSnapshot,
    Classification,
    EntryVersion,
    Feedback,
    InformationItem,
    Project,
    SearchWord,
    Subscription,
    Synonym,
    UpdateTask,
)
from govshare.core.permissions import Action, is_anonymous, rule
from govshare.core.roles import Role

OPEN_VALUES = (OpenAttribute.OPEN, OpenAttribute.ON_APPLICATION)
GOVERNMENT_ROLES = frozenset({Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST,
                              Role.AUDITOR})
EDITOR_ROLES = frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN})


def is_government(user: Any) -> bool:
    return not is_anonymous(user) and bool(user.role_set() & GOVERNMENT_ROLES)


def is_centre(user: Any) -> bool:
    return not is_anonymous(user) and (user.has_role(Role.CENTRE_ADMIN) or user.has_role(Role.CENTRE_REVIEWER))


def dept_of(user: Any) -> int | None:
    return None if is_anonymous(user) else getattr(user, "department_id", None)


def is_editor(user: Any) -> bool:
    return not is_anonymous(user) and bool(user.role_set() & EDITOR_ROLES) and dept_of(user) is not None


def public_entry_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": CatalogEntry.Status.PUBLISHED,
                f"{prefix}current_version__open_attribute__in": OPEN_VALUES})


@rule(CatalogEntry)
def _entry_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        if is_centre(user):
            return True
        if is_government(user):
            own = Q(provider_id=dept_of(user)) if is_editor(user) else Q(pk__in=[])
            return Q(status=CatalogEntry.Status.PUBLISHED) | own
        return public_entry_q()
    if is_editor(user):
        return Q(provider_id=dept_of(user))
    return False


@rule(EntryVersion)
def _version_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        if is_centre(user):
            return True
        if is_government(user):
            own = Q(entry__provider_id=dept_of(user)) if is_editor(user) else Q(pk__in=[])
            history = Q(entry__status=CatalogEntry.Status.PUBLISHED,
                        state__in=[EntryVersion.State.PUBLISHED, EntryVersion.State.SUPERSEDED])
            return history | own
        return Q(state=EntryVersion.State.PUBLISHED, open_attribute__in=OPEN_VALUES,
                 entry__status=CatalogEntry.Status.PUBLISHED)
    if is_editor(user):
        return Q(entry__provider_id=dept_of(user))
    return False


@rule(InformationItem)
def _item_rule(user: Any, action: str) -> Q | bool:
    verdict = _version_rule(user, action)
    if isinstance(verdict, bool):
        return verdict
    return Q(version__in=EntryVersion.objects.filter(verdict).values("pk"))


@rule(Classification)
def _classification_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        return True
    return not is_anonymous(user) and user.has_role(Role.CENTRE_ADMIN)


@rule(Subscription)
def _subscription_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    own = Q(user_id=user.pk)
    if action == Action.VIEW:
        if is_centre(user):
            return True
        if dept_of(user) and is_editor(user):
            return own | Q(entry__provider_id=dept_of(user))  # a provider knows who follows its entries
    return own


@rule(UpdateTask)
def _update_task_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if is_centre(user):
        return True
    if action == Action.VIEW and is_government(user) and dept_of(user):
        return Q(department_id=dept_of(user))
    if is_editor(user):
        return Q(department_id=dept_of(user))
    return False


@rule(CatalogSnapshot)
def _snapshot_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        return is_government(user)
    return not is_anonymous(user) and user.has_role(Role.CENTRE_ADMIN)


@rule(Project)
def _project_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if action == Action.VIEW:
        if is_centre(user) or user.has_role(Role.AUDITOR):
            return True
        return Q(department_id=dept_of(user)) if dept_of(user) else False
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    if is_editor(user):
        return Q(department_id=dept_of(user))
    return False


@rule(Feedback)
def _feedback_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if is_centre(user):
        return True
    if not dept_of(user) or not is_government(user):
        return False
    if action == Action.VIEW:
        return Q(department_id=dept_of(user)) | Q(entry__provider_id=dept_of(user))
    if user.has_role(Role.AUDITOR):
        return False  # an auditor reads feedback of the centre's entries but answers and closes nothing
    return Q(raised_by_id=user.pk) | Q(entry__provider_id=dept_of(user))


@rule(Synonym)
@rule(SearchWord)
def _synonym_rule(user: Any, action: str) -> Q | bool:
    if action == Action.VIEW:
        return is_government(user)
    return not is_anonymous(user) and user.has_role(Role.CENTRE_ADMIN)
