"""Reusable pieces: a parameterised network copied under a new name with its parameters bound, and a
named loss used inside another loss. Both are plain substitutions on the IR, done before checking, so
the checker sees an ordinary network or loss and checks it in the model that uses it (late binding).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace

from gendsl import ir
from gendsl.diagnostics import CompileError, did_you_mean, error, plural
from gendsl.source import Span


def substitute(node, values: dict[str, ir.Expr]):
    """`node` with every `Name` in `values` replaced by its expression (element names are not
    expressions and are kept)."""
    if not values:
        return node
    if isinstance(node, ir.Name):
        return values.get(node.id, node)
    if isinstance(node, tuple):
        return tuple(substitute(item, values) for item in node)
    if not is_dataclass(node) or isinstance(node, (ir.Num, ir.Str, ir.Attribute, Span)):
        return node
    changes = {}
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple) or is_dataclass(value):
            new = substitute(value, values)
            if new is not value:
                changes[f.name] = new
    return replace(node, **changes) if changes else node


def instantiate(inst: ir.Instance, template: ir.Network, where: str) -> ir.Network:
    """The network `inst` names: `template` under the instance's role and name, its parameters bound to
    the instance's arguments (or their defaults). Raises CompileError for bad arguments."""
    names = [p.name for p in template.tparams]
    if not template.tparams and (inst.args or inst.kwargs):
        raise error("E0214", f"network `{template.name}` takes no arguments, but "
                    f"{plural(len(inst.args) + len(inst.kwargs), 'was', 'were')} given", inst.span,
                    "no parameters to bind", (), f"write `{inst.role} {inst.name} = {inst.ref.name}`",
                    ((template.name_span, f"`{template.name}` declared here, in {where}"),))
    if len(inst.args) > len(names):
        raise error("E0214", f"network `{template.name}` takes {plural(len(names), 'argument')}, but "
                    f"{len(inst.args) + len(inst.kwargs)} were given", inst.args[len(names)].span,
                    "too many arguments", (f"parameters: {', '.join(names)}",), None,
                    ((template.name_span, f"`{template.name}` declared here"),))
    values: dict[str, ir.Expr] = dict(zip(names, inst.args))
    for kw in inst.kwargs:
        if kw.name not in names:
            raise error("E0212", f"network `{template.name}` has no parameter `{kw.name}`", kw.name_span,
                        "unknown parameter", (f"parameters: {', '.join(names)}" if names else
                                              f"`{template.name}` has no parameters",),
                        did_you_mean(kw.name, names), ((template.name_span, f"`{template.name}` declared here"),))
        if kw.name in values:
            raise error("E0215", f"parameter `{kw.name}` is given twice", kw.name_span, "given again")
        values[kw.name] = kw.value
    for p in template.tparams:
        if p.name not in values:
            if p.default is None:
                raise error("E0213", f"network `{template.name}` needs its parameter `{p.name}`", inst.span,
                            f"`{p.name}` missing", (), f"write `{inst.ref.name}({p.name}=...)`",
                            ((p.span, f"`{p.name}` declared here without a default"),))
            values[p.name] = substitute(p.default, values)  # a default may use the parameters before it
    body = substitute((template.inputs, template.outputs, template.body), values)
    return ir.Network(inst.role, inst.name, body[0], body[1], body[2], inst.span, inst.name_span, inst.role_span)


def losses_in(expr, resolve) -> ir.Expr:
    """`expr` with every reference to a named loss of another file (`elbo`, `lib.elbo`) replaced by that
    loss's expression. `resolve(node)` returns the loss expression a Name/Attribute refers to, or None."""
    if isinstance(expr, (ir.Name, ir.Attribute)):
        found = resolve(expr)
        return found if found is not None else expr
    if isinstance(expr, ir.BinOp):
        return replace(expr, left=losses_in(expr.left, resolve), right=losses_in(expr.right, resolve))
    if isinstance(expr, ir.Unary):
        return replace(expr, operand=losses_in(expr.operand, resolve))
    return expr


__all__ = ["CompileError", "instantiate", "losses_in", "substitute"]
