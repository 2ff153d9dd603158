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
