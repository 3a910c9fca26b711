"""Parse .gen text into the IR (`gendsl.ir`), reporting syntax errors as diagnostics.

One LALR pass over the whole file. When it fails, the file is cut at each
top-level keyword that starts a line and every piece is parsed alone, so that
independent syntax errors are all reported and a broken network does not hide
a broken loss below it.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from gendsl import ir
from gendsl.diagnostics import Reporter
from gendsl.source import SourceFile, Span

GRAMMAR = Path(__file__).with_name("gen.lark")
TOP_KEYWORDS = ("model", "import", "param", "data", "latent", "schedule", "encoder", "decoder",
                "generator", "discriminator", "critic", "network", "forward", "loss", "train")
_ITEM_START = re.compile(r"^(?:%s)\b" % "|".join(TOP_KEYWORDS), re.M)
MAX_SYNTAX_ERRORS = 20


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    return lark.Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual",
                     propagate_positions=True, maybe_placeholders=True, cache=_cache_file())


def _cache_file() -> str | bool:
    """Where lark keeps the LALR tables it builds from the grammar, or False for no cache.

    Building them takes about 50 ms of every run; loading them, about 5 ms. lark stores a hash
    of the grammar, its options and the lark and Python versions in the file and rebuilds (and
    rewrites it) when they differ, so a stale or damaged file costs one build, never a wrong
    parse. The folder is $GENDSL_CACHE_DIR (`off` disables the cache), else $XDG_CACHE_HOME/gendsl,
    else ~/.cache/gendsl.
    """
    folder = os.environ.get("GENDSL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gendsl")
    if folder == "off":
        return False
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.path.join(folder, f"grammar-lark{lark.__version__}.cache")


def parse(source: SourceFile, reporter: Reporter) -> ir.Spec | None:
    """The IR of `source`, or None when a syntax error was reported."""
    try:
        tree = _parser().parse(source.text)
    except lark.exceptions.LarkError:
        _report_all_syntax_errors(source, reporter)
        return None
    return _Builder(0).transform(tree)


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
            _report(exc, begin, source, reporter, source.text[begin:end])
            found += 1
            if found >= MAX_SYNTAX_ERRORS:
                break
    if not found:  # pieces parse alone but the whole does not: report the whole
        try:
            _parser().parse(source.text)
        except lark.exceptions.LarkError as exc:
            _report(exc, 0, source, reporter, source.text)


def _describe_terminal(name: str) -> str:
    names = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of file"}
    if name in names:
        return names[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if isinstance(pattern, lark.lexer.PatternStr):
        return f"`{pattern.value}`"
    return name.lower()


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return f"`{token}`"


def _report(exc: Exception, offset: int, source: SourceFile, reporter: Reporter, piece: str) -> None:
    # an error at the end of a piece points at its last character, not past it
    last = offset + max(0, len(piece.rstrip()) - 1)
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            start, end = last, last + 1
        else:
            start, end = offset + token.start_pos, offset + token.end_pos
        expected = sorted({_describe_terminal(t) for t in exc.expected if not t.startswith("__")})
        found = _describe_token(token)
        notes = []
        if expected:
            shown = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
            notes.append(f"expected one of: {shown}")
        help_text = None
        if token.type == "$END":
            found = "end of declaration" if piece is not source.text else "end of file"
            help_text = "is a `}` or `)` missing?" if piece.count("{") > piece.count("}") or piece.count("(") > piece.count(")") else None
        reporter.error("E0101", f"unexpected {found}", Span(start, end), "unexpected here",
                       notes, help_text)
    elif isinstance(exc, lark.exceptions.UnexpectedCharacters):
        start = offset + exc.pos_in_stream
        char = source.text[start:start + 1]
        help_text = None
        if char in "'":
            help_text = 'strings use double quotes: "..."'
        reporter.error("E0102", f"unexpected character {char!r}", Span(start, start + 1),
                       "not valid here", (), help_text)
    else:  # UnexpectedEOF and friends
        reporter.error("E0101", "unexpected end of file", Span(last, last + 1),
                       "the file ends here", (), "is a `}` or `)` missing?")


def _span(offset: int, node) -> Span:
    if isinstance(node, Token):
        return Span(offset + node.start_pos, offset + node.end_pos)
    meta = node.meta if hasattr(node, "meta") else node
    if getattr(meta, "empty", True):
        return Span(offset, offset)
    return Span(offset + meta.start_pos, offset + meta.end_pos)


def _number(text: str) -> int | float:
    if re.fullmatch(r"\d+", text):
        return int(text)
    return float(text)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


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

