"""Per-request (or per-command) context the audit path reads: user, IP, request id.

Set by :class:`govshare.core.middleware.RequestIdMiddleware` for web requests and by the CLI for
commands; a contextvar, so it is correct under threads and asyncio.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    user: Any = None
    ip: str = ""
    request_id: str = ""


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("govshare_request_context", default=_EMPTY)  # noqa: B039 (frozen)


def current() -> RequestContext:
    return _current.get()


@contextlib.contextmanager
def bind(**values: Any) -> Iterator[RequestContext]:
    base = _current.get()
    if "request_id" not in values and not base.request_id:
        values["request_id"] = str(uuid.uuid4())
    ctx = replace(base, **values)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_user(user: Any) -> None:
    _current.set(replace(_current.get(), user=user))
