#!/usr/bin/env python3
"""Data API against Datasette (issue 11): govshare's ``GET /api/v1/data/{entry}/rows`` and Datasette serving the
same 1 M-row SQLite table, measured side by side in one run.

The issue's targets: a filtered page of 100 rows, p50/p95 — faster than Datasette with the grant check and
masking on; CSV export rows/s — at least Datasette's.

What the script does:

1. **A demo site** in the work dir (default ``tmp/bench-data-api``): ``govshare demo --no-serve`` on a SQLite
   metadata database (``GOVSHARE_DATA_DIR``, ``DATABASE_URL``), its centre in a file of its own that the bench
   does not use.  The demo grants 市场主体登记信息（营业执照） (provider 市场监管局) over the api channel to 公安局's
   system GA-JWZH for 业务协同 and issues the system a key (``demo/system-key-GA-JWZH.txt``).  The demo grant has
   no masking (none of the entry's items is sensitive), so the bench gives it three rules (ORM update in the
   throwaway database): 法定代表人姓名 保留姓氏, 住所 保留至乡镇（街道）一级, 注册资本 取整 — masking is on — and
   a copy of that grant over the 文件 channel (number SQ2026-900005, same items and masking) for the batch
   download; then ``govshare worker --batch`` runs the demo's queued jobs, before any timing.
2. **The centre's table**, in a fresh SQLite centre file (``WORK/centre.sqlite3``, the file both servers
   read): ``Store.ensure_table`` for the entry's 11 published items (``c1`` … ``c11``, key 统一社会信用代码),
   then N (1 000 000) generated market entities written by ``Store.apply`` in 20 000-row batches of one fresh
   run, as a first full copy writes them — valid GB 32100 credit codes, names, types, legal representatives
   (2 % NULL), registered capital, dates, addresses, business scope, registration state 存续/在业/注销/吊销.
   The build time is printed (not a target).  ``--reuse`` keeps the site and the table of an earlier run
   with the same N.
3. **The servers**: govshare under gunicorn as ``govshare serve`` runs it (``gunicorn_argv``: gthread, 4
   threads), ``--workers`` (1) worker — Datasette serves from one process — and Datasette
   (``datasette==0.65.5``, installed by this script into its own virtualenv under ``WORK/peers``, never into
   the project's) serving the same file with its defaults except ``sql_time_limit_ms`` 120 000 (its 1 s
   default would cut its filtered counts short on 1 M rows) and ``max_csv_mb`` 0 (its 100 MB default would
   truncate the full CSV export).
4. **Pages**: Q (200) filtered first pages of 100 rows, the same filters on both, five kinds in turn —
   ``status`` (登记状态 equal, every other one also 市场主体类型 equal), ``date`` (成立日期 ≥ a, < b: one month to
   five years), ``prefix`` (企业名称 starts with; Datasette ``__startswith``), ``status+date``, ``sorted``
   (登记状态 equal, sorted by 成立日期 descending; Datasette ``_sort_desc``).  govshare's requests carry the
   system key (``Authorization: Bearer gsk_…``): the access check, the grant's items, masking and the access
   log on every request.  Datasette's ask for the same 11 columns (``_col``) and ``_deleted__exact=0`` (govshare
   reads live rows only: ``NOT _deleted``).  Both order by the key (or the sort, then the key).  Every pair of
   answers is checked: the same number of rows, the same first and last key, and where both count, govshare's
   exact count equal to Datasette's (its ``at_least`` below it).  Requests are sequential on
   keep-alive connections (``http.client``), the two servers interleaved query by query (who goes first
   alternates), after a warm-up (the centre file read once into the page cache, then 10 pages each).  Three
   configurations, the same queries each:

   * ``default`` — each as it answers by default: govshare ``count=true`` (exact up to 10 000, on SQLite
     ``at_least`` beyond: the count stops after 10 001 matching rows); Datasette counts every matching row
     (``select count(*)`` of the filter) and computes its suggested facets (the first page of a table).
   * ``counted`` — govshare as above; Datasette ``_nosuggest=1`` (its full count, no facet suggestions).
   * ``lean`` — no counts, no facets: govshare ``count=false``; Datasette ``_nocount=1&_nofacet=1``.

   Per system and configuration: p50, p95, mean (ms, client wall time from sending the request to the last
   byte of the answer) and the ratio Datasette ÷ govshare (above 1: govshare is faster); p50 per kind.
5. **CSV export of the whole table** (N rows, the 11 items): Datasette's streamed CSV
   (``.csv?_stream=on&_size=max``: one response, read internally in pages of ``max_returned_rows`` = 1 000)
   against govshare's data API in CSV pages (``format=csv&limit=1000``, following the ``Link: <…>;
   rel="next"`` header until there is none), one request a page, once with its default ``count=true`` and
   once with ``count=false`` — and govshare's batch download (部门批量下载, 文件 channel): ``POST
   /api/v1/data/{entry}/downloads`` ``{"format": "csv"}`` with the system key, built by a resident ``govshare
   worker`` (started 5 s before, polling every 0.2 s) in pages of 5 000 rows into a file, its state polled every
   0.5 s, then the file fetched: timed from the request to the file's last byte (the build alone is reported
   too).  Rows are counted in what arrives (lines less the header of each page or file) and checked against N.
   rows/s and govshare ÷ Datasette (≥ 1: the target is met).
6. ``--profile``: after the servers are stopped, one process with the metadata database and the centre runs
   the page queries through Django's test client under cProfile (top functions to ``WORK/profile-*.txt``), and
   times the parts of a request directly: opening the store, the page query (``reader.read_rows``), the count
   (``reader.count_rows``), and Datasette's full count of the same filter run on SQLite alone.

    .venv/bin/python bench/data_api.py                          # 1 000 000 rows, 200 queries, CSV, ratios
    .venv/bin/python bench/data_api.py --rows 100000 --queries 50   # a short try
    .venv/bin/python bench/data_api.py --reuse --skip-csv --profile # the same table again, pages + profile

Timings are wall-clock on this machine: the client, both servers and the SQLite file share its cores (the
servers answer one request at a time here, so they do not compete with each other); run it on an otherwise
idle machine — the load average at the start and the end is printed.  Logs, the servers' output and
``results-*.json`` go to the work dir.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import http.client
import io
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_WORKDIR = ROOT / "tmp" / "bench-data-api"
PEER = ["datasette==0.65.5"]
BUILD_VERSION = 2  # bump when the generated table or the site changes: --reuse then rebuilds

ENTRY_NAME = "市场主体登记信息（营业执照）"
SYSTEM = "GA-JWZH"
PURPOSE = "业务协同"
#: the rules the bench gives the demo grant (ORM, throwaway database): masking on
MASKING = {"法定代表人姓名": "保留姓氏", "住所": "保留至乡镇（街道）一级，其后以*替代", "注册资本": "取整"}
#: the number of the bench's copy of that grant over the 文件 channel (batch downloads)
FILE_GRANT = "SQ2026-900005"
BATCH_ROWS = 20_000
PAGE = 100
CSV_PAGE = 1000
WARMUP = 10
CONFIGS = ("default", "counted", "lean")
KINDS = ("status", "date", "prefix", "status+date", "sorted")

# -- the generated market entities (as govshare.exchange.demo's front-end database, a million of them) ---------

STATES = ["存续", "存续", "存续", "存续", "在业", "注销", "吊销"]
TYPES = ["有限责任公司(自然人投资或控股)", "有限责任公司(自然人独资)", "个人独资企业", "农民专业合作社",
         "股份有限公司(非上市)"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗钟曾谢"
GIVEN = ["建国", "秀英", "志强", "海燕", "立新", "晓峰", "春梅", "文杰", "丽华", "国平", "小龙", "美玲", "伟", "芳",
         "敏", "静", "磊", "军"]
TRADES = ["稀土", "脐橙", "电子", "物流", "建材", "餐饮", "农业", "旅游", "家具", "医药", "服装", "新能源"]
SUFFIXES = ["科技", "贸易", "实业", "发展", "商贸", "开发"]
TOWNS = ["龙南镇", "武当镇", "杨村镇", "汶龙镇", "程龙镇", "关西镇", "里仁镇", "渡江镇", "桃江乡", "东江乡"]
FIRST_DAY = dt.date(1995, 1, 1)
DAYS = 30 * 365


def entity(i: int, rng: random.Random, uscc: Any) -> tuple[Any, ...]:
    """Row ``i`` in item order (统一社会信用代码 … 核准日期)."""
    founded = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
    approved = founded + dt.timedelta(days=rng.randrange(900))
    town = rng.choice(TOWNS)
    trade = rng.choice(TRADES)
    name = f"龙南市{trade}{rng.choice(SUFFIXES)}{'有限公司' if i % 7 else '专业合作社'}"
    name = f"{name[:3]}{town[:2]}{name[3:]}" if i % 3 == 0 else f"{name}（{i + 1:07d}）"
    person = None if i % 50 == 7 else rng.choice(SURNAMES) + rng.choice(GIVEN)
    capital = Decimal(rng.randrange(1_000_000, 5_000_000_000)).scaleb(-2)  # 元, two decimals
    return (uscc("360783", 20000 + i, kind="91"), name, rng.choice(TYPES), person, capital, founded,
            f"江西省赣州市龙南市{town}{rng.randrange(1, 300)}号",
            f"{trade}产品的生产、加工与销售（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
            "龙南市市场监督管理局", rng.choice(STATES), approved)


# -- the queries ------------------------------------------------------------------------------------------------

#: item → centre column (item order of the entry: c1 … c11)
COLUMN = {"统一社会信用代码": "c1", "企业名称": "c2", "市场主体类型": "c3", "法定代表人姓名": "c4", "注册资本": "c5",
          "成立日期": "c6", "住所": "c7", "经营范围": "c8", "登记机关": "c9", "登记状态": "c10", "核准日期": "c11"}
DATASETTE_OPS = {"eq": "exact", "gte": "gte", "lt": "lt", "prefix": "startswith"}


@dataclass
class Query:
    kind: str
    filters: list[tuple[str, str, str]]  # (item, op, value): eq, gte, lt, prefix
    sort: tuple[str, bool] | None = None  # (item, descending)

    def govshare(self, count: bool, *, limit: int = PAGE, fmt: str = "json") -> list[tuple[str, str]]:
        params = [("purpose", PURPOSE)]
        params += [(item if op == "eq" else f"{item}__{op}", value) for item, op, value in self.filters]
        if self.sort:
            params.append(("sort", ("-" if self.sort[1] else "") + self.sort[0]))
        params += [("limit", str(limit)), ("count", "true" if count else "false")]
        if fmt != "json":
            params.append(("format", fmt))
        return params

    def datasette(self, config: str) -> list[tuple[str, str]]:
        params = [(f"{COLUMN[item]}__{DATASETTE_OPS[op]}", value) for item, op, value in self.filters]
        params.append(("_deleted__exact", "0"))
        if self.sort:
            params.append(("_sort_desc" if self.sort[1] else "_sort", COLUMN[self.sort[0]]))
        params.append(("_size", str(PAGE)))
        params += [("_col", column) for column in list(COLUMN.values())[1:]]
        if config == "counted":
            params.append(("_nosuggest", "1"))
        elif config == "lean":
            params += [("_nocount", "1"), ("_nofacet", "1")]
        return params

    def label(self) -> str:
        text = " & ".join(f"{item} {op} {value}" for item, op, value in self.filters)
        return text + (f" sort {'-' if self.sort[1] else ''}{self.sort[0]}" if self.sort else "")


def make_queries(n: int, seed: int = 11) -> list[Query]:
    rng = random.Random(seed)
    states = sorted(set(STATES))
    spans = [31, 92, 365, 5 * 365]
    found: list[Query] = []

    def window() -> list[tuple[str, str, str]]:
        start = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS - 365))
        end = start + dt.timedelta(days=rng.choice(spans))
        return [("成立日期", "gte", start.isoformat()), ("成立日期", "lt", end.isoformat())]

    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        state = ("登记状态", "eq", rng.choice(states))
        if kind == "status":
            extra = [("市场主体类型", "eq", rng.choice(TYPES))] if i // len(KINDS) % 2 else []
            found.append(Query(kind, [state, *extra]))
        elif kind == "date":
            found.append(Query(kind, window()))
        elif kind == "prefix":
            head = rng.choice([f"龙南市{rng.choice(TRADES)}", f"龙南市{rng.choice(TOWNS)[:2]}",
                               f"龙南市{rng.choice(TRADES)}{rng.choice(SUFFIXES)}"])
            found.append(Query(kind, [("企业名称", "prefix", head)]))
        elif kind == "status+date":
            found.append(Query(kind, [state, *window()]))
        else:
            found.append(Query(kind, [state], sort=("成立日期", True)))
    return found


# -- processes, HTTP ----------------------------------------------------------------------------------------------

def tail(path: Path, lines: int = 6) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> list[float]:
    with contextlib.suppress(OSError, ValueError):
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    return []


def ensure_peer(root: Path, log: Path) -> Path:
    """Datasette's own virtualenv under ``root`` (made and installed once, reused while the requirement is the
    same) — by the exchange benchmark's installer; RuntimeError with pip's last lines when that fails."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import exchange_copy

    exchange_copy.PEERS.setdefault("datasette", list(PEER))
    return Path(exchange_copy.ensure_peer("datasette", root, log))


def govshare_env(work: Path, centre: Path | str) -> dict[str, str]:
    """The site's environment; ``centre`` a SQLite file or a database URL (bench/data_api_pg.py's PostgreSQL)."""
    data = work / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "GOVSHARE_DATASTORE_URL", "GOVSHARE_DATA_DIR", "DEBUG")}
    store_url = centre if isinstance(centre, str) and "://" in centre else f"sqlite:///{centre}"
    env.update(GOVSHARE_DATA_DIR=str(data), DATABASE_URL=f"sqlite:///{data / 'meta.sqlite3'}",
               GOVSHARE_DATASTORE_URL=store_url, DJANGO_SETTINGS_MODULE="govshare.settings",
               PYTHONPATH=str(ROOT))
    return env


class Server:
    """A server process in a process group of its own (stopped as a group)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int, ready: str) -> None:
        self.name, self.port, self.log = name, port, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                         start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({self.proc.returncode}): {tail(log)}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", ready)
                if conn.getresponse().status < 500:
                    conn.close()
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{name} did not answer on :{port} within 120 s: {tail(log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class Http:
    """One keep-alive connection; a connection the server closed while idle is opened again (not timed)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port, self.headers = port, headers or {}
        self.conn: http.client.HTTPConnection | None = None

    def _send(self, path: str) -> tuple[http.client.HTTPResponse, float]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=900)
                self.conn.connect()
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=self.headers)
                return self.conn.getresponse(), started
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, http.client.HTTPMessage, bytes, float]:
        response, started = self._send(path)
        body = response.read()
        return response.status, response.headers, body, time.perf_counter() - started

    def stream_lines(self, path: str, head: list[bytes] | None = None
                     ) -> tuple[int, http.client.HTTPMessage, int, int, float]:
        """GET, reading the body in chunks: (status, headers, newlines, bytes, seconds); ``head``: the first chunk
        is appended to it."""
        response, started = self._send(path)
        lines = size = 0
        while chunk := response.read(1 << 16):
            if head is not None and not size:
                head.append(chunk)
            lines += chunk.count(b"\n")
            size += len(chunk)
        return response.status, response.headers, lines, size, time.perf_counter() - started

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def check_masked_csv(head: bytes) -> None:
    """The first rows of a downloaded CSV are masked as :data:`MASKING` says (a surname and stars, an address ending
    in stars, a whole number of yuan) — a fast file that leaks is not a result."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text[:text.rfind("\r\n")], newline="")))
    if len(rows) < 11:
        raise RuntimeError(f"the downloaded CSV's first chunk holds {len(rows)} lines")
    at = {name: i for i, name in enumerate(rows[0])}
    for row in rows[1:]:
        person, address, capital = row[at["法定代表人姓名"]], row[at["住所"]], row[at["注册资本"]]
        if (person and not (len(person) >= 2 and set(person[1:]) == {"*"})) or not address.endswith("*") \
                or "." in capital:
            raise RuntimeError(f"the downloaded CSV is not masked as the grant says: {row}")


def url(path: str, params: list[tuple[str, str]]) -> str:
    return path + "?" + urlencode(params, quote_via=quote)


# -- measuring --------------------------------------------------------------------------------------------------

def summary(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    if not ms:
        return {}
    p95 = statistics.quantiles(ms, n=100, method="inclusive")[94] if len(ms) > 1 else ms[0]
    return {"n": len(ms), "p50": statistics.median(ms), "p95": p95, "mean": statistics.fmean(ms), "max": ms[-1]}


@dataclass
class Pages:
    config: str
    govshare: list[float] = field(default_factory=list)
    datasette: list[float] = field(default_factory=list)
    kinds: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    counts: list[tuple[str, Any, Any, Any]] = field(default_factory=list)  # (query, govshare count, kind, datasette)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work.resolve()
        self.centre = self.work / "centre.sqlite3"
        self.results: dict[str, Any] = {"rows": args.rows, "queries": args.queries, "workers": args.workers}
        self.gs: Http | None = None
        self.ds: Http | None = None
        self.entry_path = ""
        self.table_path = ""

    # -- the site and the table ------------------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        marker = self.work / "build.json"
        wanted = {"rows": self.args.rows, "version": BUILD_VERSION}
        if self.args.reuse and marker.exists() and self.centre.exists():
            built = json.loads(marker.read_text(encoding="utf-8"))
            if {k: built.get(k) for k in wanted} == wanted:
                print(f"  reusing the site and the table of {built['at']} ({built['rows']:,} rows)")
                # the code may have moved on since: its migrations first (the site's database only)
                subprocess.run([str(PROJECT_PYTHON), "manage.py", "migrate", "--no-input", "-v", "0"],
                               env=govshare_env(self.work, self.centre), cwd=str(ROOT), check=True)
                built["reused"] = True
                return dict(built)
        data = self.work / "data"
        if data.exists():
            subprocess.run(["rm", "-rf", str(data)], check=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.centre}{suffix}").unlink(missing_ok=True)
        data.mkdir(parents=True)
        started = time.perf_counter()
        log = self.work / "demo.log"
        with open(log, "wb") as out:
            demo = subprocess.run([str(PROJECT_PYTHON), "-m", "govshare.cli", "demo", "--no-serve"],
                                  env=govshare_env(self.work, data / "demo-centre.sqlite3"), cwd=str(ROOT),
                                  stdout=out, stderr=subprocess.STDOUT, check=False)
        if demo.returncode:
            raise RuntimeError(f"govshare demo --no-serve: exit {demo.returncode}: {tail(log)}")
        print(f"  demo site loaded in {time.perf_counter() - started:.0f} s ({data})")
        spec = json.dumps({"rows": self.args.rows})
        log = self.work / "build.log"
        with open(log, "wb") as out:
            built_run = subprocess.run([str(PROJECT_PYTHON), str(HERE), "--child", "build", "--spec", spec],
                                       env=govshare_env(self.work, self.centre), cwd=str(ROOT), stdout=subprocess.PIPE,
                                       stderr=out, check=False)
        if built_run.returncode:
            raise RuntimeError(f"build: exit {built_run.returncode}: {tail(log)}")
        built = json.loads(built_run.stdout.decode().strip().splitlines()[-1])
        with open(self.work / "worker-drain.log", "wb") as out:  # the demo's queued jobs, before any timing
            subprocess.run([str(PROJECT_PYTHON), "-m", "govshare.cli", "worker", "--batch"],
                           env=govshare_env(self.work, self.centre), cwd=str(ROOT), stdout=out,
                           stderr=subprocess.STDOUT, check=False, timeout=900)
        built.update(wanted, at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
        marker.write_text(json.dumps(built, ensure_ascii=False), encoding="utf-8")
        built["reused"] = False
        return dict(built)

    # -- the servers -----------------------------------------------------------------------------------------

    def start(self, venv: Path) -> tuple[Server, Server]:
        sys.path.insert(0, str(ROOT))
        from govshare.commands.serve import gunicorn_argv

        gs_port, ds_port = free_port(), free_port()
        argv = gunicorn_argv("127.0.0.1", gs_port, self.args.workers)
        argv[0] = str(PROJECT_PYTHON)
        govshare = Server("govshare", argv, govshare_env(self.work, self.centre), self.work / "govshare-server.log",
                          gs_port, "/healthz")
        try:
            datasette = Server(
                "datasette",
                [str(venv / "bin" / "datasette"), "serve", str(self.centre), "--host", "127.0.0.1", "--port",
                 str(ds_port), "--setting", "sql_time_limit_ms", "120000", "--setting", "max_csv_mb", "0"],
                {**{k: v for k, v in os.environ.items() if not k.startswith(("DATASETTE", "PYTHON"))},
                 "HOME": str(self.work / "peers")},
                self.work / "datasette-server.log", ds_port, "/-/versions.json")
        except BaseException:
            govshare.stop()
            raise
        return govshare, datasette

    # -- pages -----------------------------------------------------------------------------------------------

    def govshare_page(self, query: Query, count: bool) -> tuple[dict[str, Any], float]:
        assert self.gs is not None
        status, _headers, body, seconds = self.gs.get(url(self.entry_path, query.govshare(count)))
        if status != 200:
            raise RuntimeError(f"govshare {status} for {query.label()}: {body[:400]!r}")
        return json.loads(body), seconds

    def datasette_page(self, query: Query, config: str) -> tuple[dict[str, Any], float]:
        assert self.ds is not None
        status, _headers, body, seconds = self.ds.get(url(self.table_path + ".json", query.datasette(config)))
        if status != 200:
            raise RuntimeError(f"datasette {status} for {query.label()}: {body[:400]!r}")
        return json.loads(body), seconds

    @staticmethod
    def keys(gs: dict[str, Any], ds: dict[str, Any]) -> tuple[list[str], list[str]]:
        gs_keys = [row["统一社会信用代码"] for row in gs["rows"]]
        at = ds["columns"].index("c1")
        return gs_keys, [row[at] for row in ds["rows"]]

    def pages(self, config: str, queries: list[Query]) -> Pages:
        found = Pages(config)
        count = config != "lean"
        for i, query in enumerate(queries):
            if i % 2:
                ds, ds_s = self.datasette_page(query, config)
                gs, gs_s = self.govshare_page(query, count)
            else:
                gs, gs_s = self.govshare_page(query, count)
                ds, ds_s = self.datasette_page(query, config)
            found.govshare.append(gs_s)
            found.datasette.append(ds_s)
            kind = found.kinds.setdefault(query.kind, {"govshare": [], "datasette": []})
            kind["govshare"].append(gs_s)
            kind["datasette"].append(ds_s)
            gs_keys, ds_keys = self.keys(gs, ds)
            if len(gs_keys) != len(ds_keys) or gs_keys[:1] != ds_keys[:1] or gs_keys[-1:] != ds_keys[-1:]:
                found.mismatches.append(f"{query.label()}: govshare {len(gs_keys)} rows {gs_keys[:1]}, "
                                        f"datasette {len(ds_keys)} rows {ds_keys[:1]}")
            found.counts.append((query.label(), gs.get("count"), gs.get("count_kind"),
                                 ds.get("filtered_table_rows_count")))
            theirs = ds.get("filtered_table_rows_count")
            if theirs is not None and gs.get("count_kind") in ("exact", "at_least") and (
                    (gs["count_kind"] == "exact" and gs["count"] != theirs)
                    or (gs["count_kind"] == "at_least" and theirs <= gs["count"])):
                found.mismatches.append(f"{query.label()}: govshare counts {gs['count']} ({gs['count_kind']}), "
                                        f"datasette {theirs}")
            if (i + 1) % 50 == 0:
                print(f"    {config}: {i + 1}/{len(queries)}", flush=True)
        return found

    # -- CSV ---------------------------------------------------------------------------------------------------

    def csv_datasette(self) -> dict[str, Any]:
        assert self.ds is not None
        params = [("_stream", "on"), ("_size", "max"), ("_deleted__exact", "0")]
        params += [("_col", column) for column in list(COLUMN.values())[1:]]
        status, _headers, lines, size, seconds = self.ds.stream_lines(url(self.table_path + ".csv", params))
        if status != 200:
            raise RuntimeError(f"datasette CSV: {status}")
        return {"rows": lines - 1, "bytes": size, "seconds": seconds, "requests": 1}

    def csv_govshare(self, count: bool) -> dict[str, Any]:
        assert self.gs is not None
        path: str | None = url(self.entry_path, Query("export", []).govshare(count, limit=CSV_PAGE, fmt="csv"))
        rows = size = pages = 0
        started = time.perf_counter()
        while path is not None:
            status, headers, lines, got, _seconds = self.gs.stream_lines(path)
            if status != 200:
                raise RuntimeError(f"govshare CSV page {pages + 1}: {status}")
            pages += 1
            rows += lines - 1
            size += got
            link = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link", ""))
            if link:
                parts = urlsplit(link.group(1))
                path = parts.path + "?" + parts.query
            else:
                path = None
        return {"rows": rows, "bytes": size, "seconds": time.perf_counter() - started, "requests": pages}

    def download(self) -> dict[str, Any]:
        """govshare's batch download (文件 channel) of the whole table as CSV: asked for with the system key, built
        by a worker (``govshare worker``, resident, started before), fetched; timed from the request to the last
        byte of the file."""
        assert self.gs is not None
        log = self.work / "worker.log"
        with open(log, "wb") as out:
            worker = subprocess.Popen([str(PROJECT_PYTHON), "-m", "govshare.cli", "worker", "--interval", "0.2"],
                                      env=govshare_env(self.work, self.centre), cwd=str(ROOT), stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            time.sleep(5)  # the worker's start (Django, its first poll) is not the download's
            if worker.poll() is not None:
                raise RuntimeError(f"govshare worker exited: {tail(log)}")
            conn = http.client.HTTPConnection("127.0.0.1", self.gs.port, timeout=900)
            body = json.dumps({"purpose": PURPOSE, "format": "csv"}, ensure_ascii=False).encode()
            started = time.perf_counter()
            conn.request("POST", self.entry_path.removesuffix("/rows") + "/downloads", body=body,
                         headers={**self.gs.headers, "Content-Type": "application/json"})
            answer = conn.getresponse()
            asked = json.loads(answer.read())
            if answer.status != 202:
                raise RuntimeError(f"download request: {answer.status} {asked}")
            state = asked
            while state["status"] not in ("ready", "failed"):
                if time.perf_counter() - started > 1800:
                    raise RuntimeError("the download was not ready within 30 minutes")
                time.sleep(0.5)
                status, _headers, raw, _seconds = self.gs.get(f"/api/v1/data/downloads/{asked['id']}")
                if status != 200:
                    raise RuntimeError(f"download status: {status} {raw[:300]!r}")
                state = json.loads(raw)
            built = time.perf_counter() - started
            if state["status"] != "ready":
                raise RuntimeError(f"download failed: {state['message']}")
            parts = urlsplit(state["file"])
            head: list[bytes] = []
            status, _headers, lines, size, fetch = self.gs.stream_lines(parts.path, head)
            if status != 200:
                raise RuntimeError(f"download fetch: {status}")
            check_masked_csv(head[0] if head else b"")
            conn.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
        seconds = time.perf_counter() - started
        return {"rows": lines - 1, "bytes": size, "seconds": seconds, "build_seconds": built,
                "fetch_seconds": fetch, "requests": 1, "grant": state["grant"], "reported_rows": state["rows"]}

    # -- the run -------------------------------------------------------------------------------------------------

    def run(self) -> int:
        args = self.args
        self.work.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, check=False).stdout.split("\n")
        # the code measured: HEAD and the tracked files changed in the working tree (this script's own aside)
        changed = [line[3:] for line in changed if line.strip() and not line[3:].startswith("bench/")]
        dirty = bool(changed)
        self.results.update(started=now.isoformat(timespec="seconds"), commit=commit, changed_files=changed,
                            cores=os.cpu_count(), load_start=load_average())
        print(f"data API vs Datasette — {now:%Y-%m-%d %H:%M} UTC, govshare {commit}{' (+ changes)' if dirty else ''}, "
              f"{os.cpu_count()} cores, load {load_average()}")
        if changed:
            print(f"  changed in the working tree: {', '.join(changed)}")
        started = time.perf_counter()
        venv = ensure_peer(self.work / "peers", self.work / "install-datasette.log")
        version = subprocess.run([str(venv / "bin" / "datasette"), "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        ds_sqlite = subprocess.run([str(venv / "bin" / "python"), "-c", "import sqlite3; print(sqlite3.sqlite_version)"],
                                   capture_output=True, text=True, check=False).stdout.strip()
        self.results.update(datasette=version, sqlite_datasette=ds_sqlite, sqlite_govshare=sqlite3.sqlite_version)
        print(f"  {version} (SQLite {ds_sqlite}; govshare's SQLite {sqlite3.sqlite_version}), "
              f"ready in {time.perf_counter() - started:.0f} s")

        built = self.prepare()
        self.results["build"] = built
        if not built.get("reused"):
            print(f"  centre table {built['table']}: {built['rows']:,} rows built in {built['seconds']:.1f} s "
                  f"({built['rows'] / built['seconds']:,.0f} rows/s through Store.apply), "
                  f"{built['file_mb']:.0f} MB")
        self.entry_path = f"/api/v1/data/{built['entry_code']}/rows"
        self.table_path = f"/{self.centre.stem}/{built['table']}"
        with open(self.centre, "rb") as warm:  # into the page cache: both servers read it from there
            while warm.read(1 << 24):
                pass

        queries = make_queries(args.queries)
        govshare, datasette = self.start(venv)
        print(f"  govshare: gunicorn, {args.workers} worker × 4 threads on :{govshare.port}; "
              f"datasette: 1 process on :{datasette.port}")
        try:
            self.gs = Http(govshare.port, {"Authorization": f"Bearer {built['key']}"})
            self.ds = Http(datasette.port)
            self.check_masking(queries[0])
            for query in queries[:WARMUP]:
                self.govshare_page(query, True)
                self.datasette_page(query, "default")
            configs = [c for c in CONFIGS if c in args.configs.split(",")]
            found: dict[str, Pages] = {}
            for config in configs:
                print(f"  pages, {config} …", flush=True)
                found[config] = self.pages(config, queries)
            self.results["pages"] = {c: self.page_results(p) for c, p in found.items()}
            csv: dict[str, Any] = {}
            if not args.skip_csv:
                print("  CSV export: datasette …", end="", flush=True)
                csv["datasette"] = self.csv_datasette()
                print(f" {csv['datasette']['seconds']:.1f} s; govshare count=true …", end="", flush=True)
                csv["govshare"] = self.csv_govshare(True)
                print(f" {csv['govshare']['seconds']:.1f} s; govshare count=false …", end="", flush=True)
                csv["govshare-nocount"] = self.csv_govshare(False)
                print(f" {csv['govshare-nocount']['seconds']:.1f} s")
                if not args.skip_download:
                    print("  CSV export: govshare batch download …", end="", flush=True)
                    try:
                        csv["govshare-download"] = self.download()
                        print(f" {csv['govshare-download']['seconds']:.1f} s "
                              f"(built in {csv['govshare-download']['build_seconds']:.1f} s)")
                    except Exception as exc:  # noqa: BLE001 — reported, the run goes on
                        print(f" failed: {exc}")
                        self.results["download_error"] = str(exc)[:600]
                for one in csv.values():
                    one["rows_per_s"] = one["rows"] / one["seconds"]
                    one["complete"] = one["rows"] == built["rows"]
            self.results["csv"] = csv
        finally:
            for http_client in (self.gs, self.ds):
                if http_client is not None:
                    http_client.close()
            govshare.stop()
            datasette.stop()
        self.results["load_end"] = load_average()
        if args.profile:
            self.profile(built, queries)
        self.report()
        out = self.work / f"results-{now:%Y%m%dT%H%M%S}.json"
        out.write_text(json.dumps(self.results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        print(f"\nresults: {out}")
        return 0

    def check_masking(self, query: Query) -> None:
        gs, _seconds = self.govshare_page(query, True)
        ds, _seconds = self.datasette_page(query, "lean")
        masked = {f["name"]: f["masked"] for f in gs["fields"] if f["masked"]}
        row = gs["rows"][0]
        at = {name: ds["columns"].index(column) for name, column in COLUMN.items()}
        raw = ds["rows"][0]
        shown = {name: (raw[at[name]], row[name]) for name in masked}
        ok = all(row[name] is None or row[name] != raw[at[name]] for name in masked) and len(masked) == len(MASKING)
        self.results["masking"] = {"grant": gs["grant"], "rules": masked, "example": shown, "masked": ok}
        print(f"  grant {gs['grant']}, masked items {masked}")
        for name, (before, after) in shown.items():
            print(f"    {name}: centre {before!r} → govshare {after!r}")
        if not ok:
            raise RuntimeError("govshare's answer is not masked as the grant says")

    @staticmethod
    def page_results(pages: Pages) -> dict[str, Any]:
        return {"govshare": summary(pages.govshare), "datasette": summary(pages.datasette),
                "kinds": {k: {"govshare": summary(v["govshare"]), "datasette": summary(v["datasette"])}
                          for k, v in pages.kinds.items()},
                "mismatches": pages.mismatches, "counts": pages.counts[:25],
                "govshare_at_least": sum(1 for c in pages.counts if c[2] == "at_least"),
                "datasette_counted": sum(1 for c in pages.counts if c[3] is not None)}

    # -- profile ---------------------------------------------------------------------------------------------

    def profile(self, built: dict[str, Any], queries: list[Query]) -> None:
        print("  profile …", flush=True)
        spec = json.dumps({"key": built["key"], "entry_path": self.entry_path, "table": built["table"],
                           "n": self.args.profile_queries, "out": str(self.work / f"profile-{built['rows']}.txt")})
        log = self.work / "profile.log"
        with open(log, "wb") as out:
            done = subprocess.run([str(PROJECT_PYTHON), str(HERE), "--child", "profile", "--spec", spec,
                                   "--queries", str(len(queries))], env=govshare_env(self.work, self.centre),
                                  cwd=str(ROOT), stdout=subprocess.PIPE, stderr=out, check=False)
        if done.returncode:
            print(f"    profile failed: {tail(log)}")
            return
        self.results["profile"] = json.loads(done.stdout.decode().strip().splitlines()[-1])

    # -- the report ------------------------------------------------------------------------------------------

    def report(self) -> None:
        r = self.results
        print(f"\n== {r['rows']:,} rows, {r['queries']} queries a configuration, govshare {r['workers']} worker, "
              f"datasette 1 process; load {r['load_start']} → {r['load_end']}")
        print("\nfiltered page of 100 rows (ms; ratio = datasette ÷ govshare: above 1, govshare is faster)")
        print(f"{'config':<8} {'system':<10} {'p50':>8} {'p95':>8} {'mean':>8} {'max':>8}   {'p50 ×':>6} {'p95 ×':>6}")
        for config, found in r.get("pages", {}).items():
            gs, ds = found["govshare"], found["datasette"]
            print(f"{config:<8} {'govshare':<10} {gs['p50']:8.1f} {gs['p95']:8.1f} {gs['mean']:8.1f} {gs['max']:8.1f}"
                  f"   {ds['p50'] / gs['p50']:6.2f} {ds['p95'] / gs['p95']:6.2f}")
            print(f"{'':<8} {'datasette':<10} {ds['p50']:8.1f} {ds['p95']:8.1f} {ds['mean']:8.1f} {ds['max']:8.1f}")
            kinds = ", ".join(f"{k} {v['govshare']['p50']:.1f}/{v['datasette']['p50']:.1f}"
                              for k, v in found["kinds"].items())
            print(f"{'':<8} p50 per kind, govshare/datasette: {kinds}")
            print(f"{'':<8} govshare counts 'at_least' (> 10 000) on {found['govshare_at_least']} pages; "
                  f"datasette gave a count on {found['datasette_counted']}")
            if found["mismatches"]:
                print(f"{'':<8} *** {len(found['mismatches'])} answers differ, e.g. {found['mismatches'][0]}")
        csv = r.get("csv") or {}
        if csv:
            ds_rate = csv["datasette"]["rows_per_s"]
            print("\nCSV export of the whole table")
            print(f"{'system':<28} {'rows':>10} {'requests':>9} {'seconds':>8} {'rows/s':>9} {'MB':>7} {'÷ datasette':>11}")
            labels = {"datasette": "datasette _stream=on", "govshare": "govshare pages, count=true",
                      "govshare-nocount": "govshare pages, count=false",
                      "govshare-download": "govshare batch download"}
            for name, one in csv.items():
                flag = "" if one["complete"] else "  *** INCOMPLETE"
                print(f"{labels[name]:<28} {one['rows']:>10,} {one['requests']:>9,} {one['seconds']:8.1f} "
                      f"{one['rows_per_s']:>9,.0f} {one['bytes'] / 1e6:7.1f} {one['rows_per_s'] / ds_rate:11.2f}{flag}")
        verdicts: dict[str, str] = {}
        for config, found in r.get("pages", {}).items():
            gs, ds = found["govshare"], found["datasette"]
            faster = gs["p50"] < ds["p50"] and gs["p95"] < ds["p95"]
            verdicts[f"page p50/p95 faster ({config})"] = "met" if faster else "not met"
        if csv:
            for name in [n for n in ("govshare", "govshare-nocount", "govshare-download") if n in csv]:
                ok = csv[name]["rows_per_s"] >= csv["datasette"]["rows_per_s"] and csv[name]["complete"]
                verdicts[f"CSV rows/s ≥ datasette ({name})"] = "met" if ok else "not met"
        r["verdicts"] = verdicts
        print("\nverdicts:")
        for name, verdict in verdicts.items():
            print(f"  {name}: {verdict}")
        profile = r.get("profile")
        if profile:
            print("\nprofile (in-process, Django test client; ms per request, median over the sampled queries):")
            for name, value in profile["parts"].items():
                print(f"  {name:<50} {value:8.2f}")
            print("under cProfile (its overhead inflates Python-heavy parts), ms per request: JSON page (count=true) "
                  "| CSV page of 1 000 rows:")
            for name, value in profile["profiled_page"].items():
                print(f"  {name:<50} {value:8.2f} | {profile['profiled_csv_page'][name]:8.2f}")
            print(f"  top functions: {profile['file']}")


# -- the children (run with the project's Python and the site's environment) --------------------------------------

def child_build(spec: dict[str, Any]) -> None:
    """Give the demo grant its masking, then build the centre's table of the entry in a fresh centre."""
    import django

    django.setup()
    from govshare.catalog.models import CatalogEntry
    from govshare.core.demo import make_uscc
    from govshare.datastore import centre
    from govshare.datastore.demo import key_file
    from govshare.datastore.engine.store import Store, StoreColumn, combine
    from govshare.sharing.models import Grant

    entry = CatalogEntry.objects.get(current_version__name=ENTRY_NAME)
    assert entry.current_version is not None
    items = list(entry.current_version.items.order_by("position"))
    names = [item.name for item in items]
    if [COLUMN[name] for name in names] != [f"c{i}" for i in range(1, len(names) + 1)]:
        raise RuntimeError(f"the entry's items are not the bench's: {names}")
    grant = Grant.objects.usable().get(entry=entry, system__code=SYSTEM, channel="api", purpose=PURPOSE)
    Grant.objects.filter(pk=grant.pk).update(masking=MASKING)
    # the same grant over the 文件 channel (batch downloads), checked after the api one by the access check
    twin = Grant.objects.get(pk=grant.pk)
    twin.pk, twin.number, twin.channel = None, FILE_GRANT, "file"
    twin.granted_at = grant.granted_at - dt.timedelta(minutes=1)
    twin.save()
    # the demo's deliveries into front-end tables are not what is measured: paused, so that the resident worker does
    # not copy the bench's table into 税务局's SQLite file while the pages and the download are timed
    from govshare.exchange.models import DeliveryBinding

    DeliveryBinding.objects.update(is_active=False)
    # like for like with Datasette, which serves the same file: no query indexes (the demo chooses two on this
    # entry; bench/data_api_pg.py measures them)
    from govshare.datastore.models import QueryIndex

    QueryIndex.objects.all().delete()
    table = centre.table_for(entry)
    rows = int(spec["rows"])
    rng = random.Random(20261206)
    started = time.perf_counter()
    with Store.open(centre.url()) as store:
        store.ensure_table(table, [StoreColumn(item.name, item.data_type, item.length) for item in items],
                           [item.name for item in items if item.is_primary_key])
        for batch, first in enumerate(range(0, rows, BATCH_ROWS), 1):
            chunk = [entity(i, rng, make_uscc) for i in range(first, min(rows, first + BATCH_ROWS))]
            store.apply(table, chunk, run_id="bench-data-api", batch=batch, position={"done": first + len(chunk)},
                        rows_read=len(chunk), read_hash=combine(()))
            print(f"{first + len(chunk)} rows", file=sys.stderr, flush=True)
        store.forget(table, "bench-data-api")
        live = store.live_rows(table)
    seconds = time.perf_counter() - started
    size = 0.0
    if centre.url().startswith("sqlite:///"):
        path = centre.url()[len("sqlite:///"):]
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(path) / 1e6
    print(json.dumps({"entry_code": entry.code, "table": table, "rows": live, "seconds": seconds,
                      "grant": grant.number, "masking": MASKING, "key": key_file().read_text().strip(),
                      "file_mb": size, "items": names}, ensure_ascii=False))


#: the items the provider indexes for the queries above (their filters and sort): govshare's query indexes
INDEXED = ["登记状态", "成立日期"]


def child_indexes(spec: dict[str, Any]) -> None:
    """Index ``spec["items"]`` of the bench's entry as its provider's data specialist would (the action, then the
    job that builds them, run here); prints the seconds the build took."""
    import django

    django.setup()
    from govshare.catalog.models import CatalogEntry
    from govshare.core import jobs
    from govshare.core.models import Job, User
    from govshare.core.roles import Role
    from govshare.datastore.actions import do_set_query_indexes

    entry = CatalogEntry.objects.get(code=spec["entry_code"])
    user = next(u for u in User.objects.filter(department_id=entry.provider_id, is_active=True).order_by("pk")
                if u.has_role(Role.DATA_SPECIALIST))
    started = time.perf_counter()
    do_set_query_indexes(user, entry, list(spec["items"]))
    job = Job.objects.filter(kind="datastore.indexes").latest("created_at")
    outcome = jobs.execute(job.pk, "bench")
    print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - started,
                      "result": Job.objects.get(pk=job.pk).result}, ensure_ascii=False, default=str))


#: (label, file ending, function): the parts of a request whose cumulative time the profile reports
PROFILED_PARTS = [
    ("whole request, the body read (test client)", "bench/data_api.py", "request"),
    ("Django handler (a CSV body is written after it)", "django/core/handlers/base.py", "get_response"),
    ("system key (authenticate_system_key)", "sharing/actions/system_keys.py", "authenticate_system_key"),
    ("entry (get_published_entry)", "catalog/refs.py", "get_published_entry"),
    ("access check (delivery.authorise)", "datastore/delivery.py", "authorise"),
    ("Store.open (connect, PRAGMAs, metadata check)", "datastore/engine/store.py", "open"),
    ("Store.has_table + describe", "datastore/engine/store.py", ("has_table", "describe")),
    ("reader.read_rows (the page)", "datastore/engine/reader.py", "read_rows"),
    ("reader.count_rows", "datastore/engine/reader.py", "count_rows"),
    ("masking (Delivery.mask)", "datastore/delivery.py", "mask"),
    ("cursor (query_fingerprint + sign_cursor)", "datastore/delivery.py", ("query_fingerprint", "sign_cursor")),
    ("api.py list comprehensions (masking, rows as dicts)", "datastore/api.py", "<listcomp>"),
    ("CSV lines (exports.csv_lines)", "core/exports.py", "csv_lines"),
    ("ninja: response validation + JSON", "ninja/operation.py", "_result_to_response"),
    ("access log (access_log.flush: one INSERT, commit)", "core/access_log.py", "flush"),
]


def profiled_parts(profiler: Any, requests: int) -> dict[str, float]:
    """ms per request of each of :data:`PROFILED_PARTS` (cumulative, under the profiler's own overhead)."""
    import pstats

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, ending, names in PROFILED_PARTS:
        wanted = (names,) if isinstance(names, str) else names
        total = sum(values[3] for (path, _line, name), values in stats.items()
                    if path.endswith(ending) and name in wanted)
        found[label] = total * 1000 / requests
    return found


def child_profile(spec: dict[str, Any], n_queries: int) -> None:
    """The page queries in one process (Django's test client): the parts of a request timed directly, then
    cProfile over the same requests and over CSV pages."""
    import cProfile
    import io
    import pstats

    import django

    django.setup()
    from django.test import Client

    from govshare.datastore import centre
    from govshare.datastore.engine import reader

    queries = make_queries(n_queries)[: int(spec["n"])]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {spec['key']}")

    def request(query: Query, count: bool, *, limit: int = PAGE, fmt: str = "json", path: str = "") -> Any:
        response = client.get(path) if path else client.get(spec["entry_path"],
                                                             dict(query.govshare(count, limit=limit, fmt=fmt)))
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
        if response.streaming:
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
        return response

    def timed(call: Any) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    for query in queries[:5]:
        request(query, True)
    parts: dict[str, list[float]] = {k: [] for k in (
        "request, count=true (test client)", "request, count=false (test client)", "Store.open + describe",
        "reader.read_rows (page + 1 rows)", "reader.count_rows (up to 10 001)", "SQLite: Datasette's count(*)")}
    path = centre.url()[len("sqlite:///"):]
    for query in queries:
        parts["request, count=true (test client)"].append(timed(lambda q=query: request(q, True)))
        parts["request, count=false (test client)"].append(timed(lambda q=query: request(q, False)))
        started = time.perf_counter()
        with centre.open_store() as store:
            store.has_table(spec["table"])
            columns, _key = store.describe(spec["table"])
            parts["Store.open + describe"].append(time.perf_counter() - started)
            typed = {column.name: column for column in columns}
            row_query = reader.RowQuery(spec["table"], list(COLUMN), [
                reader.Filter(item, op, (reader.parse_value(typed[item], value),))
                for item, op, value in query.filters], [query.sort] if query.sort else [], limit=PAGE)
            parts["reader.read_rows (page + 1 rows)"].append(timed(lambda s=store, r=row_query: reader.read_rows(s, r)))
            parts["reader.count_rows (up to 10 001)"].append(
                timed(lambda s=store, r=row_query: reader.count_rows(s, r, 10_000)))
        where, params = [], []
        for item, op, value in query.filters:
            if op == "prefix":
                where.append(f"{COLUMN[item]} LIKE ?")
                params.append(value + "%")
            else:
                where.append(f"{COLUMN[item]} {({'eq': '=', 'gte': '>=', 'lt': '<'})[op]} ?")
                params.append(value)
        sql = f'SELECT count(*) FROM "{spec["table"]}" WHERE _deleted = 0 AND {" AND ".join(where)}'  # noqa: S608
        with contextlib.closing(sqlite3.connect(path)) as conn:
            parts["SQLite: Datasette's count(*)"].append(
                timed(lambda c=conn, q=sql, p=params: c.execute(q, p).fetchone()))
    pages = cProfile.Profile()
    for query in queries:
        pages.enable()
        request(query, True)
        pages.disable()
    csv_pages = cProfile.Profile()
    csv_times: list[float] = []
    csv_count = 0
    for profiled in (False, True):  # the same pages: timed, then under the profiler
        csv_path = ""
        csv_count = 0
        while csv_count < int(spec.get("csv_pages", 20)):
            started = time.perf_counter()
            if profiled:
                csv_pages.enable()
            response = request(Query("export", []), True, limit=CSV_PAGE, fmt="csv", path=csv_path)
            if profiled:
                csv_pages.disable()
            else:
                csv_times.append(time.perf_counter() - started)
            csv_count += 1
            link = re.search(r'<([^>]+)>;\s*rel="next"', response.get("Link", ""))
            if link is None:
                break
            parts_of = urlsplit(link.group(1))
            csv_path = parts_of.path + "?" + parts_of.query
    parts["CSV page of 1 000 rows, count=true (test client)"] = csv_times
    text = io.StringIO()
    for title, profiler in (("JSON pages of 100 rows, count=true", pages), ("CSV pages of 1 000 rows", csv_pages)):
        text.write(f"==== {title}\n")
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
    Path(spec["out"]).write_text(text.getvalue(), encoding="utf-8")
    print(json.dumps({"file": spec["out"], "queries": len(queries), "csv_pages": csv_count,
                      "parts": {k: statistics.median(v) * 1000 for k, v in parts.items()},
                      "profiled_page": profiled_parts(pages, len(queries)),
                      "profiled_csv_page": profiled_parts(csv_pages, csv_count)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the centre's table (1 000 000)")
    parser.add_argument("--queries", type=int, default=200, help="filtered pages per configuration (200)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="page configurations: default,counted,lean")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers for govshare (1)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORKDIR, help="work dir (tmp/bench-data-api)")
    parser.add_argument("--reuse", action="store_true", help="keep the site and the table of an earlier run")
    parser.add_argument("--skip-csv", action="store_true", help="no CSV export")
    parser.add_argument("--skip-download", action="store_true", help="no batch download (CSV pages only)")
    parser.add_argument("--profile", action="store_true", help="profile govshare's page requests in-process")
    parser.add_argument("--profile-queries", type=int, default=40, help="queries profiled (40)")
    parser.add_argument("--child", choices=["build", "profile", "indexes"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "build":
        child_build(json.loads(args.spec))
        return 0
    if args.child == "profile":
        child_profile(json.loads(args.spec), args.queries)
        return 0
    if args.child == "indexes":
        child_indexes(json.loads(args.spec))
        return 0
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
