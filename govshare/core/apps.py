from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "govshare.core"
    label = "core"
    verbose_name = _("Platform core")

    def ready(self) -> None:
        from govshare.core import signals  # noqa: F401  (login/logout audit hooks)
        from govshare.core.actions import audit, calendar  # noqa: F401  (register job handlers)
