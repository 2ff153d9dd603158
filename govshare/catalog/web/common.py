"""Helpers shared by the catalog pages: error handling, error placement on forms, htmx detection
and the labels of the guide's coded values."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_lazy

from govshare.catalog.enums import DataType, FormatClass, OpenAttribute, ShareMethod, ShareType, UpdateCycle
from govshare.catalog.permissions import is_government
from govshare.core.errors import GovshareError, ManyProblems
from govshare.core.permissions import deny
from govshare.core.web.org_views import apply_error, error_page, error_text

LABELS: dict[str, dict[str, Any]] = {
    "share_type": dict(ShareType.choices),
    "open_attribute": dict(OpenAttribute.choices),
    "format_class": dict(FormatClass.choices),
    "update_cycle": dict(UpdateCycle.choices),
    "share_methods": dict(ShareMethod.choices),
    "data_type": dict(DataType.choices),
}
SHARE_BADGE: dict[str, str] = {ShareType.UNCONDITIONAL: "ok", ShareType.CONDITIONAL: "warn", ShareType.NONE: "bad"}
OPEN_BADGE: dict[str, str] = {OpenAttribute.OPEN: "ok", OpenAttribute.ON_APPLICATION: "warn", OpenAttribute.NOT_OPEN: ""}
ITEM_FIELD = re.compile(r"^items\[(\d+)\](?:\.(\w+))?$")


def label(kind: str, value: Any) -> str:
    """The (translated) label of a coded value, or the value itself."""
    if isinstance(value, (list, tuple)):
        return "、".join(label(kind, v) for v in value)
    found = LABELS.get(kind, {}).get(value)
    return str(found) if found is not None else ("" if value is None else str(value))


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request for a fragment (not a history restore, which needs the full page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _catch(fn: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @functools.wraps(fn)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return fn(request, *args, **kwargs)
        except GovshareError as exc:
            return error_page(request, exc)

    return wrapper


def catalog_view(fn: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Login required; an uncaught :class:`GovshareError` becomes its page (403, 404, 400, 409)."""
    return login_required(_catch(fn))


def public_view(fn: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Open to anonymous visitors too (the open catalog, CAT-6); errors become their page."""
    return _catch(fn)


def require_government(user: Any) -> None:
    """Pages of the government side of the catalog: 403 (audited) for the public."""
    if not is_government(user):
        deny(user, "government_only", gettext_lazy("This page is for government users."))


def apply_errors(form: forms.Form, exc: GovshareError, aliases: dict[str, str] | None = None) -> None:
    """Attach one error, or each of several (:class:`ManyProblems`), to the field it names."""
    problems = exc.problems if isinstance(exc, ManyProblems) else [exc]
    for problem in problems:
        apply_error(form, problem, aliases)
    form.error_status = exc.status  # type: ignore[attr-defined]


def form_status(form: forms.Form) -> int:
    """200 for a clean form, else the status of the action's error (400, 409 …) or 400."""
    return int(getattr(form, "error_status", 400)) if form.errors else 200


def split_item_errors(form: forms.Form, exc: GovshareError) -> dict[int, dict[str, list[str]]]:
    """Entry-form errors: entry fields go to the form; information-item problems
    (``items[3].length``) are returned per row (0-based) and field for the items table."""
    problems = exc.problems if isinstance(exc, ManyProblems) else [exc]
    rows: dict[int, dict[str, list[str]]] = {}
    for problem in problems:
        match = ITEM_FIELD.match(problem.field or "")
        if match is not None:
            row = int(match.group(1)) - 1
            rows.setdefault(row, {}).setdefault(match.group(2) or "name", []).append(error_text(problem))
        elif problem.field == "items":
            form.add_error(None, problem.render())
        else:
            apply_error(form, problem)
    return rows


__all__ = ["apply_error", "apply_errors", "catalog_view", "form_status", "error_page", "error_text", "is_htmx", "label",
           "public_view", "require_government", "split_item_errors"]
