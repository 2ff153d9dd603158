"""Shared fixtures: a small organisation with one user per role.

Access tests use three parties: the *owner* (acts on their own department's object), a *colleague*
(same department, fewer rights) and an *outsider* (another department).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from govshare.core.actions import (
    do_create_department,
    do_create_jurisdiction,
    do_create_user,
    do_grant_role,
)
from govshare.core.demo import make_id_number, make_uscc
from govshare.core.roles import Role

PASSWORD = "Correct-horse-42"


@pytest.fixture(autouse=True)
def _fast_tasks(settings: Any) -> None:
    """Tasks run in-process unless a test asks for the real database worker."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_search_index(settings: Any, tmp_path: Any) -> None:
    """Each test has its own (empty) catalog search index."""
    settings.GOVSHARE_SEARCH_DIR = tmp_path / "search"


@pytest.fixture(autouse=True)
def _clean_audit_context() -> Any:
    """Each test starts with no bound user and no pending audit events."""
    from govshare.core import audit, context

    with context.bind(user=None, ip="", request_id=""):
        yield
    audit.discard_pending()


class Org:
    """The test organisation; attributes are created lazily by the ``org`` fixture."""

    def __init__(self) -> None:
        self.province = do_create_jurisdiction(None, code="360000", name="江西省", level="province",
                                               policy_profile="national")
        self.county = do_create_jurisdiction(None, code="360783", name="龙南市", level="county",
                                             parent=self.province, policy_profile="longnan")
        self.centre = do_create_department(None, name="龙南市政务和数据服务中心", short_name="中心",
                                           uscc=make_uscc("360783", 1), code="CENTRE", kind="centre",
                                           jurisdiction=self.county)
        self._seq = 100
        self.centre_admin = self.user("admin", self.centre, Role.CENTRE_ADMIN)
        self.police = do_create_department(self.centre_admin, name="龙南市公安局", short_name="公安局",
                                           uscc=make_uscc("360783", 2), code="GA", jurisdiction=self.county)
        self.market = do_create_department(self.centre_admin, name="龙南市市场监督管理局", short_name="市场监管局",
                                           uscc=make_uscc("360783", 3), code="SJ", jurisdiction=self.county)
        self.reviewer = self.user("reviewer", self.centre, Role.CENTRE_REVIEWER)
        self.police_admin = self.user("police_admin", self.police, Role.DEPT_ADMIN)
        self.police_specialist = self.user("police_specialist", self.police, Role.DATA_SPECIALIST)
        self.market_admin = self.user("market_admin", self.market, Role.DEPT_ADMIN)
        self.market_specialist = self.user("market_specialist", self.market, Role.DATA_SPECIALIST)
        self.auditor = self.user("auditor", self.centre, Role.AUDITOR)
        self.citizen = self.user("citizen", None, Role.PUBLIC)

    def user(self, username: str, department: Any, role: str | None) -> Any:
        self._seq += 1
        actor = None if role == Role.CENTRE_ADMIN and not hasattr(self, "centre_admin") else self.centre_admin
        operator = role == Role.AUDITOR  # auditor accounts are the operator's (separation of duties)
        if operator:
            actor = None
        user = do_create_user(actor, username=username, real_name=f"测试{username}", password=PASSWORD,
                              id_number=make_id_number("360783", "19900101", self._seq), department=department,
                              operator=operator)
        if role:
            do_grant_role(actor, user, role, operator=operator)
        return user


@pytest.fixture
def org(db: Any) -> Org:
    return Org()


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def client_for(org: Org) -> Any:
    def make(user: Any) -> Client:
        return login(Client(), user)

    return make


API = "/api/v1"


def crash_client(user: Any = None) -> Client:
    """A client that answers a crash with a 500 instead of raising it into the test, so that a
    crash on bad input shows as "500 is not 400"."""
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def api_json(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    """Call ``/api/v1`` + ``path`` with a JSON body."""
    return getattr(client, method)(API + path, body, content_type="application/json", **extra)


@pytest.fixture
def cat(org: Org) -> Any:
    """The test organisation plus department classifications 301 (police), 302 (market), 399 (centre)."""
    from tests.catalog_helpers import CatalogOrg

    return CatalogOrg(org)


@pytest.fixture(autouse=True)
def _private_letters(settings: Any, tmp_path: Any) -> None:
    """Uploaded application letters go to the test's own directory."""
    settings.GOVSHARE_LETTERS_DIR = tmp_path / "letters"


@pytest.fixture
def share(cat: Any) -> Any:
    """The catalog organisation plus entries of each share type and registered systems (sharing tests)."""
    from tests.sharing_helpers import ShareOrg

    return ShareOrg(cat)
