"""Catalog demo data for ``govshare demo`` (issue 3 item 9; CAT-1 … CAT-10).

About 220 resource-catalog entries of the twelve 龙南 departments, written in the words of the
national 政务信息资源目录编制指南: classification (基础 1xx, 主题 2xx, 部门 3xx), summary, keywords,
typed information items with masking rules for personal data, share type with condition, method and
legal basis, open attribute with domain, update cycle, format and related resource codes.

The entries are then taken through the real lifecycle so that every screen has something to show:
most are published; some are drafts, some wait in the centre's review queue, some were returned with
comments, three published entries have a change in its notice period (other departments subscribe
to them), two were withdrawn; there are catalog-update tasks (one overdue), two IT projects,
feedback in every state and one published jurisdiction snapshot.

Everything goes through :mod:`govshare.catalog.actions` (and the core org actions for the missing
data specialists) with the acting user bound to the audit context, so the demo audit log is real.
The loader is idempotent: it does nothing once the catalog has any entry.

The data are package data in ``demo_data/``: ``catalog.txt`` (the entries, one vocabulary line each)
and ``tables.yaml`` (departments, specialists, sub-classes, what happens to which entry, masking
rules); this module turns them into entry content and runs the lifecycle.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

import yaml
from django.db import transaction
from django.utils import timezone

from govshare.catalog.actions import (
    do_answer_feedback,
    do_approve,
    do_attach_entry,
    do_close_feedback,
    do_complete_update_task,
    do_create_classification,
    do_create_entry,
    do_create_project,
    do_edit_entry,
    do_move_project,
    do_open_update_task,
    do_publish_snapshot,
    do_raise_feedback,
    do_request_withdrawal,
    do_return,
    do_submit,
    do_subscribe,
)
from govshare.catalog.enums import UPDATE_CYCLE_ZH, DataType, ShareType
from govshare.catalog.models import CatalogEntry, Classification, Project, UpdateTask, version_content
from govshare.catalog.seed import ensure_defaults
from govshare.core import context
from govshare.core.actions import do_appoint_specialist, do_create_user
from govshare.core.demo import DEMO_PASSWORD, REGION, demo_password_hash, make_id_number, register_loader
from govshare.core.models import Department, Jurisdiction, RoleAssignment, User
from govshare.core.policy import profile_for_jurisdiction
from govshare.core.roles import Role

T = TypeVar("T")

#: the demo's data tables (package data, next to this module)
DATA = resources.files("govshare.catalog") / "demo_data"


def _data_text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


TABLES: dict[str, Any] = yaml.safe_load(_data_text("tables.yaml"))

# ------------------------------------------------------------------ people

#: data specialists created for departments that have none: dept, username, name, birth, id seq, office phone
SPECIALISTS: list[tuple[str, str, str, str, int, str]] = [tuple(row) for row in TABLES["specialists"]]  # type: ignore[misc]

# ------------------------------------------------------------------ departments


@dataclass(frozen=True)
class DeptProfile:
    """What a department writes by default: its 3xx 项, database, open-data domain and legal texts."""

    item: str  # the department's 项 under 3 部门信息资源
    database: str
    domain: str
    condition: str  # 有条件共享: share condition
    basis: str  # 有条件共享: legal / policy basis
    none_basis: str  # 不予共享: legal basis
    open_condition: str = ("申请人实名注册并说明数据用途，承诺依法使用、不向第三方转让，"
                           "经提供部门审核同意后以文件或接口方式提供")


PIPL: str = TABLES["legal_texts"]["PIPL"]
N51: str = TABLES["legal_texts"]["N51"]

DEPTS: dict[str, DeptProfile] = {
    code: DeptProfile(**{k: v.format(PIPL=PIPL, N51=N51) for k, v in profile.items()})
    for code, profile in TABLES["departments"].items()
}

# ------------------------------------------------------------------ classification tree

#: 目 (3 digits) under the seeded basic and theme 项, and under some department 项
SUB_CLASSES: list[tuple[str, str]] = [(code, name) for code, name in TABLES["sub_classes"]]

# ------------------------------------------------------------------ the catalog
#
# One line per entry of demo_data/catalog.txt (its header explains the columns):
#   name | classification | share | update cycle | format | keywords | items | summary [| opts]

CATALOG = _data_text("catalog.txt")

# ------------------------------------------------------------------ what happens to the entries

#: never submitted
DRAFTS: set[str] = set(TABLES["drafts"])
#: waiting in the centre's review queue
SUBMITTED: set[str] = set(TABLES["submitted"])
#: returned by the centre, with its comment
RETURNED: dict[str, str] = TABLES["returned"]
#: published, then withdrawn (no subscribers, so at once after approval): name → reason
WITHDRAWN: dict[str, str] = TABLES["withdrawn"]

#: consumer departments (their data specialist) that follow popular entries
SUBSCRIPTIONS: dict[str, list[str]] = TABLES["subscriptions"]


@dataclass(frozen=True)
class NoticeChange:
    """A change of a published, subscribed entry: it waits for the notice period (CAT-4)."""

    name: str
    reason: str
    add_items: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    approve: bool = True  # approved by the centre (effective after the notice) or still in review


NOTICE_CHANGES = [NoticeChange(**change) for change in TABLES["notice_changes"]]


@dataclass(frozen=True)
class ProjectSpec:
    dept: str
    code: str
    name: str
    description: str
    entries: tuple[str, ...]


#: 立项申请: its catalog entry is still a draft
PROJECT_APPLICATION = ProjectSpec(**{**TABLES["projects"]["application"],
                                     "entries": tuple(TABLES["projects"]["application"]["entries"])})
#: 建设: approved because its catalog entries are published (CAT-8)
PROJECT_CONSTRUCTION = ProjectSpec(**{**TABLES["projects"]["construction"],
                                      "entries": tuple(TABLES["projects"]["construction"]["entries"])})

#: update tasks: dept, reason, title, description, days before today of the change, completion note (None: open)
UPDATE_TASKS: list[tuple[str, str, str, str, int, str | None]] = [
    tuple(row) for row in TABLES["update_tasks"]]  # type: ignore[misc]

#: feedback: raising department, entry, kind, field, description, answer (None: open), closed by the raiser
FEEDBACK: list[tuple[str, str, str, str, str, str | None, bool]] = [
    tuple(row) for row in TABLES["feedback"]]  # type: ignore[misc]

# ------------------------------------------------------------------ vocabulary → content

FORMATS = {"库": "database", "表": "spreadsheet", "文": "file", "图": "image", "流": "stream",
           "自": "self_describing", "接": "service", "其": "other"}
DEFAULT_FORMAT = {"spreadsheet": "XLSX", "file": "PDF", "image": "JPG", "stream": "MP4（H.264）",
                  "self_describing": "JSON", "service": "RESTful API（JSON）", "other": "其他"}
CYCLES = {zh: code for code, zh in UPDATE_CYCLE_ZH.items()}

#: items whose type, length and description are fixed by a national standard
EXACT_ITEMS: dict[str, tuple[str, int | None, str]] = {
    name: (data_type, length, description) for name, (data_type, length, description) in TABLES["exact_items"].items()}

CURRENCY_SUFFIXES = ("金额", "额", "资本", "价格", "价款", "价", "费", "工资", "收入", "基数", "余额", "标准",
                     "资金", "投资", "经费", "税款", "支出", "结余")
MEMO_SUFFIXES = ("内容", "说明", "范围", "事实", "情况", "含义", "措施", "意见", "依据", "行为", "线路")
PLACE_SUFFIXES = ("地址", "住所", "坐落", "地点", "位置", "场所", "园址", "区域", "地域")
CODE_SUFFIXES = ("代码", "编码", "代号", "标识码")
NUMBER_SUFFIXES = ("编号", "号码", "证号", "文号", "字号", "流水号", "单号", "账号", "批号", "卡号", "识别号", "号")
CHOICE_SUFFIXES = ("状态", "类型", "类别", "种类", "等级", "方式", "性质", "级别", "形式", "档次", "用途", "业态",
                   "关系")

MASKS: dict[str, str] = TABLES["masks"]
MASK_ID = MASKS["id"]
MASK_NAME = MASKS["name"]
MASK_PHONE = MASKS["phone"]
MASK_ADDRESS = MASKS["address"]
MASK_ACCOUNT = MASKS["account"]
MASK_DOCUMENT = MASKS["document"]
MASK_OWNER = MASKS["owner"]
MASK_HEALTH = MASKS["health"]

NOT_SENSITIVE_NAMES: set[str] = set(TABLES["not_sensitive_names"])
#: item name → masking rule (a key of ``MASKS`` in the data file, or the rule itself)
SENSITIVE: dict[str, str] = {name: MASKS.get(rule, rule) for name, rule in TABLES["sensitive"].items()}


def infer_item(token: str) -> dict[str, Any]:
    """One information item from its vocabulary token (see the table legend above)."""
    primary = token.startswith("*")
    name = token.lstrip("*")
    forced = ""
    if ":" in name:
        name, forced = name.split(":", 1)
    description = ""
    if forced:
        data_type, length = forced[0], (int(forced[1:]) if forced[1:] else None)
    elif name in EXACT_ITEMS:
        data_type, length, description = EXACT_ITEMS[name]
    else:
        data_type, length, description = _infer_type(name)
    if data_type not in DataType.values:
        raise ValueError(f"unknown data type in {token!r}")
    masking = _masking_rule(name)
    return {"name": name, "data_type": data_type, "length": length, "description": description,
            "is_primary_key": primary, "is_sensitive": bool(masking), "masking_rule": masking}


def _infer_type(name: str) -> tuple[str, int | None, str]:
    if name.endswith(("姓名", "曾用名")):
        return "C", 50, ""
    if name.endswith("日期"):
        return "D", None, ""
    if name.endswith("时间"):
        return "T", None, ""
    if name.startswith("是否"):
        return "L", None, ""
    if name.endswith(("照片", "图片")):
        return "G", None, ""
    if name.endswith(CURRENCY_SUFFIXES):
        return "Y", 16, "单位：元"
    if name.endswith("面积"):
        return "N", 14, "单位：平方米"
    if name.endswith("里程"):
        return "N", 10, "单位：公里"
    if name.endswith("浓度"):
        return "F", 10, ""
    if name.endswith("率"):
        return "N", 6, "百分比"
    if name.endswith(("数", "数量", "指数")):
        return "I", None, ""
    if name.endswith("年度"):
        return "C", 4, "YYYY"
    if name.endswith(("月份", "所属期")):
        return "C", 6, "YYYYMM"
    if name.endswith("季度"):
        return "C", 6, "YYYYQn，如 2026Q1"
    if name.endswith(MEMO_SUFFIXES):
        return "M", None, ""
    if name.endswith("名称") or name.endswith(PLACE_SUFFIXES):
        return "C", 200, ""
    if name.endswith(CODE_SUFFIXES):
        return "C", 32, ""
    if name.endswith(NUMBER_SUFFIXES):
        return "C", 50, ""
    if name.endswith(CHOICE_SUFFIXES):
        return "C", 50, ""
    if name.endswith(("结论", "结果", "原因", "事由", "去向")):
        return "C", 200, ""
    return "C", 100, ""


def _masking_rule(name: str) -> str:
    if name in NOT_SENSITIVE_NAMES:
        return ""
    if name in SENSITIVE:
        return SENSITIVE[name]
    if "身份号码" in name:
        return MASK_ID
    if name.endswith("姓名"):
        return MASK_NAME
    return ""


@dataclass
class Spec:
    dept: str
    name: str
    classification: str
    share: str  # U / C / N
    open_attr: str  # open / on_application / not_open
    domain: str
    cycle: str
    cycle_note: str
    format_class: str
    format: str
    keywords: list[str]
    items: list[dict[str, Any]]
    summary: str
    related: list[str] = field(default_factory=list)
    condition: str = ""
    basis: str = ""
    open_condition: str = ""


def parse_catalog(text: str = CATALOG) -> list[Spec]:
    """The vocabulary table as entry specifications (in creation order)."""
    specs: list[Spec] = []
    dept = ""
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not line.startswith("## ")):  # blank or a comment
            continue
        if line.startswith("## "):
            dept = line[3:].strip()
            continue
        cols = [c.strip() for c in line.split(" | ")]
        if len(cols) < 8:
            raise ValueError(f"catalog line has {len(cols)} columns: {line[:40]}")
        name, cls, share, cycle, fmt, keywords, items, summary = cols[:8]
        opts = dict(c.split("=", 1) for c in cols[8:])
        unknown = set(opts) - {"rel", "cond", "basis", "oc"}
        if unknown:
            raise ValueError(f"{name}: unknown options {sorted(unknown)}")
        share_code, _sep, domain = share.partition(":")
        open_attr = {"O": "open", "A": "on_application"}.get(share_code[1:], "not_open")
        profile = DEPTS[dept]
        if open_attr != "not_open":
            domain = domain or ("信用" if cls.startswith("104") else profile.domain)
        cycle_zh, _sep, cycle_note = cycle.partition(":")
        fmt_key, _sep, concrete = fmt.partition(":")
        format_class = FORMATS[fmt_key]
        concrete = concrete or (profile.database if format_class == "database" else DEFAULT_FORMAT[format_class])
        specs.append(Spec(
            dept=dept, name=name, classification=cls, share=share_code[0], open_attr=open_attr, domain=domain,
            cycle=CYCLES[cycle_zh], cycle_note=cycle_note, format_class=format_class, format=concrete,
            keywords=keywords.split(), items=[infer_item(t) for t in items.split()], summary=summary,
            related=[r for r in opts.get("rel", "").split("、") if r], condition=opts.get("cond", ""),
            basis=opts.get("basis", ""), open_condition=opts.get("oc", "")))
    return specs


def plan_codes(specs: list[Spec]) -> dict[str, str]:
    """The resource codes the entries get when created in this order into an empty catalog."""
    sequence: Counter[str] = Counter()
    codes: dict[str, str] = {}
    for spec in specs:
        sequence[spec.classification] += 1
        codes[spec.name] = f"{spec.classification}/{sequence[spec.classification]:06d}"
    return codes


def share_methods(spec: Spec) -> list[str]:
    if spec.share == "N":
        return []
    # an unconditionally shared table is also offered as a batch download (部门批量下载, the 文件 channel)
    by_format = {"database": ["api"] if spec.share == "C" else ["table", "api", "file"], "service": ["api"],
                 "stream": ["api"], "self_describing": ["file", "api"]}
    return by_format.get(spec.format_class, ["file"])


def content_for(spec: Spec, codes: dict[str, str]) -> dict[str, Any]:
    """The entry content (the shape of :func:`govshare.catalog.models.version_content`)."""
    profile = DEPTS[spec.dept]
    share_type = {"U": ShareType.UNCONDITIONAL, "C": ShareType.CONDITIONAL, "N": ShareType.NONE}[spec.share]
    condition = spec.condition or (profile.condition if spec.share == "C" else "")
    basis = spec.basis or {"C": profile.basis, "N": profile.none_basis}.get(spec.share, "")
    return {
        "classification": spec.classification,
        "name": spec.name,
        "summary": spec.summary,
        "keywords": list(spec.keywords),
        "format_class": spec.format_class,
        "format": spec.format,
        "share_type": str(share_type),
        "share_condition": condition,
        "share_methods": share_methods(spec),
        "share_basis": basis,
        "open_attribute": spec.open_attr,
        "open_condition": (spec.open_condition or profile.open_condition) if spec.open_attr == "on_application"
        else "",
        "update_cycle": spec.cycle,
        "update_cycle_note": spec.cycle_note,
        "domain": spec.domain,
        "related_codes": [codes[name] for name in spec.related],
        "items": [dict(item) for item in spec.items],
    }


# ------------------------------------------------------------------ the loader


def act(user: Any, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``action(user, …)`` with ``user`` bound to the audit context, as a request or command would."""
    with context.bind(user=user):
        return action(user, *args, **kwargs)


@register_loader
def load_catalog_demo() -> None:
    """Fill the catalog once (idempotent: nothing happens when any entry exists)."""
    if CatalogEntry.objects.exists():
        return
    with transaction.atomic(), context.bind(ip="demo"):
        if CatalogEntry.objects.exists():
            return
        ensure_defaults()  # the national tree and synonyms (a flushed test database lacks them)
        _Loader().run()


class _Loader:
    def __init__(self) -> None:
        self.admin = User.objects.get(username="centre_admin")
        self.reviewer = User.objects.get(username="centre_reviewer")
        self.county = Jurisdiction.objects.get(code=REGION)
        self.depts = {d.code: d for d in Department.objects.filter(code__in=list(DEPTS))}
        self.specs = parse_catalog()
        self.codes = plan_codes(self.specs)
        self.entries: dict[str, CatalogEntry] = {}
        self.editors: dict[str, User] = {}  # department code → the specialist who compiles its catalog

    def run(self) -> None:
        self.ensure_specialists()
        self.build_tree()
        application = self.create_project(PROJECT_APPLICATION)
        in_project = set(PROJECT_APPLICATION.entries)
        for spec in self.specs:
            self.create(spec, project=application if spec.name in in_project else None)
        self.subscribe()
        self.announce_changes()
        self.withdraw()
        self.construction_project()
        self.update_tasks()
        self.feedback()
        act(self.admin, do_publish_snapshot, self.county,
            title=f"龙南市政务信息资源目录（{timezone.localdate().year}年第1期）",
            note="汇总全市各部门已发布的共享目录和开放目录。")

    # -- people

    def ensure_specialists(self) -> None:
        for code, username, real_name, birth, seq, phone in SPECIALISTS:
            dept = self.depts[code]
            user = User.objects.filter(username=username).first()
            if user is None:
                user = self._existing_specialist(dept)
            if user is None:
                user = act(self.admin, do_create_user, username=username, real_name=real_name,
                           password=DEMO_PASSWORD, password_hash=demo_password_hash(),
                           id_number=make_id_number(REGION, birth, seq), department=dept,
                           email=f"{username}@longnan.example", roles=[Role.DATA_SPECIALIST])
                act(self.admin, do_appoint_specialist, dept, user, duty="lead", phone=phone,
                    note=f"负责{dept.short_name}政务信息资源目录编制")
            self.editors[code] = user

    def _existing_specialist(self, dept: Department) -> User | None:
        row = (RoleAssignment.objects.filter(role=Role.DATA_SPECIALIST, user__department=dept, user__is_active=True)
               .select_related("user").order_by("user__username").first())
        return row.user if row else None

    # -- classification tree

    def build_tree(self) -> None:
        root = Classification.objects.get(code="3")
        nodes = {c.code: c for c in Classification.objects.all()}
        for code, profile in DEPTS.items():
            dept = self.depts[code]
            if profile.item not in nodes:
                nodes[profile.item] = act(self.admin, do_create_classification, code=profile.item,
                                          name=f"{dept.short_name}信息资源", parent=root, department=dept,
                                          description=f"{dept.name}的部门信息资源")
        for code, name in SUB_CLASSES:
            if code not in nodes:
                nodes[code] = act(self.admin, do_create_classification, code=code, name=name, parent=nodes[code[:3]])

    # -- entries

    def create(self, spec: Spec, project: Project | None = None) -> None:
        editor = self.editors[spec.dept]
        entry = act(editor, do_create_entry, content_for(spec, self.codes), project=project)
        if entry.code != self.codes[spec.name]:
            raise RuntimeError(f"{spec.name}: got {entry.code}, planned {self.codes[spec.name]}")
        self.entries[spec.name] = entry
        if spec.name in DRAFTS:
            return
        act(editor, do_submit, entry)
        if spec.name in SUBMITTED:
            return
        if spec.name in RETURNED:
            act(self.reviewer, do_return, entry, comment=RETURNED[spec.name])
            return
        act(self.reviewer, do_approve, entry)

    def subscribe(self) -> None:
        for name, dept_codes in SUBSCRIPTIONS.items():
            for code in dept_codes:
                act(self.editors[code], do_subscribe, self.entries[name])

    def announce_changes(self) -> None:
        for change in NOTICE_CHANGES:
            entry = self.entries[change.name]
            entry.refresh_from_db()
            editor = self.editors[entry.provider.code]
            assert entry.current_version is not None
            content = version_content(entry.current_version)
            content.update(change.changes)
            content["items"] += [infer_item(t) for t in change.add_items.split()]
            act(editor, do_edit_entry, entry, content, change_reason=change.reason)
            act(editor, do_submit, entry)
            if change.approve:
                act(self.reviewer, do_approve, entry, comment="同意变更，通知期满后生效。")

    def withdraw(self) -> None:
        for name, reason in WITHDRAWN.items():
            entry = self.entries[name]
            act(self.editors[entry.provider.code], do_request_withdrawal, entry, reason=reason)
            act(self.reviewer, do_approve, entry, comment="同意撤销。")

    # -- projects, tasks, feedback

    def create_project(self, spec: ProjectSpec) -> Project:
        return act(self.editors[spec.dept], do_create_project, name=spec.name, code=spec.code,
                   department=self.depts[spec.dept], description=spec.description)

    def construction_project(self) -> None:
        spec = PROJECT_CONSTRUCTION
        project = self.create_project(spec)
        editor = self.editors[spec.dept]
        for name in spec.entries:
            act(editor, do_attach_entry, self.entries[name], project)
        act(self.admin, do_move_project, project, stage=Project.Stage.CONSTRUCTION)

    def update_tasks(self) -> None:
        today = timezone.localdate()
        for code, reason, title, description, days_ago, done in UPDATE_TASKS:
            task: UpdateTask = act(self.reviewer, do_open_update_task, department=self.depts[code], reason=reason,
                                   title=title, description=description,
                                   change_date=today - dt.timedelta(days=days_ago))
            if done is not None:
                act(self.editors[code], do_complete_update_task, task, note=done)

    def feedback(self) -> None:
        for code, name, kind, field_name, description, answer, closed in FEEDBACK:
            raiser = self.editors[code]
            entry = self.entries[name]
            fb = act(raiser, do_raise_feedback, entry, kind=kind, description=description, field_name=field_name)
            if answer is None:
                continue
            act(self.editors[entry.provider.code], do_answer_feedback, fb, answer=answer)
            if closed:
                act(raiser, do_close_feedback, fb)


def open_data_domains() -> tuple[str, ...]:
    """The open-data domains of the demo jurisdiction's profile (for checks)."""
    return profile_for_jurisdiction(Jurisdiction.objects.get(code=REGION)).list("open_data_domains")
