"""The arithmetic of Chinese identity codes, Django-free: their one home (SEC-1, EXC-7).

* 统一社会信用代码 (unified social credit code, USCC) — GB 32100-2015: 18 characters over a 31-symbol
  alphabet without I, O, S, V, Z, the last a mod-31 check character over the first 17.
* 公民身份号码 (citizen ID number) — GB 11643-1999: 17 digits plus a mod-11 check (0-9 or X), the date of
  birth in positions 7-14.

:mod:`govshare.core.validators` (forms and the API, raising ``ValidationFailed``) and
:mod:`govshare.exchange.engine.rules` (rows copied from front-end databases) both use these functions, so the
check arithmetic, the plausible birth dates and the masking live here only.
"""

from __future__ import annotations

import datetime as dt

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
#: the earliest year of birth an ID number may hold
ID_FIRST_BIRTH_YEAR = 1900


#: USCC characters as the base-36 digits of their values (``J`` is 18), other letters deleted
_USCC_DIGITS = str.maketrans({**{ch: "0123456789abcdefghijklmnopqrstu"[value]
                                 for value, ch in enumerate(USCC_ALPHABET)},
                              **dict.fromkeys("IOSVZabcdefghijklmnopqrstuvwxyz")})


def uscc_check_char(first17: str) -> str:
    """The check character of the first 17 characters of a USCC (``ValueError`` if they are not 17 characters
    of :data:`USCC_ALPHABET`): ``c`` with ``sum(value(ch) * weight) + value(c)`` divisible by 31.

    The weights are ``3**i mod 31`` (i = 0 … 16), and 34 ≡ 3 (mod 31), so the sum is congruent to the 17
    values read as a base-34 number, last character first: one C-level ``int()`` instead of a Python loop
    (the rows of a copy are checked by the million)."""
    if len(first17) != 17 or not (first17.isascii() and first17.isalnum()):
        raise ValueError(f"not 17 USCC characters: {first17!r}")
    digits = first17.translate(_USCC_DIGITS)
    if len(digits) != 17:  # a letter outside the alphabet was deleted
        raise ValueError(f"not 17 USCC characters: {first17!r}")
    return USCC_ALPHABET[-int(digits[::-1], 34) % 31]


def id_check_char(first17: str) -> str:
    """The check character of the first 17 digits of an ID number (``ValueError`` if they are not 17 ASCII
    digits): ``ID_CHECK[sum(digit * weight) mod 11]``.

    The weights are ``2**(17 - i) mod 11`` (i = 0 … 16), and 13 ≡ 2 (mod 11), so the sum is congruent to twice
    the digits read as a base-13 number: one C-level ``int()`` instead of a Python loop."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"not 17 ASCII digits: {first17!r}")
    return ID_CHECK[2 * int(first17, 13) % 11]


def id_birth_date(number: str, today: dt.date | None = None) -> dt.date | None:
    """The date of birth in positions 7-14 of an ID number whose first 14 characters are ASCII digits; None
    when it is not a day that exists, is before :data:`ID_FIRST_BIRTH_YEAR` or after ``today`` (default:
    the system's date)."""
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    if birth.year < ID_FIRST_BIRTH_YEAR or birth > (today or dt.date.today()):
        return None
    return birth


def mask_id_number(number: str) -> str:
    """Show the region prefix and the last four characters only: 3607**********123X."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
