"""Issue 15, training: every bad command-line value, corrupt checkpoint, bad data file, divergence
and full disk gets one clear message from the generated train.py, never a traceback.

Command-line cases run the generated train.py as a subprocess on tiny data; the GAN NaN and
the full-disk cases patch one function in this process or in a subprocess. No sleeps, no
timing.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from train_support import SPECS, compile_to, imported, one_thread, run_python  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def ae(tmp_path_factory):
    """ae_mlp (784-32-784, data image[1, 28, 28] in [0, 1]) and a tiny valid data file."""
    root = tmp_path_factory.mktemp("robust")
    folder = compile_to(root, SPECS / "ae_mlp.gen")
    pixels = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    np.savez(root / "tiny.npz", x=pixels)
    return folder


def train(folder: Path, *args: str) -> tuple[int, str, str]:
    r = run_python(str(folder / "train.py"), "--quiet", *args, cwd=folder, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


def tiny(folder: Path, out: Path, *args: str) -> tuple[int, str, str]:
    return train(folder, "--data", str(folder.parent / "tiny.npz"), "--batch-size", "4",
                 "--out", str(out), *args)


# ---------------------------------------------------------------------------
# Command-line values: argparse usage errors (exit status 2), never a silent replacement
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["--batch-size", "-1"], "--batch-size: must be at least 1, got -1"),
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--checkpoint-every", "0"], "--checkpoint-every: must be at least 1, got 0"),
    (["--steps", "0", "--epochs", "2"], "--steps: must be at least 1, got 0"),
    (["--epochs", "0"], "--epochs: must be at least 1, got 0"),
    (["--n", "0"], "--n: must be at least 1, got 0"),
    (["--seed", "-3"], "--seed: must be at least 0, got -3"),
    (["--lr", "-1"], "--lr: must be a finite number >= 0, got -1"),
    (["--lr", "nan"], "--lr: must be a finite number >= 0, got nan"),
    (["--classes", "abc"], "--classes: expected class labels separated by commas"),
    (["--classes", "-1"], "--classes: class labels are >= 0"),
    (["--batch-size", "x"], "--batch-size: expected an integer, got 'x'"),
    (["--sample-every", "0"], "--sample-every: must be at least 1, got 0"),
])
def test_bad_option_values_are_usage_errors(ae, tmp_path, args, says):
    rc, _, err = tiny(ae, tmp_path / "run", *args)
    assert rc == 2, err
    assert "usage: " in err and says in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch build has CUDA")
def test_device_cuda_on_a_cpu_build_is_a_usage_error(ae, tmp_path):
    rc, _, err = tiny(ae, tmp_path / "run", "--device", "cuda")
    assert rc == 2 and "--device: cuda is not available in this torch build" in err, err


def test_lr_0_is_honoured_not_replaced_by_the_specs_rate(ae, tmp_path):
    rc, _, err = tiny(ae, tmp_path / "run", "--lr", "0", "--steps", "2")
    assert rc == 0, err
    with imported(ae) as module:
        optimizers = module.make_optimizers(module.RECIPE.model(), lr=0.0)
        assert [g["lr"] for o in optimizers.values() for g in o.param_groups] == [0.0]
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert [g["lr"] for g in state["optimizers"]["optimizer"]["param_groups"]] == [0.0]


def test_steps_stops_at_steps(ae, tmp_path):
    rc, _, err = tiny(ae, tmp_path / "run", "--steps", "1", "--epochs", "2")
    assert rc == 0, err
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == 1


def test_a_stop_requested_before_an_epoch_ends_the_loop_at_the_epoch_start(
        ae, tmp_path, monkeypatch):
    """The stop flag is read at the start of every epoch, so that no loop runs on without a
    step: a SIGTERM that arrives during an epoch's evaluation stops before the next epoch."""
    import signal
    with imported(ae) as module:
        runtime = __import__("gendsl_runtime.loop", fromlist=["evaluate"])
        real = runtime.evaluate

        def evaluate_then_sigterm(*a, **k):
            os.kill(os.getpid(), signal.SIGTERM)  # handled by train.py's handler: sets the flag
            return real(*a, **k)

        monkeypatch.setattr(runtime, "evaluate", evaluate_then_sigterm)
        rc = module.main(["--quiet", "--data", str(ae.parent / "tiny.npz"), "--batch-size", "4",
                          "--epochs", "5", "--out", str(tmp_path / "run")])
    assert rc == 130
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 2)  # one epoch of 10 // 4 = 2 steps, no more


def test_a_stop_requested_while_the_data_loads_ends_the_run_before_step_1(
        ae, tmp_path, monkeypatch, capsys):
    """The flag is set from the start of main(): a signal during the work before step 1 (data, the
    digit classifier) stops the run there, with one line and exit 130, not a KeyboardInterrupt."""
    import signal
    with imported(ae) as module:
        runtime = __import__("gendsl_runtime.loop", fromlist=["load_sets"])
        real = runtime.load_sets

        def load_then_sigint(*a, **k):
            os.kill(os.getpid(), signal.SIGINT)
            return real(*a, **k)

        monkeypatch.setattr(runtime, "load_sets", load_then_sigint)
        rc = module.main(["--quiet", "--data", str(ae.parent / "tiny.npz"), "--batch-size", "4",
                          "--out", str(tmp_path / "run")])
    assert rc == 130
    assert "stopped by SIGINT before the first step" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_a_second_signal_stops_at_once_and_leaves_the_last_checkpoint_whole(
        ae, tmp_path, monkeypatch, capsys):
    import signal
    with imported(ae) as module:
        runtime = __import__("gendsl_runtime.loop", fromlist=["evaluate"])
        real = runtime.evaluate

        def evaluate_then_two_signals(*a, **k):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # the second: raised at once, inside evaluation
            return real(*a, **k)

        monkeypatch.setattr(runtime, "evaluate", evaluate_then_two_signals)
        rc = module.main(["--quiet", "--data", str(ae.parent / "tiny.npz"), "--batch-size", "4",
                          "--epochs", "5", "--checkpoint-every", "1", "--out", str(tmp_path / "run")])
    assert rc == 130
    assert "stopped at once by a second signal" in capsys.readouterr().err
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 2  # written after step 2, before the epoch's evaluation


def test_the_digit_classifier_training_reads_the_stop_flag_every_epoch():
    from gendsl.runtime.digit_quality import ClassifierSettings, Stopped, train_classifier
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 2
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(Stopped):
        train_classifier(x, y, 8, 2, ClassifierSettings(epochs=50, batch_size=8, width=4, features=4),
                         should_stop)
    assert len(asked) == 3  # once per epoch: two epochs ran, the third did not


# ---------------------------------------------------------------------------
# Corrupt checkpoints
# ---------------------------------------------------------------------------

def _good_run(ae, out):
    rc, _, err = tiny(ae, out, "--steps", "2")
    assert rc == 0, err
    return out / "checkpoints" / "last.pt"


def _truncate(p):
    p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2])


def _no_hash(p):
    state = torch.load(p, weights_only=True)
    del state["spec_sha256"]
    torch.save(state, p)


def _tamper_shape(p):
    state = torch.load(p, weights_only=True)
    key = next(iter(state["model"]))
    state["model"][key] = torch.zeros(3, 3)
    torch.save(state, p)


def _directory(p):
    p.unlink()
    p.mkdir()


@pytest.mark.parametrize("damage, says", [
    (_truncate, "cannot be read: it is truncated or not a torch checkpoint"),
    (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    (lambda p: p.write_bytes(os.urandom(4096)), "cannot be read: it is truncated or not"),
    (_directory, "is a directory, not a file"),
    (_no_hash, "has no spec hash (`spec_sha256`)"),
    (_tamper_shape, "does not fit this model: size mismatch for"),
    (lambda p: torch.save({"spec_sha256": "0" * 64}, p), "is damaged: `step` is missing"),
], ids=["truncated", "empty", "random", "directory", "no-hash", "shape", "no-step"])
def test_resume_from_a_corrupt_checkpoint_is_one_clear_error(ae, tmp_path, damage, says):
    checkpoint = _good_run(ae, tmp_path / "run")
    damage(checkpoint)
    rc, _, err = tiny(ae, tmp_path / "run", "--steps", "4", "--resume")
    assert rc == 1, err
    assert err.count("error: ") == 1 and str(checkpoint) in err and says in err, err
    assert "weights_only" not in err


# ---------------------------------------------------------------------------
# Bad data: refused before step 1, naming the file, the array and the first bad index
# ---------------------------------------------------------------------------

def _images(rng=None):
    return np.random.default_rng(1).random((12, 28, 28)).astype(np.float32)


def _with(index, value, dtype=np.float32):
    x = _images().astype(dtype)
    x[index] = value
    return x


@pytest.mark.parametrize("arrays, says", [
    (dict(x=_with((3, 5, 7), np.nan)), "array `x` holds nan at index (3, 5, 7)"),
    (dict(x=_with((2, 0, 1), np.inf)), "array `x` holds inf at index (2, 0, 1)"),
    (dict(x=_images() * 2), "outside 0..1, and no known range"),
    (dict(x=_with((4, 1, 2), 1e30)), "array `x` holds 1e+30 at index (4, 1, 2)"),
    (dict(x=np.array([["a"] * 4] * 12)), "array `x` has dtype <U1 (strings)"),
    (dict(x=_images().astype(np.complex64)), "array `x` has dtype complex64 (complex numbers)"),
    (dict(x=_images(), y=np.linspace(0, 1, 12)), "array `y` holds 0.0909"),
    (dict(x=_images(), y=np.array(["a"] * 12)), "array `y` has dtype <U1 (strings)"),
    (dict(x=_images(), range=np.array([0.0, 0.5])), "outside its stored `range` 0..0.5"),
    (dict(x=_with((0, 0, 0), 300.0)), "array `x` holds 300 at index (0, 0, 0)"),
], ids=["nan", "inf", "0..2", "outlier", "strings", "complex", "float-labels", "string-labels",
        "stored-range", "above-255"])
def test_bad_data_is_refused_before_step_1(ae, tmp_path, arrays, says):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    rc, _, err = train(ae, "--data", str(path), "--batch-size", "4", "--steps", "2",
                       "--out", str(tmp_path / "run"))
    assert rc == 1, err
    assert err.startswith(f"error: file '{path}'") and says in err, err
    assert not (tmp_path / "run" / "losses.csv").exists()


@pytest.mark.parametrize("x, line", [
    (np.arange(12 * 784).reshape(12, 28, 28) % 256, "values 0..255 -> [0, 1]"),
    ((np.arange(12 * 784).reshape(12, 28, 28) % 256).astype(np.float64),
     "values 0..255 -> [0, 1]"),
    (np.linspace(-1, 1, 12 * 784).reshape(12, 28, 28), "values -1..1 -> [0, 1]"),
    (np.linspace(0, 1, 12 * 784).reshape(12, 28, 28), "values 0..1 -> [0, 1]"),
])
def test_the_range_inference_is_reported_in_one_line(ae, tmp_path, x, line):
    path = tmp_path / "ok.npz"
    np.savez(path, x=x)
    r = run_python(str(ae / "train.py"), "--data", str(path), "--batch-size", "4", "--steps",
                   "1", "--out", str(tmp_path / "run"), "--no-plots", cwd=ae)
    assert r.returncode == 0, r.stderr
    assert f"data file '{path}': 11 training + 1 test samples, {line}" in r.stdout, r.stdout


# ---------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------

def test_nan_in_a_sigmoid_gan_says_loss_term_is_nan(tmp_path, capsys):
    """A NaN weight makes the sigmoid discriminator output NaN, and binary_cross_entropy raises
    'all elements of input should be between 0 and 1': the run names the NaN instead, and no
    checkpoint (none has been written yet)."""
    folder = compile_to(tmp_path, SPECS / "gan_mlp_2d.gen")
    with imported(folder) as module:
        real = module.train_step
        calls = []

        def poisoning(model, *args, **kwargs):
            row = real(model, *args, **kwargs)
            calls.append(1)
            if len(calls) == 1:
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))
            return row

        recipe = dataclasses.replace(module.RECIPE, train_step=poisoning)
        rc = module.run(recipe, ["--quiet", "--data", "ring8", "--n", "64", "--batch-size", "8",
                                 "--steps", "5", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "loss term is nan at step 2" in err and "is not finite" in err, err
    assert "at step 2" in err and "between 0 and 1" not in err.split("(")[0], err
    assert "no checkpoint has been written yet" in err and "last.pt" not in err, err


def test_a_one_image_folder_trains_through_its_first_epoch(ae, tmp_path):
    from PIL import Image
    images = tmp_path / "one"
    images.mkdir()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(images / "a.png")
    rc, _, err = train(ae, "--data", str(images), "--batch-size", "1", "--epochs", "2",
                       "--out", str(tmp_path / "run"))
    assert rc == 0, err
    assert (tmp_path / "run" / "metrics.json").exists()


# ---------------------------------------------------------------------------
# Disk full
# ---------------------------------------------------------------------------

FULL_DISK = """
import errno, sys, torch
sys.path.insert(0, {folder!r})
import train
from gendsl_runtime import outputs
real, calls = torch.save, []
def save(obj, f, *a, **k):
    calls.append(1)
    if len(calls) > {good}:
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(obj, f, *a, **k)
outputs.torch.save = save
sys.exit(train.main({argv!r}))
"""


def test_a_full_disk_keeps_the_last_checkpoint_and_resume_works(ae, tmp_path):
    out = tmp_path / "run"
    argv = ["--quiet", "--data", str(ae.parent / "tiny.npz"), "--batch-size", "4", "--steps",
            "6", "--checkpoint-every", "1", "--out", str(out)]
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK.format(folder=str(ae), good=2, argv=argv))
    r = run_python(str(script), cwd=ae)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("error: ") == 1, r.stderr
    checkpoint = out / "checkpoints" / "last.pt"
    assert f"cannot write {checkpoint}: No space left on device" in r.stderr, r.stderr
    assert f"the last good checkpoint is {checkpoint} (step 2)" in r.stderr, r.stderr
    assert torch.load(checkpoint, weights_only=True)["step"] == 2  # intact
    assert not [p for p in checkpoint.parent.iterdir() if p.name != "last.pt"]  # no temp file
    rc, _, err = tiny(ae, out, "--steps", "6", "--resume")
    assert rc == 0, err
    assert torch.load(checkpoint, weights_only=True)["step"] == 6


def test_disk_full_before_any_checkpoint_names_none(ae, tmp_path):
    argv = ["--quiet", "--data", str(ae.parent / "tiny.npz"), "--batch-size", "4", "--steps",
            "3", "--out", str(tmp_path / "run")]
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK.format(folder=str(ae), good=0, argv=argv))
    r = run_python(str(script), cwd=ae)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "No space left on device" in r.stderr and "no checkpoint has been written yet" in \
        r.stderr, r.stderr
    assert errno.ENOSPC and not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


# ---------------------------------------------------------------------------
# apps.py's command line
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["pca", "--n", "0"], "argument --n: must be at least 1, got 0"),
    (["pca", "--n-test", "-1"], "argument --n-test: must be at least 1"),
    (["pca", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
    (["pca", "--lr", "nan"], "argument --lr: must be a finite number >= 0"),
    (["pca", "--sizes", "2,x"], "argument --sizes: expected whole numbers"),
    (["pca", "--sizes", "0,8"], "argument --sizes: expected numbers >= 1"),
    (["classify-per-class", "--classes", "abc"], "argument --classes: expected class labels"),
    (["anomaly", "--holdout", "-1"], "argument --holdout: must be at least 0"),
    (["interpolate", "--points", "1"], "argument --points: must be at least 2"),
    (["interpolate", "--between", "0", "x"], "argument --between: expected an integer"),
])
def test_apps_options_out_of_range_are_usage_errors(argv, message, capsys):
    from gendsl.runtime import apps, loop
    recipe = loop.Recipe(name="m", spec="m.gen", sha256="0" * 64, model=None, optimizers=None,
                         train_step=None, validate=None, columns=(), data_shape=(1, 8, 8),
                         data_range=(0.0, 1.0), num_classes=10, default_data="digits", epochs=1,
                         batch_size=4, seed=0)
    with pytest.raises(SystemExit) as stop:
        apps.parse_args(recipe, argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_apps_device_not_in_this_torch_build_is_a_usage_error(capsys, monkeypatch):
    from gendsl.runtime import apps, loop
    monkeypatch.setattr(loop, "device_available", lambda name: name in ("auto", "cpu"))
    recipe = loop.Recipe(name="m", spec="m.gen", sha256="0" * 64, model=None, optimizers=None,
                         train_step=None, validate=None, columns=(), data_shape=(1, 8, 8),
                         data_range=(0.0, 1.0), num_classes=10, default_data="digits", epochs=1,
                         batch_size=4, seed=0)
    with pytest.raises(SystemExit) as stop:
        apps.parse_args(recipe, ["pca", "--device", "cuda"])
    assert stop.value.code == 2
    assert "cuda is not available in this torch build" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--quality-every", "-1"], "argument --quality-every: must be at least 0, got -1"),
    (["--quality-samples", "0"], "argument --quality-samples: must be at least 1, got 0"),
])
def test_digit_quality_options_out_of_range_are_usage_errors(argv, message, capsys):
    """The options a model that generates images gets (issue 16), with ranges like the others."""
    from gendsl.runtime import loop
    recipe = loop.Recipe(name="m", spec="m.gen", sha256="0" * 64, model=None, optimizers=None,
                         train_step=None, validate=None, columns=(), data_shape=(1, 8, 8),
                         data_range=(0.0, 1.0), num_classes=None, default_data="digits", epochs=1,
                         batch_size=4, seed=0, generative=True)
    assert loop.parse_args(recipe, ["--quality-every", "0"]).quality_every == 0
    with pytest.raises(SystemExit) as stop:
        loop.parse_args(recipe, argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
