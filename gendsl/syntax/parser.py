"""Parse .gen text into the IR (`gendsl.ir`), reporting syntax errors as diagnostics.

One LALR pass over the whole file. When it fails, the file is cut at each
top-level keyword that starts a line and every piece is parsed alone, so that
independent syntax errors are all reported and a broken network does not hide
a broken loss below it.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from gendsl import ir
from gendsl.cache import cache_dir
from gendsl.diagnostics import Reporter
from gendsl.source import SourceFile, Span

GRAMMAR = Path(__file__).with_name("gen.lark")
TOP_KEYWORDS = ("model", "import", "param", "data", "latent", "schedule", "encoder", "decoder",
                "generator", "discriminator", "critic", "network", "forward", "loss", "train")
_ITEM_START = re.compile(r"^(?:%s)\b" % "|".join(TOP_KEYWORDS), re.M)
MAX_SYNTAX_ERRORS = 20
# Levels of the syntax tree (a network statement sits about six deep; `a + b` adds one).
# Building the IR and checking it recurse once per level, so a deeper tree would end in
# RecursionError; real specs stay below 20.
MAX_NESTING = 100
_LONG_INT = 1000  # digits; longer integer literals are out of range anyway


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    return lark.Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual",
                     propagate_positions=True, maybe_placeholders=True, cache=_cache_file())


def _cache_file() -> str | bool:
    """Where lark keeps the LALR tables it builds from the grammar (about 50 ms of every run; loading
    them takes 5), or False for no cache. See gendsl/cache.py."""
    folder = cache_dir()
    return os.path.join(folder, f"grammar-lark{lark.__version__}.cache") if folder else False


def parse(source: SourceFile, reporter: Reporter) -> ir.Spec | None:
    """The IR of `source`, or None when a syntax error was reported."""
    try:
        tree = _parser().parse(source.text)
    except lark.exceptions.LarkError:
        _report_all_syntax_errors(source, reporter)
        return None
    deep = _too_deep(tree)
    if deep is not None:
        start = deep.meta.start_pos if not getattr(deep.meta, "empty", True) else 0
        reporter.error("E0109", "expression nested too deeply", Span(start, start + 1), "too deep",
                       (f"the compiler accepts at most {MAX_NESTING} levels of nesting",),
                       "split it into `param` declarations, or write a long sum as several shorter ones")
        return None
    if not _check_strings(tree, reporter):
        return None
    return _Builder(0).transform(tree)


def _too_deep(tree: lark.Tree) -> lark.Tree | None:
    """The first subtree nested deeper than MAX_NESTING, found without recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return node
        stack.extend((c, depth + 1) for c in reversed(node.children) if isinstance(c, lark.Tree))
    return None


def _report_all_syntax_errors(source: SourceFile, reporter: Reporter) -> None:
    starts = [m.start() for m in _ITEM_START.finditer(source.text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = list(zip(starts, starts[1:] + [len(source.text)]))
    found = 0
    for begin, end in bounds:
        try:
            _parser().parse(source.text[begin:end])
        except lark.exceptions.LarkError as exc:
            _SyntaxReport(source, begin, end, reporter).report(exc)
            found += 1
            if found >= MAX_SYNTAX_ERRORS:
                break
    if not found:  # pieces parse alone but the whole does not: report the whole
        try:
            _parser().parse(source.text)
        except lark.exceptions.LarkError as exc:
            _SyntaxReport(source, 0, len(source.text), reporter).report(exc)


@lru_cache(maxsize=1)
def _basic_parser() -> lark.Lark:
    """A parser with a context-free lexer: only used to name the token at a lexing error."""
    return lark.Lark(GRAMMAR.read_text(), parser="lalr", lexer="basic", cache=False)


# how terminals are named in messages: never LPAR or __ANON_0
_TERMINAL_NAMES = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of file"}
_EXPRESSION = {"NAME", "NUMBER", "STRING", "LPAR", "LSQB", "MINUS", "PLUS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT"}  # plus `//` and `**`, found by pattern
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


def _pattern(name: str) -> str | None:
    try:
        pattern = _parser().get_terminal(name).pattern
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


class _SyntaxReport:
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
            _basic_parser().parse(self.piece)
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


def _span(offset: int, node) -> Span:
    if isinstance(node, Token):
        return Span(offset + node.start_pos, offset + node.end_pos)
    meta = node.meta if hasattr(node, "meta") else node
    if getattr(meta, "empty", True):
        return Span(offset, offset)
    return Span(offset + meta.start_pos, offset + meta.end_pos)


def _number(text: str) -> int | float:
    if re.fullmatch(r"\d+", text):
        # int() refuses thousands of digits; any such literal is out of range when evaluated
        return int(text) if len(text) <= _LONG_INT else 10 ** _LONG_INT
    return float(text)


# The string language: "..." on one line; `\"` and `\\` are the only escapes. Any other backslash
# is an error (E0111) rather than a guess: `"C:\data"` must not silently become `"C:data"`.
# A string that names something (`from "..."`, `import "..."`) must not be empty (E0112).
_ESCAPES = {'"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.?)", re.S)
_NAMING_STRINGS = {"source": "data source", "import_decl": "import path"}


def _unquote(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text[1:-1])


def _check_strings(tree: lark.Tree, reporter: Reporter) -> bool:
    """Report every unknown escape and every empty string that names something; True if all are fine."""
    ok = True
    for node in tree.iter_subtrees():
        for tok in node.children:
            if not (isinstance(tok, lark.Token) and tok.type == "STRING"):
                continue
            for m in _ESCAPE.finditer(tok, 1, len(tok) - 1):
                if m.group(1) not in _ESCAPES:
                    ok = False
                    start = tok.start_pos + m.start()
                    shown = m.group(0) if m.group(1).isprintable() else m.group(0).encode("unicode_escape").decode()
                    reporter.error("E0111", f"unknown escape `{shown}` in a string",
                                   Span(start, start + len(m.group(0))), "not an escape",
                                   ('the escapes are `\\"` (a quote) and `\\\\` (a backslash)',),
                                   'write `\\\\` for a backslash; in paths, write "/"')
            if tok == '""' and node.data in _NAMING_STRINGS:
                ok = False
                what = _NAMING_STRINGS[node.data]
                reporter.error("E0112", f"empty {what}", Span(tok.start_pos, tok.end_pos), "empty string", (),
                               'name a data set or file, e.g. `from "mnist5k"`, or leave out `from ...`'
                               if node.data == "source" else "name the file to import")
    return ok


@v_args(meta=True, inline=True)
class _Builder(Transformer):
    """Lark tree -> ir nodes. Every node gets its span, shifted by `offset`."""

    def __init__(self, offset: int):
        super().__init__()
        self.offset = offset

    def _s(self, x) -> Span:
        return _span(self.offset, x)

    # expressions
    def number(self, meta, tok):
        return ir.Num(_number(str(tok)), self._s(tok))

    def string(self, meta, tok):
        return ir.Str(_unquote(str(tok)), self._s(tok))

    def name(self, meta, tok):
        return ir.Name(str(tok), self._s(tok))

    def attribute(self, meta, obj, attr):
        return ir.Attribute(str(obj), str(attr), self._s(meta), self._s(attr))

    def _bin(op):
        def build(self, meta, left, right):
            return ir.BinOp(op, left, right, self._s(meta))
        return build

    add, sub, mul, div = _bin("+"), _bin("-"), _bin("*"), _bin("/")
    floordiv, mod, pow = _bin("//"), _bin("%"), _bin("**")

    def neg(self, meta, operand):
        return ir.Unary("-", operand, self._s(meta))

    def pos(self, meta, operand):
        return ir.Unary("+", operand, self._s(meta))

    def tuple(self, meta, *items):
        return ir.Tuple(tuple(i for i in items if i is not None), self._s(meta))

    def list(self, meta, *items):
        return ir.List(tuple(i for i in items if i is not None), self._s(meta))

    def kwarg(self, meta, name, value):
        return ir.Kwarg(str(name), value, self._s(meta), self._s(name))

    def args(self, meta, *items):
        return items

    def call(self, meta, func, args):
        positional, keywords = _split_args(args or ())
        return ir.Call(str(func), positional, keywords, self._s(meta), self._s(func))

    # types
    def shape_type(self, meta, kind, *dims):
        return ir.ShapeType(str(kind) if kind is not None else None,
                            tuple(d for d in dims if d is not None), self._s(meta))

    def named_type(self, meta, name):
        return ir.NamedType(str(name), self._s(name))

    # declarations
    def start(self, meta, *items):
        return ir.Spec(list(items))

    def model_decl(self, meta, name, _extends, base):
        return ir.Model(str(name), str(base) if base is not None else None, self._s(meta), self._s(name))

    def import_decl(self, meta, _kw, path):
        return ir.Import(_unquote(str(path)), self._s(meta))

    def param_decl(self, meta, name, value):
        return ir.Param(str(name), value, self._s(meta), self._s(name))

    def range(self, meta, low, high):
        return (low, high)

    def source(self, meta, tok):
        return ir.Str(_unquote(str(tok)), self._s(tok))

    def data_decl(self, meta, name, type_, range_, source):
        return ir.Data(str(name), type_, range_, source, self._s(meta), self._s(name))

    def latent_decl(self, meta, name, type_, prior):
        return ir.Latent(str(name), type_, prior, self._s(meta), self._s(name))

    def schedule_decl(self, meta, name, value):
        return ir.Schedule(str(name), value, self._s(meta), self._s(name))

    def role(self, meta, tok):
        return tok

    def input(self, meta, name, type_):
        return ir.Input(str(name), type_, self._s(meta))

    def inputs(self, meta, *items):
        return tuple(i for i in items if i is not None)

    def head(self, meta, name, type_):
        return ir.Head(str(name), type_, self._s(meta))

    def heads(self, meta, *heads):
        return tuple(h for h in heads if h is not None)

    def element(self, meta, op, args):
        positional, keywords = _split_args(args or ())
        return ir.Element(str(op), positional, keywords, args is not None,
                          self._s(meta), self._s(op))

    def statement(self, meta, name, *elements):
        return ir.Statement(str(name) if name is not None else None, tuple(elements),
                            self._s(meta), self._s(name) if name is not None else None)

    def network_decl(self, meta, role, name, inputs, outputs, *body):
        if not isinstance(outputs, tuple):
            outputs = (ir.Head(None, outputs, outputs.span),)
        return ir.Network(str(role), str(name), inputs or (), outputs, tuple(body),
                          self._s(meta), self._s(name), self._s(role))

    def targets(self, meta, *names):
        return tuple(ir.Name(str(n), self._s(n)) for n in names)

    def assign(self, meta, targets, value):
        return ir.Assign(targets, value, self._s(meta))

    def sample(self, meta, name, dist):
        return ir.Sample(ir.Name(str(name), self._s(name)), dist, self._s(meta))

    def forward_decl(self, meta, *steps):
        return ir.Forward(tuple(steps), self._s(meta))

    def loss_decl(self, meta, name, value):
        return ir.Loss(str(name) if name is not None else None, value, self._s(meta))

    def setting(self, meta, key, target, value):
        return ir.Setting(str(key), str(target) if target is not None else None, value, self._s(meta),
                          self._s(key), self._s(target) if target is not None else None)

    def train_decl(self, meta, *settings):
        return ir.Train(tuple(settings), self._s(meta))


def _split_args(items) -> tuple[tuple, tuple]:
    positional = tuple(a for a in items if not isinstance(a, ir.Kwarg))
    keywords = tuple(a for a in items if isinstance(a, ir.Kwarg))
    return positional, keywords

