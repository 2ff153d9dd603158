"""A review of online verification (SHR-9) and consuming systems' keys (22nd session): each test was a defect, fixed."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from govshare.core.models import AccessEvent, AuditEvent
from govshare.sharing.actions.grants import check_masking
from govshare.sharing.models import Grant
from tests.conftest import login
from tests.test_data_api import PEOPLE, _issue, _verify, data, system_grant  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_item_masked_to_nothing_by_a_keep_rule_cannot_be_verified(data: Any) -> None:  # noqa: F811
    """MEDIUM.  "保留前0位和后0位" (keep:first=0,last=0) is a valid grant rule that delivers 姓名 as "**" — never
    any character of it — yet verification answers match/mismatch on it, i.e. the oracle review M4 closed for
    不提供明文 is open again under another spelling of the same rule (also as the key: found true/false)."""
    rule = "保留前0位和后0位"
    assert check_masking({"姓名": rule}, ["公民身份号码", "姓名", "出生日期"],
                         data.entry.current_version) == {"姓名": rule}  # an accepted rule
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "保留前6位和后4位", "姓名": rule})
    client = login(Client(), data.org.market_specialist)
    rows = client.get(f"/api/v1/data/{data.entry.code}/rows?purpose=行政依据&fields=姓名").json()["rows"]
    assert {row["姓名"] for row in rows} <= {"*" * n for n in range(1, 6)}  # nothing of the name is delivered
    answer = _verify(client, data.entry, {"公民身份号码": PEOPLE[3][0]}, {"姓名": "张三"})
    # expected: 400 not_verifiable; actual: 200 {"姓名": {"result": "match"}}
    assert answer.status_code == 400, answer.json()
    assert answer.json()["error"]["code"] == "not_verifiable"


def test_a_verification_refused_as_not_verifiable_is_audited(data: Any) -> None:  # noqa: F811
    """LOW-MEDIUM.  A claim on an item the grant seals (a guess at a value the caller may never learn) is refused
    with 400 not_verifiable but leaves no trace in the audit log or the access log — the spec wants refusals
    audited, and these are exactly the probing attempts an auditor needs to see."""
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "保留前6位和后4位", "姓名": "不提供明文"})
    client = login(Client(), data.org.market_specialist)
    before = (AuditEvent.objects.count(), AccessEvent.objects.count())
    refused = _verify(client, data.entry, {"公民身份号码": PEOPLE[3][0]}, {"姓名": "张三"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_verifiable"
    assert (AuditEvent.objects.count(), AccessEvent.objects.count()) != before
    from govshare.core.audit_codes import AuditCode

    denied = AuditEvent.objects.filter(code=int(AuditCode.ACCESS_DENIED)).order_by("-id").first()
    assert denied is not None and denied.detail["reasons"] == ["not_verifiable"] and denied.detail["verification"]
    assert "张三" not in str(denied.detail)  # the claim is not written down


def test_the_api_answer_carrying_a_new_system_key_is_not_stored_by_caches(system_grant: Any) -> None:  # noqa: F811
    """LOW.  The web page that shows a new key's secret sets Cache-Control: no-store (admin_views.system_key_issue);
    the API answer carrying the same secret (POST /api/v1/sharing/systems/{id}/keys) sets no Cache-Control."""
    issued = _issue(login(Client(), system_grant.org.market_admin), system_grant.market_system)
    assert issued.status_code == 201 and issued.json()["secret"].startswith("gsk_")
    assert "no-store" in (issued.get("Cache-Control") or "")  # actual: header absent
