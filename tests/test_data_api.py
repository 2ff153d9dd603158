"""The data API (issue 11 item 3; SHR-4 grants gate every row, SEC-3 masking, SEC-4 usage records):
``GET /api/v1/data/{entry}/rows`` gives a consumer only the items its grant covers, masked by the grant's rules,
for the grant's purpose, over the 接口 channel, until the grant is revoked — and every answer is in the access
log.  Owner (the consumer department's specialist), colleague (another user of that department), outsider
(another department, the auditor, the public)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.utils.http import urlencode

from govshare.core.actions import do_create_department
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_uscc
from govshare.core.models import AccessEvent, AuditEvent
from govshare.core.roles import Role
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import StoreColumn, combine
from govshare.sharing.actions import do_revoke_grant, do_subscribe_entry
from govshare.sharing.models import Grant
from tests.conftest import API, login

pytestmark = pytest.mark.django_db

PURPOSE = "行政依据"
PEOPLE = [  # in key order (the default order of the rows)
    ["360783196610100033", "赵六", dt.date(1966, 10, 10)],
    ["360783197702280022", "王五", dt.date(1977, 2, 28)],
    ["36078319850505432X", "欧阳娜娜", dt.date(1985, 5, 5)],
    ["360783199001011234", "张三", dt.date(1990, 1, 1)],
    ["360783200012310011", "李小龙", None],
]


def _load(entry: Any, rows: list[list[Any]]) -> None:
    items = list(entry.current_version.items.order_by("position", "pk"))
    with open_store() as store:
        table = table_for(entry)
        store.ensure_table(table, [StoreColumn(i.name, i.data_type, i.length) for i in items],
                           [i.name for i in items if i.is_primary_key])
        store.apply(table, rows, run_id="load", batch=store.last_batch(table, "load") + 1, position={},
                    rows_read=len(rows), read_hash=combine(()))


@pytest.fixture
def data(share: Any) -> Any:
    """The police's 户籍人口基本信息 in the centre (5 people); the market holds an unconditional grant for
    行政依据 over the api, with the catalog's masking (公民身份号码 保留前6位和后4位, 姓名 保留姓)."""
    entry = share.unconditional
    _load(entry, PEOPLE)
    share.grant = do_subscribe_entry(share.org.market_specialist, entry, purpose=PURPOSE, channel="api")
    share.entry = entry
    return share


def _rows(client: Client, entry: Any, **params: Any) -> Any:
    params.setdefault("purpose", PURPOSE)
    return client.get(f"{API}/data/{entry.code}/rows?{urlencode(params, doseq=True)}")


def test_the_consumer_gets_the_granted_items_masked_by_the_grants_rules(data: Any) -> None:
    answer = _rows(login(Client(), data.org.market_specialist), data.entry)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["basis"] == "grant" and body["grant"] == data.grant.number
    assert [f["name"] for f in body["fields"]] == ["公民身份号码", "姓名", "出生日期"]
    assert {f["name"]: f["masked"] for f in body["fields"]} == {
        "公民身份号码": "keep:first=6,last=4", "姓名": "surname", "出生日期": None}
    assert body["rows"][3] == {"公民身份号码": "360783********1234", "姓名": "张*", "出生日期": "1990-01-01"}
    assert body["rows"][2]["公民身份号码"] == "360783********432X" and body["rows"][2]["姓名"] == "欧阳**"
    assert (body["count"], body["count_kind"], body["next"]) == (5, "exact", None)
    assert "360783199001011234" not in answer.content.decode() and "张三" not in answer.content.decode()


def test_a_colleague_of_the_same_department_uses_the_departments_grant(data: Any) -> None:
    answer = _rows(login(Client(), data.org.market_admin), data.entry, fields="姓名")
    assert answer.status_code == 200
    assert [r["姓名"] for r in answer.json()["rows"]] == ["赵*", "王*", "欧阳**", "张*", "李**"]


def test_the_provider_reads_its_own_data_unmasked(data: Any) -> None:
    body = _rows(login(Client(), data.org.police_specialist), data.entry).json()
    assert body["basis"] == "own_data" and body["grant"] is None
    assert body["rows"][3]["公民身份号码"] == "360783199001011234" and body["rows"][3]["姓名"] == "张三"


def test_an_outsider_department_the_auditor_and_the_public_receive_nothing(data: Any) -> None:
    tax = do_create_department(data.org.centre_admin, name="龙南市税务局", short_name="税务局",
                               uscc=make_uscc("360783", 9), code="SW", jurisdiction=data.org.county)
    outsider = data.org.user("tax_specialist", tax, Role.DATA_SPECIALIST)
    for user, reason in ((outsider, "no_grant"), (data.org.auditor, "auditor")):
        answer = _rows(login(Client(), user), data.entry)
        assert answer.status_code == 403, (user, answer.content)
        assert answer.json()["error"]["code"] == "access_denied"
        assert AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED, actor_id=user.pk,
                                         detail__reasons=[reason]).exists()
        assert "张" not in answer.content.decode()
    # the public does not even see an entry that is not open: the same 404 as a missing one
    assert _rows(login(Client(), data.org.citizen), data.entry).status_code == 404
    assert Client().get(f"{API}/data/{data.entry.code}/rows?purpose={PURPOSE}").status_code == 401


def test_a_revoked_grant_stops_delivery_at_once_and_says_why(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    assert _rows(client, data.entry).status_code == 200
    do_revoke_grant(data.org.police_admin, data.grant, reason="停止共享")
    answer = _rows(client, data.entry)
    assert answer.status_code == 403
    assert data.grant.number in answer.json()["error"]["message_en"] and "revoked" in answer.json()["error"]["message_en"]


def test_another_purpose_another_channel_or_an_item_outside_the_grant_is_refused(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    assert "purpose" in _rows(client, data.entry, purpose="统计分析").json()["error"]["message_en"]
    Grant.objects.filter(pk=data.grant.pk).update(channel="table", items=["公民身份号码", "姓名"])
    refused = _rows(client, data.entry).json()["error"]
    assert refused["code"] == "access_denied" and "through" in refused["message_en"]
    Grant.objects.filter(pk=data.grant.pk).update(channel="api")
    assert _rows(client, data.entry, fields="姓名").status_code == 200
    outside = _rows(client, data.entry, fields="姓名,出生日期")
    assert outside.status_code == 403 and "出生日期" in outside.json()["error"]["message_en"]
    # without fields: the grant's items, not the entry's
    assert [f["name"] for f in _rows(client, data.entry).json()["fields"]] == ["公民身份号码", "姓名"]


def test_filters_sort_and_keyset_pages(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    first = _rows(client, data.entry, fields="姓名,出生日期", sort="-出生日期", limit=2)
    assert first.status_code == 200, first.content
    body = first.json()
    assert [r["出生日期"] for r in body["rows"]] == ["1990-01-01", "1985-05-05"] and body["count"] == 5
    following = client.get(body["next"])
    assert [r["出生日期"] for r in following.json()["rows"]] == ["1977-02-28", "1966-10-10"]
    last = client.get(following.json()["next"]).json()
    assert [r["出生日期"] for r in last["rows"]] == [None] and last["next"] is None  # NULLs last
    found = _rows(client, data.entry, fields="姓名", 出生日期__gte="1980-01-01", 出生日期__lt="1990-01-01").json()
    assert "rows" in found, found
    assert [r["姓名"] for r in found["rows"]] == ["欧阳**"] and found["count"] == 1
    nulls = _rows(client, data.entry, fields="姓名", 出生日期__null="true").json()
    assert [r["姓名"] for r in nulls["rows"]] == ["李**"]


def test_masked_items_cannot_be_filtered_or_sorted_on(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    probe = _rows(client, data.entry, 公民身份号码="360783199001011234")
    assert probe.status_code == 400 and probe.json()["error"]["code"] == "masked_item"
    assert _rows(client, data.entry, sort="姓名").json()["error"]["code"] == "masked_item"


@pytest.mark.parametrize(("params", "code"), [
    ({"出生日期__gte": "1990-02-30"}, "bad_value"), ({"出生日期__like": "1990"}, "bad_operator"),
    ({"籍贯": "龙南"}, "unknown_field"), ({"出生日期__prefix": "1990"}, "bad_operator"),
    ({"sort": "籍贯"}, "unknown_field"), ({"cursor": "not-a-cursor"}, "bad_cursor"),
    ({"出生日期__null": "yes"}, "bad_value"), ({"sort": "-"}, "bad_sort")])  # (the last two: QA, 21st session)
def test_bad_queries_get_a_clear_error_naming_the_place(data: Any, params: dict[str, str], code: str) -> None:
    answer = _rows(login(Client(), data.org.market_specialist), data.entry, **params)
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["message_zh"] and answer.json()["error"]["message_en"]


def test_a_cursor_changed_by_hand_or_used_with_other_filters_is_refused(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    cursor = _rows(client, data.entry, fields="出生日期", limit=1).json()["cursor"]
    assert _rows(client, data.entry, fields="出生日期", limit=1, cursor=cursor).status_code == 200
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert _rows(client, data.entry, fields="出生日期", limit=1, cursor=tampered).json()["error"]["code"] == "bad_cursor"
    other = _rows(client, data.entry, fields="出生日期", limit=1, cursor=cursor, 出生日期__null="false")
    assert other.json()["error"]["code"] == "bad_cursor"


def test_csv_and_xlsx_pages_are_masked_and_link_the_next_page(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    answer = _rows(client, data.entry, format="csv", limit=3)
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    text = b"".join(answer.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert lines[0] == ["公民身份号码", "姓名", "出生日期"] and lines[1][:2] == ["360783********0033", "赵*"]
    assert len(lines) == 4 and 'rel="next"' in answer["Link"]
    xlsx = _rows(client, data.entry, format="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)), read_only=True)
    values = [list(row) for row in book.active.iter_rows(values_only=True)]
    assert values[1][:2] == ["360783********0033", "赵*"] and len(values) == 6


def test_every_answer_is_in_the_access_log_with_grant_purpose_filters_and_row_count(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    _rows(client, data.entry, fields="姓名", 出生日期__gte="1980-01-01")
    row = AccessEvent.objects.filter(code=AuditCode.DATA_ROWS_READ).latest("id")
    assert row.actor_id == data.org.market_specialist.pk and row.results == 2
    assert row.object_id == str(data.entry.pk) and row.detail["grant"] == data.grant.number
    assert row.detail["query"]["purpose"] == PURPOSE
    assert row.detail["query"]["filters"] == [["出生日期", "gte", ["1980-01-01"]]]


def test_an_entry_without_data_in_the_centre_says_so(share: Any) -> None:
    do_subscribe_entry(share.org.market_specialist, share.unconditional, purpose=PURPOSE, channel="api")
    answer = _rows(login(Client(), share.org.market_specialist), share.unconditional)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_data"


def test_a_grant_whose_masking_rule_cannot_be_applied_delivers_nothing(data: Any) -> None:
    Grant.objects.filter(pk=data.grant.pk).update(masking={"姓名": "随便处理一下"})
    answer = _rows(login(Client(), data.org.market_specialist), data.entry)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "masking_rule_unusable"
    assert "姓名" in answer.json()["error"]["message_en"]


def test_a_page_costs_a_fixed_number_of_queries(data: Any, django_assert_max_num_queries: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    _rows(client, data.entry)
    _load(data.entry, [[f"3607831990010{i:05d}", f"人{i}", None] for i in range(40)])
    with django_assert_max_num_queries(12):
        assert len(_rows(client, data.entry, limit=30).json()["rows"]) == 30


# ------------------------------------------------------------------ consuming systems with their own keys

@pytest.fixture
def system_grant(share: Any) -> Any:
    return with_system_grant(share)


def with_system_grant(share: Any) -> Any:
    """The market's registration system holds a conditional grant on the police's 违法犯罪人员信息 (公民身份号码 +
    姓名, 行政依据, api) limited to that system; the centre holds 3 rows of the entry."""
    from govshare.sharing.actions import do_answer, do_first_review

    app = do_first_review(share.org.reviewer, share.apply(), decision="pass")
    do_answer(share.org.police_admin, app, decision="approve")
    share.grant = Grant.objects.get(application=app)
    share.entry = share.conditional
    _load(share.entry, [row[:2] + [dt.date(2020, 1, 1)] for row in PEOPLE[:3]])
    return share


def _issue(client: Client, system: Any, name: str = "登记系统接口") -> Any:
    return client.post(f"{API}/sharing/systems/{system.pk}/keys", {"name": name, "days": 30},
                       content_type="application/json")


def _bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_system_reads_through_its_own_grant_with_its_key_and_the_log_names_the_system(system_grant: Any) -> None:
    issued = _issue(login(Client(), system_grant.org.market_admin), system_grant.market_system)
    assert issued.status_code == 201, issued.content
    secret = issued.json()["secret"]
    assert secret.startswith("gsk_") and issued.json()["usable"] is True
    answer = _rows(_bearer(secret), system_grant.entry)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["grant"] == system_grant.grant.number and [f["name"] for f in body["fields"]] == ["公民身份号码", "姓名"]
    assert body["rows"][0] == {"公民身份号码": "360783********0033", "姓名": "赵*"}
    row = AccessEvent.objects.filter(code=AuditCode.DATA_ROWS_READ).latest("id")
    assert row.actor_id is None and row.actor_username == "system:SJ-DJ"
    assert row.department_id == system_grant.org.market.pk and row.detail["system"] == "SJ-DJ"
    listed = login(Client(), system_grant.org.market_admin).get(
        f"{API}/sharing/systems/{system_grant.market_system.pk}/keys").json()
    assert listed[0]["last_used_at"] is not None and "secret" not in listed[0]
    assert secret not in str(AuditEvent.objects.filter(code=AuditCode.SYSTEM_KEY_ISSUED).get().detail)


def test_a_grant_limited_to_a_system_refuses_the_departments_users(system_grant: Any) -> None:
    answer = _rows(login(Client(), system_grant.org.market_specialist), system_grant.entry)
    assert answer.status_code == 403 and "SJ" not in answer.json()["error"]["code"]
    reasons = AuditEvent.objects.filter(code=AuditCode.ACCESS_DENIED).values_list("detail__reasons", flat=True)
    assert list(reasons) == [["wrong_system"]], (list(reasons), answer.json())


def test_a_revoked_key_a_wrong_key_and_a_deactivated_system_are_refused_and_audited(system_grant: Any) -> None:
    from govshare.sharing.actions import do_set_system_active

    admin = login(Client(), system_grant.org.market_admin)
    issued = _issue(admin, system_grant.market_system).json()
    forged = issued["secret"][:-4] + ("AAAA" if not issued["secret"].endswith("AAAA") else "BBBB")
    assert _rows(_bearer(forged), system_grant.entry).json()["error"]["code"] == "token_unknown"
    do_set_system_active(system_grant.org.market_admin, system_grant.market_system, False)
    assert _rows(_bearer(issued["secret"]), system_grant.entry).json()["error"]["code"] == "token_system_inactive"
    do_set_system_active(system_grant.org.market_admin, system_grant.market_system, True)
    assert _rows(_bearer(issued["secret"]), system_grant.entry).status_code == 200
    revoked = admin.post(f"{API}/sharing/systems/{system_grant.market_system.pk}/keys/{issued['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["usable"] is False
    refused = _rows(_bearer(issued["secret"]), system_grant.entry)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
    reasons = list(AuditEvent.objects.filter(code=AuditCode.SYSTEM_KEY_REJECTED).values_list("detail__reason",
                                                                                             flat=True))
    assert sorted(reasons) == ["revoked", "system_inactive", "unknown"]


def test_only_the_systems_department_administrator_issues_and_revokes_its_keys(system_grant: Any) -> None:
    system = system_grant.market_system
    # a colleague without the administrator's role, an administrator of another department
    assert _issue(login(Client(), system_grant.org.market_specialist), system).status_code in (403, 404)
    assert _issue(login(Client(), system_grant.org.police_admin), system).status_code == 404
    assert _issue(login(Client(), system_grant.org.market_admin), system).status_code == 201
    assert _issue(login(Client(), system_grant.org.market_admin), system).json()["error"]["code"] == \
        "duplicate_key_name"
    key_id = system.keys.get().pk
    police = login(Client(), system_grant.org.police_admin)
    assert police.post(f"{API}/sharing/systems/{system.pk}/keys/{key_id}/revoke").status_code == 404
    assert police.get(f"{API}/sharing/systems/{system.pk}/keys").status_code == 404


def test_the_systems_page_shows_a_new_key_once_and_revokes_it(system_grant: Any) -> None:
    admin = login(Client(), system_grant.org.market_admin)
    system = system_grant.market_system
    page = admin.post(f"/sharing/systems/{system.pk}/keys/", {"name": "接口调用", "days": "90"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    key = system.keys.get()
    assert f"gsk_{key.prefix}_" in html and "data-secret" in html
    again = admin.get("/sharing/systems/").content.decode()
    assert "data-secret" not in again and f"gsk_{key.prefix}_…" in again
    admin.post(f"/sharing/systems/{system.pk}/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_an_in_filter_with_too_many_values_is_refused_naming_the_item(data: Any) -> None:
    answer = _rows(login(Client(), data.org.market_specialist), data.entry,
                   出生日期__in=",".join(f"2000-01-{d:02d}" for d in range(1, 29)) * 40)
    assert answer.status_code == 400 and answer.json()["error"]["code"] in ("too_many_values", "bad_value")
    many = ",".join((dt.date(1900, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(1001))
    refused = _rows(login(Client(), data.org.market_specialist), data.entry, 出生日期__in=many).json()["error"]
    assert refused["code"] == "too_many_values" and "出生日期" in refused["message_zh"]


def test_the_grant_page_shows_the_consumer_how_to_call_the_data_api(data: Any) -> None:
    page = login(Client(), data.org.market_specialist).get(f"/sharing/grants/{data.grant.pk}/").content.decode()
    assert 'data-panel="data-api"' in page and f"/api/v1/data/{data.entry.code}/rows?purpose=" in page
    assert "5" in page.split('data-panel="data-api"')[1].split("</p>")[0]  # the rows the centre holds
    provider = login(Client(), data.org.police_specialist).get(f"/sharing/grants/{data.grant.pk}/").content.decode()
    assert 'data-panel="data-api"' in provider
    do_revoke_grant(data.org.police_admin, data.grant, reason="停止共享")
    gone = login(Client(), data.org.market_specialist).get(f"/sharing/grants/{data.grant.pk}/").content.decode()
    assert 'data-panel="data-api"' not in gone


# ------------------------------------------------------------------ online verification (联机核验, SHR-9)

def _verify(client: Client, entry: Any, key: dict[str, str], claims: dict[str, str], purpose: str = PURPOSE) -> Any:
    return client.post(f"{API}/verify/{entry.code}", {"purpose": purpose, "key": key, "claims": claims},
                       content_type="application/json")


def test_verification_answers_match_or_mismatch_per_item_never_the_value(data: Any) -> None:
    client = login(Client(), data.org.market_specialist)
    answer = _verify(client, data.entry, {"公民身份号码": "36078319850505432x"},  # a lower-case check character
                     {"姓名": " 欧阳娜娜 ", "出生日期": "1985-05-06"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["found"] is True and body["grant"] == data.grant.number
    assert {k: v["result"] for k, v in body["fields"].items()} == {"姓名": "match", "出生日期": "mismatch"}
    assert "1985-05-05" not in answer.content.decode()
    full_width = _verify(client, data.entry, {"公民身份号码": "３６０７８３１９９００１０１１２３４"}, {"姓名": "张三"})
    assert full_width.json()["fields"]["姓名"]["result"] == "match"
    nobody = _verify(client, data.entry, {"公民身份号码": "360783199001019999"}, {"姓名": "张三"}).json()
    assert nobody["found"] is False and nobody["fields"] == {}
    invalid = _verify(client, data.entry, {"公民身份号码": "360783199001011234"}, {"出生日期": "1990-02-30"}).json()
    assert invalid["fields"]["出生日期"]["result"] == "invalid"
    row = AccessEvent.objects.filter(code=AuditCode.DATA_VERIFIED).order_by("id").first()
    assert row is not None and row.detail["verdicts"] == {"姓名": "match", "出生日期": "mismatch"}
    assert "36078319850505432" not in str(row.detail) and len(row.detail["key_digest"]) == 64


def test_verification_goes_through_the_grant_like_every_channel(data: Any) -> None:
    tax = do_create_department(data.org.centre_admin, name="龙南市税务局", short_name="税务局",
                               uscc=make_uscc("360783", 9), code="SW", jurisdiction=data.org.county)
    outsider = data.org.user("tax_specialist", tax, Role.DATA_SPECIALIST)
    refused = _verify(login(Client(), outsider), data.entry, {"公民身份号码": "360783199001011234"}, {"姓名": "张三"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "access_denied"
    client = login(Client(), data.org.market_specialist)
    assert _verify(client, data.entry, {"公民身份号码": "360783199001011234"}, {"姓名": "张三"},
                   purpose="统计分析").status_code == 403
    do_revoke_grant(data.org.police_admin, data.grant, reason="停止共享")
    assert _verify(client, data.entry, {"公民身份号码": "360783199001011234"}, {"姓名": "张三"}).status_code == 403


@pytest.mark.parametrize(("key", "claims", "code"), [
    ({"姓名": "张三"}, {"出生日期": "1990-01-01"}, "key_required"),
    ({"公民身份号码": "360783199001011234"}, {}, "no_claims"),
    ({"公民身份号码": "360783199001011234"}, {"籍贯": "龙南"}, "access_denied")])
def test_a_verification_without_the_key_or_claims_or_with_an_unknown_item_is_refused(
        data: Any, key: dict[str, str], claims: dict[str, str], code: str) -> None:
    answer = _verify(login(Client(), data.org.market_specialist), data.entry, key, claims)
    assert answer.status_code in (400, 403) and answer.json()["error"]["code"] == code


def test_verification_is_rate_limited_per_caller_with_retry_after(data: Any, settings: Any) -> None:
    settings.GOVSHARE_VERIFY_PER_MINUTE = 3
    client = login(Client(), data.org.market_specialist)
    codes = [_verify(client, data.entry, {"公民身份号码": "360783199001011234"}, {"姓名": "张三"}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = _verify(client, data.entry, {"公民身份号码": "360783199001011234"}, {"姓名": "张三"})
    assert limited.json()["error"]["code"] == "rate_limited" and 1 <= int(limited["Retry-After"]) <= 60
    # another caller has its own window
    assert _verify(login(Client(), data.org.market_admin), data.entry, {"公民身份号码": "360783199001011234"},
                   {"姓名": "张三"}).status_code == 200


def test_a_call_window_starts_again_after_a_minute() -> None:
    from govshare.datastore.actions import take_call

    start = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
    assert [take_call("user:1", "verify", 2, now=start + dt.timedelta(seconds=s)) for s in (0, 10, 20)] == [0, 0, 40]
    assert take_call("user:1", "verify", 2, now=start + dt.timedelta(seconds=61)) == 0
    assert take_call("user:2", "verify", 2, now=start + dt.timedelta(seconds=20)) == 0


def test_a_system_verifies_with_its_key_and_its_own_window(system_grant: Any, settings: Any) -> None:
    settings.GOVSHARE_VERIFY_PER_MINUTE = 1
    secret = _issue(login(Client(), system_grant.org.market_admin), system_grant.market_system).json()["secret"]
    system = _bearer(secret)
    first = _verify(system, system_grant.entry, {"公民身份号码": PEOPLE[0][0]}, {"姓名": "赵六"})
    assert first.status_code == 200 and first.json()["fields"]["姓名"]["result"] == "match"
    assert _verify(system, system_grant.entry, {"公民身份号码": PEOPLE[0][0]}, {"姓名": "赵六"}).status_code == 429
    row = AccessEvent.objects.filter(code=AuditCode.DATA_VERIFIED).get()
    assert row.actor_username == "system:SJ-DJ" and row.detail["grant"] == system_grant.grant.number


# ------------------------------------------------------------------ usage records per grant (SEC-4, LN-§23)

def test_usage_records_of_a_grant_for_its_provider_and_its_consumer(data: Any) -> None:
    consumer = login(Client(), data.org.market_specialist)
    _rows(consumer, data.entry, fields="姓名", 出生日期__gte="1980-01-01")
    _rows(consumer, data.entry)
    _verify(consumer, data.entry, {"公民身份号码": PEOPLE[3][0]}, {"姓名": "张三"})
    _rows(consumer, data.entry, purpose="统计分析")  # refused: not a use
    for user in (data.org.market_admin, data.org.police_specialist):  # the consumer's colleague, the provider
        usage = login(Client(), user).get(f"{API}/data/grants/{data.grant.pk}/usage")
        assert usage.status_code == 200, usage.content
        body = usage.json()
        assert body["totals"]["rows"] == {"calls": 2, "rows": 7} and body["totals"]["verify"]["calls"] == 1
        assert [item["kind"] for item in body["items"]] == ["verify", "rows", "rows"]
        assert body["items"][2]["detail"]["query"]["filters"] == [["出生日期", "gte", ["1980-01-01"]]]
        page = login(Client(), user).get(f"/sharing/grants/{data.grant.pk}/").content.decode()
        assert 'data-panel="usage"' in page and page.count("data-usage=") == 3
    tax = do_create_department(data.org.centre_admin, name="龙南市税务局", short_name="税务局",
                               uscc=make_uscc("360783", 9), code="SW", jurisdiction=data.org.county)
    outsider = data.org.user("tax_specialist", tax, Role.DATA_SPECIALIST)
    assert login(Client(), outsider).get(f"{API}/data/grants/{data.grant.pk}/usage").status_code == 404


#: session, user, the grant, the totals, the records, the access log's chain head and row
USAGE_QUERIES = 7


def test_the_usage_records_cost_a_fixed_number_of_queries(data: Any, django_assert_max_num_queries: Any) -> None:
    consumer = login(Client(), data.org.market_specialist)
    _rows(consumer, data.entry)
    consumer.get(f"{API}/data/grants/{data.grant.pk}/usage")
    with django_assert_max_num_queries(USAGE_QUERIES):
        consumer.get(f"{API}/data/grants/{data.grant.pk}/usage")
    for _ in range(5):
        _rows(consumer, data.entry, limit=1)
    with django_assert_max_num_queries(USAGE_QUERIES):  # the same for six records as for one
        assert len(consumer.get(f"{API}/data/grants/{data.grant.pk}/usage").json()["items"]) == 6


def test_a_page_cursor_does_not_reveal_the_masked_key_it_holds(data: Any) -> None:
    """The cursor holds the last row's key (an ID number the grant masks): it is sealed, not only signed."""
    import base64
    import zlib

    body = _rows(login(Client(), data.org.market_specialist), data.entry, limit=1).json()
    cursor = body["cursor"]
    assert body["rows"][0]["公民身份号码"] == "360783********0033"
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for blob in (cursor.encode(), decoded):
        assert b"360783196610100033" not in blob and b"19661010" not in blob
        with pytest.raises(zlib.error):
            zlib.decompress(blob)
    assert "196610100033" not in body["next"]



# ------------------------------------------------------------------ review findings

def test_a_cell_its_mask_cannot_handle_leaves_as_nothing_not_as_it_is(data: Any) -> None:
    """Review M1: a date rule on a text that is not a date gave a 500 (and a stuck download)."""
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "保留前6位和后4位", "姓名": "日期保留到月"})
    body = _rows(login(Client(), data.org.market_specialist), data.entry).json()
    assert [row["姓名"] for row in body["rows"]] == [None] * 5


def test_a_grant_rule_that_does_not_fit_the_item_or_hides_nothing_on_a_sensitive_item_is_refused(share: Any) -> None:
    from govshare.core.errors import ValidationFailed
    from govshare.sharing.actions.grants import check_masking

    version = share.conditional.current_version
    for masking in ({"出生日期": "取整"}, {"公民身份号码": "不脱敏"}, {"姓名": "取整"}):
        with pytest.raises(ValidationFailed):
            check_masking(masking, ["公民身份号码", "姓名", "出生日期"], version)
    assert check_masking({"姓名": "仅显示姓"}, ["姓名"], version) == {"姓名": "仅显示姓"}


def test_the_catalogs_rule_masks_a_sensitive_item_the_grant_leaves_unmasked(data: Any) -> None:
    """Review M3: a grant made before an item became sensitive (or with a rule hiding nothing) kept delivering
    it in clear."""
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "不脱敏"})
    body = _rows(login(Client(), data.org.market_specialist), data.entry).json()
    assert body["rows"][0]["公民身份号码"] == "360783********0033" and body["rows"][0]["姓名"] == "赵*"
    masked = _rows(login(Client(), data.org.market_specialist), data.entry, 公民身份号码="360783196610100033")
    assert masked.json()["error"]["code"] == "masked_item"


def test_items_delivered_as_nothing_or_as_pseudonyms_cannot_be_verified(data: Any) -> None:
    """Review M4: verification is an oracle; on an item the grant never reveals it would reveal it."""
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "保留前6位和后4位", "姓名": "不提供明文",
                                                            "出生日期": "假名化"})
    client = login(Client(), data.org.market_specialist)
    for claims in ({"姓名": "张三"}, {"出生日期": "1990-01-01"}):
        refused = _verify(client, data.entry, {"公民身份号码": PEOPLE[3][0]}, claims)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_verifiable"


def test_only_the_systems_own_department_administrator_issues_keys_the_centre_may_revoke(system_grant: Any) -> None:
    """Review H5: the centre administrator issued a key to a department's system and read that department's data
    through it."""
    system = system_grant.market_system
    centre = login(Client(), system_grant.org.centre_admin)
    refused = _issue(centre, system)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_own_system"
    key = _issue(login(Client(), system_grant.org.market_admin), system).json()
    revoked = centre.post(f"{API}/sharing/systems/{system.pk}/keys/{key['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["usable"] is False


def test_a_key_delivered_as_nothing_cannot_be_guessed_through_verification(data: Any) -> None:
    """Review 2: a claim on the item was refused, but the same item as the key answered found: true/false."""
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "不提供明文", "姓名": "保留姓"})
    refused = _verify(login(Client(), data.org.market_specialist), data.entry, {"公民身份号码": PEOPLE[3][0]},
                      {"姓名": "张三"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_verifiable"
    Grant.objects.filter(pk=data.grant.pk).update(masking={"公民身份号码": "保留前6位和后4位", "出生日期": "日期保留到年"})
    year = _verify(login(Client(), data.org.market_specialist), data.entry, {"公民身份号码": PEOPLE[3][0]},
                   {"出生日期": "1990-01-01"})
    assert year.json()["error"]["code"] == "not_verifiable"


@pytest.mark.parametrize(("letter", "value"), [("N", "1E999999999999999999"), ("N", "1E300000000"),
                                               ("N", "9" * 500), ("I", "9" * 500), ("I", "99999999999999999999")])
def test_a_huge_number_in_a_filter_is_refused_not_written_out(letter: str, value: str) -> None:
    """Review 2: 1E300000000 grew the process by 2.5 GiB; an int beyond 64 bits crashed the SQLite driver."""
    from govshare.datastore.engine.reader import QueryError, parse_value
    from govshare.datastore.engine.store import StoreColumn

    with pytest.raises(QueryError):
        parse_value(StoreColumn("金额", letter), value)
    assert parse_value(StoreColumn("金额", "N"), "99999999999999999999.5") == Decimal("99999999999999999999.5")


def test_a_lone_surrogate_in_a_key_or_a_filter_is_a_clear_error(data: Any) -> None:
    """Review 2: "\\ud800" in a verification key or a download filter gave a 500."""
    body = '{"purpose": "' + PURPOSE + '", "key": {"公民身份号码": "\\ud800"}, "claims": {"姓名": "张三"}}'
    answer = login(Client(), data.org.market_specialist).post(f"{API}/verify/{data.entry.code}", body,
                                                              content_type="application/json")
    assert answer.status_code in (400, 422), answer.content


def test_the_centre_sees_usage_records_without_the_filters_values(data: Any) -> None:
    """Review 2: the usage records gave the centre's staff the values consumers filtered on (ID numbers …)."""
    _rows(login(Client(), data.org.market_specialist), data.entry, fields="姓名", 出生日期="1990-01-01")
    centre = login(Client(), data.org.reviewer).get(f"{API}/data/grants/{data.grant.pk}/usage").json()
    assert centre["items"][0]["detail"]["query"]["filters"] == [["出生日期", "eq", ["…"]]]
    provider = login(Client(), data.org.police_specialist).get(f"{API}/data/grants/{data.grant.pk}/usage").json()
    assert provider["items"][0]["detail"]["query"]["filters"] == [["出生日期", "eq", ["1990-01-01"]]]


def test_the_data_api_keeps_one_centre_connection_per_thread_and_replaces_one_that_is_not_idle(
        settings: Any, tmp_path: Any) -> None:
    """No connection made per request (a PostgreSQL connect cost ~10 ms of each page), but never a store left in a
    transaction or with a table's shape another process may have changed since."""
    from govshare.datastore import centre

    with centre.reading_store() as first:
        first.ensure_table("e_x", [StoreColumn("编号", "C", 10)], ["编号"])
    with centre.reading_store() as again:
        assert again is first and "e_x" not in again._shapes  # what it knew of the tables: forgotten
        again._conn.execute("BEGIN")  # left in a transaction (a failed request)
    with centre.reading_store() as third:
        assert third is not first
    settings.GOVSHARE_DATASTORE_URL = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    with centre.reading_store() as other:
        assert other is not third and other.url.endswith("other.sqlite3")


def test_a_table_made_again_between_its_shape_and_its_rows_is_read_again_never_by_the_old_positions(
        data: Any, monkeypatch: Any) -> None:
    """SEC-3 with EXC-1 (19th session's note): the data API reads the centre table's shape, then its rows by the
    positions of the items.  A rebuild landing in between (the new version put 姓名 where 公民身份号码 was) would give
    an item another item's values, masked by another rule; the request notices the table changed and reads it
    again; a table made again at every try is "ask again" (409), never a wrong answer."""
    from govshare.datastore import api as data_api

    real = data_api.reader.read_rows
    rebuilds = [1]

    def rebuilt_first(store: Any, query: Any) -> Any:
        if rebuilds[0]:
            rebuilds[0] -= 1
            with open_store() as other:
                table = table_for(data.entry)
                swapped = [StoreColumn("姓名", "C", 50), StoreColumn("公民身份号码", "C", 18), StoreColumn("出生日期", "D")]
                other.rebuild_table(table, swapped, ["公民身份号码"])
                other.apply(table, [[name, pid, born] for pid, name, born in PEOPLE], run_id="again", batch=1,
                            position={}, rows_read=5, read_hash=combine(()))
        return real(store, query)

    monkeypatch.setattr(data_api.reader, "read_rows", rebuilt_first)
    client = login(Client(), data.org.market_specialist)
    body = _rows(client, data.entry).json()
    assert body["rows"][3] == {"公民身份号码": "360783********1234", "姓名": "张*", "出生日期": "1990-01-01"}
    rebuilds[0] = 2
    answer = _rows(client, data.entry)
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "centre_rebuilding"
    assert "张三" not in answer.content.decode()


def test_a_table_made_again_without_an_item_during_the_read_answers_as_the_new_table_does(
        data: Any, monkeypatch: Any) -> None:
    """Review 6 of the 20th session: a rebuild that dropped an item made the read itself fail ("centre unavailable");
    the request now reads the new table, which holds no such item (404 no_data_for_items), never a server error."""
    from govshare.datastore import api as data_api
    from govshare.datastore.engine.store import StoreError

    real = data_api.reader.read_rows
    rebuilds = [1]

    def rebuilt_during(store: Any, query: Any) -> Any:
        if rebuilds[0]:
            rebuilds[0] -= 1
            with open_store() as other:
                other.rebuild_table(table_for(data.entry), [StoreColumn("公民身份号码", "C", 18),
                                                            StoreColumn("姓名", "C", 50)], ["公民身份号码"])
            raise StoreError("other", 'column "c3" does not exist')
        return real(store, query)

    monkeypatch.setattr(data_api.reader, "read_rows", rebuilt_during)
    answer = _rows(login(Client(), data.org.market_specialist), data.entry)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_data_for_items"


def test_a_systems_verification_with_bad_input_is_told_what_is_wrong_not_refused_a_right(system_grant: Any) -> None:
    """The permission gate weighed a system's request as an anonymous person's: a verification naming no item
    answered 403 "no right (apply_share)" and audited a denial without anyone (QA walk-through, 21st session)."""
    secret = _issue(login(Client(), system_grant.org.market_admin), system_grant.market_system).json()["secret"]
    denials = AuditEvent.objects.filter(code=AuditCode.PERMISSION_DENIED).count()
    answer = _verify(_bearer(secret), system_grant.entry, {"公民身份号码": "360783199001011234"}, {})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "no_claims"
    assert AuditEvent.objects.filter(code=AuditCode.PERMISSION_DENIED).count() == denials


def test_after_a_new_version_drops_an_item_a_default_call_gets_the_granted_items_it_still_has(data: Any) -> None:
    """The provider's entry drops 出生日期 in a new version (here: the item removed from the current version): every
    call naming no fields was refused ``unknown_items`` although 公民身份号码 and 姓名 are still granted (review of the
    21st session).  It now gets those two."""
    data.entry.current_version.items.filter(name="出生日期").delete()
    client = login(Client(), data.org.market_specialist)
    answer = _rows(client, data.entry)
    assert answer.status_code == 200, answer.json()
    assert set(answer.json()["rows"][0]) == {"公民身份号码", "姓名"}
    assert _rows(client, data.entry, fields="公民身份号码,出生日期").status_code == 403  # named: still refused
