"""``govshare auditor create|reset-password|deactivate`` — auditor accounts belong to the machine
operator, not to the platform administrators (GB/T 39477 separation of duties, SEC-2): otherwise an
administrator could set an auditor's password and read the audit log."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from govshare.commands._util import add, print_help

PASSWORD_ENV = "GOVSHARE_AUDITOR_PASSWORD"


def register(sub: Any) -> None:
    p = add(sub, "auditor", "审计员账号 (仅系统操作员) / auditor accounts (machine operator only)", None)
    inner = p.add_subparsers(dest="auditor_command", metavar="ACTION")
    create = inner.add_parser("create", help="创建审计员 / create an auditor")
    create.add_argument("--username", required=True)
    create.add_argument("--real-name", required=True, help="实名 / real name")
    create.add_argument("--department", required=True, help="所属部门代码 / department code")
    create.add_argument("--id-number", default=None, help="公民身份号码 / citizen ID number (GB 11643)")
    create.add_argument("--email", default="")
    create.set_defaults(handler=run_create, needs_django=True)
    reset = inner.add_parser("reset-password", help="重设密码并解锁 / set a new password and lift a lockout")
    reset.add_argument("username")
    reset.set_defaults(handler=run_reset, needs_django=True)
    off = inner.add_parser("deactivate", help="停用审计员 / deactivate an auditor")
    off.add_argument("username")
    off.add_argument("--reason", default="")
    off.set_defaults(handler=run_deactivate, needs_django=True)
    p.set_defaults(handler=lambda args: print_help(p))


def _password() -> str:
    password = os.environ.get(PASSWORD_ENV) or ""
    if password:
        return password
    if not sys.stdin.isatty():
        from govshare.core.errors import ValidationFailed

        raise ValidationFailed("password_required", "Set %(var)s or run interactively.", var=PASSWORD_ENV,
                               field="password")
    return getpass.getpass("密码 / password: ")


def _auditor(username: str) -> Any:
    from govshare.core.errors import NotFound
    from govshare.core.models import User
    from govshare.core.roles import Role

    user = User.objects.filter(username=username, role_assignments__role=Role.AUDITOR).first()
    if user is None:
        raise NotFound("auditor")
    return user


def run_create(args: argparse.Namespace) -> int:
    from django.db import transaction

    from govshare.core.actions import do_create_user
    from govshare.core.errors import ValidationFailed
    from govshare.core.models import Department
    from govshare.core.roles import Role

    dept = Department.objects.filter(code=args.department, is_active=True).first()
    if dept is None:
        raise ValidationFailed("unknown_department", "No active department with code %(code)s.",
                               code=args.department, field="--department")
    with transaction.atomic():
        user = do_create_user(None, username=args.username, real_name=args.real_name, password=_password(),
                              id_number=args.id_number, email=args.email, department=dept, roles=[Role.AUDITOR],
                              operator=True)
    print(f"created auditor {user.username} / 已创建审计员")
    return 0


def run_reset(args: argparse.Namespace) -> int:
    from govshare.core.actions import do_change_password

    user = _auditor(args.username)
    do_change_password(None, user, old_password=None, new_password=_password(), operator=True)
    print(f"password set for {user.username} / 已重设密码")
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    from govshare.core.actions import do_deactivate_user

    user = _auditor(args.username)
    do_deactivate_user(None, user, args.reason, operator=True)
    print(f"deactivated {user.username} / 已停用")
    return 0
