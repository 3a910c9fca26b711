"""The parse-table and template caches (gendsl/cache.py) change how fast gendsl starts, never what it writes."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compile_with(cache: str, out: Path) -> dict[str, str]:
    env = dict(os.environ, GENDSL_CACHE_DIR=cache)
    subprocess.run([sys.executable, "-m", "gendsl", "compile", "-q", "-o", str(out), str(ROOT / "specs" / "dcgan.gen")],
                   env=env, check=True, cwd=out.parent)
    return {p.name: p.read_text() for p in sorted((out / "dcgan").iterdir())}


def test_cached_and_uncached_output_are_identical(tmp_path):
    cache = tmp_path / "cache"
    cold = compile_with(str(cache), tmp_path / "cold")
    names = sorted(p.name for p in cache.iterdir())
    assert any(n.startswith("grammar-lark") for n in names), names
    assert any(n.startswith("jinja2-") for n in names), names
    warm = compile_with(str(cache), tmp_path / "warm")
    off = compile_with("off", tmp_path / "off")
    assert cold == warm == off
    assert "train.py" in cold and "model.py" in cold


def test_an_unusable_cache_folder_is_no_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = compile_with(str(blocker / "cache"), tmp_path / "out")
    assert out == compile_with("off", tmp_path / "off")
