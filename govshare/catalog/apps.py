from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "govshare.catalog"
    label = "catalog"
    verbose_name = "Resource catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from govshare.catalog import demo, hooks, navigation, permissions, search_tasks  # noqa: F401  (registration)
