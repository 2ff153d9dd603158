"""The ``govshare`` console command.

The platform's sub-commands live in ``govshare/commands/<name>.py``, an app's in
``govshare/<app>/commands.py`` (found because the app is in ``INSTALLED_APPS``; this file names no
app, see :mod:`govshare.core.plugins`); each module has ``register(subparsers)``.  A handler receives
the parsed arguments after Django is set up.  Errors of the platform (:class:`GovshareError`) are
printed in Chinese and English with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

#: the order the platform's own commands are listed in ``govshare --help`` (others follow, by name)
FIRST = ["demo", "serve", "worker", "migrate", "check", "createadmin", "auditor", "workdays", "policy", "audit",
         "jobs", "tick"]


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
    for module in command_modules():
        module.register(sub)
    return parser


def platform_commands() -> list[ModuleType]:
    """``govshare/commands/*.py`` (not ``_private`` ones), in :data:`FIRST` order, then by name."""
    import govshare.commands as package

    names = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))
    return [importlib.import_module(f"govshare.commands.{name}") for name in names]


def command_modules() -> list[ModuleType]:
    """The platform's commands, then those of the apps in ``INSTALLED_APPS`` order."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
    from govshare.core.plugins import command_modules as app_commands

    return platform_commands() + app_commands()


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
    import django

    django.setup()


def main(argv: Sequence[str] | None = None) -> int:
    from govshare.config import ConfigError

    try:
        parser = build_parser()  # reads INSTALLED_APPS from the settings, which read the environment
    except ConfigError as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        if getattr(args, "needs_django", True):
            setup_django()
            if getattr(args, "checks_key", True):
                from govshare.core.keys import check_at_start

                check_at_start()  # the key is the one the data was written with (SEC-5), before anything runs
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
