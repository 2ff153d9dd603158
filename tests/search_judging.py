"""The judged search set (issue 8, CAT-9): loading it and judging a query's hits.

Shared by ``tests/test_catalog_search_judged.py`` and ``bench/search_judged.py``; no Django import,
so the benchmark can load it before ``django.setup()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

JUDGED = Path(__file__).parent / "data" / "search_judged.yaml"


def load_judged(path: Path = JUDGED) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def judge(case: dict[str, Any], hits: list[Any]) -> list[str]:
    """What is wrong with ``hits`` (the search hits, best first) for a judged ``case`` (empty: right)."""
    top = hits[:3]
    names = [h.name for h in top]
    problems = [f"{name} not in the top 3" for name in case.get("expect", []) if name not in names]
    if "classification" in case and (not top or any(not h.classification.startswith(str(case["classification"]))
                                                      for h in top)):
        problems.append(f"top 3 not all under {case['classification']}")
    if "provider" in case and (not top or any(h.provider_code != case["provider"] for h in top)):
        problems.append(f"top 3 not all from {case['provider']}")
    return problems
