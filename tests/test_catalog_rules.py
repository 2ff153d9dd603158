"""CAT-1, CAT-2, CAT-6: the guide's rules on an entry's content, each refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from govshare.catalog.actions import do_create_entry
from govshare.catalog.models import CatalogEntry
from govshare.catalog.validation import check_content
from govshare.core.errors import GovshareError, ManyProblems, ValidationFailed
from tests.catalog_helpers import content

DOMAINS = ("信用", "交通", "社保")


def _fields(data: dict[str, Any]) -> dict[str, str]:
    return {p.field or "": p.code for p in check_content(data, domains=DOMAINS).problems}


def test_valid_content_has_no_problems() -> None:
    assert check_content(content(), domains=DOMAINS).problems == []


def test_unconditional_sharing_needs_a_share_method() -> None:
    assert _fields(content(share_methods=[]))["share_methods"] == "share_method_required"


def test_conditional_sharing_needs_condition_method_and_basis() -> None:
    problems = _fields(content(share_type="conditional", share_methods=[], share_condition="", share_basis=""))
    assert problems["share_condition"] == "share_condition_required"
    assert problems["share_methods"] == "share_method_required"
    assert problems["share_basis"] == "basis_required"


def test_not_shared_needs_a_basis_and_drops_share_methods() -> None:
    assert _fields(content(share_type="none", share_basis=""))["share_basis"] == "basis_required"
    checked = check_content(content(share_type="none", share_basis="《个人信息保护法》第十三条"), domains=DOMAINS)
    assert checked.problems == [] and checked.content["share_methods"] == []


@pytest.mark.parametrize("share_type", ["conditional", "none"])
def test_an_entry_open_to_the_public_must_be_shared_unconditionally(share_type: str) -> None:
    data = content(share_type=share_type, share_condition="仅限业务协同", share_basis="依据", open_attribute="open",
                   domain="信用")
    assert _fields(data)["share_type"] == "open_needs_unconditional"


def test_open_entries_need_a_domain_from_the_profile_list() -> None:
    assert _fields(content(open_attribute="open"))["domain"] == "domain_required"
    assert _fields(content(open_attribute="open", domain="天文"))["domain"] == "unknown_domain"
    assert "domain" not in _fields(content(open_attribute="open", domain="信用"))


def test_open_on_application_needs_its_condition() -> None:
    data = content(open_attribute="on_application", domain="信用", open_condition="")
    assert _fields(data)["open_condition"] == "open_condition_required"


@pytest.mark.parametrize("data_type", ["C", "N", "Y", "B", "F"])
def test_character_and_numeric_items_need_a_length(data_type: str) -> None:
    items = [{"name": "字段", "data_type": data_type, "length": None}]
    assert _fields(content(items=items))["items[1].length"] == "length_required"


@pytest.mark.parametrize("data_type", ["D", "T", "L", "M", "G", "I"])
def test_fixed_size_types_need_no_length(data_type: str) -> None:
    items = [{"name": "字段", "data_type": data_type}]
    assert check_content(content(items=items), domains=DOMAINS).problems == []


def test_every_item_problem_names_its_row_and_field() -> None:
    items = [{"name": "姓名", "data_type": "C", "length": 20},
             {"name": "姓名", "data_type": "X", "length": "abc"},
             {"name": "", "data_type": "C", "length": 10, "is_sensitive": True}]
    problems = _fields(content(items=items))
    assert problems["items[2].name"] == "duplicate_item"
    assert problems["items[2].data_type"] == "invalid_choice"
    assert problems["items[2].length"] == "invalid_length"
    assert problems["items[3].name"] == "required"
    assert problems["items[3].masking_rule"] == "masking_required"


def test_an_entry_needs_at_least_one_item() -> None:
    assert _fields(content(items=[]))["items"] == "items_required"


def test_other_update_cycle_needs_a_description() -> None:
    assert _fields(content(update_cycle="other"))["update_cycle_note"] == "update_cycle_note_required"


def test_related_codes_must_look_like_resource_codes() -> None:
    assert _fields(content(related_codes=["301/000001", "bogus"]))["related_codes"] == "invalid_code"


def test_the_action_reports_every_problem_at_once_and_stores_nothing(cat: Any) -> None:
    with pytest.raises(ManyProblems) as err:
        do_create_entry(cat.org.police_specialist, content(share_type="conditional", share_basis="", name=""))
    fields = {p.field for p in err.value.problems}
    assert {"name", "share_basis", "share_condition"} <= fields
    body = err.value.as_dict()
    assert body["code"] == "invalid_input" and len(body["errors"]) == len(err.value.problems)
    assert "message_zh" in body["errors"][0]
    assert CatalogEntry.objects.count() == 0


def test_a_classification_of_another_department_is_refused(cat: Any) -> None:
    with pytest.raises(ValidationFailed) as err:
        do_create_entry(cat.org.police_specialist, content(classification="302"))
    assert err.value.code == "classification_other_department" and err.value.field == "classification"


def test_an_unknown_or_top_level_classification_is_refused(cat: Any) -> None:
    for code, expected in [("999", "unknown_classification"), ("1", "classification_too_broad")]:
        with pytest.raises(GovshareError) as err:
            do_create_entry(cat.org.police_specialist, content(classification=code))
        assert err.value.code == expected


def test_basic_and_theme_classifications_are_open_to_every_department(cat: Any) -> None:
    entry = do_create_entry(cat.org.market_specialist, content(classification="102", name="法人单位基本信息"))
    assert entry.code == "102/000001"
