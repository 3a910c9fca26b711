"""Smoke test: every spec's generated model.py builds and runs in torch with the shapes and
parameter counts the compiler (and `gendsl summary`) promised."""

from __future__ import annotations

import importlib.util
import sys
import re
from pathlib import Path

import pytest

from gendsl.driver import compile_source
from gendsl.lower.names import layer_attributes
from gendsl.source import SourceFile
from gendsl.summary import summary_table
from model_support import networks_of

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.gen")) + sorted((ROOT / "tests" / "cases").glob("*/spec.gen"))
BATCH = 2


def _id(path: Path) -> str:
    return path.stem if path.parent.name == "specs" else f"case-{path.parent.name}"


def _load(text: str, folder: Path, name: str):
    path = folder / f"{name}_model.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"{name}_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def _recorder(seen: dict, attr: str):
    def hook(module, inputs, output):  # returns None: the output is left alone
        seen[attr] = tuple(output.shape)
    return hook


def _input(t, gen):
    if t.is_label:
        return torch.randint(0, t.classes, (BATCH,), generator=gen, dtype=torch.int64)
    return torch.randn((BATCH, *t.shape), generator=gen)


@pytest.mark.parametrize("path", SPECS, ids=[_id(p) for p in SPECS])
def test_generated_model_runs(path, tmp_path):
    shown = path.relative_to(ROOT).as_posix()
    result = compile_source(SourceFile(shown, path.read_text(encoding="utf-8"), origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    model = result.model
    module = _load(result.files["model.py"], tmp_path, model.name)

    torch.manual_seed(0)
    nets = networks_of(module)
    assert list(nets) == [n.name for n in model.networks]
    totals = re.findall(r"^total: ([\d,]+) parameters$", summary_table(model), re.M)
    summary_totals = [int(n.replace(",", "")) for n in totals]
    assert summary_totals == [n.param_count for n in model.networks]

    gen = torch.Generator().manual_seed(0)
    for net in model.networks:
        module_net = nets[net.name]
        assert isinstance(module_net, torch.nn.Module)
        assert sum(p.numel() for p in module_net.parameters()) == net.param_count, net.name

        # every layer that owns a module produces the shape the checker inferred
        seen = {}
        hooks = []
        attrs = dict(zip(map(id, net.layers), layer_attributes(net)))
        hooked = [layer for layer in net.layers
                  if attrs[id(layer)] is not None and layer.op != "subpixel"]  # subpixel: a conv, then a shuffle
        for layer in hooked:
            attr = attrs[id(layer)]
            hooks.append(getattr(module_net, attr).register_forward_hook(_recorder(seen, attr)))
        inputs = [_input(t, gen) for _, t in net.inputs]
        module_net.train()  # batch statistics and dropout active, as in training
        with torch.no_grad():
            out = module_net(*inputs)
        for h in hooks:
            h.remove()
        assert sorted(seen) == sorted(attrs[id(layer)] for layer in hooked), net.name  # every module ran
        for layer in hooked:
            attr = attrs[id(layer)]
            assert seen[attr] == (BATCH, *layer.out.shape), f"{net.name}.{attr} ({layer.op})"

        outs = out if isinstance(out, tuple) else (out,)
        expected = [t for _, t, _ in net.outputs] + [t for _, t in net.taps]
        assert len(outs) == len(expected), net.name
        for value, t in zip(outs, expected):
            assert value.dtype == torch.float32
            assert tuple(value.shape) == (BATCH, *t.shape), net.name
            assert torch.isfinite(value).all(), net.name

        module_net.eval()
        with torch.no_grad():
            out_eval = module_net(*inputs)
        outs_eval = out_eval if isinstance(out_eval, tuple) else (out_eval,)
        assert [tuple(v.shape) for v in outs_eval] == [tuple(v.shape) for v in outs]
