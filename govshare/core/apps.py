from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "govshare.core"
    label = "core"
    verbose_name = _("Platform core")

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_migrate

        from govshare.core import signals  # noqa: F401  (login/logout audit hooks)
        from govshare.core.actions import audit, calendar  # noqa: F401  (register job handlers)
        from govshare.core.keys import system_check

        checks.register(system_check, "govshare")  # the key fits the database (SEC-5)
        from govshare.core import stamps

        checks.register(stamps.system_check, checks.Tags.database)  # the stamps' triggers are there (issue 11)
        # the triggers after every migrate; the worker prunes the stamps' rows every minute (core.prune_stamps)
        post_migrate.connect(stamps.ensure_triggers, sender=self, dispatch_uid="govshare.core.stamp_triggers")
        post_migrate.connect(_classify_old_notices, sender=self, dispatch_uid="govshare.core.classify_notices")


def _classify_old_notices(using: str = "default", **kwargs: object) -> None:
    """Notifications written before task notices existed are classified once the apps' task
    rules are registered and every migration has run (issue 8)."""
    import logging

    from django.db import DatabaseError

    from govshare.core.notify import classify_old_notices

    try:
        classify_old_notices()
    except DatabaseError:  # an app's tables are not there yet (a partial migrate): try again next time
        logging.getLogger("govshare.notify").warning("old notifications not classified yet", exc_info=True)
