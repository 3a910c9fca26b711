"""Render diagnostics the way rustc does: location, source lines, carets, notes, help.

    path:line:col: error[E0303]: conv2d kernel 40 is larger than its input 16x16
      |
    6 |     conv2d(32, 40)
      |                ^^ kernel 40
      = note: shapes: (3, 64, 64) -> (16, 32, 32) -> (32, 16, 16)
      = help: use a smaller kernel, more padding, or less down-sampling before this layer

Tabs are shown as four spaces and wide characters as two columns, so carets
stay under the text they mark; the column in the header counts characters.
A span over several lines is drawn with a bracket on the left; secondary
spans (`related`) are underlined with `-`. A diagnostic without a span (the
file could not be read) is one line plus its notes.
"""

from __future__ import annotations

import unicodedata

from gendsl.diagnostics import Diagnostic
from gendsl.source import SourceFile, Span

TAB = "    "
MAX_BLOCK_LINES = 6  # a longer multi-line span shows its first and last lines only


def _width(ch: str) -> int:
    if ch == "\t":
        return len(TAB)
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _shown(text: str) -> str:
    """The line as printed: tabs expanded, control characters as visible symbols (NUL as `␀`)."""
    return "".join(TAB if ch == "\t" else chr(0x2400 + ord(ch)) if ord(ch) < 0x20 else
                   "\u2421" if ch == "\x7f" else ch for ch in text)


def _col(text: str, index: int) -> int:
    """Display column (0-based) of character `index` in a line."""
    return sum(_width(ch) for ch in text[:index])


def _span_width(text: str, start: int, end: int) -> int:
    return max(1, sum(_width(ch) for ch in text[start:end]))


class _Annotation:
    def __init__(self, source: SourceFile, span: Span, label: str, mark: str):
        span = source.local(span)
        start = max(0, min(span.start, len(source.text)))
        end = max(start, min(span.end, len(source.text)))
        if end > start and source.text[end - 1] == "\n":  # a span never needs its final newline
            end -= 1
        self.line, col = source.line_col(source.base + start)
        self.end_line, end_col = source.line_col(source.base + (max(start, end - 1) if end > start else start))
        self.start_index = col - 1
        self.end_index = (end_col - 1) + (1 if end > start else 0)  # exclusive, on end_line
        self.label = label
        self.mark = mark
        self.file_base = source.base

    @property
    def multiline(self) -> bool:
        return self.end_line != self.line


def render(diagnostic: Diagnostic, source) -> str:
    """`source` is the SourceFile of a one-file compile or the SourceMap of a compile over several files:
    each span is drawn in the file it belongs to; related spans in other files get a `:::` block of
    their own, after the primary one, in the order given."""
    d = diagnostic
    title = f"{d.severity}[{d.code}]: {d.message}"
    if d.span is None:
        out = [f"{source.path}: {title}"]
        out += [f" = note: {note}" for note in d.notes]
        if d.help:
            out.append(f" = help: {d.help}")
        return "\n".join(out)

    home = source.file_of(d.span)
    here = [(span, label) for span, label in d.related if source.file_of(span) is home]
    elsewhere = [_Annotation(source.file_of(span), span, label, "-") for span, label in d.related
                 if source.file_of(span) is not home]
    width = max((len(str(a.line)) for a in elsewhere), default=1)
    lines, notes_at = _render_file(d, home, here, title, width)
    width = len(lines[1]) - 2  # the gutter the primary block chose
    blocks = []
    for a in elsewhere:
        file = source.file_of(Span(a.file_base, a.file_base))
        text = file.line_text(a.line)
        end_index = a.end_index if not a.multiline else len(text)
        carets = " " * _col(text, a.start_index) + "-" * _span_width(text, a.start_index, end_index)
        blocks += [f"{' ' * width}::: {file.path}:{a.line}:{a.start_index + 1}", f"{' ' * width} |",
                   f"{a.line:>{width}} | {_shown(text)}".rstrip(),
                   (f"{' ' * width} | " + carets + (" " + a.label if a.label else "")).rstrip()]
    return "\n".join(lines[:notes_at] + blocks + lines[notes_at:])


def _render_file(d: Diagnostic, source: SourceFile, related_spans, title: str,
                 min_width: int = 1) -> tuple[list[str], int]:
    """The lines of the primary block, and the index where its notes start."""
    line, col = source.line_col(d.span.start)
    primary = _Annotation(source, d.span, d.label, "^")
    related = [_Annotation(source, span, label, "-") for span, label in related_spans]
    for r in related:  # secondary spans are drawn on their first line only
        if r.multiline:
            r.end_line, r.end_index = r.line, len(source.line_text(r.line))
    annotations = [primary] + related

    shown: set[int] = {a.line for a in annotations}
    if primary.multiline:
        block = range(primary.line, primary.end_line + 1)
        if len(block) > MAX_BLOCK_LINES:
            shown |= {primary.line, primary.line + 1, primary.end_line - 1, primary.end_line}
        else:
            shown |= set(block)
    shown_lines = sorted(n for n in shown if 1 <= n <= source.line_count)
    width = max(min_width, len(str(shown_lines[-1])))
    gutter = " " * width

    def in_block(n: int) -> bool:
        return primary.multiline and primary.line < n <= primary.end_line

    lines = [f"{source.path}:{line}:{col}: {title}", f"{gutter} |"]
    previous = None
    for n in shown_lines:
        if previous is not None and n > previous + 1:
            if n == previous + 2:  # one hidden line: cheaper to show it
                lines.append(_line(n - 1, width, source, primary, in_block(n - 1)))
            else:
                lines.append("...")
        previous = n
        text = source.line_text(n)
        lines.append(_line(n, width, source, primary, in_block(n)))
        prefix = f"{gutter} | " + (("| " if in_block(n) or n == primary.end_line else "  ")
                                   if primary.multiline else "")
        if primary.multiline and n == primary.line and not _starts_line(text, primary.start_index):
            lines.append((f"{gutter} |  " + "_" * (_col(text, primary.start_index) + 1) + "^").rstrip())
        if primary.multiline and n == primary.end_line:
            last = max(0, primary.end_index - 1)
            tail = f"{gutter} | |" + "_" * (_col(text, last) + 1) + "^"
            lines.append((tail + (" " + primary.label if primary.label else "")).rstrip())
        for a in annotations:
            if a.multiline or a.line != n:
                continue
            carets = " " * _col(text, a.start_index) + a.mark * _span_width(text, a.start_index, a.end_index)
            lines.append((prefix + carets + (" " + a.label if a.label else "")).rstrip())
    notes_at = len(lines)
    lines += [f"{gutter} = note: {note}" for note in d.notes]
    if d.help:
        lines.append(f"{gutter} = help: {d.help}")
    return lines, notes_at


def _starts_line(text: str, index: int) -> bool:
    return not text[:index].strip()


def _line(n: int, width: int, source: SourceFile, primary: _Annotation, inside: bool) -> str:
    text = _shown(source.line_text(n))
    marker = ""
    if primary.multiline:
        if n == primary.line:
            marker = "/ " if _starts_line(source.line_text(n), primary.start_index) else "  "
        else:
            marker = "| " if inside else "  "
    return f"{n:>{width}} | {marker}{text}".rstrip()


def render_all(diagnostics: list[Diagnostic], source: SourceFile) -> str:
    return "\n\n".join(render(d, source) for d in diagnostics)
