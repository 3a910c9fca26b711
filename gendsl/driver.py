"""One spec through every stage: read, parse, check, emit. The CLI and tests call this."""

from __future__ import annotations

import gc
import hashlib
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gendsl.diagnostics import MAX_ERRORS, Diagnostic, Reporter, TooManyErrors
from gendsl.compose import Composition
from gendsl.source import SourceFile, SourceMap

if TYPE_CHECKING:  # the checker (and its networkx) is imported by compile_source, when a spec is checked
    from gendsl.check.result import CheckedModel

MAX_SOURCE_BYTES = 1_000_000  # a spec is a page or two; 1 MB is surely not one


@dataclass
class Result:
    source: SourceFile | SourceMap  # every file the diagnostics point into
    diagnostics: list[Diagnostic] = field(default_factory=list)
    model: CheckedModel | None = None
    files: dict[str, str] | None = None
    composition: Composition | None = None  # the merged spec and where each value came from
    stopped: str | None = None  # MAX_ERRORS errors were found: checking stopped there, with this message

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


def compile_source(source: SourceFile, emit_files: bool = True, sets=()) -> Result:
    """Compose (imports, bases, `--set` values), check and, when there are no errors, emit."""
    from gendsl.check import check
    from gendsl.compose import compose

    reporter = Reporter()
    collecting = gc.isenabled()
    gc.disable()  # a 1 MB spec is a million short-lived objects: the cyclic collector made it superlinear
    result = None
    try:
        composition = compose(source, reporter, read_source, tuple(sets))
        result = Result(composition.sources, composition=composition)
        if composition.spec is not None and not (reporter.has_errors and not composition.spec.decls):
            result.model = check(composition.spec, composition.sources, reporter)
    except TooManyErrors:
        if result is None:
            result = Result(source)
        result.model = None
        result.stopped = f"{source.path}: too many errors ({MAX_ERRORS}), stopping; fix these and check again"
    finally:
        if collecting:
            gc.enable()
    result.diagnostics = sorted(reporter.diagnostics, key=lambda d: (d.span.start if d.span else -1, d.code))
    if result.model is not None:
        result.model = replace(result.model, sha256=spec_sha256(composition))
    if result.ok and result.model is not None and emit_files:
        from gendsl.emit import emit
        result.files = emit(result.model, provenance(composition))
    return result


def spec_sha256(composition: Composition) -> str:
    """The hash a generated file records: the spec's own for a spec alone; else one over every file read
    (path and hash, in reading order) and every `--set` value, so a change in any of them shows."""
    files = composition.files
    if len(files) == 1 and not composition.sets:
        return files[0].sha256
    text = "".join(f"{f.path} {f.sha256}\n" for f in files) + "".join(f"--set {s}\n" for s in composition.sets)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def provenance(composition: Composition) -> tuple[str, ...]:
    """The header lines naming every source file with its sha256 and every `--set` value (none for a
    spec alone, whose header already names it and its hash). A file's hash goes on the line under its
    path, so that generated lines stay under 100 characters."""
    files = composition.files
    if len(files) == 1 and not composition.sets:
        return ()
    return tuple(line for f in files for line in (f"source {f.path}", f"  sha256: {f.sha256}")) + \
        tuple(f"--set {s}" for s in composition.sets)


def compile_path(path: str, emit_files: bool = True, sets=()) -> Result:
    source, problem = read_source(path)
    if problem is not None:
        return Result(source, [problem])
    source.origin = str(path)  # imports are found next to the file, wherever the working directory is
    return compile_source(source, emit_files, sets)
