#!/usr/bin/env python3
"""Compile govshare/locale/*/LC_MESSAGES/django.po to .mo with polib (no GNU gettext needed).

``--check`` fails when a committed .mo does not match its .po (CI), so translations never drift.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "govshare" / "locale"


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/django.po")):
        po = polib.pofile(str(po_path))
        mo_path = po_path.with_suffix(".mo")
        if check:
            with tempfile.NamedTemporaryFile(suffix=".mo") as tmp:
                po.save_as_mofile(tmp.name)
                fresh = Path(tmp.name).read_bytes()
            if not mo_path.exists() or mo_path.read_bytes() != fresh:
                stale.append(str(mo_path))
        else:
            po.save_as_mofile(str(mo_path))
            print(f"compiled {mo_path.relative_to(LOCALE.parent.parent)} ({po.percent_translated()}% translated)")
    if stale:
        print("stale translations (run `make messages`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
