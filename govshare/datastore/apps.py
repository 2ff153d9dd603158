from django.apps import AppConfig


class DatastoreConfig(AppConfig):
    name = "govshare.datastore"
    label = "datastore"
    verbose_name = "Data resource centre"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from govshare.core.access_log import register_route_objects
        from govshare.core.views import register_health_check
        from govshare.datastore.centre import health

        register_health_check("datastore", health)
        # the data API's reads name their catalog entry for the auditors' object filter
        register_route_objects({"data": "catalog.catalogentry"})
        from govshare.datastore import demo, panels  # noqa: F401 — the demo's system key, the grant page's panel
