"""Worst-case check time of a spec just under the 1 MB limit.

    python -m bench.worst_case            # prints a table
    python -m bench.worst_case --write    # also writes it into docs/robustness.md

Each case is a file built to make some stage do the most work per byte: thousands of unknown
names (each wants a "did you mean" suggestion), thousands of parameters that all resemble one
another, long identifiers, one huge network, thousands of syntax errors, thousands of wrong
layer arguments. Each is checked in this process (parse + check, no emit) and timed.
"""

from __future__ import annotations

import argparse
import gc
import platform
import os
import re
import time

from bench.common import ROOT

LIMIT = 1_000_000
HEADER = "model worst\n\ndata x: [4] from \"mnist5k\"\n\n"
TAIL = ("\nencoder enc(x) -> [2] {\n    linear(2)\n}\n\ndecoder dec(z: [2]) -> [4] {\n    linear(4)\n}\n\n"
        "forward {\n    z = enc(x)\n    x_hat = dec(z)\n}\n\nloss = mse(x_hat, x)\n")


def _fill(line, budget: int) -> str:
    """As many numbered lines as fit in `budget` bytes."""
    out, size, i = [], 0, 0
    while True:
        text = line(i)
        if size + len(text) > budget:
            return "".join(out)
        out.append(text)
        size += len(text)
        i += 1


def cases(size: int = LIMIT) -> dict[str, str]:
    """Files of just under `size` bytes."""
    full, body = size - 2_000, size - 3_000
    return {
        "unknown names (param p_i = q_i)": HEADER + _fill(lambda i: f"param p{i} = q{i}\n", full) + TAIL,
        "similar names, one unknown each":
            HEADER + _fill(lambda i: f"param value_{i:06d} = value_{i:06d}x\n", full) + TAIL,
        "valid parameters (param p_i = i)": HEADER + _fill(lambda i: f"param p{i} = {i}\n", full) + TAIL,
        "long unknown identifiers": HEADER + _fill(lambda i: f"param a{i} = {'b' * 5000}{i}\n", full) + TAIL,
        "unknown layers in one network": HEADER + "encoder enc(x) -> [2] {\n" + _fill(
            lambda i: f"    lineer{i}(2)\n", body) + "}\n" + TAIL.split("decoder", 1)[1].join(["decoder", ""]),
        "one network of valid layers": HEADER + "encoder enc(x) -> [4] {\n" + _fill(
            lambda i: "    linear(4) -> relu\n", body) + "}\n" + TAIL.split("decoder", 1)[1].join(["decoder", ""]),
        "syntax errors": HEADER + _fill(lambda i: f"param p{i} = = {i}\n", full) + TAIL,
        "bad layer arguments": HEADER + "encoder enc(x) -> [2] {\n" + _fill(
            lambda i: f"    linear(4, biass=true, out=-{i})\n", body) + "    linear(2)\n}\n"
        + TAIL.split("decoder", 1)[1].join(["decoder", ""]),
        "unknown training settings": HEADER + TAIL + "train {\n" + _fill(
            lambda i: f"    batchsize{i} = 4\n", body) + "}\n",
    }


def measure(reps: int = 1) -> list[tuple]:
    """Per case: name, bytes, parse-only and whole check time of the 1 MB file, check time of the
    quarter-size file (linear work makes the ratio about 4), errors shown, last message."""
    from gendsl.diagnostics import Reporter
    from gendsl.driver import compile_source
    from gendsl.source import SourceFile
    from gendsl.syntax import parse

    compile_source(SourceFile("warm.gen", HEADER + TAIL), emit_files=False)  # parse tables, imports

    def best(fn):
        times = []
        for _ in range(reps):
            gc.disable()  # as compile_source does
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
            gc.enable()
        return min(times), out

    rows = []
    quarter = cases(LIMIT // 4)
    for name, text in cases().items():
        assert len(text.encode()) <= LIMIT, name
        source = SourceFile("worst.gen", text)
        parse_s, _ = best(lambda: parse(source, Reporter()))
        check_s, result = best(lambda: compile_source(source, emit_files=False))
        small_s, _ = best(lambda: compile_source(SourceFile("worst.gen", quarter[name]), emit_files=False))
        errors = sum(d.is_error for d in result.diagnostics)
        last = "stopped: too many errors" if result.stopped else (
            result.diagnostics[-1].message if result.diagnostics else "ok")
        rows.append((name, len(text.encode()), parse_s, check_s, small_s, errors, last))
    return rows


def table(rows) -> str:
    lines = ["| file (just under 1 MB) | bytes | parse | parse + check | 250 KB file | ratio | errors | outcome |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, size, parse_s, check_s, small_s, errors, last in rows:
        lines.append(f"| {name} | {size:,} | {parse_s:.2f} s | {check_s:.2f} s | {small_s:.2f} s | "
                     f"{check_s / small_s:.1f} | {errors} | {last[:50].replace('|', '/')} |")
    return "\n".join(lines)


BEGIN, END = "<!-- worst-case begin -->", "<!-- worst-case end -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write the table into docs/robustness.md")
    args = parser.parse_args(argv)
    rows = measure(args.reps)
    text = table(rows)
    print(text)
    print(f"worst: {max(r[3] for r in rows):.2f} s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text += (f"\n\n`python -m bench.worst_case --write` on CPython {platform.python_version()}, {os.cpu_count()} CPUs; "
             f"load average {load:.1f} at the end of the run (other jobs shared the machine).")
    if args.write:
        doc = ROOT / "docs" / "robustness.md"
        body = doc.read_text(encoding="utf-8")
        block = f"{BEGIN}\n{text}\n{END}"
        body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: block, body, flags=re.S)
        doc.write_text(body, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
