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
        register_route_objects({"data": "catalog.catalogentry", "data/downloads": "datastore.download",
                                "data/grants": "sharing.grant", "verify": "catalog.catalogentry"})
        # the demo's system key, the grant page's panel, the download job and its expiry, the permission rules
        from govshare.datastore import demo, hooks, navigation, panels, permissions  # noqa: F401
        from govshare.datastore.actions import downloads  # noqa: F401
