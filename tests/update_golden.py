"""Regenerate the golden files the tests compare the compiler against.

    python -m tests.update_golden          # from the repository root

* generated/<model>/ for every spec in specs/ (the same as `gendsl compile specs/*.gen`,
  plus removing files the compiler no longer writes);
* tests/cases/<name>/expected/ for every tests/cases/<name>/spec.gen: the files
  generated from the spec itself (not the runtime copies that are the same for every model).

Specs are compiled under their repository-relative path (`specs/vae.gen`), so the
headers do not depend on the folder the command runs from. Review the diff before
committing it: every change in it is a change in what users get.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"
CASES = ROOT / "tests" / "cases"


def spec_paths() -> list[Path]:
    return sorted(SPECS.glob("*.gen"))


def case_paths() -> list[Path]:
    return sorted(CASES.glob("*/spec.gen"))


def compile_spec(path: Path):
    """Compile one spec in memory, named by its path relative to the repository root."""
    from gendsl.driver import compile_source
    from gendsl.source import SourceFile

    shown = path.resolve().relative_to(ROOT).as_posix()
    result = compile_source(SourceFile(shown, path.read_text(encoding="utf-8"), origin=str(path)))
    if not result.ok:
        from gendsl.render import render

        text = "\n".join(render(d, result.source) for d in result.diagnostics)
        raise SystemExit(f"{shown} does not compile:\n{text}")
    return result


def runtime_names() -> frozenset[str]:
    """Files copied verbatim from gendsl/runtime/ into every generated folder."""
    import gendsl.emit

    return frozenset(getattr(gendsl.emit, "RUNTIME_FILES", ()))


def expected_spec_files(path: Path) -> tuple[Path, dict[str, str]]:
    """generated/<model>/ and its files, for a spec in specs/."""
    result = compile_spec(path)
    return GENERATED / result.model.name, dict(result.files)


def expected_case_files(path: Path) -> tuple[Path, dict[str, str]]:
    """tests/cases/<name>/expected/ and its files, for a case's spec.gen."""
    result = compile_spec(path)
    skip = runtime_names()
    return path.parent / "expected", {n: t for n, t in result.files.items() if n not in skip}


def _write(folder: Path, files: dict[str, str]) -> list[str]:
    from gendsl.files import write_atomically

    changed = [name for name, text in sorted(files.items())
               if not (folder / name).exists() or (folder / name).read_text(encoding="utf-8") != text]
    write_atomically(folder, files)
    for stale in sorted(folder.iterdir()):
        if stale.is_file() and stale.name not in files:
            stale.unlink()
            changed.append(f"{stale.name} (removed)")
    return changed


def main() -> int:
    for path in spec_paths():
        folder, files = expected_spec_files(path)
        for name in _write(folder, files):
            print(f"updated {folder.relative_to(ROOT).as_posix()}/{name}")
    for path in case_paths():
        folder, files = expected_case_files(path)
        for name in _write(folder, files):
            print(f"updated {folder.relative_to(ROOT).as_posix()}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
