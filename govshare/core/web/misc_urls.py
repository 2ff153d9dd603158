"""Pages for personal API tokens, background jobs and policy profiles."""

from django.urls import path

from govshare.core.web import misc_views as v

urlpatterns = [
    path("tokens/", v.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", v.token_revoke, name="token_revoke"),
    path("jobs/", v.job_list, name="jobs"),
    path("jobs/<uuid:pk>/", v.job_detail, name="job_detail"),
    path("jobs/<uuid:pk>/progress/", v.job_progress, name="job_progress"),
    path("jobs/<uuid:pk>/cancel/", v.job_cancel, name="job_cancel"),
    path("policies/", v.policy_list, name="policies"),
    path("policies/<slug:name>/", v.policy_detail, name="policy_detail"),
]
