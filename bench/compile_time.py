"""Compile time of whole `gendsl` processes, against the interpreter's floor, and what they import."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import PYTHON, ROOT, Stat, child_env, gendsl_command, log, run

GOAL_DCGAN_S = 0.3


def specs(root: Path = ROOT) -> list[Path]:
    return sorted((root / "specs").glob("*.gen"))


def measure(reps: int, spec_paths: list[Path] | None = None, baselines: bool = True) -> dict:
    """Median and range of `reps` runs of each command, interleaved so that drift hits all alike.

    One warm-up round first: it writes the .pyc files and gendsl's caches (lark's tables, compiled
    templates), as any earlier run on a user's machine would have.
    """
    spec_paths = spec_paths if spec_paths is not None else specs()
    work = Path(tempfile.mkdtemp(prefix="gendsl-bench-compile-"))
    cache = work / "cache"
    env = child_env(GENDSL_CACHE_DIR=str(cache))
    gendsl = gendsl_command()
    shown_gendsl = "gendsl"
    commands: dict[str, tuple[list[str], str]] = {"python -c pass": ([PYTHON, "-c", "pass"], 'python -c "pass"')}
    if baselines:
        commands["python -c 'import torch'"] = ([PYTHON, "-c", "import torch"], 'python -c "import torch"')
    for spec in spec_paths:
        rel = _rel(spec)
        commands[f"compile {spec.name}"] = (gendsl + ["compile", "-q", "-o", str(work / "out"), str(spec)],
                                            f"{shown_gendsl} compile -o /tmp/out {rel}")
    commands["check (all specs)"] = (gendsl + ["check"] + [str(s) for s in spec_paths],
                                     f"{shown_gendsl} check specs/*.gen")
    stats = {name: Stat() for name in commands}
    try:
        for rep in range(reps + 1):
            for name, (cmd, _) in commands.items():
                r = run(cmd, cwd=work, env=env, check=False)
                if r.returncode not in (0, 1):  # 1: a spec with errors is still a measured run
                    raise RuntimeError(f"{name}: exit {r.returncode}\n{r.stderr[-1500:]}")
                if rep:  # round 0 is the warm-up
                    stats[name].add(r.seconds)
            log(f"  compile time: round {rep}/{reps} done")
        # cold: empty parse-table and template caches (as on a fresh install); .pyc files exist
        cold = Stat()
        if spec_paths:
            dcgan = next((s for s in spec_paths if s.name == "dcgan.gen"), spec_paths[0])
            for _ in range(max(1, reps // 2)):
                shutil.rmtree(cache, ignore_errors=True)
                cold.add(run(gendsl + ["compile", "-q", "-o", str(work / "out"), str(dcgan)], cwd=work,
                             env=env).seconds)
        imports = import_profile(work, env, spec_paths)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "stats": stats,
        "commands": {name: shown for name, (_, shown) in commands.items()},
        "cold_dcgan": cold,
        "imports": imports,
        "goal_s": GOAL_DCGAN_S,
    }


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_profile(work: Path, env: dict, spec_paths: list[Path]) -> dict:
    """`python -X importtime -m gendsl compile/check`: the slowest imports and the heavy ones avoided."""
    out = {}
    target = next((s for s in spec_paths if s.name == "dcgan.gen"), spec_paths[0] if spec_paths else None)
    if target is None:
        return out
    for command in ("compile", "check"):
        args = [PYTHON, "-X", "importtime", "-m", "gendsl", command]
        args += ["-q", "-o", str(work / "out")] if command == "compile" else []
        r = run(args + [str(target)], cwd=work, env=env, check=False)
        rows = []
        for line in r.stderr.splitlines():
            m = _LINE.match(line)
            if m:
                rows.append((m.group(4), int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2))
        top_level = [(name, cum) for name, _, cum, depth in rows if depth == 0]
        total = sum(cum for _, cum in top_level)
        names = {name for name, *_ in rows}
        out[command] = {
            "total_ms": total / 1000,
            "top": sorted(top_level, key=lambda r: -r[1])[:8],
            "own_slowest": sorted(((n, s) for n, s, _, _ in rows if n.startswith("gendsl")), key=lambda r: -r[1])[:5],
            "heavy": {m: (m in names) for m in ("networkx", "jinja2", "torch", "numpy", "difflib", "tempfile")},
        }
    return out


def measure_commit(commit: str, reps: int, spec: str = "specs/dcgan.gen") -> dict | None:
    """`gendsl compile` of `spec` with the compiler as of `commit` (git archive, run with PYTHONPATH),
    interleaved with the current one: the before/after of a speed-up, on the same machine and load."""
    import subprocess

    work = Path(tempfile.mkdtemp(prefix="gendsl-bench-commit-"))
    try:
        old = work / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True)
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        env_new = child_env(GENDSL_CACHE_DIR=str(work / "cache"))
        env_old = child_env(GENDSL_CACHE_DIR=str(work / "cache"), PYTHONPATH=str(old))
        new_cmd = [PYTHON, "-m", "gendsl", "compile", "-q", "-o", str(work / "out"), str(ROOT / spec)]
        old_cmd = [PYTHON, "-m", "gendsl", "compile", "-q", "-o", str(work / "out_old"), str(old / spec)]
        before, after = Stat(), Stat()
        for rep in range(reps + 1):
            b = run(old_cmd, cwd=work, env=env_old)
            a = run(new_cmd, cwd=work, env=env_new)
            if rep:
                before.add(b.seconds)
                after.add(a.seconds)
        return {"commit": commit, "spec": spec, "before": before, "after": after}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(result: dict) -> tuple[list[list[str]], list[str]]:
    """Table rows and notes."""
    stats, shown = result["stats"], result["commands"]
    floor = stats["python -c pass"].median
    rows = []
    for name, st in stats.items():
        rows.append([name, st.fmt(3, "s"), f"{st.median - floor:+.3f} s", f"`{shown[name]}`"])
    notes = []
    dc = stats.get("compile dcgan.gen")
    if dc is not None:
        verdict = "met" if dc.median < result["goal_s"] else "NOT met"
        notes.append(f"Goal `gendsl compile specs/dcgan.gen` < {result['goal_s']} s median: {verdict} "
                     f"({dc.median:.3f} s).")
    if result["cold_dcgan"].values:
        notes.append(f"First run after installing (parse-table and template caches empty, .pyc files present): "
                     f"{result['cold_dcgan'].fmt(3, 's')} for dcgan.gen.")
    base = result.get("baseline")
    if base:
        notes.append(f"Before/after the compile-time work (`{base['spec']}`, compiler of commit {base['commit']} "
                     f"against this one, interleaved runs of `python -m gendsl compile`): "
                     f"{base['before'].fmt(3, 's')} -> {base['after'].fmt(3, 's')}, "
                     f"{base['before'].median / base['after'].median:.2f}x faster.")
    return rows, notes


if __name__ == "__main__":  # python -m bench.compile_time
    res = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    rows, notes = report(res)
    from bench.common import table

    print(table(rows, ["command", "median (min-max)", "over python -c pass", "reproduce"]))
    print("\n".join(notes))
    print(res["imports"])
