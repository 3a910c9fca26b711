"""The `gendsl` command: check, summary, compile, run, resolve, explain (and fmt, graph, lsp, report: tools_cli.py).

User errors exit 1 with diagnostics; an internal failure exits 2 with one line
naming the spec. Users never see a traceback (set GENDSL_TRACEBACK=1 to).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gendsl import __version__
from gendsl.files import output_dir, write_files
from gendsl.formats import print_diagnostics as _print_diagnostics

EXIT_OK, EXIT_USER, EXIT_INTERNAL = 0, 1, 2


def _writer(args):
    """The diagnostics writer of `--format` (text, or github under GitHub Actions)."""
    from gendsl.formats import DiagnosticWriter

    if getattr(args, "writer", None) is None:
        args.writer = DiagnosticWriter(args.format)
    return args.writer


def _internal_error(path: str, exc: BaseException) -> int:
    if os.environ.get("GENDSL_TRACEBACK"):
        raise exc
    print(f"{path}: internal error: {type(exc).__name__}: {exc} (please report this, with the spec)",
          file=sys.stderr)
    return EXIT_INTERNAL


def environment_error(exc: OSError) -> str:
    """One line for a problem of the machine, not of gendsl: `generated/x/model.py: permission denied`."""
    cause = (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else str(exc)
    where = exc.filename if isinstance(exc, OSError) and exc.filename is not None else None
    return f"{where}: {cause}" if where is not None else cause


def _silence_stdout() -> None:
    """The reader of our output went away (`gendsl ... | head`): send the rest nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _each(paths, fn) -> int:
    status = EXIT_OK
    for path in paths:
        for attempt in (1, 2):
            try:
                status = max(status, fn(path))
                sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            except BrokenPipeError:
                # the output pipe closed: do the work again with stdout to /dev/null, so the exit
                # status (and what gets written) is the same as if everything had been read
                _silence_stdout()
                if attempt == 1:
                    continue
            except OSError as exc:  # the file system: full, read-only, a file where a folder goes ...
                print(f"gendsl: error: {environment_error(exc)}", file=sys.stderr)
                status = max(status, EXIT_USER)
            except RecursionError as exc:
                status = max(status, _internal_error(path, exc))
            except Exception as exc:  # noqa: BLE001 - the last line of defence
                status = max(status, _internal_error(path, exc))
            break
    return status


def cmd_check(args) -> int:
    from gendsl.driver import compile_path

    def one(path):
        result = compile_path(path, emit_files=False, sets=args.set)
        _print_diagnostics(result, _writer(args))
        return EXIT_OK if result.ok else EXIT_USER
    return _each(args.files, one)


def cmd_summary(args) -> int:
    from gendsl.driver import compile_path
    from gendsl.summary import summary_table

    def one(path):
        result = compile_path(path, emit_files=False, sets=args.set)
        _print_diagnostics(result, _writer(args))
        if not result.ok:
            return EXIT_USER
        print(summary_table(result.model), file=_writer(args).human)
        return EXIT_OK
    return _each(args.files, one)


def cmd_compile(args) -> int:
    from gendsl.driver import compile_path

    results: dict[str, object] = {}

    def compile_one(path):
        results[path] = result = compile_path(path, sets=args.set)
        _print_diagnostics(result, _writer(args))
        return EXIT_OK if result.ok else EXIT_USER
    status = _each(args.files, compile_one)
    by_folder: dict[Path, list[str]] = {}
    for path, result in results.items():
        if result.ok:
            by_folder.setdefault(_key(output_dir(args.output, result.model.name)), []).append(path)
    clashes = {path for paths in by_folder.values() if len(paths) > 1 for path in paths}
    for paths in by_folder.values():
        if len(paths) > 1:
            name = results[paths[0]].model.name
            shown = ", ".join(f"`{results[p].source.path}`" for p in paths)
            print(f"gendsl: error: model `{name}` is declared in {shown}; each would write "
                  f"{output_dir(args.output, name).as_posix()}/ (nothing was written there)\n"
                  f"  = help: rename the model in all but one of them", file=sys.stderr)
            status = max(status, EXIT_USER)

    def write_one(path):
        result = results[path]
        folder = output_dir(args.output, result.model.name)
        if args.check:
            return _diff(folder, result.files, _writer(args).human)
        write_files(folder, result.files, quiet=args.quiet, out=_writer(args).human)
        return EXIT_OK
    return max(status, _each([p for p, r in results.items() if r.ok and p not in clashes], write_one))


def _key(folder: Path) -> Path:
    try:
        return folder.resolve()
    except OSError:
        return folder.absolute()


def _diff(folder: Path, files: dict[str, str], out=None) -> int:
    import difflib

    from gendsl.files import stale_files

    out = out or sys.stdout
    status = EXIT_OK
    for name, text in sorted(files.items()):
        target = folder / name
        shown = target.as_posix()
        if target.is_dir():
            print(f"{shown}: a directory where gendsl writes a file", file=out)
            status = EXIT_USER
            continue
        old = target.read_bytes().decode("utf-8", "replace") if target.is_file() else ""
        if old != text:
            status = EXIT_USER
            out.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                f"{shown} (committed)", f"{shown} (generated)"))
            if not old:
                print(f"{shown}: missing; run `gendsl compile` to create it", file=out)
    for name in stale_files(folder, files):
        status = EXIT_USER
        print(f"{(folder / name).as_posix()}: generated earlier, but the spec no longer generates it; "
              "`gendsl compile` removes it", file=out)
    if status:
        print(f"{folder.as_posix()}/ is out of date: run `gendsl compile` and commit the result", file=sys.stderr)
    return status


def cmd_run(args, train_args: list[str]) -> int:
    from gendsl.run import run_spec

    if args.nproc < 1:
        print(f"gendsl: error: --nproc {args.nproc}: the number of processes is at least 1", file=sys.stderr)
        return EXIT_USER
    try:
        return run_spec(args.spec, train_args, output=args.output, write=not args.no_write, sets=args.set,
                        nproc=args.nproc)
    except OSError as exc:
        print(f"gendsl: error: {environment_error(exc)}", file=sys.stderr)
        return EXIT_USER
    except Exception as exc:  # noqa: BLE001
        return _internal_error(args.spec, exc)


def _print_text(spec: str, make) -> int:
    """Print the text `make(path)` gives, or its diagnostics when it gives none."""
    def one(path):
        text, result = make(path)
        _print_diagnostics(result)
        if text is None:
            return EXIT_USER
        sys.stdout.write(text)
        return EXIT_OK
    return _each([spec], one)


def cmd_resolve(args) -> int:
    from gendsl.compose.report import resolve_text
    return _print_text(args.spec, lambda path: resolve_text(path, args.set, args.show_origin))


def cmd_explain(args) -> int:
    from gendsl.compose.report import explain_text
    return _print_text(args.spec, lambda path: explain_text(path, args.name, args.set))


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter or training setting (repeatable): latent=32, train.epochs=5, "
                        "train.optimizer.lr=5e-4")


def _format_option(p: argparse.ArgumentParser) -> None:
    from gendsl.formats import FORMATS

    p.add_argument("--format", choices=FORMATS, default=None,
                   help="how diagnostics are written: text (default; github when GITHUB_ACTIONS=true), JSON lines, "
                        "GitHub workflow commands or one SARIF 2.1.0 log; machine formats go to stdout and the "
                        "command's other output to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gendsl", description="Compile .gen model specs to PyTorch code.")
    parser.add_argument("--version", action="version", version=f"gendsl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="check specs and print diagnostics only")
    p.add_argument("files", nargs="+", metavar="FILE")
    _add_set(p)
    _format_option(p)
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("summary", help="print each network's layers, shapes and parameter counts")
    p.add_argument("files", nargs="+", metavar="FILE")
    _add_set(p)
    _format_option(p)
    p.set_defaults(fn=cmd_summary)

    p = sub.add_parser("compile", help="write generated/<model>/ from specs")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (default: generated)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a diff if the generated files differ")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    _add_set(p)
    _format_option(p)
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser("resolve", help="print a variant merged with its bases as one self-contained spec")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--show-origin", action="store_true", help="mark each declaration with the file:line it came from")
    _add_set(p)
    p.set_defaults(fn=cmd_resolve)

    p = sub.add_parser("explain", help="print the values a name took, file by file")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("name", metavar="NAME", help="a parameter, network, `net.statement`, `loss`, `loss.term`, "
                   "`forward` or `train.setting`")
    _add_set(p)
    p.set_defaults(fn=cmd_explain)

    from gendsl.tools_cli import add_tool_commands

    add_tool_commands(sub)

    # no abbreviations: train.py's --out must not be read as --output, nor --no... as --no-write
    p = sub.add_parser("run", help="compile a spec and train it (other options go to train.py)", allow_abbrev=False)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("-o", "--output", metavar="DIR", help="where to write the generated code (default: generated)")
    p.add_argument("--no-write", action="store_true", help="compile into a temporary folder; leave the tree alone")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes on this machine, launched by torchrun (DistributedDataParallel; "
                        "train.py's --batch-size stays the global batch, N GPUs or N CPU processes)")
    _add_set(p)
    p.set_defaults(fn=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = None  # argparse may exit before there are any
    try:
        if argv and argv[0] == "run":
            cut = argv.index("--") if "--" in argv else len(argv)  # everything after `--` goes to train.py
            args, rest = parser.parse_known_args(argv[:cut])
            return cmd_run(args, rest + argv[cut + 1:])
        args = parser.parse_args(argv)
        return args.fn(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # outside a spec's work (argparse's --help | head): nothing left to do
        _silence_stdout()
        return EXIT_OK
    finally:
        if getattr(args, "writer", None) is not None:
            args.writer.close()
