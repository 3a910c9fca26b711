"""Every spec in specs/ trains, and generated train.py stands alone.

- each spec compiles and its train.py runs a few steps on fake data with finite losses;
- `python <folder>/train.py ...` and `gendsl run SPEC --no-write -- ...` give the same losses.csv;
- generated code never imports gendsl.
"""

from __future__ import annotations

import ast
import json
import math

import pytest

from gendsl.driver import compile_path
from train_support import (SPECS, assert_finite, compile_to, imported, one_thread,  # noqa: F401
                           read_rows, run_python, train_rows)

SPEC_FILES = sorted(SPECS.glob("*.gen"))


def test_there_are_specs():
    assert len(SPEC_FILES) >= 2


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("specs")
    return {spec.stem: compile_to(root, spec) for spec in SPEC_FILES}


@pytest.mark.parametrize("spec", SPEC_FILES, ids=[s.stem for s in SPEC_FILES])
def test_spec_trains_a_few_steps(compiled, spec, tmp_path):
    folder = compiled[spec.stem]
    out = tmp_path / "run"
    with imported(folder) as train:
        steps = max(3, getattr(train, "D_STEPS", 1))  # at least one generator update
        rc = train.main(["--dry-run", "--quiet", "--batch-size", "8", "--steps", str(steps), "--out", str(out)])
        gan = "loss_g" in train.RECIPE.columns
    assert rc == 0
    rows = assert_finite(out / "losses.csv")
    train_part = [r for r in rows if r["split"] == "train"]
    assert [int(r["step"]) for r in train_part] == list(range(1, steps + 1))
    if gan:
        assert all(r["loss_d"] and r["d_real"] and r["d_fake"] for r in train_part)
        assert train_part[-1]["loss_g"]
        val = [r for r in rows if r["split"] == "val"]
        assert val and all(val[-1][k] for k in ("loss_d", "d_real", "d_fake", "loss_g"))
    else:
        assert all(r["loss"] for r in train_part)
        val = [r for r in rows if r["split"] == "val"]
        assert val and val[-1]["loss"]
    for name in ("losses.png", "checkpoints/last.pt", "metrics.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == steps


def test_validation_loss_is_the_sum_of_its_terms(tmp_path):
    """Validation rows report each term as training does: `mse` is the spec's (summed) term, not a
    different reconstruction figure that happens to share its column."""
    folder = compile_to(tmp_path, SPECS / "vae_lightning.gen")
    out = tmp_path / "run"
    with imported(folder) as train:
        assert train.main(["--dry-run", "--quiet", "--batch-size", "8", "--out", str(out)]) == 0
    rows = read_rows(out / "losses.csv")
    for row in rows:
        assert math.isclose(float(row["loss"]), float(row["mse"]) + float(row["kl"]), rel_tol=1e-5), row
    val, last = [r for r in rows if r["split"] == "val"][-1], train_rows(out / "losses.csv")[-1]
    # the same quantity: a per-sample sum over 3*64*64 pixels, not a per-pixel mean
    assert float(val["mse"]) > 0.1 * float(last["mse"])


def _generated_files():
    for spec in SPEC_FILES:
        result = compile_path(str(spec))
        assert result.ok
        for name, text in result.files.items():
            if name.endswith(".py"):
                yield spec.stem, name, text


def test_generated_code_never_imports_gendsl():
    seen = 0
    for spec, name, text in _generated_files():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
                modules = [getattr(node.args[0], "value", "?")]
            else:
                continue
            seen += 1
            assert not any(m.split(".")[0] == "gendsl" for m in modules), (spec, name, modules)
    assert seen > 0


BLOCK_GENDSL = """
import sys

class NoGendsl:
    def find_spec(self, name, path=None, target=None):
        if name == "gendsl" or name.startswith("gendsl."):
            raise ImportError("generated code imported " + name)
        return None

sys.meta_path.insert(0, NoGendsl())
sys.path.insert(0, sys.argv[1])
import train
rc = train.main(sys.argv[2:])
loaded = sorted(m for m in sys.modules if m == "gendsl" or m.startswith("gendsl."))
assert not loaded, loaded
print("rc", rc)
"""


def test_train_runs_without_gendsl(compiled, tmp_path):
    """Run a generated train.py in a process where importing gendsl fails."""
    folder = compiled["cvae"]
    out = tmp_path / "run"
    proc = run_python("-c", BLOCK_GENDSL, str(folder), "--dry-run", "--quiet", "--batch-size", "4", "--steps", "2",
                      "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rc 0" in proc.stdout
    assert_finite(out / "losses.csv")


def test_train_py_and_gendsl_run_give_the_same_losses(tmp_path):
    """`python generated/<model>/train.py` and `gendsl run SPEC --no-write -- ...` run the same training,
    here on real (toy) data: same seed, same steps, the same losses.csv, bit for bit."""
    spec = SPECS / "gan_mlp_2d.gen"
    folder = compile_to(tmp_path / "gen", spec)
    options = ["--steps", "4", "--batch-size", "16", "--seed", "3", "--quiet"]
    direct = run_python(str(folder / "train.py"), *options, "--out", str(tmp_path / "a"), cwd=tmp_path)
    assert direct.returncode == 0, direct.stderr
    via_run = run_python("-m", "gendsl", "run", str(spec), "--no-write", "--", *options,
                         "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert via_run.returncode == 0, via_run.stderr
    a = (tmp_path / "a" / "losses.csv").read_text()
    b = (tmp_path / "b" / "losses.csv").read_text()
    assert len(train_rows(tmp_path / "a" / "losses.csv")) == 4
    assert a == b
    assert not (tmp_path / "generated").exists()  # --no-write left the working directory alone


def test_gendsl_run_takes_set_and_passes_the_rest_to_train_py(monkeypatch):
    import gendsl.cli
    import gendsl.run

    seen = {}
    monkeypatch.setattr(gendsl.run, "run_spec", lambda spec, args, output=None, write=True, sets=():
                        seen.update(args=args, sets=sets) or 0)
    assert gendsl.cli.main(["run", "specs/vae.gen", "--set", "latent=8", "--steps", "5",
                            "--set", "train.epochs=2"]) == 0
    assert seen == {"args": ["--steps", "5"], "sets": ["latent=8", "train.epochs=2"]}


@pytest.mark.parametrize("argv, train_args, no_write, output", [
    (["--no-write", "--steps", "5", "--out", "runs/x"], ["--steps", "5", "--out", "runs/x"], True, None),
    (["--no-write", "--", "--steps", "5", "--out", "runs/x"], ["--steps", "5", "--out", "runs/x"], True, None),
    (["-o", "gen", "--no", "--", "-o", "--help"], ["--no", "-o", "--help"], False, "gen"),
    (["--lr", "1e-3", "--output", "gen"], ["--lr", "1e-3"], False, "gen"),
])
def test_gendsl_run_passes_train_options_through(monkeypatch, argv, train_args, no_write, output):
    """train.py's options reach it whole: --out is not gendsl's -o/--output abbreviated, --no is not
    --no-write, and everything after `--` is train.py's."""
    import gendsl.cli
    import gendsl.run

    seen = {}

    def fake_run_spec(spec, args, output=None, write=True, sets=()):
        seen.update(spec=spec, args=args, output=output, write=write)
        assert sets == []
        return 0

    monkeypatch.setattr(gendsl.run, "run_spec", fake_run_spec)
    assert gendsl.cli.main(["run", "specs/vae.gen", *argv]) == 0
    assert seen == {"spec": "specs/vae.gen", "args": train_args, "output": output, "write": not no_write}
