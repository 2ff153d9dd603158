"""Leak tracing (泄露溯源; issue 11 item 5 ★; SEC-4 usage records, SEC-3 per-grant pseudonyms):
``govshare datastore trace FILE`` takes a file found outside the platform and names the deliveries it can have come
from — a download by its SHA-256 (certain), else the grants ranked by the share of the file's rows found in what
each grant delivers, with their downloads and data-API reads.  The per-grant pseudonyms tell two grants of the same
entry apart even for a partial extract; grants that deliver the same values cannot be told apart, and the report
says so.  A file of other data traces to nothing; a hostile or unreadable file is refused.

Two consumers of the police's 户籍人口基本信息 (5 people in the centre): the market department with the catalog's
masking (公民身份号码 保留前6位和后4位, 姓名 保留姓) and the tax department with 公民身份号码 pseudonymised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.utils.http import urlencode

from govshare.cli import main
from govshare.core.actions import do_create_department
from govshare.core.demo import make_uscc
from govshare.core.files import FileRefused
from govshare.core.roles import Role
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import combine
from govshare.datastore.models import Download
from govshare.datastore.trace import normalise, trace
from govshare.sharing.actions import do_revoke_grant, do_subscribe_entry
from govshare.sharing.models import Grant
from tests.conftest import API, login
from tests.test_data_api import PEOPLE, PURPOSE, data  # noqa: F401 — the fixture: 5 people in the centre

pytestmark = pytest.mark.django_db

ID, NAME, BORN = "公民身份号码", "姓名", "出生日期"


@pytest.fixture
def two(data: Any) -> Any:  # noqa: F811
    """The market's grant (catalog masking) and the tax department's grant of the same entry, 公民身份号码
    pseudonymised (假名化) — both over the api channel, neither has delivered anything yet."""
    tax = do_create_department(data.org.centre_admin, name="龙南市税务局", short_name="税务局",
                               uscc=make_uscc("360783", 9), code="SW", jurisdiction=data.org.county)
    data.tax_specialist = data.org.user("tax_specialist", tax, Role.DATA_SPECIALIST)
    grant = do_subscribe_entry(data.tax_specialist, data.entry, purpose=PURPOSE, channel="api")
    Grant.objects.filter(pk=grant.pk).update(masking={ID: "假名化", NAME: "保留姓"})
    data.tax_grant = Grant.objects.get(pk=grant.pk)
    return data


def _read(user: Any, entry: Any, **params: Any) -> Any:
    params.setdefault("purpose", PURPOSE)
    answer = login(Client(), user).get(f"{API}/data/{entry.code}/rows?{urlencode(params, doseq=True)}")
    assert answer.status_code == 200, answer.content
    return answer


def _body(answer: Any) -> bytes:
    return b"".join(answer.streaming_content) if answer.streaming else answer.content


def _csv_rows(answer: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_body(answer).decode("utf-8").lstrip("\ufeff"))))


def _write_csv(path: Path, rows: list[list[Any]], *, encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def _write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _extract(rows: list[list[str]], columns: list[str], picked: list[int]) -> list[list[str]]:
    """Some rows and some columns of a delivered table (its header first), as a leaker would copy them."""
    header = rows[0]
    at = [header.index(c) for c in columns]
    return [columns, *[[rows[i][j] for j in at] for i in picked]]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["datastore", "trace", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ an unchanged download: certain


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_an_unchanged_downloaded_file_traces_to_its_download_exactly_by_its_sha256(
        two: Any, fmt: str, tmp_path: Path, django_capture_on_commit_callbacks: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    Grant.objects.filter(pk=two.grant.pk).update(channel="file")
    client = login(Client(), two.org.market_specialist)
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(f"{API}/data/{two.entry.code}/downloads", {"purpose": PURPOSE, "format": fmt,
                                                                       "filters": {BORN + "__gte": "1900-01-01"}},
                            content_type="application/json").json()
    body = b"".join(client.get(f"{API}/data/downloads/{asked['id']}/file").streaming_content)
    found = tmp_path / f"found.{fmt}"
    found.write_bytes(body)

    report = trace(found)
    assert [d.id for d in report.exact] == [asked["id"]]
    assert report.exact[0].grant == two.grant.number and report.exact[0].who == "market_specialist"
    assert report.exact[0].filters == [[BORN, "gte", ["1900-01-01"]]]
    best = report.candidates[0]
    assert best.grant == two.grant.number and best.exact
    # the writers' own output reads back exactly: every row is found under the grant that delivered it (李小龙,
    # born on no known day, is not in the file: the filter left him out)
    assert (best.matched_rows, best.file_rows, best.share) == (4, 4, 1.0)
    assert [f.who for f in best.downloads[0].fetches] == ["market_specialist"]
    code, out, _err = _cli(capsys, str(found))
    assert code == 0
    assert "完全一致" in out and "exact match" in out and asked["id"] in out and "market_specialist" in out


# ------------------------------------------------------------------ a partial extract: by the pseudonyms


@pytest.mark.parametrize("saved_as", ["csv", "xlsx"])
def test_a_partial_extract_traces_to_the_right_grant_by_its_pseudonyms_not_the_other(
        two: Any, saved_as: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _read(two.org.market_specialist, two.entry)  # the market reads too: its grant is a candidate as well
    page = _read(two.tax_specialist, two.entry, format="csv", **{BORN + "__gte": "1970-01-01"})
    delivered = _csv_rows(page)
    assert delivered[1][0].startswith("P") and len(delivered[1][0]) == 17  # a pseudonym, not the ID number
    # two rows, two columns in another order, saved again as a leaker would: GB 18030 CSV (Excel on a Chinese
    # Windows) or a workbook with real date cells
    extract = _extract(delivered, [BORN, ID], [1, 3])
    if saved_as == "csv":
        found = _write_csv(tmp_path / "外泄.csv", extract, encoding="gb18030")
    else:
        typed = [extract[0], *[[dt.date.fromisoformat(born), token] for born, token in extract[1:]]]
        found = _write_xlsx(tmp_path / "外泄.xlsx", typed)
    do_revoke_grant(two.org.police_admin, two.tax_grant, reason="停止共享")  # revoked since: still traced

    report = trace(found)
    assert not report.exact and report.rows_read == 2 and report.format == saved_as
    best = report.candidates[0]
    assert best.grant == two.tax_grant.number and best.state == "revoked" and best.pseudonymised
    assert (best.matched_rows, best.file_rows) == (2, 2) and best.masking == {ID: "pseudonym"}
    market = next(c for c in report.candidates if c.grant == two.grant.number)
    assert market.matched_rows == 0  # the market's grant delivers 360783********…, not these tokens
    assert report.ambiguous == [] and best.same_values_as == []
    # the delivery that could have produced it: the tax specialist's read, with its filter
    assert [(r.who, r.calls, r.rows) for r in best.reads.readers] == [("tax_specialist", 1, 3)]
    assert best.reads.latest[0].filters == [[BORN, "gte", ["1970-01-01"]]] and best.reads.latest[0].covers
    code, out, _err = _cli(capsys, str(found))
    assert code == 0
    assert f"最可能的来源 {two.tax_grant.number}" in out and f"most likely source {two.tax_grant.number}" in out
    assert "tax_specialist" in out and "已撤销 / revoked" in out


def test_a_saved_data_api_answer_traces_to_its_grant_and_names_the_read(two: Any, tmp_path: Path) -> None:
    _read(two.tax_specialist, two.entry)
    answer = _read(two.org.market_specialist, two.entry, fields=f"{ID},{NAME}", limit=3)
    found = tmp_path / "answer.json"
    found.write_bytes(_body(answer))
    report = trace(found)
    best = report.candidates[0]
    assert report.format == "json" and best.grant == two.grant.number and (best.matched_rows, best.file_rows) == (3, 3)
    assert best.masking == {ID: "keep:first=6,last=4", NAME: "surname"}
    assert next(c for c in report.candidates if c.grant == two.tax_grant.number).matched_rows == 0
    assert best.reads.latest[0].who == "market_specialist" and best.reads.latest[0].rows == 3


def test_rows_changed_in_the_centre_since_the_delivery_leave_a_partial_match_that_is_still_evidence(
        two: Any, tmp_path: Path) -> None:
    page = _read(two.tax_specialist, two.entry, format="csv")
    found = _write_csv(tmp_path / "found.csv", _csv_rows(page))
    with open_store() as store:  # one birth date corrected at the source since, copied into the centre
        table = table_for(two.entry)
        store.apply(table, [[PEOPLE[0][0], PEOPLE[0][1], dt.date(1966, 10, 11)]], run_id="correction",
                    batch=store.last_batch(table, "correction") + 1, position={}, rows_read=1, read_hash=combine(()))
    report = trace(found)
    best = report.candidates[0]
    assert best.grant == two.tax_grant.number and (best.matched_rows, best.file_rows) == (4, 5)
    assert any(n.code == "partial" for n in report.notes)


def test_an_unmasked_extract_points_at_the_providers_own_reads_not_at_a_grant(two: Any, tmp_path: Path) -> None:
    page = _read(two.org.police_specialist, two.entry, format="csv")  # the provider reads its own data, unmasked
    _read(two.org.market_specialist, two.entry)
    found = _write_csv(tmp_path / "raw.csv", _extract(_csv_rows(page), [ID, NAME], [1, 2]))
    report = trace(found)
    best = report.candidates[0]
    assert best.grant is None and best.state == "own_data" and best.masking == {} and best.matched_rows == 2
    assert [r.who for r in best.reads.readers] == ["police_specialist"]
    assert [c.matched_rows for c in report.candidates[1:]] == [0]  # the market's grant masks both columns


# ------------------------------------------------------------------ ambiguity, nothing, the row cap


def test_two_grants_with_the_same_masks_and_no_pseudonym_cannot_be_told_apart(
        two: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _read(two.tax_specialist, two.entry)
    page = _read(two.org.market_specialist, two.entry, format="csv")
    found = _write_csv(tmp_path / "names.csv", _extract(_csv_rows(page), [NAME, BORN], [1, 2, 3]))
    report = trace(found)
    assert sorted(report.ambiguous) == sorted([two.grant.number, two.tax_grant.number])
    assert all(c.matched_rows == 3 for c in report.candidates[:2])
    assert report.candidates[0].same_values_as == [report.candidates[1].grant]
    code, out, _err = _cli(capsys, str(found))
    assert code == 0 and "无法区分" in out and "cannot tell apart" in out


def test_a_file_of_unrelated_data_traces_to_nothing(two: Any, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _read(two.org.market_specialist, two.entry)
    others = _write_csv(tmp_path / "others.csv", [[ID, NAME, BORN], ["110101********0000", "孙*", "1970-01-01"],
                                                  ["110101********0001", "钱*", "1971-02-02"]])
    report = trace(others)
    assert not report.matched and report.candidates and all(c.matched_rows == 0 for c in report.candidates)
    code, out, _err = _cli(capsys, str(others))
    assert code == 1 and "未找到来源" in out and "nothing matched" in out
    unknown = _write_csv(tmp_path / "firms.csv", [["企业名称", "注册资本"], ["龙南某某有限公司", "100"]])
    report = trace(unknown)
    assert not report.matched and not report.candidates and [n.code for n in report.notes][0] == "no_entry"
    code, out, _err = _cli(capsys, str(unknown), "--json")
    assert code == 1 and json.loads(out)["matched"] is False


def test_the_rows_read_are_capped_and_the_report_says_so(two: Any, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    page = _read(two.org.market_specialist, two.entry, format="csv")
    found = _write_csv(tmp_path / "found.csv", _csv_rows(page))
    code, out, _err = _cli(capsys, str(found), "--json", "--max-rows", "2")
    body = json.loads(out)
    assert code == 0 and body["truncated"] is True and body["rows_read"] == 2
    assert body["candidates"][0]["grant"] == two.grant.number and body["candidates"][0]["share"] == 1.0
    assert "truncated" in [n["code"] for n in body["notes"]]


def test_cells_are_compared_as_the_writers_write_them() -> None:
    assert normalise("'-5 ") == normalise("-5") == "-5"  # CSV's formula-safe quote
    assert normalise("0797") == "797" and normalise("12.50") == "12.5" and normalise("1.5E+3") == "1500"
    assert normalise("2024-01-02T03:04:05.250000") == normalise("2024-01-02 03:04:05") == "2024-01-02 03:04:05"
    assert normalise("1990-01-01 00:00:00") == "1990-01-01" and normalise("TRUE") == "true"
    assert normalise("３６０７８３") == "360783" and normalise(" 张* ") == "张*"


# ------------------------------------------------------------------ hostile and unreadable files


def _zip(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


XLSX_PARTS = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}


@pytest.mark.parametrize(("name", "content", "code"), [
    ("empty.csv", b"", "empty_file"),
    ("report.csv", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "not_a_table"),  # an executable renamed
    ("data.csv", b"\x00\x01\x02binary\x00", "not_a_table"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old_excel_format"),
    ("bomb.xlsx", _zip({**XLSX_PARTS, "xl/worksheets/sheet1.xml": b"\x00" * (8 * 1024 * 1024)}), "zip_bomb"),
    ("macro.xlsx", _zip({**XLSX_PARTS, "xl/vbaProject.bin": b"VBA"}), "macros"),
    ("xxe.xlsx", _zip({**XLSX_PARTS, "xl/sharedStrings.xml": b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'}),
     "xml_doctype"),
    ("archive.xlsx", _zip({"readme.txt": b"hello"}), "not_a_table"),
    ("damaged.xlsx", _zip(XLSX_PARTS), "unreadable_table"),
    ("broken.json", b'{"a": 1}\n' + b"x" * 10, None),  # a bad JSON line is a row of nothing, not a refusal
    ("header.csv", b"\n\n\n", "no_header"),
])
def test_an_unreadable_or_hostile_file_is_refused_with_a_clear_error(
        db: None, tmp_path: Path, name: str, content: bytes, code: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    if code is None:
        assert not trace(path).matched
        return
    with pytest.raises(FileRefused) as refused:
        trace(path)
    assert refused.value.code == code
    assert refused.value.render("en") and name in refused.value.render("en")


def test_the_command_refuses_an_unreadable_file_with_exit_status_2(
        db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _cli(capsys, str(tmp_path / "missing.csv"))
    assert code == 2 and "无法读取文件" in err and "cannot be read" in err
    renamed = tmp_path / "leak.xlsx"
    renamed.write_bytes(b"MZ\x90\x00" + b"\x00" * 64)
    code, out, _err = _cli(capsys, str(renamed), "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "not_a_table"


def test_a_downloaded_file_is_certain_even_when_its_rows_are_not_compared(
        two: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download too large to read back (here: the cap on bytes read lowered) is still named by its hash."""
    from govshare.datastore import trace as tracing

    found = _write_csv(tmp_path / "big.csv", [[ID], ["x"]])
    Download.objects.create(entry=two.entry, grant=two.grant, department=two.org.market, purpose=PURPOSE,
                            items=[ID], format="csv", status="ready",
                            sha256=tracing.file_fingerprint(found)[0])
    monkeypatch.setattr(tracing, "MAX_BYTES", 1)
    report = trace(found)
    assert report.matched and report.exact[0].grant == two.grant.number
    assert [n.code for n in report.notes] == ["rows_not_compared"]


def test_every_trace_leaves_an_access_log_row_naming_the_file_and_the_verdict(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The trace reads every department's deliveries (SEC-4): the operator's console run is in the access log."""
    from govshare.core.audit_codes import AuditCode
    from govshare.core.models import AccessEvent

    path = tmp_path / "unrelated.csv"
    path.write_text("甲,乙\n1,2\n", encoding="utf-8")
    assert _cli(capsys, str(path))[0] == 1
    row = AccessEvent.objects.get(code=AuditCode.DATA_TRACED)
    assert row.detail["matched"] is False and row.object_type == "datastore.trace" and len(row.detail["sha256"]) == 64
