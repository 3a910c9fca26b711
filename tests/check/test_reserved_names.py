"""Every name that generated code uses on its own is reserved, so that no spec name can shadow it.

A spec's names become Python identifiers in generated code (variables in `forward`, `train_step`,
`main`, ...). If a spec could call its data `step` or its latent `first`, the generated script would
overwrite one of its own variables. This test compiles the catalogue and the golden cases, collects
every identifier the generated Python binds or reads, takes away the words of the spec itself, and
requires the rest to be refused as spec names (gendsl/check/names.py).
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gendsl.check.names import GENERATED_NAMES, GENERATED_PREFIXES, MODULE_ATTRIBUTES
from gendsl.driver import compile_source
from gendsl.files import write_atomically
from gendsl.lower.names import model_class_name, network_class_names
from gendsl.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(ROOT.glob("specs/*.gen")) + sorted(ROOT.glob("tests/cases/*/spec.gen"))
SPEC_FILES = ("model.py", "train.py", "apps.py")  # the files that spec names reach


def identifiers(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def comprehension_locals(tree: ast.AST) -> set[str]:
    """Variables of comprehensions that read no spec name: their scope is their own, so a spec name
    equal to one of them changes nothing."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if not any(MARK in i for i in identifiers(node)):
                for gen in node.generators:
                    names |= identifiers(gen.target)
    return names


def one_file(path: Path) -> str:
    """The spec as one file: a variant resolved with its bases and imports (`gendsl resolve`), so that
    renaming its declared names reaches every one of them."""
    from gendsl.compose.report import resolve_text

    text, result = resolve_text(str(path))
    assert text is not None, [d.message for d in result.diagnostics]
    return text if len(result.composition.files) > 1 else path.read_text()


def compiled(path: Path) -> tuple[str, dict[str, str]]:
    text = one_file(path)
    result = compile_source(SourceFile(str(path.relative_to(ROOT)), text))
    assert result.ok, [d.message for d in result.diagnostics]
    return text, result.files


def scopes(code: str):
    """Each function and method of a module, with its nested functions, as an AST node."""
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            yield node
        elif isinstance(node, ast.ClassDef):
            yield from (n for n in node.body if isinstance(n, ast.FunctionDef))


def reserved(ident: str) -> bool:
    return (ident in GENERATED_NAMES or ident in MODULE_ATTRIBUTES or ident.startswith("_")
            or ident.startswith(GENERATED_PREFIXES) or keyword.iskeyword(ident) or hasattr(builtins, ident))


MARK = "_q7"  # appended to every name the spec declares, to tell its names from generated code's own


def declared_names(model) -> set[str]:
    names = set(model.params) | {d.name for d in model.data} | {lat.name for lat in model.latents}
    names |= {s.name for s in model.schedules} | set(model.variables)
    for net in model.networks:
        names.add(net.name)
        names |= {n for n, _ in net.inputs} | {h for h, _, _ in net.outputs if h}
        names |= {layer.statement for layer in net.layers if layer.statement}
    return names


# words of the language (`latent`, `data`, ...): a parameter may share one, and textual renaming
# would rename the keyword too, so such names are left as they are
KEYWORDS = set(re.findall(r'"([a-z_]+)"', (ROOT / "gendsl" / "syntax" / "gen.lark").read_text()))


def marked(text: str, names: set[str]) -> str:
    """The spec with each declared name renamed NAME_q7 (outside strings and comments)."""
    names = names - KEYWORDS
    pattern = re.compile(r'"[^"\n]*"|#[^\n]*|\b(' + "|".join(sorted(map(re.escape, names), key=len, reverse=True))
                         + r")\b")
    return pattern.sub(lambda m: m.group(0) + MARK if m.group(1) else m.group(0), text)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_names_of_generated_code_are_reserved(path):
    """In every function that a spec name reaches, every other name must be one a spec cannot take."""
    text = one_file(path)
    first = compile_source(SourceFile(str(path.relative_to(ROOT)), text))
    assert first.ok
    names = declared_names(first.model)
    result = compile_source(SourceFile(str(path.relative_to(ROOT)), marked(text, names)))
    assert result.ok, [d.render() if hasattr(d, "render") else d.message for d in result.diagnostics]
    # names the compiler picks around the spec's: network classes, and the running variable of
    # `forward` (`h`, or `h_`... when the spec has an `h`)
    picked = set(network_class_names(result.model).values()) | {model_class_name(result.model)}
    unreserved, derived = set(), set()
    for name, code in result.files.items():
        if Path(name).name not in SPEC_FILES:
            continue
        for scope in scopes(code):
            # the function's own name is a global, not one of its variables
            inside = identifiers(scope) - comprehension_locals(scope) - picked - {scope.name}
            if Path(name).name == "model.py" and scope.name == "forward":
                inside = {i for i in inside if not re.fullmatch(r"h_*\d*", i)}
            from_spec = {i for i in inside if MARK in i}
            if not from_spec:
                continue
            for ident in from_spec:
                if not ident.endswith(MARK) and not ident.startswith(GENERATED_PREFIXES):
                    derived.add(f"{ident} ({Path(name).name}: {scope.name})")
            for ident in inside - from_spec:
                if not reserved(ident):
                    unreserved.add(f"{ident} ({Path(name).name}: {scope.name})")
    assert not unreserved, f"add to GENERATED_NAMES: {sorted(unreserved)}"
    assert not derived, f"names made from spec names can collide with spec names: {sorted(derived)}"


@pytest.mark.parametrize("name", ["first", "generate_many", "loss_real", "loss_fake", "parameter", "values"])
def test_a_spec_cannot_take_a_generated_name(name):
    text = (ROOT / "specs" / "ae_mlp.gen").read_text()
    hostile = re.sub(r"\bx\b", name, text)
    result = compile_source(SourceFile("hostile.gen", hostile))
    assert not result.ok
    assert {d.code for d in result.diagnostics if d.is_error} == {"E0207"}
    assert f"`{name}` is reserved" in result.diagnostics[0].message


@pytest.mark.parametrize("name", ["step", "epoch", "out", "batch", "inputs", "checkpoint"])
def test_names_of_the_training_loop_are_free(tmp_path, name):
    """The loop of main() reads batches into its own variables, so a spec may call its data `step`."""
    pytest.importorskip("torch")
    text = (ROOT / "specs" / "ae_mlp.gen").read_text()
    result = compile_source(SourceFile("free.gen", re.sub(r"\bx\b", name, text)))
    assert result.ok, [d.message for d in result.diagnostics]
    write_atomically(tmp_path / "free", result.files)  # and the runtime, in tmp_path/gendsl_runtime/
    run = subprocess.run([sys.executable, "train.py", "--dry-run", "--steps", "2", "--quiet", "--out", "o"],
                         cwd=tmp_path / "free", capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "free" / "o" / "metrics.json").exists()


def test_the_language_reference_lists_every_reserved_name():
    text = (ROOT / "docs" / "language.md").read_text()
    marker = "<!-- reserved names: kept equal to gendsl/check/names.py by tests/check/test_reserved_names.py -->\n"
    listed = text.split(marker, 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", listed)) == set(GENERATED_NAMES)
    for prefix in GENERATED_PREFIXES:
        assert f"`{prefix}`" in text
