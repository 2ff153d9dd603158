"""Spreadsheet uploads for departments without a business system (EXC-3; issue 11 item 8): the template, the job
that checks and loads an upload, and the reminder when one is due.

* :func:`columns_for` — the entry's items as template columns: typed, the key marked, the value rules' allowed values
  as drop-downs.  Items named like an ID number (公民身份号码, 身份证号…) or a credit code (统一社会信用代码) get the
  ``id_number`` / ``uscc`` rule when the provider set none for them: a wrong check character never enters the centre.
* The job ``exchange.upload`` reads the whole file (:mod:`govshare.exchange.engine.workbook`): every problem with
  its sheet, row, column and reason; any problem refuses the whole upload and nothing is stored.  ``append`` also
  refuses keys the centre already holds.  Otherwise the rows go into the entry's table in the centre in batches of
  5 000, each committed with its receipt under the upload's own run name: a worker killed half-way goes on from the
  last committed batch (the store applies nothing twice).  ``replace`` then deletes (tombstones) the rows the file
  does not have.  The consumers' front-end tables follow (:mod:`govshare.exchange.deliveries`).
* An upload is **due** by the entry's update cycle (the same intervals as a binding's copies); the periodic hook
  reminds the provider's staff once per cycle, and the uploads page flags the entry **stale** like a bound one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry, EntryVersion
from govshare.core import audit, jobs, messages, periodic
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError
from govshare.core.notify import notify
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import StoreColumn, StoreError, combine, row_hash
from govshare.exchange import bindings, schedule
from govshare.exchange.engine.copy import GUARD_SAMPLE, guard_holds
from govshare.exchange.engine.rules import RuleSet, parse_rule
from govshare.exchange.models import TableBinding, Upload, UploadFeed

UPLOAD_JOB = "exchange.upload"
BATCH_ROWS = 5000
log = logging.getLogger("govshare.exchange")

#: what each problem code of the workbook reader means, in the reader's language
PROBLEM_WORDS: dict[str, Any] = {
    "unreadable": _("The workbook cannot be read (%(detail)s): save it again as an Excel workbook (.xlsx)."),
    "no_sheet": _("The workbook has no sheet named 数据: use the template downloaded for this entry."),
    "missing_column": _("The column %(item)s is missing from the header row."),
    "unknown_column": _("The header %(detail)s is not an item of the entry."),
    "duplicate_column": _("The column %(item)s appears twice."),
    "too_many_rows": _("More than %(detail)s rows: split the file."),
    "formula": _("A formula is not data (%(detail)s): write the value itself."),
    "key_missing": _("The key item %(item)s is empty."),
    "bad_character": _("A control character in %(detail)s."),
    "digits_lost": _("The number %(detail)s has more than 15 digits and Excel kept only 15: format the column as text "
                     "and type it again."),
    "wrong_type": _("%(detail)s is not a text value."),
    "too_long": _("Too long (%(detail)s characters)."),
    "too_many_digits": _("Too many digits for the item (%(detail)s)."),
    "not_a_number": _("%(detail)s is not a number."),
    "not_an_integer": _("%(detail)s is not a whole number."),
    "out_of_range": _("%(detail)s is too large."),
    "not_a_date": _("%(detail)s is not a date (write 2024-05-01)."),
    "has_time": _("%(detail)s has a time of day: a date is expected."),
    "not_a_datetime": _("%(detail)s is not a date and time (write 2024-05-01 08:30:00)."),
    "not_a_boolean": _("%(detail)s is not 是 or 否."),
    "not_in_choices": _("%(detail)s is not one of the allowed values."),
    "duplicate_key": _("The same key as row %(detail)s."),
    "rule": _("%(detail)s"),
    "key_exists": _("The centre already holds this key (mode “append” only adds rows)."),
    "empty_replace": _("The file has no data rows: replacing with it would delete every row of the entry."),
    "needs_replace": _("The entry's new version changes the centre's table so that it cannot take rows as it is "
                       "(%(detail)s): upload the whole table in mode “replace” — the table is then made again from "
                       "the file, and consumers' delivered tables after it."),
    "rebuild_pending": _("The centre's table of this entry is being made again for its new version (an earlier "
                         "upload did not finish loading it): upload the whole table in mode “replace”."),
}

#: items whose name says what they hold: the rule a value must pass when the provider set none
_NAMED_RULES = ((re.compile(r"身份(证)?号码|身份证号|身份证件号码"), "id_number"),
                (re.compile(r"统一社会信用代码"), "uscc"))


#: the problems of a refused file kept on its upload (all of them exported as a file); the page and the API list the
#: first :data:`SHOWN_PROBLEMS` (QA walk-through of the 21st session: only 200 were kept, with no way to the rest)
KEPT_PROBLEMS = 10_000
SHOWN_PROBLEMS = 200


def problem_text(problem: dict[str, Any], language: str | None = None) -> str:
    """A stored problem in words: where (sheet, row, column, item) and why (a value rule's reason in the reader's
    language, as the copies' quarantine shows it, its detail after it)."""
    from govshare.exchange.runs import REASONS

    code, detail = str(problem.get("code")), str(problem.get("detail") or "")
    words = PROBLEM_WORDS.get(code, _("%(detail)s"))
    if code == "rule":
        reason, _sep, rest = detail.partition(": ")
        if reason in REASONS:
            with translation.override(language or translation.get_language()):
                said = str(REASONS[reason])
            detail = f"{said} ({rest})" if rest else said
    why = messages.render(messages.to_node(messages.message(words, item=problem.get("item") or "", detail=detail)),
                          language)
    place = [str(problem.get("sheet") or "")]
    if problem.get("row"):
        place.append(str(messages.render(messages.to_node(messages.message(_("row %(row)s"), row=problem["row"])),
                                         language)))
    if problem.get("column"):
        place.append(str(messages.render(messages.to_node(messages.message(_("column %(column)s"),
                                                                           column=problem["column"])), language)))
    if problem.get("item"):
        place.append(str(problem["item"]))
    return f"{' · '.join(p for p in place if p)}: {why}"


def rules_of(version: EntryVersion, feed: UploadFeed | None) -> dict[int, list[Any]]:
    """The value rules uploads of ``version`` are checked with: the feed's, and the named items' own."""
    rules: dict[int, list[Any]] = {}
    if feed is not None and feed.rules:
        rules, _problems = bindings.parse_rules(version, feed.rules)
    for position, item in enumerate(bindings.items_of(version)):
        if rules.get(position) or item.data_type != "C":
            continue
        for pattern, kind in _NAMED_RULES:
            if pattern.search(item.name):
                rules[position] = [parse_rule({"kind": kind}, "C")]
                break
    return rules


def _rule_words(rule: Any) -> str:
    kind = getattr(rule, "kind", "")
    if kind == "id_number":
        return "公民身份号码（GB 11643 校验位）"
    if kind == "uscc":
        return "统一社会信用代码（GB 32100 校验位）"
    if kind == "phone":
        return "电话号码"
    if kind == "regex":
        return f"格式：{getattr(rule, 'pattern', '')}"
    if kind == "range":
        low, high = getattr(rule, "min", None), getattr(rule, "max", None)
        return f"范围：{'' if low is None else low} ～ {'' if high is None else high}"
    return ""


def columns_for(version: EntryVersion, feed: UploadFeed | None) -> list[Any]:
    """The template's columns (:class:`govshare.exchange.engine.workbook.Column`)."""
    from govshare.exchange.engine import workbook

    rules = rules_of(version, feed)
    columns = []
    for position, item in enumerate(bindings.items_of(version)):
        choices: tuple[str, ...] = ()
        words: list[str] = []
        for rule in rules.get(position, []):
            if rule.kind == "enum":
                choices = tuple(str(v) for v in rule.values)
            elif _rule_words(rule):
                words.append(_rule_words(rule))
        columns.append(workbook.Column(item.name, item.data_type, item.length, item.is_primary_key,
                                       item.description, choices, tuple(words)))
    return columns


def uploadable(entry: CatalogEntry) -> GovshareError | None:
    """Why an entry takes no uploads (None: it does): published, a 库表, no binary item, not copied from a bound
    front-end table (the copies would overwrite the uploads and the uploads the copies)."""
    problem = bindings.bindable(entry)
    if problem is not None:
        return problem
    version = entry.current_version
    assert version is not None
    if any(item.data_type == "G" for item in version.items.all()):
        return GovshareError("binary_item", _("Entry %(code)s has a binary item: a spreadsheet cannot hold it."),
                             field="entry", code=entry.code)
    binding = getattr(entry, "table_binding", None)
    if binding is not None and binding.is_active:
        return GovshareError("entry_bound", _("Entry %(code)s is copied from a front-end table (%(table)s): pause that "
                                              "binding before uploading spreadsheets."), field="entry",
                             code=entry.code, table=binding.table_text())
    return None


def template(entry: CatalogEntry) -> tuple[str, bytes]:
    """The entry's data template: its file name and bytes."""
    from govshare.exchange.engine import workbook

    version = entry.current_version
    assert version is not None
    feed = UploadFeed.objects.filter(entry=entry).first()
    notes = [f"资源代码 {entry.code}；版本 {version.number}；更新周期 {version.get_update_cycle_display()}",
             "请在“数据”表中每行填写一条记录；带 * 的列为主键，必须填写且不得重复。",
             "身份证号码、统一社会信用代码等长数字请保持文本格式；不要填写公式。",
             "上传后平台逐行校验，有任何问题则整份文件不入库，并列出表、行、列和原因。"]
    data = workbook.make_template(columns_for(version, feed), title=f"{version.name} 数据模板", notes=notes)
    return f"{entry.code.replace('/', '-')}-数据模板.xlsx", data


def upload_dir() -> Path:
    return Path(settings.GOVSHARE_UPLOAD_DIR)


def file_of(upload: Upload) -> Path:
    return upload_dir() / f"{upload.token}.xlsx"


# -- the job --------------------------------------------------------------------------------------------------------

STORE_WORDS: dict[str, Any] = {
    "shape_changed": _("The centre's table of this entry has other columns than the entry's items now (%(detail)s)."),
    "unavailable": _("The data resource centre's database cannot be reached (%(detail)s)."),
    "full": _("The data resource centre's disk is full (%(detail)s)."),
    "busy": _("The centre's table of this entry is being read by a download or a long query and could not be made "
              "again (%(detail)s): upload the file again later."),
    "other": _("The data resource centre's database refused the load (%(detail)s)."),
}


@jobs.handler(UPLOAD_JOB)
def run_upload(ctx: jobs.JobContext) -> dict[str, Any]:
    upload = Upload.objects.select_related("feed__entry__provider", "version", "uploaded_by").get(
        pk=ctx.params["upload"])
    if upload.status not in Upload.OPEN_STATUSES:
        ctx.log(f"upload {upload.pk} has already ended ({upload.status})")
        return {"upload": upload.pk, "status": upload.status}
    if upload.job_id is not None and upload.job_id != ctx.job.pk:  # a job the upload was taken from (resumed by
        ctx.log(f"upload {upload.pk} belongs to job {upload.job_id} now")  # another after this one was cancelled)
        return {"upload": upload.pk, "status": upload.status}
    Upload.objects.filter(pk=upload.pk, status__in=Upload.OPEN_STATUSES).update(
        started_at=upload.started_at or timezone.now())
    try:
        return _run(ctx, upload)
    except StoreError as exc:
        error = GovshareError(f"store_{exc.code}", STORE_WORDS.get(exc.code, STORE_WORDS["other"]),
                              detail=exc.detail[:300])
        _end(upload, Upload.Status.FAILED, error=error, job=ctx.job.pk)
        return {"upload": upload.pk, "status": "failed", "error": error.code}
    except OSError as exc:
        error = GovshareError("upload_file_gone", _("The uploaded file cannot be read any more (%(detail)s): upload "
                                                    "it again."), detail=str(exc)[:300])
        _end(upload, Upload.Status.FAILED, error=error, job=ctx.job.pk)
        return {"upload": upload.pk, "status": "failed", "error": error.code}
    except jobs.JobCancelled:
        raise  # cancelled (settle_orphaned_uploads ends the upload) or taken over by another worker (it goes on)
    except GovshareError as exc:  # deliveries still running when the table was to be made again, …
        _end(upload, Upload.Status.FAILED, error=exc, job=ctx.job.pk)
        return {"upload": upload.pk, "status": "failed", "error": exc.code}
    except Exception:
        _end(upload, Upload.Status.FAILED, error=GovshareError(
            "upload_unexpected", _("The load failed unexpectedly: nothing more of the file was stored. Resume it, or "
                                   "upload it again; if it fails again, tell the centre.")), job=ctx.job.pk)
        raise  # (the job's log keeps the traceback)


def _run(ctx: jobs.JobContext, upload: Upload) -> dict[str, Any]:
    from govshare.exchange.engine import workbook

    entry = upload.feed.entry
    version = upload.version
    table = table_for(entry)
    items = bindings.items_of(version)
    ctx.log(f"{upload.mode} upload {upload.file_name} ({upload.size} bytes) -> {table} ({upload.run_id})")
    with open_store() as store:
        done = store.last_batch(table, upload.run_id) if store.has_table(table) else 0
        problem = uploadable(CatalogEntry.objects.select_related("current_version").get(pk=entry.pk))
        if problem is not None and not done:  # a binding resumed since the file came (the copies would write too)
            _end(upload, Upload.Status.REFUSED, error=problem, job=ctx.job.pk)
            return {"upload": upload.pk, "status": "refused", "error": problem.code}
        if upload.status != Upload.Status.LOADING:
            Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.CHECKING)
        resumed = upload.status == Upload.Status.LOADING and upload.rules_used is not None
        feed = upload.feed
        if resumed:  # the rules the file passed with when its load began, not any set since
            feed = UploadFeed(entry=feed.entry, rules=upload.rules_used)
        columns = columns_for(version, feed)
        rules = rules_of(version, feed)
        checks = RuleSet(rules).check_row if rules else None
        parsed = workbook.read_upload(file_of(upload).read_bytes(), columns, checks=checks,
                                      max_rows=settings.GOVSHARE_UPLOAD_MAX_ROWS, max_problems=KEPT_PROBLEMS)
        ctx.log(f"read {parsed.total_rows} rows, {parsed.problem_count} problems")
        problems = [vars(p) for p in parsed.problems]
        count = parsed.problem_count
        key = [n for n, item in enumerate(items) if item.is_primary_key]
        shape, key_names = bindings.store_shape(version)
        owner = TableBinding.objects.state_owner(entry.pk)
        differences = [] if done else store.cannot_take(table, shape, key_names)
        remake = not done and (bool(differences) or owner.rebuild_pending)
        if not count and upload.mode == Upload.Mode.APPEND and not done and not remake and store.has_table(table):
            keys = [[row[n] for n in key] for row in parsed.rows]
            found: set[tuple[Any, ...]] = set()
            for start in range(0, len(keys), 5000):
                found |= store.live_keys(table, keys[start:start + 5000])
            for row, number in zip(parsed.rows, parsed.row_numbers, strict=True):
                if tuple(row[n] for n in key) in found:
                    count += 1
                    if len(problems) < KEPT_PROBLEMS:
                        problems.append({"sheet": workbook.DATA_SHEET, "row": number, "column": None,
                                         "item": items[key[0]].name, "code": "key_exists", "detail": ""})
        if not count and upload.mode == Upload.Mode.REPLACE and not parsed.rows:
            count = 1  # a blank template would delete the whole entry, in the centre and at every consumer
            problems.append({"sheet": workbook.DATA_SHEET, "row": None, "column": None, "item": None,
                             "code": "empty_replace", "detail": ""})
        if not count and remake and upload.mode != Upload.Mode.REPLACE:
            count = 1  # the table cannot take this version as it is: only the whole table, in the new shape, can
            problems.append({"sheet": workbook.DATA_SHEET, "row": None, "column": None, "item": None,
                             "code": "needs_replace" if differences else "rebuild_pending",
                             "detail": "; ".join(differences)[:300]})
        if resumed and done and (count or parsed.total_rows != upload.rows):
            # batches are matched by number: a file that no longer reads as it did when its load began (a check
            # added by an update of the platform since) would shift every later batch by a row — stop instead
            raise GovshareError("upload_reads_otherwise", _("The file no longer passes the checks it passed when its "
                                                            "load began (the platform was updated since): nothing more "
                                                            "of it is loaded. Upload it again."))
        if count and not (resumed and done):
            _end(upload, Upload.Status.REFUSED, rows=parsed.total_rows, problems=problems, problem_count=count,
                 job=ctx.job.pk)
            return {"upload": upload.pk, "status": "refused", "problems": count}
        if upload.mode == Upload.Mode.REPLACE and not done and store.has_table(table):
            file_keys = [tuple(row[n] for n in key) for row in parsed.rows]
            held = _guarded(store, table, file_keys, shape, key_names, upload, upload.feed)
            if held is not None:
                _hold(upload, parsed.total_rows, *held, job=ctx.job.pk)
                return {"upload": upload.pk, "status": "held", "pending_deletes": held[0]}
        Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.LOADING, rows=parsed.total_rows,
                                                   rules_used=feed.rules or [])
        if remake:
            rebuild_for_upload(ctx, upload, owner, store, table, shape, key_names, differences)
        store.ensure_table(table, shape, key_names)
        replace = upload.mode == Upload.Mode.REPLACE
        batches = [parsed.rows[start:start + BATCH_ROWS] for start in range(0, len(parsed.rows), BATCH_ROWS)]
        for number, rows in enumerate(batches, start=1):
            if number <= done:
                continue  # committed before a crash: the store has its receipt
            hashes = [row_hash(row) for row in rows]
            store.apply(table, rows, run_id=upload.run_id, batch=number, position={"rows": number * BATCH_ROWS},
                        rows_read=len(rows), read_hash=combine(hashes), remember=replace, hashes=hashes)
            ctx.progress(min(number * BATCH_ROWS, len(parsed.rows)), len(parsed.rows),
                         messages.message(_("batch %(batch)s of %(batches)s"), batch=number, batches=len(batches)))
        if replace:
            number = max(len(batches), done)
            while True:
                gone = store.unseen(table, upload.run_id, BATCH_ROWS)
                if not gone:
                    break
                # only while the upload is still this job's and loading: its key list goes once another job has
                # recorded it loaded, and "unseen" read after that would be every row (review of the 21st session)
                if not Upload.objects.filter(pk=upload.pk, job_id=ctx.job.pk, status=Upload.Status.LOADING).exists():
                    raise jobs.JobCancelled(str(ctx.job.pk))
                number += 1
                store.tombstone(table, gone, run_id=upload.run_id, batch=number, position={"phase": "delete"})
                ctx.progress(len(parsed.rows), len(parsed.rows),
                             messages.message(_("%(n)s deletion batches"), n=number - len(batches)))
        receipts = store.receipts(table, upload.run_id)
        summary = store.summary(table)
        try:  # the entry's quality score, as a copy's (every row of a loaded file passed: validity 1)
            from govshare.exchange.quality import measure

            measured: dict[str, Any] | None = measure(store, table, parsed.total_rows, 0)
        except StoreError:
            log.warning("could not measure the quality of upload %s", upload.pk)
            measured = None
    totals: dict[str, Any] = {"batches": len(receipts), "inserted": sum(r.inserted for r in receipts),
              "updated": sum(r.updated for r in receipts), "unchanged": sum(r.unchanged for r in receipts),
              "deleted": sum(r.deleted for r in receipts), "content_hash": summary.content_hash,
              "quality": measured}
    ended = _end(upload, Upload.Status.LOADED, rows=parsed.total_rows, job=ctx.job.pk, **totals)
    if ended and upload.mode == Upload.Mode.REPLACE:  # the key list goes only once the upload is recorded as loaded
        # (by this job): a worker killed before that goes on from the deletions, which without it would take every
        # row for unseen
        with contextlib.suppress(StoreError), open_store() as store:
            store.forget(table, upload.run_id)
    return {"upload": upload.pk, "status": "loaded", **{k: v for k, v in totals.items() if k != "content_hash"}}


def _guarded(store: Any, table: str, keys: list[tuple[Any, ...]], shape: list[StoreColumn], key_names: list[str],
             upload: Upload, feed: UploadFeed) -> tuple[int, int, int, list[str]] | None:
    """Replace mode's mass-delete guard, before anything is stored: (rows the file would delete, the table's live rows,
    its last change, the keys of the first of them) when they are more than the feed's guard share of the table and
    more than a person confirmed for this upload — or the table changed since they confirmed; None: go on.  A table
    to be made again with another key (a rebuild) cannot be matched by key: its rows beyond the file's count."""
    live = store.live_rows(table)
    columns, old_key = store.describe(table)
    same_key = old_key == key_names and [c.letter for c in columns if c.name in old_key] == \
        [c.letter for c in shape if c.name in key_names]
    before = UploadFeed.objects.filter(pk=feed.pk).values_list("rows_before_rebuild", flat=True).first()
    if before is not None and before > live:  # a rebuild not finished (a load failed in it): the table as it was
        live, same_key = before, False
    found: set[tuple[Any, ...]] = set()
    if same_key:
        for start in range(0, len(keys), 5000):
            found |= store.live_keys(table, keys[start:start + 5000])
    deleting = live - len(found) if same_key else max(0, live - len(keys))
    last_seq = store.summary(table).last_seq
    # (a confirmation is of the table as it was when held)
    confirmed = upload.confirmed_deletes if last_seq == upload.held_seq else None
    if not guard_holds(deleting, live, feed.delete_guard_percent / 100, confirmed):
        return None
    if not same_key:
        return deleting, live, last_seq, []
    key_at = [n for n, column in enumerate(columns) if column.name in old_key]
    given = set(keys)
    sample: list[str] = []
    seq = 0
    while len(sample) < GUARD_SAMPLE:  # the centre's rows in change order: the first live ones the file lacks
        rows = store.changes_since(table, seq, 1000)
        if not rows:
            break
        for row in rows:
            found_key = tuple(row[n] for n in key_at)
            if not row[-1] and found_key not in given and len(sample) < GUARD_SAMPLE:
                sample.append(" / ".join(str(v) for v in found_key))
        seq = rows[-1][-2]
    return deleting, live, last_seq, sample


def _hold(upload: Upload, rows: int, deleting: int, live: int, last_seq: int, sample: list[str], *, job: Any) -> None:
    """The upload waits for a person (nothing stored): the number and the first keys it would delete; audited; the
    uploader is told — while the upload is still ``job``'s."""
    with transaction.atomic():
        moved = Upload.objects.filter(pk=upload.pk, status__in=Upload.OPEN_STATUSES, job_id=job).update(
            status=Upload.Status.HELD, rows=rows, pending_deletes=deleting, pending_keys=sample, held_seq=last_seq,
            finished_at=timezone.now())
        if not moved:
            return
        entry = upload.feed.entry
        audit.record(AuditCode.UPLOAD_HELD, actor=None, obj=upload, object_department=entry.provider,
                     outcome="failure", detail={"entry": entry.code, "upload": upload.pk, "rows": rows,
                                                "uploaded_by": upload.uploaded_by.get_username()
                                                if upload.uploaded_by else "",
                                                "pending": deleting, "live": live,
                                                "guard_percent": upload.feed.delete_guard_percent,
                                                "confirmed": upload.confirmed_deletes})
        if upload.uploaded_by is not None:
            message = messages.message(_("Your upload %(file)s of %(entry)s would delete %(count)s rows: confirm or "
                                         "discard it"), file=upload.file_name, entry=entry.code, count=deleting)
            who = upload.uploaded_by
            transaction.on_commit(lambda: notify([who], "exchange.upload", message, "",
                                                 url=f"/exchange/uploads/{upload.pk}/", obj=upload))


def rebuild_for_upload(ctx: jobs.JobContext, upload: Upload, owner: Any, store: Any, table: str,
                       shape: list[StoreColumn], key: list[str], differences: list[str]) -> None:
    """A replace upload of an entry version the centre's table cannot take as it is (an item removed, reordered,
    retyped, another key — ``differences``): the table is made again, empty, in the version's shape, and the file
    fills it (EXC-3; as a binding's rebuild, :func:`govshare.exchange.runs.remake_centre_table`).  New deliveries
    wait while it is pending; running ones stop at their next batch and are waited for; consumers' delivered tables
    are made again after it.  The state stays pending until the load has ended (:func:`_end`: the table is full), so a
    worker killed before the first batch makes the table again, one killed later goes on loading, and a load that
    failed leaves the next replace upload to do it again — deliveries wait meanwhile."""
    from govshare.exchange.runs import remake_centre_table

    type(owner).objects.filter(pk=owner.pk).update(rebuild_pending=True)
    owner.rebuild_pending = True
    # what the guard of later replace uploads counts against until a load into the new table ends (the first
    # attempt's: a failed one leaves part of the file in the new table)
    UploadFeed.objects.filter(pk=upload.feed_id, rows_before_rebuild__isnull=True).update(
        rows_before_rebuild=store.live_rows(table) if store.has_table(table) else 0)
    ctx.log("the entry's version changes the centre's table: "
            + ("; ".join(differences) if differences else "a rebuild was pending") + " — it is made again")
    # still pending until the file is in it (settled with the load's end): deliveries would deliver a part of it
    remake_centre_table(ctx, owner, table, shape, key, store=store, settle=False, upload=upload.pk,
                        version=upload.version.number)


def stored_by(upload: Upload) -> dict[str, int | None]:
    """What the upload's load has committed in the centre so far (its receipts: batches, rows added, updated,
    unchanged, deleted) and the table's last change — a failed load's part, kept and shown until it is resumed; only
    ``failed_seq`` None when the centre cannot say."""
    try:
        with open_store() as store:
            table = table_for(upload.feed.entry)
            exists = store.has_table(table)
            receipts = store.receipts(table, upload.run_id) if exists else []
            last_seq = store.summary(table).last_seq if exists else 0
    except StoreError:
        return {"failed_seq": None}  # (unknown: a resume is refused rather than made blind)
    return {"batches": len(receipts), "inserted": sum(r.inserted for r in receipts),
            "updated": sum(r.updated for r in receipts), "unchanged": sum(r.unchanged for r in receipts),
            "deleted": sum(r.deleted for r in receipts), "failed_seq": last_seq}


def _end(upload: Upload, status: str, *, error: GovshareError | None = None, job: Any = None, **values: Any) -> bool:
    """The upload's end, once (a conditional UPDATE from an open status); audited; the uploader is told.  A failed
    load records what it had stored (:func:`stored_by`): the rows stay, and resuming it goes on from there.  ``job``:
    only while the upload is still that job's (a job the upload was taken from — cancelled, then resumed by another —
    ends nothing).  Returns whether it ended the upload."""
    from govshare.exchange.runs import settle_rebuild

    if status == Upload.Status.FAILED and "batches" not in values:
        values.update(stored_by(upload))
    with transaction.atomic():
        remade = None
        if status == Upload.Status.LOADED and upload.mode == Upload.Mode.REPLACE:
            owner = TableBinding.objects.state_owner(upload.feed.entry_id)
            if owner.rebuild_pending:  # the table this upload made again is full: deliveries go on with it
                remade = owner
                values["rebuilt"] = True
        mine = {"job_id": job} if job is not None else {}
        moved = Upload.objects.filter(pk=upload.pk, status__in=Upload.OPEN_STATUSES, **mine).update(
            status=status, finished_at=timezone.now(), error_code=error.code if error else "",
            error_message={"zh": error.render("zh-hans"), "en": error.render("en")} if error else None, **values)
        if not moved:
            return False
        if remade is not None:
            settle_rebuild(remade)
            UploadFeed.objects.filter(pk=upload.feed_id).update(rows_before_rebuild=None)
        upload.refresh_from_db()
        entry = upload.feed.entry
        codes: dict[str, AuditCode] = {Upload.Status.LOADED: AuditCode.UPLOAD_LOADED,
                                       Upload.Status.REFUSED: AuditCode.UPLOAD_REFUSED}
        code = codes.get(status, AuditCode.UPLOAD_FAILED)
        audit.record(code, actor=None, obj=upload, object_department=entry.provider,
                     outcome="success" if status == Upload.Status.LOADED else "failure",
                     detail={"entry": entry.code, "upload": upload.pk, "mode": upload.mode, "rows": upload.rows,
                             "uploaded_by": upload.uploaded_by.get_username() if upload.uploaded_by else "",
                             "problems": upload.problem_count, "batches": upload.batches, "inserted": upload.inserted,
                             "updated": upload.updated, "deleted": upload.deleted,
                             **({"error": error.code} if error else {})})
        if upload.uploaded_by is not None:
            subjects: dict[str, Any] = {
                Upload.Status.LOADED: _("Your upload %(file)s of %(entry)s is loaded"),
                Upload.Status.REFUSED: _("Your upload %(file)s of %(entry)s was refused: %(count)s problems")}
            subject = subjects.get(status, _("Your upload %(file)s of %(entry)s failed"))
            message = messages.message(subject, file=upload.file_name, entry=entry.code, count=upload.problem_count)
            who = upload.uploaded_by
            transaction.on_commit(lambda: notify([who], "exchange.upload", message, "",
                                                 url=f"/exchange/uploads/{upload.pk}/", obj=upload))
        if status == Upload.Status.LOADED:
            transaction.on_commit(lambda: _deliver_after(entry.pk))
    return True


def _deliver_after(entry_id: int) -> None:
    from govshare.exchange.actions.deliveries import start_for_entries

    try:
        start_for_entries([entry_id])
    except Exception:  # noqa: BLE001 — the upload is loaded; the periodic hook tries the deliveries again
        log.exception("deliveries of entry %s not started", entry_id)


@periodic.register("exchange.upload_settle", every_seconds=60)
def settle_orphaned_uploads() -> int:
    """Uploads whose job ended without them (cancelled while queued, failed for good after its workers died, gone):
    ended failed, so that none stays open for ever and blocks the entry's next upload.  A rebuild it had begun stays
    pending (deliveries wait for a load into the new table).  Returns how many."""
    from govshare.core.models import Job

    count = 0
    ended = Upload.objects.filter(status__in=Upload.OPEN_STATUSES).filter(
        Q(job__isnull=True) | Q(job__status__in=[Job.Status.CANCELLED, Job.Status.FAILED, Job.Status.SUCCEEDED]))
    for upload in ended.select_related("feed__entry__provider", "uploaded_by", "job"):
        status = upload.job.status if upload.job is not None else "gone"
        _end(upload, Upload.Status.FAILED, error=GovshareError(
            "job_ended", _("The background job of this upload ended without it (%(status)s): nothing more of the file "
                           "was stored. Resume it, or upload it again."), status=status))
        count += 1
    return count


# -- due, stale, reminded --------------------------------------------------------------------------------------------

def interval_of(feed: UploadFeed) -> dt.timedelta:
    return schedule.interval_of(feed)


def with_last_load(qs: Any) -> Any:
    return qs.annotate(last_load_at=Max("uploads__finished_at", filter=Q(uploads__status=Upload.Status.LOADED)))


def last_load(feed: UploadFeed) -> dt.datetime | None:
    if hasattr(feed, "last_load_at"):
        return feed.last_load_at  # type: ignore[no-any-return]
    return feed.uploads.filter(status=Upload.Status.LOADED).aggregate(at=Max("finished_at"))["at"]


def is_stale(feed: UploadFeed, now: dt.datetime | None = None) -> bool:
    """Never loaded, or the last load is older than the entry's update cycle plus a tenth of it (as copies)."""
    return schedule.overdue(last_load(feed), interval_of(feed), now)


@periodic.register("exchange.upload_reminders", every_seconds=3600)
def remind_due(now: dt.datetime | None = None) -> int:
    """Remind the provider's data specialists and administrators, once per cycle, that an upload is due
    (:func:`govshare.exchange.actions.uploads.do_remind_upload`); returns how many feeds were reminded."""
    from govshare.exchange.actions.uploads import do_remind_upload

    now = now or timezone.now()
    reminded = 0
    for feed in with_last_load(UploadFeed.objects.filter(is_active=True, entry__status=CatalogEntry.Status.PUBLISHED)
                               .select_related("entry__current_version", "entry__provider")):
        interval = interval_of(feed)
        if not is_stale(feed, now) or (feed.reminded_at is not None and now - feed.reminded_at < interval):
            continue
        reminded += do_remind_upload(feed, now)
    return reminded


@periodic.register("exchange.file_uploads_expiry", every_seconds=3600)
def expire_file_uploads() -> int:
    """Resumable file uploads idle for a day expire (:func:`govshare.exchange.actions.files.expire_uploads`)."""
    from govshare.exchange.actions.files import expire_uploads

    return expire_uploads()
