"""Hand-written context encoder, the reference for specs/context_encoder.gen.

Written from eriklindernoren/PyTorch-GAN, implementations/context_encoder/models.py (Generator,
Discriminator), context_encoder.py (the losses and the training step) and datasets.py (the masks):
a generator of 4x4 stride-2 convolutions with BatchNorm2d(out_feat, 0.8) (eps 0.8, passed
positionally) and LeakyReLU(0.2), a 1x1 convolution to a 4000-channel bottleneck, 4x4 stride-2
transposed convolutions with BatchNorm2d(out_feat, 0.8) and ReLU, then a 3x3 convolution and tanh
that paint the missing block; a discriminator of 3x3 convolutions (strides 2, 2, 2, 1),
InstanceNorm2d after the first and LeakyReLU(0.2), and a 3x3 convolution to one channel of
scores; MSE adversarial loss, the generator's loss 0.001 * adversarial + 0.999 * L1 on the
block, the discriminator's 0.5 * (MSE(D(real), 1) + MSE(D(fake), 0)); Adam lr 2e-4, betas
(0.5, 0.999). datasets.py cuts the block at a random place in training (np.random.randint(0,
img_size - mask_size) per corner coordinate, anew each time it reads an image, so every epoch)
and at the centre for evaluation, and fills it with 1. With `--data random_block:SET` this script
reads its blocks from the runtime's data source, drawn afresh each epoch as there (from the seed,
the epoch and the sample's index, where datasets.py draws from numpy's global stream).

Departures from that code: 32x32 one-channel images and a 16x16 block (the script: 128 and 64),
so the generator has the script's first three down blocks and its last two up blocks, the first
of them reading the bottleneck (4000 -> 128 channels); the discriminator returns a 2x2 map.

    python bench/reference/context_encoder.py --steps 4 --batch-size 4 --data fake --out /tmp/ref_ce
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
import torch.nn as nn

from gendsl.runtime.data import fake_samples, load_samples, take

CHANNELS = 1
IMG_SIZE, MASK_SIZE = 32, 16
RANGE = (-1.0, 1.0)


class Generator(nn.Module):
    def __init__(self, channels=CHANNELS):
        super(Generator, self).__init__()

        def downsample(in_feat, out_feat, normalize=True):
            layers = [nn.Conv2d(in_feat, out_feat, 4, stride=2, padding=1)]
            if normalize:
                layers.append(nn.BatchNorm2d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2))
            return layers

        def upsample(in_feat, out_feat, normalize=True):
            layers = [nn.ConvTranspose2d(in_feat, out_feat, 4, stride=2, padding=1)]
            if normalize:
                layers.append(nn.BatchNorm2d(out_feat, 0.8))
            layers.append(nn.ReLU())
            return layers

        self.model = nn.Sequential(
            *downsample(channels, 64, normalize=False),
            *downsample(64, 64),
            *downsample(64, 128),
            nn.Conv2d(128, 4000, 1),
            *upsample(4000, 128),
            *upsample(128, 64),
            nn.Conv2d(64, channels, 3, 1, 1),
            nn.Tanh()
        )

    def forward(self, x):
        return self.model(x)


class Discriminator(nn.Module):
    def __init__(self, channels=CHANNELS):
        super(Discriminator, self).__init__()

        def discriminator_block(in_filters, out_filters, stride, normalize):
            """Returns layers of each discriminator block"""
            layers = [nn.Conv2d(in_filters, out_filters, 3, stride, 1)]
            if normalize:
                layers.append(nn.InstanceNorm2d(out_filters))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        layers = []
        in_filters = channels
        for out_filters, stride, normalize in [(64, 2, False), (128, 2, True), (256, 2, True), (512, 1, True)]:
            layers.extend(discriminator_block(in_filters, out_filters, stride, normalize))
            in_filters = out_filters

        layers.append(nn.Conv2d(out_filters, 1, 3, 1, 1))

        self.model = nn.Sequential(*layers)

    def forward(self, img):
        return self.model(img)


def build_networks():
    """The networks in the order the spec declares them (default initialisation)."""
    return {"G": Generator(), "D": Discriminator()}


adversarial_loss = torch.nn.MSELoss()
pixelwise_loss = torch.nn.L1Loss()


def generator_loss(pred_fake, gen_parts, masked_parts):
    g_adv = adversarial_loss(pred_fake, torch.ones_like(pred_fake))
    g_pixel = pixelwise_loss(gen_parts, masked_parts)
    return 0.001 * g_adv + 0.999 * g_pixel


def discriminator_loss(pred_real, pred_fake):
    real_loss = adversarial_loss(pred_real, torch.ones_like(pred_real))
    fake_loss = adversarial_loss(pred_fake, torch.zeros_like(pred_fake))
    return 0.5 * (real_loss + fake_loss)


def apply_random_mask(img, generator=None):
    """datasets.py: a MASK_SIZE block at a random place, cut out and filled with 1."""
    y1, x1 = torch.randint(0, IMG_SIZE - MASK_SIZE, (2,), generator=generator).tolist()
    y2, x2 = y1 + MASK_SIZE, x1 + MASK_SIZE
    masked_part = img[:, y1:y2, x1:x2].clone()
    masked_img = img.clone()
    masked_img[:, y1:y2, x1:x2] = 1
    return masked_img, masked_part


def apply_center_mask(img):
    """datasets.py: the centre block, filled with 1."""
    i = (IMG_SIZE - MASK_SIZE) // 2
    masked_img = img.clone()
    masked_img[:, i:i + MASK_SIZE, i:i + MASK_SIZE] = 1
    return masked_img, i


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="fake", help="fake, or random_block:SET")
    p.add_argument("--out", default="runs/reference_context_encoder")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    shapes = [(CHANNELS, IMG_SIZE, IMG_SIZE), (CHANNELS, MASK_SIZE, MASK_SIZE)]
    if args.data == "fake":
        train = fake_samples(shapes, 4 * args.batch_size, None, [RANGE, RANGE], seed=args.seed)
    else:
        train, _ = load_samples([args.data, None], ["masked", "part"], shapes, [RANGE, RANGE], seed=args.seed)

    nets = build_networks()
    generator, discriminator = nets["G"], nets["D"]
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    step = 0
    with open(out / "losses.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss_d", "loss_g"])
        for epoch in range(10**9):
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
            for start in range(0, len(train) - args.batch_size + 1, args.batch_size):
                index = order[start:start + args.batch_size]
                # random_block: the blocks of this epoch (a new place each epoch, as datasets.py)
                masked_imgs, masked_parts = take(train, index, epoch)[:2]
                optimizer_G.zero_grad()
                gen_parts = generator(masked_imgs)
                g_loss = generator_loss(discriminator(gen_parts), gen_parts, masked_parts)
                g_loss.backward()
                optimizer_G.step()
                optimizer_D.zero_grad()
                d_loss = discriminator_loss(discriminator(masked_parts), discriminator(gen_parts.detach()))
                d_loss.backward()
                optimizer_D.step()
                step += 1
                log.writerow([step, d_loss.item(), g_loss.item()])
                if step >= args.steps:
                    break
            if step >= args.steps:
                break
    (out / "metrics.json").write_text(json.dumps({"steps": step}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
