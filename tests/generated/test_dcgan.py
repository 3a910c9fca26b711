"""specs/dcgan.gen is pytorch/examples' DCGAN: the same parameter counts and shapes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import networks_of

ROOT = Path(__file__).resolve().parents[2]
G_PARAMS = 3_576_704  # netG of pytorch/examples/dcgan with nz=100, ngf=64, nc=3
D_PARAMS = 2_765_568  # netD with ndf=64, nc=3


@pytest.fixture(scope="module")
def dcgan():
    spec = ROOT / "specs" / "dcgan.gen"
    result = compile_source(SourceFile("specs/dcgan.gen", spec.read_text(encoding="utf-8"), origin=str(spec)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


def test_counts_and_shapes_from_the_compiler(dcgan):
    model = dcgan.model
    g, d = model.network("netG"), model.network("netD")
    assert (g.role, d.role) == ("generator", "discriminator")
    assert g.param_count == G_PARAMS
    assert d.param_count == D_PARAMS
    assert g.inputs[0][1].shape == (100,)
    assert g.outputs[0][1].shape == (3, 64, 64)
    assert d.inputs[0][1].shape == (3, 64, 64)
    assert d.outputs[0][1].shape == (1, 1, 1)
    assert [layer.out.shape for layer in g.layers if layer.op == "conv_transpose2d"] == [
        (512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    assert [layer.out.shape for layer in d.layers if layer.op == "conv2d"] == [
        (64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)]
    assert model.train.init == {"netG": ("dcgan", None), "netD": ("dcgan", None)}


def test_counts_and_shapes_in_torch(dcgan, tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "dcgan_model.py"
    path.write_text(dcgan.files["model.py"], encoding="utf-8")
    spec = importlib.util.spec_from_file_location("dcgan_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]

    torch.manual_seed(0)
    nets = networks_of(module)
    assert sorted(nets) == ["netD", "netG"]
    assert sum(p.numel() for p in nets["netG"].parameters()) == G_PARAMS
    assert sum(p.numel() for p in nets["netD"].parameters()) == D_PARAMS
    with torch.no_grad():
        fake = nets["netG"](torch.randn(2, 100))
        assert fake.shape == (2, 3, 64, 64)
        assert fake.abs().max() <= 1  # tanh
        score = nets["netD"](fake)
        assert score.shape == (2, 1, 1, 1)
        assert ((score >= 0) & (score <= 1)).all()  # sigmoid
    # DCGAN init: batchnorm weights ~ N(1, 0.02), conv weights ~ N(0, 0.02)
    bn = next(m for m in nets["netG"].modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert abs(bn.weight.mean().item() - 1) < 0.01
    conv = next(m for m in nets["netD"].modules() if isinstance(m, torch.nn.Conv2d))
    assert abs(conv.weight.std().item() - 0.02) < 0.005
