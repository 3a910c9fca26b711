"""The string language: "..." on one line; `\\"` and `\\\\` are the only escapes.

Any other backslash is an error (E0111) rather than a guess: `"C:\\data"` must not silently
become `"C:data"`. A string that names something (a data source, an imported file, a base
file) must not be empty (E0112).
"""

from __future__ import annotations

import re

import lark

from gendsl.diagnostics import Reporter
from gendsl.source import Span

ESCAPES = {'"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.?)", re.S)
_NAMING = {"source": "data source", "import_decl": "import path", "from_import_decl": "import path",
           "base_file": "base file"}


def unquote(text: str) -> str:
    """The value of a STRING token (checked by `check_strings` first)."""
    return _ESCAPE.sub(lambda m: ESCAPES.get(m.group(1), m.group(0)), text[1:-1])


def check_strings(tree: lark.Tree, reporter: Reporter) -> bool:
    """Report every unknown escape and every empty string that names something; True if all are fine.
    Spans are offsets in the parsed text."""
    ok = True
    for node in tree.iter_subtrees():
        for tok in node.children:
            if not (isinstance(tok, lark.Token) and tok.type == "STRING"):
                continue
            for m in _ESCAPE.finditer(tok, 1, len(tok) - 1):
                if m.group(1) not in ESCAPES:
                    ok = False
                    start = tok.start_pos + m.start()
                    shown = m.group(0) if m.group(1).isprintable() else m.group(0).encode("unicode_escape").decode()
                    reporter.error("E0111", f"unknown escape `{shown}` in a string",
                                   Span(start, start + len(m.group(0))), "not an escape",
                                   ('the escapes are `\\"` (a quote) and `\\\\` (a backslash)',),
                                   'write `\\\\` for a backslash; in paths, write "/"')
            if tok == '""' and node.data in _NAMING:
                ok = False
                reporter.error("E0112", f"empty {_NAMING[node.data]}", Span(tok.start_pos, tok.end_pos),
                               "empty string", (),
                               'name a data set or file, e.g. `from "mnist5k"`, or leave out `from ...`'
                               if node.data == "source" else "name the file")
    return ok
