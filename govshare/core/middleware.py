"""Request id + audit context, and the Content-Security-Policy header (no request leaves the machine)."""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from govshare.core import access_log, audit, context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,36}$")

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@functools.lru_cache(maxsize=8)
def _trusted_networks(values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]:80``; None if not one."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_ip(request: HttpRequest) -> str:
    """The client's address, for audit rows, the request context and login protection (issue 9).

    ``REMOTE_ADDR`` unless it is one of ``GOVSHARE_TRUSTED_PROXIES`` (IPs or CIDRs): then
    ``X-Forwarded-For`` is read from the right, skipping trusted hops, and the first address not
    trusted is the client.  A client can put anything at the left of the header, so nothing left of
    that address is believed; without a trusted proxy the header is ignored altogether."""
    cached = getattr(request, "_govshare_client_ip", None)
    if cached is not None:
        return str(cached)
    from django.conf import settings

    remote = str(request.META.get("REMOTE_ADDR", ""))
    result = remote[:45]
    trusted = _trusted_networks(tuple(getattr(settings, "GOVSHARE_TRUSTED_PROXIES", ())))
    peer = _address(remote) if trusted else None
    if peer is not None and any(peer in net for net in trusted):
        result = str(peer)
        for hop in reversed(str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")):
            address = _address(hop)
            if address is None:
                break  # garbage: keep the last hop a trusted proxy vouched for
            result = str(address)
            if not any(address in net for net in trusted):
                break
    request._govshare_client_ip = result  # type: ignore[attr-defined]
    return result


def _from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the peer (``REMOTE_ADDR``) is one of ``GOVSHARE_TRUSTED_PROXIES`` — as for :func:`client_ip`."""
    from django.conf import settings

    trusted = _trusted_networks(tuple(getattr(settings, "GOVSHARE_TRUSTED_PROXIES", ())))
    peer = _address(str(request.META.get("REMOTE_ADDR", ""))) if trusted else None
    return peer is not None and any(peer in net for net in trusted)


class RequestIdMiddleware:
    """Binds request id, client IP and (lazily) the user into the audit context.

    The request id is ours (a UUID) unless the peer is a trusted proxy (``GOVSHARE_TRUSTED_PROXIES``,
    the setting :func:`client_ip` trusts) that sent ``X-Request-ID``: a client could otherwise give
    its request another user's id and mix its rows into theirs (SEC-4)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        if incoming and _REQUEST_ID.match(incoming) and _from_trusted_proxy(request):
            request_id = incoming  # the proxy's id ties its log to ours
        else:
            request_id = str(uuid.uuid4())
            if incoming:  # a client's own id: kept in the access log's detail, never the row's request id
                request.client_request_id = incoming[:100]  # type: ignore[attr-defined]
        request.request_id = request_id  # type: ignore[attr-defined]
        with context.bind(ip=client_ip(request), request_id=request_id, user=None):
            try:
                response = self.get_response(request)
            finally:
                audit.flush_pending()  # denials raised inside a rolled-back action (SEC-4)
            access_log.flush(request, response)  # the request's reads, one statement (SEC-4, LN-§23)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Swagger UI (served from our own static files) needs inline styles; nothing else does
        policy = DOCS_CSP if request.path.startswith("/api/v1/docs") else CSP
        response.setdefault("Content-Security-Policy", policy)
        return response


class AuditUserMiddleware:
    """After authentication: put the session user into the audit context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context.set_user(user)
        return self.get_response(request)


class ChineseFirstLocaleMiddleware:
    """Chinese (zh-hans) unless the user chose another language with the switch (cookie).

    Django's LocaleMiddleware would follow the browser's Accept-Language; a government
    platform's interface is Chinese first, whatever the browser says."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings
        from django.utils import translation

        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Cookie",))
        return response


class IdleTimeoutMiddleware:
    """Log a browser session out after ``GOVSHARE_SESSION_IDLE_MINUTES`` without a request
    (secure sessions, issue 2 §4).  API calls with a token carry no session and are unaffected."""

    KEY = "govshare_last_seen"
    RESOLUTION = 60  # seconds: write the session at most once a minute

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        import time

        from django.conf import settings
        from django.contrib.auth import logout

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(self.KEY)
            if isinstance(last, int) and now - last > settings.GOVSHARE_SESSION_IDLE_SECONDS:
                logout(request)
                request.session["govshare_idle_logout"] = True  # the login page says why
            elif not isinstance(last, int) or now - last >= self.RESOLUTION:
                request.session[self.KEY] = now
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse a request body larger than ``GOVSHARE_MAX_REQUEST_MB`` before anything reads it
    (uploads are hostile until checked; the CSRF check would otherwise read the whole body first).
    Endpoints with smaller limits check their own after the permission check."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings
        from django.http import JsonResponse

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.GOVSHARE_MAX_REQUEST_BYTES
        if length > limit:
            mb = limit // (1024 * 1024)
            body = {"error": {"code": "request_too_large",
                              "message_zh": f"请求过大：上限为 {mb} MB。",
                              "message_en": f"The request is too large: the limit is {mb} MB."}}
            body["error"]["message"] = body["error"]["message_zh"]
            return JsonResponse(body, status=413)
        return self.get_response(request)


class NulCharacterMiddleware:
    """Refuse a path or query parameter holding a NUL character with 400 before any view runs: no
    text column can store it (PostgreSQL refuses it outright), so a lookup, a filter or the access
    log would otherwise fail with a server error.  Bodies are checked by the forms and schemas."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.http import JsonResponse

        if "\x00" in request.path or any("\x00" in key or any("\x00" in v for v in values)
                                         for key, values in request.GET.lists()):
            body = {"error": {"code": "nul_character",
                              "message_zh": "地址或查询参数中含有空字符（NUL），无法处理。",
                              "message_en": "The address or a query parameter holds a NUL character."}}
            body["error"]["message"] = body["error"]["message_zh"]
            return JsonResponse(body, status=400)
        return self.get_response(request)
