"""Check a whole spec: declarations, networks, forward, loss, training; return a CheckedModel."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import networkx as nx

from gendsl import ir
from gendsl.check.cycles import cycles, induced
from gendsl.check.flow import FlowChecker
from gendsl.check.loss import LossChecker
from gendsl.check.names import assign_class_names, check_identifier, check_text, printable
from gendsl.check.network import NetworkChecker
from gendsl.check.result import CheckedModel, DataDecl, LatentDecl
from gendsl.check.training import TrainChecker, check_schedule
from gendsl.check.types import TensorType
from gendsl.check.values import Env, as_int, describe, evaluate
from gendsl.diagnostics import Cascade, CompileError, Reporter, did_you_mean, error
from gendsl.check.network import shape_chain
from gendsl.source import SourceFile, Span

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
        self.duplicated: set[str] = set()  # names declared more than once (reported)

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except CompileError as exc:
            if exc.diagnostic is not None:
                self.reporter.add(exc.diagnostic)
            return None

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

    def _declare(self, name: str, decl, span, what: str) -> bool:
        """Whether `decl` is the declaration its name refers to (not a reported duplicate)."""
        return self.declared.get(name) is decl

    def _line(self, offset: int) -> int:
        return self.source.line_col(offset)[0]

    def run(self) -> CheckedModel | None:
        spec = self.spec
        if not spec.decls:
            self.reporter.error("E0108", "the file is empty", Span(0, 0), "nothing here",
                                ("a spec names its model, declares its data, networks, `forward` and `loss`",),
                                "start with `model my_model`; see specs/vae.gen for a complete example")
            return None
        name = self._model_name()
        self._declare_all()
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
        self._data_count()

        types = {d.name: d.type for d in data} | {l.name: l.type for l in latents}
        broken_types = {d.name for d in spec.of(ir.Data)} | {l.name for l in spec.of(ir.Latent)}
        networks: dict = {}
        checkers: dict = {}
        for net in spec.of(ir.Network):
            input_types = [self._guard(self._input_type, inp, types, broken_types) for inp in net.inputs]
            checker = NetworkChecker(net, input_types, self.env, self.reporter, self._line)
            checked = checker.run()
            if not self._declare(net.name, net, net.name_span, "network"):
                continue  # a reported duplicate: its body is checked, but calls mean the first one
            if checked is not None and not self._outputs_match(net, checked, types, checker):
                checked = None  # reported; uses of this network stay quiet
            networks[net.name] = checked
            checkers[net.name] = checker
        duplicated = self.duplicated
        for dup in duplicated & set(networks):
            networks[dup] = None  # which of the two a call means is unclear: calls stay quiet
        self._contracts(data, networks, checkers)
        assign_class_names([c for c in networks.values() if c is not None])

        forwards = spec.of(ir.Forward)
        losses = spec.of(ir.Loss)
        anchor = self._anchor()
        for extra in forwards[1:]:
            self.reporter.error("E0411", "a model has one `forward` block", _keyword(extra.span, "forward"),
                                "second `forward`", (), "move its steps into the first `forward` block",
                                ((_keyword(forwards[0].span, "forward"), "first `forward` here"),))
        for extra in losses[1:]:
            self.reporter.error("E0411", "a model has one `loss`", _keyword(extra.span, "loss"), "second `loss`",
                                (), "add the terms together: `loss = a + b`",
                                ((_keyword(losses[0].span, "loss"), "first `loss` here"),))
        flow = FlowChecker(forwards[0] if forwards else ir.Forward((), anchor),
                           {d.name: d.type for d in data}, {l.name: l for l in latents}, networks, self.env,
                           self.reporter, set(self.declared))
        flow.broken |= ({d.name for d in spec.of(ir.Data)} - {d.name for d in data}) | \
            ({l.name for l in spec.of(ir.Latent)} - {l.name for l in latents}) | \
            {n for n, net in self.declared.items() if isinstance(net, ir.Network) and networks.get(n) is None} | \
            duplicated
        errors_before_wiring = self.reporter.error_count
        steps = flow.run()
        if not forwards and spec.of(ir.Network):
            first = spec.of(ir.Network)[0]
            call = f"{first.name}({', '.join(i.name for i in first.inputs)})"
            self.reporter.error("E0410", "the model has no `forward` block", anchor,
                                "how do the networks connect?", (),
                                f"add a `forward` block that calls the networks, e.g. `forward {{ out = {call} }}`")
        loss_checker = None
        for loss in losses[:1]:
            if loss.name is not None:
                self.reporter.error("E0110", "named losses are not supported yet", _name_after(loss, self.source),
                                    "a named loss", (), "write `loss = ...`; GAN models use one `gan(...)` term")
            # every declared schedule counts as one, so a broken schedule causes no `unknown name` below
            loss_checker = LossChecker(loss, flow, self.env, {s.name for s in spec.of(ir.Schedule)}, self.reporter)
            loss_checker.run(self.source.text)
        if not losses and spec.of(ir.Network):
            self.reporter.error("E0410", "the model has no `loss`", anchor, "nothing to minimise", (),
                                "add e.g. `loss = mse(x_hat, x)`")
        used = {c.func for f in forwards for c in _calls(f)} | {c.func for l in losses for c in _calls(l)} | \
            {n for l in losses for n in _feature_names(l.value)} | \
            {a.obj for l in losses for a in _attributes(l.value)}
        feature_nets = {t.options["features"] for t in loss_checker.terms if t.kind == "perceptual"} \
            if loss_checker else set()
        # "never used" is only trustworthy when `forward` and `loss` exist and are free of errors
        wiring_ok = forwards and losses and self.reporter.error_count == errors_before_wiring
        for net in spec.of(ir.Network):
            if wiring_ok and net.name not in used and self.declared.get(net.name) is net:
                self.reporter.warning("W0401", f"network `{net.name}` is never used", net.name_span, "never called",
                                      (), f"call it in `forward`, e.g. `y = {net.name}(...)`, or remove it")
        reaches = flow.terms_reached()  # network -> the loss terms its parameters reach
        if wiring_ok and not self.reporter.has_errors:  # the model graph is whole: reachability is trustworthy
            used = {n for n, terms in reaches.items() if terms}
            self._unreached(spec, flow, used)
        trained = [n for n, c in networks.items() if c is not None and n in used and c.param_count > 0
                   and n not in feature_nets]
        if not trained and not self.reporter.has_errors:  # train.py would build an optimizer over nothing
            if not spec.of(ir.Network):
                self.reporter.error("E0410", "the model declares no networks", anchor, "nothing to train", (),
                                    "add one, e.g. `network net(x) -> [n] { ... }`, a `forward` block and a `loss`")
            else:
                first = spec.of(ir.Network)[0]
                self.reporter.error("E0410", "no network the loss trains has parameters", first.name_span,
                                    "nothing to train", (), "add a layer with weights, e.g. `linear(n)` or `conv2d(c, k)`")
        train = TrainChecker(spec.of(ir.Train), networks, trained, self.env, self.reporter).run()
        self._explain_parameters()
        if self.reporter.has_errors or name is None:
            return None
        return CheckedModel(
            name=name, path=printable(self.source.path),
            sha256=hashlib.sha256(self.source.text.encode("utf-8")).hexdigest(),
            params=dict(self.env.params), data=data, latents=latents,
            networks=[networks[n.name] for n in spec.of(ir.Network) if networks.get(n.name)],
            forward=steps, terms=loss_checker.terms if loss_checker else [],
            gan=loss_checker.gan if loss_checker else None, schedules=schedules, train=train,
            variables=dict(flow.vars), reaches={n: reaches[n] for n in sorted(reaches) if n in networks})

    def _unreached(self, spec: ir.Spec, flow: FlowChecker, used: set[str]) -> None:
        """Warn about called networks whose parameters reach no loss term, and about forward values no term is
        computed from (the values of such a network are not repeated)."""
        for net in spec.of(ir.Network):
            if net.name not in used and ("network", net.name) in flow.graph:
                self.reporter.warning("W0401", f"network `{net.name}` is never used: no loss term reads what it "
                                      "computes", net.name_span, "trains nothing", (),
                                      f"use an output of `{net.name}` in `loss`, or remove it")
        for var in flow.unused_values():
            if flow.depends(var) - used:
                continue
            self.reporter.warning("W0402", f"value `{var}` is never used", flow.spans[var], "no loss term reads it",
                                  (), f"use `{var}` in `loss`, or remove it from `forward`")

    def _explain_parameters(self) -> None:
        """An error at a use of a parameter (`linear(dim)` with `dim = 0`) marks where the parameter gets
        its value, and the same error at further uses of it is reported once, with their lines."""
        params = {p.name: p for p in self.spec.of(ir.Param) if self.declared.get(p.name) is p}
        out, first = [], {}
        for d in self.reporter.diagnostics:
            name = self.source.text[d.span.start:d.span.end] if d.span is not None else ""
            if name not in params or name not in self.env.params or d.related or d.span == params[name].name_span:
                out.append(d)
                continue
            key = (d.code, d.message, d.label, name)
            if key in first:
                first[key][1].append(self._line(d.span.start))
                continue
            value = self.env.params[name]
            shown = str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) \
                else str(value)
            d = replace(d, related=((params[name].value.span, f"`{name}` is {shown} here"),))
            first[key] = (len(out), [])
            out.append(d)
        for index, lines in first.values():
            if lines:
                d = out[index]
                where = ", ".join(map(str, lines[:-1])) + (" and " if len(lines) > 1 else "") + str(lines[-1])
                name = self.source.text[d.span.start:d.span.end]
                out[index] = replace(d, notes=d.notes + (f"`{name}` gives the same error on "
                                                         f"line{'s' if len(lines) > 1 else ''} {where}",))
        self.reporter.diagnostics[:] = out

    # -- declarations ---------------------------------------------------------------
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
        if model.extends is not None:
            self.reporter.error("E0110", "`extends` is not supported yet", Span(model.name_span.end + 1, model.span.end),
                                "not yet", (), "copy the declarations of the base model into this file for now")
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
        for extra in tensors[1:]:
            self.reporter.error("E0411", "a model learns from one data tensor (plus optional labels)",
                                extra.name_span, "second data tensor", (),
                                "remove it, or declare class labels as `label[N]`",
                                ((tensors[0].name_span, "first data tensor"),))
        for extra in labels[1:]:
            self.reporter.error("E0411", "a model has at most one `label` data declaration", extra.name_span,
                                "second label", (), "remove it", ((labels[0].name_span, "first label"),))

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
                        t.span, "unsupported rank", (), f"flatten it to `[{_product(dims)}]`")
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
            low, high = (float(self._number(e)) for e in d.range)
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

    def _number(self, e):
        v = evaluate(e, self.env)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise error("E0209", f"expected a number, found {describe(v)}", e.span, "not a number")
        return v

    def _latent(self, l: ir.Latent) -> LatentDecl | None:
        if not self._declare(l.name, l, l.name_span, "latent"):
            return None
        if not isinstance(l.type, ir.ShapeType):
            raise error("E0314", "a latent needs a shape, like `[20]`", l.type.span, "expected a shape")
        t = self._shape(l.type)
        if t.is_label:
            raise error("E0314", "a latent cannot be a label", l.type.span, "label latent",
                        (), "declare class labels with `data y: label[N]`")
        prior = l.prior
        if prior.func not in ("normal", "uniform"):
            raise error("E0412", f"unknown prior `{prior.func}`", prior.func_span, "not a distribution",
                        ("priors: normal(mean, std), uniform(low, high)",),
                        did_you_mean(prior.func, ("normal", "uniform")))
        defaults = (0.0, 1.0) if prior.func == "normal" else (-1.0, 1.0)
        form = f"`{prior.func}({', '.join(f'{v:g}' for v in defaults)})`"
        if prior.kwargs:
            raise error("E0216", "priors take positional arguments only", prior.kwargs[0].name_span,
                        "keyword argument", (), f"write {form}")
        if len(prior.args) not in (0, 2):
            raise error("E0214", f"`{prior.func}` takes 2 arguments, but {len(prior.args)} were given",
                        prior.span, "expects two numbers", (), f"write {form}")
        args = tuple(float(self._number(a)) for a in prior.args) or defaults
        if prior.func == "normal" and args[1] <= 0:
            raise error("E0220", f"the standard deviation of `normal` must be positive, found {args[1]:g}",
                        prior.args[1].span, "not positive")
        if prior.func == "uniform" and args[0] >= args[1]:
            raise error("E0220", f"`uniform(low, high)` needs `low < high`, found {args[0]:g} and {args[1]:g}",
                        prior.args[0].span.join(prior.args[1].span), "empty interval", (),
                        "write e.g. `uniform(-1, 1)`")
        return LatentDecl(l.name, t, prior.func, args)

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

    def _outputs_match(self, net: ir.Network, checked, types, checker) -> bool:
        ok = True
        for head, (name, t, var), history in zip(net.outputs, checked.outputs, checker.output_histories):
            declared = self._guard(self._type, head.type, types)
            if declared is None or t is None:
                ok = ok and declared is not None
                continue
            if declared != t:
                what = f"output `{name}`" if name else "the output"
                chain = shape_chain(history)
                notes = [f"shapes: {chain}"] if chain else []
                self.reporter.error("E0308", f"{what} of `{net.name}` is declared {declared}, but the body computes {t}",
                                    head.type.span, f"declared {declared}", notes, _shape_fix(declared, t))
                ok = False
        return ok

    # -- cross-network contracts -----------------------------------------------------
    def _contracts(self, data, networks, checkers) -> None:
        """Generators/decoders produce data, discriminators/critics/encoders read it, critics score it.
        A network that breaks its contract is reported once and then treated as broken (no cascades)."""
        xs = [d for d in data if not d.type.is_label]
        if not xs:
            return
        x = xs[0]
        for net in self.spec.of(ir.Network):
            checked = networks.get(net.name)
            if checked is None or self.declared.get(net.name) is not net:
                continue
            broken = False
            if net.role in ("generator", "decoder"):
                t = checked.outputs[0][1]
                if t != x.type:
                    chain = shape_chain(checkers[net.name].output_histories[0])
                    self.reporter.error("E0420", f"{net.role} `{net.name}` produces {t}, but the data `{x.name}` is "
                                        f"{x.type}", net.outputs[0].type.span, f"produces {t}",
                                        [f"shapes: {chain}"] if chain else [],
                                        f"make `{net.name}` produce {x.type}, the shape of `{x.name}`",
                                        ((_data_type_span(self.spec, x.name), f"`{x.name}` declared here"),))
                    broken = True
            if net.role in ("discriminator", "critic", "encoder"):
                if not checked.inputs or checked.inputs[0][1] != x.type:
                    got = checked.inputs[0][1] if checked.inputs else "nothing"
                    span = net.inputs[0].span if net.inputs else net.name_span
                    self.reporter.error("E0421", f"{net.role} `{net.name}` takes {got}, but the data `{x.name}` is "
                                        f"{x.type}", span, f"takes {got}", (),
                                        f"its first input must be the data: `{net.name}({x.name})`",
                                        ((_data_type_span(self.spec, x.name), f"`{x.name}` declared here"),))
                    broken = True
            if net.role in ("discriminator", "critic") and checked.outputs and checked.outputs[0][1].numel != 1:
                self.reporter.error("E0422", f"{net.role} `{net.name}` returns {checked.outputs[0][1]} per sample, "
                                    "but it must return one score", net.outputs[0].type.span, "not a single score", (),
                                    "end it with `flatten -> linear(1)`, or a conv2d down to a 1x1 map")
                broken = True
            if broken:
                networks[net.name] = None


_WHAT = {ir.Param: "parameter", ir.Data: "data", ir.Latent: "latent", ir.Network: "network",
         ir.Schedule: "schedule"}
_KIND_NAMES = {ir.Param: "parameter", ir.Data: "data declaration", ir.Latent: "latent", ir.Network: "network",
               ir.Schedule: "schedule"}


def _product(dims) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


def _data_type_span(spec: ir.Spec, name: str) -> Span:
    for d in spec.of(ir.Data):
        if d.name == name:
            return d.type.span
    return Span(0, 0)


def _keyword(span: Span, word: str) -> Span:
    """The span of the keyword a declaration starts with."""
    return Span(span.start, span.start + len(word))


def _name_after(loss: ir.Loss, source: SourceFile) -> Span:
    """The name in `loss NAME = ...`."""
    import re
    m = re.compile(r"loss\s+(\w+)").match(source.text, loss.span.start)
    return Span(m.start(1), m.end(1)) if m else loss.span


def _shape_fix(declared: TensorType, got: TensorType) -> str | None:
    if declared.numel == got.numel and declared.shape != got.shape:
        return f"add `reshape({', '.join(map(str, declared.shape))})` at the end"
    if got.rank == 3 and declared.rank == 3 and got.shape[0] == declared.shape[0]:
        return "adjust kernel, stride or padding of the up/down-sampling layers"
    if got.rank == 3 and declared.rank == 1:
        return "add `flatten` at the end"
    if got.rank == declared.rank == 1:
        return f"end the network with `linear({declared.shape[0]})`"
    return None


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


def _feature_names(expr) -> list[str]:
    """Networks named as the first argument of `perceptual(F, a, b)`."""
    return [c.args[0].id for c in _calls(expr) if c.func == "perceptual" and c.args and isinstance(c.args[0], ir.Name)]


def _attributes(node) -> list[ir.Attribute]:
    if isinstance(node, ir.Attribute):
        return [node]
    if isinstance(node, (list, tuple)):
        return [a for item in node for a in _attributes(item)]
    out = []
    for attr in ("value", "args", "kwargs", "left", "right", "operand", "items"):
        if hasattr(node, attr):
            out += _attributes(getattr(node, attr))
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
