"""The JSON API (django-ninja, OpenAPI 3.1 at /api/v1/openapi.json, docs at /api/v1/docs).

Authentication: a personal token (``Authorization: Bearer gs_…``) or the browser session (with
CSRF).  Read-only tokens are refused on writes.  Errors are :class:`GovshareError` rendered with
``message_zh`` and ``message_en``.  Each app adds its router in ``<app>/api.py``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyCookie, HttpBearer

from govshare.core import context
from govshare.core.errors import GovshareError

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from govshare.core.actions.auth import authenticate_token

        user, api_token, reason = authenticate_token(token, write=request.method not in SAFE_METHODS)
        if user is None:
            request.auth_rejection = reason  # type: ignore[attr-defined]
            return None
        request.user = user
        request.api_token = api_token  # type: ignore[attr-defined]
        context.set_user(user)
        return user


class SessionAuth(APIKeyCookie):
    """The logged-in browser session; CSRF is checked on writes."""

    param_name = "sessionid"

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None


class OptionalAuth:
    """For endpoints the public may read: identifies a user when possible, never refuses."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return TokenAuth()(request) or False
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else True


api = NinjaAPI(
    title="govshare API",
    version="1",
    description="政务信息资源共享与开放平台 — JSON API. Requirement IDs (CAT, SHR, EXC, OPN, SEC, SUP, WEB) "
                "refer to REQUIREMENTS.md.",
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(GovshareError)
def _govshare_error(request: HttpRequest, exc: GovshareError) -> HttpResponse:
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.status)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    reason = getattr(request, "auth_rejection", "") or "missing"
    messages = {
        "missing": ("需要登录或提供 API 令牌。", "Authentication required: log in or send an API token."),
        "malformed": ("API 令牌格式不正确。", "The API token is malformed."),
        "unknown": ("API 令牌无效。", "The API token is not valid."),
        "revoked": ("API 令牌已被吊销。", "The API token has been revoked."),
        "expired": ("API 令牌已过期。", "The API token has expired."),
        "user_inactive": ("该账号已停用。", "The account is deactivated."),
        "read_only": ("只读令牌不能执行写操作。", "A read-only token cannot be used to write."),
    }
    zh, en = messages.get(reason, messages["unknown"])
    status = 403 if reason == "read_only" else 401
    body = {"error": {"code": f"token_{reason}" if reason != "missing" else "auth_required",
                      "message": zh, "message_zh": zh, "message_en": en}}
    return api.create_response(request, body, status=status)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """ninja's own errors (a body that is not JSON, …) in the same bilingual shape as ours."""
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        zh, en, code = "请求体不是有效的 JSON。", "The request body is not valid JSON.", "invalid_json"
    else:
        zh, en, code = f"请求无法处理: {exc}", str(exc), "http_error"
    body = {"error": {"code": code, "message": zh, "message_zh": zh, "message_en": en}}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in {"body", "payload", "query"})
        errors.append({"field": loc, "message_en": err.get("msg", ""), "type": err.get("type", "")})
    first = errors[0] if errors else {"field": "", "message_en": "invalid input"}
    body = {"error": {"code": "invalid_input", "field": first["field"],
                      "message": f"输入有误: {first['field']}: {first['message_en']}",
                      "message_zh": f"输入有误: {first['field']}: {first['message_en']}",
                      "message_en": f"Invalid input: {first['field']}: {first['message_en']}",
                      "errors": errors}}
    return api.create_response(request, body, status=422)


def _register_routers() -> None:
    from govshare.catalog.api import router as catalog_router
    from govshare.core.api import router as core_router
    from govshare.core.api_inbox import router as inbox_router
    from govshare.sharing.api import router as sharing_router

    api.add_router("/", core_router)
    api.add_router("/me/notifications", inbox_router)
    api.add_router("/catalog", catalog_router)
    api.add_router("/sharing", sharing_router)


_register_routers()
