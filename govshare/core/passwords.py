"""Password rules with messages in the reader's language (SEC-1; one language per screen).

Django's validators format their messages when they fail (``ngettext(...) % n``), in whatever
language is active at that moment, and Django's own Chinese catalogue lacks some of them — so a
Chinese screen showed "This password is too short…" in English.  These subclasses keep Django's
checks but raise *lazy* messages of the platform's own catalogue with their parameters, so the
error is rendered when it is shown, in the reader's language (``AUTH_PASSWORD_VALIDATORS``).
"""

from __future__ import annotations

import contextlib
import re
from difflib import SequenceMatcher
from typing import Any

from django.contrib.auth import password_validation as django_validation
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy


class MinimumLengthValidator(django_validation.MinimumLengthValidator):
    def validate(self, password: str, user: Any = None) -> None:
        if len(password) < self.min_length:
            raise ValidationError(self.get_error_message(), code="password_too_short",
                                  params={"min_length": self.min_length})

    def get_error_message(self) -> Any:
        return ngettext_lazy("The password is too short: it needs at least %(min_length)d character.",
                             "The password is too short: it needs at least %(min_length)d characters.",
                             "min_length")

    def get_help_text(self) -> Any:
        return ngettext_lazy("At least %(min_length)d character.", "At least %(min_length)d characters.",
                             "min_length") % {"min_length": self.min_length}


class UserAttributeSimilarityValidator(django_validation.UserAttributeSimilarityValidator):
    """The same comparison as Django's; the attribute's name stays lazy (translated when shown)."""

    def validate(self, password: str, user: Any = None) -> None:
        if not user:
            return
        password = password.lower()
        for attribute_name in self.user_attributes:
            value = getattr(user, attribute_name, None)
            if not value or not isinstance(value, str):
                continue
            value_lower = value.lower()
            for part in [*re.split(r"\W+", value_lower), value_lower]:
                if django_validation.exceeds_maximum_length_ratio(password, self.max_similarity, part):
                    continue
                if SequenceMatcher(a=password, b=part).quick_ratio() >= self.max_similarity:
                    try:
                        verbose_name: Any = user._meta.get_field(attribute_name).verbose_name
                    except FieldDoesNotExist:
                        verbose_name = attribute_name
                    raise ValidationError(self.get_error_message(), code="password_too_similar",
                                          params={"verbose_name": verbose_name})

    def get_error_message(self) -> Any:
        return _("The password is too similar to your %(verbose_name)s.")

    def get_help_text(self) -> Any:
        return _("Not similar to your user name, name or e-mail address.")


class CommonPasswordValidator(django_validation.CommonPasswordValidator):
    def get_error_message(self) -> Any:
        return _("The password is one of the most common passwords.")

    def get_help_text(self) -> Any:
        return _("Not one of the most common passwords.")


class NumericPasswordValidator(django_validation.NumericPasswordValidator):
    def get_error_message(self) -> Any:
        return _("The password consists of digits only.")

    def get_help_text(self) -> Any:
        return _("Not digits only.")


class Reasons:
    """The failures of a password check, rendered in the active language when shown
    (``str()``), so a ``ValidationFailed`` carrying it speaks the reader's language."""

    def __init__(self, errors: list[ValidationError]) -> None:
        self.errors = errors

    def render(self) -> str:
        parts = []
        for error in self.errors:
            message: Any = error.message
            if error.params:
                params = {k: (str(v) if not isinstance(v, int | float) else v) for k, v in error.params.items()}
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    message = message % params  # a lazy plural picks its form from the parameter here
            parts.append(str(message))
        return " ".join(parts)

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return format(self.render(), spec)
