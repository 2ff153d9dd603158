"""Adversarial review of the catalog (issue 3): holes a hostile or careless user, a department
system or a reviewer would hit — each test is the spec of one fixed defect.

Parties, as everywhere: the *owner* department (police), a *colleague* (another editor of the
same department, or another centre administrator), an *outsider* (market supervision), the centre
*reviewer*, the *auditor* and the public.
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from govshare.catalog.actions import (
    apply_due_changes,
    do_approve,
    do_create_entry,
    do_edit_entry,
    do_export_catalog,
    do_import_catalog,
    do_open_update_task,
    do_return,
    do_submit,
    do_subscribe,
)
from govshare.catalog.models import CatalogEntry, EntryVersion, Subscription
from govshare.core.errors import Forbidden, GovshareError, ManyProblems, ValidationFailed
from govshare.core.roles import Role
from tests.catalog_helpers import content
from tests.conftest import API, api_json, crash_client


def document(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"format": "govshare-catalog", "format_version": 1, "entries": list(entries)},
                      ensure_ascii=False).encode()


def import_problems(user: Any, department: Any, data: bytes) -> list[tuple[Any, Any, str]]:
    before = CatalogEntry.objects.count()
    with pytest.raises(ManyProblems) as info:
        do_import_catalog(user, data, "catalog.json", department)
    assert CatalogEntry.objects.count() == before  # nothing stored half-way
    return [(p.where, p.field, p.code) for p in info.value.problems]


def pending_change_with_subscriber(cat: Any) -> CatalogEntry:
    org = cat.org
    entry = cat.published()
    do_subscribe(org.market_specialist, entry)
    do_edit_entry(org.police_specialist, entry, content(summary="变更后的摘要"), change_reason="职能调整")
    do_submit(org.police_specialist, entry)
    entry.refresh_from_db()
    return entry


# ------------------------------------------------------------------ change notices (CAT-4)


def test_a_returned_change_that_is_resubmitted_gives_subscribers_a_fresh_notice(cat: Any) -> None:
    """The return tells subscribers the announced change is off; a later resubmission must announce
    again and wait a full period — not ride on the cancelled notice (which may have run out)."""
    org = cat.org
    entry = pending_change_with_subscriber(cat)
    # the review takes long: by now the announced notice period has run out
    EntryVersion.objects.filter(pk=entry.open_version_id).update(
        notice_started_at=timezone.now() - timedelta(days=60), notice_ends_at=timezone.now() - timedelta(days=30))
    do_return(org.reviewer, entry, comment="请补充依据")
    notices_before = org.market_specialist.notifications.filter(kind="catalog.change_notice").count()
    entry.refresh_from_db()
    do_submit(org.police_specialist, entry)
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.current_version.number == 1, "the resubmitted change took effect without a new notice"
    assert entry.open_version.state == EntryVersion.State.APPROVED
    assert entry.open_version.notice_ends_at > timezone.now()
    assert org.market_specialist.notifications.filter(kind="catalog.change_notice").count() == notices_before + 1


def test_a_change_approved_after_someone_subscribed_during_review_still_waits_for_the_notice(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_edit_entry(org.police_specialist, entry, content(summary="新摘要"), change_reason="调整")
    do_submit(org.police_specialist, entry)  # no subscriber yet: no notice
    do_subscribe(org.market_specialist, entry)  # subscribes while the change is under review
    do_approve(org.reviewer, entry)
    entry.refresh_from_db()
    assert entry.current_version.number == 1, "a subscriber was never told of the change"
    assert entry.open_version.state == EntryVersion.State.APPROVED
    assert org.market_specialist.notifications.filter(kind="catalog.change_notice").exists()
    assert apply_due_changes(now=entry.open_version.notice_ends_at + timedelta(seconds=1)) == 1
    entry.refresh_from_db()
    assert entry.current_version.number == 2


# ------------------------------------------------------------------ separation of duties


def test_a_centre_administrator_cannot_approve_a_draft_they_edited(cat: Any) -> None:
    """The centre compiles its own entries and reviews everyone's: whoever wrote part of a version —
    not only who created or submitted it — must leave the decision to another reviewer."""
    org = cat.org
    colleague = org.user("centre_admin2", org.centre, Role.CENTRE_ADMIN)
    entry = do_create_entry(colleague, content(classification="399", name="数据中心资源"))
    do_edit_entry(org.centre_admin, entry, content(classification="399", name="数据中心资源",
                                                   summary="管理员改写的摘要"))
    do_submit(colleague, entry)
    with pytest.raises(Forbidden) as err:
        do_approve(org.centre_admin, entry)
    assert err.value.code == "own_submission"
    do_approve(org.reviewer, entry)  # someone who did not write it may
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.PUBLISHED


def test_an_auditor_cannot_subscribe_because_auditors_change_nothing(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    response = api_json(crash_client(org.auditor), "post", f"/catalog/entries/{entry.pk}/subscribe")
    assert response.status_code == 403
    assert not Subscription.objects.filter(user=org.auditor).exists()


# ------------------------------------------------------------------ exports


def test_an_export_with_drafts_never_shows_another_departments_version_in_progress(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    do_edit_entry(org.police_specialist, entry, content(summary="尚在审核的机密修订"), change_reason="修订")
    for outsider in (org.market_specialist, org.auditor):
        out = io.BytesIO()
        do_export_catalog(outsider, "json", out, include_drafts=True)
        doc = json.loads(out.getvalue())
        assert [e["code"] for e in doc["entries"]] == [entry.code]
        assert "尚在审核的机密修订" not in out.getvalue().decode()
    out = io.BytesIO()
    do_export_catalog(org.police_admin, "json", out, include_drafts=True)  # the colleague sees the draft
    assert "尚在审核的机密修订" in out.getvalue().decode()


def test_the_xlsx_export_keeps_text_that_looks_like_a_formula_as_text(cat: Any) -> None:
    import openpyxl

    cat.published(name='=HYPERLINK("http://evil.example","点击")', summary="@SUM(1+1)", keywords=["-2+3"])
    out = io.BytesIO()
    do_export_catalog(cat.org.market_specialist, "xlsx", out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue()))["资源目录"]
    risky = [c for row in sheet.iter_rows(min_row=2) for c in row if isinstance(c.value, str)
             and c.value[:1] in "=+-@"]
    assert len(risky) == 3
    assert all(c.data_type == "s" and c.quotePrefix for c in risky)


# ------------------------------------------------------------------ bad input


def test_an_import_refuses_control_characters_naming_the_place(cat: Any) -> None:
    org = cat.org
    bad = content(name="户籍\x00人口", summary="摘要\x1b[31m",
                  items=[{"name": "姓\x07名", "data_type": "C", "length": 10}])
    problems = import_problems(org.police_specialist, org.police, document(bad))
    assert ("entries[0]", "name", "control_characters") in problems
    assert ("entries[0]", "summary", "control_characters") in problems
    assert ("entries[0]", "items[0].name", "control_characters") in problems


def test_the_entry_form_refuses_control_characters_in_an_information_item(cat: Any, client_for: Any) -> None:
    client = client_for(cat.org.police_specialist)
    data = {"classification": "301", "name": "户籍人口", "summary": "摘要", "format_class": "database",
            "share_type": "unconditional", "share_methods": ["table"], "open_attribute": "not_open",
            "update_cycle": "daily", "items-0-name": "姓名\x00", "items-0-data_type": "C", "items-0-length": "10"}
    response = client.post("/catalog/entries/new/", data)
    assert response.status_code == 400
    assert not CatalogEntry.objects.exists()


def test_an_import_reports_over_long_text_instead_of_cutting_it(cat: Any) -> None:
    org = cat.org
    long = content(summary="长" * 4001, format="F" * 61, keywords=["关" * 41],
                   items=[{"name": "姓名", "data_type": "C", "length": 10, "description": "说" * 501}])
    problems = import_problems(org.police_specialist, org.police, document(long))
    assert ("entries[0]", "summary", "too_long") in problems
    assert ("entries[0]", "format", "too_long") in problems
    assert ("entries[0]", "keywords", "too_long") in problems
    assert ("entries[0]", "items[0].description", "too_long") in problems


@pytest.mark.parametrize("second", ["ＩＤ", "I D", "ID\u200b", "ID\u3000"])
def test_information_item_names_that_differ_only_in_width_or_spaces_are_duplicates(cat: Any, second: str) -> None:
    org = cat.org
    items = [{"name": "ID", "data_type": "C", "length": 18}, {"name": second, "data_type": "C", "length": 18}]
    response = api_json(crash_client(org.police_specialist), "post", "/catalog/entries", content(items=items))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "items[2].name"
    assert not CatalogEntry.objects.exists()


def test_an_update_task_with_a_change_date_out_of_range_names_the_change_date(cat: Any) -> None:
    import datetime as dt

    with pytest.raises(ValidationFailed) as err:
        do_open_update_task(cat.org.reviewer, department=cat.org.police, reason="law", title="新法",
                            change_date=dt.date(1900, 1, 1))
    assert err.value.field == "change_date"


def test_no_catalog_write_endpoint_crashes_on_a_hostile_body(cat: Any) -> None:
    org = cat.org
    entry = cat.published()
    client = crash_client(org.police_specialist)
    bodies = [{**content(), "items": [1, "x", None]}, {**content(), "keywords": ["a" * 40] * 50},
              {**content(), "name": "😀" * 200}, {**content(), "related_codes": ["../../etc/passwd"]}]
    for body in bodies:
        response = api_json(client, "post", "/catalog/entries", body)
        assert response.status_code in (201, 400, 422), response.content
    response = api_json(client, "put", f"/catalog/entries/{entry.pk}/draft", {**content(), "change_reason": " "})
    assert response.status_code == 400
    assert API  # the API base is what the helpers call


def test_problems_are_reported_in_chinese_and_english(cat: Any) -> None:
    org = cat.org
    try:
        do_import_catalog(org.police_specialist, document(content(name="x\x00")), "c.json", org.police)
    except GovshareError as exc:
        problems = exc.problems if isinstance(exc, ManyProblems) else [exc]
        texts = [p.render("zh-hans") for p in problems] + [p.render("en") for p in problems]
        assert not [t for t in texts if "%(" in t]
    else:
        pytest.fail("a NUL byte was imported")


def test_an_auditor_cannot_answer_or_close_feedback_on_the_centres_own_entries(cat: Any) -> None:
    from govshare.catalog.actions import do_raise_feedback
    from govshare.catalog.models import Feedback

    org = cat.org
    colleague = org.user("centre_admin2", org.centre, Role.CENTRE_ADMIN)
    entry = do_create_entry(colleague, content(classification="399", name="数据中心资源"))
    do_submit(colleague, entry)
    do_approve(org.reviewer, entry)
    fb = do_raise_feedback(org.market_specialist, entry, kind="doubt", description="更新周期是否准确？")
    client = crash_client(org.auditor)
    assert api_json(client, "post", f"/catalog/feedback/{fb.pk}/answer", {"answer": "审计员的答复"}).status_code in (
        403, 404)
    assert client.post(f"/catalog/feedback/{fb.pk}/close/").status_code in (403, 404)
    fb.refresh_from_db()
    assert fb.status == Feedback.Status.OPEN and not fb.answer


def test_an_import_treats_resource_names_differing_only_in_width_or_spaces_as_duplicates(cat: Any) -> None:
    org = cat.org
    first = content(name="GIS地理信息（全市）")
    second = content(name="ＧＩＳ地理信息(全市) ")
    problems = import_problems(org.police_specialist, org.police, document(first, second))
    assert ("entries[1]", "name", "duplicate_name") in problems
    cat.draft(name="户籍人口（常住）")
    problems = import_problems(org.police_specialist, org.police, document(content(name="户籍人口(常住)")))
    assert ("entries[0]", "name", "name_exists") in problems


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # rdflib's JSON-LD parser
def test_the_dcat_export_escapes_hostile_text_and_parses_back(cat: Any) -> None:
    from rdflib import Graph, Literal
    from rdflib.namespace import DCAT, DCTERMS

    hostile = '"""; <script>alert(1)</script> \\ @prefix x: <http://evil/> .\n第二行'
    cat.published(name="资源" + hostile[:60], summary=hostile, keywords=["<b>", '"q"'])
    for fmt, parser in (("dcat-ttl", "turtle"), ("dcat-jsonld", "json-ld")):
        out = io.BytesIO()
        do_export_catalog(cat.org.market_specialist, fmt, out)
        graph = Graph().parse(data=out.getvalue().decode(), format=parser)
        assert Literal(hostile, lang="zh") in set(graph.objects(None, DCTERMS.description))
        assert Literal("<b>", lang="zh") in set(graph.objects(None, DCAT.keyword))
        assert not [ns for _prefix, ns in graph.namespaces() if "evil" in str(ns)]


def test_an_import_changes_neither_an_entry_in_its_notice_period_nor_a_withdrawn_one(cat: Any) -> None:
    from govshare.catalog.actions import do_request_withdrawal

    org = cat.org
    waiting = pending_change_with_subscriber(cat)
    do_approve(org.reviewer, waiting)
    gone = cat.published(name="已撤销资源")
    do_request_withdrawal(org.police_specialist, gone, reason="停止采集")
    do_approve(org.reviewer, gone)
    rows = [{**content(summary="导入改写"), "code": waiting.code, "change_reason": "导入"},
            {**content(name="已撤销资源", summary="导入改写"), "code": gone.code, "change_reason": "导入"}]
    problems = import_problems(org.police_specialist, org.police, document(*rows))
    assert ("entries[0]", "code", "under_review") in problems
    assert ("entries[1]", "code", "entry_withdrawn") in problems
    assert not EntryVersion.objects.filter(summary="导入改写").exists()


def test_free_text_of_reviews_feedback_and_tasks_refuses_control_characters(cat: Any) -> None:
    from govshare.catalog.actions import do_raise_feedback

    org = cat.org
    entry = cat.published()
    with pytest.raises(ValidationFailed) as err:
        do_raise_feedback(org.market_specialist, entry, kind="doubt", description="疑问\x00")
    assert (err.value.field, err.value.code) == ("description", "control_characters")
    draft = cat.draft(name="待审资源")
    do_submit(org.police_specialist, draft)
    with pytest.raises(ValidationFailed) as err:
        do_return(org.reviewer, draft, comment="请修改\x1b[2J")
    assert err.value.field == "comment"


def test_a_classification_code_with_full_width_or_foreign_digits_is_stored_in_ascii_or_refused(cat: Any) -> None:
    from govshare.catalog.models import Classification

    client = crash_client(cat.org.centre_admin)
    for code in ("3０5", "3٠6"):  # full-width zero, Arabic-Indic zero
        response = api_json(client, "post", "/catalog/classifications", {"code": code, "name": "测试", "parent": "3",
                                                                          "department": "GA"})
        assert response.status_code in (201, 400), response.content
    assert not [c.code for c in Classification.objects.all() if not c.code.isascii()]


def test_a_snapshot_download_quotes_its_file_name_whatever_the_jurisdiction_code(cat: Any) -> None:
    from govshare.catalog.actions import do_publish_snapshot
    from govshare.core.models import Jurisdiction

    org = cat.org
    cat.published()
    Jurisdiction.objects.filter(pk=org.county.pk).update(code='3"; f=e.exe')  # fits varchar(12) on PostgreSQL
    org.county.refresh_from_db()
    snap = do_publish_snapshot(org.centre_admin, org.county, title="第一期")
    response = crash_client(org.market_specialist).get(f"{API}/catalog/snapshots/{snap.pk}/download")
    assert response.status_code == 200
    assert re.fullmatch(r'attachment; filename="catalog-[A-Za-z0-9._-]+-1\.json"', response["Content-Disposition"])
