"""Menu items of sharing (see :mod:`govshare.core.navigation`) and the links sharing adds to a
catalog entry's page (see :mod:`govshare.catalog.entry_actions`): subscribe, apply, follow the
open application, ask for coordination, report a data error."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from govshare.catalog.entry_actions import register_entry_action
from govshare.catalog.enums import ShareType
from govshare.catalog.models import CatalogEntry
from govshare.core.navigation import register, register_group
from govshare.core.permissions import has_capability, restrict
from govshare.core.roles import Capability, Role
from govshare.sharing.models import Application, CoordinationCase, Grant
from govshare.sharing.permissions import CONSUME

DEPT: set[str] = {Role.DEPT_ADMIN, Role.DATA_SPECIALIST}
CENTRE: set[str] = {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}
PROVIDERS: set[str] = DEPT | {Role.CENTRE_ADMIN}
PARTIES: set[str] = DEPT | CENTRE | {Role.AUDITOR}

GROUP = "sharing"
register_group(GROUP, gettext_lazy("Sharing"), 20, home="sharing:home")
register("sharing:home", gettext_lazy("My sharing work"), PARTIES, 0, GROUP)
register("sharing:my_applications", gettext_lazy("My share applications"), DEPT, 10, GROUP)
register("sharing:my_grants", gettext_lazy("My grants"), DEPT, 11, GROUP)
register("sharing:to_answer", gettext_lazy("Share requests to answer"), PROVIDERS, 20, GROUP)
register("sharing:grants_given", gettext_lazy("Grants given"), PROVIDERS, 21, GROUP)
register("sharing:review_queue", gettext_lazy("Share first review"), CENTRE, 30, GROUP)
register("sharing:overdue", gettext_lazy("Overdue sharing items"), CENTRE, 31, GROUP)
register("sharing:cases", gettext_lazy("Coordination cases"), PARTIES, 40, GROUP)
register("sharing:requests", gettext_lazy("Data requests"), PARTIES, 41, GROUP)
register("sharing:errors", gettext_lazy("Data error reports"), PARTIES, 42, GROUP)
register("sharing:demand", gettext_lazy("Aggregated demand"), CENTRE, 50, GROUP)
register("sharing:high_frequency", gettext_lazy("High-frequency shared library"), PARTIES, 51, GROUP)
register("sharing:systems", gettext_lazy("Consuming systems"), DEPT | CENTRE, 60, GROUP)
register("sharing:digest", gettext_lazy("Daily digest"), {Role.DEPT_ADMIN, Role.CENTRE_ADMIN}, 61, GROUP)


def entry_links(request: HttpRequest, entry: CatalogEntry) -> list[tuple[str, str]]:
    """What the user's department may do with this published entry of another department."""
    user: Any = request.user
    version = entry.current_version
    if (not has_capability(user, Capability.APPLY_SHARE) or user.department_id is None or version is None
            or entry.status != CatalogEntry.Status.PUBLISHED or entry.provider_id == user.department_id):
        return []
    links: list[tuple[str, str]] = []
    today = timezone.localdate()
    grants = list(restrict(Grant, user, CONSUME).filter(entry=entry).order_by("-granted_at", "-pk"))
    active = next((g for g in grants if g.state(today) == "active"), None)
    if active is not None:
        links.append((_("Granted: %(grant)s") % {"grant": active.number},
                      reverse("sharing:grant_detail", args=[active.pk])))
    elif version.share_type == ShareType.UNCONDITIONAL:
        links.append((_("Subscribe (unconditional sharing)"), reverse("sharing:subscribe", args=[entry.pk])))
    elif version.share_type == ShareType.CONDITIONAL:
        open_app = restrict(Application, user, CONSUME).filter(
            entry=entry, status__in=Application.OPEN_STATUSES).first()
        if open_app is not None:
            links.append((_("Application %(number)s in progress") % {"number": open_app.number},
                          reverse("sharing:application_detail", args=[open_app.pk])))
        else:
            links.append((_("Apply for sharing"), reverse("sharing:apply", args=[entry.pk])))
    else:
        case = restrict(CoordinationCase, user, CONSUME).filter(
            entry=entry, status__in=CoordinationCase.OPEN_STATUSES).first()
        if case is not None:
            links.append((_("Coordination case %(number)s") % {"number": case.number},
                          reverse("sharing:case_detail", args=[case.pk])))
        else:
            links.append((_("Ask the centre to coordinate"), f"{reverse('sharing:case_new')}?entry={entry.pk}"))
    if grants:
        links.append((_("Report a data error"), f"{reverse('sharing:error_new')}?entry={entry.pk}"))
    return links


register_entry_action(entry_links)
