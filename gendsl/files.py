"""Write generated files atomically: all of a model's files change, or none does."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(folder: Path, files: dict[str, str]) -> None:
    """Write each file to a temporary sibling, fsync it, then rename over the target.

    A name may hold `/` (`../gendsl_runtime/loop.py`: the shared runtime beside the model's folder).
    """
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for name, text in sorted(files.items()):
            target = folder / name
            if target.exists() and target.read_text(encoding="utf-8") == text:
                continue  # unchanged: keep its timestamp, so build tools see no change
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for tmp, target in staged:
            os.replace(tmp, target)
        staged = []
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
