#!/usr/bin/env python3
"""Table exchange, full copy (issue 10): govshare's copy engine against the raw limit and the peers, one run.

The issue's target: a full copy PostgreSQL → centre (PostgreSQL) of 10 M rows of a realistic 12-column table at
≥ 0.8× the throughput of a raw psycopg binary ``COPY (SELECT …) TO STDOUT`` → ``COPY … FROM STDIN`` pipe between
the same two servers (the limit), and faster than the tools a user would pick instead — Sling
(``sling-linux-amd64`` 1.4.11, the binary its wheel carries), ingestr 1.1.0 and dlt (``sql_table`` source →
postgres destination); peak memory flat; the same for MySQL (here MariaDB) → centre with 5 M rows.

The script starts two throwaway PostgreSQL servers (the source, the centre; ``scripts/with_postgres.py``'s) and a
throwaway MariaDB (``scripts/with_mariadb.py``'s), generates the table server-side (``generate_series``; MariaDB's
``seq_1_to_N``) — market entities: bigint id, USCC, name, legal representative, address, registered capital
numeric(18,2), date established, timestamp updated, status code, industry code, phone, boolean; Chinese text, some
NULLs — then runs each contender as a subprocess into its own fresh, empty database on the centre, and reads the
subprocess's wall time and peak RSS (``wait4``; for a shell pipe, its largest process).  Every target's row count
is checked.

* ``limit`` — PostgreSQL: psycopg 3 binary COPY pipe (as above), into a table with the source's DDL and primary
  key.  MariaDB: the ``mariadb --quick --batch`` client piped into ``psql … COPY FROM STDIN`` (two C programs:
  nothing of Python); ``python-pipe``: PyMySQL's unbuffered (server-side) cursor into a psycopg binary COPY, the
  simplest thing in Python.
* ``govshare`` — ``govshare.exchange.engine.copy.full_copy`` into a ``Store`` on a fresh centre database, exactly
  as the worker's job runs it (``plan_for``: keyset pages of 5 000 rows, each converted, hashed and committed with
  its receipt); ``govshare-sqlite``: the same into a SQLite-file centre (WAL, ``synchronous = FULL``);
  ``govshare-fast``: ``govshare.exchange.engine.fastcopy.fast_full_copy`` (the PostgreSQL → PostgreSQL server-side
  pipeline of decision 0004; from MariaDB ``mysqlcopy``'s COPY lines written by the source's server; the key
  declared unique; 50 000-row pages over two centre connections, as a run takes it for this table) into a
  PostgreSQL store.  The verdicts compare the path a run takes: ``govshare-fast`` where it ran, else ``govshare``.
* ``sling``, ``ingestr``, ``dlt`` — installed by this script, each into its own virtualenv under ``--peers-venv``
  (kept and reused), never into the project's: ``sling==1.4.11`` + ``sling-linux-amd64==1.4.11`` (run: the wheel's
  binary, ``run --mode full-refresh``), ``ingestr==1.1.0`` (``ingest``, its defaults: ``replace``, 5 extract
  jobs), ``dlt`` 1.31.0 (``sql_table(backend="pyarrow")``, ``write_disposition="replace"``).  A peer that cannot
  be installed or fails is reported as ``failed: …`` and the run goes on.

    .venv/bin/python bench/exchange_copy.py                                   # 10 M PostgreSQL rows, 5 M MariaDB
    .venv/bin/python bench/exchange_copy.py --rows 200000 --mysql-rows 100000 # a short try
    .venv/bin/python bench/exchange_copy.py --rows 200000 --skip-mysql --only govshare --profile

The table printed at the end: rows (counted in the target), seconds (wall, process start included), rows/s,
``÷ limit`` (this contender's rows/s ÷ the limit's), ``govshare ÷`` (the path a run takes ÷ this one: above 1,
govshare is faster), peak RSS; then each target of the issue, met or not.  ``--ref GITREF`` takes govshare's
engine from a ``git worktree`` of that ref, so that edits in progress cannot change it during a long run.

Timings are wall-clock on this machine (the servers, the contender and the script share its cores); run it on an
otherwise idle machine.  Logs and ``results-*.json`` go to the work dir (default ``tmp/bench-exchange``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
import bench_common  # noqa: E402 — bench/, importable however this script is loaded (stdlib only)

PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
#: logs, results, SQLite centres, the peers' virtualenvs and homes (git-ignored: /tmp/ of the repository)
DEFAULT_WORKDIR = ROOT / "tmp" / "bench-exchange"
TABLE = "market_entity"
STORE_TABLE = "e_bench_market_entity"
SOURCE_DB = "bench_src"
BATCH_ROWS = 5000  # govshare.exchange.runs.plan_for's default
FAST_BATCH_ROWS = 50_000  # govshare.exchange.runs.FAST_BATCH_ROWS
DLT_BACKEND = "pyarrow"

#: (column, PostgreSQL type, MariaDB type, catalog item name, guide letter, length)
COLUMNS: list[tuple[str, str, str, str, str, int | None]] = [
    ("id", "bigint", "BIGINT", "主体标识", "I", None),
    ("uscc", "varchar(18) NOT NULL", "CHAR(18) NOT NULL", "统一社会信用代码", "C", 18),
    ("name", "varchar(100) NOT NULL", "VARCHAR(100) NOT NULL", "企业名称", "C", 100),
    ("legal_rep", "varchar(30)", "VARCHAR(30)", "法定代表人", "C", 30),
    ("address", "varchar(200)", "VARCHAR(200)", "住所", "C", 200),
    ("reg_capital", "numeric(18,2)", "DECIMAL(18,2)", "注册资本", "N", 18),
    ("established", "date", "DATE", "成立日期", "D", None),
    ("updated_at", "timestamp", "DATETIME", "更新时间", "T", None),
    ("status", "varchar(2)", "CHAR(2)", "登记状态", "C", 2),
    ("industry", "varchar(5)", "CHAR(5)", "行业代码", "C", 5),
    ("phone", "varchar(20)", "VARCHAR(20)", "联系电话", "C", 20),
    ("listed", "boolean", "BOOLEAN", "是否上市", "L", None),
]
NAMES = [c[0] for c in COLUMNS]
COLUMN_LIST = ", ".join(NAMES)

PEERS: dict[str, list[str]] = {
    "sling": ["sling==1.4.11", "sling-linux-amd64==1.4.11"],
    "ingestr": ["ingestr==1.1.0"],
    "dlt": ["dlt[postgres,sql-database]==1.31.0", "pyarrow", "pymysql"],
}
CONTENDERS = ["limit", "python-pipe", "govshare", "govshare-fast", "govshare-sqlite", "sling", "ingestr", "dlt"]

# -- the table -------------------------------------------------------------------------------------------------

PLACES = ["陇南", "武都", "成县", "文县", "宕昌", "康县", "西和", "礼县", "徽县", "两当"]
WORDS = ["恒通", "宏远", "金诚", "华信", "鑫源", "瑞丰", "德盛", "嘉禾", "兴隆", "博雅", "天成", "利民"]
TRADES = ["商贸", "建筑工程", "农业开发", "科技", "物流", "餐饮管理", "药业", "矿业", "文化旅游", "电子"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀英", "建华", "平"]
DISTRICTS = ["武都区", "成县", "文县", "宕昌县", "康县", "西和县", "礼县", "徽县", "两当县"]
ROADS = ["长江大道", "东江路", "钟楼街", "北山路", "汉王路", "滨江路", "建设路", "人民路", "解放路", "新华路",
         "朝阳路", "城关镇东街"]
STATUSES = ["10", "20", "30", "40", "50"]


def _pg_array(words: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{w}'" for w in words) + "]"


def _elt(index: str, words: Sequence[str]) -> str:
    return f"ELT({index}, " + ", ".join(f"'{w}'" for w in words) + ")"


def pg_ddl(table: str = TABLE, key: bool = True) -> str:
    columns = ", ".join(f"{name} {pg}" for name, pg, *_ in COLUMNS)
    return f"CREATE TABLE {table} ({columns}{', PRIMARY KEY (id)' if key else ''})"


def pg_generate(rows: int) -> str:
    """One INSERT … SELECT over generate_series: the same formulas as :func:`mysql_generate`."""
    a = _pg_array
    return f"""INSERT INTO {TABLE} ({COLUMN_LIST})
SELECT g,
  '91' || (620000 + g % 1300)::text || upper(substr(md5(g::text), 1, 10)),
  ({a(PLACES)})[g % 10 + 1] || ({a(WORDS)})[g / 10 % 12 + 1] || ({a(TRADES)})[g / 120 % 10 + 1] || '有限公司',
  CASE WHEN g % 50 = 0 THEN NULL ELSE ({a(SURNAMES)})[g % 15 + 1] || ({a(GIVEN)})[g / 15 % 20 + 1] END,
  '甘肃省陇南市' || ({a(DISTRICTS)})[g % 9 + 1] || ({a(ROADS)})[g / 9 % 12 + 1] || (g % 300 + 1)::text || '号',
  (g * 7919 % 100000000000) / 100.0,
  date '1990-01-01' + (g * 37 % 12775)::int,
  timestamp '2020-01-01' + (g * 7 % 157680000) * interval '1 second',
  ({a(STATUSES)})[g % 5 + 1],
  chr(65 + (g % 20)::int) || lpad((g * 13 % 10000)::text, 4, '0'),
  CASE WHEN g % 9 = 0 THEN NULL ELSE '1' || (30 + g % 60)::text || lpad((g * 7919 % 100000000)::text, 8, '0') END,
  g % 97 = 0
FROM generate_series(1::bigint, {int(rows)}) AS g"""


def mysql_generate(first: int, last: int) -> str:
    s = "seq"
    return f"""INSERT INTO {TABLE} ({COLUMN_LIST})
SELECT {s},
  CONCAT('91', 620000 + {s} % 1300, UPPER(SUBSTR(MD5({s}), 1, 10))),
  CONCAT({_elt(f"{s} % 10 + 1", PLACES)}, {_elt(f"{s} DIV 10 % 12 + 1", WORDS)},
         {_elt(f"{s} DIV 120 % 10 + 1", TRADES)}, '有限公司'),
  IF({s} % 50 = 0, NULL, CONCAT({_elt(f"{s} % 15 + 1", SURNAMES)}, {_elt(f"{s} DIV 15 % 20 + 1", GIVEN)})),
  CONCAT('甘肃省陇南市', {_elt(f"{s} % 9 + 1", DISTRICTS)}, {_elt(f"{s} DIV 9 % 12 + 1", ROADS)}, {s} % 300 + 1, '号'),
  ({s} * 7919 % 100000000000) / 100,
  DATE_ADD('1990-01-01', INTERVAL {s} * 37 % 12775 DAY),
  TIMESTAMPADD(SECOND, {s} * 7 % 157680000, '2020-01-01 00:00:00'),
  {_elt(f"{s} % 5 + 1", STATUSES)},
  CONCAT(CHAR(65 + {s} % 20 USING ascii), LPAD({s} * 13 % 10000, 4, '0')),
  IF({s} % 9 = 0, NULL, CONCAT('1', 30 + {s} % 60, LPAD({s} * 7919 % 100000000, 8, '0'))),
  {s} % 97 = 0
FROM seq_{int(first)}_to_{int(last)}"""


# -- servers ---------------------------------------------------------------------------------------------------

def _script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass(frozen=True)
class Server:
    """A server reached as ``user[:password]@host:port`` where the script may create databases."""

    kind: str  # postgresql | mysql
    host: str
    port: int
    user: str
    password: str = ""

    @classmethod
    def parse(cls, kind: str, url: str) -> Server:
        parts = urlsplit(url)
        return cls(kind, parts.hostname or "127.0.0.1", int(parts.port or (5432 if kind == "postgresql" else 3306)),
                   unquote(parts.username or ""), unquote(parts.password or ""))

    def url(self, database: str, scheme: str = "", query: str = "") -> str:
        auth = quote(self.user, safe="") + (":" + quote(self.password, safe="") if self.password else "")
        return (f"{scheme or self.kind}://{auth}@{self.host}:{self.port}/{database}"
                + (f"?{query}" if query else ""))

    def libpq(self, database: str) -> str:
        """A URL for libpq / psycopg (no TLS: these are loopback test servers)."""
        return self.url(database, "postgresql", "sslmode=disable")


def pg_connect(server: Server, database: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(server.libpq(database), autocommit=True)


def mysql_connect(server: Server, database: str | None = None) -> Any:
    import pymysql

    return pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                           database=database, charset="utf8mb4", autocommit=True)


def fresh_pg_database(server: Server, name: str) -> None:
    with pg_connect(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_pg_database(server: Server, name: str) -> None:
    with pg_connect(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def checkpoint(*servers: Server) -> None:
    """Write out what the last contender left dirty, so that the next one does not pay for it."""
    for server in servers:
        with contextlib.suppress(Exception), pg_connect(server) as conn:
            conn.execute("CHECKPOINT")


def prepare_pg_source(server: Server, rows: int) -> tuple[float, int]:
    """The source table (reused when it already has ``rows`` rows); (seconds to generate, size in MB)."""
    with pg_connect(server) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SOURCE_DB,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {SOURCE_DB}")
    started = time.perf_counter()
    with pg_connect(server, SOURCE_DB) as conn:
        present = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()[0]
        count = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] if present else -1  # noqa: S608
        if count != rows:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.execute(pg_ddl(key=False))
            conn.execute(pg_generate(rows))
            conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)")
            conn.execute(f"VACUUM (FREEZE, ANALYZE) {TABLE}")  # hint bits set: no contender pays for them
        seconds = time.perf_counter() - started if count != rows else 0.0
        size = conn.execute("SELECT pg_total_relation_size(%s)", (TABLE,)).fetchone()[0]
    return seconds, size // 1_000_000


def prepare_mysql_source(server: Server, rows: int) -> tuple[float, int]:
    started = time.perf_counter()
    with contextlib.closing(mysql_connect(server)) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {SOURCE_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        cur.execute(f"USE {SOURCE_DB}")
        cur.execute("SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (SOURCE_DB, TABLE))
        count = -1
        if cur.fetchone()[0]:
            cur.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608
            count = cur.fetchone()[0]
        if count != rows:
            cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
            columns = ", ".join(f"{name} {my}" for name, _pg, my, *_ in COLUMNS)
            cur.execute(f"CREATE TABLE {TABLE} ({columns}, PRIMARY KEY (id)) ENGINE=InnoDB")
            step = 500_000
            for first in range(1, rows + 1, step):
                cur.execute(mysql_generate(first, min(rows, first + step - 1)))
            cur.execute(f"ANALYZE TABLE {TABLE}")
            cur.fetchall()
        seconds = time.perf_counter() - started if count != rows else 0.0
        cur.execute("SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (SOURCE_DB, TABLE))
        size = int(cur.fetchone()[0] or 0)
        cur.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 — also warms the buffer pool
    return seconds, size // 1_000_000


# -- running a contender ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    source: str  # PostgreSQL | MariaDB
    name: str
    label: str
    rows_expected: int
    seconds: float = 0.0
    rss_mb: float = 0.0
    rows: int | None = None  # counted in the target
    error: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def rate(self) -> float:
        return self.rows_expected / self.seconds if self.ok and self.seconds else 0.0


def measured(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None, timeout: float = 7200.0
             ) -> tuple[int, float, float]:
    """Run ``cmd`` (output to ``log``); (exit status, wall seconds, peak RSS in MB of it or of its largest waited
    child).  Killed (its process group) after ``timeout``."""
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=log.parent, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_maxrss / 1024


def tail(log: Path, lines: int = 6) -> str:
    try:
        text = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.strip() and "WARNING" not in line]
    except OSError:
        return "(no log)"
    return " | ".join(line.strip()[:300] for line in text[-lines:])


def count_pg(server: Server, database: str, table: str) -> int:
    with pg_connect(server, database) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def child(kind: str, spec: dict[str, Any], python: Path = PROJECT_PYTHON) -> list[str]:
    """This script, run as one contender by ``python``."""
    return [str(python), str(HERE), "--child", kind, "--spec", json.dumps(spec)]


# -- peers -----------------------------------------------------------------------------------------------------

def ensure_peer(name: str, root: Path, log: Path) -> Path:
    """The peer's own virtualenv under ``root`` (made and installed once, reused while its requirements are the
    same); RuntimeError with pip's last lines when that fails."""
    venv = root / name
    marker = venv / ".bench-installed"
    wanted = "\n".join(PEERS[name])
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], stdout=out,
                              stderr=subprocess.STDOUT, check=False)
        if made.returncode:
            raise RuntimeError(f"venv: {tail(log, 3)}")
        installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                                    *PEERS[name]], stdout=out, stderr=subprocess.STDOUT, check=False)
    if installed.returncode:
        lines = [line for line in log.read_text(errors="replace").splitlines() if "is ignored" not in line]
        raise RuntimeError("pip install " + " ".join(PEERS[name]) + ": " + " | ".join(lines[-4:]))
    marker.write_text(wanted, encoding="utf-8")
    return venv


def peer_versions(venv: Path) -> str:
    found = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=json", "--disable-pip-version-check"],
                           capture_output=True, text=True, check=False)
    try:
        packages = {p["name"].lower(): p["version"] for p in json.loads(found.stdout)}
    except ValueError:
        return "?"
    keep = ("sling", "sling-linux-amd64", "ingestr", "dlt", "pyarrow", "sqlalchemy", "psycopg2-binary", "pymysql")
    return ", ".join(f"{name} {packages[name]}" for name in keep if name in packages)


def sling_binary(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages/sling_linux_amd64/bin/sling-linux-amd64"))
    if not found:
        raise RuntimeError("sling-linux-amd64 wheel has no binary for this machine")
    return found[0]


# -- the children (run as ``--child KIND --spec JSON``) ----------------------------------------------------------

def child_limit_pg(spec: dict[str, Any]) -> None:
    """psycopg 3, binary COPY out of the source piped into binary COPY into the centre, one transaction."""
    import psycopg

    moved = 0
    with psycopg.connect(spec["source"]) as src, psycopg.connect(spec["target"]) as dst:
        with src.cursor() as out_cur, dst.cursor() as in_cur, \
                out_cur.copy(f"COPY (SELECT {COLUMN_LIST} FROM {TABLE}) TO STDOUT (FORMAT BINARY)") as out, \
                in_cur.copy(f"COPY {TABLE} ({COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as into:
            for data in out:
                into.write(data)
                moved += len(data)
        dst.commit()
    print(json.dumps({"bytes": moved}))


def child_python_pipe(spec: dict[str, Any]) -> None:
    """PyMySQL's unbuffered cursor (rows streamed, not held) into a psycopg binary COPY."""
    import psycopg
    import pymysql
    import pymysql.cursors

    m = spec["mysql"]
    source = pymysql.connect(host=m["host"], port=m["port"], user=m["user"], password=m["password"],
                             database=SOURCE_DB, charset="utf8mb4", cursorclass=pymysql.cursors.SSCursor)
    types = ["int8", "varchar", "varchar", "varchar", "varchar", "numeric", "date", "timestamp", "varchar",
             "varchar", "varchar", "bool"]
    moved = 0
    with source, source.cursor() as cur, psycopg.connect(spec["target"]) as dst, dst.cursor() as in_cur:
        cur.execute(f"SELECT {COLUMN_LIST} FROM {TABLE}")  # noqa: S608
        with in_cur.copy(f"COPY {TABLE} ({COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as into:
            into.set_types(types)
            while rows := cur.fetchmany(5000):
                for row in rows:
                    into.write_row(row)
                moved += len(rows)
        dst.commit()
    print(json.dumps({"rows": moved}))


def child_govshare(spec: dict[str, Any]) -> None:
    """The engine as the worker's job runs it (``govshare.exchange.runs.plan_for`` / ``run_copy``)."""
    sys.path.insert(0, spec.get("tree") or str(ROOT))
    from govshare.datastore.engine.store import Store, StoreColumn
    from govshare.exchange.engine.copy import CopyPlan, full_copy
    from govshare.exchange.engine.sources import SourceSpec

    plan = CopyPlan(source=SourceSpec(**spec["source"]), schema=spec["schema"], table=TABLE, columns=tuple(NAMES),
                    items=tuple(StoreColumn(item, letter, length) for _n, _p, _m, item, letter, length in COLUMNS),
                    key=("id",), target=STORE_TABLE, batch_rows=spec["batch_rows"], key_unique=bool(spec.get("fast")))

    def run() -> Any:
        with Store.open(spec["store"]) as store:
            if spec.get("fast"):
                from govshare.exchange.engine.fastcopy import fast_full_copy

                return fast_full_copy(plan, store, run_id="bench")
            return full_copy(plan, store, run_id="bench")

    if spec.get("profile"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(run)
        profiler.dump_stats(spec["profile"])
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
    else:
        result = run()
    print(json.dumps(dataclasses.asdict(result)))


def child_dlt(spec: dict[str, Any]) -> None:
    """dlt's ``sql_table`` source into its postgres destination (run by the dlt virtualenv's Python)."""
    import dlt
    from dlt.sources.sql_database import sql_table

    table = sql_table(credentials=spec["source"], schema=spec["schema"], table=TABLE, backend=spec["backend"])
    pipeline = dlt.pipeline(pipeline_name=spec["pipeline"], pipelines_dir=spec["dir"],
                            destination=dlt.destinations.postgres(credentials=spec["target"]),
                            dataset_name="dlt_data")
    info = pipeline.run(table, write_disposition="replace")
    print(info)


CHILDREN = {"limit-pg": child_limit_pg, "python-pipe": child_python_pipe, "govshare": child_govshare,
            "dlt": child_dlt}


# -- the run ---------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.peers_root = Path(args.peers_venv) if args.peers_venv else work / "peers"
        self.peer_venv: dict[str, Path | str] = {}  # a path, or why not
        self.home = work / "home"  # HOME of the peers (~/.sling, ~/.dlt)
        self.home.mkdir(parents=True, exist_ok=True)
        self.outcomes: list[Outcome] = []
        self.explicit = {n.strip() for n in args.only.split(",") if n.strip()}
        self.only = self.explicit or set(CONTENDERS)
        self.tree = ROOT  # where govshare's engine is imported from (--ref: a worktree of that ref)
        self.govshare = "govshare"

    def wanted(self, name: str) -> bool:
        if name in ("sling", "ingestr", "dlt") and self.args.no_peers:
            return False
        return name in self.only

    def peer(self, name: str) -> Path:
        if name not in self.peer_venv:
            try:
                started = time.perf_counter()
                venv = ensure_peer(name, self.peers_root, self.work / f"install-{name}.log")
                self.peer_venv[name] = venv
                print(f"  {name}: {peer_versions(venv)}  ({venv}, ready in {time.perf_counter() - started:.0f} s)")
            except Exception as exc:  # noqa: BLE001 — reported on the contender's line
                self.peer_venv[name] = f"not installed: {exc}"
        got = self.peer_venv[name]
        if isinstance(got, str):
            raise RuntimeError(got)
        return got

    def peer_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MYSQL", "DATABASE_URL", "DLT"))}
        env.update(HOME=str(self.home), SLING_HOME_DIR=str(self.home / ".sling"), SLING_DISABLE_TELEMETRY="true",
                   DO_NOT_TRACK="1", RUNTIME__DLTHUB_TELEMETRY="false", INGESTR_DISABLE_TELEMETRY="true",
                   DISABLE_TELEMETRY="true")
        env.update(extra)
        return env

    def run(self, outcome: Outcome, cmd: Sequence[str], env: dict[str, str] | None, check: Any) -> None:
        """Run one contender, then ``check()`` → rows in its target."""
        log = self.work / f"{outcome.source.lower()}-{outcome.name}.log"
        print(f"  {outcome.label} …", end="", flush=True)
        try:
            status, seconds, rss = measured(cmd, log, env, self.args.timeout)
            outcome.seconds, outcome.rss_mb = seconds, rss
            if status:
                raise RuntimeError(f"exit {status}: {tail(log)}")
            outcome.rows = check()
            if outcome.rows != outcome.rows_expected:
                outcome.note = f"ROW COUNT MISMATCH: {outcome.rows:,} in the target, {outcome.rows_expected:,} wanted"
        except Exception as exc:  # noqa: BLE001 — one contender failing never ends the run
            outcome.error = str(exc)[:600]
        self.outcomes.append(outcome)
        if outcome.ok:
            print(f" {outcome.seconds:.1f} s, {outcome.rate:,.0f} rows/s, peak RSS {outcome.rss_mb:.0f} MB"
                  + (f"  *** {outcome.note}" if outcome.note else ""))
        else:
            print(f" failed: {outcome.error}")

    # -- PostgreSQL → centre ------------------------------------------------------------------------------------

    def postgres(self, source: Server, centre: Server, rows: int) -> None:
        src_libpq = source.libpq(SOURCE_DB)
        src_spec = {"kind": "postgresql", "host": source.host, "address": source.host, "port": source.port,
                    "database": SOURCE_DB, "user": source.user, "password": source.password, "tls": "prefer",
                    "statement_timeout": 600.0}

        def target(name: str, table_ddl: bool = False) -> str:
            database = f"centre_pg_{name.replace('-', '_')}"
            fresh_pg_database(centre, database)
            if table_ddl:
                with pg_connect(centre, database) as conn:
                    conn.execute(pg_ddl())
            checkpoint(source, centre)
            return database

        def done(database: str, table: str) -> Any:
            def check() -> int:
                counted = count_pg(centre, database, table)
                if not self.args.keep:
                    drop_pg_database(centre, database)
                return counted
            return check

        def outcome(name: str, label: str) -> Outcome:
            return Outcome("PostgreSQL", name, label, rows)

        if self.wanted("limit"):
            db = target("limit", table_ddl=True)
            self.run(outcome("limit", "limit: psycopg binary COPY pipe"),
                     child("limit-pg", {"source": src_libpq, "target": centre.libpq(db)}), None, done(db, TABLE))
        if self.wanted("govshare"):
            db = target("govshare")
            spec = {"source": src_spec, "schema": "public", "store": centre.url(db, "postgresql"),
                    "batch_rows": self.args.batch_rows, "profile": self.profile("postgresql"), "tree": str(self.tree)}
            self.run(outcome("govshare", f"{self.govshare} full_copy → PostgreSQL store"), child("govshare", spec),
                     None, done(db, STORE_TABLE))
        if self.wanted("govshare-fast"):
            db = target("govshare_fast")
            spec = {"source": src_spec, "schema": "public", "store": centre.url(db, "postgresql"),
                    "batch_rows": self.args.fast_batch_rows, "profile": self.profile("postgresql-fast"),
                    "tree": str(self.tree), "fast": True}
            self.run(outcome("govshare-fast", f"{self.govshare} fast_full_copy → PostgreSQL store"),
                     child("govshare", spec), None, done(db, STORE_TABLE))
        if self.wanted("govshare-sqlite"):
            path = self.work / "centre-pg.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            checkpoint(source, centre)
            spec = {"source": src_spec, "schema": "public", "store": f"sqlite:///{path}",
                    "batch_rows": self.args.batch_rows, "tree": str(self.tree)}
            self.run(outcome("govshare-sqlite", f"{self.govshare} full_copy → SQLite store (extra)"),
                     child("govshare", spec), None, lambda: self.count_sqlite(path))
        self.peers("PostgreSQL", rows, target, done,
                   src_sling=source.libpq(SOURCE_DB), src_ingestr=source.libpq(SOURCE_DB),
                   src_dlt=source.url(SOURCE_DB, "postgresql+psycopg2"), schema="public", centre=centre)

    def count_sqlite(self, path: Path) -> int:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            counted = int(conn.execute(f"SELECT count(*) FROM {STORE_TABLE}").fetchone()[0])  # noqa: S608
        if not self.args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return counted

    def profile(self, label: str) -> str:
        return str(self.work / f"govshare-{label}.prof") if self.args.profile else ""

    def peers(self, source_label: str, rows: int, target: Any, done: Any, *, src_sling: str, src_ingestr: str,
              src_dlt: str, schema: str, centre: Server) -> None:
        if self.wanted("sling"):
            outcome = Outcome(source_label, "sling", "Sling 1.4.11 (run, full-refresh)", rows)
            try:
                binary = sling_binary(self.peer("sling"))
            except Exception as exc:  # noqa: BLE001
                self.failed(outcome, exc)
            else:
                db = target("sling")
                cmd = [str(binary), "run", "--src-conn", "BENCH_SRC", "--src-stream", f"{schema}.{TABLE}",
                       "--tgt-conn", "BENCH_TGT", "--tgt-object", f"public.{TABLE}", "--mode", "full-refresh"]
                env = self.peer_env(BENCH_SRC=src_sling, BENCH_TGT=centre.libpq(db), SLING_BINARY=str(binary))
                self.run(outcome, cmd, env, done(db, f"public.{TABLE}"))
        if self.wanted("ingestr"):
            outcome = Outcome(source_label, "ingestr", "ingestr 1.1.0 (ingest, replace)", rows)
            try:
                venv = self.peer("ingestr")
            except Exception as exc:  # noqa: BLE001
                self.failed(outcome, exc)
            else:
                db = target("ingestr")
                cmd = [str(venv / "bin" / "ingestr"), "ingest", "--source-uri", src_ingestr,
                       "--source-table", f"{schema}.{TABLE}", "--dest-uri", centre.libpq(db),
                       "--dest-table", f"public.{TABLE}", "--yes", "--progress", "log"]
                self.run(outcome, cmd, self.peer_env(), done(db, f"public.{TABLE}"))
        if self.wanted("dlt"):
            outcome = Outcome(source_label, "dlt", f"dlt (sql_table, backend={DLT_BACKEND})", rows)
            try:
                venv = self.peer("dlt")
            except Exception as exc:  # noqa: BLE001
                self.failed(outcome, exc)
            else:
                db = target("dlt")
                pipelines = self.work / "dlt-pipelines"
                shutil.rmtree(pipelines, ignore_errors=True)
                # dlt insists on a password; the throwaway servers trust loopback and never ask for it
                dest = centre if centre.password else dataclasses.replace(centre, password="unused")
                spec = {"source": src_dlt, "schema": schema, "target": dest.url(db, "postgresql"),
                        "backend": DLT_BACKEND, "pipeline": f"bench_{source_label.lower()}", "dir": str(pipelines)}
                self.run(outcome, child("dlt", spec, venv / "bin" / "python"), self.peer_env(),
                         done(db, f"dlt_data.{TABLE}"))

    def failed(self, outcome: Outcome, exc: Exception) -> None:
        outcome.error = str(exc)[:600]
        self.outcomes.append(outcome)
        print(f"  {outcome.label} … failed: {outcome.error}")

    # -- MariaDB → centre ---------------------------------------------------------------------------------------

    def mysql(self, source: Server, centre: Server, rows: int) -> None:
        src_spec = {"kind": "mysql", "host": source.host, "address": source.host, "port": source.port,
                    "database": SOURCE_DB, "user": source.user, "password": source.password, "tls": "disable",
                    "statement_timeout": 600.0}

        def target(name: str, table_ddl: bool = False) -> str:
            database = f"centre_my_{name.replace('-', '_')}"
            fresh_pg_database(centre, database)
            if table_ddl:
                with pg_connect(centre, database) as conn:
                    conn.execute(pg_ddl())
            checkpoint(centre)
            return database

        def done(database: str, table: str) -> Any:
            def check() -> int:
                counted = count_pg(centre, database, table)
                if not self.args.keep:
                    drop_pg_database(centre, database)
                return counted
            return check

        def outcome(name: str, label: str) -> Outcome:
            return Outcome("MariaDB", name, label, rows)

        if self.wanted("limit"):
            client, psql = shutil.which("mariadb") or shutil.which("mysql"), shutil.which("psql")
            if not client or not psql:
                self.failed(outcome("limit", "limit: mariadb --quick | psql COPY"),
                            RuntimeError("the mariadb or psql client is not installed"))
            else:
                db = target("limit", table_ddl=True)
                read = [client, "--no-defaults", f"--host={source.host}", f"--port={source.port}",
                        f"--user={source.user}", "--batch", "--quick", "--skip-column-names", f"--database={SOURCE_DB}",
                        "-e", f"SELECT {COLUMN_LIST} FROM {TABLE}"]
                write = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", centre.libpq(db),
                         "-c", f"COPY {TABLE} ({COLUMN_LIST}) FROM STDIN (NULL 'NULL')"]
                shell = f"set -o pipefail; {shlex.join(read)} | {shlex.join(write)}"
                env = dict(os.environ, MYSQL_PWD=source.password)
                self.run(outcome("limit", "limit: mariadb --quick | psql COPY (C clients)"),
                         ["bash", "-c", shell], env, done(db, TABLE))
        if self.wanted("python-pipe"):
            db = target("python-pipe", table_ddl=True)
            spec = {"mysql": dataclasses.asdict(source), "target": centre.libpq(db)}
            self.run(outcome("python-pipe", "PyMySQL unbuffered cursor → binary COPY"),
                     child("python-pipe", spec), None, done(db, TABLE))
        if self.wanted("govshare"):
            db = target("govshare")
            spec = {"source": src_spec, "schema": SOURCE_DB, "store": centre.url(db, "postgresql"),
                    "batch_rows": self.args.batch_rows, "profile": self.profile("mysql"), "tree": str(self.tree)}
            self.run(outcome("govshare", f"{self.govshare} full_copy → PostgreSQL store"), child("govshare", spec),
                     None, done(db, STORE_TABLE))
        if self.wanted("govshare-fast"):
            db = target("govshare_fast")
            spec = {"source": src_spec, "schema": SOURCE_DB, "store": centre.url(db, "postgresql"),
                    "batch_rows": self.args.fast_batch_rows, "profile": self.profile("mysql-fast"),
                    "tree": str(self.tree), "fast": True}
            self.run(outcome("govshare-fast", f"{self.govshare} fast_full_copy (COPY lines) → PostgreSQL store"),
                     child("govshare", spec), None, done(db, STORE_TABLE))
        if "govshare-sqlite" in self.explicit:  # the issue asks it for PostgreSQL only: on request here
            path = self.work / "centre-my.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            spec = {"source": src_spec, "schema": SOURCE_DB, "store": f"sqlite:///{path}",
                    "batch_rows": self.args.batch_rows, "tree": str(self.tree)}
            self.run(outcome("govshare-sqlite", f"{self.govshare} full_copy → SQLite store (extra)"),
                     child("govshare", spec), None, lambda: self.count_sqlite(path))
        self.peers("MariaDB", rows, target, done, src_sling=source.url(SOURCE_DB, "mysql"),
                   src_ingestr=source.url(SOURCE_DB, "mysql"), src_dlt=source.url(SOURCE_DB, "mysql+pymysql"),
                   schema=SOURCE_DB, centre=centre)

    # -- report -------------------------------------------------------------------------------------------------

    def report(self) -> list[str]:
        lines: list[str] = []
        verdicts: list[str] = []
        for source in ("PostgreSQL", "MariaDB"):
            group = [o for o in self.outcomes if o.source == source]
            if not group:
                continue
            limit = next((o for o in group if o.name == "limit" and o.ok), None)
            # govshare: the path a run takes for this pair — the fast copy where it ran, else the keyset copy
            ours = next((o for o in group if o.name == "govshare-fast" and o.ok), None) or \
                next((o for o in group if o.name == "govshare" and o.ok), None)
            lines.append("")
            lines.append(f"{source} → centre (PostgreSQL), {group[0].rows_expected:,} rows")
            lines.append(f"{'contender':50s} {'rows':>11s} {'seconds':>8s} {'rows/s':>9s} {'÷ limit':>8s} "
                         f"{'govshare ÷':>10s} {'peak RSS MB':>11s}")
            for o in group:
                if not o.ok:
                    lines.append(f"{o.label:50s} failed: {o.error}")
                    continue
                share = f"{o.rate / limit.rate:.2f}" if limit else "—"
                versus = f"{ours.rate / o.rate:.2f}×" if ours and o is not ours else "—"
                counted = f"{o.rows:,}" if o.rows is not None else "?"
                lines.append(f"{o.label:50s} {counted:>11s} {o.seconds:8.1f} {o.rate:9,.0f} {share:>8s} "
                             f"{versus:>10s} {o.rss_mb:11.0f}" + (f"   *** {o.note}" if o.note else ""))
            if ours and limit:
                ratio = ours.rate / limit.rate
                verdicts.append(f"{source}: govshare ({ours.name}) at {ratio:.2f}× the limit — target ≥ 0.8×: "
                                f"{'met' if ratio >= 0.8 else 'NOT met'}")
            for o in group:
                if ours and o.ok and o.name in ("sling", "ingestr", "dlt"):
                    verdicts.append(f"{source}: govshare vs {o.name}: {ours.rate / o.rate:.2f}× — faster: "
                                    f"{'yes' if ours.rate > o.rate else 'NO'}")
        bad = [o for o in self.outcomes if o.note]
        if bad:
            verdicts.append("ROW COUNT MISMATCH in: " + ", ".join(f"{o.source} {o.name}" for o in bad))
        return lines + ([""] + verdicts if verdicts else [])


def server_stack(stack: contextlib.ExitStack, args: argparse.Namespace) -> dict[str, Server | None]:
    servers: dict[str, Server | None] = {"source": None, "centre": None, "mysql": None}
    settings = "-c max_connections=50 -c max_wal_size=8GB -c checkpoint_timeout=30min"
    if args.pg_dsn:
        servers["source"] = Server.parse("postgresql", args.pg_dsn)
    else:
        url = stack.enter_context(bench_common.throwaway_postgres(settings, "govshare-bench-src-"))
        servers["source"] = Server.parse("postgresql", url)
    if args.centre_dsn:
        servers["centre"] = Server.parse("postgresql", args.centre_dsn)
    elif args.pg_dsn or args.same_server:
        servers["centre"] = servers["source"]
    else:
        url = stack.enter_context(bench_common.throwaway_postgres(settings, "govshare-bench-centre-"))
        servers["centre"] = Server.parse("postgresql", url)
    if not args.skip_mysql:
        if args.mysql_dsn:
            servers["mysql"] = Server.parse("mysql", args.mysql_dsn)
        else:
            with_mariadb = _script("with_mariadb")
            options = ["--innodb-buffer-pool-size=2G", "--innodb-log-file-size=512M", "--max-allowed-packet=256M"]
            url = stack.enter_context(with_mariadb.throwaway_server(prefix="govshare-bench-mariadb-", options=options))
            servers["mysql"] = Server.parse("mysql", url)
    return servers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="PostgreSQL source rows (default 10 000 000)")
    parser.add_argument("--mysql-rows", type=int, default=5_000_000, help="MariaDB source rows (default 5 000 000)")
    parser.add_argument("--skip-mysql", action="store_true", help="PostgreSQL → centre only")
    parser.add_argument("--skip-pg", action="store_true", help="MariaDB → centre only")
    parser.add_argument("--no-peers", action="store_true", help="no Sling, ingestr, dlt")
    parser.add_argument("--only", default="", help=f"comma-separated contenders among {', '.join(CONTENDERS)}")
    parser.add_argument("--workdir", default="", help="logs, results, SQLite centres, peers' homes and "
                                                      "virtualenvs (default: tmp/bench-exchange, git-ignored)")
    parser.add_argument("--peers-venv", default="", help="where the peers' virtualenvs are made and reused "
                                                         "(default: WORKDIR/peers)")
    parser.add_argument("--keep", action="store_true", help="keep the target databases (with --pg-dsn/--centre-dsn: "
                                                         "throwaway servers go anyway) and the SQLite centres")
    parser.add_argument("--pg-dsn", default="", help="a PostgreSQL server to use (a superuser URL; database "
                                                     f"{SOURCE_DB} and centre_* are made there)")
    parser.add_argument("--centre-dsn", default="", help="the centre's PostgreSQL server (default: a second "
                                                         "throwaway server, or --pg-dsn's)")
    parser.add_argument("--same-server", action="store_true", help="one throwaway PostgreSQL for source and centre")
    parser.add_argument("--mysql-dsn", default="", help="a MariaDB/MySQL server to use (mysql://root:pw@host:port/)")
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS, help="govshare's page size (default 5000)")
    parser.add_argument("--fast-batch-rows", type=int, default=FAST_BATCH_ROWS,
                        help=f"the fast copy's page size (default {FAST_BATCH_ROWS}, as runs take it)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds a contender may take")
    parser.add_argument("--ref", default="", help="take govshare's engine from this git ref (a worktree) instead of "
                                                  "the working tree")
    parser.add_argument("--profile", action="store_true", help="cProfile the govshare child (top functions to its log)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        CHILDREN[args.child](json.loads(args.spec))
        return 0
    unknown = {n.strip() for n in args.only.split(",") if n.strip()} - set(CONTENDERS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))} (known: {', '.join(CONTENDERS)})")

    work = Path(args.workdir).resolve() if args.workdir else DEFAULT_WORKDIR
    work.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    print(f"table exchange, full copy: {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.2f}, work dir {work}, "
          f"{started:%Y-%m-%d %H:%M} UTC")
    bench = Bench(args, work)
    with contextlib.ExitStack() as stack:
        if args.ref:
            commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.ref], capture_output=True,
                                    text=True, check=True).stdout.strip()
            bench.tree = bench_common.add_worktree(commit, "govshare-bench-exchange-ref-")
            stack.callback(bench_common.remove_worktree, bench.tree)
            bench.govshare = f"govshare@{commit}"
            print(f"govshare's engine from {args.ref} ({commit}), worktree {bench.tree}")
        else:
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "govshare"],
                                   capture_output=True, text=True, check=False).stdout.strip()
            head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True, check=False).stdout.strip()
            print(f"govshare's engine from the working tree: {head}"
                  + (f" + {len(dirty.splitlines())} changed files under govshare/" if dirty else ""))
        servers = server_stack(stack, args)
        source, centre, maria = servers["source"], servers["centre"], servers["mysql"]
        assert source and centre
        with pg_connect(source) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        where = "the same server, other databases" if centre == source else "a second server"
        print(f"PostgreSQL {version}: source {source.host}:{source.port}, centre {centre.host}:{centre.port} "
              f"({where}){'' if args.pg_dsn else '; throwaway servers, fsync off'}")
        if not args.skip_pg:
            seconds, size = prepare_pg_source(source, args.rows)
            print(f"PostgreSQL source: {args.rows:,} rows, {size:,} MB with its key"
                  + (f", generated in {seconds:.0f} s" if seconds else " (reused)"))
            bench.postgres(source, centre, args.rows)
        if maria is not None:
            with contextlib.closing(mysql_connect(maria)) as conn, conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                print(f"\nMariaDB {cur.fetchone()[0]} at {maria.host}:{maria.port}")
            seconds, size = prepare_mysql_source(maria, args.mysql_rows)
            print(f"MariaDB source: {args.mysql_rows:,} rows, {size:,} MB"
                  + (f", generated in {seconds:.0f} s" if seconds else " (reused)"))
            bench.mysql(maria, centre, args.mysql_rows)
    lines = bench.report()
    print("\n".join(lines))
    print(f"\nfinished {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}")
    out = work / f"results-{started:%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps({"started": started.isoformat(), "argv": sys.argv[1:],
                               "outcomes": [dataclasses.asdict(o) | {"rate": o.rate} for o in bench.outcomes],
                               "report": lines}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"results: {out}")
    return 1 if any(o.note for o in bench.outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
