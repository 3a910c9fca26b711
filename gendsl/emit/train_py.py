"""The view of a CheckedModel that templates/train.py.j2 renders: the forward block
and the loss as straight-line Python, plus the facts the training loop needs."""

from __future__ import annotations

from gendsl.check.result import CallStep, CheckedModel, CorruptStep, SampleStep, Term
from gendsl.check.types import TensorType
from gendsl.emit.code import lit
from gendsl.emit.model_py import align

RECON = ("mse", "l1", "bce", "bce_logits")
TORCH_LOSS = {"mse": "F.mse_loss", "l1": "F.l1_loss", "bce": "F.binary_cross_entropy",
              "bce_logits": "F.binary_cross_entropy_with_logits", "cross_entropy": "F.cross_entropy"}


def _comment(t: TensorType) -> str:
    if t.is_label:
        return "(B,) labels"
    return "(B, " + ", ".join(map(str, t.shape)) + ")"


def step_lines(model: CheckedModel, steps, prior_for: set[str] = frozenset(), frozen: set[str] = frozenset()):
    """Python for forward steps. Latents in `prior_for` are drawn from their prior whatever the spec says."""
    lines = []
    for step in steps:
        if isinstance(step, CallStep):
            targets = step.targets + step.taps
            call = f"{step.network}({', '.join(step.args)})"
            t = model.variables[targets[0]]
            lines.append((f"{', '.join(targets)} = {call}", _comment(t) if len(targets) == 1 else ""))
        elif isinstance(step, SampleStep):
            t = model.variables[step.target]
            if step.dist == "prior" or step.target in prior_for:
                first = model.x.name
                lines.append((f"{step.target} = sample_{step.target}({first}.size(0), {first}.device)", _comment(t)))
            else:
                mu, logvar = step.args
                lines.append((f"{step.target} = reparameterize({mu}, {logvar})", _comment(t)))
        elif isinstance(step, CorruptStep):
            fn = {"gaussian": "gaussian_noise", "masking": "masking_noise", "salt_and_pepper": "salt_and_pepper"}[step.kind]
            lines.append((f"{step.target} = {fn}({step.source}, {lit(step.amount)})", _comment(model.variables[step.target])))
    return lines


def weight_code(term: Term) -> str:
    parts = []
    if term.weight.constant != 1.0:
        parts.append(lit(term.weight.constant))
    parts += [f'weights["{s}"]' for s in term.weight.schedules]
    return " * ".join(parts)


def term_code(model: CheckedModel, term: Term) -> str:
    a = term.args
    batch = f"{model.x.name}.size(0)"
    if term.kind in RECON or term.kind == "cross_entropy":
        fn = TORCH_LOSS[term.kind]
        if term.options.get("reduction") == "sum":
            return f"{fn}({a[0]}, {a[1]}, reduction=\"sum\") / {batch}"
        return f"{fn}({a[0]}, {a[1]})"
    if term.kind == "kl":
        mean, std = term.options["prior"]
        if (mean, std) == (0.0, 1.0):
            return f"kl_to_standard_normal({term.options['mu']}, {term.options['logvar']})"
        return f"kl_to_normal({term.options['mu']}, {term.options['logvar']}, {lit(mean)}, {lit(std)})"
    if term.kind == "l1_activity":
        return f"l1_activity({a[0]})"
    if term.kind == "kl_sparsity":
        return f"kl_sparsity({a[0]}, rho={lit(term.options['rho'])})"
    if term.kind == "contractive":
        layer = one_layer_code(model, term)
        if layer is not None:
            net, attr, activation = layer
            return f"contractive_{activation}({a[0]}, {net}.{attr}.weight)"
        return f"contractive_penalty({a[0]}, {a[1]})"
    if term.kind == "perceptual":
        net = term.options["features"]
        reduction = term.options.get("reduction", "mean")
        if reduction == "sum":
            return f"F.mse_loss({net}({a[0]}), {net}({a[1]}), reduction=\"sum\") / {batch}"
        return f"F.mse_loss({net}({a[0]}), {net}({a[1]}))"
    raise ValueError(term.kind)


# d h / d (pre-activation), written in terms of the activation's output h
DERIVATIVES = {
    "sigmoid": ("code * (1 - code)", "sigmoid(Wx + b)"),
    "tanh": ("1 - code.pow(2)", "tanh(Wx + b)"),
    "relu": ("(code > 0).to(code.dtype)", "relu(Wx + b)"),
    "identity": ("torch.ones_like(code)", "Wx + b"),
}


def one_layer_code(model: CheckedModel, term: Term):
    """(network, linear attribute, activation) when `code = act(linear(x))` up to reshapes, else None.

    Then J = diag(act'(Wx + b)) W and ||J||_F^2 = sum_j act'_j^2 ||W_j||^2 exactly, in O(units * inputs)
    instead of one backward pass per code unit.
    """
    code, source = term.args
    step = next((s for s in model.forward if isinstance(s, CallStep) and code in s.targets), None)
    if step is None or step.args != [source] or code in step.taps:
        return None
    net = model.network(step.network)
    path = _path_to(net, net.outputs[step.targets.index(code)][2])
    if path is None:
        return None
    ops = [l.op for l in path]
    shaping = ("flatten", "reshape", "unflatten", "identity")
    while ops and ops[0] in shaping:
        ops.pop(0)
        path = path[1:]
    if not ops or ops[0] != "linear":
        return None
    linear, rest = path[0], ops[1:]
    if len(rest) > 1 or (rest and rest[0] not in DERIVATIVES):
        return None
    activation = rest[0] if rest else "identity"
    return step.network, linear.attr, activation


def _path_to(net, var: str):
    """The layers from the network's input to `var`, if they form a single chain; else None."""
    inputs = {name for name, _ in net.inputs}
    if len(inputs) != 1:
        return None
    path = []
    current = var
    for layer in reversed(net.layers):
        if layer.var != current or layer in path:
            continue
        path.append(layer)
        if len(layer.inputs) != 1:
            return None
        if layer.inputs[0] in inputs:
            return list(reversed(path))
        current = layer.inputs[0]
    return None


def _generation(model: CheckedModel):
    """Steps that make new samples from the prior, and the variable that holds them (or None)."""
    produced = {l.name for l in model.latents}
    label = model.labels.name if model.labels else None
    available = set(produced) | ({label} if label else set())
    steps, out = [], None
    for step in model.forward:
        if isinstance(step, SampleStep):
            steps.append(step)
            continue
        if isinstance(step, CallStep) and set(step.args) <= available:
            steps.append(step)
            available |= set(step.targets)
            for t in step.targets:
                if model.variables[t] == model.x.type and out is None:
                    out = t
    if out is None:
        return [], None
    return steps, out


def train_view(model: CheckedModel) -> dict:
    x = model.x
    gan = model.gan
    fast = {t.label: one_layer_code(model, t) for t in model.terms if t.kind == "contractive"}
    contractive_inputs = {t.args[1] for t in model.terms if t.kind == "contractive" and fast[t.label] is None}
    feature_nets = {t.options["features"] for t in model.terms if t.kind == "perceptual"}
    trained = [n for opt in model.train.optimizers for n in opt.networks]
    forward = []
    if x.name in contractive_inputs:
        forward.append((f"{x.name} = {x.name}.requires_grad_(True)", "the contractive penalty differentiates w.r.t. it"))
    for line in step_lines(model, model.forward):
        forward.append(line)
        target = line[0].split(" = ")[0]
        if target in contractive_inputs:
            forward.append((f"{target} = {target}.requires_grad_(True)", "the contractive penalty differentiates w.r.t. it"))
    terms = [{"label": t.label, "code": term_code(model, t), "weight": weight_code(t), "text": t.text}
             for t in model.terms]
    total = " + ".join(f'{t["weight"]} * terms["{t["label"]}"]' if t["weight"] else f'terms["{t["label"]}"]'
                       for t in terms)
    gen_steps, gen_out = _generation(model)
    recon = next((t for t in model.terms if t.kind in RECON and model.variables[t.args[0]] == x.type), None)
    uses = {t.kind for t in model.terms}
    has_kl = "kl" in uses
    neg_elbo = has_kl and recon is not None and recon.kind in ("bce", "bce_logits")
    latent_codes = None
    for step in model.forward:
        if isinstance(step, CallStep) and x.name in step.args:
            for t in step.targets:
                if model.variables[t].shape == (2,):
                    latent_codes = t
                    break
    net_names = [n.name for n in model.networks]
    gan_view = None
    if gan is not None:
        gen_nets = [n for n in trained if n != gan.discriminator]
        gan_view = {"d": gan.discriminator, "kind": gan.kind, "clip": gan.clip, "gp": gan.gp,
                    "probabilities": gan.probabilities, "real": ", ".join(gan.real_args),
                    "fake": ", ".join(gan.fake_args), "fake0": gan.fake_args[0],
                    "fake_rest": ", ".join(gan.fake_args[1:]), "real_rest": ", ".join(gan.real_args[1:]),
                    "generators": gen_nets}
    optimizers = []
    declared = model.train.optimizers
    if gan is not None:  # the discriminator and generator steps must not touch each other's optimizer
        declared = [type(o)([n], o.kind, o.options) for o in declared for n in o.networks]
    for k, opt in enumerate(declared):
        name = f"opt_{opt.networks[0]}" if len(opt.networks) == 1 else "optimizer" if len(declared) == 1 else f"opt_{k}"
        params = f"{opt.networks[0]}.parameters()" if len(opt.networks) == 1 else \
            " + ".join(f"list({n}.parameters())" for n in opt.networks)
        cls = {"adam": "torch.optim.Adam", "adamw": "torch.optim.AdamW", "sgd": "torch.optim.SGD",
               "rmsprop": "torch.optim.RMSprop"}[opt.kind]
        defaults = {"adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
                    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
                    "sgd": {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
                    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0}}[opt.kind]
        extra = "".join(f", {k2}={lit(v)}" for k2, v in opt.options.items() if k2 != "lr" and defaults.get(k2) != v)
        optimizers.append({"name": name, "networks": opt.networks, "params": params, "cls": cls,
                           "lr": lit(opt.options["lr"]), "extra": extra})
    schedulers = []
    for sch in model.train.lr_schedules:
        for opt in optimizers:
            if set(opt["networks"]) & set(sch.networks):
                schedulers.append({"opt": opt["name"], "kind": sch.kind, "options": sch.options})
    key_of = {o["name"]: (o["networks"][0] if gan is not None else o["name"]) for o in optimizers}
    for sch in schedulers:
        sch["net"] = key_of[sch["opt"]]
    optimizer_dict = "{" + ", ".join(f'"{key_of[o["name"]]}": {o["name"]}' for o in optimizers) + "}"
    forward_nets = _unique(s.network for s in model.forward if isinstance(s, CallStep))
    term_nets = _unique([t.options["features"] for t in model.terms if t.kind == "perceptual"] +
                        [f[0] for f in fast.values() if f])
    term_vars = _unique(v for t in model.terms for v in t.args + [t.options.get("mu"), t.options.get("logvar")] if v)
    forward_vars = [d.name for d in model.data] + _unique(
        v for s in model.forward for v in (s.targets + s.taps if isinstance(s, CallStep) else [s.target]))
    gen_steps_nets = _unique(s.network for s in gen_steps if isinstance(s, CallStep))
    gan_vars = _unique(v for v in (gan.real_args + gan.fake_args if gan else []) if v not in {d.name for d in model.data})
    latents = [{"name": l.name, "shape": ", ".join(map(str, l.type.shape)), "prior": l.prior,
                "a": lit(l.prior_args[0]), "b": lit(l.prior_args[1])} for l in model.latents]
    train_cols = (["loss_d", "d_real", "d_fake"] + (["gradient_penalty"] if gan.gp else []) + ["loss_g"]
                  if gan is not None else ["loss"]) + [t["label"] for t in terms]
    val_cols = [t["label"] for t in terms] + (train_cols[:-len(terms) or None] if gan is not None else ["loss"]) + \
        (["mse"] if recon else []) + (["neg_elbo"] if neg_elbo else [])
    columns = ["step", "epoch", "split"] + _unique(train_cols + val_cols)
    return {
        "columns": "[" + ", ".join(f'"{c}"' for c in columns) + "]",
        "path": model.path, "sha256": model.sha256, "name": model.name,
        "x": x.name, "y": model.labels.name if model.labels else None,
        "num_classes": model.labels.type.classes if model.labels else None,
        "data_shape": repr(x.type.shape), "data_range": repr(x.range) if x.range else "None",
        "default_data": x.source or ("ring8" if x.type.shape == (2,) else "mnist5k"),
        "is_2d": x.type.shape == (2,), "is_image": x.type.rank == 3,
        "networks": net_names, "trained": trained,
        "unpack_nets": _unpack(forward_nets, "nets"), "term_nets": _unpack(term_nets, "nets"),
        "unpack_values": _unpack(term_vars, "values"), "unpack_trained": _unpack(_unique(trained), "nets"),
        "gen_unpack": _unpack(gen_steps_nets, "nets"), "gan_unpack": _unpack(gan_vars, "values"),
        "forward_dict": "{" + ", ".join(f'"{v}": {v}' for v in forward_vars) + "}",
        "optimizer_dict": optimizer_dict, "loss_text": loss_text(model), "frozen": sorted(feature_nets),
        "pretrained": _unique_dicts(t.options["pretrained"] for t in model.terms if "pretrained" in t.options),
        "forward": align(forward), "terms": terms, "total": total or "0",
        "gan": gan_view, "optimizers": optimizers, "schedulers": schedulers,
        "schedules": [vars(s) for s in model.schedules],
        "latents": latents, "uses": uses, "corruptions": {s.kind for s in model.forward if isinstance(s, CorruptStep)},
        "contractive_fast": [{"name": f[2], "derivative": DERIVATIVES[f[2]][0], "form": DERIVATIVES[f[2]][1]}
                             for f in {v[2]: v for v in fast.values() if v}.values()],
        "contractive_general": any(v is None for v in fast.values()),
        "kl_standard": any(t.kind == "kl" and t.options["prior"] == (0.0, 1.0) for t in model.terms),
        "kl_general": any(t.kind == "kl" and t.options["prior"] != (0.0, 1.0) for t in model.terms),
        "reparameterize": any(isinstance(s, SampleStep) and s.dist == "normal" for s in model.forward),
        "gen_lines": align(step_lines(model, gen_steps, prior_for={l.name for l in model.latents})),
        "gen_out": gen_out, "recon": recon.args[0] if recon else None, "neg_elbo": neg_elbo,
        "recon_kind": recon.kind if recon else None,
        "latent_codes": latent_codes,
        "batch_size": model.train.batch_size, "epochs": model.train.epochs, "d_steps": model.train.d_steps,
        "seed": model.train.seed, "checkpoint_every": model.train.extra.get("checkpoint_every", 500),
        "classifier": next((t.args[0] for t in model.terms if t.kind == "cross_entropy"), None),
    }


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _unpack(names: list[str], source: str) -> str:
    """`a, b = source["a"], source["b"]` (empty when there is nothing to unpack)."""
    if not names:
        return ""
    return f"{', '.join(names)} = " + ", ".join(f'{source}["{n}"]' for n in names)


def loss_text(model: CheckedModel) -> str:
    parts = [t.text if not (t.weight.constant != 1.0 or t.weight.schedules) else f"{weight_code(t)} * {t.text}"
             for t in model.terms]
    if model.gan is not None:
        parts.insert(0, f"gan(..., {model.gan.kind})")
    return " + ".join(parts).replace('weights["', "").replace('"]', "")


def _unique_dicts(items) -> list[dict]:
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
