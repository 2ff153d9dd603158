"""Periodic housekeeping run by every ``govshare worker`` (from its heartbeat thread).

Apps register a function and an interval; :func:`run_due` calls each one whose interval has
passed.  The functions must be idempotent and claim their own work with conditional UPDATEs,
because several workers may run them at once.  ``govshare tick`` runs them all once by hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("govshare.periodic")


@dataclass
class _Hook:
    name: str
    fn: Callable[[], object]
    every: float
    last: float = field(default=0.0)


_HOOKS: dict[str, _Hook] = {}


def register(name: str, every_seconds: float) -> Callable[[Callable[[], object]], Callable[[], object]]:
    def add(fn: Callable[[], object]) -> Callable[[], object]:
        _HOOKS[name] = _Hook(name, fn, every_seconds)
        return fn

    return add


def hooks() -> list[str]:
    return sorted(_HOOKS)


def run_due(*, force: bool = False, only: set[str] | None = None) -> dict[str, object]:
    """Run the hooks whose interval has passed (all of them with ``force``; of them, those named in
    ``only`` when given); returns their results (a failed hook's exception)."""
    now = time.monotonic()
    results: dict[str, object] = {}
    for hook in list(_HOOKS.values()):
        if only is not None and hook.name not in only:
            continue
        if not force and now - hook.last < hook.every:
            continue
        hook.last = now
        try:
            results[hook.name] = hook.fn()
        except Exception as exc:  # noqa: BLE001 — one failing hook must not stop the others
            log.exception("periodic hook %s failed", hook.name)
            results[hook.name] = exc
    return results
