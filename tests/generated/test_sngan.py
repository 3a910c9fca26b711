"""specs/sngan.gen is the SNGAN of bench/reference/sngan.py (written from
christiancosgrove/pytorch-spectral-normalization-gan): the same parameter counts and shapes, the
same initial parameters under one seed, the same outputs after copying weights (spectral
normalisation's power iteration included), the same hinge loss and optimizer settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import training
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import model_class

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
G_PARAMS = 3_805_699
D_PARAMS = 2_935_873


@pytest.fixture(scope="module")
def spec():
    path = ROOT / "specs" / "sngan.gen"
    result = compile_source(SourceFile("specs/sngan.gen", path.read_text(encoding="utf-8"), origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def generated():
    return training._load(ROOT / "generated" / "sngan" / "model.py", "sngan_fidelity_model")


@pytest.fixture(scope="module")
def reference():
    return training._load(ROOT / "bench" / "reference" / "sngan.py", "sngan_fidelity_reference")


def test_counts_and_shapes_from_the_compiler(spec, reference):
    g, d = spec.model.network("G"), spec.model.network("D")
    nets = reference.build_networks()
    assert g.param_count == G_PARAMS == sum(p.numel() for p in nets["G"].parameters())
    assert d.param_count == D_PARAMS == sum(p.numel() for p in nets["D"].parameters())
    assert g.outputs[0][1].shape == (3, 32, 32) and d.outputs[0][1].shape == (1,)
    assert spec.model.train.spectral_norm == {"D"}
    assert spec.model.gan.kind == "hinge" and spec.model.train.d_steps == 5


def test_generated_files_are_the_goldens(spec):
    for name in ("model.py", "train.py"):
        assert spec.files[name] == (ROOT / "generated" / "sngan" / name).read_text(encoding="utf-8")


def test_same_initial_parameters_as_the_reference():
    result = training.same_initial_parameters("sngan")
    assert result["equal"], result["mismatch"]
    assert result["values"] > G_PARAMS + D_PARAMS  # spectral norm's u and v vectors and batchnorm statistics too


def _copy(source, target):
    """Every parameter and buffer of `source` into `target`, by creation order (names differ)."""
    a, b = list(source.state_dict().values()), target.state_dict()
    assert len(a) == len(b)
    target.load_state_dict(dict(zip(b, a)))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_same_outputs_after_copying_weights(generated, reference, mode):
    torch.manual_seed(3)
    ref = reference.build_networks()
    model = model_class(generated)()
    mine = {"G": model.G, "D": model.D}
    for name in ("G", "D"):
        _copy(ref[name], mine[name])
        ref[name].train(mode == "train")
        mine[name].train(mode == "train")
    z = torch.randn(4, 128)
    with torch.no_grad():
        fake_ref, fake = ref["G"](z), mine["G"](z)
        assert fake.shape == (4, 3, 32, 32)
        torch.testing.assert_close(fake, fake_ref, rtol=0, atol=0)
        for _ in range(2):  # in training, each pass moves spectral norm's power iteration on, in both
            torch.testing.assert_close(mine["D"](fake), ref["D"](fake_ref), rtol=0, atol=0)
    assert mine["D"](fake).shape == (4, 1)


def test_same_hinge_loss_and_optimizers(spec, tmp_path, reference):
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "sngan", spec=ROOT / "specs" / "sngan.gen")
    with imported(folder) as train:
        g = torch.Generator().manual_seed(0)
        real, fake = torch.randn(64, generator=g) * 2, torch.randn(64, generator=g) * 2
        ours = train.discriminator_loss_real(real) + train.discriminator_loss_fake(fake)
        torch.testing.assert_close(ours, reference.discriminator_loss(real, fake))
        torch.testing.assert_close(train.generator_loss(fake), reference.generator_loss(fake))
        assert train.D_STEPS == reference.DISC_ITERS
        optimizers = train.make_optimizers(train.RECIPE.model())
    for opt in optimizers.values():
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.0, 0.9)
