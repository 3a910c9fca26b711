"""`gendsl run SPEC [train options]`: compile, then run the generated train.py."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def run_spec(spec: str, train_args: list[str], output: str | None = None, write: bool = True, sets=()) -> int:
    from gendsl.cli import _print_diagnostics, output_dir
    from gendsl.driver import compile_path
    from gendsl.files import write_atomically

    result = compile_path(spec, sets=sets)
    _print_diagnostics(result)
    if not result.ok:
        return 1
    if write:
        folder = output_dir(output, result.model.name)
        write_atomically(folder, result.files)
        return _train(folder, train_args)
    with tempfile.TemporaryDirectory(prefix="gendsl-") as tmp:
        folder = Path(tmp) / result.model.name
        write_atomically(folder, result.files)
        return _train(folder, train_args)


def _train(folder: Path, train_args: list[str]) -> int:
    command = [sys.executable, str(folder / "train.py"), *train_args]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # the child got the same SIGINT and checkpoints; wait is done by call
        return 130
