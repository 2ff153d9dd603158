"""Second review of the 22nd session (of its fixes to leak tracing — SEC-3, SEC-4 —, quality scores — EXC-7 — and job
messages): each test is a defect it found, fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from govshare.core.actions import do_create_department
from govshare.core.demo import make_uscc
from govshare.core.roles import Role
from govshare.datastore.trace import trace
from govshare.sharing.actions import do_subscribe_entry
from govshare.sharing.models import Grant
from tests.test_data_api import PURPOSE, data  # noqa: F401 — fixture
from tests.test_datastore_trace import BORN, ID, NAME, _read, _tax_extract, _write_csv, two  # noqa: F401
from tests.test_exchange_runs import bound, centre_rows, front_end, start  # noqa: F401

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ trace: ranking (medium)


def test_trace_ranks_the_grant_whose_tokens_are_in_the_file_above_one_matching_a_cheap_column(two: Any, tmp_path: Path) -> None:  # noqa: F811
    """The tax extract [公民身份号码 (tokens), 姓名, 出生日期] with every birth date overwritten ("保密") — the case
    pseudonym evidence was added for.  A third department holds a grant of 姓名 only (catalog masking 保留姓, the
    same as the tax grant's).  Tax: matched_rows 0, pseudonym_rows 5 × 1 column = evidence 5; 姓名-only grant:
    5 rows × 1 column = evidence 5: a tie on evidence broken by share (1.0 vs 0.0) — the 姓名-only grant, which
    cannot have produced the token column, is "the most likely source"."""
    civil = do_create_department(two.org.centre_admin, name="龙南市民政局", short_name="民政局",
                                 uscc=make_uscc("360783", 7), code="MZ", jurisdiction=two.org.county)
    civil_user = two.org.user("civil_specialist", civil, Role.DATA_SPECIALIST)
    names_only = do_subscribe_entry(civil_user, two.entry, purpose=PURPOSE, channel="api", items=[NAME])
    _read(civil_user, two.entry)
    rows = _tax_extract(two, [ID, NAME, BORN])
    edited = [rows[0], *[[token, name, "保密"] for token, name, _born in rows[1:]]]
    report = trace(_write_csv(tmp_path / "外泄.csv", edited))
    ranking = [(c.label, c.columns, c.matched_rows, c.pseudonym_rows, c.evidence) for c in report.candidates]
    assert report.best is not None
    assert report.best.grant == two.tax_grant.number, ranking  # actual: names_only.number
    assert report.best.grant != names_only.number


# ------------------------------------------------------------------ trace: an empty cell is no token (medium)


def test_trace_takes_no_blank_pseudonym_cell_for_a_grants_token(two: Any, tmp_path: Path) -> None:  # noqa: F811
    """The tax grant pseudonymises 出生日期 (a nullable item: 李小龙 has none).  A list of other people whose
    出生日期 column is blank: the blank cell equals the centre's masked NULL ("" both sides), so every row counts as
    carrying the tax grant's tokens — note pseudonyms_match "the tokens are this grant's alone", best = the tax
    grant.  A blank is nobody's token."""
    import govshare.datastore.trace as trace_module

    assert trace_module.__file__.startswith(str(Path(__file__).resolve().parent.parent))
    Grant.objects.filter(pk=two.tax_grant.pk).update(masking={BORN: "假名化", NAME: "保留姓"})
    _read(two.tax_specialist, two.entry)
    other = [[NAME, BORN], *[[f"陈{i}", ""] for i in range(5)]]
    report = trace(_write_csv(tmp_path / "名单.csv", other))
    tax = next(c for c in report.candidates if c.grant == two.tax_grant.number)
    assert (tax.matched_rows, tax.pseudonym_rows) == (0, 0), [n.code for n in tax.notes]  # actual: (0, 5)
    assert report.best is None and not report.matched


# ------------------------------------------------------------------ jobs: a given-up job shows its old progress text (medium)


def test_a_given_up_job_says_why_not_its_last_progress_message(org: Any) -> None:
    """A job that reported progress with a translatable message (message_node set: calendar's recompute,
    remake_centre_table's "Waiting for the deliveries…") and whose worker died too often: _requeue() writes
    message="gave up after N attempts" but leaves message_node — the job page, the jobs API and the run's
    job_ended error (message_in) show "Waiting for the deliveries of the entry to stop…" for a FAILED job."""
    from django.utils.translation import gettext_lazy

    from govshare.core import jobs
    from govshare.core.models import Job
    from tests.test_jobs import _create, _die_midway

    job = _create("test.count", org.police_specialist)
    jobs.claim(job.pk, "w1")
    jobs.JobContext(Job.objects.get(pk=job.pk), "w1").progress(
        1, 5, message=gettext_lazy("Waiting for the deliveries of the entry to stop…"))
    _die_midway(job, 1, attempts_left_behind=jobs.MAX_ATTEMPTS)
    assert jobs.recover_stale() == 0
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "Gave up" in job.message
    assert "Gave up" in job.message_in("en") and "放弃" in job.message_in("zh-hans"), job.message_in("en")  # actual: "Waiting for the deliveries…"


# ------------------------------------------------------------------ trace: the streaming JSON list (low)


def _rows_of(path: Path) -> list[list[str]]:
    from govshare.datastore.trace import open_suspect

    with open_suspect(path) as suspect:
        return list(suspect.rows)


def test_trace_refuses_text_after_a_json_list(db: None, tmp_path: Path) -> None:
    """_json_list() returns at the list's "]" without looking further: ``[{…}] garbage`` (and two lists one after
    the other) is read as a table; json.loads (before the fix, and still for a document) refuses it."""
    from govshare.core.files import FileRefused

    path = tmp_path / "found.json"
    path.write_text('[{"姓名": "张*"}] this is not JSON [{"姓名": "王*"}]', encoding="utf-8")
    with pytest.raises(FileRefused):
        _rows_of(path)  # actual: [['张*']]


def test_trace_names_a_syntax_error_in_a_large_json_list_not_a_row_too_long(db: None, tmp_path: Path) -> None:
    """An invalid row (``{"a": x}``) in a JSON list followed by more than 4 MB: raw_decode fails at once, but the
    loop takes every failure for a row cut by the 64 KiB chunk, reads on to 4 MB and refuses with row_too_long
    ("A row of the JSON list is longer than 4194304 characters") — the row is 8 characters."""
    from govshare.core.files import FileRefused

    path = tmp_path / "found.json"
    path.write_text('[{"a": x},' + ",".join(['{"a": 1}'] * 600_000) + "]", encoding="utf-8")
    with pytest.raises(FileRefused) as refused:
        _rows_of(path)
    assert refused.value.code != "row_too_long", refused.value.render("en")


# ------------------------------------------------------------------ quality: a float floored (low)


def test_consistency_of_69_agreeing_in_100_is_exactly_69_percent(
        bound: Any, start: Any, client_for: Any) -> None:  # noqa: F811
    """consistency_of() floors a float: CrossCheck.consistency is 1 - 31/100 = 0.69 → 0.69 * 10 000 =
    6899.999… → 0.6899, shown "68.9 %" (and the score one point low) — shares are integer-exact elsewhere
    (quality.share).  Also 8 of 10 agreeing → 0.1999."""
    from govshare.exchange import quality
    from govshare.exchange.actions import do_run_cross_check
    from tests.test_exchange_quality import _declare, market_register

    start(bound.org.police_specialist, bound.binding)
    market_entry, market_binding = market_register(bound, {n: f"改{n}" for n in range(31)})
    start(bound.org.market_specialist, market_binding)
    done = do_run_cross_check(bound.org.centre_admin, _declare(bound, market_entry))
    assert (done.compared, done.differing) == (100, 31)
    measured = quality.consistency_of(bound.entry.pk)
    assert measured == 0.69, measured  # actual: 0.6899
    assert quality.percent(measured) == "69 %"  # actual: "68.9 %"


# ------------------------------------------------------------------ trace: one shared column is enough now (medium)


def test_trace_finds_nothing_in_an_unrelated_list_sharing_only_a_masked_name_column(
        two: Any, tmp_path: Path) -> None:  # noqa: F811
    """_entries() now needs only as many items as the best-covering entry has: a file with ONE item among five
    columns is compared on that column alone.  A public notice (公示名单) masks names the usual way (张*, 王*):
    [序号, 姓名, 工作单位, 职务, 备注] of people who are not in the entry is reported as matching 100 % under the
    grants that deliver 姓名 保留姓 — before the fix (half the columns needed) it traced to nothing."""
    _read(two.org.market_specialist, two.entry)
    _read(two.tax_specialist, two.entry)
    notice = [["序号", NAME, "工作单位", "职务", "备注"],
              *[[str(i), name, "某某街道办事处", "科员", "拟表彰"] for i, name in
                enumerate(["张*", "王*", "赵*", "李**", "欧阳**"], 1)]]
    report = trace(_write_csv(tmp_path / "公示名单.csv", notice))
    found = [(c.label, c.columns, c.matched_rows, c.file_rows) for c in report.candidates if c.matched_rows]
    assert not report.matched, (found, report.ambiguous)  # actual: both grants, 姓名 only, 5 / 5 rows
