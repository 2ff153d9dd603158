from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "govshare.sharing"
    label = "sharing"
    verbose_name = "Sharing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from govshare.sharing import demo, hooks, navigation, permissions  # noqa: F401  (registration)
        from govshare.sharing.actions import clock  # noqa: F401  (the sharing rows of core's table of clocked kinds)
