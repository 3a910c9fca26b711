"""`gendsl summary`: a table per network, computed without torch."""

from __future__ import annotations

from gendsl.check.result import CheckedModel
from gendsl.emit.code import assign_attributes


def summary_table(model: CheckedModel) -> str:
    blocks = []
    for net in model.networks:
        assign_attributes(net)
        rows = [("layer", "op", "output shape", "params")]
        for name, t in net.inputs:
            rows.append((name, "input", str(t), ""))
        for layer in net.layers:
            rows.append((layer.attr or layer.var, layer.op, str(layer.out), f"{layer.params:,}" if layer.params else "0"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        rule = "  ".join("-" * w for w in widths)
        lines = [f"{net.role} {net.name}", rule]
        for k, r in enumerate(rows):
            lines.append("  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                                    r[3].rjust(widths[3])]).rstrip())
            if k == 0:
                lines.append(rule)
        lines.append(rule)
        lines.append(f"total: {net.param_count:,} parameters")
        blocks.append("\n".join(lines))
    total = sum(n.param_count for n in model.networks)
    blocks.append(f"model {model.name}: {total:,} parameters in {len(model.networks)} network(s)")
    return "\n\n".join(blocks)
