"""Hostile and careless input to the compiler and its command line (issue 15).

Each kind of input gets what docs/robustness.md says: a located diagnostic, a one-line error
naming the path and the cause (exit 1), or a quiet exit; never an internal error, a hang or
memory in proportion to the input. Command-line cases run `python -m gendsl` as a subprocess.
No test waits on a clock: processes are awaited, and files are polled for, with a generous
limit that only guards against a hang.
"""

from __future__ import annotations

import difflib
import errno
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gendsl.diagnostics as diagnostics
from gendsl.cli import main
from gendsl.diagnostics import MAX_ERRORS, Reporter, did_you_mean
from gendsl.driver import compile_source, read_bounded
from gendsl.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
TINY = """model tiny
data x: [4] in [0, 1]{source}
encoder enc(x) -> [2] {{
    linear(2)
}}
decoder dec(z: [2]) -> [4] {{
    linear(4) -> sigmoid
}}
forward {{
    z = enc(x)
    x_hat = dec(z)
}}
loss = mse(x_hat, x)
"""


def cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GENDSL_TRACEBACK", None)
    env.update(kw.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "gendsl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=kw.pop("timeout", 300), **kw)


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gendsl: error:")]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "tiny.gen"
    path.write_text(TINY.format(source=""), encoding="utf-8")
    return path


# ---- quadratic work on bad input ------------------------------------------------------------

def test_diagnostics_stop_at_the_cap_with_a_message(tmp_path):
    lines = "".join(f"param p{i} = q{i}\n" for i in range(500))
    (tmp_path / "many.gen").write_text(TINY.format(source="") + lines, encoding="utf-8")
    proc = cli("check", "many.gen", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.count("error[E0201]") == MAX_ERRORS
    assert proc.stderr.rstrip().endswith(f"many.gen: too many errors ({MAX_ERRORS}), stopping; "
                                         "fix these and check again")


def test_reporter_raises_at_the_cap_so_checks_stop_working():
    reporter = Reporter()
    with pytest.raises(diagnostics.TooManyErrors):
        for i in range(MAX_ERRORS + 5):
            reporter.error("E0201", f"unknown name `q{i}`", None)
    assert reporter.error_count == MAX_ERRORS


def test_suggestions_compare_a_bounded_number_of_names(monkeypatch):
    compared = []
    real = difflib.get_close_matches
    monkeypatch.setattr(difflib, "get_close_matches",
                        lambda w, pos, **kw: compared.append(len(pos)) or real(w, pos, **kw))
    names = [f"value_{i:06d}" for i in range(20_000)]
    assert did_you_mean("value_012345x", names) == "did you mean `value_012345`?"
    assert did_you_mean("xvalue_012345", names) == "did you mean `value_012345`?"
    assert did_you_mean("alue_012345", names) == "did you mean `value_012345`?"
    assert max(compared) <= 4 * diagnostics.SUGGEST_WINDOW
    assert did_you_mean("b" * 5000, names + ["b" * 4999]) is None  # no quadratic string comparison


def test_small_candidate_sets_get_the_same_suggestions_as_before():
    for name, candidates in [("lineer", ["linear", "conv2d", "relu"]), ("reul", ["relu", "selu", "gelu"]),
                             ("zzz", ["linear"]), ("adm", ["adam", "adamw", "sgd", "rmsprop"])]:
        old = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
        assert did_you_mean(name, candidates) == (f"did you mean `{old[0]}`?" if old else None)


# ---- bounded reading ---------------------------------------------------------------------------

def test_reading_stops_one_byte_past_the_limit():
    raw, size = read_bounded("/dev/zero", 1000)
    assert len(raw) == 1001 and size is None


def test_dev_zero_is_refused_as_too_large(tmp_path):
    proc = cli("check", "/dev/zero", cwd=tmp_path)
    assert proc.returncode == 1 and "error[E0106]: file is more than 1,000,000 bytes" in proc.stderr


def test_an_endless_pipe_is_refused_without_reading_it_all(tmp_path):
    yes = subprocess.Popen(["yes", "param p = 1"], stdout=subprocess.PIPE)
    try:
        proc = cli("check", "/dev/stdin", cwd=tmp_path, stdin=yes.stdout)
    finally:
        yes.kill()
        yes.wait()
    assert proc.returncode == 1 and "E0106" in proc.stderr


def test_a_huge_sparse_file_costs_no_memory(tmp_path):
    path = tmp_path / "sparse.gen"
    with open(path, "wb") as f:
        f.truncate(4 * 2**30)
    raw, size = read_bounded(str(path), 1_000_000)
    assert len(raw) == 1_000_001 and size == 4 * 2**30
    proc = cli("check", "sparse.gen", cwd=tmp_path)
    assert proc.returncode == 1 and "file is 4,294,967,296 bytes" in proc.stderr


# ---- the string language -----------------------------------------------------------------------

def _string_value(literal: str):
    result = compile_source(SourceFile("s.gen", TINY.format(source=f" from {literal}")), emit_files=False)
    return result


@pytest.mark.parametrize("literal, bad", [(r'"C:\data\x.npz"', r"\d"), (r'"s\um"', r"\u"), (r'"a\nb"', r"\n"),
                                          (r'"tab\there"', r"\t"), (r'"x\N{b}"', r"\N"), (r'"a\ b"', "\\ ")])
def test_unknown_escapes_are_errors_at_the_backslash(literal, bad):
    result = _string_value(literal)
    d = result.diagnostics[0]
    assert d.code == "E0111" and f"`{bad}`" in d.message
    assert result.source.text[d.span.start:d.span.end] == bad


@pytest.mark.parametrize("where", ["from", "import"])
def test_an_empty_string_that_names_something_is_an_error(where):
    text = TINY.format(source=' from ""') if where == "from" else 'import ""\n' + TINY.format(source="")
    result = compile_source(SourceFile("e.gen", text), emit_files=False)
    d = next(d for d in result.diagnostics if d.code == "E0112")
    assert text[d.span.start:d.span.end] == '""'


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=30))
def test_escaped_text_parses_to_exactly_itself(value):
    """`\\"` and `\\\\` are the escapes: any text, escaped so, reads back exactly."""
    from gendsl import ir
    from gendsl.syntax import parse

    literal = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    reporter = Reporter()
    spec = parse(SourceFile("p.gen", f"model m\nparam s = {literal}\n"), reporter)
    if spec is None:  # characters the lexer refuses everywhere (control characters): a located error
        assert reporter.diagnostics and all(d.span is not None for d in reporter.diagnostics)
        return
    (param,) = spec.of(ir.Param)
    assert param.value.value == value


def test_a_windows_path_written_with_doubled_backslashes_is_still_refused_as_a_data_source():
    result = _string_value(r'"C:\\data\\x.npz"')
    assert [d.code for d in result.diagnostics] == ["E0209"]  # `\` is not allowed in a data source


# ---- same model twice ---------------------------------------------------------------------------

def test_two_specs_declaring_the_same_model_are_an_error_naming_both(tmp_path, spec):
    (tmp_path / "other.gen").write_text(TINY.format(source=""), encoding="utf-8")
    proc = cli("compile", "tiny.gen", "other.gen", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert "model `tiny` is declared in `tiny.gen`, `other.gen`" in proc.stderr
    assert not (tmp_path / "out" / "tiny").exists()
    assert cli("compile", "--check", "tiny.gen", "other.gen", "-o", "out", cwd=tmp_path).returncode == 1


# ---- environment problems -----------------------------------------------------------------------

def test_output_path_that_is_a_file(tmp_path, spec):
    (tmp_path / "out").write_text("not a folder")
    one_line_error(cli("compile", "tiny.gen", "-o", "out", cwd=tmp_path), "out/tiny", "not a directory")


def test_output_name_too_long(tmp_path, spec):
    long = "x" * 300
    one_line_error(cli("compile", "tiny.gen", "-o", long, cwd=tmp_path), long, "file name too long")


def test_existing_model_py_that_is_a_directory(tmp_path, spec):
    (tmp_path / "out" / "tiny" / "model.py").mkdir(parents=True)
    one_line_error(cli("compile", "tiny.gen", "-o", "out", cwd=tmp_path), "out/tiny/model.py", "is a directory")
    assert not list((tmp_path / "out" / "tiny").glob(".*.tmp")), "no temporary file left behind"


def test_existing_model_py_that_is_not_utf8_is_replaced(tmp_path, spec):
    (tmp_path / "out" / "tiny").mkdir(parents=True)
    (tmp_path / "out" / "tiny" / "model.py").write_bytes(b"\xff\xfe garbage")
    check = cli("compile", "--check", "tiny.gen", "-o", "out", cwd=tmp_path)
    assert check.returncode == 1 and "Traceback" not in check.stderr and "out/tiny/model.py" in check.stdout
    assert cli("compile", "tiny.gen", "-o", "out", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out" / "tiny" / "model.py").read_text(encoding="utf-8").startswith("# Code generated")


@pytest.mark.parametrize("code, cause", [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "no space left")])
def test_read_only_or_full_disk(tmp_path, spec, monkeypatch, capsys, code, cause):
    monkeypatch.chdir(tmp_path)

    def fail(src, dst):
        raise OSError(code, os.strerror(code), str(dst))
    monkeypatch.setattr(os, "replace", fail)
    assert main(["compile", "tiny.gen", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gendsl: error: out/tiny/") and cause in err.lower()
    assert not list((tmp_path / "out" / "tiny").glob(".*.tmp"))


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("jinja2-*.cache")) + sorted(folder.glob("grammar-*.cache"))


def test_a_truncated_cache_repairs_itself(tmp_path, spec):
    env = {"GENDSL_CACHE_DIR": str(tmp_path / "cache")}
    assert cli("compile", "tiny.gen", "-o", "a", cwd=tmp_path, env=env).returncode == 0
    files = _cache_files(tmp_path / "cache")
    sizes = {f: f.stat().st_size for f in files}
    assert any(f.name.startswith("jinja2-") for f in files)
    for f in files:
        f.write_bytes(f.read_bytes()[:40])
    for _ in range(2):  # the first run repairs, the second reads the repaired files
        proc = cli("compile", "tiny.gen", "-o", "b", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a" / "tiny" / "train.py").read_bytes() == (tmp_path / "b" / "tiny" / "train.py").read_bytes()
    for f in files:  # rebuilt in full (lark's pickle varies by a few bytes from run to run)
        assert f.stat().st_size == sizes[f] or (f.name.startswith("grammar-") and f.stat().st_size > 40)


def test_a_cache_that_cannot_be_written_costs_only_time(tmp_path, spec, monkeypatch):
    import jinja2.bccache

    from gendsl import emit

    def refuse(*args, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "cache"))
    monkeypatch.setenv("GENDSL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(jinja2.bccache.tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.chdir(tmp_path)
    emit._env.cache_clear()
    try:
        assert main(["compile", "-q", "tiny.gen", "-o", "out"]) == 0
    finally:
        emit._env.cache_clear()
    assert (tmp_path / "out" / "tiny" / "train.py").exists()


def test_a_closed_output_pipe_exits_quietly_with_the_real_status(tmp_path, spec):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gendsl", "compile", "--check", "tiny.gen", "-o", "out"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head -0`: nobody reads the diff
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1  # out of date, as with a reader
    assert "Traceback" not in err and "internal error" not in err and "BrokenPipe" not in err


def test_summary_piped_into_head_exits_quietly():
    """`gendsl summary specs/*.gen | head -1`: the reader stops after one line; gendsl exits 0 without a
    traceback or error (a spec's warnings, such as acgan's W0504, still go to stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.gen"))
    proc = subprocess.Popen([sys.executable, "-m", "gendsl", "summary", *specs], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()  # the first line, as `head -1` reads it
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    for noise in ("Traceback", "BrokenPipe", "internal error", "error["):
        assert noise not in err, err


# ---- permissions and stale files ---------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_generated_files_respect_the_umask(tmp_path, spec, monkeypatch, umask, mode):
    monkeypatch.chdir(tmp_path)
    old = os.umask(umask)
    try:
        assert main(["compile", "-q", "tiny.gen", "-o", "out"]) == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out" / "tiny").iterdir()}
    assert set(modes.values()) == {mode}, modes


def test_a_rewritten_file_keeps_its_mode(tmp_path, spec, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "-q", "tiny.gen", "-o", "out"]) == 0
    train = tmp_path / "out" / "tiny" / "train.py"
    train.chmod(0o755)
    train.write_text(train.read_text() + "# edited\n")
    assert main(["compile", "-q", "tiny.gen", "-o", "out"]) == 0
    assert train.stat().st_mode & 0o777 == 0o755 and "# edited" not in train.read_text()


def test_stale_generated_files_are_reported_and_removed_and_nothing_else(tmp_path, spec, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "-q", "tiny.gen", "-o", "out"]) == 0
    folder = tmp_path / "out" / "tiny"
    (folder / "old.py").write_text("# Code generated by gendsl from tiny.gen. DO NOT EDIT.\nimport enc\n")
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "helpers.py").write_text("# my helpers; Code generated by gendsl ... DO NOT EDIT. is not line 1\n")
    (folder / "__pycache__").mkdir()
    capsys.readouterr()
    assert main(["compile", "--check", "tiny.gen", "-o", "out"]) == 1
    out = capsys.readouterr().out
    assert "out/tiny/old.py: generated earlier, but the spec no longer generates it" in out
    assert "notes.txt" not in out and "helpers.py" not in out
    assert main(["compile", "tiny.gen", "-o", "out"]) == 0
    assert "removed out/tiny/old.py: no longer generated" in capsys.readouterr().out
    assert not (folder / "old.py").exists()
    assert (folder / "notes.txt").exists() and (folder / "helpers.py").exists() and (folder / "__pycache__").is_dir()
    assert main(["compile", "--check", "tiny.gen", "-o", "out"]) == 0


# ---- gendsl run ----------------------------------------------------------------------------------

RUN_ARGS = ["--data", "ring8", "--batch-size", "8", "--steps", "100000000", "--checkpoint-every", "1",
            "--quiet", "--no-plots"]


def _wait_for(condition, what: str, limit: float = 900.0) -> None:
    """Poll until `condition()`; the limit only turns a hang into a failure."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_run(tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "gendsl", "run", str(ROOT / "specs" / "gan_mlp_2d.gen"), *extra,
                             *RUN_ARGS, "--out", "runs/g"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


pytestmark_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytestmark_linux
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_forwards_a_signal_and_the_printed_resume_command_works(tmp_path, signum):
    proc = _start_run(tmp_path, "--no-write")
    checkpoint = tmp_path / "runs" / "g" / "checkpoints" / "last.pt"
    _wait_for(checkpoint.exists, "the first checkpoint")
    (child,) = _children(proc.pid)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 130, err
    assert not _alive(child)
    assert f"stopped by {signal.Signals(signum).name}" in err and "checkpoint written" in err
    resume = next(line for line in err.splitlines() if line.startswith("Resume with: gendsl run"))
    argv = shlex.split(resume.removeprefix("Resume with: "))
    assert argv[:3] == ["gendsl", "run", "--no-write"] and argv[-1] == "--resume"
    stopped_at = int(err.split(" at step ")[1].split(";")[0])
    again = cli(*argv[1:], "--steps", str(stopped_at + 2), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    steps = [int(row.split(",")[0]) for row in (tmp_path / "runs" / "g" / "losses.csv").read_text().splitlines()[1:]]
    assert steps[-1] == stopped_at + 2 and stopped_at + 1 in steps  # continued where it stopped


@pytestmark_linux
def test_run_killed_outright_takes_its_training_child_along(tmp_path):
    proc = _start_run(tmp_path)
    _wait_for((tmp_path / "runs" / "g" / "checkpoints" / "last.pt").exists, "the first checkpoint")
    (child,) = _children(proc.pid)
    proc.kill()  # SIGKILL: gendsl run cannot forward anything
    proc.communicate(timeout=300)
    _wait_for(lambda: not _alive(child), "the orphaned child to stop")


def test_a_usage_error_of_train_py_is_a_user_error_not_an_internal_one(tmp_path):
    proc = cli("run", str(ROOT / "specs" / "gan_mlp_2d.gen"), "--no-write", "--no-such-option", cwd=tmp_path)
    assert proc.returncode == 1
    assert "unrecognized arguments: --no-such-option" in proc.stderr and "internal error" not in proc.stderr
