"""Web pages of exchange (namespace ``exchange``, under ``/exchange/``)."""

from django.urls import path

from govshare.exchange.web import deliveries, files, quality, uploads, views

app_name = "exchange"

urlpatterns = [
    path("", views.home, name="home"),
    path("sources/<int:pk>/", views.source_detail, name="source_detail"),
    path("sources/<int:pk>/test/", views.source_test, name="source_test"),
    path("sources/<int:pk>/active/", views.source_active, name="source_active"),
    path("bindings/", views.bindings_list, name="bindings"),
    path("bindings/new/", views.binding_new, name="binding_new"),
    path("bindings/<int:pk>/", views.binding_detail, name="binding_detail"),
    path("bindings/<int:pk>/check/", views.binding_check, name="binding_check"),
    path("bindings/<int:pk>/active/", views.binding_active, name="binding_active"),
    path("bindings/<int:pk>/run/", views.binding_run, name="binding_run"),
    path("bindings/<int:pk>/rebuild/", views.binding_rebuild, name="binding_rebuild"),
    path("bindings/<int:pk>/schedule/", views.binding_schedule, name="binding_schedule"),
    path("bindings/<int:pk>/reconcile/", views.binding_reconcile, name="binding_reconcile"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/stop/", views.run_stop, name="run_stop"),
    path("runs/<int:pk>/confirm-deletes/", views.run_confirm, name="run_confirm"),
    path("runs/<int:pk>/refuse-deletes/", views.run_refuse, name="run_refuse"),
    path("bindings/<int:pk>/mode/", views.binding_mode, name="binding_mode"),
    path("bindings/<int:pk>/rules/", views.binding_rules, name="binding_rules"),
    path("grants/<int:grant_pk>/deliveries/", deliveries.delivery_bind, name="delivery_bind"),
    path("deliveries/<int:pk>/run/", deliveries.delivery_run, name="delivery_run"),
    path("deliveries/<int:pk>/active/", deliveries.delivery_active, name="delivery_active"),
    path("uploads/", uploads.uploads, name="uploads"),
    path("files/", files.shared_files, name="files"),
    path("uploads/<int:pk>/", uploads.upload_detail, name="upload_detail"),
    path("uploads/<int:pk>/problems/", uploads.upload_problems, name="upload_problems"),
    path("uploads/<int:pk>/decide/", uploads.upload_decide, name="upload_decide"),
    path("uploads/<int:pk>/resume/", uploads.upload_resume, name="upload_resume"),
    path("uploads/entries/<int:entry_id>/rules/", uploads.upload_rules, name="upload_rules"),
    path("quality/<int:entry_id>/", quality.entry_quality, name="quality"),
    path("base/", quality.base_libraries, name="base_libraries"),
    path("cross-checks/", quality.cross_checks, name="cross_checks"),
    path("cross-checks/<int:pk>/", quality.cross_check, name="cross_check"),
    path("cross-checks/<int:pk>/run/", quality.cross_check_run, name="cross_check_run"),
]
