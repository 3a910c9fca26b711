"""Property tests: random valid networks compile, and torch agrees with every inferred shape and
parameter count; random invalid ones are refused with located diagnostics, never a crash.

The bodies come from tests/spec_strategies.py, which tracks shapes while drawing layers.
Each compiled model.py is executed as an instrumented copy: after every assignment in a
`forward`, the variable's shape is recorded, so each layer's inferred output shape (not
only the network's outputs) is compared with what torch computes.
"""

from __future__ import annotations

import ast
import contextlib
import io
import sys
import tempfile
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spec_strategies as S  # noqa: E402

from gendsl.cli import main as cli_main  # noqa: E402
from gendsl.driver import compile_source  # noqa: E402
from gendsl.lower.names import layer_attributes  # noqa: E402
from gendsl.source import SourceFile  # noqa: E402
from gendsl.lower.names import network_class_names  # noqa: E402
from model_support import networks_of  # noqa: E402

torch = pytest.importorskip("torch")

PROPERTY = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class _Trace(ast.NodeTransformer):
    """After each `name = ...` in a `forward`, append (name, shape) to the module's `_TRACE`."""

    def visit_FunctionDef(self, node):
        if node.name != "forward":
            return node
        body = []
        for stmt in node.body:
            body.append(stmt)
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                name = stmt.targets[0].id
                body.append(ast.parse(f"_TRACE.append(({name!r}, tuple({name}.shape)))").body[0])
        node.body = body
        return node


def load_traced(code: str, name: str = "prop_model"):
    tree = ast.fix_missing_locations(_Trace().visit(ast.parse(code)))
    module = types.ModuleType(name)
    module._TRACE = []
    sys.modules[name] = module  # dataclasses look their module up while the class body runs
    try:
        exec(compile(tree, f"<{name}>", "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


def sample(t, batch: int, gen):
    if t.is_label:
        return torch.randint(0, t.classes, (batch,), generator=gen)
    return torch.randn((batch, *t.shape), generator=gen)


def expected_trace(net, batch: int) -> list[tuple[str, tuple]]:
    """What the compiler promises: one (variable, shape) per emitted forward line."""
    out = []
    for layer in net.layers:
        if layer.op == "identity" and layer.inputs[0] == layer.var:
            continue  # no line is emitted for an alias of itself
        shape = (batch,) if layer.out.is_label else (batch, *layer.out.shape)
        out.append((layer.var, shape))
    return out


def compile_ok(text: str):
    result = compile_source(SourceFile("prop.gen", text))
    errors = [f"{d.code} {d.message} at {d.span}" for d in result.diagnostics if d.is_error]
    assert result.ok, "valid spec refused:\n" + text + "\n" + "\n".join(errors)
    return result


def run_and_compare(result, batch: int) -> None:
    module = load_traced(result.files["model.py"])
    nets = networks_of(module)
    gen = torch.Generator().manual_seed(0)
    assert list(nets) == [n.name for n in result.model.networks]
    for checked in result.model.networks:
        net = nets[checked.name]
        assert type(net).__name__ == network_class_names(result.model)[checked.name]
        net.eval()
        inputs = [sample(t, batch, gen) for _, t in checked.inputs]
        module._TRACE.clear()
        with torch.no_grad():
            out = net(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        # every layer's output shape
        assert module._TRACE == expected_trace(checked, batch), checked.name
        # the outputs, head by head
        assert len(outs) == len(checked.outputs) + len(checked.taps)
        for tensor, (head, t, _) in zip(outs, checked.outputs):
            assert tuple(tensor.shape) == (batch, *t.shape), (checked.name, head)
            assert torch.isfinite(tensor).all() or checked.layers  # runs; values may be anything
        # parameters: layer by layer, and in total
        counted = 0
        for layer, attr in zip(checked.layers, layer_attributes(checked)):
            if attr is None:
                assert layer.params == 0, (layer.op, layer.params)
                continue
            module_params = sum(p.numel() for p in getattr(net, attr).parameters())
            assert module_params == layer.params, (checked.name, attr, layer.op)
            counted += module_params
        total = sum(p.numel() for p in net.parameters())
        assert total == checked.param_count == counted, checked.name


@PROPERTY
@given(S.spec(), st.sampled_from([2, 3]))
def test_valid_networks_match_torch(spec, batch):
    result = compile_ok(spec.text)
    run_and_compare(result, batch)


@settings(PROPERTY, max_examples=60)
@given(S.spec(with_fault=True))
def test_invalid_networks_give_located_diagnostics(spec):
    result = compile_source(SourceFile("bad.gen", spec.text))  # must not raise
    assert not result.ok, "invalid spec accepted:\n" + spec.text
    errors = [d for d in result.diagnostics if d.is_error]
    assert errors
    for d in result.diagnostics:
        assert d.span is not None and 0 <= d.span.start <= d.span.end <= len(spec.text), (d, spec.text)
    start, end, kind = spec.fault
    # the faulty statement itself is blamed (not only something downstream of it)
    assert any(start <= d.span.start and d.span.end <= end for d in errors), (
        kind, spec.text[start:end], [(d.code, d.message, spec.text[d.span.start:d.span.end]) for d in errors])


@settings(PROPERTY, max_examples=25)
@given(S.spec(with_fault=True))
def test_cli_exits_1_on_invalid_networks(spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.gen"
        path.write_text(spec.text, encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = cli_main(["check", str(path)])
    assert status == 1, err.getvalue()
    assert "error[" in err.getvalue() and "internal error" not in err.getvalue()


BAD_TYPES = ["[0]", "[-3]", "[2.5]", "[7 / 2]", "image[1, -28, 28]", "image[3, 8]", "[1, 2]", "[]",
             "vector[2, 2]", "label[1]", "[1e999]", "[10**10**10]", "[2**60]", '["8"]', "[true]", "imag[1, 8, 8]"]


@settings(PROPERTY, max_examples=40)
@given(S.spec(modes=("network",)), st.sampled_from(BAD_TYPES))
def test_invalid_data_types_give_located_diagnostics(spec, bad):
    lines = spec.text.split("\n")
    i = next(k for k, line in enumerate(lines) if line.startswith("data ") and "label[" not in line)
    name = lines[i].split(":")[0]
    lines[i] = f"{name}: {bad}"
    text = "\n".join(lines)
    result = compile_source(SourceFile("bad.gen", text))
    assert not result.ok
    start = sum(len(line) + 1 for line in lines[:i])
    errors = [d for d in result.diagnostics if d.is_error]
    assert any(start <= d.span.start < start + len(lines[i]) for d in errors), (bad, errors)
    for d in result.diagnostics:
        assert 0 <= d.span.start <= d.span.end <= len(text)


def test_trace_instrumentation_can_fail():
    """The comparison is not vacuous: a wrong promise is caught."""
    result = compile_ok("model m\ndata x: image[2, 6, 6]\nnetwork net(x) -> [4] {\n"
                        "    conv2d(3, 3) -> relu -> maxpool(2) -> flatten -> linear(4)\n}\n"
                        "forward { y = net(x) }\nloss = l1_activity(y)\n")
    checked = result.model.networks[0]
    assert expected_trace(checked, 2)
    checked.layers[-1].out = type(checked.layers[-1].out)((999,))
    with pytest.raises(AssertionError):
        run_and_compare(result, 2)
