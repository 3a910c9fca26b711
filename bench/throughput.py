"""Samples per second of generated networks, forward and backward, at growing batch sizes on the CPU."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from bench.common import ROOT, Stat, log

BATCH_SIZES = (32, 128, 512)


def load_model_module(model: str, root: Path = ROOT):
    """generated/<model>/model.py as a module (it imports only torch)."""
    path = root / "generated" / model / "model.py"
    spec = importlib.util.spec_from_file_location(f"bench_generated_{model}_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _vae_step(nets):
    """One forward+backward of the generated VAE with its loss (BCE summed over pixels + KL), per batch."""
    import torch
    import torch.nn.functional as F

    enc, dec = nets["enc"], nets["dec"]

    def step(x):
        mu, logvar = enc(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_hat = dec(z)
        loss = F.binary_cross_entropy(x_hat, x, reduction="sum") / x.size(0) \
            - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.size(0)
        loss.backward()
    return step, (1, 28, 28), (0.0, 1.0)


def _dcgan_d_step(nets):
    """One forward+backward of the generated DCGAN discriminator on a batch, BCE against `real`."""
    import torch
    import torch.nn.functional as F

    netD = nets["netD"]

    def step(x):
        d = netD(x).view(-1)
        F.binary_cross_entropy(d, torch.ones_like(d)).backward()
    return step, (3, 64, 64), (-1.0, 1.0)


CASES = {
    "vae": ("VAE 784-400-20 (enc + dec)", _vae_step),
    "dcgan": ("DCGAN discriminator 64x64", _dcgan_d_step),
}


def samples_per_second(model: str, batch_size: int, min_seconds: float, reps: int, root: Path = ROOT) -> Stat:
    """`reps` measurements of samples/s: each times as many steps as fit in `min_seconds` (at least 2),
    after one warm-up step. Gradients are zeroed between steps (set to None), as in training."""
    import torch

    torch.manual_seed(0)
    from bench.training import model_class

    nets = dict(model_class(load_model_module(model, root))().named_children())
    for net in nets.values():
        net.train()
    step, shape, (low, high) = CASES[model][1](nets)
    x = low + (high - low) * torch.rand(batch_size, *shape)
    params = [p for net in nets.values() for p in net.parameters()]

    def one():
        for p in params:
            p.grad = None
        step(x)

    one()  # warm-up: allocator, oneDNN primitives
    stat = Stat()
    for _ in range(reps):
        n, started = 0, time.perf_counter()
        while True:
            one()
            n += 1
            elapsed = time.perf_counter() - started
            if n >= 2 and elapsed >= min_seconds:
                break
        stat.add(n * batch_size / elapsed)
    return stat


def measure(models: list[str], batch_sizes=BATCH_SIZES, min_seconds: float = 1.0, reps: int = 3,
            plot_path: Path | None = None, root: Path = ROOT) -> dict:
    import torch

    result = {"batch_sizes": list(batch_sizes), "models": {}, "threads": torch.get_num_threads()}
    for model in models:
        result["models"][model] = {b: samples_per_second(model, b, min_seconds, reps, root) for b in batch_sizes}
        log(f"  throughput: {model} done")
    if plot_path is not None:
        plot(result, plot_path)
        result["plot"] = plot_path
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for model, by_batch in result["models"].items():
        bs = sorted(by_batch)
        med = [by_batch[b].median for b in bs]
        lo = [by_batch[b].median - by_batch[b].low for b in bs]
        hi = [by_batch[b].high - by_batch[b].median for b in bs]
        ax.errorbar(bs, med, yerr=[lo, hi], marker="o", capsize=3, label=CASES[model][0])
        for b, m in zip(bs, med):
            ax.annotate(f"{m:,.0f}", (b, m), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(result["batch_sizes"])
    ax.set_xticklabels([str(b) for b in result["batch_sizes"]])
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples / s (forward + backward)")
    ax.set_title(f"Generated networks on the CPU ({result['threads']} threads)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def report(result: dict) -> tuple[list[list[str]], list[str]]:
    rows = []
    for model, by_batch in result["models"].items():
        for b in result["batch_sizes"]:
            rows.append([CASES[model][0], str(b), by_batch[b].fmt(0, "samples/s")])
    return rows, []


if __name__ == "__main__":  # python -m bench.throughput
    from bench.common import table

    res = measure(sys.argv[1:] or ["vae", "dcgan"], min_seconds=0.5, reps=2)
    print(table(report(res)[0], ["network", "batch", "samples/s"]))
