"""specs/pix2pix.gen is the pix2pix of bench/reference/pix2pix.py (written from PyTorch-GAN's
implementations/pix2pix): the same parameter counts and shapes, the same initial parameters under
one seed, the same outputs after copying weights, the same losses up to the stated factor."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import training
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import model_class

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
G_PARAMS = 16_649_217
D_PARAMS = 2_763_712


@pytest.fixture(scope="module")
def spec():
    path = ROOT / "specs" / "pix2pix.gen"
    result = compile_source(SourceFile("specs/pix2pix.gen", path.read_text(encoding="utf-8"), origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def generated():
    return training._load(ROOT / "generated" / "pix2pix" / "model.py", "pix2pix_fidelity_model")


@pytest.fixture(scope="module")
def reference():
    return training._load(ROOT / "bench" / "reference" / "pix2pix.py", "pix2pix_fidelity_reference")


def test_counts_and_shapes_from_the_compiler(spec, reference):
    g, d = spec.model.network("G"), spec.model.network("D")
    nets = reference.build_networks()
    assert g.param_count == G_PARAMS == sum(p.numel() for p in nets["G"].parameters())
    assert d.param_count == D_PARAMS == sum(p.numel() for p in nets["D"].parameters())
    assert g.outputs[0][1].shape == (1, 32, 32) and d.outputs[0][1].shape == (1, 2, 2)
    assert [x.name for x in spec.model.data] == ["a", "b"]
    assert spec.model.gan.kind == "least_squares"


def test_generated_files_are_the_goldens(spec):
    for name in ("model.py", "train.py"):
        assert spec.files[name] == (ROOT / "generated" / "pix2pix" / name).read_text(encoding="utf-8")


def test_same_initial_parameters_as_the_reference():
    result = training.same_initial_parameters("pix2pix")
    assert result["equal"], result["mismatch"]
    assert result["values"] == G_PARAMS + D_PARAMS


def _copy(source, target):
    a, b = list(source.state_dict().values()), target.state_dict()
    assert len(a) == len(b)
    target.load_state_dict(dict(zip(b, a)))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_same_outputs_after_copying_weights(generated, reference, mode):
    torch.manual_seed(3)
    ref = reference.build_networks()
    model = model_class(generated)()
    for name in ("G", "D"):
        _copy(ref[name], getattr(model, name))
        ref[name].train(mode == "train")
        getattr(model, name).train(mode == "train")
    a, b = torch.rand(4, 1, 32, 32) * 2 - 1, torch.rand(4, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(5)  # dropout draws the same masks in the same order in both
        fake_ref = ref["G"](a)
        torch.manual_seed(5)
        fake = model.G(a)
        assert fake.shape == (4, 1, 32, 32)
        torch.testing.assert_close(fake, fake_ref, rtol=0, atol=0)
        torch.testing.assert_close(model.D(b, a), ref["D"](b, a), rtol=0, atol=0)
        assert model.D(fake, a).shape == (4, 1, 2, 2)
        torch.testing.assert_close(model(a, b)["fake"].shape, fake.shape)


def test_same_losses_as_the_script(spec, tmp_path, reference):
    """`2 * gan(..., least_squares)` is the script's MSE on the generator's side, `100 * l1` its
    lambda_pixel: the generator's loss is the script's; the discriminator's, unweighted, too."""
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "pix2pix", spec=ROOT / "specs" / "pix2pix.gen")
    with imported(folder) as train:
        g = torch.Generator().manual_seed(0)
        real, fake = torch.randn(8, 1, 2, 2, generator=g), torch.randn(8, 1, 2, 2, generator=g)
        ours = train.discriminator_loss_real(real.view(-1)) + train.discriminator_loss_fake(fake.view(-1))
        torch.testing.assert_close(ours, reference.discriminator_loss(real, fake))
        model = train.RECIPE.model()
        a, b = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
        values = model(a, b)
        extra, _ = train.loss_terms(model, values, {})
        assert "loss_g = 2.0 * generator_loss(d_fake)" in (folder / "train.py").read_text()
        ours_g = 2.0 * train.generator_loss(fake.view(-1)) + extra
        torch.testing.assert_close(ours_g, reference.generator_loss(fake, values["fake"], b))
        optimizers = train.make_optimizers(model)
    for opt in optimizers.values():
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)


def test_train_py_reads_pairs_from_an_npz_file_given_with_data(tmp_path, capsys):
    """`--data pairs.npz` replaces the spec's `edges:mnist5k` for the whole sample: arrays `a`
    and `b`, named after the data declarations; a missing one stops the run with the arrays the
    file has, before training."""
    import numpy as np

    from train_support import compile_to, imported

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 32, 32)).astype(np.uint8)
    np.savez(tmp_path / "pairs.npz", a=a, b=255 - a)
    np.savez(tmp_path / "wrong.npz", a=a, target=255 - a)
    folder = compile_to(tmp_path / "code", spec=ROOT / "specs" / "pix2pix.gen")
    with imported(folder) as train:
        out = tmp_path / "run"
        assert train.main(["--data", str(tmp_path / "pairs.npz"), "--quiet", "--no-plots", "--steps", "2",
                           "--batch-size", "4", "--out", str(out)]) == 0
        assert train.main(["--data", str(tmp_path / "wrong.npz"), "--quiet", "--steps", "1",
                           "--out", str(tmp_path / "bad")]) == 1
    assert "has no array 'b' (it has ['a', 'target'])" in capsys.readouterr().err
    metrics = __import__("json").loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["test_l1"] > 0
    assert (out / "samples").is_dir()
