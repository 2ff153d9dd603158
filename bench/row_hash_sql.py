#!/usr/bin/env python3
"""The row hash in the centre's SQL, formulated otherwise with the same bytes (docs/status.md, 20th session;
docs/decisions/0004): what each formulation costs a row, and that it gives exactly ``fastcopy._part``'s bytes.

On one throwaway PostgreSQL server (``scripts/with_postgres.py``): ``bench/exchange_copy.py``'s 12-column table of
``N`` rows, converted to the store's types, then ``sha256`` over each formulation of every row (the best of two
runs), its µs a row, the ratio to the current one, and how many rows give other bytes than the current one (must be
0).  The formulations: the current (``CASE … IS NULL``, ``convert_to``); ``coalesce`` instead of the ``CASE``;
``textsend`` instead of ``convert_to`` (it depends on the session's ``client_encoding``); a date's constant length
prefix and ``::text`` (it depends on ``DateStyle``).  Also the floor: one ``concat`` of the values' text (not the
same bytes: it has no length prefixes).

    .venv/bin/python scripts/with_postgres.py -- .venv/bin/python bench/row_hash_sql.py [N]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import exchange_copy as bench  # noqa: E402
import psycopg  # noqa: E402

from govshare.exchange.engine import fastcopy  # noqa: E402

CONVERTED = {"I": "::bigint", "C": "::text", "N": "::numeric", "D": "", "T": "::timestamp", "L": ""}


def _coalesced(letter: str, v: str) -> str:
    """The same bytes with ``coalesce`` (a NULL part makes the whole ``||`` NULL) instead of ``CASE … IS NULL``."""
    b, null = fastcopy._bytea, fastcopy._NULL
    if letter in "CM":
        return f"coalesce(int8send(octet_length({v})::int8 + 1) || {b(b'S')} || convert_to({v}, 'UTF8'), {null})"
    if letter == "I":
        text = f"{v}::text"
        return f"coalesce(int8send(octet_length({text})::int8 + 1) || {b(b'I')} || convert_to({text}, 'UTF8'), {null})"
    if letter in "NY":
        text = f"trim_scale({v})::text"
        return f"coalesce(int8send(octet_length({text})::int8 + 1) || {b(b'N')} || convert_to({text}, 'UTF8'), {null})"
    if letter == "D":
        return f"coalesce({b((11).to_bytes(8, 'big') + b'D')} || convert_to(to_char({v}, 'YYYY-MM-DD'), 'UTF8'), {null})"
    if letter == "L":
        true, false = b(bytes(7) + b"\2L1"), b(bytes(7) + b"\2L0")
        return f"CASE WHEN {v} THEN {true} WHEN NOT {v} THEN {false} ELSE {null} END"
    return fastcopy._part(letter, v)


def _textsend(letter: str, v: str) -> str:
    return _coalesced(letter, v).replace("convert_to(", "textsend(").replace(", 'UTF8')", ")")


def _date_text(letter: str, v: str) -> str:
    if letter == "D":
        return f"coalesce({fastcopy._bytea((11).to_bytes(8, 'big') + b'D')} || textsend({v}::text), {fastcopy._NULL})"
    return _textsend(letter, v)


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("SET client_encoding = 'UTF8'")
        conn.execute(f"DROP TABLE IF EXISTS {bench.TABLE}")
        conn.execute(bench.pg_ddl())
        conn.execute(bench.pg_generate(rows))
        letters = [column[4] for column in bench.COLUMNS]
        values = [f"v{i}" for i in range(1, len(letters) + 1)]
        conn.execute("DROP TABLE IF EXISTS hashed")
        conn.execute("CREATE TABLE hashed AS SELECT " + ", ".join(
            f"{name}{CONVERTED[letter]} AS {v}" for name, letter, v in zip(bench.NAMES, letters, values, strict=True))
            + f" FROM {bench.TABLE}")
        conn.execute("VACUUM ANALYZE hashed")

        def formulation(part: object) -> str:
            return " || ".join(part(letter, v) for letter, v in zip(letters, values, strict=True))  # type: ignore[operator]

        current = formulation(fastcopy._part)
        print(f"{rows:,} rows of {bench.TABLE}, sha256 over each formulation (best of 2)")
        base = 0.0
        for label, sql in (("current (fastcopy._part)", current), ("coalesce", formulation(_coalesced)),
                           ("coalesce + textsend", formulation(_textsend)),
                           ("coalesce + textsend + date ::text", formulation(_date_text)),
                           ("floor: one concat of the text (other bytes)", "textsend(concat(" + ", ".join(values) + "))")):
            best = float("inf")
            for _ in range(2):
                started = time.perf_counter()
                conn.execute(f"SELECT sum(get_byte(sha256({sql}), 0)) FROM hashed").fetchone()  # noqa: S608
                best = min(best, time.perf_counter() - started)
            base = base or best
            differ = conn.execute(f"SELECT count(*) FROM hashed WHERE ({sql}) IS DISTINCT FROM ({current})"  # noqa: S608
                                  ).fetchone()[0] if not label.startswith("floor") else "—"
            print(f"  {label:45s} {best / rows * 1e6:5.2f} µs a row  {best / base:4.2f}× the current  "
                  f"rows with other bytes: {differ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
