"""Tamper evidence beyond the chain itself (SEC-4): the chain is keyed, so rewriting rows and
recomputing plain SHA-256 hashes does not pass; and a head noted by an auditor reveals rows removed
from the end of the log."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection

from govshare.cli import main
from govshare.core import audit
from govshare.core.models import AuditEvent
from tests.conftest import Org


def _drop_update_guard() -> None:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_no_update")
        else:
            cur.execute("DROP TRIGGER core_auditevent_no_update")


def test_rewriting_a_row_and_recomputing_an_unkeyed_hash_is_detected(org: Org) -> None:
    last = AuditEvent.objects.order_by("-id").first()
    fields = {name: getattr(last, name) for name in audit.HASHED_FIELDS}
    fields["object_repr"] = "forged"
    payload = dict(fields)
    payload["occurred_at"] = last.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    forged_hash = hashlib.sha256((last.prev_hash + "\n" + json.dumps(payload, sort_keys=True)).encode()).hexdigest()
    _drop_update_guard()
    AuditEvent.objects.filter(pk=last.pk).update(object_repr="forged", row_hash=forged_hash)
    result = audit.verify()
    assert not result.ok and result.first_broken_id == last.pk


def test_audit_head_prints_the_newest_row_of_each_chain(org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "head"]) == 0
    heads = dict(part.split("=") for part in capsys.readouterr().out.split())
    row_id, row_hash = heads["audit"].split(":")
    newest = AuditEvent.objects.order_by("-id").first()
    # `audit head` itself records nothing, so the noted head is the newest row
    assert (int(row_id), row_hash) == (newest.pk, newest.row_hash)
    assert heads["access"] == "0:" + "0" * 64  # no read recorded yet


def test_verify_with_a_noted_head_detects_rows_removed_from_the_end(
        org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    head_id, head_hash = audit.head()
    assert main(["audit", "verify", "--expect-head", f"{head_id}:{head_hash}"]) == 0
    capsys.readouterr()
    # the newest rows vanish (the chain that remains is still internally consistent)
    AuditEvent.objects.filter(pk__gte=head_id - 2)._raw_delete(AuditEvent.objects.db)
    assert main(["audit", "verify"]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["audit", "verify", "--expect-head", f"{head_id}:{head_hash}"]) == 1
    assert str(head_id) in capsys.readouterr().err


def test_a_malformed_expected_head_is_named(org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    for noted in ("twelve", "audit=1:" + "g" * 64, "reads=1:" + "0" * 64, "audit=1:" + "0" * 64 + " audit=2:" + "0" * 64):
        assert main(["audit", "verify", "--expect-head", noted]) == 2, noted
        assert "--expect-head" in capsys.readouterr().err
