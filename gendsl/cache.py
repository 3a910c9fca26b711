"""Where gendsl keeps what it can always rebuild: lark's parse tables, compiled templates.

Both are checked against their source on load (lark stores a hash of the grammar and its
version; jinja2 a checksum of the template and the Python version), so a stale file costs one
rebuild, never a wrong result. Building them takes about 80 ms of every run; loading them, 10.
"""

from __future__ import annotations

import os


def cache_dir() -> str | None:
    """$GENDSL_CACHE_DIR (`off` disables caching), else $XDG_CACHE_HOME/gendsl, else ~/.cache/gendsl;
    None when caching is off or the folder cannot be created."""
    folder = os.environ.get("GENDSL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gendsl")
    if folder == "off":
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder
