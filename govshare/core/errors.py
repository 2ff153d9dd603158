"""Errors every layer raises and every front end (web, API, CLI) renders the same way.

A :class:`GovshareError` carries a stable machine code, a translatable message with parameters and,
where it applies, the place: field, row, sheet, key.  ``as_dict()`` renders the message in Chinese
and English at once so that a department system gets both (brief: "in Chinese and English").
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.utils import translation
from django.utils.functional import Promise


class GovshareError(Exception):
    status = 400

    def __init__(self, error_code: str, message: str | Promise, /, *, field: str | None = None,
                 row: int | None = None, where: str | None = None, **params: Any) -> None:
        self.code = error_code
        self.message = message
        self.params = params
        self.field = field
        self.row = row
        self.where = where
        super().__init__(self.render())

    def render(self, language: str | None = None) -> str:
        if language is None:
            text = str(self.message)
        else:
            with translation.override(language):
                text = str(self.message)
        if self.params:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                text = text % self.params
        prefix = []
        if self.where:
            prefix.append(self.where)
        if self.row is not None:
            prefix.append(("第 %d 行" if (language or translation.get_language() or "").startswith("zh") else "row %d")
                          % self.row)
        if self.field:
            prefix.append(self.field)
        return (": ".join([" ".join(prefix), text]) if prefix else text)

    def bilingual(self) -> str:
        zh, en = self.render("zh-hans"), self.render("en")
        return zh if zh == en else f"{zh} / {en}"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.render(),
            "message_zh": self.render("zh-hans"),
            "message_en": self.render("en"),
        }
        for key in ("field", "row", "where"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body


class ValidationFailed(GovshareError):
    status = 400


class NotFound(GovshareError):
    """Missing *or* not visible to this user: both answer the same 404 (brief: permission chokepoint)."""

    status = 404

    def __init__(self, what: str = "object") -> None:
        from django.utils.translation import gettext_lazy as _

        super().__init__("not_found", _("Not found."), what=what)


class Forbidden(GovshareError):
    """A capability the user's roles do not give (no object involved, so nothing leaks)."""

    status = 403


class Conflict(GovshareError):
    status = 409


class ManyProblems(ValidationFailed):
    """Several problems found at once (an import, a form): each keeps its own place and message.

    ``as_dict()`` adds ``errors``: the list of every problem rendered like a single error."""

    def __init__(self, problems: list[GovshareError], *, where: str | None = None) -> None:
        from django.utils.translation import gettext_lazy as _

        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        super().__init__("invalid_input",
                         _("%(count)s problem(s) found; nothing was saved. First: %(first)s"),
                         where=where, count=len(self.problems), first=first.render() if first else "")

    def render(self, language: str | None = None) -> str:
        first = self.problems[0].render(language) if self.problems else ""
        self.params["first"] = first
        return super().render(language)

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["errors"] = [p.as_dict() for p in self.problems]
        return body
