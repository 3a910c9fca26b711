"""What the language server knows about one document: its diagnostics, what is under the cursor,
where a name is defined and what may be typed next. Offsets are character offsets into the text;
server.py converts LSP positions (UTF-16 code units) to and from them.

The document is compiled as `gendsl check` would, with the files it imports and extends read from
disk; their spans live in the same offset space as the document's (gendsl/source.py), so a location
is a SourceFile and a span in it. Go to definition follows a name into the file that declares it: an
import's path, `alias.Name`, a name brought by `from ... import`, and anything a variant inherits
or overrides (through the composition's history of each name, file by file)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gendsl import ir
from gendsl import vocabulary as V
from gendsl.diagnostics import Diagnostic, Reporter
from gendsl.source import SourceFile, SourceMap, Span

_IDENT = re.compile(r"[^\W\d]\w*")


@dataclass
class Analysis:
    source: SourceFile
    diagnostics: list[Diagnostic]
    spec: ir.Spec | None = None
    model: object | None = None  # CheckedModel when the spec has no errors
    networks: dict = field(default_factory=dict)  # name -> CheckedNetwork, of the last good check
    sources: SourceFile | SourceMap | None = None  # every file the compile read, this one first
    history: dict = field(default_factory=dict)  # name -> [(span, action)], base first (gendsl.compose)
    merged: ir.Spec | None = None  # the model after its bases and imports

    @staticmethod
    def of(path: str, text: str, previous: "Analysis | None" = None) -> "Analysis":
        from gendsl.driver import compile_source
        from gendsl.syntax import parse

        source = SourceFile(path, text, origin=path)  # imports are found next to the document
        result = compile_source(source, emit_files=False)
        spec = parse(SourceFile(path, text), Reporter())
        model = result.model if result.ok else None
        analysis = Analysis(source, result.diagnostics, spec, model, sources=result.source)
        if result.composition is not None:
            analysis.history = result.composition.history
            analysis.merged = result.composition.spec
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
                    args = ", ".join(f"{a:g}" for a in lat.prior_args)
                    return f"**latent `{name}`**: {lat.type} ~ {lat.prior}({args})", span
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
    def definition(self, offset: int, base: Path | None = None) -> tuple[SourceFile, Span] | None:
        """(file, span) of what the name at `offset` names, in this document or in a file it imports or
        extends; an import's path leads to the start of that file."""
        if self.spec is None:
            return None
        for decl in self.spec.decls:
            path_span = decl.path_span if isinstance(decl, ir.Import) else \
                decl.extends_span if isinstance(decl, ir.Model) and decl.extends_file else None
            if path_span is not None and path_span.start <= offset < path_span.end:
                file = self._file(decl.path if isinstance(decl, ir.Import) else decl.extends)
                return (file, Span(file.base, file.base)) if file is not None else None
        word = self.word_at(offset)
        if word is None:
            return None
        name, span = word
        text = self.source.text
        qualifier = re.search(r"([^\W\d]\w*)\.$", text[max(0, span.start - 80):span.start])
        aliases = {i.alias or Path(i.path).stem: i.path for i in self.spec.of(ir.Import) if not i.names}
        imported = {n.id: i.path for i in self.spec.of(ir.Import) for n in i.names}
        if qualifier is not None and qualifier.group(1) in aliases:  # `blocks.Generator64`, `lib.recon`
            return self._declared_in(aliases[qualifier.group(1)], name)
        if qualifier is None and text[span.end:span.end + 1] == "." and name in aliases:
            file = self._file(aliases[name])
            return (file, Span(file.base, file.base)) if file is not None else None
        if name in imported:  # `from "lib.gen" import Mlp`: the name anywhere in this file
            return self._declared_in(imported[name], name)
        for model in self.spec.of(ir.Model):  # `model v extends mid`
            if not model.extends_file and model.extends_span is not None and \
                    model.extends_span.start <= offset < model.extends_span.end and model.extends in aliases:
                file = self._file(aliases[model.extends])
                return (file, Span(file.base, file.base)) if file is not None else None
        network = qualifier.group(1) if qualifier is not None else self._edited_network(offset)
        if network is not None:  # `override dec.g1 = ...`, a statement of an inserted block
            found = self._from_history(f"{network}.{name}", span)
            if found is not None:
                return found
        local = self._local_definition(offset, name)
        if local is not None:
            return self.source, local
        return self._from_history(name, span)

    def _local_definition(self, offset: int, name: str) -> Span | None:
        # inside a network, its statements and inputs come first
        overridden = [o.decl for o in self.spec.of(ir.Override) if isinstance(o.decl, ir.Network)]
        for decl in self.spec.of(ir.Network) + overridden:
            if decl.span.start <= offset < decl.span.end:
                for st in decl.body:
                    if st.name == name and st.name_span is not None:
                        return st.name_span
                for inp in decl.inputs:
                    if inp.name == name:
                        return Span(inp.span.start, inp.span.start + len(name))
                for tp in decl.tparams:
                    if tp.name == name:
                        return Span(tp.span.start, tp.span.start + len(name))
        for decl in self.spec.decls:
            if isinstance(decl, (ir.Param, ir.Data, ir.Latent, ir.Schedule, ir.Network, ir.Instance)) and \
                    decl.name == name and decl.name_span.start <= offset < decl.name_span.end:
                return None  # on a declaration itself: what it overrides, if anything (the history)
            if isinstance(decl, (ir.Param, ir.Data, ir.Latent, ir.Schedule, ir.Network, ir.Instance)) and \
                    decl.name == name:
                return decl.name_span
        forwards = [o.decl for o in self.spec.of(ir.Override) if isinstance(o.decl, ir.Forward)]
        for forward in self.spec.of(ir.Forward) + forwards:
            for step in forward.steps:
                targets = step.targets if isinstance(step, ir.Assign) else (step.target,)
                for t in targets:
                    if t.id == name:
                        return t.span
        return None

    def _edited_network(self, offset: int) -> str | None:
        """The network an `insert` block or a statement edit at `offset` changes."""
        for decl in self.spec.decls:
            inner = decl.decl if isinstance(decl, ir.Override) else decl
            if isinstance(inner, (ir.Insert, ir.StatementEdit)) and decl.span.start <= offset < decl.span.end:
                return inner.network
        return None

    _DEFINING = ("declared", "overridden", "replaced", "inserted", "set", "declared by the overriding network")

    def _from_history(self, key: str, at: Span) -> tuple[SourceFile, Span] | None:
        """Where `key` got its value: the last declaration of it in the chain of files; from a declaration
        itself (an `override`), the one it replaces."""
        entries = [s for s, action in self.history.get(key, []) if action in self._DEFINING]
        here = [k for k, s in enumerate(entries) if s.start <= at.start < max(s.end, s.start + 1)]
        if here:
            entries = entries[:here[-1]]
        if not entries or self.sources is None:
            return None
        span = entries[-1]
        return self.sources.file_of(span), span

    def _file(self, path: str) -> SourceFile | None:
        """The file `path` (relative to this document) names, as the compile read it."""
        import os

        target = os.path.abspath(os.path.join(os.path.dirname(self.source.origin or self.source.path), path))
        for file in (self.sources.files if self.sources is not None else []):
            if file is not self.source and os.path.abspath(file.origin or file.path) == target:
                return file
        return None

    def _declared_in(self, path: str, name: str) -> tuple[SourceFile, Span] | None:
        """The declaration of `name` at the top level of the imported file `path`."""
        from gendsl.syntax import parse

        file = self._file(path)
        if file is None:
            return None
        spec = parse(file, Reporter())  # spans in the compile's offset space: `file.base` on
        for decl in (spec.decls if spec is not None else []):
            inner = decl.decl if isinstance(decl, ir.Override) else decl
            if isinstance(inner, (ir.Network, ir.Instance, ir.Model)) and inner.name == name:
                return file, inner.name_span
            if isinstance(inner, ir.Train) and inner.name == name and inner.name_span is not None:
                return file, inner.name_span
            if isinstance(inner, ir.Loss) and inner.name == name:
                start = inner.span.start + file.text[inner.span.start - file.base:].index(name, len("loss"))
                return file, Span(start, start + len(name))
        return file, Span(file.base, file.base)

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
        """The names this document may use: its own and, in a variant, everything its bases declare."""
        if self.spec is None:
            return sorted(set(_IDENT.findall(re.sub(r"#[^\n]*", "", self.source.text))) - set(V.DECLARATIONS))
        decls = list(self.spec.decls) + (list(self.merged.decls) if self.merged is not None else [])
        names = [d.name for d in decls if hasattr(d, "name") and isinstance(d.name, str)
                 and not isinstance(d, (ir.Model, ir.Loss, ir.Train))]
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
    shown = [a.name if a.default is REQUIRED else f"{a.name}={a.default}" for a in op.args if not a.keyword_only
             and a.name != op.rest]
    if op.rest:
        shown.append(f"*{op.rest}")
    keywords = [f"{a.name}={a.default}" for a in op.args if a.keyword_only]
    if keywords:
        shown += ([] if op.rest else ["*"]) + keywords  # keyword-only: PyTorch's order differs there
    return f"`{name}({', '.join(shown)})`: {op.doc}".strip()


def _arg_detail(arg, required) -> str:
    return arg.kind + ("" if arg.default is required else f", default {arg.default}") + \
        (f", one of {', '.join(arg.choices)}" if arg.choices else "")
