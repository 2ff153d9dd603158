"""Helpers shared by sub-commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add(sub: Any, name: str, help_text: str, handler: Any, *, needs_django: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler, needs_django=needs_django)
    return parser


def system_actor() -> Any:
    """The CLI acts as an operator on the machine: audit events name the OS user as actor detail."""
    return None


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def named_user(username: str) -> Any:
    """The active user ``username`` (``--as``), or NotFound."""
    from govshare.core.errors import NotFound
    from govshare.core.models import User

    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound("user")
    return user


def department_editor(dept: Any, username: str | None) -> Any:
    """The --as user, else the department's first active department administrator (then data specialist): who a
    console command acts as for a department."""
    from django.utils.translation import gettext_lazy as _

    from govshare.core.errors import ValidationFailed
    from govshare.core.models import RoleAssignment
    from govshare.core.roles import Role

    if username:
        return named_user(username)
    for role in (Role.DEPT_ADMIN, Role.DATA_SPECIALIST):
        row = RoleAssignment.objects.filter(user__department=dept, user__is_active=True, role=role).select_related(
            "user").order_by("user__pk").first()
        if row is not None:
            return row.user
    raise ValidationFailed("no_editor", _("%(department)s has no active department administrator or data "
                                          "specialist; name one with --as."), department=dept.name, field="--as")
