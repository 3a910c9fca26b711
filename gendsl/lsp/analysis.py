"""What the language server knows about one document: its diagnostics, what is under the cursor,
where a name is defined and what may be typed next. Offsets are character offsets into the text;
server.py converts LSP positions (UTF-16 code units) to and from them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gendsl import ir
from gendsl import vocabulary as V
from gendsl.diagnostics import Diagnostic, Reporter
from gendsl.source import SourceFile, Span

_IDENT = re.compile(r"[^\W\d]\w*")


@dataclass
class Analysis:
    source: SourceFile
    diagnostics: list[Diagnostic]
    spec: ir.Spec | None = None
    model: object | None = None  # CheckedModel when the spec has no errors
    networks: dict = field(default_factory=dict)  # name -> CheckedNetwork, of the last good check

    @staticmethod
    def of(path: str, text: str, previous: "Analysis | None" = None) -> "Analysis":
        from gendsl.driver import compile_source
        from gendsl.syntax import parse

        source = SourceFile(path, text)
        result = compile_source(source, emit_files=False)
        spec = parse(source, Reporter())
        model = result.model if result.ok else None
        analysis = Analysis(source, result.diagnostics, spec, model)
        if model is not None:
            analysis.networks = {n.name: n for n in model.networks}
        elif previous is not None:  # while the user types, hover keeps what the last good check knew
            analysis.networks = previous.networks
        return analysis

    # -- the word at an offset
    def word_at(self, offset: int) -> tuple[str, Span] | None:
        text = self.source.text
        for m in _IDENT.finditer(text, max(0, text.rfind("\n", 0, offset) + 1),
                                 len(text) if text.find("\n", offset) < 0 else text.find("\n", offset)):
            if m.start() <= offset <= m.end():
                return m.group(), Span(m.start(), m.end())
        return None

    # -- hover
    def hover(self, offset: int) -> tuple[str, Span] | None:
        word = self.word_at(offset)
        model = self.model
        layer = self._layer_at(offset)
        if layer is not None:
            net, lay = layer
            ins = ", ".join(str(t) for t in lay.in_types)
            lines = [f"**{lay.op}** in {net.role} `{net.name}`", "",
                     f"shape: {ins} -> {lay.out}", f"parameters: {lay.params:,}"]
            if word and word[0] == lay.op:
                lines += ["", _op_doc(lay.op)]
            return "\n".join(lines).rstrip(), lay.span
        if word is None:
            return None
        name, span = word
        if name in self.networks:
            net = self.networks[name]
            ins = ", ".join(f"{n}: {t}" for n, t in net.inputs)
            outs = ", ".join(f"{h}: {t}" if h else str(t) for h, t, _ in net.outputs)
            return (f"**{net.role} `{net.name}`**\n\n({ins}) -> ({outs})\n\nparameters: {net.param_count:,} "
                    f"in {len(net.layers)} layers", span)
        if model is not None:
            for d in model.data:
                if d.name == name:
                    return f"**data `{name}`**: {d.kind} {d.type}" + (f" from \"{d.source}\"" if d.source else ""), span
            for lat in model.latents:
                if lat.name == name:
                    a, b = lat.prior_args
                    return f"**latent `{name}`**: {lat.type} ~ {lat.prior}({a:g}, {b:g})", span
            if name in model.params:
                return f"**param `{name}`** = {model.params[name]}", span
            if name in model.variables:
                return f"`{name}`: {model.variables[name]}", span
        from gendsl.check.layers import OPS

        if name in OPS:
            return _op_doc(name), span
        return None

    def _layer_at(self, offset: int):
        best = None
        for net in self.networks.values():
            for lay in net.layers:
                s = lay.span
                if s is not None and s.start <= offset < s.end and s.end <= len(self.source.text):
                    if best is None or (s.end - s.start) < (best[1].span.end - best[1].span.start):
                        best = (net, lay)
        return best

    # -- go to definition
    def definition(self, offset: int, base: Path | None = None) -> tuple[str | None, Span] | None:
        """(path or None for this file, span) of what the name at `offset` names; an `import` string
        leads to the imported file."""
        if self.spec is None:
            return None
        for decl in self.spec.decls:
            if isinstance(decl, ir.Import) and decl.span.start <= offset < decl.span.end:
                target = (base or Path(".")) / decl.path
                return str(target), Span(0, 0)
        word = self.word_at(offset)
        if word is None:
            return None
        name = word[0]
        # inside a network, its statements and inputs come first
        for decl in self.spec.of(ir.Network):
            if decl.span.start <= offset < decl.span.end:
                for st in decl.body:
                    if st.name == name and st.name_span is not None:
                        return None, st.name_span
                for inp in decl.inputs:
                    if inp.name == name:
                        return None, Span(inp.span.start, inp.span.start + len(name))
        for decl in self.spec.decls:
            if isinstance(decl, (ir.Param, ir.Data, ir.Latent, ir.Schedule, ir.Network)) and decl.name == name:
                return None, decl.name_span
        for forward in self.spec.of(ir.Forward):
            for step in forward.steps:
                targets = step.targets if isinstance(step, ir.Assign) else (step.target,)
                for t in targets:
                    if t.id == name:
                        return None, t.span
        return None

    # -- completion
    def completion(self, offset: int) -> list[tuple[str, str, str]]:
        """(label, kind, detail): kind is layer, argument, keyword, function or name."""
        from gendsl.check.layers import OPS, REQUIRED

        text = self.source.text
        call = _open_call(text, offset)
        if call is not None:
            if call in OPS:
                return [(f"{a.name}=", "argument", _arg_detail(a, REQUIRED)) for a in OPS[call].args]
            from gendsl.check.training import LR_SCHEDULES, OPTIMIZERS

            for table in (OPTIMIZERS, LR_SCHEDULES):
                if call in table:
                    return [(f"{k}=", "argument", f"{kind}, default {default}")
                            for k, (kind, default) in table[call].items()]
        if self._in_network_body(offset):
            items = [(name, "layer", OPS[name].doc) for name in V.layers()]
            return items + [(n, "name", "") for n in self._names()]
        before = text[text.rfind("\n", 0, offset) + 1:offset]
        if not before or _IDENT.fullmatch(before):  # the start of a top-level line: a declaration
            keywords = [k for k in V.DECLARATIONS + V.ROLES if k in _grammar_keywords()]
            return [(k, "keyword", "") for k in keywords] + [(n, "name", "") for n in self._names()]
        return [(n, "function", "") for n in V.functions()] + [(n, "name", "") for n in self._names()]

    def _in_network_body(self, offset: int) -> bool:
        text = self.source.text
        # the innermost unclosed `{` before the cursor opens a network body when its line starts with a role
        depth = 0
        for i in range(offset - 1, -1, -1):
            ch = text[i]
            if ch == "}":
                depth += 1
            elif ch == "{":
                if depth == 0:
                    head = text[text.rfind("\n", 0, i) + 1:i].lstrip()
                    return head.split(" ", 1)[0] in V.ROLES
                depth -= 1
        return False

    def _names(self) -> list[str]:
        if self.spec is None:
            return sorted(set(_IDENT.findall(re.sub(r"#[^\n]*", "", self.source.text))) - set(V.DECLARATIONS))
        names = [d.name for d in self.spec.decls if hasattr(d, "name") and isinstance(d.name, str)
                 and not isinstance(d, (ir.Model, ir.Loss))]
        return sorted(set(names))


def _grammar_keywords() -> set[str]:
    """The words the grammar spells out (`model`, `encoder`, ...): only those are offered."""
    import lark

    from gendsl.fmt import _comment_parser

    return {t.pattern.value for t in _comment_parser()._lark.terminals
            if isinstance(t.pattern, lark.lexer.PatternStr) and t.pattern.value.isidentifier()}


def _open_call(text: str, offset: int) -> str | None:
    """The name before the innermost `(` still open at `offset` on this line, if any."""
    line_start = text.rfind("\n", 0, offset) + 1
    depth = 0
    for i in range(offset - 1, line_start - 1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                m = re.search(r"([^\W\d]\w*)\s*$", text[line_start:i])
                return m.group(1) if m else None
            depth -= 1
    return None


def _op_doc(name: str) -> str:
    from gendsl.check.layers import OPS, REQUIRED

    op = OPS[name]
    args = ", ".join(a.name if a.default is REQUIRED else f"{a.name}={a.default}" for a in op.args)
    if op.rest:
        args = (args + ", " if args else "") + f"*{op.rest}"
    return f"`{name}({args})`: {op.doc}".strip()


def _arg_detail(arg, required) -> str:
    return arg.kind + ("" if arg.default is required else f", default {arg.default}") + \
        (f", one of {', '.join(arg.choices)}" if arg.choices else "")
