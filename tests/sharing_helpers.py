"""Helpers for sharing tests: entries of each share type, registered systems, a valid letter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from govshare.sharing.actions import do_apply, do_register_system

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: well-formed letters the letter check accepts (the benign files of the hostile-letter corpus, SHR-2):
#: a one-page PDF, a PNG and a JPEG that decode completely
LETTERS = Path(__file__).resolve().parent / "data" / "hostile_letters"
PDF = (LETTERS / "ok_plain_letter.pdf").read_bytes()
PNG = (LETTERS / "ok_scanned_letter.png").read_bytes()
JPEG = (LETTERS / "ok_scanned_letter.jpg").read_bytes()


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
