"""Helpers for catalog tests: valid entry content and one-call publishing."""

from __future__ import annotations

from typing import Any

from govshare.catalog.actions import do_approve, do_create_classification, do_create_entry, do_submit
from govshare.catalog.models import CatalogEntry, Classification
from govshare.catalog.seed import ensure_defaults


def content(**overrides: Any) -> dict[str, Any]:
    """A valid, unconditionally shared, not-open entry under 301 (police) unless overridden."""
    data: dict[str, Any] = {
        "classification": "301",
        "name": "户籍人口基本信息",
        "summary": "本辖区户籍人口的姓名、公民身份号码、性别、出生日期、户籍地址等基本信息。",
        "keywords": ["户籍", "人口", "身份证"],
        "format_class": "database",
        "format": "PostgreSQL",
        "share_type": "unconditional",
        "share_condition": "",
        "share_methods": ["table", "api"],
        "share_basis": "",
        "open_attribute": "not_open",
        "open_condition": "",
        "update_cycle": "daily",
        "update_cycle_note": "",
        "domain": "",
        "related_codes": [],
        "items": [
            {"name": "公民身份号码", "data_type": "C", "length": 18, "description": "18 位公民身份号码",
             "is_primary_key": True, "is_sensitive": True, "masking_rule": "保留前6位和后4位"},
            {"name": "姓名", "data_type": "C", "length": 50, "description": "", "is_primary_key": False,
             "is_sensitive": True, "masking_rule": "保留姓"},
            {"name": "出生日期", "data_type": "D", "length": None, "description": "", "is_primary_key": False,
             "is_sensitive": False, "masking_rule": ""},
        ],
    }
    data.update(overrides)
    return data


class CatalogOrg:
    def __init__(self, org: Any) -> None:
        self.org = org
        ensure_defaults()  # a transactional test before this one may have flushed the seeded tree
        root = Classification.objects.get(code="3")
        self.police_class = do_create_classification(org.centre_admin, code="301", name="公安局信息资源",
                                                     parent=root, department=org.police)
        self.market_class = do_create_classification(org.centre_admin, code="302", name="市场监管局信息资源",
                                                     parent=root, department=org.market)
        self.centre_class = do_create_classification(org.centre_admin, code="399", name="数据中心信息资源",
                                                     parent=root, department=org.centre)

    def draft(self, user: Any = None, **overrides: Any) -> CatalogEntry:
        user = user or self.org.police_specialist
        if user.department_id == self.org.market.pk and "classification" not in overrides:
            overrides["classification"] = "302"
        return do_create_entry(user, content(**overrides))

    def publish(self, entry: CatalogEntry, submitter: Any = None) -> CatalogEntry:
        submitter = submitter or (self.org.market_specialist if entry.provider_id == self.org.market.pk
                                  else self.org.police_specialist)
        do_submit(submitter, entry)
        do_approve(self.org.reviewer, entry)
        entry.refresh_from_db()
        return entry

    def published(self, user: Any = None, **overrides: Any) -> CatalogEntry:
        entry = self.draft(user, **overrides)
        return self.publish(entry, submitter=user)
