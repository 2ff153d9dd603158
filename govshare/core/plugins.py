"""How an app plugs itself in: by being listed in ``INSTALLED_APPS`` (issue 8, "registries").

The central files (``govshare/api.py``, ``govshare/urls.py``, ``govshare/cli.py``) name no app.  They
ask this module for the govshare apps in ``INSTALLED_APPS`` order and pick up, by module convention:

* ``<app>/api.py`` — ``router`` (a ninja ``Router``), mounted under ``/api/v1`` + ``api_prefix``
  (default ``/<label>``);
* ``<app>/urls.py`` — ``urlpatterns`` with ``app_name`` (the namespace), mounted at ``url_prefix``
  (default ``<label>/``; an app with the empty prefix is mounted after the others);
* ``<app>/commands.py`` — ``register(subparsers)`` adding the app's ``govshare <command>``.

Navigation items, permission rules, job handlers, periodic hooks, clocked kinds and demo loaders
are registered from the app's ``AppConfig.ready()`` into their core registries.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

PACKAGE = "govshare."


@dataclass(frozen=True)
class AppModule:
    app: str  # dotted app module, e.g. govshare.sharing
    label: str  # e.g. sharing
    module: ModuleType


def govshare_apps(installed: list[str] | None = None) -> list[str]:
    """The govshare apps in ``INSTALLED_APPS`` order (read from the settings, no ``django.setup()`` needed)."""
    if installed is None:
        from django.conf import settings

        installed = list(settings.INSTALLED_APPS)
    names = []
    for entry in installed:
        name = entry.split(".apps.")[0] if ".apps." in entry else entry
        if name.startswith(PACKAGE):
            names.append(name)
    return names


def _has_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False


def app_modules(submodule: str, installed: list[str] | None = None) -> Iterator[AppModule]:
    """``<app>.<submodule>`` of every govshare app that has one, imported, in ``INSTALLED_APPS`` order."""
    for app in govshare_apps(installed):
        dotted = f"{app}.{submodule}"
        if _has_module(dotted):
            yield AppModule(app, app.rsplit(".", 1)[1], importlib.import_module(dotted))


def api_routers() -> list[tuple[str, object]]:
    """(prefix, router) of every app that has ``api.py`` with a ``router``."""
    found = []
    for item in app_modules("api"):
        router = getattr(item.module, "router", None)
        if router is not None:
            found.append((getattr(item.module, "api_prefix", f"/{item.label}"), router))
    return found


def url_includes() -> list[tuple[str, str, str]]:
    """(prefix, urls module, namespace) of every app that has ``urls.py``; empty prefixes last."""
    found = []
    for item in app_modules("urls"):
        prefix = getattr(item.module, "url_prefix", f"{item.label}/")
        found.append((prefix, item.module.__name__, getattr(item.module, "app_name", item.label)))
    return [f for f in found if f[0]] + [f for f in found if not f[0]]


def command_modules(installed: list[str] | None = None) -> list[ModuleType]:
    """The ``commands`` modules of the apps (each with ``register(subparsers)``)."""
    return [item.module for item in app_modules("commands", installed) if hasattr(item.module, "register")]
