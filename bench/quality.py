"""Training-quality benchmarks: what the catalogue's models learn, against published figures and a reference.

    python -m bench.quality                  # every benchmark; writes the tables in docs/training.md
    python -m bench.quality --quick          # one seed, GANs at a tenth of their steps; prints only
    python -m bench.quality --only vae       # or: --only gan
    python -m bench.quality --seeds 5 --jobs 2 --threads 1

GANs on 2-D toy data (PacGAN / VEEGAN metrics over 2,500 samples, from each run's
metrics.json): specs/gan_ring8.gen on ring8, specs/gan_grid25.gen on grid25, and
specs/wgan_gp_2d.gen (WGAN-GP, Gulrajani et al.'s toy model) on both.

VAE: specs/vae.gen (784-400-20) against bench/reference/vae.py, the plain hand-written
PyTorch implementation of the same model, trained the same way (same mnist5k split from
gendsl.runtime.data.load_data, batches, epochs, Adam lr and loss convention: BCE summed
over pixels + analytic KL, both averaged over the batch), over several seeds; the figure
is the test negative ELBO in nats (`reference_vae` below adds the test evaluation).

Every run is the committed generated/<model>/train.py (or the reference script) in its
own process, with OMP_NUM_THREADS=--threads, so that the figures are what a user gets
from `python generated/<model>/train.py`. The machine is usually shared, so the tables
give optimizer steps and CPU seconds (user + system time of the run's process, which
other processes on the machine barely change) rather than wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "training.md"
IMG = ROOT / "docs" / "img"


@dataclass
class Job:
    group: str            # which table row it belongs to
    seed: int
    command: list[str]
    out: Path | None      # the run's --out folder (None: the command prints JSON)
    result: dict = field(default_factory=dict)


# (row label, model, data set, scatter to keep in docs/img/ or None)
GAN_BENCHMARKS = [
    ("gan_ring8", "gan_ring8", "ring8", "gan_ring8.png"),
    ("gan_grid25", "gan_grid25", "grid25", "gan_grid25.png"),
    ("wgan_gp_2d (ring8)", "wgan_gp_2d", "ring8", None),
    ("wgan_gp_2d (grid25)", "wgan_gp_2d", "grid25", "wgan_gp_2d_grid25.png"),
]
PUBLISHED = {  # PacGAN (Lin et al. 2018), Table 2, as issue 3 quotes it
    "ring8": "PacGAN2: 7.9 / 8 modes, 95.6 % high quality",
    "grid25": "PacGAN2: 23.8 / 25 modes, 91.3 % high quality",
}
VAE_SPEC_SETTINGS = {"epochs": 10, "batch_size": 128, "lr": 1e-3}  # as in specs/vae.gen


def train_py(model: str) -> Path:
    path = ROOT / "generated" / model / "train.py"
    if not path.exists():
        raise SystemExit(f"error: {path} does not exist; run `gendsl compile specs/{model}.gen` first")
    return path


def default_steps(model: str, data: str) -> int:
    """The number of steps a default run of this model takes (epochs x batches per epoch)."""
    text = train_py(model).read_text()
    epochs = int(re.search(r'"--epochs", type=int, default=(\d+)', text).group(1))
    batch = int(re.search(r'"--batch-size", type=int, default=(\d+)', text).group(1))
    sys.path.insert(0, str(ROOT))
    from gendsl.runtime.data import TOY_TRAIN_SIZE
    return epochs * (TOY_TRAIN_SIZE // batch)


def run_jobs(jobs: list[Job], parallel: int, threads: int, log) -> None:
    """Run every job's command, `parallel` at a time; record its JSON result, CPU seconds and return code."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pending = list(jobs)
    running: dict[int, tuple[Job, subprocess.Popen, float]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            proc = subprocess.Popen(job.command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            running[proc.pid] = (job, proc, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        job, proc, started = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = proc.stdout.read(), proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        job.result = {"rc": proc.returncode, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "wall_s": time.perf_counter() - started}
        if proc.returncode != 0:
            job.result["error"] = (stderr or stdout)[-2000:]
        elif job.out is not None:
            job.result.update(json.loads((job.out / "metrics.json").read_text()))
        else:
            job.result.update(json.loads(stdout.strip().splitlines()[-1]))
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in job.result.items()
                 if k in ("rc", "steps", "cpu_s", "modes_captured", "high_quality_pct", "reverse_kl",
                          "test_neg_elbo", "error")}
        print(f"{job.group} seed {job.seed}: {shown}", file=log, flush=True)


def mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


# ---------------------------------------------------------------------------
# GANs on toy 2-D data
# ---------------------------------------------------------------------------

def gan_jobs(seeds: list[int], quick: bool, tmp: Path) -> list[Job]:
    jobs = []
    for label, model, data, _ in GAN_BENCHMARKS:
        steps = default_steps(model, data)
        for seed in seeds:
            out = tmp / f"{model}-{data}-{seed}"
            command = [sys.executable, str(train_py(model)), "--data", data, "--seed", str(seed), "--out", str(out),
                       "--quiet"]
            if quick:
                command += ["--steps", str(max(1, steps // 10))]
            jobs.append(Job(label, seed, command, out))
    return jobs


def _kl(value) -> str:
    """Reverse KL as written in metrics.json: null (JSON has no infinity) when no sample is high quality."""
    return "inf" if value is None or not math.isfinite(value) else f"{value:.3f}"


def gan_table(jobs: list[Job]) -> str:
    lines = [
        "| spec | data | seeds | steps | CPU s / run | modes captured | high-quality % | reverse KL | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, model, data, _ in GAN_BENCHMARKS:
        rows = [j.result for j in jobs if j.group == label]
        ok = [r for r in rows if r.get("rc") == 0]
        if not rows:
            continue
        modes = [r["modes_captured"] for r in ok]
        k = 8 if data == "ring8" else 25
        lines.append(
            f"| `specs/{model}.gen` | {data} | {len(ok)}"
            f"{f' ({len(rows) - len(ok)} failed)' if len(ok) < len(rows) else ''}"
            f" | {ok[0]['steps'] if ok else 'n/a'} | {mean_sd([r['cpu_s'] for r in ok])}"
            f" | {', '.join(f'{m}/{k}' for m in modes)}"
            f" | {', '.join(format(r['high_quality_pct'], '.1f') for r in ok)}"
            f" | {', '.join(_kl(r['reverse_kl']) for r in ok)}"
            f" | `python generated/{model}/train.py --data {data} --seed S` |")
    lines.append("")
    lines.append("Per-seed figures are listed in seed order. For comparison, " +
                 "; ".join(f"{d}: {p}" for d, p in PUBLISHED.items()) + " (Lin et al., PacGAN, Table 2).")
    return "\n".join(lines)


def keep_scatters(jobs: list[Job]) -> list[str]:
    """Copy the last sample scatter of each benchmark's first seed into docs/img/."""
    kept = []
    IMG.mkdir(parents=True, exist_ok=True)
    for label, model, data, name in GAN_BENCHMARKS:
        runs = [j for j in jobs if j.group == label and j.result.get("rc") == 0]
        if not runs or name is None:
            continue
        pictures = sorted((runs[0].out / "samples").glob("epoch_*.png"))
        if pictures:
            shutil.copyfile(pictures[-1], IMG / name)
            kept.append(name)
    return kept


# ---------------------------------------------------------------------------
# VAE against the hand-written reference
# ---------------------------------------------------------------------------

def reference_vae(seed: int, epochs: int, batch_size: int, lr: float) -> dict:
    """Train bench/reference/vae.py's hand-written VAE for whole epochs; its test negative ELBO.

    The reference's own model, loss and batches (the same order as the generated train.py);
    this adds only the epoch count, the learning rate and the test evaluation, which
    bench/reference/vae.py (written for throughput) does not do. One sample of z per test
    digit, as the generated train.py's `test_neg_elbo`.
    """
    import torch

    from bench.reference.vae import VAE, batches, loss_function
    from gendsl.runtime.data import load_data

    torch.manual_seed(seed)
    train, test = load_data("mnist5k", (1, 28, 28), (0.0, 1.0), seed=seed)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = 0
    model.train()
    for epoch in range(epochs):
        for x in batches(train.tensors[0], batch_size, seed, epoch):
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss, _, _ = loss_function(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
            steps += 1
    model.eval()
    total = 0.0
    x_test = test.tensors[0]
    with torch.no_grad():
        for start in range(0, len(x_test), batch_size):
            x = x_test[start:start + batch_size]
            recon, mu, logvar = model(x)
            total += loss_function(recon, x, mu, logvar)[0].item() * len(x)
    return {"steps": steps, "test_neg_elbo": total / len(x_test)}


def vae_jobs(seeds: list[int], quick: bool, tmp: Path) -> list[Job]:
    s = dict(VAE_SPEC_SETTINGS)
    if quick:
        s["epochs"] = 2
    jobs = []
    for seed in seeds:
        args = ["--seed", str(seed), "--epochs", str(s["epochs"]), "--batch-size", str(s["batch_size"]),
                "--lr", str(s["lr"])]
        out = tmp / f"vae-{seed}"
        jobs.append(Job("gendsl", seed, [sys.executable, str(train_py("vae")), *args, "--out", str(out), "--quiet"],
                        out))
        jobs.append(Job("reference", seed, [sys.executable, "-m", "bench.quality", "--reference-vae", *args], None))
    return jobs


def vae_table(jobs: list[Job], quick: bool) -> tuple[str, float]:
    s = dict(VAE_SPEC_SETTINGS, epochs=2 if quick else VAE_SPEC_SETTINGS["epochs"])
    by = {g: {j.seed: j.result for j in jobs if j.group == g and j.result.get("rc") == 0}
          for g in ("gendsl", "reference")}
    seeds = sorted(set(by["gendsl"]) & set(by["reference"]))
    lines = [
        f"mnist5k (4,500 training and 500 test digits, split by `load_data(..., seed=S)`), "
        f"{s['epochs']} epochs, batch {s['batch_size']}, Adam lr {s['lr']:g}; "
        "test negative ELBO in nats per digit (BCE summed over pixels + KL, one z sample per digit).",
        "",
        "| seed | steps | specs/vae.gen (generated train.py) | reference (bench/reference/vae.py) "
        "| difference | CPU s gendsl / reference |",
        "|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        g, r = by["gendsl"][seed], by["reference"][seed]
        lines.append(f"| {seed} | {g['steps']} / {r['steps']} | {g['test_neg_elbo']:.2f} | {r['test_neg_elbo']:.2f} "
                     f"| {100 * (g['test_neg_elbo'] / r['test_neg_elbo'] - 1):+.2f} % "
                     f"| {g['cpu_s']:.0f} / {r['cpu_s']:.0f} |")
    if not seeds:
        return "\n".join(lines + ["", "(no successful pair of runs)"]), math.nan
    gm = statistics.mean(by["gendsl"][s]["test_neg_elbo"] for s in seeds)
    rm = statistics.mean(by["reference"][s]["test_neg_elbo"] for s in seeds)
    gap = 100 * (gm / rm - 1)

    def sd(g):
        return statistics.stdev(by[g][s]["test_neg_elbo"] for s in seeds) if len(seeds) > 1 else 0.0
    lines.append(f"| mean ± sd | | {gm:.2f} ± {sd('gendsl'):.2f} | {rm:.2f} ± {sd('reference'):.2f} "
                 f"| **{gap:+.2f} %** | |")
    return "\n".join(lines), gap


# ---------------------------------------------------------------------------
# docs/training.md
# ---------------------------------------------------------------------------

def machine(threads: int, jobs: int) -> str:
    from bench.common import machine as describe

    m = describe()
    load = m.get("load_average")
    return (f"{m['cpu']}, {m['cores']} cores ({m.get('cores_usable', m['cores'])} usable), "
            f"{m.get('memory_gib', '?')} GiB; {m['platform']}; Python {m['python']}, torch {m['torch']}. "
            f"Each run in its own process with {threads} torch thread(s), {jobs} run(s) at a time. "
            f"The machine was shared with other work (load average {load[0] if load else '?'} at the start), "
            f"hence CPU seconds rather than wall-clock time. {time.strftime('%Y-%m-%d')}.")


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN bench.quality {name} -->", f"<!-- END bench.quality {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + f"\n\n{block}\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Training-quality benchmarks (GANs on toy 2-D data, VAE vs reference).")
    p.add_argument("--quick", action="store_true", help="one seed, GANs at a tenth of their steps, VAE 2 epochs; "
                                                        "prints the tables without writing docs")
    p.add_argument("--only", choices=["gan", "vae"], default=None)
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3 for GANs, 5 for the VAE)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--write", action="store_true", help="write docs/training.md even with --quick")
    p.add_argument("--no-write", action="store_true", help="print the tables only")
    p.add_argument("--reference-vae", action="store_true", help=argparse.SUPPRESS)  # one reference run, JSON out
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=VAE_SPEC_SETTINGS["epochs"], help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=VAE_SPEC_SETTINGS["batch_size"], help=argparse.SUPPRESS)
    p.add_argument("--lr", type=float, default=VAE_SPEC_SETTINGS["lr"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.reference_vae:
        print(json.dumps(reference_vae(args.seed, args.epochs, args.batch_size, args.lr)))
        return 0
    write = (args.write or not args.quick) and not args.no_write

    sections: dict[str, str] = {"machine": machine(args.threads, args.jobs)}
    status = 0
    with tempfile.TemporaryDirectory(prefix="gendsl-quality-") as tmp:
        tmp = Path(tmp)
        if args.only in (None, "gan"):
            seeds = list(range(args.seeds or (1 if args.quick else 3)))
            jobs = gan_jobs(seeds, args.quick, tmp)
            run_jobs(jobs, args.jobs, args.threads, sys.stderr)
            sections["gan"] = gan_table(jobs)
            if write:
                kept = keep_scatters(jobs)
                print(f"kept scatters: {', '.join(kept)}", file=sys.stderr)
            status |= any(j.result.get("rc") for j in jobs)
        if args.only in (None, "vae"):
            seeds = list(range(args.seeds or (1 if args.quick else 5)))
            jobs = vae_jobs(seeds, args.quick, tmp)
            run_jobs(jobs, args.jobs, args.threads, sys.stderr)
            sections["vae"], gap = vae_table(jobs, args.quick)
            status |= any(j.result.get("rc") for j in jobs)

    for name, body in sections.items():
        print(f"\n## {name}\n\n{body}")
    if write:
        text = DOC.read_text() if DOC.exists() else "# Training quality\n"
        for name, body in sections.items():
            text = replace_section(text, name, body)
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
        print(f"\nwrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 1 if status else 0


if __name__ == "__main__":
    raise SystemExit(main())
