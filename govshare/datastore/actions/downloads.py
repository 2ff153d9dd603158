"""Batch downloads (部门批量下载, the 文件 channel; issue 11 item 4; SHR-4, SEC-3, SEC-4).

A consumer asks for a grant's data as CSV (UTF-8 with BOM, formula-safe), XLSX or JSON Lines
(:func:`do_request_download`, checked by the one access check over the file channel); a background job builds the
file page by page with constant memory, masked, into ``GOVSHARE_DOWNLOAD_DIR`` (:func:`build_download`: progress
on the job row; CSV and JSON Lines resume after a ``kill -9`` from their last written page, XLSX starts again);
the department fetches it until it expires (``GOVSHARE_DOWNLOAD_KEEP_DAYS``; :func:`expire_downloads` removes it).
Its SHA-256 and the grant are kept: the fingerprint of what left the centre."""

from __future__ import annotations

import contextlib
import csv
import ctypes
import dataclasses
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareMethod
from govshare.catalog.models import CatalogEntry
from govshare.core import audit, crypto, exports, jobs, masking, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.messages import message
from govshare.core.notify import bilingual, notify
from govshare.datastore import centre, delivery, download_parts
from govshare.datastore.engine import csvcopy, reader
from govshare.datastore.engine.store import Store, StoreError
from govshare.datastore.models import Download
from govshare.sharing.access import record_refusal

DOWNLOAD_JOB = "datastore.download"
#: rows read from the centre per page while a file is built
PAGE_ROWS = 5000
#: rows the centre's server writes per statement when it writes the CSV (:mod:`govshare.datastore.engine.csvcopy`)
COPY_ROWS = 20_000
#: a build records where it stands (and syncs the file) at most this often: a worker killed redoes the pages since
CHECKPOINT_SECONDS = 1.0


def download_dir() -> Path:
    return Path(settings.GOVSHARE_DOWNLOAD_DIR)


def file_of(download: Download) -> Path:
    return download_dir() / download.filename


def do_request_download(*, user: Any = None, system: Any = None, entry: CatalogEntry, purpose: str,
                        items: list[str] | None, filters: list[reader.Filter], fmt: str) -> Download:
    """Queue a download of ``items`` (None: the grant's) matching ``filters`` — after the access check over the
    file channel (a refusal is audited by it)."""
    if fmt not in Download.Format.values:
        raise ValidationFailed("invalid_choice", _("Unknown format %(value)s: csv, xlsx or jsonl."), field="format",
                               value=fmt)
    granted = delivery.authorise(entry, user=user, system=system, purpose=purpose, items=items,
                                 channel=ShareMethod.FILE)
    department = system.department if system is not None else user.department
    with transaction.atomic():
        download = Download.objects.create(
            entry=entry, grant=granted.decision.grant, department=department, requested_by=user, system=system,
            purpose=purpose, items=granted.items, format=fmt,
            filters=[[f.item, f.op, [delivery.tag(v) for v in f.values]] for f in filters])
        download.job = jobs.create_job(
            DOWNLOAD_JOB, message(_("Download of %(code)s (%(format)s)"), code=entry.code, format=fmt.upper()),
            {"download": str(download.pk)}, user=user, department=department)
        download.save(update_fields=["job"])
        audit.record(AuditCode.DOWNLOAD_REQUESTED, actor=user, obj=download, department=department,
                     detail={"entry": entry.code, "grant": granted.decision.grant.number if granted.decision.grant
                             else None, "format": fmt, "items": granted.items[:100], "filters": download.filters,
                             "system": system.code if system is not None else ""})
    return download


def _requester(download: Download) -> dict[str, Any]:
    return {"system": download.system} if download.system_id else {"user": download.requested_by}


def recheck(download: Download, **fetcher: Any) -> delivery.Delivery:
    """The access check again — as the download was asked for (building), or as ``fetcher`` (``user=`` or
    ``system=``: fetching) — by **the download's own grant** alone: the file was masked under it, so another
    grant of the department (other masks, other pseudonyms) never stands in for a revoked one (review H2), and a
    newer grant does not make a valid one's file unfetchable (review 2); and with the masks it was built with."""
    who = fetcher or _requester(download)
    granted = delivery.authorise(download.entry, purpose=download.purpose, items=list(download.items),
                                 channel=ShareMethod.FILE, grant=download.grant, **who)
    grant = granted.decision.grant
    refusal: delivery.AccessRefused | None = None
    if (grant.pk if grant is not None else None) != download.grant_id:  # own data then, a grant now (or back)
        refusal = delivery.AccessRefused(
            "grant_changed", _("This file was made under grant %(grant)s, which no longer allows it; ask for the "
                               "data again under the grant that does."),
            grant=download.grant.number if download.grant else "—")
    elif download.masking and download.masking != granted.canonical_masks:
        # the file's masks are no longer the ones the data leaves with (an item became sensitive since: review 2)
        refusal = delivery.AccessRefused(
            "masking_changed", _("This file was masked otherwise than the data is masked now; ask for it again."))
    else:
        # its rows were chosen by its filters: an item the grant now masks or no longer covers must not choose them
        # (the file would tell who was born on a day the grant now hides — review of the 21st session)
        filtered = {str(item) for item, _op, _values in download.filters or []}
        barred = sorted((filtered & set(granted.masked_anywhere)) | (filtered - set(granted.filterable)))
        if barred:
            refusal = delivery.AccessRefused(
                "filter_not_allowed", _("This file's rows were chosen by %(items)s, which the grant no longer lets "
                                        "you filter on (masked, or not granted); ask for the data again."),
                items="、".join(barred))
    if refusal is not None:  # refused and audited, like every channel's refusal
        record_refusal(download.entry, user=who.get("user"), system=who.get("system"), purpose=download.purpose,
                       items=list(download.items), channel=ShareMethod.FILE.value, reasons=[refusal.code],
                       download=str(download.pk))
        raise refusal
    return granted


@jobs.handler(DOWNLOAD_JOB)
def build_download(ctx: jobs.JobContext) -> dict[str, Any]:
    download = Download.objects.select_related("entry__current_version", "requested_by", "system__department",
                                               "grant").get(pk=ctx.params["download"])
    if download.status in (Download.Status.READY, Download.Status.EXPIRED):
        return {"download": str(download.pk), "rows": download.rows}
    try:
        granted = recheck(download)
    except GovshareError as exc:
        _fail(download, exc)
        raise
    Download.objects.filter(pk=download.pk).update(status=Download.Status.BUILDING,
                                                   masking=granted.canonical_masks)
    filters = [reader.Filter(item, op, tuple(delivery.untag(v) for v in values))
               for item, op, values in download.filters]
    target = file_of(download)
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    # the table the file is built from: kept in every checkpoint, so that a build resumed after a worker died is
    # compared with the table its first pages came from
    made = str(ctx.checkpoint.get("made") or "") or _incarnation(download)
    try:
        rows = _write(ctx, download, granted, filters, part, made)
        if _incarnation(download) != made:
            # the table was made again for a new version of the entry while the file was written: its pages would
            # mix the two tables' columns
            raise _rebuilt(download)
    except jobs.JobCancelled:
        raise  # stopped, or taken over by another worker: that one goes on
    except GovshareError as exc:
        _fail(download, exc)
        raise
    except Exception as exc:
        if _incarnation(download) != made:  # a page read by the old table's columns failed on the new one
            rebuilt = _rebuilt(download)
            _fail(download, rebuilt)
            raise rebuilt from exc
        _fail(download, f"{type(exc).__name__}: {exc}")
        raise
    digest, size = _sha256(part)
    os.replace(part, target)
    now = timezone.now()
    with transaction.atomic():
        Download.objects.filter(pk=download.pk).update(
            status=Download.Status.READY, rows=rows, bytes=size, sha256=digest, ready_at=now,
            expires_at=now + dt.timedelta(days=settings.GOVSHARE_DOWNLOAD_KEEP_DAYS), message="", message_node=None)
        if download.requested_by is not None:
            notify([download.requested_by], "datastore.download_ready",
                   bilingual(_("Your download of %(code)s is ready"), code=download.entry.code),
                   body=bilingual(_("%(rows)s rows, kept until %(date)s."), rows=rows,
                                  date=timezone.localtime(now + dt.timedelta(days=settings.GOVSHARE_DOWNLOAD_KEEP_DAYS))
                                  .date().isoformat()),
                   url=f"/api/v1/data/downloads/{download.pk}")
    ctx.log(f"{rows} rows, {size} bytes, sha256 {digest}")
    return {"download": str(download.pk), "rows": rows, "bytes": size, "sha256": digest}


def _incarnation(download: Download) -> str:
    """When the entry's centre table was made (again): a file is built from one table (``""``: unreadable now)."""
    try:
        with centre.open_store() as store:
            return store.incarnation(centre.table_for(download.entry))
    except StoreError:
        return ""


def _rebuilt(download: Download) -> GovshareError:
    return GovshareError("centre_rebuilt", _("The centre's table of %(code)s was made again while the file was "
                                             "written: ask for the download again."), code=download.entry.code)


def _fail(download: Download, why: GovshareError | str) -> None:
    """The download failed: why, kept to be shown in the reader's language (a plain text where it has one)."""
    message, node = messages.stored(why.node() if isinstance(why, GovshareError) else why)
    Download.objects.filter(pk=download.pk).update(status=Download.Status.FAILED, message=message, message_node=node)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _pages(store: Any, query: reader.RowQuery,
           mask_columns: Callable[[list[tuple[Any, ...]]], list[Sequence[Any]]]
           ) -> Iterator[tuple[list[Sequence[Any]], Any]]:
    """(masked columns of a page, the position after it) page by page — the next page read (a thread of its own,
    the store's connection used by it alone meanwhile) while this one is masked and written: the database's time
    and the job's overlap."""
    with ThreadPoolExecutor(1, thread_name_prefix="govshare-download-read") as reading:
        pending = reading.submit(reader.read_rows, store, query)
        while True:
            page = pending.result()
            if page.after is not None:
                query = dataclasses.replace(query, after=page.after)
                pending = reading.submit(reader.read_rows, store, query)
            yield mask_columns(page.rows), page.after
            if page.after is None:
                return


def _copy_plan(store: Any, fmt: str, query: reader.RowQuery, masks: Sequence[masking.Mask | None],
               key: bytes | None) -> csvcopy.CsvPlan | str:
    """How the centre's server writes this file's lines (:mod:`~govshare.datastore.engine.csvcopy`) — or why it
    does not (Python writes them)."""
    if fmt != Download.Format.CSV:
        return f"the format is {fmt.upper()}"
    return csvcopy.problem(store) or csvcopy.plan(reader.item_columns(store, query.table, query.items), masks, key)


def _chunks(store: Any, query: reader.RowQuery, fmt: str,
            mask_columns: Callable[[list[tuple[Any, ...]]], list[Sequence[Any]]], plan: csvcopy.CsvPlan | None
            ) -> Iterator[tuple[bytes, Any, int]]:
    """The file's lines after ``query``'s position, a piece at a time: (bytes, the position after them — None after
    the last —, rows) — written by the centre's server with ``plan`` (:func:`_copy_plan`; the rows its SQL leaves to
    Python masked and written here) or, without one, page by page here."""
    items = list(query.items)
    if plan is None:
        for columns, after in _pages(store, query, mask_columns):
            yield _lines(fmt, items, columns), after, _length(columns)
        return

    def render(rows: list[tuple[Any, ...]]) -> list[bytes]:
        return [_lines(fmt, items, [[value] for value in row]) for row in zip(*mask_columns(rows), strict=True)]

    # a batch is held in memory a few times over (its lines, joined, ended): long texts make it a tenth as long
    long_text = any(letter == "M" for _column, letter in reader.item_columns(store, query.table, items))
    rows = max(1, COPY_ROWS // 10) if long_text else COPY_ROWS
    yield from csvcopy.batches(store, dataclasses.replace(query, limit=PAGE_ROWS), plan, rows, render)


def _length(columns: list[Sequence[Any]]) -> int:
    return len(columns[0]) if columns else 0


def _write(ctx: jobs.JobContext, download: Download, granted: delivery.Delivery, filters: list[reader.Filter],
           part: Path, made: str = "") -> int:
    table = centre.table_for(download.entry)
    items = list(download.items)
    with centre.open_store() as store:
        if not store.has_table(table):
            raise delivery.NoData("no_data", _("The data resource centre holds no data of %(code)s yet."),
                                  code=download.entry.code)
        query = reader.RowQuery(table, items, filters, limit=PAGE_ROWS)
        total, _kind = reader.count_rows(store, query, 10_000_000)
        ctx.progress(0, total, _("building the file"))
        checkpoint = ctx.checkpoint if download.format != Download.Format.XLSX else {}
        if checkpoint.get("rows") and part.exists() and part.stat().st_size >= int(checkpoint["bytes"]):
            # a worker died: go on after its last written page (a file shorter than that record is built again —
            # never padded out to it)
            query.after = _unsealed(checkpoint["after"])
            rows, size = int(checkpoint["rows"]), int(checkpoint["bytes"])
            with open(part, "r+b") as partial:
                partial.truncate(size)
            ctx.log(f"resuming after {rows} rows")
        else:
            rows = 0
            part.unlink(missing_ok=True)
        if not checkpoint.get("parts"):  # pieces of an earlier attempt in parts that never recorded them
            for piece in part.parent.glob(part.name + ".*"):
                piece.unlink(missing_ok=True)
        plan = _copy_plan(store, download.format, query, granted.masks, granted.key)
        ctx.log(f"the lines written by Python: {plan}" if isinstance(plan, str)
                else "the lines written by the centre's server (COPY)")
        copy_plan = None if isinstance(plan, str) else plan
        parts = _parts_wanted(download.format, total)
        if checkpoint.get("parts") or (parts > 1 and not checkpoint.get("rows")):
            part.unlink(missing_ok=True)
            return _write_parts(ctx, download, granted, store, query, total, parts, part, copy_plan, made)
        if download.format == Download.Format.XLSX:
            def counted() -> Iterator[list[Any]]:
                nonlocal rows
                for columns, _after in _pages(store, query, granted.mask_columns):
                    yield from zip(*columns, strict=True)
                    rows += _length(columns)
                    ctx.progress(rows)

            with open(part, "wb") as book:
                exports.write_xlsx(book, items, counted(), sheet_title=download.entry.code.replace("/", "-"))
            return rows
        with open(part, "ab") as out:
            if rows == 0:
                out.write(_header(download.format, items))
            last = time.monotonic()
            for lines, after, count in _chunks(store, query, download.format, granted.mask_columns, copy_plan):
                out.write(lines)
                rows += count
                if after is not None and time.monotonic() - last >= CHECKPOINT_SECONDS:
                    # what the checkpoint names is on disk before it is named; a worker dying later redoes at most
                    # the pages since (the file is cut back to the checkpoint's bytes)
                    out.flush()
                    os.fsync(out.fileno())
                    ctx.save_checkpoint({"after": _sealed(after), "rows": rows, "bytes": out.tell(), "made": made},
                                        done=rows)
                    last = time.monotonic()
            out.flush()
            os.fsync(out.fileno())
    return rows


# ------------------------------------------------------------------ a large file in parts, built in parallel

#: the fewest rows a part of a parallel build is given (below that a process's start is not worth it)
PART_MIN_ROWS = 100_000
#: a part's process that ends without finishing is started again (from its last report) at most this often
PART_RESTARTS = 2
#: a part that reports nothing for this long (a page of 5 000 rows takes well under a second) is taken for hung
PART_STALL_SECONDS = 300


def _parts_wanted(fmt: str, total: int) -> int:
    """Into how many parts a file of ``total`` rows is built: CSV and JSON Lines (an XLSX book is one stream) of at
    least two parts' rows, by up to ``GOVSHARE_DOWNLOAD_PARTS`` processes."""
    if fmt == Download.Format.XLSX or os.name != "posix":
        return 1
    return max(1, min(settings.GOVSHARE_DOWNLOAD_PARTS, total // PART_MIN_ROWS))


def _part_file(part: Path, k: int) -> Path:
    return part.with_name(f"{part.name}.{k}")


def _write_parts(ctx: jobs.JobContext, download: Download, granted: delivery.Delivery, store: Any,
                 query: reader.RowQuery, total: int, parts: int, part: Path,
                 copy_plan: csvcopy.CsvPlan | None, made: str = "") -> int:
    """The file built as ``parts`` key ranges, each by a process of its own (spawned: a fresh interpreter)
    writing a file of its own, then joined after the header.  Each part records where it stands in the job's
    checkpoint (sealed), so a build resumes each part after its last written page; a part's process ends with
    the worker that started it."""
    saved = ctx.checkpoint.get("parts")
    states = _unseal(saved) if saved else []
    if states and all(_part_file(part, k).exists() and _part_file(part, k).stat().st_size >= state["bytes"]
                      for k, state in enumerate(states)):
        ctx.log(f"resuming {len(states)} parts after {sum(s['rows'] for s in states)} rows")
    else:  # a new build — or the parts' files are not (all) there any more (another machine, a cleaned folder)
        if states:
            ctx.log("the parts written before are gone: building the file again")
        offsets = [total * k // parts - 1 for k in range(1, parts)]
        bounds: list[Any] = []
        for position in reader.positions_at(store, query, offsets):
            if position is not None and (not bounds or position != bounds[-1]):
                bounds.append(position)
        edges = [None, *bounds, None]
        states = [{"after": _tagged(edges[k]), "until": _tagged(edges[k + 1]), "rows": 0, "bytes": 0, "done": False}
                  for k in range(len(edges) - 1)]
        for piece in part.parent.glob(part.name + ".*"):
            piece.unlink(missing_ok=True)
    spawn = multiprocessing.get_context("spawn")  # not fork: see govshare/datastore/download_parts.py
    running: dict[Any, tuple[int, Any]] = {}
    heard: dict[int, float] = {}  # part → when it last said something
    restarts = [0] * len(states)

    def start(k: int) -> None:
        receiving, sending = spawn.Pipe(duplex=False)
        spec = {"k": k, "state": states[k], "masks": granted.masks, "key": granted.key, "query": query,
                "path": str(_part_file(part, k)), "format": download.format, "store": centre.url(),
                "parent": os.getpid(), "checkpoint_seconds": CHECKPOINT_SECONDS, "copy_plan": copy_plan}
        process = spawn.Process(target=download_parts.main, args=(spec, sending), daemon=True)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, download_parts.STOP_SIGNALS)
        try:
            process.start()  # with the stop signals blocked until it ignores them
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        sending.close()
        running[receiving] = (k, process)
        heard[k] = time.monotonic()

    def ended(conn: Any, why: str) -> None:
        """A part's process ended or was ended without finishing: started again from where it last said it stood
        (its file is cut back to that), at most PART_RESTARTS times."""
        k, process = running.pop(conn)
        process.kill()
        process.join()
        conn.close()
        if restarts[k] >= PART_RESTARTS:
            raise RuntimeError(f"part {k + 1} of the file {why}, {restarts[k] + 1} times")
        restarts[k] += 1
        ctx.log(f"part {k + 1} {why}: started again after its row {states[k]['rows']}")
        start(k)

    try:
        for k, state in enumerate(states):
            if not state["done"]:
                start(k)
        last = 0.0
        while running:
            ready: list[Any] = multiprocessing.connection.wait(list(running), timeout=1.0)
            for conn in ready:
                k, process = running[conn]
                try:
                    kind, values = conn.recv()
                except EOFError:
                    if states[k].get("done"):
                        del running[conn]
                        process.join()
                        conn.close()
                    else:  # killed (a signal, out of memory) or gone without a word
                        ended(conn, f"ended without finishing (exit code {process.exitcode})")
                    continue
                if kind == "failed":
                    raise RuntimeError(f"part {k + 1} of the file: {values}")
                states[k].update(values)
                heard[k] = time.monotonic()
            for conn, (k, _process) in list(running.items()):
                if time.monotonic() - heard[k] > PART_STALL_SECONDS:  # hung (a lock a forked thread held?)
                    ended(conn, f"said nothing for {PART_STALL_SECONDS} s")
            if time.monotonic() - last >= CHECKPOINT_SECONDS:  # also the worker's sign of life; JobCancelled
                ctx.save_checkpoint({"parts": _seal(states), "made": made}, done=sum(state["rows"] for state in states))
                last = time.monotonic()
    finally:
        for conn, (_k, process) in running.items():
            process.kill()
            process.join()
            conn.close()
    ctx.save_checkpoint({"parts": _seal(states), "made": made}, done=sum(state["rows"] for state in states))
    with open(part, "wb") as out:  # header, then each part (in the kernel where it can)
        out.write(_header(download.format, list(download.items)))
        for k, state in enumerate(states):
            with open(_part_file(part, k), "rb") as written:
                _copy(written, out, state["bytes"])
        out.flush()
        os.fsync(out.fileno())
    for k in range(len(states)):
        _part_file(part, k).unlink(missing_ok=True)
    return sum(state["rows"] for state in states)


def _copy(source: Any, target: Any, size: int) -> None:
    target.flush()
    done = 0
    while done < size:
        sent = os.sendfile(target.fileno(), source.fileno(), done, size - done)
        if sent == 0:
            raise RuntimeError("a part of the file is shorter than its build recorded")
        done += sent
    target.seek(0, os.SEEK_END)


def _tagged(position: list[Any] | None) -> list[Any] | None:
    return None if position is None else [delivery.tag(v) for v in position]


def _untagged(position: list[Any] | None) -> list[Any] | None:
    return None if position is None else [delivery.untag(v) for v in position]


def build_part(spec: dict[str, Any], conn: Any) -> None:
    """One part, in a process of its own (:mod:`govshare.datastore.download_parts`): the rows after the part's
    position up to its ``until``, masked with the grant's masks and key, appended to its file (cut back first to the
    bytes its last report named); reports ``("progress", state)`` once a second after the file is synced — never
    after the last page, whose rows go with ``done`` — or ``("failed", why)``.  It ends when the worker does."""
    try:
        _die_with_parent()  # (the stop signals are ignored: download_parts.main)
        if os.getppid() != spec["parent"]:  # the worker died before the line above
            os._exit(1)
        state, query = spec["state"], spec["query"]
        rows, size = int(state["rows"]), int(state["bytes"])
        after = state.get("position") or state["after"]
        part_query = dataclasses.replace(query, after=_untagged(after), until=_untagged(state["until"]))
        masker = masking.column_masker(spec["masks"], key=spec["key"], fail_closed=True)
        width = len(spec["masks"])

        def mask_columns(page: list[tuple[Any, ...]]) -> list[Sequence[Any]]:
            return masker(masking.columns_of(page, width))

        with Store.open(spec["store"]) as store, open(spec["path"], "ab") as out:
            out.truncate(size)
            out.seek(size)
            last = time.monotonic()
            position = after
            for lines, page_after, count in _chunks(store, part_query, spec["format"], mask_columns, spec["copy_plan"]):
                out.write(lines)
                rows += count
                if page_after is None:
                    break  # the last page: what it wrote is reported as done below (a report naming the page
                    # before with these bytes would make a resumed part write the last page twice)
                position = _tagged(page_after)
                if time.monotonic() - last >= spec["checkpoint_seconds"]:
                    out.flush()
                    os.fsync(out.fileno())
                    conn.send(("progress", {"position": position, "rows": rows, "bytes": out.tell()}))
                    last = time.monotonic()
                    if os.getppid() != spec["parent"]:
                        os._exit(1)
            out.flush()
            os.fsync(out.fileno())
            conn.send(("progress", {"position": position, "rows": rows, "bytes": out.tell(), "done": True}))
    except BaseException as exc:  # noqa: BLE001 — whatever it was, the worker says it (and this process leaves)
        with contextlib.suppress(BaseException):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        os._exit(1)
    conn.close()
    os._exit(0)


def _die_with_parent() -> None:
    """Linux: this process is killed when the one that forked it dies (a worker killed with -9 leaves no part
    writing on); elsewhere the part checks its parent once a second."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _sealed(after: list[Any]) -> str:
    """Where a build goes on, sealed: it holds the last row's key, which the job's log and page must not show
    (review H3: a masked ID number in clear in the job log)."""
    return _seal(_tagged(after))


def _unsealed(text: str) -> list[Any]:
    return _untagged(_unseal(text)) or []


def _seal(value: Any) -> str:
    """A checkpoint's JSON, sealed (it holds key values)."""
    return crypto.seal(json.dumps(value).encode("utf-8"), CHECKPOINT_SEAL)


def _unseal(text: str) -> Any:
    return json.loads(crypto.unseal(text, CHECKPOINT_SEAL))


CHECKPOINT_SEAL = "govshare.datastore.download-checkpoint.v1"


def _header(fmt: str, items: list[str]) -> bytes:
    if fmt == Download.Format.CSV:
        return _csv_text([items], bom=True)
    return b""


def _csv_text(rows: list[list[Any]], *, bom: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([exports.csv_cell(v) for v in row])
    return ((exports.BOM if bom else "") + buffer.getvalue()).encode("utf-8")


def _lines(fmt: str, items: list[str], columns: list[Sequence[Any]]) -> bytes:
    """A page's lines, from its masked columns."""
    if fmt == Download.Format.CSV:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(zip(*map(exports.data_column, columns), strict=True))
        return buffer.getvalue().encode("utf-8")
    return "".join(json.dumps(dict(zip(items, (delivery.jsonable(v) for v in row), strict=True)), ensure_ascii=False)
                   + "\n" for row in zip(*columns, strict=True)).encode("utf-8")


def record_fetch(download: Download) -> None:
    """Count a fetch of the file (bookkeeping; the fetch itself is in the access log)."""
    Download.objects.filter(pk=download.pk).update(fetched=F("fetched") + 1)


def expire_downloads(now: dt.datetime | None = None) -> int:
    """Remove the files of downloads past their time; they stay listed as expired (with their fingerprint)."""
    now = now or timezone.now()
    done = 0
    for download in Download.objects.filter(status=Download.Status.READY, expires_at__lte=now):
        file_of(download).unlink(missing_ok=True)
        for piece in download_dir().glob(download.filename + ".part*"):  # a job cancelled half-way left them
            piece.unlink(missing_ok=True)
        done += Download.objects.filter(pk=download.pk, status=Download.Status.READY).update(
            status=Download.Status.EXPIRED)
    # what failed builds left half-written (masked data all the same) goes after the same time
    stale = now - dt.timedelta(days=settings.GOVSHARE_DOWNLOAD_KEEP_DAYS)
    for download in Download.objects.filter(status=Download.Status.FAILED, created_at__lte=stale):
        part = file_of(download).with_name(file_of(download).name + ".part")
        part.unlink(missing_ok=True)
        for piece in part.parent.glob(part.name + ".*"):  # the parts of a parallel build
            piece.unlink(missing_ok=True)
    return done
