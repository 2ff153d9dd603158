#!/usr/bin/env python3
"""Extract strings and set Chinese translations, safely when several people edit at once.

    .venv/bin/python scripts/po_translate.py --extract            # makemessages (needs GNU gettext)
    .venv/bin/python scripts/po_translate.py FILE.json            # {"msgid": "译文", …} → django.po, then compile
    .venv/bin/python scripts/po_translate.py --untranslated       # list msgids still without a translation

A plural entry takes a list: ``{"%(n)s day": ["%(n)s 天"]}``.  Every step holds an exclusive lock on
``govshare/locale/.lock``, so an extraction never overwrites translations being written in parallel.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "govshare" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
LOCK = ROOT / "govshare" / "locale" / ".lock"


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if args[0] == "--extract":
            subprocess.run(["bash", str(ROOT / "scripts" / "update_messages.sh")], check=True)
            return 0
        po = polib.pofile(str(PO))
        if args[0] == "--untranslated":
            for entry in po.untranslated_entries() + po.fuzzy_entries():
                print(entry.msgid)
            return 0
        wanted = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        by_id = {e.msgid: e for e in po}
        missing = []
        for msgid, msgstr in wanted.items():
            entry = by_id.get(msgid)
            if entry is None:
                missing.append(msgid)
                continue
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
                entry.previous_msgid = None
                entry.previous_msgid_plural = None  # a lone "#| msgid_plural" breaks msgmerge
            if entry.msgid_plural:
                forms = msgstr if isinstance(msgstr, list) else [msgstr]
                entry.msgstr_plural = dict(enumerate(forms))
            else:
                entry.msgstr = msgstr if isinstance(msgstr, str) else msgstr[0]
        for entry in po:  # repair lone previous-plural comments left by earlier runs
            if entry.previous_msgid_plural and not entry.previous_msgid:
                entry.previous_msgid_plural = None
        po.save(str(PO))
        subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_messages.py")], check=True)
        for msgid in missing:
            print(f"not in django.po (run --extract first): {msgid!r}", file=sys.stderr)
        return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
