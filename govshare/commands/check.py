"""``govshare check``: Django's system checks, with those that read the database (the key fits the data, the
stamps' triggers are there — docs/operations.md §5, §8).  Exit status 1 when one fails."""

from __future__ import annotations

import argparse
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    add(sub, "check", "检查配置与数据库 / check the settings and the database", run)


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        call_command("check", databases=["default"], fail_level="ERROR")
    except SystemCheckError as exc:
        print(exc)
        return 1
    return 0
