"""Whether a source column can hold a catalog item (issue 10, table bindings; Django-free).

The catalog describes each information item with a data type of the 目录编制指南 (one letter: C character,
N number, Y currency, D date, T date and time, L logical, M memo, G general, B double, I integer, F float)
and, for C and N, a length.  A source column has its own server's type.  :func:`family` sorts the types
of PostgreSQL, MySQL/MariaDB and SQLite into a few families; :func:`problems` says why a column cannot hold
an item (codes with parameters; the Django layer words them).

A column of a family the item's letter does not accept cannot be bound (a ``blob`` for a D item).  A
column that can hold values the item cannot — a ``varchar(200)`` or ``text`` column for a C item of length
100, a ``numeric(20,2)`` column for an N item of length 12 — can be bound with a warning: each value is
checked on the way in, and one that does not fit is quarantined with its reason (EXC-7), never cut.
Where a column's text form is what the item wants (a number or a date into a C item) the copy converts
it.  Dates kept as text, common in older front-end databases, are accepted for D and T the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEXT, STRUCTURED, INTEGER, DECIMAL, FLOAT, DATE, DATETIME, TIME, BOOLEAN, BINARY, ANY, OTHER = (
    "text", "structured", "integer", "decimal", "float", "date", "datetime", "time", "boolean", "binary", "any",
    "other")

_FAMILIES: list[tuple[str, str]] = [
    (r"^(tinyint\(1\)|bool|boolean|bit\(1\)|bit)$", BOOLEAN),
    (r"^(tiny|small|medium|big)?int(eger)?\d*( unsigned)?$|^int[248]$|^(small|big)?serial\d*$", INTEGER),
    (r"^(numeric|decimal|dec|money|number|fixed)( unsigned)?$", DECIMAL),
    (r"^(real|float\d*|double( precision)?|float[48])( unsigned)?$", FLOAT),
    (r"^date$", DATE),
    (r"^(timestamp|datetime)( ?\(\d\))?( with(out)? time zone)?$|^timestamptz$", DATETIME),
    (r"^time( ?\(\d\))?( with(out)? time zone)?$|^timetz$", TIME),
    (r"^(bytea|(tiny|medium|long)?blob|(var)?binary|bit varying|varbit|bit)$", BINARY),
    (r"^(character varying|varchar|nvarchar|character|char|nchar|bpchar|(tiny|medium|long)?text|clob|string|"
     r"citext|name|varying character|native character|nvarchar2|varchar2)$", TEXT),
    # values with a text form that is not free text: a C or M item takes them, a date or binary item does not
    (r"^(uuid|json|jsonb|xml|enum|set|year|interval|inet|cidr|macaddr|tsvector)$", STRUCTURED),
]


def _sqlite_affinity(name: str) -> str:
    """SQLite's own rules for a declared type it does not know by name (sqlite.org/datatype3.html §3.1): an
    empty type (a view's computed column) takes any value."""
    if not name:
        return ANY
    if "int" in name:
        return INTEGER
    if any(part in name for part in ("char", "clob", "text")):
        return TEXT
    if "blob" in name:
        return BINARY
    if any(part in name for part in ("real", "floa", "doub")):
        return FLOAT
    return DECIMAL

#: families each guide letter accepts
ACCEPTS: dict[str, frozenset[str]] = {
    "C": frozenset({TEXT, STRUCTURED, INTEGER, DECIMAL, FLOAT, DATE, DATETIME, TIME, BOOLEAN}),
    "M": frozenset({TEXT, STRUCTURED}),
    "N": frozenset({INTEGER, DECIMAL, FLOAT}),
    "Y": frozenset({INTEGER, DECIMAL}),
    "I": frozenset({INTEGER, DECIMAL}),  # a decimal only with scale 0
    "B": frozenset({INTEGER, DECIMAL, FLOAT}),
    "F": frozenset({INTEGER, DECIMAL, FLOAT}),
    "D": frozenset({DATE, TEXT}),
    "T": frozenset({DATETIME, DATE, TEXT}),
    "L": frozenset({BOOLEAN, INTEGER}),
    "G": frozenset({BINARY, TEXT}),
}

#: the most decimal digits each integer type can have (for N items with a length)
_INT_DIGITS = {"tinyint": 3, "smallint": 5, "int2": 5, "mediumint": 8, "int": 10, "integer": 10, "int4": 10,
               "serial": 10, "bigint": 19, "int8": 19, "bigserial": 19, "smallserial": 5}


@dataclass(frozen=True)
class Problem:
    """Why a column cannot hold an item: ``code`` with its parameters."""

    code: str  # "type" | "untyped" | "too_long" | "too_many_digits" | "not_whole"
    params: dict[str, object]
    #: a type the item cannot take at all; the others are warnings (values that do not fit are quarantined)
    blocking: bool = False


def base_type(data_type: str) -> str:
    """``character varying(20)`` → ``character varying``; ``tinyint(1)`` kept (MySQL's boolean)."""
    text = data_type.strip().lower()
    if text.startswith("tinyint(1)"):
        return "tinyint(1)"
    return re.sub(r"\s*\([^)]*\)", "", text).strip()


def family(data_type: str, *, column_length: int | None = None, kind: str = "") -> str:
    """The family of a source type.  A ``bit(n)`` of more than one bit is binary, not a boolean; an array is
    structured text.  A name the lists do not know: on SQLite by its affinity rules (an empty type takes any
    value); elsewhere (a PostgreSQL enum or domain) structured text — a C or M item can take its text form."""
    name = base_type(data_type)
    if "." in name:  # schema-qualified: public.citext
        name = name.rsplit(".", 1)[1]
    if name.endswith("[]"):
        return STRUCTURED
    if name == "bit" and column_length not in (None, 1):
        return BINARY
    for pattern, found in _FAMILIES:
        if re.match(pattern, name):
            return found
    return _sqlite_affinity(name) if kind == "sqlite" or not name else STRUCTURED


def problems(letter: str, length: int | None, data_type: str, *, column_length: int | None = None,
             precision: int | None = None, scale: int | None = None, kind: str = "") -> list[Problem]:
    """Why a column of ``data_type`` (its length, precision, scale) cannot feed an item of ``letter`` and
    ``length``; empty when it can."""
    source_kind = kind
    kind = family(data_type, column_length=column_length, kind=source_kind)
    if kind == ANY:  # no declared type (a SQLite view's computed column): any value may come
        return [Problem("untyped", {"type": data_type or "—", "letter": letter})]
    if kind not in ACCEPTS.get(letter, frozenset()):
        return [Problem("type", {"type": data_type, "letter": letter}, blocking=True)]
    found: list[Problem] = []
    if letter == "C" and length and kind == TEXT and (column_length is None or column_length > length):
        found.append(Problem("too_long", {"column_length": column_length if column_length else "∞",
                                          "length": length}))
    if letter == "N" and length:
        base = base_type(data_type)
        digits = precision if kind == DECIMAL else _INT_DIGITS.get(base.replace(" unsigned", ""))
        if digits is not None and kind == INTEGER and base.endswith(" unsigned") and base.startswith("bigint"):
            digits = 20  # 18 446 744 073 709 551 615
        if kind == FLOAT or digits is None or digits > length:
            found.append(Problem("too_many_digits", {"digits": digits if digits else "∞", "length": length}))
    if letter == "I" and kind == DECIMAL and (scale is None or scale > 0):
        found.append(Problem("not_whole", {"scale": scale if scale is not None else "?"}))
    return found
