"""Steps/s of a generated train.py on two processes (torchrun, gloo) against one, on this CPU.

    python -m bench.distributed [--rounds 2] [--models vae,dcgan_mnist]

The same train.py and the same global batch (`--batch-size` is split over the processes), so
steps/s compare directly. Steady-state rate, as bench/flags.py measures it: each configuration
trains `short` and `long` steps and the rate is (long - short) / (loop seconds of long - loop
seconds of short), as train.py reports them in metrics.json, the best over the rounds, the
configurations interleaved in each round; process start-up, torchrun's rendezvous and the final
figures cancel out. Configurations: one process with torch's own thread count (what
`python train.py` does), one process with one thread, and two processes of one thread each
(torchrun's default OMP_NUM_THREADS=1). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.common import PYTHON, ROOT, child_env, log, machine, run, table

MODELS = {  # model -> (batch, short steps, long steps)
    "vae": (128, 20, 120),
    "dcgan_mnist": (64, 4, 24),
}
CONFIGS = {
    "1 process": ([], {}),
    "1 process, 1 thread": ([], {"OMP_NUM_THREADS": "1"}),
    "2 processes (torchrun)": (["-m", "torch.distributed.run", "--standalone",
                                "--nproc_per_node", "2", "--"], {"OMP_NUM_THREADS": "1"}),
}


def loop_seconds(model: str, config: str, steps: int, work: Path) -> tuple[float, str]:
    batch = MODELS[model][0]
    launch, env = CONFIGS[config]
    out = work / f"{model}_{config.split()[0]}_{len(env)}_{steps}"
    args = [str(ROOT / "generated" / model / "train.py"), "--steps", str(steps), "--batch-size",
            str(batch), "--seed", "0", "--device", "cpu", "--quiet", "--no-plots", "--no-quality",
            "--root", str(work / "data"), "--out", str(out)]
    run([PYTHON, *launch, *args], cwd=work, env=child_env(**env), timeout=900)
    seconds = json.loads((out / "metrics.json").read_text())["seconds"]
    shutil.rmtree(out, ignore_errors=True)
    shown = " ".join(["torchrun --standalone --nproc_per_node 2 --" if launch else "python",
                      *[a.replace(str(ROOT) + "/", "") for a in args[:-4]]])  # no --root, --out
    prefix = " ".join(f"{k}={v}" for k, v in env.items() if not launch)
    return seconds, f"{prefix} {shown}".strip()


def measure(models: list[str], rounds: int, work: Path) -> list[list[str]]:
    best: dict[tuple[str, str, int], float] = {}
    commands: dict[tuple[str, str], str] = {}
    for r in range(rounds):
        for model in models:
            for config in CONFIGS:
                for steps in MODELS[model][1:]:
                    seconds, command = loop_seconds(model, config, steps, work)
                    key = (model, config, steps)
                    best[key] = min(best.get(key, float("inf")), seconds)
                    commands[(model, config)] = command
                    log(f"round {r + 1}: {model}, {config}, {steps} steps: {seconds:.2f} s")
    rows = []
    for model in models:
        short, long = MODELS[model][1:]
        rates = {c: (long - short) / (best[(model, c, long)] - best[(model, c, short)])
                 for c in CONFIGS}
        for config, rate in rates.items():
            rows.append([model, config, f"{rate:.2f}", f"{rate / rates['1 process']:.2f}",
                         f"{rate / rates['1 process, 1 thread']:.2f}",
                         f"`{commands[(model, config)]}`"])
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args()
    info = machine()
    log(f"machine: {info}")
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        rows = measure(args.models.split(","), args.rounds, Path(tmp))
    print(table(rows, ["model", "configuration", "steps/s", "ratio to 1 process",
                       "ratio to 1 process, 1 thread", "command (long run)"]))
    print(f"\nload average at the start: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
