"""Log mode as users meet it (issue 10 item 5; EXC-1 实时): a provider switches a binding on a PostgreSQL front-end
database to "every change from the database's log" — the platform makes a replication slot there; the first copy
is full, the next ones apply the slot's changes (deletes included) every minute; leaving log mode drops the slot;
a slot that piles up the source's log, or disappears, raises the alarm.  Against the suite's real PostgreSQL
source server (wal_level=logical).  The engine's own tests: tests/test_exchange_logical.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from govshare.core.audit_codes import AuditCode
from govshare.core.errors import ValidationFailed
from govshare.core.models import AuditEvent, Notification
from govshare.exchange import schedule
from govshare.exchange.actions import do_bind_table, do_register_source, do_set_binding_mode, slots
from govshare.exchange.models import ExchangeRun, TableBinding
from tests.conftest import login
from tests.source_servers import make_pg_database, pg_admin
from tests.test_exchange_runs import centre_rows, start  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db

_names = itertools.count(1)
ROWS = [(f"3607831990010{n:04d}{n % 10}", f"李{n}", f"1990-01-{1 + n % 28:02d}") for n in range(40)]
SQL = ("CREATE TABLE rkxx (gmsfhm VARCHAR(18) PRIMARY KEY, xm VARCHAR(50) NOT NULL, csrq DATE);\n"
       + "".join(f"INSERT INTO rkxx VALUES ('{a}', '{b}', '{c}');\n" for a, b, c in ROWS))


class Source:
    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.spec = make_pg_database(url, name, SQL)

    def run(self, sql: str) -> None:
        """As the department's own system: committed and flushed (logical decoding reads flushed log)."""
        with pg_admin(self.url, self.name) as conn:
            conn.execute("SET synchronous_commit = on")
            conn.execute(sql.encode())

    def slots(self) -> list[str]:
        with pg_admin(self.url) as conn:
            return [row[0] for row in conn.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s",
                                                   (self.name,))]

    def drop_slots(self) -> None:
        with pg_admin(self.url) as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = %s",
                         (self.name,))


@pytest.fixture
def logged(cat: Any, pg_source_url: str) -> Iterator[Any]:
    """The police entry bound to a table of a real PostgreSQL front-end database whose reading account has the
    REPLICATION attribute (what log mode needs)."""
    source = Source(pg_source_url, f"logmode_{next(_names)}")
    with pg_admin(pg_source_url) as admin:
        admin.execute(f'ALTER ROLE "{source.spec["user"]}" REPLICATION')
    cat.source_db = source
    cat.entry = cat.published()
    cat.source = do_register_source(cat.org.police_admin, name="公安 PostgreSQL 前置库", code=f"GA-{source.name}",
                                    kind="postgresql", host=source.spec["address"], port=source.spec["port"],
                                    database=source.name, username=source.spec["user"],
                                    password=source.spec["password"], tls="prefer", connect_timeout=5)
    cat.binding = do_bind_table(cat.org.police_specialist, cat.entry, source=cat.source, schema="public",
                                table="rkxx", mapping={"公民身份号码": "gmsfhm", "姓名": "xm", "出生日期": "csrq"})
    try:
        yield cat
    finally:
        source.drop_slots()


def test_a_binding_in_log_mode_copies_in_full_once_then_applies_every_change_from_the_log(
        logged: Any, start: Any) -> None:
    binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log")
    assert binding.slot_name.startswith("govshare_") and logged.source_db.slots() == [binding.slot_name]
    first = start(logged.org.police_specialist, binding)
    assert (first.kind, first.status, first.inserted) == ("full", "succeeded", 40), first.error_message
    logged.source_db.run(f"INSERT INTO rkxx VALUES ('360783199501010016', '新人', '1995-01-01');"
                         f"UPDATE rkxx SET xm = '改名' WHERE gmsfhm = '{ROWS[3][0]}';"
                         f"DELETE FROM rkxx WHERE gmsfhm = '{ROWS[5][0]}';")
    second = start(logged.org.police_specialist, binding)
    assert (second.kind, second.status) == ("log", "succeeded"), second.error_message
    assert (second.inserted, second.updated, second.deleted) == (1, 1, 1)
    assert second.since == first.watermark and second.watermark["slot"] == binding.slot_name
    rows = {row[0]: row for row in centre_rows(logged.entry)}
    assert rows[ROWS[3][0]][1] == "改名" and rows[ROWS[5][0]][-1] is True and "360783199501010016" in rows
    third = start(logged.org.police_specialist, binding)
    assert (third.kind, third.status, third.inserted, third.updated, third.deleted) == ("log", "succeeded", 0, 0, 0)
    # due again a minute after its last copy, whatever the entry's update cycle
    binding = TableBinding.objects.get(pk=binding.pk)
    assert schedule.LOG_INTERVAL.total_seconds() == 60 and not schedule.is_due(binding)


def test_leaving_log_mode_drops_the_slot_and_the_page_shows_it_while_it_lasts(logged: Any) -> None:
    binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log", plugin="test_decoding")
    slots.do_check_slot(binding)
    page = login(Client(), logged.org.police_specialist).get(f"/exchange/bindings/{binding.pk}/").content.decode()
    assert 'id="slot"' in page and binding.slot_name in page and 'data-alarm="0"' in page
    binding = do_set_binding_mode(logged.org.police_specialist, binding, mode="full")
    assert (binding.mode, binding.slot_name) == ("full", "") and logged.source_db.slots() == []


def test_log_mode_needs_postgresql_and_an_account_that_may_decode_and_says_so(logged: Any, pg_source_url: str) -> None:
    with pg_admin(pg_source_url) as admin:
        admin.execute(f'ALTER ROLE "{logged.source_db.spec["user"]}" NOREPLICATION')
    with pytest.raises(ValidationFailed) as caught:
        do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log")
    assert caught.value.code == "source_no_replication_privilege" and "REPLICATION" in caught.value.render("en")
    assert TableBinding.objects.get(pk=logged.binding.pk).mode == "full" and logged.source_db.slots() == []
    with pytest.raises(ValidationFailed) as wrong:
        do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log", plugin="pgoutput")
    assert wrong.value.field == "plugin"


def test_a_slot_that_holds_too_much_log_or_is_gone_raises_the_alarm_once(
        logged: Any, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log")
    settings.GOVSHARE_SLOT_ALARM_MB = 1
    logged.source_db.run("CREATE TABLE other_system (id bigint, note text);"
                         "INSERT INTO other_system SELECT n, repeat('x', 200) FROM generate_series(1, 20000) n;")
    with django_capture_on_commit_callbacks(execute=True):
        seen = slots.do_check_slot(binding)
    assert seen["alarm"] is True and seen["held_bytes"] > 1 << 20
    told = set(Notification.objects.filter(kind="exchange.slot_alarm").values_list("recipient__username", flat=True))
    assert {"police_specialist", "police_admin", "admin"} <= told and "market_admin" not in told
    assert AuditEvent.objects.filter(code=AuditCode.SLOT_ALARM).count() == 1
    binding = TableBinding.objects.get(pk=binding.pk)
    slots.do_check_slot(binding)  # still too much: not told again within six hours
    assert AuditEvent.objects.filter(code=AuditCode.SLOT_ALARM).count() == 1
    logged.source_db.drop_slots()  # someone drops the slot on the source
    binding = TableBinding.objects.filter(pk=binding.pk).first()
    assert binding is not None
    TableBinding.objects.filter(pk=binding.pk).update(slot_alarm_at=None)
    binding.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        gone = slots.do_check_slot(binding)
    assert (gone["exists"], gone["alarm"]) == (False, True)
    page = login(Client(), logged.org.police_specialist).get(f"/exchange/bindings/{binding.pk}/").content.decode()
    assert 'data-alarm="1"' in page
    assert ExchangeRun.objects.count() == 0


def test_a_quiet_log_run_keeps_the_position_and_a_new_slot_starts_with_a_full_copy(logged: Any, start: Any) -> None:
    """A log run that finds nothing of the table commits nothing: the next one still goes on from the slot
    (review: it used to fail for ever). Changing the plugin makes a new slot (another name): the next copy is
    a full one, never a log run from the old slot's position."""
    binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log")
    assert start(logged.org.police_specialist, binding).kind == "full"
    quiet = start(logged.org.police_specialist, binding)
    assert (quiet.kind, quiet.status, quiet.rows_read) == ("log", "succeeded", 0), quiet.error_message
    logged.source_db.run(f"UPDATE rkxx SET xm = '静后改名' WHERE gmsfhm = '{ROWS[1][0]}';")
    after = start(logged.org.police_specialist, binding)
    assert (after.kind, after.status, after.updated) == ("log", "succeeded", 1), after.error_message
    old_slot = binding.slot_name
    binding = do_set_binding_mode(logged.org.police_specialist, binding, mode="log", plugin="wal2json")
    assert binding.slot_name != old_slot and logged.source_db.slots() == [binding.slot_name]
    again = start(logged.org.police_specialist, binding)
    assert (again.kind, again.status) == ("full", "succeeded"), again.error_message
    assert start(logged.org.police_specialist, binding).kind == "log"


def test_a_log_binding_is_not_moved_to_another_table_or_server_while_its_slot_lives(logged: Any) -> None:
    from govshare.exchange.actions import do_change_source

    binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log")
    with pytest.raises(ValidationFailed) as caught:
        do_change_source(logged.org.police_admin, logged.source, database="elsewhere")
    assert caught.value.code == "source_has_slots"
    assert TableBinding.objects.get(pk=binding.pk).slot_name == binding.slot_name


def test_a_truncate_or_mass_delete_in_the_log_is_held_until_a_person_confirms(
        logged: Any, start: Any, django_capture_on_commit_callbacks: Any) -> None:
    """The mass-delete guard holds log mode too: a DELETE without WHERE at the source stops the copy with
    nothing deleted; confirmed, the same run goes on from the same changes and tombstones them."""
    from govshare.core import jobs
    from govshare.exchange.actions import do_confirm_deletes

    binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="log")
    start(logged.org.police_specialist, binding)
    logged.source_db.run("DELETE FROM rkxx;")
    held = start(logged.org.police_specialist, binding)
    assert (held.kind, held.status, held.pending_deletes, held.live_rows) == ("log", "held", 40, 40)
    assert len([row for row in centre_rows(logged.entry) if not row[-1]]) == 40
    with django_capture_on_commit_callbacks(execute=True):
        run = do_confirm_deletes(logged.org.police_admin, held)
        assert run.job is not None
        jobs.execute(run.job.pk, "test")
    run.refresh_from_db()
    assert (run.status, run.deleted) == ("succeeded", 40), run.error_message
    assert [row for row in centre_rows(logged.entry) if not row[-1]] == []


def test_a_postgresql_source_into_a_postgresql_centre_takes_the_binary_copy_path(
        logged: Any, start: Any, settings: Any, pg_source_url: str) -> None:
    """docs/decisions/0004: the pair PostgreSQL → PostgreSQL copies in full by binary COPY into the centre,
    converted and hashed there — the same rows and hashes as the keyset copy; a second copy rewrites nothing."""
    from govshare.datastore.centre import open_store
    from tests.source_servers import _script

    # the centre on a server of its own: the guard refuses a source on the platform's own database servers
    with _script("with_postgres").throwaway_server(prefix="govshare-centre-") as centre:
        settings.GOVSHARE_DATASTORE_URL = centre
        first = start(logged.org.police_specialist, logged.binding)
        assert (first.status, first.inserted) == ("succeeded", 40), first.error_message
        assert first.job is not None and "binary COPY" in first.job.log
        second = start(logged.org.police_specialist, logged.binding)
        assert (second.status, second.inserted, second.updated, second.unchanged) == ("succeeded", 0, 0, 40)
        with open_store() as store:
            assert store.summary(first.target).content_hash == first.content_hash == second.content_hash
        # watermark mode: its key check lists the keys in the centre's SQL too, and finds the row deleted
        logged.source_db.run("ALTER TABLE rkxx ADD COLUMN gxsj timestamp NOT NULL DEFAULT now();")
        binding = do_set_binding_mode(logged.org.police_specialist, logged.binding, mode="watermark",
                                      update_column="gxsj", sweep_hours=0)
        assert start(logged.org.police_specialist, binding).kind == "full"
        logged.source_db.run(f"DELETE FROM rkxx WHERE gmsfhm = '{ROWS[5][0]}';")
        checked = start(logged.org.police_specialist, binding)
        assert (checked.kind, checked.checks_deletes, checked.status) == ("incremental", True, "succeeded"), \
            checked.error_message
        assert (checked.keys_read, checked.deleted) == (39, 1)
        assert checked.job is not None and "key check: binary COPY" in checked.job.log
        # log mode: the keys from the log, the rows read again by key and converted in the centre
        binding = do_set_binding_mode(logged.org.police_specialist, binding, mode="log")
        assert start(logged.org.police_specialist, binding).kind == "full"
        logged.source_db.run(f"UPDATE rkxx SET xm = '新名' WHERE gmsfhm = '{ROWS[7][0]}';")
        fresh = start(logged.org.police_specialist, binding)
        assert (fresh.kind, fresh.status, fresh.updated) == ("log", "succeeded", 1), fresh.error_message
        assert fresh.job is not None and "read again by key" in fresh.job.log


INTEGER_ITEMS = [
    {"name": "编号", "data_type": "I", "length": None, "description": "", "is_primary_key": True,
     "is_sensitive": False, "masking_rule": ""},
    {"name": "名称", "data_type": "C", "length": 50, "description": "", "is_primary_key": False,
     "is_sensitive": False, "masking_rule": ""},
]


def test_a_watermark_run_of_a_table_with_an_integer_key_checks_its_keys_by_ranges(
        cat: Any, start: Any, settings: Any, pg_source_url: str) -> None:
    """EXC-1 / EXC-7 as a run meets it (docs/decisions/0004, 17th session): a PostgreSQL front-end table keyed by an
    integer column, bound by update time into a PostgreSQL centre with a key check every run — the changed rows
    cross by binary COPY, the key check compares key ranges and lists only the differing ones' keys, the rows
    deleted at the source are tombstoned, the run's log says so."""
    from govshare.datastore.centre import open_store
    from tests.source_servers import _script

    source = Source(pg_source_url, f"ranges_{next(_names)}")
    source.run("CREATE TABLE goods (id bigint PRIMARY KEY, name varchar(50) NOT NULL, "
               "updated_at timestamp NOT NULL DEFAULT '2024-01-01');"
               "INSERT INTO goods (id, name) SELECT g, '物品' || g FROM generate_series(1, 2000) g;"
               f'GRANT SELECT ON goods TO "{source.spec["user"]}";')
    entry = cat.published(items=INTEGER_ITEMS)
    registered = do_register_source(cat.org.police_admin, name="公安 物品前置库", code=f"GA-{source.name}",
                                    kind="postgresql", host=source.spec["address"], port=source.spec["port"],
                                    database=source.name, username=source.spec["user"],
                                    password=source.spec["password"], tls="prefer", connect_timeout=5)
    binding = do_bind_table(cat.org.police_specialist, entry, source=registered, schema="public", table="goods",
                            mapping={"编号": "id", "名称": "name"})
    with _script("with_postgres").throwaway_server(prefix="govshare-centre-") as centre:
        settings.GOVSHARE_DATASTORE_URL = centre
        binding = do_set_binding_mode(cat.org.police_specialist, binding, mode="watermark",
                                      update_column="updated_at", sweep_hours=0)
        first = start(cat.org.police_specialist, binding)
        assert (first.kind, first.status, first.inserted) == ("full", "succeeded", 2000), first.error_message
        source.run("DELETE FROM goods WHERE id % 100 = 7;"
                   "UPDATE goods SET name = '改名', updated_at = '2024-06-01' WHERE id % 100 = 3;")
        checked = start(cat.org.police_specialist, binding)
        assert (checked.kind, checked.checks_deletes, checked.status) == ("incremental", True, "succeeded"), \
            checked.error_message
        assert (checked.updated, checked.deleted, checked.keys_read) == (20, 20, 1980)
        assert checked.job is not None
        assert "changed rows: binary COPY" in checked.job.log and "key check by ranges:" in checked.job.log
        with open_store() as store:
            rows = {row[0]: row for row in store.changes_since(checked.target, 0, 10_000) if not row[-1]}
        assert len(rows) == 1980 and 7 not in rows and rows[3][1] == "改名"
