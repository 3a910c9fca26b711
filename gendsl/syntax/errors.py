"""Syntax errors as diagnostics: what was expected in words, the token found, unclosed and unmatched
delimiters, and recovery that reports every broken declaration of a file, not only the first.

When the whole file does not parse, it is cut at each top-level keyword that starts a line and every
piece is parsed alone, so that independent syntax errors are all reported and a broken network does
not hide a broken loss below it.
"""

from __future__ import annotations

import re
import unicodedata

import lark
from lark import Token

from gendsl.diagnostics import Reporter
from gendsl.source import SourceFile, Span
from gendsl.syntax.grammar import ITEM_START, MAX_SYNTAX_ERRORS, TOP_KEYWORDS, basic_parser, lalr_parser

def report_syntax_errors(source: SourceFile, reporter: Reporter) -> None:
    starts = [m.start() for m in ITEM_START.finditer(source.text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = list(zip(starts, starts[1:] + [len(source.text)]))
    found = 0
    for begin, end in bounds:
        try:
            lalr_parser().parse(source.text[begin:end], start="start")
        except lark.exceptions.LarkError as exc:
            SyntaxReport(source, begin, end, reporter).report(exc)
            found += 1
            if found >= MAX_SYNTAX_ERRORS:
                break
    if not found:  # pieces parse alone but the whole does not: report the whole
        try:
            lalr_parser().parse(source.text, start="start")
        except lark.exceptions.LarkError as exc:
            SyntaxReport(source, 0, len(source.text), reporter).report(exc)


# how terminals are named in messages: never LPAR or __ANON_0
_TERMINAL_NAMES = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of file"}
_EXPRESSION = {"NAME", "NUMBER", "STRING", "LPAR", "LSQB", "MINUS", "PLUS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT"}  # plus `//` and `**`, found by pattern
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


def _pattern(name: str) -> str | None:
    try:
        pattern = lalr_parser().get_terminal(name).pattern
    except KeyError:
        return None
    return pattern.value if isinstance(pattern, lark.lexer.PatternStr) else None


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    value = _pattern(name)
    return f"`{value}`" if value is not None else name.lower().replace("_", " ")


def describe_expected(names: set[str]) -> str:
    """`expected ...` in words: `an expression`, `a declaration`, `one of `)`, `,` or an operator`."""
    names = set(names)
    parts: list[str] = []
    operators = {n for n in names if n in _OPERATORS or _pattern(n) in ("//", "**")}
    if {"NUMBER", "STRING", "NAME"} <= names:
        names -= _EXPRESSION
        parts.append("an expression")
    elif len(operators) >= 5:
        names -= operators
        parts.append("an operator")
    declarations = {n for n in names if (_pattern(n) or "") in TOP_KEYWORDS}
    if len(declarations) >= 5:
        names -= declarations
        parts.append("a declaration")
    end = "$END" in names
    names.discard("$END")
    tokens = sorted(_describe_terminal(n) for n in names)
    literal = [t for t in tokens if t.startswith("`")]
    words = literal + [t for t in tokens if not t.startswith("`")] + parts
    if end:
        words.append("end of file")
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ("one of " if literal else "") + ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "STRING":
        return f"string `{token}`"
    if token.type == "NUMBER":
        return f"number `{token}`"
    return f"`{token}`"


def _describe_char(char: str) -> str:
    if char.isprintable() and not char.isspace():
        return f"`{char}`"
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    return f"{code} ({name.lower()})" if name else code


class SyntaxReport:
    """Turn one lark error inside source.text[begin:end] (a declaration, or the file) into a diagnostic."""

    def __init__(self, source: SourceFile, begin: int, end: int, reporter: Reporter):
        self.source, self.begin, self.end, self.reporter = source, begin, end, reporter
        self.piece = source.text[begin:end]

    def report(self, exc: Exception) -> None:
        if isinstance(exc, lark.exceptions.UnexpectedCharacters):
            token_exc = self._as_token_error(exc)
            if token_exc is None:
                self._bad_character(exc)
                return
            exc = token_exc
        if isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type != "$END":
            self._unexpected_token(exc)
        else:  # the declaration (or the file) ends too early
            self._unexpected_end(exc)

    # -- helpers ---------------------------------------------------------------------
    def _expected(self, exc) -> set[str]:
        try:
            return set(exc.interactive_parser.accepts())
        except Exception:  # noqa: BLE001 - fall back to what lark reports
            return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())

    def _open_delimiters(self, upto: int) -> tuple[list[tuple[str, int]], tuple[str, int] | None]:
        """Openers still open at piece offset `upto`, and the first closer that matches nothing."""
        stack: list[tuple[str, int]] = []
        stray = None
        text = self.piece
        i = 0
        while i < upto:
            ch = text[i]
            if ch == "#":
                newline = text.find("\n", i)
                i = len(text) if newline < 0 else newline
                continue
            if ch == '"':
                m = re.compile(r'"([^"\\\n]|\\.)*"').match(text, i)
                i = m.end() if m else i + 1
                continue
            if ch in _OPENERS:
                stack.append((ch, i))
            elif ch in _CLOSERS:
                if stack and stack[-1][0] == _CLOSERS[ch]:
                    stack.pop()
                elif not stack and stray is None:
                    stray = (ch, i)
            i += 1
        return stack, stray

    def _last_end(self) -> int:
        """File offset just past the piece's last non-blank, non-comment character."""
        text = re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), self.piece)
        return self.begin + len(text.rstrip())

    def _as_token_error(self, exc: lark.exceptions.UnexpectedCharacters):
        """`linear(10 -> relu`: the contextual lexer stops at `>`; name the token `->` instead."""
        try:
            basic_parser().parse(self.piece)
        except lark.exceptions.UnexpectedToken as other:
            previous = exc.token_history[-1].start_pos if exc.token_history else exc.pos_in_stream
            if other.token.type != "$END" and previous <= other.token.start_pos <= exc.pos_in_stream:
                return other
        except lark.exceptions.LarkError:
            pass
        return None

    # -- the three kinds ------------------------------------------------------------------
    def _bad_character(self, exc: lark.exceptions.UnexpectedCharacters) -> None:
        start = self.begin + exc.pos_in_stream
        char = self.source.text[start:start + 1]
        help_text = None
        if char == "'":
            help_text = 'strings use double quotes: "..."'
        elif char in "\u201c\u201d":
            help_text = 'use plain double quotes: "..."'
        elif char == ";":
            help_text = "statements need no `;`: remove it"
        elif not char.isprintable() or char.isspace():
            help_text = "replace it with a plain space, or delete it"
        self.reporter.error("E0102", f"invalid character {_describe_char(char)}", Span(start, start + 1),
                            f"expected {describe_expected(self._expected(exc))}", (), help_text)

    def _unexpected_token(self, exc: lark.exceptions.UnexpectedToken) -> None:
        token = exc.token
        start, end = self.begin + token.start_pos, self.begin + token.end_pos
        stack, stray = self._open_delimiters(token.start_pos)
        if stray is not None or (not stack and str(token) in _CLOSERS):
            ch, at = stray if stray is not None else (str(token), token.start_pos)
            self.reporter.error("E0104", f"unmatched `{ch}`", Span(self.begin + at, self.begin + at + 1),
                                f"no `{_CLOSERS[ch]}` opens this", (), f"remove this `{ch}`")
            return
        expected = self._expected(exc)
        help_text = None
        if stack:
            closer = _OPENERS[stack[-1][0]]
            if any(_pattern(n) == closer for n in expected):
                help_text = f"is a `{closer}` missing?"
        if help_text is None and token.type == "NUMBER" and "LSQB" in expected:
            help_text = f"shapes are written in brackets: `[{token}]`"
        if help_text is None and token.type == "EQUAL" and "COLON" in expected:
            help_text = "declarations are typed with `:`, e.g. `data x: [784]`"
        wanted = describe_expected(expected)
        self.reporter.error("E0101", f"expected {wanted}, found {_describe_token(token)}", Span(start, end),
                            "unexpected here" if "one of" in wanted else f"expected {wanted}", (), help_text)

    def _unexpected_end(self, exc: Exception) -> None:
        last = self._last_end()
        at_eof = self.end >= len(self.source.text)
        stack, stray = self._open_delimiters(len(self.piece))
        if stray is not None:
            ch, at = stray
            self.reporter.error("E0104", f"unmatched `{ch}`", Span(self.begin + at, self.begin + at + 1),
                                f"no `{_CLOSERS[ch]}` opens this", (), f"remove this `{ch}`")
            return
        if stack:
            opener, at = stack[-1]
            closer = _OPENERS[opener]
            line = self.source.line_col(max(self.begin, last - 1))[0]
            if at_eof:
                where = f"the file ends on line {line}"
            else:
                keyword = re.match(r"\w+", self.source.text[self.end:]).group()
                where = f"`{keyword}` on line {self.source.line_col(self.end)[0]} starts a new declaration first"
            self.reporter.error("E0103", f"unclosed `{opener}`", Span(self.begin + at, self.begin + at + 1),
                                f"this `{opener}` is never closed", (where,),
                                f"add `{closer}` where it should end")
            return
        expected = describe_expected(self._expected(exc))
        if at_eof:
            found, notes = "end of file", ()
        else:
            keyword = re.match(r"\w+", self.source.text[self.end:]).group()
            line = self.source.line_col(self.end)[0]
            found = f"`{keyword}`"
            notes = (f"`{keyword}` on line {line} starts a new declaration",)
        self.reporter.error("E0101", f"expected {expected}, found {found}", Span(last, last),
                            f"expected {expected} here" if "one of" not in expected else "incomplete", notes)
