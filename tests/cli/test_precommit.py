"""The hooks of .pre-commit-hooks.yaml, each run as pre-commit runs it: its `entry`, its `args`, then the
staged files that match `files`, from the repository's root; a hook fails on a non-zero exit or when it
modified a file."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pre_commit_clientlib = pytest.importorskip("pre_commit.clientlib")

ROOT = Path(__file__).resolve().parents[2]
HOOKS = {hook["id"]: hook for hook in pre_commit_clientlib.load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}
STAGED = ["specs/vae.gen", "README.md", "notes.txt"]


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "vae.gen", tmp_path / "specs" / "vae.gen")
    (tmp_path / "README.md").write_text("# project\n")
    (tmp_path / "notes.txt").write_text("model broken\n")
    assert run_hook("gendsl-compile-check", tmp_path).returncode == 1  # nothing generated yet
    subprocess.run([*gendsl(), "compile", "-q", "specs/vae.gen"], cwd=tmp_path, env=_env(), check=True)
    return tmp_path


def gendsl() -> list[str]:
    exe = shutil.which("gendsl")
    return [exe] if exe else [sys.executable, "-m", "gendsl"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)  # this checkout, as the hook's own environment would have it installed
    env.pop("GITHUB_ACTIONS", None)
    return env


def run_hook(hook_id: str, repo: Path) -> subprocess.CompletedProcess:
    hook = HOOKS[hook_id]
    files = [f for f in STAGED if re.search(hook["files"], f) and not re.search(hook["exclude"], f)]
    entry = shlex.split(hook["entry"])
    assert entry[0] == "gendsl"
    return subprocess.run([*gendsl(), *entry[1:], *hook["args"], *files], cwd=repo, env=_env(),
                          capture_output=True, text=True, timeout=120)


def test_manifest_declares_the_three_python_hooks_on_gen_files():
    assert set(HOOKS) == {"gendsl-check", "gendsl-fmt", "gendsl-compile-check"}
    for hook in HOOKS.values():
        assert hook["language"] == "python" and hook["pass_filenames"]
        assert re.search(hook["files"], "specs/dcgan.gen") and not re.search(hook["files"], "specs/dcgan.gen.bak")


def test_check_hook_passes_a_good_spec_and_fails_a_broken_one(repo):
    assert run_hook("gendsl-check", repo).returncode == 0
    spec = repo / "specs" / "vae.gen"
    spec.write_text(spec.read_text().replace("param hidden = 400", "param hidden = 0"))
    failed = run_hook("gendsl-check", repo)
    assert failed.returncode == 1 and "error[E0" in failed.stderr


def test_fmt_hook_rewrites_a_messy_spec_then_passes(repo):
    spec = repo / "specs" / "vae.gen"
    before = spec.read_text()
    assert run_hook("gendsl-fmt", repo).returncode == 0 and spec.read_text() == before  # formatted already
    spec.write_text(before.replace("param latent = 20", "param   latent=20"))
    result = run_hook("gendsl-fmt", repo)
    assert result.returncode == 0 and spec.read_text() == before  # modified: pre-commit fails the commit
    assert "reformatted specs/vae.gen" in result.stderr


def test_compile_check_hook_fails_when_generated_code_is_stale(repo):
    assert run_hook("gendsl-compile-check", repo).returncode == 0
    spec = repo / "specs" / "vae.gen"
    spec.write_text(spec.read_text().replace("param hidden = 400", "param hidden = 300"))
    stale = run_hook("gendsl-compile-check", repo)
    assert stale.returncode == 1 and "nn.Linear(784, 300)" in stale.stdout
