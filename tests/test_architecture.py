"""The apps depend one way only: core ← catalog ← sharing ← the rest (brief: no cycles)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "govshare"
ORDER = ["core", "catalog", "sharing", "exchange", "datastore", "gateway", "opendata", "oversight", "federation"]
IMPORT = re.compile(r"^\s*(?:from|import)\s+govshare\.(\w+)", re.MULTILINE)


def _imports(app: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / app).rglob("*.py"):
        found.update(IMPORT.findall(path.read_text(encoding="utf-8")))
    return found & set(ORDER)


@pytest.mark.parametrize("app", [a for a in ORDER if (ROOT / a).is_dir()])
def test_an_app_imports_only_apps_to_its_left(app: str) -> None:
    allowed = set(ORDER[: ORDER.index(app) + 1])
    if app not in ("core", "catalog"):
        allowed = set(ORDER[:3]) | {app}  # the later apps build on core, catalog and sharing
    assert _imports(app) <= allowed, f"{app} imports {sorted(_imports(app) - allowed)}"
