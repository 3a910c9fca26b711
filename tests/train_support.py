"""Helpers for the tests of generated training code (tests/test_train_*.py).

A generated train.py imports its sibling `model` by plain name, and every model has its own
`model` module, so a test compiles a spec into a scratch folder and imports train.py from
there with `imported(folder)`, which puts sys.path and sys.modules back as they were
afterwards; `generated_model()` is that folder's model.py inside the block.
"""

from __future__ import annotations

import csv
import importlib
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from gendsl.driver import compile_path, compile_source
from gendsl.files import write_atomically
from gendsl.render import render_all
from gendsl.source import SourceFile

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
SIBLINGS = ("train", "model", "data", "metrics", "outputs")


def compile_to(folder: Path, spec: str | Path | None = None, text: str | None = None) -> Path:
    """Compile a spec file (or spec text) and write its files to folder/<model>/; return that folder."""
    if text is not None:
        result = compile_source(SourceFile("spec.gen", text))
    else:
        result = compile_path(str(spec))
    assert result.ok, render_all(result.diagnostics, result.source)
    out = Path(folder) / result.model.name
    write_atomically(out, result.files)
    return out


@contextmanager
def imported(folder: Path):
    """Import folder/train.py (and its sibling modules) for the duration of the block."""
    saved = {name: sys.modules.pop(name) for name in SIBLINGS if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("train")
    finally:
        sys.path.remove(str(folder))
        for name in SIBLINGS:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def generated_model():
    """The model.py module of the folder `imported` holds (inside its block)."""
    return sys.modules["model"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def train_rows(path: Path) -> list[dict[str, str]]:
    return [r for r in read_rows(path) if r["split"] == "train"]


def assert_finite(path: Path) -> list[dict[str, str]]:
    """Every filled cell of losses.csv but the index columns is a finite number; returns the rows."""
    rows = read_rows(path)
    assert rows, f"{path} has no rows"
    for row in rows:
        for key, value in row.items():
            if key in ("step", "epoch", "split") or value == "":
                continue
            assert math.isfinite(float(value)), f"{path}: {key}={value} in {row}"
    return rows


def run_python(*args: str, cwd: Path | None = None, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """Run the current interpreter as a subprocess, capturing text output."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, **popen)


class SpecCache:
    """Compile each distinct spec text once per test module."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.done: dict[str, Path] = {}

    def __call__(self, text: str) -> Path:
        if text not in self.done:
            self.done[text] = compile_to(self.folder / f"s{len(self.done)}", text=text)
        return self.done[text]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: runs are deterministic and much quicker on a shared 2-core machine
    (import this fixture into a test module to use it there)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
