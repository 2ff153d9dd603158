"""``govshare createadmin``: the first centre administrator (bootstrap, audited)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    p = add(sub, "createadmin", "创建中心管理员 / create a centre administrator", run)
    p.add_argument("--username", required=True)
    p.add_argument("--real-name", required=True, help="实名 / real name")
    p.add_argument("--id-number", default=None, help="公民身份号码 / citizen ID number (GB 11643)")
    p.add_argument("--department", required=True, help="中心的部门代码 / the centre's department code")
    p.add_argument("--email", default="")
    p.add_argument("--password-env", default="GOVSHARE_ADMIN_PASSWORD",
                   help="从该环境变量读取密码, 否则交互输入 / read the password from this variable, else prompt")


def run(args: argparse.Namespace) -> int:
    from django.db import transaction

    from govshare.core.actions import do_create_user, do_grant_role
    from govshare.core.errors import ValidationFailed
    from govshare.core.models import Department
    from govshare.core.roles import Role

    dept = Department.objects.filter(code=args.department).first()
    if dept is None or not dept.is_centre:
        raise ValidationFailed("unknown_centre", "No data-management centre with code %(code)s.",
                               code=args.department, field="--department")
    password = os.environ.get(args.password_env) or ""
    if not password:
        if not sys.stdin.isatty():
            raise ValidationFailed("password_required", "Set %(var)s or run interactively.",
                                   var=args.password_env, field="password")
        password = getpass.getpass("密码 / password: ")
    with transaction.atomic():
        user = do_create_user(None, username=args.username, real_name=args.real_name, password=password,
                              id_number=args.id_number, email=args.email, department=dept)
        do_grant_role(None, user, Role.CENTRE_ADMIN)  # audited as the system (bootstrap, ip "cli")
    print(f"created centre administrator {user.username} / 已创建中心管理员")
    return 0
