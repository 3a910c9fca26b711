"""Spec text in generated code: the one function every piece of it goes through.

Text the user wrote reaches generated files in three places: a "..." string literal (the spec's
path and data source in train.py's RECIPE), a docstring (the loss as written, in train.py), and a
`#` comment (the header's path, the provenance lines of a variant's sources and `--set` values, each
loss term beside its code). `spec_text` gives the text to write in each, such that the value Python
reads back (the literal's value, the docstring's `__doc__`, the comment read as the inside of a
string literal) is exactly the text, whatever it holds: quotes, backslashes, `\"\"\"`, newlines,
U+2028 (which `str.splitlines` breaks on), NUL, the lone surrogates of an undecodable file name.
tests/emit/test_spec_text.py proves it with Hypothesis over arbitrary Unicode, compiling each context
with `compile()`.

Everything is written in Python's escape language: a backslash and a double quote are escaped;
every character that is not printable (Unicode's "Other" and "Separator" categories but the ASCII
space, so every line break) becomes `\\n`, `\\t`, `\\r`, `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`; and a
space that ends the text becomes `\\x20`, because generated files have trailing spaces removed.
Ordinary text (printable, no quote or backslash) is written unchanged, so generated code reads
as the spec does. The generated runtime puts the spec's path into argparse's description itself
(gendsl_runtime/loop.py `argparse_text`, tested beside this).
"""

from __future__ import annotations

CONTEXTS = ("string", "docstring", "comment")
READABLE = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def spec_text(text: str, context: str) -> str:
    """`text` as written in `context`: "string" gives a whole "..." literal; "docstring" the inside of
    a \"\"\"...\"\"\" docstring (wrapping it at single spaces keeps its value: see emit/text.py's
    `docstring`); "comment" the text after `# ` on one line."""
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}; one of {CONTEXTS}")
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in READABLE:
            out.append(READABLE[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    if out and out[-1] == " ":
        out[-1] = "\\x20"
    body = "".join(out)
    return f'"{body}"' if context == "string" else body
