"""Editor support: the Pygments lexer (through its entry point) and the VS Code TextMate grammar, both
run over every spec of the catalogue: every token gets a real, non-error scope."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments")
from pygments.token import Error, Token  # noqa: E402

from gendsl.pygments_lexer import GenLexer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# the catalogue (its variants and specs/lib/ too), the golden cases, and the variant constructs' layout golden
SPECS = sorted((ROOT / "specs").rglob("*.gen")) + sorted((ROOT / "tests" / "cases").glob("*/spec.gen")) + \
    [ROOT / "tests" / "fmt" / "variants.expected"]
VARIANT = (ROOT / "tests" / "fmt" / "variants.expected").read_text(encoding="utf-8")
KEYWORDS = {"import", "as", "from", "model", "extends", "override", "remove", "insert", "after", "before", "param",
            "encoder", "generator", "network", "loss", "train", "forward"}


def _id(path: Path) -> str:
    return path.parent.name if path.name == "spec.gen" else path.relative_to(ROOT).as_posix()


VSCODE = ROOT / "editors" / "vscode"


# ---- Pygments ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", SPECS, ids=_id)
def test_pygments_gives_every_token_a_real_type(path):
    tokens = list(GenLexer().get_tokens(path.read_text(encoding="utf-8")))
    assert not [t for t in tokens if t[0] in Error]
    assert not [t for t in tokens if t[0] is Token.Text and t[1].strip()]


def test_pygments_marks_what_is_not_the_language():
    tokens = list(GenLexer().get_tokens("param a = 1;\n"))
    assert (Error, ";") in tokens


def test_pygments_keywords_are_contextual():
    tokens = [t for t in GenLexer().get_tokens("param latent = 2\nlatent z: [latent] ~ normal(0, 1)\n")
              if t[1].strip()]
    assert tokens[1] == (Token.Name.Variable, "latent")
    assert tokens[4] == (Token.Keyword.Declaration, "latent")
    assert (Token.Name, "latent") in tokens


def test_pygments_marks_every_keyword_of_a_variant():
    keywords = [(k, v) for k, v in GenLexer().get_tokens(VARIANT) if k in Token.Keyword]
    assert {v for _, v in keywords} == KEYWORDS
    words = [v for _, v in keywords]
    assert words.count("override") == VARIANT.count("override ") and words.count("remove") == VARIANT.count("remove ")
    names = [v for k, v in GenLexer().get_tokens("train {\n    remove = 3\n}\nparam import = 1\n") if k in Token.Name]
    assert names == ["remove", "import"]  # contextual: names where no keyword is expected


def _entry_point() -> str:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["project"]["entry-points"]["pygments.lexers"]["gen"]


def test_pygmentize_finds_the_lexer_through_its_entry_point(tmp_path):
    """As `pygmentize -l gen specs/dcgan.gen`. When this checkout is not the installed gendsl (a shared
    development environment), the same entry point is registered through a dist-info folder of its own."""
    assert _entry_point() == "gendsl.pygments_lexer:GenLexer"
    env = dict(os.environ)
    registered = any(ep.name == "gen" and ep.value == _entry_point()
                     for ep in entry_points(group="pygments.lexers"))
    if not registered:
        info = tmp_path / "gendsl_lexer-0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gendsl-lexer\nVersion: 0\n")
        (info / "entry_points.txt").write_text(f"[pygments.lexers]\ngen = {_entry_point()}\n")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(tmp_path)])
    done = subprocess.run([sys.executable, "-m", "pygments", "-l", "gen", "-f", "html",
                           str(ROOT / "specs" / "dcgan.gen")], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '<span class="kd">generator</span>' in done.stdout and 'class="err"' not in done.stdout


# ---- TextMate ----------------------------------------------------------------------------

def _grammar() -> list[dict]:
    grammar = json.loads((VSCODE / "syntaxes" / "gen.tmLanguage.json").read_text(encoding="utf-8"))
    return [dict(rule, regex=re.compile(rule["match"])) for rule in grammar["repository"]["main"]["patterns"]]


def tokenize(line: str, rules: list[dict]) -> list[tuple[int, int, str]]:
    """TextMate's rule for a flat list of `match` patterns: at each position the match that starts
    earliest wins, the first rule among equals; text no rule matched has no scope of its own."""
    out, pos = [], 0
    while pos < len(line):
        best = None
        for rule in rules:
            m = rule["regex"].search(line, pos)
            if m and (best is None or m.start() < best[0].start()):
                best = (m, rule)
        if best is None:
            break
        m, rule = best
        out.append((m.start(), m.end(), rule["name"]))
        pos = m.end() if m.end() > m.start() else m.start() + 1
    return out


@pytest.mark.parametrize("path", SPECS, ids=_id)
def test_textmate_scopes_every_token(path):
    rules = _grammar()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        covered = [False] * len(line)
        for start, end, scope in tokenize(line, rules):
            assert not scope.startswith("invalid"), f"{path.name}:{number}: {line[start:end]!r} is {scope}"
            covered[start:end] = [True] * (end - start)
        loose = [ch for ch, c in zip(line, covered) if not c and not ch.isspace()]
        assert not loose, f"{path.name}:{number}: no scope for {loose}"


def test_textmate_scopes_the_kinds_of_words():
    rules = _grammar()
    scopes = {"param latent = 2"[s:e]: scope for s, e, scope in tokenize("param latent = 2", rules)}
    assert scopes == {"param": "keyword.declaration.gen", "latent": "variable.other.assignment.gen",
                      "=": "keyword.operator.gen", "2": "constant.numeric.gen"}
    line = "    conv2d(64, 4, stride=2) -> leaky_relu(0.2)  # 16 x 16"
    scopes = {line[s:e]: scope for s, e, scope in tokenize(line, rules)}
    assert scopes["conv2d"] == scopes["leaky_relu"] == "support.function.layer.gen"
    assert scopes["stride"] == "variable.other.assignment.gen"
    assert scopes["# 16 x 16"].startswith("comment.")
    assert [scope for _, _, scope in tokenize("a = 1; 'x'", rules)].count("invalid.illegal.gen") == 3


def test_textmate_marks_every_keyword_of_a_variant():
    rules = _grammar()
    found = []
    for line in VARIANT.splitlines():
        for start, end, scope in tokenize(line, rules):
            if scope == "meta.variant.gen":  # `override param`, `insert after`: two keywords in one match
                found += re.findall(r"[a-z]+", line[start:end])
            elif scope.startswith("keyword.") and scope != "keyword.operator.gen":
                found.append(line[start:end].strip())
    assert set(found) == KEYWORDS
    assert found.count("override") == VARIANT.count("override ") and found.count("remove") == VARIANT.count("remove ")


def test_textmate_grammar_is_built_from_the_vocabulary():
    done = subprocess.run([sys.executable, str(VSCODE / "build.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_vscode_extension_files_fit_together():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    language = package["contributes"]["languages"][0]
    assert language["extensions"] == [".gen"]
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    grammar = package["contributes"]["grammars"][0]
    assert json.loads((VSCODE / grammar["path"]).read_text(encoding="utf-8"))["scopeName"] == grammar["scopeName"]
    for pattern in (config["folding"]["markers"]["start"], config["indentationRules"]["increaseIndentPattern"]):
        assert re.search(pattern, "encoder enc(x) -> [4] {  # open")
