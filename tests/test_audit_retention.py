"""Audit-log retention (SEC-4): rows are kept at least as long as the longest retention among the
policy profiles in use (never under the national floor of 6 months); older rows are purged as a
prefix of the chain, and the chain still verifies afterwards."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from govshare.cli import main as cli
from govshare.core import access_log, audit
from govshare.core.actions import audit as audit_actions
from govshare.core.actions.audit import _months_before, check_chain, do_purge_audit, retention_rule
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict
from govshare.core.models import AccessAnchor, AccessEvent, AuditAnchor, AuditEvent
from govshare.core.policy import Period, get_profile, platform_profile

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 9, 15, 10, 0, tzinfo=SHANGHAI)


def _at(monkeypatch: Any, when: dt.datetime, label: str) -> AuditEvent:
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: when)
        return audit.record(AuditCode.USER_UPDATED, object_repr=label)


def _labels() -> list[str]:
    return list(AuditEvent.objects.filter(code=AuditCode.USER_UPDATED).order_by("id")
                .values_list("object_repr", flat=True))


def test_the_platform_keeps_audit_rows_at_least_six_months_by_its_profile(db: Any) -> None:
    period = platform_profile().retention["audit_log"]
    assert period.unit == "months" and period.amount >= 6
    assert retention_rule(NOW).cutoff == _months_before(NOW, period.amount)


def test_purge_removes_rows_older_than_the_minimum_and_keeps_younger_ones(db: Any, monkeypatch: Any) -> None:
    _at(monkeypatch, NOW - dt.timedelta(days=400), "a year ago")
    _at(monkeypatch, dt.datetime(2025, 3, 14, 9, 0, tzinfo=SHANGHAI), "six months and a day ago")
    _at(monkeypatch, dt.datetime(2025, 3, 16, 9, 0, tzinfo=SHANGHAI), "six months less a day ago")
    _at(monkeypatch, NOW - dt.timedelta(days=1), "yesterday")
    result = do_purge_audit(operator=True, now=NOW)
    assert result.deleted == 2 and not result.dry_run
    assert _labels() == ["six months less a day ago", "yesterday"]
    assert check_chain().ok


def test_after_a_purge_the_anchor_and_the_purge_record_let_the_chain_verify(db: Any, monkeypatch: Any) -> None:
    old = [_at(monkeypatch, NOW - dt.timedelta(days=300 - i), f"old {i}") for i in range(3)]
    _at(monkeypatch, NOW - dt.timedelta(days=2), "recent")
    do_purge_audit(operator=True, now=NOW)
    anchor = AuditAnchor.objects.get(pk=1)
    assert (anchor.last_purged_id, anchor.last_purged_hash) == (old[-1].pk, old[-1].row_hash)
    purge = AuditEvent.objects.filter(code=AuditCode.AUDIT_PURGED).get()
    assert purge.detail["deleted"] == 3 and purge.detail["last_purged_id"] == old[-1].pk
    assert purge.detail["via"] == "cli" and purge.actor_id is None
    audit.record(AuditCode.USER_UPDATED, object_repr="after the purge")
    report = check_chain()
    assert report.ok and report.checked == AuditEvent.objects.count()


def test_a_second_purge_moves_the_anchor_again_and_the_chain_still_verifies(db: Any, monkeypatch: Any) -> None:
    _at(monkeypatch, NOW - dt.timedelta(days=400), "first batch")
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: NOW)  # the purge's own record is written "now"
        do_purge_audit(operator=True, now=NOW)
    later = NOW + dt.timedelta(days=365)
    _at(monkeypatch, later - dt.timedelta(days=1), "a year on")
    result = do_purge_audit(operator=True, now=later)
    assert result.deleted == 1  # the first purge's own record, now older than the minimum
    assert _labels() == ["a year on"]
    assert check_chain().ok


def test_a_young_row_is_never_purged_even_when_an_older_one_follows_it(db: Any, monkeypatch: Any) -> None:
    _at(monkeypatch, NOW - dt.timedelta(days=400), "old")
    _at(monkeypatch, NOW - dt.timedelta(days=10), "young")
    _at(monkeypatch, NOW - dt.timedelta(days=390), "old, written with a wrong clock")
    do_purge_audit(operator=True, now=NOW)
    assert _labels() == ["young", "old, written with a wrong clock"]
    assert check_chain().ok


def test_the_longest_retention_among_the_jurisdictions_profiles_wins(db: Any, monkeypatch: Any) -> None:
    from govshare.core.actions import do_create_jurisdiction

    _at(monkeypatch, NOW - dt.timedelta(days=400), "thirteen months ago")
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: NOW - dt.timedelta(days=1))
        do_create_jurisdiction(None, code="360783", name="龙南市", level="county", policy_profile="longnan")
    assert do_purge_audit(operator=True, now=NOW, dry_run=True).deleted == 1  # every profile: 6 months

    longer = dataclasses.replace(get_profile("longnan"), retention={
        "audit_log": Period("audit_log", 24, "months", "test: a county that keeps two years")})
    monkeypatch.setattr(audit_actions, "get_profile", lambda name: longer if name == "longnan" else get_profile(name))
    rule = retention_rule(NOW)
    assert rule.profile == "longnan" and rule.amount == 24
    assert {"longnan", "national"} <= set(rule.profiles)
    assert do_purge_audit(operator=True, now=NOW).deleted == 0
    assert "thirteen months ago" in _labels()


def test_a_dry_run_counts_but_deletes_and_records_nothing(db: Any, monkeypatch: Any) -> None:
    _at(monkeypatch, NOW - dt.timedelta(days=400), "old")
    _at(monkeypatch, NOW, "new")
    count = AuditEvent.objects.count()
    result = do_purge_audit(operator=True, now=NOW, dry_run=True)
    assert result.dry_run and result.deleted == 1
    assert AuditEvent.objects.count() == count
    assert not AuditAnchor.objects.exists()


def test_a_broken_chain_is_not_purged(db: Any, monkeypatch: Any) -> None:
    _at(monkeypatch, NOW - dt.timedelta(days=400), "old")
    victim = _at(monkeypatch, NOW - dt.timedelta(days=399), "old too")
    _at(monkeypatch, NOW, "new")
    AuditEvent.objects.filter(pk=victim.pk).delete()
    with pytest.raises(Conflict) as info:
        do_purge_audit(operator=True, now=NOW)
    assert info.value.code == "audit_chain_broken"
    assert _labels() == ["old", "new"]


def test_nothing_to_purge_changes_nothing(db: Any, monkeypatch: Any) -> None:
    _at(monkeypatch, NOW, "new")
    result = do_purge_audit(operator=True, now=NOW)
    assert result.deleted == 0 and result.last_purged_id is None
    assert not AuditEvent.objects.filter(code=AuditCode.AUDIT_PURGED).exists()


def test_a_non_operator_purge_is_refused_and_the_refusal_recorded(org: Any) -> None:
    from govshare.core.errors import Forbidden

    with pytest.raises(Forbidden):
        do_purge_audit(org.centre_admin, now=NOW)
    denial = AuditEvent.objects.order_by("-id").first()
    assert denial.code == AuditCode.PERMISSION_DENIED and denial.actor_id == org.centre_admin.pk


def test_the_console_purge_dry_run_reports_the_rule_and_the_count(db: Any, capsys: Any) -> None:
    audit.record(AuditCode.USER_UPDATED, object_repr="today")
    assert cli(["audit", "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "6 months" in out and "0 rows would be deleted" in out
    assert AuditEvent.objects.count() == 1


# ------------------------------------------------------------------ the access log (reads, issue 9)


def _read_at(monkeypatch: Any, when: dt.datetime, label: str) -> AccessEvent:
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: when)
        access_log.record(AuditCode.READ_ACCESS_CHECK, object_type="catalog.catalogentry", object_repr=label)
    return AccessEvent.objects.latest("id")


def test_purge_removes_expired_access_rows_moves_their_anchor_and_records_it(db: Any, monkeypatch: Any,
                                                                            capsys: Any) -> None:
    old = [_read_at(monkeypatch, NOW - dt.timedelta(days=300 - i), f"old read {i}") for i in range(2)]
    _read_at(monkeypatch, NOW - dt.timedelta(days=2), "recent read")
    _at(monkeypatch, NOW - dt.timedelta(days=1), "recent write")  # no audit row is old: only reads go
    result = do_purge_audit(operator=True, now=NOW)
    assert (result.deleted, result.reads_deleted, result.reads_last_purged_id) == (0, 2, old[-1].pk)
    assert list(AccessEvent.objects.values_list("object_repr", flat=True)) == ["recent read"]
    anchor = AccessAnchor.objects.get(pk=1)
    assert (anchor.last_purged_id, anchor.last_purged_hash) == (old[-1].pk, old[-1].row_hash)
    purge = AuditEvent.objects.filter(code=AuditCode.AUDIT_PURGED).get()
    assert (purge.detail["access_last_purged_id"], purge.detail["access_last_purged_hash"]) == (
        old[-1].pk, old[-1].row_hash)
    _read_at(monkeypatch, NOW, "a read after the purge")
    report = check_chain()
    assert report.ok and report.reads_checked == 2
    # a later purge that removes only audit rows carries the access anchor on, so it still verifies
    _at(monkeypatch, NOW + dt.timedelta(days=1), "later write")
    assert do_purge_audit(operator=True, now=NOW + dt.timedelta(days=365)).reads_deleted == 2
    assert check_chain().ok
    assert cli(["audit", "purge", "--dry-run"]) == 0
    assert "access log" in capsys.readouterr().out


def test_access_rows_removed_beyond_the_recorded_anchor_are_reported(db: Any, monkeypatch: Any) -> None:
    reads = [_read_at(monkeypatch, dt.datetime(2025, 3, 1 + 2 * i, 9, 0, tzinfo=SHANGHAI), f"read {i}")
             for i in range(3)]
    result = do_purge_audit(operator=True, now=dt.datetime(2025, 9, 2, 10, 0, tzinfo=SHANGHAI))
    assert result.reads_deleted == 1 and check_chain().ok  # the first read went by retention
    AccessEvent.objects.filter(pk=reads[1].pk)._raw_delete(AccessEvent.objects.db)  # and one more, by hand
    AccessAnchor.objects.filter(pk=1).update(last_purged_id=reads[1].pk, last_purged_hash=reads[1].row_hash)
    report = check_chain()
    assert (report.ok, report.chain, report.reason) == (False, "access", "anchor")


@pytest.mark.parametrize(("moment", "months", "expected"), [
    (dt.datetime(2025, 3, 31, 12, 0, tzinfo=SHANGHAI), 1, dt.datetime(2025, 2, 28, 12, 0, tzinfo=SHANGHAI)),
    (dt.datetime(2024, 8, 31, 0, 30, tzinfo=SHANGHAI), 6, dt.datetime(2024, 2, 29, 0, 30, tzinfo=SHANGHAI)),
    (dt.datetime(2025, 1, 15, 8, 0, tzinfo=SHANGHAI), 6, dt.datetime(2024, 7, 15, 8, 0, tzinfo=SHANGHAI)),
    (dt.datetime(2025, 1, 15, 8, 0, tzinfo=SHANGHAI), 24, dt.datetime(2023, 1, 15, 8, 0, tzinfo=SHANGHAI)),
])
def test_months_are_counted_on_the_beijing_calendar(moment: dt.datetime, months: int,
                                                    expected: dt.datetime) -> None:
    assert _months_before(moment, months) == expected
