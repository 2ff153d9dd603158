"""The layout of the catalog workbook (CAT-1): sheets, columns, coded values and the import limits.

The same layout serves the template, an export and an import, so an export re-imports cleanly:

* ``资源目录`` — one row per resource (entry), Chinese headers in row 1, data from row 2;
* ``信息项`` — one row per information item, linked to its resource by ``资源序号``;
* ``说明`` — what each column means and the guide's rules;
* ``代码表`` — hidden: the lists behind the drop-down validations.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from govshare.catalog.enums import (
    DATA_TYPE_ZH,
    FORMAT_CLASS_ZH,
    OPEN_ATTRIBUTE_ZH,
    SHARE_METHOD_ZH,
    SHARE_TYPE_ZH,
    UPDATE_CYCLE_ZH,
    ShareMethod,
)
from govshare.core.files import MB

SHEET_ENTRIES = "资源目录"
SHEET_ITEMS = "信息项"
SHEET_GUIDE = "说明"
SHEET_CODES = "代码表"
DATA_SHEETS = (SHEET_ENTRIES, SHEET_ITEMS)

MAX_COLUMNS = 64  # header cells read from row 1
XLSX_MAX_ROWS = 1_048_576
YES, NO = "是", "否"
LIST_SEPARATOR = "、"

# ------------------------------------------------------------------ limits (settings may change them)

DEFAULT_LIMITS = {
    "GOVSHARE_CATALOG_IMPORT_MAX_BYTES": 20 * MB,
    "GOVSHARE_CATALOG_IMPORT_MAX_ENTRIES": 5000,
    "GOVSHARE_CATALOG_IMPORT_MAX_ITEMS": 50_000,
    "GOVSHARE_CATALOG_IMPORT_MAX_UNPACKED": 256 * MB,
    "GOVSHARE_CATALOG_IMPORT_MAX_RATIO": 100,
    "GOVSHARE_CATALOG_IMPORT_MAX_PARTS": 1000,
}


def limit(name: str) -> int:
    return int(getattr(settings, name, DEFAULT_LIMITS[name]))


# ------------------------------------------------------------------ columns


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False  # the header must be present
    kind: str = "text"  # text | int | key | bool | info
    width: int = 14
    note: str = ""


ENTRY_COLUMNS: tuple[Column, ...] = (
    Column("row_key", "资源序号", True, "key", 9, "本文件内的序号（1、2、3…）；信息项表用它关联到资源。"),
    Column("code", "资源代码", False, "text", 16, "已有资源填其资源代码（更新该资源）；新资源留空，发布时由平台生成。"),
    Column("classification", "分类代码", True, "text", 24, "从下拉列表选择：本部门的部门信息资源分类，或基础/主题信息资源的项/目。"),
    Column("name", "资源名称", True, "text", 28, "必填，至多 200 字。"),
    Column("summary", "资源摘要", True, "text", 40, "必填：资源的内容、用途等。"),
    Column("keywords", "关键字", False, "text", 20, "多个用“、”或“；”分隔，至多 20 个。"),
    Column("format_class", "格式分类", True, "text", 12, "电子文件/电子表格/数据库/图形图像/流媒体/自描述格式/服务接口/其他"),
    Column("format", "资源格式", False, "text", 12, "具体格式，如 PostgreSQL、XLSX、JSON、PDF。"),
    Column("share_type", "共享类型", True, "text", 12, "无条件共享/有条件共享/不予共享"),
    Column("share_condition", "共享条件", True, "text", 24, "有条件共享必填。"),
    Column("share_methods", "共享方式", True, "text", 14, "库表/文件/接口，可多选，用“、”分隔；无条件和有条件共享必填。"),
    Column("share_basis", "共享依据", True, "text", 30, "有条件共享、不予共享必填：法律、行政法规或党中央、国务院政策依据。"),
    Column("open_attribute", "开放属性", True, "text", 12, "无条件开放/依申请开放/不予开放；向社会开放的资源须为无条件共享。"),
    Column("open_condition", "开放条件", False, "text", 20, "依申请开放必填。"),
    Column("domain", "开放领域", False, "text", 12, "向社会开放的资源必填，从下拉列表选择。"),
    Column("update_cycle", "更新周期", True, "text", 10, "实时/每日/每周/每月/每季度/每半年/每年/其他"),
    Column("update_cycle_note", "更新周期说明", False, "text", 16, "更新周期为“其他”时必填。"),
    Column("related_codes", "关联资源代码", False, "text", 20, "多个用“、”分隔，如 301/000001。"),
    Column("change_reason", "变更原因", False, "text", 20, "修改已发布的资源时必填（将生成新版本并送审）。"),
    Column("provider_name", "资源提供方", False, "info", 20, "仅供参考，导入时不读取。"),
    Column("provider_code", "资源提供方代码", False, "text", 20, "统一社会信用代码；填写时须为导入部门的代码。"),
    Column("status", "状态", False, "info", 10, "仅供参考，导入时不读取。"),
    Column("published_at", "发布日期", False, "info", 12, "仅供参考，导入时不读取。"),
)

ITEM_COLUMNS: tuple[Column, ...] = (
    Column("row_key", "资源序号", True, "key", 9, "所属资源在“资源目录”表中的资源序号。"),
    Column("resource_name", "资源名称", False, "text", 24, "可选：所属资源的名称，填写时须与资源序号对应的资源名称一致。"),
    Column("name", "信息项名称", True, "text", 20, "必填；同一资源内不得重复。"),
    Column("data_type", "数据类型", True, "text", 12, "C 字符型、N 数值型、Y 货币型、D 日期型、T 日期时间型、L 逻辑型、M 备注型、"
                                                    "G 通用型、B 双精度型、I 整型、F 浮点型"),
    Column("length", "数据长度", True, "int", 9, "正整数；C、N、Y、B、F 型必填。"),
    Column("description", "信息项描述", False, "text", 30, ""),
    Column("is_primary_key", "是否主键", False, "bool", 9, "是/否"),
    Column("is_sensitive", "是否敏感", False, "bool", 9, "是/否；敏感信息项须填写脱敏规则。"),
    Column("masking_rule", "脱敏规则", False, "text", 20, "敏感信息项必填，如“保留前6位和后4位”。"),
)

ENTRY_HEADERS = {c.key: c.header for c in ENTRY_COLUMNS}
ITEM_HEADERS = {c.key: c.header for c in ITEM_COLUMNS}
ENUM_FIELDS = {
    "format_class": FORMAT_CLASS_ZH,
    "share_type": SHARE_TYPE_ZH,
    "open_attribute": OPEN_ATTRIBUTE_ZH,
    "update_cycle": UPDATE_CYCLE_ZH,
}


def share_method_combinations() -> list[str]:
    """Every non-empty combination of share methods, in the guide's order (库表、文件、接口)."""
    methods = [SHARE_METHOD_ZH[m] for m in ShareMethod.values]
    out: list[str] = []
    for mask in range(1, 1 << len(methods)):
        out.append(LIST_SEPARATOR.join(m for i, m in enumerate(methods) if mask & (1 << i)))
    return sorted(out, key=lambda s: (s.count(LIST_SEPARATOR), methods.index(s.split(LIST_SEPARATOR)[0])))


def data_type_label(code: str) -> str:
    return f"{code} {DATA_TYPE_ZH.get(code, '')}".strip()
