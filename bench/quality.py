"""Training-quality benchmarks: what the catalogue's models learn, against published figures and a reference.

    python -m bench.quality                  # every benchmark; writes the tables in docs/training.md
    python -m bench.quality --quick          # one seed, GANs at a tenth of their steps; prints only
    python -m bench.quality --only vae       # or: --only gan
    python -m bench.quality --seeds 5 --jobs 2 --threads 1
    python -m bench.quality --images specs/dcgan_mnist.gen --seeds 3 --minutes 15   # digit images

GANs on 2-D toy data (PacGAN / VEEGAN metrics over 2,500 samples, from each run's
metrics.json): specs/gan_ring8.gen on ring8, specs/gan_grid25.gen on grid25, and
specs/wgan_gp_2d.gen (WGAN-GP, Gulrajani et al.'s toy model) on both.

VAE: specs/vae.gen (784-400-20) against bench/reference/vae.py, the plain hand-written
PyTorch implementation of the same model, trained the same way (same mnist5k split from
gendsl.runtime.data.load_data, batches, epochs, Adam lr and loss convention: BCE summed
over pixels + analytic KL, both averaged over the batch), over several seeds; the figure
is the test negative ELBO in nats (`reference_vae` below adds the test evaluation).

Digit images (--images SPEC[@DATA]...): each spec is compiled into a temporary folder, its train.py
trained per seed (for --epochs/--steps, and stopped by SIGTERM once its process has used --minutes
of CPU time; train.py then writes its checkpoint), and the final checkpoint's generator or
decoder measured by gendsl.runtime.digit_quality on --samples samples: recognisable share,
classes covered, KL to uniform, classifier-feature Frechet distance, class accuracy (conditional
models), beside the same figures for real held-out images. The table goes to docs/training.md
(section `images`), the first seed's sample grid to docs/img/<model>_digits.png and the top row
of its sample grids over the epochs to docs/img/<model>_epochs.png. `SPEC@DATA` trains that spec
on another data set (`specs/dcgan.gen@mnist5k`: CelebA is not offline); --keep-runs DIR keeps
every run's folder.

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
import signal
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
# Digit images: train a spec, measure its final checkpoint with runtime/digit_quality
# ---------------------------------------------------------------------------

def compile_spec(spec: Path, dest: Path) -> Path:
    """Compile one spec into dest; the folder of its generated files."""
    from bench.common import gendsl_command

    before = set(dest.iterdir()) if dest.exists() else set()
    proc = subprocess.run([*gendsl_command(), "compile", "-q", "-o", str(dest), str(spec)], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: `gendsl compile {spec}` failed:\n{proc.stderr or proc.stdout}")
    # the shared runtime (gendsl_runtime/) is written beside the model's folder, once
    made = sorted(p for p in set(dest.iterdir()) - before if p.name != "gendsl_runtime")
    if len(made) != 1:
        raise SystemExit(f"error: `gendsl compile {spec}` made {len(made)} folders in {dest}")
    return made[0]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (Linux /proc), None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_budgeted(jobs: list[Job], parallel: int, threads: int, cpu_budget: float | None, log) -> None:
    """run_jobs for training runs with a CPU-time budget: a run that has used `cpu_budget` seconds
    gets SIGTERM (train.py then saves its checkpoint and exits 130; that is a finished run here).
    Without /proc the budget is taken as wall-clock seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    pending, running = list(jobs), {}
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            proc = subprocess.Popen(job.command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            running[proc.pid] = (job, proc, time.perf_counter(), False)
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(1.0)
            for pid, (job, proc, started, stopped) in list(running.items()):
                used = cpu_seconds(pid)
                used = time.perf_counter() - started if used is None else used
                if cpu_budget is not None and not stopped and used >= cpu_budget:
                    proc.send_signal(signal.SIGTERM)
                    running[pid] = (job, proc, started, True)
            continue
        if pid not in running:
            continue
        job, proc, started, stopped = running.pop(pid)
        rc = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read()
        proc.stderr.close()
        job.result.update(rc=0 if (rc == 130 and stopped) else rc, cpu_s=usage.ru_utime + usage.ru_stime,
                          wall_s=time.perf_counter() - started, stopped_by_budget=stopped)
        if job.result["rc"] != 0:
            job.result["error"] = stderr[-2000:]
        print(f"{job.group} seed {job.seed}: rc {rc}, {job.result['cpu_s']:.0f} CPU s"
              f"{' (stopped at the CPU budget)' if stopped else ''}", file=log, flush=True)


def measure_run(gen_dir: Path, out: Path, data: str | None, root: str, samples: int, seed: int,
                classifier_steps: int | None) -> dict:
    """Load a run's final checkpoint (its "model" state) into its model and measure new samples.

    Imports the generated train.py from its folder (it runs nothing at import) for its RECIPE:
    the model class, whose `prior` and `generate` make the samples the way train.py makes them,
    whatever the spec samples (a generator, a decoder, a conditional one). One process per run: the generated
    folder's modules (data, model, ...) have plain names.
    """
    import importlib

    import torch

    from gendsl.runtime.digit_quality import ClassifierSettings, digit_quality
    from gendsl.runtime.outputs import atomic_write_json, save_image_grid

    sys.path.insert(0, str(gen_dir))
    train = importlib.import_module("train")
    recipe = train.RECIPE
    state = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    model = recipe.model()
    model.load_state_dict(state["model"])
    model.eval()
    settings = ClassifierSettings(steps=classifier_steps) if classifier_steps else ClassifierSettings()
    quality = digit_quality(data or recipe.default_data, root, settings=settings,
                            log=lambda m: print(m, file=sys.stderr, flush=True))
    classes = recipe.num_classes
    torch.manual_seed(seed)
    fake, labels = [], []
    with torch.no_grad():
        for start in range(0, samples, 500):
            k = min(500, samples - start)
            # conditional: labels cycling through the classes, as train.py's samples
            wanted = [(torch.arange(k) + start) % classes] if classes is not None else []
            fake.append(model.generate(*model.prior(k), *wanted).cpu())
            labels += wanted
    fake = torch.cat(fake)
    result = {"steps": state["step"], "epochs": state["epoch"], "data": quality.info["data"],
              "image_size": int(fake.shape[-2]),
              "classifier_train_cpu_s": quality.info["train_seconds"]}
    result.update(quality.score(fake, recipe.data_range, torch.cat(labels) if labels else None))
    result.update(quality.reference())
    grid = fake[:100] if classes is None else fake[:10 * classes]  # conditional: one class per column
    save_image_grid(grid, out / "digits.png", value_range=recipe.data_range, nrow=10 if classes is None else classes)
    atomic_write_json(result, out / "quality.json")
    return result


def spec_and_data(item: str, default: str | None) -> tuple[Path, str | None]:
    """`SPEC` or `SPEC@DATA`: a spec and the data set to train it on (None: the spec's own)."""
    spec, at, data = item.rpartition("@") if "@" in Path(item).name else (item, "", default)
    return Path(spec), data


def image_jobs(specs: list[str], seeds: list[int], args, tmp: Path) -> list[Job]:
    jobs = []
    for item in specs:
        spec, data = spec_and_data(item, args.data)
        gen_dir = compile_spec(spec, tmp / "generated")
        for seed in seeds:
            out = tmp / "runs" / f"{gen_dir.name}-{seed}"
            command = [sys.executable, str(gen_dir / "train.py"), "--seed", str(seed), "--out", str(out), "--quiet",
                       "--no-plots", "--no-quality", "--root", args.root]
            for flag, value in (("--epochs", args.epochs), ("--steps", args.steps), ("--n", args.n),
                                ("--data", data), ("--batch-size", args.batch_size), ("--lr", args.lr)):
                if value is not None:
                    command += [flag, str(value)]
            job = Job(item, seed, command, out)
            job.result = {"gen_dir": str(gen_dir), "model": gen_dir.name, "data_arg": data}
            jobs.append(job)
    return jobs


def measure_jobs(jobs: list[Job], args, log) -> None:
    """Measure every finished run, each in its own process (see measure_run)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for job in jobs:
        if job.result.get("rc") != 0:
            continue
        command = [sys.executable, "-m", "bench.quality", "--measure", job.result["gen_dir"], str(job.out),
                   "--root", args.root, "--samples", str(args.samples), "--seed", str(job.seed)]
        if job.result.get("data_arg"):
            command += ["--data", job.result["data_arg"]]
        if args.classifier_steps:
            command += ["--classifier-steps", str(args.classifier_steps)]
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        print(proc.stderr.strip(), file=log, flush=True) if proc.stderr.strip() else None
        if proc.returncode != 0:
            job.result.update(rc=proc.returncode, error=proc.stderr[-2000:])
            continue
        job.result.update(json.loads((job.out / "quality.json").read_text()))


def _num(value, fmt: str) -> str:
    """A figure from quality.json, where JSON's null stands for inf (no recognisable sample)."""
    return "inf" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, fmt)


def _each(rows: list[dict], key: str, fmt: str) -> str:
    return ", ".join(_num(r.get(key), fmt) for r in rows)


def image_table(jobs: list[Job], threads: int) -> str:
    lines = [
        "| spec | data | seeds | steps | CPU min / run | recognisable % (real) | classes covered | KL to uniform "
        "(real) | classifier-FD (real) | class accuracy % (real) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for spec in dict.fromkeys(j.group for j in jobs):
        rows = [j.result for j in jobs if j.group == spec]
        ok = [r for r in rows if r.get("rc") == 0 and "recognisable_pct" in r]
        failed = f" ({len(rows) - len(ok)} failed)" if len(ok) < len(rows) else ""
        if not ok:
            lines.append(f"| `{spec}` | | 0{failed} | | | | | | | |")
            continue
        r0 = ok[0]
        accuracy = (f"{_each(ok, 'class_accuracy_pct', '.1f')} ({_num(r0['real_class_accuracy_pct'], '.1f')})"
                    if "class_accuracy_pct" in r0 else "n/a")
        lines.append(
            f"| `{spec}` | {r0['data']} | {len(ok)}{failed} | {_each(ok, 'steps', 'd')} "
            f"| {mean_sd([r['cpu_s'] / 60 for r in ok])} "
            f"| {_each(ok, 'recognisable_pct', '.1f')} ({_num(r0['real_recognisable_pct'], '.1f')}) "
            f"| {_each(ok, 'classes_covered', 'd')} "
            f"| {_each(ok, 'class_kl', '.3f')} ({_num(r0['real_class_kl'], '.3f')}) "
            f"| {_each(ok, 'classifier_fd', '.1f')} ({_num(r0['real_classifier_fd'], '.1f')}) | {accuracy} |")
        if any(r.get("stopped_by_budget") for r in ok):
            notes.append(f"`{spec}`: stopped at the CPU budget")
    lines += ["", f"Per-seed figures in seed order; {threads} torch thread(s) per run; (real): the same figure "
              "for real held-out images (for classifier-FD: training images against held-out ones). "
              "Classifier-FD is a Frechet distance in the digit classifier's 128-dimensional feature space, "
              "not comparable with Inception FID."]
    if notes:
        lines.append("; ".join(notes) + ".")
    return "\n".join(lines)


def epochs_strip(run: Path, dest: Path, image_size: int, rows: int = 8, padding: int = 2) -> int | None:
    """One picture of a run's training: the top row of its sample grids (OUT/samples/epoch_NNN.png, the
    same latent draws every epoch) at up to `rows` epochs spread over the run, the first at the top and
    the last at the bottom. image_size is a sample's height in pixels (the grid's cells are that plus
    `padding`, as make_grid lays them out). Returns how many epochs it shows; None without grids."""
    import torch
    from PIL import Image
    from torchvision.transforms.v2.functional import pil_to_tensor
    from torchvision.utils import save_image

    grids = sorted((run / "samples").glob("epoch_*.png"))
    if not grids:
        return None
    picked = sorted({round(i * (len(grids) - 1) / max(rows - 1, 1)) for i in range(min(rows, len(grids)))})
    strips = []
    for i in picked:
        with Image.open(grids[i]) as png:
            image = pil_to_tensor(png.convert("RGB"))
        strips.append(image[:, : image_size + 2 * padding])
    width = min(s.shape[2] for s in strips)
    save_image(torch.cat([s[:, :, :width] for s in strips], dim=1).float() / 255, dest)
    return len(picked)


def keep_grids(jobs: list[Job]) -> list[str]:
    """docs/img/<model>_digits.png (the first seed's measured samples) and <model>_epochs.png (its
    sample grids' top rows over the epochs, epochs_strip)."""
    kept = []
    IMG.mkdir(parents=True, exist_ok=True)
    for spec in dict.fromkeys(j.group for j in jobs):
        runs = [j for j in jobs if j.group == spec and j.result.get("rc") == 0 and (j.out / "digits.png").exists()]
        if runs:
            name = f"{runs[0].result['model']}_digits.png"
            shutil.copyfile(runs[0].out / "digits.png", IMG / name)
            kept.append(name)
            strip = IMG / f"{runs[0].result['model']}_epochs.png"
            if epochs_strip(runs[0].out, strip, runs[0].result.get("image_size", 28)):
                kept.append(strip.name)
    return kept


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
    p.add_argument("--images", nargs="+", metavar="SPEC[@DATA]", default=None,
                   help="digit-image specs to train and measure with runtime/digit_quality (only these run)")
    p.add_argument("--minutes", type=float, default=None,
                   help="--images: stop each run (SIGTERM, checkpoint kept) after this many CPU minutes")
    p.add_argument("--epochs", type=int, default=None, help="--images: train.py --epochs (default: the spec's)")
    p.add_argument("--steps", type=int, default=None, help="--images: train.py --steps")
    p.add_argument("--batch-size", type=int, default=None, help="--images: train.py --batch-size")
    p.add_argument("--lr", type=float, default=None, help="--images: train.py --lr")
    p.add_argument("--n", type=int, default=None, help="--images: train on this many images only")
    p.add_argument("--data", default=None, help="--images: train.py --data (default: the spec's data set)")
    p.add_argument("--root", default="data", help="--images: data folder, where the classifier is cached too")
    p.add_argument("--keep-runs", type=Path, default=None, metavar="DIR",
                   help="--images: copy every run's --out folder (checkpoints, sample grids, losses.csv) here")
    p.add_argument("--samples", type=int, default=2000, help="--images: samples measured per run")
    p.add_argument("--classifier-steps", type=int, default=None,
                   help="--images: train the digit classifier for this many steps only (smoke tests)")
    p.add_argument("--measure", nargs=2, type=Path, metavar=("GENERATED", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--reference-vae", action="store_true", help=argparse.SUPPRESS)  # one reference run, JSON out
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        measure_run(*args.measure, args.data, args.root, args.samples, args.seed, args.classifier_steps)
        return 0
    if args.reference_vae:
        print(json.dumps(reference_vae(args.seed, args.epochs or VAE_SPEC_SETTINGS["epochs"],
                                       args.batch_size or VAE_SPEC_SETTINGS["batch_size"],
                                       args.lr or VAE_SPEC_SETTINGS["lr"])))
        return 0
    write = (args.write or not args.quick) and not args.no_write

    sections: dict[str, str] = {"machine": machine(args.threads, args.jobs)}
    status = 0
    with tempfile.TemporaryDirectory(prefix="gendsl-quality-") as tmp:
        tmp = Path(tmp)
        if args.images:
            seeds = list(range(args.seeds or (1 if args.quick else 3)))
            jobs = image_jobs(args.images, seeds, args, tmp)
            run_budgeted(jobs, args.jobs, args.threads, args.minutes * 60 if args.minutes else None, sys.stderr)
            measure_jobs(jobs, args, sys.stderr)
            # the machine of these runs goes with their table: the shared `machine` section describes the
            # toy-GAN and VAE tables, which this run does not remake
            sections = {"images": f"{image_table(jobs, args.threads)}\n\n{sections.pop('machine')}"}
            if write:
                print(f"kept grids: {', '.join(keep_grids(jobs))}", file=sys.stderr)
            if args.keep_runs:
                shutil.copytree(tmp / "runs", args.keep_runs, dirs_exist_ok=True)
                print(f"kept the runs' folders in {args.keep_runs}", file=sys.stderr)
            status |= any(j.result.get("rc") for j in jobs)
        if args.only in (None, "gan") and not args.images:
            seeds = list(range(args.seeds or (1 if args.quick else 3)))
            jobs = gan_jobs(seeds, args.quick, tmp)
            run_jobs(jobs, args.jobs, args.threads, sys.stderr)
            sections["gan"] = gan_table(jobs)
            if write:
                kept = keep_scatters(jobs)
                print(f"kept scatters: {', '.join(kept)}", file=sys.stderr)
            status |= any(j.result.get("rc") for j in jobs)
        if args.only in (None, "vae") and not args.images:
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
