"""Golden tests for diagnostics: every code, its message, span, notes and help, exactly as printed.

Each `tests/diagnostics/<CODE>_<slug>.gen` is checked with `gendsl check` from the repository root;
what it prints to stderr must equal the `.expected` file next to it. Files named `multi_*` hold
several independent mistakes, all of which must be reported (and nothing else: no cascades).

    GENDSL_UPDATE=1 pytest tests/check/test_diagnostics.py    # rewrite the .expected files; review the diff
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gendsl.cli import main
from gendsl.diagnostics import CODES, Diagnostic
from gendsl.render import render
from gendsl.source import SourceFile, Span

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "diagnostics"
UPDATE = os.environ.get("GENDSL_UPDATE") == "1"
HEADER = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning)"
                    r"\[(?P<code>[EW]\d{4})\]: (?P<message>.+)$")
SPECS = sorted(CASES.glob("*.gen"))


def _check(capsys, rel: str) -> tuple[int, str]:
    """`gendsl check rel`, plus the options a case names on its first line: `# args: --set a=1`."""
    first = Path(rel).read_text(encoding="utf-8", errors="replace").split("\n", 1)[0] if Path(rel).is_file() else ""
    extra = first[len("# args:"):].split() if first.startswith("# args:") else []
    status = main(["check", rel, *extra])
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_golden(spec: Path, capsys, at_root):
    rel = spec.relative_to(ROOT).as_posix()
    status, err = _check(capsys, rel)
    expected = spec.with_suffix(".expected")
    if UPDATE:
        expected.write_text(err, encoding="utf-8")
    assert expected.exists(), f"run GENDSL_UPDATE=1 pytest {Path(__file__).name} to create {expected.name}"
    assert err == expected.read_text(encoding="utf-8")

    headers = [HEADER.match(line) for line in err.splitlines() if HEADER.match(line)]
    assert headers, err
    # a variant's error may sit in its base (tests/diagnostics/variants/), marked at the variant's line
    # (or on the command line: `--set`)
    assert all(h["path"] == rel or h["path"].startswith("tests/diagnostics/variants/") or h["path"] == "--set"
               for h in headers)
    code = spec.stem.split("_")[0]
    if code.startswith(("E", "W")):
        assert code in {h["code"] for h in headers}, f"{spec.name} does not produce {code}"
    errors = [h for h in headers if h["severity"] == "error"]
    assert status == (1 if errors else 0)
    if spec.stem.startswith("multi_"):
        assert len(errors) >= 2, "a multi_ case shows several independent errors"
    elif code.startswith("W"):
        assert not errors, "a warning case must not contain errors"


def test_every_case_has_an_expected_file_and_back():
    gens = {p.stem for p in CASES.glob("*.gen")}
    expected = {p.stem for p in CASES.glob("*.expected")}
    assert gens == expected


def test_every_code_is_pinned_by_a_golden_case():
    shown = set()
    for path in CASES.glob("*.expected"):
        shown |= {m["code"] for m in map(HEADER.match, path.read_text(encoding="utf-8").splitlines()) if m}
    shown |= {"E0105", "E0106"}  # files that cannot be checked in: tested below
    assert sorted(set(CODES) - shown) == []
    assert sorted(shown - set(CODES)) == []


def test_every_code_used_by_the_compiler_is_registered_and_every_registered_code_is_used():
    source_codes = set()
    for path in (ROOT / "gendsl").rglob("*.py"):
        if path.name == "diagnostics.py":
            continue
        source_codes |= set(re.findall(r'"([EW]0\d{3})"', path.read_text(encoding="utf-8")))
    assert sorted(source_codes - set(CODES)) == [], "register new codes in gendsl/diagnostics.py CODES"
    assert sorted(set(CODES) - source_codes) == [], "a registered code that nothing reports"


def test_every_code_is_documented():
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### ([EW]\d{4})\b", doc, re.M))
    assert sorted(set(CODES) - documented) == []
    assert sorted(documented - set(CODES)) == []


def test_messages_follow_the_style():
    """Lowercase first word, no trailing period, no grammar-internal terminal names anywhere."""
    for path in CASES.glob("*.expected"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            m = HEADER.match(line)
            if m:
                message = m["message"]
                assert not message[0].isupper(), (path.name, message)
                assert not message.endswith("."), (path.name, message)
        for internal in ("__ANON", "LPAR", "RPAR", "LSQB", "RSQB", "LBRACE", "RBRACE", "$END", "None", "Token("):
            assert internal not in text, (path.name, internal)
        assert "\t" not in text and not re.search(r" +$", text, re.M), path.name


# -- files that cannot live in tests/diagnostics --------------------------------------------

def test_missing_file(capsys, at_root):
    status, err = _check(capsys, "tests/diagnostics/no_such_file.gen")
    assert status == 1
    assert err == ("tests/diagnostics/no_such_file.gen: error[E0105]: cannot read file "
                   "`tests/diagnostics/no_such_file.gen`: no such file or directory\n"
                   " = help: check the path\n\n")


def test_directory_instead_of_file(capsys, at_root):
    status, err = _check(capsys, "tests/diagnostics")
    assert status == 1
    assert err.startswith("tests/diagnostics: error[E0105]: cannot read file `tests/diagnostics`: ")
    assert "= help: pass a .gen file" in err


def test_file_too_large(capsys, tmp_path, monkeypatch):
    import gendsl.driver

    monkeypatch.setattr(gendsl.driver, "MAX_SOURCE_BYTES", 100)
    monkeypatch.chdir(tmp_path)
    Path("big.gen").write_text("# padding\n" * 20)
    status, err = _check(capsys, "big.gen")
    assert status == 1
    assert err == ("big.gen: error[E0106]: file is 200 bytes; specs are limited to 100\n"
                   " = help: a spec is a page or two of text; is this the right file?\n\n")


def test_several_files_report_each_and_exit_with_the_worst(capsys, at_root):
    ok = "tests/diagnostics/W0401_unused_network.gen"
    bad = "tests/diagnostics/E0203_unknown_layer.gen"
    status = main(["check", ok, bad])
    err = capsys.readouterr().err
    assert status == 1
    assert err.index("W0401") < err.index("E0203")


@pytest.mark.parametrize("name", ["E0303_kernel_larger_than_input", "W0401_unused_network"])
def test_through_a_real_process(name, at_root):
    """The installed entry point prints the same text and exits with the same status."""
    rel = f"tests/diagnostics/{name}.gen"
    proc = subprocess.run([sys.executable, "-m", "gendsl", "check", rel], cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert proc.stdout == ""
    assert proc.stderr == (CASES / f"{name}.expected").read_text(encoding="utf-8")
    assert proc.returncode == (0 if name.startswith("W") else 1)


# -- the renderer --------------------------------------------------------------------------

def _render(text: str, start: int, end: int, label: str = "here", related=(), path: str = "f.gen") -> str:
    return render(Diagnostic("error", "E0000", "message", Span(start, end), label, ("a note",), "a fix", related),
                  SourceFile(path, text))


def test_render_expands_tabs_and_keeps_carets_under_the_text():
    text = "model m\n\tdata x:\t[0]\n"
    at = text.index("0")
    assert _render(text, at, at + 1) == (
        "f.gen:2:11: error[E0000]: message\n"
        "  |\n"
        "2 |     data x:    [0]\n"
        "  | " + " " * 16 + "^ here\n"
        "  = note: a note\n"
        "  = help: a fix")


def test_render_counts_wide_characters_as_two_columns():
    text = 'param 幅 = "日本" + x\n'
    at = text.index("x")
    out = _render(text, at, at + 1)
    assert out.splitlines()[2:4] == ['1 | param 幅 = "日本" + x', "  | " + " " * 20 + "^ here"]
    at = text.index("幅")
    assert _render(text, at, at + 1).splitlines()[3] == "  |       ^^ here"


def test_render_an_error_at_the_end_of_the_file():
    text = "model m\nloss = mse(a"
    out = _render(text, len(text), len(text))
    assert out.splitlines()[:4] == ["f.gen:2:13: error[E0000]: message", "  |", "2 | loss = mse(a",
                                    "  |             ^ here"]
    text = "model m\n"  # past the final newline: the empty last line
    assert _render(text, len(text), len(text)).splitlines()[:4] == [
        "f.gen:2:1: error[E0000]: message", "  |", "2 |", "  | ^ here"]


def test_render_a_multi_line_span():
    text = "model m\nnetwork n(x) -> [4] {\n    linear(4)\n}\n"
    out = _render(text, text.index("network"), text.index("}") + 1, "this network")
    assert out.splitlines()[1:6] == [
        "  |",
        "2 | / network n(x) -> [4] {",
        "3 | |     linear(4)",
        "4 | | }",
        "  | |_^ this network"]
    text = "loss = mse(a,\n           b) + kl(z)\n"
    out = _render(text, text.index("mse"), text.index("b)") + 2, "one term")
    assert out.splitlines()[1:6] == [
        "  |",
        "1 |   loss = mse(a,",
        "  |  ________^",
        "2 | |            b) + kl(z)",
        "  | |_____________^ one term"]


def test_render_a_long_multi_line_span_elides_the_middle():
    text = "".join(f"line{i}\n" for i in range(1, 21))
    out = _render(text, 0, text.index("line20") + 6, "all of it")
    lines = out.splitlines()
    assert "..." in lines and "line10" not in out
    assert lines[-3] == "   | |______^ all of it"


def test_render_an_empty_file():
    assert _render("", 0, 0, "nothing here").splitlines()[:4] == [
        "f.gen:1:1: error[E0000]: message", "  |", "1 |", "  | ^ nothing here"]


def test_render_related_spans_with_dashes_and_a_gap():
    text = "".join(f"param p{i} = {i}\n" for i in range(12))
    first, again = text.index("p1 "), text.index("p11")
    out = _render(text, again, again + 3, "again", ((Span(first, first + 2), "first"),))
    assert out.splitlines()[1:8] == [
        "   |",
        " 2 | param p1 = 1",
        "   |       -- first",
        "...",
        "12 | param p11 = 11",
        "   |       ^^^ again",
        "   = note: a note"]


def test_render_control_characters_visibly():
    out = _render("model a\x00b\n", 7, 8, "NUL byte")
    assert "1 | model a\u2400b" in out


def test_render_without_a_location():
    d = Diagnostic("error", "E0105", "cannot read file `x.gen`: no such file or directory", None, "", (),
                   "check the path")
    assert render(d, SourceFile("x.gen", "")) == (
        "x.gen: error[E0105]: cannot read file `x.gen`: no such file or directory\n = help: check the path")


# -- syntax errors in human terms ------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("model m\nparam a = (1, 2", "unclosed `(`"),
    ("model m\nparam a = 1 2", "expected an operator, a declaration or end of file, found number `2`"),
    ("model m\nnetwork g(x: [2]) -> [2] { linear(2) -> }", "expected a name, found `}`"),
    ("model m\nnetwork g(x: [2]) -> [2] { linear(2 -> relu }", "expected one of `)`, `,` or an operator, found `->`"),
    ("model m\ndata x = [2]", "expected `:`, found `=`"),
    ("model m\ntrain { epochs 10 }", "expected one of `=` or a name, found number `10`"),
    ("model m\nforward { y = f(x) ; }", "invalid character `;`"),
    ("model m\nparam a = 1\u00a0", "invalid character U+00A0 (no-break space)"),
])
def test_syntax_errors_name_tokens_in_human_terms(text, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("s.gen").write_text(text, encoding="utf-8")
    status, err = _check(capsys, "s.gen")
    assert status == 1
    headers = [HEADER.match(line) for line in err.splitlines() if HEADER.match(line)]
    assert [h["message"] for h in headers] == [message]
    assert not re.search(r"__ANON|LPAR|RPAR|LSQB|RSQB|LBRACE|RBRACE|\$END|\bNAME\b|\bNUMBER\b|EQUAL|COLON", err)


def test_every_declaration_with_a_syntax_error_is_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    broken = ["param a = 1 +", "data x: [784 in [0, 1]", "network g(x) -> [2] { linear(2) -> -> relu }",
              "forward { y = g(x }", "loss = mse(y, x))", "train { epochs = 'ten' }"]
    Path("s.gen").write_text("model m\n" + "\n".join(broken) + "\n", encoding="utf-8")
    status, err = _check(capsys, "s.gen")
    lines = [int(h["line"]) for h in map(HEADER.match, err.splitlines()) if h]
    assert status == 1
    assert lines == [2, 3, 4, 5, 6, 7]


# -- docs/diagnostics.md ----------------------------------------------------------------------

EXAMPLE = re.compile(r"(<!-- example: (?P<case>[\w-]+) -->\n```text\n)(?P<body>.*?)(```)", re.S)


def _first_diagnostic(case: str) -> str:
    """The first diagnostic of a golden case that has the case's own code."""
    code = case.split("_")[0]
    blocks = (CASES / f"{case}.expected").read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    return next(b for b in blocks if f"[{code}]:" in b.splitlines()[0]) + "\n"


def test_doc_examples_are_real_output():
    doc_path = ROOT / "docs" / "diagnostics.md"
    doc = doc_path.read_text(encoding="utf-8")
    fresh = EXAMPLE.sub(lambda m: m.group(1) + _first_diagnostic(m["case"]) + m.group(4), doc)
    if UPDATE:
        doc_path.write_text(fresh, encoding="utf-8")
        doc = fresh
    assert EXAMPLE.search(doc)
    assert doc == fresh, "run GENDSL_UPDATE=1 pytest tests/check/test_diagnostics.py to refresh the examples"
