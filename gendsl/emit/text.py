"""Printing helpers for templates: they lay out text and decide nothing."""

from __future__ import annotations

from gendsl.lower.plan import Line

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
    """A double-quoted Python literal of text that check has made printable (gendsl/check/names.py:
    `printable` escapes backslashes, quotes and unprintable characters)."""
    return f'"{text}"'


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
    return out


def tick(name: str) -> str:
    return f"`{name}`"


def wrap(code: str, indent: int) -> str:
    """A long line broken after a `, ` or before a ` + ` inside its first bracket, the rest lined
    up under the bracket's contents, so that lines stay under WIDTH where that is possible."""
    if indent + len(code) <= WIDTH:
        return code
    opens = [i for i, ch in enumerate(code) if ch in "([{"]
    if not opens:
        return code
    start = opens[0]
    depth, cut = 0, None
    for i, ch in enumerate(code):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 1 and i > start and indent + i < WIDTH:
            if code.startswith(", ", i):
                cut = (i + 1, i + 2)
            elif code.startswith(" + ", i):
                cut = (i, i + 1)
    if cut is None:
        return code
    rest = " " * (indent + start + 1) + code[cut[1]:]
    return code[:cut[0]].rstrip() + "\n" + wrap(rest, 0) if len(rest) > WIDTH else code[:cut[0]].rstrip() + "\n" + rest
