"""The loss: a weighted sum of terms, each checked against the forward values it reads."""

from __future__ import annotations

from gendsl import ir
from gendsl.check.contracts import is_score
from gendsl.check.flow import FlowChecker
from gendsl.check.names import one_line
from gendsl.check.ranges import F32_TINY, POSITIVE_INT, POSITIVE_SCALE, SCALE, WEIGHT, Range, out_of_range
from gendsl.check.result import CallStep, CheckedNetwork, GanObjective, Term, Weight
from gendsl.check.types import TensorType
from gendsl.source import Span
from gendsl.check.values import Env, Symbol, as_int, describe, evaluate, evaluate_choice
from gendsl.diagnostics import Cascade, CompileError, Reporter, choices_text, did_you_mean, error, plural

RECONSTRUCTION = ("mse", "l1", "bce", "bce_logits")
GAN_KINDS = ("minimax", "non_saturating", "max_likelihood", "least_squares", "wasserstein", "wasserstein_gp", "hinge")
# objectives that cannot train a network computing the real side (BiGAN/ALI's `D(x, E(x))`, whose generator
# side minimises the real side's loss with its labels swapped): why each is refused (E0515)
REAL_SIDE_REFUSED = {
    "max_likelihood": "its generator loss is a likelihood-ratio estimate for generated samples; a swapped-label "
                      "version for the real side has no such meaning",
    "wasserstein_gp": "the gradient penalty interpolates the first input only; between pairs computed on both "
                      "sides (data and its code, a sample and its noise) the joint interpolate is not defined",
}
REAL_SIDE_KINDS = tuple(k for k in GAN_KINDS if k not in REAL_SIDE_REFUSED)
TERMS = RECONSTRUCTION + ("cross_entropy", "kl", "l1_activity", "kl_sparsity", "contractive", "perceptual", "gan")
# numeric options of loss terms -> (kind, default, valid range), checked like every other range (check/ranges.py):
# a target activation is a probability inside (0, 1) (its log and log(1 - rho) are taken), and at least the
# smallest normal float32 (a smaller one is 0 in float32, and 0 * log 0 is nan); a penalty
# weight and a clipping bound are positive and at most SCALE, so the weighted penalty stays finite in float32
TERM_OPTIONS = {
    "kl_sparsity": {"rho": ("float", 0.05, Range(F32_TINY, 1, high_open=True))},
    "perceptual": {"layers": ("int", None, POSITIVE_INT)},  # at most the network's layers: checked with it
    "gan": {"clip": ("float", 0.01, POSITIVE_SCALE), "gp": ("float", 10.0, POSITIVE_SCALE),
            "r1": ("float", None, POSITIVE_SCALE), "r2": ("float", None, POSITIVE_SCALE),
            "every": ("int", None, Range(1, SCALE))},  # R1/R2 every N discriminator steps
}

# torchvision's pretrained feature networks for `perceptual(vgg16, a, b)`: the layers of `<arch>.features`
# (conv 3x3 padding 1, each followed by a ReLU; "M" a 2x2 max-pool) and how many of its modules are kept by
# default (up to relu3_3 / relu3_4, the layers of Johnson et al.'s perceptual losses).
PRETRAINED = {
    "vgg16": ([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"], 16),
    "vgg19": ([64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
              18),
}


def pretrained_output(arch: str, layers: int, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape `<arch>.features[:layers]` gives for one (C, H, W) image, or None if a pooling empties it."""
    _, h, w = shape
    c = 3
    modules = [m for v in PRETRAINED[arch][0] for m in ((v,) if v == "M" else (v, "relu"))]
    for m in modules[:layers]:
        if m == "M":
            h, w = h // 2, w // 2
            if h < 1 or w < 1:
                return None
        elif m != "relu":
            c = m
    return (c, h, w)


def pretrained_layers(arch: str) -> int:
    return sum(1 if v == "M" else 2 for v in PRETRAINED[arch][0])


class LossChecker:
    def __init__(self, loss: ir.Loss, flow: FlowChecker, env: Env, schedules: set[str], reporter: Reporter):
        self.loss = loss
        self.flow = flow
        self.env = env
        self.schedules = schedules
        self.reporter = reporter
        self.terms: list[Term] = []
        self.gans: list[GanObjective] = []  # the adversarial terms, each with its own discriminator
        self.text = ""
        # the named layers the loss reads, per network: (statement, type) and the forward variable
        # holding it; check/model.py puts them into the result it builds
        self.taps: dict[str, list[tuple[str, TensorType]]] = {}
        self.tap_vars: dict[str, list[str]] = {}

    def run(self, source_text: str) -> None:
        self.source_text = source_text
        self._sum(self.loss.value, Weight())  # every expression is a term or reported (E0503, E0504)

    def _sum(self, expr: ir.Expr, weight: Weight) -> None:
        if isinstance(expr, ir.BinOp) and expr.op in "+-":
            self._sum(expr.left, weight)
            self._sum(expr.right, weight if expr.op == "+" else weight.times(Weight(-1.0)))
            return
        if isinstance(expr, ir.Unary):
            self._sum(expr.operand, weight if expr.op == "+" else weight.times(Weight(-1.0)))
            return
        if isinstance(expr, ir.BinOp) and expr.op in ("*", "/"):
            left_is_term, right_is_term = _has_term(expr.left), _has_term(expr.right)
            if left_is_term and right_is_term:
                self.reporter.error("E0503",
                                    f"two loss terms cannot be {'multiplied' if expr.op == '*' else 'divided'}",
                                    expr.span, f"term {expr.op} term", (),
                                    "a loss is a weighted sum of terms: `recon + 0.5 * kl(z)`")
                return
            if not left_is_term and not right_is_term:
                self._not_a_term(expr)
                return
            if right_is_term:
                if expr.op == "/":
                    self.reporter.error("E0503", "cannot divide by a loss term", expr.right.span, "a loss term",
                                        (), "a loss is a weighted sum of terms: `recon + 0.5 * kl(z)`")
                    return
                self._sum(expr.right, weight.times(self._weight(expr.left)))
                return
            w = self._weight(expr.right)
            if expr.op == "/":
                if w.schedules:
                    self.reporter.error("E0503", "cannot divide by a schedule", expr.right.span, "a schedule",
                                        (), "multiply by a schedule that goes the other way")
                    return
                if w.constant == 0:
                    self.reporter.error("E0210", "division by zero", expr.right.span, "this is zero")
                    return
                w = Weight(self._in_weight_range(1.0 / w.constant, expr.right.span))
            self._sum(expr.left, weight.times(w))
            return
        if isinstance(expr, ir.Call):
            try:
                self._term(expr, weight)
            except CompileError as exc:
                if exc.diagnostic is not None:
                    self.reporter.add(exc.diagnostic)
            return
        self._not_a_term(expr)

    def _not_a_term(self, expr: ir.Expr) -> None:
        found = "a number" if isinstance(expr, ir.Num) else "a name" if isinstance(expr, ir.Name) else \
            "an expression without a loss term"
        self.reporter.error("E0504", f"expected a loss term such as `mse(x_hat, x)`, found {found}", expr.span,
                            "not a loss term", (f"terms: {', '.join(TERMS)}",),
                            "weights multiply terms: `0.5 * kl(z)`" if not isinstance(expr, ir.Name) else
                            did_you_mean(expr.id, TERMS) or "weights multiply terms: `beta * kl(z)`")

    def _weight(self, expr: ir.Expr) -> Weight:
        if isinstance(expr, ir.Name) and expr.id in self.schedules:
            return Weight(1.0, (expr.id,))
        if isinstance(expr, ir.Name) and expr.id not in self.env.params and expr.id not in self.env.broken \
                and expr.id not in ("true", "false"):
            self.reporter.error("E0201", f"unknown name `{expr.id}`", expr.span, "not a parameter or schedule", (),
                                did_you_mean(expr.id, list(self.env.params) + list(self.schedules)) or
                                f"declare it: `param {expr.id} = 1.0` or "
                                f"`schedule {expr.id} = linear(0, 1, epochs=10)`")
            return Weight()
        if isinstance(expr, ir.BinOp) and expr.op == "*":
            return self._weight(expr.left).times(self._weight(expr.right))
        try:
            value = evaluate(expr, self.env)
        except CompileError as exc:
            self.reporter.add(exc.diagnostic)
            return Weight()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.reporter.error("E0209", f"a loss weight must be a number, found {describe(value)}", expr.span,
                                "not a number")
            return Weight()
        return Weight(self._in_weight_range(float(value), expr.span))

    def _in_weight_range(self, value: float, span: Span) -> float:
        """A loss weight, or E0220 (reported; the weight counts as 1): one beyond WEIGHT overflows float32."""
        if value in WEIGHT:
            return value
        self.reporter.error("E0220", out_of_range("a loss weight", value, WEIGHT), span, "out of range",
                            ("loss terms and their gradients are float32",))
        return 1.0

    # -- terms -----------------------------------------------------------------------
    def _term(self, call: ir.Call, weight: Weight) -> None:
        kind = call.func
        if kind not in TERMS:
            raise error("E0504", f"unknown loss term `{kind}`", call.func_span, "not a loss term",
                        (f"terms: {', '.join(TERMS)}",), did_you_mean(kind, TERMS))
        text = one_line(self.source_text[call.span.start:call.span.end])  # shown in generated comments
        if kind == "gan":
            self._gan(call, weight)
            return
        options = self._options(call, kind)
        args, types = self._args(call, kind)
        if kind in RECONSTRUCTION:
            self._arity(call, 2, f"`{kind}(prediction, target)`")
            a, b = types
            if a != b:
                raise error("E0505", f"`{kind}` compares {a} with {b}", call.args[0].span, f"`{args[0]}` is {a}",
                            (), "both sides of a reconstruction loss must have the same shape",
                            ((call.args[1].span, f"`{args[1]}` is {b}"),))
            if a.is_label:
                raise error("E0505", f"`{kind}` cannot compare class labels", call.args[0].span, "class labels",
                            (), "use `cross_entropy(logits, y)`")
        elif kind == "cross_entropy":
            self._arity(call, 2, "`cross_entropy(logits, labels)`")
            logits, labels = types
            if not labels.is_label or logits.shape != (labels.classes,):
                raise error("E0505",
                            f"`cross_entropy` needs logits of shape ({labels.classes if labels.is_label else 'N'},)"
                            f" and labels, found {logits} and {labels}", call.span, "mismatched arguments", (),
                            "write `cross_entropy(logits, y)` with `data y: label[N]` and logits of shape (N,)")
        elif kind == "kl":
            self._arity(call, 1, "`kl(z)`")
            step = self._sample_of(call.args[0], args[0])
            prior = self.flow.latents[args[0]]
            if prior.prior != "normal":
                raise error("E0506", f"`kl` needs a normal prior, but `{args[0]}` has a {prior.prior} prior",
                            call.args[0].span, "no closed form", (), f"declare `latent {args[0]}: [..] ~ normal(0, 1)`")
            options["mu"], options["logvar"] = step.args
            options["prior"] = prior.prior_args
        elif kind in ("l1_activity", "kl_sparsity"):
            self._arity(call, 1, f"`{kind}(h)`")
        elif kind == "contractive":
            self._arity(call, 2, "`contractive(code, x)`")
            code, source = args
            if not self.flow.computed_from(code, source):
                swapped = self.flow.computed_from(source, code)
                raise error("E0507", f"`{code}` does not depend on `{source}`",
                            call.args[0].span.join(call.args[1].span),
                            "no Jacobian", ("the contractive penalty is the Jacobian of the code with respect to the "
                                            "input it was computed from",),
                            f"the arguments are the other way round: `contractive({source}, {code})`" if swapped
                            else f"pass a code computed from `{source}`, e.g. `contractive(code, {source})`")
            coupled = [(n, layer) for n in sorted(self.flow.depends(code))
                       if self.flow.networks.get(n) is not None
                       for layer in self.flow.networks[n].layers if layer.op == "batchnorm"][:1]
            for net_name, norm in coupled:
                self.reporter.warning("W0503", f"the contractive penalty goes through `batchnorm` in `{net_name}`",
                                      norm.span, "batch statistics",
                                      ("the penalty is each sample's Jacobian; in training mode batchnorm makes each "
                                       "code depend on the whole batch, so the computed norm mixes samples",),
                                      "remove `batchnorm` from the encoder, or use `layernorm`")
        elif kind == "perceptual":
            self._perceptual(call, options, args, types)
            args = args[1:]
        label = kind if not any(t.label == kind for t in self.terms) else f"{kind}_{len(self.terms)}"
        self.terms.append(Term(kind, args, options, weight, text, label))
        self._add_term(label, args, [options["features"]] if kind == "perceptual" else [])

    def _arity(self, call: ir.Call, n: int, form: str) -> None:
        if len(call.args) != n:
            raise error("E0214", f"`{call.func}` takes {plural(n, 'argument')}, but "
                        f"{plural(len(call.args), 'was', 'were')} given", call.span,
                        f"expected {plural(n, 'argument')}", (), f"write {form}")

    def _options(self, call: ir.Call, kind: str) -> dict:
        allowed = {"reduction": ("mean", "sum")} if kind in RECONSTRUCTION + ("cross_entropy", "perceptual") else {}
        allowed.update({name: spec for name, spec in TERM_OPTIONS.get(kind, {}).items()})
        options = {"reduction": "mean"} if "reduction" in allowed else {}
        options.update({name: default for name, (_, default, _) in TERM_OPTIONS.get(kind, {}).items()
                        if default is not None})
        for kw in call.kwargs:
            if kw.name not in allowed:
                raise error("E0212", f"`{kind}` has no option `{kw.name}`", kw.name_span, "unknown option",
                            (f"options: {', '.join(allowed) or 'none'}",), did_you_mean(kw.name, allowed))
            spec = allowed[kw.name]
            if isinstance(spec, tuple) and isinstance(spec[0], str) and spec[0] in ("int", "float"):
                options[kw.name] = _number_option(kw, spec, self.env)
                if kw.name == "layers":
                    options["layers_span"] = kw.value.span
            else:
                value = evaluate_choice(kw.value, self.env, spec)
                name = value.name if isinstance(value, Symbol) else value
                if name not in spec:
                    raise error("E0221", f"`{kw.name}` must be {choices_text(spec)}", kw.value.span,
                                f"found {describe(value)}", (), did_you_mean(str(name), spec))
                options[kw.name] = name
        return options

    def _args(self, call: ir.Call, kind: str) -> tuple[list[str], list[TensorType]]:
        names, types = [], []
        for k, arg in enumerate(call.args):
            if kind == "perceptual" and k == 0:
                names.append(arg.id if isinstance(arg, ir.Name) else "")
                types.append(TensorType(()))
                continue
            if isinstance(arg, ir.Attribute):
                var, t = self._tap(arg)
            else:
                var = self.flow.use(arg)
                t = self.flow.vars[var]
            names.append(var)
            types.append(t)
        return names, types

    def _tap(self, attr: ir.Attribute) -> tuple[str, TensorType]:
        """`enc.h`: the activation of statement `h` inside network `enc`, read from its one call."""
        net = self.flow.networks.get(attr.obj)
        if attr.obj not in self.flow.networks:
            raise error("E0201", f"unknown network `{attr.obj}`",
                        Span(attr.span.start, attr.span.start + len(attr.obj)),
                        "not a network", (),
                        did_you_mean(attr.obj, self.flow.networks))
        if net is None:
            raise Cascade()
        layer = net.named(attr.attr)
        if layer is None:
            raise error("E0201", f"network `{attr.obj}` has no statement named `{attr.attr}`", attr.attr_span,
                        "not a named statement", (),
                        did_you_mean(attr.attr, [layer.statement for layer in net.layers if layer.statement])
                        or f"name it inside `{attr.obj}`: `{attr.attr} = ...`")
        calls = self.flow.calls.get(net.name, [])
        if len(calls) != 1:
            raise error("E0508", f"`{attr.obj}` is called {len(calls)} times in `forward`, so `{attr.obj}.{attr.attr}` "
                        "is ambiguous", attr.span, "which call?", (),
                        f"return `{attr.attr}` as an output of `{attr.obj}` and name it in `forward`")
        outputs = [v for _, _, v in net.outputs]
        if layer.var in outputs and calls[0].targets:
            # `enc.code` where `code` is what `enc` returns: read the value `forward` already named
            return calls[0].targets[outputs.index(layer.var)], layer.out
        taps, tap_vars = self.taps.setdefault(net.name, []), self.tap_vars.setdefault(net.name, [])
        if attr.attr in [n for n, _ in taps]:
            return tap_vars[[n for n, _ in taps].index(attr.attr)], layer.out
        var = f"{net.name}_{attr.attr}"
        while var in self.flow.vars:
            var += "_"
        taps.append((attr.attr, layer.out))
        tap_vars.append(var)
        self.flow.vars[var] = layer.out
        self.flow.add_value(var, calls[0].args, net.name)
        return var, layer.out

    def _sample_of(self, expr: ir.Expr, var: str):
        from gendsl.check.result import SampleStep
        for step in self.flow.steps:
            if isinstance(step, SampleStep) and step.target == var:
                if step.dist != "normal":
                    raise error("E0506", f"`kl({var})` needs `{var} ~ normal(mu, logvar)` in `forward`", expr.span,
                                "sampled from the prior", (), "KL compares the encoder's posterior with the prior")
                return step
        raise error("E0506", f"`kl` takes a latent sampled in `forward`, not `{var}`", expr.span, "not a latent sample",
                    (), "write `kl(z)` where `forward` has `z ~ normal(mu, logvar)`")

    def _perceptual(self, call: ir.Call, options: dict, args: list[str], types) -> None:
        self._arity(call, 3, "`perceptual(features, prediction, target)`")
        first = call.args[0]
        layers_span = options.pop("layers_span", None)
        if isinstance(first, ir.Name) and first.id not in self.flow.networks and first.id in PRETRAINED:
            self._pretrained(call, first.id, options, types, layers_span)
            return
        net = self.flow.networks.get(first.id) if isinstance(first, ir.Name) else None
        if not isinstance(first, ir.Name) or first.id not in self.flow.networks:
            raise error("E0509", "the first argument of `perceptual` is a feature network", first.span,
                        "not a network", (), "declare one: `network features(x) -> [..] { ... }`")
        if layers_span is not None:
            raise error("E0212", "`layers` applies to torchvision's feature networks, not to a declared network",
                        layers_span, "unknown option", (f"pretrained networks: {', '.join(PRETRAINED)}",),
                        f"remove `layers=`; network `{first.id}` is used whole")
        if net is None:
            raise Cascade()
        a, b = types[1], types[2]
        if a != b:
            raise error("E0505", f"`perceptual` compares {a} with {b}", call.args[1].span, f"`{args[1]}` is {a}", (),
                        "both compared values must have the same shape", ((call.args[2].span, f"`{args[2]}` is {b}"),))
        if len(net.inputs) != 1 or net.inputs[0][1] != a:
            raise error("E0407", f"feature network `{net.name}` takes {net.inputs[0][1] if net.inputs else 'nothing'}, "
                        f"but the compared values are {a}", first.span, "wrong input type")
        options["features"] = net.name
        options["feature_type"] = net.outputs[0][1]

    def _pretrained(self, call: ir.Call, arch: str, options: dict, types, layers_span) -> None:
        """`perceptual(vgg16, a, b, layers=16)`: torchvision's `vgg16(weights=...).features[:16]`, frozen, on
        images of 1 or 3 channels (grey is repeated to RGB, values mapped to ImageNet's normalisation)."""
        a, b = types[1], types[2]
        if a != b:
            raise error("E0505", f"`perceptual` compares {a} with {b}", call.args[1].span, f"shape {a}", (),
                        "both compared values must have the same shape", ((call.args[2].span, f"shape {b}"),))
        if len(a.shape) != 3 or a.shape[0] not in (1, 3):
            raise error("E0505", f"`{arch}` compares images of 1 or 3 channels, found {a}", call.args[1].span,
                        f"shape {a}", (f"`{arch}` is a network of ImageNet images",),
                        "compare images `image[1, H, W]` or `image[3, H, W]`, or declare a feature network")
        total = pretrained_layers(arch)
        layers = options.pop("layers", PRETRAINED[arch][1])
        if layers > total:
            raise error("E0220", f"`{arch}.features` has {total} layers, `layers` is {layers}", layers_span,
                        "out of range", (), f"keep at most {total}")
        out = pretrained_output(arch, layers, a.shape)
        if out is None:
            raise error("E0303", f"images of {a.shape[1]}x{a.shape[2]} are too small for the first {layers} layers "
                        f"of `{arch}.features`", layers_span or call.args[0].span, "pools them away", (),
                        "keep fewer layers with `layers=`, or compare larger images")
        # the generated code's name for it: a reserved prefix, so no spec name can collide with it
        name = f"pretrained_{arch}" if layers == PRETRAINED[arch][1] else f"pretrained_{arch}_{layers}"
        options["features"] = name
        options["pretrained"] = {"name": name, "arch": arch, "layers": layers}
        options["feature_type"] = TensorType(out)

    def _gan(self, call: ir.Call, weight: Weight) -> None:
        if len(call.args) not in (2, 3):
            raise error("E0214", f"`gan` takes 2 or 3 arguments, but {plural(len(call.args), 'was', 'were')} given",
                        call.span, "wrong arguments", (), "write `gan(D(x), D(fake), non_saturating)`")
        real, fake = call.args[0], call.args[1]
        kind = "non_saturating"
        if len(call.args) == 3:
            k = call.args[2]
            if not isinstance(k, ir.Name) or k.id not in GAN_KINDS:
                raise error("E0221", "unknown GAN objective" + (f" `{k.id}`" if isinstance(k, ir.Name) else ""),
                            k.span, "not an objective",
                            (f"objectives: {', '.join(GAN_KINDS)}",),
                            did_you_mean(k.id, GAN_KINDS) if isinstance(k, ir.Name) else None)
            kind = k.id
        options = {"clip": None, "gp": None, "r1": None, "r2": None, "every": None, "aux": None}
        aux_kw = None
        for kw in call.kwargs:
            if kw.name not in options:
                raise error("E0212", f"`gan` has no option `{kw.name}`", kw.name_span, "unknown option",
                            ("options: clip (wasserstein), gp (wasserstein_gp), r1, r2 and every (any objective), "
                             "aux (an auxiliary classifier)",),
                            did_you_mean(kw.name, options))
            if kw.name == "aux":
                aux_kw = kw
                continue
            options[kw.name] = _number_option(kw, TERM_OPTIONS["gan"][kw.name], self.env)
        if options["every"] is not None and options["r1"] is None and options["r2"] is None:
            raise error("E0510", "`every` spaces out the R1/R2 penalties, and there is none", _kw_span(call, "every"),
                        "lazy regularisation of nothing", (), "add `r1=10` (or `r2=`), or remove `every=`")
        if kind == "wasserstein" and options["clip"] is None:
            options["clip"] = TERM_OPTIONS["gan"]["clip"][1]
        if kind == "wasserstein_gp" and options["gp"] is None:
            options["gp"] = TERM_OPTIONS["gan"]["gp"][1]
        if options["clip"] is not None and kind != "wasserstein":
            raise error("E0510", f"`clip` applies to the `wasserstein` objective only, not `{kind}`",
                        _kw_span(call, "clip"), "weight clipping", (), "remove `clip=`, or use `wasserstein`")
        if options["gp"] is not None and kind != "wasserstein_gp":
            raise error("E0510", f"`gp` applies to the `wasserstein_gp` objective only, not `{kind}`",
                        _kw_span(call, "gp"), "gradient penalty", (), "remove `gp=`, or use `wasserstein_gp`")
        d_real, real_args = self._critic_call(real)
        d_fake, fake_args = self._critic_call(fake)
        if d_real.name != d_fake.name:
            raise error("E0511", f"real and fake samples go to different networks (`{d_real.name}`, `{d_fake.name}`)",
                        fake.func_span, f"not `{d_real.name}`", (), "both sides of `gan` call the same discriminator",
                        ((real.func_span, "real samples go here"),))
        earlier = next((g for g in self.gans if g.discriminator == d_real.name), None)
        if earlier is not None:
            raise error("E0502", f"`{d_real.name}` is already the discriminator of another `gan` term",
                        real.func_span, "second objective for the same network",
                        ("each adversarial term trains its own discriminator with its own optimizer",),
                        "remove one of the two terms, or declare a second discriminator for this one")
        if d_real.role not in ("discriminator", "critic"):
            raise error("E0512", f"`{d_real.name}` is a {d_real.role}; `gan` needs a discriminator or critic",
                        real.func_span, f"a {d_real.role}", (),
                        f"declare it as `discriminator {d_real.name}(...)` or `critic {d_real.name}(...)`")
        generators = sorted(n for n in self.flow.depends(fake_args[0]) if self.flow.networks.get(n) is not None)
        if not generators:
            raise error("E0513", f"`{fake_args[0]}` is not produced by a network", fake.args[0].span,
                        "nothing to train against the discriminator", (), "pass the generator's output: `D(G(z))`")
        computing = sorted({n for a in real_args for n in self.flow.depends(a)
                            if self.flow.networks.get(n) is not None})
        if computing:
            self._encoded_real(call, real, kind, options, aux_kw, computing)
        aux = self._aux(call, aux_kw, d_real, options) if aux_kw is not None or len(d_real.outputs) > 1 else None
        shaping = ("flatten", "reshape", "unflatten", "identity")
        head = d_real.outputs[0][0]  # with several heads, the score is the first: its own statement's layers
        last = next((layer.op for layer in reversed(d_real.layers) if layer.op not in shaping
                     and (len(d_real.outputs) == 1 or layer.statement == head)), "")
        probabilities = last == "sigmoid"
        if (kind.startswith("wasserstein") or kind == "hinge") and probabilities:
            why = "a Wasserstein critic outputs unbounded scores" if kind != "hinge" else \
                "the hinge loss compares raw scores with -1 and 1; a sigmoid keeps them in (0, 1)"
            self.reporter.warning("W0501", f"{d_real.role} `{d_real.name}` ends in `sigmoid`", d_real.layers[-1].span,
                                  "bounded output", (why,), "remove the final `sigmoid`")
        norm = next((layer for layer in d_real.layers if layer.op == "batchnorm"), None)
        if kind == "wasserstein_gp" and norm is not None:
            self.reporter.warning("W0502", f"critic `{d_real.name}` uses `batchnorm` with a gradient penalty",
                                  norm.span, "batch statistics",
                                  ("the penalty constrains the gradient of each sample's score with respect to "
                                   "that sample; batchnorm makes each score depend on the whole batch "
                                   "(Gulrajani et al., 2017)",),
                                  "use `layernorm` instead, or no normalisation in the critic")
        if not is_score(d_real.outputs[0][1]):
            raise Cascade()  # reported by the discriminator contract (E0422)
        if weight.constant <= 0:
            raise error("E0514", f"the `gan` term's weight is {_shown(weight.constant)}; it must be positive",
                        call.func_span, "weighted by " + _shown(weight.constant),
                        ("the weight scales the generator's side of the adversarial objective; at 0 or below "
                         "the generator would not play against the discriminator, or would help it",),
                        "give it a positive weight such as `0.001 * gan(...)`, or remove the term")
        label = "gan" if not self.gans else f"gan_{d_real.name}"
        self.gans.append(GanObjective(d_real.name, real_args, fake_args, kind, options["clip"], options["gp"],
                                      probabilities, options["r1"], options["r2"], options["every"] or 1,
                                      weight, label, aux, tuple(computing),
                                      tuple(a for a in real_args if any(self.flow.networks.get(n) is not None
                                                                        for n in self.flow.depends(a)))))
        self._add_term(label, real_args + fake_args + list(aux or ()), [d_real.name])

    def _encoded_real(self, call: ir.Call, real: ir.Call, kind: str, options: dict, aux_kw,
                      computing: list[str]) -> None:
        """A real side computed by a network (BiGAN/ALI's `D(x, E(x))`): the network is trained on the generator
        side with the real side's labels swapped. E0515 where that objective or option has no such reading."""
        who = computing[0]
        allowed = (f"allowed with a real side computed by a network: {', '.join(REAL_SIDE_KINDS)}, without "
                   "`r1`, `r2` or `aux`",)
        if kind in REAL_SIDE_REFUSED:
            raise error("E0515", f"the `{kind}` objective cannot train `{who}`, which computes the real side",
                        real.span, f"computed by `{who}`", (REAL_SIDE_REFUSED[kind],) + allowed,
                        "use `non_saturating`, `minimax`, `least_squares`, `wasserstein` or `hinge`, or pass data "
                        "or a draw from a prior as the real side")
        for name in ("r1", "r2"):
            if options[name] is not None:
                raise error("E0515", f"`{name}` cannot be combined with a real side computed by a network (`{who}`)",
                            _kw_span(call, name), "gradient penalty",
                            ("the penalty differentiates the discriminator with respect to its first input only; "
                             "on pairs computed on both sides (data and its code, a sample and its noise) it would "
                             "leave the second input out",) + allowed, f"remove `{name}=`")
        if aux_kw is not None:
            raise error("E0515", f"`aux` cannot be combined with a real side computed by a network (`{who}`)",
                        aux_kw.name_span, "auxiliary classifier",
                        ("the classifier's real-batch term would reach the network computing the real side, and "
                         "the language gives it no generator-side reading",) + allowed, "remove `aux=`")

    def _aux(self, call: ir.Call, kw: ir.Kwarg | None, d: CheckedNetwork, options: dict) -> tuple[str, str]:
        """`aux=(y, y_fake)`: the discriminator's second head classifies (ACGAN, Odena et al. 2017); the
        class labels of the real batch and of the generated one, checked against that head."""
        heads = ", ".join(f"`{h}`" for h, _, _ in d.outputs if h)
        if kw is None:
            raise error("E0518", f"discriminator `{d.name}` returns {len(d.outputs)} values, and `gan` reads one "
                        "score", call.func_span, "no use for the other heads",
                        (f"`{d.name}` returns {heads}; the first is the score, a second one can be class "
                         "logits for an auxiliary classifier",),
                        "add `aux=(y, y_fake)`: the labels of the real and of the generated batch")
        if len(d.outputs) != 2:
            raise error("E0518", f"`aux` classifies with the discriminator's second head, but `{d.name}` "
                        f"returns {plural(len(d.outputs), 'value')}", kw.name_span, "no class head", (),
                        f"give `{d.name}` two heads: `-> (score: [1], classes: [N])`")
        if not isinstance(kw.value, ir.Tuple) or len(kw.value.items) != 2 or \
                not all(isinstance(v, ir.Name) for v in kw.value.items):
            raise error("E0518", "`aux` names the labels of the real batch and of the generated one",
                        kw.value.span, "expected `(real_labels, fake_labels)`", (), "write `aux=(y, y_fake)`")
        labels = tuple(self.flow.use(v) for v in kw.value.items)
        head, t, _ = d.outputs[1]
        for item, var in zip(kw.value.items, labels):
            vt = self.flow.vars[var]
            if not vt.is_label:
                raise error("E0518", f"`{var}` is {vt}, not class labels", item.span, "not labels", (),
                            "pass `label[N]` values: the data's labels and a `categorical()` latent")
            if t != TensorType((vt.classes,)):
                raise error("E0518", f"`{d.name}`'s class head `{head}` is {t}, but `{var}` has {vt.classes} "
                            "classes", item.span, f"label[{vt.classes}]", (),
                            f"make `{head}` produce [{vt.classes}]: its logits, one per class")
        shaping = ("flatten", "reshape", "unflatten", "identity")
        last = next((layer for layer in reversed(d.layers) if layer.statement == head and layer.op not in shaping),
                    None)
        if last is not None and last.op == "softmax":
            self.reporter.warning("W0504", f"`{d.name}`'s class head `{head}` ends in `softmax`", last.span,
                                  "probabilities, not logits",
                                  ("the auxiliary cross-entropy takes logits and applies log-softmax itself; after "
                                   "a softmax its inputs lie in (0, 1), so its gradient is small and the class "
                                   "head learns slowly",),
                                  "remove the final `softmax`")
        for name in ("gp", "r1", "r2"):
            if options[name] is not None:
                raise error("E0518", f"`aux` cannot be combined with `{name}`", kw.name_span,
                            "auxiliary classifier", ("the gradient penalties differentiate a discriminator "
                                                     "that returns one score",),
                            f"remove `{name}=` or `aux=`")
        return labels

    def _add_term(self, label: str, reads: list[str], networks: list[str]) -> None:
        """Loss term `label` in the model graph, computed from the values `reads` and the networks called in it."""
        node = ("term", label)
        self.flow.graph.add_node(node, kind="term")
        self.flow.graph.add_edges_from((r, node) for r in reads)
        self.flow.graph.add_edges_from((("network", n), node) for n in networks)

    def _critic_call(self, expr: ir.Expr):
        if not isinstance(expr, ir.Call) or expr.func not in self.flow.networks:
            if isinstance(expr, ir.Call) and expr.func in self.flow.broken:
                raise Cascade()
            raise error("E0511", "each side of `gan` is a call of the discriminator, like `D(x)`", expr.span,
                        "expected `D(...)`", (), "write `gan(D(x), D(fake), non_saturating)`")
        net = self.flow.networks[expr.func]
        if net is None:
            raise Cascade()
        args = [self.flow.use(a) for a in expr.args]
        if len(args) != len(net.inputs):
            raise error("E0406", f"`{net.name}` takes {plural(len(net.inputs), 'input')}, but "
                        f"{plural(len(args), 'was', 'were')} given", expr.span,
                        f"expected {plural(len(net.inputs), 'input')}")
        for a, var, (name, t) in zip(expr.args, args, net.inputs):
            if self.flow.vars[var] != t:
                raise error("E0407", f"`{net.name}` input `{name}` is {t}, but `{var}` is {self.flow.vars[var]}",
                            a.span, str(self.flow.vars[var]),
                            (f"`{net.name}` judges both sides of `gan`, so the real and the generated values both "
                             f"have the type of its input",),
                            f"declare the input as the values it judges: "
                            f"`{net.name}({name}: [{', '.join(map(str, self.flow.vars[var].shape))}])`"
                            if not self.flow.vars[var].is_label else None)
        self.flow.calls.setdefault(net.name, []).append(CallStep([], net.name, args))
        return net, args


def _has_term(expr: ir.Expr) -> bool:
    if isinstance(expr, ir.Call):
        return True
    if isinstance(expr, ir.BinOp):
        return _has_term(expr.left) or _has_term(expr.right)
    if isinstance(expr, ir.Unary):
        return _has_term(expr.operand)
    return False


def _number_option(kw: ir.Kwarg, spec: tuple, env: Env):
    """The value of a numeric option `kw` checked against its (kind, default, range), or E0209/E0220 at it."""
    kind, _, valid = spec
    value = evaluate(kw.value, env)
    if kind == "int":
        value = as_int(value, kw.value, f"`{kw.name}`")  # E0209, or E0219 for a fraction
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error("E0209", f"`{kw.name}` must be a number, found {describe(value)}", kw.value.span, "not a number")
    if value not in valid:
        raise error("E0220", out_of_range(f"`{kw.name}`", value, valid), kw.value.span, "out of range")
    return value if kind == "int" else float(value)


def _kw_span(call: ir.Call, name: str) -> Span:
    return next((kw.span for kw in call.kwargs if kw.name == name), call.span)


def _shown(value) -> str:
    """A number as itself, anything else described."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else describe(value)
