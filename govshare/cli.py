"""The ``govshare`` console command.

Each sub-command lives in ``govshare/commands/<name>.py`` with ``register(subparsers)``; its
handler receives the parsed arguments after Django is set up.  Errors of the platform
(:class:`GovshareError`) are printed in Chinese and English with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMANDS = ["demo", "serve", "worker", "migrate", "createadmin", "auditor", "workdays", "policy", "audit", "jobs", "catalog",
            "sharing"]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: 参数错误 / error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="govshare",
        description="政务信息资源共享与开放平台 / government data sharing and open-data platform",
        epilog="每个子命令都有 --help / every sub-command has --help",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"govshare.commands.{name}")
        module.register(sub)
    return parser


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
    import django

    django.setup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    from govshare.config import ConfigError

    try:
        if getattr(args, "needs_django", True):
            setup_django()
        from govshare.core import audit, context

        with context.bind(ip="cli"):
            try:
                result = args.handler(args)
            finally:
                audit.flush_pending()
    except ConfigError as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from govshare.core.errors import GovshareError

        if isinstance(exc, GovshareError):
            print(f"错误 / error: {exc.bilingual()}", file=sys.stderr)
            return 2
        raise
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
