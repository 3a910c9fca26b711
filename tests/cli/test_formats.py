"""`--format text|json|github|sarif`: goldens per format, escaping, the GitHub default, SARIF's shape.

Regenerate the goldens after an intended change: GENDSL_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_formats.py
"""

from __future__ import annotations

import json
import os

from pathlib import Path

import pytest

from gendsl.cli import main
from gendsl.diagnostics import Diagnostic
from gendsl.formats import escape_data, escape_property, github_command
from gendsl.source import SourceFile, Span

CASES = Path(__file__).resolve().parents[1] / "formats"
# variant.gen extends lib/conv_base.gen: diagnostics with their primary span in one file and a related one in
# the other; missing.gen does not exist: a diagnostic without a span
FILES = ["related.gen", "warning.gen", "variant.gen", "missing.gen"]


def run_check(fmt, monkeypatch, capsys, *extra) -> tuple[int, str, str]:
    monkeypatch.chdir(CASES)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    status = main(["check", *([f"--format={fmt}"] if fmt else []), *FILES, *extra])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_format_golden(fmt, monkeypatch, capsys):
    status, out, err = run_check(fmt, monkeypatch, capsys)
    assert status == 1
    shown = err if fmt == "text" else out
    assert (out if fmt == "text" else err) == ""  # one stream only: the other stays clean for machines
    golden = CASES / f"expected.{fmt}"
    if os.environ.get("GENDSL_UPDATE_GOLDEN"):
        golden.write_text(shown, encoding="utf-8")
    assert shown == golden.read_text(encoding="utf-8")


def test_json_lines_carry_every_field(monkeypatch, capsys):
    _, out, _ = run_check("json", monkeypatch, capsys)
    records = [json.loads(line) for line in out.splitlines()]
    first = records[0]
    assert (first["file"], first["code"], first["severity"]) == ("related.gen", "E0202", "error")
    assert (first["line"], first["column"], first["end_line"], first["end_column"]) == (10, 9, 10, 12)
    assert first["related"] == [{"file": "related.gen", "line": 5, "column": 9, "end_line": 5, "end_column": 12,
                                 "message": "first declared here, as a network"}]
    assert first["help"].startswith("top-level names")
    assert {r["severity"] for r in records} == {"error", "warning"}
    assert "line" not in records[-1]  # the unreadable file has no position


def test_each_location_of_a_variant_names_its_own_file(monkeypatch, capsys):
    _, out, _ = run_check("json", monkeypatch, capsys)
    records = {r["code"]: r for r in map(json.loads, out.splitlines()) if r["code"] in ("E0303", "E0605")}
    broken, again = records["E0303"], records["E0605"]
    assert (broken["file"], broken["line"], broken["column"]) == ("lib/conv_base.gen", 18, 20)
    assert [(r["file"], r["line"], r["column"]) for r in broken["related"]] == [("variant.gen", 5, 23)]
    assert (again["file"], again["line"]) == ("variant.gen", 6)
    assert [(r["file"], r["line"]) for r in again["related"]] == [("lib/conv_base.gen", 5)]

    _, out, _ = run_check("github", monkeypatch, capsys)
    line = next(c for c in out.splitlines() if "E0303" in c)
    assert line.startswith("::error file=lib/conv_base.gen,line=18,col=20,")
    assert "%0Avariant.gen:5:23: `size` is 4 here" in line

    _, out, _ = run_check("sarif", monkeypatch, capsys)
    result = next(r for r in json.loads(out)["runs"][0]["results"] if r["ruleId"] == "E0303")
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "lib/conv_base.gen"
    related = result["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"] == "variant.gen" and related["region"]["startLine"] == 5


def test_github_is_the_default_under_github_actions(monkeypatch, capsys):
    monkeypatch.chdir(CASES)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["check", "related.gen"]) == 1
    assert capsys.readouterr().out.startswith("::error file=related.gen,line=10,col=9,endLine=10,endColumn=12,")
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    main(["check", "related.gen"])
    assert "error[E0202]" in capsys.readouterr().err


def test_github_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a,b:c%d\n") == "a%2Cb%3Ac%25d%0A"
    source = SourceFile("dir,x/a:b%.gen", "model m\n")
    d = Diagnostic("error", "E0201", "unknown `50%`\nname", Span(6, 7), notes=("a, b: c",))
    line = github_command(d, source)
    assert line.startswith("::error file=dir%2Cx/a%3Ab%25.gen,line=1,col=7,endLine=1,endColumn=8,title=E0201%3A ")
    assert line.endswith("::unknown `50%25`%0Aname%0Anote: a, b: c")
    assert "\n" not in line


def test_sarif_log_is_2_1_0_with_related_locations(monkeypatch, capsys):
    _, out, _ = run_check("sarif", monkeypatch, capsys)
    log = json.loads(out)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    first = run["results"][0]
    assert rules[first["ruleIndex"]] == first["ruleId"] == "E0202"
    region = first["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"], region["endColumn"]) == (10, 9, 12)
    related = first["relatedLocations"][0]
    assert related["physicalLocation"]["region"]["startLine"] == 5
    assert related["message"]["text"] == "first declared here, as a network"
    assert {r["level"] for r in run["results"]} == {"error", "warning"}


def test_sarif_of_a_clean_run_is_an_empty_log(monkeypatch, capsys):
    monkeypatch.chdir(CASES.parents[1])
    assert main(["check", "--format", "sarif", "specs/vae.gen"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["results"] == []


def test_machine_formats_keep_stdout_parseable_for_summary_and_compile(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(CASES.parents[1])
    assert main(["summary", "--format", "json", "specs/vae.gen"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "encoder enc" in out.err
    assert main(["compile", "--format", "sarif", "specs/vae.gen", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["runs"][0]["results"] == [] and "wrote" in out.err
