"""Hypothesis strategies for random, *valid* network bodies, and faults that break them.

The strategy tracks the shape of every tensor while it draws layers, so each layer is
drawn from those its input admits (a conv kernel never exceeds its padded input, a
pixel shuffle only sees channels divisible by r^2, ...). The shape it ends with is the
network's declared output, so the compiler's inference is checked against this second,
independent bookkeeping as well as against torch (tests/check/test_shape_properties.py).

`spec()` wraps a body in a complete spec, in one of three arrangements:

- network: `network NET(x[, y]) -> OUT { body }` with an `l1_activity` loss on its outputs;
- encoder: the body is an encoder, with a fixed decoder back to the data;
- decoder: a fixed encoder to a code, the body is the decoder from a typed input
  (`code: [..]`), ending in a fixed tail back to the data's shape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from gendsl.check.layers import OPS
from gendsl.check.names import check_identifier
from gendsl.diagnostics import CompileError
from gendsl.source import NO_SPAN

MAX_SIDE = 20  # images stay small so that torch runs every example in milliseconds
MAX_CHANNELS = 8
MAX_UNITS = 32
MAX_NUMEL = 4096


@dataclass(frozen=True)
class Label:
    classes: int


Shape = tuple  # per-sample shape; or a Label


def rank(s) -> int:
    return -1 if isinstance(s, Label) else len(s)


def numel(s) -> int:
    return math.prod(s)


def fmt(s) -> str:
    """The shape as a .gen type: `[3, 8, 8]`."""
    return "[" + ", ".join(map(str, s)) + "]"


# names: plain ones, and ones that collide with what the generated code uses
STATEMENT_NAMES = ["h", "h_", "h0", "h1", "h2", "fc1", "fc2", "conv1", "conv2", "bn1", "ln1", "deconv1",
                   "subpixel1", "embed1", "prelu1", "a", "b", "c", "out", "code", "skip", "feat", "mu", "logvar",
                   "x2", "y2", "z", "e", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]
DATA_NAMES = ["x", "x", "x", "img", "inp", "h", "fc1"]
NETWORK_NAMES = ["net", "net", "f", "Net", "Enc", "params", "g_net", "model_a", "dec2"]


def usable(name: str) -> bool:
    if name in OPS:
        return False
    try:
        check_identifier(name, NO_SPAN, "test")
    except CompileError:
        return False
    return True


@dataclass
class Body:
    """A network body being drawn: its text and the shape of everything it names."""

    inputs: list[tuple[str, object]]  # (name, shape or Label)
    params: dict[str, int]
    lines: list[str] = field(default_factory=list)
    pool: dict[str, object] = field(default_factory=dict)  # tensor name -> shape
    current: object = None  # the previous statement's output (what an implicit chain reads)
    counter: int = 0

    def fresh(self, draw) -> str:
        taken = set(self.pool) | {n for n, _ in self.inputs}
        choices = [n for n in STATEMENT_NAMES if n not in taken and usable(n)]
        if choices and draw(st.booleans()):
            return draw(st.sampled_from(choices))
        while f"s{self.counter}" in taken:
            self.counter += 1
        self.counter += 1
        return f"s{self.counter - 1}"


# ---- numbers written in several ways --------------------------------------------------

def int_expr(draw, value: int, params: dict[str, int]) -> str:
    forms = ["plain", "plain", "plain", "sum", "product", "division", "param"]
    form = draw(st.sampled_from(forms))
    if form == "sum" and value > 1:
        k = draw(st.integers(1, value - 1))
        return f"{value - k} + {k}"
    if form == "product":
        factors = [f for f in range(2, value) if value % f == 0]
        if factors:
            f = draw(st.sampled_from(factors))
            return f"{f} * {value // f}"
    if form == "division":
        return draw(st.sampled_from([f"{2 * value} / 2", f"{2 * value + 1} // 2", f"({value} * 3) // 3"]))
    if form == "param":
        usable_params = [n for n, v in params.items() if value % v == 0]
        if usable_params:
            n = draw(st.sampled_from(usable_params))
            k = value // params[n]
            return n if k == 1 else f"{k} * {n}"
    return str(value)


def _text(draw, value, params) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int_expr(draw, value, params)
    if isinstance(value, tuple):
        return "(" + ", ".join(_text(draw, v, params) for v in value) + ")"
    return str(value)


def call(draw, op: str, positional: list[tuple[str, str, object]], optional: list[tuple[str, object, object]],
         params) -> str:
    """`op(args)`: required (name, text-or-int) positionally or by keyword; optional ones when not default,
    by keyword, or by position where every argument before them is given by position too (PyTorch's
    order, as the layer table declares it)."""
    from gendsl.check.layers import positional as positional_args

    order = [a.name for a in positional_args(OPS[op])]
    canonical = {alias: a.name for a in OPS[op].args for alias in (a.name, *a.aliases)}
    parts = []
    by_keyword = False
    for name, value in positional:
        text = _text(draw, value, params) if not isinstance(value, str) else value
        by_keyword = by_keyword or draw(st.integers(0, 4)) == 0
        parts.append(f"{name}={text}" if by_keyword else text)
    for name, value, default in optional:
        if value == default and (value is None or draw(st.booleans())):
            if not by_keyword and len(parts) < len(order) and order[len(parts)] == canonical[name]:
                by_keyword = True  # skipped: later ones cannot be positional
            continue
        text = _text(draw, value, params)
        can_be_positional = (not by_keyword and len(parts) < len(order) and order[len(parts)] == canonical[name])
        if can_be_positional and draw(st.booleans()):
            parts.append(text)
        else:
            by_keyword = True
            parts.append(f"{name}={text}")
    if not parts:
        return op if draw(st.integers(0, 3)) else f"{op}()"
    return f"{op}({', '.join(parts)})"


# ---- one layer for a given input shape -------------------------------------------------

def conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def deconv_out(size, k, s, p, op, d):
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def factorizations(n: int) -> list[tuple[int, int, int]]:
    out = []
    for c in range(1, min(n, MAX_CHANNELS * 4) + 1):
        if n % c:
            continue
        rest = n // c
        for h in range(1, min(rest, MAX_SIDE) + 1):
            if rest % h == 0 and rest // h <= MAX_SIDE:
                out.append((c, h, rest // h))
    return out


ACTIVATIONS = ["relu", "selu", "gelu", "silu", "tanh", "sigmoid", "prelu", "identity", "leaky_relu(0.2)",
               "leaky_relu(slope=0)", "leaky_relu", "elu", "elu(alpha=0.5)", "softplus", "softplus(beta=2)",
               "relu()"]


def vector_layers(s) -> list[str]:
    n = s[0]
    ops = ["linear", "linear", "act", "act", "batchnorm", "layernorm", "dropout", "topk", "flatten", "groupnorm",
           "softmax"]
    if factorizations(n):
        ops += ["reshape3", "reshape3"]
    return ops


def image_layers(s) -> list[str]:
    c, h, w = s
    ops = ["conv2d", "conv2d", "conv2d", "conv_transpose2d", "conv_transpose2d", "act", "batchnorm", "layernorm",
           "dropout", "maxpool", "avgpool", "adaptive_avgpool", "topk", "subpixel", "pixel_shuffle", "upsample",
           "reshape2", "groupnorm", "pad", "dropout2d", "self_attention"]
    if h * w > 1:
        ops.append("instancenorm")
    if factorizations(numel(s)):
        ops.append("reshape3")
    if numel(s) <= MAX_NUMEL:
        ops += ["flatten", "flatten", "reshape1"]
    return ops


def _maybe_spectral(draw, text: str, op: str) -> str:
    """Sometimes `spectral_norm(layer)`: same shapes, same parameter count."""
    if draw(st.integers(0, 4)) == 0:
        return f"spectral_norm({text if '(' in text else text + '()'})"
    return text


def draw_layer(draw, s, params) -> tuple[str, object]:
    """One element valid for input shape `s`, and its output shape."""
    if isinstance(s, Label):
        if draw(st.booleans()):
            return "onehot", (s.classes,)
        dim = draw(st.integers(1, 12))
        num = draw(st.sampled_from([None, s.classes, s.classes + 3]))
        return call(draw, "embedding", [("dim", dim)], [("num", num, None)] if num else [], params), (dim,)
    r = rank(s)
    if r == 2:
        op = draw(st.sampled_from(["act", "dropout", "flatten", "reshape1"]))
    elif r == 1:
        op = draw(st.sampled_from(vector_layers(s)))
    else:
        op = draw(st.sampled_from(image_layers(s)))
    if op == "act":
        return draw(st.sampled_from(ACTIVATIONS)), s
    if op == "softmax":
        return "softmax", s
    if op == "dropout":
        p = draw(st.sampled_from([None, 0.0, 0.3, 0.5, 0.99]))
        return ("dropout" if p is None else draw(st.sampled_from([f"dropout({p})", f"dropout(p={p})"]))), s
    if op == "flatten":
        return "flatten", (numel(s),)
    if op == "reshape1":
        return f"{draw(st.sampled_from(['reshape', 'unflatten']))}({numel(s)})", (numel(s),)
    if op == "reshape3":
        dims = draw(st.sampled_from(factorizations(numel(s))))
        return f"reshape({', '.join(int_expr(draw, d, params) for d in dims)})", dims
    if op == "reshape2":
        n = numel(s)
        a = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
        return f"reshape({a}, {n // a})", (a, n // a)
    if op == "topk":
        k = draw(st.integers(1, min(numel(s), 64)))
        return call(draw, "topk", [("k", k)], [], params), s
    if op == "batchnorm":
        momentum = draw(st.sampled_from([0.1, 0.1, 0.01, 0.5]))
        eps = draw(st.sampled_from([1e-5, 1e-5, 1e-3, 0.8]))
        affine = draw(st.booleans())
        track = draw(st.booleans())
        return call(draw, "batchnorm", [], [("eps", eps, 1e-5), ("momentum", momentum, 0.1),
                                            ("affine", affine, True), ("track_running_stats", track, True)],
                    params), s
    if op == "groupnorm":
        c = s[0]
        groups = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        eps = draw(st.sampled_from([1e-5, 1e-5, 1e-3]))
        return call(draw, "groupnorm", [("groups", groups)],
                    [("eps", eps, 1e-5), ("affine", draw(st.booleans()), True)], params), s
    if op == "instancenorm":
        eps = draw(st.sampled_from([1e-5, 1e-5, 1e-3]))
        momentum = draw(st.sampled_from([0.1, 0.1, 0.5]))
        return call(draw, "instancenorm", [], [("eps", eps, 1e-5), ("momentum", momentum, 0.1),
                                               ("affine", draw(st.booleans()), False),
                                               ("track_running_stats", draw(st.booleans()), False)], params), s
    if op == "dropout2d":
        p = draw(st.sampled_from([None, 0.0, 0.3, 0.5]))
        return ("dropout2d" if p is None else draw(st.sampled_from([f"dropout2d({p})", f"dropout2d(p={p})"]))), s
    if op == "pad":
        c, h, w = s
        mode = draw(st.sampled_from(["zero", "reflect", "replicate"]))
        most = MAX_SIDE - max(h, w)
        limit_h, limit_w = (h - 1, w - 1) if mode == "reflect" else (3, 3)
        wide, high = max(0, min(limit_w, most // 2)), max(0, min(limit_h, most // 2))
        sides_ = (draw(st.integers(0, wide)), draw(st.integers(0, wide)),
                  draw(st.integers(0, high)), draw(st.integers(0, high)))
        if len(set(sides_)) == 1 and draw(st.booleans()):
            padding = sides_[0]
        else:
            padding = sides_
        left, right, top, bottom = sides_
        return call(draw, "pad", [("padding", padding)], [("mode", mode, "zero")], params), (
            c, h + top + bottom, w + left + right)
    if op == "self_attention":
        c = s[0]
        reduction = draw(st.sampled_from([r for r in (1, 2, 4, 8) if c // r >= 1]))
        text = call(draw, "self_attention", [], [("reduction", reduction, 8)], params)
        return _maybe_spectral(draw, text, "self_attention"), s
    if op == "layernorm":
        eps = draw(st.sampled_from([1e-5, 1e-5, 1e-6]))
        affine = draw(st.booleans())
        return call(draw, "layernorm", [], [("eps", eps, 1e-5), ("affine", affine, True)], params), s
    if op == "linear":
        out = draw(st.integers(1, MAX_UNITS))
        bias = draw(st.booleans())
        return _maybe_spectral(draw, call(draw, "linear", [("out", out)], [("bias", bias, True)], params), op), (out,)

    c, h, w = s
    if op == "conv2d":
        out = draw(st.integers(1, MAX_CHANNELS))

        def fits(size):
            return [(k, st_, p, d) for k in range(1, 6) for st_ in range(1, 4) for p in range(3) for d in range(1, 3)
                    if d * (k - 1) + 1 <= size + 2 * p and conv_out(size, k, st_, p, d) <= MAX_SIDE]
        if draw(st.integers(0, 3)) == 0:  # per dimension: (height, width)
            (kh, sh, ph, dh), (kw, sw, pw, dw) = draw(st.sampled_from(fits(h))), draw(st.sampled_from(fits(w)))
            k, stride, p, d = (kh, kw), (sh, sw), (ph, pw), (dh, dw)
        else:
            k, stride, p, d = draw(st.sampled_from([c_ for c_ in fits(min(h, w))
                                                    if conv_out(max(h, w), *c_) <= MAX_SIDE]))
            kh = kw = k
            sh = sw = stride
            ph = pw = p
            dh = dw = d
        groups = draw(st.sampled_from([g for g in range(1, min(c, out) + 1) if c % g == 0 and out % g == 0]))
        bias = draw(st.booleans())
        name_k, name_s, name_p = draw(st.sampled_from([("kernel", "stride", "padding"), ("k", "s", "p")]))
        text = call(draw, "conv2d", [("out", out), (name_k, k)],
                    [(name_s, stride, 1), (name_p, p, 0), ("dilation", d, 1), ("groups", groups, 1),
                     ("bias", bias, True)], params)
        return _maybe_spectral(draw, text, op), (out, conv_out(h, kh, sh, ph, dh), conv_out(w, kw, sw, pw, dw))
    if op == "conv_transpose2d":
        out = draw(st.integers(1, MAX_CHANNELS))

        def fits(size, other=None):
            return [(k, st_, p, o, d) for k in range(1, 5) for st_ in range(1, 4) for p in range(3) for o in range(3)
                    for d in range(1, 3)
                    if o < max(st_, d) and 1 <= deconv_out(size, k, st_, p, o, d)
                    and deconv_out(other or size, k, st_, p, o, d) <= MAX_SIDE]
        if draw(st.integers(0, 3)) == 0:
            ch, cw = fits(h), fits(w)
            if not ch or not cw:
                return "identity", s
            (kh, sh, ph, oh, dh), (kw, sw, pw, ow, dw) = draw(st.sampled_from(ch)), draw(st.sampled_from(cw))
            k, stride, p, o, d = (kh, kw), (sh, sw), (ph, pw), (oh, ow), (dh, dw)
        else:
            combos = fits(min(h, w), max(h, w))
            if not combos:
                return "identity", s
            k, stride, p, o, d = draw(st.sampled_from(combos))
            kh = kw = k
            sh = sw = stride
            ph = pw = p
            oh = ow = o
            dh = dw = d
        groups = draw(st.sampled_from([g for g in range(1, min(c, out) + 1) if c % g == 0 and out % g == 0]))
        bias = draw(st.booleans())
        text = call(draw, "conv_transpose2d", [("out", out), ("kernel", k)],
                    [("stride", stride, 1), ("padding", p, 0), ("output_padding", o, 0), ("groups", groups, 1),
                     ("bias", bias, True), ("dilation", d, 1)], params)
        return _maybe_spectral(draw, text, op), (out, deconv_out(h, kh, sh, ph, oh, dh),
                                                 deconv_out(w, kw, sw, pw, ow, dw))
    if op == "subpixel":
        scales = [r for r in (1, 2, 3) if max(h, w) * r <= MAX_SIDE]
        if not scales:
            return "identity", s
        out = draw(st.integers(1, 6))
        r = draw(st.sampled_from(scales))
        k = draw(st.sampled_from([1, 3, 5]))
        bias = draw(st.booleans())
        return call(draw, "subpixel", [("out", out)], [("scale", r, 2), ("kernel", k, 3), ("bias", bias, True)],
                    params), (out, h * r, w * r)
    if op == "pixel_shuffle":
        scales = [r for r in (1, 2, 3) if c % (r * r) == 0 and max(h, w) * r <= MAX_SIDE]
        r = draw(st.sampled_from(scales))  # r = 1 always fits
        return call(draw, "pixel_shuffle", [("scale", r)], [], params), (c // (r * r), h * r, w * r)
    if op == "upsample":
        scales = [r for r in (1, 2, 3) if max(h, w) * r <= MAX_SIDE]
        r = draw(st.sampled_from(scales))
        mode = draw(st.sampled_from(["nearest", "bilinear"]))
        return call(draw, "upsample", [], [("scale", r, 2), ("mode", mode, "nearest")], params), (c, h * r, w * r)
    if op in ("maxpool", "avgpool"):
        combos = [(k, st_, p) for k in range(1, 5) for st_ in (None, 1, 2, 3) for p in range(3)
                  if 2 * p <= k and k <= min(h, w) + 2 * p]
        k, stride, p = draw(st.sampled_from(combos))
        text = call(draw, op, [("kernel", k)], [("stride", stride, None), ("padding", p, 0)], params)
        s_ = stride if stride is not None else k
        return text, (c, conv_out(h, k, s_, p, 1), conv_out(w, k, s_, p, 1))
    if op == "adaptive_avgpool":
        size = draw(st.integers(1, 4))
        return call(draw, "adaptive_avgpool", [], [("size", size, 1)], params), (c, size, size)
    raise AssertionError(op)


# ---- statements ------------------------------------------------------------------------

def chain(draw, body: Body, s, n: int) -> tuple[list[str], object]:
    parts = []
    for _ in range(n):
        text, s = draw_layer(draw, s, body.params)
        parts.append(text)
    return parts, s


def combinable(body: Body, s, how: str) -> list[str]:
    """Named tensors that `concat`/`add` can join with a tensor of shape `s`."""
    out = []
    for name, t in list(body.pool.items()) + body.inputs:
        if isinstance(t, Label) or isinstance(s, Label) or rank(t) != rank(s) or rank(s) not in (1, 3):
            continue
        if how in ("add", "mul") and t == s:
            out.append(name)
        if how == "concat" and t[1:] == s[1:]:
            out.append(name)
    return out


def joined(how: str, shapes) -> tuple:
    if how in ("add", "mul"):
        return shapes[0]
    return (sum(t[0] for t in shapes),) + tuple(shapes[0][1:])


@st.composite
def statement(draw, body: Body) -> None:
    """Draw one statement, append its text and record its output shape."""
    kind = draw(st.sampled_from(["chain", "chain", "chain", "from_name", "from_name", "join", "join"]))
    named = draw(st.integers(0, 2)) > 0
    head = ""
    elements: list[str] = []
    s = body.current
    if kind == "from_name":
        names = list(body.pool) + [n for n, _ in body.inputs]
        source = draw(st.sampled_from(names))
        s = dict(body.inputs).get(source, body.pool.get(source))
        elements.append(source)
        more, s = chain(draw, body, s, draw(st.integers(0, 2)))
        elements += more
    elif kind == "join":
        how = draw(st.sampled_from(["concat", "add", "mul"]))
        form = draw(st.sampled_from(["first", "after_source", "after_chain"]))
        if form == "after_chain":  # `... -> relu -> concat(b)`: the chain's value comes first
            pre, s0 = chain(draw, body, s, draw(st.integers(1, 2)))
            partners = combinable(body, s0, how)
            if partners:
                others = draw(st.lists(st.sampled_from(partners), min_size=1, max_size=2))
                elements += pre + [f"{how}({', '.join(others)})"]
                s = joined(how, [s0] + [_shape_of(body, o) for o in others])
            else:
                elements += pre
                s = s0
        else:
            names = [n for n, t in list(body.pool.items()) + body.inputs
                     if not isinstance(t, Label) and rank(t) in (1, 3)]
            first = draw(st.sampled_from(names)) if names else None
            partners = combinable(body, _shape_of(body, first), how) if first else []
            if partners:
                others = draw(st.lists(st.sampled_from(partners), min_size=1, max_size=2))
                if form == "first":
                    elements.append(f"{how}({', '.join([first] + others)})")
                else:
                    elements += [first, f"{how}({', '.join(others)})"]
                s = joined(how, [_shape_of(body, first)] + [_shape_of(body, o) for o in others])
            else:
                more, s = chain(draw, body, s, 1)
                elements += more
        more, s = chain(draw, body, s, draw(st.integers(0, 1)))
        elements += more
    else:
        more, s = chain(draw, body, s, draw(st.integers(1, 3)))
        elements += more
    if not elements:  # cannot happen, but keep the body valid
        elements, s = chain(draw, body, s, 1)
    if named:
        name = body.fresh(draw)
        head = f"{name} = "
        body.pool[name] = s
    body.lines.append(head + " -> ".join(elements))
    body.current = s


def _shape_of(body: Body, name: str):
    return dict(body.inputs).get(name, body.pool.get(name))


@st.composite
def input_shape(draw):
    if draw(st.booleans()):
        return (draw(st.integers(1, 24)),)
    return (draw(st.integers(1, 4)), draw(st.integers(3, 12)), draw(st.integers(3, 12)))


@st.composite
def body(draw, inputs: list[tuple[str, object]], params: dict[str, int], max_statements: int = 6) -> Body:
    """A valid body reading `inputs` (the first is the implicit source of the first statement)."""
    b = Body(inputs=list(inputs), params=params)
    b.current = inputs[0][1]
    for _ in range(draw(st.integers(1, max_statements))):
        draw(statement(b))
    return b


def finish_single(draw, b: Body) -> object:
    """Make the last statement's output a declarable type (rank 1 or 3, not labels)."""
    s = b.current
    if isinstance(s, Label):
        b.lines.append("onehot")
        s = (s.classes,)
    elif rank(s) == 2:
        b.lines.append("flatten")
        s = (numel(s),)
    b.current = s
    return s


# ---- whole specs --------------------------------------------------------------------

@dataclass
class Spec:
    text: str
    mode: str
    network: str  # the network whose body was drawn
    body: Body
    fault: tuple[int, int, str] | None = None  # (start, end, kind) of the faulty statement


def _render_body(head: str, lines: list[str], before: str, fault_line: int | None):
    """The network's text, and the span of line `fault_line` of its body within the whole spec."""
    offset = len(before) + len(head)
    span = None
    for i, line in enumerate(lines):
        if i == fault_line:
            span = (offset + 4, offset + 4 + len(line))
        offset += 4 + len(line) + 1
    return head + "\n".join("    " + line for line in lines) + "\n}", span


def _data_type(draw, s) -> str:
    if len(s) == 3:
        return draw(st.sampled_from(["image", ""])) + fmt(s)
    return draw(st.sampled_from(["vector", ""])) + fmt(s)


@st.composite
def spec(draw, modes=("network", "network", "encoder", "decoder"), max_statements: int = 6,
         with_fault: bool = False) -> Spec:
    """A complete, valid spec around a drawn body; with `with_fault`, one faulty statement at its end."""
    mode = draw(st.sampled_from(modes))
    fault_kind = None
    x_name = draw(st.sampled_from(DATA_NAMES))
    net = draw(st.sampled_from([n for n in NETWORK_NAMES if n != x_name]))
    params = {f"p{i}": draw(st.integers(1, 8)) for i in range(draw(st.integers(0, 3)))}
    x_shape = draw(input_shape())
    with_label = draw(st.integers(0, 3)) == 0
    label = Label(draw(st.integers(2, 10))) if with_label else None
    y_name = "y" if x_name != "y" else "labels"

    lines = ["model prop_" + mode]
    lines += [f"param {k} = {v}" for k, v in params.items()]
    lines.append(f"data {x_name}: {_data_type(draw, x_shape)}" + (" in [0, 1]" if draw(st.booleans()) else ""))
    if label:
        lines.append(f"data {y_name}: label[{label.classes}]")

    if mode == "decoder":
        code_shape = draw(input_shape())
        code_type = fmt(code_shape) if len(code_shape) == 1 else draw(st.sampled_from(["image", ""])) + fmt(code_shape)
        enc_tail = "" if len(code_shape) == 1 else f" -> reshape({', '.join(map(str, code_shape))})"
        lines.append(f"encoder enc0({x_name}) -> {code_type} {{\n"
                     f"    flatten -> linear({numel(code_shape)}){enc_tail}\n}}")
        inputs = [("code", code_shape)] + ([(y_name, label)] if label else [])
        b = draw(body(inputs, params, max_statements))
        finish_single(draw, b)
        if with_fault:
            text, fault_kind = draw(fault(b))
            b.lines.append(text)
        tail = f"flatten -> linear({numel(x_shape)})" + (
            f" -> reshape({', '.join(map(str, x_shape))})" if len(x_shape) == 3 else "")
        signature = f"code: {code_type}" + (f", {y_name}" if label else "")
        head = f"decoder {net}({signature}) -> {fmt(x_shape)} {{\n"
        network, span = _render_body(head, b.lines + [tail], "\n".join(lines) + "\n",
                                     len(b.lines) - 1 if with_fault else None)
        lines.append(network)
        call_args = "c" + (f", {y_name}" if label else "")
        lines.append(f"forward {{\n    c = enc0({x_name})\n    x_hat = {net}({call_args})\n}}")
        lines.append(f"loss = mse(x_hat, {x_name})")
        return Spec("\n".join(lines) + "\n", mode, net, b, span + (fault_kind,) if with_fault else None)

    inputs = [(x_name, x_shape)] + ([(y_name, label)] if label else [])
    b = draw(body(inputs, params, max_statements))
    heads = [n for n, t in b.pool.items() if not isinstance(t, Label) and rank(t) in (1, 3)]
    if heads and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(heads), min_size=1, max_size=3, unique=True))
        outputs = "(" + ", ".join(f"{n}: {fmt(b.pool[n])}" for n in chosen) + ")"
        out_shapes = [b.pool[n] for n in chosen]
    else:
        s = finish_single(draw, b)
        outputs = fmt(s)
        out_shapes = [s]
    if with_fault:
        text, fault_kind = draw(fault(b))
        b.lines.append(text)
    role = "network" if mode == "network" else "encoder"
    signature = ", ".join(n for n, _ in inputs)
    head = f"{role} {net}({signature}) -> {outputs} {{\n"
    network, span = _render_body(head, b.lines, "\n".join(lines) + "\n", len(b.lines) - 1 if with_fault else None)
    lines.append(network)
    targets = [f"o{i}" for i in range(len(out_shapes))]
    args = ", ".join(n for n, _ in inputs)
    if mode == "network":
        # a second, trainable network: the drawn body may have no parameters, and a model must train something
        aux = "aux" if net != "aux" else "aux2"
        lines.append(f"network {aux}({x_name}) -> [1] {{\n    flatten -> linear(1)\n}}")
        lines.append(f"forward {{\n    {', '.join(targets)} = {net}({args})\n    a = {aux}({x_name})\n}}")
        lines.append("loss = " + " + ".join(f"l1_activity({t})" for t in targets + ["a"]))
    else:
        code = out_shapes[0]
        tail = f"flatten -> linear({numel(x_shape)})" + (
            f" -> reshape({', '.join(map(str, x_shape))})" if len(x_shape) == 3 else "")
        lines.append(f"decoder dec0(code: {fmt(code)}) -> {fmt(x_shape)} {{\n    {tail}\n}}")
        lines.append(f"forward {{\n    {', '.join(targets)} = {net}({args})\n    x_hat = dec0(o0)\n}}")
        lines.append(f"loss = mse(x_hat, {x_name})" + "".join(f" + l1_activity({t})" for t in targets[1:]))
    return Spec("\n".join(lines) + "\n", mode, net, b, span + (fault_kind,) if with_fault else None)


# ---- faults: one statement that makes a valid body invalid -------------------------------

@st.composite
def fault(draw, b: Body) -> tuple[str, str]:
    """(statement text, what is wrong) for a statement appended after the body's last one."""
    s = b.current
    names = list(b.pool) + [n for n, _ in b.inputs]
    kinds = ["unknown_layer", "unknown_name", "bad_reshape", "bad_dim", "out_of_range", "bad_kwarg", "too_many",
             "wrong_rank", "bad_wrap", "keyword_only"]
    if isinstance(s, Label):
        kinds = ["unknown_layer", "unknown_name", "label_to_layer", "bad_kwarg"]
    elif rank(s) == 3:
        kinds += ["kernel_too_large", "kernel_too_large", "pool_too_large", "pixel_shuffle", "output_padding",
                  "reflect_pad", "kernel_pair_too_large"]
        if s[1] * s[2] == 1:
            kinds.append("instancenorm_1x1")
    if not isinstance(s, Label) and rank(s) in (1, 3) and any(s[0] % g for g in range(2, 9)):
        kinds.append("groupnorm_divide")
    if any(not isinstance(t, Label) and rank(t) in (1, 3) for t in list(b.pool.values()) + [t for _, t in b.inputs]):
        kinds += ["bad_concat", "bad_add", "concat_expr"]
    kind = draw(st.sampled_from(kinds))

    if kind == "unknown_layer":
        word = draw(st.sampled_from(["lienar(4)", "rleu", "conv2(3, 3)", "flaten", "batch_norm", "Linear(3)",
                                     "sigmoind", "maxpool2d(2)", "dense(10)", "relu6"]))
        return word, kind
    if kind == "unknown_name":
        base = draw(st.sampled_from(names))
        return f"{base}_typo -> relu", kind
    if kind == "label_to_layer":
        return draw(st.sampled_from(["linear(3)", "relu", "flatten", "conv2d(2, 1)", "reshape(1)"])), kind
    if kind == "bad_reshape":
        n = numel(s)
        return draw(st.sampled_from([f"reshape({n + 1})", f"reshape({n}, 2)", f"reshape(2, {n})",
                                     f"reshape({n}, {n + 1}, 1)"])), kind
    if kind == "bad_dim":
        return draw(st.sampled_from(["linear(0)", "linear(-3)", "linear(2.5)", "linear(7 / 2)", "reshape(-1)",
                                     f"reshape({numel(s)}, -1)" if rank(s) != 3 else "reshape(0, 1, 1)",
                                     "linear(1e999)", "linear(10**10**10)", "linear(2**60)", 'linear("8")',
                                     "linear(true)", "topk(0)"])), kind
    if kind == "out_of_range":
        return draw(st.sampled_from(["dropout(1.5)", "dropout(p=-0.1)", "dropout(1)", "leaky_relu(-1)",
                                     "batchnorm(momentum=2)", "batchnorm(eps=0 - 1)", "elu(alpha=-2)",
                                     f"topk({numel(s) + 1})", "upsample(mode=trilinear)", "upsample(0)",
                                     "softplus(beta=-1)", "batchnorm(affine=3)", "dropout(p=relu)"])), kind
    if kind == "bad_kwarg":
        return draw(st.sampled_from(["linear(4, bais=false)", "relu(inplace=true)", "conv2d(4, 3, strides=2)",
                                     "dropout(q=0.5)", "linear(4, out=5)", "linear(4, bias=false, bias=true)"])), kind
    if kind == "too_many":
        return draw(st.sampled_from(["relu(3)", "flatten(1)", "dropout(0.1, 0.2)", "tanh(1, 2)"])), kind
    if kind == "wrong_rank":
        if rank(s) == 3:
            return draw(st.sampled_from(["linear(5)", "linear(out=1)"])), kind
        if rank(s) == 2:
            return draw(st.sampled_from(["linear(5)", "conv2d(4, 1)", "batchnorm", "maxpool(1)"])), kind
        return draw(st.sampled_from(["conv2d(4, 1)", "conv_transpose2d(2, 2)", "maxpool(1)", "avgpool(1)",
                                     "upsample", "pixel_shuffle(1)", "subpixel(2)", "adaptive_avgpool",
                                     "embedding(4)", "onehot"])), kind
    c, h, w = s if rank(s) == 3 else (1, 1, 1)
    if kind == "kernel_too_large":
        p = draw(st.integers(0, 2))
        k = max(h, w) + 2 * p + draw(st.integers(1, 3))
        return f"conv2d(2, {k}, padding={p})", kind
    if kind == "pool_too_large":
        k = max(h, w) + draw(st.integers(1, 3))
        return f"{draw(st.sampled_from(['maxpool', 'avgpool']))}({k})", kind
    if kind == "pixel_shuffle":
        r = draw(st.sampled_from([r for r in (2, 3, 4, 5) if c % (r * r)]))
        return f"pixel_shuffle({r})", kind
    if kind == "output_padding":
        stride = draw(st.integers(1, 3))
        return f"conv_transpose2d(2, 3, stride={stride}, output_padding={stride})", kind
    if kind == "bad_wrap":
        return draw(st.sampled_from(["spectral_norm(relu)", "spectral_norm(batchnorm())", "spectral_norm(linear(2), 3)",
                                     "spectral_norm(flatten)", "spectral_norm()"])), kind
    if kind == "keyword_only":  # a position torch would read as something else
        return draw(st.sampled_from(["upsample(2, bilinear)", "groupnorm(1, 1e-3)", "pad(1, reflect)"])), kind
    if kind == "reflect_pad":
        return f"pad({max(h, w) + draw(st.integers(0, 2))}, mode=reflect)", kind
    if kind == "kernel_pair_too_large":
        return f"conv2d(2, ({h + 1}, 1))" if draw(st.booleans()) else f"conv2d(2, (1, {w + 1}))", kind
    if kind == "instancenorm_1x1":
        return "instancenorm", kind
    if kind == "groupnorm_divide":
        return f"groupnorm({next(g for g in range(2, 9) if s[0] % g)})", kind
    vectors_or_images = [(n, t) for n, t in list(b.pool.items()) + b.inputs
                         if not isinstance(t, Label) and rank(t) in (1, 3)]
    first, t = draw(st.sampled_from(vectors_or_images))
    if kind == "concat_expr":
        return f"concat({first}, {draw(st.sampled_from(['3', 'relu(x)', '[1]', first + ' + 1']))})", kind
    mismatched = [n for n, u in vectors_or_images
                  if (rank(u) != rank(t) or u[1:] != t[1:] if kind == "bad_concat" else u != t)]
    if not mismatched:  # make one: a named statement that changes the shape
        return f"{first} -> {kind[4:]}({first}_missing)", "unknown_name"
    other = draw(st.sampled_from(mismatched))
    return f"{kind[4:]}({first}, {other})", kind


# ---- variants: a library, a base and two levels over it ----------------------------------

LIBRARY = """\
# reusable pieces, no model
network FmtTail[n, width = 4](h: [n]) -> [n] {
    hid = linear(width) -> relu
    out = linear(n)
}

train quick {
    optimizer = adam(lr=1e-3)
    epochs = 2
}
"""


@st.composite
def variant(draw) -> dict[str, str]:
    """Files that compile together: `lib.gen` (a parameterised network and a train block), `base.gen` (a
    drawn spec), `mid.gen` over it and `v.gen` over that, using every construct of variants: imports
    (`as` and `from`), `extends` (a file and an alias), instances, `override` of params, networks,
    `forward` and loss terms, named edits (`override net.s = ...`, `insert after|before`, `remove net.s`),
    `remove` of a declaration and of a loss term, and a train block over a library's (`override`,
    `remove`). Every change keeps the model valid (an inserted `identity` keeps each shape)."""
    base = draw(spec())
    text, net = base.text, base.network
    network = re.search(r"^(?:network|encoder|decoder) %s\(.*?^\}" % re.escape(net), text, re.M | re.S).group()
    forward = re.search(r"^forward \{.*?^\}", text, re.M | re.S).group()
    loss = re.search(r"^loss = (.*)$", text, re.M).group(1)
    named = [n for n, t in base.body.pool.items() if not isinstance(t, Label)]
    kept, dropped = "fmt_kept", "fmt_dropped"  # no drawn name starts with `fmt_`
    params = [line for line in text.splitlines() if line.startswith("param ")]

    mid = ['model mid extends "base.gen"', "param fmt_unused = 1"]
    edit_network = bool(named) and draw(st.booleans())
    if edit_network:
        anchor = draw(st.sampled_from(named))
        mid.append(f"insert after {net}.{anchor} {{\n    {kept} = identity\n    {dropped} = identity\n}}")
    mid.append(f"loss fmt_extra = 0.5 * ({loss})")

    v = []
    if draw(st.booleans()):
        v.append('import "lib.gen" as lib')
        tail, quick = "lib.FmtTail", "lib.quick"
    else:
        v.append('from "lib.gen" import FmtTail, quick')
        tail, quick = "FmtTail", "quick"
    if draw(st.booleans()):
        v += ['import "mid.gen" as mid', "model v extends mid"]
    else:
        v.append('model v extends "mid.gen"')
    if params and draw(st.booleans()):
        v.append("override " + draw(st.sampled_from(params)))
    v.append("remove fmt_unused")
    v.append(f"network fmt_tail = {tail}(n={draw(st.integers(1, 9))}" +
             (f", width={draw(st.integers(1, 9))})" if draw(st.booleans()) else ")"))
    if edit_network:
        v.append(f"insert before {net}.{kept} {{ identity }}")
        v.append(f"override {net}.{kept} = identity -> identity")
        v.append(f"remove {net}.{dropped}")
    elif draw(st.booleans()):
        v.append("override " + network)
    if draw(st.booleans()):
        v.append("override " + forward)
    if draw(st.booleans()):
        v.append("remove loss fmt_extra")
    else:
        v.append(f"override loss fmt_extra = 0.25 * ({loss})")
    settings = ["override epochs = %d" % draw(st.integers(1, 5)), "batch_size = 16"]
    if draw(st.booleans()):
        settings.append("remove optimizer")
    v.append(f"train extends {quick} {{\n" + "".join(f"    {s}\n" for s in settings) + "}")
    return {"lib.gen": LIBRARY, "base.gen": text, "mid.gen": "\n".join(mid) + "\n", "v.gen": "\n".join(v) + "\n"}
