"""The `forward` block: how data, latents and networks connect, type-checked.

Every call must pass tensors of exactly the types the network declares, so the
cross-network contracts (generator output = discriminator input, encoder heads
= latent size, ...) fall out of ordinary type checking here.

The model graph is a networkx DiGraph: a node per data tensor, latent and
forward value (named as in the spec), per network (`("network", name)`) and
per loss term (`("term", label)`, added by the loss checker), with an edge from
what each one is computed from. Which networks a value depends on, whether a
code is computed from an input, and what the loss reaches are graph questions
(ancestors, paths, descendants).
"""

from __future__ import annotations

import networkx as nx

from gendsl import ir
from gendsl.check.names import check_identifier
from gendsl.check.result import CallStep, CheckedNetwork, CorruptStep, LatentDecl, SampleStep
from gendsl.check.types import TensorType
from gendsl.check.values import Env, describe, evaluate, expr_text
from gendsl.diagnostics import Cascade, CompileError, Reporter, did_you_mean, error, plural

CORRUPTIONS = {
    "gaussian_noise": ("gaussian", "std", 0.1),
    "masking_noise": ("masking", "p", 0.25),
    "salt_and_pepper": ("salt_and_pepper", "p", 0.1),
}


class FlowChecker:
    def __init__(self, forward: ir.Forward, variables: dict[str, TensorType], latents: dict[str, LatentDecl],
                 networks: dict[str, CheckedNetwork | None], env: Env, reporter: Reporter, taken: set[str]):
        self.forward = forward
        self.vars = variables  # data are visible from the start
        self.latents = latents
        self.networks = networks
        self.env = env
        self.reporter = reporter
        self.taken = taken  # top-level names a variable may not reuse
        self.steps = []
        self.calls: dict[str, list[CallStep]] = {}
        self.graph = nx.DiGraph()  # the model graph (see the module's docstring)
        self.graph.add_nodes_from(variables, kind="data")
        self.broken: set[str] = set()  # values (and declarations) whose error was already reported
        self.spans: dict = {}  # forward variable -> where it was assigned

    def run(self):
        for step in self.forward.steps:
            try:
                if isinstance(step, ir.Sample):
                    self._sample(step)
                else:
                    self._assign(step)
            except CompileError as exc:
                if exc.diagnostic is not None:
                    self.reporter.add(exc.diagnostic)
                targets = [step.target] if isinstance(step, ir.Sample) else list(step.targets)
                self.broken.update(t.id for t in targets)
        return self.steps

    def depends(self, var: str) -> set[str]:
        """The networks whose outputs `var` is computed from (empty for data and unknown values)."""
        if var not in self.graph:
            return set()
        return {n[1] for n in nx.ancestors(self.graph, var) if isinstance(n, tuple) and n[0] == "network"}

    def computed_from(self, code: str, source: str) -> bool:
        """Whether value `code` is computed from value `source` (through calls, samples, corruptions)."""
        return code in self.graph and source in self.graph and nx.has_path(self.graph, source, code)

    def terms_reached(self) -> dict[str, list[str]]:
        """Each network in the graph -> the labels of the loss terms its parameters reach, sorted."""
        return {node[1]: sorted(d[1] for d in nx.descendants(self.graph, node) if isinstance(d, tuple))
                for node in self.graph if isinstance(node, tuple) and node[0] == "network"}

    def unused_values(self) -> list[str]:
        """Forward values that no loss term is computed from, in the order `forward` assigns them."""
        reach_loss = set()
        for node in self.graph:
            if isinstance(node, tuple) and node[0] == "term":
                reach_loss |= nx.ancestors(self.graph, node)
        return [v for v in self.spans if v not in reach_loss]

    def add_value(self, name: str, reads, network: str | None = None, kind: str = "value") -> None:
        """Value `name` in the model graph, computed from the values `reads` (by `network`, if any)."""
        self.graph.add_node(name, kind=kind)
        self.graph.add_edges_from((r, name) for r in reads)
        if network is not None:
            self.graph.add_edge(("network", network), name)

    def _bind(self, target: ir.Name, t: TensorType, reads, network: str | None = None) -> None:
        if target.id in self.vars:
            first = self.spans.get(target.id)
            raise error("E0202", f"`{target.id}` is assigned twice in `forward`", target.span, "assigned again",
                        (), "give each value its own name",
                        ((first, "first assigned here"),) if first is not None else ())
        if target.id in self.taken and target.id not in self.latents:
            raise error("E0202", f"`{target.id}` is already the name of a declaration", target.span, "name taken",
                        (), f"call the value something else, e.g. `{target.id}_out`")
        check_identifier(target.id, target.span, "variable")
        self.vars[target.id] = t
        self.add_value(target.id, reads, network, "latent" if target.id in self.latents else "value")
        self.spans[target.id] = target.span

    def use(self, expr: ir.Expr) -> str:
        """A forward variable read by a step or a loss term."""
        if not isinstance(expr, ir.Name):
            raise error("E0217", "expected the name of a value from `forward`", expr.span, "not a name",
                        (), f"compute it on a line of its own first: `v = {expr.func}(...)`, then pass `v`"
                        if isinstance(expr, ir.Call) else "name the value first in `forward`, then pass the name")
        if expr.id in self.broken:
            raise Cascade()
        if expr.id not in self.vars:
            if expr.id in self.latents:
                raise error("E0401", f"latent `{expr.id}` is used before it is sampled", expr.span, "not sampled yet",
                            (), f"add `{expr.id} ~ prior` (or `{expr.id} ~ normal(mu, logvar)`) to `forward` first")
            raise error("E0201", f"unknown value `{expr.id}` in `forward`", expr.span, "not defined", (),
                        did_you_mean(expr.id, self.vars) or "define it earlier in `forward`")
        return expr.id

    def _sample(self, step: ir.Sample) -> None:
        name = step.target.id
        latent = self.latents.get(name)
        if latent is None and name in self.broken:
            raise Cascade()
        if latent is None:
            unsampled = [n for n in self.latents if n not in self.vars]
            self.broken.update(unsampled)  # the sample was probably meant for one of them: no follow-on errors
            raise error("E0402", f"`{name}` is not a declared latent", step.target.span, "not a latent", (),
                        did_you_mean(name, self.latents) or
                        (f"did you mean `{unsampled[0]}`?" if len(unsampled) == 1 else
                         f"declare it: `latent {name}: [n] ~ normal(0, 1)`"))
        dist = step.dist
        if isinstance(dist, ir.Name) and dist.id == "prior":
            self._bind(step.target, latent.type, ())
            self.steps.append(SampleStep(name, "prior", []))
            return
        if isinstance(dist, ir.Call) and dist.func == "normal":
            if len(dist.args) != 2 or dist.kwargs:
                raise error("E0403", "a reparameterised sample is `normal(mu, logvar)`", dist.span,
                            "expects two values: mean and log-variance", (),
                            f"write `{name} ~ normal(mu, logvar)` with the encoder's two heads")
            mu, logvar = (self.use(a) for a in dist.args)
            for arg, var in zip(dist.args, (mu, logvar)):
                if self.vars[var] != latent.type:
                    raise error("E0404", f"`{var}` is {self.vars[var]}, but latent `{name}` is {latent.type}",
                                arg.span, f"shape {self.vars[var]}", (),
                                f"make the encoder head `{var}` produce {latent.type}")
            self._bind(step.target, latent.type, (mu, logvar))
            self.steps.append(SampleStep(name, "normal", [mu, logvar]))
            return
        raise error("E0403", f"cannot sample `{name}` from this", dist.span, "not `prior` or `normal(mu, logvar)`",
                    (), f"write `{name} ~ prior` or `{name} ~ normal(mu, logvar)`")

    def _assign(self, step: ir.Assign) -> None:
        value = step.value
        if not isinstance(value, ir.Call):
            raise error("E0405", "`forward` assigns the result of a network or a corruption", value.span,
                        "expected a call like `net(x)`", (),
                        "call a network (`x_hat = dec(z)`) or corrupt a value (`x_noisy = gaussian_noise(x, std=0.3)`)")
        if value.func in CORRUPTIONS:
            self._corrupt(step, value)
            return
        if value.func not in self.networks:
            if value.func in self.broken:
                raise Cascade()
            raise error("E0201", f"unknown network `{value.func}`", value.func_span, "not a network", (),
                        did_you_mean(value.func, list(self.networks) + list(CORRUPTIONS)) or
                        (f"networks: {', '.join(f'`{n}`' for n in self.networks)}" if self.networks else
                         "declare it, e.g. `network net(x) -> [n] { ... }`"))
        net = self.networks[value.func]
        args = [self.use(a) for a in value.args]
        if value.kwargs:
            all_args = value.args + tuple(k.value for k in value.kwargs)
            raise error("E0216", "networks take positional arguments only", value.kwargs[0].name_span,
                        "keyword argument", (), f"write `{value.func}({', '.join(expr_text(a) for a in all_args)})`")
        if net is None:
            raise Cascade()
        if len(args) != len(net.inputs):
            raise error("E0406", f"`{net.name}` takes {plural(len(net.inputs), 'input')}, but "
                        f"{plural(len(args), 'was', 'were')} given",
                        value.span, f"expected {plural(len(net.inputs), 'input')}",
                        (f"`{net.name}({', '.join(f'{n}: {t}' for n, t in net.inputs)})`",))
        for arg, var, (in_name, in_type) in zip(value.args, args, net.inputs):
            if self.vars[var] != in_type:
                help_text = None
                if in_type.is_label and not self.vars[var].is_label:
                    help_text = "pass the labels declared with `data y: label[N]`"
                raise error("E0407", f"`{net.name}` input `{in_name}` is {in_type}, but `{var}` is {self.vars[var]}",
                            arg.span, f"`{var}` is {self.vars[var]}", self._origin(var), help_text)
        if len(step.targets) != len(net.outputs):
            raise error("E0408", f"`{net.name}` returns {plural(len(net.outputs), 'value')}, but "
                        f"{plural(len(step.targets), 'name')} receive{'s' if len(step.targets) == 1 else ''} them",
                        step.targets[0].span.join(step.targets[-1].span),
                        f"expected {plural(len(net.outputs), 'name')}",
                        (f"outputs: {', '.join(str(n or 'out') + ': ' + str(t) for n, t, _ in net.outputs)}",),
                        f"write `{', '.join(n or 'out' for n, _, _ in net.outputs)} = {net.name}(...)`")
        for target, (_, t, _) in zip(step.targets, net.outputs):
            self._bind(target, t, args, net.name)
        call = CallStep([t.id for t in step.targets], net.name, args)
        self.calls.setdefault(net.name, []).append(call)
        self.steps.append(call)

    def _origin(self, var: str) -> tuple[str, ...]:
        for step in self.steps:
            if isinstance(step, CallStep) and var in step.targets:
                net = self.networks[step.network]
                declared = net.outputs[step.targets.index(var)][1]
                return (f"`{var}` is an output of `{step.network}`, declared {declared}",)
        return ()

    def _corrupt(self, step: ir.Assign, value: ir.Call) -> None:
        kind, option, default = CORRUPTIONS[value.func]
        if len(step.targets) != 1 or not value.args:
            raise error("E0405", f"`{value.func}` corrupts one value into one name", value.span, "malformed corruption",
                        (), f"write `x_noisy = {value.func}(x, {option}={default})`")
        source = self.use(value.args[0])
        amount_expr = value.args[1] if len(value.args) > 1 else None
        for kw in value.kwargs:
            if kw.name != option:
                raise error("E0212", f"`{value.func}` has no argument `{kw.name}`", kw.name_span, "unknown argument",
                            (), f"it takes `{option}`")
            amount_expr = kw.value
        amount = default
        if amount_expr is not None:
            v = evaluate(amount_expr, self.env)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise error("E0209", f"`{option}` must be a number, found {describe(v)}",
                            amount_expr.span, "not a number")
            amount = float(v)
            high = None if option == "std" else 1.0
            if amount < 0 or (high is not None and amount >= high):
                raise error("E0220", f"`{option}` of `{value.func}` must be " +
                            (f"in [0, {high:g}), found {amount:g}" if high else f"at least 0, found {amount:g}"),
                            amount_expr.span, "out of range")
        if self.vars[source].is_label:
            raise error("E0409", "labels cannot be corrupted", value.args[0].span, "class labels", (),
                        "corrupt the data tensor instead")
        self._bind(step.targets[0], self.vars[source], (source,))
        self.steps.append(CorruptStep(step.targets[0].id, kind, source, amount))


def is_cascade(exc: CompileError) -> bool:
    return exc.diagnostic is None
