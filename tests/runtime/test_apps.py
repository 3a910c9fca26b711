"""The generated apps.py: which models get one, what it encodes, and every command run on a tiny
autoencoder (8x8 `digits`, so no download and a few seconds of CPU)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gendsl.driver import compile_source
from gendsl.files import write_atomically
from gendsl.lower import lower
from gendsl.source import SourceFile

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]

TINY_AE = """
model tiny_ae
param code_size = 8
data x: image[1, 8, 8] in [0, 1] from "digits"
encoder enc(x) -> [code_size] {
    flatten -> linear(32) -> relu -> linear(code_size)
}
decoder dec(code: [code_size]) -> [1, 8, 8] {
    linear(32) -> relu -> linear(64) -> sigmoid -> reshape(1, 8, 8)
}
forward {
    code = enc(x)
    x_hat = dec(code)
}
loss = mse(x_hat, x)
train {
    optimizer = adam(lr=1e-2)
    batch_size = 32
    epochs = 1
}
"""
N = 400  # training samples
PCA_SIZES = [1, 2, 4, 8, 16, 32]


def _compile(text: str, name: str = "tiny.gen"):
    result = compile_source(SourceFile(name, text))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


def _spec(name: str):
    path = ROOT / "specs" / f"{name}.gen"
    return _compile(path.read_text(encoding="utf-8"), f"specs/{name}.gen")


# ---- which models get apps.py, and what it computes ----------------------------------------------

AUTOENCODERS = {"ae_contractive", "ae_conv", "ae_deep", "ae_denoising", "ae_ksparse", "ae_mlp", "ae_sparse_kl",
                "ae_sparse_l1", "beta_vae", "vae", "vae_conv", "vae_lightning"}


# GANs have no encoder; the conditional VAE's encoder reads the label it would be asked to predict
NO_APPS = {"cdcgan", "cvae", "dcgan", "dcgan_mnist", "gan_mlp_2d", "gan_subpixel", "wgan", "wgan_gp", "wgan_gp_2d"}


@pytest.mark.parametrize("name", sorted(AUTOENCODERS | NO_APPS))
def test_apps_py_only_for_unconditional_autoencoders(name):
    if not (ROOT / "specs" / f"{name}.gen").exists():
        pytest.skip(f"specs/{name}.gen is gone")
    assert ("apps.py" in _spec(name).files) == (name in AUTOENCODERS)


def _method(plan, name: str) -> list[str]:
    """The lines of one method of the model class, as the plan writes them."""
    return [line.code for line in next(m for m in plan.model.methods if m.name == name).body]


def test_vae_code_is_mu_and_decoding_reads_the_mean():
    plan = lower(_spec("vae").model)
    assert plan.apps.code == "mu" and plan.model.code_size == 20 and plan.apps.sampled == "z"
    assert _method(plan, "encode") == ["mu, logvar = self.enc(x)", "return mu"]
    decode = _method(plan, "decode")
    assert decode[0].startswith("z = mu")  # no reparameterize: the mean is decoded
    assert decode[1].startswith("x_hat = self.dec(z)")


def test_denoising_autoencoder_encodes_the_clean_input():
    plan = lower(_spec("ae_denoising").model)
    assert _method(plan, "encode")[0] == "code = self.enc(x)"
    assert not any("masking_noise" in line for line in _method(plan, "encode") + _method(plan, "decode"))
    assert "masking_noise" not in _spec("ae_denoising").files["apps.py"]


def test_corruption_chains_are_skipped():
    path = ROOT / "tests" / "cases" / "perceptual_denoise" / "spec.gen"
    plan = lower(_compile(path.read_text(encoding="utf-8")).model)
    assert _method(plan, "encode")[0] == "code = self.enc(x)"  # x -> x_sp -> x_noisy -> enc
    decode = _method(plan, "decode")
    assert any("self.dec(" in line for line in decode)
    assert not any("self.features(" in line for line in decode)  # not the perceptual feature network


def test_code_size_comes_from_the_spec():
    text = _compile(TINY_AE.replace("code_size = 8", "code_size = 3")).files["model.py"]
    assert "    code_size = 3  #" in text


def test_apps_py_is_standalone_and_runs_nothing_at_import():
    tree = ast.parse(_spec("vae_conv").files["apps.py"])
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"sys", "train", "gendsl_runtime"}  # the applications are runtime code
    for node in tree.body:  # only definitions at the top level, and the __main__ guard
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.If, ast.Expr)), node
        if isinstance(node, ast.If):
            assert ast.unparse(node.test) == "__name__ == '__main__'"
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant)  # the docstring


# ---- every command, on a tiny autoencoder ------------------------------------------------------

DRIVER = """
import sys
import apps, train
out = sys.argv[1]
assert train.main(["--steps", "60", "--n", "{n}", "--quiet", "--out", out + "/model"]) == 0
checkpoint = ["--checkpoint", out + "/model/checkpoints/last.pt"]
runs = [
    ["latent-classify", *checkpoint, "--n", "{n}", "--out", out + "/latent"],
    ["interpolate", *checkpoint, "--points", "5", "--pairs", "2", "--out", out + "/interpolate"],
    ["pca", *checkpoint, "--n", "{n}", "--sizes", "{sizes}", "--out", out + "/pca"],
    ["anomaly", "--holdout", "1", "--steps", "40", "--n", "{n}", "--out", out + "/anomaly"],
    ["classify-per-class", "--classes", "0,1,2", "--steps", "25", "--out", out + "/per-class"],
]
for argv in runs:
    assert apps.main([*argv, "--quiet"]) == 0, argv
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Compile the tiny spec, train it once, and run every command in one process."""
    folder = tmp_path_factory.mktemp("apps")
    code = folder / "tiny_ae"
    write_atomically(code, _compile(TINY_AE).files)  # and gendsl_runtime/ beside it
    script = DRIVER.format(n=N, sizes=",".join(map(str, PCA_SIZES)))
    done = subprocess.run([sys.executable, "-c", script, str(folder)], cwd=code, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder


def _json(runs: Path, folder: str, command: str) -> dict:
    return json.loads((runs / folder / f"{command}.json").read_text())


def test_latent_classify(runs):
    r = _json(runs, "latent", "latent-classify")
    assert r["code_size"] == 8 and r["train_samples"] == N and r["test_samples"] == 180
    for key in ("softmax_accuracy", "nearest_centroid_accuracy", "pixels_softmax_accuracy"):
        assert 0.0 <= r[key] <= 1.0
    assert r["softmax_accuracy"] > 0.3  # ten classes: chance is 0.1
    assert set(r["softmax_accuracy_per_class"]) == {str(k) for k in range(10)}


def test_interpolate_writes_a_grid(runs):
    r = _json(runs, "interpolate", "interpolate")
    png = runs / "interpolate" / "interpolation.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r["points"] == 5 and len(r["pairs"]) == 2
    assert all(p["label_a"] != p["label_b"] and p["max_step_mse"] > 0 for p in r["pairs"])
    from matplotlib.image import imread
    height, width = imread(png).shape[:2]
    assert (height, width) == (2 + 2 * 10, 2 + 7 * 10)  # 2 rows of (input, 5 points, input), 8 px + 2 padding


def test_pca_against_the_autoencoder(runs):
    r = _json(runs, "pca", "pca")
    assert r["code_size"] == 8 and r["pca_components"] == 8
    assert r["autoencoder_test_mse"] > 0 and r["pca_test_mse"] > 0
    assert r["pca_test_mse"] == r["pca_test_mse_by_size"]["8"]


def test_pca_mse_decreases_with_code_size(runs):
    r = _json(runs, "pca", "pca")
    test_mse = [r["pca_test_mse_by_size"][str(k)] for k in PCA_SIZES]
    train_mse = [r["pca_train_mse_by_size"][str(k)] for k in PCA_SIZES]
    assert all(a > b for a, b in zip(test_mse, test_mse[1:])), test_mse
    assert all(a > b for a, b in zip(train_mse, train_mse[1:])), train_mse

    # On the training set, the error of the top-k components is the variance they leave out:
    # the sum of the remaining eigenvalues of the covariance, over the number of pixels.
    from gendsl.runtime.data import load_data
    train_set, _ = load_data("digits", (1, 8, 8), (0.0, 1.0), seed=0, n=N)
    x = train_set.tensors[0].flatten(1).double().numpy()
    import numpy as np
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True)))[::-1]
    for k, mse in zip(PCA_SIZES, train_mse):
        assert mse == pytest.approx(eigenvalues[k:].sum() / x.shape[1], rel=1e-4), k


def test_anomaly_roc_auc(runs):
    r = _json(runs, "anomaly", "anomaly")
    assert r["holdout"] == 1 and r["trained_on"] == [0, 2, 3, 4, 5, 6, 7, 8, 9]
    assert 0.0 <= r["roc_auc"] <= 1.0 and r["anomalies"] > 0
    rows = (runs / "anomaly" / "anomaly_scores.csv").read_text().splitlines()[1:]
    flags = [int(row.split(",")[2]) for row in rows]
    scores = [float(row.split(",")[3]) for row in rows]
    assert sum(flags) == r["anomalies"] and len(rows) == r["test_samples"]
    from sklearn.metrics import roc_auc_score  # an independent computation of the same figure
    assert r["roc_auc"] == pytest.approx(roc_auc_score(flags, scores), abs=1e-6)
    metrics = json.loads((runs / "anomaly" / "metrics.json").read_text())
    assert metrics["steps"] == 40  # the model was trained here, without the held-out class


def test_classify_per_class(runs):
    r = _json(runs, "per-class", "classify-per-class")
    assert r["classes"] == [0, 1, 2]
    for k in (0, 1, 2):
        assert (runs / "per-class" / f"class_{k}" / "checkpoints" / "last.pt").exists()
    confusion = torch.tensor(r["confusion"])
    assert confusion.sum() == r["test_samples"] > 0
    assert r["accuracy"] == pytest.approx((confusion.diag().sum() / confusion.sum()).item(), abs=1e-5)
    per_class = (confusion.diag() / confusion.sum(1)).tolist()
    assert [r["accuracy_per_class"][str(k)] for k in (0, 1, 2)] == pytest.approx(per_class, abs=1e-5)
    assert 0.5 < r["accuracy"] <= 1.0  # three classes: chance is 1/3
