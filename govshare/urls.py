"""The project's URLs.  This file names no app: every app in ``INSTALLED_APPS`` with a ``urls.py``
is mounted at its ``url_prefix`` (default ``<label>/``) in its ``app_name`` namespace; apps with the
empty prefix come last (see :mod:`govshare.core.plugins`)."""

from django.urls import include, path, re_path

from govshare.api import api, not_found
from govshare.core.plugins import url_includes
from govshare.core.views import healthz
from govshare.core.web.language_views import set_language

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),  # remembers a signed-in user's choice
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    *[path(prefix, include(module, namespace=namespace)) for prefix, module, namespace in url_includes()],
    # last: an address under the API that names no endpoint gets the API's JSON 404, not the HTML page
    re_path(r"^api/v1/", not_found, name="api_not_found"),
]
