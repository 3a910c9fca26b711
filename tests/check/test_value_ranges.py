"""Every numeric argument the checker accepts is one torch accepts (issue 15).

The ranges are data (gendsl/check/ranges.py, the layer table, training.py's tables); the
property test draws values anywhere in them, compiles a spec using every layer argument,
optimizer, learning-rate schedule, init and setting, and trains it for one step on fake data:
it must never raise. The edge cases that used to pass the checker and crash torch are refused
with a located error.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gendsl.check.layers import OPS
from gendsl.check.ranges import Range
from gendsl.check.training import INITS, LR_SCHEDULES, OPTIMIZERS, SETTINGS, WEIGHT
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from train_support import compile_to, imported

SPEC = """model ranges
data x: [6] in [0, 1]
schedule w = linear({w0}, {w1}, steps=3)
encoder enc(x) -> [3] {{
    linear(8) -> batchnorm({bn}) -> leaky_relu({leaky})
    linear(8) -> layernorm({ln}) -> elu({elu}) -> dropout({dropout})
    linear(8) -> softplus({softplus})
    linear(3)
}}
decoder dec(z: [3]) -> [6] {{
    linear(6) -> sigmoid
}}
forward {{
    z = enc(x)
    x_hat = dec(z)
}}
loss = w * mse(x_hat, x)
train {{
    optimizer = {optimizer}
    lr_schedule = {lr_schedule}
    init = {init}
{settings}
}}
"""
LAYERS = {"bn": "batchnorm", "leaky": "leaky_relu", "ln": "layernorm", "elu": "elu", "dropout": "dropout",
          "softplus": "softplus"}


def _number(r: Range, kind: str):
    if kind == "int":
        return st.integers(int(r.low), int(r.high) if r.high is not None else 2**31 - 1)
    return st.floats(r.low, r.high, exclude_min=r.low_open, exclude_max=r.high_open, allow_nan=False,
                     allow_infinity=False)


def _text(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return repr(v) if isinstance(v, float) else str(v)


@st.composite
def _call(draw, table: dict, name: str | None = None) -> str:
    name = name or draw(st.sampled_from(sorted(table)))
    options = []
    for option, (kind, default, valid) in table[name].items():
        if kind == "pair":
            value = "(" + ", ".join(_text(draw(_number(Range(0, 1, high_open=True), "float"))) for _ in "ab") + ")"
        elif kind == "bool":
            value = _text(draw(st.booleans()))
        else:
            value = _text(draw(_number(valid, kind)))
        options.append(f"{option}={value}")
    if name == "sgd" and "nesterov=true" in options:  # torch: Nesterov needs momentum (tested below)
        options = [o if not o.startswith("momentum=") else "momentum=0.9" for o in options]
    return f"{name}({', '.join(options)})"


@st.composite
def specs(draw) -> str:
    layers = {}
    for key, op in LAYERS.items():
        args = []
        for arg in OPS[op].args:
            if arg.kind == "float":
                r = Range(arg.low, arg.high, arg.low_open, arg.high_open)
                args.append(f"{arg.name}={_text(draw(_number(r, 'float')))}")
            elif arg.kind == "bool":
                args.append(f"{arg.name}={_text(draw(st.booleans()))}")
        layers[key] = ", ".join(args)
    chosen = {}
    for key, valid in SETTINGS.items():
        if valid is not None and key != "n_critic":  # n_critic is d_steps' other name
            chosen[key] = draw(_number(valid, "int"))
    return SPEC.format(
        **layers, w0=_text(draw(_number(WEIGHT, "float"))), w1=_text(draw(_number(WEIGHT, "float"))),
        optimizer=draw(_call(OPTIMIZERS)), lr_schedule=draw(_call(LR_SCHEDULES)), init=draw(_call(INITS)),
        settings="\n".join(f"    {k} = {v}" for k, v in chosen.items()))


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(specs())
def test_every_accepted_value_trains_one_step(tmp_path, text):
    result = compile_source(SourceFile("ranges.gen", text), emit_files=False)
    assert result.ok, [d.message for d in result.diagnostics]
    folder = compile_to(tmp_path / f"r{abs(hash(text))}", text=text)
    with imported(folder) as train:
        status = train.main(["--dry-run", "--steps", "1", "--quiet", "--no-plots", "--out", str(folder / "run"),
                             "--batch-size", "4"])
    assert status == 0


def _refused(text: str, snippet: str) -> str:
    result = compile_source(SourceFile("r.gen", text))
    assert not result.ok
    d = next(d for d in result.diagnostics if d.is_error)
    assert d.code == "E0220", (d.code, d.message)
    assert text[d.span.start:d.span.end] == snippet, (text[d.span.start:d.span.end], snippet)
    return d.message


BASE = SPEC.format(bn="", leaky="", ln="", elu="", dropout="", softplus="", w0=1, w1=1, optimizer="adam",
                   lr_schedule="constant", init="default", settings="")


@pytest.mark.parametrize("layer, arg, value", [
    ("batchnorm()", "eps", "0"), ("batchnorm()", "eps", "1e-300"), ("layernorm()", "eps", "0"),
    ("softplus()", "beta", "0"), ("leaky_relu()", "slope", "-0.5"), ("-> elu()", "alpha", "-1"),
    ("leaky_relu()", "slope", "1e39"), ("batchnorm()", "momentum", "1.5"),
])
def test_layer_values_torch_refuses_are_located_errors(layer, arg, value):
    text = BASE.replace(layer, layer[:-1] + f"{arg}={value})", 1)
    assert text != BASE
    assert f"`{arg}`" in _refused(text, value)


@pytest.mark.parametrize("setting, bad", [
    ("optimizer = adam", "optimizer = sgd(lr=0.1, nesterov=true)"),
    ("lr_schedule = constant", "lr_schedule = linear(end_factor=2.0)"),
    ("lr_schedule = constant", "lr_schedule = exponential(gamma=1.5)"),
    ("optimizer = adam", "optimizer = adam(lr=0)"),
    ("optimizer = adam", "optimizer = adam(eps=0)"),
    ("optimizer = adam", "optimizer = rmsprop(alpha=2)"),
    ("init = default", "init = normal(std=1e39)"),
    ("init = default", "init = default\n    seed = 4294967296"),
    ("init = default", "init = default\n    batch_size = 1000000"),
])
def test_training_values_torch_refuses_are_located_errors(setting, bad):
    text = BASE.replace(setting, bad, 1)
    snippet = {"optimizer = sgd(lr=0.1, nesterov=true)": "true"}.get(bad)
    if snippet is None:
        snippet = bad.rsplit("=", 1)[1].strip().rstrip(")")
    _refused(text, snippet)


def test_loss_weight_schedule_that_overflows_float32_is_refused():
    _refused(BASE.replace("linear(1, 1", "linear(1, 1e300", 1), "1e300")


def test_every_range_is_finite_in_float32():
    """A bound beyond float32 would let a value through that is infinite in the generated code."""
    ranges = [Range(a.low, a.high, a.low_open, a.high_open) for op in OPS.values() for a in op.args
              if a.kind == "float"]
    ranges += [valid for table in (OPTIMIZERS, LR_SCHEDULES, INITS) for spec in table.values()
               for (kind, _, valid) in spec.values() if kind == "float"]
    for r in ranges:
        assert r.low is not None and r.high is not None and math.isfinite(r.high) and r.high <= 3.4e38, r
