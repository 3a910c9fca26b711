"""What each opt-in flag of the generated train.py gains on this machine.

Steady-state rate, so that one-off costs (torch.compile's compilation, the final checkpoint)
cancel: each configuration trains `short` and `long` steps, and the rate is
(long - short) / (loop seconds of long - loop seconds of short), both as train.py reports them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.common import PYTHON, ROOT, Stat, child_env, log, run
from bench.training import CASES, _data_arg, shown

# flags that change nothing on a CPU, with the reason
GPU_ONLY = {
    "--cudnn-benchmark": "cuDNN autotuning (CUDA only)",
    "--pin-memory": "page-locked host memory for faster host-to-GPU copies (CUDA only)",
    "--amp fp16": "float16 autocast with gradient scaling (needs a GPU)",
}

CONFIGS = {
    "vae": [[], ["--fused"], ["--amp", "bf16"], ["--compile"]],
    "dcgan": [[], ["--channels-last"], ["--fused"], ["--amp", "bf16"]],
}


def steady_rate(model: str, flags: list[str], short: int, long: int, batch: int, data: str, work: Path,
                root: Path = ROOT) -> tuple[float, str]:
    seconds = {}
    cmd = None
    for steps in (short, long):
        out = work / f"flags_{model}_{'_'.join(f.strip('-') for f in flags) or 'plain'}_{steps}"
        cmd = [PYTHON, str(root / "generated" / model / "train.py"), "--steps", str(steps), "--batch-size",
               str(batch), "--seed", "0", "--data", data, "--device", "cpu", "--quiet", "--out", str(out)] + flags
        run(cmd, cwd=work, env=child_env(), timeout=900)
        seconds[steps] = json.loads((out / "metrics.json").read_text())["seconds"]
        shutil.rmtree(out, ignore_errors=True)
    return (long - short) / max(seconds[long] - seconds[short], 1e-9), shown(cmd, root)


def measure(models: list[str], reps: int, work: Path, root: Path = ROOT, steps: dict | None = None) -> dict:
    """Rates of each configuration, and the ratio to the plain run of the same repetition."""
    out = {}
    for model in models:
        case = CASES[model]
        short, long = (steps or {}).get(model, (2, 10) if model == "dcgan" else (100, 400))
        data = _data_arg(case, case.data, work)
        rows = {}
        for rep in range(reps):
            plain = None
            for flags in CONFIGS[model]:
                key = " ".join(flags) or "(none)"
                try:
                    rate, cmd = steady_rate(model, flags, short, long, case.batch_size, data, work, root)
                except RuntimeError as exc:  # e.g. torch.compile without a C++ compiler
                    rows.setdefault(key, {"rate": Stat(), "ratio": Stat(), "cmd": "", "error": str(exc)[:300]})
                    continue
                entry = rows.setdefault(key, {"rate": Stat(), "ratio": Stat(), "cmd": cmd, "error": None})
                entry["rate"].add(rate)
                if not flags:
                    plain = rate
                if plain:
                    entry["ratio"].add(rate / plain)
        out[model] = {"batch_size": case.batch_size, "short": short, "long": long, "configs": rows}
        log(f"  flags: {model} done")
    return out


def report(result: dict) -> tuple[list[list[str]], list[str]]:
    rows = []
    for model, r in result.items():
        for key, e in r["configs"].items():
            if e["error"]:
                rows.append([model, f"`{key}`", "failed", "-", e["error"].splitlines()[0][:80]])
            else:
                rows.append([model, f"`{key}`", e["rate"].fmt(2), e["ratio"].fmt(3) if e["ratio"].values else "-",
                             f"`{e['cmd']}`"])
    notes = [f"`{flag}`: {why}; not measured here." for flag, why in GPU_ONLY.items()]
    return rows, notes
