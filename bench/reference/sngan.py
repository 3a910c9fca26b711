"""Hand-written SNGAN, the reference for specs/sngan.gen.

Written from christiancosgrove/pytorch-spectral-normalization-gan (model.py, the "standard CNN"
of Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018, and
main.py with --loss hinge): 32x32 RGB images, Z_dim = 128, a generator of transposed
convolutions with batchnorm, a discriminator of seven spectrally normalised convolutions with
LeakyReLU(0.1) and a spectrally normalised linear layer, the hinge loss, five discriminator
steps per generator step, Adam lr 2e-4 with betas (0.0, 0.9).

Departures from that code: its own `SpectralNorm` module is torch's
`torch.nn.utils.parametrizations.spectral_norm` here (the same computation, W / sigma(W) with one
power iteration per training forward pass), and the data are held in memory and shuffled with
`torch.randperm` under a generator seeded from (seed, epoch) instead of a DataLoader. The training
loop is main.py's: the same real batch for the five discriminator steps, each with new noise, then
new noise for the generator step. (specs/sngan.gen's train.py reads a new batch at every step
instead; the networks and losses are the same.)

    python bench/reference/sngan.py --steps 4 --batch-size 8 --data fake --out /tmp/ref_sngan

`--data fake` is random images in [-1, 1] (CIFAR-10 is not available offline). Writes
OUT/losses.csv (one row per generator step) and OUT/metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

from gendsl.runtime.data import fake_data, load_data

CHANNELS = 3
LEAK = 0.1
W_G = 4
Z_DIM = 128
DISC_ITERS = 5
SHAPE, RANGE = (CHANNELS, 32, 32), (-1.0, 1.0)


class Generator(nn.Module):
    def __init__(self, z_dim):
        super().__init__()
        self.z_dim = z_dim
        self.model = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 512, 4, stride=1),
            nn.BatchNorm2d(512),
            nn.ReLU(),
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, CHANNELS, 3, stride=1, padding=(1, 1)),
            nn.Tanh())

    def forward(self, z):
        return self.model(z.view(-1, self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(CHANNELS, 64, 3, stride=1, padding=(1, 1)))
        self.conv2 = spectral_norm(nn.Conv2d(64, 64, 4, stride=2, padding=(1, 1)))
        self.conv3 = spectral_norm(nn.Conv2d(64, 128, 3, stride=1, padding=(1, 1)))
        self.conv4 = spectral_norm(nn.Conv2d(128, 128, 4, stride=2, padding=(1, 1)))
        self.conv5 = spectral_norm(nn.Conv2d(128, 256, 3, stride=1, padding=(1, 1)))
        self.conv6 = spectral_norm(nn.Conv2d(256, 256, 4, stride=2, padding=(1, 1)))
        self.conv7 = spectral_norm(nn.Conv2d(256, 512, 3, stride=1, padding=(1, 1)))
        self.fc = spectral_norm(nn.Linear(W_G * W_G * 512, 1))

    def forward(self, x):
        m = x
        m = nn.LeakyReLU(LEAK)(self.conv1(m))
        m = nn.LeakyReLU(LEAK)(self.conv2(m))
        m = nn.LeakyReLU(LEAK)(self.conv3(m))
        m = nn.LeakyReLU(LEAK)(self.conv4(m))
        m = nn.LeakyReLU(LEAK)(self.conv5(m))
        m = nn.LeakyReLU(LEAK)(self.conv6(m))
        m = nn.LeakyReLU(LEAK)(self.conv7(m))
        return self.fc(m.view(-1, W_G * W_G * 512))


def build_networks():
    """The networks in the order the spec declares them (default initialisation)."""
    return {"G": Generator(Z_DIM), "D": Discriminator()}


def discriminator_loss(d_real, d_fake):
    """main.py, --loss hinge."""
    return nn.ReLU()(1.0 - d_real).mean() + nn.ReLU()(1.0 + d_fake).mean()


def generator_loss(d_fake):
    return -d_fake.mean()


def batches(x, batch_size, seed, epoch):
    """Shuffled full batches of an in-memory tensor (the last partial batch is dropped)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        yield x[order[start:start + batch_size]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="generator steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="fake")
    p.add_argument("--n", type=int, default=None, help="training samples (fake data: default 4 batches)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/reference_sngan")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if args.data == "fake":
        train = fake_data(SHAPE, args.n or 4 * args.batch_size, None, RANGE, seed=args.seed)
    else:
        train, _ = load_data(args.data, SHAPE, RANGE, seed=args.seed, n=args.n)
    data = train.tensors[0]

    nets = build_networks()
    generator, discriminator = nets["G"].to(device), nets["D"].to(device)
    optim_disc = torch.optim.Adam(filter(lambda p: p.requires_grad, discriminator.parameters()), lr=2e-4,
                                  betas=(0.0, 0.9))
    optim_gen = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.0, 0.9))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "losses.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss_d", "loss_g"])
        step = 0
        started = time.perf_counter()
        for epoch in range(10**9):
            for data_batch in batches(data, args.batch_size, args.seed, epoch):
                data_batch = data_batch.to(device)
                # update discriminator: DISC_ITERS steps on the same real batch
                for _ in range(DISC_ITERS):
                    z = torch.randn(args.batch_size, Z_DIM, device=device)
                    optim_disc.zero_grad()
                    optim_gen.zero_grad()
                    disc_loss = discriminator_loss(discriminator(data_batch), discriminator(generator(z)))
                    disc_loss.backward()
                    optim_disc.step()
                # update generator
                z = torch.randn(args.batch_size, Z_DIM, device=device)
                optim_disc.zero_grad()
                optim_gen.zero_grad()
                gen_loss = generator_loss(discriminator(generator(z)))
                gen_loss.backward()
                optim_gen.step()
                step += 1
                log.writerow([step, disc_loss.item(), gen_loss.item()])
                if step >= args.steps:
                    break
            if step >= args.steps:
                break
        seconds = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps({"steps": step, "seconds": round(seconds, 3)}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
