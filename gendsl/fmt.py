"""`gendsl fmt`: one canonical layout for .gen files, keeping every comment.

The layout is printed from the Lark parse tree, not the IR: the tree holds every
token as written (`1e-4` stays `1e-4`, a string keeps its escapes) and exactly the
grammar's constructs. Lark drops ignored tokens, so comments are collected with a
lexer callback and woven back in by position:

- a comment alone on its line stays alone on its line, before the code that
  followed it, indented like that code (inside a block when it was inside one);
- a comment after code stays after that code's line; the comments of
  consecutive lines are aligned two spaces past the longest line;
- a comment inside a construct that is printed on one line (an expression
  written over several lines) moves to its own line just above it.

Blank lines are kept where the user had them (several become one), never right
after `{` or before `}`, and a block declaration (a network, `forward`,
`train`) always has a blank line around it at the top level.

Adding a construct to the grammar means adding one method here, named like the
rule or alias (`def param_decl(self, node)` for a one-line declaration,
returning its text; block declarations return `Line`s, see `network_decl`).
tests/test_fmt.py fails while a rule of gen.lark has no method.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import lark
from lark import Token, Tree

from gendsl.diagnostics import Diagnostic, Reporter
from gendsl.source import SourceFile
from gendsl.syntax.grammar import GRAMMAR

INDENT = "    "
COMMENT_GAP = 2  # spaces between the longest line of a run and its aligned comments

# binding power of each expression form; a child printed under a stronger parent gets parentheses
_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "floordiv": 2, "mod": 2, "neg": 3, "pos": 3, "pow": 4}
_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%", "pow": "**"}
_ATOM = 5


class FormatError(Exception):
    """The file does not parse; `diagnostics` say why (the same ones `gendsl check` gives)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics[0].message if diagnostics else "syntax error")
        self.diagnostics = diagnostics


@dataclass
class Line:
    """One output line of code and the source range [start, end) it was printed from."""

    indent: int
    text: str
    start: int
    end: int
    kind: str = "code"  # code | open (ends in `{`) | close (`}`)
    top_block: bool = False  # the first line of a block declaration at the top level
    top_block_end: bool = False  # its last line


@dataclass
class _Comment:
    start: int
    end: int
    text: str
    trailing: bool  # code precedes it on its source line


# ---- parsing with comments ----------------------------------------------------------

class _CommentParser:
    """A parser of gen.lark whose lexer hands every comment to the parse in progress."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sink: list[Token] = []
        self._lark = lark.Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                               maybe_placeholders=True, lexer_callbacks={"COMMENT": self._sink_comment})

    def _sink_comment(self, token: Token) -> Token:
        self._sink.append(token)
        return token

    def parse(self, text: str) -> tuple[Tree, list[Token]]:
        with self._lock:
            self._sink = []
            tree = self._lark.parse(text)
            return tree, self._sink


@lru_cache(maxsize=1)
def _comment_parser() -> _CommentParser:
    return _CommentParser()


def grammar_constructs() -> set[str]:
    """Every rule or alias name that can appear in a parse tree (what the formatter must print)."""
    names = set()
    for rule in _comment_parser()._lark.rules:
        if rule.alias:
            names.add(str(rule.alias))
        elif not rule.options.expand1 and not rule.origin.name.startswith("_"):
            names.add(str(rule.origin.name))
    return names


# ---- the printer ---------------------------------------------------------------------

class Printer:
    """Parse tree -> lines. One method per grammar rule or alias: expressions and one-line
    declarations return text, block declarations return lines."""

    def __init__(self, text: str):
        self.text = text

    # dispatch
    def __call__(self, node) -> str | list[Line]:
        if node is None:
            return ""
        if isinstance(node, Token):
            return str(node)
        method = getattr(self, node.data, None)
        if method is None:
            raise NotImplementedError(f"gendsl fmt has no layout for `{node.data}` (add a method to gendsl/fmt.py)")
        return method(node)

    def start(self, tree: Tree) -> list[Line]:
        lines: list[Line] = []
        for item in tree.children:
            printed = self(item)
            if isinstance(printed, str):
                lines.append(Line(0, printed, item.meta.start_pos, item.meta.end_pos))
            else:
                printed[0].top_block = printed[-1].top_block_end = True
                lines.extend(printed)
        return lines

    # -- helpers
    @staticmethod
    def _kids(node: Tree) -> list:
        return [c for c in node.children if c is not None]

    def _join(self, nodes, sep: str = ", ") -> str:
        return sep.join(self(n) for n in nodes if n is not None)

    def _brace(self, after: int) -> int:
        """Offset of the `{` that opens a block, the first one after `after` outside comments."""
        i = after
        while i < len(self.text):
            ch = self.text[i]
            if ch == "#":
                newline = self.text.find("\n", i)
                i = len(self.text) if newline < 0 else newline
            elif ch == "{":
                return i
            else:
                i += 1
        return len(self.text)

    def _block(self, header: str, start: int, header_end: int, node: Tree, body) -> list[Line]:
        brace = self._brace(header_end)
        lines = [Line(0, header + " {", start, brace + 1, "open")]
        for child in body:
            lines.append(Line(1, self(child), child.meta.start_pos, child.meta.end_pos))
        if len(lines) == 1 and not _has_comment(self.text, brace, node.meta.end_pos):
            return [Line(0, header + " {}", start, node.meta.end_pos, "code")]
        lines.append(Line(0, "}", node.meta.end_pos - 1, node.meta.end_pos, "close"))
        return lines

    # -- declarations
    def model_decl(self, node):
        name, _extends, base = node.children
        return f"model {name}" + (f" extends {self(base)}" if base is not None else "")

    def base_file(self, node):
        return str(node.children[0])

    base_alias = base_file

    def import_decl(self, node):
        _import, path, _as, alias = node.children
        return f"import {path}" + (f" as {alias}" if alias is not None else "")

    def from_import_decl(self, node):
        _from, path, _import, *names = node.children
        return f"from {path} import " + ", ".join(str(n) for n in names if n is not None)

    def param_decl(self, node):
        name, value = node.children
        return f"param {name} = {self(value)}"

    def data_decl(self, node):
        name, type_, range_, source = node.children
        return f"data {name}: {self(type_)}" + (f" {self(range_)}" if range_ is not None else "") + \
            (f" {self(source)}" if source is not None else "")

    def range(self, node):
        low, high = node.children
        return f"in [{self(low)}, {self(high)}]"

    def source(self, node):
        return f"from {node.children[-1]}"

    def latent_decl(self, node):
        name, type_, prior = node.children
        return f"latent {name}: {self(type_)} ~ {self(prior)}"

    def schedule_decl(self, node):
        name, value = node.children
        return f"schedule {name} = {self(value)}"

    def loss_decl(self, node):
        _loss, name, value = node.children
        return "loss" + (f" {name}" if name is not None else "") + f" = {self(value)}"

    def network_decl(self, node):
        role, name, tparams, inputs, outputs, *body = node.children
        header = f"{self(role)} {name}{self(tparams)}({self(inputs)}) -> {self(outputs)}"
        return self._block(header, node.meta.start_pos, outputs.meta.end_pos, node, [b for b in body if b is not None])

    def instance_decl(self, node):
        role, name, ref, args = node.children  # `G()` and `G` are one thing: printed `G`
        return f"{self(role)} {name} = {self(ref)}" + (f"({self(args)})" if args is not None else "")

    def forward_decl(self, node):
        return self._block("forward", node.meta.start_pos, node.meta.start_pos + len("forward"), node,
                           self._kids(node))

    def train_decl(self, node):
        name, _extends, ref, *settings = node.children
        header, header_end = "train", node.meta.start_pos + len("train")
        if name is not None:
            header, header_end = f"{header} {name}", name.end_pos
        if ref is not None:
            header, header_end = f"{header} extends {self(ref)}", ref.meta.end_pos
        return self._block(header, node.meta.start_pos, header_end, node, [s for s in settings if s is not None])

    # -- variants: what a spec changes in its base
    def override_decl(self, node):
        _override, decl = node.children
        printed = self(decl)
        if isinstance(printed, str):
            return f"override {printed}"
        first = printed[0]  # a block: the keyword goes on its first line
        printed[0] = Line(first.indent, f"override {first.text}", node.meta.start_pos, first.end, first.kind)
        return printed

    def statement_edit(self, node):
        network, statement, *elements = node.children
        return f"{network}.{statement} = " + self._join(elements, " -> ")

    def remove_name(self, node):
        _remove, name, member = node.children
        return f"remove {name}" + (f".{member}" if member is not None else "")

    remove_setting = remove_name

    def remove_loss(self, node):
        _remove, _loss, name = node.children
        return f"remove loss {name}"

    def insert_decl(self, node):
        _insert, place, network, statement, *body = node.children
        return self._block(f"insert {place} {network}.{statement}", node.meta.start_pos, statement.end_pos, node,
                           [b for b in body if b is not None])

    def ref(self, node):
        first, second = node.children
        return f"{first}.{second}" if second is not None else str(first)

    # -- networks
    def role(self, node):
        return str(node.children[0])

    def inputs(self, node):
        return self._join(node.children)

    def tparams(self, node):
        return f"[{self._join(node.children)}]"

    def tparam(self, node):
        name, default = node.children
        return f"{name} = {self(default)}" if default is not None else str(name)

    def input(self, node):
        name, type_ = node.children
        return f"{name}: {self(type_)}" if type_ is not None else str(name)

    def heads(self, node):
        return f"({self._join(node.children)})"

    def head(self, node):
        name, type_ = node.children
        return f"{name}: {self(type_)}"

    def shape_type(self, node):
        kind, *dims = node.children
        return f"{kind or ''}[{self._join(dims)}]"

    def named_type(self, node):
        return str(node.children[0])

    def statement(self, node):
        name, *elements = node.children
        chain = self._join(elements, " -> ")
        return f"{name} = {chain}" if name is not None else chain

    def element(self, node):
        op, args = node.children
        return f"{op}({self(args)})" if args is not None else str(op)

    # -- forward and train
    def assign(self, node):
        targets, value = node.children
        return f"{self(targets)} = {self(value)}"

    def targets(self, node):
        return ", ".join(str(t) for t in node.children)

    def sample(self, node):
        name, dist = node.children
        return f"{name} ~ {self(dist)}"

    def setting(self, node):
        override, key, target, value = node.children
        return ("override " if override is not None else "") + f"{key}" + \
            (f" {target}" if target is not None else "") + f" = {self(value)}"

    # -- expressions
    def _operand(self, node, minimum: int) -> str:
        text = self(node)
        prec = _PREC.get(node.data, _ATOM) if isinstance(node, Tree) else _ATOM
        return f"({text})" if prec < minimum else text

    def _binary(self, node):
        left, right = node.children
        prec = _PREC[node.data]
        if node.data == "pow":  # atom ** unary: right-associative
            return f"{self._operand(left, _ATOM)} ** {self._operand(right, _PREC['neg'])}"
        return f"{self._operand(left, prec)} {_BINARY[node.data]} {self._operand(right, prec + 1)}"

    add = sub = mul = div = floordiv = mod = pow = _binary

    def neg(self, node):
        return "-" + self._operand(node.children[0], _PREC["neg"])

    def pos(self, node):
        return "+" + self._operand(node.children[0], _PREC["pos"])

    def number(self, node):
        return str(node.children[0])

    string = name = number

    def attribute(self, node):
        obj, attr = node.children
        return f"{obj}.{attr}"

    def call(self, node):
        func, args = node.children
        return f"{func}({self(args)})"

    def args(self, node):
        return self._join(node.children)

    def kwarg(self, node):
        name, value = node.children
        return f"{name}={self(value)}"

    def tuple(self, node):
        items = self._kids(node)
        return f"({self(items[0])},)" if len(items) == 1 else f"({self._join(items)})"

    def list(self, node):
        return f"[{self._join(node.children)}]"


def _has_comment(text: str, start: int, end: int) -> bool:
    return "#" in re.sub(r'"([^"\\\n]|\\.)*"', "", text[start:end])


# ---- weaving comments and blank lines ------------------------------------------------------

def _comments(text: str, tokens: list[Token]) -> list[_Comment]:
    out = []
    for tok in tokens:
        line_start = text.rfind("\n", 0, tok.start_pos) + 1
        trailing = bool(text[line_start:tok.start_pos].strip())
        out.append(_Comment(tok.start_pos, tok.end_pos, str(tok).rstrip(), trailing))
    return out


def _blank_before(text: str, pos: int) -> bool:
    """Whether the source has an empty line just before offset `pos` (only whitespace back to the code)."""
    i = pos
    while i > 0 and text[i - 1] in " \t\r\n\f":
        i -= 1
    return text.count("\n", i, pos) >= 2


def _weave(text: str, lines: list[Line], comments: list[_Comment]) -> str:
    # where each comment goes: before line k, after line k's code, or at the end of the file
    before: dict[int, list[_Comment]] = {}
    trailing: dict[int, list[str]] = {}
    after_all: list[_Comment] = []
    for c in comments:
        if c.trailing:
            p = len(text[:c.start].rstrip()) - 1  # the last character of code before it
            k = _line_holding(lines, p)
            if k is not None and lines[k].end <= p + 1:
                trailing.setdefault(k, []).append(c.text)
                continue
            if k is not None:
                before.setdefault(k, []).append(c)
                continue
        k = _line_holding(lines, c.start)
        if k is None:
            k = next((i for i, line in enumerate(lines) if line.start > c.start), None)
        if k is None:
            after_all.append(c)
        else:
            before.setdefault(k, []).append(c)

    # (indent, text, source start, kind, trailing comment)
    rows: list[tuple[int, str, int, str, str | None]] = []
    block_heads: set[int] = set()  # rows that start a top-level block (or the comments glued to it)
    block_ends: set[int] = set()
    for k, line in enumerate(lines):
        group_start = len(rows)
        indent = line.indent + (1 if line.kind == "close" else 0)
        for c in before.get(k, []):
            rows.append((indent, c.text, c.start, "comment", None))
        rows.append((line.indent, line.text, line.start, line.kind, "  ".join(trailing.get(k, [])) or None))
        if line.top_block_end:
            block_ends.add(len(rows) - 1)
        if line.top_block:  # comments glued to a block (no blank line between) go with its blank line
            first = len(rows) - 1
            while first > group_start and not _blank_before(text, rows[first][2]):
                first -= 1
            block_heads.add(first)
    for c in after_all:
        rows.append((0, c.text, c.start, "comment", None))

    out: list[str] = []
    where: list[int] = []  # the output line of each row
    previous_kind = None
    for i, (indent, body, start, kind, _) in enumerate(rows):
        blank = _blank_before(text, start) or i in block_heads or i - 1 in block_ends
        if i and blank and previous_kind != "open" and kind != "close":
            out.append("")
        where.append(len(out))
        out.append(INDENT * indent + body)
        previous_kind = kind
    _align_trailing(out, [(row[4], i) for row, i in zip(rows, where)])
    return "\n".join(out).rstrip("\n") + "\n" if out else ""


def _line_holding(lines: list[Line], pos: int) -> int | None:
    for k, line in enumerate(lines):
        if line.start <= pos < line.end:
            return k
    return None


def _align_trailing(out: list[str], trailing: list[tuple[str | None, int]]) -> None:
    """Append each line's trailing comment; the comments of consecutive lines share one column."""
    run: list[tuple[int, str]] = []

    def flush():
        if run:
            column = max(len(out[i]) for i, _ in run) + COMMENT_GAP
            for i, comment in run:
                out[i] = out[i].ljust(column) + comment
            run.clear()

    last = None
    for comment, i in trailing:
        if comment is None or (last is not None and i != last + 1):
            flush()
        if comment is not None:
            run.append((i, comment))
        last = i
    flush()


# ---- entry points ------------------------------------------------------------------------

def format_text(text: str, path: str = "<text>") -> str:
    """The canonical layout of `text`; raises FormatError with diagnostics when it does not parse."""
    try:
        tree, tokens = _comment_parser().parse(text)
    except lark.exceptions.LarkError:
        from gendsl.syntax import parse

        reporter = Reporter()
        parse(SourceFile(path, text), reporter)
        raise FormatError(reporter.diagnostics or [Diagnostic("error", "E0101", "syntax error", None)]) from None
    printer = Printer(text)
    return _weave(text, printer.start(tree), _comments(text, tokens))
