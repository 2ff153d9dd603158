"""Who sees and uses a front-end database (SEC-2; the one chokepoint, :mod:`govshare.core.permissions`).

* view: the department's administrators and data specialists; the centre and auditors see every one;
* use (test the connection, list and describe its tables, later bind them): the department's
  administrators and data specialists, and the centre administrator;
* change (edit, deactivate): the department's administrators and the centre administrator.

Deliveries into a consumer's front-end table (issue 11 item 1) are the consumer's: its administrators and data
specialists bind, pause and run them; the provider's staff see where their entry's data is delivered; the centre
and auditors see every one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from govshare.catalog.permissions import dept_of, is_centre
from govshare.core.permissions import has_capability, is_anonymous, rule
from govshare.core.roles import Capability, Role
from govshare.exchange.models import (
    CrossCheck,
    DataSource,
    DeliveryBinding,
    DeliveryRun,
    ExchangeRun,
    TableBinding,
    Upload,
    UploadFeed,
)

VIEW, USE, CHANGE = "view", "use", "change"
DEPT_STAFF = frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST})


@rule(DataSource)
def _source_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if action == VIEW and (is_centre(user) or user.has_role(Role.AUDITOR)):
        return True
    if user.has_role(Role.CENTRE_ADMIN):
        return True
    dept = dept_of(user)
    if dept is None:
        return False
    if action in (VIEW, USE) and user.role_set() & DEPT_STAFF:
        return Q(department_id=dept)
    if action == CHANGE and user.has_role(Role.DEPT_ADMIN):
        return Q(department_id=dept)
    return False


def _providers_rule(user: Any, action: str, provider: str) -> Q | bool:
    """What feeds an entry's data is its provider's: its administrators and data specialists (the centre
    administrator for the centre's own entries, as it edits only those); the centre and auditors see every one.
    ``provider``: the lookup of the entry's provider from the model."""
    if is_anonymous(user):
        return False
    if action == VIEW and (is_centre(user) or user.has_role(Role.AUDITOR)):
        return True
    dept = dept_of(user)
    if dept is not None and user.role_set() & (DEPT_STAFF | {Role.CENTRE_ADMIN}):
        return Q(**{provider: dept})
    return False


@rule(TableBinding)
def _binding_rule(user: Any, action: str) -> Q | bool:
    """Bindings are the provider's: they bind and pause them."""
    return _providers_rule(user, action, "entry__provider_id")


@rule(ExchangeRun)
def _run_rule(user: Any, action: str) -> Q | bool:
    """A run is seen by whoever sees its binding; nobody changes one (the worker does)."""
    if action != VIEW:
        return False
    verdict = _binding_rule(user, VIEW)
    return verdict if isinstance(verdict, bool) else Q(binding__in=TableBinding.objects.filter(verdict).values("pk"))


@rule(CrossCheck)
def _cross_check_rule(user: Any, action: str) -> Q | bool:
    """Cross-source checks are the centre's: it declares and runs them (SUPERVISE_QUALITY); the centre and
    auditors see every one, the staff of either entry's provider theirs (the differing values are their data)."""
    if is_anonymous(user):
        return False
    if has_capability(user, Capability.SUPERVISE_QUALITY):
        return True
    if action == VIEW and (is_centre(user) or user.has_role(Role.AUDITOR)):
        return True
    dept = dept_of(user)
    if action == VIEW and dept is not None and user.role_set() & DEPT_STAFF:
        return Q(left_entry__provider_id=dept) | Q(right_entry__provider_id=dept)
    return False


@rule(DeliveryBinding)
def _delivery_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if action == VIEW and (is_centre(user) or user.has_role(Role.AUDITOR)):
        return True
    dept = dept_of(user)
    if dept is None or not user.role_set() & DEPT_STAFF:
        return False
    if action == VIEW:
        return Q(grant__consumer_id=dept) | Q(grant__provider_id=dept)
    return Q(grant__consumer_id=dept)


@rule(DeliveryRun)
def _delivery_run_rule(user: Any, action: str) -> Q | bool:
    """A delivery run is seen by whoever sees its binding; the worker changes it."""
    if action != VIEW:
        return False
    verdict = _delivery_rule(user, VIEW)
    return verdict if isinstance(verdict, bool) else Q(binding__in=DeliveryBinding.objects.filter(verdict).values("pk"))


@rule(UploadFeed)
def _feed_rule(user: Any, action: str) -> Q | bool:
    """Spreadsheet uploads are the provider's, like its bindings (the same people: its administrators and data
    specialists; the centre administrator for the centre's own entries); the centre and auditors see every one."""
    return _providers_rule(user, action, "entry__provider_id")


@rule(Upload)
def _upload_rule(user: Any, action: str) -> Q | bool:
    return _providers_rule(user, action, "feed__entry__provider_id")
