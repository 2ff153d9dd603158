"""Table bindings (issue 10 item 2; EXC-1): a provider binds a table of its front-end database to a published
库表 entry — a column for every information item, type-checked against the guide's data types, and a key;
a binding that no longer matches the entry or the table cannot run, and says which item and column."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from govshare.catalog.actions import do_edit_entry
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Forbidden, GovshareError, ManyProblems, NotFound, ValidationFailed
from govshare.core.models import AuditEvent
from govshare.exchange import bindings
from govshare.exchange.actions import do_bind_table, do_register_source, do_set_binding_active
from govshare.exchange.engine import types
from govshare.exchange.engine.sources import ColumnInfo, TableShape
from govshare.exchange.models import TableBinding
from tests.catalog_helpers import content
from tests.conftest import api_json, login

pytestmark = pytest.mark.django_db

GOOD = {"公民身份号码": "gmsfhm", "姓名": "xm", "出生日期": "csrq"}


def front_end(sql: str = "") -> Path:
    folder = Path(settings.GOVSHARE_SOURCE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ga.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(sql or """
            CREATE TABLE rkxx (gmsfhm VARCHAR(18) PRIMARY KEY, xm VARCHAR(50) NOT NULL, csrq DATE, bz TEXT);
            CREATE TABLE nokey (gmsfhm VARCHAR(18), xm VARCHAR(50), csrq DATE);
            CREATE TABLE wide (gmsfhm TEXT PRIMARY KEY, xm VARCHAR(200), csrq BLOB);
        """)
    db.close()
    return path


@pytest.fixture
def setup(cat: Any) -> Any:
    """The police's published 库表 entry and its SQLite front-end database."""
    front_end()
    cat.entry = cat.published()
    cat.source = do_register_source(cat.org.police_admin, name="公安前置库", code="GA-QZK", kind="sqlite",
                                    database="ga.sqlite3")
    return cat


def bind(setup: Any, user: Any = None, table: str = "rkxx", mapping: dict[str, str] | None = None,
         keys: list[str] | None = None) -> TableBinding:
    return do_bind_table(user or setup.org.police_specialist, setup.entry, source=setup.source, schema="main",
                         table=table, mapping=mapping if mapping is not None else GOOD, key_columns=keys)


# ------------------------------------------------------------------ types (Django-free)

@pytest.mark.parametrize("letter, data_type, ok", [
    ("C", "character varying", True), ("C", "integer", True), ("C", "bytea", False),
    ("N", "numeric", True), ("N", "varchar", False), ("I", "bigint", True), ("I", "text", False),
    ("D", "date", True), ("D", "varchar", True), ("D", "timestamp with time zone", False),
    ("T", "datetime", True), ("L", "tinyint(1)", True), ("L", "boolean", True), ("L", "varchar", False),
    ("M", "longtext", True), ("M", "int", False), ("G", "longblob", True), ("Y", "decimal", True),
    ("F", "double precision", True), ("B", "real", True), ("B", "date", False),
])
def test_a_columns_type_family_decides_which_guide_letters_it_can_feed(letter: str, data_type: str,
                                                                       ok: bool) -> None:
    assert (not any(p.blocking for p in types.problems(letter, None, data_type))) is ok


def test_a_column_that_holds_more_than_the_item_is_a_warning_not_a_refusal() -> None:
    (longer,) = types.problems("C", 18, "varchar", column_length=200)
    assert longer.code == "too_long" and not longer.blocking
    assert types.problems("C", 18, "varchar", column_length=18) == []
    (digits,) = types.problems("N", 8, "numeric", precision=12, scale=2)
    assert digits.code == "too_many_digits" and not digits.blocking
    (fraction,) = types.problems("I", None, "numeric", precision=10, scale=2)
    assert fraction.code == "not_whole"


# ------------------------------------------------------------------ proposing

def test_columns_named_by_pinyin_initials_are_proposed_with_the_declared_key(setup: Any) -> None:
    from govshare.exchange.engine.sources import describe_table
    from govshare.exchange.sources import spec_for

    shape = describe_table(spec_for(setup.source), "main", "rkxx")
    proposal = bindings.propose(setup.entry.current_version, shape)
    assert proposal.mapping == GOOD and proposal.key_columns == ["gmsfhm"] and proposal.key_declared


def test_without_a_declared_key_the_items_marked_as_key_are_proposed_and_full_pinyin_matches() -> None:
    shape = TableShape("main", "t", "table", (ColumnInfo("GMSFHM", "varchar", True, 18, None, None, 1),
                                              ColumnInfo("xing_ming", "varchar", True, 50, None, None, 2)), ())

    class Version:
        def __init__(self) -> None:
            self.items = self

        def order_by(self, *_: Any) -> list[Any]:
            return [type("I", (), {"name": "公民身份号码", "is_primary_key": True})(),
                    type("I", (), {"name": "姓名", "is_primary_key": False})()]

    proposal = bindings.propose(Version(), shape)  # type: ignore[arg-type]
    assert proposal.mapping == {"公民身份号码": "GMSFHM", "姓名": "xing_ming"} and proposal.key_columns == ["GMSFHM"]
    assert not proposal.key_declared


def test_columns_named_otherwise_are_proposed_by_what_their_comments_name() -> None:
    """EXC-6 item 2: departments' columns are often numbered or abbreviated, their Chinese names in the column
    comments — the proposal reads those after the names, each column proposed once; an English comment names an
    item only whole."""
    def column(name: str, ordinal: int, comment: str) -> ColumnInfo:
        return ColumnInfo(name, "varchar", True, 50, None, None, ordinal, comment)

    shape = TableShape("public", "t", "table", (
        column("c01", 1, "公民身份号码（18位，含校验码）"), column("c02", 2, "xm: 姓名"),
        column("c03", 3, "住址"), column("zz", 4, "户籍地址"), column("c05", 5, "出生日期 yyyymmdd"),
        column("c06", 6, "Name of the holder"), column("c07", 7, "联系电话；联系电话"), column("c08", 8, "联系电话"),
        column("c09", 9, "")), ())

    class Version:
        def __init__(self) -> None:
            self.items = self

        def order_by(self, *_: Any) -> list[Any]:
            return [type("I", (), {"name": name, "is_primary_key": key})()
                    for name, key in [("公民身份号码", True), ("姓名", False), ("住址", False), ("出生日期", False),
                                      ("name", False), ("联系电话", False), ("民族", False)]]

    proposal = bindings.propose(Version(), shape)  # type: ignore[arg-type]
    assert proposal.mapping == {"公民身份号码": "c01", "姓名": "c02", "住址": "zz", "出生日期": "c05", "name": None,
                                "联系电话": "c07", "民族": None}
    assert proposal.key_columns == ["c01"]


# ------------------------------------------------------------------ binding

def test_a_data_specialist_binds_a_table_and_it_is_audited(setup: Any) -> None:
    binding = bind(setup)
    assert binding.column_of() == GOOD and binding.key_columns == ["gmsfhm"] and not binding.key_chosen
    assert binding.version == setup.entry.current_version
    event = AuditEvent.objects.get(code=AuditCode.BINDING_CREATED)
    assert event.actor_id == setup.org.police_specialist.pk and event.detail["table"] == "main.rkxx"


def test_every_problem_of_a_mapping_names_the_item_and_the_column(setup: Any) -> None:
    with pytest.raises(ManyProblems) as caught:
        bind(setup, table="wide", mapping={"公民身份号码": "gmsfhm", "姓名": "gmsfhm", "出生日期": "nope", "民族": "x"})
    by_field = {p.field: p for p in caught.value.problems}
    assert by_field["mapping.姓名"].code == "column_twice"
    assert by_field["mapping.出生日期"].code == "no_such_column" and "nope" in by_field["mapping.出生日期"].render("en")
    assert by_field["mapping.民族"].code == "unknown_item"
    assert not TableBinding.objects.exists()


def test_a_column_whose_type_cannot_hold_the_item_is_refused_by_name(setup: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        bind(setup, table="wide")
    assert caught.value.code == "column_type" and caught.value.field == "mapping.出生日期"
    assert "csrq" in caught.value.render("en") and "blob" in caught.value.render("en").lower()


def test_warnings_are_kept_with_the_binding_in_both_languages(setup: Any) -> None:
    front_end("CREATE TABLE loose (gmsfhm VARCHAR(18) PRIMARY KEY, xm TEXT, csrq DATE);")
    binding = bind(setup, table="loose")
    (warning,) = binding.warnings
    assert warning["code"] == "column_too_long" and warning["field"] == "mapping.姓名"
    assert warning["message_zh"] != warning["message_en"]


def test_a_table_without_a_primary_key_needs_a_chosen_key_of_mapped_columns(setup: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        bind(setup, table="nokey")
    assert caught.value.code == "key_required" and caught.value.field == "key_columns"
    with pytest.raises(ValidationFailed) as caught:
        bind(setup, table="nokey", keys=["bz"])
    assert caught.value.code == "key_not_mapped"
    binding = bind(setup, table="nokey", keys=["gmsfhm"])
    assert binding.key_chosen and binding.key_columns == ["gmsfhm"]
    assert [w["code"] for w in binding.warnings] == ["key_nullable"]


def test_binding_again_replaces_the_mapping_and_audits_what_changed(setup: Any) -> None:
    first = bind(setup)
    again = bind(setup, table="nokey", keys=["gmsfhm", "xm"])
    assert again.pk == first.pk and again.table_name == "nokey"
    event = AuditEvent.objects.get(code=AuditCode.BINDING_CHANGED)
    assert set(event.changes) == {"table", "key_columns"}


def test_a_table_that_is_not_there_is_named_on_the_table_field(setup: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        bind(setup, table="missing")
    assert caught.value.field == "table" and "missing" in caught.value.render("en")


def test_only_a_published_entry_shared_as_a_table_can_be_bound(setup: Any) -> None:
    draft = setup.draft()
    with pytest.raises(ValidationFailed) as caught:
        do_bind_table(setup.org.police_specialist, draft, source=setup.source, schema="main", table="rkxx",
                      mapping=GOOD)
    assert caught.value.code == "entry_not_published"
    files_only = setup.published(**content(name="户籍档案扫描件", share_methods=["file"]))
    with pytest.raises(ValidationFailed) as caught:
        do_bind_table(setup.org.police_specialist, files_only, source=setup.source, schema="main", table="rkxx",
                      mapping=GOOD)
    assert caught.value.code == "entry_not_a_table"


def test_a_source_of_another_department_cannot_feed_the_entry(setup: Any) -> None:
    market_source = do_register_source(setup.org.centre_admin, department=setup.org.police, name="x", code="X",
                                       kind="sqlite", database="ga.sqlite3")
    market_source.department = setup.org.market
    market_source.save()
    with pytest.raises(GovshareError):
        do_bind_table(setup.org.centre_admin, setup.entry, source=market_source, schema="main", table="rkxx",
                      mapping=GOOD)
    assert not TableBinding.objects.exists()


# ------------------------------------------------------------------ a binding that no longer matches

def test_a_new_entry_version_with_another_item_makes_the_binding_name_the_unmapped_item(setup: Any) -> None:
    binding = bind(setup)
    assert bindings.verify(binding).ok
    items = content()["items"] + [{"name": "民族", "data_type": "C", "length": 10, "description": "",
                                   "is_primary_key": False, "is_sensitive": False, "masking_rule": ""}]
    do_edit_entry(setup.org.police_specialist, setup.entry, content(items=items), change_reason="加民族")
    setup.publish(setup.entry)
    binding.refresh_from_db()
    judgement = bindings.verify(binding)
    assert not judgement.ok and [p.code for p in judgement.problems] == ["item_unmapped"]
    assert "民族" in judgement.problems[0].render("zh-hans")


def test_a_column_dropped_at_the_source_makes_the_binding_name_the_item_and_the_column(setup: Any) -> None:
    binding = bind(setup)
    path = Path(settings.GOVSHARE_SOURCE_DIR) / "ga.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE rkxx DROP COLUMN csrq")
    db.close()
    (problem,) = bindings.verify(binding).problems
    assert problem.code == "no_such_column" and problem.field == "mapping.出生日期"
    assert "csrq" in problem.render("en")


# ------------------------------------------------------------------ who may (owner, colleague, outsider)

def test_the_provider_binds_and_pauses_and_another_department_sees_nothing(setup: Any) -> None:
    binding = bind(setup, user=setup.org.police_admin)
    do_set_binding_active(setup.org.police_specialist, binding, False)
    assert AuditEvent.objects.filter(code=AuditCode.BINDING_PAUSED).exists()
    for outsider in (setup.org.market_admin, setup.org.market_specialist):  # another department's staff
        with pytest.raises(NotFound):
            do_set_binding_active(outsider, binding, True)
        with pytest.raises(NotFound):
            bind(setup, user=outsider)
    for reader in (setup.org.reviewer, setup.org.auditor, setup.org.citizen):  # no right to bind at all
        with pytest.raises(Forbidden):
            do_set_binding_active(reader, binding, True)
    binding.refresh_from_db()
    assert not binding.is_active


# ------------------------------------------------------------------ API, pages

def test_the_api_proposes_binds_and_checks(setup: Any, client_for: Any) -> None:
    client = client_for(setup.org.police_specialist)
    target = {"entry_id": setup.entry.pk, "source_id": setup.source.pk, "schema": "main", "table": "rkxx"}
    proposal = api_json(client, "post", "/exchange/binding-proposals", target).json()
    assert proposal["mapping"] == GOOD and proposal["key_columns"] == ["gmsfhm"]
    answer = api_json(client, "post", "/exchange/bindings", target | {"mapping": proposal["mapping"]})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["schema"] == "main" and body["table"] == "rkxx" and body["key_columns"] == ["gmsfhm"]
    check = client.post(f"/api/v1/exchange/bindings/{body['id']}/check").json()
    assert check == {"ok": True, "problems": [], "warnings": []}
    outsider = client_for(setup.org.market_admin)
    assert outsider.get(f"/api/v1/exchange/bindings/{body['id']}").status_code == 404
    assert outsider.get("/api/v1/exchange/bindings").json()["total"] == 0
    # checking reads the provider's source: another department's staff get 404 (not theirs), the auditor — who
    # sees the binding but may bind nothing — 403, as for pausing
    assert outsider.post(f"/api/v1/exchange/bindings/{body['id']}/check").status_code == 404
    auditor = client_for(setup.org.auditor)
    assert auditor.post(f"/api/v1/exchange/bindings/{body['id']}/check").status_code == 403
    assert auditor.post(f"/api/v1/exchange/bindings/{body['id']}/pause").status_code == 403


def test_the_api_reports_every_mapping_problem_with_its_field(setup: Any, client_for: Any) -> None:
    answer = api_json(client_for(setup.org.police_specialist), "post", "/exchange/bindings",
                      {"entry_id": setup.entry.pk, "source_id": setup.source.pk, "schema": "main", "table": "wide",
                       "mapping": {"公民身份号码": "gmsfhm", "姓名": "", "出生日期": "csrq"}})
    assert answer.status_code == 400
    fields = {e["field"] for e in answer.json()["error"]["errors"]}
    assert fields == {"mapping.姓名", "mapping.出生日期"}


def test_the_pages_propose_bind_and_check_a_table(setup: Any) -> None:
    client = login(Client(), setup.org.police_specialist)
    query = {"entry": setup.entry.pk, "source": setup.source.pk, "table": "main.rkxx"}
    page = client.get("/exchange/bindings/new/", query).content.decode()
    assert 'name="item:公民身份号码"' in page and '<option value="gmsfhm" selected>' in page
    # a key checkbox beside every item, whatever its column (QA walk-through, 21st session: only beside a proposed one)
    assert page.count('name="key_item"') == len(GOOD)
    answer = client.post("/exchange/bindings/new/", query | {f"item:{k}": v for k, v in GOOD.items()}
                         | {"key_item": "公民身份号码"})
    assert answer.status_code == 302
    binding = TableBinding.objects.get()
    assert binding.key_columns == ["gmsfhm"]
    page = client.post(f"/exchange/bindings/{binding.pk}/check/").content.decode()
    assert 'data-ok="1"' in page
    assert "rkxx" in client.get("/exchange/bindings/").content.decode()
    assert login(Client(), setup.org.market_admin).get(f"/exchange/bindings/{binding.pk}/").status_code == 404


def test_the_binding_page_shows_each_problem_next_to_its_item(setup: Any) -> None:
    client = login(Client(), setup.org.police_specialist)
    query = {"entry": setup.entry.pk, "source": setup.source.pk, "table": "main.wide"}
    answer = client.post("/exchange/bindings/new/", query | {"item:公民身份号码": "gmsfhm", "item:姓名": "xm",
                                                            "item:出生日期": "csrq", "key": "gmsfhm"})
    assert answer.status_code == 400
    assert 'data-field="mapping.出生日期"' in answer.content.decode()


# ------------------------------------------------------------------ review findings

def test_a_binding_of_a_withdrawn_entry_or_one_no_longer_shared_as_a_table_cannot_run(setup: Any) -> None:
    binding = bind(setup)
    do_edit_entry(setup.org.police_specialist, setup.entry, content(share_methods=["file"]), change_reason="改为文件")
    setup.publish(setup.entry)
    binding.refresh_from_db()
    (problem,) = bindings.verify(binding).problems
    assert problem.code == "entry_not_a_table"


def test_a_views_computed_column_binds_with_a_warning_not_a_refusal(setup: Any) -> None:
    front_end("CREATE TABLE base (gmsfhm VARCHAR(18) PRIMARY KEY, xm VARCHAR(50), csrq DATE);"
              "CREATE VIEW v AS SELECT gmsfhm, upper(xm) AS xm, csrq FROM base;")
    binding = bind(setup, table="v", keys=["gmsfhm"])
    assert "column_untyped" in [w["code"] for w in binding.warnings]


@pytest.mark.parametrize("letter, data_type, length, blocked", [
    ("L", "bit", 8, True),  # bit(8) is binary, not a boolean
    ("D", "json", None, True), ("G", "uuid", None, True), ("C", "json", None, False),
    ("C", "mood", None, False),  # a PostgreSQL enum: its text form
    ("I", "mood", None, True),
])
def test_unusual_server_types_are_sorted_as_their_values_are(letter: str, data_type: str, length: int | None,
                                                            blocked: bool) -> None:
    found = types.problems(letter, None, data_type, column_length=length, kind="postgresql")
    assert any(p.blocking for p in found) is blocked


def test_the_centre_admin_sees_every_binding_but_binds_only_the_centres_own_entries(setup: Any) -> None:
    binding = bind(setup)
    with pytest.raises(NotFound):
        do_set_binding_active(setup.org.centre_admin, binding, False)
    from govshare.core.permissions import restrict
    from govshare.exchange.permissions import VIEW

    assert restrict(TableBinding, setup.org.centre_admin, VIEW).filter(pk=binding.pk).exists()
