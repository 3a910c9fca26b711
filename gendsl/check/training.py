"""Training settings and loss-weight schedules."""

from __future__ import annotations

from types import SimpleNamespace

from gendsl import ir
from gendsl.check.ranges import F32_TINY, FRACTION, POSITIVE_INT, WEIGHT, Range
from gendsl.check.result import LrScheduleDecl, OptimizerDecl, ScheduleDecl, TrainDecl
from gendsl.check.values import Env, as_int, describe, evaluate, expr_text, number
from gendsl.source import Span
from gendsl.diagnostics import CompileError, Reporter, did_you_mean, error, plural

# optimizer -> {option: (kind, default, valid range)}; the ranges are torch's, bounded where a larger
# value overflows float32 (see check/ranges.py): lr and weight decay above 10 are surely typos
LR = Range(0, 10, low_open=True)
DECAY = Range(0, 10)
EPS = Range(F32_TINY, 1)  # 0 divides 0 by 0 for a parameter whose gradient is 0
OPTIMIZERS = {
    "adam": {"lr": ("float", 1e-3, LR), "betas": ("pair", (0.9, 0.999), None), "weight_decay": ("float", 0.0, DECAY),
             "eps": ("float", 1e-8, EPS)},
    "adamw": {"lr": ("float", 1e-3, LR), "betas": ("pair", (0.9, 0.999), None),
              "weight_decay": ("float", 0.01, DECAY), "eps": ("float", 1e-8, EPS)},
    "sgd": {"lr": ("float", 1e-2, LR), "momentum": ("float", 0.0, FRACTION), "nesterov": ("bool", False, None),
            "weight_decay": ("float", 0.0, DECAY)},
    "rmsprop": {"lr": ("float", 1e-2, LR), "alpha": ("float", 0.99, FRACTION), "momentum": ("float", 0.0, FRACTION),
                "weight_decay": ("float", 0.0, DECAY), "eps": ("float", 1e-8, EPS)},
}
# a gamma above 1 grows the rate without bound (float32 overflows after a few thousand steps)
LR_SCHEDULES = {
    "constant": {},
    "linear": {"end_factor": ("float", 0.0, FRACTION)},  # torch's LinearLR: in [0, 1]
    "cosine": {"min_lr": ("float", 0.0, DECAY)},
    "step": {"every": ("int", None, POSITIVE_INT), "gamma": ("float", 0.1, FRACTION)},
    "exponential": {"gamma": ("float", 0.99, FRACTION)},
}
INITS = {"default": {}, "dcgan": {}, "normal": {"std": ("float", 0.02, Range(0, 1))}, "xavier": {}, "kaiming": {}}
# `ema G = ema(decay=0.999, start=1000)`: an average of G's weights for samples and metrics
EMA = {"ema": {"decay": ("float", 0.999, Range(0, 1, high_open=True)), "start": ("int", 0, Range(0, 2**31 - 1))}}
# `d_steps = warmup(100, generator_steps=25, then=5)`: WGAN's schedule of critic steps
WARMUP = {"warmup": {"steps": ("int", None, Range(1, 1000)), "generator_steps": ("int", None, Range(1, 2**31 - 1)),
                     "then": ("int", 1, Range(1, 1000))}}
# whole-model settings -> valid range: seeds go to torch.manual_seed (at most 2^64 - 1, after
# train.py's `seed * 100003 + epoch`) and to data splits (numpy: below 2^32)
INT32 = 2**31 - 1
SETTINGS = {"optimizer": None, "lr_schedule": None, "init": None, "spectral_norm": None, "ema": None,
            "batch_size": Range(1, 65536),
            "epochs": Range(1, INT32),
            "d_steps": Range(1, 1000), "n_critic": Range(1, 1000), "seed": Range(0, 2**32 - 1),
            "checkpoint_every": Range(1, INT32), "sample_every": Range(1, INT32)}
# cross-option rules torch enforces: (optimizer, option that needs another, test on the options, message)
RULES = (("sgd", "nesterov", lambda o: not o["nesterov"] or o["momentum"] > 0,
          "`nesterov=true` needs a positive `momentum`", "write e.g. `sgd(lr=0.1, momentum=0.9, nesterov=true)`"),)


def check_schedule(decl: ir.Schedule, env: Env) -> ScheduleDecl:
    """`schedule beta = linear(0, 1, epochs=10)` or `cyclical(0, 1, epochs=20, cycles=4)`."""
    call = decl.value
    if call.func not in ("linear", "cyclical", "constant"):
        raise error("E0520", f"unknown schedule `{call.func}`", call.func_span, "not a schedule",
                    ("schedules: linear(start, end, steps=N | epochs=N), cyclical(start, end, epochs=N, cycles=M), "
                     "constant(value)",), did_you_mean(call.func, ("linear", "cyclical", "constant")))
    values = [float(number(evaluate(a, env), a)) for a in call.args]
    for value, arg in zip(values, call.args):
        if value not in WEIGHT:
            raise error("E0220", f"a schedule value must be {WEIGHT.broken(value)}, found {value:g}", arg.span,
                        "out of range", ("a loss weight is used in float32",))
    if call.func == "constant":
        if len(values) != 1 or call.kwargs:
            raise error("E0214",
                        f"`constant` takes 1 argument, but {plural(len(call.args) + len(call.kwargs), 'was', 'were')} "
                        "given", call.span, "expected 1 argument", (), "write `constant(value)`")
        return ScheduleDecl(decl.name, "constant", values[0], values[0], 1, "steps")
    if len(values) != 2:
        raise error("E0214", f"`{call.func}` takes 2 positional arguments (start, end), but "
                    f"{plural(len(values), 'was', 'were')} given", call.span, "expected start and end values", (),
                    f"write `{call.func}(start, end, epochs=N)`")
    length, unit, cycles = None, None, 1
    for kw in call.kwargs:
        value = evaluate(kw.value, env)
        if kw.name in ("steps", "epochs"):
            length, unit = as_int(value, kw.value, f"`{kw.name}`"), kw.name
            if length <= 0:
                raise error("E0220", f"`{kw.name}` must be at least 1, found {length}", kw.value.span, "out of range")
        elif kw.name == "cycles" and call.func == "cyclical":
            cycles = as_int(value, kw.value, "`cycles`")
            if cycles <= 0:
                raise error("E0220", f"`cycles` must be at least 1, found {cycles}", kw.value.span, "out of range")
        else:
            options = ("steps", "epochs") + (("cycles",) if call.func == "cyclical" else ())
            raise error("E0212", f"`{call.func}` has no option `{kw.name}`", kw.name_span, "unknown option",
                        ("options: " + ", ".join(options),), did_you_mean(kw.name, options))
    if length is None:
        raise error("E0213", f"schedule `{decl.name}` needs a length", call.span, "`steps` or `epochs` missing",
                    (), f"write e.g. `{call.func}({', '.join(expr_text(a) for a in call.args)}, epochs=10)`")
    return ScheduleDecl(decl.name, call.func, values[0], values[1], length, unit, cycles)


class TrainChecker:
    def __init__(self, trains: list[ir.Train], networks: dict, trained: list[str], env: Env, reporter: Reporter):
        self.trains = trains
        self.networks = networks
        self.trained = trained  # networks with parameters the loss trains, in declaration order
        self.env = env
        self.reporter = reporter

    def run(self) -> TrainDecl:
        # the settings as they are read; the frozen TrainDecl is built from them at the end
        out = SimpleNamespace(optimizers=[], lr_schedules=[], init={}, extra={}, scalars={}, spectral_norm=set(),
                              ema={}, d_steps_of={})
        seen: dict[tuple, ir.Setting] = {}
        for train in self.trains:
            for s in train.settings:
                try:
                    self._setting(s, out, seen)
                except CompileError as exc:
                    self.reporter.add(exc.diagnostic)
        covered = {n for o in out.optimizers for n in o.networks}
        if not out.optimizers:
            out.optimizers.append(OptimizerDecl(list(self.trained), "adam", _defaults(OPTIMIZERS["adam"])))
        else:
            missing = [n for n in self.trained if n not in covered]
            if missing:
                span = Span(self.trains[0].span.start, self.trains[0].span.start + len("train"))
                for name in missing:
                    self.reporter.error("E0530", f"network `{name}` is trained but has no optimizer", span,
                                        f"no optimizer for `{name}`", (),
                                        f"add `optimizer {name} = adam(lr=1e-3)`, or one `optimizer = ...` for all")
        if out.d_steps_of and "d_warmup" in out.scalars:
            target = next(iter(out.d_steps_of))
            self.reporter.error("E0535", f"`d_steps {target}` cannot be combined with a warm-up of `d_steps`",
                                seen[("d_steps", target)].target_span, "its own number of steps",
                                ("the warm-up sets the steps of every discriminator",),
                                "remove the warm-up, or the per-network `d_steps`")
        return TrainDecl(out.optimizers, out.lr_schedules, init=out.init, extra=out.extra,
                         spectral_norm=frozenset(out.spectral_norm), ema=out.ema, d_steps_of=out.d_steps_of,
                         **out.scalars)

    def _setting(self, s: ir.Setting, out: SimpleNamespace, seen: dict) -> None:
        if s.key not in SETTINGS:
            raise error("E0531", f"unknown training setting `{s.key}`", s.key_span, "not a setting",
                        (f"settings: {', '.join(SETTINGS)}",), did_you_mean(s.key, list(SETTINGS)))
        key = "d_steps" if s.key == "n_critic" else s.key
        if (key, s.target) in seen:
            raise error("E0202", f"`{s.key}{' ' + s.target if s.target else ''}` is set twice", s.key_span,
                        "set again", (), "remove one of the two settings",
                        ((seen[(key, s.target)].key_span, "first set here"),))
        seen[(key, s.target)] = s
        if key == "init":
            self._target(s)
            kind, options = self._call(s.value, INITS, key)
            targets = [s.target] if s.target else list(self.networks)
            for net in targets:
                out.init[net] = (kind, options.get("std"))
            return
        if key == "spectral_norm":  # `spectral_norm netD = true`: every conv/linear layer of netD
            self._target(s)
            value = evaluate(s.value, self.env)
            if not isinstance(value, bool):
                raise error("E0209", f"`spectral_norm` must be `true` or `false`, found {describe(value)}",
                            s.value.span, "not a boolean", (), f"write `spectral_norm {s.target or 'netD'} = true`")
            targets = {s.target} if s.target else set(self.networks)
            out.spectral_norm = (out.spectral_norm | targets) if value else (out.spectral_norm - targets)
            return
        if key == "ema":
            self._target(s)
            net = self.networks.get(s.target) if s.target is not None else None
            if net is None or net.role not in ("generator", "decoder"):
                generator = next((n for n, c in self.networks.items() if c is not None and c.role == "generator"), "G")
                raise error("E0534", "`ema` averages the weights of a generator or decoder" +
                            (f", and `{s.target}` is a {net.role}" if net is not None else ""),
                            s.key_span if s.target is None else s.target_span,
                            "no network named" if s.target is None else f"a {net.role if net else 'network'}",
                            (), f"write `ema {generator} = ema(decay=0.999)`")
            value = s.value
            if isinstance(value, (ir.Num, ir.Name)) and not (isinstance(value, ir.Name) and value.id == "ema"):
                value = ir.Call("ema", (value,), (), value.span, value.span)  # `ema G = 0.999`
            _, options = self._call(value, EMA, "ema")
            out.ema[s.target] = (options["decay"], options["start"])
            return
        if key == "d_steps" and isinstance(s.value, ir.Call):  # `d_steps = warmup(100, ...)`
            if s.target is not None:
                raise error("E0532", f"`{s.key}` applies to the whole model, not to `{s.target}`", s.target_span,
                            "unexpected name", (), f"write `{s.key} = ...`")
            _, options = self._call(s.value, WARMUP, "d_steps")
            out.scalars["d_steps"] = options["then"]
            out.scalars["d_warmup"] = (options["steps"], options["generator_steps"])
            return
        if key == "d_steps" and s.target is not None:  # `d_steps Dx = 5`: one discriminator's own steps
            self._target(s)
            net = self.networks.get(s.target)
            if net is not None and net.role not in ("discriminator", "critic"):
                raise error("E0535", f"`{s.key}` counts the updates of a discriminator or critic, and `{s.target}` "
                            f"is a {net.role}", s.target_span, f"a {net.role}", (),
                            f"name the discriminator of a `gan` term, or write `{s.key} = ...` for all of them")
            value = evaluate(s.value, self.env)
            number = as_int(value, s.value, f"`{s.key}`")
            if number not in SETTINGS[s.key]:
                raise error("E0220", f"`{s.key}` must be {SETTINGS[s.key].broken(number)}, found {number}",
                            s.value.span, "out of range")
            out.d_steps_of[s.target] = number
            return
        if key in ("optimizer", "lr_schedule"):
            self._target(s)
            targets = [s.target] if s.target else list(self.trained)
            kind, options = self._call(s.value, OPTIMIZERS if key == "optimizer" else LR_SCHEDULES, key)
            if key == "optimizer":
                out.optimizers.append(OptimizerDecl(targets, kind, options))
            else:
                out.lr_schedules.append(LrScheduleDecl(targets, kind, options))
            return
        if s.target is not None:
            raise error("E0532", f"`{s.key}` applies to the whole model, not to `{s.target}`", s.target_span,
                        "unexpected name", (), f"write `{s.key} = ...`")
        value = evaluate(s.value, self.env)
        number = as_int(value, s.value, f"`{s.key}`")
        valid = SETTINGS[s.key]
        if number not in valid:
            raise error("E0220", f"`{s.key}` must be {valid.broken(number)}, found {number}", s.value.span,
                        "out of range")
        if key in ("batch_size", "epochs", "d_steps", "seed"):
            out.scalars[key] = number
        else:
            out.extra[key] = number

    def _target(self, s: ir.Setting) -> None:
        if s.target is not None and s.target not in self.networks:
            raise error("E0201", f"unknown network `{s.target}`", s.target_span, "not a network", (),
                        did_you_mean(s.target, self.networks) or
                        (f"networks: {', '.join(f'`{n}`' for n in self.networks)}" if self.networks else None))

    def _call(self, expr: ir.Expr, table: dict, what: str):
        if isinstance(expr, ir.Name) and expr.id in table:
            return expr.id, _defaults(table[expr.id])
        if not isinstance(expr, ir.Call) or expr.func not in table:
            name = expr.func if isinstance(expr, ir.Call) else getattr(expr, "id", "")
            words = {"optimizer": "an optimizer", "lr_schedule": "a learning-rate schedule", "init": "an init",
                     "ema": "an average", "d_steps": "a number of steps"}[what]
            span = expr.func_span if isinstance(expr, ir.Call) else expr.span
            raise error("E0533", f"unknown {words.split(' ', 1)[1]} `{name}`" if name else f"expected {words}",
                        span, f"not {words}", (f"choices: {', '.join(table)}",), did_you_mean(name, table))
        spec = table[expr.func]
        options = _defaults(spec)
        names = list(spec)
        if len(expr.args) > len(names):
            raise error("E0214", f"`{expr.func}` takes at most {plural(len(names), 'positional argument')}, but "
                        f"{plural(len(expr.args), 'was', 'were')} given", expr.args[len(names)].span,
                        "unexpected argument", (f"`{expr.func}({', '.join(names)})`",), "name the options: "
                        f"`{expr.func}(lr=...)`" if "lr" in names else None)
        given = list(zip(names, expr.args)) + [(kw.name, kw.value) for kw in expr.kwargs]
        for kw in expr.kwargs:
            if kw.name not in spec:
                raise error("E0212", f"`{expr.func}` has no option `{kw.name}`", kw.name_span, "unknown option",
                            (f"options: {', '.join(spec) or 'none'}",), did_you_mean(kw.name, spec))
        for name, value_expr in given:
            kind, _, valid = spec[name]
            value = evaluate(value_expr, self.env)
            if kind == "pair":
                if not (isinstance(value, tuple) and len(value) == 2 and
                        all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in value)):
                    raise error("E0220", f"`{name}` must be a pair of numbers in [0, 1), like (0.5, 0.999)",
                                value_expr.span, "not a valid pair")
                options[name] = tuple(float(v) for v in value)
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise error("E0209", f"`{name}` must be `true` or `false`, found {describe(value)}",
                                value_expr.span, "not a boolean")
                options[name] = value
            elif kind == "int":
                options[name] = as_int(value, value_expr, f"`{name}`")
                if options[name] not in valid:
                    raise error("E0220", f"`{name}` must be {valid.broken(options[name])}, found {options[name]}",
                                value_expr.span, "out of range")
            else:
                given_number = float(number(value, value_expr))
                if given_number not in valid:
                    raise error("E0220", f"`{name}` must be {valid.broken(given_number)}, found {given_number:g}",
                                value_expr.span, "out of range", (),
                                "a typical learning rate is `lr=1e-3`" if name == "lr" else None)
                options[name] = given_number
        for name, (kind, default, _) in spec.items():
            if options[name] is None:
                raise error("E0213", f"`{expr.func}` needs its `{name}` option", expr.span, f"`{name}` missing",
                            (), f"write e.g. `{expr.func}({name}=...)`")
        for func, name, holds, message, fix in RULES:
            if func == expr.func and not holds(options):
                span = next((v.span for n, v in given if n == name), expr.span)
                raise error("E0220", message, span, "not valid here", (), fix)
        return expr.func, options


def _defaults(spec: dict) -> dict:
    return {name: default for name, (kind, default, _) in spec.items()}
