"""The view of a CheckedModel that templates/model.py.j2 renders."""

from __future__ import annotations

from gendsl.check.result import CheckedModel, CheckedNetwork
from gendsl.emit.code import assign_attributes, constructor, forward_expr, inplace_activations, lit, shape_comment

INITS = {
    "dcgan": ("init_dcgan", "DCGAN initialisation: conv and linear weights ~ N(0, 0.02), batchnorm weights ~ N(1, 0.02).",
              ["classname = module.__class__.__name__",
               "if classname.find(\"Conv\") != -1 or classname.find(\"Linear\") != -1:",
               "    nn.init.normal_(module.weight, 0.0, 0.02)",
               "elif classname.find(\"BatchNorm\") != -1 and module.weight is not None:",
               "    nn.init.normal_(module.weight, 1.0, 0.02)",
               "    nn.init.zeros_(module.bias)"]),
    "xavier": ("init_xavier", "Xavier (Glorot) uniform weights, zero biases, for conv and linear layers.",
               ["if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):",
                "    nn.init.xavier_uniform_(module.weight)",
                "    if module.bias is not None:",
                "        nn.init.zeros_(module.bias)"]),
    "kaiming": ("init_kaiming", "Kaiming (He) normal weights, zero biases, for conv and linear layers.",
                ["if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):",
                 "    nn.init.kaiming_normal_(module.weight, nonlinearity=\"relu\")",
                 "    if module.bias is not None:",
                 "        nn.init.zeros_(module.bias)"]),
}


def _normal_init(std: float):
    name = "init_normal_" + repr(std).replace(".", "_").replace("-", "m").replace("+", "")
    return (name, f"Conv and linear weights ~ N(0, {std!r}), zero biases.",
            ["if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):",
             f"    nn.init.normal_(module.weight, 0.0, {std!r})",
             "    if module.bias is not None:",
             "        nn.init.zeros_(module.bias)"])


def align(lines: list[tuple[str, str]]) -> list[str]:
    """Code with trailing comments lined up in one column, as hand-written examples do."""
    width = max((len(code) for code, comment in lines if comment), default=0)
    width = min(width, 72)
    out = []
    for code, comment in lines:
        if comment:
            out.append(f"{code.ljust(width)}  # {comment}")
        else:
            out.append(code)
    return out


def network_view(net: CheckedNetwork) -> dict:
    assign_attributes(net)
    init = []
    for layer in net.layers:
        ctor = constructor(layer)
        if ctor is not None:
            init.append(f"self.{layer.attr} = {ctor}")
    if not init:
        init.append("pass  # no learned parameters")
    returns = [var for _, _, var in net.outputs]
    tap_vars = []
    for tap, _ in net.taps:
        layer = net.named(tap)
        tap_vars.append(layer.var)
    everything = returns + tap_vars
    inplace = inplace_activations(net.layers, set(everything) | {name for name, _ in net.inputs})
    lines: list[tuple[str, str]] = []
    for i, layer in enumerate(net.layers):
        if layer.op == "identity" and layer.inputs[0] == layer.var:
            continue
        lines.append((f"{layer.var} = {forward_expr(layer, i in inplace)}", shape_comment(layer.out)))
    lines.append((f"return {', '.join(everything)}", "activations read by the loss" if tap_vars else ""))
    signature = ", ".join(f"{name}: torch.Tensor" for name, _ in net.inputs)
    ret = "torch.Tensor" if len(everything) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(everything))}]"
    ins = ", ".join(f"{name} {t}" for name, t in net.inputs)
    outs = ", ".join(f"{name} {t}" if name else str(t) for name, t, _ in net.outputs)
    doc_line = f"- {net.role} `{net.name}`: {ins} -> {outs}; {net.param_count:,} parameters."
    doc = f"{net.role.capitalize()} `{net.name}`: {ins} -> {outs}. {net.param_count:,} parameters."
    return {"name": net.name, "class_name": net.class_name, "init_lines": init, "forward_lines": align(lines),
            "signature": signature, "returns": ret, "doc": doc, "doc_line": doc_line, "init": None}


def model_view(model: CheckedModel) -> dict:
    networks = [network_view(net) for net in model.networks]
    inits = {}
    for view in networks:
        scheme = model.train.init.get(view["name"])
        if scheme is None or scheme[0] == "default":
            continue
        spec = _normal_init(scheme[1]) if scheme[0] == "normal" else INITS[scheme[0]]
        inits[spec[0]] = {"name": spec[0], "doc": spec[1], "lines": spec[2]}
        view["init"] = spec[0]
    params = [{"name": k, "type": type(v).__name__, "value": lit(v)} for k, v in model.params.items()]
    return {
        "path": model.path, "sha256": model.sha256, "name": model.name, "params": params,
        "networks": networks, "inits": list(inits.values()),
        "net_dict": "{" + ", ".join(f"{n['name']!r}: {n['name']}" for n in networks) + "}",
        "uses_topk": any(l.op == "topk" for n in model.networks for l in n.layers),
    }
