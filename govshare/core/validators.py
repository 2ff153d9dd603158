"""Check characters of Chinese identity codes.

* 统一社会信用代码 (unified social credit code, USCC) — GB 32100-2015, 18 characters, the last a
  mod-31 check character over a 31-symbol alphabet without I, O, S, V, Z.
* 公民身份号码 (citizen ID number) — GB 11643-1999, 17 digits plus a mod-11 check (0-9 or X), with
  the date of birth in positions 7-14.

Both raise :class:`govshare.core.errors.ValidationFailed` naming what is wrong (SEC-1).  Input is
NFKC-normalised first (full-width ``３６０…`` is the same code as ``360…``) and then checked against
ASCII patterns only: ``str.isdigit()`` would also accept Arabic-Indic or superscript digits, so one
person could be registered twice under two spellings of the same number.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

#: the largest id a database row can have (a signed 64-bit BIGINT): larger numbers in input are refused
#: before they reach a query (SQLite raises OverflowError on them)
MAX_DB_ID = 2**63 - 1
#: C0 control characters other than tab and line breaks, and DEL: PostgreSQL refuses NUL in text, and
#: none of them belongs in a name, a code or a note
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_USCC_REGION = re.compile(r"[0-9]{6}", re.ASCII)


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value))


def _canonical(value: str | None) -> str:
    """NFKC (full-width → ASCII), surrounding white space removed, upper case."""
    return unicodedata.normalize("NFKC", value or "").strip().upper()


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


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


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def normalize_id_number(value: str, field: str = "id_number") -> str:
    number = _canonical(value)
    if not _ID_FORMAT.fullmatch(number):
        raise ValidationFailed(
            "invalid_id_format",
            _("The citizen ID number must be 17 digits followed by a digit or X (GB 11643)."),
            field=field,
        )
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth = None
    if birth is None or birth.year < 1900 or birth > dt.date.today():
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


def mask_id_number(number: str) -> str:
    """Show the region prefix and the last four characters only: 3607**********123X."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
