"""Sharing demo data for ``govshare demo`` (issue 4; SHR-1 … SHR-8).

Realistic sharing activity among the twelve 龙南 departments on the published demo catalog:

* consuming information systems of every department;
* unconditional subscriptions, each granted at once (SHR-1);
* conditional applications in every state (SHR-2): waiting for the centre's first review, returned
  for completion, resubmitted, waiting for the provider with a few working days left (one due
  tomorrow, so it is reminded), one overdue and escalated to the centre, approved with narrowed
  items and per-item masking, refused with its legal basis, rejected at first review, withdrawn;
  one grant revoked (SHR-4);
* coordination cases open, being mediated (with statements of the three parties), settled with a
  grant, finally refused and withdrawn (SHR-3);
* data requests submitted, assigned, registered with a new catalog entry, declined, closed by the
  centre, and three for upper-level platforms: forwarded, provided and refused (SHR-5, SHR-6);
* the two most demanded entries in the high-frequency shared library (SHR-7);
* data error reports reported, being verified, corrected, checked as right, withdrawn, and one
  overdue (SHR-8);
* the daily digest switched on for a few departments.

Everything goes through :mod:`govshare.sharing.actions` with the acting user bound to the audit
context, so the audit log is real and records the moment the demo was loaded.

**Demo back-dating.**  A demo needs history: an application filed ten working days ago, a clock
that ran out yesterday.  The platform has no way to act in the past (and the demo runs on
production installs, without test tools), so each action runs now and the demo then rewrites the
*business* timestamps of the rows it just created — ``submitted_at``, the steps' times, the
notifications' times — and re-opens their ``Deadline`` rows from the earlier start date with
:func:`govshare.core.workdays.compute_due`, so that every due date is the one the working-day
calendar gives for that start.  Due dates quoted in the notifications are rewritten with them.  The
audit log is never touched (it cannot be): it shows when the demo was loaded.  Reminders and
escalations are then sent by the real clock functions, as the worker would.

The loader is idempotent: it does nothing once any share application or consuming system exists,
or when the demo catalog is not there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from govshare.catalog.actions import do_create_entry, do_submit
from govshare.catalog.demo import SPECIALISTS, act, content_for, parse_catalog  # registers its loader first
from govshare.catalog.models import CatalogEntry
from govshare.core import context
from govshare.core.demo import REGION, make_id_number, make_uscc, register_loader
from govshare.core.models import Deadline, Department, Jurisdiction, Notification, RoleAssignment, User
from govshare.core.policy import get_profile
from govshare.core.roles import Role
from govshare.core.workdays import DEADLINE_TZ, WorkCalendar, compute_due
from govshare.sharing.actions import (
    do_acknowledge_error,
    do_add_case_note,
    do_answer,
    do_apply,
    do_assign_request,
    do_close_request,
    do_decline_request,
    do_first_review,
    do_forward_request,
    do_mark_high_frequency,
    do_open_case,
    do_record_upper_answer,
    do_register_for_request,
    do_register_system,
    do_report_error,
    do_resolve_error,
    do_resubmit,
    do_revoke_grant,
    do_set_digest,
    do_settle_case,
    do_submit_request,
    do_subscribe_entry,
    do_withdraw_application,
    do_withdraw_case,
    do_withdraw_error,
    escalate_overdue,
    send_reminders,
)
from govshare.sharing.models import (
    Application,
    ApplicationStep,
    CaseNote,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    ErrorReport,
    Grant,
    HighFrequencyMark,
)

T = TypeVar("T")

# ------------------------------------------------------------------ consuming information systems

#: department → (system name, code, description)
SYSTEMS: dict[str, list[tuple[str, str, str]]] = {
    "LNGA": [("警务综合信息平台", "GA-JWZH", "户籍、出入境、治安业务办理和跨部门核验")],
    "LNSJ": [("市场主体登记注册系统", "SJ-DJZC", "企业和个体工商户设立、变更、注销登记"),
             ("市场监管综合执法系统", "SJ-ZHZF", "双随机抽查、信用风险分类监管和行政处罚")],
    "LNRS": [("社会保险经办管理信息系统", "RS-SBJB", "参保登记、缴费核定和待遇发放"),
             ("劳动保障监察管理系统", "RS-LDJC", "欠薪治理、农民工工资保证金监管")],
    "LNWJ": [("全民健康信息平台", "WJ-QMJK", "电子健康档案、出生医学证明和医疗机构监管")],
    "LNMZ": [("社会救助管理信息系统", "MZ-SHJZ", "低保、特困供养和临时救助审核确认"),
             ("养老服务管理平台", "MZ-YLFW", "养老机构备案和养老服务补贴发放")],
    "LNZR": [("不动产登记信息管理平台", "ZR-BDCDJ", "不动产登记受理、审核和登簿")],
    "LNJT": [("道路运输管理信息系统", "JT-DLYS", "道路运输经营许可、车辆营运证和从业资格管理")],
    "LNST": [("生态环境执法监管平台", "ST-ZFJG", "排污许可、环境执法和环境应急")],
    "LNJY": [("义务教育招生入学服务平台", "JY-ZSRX", "义务教育新生报名和入学资格审核"),
             ("学生资助管理系统", "JY-XSZZ", "学生资助对象认定和资金发放")],
    "LNSW": [("税收征管信息系统", "SW-ZGXT", "税务登记、申报征收和车船税、契税核定")],
    "LNZJ": [("住房保障管理信息系统", "ZJ-ZFBZ", "公共租赁住房和租赁补贴资格审核"),
             ("建筑市场监管与诚信信息平台", "ZJ-JZSC", "建筑企业资质审批和信用管理")],
    "LNYB": [("医疗保障信息平台", "YB-YBXX", "参保登记、医疗救助和待遇结算")],
}

# ------------------------------------------------------------------ SHR-1: unconditional subscriptions


@dataclass(frozen=True)
class Subscribe:
    consumer: str
    entry: str
    purpose: str
    detail: str
    system: str
    channel: str
    days_ago: int  # working days before today
    items: tuple[str, ...] = ()


BUSINESS_LICENCE = "市场主体登记信息（营业执照）"
HOUSEHOLD = "户籍人口基本信息"

SUBSCRIPTIONS = [
    Subscribe("LNSW", BUSINESS_LICENCE, "业务协同", "新办纳税人信息确认，与税务登记信息比对。", "SW-ZGXT", "table", 40),
    Subscribe("LNRS", BUSINESS_LICENCE, "数据校核", "参保单位登记信息与营业执照信息比对。", "RS-SBJB", "api", 35),
    Subscribe("LNZJ", BUSINESS_LICENCE, "行政依据", "建筑业企业资质审批时核验企业登记状态。", "ZJ-JZSC", "api", 30),
    Subscribe("LNST", BUSINESS_LICENCE, "工作参考", "排污许可核发时核对排污单位的登记信息。", "ST-ZFJG", "api", 22),
    Subscribe("LNGA", BUSINESS_LICENCE, "业务协同", "特种行业许可审批时核验申请单位的登记信息。", "GA-JWZH", "api", 18),
    Subscribe("LNSW", "机动车登记信息", "行政依据", "车船税征收时核定车辆类型和使用性质。", "SW-ZGXT", "table", 38,
              ("号牌号码", "号牌种类", "车辆类型", "车辆识别代号", "机动车所有人", "使用性质", "初次登记日期",
               "机动车状态")),
    Subscribe("LNJT", "机动车登记信息", "业务协同", "营运车辆道路运输证核发时核验车辆登记和检验状态。", "JT-DLYS", "api",
              25, ("号牌号码", "号牌种类", "车辆类型", "使用性质", "检验有效期截止日期", "机动车状态")),
    Subscribe("LNSJ", "纳税人登记信息", "数据校核", "企业注销登记前核对清税状态。", "SJ-DJZC", "api", 28),
    Subscribe("LNWJ", "医保定点医药机构信息", "业务协同", "医疗机构校验与医保定点协议信息联动。", "WJ-QMJK", "api", 15),
    Subscribe("LNZJ", "严重违法失信名单信息", "行政依据", "招标投标和资质审批中实施信用约束。", "ZJ-JZSC", "api", 20),
    Subscribe("LNJT", "严重违法失信名单信息", "行政依据", "道路运输经营许可中实施失信联合惩戒。", "JT-DLYS", "table", 12),
    Subscribe("LNSW", "参保单位信息", "数据校核", "社会保险费征缴单位信息核对。", "SW-ZGXT", "api", 10),
    Subscribe("LNRS", "建筑工程施工许可信息", "工作参考", "在建项目农民工工资保证金和实名制管理。", "RS-LDJC", "api", 8),
    Subscribe("LNYB", "养老机构信息", "业务协同", "养老机构内设医疗机构的医保定点评估。", "YB-YBXX", "api", 5),
]

# ------------------------------------------------------------------ SHR-2: conditional applications


@dataclass(frozen=True)
class Step:
    """One step of an application's history: ``what`` happens ``days_ago`` working days before today."""

    what: str  # apply, return, resubmit, pass, reject, approve, refuse, withdraw
    days_ago: int
    text: str = ""
    basis: str = ""
    items: tuple[str, ...] = ()
    masking: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Apply:
    key: str
    consumer: str
    entry: str
    items: tuple[str, ...]
    purpose: str
    detail: str
    system: str
    steps: tuple[Step, ...]
    channel: str = "api"


PIPL_34 = "《中华人民共和国个人信息保护法》第三十四条（国家机关处理个人信息不得超出履行法定职责所必需的范围和限度）"

APPLICATIONS = [
    Apply("school_property", "LNJY", "不动产登记信息", ("不动产单元号", "权利人名称", "权利人证件号码", "坐落", "用途"),
          "行政依据", "义务教育新生入学资格审核：核验监护人在学区内的住房情况，一事一申请。", "JY-ZSRX",
          (Step("apply", 0),)),
    Apply("medins_death", "LNYB", "死亡人员户口注销信息", ("公民身份号码", "姓名", "死亡日期", "注销日期"),
          "数据校核", "核查死亡人员的医保参保和待遇状态，及时停保、防止冒用医保卡。", "YB-YBXX",
          (Step("apply", 1),)),
    Apply("civil_pension", "LNMZ", "养老保险待遇领取信息", ("公民身份号码", "姓名", "待遇类型", "月待遇金额", "发放状态"),
          "行政依据", "低保家庭经济状况核对时核实家庭成员的养老金收入。", "MZ-SHJZ",
          (Step("apply", 4),
           Step("return", 3, "上传的申请函未加盖单位公章；“用途说明”请写明对应的救助审核事项（低保、特困供养），"
                             "补充后重新提交。"))),
    Apply("tax_property", "LNSW", "不动产登记信息",
          ("不动产单元号", "不动产权证书号", "权利人名称", "权利人证件号码", "坐落", "面积", "登记日期"),
          "行政依据", "存量房交易契税征收时核验不动产权属和面积。", "SW-ZGXT",
          (Step("apply", 3), Step("pass", 2, "材料齐全，用途与共享条件相符。"))),
    Apply("medins_subsistence", "LNYB", "城乡最低生活保障对象信息", ("公民身份号码", "姓名", "保障类型", "批准日期", "所属乡镇"),
          "行政依据", "医疗救助对象身份认定，低保对象住院费用“一站式”结算。", "YB-YBXX",
          (Step("apply", 6), Step("pass", 4))),
    Apply("housing_household", "LNZJ", HOUSEHOLD, ("公民身份号码", "姓名", "性别", "出生日期", "户籍地址", "与户主关系"),
          "行政依据", "公共租赁住房保障资格审核：核实申请家庭成员的户籍和家庭关系。", "ZJ-ZFBZ",
          (Step("apply", 10), Step("pass", 8, "材料齐全。"))),
    Apply("hr_household", "LNRS", HOUSEHOLD,
          ("公民身份号码", "姓名", "曾用名", "性别", "出生日期", "户籍地址", "户籍登记日期"),
          "数据校核", "社会保险参保登记时核验参保人的身份信息。", "RS-SBJB",
          (Step("apply", 14), Step("pass", 13),
           Step("approve", 10, "仅用于参保登记身份核验，以接口逐条核验，不得批量下载或留存。",
                items=("公民身份号码", "姓名", "性别", "出生日期"),
                masking={"公民身份号码": "保留前6位和后4位，其余以*替代"}))),
    Apply("civil_household", "LNMZ", HOUSEHOLD, ("公民身份号码", "姓名", "户号", "户籍地址", "与户主关系"),
          "行政依据", "低保、特困供养申请家庭的成员户籍核实。", "MZ-SHJZ",
          (Step("apply", 20), Step("pass", 19), Step("approve", 16, "仅限社会救助管理信息系统调用。"))),
    Apply("hr_death", "LNRS", "死亡人员户口注销信息", ("公民身份号码", "姓名", "死亡日期", "注销日期"),
          "数据校核", "养老保险待遇领取资格认证：死亡人员及时停发待遇。", "RS-SBJB",
          (Step("apply", 25), Step("pass", 24), Step("approve", 21, "按月比对，比对结果仅用于待遇停发。"))),
    Apply("edu_migrants", "LNJY", "流动人口居住登记信息", ("公民身份号码", "姓名", "现住址", "居住事由", "登记日期"),
          "行政依据", "随迁子女义务教育入学资格审核：核验监护人的居住登记。", "JY-ZSRX",
          (Step("apply", 40), Step("pass", 39), Step("approve", 36, "仅在每年招生报名期间按报名名单核验。"))),
    Apply("police_birth", "LNGA", "出生医学证明信息",
          ("出生医学证明编号", "新生儿姓名", "性别", "出生时间", "出生地点", "母亲姓名", "母亲公民身份号码", "父亲姓名",
           "父亲公民身份号码"),
          "行政依据", "新生儿出生户口登记时核验出生医学证明（“出生一件事”联办）。", "GA-JWZH",
          (Step("apply", 12), Step("return", 11, "请在用途说明中补充“出生一件事”联办的工作依据（文件名称和文号）。"),
           Step("resubmit", 9), Step("pass", 8), Step("approve", 5, "仅用于出生登记核验。"))),
    Apply("market_tax", "LNSJ", "企业纳税信息", ("纳税人识别号", "纳税人名称", "所属期", "税种", "应纳税额", "已缴税额"),
          "工作参考", "企业信用风险分类监管：参考企业纳税情况评估经营异常风险。", "SJ-ZHZF",
          (Step("apply", 14), Step("pass", 13),
           Step("refuse", 10, "应纳税额、已缴税额属纳税人涉税保密信息，信用风险分类监管不属于法律规定可以提供的情形；"
                              "可改用“纳税信用A级纳税人名单”“重大税收违法失信主体信息”（无条件共享）。",
                basis="《中华人民共和国税收征收管理法》第八条；《纳税人涉税保密信息管理暂行办法》第十一条"))),
    Apply("transport_licence", "LNJT", "机动车驾驶证信息",
          ("驾驶证档案编号", "公民身份号码", "姓名", "准驾车型", "有效期截止日期", "累积记分", "驾驶证状态"),
          "行政依据", "网约车驾驶员证核发时核验驾驶证状态和记分情况。", "JT-DLYS",
          (Step("apply", 30), Step("pass", 29),
           Step("refuse", 26, "累积记分属交通违法处理信息，网约车驾驶员准入只需核验驾驶证的准驾车型和状态，申请超出"
                              "最小必要范围。", basis=PIPL_34))),
    Apply("eco_accidents", "LNST", "道路交通事故认定信息", ("事故编号", "事故发生时间", "事故地点", "事故形态", "当事人姓名"),
          "工作参考", "交通事故引发环境污染事件的统计分析。", "ST-ZFJG",
          (Step("apply", 9),
           Step("reject", 8, "该资源的共享条件限于交通运输、应急管理部门开展事故调查和安全监管，申请用途不符；危险化学品"
                             "运输事故的环境应急信息请通过应急联动机制获取。"))),
    Apply("medins_household", "LNYB", HOUSEHOLD, ("公民身份号码", "姓名", "出生日期"),
          "数据校核", "城乡居民医保参保人身份核验。", "YB-YBXX",
          (Step("apply", 7),
           Step("withdraw", 6, "省医疗保障信息平台已通过省级人口库接口核验参保人身份，本申请不再需要。"))),
]

#: the approved application whose grant the provider later revokes (SHR-4), working days ago, reason
REVOKED = ("edu_migrants", 6, "经核查，该授权下的接口调用量远超当年入学报名人数，存在批量留存数据的情况，违反共享条件，"
                              "撤销授权；如仍需使用，请说明用量后重新申请。")

# ------------------------------------------------------------------ SHR-3: coordination cases


@dataclass(frozen=True)
class Case:
    consumer: str
    reason: str
    days_ago: int
    application: str = ""  # key of a refused application
    entry: str = ""  # or a 不予共享 entry
    items: tuple[str, ...] = ()
    purpose: str = ""
    notes: tuple[tuple[str, int, str], ...] = ()  # (party: consumer/provider/centre, days ago, text)
    settle: str = ""  # grant / refuse / withdraw (by the consumer)
    settle_days_ago: int = 0
    outcome: str = ""
    grant_items: tuple[str, ...] = ()
    conditions: str = ""


CASES = [
    Case("LNSJ", "信用风险分类监管需要参考企业的纳税情况；数据仅用于企业风险分级，不对外公开，可以接受区间化或标识化"
                 "提供。", 8, application="market_tax",
         notes=(("centre", 7, "已组织市场监管局、税务局协调：请税务局说明能否以“是否按期申报”标识或纳税信用等级的方式提供。"),
                ("provider", 5, "可以提供“近12个月是否按期申报”标识和纳税信用等级；应纳税额、已缴税额属涉税保密信息，不能提供。"),
                ("consumer", 3, "同意以按期申报标识和纳税信用等级替代金额信息，请中心出具协调意见。"))),
    Case("LNMZ", "为计划生育特殊家庭老人提供养老服务补贴和优先入住公办养老机构，需要核实扶助对象身份；只需公民身份号码、"
                 "姓名和扶助类型。", 2, entry="计划生育特殊家庭扶助信息", items=("公民身份号码", "姓名", "扶助类型"),
         purpose="行政依据"),
    Case("LNJT", "网约车驾驶员证核发是法定职责，驾驶证状态必须核验；可以不要累积记分。", 24, application="transport_licence",
         notes=(("centre", 22, "请公安局说明在不含“累积记分”的前提下能否提供。"),
                ("provider", 20, "同意在不含“累积记分”的前提下，以接口核验方式提供驾驶证状态和准驾车型。")),
         settle="grant", settle_days_ago=18,
         outcome="经协调，公安局同意提供不含累积记分的驾驶证信息，用于网约车驾驶员证核发和年度审验。",
         grant_items=("驾驶证档案编号", "公民身份号码", "姓名", "准驾车型", "有效期截止日期", "驾驶证状态"),
         conditions="仅用于网约车驾驶员证核发和年度审验，逐条核验，不得留存。"),
    Case("LNRS", "灵活就业人员社会保险缴费基数核定需要核实其收入情况。", 30, entry="个人所得税纳税记录",
         items=("纳税人识别号", "姓名", "所得项目", "所属期", "收入额"), purpose="行政依据",
         notes=(("provider", 28, "个人所得税纳税记录属纳税人涉税保密信息，依据《中华人民共和国税收征收管理法》第八条不能"
                                 "提供。"),),
         settle="refuse", settle_days_ago=25,
         outcome="依据《中华人民共和国税收征收管理法》第八条和《纳税人涉税保密信息管理暂行办法》，个人所得税纳税记录不予共享；"
                 "缴费基数核定可按单位申请“社会保险费征缴信息”（有条件共享）。"),
    Case("LNST", "危险化学品运输事故的环境应急处置需要事故地点和事故形态。", 7, application="eco_accidents",
         settle="withdraw", settle_days_ago=5, outcome="已通过应急联动机制获取所需信息，撤回协调申请。"),
]

# ------------------------------------------------------------------ SHR-5 / SHR-6: data requests


@dataclass(frozen=True)
class Request:
    requester: str
    title: str
    description: str
    wanted: str
    purpose: str
    days_ago: int
    owner: str = ""  # suggested owner (local) — assigned to it when ``assign_days_ago`` is set
    assign_days_ago: int | None = None
    answer: str = ""  # register / decline
    answer_days_ago: int = 0
    answer_text: str = ""
    upper: str = ""  # upper-level jurisdiction code (scope upper)
    upper_resource: str = ""
    forward_days_ago: int | None = None
    fulfilled: bool | None = None
    reference: str = ""
    close_days_ago: int | None = None  # closed by the centre with ``answer_text``


#: the entry the owner registers to answer the request of the health commission (SHR-5)
REGISTERED_ENTRY = ("## LNJY\n学生因病缺课监测信息 | 309 | C | 每日 | 库 | 因病缺课 晨午检 传染病 学校卫生 | "
                    "*记录编号 学校名称 年级 班级 缺课日期 缺课人数 主要症状 报告时间 | "
                    "中小学校晨午检和因病缺课登记汇总，供卫生健康部门开展学校传染病早期监测预警。")

REQUESTS = [
    Request("LNZJ", "互联网租赁自行车投放和停放数据",
            "城市管理需要掌握互联网租赁自行车的投放总量和停放秩序，现有目录中没有相关资源。",
            "运营企业名称、车辆编号、停放位置（经纬度）、停放时间、是否在规定停放区", "业务协同", 1, owner="LNJT"),
    Request("LNRS", "建筑工地农民工实名制考勤信息",
            "根治欠薪工作需要按项目掌握农民工实名登记和考勤情况，用于工资支付监管。",
            "项目名称、施工单位名称、工人姓名、公民身份号码、考勤日期、工种", "行政依据", 6, owner="LNZJ",
            assign_days_ago=4),
    Request("LNWJ", "学生因病缺课监测信息",
            "学校传染病早期监测预警需要中小学校晨午检和因病缺课的每日汇总数据。",
            "学校名称、年级、班级、缺课日期、缺课人数、主要症状", "业务协同", 15, owner="LNJY", assign_days_ago=14,
            answer="register", answer_days_ago=10),
    Request("LNZR", "农村宅基地审批信息",
            "农村不动产登记需要核对宅基地审批结果，目录中没有该资源。",
            "申请人姓名、公民身份号码、宅基地位置、批准面积、批准日期", "行政依据", 12, owner="LNZJ", assign_days_ago=11,
            answer="decline", answer_days_ago=9,
            answer_text="农村宅基地审批由乡镇人民政府和农业农村部门负责，本局不掌握该数据；建议改派农业农村局。"),
    Request("LNRS", "江西省社会保险参保信息（省级统筹）",
            "跨市流动人员社会保险关系转移接续时，需要核实其在省内其他设区市的参保缴费记录。",
            "公民身份号码、姓名、参保地、险种、缴费起止年月", "行政依据", 5, upper="360000",
            upper_resource="江西省社会保险参保缴费信息", forward_days_ago=4),
    Request("LNGA", "赣州市跨县（市、区）户籍迁移信息",
            "办理户口迁入时需要核实迁出地户籍注销情况。",
            "公民身份号码、姓名、迁出地、迁入地、迁移日期", "业务协同", 20, upper="360700",
            upper_resource="赣州市户籍迁移登记信息", forward_days_ago=19, fulfilled=True, answer_days_ago=12,
            answer_text="赣州市数据共享平台已开通“户籍迁移登记信息”接口，授权龙南市公安局调用。",
            reference="GZ-SJGX-0318"),
    Request("LNZR", "全省耕地卫星遥感监测图斑",
            "耕地保护执法需要省级卫星遥感监测发现的疑似违法占用耕地图斑。",
            "图斑编号、所在乡镇、图斑面积、监测时相、变化类型", "行政依据", 16, upper="360000",
            upper_resource="江西省耕地卫星遥感监测成果", forward_days_ago=15, fulfilled=False, answer_days_ago=7,
            answer_text="该成果属涉密测绘地理信息，不通过共享平台提供；请按涉密测绘成果审批程序向省自然资源厅申领。",
            reference="JX-SJGX-0412"),
    Request("LNSW", "个体工商户经营者身份信息",
            "个体工商户定期定额核定需要核实经营者身份。", "经营者姓名、公民身份号码、经营场所", "行政依据", 9,
            close_days_ago=8,
            answer_text="目录中已有“个体工商户登记信息”（市场监管局，有条件共享），含所需信息项，请直接提出共享申请；"
                        "本需求关闭。"),
]

# ------------------------------------------------------------------ SHR-7: the high-frequency library

HIGH_FREQUENCY = [
    (HOUSEHOLD, 2, "人社、民政、住建、医保等部门高频申请，纳入高频共享库，优先保障接口稳定和数据时效。"),
    (BUSINESS_LICENCE, 2, "税务、人社、住建、生态环境、公安等部门共同使用，纳入高频共享库。"),
]

# ------------------------------------------------------------------ SHR-8: data error reports


@dataclass(frozen=True)
class Report:
    consumer: str
    entry: str
    field: str
    record_keys: str
    description: str
    days_ago: int
    acknowledge_days_ago: int | None = None
    outcome: str = ""  # corrected / not_an_error, or withdrawn (by the consumer)
    resolve_days_ago: int = 0
    resolution: str = ""


def _companies(*seqs: int) -> str:
    return "、".join(make_uscc(REGION, 5000 + seq, kind="91") for seq in seqs)


def _people(*seqs: int) -> str:
    return "、".join(make_id_number(REGION, "19560312", 400 + seq) for seq in seqs)


REPORTS = [
    Report("LNSW", BUSINESS_LICENCE, "登记状态", _companies(11, 12, 13),
           "以上3户企业已于本月办结注销登记（见“企业注销登记信息”），共享数据中的“登记状态”仍为“存续”。", 0),
    Report("LNRS", "死亡人员户口注销信息", "死亡日期", _people(1, 2),
           "2条记录的死亡日期晚于注销日期，与殡葬火化信息不一致。", 3, acknowledge_days_ago=2),
    Report("LNSW", "机动车登记信息", "使用性质", "赣BD3K21、赣BF0573",
           "车辆已办理使用性质变更（营转非），共享数据仍为“营运”，车船税适用税额因此有误。", 12, acknowledge_days_ago=11,
           outcome="corrected", resolve_days_ago=9,
           resolution="已核实，系变更登记业务数据同步延迟；已重新推送，本月增量数据已更正。"),
    Report("LNJT", "严重违法失信名单信息", "列入日期", _companies(21),
           "列入日期早于企业成立日期，疑似录入错误。", 10, outcome="not_an_error", resolve_days_ago=8,
           resolution="经核实数据无误：该企业系由原登记地市场监管部门列入，迁入本市后保留原列入日期。"),
    Report("LNZJ", "严重违法失信名单信息", "列入事由", _companies(31, 32),
           "2条记录的“列入事由”为空，无法在资质审批中说明信用约束的依据。", 8),
    Report("LNRS", BUSINESS_LICENCE, "住所", _companies(41),
           "住所与参保登记的单位地址不一致。", 6, outcome="withdrawn", resolve_days_ago=5,
           resolution="经核对，是本系统缓存的旧地址未刷新，共享数据无误，撤回。"),
]

#: departments whose administrators receive the daily digest (the centre included)
DIGEST_DEPARTMENTS = ["LNSJZX", "LNGA", "LNZR", "LNSW"]

# ------------------------------------------------------------------ a letter


def letter_pdf(lines: Iterable[str]) -> bytes:
    """A small one-page PDF (ASCII text, Helvetica) standing in for the stamped letter."""
    text = "\n".join(
        f"BT /F1 12 Tf 72 {770 - 22 * i} Td ({_pdf_text(line)}) Tj ET" for i, line in enumerate(lines)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _pdf_text(line: str) -> str:
    ascii_only = line.encode("ascii", "replace").decode()
    return ascii_only.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# ------------------------------------------------------------------ the loader


@register_loader
def load_sharing_demo() -> None:
    """Fill the sharing area once (idempotent; needs the demo catalog)."""
    if Application.objects.exists() or ConsumingSystem.objects.exists():
        return
    with transaction.atomic(), context.bind(ip="demo"):
        if Application.objects.exists() or ConsumingSystem.objects.exists():
            return
        loader = _Loader.for_demo_catalog()
        if loader is not None:
            loader.run()


class Past:
    """Working days before today as dates and moments (the demo's back-dating)."""

    def __init__(self) -> None:
        self.calendar = WorkCalendar()
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)

    def day(self, days_ago: int) -> dt.date:
        return self.today if days_ago <= 0 else self.calendar.add(self.today, -days_ago)[0]

    def at(self, days_ago: int, hour: int = 10, minute: int = 0) -> dt.datetime:
        """``days_ago`` working days before today at ``hour``; today is now (never in the future)."""
        if days_ago <= 0:
            return self.now
        return dt.datetime.combine(self.day(days_ago), dt.time(hour, minute), tzinfo=DEADLINE_TZ)


class _Loader:
    def __init__(self, entries: dict[str, CatalogEntry]) -> None:
        self.entries = entries
        self.past = Past()
        self.admin = User.objects.get(username="centre_admin")
        self.reviewer = User.objects.get(username="centre_reviewer")
        self.depts = {d.code: d for d in Department.objects.filter(code__in=[*SYSTEMS, "LNSJZX"])}
        self.editors = {code: _specialist(code, username) for code, username, *_rest in SPECIALISTS}
        self.phones = {code: phone for code, _u, _n, _b, _s, phone in SPECIALISTS}
        self.provider_admins = {"LNGA": User.objects.get(username="police_admin")}
        self.systems: dict[str, ConsumingSystem] = {}
        self.apps: dict[str, Application] = {}
        # the moments of each application's steps, in the order its ApplicationStep rows were written
        self.moments: dict[int, list[dt.datetime]] = {}
        self.minute = 0

    @classmethod
    def for_demo_catalog(cls) -> _Loader | None:
        names = {s.entry for s in SUBSCRIPTIONS} | {a.entry for a in APPLICATIONS} | {c.entry for c in CASES if c.entry}
        names |= {r.entry for r in REPORTS} | {name for name, _d, _n in HIGH_FREQUENCY}
        found = {e.current_version.name: e for e in CatalogEntry.objects.filter(
            status=CatalogEntry.Status.PUBLISHED, current_version__name__in=names).select_related("current_version")
            if e.current_version is not None}
        users = {"centre_admin", "centre_reviewer", "police_admin"}
        if set(found) != names or User.objects.filter(username__in=users, is_active=True).count() != len(users) or \
                any(_specialist(code, username) is None for code, username, *_rest in SPECIALISTS):
            return None  # not the demo catalog: nothing to show sharing on
        return cls(found)

    def run(self) -> None:
        self.register_systems()
        self.subscribe()
        for spec in APPLICATIONS:
            self.application(spec)
        for app_pk, moments in self.moments.items():
            backdate_application(app_pk, moments, self.past.calendar)
        self.revoke()
        for case in CASES:
            self.case(case)
        for request in REQUESTS:
            self.request(request)
        self.high_frequency()
        for report in REPORTS:
            self.report(report)
        for code in DIGEST_DEPARTMENTS:
            act(self.admin, do_set_digest, self.depts[code], enabled=True)
        # what the worker's periodic hooks do on its first heartbeat: remind, then escalate what is late
        send_reminders()
        escalate_overdue()

    # -- helpers

    def do(self, days_ago: int, user: Any, action: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, dt.datetime]:
        """Run ``action`` as ``user`` now, then date its notifications ``days_ago`` working days back."""
        before = _last_notification()
        result = act(user, action, *args, **kwargs)
        self.minute = (self.minute + 7) % 50
        moment = self.past.at(days_ago, hour=9 + days_ago % 7, minute=self.minute)
        Notification.objects.filter(pk__gt=before).update(created_at=moment)
        return result, moment

    def dept(self, code: str) -> Department:
        return self.depts[code]

    # -- systems and SHR-1

    def register_systems(self) -> None:
        moment = self.past.at(60, hour=15)
        for code, systems in SYSTEMS.items():
            for name, system_code, description in systems:
                system = act(self.admin, do_register_system, name=name, code=system_code, description=description,
                             department=self.dept(code))
                self.systems[system_code] = system
        ConsumingSystem.objects.filter(pk__in=[s.pk for s in self.systems.values()]).update(created_at=moment)

    def subscribe(self) -> None:
        for spec in SUBSCRIPTIONS:
            grant, moment = self.do(spec.days_ago, self.editors[spec.consumer], do_subscribe_entry,
                                    self.entries[spec.entry], purpose=spec.purpose, purpose_detail=spec.detail,
                                    items=list(spec.items) or None, channel=spec.channel,
                                    system=self.systems[spec.system])
            assert grant.application_id is not None
            self.moments[grant.application_id] = [moment]

    # -- SHR-2

    def application(self, spec: Apply) -> None:
        consumer = self.editors[spec.consumer]
        entry = self.entries[spec.entry]
        provider = self.editors[entry.provider.code]
        app: Application | None = None
        moments: list[dt.datetime] = []
        for step in spec.steps:
            if step.what == "apply":
                lines = ["Application for shared government data (demo letter)",
                         f"Applicant department: {spec.consumer}", f"Resource code: {entry.code}",
                         f"Consuming system: {spec.system}", "Official seal of the applicant department"]
                app, moment = self.do(step.days_ago, consumer, do_apply, entry, items=list(spec.items),
                                      purpose=spec.purpose, purpose_detail=spec.detail,
                                      system=self.systems[spec.system], period_start=None,
                                      period_end=dt.date(self.past.today.year + 1, 12, 31), channel=spec.channel,
                                      contact_name=consumer.real_name, contact_phone=self.phones[spec.consumer],
                                      letter=("共享申请函.pdf", letter_pdf(lines)))
            elif app is None:
                raise RuntimeError(f"{spec.key}: {step.what} before apply")
            elif step.what in ("pass", "return", "reject"):
                app, moment = self.do(step.days_ago, self.reviewer, do_first_review, app, decision=step.what,
                                      comment=step.text)
            elif step.what == "resubmit":
                app, moment = self.do(step.days_ago, consumer, do_resubmit, app,
                                      purpose_detail=f"{spec.detail}依据：《龙南市“出生一件事”联办工作方案》。")
            elif step.what == "approve":
                app, moment = self.do(step.days_ago, provider, do_answer, app, decision="approve",
                                      items=list(step.items) or None, masking=step.masking or None,
                                      conditions=step.text)
            elif step.what == "refuse":
                app, moment = self.do(step.days_ago, provider, do_answer, app, decision="refuse", basis=step.basis,
                                      reason=step.text)
            elif step.what == "withdraw":
                app, moment = self.do(step.days_ago, consumer, do_withdraw_application, app, reason=step.text)
            else:
                raise ValueError(step.what)
            moments.append(moment)
        assert app is not None
        self.apps[spec.key] = app
        self.moments[app.pk] = moments

    def revoke(self) -> None:
        key, days_ago, reason = REVOKED
        grant = Grant.objects.get(application=self.apps[key])
        _grant, moment = self.do(days_ago, self.provider_admins["LNGA"], do_revoke_grant, grant, reason=reason)
        Grant.objects.filter(pk=grant.pk).update(revoked_at=moment)

    # -- SHR-3

    def case(self, spec: Case) -> None:
        opener = self.editors[spec.consumer]
        if spec.application:
            case, opened = self.do(spec.days_ago, opener, do_open_case, application=self.apps[spec.application],
                                   reason=spec.reason)
        else:
            case, opened = self.do(spec.days_ago, opener, do_open_case, entry=self.entries[spec.entry],
                                   reason=spec.reason, items=list(spec.items), purpose=spec.purpose)
        rewrite = ClockRewrite(self.past.calendar)
        rewrite.reopen(case.deadline_id, opened)
        CoordinationCase.objects.filter(pk=case.pk).update(opened_at=opened)
        for party, days_ago, text in spec.notes:
            author = {"consumer": opener, "provider": self.editors[case.provider.code], "centre": self.reviewer}[party]
            note, moment = self.do(days_ago, author, do_add_case_note, case, text=text)
            CaseNote.objects.filter(pk=note.pk).update(at=moment)
        if spec.settle == "withdraw":
            case, settled = self.do(spec.settle_days_ago, opener, do_withdraw_case, case, reason=spec.outcome)
            rewrite.close(case.deadline_id, settled)
            CoordinationCase.objects.filter(pk=case.pk).update(settled_at=settled)
        elif spec.settle:
            expires = dt.date(self.past.today.year + 1, 12, 31) if spec.settle == "grant" else None
            case, settled = self.do(spec.settle_days_ago, self.admin, do_settle_case, case, outcome=spec.settle,
                                    reason=spec.outcome, items=list(spec.grant_items) or None, expires_on=expires,
                                    conditions=spec.conditions)
            rewrite.close(case.deadline_id, settled)
            CoordinationCase.objects.filter(pk=case.pk).update(settled_at=settled)
            Grant.objects.filter(case=case).update(granted_at=settled, valid_from=timezone.localdate(settled))
        rewrite.retext(case)

    # -- SHR-5 / SHR-6

    def request(self, spec: Request) -> None:
        requester = self.editors[spec.requester]
        if spec.upper:
            upper = Jurisdiction.objects.get(code=spec.upper)
            req, asked = self.do(spec.days_ago, requester, do_submit_request, scope=DataRequest.Scope.UPPER,
                                 title=spec.title, description=spec.description, purpose=spec.purpose,
                                 wanted_items=spec.wanted, upper_jurisdiction=upper, upper_resource=spec.upper_resource)
        else:
            req, asked = self.do(spec.days_ago, requester, do_submit_request, title=spec.title,
                                 description=spec.description, purpose=spec.purpose, wanted_items=spec.wanted,
                                 suggested_owner=self.dept(spec.owner) if spec.owner else None)
        DataRequest.objects.filter(pk=req.pk).update(requested_at=asked)
        if spec.assign_days_ago is not None:
            req, moment = self.do(spec.assign_days_ago, self.reviewer, do_assign_request, req, owner=self.dept(spec.owner),
                                  note="请核实是否掌握该数据；如掌握，请编制目录并关联本需求。")
            DataRequest.objects.filter(pk=req.pk).update(assigned_at=moment)
        if spec.forward_days_ago is not None:
            req, moment = self.do(spec.forward_days_ago, self.reviewer, do_forward_request, req,
                                  note="经审核，本级目录无此资源，转报上级平台。")
            handoff = dict(req.handoff, forwarded_at=moment.isoformat())
            DataRequest.objects.filter(pk=req.pk).update(forwarded_at=moment, handoff=handoff)
        if spec.fulfilled is not None:
            req, moment = self.do(spec.answer_days_ago, self.reviewer, do_record_upper_answer, req,
                                  fulfilled=spec.fulfilled, answer=spec.answer_text,
                                  reference=f"{spec.reference}-{self.past.today.year}")
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)
        elif spec.close_days_ago is not None:
            req, moment = self.do(spec.close_days_ago, self.reviewer, do_close_request, req, reason=spec.answer_text)
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)
        elif spec.answer == "register":
            owner = self.editors[spec.owner]
            spec_line = parse_catalog(REGISTERED_ENTRY)[0]
            entry = act(owner, do_create_entry, content_for(spec_line, {}))
            act(owner, do_submit, entry)  # in the centre's catalog review queue
            req, moment = self.do(spec.answer_days_ago, owner, do_register_for_request, req, entry=entry)
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)
        elif spec.answer == "decline":
            req, moment = self.do(spec.answer_days_ago, self.editors[spec.owner], do_decline_request, req,
                                  reason=spec.answer_text)
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)

    # -- SHR-7

    def high_frequency(self) -> None:
        for name, days_ago, note in HIGH_FREQUENCY:
            mark, moment = self.do(days_ago, self.admin, do_mark_high_frequency, self.entries[name], note=note)
            HighFrequencyMark.objects.filter(pk=mark.pk).update(marked_at=moment)

    # -- SHR-8

    def report(self, spec: Report) -> None:
        reporter = self.editors[spec.consumer]
        entry = self.entries[spec.entry]
        provider = self.editors[entry.provider.code]
        report, reported = self.do(spec.days_ago, reporter, do_report_error, entry=entry,
                                   record_keys=spec.record_keys, field=spec.field, description=spec.description)
        rewrite = ClockRewrite(self.past.calendar)
        rewrite.reopen(report.deadline_id, reported)
        ErrorReport.objects.filter(pk=report.pk).update(reported_at=reported)
        if spec.acknowledge_days_ago is not None:
            report, moment = self.do(spec.acknowledge_days_ago, provider, do_acknowledge_error, report)
            ErrorReport.objects.filter(pk=report.pk).update(acknowledged_at=moment)
        if spec.outcome == "withdrawn":
            report, moment = self.do(spec.resolve_days_ago, reporter, do_withdraw_error, report)
            rewrite.close(report.deadline_id, moment)
            ErrorReport.objects.filter(pk=report.pk).update(resolved_at=moment)
        elif spec.outcome:
            report, moment = self.do(spec.resolve_days_ago, provider, do_resolve_error, report, outcome=spec.outcome,
                                     resolution=spec.resolution)
            rewrite.close(report.deadline_id, moment)
            ErrorReport.objects.filter(pk=report.pk).update(
                resolved_at=moment, acknowledged_at=report.acknowledged_at if spec.acknowledge_days_ago is not None
                else moment)
        rewrite.retext(report)


# ------------------------------------------------------------------ back-dating


def _specialist(code: str, username: str) -> Any:
    """The data specialist who acts for a department (as in the catalog demo: the named account, else
    the department's first data specialist)."""
    user = User.objects.filter(username=username, is_active=True).first()
    if user is not None:
        return user
    row = (RoleAssignment.objects.filter(role=Role.DATA_SPECIALIST, user__department__code=code, user__is_active=True)
           .select_related("user").order_by("user__username").first())
    return row.user if row else None


def _last_notification() -> int:
    return Notification.objects.aggregate(last=Max("pk"))["last"] or 0


class ClockRewrite:
    """Re-open deadlines from an earlier start (demo back-dating) and remember old → new due dates,
    so that the due dates quoted in the object's notifications can follow."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.dates: dict[str, str] = {}

    def reopen(self, deadline_id: int | None, start: dt.datetime) -> Deadline | None:
        deadline = Deadline.objects.filter(pk=deadline_id).first() if deadline_id is not None else None
        if deadline is None:
            return None
        start_date = timezone.localdate(start)
        due = compute_due(start_date, get_profile(deadline.profile).deadline(deadline.kind), calendar=self.calendar)
        self.dates[deadline.due_date.isoformat()] = due.due_date.isoformat()
        Deadline.objects.filter(pk=deadline.pk).update(start_date=start_date, due_date=due.due_date, due_at=due.due_at,
                                                       provisional=due.provisional)
        deadline.start_date, deadline.due_date, deadline.due_at = start_date, due.due_date, due.due_at
        return deadline

    def close(self, deadline_id: int | None, at: dt.datetime) -> None:
        if deadline_id is not None:
            Deadline.objects.filter(pk=deadline_id, closed_at__isnull=False).update(closed_at=at)

    def retext(self, obj: Any) -> None:
        changed = {old: new for old, new in self.dates.items() if old != new}
        if not changed:
            return
        notes = Notification.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
        for note in notes:
            subject, body = note.subject, note.body
            for old, new in changed.items():
                subject, body = subject.replace(old, new), body.replace(old, new)
            if (subject, body) != (note.subject, note.body):
                Notification.objects.filter(pk=note.pk).update(subject=subject, body=body)


OPENS = {ApplicationStep.Step.SUBMITTED, ApplicationStep.Step.RESUBMITTED}
CLOSES = {ApplicationStep.Step.RETURNED, ApplicationStep.Step.REJECTED, ApplicationStep.Step.APPROVED,
          ApplicationStep.Step.REFUSED, ApplicationStep.Step.WITHDRAWN}


def backdate_application(app_pk: int, moments: list[dt.datetime], calendar: WorkCalendar) -> None:
    """Give an application's steps (in the order they were written) the ``moments`` of the demo story,
    re-open its clocks from those days and recompute each step's working days and punctuality."""
    app = Application.objects.get(pk=app_pk)
    steps = list(ApplicationStep.objects.filter(application_id=app_pk).order_by("id"))
    if len(steps) != len(moments):
        raise RuntimeError(f"{app}: {len(steps)} steps, {len(moments)} moments")
    content_type = ContentType.objects.get_for_model(Application)
    clocks = iter(Deadline.objects.filter(content_type=content_type, object_id=str(app_pk)).order_by("id"))
    rewrite = ClockRewrite(calendar)
    current: Deadline | None = None
    fields: dict[str, Any] = {"created_at": moments[0], "period_start": timezone.localdate(moments[0])}
    for step, at in zip(steps, moments, strict=True):
        related: Deadline | None = None
        if step.step in OPENS:
            current = related = rewrite.reopen(next(clocks).pk, at)
            fields["submitted_at"] = at
        elif step.step == ApplicationStep.Step.PASSED:
            related = current
            rewrite.close(current.pk if current else None, at)
            current = rewrite.reopen(next(clocks).pk, at)
            fields["first_reviewed_at"] = at
        elif step.step in CLOSES:
            related = current
            rewrite.close(current.pk if current else None, at)
            current = None
            if step.step in (ApplicationStep.Step.RETURNED, ApplicationStep.Step.REJECTED):
                fields["first_reviewed_at"] = at
            if step.step in (ApplicationStep.Step.APPROVED, ApplicationStep.Step.REFUSED):
                fields["answered_at"] = at
            if step.step != ApplicationStep.Step.RETURNED:  # a return leaves the application open
                fields["decided_at"] = at
        elif step.step == ApplicationStep.Step.GRANTED:
            fields["submitted_at"] = fields["decided_at"] = at
        update: dict[str, Any] = {"at": at}
        if related is not None:
            day = timezone.localdate(at)
            update.update(due_date=related.due_date, on_time=at <= related.due_at,
                          working_days_used=calendar.between(related.start_date, day)[0]
                          if day >= related.start_date else 0)
        ApplicationStep.objects.filter(pk=step.pk).update(**update)
    Application.objects.filter(pk=app_pk).update(**fields)
    decided = fields.get("decided_at", moments[-1])
    Grant.objects.filter(application_id=app_pk, case__isnull=True).update(
        granted_at=decided, valid_from=timezone.localdate(decided))
    rewrite.retext(app)
