"""The catalogue rewritten as variants (specs/lib, `extends`, named terms) generates exactly what the
same models gave as whole files: tests/catalogue_flat/ keeps those files, unchanged since before the
rewrite. The only difference allowed is the header's source list and the hash over the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from gendsl.driver import compile_path, compile_source
from gendsl.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
FLAT = sorted((ROOT / "tests" / "catalogue_flat").glob("*.gen"))


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_every_variant_in_the_catalogue_has_its_flat_reference():
    variants = {p.name for p in (ROOT / "specs").glob("*.gen")
                if len(compile_path(f"specs/{p.name}", emit_files=False).composition.files) > 1}
    new = {"beta_vae.gen"}  # added as a variant; it had no whole-file form before
    assert variants - new <= {p.name for p in FLAT}
    assert len(variants) >= 8


@pytest.mark.parametrize("flat", FLAT, ids=lambda p: p.stem)
def test_variant_generates_the_same_bytes_as_the_whole_file_it_replaced(flat: Path):
    spec = f"specs/{flat.name}"
    new = compile_path(spec)
    old = compile_source(SourceFile(spec, flat.read_text(encoding="utf-8")))
    assert new.ok and old.ok
    assert sorted(new.files) == sorted(old.files)
    sources = [line for f in new.composition.files for line in (f"# source {f.path}", f"#   sha256: {f.sha256}")]
    for name, text in new.files.items():
        lines = text.split("\n")
        if len(new.composition.files) > 1 and not name.startswith("../"):  # not the shared runtime
            listed = [line for line in lines if line.startswith(("# source specs/", "#   sha256: "))]
            assert listed == sources, name  # every source file, in reading order, with its hash
        kept = "\n".join(line for line in lines if line not in sources)
        assert kept.replace(new.model.sha256, old.model.sha256) == old.files[name], name


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.gen")), ids=lambda p: p.stem)
def test_resolved_catalogue_spec_compiles_to_the_same_output(spec: Path):
    """`gendsl resolve` of every catalogue spec is one file that generates the same bytes (the header's
    path and source list aside: the resolved text is compiled under the spec's own path)."""
    from gendsl.compose.report import resolve_text

    rel = f"specs/{spec.name}"
    text, result = resolve_text(rel)
    assert text is not None and result.ok
    code = [line for line in text.splitlines() if not line.startswith("#")]
    assert not any(line.startswith(("import ", "from ", "override ", "remove ", "insert ")) or " extends " in line
                   for line in code)
    new = compile_path(rel)
    flat = compile_source(SourceFile(rel, text))
    assert flat.ok
    for name, body in new.files.items():
        kept = "\n".join(line for line in body.split("\n") if not line.startswith(("# source specs/", "#   sha256: ")))
        assert kept.replace(new.model.sha256, flat.model.sha256) == flat.files[name], name
