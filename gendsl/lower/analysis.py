"""The analyses lowering does before anything is printed: which steps generate new samples,
the autoencoder path (input -> code -> reconstruction), and the closed form of a contractive
penalty. Each reads the checked model and returns new objects; none changes the model."""

from __future__ import annotations

from dataclasses import dataclass

from gendsl.check.result import CallStep, CheckedModel, CheckedNetwork, CorruptStep, Layer, SampleStep, Step, Term

RECON = ("mse", "l1", "bce", "bce_logits")


@dataclass(frozen=True)
class Generation:
    """The steps that make new samples from latents (and labels), and the value that holds them."""
    latents: tuple[str, ...]  # the latents these steps read and `prior` draws, in forward order
    steps: tuple[CallStep, ...]
    out: str
    label: str | None = None  # the class labels `generate` takes: a label latent the steps read, or the data's
    classes: int | None = None  # how many classes that label has


def generation(model: CheckedModel) -> Generation | None:
    """The generative path: calls that read only latents, labels and earlier such calls, up to the
    first value of the data's type; None when the model makes no samples from its prior."""
    latents = [s.target for s in model.forward if isinstance(s, SampleStep)]
    label = model.labels.name if model.labels else None
    available = set(latents) | ({label} if label else set())
    steps, out = [], None
    for step in model.forward:
        if isinstance(step, CallStep) and set(step.args) <= available:
            steps.append(step)
            available |= set(step.targets)
            for t in step.targets:
                if model.variables[t] == model.x.type and out is None:
                    out = t
            if out is not None:
                break
    if out is None:
        return None
    needed, kept = {out}, []
    for step in reversed(steps):  # only the calls the sample needs
        if needed & set(step.targets):
            kept.append(step)
            needed |= set(step.args)
    drawn = [v for v in latents if v in needed]
    sampled_labels = [v for v in drawn if model.variables[v].is_label]
    if sampled_labels and (label is None or label not in needed):
        # `latent y_fake: label[N] ~ categorical()` read instead of the data's labels: generate takes
        # it as its condition (a second label latent, or one read beside the data's, is drawn by prior)
        label = sampled_labels[0]
        drawn.remove(label)
    return Generation(tuple(drawn), tuple(reversed(kept)), out, label,
                      model.variables[label].classes if label else None)


@dataclass
class AutoencoderPath:
    encoder: CallStep  # the call on the data, with corrupted inputs replaced by the clean data
    code: str  # the variable that holds the code
    sampled: str | None  # the latent drawn around the code (VAE), decoded at its mean
    decoder: list[Step]  # the steps from the code to the reconstruction, in forward order
    recon: str  # the reconstruction the loss compares with the data
    recon_kind: str  # mse | l1 | bce | bce_logits


def autoencoder_path(model: CheckedModel) -> AutoencoderPath | None:
    """The encode/decode path of the model, or None if it has none apps.py can use."""
    x = model.x.name
    recon = next((t for t in model.terms if t.kind in RECON and x in t.args and len(t.args) == 2), None)
    if recon is None:
        return None
    recon_var = t_other(recon.args, x)
    if recon_var is None or model.variables.get(recon_var) != model.x.type:
        return None

    corrupted = {s.target: s.source for s in model.forward if isinstance(s, CorruptStep)}

    def clean(name: str) -> str:
        while name in corrupted:
            name = corrupted[name]
        return name

    index = next((i for i, s in enumerate(model.forward)
                  if isinstance(s, CallStep) and any(clean(a) == x for a in s.args)), None)
    if index is None:
        return None
    call = model.forward[index]
    args = [x if clean(a) == x else a for a in call.args]
    if any(a != x for a in args):  # the encoder reads labels or latents too
        return None
    encoder = CallStep(list(call.targets), call.network, args, list(call.taps))

    later = model.forward[index + 1:]
    sample = next((s for s in later if isinstance(s, SampleStep) and s.dist == "normal"
                   and s.args[0] in call.targets), None)
    code = sample.args[0] if sample else call.targets[0]
    sampled = sample.target if sample else None

    # Walk back from the reconstruction to the code, keeping only the steps it needs.
    needed, steps = {recon_var}, []
    for step in reversed(later):
        if isinstance(step, CallStep):
            if not needed & set(step.targets + step.taps):
                continue
            needed -= set(step.targets + step.taps)
            needed |= set(step.args)
        elif step.target in needed:
            if step is not sample and not isinstance(step, CorruptStep):
                return None  # the decoder reads a latent drawn from its prior
            needed.discard(step.target)
            needed.add(code if step is sample else step.source)
        else:
            continue
        steps.append(step)
    if needed != {code}:
        return None
    return AutoencoderPath(encoder, code, sampled, steps[::-1], recon_var, recon.kind)


def t_other(args: list[str], x: str) -> str | None:
    """The argument of a two-argument term that is not the data."""
    rest = [a for a in args if a != x]
    return rest[0] if len(rest) == 1 else None


# d h / d (pre-activation), written in terms of the activation's output h
DERIVATIVES = {
    "sigmoid": ("code * (1 - code)", "sigmoid(Wx + b)"),
    "tanh": ("1 - code.pow(2)", "tanh(Wx + b)"),
    "relu": ("(code > 0).to(code.dtype)", "relu(Wx + b)"),
    "identity": ("torch.ones_like(code)", "Wx + b"),
}


@dataclass(frozen=True)
class OneLayer:
    """`code = activation(linear(x))` up to reshapes: the contractive penalty in closed form."""
    network: str
    layer: Layer
    activation: str


def one_layer(model: CheckedModel, term: Term) -> OneLayer | None:
    """The closed form of a contractive term when its code is one linear layer and an activation.

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
    shaping = ("flatten", "reshape", "unflatten", "identity")
    while path and path[0].op in shaping:
        path = path[1:]
    if not path or path[0].op != "linear":
        return None
    rest = [layer.op for layer in path[1:]]
    if len(rest) > 1 or (rest and rest[0] not in DERIVATIVES):
        return None
    return OneLayer(step.network, path[0], rest[0] if rest else "identity")


def _path_to(net: CheckedNetwork, var: str) -> list[Layer] | None:
    """The layers from the network's input to `var`, if they form a single chain; else None."""
    inputs = {name for name, _ in net.inputs}
    if len(inputs) != 1:
        return None
    path: list[Layer] = []
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


def receptive_field(net: CheckedNetwork) -> tuple[int, int] | None:
    """The (height, width) of the input patch one score of a score map sees (PatchGAN's "70x70"),
    through convolutions, pooling and padding along the path to the first output; None when a layer
    mixes all positions (self-attention, a linear layer) or the path is not a plain chain."""
    from gendsl.check.layers import pair

    path = _path_to(net, net.outputs[0][2])
    if path is None:
        return None
    size, jump = [1, 1], [1, 1]
    for layer in path:
        a = layer.args
        if layer.op == "conv2d":
            kernel, stride, dilation = pair(a["kernel"]), pair(a["stride"]), pair(a["dilation"])
        elif layer.op in ("maxpool", "avgpool"):
            kernel = pair(a["kernel"])
            stride, dilation = pair(a["stride"] if a["stride"] is not None else a["kernel"]), (1, 1)
        elif layer.op in ("linear", "self_attention", "conv_transpose2d", "upsample", "subpixel", "pixel_shuffle",
                          "adaptive_avgpool", "flatten", "reshape", "unflatten", "concat", "add", "mul", "topk",
                          "layernorm", "embedding", "onehot"):
            return None
        else:
            continue  # element-wise, per-channel or padding layers: the same positions
        for d in range(2):
            size[d] += (kernel[d] - 1) * dilation[d] * jump[d]
            jump[d] *= stride[d]
    return size[0], size[1]
