"""Pages for organisations, users and roles, the data-specialist register and passwords (SEC-1, SUP-1)."""

from django.urls import path

from govshare.core.web import org_views as v

urlpatterns = [
    path("departments/", v.department_list, name="departments"),
    path("departments/new/", v.department_create, name="department_create"),
    path("departments/<int:pk>/", v.department_detail, name="department_detail"),
    path("departments/<int:pk>/edit/", v.department_edit, name="department_edit"),
    path("jurisdictions/new/", v.jurisdiction_create, name="jurisdiction_create"),
    path("jurisdictions/<int:pk>/edit/", v.jurisdiction_edit, name="jurisdiction_edit"),
    path("departments/<int:pk>/specialists/", v.specialist_history, name="specialist_history"),
    path("departments/<int:pk>/specialists/appoint/", v.specialist_appoint, name="specialist_appoint"),
    path("specialists/", v.specialist_list, name="specialists"),
    path("specialists/<int:pk>/end/", v.specialist_end, name="specialist_end"),
    path("users/", v.user_list, name="users"),
    path("users/new/", v.user_create, name="user_create"),
    path("users/<int:pk>/", v.user_detail, name="user_detail"),
    path("users/<int:pk>/edit/", v.user_edit, name="user_edit"),
    path("users/<int:pk>/roles/grant/", v.user_grant_role, name="user_grant_role"),
    path("users/<int:pk>/roles/revoke/", v.user_revoke_role, name="user_revoke_role"),
    path("users/<int:pk>/deactivate/", v.user_deactivate, name="user_deactivate"),
    path("users/<int:pk>/unlock/", v.user_unlock, name="user_unlock"),
    path("users/<int:pk>/password/", v.user_set_password, name="user_set_password"),
    path("account/password/", v.password_change, name="password_change"),
]
