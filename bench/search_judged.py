#!/usr/bin/env python3
"""Judged search quality (issue 8, CAT-9): the share of the judged queries people type whose
expected demo entries appear in the top 3.

Loads the demo into a throwaway SQLite database (or uses ``$DATABASE_URL`` / ``$GOVSHARE_DATA_DIR``
when ``--reuse`` is given and the demo is there), builds the search index through the application
(``govshare.catalog.search.rebuild``) and runs every query of ``tests/data/search_judged.yaml`` as
the user it names, through ``govshare.catalog.search.search`` — the same path as the web page and
the API.  The test ``tests/test_catalog_search_judged.py`` asserts the same share (≥ 95 %).

    .venv/bin/python bench/search_judged.py            # share, misses
    .venv/bin/python bench/search_judged.py -v         # every query with its top 3
    .venv/bin/python bench/search_judged.py --show 法人  # the top 10 of one query
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.search_judging import judge, load_judged  # noqa: E402 — the judging the test uses


def run(judged: dict[str, Any], verbose: bool = False) -> tuple[float, list[tuple[dict[str, Any], list[str], list[str]]]]:
    from govshare.catalog import search
    from govshare.core.models import User

    users: dict[str, Any] = {}
    misses = []
    passed = 0
    for case in judged["queries"]:
        username = case.get("user", judged["user"])
        user = users.get(username) or users.setdefault(username, User.objects.get(username=username))
        hits = search.search(user, str(case["q"]), per_page=10).hits
        problems = judge(case, hits)
        top = [h.name for h in hits[:3]]
        if problems:
            misses.append((case, problems, top))
        else:
            passed += 1
        if verbose:
            print(f"{'ok  ' if not problems else 'MISS'} {case['q']!s:16s} {' | '.join(top)}")
    return passed / len(judged["queries"]), misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="use the database of the environment (demo loaded)")
    parser.add_argument("--show", default="", help="print the top 10 of this query and stop")
    parser.add_argument("--user", default="", help="for --show: search as this user")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="govshare-judged-")
    os.environ["GOVSHARE_JUDGED_WORK"] = work
    if not args.reuse:
        os.environ["GOVSHARE_DATA_DIR"] = work
        os.environ["DATABASE_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from govshare.catalog import search
    from govshare.core.demo import load_demo

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.GOVSHARE_SEARCH_DIR = Path(work) / "search"
    t0 = time.perf_counter()
    if not args.reuse:
        call_command("migrate", interactive=False, verbosity=0)
        load_demo()
    documents = search.rebuild()
    print(f"demo ready and indexed ({documents} entries) in {time.perf_counter() - t0:.1f} s")
    judged = load_judged()
    if args.show:
        from govshare.core.models import User

        user = User.objects.get(username=args.user or judged["user"])
        result = search.search(user, args.show, per_page=10)
        print(f"{args.show}: {result.total} hits; words {result.query_terms}; synonyms {result.expansions}; "
              f"approximate {result.approximate}")
        for hit in result.hits:
            print(f"  {hit.score:7.2f} {hit.code:14s} {hit.provider_code:5s} {hit.name}")
        return 0
    share, misses = run(judged, verbose=args.verbose)
    kinds = Counter(str(c.get("kind", "")) for c in judged["queries"])
    print(f"\n{len(judged['queries'])} judged queries ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    for case, problems, top in misses:
        print(f"  miss: {case['q']!s} — {'; '.join(problems)}; top 3: {' | '.join(top)}")
    print(f"share with the expected entries in the top 3: {share:.1%} (target ≥ 95 %)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:  # the throwaway database, data directory and index
        if os.environ.get("GOVSHARE_JUDGED_WORK"):
            shutil.rmtree(os.environ["GOVSHARE_JUDGED_WORK"], ignore_errors=True)
