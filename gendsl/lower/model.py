"""Lowering for model.py: one class per network, and the model class that owns them, with the
spec's `forward` block and the sampling, encoding and decoding paths written out once."""

from __future__ import annotations

from gendsl.check.result import CallStep, CheckedModel, CheckedNetwork, CorruptStep, SampleStep, Step
from gendsl.lower import analysis
from gendsl.lower.layers import SPECTRAL, constructor, forward_expr, inplace_activations, lit, shape_comment
from gendsl.lower.names import average_attributes, layer_attributes, model_class_name, network_class_names
from gendsl.lower.plan import AveragePlan, InitPlan, LayerRow, Line, Method, ModelPlan, NetworkPlan

# Weight initialisations: name -> (function name, docstring, body).
INITS = {
    "dcgan": ("init_dcgan", "DCGAN initialisation: conv and linear weights ~ N(0, 0.02), batchnorm weights"
                            " ~ N(1, 0.02).",
              ("classname = module.__class__.__name__",
               "if classname.find(\"Conv\") != -1 or classname.find(\"Linear\") != -1:",
               "    nn.init.normal_(module.weight, 0.0, 0.02)",
               "elif classname.find(\"BatchNorm\") != -1 and module.weight is not None:",
               "    nn.init.normal_(module.weight, 1.0, 0.02)",
               "    nn.init.zeros_(module.bias)")),
    "xavier": ("init_xavier", "Xavier (Glorot) uniform weights, zero biases, for conv and linear layers.",
               ("if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):",
                "    nn.init.xavier_uniform_(module.weight)",
                "    if module.bias is not None:",
                "        nn.init.zeros_(module.bias)")),
    "kaiming": ("init_kaiming", "Kaiming (He) normal weights, zero biases, for conv and linear layers.",
                ("if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):",
                 "    nn.init.kaiming_normal_(module.weight, nonlinearity=\"relu\")",
                 "    if module.bias is not None:",
                 "        nn.init.zeros_(module.bias)")),
}

CORRUPTIONS = {"gaussian": "gaussian_noise", "masking": "masking_noise", "salt_and_pepper": "salt_and_pepper"}


def _normal_init(std: float) -> tuple[str, str, tuple[str, ...]]:
    name = "init_normal_" + repr(std).replace(".", "_").replace("-", "m").replace("+", "")
    return (name, f"Conv and linear weights ~ N(0, {std!r}), zero biases.",
            ("if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):",
             f"    nn.init.normal_(module.weight, 0.0, {std!r})",
             "    if module.bias is not None:",
             "        nn.init.zeros_(module.bias)"))


def lower_network(net: CheckedNetwork, class_name: str, init_fn: str | None, frozen: bool,
                  spectral: bool = False) -> NetworkPlan:
    attrs = layer_attributes(net)
    init = [f"self.{attr} = {constructor(layer, spectral)}" for layer, attr in zip(net.layers, attrs)
            if attr is not None and constructor(layer) is not None]
    if not init:
        init.append("pass  # no learned parameters")
    returns = [var for _, _, var in net.outputs]
    taps = [net.named(tap).var for tap, _ in net.taps]
    everything = returns + taps
    inplace = inplace_activations(net.layers, set(everything) | {name for name, _ in net.inputs})
    lines = []
    for i, (layer, attr) in enumerate(zip(net.layers, attrs)):
        if layer.op == "identity" and layer.inputs[0] == layer.var:
            continue
        lines.append(Line(f"{layer.var} = {forward_expr(layer, attr, i in inplace)}", shape_comment(layer.out)))
    lines.append(Line(f"return {', '.join(everything)}", "activations read by the loss" if taps else ""))
    ret = "torch.Tensor" if len(everything) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(everything))}]"
    ins = ", ".join(f"{name} {t}" for name, t in net.inputs)
    outs = ", ".join(f"{name} {t}" if name else str(t) for name, t, _ in net.outputs)
    rows = tuple(LayerRow(attr or layer.var, layer.op, str(layer.out), layer.params)
                 for layer, attr in zip(net.layers, attrs))
    return NetworkPlan(
        name=net.name, class_name=class_name, role=net.role,
        doc=f"{net.role.capitalize()} `{net.name}`: {ins} -> {outs}. {net.param_count:,} parameters.",
        doc_line=f"- {net.role} `{net.name}`: {ins} -> {outs}; {net.param_count:,} parameters.",
        init=tuple(init), signature=", ".join(f"{name}: torch.Tensor" for name, _ in net.inputs), returns=ret,
        forward=tuple(lines), init_fn=init_fn, rows=rows, inputs=tuple((n, str(t)) for n, t in net.inputs),
        param_count=net.param_count, frozen=frozen)


def draw(model: CheckedModel, latent: str, n: str, device: str) -> str:
    """An expression that draws `n` values of a latent from its prior."""
    decl = next(d for d in model.latents if d.name == latent)
    shape = ", ".join(map(str, decl.type.shape))
    if decl.prior == "categorical":
        return f"torch.randint({decl.type.classes}, ({n},), device={device})"
    a, b = decl.prior_args
    if decl.prior == "normal":
        if (a, b) == (0.0, 1.0):
            return f"torch.randn({n}, {shape}, device={device})"
        return f"{lit(a)} + {lit(b)} * torch.randn({n}, {shape}, device={device})"
    return f"{lit(a)} + ({lit(b)} - {lit(a)}) * torch.rand({n}, {shape}, device={device})"


def call_line(model: CheckedModel, step: CallStep, attrs: dict[str, str] | None = None) -> Line:
    """`fake = self.G(z)`; `attrs` renames networks (`generate` calls the `ema` copies)."""
    targets = step.targets + step.taps
    t = model.variables[targets[0]]
    network = (attrs or {}).get(step.network, step.network)
    return Line(f"{', '.join(targets)} = self.{network}({', '.join(step.args)})",
                shape_comment(t) if len(targets) == 1 else "")


def step_line(model: CheckedModel, step: Step) -> Line:
    if isinstance(step, CallStep):
        return call_line(model, step)
    t = shape_comment(model.variables[step.target])
    if isinstance(step, SampleStep):
        if step.dist == "prior":
            x = model.x.name
            return Line(f"{step.target} = {draw(model, step.target, f'{x}.size(0)', f'{x}.device')}", t)
        mu, logvar = step.args
        return Line(f"{step.target} = reparameterize({mu}, {logvar})", t)
    low, high = model.x.range or (0.0, 1.0)
    extra = {"gaussian": "", "masking": f", {lit(low)}", "salt_and_pepper": f", {lit(low)}, {lit(high)}"}[step.kind]
    return Line(f"{step.target} = {CORRUPTIONS[step.kind]}({step.source}, {lit(step.amount)}{extra})", t)


def contractive_inputs(model: CheckedModel) -> set[str]:
    """Values a contractive penalty without a closed form differentiates with respect to."""
    return {t.args[1] for t in model.terms if t.kind == "contractive" and analysis.one_layer(model, t) is None}


def forward_method(model: CheckedModel) -> Method:
    data = [d.name for d in model.data]
    wrt = contractive_inputs(model)
    grad = "the contractive penalty differentiates w.r.t. it"
    body = [Line(f"{v} = {v}.requires_grad_(True)", grad) for v in data if v in wrt]
    for step in model.forward:
        body.append(step_line(model, step))
        for target in step.targets if isinstance(step, CallStep) else [step.target]:
            if target in wrt:
                body.append(Line(f"{target} = {target}.requires_grad_(True)", grad))
    values = data + list(dict.fromkeys(
        v for s in model.forward for v in (s.targets + s.taps if isinstance(s, CallStep) else [s.target])))
    body.append(Line("return {" + ", ".join(f'"{v}": {v}' for v in values) + "}"))
    return Method("forward", ", ".join(f"{d}: torch.Tensor" for d in data), "dict[str, torch.Tensor]",
                  "The spec's `forward` block, for one batch; returns every value it names.", tuple(body))


def generative_methods(model: CheckedModel, gen: analysis.Generation) -> list[Method]:
    label = gen.label
    draws = [Line(f"{v} = {draw(model, v, 'n', 'device')}") for v in gen.latents]
    names = ", ".join(gen.latents)
    prior = Method("prior", "n: int", "tuple[torch.Tensor, ...]",
                   f"n draws of what `generate` reads: {', '.join(f'`{v}`' for v in gen.latents)}, from the prior.",
                   (Line("device = next(self.parameters()).device"), *draws,
                    Line(f"return {names}," if len(gen.latents) == 1 else f"return {names}")))
    params = ", ".join(f"{v}: torch.Tensor" for v in [*gen.latents, *([label] if label else [])])
    averages = average_attributes(model)
    body = [call_line(model, s, averages) for s in gen.steps]
    used = [f"`{averages[s.network]}`" for s in gen.steps if s.network in averages]
    generate = Method("generate", params, "torch.Tensor",
                      "New samples from latents drawn by `prior`" + (f" and class labels `{label}`" if label else "")
                      + (f", by {', '.join(used)}, the moving average of the trained weights." if used else "."),
                      (*body, Line(f"return {gen.out}")))
    sample_params = "n: int" + (f", {label}: torch.Tensor" if label else "")
    sample = Method("sample", sample_params, "torch.Tensor",
                    "n new samples" + (f" of the classes in `{label}`." if label else "."),
                    (Line("return self.generate(*self.prior(n)" + (f", {label})" if label else ")")),))
    return [prior, generate, sample]


def autoencoder_methods(model: CheckedModel, path: analysis.AutoencoderPath) -> list[Method]:
    enc = path.encoder
    encode = Method("encode", f"{model.x.name}: torch.Tensor", "torch.Tensor",
                    f"The code of a batch: `{path.code}`, computed by `{enc.network}` from the clean input.",
                    (call_line(model, enc), Line(f"return {path.code}")))
    body = []
    for step in path.decoder:
        if isinstance(step, CallStep):
            body.append(call_line(model, step))
        elif isinstance(step, SampleStep):
            body.append(Line(f"{step.target} = {path.code}", "the mean of the posterior: no sampling"))
        else:
            body.append(Line(f"{step.target} = {step.source}", "no corruption outside training"))
    decode = Method("decode", f"{path.code}: torch.Tensor", "torch.Tensor",
                    f"The reconstruction `{path.recon}` of a batch of codes.", (*body, Line(f"return {path.recon}")))
    return [encode, decode]


def lower_model(model: CheckedModel) -> ModelPlan:
    inits: dict[str, InitPlan] = {}
    frozen = {t.options["features"] for t in model.terms if t.kind == "perceptual"}
    networks = []
    class_names = network_class_names(model)
    for net in model.networks:
        scheme = model.train.init.get(net.name)
        fn = None
        if scheme is not None and scheme[0] != "default":
            name, doc, lines = _normal_init(scheme[1]) if scheme[0] == "normal" else INITS[scheme[0]]
            inits[name] = InitPlan(name, doc, lines)
            fn = name
        networks.append(lower_network(net, class_names[net.name], fn, net.name in frozen,
                                      net.name in model.train.spectral_norm))
    methods = [forward_method(model)]
    gen = analysis.generation(model)
    if gen is not None:
        methods += generative_methods(model, gen)
    path = analysis.autoencoder_path(model)
    if path is not None:
        methods += autoencoder_methods(model, path)
    helpers = set()
    if any(layer.op == "topk" for n in model.networks for layer in n.layers):
        helpers.add("topk")
    if any(layer.op == "self_attention" for n in model.networks for layer in n.layers):
        helpers.add("self_attention")
    if any(layer.op in SPECTRAL and (layer.spectral_norm or n.name in model.train.spectral_norm)
           for n in model.networks for layer in n.layers):
        helpers.add("spectral_norm")
    if any(isinstance(s, SampleStep) and s.dist == "normal" for s in model.forward):
        helpers.add("reparameterize")
    helpers |= {CORRUPTIONS[s.kind] for s in model.forward if isinstance(s, CorruptStep)}
    code_size = model.variables[path.code].numel if path is not None else None
    lines = [line.code for n in networks for line in n.forward] + [line.code for m in methods for line in m.body]
    functional = any("F." in code for code in lines)
    return ModelPlan(model.name, model.path, model.sha256, model_class_name(model), tuple(networks),
                     tuple(inits.values()), frozenset(helpers), tuple(methods), code_size, functional,
                     averages(model))


def averages(model: CheckedModel) -> tuple[AveragePlan, ...]:
    attrs = average_attributes(model)
    class_names = network_class_names(model)
    return tuple(AveragePlan(attrs[net], net, class_names[net], decay, start)
                 for net, (decay, start) in sorted(model.train.ema.items()))
