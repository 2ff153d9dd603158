"""A test-time guard: every write of a domain model goes through an action (brief; issue 8).

Registered from tests/conftest.py (``pytest_plugins``).  While a test runs, each write of a model of a
govshare app — ``save()`` and ``delete()`` (pre_save / pre_delete signals) and the QuerySet's
``update()``, ``bulk_create()`` and ``delete()`` — looks at the call stack: walking outwards from the
write, the repository frames (govshare/ and tests/) must reach

* an action module (``govshare/<app>/actions/``), or
* core infrastructure that is itself the writer: the audit log, notifications, jobs and periodic
  bookkeeping, the working-day clock's deadlines, demo loaders, migrations (and Django's own
  ``last_login`` update on login),

before they reach the test.  A write whose first repository frame is the test itself (fixtures
building data, a test arranging a state) is allowed.  Anything else — a view, an API handler, a
command writing on its own — is recorded, and the test fails after its body ran, naming the model,
the operation and the frame that wrote.

``GOVSHARE_GUARD_ACTIONS=0`` switches the guard off (e.g. to profile the suite).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
GOVSHARE = REPO / "govshare"
TESTS = REPO / "tests"
THIS = Path(__file__).resolve()

#: modules (relative to govshare/) that are themselves the writer of their rows
INFRASTRUCTURE = (
    "core/audit.py",  # the audit log (hash chain, pending denials)
    "core/notify.py",  # inbox rows
    "core/jobs.py",  # job rows, heartbeats, checkpoints
    "core/periodic.py",
    "core/workdays.py",  # Deadline rows opened, bound and recomputed for the actions that own them
    "core/demo.py",
    "core/signals.py",  # login/logout bookkeeping
    "core/keys.py",  # the key's fingerprint, stored the first time (SEC-5)
)
INFRASTRUCTURE_PARTS = ("/actions/", "/migrations/", "/demo.py", "/demo/", "/hooks.py", "/management/")

#: apps whose models are not domain models
EXCLUDED_APPS: set[str] = set()

_state: dict[str, Any] = {"active": False, "violations": []}


def _enabled() -> bool:
    return os.environ.get("GOVSHARE_GUARD_ACTIONS", "1") != "0"


def _is_domain_model(model: Any) -> bool:
    meta = getattr(model, "_meta", None)
    if meta is None or meta.app_config is None:
        return False
    return meta.app_config.name.startswith("govshare.") and meta.app_label not in EXCLUDED_APPS


@functools.cache
def _where(filename: str) -> tuple[str, str]:
    """What a code file is to the guard, once per file: ``("", "")`` outside the repository (and this
    module), else ``(kind, path relative to the repository)`` with kind ``tests``, ``allowed`` (an action
    or infrastructure that is itself the writer) or ``govshare``."""
    path = Path(filename)
    if not path.is_absolute() or path == THIS:
        return "", ""
    if path.is_relative_to(TESTS):
        return "tests", str(path.relative_to(REPO))
    if path.is_relative_to(GOVSHARE):
        return ("allowed" if _allowed_writer(path) else "govshare"), str(path.relative_to(REPO))
    return "", ""


def _allowed_writer(path: Path) -> bool:
    rel = path.relative_to(GOVSHARE).as_posix()
    return rel in INFRASTRUCTURE or any(part in f"/{rel}" for part in INFRASTRUCTURE_PARTS)


#: Django's own bookkeeping writing a govshare model (``last_login`` on login)
FRAMEWORK_WRITERS = {("django/contrib/auth/models.py", "update_last_login")}
_FRAMEWORK_NAMES = {fn for _f, fn in FRAMEWORK_WRITERS}


def writer() -> str | None:
    """None when the write on the stack is allowed, else the repository file that wrote.

    One walk outwards from the write: a framework writer anywhere on the stack allows it; otherwise
    the repository frames decide — the test reached first (or before any other repository frame),
    or an action/infrastructure frame, allows it; else the innermost repository frame wrote."""
    first: str | None = None
    decided, verdict = False, None
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name in _FRAMEWORK_NAMES:
            name = code.co_filename.replace("\\", "/")
            if any(name.endswith(f) and code.co_name == fn for f, fn in FRAMEWORK_WRITERS):
                return None
        if not decided:
            kind, rel = _where(code.co_filename)
            if kind == "tests":
                decided, verdict = True, first
            elif kind:
                first = first if first is not None else rel
                if kind == "allowed":
                    decided, verdict = True, None
        frame = frame.f_back  # type: ignore[assignment]
    return verdict if decided else first


def check(model: Any, operation: str) -> None:
    if not _state["active"] or not _is_domain_model(model):
        return
    culprit = writer()
    if culprit is not None:
        _state["violations"].append(f"{model._meta.label}.{operation} by {culprit}")


def _pre_save(sender: Any, **kwargs: Any) -> None:
    if not kwargs.get("raw"):
        check(sender, "save")


def _pre_delete(sender: Any, **kwargs: Any) -> None:
    check(sender, "delete")


def _patch_querysets() -> None:
    from django.db.models.query import QuerySet

    if getattr(QuerySet, "_govshare_guarded", False):
        return
    for name in ("update", "bulk_create", "bulk_update", "_raw_delete"):
        original = getattr(QuerySet, name)

        def guarded(self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any) -> Any:
            check(self.model, __name.lstrip("_"))
            return __original(self, *args, **kwargs)

        guarded.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(QuerySet, name, guarded)
    QuerySet._govshare_guarded = True  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "writes_outside_actions: the test is exempt from the actions guard")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _enabled():
        from django.db.models.signals import pre_delete, pre_save

        pre_save.connect(_pre_save, dispatch_uid="govshare_guard_actions_save")
        pre_delete.connect(_pre_delete, dispatch_uid="govshare_guard_actions_delete")
        _patch_querysets()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    exempt = item.get_closest_marker("writes_outside_actions") is not None
    _state["active"], _state["violations"] = _enabled() and not exempt, []
    try:
        result = yield
    finally:
        _state["active"] = False
    found = list(dict.fromkeys(_state["violations"]))
    if found:
        raise AssertionError("domain models written outside an action (govshare/<app>/actions/):\n  "
                             + "\n  ".join(found))
    return result
