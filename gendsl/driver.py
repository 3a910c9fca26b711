"""One spec through every stage: read, parse, check, emit. The CLI and tests call this."""

from __future__ import annotations

import gc
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from gendsl.check.result import CheckedModel
from gendsl.diagnostics import MAX_ERRORS, Diagnostic, Reporter, TooManyErrors
from gendsl.source import SourceFile

MAX_SOURCE_BYTES = 1_000_000  # a spec is a page or two; 1 MB is surely not one


@dataclass
class Result:
    source: SourceFile
    diagnostics: list[Diagnostic] = field(default_factory=list)
    model: CheckedModel | None = None
    files: dict[str, str] | None = None
    stopped: bool = False  # MAX_ERRORS errors were found: checking stopped there

    @property
    def stop_message(self) -> str | None:
        if not self.stopped:
            return None
        return f"{self.source.path}: too many errors ({MAX_ERRORS}), stopping; fix these and check again"

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
        raw, size = read_bounded(path, MAX_SOURCE_BYTES)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        return SourceFile(shown, ""), Diagnostic(
            "error", "E0105", f"cannot read file `{shown}`: {reason}", None, "", (),
            "check the path" if isinstance(exc, FileNotFoundError) else
            "pass a .gen file" if isinstance(exc, IsADirectoryError) else None)
    if len(raw) > MAX_SOURCE_BYTES:
        how_big = f"file is {size:,} bytes" if size is not None else f"file is more than {MAX_SOURCE_BYTES:,} bytes"
        return SourceFile(shown, ""), Diagnostic(
            "error", "E0106", f"{how_big}; specs are limited to {MAX_SOURCE_BYTES:,}", None, "", (),
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


def read_bounded(path: str, limit: int) -> tuple[bytes, int | None]:
    """At most `limit + 1` bytes of `path` (one more than allowed shows that it is too large), and the
    file's size when it is a regular file. Never more: /dev/zero, an endless pipe (`yes | gendsl check
    /dev/stdin`) and a 4 GB sparse file cost 1 MB of memory and stop at once."""
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
        chunks, left = [], limit + 1
        while left > 0:
            chunk = f.read(left)  # a pipe may return less than asked: read until EOF or the limit
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    raw = b"".join(chunks)
    return raw, size if size is not None and size >= len(raw) else None  # /proc files say 0 bytes


def _span_at(pos: int):
    from gendsl.source import Span
    return Span(pos, pos + 1)


def compile_source(source: SourceFile, emit_files: bool = True) -> Result:
    """Parse, check and (when there are no errors) emit."""
    from gendsl.check import check
    from gendsl.syntax import parse

    reporter = Reporter()
    result = Result(source)
    collecting = gc.isenabled()
    gc.disable()  # a 1 MB spec is a million short-lived objects: the cyclic collector made it superlinear
    try:
        spec = parse(source, reporter)
        if spec is not None:
            result.model = check(spec, source, reporter)
    except TooManyErrors:
        result.model, result.stopped = None, True
    finally:
        if collecting:
            gc.enable()
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
