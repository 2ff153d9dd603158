"""Leak tracing (泄露溯源; issue 11 item 5, SEC-3, SEC-4): which deliveries can a file found outside the platform
have come from?

Every delivery leaves a fingerprint.  A batch download keeps its file's SHA-256, the grant, who asked (a person
or a consuming system), when, the items and the filters (:class:`~govshare.datastore.models.Download`), and each
fetch of the file an access-log row (``DATA_DOWNLOADED``); every page of the data API an access-log row
(``DATA_ROWS_READ``: who, the grant, the fields, the filters, the rows).  :func:`trace` takes a file — CSV, XLSX,
JSON Lines or a saved data-API answer (JSON) — and:

1. reads it as a hostile file (:mod:`govshare.core.files`: its type by content, the ZIP-bomb limits, macros,
   external links and XML document types of a workbook; lines, cells and columns bounded): its header row and
   at most :data:`MAX_ROWS` rows (the report says when it stopped there);
2. compares the SHA-256 of the whole file with every download's — an equal hash is certain: that very file;
3. finds the catalog entries with recorded deliveries whose published items are the file's column names (all,
   or at least half of them), and the grants those deliveries went through — revoked and expired grants too;
   the provider's own (unmasked) reads and downloads count as one more source;
4. for each grant, masks the centre's *current* rows as the grant delivers them (only the file's columns the
   grant covers, page by page, through the one masking library and the grant's own pseudonym key) and counts
   how many of the file's rows are among them.  Rows are compared as tuples of cell texts normalised the way
   the writers write them (:func:`normalise`: CSV's formula-safe quote, numbers, dates, booleans) and kept as
   64-bit hashes, so memory is bounded by the file's distinct rows, never by the centre's;
5. ranks: exact hash hits first, then the grants by the share of the file's rows found, each with its
   deliveries (downloads: when, who, format, filters, SHA-256, fetches; data-API reads: when, who, fields,
   filters, rows) and whether each delivery covered the file's columns.

Pseudonymised items (``pseudonym``: a per-grant key) make the grants tell apart — the same person has another
token under each grant — even for a few rows and columns of a file.  Grants that deliver the same values of the
compared columns (the same masks, no pseudonym) cannot be told apart: the report says so.  The centre's data may
have changed since the delivery (rows changed or deleted since are not found): a partial share is still
evidence, and the report gives it as rows matched / file rows.

The trace only reads (the platform database, the access log, the centre); the console command
(``govshare datastore trace``) prints it.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import math
import os
import re
import stat
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.excel.read import damage_reason
from govshare.catalog.models import CatalogEntry
from govshare.core import exports, files, masking, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AccessEvent
from govshare.datastore import centre, delivery
from govshare.datastore.engine import reader
from govshare.datastore.engine.store import StoreError
from govshare.datastore.models import Download
from govshare.sharing.access import Decision
from govshare.sharing.models import Grant

#: the most data rows of a file compared (the report says when the file has more)
MAX_ROWS = 200_000
#: the most columns of a file read
MAX_COLUMNS = 1000
#: the longest line of a text file (characters)
MAX_LINE = 1 << 20
#: the largest file read (a workbook is read into memory; a JSON list is read one row at a time)
MAX_BYTES = 100 * files.MB
#: the largest JSON document read whole (one that is not a list of rows: a data-API answer saved as it came) and
#: the longest JSON line or row — a parsed document takes some 50 times its size in memory
MAX_JSON_DOCUMENT = 4 * files.MB
#: decimals beyond this exponent are compared as written (``1e999999999`` is not written out in a billion digits)
MAX_EXPONENT = 60
XLSX_LIMITS = files.ZipLimits(max_parts=1000, max_unpacked=256 * files.MB, max_ratio=100)
#: the rows a table's header may be preceded by (a title, blank rows): :func:`_header_at`
HEADER_SEARCH = 20
#: rows read from the centre per page
PAGE_ROWS = 5000
#: the data-API reads listed per grant (all are counted)
LISTED_READS = 20
#: fewer distinct rows found than this, without a pseudonymised column: the match is reported as weak evidence
FEW_ROWS = 3
SNIFF_BYTES = 64 * 1024
ENTRY_TYPE = "catalog.catalogentry"
DELIVERY_CODES = (int(AuditCode.DATA_ROWS_READ), int(AuditCode.DATA_DOWNLOADED), int(AuditCode.DATA_DELIVERED))
#: answered: a refused call delivered nothing; the worker's deliveries into front-end tables have no HTTP status
ANSWERED = Q(status__lt=400) | Q(status__isnull=True)


# ------------------------------------------------------------------ the report


@dataclass
class Note:
    """Something the reader of the report must know, as a stable code with its parameters (the command renders
    it in Chinese and English)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fetch:
    at: dt.datetime
    who: str
    name: str
    department: str


@dataclass
class DownloadRecord:
    """A batch download: what was asked, by whom, and the file's fingerprint."""

    id: str
    entry: str
    grant: str | None
    created_at: dt.datetime
    ready_at: dt.datetime | None
    status: str
    who: str  # the user name, or system:<code>
    name: str
    department: str
    format: str
    items: list[str]
    filters: list[Any]
    rows: int | None
    sha256: str
    covers: bool  # its items include every compared column of the file
    fetches: list[Fetch] = field(default_factory=list)


@dataclass
class ReadRecord:
    """One answered page of the data API."""

    at: dt.datetime
    who: str
    name: str
    department: str
    fields: list[str]
    filters: list[Any]
    format: str
    rows: int | None
    covers: bool


@dataclass
class Reader:
    who: str
    name: str
    department: str
    calls: int
    rows: int


@dataclass
class Reads:
    """The data-API reads under one grant: totals, who read, and the latest that covered the file's columns."""

    calls: int = 0
    rows: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    readers: list[Reader] = field(default_factory=list)
    latest: list[ReadRecord] = field(default_factory=list)


@dataclass
class Candidate:
    """A grant (or the provider's own data, ``grant`` None) whose deliveries can have produced the file."""

    entry: str
    entry_name: str
    grant: str | None
    state: str  # active, pending, expired, revoked; "own_data" for the provider's own reads
    consumer: str
    consumer_code: str
    system: str
    purpose: str
    channel: str
    columns: list[str]  # the file's columns compared: those the grant covers
    masking: dict[str, str]  # compared column → the mask it is delivered with (structured form)
    pseudonymised: bool
    file_rows: int
    matched_rows: int = 0
    distinct_matched: int = 0
    #: the pseudonymised columns alone: the file's rows whose tokens the grant delivers (a token is the grant's own,
    #: even where the row's other cells were edited, re-typed or changed since)
    pseudonym_columns: list[str] = field(default_factory=list)
    pseudonym_rows: int = 0
    exact: bool = False  # one of its downloads is this very file
    same_values_as: list[str] = field(default_factory=list)  # grants delivering the same values of the columns
    downloads: list[DownloadRecord] = field(default_factory=list)
    reads: Reads = field(default_factory=Reads)
    notes: list[Note] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.matched_rows / self.file_rows if self.file_rows else 0.0

    @property
    def evidence(self) -> int:
        """The cells of the file it accounts for: rows matched × columns compared, or — when more — the rows whose
        pseudonyms it delivers × those columns.  A grant that matched whole rows of more columns outranks one that
        matched fewer (review of the 22nd session: a grant of 姓名 alone outranked the grant whose tokens were in
        the file)."""
        return max(self.matched_rows * len(self.columns), self.pseudonym_rows * len(self.pseudonym_columns))

    @property
    def label(self) -> str:
        return self.grant or f"{self.entry} own data"


@dataclass
class EntryChecked:
    """A catalog entry the file's columns point to."""

    code: str
    name: str
    columns: list[str]  # the file's columns that are its items
    candidates: int = 0
    notes: list[Note] = field(default_factory=list)


@dataclass
class TraceReport:
    path: str
    size: int
    sha256: str
    format: str = ""  # csv, xlsx, jsonl, json ("" when the file could not be read as a table)
    encoding: str = ""
    columns: list[str] = field(default_factory=list)
    rows_read: int = 0  # data rows compared (blank rows left out)
    truncated: bool = False  # the file has more rows than MAX_ROWS
    max_rows: int = MAX_ROWS
    exact: list[DownloadRecord] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)  # ranked
    entries: list[EntryChecked] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)  # the best grants, which cannot be told apart
    notes: list[Note] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        """Whether anything matched: an exact hash, or some of the file's rows under some grant."""
        return bool(self.exact) or any(c.matched_rows or c.pseudonym_rows for c in self.candidates)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates and self.candidates[0].evidence else None

    def as_dict(self) -> dict[str, Any]:
        body = _plain(asdict(self))
        body["matched"] = self.matched
        for shown, candidate in zip(body["candidates"], self.candidates, strict=True):
            shown["share"] = round(candidate.share, 4)
        return body


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


# ------------------------------------------------------------------ cell texts


_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]{1,2}")
_DATETIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2})(:[0-9]{2})?(?:\.[0-9]{1,9})?")
#: a date (and time) as a spreadsheet writes it back: ``1990/1/1``, ``1990-1-1``, ``1990.1.1``, ``1990年1月1日``,
#: with ``8:05`` or ``8:05:09`` after it
_LOCAL_DATE = re.compile(r"([0-9]{4})(?:[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})|年([0-9]{1,2})月([0-9]{1,2})日?)"
                         r"(?:[T ]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?:\.[0-9]{1,9})?)?")


def text_of(value: Any) -> str:
    """A value as the writers write it: decimals without exponent (JSON keeps them as text), dates ISO, date and
    time as CSV does (``YYYY-MM-DD HH:MM:SS``), booleans ``true``/``false``, nothing as an empty text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, Decimal):
        # a huge exponent is left as written: writing it out would take memory without bound (a 40-byte JSON file
        # asked for terabytes — review of the 22nd session)
        return format(value, "f") if value.is_finite() and abs(value.adjusted()) <= MAX_EXPONENT else str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if math.isfinite(value) else repr(value)
    if isinstance(value, dt.datetime):
        return exports.to_text(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def normalise(text: str) -> str:
    """The form a cell is compared in, the same for the centre's values and the file's cells: NFKC (full-width
    forms half-width), spaces around removed, CSV's formula-safe quote (``'=…``) removed, ``true``/``false`` in
    small letters, a number without its sign ``+``, leading zeros, trailing decimal zeros or exponent (Excel
    drops them), a date and time without fractions of a second (CSV drops them) and without ``00:00:00`` (a
    workbook's date cell)."""
    t = unicodedata.normalize("NFKC", text).replace("\x00", "\ufffd").strip()
    if t[:1] == "'" and t[1:2] and t[1] in exports.FORMULA_PREFIXES:
        t = t[1:].strip()
    lowered = t.lower()
    if lowered in ("true", "false"):
        return lowered
    number = _NUMBER.fullmatch(t)
    if number and (number.group(2) or number.group(3)):
        sign, whole, fraction = number.group(1), number.group(2).lstrip("0") or "0", (number.group(3) or "")
        fraction = fraction.rstrip("0")
        shown = whole + ("." + fraction if fraction else "")
        return "-" + shown if sign == "-" and shown != "0" else shown
    if _EXPONENT.fullmatch(t):
        with contextlib.suppress(InvalidOperation, ValueError):
            return normalise(format(Decimal(t), "f"))
    moment = _DATETIME.fullmatch(t)
    if moment:
        clock = moment.group(2) + (moment.group(3) or ":00")
        return moment.group(1) if clock == "00:00:00" else f"{moment.group(1)} {clock}"
    local = _LOCAL_DATE.fullmatch(t)
    if local:  # Excel's re-typed dates (review of the 22nd session): 1990/1/1 is 1990-01-01
        year, month, day = int(local.group(1)), int(local.group(2) or local.group(4)), int(local.group(3)
                                                                                              or local.group(5))
        try:
            day_text = dt.date(year, month, day).isoformat()
        except ValueError:
            return t
        if local.group(6) is None:
            return day_text
        clock = f"{int(local.group(6)):02d}:{local.group(7)}:{local.group(8) or '00'}"
        return day_text if clock == "00:00:00" else f"{day_text} {clock}"
    return t


def cell(value: Any) -> str:
    return normalise(text_of(value))


def row_digest(cells: Sequence[str]) -> int:
    """64 bits of BLAKE2b over a row's normalised cells (NUL cannot be in a normalised cell: it separates)."""
    joined = "\x00".join(cells).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(joined, digest_size=8).digest(), "big")


# ------------------------------------------------------------------ reading the file (hostile until checked)


@dataclass
class Suspect:
    """The file as a table: its format, its header (normalised names) and its rows (normalised cells, as many as
    the header has columns)."""

    format: str
    encoding: str
    header: list[str]
    rows: Iterator[list[str]]


def _refuse(code: str, message: Any, where: str, **params: Any) -> files.FileRefused:
    return files.refuse(code, message, where=where, **params)


def _not_table(where: str, what: Any) -> files.FileRefused:
    return _refuse("not_a_table", _("The file is a %(what)s, not a table: trace a CSV, XLSX or JSON Lines file."),
                   where, what=what)


def _unreadable(where: str, reason: Any) -> files.FileRefused:
    return _refuse("unreadable_table", _("The file cannot be read as a table (CSV, XLSX or JSON Lines): "
                                         "%(reason)s."), where, reason=reason if not isinstance(reason, str)
                   else reason[:200])


def _header_name(value: Any) -> str:
    """A column name as written (item names are compared exactly): without a byte-order mark, spaces around or
    CSV's formula-safe quote."""
    name = text_of(value).replace("\x00", "\ufffd").lstrip("\ufeff").strip()
    if name[:1] == "'" and name[1:2] and name[1] in exports.FORMULA_PREFIXES:
        name = name[1:].strip()
    return name


@contextlib.contextmanager
def open_suspect(path: str | Path) -> Iterator[Suspect]:
    """The file at ``path`` read as a table, or :class:`~govshare.core.files.FileRefused`: an empty file, an
    executable, archive or other non-table file (by content, whatever its name), an old ``.xls``, a damaged or
    dangerous workbook, a line over :data:`MAX_LINE` characters, a file without a header row."""
    path = Path(path)
    where = path.name
    _regular_file(path)
    with contextlib.ExitStack() as stack:
        try:
            raw: IO[bytes] = stack.enter_context(open(path, "rb"))  # noqa: SIM115 — closed by the stack
            head = raw.read(SNIFF_BYTES)
        except OSError as exc:
            raise files.refuse("file_unreadable", _("The file cannot be read: %(reason)s."), where=where,
                               reason=exc.strerror or str(exc)) from None
        files.check_size(len(head), MAX_BYTES, where=where)
        kind = files.detect(head)
        if kind is files.ZIP:
            raw.close()
            yield _open_xlsx(path, where, stack)
            return
        if kind is files.OLE2:
            raise _refuse("old_excel_format", _("The file is an Excel 97-2003 workbook (.xls) or a password-protected "
                                                "one; save it as an unprotected .xlsx or as CSV and trace that."),
                          where)
        if kind is not None:
            raise _not_table(where, kind.label)
        encoding = _encoding(head)
        if encoding not in ("utf-16",) and b"\x00" in head:
            raise _not_table(where, _("binary file"))
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        start = head.decode(encoding, errors="replace").lstrip("\ufeff \t\r\n")
        if start[:1] in ("{", "["):
            yield _open_json(text, path, where, encoding, start)
        else:
            yield _open_csv(text, where, encoding, start)


def _regular_file(path: Path) -> None:
    """Refuse what is not a regular file — a directory, a named pipe (read, it would wait for a writer for ever), a
    device (``/dev/zero`` never ends) — before opening it (review of the 22nd session)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise files.refuse("file_unreadable", _("The file cannot be read: %(reason)s."), where=path.name,
                           reason=exc.strerror or str(exc)) from None
    if not stat.S_ISREG(mode):
        raise files.refuse("not_a_regular_file", _("%(name)s is not a file but a directory, pipe or device: trace a "
                                                   "file."), where=path.name, name=path.name)


def _header_at(rows: list[list[str]]) -> int:
    """Which of a table's first non-blank rows (their names, as :func:`_header_name` gives them) is its header: the
    first that names an item of a catalog entry; else the first with the most names — a title above the header (an
    office sheet's merged title row, "户籍人口基本信息（税务局）") has fewer (review of the 22nd session)."""
    names = {name for row in rows for name in row if name}
    known = set(CatalogEntry.objects.filter(current_version__items__name__in=names)
                .values_list("current_version__items__name", flat=True)) if names else set()
    for at, row in enumerate(rows):
        if known & set(row):
            return at
    most = max(sum(1 for name in row if name) for row in rows)
    return next(at for at, row in enumerate(rows) if sum(1 for name in row if name) == most)


def _encoding(head: bytes) -> str:
    """UTF-8 (with or without its byte-order mark), UTF-16 with its mark (Excel's "Unicode text"), else GB 18030
    (a CSV saved by Excel on a Chinese Windows)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _lines(text: IO[str], where: str, longest: int = MAX_LINE) -> Iterator[str]:
    number = 0
    while True:
        line = text.readline(longest + 1)
        if not line:
            return
        number += 1
        if len(line) > longest:
            raise _refuse("line_too_long", _("Line %(line)s of the file is longer than %(max)s characters; it is not "
                                             "read."), where, line=number, max=longest)
        yield line


def _fit(values: list[str], width: int) -> list[str]:
    return values[:width] + [""] * (width - len(values)) if len(values) != width else values


def _open_csv(text: IO[str], where: str, encoding: str, start: str) -> Suspect:
    first = start.splitlines()[0] if start else ""
    delimiter = max([",", "\t", ";", "|"], key=lambda d: (first.count(d), d == ","))
    rows = csv.reader(_lines(text, where), delimiter=delimiter, strict=False)

    def each() -> Iterator[list[str]]:
        try:
            yield from rows
        except csv.Error:
            raise _unreadable(where, messages.text(_("line %(line)s is not valid CSV"), line=rows.line_num)) from None

    records = each()
    top: list[list[str]] = []  # the first non-blank records: the header is among them (a title may come first)
    for record in records:
        if any(value.strip() for value in record):
            top.append(record)
            if len(top) >= HEADER_SEARCH:
                break
    if not top:
        raise _refuse("no_header", _("The file has no header row (the column names) to compare."), where)
    at = _header_at([[_header_name(value) for value in record[:MAX_COLUMNS]] for record in top])
    header = [_header_name(value) for value in top[at][:MAX_COLUMNS]]
    width = len(header)

    def data() -> Iterator[list[str]]:
        for record in itertools.chain(top[at + 1:], records):
            yield _fit([normalise(value) for value in record[:width]], width)

    return Suspect("csv", encoding.replace("-sig", ""), header, data())


def _open_json(text: IO[str], path: Path, where: str, encoding: str, start: str) -> Suspect:
    """JSON Lines (an object a line), or one JSON document: a list of objects (read one row at a time:
    :func:`_json_list`), or a data-API answer saved whole (its ``rows``; on one line as the API sends it, or
    indented).  A JSON line, a row of a list or a document read whole may be as long as :data:`MAX_JSON_DOCUMENT`
    (review of the 22nd session: a 100 MB list took gigabytes)."""
    if start[:1] == "[":
        return _json_rows("json", encoding, where, _json_list(text, where))
    lines = _lines(text, where, MAX_JSON_DOCUMENT)
    first = ""
    for line in lines:
        if line.strip():
            first = line
            break
    try:
        obj = json.loads(first, parse_float=Decimal)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and _answer_rows(obj) is not None:
        return _json_rows("json", encoding, where, iter(_answer_rows(obj) or []))
    if isinstance(obj, dict):
        return _json_rows("jsonl", encoding, where, _json_lines(obj, lines))
    if path.stat().st_size > MAX_JSON_DOCUMENT:
        raise files.refuse("file_too_large", _("The file is %(size)s bytes (%(size_mb)s MB); at most %(max)s bytes "
                                               "(%(max_mb)s MB) are accepted."), where=where,
                           size=path.stat().st_size, max=MAX_JSON_DOCUMENT,
                           size_mb=round(path.stat().st_size / files.MB, 1),
                           max_mb=round(MAX_JSON_DOCUMENT / files.MB, 1))
    document = first + "".join(lines)
    try:
        found = json.loads(document, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise _unreadable(where, _json_error(exc)) from None
    except (ValueError, RecursionError):
        raise _unreadable(where, _("the JSON is not valid")) from None
    if isinstance(found, dict):
        found = _answer_rows(found)
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found) or not found:
        raise _unreadable(where, _NOT_ROWS)
    return _json_rows("json", encoding, where, iter(found))


_NOT_ROWS = _("JSON that is not a list of rows (objects), JSON Lines or a data-API answer")


def _json_error(exc: json.JSONDecodeError) -> Any:
    return messages.text(_("the JSON is not valid at line %(line)s, column %(column)s"), line=exc.lineno,
                         column=exc.colno)


#: how near the end of what was read a JSON error may be and still be a row cut there (``-Infinit``, ``"\u12``)
_CUT_MARGIN = 16


def _json_list(text: IO[str], where: str) -> Iterator[dict[str, Any]]:
    """The objects of a JSON list, one at a time: memory follows the longest row (at most
    :data:`MAX_JSON_DOCUMENT`), never the file."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    buf, pos, read = "", 0, 0
    ended = False

    def more() -> bool:
        nonlocal buf, pos, ended, read
        if ended:
            return False
        chunk = text.read(1 << 16)
        if not chunk:
            ended = True
            return False
        read += len(chunk)
        buf, pos = buf[pos:] + chunk, 0
        return True

    def next_char() -> str:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf):
                return buf[pos]
            if not more():
                return ""

    if next_char() != "[":
        raise _unreadable(where, _NOT_ROWS)
    pos += 1
    if next_char() == "]":
        return
    count = 0
    while True:
        while True:
            try:
                obj, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                # a row cut at the end of what was read so far reads on; an error before it is the file's
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(buf) - _CUT_MARGIN
                if not cut:
                    raise _unreadable(where, _json_error(exc)) from None
                if len(buf) - pos > MAX_JSON_DOCUMENT:
                    raise _refuse("row_too_long", _("A row of the JSON list is longer than %(max)s characters; it "
                                                    "is not read."), where, max=MAX_JSON_DOCUMENT) from None
                if not more():
                    raise _unreadable(where, _json_error(exc)) from None
            except RecursionError:
                raise _unreadable(where, _("the JSON is not valid")) from None
        if not isinstance(obj, dict):
            raise _unreadable(where, _NOT_ROWS)
        yield obj
        count += 1
        pos = end
        following = next_char()
        if following == "]":
            pos += 1
            if next_char():  # as json.loads: nothing may follow the list (second review of the 22nd session)
                raise _unreadable(where, messages.text(_("the JSON list is not valid after row %(row)s"), row=count))
            return
        if following != ",":
            raise _unreadable(where, messages.text(_("the JSON list is not valid after row %(row)s"), row=count))
        pos += 1
        next_char()


def _answer_rows(obj: dict[str, Any]) -> list[Any] | None:
    """The rows of a data-API answer (``{"entry": …, "grant": …, "fields": […], "rows": [{…}, …]}``), or None."""
    rows = obj.get("rows")
    if isinstance(rows, list) and "fields" in obj and all(isinstance(row, dict) for row in rows):
        return rows
    return None


def _json_lines(first: dict[str, Any], lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    yield first
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError):
            obj = None
        yield obj if isinstance(obj, dict) else {}  # a line that is not an object: a row of nothing


#: the JSON rows whose names make the header (a row may leave out a column it has no value for)
JSON_HEADER_ROWS = 100


def _json_rows(fmt: str, encoding: str, where: str, objects: Iterator[dict[str, Any]]) -> Suspect:
    first = list(itertools.islice(objects, JSON_HEADER_ROWS))
    keys = list(dict.fromkeys(key for obj in first for key in obj))[:MAX_COLUMNS]
    if not keys:
        raise _refuse("no_header", _("The file has no header row (the column names) to compare."), where)
    header = [_header_name(key) for key in keys]

    def data() -> Iterator[list[str]]:
        for obj in itertools.chain(first, objects):
            yield [cell(obj.get(key)) for key in keys]

    return Suspect(fmt, encoding.replace("-sig", ""), header, data())


def _open_xlsx(path: Path, where: str, stack: contextlib.ExitStack) -> Suspect:
    """A workbook after the checks of :mod:`govshare.core.files` (as the catalog's import does): a real ZIP within
    the bomb limits, the parts of an XLSX, no macros, external links, embedded objects or XML document types;
    then its first worksheet in openpyxl's read-only mode (cached values of formulas, never their text)."""
    content = files.read_limited(path, MAX_BYTES, where=where)
    zf = files.open_zip(content, XLSX_LIMITS, where=where)
    names = set(zf.namelist())
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _not_table(where, files.ZIP.label)
    files.check_office_package(zf, where=where)
    files.scan_xml_parts(zf, where=where)
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds of errors on a broken file
        raise _unreadable(where, damage_reason(exc)) from None
    stack.callback(book.close)
    sheets = [sheet for sheet in book.worksheets if hasattr(sheet, "reset_dimensions")]
    if not sheets:
        raise _refuse("no_header", _("The file has no header row (the column names) to compare."), where)
    sheet: Any = sheets[0]
    sheet.reset_dimensions()  # a workbook may claim any size: read what is there

    def rows(**bounds: Any) -> Iterator[tuple[Any, ...]]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield from sheet.iter_rows(values_only=True, **bounds)
        except files.FileRefused:
            raise
        except Exception as exc:  # noqa: BLE001 — a damaged sheet
            raise _unreadable(where, damage_reason(exc)) from None

    first: list[tuple[int, list[str]]] = []  # the first non-blank rows: the header is among them (after a title)
    for number, values in enumerate(rows(max_col=MAX_COLUMNS, max_row=HEADER_SEARCH), start=1):
        names_found = [_header_name(v) for v in values]
        if any(names_found):
            while names_found and not names_found[-1]:
                names_found.pop()
            first.append((number, names_found))
    if not first:
        raise _refuse("no_header", _("The file has no header row (the column names) to compare."), where)
    header_row, header = first[_header_at([names for _number, names in first])]
    width = len(header)

    def data() -> Iterator[list[str]]:
        for values in rows(min_row=header_row + 1, max_col=width):
            yield _fit([_xlsx_cell(v) for v in values], width)

    return Suspect("xlsx", "", header, data())


def _xlsx_cell(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.microsecond >= 999_000:
        value = value + dt.timedelta(microseconds=1_000_000 - value.microsecond)  # Excel's day fractions
    return cell(value)


# ------------------------------------------------------------------ the trace


def file_fingerprint(path: str | Path) -> tuple[str, int]:
    """SHA-256 and size of the whole file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise files.refuse("file_unreadable", _("The file cannot be read: %(reason)s."), where=Path(path).name,
                           reason=exc.strerror or str(exc)) from None
    return digest.hexdigest(), size


@dataclass
class _Group:
    """Candidates of one entry delivering the same values of the same columns (same masks, same pseudonym key):
    compared once."""

    columns: tuple[str, ...]
    masks: list[masking.Mask | None]
    key: bytes | None
    candidates: list[Candidate] = field(default_factory=list)
    found: set[int] = field(default_factory=set)
    #: its pseudonymised columns, compared on their own too: the file's rows whose tokens it delivers
    pseudonyms: tuple[str, ...] = ()
    found_tokens: set[int] = field(default_factory=set)


def trace(path: str | Path, *, max_rows: int = MAX_ROWS) -> TraceReport:
    """Which deliveries can the file at ``path`` have come from (see the module docstring).  Raises
    :class:`~govshare.core.files.FileRefused` for a file it cannot read — unless its hash is a download's, which is
    then reported with a note that its rows were not compared."""
    path = Path(path)
    digest, size = file_fingerprint(path)
    report = TraceReport(path=str(path), size=size, sha256=digest, max_rows=max_rows)
    report.exact = [_download_record(d, ()) for d in _downloads().filter(sha256=digest).order_by("created_at", "pk")]
    try:
        with open_suspect(path) as suspect:
            _compare(report, suspect, max_rows)
    except files.FileRefused as exc:
        if not report.exact:
            raise
        report.notes.append(Note("rows_not_compared", {"code": exc.code, "reason": exc.bilingual()}))
    exact_grants = {d.grant for d in report.exact}
    for candidate in report.candidates:
        candidate.exact = candidate.grant in exact_grants and any(d.sha256 == digest for d in candidate.downloads)
    # a grant whose tokens are in the file delivered those rows (its tokens are its own): first, before whole rows of
    # masked values other grants deliver alike (second review of the 22nd session)
    report.candidates.sort(key=lambda c: (not c.exact, -c.pseudonym_rows, -c.evidence, -c.share, -len(c.columns),
                                          -c.matched_rows, c.label))
    _ambiguity(report)
    return report


def _compare(report: TraceReport, suspect: Suspect, max_rows: int) -> None:
    report.format, report.encoding, report.columns = suspect.format, suspect.encoding, suspect.header
    entries = _entries(suspect.header)
    if not entries:
        report.notes.append(Note("no_entry", {"columns": [c for c in suspect.header if c]}))
    plans: list[tuple[CatalogEntry, list[str], list[_Group]]] = []
    for entry, columns in entries:
        checked = EntryChecked(entry.code, _name(entry), columns)
        report.entries.append(checked)
        groups = _groups(entry, columns, checked, report)
        if groups:
            plans.append((entry, columns, groups))
    # the file's rows, once: per set of compared columns, how often each row (its digest) occurs
    index = {name: i for i, name in reversed(list(enumerate(suspect.header))) if name}
    subsets = {g.columns for _e, _c, groups in plans for g in groups}
    subsets |= {g.pseudonyms for _e, _c, groups in plans for g in groups if g.pseudonyms}
    counts: dict[tuple[str, ...], Counter[int]] = {s: Counter() for s in subsets}
    positions = {s: [index[name] for name in s] for s in subsets}
    rows = 0
    for values in suspect.rows:
        if not any(values):
            continue
        if rows >= max_rows:
            report.truncated = True
            report.notes.append(Note("truncated", {"max": max_rows}))
            break
        rows += 1
        for subset, at in positions.items():
            counts[subset][row_digest([values[i] for i in at])] += 1
    report.rows_read = rows
    for candidate in report.candidates:  # those compared on nothing
        candidate.file_rows = rows
    for entry, columns, groups in plans:
        _match(entry, columns, groups, counts, report)
        for group in groups:
            matched = sum(counts[group.columns][h] for h in group.found)
            tokens = sum(counts[group.pseudonyms][h] for h in group.found_tokens) if group.pseudonyms else 0
            for candidate in group.candidates:
                candidate.file_rows = rows
                candidate.matched_rows = matched
                candidate.distinct_matched = len(group.found)
                candidate.pseudonym_columns = list(group.pseudonyms)
                candidate.pseudonym_rows = tokens
                if tokens > matched:
                    candidate.notes.append(Note("pseudonyms_match", {"columns": list(group.pseudonyms),
                                                                     "matched": tokens, "rows": rows}))
                candidate.same_values_as = [c.label for c in group.candidates if c is not candidate]
                report.candidates.append(candidate)


def _name(entry: CatalogEntry) -> str:
    version = entry.current_version
    return version.name if version is not None else ""


def _entries(header: list[str]) -> list[tuple[CatalogEntry, list[str]]]:
    """The entries with recorded deliveries whose published items include the file's column names — all, or at
    least half of them — with those columns in the file's order."""
    wanted = [name for name in dict.fromkeys(header) if name]
    if not wanted:
        return []
    items: dict[int, set[str]] = defaultdict(set)
    for pk, name in CatalogEntry.objects.filter(current_version__items__name__in=wanted).values_list(
            "pk", "current_version__items__name"):
        items[pk].add(name)
    if not items:
        return []
    # half of the file's columns; when no entry has that many, the best-covering entries if they cover two at least
    # — the leaker added more columns of their own (序号, 联系电话, 备注 …) than the file has items (review of the 22nd
    # session) — but never one item column among many (any list of names would do: second review)
    needed = max(1, math.ceil(len(wanted) / 2))
    best = max(len(names) for names in items.values())
    if best < needed:
        if best < 2:
            return []
        needed = best
    chosen = {pk: names for pk, names in items.items() if len(names) >= needed}
    if not chosen:
        return []
    delivered = set(Download.objects.filter(entry_id__in=chosen).values_list("entry_id", flat=True).distinct())
    delivered |= {int(pk) for pk in AccessEvent.objects.filter(
        ANSWERED, code__in=DELIVERY_CODES, object_type=ENTRY_TYPE, object_id__in=[str(pk) for pk in chosen],
        ).values_list("object_id", flat=True).distinct()}
    found = CatalogEntry.objects.filter(pk__in=delivered).select_related("current_version", "provider")
    return sorted(((entry, [n for n in wanted if n in chosen[entry.pk]]) for entry in found),
                  key=lambda pair: (-len(pair[1]), pair[0].code))


def _groups(entry: CatalogEntry, columns: list[str], checked: EntryChecked, report: TraceReport) -> list[_Group]:
    """The candidates of ``entry`` (grants named by its deliveries, and its provider's own reads), grouped by what
    they deliver of ``columns``."""
    numbers: set[Any] = set(AccessEvent.objects.filter(
        ANSWERED, code__in=DELIVERY_CODES, object_type=ENTRY_TYPE, object_id=str(entry.pk))
        .values_list("detail__grant", flat=True).distinct())
    grant_ids = set(Download.objects.filter(entry=entry).values_list("grant_id", flat=True).distinct())
    own = None in numbers or None in grant_ids
    grants = list(Grant.objects.filter(entry=entry).filter(
        Q(pk__in=[g for g in grant_ids if g is not None]) | Q(number__in=[n for n in numbers if isinstance(n, str)]))
        .select_related("consumer", "system").order_by("number", "pk"))
    groups: dict[tuple[Any, ...], _Group] = {}
    today = timezone.localdate()
    sources: list[Grant | None] = [*grants, *([None] if own else [])]
    for grant in sources:
        covered = [name for name in columns if grant is None or name in (grant.items or [])]
        candidate = _candidate(entry, grant, covered, today)
        candidate.downloads = _deliveries(entry, grant, covered)
        candidate.reads = _reads(entry, grant, covered)
        if not covered:
            candidate.notes.append(Note("covers_no_column", {"columns": columns}))
            report.candidates.append(candidate)
            continue
        decision = Decision(True, entry.pk, covered, grant.purpose if grant else "", grant=grant,
                            masking={n: r for n, r in ((grant.masking or {}) if grant else {}).items()
                                     if n in covered and r}, basis="grant" if grant else "own_data")
        try:
            masks, key = delivery.masks_for(decision, entry)  # as the channels mask: the catalog too
        except delivery.AccessRefused as exc:
            candidate.notes.append(Note("masking_unusable", {"reason": exc.bilingual()}))
            report.candidates.append(candidate)
            continue
        candidate.masking = {name: mask.canonical() for name, mask in zip(covered, masks, strict=True)
                             if mask is not None and mask.hides_value}
        candidate.pseudonymised = any(m is not None and m.kind == "pseudonym" for m in masks)
        if len(covered) < len(columns):
            candidate.notes.append(Note("covers_some_columns", {"columns": covered, "of": columns}))
        shape = tuple(m.canonical() if m is not None and m.hides_value else "none" for m in masks)
        signature = (tuple(covered), shape, key if candidate.pseudonymised else None)
        group = groups.get(signature)
        if group is None:
            pseudonyms = tuple(name for name, m in zip(covered, masks, strict=True)
                               if m is not None and m.kind == "pseudonym")
            group = groups[signature] = _Group(tuple(covered), list(masks), key if candidate.pseudonymised else None,
                                               pseudonyms=pseudonyms)
        group.candidates.append(candidate)
        checked.candidates += 1
    if not sources:
        checked.notes.append(Note("no_grant_found", {}))
    return list(groups.values())


def _candidate(entry: CatalogEntry, grant: Grant | None, columns: list[str], today: dt.date) -> Candidate:
    if grant is None:
        return Candidate(entry.code, _name(entry), None, "own_data", entry.provider.name, entry.provider.code, "",
                         "", "", columns, {}, False, 0)
    return Candidate(entry.code, _name(entry), grant.number or f"#{grant.pk}", grant.state(today),
                     grant.consumer.name, grant.consumer.code, grant.system.code if grant.system else "",
                     grant.purpose, grant.channel, columns, {}, False, 0)


def _match(entry: CatalogEntry, columns: list[str], groups: list[_Group], counts: dict[tuple[str, ...], Counter[int]],
           report: TraceReport) -> None:
    """One pass over the centre's current rows of ``entry`` (``columns`` only, keyset pages): each group's masked
    rows looked up among the file's."""
    table = centre.table_for(entry)
    checked = next(c for c in report.entries if c.code == entry.code)
    try:
        with centre.open_store() as store:
            if not store.has_table(table):
                checked.notes.append(Note("no_centre_data", {}))
                return
            shape, _key = store.describe(table)
            present = {column.name for column in shape if column.letter != "G"}
            wanted = [name for name in columns if name in present]
            if len(wanted) < len(columns):
                checked.notes.append(Note("columns_not_in_centre", {"columns": [c for c in columns
                                                                                if c not in present]}))
            places = {name: i for i, name in enumerate(wanted)}
            plan = [(group, [places.get(name) for name in group.columns], counts[group.columns],
                     [group.columns.index(name) for name in group.pseudonyms],
                     counts[group.pseudonyms] if group.pseudonyms else None) for group in groups]
            query = reader.RowQuery(table, wanted, limit=PAGE_ROWS)
            while wanted:
                page = reader.read_rows(store, query)
                for row in page.rows:
                    for group, at, seen, tokens_at, seen_tokens in plan:
                        values = [row[i] if i is not None else None for i in at]
                        # as every channel masks: a value its mask cannot handle left as nothing
                        masked = [cell(v) for v in masking.mask_row(group.masks, values, key=group.key,
                                                                     fail_closed=True)]
                        digest = row_digest(masked)
                        if digest in seen:
                            group.found.add(digest)
                        if seen_tokens is not None:
                            tokens = [masked[i] for i in tokens_at]
                            if any(tokens):  # no value, no token: a blank cell is nobody's (second review)
                                token = row_digest(tokens)
                                if token in seen_tokens:
                                    group.found_tokens.add(token)
                if page.after is None:
                    break
                query = reader.RowQuery(table, wanted, after=page.after, limit=PAGE_ROWS)
    except StoreError as exc:
        checked.notes.append(Note("centre_unavailable", {"code": exc.code}))
    except reader.QueryError as exc:
        checked.notes.append(Note("centre_unreadable", {"code": exc.code}))


# ------------------------------------------------------------------ the deliveries


def _downloads() -> Any:
    return Download.objects.select_related("entry", "grant", "requested_by", "system", "department")


def _download_record(download: Download, columns: Sequence[str]) -> DownloadRecord:
    who = f"system:{download.system.code}" if download.system is not None else \
        download.requested_by.username if download.requested_by is not None else ""
    name = download.system.name if download.system is not None else \
        download.requested_by.real_name if download.requested_by is not None else ""
    filters = [[item, op, [delivery.jsonable(delivery.untag(v)) for v in values]]
               for item, op, values in (download.filters or [])]
    return DownloadRecord(
        str(download.pk), download.entry.code, download.grant.number if download.grant else None,
        download.created_at, download.ready_at, download.status, who, name, download.department.name,
        download.format, list(download.items), filters, download.rows, download.sha256,
        set(columns) <= set(download.items))


def _deliveries(entry: CatalogEntry, grant: Grant | None, columns: list[str]) -> list[DownloadRecord]:
    """The grant's downloads, newest first, with every fetch of their files."""
    downloads = _downloads().filter(entry=entry)
    downloads = downloads.filter(grant=grant) if grant is not None else downloads.filter(grant__isnull=True)
    records = [_download_record(d, columns) for d in downloads.order_by("-created_at")]
    if records:
        by_id = {r.id: r for r in records}
        fetched = AccessEvent.objects.filter(code=int(AuditCode.DATA_DOWNLOADED), object_type=ENTRY_TYPE,
                                             object_id=str(entry.pk), status__lt=400,
                                             detail__download__in=list(by_id)).order_by("occurred_at", "id")
        for row in fetched:
            record = by_id.get(str(row.detail.get("download", "")))
            if record is not None:
                record.fetches.append(Fetch(row.occurred_at, row.actor_username, row.actor_name,
                                            row.department_name))
    return records


def _reads(entry: CatalogEntry, grant: Grant | None, columns: list[str]) -> Reads:
    """The data-API pages answered under the grant (the provider's own: with no grant): totals, who read how much,
    and the latest reads that covered the compared columns."""
    if grant is not None and not grant.number:
        return Reads()  # the data API names a grant by its number
    rows = AccessEvent.objects.filter(code=int(AuditCode.DATA_ROWS_READ), object_type=ENTRY_TYPE,
                                      object_id=str(entry.pk), status__lt=400,
                                      detail__grant=grant.number if grant is not None else None)
    totals = rows.aggregate(calls=Count("id"), rows=Sum("results"), first=Min("occurred_at"),
                            last=Max("occurred_at"))
    reads = Reads(int(totals["calls"] or 0), int(totals["rows"] or 0), totals["first"], totals["last"])
    if not reads.calls:
        return reads
    for who, name, department, calls, total in (
            rows.order_by().values("actor_username", "actor_name", "department_name")
            .annotate(calls=Count("id"), total=Sum("results")).order_by("-calls", "actor_username")
            .values_list("actor_username", "actor_name", "department_name", "calls", "total")):
        reads.readers.append(Reader(who, name, department, int(calls), int(total or 0)))
    wanted = set(columns)
    for row in rows.order_by("-occurred_at", "-id")[:LISTED_READS * 50].iterator():
        query = row.detail.get("query") or {}
        fields = [str(f) for f in query.get("fields") or []]
        covers = wanted <= set(fields)
        if covers:
            reads.latest.append(ReadRecord(row.occurred_at, row.actor_username, row.actor_name, row.department_name,
                                           fields, list(query.get("filters") or []), str(query.get("format") or ""),
                                           row.results, covers))
            if len(reads.latest) >= LISTED_READS:
                break
    return reads


def _ambiguity(report: TraceReport) -> None:
    sources = list(dict.fromkeys(d.grant or f"{d.entry} own data" for d in report.exact))
    if len(sources) > 1:
        # the same bytes downloaded under several grants (the same masks, or a header-only file): the hash says it is
        # one of these downloads, not which (review of the 22nd session)
        report.ambiguous = sources
        report.notes.append(Note("same_file_several_grants", {"grants": sources}))
        return
    best = report.best
    if best is None:
        if not report.exact:
            report.notes.append(Note("nothing_matched", {}))
        return
    tied = [c for c in report.candidates if c.matched_rows == best.matched_rows and c.columns == best.columns
            and c.pseudonym_rows == best.pseudonym_rows and c.exact == best.exact]
    if len(tied) > 1 and not best.exact:
        report.ambiguous = [c.label for c in tied]
        report.notes.append(Note("cannot_tell_apart", {"grants": report.ambiguous,
                                                       "pseudonymised": any(c.pseudonymised for c in tied)}))
    if best.distinct_matched < FEW_ROWS and not best.exact and not best.pseudonymised:
        report.notes.append(Note("few_rows", {"rows": best.distinct_matched}))
    if best.share < 1 and not best.exact:
        report.notes.append(Note("partial", {"matched": best.matched_rows, "rows": best.file_rows}))


__all__ = ["MAX_ROWS", "Candidate", "DownloadRecord", "Note", "ReadRecord", "Reads", "Suspect", "TraceReport",
           "cell", "file_fingerprint", "normalise", "open_suspect", "row_digest", "text_of", "trace"]
