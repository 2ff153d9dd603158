"""Policy profiles (issue 2 §6): shipped profiles load, every value cites its source, bad files are
named precisely, and the CLI shows and checks profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from govshare.cli import main
from govshare.core.errors import ValidationFailed
from govshare.core.policy import DEADLINE_KEYS, available_profiles, get_profile, load_file

SHIPPED = ["changning", "heilongjiang", "longnan", "national", "template"]


def test_all_required_profiles_are_shipped() -> None:
    assert available_profiles() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_is_complete_and_cites_sources(name: str) -> None:
    profile = get_profile(name)
    assert set(profile.deadlines) == set(DEADLINE_KEYS)
    for period in [*profile.deadlines.values(), *profile.retention.values()]:
        assert period.source.strip()
    assert profile.list("share_purposes")
    assert profile.list("open_data_domains")


def test_jurisdictions_differ_only_by_configuration() -> None:
    """The table in REQUIREMENTS.md: national 10 vs 龙南 5 working days; HLJ 10 (calendar) days."""
    national, longnan, hlj = get_profile("national"), get_profile("longnan"), get_profile("heilongjiang")
    assert (national.deadline("share_provider_answer").amount, national.deadline("share_provider_answer").unit) == (
        10, "working_days")
    assert longnan.deadline("share_provider_answer").amount == 5
    assert longnan.deadline("share_provider_answer").source == "LN-§15"
    assert longnan.deadline("share_first_review").amount == 2
    assert longnan.deadline("open_application_answer").amount == 20
    assert (hlj.deadline("open_application_answer").amount, hlj.deadline("open_application_answer").unit) == (
        10, "calendar_days")
    assert national.deadline("catalog_update_after_change").amount == 15
    assert longnan.retention["audit_log"].amount >= 6
    assert national.reports["yearly_sharing_report"].month == 2
    assert "行政依据" in national.list("share_purposes")
    assert "企业登记监管" in longnan.list("open_data_domains")


def test_a_profile_inherits_what_it_does_not_override() -> None:
    assert get_profile("changning").deadline("share_provider_answer") == get_profile("national").deadline(
        "share_provider_answer")
    assert get_profile("changning").extends == "national"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "local.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("name: x\nextends: national\ndeadlines:\n  share_provider_answer: {amount: -3, unit: working_days, "
         "source: X}\n", "deadlines.share_provider_answer.amount", "positive integer"),
        ("name: x\nextends: national\ndeadlines:\n  share_provider_answer: {amount: 3, unit: weeks, source: X}\n",
         "deadlines.share_provider_answer.unit", "working_days"),
        ("name: x\nextends: national\ndeadlines:\n  share_provider_answer: {amount: 3, unit: working_days}\n",
         "deadlines.share_provider_answer.source", "source"),
        ("name: x\nextends: national\ndeadlines:\n  coffee_break: {amount: 3, unit: working_days, source: X}\n",
         "deadlines.coffee_break", "unknown deadline"),
        ("name: x\nextends: national\nretention:\n  audit_log: {amount: 2, unit: months, source: X}\n",
         "retention.audit_log.amount", "6"),
        ("name: x\nextends: national\ncolour: red\n", "colour", "unknown key"),
        ("name: x\nextends: nowhere\n", "", "nowhere"),
        ("name: x\ndeadlines: [1, 2\n", "local.yaml:3", "YAML"),
        ("- just\n- a list\n", "local.yaml", "mapping"),
        ("name: x\nextends: national\nlists:\n  share_purposes: {values: [a, a], source: X}\n",
         "lists.share_purposes.values", "twice"),
    ],
)
def test_a_malformed_profile_is_rejected_naming_the_key(tmp_path: Path, text: str, where: str,
                                                        fragment: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        load_file(_write(tmp_path, text))
    message = info.value.render("en")
    assert where in message
    assert fragment in message
    assert info.value.render("zh-hans")  # Chinese rendering exists too


def test_a_profile_missing_a_required_deadline_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as info:
        load_file(_write(tmp_path, "name: lonely\ndeadlines: {}\n"))
    assert "deadlines." in info.value.render("en") and "missing" in info.value.render("en")


def test_cli_policy_show_prints_values_with_their_articles(capsys: pytest.CaptureFixture[str], db: None) -> None:
    assert main(["policy", "show", "longnan"]) == 0
    out = capsys.readouterr().out
    assert "share_provider_answer: 5" in out
    assert "LN-§15" in out


def test_cli_policy_check_accepts_a_good_file_and_names_the_bad_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], db: None) -> None:
    good = _write(tmp_path, "name: mine\nextends: longnan\n")
    assert main(["policy", "check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nextends: national\ndeadlines:\n  share_first_review: {amount: 0, unit: working_days, "
                   "source: X}\n", encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "deadlines.share_first_review.amount" in err


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValidationFailed) as info:
        get_profile("atlantis")
    assert "longnan" in info.value.render("en")


def test_profile_names_cannot_escape_the_profile_directory() -> None:
    with pytest.raises(ValidationFailed):
        get_profile("../../etc/passwd")
