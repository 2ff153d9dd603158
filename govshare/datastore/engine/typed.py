"""Values as JSON with their type, and back exactly (Django-free): copy positions of the exchange (a source's key,
an update time), page cursors, download filters and checkpoints of the delivery channels.  Dates, decimals,
bytes, aware times … come back as they went; ``None`` is JSON ``null`` (a sort value may be NULL)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any


def encode(values: Sequence[Any]) -> list[list[Any] | None]:
    """``values`` as JSON; ``TypeError`` for a value of another type."""
    encoded: list[list[Any] | None] = []
    for value in values:
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        if value is None:
            encoded.append(None)
        elif isinstance(value, bool):
            encoded.append(["bool", value])
        elif isinstance(value, int):
            encoded.append(["int", str(value)])
        elif isinstance(value, float):
            encoded.append(["float", repr(value)])
        elif isinstance(value, Decimal):
            encoded.append(["decimal", str(value)])
        elif isinstance(value, str):
            encoded.append(["str", value])
        elif isinstance(value, dt.datetime):
            encoded.append(["datetime", value.isoformat()])
        elif isinstance(value, dt.date):
            encoded.append(["date", value.isoformat()])
        elif isinstance(value, dt.time):
            encoded.append(["time", value.isoformat()])
        elif isinstance(value, dt.timedelta):
            encoded.append(["timedelta", value.days, value.seconds, value.microseconds])
        elif isinstance(value, bytes):
            encoded.append(["bytes", base64.b64encode(value).decode("ascii")])
        elif isinstance(value, uuid.UUID):
            encoded.append(["uuid", str(value)])
        else:
            raise TypeError(f"a value of type {type(value).__name__} has no typed JSON form")
    return encoded


_DECODERS: dict[str, Callable[..., Any]] = {
    "bool": bool, "int": int, "float": float, "decimal": Decimal, "str": str,
    "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat, "time": dt.time.fromisoformat,
    "timedelta": lambda days, seconds, micro: dt.timedelta(days, seconds, micro),
    "bytes": base64.b64decode, "uuid": uuid.UUID}


def decode(encoded: Sequence[Sequence[Any] | None]) -> tuple[Any, ...]:
    """The values :func:`encode` made JSON of (``KeyError``/``ValueError``/``TypeError`` for anything else)."""
    return tuple(None if part is None else _DECODERS[part[0]](*part[1:]) for part in encoded)
