"""`gendsl run SPEC [train options]`: compile, then run the generated train.py.

The training child runs in its own process group, so a Ctrl-C in the terminal reaches only
`gendsl run`, which passes it (and SIGTERM, SIGHUP) on to the child exactly once and waits:
train.py finishes its step, writes a checkpoint and exits 130. The child is never left behind:
on Linux it also gets SIGTERM if `gendsl run` itself dies (even of SIGKILL).

Exit status keeps the README's meaning: the child's own status (0 done, 1 an error, 130 stopped
by a signal), except that a usage error of train.py's options (argparse's 2) is the user's, so
1, and a child killed by signal N gives 128 + N. 2 stays gendsl's internal error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

STOPPED = 130  # train.py's status after a signal: checkpoint written
FORWARDED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def run_spec(spec: str, train_args: list[str], output: str | None = None, write: bool = True, sets=(),
             nproc: int = 1) -> int:
    from gendsl.driver import compile_path
    from gendsl.files import output_dir, write_files
    from gendsl.formats import print_diagnostics

    result = compile_path(spec, sets=sets)
    print_diagnostics(result)
    if not result.ok:
        return 1
    resume = ["gendsl", "run", *(["--no-write"] if not write else []), *(["-o", output] if output else []),
              *(["--nproc", str(nproc)] if nproc > 1 else []),
              *[x for value in sets for x in ("--set", value)], spec, *[a for a in train_args if a != "--resume"],
              "--resume"]
    with tempfile.TemporaryDirectory(prefix="gendsl-graph-") as pictures:
        train_args = [*train_args, *_report_graph(result.model, train_args, Path(pictures))]
        if write:
            folder = output_dir(output, result.model.name)
            write_files(folder, result.files, quiet=True)
            return _train(folder, train_args, resume, nproc)
        return _train_in_temporary_folder(result, train_args, resume, nproc)


def _report_graph(model, train_args: list[str], folder: Path) -> list[str]:
    """`--report-graph FILE` with the model's graph as SVG for train.py's report.html, when the
    report is wanted and a renderer (Graphviz's dot, or matplotlib) is installed."""
    if any(a in ("--no-report", "--dry-run", "-h", "--help") or a.startswith("--report-graph")
           for a in train_args):
        return []
    from gendsl.graph_view import GraphError, graph_output
    try:
        svg = graph_output(model, "svg")
    except (GraphError, OSError, subprocess.SubprocessError):  # no renderer: the report says how to add one
        return []
    path = folder / "graph.svg"
    path.write_bytes(svg)
    return ["--report-graph", str(path)]


def _train_in_temporary_folder(result, train_args: list[str], resume: list[str], nproc: int = 1) -> int:
    from gendsl.files import write_files

    tmp = tempfile.mkdtemp(prefix="gendsl-")
    status = None
    try:
        folder = Path(tmp) / result.model.name
        write_files(folder, result.files, quiet=True)
        status = _train(folder, train_args, resume, nproc)
        return status
    finally:
        if status == STOPPED:  # train.py's own resume line names this folder: keep it working
            print(f"(the generated code stays in {tmp} for that; `gendsl run --no-write` rebuilds it anyway)",
                  file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Its own process group (the terminal's Ctrl-C reaches only `gendsl run`, which forwards it
    once; Popen's process_group= needs Python 3.11); on Linux, SIGTERM when its parent dies, so
    training is never orphaned."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except Exception:  # noqa: BLE001 - only a safety net
            pass


def train_command(folder: Path, train_args: list[str], nproc: int = 1) -> list[str]:
    """python train.py ...; for nproc > 1, torchrun starting nproc processes on this machine
    (`--standalone`: a free port of its own; `--`: torchrun would take train.py's --n for an
    abbreviation of its own options)."""
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                "--", str(folder / "train.py"), *train_args]
    return [sys.executable, str(folder / "train.py"), *train_args]


def _train(folder: Path, train_args: list[str], resume: list[str], nproc: int = 1) -> int:
    command = train_command(folder, train_args, nproc)
    child: subprocess.Popen | None = None
    pending: list[int] = []
    forwarded: list[int] = []

    def forward(signum, frame):
        forwarded.append(signum)
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        child = subprocess.Popen(command, preexec_fn=_child_setup if os.name == "posix" else None)
        for signum in pending:
            child.send_signal(signum)
        status = child.wait()  # PEP 475: a signal runs `forward`, then the wait goes on
    finally:
        if child is not None and child.poll() is None:  # gendsl itself failed: take the child along
            child.terminate()
            child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if nproc > 1 and forwarded and status == 1:
        # torchrun passes the signal to every process, which stop at the same step (rank 0 writes
        # the checkpoint) and exit 130; torchrun itself then exits 1 with a traceback
        status = STOPPED
    if status == STOPPED:
        print(f"Resume with: {shlex.join(resume)}", file=sys.stderr)
    if status < 0:
        return 128 - status
    return 1 if status == 2 else status
