from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "govshare.exchange"
    label = "exchange"
    verbose_name = "Exchange"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from govshare.core.access_log import register_route_objects

        # registration: demo loader, menu, permission rules, job handlers, periodic hooks (the schedule, log
        # mode's replication slots watched every minute)
        from govshare.exchange import (  # noqa: F401
            deliveries,
            demo,
            navigation,
            panels,
            permissions,
            runs,
            schedule,
            uploads,
        )
        from govshare.exchange.actions import checks, slots  # noqa: F401  (daily cross-source checks, slots)

        # reads of a front-end database's settings and tables are found by the auditors' object filter
        register_route_objects({"exchange": "exchange.datasource", "exchange/sources": "exchange.datasource",
                                "exchange/bindings": "exchange.tablebinding", "exchange/runs": "exchange.exchangerun",
                                "exchange/cross-checks": "exchange.crosscheck",
                                "exchange/deliveries": "exchange.deliverybinding",
                                "exchange/uploads": "exchange.upload",
                                "exchange/files": "exchange.entryfile",
                                "exchange/reconciliations": "exchange.reconciliation",
                                "exchange/quality": "catalog.catalogentry"})
