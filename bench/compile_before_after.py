"""`gendsl compile specs/dcgan.gen` of an older commit against this tree: wall and CPU seconds, interleaved.

CPU seconds (user + system of the child) say what a change costs when the machine is shared and wall times
swing with the load: `python -m bench.compile_before_after COMMIT [REPS] [PYTHON]`.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(commit: str, reps: int, python: str = sys.executable) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gendsl-bench-before-after-"))
    try:
        old = work / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        trees = {"before": old, "after": ROOT}
        wall = {k: [] for k in trees}
        cpu = {k: [] for k in trees}
        for rep in range(reps + 1):  # round 0 warms .pyc files and caches
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree), "GENDSL_CACHE_DIR": str(work / f"cache_{name}")}
                cmd = [python, "-m", "gendsl", "compile", "-q", "-o", str(work / f"out_{name}"),
                       str(ROOT / "specs" / "dcgan.gen")]
                u = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(cmd, cwd=tree, env=env, check=True)
                seconds = time.perf_counter() - t
                v = resource.getrusage(resource.RUSAGE_CHILDREN)
                if rep:
                    wall[name].append(seconds)
                    cpu[name].append(v.ru_utime - u.ru_utime + v.ru_stime - u.ru_stime)
        return {"wall": wall, "cpu": cpu}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    commit = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    res = measure(commit, reps, sys.argv[3] if len(sys.argv) > 3 else sys.executable)
    for name in ("before", "after"):
        print(f"{name}: wall {fmt(res['wall'][name])}, cpu {fmt(res['cpu'][name])}")
    ratio = statistics.median(res["cpu"]["after"]) / statistics.median(res["cpu"]["before"])
    print(f"cpu after/before: {ratio:.2f}; load average {os.getloadavg()}")
