"""Rows read from an import file — Excel or JSON — with their place (sheet/row or JSON path) for
error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from govshare.core.errors import GovshareError, ValidationFailed


@dataclass
class ItemPlace:
    """Where one information item came from: sheet and row, and the name of each field there."""

    where: str
    row: int | None
    fields: dict[str, str]


@dataclass
class ImportRow:
    """One entry read from an import file (Excel or JSON), with its place for error messages."""

    where: str  # sheet name, or "entries[3]"
    row: int | None  # Excel row number (None for JSON)
    code: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    change_reason: str = ""
    provider_code: str = ""  # the provider's USCC, if the file gives one
    provider: str = ""  # the provider's department code, if the file gives one
    fields: dict[str, str] = field(default_factory=dict)  # content key → column header / JSON key
    items: list[ItemPlace] = field(default_factory=list)
    problems: list[GovshareError] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)  # fields already reported (no duplicate message)

    def problem(self, error_code: str, message: Any, key: str, /, **params: Any) -> None:
        self.reported.add(key)
        self.problems.append(ValidationFailed(error_code, message, where=self.where, row=self.row,
                                              field=self.fields.get(key, key) or None, **params))

    def item_problem(self, index: int, error_code: str, message: Any, key: str, /, **params: Any) -> None:
        """``index`` is 0-based."""
        self.reported.add(f"items[{index + 1}].{key}")
        place = self.items[index]
        self.problems.append(ValidationFailed(error_code, message, where=place.where, row=place.row,
                                              field=place.fields.get(key, key), **params))

    def place(self, problem: GovshareError) -> GovshareError | None:
        """Re-issue a problem of :func:`~govshare.catalog.validation.check_content` at this row's place
        (``None`` if the same field was already reported while reading the file)."""
        key = problem.field or ""
        if key in self.reported:
            return None
        match = re.match(r"^items\[(\d+)\](?:\.(\w+))?$", key)
        if match and 1 <= int(match.group(1)) <= len(self.items):
            item = self.items[int(match.group(1)) - 1]
            sub = match.group(2) or ""
            return ValidationFailed(problem.code, problem.message, where=item.where, row=item.row,
                                    field=item.fields.get(sub, sub or key), **problem.params)
        return ValidationFailed(problem.code, problem.message, where=self.where, row=self.row,
                                field=self.fields.get(key, key), **problem.params)
