"""What each opt-in flag of the generated train.py gains on this machine.

Steady-state rate, so that one-off costs (torch.compile's compilation, the final checkpoint)
cancel: each configuration trains `short` and `long` steps, and the rate is
(long - short) / (loop seconds of long - loop seconds of short), both as train.py reports them,
each the best over the rounds.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from bench.common import PYTHON, ROOT, child_env, log, run
from bench.training import CASES, _data_arg, _rate, shown

# flags that change nothing on a CPU, with the reason
GPU_ONLY = {
    "--cudnn-benchmark": "cuDNN autotuning (CUDA only)",
    "--pin-memory": "page-locked host memory for faster host-to-GPU copies (CUDA only)",
    "--amp fp16": "float16 autocast with loss scaling (torch.amp.GradScaler); float16 matmuls are meant for GPUs",
}

CONFIGS = {
    "vae": [[], ["--fused"], ["--amp", "bf16"], ["--compile"]],
    "dcgan": [[], ["--channels-last"], ["--fused"], ["--amp", "bf16"]],
}


def loop_seconds(model: str, flags: list[str], steps: int, batch: int, data: str, work: Path,
                 root: Path = ROOT) -> tuple[float, str]:
    out = work / f"flags_{model}_{'_'.join(f.strip('-') for f in flags) or 'plain'}_{steps}"
    cmd = [PYTHON, str(root / "generated" / model / "train.py"), "--steps", str(steps), "--batch-size",
           str(batch), "--seed", "0", "--data", data, "--device", "cpu", "--quiet", "--out", str(out)] + flags
    run(cmd, cwd=work, env=child_env(), timeout=900)
    seconds = json.loads((out / "metrics.json").read_text())["seconds"]
    shutil.rmtree(out, ignore_errors=True)
    return seconds, shown(cmd, root)


def measure(models: list[str], reps: int, work: Path, root: Path = ROOT, steps: dict | None = None) -> dict:
    """Steady-state rate of each configuration from its best (shortest) loop times over `reps` rounds,
    the configurations interleaved in each round; ratio: to the configuration without flags."""
    out = {}
    for model in models:
        case = CASES[model]
        short, long = (steps or {}).get(model, (2, 8) if model == "dcgan" else (80, 320))
        data = _data_arg(case, case.data, work)
        best: dict[tuple[str, int], float] = {}
        cmds, errors = {}, {}
        for flags in CONFIGS[model]:
            if "--compile" in flags:
                # A cold first compile takes ~20 s, a warm one (inductor's on-disk cache) ~1 s: without this
                # throwaway run the short run would pay the cold compile and the long one not.
                try:
                    loop_seconds(model, flags, short, case.batch_size, data, work, root)
                except RuntimeError as exc:  # e.g. torch.compile without a C++ compiler
                    errors[" ".join(flags)] = str(exc)[:300]
        for round_ in range(reps):
            for flags in CONFIGS[model]:
                key = " ".join(flags) or "(none)"
                if key in errors:
                    continue
                try:
                    for n in (short, long):
                        seconds, cmds[key] = loop_seconds(model, flags, n, case.batch_size, data, work, root)
                        best[key, n] = min(best.get((key, n), float("inf")), seconds)
                except RuntimeError as exc:  # e.g. torch.compile without a C++ compiler
                    errors[key] = str(exc)[:300]
        rows = {}
        for flags in CONFIGS[model]:
            key = " ".join(flags) or "(none)"
            if key in errors:
                rows[key] = {"rate": None, "ratio": None, "cmd": "", "error": errors[key]}
                continue
            rate = _rate(long - short, best[key, long] - best[key, short])
            rows[key] = {"rate": rate, "cmd": cmds[key], "error": None}
        plain = rows.get("(none)", {}).get("rate")
        for r in rows.values():
            r["ratio"] = r["rate"] / plain if plain and r["rate"] is not None else None
        out[model] = {"batch_size": case.batch_size, "short": short, "long": long, "reps": reps, "configs": rows}
        log(f"  flags: {model} done")
    return out


def report(result: dict) -> tuple[list[list[str]], list[str]]:
    rows = []
    for model, r in result.items():
        for key, e in r["configs"].items():
            if e["error"]:
                rows.append([model, f"`{key}`", "failed", "-", e["error"].splitlines()[0][:80]])
            elif math.isnan(e["rate"]):  # the long run was not slower than the short one
                rows.append([model, f"`{key}`", "too noisy", "-", f"`{e['cmd']}`"])
            else:
                rows.append([model, f"`{key}`", f"{e['rate']:.2f}", f"{e['ratio']:.3f}" if e["ratio"] else "-",
                             f"`{e['cmd']}`"])
    notes = [f"`{flag}`: {why}; not measured here." for flag, why in GPU_ONLY.items()]
    for model, r in result.items():
        e = r["configs"].get("--compile")
        if e and e["ratio"] and e["ratio"] < 0.95:
            notes.append(
                f"`--compile` is slower for {model} on this CPU (ratio {e['ratio']:.2f}), so it stays opt-in. "
                "The measured window holds no recompilation (checked with `TORCH_LOGS=recompiles`: the "
                "networks recompile only for evaluation under `no_grad` and for an epoch's last, smaller "
                "batch, both outside it). A likely cause, not verified: the step is a few large matrix products "
                "that eager PyTorch already hands to one BLAS call each, which leaves the compiler little to fuse.")
    return rows, notes
