"""Diagnostics as data: what went wrong, where, and how to fix it.

Checks create `Diagnostic` values; only the CLI renders them (see render.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gendsl.source import Span


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    code: str
    message: str
    span: Span
    label: str = ""  # text written after the carets
    notes: tuple[str, ...] = ()
    help: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class CompileError(Exception):
    """Raised inside a check to abandon one construct; carries one diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Reporter:
    """Collects the diagnostics of one file."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span, label: str = "",
              notes: tuple[str, ...] | list[str] = (), help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("error", code, message, span, label, tuple(notes), help))

    def warning(self, code: str, message: str, span: Span, label: str = "",
                notes: tuple[str, ...] | list[str] = (), help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("warning", code, message, span, label, tuple(notes), help))

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def error(code: str, message: str, span: Span, label: str = "",
          notes: tuple[str, ...] | list[str] = (), help: str | None = None) -> CompileError:
    """Build a CompileError to raise: `raise error("E0301", ...)`."""
    return CompileError(Diagnostic("error", code, message, span, label, tuple(notes), help))


def did_you_mean(name: str, candidates) -> str | None:
    """A `help` text naming the closest candidate, if one is close enough."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
