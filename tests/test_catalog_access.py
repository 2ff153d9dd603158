"""CAT-9 visibility and SEC-2 through the chokepoint: who sees which entries and versions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from govshare.catalog.actions import do_edit_entry
from govshare.catalog.models import CatalogEntry, EntryVersion
from govshare.core.permissions import restrict
from tests.catalog_helpers import content


@pytest.fixture
def world(cat: Any) -> dict[str, CatalogEntry]:
    org = cat.org
    shared = cat.published(name="户籍人口基本信息")
    opened = cat.published(name="公共交通站点信息", open_attribute="open", domain="交通")
    on_app = cat.published(name="企业信用信息", open_attribute="on_application", open_condition="实名申请",
                           domain="信用")
    draft = cat.draft(name="暂住人口草稿")
    market_draft = cat.draft(org.market_specialist, name="市场主体草稿")
    changed = cat.published(name="出入境证件信息")
    do_edit_entry(org.police_specialist, changed, content(name="出入境证件信息（修订中）"), change_reason="修订")
    return {"shared": shared, "open": opened, "on_app": on_app, "draft": draft, "market_draft": market_draft,
            "changed": changed}


def _visible(user: Any, world: dict[str, CatalogEntry]) -> set[str]:
    ids = set(restrict(CatalogEntry, user, "view").values_list("pk", flat=True))
    return {name for name, entry in world.items() if entry.pk in ids}


def test_the_public_sees_only_the_open_catalog(cat: Any, world: Any) -> None:
    """CAT-6: entries open to the public form the open catalog; the rest is the share catalog."""
    assert _visible(cat.org.citizen, world) == {"open", "on_app"}
    assert _visible(AnonymousUser(), world) == {"open", "on_app"}


def test_an_outsider_department_sees_the_published_share_catalog_and_its_own_drafts(cat: Any, world: Any) -> None:
    assert _visible(cat.org.market_specialist, world) == {"shared", "open", "on_app", "changed", "market_draft"}


def test_the_owner_and_a_colleague_see_their_department_drafts(cat: Any, world: Any) -> None:
    expected = {"shared", "open", "on_app", "changed", "draft"}
    assert _visible(cat.org.police_specialist, world) == expected  # owner
    assert _visible(cat.org.police_admin, world) == expected  # colleague


def test_the_centre_sees_everything(cat: Any, world: Any) -> None:
    assert _visible(cat.org.reviewer, world) == set(world)
    assert _visible(cat.org.centre_admin, world) == set(world)


def test_the_auditor_sees_the_published_catalog_read_only(cat: Any, world: Any) -> None:
    assert _visible(cat.org.auditor, world) == {"shared", "open", "on_app", "changed"}
    assert not restrict(CatalogEntry, cat.org.auditor, "change").exists()


def test_a_version_in_progress_is_hidden_outside_the_department(cat: Any, world: Any) -> None:
    changed = world["changed"]
    pending = EntryVersion.objects.get(entry=changed, number=2)
    assert not restrict(EntryVersion, cat.org.market_specialist, "view").filter(pk=pending.pk).exists()
    assert restrict(EntryVersion, cat.org.police_admin, "view").filter(pk=pending.pk).exists()
    assert restrict(EntryVersion, cat.org.reviewer, "view").filter(pk=pending.pk).exists()
    assert restrict(EntryVersion, cat.org.market_specialist, "view").filter(entry=changed, number=1).exists()


def test_only_the_provider_department_may_change_entries(cat: Any, world: Any) -> None:
    police_changeable = set(restrict(CatalogEntry, cat.org.police_admin, "change").values_list("pk", flat=True))
    assert world["draft"].pk in police_changeable and world["market_draft"].pk not in police_changeable
    assert not restrict(CatalogEntry, cat.org.reviewer, "change").exists()
    assert not restrict(CatalogEntry, cat.org.citizen, "change").exists()
