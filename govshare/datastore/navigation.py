"""Menu items of the datastore (see :mod:`govshare.core.navigation`): the department's batch downloads, in the
sharing group next to the grants they come from; on an entry's page, the query indexes of its centre table."""

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy

from govshare.catalog.entry_actions import register_entry_action
from govshare.catalog.enums import FormatClass
from govshare.core.navigation import register
from govshare.core.roles import Role

register("datastore:downloads", gettext_lazy("Batch downloads"),
         {Role.DEPT_ADMIN, Role.DATA_SPECIALIST, Role.CENTRE_ADMIN, Role.AUDITOR}, 12, "sharing")


def _indexes_link(request: Any, entry: Any) -> list[tuple[str, str]]:
    """The entry page links to the query indexes of its centre table for those who may see them (rows, not files)."""
    from govshare.datastore.permissions import may_view_indexes

    version = entry.current_version
    if version is not None and version.format_class in (FormatClass.FILE, FormatClass.IMAGE, FormatClass.STREAM,
                                                        FormatClass.SERVICE):
        return []
    if not may_view_indexes(request.user, entry):
        return []
    return [(str(gettext_lazy("Query indexes")), reverse("datastore:query_indexes", args=[entry.pk]))]


register_entry_action(_indexes_link)
