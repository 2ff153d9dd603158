"""Online verification (联机核验, SHR-9; issue 11 item 6), Django-free: does a claimed value equal the value the
centre holds?  The answer is *match* or *mismatch* (or *invalid*: the claim is not a value of the item's type) —
never the stored value.

Equality is the item's: text after NFKC (full-width letters and digits are their half-width forms), with
surrounding spaces removed and letters compared without case (an ID number's check character ``x`` is ``X``);
numbers as numbers (``1.50`` is ``1.5``); dates and times as such; booleans as 是/否, true/false, 1/0.  A stored
NULL matches no claim."""

from __future__ import annotations

import unicodedata
from typing import Any

from govshare.datastore.engine.reader import QueryError, parse_value
from govshare.datastore.engine.store import StoreColumn

MATCH, MISMATCH, INVALID = "match", "mismatch", "invalid"


def normal_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def compare(column: StoreColumn, stored: Any, claimed: str) -> str:
    """:data:`MATCH`, :data:`MISMATCH` or :data:`INVALID` for the claim ``claimed`` (text, as sent)."""
    if column.letter in "CM":
        if "\x00" in claimed:
            return INVALID
        return MATCH if stored is not None and normal_text(str(stored)) == normal_text(claimed) else MISMATCH
    if column.letter == "G":
        return INVALID
    try:
        value = parse_value(column, unicodedata.normalize("NFKC", claimed))
    except QueryError:
        return INVALID
    return MATCH if stored is not None and stored == value else MISMATCH
