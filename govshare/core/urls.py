"""Web pages of the core app.  Each area has its own view module under ``core/web/``."""

from django.urls import include, path

from govshare.core import views
from govshare.core.web import inbox_views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", include("govshare.core.web.org_urls")),
    path("", include("govshare.core.web.calendar_urls")),
    path("", include("govshare.core.web.audit_urls")),
    path("", include("govshare.core.web.misc_urls")),
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/read/", inbox_views.inbox_read, name="inbox_read"),
    path("inbox/count/", inbox_views.inbox_count, name="inbox_count"),
]
