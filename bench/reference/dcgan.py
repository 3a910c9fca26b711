"""Hand-written DCGAN, the reference for specs/dcgan.gen.

Written from pytorch/examples/dcgan/main.py (Radford et al., "Unsupervised Representation
Learning with Deep Convolutional GANs", 2016): 64x64 RGB images, nz=100, ngf=ndf=64, weights
N(0, 0.02) for convolutions and N(1, 0.02) for batch-norm scales, BCELoss on the sigmoid output,
Adam lr 2e-4 betas (0.5, 0.999). Each iteration: D on a real batch (label 1) and on
G(z).detach() (label 0), one D step; then G with real labels through the updated D.

The only departures from pytorch/examples are what a paired benchmark needs: the data set is
held in memory and shuffled with `torch.randperm` under a generator seeded from (seed, epoch)
instead of a DataLoader, so that the batches (and the global random stream that draws z) are
the same as in generated/dcgan/train.py.

    python bench/reference/dcgan.py --steps 20 --batch-size 16 --data fake --out /tmp/ref_dcgan

`--data fake` is random images in [-1, 1] (CelebA is not available offline); any other name or
path goes through gendsl's data loader, as in the generated train.py. Writes OUT/losses.csv
(one row per iteration) and OUT/metrics.json (steps, seconds, steps_per_second).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

from gendsl.runtime.data import fake_data, load_data

NZ, NGF, NDF, NC = 100, 64, 64, 3
SHAPE, RANGE = (NC, 64, 64), (-1.0, 1.0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(NGF * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (nc) x 64 x 64
        )

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            # input is (nc) x 64 x 64
            nn.Conv2d(NC, NDF, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 32 x 32
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 16 x 16
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 8 x 8
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*8) x 4 x 4
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x)


def weights_init(m):
    """pytorch/examples: custom weights initialization called on netG and netD."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


def build_networks():
    netG = Generator()
    netG.apply(weights_init)
    netD = Discriminator()
    netD.apply(weights_init)
    return {"netG": netG, "netD": netD}


def batches(x, batch_size, seed, epoch):
    """Shuffled full batches of an in-memory tensor (the last partial batch is dropped)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        yield x[order[start:start + batch_size]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="fake")
    p.add_argument("--n", type=int, default=None, help="training samples (fake data: default 4 batches)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/reference_dcgan")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if args.data == "fake":
        train = fake_data(SHAPE, args.n or 4 * args.batch_size, None, RANGE, seed=args.seed)
    else:
        train, _ = load_data(args.data, SHAPE, RANGE, seed=args.seed, n=args.n)
    data = train.tensors[0]

    nets = build_networks()
    netG, netD = nets["netG"].to(device), nets["netD"].to(device)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0

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
            b = real.size(0)

            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            # train with real
            netD.zero_grad()
            label = torch.full((b,), real_label, dtype=real.dtype, device=device)
            output = netD(real).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            # train with fake
            noise = torch.randn(b, NZ, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            # (2) Update G network: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            optimizerG.step()

            step += 1
            log.writerow([step, errD.item(), D_x, D_G_z1, errG.item()])
            if not args.quiet and step % 10 == 0:
                print(f"[{step}/{args.steps}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} "
                      f"D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f}")
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
