"""Hand-written MLP GAN on 2-D points, the reference for specs/gan_mlp_2d.gen.

The `gan` model of eriklindernoren/PyTorch-GAN (after Goodfellow et al., "Generative
Adversarial Nets", 2014): latent 100; generator 128-256-512-1024 with BatchNorm1d(n, 0.8)
(that code passes 0.8 as eps) and LeakyReLU(0.2), here with a linear 2-unit output instead of
tanh (the data are points, not images in [-1, 1]); discriminator 512-256-1 with LeakyReLU(0.2)
and a sigmoid; BCELoss; Adam lr 2e-4 betas (0.5, 0.999). Each iteration: one D step on a real
batch and G(z).detach(), then one G step on the same G(z) with real labels (the discriminator
frozen). Data: a toy set of gendsl's loader, by default ring8 (8 Gaussians on the unit circle).

As in every reference here, the data set is held in memory and shuffled with `torch.randperm`
under a generator seeded from (seed, epoch), the same batches as the generated train.py.

    python bench/reference/gan_mlp_2d.py --steps 500 --batch-size 64 --data ring8 --out /tmp/ref_gan

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

LATENT_DIM = 100


class Generator(nn.Module):
    def __init__(self):
        super().__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(LATENT_DIM, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, 2),
        )

    def forward(self, z):
        return self.model(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(2, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.model(x)


def build_networks():
    return {"G": Generator(), "D": Discriminator()}


def batches(x, batch_size, seed, epoch):
    """Shuffled full batches of an in-memory tensor (the last partial batch is dropped)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        yield x[order[start:start + batch_size]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="ring8", help="a 2-D toy set: ring8, grid25, gmm3, ...")
    p.add_argument("--n", type=int, default=None, help="training samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/reference_gan_mlp_2d")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    train, _ = load_data(args.data, (2,), None, seed=args.seed, n=args.n)
    data = train.tensors[0]

    nets = build_networks()
    generator, discriminator = nets["G"].to(device), nets["D"].to(device)
    adversarial_loss = nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = open(out / "losses.csv", "w", newline="")
    log = csv.writer(log_file)
    log.writerow(["step", "loss_d", "d_real", "d_fake", "loss_g"])

    step = 0
    started = time.perf_counter()
    for epoch in range(10**9):
        for real in batches(data, args.batch_size, args.seed, epoch):
            real = real.to(device)
            valid = torch.ones(real.size(0), 1, device=device)
            fake_labels = torch.zeros(real.size(0), 1, device=device)
            z = torch.randn(real.size(0), LATENT_DIM, device=device)
            gen = generator(z)

            # Train the discriminator: real vs generated (detached) samples
            d_real = discriminator(real)
            d_fake = discriminator(gen.detach())
            d_loss = adversarial_loss(d_real, valid) + adversarial_loss(d_fake, fake_labels)
            optimizer_D.zero_grad()
            d_loss.backward()
            optimizer_D.step()

            # Train the generator: fool the (updated, frozen) discriminator
            discriminator.requires_grad_(False)
            g_loss = adversarial_loss(discriminator(gen), valid)
            optimizer_G.zero_grad()
            g_loss.backward()
            optimizer_G.step()
            discriminator.requires_grad_(True)

            step += 1
            log.writerow([step, d_loss.item(), d_real.mean().item(), d_fake.mean().item(), g_loss.item()])
            if not args.quiet and step % 100 == 0:
                print(f"step {step}: D loss {d_loss.item():.4f} G loss {g_loss.item():.4f}")
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
