"""Diagnostics for people and for machines: `--format text|json|github|sarif`.

- text: the rustc-style rendering of render.py, on stderr;
- json: one JSON object per line per diagnostic, on stdout;
- github: GitHub Actions workflow commands (`::error file=...,line=...::message`), on
  stdout; chosen by default when GITHUB_ACTIONS=true;
- sarif: one SARIF 2.1.0 log for the whole command, on stdout when it ends.

Lines and columns are 1-based and count characters (as the text header does);
an end column is exclusive (the column just past the span), as in SARIF.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import quote

from gendsl import __version__
from gendsl.diagnostics import CODES, Diagnostic
from gendsl.source import SourceFile, SourceMap, Span

FORMATS = ("text", "json", "github", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def default_format() -> str:
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


@dataclass(frozen=True)
class Region:
    line: int
    column: int
    end_line: int
    end_column: int  # exclusive

    @staticmethod
    def of(source: SourceFile, span: Span) -> "Region":
        line, column = source.line_col(span.start)
        end = max(span.start, span.end)
        end_line, end_column = source.line_col(end)
        return Region(line, column, end_line, end_column)


@dataclass(frozen=True)
class Location:
    """A span as a file and a region of it: a compile over several files (a variant, its bases, the
    libraries they import) has spans in one offset space, and each belongs to one file."""

    file: str
    region: Region

    @staticmethod
    def of(sources: SourceFile | SourceMap, span: Span) -> "Location":
        file = sources.file_of(span)
        return Location(file.path, Region.of(file, span))


def _primary(d: Diagnostic, sources) -> Location | None:
    return Location.of(sources, d.span) if d.span is not None else None


def _related(d: Diagnostic, sources) -> list[tuple[Location, str]]:
    return [(Location.of(sources, span), label) for span, label in d.related]


# ---- json lines -------------------------------------------------------------------------

def json_record(d: Diagnostic, sources) -> dict:
    """One diagnostic; `file` is where its primary span lies (the spec compiled when it has none),
    and each related location names its own file."""
    where = _primary(d, sources)
    record = {"file": where.file if where else sources.path, "severity": d.severity, "code": d.code,
              "message": d.message}
    if where is not None:
        r = where.region
        record.update(line=r.line, column=r.column, end_line=r.end_line, end_column=r.end_column)
    record.update(label=d.label, notes=list(d.notes), help=d.help,
                  related=[{"file": loc.file, "line": loc.region.line, "column": loc.region.column,
                            "end_line": loc.region.end_line, "end_column": loc.region.end_column,
                            "message": label} for loc, label in _related(d, sources)])
    return record


# ---- GitHub workflow commands -----------------------------------------------------------

def escape_data(text: str) -> str:
    """The message of a workflow command: `%`, CR and LF are escaped (as @actions/core does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file, title): also `:` and `,`, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(d: Diagnostic, sources) -> str:
    """One workflow command, annotating the primary span's file; related locations (in any file) are
    lines of the message, `path:line:column: label`."""
    where = _primary(d, sources)
    props = [("file", where.file if where else sources.path)]
    if where is not None:
        r = where.region
        props += [("line", str(r.line)), ("col", str(r.column)), ("endLine", str(r.end_line))]
        if r.end_line == r.line:  # GitHub takes a column range only within one line
            props.append(("endColumn", str(r.end_column)))
    props.append(("title", f"{d.code}: {CODES.get(d.code, d.message)}"))
    lines = [d.message + (f" ({d.label})" if d.label else "")]
    lines += [f"{loc.file}:{loc.region.line}:{loc.region.column}: {label}" for loc, label in _related(d, sources)]
    lines += [f"note: {note}" for note in d.notes]
    if d.help:
        lines.append(f"help: {d.help}")
    command = "error" if d.is_error else "warning"
    return f"::{command} " + ",".join(f"{k}={escape_property(v)}" for k, v in props) + \
        "::" + escape_data("\n".join(lines))


# ---- SARIF 2.1.0 ------------------------------------------------------------------------

def _sarif_location(path: str, r: Region | None) -> dict:
    physical: dict = {"artifactLocation": {"uri": quote(path)}}  # a URI reference: spaces become %20
    if r is not None:
        physical["region"] = {"startLine": r.line, "startColumn": r.column, "endLine": r.end_line,
                              "endColumn": r.end_column}
    return {"physicalLocation": physical}


def sarif_log(results: list[tuple[Diagnostic, SourceFile | SourceMap]]) -> dict:
    codes = sorted({d.code for d, _ in results})
    rules = [{"id": code, "name": code, "shortDescription": {"text": CODES.get(code, code)},
              "help": {"text": f"see {code} in gendsl's docs/diagnostics.md"}} for code in codes]
    out = []
    for d, sources in results:
        text = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        where = _primary(d, sources)
        result = {"ruleId": d.code, "ruleIndex": codes.index(d.code),
                  "level": "error" if d.is_error else "warning", "message": {"text": text},
                  "locations": [_sarif_location(where.file, where.region) if where else
                                _sarif_location(sources.path, None)]}
        if d.label and where is not None:
            result["locations"][0]["message"] = {"text": d.label}
        related = []
        for k, (loc, label) in enumerate(_related(d, sources)):
            location = _sarif_location(loc.file, loc.region)
            location["id"] = k
            location["message"] = {"text": label}
            related.append(location)
        if related:
            result["relatedLocations"] = related
        out.append(result)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "gendsl", "version": __version__, "rules": rules}},
                      "columnKind": "unicodeCodePoints", "results": out}]}


# ---- the writer the CLI uses --------------------------------------------------------------

class DiagnosticWriter:
    """Writes the diagnostics of each file as they come, in one format; `close()` ends the stream."""

    def __init__(self, fmt: str | None = None, out: TextIO | None = None, err: TextIO | None = None):
        self.format = fmt or default_format()
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self._sarif: list[tuple[Diagnostic, SourceFile]] = []

    @property
    def machine(self) -> bool:
        """Whether stdout carries the diagnostics (other output then goes to stderr)."""
        return self.format != "text"

    @property
    def human(self) -> TextIO:
        """Where a command prints what is not a diagnostic (tables, diffs, `wrote ...`)."""
        return self.err if self.machine else self.out

    def write(self, diagnostics, source: SourceFile | SourceMap) -> None:
        for d in diagnostics:
            if self.format == "text":
                from gendsl.render import render

                print(render(d, source), file=self.err)
                print(file=self.err)
            elif self.format == "json":
                print(json.dumps(json_record(d, source), ensure_ascii=False), file=self.out)
            elif self.format == "github":
                print(github_command(d, source), file=self.out)
            else:
                self._sarif.append((d, source))

    def close(self) -> None:
        if self.format == "sarif":
            json.dump(sarif_log(self._sarif), self.out, indent=2, ensure_ascii=False)
            self.out.write("\n")
        self.out.flush()


def print_diagnostics(result, writer: DiagnosticWriter | None = None) -> None:
    """A compile result's diagnostics (text by default), and the line saying why checking stopped."""
    (writer or DiagnosticWriter("text")).write(result.diagnostics, result.source)
    if getattr(result, "stopped", None):
        print(result.stopped, file=sys.stderr)
