"""Web pages of the datastore (namespace ``datastore``, under ``/data/``)."""

from django.urls import path

from govshare.datastore.web import views

app_name = "datastore"
url_prefix = "data/"

urlpatterns = [
    path("downloads/", views.downloads, name="downloads"),
    path("grants/<int:grant_pk>/downloads/", views.request_download, name="request_download"),
    path("entries/<int:entry_pk>/indexes/", views.query_indexes, name="query_indexes"),
]
