"""The menu grouped by area (目录 / 共享 / 管理 / 审计 / 账户), per role, from a registry the apps fill
(issue 8, "Screens"; SEC-1, SEC-2), and the home page of every area."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from govshare.core import navigation
from govshare.core.navigation import menu_for, menu_groups_for, register, register_group

STAFF_PAGES = {"core:users", "core:departments", "core:specialists", "core:policies", "core:calendar", "core:jobs",
               "core:audit"}


def _groups(user: Any, path: str = "") -> dict[str, list[str]]:
    return {g["key"]: [i["name"] for i in g["items"]] for g in menu_groups_for(user, path)}


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(navigation, "_ITEMS", list(navigation._ITEMS))
    monkeypatch.setattr(navigation, "_GROUPS", dict(navigation._GROUPS))


# ------------------------------------------------------------------ groups per role

def test_the_menu_is_grouped_by_area_in_a_fixed_order(org: Any) -> None:
    groups = [g["key"] for g in menu_groups_for(org.centre_admin)]
    assert groups == ["", "catalog", "sharing", "exchange", "admin", "account"]
    assert _groups(org.centre_admin)[""] == ["core:home"]


def test_a_citizen_sees_the_catalog_and_their_account_and_no_staff_menu(org: Any) -> None:
    groups = _groups(org.citizen)
    assert set(groups) == {"", "catalog", "account"}
    assert groups["catalog"] == ["catalog:search"]
    assert {"core:inbox", "core:tokens", "core:password_change"} == set(groups["account"])
    assert not {name for names in groups.values() for name in names} & STAFF_PAGES


def test_an_auditor_sees_the_audit_area_and_no_administration_of_people(org: Any) -> None:
    groups = _groups(org.auditor)
    assert groups["audit"] == ["core:audit"]
    assert "core:users" not in groups["admin"] and "core:jobs" not in groups["admin"]


@pytest.mark.parametrize("who", ["centre_admin", "reviewer", "police_admin", "police_specialist"])
def test_government_staff_see_no_audit_area(org: Any, who: str) -> None:
    assert "audit" not in _groups(getattr(org, who))


def test_each_role_sees_its_own_sharing_work(org: Any) -> None:
    assert "sharing:review_queue" in _groups(org.reviewer)["sharing"]
    assert "sharing:review_queue" not in _groups(org.police_specialist)["sharing"]
    assert "sharing:to_answer" in _groups(org.police_specialist)["sharing"]
    assert _groups(org.police_specialist)["sharing"][0] == "sharing:home"


def test_anonymous_visitors_get_no_menu(db: Any) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert menu_groups_for(AnonymousUser()) == [] and menu_for(None) == []


def test_the_group_of_the_current_page_is_open_and_its_item_marked(org: Any) -> None:
    page = reverse("sharing:application_detail", args=[1])  # under "My share applications"
    groups = {g["key"]: g for g in menu_groups_for(org.police_specialist, page)}
    assert groups["sharing"]["open"] and not groups["catalog"]["open"]
    current = [i["name"] for g in groups.values() for i in g["items"] if i["current"]]
    assert current == ["sharing:my_applications"]


def test_the_flat_menu_keeps_group_order(org: Any) -> None:
    names = [i["name"] for i in menu_for(org.centre_admin)]
    assert names.index("catalog:search") < names.index("sharing:home") < names.index("core:users") \
        < names.index("core:tokens")


# ------------------------------------------------------------------ the registry

def test_an_app_registers_its_own_group_and_items(org: Any, scratch_registry: None) -> None:
    register_group("federation", "级联", 80, home="core:home")
    register("core:jobs", "级联任务", {"centre_admin"}, 1, "federation")
    groups = {g["key"]: g for g in menu_groups_for(org.centre_admin)}
    assert [i["label"] for i in groups["federation"]["items"]] == ["级联任务"]
    assert groups["federation"]["url"] == reverse("core:home")
    assert "federation" not in _groups(org.police_specialist)  # nothing in it for this role: no group


def test_an_item_of_an_unregistered_group_is_shown_under_more(org: Any, scratch_registry: None) -> None:
    register("core:jobs", "孤立页面", None, 1, "nobody-registered-this")
    assert "孤立页面" in [i["label"] for g in menu_groups_for(org.citizen) if g["key"] == "other"
                        for i in g["items"]]


def test_an_item_whose_page_does_not_exist_is_left_out(org: Any, scratch_registry: None) -> None:
    register("nowhere:page", "不存在", None, 1, "account")
    assert "nowhere:page" not in _groups(org.citizen)["account"]


# ------------------------------------------------------------------ rendering and area home pages

def test_the_menu_renders_as_collapsible_groups_with_a_menu_button(org: Any, client_for: Any) -> None:
    html = client_for(org.police_specialist).get(reverse("sharing:my_applications")).content.decode()
    assert 'data-nav-toggle' in html and 'aria-controls="sidenav"' in html
    assert '<details class="nav-group" data-group="sharing" open>' in html
    assert '<details class="nav-group" data-group="catalog">' in html
    assert f'<a href="{reverse("sharing:my_applications")}" aria-current="page">' in html


@pytest.mark.parametrize("name,who", [("sharing:home", "police_specialist"), ("sharing:home", "reviewer"),
                                      ("sharing:home", "auditor"), ("core:manage", "centre_admin"),
                                      ("core:account", "citizen"), ("catalog:search", "citizen")])
def test_every_area_has_a_home_page(org: Any, client_for: Any, name: str, who: str) -> None:
    assert client_for(getattr(org, who)).get(reverse(name)).status_code == 200


def test_an_area_home_lists_only_the_pages_the_user_may_open(org: Any, client_for: Any) -> None:
    html = client_for(org.police_specialist).get(reverse("core:manage")).content.decode()
    assert f'href="{reverse("core:specialists")}"' in html and f'href="{reverse("core:users")}"' not in html


@pytest.mark.parametrize("path", ["/manage/", "/areas/audit/", "/areas/unknown/"])
def test_an_area_with_nothing_for_the_user_answers_404(org: Any, client_for: Any, path: str) -> None:
    assert client_for(org.citizen).get(path).status_code == 404


def test_the_sharing_home_is_for_government_users(org: Any, client_for: Any) -> None:
    assert client_for(org.citizen).get(reverse("sharing:home")).status_code == 403
    response = Client().get(reverse("sharing:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("core:login"))


# ------------------------------------------------------------------ the sharing dashboard counts what is still to do

def _tiles(client: Client) -> dict[str, int]:
    return {t.key: t.count for _title, tiles in client.get(reverse("sharing:home")).context["sections"]
            for t in tiles}


def test_the_sharing_home_counts_each_party_s_work_and_follows_it(share: Any, client_for: Any) -> None:
    from govshare.sharing.actions import do_first_review

    org = share.org
    app = share.apply()
    assert _tiles(client_for(org.reviewer))["first_review"] == 1
    assert _tiles(client_for(org.market_specialist))["waiting"] == 1
    assert _tiles(client_for(org.police_specialist))["to_answer"] == 0
    do_first_review(org.reviewer, app, decision="pass")
    assert _tiles(client_for(org.reviewer))["first_review"] == 0
    assert _tiles(client_for(org.police_specialist))["to_answer"] == 1
    assert _tiles(client_for(org.market_admin))["waiting"] == 1  # a colleague sees the department's work
    # the outsider department (police is provider; market the consumer): the centre's tiles are not theirs
    assert "first_review" not in _tiles(client_for(org.police_specialist))


def test_each_count_links_to_the_list_that_shows_its_rows(share: Any, client_for: Any) -> None:
    share.apply()
    client = client_for(share.org.reviewer)
    tiles = {t.key: t for _title, ts in client.get(reverse("sharing:home")).context["sections"] for t in ts}
    listed = client.get(tiles["first_review"].url).context["rows"]
    assert tiles["first_review"].count == len(listed) == 1


def test_the_auditor_s_sharing_home_has_nothing_to_do(org: Any, client_for: Any) -> None:
    response = client_for(org.auditor).get(reverse("sharing:home"))
    assert response.status_code == 200 and response.context["sections"] == [] and response.context["read_only"]
