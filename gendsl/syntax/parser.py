"""Parse .gen text into the IR (`gendsl.ir`), reporting syntax errors as diagnostics.

One LALR pass over the whole file (grammar.py); the tree becomes IR nodes (builder.py); when the pass
fails, errors.py reports every broken declaration.
"""

from __future__ import annotations

import lark

from gendsl.diagnostics import Reporter
from gendsl.source import SourceFile, Span
from gendsl.syntax.builder import IRBuilder
from gendsl.syntax.errors import SyntaxReport, describe_expected, report_syntax_errors
from gendsl.syntax.strings import check_strings
from gendsl.syntax.grammar import GRAMMAR, MAX_NESTING, TOP_KEYWORDS, lalr_parser

def parse(source: SourceFile, reporter: Reporter, start: str = "start"):
    """The IR of `source` (a Spec, or an expression for start="expr"), or None when a syntax error was
    reported. Spans are global: shifted by `source.base` (see gendsl/source.py)."""
    before = len(reporter.diagnostics)
    try:
        tree = lalr_parser().parse(source.text, start=start)
    except lark.exceptions.LarkError:
        if start == "start":
            report_syntax_errors(SourceFile(source.path, source.text), reporter)
        else:
            try:
                lalr_parser().parse(source.text, start=start)
            except lark.exceptions.LarkError as exc:
                SyntaxReport(SourceFile(source.path, source.text), 0, len(source.text), reporter).report(exc)
        _shift(reporter, before, source.base)
        return None
    deep = _too_deep(tree)
    if deep is not None:
        begin = deep.meta.start_pos if not getattr(deep.meta, "empty", True) else 0
        reporter.error("E0109", "expression nested too deeply", Span(begin, begin + 1), "too deep",
                       (f"the compiler accepts at most {MAX_NESTING} levels of nesting",),
                       "split it into `param` declarations, or write a long sum as several shorter ones")
        _shift(reporter, before, source.base)
        return None
    if not check_strings(tree, reporter):
        _shift(reporter, before, source.base)
        return None
    return IRBuilder(source.base).transform(tree)


def _shift(reporter: Reporter, since: int, base: int) -> None:
    """Move the diagnostics reported from `since` on from file offsets to global ones."""
    if not base:
        return
    from dataclasses import replace

    def move(span):
        return Span(span.start + base, span.end + base) if span is not None else None
    reporter.diagnostics[since:] = [replace(d, span=move(d.span), related=tuple((move(s), l) for s, l in d.related))
                                    for d in reporter.diagnostics[since:]]


def _too_deep(tree: lark.Tree) -> lark.Tree | None:
    """The first subtree nested deeper than MAX_NESTING, found without recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return node
        stack.extend((c, depth + 1) for c in reversed(node.children) if isinstance(c, lark.Tree))
    return None


__all__ = ["GRAMMAR", "TOP_KEYWORDS", "describe_expected", "parse"]
