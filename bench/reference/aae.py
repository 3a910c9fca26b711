"""Hand-written adversarial autoencoder, the reference for specs/aae.gen.

Written from eriklindernoren/PyTorch-GAN, implementations/aae/aae.py (Makhzani et al.,
"Adversarial Autoencoders", 2016): an encoder 784-512-512 (LeakyReLU 0.2, BatchNorm1d) with two
heads, mu and logvar, and a reparameterised 10-d code; a decoder 10-512-512-784 ending in tanh; a
discriminator on codes 10-512-256-1 ending in sigmoid. Real codes are drawn from N(0, I), fake codes
are the encoder's. The encoder and decoder minimise 0.001 * BCE(D(E(x)), 1) + 0.999 * L1(x_hat, x)
with one Adam (lr 2e-4, betas (0.5, 0.999)) over both; the discriminator minimises
0.5 * (BCE(D(z), 1) + BCE(D(E(x).detach()), 0)) with its own.

Departures from that code: images are 28x28 (the script's `--img_size 28`; its default is 32),
the noise of the reparameterisation is `torch.randn` instead of `np.random.normal` (so the same
torch seed gives the same codes as the generated model), and the data are held in memory and
shuffled with `torch.randperm` instead of a DataLoader. The training loop is aae.py's: the
autoencoder step first, then the discriminator step on the same codes. (specs/aae.gen's train.py
updates the discriminator first, then the encoder and decoder, and its discriminator minimises the
sum of the two halves, without the 0.5: Adam's steps do not change when a loss is scaled.)

    python bench/reference/aae.py --steps 4 --batch-size 8 --data fake --out /tmp/ref_aae

Writes OUT/losses.csv (one row per step) and OUT/metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch
import torch.nn as nn

from gendsl.runtime.data import fake_data, load_data

LATENT_DIM = 10
IMG_SHAPE = (1, 28, 28)
RANGE = (-1.0, 1.0)
IMG_VALUES = 28 * 28


def reparameterization(mu, logvar):
    std = torch.exp(logvar / 2)
    sampled_z = torch.randn(mu.size(0), LATENT_DIM, device=mu.device)
    return sampled_z * std + mu


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(IMG_VALUES, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.mu = nn.Linear(512, LATENT_DIM)
        self.logvar = nn.Linear(512, LATENT_DIM)

    def forward(self, img):
        img_flat = img.view(img.shape[0], -1)
        x = self.model(img_flat)
        mu = self.mu(x)
        logvar = self.logvar(x)
        return reparameterization(mu, logvar)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(LATENT_DIM, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, IMG_VALUES),
            nn.Tanh(),
        )

    def forward(self, z):
        img_flat = self.model(z)
        return img_flat.view(img_flat.shape[0], *IMG_SHAPE)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(LATENT_DIM, 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, z):
        return self.model(z)


def build_networks():
    """The networks in the order the spec declares them (default initialisation, as aae.py)."""
    return {"enc": Encoder(), "dec": Decoder(), "Dz": Discriminator()}


adversarial_loss = nn.BCELoss()
pixelwise_loss = nn.L1Loss()


def generator_loss(d_encoded, decoded_imgs, real_imgs):
    valid = torch.ones_like(d_encoded)
    return 0.001 * adversarial_loss(d_encoded, valid) + 0.999 * pixelwise_loss(decoded_imgs, real_imgs)


def discriminator_loss(d_real, d_fake):
    real_loss = adversarial_loss(d_real, torch.ones_like(d_real))
    fake_loss = adversarial_loss(d_fake, torch.zeros_like(d_fake))
    return 0.5 * (real_loss + fake_loss)


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
    p.add_argument("--out", default="runs/reference_aae")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    if args.data == "fake":
        train = fake_data(IMG_SHAPE, args.n or 4 * args.batch_size, None, RANGE, seed=args.seed)
    else:
        train, _ = load_data(args.data, IMG_SHAPE, RANGE, seed=args.seed, n=args.n)
    data = train.tensors[0]

    nets = build_networks()
    encoder, decoder, discriminator = nets["enc"], nets["dec"], nets["Dz"]
    optimizer_G = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=2e-4,
                                   betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "losses.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss_d", "loss_g"])
        step = 0
        started = time.perf_counter()
        for epoch in range(10**9):
            for real_imgs in batches(data, args.batch_size, args.seed, epoch):
                # the encoder and decoder
                optimizer_G.zero_grad()
                encoded_imgs = encoder(real_imgs)
                decoded_imgs = decoder(encoded_imgs)
                g_loss = generator_loss(discriminator(encoded_imgs), decoded_imgs, real_imgs)
                g_loss.backward()
                optimizer_G.step()
                # the discriminator: codes from the prior against the encoder's
                optimizer_D.zero_grad()
                z = torch.randn(real_imgs.shape[0], LATENT_DIM)
                d_loss = discriminator_loss(discriminator(z), discriminator(encoded_imgs.detach()))
                d_loss.backward()
                optimizer_D.step()
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
