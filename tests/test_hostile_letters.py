"""Issue 9, SHR-2: hostile stamped letters are refused, benign ones pass.

The corpus ``tests/data/hostile_letters/`` (built once by its ``make_corpus.py``, listed in its
``manifest.json``) holds PDFs that hide JavaScript however it is packed (/ASCIIHexDecode,
[/FlateDecode /FlateDecode], object streams, #-escaped names), actions that leave the file by themselves
(/OpenAction or /AA: URI, SubmitForm, ImportData, GoToR, GoToE, Launch), embedded files, rich media, XFA,
encryption, damage, polyglots and bombs, and images that are something else too — plus benign letters.

Every file goes through the checks of ``govshare.core.files`` as the letter channel makes them, and a
few through the real channel (the API's multipart upload and the web form): refused with the letter's
code, the message says what was found, and nothing is stored.  docs/security.md reports the share refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from govshare.core import files
from govshare.sharing import letters
from govshare.sharing.models import Application
from tests.test_sharing_api import payload, problems, upload
from tests.test_sharing_web import field_error, form_post, url

CORPUS = Path(__file__).resolve().parent / "data" / "hostile_letters"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
HOSTILE = [row for row in MANIFEST if row["expected"]]
BENIGN = [row for row in MANIFEST if not row["expected"]]
DOCS = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def check(data: bytes) -> None:
    """The letter channel's checks (govshare.sharing.letters.check_letter), straight from core.files."""
    limit = letters.DEFAULT_MAX_BYTES
    files.check_size(len(data), limit)
    kind = files.require_type(data, letters.ACCEPTED)
    if kind is files.PDF:
        files.check_pdf(data, unpack_budget=4 * limit)
    else:
        files.check_image(data, kind)


@pytest.mark.parametrize("row", HOSTILE, ids=[row["file"] for row in HOSTILE])
def test_a_hostile_letter_is_refused_saying_what_it_hides(row: dict[str, Any]) -> None:
    with pytest.raises(files.FileRefused) as caught:
        check((CORPUS / row["file"]).read_bytes())
    error = caught.value
    assert (error.specific, error.code) == (row["expected"], row["family"])
    zh, en = error.render("zh-hans"), error.render("en")
    assert zh != en and any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)
    if "%(obj)s" in str(error.message):  # names the object, as a reader can find it in the file
        assert f"（对象 {error.params['obj']}）" in zh and f"(object {error.params['obj']})" in en


@pytest.mark.parametrize("row", BENIGN, ids=[row["file"] for row in BENIGN])
def test_a_benign_letter_passes(row: dict[str, Any]) -> None:
    check((CORPUS / row["file"]).read_bytes())


def test_the_corpus_holds_the_hostile_files_the_issue_names_and_nothing_unlisted() -> None:
    assert len(HOSTILE) >= 30 and len(BENIGN) >= 4
    listed = {row["file"] for row in MANIFEST}
    assert {p.name for p in CORPUS.iterdir() if p.suffix in {".pdf", ".png", ".jpg"}} == listed
    named = {"js_objstm_asciihex.pdf", "js_objstm_double_flate.pdf", "uri_openaction.pdf", "submitform_aa.pdf",
             "png_html_polyglot.png"}
    assert named <= listed
    expected = {row["expected"] for row in HOSTILE}
    assert {"pdf_javascript", "pdf_auto_action", "pdf_launch", "pdf_embedded_file", "pdf_rich_media", "pdf_xfa",
            "pdf_encrypted", "image_hidden_content", "image_trailing_data", "image_bomb"} <= expected
    # the second review: a catalog in the trailer, a chain past the limit, actions written as streams,
    # polyglots after the real end or where no viewer looks, web pages and ZIPs in pixel data
    review = {"direct_root_js.pdf", "direct_root_names_xfa.pdf", "uri_after_long_next_chain.pdf",
              "uri_openaction_stream.pdf", "submitform_aa_stream.pdf", "pdf_zip_polyglot.pdf",
              "pdf_trailing_html_then_eof.pdf", "pdf_zip_in_stream.pdf", "pdf_html_in_comment.pdf",
              "png_html_in_idat.png", "png_zip_in_idat.png", "jpeg_html_in_dqt.jpg", "png_ztxt_over_limit.png",
              "ok_exif_thumbnail.jpg", "ok_linearized.pdf", "ok_incremental_update.pdf", "ok_html_words_in_page.pdf"}
    assert review <= listed
    assert {"pdf_action_chain", "pdf_hidden_content", "pdf_trailing_data", "image_text_too_large"} <= expected


def test_the_security_document_reports_every_corpus_file() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [row["file"] for row in MANIFEST if f"`{row['file']}`" not in text]
    assert not missing, f"docs/security.md does not list {missing}"
    assert f"{len(HOSTILE)} of {len(HOSTILE)} hostile" in text and f"0 of {len(BENIGN)} benign" in text


# ------------------------------------------------------------------ through the real channel

THROUGH_CHANNEL = {
    "js_objstm_asciihex.pdf": ("letter_active_content", "JavaScript"),
    "uri_openaction.pdf": ("letter_active_content", "web address"),
    "png_html_polyglot.png": ("letter_active_content", "web page or script"),
    "jpeg_trailing_html.jpg": ("letter_active_content", "after its end"),
    "encrypted_password.pdf": ("letter_damaged", "password"),
}


def stored_letters() -> list[Path]:
    folder = letters.letters_dir()
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.django_db
def test_the_api_refuses_hostile_letters_stores_nothing_and_accepts_a_scanned_one(share: Any) -> None:
    for name, (code, what) in THROUGH_CHANNEL.items():
        response = upload(share.org.market_specialist, "/applications", payload(share),
                          letter=(name, (CORPUS / name).read_bytes()))
        assert response.status_code == 400, (name, response.content)
        problem = problems(response)["letter"]
        assert problem["code"] == code and what in problem["message_en"], (name, problem)
        assert problem["message_zh"] != problem["message_en"]
    assert not Application.objects.exists() and stored_letters() == []
    scanned = (CORPUS / "ok_scanned_letter.pdf").read_bytes()
    response = upload(share.org.market_specialist, "/applications", payload(share), letter=("申请函.pdf", scanned))
    assert response.status_code == 201, response.content
    assert [p.read_bytes() for p in stored_letters()] == [scanned]


@pytest.mark.django_db
def test_the_web_form_refuses_a_hostile_letter_at_its_field_and_stores_nothing(share: Any, client_for: Any) -> None:
    client = client_for(share.org.market_specialist)
    for name in ("js_objstm_double_flate.pdf", "submitform_aa.pdf", "png_trailing_zip.png"):
        letter = SimpleUploadedFile(name, (CORPUS / name).read_bytes(), content_type="application/pdf")
        response = client.post(url("apply", share.conditional.pk), form_post(share, letter=letter))
        assert response.status_code == 400, name
        shown = field_error(response, "letter")
        assert any(word in shown for word in ("JavaScript", "表单数据", "form data", "其他内容", "other content")), shown
    assert not Application.objects.exists() and stored_letters() == []
