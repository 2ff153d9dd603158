"""The JSON API (django-ninja, OpenAPI 3.1 at /api/v1/openapi.json, docs at /api/v1/docs).

Authentication: a personal token (``Authorization: Bearer gs_…``) or the browser session (with
CSRF).  Read-only tokens are refused on writes (403 ``token_read_only``, also when the request has
no CSRF token: a request with a token is judged by its token alone).  Errors are
:class:`GovshareError` rendered with ``message_zh`` and ``message_en``.

This file names no app: every app in ``INSTALLED_APPS`` with an ``api.py`` holding a ``router`` is
mounted at its ``api_prefix`` (default ``/<label>``) — see :mod:`govshare.core.plugins`.  The
shared pieces (authentication, paging, references) are in :mod:`govshare.core.api_helpers`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from govshare.core.api_helpers import (
    SAFE_METHODS,
    OptionalAuth,
    SessionAuth,
    TokenAuth,
    auth_error,
    declare_error_answers,
    install_permission_gates,
)
from govshare.core.errors import GovshareError, SchemaValueError, field_label, schema_message

__all__ = ["SAFE_METHODS", "GovshareAPI", "OptionalAuth", "SessionAuth", "TokenAuth", "api"]


class GovshareAPI(NinjaAPI):
    """The API whose OpenAPI document declares every answer an operation can give (issue 9): the error
    statuses are added to each operation, with the one ``Error`` schema, when the document is built
    (:func:`govshare.core.api_helpers.error_answers` says which); and a write whose input is refused is
    first judged by permission (:func:`govshare.core.api_helpers.permission_gate`).  Both hook into
    ninja 1.7's binding of routers and its input reading (``_get_bound_routers``,
    ``Operation._get_values``): ``tests/test_api_contract.py`` fails if a ninja upgrade moves them."""

    _documents: dict[Any, Any]
    _documents_lock = threading.Lock()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents = {}

    def _get_bound_routers(self) -> Any:
        first = self._bound_routers_cache is None
        routers = super()._get_bound_routers()
        if first:  # ninja binds the routers once, when the URLs are first built
            install_permission_gates(self)
        return routers

    def get_openapi_schema(self, *, path_prefix: str | None = None,
                           path_params: dict[str, Any] | None = None) -> Any:
        """The document, built once per process for each prefix and language (building it takes about
        half a second: every handler is read for the errors it raises); a copy, so that a caller may
        change it."""
        key = (len(self._routers), path_prefix, tuple(sorted((path_params or {}).items())), translation.get_language())
        with self._documents_lock:
            if key not in self._documents:
                schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
                declare_error_answers(self, schema)
                self._documents[key] = schema
            return copy.deepcopy(self._documents[key])


api = GovshareAPI(
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
    response = api.create_response(request, {"error": exc.as_dict()}, status=exc.status)
    retry_after = exc.params.get("retry_after")
    if isinstance(retry_after, int) and retry_after > 0:  # TooManyRequests: when to try again
        response["Retry-After"] = str(retry_after)
    return response


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    status, body = auth_error(request)
    return api.create_response(request, body, status=status)


#: ninja's CSRF refusal (``SessionAuth`` on a write without a valid CSRF token)
_NINJA_CSRF_FAILED = "CSRF check Failed"


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """ninja's own errors (a body that is not JSON, a failed CSRF check, …) in the same bilingual
    shape as ours: each message in its own language, ninja's English text only in ``detail``."""
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        error = GovshareError("invalid_json", _("The request body is not valid JSON."))
    elif exc.status_code == 403 and str(exc) == _NINJA_CSRF_FAILED:
        error = GovshareError("csrf_failed", _("CSRF check failed: the request has no valid CSRF token. Reload the "
                                               "page, or send the csrftoken cookie's value in the X-CSRFToken "
                                               "header (or use an API token)."))
    else:
        error = GovshareError("http_error", _("The request could not be handled (HTTP status %(status)s)."),
                              status=exc.status_code)
    body = {"error": {**error.as_dict(), "detail": str(exc)}}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Schema errors (pydantic's, English only) with a message in each language per problem: which
    field and why (the English ``detail`` is pydantic's own text)."""
    errors = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in {"body", "payload", "query", "path"})
        errors.append({"field": loc, "type": err.get("type", ""), "detail": err.get("msg", ""),
                       "message_zh": _with_field(loc, err, "zh-hans"),
                       "message_en": _with_field(loc, err, "en")})
    first = errors[0] if errors else {"field": "", "message_zh": "输入有误。", "message_en": "Invalid input."}
    zh, en = first["message_zh"], first["message_en"]
    more = len(errors) - 1
    if more > 0:
        with translation.override("zh-hans"):
            zh += " " + str(_("(and %(n)s more problems: see errors)") % {"n": more})
        with translation.override("en"):
            en += " " + str(_("(and %(n)s more problems: see errors)") % {"n": more})
    body = {"error": {"code": "invalid_input", "field": first["field"],
                      "message": zh if translation.get_language() != "en" else en,
                      "message_zh": zh, "message_en": en, "errors": errors}}
    return api.create_response(request, body, status=422)


def _with_field(field: str, err: dict[str, Any], language: str) -> str:
    with translation.override(language):
        text = schema_problem(err)
        return f"{field_label(field)}: {text}" if field else text


#: pydantic's error types → a message in the reader's language (ctx values are filled in)
_SCHEMA_MESSAGES: dict[str, Any] = {
    "missing": _("This field is required."),
    "string_type": _("Must be text."),
    "string_too_long": _("At most %(max_length)s characters."),
    "string_too_short": _("At least %(min_length)s characters."),
    "string_pattern_mismatch": _("Does not have the required form."),
    "int_type": _("Must be a whole number."),
    "int_parsing": _("Must be a whole number."),
    "int_from_float": _("Must be a whole number."),
    "float_type": _("Must be a number."),
    "float_parsing": _("Must be a number."),
    "decimal_parsing": _("Must be a number."),
    "bool_type": _("Must be true or false."),
    "bool_parsing": _("Must be true or false."),
    "date_type": _("Must be a date (YYYY-MM-DD)."),
    "date_parsing": _("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": _("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_inexact": _("Must be a date (YYYY-MM-DD)."),
    "datetime_type": _("Must be a date and time (ISO 8601)."),
    "datetime_parsing": _("Must be a date and time (ISO 8601)."),
    "datetime_from_date_parsing": _("Must be a date and time (ISO 8601)."),
    "literal_error": _("Must be one of: %(expected)s."),
    "enum": _("Must be one of: %(expected)s."),
    "greater_than": _("Must be greater than %(gt)s."),
    "greater_than_equal": _("Must be at least %(ge)s."),
    "less_than": _("Must be less than %(lt)s."),
    "less_than_equal": _("Must be at most %(le)s."),
    "list_type": _("Must be a list."),
    "dict_type": _("Must be an object."),
    "model_type": _("Must be an object."),
    "model_attributes_type": _("Must be an object."),
    "too_long": _("At most %(max_length)s items."),
    "too_short": _("At least %(min_length)s items."),
    "json_invalid": _("The request body is not valid JSON."),
    "json_type": _("Must be JSON."),
    "uuid_parsing": _("Must be a UUID."),
    "url_parsing": _("Must be a URL."),
    "extra_forbidden": _("This field is not allowed here."),
}


def schema_problem(err: dict[str, Any]) -> str:
    """The message for one pydantic error in the active language, filled from its ctx."""
    message = _SCHEMA_MESSAGES.get(str(err.get("type", "")))
    ctx = dict(err.get("ctx") or {})
    if message is None:
        reason = ctx.get("error")
        if isinstance(reason, SchemaValueError):
            return str(reason.message)
        if isinstance(reason, str) and (known := schema_message(reason)) is not None:
            return str(known)
        if isinstance(reason, GovshareError):
            return str(reason.render())
        return str(_("The value is not valid."))
    text = str(message)
    try:
        return text % ctx if "%(" in text else text
    except (KeyError, TypeError, ValueError):
        return text


def _register_routers() -> None:
    from govshare.core.plugins import api_routers

    for prefix, router in api_routers():
        api.add_router(prefix, router)  # type: ignore[arg-type]


_register_routers()


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """An address under ``/api/v1/`` that names no endpoint: the API's own 404 (JSON, both languages),
    not the HTML page a browser gets; any method, no CSRF check (nothing is done)."""
    error = GovshareError("no_such_endpoint", _("There is no API endpoint at this address; see %(docs)s."),
                          docs="/api/v1/docs")
    body = {"error": {**error.as_dict(), "path": request.path}}
    return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})

