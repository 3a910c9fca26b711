"""Lark tree -> IR: every node built with its span, in the global offsets of gendsl/source.py."""

from __future__ import annotations

import re

from lark import Token, Transformer, v_args

from gendsl import ir
from gendsl.syntax.strings import unquote
from gendsl.source import Span
from gendsl.syntax.grammar import LONG_INT


def _span(offset: int, node) -> Span:
    if isinstance(node, Token):
        return Span(offset + node.start_pos, offset + node.end_pos)
    meta = node.meta if hasattr(node, "meta") else node
    if getattr(meta, "empty", True):
        return Span(offset, offset)
    return Span(offset + meta.start_pos, offset + meta.end_pos)


def _literal(text: str) -> int | float:
    if re.fullmatch(r"\d+", text):
        # int() refuses thousands of digits; any such literal is out of range when evaluated
        return int(text) if len(text) <= LONG_INT else 10 ** LONG_INT
    return float(text)


_unquote = unquote  # the string language: gendsl/syntax/strings.py


@v_args(meta=True, inline=True)
class IRBuilder(Transformer):
    """Lark tree -> ir nodes. Every node gets its span, shifted by `offset`."""

    def __init__(self, offset: int):
        super().__init__()
        self.offset = offset

    def _s(self, x) -> Span:
        return _span(self.offset, x)

    # expressions
    def number(self, meta, tok):
        return ir.Num(_literal(str(tok)), self._s(tok))

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
        if base is None:
            return ir.Model(str(name), None, self._s(meta), self._s(name))
        is_file, value, span = base
        return ir.Model(str(name), value, self._s(meta), self._s(name), is_file, span)

    def base_file(self, meta, tok):
        return True, _unquote(str(tok)), self._s(tok)

    def base_alias(self, meta, tok):
        return False, str(tok), self._s(tok)

    def import_decl(self, meta, _kw, path, _as, alias):
        return ir.Import(_unquote(str(path)), self._s(meta), str(alias) if alias is not None else None, (),
                         self._s(path), self._s(alias) if alias is not None else None)

    def from_import_decl(self, meta, _from, path, _import, *names):
        return ir.Import(_unquote(str(path)), self._s(meta), None,
                         tuple(ir.Name(str(n), self._s(n)) for n in names if n is not None), self._s(path))

    def ref(self, meta, first, second):
        if second is None:
            return ir.Ref(None, str(first), self._s(meta))
        return ir.Ref(str(first), str(second), self._s(meta))

    def override_decl(self, meta, _kw, decl):
        return ir.Override(decl, self._s(meta))

    def statement_edit(self, meta, network, statement, *elements):
        return ir.StatementEdit(str(network), str(statement), tuple(elements), self._s(meta), self._s(network),
                                self._s(statement))

    def remove_name(self, meta, _kw, name, member):
        return ir.Remove("name" if member is None else "statement", str(name),
                         str(member) if member is not None else None, self._s(meta), self._s(name),
                         self._s(member) if member is not None else None)

    def remove_loss(self, meta, _kw, _loss, name):
        return ir.Remove("loss", str(name), None, self._s(meta), self._s(name), None)

    def insert_decl(self, meta, _kw, place, network, statement, *body):
        return ir.Insert(str(place), str(network), str(statement), tuple(body), self._s(meta), self._s(network),
                         self._s(statement))

    def tparam(self, meta, name, default):
        return ir.TParam(str(name), default, self._s(meta))

    def tparams(self, meta, *items):
        return tuple(i for i in items if i is not None)

    def instance_decl(self, meta, role, name, ref, args):
        positional, keywords = _split_args(args or ())
        return ir.Instance(str(role), str(name), ref, positional, keywords, self._s(meta), self._s(name),
                           self._s(role))

    def param_decl(self, meta, name, value):
        return ir.Param(str(name), value, self._s(meta), self._s(name))

    def range(self, meta, low, high):
        return (low, high)

    def source(self, meta, _from, tok):
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

    def network_decl(self, meta, role, name, tparams, inputs, outputs, *body):
        if not isinstance(outputs, tuple):
            outputs = (ir.Head(None, outputs, outputs.span),)
        return ir.Network(str(role), str(name), inputs or (), outputs, tuple(body),
                          self._s(meta), self._s(name), self._s(role), tparams or ())

    def targets(self, meta, *names):
        return tuple(ir.Name(str(n), self._s(n)) for n in names)

    def assign(self, meta, targets, value):
        return ir.Assign(targets, value, self._s(meta))

    def sample(self, meta, name, dist):
        return ir.Sample(ir.Name(str(name), self._s(name)), dist, self._s(meta))

    def forward_decl(self, meta, *steps):
        return ir.Forward(tuple(steps), self._s(meta))

    def loss_decl(self, meta, _kw, name, value):
        return ir.Loss(str(name) if name is not None else None, value, self._s(meta))

    def setting(self, meta, override, key, target, value):
        return ir.Setting(str(key), str(target) if target is not None else None, value, self._s(meta),
                          self._s(key), self._s(target) if target is not None else None, override is not None)

    def remove_setting(self, meta, _kw, key, target):
        return ir.RemoveSetting(str(key), str(target) if target is not None else None, self._s(meta))

    def train_decl(self, meta, name, _extends, ref, *settings):
        return ir.Train(tuple(settings), self._s(meta), str(name) if name is not None else None, ref,
                        self._s(name) if name is not None else None)


def _split_args(items) -> tuple[tuple, tuple]:
    positional = tuple(a for a in items if not isinstance(a, ir.Kwarg))
    keywords = tuple(a for a in items if isinstance(a, ir.Kwarg))
    return positional, keywords
