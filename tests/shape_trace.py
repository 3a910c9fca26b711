"""Running a generated model.py with every forward assignment traced, and comparing each layer's
output shape and parameter count with what the checker inferred (tests/check/test_shape_properties.py,
tests/emit/test_injection.py)."""

from __future__ import annotations

import ast
import sys
import types

import torch

from gendsl.lower.names import layer_attributes, network_class_names
from model_support import networks_of


class _Trace(ast.NodeTransformer):
    """After each `name = ...` in a network's `forward`, append (name, shape) to the module's `_TRACE`
    (helper modules such as `SelfAttention` keep their own variables to themselves)."""

    def __init__(self, classes: set[str] | None = None):
        self.classes = classes

    def visit_ClassDef(self, node):
        if self.classes is None or node.name in self.classes:
            self.generic_visit(node)
        return node

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


def load_traced(code: str, name: str = "prop_model", classes: set[str] | None = None):
    tree = ast.fix_missing_locations(_Trace(classes).visit(ast.parse(code)))
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


def run_and_compare(result, batch: int) -> None:
    module = load_traced(result.files["model.py"], classes=set(network_class_names(result.model).values()))
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
