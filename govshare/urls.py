from django.urls import include, path

from govshare.api import api
from govshare.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("catalog/", include("govshare.catalog.urls", namespace="catalog")),
    path("sharing/", include("govshare.sharing.urls", namespace="sharing")),
    path("", include("govshare.core.urls")),
]
