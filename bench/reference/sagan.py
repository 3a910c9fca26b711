"""Hand-written SAGAN, the reference for specs/sagan.gen.

Written from heykeetae/Self-Attention-GAN (sagan_models.py: `Self_Attn`, `Generator`,
`Discriminator` at image_size 64, z_dim 128, conv_dim 64; trainer.py with --adv_loss hinge,
g_lr 1e-4, d_lr 4e-4, betas (0.0, 0.9)), after Zhang et al., "Self-Attention Generative
Adversarial Networks" (ICML 2019). The generator: spectrally normalised transposed 4x4
convolutions with batchnorm and ReLU (512 x 4 x 4 -> 256 x 8 x 8 -> 128 x 16 x 16), attention,
64 x 32 x 32, attention, then a plain transposed convolution to 3 x 64 x 64 and tanh. The
discriminator: spectrally normalised 4x4 stride-2 convolutions with LeakyReLU(0.1) to 256 x 8 x 8,
attention, 512 x 4 x 4, attention, and a plain 4x4 convolution to one score.

Departures from that code: its own `SpectralNorm` module is torch's
`torch.nn.utils.parametrizations.spectral_norm` here (the same W / sigma(W) with one power
iteration per training forward pass); the networks return their output alone (sagan_models.py
also returns the attention maps, which training never reads; `return_attention=True` gives them
back); the data are held in memory and shuffled with `torch.randperm` under a generator seeded
from (seed, epoch) instead of a DataLoader. The loop is trainer.py's: a discriminator step on a
real batch and a generated one, then a generator step on new noise.

    python bench/reference/sagan.py --steps 4 --batch-size 8 --data fake --out /tmp/ref_sagan

`--data fake` is random images in [-1, 1] (CelebA is not available offline). Writes
OUT/losses.csv (one row per step) and OUT/metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm as SpectralNorm

from gendsl.runtime.data import fake_data, load_data

IMAGE_SIZE = 64
Z_DIM = 128
CONV_DIM = 64
SHAPE, RANGE = (3, IMAGE_SIZE, IMAGE_SIZE), (-1.0, 1.0)


class Self_Attn(nn.Module):
    """Self attention layer."""

    def __init__(self, in_dim, activation):
        super().__init__()
        self.chanel_in = in_dim
        self.activation = activation
        self.query_conv = nn.Conv2d(in_channels=in_dim, out_channels=in_dim // 8, kernel_size=1)
        self.key_conv = nn.Conv2d(in_channels=in_dim, out_channels=in_dim // 8, kernel_size=1)
        self.value_conv = nn.Conv2d(in_channels=in_dim, out_channels=in_dim, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        m_batchsize, C, width, height = x.size()
        proj_query = self.query_conv(x).view(m_batchsize, -1, width * height).permute(0, 2, 1)  # B x N x C'
        proj_key = self.key_conv(x).view(m_batchsize, -1, width * height)  # B x C' x N
        energy = torch.bmm(proj_query, proj_key)
        attention = self.softmax(energy)  # B x N x N
        proj_value = self.value_conv(x).view(m_batchsize, -1, width * height)  # B x C x N
        out = torch.bmm(proj_value, attention.permute(0, 2, 1))
        out = out.view(m_batchsize, C, width, height)
        out = self.gamma * out + x
        return out, attention


class Generator(nn.Module):
    def __init__(self, image_size=64, z_dim=100, conv_dim=64):
        super().__init__()
        self.imsize = image_size
        repeat_num = int(np.log2(self.imsize)) - 3
        mult = 2 ** repeat_num  # 8
        layer1 = [SpectralNorm(nn.ConvTranspose2d(z_dim, conv_dim * mult, 4)), nn.BatchNorm2d(conv_dim * mult),
                  nn.ReLU()]
        curr_dim = conv_dim * mult
        layer2 = [SpectralNorm(nn.ConvTranspose2d(curr_dim, int(curr_dim / 2), 4, 2, 1)),
                  nn.BatchNorm2d(int(curr_dim / 2)), nn.ReLU()]
        curr_dim = int(curr_dim / 2)
        layer3 = [SpectralNorm(nn.ConvTranspose2d(curr_dim, int(curr_dim / 2), 4, 2, 1)),
                  nn.BatchNorm2d(int(curr_dim / 2)), nn.ReLU()]
        curr_dim = int(curr_dim / 2)
        layer4 = [SpectralNorm(nn.ConvTranspose2d(curr_dim, int(curr_dim / 2), 4, 2, 1)),
                  nn.BatchNorm2d(int(curr_dim / 2)), nn.ReLU()]
        self.l4 = nn.Sequential(*layer4)
        curr_dim = int(curr_dim / 2)
        self.l1 = nn.Sequential(*layer1)
        self.l2 = nn.Sequential(*layer2)
        self.l3 = nn.Sequential(*layer3)
        self.last = nn.Sequential(nn.ConvTranspose2d(curr_dim, 3, 4, 2, 1), nn.Tanh())
        self.attn1 = Self_Attn(128, "relu")
        self.attn2 = Self_Attn(64, "relu")

    def forward(self, z, return_attention=False):
        z = z.view(z.size(0), z.size(1), 1, 1)
        out = self.l1(z)
        out = self.l2(out)
        out = self.l3(out)
        out, p1 = self.attn1(out)
        out = self.l4(out)
        out, p2 = self.attn2(out)
        out = self.last(out)
        return (out, p1, p2) if return_attention else out

    def in_forward_order(self):
        """The modules with parameters or buffers, in the order forward uses them."""
        return [self.l1[0], self.l1[1], self.l2[0], self.l2[1], self.l3[0], self.l3[1], self.attn1,
                self.l4[0], self.l4[1], self.attn2, self.last[0]]


class Discriminator(nn.Module):
    def __init__(self, image_size=64, conv_dim=64):
        super().__init__()
        self.imsize = image_size
        layer1 = [SpectralNorm(nn.Conv2d(3, conv_dim, 4, 2, 1)), nn.LeakyReLU(0.1)]
        curr_dim = conv_dim
        layer2 = [SpectralNorm(nn.Conv2d(curr_dim, curr_dim * 2, 4, 2, 1)), nn.LeakyReLU(0.1)]
        curr_dim = curr_dim * 2
        layer3 = [SpectralNorm(nn.Conv2d(curr_dim, curr_dim * 2, 4, 2, 1)), nn.LeakyReLU(0.1)]
        curr_dim = curr_dim * 2
        layer4 = [SpectralNorm(nn.Conv2d(curr_dim, curr_dim * 2, 4, 2, 1)), nn.LeakyReLU(0.1)]
        self.l4 = nn.Sequential(*layer4)
        curr_dim = curr_dim * 2
        self.l1 = nn.Sequential(*layer1)
        self.l2 = nn.Sequential(*layer2)
        self.l3 = nn.Sequential(*layer3)
        self.last = nn.Sequential(nn.Conv2d(curr_dim, 1, 4))
        self.attn1 = Self_Attn(256, "relu")
        self.attn2 = Self_Attn(512, "relu")

    def forward(self, x, return_attention=False):
        out = self.l1(x)
        out = self.l2(out)
        out = self.l3(out)
        out, p1 = self.attn1(out)
        out = self.l4(out)
        out, p2 = self.attn2(out)
        out = self.last(out)
        return (out.squeeze(), p1, p2) if return_attention else out.squeeze()

    def in_forward_order(self):
        return [self.l1[0], self.l2[0], self.l3[0], self.attn1, self.l4[0], self.attn2, self.last[0]]


def build_networks():
    """The networks in the order the spec declares them (default initialisation)."""
    return {"G": Generator(IMAGE_SIZE, Z_DIM, CONV_DIM), "D": Discriminator(IMAGE_SIZE, CONV_DIM)}


def discriminator_loss(d_out_real, d_out_fake):
    """trainer.py, --adv_loss hinge."""
    return torch.nn.ReLU()(1.0 - d_out_real).mean() + torch.nn.ReLU()(1.0 + d_out_fake).mean()


def generator_loss(g_out_fake):
    return -g_out_fake.mean()


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
    p.add_argument("--out", default="runs/reference_sagan")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    if args.data == "fake":
        train = fake_data(SHAPE, args.n or 4 * args.batch_size, None, RANGE, seed=args.seed)
    else:
        train, _ = load_data(args.data, SHAPE, RANGE, seed=args.seed, n=args.n)
    data = train.tensors[0]
    nets = build_networks()
    G, D = nets["G"], nets["D"]
    g_optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, G.parameters()), 1e-4, [0.0, 0.9])
    d_optimizer = torch.optim.Adam(filter(lambda p: p.requires_grad, D.parameters()), 4e-4, [0.0, 0.9])

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "losses.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss_d", "loss_g"])
        step = 0
        started = time.perf_counter()
        for epoch in range(10**9):
            for real_images in batches(data, args.batch_size, args.seed, epoch):
                # discriminator
                d_out_real = D(real_images)
                z = torch.randn(real_images.size(0), Z_DIM)
                fake_images = G(z)
                d_out_fake = D(fake_images)
                d_loss = discriminator_loss(d_out_real, d_out_fake)
                d_optimizer.zero_grad()
                g_optimizer.zero_grad()
                d_loss.backward()
                d_optimizer.step()
                # generator, on new noise
                z = torch.randn(real_images.size(0), Z_DIM)
                g_loss = generator_loss(D(G(z)))
                d_optimizer.zero_grad()
                g_optimizer.zero_grad()
                g_loss.backward()
                g_optimizer.step()
                step += 1
                log.writerow([step, d_loss.item(), g_loss.item()])
                if step >= args.steps:
                    break
            if step >= args.steps:
                break
        seconds = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps({"steps": step, "seconds": round(seconds, 3)}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
