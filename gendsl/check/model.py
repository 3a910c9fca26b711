"""Check a whole (merged) spec in named phases: declarations (check/declarations.py), networks and their
contracts with the data (check/network.py, check/contracts.py), wiring (`forward`, `loss`), training;
then notes that explain errors by parameter values (check/explain.py). The result is a frozen
CheckedModel."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from gendsl import ir
from gendsl.check.contracts import ContractChecks
from gendsl.check.declarations import DeclarationChecks
from gendsl.check.explain import ParameterNotes
from gendsl.check.flow import FlowChecker
from gendsl.check.loss import LossChecker
from gendsl.check.network import NetworkChecker
from gendsl.check.result import CallStep, CheckedModel
from gendsl.check.training import TrainChecker, check_schedule
from gendsl.check.values import Env
from gendsl.diagnostics import CompileError, Reporter
from gendsl.source import SourceFile, SourceMap, Span


def check(spec: ir.Spec, source: SourceFile | SourceMap, reporter: Reporter) -> CheckedModel | None:
    """Check one merged spec (gendsl.compose). `source` holds every file its spans point into."""
    return _ModelChecker(spec, source, reporter).run()


class _ModelChecker(DeclarationChecks, ContractChecks, ParameterNotes):
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

    def _declare(self, name: str, decl, span, what: str) -> bool:
        """Whether `decl` is the declaration its name refers to (not a reported duplicate)."""
        return self.declared.get(name) is decl

    def _line(self, offset: int) -> int:
        return self.source.line_col(offset)[0]

    def run(self) -> CheckedModel | None:
        """The phases, in order; each reports what it finds and leaves its results on `self` for the next.
        A phase never re-reports what an earlier one found broken (no cascades)."""
        if not self.spec.decls:
            self.reporter.error("E0108", "the file is empty", Span(0, 0), "nothing here",
                                ("a spec names its model, declares its data, networks, `forward` and `loss`",),
                                "start with `model my_model`; see specs/vae.gen for a complete example")
            return None
        name = self._model_name()
        self._declare_all()
        self._phase_declarations()
        self._phase_networks()
        self._phase_wiring()
        self._phase_training()
        self._explain_parameters()
        self._explain_variant_parameters()
        if self.reporter.has_errors or name is None:
            return None
        return self._result(name)

    def _phase_declarations(self) -> None:
        """Parameters, data, latents and schedules."""
        spec = self.spec
        self._params()
        self.data = [d for d in (self._guard(self._data, d) for d in spec.of(ir.Data)) if d]
        self.latents = [lat for lat in (self._guard(self._latent, decl) for decl in spec.of(ir.Latent)) if lat]
        self.schedules = []
        for s in spec.of(ir.Schedule):
            if self._declare(s.name, s, s.name_span, "schedule"):
                checked = self._guard(check_schedule, s, self.env)
                if checked:
                    self.schedules.append(checked)
        self._data_count()

    def _phase_networks(self) -> None:
        """Every network's body and shapes, its declared outputs, and the contracts with the data."""
        spec = self.spec
        types = {d.name: d.type for d in self.data} | {lat.name: lat.type for lat in self.latents}
        broken_types = {d.name for d in spec.of(ir.Data)} | {lat.name for lat in spec.of(ir.Latent)}
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
        for dup in self.duplicated & set(networks):
            networks[dup] = None  # which of the two a call means is unclear: calls stay quiet
        self._contracts(self.data, networks, checkers)
        self.networks = networks

    def _phase_wiring(self) -> None:
        """`forward` and `loss`: how networks, data and latents connect, and what is minimised; which
        networks are trained."""
        spec = self.spec
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
                           {d.name: d.type for d in self.data}, {lat.name: lat for lat in self.latents}, self.networks,
                           self.env, self.reporter, set(self.declared))
        flow.broken |= ({d.name for d in spec.of(ir.Data)} - {d.name for d in self.data}) | \
            ({lat.name for lat in spec.of(ir.Latent)} - {lat.name for lat in self.latents}) | \
            {n for n, net in self.declared.items() if isinstance(net, ir.Network) and self.networks.get(n) is None} \
            | self.duplicated
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
            # every declared schedule counts as one, so a broken schedule causes no `unknown name` below
            loss_checker = LossChecker(loss, flow, self.env, {s.name for s in spec.of(ir.Schedule)}, self.reporter)
            loss_checker.run(self.source.text)
        if not losses and spec.of(ir.Network):
            self.reporter.error("E0410", "the model has no `loss`", anchor, "nothing to minimise", (),
                                "add e.g. `loss = mse(x_hat, x)`")
        used = {c.func for f in forwards for c in _calls(f)} | {c.func for term in losses for c in _calls(term)} | \
            {n for term in losses for n in _feature_names(term.value)} | \
            {a.obj for term in losses for a in _attributes(term.value)}
        feature_nets = {t.options["features"] for t in loss_checker.terms if t.kind == "perceptual"} \
            if loss_checker else set()
        # "never used" is only trustworthy when `forward` and `loss` exist and are free of errors
        wiring_ok = forwards and losses and self.reporter.error_count == errors_before_wiring
        for net in spec.of(ir.Network):
            if wiring_ok and net.name not in used and self.declared.get(net.name) is net:
                self.reporter.warning("W0401", f"network `{net.name}` is never used", net.name_span, "never called",
                                      (), f"call it in `forward`, e.g. `y = {net.name}(...)`, or remove it")
        self.reaches = flow.terms_reached()  # network -> the loss terms its parameters reach
        if wiring_ok and not self.reporter.has_errors:  # the model graph is whole: reachability is trustworthy
            used = {n for n, terms in self.reaches.items() if terms}
            self._unreached(spec, flow, used)
        self.trained = [n for n, c in self.networks.items() if c is not None and n in used and c.param_count > 0
                        and n not in feature_nets]
        if not self.trained and not self.reporter.has_errors:  # train.py would build an optimizer over nothing
            if not spec.of(ir.Network):
                self.reporter.error("E0410", "the model declares no networks", anchor, "nothing to train", (),
                                    "add one, e.g. `network net(x) -> [n] { ... }`, a `forward` block and a `loss`")
            else:
                first = spec.of(ir.Network)[0]
                self.reporter.error("E0410", "no network the loss trains has parameters", first.name_span,
                                    "nothing to train", (),
                                    "add a layer with weights, e.g. `linear(n)` or `conv2d(c, k)`")
        self.flow, self.steps, self.loss_checker = flow, steps, loss_checker

    def _phase_training(self) -> None:
        self.train = TrainChecker(self.spec.of(ir.Train), self.networks, self.trained, self.env, self.reporter).run()

    def _result(self, name: str) -> CheckedModel:
        """The frozen result; the driver replaces `sha256` with the hash over every source file."""
        loss_checker = self.loss_checker
        taps = loss_checker.taps if loss_checker else {}
        tap_vars = loss_checker.tap_vars if loss_checker else {}
        networks = [replace(self.networks[n.name], taps=list(taps.get(n.name, ())))
                    for n in self.spec.of(ir.Network) if self.networks.get(n.name)]
        steps = [replace(s, taps=list(tap_vars[s.network])) if isinstance(s, CallStep) and s.network in tap_vars
                 else s for s in self.steps]
        return CheckedModel(
            name=name, path=self.source.path,  # as it is: emit quotes it (lower/quoting.py)
            sha256=hashlib.sha256(self.source.text.encode("utf-8")).hexdigest(),
            params=dict(self.env.params), data=self.data, latents=self.latents,
            networks=networks, forward=steps, terms=loss_checker.terms if loss_checker else [],
            gan=loss_checker.gans[0] if loss_checker and loss_checker.gans else None,
            gans=list(loss_checker.gans) if loss_checker else [], schedules=self.schedules, train=self.train,
            variables=dict(self.flow.vars),
            reaches={n: self.reaches[n] for n in sorted(self.reaches) if n in self.networks})

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


def _keyword(span: Span, word: str) -> Span:
    """The span of the keyword a declaration starts with."""
    return Span(span.start, span.start + len(word))


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
