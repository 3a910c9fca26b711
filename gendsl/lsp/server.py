"""The language server: pygls over stdio. Diagnostics on open and change (with related locations),
hover (shape and parameter count), go to definition, completion of layers and their arguments."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

from gendsl import __version__
from gendsl.lsp.analysis import Analysis
from gendsl.source import SourceFile, Span

server = LanguageServer("gendsl", __version__)
_analyses: dict[str, Analysis] = {}

_KINDS = {"layer": T.CompletionItemKind.Function, "argument": T.CompletionItemKind.Property,
          "keyword": T.CompletionItemKind.Keyword, "function": T.CompletionItemKind.Function,
          "name": T.CompletionItemKind.Variable}


# ---- positions: LSP counts UTF-16 code units per line ---------------------------------------

def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def to_position(source: SourceFile, offset: int) -> T.Position:
    line, col = source.line_col(offset)
    return T.Position(line=line - 1, character=_units(source.line_text(line)[:col - 1]))


def to_range(source: SourceFile, span: Span) -> T.Range:
    return T.Range(start=to_position(source, span.start), end=to_position(source, max(span.start, span.end)))


def to_offset(source: SourceFile, position: T.Position) -> int:
    if position.line >= source.line_count:
        return len(source.text)
    line = source.line_text(position.line + 1)
    units, index = 0, 0
    while index < len(line) and units < position.character:
        units += _units(line[index])
        index += 1
    return source._line_starts[position.line] + index


def _path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


# ---- diagnostics ---------------------------------------------------------------------------

def lsp_diagnostics(analysis: Analysis, uri: str) -> list[T.Diagnostic]:
    source = analysis.source
    out = []
    for d in analysis.diagnostics:
        span = d.span or Span(0, 0)
        message = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        related = [T.DiagnosticRelatedInformation(location=T.Location(uri=uri, range=to_range(source, s)),
                                                  message=label or "here") for s, label in d.related]
        out.append(T.Diagnostic(range=to_range(source, span), message=message, source="gendsl", code=d.code,
                                severity=T.DiagnosticSeverity.Error if d.is_error else T.DiagnosticSeverity.Warning,
                                related_information=related or None))
    return out


def _analyse(ls: LanguageServer, uri: str) -> None:
    document = ls.workspace.get_text_document(uri)
    analysis = Analysis.of(_path(uri), document.source, _analyses.get(uri))
    _analyses[uri] = analysis
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
        uri=uri, version=document.version, diagnostics=lsp_diagnostics(analysis, uri)))


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: T.DidOpenTextDocumentParams) -> None:
    _analyse(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: LanguageServer, params: T.DidChangeTextDocumentParams) -> None:
    _analyse(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: LanguageServer, params: T.DidCloseTextDocumentParams) -> None:
    _analyses.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


# ---- questions ------------------------------------------------------------------------------

def _current(ls: LanguageServer, uri: str) -> Analysis:
    if uri not in _analyses:
        _analyse(ls, uri)
    return _analyses[uri]


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: T.HoverParams) -> T.Hover | None:
    analysis = _current(ls, params.text_document.uri)
    found = analysis.hover(to_offset(analysis.source, params.position))
    if found is None:
        return None
    text, span = found
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text),
                   range=to_range(analysis.source, span))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: LanguageServer, params: T.DefinitionParams) -> T.Location | None:
    uri = params.text_document.uri
    analysis = _current(ls, uri)
    found = analysis.definition(to_offset(analysis.source, params.position), Path(_path(uri)).parent)
    if found is None:
        return None
    path, span = found
    if path is None:
        return T.Location(uri=uri, range=to_range(analysis.source, span))
    start = T.Position(line=0, character=0)
    return T.Location(uri=Path(path).resolve().as_uri(), range=T.Range(start=start, end=start))


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ",", ">", " "]))
def completion(ls: LanguageServer, params: T.CompletionParams) -> T.CompletionList:
    analysis = _current(ls, params.text_document.uri)
    document = ls.workspace.get_text_document(params.text_document.uri)
    if document.source != analysis.source.text:  # a change not analysed yet: complete on the newest text
        analysis = Analysis.of(analysis.source.path, document.source, analysis)
    items = [T.CompletionItem(label=label, kind=_KINDS[kind], detail=detail or None)
             for label, kind, detail in analysis.completion(to_offset(analysis.source, params.position))]
    return T.CompletionList(is_incomplete=False, items=items)


def serve() -> None:
    server.start_io()
