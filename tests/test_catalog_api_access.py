"""Who may do what to a catalog entry over the API (SEC-2, CAT-3, CAT-9): the access matrix.

Six parties: the *owner* (the police data specialist who wrote the entry), a *colleague* (the
police department administrator), an *outsider* (the market-supervision data specialist), the
centre *reviewer*, a *citizen* (public account) and an *anonymous* visitor.  Each is tried on a
fresh entry in each state, and a refused request must change nothing.

The rules behind the numbers: an invisible object answers 404 exactly like a missing one
(another department's draft, anything but the open catalog for the public); a visible object
answers 403 when the role does not allow the action (an outsider changing or approving a
published entry); anonymous writes answer 401.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from govshare.catalog.actions import do_edit_entry, do_open_update_task, do_submit
from govshare.catalog.models import CatalogEntry, EntryVersion, Subscription, UpdateTask
from tests.catalog_helpers import content
from tests.conftest import API, crash_client, undone

WHO = ("owner", "colleague", "outsider", "reviewer", "citizen", "anonymous")
PEOPLE = {"owner": "police_specialist", "colleague": "police_admin", "outsider": "market_specialist",
          "reviewer": "reviewer", "citizen": "citizen", "anonymous": None}


def person(org: Any, who: str) -> Any:
    name = PEOPLE[who]
    return getattr(org, name) if name else None


# ------------------------------------------------------------------ entry states

def draft(cat: Any) -> CatalogEntry:
    return cat.draft()


def submitted_draft(cat: Any) -> CatalogEntry:
    entry = cat.draft()
    do_submit(cat.org.police_specialist, entry)
    entry.refresh_from_db()
    return entry


def published(cat: Any) -> CatalogEntry:
    return cat.published()


def published_open(cat: Any) -> CatalogEntry:
    return cat.published(open_attribute="open", domain="交通")


def changing(cat: Any) -> CatalogEntry:
    """Published, with a new version in draft."""
    entry = cat.published()
    do_edit_entry(cat.org.police_specialist, entry, content(summary="修订中"), change_reason="修订")
    entry.refresh_from_db()
    return entry


def change_submitted(cat: Any) -> CatalogEntry:
    entry = changing(cat)
    do_submit(cat.org.police_specialist, entry)
    entry.refresh_from_db()
    return entry


STATES: dict[str, Callable[[Any], CatalogEntry]] = {
    "draft": draft, "submitted_draft": submitted_draft, "published": published, "published_open": published_open,
    "changing": changing, "change_submitted": change_submitted,
}


# ------------------------------------------------------------------ operations and their effect

def request(user: Any, method: str, path: str, body: Any = None) -> Any:
    client = crash_client(user)
    url = f"{API}/catalog{path}"
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, body if body is not None else {}, content_type="application/json")


def _open(entry_id: int) -> EntryVersion | None:
    found = CatalogEntry.objects.filter(pk=entry_id).select_related("open_version").first()
    return found.open_version if found else None


OPERATIONS: dict[str, tuple[str, Callable[[CatalogEntry], str], Any]] = {
    "view": ("get", lambda e: f"/entries/{e.pk}", None),
    "view_draft_version": ("get", lambda e: f"/entries/{e.pk}/versions/{e.open_version.number}", None),
    "edit": ("put", lambda e: f"/entries/{e.pk}/draft", {**content(name="改过的名称"), "change_reason": "改名"}),
    "submit": ("post", lambda e: f"/entries/{e.pk}/submit", None),
    "discard": ("post", lambda e: f"/entries/{e.pk}/discard", None),
    "approve": ("post", lambda e: f"/entries/{e.pk}/approve", {"comment": "同意"}),
    "return": ("post", lambda e: f"/entries/{e.pk}/return", {"comment": "请修改"}),
    "withdraw": ("post", lambda e: f"/entries/{e.pk}/withdraw", {"reason": "停止提供"}),
    "subscribe": ("post", lambda e: f"/entries/{e.pk}/subscribe", None),
}

READS = frozenset({"view", "view_draft_version"})
EFFECTS: dict[str, Callable[[CatalogEntry, Any], bool]] = {
    "view": lambda e, u: False,
    "view_draft_version": lambda e, u: False,
    "edit": lambda e, u: (v := _open(e.pk)) is not None and v.name == "改过的名称",
    "submit": lambda e, u: (v := _open(e.pk)) is not None and v.state == EntryVersion.State.SUBMITTED,
    "discard": lambda e, u: _open(e.pk) is None,
    "approve": lambda e, u: EntryVersion.objects.filter(entry_id=e.pk, state=EntryVersion.State.SUBMITTED)
    .count() == 0,
    "return": lambda e, u: (v := _open(e.pk)) is not None and v.state == EntryVersion.State.RETURNED,
    "withdraw": lambda e, u: (v := _open(e.pk)) is not None and v.kind == EntryVersion.Kind.WITHDRAWAL,
    "subscribe": lambda e, u: u is not None and Subscription.objects.filter(entry_id=e.pk, user=u).exists(),
}

# expected status for owner, colleague, outsider, reviewer, citizen, anonymous
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    # a never-published draft exists only inside its department and for the centre
    ("draft", "view"): (200, 200, 404, 200, 404, 404),
    ("draft", "view_draft_version"): (200, 200, 404, 200, 404, 404),
    ("draft", "edit"): (200, 200, 404, 403, 404, 401),
    ("draft", "submit"): (200, 200, 404, 403, 404, 401),
    ("draft", "discard"): (204, 204, 404, 403, 404, 401),
    ("draft", "approve"): (403, 403, 404, 409, 404, 401),
    ("draft", "subscribe"): (409, 409, 404, 409, 404, 401),
    # the centre reviews; the department may not approve its own entry
    ("submitted_draft", "approve"): (403, 403, 404, 200, 404, 401),
    ("submitted_draft", "return"): (403, 403, 404, 200, 404, 401),
    ("submitted_draft", "edit"): (409, 409, 404, 403, 404, 401),
    # the published share catalog is seen across government, not by the public
    ("published", "view"): (200, 200, 200, 200, 404, 404),
    ("published", "edit"): (200, 200, 403, 403, 404, 401),
    ("published", "withdraw"): (200, 200, 403, 403, 404, 401),
    ("published", "subscribe"): (201, 201, 201, 201, 404, 401),
    ("published", "approve"): (403, 403, 403, 409, 404, 401),
    # the open catalog is public; changing it is still the provider's
    ("published_open", "view"): (200, 200, 200, 200, 200, 200),
    ("published_open", "edit"): (200, 200, 403, 403, 403, 401),
    ("published_open", "subscribe"): (201, 201, 201, 201, 403, 401),
    # a change in progress is seen by the provider and the centre only
    ("changing", "view_draft_version"): (200, 200, 404, 200, 404, 404),
    ("changing", "submit"): (200, 200, 403, 403, 404, 401),
    ("changing", "discard"): (200, 200, 403, 403, 404, 401),
    ("change_submitted", "approve"): (403, 403, 403, 200, 404, 401),
    ("change_submitted", "return"): (403, 403, 403, 200, 404, 401),
}


@pytest.mark.parametrize(("state", "operation"), list(MATRIX))
def test_the_access_matrix(cat: Any, state: str, operation: str) -> None:
    method, path, body = OPERATIONS[operation]
    statuses: dict[str, int] = {}
    wrong_effects: list[str] = []
    built = STATES[state](cat)
    for who in WHO:
        with undone():  # each party tries the entry as it was built
            entry = CatalogEntry.objects.select_related("open_version").get(pk=built.pk)
            user = person(cat.org, who)
            before = EFFECTS[operation](entry, user)
            statuses[who] = request(user, method, path(entry), body).status_code
            after = EFFECTS[operation](entry, user)
            if after != (before or (statuses[who] < 300 and operation not in READS)):
                wrong_effects.append(who)
    assert statuses == dict(zip(WHO, MATRIX[(state, operation)], strict=True))
    assert wrong_effects == [], "a refused request changed something (or an accepted one did not)"


def test_the_version_in_progress_is_shown_to_the_provider_and_the_centre_only(cat: Any) -> None:
    entry = changing(cat)
    shown = {}
    for who in WHO[:4]:
        data = request(person(cat.org, who), "get", f"/entries/{entry.pk}").json()
        assert data["current_version"]["number"] == 1
        shown[who] = data["open_version"]["number"] if data["open_version"] else None
    assert shown == {"owner": 2, "colleague": 2, "outsider": None, "reviewer": 2}


def test_another_departments_draft_answers_404_exactly_like_a_missing_entry(cat: Any) -> None:
    entry = cat.draft()
    outsider = cat.org.market_specialist
    hidden = request(outsider, "put", f"/entries/{entry.pk}/draft", content(classification="302"))
    missing = request(outsider, "put", "/entries/999999/draft", content(classification="302"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    by_code = request(outsider, "get", f"/entries/{entry.code}")
    assert by_code.status_code == 404 and by_code.json() == request(outsider, "get", "/entries/301/999999").json()


def test_an_outsider_approving_a_visible_change_gets_403_and_it_is_audited(cat: Any) -> None:
    from govshare.core.audit_codes import AuditCode
    from govshare.core.models import AuditEvent

    entry = change_submitted(cat)
    response = request(cat.org.market_specialist, "post", f"/entries/{entry.pk}/approve")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert AuditEvent.objects.filter(code=int(AuditCode.PERMISSION_DENIED), actor_id=cat.org.market_specialist.pk,
                                     outcome="denied").exists()


@pytest.mark.parametrize(("who", "expected"), [
    ("owner", {"draft", "published", "published_open"}), ("colleague", {"draft", "published", "published_open"}),
    ("outsider", {"published", "published_open"}), ("reviewer", {"draft", "published", "published_open"}),
    ("citizen", {"published_open"}), ("anonymous", {"published_open"}),
])
def test_the_entry_list_shows_each_party_what_they_may_see(cat: Any, who: str, expected: set[str]) -> None:
    made = {name: STATES[name](cat) for name in ("draft", "published", "published_open")}
    codes = {i["code"] for i in request(person(cat.org, who), "get", "/entries?per_page=100").json()["items"]}
    assert {name for name, entry in made.items() if entry.code in codes} == expected


# ------------------------------------------------------------------ update tasks and projects

@pytest.mark.parametrize(("who", "view", "complete"), [
    ("owner", 200, 200), ("colleague", 200, 200), ("outsider", 404, 404), ("reviewer", 200, 200),
    ("citizen", 404, 404), ("anonymous", 401, 401),
])
def test_update_task_access(cat: Any, who: str, view: int, complete: int) -> None:
    from django.utils import timezone

    task = do_open_update_task(cat.org.reviewer, department=cat.org.police, reason="law", title="法规修订",
                               change_date=timezone.localdate())
    user = person(cat.org, who)
    assert request(user, "get", f"/update-tasks/{task.pk}").status_code == view
    assert request(user, "post", f"/update-tasks/{task.pk}/complete", {"note": "已更新"}).status_code == complete
    task.refresh_from_db()
    assert (task.status == UpdateTask.Status.COMPLETED) == (complete == 200)


@pytest.mark.parametrize(("who", "view", "attach"), [
    ("owner", 200, 200), ("colleague", 200, 200), ("outsider", 404, 400), ("reviewer", 200, 404),
    ("citizen", 404, 403), ("anonymous", 401, 401),
])
def test_project_access(cat: Any, who: str, view: int, attach: int) -> None:
    from govshare.catalog.actions import do_create_project

    do_create_project(cat.org.police_specialist, name="智慧警务", code="GA-P")
    entry = cat.published()
    user = person(cat.org, who)
    assert request(user, "get", "/projects/GA-P").status_code == view
    # naming a project you may not see is an unknown project (400); the outsider's own entries only;
    # a citizen, who may attach nothing, is refused (403) before the project is looked at (issue 9)
    target = entry if who not in ("outsider", "citizen") else published_open(cat)
    response = request(user, "post", f"/entries/{target.pk}/project", {"project": "GA-P"})
    assert response.status_code == attach
    target.refresh_from_db()
    assert (target.project is not None) == (attach == 200)

