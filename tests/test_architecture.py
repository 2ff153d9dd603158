"""The shape of the code (brief; issue 8): apps depend one way only, the central files name no app (a new
app plugs itself in by being listed in INSTALLED_APPS), and no app imports another app's private names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "govshare"

#: each app may import the apps of the levels before its own, never an app of its own level or a later one:
#: core ← catalog ← sharing ← datastore ← exchange / gateway / opendata ← oversight, federation
LEVELS: list[tuple[str, ...]] = [("core",), ("catalog",), ("sharing",), ("datastore",),
                                 ("exchange", "gateway", "opendata"), ("oversight", "federation")]
APPS = [app for level in LEVELS for app in level]
IMPORT = re.compile(r"^\s*(?:from|import)\s+govshare\.(\w+)", re.MULTILINE)

#: the files every app shares: they find the apps through INSTALLED_APPS (govshare.core.plugins)
CENTRAL = ["api.py", "urls.py", "cli.py", "commands/__init__.py", "commands/_util.py"]


def _level(app: str) -> int:
    return next(i for i, level in enumerate(LEVELS) if app in level)


def allowed_imports(app: str) -> set[str]:
    return {a for a in APPS if _level(a) < _level(app)} | {app}


def _imports(app: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / app).rglob("*.py"):
        found.update(IMPORT.findall(path.read_text(encoding="utf-8")))
    return found & set(APPS)


def test_the_levels_are_the_coming_order() -> None:
    assert allowed_imports("datastore") == {"core", "catalog", "sharing", "datastore"}
    assert allowed_imports("gateway") == {"core", "catalog", "sharing", "datastore", "gateway"}
    assert "exchange" not in allowed_imports("opendata")  # the same level: no imports between them
    assert allowed_imports("federation") == set(APPS) - {"oversight"}


@pytest.mark.parametrize("app", [a for a in APPS if (ROOT / a).is_dir()])
def test_an_app_imports_only_apps_to_its_left(app: str) -> None:
    assert _imports(app) <= allowed_imports(app), f"{app} imports {sorted(_imports(app) - allowed_imports(app))}"


@pytest.mark.parametrize("name", CENTRAL)
def test_the_central_files_name_no_app(name: str) -> None:
    """Routers, URLs and commands are found through INSTALLED_APPS; only core (the platform) may be named."""
    text = (ROOT / name).read_text(encoding="utf-8")
    named = {m for m in re.findall(r"govshare[./](\w+)", text) if m in APPS} - {"core"}
    assert not named, f"govshare/{name} names the apps {sorted(named)}"


def _private_imports(path: Path, app: str) -> list[str]:
    """``from govshare.<other app>… import _name`` or of a ``_private`` module of another app."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("govshare."):
            parts = node.module.split(".")
            if len(parts) < 2 or parts[1] == app or parts[1] not in APPS:
                continue
            if any(p.startswith("_") and not p.startswith("__") for p in parts[2:]):
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if (len(parts) > 2 and parts[0] == "govshare" and parts[1] in APPS and parts[1] != app
                        and any(p.startswith("_") and not p.startswith("__") for p in parts[2:])):
                    found.append(alias.name)
    return found


@pytest.mark.parametrize("app", [a for a in APPS if (ROOT / a).is_dir()])
def test_no_app_imports_another_apps_private_names(app: str) -> None:
    bad = {str(path.relative_to(ROOT)): names for path in sorted((ROOT / app).rglob("*.py"))
           if (names := _private_imports(path, app))}
    assert not bad, f"private names imported across apps: {bad}"


def test_the_private_name_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("from govshare.core.permissions import _is_anonymous, restrict\n"
                      "from govshare.catalog.actions._common import required_text\n", encoding="utf-8")
    assert _private_imports(sample, "sharing") == ["govshare.core.permissions._is_anonymous",
                                                    "govshare.catalog.actions._common"]


API_IMPORT = re.compile(r"^\s*(?:from|import)\s+govshare(?:\.(\w+))?\.api\b|^\s*from\s+govshare\s+import\s+api\b", re.MULTILINE)


@pytest.mark.parametrize("app", [a for a in APPS if (ROOT / a).is_dir()])
def test_an_apps_api_imports_no_other_api_module(app: str) -> None:
    """Paging, references and authentication come from core/api_helpers.py: no app imports another app's
    api.py or the central govshare/api.py (that was an import cycle); core's API schemas are shared."""
    bad = {}
    for path in sorted((ROOT / app).rglob("*.py")):
        owners = {m or "govshare" for m in API_IMPORT.findall(path.read_text(encoding="utf-8"))} - {app, "core"}
        if owners:
            bad[str(path.relative_to(ROOT))] = sorted(owners)
    assert not bad, f"API modules imported across apps: {bad}"
