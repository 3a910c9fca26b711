"""What `gendsl resolve` and `gendsl explain` print: the merged spec as one file, and the chain of
values one name took, file by file."""

from __future__ import annotations

from gendsl import ir
from gendsl.compose.merge import key_of, setting_key
from gendsl.diagnostics import Diagnostic, did_you_mean


def _composition_ok(result) -> bool:
    """Whether the merge itself succeeded (later errors, in shapes or training, still leave a spec to print)."""
    return result.composition is not None and result.composition.spec is not None and not any(
        d.is_error and d.code.startswith(("E01", "E06")) for d in result.diagnostics)


def resolve_text(path: str, sets=(), show_origin: bool = False):
    """(the merged spec as .gen text, or None; the compile result with its diagnostics)."""
    from gendsl.driver import compile_path, provenance
    from gendsl.syntax.unparse import Printer

    result = compile_path(path, emit_files=False, sets=sets)
    if not _composition_ok(result):
        return None, result
    comp = result.composition
    origin = None
    if show_origin:
        def origin(node):
            key = setting_key(node) if isinstance(node, ir.Setting) else key_of(node)
            if key == "loss" and key not in comp.history:  # summed from named terms: each term's chain
                terms = [f"{k[5:]}: {_chain(comp, k)}" for k in comp.history if k.startswith("loss.")
                         and _chain(comp, k) and comp.history[k][-1][1] != "removed"]
                return "; ".join(terms) or None
            return _chain(comp, key) if key else None
    header = [f"resolved by gendsl from {comp.files[0].path}: one file, every base and import merged"]
    header += list(provenance(comp))
    text = Printer(comp.sources.text, origin).spec(comp.spec, header)
    return text, result


def _chain(comp, key: str) -> str | None:
    entries = comp.history.get(key)
    if not entries:
        return None
    return "; ".join(f"{action} at {comp.sources.where(span)}" for span, action in entries)


def explain_text(path: str, name: str, sets=()):
    """(the history of `name` as text, or None; the compile result, with an E0610 added for an unknown name)."""
    from gendsl.driver import compile_path
    from gendsl.syntax.unparse import Printer

    result = compile_path(path, emit_files=False, sets=sets)
    if not _composition_ok(result):
        return None, result
    comp = result.composition
    key = name if name in comp.history else f"loss.{name}" if f"loss.{name}" in comp.history else name
    terms = [k for k in comp.history if k.startswith("loss.")]
    if key == "loss" and key not in comp.history and terms:  # an objective summed from named terms
        parts = []
        for term in terms:
            text, _ = _history(comp, result, term, term)
            parts.append(text)
        final = _final(comp, result, "loss", Printer(comp.sources.text))
        return "".join(parts) + (f"  = {final}\n" if final else ""), result
    if key not in comp.history:
        result.diagnostics.append(Diagnostic(
            "error", "E0610", f"`{name}` is not declared or set anywhere in `{comp.files[0].path}` or its bases",
            None, "", (f"names: {', '.join(sorted(comp.history))}",),
            did_you_mean(name, comp.history) or "name a parameter, network, `net.statement`, `loss`, "
            "`loss.term`, `forward` or `train.setting`"))
        return None, result
    return _history(comp, result, key, name)


def _history(comp, result, key: str, name: str):
    from gendsl.syntax.unparse import Printer

    lines = [f"{name}:"]
    rows = []
    for span, action in comp.history[key]:
        file = comp.sources.file_of(span)
        line = file.line_col(span.start)[0]
        rows.append((f"{file.path}:{line}", action, file.line_text(line).strip()))
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    lines += [f"  {a:<{w1}}  {b:<{w2}}  {c}".rstrip() for a, b, c in rows]
    final = _final(comp, result, key, Printer(comp.sources.text))
    if final:
        lines.append(f"  = {final}")
    return "\n".join(lines) + "\n", result


def _final(comp, result, key: str, printer) -> str | None:
    if result.model is not None and key in result.model.params:
        value = result.model.params[key]
        return str(value).lower() if isinstance(value, bool) else str(value)
    for d in comp.spec.decls:
        if key_of(d) == key and isinstance(d, ir.Loss):
            return printer.expr(d.value)
        if key_of(d) == key and not isinstance(d, ir.Network):
            return " ".join(printer.decl(d).split())
        if isinstance(d, ir.Network) and key.startswith(d.name + "."):
            for s in d.body:
                if s.name == key[len(d.name) + 1:]:
                    return printer.statement(s)
        if isinstance(d, ir.Train):
            for s in d.settings:
                if setting_key(s) == key:
                    return printer.expr(s.value)
    return None
