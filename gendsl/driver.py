"""One spec through every stage: read, parse, check, emit. The CLI and tests call this."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gendsl.check.result import CheckedModel
from gendsl.diagnostics import Diagnostic, Reporter
from gendsl.source import SourceFile

MAX_SOURCE_BYTES = 1_000_000  # a spec is a page or two; 1 MB is surely not one


@dataclass
class Result:
    source: SourceFile
    diagnostics: list[Diagnostic] = field(default_factory=list)
    model: CheckedModel | None = None
    files: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def display_path(path: str | os.PathLike) -> str:
    """The path as written in generated headers: relative to the working directory, with `/`."""
    p = Path(path)
    try:
        p = p.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        p = Path(p.name) if p.is_absolute() else p
    return p.as_posix()


def read_source(path: str) -> tuple[SourceFile, Diagnostic | None]:
    shown = display_path(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        return SourceFile(shown, ""), Diagnostic(
            "error", "E0105", f"cannot read file `{shown}`: {reason}", None, "", (),
            "check the path" if isinstance(exc, FileNotFoundError) else
            "pass a .gen file" if isinstance(exc, IsADirectoryError) else None)
    if len(raw) > MAX_SOURCE_BYTES:
        return SourceFile(shown, ""), Diagnostic(
            "error", "E0106", f"file is {len(raw):,} bytes; specs are limited to {MAX_SOURCE_BYTES:,}", None, "", (),
            "a spec is a page or two of text; is this the right file?")
    if raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark some editors write: not part of the text
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[:exc.start].decode("utf-8", "replace")
        source = SourceFile(shown, prefix + "\ufffd")
        return source, Diagnostic("error", "E0107", "file is not valid UTF-8",
                                  _span_at(len(prefix)), f"invalid byte 0x{raw[exc.start]:02x} here", (),
                                  "save the file as UTF-8")
    if "\x00" in text:
        pos = text.index("\x00")
        return SourceFile(shown, text), Diagnostic("error", "E0107", "file contains a NUL byte", _span_at(pos),
                                                   "NUL byte", (), "is this a text file?")
    return SourceFile(shown, text), None


def _span_at(pos: int):
    from gendsl.source import Span
    return Span(pos, pos + 1)


def compile_source(source: SourceFile, emit_files: bool = True) -> Result:
    """Parse, check and (when there are no errors) emit."""
    from gendsl.check import check
    from gendsl.syntax import parse

    reporter = Reporter()
    result = Result(source)
    spec = parse(source, reporter)
    if spec is not None:
        result.model = check(spec, source, reporter)
    result.diagnostics = sorted(reporter.diagnostics, key=lambda d: (d.span.start if d.span else -1, d.code))
    if result.ok and result.model is not None and emit_files:
        from gendsl.emit import emit
        result.files = emit(result.model)
    return result


def compile_path(path: str, emit_files: bool = True) -> Result:
    source, problem = read_source(path)
    if problem is not None:
        return Result(source, [problem])
    return compile_source(source, emit_files)
