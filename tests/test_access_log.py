"""Every read is traceable (issue 9, SEC-4, LN-§23): searches, entry, application, user and inbox
pages, downloads, exports, access checks and token requests each leave one hash-chained access-log
row naming who read what, with the query, the result count, the request id, IP, path and status;
anonymous reads of public information leave none; ``govshare audit verify`` checks the access chain
too; the auditor sees reads and writes together."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from govshare.cli import main as cli
from govshare.core import access_log
from govshare.core.actions.audit import check_chain
from govshare.core.actions.auth import do_create_token
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AccessEvent, AuditEvent
from tests.conftest import API, login

TRIGGER = "core_accessevent_no_update"


def _rows(**lookup: Any) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(**lookup).order_by("id"))


def _new_rows(since: int, **lookup: Any) -> list[AccessEvent]:
    return _rows(id__gt=since, **lookup)


def _last_id() -> int:
    return AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _apply(share: Any) -> Any:
    """An application with a letter the (strict, issue 9) letter check accepts: a one-page PDF."""
    import io

    import pikepdf

    out = io.BytesIO()
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(out)
    return share.apply(letter=("申请函.pdf", out.getvalue()))


def _get(user: Any, path: str, **extra: Any) -> tuple[Any, list[AccessEvent]]:
    client = login(Client(), user) if user is not None else Client()
    before = _last_id()
    response = client.get(path, **extra)
    return response, _new_rows(before)


# ------------------------------------------------------------------ each kind of read, one row


def test_a_logged_in_search_records_the_query_filters_and_number_of_results(share: Any) -> None:
    org = share.org
    response, rows = _get(org.market_specialist, "/catalog/?q=人口&provider=GA")
    assert response.status_code == 200
    [row] = rows
    assert (row.code, row.actor_username, row.department_id) == (AuditCode.READ_SEARCH, "market_specialist",
                                                                  org.market.pk)
    assert row.detail["query"]["q"] == "人口" and row.detail["query"]["filters"] == {"provider": ["GA"]}
    assert row.results == response.context["total"]
    assert (row.method, row.path, row.status, row.outcome) == ("GET", "/catalog/", 200, "success")
    assert row.request_id == response["X-Request-ID"] and row.ip == "127.0.0.1"


def test_an_api_search_records_its_query_and_total(share: Any) -> None:
    response, rows = _get(share.org.police_admin, f"{API}/catalog/search?q=人员")
    [row] = rows
    assert row.code == AuditCode.READ_SEARCH and row.results == response.json()["total"]
    assert row.detail["query"]["q"] == "人员"


def test_anonymous_reads_of_public_pages_leave_no_row(share: Any) -> None:
    for path in ("/catalog/?q=人口", f"{API}/catalog/search?q=人口", f"/catalog/entries/{share.unconditional.pk}/"):
        response, rows = _get(None, path)
        assert response.status_code in (200, 404) and rows == [], path


def test_an_entry_page_is_recorded_for_owner_and_colleague_and_an_outsiders_404_as_refused(share: Any) -> None:
    org = share.org
    draft = share.cat.draft(org.police_specialist, name="重点人员信息")
    for reader in (org.police_specialist, org.police_admin):
        response, [row] = _get(reader, f"/catalog/entries/{draft.pk}/")
        assert response.status_code == 200
        assert (row.code, row.object_type, row.object_id, row.actor_id) == (
            AuditCode.READ_ENTRY, "catalog.catalogentry", str(draft.pk), reader.pk)
        assert row.object_department_id == org.police.pk and "重点人员信息" in row.object_repr
    response, [refused] = _get(org.market_specialist, f"/catalog/entries/{draft.pk}/")
    assert response.status_code == 404
    assert (refused.code, refused.status, refused.outcome, refused.object_id) == (
        AuditCode.READ_REFUSED, 404, "denied", str(draft.pk))
    assert refused.actor_username == "market_specialist" and refused.path == f"/catalog/entries/{draft.pk}/"


def test_a_read_through_a_token_names_the_token_path_and_object_and_writes_no_token_used_row(share: Any) -> None:
    token = do_create_token(share.org.market_specialist, name="t")
    audit_before = AuditEvent.objects.count()
    response, [row] = _get(None, f"{API}/catalog/entries/{share.unconditional.pk}",
                           headers={"Authorization": f"Bearer {token.secret}"})
    assert response.status_code == 200
    assert (row.code, row.token_id, row.object_id, row.actor_username) == (
        AuditCode.READ_ENTRY, token.token.pk, str(share.unconditional.pk), "market_specialist")
    assert row.path == f"{API}/catalog/entries/{share.unconditional.pk}"
    assert AuditEvent.objects.count() == audit_before  # no generic TOKEN_USED row any more
    response, [other] = _get(None, f"{API}/me", headers={"Authorization": f"Bearer {token.secret}"})
    assert (other.code, other.token_id, other.path) == (AuditCode.API_REQUEST, token.token.pk, f"{API}/me")


def test_an_application_page_and_its_letter_download_are_recorded(share: Any) -> None:
    org = share.org
    app = _apply(share)
    response, [row] = _get(org.market_specialist, f"/sharing/applications/{app.pk}/")
    assert response.status_code == 200
    assert (row.code, row.object_type, row.object_id) == (AuditCode.READ_APPLICATION, "sharing.application",
                                                          str(app.pk))
    response, [download] = _get(org.police_specialist, f"/sharing/applications/{app.pk}/letter/")
    assert response.status_code == 200
    assert (download.code, download.object_id, download.detail["file"]) == (
        AuditCode.READ_DOWNLOAD, str(app.pk), "申请函.pdf")
    # the download's audit row (a write) and its access row share the request id
    written = AuditEvent.objects.filter(code=AuditCode.SHARE_LETTER_DOWNLOADED).latest("id")
    assert written.request_id == download.request_id == response["X-Request-ID"]
    response, [api_row] = _get(org.market_specialist, f"{API}/sharing/applications/{app.pk}")
    assert api_row.code == AuditCode.READ_APPLICATION and api_row.object_id == str(app.pk)


def test_a_users_page_with_personal_data_is_recorded(org: Any) -> None:
    response, [row] = _get(org.centre_admin, f"/users/{org.police_specialist.pk}/")
    assert response.status_code == 200
    assert (row.code, row.object_type, row.object_id) == (AuditCode.READ_USER, "core.user",
                                                          str(org.police_specialist.pk))


def test_the_inbox_web_and_api_are_recorded_with_the_number_of_notifications(org: Any) -> None:
    response, [row] = _get(org.police_specialist, "/inbox/")
    assert row.code == AuditCode.READ_INBOX and row.results == response.context["page"].paginator.count
    response, [api_row] = _get(org.police_specialist, f"{API}/me/notifications")
    assert api_row.code == AuditCode.READ_INBOX and api_row.results == response.json()["total"]


def test_an_access_check_is_recorded_with_its_purpose_and_answer(share: Any) -> None:
    client = login(Client(), share.org.market_specialist)
    before = _last_id()
    body = {"entry_id": share.unconditional.pk, "purpose": "工作参考", "items": ["姓名"]}
    response = client.post(f"{API}/sharing/access-check", body, content_type="application/json")
    [row] = _new_rows(before)
    assert (row.code, row.object_id, row.method) == (AuditCode.READ_ACCESS_CHECK, str(share.unconditional.pk), "POST")
    assert row.detail["purpose"] == "工作参考" and row.detail["allowed"] is response.json()["allowed"]


def test_a_catalog_export_is_recorded_with_its_format_and_row_count(share: Any) -> None:
    response, [row] = _get(share.org.police_specialist, "/catalog/export/?format=json")
    assert response.status_code == 200
    assert row.code == AuditCode.READ_EXPORT and row.detail["query"]["format"] == "json"
    assert row.results is not None and row.results >= 1


def test_any_other_page_or_list_a_logged_in_user_reads_is_recorded_with_its_filters(share: Any) -> None:
    response, [row] = _get(share.org.market_specialist, "/sharing/applications/?page=2")
    assert response.status_code == 200
    assert (row.code, row.detail) == (AuditCode.READ_PAGE, {"view": "sharing:my_applications",
                                                            "query": {"page": "2"}})
    response, rows = _get(share.org.market_specialist, "/inbox/count/")  # the counter the browser polls
    assert response.status_code == 200 and rows == []


# ------------------------------------------------------------------ the chain


def _lift_update_guard() -> None:
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute(f"DROP TRIGGER {TRIGGER}")
        else:
            cur.execute(f"ALTER TABLE core_accessevent DISABLE TRIGGER {TRIGGER}")


def _three_reads(org: Any) -> list[AccessEvent]:
    client = login(Client(), org.centre_admin)
    before = _last_id()
    for _ in range(3):
        client.get(f"/users/{org.police_specialist.pk}/")
    rows = _new_rows(before)
    assert len(rows) == 3
    return rows


def test_the_access_chain_verifies_and_a_changed_row_is_named(org: Any) -> None:
    rows = _three_reads(org)
    report = check_chain()
    assert report.ok and report.reads_checked >= 3
    _lift_update_guard()
    with connection.cursor() as cur:
        cur.execute("UPDATE core_accessevent SET actor_username = %s WHERE id = %s", ["someone", rows[1].id])
    report = check_chain()
    assert (report.ok, report.chain, report.first_broken_id, report.reason) == (False, "access", rows[1].id, "content")
    assert str(rows[1].id) in report.message


def test_a_removed_row_breaks_the_link_and_audit_verify_names_the_next_one(org: Any, capsys: Any) -> None:
    rows = _three_reads(org)
    AccessEvent.objects.filter(pk=rows[1].pk)._raw_delete(connection.alias)
    assert cli(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"id={rows[2].id}" in err and "access log" in err


def test_access_rows_cannot_be_updated_or_saved_again(org: Any) -> None:
    row = _three_reads(org)[0]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE core_accessevent SET results = 7 WHERE id = %s", [row.id])
    with pytest.raises(RuntimeError):
        row.save()
    with pytest.raises(RuntimeError):
        row.delete()


def test_a_stale_chain_head_in_this_process_is_noticed_and_the_chain_stays_whole(org: Any) -> None:
    _three_reads(org)
    access_log._heads.update(dict.fromkeys(access_log._heads, "f" * 64))  # another process appended since
    _three_reads(org)
    assert check_chain().ok


def test_a_recorded_page_costs_one_statement_on_the_access_log(org: Any) -> None:
    client = login(Client(), org.centre_admin)
    client.get(f"/users/{org.police_specialist.pk}/")  # this process now knows the chain head
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/users/{org.police_specialist.pk}/")
    touching = [q["sql"] for q in queries.captured_queries if "core_accessevent" in q["sql"]]
    assert len(touching) == 1 and "INSERT INTO" in touching[0]


# ------------------------------------------------------------------ the auditor


def test_the_auditor_sees_a_requests_reads_and_writes_together(share: Any) -> None:
    org = share.org
    app = _apply(share)
    response = login(Client(), org.police_specialist).get(f"/sharing/applications/{app.pk}/letter/")
    request_id = response["X-Request-ID"]
    auditor = login(Client(), org.auditor)
    page = auditor.get("/audit/", {"log": "both", "request_id": request_id})
    assert page.status_code == 200
    codes = sorted(e.code for e in page.context["page"].object_list)
    assert codes == sorted([AuditCode.SHARE_LETTER_DOWNLOADED, AuditCode.READ_DOWNLOAD])
    only_writes = auditor.get("/audit/", {"request_id": request_id})
    assert [e.code for e in only_writes.context["page"].object_list] == [AuditCode.SHARE_LETTER_DOWNLOADED]
    api = auditor.get(f"{API}/audit/events", {"log": "both", "request_id": request_id}).json()
    assert sorted((i["log"], i["code"]) for i in api["items"]) == [
        ("read", AuditCode.READ_DOWNLOAD), ("write", AuditCode.SHARE_LETTER_DOWNLOADED)]
    by_person = auditor.get(f"{API}/audit/events", {"log": "reads", "actor": "police_specialist",
                                                    "object_id": str(app.pk)}).json()
    assert [i["code"] for i in by_person["items"]] == [AuditCode.READ_DOWNLOAD]
    export = auditor.get("/audit/export/", {"format": "csv", "log": "both", "request_id": request_id})
    text = b"".join(export.streaming_content).decode("utf-8-sig") if export.streaming else export.content.decode(
        "utf-8-sig")
    assert str(AuditCode.READ_DOWNLOAD) in text and str(AuditCode.SHARE_LETTER_DOWNLOADED) in text


def test_only_auditors_read_the_access_log(share: Any) -> None:
    for user in (share.org.centre_admin, share.org.police_specialist):
        response = login(Client(), user).get(f"{API}/audit/events", {"log": "reads"})
        assert response.status_code == 403
