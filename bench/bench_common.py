"""What the bench scripts share: a throwaway PostgreSQL server (``scripts/with_postgres.py``'s) and a
git worktree of another ref, run with this repository's virtualenv.  The scripts run as
``python bench/NAME.py``, so this module is importable as ``bench_common``."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: untracked files a worktree needs (made by `make frontend`), linked into it
UNTRACKED_NEEDED = ["govshare/static/vendor"]


def throwaway_postgres(options: str, prefix: str) -> contextlib.AbstractContextManager[str]:
    """A private PostgreSQL server started as ``scripts/with_postgres.py`` starts one; yields its URL."""
    spec = importlib.util.spec_from_file_location("with_postgres", ROOT / "scripts" / "with_postgres.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server: contextlib.AbstractContextManager[str] = module.throwaway_server(options, prefix=prefix)
    return server


def add_worktree(ref: str, prefix: str) -> Path:
    """``ref`` checked out in a temporary directory (detached), with the untracked files it needs."""
    tree = Path(tempfile.mkdtemp(prefix=prefix)) / "tree"
    added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), ref])
    if added.returncode:
        shutil.rmtree(tree.parent, ignore_errors=True)
        raise RuntimeError(f"git worktree add {ref} failed")
    for rel in UNTRACKED_NEEDED:
        src, dst = ROOT / rel, tree / rel
        if src.exists() and not dst.exists():
            dst.symlink_to(src, target_is_directory=src.is_dir())
    return tree


def remove_worktree(tree: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    shutil.rmtree(tree.parent, ignore_errors=True)


__all__ = ["ROOT", "UNTRACKED_NEEDED", "add_worktree", "remove_worktree", "throwaway_postgres"]
