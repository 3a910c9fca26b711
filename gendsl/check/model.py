"""Check a whole spec: declarations, networks, forward, loss, training; return a CheckedModel."""

from __future__ import annotations

import hashlib

from gendsl.check import graph as nx  # networkx's API for the few calls used here, without its 0.1 s import

from gendsl import ir
from gendsl.check.flow import FlowChecker
from gendsl.check.loss import LossChecker
from gendsl.check.names import check_identifier
from gendsl.check.network import NetworkChecker
from gendsl.check.result import CheckedModel, DataDecl, LatentDecl
from gendsl.check.training import TrainChecker, check_schedule
from gendsl.check.types import TensorType
from gendsl.check.values import Env, as_int, evaluate
from gendsl.diagnostics import CompileError, Reporter, did_you_mean, error
from gendsl.source import SourceFile

KINDS = ("image", "vector", "label", "tensor")


def check(spec: ir.Spec, source: SourceFile, reporter: Reporter) -> CheckedModel | None:
    return _ModelChecker(spec, source, reporter).run()


class _ModelChecker:
    def __init__(self, spec: ir.Spec, source: SourceFile, reporter: Reporter):
        self.spec = spec
        self.source = source
        self.reporter = reporter
        self.env = Env()
        self.declared: dict[str, object] = {}  # top-level name -> declaration

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except CompileError as exc:
            if exc.diagnostic is not None:
                self.reporter.add(exc.diagnostic)
            return None

    def _declare(self, name: str, decl, span, what: str) -> bool:
        try:
            check_identifier(name, span, what)
        except CompileError as exc:
            self.reporter.add(exc.diagnostic)
            return False
        if name in self.declared:
            self.reporter.error("E0202", f"`{name}` is declared twice", span, "declared again", (),
                                "top-level names (parameters, data, latents, networks, schedules) must be unique")
            return False
        self.declared[name] = decl
        return True

    def run(self) -> CheckedModel | None:
        spec = self.spec
        name = self._model_name()
        for imp in spec.of(ir.Import):
            self.reporter.error("E0110", "`import` is not supported yet", imp.span, "not yet", (),
                                "copy the declarations you need into this file for now")
        self._params()
        data = [d for d in (self._guard(self._data, d) for d in spec.of(ir.Data)) if d]
        latents = [l for l in (self._guard(self._latent, l) for l in spec.of(ir.Latent)) if l]
        schedules = []
        for s in spec.of(ir.Schedule):
            if self._declare(s.name, s, s.name_span, "schedule"):
                checked = self._guard(check_schedule, s, self.env)
                if checked:
                    schedules.append(checked)
        if not [d for d in data if not d.type.is_label] and not spec.of(ir.Data):
            self.reporter.error("E0410", "the model declares no data", _first_span(spec), "no `data` declaration",
                                (), "add e.g. `data x: image[1, 28, 28] in [0, 1]`")
        elif len([d for d in data if not d.type.is_label]) > 1:
            self.reporter.error("E0410", "a model learns from one data tensor (plus optional labels)",
                                spec.of(ir.Data)[1].span, "second data tensor")
        labels = [d for d in data if d.type.is_label]
        if len(labels) > 1:
            self.reporter.error("E0410", "a model has at most one `label` data declaration",
                                spec.of(ir.Data)[-1].span, "second label")

        types = {d.name: d.type for d in data} | {l.name: l.type for l in latents}
        networks = {}
        for net in spec.of(ir.Network):
            if not self._declare(net.name, net, net.name_span, "network"):
                continue
            input_types = [self._guard(self._input_type, inp, types) for inp in net.inputs]
            checked = NetworkChecker(net, input_types, self.env, self.reporter).run()
            if checked is not None:
                self._outputs_match(net, checked, types)
            networks[net.name] = checked

        forwards = spec.of(ir.Forward)
        losses = spec.of(ir.Loss)
        if len(forwards) > 1:
            self.reporter.error("E0411", "a model has one `forward` block", forwards[1].span, "second block")
        if len(losses) > 1:
            self.reporter.error("E0501", "a model has one `loss`", losses[1].span, "second loss",
                                (), "add the terms together: `loss = a + b`")
        flow = FlowChecker(forwards[0] if forwards else ir.Forward((), _first_span(spec)),
                           {d.name: d.type for d in data}, {l.name: l for l in latents}, networks, self.env,
                           self.reporter, set(self.declared))
        steps = flow.run()
        if not forwards and networks:
            self.reporter.error("E0411", "the model has no `forward` block", _first_span(spec),
                                "how do the networks connect?", (),
                                "add e.g. `forward { z ~ prior\n fake = G(z) }`")
        loss_checker = None
        for loss in losses[:1]:
            if loss.name is not None:
                self.reporter.error("E0501", "named losses are not supported yet", loss.span, "named loss", (),
                                    "write `loss = ...`; GAN models use a `gan(...)` term")
            loss_checker = LossChecker(loss, flow, self.env, {s.name for s in schedules}, self.reporter)
            loss_checker.run(self.source.text)
        if not losses and networks:
            self.reporter.error("E0501", "the model has no `loss`", _first_span(spec), "nothing to minimise", (),
                                "add e.g. `loss = mse(x_hat, x)`")
        self._contracts(data, networks, flow)
        used = set(flow.calls) | {c.func for f in forwards for c in _calls(f)} | \
            {c.func for l in losses for c in _calls(l)}
        feature_nets = {t.options["features"] for t in loss_checker.terms if t.kind == "perceptual"} \
            if loss_checker else set()
        for net in spec.of(ir.Network):
            if net.name in networks and net.name not in used and net.name not in feature_nets:
                self.reporter.warning("W0401", f"network `{net.name}` is never used", net.name_span, "unused",
                                      (), f"call it in `forward`, or remove it")
        trained = [n for n, c in networks.items() if c is not None and n in used and c.param_count > 0
                   and n not in feature_nets]
        train = TrainChecker(spec.of(ir.Train), networks, trained, self.env, self.reporter).run()
        if loss_checker and loss_checker.gan and train.d_steps > 1 and not loss_checker.gan.kind.startswith("wasserstein"):
            pass  # several discriminator steps are legitimate for any objective
        if self.reporter.has_errors or name is None:
            return None
        return CheckedModel(
            name=name, path=self.source.path,
            sha256=hashlib.sha256(self.source.text.encode("utf-8")).hexdigest(),
            params=dict(self.env.params), data=data, latents=latents,
            networks=[networks[n.name] for n in spec.of(ir.Network) if networks.get(n.name)],
            forward=steps, terms=loss_checker.terms if loss_checker else [],
            gan=loss_checker.gan if loss_checker else None, schedules=schedules, train=train,
            variables=dict(flow.vars))

    # -- declarations ---------------------------------------------------------------
    def _model_name(self) -> str | None:
        models = self.spec.of(ir.Model)
        if not models:
            self.reporter.error("E0220", "the spec does not name its model", _first_span(self.spec),
                                "expected `model NAME` first", (), "start the file with `model my_model`")
            return None
        for extra in models[1:]:
            self.reporter.error("E0220", "a file declares one model", extra.span, "second `model`")
        model = models[0]
        if model.extends is not None:
            self.reporter.error("E0110", "`extends` is not supported yet", model.span, "not yet")
        try:
            check_identifier(model.name, model.name_span, "model")
        except CompileError as exc:
            self.reporter.add(exc.diagnostic)
            return None
        return model.name

    def _params(self) -> None:
        params = [p for p in self.spec.of(ir.Param) if self._declare(p.name, p, p.name_span, "parameter")]
        graph = nx.DiGraph()
        by_name = {p.name: p for p in params}
        for p in params:
            graph.add_node(p.name)
            for ref in _names(p.value):
                if ref in by_name:
                    graph.add_edge(ref, p.name)
        try:
            cycle = nx.find_cycle(graph)
            names = [a for a, _ in cycle] + [cycle[0][0]]
            p = by_name[cycle[0][0]]
            self.reporter.error("E0308", "parameters depend on each other in a cycle: " +
                                " -> ".join(f"`{n}`" for n in names), p.span, "part of the cycle")
            return
        except nx.NetworkXNoCycle:
            pass
        order = list(nx.lexicographical_topological_sort(graph, key=lambda n: params.index(by_name[n])))
        for pname in order:
            p = by_name[pname]
            value = self._guard(evaluate, p.value, self.env)
            if value is None:
                continue
            if isinstance(value, (str, tuple)) or not isinstance(value, (int, float)):
                self.reporter.error("E0208", f"parameter `{p.name}` must be a number", p.value.span, "not a number")
                continue
            self.env.params[p.name] = value

    def _shape(self, t: ir.ShapeType) -> TensorType:
        if t.kind is not None and t.kind not in KINDS:
            raise error("E0412", f"unknown tensor kind `{t.kind}`", t.span, "not a kind", (f"kinds: {', '.join(KINDS)}",),
                        did_you_mean(t.kind, KINDS))
        dims = []
        for d in t.dims:
            v = as_int(evaluate(d, self.env), d, "a dimension")
            if v <= 0:
                raise error("E0301", f"dimension {v} must be positive", d.span, "not positive")
            dims.append(v)
        if t.kind == "label":
            if len(dims) != 1:
                raise error("E0412", "write labels as `label[classes]`", t.span, "expected one number")
            if dims[0] < 2:
                raise error("E0301", "labels need at least 2 classes", t.span, "too few classes")
            return TensorType((), classes=dims[0])
        if t.kind == "image" and len(dims) != 3:
            raise error("E0412", f"an image is `image[channels, height, width]`, found {len(dims)} dimension(s)",
                        t.span, "expected three dimensions")
        if t.kind == "vector" and len(dims) != 1:
            raise error("E0412", f"a vector is `vector[n]`, found {len(dims)} dimensions", t.span,
                        "expected one dimension")
        if not dims:
            raise error("E0412", "a tensor needs at least one dimension", t.span, "empty shape")
        if len(dims) not in (1, 3):
            raise error("E0412", f"tensors are vectors (n) or images (c, h, w); found {len(dims)} dimensions",
                        t.span, "unsupported rank")
        return TensorType(tuple(dims))

    def _data(self, d: ir.Data) -> DataDecl | None:
        if not self._declare(d.name, d, d.name_span, "data"):
            return None
        if not isinstance(d.type, ir.ShapeType):
            raise error("E0412", "data needs a shape, like `image[1, 28, 28]`", d.type.span, "expected a shape")
        t = self._shape(d.type)
        kind = d.type.kind or "tensor"
        value_range = None
        if d.range is not None:
            low, high = (float(self._number(e)) for e in d.range)
            if (low, high) not in ((0.0, 1.0), (-1.0, 1.0)):
                raise error("E0307", f"data range must be [0, 1] or [-1, 1], found [{low:g}, {high:g}]",
                            d.range[0].span.join(d.range[1].span), "unsupported range")
            if t.is_label:
                raise error("E0412", "labels have no value range", d.range[0].span, "range on labels")
            value_range = (low, high)
        elif kind == "image":
            value_range = (0.0, 1.0)
        return DataDecl(d.name, t, kind, value_range, d.source.value if d.source else None)

    def _number(self, e):
        v = evaluate(e, self.env)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise error("E0208", "expected a number", e.span, "not a number")
        return v

    def _latent(self, l: ir.Latent) -> LatentDecl | None:
        if not self._declare(l.name, l, l.name_span, "latent"):
            return None
        if not isinstance(l.type, ir.ShapeType):
            raise error("E0412", "a latent needs a shape, like `[20]`", l.type.span, "expected a shape")
        t = self._shape(l.type)
        if t.is_label:
            raise error("E0412", "a latent cannot be a label", l.type.span, "label latent")
        prior = l.prior
        if prior.func not in ("normal", "uniform"):
            raise error("E0413", f"unknown prior `{prior.func}`", prior.func_span, "not a distribution",
                        ("priors: normal(mean, std), uniform(low, high)",), did_you_mean(prior.func, ("normal", "uniform")))
        defaults = (0.0, 1.0) if prior.func == "normal" else (-1.0, 1.0)
        if prior.kwargs:
            raise error("E0211", "priors take positional arguments", prior.kwargs[0].span, "keyword argument")
        if len(prior.args) not in (0, 2):
            raise error("E0413", f"write `{prior.func}({', '.join(str(v) for v in defaults)})`", prior.span,
                        "expects two numbers")
        args = tuple(float(self._number(a)) for a in prior.args) or defaults
        if prior.func == "normal" and args[1] <= 0:
            raise error("E0307", "the standard deviation must be positive", prior.args[1].span, "not positive")
        if prior.func == "uniform" and args[0] >= args[1]:
            raise error("E0307", "uniform(low, high) needs low < high", prior.span, "empty interval")
        return LatentDecl(l.name, t, prior.func, args)

    def _input_type(self, inp: ir.Input, types: dict) -> TensorType:
        t = inp.type
        if t is None:
            if inp.name in types:
                return types[inp.name]
            raise error("E0414", f"input `{inp.name}` needs a type", inp.span, "no type", (),
                        f"write `{inp.name}: [n]`, `{inp.name}: image[c, h, w]`, or name a data/latent declaration")
        return self._type(t, types)

    def _type(self, t, types: dict) -> TensorType:
        if isinstance(t, ir.NamedType):
            if t.name not in types:
                raise error("E0201", f"unknown type `{t.name}`", t.span, "not a data or latent name", (),
                            did_you_mean(t.name, types))
            return types[t.name]
        return self._shape(t)

    def _outputs_match(self, net: ir.Network, checked, types) -> None:
        for head, (name, t, var) in zip(net.outputs, checked.outputs):
            declared = self._guard(self._type, head.type, types)
            if declared is None or t is None:
                continue
            if declared != t:
                what = f"output `{name}`" if name else "output"
                last = checked.layers[-1] if checked.layers else None
                notes = [f"the body computes {t}"]
                self.reporter.error("E0309", f"{what} of `{net.name}` is declared {declared} but the body computes {t}",
                                    head.type.span, f"declared {declared}", notes,
                                    _shape_fix(declared, t))

    # -- cross-network contracts -----------------------------------------------------
    def _contracts(self, data, networks, flow) -> None:
        xs = [d for d in data if not d.type.is_label]
        if not xs:
            return
        x = xs[0]
        for net in self.spec.of(ir.Network):
            checked = networks.get(net.name)
            if checked is None:
                continue
            if net.role in ("generator", "decoder"):
                t = checked.outputs[0][1]
                if t != x.type:
                    self.reporter.error("E0420", f"{net.role} `{net.name}` produces {t} but the data `{x.name}` is {x.type}",
                                        net.outputs[0].span, f"{t}", (f"data declared as {x.type}",),
                                        "the output of a generator or decoder must have the data's shape")
            if net.role in ("discriminator", "critic", "encoder"):
                if not checked.inputs or checked.inputs[0][1] != x.type:
                    got = checked.inputs[0][1] if checked.inputs else "nothing"
                    span = net.inputs[0].span if net.inputs else net.name_span
                    self.reporter.error("E0421", f"{net.role} `{net.name}` takes {got} but the data `{x.name}` is {x.type}",
                                        span, f"{got}", (), f"its first input must be the data: `{net.name}({x.name})`")
            if net.role in ("discriminator", "critic") and checked.outputs and checked.outputs[0][1].numel != 1:
                self.reporter.error("E0514", f"{net.role} `{net.name}` returns {checked.outputs[0][1]} per sample; "
                                    "it must return one score", net.outputs[0].span, "not a single score", (),
                                    "end it with `flatten -> linear(1)` or a 1x1 output map")


def _shape_fix(declared: TensorType, got: TensorType) -> str | None:
    if declared.numel == got.numel and declared.shape != got.shape:
        return f"add `reshape({', '.join(map(str, declared.shape))})` at the end"
    if got.rank == 3 and declared.rank == 3 and got.shape[0] == declared.shape[0]:
        return "adjust kernel, stride or padding of the up/down-sampling layers"
    return None


def _names(expr) -> list[str]:
    if isinstance(expr, ir.Name):
        return [expr.id]
    out = []
    for attr in ("left", "right", "operand"):
        if hasattr(expr, attr):
            out += _names(getattr(expr, attr))
    for item in getattr(expr, "items", ()):
        out += _names(item)
    return out


def _calls(node):
    """Every ir.Call inside a declaration, however deep."""
    if isinstance(node, ir.Call):
        yield node
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _calls(item)
        return
    for attr in ("steps", "value", "dist", "args", "left", "right", "operand", "items"):
        if hasattr(node, attr):
            yield from _calls(getattr(node, attr))


def _first_span(spec: ir.Spec):
    from gendsl.source import Span
    return spec.decls[0].span if spec.decls else Span(0, 0)
