"""Render diagnostics the way rustc does: location, source line, carets, notes, help."""

from __future__ import annotations

from gendsl.diagnostics import Diagnostic
from gendsl.source import SourceFile


def render(diagnostic: Diagnostic, source: SourceFile) -> str:
    line, col = source.line_col(diagnostic.span.start)
    head = f"{source.path}:{line}:{col}: {diagnostic.severity}[{diagnostic.code}]: {diagnostic.message}"
    text = source.line_text(line) if source.text else ""
    end_line, end_col = source.line_col(max(diagnostic.span.start, diagnostic.span.end))
    if end_line != line:
        end_col = len(text) + 1
    width = max(1, end_col - col)
    gutter = " " * len(str(line))
    shown = text.replace("\t", " ")
    carets = " " * (col - 1) + "^" * width
    if diagnostic.label:
        carets += " " + diagnostic.label
    out = [head, f"{gutter} |", f"{line} | {shown}", f"{gutter} | {carets}"]
    out += [f"{gutter} = note: {note}" for note in diagnostic.notes]
    if diagnostic.help:
        out.append(f"{gutter} = help: {diagnostic.help}")
    return "\n".join(out)


def render_all(diagnostics: list[Diagnostic], source: SourceFile) -> str:
    return "\n\n".join(render(d, source) for d in diagnostics)
