#!/usr/bin/env python3
"""Catalog search benchmark (issue 3, CAT-9): tantivy + rjieba vs. plain SQL LIKE.

Generates N synthetic catalog entries with realistic Chinese names and summaries, builds the
tantivy index through the same code path as the application (``govshare.catalog.search_engine``:
``build_document`` and ``Engine``, segmented with the platform's dictionary of place and department
names and the shipped word list), then times a fixed mix of queries, each answering the total count, three facets
(classification, provider, share type) and the first page of hits.  In the same run it loads the
same rows into SQLite (a temporary file) and PostgreSQL and times the naive alternative: ``LIKE
'%word%'`` over the text columns with one ``COUNT(*)``, three ``GROUP BY`` queries and the page.

    .venv/bin/python bench/catalog_search.py                 # 1 000 000 entries
    .venv/bin/python bench/catalog_search.py --n 200000 --pg-dsn postgresql://…
    .venv/bin/python bench/catalog_search.py --n 20000 --no-pg --sql-rounds 1

PostgreSQL: ``--pg-dsn``, else ``$DATABASE_URL`` when it names PostgreSQL, else a throwaway server
started like ``scripts/with_postgres.py`` does (Debian ``postgresql`` binaries); without any of
these the PostgreSQL column is skipped with a message.  Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common  # noqa: E402 — bench/, importable however this script is loaded

sys.path.insert(0, str(ROOT))

from govshare.catalog import search_engine as engine_mod  # noqa: E402
from govshare.catalog.seed import BASIC as BASIC_NAMES  # noqa: E402
from govshare.catalog.seed import MORE_SYNONYMS, SEARCH_WORDS  # noqa: E402
from govshare.catalog.seed import SYNONYMS as SEED_SYNONYMS  # noqa: E402
from govshare.catalog.seed import THEMES as THEME_NAMES  # noqa: E402

# ---------------------------------------------------------------------------- vocabulary

CITY = "龙南市"
# (short name, full name, code, subjects of its catalog)
DEPARTMENTS: list[tuple[str, str, str, list[str]]] = [
    ("公安局", "龙南市公安局", "GA", ["户籍人口", "流动人口", "暂住人口", "居民身份证", "机动车驾驶证", "机动车登记",
                                     "出入境证件", "治安案件", "交通违法", "户口迁移", "出生登记", "死亡注销"]),
    ("人社局", "龙南市人力资源和社会保障局", "RS", ["社会保险参保", "社会保险缴费", "养老保险待遇", "失业保险金",
                                                 "工伤保险认定", "就业登记", "职业技能等级证书", "劳动合同备案",
                                                 "人才引进", "社会保障卡"]),
    ("医保局", "龙南市医疗保障局", "YB", ["医疗保险参保", "医疗费用结算", "医疗保障定点机构", "医保药品目录",
                                         "门诊慢特病认定", "医疗救助", "生育保险待遇"]),
    ("卫健委", "龙南市卫生健康委员会", "WJ", ["出生医学证明", "医疗机构执业许可", "医师执业注册", "预防接种",
                                             "传染病报告", "居民健康档案", "计划生育"]),
    ("民政局", "龙南市民政局", "MZ", ["最低生活保障", "特困人员供养", "婚姻登记", "社会组织登记", "养老机构",
                                     "残疾人两项补贴", "殡葬服务", "地名"]),
    ("市场监管局", "龙南市市场监督管理局", "SJ", ["市场主体登记", "企业登记", "个体工商户登记", "食品经营许可",
                                                 "药品经营许可", "行政处罚", "经营异常名录", "特种设备",
                                                 "计量器具检定", "商标"]),
    ("自然资源局", "龙南市自然资源局", "ZR", ["不动产登记", "不动产权证书", "土地利用现状", "国土空间规划",
                                             "建设用地审批", "矿产资源", "地质灾害隐患点", "测绘成果"]),
    ("交通运输局", "龙南市交通运输局", "JT", ["道路运输经营许可", "道路运输从业人员", "公交线路", "出租汽车",
                                             "公路桥梁", "客运站", "网约车"]),
    ("生态环境局", "龙南市生态环境局", "HJ", ["环境影响评价", "排污许可", "空气质量监测", "水质监测",
                                             "污染源", "环境行政处罚", "固体废物"]),
    ("教育局", "龙南市教育局", "JY", ["中小学学籍", "学校基本情况", "教师资格", "学生资助", "义务教育招生",
                                     "民办学校办学许可"]),
    ("税务局", "国家税务总局龙南市税务局", "SW", ["纳税人登记", "纳税信用等级", "发票领用", "税收征收",
                                                 "欠税公告", "个人所得税"]),
    ("住建局", "龙南市住房和城乡建设局", "ZJ", ["商品房预售许可", "建筑施工许可", "建筑业企业资质",
                                               "公共租赁住房", "房屋交易备案", "物业服务企业"]),
    ("公积金中心", "赣州市住房公积金管理中心龙南分中心", "GJJ", ["住房公积金缴存", "住房公积金提取",
                                                               "住房公积金贷款", "缴存单位"]),
    ("农业农村局", "龙南市农业农村局", "NY", ["农村土地承包经营权", "农业补贴", "家庭农场", "农民专业合作社",
                                             "动物防疫", "农药经营许可"]),
    ("应急管理局", "龙南市应急管理局", "YJ", ["安全生产许可", "危险化学品经营许可", "应急救援队伍",
                                             "自然灾害灾情", "安全生产行政处罚"]),
    ("统计局", "龙南市统计局", "TJ", ["国民经济核算", "规模以上工业企业", "人口抽样调查", "经济普查",
                                     "农业普查"]),
    ("司法局", "龙南市司法局", "SF", ["律师执业", "公证机构", "人民调解", "法律援助", "社区矫正"]),
    ("财政局", "龙南市财政局", "CZ", ["财政预算", "政府采购", "国有资产", "非税收入"]),
    ("水利局", "龙南市水利局", "SL", ["取水许可", "河道采砂许可", "水利工程", "水土保持", "河长制"]),
    ("文广新旅局", "龙南市文化广电新闻出版旅游局", "WL", ["旅游景区", "文物保护单位", "公共图书馆", "演出经营许可",
                                                       "旅行社"]),
    ("退役军人事务局", "龙南市退役军人事务局", "TY", ["退役军人", "优抚对象", "烈士纪念设施"]),
    ("城管局", "龙南市城市管理局", "CG", ["户外广告设置", "占道经营", "城市绿化", "生活垃圾"]),
    ("发改委", "龙南市发展和改革委员会", "FG", ["固定资产投资项目", "企业投资项目备案", "价格监测", "社会信用"]),
    ("工信局", "龙南市工业和信息化局", "GX", ["工业企业", "中小企业", "无线电台站"]),
    ("商务局", "龙南市商务局", "SW2", ["对外贸易经营者备案", "外商投资企业", "成品油零售经营", "单用途预付卡"]),
    ("林业局", "龙南市林业局", "LY", ["林木采伐许可", "林地征占用", "森林防火", "古树名木"]),
    ("气象局", "龙南市气象局", "QX", ["气象观测", "气象灾害预警", "雷电防护装置检测"]),
    ("审计局", "龙南市审计局", "SJJ", ["审计项目", "审计整改"]),
    ("残联", "龙南市残疾人联合会", "CL", ["残疾人证", "残疾人就业", "残疾人康复"]),
    ("行政审批局", "龙南市行政审批局", "XZ", ["政务服务事项", "营业执照", "投资项目审批", "电子证照"]),
]
INFO_TYPES = ["基本信息", "登记信息", "变更信息", "注销信息", "统计信息", "明细信息", "台账", "名录", "许可信息",
              "审批信息", "汇总数据", "年度报告", "目录", "档案", "数据", "业务数据", "办理结果", "监测数据"]
ITEMS = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "户籍地址", "现住址", "联系电话", "统一社会信用代码",
         "企业名称", "法定代表人", "注册资本", "成立日期", "登记机关", "经营范围", "许可证编号", "有效期起",
         "有效期止", "发证机关", "发证日期", "办理日期", "金额", "缴费基数", "缴费月份", "参保险种", "待遇标准",
         "行政区划代码", "地址", "经度", "纬度", "面积", "用途", "状态", "备注", "审批结果", "处罚决定书文号",
         "违法事实", "处罚依据", "检测值", "监测时间", "学校名称", "学籍号", "车牌号码", "证件号码", "项目名称"]
SUMMARY_TEMPLATES = [
    "本辖区{obj}的{i1}、{i2}、{i3}等{kind}，由{dept}负责采集和维护，{cycle}更新。",
    "{dept}在履行职责过程中产生的{obj}{kind}，包括{i1}、{i2}和{i3}，用于政务服务和业务协同。",
    "记录{obj}相关的{i1}、{i2}、{i3}等内容，为跨部门共享提供{kind}，数据来源于{dept}业务系统。",
    "{obj}{kind}，涵盖全市{i1}、{i2}等字段，{cycle}更新，依据相关法律法规向有关部门共享。",
]
CYCLES = ["realtime", "daily", "weekly", "monthly", "quarterly", "half_yearly", "yearly", "other"]
CYCLE_ZH = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
            "half_yearly": "每半年", "yearly": "每年", "other": "不定期"}
FORMATS = ["file", "spreadsheet", "database", "image", "stream", "self_describing", "service"]
DOMAINS = ["信用", "交通", "医疗", "卫生", "就业", "社保", "地理", "文化", "教育", "科技", "能源", "农业", "环境",
           "经济", "金融", "安全", "统计", "气象", "企业登记监管"]
BASIC = ["101", "102", "103", "104", "105"]
THEMES = [f"2{n:02d}" for n in range(1, 12)]
# the shipped synonyms (govshare/catalog/seed.py)
SYNONYMS = {**SEED_SYNONYMS, **MORE_SYNONYMS}
# the platform's dictionary: the jurisdiction chain, every department's name and short name, the
# shipped word list (what ``govshare.catalog.search.load_dictionary`` reads from the database)
DICTIONARY = engine_mod.Dictionary(
    [(name, engine_mod.PLACE) for name in ("江西省", "赣州市", CITY)]
    + [(name, engine_mod.ORG) for short, full, _code, _subjects in DEPARTMENTS for name in (full, short)]
    + [(word, engine_mod.WORD) for word in SEARCH_WORDS])
CLASS_NAMES = {"1": "基础信息资源", "2": "主题信息资源", "3": "部门信息资源", **dict(BASIC_NAMES),
               **dict(THEME_NAMES),
               **{f"3{i + 1:02d}": f"{d[0]}信息资源" for i, d in enumerate(DEPARTMENTS)}}


def generate(n: int, seed: int = 20261123) -> Iterator[dict[str, Any]]:
    """``n`` entries as :func:`govshare.catalog.search.build_document` sources."""
    rnd = random.Random(seed)
    sequences: dict[str, int] = {}
    epoch = dt.datetime(2021, 1, 1, tzinfo=dt.UTC).timestamp()
    span = 5 * 365 * 86400
    for entry_id in range(1, n + 1):
        dept_index = rnd.randrange(len(DEPARTMENTS))
        short, full, code, subjects = DEPARTMENTS[dept_index]
        obj = rnd.choice(subjects)
        kind = rnd.choice(INFO_TYPES)
        roll = rnd.random()
        if roll < 0.1:
            classification = rnd.choice(BASIC) + f"{rnd.randrange(1, 4):03d}"
        elif roll < 0.2:
            classification = rnd.choice(THEMES) + f"{rnd.randrange(1, 4):03d}"
        else:
            classification = f"3{dept_index + 1:02d}" + (f"{rnd.randrange(1, 6):03d}" if rnd.random() < 0.7 else "")
        sequences[classification] = sequences.get(classification, 0) + 1
        items = rnd.sample(ITEMS, rnd.randrange(4, 9))
        cycle = rnd.choice(CYCLES)
        share = rnd.choices(["unconditional", "conditional", "none"], weights=[55, 38, 7])[0]
        open_attr = "not_open" if share != "unconditional" else rnd.choices(
            ["open", "on_application", "not_open"], weights=[30, 20, 50])[0]
        status = rnd.choices(["published", "draft", "withdrawn"], weights=[90, 7, 3])[0]
        published = (None if status == "draft"
                     else dt.datetime.fromtimestamp(epoch + rnd.randrange(span), tz=dt.UTC))
        path = [CLASS_NAMES[classification[:n]] for n in (1, 3) if classification[:n] in CLASS_NAMES]
        yield {
            "entry_id": entry_id,
            "code": f"{classification}/{sequences[classification]:06d}",
            "classification": classification,
            "classification_names": path + ([obj] if len(classification) > 3 else []),  # the 目 named by subject
            "name": f"{CITY}{short}{obj}{kind}",
            "summary": rnd.choice(SUMMARY_TEMPLATES).format(obj=obj, kind=kind, dept=full, i1=items[0], i2=items[1],
                                                            i3=items[2], cycle=CYCLE_ZH[cycle]),
            "keywords": [obj, kind.replace("信息", "") or kind, short],
            "items": items,
            "provider_id": dept_index + 1,
            "provider_names": [full, short],
            "provider_code": code,
            "provider_uscc": f"11360783{dept_index + 1:09d}X",
            "share_type": share,
            "open_attribute": open_attr,
            "format_class": rnd.choice(FORMATS),
            "update_cycle": cycle,
            "domain": rnd.choice(DOMAINS) if open_attr != "not_open" else "",
            "status": status,
            "published_at": published,
        }


# ---------------------------------------------------------------------------- the query mix

GOV = engine_mod.Audience(dept_id=1)  # a police data specialist
PUBLIC = engine_mod.PUBLIC


class Case:
    def __init__(self, label: str, q: str, audience: engine_mod.Audience | None = GOV,
                 filters: dict[str, list[str]] | None = None, sort: str = "relevance") -> None:
        self.label, self.q, self.audience, self.filters, self.sort = label, q, audience, filters or {}, sort


MIX = [
    Case("two-char word", "人口"),
    Case("two-char word", "企业"),
    Case("synonym 社保→社会保险|社会保障", "社保"),
    Case("synonym 医保 + word", "医保 结算"),
    Case("synonym 公积金→住房公积金, by date", "公积金", sort="date"),
    Case("synonym 营业执照→市场主体登记…", "营业执照"),
    Case("synonym 低保, public", "低保", PUBLIC),
    Case("phrase", "户籍人口基本信息"),
    Case("two words", "食品经营许可"),
    Case("two words, public", "不动产登记", PUBLIC),
    Case("word + filter share_type", "许可", GOV, {"share_type": ["unconditional"]}),
    Case("word + filter provider", "行政处罚", GOV, {"provider": ["6"]}),
    Case("synonym 驾照 + filter open", "驾照", PUBLIC, {"open_attribute": ["open"]}),
    Case("broad word 信息", "信息"),
    Case("browse, filter class 301", "", GOV, {"classification": ["301"]}),
    Case("synonym 法人→市场主体|企业|单位…", "法人"),
    Case("place + department", "龙南 公安局"),
    Case("typo (no hit, then one edit)", "户藉人口"),
]
FACETS = ("classification", "provider", "share_type")


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---------------------------------------------------------------------------- SQL side

TEXT_COLUMNS = ("name", "keywords", "summary", "items", "provider_name")
COLUMNS = ("entry_id", "code", "name", "keywords", "summary", "items", "provider_name", "provider_id", "cls",
           "share_type", "open_attribute", "format_class", "update_cycle", "domain", "status", "published",
           "aud_public")


def sql_row(src: dict[str, Any]) -> tuple[Any, ...]:
    published = src["published_at"]
    return (src["entry_id"], src["code"], src["name"], " ".join(src["keywords"]), src["summary"],
            " ".join(src["items"]), " ".join(src["provider_names"]), src["provider_id"], src["classification"][:3],
            src["share_type"], src["open_attribute"], src["format_class"], src["update_cycle"], src["domain"],
            src["status"], int(published.timestamp()) if published else 0,
            1 if src["status"] == "published" and src["open_attribute"] != "not_open" else 0)


def sql_where(case: Case, ph: str) -> tuple[str, list[Any]]:
    """The LIKE translation of a case: every query word (or one of its synonyms) in one of the text
    columns; the same visibility and filters as the index."""
    parsed = engine_mod.parse_query(case.q, SYNONYMS, DICTIONARY)
    clauses: list[str] = []
    params: list[Any] = []
    for word in parsed.words:
        alternatives = [word, *parsed.expansions.get(word, [])]
        ors = []
        for alt in alternatives:
            for col in TEXT_COLUMNS:
                ors.append(f"{col} LIKE {ph}")
                params.append(f"%{alt}%")
        clauses.append("(" + " OR ".join(ors) + ")")
    if case.audience is not None and case.audience.public:
        clauses.append("aud_public = 1")
    elif case.audience is not None:
        clauses.append(f"(status = 'published' OR provider_id = {ph})")
        params.append(case.audience.dept_id)
    for key, values in case.filters.items():
        column = {"classification": "cls", "provider": "provider_id"}.get(key, key)
        marks = ", ".join([ph] * len(values))
        clauses.append(f"{column} IN ({marks})")
        params.extend(int(v) if column == "provider_id" else v for v in values)
    return (" AND ".join(clauses) or "1=1"), params


def sql_case(cur: Any, case: Case, ph: str) -> tuple[int, dict[str, list[tuple[Any, int]]]]:
    where, params = sql_where(case, ph)
    cur.execute(f"SELECT COUNT(*) FROM catalog WHERE {where}", params)
    total = int(cur.fetchone()[0])
    facets = {}
    for key, column in (("classification", "cls"), ("provider", "provider_id"), ("share_type", "share_type")):
        cur.execute(f"SELECT {column}, COUNT(*) FROM catalog WHERE {where} GROUP BY {column} ORDER BY 2 DESC",
                    params)
        facets[key] = [(str(v), int(c)) for v, c in cur.fetchall()]
    cur.execute(f"SELECT entry_id FROM catalog WHERE {where} ORDER BY published DESC LIMIT 20", params)
    cur.fetchall()
    return total, facets


def run_sql(label: str, conn: Any, ph: str, rounds: int, expected: dict[int, int]) -> dict[str, Any]:
    cur = conn.cursor()
    times: list[float] = []
    per_case: dict[int, list[float]] = {}
    mismatches = []
    for _round in range(rounds):
        for i, case in enumerate(MIX):
            t0 = time.perf_counter()
            total, _facets = sql_case(cur, case, ph)
            ms = (time.perf_counter() - t0) * 1000
            times.append(ms)
            per_case.setdefault(i, []).append(ms)
            if total != expected[i]:
                mismatches.append((case.q, total, expected[i]))
            print(f"  {label:10s} {case.q or '(browse)':18s} {total:>9d} hits  {ms:9.1f} ms", flush=True)
    return {"times": times, "per_case": per_case, "mismatches": mismatches}


def load_sqlite(path: Path, rows: Sequence[tuple[Any, ...]]) -> tuple[sqlite3.Connection, float]:
    conn = sqlite3.connect(str(path))
    t0 = time.perf_counter()
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE catalog (entry_id INTEGER PRIMARY KEY, code TEXT, name TEXT, keywords TEXT, "
                 "summary TEXT, items TEXT, provider_name TEXT, provider_id INTEGER, cls TEXT, share_type TEXT, "
                 "open_attribute TEXT, format_class TEXT, update_cycle TEXT, domain TEXT, status TEXT, "
                 "published INTEGER, aud_public INTEGER)")
    conn.executemany(f"INSERT INTO catalog VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    for column in ("provider_id", "cls", "share_type", "status", "published"):
        conn.execute(f"CREATE INDEX catalog_{column} ON catalog ({column})")
    conn.commit()
    conn.execute("ANALYZE")
    return conn, time.perf_counter() - t0


def load_pg(dsn: str, rows: Sequence[tuple[Any, ...]]) -> tuple[Any, float]:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    t0 = time.perf_counter()
    conn.execute("DROP TABLE IF EXISTS catalog")
    conn.execute("CREATE UNLOGGED TABLE catalog (entry_id integer PRIMARY KEY, code text, name text, keywords text, "
                 "summary text, items text, provider_name text, provider_id integer, cls text, share_type text, "
                 "open_attribute text, format_class text, update_cycle text, domain text, status text, "
                 "published bigint, aud_public integer)")
    with conn.cursor() as cur, cur.copy(f"COPY catalog ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    for column in ("provider_id", "cls", "share_type", "status", "published"):
        conn.execute(f"CREATE INDEX catalog_{column} ON catalog ({column})")
    conn.execute("VACUUM ANALYZE catalog")
    return conn, time.perf_counter() - t0


def throwaway_postgres() -> contextlib.AbstractContextManager[str]:
    """A private PostgreSQL server (``scripts/with_postgres.py``'s), for the bench."""
    return bench_common.throwaway_postgres("-c shared_buffers=1GB -c work_mem=64MB -c maintenance_work_mem=512MB",
                                           prefix="govshare-bench-pg-")


# ---------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of entries (default 1 000 000)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds of the query mix (tantivy)")
    parser.add_argument("--sql-rounds", type=int, default=1, help="timed rounds of the query mix (SQL)")
    parser.add_argument("--pg-dsn", default="", help="PostgreSQL to use (default: $DATABASE_URL or a throwaway one)")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-sql", action="store_true", help="skip SQLite and PostgreSQL")
    parser.add_argument("--workdir", default="", help="where the index and the SQLite file go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="govshare-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"catalog search benchmark: {args.n:,} entries, {os.cpu_count()} CPU(s), work dir {work}")
    try:
        t0 = time.perf_counter()
        sources = list(generate(args.n))
        gen_s = time.perf_counter() - t0
        print(f"generated {len(sources):,} entries in {gen_s:.1f} s; e.g. {sources[0]['name']} / "
              f"{sources[0]['summary']}")

        # ---- index build: the application's document code path, one writer, one commit
        index_path = work / "index"
        shutil.rmtree(index_path, ignore_errors=True)
        engine = engine_mod.Engine(index_path)
        t0 = time.perf_counter()
        writer = engine.writer(heap=engine_mod.REBUILD_HEAP, threads=max(1, min(2, os.cpu_count() or 1)))
        assert writer is not None
        for src in sources:
            writer.add_document(engine_mod.build_document(src, DICTIONARY))
        writer.commit()
        writer.wait_merging_threads()
        del writer
        engine.reload()
        build_s = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in index_path.rglob("*") if f.is_file()) / 1e6
        searcher = engine.index.searcher()
        print(f"index built in {build_s:.1f} s ({args.n / build_s:,.0f} docs/s), {size_mb:.0f} MB, "
              f"{searcher.num_segments} segment(s), {searcher.num_docs:,} docs")

        # ---- tantivy query mix
        expected: dict[int, int] = {}
        for i, case in enumerate(MIX):  # warm-up, and the totals the SQL side must match
            res = engine.query(case.q, synonyms=SYNONYMS, dictionary=DICTIONARY, audience=case.audience,
                               filters=case.filters, sort=case.sort, facet_keys=FACETS)
            expected[i] = res.total
        times: list[float] = []
        per_case: dict[int, list[float]] = {}
        for _round in range(args.rounds):
            for i, case in enumerate(MIX):
                t = time.perf_counter()
                res = engine.query(case.q, synonyms=SYNONYMS, dictionary=DICTIONARY, audience=case.audience,
                                   filters=case.filters, sort=case.sort, facet_keys=FACETS)
                ms = (time.perf_counter() - t) * 1000
                times.append(ms)
                per_case.setdefault(i, []).append(ms)
                assert res.total == expected[i]
        print(f"\ntantivy: {len(times)} searches ({args.rounds} rounds × {len(MIX)} queries), each = total + "
              f"3 facets + first page of 20")
        results: dict[str, dict[str, Any]] = {"govshare (tantivy)": {"times": times, "per_case": per_case}}

        # ---- SQL LIKE
        if not args.no_sql:
            rows = [sql_row(s) for s in sources]
            t0 = time.perf_counter()
            sqlite_conn, load_s = load_sqlite(work / "catalog.sqlite3", rows)
            print(f"\nSQLite {sqlite3.sqlite_version}: loaded in {load_s:.1f} s")
            results["SQLite LIKE"] = run_sql("sqlite", sqlite_conn, "?", args.sql_rounds, expected)
            sqlite_conn.close()
            dsn = args.pg_dsn or (os.environ.get("DATABASE_URL", "") if os.environ.get(
                "DATABASE_URL", "").startswith("postgres") else "")
            if args.no_pg:
                print("PostgreSQL: skipped (--no-pg)")
            else:
                stack = contextlib.ExitStack()
                try:
                    if not dsn:
                        try:
                            dsn = stack.enter_context(throwaway_postgres())
                        except (SystemExit, subprocess.CalledProcessError, OSError, KeyError) as exc:
                            print(f"PostgreSQL: skipped — no --pg-dsn and no throwaway server ({exc})")
                    if dsn:
                        pg_conn, load_s = load_pg(dsn, rows)
                        version = pg_conn.execute("SHOW server_version").fetchone()[0]
                        print(f"\nPostgreSQL {version}: loaded in {load_s:.1f} s")
                        results["PostgreSQL LIKE"] = run_sql("postgres", pg_conn, "%s", args.sql_rounds, expected)
                        pg_conn.close()
                finally:
                    stack.close()

        # ---- report
        print(f"\n=== results: {args.n:,} entries; index build {build_s:.1f} s; per search = total + 3 facets + "
              f"page ===")
        header = f"{'query':34s} {'hits':>9s}" + "".join(f" {name[:18]:>18s}" for name in results)
        print(header)
        for i, case in enumerate(MIX):
            cells = "".join(f" {statistics.median(r['per_case'][i]):15.1f} ms" for r in results.values())
            print(f"{(case.q or '(browse)') + ' — ' + case.label:34s} {expected[i]:>9d}{cells}")
        print()
        base = results["govshare (tantivy)"]["times"]
        print(f"{'':34s} {'p50':>9s} {'p95':>9s} {'p99':>9s} {'mean':>9s}  ratio p50 / p95 vs govshare")
        for name, r in results.items():
            t = r["times"]
            line = (f"{name:34s} {percentile(t, 50):7.1f}ms {percentile(t, 95):7.1f}ms {percentile(t, 99):7.1f}ms "
                    f"{statistics.fmean(t):7.1f}ms")
            if name != "govshare (tantivy)":
                line += (f"  ×{percentile(t, 50) / percentile(base, 50):,.0f} / "
                         f"×{percentile(t, 95) / percentile(base, 95):,.0f}")
            print(line)
            for q, got, want in r.get("mismatches", []):
                print(f"   note: {name} counts {got} for {q!r}, the index {want} (LIKE also matches inside words)")
        p95 = percentile(base, 95)
        print(f"\ntarget p95 <= 15 ms: {'met' if p95 <= 15 else 'NOT met'} ({p95:.1f} ms)")
        return 0
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
