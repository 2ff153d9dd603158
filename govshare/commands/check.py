"""``govshare check``: Django's system checks, with those that read the database (the key fits the data, the
stamps' triggers are there — docs/operations.md §5, §8).  Exit status 1 when one fails.  A SQLite database that is
not there yet is not created by checking it: the database checks wait for ``govshare migrate``."""

from __future__ import annotations

import argparse
from typing import Any

from govshare.commands._util import add


def register(sub: Any) -> None:
    parser = add(sub, "check", "检查配置与数据库 / check the settings and the database", run)
    parser.set_defaults(checks_key=False)  # the key's check is one of the checks run here (never a new empty file)


def run(args: argparse.Namespace) -> int:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError
    from django.db import DatabaseError, connections

    from govshare.core.db import no_database_yet

    conn = connections["default"]
    databases = ["default"]
    if no_database_yet(conn):
        name = conn.settings_dict.get("NAME")
        print(f"数据库尚不存在（{name}）：先运行 govshare migrate / no database yet ({name}): run govshare migrate first")
        databases = []
    try:
        call_command("check", databases=databases, fail_level="ERROR")
    except SystemCheckError as exc:
        print(exc)
        return 1
    except DatabaseError as exc:
        print(f"数据库无法读取 / the database cannot be read: {str(exc).strip()[:300]}")
        return 1
    return 0
