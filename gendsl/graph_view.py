"""`gendsl graph`: the model as a picture.

`model_graph` turns a checked model into a networkx DiGraph: the data, the latents
with their priors, each network as a cluster of its layers (output shape and
parameter count on each), the values of the forward block, the loss terms with
their weights, and the GAN objective between its discriminator, the real side and
the fake side. The printers below only walk that graph: DOT and Mermaid text,
and SVG/PNG through Graphviz's `dot` or, without it, networkx + matplotlib.
"""

from __future__ import annotations

import shutil
import subprocess

import networkx as nx

from gendsl.check.result import CallStep, CheckedModel, CorruptStep, SampleStep


# node kind -> (DOT shape, fill colour)
_STYLE = {"data": ("cylinder", "#dbeafe"), "latent": ("ellipse", "#ede9fe"), "input": ("plaintext", "#ffffff"),
          "layer": ("box", "#f8fafc"), "value": ("ellipse", "#fef9c3"), "loss": ("note", "#fee2e2"),
          "gan": ("hexagon", "#fee2e2")}


class GraphError(Exception):
    """A picture format that cannot be produced here; the message says what to install."""


def _fmt_number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _weight(term) -> str:
    w = term.weight
    parts = [] if w.constant == 1.0 and w.schedules else [_fmt_number(w.constant)]
    return " * ".join(parts + list(w.schedules))


def model_graph(model: CheckedModel) -> nx.DiGraph:
    """Nodes carry `kind`, `label` and, inside a network, `cluster`; edges may carry `label`."""
    g = nx.DiGraph(name=model.name)
    clusters: dict[str, str] = {}
    source: dict[str, str] = {}  # forward variable -> the node that holds it

    for d in model.data:
        rng = f" in [{_fmt_number(d.range[0])}, {_fmt_number(d.range[1])}]" if d.range else ""
        g.add_node(f"data:{d.name}", kind="data", label=f"data {d.name}\n{d.type}{rng}")
        source[d.name] = f"data:{d.name}"
    for lat in model.latents:
        args = ", ".join(_fmt_number(a) for a in lat.prior_args)
        g.add_node(f"latent:{lat.name}", kind="latent", label=f"latent {lat.name}\n{lat.type} ~ {lat.prior}({args})")
        source[lat.name] = f"latent:{lat.name}"

    outputs: dict[str, list[str]] = {}  # network -> node of each output, in order
    inputs: dict[str, list[str]] = {}
    for net in model.networks:
        cluster = net.name
        clusters[cluster] = f"{net.role} {net.name}\n{net.param_count:,} parameters"
        writer: dict[str, str] = {}
        inputs[net.name] = []
        for name, t in net.inputs:
            node = f"{net.name}:in:{name}"
            g.add_node(node, kind="input", label=f"{name}: {t}", cluster=cluster)
            writer[name] = node
            inputs[net.name].append(node)
        for k, layer in enumerate(net.layers):
            node = f"{net.name}:{k}"
            params = f"\n{layer.params:,} params" if layer.params else ""
            named = f"{layer.statement}: " if layer.statement and layer.var == layer.statement else ""
            g.add_node(node, kind="layer", label=f"{named}{layer.op}\n{layer.out}{params}", cluster=cluster)
            for var in dict.fromkeys(layer.inputs):
                if var in writer:
                    g.add_edge(writer[var], node)
            writer[layer.var] = node
        outputs[net.name] = [writer.get(var, node) for _, _, var in net.outputs]

    calls: dict[str, str] = {}
    for step in model.forward:
        if isinstance(step, CallStep):
            for arg, node in zip(step.args, inputs[step.network]):
                if arg in source:
                    g.add_edge(source[arg], node)
            for target, out in zip(step.targets, outputs[step.network]):
                value = _value(g, model, target, source)
                g.add_edge(out, value)
            for tap in step.taps:
                layer = model.network(step.network).named(tap.split("__", 1)[1])
                if layer is not None:
                    k = model.network(step.network).layers.index(layer)
                    g.add_edge(f"{step.network}:{k}", _value(g, model, tap, source))
            calls.update({t: step.network for t in step.targets})
        elif isinstance(step, SampleStep):
            node = _value(g, model, step.target, source, kind="latent")
            for arg in step.args:
                if arg in source:
                    g.add_edge(source[arg], node, label=step.dist)
        elif isinstance(step, CorruptStep):
            node = _value(g, model, step.target, source)
            g.add_edge(source[step.source], node, label=f"{step.kind} {_fmt_number(step.amount)}")

    for k, term in enumerate(model.terms):
        node = f"loss:{k}"
        weight = _weight(term)
        g.add_node(node, kind="loss", label=f"{term.text}" + (f"\nweight {weight}" if weight != "1" else ""))
        for arg in dict.fromkeys(term.args):
            if arg in source:
                g.add_edge(source[arg], node)
    for k, gan in enumerate(model.gans):  # each adversarial term, its node "gan", "gan:1", ...
        term_node = "gan" if k == 0 else f"gan:{k}"
        extra = "".join(f", {k}={_fmt_number(v)}" for k, v in (("clip", gan.clip), ("gp", gan.gp)) if v is not None)
        weight = _weight(gan)
        label = f"gan: {gan.kind}{extra}\n{gan.discriminator}(real) vs {gan.discriminator}(fake)" + \
            (f"\nweight {weight}" if weight != "1" else "")
        g.add_node(term_node, kind="gan", label=label)
        for side, args in (("real", gan.real_args), ("fake", gan.fake_args)):
            for arg, node in zip(args, inputs[gan.discriminator]):
                if arg in source:  # the discriminator sees both sides (a label such as y: both)
                    seen = g.edges[source[arg], node]["label"] if g.has_edge(source[arg], node) else None
                    g.add_edge(source[arg], node, label=f"{seen}, {side}" if seen else side)
        for out in outputs[gan.discriminator]:
            g.add_edge(out, term_node, label="scores")
    g.graph["clusters"] = clusters
    return g


def _value(g: nx.DiGraph, model: CheckedModel, name: str, source: dict[str, str], kind: str = "value") -> str:
    if name in source and source[name].startswith("latent:") and kind == "latent":
        return source[name]
    node = f"value:{name}"
    t = model.variables.get(name)
    g.add_node(node, kind=kind, label=f"{name}\n{t}" if t is not None else name)
    source[name] = node
    return node


# ---- printers ----------------------------------------------------------------------------

def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: nx.DiGraph) -> str:
    lines = [f"digraph {_dot_quote(g.graph.get('name', 'model'))} {{",
             "    rankdir=TB;",
             '    node [fontname="Helvetica", fontsize=10, style=filled];',
             '    edge [fontname="Helvetica", fontsize=9];']

    def node_line(n, indent="    "):
        data = g.nodes[n]
        shape, fill = _STYLE[data["kind"]]
        return f"{indent}{_dot_quote(n)} [label={_dot_quote(data['label'])}, shape={shape}, fillcolor=\"{fill}\"];"

    for n in g.nodes:
        if "cluster" not in g.nodes[n]:
            lines.append(node_line(n))
    for k, (cluster, label) in enumerate(g.graph["clusters"].items()):
        lines.append(f"    subgraph cluster_{k} {{")
        lines.append(f"        label={_dot_quote(label)}; style=rounded; color=\"#64748b\";")
        lines += [node_line(n, "        ") for n in g.nodes if g.nodes[n].get("cluster") == cluster]
        lines.append("    }")
    for a, b, data in g.edges(data=True):
        label = f" [label={_dot_quote(data['label'])}]" if data.get("label") else ""
        lines.append(f"    {_dot_quote(a)} -> {_dot_quote(b)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(node: str, ids: dict[str, str]) -> str:
    return ids.setdefault(node, f"n{len(ids)}")


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(g: nx.DiGraph) -> str:
    ids: dict[str, str] = {}
    shapes = {"data": ("[(", ")]"), "latent": ("([", "])"), "input": ("[/", "/]"), "layer": ("[", "]"),
              "value": ("(", ")"), "loss": ("[[", "]]"), "gan": ("{{", "}}")}
    lines = ["flowchart TD"]

    def node_line(n, indent="    "):
        open_, close = shapes[g.nodes[n]["kind"]]
        return f"{indent}{_mermaid_id(n, ids)}{open_}{_mermaid_label(g.nodes[n]['label'])}{close}"

    for n in g.nodes:
        if "cluster" not in g.nodes[n]:
            lines.append(node_line(n))
    for k, (cluster, label) in enumerate(g.graph["clusters"].items()):
        lines.append(f"    subgraph c{k}[{_mermaid_label(label)}]")
        lines += [node_line(n, "        ") for n in g.nodes if g.nodes[n].get("cluster") == cluster]
        lines.append("    end")
    for a, b, data in g.edges(data=True):
        label = f"|{_mermaid_label(data['label'])}|" if data.get("label") else ""
        lines.append(f"    {_mermaid_id(a, ids)} -->{label} {_mermaid_id(b, ids)}")
    return "\n".join(lines) + "\n"


def render_picture(g: nx.DiGraph, fmt: str, renderer: str = "auto") -> bytes:
    """SVG or PNG bytes, through Graphviz's `dot` or networkx + matplotlib."""
    dot = shutil.which("dot")
    if renderer == "dot" or (renderer == "auto" and dot):
        if not dot:
            raise GraphError("Graphviz's `dot` is not installed: install it (Debian/Ubuntu: `apt install graphviz`, "
                             "macOS: `brew install graphviz`), or use `--renderer matplotlib`")
        done = subprocess.run([dot, f"-T{fmt}"], input=to_dot(g).encode(), capture_output=True, timeout=120)
        if done.returncode != 0:
            raise GraphError(f"`dot -T{fmt}` failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout
    try:
        import matplotlib
    except ImportError:
        raise GraphError(f"--format {fmt} needs Graphviz's `dot` (`apt install graphviz`) or matplotlib "
                         "(`pip install matplotlib`); neither is installed. DOT and Mermaid text work without "
                         "them: `--format dot` or `--format mermaid`") from None
    matplotlib.use("Agg")
    return _matplotlib_picture(g, fmt)


def _matplotlib_picture(g: nx.DiGraph, fmt: str) -> bytes:
    import io

    import matplotlib.pyplot as plt

    layers = {}
    for depth, generation in enumerate(nx.topological_generations(g)):
        for n in generation:
            layers[n] = depth
    nx.set_node_attributes(g, layers, "depth")
    pos = nx.multipartite_layout(g, subset_key="depth", align="horizontal", scale=1.0)
    pos = {n: (x, -y) for n, (x, y) in pos.items()}  # inputs at the top
    width = max(len(gen) for gen in nx.topological_generations(g))
    fig, ax = plt.subplots(figsize=(max(8, 2.6 * width), max(6, 1.1 * (max(layers.values()) + 1))))
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=10, edge_color="#64748b", node_size=2500)
    for n, (x, y) in pos.items():
        _, fill = _STYLE[g.nodes[n]["kind"]]
        cluster = g.nodes[n].get("cluster")
        label = (f"[{cluster}]\n" if cluster else "") + g.nodes[n]["label"]
        ax.text(x, y, label, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "facecolor": fill, "edgecolor": "#64748b"})
    edge_labels = {(a, b): d["label"] for a, b, d in g.edges(data=True) if d.get("label")}
    nx.draw_networkx_edge_labels(g, pos, edge_labels=edge_labels, ax=ax, font_size=6)
    ax.set_title(g.graph.get("name", ""))
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buffer.getvalue()


def graph_output(model: CheckedModel, fmt: str, renderer: str = "auto") -> bytes:
    g = model_graph(model)
    if fmt == "dot":
        return to_dot(g).encode()
    if fmt == "mermaid":
        return to_mermaid(g).encode()
    return render_picture(g, fmt, renderer)
