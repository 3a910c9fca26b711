"""The layer table's torch side: each layer's constructor call and forward expression.

Every literal goes through `lit` (repr); every name was validated by check. Module
attribute names are decided in gendsl/lower/names.py and passed in.
"""

from __future__ import annotations

from gendsl.check.layers import sides
from gendsl.check.result import Layer
from gendsl.check.types import TensorType


def lit(value) -> str:
    """A Python literal for a checked value (numbers, booleans, strings, tuples)."""
    return repr(value)


def shape_comment(t: TensorType) -> str:
    if t.is_label:
        return f"(B,) labels in [0, {t.classes})"
    return "(B, " + ", ".join(str(d) for d in t.shape) + ")"


def _kw(args: dict, defaults: dict) -> list[str]:
    return [f"{k}={lit(args[k])}" for k in defaults if args[k] != defaults[k]]


def constructor(layer: Layer, spectral_norm: bool = False) -> str | None:
    """The module's constructor call; a conv/linear layer inside `spectral_norm(...)`, or in a
    network under `spectral_norm` in `train`, is wrapped in torch's spectral normalisation."""
    code = _module(layer)
    if not (layer.spectral_norm or spectral_norm):
        return code
    if layer.op == "self_attention":
        return code[:-1] + ", spectral=True)"  # its three 1x1 convolutions
    if layer.op in SPECTRAL:
        return f"spectral_norm({code})"
    return code


# Layers whose weights spectral normalisation divides by their largest singular value.
SPECTRAL = ("linear", "conv2d", "conv_transpose2d", "subpixel", "self_attention")


def _module(layer: Layer) -> str | None:
    a, t = layer.args, layer.in_types[0] if layer.in_types else None
    op = layer.op
    if op == "linear":
        return f"nn.Linear({t.shape[0]}, {a['out']}" + ("" if a["bias"] else ", bias=False") + ")"
    if op == "conv2d":
        extra = _kw(a, {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True})
        return f"nn.Conv2d({t.shape[0]}, {a['out']}, {lit(a['kernel'])}" + "".join(", " + e for e in extra) + ")"
    if op == "conv_transpose2d":
        extra = _kw(a, {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1, "bias": True})
        return (f"nn.ConvTranspose2d({t.shape[0]}, {a['out']}, {lit(a['kernel'])}"
                + "".join(", " + e for e in extra) + ")")
    if op == "subpixel":
        channels = a["out"] * a["scale"] ** 2
        bias = "" if a["bias"] else ", bias=False"
        return f"nn.Conv2d({t.shape[0]}, {channels}, {a['kernel']}, padding={a['kernel'] // 2}{bias})"
    if op == "batchnorm":
        cls = "nn.BatchNorm1d" if t.rank == 1 else "nn.BatchNorm2d"
        extra = _kw(a, {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True})
        return f"{cls}({t.shape[0]}" + "".join(", " + e for e in extra) + ")"
    if op == "instancenorm":
        extra = _kw(a, {"eps": 1e-5, "momentum": 0.1, "affine": False, "track_running_stats": False})
        return f"nn.InstanceNorm2d({t.shape[0]}" + "".join(", " + e for e in extra) + ")"
    if op == "groupnorm":
        extra = _kw(a, {"eps": 1e-5, "affine": True})
        return f"nn.GroupNorm({a['groups']}, {t.shape[0]}" + "".join(", " + e for e in extra) + ")"
    if op == "layernorm":
        shape = t.shape[0] if t.rank == 1 else list(t.shape)
        extra = _kw(a, {"eps": 1e-5, "affine": True})
        extra = [e.replace("affine=", "elementwise_affine=") for e in extra]
        return f"nn.LayerNorm({shape!r}" + "".join(", " + e for e in extra) + ")"
    if op == "embedding":
        num = a["num"] if a["num"] is not None else t.classes
        return f"nn.Embedding({num}, {a['dim']})"
    if op == "prelu":
        return "nn.PReLU()"
    if op == "self_attention":
        return f"SelfAttention({t.shape[0]}" + (f", {a['reduction']})" if a["reduction"] != 8 else ")")
    return None


# Layers whose backward pass does not read their own output, so the next activation may overwrite it.
_OVERWRITABLE = frozenset({"linear", "conv2d", "conv_transpose2d", "batchnorm", "instancenorm", "groupnorm"})


def inplace_activations(layers: list[Layer], kept: set[str]) -> set[int]:
    """Indices of relu/leaky_relu layers that may run in place, as pytorch/examples writes them
    (`nn.ReLU(True)`): the activation is the only reader of a value that a linear, convolution or
    batchnorm layer produced (their gradients do not need that value), and nothing else reads it,
    `kept` included (the variables `forward` returns: outputs and activations the loss reads).
    Same numbers, one tensor less per layer."""
    producer: dict[str, int] = {}
    readers: dict[int, int] = {}
    for i, layer in enumerate(layers):
        for v in layer.inputs:
            if v in producer:
                readers[producer[v]] = readers.get(producer[v], 0) + 1
        producer[layer.var] = i
    for v in kept:  # read at the end, by `return`
        if v in producer:
            readers[producer[v]] = readers.get(producer[v], 0) + 1
    chosen = set()
    live: dict[str, int] = {}
    for i, layer in enumerate(layers):
        src = layer.inputs[0] if len(layer.inputs) == 1 else None
        j = live.get(src) if src is not None else None
        if (j is not None and layer.op in ("relu", "leaky_relu") and layers[j].op in _OVERWRITABLE
                and readers.get(j) == 1
                and (layer.op == "relu" or layer.args.get("slope", 0) > 0)):
            chosen.add(i)
        live[layer.var] = i
    return chosen


def forward_expr(layer: Layer, attr: str | None, inplace: bool = False) -> str:
    """The expression that computes the layer; `attr` is its module's attribute, if it has one."""
    a = layer.args
    src = layer.inputs[0] if layer.inputs else "h"
    op = layer.op
    if attr is not None and op != "subpixel":
        return f"self.{attr}({src})"
    if op == "relu" and inplace:
        return f"F.relu({src}, inplace=True)"
    simple = {"relu": "F.relu", "selu": "F.selu", "gelu": "F.gelu", "silu": "F.silu", "tanh": "torch.tanh",
              "sigmoid": "torch.sigmoid"}
    if op in simple:
        return f"{simple[op]}({src})"
    if op == "softmax":
        return f"F.softmax({src}, dim=1)"
    if op == "leaky_relu":
        return f"F.leaky_relu({src}, {lit(a['slope'])}{', inplace=True' if inplace else ''})"
    if op == "elu":
        return f"F.elu({src}, alpha={lit(a['alpha'])})"
    if op == "softplus":
        return f"F.softplus({src}, beta={lit(a['beta'])})"
    if op == "dropout":
        return f"F.dropout({src}, p={lit(a['p'])}, training=self.training)"
    if op == "dropout2d":
        return f"F.dropout2d({src}, p={lit(a['p'])}, training=self.training)"
    if op == "pad":
        mode = {"zero": "", "reflect": ", mode=\"reflect\"", "replicate": ", mode=\"replicate\""}[a["mode"]]
        return f"F.pad({src}, {lit(sides(a['padding']))}{mode})"
    if op == "identity":
        return src
    if op == "flatten":
        return f"torch.flatten({src}, 1)"
    if op in ("reshape", "unflatten"):
        return f"{src}.reshape(-1, {', '.join(str(d) for d in a['dims'])})"
    if op == "subpixel":
        return f"F.pixel_shuffle(self.{attr}({src}), {a['scale']})"
    if op == "pixel_shuffle":
        return f"F.pixel_shuffle({src}, {a['scale']})"
    if op == "upsample":
        mode = a["mode"]
        corners = ", align_corners=False" if mode == "bilinear" else ""
        return f"F.interpolate({src}, scale_factor={a['scale']}, mode={mode!r}{corners})"
    if op in ("maxpool", "avgpool"):
        fn = "F.max_pool2d" if op == "maxpool" else "F.avg_pool2d"
        stride = a["stride"] if a["stride"] is not None else a["kernel"]
        pad = f", padding={a['padding']}" if a["padding"] else ""
        return f"{fn}({src}, {a['kernel']}, stride={stride}{pad})"
    if op == "adaptive_avgpool":
        return f"F.adaptive_avg_pool2d({src}, {a['size']})"
    if op == "topk":
        return f"topk_activation({src}, {a['k']})"
    if op == "onehot":
        return f"F.one_hot({src}, {layer.in_types[0].classes}).float()"
    if op == "concat":
        return f"torch.cat([{', '.join(layer.inputs)}], dim=1)"
    if op == "add":
        return " + ".join(layer.inputs)
    if op == "mul":
        return " * ".join(layer.inputs)
    raise ValueError(f"no code for layer {op}")
