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
from govshare.datastore.models import Download

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
