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
import os
import signal
import threading
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


# ------------------------------------------------------------------ review of the 22nd session
def _excel_date(text: str) -> str:
    """What Excel on a Chinese Windows writes back for a date cell it recognised: 1990-01-01 -> 1990/1/1."""
    if not text:
        return text
    day = dt.date.fromisoformat(text)
    return f"{day.year}/{day.month}/{day.day}"


def _tax_extract(two: Any, columns: list[str]) -> list[list[str]]:
    _read(two.org.market_specialist, two.entry)  # the market's grant is a candidate too
    delivered = _csv_rows(_read(two.tax_specialist, two.entry, format="csv"))
    return _extract(delivered, columns, list(range(1, len(delivered))))


# ------------------------------------------------------------------ 1. Excel re-typed dates: nothing matched


def test_dates_excel_wrote_back_still_trace_to_the_grant_whose_pseudonyms_are_in_the_file(two: Any,
                                                                                       tmp_path: Path) -> None:
    """The tax extract (pseudonymised ID + birth date) opened in Excel and saved again as CSV: dates become
    1990/1/1.  The pseudonym column alone names the tax grant, yet every row digest includes the date."""
    rows = _tax_extract(two, [ID, BORN])
    resaved = [rows[0], *[[token, _excel_date(born)] for token, born in rows[1:]]]
    with open(tmp_path / "外泄.csv", "w", encoding="gb18030", newline="") as out:
        out.write("\r\n".join(",".join(r) for r in resaved) + "\r\n")
    report = trace(tmp_path / "外泄.csv")
    best = report.best
    # expected: the tax grant, all 5 rows (its tokens are all there); actual: 1 / 5 (20 %: only 李小龙, whose
    # birth date is empty) with the note "partial: the data may have changed since" — without that row it is
    # "nothing matched" (exit 1)
    assert best is not None and best.grant == two.tax_grant.number
    assert (best.matched_rows, best.file_rows) == (5, 5), \
        [(c.label, c.matched_rows, c.file_rows) for c in report.candidates]


# ------------------------------------------------------------------ 2. a title row above the header


@pytest.mark.parametrize("saved_as", ["xlsx", "csv"])
def test_a_title_row_above_the_header_is_skipped(two: Any, tmp_path: Path, saved_as: str) -> None:
    """Chinese office sheets nearly always carry a title row (often merged over the columns) above the header;
    trace.py says HEADER_SEARCH is for "a title, blank rows", but the first non-empty row is taken as header."""
    rows = _tax_extract(two, [ID, NAME, BORN])
    titled = [["户籍人口基本信息（税务局）", "", ""], *rows]
    path = tmp_path / f"外泄.{saved_as}"
    if saved_as == "xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        for row in titled:
            sheet.append(row)
        sheet.merge_cells("A1:C1")
        book.save(path)
    else:
        _write_csv(path, titled, encoding="utf-8-sig")
    report = trace(path)
    # expected: header found in row 2 and the tax grant named; actual: header == ['户籍人口基本信息（税务局）'],
    # note no_entry, nothing matched
    assert report.columns[:3] == [ID, NAME, BORN], report.columns
    assert report.best is not None and report.best.grant == two.tax_grant.number


# ------------------------------------------------------------------ 3. the leaker's own columns outnumber items


def test_a_sheet_with_more_of_the_leakers_own_columns_than_items_still_traces(two: Any, tmp_path: Path) -> None:
    """序号 / 联系电话 / 备注 added around two delivered columns: 2 of 5 names are items (< half): no entry at all."""
    rows = _tax_extract(two, [ID, NAME])
    sheet = [["序号", ID, NAME, "联系电话", "备注"],
             *[[str(i), token, name, "13800000000", "核查"] for i, (token, name) in enumerate(rows[1:], 1)]]
    report = trace(_write_csv(tmp_path / "核查名单.csv", sheet))
    # expected: the tax grant (its tokens are all there); actual: no_entry, nothing matched
    assert report.best is not None and report.best.grant == two.tax_grant.number, [n.code for n in report.notes]


# ------------------------------------------------------------------ 4. a grant that covers fewer columns ranks first


def test_a_grant_of_fewer_columns_does_not_outrank_the_grant_whose_tokens_and_names_match(
        two: Any, tmp_path: Path) -> None:
    """A third department holds a grant of 姓名 only (保留姓).  The tax extract [公民身份号码 (tokens), 姓名]; since
    the delivery one ID number was corrected at the source (old key deleted, new key inserted: same person).
    The tax grant explains 4/5 rows with its own tokens; the 姓名-only grant is compared on 姓名 alone, finds
    5/5 and becomes "the most likely source" although it cannot have produced the 公民身份号码 column."""
    civil = do_create_department(two.org.centre_admin, name="龙南市民政局", short_name="民政局",
                                 uscc=make_uscc("360783", 7), code="MZ", jurisdiction=two.org.county)
    civil_user = two.org.user("civil_specialist", civil, Role.DATA_SPECIALIST)
    names_only = do_subscribe_entry(civil_user, two.entry, purpose=PURPOSE, channel="api", items=[NAME])
    _read(civil_user, two.entry)
    found = _write_csv(tmp_path / "found.csv", _tax_extract(two, [ID, NAME]))
    with open_store() as store:  # 张三's ID number corrected at the source
        table = table_for(two.entry)
        store.tombstone(table, [[PEOPLE[3][0]]], run_id="fix", batch=1, position={})
        store.apply(table, [["360783199001011239", "张三", dt.date(1990, 1, 1)]], run_id="fix", batch=2,
                    position={}, rows_read=1, read_hash=combine(()))
    report = trace(found)
    ranking = [(c.label, c.columns, c.matched_rows) for c in report.candidates]
    # actual: [(names_only, ['姓名'], 5), (tax, ['公民身份号码', '姓名'], 4), ...]
    assert report.best is not None and report.best.grant == two.tax_grant.number, ranking
    assert report.best.grant != names_only.number


# ------------------------------------------------------------------ 5. a tiny JSON file exhausts memory


def test_a_huge_exponent_in_a_json_file_is_bounded_not_a_memory_error(db: None, tmp_path: Path) -> None:
    """A 40-byte JSON Lines file: text_of(Decimal('1e999999999999')) formats the number without exponent, a
    string of 10^12 digits: MemoryError escapes trace() (the command crashes with a traceback).  1e999999999 is a
    1 GB string (and its NFKC copy) per cell instead."""
    path = tmp_path / "found.jsonl"
    path.write_text('{"公民身份号码": 1e999999999999}\n', encoding="utf-8")
    report = trace(path)  # actual: MemoryError
    assert not report.matched


class Blocked(Exception):  # noqa: N818 — not an OSError (open_suspect turns those into a refusal)
    pass


# ------------------------------------------------------------------ 6. a FIFO (or /dev/zero) hangs the command


def test_a_path_that_is_not_a_regular_file_is_refused_not_read_forever(db: None, tmp_path: Path) -> None:
    """file_fingerprint() reads until EOF and open_suspect() opens the path again: a named pipe (or /dev/zero,
    /dev/stdin) blocks or never ends.  Expected: refused as not a regular file."""
    fifo = tmp_path / "found.csv"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "w") as out:
            out.write(f"{ID}\nx\n")

    threading.Thread(target=writer, daemon=True).start()

    def timeout(*_: Any) -> None:
        # unblock the second open() so the test can end
        threading.Thread(target=writer, daemon=True).start()
        raise Blocked("trace() blocked on a named pipe")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(5)
    try:
        with pytest.raises(FileRefused):
            trace(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ 7. a JSON document is loaded whole


def test_a_json_list_is_read_in_bounded_memory(db: None, tmp_path: Path) -> None:
    """A JSON list (not JSON Lines) is parsed whole (json.loads of up to MAX_BYTES = 100 MB), all of it even past
    MAX_ROWS: an 8 MB file of small objects takes ~450 MB of Python objects (20 MB: 1.1 GB RSS; 100 MB: ~5 GB).
    The same rows as CSV or JSON Lines stream in a few MB."""
    import tracemalloc

    from govshare.datastore.trace import open_suspect

    path = tmp_path / "found.json"
    path.write_text("[" + ",".join(['{"a":1}'] * 1_000_000) + "]", encoding="utf-8")
    tracemalloc.start()
    try:
        with open_suspect(path) as suspect:
            for _ in suspect.rows:
                pass
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # expected: memory follows MAX_ROWS digests, not the document (say < 64 MB); actual: ~ 400+ MB
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB for an 8 MB file"


# ------------------------------------------------------------------ 8. byte-identical downloads of two grants


def test_the_same_file_downloaded_under_two_grants_names_both_as_indistinguishable_not_one_as_certain(
        two: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two departments with the same masking (the catalog's) download the same CSV: the files are byte for byte
    the same (nothing of the grant is in them), so the hash cannot say which one leaked.  The report still says
    "certain — the file is download <first> (grant <one of them>)", ranks both as exact, and gives no
    "cannot tell apart" — a wrong certain attribution for one of the two departments."""

    civil = do_create_department(two.org.centre_admin, name="龙南市民政局", short_name="民政局",
                                 uscc=make_uscc("360783", 7), code="MZ", jurisdiction=two.org.county)
    civil_user = two.org.user("civil_specialist", civil, Role.DATA_SPECIALIST)
    civil_grant = do_subscribe_entry(civil_user, two.entry, purpose=PURPOSE, channel="api")
    Grant.objects.filter(pk__in=[two.grant.pk, civil_grant.pk]).update(channel="file")
    bodies = []
    for user in (two.org.market_specialist, civil_user):
        client = login(Client(), user)
        with django_capture_on_commit_callbacks(execute=True):
            asked = client.post(f"{API}/data/{two.entry.code}/downloads", {"purpose": PURPOSE, "format": "csv"},
                                content_type="application/json").json()
        bodies.append(b"".join(client.get(f"{API}/data/downloads/{asked['id']}/file").streaming_content))
    assert bodies[0] == bodies[1]  # the precondition: the two grants' files are the same bytes
    assert Download.objects.filter(sha256__isnull=False).values("sha256").distinct().count() == 1
    found = tmp_path / "found.csv"
    found.write_bytes(bodies[0])
    report = trace(found)
    assert {d.grant for d in report.exact} == {two.grant.number, civil_grant.number}
    code, out, _err = _cli(capsys, str(found))
    verdict = out.strip().splitlines()[-1]
    # expected: both grants named as indistinguishable; actual: report.ambiguous == [] and the verdict names one
    assert sorted(report.ambiguous) == sorted([two.grant.number, civil_grant.number]), verdict
    assert two.grant.number in verdict and civil_grant.number in verdict, verdict


# ------------------------------------------------------------------ 9. English reasons inside the Chinese message


def test_a_refusal_reason_is_in_the_readers_language(db: None, tmp_path: Path) -> None:
    """_unreadable() puts untranslated English reasons ("JSON that is not a list of rows…", "line N: …", "JSON:
    …") into the translated message: the zh-hans text is half English."""
    path = tmp_path / "found.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(FileRefused) as refused:
        trace(path)
    shown = refused.value.render("zh-hans")
    assert "无法按表格" in shown
    assert "JSON that is not a list" not in shown, shown


# ------------------------------------------------------------------ 10. a NUL in a column name (PostgreSQL)


def test_a_nul_in_a_column_name_is_refused_or_ignored_not_a_database_error(data: Any, tmp_path: Path) -> None:  # noqa: F811
    """normalise() replaces NUL in cells, _header_name() does not; the names go into the catalog query
    (items__name__in): PostgreSQL refuses a NUL in a string ("A string literal cannot contain NUL") and the trace
    crashes.  A UTF-16 CSV (NUL bytes are allowed there) or a JSON key "\\u0000" carries one.  Passes on SQLite;
    fails on PostgreSQL: python scripts/with_postgres.py -- python -m pytest tests/test_review_trace.py -k nul"""
    path = tmp_path / "found.jsonl"
    path.write_text('{"姓名\\u0000": "张*", "出生日期": "1990-01-01"}\n', encoding="utf-8")
    report = trace(path)  # PostgreSQL: ValueError escapes
    assert report.rows_read == 1


def test_a_file_whose_other_columns_were_all_edited_still_names_the_grant_by_its_pseudonyms(
        two: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review of the 22nd session: the pseudonymised column is compared on its own too — every birth date of the tax
    extract overwritten ("保密") matches no whole row, yet the tokens are the tax grant's alone."""
    rows = _tax_extract(two, [ID, BORN])
    edited = [rows[0], *[[token, "保密"] for token, _born in rows[1:]]]
    found = _write_csv(tmp_path / "外泄.csv", edited)
    report = trace(found)
    best = report.best
    assert best is not None and best.grant == two.tax_grant.number
    assert (best.matched_rows, best.pseudonym_rows, best.pseudonym_columns) == (0, 5, [ID])
    assert any(n.code == "pseudonyms_match" for n in best.notes)
    market = next(c for c in report.candidates if c.grant == two.grant.number)
    assert (market.matched_rows, market.pseudonym_rows) == (0, 0)
    code, out, _err = _cli(capsys, str(found))
    assert code == 0 and two.tax_grant.number in out.strip().splitlines()[-1] and "100.0%" in out


def test_spreadsheet_dates_normalise_to_iso_and_impossible_ones_stay_as_written() -> None:
    assert [normalise(t) for t in ("1990/1/1", "1990-1-1", "1990.01.02", "1990年1月3日", "1990/1/1 8:05",
                                   "1990/1/1 0:00", "1990/2/30", "1990/13/1")] == [
        "1990-01-01", "1990-01-01", "1990-01-02", "1990-01-03", "1990-01-01 08:05:00", "1990-01-01", "1990/2/30",
        "1990/13/1"]
