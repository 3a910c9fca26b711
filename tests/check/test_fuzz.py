"""Fuzzing: mutated specs and extreme inputs end in success or located diagnostics, never a crash.

The mutation engine is bench/fuzz.py (`python -m bench.fuzz --cases 10000` runs it at
scale); here a few hundred seeded cases run in the test suite, the hand-made extremes run
one by one with the diagnostics they must produce, and a Hypothesis property checks that
compiling is deterministic and insensitive to layout.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spec_strategies as S  # noqa: E402

from gendsl.cli import main as cli_main  # noqa: E402
from gendsl.driver import compile_path, compile_source  # noqa: E402
from gendsl.source import SourceFile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gendsl_bench_fuzz", ROOT / "bench" / "fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuzz  # dataclasses look their module up
_spec.loader.exec_module(fuzz)

CORPUS = fuzz.seeds()
VAE = (ROOT / "specs" / "vae.gen").read_text(encoding="utf-8")
TIMEOUT = 60.0  # a hang guard, far above the milliseconds a case takes; never a timing assertion


def compile_text(text: str):
    return compile_source(SourceFile("t.gen", text))


def errors(result) -> list:
    return [d for d in result.diagnostics if d.is_error]


def with_param(value: str) -> str:
    return VAE.replace("param hidden = 400", f"param hidden = {value}")


# ---- mutation fuzzing -------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_mutated_specs_never_crash(seed, tmp_path):
    rng = random.Random(seed)
    failures = []
    kinds = {}
    for i in range(75):
        label, data = fuzz.make_case(rng, CORPUS)
        outcome = fuzz.run_case(data, TIMEOUT, str(tmp_path))
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        if outcome.kind not in ("ok", "diagnostics"):
            failures.append(f"case {i} ({label}): {outcome.kind}: {outcome.detail}")
    assert not failures, "\n".join(failures)
    assert kinds.get("diagnostics", 0) > 0  # the mutations do break specs


def test_fuzz_harness_detects_failures(monkeypatch):
    """run_case is not vacuous: an exception, a bad span and invalid output are all caught."""
    import gendsl.driver

    def boom(source, emit_files=True):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(fuzz, "compile_source", boom)
    assert fuzz.run_case("model m").kind == "internal"
    monkeypatch.setattr(fuzz, "compile_source", gendsl.driver.compile_source)

    result = compile_text(VAE)
    result.files["model.py"] += "\ndef broken(:\n"
    assert fuzz._check_result(result).kind == "bad_output"
    bad = compile_text("model m\nparam p = q\n")
    from dataclasses import replace
    from gendsl.source import Span
    bad.diagnostics[0] = replace(bad.diagnostics[0], span=Span(5, 10_000))
    assert fuzz._check_result(bad).kind == "bad_span"


@pytest.mark.parametrize("name,data", fuzz.special_cases(VAE), ids=[n for n, _ in fuzz.special_cases(VAE)])
def test_special_cases_never_crash(name, data, tmp_path):
    outcome = fuzz.run_case(data, TIMEOUT, str(tmp_path))
    assert outcome.kind in ("ok", "diagnostics"), outcome.detail


# ---- what the extremes must say ---------------------------------------------------------

def _one_error(text: str, *words: str):
    result = compile_text(text)
    assert not result.ok
    found = errors(result)
    for d in found:
        assert d.span is not None and 0 <= d.span.start <= d.span.end <= len(text)
    assert any(all(w in d.message for w in words) for d in found), [d.message for d in found]
    return result, next(d for d in found if all(w in d.message for w in words))


@pytest.mark.parametrize("expr", ["(" * 10_000 + "1" + ",)" * 10_000, "[" * 10_000 + "]" * 10_000,
                                  " + ".join(["1"] * 10_000), " * ".join(["2"] * 10_000),
                                  " ** ".join(["1"] * 10_000), "-" * 10_000 + "1", "-(" * 5000 + "1" + ")" * 5000])
def test_deep_nesting_is_a_diagnostic(expr):
    """Regression: these raised RecursionError (in lark's tree transformer) before."""
    text = with_param(expr)
    result, d = _one_error(text, "nested too deeply")
    start = text.index("param hidden = ") + len("param hidden = ")
    assert start <= d.span.start < start + len(expr)  # inside the expression
    assert d.span.end - d.span.start <= 10  # a short, readable span


def test_deep_nesting_in_a_loss_is_a_diagnostic():
    # vae.gen's objective is two named terms (issue 10); the deep one replaces both
    text = VAE.replace("loss recon = bce(x_hat, x, reduction=sum)\nloss prior = kl(z)",
                       "loss = " + "kl(" * 5000 + "z" + ")" * 5000)
    assert text != VAE
    _one_error(text, "nested too deeply")


def test_nesting_below_the_limit_compiles():
    # parentheses alone do not nest the tree; 50 operators do, and are fine
    assert compile_text(with_param("(" * 10_000 + "400" + ")" * 10_000)).ok
    assert compile_text(with_param(" + ".join(["8"] * 50))).ok
    assert compile_text(with_param("-" * 40 + "400")).ok


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1e308 * 10", "10**10**10", "9" * 5000, "7" * 100_000,
                                    "2**64 * 2**64", "256**256"])
def test_huge_numbers_are_out_of_range(number):
    """Regression: a 5000-digit literal raised ValueError (int() refuses >4300 digits) inside lark."""
    result = compile_text(with_param(number))
    assert not result.ok
    first = errors(result)[0]
    assert re.search(r"number (out of range|too large)", first.message), first.message
    start = VAE.index("param hidden = ") + len("param hidden = ")
    assert start <= first.span.start <= start + len(number)


def test_huge_dimension_is_refused():
    text = with_param("2**53 + 1")
    _one_error(text.replace("linear(hidden)", "linear(hidden * 2)"), "too large")


@pytest.mark.parametrize("units", ["10**12", "1000000000000", "10**6 * 10**6"])
def test_layer_of_a_trillion_units_is_refused(units):
    text = VAE.replace("param hidden = 400", f"param hidden = {units}")
    result, d = _one_error(text, "parameters")
    assert "GiB" in d.message


def test_ten_megabyte_file_is_refused(tmp_path):
    path = tmp_path / "big.gen"
    path.write_bytes(VAE.encode() + b"# filler\n" * 1_250_000)
    result = compile_path(str(path))
    assert not result.ok
    (d,) = result.diagnostics
    assert "bytes" in d.message and "limited to" in d.message and "1,000,000" in d.message
    assert d.span is None or d.span.start == 0
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli_main(["check", str(path)]) == 1
    assert "limited to" in err.getvalue()


@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80abc"])
def test_invalid_utf8_points_at_the_byte(bad, tmp_path):
    data = VAE.encode()
    cut = data.index(b"data x")
    path = tmp_path / "bad.gen"
    path.write_bytes(data[:cut] + bad + data[cut:])
    result = compile_path(str(path))
    (d,) = result.diagnostics
    assert "UTF-8" in d.message
    assert d.span.start == len(data[:cut].decode())  # the character offset of the bad byte
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli_main(["check", str(path)]) == 1


def test_untyped_input_that_is_not_data_is_a_diagnostic():
    """Regression: an input with no type (and no data of that name) crashed `forward` checking
    (AttributeError on a None type) after its diagnostic."""
    text = VAE.replace("encoder enc(x)", "encoder enc(xx)")
    result, d = _one_error(text, "needs a type")
    assert text[d.span.start:d.span.end].startswith("xx")


def test_untyped_label_input_of_a_discriminator_is_a_diagnostic():
    """Regression: the same None type crashed the discriminator contract check."""
    cdcgan = (ROOT / "specs" / "cdcgan.gen").read_text(encoding="utf-8")
    text = re.sub(r"data y: label\[\w+\]\n", "", cdcgan)
    assert text != cdcgan
    _one_error(text, "needs a type")


def test_model_without_networks_is_refused():
    """Regression (found by bench/fuzz.py): a spec cut after its `data` line compiled, and its
    train.py built `torch.optim.Adam(, lr=...)`, a syntax error."""
    text = VAE[:VAE.index("encoder enc")]
    _one_error(text, "declares no networks")


def test_model_with_nothing_to_train_is_refused():
    """Regression: the same empty optimizer when no network has parameters."""
    text = """model m
data x: [4]
network net(x) -> [4] { relu }
forward { y = net(x) }
loss = l1_activity(y)
"""
    result, d = _one_error(text, "has parameters")
    assert text[d.span.start:d.span.end] == "net"
    assert compile_text(text.replace("{ relu }", "{ linear(4) }")).ok


def test_loss_spanning_lines_with_comments_gives_valid_code():
    """Regression: a loss term written over two lines, with a comment, was pasted into a
    `# ...` comment of train.py: the second line became code (a syntax error), and a `\"\"\"`
    in the comment ended the docstring it was also pasted into (running code at import)."""
    for call in ("bce(x_hat,   # zqx_comment\n    x, reduction=sum)",
                 'bce(x_hat, x # \"\"\" + __import__("os").system("echo pwned") + \"\"\"\n, reduction=sum)'):
        text = VAE.replace("bce(x_hat, x, reduction=sum)", call)
        result = compile_text(text)
        assert result.ok
        for name, code in result.files.items():
            if name.endswith(".py"):
                ast.parse(code)
                assert "__import__" not in code and "zqx_comment" not in code


# ---- determinism and layout independence --------------------------------------------

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[^\W\d]\w*'
                   r'|->|\*\*|//|\S')


def relayout(text: str, rng: random.Random) -> str:
    """The same spec with other whitespace between tokens, and comments in places."""
    out = []
    for tok in TOKEN.findall(text):
        if tok.startswith("#"):
            out.append(tok + "\n")
            continue
        out.append(tok)
        out.append(rng.choice([" ", " ", "  ", "\n", "\t", "\n\n    ", " # note\n", "\r\n"]))
    return "".join(out)


def without_hash(code: str) -> str:
    # the edited file's hash (the first line, or its own line in a variant's list of sources)
    return re.sub(r"(?m)^#( source (\S+ )?|   )sha256: .*$", "", code)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(S.spec(), st.integers(0, 2**32 - 1))
def test_compiling_is_deterministic_and_layout_independent(spec, seed):
    first = compile_text(spec.text)
    assert first.ok, spec.text
    again = compile_text(spec.text)
    assert again.files == first.files
    for name, code in first.files.items():
        if name.endswith(".py"):
            ast.parse(code)
    moved = compile_text(relayout(spec.text, random.Random(seed)))
    assert moved.ok
    assert without_hash(moved.files["model.py"]) == without_hash(first.files["model.py"])
    for name, code in moved.files.items():  # comments and line breaks inside loss terms included
        if name.endswith(".py"):
            ast.parse(code)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_specs_are_layout_independent(name):
    # read as if from specs/, so that a variant finds its base and library files
    origin = str(fuzz.SPECS / name)
    first = compile_source(SourceFile(name, CORPUS[name], origin=origin))
    assert first.ok, [d.message for d in first.diagnostics]
    for seed in range(3):
        moved = compile_source(SourceFile(name, relayout(CORPUS[name], random.Random(seed)), origin=origin))
        assert moved.ok, [d.message for d in moved.diagnostics]
        assert without_hash(moved.files["model.py"]) == without_hash(first.files["model.py"])


def test_cli_never_exits_2_on_mutants(tmp_path):
    rng = random.Random(1234)
    for i in range(25):
        _, data = fuzz.make_case(rng, CORPUS)
        path = tmp_path / f"m{i}.gen"
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = cli_main(["check", str(path)])
        assert status in (0, 1), err.getvalue()
        assert "internal error" not in err.getvalue()
