"""`python train.py export`: a trained model's generator/decoder and encoder as ONNX files and
torch.export programs, for serving without the training code.

    python train.py export                                    # both formats, from runs/NAME
    python train.py export --onnx --checkpoint runs/NAME/checkpoints/last.pt --out exported/
    python train.py export --network G                        # one network (pix2pix's translator)

Each of the model's methods that exist among `generate` (latents [, labels] -> samples), `encode`
(data -> code) and `decode` (code -> reconstruction) is traced once by `torch.export.export` with
a dynamic batch dimension; that program is saved as OUT/<method>.pt2 (`torch.export.save`) and
converted to OUT/<method>.onnx (`torch.onnx.export`, its dynamo exporter, with onnxscript). With
`--network NAME` the named networks are exported instead, whatever they take (an image-to-image
generator's image, a discriminator's pair): their example inputs are what the model hands them
on a batch of random data in the spec's shapes and ranges, in the generated `validate`. Then
each file is checked: onnx's checker, onnxruntime's output against torch's (when onnxruntime is
installed), the reloaded program's output against torch's, both at another batch size than the
traced one. OUT/export.json lists the files, their inputs and outputs and the checks' figures.
"""

import argparse
import inspect
import sys
from pathlib import Path

import torch

from . import loop
from .outputs import atomic_write_json

__all__ = ["METHODS", "Method", "export_all", "main"]

METHODS = ("generate", "encode", "decode")
OUTPUTS = {"generate": "samples", "encode": "code", "decode": "reconstruction"}
TRACE_BATCH, CHECK_BATCH = 3, 5  # batch sizes of the traced inputs and of the checks
TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # onnxruntime and torch differ by float round-off
INSTALL = "pip install onnx onnxscript onnxruntime (gendsl's [export] extra)"


class Method(torch.nn.Module):
    """One method of the model as the forward of a module: what torch.export traces."""

    def __init__(self, model, name: str) -> None:
        super().__init__()
        self.model, self.name = model, name

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.name)(*inputs)


def networks_of(recipe: loop.Recipe, model) -> list[str]:
    """The model's networks (an `ema` average too), not the frozen pretrained feature networks of
    a `perceptual` term."""
    pretrained = {name for name, _, _ in recipe.pretrained}
    return [name for name, _ in model.named_children() if name not in pretrained]


def parse_args(recipe: loop.Recipe, argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="train.py export",
        description=f"Export {recipe.name}'s {', '.join(METHODS)} (those it has) from a "
        "checkpoint as ONNX files and torch.export programs, with a dynamic batch dimension, "
        "and check them.")
    p.add_argument("--checkpoint", default=f"runs/{recipe.name}/checkpoints/last.pt")
    p.add_argument("--out", default=f"runs/{recipe.name}/export",
                   help="the folder of the files (default: beside the run's checkpoints)")
    p.add_argument("--onnx", action="store_true", help="write METHOD.onnx (default: both formats)")
    p.add_argument("--torch-export", action="store_true",
                   help="write METHOD.pt2, a torch.export program (default: both formats)")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset (default: torch.onnx's)")
    p.add_argument("--network", action="append", default=None, metavar="NAME",
                   help="export this network (e.g. an image-to-image generator) instead of the "
                   "model's methods; repeat for several")
    p.add_argument("--seed", type=int, default=0, help="seed of the example inputs")
    args = p.parse_args(argv)
    if not args.onnx and not args.torch_export:
        args.onnx = args.torch_export = True
    return args


@torch.no_grad()
def example_inputs(recipe: loop.Recipe, model, name: str, n: int) -> tuple:
    """n inputs of `model.<name>`: latents from the prior (with labels cycling through the
    classes), data in the spec's range, or the codes of such data."""
    if name == "generate":
        return (*model.prior(n), *loop.sample_labels(recipe, n, torch.device("cpu")))
    low, high = recipe.data_range or (0.0, 1.0)
    x = low + (high - low) * torch.rand(n, *recipe.data_shape)
    labels = loop.sample_labels(recipe, n, torch.device("cpu"))

    def conditions(method) -> list:  # the labels of a method that takes more than its tensor
        return labels if len(inspect.signature(method).parameters) > 1 else []
    data = (x, *conditions(model.encode))
    return data if name == "encode" else (model.encode(*data), *conditions(model.decode))


def input_names(model, name: str) -> list[str]:
    return list(inspect.signature(getattr(model, name)).parameters)


def network_inputs(recipe: loop.Recipe, model, name: str, n: int, seed: int) -> tuple:
    """n inputs of the network `model.<name>`: what the generated `validate` hands it first on a
    batch of random data (the spec's shapes and ranges, labels cycling through the classes)."""
    from .data import fake_data, fake_samples

    if recipe.inputs:
        _, shapes, ranges, _ = zip(*recipe.inputs)
        dataset = fake_samples(shapes, n, recipe.num_classes, ranges, seed)
    else:
        dataset = fake_data(recipe.data_shape, n, recipe.num_classes, recipe.data_range, seed)
    *data, labels = dataset.tensors
    if recipe.num_classes:
        labels = torch.arange(n) % recipe.num_classes
    seen = []

    def first_call(_, inputs):
        if not seen:
            seen.append(inputs)
    hook = getattr(model, name).register_forward_pre_hook(first_call)
    try:
        torch.manual_seed(seed)
        with torch.set_grad_enabled(recipe.validate_with_grad):
            recipe.validate(model, *data, labels, loop.final_weights(recipe))
    finally:
        hook.remove()
    if not seen:
        raise SystemExit(f"error: {recipe.name}'s {name} is not called on a held-out batch, so "
                         "its inputs are unknown; export the model's generate/encode/decode "
                         "instead")
    return tuple(t.detach() for t in seen[0])


def as_tuple(output) -> tuple:
    return tuple(output) if isinstance(output, (tuple, list)) else (output,)


def name_batch_dimension(path: Path) -> None:
    """Call the dynamic first dimension of the ONNX file's inputs and outputs `batch` (the
    exporter names it after its symbol, e.g. s21), everywhere the symbol appears."""
    import onnx
    proto = onnx.load(str(path))
    graph = proto.graph
    symbols = {v.type.tensor_type.shape.dim[0].dim_param for v in graph.input
               if v.type.tensor_type.shape.dim and v.type.tensor_type.shape.dim[0].dim_param}
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in symbols:
                dim.dim_param = "batch"
    onnx.save(proto, str(path))


def export_method(recipe: loop.Recipe, model, name: str, args: argparse.Namespace,
                  out: Path) -> dict:
    """Write OUT/<name>.pt2 and/or .onnx of the method model.<name>, check them, and say what
    was done."""
    torch.manual_seed(args.seed)
    inputs = example_inputs(recipe, model, name, TRACE_BATCH)
    check = example_inputs(recipe, model, name, CHECK_BATCH)
    return export_program(Method(model, name), inputs, check, input_names(model, name),
                          [OUTPUTS[name]], name, args, out)


def export_network(recipe: loop.Recipe, model, name: str, args: argparse.Namespace,
                   out: Path) -> dict:
    """Write OUT/<name>.pt2 and/or .onnx of the network model.<name>, check them, and say what
    was done."""
    network = getattr(model, name)
    inputs = network_inputs(recipe, model, name, TRACE_BATCH, args.seed)
    check = network_inputs(recipe, model, name, CHECK_BATCH, args.seed + 1)
    with torch.no_grad():
        outputs = len(as_tuple(network(*check)))
    names = list(inspect.signature(network.forward).parameters)
    output_names = ["output"] if outputs == 1 else [f"output_{i}" for i in range(outputs)]
    return export_program(network, inputs, check, names, output_names, name, args, out)


def export_program(module: torch.nn.Module, inputs: tuple, check: tuple, names: list[str],
                   output_names: list[str], stem: str, args: argparse.Namespace,
                   out: Path) -> dict:
    """Trace module on inputs (batch dimension dynamic), write OUT/<stem>.pt2 and/or .onnx,
    and check each file's outputs at the batch size of `check`."""
    batch = torch.export.Dim("batch")
    per_input = tuple({0: batch} for _ in inputs)
    first = next(iter(inspect.signature(module.forward).parameters.values()))
    # Method.forward(*inputs) takes them as one argument; a network's forward one by one
    varargs = first.kind is inspect.Parameter.VAR_POSITIONAL
    dynamic = {first.name: per_input} if varargs else per_input
    program = torch.export.export(module, inputs, dynamic_shapes=dynamic)
    with torch.no_grad():
        expected = as_tuple(module(*check))
    entry = {
        "inputs": [{"name": n, "shape": ["batch", *t.shape[1:]], "dtype": str(t.dtype)}
                   for n, t in zip(names, inputs)],
        "files": [],
    }
    shapes = [{"name": n, "shape": ["batch", *e.shape[1:]], "dtype": str(e.dtype)}
              for n, e in zip(output_names, expected)]
    entry.update({"output": shapes[0]} if len(shapes) == 1 else {"outputs": shapes})
    if args.torch_export:
        path = out / f"{stem}.pt2"
        torch.export.save(program, str(path))
        with torch.no_grad():
            got = as_tuple(torch.export.load(str(path)).module()(*check))
        entry["files"].append(path.name)
        entry["torch_export_max_abs_diff"] = max((g - e).abs().max().item()
                                                 for g, e in zip(got, expected))
        if not all(torch.allclose(g, e, **TOLERANCE) for g, e in zip(got, expected)):
            raise SystemExit(f"error: {path} reloaded gives other outputs than the model "
                             f"(max difference {entry['torch_export_max_abs_diff']:.3g})")
    if args.onnx:
        import onnx
        path = out / f"{stem}.onnx"
        torch.onnx.export(program, f=str(path), dynamo=True, external_data=False,
                          input_names=names, output_names=output_names,
                          opset_version=args.opset, verbose=False)
        name_batch_dimension(path)
        onnx.checker.check_model(str(path), full_check=True)
        entry["files"].append(path.name)
        entry["onnx_checker"] = "passed"
        entry["onnxruntime_max_abs_diff"] = onnxruntime_difference(path, names, check, expected)
    return entry


def onnxruntime_difference(path: Path, names: list, inputs: tuple,
                           expected: tuple) -> float | None:
    """The largest difference between onnxruntime's outputs and torch's (None: no onnxruntime)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {n: t.numpy() for n, t in zip(names, inputs)}
    outputs = [torch.from_numpy(o) for o in session.run(None, feed)]
    difference = 0.0
    for got, want in zip(outputs, expected):
        gap = (got - want).abs().max().item() if got.shape == want.shape else float("inf")
        difference = max(difference, gap)
        if got.shape != want.shape or not torch.allclose(got, want, **TOLERANCE):
            raise SystemExit(f"error: onnxruntime's outputs of {path} differ from the model's "
                             f"(shape {tuple(got.shape)}, max difference {difference:.3g})")
    return difference


def export_all(recipe: loop.Recipe, args: argparse.Namespace) -> dict:
    """Export every method the model has; returns what export.json says."""
    if args.onnx:
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
        except ImportError as e:
            raise SystemExit(f"error: --onnx needs {e.name}: {INSTALL}")
    model = loop.load_model(recipe, Path(args.checkpoint), torch.device("cpu"))
    networks = networks_of(recipe, model)
    methods = [m for m in METHODS if callable(getattr(model, m, None))]
    unknown = [n for n in args.network or () if n not in networks]
    if unknown:
        raise SystemExit(f"error: {recipe.name} has no network {unknown[0]!r}; its networks: "
                         f"{', '.join(networks)}")
    if not methods and not args.network:
        raise SystemExit(f"error: {recipe.name} has none of {', '.join(METHODS)} to export; "
                         f"export one of its networks with --network NAME "
                         f"({', '.join(networks)})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": recipe.name, "spec": recipe.spec, "checkpoint": str(args.checkpoint),
              "torch": torch.__version__}
    if args.network:
        report["networks"] = {name: export_network(recipe, model, name, args, out)
                              for name in dict.fromkeys(args.network)}
    else:
        report["methods"] = {name: export_method(recipe, model, name, args, out)
                             for name in methods}
    atomic_write_json(report, out / "export.json")
    return report


def main(recipe: loop.Recipe, argv=None) -> int:
    args = parse_args(recipe, argv)
    report = export_all(recipe, args)
    for name, entry in {**report.get("methods", {}), **report.get("networks", {})}.items():
        checks = []
        if "torch_export_max_abs_diff" in entry:
            checks.append(f"reloaded program max |diff| {entry['torch_export_max_abs_diff']:.2g}")
        if "onnx_checker" in entry:
            checks.append("onnx checker passed")
            ort = entry["onnxruntime_max_abs_diff"]
            checks.append("onnxruntime not installed: not compared" if ort is None
                          else f"onnxruntime max |diff| {ort:.2g}")
        files = ", ".join(str(Path(args.out) / f) for f in entry["files"])
        print(f"{name}: {files} ({'; '.join(checks)})")
    print(f"wrote {Path(args.out) / 'export.json'}", file=sys.stderr)
    return 0
