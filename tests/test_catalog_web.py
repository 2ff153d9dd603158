"""The catalog web pages (CAT-1 … CAT-10) and the inbox: each page renders for the right roles and
answers 403/404 to the others (owner, colleague, outsider), the lifecycle works through the forms,
an action's error is shown next to the field it names, the public sees only the open catalog, and
the import page lists every problem with its place."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from govshare.catalog import search
from govshare.catalog.actions import do_create_project, do_edit_entry, do_open_update_task, do_subscribe
from govshare.catalog.models import (
    CatalogEntry,
    CatalogSnapshot,
    Classification,
    EntryVersion,
    Feedback,
    Project,
    Synonym,
    UpdateTask,
)
from govshare.core.models import Notification
from govshare.core.notify import notify
from tests.catalog_helpers import content

OPEN = {"open_attribute": "open", "domain": "社保", "name": "社会保险参保登记信息",
        "summary": "参保单位和个人的社会保险登记信息。"}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Messages are checked in English (the msgids); the default UI language is Chinese."""
    settings.LANGUAGE_CODE = "en"


def url(name: str, *args: Any) -> str:
    return reverse(f"catalog:{name}", args=args)


def html(response: Any) -> str:
    return response.content.decode()


def field_error(response: Any, field: str) -> str:
    """The error shown next to ``field`` (fails when there is none)."""
    page = html(response)
    marker = f'data-field="{field}"'
    assert marker in page, f"no error shown at {field}"
    start = page.index(marker)
    return page[page.index(">", start) + 1:page.index("</p>", start)]


def form_data(**overrides: Any) -> dict[str, Any]:
    """The entry form's POST data for :func:`content` (information items as table rows)."""
    data = content(**overrides)
    post: dict[str, Any] = {k: v for k, v in data.items() if k not in ("items", "keywords", "related_codes",
                                                                       "share_methods")}
    post["keywords"] = "、".join(data["keywords"])
    post["related_codes"] = ", ".join(data["related_codes"])
    post["share_methods"] = list(data["share_methods"])
    for i, item in enumerate(data["items"]):
        for key, value in item.items():
            if isinstance(value, bool):
                if value:
                    post[f"items-{i}-{key}"] = "1"
            else:
                post[f"items-{i}-{key}"] = "" if value is None else value
    return post


# ------------------------------------------------------------------ pages per role


ROLE_PAGES = [
    ("mine", {"police_specialist": 200, "police_admin": 200, "centre_admin": 200, "reviewer": 403,
              "auditor": 403, "citizen": 403}),
    ("entry_create", {"police_specialist": 200, "market_admin": 200, "reviewer": 403, "auditor": 403,
                      "citizen": 403}),
    ("review_queue", {"reviewer": 200, "centre_admin": 200, "police_admin": 403, "auditor": 403, "citizen": 403}),
    ("update_tasks", {"centre_admin": 200, "reviewer": 200, "police_specialist": 200, "citizen": 403}),
    ("update_task_create", {"centre_admin": 200, "reviewer": 200, "police_admin": 403, "citizen": 403}),
    ("overview", {"reviewer": 200, "police_specialist": 200, "auditor": 200, "citizen": 403}),
    ("projects", {"police_admin": 200, "reviewer": 200, "auditor": 200, "citizen": 403}),
    ("project_create", {"police_specialist": 200, "centre_admin": 200, "reviewer": 403, "citizen": 403}),
    ("classifications", {"police_specialist": 200, "auditor": 200, "citizen": 403}),
    ("classification_create", {"centre_admin": 200, "police_admin": 403, "reviewer": 403}),
    ("synonyms", {"centre_admin": 200, "police_admin": 200, "citizen": 403}),
    ("synonym_create", {"centre_admin": 200, "reviewer": 403, "police_admin": 403}),
    ("import", {"police_specialist": 200, "reviewer": 403, "citizen": 403}),
]


@pytest.mark.parametrize("name,expected", ROLE_PAGES, ids=[p[0] for p in ROLE_PAGES])
def test_each_page_renders_for_its_roles_and_refuses_the_others(cat: Any, client_for: Any, name: str,
                                                                 expected: dict[str, int]) -> None:
    for who, status in expected.items():
        response = client_for(getattr(cat.org, who)).get(url(name))
        assert response.status_code == status, (who, response.status_code)


@pytest.mark.parametrize("name", ["mine", "review_queue", "update_tasks", "overview", "projects", "classifications",
                                  "synonyms", "entry_create", "import"])
def test_government_pages_send_anonymous_visitors_to_the_login_page(db: Any, name: str) -> None:
    response = Client().get(url(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("core:login"))


def test_the_menu_links_every_catalog_page_for_the_centre_admin(cat: Any, client_for: Any) -> None:
    page = html(client_for(cat.org.centre_admin).get(url("search")))
    for name in ("search", "mine", "review_queue", "update_tasks", "overview", "projects", "classifications",
                 "synonyms"):
        assert f'href="{url(name)}"' in page, name
    assert f'href="{reverse("core:inbox")}"' in page


def test_pages_render_in_chinese_without_inline_script_or_style(cat: Any, client_for: Any, settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    entry = cat.published()
    client = client_for(cat.org.police_specialist)
    for path in (url("search"), url("entry_detail", entry.pk), url("entry_create"), url("entry_edit", entry.pk),
                 url("overview"), url("mine"), reverse("core:inbox")):
        page = html(client.get(path))
        assert 'lang="zh-hans"' in page, path
        for tag in re.findall(r"<script[^>]*>", page):  # CSP: script-src 'self'
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert " style=" not in page and "<style" not in page, path


def test_the_entry_form_works_without_javascript(cat: Any, client_for: Any) -> None:
    page = html(client_for(cat.org.police_specialist).get(url("entry_create")))
    assert len(re.findall(r'data-row="\d+"', page)) == 3  # blank rows to fill in; catalog.js only adds more
    assert 'name="items-2-masking_rule"' in page and 'id="cat-item-template"' in page


# ------------------------------------------------------------------ search (CAT-9)


def test_anonymous_visitors_find_only_open_entries(cat: Any) -> None:
    shared = cat.published(name="户籍人口基本信息")
    opened = cat.published(**OPEN)
    draft = cat.draft(name="暂住人口信息")
    search.rebuild()
    client = Client()
    page = html(client.get(url("search")))
    assert opened.code in page and shared.code not in page and draft.code not in page
    assert client.get(url("entry_detail", opened.pk)).status_code == 200
    assert client.get(url("entry_detail", shared.pk)).status_code == 404
    assert client.get(url("entry_detail", draft.pk)).status_code == 404


def test_department_users_find_the_share_catalog_with_facets_and_removable_filters(cat: Any,
                                                                                   client_for: Any) -> None:
    shared = cat.published(name="户籍人口基本信息")
    opened = cat.published(**OPEN)
    search.rebuild()
    client = client_for(cat.org.market_specialist)
    page = html(client.get(url("search")))
    assert shared.code in page and opened.code in page
    assert 'data-facet="share_type"' in page and 'data-facet="open_attribute"' in page
    filtered = client.get(url("search"), {"open_attribute": "open"})
    page = html(filtered)
    assert opened.code in page and shared.code not in page
    active = filtered.context["active_filters"]
    assert [(f["key"], f["value"]) for f in active] == [("open_attribute", "open")]
    assert shared.code in html(client.get(active[0]["url"]))  # removing the filter finds both again


def test_the_search_answers_htmx_with_the_result_panel_only(cat: Any, client_for: Any) -> None:
    cat.published()
    search.rebuild()
    response = client_for(cat.org.police_specialist).get(url("search"), {"q": "户籍", "sort": "date"},
                                                          HTTP_HX_REQUEST="true")
    page = html(response)
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith("<div id=\"catalog-search\"") and 'hx-push-url="true"' in page
    assert "301/000001" in page
    assert "HX-Request" in response["Vary"]


def test_a_bad_page_or_sort_parameter_falls_back_instead_of_failing(cat: Any, client_for: Any) -> None:
    response = client_for(cat.org.police_specialist).get(url("search"), {"page": "²", "sort": "nonsense",
                                                                          "q": "x" * 500})
    assert response.status_code == 200


# ------------------------------------------------------------------ entry detail: owner, colleague, outsider


@pytest.mark.parametrize("who,status", [("police_specialist", 200), ("police_admin", 200), ("reviewer", 200),
                                        ("market_specialist", 404), ("auditor", 404), ("citizen", 404)])
def test_a_draft_is_seen_by_its_department_and_the_centre_only(cat: Any, client_for: Any, who: str,
                                                                status: int) -> None:
    draft = cat.draft()
    assert client_for(getattr(cat.org, who)).get(url("entry_detail", draft.pk)).status_code == status


def test_the_entry_page_shows_the_guide_fields_and_information_items(cat: Any, client_for: Any) -> None:
    entry = cat.published()
    page = html(client_for(cat.org.market_specialist).get(url("entry_detail", entry.pk)))
    assert entry.code in page and "户籍人口基本信息" in page
    assert "公民身份号码" in page and "保留前6位和后4位" in page  # items with their masking rules
    assert cat.org.police.uscc in page  # provider code
    assert url("entry_edit", entry.pk) not in page  # an outsider gets no provider buttons


def test_provider_buttons_follow_the_state(cat: Any, client_for: Any) -> None:
    entry = cat.draft()
    client = client_for(cat.org.police_specialist)
    page = html(client.get(url("entry_detail", entry.pk)))
    assert url("entry_submit", entry.pk) in page and url("entry_discard", entry.pk) in page
    assert url("entry_withdraw", entry.pk) not in page
    cat.publish(entry)
    page = html(client.get(url("entry_detail", entry.pk)))
    assert url("entry_withdraw", entry.pk) in page and url("entry_edit", entry.pk) in page
    assert url("entry_submit", entry.pk) not in page


@pytest.mark.parametrize("who,status", [("police_specialist", 200), ("police_admin", 200),
                                        ("market_admin", 404), ("reviewer", 404), ("citizen", 404)])
def test_the_edit_form_is_for_the_provider_department(cat: Any, client_for: Any, who: str, status: int) -> None:
    entry = cat.draft()
    assert client_for(getattr(cat.org, who)).get(url("entry_edit", entry.pk)).status_code == status


# ------------------------------------------------------------------ lifecycle through the forms (CAT-3)


def test_create_submit_and_approve_through_the_forms(cat: Any, client_for: Any) -> None:
    org = cat.org
    specialist = client_for(org.police_specialist)
    form = specialist.get(url("entry_create")).context["form"]
    codes = [code for code, _label in form.fields["classification"].choices]
    assert "301" in codes and "101" in codes and "302" not in codes  # own subtree + basic/theme only
    response = specialist.post(url("entry_create"), form_data(name="机动车登记信息"))
    entry = CatalogEntry.objects.get()
    assert response.status_code == 302 and response["Location"] == url("entry_detail", entry.pk)
    assert entry.open_version is not None and entry.open_version.items.count() == 3
    assert specialist.post(url("entry_submit", entry.pk)).status_code == 302
    reviewer = client_for(org.reviewer)
    queue = html(reviewer.get(url("review_queue")))
    assert entry.code in queue and 'data-kind="new"' in queue
    assert 'name="decision" value="approve"' in html(reviewer.get(url("entry_detail", entry.pk)))
    response = reviewer.post(url("entry_review", entry.pk), {"decision": "approve", "comment": "好"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PUBLISHED
    assert entry.current_version is not None and entry.current_version.name == "机动车登记信息"


def test_a_broken_rule_is_shown_next_to_its_field_and_nothing_is_saved(cat: Any, client_for: Any) -> None:
    data = form_data(share_type="conditional", share_condition="", share_basis="")
    data["items-1-masking_rule"] = ""  # a sensitive item without its masking rule
    response = client_for(cat.org.police_specialist).post(url("entry_create"), data)
    assert response.status_code == 400
    assert "basis" in field_error(response, "share_basis")
    assert field_error(response, "share_condition")
    assert "masking rule" in field_error(response, "items-1-masking_rule")
    assert 'value="户籍人口基本信息"' in html(response)  # the input is kept
    assert not CatalogEntry.objects.exists()


def test_an_entry_needs_an_information_item(cat: Any, client_for: Any) -> None:
    data = {k: v for k, v in form_data().items() if not k.startswith("items-")}
    response = client_for(cat.org.police_specialist).post(url("entry_create"), data)
    assert response.status_code == 400
    assert "information item" in " ".join(str(e) for e in response.context["form"].non_field_errors())


def test_returning_needs_a_comment_shown_at_the_comment_field(cat: Any, client_for: Any) -> None:
    entry = cat.draft()
    client_for(cat.org.police_specialist).post(url("entry_submit", entry.pk))
    response = client_for(cat.org.reviewer).post(url("entry_review", entry.pk), {"decision": "return",
                                                                                 "comment": ""})
    assert response.status_code == 400 and field_error(response, "comment")
    response = client_for(cat.org.reviewer).post(url("entry_review", entry.pk), {"decision": "return",
                                                                                 "comment": "请补充"})
    assert response.status_code == 302
    page = html(client_for(cat.org.police_specialist).get(url("entry_detail", entry.pk)))
    assert "请补充" in page and url("entry_submit", entry.pk) in page


def test_a_department_cannot_review_and_an_outsider_cannot_submit(cat: Any, client_for: Any) -> None:
    entry = cat.draft()
    client_for(cat.org.police_specialist).post(url("entry_submit", entry.pk))
    response = client_for(cat.org.police_admin).post(url("entry_review", entry.pk), {"decision": "approve"})
    assert response.status_code == 403
    assert client_for(cat.org.market_specialist).post(url("entry_submit", entry.pk)).status_code == 404


def test_changing_a_published_entry_needs_a_reason(cat: Any, client_for: Any) -> None:
    entry = cat.published()
    client = client_for(cat.org.police_specialist)
    assert "change_reason" in client.get(url("entry_edit", entry.pk)).context["form"].fields
    response = client.post(url("entry_edit", entry.pk), form_data(summary="新的摘要"))
    assert response.status_code == 400 and field_error(response, "change_reason")
    response = client.post(url("entry_edit", entry.pk), {**form_data(summary="新的摘要"), "change_reason": "职能调整"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.open_version.number == 2 and entry.current_version.summary != "新的摘要"


def test_subscribers_see_the_notice_period_and_the_diff_names_the_changed_field(cat: Any,
                                                                                client_for: Any) -> None:
    org = cat.org
    entry = cat.published()
    consumer = client_for(org.market_specialist)
    assert consumer.post(url("entry_subscribe", entry.pk), {"subscribe": "1"}).status_code == 302
    assert entry.subscriptions.filter(user=org.market_specialist).exists()
    do_edit_entry(org.police_specialist, entry, content(summary="变更后的摘要"), change_reason="职能调整")
    client_for(org.police_specialist).post(url("entry_submit", entry.pk))
    page = html(consumer.get(url("entry_detail", entry.pk)))
    assert "data-notice-ends=" in page and "Unsubscribe" in page
    diff = client_for(org.reviewer).get(url("version_diff", entry.pk, 2))
    assert diff.status_code == 200
    assert [c["field"] for c in diff.context["changes"]] == ["summary"]
    assert "变更后的摘要" in html(diff)
    assert consumer.post(url("entry_subscribe", entry.pk), {"subscribe": "0"}).status_code == 302
    assert not entry.subscriptions.filter(user=org.market_specialist).exists()


def test_a_withdrawal_needs_a_reason(cat: Any, client_for: Any) -> None:
    entry = cat.published()
    client = client_for(cat.org.police_specialist)
    response = client.post(url("entry_withdraw", entry.pk), {"reason": ""})
    assert response.status_code == 400 and field_error(response, "reason")
    assert client.post(url("entry_withdraw", entry.pk), {"reason": "停止采集"}).status_code == 302
    entry.refresh_from_db()
    assert entry.open_version.kind == EntryVersion.Kind.WITHDRAWAL


def test_discarding_a_never_published_draft_removes_it(cat: Any, client_for: Any) -> None:
    entry = cat.draft()
    response = client_for(cat.org.police_specialist).post(url("entry_discard", entry.pk))
    assert response.status_code == 302 and response["Location"] == url("mine")
    assert not CatalogEntry.objects.filter(pk=entry.pk).exists()


# ------------------------------------------------------------------ feedback (CAT-10)


def test_feedback_is_raised_answered_and_closed_on_the_entry_page(cat: Any, client_for: Any) -> None:
    org = cat.org
    entry = cat.published()
    consumer = client_for(org.market_specialist)
    response = consumer.post(url("feedback_raise", entry.pk), {"kind": "error", "description": ""})
    assert response.status_code == 400 and field_error(response, "description")
    consumer.post(url("feedback_raise", entry.pk), {"kind": "error", "field_name": "出生日期",
                                                     "description": "格式不对"})
    fb = Feedback.objects.get()
    provider = client_for(org.police_admin)
    assert url("feedback_answer", fb.pk) in html(provider.get(url("entry_detail", entry.pk)))
    assert provider.post(url("feedback_answer", fb.pk), {"answer": "已更正"}).status_code == 302
    assert provider.post(url("feedback_close", fb.pk)).status_code == 302
    fb.refresh_from_db()
    assert fb.status == Feedback.Status.CLOSED and fb.answered_at and fb.closed_at
    # an unrelated department does not see the feedback
    outsider = Client()
    outsider.force_login(org.auditor)
    assert "格式不对" not in html(outsider.get(url("entry_detail", entry.pk)))


# ------------------------------------------------------------------ my department, import / export


def test_my_department_lists_entries_by_status_with_versions_in_progress(cat: Any, client_for: Any) -> None:
    published = cat.published()
    draft = cat.draft(name="暂住人口信息")
    cat.draft(cat.org.market_specialist, name="企业登记信息")
    response = client_for(cat.org.police_specialist).get(url("mine"))
    page = html(response)
    # the market's entry (code 302/…) is not listed; "302/" may still appear in a link to an entry id
    assert published.code in page and draft.code in page and not re.search(r">302/\d{6}<", page)
    assert "企业登记信息" not in page
    for name in ("template_download", "import", "export"):
        assert url(name) in page
    assert [e.code for e in response.context["in_progress"]] == [draft.code]


def test_the_import_page_lists_every_problem_with_its_place(cat: Any, client_for: Any) -> None:
    upload = SimpleUploadedFile("catalog.xlsx", b"this is not a workbook", content_type="application/octet-stream")
    response = client_for(cat.org.police_specialist).post(url("import"), {"file": upload})
    assert response.status_code == 400
    problems = response.context["problems"]
    assert problems and problems[0]["sheet"] == "catalog.xlsx"
    assert 'class="card cat-problems"' in html(response)
    assert not CatalogEntry.objects.exists()


def test_the_import_page_asks_for_a_file(cat: Any, client_for: Any) -> None:
    response = client_for(cat.org.police_specialist).post(url("import"), {})
    assert response.status_code == 400 and field_error(response, "file")


def test_a_round_trip_through_the_template_imports_the_department_catalog(cat: Any, client_for: Any) -> None:
    cat.draft()
    client = client_for(cat.org.police_specialist)
    template = client.get(url("template_download"))
    assert template.status_code == 200 and template["Content-Type"].startswith("application/vnd.openxml")
    data = b"".join(template.streaming_content)
    response = client.post(url("import"), {"file": SimpleUploadedFile("catalog.xlsx", data)})
    assert response.status_code == 200, response.context["problems"]
    assert response.context["report"].unchanged == 1


@pytest.mark.parametrize("fmt,content_type", [("xlsx", "application/vnd.openxml"), ("json", "application/json"),
                                              ("dcat-ttl", "text/turtle")])
def test_the_export_downloads_the_visible_catalog(cat: Any, client_for: Any, fmt: str, content_type: str) -> None:
    entry = cat.published()
    response = client_for(cat.org.market_specialist).get(url("export"), {"format": fmt})
    assert response.status_code == 200 and response["Content-Type"].startswith(content_type)
    body = b"".join(response.streaming_content)
    if fmt != "xlsx":
        assert entry.code.encode() in body


def test_an_unknown_export_format_names_the_field(cat: Any, client_for: Any) -> None:
    response = client_for(cat.org.market_specialist).get(url("export"), {"format": "pdf"})
    assert response.status_code == 400 and "format" in html(response)


# ------------------------------------------------------------------ update tasks (CAT-5)


def test_the_centre_opens_a_task_and_the_department_completes_it(cat: Any, client_for: Any) -> None:
    org = cat.org
    centre = client_for(org.reviewer)
    response = centre.post(url("update_task_create"), {"department": org.police.pk, "reason": "law",
                                                       "title": "", "change_date": "2026-03-02"})
    assert response.status_code == 400 and field_error(response, "title")
    response = centre.post(url("update_task_create"), {"department": org.police.pk, "reason": "law",
                                                       "title": "《户口登记条例》修订", "change_date": "2026-03-02"})
    task = UpdateTask.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/catalog/update-tasks/{task.pk}/"
    assert client_for(org.market_admin).get(url("update_task_detail", task.pk)).status_code == 404
    police = client_for(org.police_specialist)
    listing = police.get(url("update_tasks"))
    assert [t.pk for t in listing.context["tasks"]] == [task.pk]
    assert client_for(org.market_specialist).get(url("update_tasks")).context["tasks"] == []
    page = html(police.get(url("update_task_detail", task.pk)))
    assert url("update_task_complete", task.pk) in page and url("update_task_cancel", task.pk) not in page
    assert police.post(url("update_task_complete", task.pk), {"note": "已更新 3 条目录"}).status_code == 302
    task.refresh_from_db()
    assert task.status == UpdateTask.Status.COMPLETED


def test_the_centre_cancels_a_task_with_a_reason(cat: Any, client_for: Any) -> None:
    import datetime as dt

    task = do_open_update_task(cat.org.reviewer, department=cat.org.police, reason="function", title="职能调整",
                               change_date=dt.date(2026, 3, 2))
    response = client_for(cat.org.reviewer).post(url("update_task_cancel", task.pk), {"reason": ""})
    assert response.status_code == 400 and field_error(response, "reason")
    assert client_for(cat.org.police_admin).post(url("update_task_cancel", task.pk),
                                                 {"reason": "x"}).status_code == 403
    assert client_for(cat.org.reviewer).post(url("update_task_cancel", task.pk),
                                             {"reason": "重复"}).status_code == 302


# ------------------------------------------------------------------ jurisdiction catalog (CAT-7)


def test_the_overview_counts_per_department_and_the_centre_publishes_a_snapshot(cat: Any, client_for: Any) -> None:
    org = cat.org
    cat.published()
    cat.published(**OPEN)
    cat.draft(org.market_specialist)
    response = client_for(org.reviewer).get(url("overview"))
    rows = {r["department"].code: r for r in response.context["rows"]}
    assert rows["GA"]["published"] == 2 and rows["GA"]["open"] == 1 and rows["SJ"]["draft"] == 1
    assert response.context["totals"]["published"] == 2
    page = html(response)
    assert 'id="cat-overview-data" type="application/json"' in page and "echarts.min.js" in page
    assert url("snapshot_publish") not in page  # the reviewer does not publish snapshots
    admin = client_for(org.centre_admin)
    response = admin.post(url("snapshot_publish"), {"title": ""})
    assert response.status_code == 400 and field_error(response, "title")
    assert admin.post(url("snapshot_publish"), {"title": "2026 年第一季度目录"}).status_code == 302
    snap = CatalogSnapshot.objects.get()
    assert snap.entry_count == 2
    download = client_for(org.police_specialist).get(url("snapshot_download", snap.pk), {"format": "json"})
    assert download.status_code == 200 and b"2026" in download.content
    assert client_for(org.police_specialist).post(url("snapshot_publish"), {"title": "x"}).status_code == 403


# ------------------------------------------------------------------ projects (CAT-8)


def test_a_project_cannot_move_on_without_a_published_entry(cat: Any, client_for: Any) -> None:
    org = cat.org
    client = client_for(org.police_admin)
    response = client.post(url("project_create"), {"name": "智慧警务平台", "code": "GA-2026-01",
                                                   "description": ""})
    project = Project.objects.get()
    assert response.status_code == 302 and response["Location"] == url("project_detail", project.pk)
    response = client.post(url("project_move", project.pk), {"stage": "construction"})
    assert response.status_code == 409
    assert "no published catalog entry" in field_error(response, "stage")
    entry = cat.published()
    assert client.post(url("project_attach", project.pk), {"entry": entry.pk}).status_code == 302
    assert client.post(url("project_move", project.pk), {"stage": "construction"}).status_code == 302
    project.refresh_from_db()
    assert project.stage == Project.Stage.CONSTRUCTION
    assert client_for(org.market_admin).get(url("project_detail", project.pk)).status_code == 404
    assert client_for(org.reviewer).get(url("project_detail", project.pk)).status_code == 200


def test_a_duplicate_project_code_is_shown_at_the_code_field(cat: Any, client_for: Any) -> None:
    do_create_project(cat.org.police_admin, name="a", code="P1")
    response = client_for(cat.org.police_specialist).post(url("project_create"), {"name": "b", "code": "P1"})
    assert response.status_code == 409 and field_error(response, "code")


# ------------------------------------------------------------------ classification tree, synonyms


def test_the_centre_admin_maintains_the_classification_tree(cat: Any, client_for: Any) -> None:
    admin = client_for(cat.org.centre_admin)
    parent = Classification.objects.get(code="301")
    response = admin.post(url("classification_create"), {"parent": parent.pk, "code": "3011", "name": "治安"})
    assert response.status_code == 400 and "3 digits" in field_error(response, "code")
    assert admin.post(url("classification_create"), {"parent": parent.pk, "code": "301001",
                                                      "name": "治安管理"}).status_code == 302
    node = Classification.objects.get(code="301001")
    assert "301001" in html(client_for(cat.org.police_specialist).get(url("classifications")))
    assert client_for(cat.org.police_admin).get(url("classification_edit", node.pk)).status_code == 404
    assert admin.post(url("classification_edit", node.pk), {"name": "治安管理", "description": ""}).status_code == 302
    node.refresh_from_db()
    assert node.is_active is False  # the unticked box deactivates it


def test_the_centre_admin_edits_the_synonyms(cat: Any, client_for: Any) -> None:
    admin = client_for(cat.org.centre_admin)
    response = admin.post(url("synonym_create"), {"term": "社保", "expansions": ""})
    assert response.status_code == 400 and field_error(response, "expansions")
    assert admin.post(url("synonym_create"), {"term": "社保", "expansions": "社会保险、社会保障"}).status_code == 302
    syn = Synonym.objects.get(term="社保")
    assert syn.expansions == ["社会保险", "社会保障"]
    assert admin.post(url("synonym_edit", syn.pk), {"expansions": "社会保险"}).status_code == 302
    syn.refresh_from_db()
    assert syn.expansions == ["社会保险"]
    assert client_for(cat.org.police_admin).post(url("synonym_delete", syn.pk)).status_code == 404
    assert admin.post(url("synonym_delete", syn.pk)).status_code == 302
    assert not Synonym.objects.filter(term="社保").exists()


# ------------------------------------------------------------------ inbox


def test_the_inbox_lists_unread_first_and_marks_read(org: Any, client_for: Any) -> None:
    old, new = (notify([org.police_specialist], "test", subject)[0] for subject in ("第一条", "第二条"))
    notify([org.market_specialist], "test", "别人的通知")
    Notification.objects.filter(pk=new.pk).update(url="/catalog/")
    client = client_for(org.police_specialist)
    client.post(reverse("core:inbox_read"), {"id": str(new.pk)})
    response = client.get(reverse("core:inbox"))
    assert [n.subject for n in response.context["page"].object_list] == ["第一条", "第二条"]
    assert response.context["unread"] == 1 and "别人的通知" not in html(response)
    assert "1" in html(client.get(reverse("core:inbox_count")))
    other = Notification.objects.get(subject="别人的通知")
    assert client.post(reverse("core:inbox_read"), {"id": str(other.pk)}).status_code == 404
    response = client.post(reverse("core:inbox_read"), {"id": str(old.pk), "next": "/catalog/"})
    assert response.status_code == 302 and response["Location"] == "/catalog/"
    assert client.post(reverse("core:inbox_read"), {"all": "1", "next": "//evil.example"})["Location"] \
        == reverse("core:inbox")
    assert not Notification.objects.filter(recipient=org.police_specialist, read_at__isnull=True).exists()
    assert Notification.objects.filter(pk=other.pk, read_at__isnull=True).exists()


def test_catalog_notifications_link_to_pages_that_exist(cat: Any, client_for: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_edit_entry(org.police_specialist, entry, content(summary="改"), change_reason="调整")
    client_for(org.police_specialist).post(url("entry_submit", entry.pk))
    note = Notification.objects.filter(recipient=org.market_specialist, kind="catalog.change_notice").get()
    assert client_for(org.market_specialist).get(note.url).status_code == 200
