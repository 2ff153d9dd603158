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


# ------------------------------------------------------------------ strict files (review finding 18)

def _national_with(tmp_path: Path, extra: str = "", old: str = "", new: str = "") -> Path:
    from govshare.core.policy import PROFILE_DIR

    text = (PROFILE_DIR / "national.yaml").read_text(encoding="utf-8")
    if old:
        assert old in text
        text = text.replace(old, new)
    return _write(tmp_path, text + extra)


def test_a_key_written_twice_is_refused_naming_the_key_and_its_line(tmp_path: Path) -> None:
    path = _national_with(tmp_path, "\ntitle: a second title would silently win\n")
    line = path.read_text(encoding="utf-8").splitlines().index("title: a second title would silently win") + 1
    with pytest.raises(ValidationFailed) as info:
        load_file(path)
    message = info.value.render("en")
    assert "title" in message and f"local.yaml:{line}:" in message


def test_a_deadline_written_twice_in_its_section_is_refused(tmp_path: Path) -> None:
    text = ("name: twice\nextends: national\ndeadlines:\n"
            "  share_first_review: {amount: 2, unit: working_days, source: LN-§15}\n"
            "  share_first_review: {amount: 3, unit: working_days, source: LN-§15}\n")
    with pytest.raises(ValidationFailed) as info:
        load_file(_write(tmp_path, text))
    assert "share_first_review" in info.value.render("en")


def test_the_same_key_in_different_sections_is_fine(tmp_path: Path) -> None:
    text = ("name: mine\nextends: national\ndeadlines:\n"
            "  share_first_review: {amount: 2, unit: working_days, source: LN-§15, note: one}\n"
            "  rectification: {amount: 9, unit: working_days, source: LN-§29, note: two}\n")
    assert load_file(_write(tmp_path, text)).deadline("rectification").amount == 9


@pytest.mark.parametrize(("month", "day"), [(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31)])
def test_a_report_date_that_does_not_exist_is_refused_naming_it(tmp_path: Path, month: int, day: int) -> None:
    path = _national_with(tmp_path, old="    month: 2\n    day: last", new=f"    month: {month}\n    day: {day}")
    with pytest.raises(ValidationFailed) as info:
        load_file(path)
    message = info.value.render("en")
    assert "reports.yearly_sharing_report.day" in message and str(day) in message


@pytest.mark.parametrize(("month", "day"), [(2, 29), (12, 31), (4, 30)])
def test_a_report_date_that_exists_at_least_in_leap_years_is_accepted(tmp_path: Path, month: int, day: int) -> None:
    path = _national_with(tmp_path, old="    month: 2\n    day: last", new=f"    month: {month}\n    day: {day}")
    date = load_file(path).reports["yearly_sharing_report"]
    assert (date.month, date.day) == (month, day)


# ------------------------------------------------------------------ the template is no rule (review finding 19)

def test_the_template_profile_is_shipped_but_marked_as_placeholder() -> None:
    from govshare.core.policy import assignable_profiles

    template = get_profile("template")
    assert template.is_placeholder and template.as_dict()["is_placeholder"] is True
    assert "template" in available_profiles()
    assert "template" not in assignable_profiles()
    assert set(assignable_profiles()) == set(SHIPPED) - {"template"}


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "template"])
def test_every_real_profile_may_govern_a_jurisdiction(name: str) -> None:
    from govshare.core.policy import require_assignable

    assert not get_profile(name).is_placeholder
    assert require_assignable(name).name == name


def test_the_template_profile_may_not_govern_a_jurisdiction() -> None:
    from govshare.core.policy import require_assignable

    with pytest.raises(ValidationFailed) as info:
        require_assignable("template")
    assert (info.value.code, info.value.field) == ("placeholder_profile", "policy_profile")
    assert "template" in info.value.render("en")


def test_a_copy_of_the_template_not_yet_filled_in_is_a_placeholder_too(tmp_path: Path) -> None:
    from govshare.core.policy import PROFILE_DIR

    text = (PROFILE_DIR / "template.yaml").read_text(encoding="utf-8").replace("name: template", "name: mine")
    assert load_file(_write(tmp_path, text)).is_placeholder
    assert not load_file(_write(tmp_path, text.replace("XXXX-§? (replace)", "LN-§15"))).is_placeholder


def test_cli_policy_show_template_still_works(capsys: pytest.CaptureFixture[str], db: None) -> None:
    assert main(["policy", "show", "template"]) == 0
    assert "XXXX" in capsys.readouterr().out
