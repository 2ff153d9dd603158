"""Demo front-end databases (EXC-6), after the sharing demo:

* 市场监管局 docks a SQLite front-end database (a file in ``GOVSHARE_SOURCE_DIR``) that holds 市场主体登记信息
  (营业执照) — 600 market entities with 统一社会信用代码, a view of the active ones, and a table without a
  primary key — and tests its connection (it works);
* 公安局 registers its PostgreSQL front-end database on the government network (10.36.7.21), not yet tested
  (the demo machine cannot reach it: testing it shows how a failure is explained);
* 市场监管局's data specialist binds the table to its published entry 市场主体登记信息（营业执照）, with the
  columns proposed from their pinyin initials, and copies it into the data resource centre.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from govshare.core import context
from govshare.core.demo import REGION, make_uscc, register_loader
from govshare.core.models import User

MARKET_FILE = Path("LNSJ") / "qianzhiku.sqlite3"
ENTITIES = 600

_KINDS = ["有限责任公司(自然人投资或控股)", "有限责任公司(自然人独资)", "个人独资企业", "农民专业合作社", "股份有限公司(非上市)"]
_STATES = ["存续", "存续", "存续", "存续", "在业", "注销", "吊销"]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗钟曾谢"
_GIVEN = ["建国", "秀英", "志强", "海燕", "立新", "晓峰", "春梅", "文杰", "丽华", "国平", "小龙", "美玲"]
_TRADES = ["稀土", "脐橙", "电子", "物流", "建材", "餐饮", "农业", "旅游", "家具", "医药", "服装", "新能源"]
_SUFFIX = ["科技", "贸易", "实业", "发展", "商贸", "开发"]
_TOWNS = ["龙南镇", "武当镇", "杨村镇", "汶龙镇", "程龙镇", "关西镇", "里仁镇", "渡江镇", "桃江乡", "东江乡"]


def write_market_database(path: Path, *, seed: int = 42) -> int:
    """The 市场监管局 front-end database: a file of realistic registrations; returns the rows written."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    with sqlite3.connect(part) as db:
        db.executescript("""
            CREATE TABLE scztdjxx (
                tyshxydm   VARCHAR(18) PRIMARY KEY,  -- 统一社会信用代码
                qymc       VARCHAR(200) NOT NULL,    -- 企业名称
                scztlx     VARCHAR(60) NOT NULL,     -- 市场主体类型
                fddbrxm    VARCHAR(50),              -- 法定代表人姓名
                zczb       NUMERIC(18, 4),           -- 注册资本 (万元)
                clrq       DATE NOT NULL,            -- 成立日期
                zs         VARCHAR(300),             -- 住所
                jyfw       TEXT,                     -- 经营范围
                djjg       VARCHAR(100),             -- 登记机关
                djzt       VARCHAR(20) NOT NULL,     -- 登记状态
                hzrq       DATE,                     -- 核准日期
                gxsj       TIMESTAMP NOT NULL        -- 更新时间 (for incremental copies)
            );
            CREATE VIEW v_scztdjxx_cx AS SELECT * FROM scztdjxx WHERE djzt IN ('存续', '在业');
            CREATE TABLE djrz (czsj TIMESTAMP, czr VARCHAR(50), nr TEXT);  -- 登记日志: no primary key
        """)
        rows = []
        start = dt.date(2003, 1, 1)
        for i in range(ENTITIES):
            founded = start + dt.timedelta(days=rng.randrange(0, 8000))
            approved = founded + dt.timedelta(days=rng.randrange(0, 900))
            town = rng.choice(_TOWNS)
            name = f"龙南市{rng.choice(_TRADES)}{rng.choice(_SUFFIX)}{'有限公司' if i % 7 else '专业合作社'}"
            name = f"{name[:3]}{town[:2]}{name[3:]}" if i % 3 == 0 else f"{name}（{i + 1:04d}）"
            updated = dt.datetime.combine(approved, dt.time(9)) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
            rows.append((
                make_uscc(REGION, 20000 + i, kind="91"), name, rng.choice(_KINDS),
                rng.choice(_SURNAMES) + rng.choice(_GIVEN), round(rng.choice([10, 50, 100, 200, 500, 1000, 3000])
                                                               * rng.uniform(0.5, 2), 4),
                founded.isoformat(), f"江西省赣州市龙南市{town}{rng.randrange(1, 300)}号",
                f"{rng.choice(_TRADES)}产品的生产、加工与销售（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
                "龙南市市场监督管理局", rng.choice(_STATES), approved.isoformat(), updated.isoformat(sep=" "),
            ))
        db.executemany("INSERT INTO scztdjxx VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO djrz VALUES (?,?,?)",
                       [(r[11], "赵敏", f"核准 {r[0]} 登记") for r in rows[:50]])
    part.replace(path)
    return len(rows)


@register_loader
def load_exchange_demo() -> None:
    """Register the demo front-end databases once (idempotent)."""
    from govshare.exchange.actions import do_register_source, do_test_source
    from govshare.exchange.models import DataSource

    if DataSource.objects.exists():
        return
    market_admin = User.objects.filter(username="market_admin").first()
    police_admin = User.objects.filter(username="police_admin").first()
    if market_admin is None or police_admin is None:
        return
    write_market_database(Path(settings.GOVSHARE_SOURCE_DIR) / MARKET_FILE)
    with context.bind(ip="demo"):
        with transaction.atomic():
            market = do_register_source(
                market_admin, name="市场监管局前置库", code="LNSJ-QZK", kind="sqlite", database=str(MARKET_FILE),
                description="市场主体登记信息（营业执照）每日从登记系统导出到前置库")
            do_register_source(
                police_admin, name="公安局人口信息前置库", code="LNGA-QZK", kind="postgresql", host="10.36.7.21",
                port=5432, database="qzk", username="govshare_read", password="demo-only-password",
                tls="require", description="常住人口、户籍迁移信息；政务外网，只读账号")
        do_test_source(market_admin, market)
        _bind_market_table(market)


def _bind_market_table(source: Any) -> None:
    from govshare.catalog.models import CatalogEntry
    from govshare.exchange.actions import do_bind_table
    from govshare.exchange.sources import propose_for

    specialist = User.objects.filter(department__code="LNSJ", role_assignments__role="data_specialist").first()
    entry = CatalogEntry.objects.filter(provider__code="LNSJ", status=CatalogEntry.Status.PUBLISHED,
                                        current_version__name="市场主体登记信息（营业执照）").first()
    if specialist is None or entry is None:
        return
    proposal = propose_for(specialist, entry, source, "main", "scztdjxx")
    binding = do_bind_table(specialist, entry, source=source, schema="main", table="scztdjxx",
                            mapping={item: column or "" for item, column in proposal.mapping.items()})
    _copy_now(specialist, binding)


def _copy_now(user: Any, binding: Any) -> None:
    """The first full copy, run here rather than left to the worker: the demo opens with it done."""
    from govshare.core import jobs
    from govshare.exchange.actions import do_start_run

    run = do_start_run(user, binding)
    if run.job is not None:
        jobs.execute(run.job.pk, "demo")
