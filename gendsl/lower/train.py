"""Lowering for train.py: the spec's loss terms, GAN objective, optimizers and schedules, and the
recipe that hands them to the shared training loop (gendsl/runtime/loop.py)."""

from __future__ import annotations

import re
from dataclasses import replace

from gendsl.check.result import CallStep, CheckedModel
from gendsl.lower import analysis, losses
from gendsl.lower.layers import lit
from gendsl.lower.names import layer_attributes, model_class_name
from gendsl.lower.model import averages
from gendsl.lower.plan import GanPlan, OptimizerPlan, PenaltyPlan, SchedulerPlan, TermPlan, TrainPlan, WeightPlan
from gendsl.lower.quoting import spec_text

OPTIMIZERS = {  # kind -> (class, the options torch defaults to: those are not written out)
    "adam": ("torch.optim.Adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    "adamw": ("torch.optim.AdamW", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}),
    "sgd": ("torch.optim.SGD", {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0}),
    "rmsprop": ("torch.optim.RMSprop", {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0}),
}

LR_SCHEDULES = {  # kind -> the scheduler, reading `opt` and `total_steps`
    "linear": lambda o: f"torch.optim.lr_scheduler.LinearLR(opt, 1.0, {o['end_factor']}, total_iters=total_steps)",
    "cosine": lambda o: f"torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min={o['min_lr']})",
    "step": lambda o: f"torch.optim.lr_scheduler.StepLR(opt, step_size={o['every']}, gamma={o['gamma']})",
    "exponential": lambda o: f"torch.optim.lr_scheduler.ExponentialLR(opt, gamma={o['gamma']})",
}


def weight_code(term) -> str:
    parts = [lit(term.weight.constant)] if term.weight.constant != 1.0 else []
    return " * ".join(parts + [f'weights["{s}"]' for s in term.weight.schedules])


def loss_text(model: CheckedModel) -> str:
    parts = [t.text if not (t.weight.constant != 1.0 or t.weight.schedules) else f"{weight_code(t)} * {t.text}"
             for t in model.terms]
    gans = [f"gan({g.discriminator}, {g.kind})" if len(model.gans) > 1 else f"gan(..., {g.kind})"
            for g in model.gans]
    parts[:0] = [f"{weight_code(g)} * {text}" if weight_code(g) else text for g, text in zip(model.gans, gans)]
    return " + ".join(parts).replace('weights["', "").replace('"]', "")


def schedule_code(s) -> str:
    t = "step" if s.unit == "steps" else "epoch"
    if s.kind == "constant":
        return f"{s.start}"
    if s.kind == "linear":
        return f"{s.start} + ({s.end} - {s.start}) * min(1.0, {t} / {s.length})"
    return f"{s.start} + ({s.end} - {s.start}) * min(1.0, 2 * (({t} / {s.length} * {s.cycles}) % 1.0))"


def literal(value) -> str:
    """A Python literal with double-quoted strings (names, and a data source as the spec wrote it)."""
    if isinstance(value, str):
        return spec_text(value, "string")
    if isinstance(value, tuple):
        return "(" + ", ".join(map(literal, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def score_map(model: CheckedModel, discriminator: str) -> str | None:
    """`D` returns a (1, 7, 7) map of scores, each from a 34x34 patch of its input: a comment for
    train_step, or None for a discriminator that returns one score."""
    net = model.network(discriminator)
    t = net.outputs[0][1]
    if t.rank != 3 or t.numel == 1:
        return None
    field = analysis.receptive_field(net)
    patch = f", each from a {field[0]}x{field[1]} patch of its input" if field else ""
    return (f"`{discriminator}` returns a {t} map of scores per sample{patch} (PatchGAN); "
            "the objective averages over positions and samples")


def _unique(items) -> tuple:
    return tuple(dict.fromkeys(items))


def lower_train(model: CheckedModel) -> TrainPlan:
    x, gan = model.x, model.gan
    attrs = {net.name: layer_attributes(net) for net in model.networks}
    terms, helpers = [], []
    for t in model.terms:
        code, needs = losses.term_code(model, t, attrs)
        terms.append(TermPlan(t.label, code, t.text))
        helpers += needs
    weights = [weight_code(t) for t in model.terms]
    total = " + ".join(f'{w} * terms["{t.label}"]' if w else f'terms["{t.label}"]' for t, w in zip(terms, weights))
    read = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(t.code for t in terms)))
    values = _unique(v for t in model.terms for v in t.args + [t.options.get("mu"), t.options.get("logvar")]
                     if v and v in read)

    declared = model.train.optimizers
    if gan is not None:  # the discriminator and generator steps must not touch each other's optimizer
        # one per network; `optimizer D = ...` wins over a general `optimizer = ...`, wherever it is
        single = {o.networks[0]: o for o in declared if len(o.networks) == 1}
        declared = [type(o)([n], o.kind, o.options) for o in declared for n in o.networks
                    if single.get(n, o) is o]
    optimizers = []
    for k, opt in enumerate(declared):
        key = opt.networks[0] if gan is not None else f"opt_{opt.networks[0]}" if len(opt.networks) == 1 else \
            "optimizer" if len(declared) == 1 else f"opt_{k}"
        params = f"model.{opt.networks[0]}.parameters()" if len(opt.networks) == 1 else \
            " + ".join(f"list(model.{n}.parameters())" for n in opt.networks)
        cls, defaults = OPTIMIZERS[opt.kind]
        extra = "".join(f", {k2}={lit(v)}" for k2, v in opt.options.items() if k2 != "lr" and defaults.get(k2) != v)
        optimizers.append((opt.networks, OptimizerPlan(key, cls, params, lit(opt.options["lr"]), extra)))
    # `lr_schedule = constant()` keeps the optimizer's rate: no scheduler
    schedulers = tuple(SchedulerPlan(plan.key, LR_SCHEDULES[s.kind](s.options))
                       for s in model.train.lr_schedules if s.kind != "constant"
                       for nets, plan in optimizers if set(nets) & set(s.networks))

    gan_plans = []
    objectives = {}  # (kind, probabilities, gp) -> the suffix of its functions' names: each written once
    auxiliary_written = False  # auxiliary_loss, once for every term with `aux`
    real_written = set()  # generator_loss_real<functions>, once for every term of its objective
    discriminators = {g.discriminator for g in model.gans}
    generators = _unique(p.key for nets, p in optimizers if nets[0] not in discriminators)
    data = {d.name for d in model.data}
    steps = {g.discriminator: model.train.d_steps_of.get(g.discriminator, model.train.d_steps) for g in model.gans}
    d_steps = max(steps.values(), default=model.train.d_steps)  # D_STEPS: iterations per generator update
    for k, g in enumerate(model.gans):
        fake0, fake_rest = g.fake_args[0], g.fake_args[1:]
        penalties = tuple(PenaltyPlan(column, args, lit(gamma / 2 * g.every)) for column, gamma, args in (
            ("r1_penalty", g.r1, ", ".join(g.real_args)),
            ("r2_penalty", g.r2, ", ".join([f"{fake0}.detach()", *fake_rest]))) if gamma)
        if penalties:
            helpers.append("gradient_norm_penalty")
        if g.gp:
            helpers.append("gradient_penalty")
        key = (g.kind, g.probabilities, bool(g.gp))
        written = key in objectives
        functions = objectives.setdefault(key, "" if not objectives else f"_{g.discriminator}")
        suffix = "" if k == 0 else f"_{g.discriminator}"
        gan_plans.append(GanPlan(
            discriminator=g.discriminator, real=", ".join(g.real_args), fake=", ".join(g.fake_args),
            fake_detached=", ".join([f"{fake0}.detach()", *fake_rest]),
            gp_args=", ".join([g.real_args[0], f"{fake0}.detach()", *fake_rest]),
            values=_unique(v for v in g.real_args + g.fake_args + list(g.aux or ()) if v not in data),
            generators=generators, kind=g.kind, probabilities=g.probabilities, gp=g.gp, clip=g.clip,
            objective=(() if written else losses.objective_functions(g.kind, g.probabilities, bool(g.gp), functions))
            + ((losses.AUXILIARY_LOSS,) if g.aux and not auxiliary_written else ())
            + ((losses.real_side_function(g.kind, g.probabilities, functions),)
               if g.encoders and functions not in real_written else ()),
            penalties=tuple(replace(p, column=p.column + suffix) for p in penalties), every=g.every,
            score_map=score_map(model, g.discriminator), weight=weight_code(g), suffix=suffix,
            functions=functions, steps=steps[g.discriminator] if steps[g.discriminator] < d_steps else None,
            aux=g.aux, real_detached=", ".join(f"{a}.detach()" if a in g.encoded else a for a in g.real_args)
            if g.encoders else "",
            encoders=g.encoders))
        auxiliary_written = auxiliary_written or bool(g.aux)
        if g.encoders:
            real_written.add(functions)
    gan_plan = gan_plans[0] if gan_plans else None

    recon = next((t for t in model.terms if t.kind in analysis.RECON and model.variables[t.args[0]] == x.type), None)
    tensors = [d for d in model.data if not d.type.is_label]
    if recon is None and len(tensors) > 1:  # paired data: an output compared with another data tensor (a block)
        recon = next((t for t in model.terms if t.kind in analysis.RECON and t.args[1] in {d.name for d in tensors}
                      and model.variables[t.args[0]] == model.variables[t.args[1]]), None)
    kl = next((t for t in model.terms if t.kind == "kl"), None)
    labels = {t.label for t in model.terms}
    extra = []
    if recon is not None and "mse" not in labels:
        data = {d.name for d in model.data}  # paired data: the reconstruction's own target
        target = recon.args[1] if recon.args[1] in data else x.name
        extra.append(("mse", f'F.mse_loss(values["{recon.args[0]}"], {target}).item()'))
    if kl is not None and recon is not None and recon.kind in ("bce", "bce_logits"):
        fn = losses.TORCH_LOSS[recon.kind]
        extra.append(("neg_elbo", f'({fn}(values["{recon.args[0]}"], {x.name}, reduction="sum") / {x.name}.size(0)'
                                  f' + terms["{kl.label}"]).item()'))
    term_cols = [t.label for t in terms]
    if gan is not None:
        gan_cols = [c for g in gan_plans for c in
                    [f"loss_d{g.suffix}", f"d_real{g.suffix}", f"d_fake{g.suffix}"]
                    + ([f"gradient_penalty{g.suffix}"] if g.gp else [])
                    + ([f"aux_real{g.suffix}", f"aux_fake{g.suffix}"] if g.aux else [])
                    + [p.column for p in g.penalties]] + ["loss_g"]
        columns = _unique(gan_cols + term_cols + [c for c, _ in extra])
    else:
        columns = _unique(["loss"] + term_cols + [c for c, _ in extra])

    gen = analysis.generation(model)
    codes = None
    for step in model.forward:
        if isinstance(step, CallStep) and x.name in step.args:
            codes = next((t for t in step.targets if model.variables[t].shape == (2,)), None)
            if codes:
                break
    recipe = [
        ("columns", literal(columns)), ("data_shape", repr(x.type.shape)), ("data_range", repr(x.range)),
        ("num_classes", repr(model.labels.type.classes if model.labels else None)),
        ("default_data", literal(x.source or ("ring8" if x.type.shape == (2,) else "mnist5k"))),
        ("epochs", repr(model.train.epochs)), ("batch_size", repr(model.train.batch_size)),
        ("seed", repr(model.train.seed)),
    ]
    if len(tensors) > 1:  # one sample of several tensors: each one's name, shape, range and source
        entries = "".join(f"\n        {literal((d.name, d.type.shape, d.range, d.source))}," for d in tensors)
        recipe.append(("inputs", f"({entries}\n    )"))  # one tensor a line
        if model.labels:
            recipe.append(("label", literal(model.labels.name)))
    if model.train.extra.get("checkpoint_every", 500) != 500:
        recipe.append(("checkpoint_every", repr(model.train.extra["checkpoint_every"])))
    if model.train.extra.get("sample_every", 1) != 1:
        recipe.append(("sample_every", repr(model.train.extra["sample_every"])))
    if schedulers:
        recipe.append(("schedulers", "make_schedulers"))
    if model.schedules:
        recipe.append(("loss_weights", "loss_weights"))
    if "contractive_penalty" in helpers:
        recipe.append(("validate_with_grad", "True"))
    if gen is not None:
        recipe.append(("generative", "True"))
        if gen.label is not None and (model.labels is None or gen.label != model.labels.name):
            recipe.append(("sample_classes", repr(gen.classes)))  # generate reads sampled labels
    if gan is not None and gan.kind in losses.DOMINATED_BELOW:
        recipe.append(("dominated_below", repr(losses.DOMINATED_BELOW[gan.kind])))
    if recon is not None:
        recipe.append(("reconstruction", literal(recon.args[0])))
    if codes:
        recipe.append(("codes", literal(codes)))
    classifier = next((t.args[0] for t in model.terms if t.kind == "cross_entropy"), None)
    if classifier and model.labels:
        recipe.append(("classifier", literal(classifier)))
    # `perceptual(vgg16, a, b)`: torchvision networks the loop attaches to the model (model.py imports
    # only torch), each once however many terms use it
    pretrained = tuple(dict.fromkeys((p["name"], p["arch"], p["layers"]) for p in
                                     (t.options.get("pretrained") for t in model.terms) if p))
    if pretrained:
        recipe.append(("pretrained", literal(pretrained)))
    plans = averages(model)
    if plans:
        helpers.append("update_ema")
    text = ("".join(t.code for t in terms) + "".join(e for _, e in extra)
            + "".join(f for g in gan_plans for f in g.objective))
    return TrainPlan(
        name=model.name, path=model.path, sha256=model.sha256, model_class=model_class_name(model), x=x.name,
        labels=model.labels.name if model.labels else None,
        data=tuple(d.name for d in model.data if not d.type.is_label), loss_text=loss_text(model),
        helpers=tuple(losses.helper_text(h) for h in _unique(helpers)), values=values, terms=tuple(terms),
        total=total, gan=gan_plan, d_steps=d_steps,
        d_warmup=model.train.d_warmup if gan is not None else None, averages=plans,
        optimizers=tuple(p for _, p in optimizers),
        schedulers=schedulers,
        weights=tuple(WeightPlan(s.name, schedule_code(s)) for s in model.schedules),
        validate_extra=tuple(extra), columns=columns, recipe=tuple(recipe), uses_functional="F." in text,
        gans=tuple(gan_plans))
