"""Menu items of the datastore (see :mod:`govshare.core.navigation`): the department's batch downloads, in the
sharing group next to the grants they come from."""

from django.utils.translation import gettext_lazy

from govshare.core.navigation import register
from govshare.core.roles import Role

register("datastore:downloads", gettext_lazy("Batch downloads"),
         {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN, Role.AUDITOR}, 12, "sharing")
