#!/usr/bin/env python3
"""Where a full copy's time goes, step by step, against the binary COPY pipe (issue 10; docs/decisions/0004).

On one throwaway PostgreSQL server (``scripts/with_postgres.py``): the benchmark's 12-column table
(``bench/exchange_copy.py``'s ``market_entity``) of ``N`` rows, then each step of govshare's fast copy timed on its
own, all rows at once:

* the limit: binary ``COPY … TO STDOUT`` piped into ``COPY … FROM STDIN`` of a table with the same primary key;
* the pipe into the fast copy's staging table (the source's types, no index);
* the conversion to the store's types with the quarantine checks (no hash), and with the row hash
  (``fastcopy._Batch.insert``: what the fast copy runs per batch);
* the insert into a store-shaped table (primary key and unique ``_seq``), with and without ``RETURNING``, with the
  upsert's join, and without the ``_seq`` index;
* adding each key to a key list; reading the hashes back into Python.

    .venv/bin/python scripts/with_postgres.py -- .venv/bin/python bench/exchange_copy_parts.py [N]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import exchange_copy as bench  # noqa: E402
import psycopg  # noqa: E402

from govshare.datastore.engine.store import StoreColumn  # noqa: E402
from govshare.exchange.engine import fastcopy  # noqa: E402
from govshare.exchange.engine.copy import CopyPlan  # noqa: E402
from govshare.exchange.engine.sources import SourceSpec  # noqa: E402

PG_TYPES = {"C": "TEXT", "M": "TEXT", "N": "NUMERIC", "Y": "NUMERIC", "I": "BIGINT", "D": "DATE", "T": "TIMESTAMP",
            "L": "BOOLEAN", "G": "BYTEA"}


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as admin:
        for name in ("parts_src", "parts_ctr"):
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
    base = url.rsplit("/", 1)[0]
    src = psycopg.connect(base + "/parts_src", autocommit=True)
    ctr = psycopg.connect(base + "/parts_ctr")
    src.execute(bench.pg_ddl())
    src.execute(bench.pg_generate(rows))
    src.execute("VACUUM ANALYZE " + bench.TABLE)
    print(f"{rows:,} rows of {bench.TABLE}, one server, all rows at once")

    def timed(label: str, work: Any) -> None:
        started = time.perf_counter()
        work()
        ctr.commit()
        print(f"  {label:52s} {time.perf_counter() - started:7.2f} s")

    def pipe(target: str, columns: str) -> None:
        out_sql = f"COPY (SELECT {bench.COLUMN_LIST} FROM {bench.TABLE} ORDER BY id) TO STDOUT (FORMAT BINARY)"
        in_sql = f"COPY {target} ({columns}) FROM STDIN (FORMAT BINARY)"
        with src.cursor() as out_cursor, ctr.cursor() as in_cursor, out_cursor.copy(out_sql) as out, \
                in_cursor.copy(in_sql) as into:
            buffered = bytearray()
            for chunk in out:
                buffered += chunk
                if len(buffered) >= 1 << 20:
                    into.write(bytes(buffered))
                    buffered.clear()
            if buffered:
                into.write(bytes(buffered))

    ctr.execute(bench.pg_ddl())
    ctr.commit()
    timed("limit: the pipe into a table with the key", lambda: pipe(bench.TABLE, bench.COLUMN_LIST))
    items = tuple(StoreColumn(item, letter, length) for _n, _p, _m, item, letter, length in bench.COLUMNS)
    plan = CopyPlan(source=SourceSpec(kind="postgresql", host="-", port=1, database="-", user="-", password=""),
                    schema="public", table=bench.TABLE, columns=tuple(bench.NAMES), items=items, key=("id",),
                    target="t", batch_rows=rows, key_unique=True)
    types = {str(n): str(k) for n, k in src.execute(fastcopy._TYPES_SQL, (bench.TABLE,)).fetchall()}
    statements = fastcopy._Batch.of_rows(plan, types, True)
    ctr.execute(statements.create.replace(" ON COMMIT DELETE ROWS", ""))
    ctr.commit()
    timed("the pipe into the staging table", lambda: pipe(statements.staging, ", ".join(statements.staged)))
    names = ", ".join(f"c{i}" for i in range(1, len(items) + 1))
    typed = ", ".join(f"c{i} {PG_TYPES[item.letter]}" for i, item in enumerate(items, 1))
    ctr.execute(f"CREATE TEMP TABLE scratch (n BIGINT, {typed}, _hash BYTEA, _bucket INTEGER)")
    ctr.execute("CREATE TEMP TABLE plain (LIKE scratch)")
    ctr.commit()
    timed("converted, checked, no hash", lambda: ctr.execute(
        f"INSERT INTO plain (n, {names}) SELECT n, {', '.join(statements.converted)} FROM {statements.staging}"))
    timed("converted, checked and hashed (the fast copy's step)",
          lambda: ctr.execute(statements.insert("scratch")))
    ctr.execute("ANALYZE scratch")
    ctr.commit()

    def store_table(name: str, unique_seq: bool = True) -> None:
        ctr.execute(f"CREATE TABLE {name} ({typed}, _seq BIGINT NOT NULL, _deleted BOOLEAN NOT NULL DEFAULT false, "
                    f"_hash BYTEA NOT NULL, _run TEXT, _bucket INTEGER, PRIMARY KEY (c1)"
                    f"{', UNIQUE (_seq)' if unique_seq else ''})")
        ctr.commit()

    insert = (f"INSERT INTO {{}} ({names}, _seq, _deleted, _hash, _run) SELECT {names}, row_number() OVER "
              "(ORDER BY n), false, _hash, 'r' FROM scratch")
    store_table("t1")
    timed("into the store table (a fresh run's insert)", lambda: ctr.execute(insert.format("t1")))
    store_table("t2")
    timed("  … with RETURNING fetched", lambda: ctr.execute(insert.format("t2") + " RETURNING _hash").fetchall())
    store_table("t3")
    timed("  … as the upsert with the changed-rows join", lambda: ctr.execute(
        f"INSERT INTO t3 ({names}, _seq, _deleted, _hash, _run) SELECT {', '.join('b.c' + str(i) for i in range(1, len(items) + 1))}, "
        "row_number() OVER (ORDER BY b.n), false, b._hash, 'r' FROM scratch b LEFT JOIN t3 s ON s.c1 = b.c1 "
        "WHERE s.c1 IS NULL OR s._hash <> b._hash OR s._deleted ON CONFLICT (c1) DO UPDATE SET c2 = excluded.c2 "
        "WHERE t3._hash <> excluded._hash RETURNING _hash").fetchall())
    store_table("t4", unique_seq=False)
    timed("  … without the unique _seq index", lambda: ctr.execute(insert.format("t4")))
    ctr.execute("CREATE TABLE keys (run_id TEXT NOT NULL, c1 BIGINT, PRIMARY KEY (run_id, c1))")
    ctr.commit()
    timed("every key into a key list", lambda: ctr.execute("INSERT INTO keys SELECT 'r', c1 FROM scratch"))
    timed("the hashes read back into Python", lambda: ctr.execute("SELECT _hash FROM scratch").fetchall())
    src.close()
    ctr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
