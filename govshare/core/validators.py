"""Check characters of Chinese identity codes.

* 统一社会信用代码 (unified social credit code, USCC) — GB 32100-2015, 18 characters, the last a
  mod-31 check character over a 31-symbol alphabet without I, O, S, V, Z.
* 公民身份号码 (citizen ID number) — GB 11643-1999, 17 digits plus a mod-11 check (0-9 or X), with
  the date of birth in positions 7-14.

Both raise :class:`govshare.core.errors.ValidationFailed` naming what is wrong (SEC-1).  Input is
NFKC-normalised first (full-width ``３６０…`` is the same code as ``360…``) and then checked against
ASCII patterns only: ``str.isdigit()`` would also accept Arabic-Indic or superscript digits, so one
person could be registered twice under two spellings of the same number.

The check arithmetic, the birth-date bounds and the masking live in :mod:`govshare.core.idcodes` (Django-free,
shared with the exchange's value rules); their names are re-exported here.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed
from govshare.core.idcodes import ID_CHECK as ID_CHECK  # the arithmetic's one home, re-exported
from govshare.core.idcodes import ID_WEIGHTS as ID_WEIGHTS
from govshare.core.idcodes import USCC_ALPHABET as USCC_ALPHABET
from govshare.core.idcodes import USCC_WEIGHTS as USCC_WEIGHTS
from govshare.core.idcodes import id_birth_date
from govshare.core.idcodes import id_check_char as id_check_char
from govshare.core.idcodes import mask_id_number as mask_id_number
from govshare.core.idcodes import uscc_check_char as uscc_check_char

#: the largest id a database row can have (a signed 64-bit BIGINT): larger numbers in input are refused
#: before they reach a query (SQLite raises OverflowError on them)
MAX_DB_ID = 2**63 - 1
#: C0 control characters other than tab and line breaks, and DEL: PostgreSQL refuses NUL in text, and
#: none of them belongs in a name, a code or a note
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_USCC_REGION = re.compile(r"[0-9]{6}", re.ASCII)


def number(value: str | None) -> int:
    """A form's whole-number field as a database id: ASCII digits only (``"²"`` passes ``str.isdigit`` and then
    fails ``int``), else 0 — which finds nothing, so the caller answers "not found" rather than a 500."""
    import re

    text = (value or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text) else 0


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value))


def _canonical(value: str | None) -> str:
    """NFKC (full-width → ASCII), surrounding white space removed, upper case."""
    return unicodedata.normalize("NFKC", value or "").strip().upper()


def normalize_uscc(value: str, field: str = "uscc") -> str:
    code = _canonical(value)
    if len(code) != 18:
        raise ValidationFailed(
            "invalid_uscc_length",
            _("The unified social credit code must have 18 characters, got %(n)d."),
            n=len(code),
            field=field,
        )
    bad = [ch for ch in code if ch not in USCC_ALPHABET]
    if bad:
        raise ValidationFailed(
            "invalid_uscc_char",
            _("The unified social credit code contains a character not allowed by GB 32100: %(ch)s."),
            ch=bad[0],
            field=field,
        )
    if not _USCC_REGION.fullmatch(code[2:8]):
        raise ValidationFailed(
            "invalid_uscc_region",
            _("Characters 3-8 of the unified social credit code must be the six-digit administrative-division "
              "code (GB 32100), got %(region)s."),
            region=code[2:8],
            field=field,
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise ValidationFailed(
            "invalid_uscc_check",
            _("The check character of the unified social credit code is wrong: expected %(expected)s, got %(got)s."),
            expected=expected,
            got=code[17],
            field=field,
        )
    return code


def normalize_id_number(value: str, field: str = "id_number") -> str:
    number = _canonical(value)
    if not _ID_FORMAT.fullmatch(number):
        raise ValidationFailed(
            "invalid_id_format",
            _("The citizen ID number must be 17 digits followed by a digit or X (GB 11643)."),
            field=field,
        )
    if id_birth_date(number) is None:
        raise ValidationFailed(
            "invalid_id_birthdate",
            _("The date of birth in the citizen ID number (positions 7-14) is not a valid date."),
            field=field,
        )
    expected = id_check_char(number[:17])
    if number[17] != expected:
        raise ValidationFailed(
            "invalid_id_check",
            _("The check digit of the citizen ID number is wrong: expected %(expected)s, got %(got)s."),
            expected=expected,
            got=number[17],
            field=field,
        )
    return number
