"""The national top of the classification tree (政务信息资源目录编制指南; N51-§10) and the default
search synonyms.  Both are data the centre edits afterwards; :func:`ensure_defaults` only adds
what is missing (the migration calls it, and so do the demo and tests after a database flush)."""

from __future__ import annotations

from typing import Any

TOP = [("1", "基础信息资源", "basic"), ("2", "主题信息资源", "theme"), ("3", "部门信息资源", "department")]
BASIC = [
    ("101", "人口信息"), ("102", "法人单位信息"), ("103", "自然资源和空间地理信息"), ("104", "社会信用信息"),
    ("105", "电子证照信息"),
]
# N51-§10(三): 健康保障、社会保障、食品药品安全、安全生产、价格监管、能源安全、信用体系、城乡建设、社区治理、生态环保、应急维稳
THEMES = [
    ("201", "健康保障"), ("202", "社会保障"), ("203", "食品药品安全"), ("204", "安全生产"), ("205", "价格监管"),
    ("206", "能源安全"), ("207", "信用体系"), ("208", "城乡建设"), ("209", "社区治理"), ("210", "生态环保"),
    ("211", "应急维稳"),
]
SYNONYMS = {
    "社保": ["社会保险", "社会保障"],
    "医保": ["医疗保障", "医疗保险"],
    "公积金": ["住房公积金"],
    "营业执照": ["市场主体登记", "企业登记", "工商登记"],
    "身份证": ["居民身份证"],
    "户口": ["户籍"],
    "低保": ["最低生活保障"],
    "驾照": ["机动车驾驶证"],
    "残疾证": ["残疾人证"],
    "出生证": ["出生医学证明"],
    "环评": ["环境影响评价"],
    "公租房": ["公共租赁住房"],
    "信用代码": ["统一社会信用代码"],
    "不动产证": ["不动产权证书", "不动产登记"],
}


def ensure_defaults(classification_model: Any = None, synonym_model: Any = None) -> None:
    if classification_model is None or synonym_model is None:
        from govshare.catalog.models import Classification, Synonym

        classification_model, synonym_model = Classification, Synonym
    tops = {}
    for code, name, kind in TOP:
        tops[code], _ = classification_model.objects.get_or_create(
            code=code, defaults={"name": name, "level": 1, "kind": kind})
    for parent, kind, rows in (("1", "basic", BASIC), ("2", "theme", THEMES)):
        for code, name in rows:
            classification_model.objects.get_or_create(
                code=code, defaults={"name": name, "level": 2, "kind": kind, "parent": tops[parent]})
    if not synonym_model.objects.exists():
        for term, expansions in SYNONYMS.items():
            synonym_model.objects.get_or_create(term=term, defaults={"expansions": expansions})
