"""Generated documentation stays current: the CLI reference (from argparse), the cookbook pages (from
specs/), and every picture or page the docs link to exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_cli_reference_matches_the_argparse_definitions():
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "tools" / "cli_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_cli_reference_names_every_command_and_option():
    from gendsl.cli import build_parser

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        assert f"## gendsl {name}" in text
        for action in p._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in text, (name, flag)


def test_cookbook_pages_match_the_catalogue():
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "tools" / "pictures.py"), "pages", "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_to_local_files_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to a missing {target}"


def test_tutorial_variant_step_shows_what_the_commands_print(tmp_path, monkeypatch, capsys):
    """docs/tutorial.md's last step: its base and variant specs are written as shown, formatted, and every
    `$ gendsl ...` block of the step prints exactly what the page shows (the E0605 block with the
    variant's `override` left out, as the page says)."""
    import shlex

    from gendsl.cli import main
    from gendsl.fmt import format_text

    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    step = text[text.index("## 10. Write a variant"):]
    base = re.findall(r"```gen\n(.*?)```", text, re.S)[0]
    variant = re.findall(r"```gen\n(.*?)```", step, re.S)[0]
    assert 'model digits_ae_sparse extends "digits_ae.gen"' in variant and "override param code" in variant
    assert format_text(base) == base and format_text(variant) == variant
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "digits_ae.gen").write_text(base, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    shown = re.findall(r"```\n\$ (gendsl [^\n]*)\n(.*?)```", step, re.S)
    assert len(shown) == 3
    for command, expected in shown:
        written = variant.replace("override param code", "param code") if "E0605" in expected else variant
        (tmp_path / "specs" / "digits_ae_sparse.gen").write_text(written, encoding="utf-8")
        status = main(shlex.split(command)[1:])
        out = capsys.readouterr()
        assert (out.out + out.err).strip() == expected.strip(), command
        assert status == (1 if "error[" in expected else 0), command
