"""Batch downloads (部门批量下载, the 文件 channel; issue 11 item 4; SHR-4, SEC-3, SEC-4): a consumer's grant as
CSV (UTF-8 with BOM), XLSX or JSON Lines, built by a background job page by page, masked, fetched only by the
grant's department while the grant allows it, kept for a limited time, its SHA-256 recorded — and a job killed
half-way goes on from its last written page.  Owner, colleague, outsider, auditor."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from govshare.core import jobs
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AccessEvent, AuditEvent, Job
from govshare.datastore.actions import downloads
from govshare.datastore.models import Download
from govshare.sharing.actions import do_revoke_grant
from govshare.sharing.models import Grant
from tests.conftest import API, login
from tests.test_data_api import PEOPLE, PURPOSE, data  # noqa: F401 — the fixture: 5 people in the centre

pytestmark = pytest.mark.django_db


@pytest.fixture
def filed(data: Any) -> Any:  # noqa: F811
    """The market's grant delivers through the file channel."""
    Grant.objects.filter(pk=data.grant.pk).update(channel="file")
    return data


def _ask(client: Client, entry: Any, capture: Any, **body: Any) -> Any:
    body.setdefault("purpose", PURPOSE)
    with capture(execute=True):  # the job runs when the request's transaction commits
        return client.post(f"{API}/data/{entry.code}/downloads", body, content_type="application/json")


def _queued(client: Client, entry: Any, capture: Any) -> tuple[Download, Any]:
    """A download asked for and not built yet (its job not run), and the path of its file being built."""
    with capture(execute=False):
        response = client.post(f"{API}/data/{entry.code}/downloads", {"purpose": PURPOSE},
                               content_type="application/json")
    download = Download.objects.get(pk=response.json()["id"])
    part = downloads.file_of(download).with_name(download.filename + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    return download, part


def _checkpointed(download: Download, states: list[dict[str, Any]]) -> None:
    """The download's job as a worker killed during a build in parts left it (``states``: the parts' records)."""
    sealed = downloads.crypto.seal(json.dumps(states).encode(), downloads.CHECKPOINT_SEAL)
    Job.objects.filter(pk=download.job_id).update(checkpoint={"parts": sealed}, attempts=2)


def _file(client: Client, download_id: str) -> Any:
    return client.get(f"{API}/data/downloads/{download_id}/file")


def test_a_csv_download_is_built_masked_and_fetched_with_its_fingerprint(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks)
    assert asked.status_code == 202, asked.content
    status = client.get(f"{API}/data/downloads/{asked.json()['id']}").json()
    assert status["status"] == "ready" and status["rows"] == 5 and status["progress_done"] == 5
    answer = _file(client, status["id"])
    assert answer.status_code == 200 and answer["Content-Disposition"].startswith("attachment")
    body = b"".join(answer.streaming_content)
    assert hashlib.sha256(body).hexdigest() == status["sha256"] == answer["X-Content-SHA256"]
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert lines[0] == ["公民身份号码", "姓名", "出生日期"]
    assert lines[1] == ["360783********0033", "赵*", "1966-10-10"] and len(lines) == 6
    assert "张三" not in text and "360783199001011234" not in text
    logged = AccessEvent.objects.get(code=AuditCode.DATA_DOWNLOADED)
    assert logged.detail["sha256"] == status["sha256"] and logged.results == 5
    assert logged.detail["grant"] == filed.grant.number
    assert AuditEvent.objects.filter(code=AuditCode.DOWNLOAD_REQUESTED).count() == 1
    assert Download.objects.get().fetched == 1


def test_json_lines_and_xlsx_with_a_filter_and_chosen_items(filed: Any, django_capture_on_commit_callbacks: Any
                                                            ) -> None:
    client = login(Client(), filed.org.market_specialist)
    lines = _ask(client, filed.entry, django_capture_on_commit_callbacks, format="jsonl", fields=["姓名", "出生日期"],
                 filters={"出生日期__gte": "1980-01-01"}).json()
    body = b"".join(_file(client, lines["id"]).streaming_content).decode()
    assert [json.loads(line) for line in body.splitlines()] == [
        {"姓名": "欧阳**", "出生日期": "1985-05-05"}, {"姓名": "张*", "出生日期": "1990-01-01"}]
    book = _ask(client, filed.entry, django_capture_on_commit_callbacks, format="xlsx").json()
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(_file(client, book["id"]).streaming_content)),
                                   read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["公民身份号码", "姓名", "出生日期"] and values[1][:2] == ["360783********0033", "赵*"]
    assert len(values) == 6


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_large_file_built_in_parts_at_once_is_the_file_one_process_builds(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any, fmt: str) -> None:
    """Issue 11 (CSV ≥ 100 k rows/s): a file of enough rows is built by several processes, a key range each, then
    joined — byte for byte the file one process builds, masked the same; the job says how far it got."""
    client = login(Client(), filed.org.market_specialist)
    monkeypatch.setattr(downloads, "PAGE_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 1
    one = _ask(client, filed.entry, django_capture_on_commit_callbacks, format=fmt).json()
    whole = b"".join(_file(client, one["id"]).streaming_content)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 3
    for filters in ({}, {"filters": {"出生日期__gte": "1980-01-01"}}):
        parted = _ask(client, filed.entry, django_capture_on_commit_callbacks, format=fmt, **filters).json()
        download = Download.objects.get(pk=parted["id"])
        job = Job.objects.get(pk=download.job_id)
        assert download.status == "ready", download.message
        assert "parts" in job.checkpoint and job.progress_done == download.rows
        body = b"".join(_file(client, parted["id"]).streaming_content)
        if not filters:
            assert body == whole and download.sha256 == Download.objects.get(pk=one["id"]).sha256
        else:
            assert download.rows == 2 and "张*" in body.decode()
        assert not list(downloads.download_dir().glob("*.part*"))  # the parts are gone


def test_a_build_in_parts_killed_half_way_goes_on_from_each_parts_last_written_page(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """Each part records where it stands; the worker that takes the job over cuts each part's file back to it and
    writes the rest: the same file as an uninterrupted build, the checkpoint sealed (no key in clear)."""
    client = login(Client(), filed.org.market_specialist)
    monkeypatch.setattr(downloads, "PAGE_ROWS", 1)
    whole = b"".join(_file(client, _ask(client, filed.entry, django_capture_on_commit_callbacks).json()["id"])
                     .streaming_content)
    lines = whole.split(b"\r\n")  # header, five rows, ""
    header, rows = lines[0] + b"\r\n", [line + b"\r\n" for line in lines[1:6]]
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 2
    download, part = _queued(client, filed.entry, django_capture_on_commit_callbacks)
    keys = [person[0] for person in PEOPLE]  # the key order is the people's order
    # part 1: rows 1–2, one recorded, half of the next line written since; part 2: rows 3–5, one recorded
    downloads._part_file(part, 0).write_bytes(rows[0] + b"360783198505054,half a line")
    downloads._part_file(part, 1).write_bytes(rows[2] + rows[3][:10])
    states = [{"after": None, "until": downloads._tagged([keys[1]]), "rows": 1, "bytes": len(rows[0]),
               "position": downloads._tagged([keys[0]]), "done": False},
              {"after": downloads._tagged([keys[1]]), "until": None, "rows": 1, "bytes": len(rows[2]),
               "position": downloads._tagged([keys[2]]), "done": False}]
    _checkpointed(download, states)
    assert jobs.execute(download.job_id, "test-worker") == "succeeded"
    job = Job.objects.get(pk=download.job_id)
    assert "resuming 2 parts" in job.log and keys[0][:14] not in str(job.checkpoint)
    download.refresh_from_db()
    assert download.status == "ready" and download.rows == 5
    assert downloads.file_of(download).read_bytes() == header + b"".join(rows) == whole


def test_a_build_in_parts_whose_files_are_gone_starts_again_instead_of_padding_them(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """A checkpoint naming bytes the parts' files no longer hold (the folder cleaned, another machine) builds the
    file again — a part is never cut "back" to a length it never had (the gap would be NUL bytes)."""
    client = login(Client(), filed.org.market_specialist)
    monkeypatch.setattr(downloads, "PAGE_ROWS", 1)
    whole = b"".join(_file(client, _ask(client, filed.entry, django_capture_on_commit_callbacks).json()["id"])
                     .streaming_content)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 2
    download, part = _queued(client, filed.entry, django_capture_on_commit_callbacks)
    downloads._part_file(part, 0).write_bytes(b"360783")  # shorter than its record; part 2's file is gone
    keys = [person[0] for person in PEOPLE]
    states = [{"after": None, "until": downloads._tagged([keys[1]]), "rows": 1, "bytes": 40,
               "position": downloads._tagged([keys[0]]), "done": False},
              {"after": downloads._tagged([keys[1]]), "until": None, "rows": 3, "bytes": 120,
               "position": downloads._tagged([keys[4]]), "done": True}]
    _checkpointed(download, states)
    assert jobs.execute(download.job_id, "test-worker") == "succeeded"
    assert "building the file again" in Job.objects.get(pk=download.job_id).log
    download.refresh_from_db()
    assert download.rows == 5 and downloads.file_of(download).read_bytes() == whole


def _unsealed_parts(sealed: str) -> list[dict[str, Any]]:
    return list(json.loads(downloads.crypto.unseal(sealed, downloads.CHECKPOINT_SEAL)))


def test_a_checkpoint_taken_just_after_a_parts_last_page_resumes_without_writing_it_twice(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """Review of the 12th session: a part reported its last page's bytes with the position of the page before —
    a worker killed then resumed into that page twice. Every checkpoint of an uninterrupted build, resumed from,
    gives the uninterrupted file."""
    client = login(Client(), filed.org.market_specialist)
    monkeypatch.setattr(downloads, "PAGE_ROWS", 2)
    whole = b"".join(_file(client, _ask(client, filed.entry, django_capture_on_commit_callbacks).json()["id"])
                     .streaming_content)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    monkeypatch.setattr(downloads, "CHECKPOINT_SECONDS", 0.0)  # every report saved
    settings.GOVSHARE_DOWNLOAD_PARTS = 2
    saved: list[tuple[dict[str, Any], list[bytes]]] = []
    real_save = jobs.JobContext.save_checkpoint

    def saving(self: Any, checkpoint: dict[str, Any], done: int | None = None) -> None:
        if "parts" in checkpoint:
            part = downloads.file_of(Download.objects.get(pk=self.params["download"]))
            part = part.with_name(part.name + ".part")
            pieces = [downloads._part_file(part, k) for k in range(len(_unsealed_parts(checkpoint["parts"])))]
            saved.append((checkpoint, [p.read_bytes() if p.exists() else b"" for p in pieces]))
        real_save(self, checkpoint, done)

    monkeypatch.setattr(jobs.JobContext, "save_checkpoint", saving)
    _ask(client, filed.entry, django_capture_on_commit_callbacks)
    monkeypatch.setattr(jobs.JobContext, "save_checkpoint", real_save)
    assert len(saved) >= 2
    for checkpoint, pieces in saved:  # the worker killed -9 right after this checkpoint: another one resumes
        download, part = _queued(client, filed.entry, django_capture_on_commit_callbacks)
        for k, written in enumerate(pieces):
            downloads._part_file(part, k).write_bytes(written)
        Job.objects.filter(pk=download.job_id).update(checkpoint=checkpoint, attempts=2)
        assert jobs.execute(download.job_id, "test-worker") == "succeeded"
        download.refresh_from_db()
        assert (download.rows, downloads.file_of(download).read_bytes()) == (5, whole)


def test_rows_loaded_while_a_file_is_split_into_parts_are_never_written_twice(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """Review of the 12th session: the parts' bounds were read one statement each — a load committed in between
    (rows sorting before the first bound) made the ranges overlap. They are read in one snapshot now."""
    from govshare.datastore.engine.store import Store
    from tests.test_data_api import _load

    client = login(Client(), filed.org.market_specialist)
    monkeypatch.setattr(downloads, "PAGE_ROWS", 2)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 3
    newcomers = [[f"11010119000101{n:04d}", f"新{n}", None] for n in range(1, 4)]  # keys before all of PEOPLE
    real_read = Store.read
    loaded: list[bool] = []

    def read(self: Store, sql: str, params: Any, letters: Any) -> Any:
        rows = real_read(self, sql, params, letters)
        if "OFFSET" in sql and not loaded:  # a centre load commits between the bounds' statements
            loaded.append(True)
            _load(filed.entry, [*PEOPLE, *newcomers])
        return rows

    monkeypatch.setattr(Store, "read", read)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks, format="jsonl").json()
    assert loaded and Download.objects.get(pk=asked["id"]).status == "ready"
    keys = [json.loads(line)["公民身份号码"] for line in
            b"".join(_file(client, asked["id"]).streaming_content).decode().splitlines()]
    assert len(keys) == len(set(keys)) == len(PEOPLE) + len(newcomers)


def _children() -> set[int]:
    """The parts this process started (a build's job runs in the test's process): spawned interpreters — not
    multiprocessing's resource tracker, which spawning starts too."""
    import os
    from pathlib import Path

    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # gone already
            if b"spawn_main" in command and b"resource_tracker" not in command:
                found.add(int(pid))
    return found


@pytest.fixture
def many(filed: Any, monkeypatch: Any, settings: Any) -> Any:
    """1 200 more people, read a row a page and each page reported: parts that live long enough to be signalled."""
    from tests.test_data_api import _load

    _load(filed.entry, [[f"3607831990{n:08d}", f"张{n}", None] for n in range(1200)])
    monkeypatch.setattr(downloads, "PAGE_ROWS", 1)
    monkeypatch.setattr(downloads, "CHECKPOINT_SECONDS", 0.0)
    settings.GOVSHARE_DOWNLOAD_PARTS = 1
    return filed


def _signal_parts(numbers: list[Any], *, each: bool = False, written: bool = True) -> tuple[Any, Any, list[int]]:
    """A thread that sends ``numbers`` to the build's parts once they have written something (``each``: to every
    part process that appears, as it appears)."""
    import contextlib
    import os
    import threading
    import time

    before, signalled, stop = _children(), [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            new = _children() - before - set(signalled)
            pieces = [p for p in downloads.download_dir().glob("*.part.*") if p.stat().st_size > 0]
            if (each and new) or (len(new) >= 2 and (pieces or not written)):
                for pid in new:
                    for number in numbers:
                        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                            os.kill(pid, number)
                signalled.extend(new)
                if not each:
                    return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher, stop, signalled


def test_a_stop_signal_to_the_workers_processes_does_not_fail_a_build_in_parts(
        many: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """Review of the 12th session: Ctrl-C or `systemctl stop` signal every process of the worker; the worker
    finishes its job — its parts must too (they ignore the stop and die only with the worker)."""
    import signal

    client = login(Client(), many.org.market_specialist)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 2
    watcher, stop, signalled = _signal_parts([signal.SIGTERM, signal.SIGINT])
    try:
        asked = _ask(client, many.entry, django_capture_on_commit_callbacks)
    finally:
        stop.set()
        watcher.join()
    download = Download.objects.get(pk=asked.json()["id"])
    assert signalled and download.status == "ready" and download.rows == 1205, download.message
    assert "started again" not in Job.objects.get(pk=download.job_id).log


def test_a_part_whose_process_is_killed_is_started_again_from_where_it_stood(
        many: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """A part's process killed (out of memory, SIGKILL) is started again from its last report — the file the same
    as one process builds — and only a part that keeps dying fails the build."""
    import signal

    client = login(Client(), many.org.market_specialist)
    whole = b"".join(_file(client, _ask(client, many.entry, django_capture_on_commit_callbacks).json()["id"])
                     .streaming_content)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 2
    watcher, stop, signalled = _signal_parts([signal.SIGKILL])
    try:
        asked = _ask(client, many.entry, django_capture_on_commit_callbacks).json()
    finally:
        stop.set()
        watcher.join()
    download = Download.objects.get(pk=asked["id"])
    assert signalled and download.status == "ready", download.message
    assert "started again" in Job.objects.get(pk=download.job_id).log
    assert downloads.file_of(download).read_bytes() == whole

    watcher, stop, signalled = _signal_parts([signal.SIGKILL], each=True)  # every part process, as it starts
    try:
        failed = Download.objects.get(pk=_ask(client, many.entry, django_capture_on_commit_callbacks).json()["id"])
    finally:
        stop.set()
        watcher.join()
    assert failed.status == "failed" and "ended without finishing" in failed.message, failed.message
    # a part started PART_RESTARTS times again, then given up (the other part's last start may not have come)
    assert f"{downloads.PART_RESTARTS + 1} times" in failed.message
    assert downloads.PART_RESTARTS + 1 <= len(signalled) <= 2 * (downloads.PART_RESTARTS + 1)


def test_a_part_that_fails_fails_the_build_saying_why_and_nothing_is_offered(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """A part that cannot go on (here: a recorded position that does not fit the rows' order) fails the build with
    its reason; the file is not offered, and what the parts wrote goes after the keeping time."""
    client = login(Client(), filed.org.market_specialist)
    monkeypatch.setattr(downloads, "PAGE_ROWS", 1)
    monkeypatch.setattr(downloads, "PART_MIN_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 2
    download, part = _queued(client, filed.entry, django_capture_on_commit_callbacks)
    keys = [person[0] for person in PEOPLE]
    downloads._part_file(part, 0).write_bytes(b"")
    downloads._part_file(part, 1).write_bytes(b"")
    states = [{"after": None, "until": downloads._tagged([keys[1]]), "rows": 0, "bytes": 0, "done": False},
              {"after": downloads._tagged([keys[1]]), "until": None, "rows": 0, "bytes": 0, "done": False,
               "position": downloads._tagged([keys[2], "a second value"])}]
    _checkpointed(download, states)
    jobs.execute(download.job_id, "test-worker")
    download.refresh_from_db()
    assert download.status == "failed" and "part 2 of the file" in download.message, download.message
    assert "cursor" in download.message
    assert _file(client, str(download.pk)).status_code == 409  # no file to fetch: it is not ready
    # what the failed parts wrote (masked all the same) goes after the download's keeping time
    assert list(downloads.download_dir().glob("*.part.*"))
    downloads.expire_downloads(timezone.now() + dt.timedelta(days=settings.GOVSHARE_DOWNLOAD_KEEP_DAYS + 1))
    assert not list(downloads.download_dir().glob("*.part*"))


def test_only_the_grants_department_fetches_the_file(filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    asked = _ask(login(Client(), filed.org.market_specialist), filed.entry, django_capture_on_commit_callbacks).json()
    colleague = login(Client(), filed.org.market_admin)
    assert _file(colleague, asked["id"]).status_code == 200
    for outsider in (filed.org.police_specialist, filed.org.centre_admin):
        assert _file(login(Client(), outsider), asked["id"]).status_code == 404
    auditor = login(Client(), filed.org.auditor)
    assert auditor.get(f"{API}/data/downloads/{asked['id']}").status_code == 200  # the record, not the data
    assert _file(auditor, asked["id"]).status_code == 404
    assert login(Client(), filed.org.police_specialist).get(f"{API}/data/downloads").json() == []


def test_a_revoked_grant_stops_the_fetch_and_another_channel_is_refused(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks).json()
    do_revoke_grant(filed.org.police_admin, filed.grant, reason="停止共享")
    refused = _file(client, asked["id"])
    assert refused.status_code == 403 and "revoked" in refused.json()["error"]["message_en"]
    Grant.objects.filter(pk=filed.grant.pk).update(revoked_at=None, channel="api")
    wrong = _ask(client, filed.entry, django_capture_on_commit_callbacks)
    assert wrong.status_code == 403 and "through" in wrong.json()["error"]["message_en"]


def test_a_filter_on_a_masked_item_or_an_unknown_format_is_refused(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), filed.org.market_specialist)
    masked = _ask(client, filed.entry, django_capture_on_commit_callbacks, filters={"姓名": "张三"})
    assert masked.status_code == 400 and masked.json()["error"]["code"] == "masked_item"
    assert _ask(client, filed.entry, django_capture_on_commit_callbacks, format="pdf").status_code == 422
    assert Download.objects.count() == 0


def test_an_expired_download_loses_its_file_and_keeps_its_record(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    import datetime as dt

    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks).json()
    download = Download.objects.get()
    assert downloads.file_of(download).exists() and download.sha256
    assert downloads.expire_downloads(download.expires_at - dt.timedelta(seconds=1)) == 0
    assert downloads.expire_downloads(download.expires_at + dt.timedelta(seconds=1)) == 1
    assert not downloads.file_of(download).exists()
    gone = client.get(f"{API}/data/downloads/{asked['id']}").json()
    assert gone["status"] == "expired" and gone["sha256"] == download.sha256 and gone["file"] is None
    assert _file(client, asked["id"]).json()["error"]["code"] == "not_ready"


def killed_after_two_rows(filed: Any, capture: Any) -> tuple[Download, bytes]:
    """A CSV built whole, then the same download as a worker killed after its first 2 rows (and half a line after
    them) left it, run again: (that download, the whole file)."""
    client = login(Client(), filed.org.market_specialist)
    whole = b"".join(_file(client, _ask(client, filed.entry, capture).json()["id"]).streaming_content)
    prefix = whole[:whole.index(b"\r\n", whole.index(b"\r\n", whole.index(b"\r\n") + 2) + 2) + 2]  # header + 2 rows
    download, part = _queued(client, filed.entry, capture)
    part.write_bytes(prefix + b"360783198505054,half a line")
    Job.objects.filter(pk=download.job_id).update(
        checkpoint={"after": downloads._sealed([PEOPLE[1][0]]), "rows": 2, "bytes": len(prefix)}, attempts=2)
    assert jobs.execute(download.job_id, "test-worker") == "succeeded"
    return download, whole


def test_a_job_killed_half_way_goes_on_from_its_last_written_page(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """The worker died after its page of 2 rows was committed to the file and a part of the next page was
    written: the next attempt cuts the file back to the checkpoint and writes the rest — the same file as an
    uninterrupted build."""
    monkeypatch.setattr(downloads, "PAGE_ROWS", 2)
    download, whole = killed_after_two_rows(filed, django_capture_on_commit_callbacks)
    job = Job.objects.get(pk=download.job_id)
    # review H3: the resumed job's log names the checkpoint, sealed: no key in clear for the requester to read
    assert "resuming" in job.log and PEOPLE[1][0] not in job.log and PEOPLE[1][0][:14] not in str(job.checkpoint)
    download.refresh_from_db()
    assert download.status == "ready" and download.rows == 5
    assert downloads.file_of(download).read_bytes() == whole
    assert download.sha256 == hashlib.sha256(whole).hexdigest()


def test_the_grant_page_prepares_a_file_and_the_downloads_page_offers_it(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = login(Client(), filed.org.market_specialist)
    page = client.get(f"/sharing/grants/{filed.grant.pk}/").content.decode()
    assert 'data-panel="download"' in page and 'data-panel="data-api"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/data/grants/{filed.grant.pk}/downloads/", {"format": "jsonl"})
    assert answer.status_code == 302 and answer["Location"] == "/data/downloads/"
    listing = client.get("/data/downloads/").content.decode()
    download = Download.objects.get()
    assert f'data-download="{download.pk}" data-status="ready"' in listing
    assert f"/api/v1/data/downloads/{download.pk}/file" in listing and 'hx-trigger="every 2s"' not in listing
    assert download.sha256[:12] in listing
    # the provider's staff and another department see neither the panel's form nor the download
    provider = login(Client(), filed.org.police_specialist)
    assert 'data-panel="download"' not in provider.get(f"/sharing/grants/{filed.grant.pk}/").content.decode()
    assert str(download.pk) not in provider.get("/data/downloads/").content.decode()
    assert provider.post(f"/data/grants/{filed.grant.pk}/downloads/", {"format": "csv"}).status_code == 404
    assert Download.objects.count() == 1


def test_the_downloads_page_links_a_file_only_for_whom_may_fetch_it_while_the_grant_allows_it(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    """QA walk-through (21st session): the centre and auditors saw 下载 links that answered a JSON 404 (each click an
    audited denial), and a revoked grant's file still read 就绪 with a link to a raw JSON refusal.  Owner, colleague,
    the centre, the auditor."""
    asked = _ask(login(Client(), filed.org.market_specialist), filed.entry, django_capture_on_commit_callbacks).json()
    link = f"/api/v1/data/downloads/{asked['id']}/file"
    for who, linked in ((filed.org.market_specialist, True), (filed.org.market_admin, True),
                        (filed.org.centre_admin, False), (filed.org.auditor, False)):
        listing = login(Client(), who).get("/data/downloads/").content.decode()
        assert f'data-download="{asked["id"]}"' in listing and (link in listing) is linked, who
    assert filed.org.market_specialist.real_name in listing  # who asked: for the centre's oversight
    do_revoke_grant(filed.org.police_admin, filed.grant, reason="停止共享")
    listing = login(Client(), filed.org.market_specialist).get("/data/downloads/").content.decode()
    assert link not in listing and "data-grant-ended" in listing


def test_a_download_being_built_refreshes_its_row(filed: Any) -> None:
    client = login(Client(), filed.org.market_specialist)
    client.post(f"/data/grants/{filed.grant.pk}/downloads/", {"format": "csv"})  # no commit: stays queued
    listing = client.get("/data/downloads/").content.decode()
    assert 'data-status="queued"' in listing and 'hx-trigger="every 2s"' in listing and "<progress" in listing


#: session, user, the list (joined), the access log's row
LIST_QUERIES = 5


def test_the_downloads_list_costs_a_fixed_number_of_queries(
        filed: Any, django_capture_on_commit_callbacks: Any, django_assert_max_num_queries: Any) -> None:
    client = login(Client(), filed.org.market_specialist)
    _ask(client, filed.entry, django_capture_on_commit_callbacks)
    client.get(f"{API}/data/downloads")
    with django_assert_max_num_queries(LIST_QUERIES):
        assert len(client.get(f"{API}/data/downloads").json()) == 1
    for fmt in ("jsonl", "xlsx", "csv"):
        _ask(client, filed.entry, django_capture_on_commit_callbacks, format=fmt)
    with django_assert_max_num_queries(LIST_QUERIES):  # the same for four downloads as for one
        assert len(client.get(f"{API}/data/downloads").json()) == 4
    with django_assert_max_num_queries(LIST_QUERIES + 2):
        assert client.get("/data/downloads/").status_code == 200



def test_a_download_a_system_asked_for_is_fetched_by_that_system_only(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review H1: the department's staff fetched a file made under a grant limited to one system."""
    from govshare.sharing.actions import do_issue_system_key

    Grant.objects.filter(pk=filed.grant.pk).update(system=filed.market_system)
    secret = do_issue_system_key(filed.org.market_admin, filed.market_system, name="下载").secret
    system = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    with django_capture_on_commit_callbacks(execute=True):
        asked = system.post(f"{API}/data/{filed.entry.code}/downloads", {"purpose": PURPOSE},
                            content_type="application/json")
    assert asked.status_code == 202, asked.content
    assert _file(system, asked.json()["id"]).status_code == 200
    for person in (filed.org.market_specialist, filed.org.market_admin):
        assert _file(login(Client(), person), asked.json()["id"]).status_code == 404


def test_another_grant_never_stands_in_for_the_revoked_grant_a_file_was_made_under(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review H2: after its grant was revoked, a file masked under it was delivered under a second grant with
    other masks."""
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks).json()
    do_revoke_grant(filed.org.police_admin, filed.grant, reason="停止共享")
    second = Grant.objects.get(pk=filed.grant.pk)
    second.pk, second.number, second.revoked_at, second.revoked_by = None, "SQ2026-999999", None, None
    second.masking = {"公民身份号码": "保留前6位", "姓名": "不提供明文"}
    second.save()
    refused = _file(client, asked["id"])
    assert refused.status_code == 403 and "revoked" in refused.json()["error"]["message_en"]



def test_a_newer_grant_does_not_make_a_valid_grants_file_unfetchable(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 2: the fetch judged by the department's best grant refused the file of a grant still valid."""
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks).json()
    newer = Grant.objects.get(pk=filed.grant.pk)
    newer.pk, newer.number = None, "SQ2026-999998"
    newer.save()
    assert _file(client, asked["id"]).status_code == 200


def test_a_file_masked_otherwise_than_the_data_is_now_is_not_delivered(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    """Review 2: after an item became sensitive, a file built before still gave it in clear."""
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks).json()
    filed.entry.current_version.items.filter(name="出生日期").update(is_sensitive=True, masking_rule="不提供明文")
    refused = _file(client, asked["id"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "masking_changed"


def test_a_build_records_where_it_stands_as_it_goes(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """The checkpoint a killed build resumes from is recorded at most every CHECKPOINT_SECONDS (here: each page),
    sealed, with the bytes written so far."""
    monkeypatch.setattr(downloads, "PAGE_ROWS", 2)
    monkeypatch.setattr(downloads, "CHECKPOINT_SECONDS", 0)
    asked = _ask(login(Client(), filed.org.market_specialist), filed.entry, django_capture_on_commit_callbacks).json()
    download = Download.objects.get(pk=asked["id"])
    checkpoint = Job.objects.get(pk=download.job_id).checkpoint
    assert checkpoint["rows"] == 4 and 0 < checkpoint["bytes"] < download.bytes
    assert downloads._unsealed(checkpoint["after"]) == [PEOPLE[3][0]]


def test_a_csv_file_keeps_a_date_times_fractions_of_a_second() -> None:
    """Data, not a list of the platform's: a date-time is written in full (the export helper cuts it to the
    second)."""
    import datetime as dt

    text = downloads._lines("csv", ["时间"], [(dt.datetime(2024, 5, 1, 8, 0, 0, 123456),)]).decode()
    assert text == "2024-05-01 08:00:00.123456\r\n"


def test_a_csv_files_cells_are_written_as_the_platforms_csv_cells_with_date_times_in_full() -> None:
    """The download's fast cell writer (exports.data_cells) writes every kind of value the centre holds — and what
    masks make of them — exactly as csv_cell after exact_cells does: text neutralised (=, +, -, @, tab, CR first),
    None empty, booleans true/false, numbers as numbers, dates ISO, date-times in full."""
    import csv
    import datetime as dt
    import io
    from decimal import Decimal

    from govshare.core import exports
    from govshare.datastore import delivery

    values = ["", "张三", "=HYPERLINK(\"x\")", "+1", "-2", "@a", "\tx", "\rx", "a,b", 'say "hi"', "line\nbreak",
              None, True, False, 0, -7, 3.5, float("inf"), Decimal("-12.50"), Decimal("1E+3"), dt.date(2024, 2, 29),
              dt.datetime(2024, 5, 1, 8, 0), dt.datetime(2024, 5, 1, 8, 0, 0, 5),
              dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC), b"\x00\x01", ["x"], {"a": 1}]

    def old(rows: list[list[object]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for row in rows:
            writer.writerow([exports.csv_cell(v) for v in delivery.exact_cells(row)])
        return buffer.getvalue()

    def columns(rows: list[list[object]]) -> list[tuple[object, ...]]:
        return list(zip(*rows, strict=True))

    # a page is written column by column (exports.data_column): a column of one value of each kind, a row of every
    # kind, a column of all kinds mixed, and columns of one kind each (text with formulas among it, numbers, dates)
    for rows in ([[v] for v in values], [values], [[v] for v in values[:12]], [[v] for v in values[12:20]],
                 [[v] for v in values[20:]], [[dt.date(2024, 1, 1)], [None], [dt.datetime(2024, 5, 1, 8, 0)]]):
        assert downloads._lines("csv", ["x"] * len(rows[0]), columns(rows)).decode() == old(rows)
    for value in values:
        assert downloads._lines("csv", ["x"], columns([[value]])).decode() == old([[value]])


def test_a_file_built_while_the_centres_table_is_made_again_is_refused_not_offered(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    """EXC-1 with SHR (review of the 19th session): a file whose pages were read partly before and partly after the
    centre's table was made again (a new version: items in other places) would mix the two — the build compares
    the table's incarnation at its end and fails, saying to ask again; nothing is offered."""
    from govshare.datastore.centre import open_store, table_for

    real = downloads._write

    def rebuilt_meanwhile(*args: Any, **kwargs: Any) -> int:
        rows = real(*args, **kwargs)
        with open_store() as store:
            table = table_for(filed.entry)
            store.rebuild_table(table, *store.describe(table))
        return rows

    monkeypatch.setattr(downloads, "_write", rebuilt_meanwhile)
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks)
    status = client.get(f"{API}/data/downloads/{asked.json()['id']}").json()
    assert status["status"] == "failed" and "请重新申请下载" in status["message"], status
    assert _file(client, status["id"]).status_code in (404, 409)
    # why it failed is kept as what it means: each reader gets it in their language (not one "中文 / English" text)
    assert "请重新申请下载" in client.get("/data/downloads/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get(f"{API}/data/downloads/{status['id']}").json()
    assert "ask for the download again" in english["message"] and "请" not in english["message"], english
    page = client.get("/data/downloads/").content.decode()
    assert "ask for the download again" in page and "请重新申请下载" not in page


def test_a_file_whose_pages_fail_on_a_table_made_again_without_an_item_says_to_ask_again(
        filed: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any, settings: Any) -> None:
    """EXC-1 with SHR (second review of the 19th session): the usual rebuild removes an item — the pages read after it
    by the old columns fail; the download says why in words (ask again), not the database's error."""
    from govshare.datastore.centre import open_store, table_for

    monkeypatch.setattr(downloads, "PAGE_ROWS", 1)
    settings.GOVSHARE_DOWNLOAD_PARTS = 1
    real = downloads._lines
    calls = {"n": 0}

    def lines(*args: Any, **kwargs: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:  # the first page written: the table made again without 出生日期
            with open_store() as store:
                table = table_for(filed.entry)
                columns, key = store.describe(table)
                store.rebuild_table(table, [c for c in columns if c.name != "出生日期"], key)
        return real(*args, **kwargs)

    monkeypatch.setattr(downloads, "_lines", lines)
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks)
    client.cookies["django_language"] = "en"
    status = client.get(f"{API}/data/downloads/{asked.json()['id']}").json()
    assert status["status"] == "failed" and "ask for the download again" in status["message"], status["message"]


def test_a_build_resumed_after_its_worker_died_compares_with_the_table_its_first_pages_came_from(
        filed: Any, django_capture_on_commit_callbacks: Any) -> None:
    """EXC-1 with SHR (19th session): the table's incarnation rides in every checkpoint — a build resumed after a worker
    died, with the table made again in between, is refused like one that saw the rebuild itself."""
    client = login(Client(), filed.org.market_specialist)
    download, part = _queued(client, filed.entry, django_capture_on_commit_callbacks)
    part.write_bytes(b"")  # what the dead worker had written
    Job.objects.filter(pk=download.job_id).update(
        checkpoint={"after": None, "rows": 0, "bytes": 0, "made": "2020-01-01T00:00:00.000+00:00"}, attempts=2)
    jobs.execute(download.job_id, "test-worker")
    download.refresh_from_db()
    assert download.status == Download.Status.FAILED and "ask for the download again" in download.message


# -- a grant that changes between the request and the fetch (review of the 21st session) ------------------------------

def test_a_fetch_refused_because_the_masking_changed_is_audited(filed: Any, django_capture_on_commit_callbacks: Any
                                                                 ) -> None:
    """Every refusal of a channel is audited (ACCESS_DENIED): the fetch refused for a changed mask was not."""
    client = login(Client(), filed.org.market_specialist)
    asked = _ask(client, filed.entry, django_capture_on_commit_callbacks).json()
    Grant.objects.filter(pk=filed.grant.pk).update(masking={**filed.grant.masking, "出生日期": "日期保留到月"})
    before = AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED).count()
    refused = _file(client, asked["id"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "masking_changed"
    assert AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED).count() == before + 1


def _narrowed(filed: Any, change: str) -> None:
    if change == "mask_added":
        Grant.objects.filter(pk=filed.grant.pk).update(masking={**filed.grant.masking, "出生日期": "日期保留到年"})
    else:
        Grant.objects.filter(pk=filed.grant.pk).update(items=["公民身份号码", "姓名"])


@pytest.mark.parametrize("change", ["mask_added", "item_removed"])
def test_a_file_whose_rows_a_filter_chose_on_an_item_the_grant_now_hides_is_neither_built_nor_fetched(
        filed: Any, django_capture_on_commit_callbacks: Any, change: str) -> None:
    """A file of 公民身份号码 and 姓名 asked for with a filter on 出生日期 (unmasked, granted then): after the provider
    masks 出生日期 to the year (or takes it from the grant) the data API refuses that filter — it would tell who was
    born that day — but the file was built and fetched with it: exactly 张*, born on 1990-01-01.  Queued before the
    change: not built; built before: not fetched; both audited."""
    client = login(Client(), filed.org.market_specialist)
    body = {"purpose": PURPOSE, "fields": ["公民身份号码", "姓名"], "filters": {"出生日期": "1990-01-01"}}
    with django_capture_on_commit_callbacks(execute=False):  # asked for; the worker has not built it yet
        queued = client.post(f"{API}/data/{filed.entry.code}/downloads", body, content_type="application/json")
    assert queued.status_code == 202, queued.content
    ready = _ask(client, filed.entry, django_capture_on_commit_callbacks, fields=body["fields"],
                 filters=body["filters"]).json()
    assert client.get(f"{API}/data/downloads/{ready['id']}").json()["status"] == "ready"
    _narrowed(filed, change)
    built = Download.objects.get(pk=queued.json()["id"])
    assert jobs.execute(built.job_id, "test-worker") == "failed"  # the refused build fails its job
    built.refresh_from_db()
    assert built.status == "failed" and _file(client, str(built.pk)).status_code != 200
    fetched = _file(client, ready["id"])
    assert fetched.status_code == 403 and fetched.json()["error"]["code"] == "filter_not_allowed"
    assert AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED, detail__reasons=["filter_not_allowed"]).count() == 2
