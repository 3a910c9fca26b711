"""In-place activations: `F.relu(h, inplace=True)` where the compiler proves it safe.

The emitter overwrites a linear/convolution/batchnorm output with its relu or leaky_relu when
nothing else reads it (gendsl/emit/code.py, `inplace_activations`). Safe means: the same outputs
and the same gradients, bit for bit, as the code without in-place activations, and no autograd
error. Checked on every catalogue spec and on random architectures.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings


import spec_strategies as S  # noqa: E402

import gendsl.lower.model as model_py  # noqa: E402
from gendsl.driver import compile_source  # noqa: E402
from gendsl.source import SourceFile  # noqa: E402
from model_support import networks_of  # noqa: E402

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(ROOT.glob("specs/*.gen")) + sorted(ROOT.glob("tests/cases/*/spec.gen"))


def load(code: str):
    module = types.ModuleType("inplace_model")
    sys.modules[module.__name__] = module  # dataclasses looks its module up
    try:
        exec(compile(code, "<model.py>", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


def both_versions(text: str, monkeypatch, origin: str | None = None):
    """model.py as emitted, and as it would be without in-place activations. `origin`: where the spec's
    imports and bases are found (a catalogue spec may be a variant)."""
    result = compile_source(SourceFile("spec.gen", text, origin=origin))
    assert result.ok
    with monkeypatch.context() as m:
        m.setattr(model_py, "inplace_activations", lambda layers, kept: set())
        plain = compile_source(SourceFile("spec.gen", text, origin=origin))
    return result, result.files["model.py"], plain.files["model.py"]


def run(code: str, checked, seed: int = 0):
    """Every network in training mode: outputs and the gradients of a random projection of them."""
    torch.manual_seed(seed)
    nets = networks_of(load(code))
    gen = torch.Generator().manual_seed(seed)
    got = {}
    for net_info in checked.networks:
        net = nets[net_info.name].train()
        inputs = []
        for _, t in net_info.inputs:
            if t.is_label:
                inputs.append(torch.randint(0, t.classes, (3,), generator=gen))
            else:
                inputs.append(torch.randn((3, *t.shape), generator=gen, requires_grad=True))
        out = net(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs if o.is_floating_point())
        params = [p for p in net.parameters() if p.requires_grad]
        wrt = params + [x for x in inputs if x.requires_grad]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True) if loss.requires_grad else ()
        got[net_info.name] = ([o.detach() for o in outs], [g for g in grads if g is not None])
    return got


def assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for x, y in zip(a[name][0] + a[name][1], b[name][0] + b[name][1]):
            assert torch.equal(x, y), name


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_inplace_is_exact(path, monkeypatch):
    result, inplace, plain = both_versions(path.read_text(), monkeypatch, str(path))
    assert_same(run(inplace, result.model), run(plain, result.model))


def test_dcgan_activations_run_in_place_as_in_pytorch_examples():
    spec = ROOT / "specs" / "dcgan.gen"
    code = compile_source(SourceFile("dcgan.gen", spec.read_text(), origin=str(spec))).files["model.py"]
    assert code.count("F.relu(h, inplace=True)") == 4  # G: after each batchnorm
    assert code.count("F.leaky_relu(h, 0.2, inplace=True)") == 4  # D: after conv1 and each batchnorm


def test_a_value_read_twice_is_not_overwritten():
    text = """model m
data x: vector[4]
network net1(x) -> [8] {
    a = linear(8)
    b = a -> relu
    c = add(a, b)
}
forward { y = net1(x) }
loss = mse(y, y)
"""
    code = compile_source(SourceFile("m.gen", text)).files["model.py"]
    assert "inplace" not in code


@settings(max_examples=40, deadline=None, derandomize=True)
@given(S.spec())
def test_random_architectures_inplace_is_exact(spec):
    with pytest.MonkeyPatch.context() as mp:
        result, inplace, plain = both_versions(spec.text, mp)
    assert_same(run(inplace, result.model), run(plain, result.model))
