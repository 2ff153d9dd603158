"""Menu group and items of the catalog (see :mod:`govshare.core.navigation`)."""

from django.utils.translation import gettext_lazy as _

from govshare.core.navigation import register, register_group
from govshare.core.roles import Role

GOV: set[str] = {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER, Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.AUDITOR}
CENTRE: set[str] = {Role.CENTRE_ADMIN, Role.CENTRE_REVIEWER}
EDITORS: set[str] = {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN}

GROUP = "catalog"
register_group(GROUP, _("Catalog"), 10, home="catalog:search")
register("catalog:search", _("Resource catalog"), None, 1, GROUP)
register("catalog:mine", _("My department's catalog"), EDITORS, 2, GROUP)
register("catalog:review_queue", _("Catalog review"), CENTRE, 3, GROUP)
register("catalog:update_tasks", _("Catalog-update tasks"), GOV - {Role.AUDITOR}, 4, GROUP)
register("catalog:overview", _("Jurisdiction catalog"), GOV, 5, GROUP)
register("catalog:projects", _("IT projects"), GOV, 6, GROUP)
register("catalog:classifications", _("Classification tree"), GOV, 7, GROUP)
register("catalog:synonyms", _("Search synonyms"), {str(Role.CENTRE_ADMIN)}, 8, GROUP)
register("catalog:search_words", _("Search word list"), {str(Role.CENTRE_ADMIN)}, 9, GROUP)
