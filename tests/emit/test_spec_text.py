"""Spec text reaches generated code through one function, exactly, in every context (issue 15).

`gendsl.lower.quoting.spec_text` writes text the user chose (paths, data sources, loss terms as
written, `--set` values) into a string literal, a docstring and a comment; the runtime's
`argparse_text` puts the spec's path into argparse's description. For arbitrary Unicode text, each
context is compiled with `compile()` after the tidying every generated file gets, and the value
Python reads back must be exactly the text. Then whole specs: a path, a data source and `--set`
values full of quotes, backslashes, line breaks and `%(prog)s` compile to files that parse and hold
them exactly.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import tokenize
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gendsl.driver import compile_source
from gendsl.emit import tidy
from gendsl.emit.text import commented, docstring, pystr, spec_comment
from gendsl.lower.quoting import CONTEXTS, spec_text
from gendsl.source import SourceFile

# any code point (a lone surrogate too: an undecodable byte of a file name), weighted towards what breaks code
TRICKY = st.sampled_from(['"', "'", "\\", '"""', "\n", "\r", "\u2028", "\u2029", "\x85", "\x0c", "\x00", "#",
                          "%", "%(prog)s", "%(default)s", "{", "}", " ", "  ", "\t", "\\N", "\\u", "\ufeff",
                          "\U0001f600", "é", "ｘ", "\udc80"])
TEXT = st.lists(st.one_of(st.text(min_size=1, max_size=8), TRICKY), max_size=40).map("".join)
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def _module(source: str):
    """`source` as a generated file is written (tidied), compiled and run: its namespace."""
    text = tidy(source)
    namespace: dict = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    return text, namespace


def _comments(text: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]


def _read_back(shown: str) -> str:
    """What escaped text says: read as the inside of a string literal."""
    return ast.literal_eval(f'"{shown}"')


def _said(comment_token: str) -> str:
    """What a `# ...` comment says (tidying drops the space after an empty comment's `#`)."""
    return _read_back(comment_token[1:].removeprefix(" "))


@PROPERTY
@given(TEXT)
def test_a_string_literal_holds_exactly_the_text(text):
    source, namespace = _module(f"value = {pystr(text)}\n")
    assert namespace["value"] == text
    assert len(source.splitlines()) == 1


HOLDERS = {  # a docstring at each indent train.py and model.py use: module, function, method
    0: ("{doc}\n", lambda ns: ns["__doc__"]),
    4: ("def f():\n    {doc}\n    return 1\n", lambda ns: ns["f"].__doc__),
    8: ("class C:\n    def f(self):\n        {doc}\n        return 1\n", lambda ns: ns["C"].f.__doc__),
}


@PROPERTY
@given(TEXT, st.sampled_from(sorted(HOLDERS)))
def test_a_docstring_holds_exactly_the_text_at_any_width(text, indent):
    expected = f"The spec's loss: `{text}`."
    doc = docstring(expected, indent)
    holder, read = HOLDERS[indent]
    _, namespace = _module(holder.format(doc=doc))
    # the written lines: wrapping broke the text at single spaces (the escaped text has no line break of
    # its own, so each written line is a whole piece); a closing quote may sit on a line of its own
    pad = "\n" + " " * indent
    lines = doc.removeprefix('"""').removesuffix('"""').split(pad)
    closing_alone = lines[-1] == ""
    pieces = [_read_back(line) for line in (lines[:-1] if closing_alone else lines)]
    assert " ".join(pieces) == expected
    assert read(namespace) == pad.join(pieces) + (pad if closing_alone else "")


@PROPERTY
@given(TEXT)
def test_a_comment_reads_back_as_exactly_the_text(text):
    source, namespace = _module(f"x = 1  # {spec_comment(text)}\ny = 2\n")
    assert (namespace["x"], namespace["y"]) == (1, 2)
    [shown] = _comments(source)
    assert _said(shown) == text
    assert len(source.splitlines()) == 2


@PROPERTY
@given(TEXT, st.sampled_from([0, 8]))
def test_a_code_line_with_a_comment_keeps_the_code_and_the_text(text, indent):
    line = commented("\"mse\": x_hat - x,", text, indent)
    source, namespace = _module("x = x_hat = 0.0\nterms = {\n"
                                + " " * 8 + line.replace("\n", "\n" + " " * 8) + "\n}\n")
    assert list(namespace["terms"]) == ["mse"]
    assert [_said(c) for c in _comments(source)] == [text]


@pytest.mark.torch  # the runtime imports torch
@PROPERTY
@given(TEXT)
def test_argparse_shows_exactly_the_description_of_any_spec_path(text):
    from gendsl.runtime import loop

    recipe = loop.Recipe(name="m", spec=text, sha256="0" * 64, model=None, optimizers=None, train_step=None,
                         validate=None, columns=(), data_shape=(2,), data_range=None, num_classes=None,
                         default_data="ring8", epochs=1, batch_size=4, seed=0)
    out = io.StringIO()
    # COLUMNS: no wrapping (argparse still collapses whitespace)
    with mock.patch.dict(os.environ, {"COLUMNS": "100000"}), contextlib.redirect_stdout(out), \
            pytest.raises(SystemExit) as stop:
        loop.parse_args(recipe, ["--help"])
    assert stop.value.code == 0
    expected = f"Train m (generated by gendsl from {text})."
    assert " ".join(expected.split()) in " ".join(out.getvalue().split())


def test_ordinary_text_is_written_as_it_is():
    for context in CONTEXTS:
        assert spec_text("specs/my vae.gen", context).strip('"') == "specs/my vae.gen"
    assert spec_text('a"b\\c\nd\u2028 ', "comment") == 'a\\"b\\\\c\\nd\\u2028\\x20'
    with pytest.raises(ValueError):
        spec_text("x", "html")


SPEC = """model tiny
data x: vector[2] from "{source}"
latent z: [2] ~ normal(0, 1)
generator G(z) -> [2] {{
    linear(2)
}}
critic C(x) -> [1] {{
    linear(1)
}}
forward {{
    z ~ prior
    fake = G(z)
}}
loss = gan(C(x), C(fake), wasserstein, clip=0.01)
"""


@pytest.mark.parametrize("path", ['a"+__import__("os").system("echo pwned")+"b.gen', "a\u2028import os\u2028.gen",
                                  "%(prog)s%(oops)s.gen", "dir\\name\\spec.gen", "trailing .gen ", "tab\there.gen"])
def test_a_hostile_spec_path_is_held_exactly_by_every_generated_file(path):
    result = compile_source(SourceFile(path, SPEC.format(source="ring8")))
    assert result.ok, [d.message for d in result.diagnostics]
    for name, text in result.files.items():
        if name.startswith("../"):
            continue
        compile(text, name, "exec")
        header = text.splitlines()[0]
        shown = re.fullmatch(r"# Code generated by gendsl from (.*)\. DO NOT EDIT\.", header)[1]
        assert _read_back(shown) == path
    recipe = ast.parse(result.files["train.py"])
    specs = [k.value.value for node in ast.walk(recipe) if isinstance(node, ast.Call)
             for k in node.keywords if k.arg == "spec"]
    assert specs == [path]


@pytest.mark.parametrize("value", ["1 # x\u2028import os\u2028", '1 # """ x\\', "1 # %(prog)s\x85print(1)"])
def test_a_set_value_stays_one_comment_line_exactly(value):
    """A `--set` value may end in a comment, which may hold U+2028: `str.splitlines` (and so the tidying
    of generated files) breaks lines there, so written as it is it would start a line of code."""
    spec = SPEC.format(source="ring8").replace("latent z", "param tag = 1\nlatent z")
    result = compile_source(SourceFile("v.gen", spec), sets=(f"tag={value}",))
    assert result.ok, [d.message for d in result.diagnostics]
    for name, text in result.files.items():
        if name.startswith("../"):
            continue
        compile(text, name, "exec")
        sets = [c for c in _comments(text) if c.startswith("# --set")]
        assert [_said(c) for c in sets] == [f"--set tag={value}"]
        assert "import os" not in [line.strip() for line in text.splitlines()]
