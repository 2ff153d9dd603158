"""What every app's JSON API shares: authentication, paging and references to objects (issue 8).

* Authentication — :class:`TokenAuth` (``Authorization: Bearer gs_…``; a read-only token is
  refused on writes), :class:`SessionAuth` (the browser session, CSRF checked on writes; it stays
  out of the way when a token was sent, so a refused token is answered as such — 403
  ``token_read_only`` — and never as a failed CSRF check), :class:`OptionalAuth` / :data:`PUBLIC`
  for endpoints the public may read.
* Paging — :func:`page_of` (total and one page of rows), :func:`page` (the ``{total, page, per_page,
  items}`` shape every list endpoint answers).
* References — :func:`known` (an object named by code in a body), :func:`named` (by id): unknown
  and invisible both answer 400 naming the field; an object in a *path* answers 404 through
  ``get_for``.

These live in core so that app APIs import them from here and never from each other (catalog and
sharing used to import each other's helpers, a cycle through ``govshare/api.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.security import APIKeyCookie, HttpBearer

from govshare.core import context
from govshare.core.errors import NotFound, ValidationFailed
from govshare.core.permissions import Action, get_for

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# ------------------------------------------------------------------ authentication

def sent_a_token(request: HttpRequest) -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


class TokenAuth(HttpBearer):
    """A personal API token; ``request.auth_rejection`` says why one was refused (read_only, expired …).

    A request that sends a token acts as the token's user, whatever session cookie came along:
    the session user is taken out of the audit context *before* the token is checked (its
    TOKEN_USED / TOKEN_REJECTED rows name the token's user, never the session's), and the token's
    user is bound once it is accepted (SEC-4)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from django.contrib.auth.models import AnonymousUser

        from govshare.core.actions.auth import authenticate_token

        context.set_user(None)
        request.user = AnonymousUser()
        user, api_token, reason = authenticate_token(token, write=request.method not in SAFE_METHODS)
        if user is None:
            request.auth_rejection = reason  # type: ignore[attr-defined]
            return None
        context.set_user(user)
        request.user = user
        request.api_token = api_token  # type: ignore[attr-defined]
        return user


class SessionAuth(APIKeyCookie):
    """The logged-in browser session; CSRF is checked on writes.

    When the request carries a bearer token the token alone decides: a refused token is answered
    with its own reason (e.g. 403 ``token_read_only``), not with the session's CSRF check."""

    param_name = "sessionid"

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        if sent_a_token(request):
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None


class OptionalAuth:
    """For endpoints the public may read: identifies a user when possible, never refuses (a bad token is)."""

    def __call__(self, request: HttpRequest) -> Any:
        if sent_a_token(request):
            return TokenAuth()(request) or False
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else True


#: ``auth=PUBLIC`` on an endpoint the public may read
PUBLIC = [OptionalAuth()]

#: what a refused token is answered with: (status, Chinese, English)
TOKEN_REJECTIONS: dict[str, tuple[int, str, str]] = {
    "missing": (401, "需要登录或提供 API 令牌。", "Authentication required: log in or send an API token."),
    "malformed": (401, "API 令牌格式不正确。", "The API token is malformed."),
    "unknown": (401, "API 令牌无效。", "The API token is not valid."),
    "revoked": (401, "API 令牌已被吊销。", "The API token has been revoked."),
    "expired": (401, "API 令牌已过期。", "The API token has expired."),
    "user_inactive": (401, "该账号已停用。", "The account is deactivated."),
    "read_only": (403, "只读令牌不能执行写操作: 令牌没有写权限。",
                  "A read-only token cannot be used to write: the token lacks write scope."),
}


def auth_error(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """Status and body of a refused authentication, ``message`` in the reader's language."""
    from django.utils import translation

    reason = getattr(request, "auth_rejection", "") or "missing"
    if reason not in TOKEN_REJECTIONS:
        reason = "unknown"
    status, zh, en = TOKEN_REJECTIONS[reason]
    english = (translation.get_language() or "").lower().startswith("en")
    code = "auth_required" if reason == "missing" else f"token_{reason}"
    return status, {"error": {"code": code, "message": en if english else zh, "message_zh": zh, "message_en": en}}


# ------------------------------------------------------------------ requests, paging, references

def user_of(request: HttpRequest) -> Any:
    return request.user


def own_department_id(user: Any) -> int | None:
    return getattr(user, "department_id", None)


def page_of(qs: QuerySet[Any], page: int, per_page: int) -> tuple[int, list[Any]]:
    """The total and the rows of page ``page`` (1-based); past the end, no rows."""
    total = qs.count()
    start = (page - 1) * per_page
    return total, list(qs[start:start + per_page]) if start < total else []


def page(qs: QuerySet[Any], query: Any, row: Callable[[Any], Any]) -> dict[str, Any]:
    """``{total, page, per_page, items}`` for a query with ``page`` and ``per_page``."""
    total, rows = page_of(qs, query.page, query.per_page)
    return {"total": total, "page": query.page, "per_page": query.per_page, "items": [row(r) for r in rows]}


def _in_body(message: Any, user: Any, model: Any, field: str, value: Any, lookup: dict[str, Any]) -> Any:
    try:
        return get_for(user, Action.VIEW, model, **lookup)
    except NotFound:
        raise ValidationFailed(f"unknown_{field}", message, field=field, value=value) from None


def known(user: Any, model: Any, field: str, value: Any, **lookup: Any) -> Any:
    """An object named by code in a request body: unknown and invisible both answer 400 naming the field."""
    return _in_body(_("Nothing with code %(value)s was found."), user, model, field, value, lookup)


def named(user: Any, model: Any, field: str, value: Any, **lookup: Any) -> Any:
    """An object named by id in a request body: unknown and invisible both answer 400 naming the field."""
    return _in_body(_("Nothing with id %(value)s was found."), user, model, field, value, lookup)


__all__ = ["OptionalAuth", "PUBLIC", "SAFE_METHODS", "SessionAuth", "TOKEN_REJECTIONS", "TokenAuth", "auth_error",
           "known", "named", "own_department_id", "page", "page_of", "sent_a_token", "user_of"]
