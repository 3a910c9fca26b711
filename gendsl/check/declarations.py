"""Top-level declarations: the model line, unique names, parameters (in dependency order), data,
latents, and the tensor types written in them. A mixin of the model checker (check/model.py): each
method reads and fills the checker's state (`env`, `declared`, `reporter`)."""

from __future__ import annotations

import math
import re

import networkx as nx

from gendsl import ir
from gendsl.check.cycles import cycles, induced
from gendsl.check.names import check_identifier, check_text
from gendsl.check.ranges import POSITIVE_SCALE, SIGNED_SCALE, out_of_range
from gendsl.check.result import DataDecl, LatentDecl
from gendsl.check.types import TensorType
from gendsl.check.values import as_int, describe, evaluate, number
from gendsl.diagnostics import Cascade, CompileError, did_you_mean, error
from gendsl.source import Span

KINDS = ("image", "vector", "label", "tensor")
# data sets that give one tensor per sample (gendsl/runtime/data.py's toy, built-in and torchvision
# sets; tests/runtime/test_paired_data.py checks that the lists agree), and the sources of several
ONE_TENSOR_SETS = ("gaussian", "gmm2", "gmm3", "ring8", "grid25", "mnist5k", "digits", "mnist", "fashion-mnist",
                   "kmnist", "cifar10", "cifar100", "svhn", "celeba")
ARRAY_FILES = (".npz", ".npy", ".pt", ".pth")
EDGES_PREFIX = "edges:"
BLOCK_PREFIXES = ("centre_block:", "random_block:")
# priors -> the range of each argument: a mean or bound beyond SCALE, or a standard deviation of 0 or beyond
# it, gives latents that overflow float32 once squared (the KL term, a decoder's first layer)
PRIOR_ARGS = {"normal": ("mean", "standard deviation"), "uniform": ("low bound", "high bound")}
PRIOR_RANGES = {"normal": (SIGNED_SCALE, POSITIVE_SCALE), "uniform": (SIGNED_SCALE, SIGNED_SCALE)}


class DeclarationChecks:
    def _declare_all(self) -> None:
        """Record every top-level name in source order. A badly spelled name is reported but still
        declared (so its uses do not cascade into `unknown name` errors); a second declaration of a
        name is reported, and not declared."""
        for decl in self.spec.decls:
            what = _WHAT.get(type(decl))
            if what is None:
                continue
            try:
                check_identifier(decl.name, decl.name_span, what)
            except CompileError as exc:
                self.reporter.add(exc.diagnostic)
            if decl.name in self.declared:
                first = self.declared[decl.name]
                kind = _KIND_NAMES.get(type(first), "declaration")
                self.reporter.error("E0202", f"`{decl.name}` is declared twice", decl.name_span, "declared again",
                                    (), "top-level names (parameters, data, latents, networks, schedules) must be "
                                    "unique", ((first.name_span, f"first declared here, as a {kind}"),))
                self.duplicated.add(decl.name)
                continue
            self.declared[decl.name] = decl

    def _anchor(self) -> Span:
        """Where a diagnostic about something missing points: the model's name, else the file start."""
        models = self.spec.of(ir.Model)
        return models[0].name_span if models else Span(0, 0)

    def _model_name(self) -> str | None:
        models = self.spec.of(ir.Model)
        if not models:
            first = self.spec.decls[0].span
            self.reporter.error("E0410", "the spec does not name its model", Span(first.start, first.start),
                                "expected `model NAME` first", (), "start the file with `model my_model`")
            return None
        for extra in models[1:]:
            self.reporter.error("E0411", "a file declares one model", extra.name_span, "second `model`", (),
                                "put each model in a file of its own",
                                ((models[0].name_span, "first `model` here"),))
        model = models[0]
        try:
            check_identifier(model.name, model.name_span, "model")
        except CompileError as exc:
            self.reporter.add(exc.diagnostic)
            return None
        return model.name

    def _data_count(self) -> None:
        decls = self.spec.of(ir.Data)
        if not decls:
            if self.spec.of(ir.Model) or self.spec.of(ir.Network):
                self.reporter.error("E0410", "the model declares no data", self._anchor(), "no `data` declaration",
                                    (), "add e.g. `data x: image[1, 28, 28] in [0, 1]`")
            return
        labels = [d for d in decls if isinstance(d.type, ir.ShapeType) and d.type.kind == "label"]
        tensors = [d for d in decls if d not in labels]
        self._sample_sources(tensors)
        for extra in labels[1:]:
            self.reporter.error("E0411", "a model has at most one `label` data declaration", extra.name_span,
                                "second label", (), "remove it", ((labels[0].name_span, "first label"),))

    def _sample_sources(self, tensors: list[ir.Data]) -> None:
        """Several data tensors come together in one sample: one source gives them all (named on
        the first), or each names its own folder. A set that gives one tensor per sample cannot."""
        if len(tensors) == 1 and tensors[0].source is not None:
            source = tensors[0].source.value
            if source.startswith((EDGES_PREFIX, *BLOCK_PREFIXES)):
                self.reporter.error("E0416", f"{_quote(source)} gives several tensors per sample, but the model "
                                    f"reads one, `{tensors[0].name}`", tensors[0].source.span, "several tensors",
                                    ("`edges:SET` gives (edges, image); `centre_block:SET` and `random_block:SET` "
                                     "give (masked image, block) or (masked image, block, image)",),
                                    "declare one `data` per tensor, in that order")
        if len(tensors) < 2:
            return
        named = [d for d in tensors if d.source is not None]
        names = ", ".join(f"`{d.name}`" for d in tensors)
        if named and len(named) < len(tensors) and named != [tensors[0]]:
            d = next(d for d in named if d is not tensors[0])
            self.reporter.error("E0416", f"`{d.name}` names a source of its own, but not every data tensor does",
                                d.source.span, "a second source", (
                                    f"the model's sample is {names}: one source gives all of them, or each "
                                    "tensor names a folder of its own (matched by file name)",),
                                f"name the sample's source on `{tensors[0].name}` only, or a folder on every "
                                "data tensor")
            return
        for d in named:
            source = d.source.value
            single = re.sub(r"-\d+(,\d+)*$", "", source).lower() in ONE_TENSOR_SETS  # `mnist-7`: classes
            if len(named) > 1 and (single or source.lower().endswith(ARRAY_FILES)
                                   or source.startswith((EDGES_PREFIX, *BLOCK_PREFIXES))):
                self.reporter.error("E0416", f"`{d.name}` reads {_quote(source)}, but when every data tensor names "
                                    "a source, each is a folder of images", d.source.span, "not a folder",
                                    (f"the folders hold the same file names; sample i is file i of each "
                                     f"({names})",),
                                    f"name one source for the whole sample on `{tensors[0].name}`: a .npz file "
                                    "with one array per tensor, or a folder of side-by-side images")
            elif single:
                self.reporter.error("E0416", f"{_quote(source)} gives one tensor per sample, but the model reads "
                                    f"{len(tensors)}: {names}", d.source.span, "one tensor per sample", (
                                        "sources of several tensors: a folder of side-by-side images, a .npz "
                                        "file with one array per tensor named after it, `edges:SET` (two "
                                        "tensors: edges, image), or one folder per tensor",),
                                    f"for paired digits, write `from \"{EDGES_PREFIX}{source}\"`")
            elif source.startswith(EDGES_PREFIX) and len(tensors) != 2:
                self.reporter.error("E0416", f"{_quote(source)} gives two tensors per sample (edges, image), but "
                                    f"the model reads {len(tensors)}: {names}", d.source.span, "two tensors")
            elif source.startswith(BLOCK_PREFIXES):
                self._block_shapes(d, tensors, names)

    def _block_shapes(self, d: ir.Data, tensors: list[ir.Data], names: str) -> None:
        """`centre_block:SET`, `random_block:SET`: (masked image, block[, image]), the block no larger
        than the image and with its channels."""
        source = d.source.value
        checked = {c.name: c.type for c in self.data}
        types = [checked.get(t.name) for t in tensors]
        if None in types:  # reported where declared
            return
        what = "(masked image, block) or (masked image, block, image)"
        if len(tensors) > 3:
            self.reporter.error("E0416", f"{_quote(source)} gives two or three tensors per sample {what}, but the "
                                f"model reads {len(tensors)}: {names}", d.source.span, "two or three tensors")
            return
        image, block = types[0], types[1]
        if image.rank != 3 or block.rank != 3:
            bad = tensors[0] if image.rank != 3 else tensors[1]
            self.reporter.error("E0416", f"{_quote(source)} gives images, but `{bad.name}` is "
                                f"{checked[bad.name]}", bad.type.span, "not an image", (f"its samples are {what}",),
                                f"declare `{bad.name}` as `image[c, h, w]`")
        elif block.shape[0] != image.shape[0] or block.shape[1] > image.shape[1] or block.shape[2] > image.shape[2]:
            self.reporter.error("E0416", f"the block `{tensors[1].name}` {block} does not fit in the image "
                                f"`{tensors[0].name}` {image}", tensors[1].type.span, "the block cut out of the image",
                                (f"{_quote(source)} gives {what}: the block is cut out of the image, so it has the "
                                 "image's channels and at most its height and width",),
                                f"e.g. `image[{image.shape[0]}, {image.shape[1] // 2}, {image.shape[2] // 2}]`")
        elif len(types) == 3 and types[2] != image:
            self.reporter.error("E0416", f"the whole image `{tensors[2].name}` is {types[2]}, but the masked image "
                                f"`{tensors[0].name}` is {image}", tensors[2].type.span, f"expected {image}",
                                (f"{_quote(source)} gives {what}",))

    def _params(self) -> None:
        params = [p for p in self.spec.of(ir.Param) if self._declare(p.name, p, p.name_span, "parameter")]
        graph = nx.DiGraph()
        by_name = {p.name: p for p in params}
        refs: dict[tuple[str, str], ir.Name] = {}
        for p in params:
            graph.add_node(p.name)
            for ref in _name_nodes(p.value):
                if ref.id in by_name:
                    graph.add_edge(ref.id, p.name)
                    refs.setdefault((ref.id, p.name), ref)
        index = {p.name: i for i, p in enumerate(params)}
        for group, cycle in cycles(graph, index.get):
            # edge (u, v): `v` uses `u`. Point at the use of a parameter declared below (or at the self-use).
            u, v = next(((u, v) for u, v in cycle if index[u] >= index[v]), cycle[0])
            names = [f"`{n}`" for n in sorted(group, key=index.get)]
            if len(group) == 1:
                message = f"parameter `{v}` depends on itself"
            else:
                message = f"parameters {', '.join(names[:-1])} and {names[-1]} depend on each other"
            related = tuple((refs[(a, b)].span, f"`{b}` uses `{a}`") for a, b in cycle if (a, b) != (u, v))
            self.reporter.error("E0218", message, refs[(u, v)].span, f"`{v}` uses `{u}`", (),
                                "give one of them a number", related)
            self.env.broken |= group
        order = list(nx.lexicographical_topological_sort(
            induced(graph, (n for n in graph if n not in self.env.broken)), key=lambda n: index[n]))
        for pname in order:
            p = by_name[pname]
            value = self._guard(evaluate, p.value, self.env)
            if value is None:
                self.env.broken.add(p.name)
                continue
            if not isinstance(value, (int, float)):  # booleans are allowed: `param bias = false`
                self.reporter.error("E0209", f"parameter `{p.name}` must be a number, found {describe(value)}",
                                    p.value.span, "not a number")
                self.env.broken.add(p.name)
                continue
            self.env.params[p.name] = value

    def _shape(self, t: ir.ShapeType) -> TensorType:
        if t.kind is not None and t.kind not in KINDS:
            raise error("E0315", f"unknown tensor kind `{t.kind}`", Span(t.span.start, t.span.start + len(t.kind)),
                        "not a kind", (f"kinds: {', '.join(KINDS)}, or none: `[n]`",), did_you_mean(t.kind, KINDS))
        dims = []
        for d in t.dims:
            v = as_int(evaluate(d, self.env), d, "a dimension", dimension=True)
            if v <= 0:
                raise error("E0301", f"dimension {v} must be positive", d.span, "not positive", (),
                            "every dimension of a tensor is at least 1")
            dims.append(v)
        if t.kind == "label":
            if len(dims) != 1:
                raise error("E0314", f"labels are `label[classes]`, found {len(dims)} dimensions", t.span,
                            "expected one number", (), "write the number of classes, e.g. `label[10]`")
            if dims[0] < 2:
                raise error("E0220", f"labels need at least 2 classes, found {dims[0]}", t.dims[0].span,
                            "too few classes")
            return TensorType((), classes=dims[0])
        if t.kind == "image" and len(dims) != 3:
            raise error("E0314", f"an image is `image[channels, height, width]`, found {len(dims)} dimension(s)",
                        t.span, "expected three dimensions", (), "e.g. `image[1, 28, 28]` for MNIST")
        if t.kind == "vector" and len(dims) != 1:
            raise error("E0314", f"a vector is `vector[n]`, found {len(dims)} dimensions", t.span,
                        "expected one dimension")
        if not dims:
            raise error("E0314", "a tensor needs at least one dimension", t.span, "empty shape",
                        (), "write e.g. `[784]` or `image[1, 28, 28]`")
        if len(dims) not in (1, 3):
            raise error("E0314", f"tensors are vectors (n) or images (c, h, w); found {len(dims)} dimensions",
                        t.span, "unsupported rank", (), f"flatten it to `[{math.prod(dims)}]`")
        return TensorType(tuple(dims))

    def _data(self, d: ir.Data) -> DataDecl | None:
        if not self._declare(d.name, d, d.name_span, "data"):
            return None
        if not isinstance(d.type, ir.ShapeType):
            raise error("E0314", "data needs a shape, like `image[1, 28, 28]`", d.type.span, "expected a shape",
                        (), f"write `data {d.name}: [n]` or `data {d.name}: image[c, h, w]`")
        t = self._shape(d.type)
        kind = d.type.kind or "tensor"
        value_range = None
        if d.range is not None:
            if t.is_label:
                raise error("E0314", "labels have no value range", d.range[0].span.join(d.range[1].span),
                            "range on labels", (), "remove `in [..]`")
            low, high = (float(number(evaluate(e, self.env), e)) for e in d.range)
            if (low, high) not in ((0.0, 1.0), (-1.0, 1.0)):
                raise error("E0220", f"data range must be [0, 1] or [-1, 1], found [{low:g}, {high:g}]",
                            d.range[0].span.join(d.range[1].span), "unsupported range", (),
                            "scale the data to [0, 1] (for `sigmoid` outputs) or [-1, 1] (for `tanh`)")
            value_range = (low, high)
        elif kind == "image":
            value_range = (0.0, 1.0)
        if d.source is not None:
            check_text(d.source.value, d.source.span, "the data source")
        return DataDecl(d.name, t, kind, value_range, d.source.value if d.source else None)

    def _latent(self, decl: ir.Latent) -> LatentDecl | None:
        if not self._declare(decl.name, decl, decl.name_span, "latent"):
            return None
        if not isinstance(decl.type, ir.ShapeType):
            raise error("E0314", "a latent needs a shape, like `[20]`", decl.type.span, "expected a shape")
        t = self._shape(decl.type)
        prior = decl.prior
        if t.is_label or prior.func == "categorical":
            return self._label_latent(decl, t)
        if prior.func not in ("normal", "uniform"):
            raise error("E0412", f"unknown prior `{prior.func}`", prior.func_span, "not a distribution",
                        ("priors: normal(mean, std), uniform(low, high), categorical() for labels",),
                        did_you_mean(prior.func, ("normal", "uniform", "categorical")))
        defaults = (0.0, 1.0) if prior.func == "normal" else (-1.0, 1.0)
        form = f"`{prior.func}({', '.join(f'{v:g}' for v in defaults)})`"
        if prior.kwargs:
            raise error("E0216", "priors take positional arguments only", prior.kwargs[0].name_span,
                        "keyword argument", (), f"write {form}")
        if len(prior.args) not in (0, 2):
            raise error("E0214", f"`{prior.func}` takes 2 arguments, but {len(prior.args)} were given",
                        prior.span, "expects two numbers", (), f"write {form}")
        args = tuple(float(number(evaluate(a, self.env), a)) for a in prior.args) or defaults
        for value, arg, valid, what in zip(args, prior.args, PRIOR_RANGES[prior.func], PRIOR_ARGS[prior.func]):
            if value not in valid:
                raise error("E0220", out_of_range(f"the {what} of `{prior.func}`", value, valid), arg.span,
                            "out of range", ("latents are drawn in float32",))
        if prior.func == "uniform" and args[0] >= args[1]:
            raise error("E0220", f"`uniform(low, high)` needs `low < high`, found {args[0]:g} and {args[1]:g}",
                        prior.args[0].span.join(prior.args[1].span), "empty interval", (),
                        "write e.g. `uniform(-1, 1)`")
        return LatentDecl(decl.name, t, prior.func, args)

    def _label_latent(self, decl: ir.Latent, t: TensorType) -> LatentDecl:
        """`latent y_fake: label[N] ~ categorical()`: class labels drawn uniformly from the N classes
        (the labels a conditional generator is given in training, as PyTorch-GAN's cgan/acgan draw
        them). `categorical(N)` may repeat the number of classes; it must be the label's."""
        prior = decl.prior
        if not t.is_label:
            raise error("E0412", "`categorical` draws class labels, not tensors", prior.func_span,
                        f"latent `{decl.name}` is {t}", (),
                        f"declare it as labels: `latent {decl.name}: label[N] ~ categorical()`")
        if prior.func != "categorical":
            raise error("E0412", f"a label latent is drawn from `categorical`, not `{prior.func}`",
                        prior.func_span, "not a distribution of labels", (),
                        f"write `latent {decl.name}: label[{t.classes}] ~ categorical()`")
        if prior.kwargs:
            raise error("E0216", "priors take positional arguments only", prior.kwargs[0].name_span,
                        "keyword argument", (), "write `categorical()`")
        if len(prior.args) > 1:
            raise error("E0214", f"`categorical` takes at most 1 argument, but {len(prior.args)} were given",
                        prior.span, "expects the number of classes or nothing", (), "write `categorical()`")
        if prior.args:
            n = as_int(evaluate(prior.args[0], self.env), prior.args[0], "a number of classes")
            if n != t.classes:
                raise error("E0220", f"`categorical({n})` draws from {n} classes, but `{decl.name}` is "
                            f"`label[{t.classes}]`", prior.args[0].span, f"not {t.classes}", (),
                            f"write `categorical()` (the label's {t.classes} classes)")
        return LatentDecl(decl.name, t, "categorical", ())

    def _input_type(self, inp: ir.Input, types: dict, broken: set) -> TensorType:
        t = inp.type
        if t is None:
            if inp.name in types:
                return types[inp.name]
            if inp.name in broken:
                raise Cascade()
            raise error("E0413", f"input `{inp.name}` needs a type", inp.span, "no type", (),
                        f"write `{inp.name}: [n]`, `{inp.name}: image[c, h, w]`, or name a data/latent declaration"
                        if not types else f"write e.g. `{inp.name}: [n]`, or use the name of a data or latent "
                        f"declaration ({', '.join(f'`{n}`' for n in types)})")
        return self._type(t, types, broken)

    def _type(self, t, types: dict, broken: set = frozenset()) -> TensorType:
        if isinstance(t, ir.NamedType):
            if t.name not in types:
                if t.name in broken:
                    raise Cascade()
                raise error("E0201", f"unknown type `{t.name}`", t.span, "not a data or latent name", (),
                            did_you_mean(t.name, types) or "write a shape like `[n]`, or name a data or latent "
                            "declaration")
            return types[t.name]
        return self._shape(t)


_WHAT = {ir.Param: "parameter", ir.Data: "data", ir.Latent: "latent", ir.Network: "network",
         ir.Schedule: "schedule"}
_KIND_NAMES = {ir.Param: "parameter", ir.Data: "data declaration", ir.Latent: "latent", ir.Network: "network",
               ir.Schedule: "schedule"}


def _name_nodes(expr) -> list[ir.Name]:
    if isinstance(expr, ir.Name):
        return [expr]
    out = []
    for attr in ("left", "right", "operand"):
        if hasattr(expr, attr):
            out += _name_nodes(getattr(expr, attr))
    for item in getattr(expr, "items", ()):
        out += _name_nodes(item)
    return out


def _quote(source: str) -> str:
    return f"`\"{source}\"`"
