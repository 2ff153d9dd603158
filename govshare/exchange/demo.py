"""Demo front-end databases (EXC-6), after the sharing demo:

* 市场监管局 docks a SQLite front-end database (a file in ``GOVSHARE_SOURCE_DIR``) that holds 市场主体登记信息
  (营业执照) — 600 market entities with 统一社会信用代码, a view of the active ones, and a table without a
  primary key — and tests its connection (it works);
* 公安局 registers its PostgreSQL front-end database on the government network (10.36.7.21), not yet tested
  (the demo machine cannot reach it: testing it shows how a failure is explained);
* 市场监管局's data specialist binds the table to its published entry 市场主体登记信息（营业执照）, with the
  columns proposed from their pinyin initials, copies by its update-time column (gxsj), and picks value
  rules (GB 32100 credit codes, the registration states): three rows with a broken credit code are quarantined.
  The history: a full copy two days ago, an incremental one yesterday, one today;
* 税务局 docks its own front-end database with 纳税人登记信息 (the same enterprises, four under another name),
  binds it to copy by hand, and copied it three days ago: its copy is **stale** (a daily entry);
* the centre declares the 一数一源 check 企业名称 (market) ↔ 纳税人名称 (tax) by credit code and runs it: four
  names differ, and both providers are told.
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
        latest = dt.datetime.now().replace(microsecond=0) - dt.timedelta(days=3)
        for i in range(ENTITIES):
            founded = start + dt.timedelta(days=rng.randrange(0, 8000))
            approved = founded + dt.timedelta(days=rng.randrange(0, 900))
            town = rng.choice(_TOWNS)
            name = f"龙南市{rng.choice(_TRADES)}{rng.choice(_SUFFIX)}{'有限公司' if i % 7 else '专业合作社'}"
            name = f"{name[:3]}{town[:2]}{name[3:]}" if i % 3 == 0 else f"{name}（{i + 1:04d}）"
            updated = dt.datetime.combine(approved, dt.time(9)) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
            updated = min(updated, latest - dt.timedelta(minutes=i))  # no update time lies ahead
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
        _tax_register()
        _cross_check()
        _deliver_to_tax()
        _civil_uploads()
        _shared_files()


def _backdate(run: Any, days: float) -> None:
    """A demo run as if it had run ``days`` ago (the history a real centre would have)."""
    from govshare.exchange.models import ExchangeRun

    shift = dt.timedelta(days=days)
    run = ExchangeRun.objects.get(pk=run.pk)
    ExchangeRun.objects.filter(pk=run.pk).update(
        created_at=run.created_at - shift, started_at=run.started_at - shift if run.started_at else None,
        finished_at=run.finished_at - shift if run.finished_at else None)


def _bind_market_table(source: Any) -> None:
    from govshare.catalog.models import CatalogEntry
    from govshare.exchange.actions import do_bind_table, do_set_binding_mode, do_set_binding_rules
    from govshare.exchange.sources import propose_for

    specialist = User.objects.filter(department__code="LNSJ", role_assignments__role="data_specialist").first()
    entry = CatalogEntry.objects.filter(provider__code="LNSJ", status=CatalogEntry.Status.PUBLISHED,
                                        current_version__name="市场主体登记信息（营业执照）").first()
    if specialist is None or entry is None:
        return
    proposal = propose_for(specialist, entry, source, "main", "scztdjxx")
    binding = do_bind_table(specialist, entry, source=source, schema="main", table="scztdjxx",
                            mapping={item: column or "" for item, column in proposal.mapping.items()})
    binding = do_set_binding_mode(specialist, binding, mode="watermark", update_column="gxsj", overlap_seconds=300)
    binding = do_set_binding_rules(specialist, binding, rules=[
        {"item": "统一社会信用代码", "rule": {"kind": "uscc"}},
        {"item": "登记状态", "rule": {"kind": "enum", "values": ["存续", "在业", "注销", "吊销", "迁出"]}}])
    path = Path(settings.GOVSHARE_SOURCE_DIR) / MARKET_FILE
    with sqlite3.connect(path) as db:  # three registrations whose credit code lost its check character
        db.executemany("INSERT INTO scztdjxx SELECT substr(tyshxydm, 1, 17) || ?, qymc || '（补录）', scztlx, fddbrxm, "
                       "zczb, clrq, zs, jyfw, djjg, djzt, hzrq, gxsj FROM scztdjxx WHERE rowid = ?",
                       [("0" if n % 2 else "1", 100 + n * 37) for n in range(3)])
    db.close()
    _backdate(_copy_now(specialist, binding), 2)
    now = dt.datetime.now()
    with sqlite3.connect(path) as db:  # yesterday's work at the registration counter
        db.execute("UPDATE scztdjxx SET djzt = '注销', gxsj = ? WHERE rowid IN (11, 23, 35, 47, 59)",
                   ((now - dt.timedelta(days=1)).isoformat(sep=" ", timespec="seconds"),))
        db.execute("UPDATE scztdjxx SET zs = zs || '（迁址）', gxsj = ? WHERE rowid BETWEEN 200 AND 207",
                   ((now - dt.timedelta(days=1, hours=2)).isoformat(sep=" ", timespec="seconds"),))
    db.close()
    _backdate(_copy_now(specialist, binding), 1)
    with sqlite3.connect(path) as db:  # today's
        db.execute("UPDATE scztdjxx SET fddbrxm = '钟立华', gxsj = ? WHERE rowid IN (5, 6)",
                   (now.isoformat(sep=" ", timespec="seconds"),))
    db.close()
    _copy_now(specialist, binding)


TAX_FILE = Path("LNSW") / "qianzhiku.sqlite3"


def _tax_register() -> None:
    """税务局's front-end database: the taxpayer register of the same enterprises (480 of them), four of them
    under another name than the market register's — bound, copied three days ago (stale now)."""
    from govshare.catalog.models import CatalogEntry
    from govshare.exchange.actions import (
        do_bind_table,
        do_register_source,
        do_set_binding_schedule,
        do_test_source,
    )

    admin = User.objects.filter(username="tax_admin").first()
    entry = CatalogEntry.objects.filter(provider__code="LNSW", status=CatalogEntry.Status.PUBLISHED,
                                        current_version__name="纳税人登记信息").first()
    if admin is None or entry is None:
        return
    market = Path(settings.GOVSHARE_SOURCE_DIR) / MARKET_FILE
    with sqlite3.connect(market) as db:
        rows = db.execute("SELECT tyshxydm, qymc, scztlx, fddbrxm, zs, hzrq FROM scztdjxx ORDER BY rowid "
                          "LIMIT 480").fetchall()
    db.close()
    path = Path(settings.GOVSHARE_SOURCE_DIR) / TAX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    renamed = {17: "有限责任公司", 120: "（普通合伙）", 301: "分公司", 444: "（个人独资）"}
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE nsrdjxx (nsrsbh VARCHAR(20) PRIMARY KEY, nsrmc VARCHAR(200) NOT NULL, "
                   "djzclx VARCHAR(60), fddbrxm VARCHAR(50), scjydz VARCHAR(300), zgswjg VARCHAR(100), djrq DATE, "
                   "nsrzt VARCHAR(20))")
        db.executemany("INSERT INTO nsrdjxx VALUES (?,?,?,?,?,?,?,?)", [
            (code, name.replace("有限公司", renamed[n]) if n in renamed and "有限公司" in name else
             name + renamed[n] if n in renamed else name, kind, person, address, "国家税务总局龙南市税务局第一税务所",
             approved, "正常") for n, (code, name, kind, person, address, approved) in enumerate(rows)])
    db.close()
    with context.bind(ip="demo"):
        source = do_register_source(admin, name="税务局前置库", code="LNSW-QZK", kind="sqlite", database=str(TAX_FILE),
                                    description="单位纳税人税务登记信息，每日从征管系统导出；接收共享的库表数据",
                                    receives_deliveries=True)
        do_test_source(admin, source)
        binding = do_bind_table(admin, entry, source=source, schema="main", table="nsrdjxx", mapping={
            "纳税人识别号": "nsrsbh", "纳税人名称": "nsrmc", "登记注册类型": "djzclx", "法定代表人姓名": "fddbrxm",
            "生产经营地址": "scjydz", "主管税务所": "zgswjg", "登记日期": "djrq", "纳税人状态": "nsrzt"})
        # the tax bureau copies by hand — and has not for three days: the centre sees its copy stale
        binding = do_set_binding_schedule(admin, binding, "manual")
        _backdate(_copy_now(admin, binding), 3)


DELIVERED_TABLE = "gx_scztdjxx"


def _deliver_to_tax() -> None:
    """税务局's table grant on the market register (the sharing demo, system 税收征管信息系统) delivered into a table
    of its own front-end database — created, filled and checked here, so the demo opens with it done."""
    from govshare.catalog.models import CatalogEntry
    from govshare.core import jobs
    from govshare.core.demo import DEMO_NOTES
    from govshare.exchange.actions.deliveries import do_bind_delivery, do_start_delivery
    from govshare.exchange.models import DataSource, DeliveryRun
    from govshare.sharing.models import ConsumingSystem, Grant

    admin = User.objects.filter(username="tax_admin").first()
    market = CatalogEntry.objects.filter(provider__code="LNSJ", current_version__name="市场主体登记信息（营业执照）").first()
    system = ConsumingSystem.objects.filter(code="SW-ZGXT").first()
    target = DataSource.objects.filter(code="LNSW-QZK").first()
    if admin is None or market is None or system is None or target is None:
        return
    grant = Grant.objects.usable().filter(entry=market, consumer_id=admin.department_id, channel="table").first()
    if grant is None:
        return
    columns = {"统一社会信用代码": "tyshxydm", "企业名称": "qymc", "市场主体类型": "scztlx", "法定代表人姓名": "fddbrxm",
               "注册资本": "zczb", "成立日期": "clrq", "住所": "zs", "经营范围": "jyfw", "登记机关": "djjg",
               "登记状态": "djzt", "核准日期": "hzrq"}
    with context.bind(ip="demo"):
        binding = do_bind_delivery(admin, grant, system=system, target=target, table=DELIVERED_TABLE,
                                   columns={k: v for k, v in columns.items() if k in (grant.items or [])})
        for run in DeliveryRun.objects.filter(binding=binding, status=DeliveryRun.Status.QUEUED):
            if run.job_id is not None:
                jobs.execute(run.job_id, "demo")
        check = do_start_delivery(admin, binding, kind=DeliveryRun.Kind.CHECK)
        if check.job_id is not None:
            jobs.execute(check.job_id, "demo")
    DEMO_NOTES.append(f"库表交付 / table delivery: {grant.number} → {target.name} "
                      f"({Path(settings.GOVSHARE_SOURCE_DIR) / TAX_FILE}) 表 {DELIVERED_TABLE}")


UPLOAD_ENTRY = "养老机构信息"


def _civil_uploads() -> None:
    """民政局 has no business system for its 养老机构信息 (quarterly): its data specialist (``civil_specialist``)
    fills in the data template.  The first file had a broken credit code and a formula — refused, with the rows
    and columns named; the corrected one is loaded."""
    from govshare.catalog.models import CatalogEntry
    from govshare.core import jobs
    from govshare.exchange.actions.uploads import do_set_upload_rules, do_upload, template_of

    user = User.objects.filter(username="civil_specialist").first()
    entry = CatalogEntry.objects.filter(provider__code="LNMZ", status=CatalogEntry.Status.PUBLISHED,
                                        current_version__name=UPLOAD_ENTRY).first()
    if user is None or entry is None or entry.current_version is None:
        return
    items = list(entry.current_version.items.order_by("position"))
    rng = random.Random(11)
    kinds = ["公办", "民办", "公建民营"]
    takes = ["自理老人", "半失能老人", "失能老人", "自理、半失能及失能老人"]
    with context.bind(ip="demo"):
        if any(i.name == "机构性质" and i.data_type == "C" for i in items):
            do_set_upload_rules(user, entry, rules=[{"item": "机构性质", "rule": {"kind": "enum", "values": kinds}}])
        rows = []
        for n in range(24):
            town = _TOWNS[n % len(_TOWNS)]
            values = {"统一社会信用代码": make_uscc(REGION, 700 + n, "52"), "机构名称": f"龙南市{town}敬老院" if n % 3
                      else f"龙南市{town}颐养中心", "机构性质": kinds[n % 3], "床位数": 40 + rng.randrange(0, 160),
                      "收住对象": takes[n % 4], "地址": f"江西省赣州市龙南市{town}{rng.randrange(1, 90)}号",
                      "咨询电话": f"0797-35{rng.randrange(10000, 99999)}",
                      "备案日期": dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(0, 3000))}
            rows.append([_cell(values.get(item.name), item.data_type) for item in items])
        name, data = template_of(user, entry)
        for file_name, content in ((f"{UPLOAD_ENTRY}（第一版）.xlsx", _spoiled(data, rows, items)),
                                   (f"{UPLOAD_ENTRY}.xlsx", _filled(data, rows)),
                                   # a half-filled template: the mass-delete guard holds it for a person to decide
                                   (f"{UPLOAD_ENTRY}（部分）.xlsx", _filled(data, rows[:8]))):
            upload = do_upload(user, entry, file_name=file_name, data=content, mode="replace")
            if upload.job_id is not None:
                jobs.execute(upload.job_id, "demo")


FILE_ENTRY = "行政区划信息"


def _shared_files() -> None:
    """民政局 shares the county's division codes as a file (电子表格, yearly) — last year's version and this year's —
    and 交通运输局 takes it over the file channel (an unconditional entry: a grant at once)."""
    from govshare.catalog.models import CatalogEntry
    from govshare.exchange.actions.files import do_share_file
    from govshare.sharing.actions import do_subscribe_entry

    civil = User.objects.filter(username="civil_specialist").first()
    transport = User.objects.filter(username="transport_specialist").first()
    entry = CatalogEntry.objects.filter(provider__code="LNMZ", status=CatalogEntry.Status.PUBLISHED,
                                        current_version__name=FILE_ENTRY).first()
    if civil is None or entry is None:
        return
    header = "行政区划代码,行政区划名称,上级行政区划代码,层级\r\n"
    towns = [(f"360727{100 + n:03d}000", town, "360727000000", "乡级") for n, town in enumerate(_TOWNS)]
    lines = [("360727000000", "龙南市", "360700000000", "县级"), *towns]
    with context.bind(ip="demo"):
        for year, note, rows in (("2025", "2025年版", lines[:-1]), ("2026", "2026年版：新增东江乡", lines)):
            text = header + "".join(",".join(row) + "\r\n" for row in rows)
            do_share_file(civil, entry, name="龙南市行政区划代码表", original_name=f"行政区划代码表{year}.csv",
                          data=("\ufeff" + text).encode("utf-8"), note=note)
        if transport is not None:
            do_subscribe_entry(transport, entry, purpose="业务协同", purpose_detail="道路运输业户所在乡镇按区划代码统计。",
                               channel="file")


def _cell(value: Any, letter: str) -> Any:
    if value is None:
        return None
    if letter in "CM":
        return str(value)
    if letter == "I":
        return int(value) if isinstance(value, int) else None
    return value


def _filled(template: bytes, rows: list[list[Any]]) -> bytes:
    import io

    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template))
    sheet = book["数据"]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            sheet.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _spoiled(template: bytes, rows: list[list[Any]], items: list[Any]) -> bytes:
    """The first attempt: a credit code with a wrong check character, a formula where a name belongs."""
    bad = [list(row) for row in rows]
    names = [i.name for i in items]
    if "统一社会信用代码" in names:
        code = bad[4][names.index("统一社会信用代码")]
        bad[4][names.index("统一社会信用代码")] = code[:-1] + ("0" if code[-1] != "0" else "1")
    if "机构名称" in names:
        bad[9][names.index("机构名称")] = "=VLOOKUP(A10,机构表!A:B,2,FALSE)"
    return _filled(template, bad)


def _cross_check() -> None:
    from govshare.catalog.models import CatalogEntry
    from govshare.exchange.actions import do_declare_cross_check, do_run_cross_check

    centre = User.objects.filter(username="centre_admin").first()
    market = CatalogEntry.objects.filter(provider__code="LNSJ", current_version__name="市场主体登记信息（营业执照）").first()
    tax = CatalogEntry.objects.filter(provider__code="LNSW", current_version__name="纳税人登记信息").first()
    if centre is None or market is None or tax is None:
        return
    with context.bind(ip="demo"):
        check = do_declare_cross_check(centre, name="企业名称一数一源核查（市场监管 ↔ 税务）", left_entry=market,
                                       left_key="统一社会信用代码", left_item="企业名称", right_entry=tax,
                                       right_key="纳税人识别号", right_item="纳税人名称")
        do_run_cross_check(centre, check)


def _copy_now(user: Any, binding: Any) -> Any:
    """A copy run here rather than left to the worker: the demo opens with it done."""
    from govshare.core import jobs
    from govshare.exchange.actions import do_start_run

    run = do_start_run(user, binding)
    if run.job is not None:
        jobs.execute(run.job.pk, "demo")
    return run
