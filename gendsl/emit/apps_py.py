"""The view of a CheckedModel that templates/apps.py.j2 renders: the model's autoencoder path
(input -> code -> reconstruction) as two straight-line functions, `encode` and `decode`.

A model has such a path when its loss reconstructs the data, `mse(x_hat, x)` say, and `x_hat` is
computed from the code of one network call on the (possibly corrupted) data. The code is that
call's output; for a VAE, `z ~ normal(mu, logvar)` after the call makes `mu` the code, and
decoding reads the mean instead of a sample. Models without such a path (GANs), and models whose
encoder or decoder reads class labels (a conditional VAE: classifying on codes that were computed
from the answer would mean nothing), get no apps.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gendsl.check.result import CallStep, CheckedModel, CorruptStep, SampleStep, Step
from gendsl.emit.model_py import align
from gendsl.emit.train_py import RECON, _comment


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


def _decoder_lines(model: CheckedModel, path: AutoencoderPath) -> list[tuple[str, str]]:
    lines = []
    for step in path.decoder:
        if isinstance(step, CallStep):
            targets = step.targets + step.taps
            t = model.variables[targets[0]]
            lines.append((f"{', '.join(targets)} = {step.network}({', '.join(step.args)})",
                          _comment(t) if len(targets) == 1 else ""))
        elif isinstance(step, SampleStep):
            lines.append((f"{step.target} = {path.code}", "the mean of the posterior: no sampling"))
        else:
            lines.append((f"{step.target} = {step.source}", "no corruption outside training"))
    return lines


def apps_view(model: CheckedModel) -> dict | None:
    """What templates/apps.py.j2 needs, or None when the model has no autoencoder path."""
    path = autoencoder_path(model)
    if path is None:
        return None
    x = model.x
    enc = path.encoder
    targets = enc.targets + enc.taps
    encode_line = (f"{', '.join(targets)} = {enc.network}({', '.join(enc.args)})",
                   _comment(model.variables[targets[0]]) if len(targets) == 1 else "")
    code_type = model.variables[path.code]
    decode_nets = list(dict.fromkeys(s.network for s in path.decoder if isinstance(s, CallStep)))
    shape = x.type.shape
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    picture = ("image" if len(shape) == 3 else
               "square" if len(shape) == 1 and side * side == shape[0] and side > 1 else None)
    return {
        "path": model.path, "sha256": model.sha256, "name": model.name, "x": x.name,
        "encoder": enc.network, "encode_lines": align([encode_line]), "code": path.code,
        "code_shape": str(code_type), "code_size": code_type.numel, "sampled": path.sampled,
        "decode_nets": ", ".join(decode_nets), "decode_unpack": ", ".join(f'nets["{n}"]' for n in decode_nets),
        "decode_lines": align(_decoder_lines(model, path)), "recon": path.recon,
        "recon_kind": path.recon_kind, "picture": picture, "side": side,
        "seed": model.train.seed,
    }
