"""The commands around the compiler: `fmt`, `graph`, `lsp` and `report`.

cli.py calls `add_tool_commands` to register them; each imports its module only
when it runs, so `gendsl check` pays nothing for them.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

EXIT_OK, EXIT_USER = 0, 1
# `gendsl graph`'s choices live here, not in graph_view, so that building the parser does not
# import networkx (graph_view's) for commands that never draw a graph, such as `fmt`
GRAPH_FORMATS = ("dot", "mermaid", "svg", "png")
GRAPH_RENDERERS = ("auto", "dot", "matplotlib")


def add_tool_commands(sub) -> None:
    p = sub.add_parser("fmt", help="rewrite specs in the one canonical layout, keeping every comment",
                       description="Rewrite .gen files in place in the canonical layout (comments kept). "
                                   "`-` reads standard input and writes the result to standard output.")
    p.add_argument("files", nargs="+", metavar="FILE", help="one or more .gen specs, or `-` for standard input")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    p.set_defaults(fn=cmd_fmt)

    p = sub.add_parser("graph", help="draw a spec's model: data, latents, networks, values and losses",
                       description="Print the model of a spec as a graph (DOT or Mermaid text), or draw it as "
                                   "SVG or PNG with Graphviz's `dot` (or networkx + matplotlib without it).")
    p.add_argument("spec", metavar="SPEC", help="a .gen spec")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output; the format "
                                                          "follows the suffix when --format is not given)")
    p.add_argument("--format", choices=GRAPH_FORMATS, default=None, help="dot (default), mermaid, svg or png")
    p.add_argument("--renderer", choices=GRAPH_RENDERERS, default="auto",
                   help="for svg and png: Graphviz's dot, matplotlib, or auto (dot when installed)")
    p.set_defaults(fn=cmd_graph)

    p = sub.add_parser("lsp", help="run the language server on stdin/stdout (needs `pip install gendsl[lsp]`)")
    p.set_defaults(fn=cmd_lsp)

    p = sub.add_parser("report", help="write RUN/report.html from a training run's folder",
                       description="Write one self-contained page (images inlined) from a run's losses.csv, "
                                   "metrics.json and samples/: loss curves, sample grids over epochs, metrics, "
                                   "the model's graph, the command line and the environment.")
    p.add_argument("run", metavar="RUN", help="the run's output folder (train.py --out)")
    p.add_argument("--spec", metavar="SPEC", help="the spec, for its graph and text")
    p.add_argument("--command", metavar="TEXT", help="the command line that ran the training, to show")
    p.set_defaults(fn=cmd_report)


# ---- fmt ---------------------------------------------------------------------------------

def cmd_fmt(args) -> int:
    from gendsl.formats import print_diagnostics as _print_diagnostics
    from gendsl.driver import Result, read_source
    from gendsl.fmt import FormatError, format_text
    from gendsl.source import SourceFile

    status = EXIT_OK
    for path in args.files:
        if path == "-":
            source, problem = SourceFile("<stdin>", sys.stdin.read()), None
        else:
            source, problem = read_source(path)
        if problem is not None:
            _print_diagnostics(Result(source, [problem]))
            status = EXIT_USER
            continue
        try:
            text = format_text(source.text, source.path)
        except FormatError as exc:
            _print_diagnostics(Result(source, exc.diagnostics))
            status = EXIT_USER
            continue
        if path == "-" and not (args.check or args.diff):
            sys.stdout.write(text)
            continue
        if text == source.text:
            continue
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(source.text.splitlines(True), text.splitlines(True),
                                                       f"{source.path} (original)", f"{source.path} (formatted)"))
        if args.check:
            print(f"{source.path}: would reformat", file=sys.stderr)
            status = EXIT_USER
        elif not args.diff:
            _replace(Path(path), text)
            print(f"reformatted {source.path}", file=sys.stderr)
    return status


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---- graph -------------------------------------------------------------------------------

def cmd_graph(args) -> int:
    from gendsl.formats import print_diagnostics as _print_diagnostics
    from gendsl.driver import compile_path
    from gendsl.graph_view import GraphError, graph_output

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
        fmt = {"gv": "dot", "mmd": "mermaid"}.get(suffix, suffix) if suffix in GRAPH_FORMATS + ("gv", "mmd") else "dot"
    result = compile_path(args.spec, emit_files=False)
    _print_diagnostics(result)
    if not result.ok:
        return EXIT_USER
    if fmt == "png" and not args.output:
        print("gendsl graph: PNG is binary; write it to a file with -o FILE.png", file=sys.stderr)
        return EXIT_USER
    try:
        data = graph_output(result.model, fmt, args.renderer)
    except GraphError as exc:
        print(f"gendsl graph: {exc}", file=sys.stderr)
        return EXIT_USER
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return EXIT_OK


# ---- lsp and report ----------------------------------------------------------------------

def cmd_lsp(args) -> int:
    try:
        from gendsl.lsp.server import serve
    except ImportError as exc:
        print(f"gendsl lsp needs the `lsp` extra: pip install 'gendsl[lsp]' ({exc})", file=sys.stderr)
        return EXIT_USER
    serve()
    return EXIT_OK


def cmd_report(args) -> int:
    from gendsl.runtime.report import write_report

    run = Path(args.run)
    if not run.is_dir():
        print(f"gendsl report: `{args.run}` is not a folder (pass the --out folder of a training run)",
              file=sys.stderr)
        return EXIT_USER
    graph = spec_text = None
    if args.spec:
        from gendsl.formats import print_diagnostics as _print_diagnostics
        from gendsl.driver import compile_path
        from gendsl.graph_view import GraphError, graph_output

        result = compile_path(args.spec, emit_files=False)
        _print_diagnostics(result)
        if not result.ok:
            return EXIT_USER
        spec_text = result.source.text
        try:
            graph = graph_output(result.model, "svg")
        except GraphError as exc:  # the page is still useful without its picture
            print(f"gendsl report: no graph: {exc}", file=sys.stderr)
    path = write_report(run, command=args.command, graph=graph, spec_text=spec_text)
    print(f"wrote {path.as_posix()}", file=sys.stderr)
    return EXIT_OK
