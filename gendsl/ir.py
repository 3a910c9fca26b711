"""The typed IR of a spec, as written: declarations and expressions with spans.

Nothing here is resolved or checked; `gendsl.compose` merges the files of a
variant into one `Spec` and `gendsl.check` checks it. Declarations keep source
order. Spans are global offsets (see gendsl/source.py), so a node from any file
of a compile carries where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gendsl.source import Span

# ---- expressions -----------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class Attribute:
    """`net.layer`: the activation of a named layer inside a network."""

    obj: str
    attr: str
    span: Span
    attr_span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / // % **
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # - +
    operand: "Expr"
    span: Span


@dataclass(frozen=True)
class Kwarg:
    name: str
    value: "Expr"
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[Kwarg, ...]
    span: Span
    func_span: Span


@dataclass(frozen=True)
class Tuple:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class List:
    items: tuple["Expr", ...]
    span: Span


Expr = Num | Str | Name | Attribute | BinOp | Unary | Call | Tuple | List

# ---- types -----------------------------------------------------------------


@dataclass(frozen=True)
class ShapeType:
    """`[d, ...]`, `image[c, h, w]`, `vector[n]` or `label[classes]`."""

    kind: str | None
    dims: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class NamedType:
    """The type of a `data` or `latent` declaration, by its name."""

    name: str
    span: Span


Type = ShapeType | NamedType

# ---- declarations ----------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str
    extends: str | None  # a path (`extends "base.gen"`) or an import alias (`extends blocks`)
    span: Span
    name_span: Span
    extends_file: bool = False  # whether `extends` is a path
    extends_span: Span | None = None


@dataclass(frozen=True)
class Import:
    """`import "path.gen" [as alias]`, or `from "path.gen" import a, b` (then `names` is set)."""

    path: str
    span: Span
    alias: str | None = None
    names: tuple[Name, ...] = ()
    path_span: Span | None = None
    alias_span: Span | None = None


@dataclass(frozen=True)
class Ref:
    """A declaration named in another file or in this one: `blocks.Encoder32` or `Encoder32`."""

    module: str | None
    name: str
    span: Span


@dataclass(frozen=True)
class Param:
    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Data:
    name: str
    type: Type
    range: tuple[Expr, Expr] | None
    source: Str | None
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Latent:
    name: str
    type: Type
    prior: Call
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Schedule:
    name: str
    value: Call
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Element:
    """One layer of a chain, or (first in a chain) the tensor it starts from."""

    op: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    has_parens: bool
    span: Span
    op_span: Span


@dataclass(frozen=True)
class Statement:
    """`[name =] element -> element -> ...`"""

    name: str | None
    elements: tuple[Element, ...]
    span: Span
    name_span: Span | None


@dataclass(frozen=True)
class Input:
    name: str
    type: Type | None
    span: Span


@dataclass(frozen=True)
class Head:
    name: str | None  # None: the single, unnamed output
    type: Type
    span: Span


@dataclass(frozen=True)
class TParam:
    """A parameter of a reusable network: `nz` or `ngf = 64` in `network G[nz, ngf = 64](...)`."""

    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Network:
    role: str
    name: str
    inputs: tuple[Input, ...]
    outputs: tuple[Head, ...]
    body: tuple[Statement, ...]
    span: Span
    name_span: Span
    role_span: Span
    tparams: tuple[TParam, ...] = ()


@dataclass(frozen=True)
class Instance:
    """`generator netG = blocks.DCGANGenerator(nz=128)`: a copy of a network with its parameters bound."""

    role: str
    name: str
    ref: Ref
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span
    name_span: Span
    role_span: Span


@dataclass(frozen=True)
class Assign:
    targets: tuple[Name, ...]
    value: Expr
    span: Span


@dataclass(frozen=True)
class Sample:
    target: Name
    dist: Expr
    span: Span


@dataclass(frozen=True)
class Forward:
    steps: tuple[Assign | Sample, ...]
    span: Span


@dataclass(frozen=True)
class Loss:
    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Setting:
    key: str
    target: str | None
    value: Expr
    span: Span
    key_span: Span
    target_span: Span | None
    override: bool = False


@dataclass(frozen=True)
class RemoveSetting:
    """`remove key` or `remove key.target` inside a `train` block of a variant."""

    key: str
    target: str | None
    span: Span


@dataclass(frozen=True)
class Train:
    settings: tuple[Setting | RemoveSetting, ...]
    span: Span
    name: str | None = None  # a named block is a reusable set of settings, applied by `train extends NAME`
    extends: Ref | None = None
    name_span: Span | None = None


# ---- variants --------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """`override <declaration>`: redefine something the base declares."""

    decl: "Decl"
    span: Span


@dataclass(frozen=True)
class StatementEdit:
    """`override net.stmt = a -> b`: replace a named statement of a network (inside `Override`)."""

    network: str
    statement: str
    elements: tuple[Element, ...]
    span: Span
    network_span: Span
    statement_span: Span


@dataclass(frozen=True)
class Remove:
    """`remove name`, `remove net.stmt` or `remove loss term`."""

    kind: str  # "name", "statement" or "loss"
    name: str
    member: str | None
    span: Span
    name_span: Span
    member_span: Span | None


@dataclass(frozen=True)
class Insert:
    """`insert after net.stmt { ... }` (or `before`)."""

    place: str
    network: str
    statement: str
    body: tuple[Statement, ...]
    span: Span
    network_span: Span
    statement_span: Span


Decl = Model | Import | Param | Data | Latent | Schedule | Network | Instance | Forward | Loss | Train | \
    Override | Remove | Insert


@dataclass
class Spec:
    """A parsed file: its declarations in source order."""

    decls: list[Decl] = field(default_factory=list)

    def of(self, kind):
        return [d for d in self.decls if isinstance(d, kind)]
