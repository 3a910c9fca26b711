"""Every name the generated code gives to something of the spec, decided here and nowhere else.

Network classes keep the names check gave them (`class_name`); this module names the modules
of each network's layers and the class of the whole model.
"""

from __future__ import annotations

import builtins
import keyword

from gendsl.check.result import CheckedModel, CheckedNetwork

# The module attribute prefix of each layer that owns parameters (or a module).
ATTR_PREFIX = {"linear": "fc", "conv2d": "conv", "conv_transpose2d": "deconv", "subpixel": "subpixel",
               "batchnorm": "bn", "layernorm": "ln", "embedding": "embed", "prelu": "prelu",
               "instancenorm": "inorm", "groupnorm": "gn", "self_attention": "attn"}


def layer_attributes(net: CheckedNetwork) -> list[str | None]:
    """One entry per layer: its module's attribute, or None for a layer without a module.

    A named statement's single module takes the statement's name; others get `fc1`, `conv2`, ...
    avoiding the network's variables and inputs.
    """
    per_statement: dict[str, int] = {}
    for layer in net.layers:
        if layer.op in ATTR_PREFIX and layer.statement:
            per_statement[layer.statement] = per_statement.get(layer.statement, 0) + 1
    used = {n for n, _ in net.inputs} | {layer.var for layer in net.layers}
    counters: dict[str, int] = {}
    taken: set[str] = set()
    out: list[str | None] = []
    for layer in net.layers:
        if layer.op not in ATTR_PREFIX:
            out.append(None)
            continue
        if layer.statement and per_statement[layer.statement] == 1 and layer.statement not in taken:
            name = layer.statement
        else:
            prefix = ATTR_PREFIX[layer.op]
            while True:
                counters[prefix] = counters.get(prefix, 0) + 1
                name = f"{prefix}{counters[prefix]}"
                if name not in taken and name not in used:
                    break
        taken.add(name)
        out.append(name)
    return out


def average_attributes(model: CheckedModel) -> dict[str, str]:
    """network -> the model attribute of its `ema` copy: `G_ema`, or `G_ema_` where taken."""
    taken = {n.name for n in model.networks}
    out = {}
    for net in sorted(model.train.ema):
        name = f"{net}_ema"
        while name in taken:
            name += "_"
        taken.add(name)
        out[net] = name
    return out


def model_class_name(model: CheckedModel) -> str:
    """The model's class: the camel-cased model name, with `Model` added where a network class
    (or `F`, `nn`, `torch`) already has that name, or where it would be a keyword or a builtin
    (`model true` would give `True`)."""
    base = "".join(part[:1].upper() + part[1:] for part in model.name.split("_") if part) or "Model"
    taken = {n.class_name for n in model.networks} | {"F", "nn", "torch"}
    name, k = base, 1
    while name in taken or keyword.iskeyword(name) or hasattr(builtins, name):
        name = f"{base}Model" + (str(k) if k > 1 else "")
        k += 1
    return name
