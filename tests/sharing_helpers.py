"""Helpers for sharing tests: entries of each share type, registered systems, a valid letter."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from govshare.sharing.actions import do_apply, do_register_system

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: the smallest PDF the letter check accepts (header + end-of-file marker)
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\x0bIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\x18\xdd\x8d\xb4\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in Beijing time (the deadline clock's zone)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


class ShareOrg:
    """The catalog test organisation plus: a conditional, an unconditional and a not-shared entry of
    the police (provider), and a registered system of the market department (consumer)."""

    def __init__(self, cat: Any) -> None:
        self.cat = cat
        self.org = org = cat.org
        self.conditional = cat.published(
            name="违法犯罪人员信息", share_type="conditional", share_condition="用于行政审批核查，需提供公函。",
            share_basis="《中华人民共和国治安管理处罚法》", share_methods=["table", "api"])
        self.unconditional = cat.published(name="户籍人口基本信息")
        self.not_shared = cat.published(name="在逃人员信息", share_type="none",
                                        share_basis="《中华人民共和国保守国家秘密法》第九条")
        self.market_system = do_register_system(org.market_admin, name="市场主体登记系统", code="SJ-DJ")
        self.police_system = do_register_system(org.police_admin, name="警务综合平台", code="GA-JW")

    def application_data(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "items": ["公民身份号码", "姓名"],
            "purpose": "行政依据",
            "purpose_detail": "市场主体登记时核验法定代表人身份。",
            "system": self.market_system.pk,
            "period_start": None,
            "period_end": dt.date(2027, 12, 31),
            "channel": "api",
            "contact_name": "王五",
            "contact_phone": "0797-3512345",
            "letter": ("申请函.pdf", PDF),
        }
        data.update(overrides)
        return data

    def apply(self, user: Any = None, entry: Any = None, **overrides: Any) -> Any:
        return do_apply(user or self.org.market_specialist, entry or self.conditional,
                        **self.application_data(**overrides))
