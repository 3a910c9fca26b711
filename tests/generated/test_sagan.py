"""specs/sagan.gen is the SAGAN of bench/reference/sagan.py (written from
heykeetae/Self-Attention-GAN's sagan_models.py and trainer.py): the same parameter counts and
shapes, the same outputs after copying weights (self-attention and spectral normalisation's power
iteration included), the same hinge loss and the same two learning rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import training
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import model_class

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
G_PARAMS = 3_832_885
D_PARAMS = 3_175_299


@pytest.fixture(scope="module")
def spec():
    path = ROOT / "specs" / "sagan.gen"
    result = compile_source(SourceFile("specs/sagan.gen", path.read_text(encoding="utf-8"), origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def generated():
    return training._load(ROOT / "generated" / "sagan" / "model.py", "sagan_fidelity_model")


@pytest.fixture(scope="module")
def reference():
    return training._load(ROOT / "bench" / "reference" / "sagan.py", "sagan_fidelity_reference")


def test_counts_and_shapes_from_the_compiler(spec, reference):
    g, d = spec.model.network("G"), spec.model.network("D")
    nets = reference.build_networks()
    assert g.param_count == G_PARAMS == sum(p.numel() for p in nets["G"].parameters())
    assert d.param_count == D_PARAMS == sum(p.numel() for p in nets["D"].parameters())
    assert g.outputs[0][1].shape == (3, 64, 64) and d.outputs[0][1].shape == (1,)
    assert sum(layer.op == "self_attention" for layer in g.layers + d.layers) == 4
    assert spec.model.gan.kind == "hinge" and spec.model.train.d_steps == 1


def test_generated_files_are_the_goldens(spec):
    for name in ("model.py", "train.py"):
        assert spec.files[name] == (ROOT / "generated" / "sagan" / name).read_text(encoding="utf-8")


def _copy(reference_net, ours):
    """Module by module in forward order (sagan_models.py registers `l4` before `l1`), every
    parameter and buffer of each, spectral norm's vectors included."""
    theirs = reference_net.in_forward_order()
    mine = [m for m in ours.children() if m.state_dict()]
    assert len(theirs) == len(mine)
    for a, b in zip(theirs, mine):
        assert [t.shape for t in a.state_dict().values()] == [t.shape for t in b.state_dict().values()]
        b.load_state_dict(dict(zip(b.state_dict(), a.state_dict().values())))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_same_outputs_after_copying_weights(generated, reference, mode):
    torch.manual_seed(3)
    ref = reference.build_networks()
    model = model_class(generated)()
    mine = {"G": model.G, "D": model.D}
    for name in ("G", "D"):
        _copy(ref[name], mine[name])
        with torch.no_grad():  # gamma starts at 0: make the attention count
            for block in (m for m in mine[name].modules() if hasattr(m, "gamma")):
                block.gamma.fill_(0.5)
            for block in (m for m in ref[name].modules() if hasattr(m, "gamma")):
                block.gamma.fill_(0.5)
        ref[name].train(mode == "train")
        mine[name].train(mode == "train")
    z = torch.randn(3, 128)
    with torch.no_grad():
        fake_ref, fake = ref["G"](z), mine["G"](z)
        assert fake.shape == (3, 3, 64, 64)
        torch.testing.assert_close(fake, fake_ref, rtol=0, atol=0)
        for _ in range(2):  # in training, each pass moves spectral norm's power iteration on, in both
            torch.testing.assert_close(mine["D"](fake).view(-1), ref["D"](fake_ref), rtol=0, atol=0)
    assert mine["D"](fake).shape == (3, 1)


def test_same_hinge_loss_and_optimizers(spec, tmp_path, reference):
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "sagan", spec=ROOT / "specs" / "sagan.gen")
    with imported(folder) as train:
        g = torch.Generator().manual_seed(0)
        real, fake = torch.randn(64, generator=g) * 2, torch.randn(64, generator=g) * 2
        ours = train.discriminator_loss_real(real) + train.discriminator_loss_fake(fake)
        torch.testing.assert_close(ours, reference.discriminator_loss(real, fake))
        torch.testing.assert_close(train.generator_loss(fake), reference.generator_loss(fake))
        optimizers = train.make_optimizers(train.RECIPE.model())
    assert optimizers["G"].defaults["lr"] == 1e-4 and optimizers["D"].defaults["lr"] == 4e-4
    for opt in optimizers.values():
        assert opt.defaults["betas"] == (0.0, 0.9)
