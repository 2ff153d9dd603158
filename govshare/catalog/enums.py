"""The coded values of the national 政务信息资源目录编制指南 (CAT-1, CAT-2, CAT-6).

Each choice stores a stable code; ``ZH`` maps the guide's own Chinese term to the code so that
Excel and JSON files written in the guide's words import unchanged.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DataType(models.TextChoices):
    """数据类型 — the guide's one-letter codes."""

    CHAR = "C", _("C character")
    NUMBER = "N", _("N number")
    CURRENCY = "Y", _("Y currency")
    DATE = "D", _("D date")
    DATETIME = "T", _("T date and time")
    LOGICAL = "L", _("L logical")
    MEMO = "M", _("M memo")
    GENERAL = "G", _("G general")
    DOUBLE = "B", _("B double")
    INTEGER = "I", _("I integer")
    FLOAT = "F", _("F float")


DATA_TYPE_ZH = {"C": "字符型", "N": "数值型", "Y": "货币型", "D": "日期型", "T": "日期时间型", "L": "逻辑型",
                "M": "备注型", "G": "通用型", "B": "双精度型", "I": "整型", "F": "浮点型"}
#: types whose length the guide requires (character and numeric kinds); the others have a fixed size
DATA_TYPES_WITH_LENGTH = frozenset({"C", "N", "Y", "B", "F"})


class FormatClass(models.TextChoices):
    """信息资源格式分类."""

    FILE = "file", _("Electronic file")
    SPREADSHEET = "spreadsheet", _("Spreadsheet")
    DATABASE = "database", _("Database")
    IMAGE = "image", _("Graphics / image")
    STREAM = "stream", _("Streaming media")
    SELF_DESCRIBING = "self_describing", _("Self-describing format")
    SERVICE = "service", _("Service interface")
    OTHER = "other", _("Other")


FORMAT_CLASS_ZH = {"file": "电子文件", "spreadsheet": "电子表格", "database": "数据库", "image": "图形图像",
                   "stream": "流媒体", "self_describing": "自描述格式", "service": "服务接口", "other": "其他"}


class ShareType(models.TextChoices):
    """共享类型 (N51-§10)."""

    UNCONDITIONAL = "unconditional", _("Unconditional sharing")
    CONDITIONAL = "conditional", _("Conditional sharing")
    NONE = "none", _("Not shared")


SHARE_TYPE_ZH = {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}


class ShareMethod(models.TextChoices):
    """共享方式."""

    TABLE = "table", _("Database table")
    FILE = "file", _("File")
    API = "api", _("Interface (API)")


SHARE_METHOD_ZH = {"table": "库表", "file": "文件", "api": "接口"}


class OpenAttribute(models.TextChoices):
    """开放属性 (LN-§17–19, CAT-6)."""

    OPEN = "open", _("Open unconditionally")
    ON_APPLICATION = "on_application", _("Open on application")
    NOT_OPEN = "not_open", _("Not open")


OPEN_ATTRIBUTE_ZH = {"open": "无条件开放", "on_application": "依申请开放", "not_open": "不予开放"}


class UpdateCycle(models.TextChoices):
    """更新周期."""

    REALTIME = "realtime", _("Real time")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    HALF_YEARLY = "half_yearly", _("Half-yearly")
    YEARLY = "yearly", _("Yearly")
    OTHER = "other", _("Other")


UPDATE_CYCLE_ZH = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
                   "half_yearly": "每半年", "yearly": "每年", "other": "其他"}


class ClassKind(models.TextChoices):
    """The three top-level classes of the guide."""

    BASIC = "basic", _("Basic information resources")
    THEME = "theme", _("Theme information resources")
    DEPARTMENT = "department", _("Department information resources")


#: the digits of each level of the classification code: 类 1, 项 2, 目 3, 细目 variable (1–6 here)
LEVEL_DIGITS = {1: 1, 2: 2, 3: 3}
MAX_DETAIL_DIGITS = 6


def from_zh(mapping: dict[str, str], value: str) -> str | None:
    """The code for a value written either as the code itself or in the guide's Chinese term."""
    value = (value or "").strip()
    if value in mapping:
        return value
    for code, zh in mapping.items():
        if value == zh:
            return code
    # tolerate the short forms people write: 无条件 for 无条件共享, 每季 for 每季度 …
    for code, zh in mapping.items():
        if value and (zh.startswith(value) or value.startswith(zh)) and len(value) >= 2:
            return code
    return None
