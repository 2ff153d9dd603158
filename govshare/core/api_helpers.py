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

* The contract (issue 9) — the one :class:`Error` schema of every 4xx answer, the error answers each
  operation declares (:func:`error_answers`, added to the document by :func:`declare_error_answers`),
  and permission before input (:func:`permission_gate`, :func:`install_permission_gates`); see
  docs/api-contract.md.

These live in core so that app APIs import them from here and never from each other (catalog and
sharing used to import each other's helpers, a cycle through ``govshare/api.py``).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import importlib
import inspect
import textwrap
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema
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
    TOKEN_REJECTED and access-log rows name the token's user, never the session's), and the token's
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
    "system_inactive": (401, "该系统或其所属部门已停用，密钥不可用。",
                        "The system (or its department) is deactivated: its keys are refused."),
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


# ------------------------------------------------------------------ the error answers (issue 9, API contract)

class ErrorProblem(Schema):
    """One problem of an error answer (the error itself, or one entry of its ``errors``)."""

    code: str | None = Field(None, description="stable machine code, e.g. not_found, invalid_input, forbidden")
    message: str | None = Field(None, description="in the reader's language")
    message_zh: str | None = None
    message_en: str | None = None
    field: str | None = Field(None, description="the input field concerned")
    row: int | None = None
    where: str | None = None
    type: str | None = Field(None, description="422 only: the kind of input error")
    detail: str | None = Field(None, description="the framework's own English text, when it has one")


class ErrorBody(ErrorProblem):
    errors: list[ErrorProblem] | None = Field(None, description="every problem, when several were found at once")


class Error(Schema):
    """Every 4xx answer of the API: ``{"error": {"code", "message", "message_zh", "message_en", "field"?,
    "errors"?}}``.  A missing object and one you may not see answer the same 404 ``not_found``."""

    error: ErrorBody


#: what each error status means, for the OpenAPI document
ERROR_STATUSES: dict[int, str] = {
    400: "the input is refused by the rules (which field and why), or the body is not JSON",
    401: "not authenticated, or the API token is unknown, expired or revoked",
    403: "not allowed: the role lacks the capability, a read-only token on a write, a failed CSRF check",
    404: "not found — missing and not visible to you answer the same",
    409: "the object is not in a state that allows this (e.g. already submitted)",
    413: "the upload is too large",
    422: "the input does not match the schema (which field and why)",
}


def _callee(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object an expression names (``do_x``, ``actions.do_x``, ``s.Out.method``), or None."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, ast.Attribute):
        owner = _callee(node.value, namespace)
        if inspect.ismodule(owner) or inspect.isclass(owner):
            try:
                return getattr(owner, node.attr, None)
            except Exception:  # noqa: BLE001 — a descriptor that needs an instance
                return None
    if isinstance(node, ast.Call):
        return _callee(node.func, namespace)
    return None


class _Facts:
    """What a handler may do, read from its source and that of every govshare function it calls by
    name (transitively): the exception classes it raises (minus those caught on the way) and the
    capabilities it requires (``require(user, Capability.X)``)."""

    def __init__(self) -> None:
        self.raises: set[type[BaseException]] = set()
        self.requires: set[str] = set()
        #: (model, action) of every object the code looks up to act on it other than to view it
        #: (``get_for(user, Action.CHANGE, Model…)``, ``get_acting(user, ANSWER, Model…)``)
        self.acts_on: set[tuple[type[Any], str]] = set()

    def add(self, other: _Facts) -> None:
        self.raises |= other.raises
        self.requires |= other.requires
        self.acts_on |= other.acts_on


_FACTS: dict[Any, _Facts] = {}


_FACTS_LOCK = threading.RLock()  # a half-read function is never seen by another request's thread


def handler_facts(func: Any) -> _Facts:
    """:class:`_Facts` of ``func``.  Methods of objects (``qs.mine(user)``) are not followed; the
    schemathesis run of the suite finds an answer this misses."""
    with _FACTS_LOCK:
        return _handler_facts(func)


def _handler_facts(func: Any) -> _Facts:
    if isinstance(func, staticmethod | classmethod):
        func = func.__func__
    func = inspect.unwrap(func)
    if not inspect.isfunction(func) or not func.__module__.startswith("govshare."):
        return _Facts()
    if func in _FACTS:
        return _FACTS[func]
    facts = _FACTS[func] = _Facts()  # a cycle adds nothing more
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return facts
    namespace = dict(func.__globals__)
    if func.__closure__:
        namespace.update(inspect.getclosurevars(func).nonlocals)
    for node in ast.walk(tree):  # imports inside the function
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            with contextlib.suppress(ImportError):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    namespace[alias.asname or alias.name] = getattr(module, alias.name, None)
    facts.add(_scan(tree, namespace))
    return facts


def raised_errors(func: Any) -> frozenset[type[BaseException]]:
    return frozenset(handler_facts(func).raises)


def required_capabilities(func: Any) -> frozenset[str]:
    return frozenset(handler_facts(func).requires)


def acted_on(func: Any) -> frozenset[tuple[type[Any], str]]:
    return frozenset(handler_facts(func).acts_on)


def _exception_class(obj: Any) -> type[BaseException] | None:
    return obj if inspect.isclass(obj) and issubclass(obj, BaseException) else None


#: the permission look-ups whose action and model :func:`_scan` reads (``get_for``, ``restrict`` …)
_LOOKUPS = frozenset({"get_for", "get_acting", "restrict"})


def _model_class(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The model class an expression starts from (``Project``, ``Project.objects.select_for_update()``)."""
    from django.db.models import Model

    while isinstance(node, ast.Attribute | ast.Call):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    if isinstance(node, ast.Name):
        obj = namespace.get(node.id)
        if inspect.isclass(obj) and issubclass(obj, Model):
            return obj
    return None


def _lookup_target(node: ast.Call, namespace: dict[str, Any]) -> tuple[type[Any], str] | None:
    """(model, action) of a permission look-up other than a view, or None."""
    actions = [a for a in (_callee(n, namespace) for n in node.args) if isinstance(a, str)]
    models = [m for m in (_model_class(n, namespace) for n in node.args) if m is not None]
    if actions and models and str(actions[0]) != "view":
        return models[0], str(actions[0])
    return None


def _scan(node: ast.AST, namespace: dict[str, Any]) -> _Facts:
    from govshare.core.permissions import require
    from govshare.core.roles import Capability

    found = _Facts()
    if isinstance(node, ast.Try | ast.TryStar):
        inner = _Facts()
        for child in node.body:
            inner.add(_scan(child, namespace))
        for handler in node.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught = [_exception_class(_callee(k, namespace)) if k is not None else Exception for k in kinds]
            reraises = any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
            if not reraises:
                inner.raises = {e for e in inner.raises if not any(c is not None and issubclass(e, c) for c in caught)}
            for child in handler.body:
                found.add(_scan(child, namespace))
        found.add(inner)
        for child in [*node.orelse, *node.finalbody]:
            found.add(_scan(child, namespace))
        return found
    if isinstance(node, ast.Raise) and node.exc is not None:
        if (cls := _exception_class(_callee(node.exc, namespace))) is not None:
            found.raises.add(cls)
    elif isinstance(node, ast.Call):
        target = _callee(node.func, namespace)
        if target is require or (inspect.isfunction(target) and "require" in target.__name__):
            for argument in node.args:  # require(user, Capability.X), _require_or_bootstrap(actor, Capability.X)
                if isinstance(capability := _callee(argument, namespace), Capability):
                    found.requires.add(str(capability))
        if inspect.isfunction(target) and target.__name__ in _LOOKUPS \
                and (acted := _lookup_target(node, namespace)) is not None:
            found.acts_on.add(acted)
        if inspect.isfunction(target) or isinstance(target, staticmethod | classmethod):
            found.add(handler_facts(target))
    for part in ast.iter_child_nodes(node):
        found.add(_scan(part, namespace))
    return found


def error_answers(operation: Any) -> set[int]:
    """The error statuses an API operation can answer, from what it is:

    * 401 — always: a protected operation without credentials, and a public one sent a bad token;
    * 403 — every write (a read-only token, a failed CSRF check), and wherever a capability is required;
    * 400 — a JSON body that is not JSON, a NUL character in a path or query parameter
      (``core.middleware.NulCharacterMiddleware``), and wherever an error of the rules
      (``ValidationFailed``) is raised;
    * 404 — an object named in the path, and wherever ``get_for`` may not find one;
    * 422 — any parameter or body (the schema is checked);
    * 409, 413 … — the status of every :class:`GovshareError` the handler may raise (:func:`raised_errors`).
    """
    from govshare.core.errors import GovshareError

    sources = {m.__ninja_param_source__ for m in operation.models}
    codes = {401}
    if set(operation.methods) - SAFE_METHODS:
        codes.add(403)
    if sources & {"body", "form", "file", "path", "query"}:
        codes.add(400)
    if "path" in sources:
        codes.add(404)
    if sources or getattr(operation.view_func, "reads_body_itself", False):
        codes.add(422)
    for cls in raised_errors(operation.view_func):
        if issubclass(cls, GovshareError):
            codes.add(int(cls.status))
    codes.update(getattr(operation.view_func, "extra_answers", ()))
    return codes


def answers(*codes: int) -> Callable[[Any], Any]:
    """Declare error statuses a handler answers that :func:`error_answers` cannot see (put it *below*
    the router decorator)."""
    def mark(func: Any) -> Any:
        func.extra_answers = frozenset(codes)
        return func
    return mark


def personal(func: Any) -> Any:
    """Mark a write that any signed-in user makes on their own things (tokens, inbox, jobs): the
    permission gate lets it through; the handler's object rules decide (put it below the router decorator)."""
    func.personal = True
    return func


def _gated(request: HttpRequest) -> bool:
    """Whether a refused input is weighed by :func:`permission_gate`: a person's request.  A request made by a
    machine (a consuming system's key: no user, its grants decide) or by nobody (a public endpoint) gets the input's
    own error — a system whose verification named no item was told "no right (apply_share)" and the denial was
    audited without anyone (the QA walk-through of the 21st session)."""
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


def permission_gate(operation: Any, user: Any) -> None:
    """Refuse a write the user can never make (403, audited), whatever its input.

    * The capabilities are the handler's own: those its code passes to ``require`` (read from the
      source, :func:`required_capabilities`) — holding none of them answers what ``require`` answers.
    * A write that requires no capability by name belongs to the family of its router: the
      capabilities the router's other writes require (:func:`router_family`; e.g. every catalog
      write is work of someone who holds a catalog capability).  Holding none of them — an auditor,
      a citizen — is a refusal.
    * The objects it acts on: when the permission rule of every model the handler looks up to act on
      (``get_for(user, Action.CHANGE, Model…)``, :func:`acted_on`) answers "none" for this user, the
      write can never succeed (a department admin on a jurisdiction): refused.
    * A write marked :func:`personal` (tokens, inbox, own jobs) is left to its object rules; a
      user who holds no capability at all (a citizen) is refused any other write."""
    from govshare.core.permissions import _RULES, deny, has_capability, require
    from govshare.core.roles import Capability

    needed = required_capabilities(operation.view_func)
    if needed:
        if not any(has_capability(user, c) for c in needed):
            require(user, sorted(needed)[0])
        return
    if getattr(operation.view_func, "personal", False):
        return
    if not any(has_capability(user, c) for c in Capability.values):
        deny(user, "forbidden", _("You do not have the right to do this: it is work of a government department."))
    family = router_family(operation)
    if family and not any(has_capability(user, c) for c in family):
        deny(user, "forbidden", _("You do not have the right to do this: your roles give none of the rights "
                                  "this work needs (%(capabilities)s)."), capabilities=", ".join(sorted(family)))
    verdicts = [_RULES[model](user, action) for model, action in acted_on(operation.view_func) if model in _RULES]
    if verdicts and all(verdict is False for verdict in verdicts):
        deny(user, "forbidden", _("You do not have the right to do this: your roles never allow changing "
                                  "such objects."))


def router_family(operation: Any) -> frozenset[str]:
    """The capabilities the writes of ``operation``'s router require by name (see :func:`permission_gate`);
    set up by :func:`install_permission_gates`, computed once."""
    family = getattr(operation, "gate_family", None)
    if family is None:
        siblings = getattr(operation, "gate_siblings", ())
        family = frozenset().union(*(required_capabilities(op.view_func) for op in siblings))
        operation.gate_family = family
    return family


#: the answers that judge the input: a user who may not make the write at all gets 403 instead
_INPUT_STATUSES = frozenset({400, 413, 422})


def install_permission_gates(api: Any) -> None:
    """Permission before input (issue 9): a write whose input is refused — by the schema (422), as
    a body that is not JSON (400) or by the rules (400) — is first judged by :func:`permission_gate`,
    so that a citizen gets 403, never a lesson on what the input should have been.  With acceptable
    input the handler's own order holds (an object you may not see answers 404 before anything else)."""
    from ninja.errors import HttpError
    from ninja.errors import ValidationError as SchemaError

    from govshare.core.errors import GovshareError

    for bound_router in api._get_bound_routers():
        writes = [operation for path_view in bound_router.path_operations.values()
                  for operation in path_view.operations if set(operation.methods) - SAFE_METHODS]
        for operation in writes:
            operation.gate_siblings = writes  # the router's family of writes (router_family)
        for path_view in bound_router.path_operations.values():
            for operation in path_view.operations:
                if not set(operation.methods) - SAFE_METHODS or getattr(operation, "gated", False):
                    continue

                def get_values(request: HttpRequest, *args: Any, _op: Any = operation,
                               _original: Any = operation._get_values) -> Any:
                    try:
                        return _original(request, *args)
                    except (SchemaError, HttpError) as exc:
                        if getattr(exc, "status_code", 422) in _INPUT_STATUSES and _gated(request):
                            permission_gate(_op, request.user)
                        raise

                def view(request: HttpRequest, *args: Any, _op: Any = operation, _view: Any = operation.view_func,
                         **kwargs: Any) -> Any:
                    try:
                        return _view(request, *args, **kwargs)
                    except GovshareError as exc:
                        if exc.status in _INPUT_STATUSES and _gated(request):
                            permission_gate(_op, request.user)
                        raise

                operation._get_values = get_values
                operation.view_func = functools.wraps(operation.view_func)(view)
                operation.gated = True


def api_operations(api: Any) -> dict[str, Any]:
    """Every operation of ``api`` by its OpenAPI ``operationId``."""
    return {api.get_openapi_operation_id(operation): operation
            for bound_router in api._get_bound_routers()
            for path_view in bound_router.path_operations.values()
            for operation in path_view.operations}


def declare_error_answers(api: Any, document: dict[str, Any]) -> None:
    """Add to each operation of the OpenAPI ``document`` the error answers it can give
    (:func:`error_answers`), each with the one ``Error`` schema, described by :data:`ERROR_STATUSES`.
    (Added to the document rather than to ninja's response models: a schema per operation and status
    would make the document several times slower to build.)"""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["Error"] = error_schema
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    operations = api_operations(api)
    for item in document["paths"].values():
        for entry in item.values():
            operation = operations[entry["operationId"]]
            responses = entry.setdefault("responses", {})
            for code in sorted(error_answers(operation)):
                description = ERROR_STATUSES.get(code) or HTTPStatus(code).phrase
                responses[code] = {"description": description, "content": reference}


__all__ = ["ERROR_STATUSES", "Error", "ErrorBody", "ErrorProblem", "OptionalAuth", "PUBLIC", "SAFE_METHODS",
           "SessionAuth", "TOKEN_REJECTIONS", "TokenAuth", "answers", "api_operations", "auth_error", "declare_error_answers",
           "acted_on", "error_answers", "install_permission_gates", "known", "named", "own_department_id", "page", "page_of",
           "permission_gate", "personal", "raised_errors", "required_capabilities", "router_family",
           "sent_a_token", "user_of"]
