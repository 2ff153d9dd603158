"""One language per screen (issue 8): password rules, rule periods, error places, policy profiles,
access reasons, conflict states, import reasons and user data speak the reader's language.

Before: Django's own password messages appeared in English inside the Chinese UI, periods read
"2 working days / 个工作日", errors read "entry: 请指明授权或目录。", the 龙南 profile page showed its
English description, a conflict raised while English was active kept the English state, and a damaged
workbook was "damaged: BadZipFile".
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext_lazy

from govshare.core.actions.auth import check_password_strength
from govshare.core.errors import Conflict, GovshareError, ValidationFailed, field_label
from govshare.core.models import User
from govshare.core.policy import DEADLINE_KEYS, LIST_KEYS, RETENTION_KEYS, available_profiles, get_profile
from tests.conftest import PASSWORD, login

LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def _weakness(password: str, user: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        check_password_strength(password, user, field="password")
    return caught.value


def test_every_password_rule_speaks_chinese_and_english(org: Any) -> None:
    user = User(username="zhangsanfeng", real_name="张三丰", email="zsf@longnan.example")
    for password in ["12345", "zhangsanfeng1", "password123"]:
        error = _weakness(password, user)
        chinese, english = error.render("zh-hans"), error.render("en")
        assert chinese.startswith("密码: ") and not LATIN_WORD.search(chinese), chinese
        assert "password" in english.lower() and not re.search(r"[\u4e00-\u9fff]", english), english


def test_the_rule_is_rendered_when_shown_not_when_it_failed(org: Any) -> None:
    with translation.override("en"):
        error = _weakness("12345", org.police_admin)  # fails while English is active …
    assert "至少需要 10 个字符" in error.render("zh-hans")  # … and still reads in Chinese
    assert "at least 10 characters" in error.render("en")


def test_the_password_page_shows_the_rules_in_chinese(org: Any) -> None:
    client = login(Client(), org.police_admin)
    response = client.post("/account/password/", {"old_password": PASSWORD, "new_password": "1234567",
                                                   "new_password_again": "1234567"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "密码太短" in html and "密码只包含数字" in html
    assert "too short" not in html and "entirely numeric" not in html


def test_a_period_reads_in_one_language(org: Any) -> None:
    period = get_profile("longnan").deadline("share_first_review")
    with translation.override("zh-hans"):
        assert str(period.describe()).startswith(f"{period.amount} 个工作日（")
    with translation.override("en"):
        assert str(period.describe()).startswith(f"{period.amount} working days (")
        assert f"{period.describe()}" == str(period.describe())
    assert "/" not in period.describe().render("zh-hans").replace(period.source, "")


# ------------------------------------------------------------------ an error's place (field)

CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCE = Path(__file__).resolve().parent.parent / "govshare"
#: a word with a small letter (all-capital tokens are codes: LN-§15, SEC-4, OPN-3)
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[a-z][A-Za-z'-]*")


def test_an_error_names_its_field_by_label_in_the_readers_language() -> None:
    error = ValidationFailed("required", gettext_lazy("Name the grant or the entry."), field="entry")
    assert error.render("zh-hans") == "目录: 请指明授权或目录。"
    assert error.render("en") == "catalog entry: Name the grant or the entry."
    body = error.as_dict()
    assert body["field"] == "entry"  # the API's key stays the machine name
    assert body["message_zh"] == "目录: 请指明授权或目录。"


def test_what_the_user_wrote_is_kept_as_the_place() -> None:
    assert field_label("--entry") == "--entry"  # a command-line option
    assert field_label("items[0].length") == "items[0].length"  # a path into the imported JSON
    assert field_label("资源名称") == "资源名称"  # a workbook's column header


def test_every_field_an_error_names_in_the_code_has_a_chinese_label() -> None:
    named = set()
    for path in SOURCE.rglob("*.py"):
        named |= set(re.findall(r"\bfield=\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert {"entry", "password", "username", "letter", "expires_on"} <= named  # the scan finds them
    with translation.override("zh-hans"):
        english = {name: field_label(name) for name in sorted(named) if not CJK.search(field_label(name))}
    assert english == {}


@pytest.mark.parametrize("page", ["/sharing/errors/new/", "/sharing/cases/new/"])
def test_a_page_opened_without_its_entry_says_so_in_chinese_only(org: Any, page: str) -> None:
    response = login(Client(), org.market_specialist).get(page)
    html = response.content.decode()
    assert response.status_code == 400
    assert "目录: 请指明" in html and "entry:" not in html


# ------------------------------------------------------------------ policy profiles


def _profile_texts(name: str, language: str) -> list[str]:
    profile = get_profile(name)
    with translation.override(language):
        return [str(profile.title), str(profile.description),
                *(str(p.note) for p in [*profile.deadlines.values(), *profile.retention.values()]),
                *(str(m) for m in [*DEADLINE_KEYS.values(), *RETENTION_KEYS.values(), *LIST_KEYS.values()])]


@pytest.mark.parametrize("name", [n for n in available_profiles() if not get_profile(n).is_placeholder])
def test_a_policy_profile_reads_in_one_language(name: str) -> None:
    chinese, english = _profile_texts(name, "zh-hans"), _profile_texts(name, "en")
    assert [t for t in chinese if WORD.search(t)] == []
    assert [t for t in english if CJK.search(t)] == []
    assert all(get_profile(name).description.render(lang) for lang in ("zh-hans", "en"))


def test_a_profile_text_is_one_string_or_both_languages() -> None:
    from govshare.core.policy import ProfileError, parse_profile

    with pytest.raises(ProfileError) as caught:
        parse_profile({"name": "x", "description": {"zh": "只有中文"}}, "x", require_complete=False)
    assert caught.value.where == "description.en"
    profile = parse_profile({"name": "x", "description": "同一段文字"}, "x", require_complete=False)
    assert profile.description.render("en") == profile.description.render("zh-hans") == "同一段文字"


def test_the_longnan_profile_page_speaks_the_readers_language(org: Any) -> None:
    client = login(Client(), org.centre_admin)
    chinese = client.get("/policies/longnan/").content.decode()
    assert "有条件共享申请由中心在 2 个工作日内初审" in chinese and "中心对有条件共享申请的初审" in chinese
    assert "conditional share requests" not in chinese and "first review" not in chinese
    client.cookies["django_language"] = "en"
    english = client.get("/policies/longnan/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Longnan: conditional share requests get the centre" in english
    assert "有条件共享申请由中心" not in english


# ------------------------------------------------------------------ access reasons, conflicts, imports


def test_an_access_reason_shows_in_the_readers_language_and_the_api_keeps_both(org: Any) -> None:
    from govshare.sharing.access import check_access

    decision = check_access(entry=987654, purpose="工作参考", user=org.market_specialist)
    [reason] = decision.reasons
    with translation.override("zh-hans"):
        assert CJK.search(reason.text) and not WORD.search(reason.text) and decision.explanation == reason.text
    with translation.override("en"):
        assert not CJK.search(reason.text) and "987654" in reason.text
    body = reason.as_dict()
    assert body["code"] == "no_such_entry" and CJK.search(body["message_zh"]) and not CJK.search(body["message_en"])


def test_a_conflict_names_the_state_in_the_language_it_is_read_in(share: Any) -> None:
    from govshare.sharing.actions import do_report_error, do_subscribe_entry, do_withdraw_error

    org = share.org
    do_subscribe_entry(org.market_specialist, share.unconditional, purpose="工作参考")
    report = do_report_error(org.market_specialist, entry=share.unconditional, record_keys="1", field="姓名",
                             description="姓名有错别字。")
    do_withdraw_error(org.market_specialist, report)
    with translation.override("en"), pytest.raises(Conflict) as caught:  # raised while English is active …
        do_withdraw_error(org.market_specialist, report)
    chinese, english = caught.value.render("zh-hans"), caught.value.render("en")
    assert not WORD.search(chinese), chinese  # … and read in Chinese: the state too
    assert not CJK.search(english), english


def test_a_damaged_workbook_gives_a_reason_not_an_exception_name() -> None:
    from govshare.catalog.excel.read import damage_reason

    try:
        zipfile.ZipFile(__import__("io").BytesIO(b"PK\x03\x04 not really a zip"))
    except zipfile.BadZipFile as exc:
        reason = damage_reason(exc)
    with translation.override("zh-hans"):
        assert "压缩包" in str(reason)
    with translation.override("en"):
        assert "ZIP container" in str(reason) and "BadZipFile" not in str(reason)


def test_the_unreadable_workbook_message_speaks_one_language() -> None:
    from govshare.catalog.excel.read import read_workbook

    data = b"PK\x03\x04" + b"\x00" * 200  # starts like a ZIP, is none
    with pytest.raises(GovshareError) as caught:
        read_workbook(data, "目录.xlsx")
    chinese = caught.value.render("zh-hans")
    assert "BadZipFile" not in chinese and not WORD.search(chinese.replace("xlsx", "")), chinese


# ------------------------------------------------------------------ user data in a Chinese screen


def test_synonym_terms_are_marked_as_user_data(org: Any) -> None:
    from govshare.catalog.actions.admin import do_set_synonym

    synonym = do_set_synonym(org.centre_admin, "gis", ["地理信息系统"])
    client = login(Client(), org.centre_admin)
    listing = client.get("/catalog/synonyms/").content.decode()
    assert '<td translate="no">gis</td>' in listing  # the browser test skips [translate=no]
    form = client.get(f"/catalog/synonyms/{synonym.pk}/edit/").content.decode()
    assert '<span translate="no">gis</span>' in form


# ------------------------------------------------------------------ API errors raised by ninja itself

@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "请求缺少有效的 CSRF 令牌"),
                                                    ("en", "CSRF check failed")])
def test_a_session_write_without_a_csrf_token_is_a_csrf_failure_in_the_readers_language(
        share: Any, language: str, expected: str) -> None:
    from govshare.sharing.models import Grant

    client = login(Client(enforce_csrf_checks=True), share.org.market_specialist)
    client.cookies["django_language"] = language
    response = client.post("/api/v1/sharing/subscribe", {"entry_id": share.unconditional.pk, "purpose": "工作参考"},
                           content_type="application/json")
    error = response.json()["error"]
    assert response.status_code == 403 and error["code"] == "csrf_failed"
    assert error["message"].startswith(expected)
    assert error["message_zh"].startswith("请求缺少有效的 CSRF 令牌")
    assert not LATIN_WORD.search(_without_names(error["message_zh"]))
    assert error["message_en"].startswith("CSRF check failed")
    assert not Grant.objects.exists()


def _without_names(text: str) -> str:
    """Chinese text without the technical names it may quote (header, cookie, protocol)."""
    for name in ("X-CSRFToken", "csrftoken", "CSRF", "HTTP", "JSON", "API"):
        text = text.replace(name, "")
    return text


def test_any_other_error_from_the_api_framework_keeps_english_out_of_the_chinese_message(db: Any) -> None:
    from django.test import RequestFactory
    from ninja.errors import HttpError

    from govshare.api import _http_error

    request = RequestFactory().post("/api/v1/sharing/subscribe")
    for exc, code in ((HttpError(405, "Method not allowed"), "http_error"),
                      (HttpError(400, "Cannot parse request body: bad"), "invalid_json")):
        error = json.loads(_http_error(request, exc).content)["error"]
        assert error["code"] == code and error["message_zh"] and error["message_en"]
        assert not LATIN_WORD.search(_without_names(error["message_zh"])), error["message_zh"]


# ------------------------------------------------------------------ job titles

def _reader(user: Any, language: str) -> Client:
    client = login(Client(), user)
    client.cookies["django_language"] = language
    return client


def test_a_job_title_keeps_its_meaning_and_reads_in_the_readers_language(org: Any, capsys: Any) -> None:
    from govshare.commands.jobs import run_list
    from govshare.core.actions.audit import do_start_audit_verify

    job = do_start_audit_verify(org.auditor)
    assert job.title_message == {"msgid": "Verify the audit chain", "params": {}} and job.title == "校验审计哈希链"
    for language, title, other in (("zh-hans", "校验审计哈希链", "Verify the audit chain"),
                                   ("en", "Verify the audit chain", "校验审计哈希链")):
        client = _reader(org.auditor, language)
        for page in ("/jobs/", f"/jobs/{job.pk}/"):
            html = client.get(page).content.decode()
            assert title in html and other not in html, (language, page)
        assert client.get(f"/api/v1/jobs/{job.pk}").json()["title"] == title
        with translation.override(language):
            run_list(type("Args", (), {"status": ""})())
        listed = capsys.readouterr().out
        assert title in listed and other not in listed


def test_the_reindex_and_recompute_titles_are_in_one_language(org: Any) -> None:
    from govshare.catalog.actions.search_words import _start_reindex
    from govshare.core.actions.calendar import _queue_recompute

    for job in (_start_reindex(org.centre_admin), _queue_recompute(org.centre_admin, [2026], "day edited")):
        with translation.override("en"):
            english = job.shown_title
        with translation.override("zh-hans"):
            chinese = job.shown_title
        assert not re.search(r"[\u4e00-\u9fff]", english), english
        assert not LATIN_WORD.search(chinese), chinese
        assert " / " not in job.title


def test_a_job_written_before_titles_kept_their_meaning_shows_its_text(org: Any) -> None:
    from govshare.core.models import Job

    job = Job.objects.create(kind="core.audit_verify", title="旧作业 / an old job", created_by=org.auditor)
    with translation.override("en"):
        assert job.shown_title == "旧作业 / an old job"


def test_an_api_schema_error_names_every_field_and_reason_in_each_language(org: Any) -> None:
    """Pydantic's messages are English only: each problem gets its own Chinese and English message
    naming the field by its label, and the top-level message is the reader's language."""
    client = login(Client(), org.market_admin)
    body = {"name": "x" * 201, "code": 5, "description": "ok"}
    answer = client.post("/api/v1/sharing/systems", body, content_type="application/json")
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    by_field = {e["field"]: e for e in error["errors"]}
    assert set(by_field) == {"name", "code"}
    assert "最多 200 个字符" in by_field["name"]["message_zh"]
    assert "At most 200 characters." in by_field["name"]["message_en"]
    assert "应为文本" in by_field["code"]["message_zh"]
    assert not re.search(r"[A-Za-z]{4,}", error["message_zh"].replace("errors", "")), error["message_zh"]
    assert "另有 1 处问题" in error["message_zh"]
    assert error["message"] == error["message_zh"]  # Chinese first
    client.cookies["django_language"] = "en"
    english = client.post("/api/v1/sharing/systems", body, content_type="application/json").json()["error"]
    assert english["message"] == english["message_en"] and english["message"].startswith("name")
