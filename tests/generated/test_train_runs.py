"""Training runs of generated train.py: checkpoints, exact resume, signals, kill -9, divergence, bad data.

Most runs call train.main() in this process on --dry-run data (fast, deterministic on CPU);
the signal and kill -9 tests run train.py as a subprocess and poll losses.csv (no sleeps
longer than a poll interval, no timing assertions).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from train_support import (SPECS, SpecCache, compile_to, imported, one_thread,  # noqa: F401
                           run_python, train_rows)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return SpecCache(tmp_path_factory.mktemp("specs"))


@pytest.fixture(scope="module")
def spec_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    done = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = compile_to(root, SPECS / f"{name}.gen")
        return done[name]
    return get


def run_main(folder: Path, *args: str) -> int:
    with imported(folder) as train:
        return train.main(["--quiet", *args])


def stray_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


# ---------------------------------------------------------------------------
# Checkpoints and exact resume
# ---------------------------------------------------------------------------

def test_checkpoint_contents_and_no_temp_files(spec_folder, tmp_path):
    folder = spec_folder("vae")
    assert run_main(folder, "--dry-run", "--steps", "5", "--batch-size", "4", "--checkpoint-every", "2",
                    "--out", str(tmp_path)) == 0
    assert stray_files(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt"]
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    with imported(folder) as train:
        assert state["spec_sha256"] == train.RECIPE.sha256
    assert state["step"] == 5
    assert {key.split(".")[0] for key in state["model"]} == {"enc", "dec"}
    assert state["optimizers"] and "rng" in state


def test_checkpoint_write_is_atomic(spec_folder, tmp_path, monkeypatch):
    """A save that dies half-way leaves the previous checkpoint intact and no temp file behind."""
    folder = spec_folder("vae")
    out = str(tmp_path)
    assert run_main(folder, "--dry-run", "--steps", "2", "--batch-size", "4", "--out", out) == 0
    good = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    real_save = torch.save

    def dying_save(obj, f, *a, **k):
        if isinstance(obj, dict) and "spec_sha256" in obj:
            f.write(b"half a checkpoint")
            raise OSError("disk full")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        run_main(folder, "--dry-run", "--steps", "3", "--batch-size", "4", "--resume", "--out", out)
    monkeypatch.undo()
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == good
    assert stray_files(tmp_path) == []


RESUME_SPECS = ["vae", "wgan_gp_2d", "ae_denoising", "cdcgan"]  # sampling, n_critic + penalty, corruption, labels + BN
train_part = train_rows


@pytest.mark.parametrize("name", RESUME_SPECS)
def test_resume_gives_the_same_losses(spec_folder, tmp_path, name):
    """Run 6 steps; run 3, then resume to 6: the same rows, bit for bit. Dry-run data has 4 batches
    an epoch, so the resumed part crosses an epoch end (evaluation, samples, epoch checkpoint)."""
    folder = spec_folder(name)
    common = ["--dry-run", "--batch-size", "4", "--seed", "5"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_main(folder, *common, "--steps", "6", "--checkpoint-every", "3", "--out", str(a)) == 0
    assert run_main(folder, *common, "--steps", "3", "--out", str(b)) == 0
    assert torch.load(b / "checkpoints" / "last.pt", weights_only=True)["step"] == 3
    assert run_main(folder, *common, "--steps", "6", "--resume", "--out", str(b)) == 0
    rows_a, rows_b = train_part(a / "losses.csv"), train_part(b / "losses.csv")
    assert [r["step"] for r in rows_b] == [str(i) for i in range(1, 7)]
    assert rows_a == rows_b


class Killed(BaseException):
    """The process dies here: nothing in train.py handles it."""


@pytest.mark.parametrize("name", ["vae", "wgan_gp_2d"])
def test_resume_from_an_epoch_end_checkpoint(spec_folder, tmp_path, name, monkeypatch):
    """A run that dies right after its epoch-end checkpoint resumes to the same losses as a run that never
    stopped: the evaluation and samples of the epoch end (which draw random numbers) come before it."""
    folder = spec_folder(name)
    common = ["--dry-run", "--batch-size", "4", "--seed", "2", "--checkpoint-every", "100"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_main(folder, *common, "--steps", "7", "--out", str(a)) == 0
    with imported(folder) as train:
        loop = sys.modules["gendsl_runtime.loop"]
        real_save = loop.save_checkpoint

        def save_then_die(*args, **kwargs):
            real_save(*args, **kwargs)
            raise Killed  # not a KeyboardInterrupt: train.py turns that into a clean stop

        with monkeypatch.context() as patch, pytest.raises(Killed):
            patch.setattr(loop, "save_checkpoint", save_then_die)
            train.main(["--quiet", *common, "--steps", "7", "--out", str(b)])
    state = torch.load(b / "checkpoints" / "last.pt", weights_only=True)
    assert (state["step"], state["epoch"], state["batch"]) == (4, 1, 0)
    assert run_main(folder, *common, "--steps", "7", "--resume", "--out", str(b)) == 0
    assert train_part(a / "losses.csv") == train_part(b / "losses.csv")


def test_resume_after_finishing_trains_no_more(spec_folder, tmp_path):
    folder = spec_folder("vae")
    common = ["--dry-run", "--batch-size", "4", "--steps", "3", "--out", str(tmp_path)]
    assert run_main(folder, *common) == 0
    assert run_main(folder, *common, "--resume") == 0
    assert [r["step"] for r in train_part(tmp_path / "losses.csv")] == ["1", "2", "3"]
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 3


def test_resume_without_a_checkpoint_is_an_error(spec_folder, tmp_path, capsys):
    assert run_main(spec_folder("vae"), "--dry-run", "--resume", "--out", str(tmp_path)) == 1
    assert "last.pt" in capsys.readouterr().err


def test_resume_with_another_specs_checkpoint_names_both_hashes(spec_folder, tmp_path):
    out = tmp_path / "run"
    vae, cvae = spec_folder("vae"), spec_folder("cvae")
    assert run_main(vae, "--dry-run", "--batch-size", "4", "--steps", "1", "--out", str(out)) == 0
    with imported(vae) as train:
        vae_hash = train.RECIPE.sha256
    with imported(cvae) as train:
        cvae_hash = train.RECIPE.sha256
        with pytest.raises(SystemExit) as exc:
            train.main(["--quiet", "--dry-run", "--batch-size", "4", "--steps", "2", "--resume", "--out", str(out)])
    message = str(exc.value.code)
    assert vae_hash[:12] in message and cvae_hash[:12] in message and "spec" in message
    # the other spec's checkpoint and log are left as they were
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["spec_sha256"] == vae_hash
    assert [r["step"] for r in train_part(out / "losses.csv")] == ["1"]


def test_checkpoints_load_with_weights_only(spec_folder):
    text = (spec_folder("vae").parent / "gendsl_runtime" / "loop.py").read_text()
    loads = [line for line in text.splitlines() if "torch.load(" in line]
    assert loads and all("weights_only=True" in line for line in loads)


# ---------------------------------------------------------------------------
# Signals and kill -9 (subprocesses)
# ---------------------------------------------------------------------------

def _env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    return env


def _start(folder: Path, out: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, str(folder / "train.py"), "--quiet", "--data", "ring8", "--batch-size", "8",
               "--epochs", "1000", "--out", str(out), *args]
    return subprocess.Popen(command, cwd=out.parent, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_rows(proc: subprocess.Popen, path: Path, rows: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if path.exists() and len(train_rows(path)) >= rows:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{path} did not reach {rows} rows")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_finishes_the_step_checkpoints_and_says_how_to_resume(spec_folder, tmp_path, sig):
    folder = spec_folder("gan_mlp_2d")
    out = tmp_path / "run"
    proc = _start(folder, out, "--checkpoint-every", "100000")
    try:
        _wait_for_rows(proc, out / "losses.csv", 3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert signal.Signals(sig).name in err and "--resume" in err and str(out) in err
    assert "Traceback" not in err
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    rows = train_rows(out / "losses.csv")
    assert state["step"] == int(rows[-1]["step"]) >= 3  # the step in progress finished and was saved
    assert [int(r["step"]) for r in rows] == list(range(1, state["step"] + 1))
    if sig != signal.SIGINT:
        return
    # the printed command resumes the run
    command = err[err.index("Resume with: ") + len("Resume with: "):].strip().split()
    assert command[0] == "python" and "--resume" in command
    target = state["step"] + 2
    resumed = subprocess.run([sys.executable, *command[1:], "--steps", str(target)], cwd=out.parent, env=_env(),
                             capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    rows = train_rows(out / "losses.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, target + 1))


def test_kill_9_loses_at_most_the_steps_since_the_last_checkpoint(spec_folder, tmp_path):
    folder = spec_folder("gan_mlp_2d")
    out = tmp_path / "run"
    every = 3
    proc = _start(folder, out, "--checkpoint-every", str(every), "--seed", "4")
    try:
        _wait_for_rows(proc, out / "losses.csv", 7)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    written = int(train_rows(out / "losses.csv")[-1]["step"])
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)  # never half-written
    assert state["step"] % every == 0 and written - every <= state["step"] <= written
    # resume to a few steps past the kill; compare with a run that was never interrupted
    target = written + 2
    args = ["--quiet", "--data", "ring8", "--batch-size", "8", "--seed", "4", "--steps", str(target)]
    assert run_main(folder, *args, "--resume", "--out", str(out)) == 0
    assert run_main(folder, *args, "--out", str(tmp_path / "straight")) == 0
    rows = train_rows(out / "losses.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, target + 1))  # no step logged twice
    assert rows == train_rows(tmp_path / "straight" / "losses.csv")


# ---------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------

def test_nan_loss_stops_the_run_naming_the_term_and_step(spec_folder, tmp_path, monkeypatch, capsys):
    folder = spec_folder("vae")
    with imported(folder) as train:
        real_terms = train.loss_terms
        calls = []

        def poisoned(nets, values, weights):
            total, terms = real_terms(nets, values, weights)
            calls.append(1)
            if len(calls) == 3:  # the third training step
                terms["kl"] = terms["kl"] * float("nan")
                total = terms["bce"] + terms["kl"]
            return total, terms

        monkeypatch.setattr(train, "loss_terms", poisoned)
        rc = train.main(["--quiet", "--dry-run", "--batch-size", "4", "--steps", "6", "--checkpoint-every", "1",
                         "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "`kl`" in err and "step 3" in err and "nan" in err
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 2  # last good one
    assert [r["step"] for r in train_part(tmp_path / "losses.csv")] == ["1", "2"]


def test_divergence_with_a_huge_learning_rate(build, tmp_path, capsys):
    spec = """model t_diverge
data x: vector[4]
encoder enc(x) -> [8] { linear(8) }
decoder dec(code: [8]) -> [4] { linear(4) }
forward { code = enc(x)  x_hat = dec(code) }
loss = mse(x_hat, x)
train { optimizer = sgd(lr=10) }
"""
    # the spec's lr is at most 10 (E0220 above); train.py's --lr is not bounded, so it diverges
    rc = run_main(build(spec), "--dry-run", "--batch-size", "4", "--steps", "50", "--lr", "1e30",
                  "--out", str(tmp_path))
    err = capsys.readouterr().err
    assert rc == 1
    assert "loss term `" in err and "at step" in err
    assert all(math.isfinite(float(r["loss"])) for r in train_part(tmp_path / "losses.csv"))


# ---------------------------------------------------------------------------
# Bad data: a clear error before any step
# ---------------------------------------------------------------------------

def _bad_data(folder: Path, data: Path, capsys, *extra: str) -> str:
    out = data.parent / "run"
    rc = run_main(folder, "--data", str(data), "--batch-size", "4", "--steps", "2", "--out", str(out), *extra)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not (out / "losses.csv").exists() and not (out / "checkpoints").exists()  # nothing ran
    return err


def test_data_of_the_wrong_shape(spec_folder, tmp_path, capsys):
    path = tmp_path / "points.npz"
    np.savez(path, x=np.random.rand(40, 7).astype(np.float32))
    err = _bad_data(spec_folder("vae"), path, capsys)
    assert "points.npz" in err and "(7,)" in err and "(1, 28, 28)" in err


def test_2d_data_of_the_wrong_width(spec_folder, tmp_path, capsys):
    path = tmp_path / "wide.npz"
    np.savez(path, x=np.random.rand(40, 3).astype(np.float32))
    err = _bad_data(spec_folder("gan_mlp_2d"), path, capsys)
    assert "wide.npz" in err


def test_empty_data_set(spec_folder, tmp_path, capsys):
    path = tmp_path / "empty.npz"
    np.savez(path, x=np.zeros((0, 1, 28, 28), np.float32))
    err = _bad_data(spec_folder("vae"), path, capsys)
    assert "empty.npz" in err and "no samples" in err


def test_fewer_samples_than_a_batch(spec_folder, tmp_path, capsys):
    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.random.rand(3, 2).astype(np.float32))
    out = tmp_path / "run"
    rc = run_main(spec_folder("gan_mlp_2d"), "--data", str(path), "--batch-size", "64", "--out", str(out))
    err = capsys.readouterr().err
    assert rc == 1 and "batch" in err and not (out / "losses.csv").exists()


def test_labels_outside_the_declared_classes(spec_folder, tmp_path, capsys):
    path = tmp_path / "labels.npz"
    np.savez(path, x=np.random.rand(40, 1, 28, 28).astype(np.float32), y=np.arange(40) % 12)
    err = _bad_data(spec_folder("cvae"), path, capsys)
    assert "label" in err and "10" in err


def test_missing_data_file(spec_folder, tmp_path, capsys):
    err = _bad_data(spec_folder("vae"), tmp_path / "nowhere.npz", capsys)
    assert "nowhere.npz" in err


def test_unreadable_data_file(spec_folder, tmp_path, capsys):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"this is not a zip file")
    err = _bad_data(spec_folder("vae"), path, capsys)
    assert "broken.npz" in err


def test_sample_every_spaces_the_sample_grids(tmp_path):
    """`sample_every = 2` in the train block: grids after epochs 2 and 4 and after the last one (5),
    none after the others; `--sample-every` overrides it."""
    text = (SPECS / "ae_mlp.gen").read_text().replace("train {", "train {\n    sample_every = 2", 1)
    folder = compile_to(tmp_path / "code", text=text)
    assert "sample_every=2," in (folder / "train.py").read_text()
    common = ["--dry-run", "--quiet", "--steps", "20", "--batch-size", "4"]  # 5 epochs of 4 steps
    done = run_python(str(folder / "train.py"), *common, "--out", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == [
        "epoch_001.png", "epoch_003.png", "epoch_004.png"]
    done = run_python(str(folder / "train.py"), *common, "--sample-every", "1", "--out", str(tmp_path / "b"))
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "b" / "samples").iterdir())) == 5
