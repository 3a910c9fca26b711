"""Every name the generated code gives to something of the spec, decided here and nowhere else.

The class of each network and of the whole model, and the module attribute of each layer.
"""

from __future__ import annotations

import builtins
import keyword

from gendsl.check.names import BUILTINS, GENERATED_NAMES
from gendsl.check.result import CheckedModel, CheckedNetwork

# The module attribute prefix of each layer that owns parameters (or a module).
ATTR_PREFIX = {"linear": "fc", "conv2d": "conv", "conv_transpose2d": "deconv", "subpixel": "subpixel",
               "batchnorm": "bn", "layernorm": "ln", "embedding": "embed", "prelu": "prelu"}


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


def _camel(name: str, empty: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or empty


def network_class_names(model: CheckedModel) -> dict[str, str]:
    """network -> its class: the camel-cased network name, with a `Net` suffix (and a number)
    where that would clash with another global of the generated module: `f` would become `F`
    (torch.nn.functional), `Enc` would equal a network's own name, `a_b` and `aB` would share
    `AB`, and `true` would become the keyword `True`."""
    reserved = GENERATED_NAMES | BUILTINS | {n.name for n in model.networks} | set(
        keyword.kwlist + keyword.softkwlist)
    names: dict[str, str] = {}
    for net in model.networks:
        base = candidate = _camel(net.name, "Net")
        number = 1
        while candidate in reserved or candidate in names.values():
            candidate = f"{base}Net" + (str(number) if number > 1 else "")
            number += 1
        names[net.name] = candidate
    return names


def model_class_name(model: CheckedModel) -> str:
    """The model's class: the camel-cased model name, with `Model` added where a network class
    (or `F`, `nn`, `torch`) already has that name, or where it would be a keyword or a builtin
    (`model true` would give `True`)."""
    base = _camel(model.name, "Model")
    taken = set(network_class_names(model).values()) | {"F", "nn", "torch"}
    name, k = base, 1
    while name in taken or keyword.iskeyword(name) or hasattr(builtins, name):
        name = f"{base}Model" + (str(k) if k > 1 else "")
        k += 1
    return name
