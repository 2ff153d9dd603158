"""Delivery into a consumer's front-end table (issue 11 item 1): a full first delivery from a PostgreSQL centre into an
empty PostgreSQL target, against the raw pipe — psycopg 3 binary ``COPY (SELECT …) TO STDOUT`` piped into binary
``COPY … FROM STDIN`` of a table with the same columns, the limit the exchange benchmark uses (bench/exchange_copy.py).
Target: govshare's delivery ≥ 0.8× the pipe.

Both run in the same process against one throwaway PostgreSQL server (two databases: the centre, the consumer), on
the same rows: ``--rows`` (default 1 000 000) registrations of 7 items (text, a decimal, dates, a timestamp), keyed
by a credit code.  govshare is measured twice: with the grant's masks (the key kept, the legal representative's
name to its surname, the address to the township) and with no mask.  Each delivery also writes its state row,
hashes each row and keys it (HMAC), as always; the check (receipt) is timed separately, and asserted equal.  The
first copy of a PostgreSQL → PostgreSQL delivery is made in SQL (the centre's server masks, keys and hashes, in
``--streams`` sessions); ``--python`` also measures the Python path every other kind of target takes.

    .venv/bin/python bench/delivery.py --rows 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import throwaway_postgres  # noqa: E402

from govshare.core import masking  # noqa: E402
from govshare.datastore.engine.store import Store, StoreColumn  # noqa: E402
from govshare.exchange.engine import deliver  # noqa: E402
from govshare.exchange.engine.sources import SourceSpec  # noqa: E402

ITEMS = [StoreColumn("统一社会信用代码", "C", 18), StoreColumn("企业名称", "C", 200), StoreColumn("法定代表人", "C", 50),
         StoreColumn("注册资本", "N"), StoreColumn("成立日期", "D"), StoreColumn("住所", "C", 300),
         StoreColumn("更新时间", "T")]
TABLE = "e_bench"
MASKS = [None, None, masking.parse("仅保留姓"), None, None, masking.parse("保留到乡镇"), None]
SECRET = b"s" * 32


def database(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def fill_centre(url: str, rows: int) -> Store:
    rng = random.Random(7)
    store = Store.open(url)
    store.ensure_table(TABLE, ITEMS, ["统一社会信用代码"])
    towns = ["龙南镇", "武当镇", "杨村镇", "桃江乡"]
    batch, n = [], 0
    started = time.monotonic()
    for i in range(rows):
        batch.append([f"91360727{i:09d}X", f"龙南市企业{i}有限公司", f"王{'建国'[: 1 + i % 2]}",
                      Decimal(rng.randrange(1, 10**7)) / 100, dt.date(2000, 1, 1) + dt.timedelta(days=i % 8000),
                      f"江西省赣州市龙南市{towns[i % 4]}新都大道{i % 300}号",
                      dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i)])
        if len(batch) == 50_000:
            n += 1
            store.apply(TABLE, batch, run_id="fill", batch=n, position={}, rows_read=len(batch), read_hash="",
                        remember=False)
            batch = []
    if batch:
        store.apply(TABLE, batch, run_id="fill", batch=n + 1, position={}, rows_read=len(batch), read_hash="",
                    remember=False)
    print(f"centre filled: {rows} rows in {time.monotonic() - started:.1f} s", flush=True)
    return store


def pipe(centre: str, target: str) -> float:
    """The limit: binary COPY out of the centre's table into a table with the same columns."""
    columns = ", ".join(f"c{i}" for i in range(1, len(ITEMS) + 1))
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS pipe")
        conn.execute("CREATE TABLE pipe (c1 TEXT PRIMARY KEY, c2 TEXT, c3 TEXT, c4 NUMERIC, c5 DATE, c6 TEXT, "
                     "c7 TIMESTAMP)")
    started = time.monotonic()
    with psycopg.connect(centre) as out_conn, psycopg.connect(target) as in_conn, \
            out_conn.cursor() as out_cur, in_conn.cursor() as in_cur, \
            out_cur.copy(f"COPY (SELECT {columns} FROM {TABLE}) TO STDOUT (FORMAT BINARY)") as out, \
            in_cur.copy(f"COPY pipe ({columns}) FROM STDIN (FORMAT BINARY)") as into:
        for data in out:
            into.write(data)
    return time.monotonic() - started


def spec_of(url: str) -> SourceSpec:
    parts = urlsplit(url)
    return SourceSpec(kind="postgresql", host=parts.hostname or "", address=parts.hostname or "", port=parts.port,
                      database=parts.path.lstrip("/"), user=parts.username or "", password=parts.password or "",
                      tls="disable", statement_timeout=3600.0)


def plan(url: str, table: str, masks: list[masking.Mask | None]) -> deliver.DeliveryPlan:
    columns = tuple(deliver.TargetColumn(item.name, m.output_letter(item.letter) if m else item.letter,
                                         None if m else item.length) for item, m in zip(ITEMS, masks, strict=True))
    shape = deliver.shape_of(columns, [m.canonical() if m else "none" for m in masks], [i.name for i in ITEMS],
                             key=["统一社会信用代码"])
    return deliver.DeliveryPlan(target=spec_of(url), schema="", table=table, binding=f"bench-{table}",
                                columns=columns, shape=shape, batch_rows=5000)


def delivery(store: Store, url: str, table: str, masks: list[masking.Mask | None], centre_url: str, *,
             fast: bool = True, streams: int = 1) -> tuple[float, float]:
    def changes(seq: int, limit: int) -> list[deliver.Change]:
        return [((row[0],), tuple(row[:-2]), int(row[-2]), bool(row[-1])) for row in store.changes_since(TABLE, seq, limit)]

    def mask(values: tuple[object, ...]) -> list[object]:
        return masking.mask_row(masks, values, key=SECRET, fail_closed=True)

    the_plan = plan(url, table, masks)
    started = time.monotonic()
    columns = tuple((f"c{i}", item.letter) for i, item in enumerate(ITEMS, 1))
    centre = deliver.CentreTable(centre_url, TABLE, key=columns[:1], items=columns, masks=tuple(masks),
                                 mask_key=SECRET) if fast else None
    result = deliver.deliver(the_plan, changes, mask, SECRET, centre=centre, streams=streams)
    took = time.monotonic() - started

    def live() -> object:
        seq = 0
        while True:
            page = store.changes_since(TABLE, seq, 20_000)
            for row in page:
                if not row[-1]:
                    yield (row[0],), tuple(row[:-2])
            if len(page) < 20_000:
                return
            seq = int(page[-1][-2])

    started = time.monotonic()
    check = deliver.check(the_plan, live(), mask, SECRET, result.last_seq,  # type: ignore[arg-type]
                          centre=centre, streams=streams)
    checked = time.monotonic() - started
    assert check.equal and check.target_rows == result.rows, check
    return took, checked


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=0, help="centre sessions of the SQL path (default: the cores, ≤ 4)")
    parser.add_argument("--python", action="store_true", help="also measure the Python path (every row masked, keyed "
                        "and hashed in Python: what a MySQL or SQLite target gets)")
    args = parser.parse_args()
    with throwaway_postgres("-c fsync=off -c synchronous_commit=off -c shared_buffers=256MB",
                            "govshare-bench-delivery-") as server:
        centre_url, target_url = database(server, "centre"), database(server, "consumer")
        store = fill_centre(centre_url, args.rows)
        limit = pipe(centre_url, target_url)
        print(f"limit  binary COPY pipe: {args.rows / limit:>10,.0f} rows/s ({limit:.1f} s)", flush=True)
        streams = args.streams or min(4, os.cpu_count() or 1)
        runs = [("masked, SQL  ", MASKS, "masked", True), ("unmasked, SQL", [None] * 7, "plain", True)]
        if args.python:
            runs += [("masked, Python  ", MASKS, "masked_py", False), ("unmasked, Python", [None] * 7, "plain_py", False)]
        for label, masks, table, fast in runs:
            took, checked = delivery(store, target_url, table, masks, centre_url, fast=fast, streams=streams)
            print(f"govshare {label} ({streams} centre sessions): {args.rows / took:>10,.0f} rows/s ({took:.1f} s) = "
                  f"{limit / took:.2f}× the pipe (target ≥ 0.8×); check {args.rows / checked:,.0f} rows/s", flush=True)
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
