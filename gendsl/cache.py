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


def template_cache(folder: str):
    """jinja2's file cache of compiled templates, made to keep the promise above: a file it cannot
    read back (truncated by a full disk, a crash, or damaged by hand) is deleted and rebuilt, and a
    cache folder that cannot be written (read-only, full) only costs the time of compiling again."""
    import jinja2

    class SelfRepairingCache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001 - marshal/pickle raise EOFError, ValueError, TypeError ...
                bucket.reset()
                try:
                    os.unlink(self._get_cache_filename(bucket))
                except OSError:
                    pass

        def dump_bytecode(self, bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    return SelfRepairingCache(folder, "jinja2-%s.cache")
