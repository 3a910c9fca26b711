"""IR -> .gen text: how `gendsl resolve` prints a merged spec as one self-contained file.

A node whose text is still what its file says (every node below it lies inside its span) is printed
as the user wrote it, so comments in generated code that quote the spec stay byte-identical; a node
built by composition (a network whose parameters were bound, a loss summed from named terms) is
printed from its parts.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from gendsl import ir
from gendsl.source import Span

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}


class Printer:
    def __init__(self, text: str, origin=None):
        self.text = text  # the SourceMap's text: any span can be sliced from it
        self.origin = origin  # decl -> comment text (`--show-origin`), or None

    # -- declarations -------------------------------------------------------------
    def spec(self, spec: ir.Spec, header: list[str] = ()) -> str:
        out = [f"# {line}" for line in header]
        previous = None
        for d in spec.decls:
            block = isinstance(d, (ir.Network, ir.Forward, ir.Train)) or isinstance(previous, (ir.Network,
                                                                                                 ir.Forward))
            if out and (block or type(d) is not type(previous)):
                out.append("")
            if self.origin is not None and not isinstance(d, ir.Train):
                where = self.origin(d)
                if where:
                    out.append(f"# {where}")
            out.append(self.decl(d))
            previous = d
        return "\n".join(out) + "\n"

    def decl(self, d) -> str:
        if isinstance(d, ir.Model):
            return f"model {d.name}"
        if isinstance(d, ir.Param):
            return f"param {d.name} = {self.expr(d.value)}"
        if isinstance(d, ir.Data):
            out = f"data {d.name}: {self.type(d.type)}"
            if d.range is not None:
                out += f" in [{self.expr(d.range[0])}, {self.expr(d.range[1])}]"
            if d.source is not None:
                out += f" from {self.expr(d.source)}"
            return out
        if isinstance(d, ir.Latent):
            return f"latent {d.name}: {self.type(d.type)} ~ {self.expr(d.prior)}"
        if isinstance(d, ir.Schedule):
            return f"schedule {d.name} = {self.expr(d.value)}"
        if isinstance(d, ir.Network):
            inputs = ", ".join(i.name + (f": {self.type(i.type)}" if i.type is not None else "") for i in d.inputs)
            if len(d.outputs) == 1 and d.outputs[0].name is None:
                outputs = self.type(d.outputs[0].type)
            else:
                outputs = "(" + ", ".join(f"{h.name}: {self.type(h.type)}" for h in d.outputs) + ")"
            body = [f"    {self.statement(s)}" for s in d.body]
            return "\n".join([f"{d.role} {d.name}({inputs}) -> {outputs} {{"] + body + ["}"])
        if isinstance(d, ir.Forward):
            steps = []
            for s in d.steps:
                if isinstance(s, ir.Sample):
                    steps.append(f"    {s.target.id} ~ {self.expr(s.dist)}")
                else:
                    steps.append(f"    {', '.join(t.id for t in s.targets)} = {self.expr(s.value)}")
            return "\n".join(["forward {"] + steps + ["}"])
        if isinstance(d, ir.Loss):
            return "loss" + (f" {d.name}" if d.name else "") + f" = {self.expr(d.value)}"
        if isinstance(d, ir.Train):
            lines = []
            for s in d.settings:
                where = self.origin(s) if self.origin is not None else None
                line = f"    {s.key}" + (f" {s.target}" if s.target else "") + f" = {self.expr(s.value)}"
                lines.append(line + (f"  # {where}" if where else ""))
            return "\n".join(["train {"] + lines + ["}"])
        raise TypeError(f"cannot print {type(d).__name__}")

    def statement(self, s: ir.Statement) -> str:
        if self._pristine(s) and "\n" not in self._slice(s.span):
            return self._slice(s.span)
        chain = " -> ".join(self.element(e) for e in s.elements)
        return f"{s.name} = {chain}" if s.name else chain

    def element(self, e: ir.Element) -> str:
        if self._pristine(e):
            return self._slice(e.span)
        if not e.has_parens:
            return e.op
        return f"{e.op}({self._args(e.args, e.kwargs)})"

    def type(self, t) -> str:
        if isinstance(t, ir.NamedType):
            return t.name
        if self._pristine(t):
            return self._slice(t.span)
        return (t.kind or "") + "[" + ", ".join(self.expr(d) for d in t.dims) + "]"

    # -- expressions --------------------------------------------------------------
    def expr(self, e) -> str:
        if self._pristine(e):
            return self._slice(e.span)
        if isinstance(e, ir.Num):
            return repr(e.value) if isinstance(e.value, float) else str(e.value)
        if isinstance(e, ir.Str):
            return '"' + e.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
                .replace("\t", "\\t") + '"'
        if isinstance(e, ir.Name):
            return e.id
        if isinstance(e, ir.Attribute):
            return f"{e.obj}.{e.attr}"
        if isinstance(e, ir.BinOp):
            p = _PRECEDENCE[e.op]
            left, right = self.expr(e.left), self.expr(e.right)
            if e.op == "**":
                left = left if _atom(e.left) else f"({left})"
                right = right if _atom(e.right) or isinstance(e.right, ir.Unary) or (
                    isinstance(e.right, ir.BinOp) and e.right.op == "**") else f"({right})"
            else:
                if isinstance(e.left, ir.BinOp) and _PRECEDENCE[e.left.op] < p:
                    left = f"({left})"
                if isinstance(e.right, ir.BinOp) and _PRECEDENCE[e.right.op] <= p:
                    right = f"({right})"
            return f"{left} {e.op} {right}"
        if isinstance(e, ir.Unary):
            inner = self.expr(e.operand)
            if isinstance(e.operand, ir.BinOp) and e.operand.op != "**":
                inner = f"({inner})"
            return f"{e.op}{inner}"
        if isinstance(e, ir.Call):
            return f"{e.func}({self._args(e.args, e.kwargs)})"
        if isinstance(e, ir.Tuple):
            items = [self.expr(i) for i in e.items]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(e, ir.List):
            return "[" + ", ".join(self.expr(i) for i in e.items) + "]"
        raise TypeError(f"cannot print {type(e).__name__}")

    def _args(self, args, kwargs) -> str:
        return ", ".join([self.expr(a) for a in args] + [f"{k.name}={self.expr(k.value)}" for k in kwargs])

    # -- the text as written -----------------------------------------------------------
    def _slice(self, span: Span) -> str:
        return self.text[span.start:span.end]

    def _pristine(self, node) -> bool:
        span = getattr(node, "span", None)
        if span is None or span.end <= span.start:
            return False
        return all(span.start <= s.start and s.end <= span.end for s in _spans(node)) and \
            "#" not in self._slice(span)


def _atom(e) -> bool:
    return isinstance(e, (ir.Num, ir.Str, ir.Name, ir.Attribute, ir.Call, ir.Tuple, ir.List))


def _spans(node):
    """Every span below `node` (not its own)."""
    for f in fields(node):
        value = getattr(node, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, Span):
                yield item
            elif is_dataclass(item):
                if hasattr(item, "span"):
                    yield item.span
                yield from _spans(item)
