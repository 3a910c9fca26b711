"""Source files and spans: where every diagnostic points.

A compile may read several files (a variant, its bases, the libraries they
import, the `--set` values of the command line). As in rustc's `SourceMap`,
every file gets its own range of one global offset space: file k starts where
file k-1 ended (plus one), so a `Span` is still two integers, arithmetic on
spans (`Span(s.start, s.start + 3)`) stays valid everywhere, and the file a
span belongs to is found from its start alone (`SourceMap.file_of`).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) in the global offset space of one compile."""

    start: int
    end: int

    def join(self, other: "Span") -> "Span":
        return Span(min(self.start, other.start), max(self.end, other.end))


NO_SPAN = Span(0, 0)


class SourceFile:
    """The text of a spec with line lookup. `path` is as shown to the user; `base` is the global offset
    of its first character (0 for the first file of a compile); `origin` is where it was read from
    (imports are found relative to it), when that differs from `path`."""

    def __init__(self, path: str, text: str, base: int = 0, origin: str | None = None):
        self.path = path
        self.text = text
        self.base = base
        self.origin = origin
        self._line_starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self._line_starts.append(i + 1)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def end(self) -> int:
        """The global offset just past this file's last character."""
        return self.base + len(self.text)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset (global; the same as local for base 0)."""
        offset = max(0, min(offset - self.base, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def local(self, span: Span) -> Span:
        """The span as offsets into this file's own text."""
        return Span(span.start - self.base, span.end - self.base)

    def file_of(self, span_or_offset) -> "SourceFile":
        return self

    @property
    def files(self) -> list["SourceFile"]:
        return [self]


class SourceMap:
    """Every file of one compile, in the order they were read. The first is the spec named on the
    command line. Behaves like that file where one file is expected (`path`), and like the
    concatenation of all files where text is sliced by span (`text`)."""

    def __init__(self, first: SourceFile | None = None):
        self.files: list[SourceFile] = []
        self._starts: list[int] = []
        self._text: str | None = None
        if first is not None:
            self.add(first)

    def add_text(self, path: str, text: str, origin: str | None = None) -> SourceFile:
        base = self.files[-1].end + 1 if self.files else 0
        return self.add(SourceFile(path, text, base, origin))

    def add(self, file: SourceFile) -> SourceFile:
        if file.base == 0 and self.files:
            file = SourceFile(file.path, file.text, self.files[-1].end + 1, file.origin)
        self.files.append(file)
        self._starts.append(file.base)
        self._text = None
        return file

    @property
    def path(self) -> str:
        return self.files[0].path if self.files else ""

    @property
    def text(self) -> str:
        """All files joined by one newline each: `text[span.start:span.end]` is the text of any span."""
        if self._text is None:
            self._text = "\n".join(f.text for f in self.files)
        return self._text

    def file_of(self, span_or_offset) -> SourceFile:
        offset = span_or_offset.start if isinstance(span_or_offset, Span) else span_or_offset
        index = max(0, bisect.bisect_right(self._starts, offset) - 1)
        return self.files[index]

    def line_col(self, offset: int) -> tuple[int, int]:
        return self.file_of(offset).line_col(offset)

    def where(self, span: Span) -> str:
        """`path:line` of a span, as notes and `explain` print it."""
        file = self.file_of(span)
        return f"{file.path}:{file.line_col(span.start)[0]}"
