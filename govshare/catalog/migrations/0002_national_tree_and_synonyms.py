"""Seed the national top of the classification tree (政务信息资源目录编制指南; N51-§10) and the
default search synonyms.  Both are data the centre edits afterwards."""

from django.db import migrations

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


def seed(apps, schema_editor):
    Classification = apps.get_model("catalog", "Classification")
    Synonym = apps.get_model("catalog", "Synonym")
    tops = {}
    for code, name, kind in [("1", "基础信息资源", "basic"), ("2", "主题信息资源", "theme"),
                             ("3", "部门信息资源", "department")]:
        tops[code], _ = Classification.objects.get_or_create(code=code, defaults={"name": name, "level": 1,
                                                                                  "kind": kind})
    for code, name in BASIC:
        Classification.objects.get_or_create(code=code, defaults={"name": name, "level": 2, "kind": "basic",
                                                                  "parent": tops["1"]})
    for code, name in THEMES:
        Classification.objects.get_or_create(code=code, defaults={"name": name, "level": 2, "kind": "theme",
                                                                  "parent": tops["2"]})
    for term, expansions in SYNONYMS.items():
        Synonym.objects.get_or_create(term=term, defaults={"expansions": expansions})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
