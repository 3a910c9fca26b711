"""`gendsl summary`: a table per network, computed without torch."""

from __future__ import annotations

from gendsl.check.result import CheckedModel
from gendsl.lower.model import lower_model


def summary_table(model: CheckedModel) -> str:
    """The layers of every network as model.py names them (the plan's names), without torch."""
    plan = lower_model(model)
    blocks = []
    for net in plan.networks:
        rows = [("layer", "op", "output shape", "params")]
        for name, t in net.inputs:
            rows.append((name, "input", t, ""))
        for row in net.rows:
            rows.append((row.name, row.op, row.shape, f"{row.params:,}" if row.params else "0"))
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
    total = sum(n.param_count for n in plan.networks)
    blocks.append(f"model {model.name}: {total:,} parameters in {len(model.networks)} network(s)")
    return "\n\n".join(blocks)
