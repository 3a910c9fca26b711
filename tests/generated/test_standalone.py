"""Generated code runs where gendsl is not installed: a copy of generated/ and nothing else.

The interpreter runs with -I semantics for paths (no PYTHONPATH, no user site) and a
`sitecustomize`-free environment in which `import gendsl` fails: the copy finds its runtime
in generated/gendsl_runtime/ and nowhere else.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Hide gendsl: a meta-path finder that refuses it, installed before the script runs.
HIDE = ("import sys, runpy\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gendsl' or name.startswith('gendsl.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "script = sys.argv[1]\n"
        "sys.argv = sys.argv[1:]\n"
        "sys.path[0] = __import__('os').path.dirname(script)\n"
        "runpy.run_path(script, run_name='__main__')\n")


def _run(folder: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-s", "-c", HIDE, str(folder), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_generated_vae_runs_from_a_copy_without_gendsl(tmp_path):
    copy = tmp_path / "generated"
    shutil.copytree(ROOT / "generated", copy)
    train = copy / "vae" / "train.py"
    help_run = _run(train, "--help", cwd=tmp_path)
    assert help_run.returncode == 0, help_run.stderr
    assert "--resume" in help_run.stdout
    out = tmp_path / "run"
    run = _run(train, "--dry-run", "--steps", "20", "--batch-size", "4", "--quiet", "--no-plots",
               "--out", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    with open(out / "losses.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    assert len(rows) == 20


def test_gendsl_is_really_hidden(tmp_path):
    """The harness itself: `import gendsl` fails under it."""
    script = tmp_path / "probe.py"
    script.write_text("import gendsl\n")
    run = _run(script, cwd=tmp_path)
    assert run.returncode != 0 and "gendsl" in run.stderr
