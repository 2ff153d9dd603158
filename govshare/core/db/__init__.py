"""Database backends of govshare (Django ``ENGINE`` paths), and what the checks ask of a connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def no_database_yet(conn: Any) -> bool:
    """Whether ``conn`` is a SQLite file that is not there yet (connecting would create an empty one): the checks
    that read the database leave it to ``govshare migrate``."""
    name = str(conn.settings_dict.get("NAME") or "")
    in_memory = name.startswith((":memory:", "file:")) or "mode=memory" in name
    return conn.vendor == "sqlite" and not in_memory and (not name or not Path(name).exists())
