"""Issue 8, suite speed: ``org`` / ``cat`` / ``share`` and the demo are built once per test process and
copied into each test (tests/db_states.py).  A copy must be indistinguishable from a build in the
test: the same rows, an audit chain that verifies and continues, fresh Python objects that refer to
each other as built, ids that new rows never take, and a database that a committing test leaves as
the migrations did."""

from __future__ import annotations

from typing import Any

import pytest

from govshare.core import audit
from govshare.core.actions import do_create_department
from govshare.core.demo import make_uscc
from govshare.core.models import AuditEvent, Department, User
from tests import db_states
from tests.conftest import Org


def test_a_copied_state_has_exactly_the_rows_the_build_wrote(db: None, _shared_states: Any, _copies: Any) -> None:
    before = db_states.snapshot()
    _shared_states.copy_into_test("org", _copies)
    _shared_states.copy_into_test("cat", _copies)
    after_cat = db_states.snapshot()
    _shared_states.copy_into_test("share", _copies)
    copied = db_states.diff(after_cat, db_states.snapshot())
    assert copied == _shared_states.layers["share"].rows
    assert db_states.diff(before, after_cat).row_count == sum(
        _shared_states.layers[name].rows.row_count for name in ("org", "cat"))


def test_the_audit_chain_of_a_copy_verifies_and_continues(share: Any) -> None:
    assert AuditEvent.objects.count() == 38
    assert audit.verify().ok
    org = share.org
    do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局", uscc=make_uscc("360783", 4),
                         code="JY", jurisdiction=org.county)
    result = audit.verify()
    assert result.ok and result.checked == 39


def test_the_objects_are_fresh_copies_that_refer_to_each_other_as_built(share: Any, _shared_states: Any) -> None:
    built = _shared_states.layers["share"].obj
    assert share is not built and share.org is not built.org
    assert share.cat.org is share.org
    assert share.org.police is not built.org.police and share.org.police.pk == built.org.police.pk
    assert share.org._seq == built.org._seq
    share.org.police.name = "改名"
    assert built.org.police.name == "龙南市公安局"


def test_rows_a_test_creates_never_take_a_copied_id(org: Org) -> None:
    user = org.user("newcomer", org.police, None)
    assert user.pk > max(User.objects.exclude(pk=user.pk).values_list("pk", flat=True))
    dept = do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局",
                                uscc=make_uscc("360783", 4), code="JY", jurisdiction=org.county)
    assert dept.pk > max(Department.objects.exclude(pk=dept.pk).values_list("pk", flat=True))


def test_restoring_the_baseline_undoes_a_flush(db: None) -> None:
    from tests.conftest import _Shared

    baseline = _Shared.baseline
    assert baseline is not None
    Org()
    db_states.restore_baseline(baseline)
    assert db_states.diff(baseline, db_states.snapshot()).row_count == 0


@pytest.mark.django_db(transaction=True)
def test_a_committing_test_may_use_the_organisation_too(org: Org) -> None:
    assert User.objects.filter(username="police_admin").exists()
    assert audit.verify().ok


def test_the_demo_copy_is_the_whole_demo(demo_data: Any) -> None:
    from govshare.catalog.models import CatalogEntry

    assert CatalogEntry.objects.count() >= 200
    assert User.objects.filter(username="centre_admin").exists()
    assert audit.verify().ok


def test_a_test_that_asks_for_a_layer_sees_exactly_its_rows_held_or_copied(share: Any) -> None:
    from tests.conftest import _Held, _Shared

    assert _Shared.baseline is not None and _Shared.states is not None
    expected: dict[tuple[str, Any], Any] = {}  # (table, id) -> the row as the last layer left it
    for name in ("org", "cat", "share"):
        for table in _Shared.states.layers[name].rows.tables:
            for row in [*table.inserts, *table.updates]:
                expected[(table.table, row[table.pk_index])] = row
            for pk in table.deletes:
                expected[(table.table, pk)] = None
    now = db_states.snapshot()
    for (table, pk), row in expected.items():
        assert now[table].rows.get(pk) == row, (table, pk)
    changed = db_states.diff(_Shared.baseline, now)  # and nothing else changed since the migrations
    assert {(t.table, r[t.pk_index]) for t in changed.tables for r in [*t.inserts, *t.updates]} <= set(expected)
    assert _Held.layers in ((), ("org", "cat", "share"))  # held for this test, or copied into it


def test_the_tests_of_a_module_run_grouped_by_the_layers_they_use_long_ones_first() -> None:
    from dataclasses import dataclass

    from tests.conftest import move_long_tests_first, order_by_layers

    @dataclass(eq=False)
    class Item:
        name: str
        parent: str
        fixturenames: tuple[str, ...]
        first: bool = False

        def get_closest_marker(self, name: str) -> Any:
            return self.first if name == "run_first" and self.first else None

    items = [Item("a1", "a", ("db",)), Item("a2", "a", ("org",)), Item("a3", "a", ()),
             Item("a4", "a", ("share", "cat", "org")), Item("a5", "a", ("org",)), Item("b1", "b", ("cat", "org")),
             Item("b2", "b", ("db",)), Item("c1", "c", (), first=True)]
    order_by_layers(items)
    assert [i.name for i in items] == ["a4", "a2", "a5", "a1", "a3", "b1", "b2", "c1"]
    move_long_tests_first(items)
    assert [i.name for i in items] == ["c1", "a4", "a2", "a5", "a1", "a3", "b1", "b2"]


def test_long_tests_are_moved_first_after_pytest_djangos_reordering(request: pytest.FixtureRequest) -> None:
    """pytest-django moves the tests without the database (the worker kill is one) to the end; the
    long tests are moved to the front after it."""
    impls = request.config.hook.pytest_collection_modifyitems.get_hookimpls()
    called = [impl.plugin_name for impl in reversed(impls)]  # pluggy calls the last registered first
    assert called.index("govshare-long-tests-first") > called.index("django")


def test_a_scenario_built_once_is_written_back_as_built(org: Org) -> None:
    from tests.conftest import undone

    calls: list[int] = []
    cache: dict[Any, Any] = {}

    def build() -> int:
        calls.append(1)
        return do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局",
                                    uscc=make_uscc("360783", 4), code="JY", jurisdiction=org.county).pk

    rows = []
    for _ in range(2):
        with undone():
            pk = db_states.built_once(cache, "education", build)
            rows.append((Department.objects.filter(pk=pk).values().get(),
                         list(AuditEvent.objects.order_by("pk").values_list("pk", "row_hash"))))
            assert audit.verify().ok
        assert not Department.objects.filter(pk=pk).exists()  # rolled back with the savepoint
    assert calls == [1] and rows[0] == rows[1]


def test_a_scenario_built_once_refuses_a_database_in_another_state(org: Org) -> None:
    from tests.conftest import undone

    cache: dict[Any, Any] = {}
    with undone():
        db_states.built_once(cache, "education", lambda: do_create_department(
            org.centre_admin, name="龙南市教育局", short_name="教育局", uscc=make_uscc("360783", 4), code="JY",
            jurisdiction=org.county).pk)
    org.user("newcomer", org.police, None)  # takes the ids (and the audit head) the rows were built on
    with pytest.raises(AssertionError, match="not in the state the rows were built on"):
        db_states.built_once(cache, "education", lambda: pytest.fail("built twice"))
