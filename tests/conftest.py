"""Shared fixtures: a small organisation with one user per role.

Access tests use three parties: the *owner* (acts on their own department's object), a *colleague*
(same department, fewer rights) and an *outsider* (another department).

``org``, ``cat`` and ``share`` are built once per test process and copied into each test (rows
written back into the test's transaction, fresh Python objects); the full demo is loaded once per
test process too (``demo_data`` / ``demo_data_module``).  See :mod:`tests.db_states` and
docs/decisions/0002-test-fixtures-built-once.md.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client, override_settings

from govshare.core.actions import (
    do_create_department,
    do_create_jurisdiction,
    do_create_user,
    do_grant_role,
)
from govshare.core.demo import make_id_number, make_uscc
from govshare.core.roles import Role

pytest_plugins = ["tests.guard_actions",  # every domain write goes through an action (issue 8)
                  "tests.source_servers",  # the exchange tests' PostgreSQL and MariaDB source servers (issue 10)
                  "tests.delivery_targets"]  # consumers' front-end databases receiving deliveries (issue 11)

PASSWORD = "Correct-horse-42"


#: what every test runs with (and the shared states are built with)
FAST = {"TASKS": {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}},
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"]}


@pytest.fixture(autouse=True)
def _fast_tasks(settings: Any) -> None:
    """Tasks run in-process unless a test asks for the real database worker."""
    settings.TASKS = FAST["TASKS"]
    settings.PASSWORD_HASHERS = FAST["PASSWORD_HASHERS"]


@pytest.fixture(autouse=True)
def _private_search_index(settings: Any, tmp_path: Any) -> None:
    """Each test has its own (empty) catalog search index."""
    settings.GOVSHARE_SEARCH_DIR = tmp_path / "search"


class _OneMiddlewareChain:
    """A server builds its middleware chain once per process; Django's test client builds it once per
    client, that is several times per test, and WhiteNoise then walks every static file again (6 ms
    each time, a tenth of a request-heavy test).  The tests share one chain, as a server's requests
    do, built again when a setting read while building it changes (``setting_changed``)."""

    #: settings a middleware reads when it is built (Django's security and session middleware,
    #: WhiteNoise); govshare's own middleware read theirs per request
    READ_AT_BUILD = ("MIDDLEWARE", "SECURE_", "SESSION_", "STATIC", "WHITENOISE_", "DEBUG", "FORCE_SCRIPT_NAME")
    ATTRIBUTES = ("_view_middleware", "_template_response_middleware", "_exception_middleware",
                  "_middleware_chain")
    built: dict[bool, tuple[Any, ...]] = {}

    @classmethod
    def install(cls) -> None:
        from django.core.signals import setting_changed
        from django.test.client import ClientHandler

        build = ClientHandler.load_middleware

        def load_middleware(handler: Any, is_async: bool = False) -> None:
            chain = cls.built.get(is_async)
            if chain is None:
                build(handler, is_async)
                cls.built[is_async] = tuple(getattr(handler, name) for name in cls.ATTRIBUTES)
            else:
                for name, value in zip(cls.ATTRIBUTES, chain, strict=True):
                    setattr(handler, name, value)

        def forget(*, setting: str, **_: Any) -> None:
            if setting.startswith(cls.READ_AT_BUILD):
                cls.built.clear()

        ClientHandler.load_middleware = load_middleware  # type: ignore[method-assign]
        setting_changed.connect(forget, weak=False)


_OneMiddlewareChain.install()


@pytest.fixture(autouse=True)
def _clean_audit_context() -> Any:
    """Each test starts with no bound user, no pending audit events and no cached access-log chain head: the
    cache is keyed by the ids of the open atomic blocks, and a block of an earlier test freed and its id reused
    would hand this test a stale head — one more statement, which the query-count tests would see (seen
    once in a few full runs as 6 queries for 5 on ``/tokens``)."""
    from govshare.core import access_log, audit, context

    access_log.forget_head()

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
def org(db: Any, _shared_states: SharedStates, _copies: dict[int, Any]) -> Org:
    """The test organisation (built once per test process, copied into this test)."""
    org: Org = _shared_states.copy_into_test("org", _copies)
    return org


def login(client: Client, user: Any) -> Client:
    """Log ``user`` in on ``client``: the session ``force_login`` would leave (user, backend, password
    hash, the idle clock's start), written with one INSERT.  The login's own bookkeeping (its audit row,
    the failure counters, ``last_login``) is left out: the tests of the login form cover it
    (tests/test_auth.py, tests/test_login_protection.py), and the rest of the suite logs in thousands
    of times (issue 8, suite speed).  Only for the database session engine (settings.py)."""
    import time
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.utils.crypto import get_random_string

    from govshare.core.middleware import IdleTimeoutMiddleware

    backend = settings.AUTHENTICATION_BACKENDS[0]
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    name = settings.SESSION_COOKIE_NAME
    if name in client.cookies:  # a client logged in before: that session ends, as force_login's would
        store.model.objects.filter(session_key=client.cookies[name].value).delete()
    data = {SESSION_KEY: user._meta.pk.value_to_string(user), BACKEND_SESSION_KEY: backend,
            HASH_SESSION_KEY: user.get_session_auth_hash(), IdleTimeoutMiddleware.KEY: int(time.time())}
    key = get_random_string(32, VALID_KEY_CHARS)
    store.model(session_key=key, session_data=store.encode(data), expire_date=store.get_expiry_date()).save(
        force_insert=True)  # the row SessionStore.save() writes, without its savepoint
    user.backend = backend
    client.cookies[name] = key
    client.cookies[name].update({"max-age": None, "path": "/", "domain": settings.SESSION_COOKIE_DOMAIN,
                                 "secure": settings.SESSION_COOKIE_SECURE or None, "expires": None})
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
        login(client, user)
    return client


@contextmanager
def undone() -> Iterator[None]:
    """Run the block inside a savepoint that is rolled back after it, whatever happened: several
    parties try the same object as it was built, instead of building it once per party."""
    sid = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(sid)


def project_settings(monkeypatch: Any, tmp_path: Path, *, unset: tuple[str, ...] = (), **env: str) -> Any:
    """govshare/settings.py evaluated afresh under ``env`` (with ``unset`` removed), as a separate module:
    the running settings stay."""
    import importlib.util
    import secrets

    for name in unset:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(50))
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("_govshare_settings_probe", root / "govshare" / "settings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def api_json(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    """Call ``/api/v1`` + ``path`` with a JSON body."""
    return getattr(client, method)(API + path, body, content_type="application/json", **extra)


@pytest.fixture
def cat(org: Org, _shared_states: SharedStates, _copies: dict[int, Any]) -> Any:
    """The test organisation plus department classifications 301 (police), 302 (market), 399 (centre)
    (a :class:`tests.catalog_helpers.CatalogOrg`; ``cat.org is org``)."""
    return _shared_states.copy_into_test("cat", _copies)


@pytest.fixture(autouse=True)
def _private_sources(settings: Any, tmp_path: Any) -> None:
    """Each test has its own folder of SQLite front-end databases and its own data resource centre (a SQLite
    file, created on first use); sources on loopback are allowed (the suite's database servers listen
    there), as ``GOVSHARE_SOURCE_ALLOW_LOOPBACK`` would allow them."""
    settings.GOVSHARE_SOURCE_DIR = tmp_path / "sources"
    settings.GOVSHARE_SOURCE_ALLOW_LOOPBACK = True
    settings.GOVSHARE_DATASTORE_URL = f"sqlite:///{tmp_path / 'datastore.sqlite3'}"  # the centre's own database
    settings.GOVSHARE_DEMO_DIR = tmp_path / "demo"
    settings.GOVSHARE_DOWNLOAD_DIR = tmp_path / "downloads"
    settings.GOVSHARE_UPLOAD_DIR = tmp_path / "uploads"


@pytest.fixture(autouse=True)
def _no_kept_answers() -> None:
    """Each test starts with no answers kept under a stamp (govshare.core.stamps) by an earlier one."""
    from govshare.core import stamps

    stamps.forget()


@pytest.fixture(autouse=True)
def _private_letters(settings: Any, tmp_path: Any) -> None:
    """Uploaded application letters go to the test's own directory."""
    settings.GOVSHARE_LETTERS_DIR = tmp_path / "letters"


@pytest.fixture
def share(cat: Any, _shared_states: SharedStates, _copies: dict[int, Any]) -> Any:
    """The catalog organisation plus entries of each share type and registered systems (sharing tests)
    (a :class:`tests.sharing_helpers.ShareOrg`; ``share.cat is cat``)."""
    return _shared_states.copy_into_test("share", _copies)


# ------------------------------------------------------------------ states built once per test process


@dataclass
class Layer:
    """One built state: the rows it adds to the one below, the Python object the build returned, and
    what else the build left behind (e-mails in the outbox, audit events waiting for a flush)."""

    rows: Any  # tests.db_states.StateDiff
    obj: Any = None
    outbox: list[Any] = field(default_factory=list)
    pending: tuple[Any, ...] = ()


class SharedStates:
    """The ``org`` → ``cat`` → ``share`` layers (built with the test database) and the demo (built on
    first use) of this test process, each inside a rolled-back transaction; copied into tests on
    request."""

    def __init__(self, blocker: Any, tmp: Path) -> None:
        self.blocker = blocker
        self.tmp = tmp
        self.layers: dict[str, Layer] = {}
        self.demo: Layer | None = None
        self.demo_search: Path | None = None

    # -- building

    @contextmanager
    def _building(self, **extra: Any) -> Iterator[None]:
        """The conditions a test's fixtures run in: fast settings, private directories, no bound user,
        the database open, a transaction marked like TestCase's (rolled back at the end)."""
        from govshare.core import audit, context
        from tests import db_states

        values = {**FAST, "GOVSHARE_SEARCH_DIR": self.tmp / "search", "GOVSHARE_LETTERS_DIR": self.tmp / "letters",
                  "GOVSHARE_DEMO_DIR": self.tmp / "demo",
                  # the demo's front-end databases, centre, downloads and uploads: the session's own, never the
                  # developer's data dir (a centre left from an earlier run made the demo's copies "unchanged")
                  "GOVSHARE_SOURCE_DIR": self.tmp / "sources", "GOVSHARE_SOURCE_ALLOW_LOOPBACK": True,
                  "GOVSHARE_DATASTORE_URL": f"sqlite:///{self.tmp / 'datastore.sqlite3'}",
                  "GOVSHARE_DOWNLOAD_DIR": self.tmp / "downloads", "GOVSHARE_UPLOAD_DIR": self.tmp / "uploads",
                  **extra}
        with self.blocker.unblock(), override_settings(**values), \
                context.bind(user=None, ip="", request_id=""), db_states.rolled_back_build():
            try:
                yield
            finally:
                audit.discard_pending()

    def _layer(self, before: Any, build: Callable[[], Any]) -> tuple[Layer, Any]:
        from govshare.core import audit
        from tests import db_states

        outbox, pending = len(mail.outbox), len(audit._pending.get())
        obj = build()
        after = db_states.snapshot()
        layer = Layer(db_states.diff(before, after), obj, list(mail.outbox[outbox:]),
                      tuple(audit._pending.get()[pending:]))  # this layer's own, not the layers below
        del mail.outbox[outbox:]
        return layer, after

    def build_org_layers(self) -> None:
        from tests import db_states
        from tests.catalog_helpers import CatalogOrg
        from tests.sharing_helpers import ShareOrg

        with self._building():
            state = db_states.snapshot()
            self.layers["org"], state = self._layer(state, Org)
            self.layers["cat"], state = self._layer(state, lambda: CatalogOrg(self.layers["org"].obj))
            self.layers["share"], state = self._layer(state, lambda: ShareOrg(self.layers["cat"].obj))
        with self.blocker.unblock():
            for layer in self.layers.values():
                db_states.move_id_counters_past(layer.rows.max_ids())

    def build_demo(self) -> None:
        from govshare.core.demo import load_demo
        from tests import db_states

        with self._building(EMAIL_HOST=""):
            self.demo, _state = self._layer(db_states.snapshot(), load_demo)
        with self.blocker.unblock():
            db_states.move_id_counters_past(self.demo.rows.max_ids())

    def demo_search_index(self) -> Path:
        """The search index of the demo catalog, built once (copy it before use: tests may write)."""
        if self.demo_search is None:
            from govshare.catalog import search
            from tests import db_states

            assert self.demo is not None
            path = self.tmp / "demo-search"
            with self._building(GOVSHARE_SEARCH_DIR=path):
                db_states.apply(self.demo.rows)
                search.rebuild()
            self.demo_search = path
        return self.demo_search

    # -- copying into a test

    def copy_into_test(self, name: str, copies: dict[int, Any]) -> Any:
        """Write the layer's rows into the current transaction; a deep copy of its object (sharing one
        memo per test, so that ``share.cat is cat`` and ``cat.org is org`` as when built in the test)."""

        layer = self.layers[name]
        self.write(name)
        replay_side_effects(layer, copies)
        return copy.deepcopy(layer.obj, copies)

    def layer_rows(self, name: str) -> Any:
        return self.demo.rows if name == "demo" and self.demo is not None else self.layers[name].rows

    def write(self, name: str) -> None:
        """Write the layer's rows into the current transaction, unless they are held below it."""
        from tests import db_states

        if name not in _Held.layers:
            db_states.apply(self.layer_rows(name))


# ------------------------------------------------------------------ a state held open for a run of tests


class _Held:
    """The shared layers a run of tests uses, written once into a transaction that stays open while
    consecutive tests ask for the same layers: each test's own transaction (``db``) is then a savepoint
    inside it, and rolling it back leaves the layers as written — instead of writing them again for
    every test (hundreds of rows; on PostgreSQL 6–16 ms a test, issue 8).  The tests of a module are
    ordered by the layers they use (:func:`pytest_collection_modifyitems`), so the transaction changes
    a few times per module.  It is opened only when no other transaction is open (a module fixture
    that holds its own, like ``demo_data_module``, keeps working as before: its tests copy the rows)
    and closed before a test that asks for other layers, none, or commits."""

    layers: tuple[str, ...] = ()
    block: Any = None

    @classmethod
    def close(cls) -> None:
        if cls.block is None:
            return
        from django.db import connection

        block, cls.block, cls.layers = cls.block, None, ()
        assert connection.atomic_blocks and connection.atomic_blocks[-1] is block, \
            "a transaction opened inside the held state was left open"
        with _Shared.blocker.unblock():
            transaction.set_rollback(True)
            block.__exit__(None, None, None)

    @classmethod
    def hold(cls, layers: tuple[str, ...]) -> None:
        """Hold ``layers`` for the next test (or nothing, where they cannot be held)."""
        from django.db import connection

        if layers == cls.layers and not connection.needs_rollback:
            return
        cls.close()
        states = _Shared.states
        if not layers or states is None:  # the states are built with the first database test
            return
        from tests import db_states

        if connection.atomic_blocks:
            return
        if "demo" in layers and states.demo is None:
            states.build_demo()
        with _Shared.blocker.unblock():
            block = transaction.atomic()
            block._from_testcase = True  # type: ignore[attr-defined]  # like TestCase's: durable blocks may open inside
            block.__enter__()
            try:
                for name in layers:
                    db_states.apply(states.layer_rows(name))
            except BaseException:
                transaction.set_rollback(True)
                block.__exit__(None, None, None)
                raise
        cls.block, cls.layers = block, layers


#: the layers a test's fixtures write, in the order they are written
_LAYERS_OF = (("org", {"org", "cat", "share"}), ("cat", {"cat", "share"}), ("share", {"share"}),
              ("demo", {"demo_data"}))


def _wanted_layers(item: pytest.Item) -> tuple[str, ...]:
    names = set(getattr(item, "fixturenames", ()))
    if not names & {"org", "cat", "share", "demo_data"} or _commits(item) or _holds_a_wider_transaction(item):
        return ()
    return tuple(layer for layer, asked_by in _LAYERS_OF if names & asked_by)


def _holds_a_wider_transaction(item: pytest.Item) -> bool:
    """Does the test use a module- or class-wide fixture of ours that reaches the database (and may keep
    its own transaction open across tests, like ``demo_data_module``)?"""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    defs = info.name2fixturedefs

    def reaches_database(name: str, seen: set[str]) -> bool:
        if name == "django_db_blocker":
            return True
        if name in seen or not defs.get(name):
            return False
        seen.add(name)
        return any(reaches_database(arg, seen) for arg in defs[name][-1].argnames)

    return any(defs.get(name) and defs[name][-1].scope in ("module", "class", "package")
               and str(getattr(defs[name][-1].func, "__module__", "")).startswith("tests")  # not pytest-django's
               and reaches_database(name, set()) for name in item.fixturenames)


def _state_rank(item: pytest.Item) -> int:
    names = set(getattr(item, "fixturenames", ()))
    for rank, fixture in enumerate(("share", "cat", "org", "demo_data")):
        if fixture in names:
            return rank
    return 4


def replay_side_effects(layer: Layer, copies: dict[int, Any]) -> None:
    from govshare.core import audit

    if layer.outbox:
        mail.outbox.extend(copy.deepcopy(layer.outbox, copies))
    if layer.pending:
        audit._pending.set((*audit._pending.get(), *copy.deepcopy(layer.pending, copies)))


class _Shared:
    """The per-process registry the hooks below reach (pytest hooks cannot request fixtures)."""

    baseline: Any = None  # tests.db_states.Snapshot of the freshly migrated database
    blocker: Any = None
    states: SharedStates | None = None


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[None]:
    """pytest-django's test database, plus a snapshot of what the migrations left in it (written back
    after a test that commits, see :func:`pytest_runtest_teardown`), and the ``org`` / ``cat`` /
    ``share`` layers, built now — before any test opens a transaction — so that moving the id
    counters past their ids sticks (a few hundred milliseconds)."""
    from django.db import connection

    from tests import db_states

    name = str(connection.settings_dict["NAME"])
    assert "test" in name or "memory" in name, f"refusing to build test states in {name!r}"
    with django_db_blocker.unblock():
        _Shared.baseline = db_states.snapshot()
    _Shared.blocker = django_db_blocker
    _Shared.states = SharedStates(django_db_blocker, tmp_path_factory.mktemp("shared-states"))
    _Shared.states.build_org_layers()
    yield
    _Held.close()  # before pytest-django drops the test database


@pytest.fixture(scope="session")
def _shared_states(django_db_setup: None) -> SharedStates:
    assert _Shared.states is not None
    return _Shared.states


@pytest.fixture(scope="session")
def _demo_state(_shared_states: SharedStates) -> SharedStates:
    """The demo, loaded once per test process on first use (a session fixture, so before any test's
    transaction)."""
    if _shared_states.demo is None:
        _shared_states.build_demo()
    return _shared_states


@pytest.fixture
def _copies() -> dict[int, Any]:
    """One deep-copy memo per test: the objects of ``org``, ``cat`` and ``share`` refer to each other."""
    return {}


def _commits(item: pytest.Item) -> bool:
    """Does this test commit (and so end with Django's flush of every table)?"""
    names = set(getattr(item, "fixturenames", ()))
    if names & {"transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback"}:
        return True
    marker = item.get_closest_marker("django_db")
    if marker is None:
        return False
    return bool(marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
                or marker.kwargs.get("reset_sequences") or marker.kwargs.get("serialized_rollback"))


#: the PostgreSQL pass of ``make test`` (scripts/with_postgres.py)
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")

#: fixtures that read or write the shared states, hence the test database
STATE_FIXTURES = {"org", "cat", "share", "demo_data", "demo_data_module", "_shared_states", "_demo_state"}


@pytest.hookimpl(tryfirst=True)  # before xdist's worker names the groups in the node ids (@demo)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that use the demo run in one xdist worker (``--dist loadgroup`` in pyproject.toml), so
    that one process, not each, pays for loading it; the tests of the demo site (subprocesses: a demo
    load of their own, a real server, the browser) form a second group, which xdist starts at the same
    time on another worker (largest groups first) instead of queueing it behind the first."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & STATE_FIXTURES and item.get_closest_marker("django_db") is None:
            # pytest-django creates the test database only for the aliases its marked tests use: a
            # module whose tests use the shared states without ``db`` must still get it (never the
            # configured database).
            item.add_marker(pytest.mark.django_db)
        if {"demo_data", "demo_data_module"} & names:
            item.add_marker(pytest.mark.xdist_group("demo"))
        elif "demo_site" in names:
            item.add_marker(pytest.mark.xdist_group("demo-site"))
            if ON_POSTGRES:
                item.add_marker(pytest.mark.skip(reason="runs once, in the SQLite pass: the demo site is its "
                                                        "own SQLite database, whatever the run's"))
        elif {"pg_source_url", "mysql_source_url"} & names:
            # one worker starts the source servers, not each (tests/source_servers.py)
            item.add_marker(pytest.mark.xdist_group("sources"))
        if ON_POSTGRES and item.get_closest_marker("once"):
            item.add_marker(pytest.mark.skip(reason="independent of the platform's database: runs once, in the "
                                                    "SQLite pass"))
    order_by_layers(items)


def order_by_layers(items: list[Any]) -> None:
    """Within each module (and class), the tests that use the same shared layers one after the other,
    so that the layers are held across them (:class:`_Held`).  pytest-django's reordering, which
    follows, keeps this order within each of its kinds of test."""
    first_seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.parent, index)
    order = {id(item): (first_seen[item.parent], _state_rank(item), index) for index, item in enumerate(items)}
    items.sort(key=lambda item: order[id(item)])


class _LongTestsFirst:
    """Long single tests first (``pytest.mark.run_first``): ``--dist loadgroup`` hands out work in the
    order of the items, and one at the end keeps the other worker idle while it runs.  After
    pytest-django's reordering, which moves the tests without the database to the end."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        move_long_tests_first(items)


def move_long_tests_first(items: list[Any]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("run_first") is None)


class _GroupsInNodeIds:
    """xdist (3.8) names an item's group by appending ``@group`` to ``item._nodeid``; pytest 9.2 reads
    the node id from ``item._id`` instead, so the groups are silently lost and every worker loads the
    demo (pytest-dev/pytest-xdist#1386).  Copy the suffix into ``_id`` after xdist's hook has run."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        try:
            from _pytest.nodeid import NodeId
        except ImportError:  # pytest before 9.2: ``_nodeid`` is the node id
            return
        for item in items:
            named = getattr(item, "_nodeid", None)
            if isinstance(named, str) and "@" in named and named != item.nodeid:
                item._id = NodeId.parse(named)  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("govshare-groups-in-node-ids"):
        config.pluginmanager.register(_GroupsInNodeIds(), "govshare-groups-in-node-ids")
    if not config.pluginmanager.has_plugin("govshare-long-tests-first"):
        config.pluginmanager.register(_LongTestsFirst(), "govshare-long-tests-first")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the test's fixtures: hold the shared layers it uses (or close those held)."""
    _Held.hold(_wanted_layers(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    result = yield
    # pytest-django runs the committing tests after the others; the last test's teardown has already
    # dropped the test database (nextitem is None)
    if _Shared.baseline is not None and nextitem is not None and _commits(item):
        from tests import db_states

        with _Shared.blocker.unblock():
            db_states.restore_baseline(_Shared.baseline)
    return result


# ------------------------------------------------------------------ the demo, loaded once per test process


@dataclass
class DemoData:
    """The full demo (``load_demo()``: core, catalog and sharing) in the database."""

    search_dir: Path  # a private copy of the demo catalog's search index


def _demo(states: SharedStates, where: Path, copies: dict[int, Any]) -> DemoData:

    assert states.demo is not None
    states.write("demo")
    replay_side_effects(states.demo, copies)
    return DemoData(search_dir=where)


@pytest.fixture
def demo_data(db: Any, _demo_state: SharedStates, _copies: dict[int, Any]) -> DemoData:
    """The full demo, written into this test's transaction (rolled back with it).  The test's own
    search index directory is left empty (built from the database on first search)."""
    from django.conf import settings

    return _demo(_demo_state, Path(settings.GOVSHARE_SEARCH_DIR), _copies)


@pytest.fixture(scope="module")
def demo_data_module(_demo_state: SharedStates, django_db_blocker: Any,
                     tmp_path_factory: Any) -> Iterator[DemoData]:
    """The full demo for a whole module, in a transaction rolled back after its last test.  Tests only
    read it; a test that writes asks for ``db`` too and gets its own rollback.  ``search_dir`` is a copy
    of the demo's search index for the module (point ``settings.GOVSHARE_SEARCH_DIR`` at it)."""
    from tests import db_states

    with django_db_blocker.unblock():
        index = _demo_state.demo_search_index()
    where = tmp_path_factory.mktemp("demo-module") / "search"
    shutil.copytree(index, where)
    with django_db_blocker.unblock(), override_settings(**FAST), db_states.rolled_back_build():
        yield _demo(_demo_state, where, {})


# ------------------------------------------------------------------ a demo site for tests that run the real thing


@pytest.fixture(scope="session")
def _demo_site_template(tmp_path_factory: Any) -> Path:
    """``govshare demo --no-serve`` once per test process into its own SQLite database and data dir."""
    import subprocess
    import sys

    base = tmp_path_factory.mktemp("demo-site-template")
    env = demo_site_env(base)
    subprocess.run([sys.executable, "-m", "govshare.cli", "demo", "--no-serve"], env=env, check=True,
                   cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, timeout=900)
    return base


def demo_site_env(base: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update({"DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}", "GOVSHARE_DATA_DIR": str(base / "data"),
                "DJANGO_SETTINGS_MODULE": "govshare.settings", "EMAIL_HOST": "", "DEBUG": "false",
                "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture(scope="module")
def demo_site(_demo_site_template: Path, tmp_path_factory: Any) -> dict[str, str]:
    """The environment of a demo site (``DATABASE_URL`` of a SQLite file, ``GOVSHARE_DATA_DIR``) for
    subprocesses (``govshare serve``, ``govshare demo``): a private copy, for the module, of the demo
    loaded once per test process — the tests that use it run in one xdist worker."""
    import sqlite3

    base = tmp_path_factory.mktemp("demo-site")
    if (_demo_site_template / "data").exists():
        shutil.copytree(_demo_site_template / "data", base / "data")
    source, target = sqlite3.connect(_demo_site_template / "db.sqlite3"), sqlite3.connect(base / "db.sqlite3")
    with source, target:
        source.backup(target)
    source.close()
    target.close()
    return demo_site_env(base)
