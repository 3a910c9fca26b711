"""The layer vocabulary: each op's arguments, its output shape and its parameter count.

Shapes are per sample (no batch dimension). `infer` raises `ShapeError`, which
the network pass turns into a diagnostic pointing at the layer (or at one of
its arguments) with the chain of shapes that led there.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable

from gendsl.check.ranges import F32_TINY
from gendsl.check.types import TensorType, fmt_shape

REQUIRED = object()


class ShapeError(Exception):
    def __init__(self, message: str, arg: str | None = None, help: str | None = None,
                 code: str = "E0304", label: str = ""):
        super().__init__(message)
        self.message, self.arg, self.help, self.code, self.label = message, arg, help, code, label


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # int, float, bool, choice
    default: Any = REQUIRED
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    high_open: bool = False  # upper bound excluded
    low_open: bool = False  # lower bound excluded
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # only by keyword: where PyTorch's positional order would give the position another meaning
    keyword_only: bool = False


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple[Arg, ...]
    infer: Callable[[list[TensorType], dict], TensorType]
    params: Callable[[list[TensorType], dict], int] = lambda ins, a: 0
    inputs: str = "one"  # one | many (tensor names as arguments, e.g. concat)
    rest: str | None = None  # name of a variadic int argument, e.g. reshape's dims
    doc: str = ""
    accepts_labels: bool = False


def positional(op: Op) -> list[Arg]:
    """The arguments a layer takes by position, in PyTorch's order (the rest only by keyword)."""
    return [a for a in op.args if a.name != op.rest and not a.keyword_only]


def signature(op: Op) -> str:
    """`conv_transpose2d(out, kernel, stride, ...)`; keyword-only arguments after `*`."""
    names = [a.name for a in positional(op)]
    keywords = [a.name for a in op.args if a.keyword_only]
    if op.rest:
        names.append(f"*{op.rest}")
    elif keywords:
        names.append("*")
    return f"{op.name}({', '.join(names + keywords)})"


def pair(value) -> tuple[int, int]:
    """A per-dimension argument as (height, width): `3` is `(3, 3)`."""
    return tuple(value) if isinstance(value, tuple) else (value, value)


def _show(value) -> str:
    return str(value) if not isinstance(value, tuple) else "(" + ", ".join(map(str, value)) + ")"


def _need_rank(t: TensorType, ranks: tuple[int, ...], op: str) -> None:
    if t.is_label:
        raise ShapeError(f"`{op}` cannot take class labels {t}", help="use `embedding` or `onehot` on labels first")
    if t.rank not in ranks:
        want = " or ".join({1: "a vector (features,)", 3: "an image (channels, height, width)"}.get(r, f"rank {r}")
                           for r in ranks)
        fix = "add `flatten` before it" if 1 in ranks and t.rank > 1 else (
            "add `reshape(c, h, w)` before it" if 3 in ranks else None)
        raise ShapeError(f"`{op}` expects {want}, but its input is {fmt_shape(t.shape)}", help=fix)


def _positive(value: int, what: str, arg: str) -> int:
    if value <= 0:
        raise ShapeError(f"{what} would be {value}, but dimensions must be positive", arg=arg, code="E0301")
    return value


# ---- dense -------------------------------------------------------------------

def _linear(ins, a):
    _need_rank(ins[0], (1,), "linear")
    return TensorType((a["out"],))


def _linear_params(ins, a):
    return ins[0].shape[0] * a["out"] + (a["out"] if a["bias"] else 0)


# ---- convolution ---------------------------------------------------------------

def conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_out(size: int, k: int, s: int, p: int, op: int, d: int) -> int:
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv2d(ins, a):
    _need_rank(ins[0], (3,), "conv2d")
    c, h, w = ins[0].shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(a[k]) for k in ("kernel", "stride", "padding", "dilation"))
    g = a["groups"]
    if c % g or a["out"] % g:
        raise ShapeError(f"groups={g} must divide both input channels {c} and output channels {a['out']}", arg="groups",
                         code="E0307", label=f"does not divide {c if c % g else a['out']}",
                         help="use a number of groups that divides both channel counts")
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        size = f"{h}x{w}" if not (ph or pw) else f"{h}x{w} (padded to {h + 2 * ph}x{w + 2 * pw})"
        raise ShapeError(f"conv2d kernel {_show(a['kernel'])} is larger than its input {size}", arg="kernel",
                         code="E0303", label=f"larger than {h + 2 * ph}x{w + 2 * pw}",
                         help="use a smaller kernel, more padding, or less down-sampling before this layer")
    return TensorType((a["out"], conv_out(h, kh, sh, ph, dh), conv_out(w, kw, sw, pw, dw)))


def _conv2d_params(ins, a):
    c = ins[0].shape[0]
    kh, kw = pair(a["kernel"])
    return a["out"] * (c // a["groups"]) * kh * kw + (a["out"] if a["bias"] else 0)


def _conv_transpose2d(ins, a):
    _need_rank(ins[0], (3,), "conv_transpose2d")
    c, h, w = ins[0].shape
    (kh, kw), (sh, sw), (ph, pw), (oh_, ow_), (dh, dw) = (
        pair(a[k]) for k in ("kernel", "stride", "padding", "output_padding", "dilation"))
    g = a["groups"]
    if c % g or a["out"] % g:
        raise ShapeError(f"groups={g} must divide both input channels {c} and output channels {a['out']}", arg="groups",
                         code="E0307", label=f"does not divide {c if c % g else a['out']}",
                         help="use a number of groups that divides both channel counts")
    for op, s, d in ((oh_, sh, dh), (ow_, sw, dw)):
        if op >= max(s, d):
            raise ShapeError(f"output_padding {op} must be smaller than stride {s} or dilation {d}",
                             arg="output_padding", code="E0307", help=f"use `output_padding={max(s, d) - 1}` or less",
                             label="too large")
    oh = conv_transpose_out(h, kh, sh, ph, oh_, dh)
    ow = conv_transpose_out(w, kw, sw, pw, ow_, dw)
    _positive(min(oh, ow), "the output size", "padding")
    return TensorType((a["out"], oh, ow))


def _conv_transpose2d_params(ins, a):
    kh, kw = pair(a["kernel"])
    return ins[0].shape[0] * (a["out"] // a["groups"]) * kh * kw + (a["out"] if a["bias"] else 0)


def _subpixel(ins, a):
    _need_rank(ins[0], (3,), "subpixel")
    if a["kernel"] % 2 == 0:
        raise ShapeError(f"subpixel kernel must be odd to keep the size, found {a['kernel']}", arg="kernel",
                         code="E0307", help=f"use `kernel={a['kernel'] + 1}` or `kernel={a['kernel'] - 1}`")
    c, h, w = ins[0].shape
    if a["kernel"] > h + a["kernel"] // 2 * 2:
        raise ShapeError(f"subpixel kernel {a['kernel']} is larger than its input {h}x{w}", arg="kernel", code="E0303",
                         help="use a smaller kernel, or less down-sampling before this layer")
    r = a["scale"]
    return TensorType((a["out"], h * r, w * r))


def _subpixel_params(ins, a):
    conv_out_channels = a["out"] * a["scale"] ** 2
    return conv_out_channels * ins[0].shape[0] * a["kernel"] ** 2 + (conv_out_channels if a["bias"] else 0)


def _pixel_shuffle(ins, a):
    _need_rank(ins[0], (3,), "pixel_shuffle")
    c, h, w = ins[0].shape
    r = a["scale"]
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle({r}) needs channels divisible by {r * r}, but the input has {c}", arg="scale",
                         code="E0307", help=f"give the layer before it a multiple of {r * r} channels")
    return TensorType((c // (r * r), h * r, w * r))


def _upsample(ins, a):
    _need_rank(ins[0], (3,), "upsample")
    c, h, w = ins[0].shape
    return TensorType((c, h * a["scale"], w * a["scale"]))


def _pool(name):
    def infer(ins, a):
        _need_rank(ins[0], (3,), name)
        c, h, w = ins[0].shape
        k, p = a["kernel"], a["padding"]
        s = a["stride"] if a["stride"] is not None else k
        if 2 * p > k:
            raise ShapeError(f"{name} padding {p} must be at most half the kernel {k}", arg="padding", code="E0307",
                             help=f"use `padding={k // 2}` or less")
        if k > h + 2 * p or k > w + 2 * p:
            raise ShapeError(f"{name} kernel {k} is larger than its input {h}x{w}", arg="kernel", code="E0303",
                             help="use a smaller kernel, or less down-sampling before this layer")
        return TensorType((c, conv_out(h, k, s, p, 1), conv_out(w, k, s, p, 1)))
    return infer


def _adaptive_pool(ins, a):
    _need_rank(ins[0], (3,), "adaptive_avgpool")
    return TensorType((ins[0].shape[0], a["size"], a["size"]))


# ---- normalisation and regularisation -------------------------------------------

def _batchnorm(ins, a):
    _need_rank(ins[0], (1, 3), "batchnorm")
    return ins[0]


def _instancenorm(ins, a):
    _need_rank(ins[0], (3,), "instancenorm")
    c, h, w = ins[0].shape
    if h * w == 1:  # torch refuses: a variance over one value
        raise ShapeError("instancenorm normalises each channel over its own positions, but its input is 1x1",
                         code="E0307", help="normalise before the last down-sampling, or use `batchnorm`")
    return ins[0]


def _groupnorm(ins, a):
    _need_rank(ins[0], (1, 3), "groupnorm")
    c, g = ins[0].shape[0], a["groups"]
    if c % g:
        raise ShapeError(f"groupnorm({g}) needs channels divisible by {g}, but the input has {c}", arg="groups",
                         code="E0307", label=f"does not divide {c}",
                         help="use a number of groups that divides the channel count")
    return ins[0]


def _pad(ins, a):
    _need_rank(ins[0], (3,), "pad")
    c, h, w = ins[0].shape
    left, right, top, bottom = sides(a["padding"])
    if a["mode"] == "reflect" and (max(left, right) >= w or max(top, bottom) >= h):
        raise ShapeError(f"reflect padding {_show(a['padding'])} must be smaller than its input {h}x{w} on each side",
                         arg="padding", code="E0307", label="too large",
                         help="use less padding, or `mode=replicate` or `mode=zero`")
    return TensorType((c, h + top + bottom, w + left + right))


def sides(value) -> tuple[int, int, int, int]:
    """Padding as (left, right, top, bottom), the order of torch's `nn.ZeroPad2d` and `F.pad`."""
    return tuple(value) if isinstance(value, tuple) else (value,) * 4


def _self_attention(ins, a):
    _need_rank(ins[0], (3,), "self_attention")
    c = ins[0].shape[0]
    if c // a["reduction"] < 1:
        raise ShapeError(f"self_attention reduces {c} channels by {a['reduction']} to none", arg="reduction",
                         code="E0307", label="too large", help=f"use `reduction={c}` or less")
    return ins[0]


def _self_attention_params(ins, a):
    c = ins[0].shape[0]
    k = c // a["reduction"]
    return 2 * (c * k + k) + c * c + c + 1  # query and key 1x1 convs, the value conv, gamma


def _layernorm(ins, a):
    _need_rank(ins[0], (1, 3), "layernorm")
    return ins[0]


def _same(name, ranks=(1, 2, 3)):
    def infer(ins, a):
        _need_rank(ins[0], ranks, name)
        return ins[0]
    return infer


# ---- reshaping ---------------------------------------------------------------------

def _flatten(ins, a):
    _need_rank(ins[0], (1, 2, 3), "flatten")
    return TensorType((ins[0].numel,))


def _reshape(ins, a):
    if ins[0].is_label:
        raise ShapeError("`reshape` cannot take class labels", help="use `embedding` or `onehot` on labels first")
    dims = a["dims"]
    if not dims:
        raise ShapeError("`reshape` needs the new shape", arg="dims", code="E0213",
                         help=f"write e.g. `reshape({ins[0].numel})`")
    if prod(dims) != ins[0].numel:
        raise ShapeError(f"cannot reshape {fmt_shape(ins[0].shape)} ({ins[0].numel} values) to "
                         f"{fmt_shape(tuple(dims))} ({prod(dims)} values)", code="E0305", arg="dims",
                         label=f"{prod(dims)} values, not {ins[0].numel}",
                         help=f"the new dimensions must multiply to {ins[0].numel}")
    return TensorType(tuple(dims))


def _topk(ins, a):
    _need_rank(ins[0], (1, 3), "topk")
    if a["k"] > ins[0].numel:
        raise ShapeError(f"topk keeps {a['k']} units, but its input has only {ins[0].numel}", arg="k", code="E0307",
                         help=f"use `k` of at most {ins[0].numel}")
    return ins[0]


def _embedding(ins, a):
    t = ins[0]
    if not t.is_label:
        raise ShapeError(f"`embedding` takes class labels, but its input is {t}",
                         help="pass a `label[N]` input, such as the data's labels")
    num = a["num"] if a["num"] is not None else t.classes
    if num < t.classes:
        raise ShapeError(f"embedding has {num} rows but the labels have {t.classes} classes", arg="num", code="E0307",
                         help=f"use `num={t.classes}`, or leave `num` out")
    return TensorType((a["dim"],))


def _embedding_params(ins, a):
    num = a["num"] if a["num"] is not None else ins[0].classes
    return num * a["dim"]


def _onehot(ins, a):
    t = ins[0]
    if not t.is_label:
        raise ShapeError(f"`onehot` takes class labels, but its input is {t}")
    return TensorType((t.classes,))


def _concat(ins, a):
    for t in ins:
        if t.is_label:
            raise ShapeError(f"`concat` cannot take class labels {t}", help="use `embedding` or `onehot` first")
    first = ins[0]
    for t in ins[1:]:
        if t.rank != first.rank or t.shape[1:] != first.shape[1:]:
            raise ShapeError(f"cannot concatenate {fmt_shape(first.shape)} and {fmt_shape(t.shape)}: "
                             "all but the first (channel) dimension must match", code="E0306",
                             label=f"{fmt_shape(first.shape)} and {fmt_shape(t.shape)}",
                             help="reshape or upsample one of them to match first" if t.rank == first.rank else
                             "`reshape` the vector to (channels, height, width), e.g. after a `linear` of size h*w")
    return TensorType((sum(t.shape[0] for t in ins),) + first.shape[1:])


def _elementwise(name, verb, what):
    def infer(ins, a):
        for t in ins[1:]:
            if t != ins[0]:
                raise ShapeError(f"cannot {verb} {ins[0]} and {t}: shapes differ", code="E0306",
                                 label=f"{ins[0]} and {t}",
                                 help=f"`{name}` {what} tensors of the same shape; "
                                 "use `concat` to stack different ones")
        if ins[0].is_label:
            raise ShapeError(f"`{name}` cannot take class labels", help="use `embedding` or `onehot` first")
        return ins[0]
    return infer


_add = _elementwise("add", "add", "sums")


def _prelu_params(ins, a):
    return 1


def _bn_params(ins, a):
    return 2 * ins[0].shape[0] if a["affine"] else 0


INT_PAIR = dict(kind="ints2", low=1)  # an int, or (height, width)
INT_PAIR_NONNEG = dict(kind="ints2", low=0)


def _ln_params(ins, a):
    return 2 * ins[0].numel if a["affine"] else 0


# Wrappers around one layer: `spectral_norm(conv2d(64, 4, 2, 1))`; name -> the layers they take.
WRAPPERS = {"spectral_norm": ("linear", "conv2d", "conv_transpose2d", "self_attention")}

INT_POS = dict(kind="int", low=1)
INT_NONNEG = dict(kind="int", low=0)


def _a(name, default=REQUIRED, **kw) -> Arg:
    return Arg(name, default=default, **kw)


_ACTIVATION = "Activation; shape unchanged."

OPS: dict[str, Op] = {op.name: op for op in [
    Op("linear", (_a("out", **INT_POS), _a("bias", True, kind="bool")), _linear, _linear_params,
       doc="Fully connected layer on a vector: (n,) -> (out,)."),
    Op("conv2d", (_a("out", **INT_POS), _a("kernel", aliases=("k",), **INT_PAIR),
                  _a("stride", 1, aliases=("s",), **INT_PAIR), _a("padding", 0, aliases=("p",), **INT_PAIR_NONNEG),
                  _a("dilation", 1, **INT_PAIR), _a("groups", 1, **INT_POS), _a("bias", True, kind="bool")),
       _conv2d, _conv2d_params, doc="2-D convolution: (c, h, w) -> (out, h', w')."),
    # nn.ConvTranspose2d's order: ..., output_padding, groups, bias, dilation
    Op("conv_transpose2d", (_a("out", **INT_POS), _a("kernel", aliases=("k",), **INT_PAIR),
                            _a("stride", 1, aliases=("s",), **INT_PAIR),
                            _a("padding", 0, aliases=("p",), **INT_PAIR_NONNEG),
                            _a("output_padding", 0, **INT_PAIR_NONNEG), _a("groups", 1, **INT_POS),
                            _a("bias", True, kind="bool"), _a("dilation", 1, **INT_PAIR)),
       _conv_transpose2d, _conv_transpose2d_params,
       doc="Transposed ('fractionally strided') convolution."),
    Op("subpixel", (_a("out", **INT_POS), _a("scale", 2, **INT_POS), _a("kernel", 3, aliases=("k",), **INT_POS),
                    _a("bias", True, kind="bool")),
       _subpixel, _subpixel_params,
       doc="Sub-pixel convolution: conv2d to out*scale^2 channels, then PixelShuffle(scale)."),
    Op("pixel_shuffle", (_a("scale", **INT_POS),), _pixel_shuffle, doc="PixelShuffle: (c*r*r, h, w) -> (c, h*r, w*r)."),
    # nn.Upsample's first positional is the output size: here the factor leads, and `mode` is keyword-only
    Op("upsample", (_a("scale", 2, **INT_POS),
                    _a("mode", "nearest", kind="choice", choices=("nearest", "bilinear"), keyword_only=True)),
       _upsample, doc="Nearest or bilinear up-sampling by an integer factor."),
    Op("maxpool", (_a("kernel", aliases=("k",), **INT_POS), _a("stride", None, aliases=("s",), **INT_POS),
                   _a("padding", 0, aliases=("p",), **INT_NONNEG)), _pool("maxpool"), doc="2-D max pooling."),
    Op("avgpool", (_a("kernel", aliases=("k",), **INT_POS), _a("stride", None, aliases=("s",), **INT_POS),
                   _a("padding", 0, aliases=("p",), **INT_NONNEG)), _pool("avgpool"), doc="2-D average pooling."),
    Op("adaptive_avgpool", (_a("size", 1, **INT_POS),), _adaptive_pool, doc="Adaptive average pooling to size x size."),
    # eps: torch refuses 0 in training, and below the smallest normal float32 it is 0 there
    # nn.BatchNorm1d(n, eps, momentum, affine, track_running_stats): `batchnorm(0.8)` is eps 0.8
    Op("batchnorm",
       (_a("eps", 1e-5, kind="float", low=F32_TINY, high=1),
        _a("momentum", 0.1, kind="float", low=0, high=1),
        _a("affine", True, kind="bool"), _a("track_running_stats", True, kind="bool")),
       _batchnorm, _bn_params, doc="BatchNorm1d on vectors, BatchNorm2d on images."),
    Op("instancenorm",
       (_a("eps", 1e-5, kind="float", low=F32_TINY, high=1),
        _a("momentum", 0.1, kind="float", low=0, high=1),
        _a("affine", False, kind="bool"), _a("track_running_stats", False, kind="bool")),
       _instancenorm, _bn_params, doc="InstanceNorm2d: each image's channels normalised on their own."),
    # nn.GroupNorm(groups, channels, eps, affine): channels come from the input, so eps and affine
    # are keyword-only (a second positional would be torch's channel count)
    Op("groupnorm",
       (_a("groups", **INT_POS), _a("eps", 1e-5, kind="float", low=F32_TINY, high=1, keyword_only=True),
        _a("affine", True, kind="bool", keyword_only=True)),
       _groupnorm, _bn_params, doc="GroupNorm: channels in `groups` groups, each normalised over its values."),
    Op("layernorm", (_a("eps", 1e-5, kind="float", low=F32_TINY, high=1), _a("affine", True, kind="bool")),
       _layernorm, _ln_params, doc="LayerNorm over all of a sample's dimensions."),
    Op("dropout", (_a("p", 0.5, kind="float", low=0, high=1, high_open=True),), _same("dropout"),
       doc="Dropout with probability p (training only)."),
    Op("dropout2d", (_a("p", 0.5, kind="float", low=0, high=1, high_open=True),), _same("dropout2d", (3,)),
       doc="Channel dropout: whole channels zeroed with probability p (training only)."),
    # nn.ZeroPad2d/ReflectionPad2d/ReplicationPad2d(padding): one module per mode, so mode is keyword-only
    Op("pad", (_a("padding", kind="ints4", low=0),
               _a("mode", "zero", kind="choice", choices=("zero", "reflect", "replicate"), keyword_only=True)),
       _pad, doc="Padding: one size for all sides, or (left, right, top, bottom)."),
    Op("self_attention", (_a("reduction", 8, **INT_POS),), _self_attention, _self_attention_params,
       doc="SAGAN self-attention block: x + gamma * attention(x), gamma learned from 0."),
    Op("relu", (), _same("relu"), doc=_ACTIVATION),
    # in place (as generated), torch refuses a negative slope or alpha; the upper bounds keep outputs finite
    Op("leaky_relu", (_a("slope", 0.01, kind="float", low=0, high=1),), _same("leaky_relu"), doc=_ACTIVATION),
    Op("elu", (_a("alpha", 1.0, kind="float", low=0, high=100),), _same("elu"), doc=_ACTIVATION),
    Op("selu", (), _same("selu"), doc=_ACTIVATION),
    Op("gelu", (), _same("gelu"), doc=_ACTIVATION),
    Op("silu", (), _same("silu"), doc=_ACTIVATION),
    Op("tanh", (), _same("tanh"), doc=_ACTIVATION),
    Op("sigmoid", (), _same("sigmoid"), doc=_ACTIVATION),
    Op("softmax", (), _same("softmax", (1,)), doc="Softmax over a vector's units (probabilities that sum to 1)."),
    # beta 0 divides by zero; softplus(x) >= log(2)/beta, so a tiny beta overflows
    Op("softplus", (_a("beta", 1.0, kind="float", low=0.01, high=100),), _same("softplus"), doc=_ACTIVATION),
    Op("prelu", (), _same("prelu"), _prelu_params, doc="PReLU with one learned slope."),
    Op("identity", (), _same("identity", (0, 1, 2, 3)), doc="Passes its input through."),
    Op("flatten", (), _flatten, doc="(c, h, w) -> (c*h*w,)."),
    Op("reshape", (_a("dims", (), kind="ints"),), _reshape, rest="dims", doc="Reshape to the given dimensions."),
    Op("unflatten", (_a("dims", (), kind="ints"),), _reshape, rest="dims", doc="Same as reshape."),
    Op("topk", (_a("k", **INT_POS),), _topk,
       doc="k-sparse activation: keep the k largest units of each sample, zero the rest."),
    # nn.Embedding(num, dim): `num` comes from the labels, so only by keyword
    Op("embedding", (_a("dim", **INT_POS), _a("num", None, keyword_only=True, **INT_POS)),
       _embedding, _embedding_params,
       accepts_labels=True, doc="Embedding of class labels: label[N] -> (dim,)."),
    Op("onehot", (), _onehot, accepts_labels=True, doc="One-hot encoding of class labels: label[N] -> (N,)."),
    Op("concat", (), _concat, inputs="many", doc="Concatenate along the first (channel/feature) dimension."),
    Op("add", (), _add, inputs="many", doc="Element-wise sum of tensors of the same shape (residual connections)."),
    Op("mul", (), _elementwise("mul", "multiply", "multiplies"), inputs="many",
       doc="Element-wise product of tensors of the same shape (gating, `embedding * noise`)."),
]}
