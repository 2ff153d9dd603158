"""Who sees and fetches a batch download (issue 11 item 4; the one chokepoint, :mod:`govshare.core.permissions`).

* view (its state, size, fingerprint): the staff of the department it was made for; the centre and auditors see
  every one (records, not data);
* fetch (the file itself): the staff of that department only — the grantee (a system with its key fetches the
  downloads it asked for; see :mod:`govshare.datastore.api`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from govshare.catalog.permissions import dept_of, is_centre
from govshare.core.permissions import is_anonymous, rule
from govshare.core.roles import Role
from govshare.datastore.models import Download, QueryIndex

VIEW, FETCH = "view", "fetch"
DEPT_STAFF = frozenset({Role.DEPT_ADMIN, Role.DATA_SPECIALIST})


@rule(Download)
def _download_rule(user: Any, action: str) -> Q | bool:
    if is_anonymous(user):
        return False
    if action == VIEW and (is_centre(user) or user.has_role(Role.AUDITOR)):
        return True
    dept = dept_of(user)
    if dept is None or not user.role_set() & DEPT_STAFF:
        return False
    return Q(department_id=dept)


@rule(QueryIndex)
def _query_index_rule(user: Any, action: str) -> Q | bool:
    """Which items of an entry's centre table are indexed (not the data): seen by the provider's staff, the centre
    and auditors; changed through the entry (:func:`govshare.datastore.actions.indexes.do_set_query_indexes`)."""
    if is_anonymous(user) or action != VIEW:
        return False
    if is_centre(user) or user.has_role(Role.AUDITOR):
        return True
    dept = dept_of(user)
    if dept is None or not user.role_set() & DEPT_STAFF:
        return False
    return Q(entry__provider_id=dept)


def may_view_indexes(user: Any, entry: Any) -> bool:
    """Whether ``user`` sees which items of ``entry``'s centre table are indexed (the rule above, for one entry)."""
    verdict = _query_index_rule(user, VIEW)
    if isinstance(verdict, bool):
        return verdict
    return dept_of(user) == entry.provider_id
