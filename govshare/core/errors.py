"""Errors every layer raises and every front end (web, API, CLI) renders the same way.

A :class:`GovshareError` carries a stable machine code, a translatable message with parameters and,
where it applies, the place: field, row, sheet, key.  ``as_dict()`` renders the message in Chinese
and English at once so that a department system gets both (brief: "in Chinese and English").

One language per screen (issue 8): ``field`` is the machine name (the API's ``field`` key, the form
field an error is attached to); a rendered message names the field by its label in the reader's
language (:func:`field_label`), never "entry: 请指明授权或目录。".
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from govshare.core import messages

#: labels of the field names actions and views raise errors about; a name not listed here falls
#: back to the ``verbose_name`` of a model field of that name (see :func:`field_label`)
FIELD_LABELS: dict[str, Promise] = {
    "amount": gettext_lazy("amount"),
    "b": gettext_lazy("end date"),
    "change_date": gettext_lazy("date of the change"),
    "change_reason": gettext_lazy("reason for the change"),
    "channel": gettext_lazy("share method"),
    "classification": gettext_lazy("classification"),
    "claims": gettext_lazy("items to verify"),
    "cursor": gettext_lazy("page cursor"),
    "offset": gettext_lazy("upload offset"),  # a resumable upload's position (bytes the server holds)
    "size": gettext_lazy("file size"),
    "pending": gettext_lazy("number of deletions confirmed"),
    "confirm": gettext_lazy("confirmation"),
    "table": gettext_lazy("table or view"),  # a source table (exchange bindings)
    "binding": gettext_lazy("table binding"),
    "delivery": gettext_lazy("delivery"),  # a delivery into a consumer's front-end table
    "upload": gettext_lazy("spreadsheet upload"),
    "code": gettext_lazy("code"),
    "contact_phone": gettext_lazy("contact phone"),
    "date": gettext_lazy("date"),
    "date_from": gettext_lazy("start date"),
    "date_to": gettext_lazy("end date"),
    "days": gettext_lazy("days"),
    "decision": gettext_lazy("decision"),
    "department": gettext_lazy("department"),
    "duty": gettext_lazy("duty"),
    "entry": gettext_lazy("catalog entry"),
    "expansions": gettext_lazy("stands for"),
    "expires_on": gettext_lazy("expires on"),
    "field": gettext_lazy("information item"),
    "field_name": gettext_lazy("information item"),
    "file": gettext_lazy("file"),
    "filters": gettext_lazy("filters"),
    "format": gettext_lazy("format"),
    "key": gettext_lazy("key"),
    "id_number": gettext_lazy("ID card number"),
    "is_workday": gettext_lazy("working day"),
    "items": gettext_lazy("information items"),
    "jurisdiction": gettext_lazy("jurisdiction"),
    "kind": gettext_lazy("kind"),
    "language": gettext_lazy("language"),
    "letter": gettext_lazy("application letter"),
    "level": gettext_lazy("level"),
    "masking": gettext_lazy("masking"),
    "masking_rule": gettext_lazy("masking"),
    "n": gettext_lazy("number of working days"),
    "name": gettext_lazy("name"),
    "new_password": gettext_lazy("new password"),
    "new_password_again": gettext_lazy("new password again"),
    "log": gettext_lazy("reads or writes"),
    "note": gettext_lazy("note"),
    "old_password": gettext_lazy("current password"),
    "outcome": gettext_lazy("outcome"),
    "owner": gettext_lazy("owner department"),
    "parent": gettext_lazy("parent"),
    "password": gettext_lazy("password"),
    "period_end": gettext_lazy("period end"),
    "period_start": gettext_lazy("period start"),
    "policy_profile": gettext_lazy("policy profile"),
    "project": gettext_lazy("IT project"),
    "provider": gettext_lazy("provider"),
    "q": gettext_lazy("search words"),
    "reason": gettext_lazy("reason"),
    "request_ref": gettext_lazy("data request"),
    "role": gettext_lazy("role"),
    "scope": gettext_lazy("scope"),
    "sort": gettext_lazy("sort order"),
    "stage": gettext_lazy("stage"),
    "suggested_owner": gettext_lazy("suggested owner department"),
    "system": gettext_lazy("consuming system"),
    "term": gettext_lazy("term"),
    "unit": gettext_lazy("unit"),
    "upper_jurisdiction": gettext_lazy("upper jurisdiction"),
    "upper_resource": gettext_lazy("upper-level resource"),
    "user": gettext_lazy("user"),
    "username": gettext_lazy("username"),
    "uscc": gettext_lazy("unified social credit code"),
    "word": gettext_lazy("word"),
    "year": gettext_lazy("year"),
}
_model_labels: dict[str, Promise] | None = None


def _label_of_model_field(name: str) -> Promise | None:
    """The translated ``verbose_name`` of a model field called ``name`` (any installed app)."""
    global _model_labels
    if _model_labels is None:
        from django.apps import apps

        if not apps.ready:  # an error raised while Django starts: no models to ask yet
            return None
        found: dict[str, Promise] = {}
        for model in apps.get_models():
            for f in model._meta.get_fields():
                verbose = getattr(f, "verbose_name", None)
                if isinstance(verbose, Promise):
                    found.setdefault(f.name, verbose)
        _model_labels = found
    return _model_labels.get(name)


def field_label(name: str) -> str:
    """The field ``name`` as the reader calls it, in the active language.  What the user wrote
    is kept as it is: a command-line option (``--entry``), a path into an imported JSON file
    (``items[0].length``), a column header of a workbook."""
    label = FIELD_LABELS.get(name) or (_label_of_model_field(name) if name.isidentifier() else None)
    return name if label is None else str(label)


class GovshareError(Exception):
    status = 400

    def __init__(self, error_code: str, message: str | Promise, /, *, field: str | None = None,
                 row: int | None = None, where: str | None = None, label: str | Promise | None = None,
                 **params: Any) -> None:
        self.code = error_code
        self.message = message
        self.params = params
        self.field = field
        #: how the reader calls the field where its name means different things (the audit filter's
        #: ``domain`` is an audit area, an entry's ``domain`` its open-data domain); else FIELD_LABELS
        self.label = label
        self.row = row
        self.where = where
        super().__init__(self.render())

    def render(self, language: str | None = None) -> str:
        # parameters may be translatable too (a file type's name): format inside the language override
        with translation.override(language) if language is not None else contextlib.nullcontext():
            text = str(self.message)
            if self.params:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    text = text % self.params
            prefix = []
            if self.where:
                prefix.append(self.where)
            if self.row is not None:
                prefix.append(("第 %d 行" if (translation.get_language() or "").startswith("zh") else "row %d")
                              % self.row)
            if self.field:
                prefix.append(str(self.label) if self.label is not None else field_label(self.field))
        return (": ".join([" ".join(prefix), text]) if prefix else text)

    def bilingual(self) -> str:
        zh, en = self.render("zh-hans"), self.render("en")
        return zh if zh == en else f"{zh} / {en}"

    def node(self) -> Any:
        """The error as a :mod:`govshare.core.messages` node: kept on a row, shown in the reader's language."""
        return messages.texts(self.render("zh-hans"), self.render("en"))

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


class TooManyRequests(GovshareError):
    """Too many calls in a window; ``retry_after`` (seconds) becomes the answer's ``Retry-After``."""

    status = 429


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


def choice_label(obj: Any, field: str = "status") -> Any:
    """The label of ``obj``'s choice field as a lazy string (``get_status_display()`` fixes the
    language when an error is raised; this one renders in the language the error is read in)."""
    value = getattr(obj, field)
    return dict(obj._meta.get_field(field).flatchoices).get(value, value)


class SchemaValueError(ValueError):
    """A schema validator's refusal that reads in the reader's language: pydantic keeps it in the
    error's ``ctx`` and the API's validation handler renders ``message`` (a lazy string) per language."""

    def __init__(self, message: Any) -> None:
        from django.utils import translation

        with translation.override("en"):
            text = str(message)
        super().__init__(text)
        self.message = message
        _SCHEMA_MESSAGES[text] = message  # ninja hands the handler str(error): find the message again


_SCHEMA_MESSAGES: dict[str, Any] = {}


def schema_message(text: str) -> Any:
    """The lazy message of a :class:`SchemaValueError` from its English text (``None`` if unknown)."""
    return _SCHEMA_MESSAGES.get(text)
