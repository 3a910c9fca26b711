"""Generated train.py against the hand-written references: speed, peak memory and fidelity.

Throughput and memory: paired runs (generated, then reference, then the other way round, ...)
with the same batch size, data, seed and device. Each script reports the seconds of its own
training loop in OUT/metrics.json; a short and a long run give the steady-state steps/s and the
fixed cost (what the loop does once, e.g. the generated script's final checkpoint). os.wait4
gives each process's peak RSS.

Fidelity: (1) under the same seed, the model class of generated/<model>/model.py and of the
reference create parameters with exactly the same values, in the same order; (2) 20 training
steps of both give the same losses (to 1e-6, relative), on a data set small enough that the
run crosses epoch boundaries (where the generated script evaluates and saves samples).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PYTHON, ROOT, Stat, child_env, log, run

FIDELITY_STEPS = 20
FIDELITY_TOLERANCE = 1e-6  # relative, on each logged loss


@dataclass
class Case:
    model: str  # generated/<model>/ and bench/reference/<model>.py
    batch_size: int  # throughput runs
    steps: int  # throughput runs (full mode)
    quick_steps: int  # 0: left out of quick runs
    data: str  # throughput runs, long enough for one epoch: a data set name, or "file:N" (N random images)
    fidelity_batch: int
    fidelity_n: int  # training samples in the fidelity run: small, so that 20 steps cross epochs
    fidelity_data: str
    ref_args: list[str] = field(default_factory=list)  # to match the spec where the reference's default differs
    columns: tuple[str, ...] = ()  # losses compared step by step
    memory_data: str = ""  # memory runs: the spec's data set (or a stand-in) at the spec's batch size
    memory_batch: int = 0
    memory_steps: int = 10


CASES = {
    "vae": Case("vae", 128, 240, 200, "file:44000", 32, 96, "mnist5k", [], ("loss", "bce", "kl"),
                "mnist5k", 128),
    "gan_mlp_2d": Case("gan_mlp_2d", 64, 240, 120, "ring8", 32, 96, "ring8", [],
                       ("loss_d", "d_real", "d_fake", "loss_g"), "ring8", 64),
    "wgan_gp_2d": Case("wgan_gp_2d", 256, 100, 48, "grid25", 32, 96, "grid25", ["--gp", "0.1"],
                       ("loss_d", "d_real", "d_fake", "gradient_penalty", "loss_g"), "grid25", 256),
    "dcgan": Case("dcgan", 16, 8, 0, "file:400", 4, 12, "file:40", [], ("loss_d", "d_real", "d_fake", "loss_g"),
                  "file:400", 64, 3),
}

SHAPES = {"vae": ((1, 28, 28), (0.0, 1.0)), "dcgan": ((3, 64, 64), (-1.0, 1.0))}


def available(root: Path = ROOT) -> list[str]:
    """The cases whose generated train.py and reference both exist."""
    return [m for m in CASES if (root / "generated" / m / "train.py").exists()
            and (root / "bench" / "reference" / f"{m}.py").exists()]


def data_file(model: str, n: int, work: Path) -> str:
    """n random images of the model's data shape as 8-bit values in a .pt file (gendsl's loader, in both
    scripts, scales them to the spec's range): large sets stay small on disk."""
    import torch

    shape, _ = SHAPES[model]
    path = work / f"{model}_random_{n}.pt"
    if not path.exists():
        g = torch.Generator().manual_seed(1234)
        torch.save({"x": torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)}, path)
    return str(path)


def _data_arg(case: Case, data: str, work: Path) -> str:
    if data.startswith("file:"):
        return data_file(case.model, int(data[5:]), work)
    return data


def commands(case: Case, steps: int, batch: int, data: str, seed: int, out: Path, n: int | None = None,
             root: Path = ROOT, gen_flags: list[str] | None = None) -> tuple[list[str], list[str]]:
    common = ["--steps", str(steps), "--batch-size", str(batch), "--seed", str(seed), "--data", data,
              "--device", "cpu", "--quiet"] + (["--n", str(n)] if n else [])
    gen = [PYTHON, str(root / "generated" / case.model / "train.py")] + common + ["--out", str(out / "gen")]
    ref = [PYTHON, str(root / "bench" / "reference" / f"{case.model}.py")] + common + case.ref_args + \
        ["--out", str(out / "ref")]
    return gen + (gen_flags or []), ref


def shown(cmd: list[str], root: Path = ROOT) -> str:
    """A command as a reader would type it from the repository root."""
    parts = []
    for c in cmd:
        if c == PYTHON:
            c = "python"
        elif c.startswith(str(root) + "/"):
            c = c[len(str(root)) + 1:]
        elif "/gendsl-bench-" in c:
            c = Path(c).name if c.endswith(".pt") else "/tmp/" + Path(c).name
        parts.append(c)
    return " ".join(parts)


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def throughput(models: list[str], reps: int, quick: bool, work: Path, root: Path = ROOT) -> dict:
    """Steady-state steps/s of each script and its fixed end-of-run cost, from a short and a long run:
    rate = (long - short) / (loop seconds of long - loop seconds of short), fixed = short's loop seconds
    - short / rate (the checkpoint the generated script writes at the end lands there).

    Each repetition runs generated and reference back to back (in alternating order) and gives a paired
    ratio; the headline ratio uses each script's best loop times over the repetitions, which a
    sporadic slowdown of a shared machine (another process taking a core) does not move.
    """
    results = {}
    env = child_env()
    for model in models:
        case = CASES[model]
        long = case.quick_steps if quick else case.steps
        if not long:
            continue
        short = max(1, long // 4)
        data = _data_arg(case, case.data, work)
        stats = {k: Stat() for k in ("gen_sps", "ref_sps", "ratio", "gen_rss_mib", "ref_rss_mib", "rss_ratio",
                                     "gen_fixed", "ref_fixed", "gen_reported", "ref_reported")}
        best = {(who, steps): float("inf") for who in ("gen", "ref") for steps in (short, long)}
        cmd_gen = cmd_ref = None
        for rep in range(reps):
            rates, fixed, rss, reported = {}, {}, {}, {}
            order = ["gen", "ref"] if rep % 2 == 0 else ["ref", "gen"]
            for who in order:
                seconds = {}
                for steps in (short, long):
                    out = work / f"tp_{model}_{rep}_{steps}"
                    cmd_gen, cmd_ref = commands(case, steps, case.batch_size, data, 0, out, root=root)
                    r = run(cmd_gen if who == "gen" else cmd_ref, cwd=work, env=env, timeout=900, rss=steps == long)
                    metrics = _metrics(out / who)
                    seconds[steps] = metrics["seconds"]
                    best[who, steps] = min(best[who, steps], metrics["seconds"])
                    if steps == long:
                        rss[who] = r.max_rss_kb / 1024
                        reported[who] = metrics["steps_per_second"]
                    shutil.rmtree(out, ignore_errors=True)
                rates[who] = _rate(long - short, seconds[long] - seconds[short])
                fixed[who] = seconds[short] - short / rates[who]
            stats["gen_sps"].add(rates["gen"])
            stats["ref_sps"].add(rates["ref"])
            stats["ratio"].add(rates["gen"] / rates["ref"])
            stats["gen_rss_mib"].add(rss["gen"])
            stats["ref_rss_mib"].add(rss["ref"])
            stats["rss_ratio"].add(rss["gen"] / rss["ref"])
            stats["gen_fixed"].add(fixed["gen"])
            stats["ref_fixed"].add(fixed["ref"])
            stats["gen_reported"].add(reported["gen"])
            stats["ref_reported"].add(reported["ref"])
        best_rate = {who: _rate(long - short, best[who, long] - best[who, short]) for who in ("gen", "ref")}
        results[model] = {"steps": long, "short": short, "batch_size": case.batch_size, **stats,
                          "best_gen_sps": best_rate["gen"], "best_ref_sps": best_rate["ref"],
                          "best_ratio": best_rate["gen"] / best_rate["ref"],
                          "cmd_gen": shown(cmd_gen, root), "cmd_ref": shown(cmd_ref, root)}
        log(f"  training: {model} speed {results[model]['best_ratio']:.3f}x (paired median "
            f"{stats['ratio'].median:.3f}x), memory {stats['rss_ratio'].median:.3f}x")
    return results


def _rate(steps: int, seconds: float) -> float:
    """Steps per second; NaN when the long run was not slower than the short one (too noisy to tell)."""
    return steps / seconds if seconds > 0 else math.nan


GENERATED_SIBLINGS = ("model",)


def _load_generated(model: str, root: Path):
    """generated/<model>/train.py as a module; it imports its siblings (model, data, ...) by name."""
    gen_dir = str(root / "generated" / model)
    for sibling in GENERATED_SIBLINGS:  # another model's train.py may have imported its own `model` already
        sys.modules.pop(sibling, None)
    sys.path.insert(0, gen_dir)
    try:
        return _load(root / "generated" / model / "train.py", f"bench_step_{model}_train")
    finally:
        sys.path.remove(gen_dir)


def _interleaved(generated, reference, rounds: int, steps: int) -> Stat:
    """Reference/generated time ratios (steps/s generated over reference) of `rounds` rounds of `steps`
    steps each, the order alternating, after 10 warm-up steps of each."""
    generated(10), reference(10)
    ratio = Stat()
    for r in range(rounds):
        if r % 2:
            f, g = reference(steps), generated(steps)
        else:
            g, f = generated(steps), reference(steps)
        ratio.add(f / g)
    return ratio


def vae_step_in_process(rounds: int = 4, steps: int = 200, root: Path = ROOT) -> Stat:
    """Ratio of steps/s, generated `train_step` over the reference's loop body, timed in one process in
    interleaved rounds on the same batches: the step itself, without process start-up or the loop's files."""
    import time

    import torch

    gen = _load_generated("vae", root)
    ref = _load(root / "bench" / "reference" / "vae.py", "bench_step_vae_reference")
    data = torch.rand(20000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    batch = 128
    torch.manual_seed(0)
    nets = gen.RECIPE.model()
    opts = gen.make_optimizers(nets)
    torch.manual_seed(0)
    model = ref.build_networks()["vae"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def batch_at(i):
        start = (i * batch) % (len(data) - batch)
        return data[start:start + batch]

    def generated(n):
        started = time.perf_counter()
        for i in range(n):
            gen.train_step(nets, opts, batch_at(i), None, i, {})
        return time.perf_counter() - started

    def reference(n):
        started = time.perf_counter()
        for i in range(n):
            x = batch_at(i)
            opt.zero_grad()
            recon, mu, logvar = model(x)
            loss, bce, kld = ref.loss_function(recon, x, mu, logvar)
            loss.backward()
            opt.step()
            loss.item(), bce.item(), kld.item()
        return time.perf_counter() - started

    return _interleaved(generated, reference, rounds, steps)


def gan_step_in_process(rounds: int = 4, steps: int = 200, root: Path = ROOT) -> Stat:
    """As vae_step_in_process, for the 2-D MLP GAN: the generated `train_step` against the loop body of
    bench/reference/gan_mlp_2d.py, on the same batches, in interleaved rounds."""
    import time

    import torch

    gen = _load_generated("gan_mlp_2d", root)
    ref = _load(root / "bench" / "reference" / "gan_mlp_2d.py", "bench_step_gan_reference")
    data = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(len(data), dtype=torch.long)
    batch = 64
    torch.manual_seed(0)
    nets = gen.RECIPE.model()
    opts = gen.make_optimizers(nets)
    torch.manual_seed(0)
    ref_nets = ref.build_networks()
    generator, discriminator = ref_nets["G"], ref_nets["D"]
    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def batch_at(i):
        start = (i * batch) % (len(data) - batch)
        return data[start:start + batch]

    def generated(n):
        started = time.perf_counter()
        for i in range(n):
            gen.train_step(nets, opts, batch_at(i), labels[:batch], i, {})
        return time.perf_counter() - started

    def reference(n):  # the body of the reference's loop, its CSV row aside
        started = time.perf_counter()
        for i in range(n):
            real = batch_at(i)
            valid = torch.ones(real.size(0), 1)
            fake_labels = torch.zeros(real.size(0), 1)
            z = torch.randn(real.size(0), ref.LATENT_DIM)
            fake = generator(z)
            d_real = discriminator(real)
            d_fake = discriminator(fake.detach())
            d_loss = adversarial_loss(d_real, valid) + adversarial_loss(d_fake, fake_labels)
            optimizer_D.zero_grad()
            d_loss.backward()
            optimizer_D.step()
            discriminator.requires_grad_(False)
            g_loss = adversarial_loss(discriminator(fake), valid)
            optimizer_G.zero_grad()
            g_loss.backward()
            optimizer_G.step()
            discriminator.requires_grad_(True)
            d_loss.item(), d_real.mean().item(), d_fake.mean().item(), g_loss.item()
        return time.perf_counter() - started

    return _interleaved(generated, reference, rounds, steps)


def memory(models: list[str], reps: int, work: Path, root: Path = ROOT) -> dict:
    """Peak RSS of whole runs at the spec's batch size on the spec's data (DCGAN: random images, CelebA
    being offline), a few steps each: what a user's process needs, end-of-run work included. The
    generated script runs twice: as it is, and with --no-plots, which leaves out the matplotlib figures
    that the references do not draw (like for like)."""
    results = {}
    env = child_env()
    for model in models:
        case = CASES[model]
        data = _data_arg(case, case.memory_data, work)
        stats = {k: Stat() for k in ("gen_rss_mib", "ref_rss_mib", "rss_ratio", "gen_np_rss_mib", "np_rss_ratio")}
        # warm-up, not measured: the first load of mnist5k parses text and writes a cache (data/mnist5k.pt)
        _, warm = commands(case, 1, case.memory_batch, data, 0, work / f"mem_{model}_warm", root=root)
        run(warm, cwd=work, env=env, timeout=900)
        cmd_gen = cmd_ref = cmd_np = None
        for rep in range(reps):
            out = work / f"mem_{model}_{rep}"
            cmd_gen, cmd_ref = commands(case, case.memory_steps, case.memory_batch, data, 0, out, root=root)
            cmd_np, _ = commands(case, case.memory_steps, case.memory_batch, data, 0, out / "np", root=root,
                                 gen_flags=["--no-plots"])
            trio = [("gen", cmd_gen), ("ref", cmd_ref), ("np", cmd_np)]
            peaks = {who: run(cmd, cwd=work, env=env, timeout=900, rss=True).max_rss_kb / 1024
                     for who, cmd in (trio if rep % 2 == 0 else trio[::-1])}
            stats["gen_rss_mib"].add(peaks["gen"])
            stats["ref_rss_mib"].add(peaks["ref"])
            stats["gen_np_rss_mib"].add(peaks["np"])
            stats["rss_ratio"].add(peaks["gen"] / peaks["ref"])
            stats["np_rss_ratio"].add(peaks["np"] / peaks["ref"])
            shutil.rmtree(out, ignore_errors=True)
        results[model] = {"batch_size": case.memory_batch, "steps": case.memory_steps, **stats,
                          "cmd_gen": shown(cmd_gen, root), "cmd_ref": shown(cmd_ref, root),
                          "cmd_np": shown(cmd_np, root)}
        log(f"  memory: {model} {stats['rss_ratio'].median:.3f}x, --no-plots {stats['np_rss_ratio'].median:.3f}x")
    return results


# -- fidelity ---------------------------------------------------------------------------------------

def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def model_class(module):
    """The model class of a generated model.py: the last nn.Module class it defines."""
    import torch

    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
            and v.__module__ == module.__name__][-1]


def _tensors_of(cls, seed: int):
    import torch

    torch.manual_seed(seed)
    return list(cls().state_dict().items())


def same_initial_parameters(model: str, seed: int = 0, root: Path = ROOT) -> dict:
    """Build both under the same seed; compare every parameter and buffer in creation order."""
    import torch

    gen = _load(root / "generated" / model / "model.py", f"bench_fidelity_{model}_model")
    ref = _load(root / "bench" / "reference" / f"{model}.py", f"bench_fidelity_{model}_reference")

    def tensors(build):
        torch.manual_seed(seed)
        nets = build()
        return [(f"{net_name}.{k}", v) for net_name, net in nets.items() for k, v in net.state_dict().items()]
    a = [(k, v) for k, v in _tensors_of(model_class(gen), seed)]
    b = tensors(ref.build_networks)
    mismatch = None
    if len(a) != len(b):
        mismatch = f"{len(a)} tensors generated, {len(b)} in the reference"
    else:
        for (na, ta), (nb, tb) in zip(a, b):
            if ta.shape != tb.shape:
                mismatch = f"{na} {tuple(ta.shape)} vs reference {nb} {tuple(tb.shape)}"
                break
            if not torch.equal(ta, tb):
                mismatch = f"{na} differs from reference {nb} (max |diff| {(ta - tb).abs().max().item():.3g})"
                break
    count = sum(t.numel() for _, t in a)
    return {"equal": mismatch is None, "tensors": len(a), "values": count, "mismatch": mismatch}


def _losses(path: Path, columns) -> list[dict]:
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("split", "train") != "train":
                continue
            rows.append({c: (float(row[c]) if row.get(c) not in (None, "") else None) for c in columns})
    return rows


def same_losses(model: str, work: Path, seed: int = 0, steps: int = FIDELITY_STEPS, root: Path = ROOT) -> dict:
    case = CASES[model]
    out = work / f"fid_{model}"
    data = _data_arg(case, case.fidelity_data, work)
    n = None if case.fidelity_data.startswith("file:") else case.fidelity_n
    cmd_gen, cmd_ref = commands(case, steps, case.fidelity_batch, data, seed, out, n=n, root=root)
    env = child_env()
    run(cmd_gen, cwd=work, env=env, timeout=900)
    run(cmd_ref, cwd=work, env=env, timeout=900)
    gen, ref = _losses(out / "gen" / "losses.csv", case.columns), _losses(out / "ref" / "losses.csv", case.columns)
    shutil.rmtree(out, ignore_errors=True)
    first_bad, worst, bitwise = None, 0.0, True
    for i, (g, r) in enumerate(zip(gen, ref), start=1):
        for c in case.columns:
            if g[c] is None and r[c] is None:
                continue
            if g[c] is None or r[c] is None:
                first_bad = first_bad or (i, c, g[c], r[c])
                worst = math.inf
                continue
            if g[c] != r[c]:
                bitwise = False
            err = abs(g[c] - r[c]) / max(1.0, abs(r[c]))
            worst = max(worst, err)
            if err > FIDELITY_TOLERANCE and first_bad is None:
                first_bad = (i, c, g[c], r[c])
    per_epoch = case.fidelity_n // case.fidelity_batch if not case.fidelity_data.startswith("file:") else \
        int(int(case.fidelity_data[5:]) * 0.9) // case.fidelity_batch
    return {"steps": min(len(gen), len(ref)), "wanted": steps,
            "equal": first_bad is None and len(gen) == len(ref) == steps,
            "bitwise": bitwise and first_bad is None, "max_rel_error": worst, "first_difference": first_bad,
            "steps_per_epoch": per_epoch, "cmd_gen": shown(cmd_gen, root), "cmd_ref": shown(cmd_ref, root)}


def fidelity(models: list[str], work: Path, root: Path = ROOT) -> dict:
    out = {}
    for model in models:
        out[model] = {"init": same_initial_parameters(model, root=root), "losses": same_losses(model, work, root=root)}
        log(f"  fidelity: {model} init {'equal' if out[model]['init']['equal'] else 'DIFFERENT'}, "
            f"losses {'equal' if out[model]['losses']['equal'] else 'DIFFERENT'}")
    return out


def measure(models: list[str] | None, reps: int, quick: bool, root: Path = ROOT) -> dict:
    models = [m for m in (models or available(root)) if m in available(root)]
    work = Path(tempfile.mkdtemp(prefix="gendsl-bench-training-"))
    try:
        return {"models": models, "throughput": throughput(models, reps, quick, work, root),
                "memory": memory(models, 1, work, root), "fidelity": fidelity(models, work, root)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


SPEED_HEADER = ["model", "batch", "steps (short / long)", "generated steps/s", "reference steps/s",
                "ratio gen/ref (best runs)", "paired ratios: median (min-max)", "fixed cost s gen / ref"]
MEMORY_HEADER = ["model", "batch", "steps", "peak RSS MiB reference", "generated --no-plots", "ratio",
                 "generated (with plots)", "ratio"]


def memory_rows(result: dict) -> list[list[str]]:
    rows = []
    for model, r in result.items():
        np_cells = [r["gen_np_rss_mib"].fmt(0), r["np_rss_ratio"].fmt(3)] if "gen_np_rss_mib" in r else ["", ""]
        rows.append([model, str(r["batch_size"]), str(r["steps"]), r["ref_rss_mib"].fmt(0), *np_cells,
                     r["gen_rss_mib"].fmt(0), r["rss_ratio"].fmt(3)])
    return rows


def report(result: dict) -> tuple[list[list[str]], list[list[str]], list[str]]:
    speed_rows, fid_rows, notes = [], [], []
    for model, r in result["throughput"].items():
        speed_rows.append([model, str(r["batch_size"]), f"{r['short']} / {r['steps']}", f"{r['best_gen_sps']:.2f}",
                           f"{r['best_ref_sps']:.2f}", f"{r['best_ratio']:.3f}", r["ratio"].fmt(3),
                           f"{r['gen_fixed'].median:.2f} / {r['ref_fixed'].median:.2f}"])
    for model, f in result["fidelity"].items():
        init, losses = f["init"], f["losses"]
        init_txt = f"equal ({init['tensors']} tensors, {init['values']:,} values)" if init["equal"] \
            else f"DIFFERENT: {init['mismatch']}"
        if losses["equal"]:
            loss_txt = ("bitwise equal" if losses["bitwise"] else f"equal to {losses['max_rel_error']:.1e}") + \
                f" ({losses['steps']} steps, {losses['steps_per_epoch']} per epoch)"
        else:
            fb = losses["first_difference"]
            loss_txt = f"DIFFERENT from step {fb[0]} (`{fb[1]}`: {fb[2]} vs {fb[3]})" if fb else \
                f"{losses['steps']} of {losses['wanted']} steps logged"
        fid_rows.append([model, init_txt, loss_txt])
    return speed_rows, fid_rows, notes


if __name__ == "__main__":  # python -m bench.training [models...]
    from bench.common import table

    res = measure(sys.argv[1:] or None, reps=2, quick=True)
    speed, fid, notes = report(res)
    print(table(speed, SPEED_HEADER))
    print(table(memory_rows(res["memory"]), MEMORY_HEADER))
    print(table(fid, ["model", "initial parameters", "first 20 losses"]))
