"""``govshare policy show NAME`` / ``govshare policy check FILE`` (issue 2 §6)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from govshare.commands._util import add, print_help


def register(sub: Any) -> None:
    p = add(sub, "policy", "政策配置 / policy profiles", None)
    inner = p.add_subparsers(dest="policy_command", metavar="ACTION")
    show = inner.add_parser("show", help="显示配置及依据条款 / show a profile with the source of each value")
    show.add_argument("name", help="配置名 / profile name (national, longnan, changning, heilongjiang, template)")
    show.add_argument("--json", action="store_true", help="JSON 输出 / JSON output")
    show.set_defaults(handler=run_show, needs_django=True)
    check = inner.add_parser("check", help="校验配置文件 / validate a profile file")
    check.add_argument("file", help="YAML 文件 / YAML file")
    check.set_defaults(handler=run_check, needs_django=True)
    lst = inner.add_parser("list", help="列出配置 / list shipped profiles")
    lst.set_defaults(handler=run_list, needs_django=True)
    p.set_defaults(handler=lambda args: print_help(p))


def run_list(args: argparse.Namespace) -> int:
    from govshare.core.policy import available_profiles, get_profile

    for name in available_profiles():
        print(f"{name}\t{get_profile(name).title}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from govshare.core.policy import DEADLINE_KEYS, get_profile

    profile = get_profile(args.name)
    if args.json:
        print(json.dumps(profile.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"{profile.name}: {profile.title}")
    if profile.extends:
        print(f"  extends / 继承: {profile.extends}")
    from govshare.core.messages import bilingual_text

    print("deadlines / 时限:")
    for key, period in profile.deadlines.items():
        print(f"  {key}: {bilingual_text(period.describe().node)}  — {DEADLINE_KEYS.get(key, '')}")
    print("retention / 保留期限:")
    for key, period in profile.retention.items():
        print(f"  {key}: {bilingual_text(period.describe().node)}")
    print("reports / 报告:")
    for key, date in profile.reports.items():
        print(f"  {key}: month {date.month}, day {date.day} ({date.source})")
    print("lists / 列表:")
    for key, values in profile.lists.items():
        print(f"  {key} ({profile.list_sources.get(key, '')}): {'、'.join(values)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from govshare.core.policy import load_file

    profile = load_file(args.file)
    print(f"OK: {profile.name} ({len(profile.deadlines)} deadlines, {len(profile.lists)} lists) / 校验通过")
    return 0
