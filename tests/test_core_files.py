"""Issue 8: the hostile-file checks every upload channel shares (``govshare.core.files``, SEC-7).

One test per hostile kind, each naming the refusal's stable code.  No database: the checks are pure.
The catalog import (tests/test_catalog_excel.py) and the stamped letter (tests/test_sharing_bad_input.py)
go through the same checks with their own codes.
"""

from __future__ import annotations

import io
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from govshare.core import files
from govshare.core.files import FileRefused, ZipLimits

CORPUS = Path(__file__).resolve().parent / "data" / "hostile_letters"
PDF = (CORPUS / "ok_plain_letter.pdf").read_bytes()
PNG = (CORPUS / "ok_scanned_letter.png").read_bytes()
JPEG = (CORPUS / "ok_scanned_letter.jpg").read_bytes()
LETTER_TYPES = (files.PDF, files.PNG, files.JPEG)
LIMITS = ZipLimits(max_parts=20, max_unpacked=8 * files.MB, max_ratio=100)


def refusal(fn: Any, *args: Any, **kwargs: Any) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        fn(*args, **kwargs)
    error = caught.value
    assert error.render("zh-hans").strip() and error.render("en").strip()
    return error


def archive(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED,
            infos: list[tuple[zipfile.ZipInfo, bytes]] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
        for info, body in infos or []:
            zf.writestr(info, body)
    return out.getvalue()


# ------------------------------------------------------------------ size


def test_an_empty_file_is_refused() -> None:
    assert refusal(files.check_size, 0, 100).code == "empty_file"
    assert refusal(files.read_limited, b"", 100).code == "empty_file"


def test_a_file_over_the_limit_is_refused_and_the_message_gives_both_sizes() -> None:
    error = refusal(files.check_size, 101, 100, field="upload")
    assert (error.code, error.field) == ("file_too_large", "upload")
    assert "101" in error.render("en") and "100" in error.render("en")


def test_a_large_stream_or_file_is_refused_without_being_read_whole(tmp_path: Any) -> None:
    class Stream(io.BytesIO):
        asked: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.asked.append(size if size is not None else -1)
            return super().read(size)

    stream = Stream(b"x" * 10_000)
    assert refusal(files.read_limited, stream, 100).code == "file_too_large"
    assert stream.asked == [101]
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 10_000)
    assert refusal(files.read_limited, big, 100).code == "file_too_large"
    assert refusal(files.read_limited, tmp_path / "missing.bin", 100).code == "file_unreadable"
    assert files.read_limited(big, 10_000) == b"x" * 10_000


# ------------------------------------------------------------------ type by content, not by name


DISGUISED = [
    (b"MZ\x90\x00" + b"\x00" * 60 + PDF, "Windows executable"),
    (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56, "Linux executable (ELF)"),
    (b"\xcf\xfa\xed\xfe" + b"\x00" * 60, "macOS executable (Mach-O)"),
    (b"\xca\xfe\xba\xbe" + b"\x00" * 60, "macOS universal executable or Java class file"),
    (b"#!/bin/sh\nrm -rf /\n" + PDF, "script"),
    (b"PK\x03\x04\x14\x00" + b"\x00" * 40, "ZIP archive"),
    (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40, "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 40, "7-Zip archive"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 40, "gzip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "Office 97-2003 document (may carry macros)"),
]


@pytest.mark.parametrize(("content", "what"), DISGUISED, ids=[what for _content, what in DISGUISED])
def test_an_executable_script_or_archive_under_any_name_is_refused_as_disguised(content: bytes, what: str) -> None:
    error = refusal(files.require_type, content, LETTER_TYPES, field="letter")
    assert (error.code, error.field) == ("disguised_file", "letter")
    assert what in error.render("en")


def test_a_known_but_unexpected_type_is_named_and_unknown_content_is_refused() -> None:
    error = refusal(files.require_type, b"GIF89a" + b"\x00" * 20, LETTER_TYPES)
    assert error.code == "wrong_file_type" and "GIF image" in error.render("en")
    for content in ("我局申请共享。".encode(), b"<!DOCTYPE html><script>alert(1)</script>", b"\x00\x01\x02"):
        assert refusal(files.require_type, content, LETTER_TYPES).code == "wrong_file_type"
    assert files.require_type(PDF, LETTER_TYPES) is files.PDF
    assert files.require_type(b"PK\x03\x04rest", [files.ZIP]) is files.ZIP  # expected, so not disguised


def test_a_refusal_names_the_file_type_in_the_readers_language() -> None:
    """One language per screen: no English type name inside a Chinese sentence (issue 8)."""
    error = refusal(files.require_type, b"MZ\x90\x00" + b"\x00" * 60, LETTER_TYPES)
    zh, en = error.render("zh-hans"), error.render("en")
    assert "Windows 可执行文件" in zh and "executable" not in zh and "PDF 文档、PNG 图片或JPEG 图片" in zh
    assert "Windows executable" in en and "not a PDF document, PNG image or JPEG image" in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)


# ------------------------------------------------------------------ archives


def test_something_that_is_not_a_zip_or_a_damaged_zip_is_refused() -> None:
    assert refusal(files.open_zip, b"plain text", LIMITS).code == "not_zip"
    assert refusal(files.open_zip, b"PK\x03\x04garbage", LIMITS).code == "damaged_zip"


def test_an_archive_with_too_many_parts_is_refused() -> None:
    data = archive({f"part{n}.txt": b"x" for n in range(21)})
    error = refusal(files.open_zip, data, LIMITS)
    assert error.code == "too_many_parts" and "21" in error.render("en")


def test_a_part_compressed_beyond_the_ratio_is_refused_as_a_zip_bomb_without_unpacking_it() -> None:
    data = archive({"bomb.bin": b"\0" * (4 * files.MB)})
    assert len(data) < 100_000
    error = refusal(files.open_zip, data, LIMITS)
    assert error.code == "zip_bomb" and "bomb.bin" in error.render("en")


def test_parts_that_unpack_beyond_the_total_are_refused_as_a_zip_bomb() -> None:
    data = archive({f"p{n}.bin": bytes(range(256)) * 4096 for n in range(3)}, method=zipfile.ZIP_STORED)
    assert refusal(files.open_zip, data, ZipLimits(max_unpacked=2 * files.MB)).code == "zip_bomb"


@pytest.mark.parametrize("name", ["../evil.sh", "docs/../../evil.sh", "/etc/cron.d/evil", "C:/Windows/evil.dll",
                                  "..\\evil.bat", "a\\b.xml"])
def test_a_member_whose_name_escapes_the_archive_is_refused(name: str) -> None:
    error = refusal(files.open_zip, archive({"ok.txt": b"x", name: b"x"}), LIMITS)
    assert error.code == "unsafe_path"


def test_a_symbolic_link_in_an_archive_is_refused() -> None:
    link = zipfile.ZipInfo("data/link")
    link.external_attr = 0o120777 << 16
    assert refusal(files.open_zip, archive({}, infos=[(link, b"/etc/passwd")]), LIMITS).code == "unsafe_path"


def test_an_archive_holding_a_name_twice_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
        data = archive({}, infos=[(zipfile.ZipInfo("a.xml"), b"<a/>"), (zipfile.ZipInfo("a.xml"), b"<b/>")])
    assert refusal(files.open_zip, data, LIMITS).code == "duplicate_part"


def test_an_encrypted_archive_is_refused() -> None:
    data = bytearray(archive({"secret.txt": b"x"}))
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # the "encrypted" flag of the central directory entry
    assert refusal(files.open_zip, bytes(data), LIMITS).code == "encrypted_zip"


def test_a_clean_archive_opens() -> None:
    zf = files.open_zip(archive({"a/b.txt": b"x", "c.xml": b"<c/>"}), LIMITS)
    assert sorted(zf.namelist()) == ["a/b.txt", "c.xml"]


# ------------------------------------------------------------------ office packages


@pytest.mark.parametrize(("extra", "code"), [
    ({"xl/vbaProject.bin": b"VBA"}, "macros"),
    ({"word/vbaProject.bin": b"VBA"}, "macros"),
    ({"[Content_Types].xml": b'<Types><Override ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/>'
                             b"</Types>"}, "macros"),
    ({"xl/externalLinks/externalLink1.xml": b"<externalLink/>"}, "external_links"),
    ({"xl/connections.xml": b"<connections/>"}, "external_links"),
    ({"xl/embeddings/oleObject1.bin": b"OLE"}, "embedded_objects"),
    ({"word/embeddings/package.docx": b"PK"}, "embedded_objects"),
    ({"xl/activeX/activeX1.xml": b"<ax/>"}, "embedded_objects"),
])
def test_an_office_package_with_macros_links_or_embedded_objects_is_refused(extra: dict[str, bytes],
                                                                           code: str) -> None:
    members = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>", **extra}
    zf = files.open_zip(archive(members), LIMITS)
    assert refusal(files.check_office_package, zf, where="book.xlsx").code == code


# ------------------------------------------------------------------ XML


def test_an_xml_part_declaring_a_document_type_is_refused_xxe() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    zf = files.open_zip(archive({"xl/worksheets/sheet1.xml": body}), LIMITS)
    error = refusal(files.scan_xml_parts, zf)
    assert error.code == "xml_doctype" and "sheet1.xml" in error.render("en")


def test_an_entity_declaration_split_across_read_chunks_is_still_found() -> None:
    head = b"<r>" + b" " * (files.SCAN_CHUNK - 5)
    body = head + b"<!ENTITY a 'aaaa'></r>"
    assert body.index(b"<!ENTITY") < files.SCAN_CHUNK < body.index(b"<!ENTITY") + 8
    zf = files.open_zip(archive({"x/_rels/a.rels": body}), LIMITS)
    assert refusal(files.scan_xml_parts, zf).code == "xml_doctype"


def test_an_xml_part_that_is_not_utf8_is_refused() -> None:
    zf = files.open_zip(archive({"a.xml": "<r/>".encode("utf-16")}), LIMITS)
    assert refusal(files.scan_xml_parts, zf).code == "xml_encoding"


def test_the_streaming_parser_refuses_entities_and_reads_plain_xml() -> None:
    seen: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        seen.append(name)

    with pytest.raises(files.ForbiddenXml):
        files.expat_parse(io.BytesIO(b'<!DOCTYPE r [<!ENTITY a "aa">]><r>&a;</r>'), start)
    with pytest.raises(files.ForbiddenXml):
        files.expat_parse(io.BytesIO(b'<!DOCTYPE r SYSTEM "http://evil.example/r.dtd"><r/>'), start)
    files.expat_parse(io.BytesIO(b'<r xmlns="urn:x"><c/></r>'), start)
    assert seen[-2:] == ["urn:x}r", "urn:x}c"]


# ------------------------------------------------------------------ PDF and images


# The hostile corpus (JavaScript however packed, actions, polyglots, bombs …) is tests/test_hostile_letters.py.


def with_stream(pdf: bytes, body: bytes) -> bytes:
    """``pdf`` with one more Flate stream object (the offsets no longer match: qpdf must repair)."""
    packed = zlib.compress(body)
    return pdf.replace(b"endobj\n", b"endobj\n9 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
                       + packed + b"\nendstream\nendobj\n", 1)


def test_a_pdf_with_javascript_is_refused_naming_the_object_in_the_readers_language() -> None:
    error = refusal(files.check_pdf, PDF.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction 6 0 R")
                    .replace(b"\nxref\n", b"\n6 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\nxref\n"),
                    unpack_budget=1_000_000)
    assert (error.code, error.specific) == ("active_content", "pdf_javascript")
    assert "JavaScript（对象 6 0 R）" in error.render("zh-hans") and "(object 6 0 R)" in error.render("en")


def test_a_pdf_that_unpacks_beyond_the_budget_is_refused() -> None:
    error = refusal(files.check_pdf, with_stream(PDF, b"0" * 90_000), unpack_budget=10_000)
    assert (error.code, error.specific) == ("file_too_large", "pdf_bomb") and "10000" in error.render("en")


def test_the_budget_counts_every_stream_together() -> None:
    files.check_pdf(PDF, unpack_budget=1000)
    bigger = with_stream(PDF, bytes(range(256)) * 3)  # 768 more bytes unpacked
    assert refusal(files.check_pdf, bigger, unpack_budget=800).specific == "pdf_bomb"


def test_a_pdf_of_more_objects_than_a_letter_has_is_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(files, "PDF_MAX_OBJECTS", 3)  # the plain letter has six
    error = refusal(files.check_pdf, PDF, unpack_budget=100_000)
    assert (error.code, error.specific) == ("file_too_large", "pdf_too_many_objects")


def test_a_name_inside_a_string_is_text_not_active_content() -> None:
    quoted = PDF.replace(b"/Type /Catalog", b"/Type /Catalog /Lang (see /JS and /OpenAction \\(1\\))")
    with pytest.raises(FileRefused) as caught:
        files.check_pdf(quoted, unpack_budget=100_000)
    assert caught.value.specific == "pdf_repaired"  # the offsets moved; nothing active was found first


def test_a_pdf_that_reads_only_after_repair_is_refused_and_a_clean_one_passes() -> None:
    assert refusal(files.check_pdf, with_stream(PDF, b"q Q"), unpack_budget=100_000).specific == "pdf_repaired"
    files.check_pdf(PDF, unpack_budget=100_000)


def test_a_truncated_pdf_png_or_jpeg_is_refused_as_damaged() -> None:
    assert refusal(files.check_pdf, PDF[: PDF.index(b"%%EOF")], unpack_budget=1000).code == "damaged_file"
    assert refusal(files.check_image, PNG[:40], files.PNG).code == "damaged_file"
    assert refusal(files.check_image, JPEG[:-2], files.JPEG).code == "damaged_file"
    files.check_image(PNG, files.PNG)
    files.check_image(JPEG, files.JPEG)


def test_an_image_header_claiming_too_many_pixels_is_refused_before_decoding() -> None:
    bomb = (CORPUS / "png_pixel_bomb.png").read_bytes()
    error = refusal(files.check_image, bomb, files.PNG)
    assert (error.code, error.specific) == ("file_too_large", "image_bomb")
    assert "60000 × 60000" in error.render("en")


def test_a_user_file_name_is_kept_only_as_a_label() -> None:
    assert files.clean_name("../../etc/申请函.pdf") == "申请函.pdf"
    assert files.clean_name("C:\\Users\\x\\scan\x00.png") == "scan.png"
    assert files.clean_name("/", "letter") == "letter"


def test_a_channel_renames_a_refusal_and_keeps_its_message() -> None:
    error = refusal(files.check_size, 0, 10)
    renamed = error.renamed("letter_empty", field="letter")
    assert (renamed.code, renamed.field, renamed.render("en")) == ("letter_empty", "letter",
                                                                   "application letter: " + error.render("en"))
    assert renamed.specific == "empty_file"
    active = refusal(files.check_image, PNG + b"<html>", files.PNG).renamed("letter_active_content")
    assert (active.code, active.specific) == ("letter_active_content", "image_trailing_data")


# ------------------------------------------------------------------ markers of other files (review 2)


def photo_with_exif_thumbnail(seed: int) -> tuple[bytes, bytes]:
    """A grey photo with an EXIF thumbnail of JPEG-compressed noise (as tests/data/hostile_letters/
    make_corpus.py builds ok_exif_thumbnail.jpg), and its EXIF segment."""
    import random
    import struct

    from PIL import Image

    noise = Image.frombytes("RGB", (96, 72), random.Random(seed).randbytes(96 * 72 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=90)
    thumb = out.getvalue()
    start = 8 + 6 + 2 + 24 + 4
    tiff = (b"II*\x00" + struct.pack("<IHIH", 8, 0, 14, 2) + struct.pack("<HHII", 0x0201, 4, 1, start)
            + struct.pack("<HHII", 0x0202, 4, 1, len(thumb)) + struct.pack("<I", 0) + thumb)
    exif = b"Exif\x00\x00" + tiff
    base = io.BytesIO()
    Image.new("L", (120, 90), 200).save(base, "JPEG")
    photo = base.getvalue()
    return photo[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + photo[2:], exif


#: seeds whose thumbnails hold a short pattern (``<a ``, ``<img`` …) by chance (2 in the first 400), and
#: three that do not
SHORT_PATTERN_SEEDS = (336, 392)
PHOTO_SEEDS = (*SHORT_PATTERN_SEEDS, 0, 1, 2)


def test_photos_whose_binary_thumbnail_holds_a_short_tag_by_chance_pass() -> None:
    photos = [photo_with_exif_thumbnail(seed) for seed in PHOTO_SEEDS]
    by_chance = [seed for seed, (_photo, exif) in zip(PHOTO_SEEDS, photos, strict=True) if files.IMAGE_HIDDEN.search(exif)]
    assert set(SHORT_PATTERN_SEEDS) <= set(by_chance)  # the old check refused these
    for photo, _exif in photos:
        files.check_image(photo, files.JPEG)


def test_a_short_tag_in_a_jpeg_comment_is_refused_and_a_long_marker_anywhere() -> None:
    comment = JPEG[:2] + b"\xff\xfe\x00\x0c<a href=x>" + JPEG[2:]
    assert refusal(files.check_image, comment, files.JPEG).specific == "image_hidden_content"
    binary = b"\x00\x01<a href=x><img src=x>\x02"
    app2 = JPEG[:2] + b"\xff\xe2" + (len(binary) + 2).to_bytes(2, "big") + binary + JPEG[2:]
    files.check_image(app2, files.JPEG)  # short tags in a binary segment: chance, not a page
    svg = b"\x00<svg/onload=alert(1)>\x00"
    app2 = JPEG[:2] + b"\xff\xe2" + (len(svg) + 2).to_bytes(2, "big") + svg + JPEG[2:]
    error = refusal(files.check_image, app2, files.JPEG)
    assert (error.specific, error.params["offset"]) == ("image_hidden_content", 7)
    assert "web page or script" in error.render("en")


def test_a_zip_end_record_counts_only_where_a_reader_would_find_its_directory() -> None:
    stray = b"%PDF-1.7 " + b"PK\x05\x06" + bytes(18) + b" noise"
    assert files.zip_record(stray) is None
    real = archive({"a.html": b"<b>x</b>"})
    assert files.zip_record(b"x" * 50 + real, headers=False) == 50 + real.index(b"PK\x05\x06")
    assert files.zip_record(b"x" * 50 + real) == 50


# ------------------------------------------------------------------ multi-picture JPEGs (phone photos)


def multi_picture(*further: Any) -> bytes:
    """The scanned letter photographed with further pictures after it, as phones write HDR gain maps
    and depth maps (Pillow's MPO writer: an APP2 "MPF" index in the first picture, the others appended)."""
    from PIL import Image

    photo = Image.open(io.BytesIO(JPEG)).convert("RGB")
    out = io.BytesIO()
    photo.save(out, format="MPO", save_all=True, append_images=list(further))
    return out.getvalue()


def _gain_map() -> Any:
    from PIL import Image

    return Image.new("RGB", (16, 12), (128, 128, 128))


def test_a_phone_photo_with_a_gain_map_after_it_passes_as_a_letter() -> None:
    """SHR-2: departments photograph their stamped application letters with phones."""
    data = multi_picture(_gain_map(), _gain_map())
    files.check_image(data, files.JPEG)  # two further pictures after the photo: accepted
    assert data.count(b"\xff\xd8") >= 3 and b"MPF\x00" in data


@pytest.mark.parametrize("after, specific", [
    (b"<html><script>alert(1)</script></html>", "image_trailing_data"),  # a page after the last picture
    (b"\x00" * 16, "image_trailing_data"),  # padding is not a picture
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image_trailing_data"),  # a picture cut short
])
def test_anything_but_whole_pictures_after_a_multi_picture_jpeg_is_refused(after: bytes, specific: str) -> None:
    error = refusal(files.check_image, multi_picture(_gain_map()) + after, files.JPEG)
    assert error.specific == specific


def test_a_further_picture_without_the_first_declaring_it_is_refused() -> None:
    """Appending a JPEG to a plain JPEG is still "content after its end": only a picture whose header
    declares further pictures (MPF) may have them."""
    from PIL import Image

    second = io.BytesIO()
    Image.new("RGB", (8, 8)).save(second, format="JPEG")
    assert b"MPF\x00" not in JPEG
    assert refusal(files.check_image, JPEG + second.getvalue(), files.JPEG).specific == "image_trailing_data"


def test_a_further_picture_is_checked_like_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = multi_picture(_gain_map(), _gain_map())
    # a script in a further picture's comment segment
    at = hidden.rindex(b"\xff\xd8")
    comment = b"<script>alert(1)</script>"
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    scripted = hidden[:at + 2] + segment + hidden[at + 2:]
    assert refusal(files.check_image, scripted, files.JPEG).specific == "image_hidden_content"
    # more further pictures than a phone writes
    many = multi_picture(*[_gain_map() for _ in range(files.JPEG_MAX_FURTHER_PICTURES + 1)])
    assert refusal(files.check_image, many, files.JPEG).specific == "image_trailing_data"
    # a further picture with more pixels than allowed, after a first one within the limit
    from PIL import Image

    width, height = Image.open(io.BytesIO(JPEG)).size
    larger = multi_picture(Image.new("RGB", (width + 8, height + 8), (128, 128, 128)))
    monkeypatch.setattr(files, "IMAGE_MAX_PIXELS", width * height)
    assert refusal(files.check_image, larger, files.JPEG).specific == "image_bomb"
    files.check_image(multi_picture(Image.new("RGB", (8, 8))), files.JPEG)  # the same limit, a small one


def test_a_further_picture_is_read_for_what_only_its_own_checks_find() -> None:
    from PIL import Image

    data = multi_picture(_gain_map())
    end = files._jpeg_parts(data)[1]
    # a link in a further picture's comment: found by the text check, not by the whole-file markers
    comment = b'<a href="http://evil.example/">'
    linked = data[:end + 2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[end + 2:]
    assert refusal(files.check_image, linked, files.JPEG).specific == "image_hidden_content"
    # a "picture" with no frame at all where the index says one starts: it does not decode
    frameless = data[:end] + b"\xff\xd8\xff\xfe\x00\x04ab\xff\xd9"
    assert refusal(files.check_image, frameless, files.JPEG).specific == "image_damaged"
    # two further pictures, each smaller than the photo, together larger: more decoding than a phone asks for
    width, height = Image.open(io.BytesIO(JPEG)).size
    half = Image.new("RGB", (width, height // 2 + 4))
    assert refusal(files.check_image, multi_picture(half, half), files.JPEG).specific == "image_bomb"


def test_the_pictures_after_the_first_must_be_those_its_index_names() -> None:
    one = multi_picture(_gain_map())
    end = files._jpeg_parts(one)[1]
    extra = one[end:]  # a complete JPEG the index does not name
    assert refusal(files.check_image, one + extra, files.JPEG).specific == "image_trailing_data"
    # an APP2 "MPF" segment with no index in it does not declare anything
    segment = b"\xff\xe2\x00\x06MPF\x00"
    bare = JPEG[:2] + segment + JPEG[2:] + extra
    assert refusal(files.check_image, bare, files.JPEG).specific == "image_trailing_data"
    # an index that names a picture elsewhere than where one starts
    mpf = one.index(b"MPF\x00") + 4
    shifted = bytearray(one)
    entries = files._mpf_pictures(one)
    assert entries == [(end, entries[0][1])]
    at = one.index((end - mpf).to_bytes(4, "little"), mpf)  # the second entry's offset (little-endian index)
    shifted[at:at + 4] = (end - mpf + 1).to_bytes(4, "little")
    assert refusal(files.check_image, bytes(shifted), files.JPEG).specific == "image_trailing_data"
