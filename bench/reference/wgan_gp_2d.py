"""Hand-written WGAN-GP on 2-D points, the reference for specs/wgan_gp_2d.gen.

Gulrajani et al., "Improved Training of Wasserstein GANs" (2017), Algorithm 1, with the toy
networks of igul222/improved_wgan_training/gan_toy.py: 2-d noise, three ReLU layers of 512
units in the generator and in the critic (no batch norm, linear output), Adam lr 1e-4 betas
(0.5, 0.9), n_critic = 5 critic steps per generator step, gradient penalty
lambda * E[(||grad C(x_hat)||_2 - 1)^2] at x_hat = eps * x + (1 - eps) * G(z), eps ~ U[0, 1].
lambda is 10 in the paper (`--gp 10`, the default here); gan_toy.py, and so specs/wgan_gp_2d.gen,
use 0.1 on the toy sets (`--gp 0.1`, which the benchmark passes).

An iteration is one critic step; every n_critic-th iteration is followed by a generator step on
the same G(z) (as the pytorch/examples DCGAN reuses its fake batch), and `--steps` counts
iterations, as the generated train.py does. As in every reference here, the data set is held in
memory and shuffled with `torch.randperm` under a generator seeded from (seed, epoch), the same
batches as the generated train.py.

    python bench/reference/wgan_gp_2d.py --steps 500 --batch-size 256 --data grid25 --gp 0.1 --out /tmp/ref_wgan

Writes OUT/losses.csv (one row per iteration) and OUT/metrics.json (steps, seconds, steps_per_second).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from gendsl.runtime.data import load_data

DIM = 512
N_CRITIC = 5


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(2, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, 2),
        )

    def forward(self, noise):
        return self.main(noise)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(2, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, DIM), nn.ReLU(True),
            nn.Linear(DIM, 1),
        )

    def forward(self, x):
        return self.main(x)


def build_networks():
    return {"G": Generator(), "C": Critic()}


def gradient_penalty(critic, real, fake):
    """E[(||grad C(x_hat)||_2 - 1)^2] at random points between real and fake samples."""
    eps = torch.rand(real.size(0), 1, device=real.device)
    interpolates = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(interpolates)
    (gradients,) = torch.autograd.grad(outputs=scores.sum(), inputs=interpolates, create_graph=True)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def batches(x, batch_size, seed, epoch):
    """Shuffled full batches of an in-memory tensor (the last partial batch is dropped)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        yield x[order[start:start + batch_size]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500, help="critic iterations")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="grid25", help="a 2-D toy set: grid25, ring8, ...")
    p.add_argument("--n", type=int, default=None, help="training samples")
    p.add_argument("--gp", type=float, default=10.0, help="gradient penalty weight lambda")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/reference_wgan_gp_2d")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    train, _ = load_data(args.data, (2,), None, seed=args.seed, n=args.n)
    data = train.tensors[0]

    nets = build_networks()
    netG, netC = nets["G"].to(device), nets["C"].to(device)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=1e-4, betas=(0.5, 0.9))
    optimizerC = torch.optim.Adam(netC.parameters(), lr=1e-4, betas=(0.5, 0.9))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = open(out / "losses.csv", "w", newline="")
    log = csv.writer(log_file)
    log.writerow(["step", "loss_d", "d_real", "d_fake", "gradient_penalty", "loss_g"])

    step = 0
    started = time.perf_counter()
    for epoch in range(10**9):
        for real in batches(data, args.batch_size, args.seed, epoch):
            real = real.to(device)
            generator_step = (step + 1) % N_CRITIC == 0
            noise = torch.randn(real.size(0), 2, device=device)
            with torch.set_grad_enabled(generator_step):  # keep G's graph only when G is trained next
                fake = netG(noise)

            # critic: E[C(fake)] - E[C(real)] + lambda * penalty
            c_real = netC(real)
            c_fake = netC(fake.detach())
            wasserstein = c_fake.mean() - c_real.mean()
            penalty = gradient_penalty(netC, real, fake.detach())
            loss_c = wasserstein + args.gp * penalty
            optimizerC.zero_grad()
            loss_c.backward()
            optimizerC.step()
            row = [step + 1, wasserstein.item(), c_real.mean().item(), c_fake.mean().item(), penalty.item()]

            if generator_step:  # generator: -E[C(G(z))], the critic frozen
                netC.requires_grad_(False)
                loss_g = -netC(fake).mean()
                optimizerG.zero_grad()
                loss_g.backward()
                optimizerG.step()
                netC.requires_grad_(True)
                row.append(loss_g.item())
            else:
                row.append("")

            step += 1
            log.writerow(row)
            if not args.quiet and step % 100 == 0:
                print(f"step {step}: critic {wasserstein.item():.4f} penalty {penalty.item():.4f}")
            if step >= args.steps:
                break
        if step >= args.steps:
            break
    elapsed = time.perf_counter() - started
    log_file.close()
    metrics = {"steps": step, "seconds": round(elapsed, 3), "steps_per_second": round(step / elapsed, 3)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if not args.quiet:
        print(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
