"""Web pages of sharing (namespace ``sharing``, under ``/sharing/``).

Notifications link to ``applications/<pk>/``, ``grants/<pk>/``, ``cases/<pk>/``, ``requests/<pk>/``
and ``errors/<pk>/`` (see ``URLS`` in :mod:`govshare.sharing.actions._common`).
"""

from django.urls import path

from govshare.sharing.web import (
    admin_views,
    application_views,
    case_views,
    centre_views,
    consumer_views,
    error_views,
    home_views,
    provider_views,
    request_views,
)

app_name = "sharing"

urlpatterns = [
    # the area's home page: what is still to do
    path("", home_views.home, name="home"),
    # consumer
    path("applications/", consumer_views.my_applications, name="my_applications"),
    path("grants/", consumer_views.my_grants, name="my_grants"),
    path("entries/<int:entry_pk>/subscribe/", consumer_views.subscribe, name="subscribe"),
    path("entries/<int:entry_pk>/apply/", consumer_views.apply, name="apply"),
    path("applications/<int:pk>/resubmit/", consumer_views.resubmit, name="resubmit"),
    # one application, every party
    path("applications/<int:pk>/", application_views.application_detail, name="application_detail"),
    path("applications/<int:pk>/letter/", application_views.letter, name="letter"),
    path("applications/<int:pk>/withdraw/", application_views.withdraw, name="withdraw"),
    path("applications/<int:pk>/first-review/", application_views.first_review, name="first_review"),
    path("applications/<int:pk>/answer/", application_views.answer, name="answer"),
    path("applications/<int:pk>/reopen/", application_views.reopen, name="reopen"),
    # provider
    path("to-answer/", provider_views.to_answer, name="to_answer"),
    path("grants/given/", provider_views.grants_given, name="grants_given"),
    path("grants/<int:pk>/", provider_views.grant_detail, name="grant_detail"),
    path("grants/<int:pk>/revoke/", provider_views.revoke, name="revoke"),
    # coordination cases (SHR-3)
    path("cases/", case_views.case_list, name="cases"),
    path("cases/new/", case_views.case_new, name="case_new"),
    path("cases/<int:pk>/", case_views.case_detail, name="case_detail"),
    path("cases/<int:pk>/note/", case_views.case_note, name="case_note"),
    path("cases/<int:pk>/settle/", case_views.case_settle, name="case_settle"),
    path("cases/<int:pk>/withdraw/", case_views.case_withdraw, name="case_withdraw"),
    # data requests (SHR-5, SHR-6)
    path("requests/", request_views.request_list, name="requests"),
    path("requests/new/", request_views.request_new, name="request_new"),
    path("requests/<int:pk>/", request_views.request_detail, name="request_detail"),
    path("requests/<int:pk>/assign/", request_views.request_assign, name="request_assign"),
    path("requests/<int:pk>/register/", request_views.request_register, name="request_register"),
    path("requests/<int:pk>/decline/", request_views.request_decline, name="request_decline"),
    path("requests/<int:pk>/forward/", request_views.request_forward, name="request_forward"),
    path("requests/<int:pk>/upper-answer/", request_views.request_upper_answer, name="request_upper_answer"),
    path("requests/<int:pk>/close/", request_views.request_close, name="request_close"),
    # error reports (SHR-8)
    path("errors/", error_views.error_list, name="errors"),
    path("errors/new/", error_views.error_new, name="error_new"),
    path("errors/<int:pk>/", error_views.error_detail, name="error_detail"),
    path("errors/<int:pk>/acknowledge/", error_views.error_acknowledge, name="error_acknowledge"),
    path("errors/<int:pk>/resolve/", error_views.error_resolve, name="error_resolve"),
    path("errors/<int:pk>/withdraw/", error_views.error_withdraw, name="error_withdraw"),
    # centre
    path("review/", centre_views.review_queue, name="review_queue"),
    path("overdue/", centre_views.overdue, name="overdue"),
    path("demand/", centre_views.demand, name="demand"),
    path("demand/<int:entry_pk>/mark/", centre_views.mark, name="mark"),
    path("demand/<int:entry_pk>/unmark/", centre_views.unmark, name="unmark"),
    path("high-frequency/", centre_views.high_frequency, name="high_frequency"),
    # department settings
    path("systems/", admin_views.systems, name="systems"),
    path("systems/<int:pk>/active/", admin_views.system_active, name="system_active"),
    path("systems/<int:pk>/keys/", admin_views.system_key_issue, name="system_key_issue"),
    path("systems/<int:pk>/keys/<int:key_pk>/revoke/", admin_views.system_key_revoke, name="system_key_revoke"),
    path("digest/", admin_views.digest, name="digest"),
]
