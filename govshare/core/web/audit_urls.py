"""Auditor pages (SEC-4).  The main page is ``core:audit`` (linked from the navigation)."""

from django.urls import path

from govshare.core.web import audit_views

urlpatterns = [
    path("audit/", audit_views.audit_list, name="audit"),
    path("audit/<int:event_id>/", audit_views.audit_event, name="audit_event"),
    path("audit/export/", audit_views.audit_export, name="audit_export"),
    path("audit/verify/", audit_views.audit_verify, name="audit_verify"),
]
