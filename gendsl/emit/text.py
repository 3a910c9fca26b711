"""Printing helpers for templates: they lay out text and decide nothing."""

from __future__ import annotations

import re
import textwrap

from gendsl.lower.plan import Line
from gendsl.lower.quoting import spec_text

WIDTH = 99  # generated lines stay under 100 characters where the layout allows


def align(lines) -> list[str]:
    """Code with trailing comments lined up in one column, as hand-written examples do; a comment
    that would push its line past WIDTH goes on the line above instead."""
    lines = [line if isinstance(line, Line) else Line(*line) for line in lines]
    width = min(max((len(line.code) for line in lines if line.comment), default=0), 60)
    out = []
    for line in lines:
        if not line.comment:
            out.append(line.code)
        elif len(line.code) <= width and width + 12 + len(line.comment) <= WIDTH:
            out.append(f"{line.code.ljust(width)}  # {line.comment}")
        elif len(line.code) + 4 + len(line.comment) <= WIDTH:
            out.append(f"{line.code}  # {line.comment}")
        else:
            out += [f"# {line.comment}", line.code]
    return out


def unpack(names, source: str) -> list[str]:
    """`a, b = source["a"], source["b"]`, over several lines when long; nothing for no names."""
    names = list(names)
    if not names:
        return []
    one = f"{', '.join(names)} = " + ", ".join(f'{source}["{n}"]' for n in names)
    if len(one) + 4 <= WIDTH:
        return [one]
    return [f'{n} = {source}["{n}"]' for n in names]


def pystr(text: str) -> str:
    """A double-quoted Python literal whose value is `text` (gendsl/lower/quoting.py)."""
    return spec_text(text, "string")


def spec_comment(text: str) -> str:
    """Spec text as the rest of a `#` comment line: one line, read back exactly (gendsl/lower/quoting.py)."""
    return spec_text(text, "comment")


def keywords(pairs) -> list[str]:
    """`name=value,` arguments, packed into lines under WIDTH (4 spaces of indent)."""
    out, line = [], ""
    for name, value in pairs:
        item = f"{name}={value},"
        if line and len(line) + 1 + len(item) + 4 > WIDTH:
            out.append(line)
            line = item
        else:
            line = f"{line} {item}" if line else item
    if line:
        out.append(line)
    # an argument too long for one line (many losses.csv columns) is broken inside its brackets;
    # a value laid out over several lines already (one entry a line) is kept as it is
    return [wrap(line, 4) if len(line) + 4 > WIDTH and "\n" not in line else line for line in out]


def tick(name: str) -> str:
    return f"`{name}`"


def _cut(code: str, start: int, indent: int) -> tuple[int, int] | None:
    """The last place inside the bracket that opens at `start`, at its own depth and outside string
    literals, where the line can break under WIDTH: after a `, ` or before a ` + `."""
    depth, cut, quote, i = 0, None, None, start
    while i < len(code):
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and indent + i < WIDTH:
            if code.startswith(", ", i):
                cut = (i + 1, i + 2)
            elif code.startswith(" + ", i):
                cut = (i, i + 1)
        i += 1
    return cut


def _openings(code: str):
    """Where brackets open in code, outside string literals."""
    quote, i = None, 0
    while i < len(code):
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            yield i
        i += 1


def wrap(code: str, indent: int) -> str:
    """A long line broken after a `, ` or before a ` + ` inside its first bracket that has such a
    place (not a subscript such as `row["a"]`), the rest lined up under the bracket's contents, so
    that lines stay under WIDTH where that is possible."""
    if indent + len(code) <= WIDTH:
        return code
    for start in _openings(code):
        cut = _cut(code, start, indent)
        if cut is not None:
            break
    else:
        return code
    pad = indent + start + 1
    lines, rest = [code[:cut[0]].rstrip()], code[cut[1]:]
    while pad + len(rest) > WIDTH:
        # the rest is still inside the bracket: break it again at that bracket's depth first
        inside = " " * (pad - 1) + "(" + rest
        again = _cut(inside, pad - 1, 0)
        if again is None:
            break
        lines.append(" " * pad + inside[pad:again[0]].rstrip())
        rest = inside[again[1]:]
    last = " " * pad + rest
    lines.append(wrap(last, 0) if len(last) > WIDTH else last)
    return "\n".join(lines)


def signature(head: str, params, tail: str, indent: int = 0) -> str:
    """`def f(a, b) -> T:` from head `def f`, the parameters (a list, or one string split at its
    top-level commas) and tail ` -> T:`, the parameters packed into lines under WIDTH and lined up
    after the bracket. The first line carries no indent (the template writes it)."""
    if isinstance(params, str):
        params = _split_top(params)
    params = [p for p in params if p]
    lines, line = [], " " * indent + f"{head}("
    pad = " " * len(line)
    for i, param in enumerate(params):
        last = i == len(params) - 1
        item = param + (f"){tail}" if last else ",")
        if line.strip().endswith(",") and len(line) + 1 + len(item) > WIDTH:
            lines.append(line)
            line = pad + item
        else:
            line += (" " if line.endswith(",") else "") + item
    if not params:
        line += f"){tail}"
    lines.append(line)
    return "\n".join(lines)[indent:]


def _split_top(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return out


def docstring(text: str, indent: int) -> str:
    """A one-paragraph docstring whose value is `text`, quotes included, wrapped into lines under WIDTH.

    Lines break only at a single space between two other characters, so the value is the text with
    some of those spaces turned into a line break and the indent (no space is lost at a break, and no
    line ends in a space that tidying would remove)."""
    body = spec_text(text, "docstring")
    one = f'"""{body}"""'
    if indent + len(one) <= WIDTH:
        return one
    words = _BREAK.split(body)
    lines, line = [], '"""' + words[0]
    for word in words[1:]:
        if indent + len(line) + 1 + len(word) <= WIDTH:
            line += " " + word
        else:
            lines.append(line)
            line = word
    lines.append(line)
    if indent + len(lines[-1]) + 3 <= WIDTH:
        lines[-1] += '"""'
    else:
        lines.append('"""')
    return ("\n" + " " * indent).join(lines)


_BREAK = re.compile(r"(?<=\S) (?=\S)")


def comment(text: str, indent: int) -> str:
    """`# text`, wrapped at spaces into comment lines under WIDTH."""
    lines = textwrap.wrap(text, WIDTH - indent - 2, break_long_words=False, break_on_hyphens=False)
    return ("\n" + " " * indent).join("# " + line for line in lines)


def commented(code: str, comment: str, indent: int) -> str:
    """`code  # comment` when it fits under WIDTH; else the comment on the line above, and the
    code wrapped."""
    shown = spec_text(comment, "comment")
    if indent + len(code) + 4 + len(shown) <= WIDTH:
        return f"{code}  # {shown}"
    return f"# {shown}\n{' ' * indent}{wrap(code, indent)}"
