"""Realistic demo data for ``govshare demo`` (idempotent): the 龙南 jurisdiction chain, the
data-management centre, departments with valid 统一社会信用代码, and one account per role.

Everything is created through the actions layer, so the demo audit log is a real one.
Later issues extend ``load_demo`` with catalog, sharing and open-data content.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import transaction

from govshare.core.actions import (
    do_appoint_specialist,
    do_create_department,
    do_create_jurisdiction,
    do_create_user,
    do_grant_role,
)
from govshare.core.models import Department, User
from govshare.core.roles import Role
from govshare.core.validators import USCC_ALPHABET, id_check_char, uscc_check_char

DEMO_PASSWORD = "Longnan-demo-2026"  # noqa: S105 — printed to the operator; demo data only


@functools.cache
def demo_password_hash() -> str:
    """The demo password hashed once per process: every demo account shares it, and argon2 at its
    production cost takes a third of a second per hash (issue 8, suite speed; ``make demo``)."""
    from django.contrib.auth.hashers import make_password

    return make_password(DEMO_PASSWORD)

ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code(seq: int) -> str:
    """A GB 11714 organisation code (8 digits + check), as embedded in positions 9-17 of a USCC."""
    body = f"{seq:08d}"
    check = 11 - sum(int(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(region: str, seq: int, kind: str = "11") -> str:
    """Build a valid USCC: registration authority + type (11 = 机关), region, org code, check."""
    first17 = kind + region + org_code(seq)
    assert all(ch in USCC_ALPHABET for ch in first17)
    return first17 + uscc_check_char(first17)


def make_id_number(region: str, birth: str, seq: int) -> str:
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + id_check_char(first17)


REGION = "360783"  # 龙南市 (county-level city of 赣州市, 江西省)

DEPARTMENTS = [
    # code, name, short name
    ("LNGA", "龙南市公安局", "公安局"),
    ("LNSJ", "龙南市市场监督管理局", "市场监管局"),
    ("LNRS", "龙南市人力资源和社会保障局", "人社局"),
    ("LNWJ", "龙南市卫生健康委员会", "卫健委"),
    ("LNMZ", "龙南市民政局", "民政局"),
    ("LNZR", "龙南市自然资源局", "自然资源局"),
    ("LNJT", "龙南市交通运输局", "交通运输局"),
    ("LNST", "赣州市龙南生态环境局", "生态环境局"),
    ("LNJY", "龙南市教育科技体育局", "教科体局"),
    ("LNSW", "国家税务总局龙南市税务局", "税务局"),
    ("LNZJ", "龙南市住房和城乡建设局", "住建局"),
    ("LNYB", "龙南市医疗保障局", "医保局"),
]

ACCOUNTS = [
    # username, real name, department code (None: none), roles, birth
    ("centre_admin", "刘建华", "LNSJZX", [Role.CENTRE_ADMIN], "19780312"),
    ("centre_reviewer", "陈思远", "LNSJZX", [Role.CENTRE_REVIEWER], "19850907"),
    ("police_admin", "王立新", "LNGA", [Role.DEPT_ADMIN], "19800521"),
    ("market_admin", "赵敏", "LNSJ", [Role.DEPT_ADMIN], "19870214"),
    ("police_specialist", "李晓峰", "LNGA", [], "19910630"),  # appointed below → data_specialist
    ("tax_admin", "黄海燕", "LNSW", [Role.DEPT_ADMIN], "19890415"),
    ("auditor", "孙丽", "LNSJZX", [Role.AUDITOR], "19830118"),
    ("citizen", "周明", None, [Role.PUBLIC], "19950808"),
]


#: later apps add their demo data here (each loader must be idempotent); called in order
DEMO_LOADERS: list[Callable[[], None]] = []
#: lines a loader wants printed after the demo logins (e.g. how to call the data API), filled by the loaders
DEMO_NOTES: list[str] = []
#: the site's address in a note; ``govshare demo --port`` prints its own in its place
DEMO_ORIGIN = "http://127.0.0.1:8000"


def register_loader(fn: Callable[[], None]) -> Callable[[], None]:
    DEMO_LOADERS.append(fn)
    return fn


def load_demo() -> list[tuple[str, str]]:
    """Create the demo organisation and accounts; return (username, description) pairs."""
    with transaction.atomic():
        if not User.objects.filter(username="centre_admin").exists():
            _create()
    DEMO_NOTES.clear()
    for loader in DEMO_LOADERS:
        loader()
    labels = []
    for username, real_name, _dept, _roles, _birth in ACCOUNTS:
        user = User.objects.get(username=username)
        role_text = "、".join(str(Role(r).label) for r in sorted(user.role_set()))
        dept = user.department.short_name if user.department else "—"
        labels.append((username, f"{real_name} · {dept} · {role_text}"))
    return labels


def _create() -> None:
    # bootstrap (actor None): the system creates the centre and its first administrator
    province = do_create_jurisdiction(None, code="360000", name="江西省", level="province",
                                      policy_profile="national")
    city = do_create_jurisdiction(None, code="360700", name="赣州市", level="city", parent=province,
                                  policy_profile="national")
    county = do_create_jurisdiction(None, code=REGION, name="龙南市", level="county", parent=city,
                                    policy_profile="longnan")
    centre = do_create_department(None, name="龙南市政务和数据服务中心", short_name="数据服务中心",
                                  uscc=make_uscc(REGION, 1000), code="LNSJZX", kind=Department.Kind.CENTRE,
                                  jurisdiction=county)
    birth = {a[0]: a[4] for a in ACCOUNTS}
    admin = do_create_user(None, username="centre_admin", real_name="刘建华", password=DEMO_PASSWORD,
                           password_hash=demo_password_hash(),
                           id_number=make_id_number(REGION, birth["centre_admin"], 11), department=centre,
                           email="centre_admin@longnan.example")
    do_grant_role(None, admin, Role.CENTRE_ADMIN)
    do_create_jurisdiction(admin, code="360800", name="吉安市", level="city", parent=province,
                           policy_profile="national")
    depts = {"LNSJZX": centre}
    for i, (code, name, short) in enumerate(DEPARTMENTS, start=1):
        depts[code] = do_create_department(admin, name=name, short_name=short, uscc=make_uscc(REGION, 1000 + i * 7),
                                           code=code, jurisdiction=county)
    users = {"centre_admin": admin}
    for i, (username, real_name, dept_code, roles, born) in enumerate(ACCOUNTS[1:], start=2):
        # the auditor's account is the operator's (`govshare auditor create`), not the admin's
        operator = Role.AUDITOR in roles
        users[username] = do_create_user(
            None if operator else admin, username=username, real_name=real_name, password=DEMO_PASSWORD,
            password_hash=demo_password_hash(),
            id_number=make_id_number(REGION, born, 10 + i * 2), department=depts.get(dept_code) if dept_code else None,
            email=f"{username}@longnan.example", roles=roles, operator=operator,
        )
    do_appoint_specialist(users["police_admin"], depts["LNGA"], users["police_specialist"], duty="lead",
                          phone="0797-3521101", note="负责公安数据共享对接")
    do_appoint_specialist(users["market_admin"], depts["LNSJ"], users["market_admin"], duty="lead",
                          phone="0797-3522202")
    # a first background job, so that the auditor's job page shows a real run (the worker runs it)
    from govshare.core.actions.audit import do_start_audit_verify

    do_start_audit_verify(users["auditor"])
