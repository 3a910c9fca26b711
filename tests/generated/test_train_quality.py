"""What train.py measures beside the losses: digit-quality figures, collapse and dominance
warnings, and the modes of the files it writes.

Runs call train.main() in this process with tiny settings: a digit classifier trained for a few
steps (cached under the test's --root), a few hundred samples scored, a few training steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from train_support import SPECS, compile_to, imported, read_rows

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def spec_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    done = {}

    def get(name: str) -> Path:
        if name not in done:
            done[name] = compile_to(root, SPECS / f"{name}.gen")
        return done[name]
    return get


@pytest.fixture
def tiny_classifier(monkeypatch):
    """The runtime's loop module with a digit classifier trained for 30 steps."""
    def patch(train):
        loop = sys.modules[type(train.RECIPE).__module__]
        settings = sys.modules[loop.__name__.replace(".loop", ".digit_quality")].ClassifierSettings
        monkeypatch.setattr(loop, "QUALITY_CLASSIFIER", settings(steps=30))
        return loop
    return patch


def quality_run(folder: Path, patch, out: Path, *extra: str) -> dict:
    with imported(folder) as train:
        patch(train)
        rc = train.main(["--quiet", "--no-plots", "--data", "digits", "--root", str(out.parent / "data"),
                         "--batch-size", "16", "--quality-samples", "120", "--out", str(out), *extra])
    assert rc == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("spec", ["dcgan_mnist", "cdcgan"])
def test_image_gan_run_writes_digit_quality_to_metrics_and_validation_rows(spec, spec_folder, tiny_classifier,
                                                                           tmp_path, capsys):
    out = tmp_path / "run"
    # 1797 digits, 90 % for training, batch 16: 101 steps per epoch; --steps 3 ends inside epoch 0
    metrics = quality_run(spec_folder(spec), tiny_classifier, out, "--steps", "3")
    conditional = spec == "cdcgan"
    for key in ("recognisable_pct", "classes_covered", "class_kl", "classifier_fd", "real_recognisable_pct",
                "real_classes_covered", "real_classifier_fd", "real_class_accuracy_pct"):
        assert key in metrics, key
    assert metrics["quality_samples"] == 120
    assert 0.0 <= metrics["recognisable_pct"] <= 100.0
    assert metrics["class_kl"] is None or metrics["class_kl"] >= 0.0  # inf is written as null
    assert ("class_accuracy_pct" in metrics) == conditional
    assert metrics["quality_classifier"]["data"] == "digits"
    assert [r["step"] for r in metrics["quality_history"]] == [3]
    assert metrics["warnings"] == [] or all(w["kind"] in ("collapse", "dominance") for w in metrics["warnings"])
    for key in ("classifier_kid", "classifier_precision", "classifier_recall", "real_classifier_kid"):
        assert key in metrics, key
    rows = read_rows(out / "losses.csv")
    columns = ["recognisable_pct", "classes_covered", "class_kl", "classifier_fd"]
    columns += ["class_accuracy_pct"] if conditional else []
    columns += ["classifier_kid", "classifier_precision", "classifier_recall", "fid", "kid", "precision", "recall"]
    assert list(rows[0])[-len(columns):] == columns
    assert ("class_accuracy_pct" in rows[0]) == conditional
    val = [r for r in rows if r["split"] == "val"]
    assert len(val) == 1 and float(val[0]["recognisable_pct"]) == pytest.approx(metrics["recognisable_pct"])
    assert float(val[0]["classifier_kid"]) == pytest.approx(metrics["classifier_kid"])
    assert all(val[0][c] == "" for c in ("fid", "kid", "precision", "recall"))  # no --fid-every: no Inception
    assert all(r[c] == "" for r in rows if r["split"] == "train" for c in columns)
    # the classifier is trained once and cached under --root
    assert (tmp_path / "data" / "digits-classifier.pt").exists()
    assert "training the digit classifier of 'digits' once" in capsys.readouterr().out


def test_quality_measurement_leaves_training_unchanged(spec_folder, tiny_classifier, tmp_path):
    folder = spec_folder("dcgan_mnist")
    common = ["--steps", "4", "--batch-size", "16"]
    quality_run(folder, tiny_classifier, tmp_path / "a", *common)
    quality_run(folder, tiny_classifier, tmp_path / "b", *common, "--no-quality")
    a, b = (read_rows(tmp_path / n / "losses.csv") for n in "ab")
    assert [r["loss_d"] for r in a] == [r["loss_d"] for r in b]
    assert "recognisable_pct" not in json.loads((tmp_path / "b" / "metrics.json").read_text())


def test_quality_every_n_epochs_and_at_the_end(spec_folder, tiny_classifier, tmp_path):
    # 60 images, 90 % for training at batch 16: 3 steps per epoch; 3 epochs, measured every 2
    metrics = quality_run(spec_folder("dcgan_mnist"), tiny_classifier, tmp_path / "run", "--n", "54",
                          "--epochs", "3", "--quality-every", "2")
    assert [(r["epoch"], r["step"]) for r in metrics["quality_history"]] == [(1, 6), (2, 9)]
    val = [r for r in read_rows(tmp_path / "run" / "losses.csv") if r["split"] == "val"]
    assert [r["recognisable_pct"] != "" for r in val] == [False, True, True]


def test_data_without_a_classifier_is_a_note_and_the_run_goes_on(spec_folder, tiny_classifier, tmp_path, capsys):
    data = tmp_path / "one_class.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((64, 1, 28, 28), dtype=np.float32), y=np.zeros(64, dtype=np.int64))
    out = tmp_path / "run"
    with imported(spec_folder("dcgan_mnist")) as train:
        tiny_classifier(train)
        rc = train.main(["--quiet", "--no-plots", "--data", str(data), "--root", str(tmp_path / "data"),
                         "--batch-size", "16", "--steps", "2", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.count("note: no digit quality figures: ") == 1 and "fewer than two classes" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert "recognisable_pct" not in metrics and metrics["steps"] == 2


def test_quality_options_only_where_a_model_makes_images(spec_folder):
    with imported(spec_folder("gan_ring8")) as train:
        with pytest.raises(SystemExit):
            train.main(["--quality-every", "2", "--dry-run"])
    with imported(spec_folder("vae_conv")) as train:
        loop = sys.modules[type(train.RECIPE).__module__]
        args = loop.parse_args(train.RECIPE, ["--quality-every", "3", "--no-quality"])
        assert args.quality_every == 3 and args.no_quality


# ---------------------------------------------------------------------------
# Inception FID, KID, precision/recall
# ---------------------------------------------------------------------------

def tiny_image_set(path: Path, n: int = 40) -> Path:
    """n 28x28 grey images of two classes (blobs and stripes): 4 of them held out."""
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 28, 28), dtype=np.float32) * 0.2
    x[::2, :, 8:20, 8:20] += 0.8
    x[1::2, :, ::4, :] += 0.8
    np.savez(path, x=x.clip(0, 1), y=np.arange(n) % 2)
    return path


def test_inception_weights_missing_is_one_note_and_the_run_goes_on(spec_folder, tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch_fidelity")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise OSError("<urlopen error [Errno -2] Name or service not known>")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    out = tmp_path / "run"
    data = tiny_image_set(tmp_path / "tiny.npz")
    with imported(spec_folder("dcgan_mnist")) as train:
        rc = train.main(["--quiet", "--no-plots", "--no-quality", "--data", str(data), "--batch-size", "12",
                         "--epochs", "3", "--fid-every", "1", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.count("note: no Inception FID/KID/precision-recall: ") == 1 and len(calls) == 1
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert f"place it at '{folder / 'weights-inception-2015-12-05-6726825d.pth'}'" in printed
    assert "--fid-weights PATH" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 9 and "fid" not in metrics and "fid_history" not in metrics
    assert all(r["fid"] == "" for r in read_rows(out / "losses.csv"))


def test_inception_figures_every_n_epochs_with_fid_weights(spec_folder, tmp_path):
    pytest.importorskip("torch_fidelity")
    from runtime.test_image_metrics import random_inception_weights
    weights = random_inception_weights(tmp_path / "inception.pth")
    out = tmp_path / "run"
    data = tiny_image_set(tmp_path / "tiny.npz")
    with imported(spec_folder("dcgan_mnist")) as train:
        # 36 training images at batch 12: 3 steps per epoch; measured after epochs 2 and 3 (the last)
        rc = train.main(["--quiet", "--no-plots", "--no-quality", "--data", str(data), "--batch-size", "12",
                         "--epochs", "3", "--fid-every", "2", "--fid-samples", "6", "--fid-weights", str(weights),
                         "--out", str(out)])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("fid", "kid", "kid_std", "precision", "recall", "real_fid", "real_kid", "real_precision",
                "real_recall"):
        assert isinstance(metrics[key], float), key
    assert metrics["fid_samples"] == 6
    assert [(r["epoch"], r["step"]) for r in metrics["fid_history"]] == [(1, 6), (2, 9)]
    val = [r for r in read_rows(out / "losses.csv") if r["split"] == "val"]
    assert [r["fid"] != "" for r in val] == [False, True, True]
    assert float(val[-1]["kid"]) == pytest.approx(metrics["kid"])
    assert 0.0 <= metrics["precision"] <= 1.0 and 0.0 <= metrics["recall"] <= 1.0


# ---------------------------------------------------------------------------
# Collapse and dominance
# ---------------------------------------------------------------------------

def test_constant_generator_and_winning_discriminator_are_warned_once_with_the_step(
        spec_folder, tmp_path, capsys):
    out = tmp_path / "run"
    with imported(spec_folder("dcgan_mnist")) as train:
        base = train.RECIPE.model

        class Collapsed(base):
            def generate(self, *latents):  # every sample the same image
                return torch.zeros(len(latents[0]), *train.RECIPE.data_shape) + 0.0 * super().generate(*latents)

        loop = sys.modules[type(train.RECIPE).__module__]
        # a floor over any BCE loss: the discriminator "wins" every epoch
        recipe = dataclasses.replace(train.RECIPE, model=Collapsed, dominated_below=100.0)
        # dry-run data: 4 batches of 4, so 4 steps per epoch; 3 epochs
        rc = loop.main(recipe, ["--quiet", "--dry-run", "--batch-size", "4", "--steps", "12", "--out", str(out)])
    assert rc == 0
    err = capsys.readouterr().err
    warnings = json.loads((out / "metrics.json").read_text())["warnings"]
    assert [(w["kind"], w["step"], w["epoch"]) for w in warnings] == [("dominance", 4, 0), ("collapse", 4, 0)]
    assert warnings[1]["ratio"] == 0.0
    lines = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert lines == [f"warning: step 4: {w['message']}" for w in warnings]  # once each, not every epoch
    assert "discriminator's loss stayed under 100.0 for all of epoch 0" in lines[0]
    assert "samples have collapsed" in lines[1]


def test_a_healthy_short_run_has_no_warnings(tmp_path):
    """dcgan_mnist at PyTorch's initialisation, whose generator's samples spread from the start (under
    the spec's `init = dcgan` the first samples are nearly one image, so a run shorter than about an
    epoch is warned, as docs/training.md says)."""
    variant = tmp_path / "spread.gen"
    variant.write_text(f'model dcgan_mnist extends "{SPECS / "dcgan_mnist.gen"}"\n'
                       "train {\n    override init = default\n    override optimizer = adam(lr=1e-4)\n}\n")
    with imported(compile_to(tmp_path / "code", variant)) as train:
        assert train.RECIPE.dominated_below == 0.1
        assert train.main(["--quiet", "--dry-run", "--batch-size", "4", "--steps", "8", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["warnings"] == []


def test_wasserstein_critics_have_no_dominance_floor(spec_folder):
    with imported(spec_folder("wgan")) as train:
        assert train.RECIPE.dominated_below is None


# ---------------------------------------------------------------------------
# File modes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_the_run_writes_follow_the_umask(umask, spec_folder, tmp_path):
    previous = os.umask(umask)
    try:
        with imported(spec_folder("vae")) as train:
            assert train.main(["--quiet", "--dry-run", "--batch-size", "4", "--steps", "3",
                               "--out", str(tmp_path)]) == 0
    finally:
        os.umask(previous)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"metrics.json", "last.pt", "losses.csv"} <= names
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
