"""How a consuming system authenticates on the delivery channels (issue 11 item 3): its own key,
``Authorization: Bearer gsk_…`` (:mod:`govshare.sharing.actions.system_keys`).  A request with a system key acts
as the system, never as a user: the access check (:func:`govshare.sharing.access.check_access`) gets the system,
and the access log names the system and its department."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from govshare.core import context, stamps
from govshare.sharing.actions.system_keys import KEY_PREFIX, authenticate_system_key


class SystemKeyAuth(HttpBearer):
    """A system key; any other bearer token is left to the next authentication (a personal token).  A key that
    is refused answers 401 with its reason (``token_revoked``, ``token_expired``, ``token_system_inactive`` …)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if not token.startswith(KEY_PREFIX + "_"):
            return None
        context.set_user(None)
        request.user = AnonymousUser()
        # the access stamp, read once and first: what the request keeps or finds kept (the key here, the delivery
        # in the data API) is all under this one value (govshare.core.stamps)
        request.access_stamp = stamps.read(stamps.ACCESS)  # type: ignore[attr-defined]
        system, key, reason = authenticate_system_key(token, stamp=request.access_stamp)  # type: ignore[attr-defined]
        if system is None:
            request.auth_rejection = reason  # type: ignore[attr-defined]
            raise AuthenticationError
        request.consuming_system = system  # type: ignore[attr-defined]
        request.system_key = key  # type: ignore[attr-defined]
        return system


def access_stamp_of(request: HttpRequest) -> Any:
    """The access stamp as a system's request read it before anything else (None: not a system's request)."""
    return getattr(request, "access_stamp", None)


def system_of(request: HttpRequest) -> Any:
    """The consuming system a request authenticated as (None: a user, or nobody)."""
    return getattr(request, "consuming_system", None)


def channel_auth() -> list[Any]:
    """The authentication of the data channels' endpoints (the data API, shared files): a consuming system's key
    first (``Bearer gsk_…``), then a personal token or the browser session."""
    from govshare.core.api_helpers import SessionAuth, TokenAuth

    return [SystemKeyAuth(), TokenAuth(), SessionAuth()]
