"""A model written as a three-level variant against the same model in one file (issue 10).

The chain: `base.gen` (the VAE of specs/vae.gen, statements named), `mid.gen extends "base.gen"`
(a parameter and a network edit), `top.gen extends "mid.gen"` (another parameter, an inserted layer,
a training setting). `flat.gen` is `gendsl resolve top.gen`: the same model, one file. Compiled in
process (read, parse, merge, check, emit; imports warm) and as whole `gendsl compile` processes, in
interleaved rounds. Goal: the variant within 1.5x of the flat file.

    python -m bench.variants [--reps N] [--write]    # --write: replace the section in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Stat, child_env, gendsl_command, log, run, table

GOAL_RATIO = 1.5
BASE = (ROOT / "specs" / "vae.gen").read_text(encoding="utf-8").replace(
    "    linear(hidden) -> relu\n    linear(784) -> sigmoid", "    g1 = linear(hidden) -> relu\n    g2 = linear(784) -> sigmoid")
MID = """model mid extends "base.gen"
override param latent = 16
insert after dec.g1 { g15 = linear(hidden) -> relu }
"""
TOP = """model top extends "mid.gen"
override param hidden = 256
override dec.g2 = linear(784) -> sigmoid
train { override batch_size = 64 }
"""


def chain(folder: Path) -> tuple[Path, Path]:
    """Write the three files and their resolved one-file form; return (top.gen, flat.gen)."""
    from gendsl.compose.report import resolve_text

    for name, text in {"base.gen": BASE, "mid.gen": MID, "top.gen": TOP}.items():
        (folder / name).write_text(text, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        text, result = resolve_text("top.gen")
    finally:
        os.chdir(cwd)
    assert text is not None and result.ok, [d.message for d in result.diagnostics]
    flat = text.replace("model top", "model top", 1)
    (folder / "flat.gen").write_text(flat, encoding="utf-8")
    return folder / "top.gen", folder / "flat.gen"


def measure(reps: int = 20, process_reps: int = 5) -> dict:
    from gendsl.driver import compile_path

    work = Path(tempfile.mkdtemp(prefix="gendsl-bench-variants-"))
    try:
        top, flat = chain(work)
        cwd = os.getcwd()
        os.chdir(work)
        try:
            for path in (top, flat):  # warm: imports, lark's tables, compiled templates
                assert compile_path(path.name).ok
            inproc = {"variant": Stat(), "flat": Stat()}
            for _ in range(reps):
                for name, path in (("variant", top), ("flat", flat)):
                    t = time.perf_counter()
                    compile_path(path.name)
                    inproc[name].add(time.perf_counter() - t)
        finally:
            os.chdir(cwd)
        env = child_env(GENDSL_CACHE_DIR=str(work / "cache"))
        gendsl = gendsl_command()
        process = {"variant": Stat(), "flat": Stat()}
        for rep in range(process_reps + 1):
            for name, path in (("variant", top), ("flat", flat)):
                r = run(gendsl + ["compile", "-q", "-o", str(work / "out"), path.name], cwd=work, env=env)
                if rep:
                    process[name].add(r.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [v / f for v, f in zip(inproc["variant"].values, inproc["flat"].values)]
    return {"inproc": inproc, "process": process, "ratio_inproc": sorted(ratios)[len(ratios) // 2],
            "ratio_process": process["variant"].median / process["flat"].median, "goal": GOAL_RATIO}


def report(result: dict) -> list[str]:
    rows = [["in process (read, parse, merge, check, emit)", result["inproc"]["variant"].fmt(4, "s"),
             result["inproc"]["flat"].fmt(4, "s"), f"{result['ratio_inproc']:.2f}x"],
            ["whole `gendsl compile` process", result["process"]["variant"].fmt(3, "s"),
             result["process"]["flat"].fmt(3, "s"), f"{result['ratio_process']:.2f}x"]]
    met = "met" if result["ratio_inproc"] <= result["goal"] else "NOT met"
    return ["## Variants: a three-level variant against the same model in one file", "",
            "`top.gen` extends `mid.gen`, which extends `base.gen` (the VAE of specs/vae.gen); `flat.gen` is "
            "`gendsl resolve top.gen`, the same model in one file, which compiles to the same output. Medians "
            "(min-max) of interleaved runs; the in-process ratio is the median of per-round ratios. Reproduce: "
            "`python -m bench.variants --write` (the files are written by `bench.variants.chain`).", "",
            table(rows, ["", "variant (3 files)", "one file", "ratio"]), "",
            f"- Goal: the variant within {result['goal']}x of the one-file model: {met} "
            f"({result['ratio_inproc']:.2f}x in process, {result['ratio_process']:.2f}x as whole processes).", ""]


SECTION = re.compile(r"## Variants: a three-level variant.*?(?=\n## |\Z)", re.S)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--write", action="store_true", help="replace this section in docs/benchmarks.md")
    args = p.parse_args(argv)
    log("variants: three-level variant against one file ...")
    text = "\n".join(report(measure(args.reps)))
    print(text)
    if args.write:
        doc = ROOT / "docs" / "benchmarks.md"
        old = doc.read_text(encoding="utf-8")
        new = SECTION.sub(lambda m: text.rstrip("\n") + "\n", old) if SECTION.search(old) else \
            old.rstrip("\n") + "\n\n" + text
        doc.write_text(new, encoding="utf-8")
        log(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
