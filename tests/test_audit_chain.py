"""The audit chain resists and reveals tampering (SEC-4): the database refuses UPDATE, and
``govshare audit verify`` names the first broken row when a row was changed or removed anyway."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from govshare.cli import main as cli
from govshare.core import audit, jobs
from govshare.core.actions.audit import check_chain, do_start_audit_verify, do_verify_audit
from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditAnchor, AuditEvent, Job
from tests.conftest import Org

TRIGGER = "core_auditevent_no_update"


def _trigger_exists() -> bool:
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = %s", [TRIGGER])
        else:
            cur.execute("SELECT tgname FROM pg_trigger WHERE tgname = %s AND NOT tgisinternal", [TRIGGER])
        return cur.fetchone() is not None


def _lift_update_guard() -> None:
    """What an attacker with DDL rights would do; undone when the test's transaction rolls back."""
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute(f"DROP TRIGGER {TRIGGER}")
        else:
            cur.execute(f"ALTER TABLE core_auditevent DISABLE TRIGGER {TRIGGER}")


def _middle(org: Org) -> AuditEvent:
    rows = list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    assert len(rows) > 5
    return AuditEvent.objects.get(pk=rows[len(rows) // 2])


def _next_after(event: AuditEvent) -> AuditEvent:
    return AuditEvent.objects.filter(id__gt=event.id).order_by("id").first()


def test_the_update_guard_trigger_exists_in_the_database(db: Any) -> None:
    assert connection.vendor in {"sqlite", "postgresql"}
    assert _trigger_exists()


def test_a_raw_sql_update_of_an_audit_row_is_refused_by_the_database(org: Org) -> None:
    event = _middle(org)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE core_auditevent SET object_repr = %s WHERE id = %s", ["forged", event.id])
    event.refresh_from_db()
    assert event.object_repr != "forged"


def test_a_queryset_update_of_audit_rows_is_refused_by_the_database(org: Org) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(code=AuditCode.USER_CREATED).update(outcome="failure")
    assert not AuditEvent.objects.filter(code=AuditCode.USER_CREATED, outcome="failure").exists()


def test_an_untouched_chain_verifies_and_the_auditor_check_is_recorded(org: Org) -> None:
    count = AuditEvent.objects.count()
    report = do_verify_audit(org.auditor)
    assert report.ok and report.checked == count
    event = AuditEvent.objects.order_by("-id").first()
    assert event.code == AuditCode.AUDIT_VERIFIED and event.actor_id == org.auditor.pk
    assert event.detail["ok"] is True and event.detail["checked"] == count
    assert do_verify_audit(org.auditor).ok  # the verification event itself is part of the chain


def test_a_row_changed_behind_the_triggers_back_is_named_by_verify(org: Org) -> None:
    victim = _middle(org)
    _lift_update_guard()
    AuditEvent.objects.filter(pk=victim.pk).update(actor_username="someone_else")
    report = do_verify_audit(org.auditor)
    assert not report.ok
    assert report.first_broken_id == victim.pk
    assert report.code == victim.code and report.reason == "content"
    assert f"Audit row {victim.pk} (code {victim.code}" in report.error.render("en")
    assert f"{victim.pk}" in report.error.render("zh-hans")
    recorded = AuditEvent.objects.order_by("-id").first()
    assert recorded.code == AuditCode.AUDIT_VERIFIED and recorded.outcome == "failure"
    assert recorded.detail["first_broken_id"] == victim.pk


def test_a_rewritten_row_with_a_recomputed_hash_breaks_the_link_of_the_next_row(org: Org) -> None:
    victim = _middle(org)
    follower = _next_after(victim)
    _lift_update_guard()
    fields = {name: getattr(victim, name) for name in audit.ALL_HASHED_FIELDS}
    fields["object_repr"] = "rewritten"
    AuditEvent.objects.filter(pk=victim.pk).update(object_repr="rewritten",
                                                   row_hash=audit.row_digest(victim.prev_hash, fields))
    report = check_chain()
    assert not report.ok
    assert report.first_broken_id == follower.pk and report.reason == "link"


def test_a_deleted_middle_row_is_named_through_the_row_after_it(org: Org) -> None:
    victim = _middle(org)
    follower = _next_after(victim)
    AuditEvent.objects.filter(pk=victim.pk).delete()  # QuerySet.delete bypasses AuditEvent.delete()
    report = do_verify_audit(org.auditor)
    assert not report.ok
    assert report.first_broken_id == follower.pk and report.reason == "link"
    assert "deleted or rewritten" in report.error.render("en")


def test_rows_removed_from_the_start_with_a_forged_anchor_are_detected(org: Org) -> None:
    first_rows = list(AuditEvent.objects.order_by("id")[:3])
    AuditEvent.objects.filter(pk__in=[r.pk for r in first_rows]).delete()
    AuditAnchor.objects.update_or_create(pk=1, defaults={"last_purged_id": first_rows[-1].pk,
                                                         "last_purged_hash": first_rows[-1].row_hash})
    report = check_chain()
    assert not report.ok and report.reason == "anchor"
    assert report.error.code == "audit_anchor_mismatch"


def test_the_console_verify_prints_ok_with_the_row_count(org: Org, capsys: Any) -> None:
    count = AuditEvent.objects.count()
    assert cli(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"OK: {count} rows" in out
    recorded = AuditEvent.objects.order_by("-id").first()
    assert recorded.code == AuditCode.AUDIT_VERIFIED and recorded.detail["via"] == "cli"


def test_the_console_verify_names_the_broken_row_and_exits_1(org: Org, capsys: Any) -> None:
    victim = _middle(org)
    _lift_update_guard()
    AuditEvent.objects.filter(pk=victim.pk).update(detail={"forged": True})
    assert cli(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"id={victim.pk}" in err and f"code={victim.code}" in err
    assert f"Audit row {victim.pk}" in err


def test_a_long_chain_is_verified_by_a_background_job_with_progress(org: Org) -> None:
    count = AuditEvent.objects.count()
    job = do_start_audit_verify(org.auditor)
    assert job.kind == "core.audit_verify" and job.created_by_id == org.auditor.pk
    assert jobs.execute(job.pk, "test-worker") == "succeeded"
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result["ok"] is True and job.result["checked"] >= count
    assert job.progress_total is not None and job.progress_done == job.progress_total
    verified = AuditEvent.objects.filter(code=AuditCode.AUDIT_VERIFIED).order_by("-id").first()
    assert verified.actor_id == org.auditor.pk and verified.detail["job"] == str(job.pk)


def test_the_background_job_reports_the_broken_row(org: Org) -> None:
    victim = _middle(org)
    _lift_update_guard()
    AuditEvent.objects.filter(pk=victim.pk).update(ip="203.0.113.9")
    job = do_start_audit_verify(org.auditor)
    jobs.execute(job.pk, "test-worker")
    job.refresh_from_db()
    assert job.result["ok"] is False and job.result["first_broken_id"] == victim.pk
    assert str(victim.pk) in job.message


# ------------------------------------------------------------------ the code table

def test_the_committed_code_table_matches_the_enum() -> None:
    """docs/audit-codes.md is generated from audit_codes.py: run scripts/gen_audit_codes.py after a change."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("gen_audit_codes", root / "scripts" / "gen_audit_codes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (root / "docs" / "audit-codes.md").read_text(encoding="utf-8")
    assert committed == module.render(), "docs/audit-codes.md is stale: run python scripts/gen_audit_codes.py"
    for code in AuditCode:
        assert f"| {int(code)} | `{code.name.lower()}` |" in committed
