"""Layers take positional arguments in PyTorch's order, after the leading size argument, so that
copying from PyTorch code does what it says (`batchnorm(0.8)` is `nn.BatchNorm1d(n, 0.8)`: eps);
where torch's next positional would mean something the layer cannot take, the rest is keyword-only.

Each layer's positional arguments are compared with the torch module's own signature."""

from __future__ import annotations

import inspect

import pytest

from gendsl.check.layers import OPS, positional
from gendsl.driver import compile_source
from gendsl.source import SourceFile

torch = pytest.importorskip("torch")
nn = torch.nn

# layer -> (torch module, torch's parameters the language infers from the input, ours -> torch's names)
TORCH = {
    "linear": (nn.Linear, ("in_features",), {"out": "out_features"}),
    "conv2d": (nn.Conv2d, ("in_channels",), {"out": "out_channels", "kernel": "kernel_size"}),
    "conv_transpose2d": (nn.ConvTranspose2d, ("in_channels",), {"out": "out_channels", "kernel": "kernel_size"}),
    "pixel_shuffle": (nn.PixelShuffle, (), {"scale": "upscale_factor"}),
    "maxpool": (nn.MaxPool2d, (), {"kernel": "kernel_size"}),
    "avgpool": (nn.AvgPool2d, (), {"kernel": "kernel_size"}),
    "adaptive_avgpool": (nn.AdaptiveAvgPool2d, (), {"size": "output_size"}),
    "batchnorm": (nn.BatchNorm1d, ("num_features",), {}),
    "instancenorm": (nn.InstanceNorm2d, ("num_features",), {}),
    "groupnorm": (nn.GroupNorm, (), {"groups": "num_groups"}),
    "layernorm": (nn.LayerNorm, ("normalized_shape",), {"affine": "elementwise_affine"}),
    "dropout": (nn.Dropout, (), {}),
    "dropout2d": (nn.Dropout2d, (), {}),
    "leaky_relu": (nn.LeakyReLU, (), {"slope": "negative_slope"}),
    "elu": (nn.ELU, (), {}),
    "softplus": (nn.Softplus, (), {}),
    "pad": (nn.ZeroPad2d, (), {}),
    "embedding": (nn.Embedding, ("num_embeddings",), {"dim": "embedding_dim"}),
}
# layers of the language alone (no torch module of that signature), or whose torch module takes the
# input's size first: their positional arguments are the layer's own
OWN = {"subpixel", "topk", "reshape", "unflatten", "self_attention", "upsample"}


def _torch_positional(module) -> list[str]:
    params = list(inspect.signature(module.__init__).parameters.values())[1:]
    return [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]


@pytest.mark.parametrize("layer", sorted(TORCH))
def test_positional_arguments_follow_pytorch(layer):
    module, inferred, names = TORCH[layer]
    ours = [names.get(a.name, a.name) for a in positional(OPS[layer])]
    theirs = [n for n in _torch_positional(module) if n not in inferred]
    # ours are torch's, in torch's order, from the first one on (the rest keyword-only)
    assert ours == theirs[:len(ours)], (ours, theirs)
    # and the input's own size, which the language infers, comes before everything else in torch
    if inferred and layer != "groupnorm":
        assert _torch_positional(module)[0] == inferred[0]


def test_every_layer_with_arguments_is_compared_or_declared_its_own():
    with_args = {name for name, op in OPS.items() if op.args}
    assert with_args <= set(TORCH) | OWN, with_args - set(TORCH) - OWN


def test_groupnorm_keeps_eps_and_affine_keyword_only():
    """nn.GroupNorm(groups, channels, eps): the channels come from the input, so a second positional
    would be torch's channel count: refused, not read as eps."""
    assert [a.name for a in positional(OPS["groupnorm"])] == ["groups"]


SPEC = """model m
data x: [8]
network net(x) -> [8] {{
    linear(8) -> {layer}
}}
forward {{ y = net(x) }}
loss = l1_activity(y)
"""


def _compile(layer: str):
    return compile_source(SourceFile("m.gen", SPEC.format(layer=layer)))


def test_batchnorm_positional_is_eps_as_in_pytorch():
    result = _compile("batchnorm(0.8)")
    assert result.ok
    assert "nn.BatchNorm1d(8, eps=0.8)" in result.files["model.py"]
    result = _compile("batchnorm(1e-3, 0.7)")
    assert "nn.BatchNorm1d(8, eps=0.001, momentum=0.7)" in result.files["model.py"]


@pytest.mark.parametrize("layer, keyword", [("embedding(4, 10)", "num"), ("groupnorm(2, 1e-3)", "eps")])
def test_a_keyword_only_argument_given_by_position_is_refused_with_its_name(layer, keyword):
    text = SPEC.format(layer=layer)
    if layer.startswith("embedding"):
        text = text.replace("data x: [8]", "data x: [8]\ndata c: label[10]").replace(
            "network net(x) -> [8] {\n    linear(8) -> embedding(4, 10)",
            "network net(c) -> [4] {\n    embedding(4, 10)").replace("y = net(x)", "y = net(c)")
    result = compile_source(SourceFile("m.gen", text))
    assert not result.ok
    d = next(d for d in result.diagnostics if d.is_error)
    assert d.code == "E0214", d.message
    assert f"`{keyword}`" in d.help and "*" in d.notes[0]
