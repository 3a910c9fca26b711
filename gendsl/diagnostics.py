"""Diagnostics as data: what went wrong, where, and how to fix it.

Checks create `Diagnostic` values; only the CLI renders them (see render.py).
Every code a check may use is listed in `CODES` with a one-line title;
docs/diagnostics.md explains each one and tests/diagnostics/ pins its output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from gendsl.source import Span

# code -> title. E01xx files and syntax, E02xx names and values, E03xx shapes,
# E04xx model wiring and contracts, E05xx loss and training, Wxxxx warnings.
CODES: dict[str, str] = {
    "E0101": "unexpected token",
    "E0102": "invalid character",
    "E0103": "unclosed delimiter",
    "E0104": "unmatched closing delimiter",
    "E0105": "cannot read file",
    "E0106": "file too large",
    "E0107": "file is not UTF-8 text",
    "E0108": "empty file",
    "E0109": "expression nested too deeply",
    "E0111": "unknown escape in a string",
    "E0112": "empty string",
    "E0201": "unknown name",
    "E0202": "duplicate name",
    "E0203": "unknown layer",
    "E0204": "tensor used as a layer",
    "E0205": "layer name used as a tensor name",
    "E0206": "invalid identifier",
    "E0207": "reserved name",
    "E0208": "not a constant",
    "E0209": "wrong kind of value",
    "E0210": "division by zero",
    "E0211": "number too large",
    "E0212": "unknown argument",
    "E0213": "missing argument",
    "E0214": "wrong number of arguments",
    "E0215": "argument given twice",
    "E0216": "keyword argument not allowed",
    "E0217": "expected a tensor name",
    "E0218": "parameter cycle",
    "E0219": "not a whole number",
    "E0220": "value out of range",
    "E0221": "invalid choice",
    "E0222": "not a layer to wrap",
    "E0301": "non-positive dimension",
    "E0302": "fractional dimension",
    "E0303": "kernel larger than its input",
    "E0304": "layer cannot take this input",
    "E0305": "reshape changes the number of values",
    "E0306": "shapes cannot be combined",
    "E0307": "layer arguments do not fit the input",
    "E0308": "declared output shape differs",
    "E0309": "cycle in a network",
    "E0310": "empty network",
    "E0311": "network too large",
    "E0312": "layer without input",
    "E0313": "output never computed",
    "E0314": "malformed tensor type",
    "E0315": "unknown tensor kind",
    "E0316": "activation too large",
    "E0401": "latent used before it is sampled",
    "E0402": "sampling something that is not a latent",
    "E0403": "malformed sample",
    "E0404": "posterior shape differs from the latent",
    "E0405": "malformed `forward` step",
    "E0406": "wrong number of network inputs",
    "E0407": "network input has the wrong type",
    "E0408": "wrong number of outputs received",
    "E0409": "labels cannot be corrupted",
    "E0410": "missing declaration",
    "E0411": "declared more than once",
    "E0412": "unknown prior",
    "E0413": "network input without a type",
    "E0416": "data sources that do not form one sample",
    "E0420": "generator output differs from the data",
    "E0421": "encoder input differs from the data",
    "E0422": "discriminator does not return one score",
    "E0502": "two `gan` terms with the same discriminator",
    "E0503": "invalid loss arithmetic",
    "E0504": "unknown loss term",
    "E0505": "loss term arguments do not match",
    "E0506": "`kl` without a posterior",
    "E0507": "code does not depend on the input",
    "E0508": "ambiguous activation",
    "E0509": "not a feature network",
    "E0510": "option of another GAN objective",
    "E0511": "malformed `gan` term",
    "E0512": "`gan` on a network that is not a discriminator",
    "E0513": "fake samples not produced by a network",
    "E0514": "`gan` term with a weight that is not positive",
    "E0515": "`gan` option or objective that cannot train a real side computed by a network",
    "E0518": "auxiliary classifier of a `gan` objective",
    "E0520": "unknown schedule",
    "E0530": "trained network without an optimizer",
    "E0531": "unknown training setting",
    "E0532": "setting does not take a network",
    "E0533": "unknown optimizer, learning-rate schedule or init",
    "E0534": "`ema` of a network that is not a generator",
    "E0535": "`d_steps` of a network that is not a discriminator",
    "E0601": "import cycle",
    "E0602": "cannot import a file",
    "E0603": "name not declared by the imported file",
    "E0604": "name imported twice",
    "E0605": "redefinition without `override`",
    "E0606": "nothing to override, remove or edit",
    "E0610": "unknown `--set` name",
    "E0611": "malformed `--set`",
    "W0401": "unused network",
    "W0402": "unused value",
    "W0501": "Wasserstein critic ends in `sigmoid`",
    "W0502": "gradient penalty through batchnorm",
    "W0503": "contractive penalty through batchnorm",
    "W0504": "auxiliary class head ends in `softmax`",
}


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    code: str
    message: str
    span: Span | None  # None: the whole file (it could not be read)
    label: str = ""  # text written after the carets
    notes: tuple[str, ...] = ()
    help: str | None = None
    related: tuple[tuple[Span, str], ...] = ()  # secondary spans, drawn with `-`

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class CompileError(Exception):
    """Raised inside a check to abandon one construct; carries one diagnostic."""

    def __init__(self, diagnostic: Diagnostic | None):
        super().__init__(diagnostic.message if diagnostic is not None else "cascade")
        self.diagnostic = diagnostic


class Cascade(CompileError):
    """Abandon a construct whose input was already reported broken, quietly."""

    def __init__(self):
        super().__init__(None)


MAX_ERRORS = 50  # then "too many errors, stopping", as compilers do (clang stops at 20, gcc -fmax-errors)


class TooManyErrors(Exception):
    """Raised by the reporter at the MAX_ERRORS-th error: the driver stops checking the file there.
    Not a CompileError, so no check catches it: a file of 100,000 bad lines costs 50 errors' work."""


@dataclass
class Reporter:
    """Collects the diagnostics of one file."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span | None, label: str = "",
              notes: tuple[str, ...] | list[str] = (), help: str | None = None,
              related: tuple[tuple[Span, str], ...] = ()) -> None:
        self.diagnostics.append(Diagnostic("error", code, message, span, label, tuple(notes), help,
                                           tuple(related)))
        self._stop_if_too_many()

    def warning(self, code: str, message: str, span: Span | None, label: str = "",
                notes: tuple[str, ...] | list[str] = (), help: str | None = None,
                related: tuple[tuple[Span, str], ...] = ()) -> None:
        self.diagnostics.append(Diagnostic("warning", code, message, span, label, tuple(notes), help,
                                           tuple(related)))

    def add(self, diagnostic: Diagnostic | None) -> None:
        if diagnostic is not None:  # None: a cascade, already reported upstream
            self.diagnostics.append(diagnostic)
            if diagnostic.is_error:
                self._stop_if_too_many()

    def _stop_if_too_many(self) -> None:
        if self.error_count >= MAX_ERRORS:
            raise TooManyErrors(self.error_count)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    _counted: int = field(default=0, repr=False)
    _errors: int = field(default=0, repr=False)

    @property
    def error_count(self) -> int:
        """Errors reported so far; counts only what was added since the last call (checks ask often)."""
        if len(self.diagnostics) < self._counted:  # the list was filtered: count again
            self._counted = self._errors = 0
        for d in self.diagnostics[self._counted:]:
            self._errors += d.is_error
        self._counted = len(self.diagnostics)
        return self._errors


def error(code: str, message: str, span: Span, label: str = "",
          notes: tuple[str, ...] | list[str] = (), help: str | None = None,
          related: tuple[tuple[Span, str], ...] = ()) -> CompileError:
    """Build a CompileError to raise: `raise error("E0301", ...)`."""
    return CompileError(Diagnostic("error", code, message, span, label, tuple(notes), help, tuple(related)))


MAX_SUGGEST_LENGTH = 40  # a longer unknown name is no typo of a short one
SUGGEST_WINDOW = 50  # names on each side of `name` in each sorted index that reach difflib


def did_you_mean(name: str, candidates) -> str | None:
    """A `help` text naming the closest candidate, if one is close enough.

    Bounded, so that a file of thousands of unknown names costs linear time, not quadratic: with
    many candidates, only the SUGGEST_WINDOW names on each side of `name` in two sorted indexes
    (the names, and the names spelled backwards: a shared prefix or a shared suffix) reach
    difflib, and a name longer than MAX_SUGGEST_LENGTH gets no suggestion.
    """
    import bisect
    import difflib

    if not name or len(name) > MAX_SUGGEST_LENGTH:
        return None
    names, backwards = _suggest_index(frozenset(c for c in candidates if isinstance(c, str)))
    if len(names) <= 4 * SUGGEST_WINDOW:
        near = list(names)
    else:
        found = set()
        for index, key, turn in ((names, name, lambda c: c), (backwards, name[::-1], lambda c: c[::-1])):
            at = bisect.bisect_left(index, key)
            found.update(turn(c) for c in index[max(0, at - SUGGEST_WINDOW):at + SUGGEST_WINDOW])
        near = sorted(found)
    close = difflib.get_close_matches(name, near, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


@lru_cache(maxsize=16)
def _suggest_index(candidates: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The candidates sorted, and sorted spelled backwards; built once per set of names."""
    return tuple(sorted(candidates)), tuple(sorted(c[::-1] for c in candidates))


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 input`, `2 inputs`."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def choices_text(choices) -> str:
    """`a`, `a or b`, `one of a, b or c`: the allowed values in a message."""
    shown = [f"`{c}`" for c in choices]
    if len(shown) == 1:
        return shown[0]
    return ("one of " if len(shown) > 2 else "") + ", ".join(shown[:-1]) + " or " + shown[-1]
