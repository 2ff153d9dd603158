"""The inbox (issue 8): one language per screen, and counts that show what is still to do.

* A notification stores what it means (kind, msgid, params) and is shown in the reader's language —
  web inbox, API and e-mail alike; no row reads "中文 / English".
* A task notice (review this entry, answer this application, register the data asked for …) is
  resolved when its task is done — by whoever does it — and stops counting; it stays readable.
* Notices are personal: owner (the recipient), colleague (same department) and outsider (another
  department) — only the recipient sees or marks a notice.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions import do_approve, do_return, do_submit
from govshare.catalog.models import CatalogEntry
from govshare.core.models import Notification, User
from govshare.core.notify import classify_old_notices, message, notify, render
from govshare.sharing.actions import (
    do_answer,
    do_assign_request,
    do_first_review,
    do_register_for_request,
    do_submit_request,
)
from tests.conftest import API, login

REVIEW_KIND = "catalog.review_requested"


def _client(user: Any, language: str = "zh-hans") -> Client:
    client = login(Client(), user)
    client.cookies["django_language"] = language
    return client


def _notes(user: Any, **filters: Any) -> Any:
    return Notification.objects.filter(recipient=user, **filters)


def _submitted(cat: Any) -> CatalogEntry:
    entry = cat.draft()
    do_submit(cat.org.police_specialist, entry)
    return entry


# ------------------------------------------------------------------ one language per screen

def test_a_notification_stores_its_meaning_and_reads_in_one_language(cat: Any) -> None:
    entry = _submitted(cat)
    note = _notes(cat.org.reviewer, kind=REVIEW_KIND).get()
    subject = note.message["subject"]
    assert subject["msgid"] == "Catalog entry to review: %(code)s %(name)s"
    assert subject["params"]["code"] == entry.code
    assert note.subject_in("en").startswith("Catalog entry to review: ") and " / " not in note.subject_in("en")
    assert note.subject_in("zh-hans") == note.subject and "Catalog entry" not in note.subject
    assert note.subject == render(subject, "zh-hans")


def test_the_web_inbox_speaks_the_readers_language_only(cat: Any) -> None:
    _submitted(cat)
    note = _notes(cat.org.reviewer, kind=REVIEW_KIND).get()
    english = _client(cat.org.reviewer, "en").get("/inbox/").content.decode()
    chinese = _client(cat.org.reviewer).get("/inbox/").content.decode()
    assert note.subject_in("en") in english and note.subject_in("zh-hans") not in english
    assert note.subject_in("zh-hans") in chinese and note.subject_in("en") not in chinese


def test_the_api_gives_the_notice_in_the_readers_language_with_its_meaning(cat: Any) -> None:
    _submitted(cat)
    body = _client(cat.org.reviewer, "en").get(f"{API}/me/notifications").json()
    item = next(i for i in body["items"] if i["kind"] == REVIEW_KIND)
    assert item["subject"].startswith("Catalog entry to review: ")
    assert item["message"]["subject"]["msgid"] == "Catalog entry to review: %(code)s %(name)s"
    assert item["task"] is True and item["resolved_at"] is None
    chinese = _client(cat.org.reviewer).get(f"{API}/me/notifications").json()
    assert "Catalog entry" not in next(i for i in chinese["items"] if i["kind"] == REVIEW_KIND)["subject"]


def test_composed_and_nested_messages_keep_their_meaning(org: Any) -> None:
    period = message(_("%(amount)d working days"), amount=5)
    body = message(_("Within %(period)s of the change (%(source)s)."), period=period, source="§3") + "\n" + "自由文本"
    [row] = notify([org.police_admin], "test.kind", message(_("Not found.")), body)
    assert row.body_in("en") == "Within 5 working days of the change (§3).\n自由文本"
    assert "5 个工作日" in row.body_in("zh-hans") and "working" not in row.body_in("zh-hans")
    assert str(body).count(" / ") == 1  # printed for the operator: Chinese / English, as before


def test_a_plain_text_notice_and_an_old_row_are_shown_as_written(org: Any) -> None:
    [row] = notify([org.police_admin], "test.kind", "人工通知", "正文")
    assert (row.subject_in("en"), row.body_in("en")) == ("人工通知", "正文")
    Notification.objects.filter(pk=row.pk).update(message={})
    row.refresh_from_db()
    assert row.subject_in("en") == "人工通知"


# ------------------------------------------------------------------ task notices

def test_a_review_notice_is_a_task_resolved_when_another_reviewer_decides(cat: Any) -> None:
    org = cat.org
    entry = _submitted(cat)
    mine = _notes(org.reviewer, kind=REVIEW_KIND).get()
    admins = _notes(org.centre_admin, kind=REVIEW_KIND).get()  # the centre's other reviewer
    assert mine.task and admins.task and mine.resolved_at is None
    do_approve(org.centre_admin, entry)
    mine.refresh_from_db()
    admins.refresh_from_db()
    assert mine.resolved_at is not None and admins.resolved_at is not None
    assert mine.read_at is None  # resolved, not read: it stays in the inbox, just no longer to do


def test_a_returned_entry_is_a_task_for_the_provider_until_it_is_resubmitted(cat: Any) -> None:
    org = cat.org
    entry = _submitted(cat)
    do_return(org.reviewer, entry, comment="请补充更新周期。")
    returned = _notes(org.police_specialist, kind="catalog.returned").get()
    review = _notes(org.reviewer, kind=REVIEW_KIND).get()
    assert returned.is_open_task and review.resolved_at is not None
    do_submit(org.police_specialist, entry)
    returned.refresh_from_db()
    assert returned.resolved_at is not None
    assert _notes(org.reviewer, kind=REVIEW_KIND, resolved_at__isnull=True).count() == 1  # the new review


def test_information_notices_are_not_tasks(cat: Any) -> None:
    org = cat.org
    entry = _submitted(cat)
    do_approve(org.reviewer, entry)
    effective = _notes(org.police_specialist, kind="catalog.effective").get()
    assert effective.task is False and effective.resolved_at is None


def test_counts_show_what_is_still_to_do_and_resolved_notices_stay_readable(cat: Any) -> None:
    org = cat.org
    first, second = _submitted(cat), _submitted(cat)
    client = _client(org.reviewer)
    counts = client.get(f"{API}/me/notifications").json()
    assert (counts["todo"], counts["pending"]) == (2, 2)
    do_approve(org.centre_admin, first)
    counts = client.get(f"{API}/me/notifications").json()
    assert (counts["todo"], counts["unread"], counts["pending"]) == (1, 1, 1)
    todo = client.get(f"{API}/me/notifications", {"todo": "true"}).json()
    assert [i["object_id"] for i in todo["items"]] == [str(second.pk)]
    everything = client.get(f"{API}/me/notifications").json()
    assert {i["object_id"] for i in everything["items"]} == {str(first.pk), str(second.pk)}
    badge = client.get("/inbox/count/").content.decode()
    assert ">1<" in badge
    page = client.get("/inbox/", {"show": "todo"}).content.decode()
    assert 'data-todo="1"' in page and f"/catalog/entries/{second.pk}/" in page
    assert f"/catalog/entries/{first.pk}/" not in page
    assert f"/catalog/entries/{first.pk}/" in client.get("/inbox/").content.decode()


def test_an_application_notice_resolves_at_its_stage_and_only_for_those_who_must_act(share: Any) -> None:
    org = share.org
    app = share.apply()
    first_review = _notes(org.reviewer, kind="sharing.first_review").get()
    assert first_review.is_open_task
    do_first_review(org.reviewer, app, decision="pass")
    first_review.refresh_from_db()
    answer = _notes(org.police_specialist, kind="sharing.answer").get()
    passed = _notes(org.market_specialist, kind="sharing.passed").get()
    assert first_review.resolved_at is not None and answer.is_open_task and not passed.task
    do_answer(org.police_admin, app, decision="approve", items=["姓名"])  # a colleague answers
    answer.refresh_from_db()
    assert answer.resolved_at is not None


def test_only_the_presumed_owner_must_act_on_an_assigned_data_request(share: Any) -> None:
    org = share.org
    req = do_submit_request(org.market_specialist, title="企业法人违法记录", description="用于信用监管。",
                            purpose="行政依据")
    to_assign = _notes(org.reviewer, kind="sharing.request").get()
    do_assign_request(org.reviewer, req, owner=org.police)
    to_assign.refresh_from_db()
    owners = _notes(org.police_specialist, kind="sharing.request_assigned").get()
    requester = _notes(org.market_specialist, kind="sharing.request_assigned").get()
    assert to_assign.resolved_at is not None
    assert owners.is_open_task and requester.task is False  # the requester is only told
    entry = share.cat.published(name="企业法人违法记录")
    do_register_for_request(org.police_specialist, req, entry=entry)
    owners.refresh_from_db()
    assert owners.resolved_at is not None


def test_notices_written_before_tasks_existed_are_classified_after_migrate(cat: Any) -> None:
    org = cat.org
    decided, waiting = _submitted(cat), _submitted(cat)
    do_approve(org.reviewer, decided)
    Notification.objects.update(task=None, task_state="", resolved_at=None, message={})  # as after 0004
    classify_old_notices()
    assert _notes(org.reviewer, kind=REVIEW_KIND, object_id=str(decided.pk)).get().resolved_at is not None
    assert _notes(org.reviewer, kind=REVIEW_KIND, object_id=str(waiting.pk)).get().is_open_task
    assert not Notification.objects.filter(task__isnull=True).exists()
    assert not _notes(org.police_specialist, kind="catalog.effective").get().task
    do_approve(org.reviewer, waiting)  # and they resolve like new ones
    assert _notes(org.reviewer, kind=REVIEW_KIND, object_id=str(waiting.pk)).get().resolved_at is not None


# ------------------------------------------------------------------ owner, colleague, outsider

def test_only_the_recipient_sees_and_marks_a_notice(cat: Any) -> None:
    org = cat.org
    _submitted(cat)
    note = _notes(org.reviewer, kind=REVIEW_KIND).get()
    owner, colleague, outsider = _client(org.reviewer), _client(org.auditor), _client(org.police_admin)
    for client in (colleague, outsider):
        assert client.post(f"{API}/me/notifications/{note.pk}/read").status_code == 404
        items = client.get(f"{API}/me/notifications").json()["items"]
        assert note.pk not in [i["id"] for i in items]
        assert f'id="notification-{note.pk}"' not in client.get("/inbox/").content.decode()
    note.refresh_from_db()
    assert note.read_at is None
    assert owner.post(f"{API}/me/notifications/{note.pk}/read").status_code == 200
    note.refresh_from_db()
    assert note.read_at is not None and note.is_open_task  # read, and still to do


# ------------------------------------------------------------------ the recipient's language for e-mail

@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_language_switch_is_remembered_for_e_mail(org: Any, language: str) -> None:
    client = login(Client(), org.police_admin)
    response = client.post("/i18n/setlang/", {"language": language, "next": "/inbox/"})
    assert response.status_code == 302 and response.cookies["django_language"].value == language
    assert User.objects.get(pk=org.police_admin.pk).language == language


def test_an_anonymous_language_switch_changes_only_the_cookie(org: Any) -> None:
    response = Client().post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.cookies["django_language"].value == "en"
    assert not User.objects.exclude(language="").exists()
