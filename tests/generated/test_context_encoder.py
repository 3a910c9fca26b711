"""specs/context_encoder.gen is the context encoder of bench/reference/context_encoder.py (written
from PyTorch-GAN's implementations/context_encoder): the same parameter counts and shapes, the
same initial parameters under one seed, the same outputs after copying weights, the same losses
up to the stated factor, and the same blocks cut out by the data source."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import training
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import model_class

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
G_PARAMS = 9_038_497
D_PARAMS = 1_554_433


@pytest.fixture(scope="module")
def spec():
    path = ROOT / "specs" / "context_encoder.gen"
    result = compile_source(SourceFile("specs/context_encoder.gen", path.read_text(encoding="utf-8"),
                                       origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def generated():
    return training._load(ROOT / "generated" / "context_encoder" / "model.py", "ce_fidelity_model")


@pytest.fixture(scope="module")
def reference():
    return training._load(ROOT / "bench" / "reference" / "context_encoder.py", "ce_fidelity_reference")


def test_counts_and_shapes_from_the_compiler(spec, reference):
    g, d = spec.model.network("G"), spec.model.network("D")
    nets = reference.build_networks()
    assert g.param_count == G_PARAMS == sum(p.numel() for p in nets["G"].parameters())
    assert d.param_count == D_PARAMS == sum(p.numel() for p in nets["D"].parameters())
    assert g.outputs[0][1].shape == (1, 16, 16) and d.outputs[0][1].shape == (1, 2, 2)
    assert [x.name for x in spec.model.data] == ["masked", "part"]


def test_generated_files_are_the_goldens(spec):
    for name in ("model.py", "train.py"):
        assert spec.files[name] == (ROOT / "generated" / "context_encoder" / name).read_text(encoding="utf-8")


def test_same_initial_parameters_as_the_reference():
    result = training.same_initial_parameters("context_encoder")
    assert result["equal"], result["mismatch"]
    assert result["values"] > G_PARAMS + D_PARAMS  # batchnorm's running statistics too


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
    masked = torch.rand(4, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        fake_ref, fake = ref["G"](masked), model.G(masked)
        assert fake.shape == (4, 1, 16, 16)
        torch.testing.assert_close(fake, fake_ref, rtol=0, atol=0)
        torch.testing.assert_close(model.D(fake), ref["D"](fake_ref), rtol=0, atol=0)
        assert model.D(fake).shape == (4, 1, 2, 2)


def test_same_losses_as_the_script(tmp_path, reference):
    """`0.002 * gan(..., least_squares) + 0.999 * l1` is the script's 0.001 * MSE + 0.999 * L1 on the
    generator's side; the discriminator's, unweighted, is the script's too."""
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "context_encoder", spec=ROOT / "specs" / "context_encoder.gen")
    with imported(folder) as train:
        g = torch.Generator().manual_seed(0)
        real, fake = torch.randn(8, 1, 2, 2, generator=g), torch.randn(8, 1, 2, 2, generator=g)
        ours = train.discriminator_loss_real(real.view(-1)) + train.discriminator_loss_fake(fake.view(-1))
        torch.testing.assert_close(ours, reference.discriminator_loss(real, fake))
        model = train.RECIPE.model()
        masked, part = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 16, 16)
        values = model(masked, part)
        extra, _ = train.loss_terms(model, values, {})
        assert "loss_g = 0.002 * generator_loss(d_fake)" in (folder / "train.py").read_text()
        ours_g = 0.002 * train.generator_loss(fake.view(-1)) + extra
        torch.testing.assert_close(ours_g, reference.generator_loss(fake, values["fake"], part))


def test_the_data_source_cuts_the_blocks_as_the_script():
    """Training blocks anywhere the script's randint reaches, test blocks at its centre; the
    block is the image's there, and the masked image is 1 there and the image elsewhere."""
    from gendsl.runtime.data import load_samples

    shapes = [(1, 32, 32), (1, 16, 16), (1, 32, 32)]
    train, test = load_samples(["random_block:digits", None, None], ["masked", "part", "x"], shapes,
                               [(-1.0, 1.0)] * 3, seed=0)
    masked, part, image, _ = train.tensors
    corners = set()
    for k in range(40):
        top, left = next((t, c) for t in range(17) for c in range(17)
                         if torch.equal(image[k, :, t:t + 16, c:c + 16], part[k])
                         and bool((masked[k, :, t:t + 16, c:c + 16] == 1).all()))
        corners.add((top, left))
        outside = torch.ones(32, 32, dtype=torch.bool)
        outside[top:top + 16, left:left + 16] = False
        assert torch.equal(masked[k, 0][outside], image[k, 0][outside])
    assert len(corners) > 10 and all(0 <= t < 16 and 0 <= c < 16 for t, c in corners)
    masked, part, image, _ = test.tensors
    centre, _ = reference_centre(image)
    torch.testing.assert_close(masked, centre, rtol=0, atol=0)
    torch.testing.assert_close(part, image[:, :, 8:24, 8:24], rtol=0, atol=0)


def reference_centre(images):
    ref = training._load(ROOT / "bench" / "reference" / "context_encoder.py", "ce_fidelity_reference_masks")
    out = [ref.apply_center_mask(img) for img in images]
    return torch.stack([m for m, _ in out]), out[0][1]
