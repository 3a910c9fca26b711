"""Evaluate constant expressions: parameters, layer arguments, weights, settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gendsl import ir
from gendsl.diagnostics import Cascade, did_you_mean, error

MAX_INT = 2**53  # beyond this, a "dimension" is a mistake and floats lose integers
MAX_EXPONENT = 256


@dataclass(frozen=True)
class Symbol:
    """A bare word used as a value: `sum`, `minimax`, `bilinear`."""

    name: str


Value = int | float | bool | str | Symbol | tuple


class Env:
    """Names visible to constant expressions: parameters, then `true`/`false`."""

    def __init__(self, params: dict[str, Value] | None = None):
        self.params: dict[str, Value] = dict(params or {})
        self.broken: set[str] = set()  # parameters whose error was already reported

    def lookup(self, name: ir.Name, symbols: frozenset[str] = frozenset()) -> Value:
        if name.id in self.params:
            return self.params[name.id]
        if name.id == "true":
            return True
        if name.id == "false":
            return False
        if name.id in symbols:
            return Symbol(name.id)
        if name.id in self.broken:
            raise Cascade()
        candidates = list(self.params) + sorted(symbols)
        raise error("E0201", f"unknown name `{name.id}`", name.span, "not defined",
                    (), did_you_mean(name.id, candidates) or
                    (f"expected a parameter or one of: {', '.join(sorted(symbols))}" if symbols
                     else f"declare it: `param {name.id} = ...`"))


def evaluate_choice(expr: ir.Expr, env: Env, choices) -> Value:
    """Like `evaluate`, but a bare word that names no parameter is a Symbol: the caller says whether
    it is one of `choices` (E0221 with a suggestion), rather than `unknown name` (E0201)."""
    if isinstance(expr, ir.Name) and expr.id not in env.params and expr.id not in ("true", "false") \
            and expr.id not in env.broken:
        return Symbol(expr.id)
    return evaluate(expr, env, frozenset(choices))


def evaluate(expr: ir.Expr, env: Env, symbols: frozenset[str] = frozenset()) -> Value:
    """The value of `expr`; raises CompileError with a span on any problem."""
    if isinstance(expr, ir.Num):
        return _finite(expr.value, expr)
    if isinstance(expr, ir.Str):
        return expr.value
    if isinstance(expr, ir.Name):
        return env.lookup(expr, symbols)
    if isinstance(expr, ir.Unary):
        value = number(evaluate(expr.operand, env), expr.operand)
        return -value if expr.op == "-" else value
    if isinstance(expr, ir.BinOp):
        left = number(evaluate(expr.left, env), expr.left)
        right = number(evaluate(expr.right, env), expr.right)
        return _finite(_binop(expr, left, right), expr)
    if isinstance(expr, (ir.Tuple, ir.List)):
        return tuple(evaluate(item, env, symbols) for item in expr.items)
    if isinstance(expr, ir.Attribute):
        raise error("E0208", f"`{expr.obj}.{expr.attr}` is not a constant", expr.span, "a layer activation",
                    (), "layer activations can only be used in the loss")
    if isinstance(expr, ir.Call):
        raise error("E0208", f"`{expr.func}(...)` is not a constant", expr.span, "a call is not allowed here",
                    (), "use a number, a parameter or arithmetic on them")
    raise TypeError(f"unexpected expression {expr!r}")


def number(value: Value, expr: ir.Expr) -> int | float:
    """`value` if it is a number, else E0209 at `expr`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error("E0209", f"expected a number, found {describe(value)}", expr.span, "not a number")
    return value


def _binop(expr: ir.BinOp, a, b):
    op = expr.op
    if op in ("/", "//", "%") and b == 0:
        raise error("E0210", "division by zero", expr.right.span, "this is zero")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        if isinstance(a, int) and isinstance(b, int) and abs(a) * abs(b) > MAX_INT * MAX_INT:
            raise _too_large(expr)
        return a * b
    if op == "/":
        return a / b
    if op == "//":
        return a // b
    if op == "%":
        return a % b
    if op == "**":
        if abs(b) > MAX_EXPONENT and abs(a) > 1:
            raise _too_large(expr)
        try:
            result = a ** b
        except (OverflowError, ZeroDivisionError):
            raise _too_large(expr) from None
        if isinstance(result, complex):
            raise error("E0211", "this power has no real value", expr.span, "complex result")
        return result
    raise TypeError(op)


def _too_large(expr) -> Exception:
    return error("E0211", "number too large", expr.span, "too large",
                 (f"values must stay below {MAX_INT:,} in magnitude",))


def _finite(value, expr):
    if isinstance(value, float) and not math.isfinite(value):
        return _raise(error("E0211", "number too large", expr.span, "not a finite number",
                            ("`1e999` and similar overflow to infinity",)))
    if isinstance(value, int) and abs(value) > MAX_INT * MAX_INT:
        return _raise(_too_large(expr))
    return value


def _raise(exc):
    raise exc


def describe(value: Value) -> str:
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, Symbol):
        return f"`{value.name}`"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, tuple):
        return "a tuple"
    return f"`{value!r}`"


def as_int(value: Value, expr: ir.Expr, what: str, dimension: bool = False) -> int:
    """An integer count; integral floats such as `img / 4` with img=28 are accepted.

    `dimension`: the count is a size (of a tensor or a layer), so a fraction is E0302, not E0219.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error("E0209", f"{what} must be an integer, found {describe(value)}", expr.span, "not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise error("E0302" if dimension else "E0219", f"{what} must be a whole number, but this is {value:g}",
                        expr.span, "fractional", (), _whole_help(expr))
        value = int(value)
    if abs(value) > MAX_INT:
        raise _too_large(expr)
    return value


def _whole_help(expr: ir.Expr) -> str:
    if isinstance(expr, ir.BinOp) and expr.op == "/":
        return "use `//` for integer division"
    if isinstance(expr, ir.Num):
        return f"write a whole number, e.g. `{max(1, round(expr.value))}`"
    return "round it, or use `//` for integer division"


def expr_text(expr: ir.Expr) -> str:
    """A short rendering of an argument for a help line: numbers and names as written, anything else `...`."""
    if isinstance(expr, ir.Num):
        return f"{expr.value:g}" if isinstance(expr.value, float) else str(expr.value)
    if isinstance(expr, ir.Name):
        return expr.id
    return "..."
