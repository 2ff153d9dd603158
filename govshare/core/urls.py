"""Web pages of the core app.  Each area has its own view module under ``core/web/``."""

from django.urls import include, path

from govshare.core import views
from govshare.core.web import area_views, inbox_views

app_name = "core"
#: the core pages are the site's root (mounted after the other apps, see govshare.core.plugins)
url_prefix = ""

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", include("govshare.core.web.org_urls")),
    path("", include("govshare.core.web.calendar_urls")),
    path("", include("govshare.core.web.audit_urls")),
    path("", include("govshare.core.web.misc_urls")),
    # home pages of menu areas without a page of their own (issue 8: every area has a home page)
    path("manage/", area_views.area, {"key": "admin"}, name="manage"),
    path("account/", area_views.area, {"key": "account"}, name="account"),
    path("areas/<slug:key>/", area_views.area, name="area"),
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/read/", inbox_views.inbox_read, name="inbox_read"),
    path("inbox/count/", inbox_views.inbox_count, name="inbox_count"),
]
