"""Stamps (govshare.core.stamps; issue 11, the data API's speed — SHR-4, SEC-3): a consuming system's access check
is kept between calls only while nothing it depends on changed.  Every write to a watched table — through the
actions, a queryset ``update()`` that sends no signal, or SQL — gives the stamp a new value in the same
transaction, and the next call checks again: a revoked grant or key, a deactivated system or department, a
withdrawn entry, a new masking rule count from the very next call, as without the cache."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from govshare.catalog.models import CatalogEntry, EntryVersion, InformationItem
from govshare.core import stamps
from govshare.core.models import Department
from govshare.sharing.actions import do_issue_system_key
from govshare.sharing.models import ConsumingSystem, Grant, SystemKey
from tests.test_data_api import _bearer, _rows, with_system_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def system_grant(share: Any) -> Any:
    """The market's registration system's grant on 违法犯罪人员信息 (3 rows in the centre; tests/test_data_api.py)."""
    return with_system_grant(share)


def _stamp() -> Any:
    return stamps.read(stamps.ACCESS)


def _moves(write: Any) -> bool:
    before = _stamp()
    write()
    return _stamp() != before


def test_every_write_to_a_watched_table_gives_the_access_stamp_a_new_value(system_grant: Any) -> None:
    org, entry = system_grant.org, system_grant.entry
    version = entry.current_version
    item = version.items.order_by("position").first()
    assert _stamp() is not None  # a value from the migration on: answers are kept from the first call
    assert _moves(lambda: Department.objects.filter(pk=org.market.pk).update(short_name="市场局"))
    assert _moves(lambda: CatalogEntry.objects.filter(pk=entry.pk).update(request_ref="R-1"))
    assert _moves(lambda: EntryVersion.objects.filter(pk=version.pk).update(summary="改"))
    assert _moves(lambda: InformationItem.objects.filter(pk=item.pk).update(masking_rule="保留姓氏"))
    assert _moves(lambda: Grant.objects.filter(pk=system_grant.grant.pk).update(conditions="只用于登记"))
    assert _moves(lambda: ConsumingSystem.objects.filter(pk=system_grant.market_system.pk).update(description="x"))
    issued: list[Any] = []
    assert _moves(lambda: issued.append(do_issue_system_key(org.market_admin, system_grant.market_system,
                                                            name="新接口", days=30)))  # an INSERT
    assert _moves(lambda: SystemKey.objects.filter(pk=issued[0].key.pk).delete())  # a DELETE
    with connection.cursor() as cursor:  # SQL, past the ORM
        assert _moves(lambda: cursor.execute("UPDATE sharing_grant SET purpose = purpose WHERE id = %s",
                                             [system_grant.grant.pk]))
    # a write elsewhere leaves it
    assert not _moves(lambda: org.market_admin.__class__.objects.filter(pk=org.market_admin.pk).update(
        email="a@b.cn"))


def test_a_keys_last_use_leaves_the_stamp_and_a_change_of_any_other_column_moves_it(system_grant: Any) -> None:
    """Every column of a key but "last used" (written once a minute by the calls themselves) is watched — a
    column added to the model later must be added to the watch (sharing's migrations) or this test fails."""
    key = do_issue_system_key(system_grant.org.market_admin, system_grant.market_system, name="接口", days=30).key
    other = system_grant.org.market_admin
    values = {"system_id": ConsumingSystem.objects.exclude(pk=key.system_id).values_list("pk", flat=True).first(),
              "name": "改名", "prefix": "0123abcd", "secret_hash": "0" * 64, "created_by_id": other.pk,
              "created_at": timezone.now() - dt.timedelta(days=1), "expires_at": timezone.now(),
              "revoked_at": timezone.now(), "revoked_by_id": other.pk, "last_used_at": timezone.now()}
    columns = {field.attname for field in SystemKey._meta.concrete_fields} - {"id"}
    assert columns == set(values), "a new column of SystemKey: watch it in sharing's migrations"
    for column, value in values.items():
        moved = _moves(lambda c=column, v=value: SystemKey.objects.filter(pk=key.pk).update(**{c: v}))
        assert moved == (column != "last_used_at"), column


def test_a_rolled_back_write_puts_the_old_value_back_and_what_was_kept_under_its_value_is_never_served(
        system_grant: Any) -> None:
    cache = stamps.StampedCache()
    before = _stamp()
    cache.get("q", before)
    cache.put("q", before, "as before")
    with pytest.raises(RuntimeError), transaction.atomic():
        Grant.objects.filter(pk=system_grant.grant.pk).update(revoked_at=timezone.now())
        inside = _stamp()
        assert inside != before
        assert cache.get("q", inside) is None  # another value: everything kept is dropped
        cache.put("q", inside, "revoked")
        raise RuntimeError
    assert _stamp() == before  # the rows and the stamp back together
    assert cache.get("q", before) is None  # the answer kept inside is not served under the old value
    assert cache.get("q", inside) is None


def test_an_answer_computed_while_another_request_read_another_value_is_not_kept() -> None:
    cache = stamps.StampedCache(size=2)
    cache.get("a", 1)
    cache.get("b", 2)  # a request that read a later (or earlier: not known) value
    cache.put("a", 1, "computed under 1")
    assert cache.get("a", 1) is None
    cache.get("b", 2)
    cache.put("b", 2, "B")
    cache.put("c", 2, "C")
    cache.put("d", 2, "D")  # at most two: the least recently used goes
    assert (cache.get("b", 2), cache.get("c", 2), cache.get("d", 2)) == (None, "C", "D")
    assert cache.get("c", None) is None  # no stamp in the database: nothing is served


def _secret(grant: Any) -> str:
    issued = do_issue_system_key(grant.org.market_admin, grant.market_system, name="登记系统接口", days=30)
    return issued.secret


def test_a_systems_second_call_reads_no_table_of_the_access_check(system_grant: Any) -> None:
    """The first call reads the key, the entry, the items and the grants; the next one only the stamp (once, before
    anything else) and writes its access-log row."""
    client = _bearer(_secret(system_grant))
    assert _rows(client, system_grant.entry).status_code == 200
    with CaptureQueriesContext(connection) as first:
        assert _rows(client, system_grant.entry, fields="姓名").status_code == 200
    with CaptureQueriesContext(connection) as kept:
        assert _rows(client, system_grant.entry, fields="姓名").status_code == 200
    tables = " ".join(q["sql"] for q in kept.captured_queries)
    assert "sharing_grant" in " ".join(q["sql"] for q in first.captured_queries)
    for table in ("sharing_systemkey", "sharing_grant", "catalog_catalogentry", "catalog_informationitem"):
        assert f'FROM "{table}"' not in tables, table
    statements = [q["sql"] for q in kept.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert tables.count("core_stamp") == 1 and "core_stamp" in statements[0]  # (a savepoint around it in a test)
    assert len(kept.captured_queries) < len(first.captured_queries)


@pytest.mark.parametrize("change, expected", [
    ("grant_revoked", (403, "access_denied")),
    # the grant's item gone from the entry: the items it still has, without it (review of the 21st session)
    ("item_renamed", (200, None)),
    ("key_revoked", (401, "token_revoked")),
    ("key_expired", (401, "token_expired")),
    ("system_inactive", (401, "token_system_inactive")),
    ("department_inactive", (401, "token_system_inactive")),
    ("entry_withdrawn", (404, "not_found")),
])
def test_a_change_made_past_the_actions_counts_from_the_very_next_call(system_grant: Any, change: str,
                                                                      expected: tuple[int, str | None]) -> None:
    """Queryset updates send no signal and go past the actions: only the database's triggers see them."""
    client = _bearer(_secret(system_grant))
    for _ in range(2):  # kept after the first
        assert _rows(client, system_grant.entry).status_code == 200
    now = timezone.now()
    grant, system = Grant.objects.filter(pk=system_grant.grant.pk), system_grant.market_system
    {
        "grant_revoked": lambda: grant.update(revoked_at=now),
        "item_renamed": lambda: InformationItem.objects.filter(version=system_grant.entry.current_version,
                                                               name="姓名").update(name="姓名（曾用）"),
        "key_revoked": lambda: SystemKey.objects.filter(system=system).update(revoked_at=now),
        "key_expired": lambda: SystemKey.objects.filter(system=system).update(expires_at=now),
        "system_inactive": lambda: ConsumingSystem.objects.filter(pk=system.pk).update(is_active=False),
        "department_inactive": lambda: Department.objects.filter(pk=system.department_id).update(is_active=False),
        "entry_withdrawn": lambda: CatalogEntry.objects.filter(pk=system_grant.entry.pk).update(
            status=CatalogEntry.Status.WITHDRAWN),
    }[change]()
    answer = _rows(client, system_grant.entry)
    if expected[1] is None:
        assert answer.status_code == expected[0] and [f["name"] for f in answer.json()["fields"]] == ["公民身份号码"]
    else:
        assert (answer.status_code, answer.json()["error"]["code"]) == expected, answer.content
    assert "赵" not in answer.content.decode()


def test_a_new_masking_rule_or_fewer_items_apply_from_the_next_call(system_grant: Any) -> None:
    client = _bearer(_secret(system_grant))
    assert _rows(client, system_grant.entry).json()["rows"][0]["姓名"] == "赵*"
    grant = Grant.objects.filter(pk=system_grant.grant.pk)
    grant.update(masking={**system_grant.grant.masking, "姓名": "不予提供"})
    assert _rows(client, system_grant.entry).json()["rows"][0]["姓名"] is None
    grant.update(items=["姓名"])
    assert [f["name"] for f in _rows(client, system_grant.entry).json()["fields"]] == ["姓名"]


def test_a_grant_that_ends_today_delivers_until_midnight_and_not_after_even_when_kept(system_grant: Any) -> None:
    today = timezone.localdate()
    Grant.objects.filter(pk=system_grant.grant.pk).update(expires_on=today)
    client = _bearer(_secret(system_grant))
    assert _rows(client, system_grant.entry).status_code == 200
    assert _rows(client, system_grant.entry).status_code == 200
    midnight = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 0, 1)))
    with time_machine.travel(midnight, tick=False):
        answer = _rows(client, system_grant.entry)
    assert answer.status_code == 403 and "expired" in answer.json()["error"]["message_en"]


def test_the_system_check_names_a_watched_table_whose_triggers_are_missing_and_migrate_makes_them_again() -> None:
    """``govshare check`` (docs/operations.md §8): quiet on a migrated database; a trigger dropped by hand is named,
    the processes keep nothing meanwhile, and the next ``migrate`` (its post_migrate step) makes it again (DDL is
    rolled back with the test on both databases)."""
    from govshare.cli import main

    assert stamps.missing_triggers() == []
    assert stamps.system_check(databases=["default"]) == []
    assert main(["check"]) == 0
    with connection.cursor() as cursor:
        cursor.execute(stamps.drop_sql(connection.vendor, stamps.ACCESS, "sharing_grant")[0])
    assert stamps.missing_triggers() == ["access:sharing_grant"]
    errors = stamps.system_check(databases=["default"])
    assert [e.id for e in errors] == ["govshare.E902"] and "sharing_grant" in errors[0].msg
    assert main(["check"]) == 1
    stamps.forget()
    assert _stamp() is None  # nothing kept while a watched table may change unseen
    stamps.ensure_triggers()
    assert stamps.missing_triggers() == [] and _stamp() is not None


def test_a_conflict_clause_or_a_bulk_insert_that_ignores_conflicts_still_moves_the_stamp(system_grant: Any) -> None:
    """Review: SQLite applies the outer statement's ``OR IGNORE`` / ``OR ROLLBACK`` inside its triggers — a stamp
    written by ``INSERT OR REPLACE`` stood still under ``UPDATE OR IGNORE``; rows added to a log cannot conflict."""
    department = system_grant.org.market
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for clause in ("IGNORE", "ROLLBACK", "ABORT", "FAIL", "REPLACE"):
                assert _moves(lambda c=clause: cursor.execute(
                    f"UPDATE OR {c} core_department SET short_name = %s WHERE id = %s",
                    [f"市场局{c}", department.pk])), clause
    assert _moves(lambda: ConsumingSystem.objects.bulk_create(
        [ConsumingSystem(department=department, name="批量系统", code="SJ-PL")], ignore_conflicts=True))


def test_a_kept_key_that_reaches_its_expiry_is_refused_without_any_write(system_grant: Any) -> None:
    client = _bearer(_secret(system_grant))
    assert _rows(client, system_grant.entry).status_code == 200
    assert _rows(client, system_grant.entry).status_code == 200  # kept
    expires = SystemKey.objects.get(system=system_grant.market_system).expires_at
    with time_machine.travel(expires + dt.timedelta(seconds=1), tick=False):
        answer = _rows(client, system_grant.entry)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "token_expired")


def test_a_write_committed_while_a_call_is_in_flight_is_seen_by_the_next_call(system_grant: Any,
                                                                             monkeypatch: Any) -> None:
    """Review: the key and the delivery were kept under two readings of the stamp; a write between them (the system
    moved to another department) was kept under the second with the first's system object, and served after.
    Now one reading, first, covers both (and the system's department is part of the question)."""
    from govshare.datastore import delivery

    client = _bearer(_secret(system_grant))
    assert _rows(client, system_grant.entry).status_code == 200  # the key kept
    delivery._SYSTEM_DELIVERIES.clear()
    original, moved = delivery.authorise_system, []

    def in_flight(*args: Any, **kwargs: Any) -> Any:
        if not moved:  # the system now belongs to the centre, which holds no grant
            ConsumingSystem.objects.filter(pk=system_grant.market_system.pk).update(
                department=system_grant.org.centre)
            moved.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(delivery, "authorise_system", in_flight)
    assert _rows(client, system_grant.entry).status_code == 200  # in flight during the write: as before it
    monkeypatch.setattr(delivery, "authorise_system", original)
    answer = _rows(client, system_grant.entry)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "access_denied", answer.content


def _rows_of_stamp() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM core_stamp WHERE name = 'access'")
        return int(cursor.fetchone()[0])


def test_pruning_keeps_the_rows_few_and_the_value_growing(system_grant: Any, monkeypatch: Any) -> None:
    from govshare.core import periodic

    seen = [_stamp()]
    for n in range(5):
        Grant.objects.filter(pk=system_grant.grant.pk).update(conditions=f"第{n}次")
        seen.append(_stamp())
    assert seen == sorted(seen) and len(set(seen)) == 6  # each write raised it
    assert periodic.run_due(force=True, only={"core.prune_stamps"})["core.prune_stamps"] >= 5
    assert _rows_of_stamp() == 1 and _stamp() == seen[-1] + 1  # one row left; a value never seen before


@pytest.mark.django_db(transaction=True)
def test_a_read_prunes_rows_past_the_limit_itself_and_never_retries_a_prune_that_cannot_write(
        monkeypatch: Any) -> None:
    """Outside a transaction (a request's), a read past PRUNE_AT rows prunes them, without waiting for the database;
    a prune that cannot write (a standby, the SQLite file locked by another writer) leaves the read as it was —
    the second review found it retried for ever (RecursionError, or 20 s waits on SQLite)."""
    stamps.ensure_triggers()
    stamps.prune(stamps.ACCESS)
    seen = [_stamp()]
    assert seen[0] is not None
    with connection.cursor() as cursor:  # past PRUNE_AT rows a read prunes them itself
        cursor.executemany("INSERT INTO core_stamp (name, weight) VALUES (%s, 1)", [("access",)] * (stamps.PRUNE_AT + 1))
    before = seen[-1] + stamps.PRUNE_AT + 1
    assert _stamp() == before and _rows_of_stamp() == 1
    assert _stamp() == before + 1  # the prune's own row
    # a prune that cannot write (a standby, the file locked by another writer) leaves the read as it was: no retry
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO core_stamp (name, weight) VALUES (%s, 1)", [("access",)] * (stamps.PRUNE_AT + 1))
    tried: list[int] = []

    def locked(name: str, *, using: str = "default") -> int:
        tried.append(1)
        raise OperationalError("database is locked")

    monkeypatch.setattr(stamps, "prune", locked)
    assert _stamp() == before + 1 + stamps.PRUNE_AT + 1 and tried == [1]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite rebuilds a table in a migration")
def test_triggers_made_again_after_a_table_was_rebuilt_move_the_stamp(system_grant: Any) -> None:
    """Second review: SQLite drops a table's triggers when a migration rebuilds it; what was written until
    post_migrate made them again went unseen — making them again now moves the stamp."""
    client = _bearer(_secret(system_grant))
    assert _rows(client, system_grant.entry).status_code == 200
    with connection.cursor() as cursor:
        for sql in stamps.drop_sql("sqlite", stamps.ACCESS, "sharing_systemkey"):
            cursor.execute(sql)  # what the rebuild does
    SystemKey.objects.filter(system=system_grant.market_system).update(revoked_at=timezone.now())  # unseen
    stamps.ensure_triggers()  # post_migrate
    assert stamps.missing_triggers() == []
    answer = _rows(client, system_grant.entry)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "token_revoked")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="writers committing out of order: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_prune_between_writers_committing_out_of_order_never_brings_a_value_back(share: Any) -> None:
    """Second review: with the value (rows, highest id), a revocation L holding an earlier id, a prune, and a write
    B committed between the prune's insert and its commit brought back the value a call had kept its answer under
    — the revoked key was served.  The sum of weights only grows."""
    import threading

    from django.db import connections

    granted = with_system_grant(share)
    client = _bearer(_secret(granted))
    key = SystemKey.objects.get(system=granted.market_system)
    assert _rows(client, granted.entry).status_code == 200
    stamps.prune(stamps.ACCESS)
    Department.objects.filter(pk=granted.org.market.pk).update(short_name="市场1")
    l_wrote, l_go, p_paused, p_go = (threading.Event() for _ in range(4))
    errors: list[BaseException] = []

    def revoker() -> None:
        try:
            with transaction.atomic():
                SystemKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
                l_wrote.set()
                assert l_go.wait(20)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def pruner() -> None:
        def pause(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            if sql.startswith("DELETE FROM core_stamp"):
                p_paused.set()
                assert p_go.wait(20)
            return execute(sql, params, many, context)
        try:
            with connection.execute_wrapper(pause):
                stamps.prune(stamps.ACCESS)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connections.close_all()

    revoking = threading.Thread(target=revoker)
    revoking.start()
    assert l_wrote.wait(20)
    pruning = threading.Thread(target=pruner)
    pruning.start()
    assert p_paused.wait(20)
    Department.objects.filter(pk=granted.org.market.pk).update(short_name="市场2")  # B commits meanwhile
    seen = _stamp()
    assert _rows(client, granted.entry).status_code == 200  # kept under `seen`
    p_go.set()
    pruning.join(20)
    l_go.set()
    revoking.join(20)
    assert not errors, errors
    assert _stamp() not in (None, seen)
    answer = _rows(client, granted.entry)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "token_revoked")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_the_worker_making_a_change_effective_and_a_subscription_of_the_same_entry_do_not_deadlock(
        share: Any) -> None:
    """Review: with one stamp row updated by every write, the worker's apply_due_changes (a version written, then
    the entry locked) and do_subscribe_entry (the entry locked, then a grant written) deadlocked; rows added to a
    log take no lock another writer waits for.  Both paused where the two orders cross."""
    import threading

    from django.db import OperationalError, connections

    from govshare.catalog.actions.entries import apply_due_changes
    from govshare.sharing.actions import do_subscribe_entry

    entry = share.unconditional
    current = entry.current_version
    due = EntryVersion.objects.get(pk=current.pk)
    due.pk, due.id, due.number = None, None, current.number + 50
    due.state, due.notice_ends_at = EntryVersion.State.APPROVED, timezone.now() - dt.timedelta(days=1)
    due.save()  # an approved change whose notice has ended: the worker makes it effective
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def pause_before(fragment: str) -> Any:
        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            if all(part in sql for part in fragment.split("|")):
                barrier.wait(timeout=10)
            return execute(sql, params, many, context)
        return wrapper

    def run(name: str, fragment: str, call: Any) -> None:
        try:
            with connection.execute_wrapper(pause_before(fragment)):
                call()
            outcome[name] = "ok"
        except (OperationalError, threading.BrokenBarrierError) as exc:
            outcome[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=("subscriber", 'INSERT INTO "sharing_grant"', lambda: do_subscribe_entry(
            share.org.market_specialist, entry, purpose="工作参考", channel="api"))),
        threading.Thread(target=run, args=("worker", 'FROM "catalog_catalogentry"|FOR UPDATE', apply_due_changes)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome == {"subscriber": "ok", "worker": "ok"}, outcome


def test_a_systems_verifications_are_checked_from_what_was_kept_until_the_grant_changes(
        system_grant: Any, settings: Any) -> None:
    """Online verification (SHR-9) by a system: its entry and grant kept like the data API's (no table of the access
    check read on the second call), and a revocation made past the actions refuses the very next one."""
    from tests.test_data_api import PEOPLE, _verify

    settings.GOVSHARE_VERIFY_PER_MINUTE = 100
    client = _bearer(_secret(system_grant))
    claim = ({"公民身份号码": PEOPLE[0][0]}, {"姓名": "赵六"})
    assert _verify(client, system_grant.entry, *claim).status_code == 200
    with CaptureQueriesContext(connection) as kept:
        answer = _verify(client, system_grant.entry, *claim)
    assert answer.status_code == 200 and answer.json()["fields"]["姓名"]["result"] == "match"
    tables = " ".join(q["sql"] for q in kept.captured_queries)
    for table in ("sharing_systemkey", "sharing_grant", "catalog_catalogentry", "catalog_informationitem"):
        assert f'FROM "{table}"' not in tables, table
    Grant.objects.filter(pk=system_grant.grant.pk).update(revoked_at=timezone.now())
    refused = _verify(client, system_grant.entry, *claim)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "access_denied")
