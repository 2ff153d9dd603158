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
    assert refused.object_type == "catalog.catalogentry"  # the auditor finds the probe by object


def test_an_api_address_that_names_nothing_leaves_no_row_like_an_unknown_page(share: Any) -> None:
    for path in (f"{API}/catalog/entries/abc", f"{API}/no-such-thing", "/catalog/no-such-page/"):
        response, rows = _get(share.org.market_specialist, path)
        assert response.status_code == 404 and rows == [], path


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
    assert row.object_type == "sharing.application"
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


# ------------------------------------------------------------------ hostile input (review of issue 9)


def test_a_nul_in_the_address_is_refused_before_any_read_and_recorded_text_is_storable(share: Any) -> None:
    client = login(Client(), share.org.market_specialist)
    before = _last_id()
    # PostgreSQL refuses NUL in text and jsonb: such a request is refused before any view runs
    # (core.middleware.NulCharacterMiddleware), so it neither reads nor fails on its row
    for response in (client.get("/sharing/applications/", {"x": "a\x00b"}), client.get(f"{API}/policies/a%00b")):
        assert response.status_code == 400 and response.json()["error"]["code"] == "nul_character"
    assert _new_rows(before) == []
    # and whatever text a row records is made storable first (NUL, lone surrogates: U+FFFD)
    assert access_log.clean({"k\ud800": ["\x00", 3, None]}) == {"k\ufffd": ["\ufffd", 3, None]}
    assert check_chain().ok


def test_a_client_cannot_choose_the_request_id_its_rows_are_filed_under(share: Any) -> None:
    from django.test import override_settings

    org = share.org
    victim = login(Client(), org.police_specialist).get("/inbox/")["X-Request-ID"]
    response, [row] = _get(org.market_specialist, "/sharing/applications/", HTTP_X_REQUEST_ID=victim)
    assert response["X-Request-ID"] != victim and row.request_id == response["X-Request-ID"]
    assert row.detail["client_request_id"] == victim  # kept, but only as what the client said
    assert [r.actor_username for r in _rows(request_id=victim)] == ["police_specialist"]
    with override_settings(GOVSHARE_TRUSTED_PROXIES=["127.0.0.1"]):  # the same setting client_ip trusts
        response, [proxied] = _get(org.market_specialist, "/sharing/applications/",
                                   HTTP_X_REQUEST_ID="proxy-0001-abcd")
    assert response["X-Request-ID"] == proxied.request_id == "proxy-0001-abcd"


# ------------------------------------------------------------------ objects of unnoted reads


def test_a_token_read_nobody_noted_names_its_object_and_query_like_a_page(share: Any) -> None:
    org = share.org
    draft = share.cat.draft(org.police_specialist, name="重点人员信息")
    token = do_create_token(org.police_specialist, name="t")
    bearer = {"Authorization": f"Bearer {token.secret}"}
    response, [row] = _get(None, f"{API}/catalog/entries/{draft.pk}/versions", headers=bearer)
    assert response.status_code == 200
    assert (row.code, row.token_id, row.object_type, row.object_id) == (
        AuditCode.API_REQUEST, token.token.pk, "catalog.catalogentry", str(draft.pk))
    response, [listing] = _get(None, f"{API}/sharing/applications?status=submitted&q=人口", headers=bearer)
    assert (listing.object_type, listing.detail["query"]) == ("sharing.application",
                                                             {"status": "submitted", "q": "人口"})
    assert listing.results == response.json()["total"]
    found = login(Client(), org.auditor).get(f"{API}/audit/events", {
        "log": "reads", "object_type": "catalog.catalogentry", "object_id": str(draft.pk)}).json()
    assert row.id in [i["id"] for i in found["items"]]


def test_every_route_with_an_id_in_its_path_names_a_model_for_the_auditors_object_filter() -> None:
    from django.urls import URLResolver, get_resolver

    def routes(patterns: list[Any], prefix: str = "") -> Any:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from routes(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    public = ("api/v1/policies/", "api/v1/workdays/", "policies/", "areas/")  # configuration, no one's data
    unnamed = [r for r in routes(get_resolver().url_patterns)
               if "<" in r and not r.startswith(public) and not access_log.object_type_of(r)]
    assert unnamed == []
    assert access_log.object_type_of("sharing/grants/<int:pk>/") == "sharing.grant"
    assert access_log.object_type_of("api/v1/jobs/<job_id>") == "core.job"
    assert access_log.object_type_of("sharing/errors/") == "sharing.errorreport"


def test_snapshot_downloads_on_the_web_and_the_api_are_recorded_as_downloads(cat: Any) -> None:
    from govshare.catalog.actions import do_publish_snapshot

    org = cat.org
    cat.published()
    snap = do_publish_snapshot(org.centre_admin, org.county, title="第一期")
    for path in (f"/catalog/snapshots/{snap.pk}/download/", f"{API}/catalog/snapshots/{snap.pk}/download"):
        response, [row] = _get(org.market_specialist, path)
        assert response.status_code == 200, path
        assert (row.code, row.object_type, row.object_id) == (AuditCode.READ_DOWNLOAD, "catalog.catalogsnapshot",
                                                              str(snap.pk))
        assert row.detail["file"].startswith("catalog-")


def test_the_operators_access_check_on_the_console_is_recorded(share: Any, capsys: Any) -> None:
    before = _last_id()
    code = cli(["sharing", "check-access", "--entry", share.unconditional.code, "--user", "market_specialist",
                "--purpose", "工作参考"])
    capsys.readouterr()
    [row] = _new_rows(before)
    assert (row.code, row.object_type, row.object_id) == (AuditCode.READ_ACCESS_CHECK, "catalog.catalogentry",
                                                          str(share.unconditional.pk))
    assert row.actor_id is None and row.request_id == "" and row.detail["via"] == "cli"
    assert row.detail["user"] == "market_specialist" and row.detail["allowed"] is (code == 0)
    assert check_chain().ok


# ------------------------------------------------------------------ both chains' heads and anchors


def test_audit_head_names_both_chains_and_verify_notices_access_rows_removed_from_the_end(
        org: Any, capsys: Any) -> None:
    rows = _three_reads(org)
    assert cli(["audit", "head"]) == 0
    head = capsys.readouterr().out.strip()
    assert head == (f"audit={AuditEvent.objects.latest('id').pk}:{AuditEvent.objects.latest('id').row_hash} "
                    f"access={rows[2].id}:{rows[2].row_hash}")
    assert cli(["audit", "verify", "--expect-head", head]) == 0
    capsys.readouterr()
    AccessEvent.objects.filter(pk__in=[rows[1].pk, rows[2].pk])._raw_delete(connection.alias)
    access_log.forget_head()
    assert cli(["audit", "verify"]) == 0  # the chain that remains is consistent: only the head can tell
    capsys.readouterr()
    assert cli(["audit", "verify", "--expect-head", head]) == 1
    err = capsys.readouterr().err
    assert str(rows[2].id) in err and "access log" in err.lower()


def test_an_access_anchor_no_recorded_purge_explains_is_reported(org: Any, capsys: Any) -> None:
    from govshare.core.models import AccessAnchor

    rows = _three_reads(org)
    before = list(AccessEvent.objects.filter(id__lte=rows[1].pk).values_list("id", flat=True))
    AccessEvent.objects.filter(id__in=before)._raw_delete(connection.alias)
    for last_purged_id in (rows[1].pk, 0):  # an anchor that moved, or only its hash
        AccessAnchor.objects.update_or_create(pk=1, defaults={"last_purged_id": last_purged_id,
                                                              "last_purged_hash": rows[2].prev_hash})
        report = check_chain()
        assert (report.ok, report.chain, report.reason) == (False, "access", "anchor")
    assert cli(["audit", "verify"]) == 1
    assert "audit purge" in capsys.readouterr().err
