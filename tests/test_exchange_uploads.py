"""Spreadsheet uploads for departments without a business system (EXC-3; issue 11 item 8): the police's 库表 entry
户籍人口基本信息 gets a data template generated from its items; a filled-in template is checked row by row (sheet,
row, column, reason) — all or nothing — and loaded into the centre as a run of batches with receipts, in upsert,
append or replace mode; hostile or wrong files are refused and audited; an upload is due by the update cycle.
Owner, colleague, outsider, auditor."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, NotFound
from govshare.core.idcodes import id_check_char
from govshare.core.models import AuditEvent, Job, Notification
from govshare.datastore.centre import open_store, table_for
from govshare.exchange.actions.uploads import do_set_upload_rules, do_upload
from govshare.exchange.models import Upload, UploadFeed
from govshare.exchange.uploads import remind_due
from tests.conftest import API, login

pytestmark = pytest.mark.django_db


def person(n: int) -> str:
    base = f"36078319900101{n:03d}"
    return base + id_check_char(base)


@pytest.fixture
def entry(cat: Any) -> Any:
    cat.entry = cat.published()
    return cat


def template(client: Client, entry: Any) -> openpyxl.Workbook:
    answer = client.get(f"{API}/exchange/entries/{entry.pk}/template")
    assert answer.status_code == 200, answer.content
    return openpyxl.load_workbook(io.BytesIO(answer.content))


def filled(entry: Any, client: Client, rows: list[list[Any]]) -> bytes:
    book = template(client, entry)
    sheet = book["数据"]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            sheet.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: Client, entry: Any, data: bytes, capture: Any, mode: str = "upsert", name: str = "户籍.xlsx") -> Any:
    with capture(execute=True):  # the job runs when the request's transaction commits
        return client.post(f"{API}/exchange/entries/{entry.pk}/uploads",
                           {"file": SimpleUploadedFile(name, data), "mode": mode})


def centre_rows(entry: Any) -> dict[str, tuple[Any, ...]]:
    with open_store() as store:
        table = table_for(entry)
        if not store.has_table(table):
            return {}
        return {row[0]: tuple(row[1:-2]) for row in store.changes_since(table, 0, 10**6) if not row[-1]}


ROWS = [[person(n), f"张{n}", dt.date(1990, 1, 1 + n)] for n in range(1, 6)]


def test_the_template_has_the_items_as_typed_columns_with_the_key_marked(entry: Any) -> None:
    book = template(login(Client(), entry.org.police_specialist), entry.entry)
    sheet = book["数据"]
    assert [c.value for c in sheet[1]] == ["公民身份号码 *", "姓名", "出生日期"]
    assert "说明" in book.sheetnames
    assert template(login(Client(), entry.org.police_admin), entry.entry)  # a colleague
    outsider = login(Client(), entry.org.market_specialist).get(f"{API}/exchange/entries/{entry.entry.pk}/template")
    assert outsider.status_code == 404  # another department's entry: as if it did not exist
    auditor = login(Client(), entry.org.auditor).get(f"{API}/exchange/entries/{entry.entry.pk}/template")
    assert auditor.status_code == 403  # auditors read records; they upload nothing


def test_a_filled_template_is_checked_and_loaded_with_a_receipt(entry: Any,
                                                               django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    answer = upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    assert answer.status_code == 202, answer.content
    shown = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert shown["status"] == "loaded" and shown["rows"] == 5 and shown["inserted"] == 5 and shown["problems"] == []
    assert len(shown["content_hash"]) == 32 and shown["batches"] == 1
    rows = centre_rows(entry.entry)
    assert rows[person(1)] == ("张1", dt.date(1990, 1, 2))
    assert AuditEvent.objects.filter(code=AuditCode.UPLOAD_RECEIVED).count() == 1
    assert AuditEvent.objects.get(code=AuditCode.UPLOAD_LOADED).outcome == "success"
    assert Notification.objects.filter(recipient=entry.org.police_specialist, kind="exchange.upload").exists()


def test_every_problem_is_named_by_sheet_row_and_column_and_nothing_is_stored(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    bad = [[person(1), "张1", dt.date(1990, 1, 2)],
           [person(2)[:-1] + ("0" if person(2)[-1] != "0" else "1"), "李二", dt.date(1990, 1, 3)],  # check digit
           [person(3), '=HYPERLINK("http://evil.example","点我")', dt.date(1990, 1, 4)],  # a formula
           [person(4), "王四", "昨天"],  # not a date
           [person(1), "重复", dt.date(1990, 1, 5)]]  # the key of row 2 again
    answer = upload(client, entry.entry, filled(entry.entry, client, bad), django_capture_on_commit_callbacks)
    body = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert body["status"] == "refused" and body["problem_count"] == 4
    found = {(p["row"], p["column"], p["code"]) for p in body["problems"]}
    assert found == {(3, "A", "rule"), (4, "B", "formula"), (5, "C", "not_a_date"), (6, "A", "duplicate_key")}
    text = " ".join(p["message"] for p in body["problems"])
    assert "数据" in text and "第" in text or "row" in text
    assert "bad_id" not in text  # the rule's reason in words, not its code
    assert centre_rows(entry.entry) == {}
    assert AuditEvent.objects.get(code=AuditCode.UPLOAD_REFUSED).outcome == "failure"


def test_a_wrong_header_is_refused_before_any_row(entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "数据"
    sheet.append(["身份证", "姓名", "出生日期"])
    sheet.append([person(1), "张一", dt.date(1990, 1, 1)])
    out = io.BytesIO()
    book.save(out)
    body = client.get(f"{API}/exchange/uploads/"
                      f"{upload(client, entry.entry, out.getvalue(), django_capture_on_commit_callbacks).json()['id']}"
                      ).json()
    assert {p["code"] for p in body["problems"]} == {"missing_column", "unknown_column"}
    assert centre_rows(entry.entry) == {}


@pytest.mark.parametrize("data, code", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not_xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old_excel_format"),
])
def test_a_file_that_is_not_a_workbook_is_refused_and_audited(entry: Any, django_capture_on_commit_callbacks: Any,
                                                              data: bytes, code: str) -> None:
    client = login(Client(), entry.org.police_specialist)
    answer = upload(client, entry.entry, data, django_capture_on_commit_callbacks)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert not Upload.objects.exists()
    assert AuditEvent.objects.get(code=AuditCode.UPLOAD_REFUSED).detail["reason"] == code


@override_settings(GOVSHARE_UPLOAD_MAX_MB=1)
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(entry: Any,
                                                                 django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    answer = upload(client, entry.entry, b"PK\x03\x04" + b"\x00" * (2 * 1024 * 1024), django_capture_on_commit_callbacks)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "file_too_large"
    assert not Upload.objects.exists()


def test_append_refuses_keys_the_centre_holds_and_replace_deletes_the_rows_not_in_the_file(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    again = upload(client, entry.entry, filled(entry.entry, client, ROWS[:2] + [[person(9), "新人", None]]),
                   django_capture_on_commit_callbacks, mode="append")
    body = client.get(f"{API}/exchange/uploads/{again.json()['id']}").json()
    assert body["status"] == "refused" and {(p["row"], p["code"]) for p in body["problems"]} == {
        (2, "key_exists"), (3, "key_exists")}
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)  # (the guard: below)
    changed = [[person(1), "张一改", dt.date(1990, 1, 2)], [person(2), "张2", dt.date(1990, 1, 3)]]
    replaced = upload(client, entry.entry, filled(entry.entry, client, changed), django_capture_on_commit_callbacks,
                      mode="replace")
    body = client.get(f"{API}/exchange/uploads/{replaced.json()['id']}").json()
    assert body["status"] == "loaded" and (body["updated"], body["unchanged"], body["deleted"]) == (1, 1, 3)
    assert set(centre_rows(entry.entry)) == {person(1), person(2)}
    assert centre_rows(entry.entry)[person(1)][0] == "张一改"


def test_an_enumeration_rule_gives_a_drop_down_and_is_checked(entry: Any,
                                                               django_capture_on_commit_callbacks: Any) -> None:
    do_set_upload_rules(entry.org.police_specialist, entry.entry,
                        rules=[{"item": "姓名", "rule": {"kind": "enum", "values": ["张一", "李二"]}}])
    client = login(Client(), entry.org.police_specialist)
    sheet = template(client, entry.entry)["数据"]
    lists = [v.formula1 for v in sheet.data_validations.dataValidation if v.type == "list"]
    assert any("张一" in (f or "") for f in lists)
    answer = upload(client, entry.entry, filled(entry.entry, client, [[person(1), "王五", None]]),
                    django_capture_on_commit_callbacks)
    body = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert [(p["row"], p["column"], p["code"]) for p in body["problems"]] == [(2, "B", "not_in_choices")]


def test_the_provider_sets_the_upload_rules_on_a_page_of_their_own_and_others_cannot(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-3/EXC-7: the value rules of an entry's uploads have a page (they were set by API only): a rule added is
    listed, audited and checked at the next upload; every problem of a bad rule is shown; a rule is removed; the
    colleague of another department and the auditor get nothing."""
    client = login(Client(), entry.org.police_specialist)
    uploads_page = client.get("/exchange/uploads/").content.decode()
    rules_url = f"/exchange/uploads/entries/{entry.entry.pk}/rules/"
    assert rules_url in uploads_page
    empty = client.get(rules_url).content.decode()
    assert 'id="rule-form"' in empty and "dict_values" not in empty  # an empty form, not a dict's method
    bad = client.post(rules_url, {"item": "姓名", "kind": "range", "min": "9", "max": "1"})
    assert bad.status_code == 400 and 'id="rule-errors"' in bad.content.decode()
    added = client.post(rules_url, {"item": "姓名", "kind": "enum", "values": "张一\n李二\n"})
    assert added.status_code == 302
    assert UploadFeed.objects.get(entry=entry.entry).rules == [
        {"item": "姓名", "rule": {"kind": "enum", "values": ["张一", "李二"]}}]
    page = client.get(rules_url).content.decode()
    assert 'data-rule="enum"' in page and "张一, 李二" in page and 'id="id_reject_limit"' not in page
    assert AuditEvent.objects.filter(code=AuditCode.UPLOAD_RULES_CHANGED).count() == 1
    answer = upload(client, entry.entry, filled(entry.entry, client, [[person(1), "王五", None]]),
                    django_capture_on_commit_callbacks)
    body = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert [p["code"] for p in body["problems"]] == ["not_in_choices"]
    assert client.post(rules_url, {"remove": "0"}).status_code == 302
    assert UploadFeed.objects.get(entry=entry.entry).rules == []
    assert login(Client(), entry.org.market_specialist).get(rules_url).status_code == 404
    assert login(Client(), entry.org.market_specialist).post(rules_url, {"remove": "0"}).status_code == 404
    assert login(Client(), entry.org.auditor).post(
        rules_url, {"item": "姓名", "kind": "enum", "values": "x"}).status_code in (403, 404)
    assert AuditEvent.objects.filter(code=AuditCode.UPLOAD_RULES_CHANGED).count() == 2


def test_only_the_providers_staff_upload_and_others_see_nothing(entry: Any) -> None:
    org = entry.org
    with pytest.raises(NotFound):
        do_upload(org.market_specialist, entry.entry, file_name="x.xlsx", data=b"PK")
    with pytest.raises(GovshareError):
        do_upload(org.auditor, entry.entry, file_name="x.xlsx", data=b"PK")
    assert login(Client(), org.market_specialist).get(f"{API}/exchange/uploads").json() == []


def test_an_upload_is_due_by_the_update_cycle_and_the_provider_is_reminded_once(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    assert remind_due() == 0  # a daily entry loaded just now
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_due(later) == 1
    assert remind_due(later + dt.timedelta(hours=1)) == 0
    assert Notification.objects.filter(kind="exchange.upload_due", recipient=entry.org.police_specialist).count() == 1
    assert UploadFeed.objects.get().reminded_at is not None


def test_every_kept_problem_of_a_refused_file_can_be_taken_away_as_a_file_while_the_page_lists_the_first(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """QA walk-through of the 21st session: a refused file listed its first 200 problems and kept no more. Up to
    10 000 are kept now: the page and the API list 200, the CSV / XLSX export has every one, in the reader's words;
    only who may see the upload gets it."""
    client = login(Client(), entry.org.police_specialist)
    bad = [[person(n), "=1+1", dt.date(1990, 1, 2)] for n in range(1, 251)]  # 250 formulas
    answer = upload(client, entry.entry, filled(entry.entry, client, bad), django_capture_on_commit_callbacks)
    body = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert (body["problem_count"], len(body["problems"]), body["problems_kept"]) == (250, 200, 250)
    page = client.get(f"/exchange/uploads/{body['id']}/").content.decode()
    assert page.count('data-problem="formula"') == 200 and body["problems_file"] in page.replace("&amp;", "&")
    exported = client.get(body["problems_file"])
    lines = b"".join(exported.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 251 and lines[0].startswith("工作表") and "公式" in lines[-1], lines[:2]
    workbook = client.get(f"/exchange/uploads/{body['id']}/problems/?format=xlsx")
    assert workbook.status_code == 200 and workbook["Content-Type"].startswith("application/vnd.openxmlformats")
    assert login(Client(), entry.org.market_specialist).get(body["problems_file"]).status_code == 404


def test_the_uploads_page_offers_the_template_and_lists_the_problems_of_a_refused_upload(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    page = client.get("/exchange/uploads/").content.decode()
    assert f"/api/v1/exchange/entries/{entry.entry.pk}/template" in page and "data-upload-form" in page
    data = filled(entry.entry, client, [[person(1), "=1+1", None]])
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post("/exchange/uploads/", {"entry": entry.entry.pk, "mode": "upsert",
                                                   "file": SimpleUploadedFile("户籍.xlsx", data)})
    assert posted.status_code == 302
    detail = client.get(posted["Location"]).content.decode()
    assert 'data-status="refused"' in detail and 'data-problem="formula"' in detail
    assert "data-upload-form" not in login(Client(), entry.org.market_specialist).get("/exchange/uploads/").content.decode()


def test_a_file_refused_at_the_door_keeps_the_mode_it_was_sent_with(entry: Any) -> None:
    """QA walk-through (21st session): after "not an Excel workbook" the form came back in mode upsert — re-picking
    only the file sent a replace as an upsert."""
    client = login(Client(), entry.org.police_specialist)
    refused = client.post("/exchange/uploads/", {"entry": entry.entry.pk, "mode": "replace",
                                                 "file": SimpleUploadedFile("户籍.xlsx", b"not a workbook")})
    assert refused.status_code == 302 and f"#upload-{entry.entry.pk}" in refused["Location"]
    page = client.get(refused["Location"]).content.decode()
    assert '<option value="replace" selected>' in page and '<option value="upsert" selected>' not in page
    assert '<option value="upsert" selected>' in client.get("/exchange/uploads/").content.decode()


def _killed_after_first_batch(entry: Any, client: Client, capture: Any, monkeypatch: Any) -> Any:
    """An upload (2-row batches) whose worker died after committing batch 1 in the centre with its receipt: the
    upload, left loading."""
    from govshare.datastore.engine.store import StoreColumn, combine, row_hash
    from govshare.exchange import uploads
    from govshare.exchange.engine import workbook

    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    data = filled(entry.entry, client, ROWS)
    with capture(execute=False):
        answer = client.post(f"{API}/exchange/entries/{entry.entry.pk}/uploads",
                             {"file": SimpleUploadedFile("户籍.xlsx", data), "mode": "upsert"})
    made = Upload.objects.get(pk=answer.json()["id"])
    first = workbook.read_upload(data, uploads.columns_for(made.version, made.feed)).rows[:2]
    with open_store() as store:  # what the dead worker committed
        table = table_for(entry.entry)
        store.ensure_table(table, [StoreColumn("公民身份号码", "C", 18), StoreColumn("姓名", "C", 50),
                                   StoreColumn("出生日期", "D")], ["公民身份号码"])
        hashes = [row_hash(r) for r in first]
        store.apply(table, first, run_id=made.run_id, batch=1, position={"rows": 2}, rows_read=2,
                    read_hash=combine(hashes), remember=False, hashes=hashes)
    return made


def test_a_load_killed_half_way_goes_on_from_its_last_committed_batch(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """The worker died after the first batch (2 rows) was committed in the centre with its receipt: the next attempt
    skips it and loads the rest — nothing twice, nothing lost."""
    from govshare.core import jobs

    client = login(Client(), entry.org.police_specialist)
    made = _killed_after_first_batch(entry, client, django_capture_on_commit_callbacks, monkeypatch)
    Upload.objects.filter(pk=made.pk).update(status=Upload.Status.LOADING)
    assert jobs.execute(made.job_id, "test-worker") == "succeeded"
    made.refresh_from_db()
    assert made.status == "loaded" and made.batches == 3 and made.inserted == 5 and made.unchanged == 0
    assert set(centre_rows(entry.entry)) == {row[0] for row in ROWS}


# -- review of the 10th session: each finding, fixed --------------------------------------------------------------

def test_replacing_with_a_blank_template_is_refused_rather_than_deleting_everything(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review M8: no rows, no problems — and every row of the entry tombstoned."""
    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    blank = upload(client, entry.entry, filled(entry.entry, client, []), django_capture_on_commit_callbacks,
                   mode="replace")
    body = client.get(f"{API}/exchange/uploads/{blank.json()['id']}").json()
    assert body["status"] == "refused" and body["problems"][0]["code"] == "empty_replace"
    assert len(centre_rows(entry.entry)) == 5


def test_a_second_upload_while_one_is_open_is_a_conflict_not_a_server_error(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review L12."""
    client = login(Client(), entry.org.police_specialist)
    data = filled(entry.entry, client, ROWS)
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post(f"{API}/exchange/entries/{entry.entry.pk}/uploads",
                            {"file": SimpleUploadedFile("a.xlsx", data), "mode": "upsert"})
        second = client.post(f"{API}/exchange/entries/{entry.entry.pk}/uploads",
                             {"file": SimpleUploadedFile("b.xlsx", data), "mode": "upsert"})
    assert first.status_code == 202 and second.status_code == 409
    assert second.json()["error"]["code"] == "upload_open"


def test_a_load_resumed_after_a_crash_goes_on_with_the_rules_the_file_passed_with(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review M9: a rule set after the load began refused an upload whose first batches were already in the centre."""
    from govshare.core import jobs

    client = login(Client(), entry.org.police_specialist)
    made = _killed_after_first_batch(entry, client, django_capture_on_commit_callbacks, monkeypatch)
    Upload.objects.filter(pk=made.pk).update(status=Upload.Status.LOADING, rules_used=[], rows=len(ROWS))  # (as loading sets)
    do_set_upload_rules(entry.org.police_specialist, entry.entry,
                        rules=[{"item": "姓名", "rule": {"kind": "enum", "values": ["只有我"]}}])
    assert jobs.execute(made.job_id, "test-worker") == "succeeded"
    made.refresh_from_db()
    assert made.status == "loaded" and made.inserted == 5
    assert len(centre_rows(entry.entry)) == 5


def test_a_form_entry_id_that_is_not_ascii_digits_is_not_found(entry: Any) -> None:
    """Review L13: "²" passes str.isdigit and failed int()."""
    answer = login(Client(), entry.org.police_specialist).post(
        "/exchange/uploads/", {"entry": "²", "file": SimpleUploadedFile("a.xlsx", b"PK")})
    assert answer.status_code == 404


# -- a version the centre's table cannot take (19th/20th sessions) ---------------------------------------------------

def _retyped(entry: Any) -> None:
    """A new version of the entry whose 出生日期 is text now: the centre's table cannot take it as it is."""
    from govshare.catalog.actions import do_edit_entry
    from tests.catalog_helpers import content

    items = content()["items"]
    items[2] = {**items[2], "data_type": "C", "length": 10}
    do_edit_entry(entry.org.police_specialist, entry.entry, content(items=items), change_reason="出生日期改为文本")
    entry.entry = entry.publish(entry.entry)


def test_a_version_the_table_cannot_take_is_refused_by_upsert_and_loaded_by_replace_which_makes_the_table_again(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-3 with EXC-1: a department without a business system publishes a version that retypes an item.  An upsert
    would have to write text into a date column: it is refused before anything is stored, saying to upload the whole
    table in mode "replace"; a replace upload makes the centre's table again in the new shape (sequence numbers go
    on, the feed counts the table's generation for the deliveries, audited) and loads the file into it."""
    from govshare.exchange.models import TableBinding

    client = login(Client(), entry.org.police_specialist)
    first = upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    assert client.get(f"{API}/exchange/uploads/{first.json()['id']}").json()["status"] == "loaded"
    assert "data-replace-only" not in client.get("/exchange/uploads/").content.decode()
    _retyped(entry)
    page = client.get("/exchange/uploads/").content.decode()  # said before anyone uploads, "replace" chosen
    assert "data-replace-only" in page and "出生日期" in page and '<option value="replace" selected>' in page
    rows = [[person(n), f"张{n}", f"1990年1月{n}日"] for n in range(1, 4)]
    data = filled(entry.entry, client, rows)
    refused = upload(client, entry.entry, data, django_capture_on_commit_callbacks)
    body = client.get(f"{API}/exchange/uploads/{refused.json()['id']}").json()
    assert body["status"] == "refused" and [p["code"] for p in body["problems"]] == ["needs_replace"]
    assert "出生日期" in body["problems"][0]["detail"] and "替换" in body["problems"][0]["message"]
    assert centre_rows(entry.entry)[person(1)] == ("张1", dt.date(1990, 1, 2))  # nothing changed
    page = client.get(f"/exchange/uploads/{refused.json()['id']}/").content.decode()
    assert 'data-problem="needs_replace"' in page and "None" not in page

    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=50)  # 2 of 5 may go
    loaded = upload(client, entry.entry, data, django_capture_on_commit_callbacks, mode="replace")
    body = client.get(f"{API}/exchange/uploads/{loaded.json()['id']}").json()
    assert body["status"] == "loaded" and body["rebuilt"] is True and body["inserted"] == 3, body
    assert body["deleted"] == 0  # the old rows went with the old table, not as deletions
    assert centre_rows(entry.entry) == {person(n): (f"张{n}", f"1990年1月{n}日") for n in range(1, 4)}
    with open_store() as store:
        columns, _key = store.describe(table_for(entry.entry))
        assert [c.letter for c in columns] == ["C", "C", "C"]
        assert min(r[-2] for r in store.changes_since(table_for(entry.entry), 0, 100)) == 6  # after the old 5
    feed = UploadFeed.objects.get(entry=entry.entry)
    assert (feed.rebuild_pending, feed.generation) == (False, 2) and feed.rebuilt_at is not None
    assert TableBinding.objects.centre_state(entry.entry.pk).generation == 2
    event = AuditEvent.objects.get(code=AuditCode.CENTRE_TABLE_REBUILT)
    assert event.detail["upload"] == body["id"] and event.detail["rows_dropped"] == 5
    assert 'data-rebuilt' in client.get(f"/exchange/uploads/{body['id']}/").content.decode()
    again = upload(client, entry.entry, data, django_capture_on_commit_callbacks)  # an ordinary upsert again
    body = client.get(f"{API}/exchange/uploads/{again.json()['id']}").json()
    assert (body["status"], body["rebuilt"], body["unchanged"]) == ("loaded", False, 3)
    assert UploadFeed.objects.get(entry=entry.entry).generation == 2
    assert "data-replace-only" not in client.get("/exchange/uploads/").content.decode()


def test_a_replace_killed_between_the_rebuild_and_its_record_makes_the_table_again_and_loads(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """kill -9 after the store made the table again but before the feed recorded it: the next attempt finds the
    rebuild pending, makes the (empty) table again, records it once and loads the whole file."""
    from govshare.core import jobs
    from govshare.datastore.engine.store import StoreColumn

    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    _retyped(entry)
    data = filled(entry.entry, client, [[person(1), "张1", "一九九〇"]])
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(f"{API}/exchange/entries/{entry.entry.pk}/uploads",
                             {"file": SimpleUploadedFile("户籍.xlsx", data), "mode": "replace"})
    made = Upload.objects.get(pk=answer.json()["id"])
    UploadFeed.objects.filter(entry=entry.entry).update(rebuild_pending=True)  # what the dead worker had done
    with open_store() as store:
        store.rebuild_table(table_for(entry.entry), [StoreColumn("公民身份号码", "C", 18), StoreColumn("姓名", "C", 50),
                                                     StoreColumn("出生日期", "C", 10)], ["公民身份号码"])
    Upload.objects.filter(pk=made.pk).update(status=Upload.Status.LOADING, rules_used=[])
    assert jobs.execute(made.job_id, "test-worker") == "succeeded"
    made.refresh_from_db()
    assert made.status == "loaded" and made.rebuilt and made.inserted == 1
    assert centre_rows(entry.entry) == {person(1): ("张1", "一九九〇")}
    feed = UploadFeed.objects.get(entry=entry.entry)
    assert (feed.rebuild_pending, feed.generation) == (False, 2)
    assert AuditEvent.objects.filter(code=AuditCode.CENTRE_TABLE_REBUILT).count() == 1



# -- the mass-delete guard of replace uploads (20th session) -------------------------------------------------------

def test_a_replace_that_would_delete_more_than_the_guards_share_is_held_until_someone_confirms_the_number(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-3 with issue 10 item 5: a half-filled template uploaded in mode "replace" looks like a mass delete.  It is
    held with nothing stored (the number, the first keys — to the provider's staff only — audited, the uploader told);
    a person confirms the number on its page and the file is loaded, deleting them.  Owner, colleague, outsider,
    auditor."""
    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    half = upload(client, entry.entry, filled(entry.entry, client, ROWS[:2]), django_capture_on_commit_callbacks,
                  mode="replace")
    body = client.get(f"{API}/exchange/uploads/{half.json()['id']}").json()
    assert (body["status"], body["pending_deletes"], body["confirmed_deletes"]) == ("held", 3, None)
    assert len(centre_rows(entry.entry)) == 5  # nothing stored
    held = Upload.objects.get(pk=body["id"])
    assert held.pending_keys == [person(3), person(4), person(5)]
    event = AuditEvent.objects.get(code=AuditCode.UPLOAD_HELD)
    assert event.detail["pending"] == 3 and event.detail["live"] == 5 and event.detail["guard_percent"] == 10
    assert event.detail["uploaded_by"] == entry.org.police_specialist.get_username()  # (QA: who, for the auditor)
    assert Notification.objects.filter(recipient=entry.org.police_specialist, kind="exchange.upload",
                                       object_id=str(held.pk)).count() == 1
    page = client.get(f"/exchange/uploads/{held.pk}/").content.decode()
    assert 'id="upload-held"' in page and person(3) in page and 'id="held-actions"' in page
    colleague = login(Client(), entry.org.police_admin)
    assert 'id="held-actions"' in colleague.get(f"/exchange/uploads/{held.pk}/").content.decode()
    auditor = login(Client(), entry.org.auditor).get(f"/exchange/uploads/{held.pk}/").content.decode()
    assert 'id="upload-held"' in auditor and person(3) not in auditor and 'id="held-actions"' not in auditor
    outsider = login(Client(), entry.org.market_specialist)
    assert outsider.get(f"/exchange/uploads/{held.pk}/").status_code == 404
    assert outsider.post(f"{API}/exchange/uploads/{held.pk}/confirm-deletes", {"pending": 3},
                         content_type="application/json").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        answer = colleague.post(f"/exchange/uploads/{held.pk}/decide/", {"decision": "confirm", "pending": "3"})
    assert answer.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.deleted, held.confirmed_deletes, held.confirmed_by) == (
        "loaded", 3, 3, entry.org.police_admin)
    assert set(centre_rows(entry.entry)) == {person(1), person(2)}
    assert AuditEvent.objects.get(code=AuditCode.UPLOAD_DELETES_CONFIRMED).detail["confirmed"] == 3
    assert 'data-confirmed' in client.get(f"/exchange/uploads/{held.pk}/").content.decode()


def test_a_held_upload_confirmed_for_fewer_rows_than_it_would_now_delete_is_held_again_and_can_be_discarded(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """The confirmation is of a number: no more rows than that are deleted (a confirmation of 1 for a file that would
    delete 3 is refused at once — it was queued and held again, the uploader told twice: QA walk-through, 21st
    session).  Discarding it stores nothing and removes its file; a newer upload takes the place of a held one
    (confirming the older later would undo the newer)."""
    from govshare.core.errors import Conflict
    from govshare.exchange.actions.uploads import do_confirm_upload_deletes, do_discard_upload
    from govshare.exchange.uploads import file_of

    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    half = upload(client, entry.entry, filled(entry.entry, client, ROWS[:2]), django_capture_on_commit_callbacks,
                  mode="replace")
    held = Upload.objects.get(pk=half.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"{API}/exchange/uploads/{held.pk}/confirm-deletes", {"pending": 1},
                             content_type="application/json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "deletes_not_confirmed"
    held.refresh_from_db()
    assert (held.status, held.pending_deletes, held.confirmed_deletes) == ("held", 3, None)
    assert len(centre_rows(entry.entry)) == 5
    assert Notification.objects.filter(kind="exchange.upload", object_id=str(held.pk)).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        body = client.post(f"{API}/exchange/uploads/{held.pk}/discard").json()
    assert body["status"] == "refused" and body["error_code"] == "deletes_refused"
    assert not file_of(held).exists() and len(centre_rows(entry.entry)) == 5
    with pytest.raises(Conflict):
        do_discard_upload(entry.org.police_specialist, held)
    # a newer upload takes a held one's place
    other = upload(client, entry.entry, filled(entry.entry, client, ROWS[:1]), django_capture_on_commit_callbacks,
                   mode="replace")
    older = Upload.objects.get(pk=other.json()["id"])
    assert older.status == "held"
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    older.refresh_from_db()
    assert older.status == "refused" and older.error_code == "upload_superseded"
    with pytest.raises(Conflict):
        do_confirm_upload_deletes(entry.org.police_specialist, older, pending=4)


def test_the_provider_sets_the_guards_share_on_the_rules_page_and_by_api(entry: Any) -> None:
    client = login(Client(), entry.org.police_specialist)
    page = client.get(f"/exchange/uploads/entries/{entry.entry.pk}/rules/").content.decode()
    assert 'id="guard-percent"' in page and 'value="10"' in page
    answer = client.post(f"/exchange/uploads/entries/{entry.entry.pk}/rules/", {"delete_guard_percent": "35"})
    assert answer.status_code == 302
    assert UploadFeed.objects.get(entry=entry.entry).delete_guard_percent == 35
    bad = client.post(f"/exchange/uploads/entries/{entry.entry.pk}/rules/", {"delete_guard_percent": "0"})
    assert bad.status_code == 400 and 'id="rule-errors"' in bad.content.decode()
    assert UploadFeed.objects.get(entry=entry.entry).delete_guard_percent == 35
    api = client.put(f"{API}/exchange/entries/{entry.entry.pk}/upload-rules",
                     {"rules": [], "delete_guard_percent": 50}, content_type="application/json")
    assert api.status_code == 200 and UploadFeed.objects.get(entry=entry.entry).delete_guard_percent == 50
    event = AuditEvent.objects.filter(code=AuditCode.UPLOAD_RULES_CHANGED).order_by("-id").first()
    assert event is not None and event.changes == {"delete_guard_percent": [35, 50]}
    outsider = login(Client(), entry.org.market_specialist).put(
        f"{API}/exchange/entries/{entry.entry.pk}/upload-rules", {"rules": [], "delete_guard_percent": 100},
        content_type="application/json")
    assert outsider.status_code == 404


def test_the_guard_alone_is_changed_by_api_keeping_the_rules_and_both_are_read_back(entry: Any) -> None:
    """QA walk-through (21st session): the API refused the guard without the whole list of rules (422), and had no
    way to read them first — a client risked wiping them.  ``rules`` absent: kept; GET reads both (the provider's
    staff only: others 404)."""
    client = login(Client(), entry.org.police_specialist)
    url = f"{API}/exchange/entries/{entry.entry.pk}/upload-rules"
    assert client.get(url).json() == {"rules": [], "delete_guard_percent": 10}
    rule = {"item": "姓名", "rule": {"kind": "enum", "values": ["张一", "李二"]}}
    assert client.put(url, {"rules": [rule]}, content_type="application/json").status_code == 200
    answer = client.put(url, {"delete_guard_percent": 20}, content_type="application/json")
    assert answer.status_code == 200 and len(answer.json()) == 1
    body = client.get(url).json()
    assert body["delete_guard_percent"] == 20 and [r["item"] for r in body["rules"]] == ["姓名"]
    assert login(Client(), entry.org.police_admin).get(url).status_code == 200
    for outsider in (entry.org.market_specialist, entry.org.auditor):
        assert login(Client(), outsider).get(url).status_code == 404



# -- review of the 20th session: each finding, fixed ---------------------------------------------------------------

def _five_then_retyped(entry: Any, client: Client, capture: Any) -> None:
    upload(client, entry.entry, filled(entry.entry, client, ROWS), capture)
    _retyped(entry)


def test_a_replace_that_makes_the_table_again_is_held_by_the_guard_like_any_other(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 2: a replace of a new version with 1 row of 5 made the table again and deleted 4 rows unasked."""
    client = login(Client(), entry.org.police_specialist)
    _five_then_retyped(entry, client, django_capture_on_commit_callbacks)
    one = upload(client, entry.entry, filled(entry.entry, client, [[person(1), "张1", "一九九〇"]]),
                 django_capture_on_commit_callbacks, mode="replace")
    body = client.get(f"{API}/exchange/uploads/{one.json()['id']}").json()
    assert (body["status"], body["pending_deletes"], body["rebuilt"]) == ("held", 4, False)
    assert len(centre_rows(entry.entry)) == 5 and not UploadFeed.objects.get(entry=entry.entry).rebuild_pending
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{API}/exchange/uploads/{body['id']}/confirm-deletes", {"pending": 4},
                    content_type="application/json")
    body = client.get(f"{API}/exchange/uploads/{body['id']}").json()
    assert (body["status"], body["rebuilt"]) == ("loaded", True) and centre_rows(entry.entry) == {
        person(1): ("张1", "一九九〇")}


def test_a_load_that_fails_after_the_table_was_made_again_keeps_deliveries_waiting_and_the_next_replace_finishes_it(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review 3: the rebuild was settled before the load, so a failed load left an empty table that deliveries took
    for the new generation.  Now the table stays "to be made again" until a load into it ends."""
    from govshare.datastore.engine.store import Store, StoreError
    from govshare.exchange.models import TableBinding

    client = login(Client(), entry.org.police_specialist)
    _five_then_retyped(entry, client, django_capture_on_commit_callbacks)
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    data = filled(entry.entry, client, [[person(n), f"张{n}", "一九九〇"] for n in range(1, 6)])

    def full(*_args: Any, **_kwargs: Any) -> Any:
        raise StoreError("full", "no space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "apply", full)
        failed = upload(client, entry.entry, data, django_capture_on_commit_callbacks, mode="replace")
    body = client.get(f"{API}/exchange/uploads/{failed.json()['id']}").json()
    assert (body["status"], body["error_code"], body["rebuilt"]) == ("failed", "store_full", False)
    state = TableBinding.objects.centre_state(entry.entry.pk)
    assert state.rebuild_pending and state.generation == 1  # deliveries wait; no new generation of an empty table
    again = upload(client, entry.entry, data, django_capture_on_commit_callbacks, mode="replace")
    body = client.get(f"{API}/exchange/uploads/{again.json()['id']}").json()
    assert (body["status"], body["rebuilt"], body["inserted"]) == ("loaded", True, 5)
    state = TableBinding.objects.centre_state(entry.entry.pk)
    assert not state.rebuild_pending and state.generation == 2
    upsert = upload(client, entry.entry, data, django_capture_on_commit_callbacks)  # no rebuild pending any more
    assert client.get(f"{API}/exchange/uploads/{upsert.json()['id']}").json()["status"] == "loaded"


def test_an_upload_whose_rebuild_waits_too_long_for_deliveries_ends_failed_and_frees_the_entry(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review 1: the rebuild's "deliveries still running" left the upload loading for ever (every later upload: 409)."""
    from govshare.exchange import runs
    from govshare.exchange.models import DeliveryRun

    client = login(Client(), entry.org.police_specialist)
    _five_then_retyped(entry, client, django_capture_on_commit_callbacks)
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    monkeypatch.setattr(runs, "REBUILD_WAIT_SECONDS", -1)
    monkeypatch.setattr(DeliveryRun.objects, "filter", lambda *a, **k: _Exists())
    data = filled(entry.entry, client, [[person(1), "张1", "一九九〇"]])
    answer = upload(client, entry.entry, data, django_capture_on_commit_callbacks, mode="replace")
    body = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert (body["status"], body["error_code"]) == ("failed", "deliveries_running")
    assert len(centre_rows(entry.entry)) == 5  # the table as it was
    monkeypatch.undo()
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    later = upload(client, entry.entry, data, django_capture_on_commit_callbacks, mode="replace")
    assert later.status_code == 202
    assert client.get(f"{API}/exchange/uploads/{later.json()['id']}").json()["status"] == "loaded"


class _Exists:
    """A queryset stand-in that always has rows (deliveries of the entry that do not stop)."""

    def exists(self) -> bool:
        return True


def test_a_held_upload_of_an_older_version_cannot_be_confirmed_and_can_always_be_discarded(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 4: once the entry had a new version (or took no uploads), a held upload could neither be discarded nor
    safely confirmed (it would load an old version's file)."""
    from govshare.core.errors import Conflict
    from govshare.exchange.actions.uploads import do_confirm_upload_deletes, do_discard_upload

    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    half = upload(client, entry.entry, filled(entry.entry, client, ROWS[:2]), django_capture_on_commit_callbacks,
                  mode="replace")
    held = Upload.objects.get(pk=half.json()["id"])
    assert held.status == "held"
    _retyped(entry)
    with pytest.raises(Conflict) as caught:
        do_confirm_upload_deletes(entry.org.police_specialist, held, pending=3)
    assert caught.value.code == "upload_outdated"
    assert do_discard_upload(entry.org.police_specialist, held).status == "refused"
    outsider = login(Client(), entry.org.market_specialist)
    assert outsider.post(f"{API}/exchange/uploads/{held.pk}/discard").status_code == 404


def test_a_confirmation_is_of_the_table_as_it_was_when_held(entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 4: rows written into the centre after the hold (another load, a copy) make the confirmation void: the
    upload is held again with the counts of now, rather than undoing them."""
    from govshare.datastore.engine.store import combine

    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    half = upload(client, entry.entry, filled(entry.entry, client, ROWS[:2]), django_capture_on_commit_callbacks,
                  mode="replace")
    held = Upload.objects.get(pk=half.json()["id"])
    with open_store() as store:  # a row written since (as a copy would)
        store.apply(table_for(entry.entry), [[person(3), "改过", dt.date(1990, 1, 4)]], run_id="other", batch=1,
                    position={}, rows_read=1, read_hash=combine(()))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{API}/exchange/uploads/{held.pk}/confirm-deletes", {"pending": 3},
                    content_type="application/json")
    held.refresh_from_db()
    assert held.status == "held" and held.pending_deletes == 3 and centre_rows(entry.entry)[person(3)][0] == "改过"


def test_an_append_of_a_version_with_another_key_is_told_to_replace(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 7: the append's key check ran with the new key against the old table: a store error."""
    from govshare.catalog.actions import do_edit_entry
    from tests.catalog_helpers import content

    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    items = content()["items"]
    items[1] = {**items[1], "is_primary_key": True}
    do_edit_entry(entry.org.police_specialist, entry.entry, content(items=items), change_reason="姓名也作主键")
    entry.entry = entry.publish(entry.entry)
    answer = upload(client, entry.entry, filled(entry.entry, client, ROWS[:1]), django_capture_on_commit_callbacks,
                    mode="append")
    body = client.get(f"{API}/exchange/uploads/{answer.json()['id']}").json()
    assert (body["status"], [p["code"] for p in body["problems"]]) == ("refused", ["needs_replace"])


# -- second review of the 20th session: each finding, fixed --------------------------------------------------------

class _Killed(BaseException):
    """kill -9 at this moment (nothing after it runs)."""


def _held_back(entry: Any, client: Client, capture: Any, data: bytes, mode: str) -> Upload:
    with capture(execute=False):
        answer = client.post(f"{API}/exchange/entries/{entry.entry.pk}/uploads",
                             {"file": SimpleUploadedFile("户籍.xlsx", data), "mode": mode})
    return Upload.objects.get(pk=answer.json()["id"])


def test_a_replace_killed_after_its_deletions_and_before_it_was_recorded_deletes_nothing_more_when_resumed(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Second review 1 (critical): the key list went before the upload was recorded as loaded; resumed, the deletions
    found every row unseen and tombstoned the whole table."""
    from govshare.core import jobs
    from govshare.core.models import Job
    from govshare.exchange import uploads

    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    made = _held_back(entry, client, django_capture_on_commit_callbacks, filled(entry.entry, client, ROWS[:4]),
                      "replace")
    real = uploads._end

    def killed_at_the_end(up: Any, status: str, **values: Any) -> None:
        if status == Upload.Status.LOADED:
            raise _Killed
        real(up, status, **values)

    monkeypatch.setattr(uploads, "_end", killed_at_the_end)
    with pytest.raises(_Killed):
        jobs.execute(made.job_id, "w1")
    monkeypatch.undo()
    assert Upload.objects.get(pk=made.pk).status == "loading" and len(centre_rows(entry.entry)) == 4
    Job.objects.filter(pk=made.job_id).update(status=Job.Status.QUEUED)  # the job taken up again
    assert jobs.execute(made.job_id, "w2") == "succeeded"
    made.refresh_from_db()
    assert (made.status, made.deleted) == ("loaded", 1) and len(centre_rows(entry.entry)) == 4


def test_an_upload_whose_job_was_cancelled_is_ended_and_does_not_block_the_next(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Second review 2: nothing ended an upload whose job ended without it (cancelled while queued, given up after
    its workers died): every later upload of the entry was a 409 for ever."""
    from govshare.core.actions.jobs import do_cancel_job

    client = login(Client(), entry.org.police_specialist)
    made = _held_back(entry, client, django_capture_on_commit_callbacks, filled(entry.entry, client, ROWS), "upsert")
    assert made.job is not None
    do_cancel_job(entry.org.police_specialist, made.job)
    again = upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    assert again.status_code == 202, again.content
    made.refresh_from_db()
    assert (made.status, made.error_code) == ("failed", "job_ended")
    assert client.get(f"{API}/exchange/uploads/{again.json()['id']}").json()["status"] == "loaded"


def test_a_worker_that_lost_its_job_to_another_leaves_the_upload_to_it(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Second review 3: a worker presumed dead whose job another took over ended the upload failed (the catch-all),
    while the other loaded it."""
    from govshare.core import jobs
    from govshare.core.models import Job

    client = login(Client(), entry.org.police_specialist)
    made = _held_back(entry, client, django_capture_on_commit_callbacks, filled(entry.entry, client, ROWS), "upsert")
    real = jobs.JobContext.progress

    def taken_over(self: Any, done: int, total: int | None = None, message: str = "") -> None:
        if self.worker_id == "w1":
            raise jobs.JobCancelled(str(self.job.pk))
        real(self, done, total, message)

    monkeypatch.setattr(jobs.JobContext, "progress", taken_over)
    assert jobs.execute(made.job_id, "w1") == "cancelled"
    assert Upload.objects.get(pk=made.pk).status == "loading"  # left to the worker that has the job
    Job.objects.filter(pk=made.job_id).update(status=Job.Status.QUEUED)
    assert jobs.execute(made.job_id, "w2") == "succeeded"
    assert Upload.objects.get(pk=made.pk).status == "loaded" and len(centre_rows(entry.entry)) == 5


def test_after_a_failed_rebuilding_load_the_next_replace_is_guarded_against_the_table_as_it_was(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Second review 4: a load that failed in a rebuilt table left 2 of 5 rows; a replace with those 2 was then
    measured against the half-filled table and deleted the other 3 unasked."""
    from govshare.datastore.engine.store import Store, StoreError
    from govshare.exchange import uploads

    client = login(Client(), entry.org.police_specialist)
    _five_then_retyped(entry, client, django_capture_on_commit_callbacks)
    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    whole = filled(entry.entry, client, [[person(n), f"张{n}", "一九九〇"] for n in range(1, 6)])
    real = Store.apply

    def second_batch_fails(self: Any, table: str, rows: Any, **kwargs: Any) -> Any:
        if kwargs.get("batch") == 2:
            raise StoreError("full", "no space left on device")
        return real(self, table, rows, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Store, "apply", second_batch_fails)
        failed = upload(client, entry.entry, whole, django_capture_on_commit_callbacks, mode="replace")
    assert client.get(f"{API}/exchange/uploads/{failed.json()['id']}").json()["status"] == "failed"
    assert len(centre_rows(entry.entry)) == 2 and UploadFeed.objects.get(entry=entry.entry).rows_before_rebuild == 5
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=10)
    two = upload(client, entry.entry, filled(entry.entry, client, [[person(n), f"张{n}", "一九九〇"] for n in (1, 2)]),
                 django_capture_on_commit_callbacks, mode="replace")
    body = client.get(f"{API}/exchange/uploads/{two.json()['id']}").json()
    assert (body["status"], body["pending_deletes"]) == ("held", 3)
    loaded = upload(client, entry.entry, whole, django_capture_on_commit_callbacks, mode="replace")
    assert client.get(f"{API}/exchange/uploads/{loaded.json()['id']}").json()["status"] == "loaded"
    assert UploadFeed.objects.get(entry=entry.entry).rows_before_rebuild is None


def test_a_binding_is_not_resumed_or_made_while_an_upload_is_open_and_an_upload_is_refused_once_one_copies(
        entry: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Second review 5: a paused binding resumed while an upload was open, and the upload then loaded into the table
    the binding copies into (a rebuild of either would drop the other's rows)."""
    from govshare.core import jobs
    from govshare.core.errors import Conflict
    from govshare.exchange.actions.bindings import do_set_binding_active
    from govshare.exchange.models import DataSource, TableBinding

    client = login(Client(), entry.org.police_specialist)
    made = _held_back(entry, client, django_capture_on_commit_callbacks, filled(entry.entry, client, ROWS), "upsert")
    source = DataSource.objects.create(department=entry.entry.provider, name="公安前置库", code="GA-Z", kind="sqlite",
                                       database="x.sqlite3")
    binding = TableBinding.objects.create(entry=entry.entry, version=entry.entry.current_version, source=source,
                                          table_name="rkxx", is_active=False)
    with pytest.raises(Conflict) as caught:
        do_set_binding_active(entry.org.police_specialist, binding, True)
    assert caught.value.code == "upload_open"
    TableBinding.objects.filter(pk=binding.pk).update(is_active=True)  # (resumed another way, e.g. before the fix)
    assert jobs.execute(made.job_id, "w1") == "succeeded"
    made.refresh_from_db()
    assert (made.status, made.error_code) == ("refused", "entry_bound") and centre_rows(entry.entry) == {}


# -- a failed load is resumed (EXC-3; the brief: imports are all-or-nothing or resumable) ----------------------------

def _failing_at(patch: Any, batch: int) -> None:
    """The centre refuses the load's batch ``batch`` (a full disk, a table being read for too long)."""
    from govshare.datastore.engine.store import Store, StoreError

    real = Store.apply

    def apply(self: Any, table: str, rows: Any, **kwargs: Any) -> Any:
        if kwargs.get("batch") == batch:
            raise StoreError("full", "no space left on device")
        return real(self, table, rows, **kwargs)

    patch.setattr(Store, "apply", apply)


def test_a_load_the_centre_refused_half_way_says_what_it_stored_and_is_resumed_from_its_last_batch(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """EXC-3: the centre refused the second batch of five rows (batches of 2).  The upload ends failed saying what it
    had stored (1 batch, 2 rows) and why; its page warns that the table has only that part and offers to resume to
    the provider's staff only.  Resumed, it goes on from batch 2 with the rules the file passed with: nothing twice,
    nothing lost; audited.  Owner, colleague, outsider, auditor."""
    from govshare.exchange import uploads

    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    client = login(Client(), entry.org.police_specialist)
    data = filled(entry.entry, client, ROWS)
    with monkeypatch.context() as patch:
        _failing_at(patch, 2)
        failed = upload(client, entry.entry, data, django_capture_on_commit_callbacks)
    body = client.get(f"{API}/exchange/uploads/{failed.json()['id']}").json()
    assert (body["status"], body["error_code"], body["batches"], body["inserted"]) == ("failed", "store_full", 1, 2)
    assert set(centre_rows(entry.entry)) == {person(1), person(2)}
    assert AuditEvent.objects.get(code=AuditCode.UPLOAD_FAILED).detail["batches"] == 1
    pk = body["id"]
    page = client.get(f"/exchange/uploads/{pk}/").content.decode()
    assert 'data-batches="1"' in page and 'id="resume-actions"' in page
    colleague = login(Client(), entry.org.police_admin)
    assert 'id="resume-actions"' in colleague.get(f"/exchange/uploads/{pk}/").content.decode()
    auditor = login(Client(), entry.org.auditor)
    shown = auditor.get(f"/exchange/uploads/{pk}/").content.decode()
    assert 'data-batches="1"' in shown and 'id="resume-actions"' not in shown
    assert auditor.post(f"{API}/exchange/uploads/{pk}/resume").status_code == 403
    outsider = login(Client(), entry.org.market_specialist)
    assert outsider.post(f"{API}/exchange/uploads/{pk}/resume").status_code == 404
    assert outsider.post(f"/exchange/uploads/{pk}/resume/").status_code == 404
    assert Upload.objects.get(pk=pk).status == "failed"

    do_set_upload_rules(entry.org.police_specialist, entry.entry,  # a rule set since: the file passed without it
                        rules=[{"item": "姓名", "rule": {"kind": "enum", "values": ["只有我"]}}])
    with django_capture_on_commit_callbacks(execute=True):
        answer = colleague.post(f"/exchange/uploads/{pk}/resume/")
    assert answer.status_code == 302
    done = Upload.objects.get(pk=pk)
    assert (done.status, done.batches, done.inserted, done.unchanged, done.error_code) == ("loaded", 3, 5, 0, "")
    assert set(centre_rows(entry.entry)) == {row[0] for row in ROWS}
    event = AuditEvent.objects.get(code=AuditCode.UPLOAD_RESUMED)
    assert event.actor_id == entry.org.police_admin.pk and event.detail == {
        "entry": entry.entry.code, "upload": pk, "error": "store_full", "batches": 1}
    assert client.post(f"{API}/exchange/uploads/{pk}/resume").json()["error"]["code"] == "upload_not_failed"


def test_a_resumed_replace_deletes_only_the_rows_the_file_lacks(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """A replace whose second batch the centre refused: its first batch is stored, nothing deleted yet.  Resumed by
    the API it loads the rest and deletes the one row the file lacks — not the rows of its first batch."""
    from govshare.exchange import uploads

    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    client = login(Client(), entry.org.police_specialist)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    changed = [[key, name + "改", born] for key, name, born in ROWS[:4]]
    with monkeypatch.context() as patch:
        _failing_at(patch, 2)
        failed = upload(client, entry.entry, filled(entry.entry, client, changed), django_capture_on_commit_callbacks,
                        mode="replace")
    pk = failed.json()["id"]
    assert (Upload.objects.get(pk=pk).status, len(centre_rows(entry.entry))) == ("failed", 5)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"{API}/exchange/uploads/{pk}/resume")
    assert answer.status_code == 200 and answer.json()["status"] == "loading"
    done = Upload.objects.get(pk=pk)
    assert (done.status, done.updated, done.deleted) == ("loaded", 4, 1)
    assert {key: row[0] for key, row in centre_rows(entry.entry).items()} == {
        person(n): f"张{n}改" for n in range(1, 5)}


def test_a_failed_load_is_not_resumed_after_a_later_upload_a_new_version_or_without_its_file(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Resuming would load an older file over a later upload's rows, or a file of an older version: refused, saying
    why; a file no longer kept is told to be uploaded again.  A later upload that stored nothing (refused) does not
    stand in the way."""
    from govshare.core.errors import Conflict
    from govshare.exchange.actions.uploads import do_resume_upload
    from govshare.exchange.uploads import file_of

    client = login(Client(), entry.org.police_specialist)
    data = filled(entry.entry, client, ROWS)
    with monkeypatch.context() as patch:
        _failing_at(patch, 1)
        first = Upload.objects.get(pk=upload(client, entry.entry, data, django_capture_on_commit_callbacks).json()["id"])
    assert (first.status, first.batches) == ("failed", 0)
    refused = upload(client, entry.entry, filled(entry.entry, client, [[person(1), "张1", "昨天"]]),
                     django_capture_on_commit_callbacks)
    assert Upload.objects.get(pk=refused.json()["id"]).status == "refused"  # (stored nothing)
    path = file_of(first)
    kept = path.read_bytes()
    path.unlink()
    with pytest.raises(Conflict) as caught:
        do_resume_upload(entry.org.police_specialist, first)
    assert caught.value.code == "upload_file_gone"
    path.write_bytes(kept)
    upload(client, entry.entry, filled(entry.entry, client, ROWS[:1]), django_capture_on_commit_callbacks)
    with pytest.raises(Conflict) as caught:
        do_resume_upload(entry.org.police_specialist, first)
    assert caught.value.code == "upload_superseded" and "户籍.xlsx" in caught.value.render("en")
    Upload.objects.exclude(pk=first.pk).delete()
    _retyped(entry)
    with pytest.raises(Conflict) as caught:
        do_resume_upload(entry.org.police_specialist, first)
    assert caught.value.code == "upload_outdated"
    assert Upload.objects.get(pk=first.pk).status == "failed"


def test_a_resumed_load_into_a_table_made_again_ends_its_rebuild(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """A replace that made the table again for a retyped version and failed before its first batch: deliveries wait
    (the rebuild stays pending); resumed, it fills the new table and the rebuild ends with it (a new generation)."""
    from govshare.exchange.models import TableBinding

    client = login(Client(), entry.org.police_specialist)
    _five_then_retyped(entry, client, django_capture_on_commit_callbacks)
    do_set_upload_rules(entry.org.police_specialist, entry.entry, delete_guard_percent=100)
    data = filled(entry.entry, client, [[person(n), f"张{n}", "一九九〇"] for n in range(1, 6)])
    with monkeypatch.context() as patch:
        _failing_at(patch, 1)
        failed = upload(client, entry.entry, data, django_capture_on_commit_callbacks, mode="replace")
    pk = failed.json()["id"]
    assert TableBinding.objects.centre_state(entry.entry.pk).rebuild_pending
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/exchange/uploads/{pk}/resume").status_code == 200
    done = Upload.objects.get(pk=pk)
    assert (done.status, done.rebuilt, done.inserted) == ("loaded", True, 5)
    state = TableBinding.objects.centre_state(entry.entry.pk)
    assert not state.rebuild_pending and state.generation == 2
    assert {row[1] for row in centre_rows(entry.entry).values()} == {"一九九〇"}


# -- review of the 21st session: resuming, each finding fixed --------------------------------------------------------

def test_a_cancelled_job_still_deleting_and_the_resumed_job_wipe_the_table(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review of the 21st session: a replace upload's job is cancelled by its owner while it tombstones (the loop
    reported no progress, so the worker went on); the upload reads failed and is resumed; a second job finishes the
    load and drops the run's key list.  The first worker, still in its loop, took every row for unseen: the table
    ended EMPTY.  Now the loop stops once the upload is another job's, and only the job it belongs to ends it."""
    from govshare.core import jobs
    from govshare.core.actions.jobs import do_cancel_job
    from govshare.datastore.engine.store import Store
    from govshare.exchange import uploads
    from govshare.exchange.actions.uploads import do_resume_upload

    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    owner = entry.org.police_specialist
    client = login(Client(), owner)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    do_set_upload_rules(owner, entry.entry, delete_guard_percent=100)
    assert len(centre_rows(entry.entry)) == 5

    real = Store.tombstone
    state = {"nested": False}

    def tombstone(self: Any, table: str, keys: Any, **kwargs: Any) -> Any:
        if not state["nested"]:
            state["nested"] = True
            # the owner cancels the long-running job J1 while it deletes; J1's worker goes on (no progress report in
            # the loop).  The owner resumes the upload (it reads failed: job cancelled); J2 runs to the end.
            first = Upload.objects.get(status="loading")
            do_cancel_job(owner, Job.objects.get(pk=first.job_id))
            resumed = do_resume_upload(owner, first)
            assert resumed.status == "loading" and resumed.job_id != first.job_id
            assert jobs.execute(resumed.job_id, "w2") == "succeeded"
            assert Upload.objects.get(pk=first.pk).status == "loaded"
            assert set(centre_rows(entry.entry)) == {person(1), person(2)}  # right so far
        return real(self, table, keys, **kwargs)

    monkeypatch.setattr(Store, "tombstone", tombstone)
    keep = [[key, name + "新", born] for key, name, born in ROWS[:2]]
    answer = upload(client, entry.entry, filled(entry.entry, client, keep), django_capture_on_commit_callbacks,
                    mode="replace")
    done = Upload.objects.get(pk=answer.json()["id"])
    assert done.status == "loaded"
    # the file's two rows must be in the table; the zombie J1 deleted them after J2 forgot the key list
    assert set(centre_rows(entry.entry)) == {person(1), person(2)}, centre_rows(entry.entry)


def test_a_resumed_replace_deletes_rows_a_binding_copied_after_it_failed_without_the_guard(
        entry: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review of the 21st session: a replace upload fails after its first batch; a binding's copy then writes 100
    newer rows into the centre and is paused.  Resuming the old upload (only later *uploads* were looked for) wrote
    the older file over them and deleted 96 rows past the guard.  A resume is refused once the table changed."""
    from govshare.datastore.engine.store import combine, row_hash
    from govshare.exchange import bindings, uploads
    from govshare.exchange.models import DataSource, TableBinding

    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    owner = entry.org.police_specialist
    client = login(Client(), owner)
    upload(client, entry.entry, filled(entry.entry, client, ROWS), django_capture_on_commit_callbacks)
    assert (Upload.objects.get().status, len(centre_rows(entry.entry))) == ("loaded", 5)
    do_set_upload_rules(owner, entry.entry, delete_guard_percent=50)  # 5 → 4 rows: 1 deletion, under the guard
    with monkeypatch.context() as patch:
        _failing_at(patch, 2)
        failed = upload(client, entry.entry, filled(entry.entry, client, ROWS[:4]), django_capture_on_commit_callbacks,
                        mode="replace")
    pk = failed.json()["id"]
    assert Upload.objects.get(pk=pk).status == "failed"

    # a binding is made and copies (simulated: the copy's run writes into the centre table), then it is paused
    source = DataSource.objects.create(department=entry.entry.provider, name="公安前置库", code="GA-Z", kind="sqlite",
                                       database="x.sqlite3")
    TableBinding.objects.create(entry=entry.entry, version=entry.entry.current_version, source=source,
                                table_name="rkxx", is_active=False)
    import datetime as dt
    copied = [[person(n), f"copy{n}", dt.date(1991, 1, 1)] for n in range(1, 101)]
    with open_store() as store:
        table = table_for(entry.entry)
        shape, key = bindings.store_shape(entry.entry.current_version)
        for start in range(0, 100, 50):
            rows = copied[start:start + 50]
            hashes = [row_hash(r) for r in rows]
            store.apply(table, rows, run_id="copy-1", batch=start // 50 + 1, position={}, rows_read=len(rows),
                        read_hash=combine(hashes), remember=False, hashes=hashes)
    assert len(centre_rows(entry.entry)) == 100

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"{API}/exchange/uploads/{pk}/resume")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "upload_table_changed", answer.content
    rows = centre_rows(entry.entry)
    assert Upload.objects.get(pk=pk).status == "failed" and len(rows) == 100 and rows[person(1)][0] == "copy1"


def test_a_resume_after_a_check_changed_skips_a_row_and_its_replace_deletes_it(
        cat: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """Review of the 21st session: a replace upload fails after its first batch; before it is resumed the checks
    change (a platform update: ``digits_lost`` for a 16-digit number cell of an integer item).  The resumed load read
    the file again without that row, so every later batch started a row later: K3 was never loaded and the replace
    deleted it.  A resumed load whose file no longer reads as it did stops, saying so; nothing is deleted."""
    from govshare.exchange import uploads
    from govshare.exchange.engine import workbook

    spec = [{"name": "编号", "data_type": "C", "length": 10, "description": "", "is_primary_key": True,
             "is_sensitive": False, "masking_rule": ""},
            {"name": "数量", "data_type": "I", "length": None, "description": "", "is_primary_key": False,
             "is_sensitive": False, "masking_rule": ""}]
    entry = cat.published(name="计数表", items=spec)
    monkeypatch.setattr(uploads, "BATCH_ROWS", 2)
    owner = cat.org.police_specialist
    client = login(Client(), owner)
    first = [["K1", 1], ["K2", 2], ["K3", 3], ["K4", 4], ["K5", 5]]
    upload(client, entry, filled(entry, client, first), django_capture_on_commit_callbacks)
    assert len(centre_rows(entry)) == 5
    do_set_upload_rules(owner, entry, delete_guard_percent=100)
    second = [["K1", 1234567890123456], ["K2", 20], ["K3", 30], ["K4", 40], ["K5", 50]]
    with monkeypatch.context() as patch:
        patch.setattr(workbook, "_DIGITS_EXCEL_KEEPS", 10**30)  # the checks as they were when the file came
        _failing_at(patch, 2)
        failed = upload(client, entry, filled(entry, client, second), django_capture_on_commit_callbacks,
                        mode="replace")
    pk = failed.json()["id"]
    assert Upload.objects.get(pk=pk).status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/exchange/uploads/{pk}/resume").status_code == 200
    done = Upload.objects.get(pk=pk)
    rows = centre_rows(entry)
    assert (done.status, done.error_code) == ("failed", "upload_reads_otherwise")
    assert set(rows) == {"K1", "K2", "K3", "K4", "K5"} and rows["K3"] == (3,)
