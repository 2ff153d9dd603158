"""The national top of the classification tree (政务信息资源目录编制指南; N51-§10), the default
search synonyms and the default search word list.  Both are data the centre edits afterwards; :func:`ensure_defaults` only adds
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
#: added in issue 8 (CAT-9): what users type for the terms of the guide — 法人 for the 法人单位
#: register, the old names of merged offices (工商, 国土, 环保), everyday words for certificates
#: and English abbreviations.  Also added to existing databases (migration 0004) unless present.
MORE_SYNONYMS = {
    "法人": ["市场主体", "企业", "单位", "法人单位"],
    "法人库": ["法人单位信息"],
    "个体户": ["个体工商户"],
    "工商": ["市场主体登记", "市场监管"],
    "工商局": ["市场监督管理局", "市场监管局"],
    "质监": ["市场监管", "特种设备"],
    "税号": ["纳税人识别号", "统一社会信用代码"],
    "个税": ["个人所得税"],
    "社保卡": ["社会保障卡"],
    "医保卡": ["社会保障卡", "医保电子凭证"],
    "养老金": ["养老保险待遇"],
    "失业金": ["失业保险金"],
    "五保": ["特困人员"],
    "房产证": ["不动产权证书", "不动产登记"],
    "房产": ["不动产", "房屋"],
    "土地证": ["不动产登记", "建设用地使用权"],
    "结婚证": ["婚姻登记"],
    "离婚证": ["婚姻登记"],
    "死亡证明": ["死亡医学证明"],
    "打疫苗": ["预防接种"],
    "疫苗": ["预防接种"],
    "护照": ["出入境证件"],
    "港澳通行证": ["出入境证件"],
    "行驶证": ["机动车登记"],
    "车管所": ["机动车登记", "机动车驾驶证"],
    "违章": ["交通违法"],
    "罚单": ["行政处罚"],
    "黑名单": ["严重违法失信", "失信"],
    "老赖": ["失信"],
    "药店": ["药品零售"],
    "医院": ["医疗机构"],
    "诊所": ["医疗机构"],
    "出租车": ["出租汽车", "网约车"],
    "的士": ["出租汽车"],
    "排污证": ["排污许可证"],
    "施工证": ["施工许可证"],
    "预售证": ["预售许可"],
    "事业单位": ["机关事业单位"],
    "社团": ["社会团体", "社会组织"],
    "民非": ["民办非企业"],
    "国土": ["自然资源", "国土空间"],
    "环保": ["生态环境"],
    "人社": ["人力资源和社会保障"],
    "卫健": ["卫生健康"],
    "住建": ["住房和城乡建设"],
    "教育局": ["教育科技体育局", "教科体局"],
    "交警": ["道路交通"],
    "老人": ["老年人"],
    "地图": ["地理信息", "测绘"],
    "aqi": ["空气质量指数"],
    "cma": ["检验检测机构资质认定"],
    "dom": ["数字正射影像"],
    "gis": ["地理信息"],
    "api": ["接口"],
    "12315": ["消费投诉"],
    "12369": ["环境信访"],
}
#: words jieba cuts apart (公租房 → 公 / 租房) that search keeps whole (CAT-9); jurisdiction and
#: department names need no entry (they are added automatically)
SEARCH_WORDS = {
    "公租房": "公共租赁住房",
    "保障房": "保障性住房",
    "一网通办": "政务服务",
    "一件事": "“出生一件事”等集成服务",
    "两客一危": "旅游包车、班线客车和危险货物运输车辆",
    "双随机": "“双随机、一公开”监管",
    "三区三线": "国土空间规划",
    "雪亮工程": "公共安全视频监控",
    "医保码": "医保电子凭证",
    "失业金": "失业保险金",
    "个税": "个人所得税",
    "特困人员": "",
}


def ensure_defaults(classification_model: Any = None, synonym_model: Any = None, word_model: Any = None) -> None:
    if classification_model is None or synonym_model is None:
        from govshare.catalog.models import Classification, SearchWord, Synonym

        classification_model, synonym_model, word_model = Classification, Synonym, SearchWord
    tops = {}
    for code, name, kind in TOP:
        tops[code], _ = classification_model.objects.get_or_create(
            code=code, defaults={"name": name, "level": 1, "kind": kind})
    for parent, kind, rows in (("1", "basic", BASIC), ("2", "theme", THEMES)):
        for code, name in rows:
            classification_model.objects.get_or_create(
                code=code, defaults={"name": name, "level": 2, "kind": kind, "parent": tops[parent]})
    if not synonym_model.objects.exists():
        for term, expansions in {**SYNONYMS, **MORE_SYNONYMS}.items():
            synonym_model.objects.get_or_create(term=term, defaults={"expansions": expansions})
    if word_model is not None and not word_model.objects.exists():
        add_search_words(word_model)


def add_more_synonyms(synonym_model: Any) -> None:
    """The synonyms of :data:`MORE_SYNONYMS` that an existing database lacks (a term the centre has
    already defined keeps its expansions)."""
    for term, expansions in MORE_SYNONYMS.items():
        synonym_model.objects.get_or_create(term=term, defaults={"expansions": expansions})


def add_search_words(word_model: Any) -> None:
    for word, note in SEARCH_WORDS.items():
        word_model.objects.get_or_create(word=word, defaults={"note": note})
