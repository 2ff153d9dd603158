"""Menu items of the catalog (see :mod:`govshare.core.navigation`)."""

from django.utils.translation import gettext_lazy as _

from govshare.core.navigation import register
from govshare.core.roles import Role

GOV: set[str] = {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}
CENTRE: set[str] = {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}
EDITORS: set[str] = {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}

register("catalog:search", _("Resource catalog"), None, 1)
register("catalog:mine", _("My department's catalog"), EDITORS, 2)
register("catalog:review_queue", _("Catalog review"), CENTRE, 3)
register("catalog:update_tasks", _("Catalog-update tasks"), GOV - {Role.AUDITOR}, 4)
register("catalog:overview", _("Jurisdiction catalog"), GOV, 5)
register("catalog:projects", _("IT projects"), GOV, 6)
register("catalog:classifications", _("Classification tree"), GOV, 7)
register("catalog:synonyms", _("Search synonyms"), {str(Role.CENTRE_ADMIN)}, 8)
register("core:inbox", _("Inbox"), None, 85)
