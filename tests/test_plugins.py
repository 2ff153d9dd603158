"""Apps plug themselves in (issue 8, registries): an app in INSTALLED_APPS brings its API router, its URLs
and its console commands by module convention; the central files name no app (tests/test_architecture.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from govshare import cli
from govshare.core import plugins


def test_each_installed_app_brings_its_console_commands_and_an_app_left_out_brings_none() -> None:
    found = [m.__name__ for m in plugins.command_modules(["govshare.core", "govshare.catalog", "django.contrib.auth"])]
    assert found == ["govshare.catalog.commands"]
    everything = [m.__name__ for m in plugins.command_modules()]
    assert everything == ["govshare.catalog.commands", "govshare.sharing.commands", "govshare.datastore.commands",
                          "govshare.exchange.commands"]


def test_the_console_lists_the_platforms_commands_then_the_apps(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()
             if line.startswith("    ") and not line.startswith("     ")]
    assert names.index("demo") < names.index("jobs") < names.index("catalog") < names.index("sharing")


def test_each_installed_app_mounts_its_router_at_its_label_or_the_prefix_it_declares() -> None:
    prefixes = [prefix for prefix, _router in plugins.api_routers()]
    # core at the root of /api/v1, then INSTALLED_APPS order; the datastore declares the root too (/data/…,
    # /verify/…: issue 11)
    assert prefixes == ["/", "/catalog", "/sharing", "/", "/exchange"]


def test_each_installed_app_mounts_its_pages_and_the_root_app_comes_last() -> None:
    includes = plugins.url_includes()
    assert [(p, ns) for p, _module, ns in includes] == [("catalog/", "catalog"), ("sharing/", "sharing"),
                                                             ("data/", "datastore"), ("exchange/", "exchange"),
                                                             ("", "core")]


@pytest.mark.django_db
def test_the_mounted_routes_answer(client: Any) -> None:
    assert reverse("sharing:to_answer").startswith("/sharing/")
    assert reverse("api-v1:sharing_application_letter", kwargs={"application_id": 1}).startswith("/api/v1/sharing/")
    schema = client.get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/v1/catalog/entries", "/api/v1/sharing/applications", "/api/v1/me/notifications"} <= paths
