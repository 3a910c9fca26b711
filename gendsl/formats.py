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
from gendsl.source import SourceFile, Span

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


def _related(d: Diagnostic, source: SourceFile) -> list[tuple[Region, str]]:
    return [(Region.of(source, span), label) for span, label in d.related]


# ---- json lines -------------------------------------------------------------------------

def json_record(d: Diagnostic, source: SourceFile) -> dict:
    record = {"file": source.path, "severity": d.severity, "code": d.code, "message": d.message}
    if d.span is not None:
        r = Region.of(source, d.span)
        record.update(line=r.line, column=r.column, end_line=r.end_line, end_column=r.end_column)
    record.update(label=d.label, notes=list(d.notes), help=d.help,
                  related=[{"file": source.path, "line": r.line, "column": r.column, "end_line": r.end_line,
                            "end_column": r.end_column, "message": label} for r, label in _related(d, source)])
    return record


# ---- GitHub workflow commands -----------------------------------------------------------

def escape_data(text: str) -> str:
    """The message of a workflow command: `%`, CR and LF are escaped (as @actions/core does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file, title): also `:` and `,`, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(d: Diagnostic, source: SourceFile) -> str:
    props = [("file", source.path)]
    if d.span is not None:
        r = Region.of(source, d.span)
        props += [("line", str(r.line)), ("col", str(r.column)), ("endLine", str(r.end_line))]
        if r.end_line == r.line:  # GitHub takes a column range only within one line
            props.append(("endColumn", str(r.end_column)))
    props.append(("title", f"{d.code}: {CODES.get(d.code, d.message)}"))
    lines = [d.message + (f" ({d.label})" if d.label else "")]
    lines += [f"{source.path}:{r.line}:{r.column}: {label}" for r, label in _related(d, source)]
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


def sarif_log(results: list[tuple[Diagnostic, SourceFile]]) -> dict:
    codes = sorted({d.code for d, _ in results})
    rules = [{"id": code, "name": code, "shortDescription": {"text": CODES.get(code, code)},
              "help": {"text": f"see {code} in gendsl's docs/diagnostics.md"}} for code in codes]
    out = []
    for d, source in results:
        text = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        result = {"ruleId": d.code, "ruleIndex": codes.index(d.code),
                  "level": "error" if d.is_error else "warning", "message": {"text": text},
                  "locations": [_sarif_location(source.path, Region.of(source, d.span) if d.span else None)]}
        if d.label and d.span is not None:
            result["locations"][0]["message"] = {"text": d.label}
        related = []
        for k, (r, label) in enumerate(_related(d, source)):
            location = _sarif_location(source.path, r)
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

    def write(self, diagnostics, source: SourceFile) -> None:
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
