"""Golden tests: the committed generated code is exactly what the compiler writes today.

Every spec in specs/ is compiled in memory and compared byte for byte with
generated/<model>/; every tests/cases/<name>/spec.gen with its expected/ folder.
A failure shows a unified diff. When the change is intended, regenerate with

    python -m tests.update_golden        (or: gendsl compile specs/*.gen)

and review and commit the diff together with the compiler change.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("update_golden", Path(__file__).resolve().parents[1] / "update_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

HOW_TO_UPDATE = ("if this change is intended, run `python -m tests.update_golden` (or `gendsl compile specs/*.gen`) "
                 "and commit the result")
MAX_DIFF_LINES = 80


def _diff(expected: str, actual: str, shown: str) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                      f"{shown} (committed)", f"{shown} (compiler output)"))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more diff lines\n"]
    return "".join(lines)


def _compare(folder: Path, files: dict[str, str], exhaustive: bool) -> None:
    problems = []
    for name, text in sorted(files.items()):
        target = folder / name
        shown = target.relative_to(golden.ROOT).as_posix()
        if not target.exists():
            problems.append(f"{shown} is missing")
            continue
        committed = target.read_bytes().decode("utf-8")
        if committed != text:
            problems.append(f"{shown} differs from the compiler's output:\n{_diff(committed, text, shown)}")
    if exhaustive and folder.is_dir():
        for extra in sorted(p for p in folder.iterdir() if p.is_file() and p.name not in files):
            problems.append(f"{extra.relative_to(golden.ROOT).as_posix()} is no longer generated")
    if problems:
        pytest.fail("\n".join(problems) + "\n" + HOW_TO_UPDATE, pytrace=False)


SPECS = golden.spec_paths()
CASES = golden.case_paths()


def test_catalogue_is_not_empty():
    assert len(SPECS) >= 20, [p.name for p in SPECS]
    assert CASES, "tests/cases/*/spec.gen"


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_generated_matches_spec(path):
    folder, files = golden.expected_spec_files(path)
    assert folder.name == path.stem, f"{path.name} declares `model {folder.name}`; name the file after the model"
    _compare(folder, files, exhaustive=True)


@pytest.mark.parametrize("path", CASES, ids=[p.parent.name for p in CASES])
def test_case_matches_expected(path):
    folder, files = golden.expected_case_files(path)
    _compare(folder, files, exhaustive=True)


def test_no_generated_folder_without_a_spec():
    models = {p.stem for p in SPECS} | {golden.runtime_folder()}
    orphans = sorted(p.name for p in golden.GENERATED.iterdir() if p.is_dir() and p.name not in models)
    assert not orphans, f"generated/ has folders for no spec in specs/: {orphans}; delete them"


def test_the_comparison_can_fail(tmp_path, monkeypatch):
    """The golden check itself notices an edited line, a missing file and a stale one."""
    monkeypatch.setattr(golden, "ROOT", tmp_path)
    (tmp_path / "model.py").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "old.py").write_text("", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception) as info:
        _compare(tmp_path, {"model.py": "a\nc\n", "train.py": "x\n"}, exhaustive=True)
    message = str(info.value)
    assert "-b\n+c" in message and "train.py is missing" in message and "old.py is no longer generated" in message
    assert "python -m tests.update_golden" in message
