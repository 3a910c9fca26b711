"""`gendsl fmt`: one canonical layout, every comment kept, idempotent, meaning unchanged."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spec_strategies as S  # noqa: E402

from gendsl.cli import main  # noqa: E402
from gendsl.driver import compile_source  # noqa: E402
from gendsl.fmt import FormatError, Printer, format_text, grammar_constructs  # noqa: E402
from gendsl.source import SourceFile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.gen")) + sorted((ROOT / "specs" / "lib").glob("*.gen"))
CASES = ROOT / "tests" / "fmt"
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def comments(text: str) -> list[str]:
    """Every comment of a spec, in order (strings may not hold `#` in these tests)."""
    return [c.rstrip() for c in re.findall(r"#[^\n]*", text)]


def compiled(text: str) -> dict[str, str]:
    """The generated files, the source's sha256 blanked out (in the header and in train.py's SPEC_SHA256:
    the bytes did change, and that is all that may)."""
    result = compile_source(SourceFile("specs/prop.gen", text))
    assert result.ok, [d.message for d in result.diagnostics]
    return {name: re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", body)
            for name, body in result.files.items()}


# ---- the grammar is covered --------------------------------------------------------------

def test_every_construct_of_the_grammar_has_a_layout():
    missing = sorted(name for name in grammar_constructs() if not hasattr(Printer, name))
    assert not missing, f"add a method to gendsl/fmt.py's Printer for: {missing}"


# ---- the catalogue -----------------------------------------------------------------------

@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.relative_to(ROOT / "specs").as_posix())
def test_catalogue_spec_is_formatted(path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text, f"run `gendsl fmt {path.relative_to(ROOT)}`"


# ---- goldens -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES.glob("*.gen")), ids=lambda p: p.stem)
def test_layout_golden(case):
    expected = case.with_suffix(".expected").read_text(encoding="utf-8")
    source = case.read_text(encoding="utf-8")
    assert format_text(source) == expected
    assert comments(expected) and sorted(comments(expected)) == sorted(comments(source))


# ---- properties --------------------------------------------------------------------------

_SPACES = [" ", "  ", "\n", "\n\n\n", "\t", " \n    ", "  # note\n"]


@st.composite
def relaid(draw, text: str) -> str:
    """The same tokens with other whitespace between them (never where there was none): new line breaks,
    indentation, blank lines and comments, outside strings and comments."""
    pieces = re.split(r'("(?:[^"\\\n]|\\.)*"|#[^\n]*)', text)
    out = []
    for k, piece in enumerate(pieces):
        if k % 2 == 0:  # code: a comment's line break stays (it ends the comment)
            after_comment = k and pieces[k - 1].startswith("#") and piece.startswith("\n")
            piece = re.sub(r"[ \n]+", lambda m: draw(st.sampled_from(_SPACES + [m.group()] * 3)),
                           piece[1:] if after_comment else piece)
            piece = "\n" + piece if after_comment else piece
        out.append(piece)
    return "".join(out)


def outside_strings_and_comments(text: str, change) -> str:
    pieces = re.split(r'("(?:[^"\\\n]|\\.)*"|#[^\n]*)', text)
    return "".join(piece if k % 2 else change(piece) for k, piece in enumerate(pieces))


@st.composite
def specs_relaid(draw):
    spec = draw(S.spec())
    return spec.text, draw(relaid(spec.text))


@PROPERTY
@given(specs_relaid())
def test_formatting_is_idempotent_and_keeps_comments(pair):
    _, messy = pair
    once = format_text(messy)
    assert format_text(once) == once
    assert sorted(comments(once)) == sorted(comments(messy))


@settings(PROPERTY, max_examples=20)
@given(specs_relaid())
def test_formatted_spec_compiles_to_the_same_files(pair):
    original, messy = pair
    assert compiled(format_text(messy)) == compiled(original)


@settings(PROPERTY, max_examples=30)
@given(specs_relaid())
def test_layout_does_not_depend_on_the_original_layout(pair):
    original, messy = pair
    plain = [line for line in format_text(messy).splitlines() if not line.lstrip().startswith("#")]
    assert [re.sub(r"\s+#.*", "", line) for line in plain if line] == \
        [re.sub(r"\s+#.*", "", line) for line in format_text(original).splitlines() if line]


# variants: a library, a base and two levels over it, each file relaid and formatted

def compiled_files(files: dict[str, str], main: str = "v.gen") -> dict[str, str]:
    """What `main` compiles to, with the other files beside it; hashes blanked (see `compiled`)."""
    import tempfile

    from gendsl.driver import compile_path

    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        result = compile_path(str(Path(folder) / main))
        assert result.ok, [d.message for d in result.diagnostics if d.is_error]
        return {name: re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", body.replace(folder, "<dir>"))
                for name, body in result.files.items()}


@st.composite
def variants_relaid(draw):
    files = draw(S.variant())
    return files, {name: draw(relaid(text)) for name, text in files.items()}


@settings(PROPERTY, max_examples=25)
@given(variants_relaid())
def test_variant_files_format_idempotently_and_keep_comments(pair):
    _, messy = pair
    for name, text in messy.items():
        once = format_text(text)
        assert format_text(once) == once, name
        assert sorted(comments(once)) == sorted(comments(text)), name


@settings(PROPERTY, max_examples=10)
@given(variants_relaid())
def test_formatted_variant_compiles_to_the_same_files(pair):
    original, messy = pair
    assert compiled_files({name: format_text(text) for name, text in messy.items()}) == compiled_files(original)


def test_catalogue_compiles_the_same_after_formatting_a_relaid_copy():
    for path in SPECS[:6]:
        text = path.read_text(encoding="utf-8")
        messy = outside_strings_and_comments(text, lambda code: code.replace(", ", ",\n        ")
                                             .replace(" = ", "=").replace("\n", "\n  "))
        assert format_text(messy) == format_text(text), path.name
        assert compiled(format_text(messy)) == compiled(text)


# ---- the layout rules --------------------------------------------------------------------

def test_parentheses_are_the_ones_precedence_needs():
    out = format_text("param a = ((1 + 2)) * 3 - (4 - 5) - (6 * 7)\nparam b = -(2) ** -(a - 1) + (-2) ** 2\n"
                      "param c = (1,)\n")
    assert out == ("param a = (1 + 2) * 3 - (4 - 5) - 6 * 7\nparam b = -2 ** -(a - 1) + (-2) ** 2\n"
                   "param c = (1,)\n")


def test_comment_inside_an_expression_moves_above_its_line():
    out = format_text("loss = bce(x_hat, x)  # reconstruction\n     + kl(z)  # prior\n")
    assert out == "# reconstruction\nloss = bce(x_hat, x) + kl(z)  # prior\n"


def test_empty_block_and_blank_lines():
    out = format_text("model m\n\n\n\nparam a = 1\ntrain {\n}\n# end\n")
    assert out == "model m\n\nparam a = 1\n\ntrain {}\n\n# end\n"


def test_syntax_error_is_reported_not_formatted():
    with pytest.raises(FormatError) as info:
        format_text("model m\nparam = 3\n", "bad.gen")
    assert info.value.diagnostics[0].code == "E0101"


# ---- the command -------------------------------------------------------------------------

MESSY = "model m\nparam a=1   # one\n"
TIDY = "model m\nparam a = 1  # one\n"


def test_fmt_rewrites_files_in_place(tmp_path, capsys):
    f = tmp_path / "m.gen"
    f.write_text(MESSY)
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == TIDY
    assert "reformatted" in capsys.readouterr().err
    assert main(["fmt", str(f)]) == 0  # already formatted: nothing said, nothing written
    assert capsys.readouterr().err == ""


def test_fmt_check_fails_and_writes_nothing(tmp_path, capsys):
    f = tmp_path / "m.gen"
    f.write_text(MESSY)
    assert main(["fmt", "--check", str(f)]) == 1
    assert f.read_text() == MESSY
    assert "would reformat" in capsys.readouterr().err
    f.write_text(TIDY)
    assert main(["fmt", "--check", str(f)]) == 0


def test_fmt_diff_prints_a_unified_diff(tmp_path, capsys):
    f = tmp_path / "m.gen"
    f.write_text(MESSY)
    assert main(["fmt", "--diff", str(f)]) == 0
    out = capsys.readouterr().out
    assert "-param a=1   # one\n" in out and "+param a = 1  # one\n" in out
    assert f.read_text() == MESSY


def test_fmt_reads_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(MESSY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == TIDY


def test_fmt_reports_syntax_errors_and_leaves_the_file(tmp_path, capsys):
    f = tmp_path / "bad.gen"
    f.write_text("model m\nparam = 3\n")
    assert main(["fmt", str(f)]) == 1
    assert "error[E0101]" in capsys.readouterr().err
    assert f.read_text() == "model m\nparam = 3\n"


def test_a_file_of_comments_only_is_kept():
    assert format_text("# one\n\n\n# two   \n") == "# one\n\n# two\n"
    assert format_text("") == ""


@settings(PROPERTY, max_examples=200)
@given(st.text(alphabet="model param data x y = 1 2 ( ) [ ] { } -> , : # \n ~ * + \" . forward loss network",
               max_size=80))
def test_fuzzed_text_is_formatted_or_refused_never_crashes(text):
    try:
        once = format_text(text)
    except FormatError as exc:
        assert exc.diagnostics
        return
    assert format_text(once) == once
    assert sorted(comments(once)) == sorted(c for c in comments(text))
