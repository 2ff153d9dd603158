from __future__ import annotations

import argparse
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    add(sub, "migrate", "创建或升级数据库结构 / create or upgrade the database schema", run)


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    return 0
