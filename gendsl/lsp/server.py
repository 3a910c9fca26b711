"""The language server: pygls over stdio. Diagnostics on open and change (with related locations),
hover (shape and parameter count), go to definition (into imported and extended files too), completion
of layers and their arguments."""

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

def _uri_of(file: SourceFile, analysis: Analysis, uri: str) -> str:
    return uri if file is analysis.source else Path(file.origin or file.path).resolve().as_uri()


def lsp_diagnostics(analysis: Analysis, uri: str) -> list[T.Diagnostic]:
    """The document's diagnostics. Spans in the files it imports or extends become related locations
    in those files; a diagnostic whose own span lies in another file (a variant's value that breaks its
    base's network) is shown at this document's part in it: its first mark here, or the line that
    brings that file in."""
    source = analysis.source
    sources = analysis.sources or source
    out = []
    for d in analysis.diagnostics:
        span = d.span or Span(0, 0)
        message = d.message + "".join(f"\nnote: {n}" for n in d.notes) + (f"\nhelp: {d.help}" if d.help else "")
        related = [(s, label or "here") for s, label in d.related]
        home = sources.file_of(span)
        if home is not source:
            related.insert(0, (span, d.label or d.message))
            here = [s for s, _ in d.related if sources.file_of(s) is source]
            span = here[0] if here else _bringing_in(analysis, home)
            message = f"{home.path}:{home.line_col(d.span.start)[0]}: {message}"
        info = [T.DiagnosticRelatedInformation(
            location=T.Location(uri=_uri_of(sources.file_of(s), analysis, uri), range=to_range(sources.file_of(s), s)),
            message=label) for s, label in related]
        out.append(T.Diagnostic(range=to_range(source, span), message=message, source="gendsl", code=d.code,
                                severity=T.DiagnosticSeverity.Error if d.is_error else T.DiagnosticSeverity.Warning,
                                related_information=info or None))
    return out


def _bringing_in(analysis: Analysis, file: SourceFile) -> Span:
    """The `import` or `model ... extends` line of the document through which `file` was read (the
    `extends` line when it came in further down the chain of bases)."""
    from gendsl import ir

    decls = analysis.spec.decls if analysis.spec is not None else []
    lines = [(d, d.path) for d in decls if isinstance(d, ir.Import)] + \
        [(d, d.extends) for d in decls if isinstance(d, ir.Model) and d.extends_file]
    for decl, path in lines:
        if analysis._file(path) is file:
            return decl.span
    bases = [d.span for d in decls if isinstance(d, ir.Model) and d.extends] + [d.span for d, _ in lines]
    return bases[0] if bases else Span(0, 0)


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
    found = analysis.definition(to_offset(analysis.source, params.position))
    if found is None:
        return None
    file, span = found
    return T.Location(uri=_uri_of(file, analysis, uri), range=to_range(file, span))


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
