"""How compile time grows with the size of a spec: synthetic deep MLPs of 10 to 5,000 layers."""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Stat, child_env, gendsl_command, log, loglog_slope, run

GOAL_EXPONENT = 1.1
GOAL_1000_S = 1.0


def deep_spec(layers: int, width: int = 64) -> str:
    """One network of `layers` layers, alternating linear and relu (`linear(w) -> relu` per line)."""
    lines = [f"# {layers} layers: python -m bench --only scaling writes this spec", "model deep", "",
             f"data x: vector[{width}] from \"gaussian\"", "",
             f"network net(x) -> [{width}] {{"]
    pairs, odd = divmod(layers, 2)
    lines += [f"    linear({width}) -> relu"] * pairs
    if odd:
        lines.append(f"    linear({width})")
    lines += ["}", "", "forward {", "    y = net(x)", "}", "", "loss = mse(y, x)", "",
              "train {", "    optimizer = adam(lr=1e-3)", "}", ""]
    return "\n".join(lines)


def compile_in_process(text: str) -> float:
    """Seconds to parse, check and emit `text` in this process (imports and lark tables already warm)."""
    from gendsl.driver import compile_source
    from gendsl.source import SourceFile

    source = SourceFile("deep.gen", text)
    started = time.perf_counter()
    result = compile_source(source)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError("synthetic spec does not compile: " + "; ".join(d.message for d in result.diagnostics))
    return elapsed


def measure(sizes: list[int], reps: int, process_sizes: list[int] | None = None) -> dict:
    """In-process time per size (median of `reps`, gc as in a normal run), the fitted exponent, and the
    whole-process time of `gendsl compile` for `process_sizes`."""
    compile_in_process(deep_spec(10))  # warm: imports, grammar tables, templates
    inproc = {n: Stat() for n in sizes}
    for _ in range(reps):
        for n in sizes:
            text = deep_spec(n)
            gc.collect()
            inproc[n].add(compile_in_process(text))
    log(f"  scaling: in-process sizes {sizes} done")
    exponent = loglog_slope(sizes, [inproc[n].median for n in sizes])
    upper = [n for n in sizes if n >= 100]
    exponent_upper = loglog_slope(upper, [inproc[n].median for n in upper]) if len(upper) >= 2 else None

    whole = {}
    with tempfile.TemporaryDirectory(prefix="gendsl-bench-scaling-") as work:
        env = child_env(GENDSL_CACHE_DIR=str(Path(work) / "cache"))
        for n in process_sizes or []:
            path = Path(work) / f"deep{n}.gen"
            path.write_text(deep_spec(n))
            st = Stat()
            for rep in range(reps + 1):
                r = run(gendsl_command() + ["compile", "-q", "-o", str(Path(work) / "out"), str(path)], cwd=work,
                        env=env)
                if rep:
                    st.add(r.seconds)
            whole[n] = st
        log(f"  scaling: whole-process sizes {process_sizes} done")
    return {"sizes": sizes, "inproc": inproc, "exponent": exponent, "exponent_upper": exponent_upper,
            "whole": whole}


def report(result: dict) -> tuple[list[list[str]], list[str]]:
    rows = []
    for n in result["sizes"]:
        st = result["inproc"][n]
        whole = result["whole"].get(n)
        rows.append([f"{n:,}", st.fmt(4, "s"), f"{st.median / n * 1e6:.0f} us",
                     whole.fmt(3, "s") if whole else "-"])
    e = result["exponent"]
    notes = [f"Fitted exponent (log-log least squares, time ~ layers^b, all sizes): b = {e:.3f}; "
             f"goal b <= {GOAL_EXPONENT}: {'met' if e <= GOAL_EXPONENT else 'NOT met'}."]
    if result["exponent_upper"] is not None:
        notes.append(f"Over 100 layers and up only (the fixed cost of a compile weighs on 10): "
                     f"b = {result['exponent_upper']:.3f}.")
    thousand = result["whole"].get(1000) or result["inproc"].get(1000)
    if thousand is not None:
        kind = "whole process" if 1000 in result["whole"] else "in process"
        notes.append(f"1,000 layers: {thousand.median:.3f} s ({kind}); goal < {GOAL_1000_S} s: "
                     f"{'met' if thousand.median < GOAL_1000_S else 'NOT met'}.")
    return rows, notes


if __name__ == "__main__":  # python -m bench.scaling [sizes...]
    from bench.common import table

    sizes = [int(a) for a in sys.argv[1:]] or [10, 100, 1000, 5000]
    res = measure(sizes, 3, [1000])
    rows, notes = report(res)
    print(table(rows, ["layers", "in process: median (min-max)", "per layer", "whole process"]))
    print("\n".join(notes))
