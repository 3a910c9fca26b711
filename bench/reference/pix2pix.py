"""Hand-written pix2pix, the reference for specs/pix2pix.gen.

Written from eriklindernoren/PyTorch-GAN, implementations/pix2pix/models.py (UNetDown, UNetUp,
GeneratorUNet, Discriminator) and pix2pix.py (the losses and the training step): a U-Net generator
of 4x4 stride-2 convolutions without bias, InstanceNorm2d and LeakyReLU(0.2) going down (no
normalisation in the first and the innermost block, dropout 0.5 in the inner ones), 4x4 stride-2
transposed convolutions with InstanceNorm2d and ReLU going up, each followed by the skip
connection concatenated on channels, then Upsample(2) + ZeroPad2d((1, 0, 1, 0)) + a 4x4 conv +
tanh; a PatchGAN discriminator on torch.cat((img_A, img_B), 1); the loss
MSE(D(fake_B, real_A), 1) + lambda_pixel * L1(fake_B, real_B), lambda_pixel = 100, and the
discriminator's 0.5 * (MSE(D(real_B, real_A), 1) + MSE(D(fake_B.detach(), real_A), 0)); Adam lr
2e-4 with betas (0.5, 0.999).

Departures from that code: 32x32 one-channel images, so the U-Net has 5 down blocks (down1..down4
and down8 of the script, 32 -> 1) and 4 up blocks (up1 and up5..up7, with the channel widths
those blocks have there) instead of 8 and 7 at 256x256; the discriminator then returns a 2x2 map
of scores instead of 16x16. The data are (edges, digit) pairs held in memory and shuffled with
`torch.randperm` instead of a DataLoader over an image folder.

    python bench/reference/pix2pix.py --steps 4 --batch-size 4 --data fake --out /tmp/ref_pix2pix
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
import torch.nn as nn

from gendsl.runtime.data import fake_samples, load_samples

CHANNELS = 1
SHAPE, RANGE = (CHANNELS, 32, 32), (-1.0, 1.0)
LAMBDA_PIXEL = 100


class UNetDown(nn.Module):
    def __init__(self, in_size, out_size, normalize=True, dropout=0.0):
        super(UNetDown, self).__init__()
        layers = [nn.Conv2d(in_size, out_size, 4, 2, 1, bias=False)]
        if normalize:
            layers.append(nn.InstanceNorm2d(out_size))
        layers.append(nn.LeakyReLU(0.2))
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UNetUp(nn.Module):
    def __init__(self, in_size, out_size, dropout=0.0):
        super(UNetUp, self).__init__()
        layers = [
            nn.ConvTranspose2d(in_size, out_size, 4, 2, 1, bias=False),
            nn.InstanceNorm2d(out_size),
            nn.ReLU(inplace=True),
        ]
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x, skip_input):
        x = self.model(x)
        x = torch.cat((x, skip_input), 1)
        return x


class GeneratorUNet(nn.Module):
    def __init__(self, in_channels=CHANNELS, out_channels=CHANNELS):
        super(GeneratorUNet, self).__init__()
        self.down1 = UNetDown(in_channels, 64, normalize=False)
        self.down2 = UNetDown(64, 128)
        self.down3 = UNetDown(128, 256)
        self.down4 = UNetDown(256, 512, dropout=0.5)
        self.down5 = UNetDown(512, 512, normalize=False, dropout=0.5)  # the script's down8 (1x1)

        self.up1 = UNetUp(512, 512, dropout=0.5)
        self.up2 = UNetUp(1024, 256)  # the script's up5, up6, up7
        self.up3 = UNetUp(512, 128)
        self.up4 = UNetUp(256, 64)

        self.final = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(128, out_channels, 4, padding=1),
            nn.Tanh(),
        )

    def forward(self, x):
        # U-Net generator with skip connections from encoder to decoder
        d1 = self.down1(x)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        d4 = self.down4(d3)
        d5 = self.down5(d4)
        u1 = self.up1(d5, d4)
        u2 = self.up2(u1, d3)
        u3 = self.up3(u2, d2)
        u4 = self.up4(u3, d1)
        return self.final(u4)


class Discriminator(nn.Module):
    def __init__(self, in_channels=CHANNELS):
        super(Discriminator, self).__init__()

        def discriminator_block(in_filters, out_filters, normalization=True):
            """Returns downsampling layers of each discriminator block"""
            layers = [nn.Conv2d(in_filters, out_filters, 4, stride=2, padding=1)]
            if normalization:
                layers.append(nn.InstanceNorm2d(out_filters))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *discriminator_block(in_channels * 2, 64, normalization=False),
            *discriminator_block(64, 128),
            *discriminator_block(128, 256),
            *discriminator_block(256, 512),
            nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(512, 1, 4, padding=1, bias=False)
        )

    def forward(self, img_A, img_B):
        # Concatenate image and condition image by channels to produce input
        img_input = torch.cat((img_A, img_B), 1)
        return self.model(img_input)


def build_networks():
    """The networks in the order the spec declares them (default initialisation)."""
    return {"G": GeneratorUNet(), "D": Discriminator()}


criterion_GAN = torch.nn.MSELoss()
criterion_pixelwise = torch.nn.L1Loss()


def generator_loss(pred_fake, fake_B, real_B):
    valid = torch.ones_like(pred_fake)
    return criterion_GAN(pred_fake, valid) + LAMBDA_PIXEL * criterion_pixelwise(fake_B, real_B)


def discriminator_loss(pred_real, pred_fake):
    loss_real = criterion_GAN(pred_real, torch.ones_like(pred_real))
    loss_fake = criterion_GAN(pred_fake, torch.zeros_like(pred_fake))
    return 0.5 * (loss_real + loss_fake)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="fake", help="fake, or a source of pairs (edges:mnist5k, a .npz ...)")
    p.add_argument("--out", default="runs/reference_pix2pix")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    if args.data == "fake":
        train = fake_samples([SHAPE, SHAPE], 4 * args.batch_size, None, [RANGE, RANGE], seed=args.seed)
    else:
        train, _ = load_samples([args.data, None], ["a", "b"], [SHAPE, SHAPE], [RANGE, RANGE], seed=args.seed)
    edges, digits = train.tensors[0], train.tensors[1]

    nets = build_networks()
    generator, discriminator = nets["G"], nets["D"]
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    step = 0
    with open(out / "losses.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss_d", "loss_g", "l1"])
        for epoch in range(10**9):
            order = torch.randperm(len(edges), generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
            for start in range(0, len(edges) - args.batch_size + 1, args.batch_size):
                index = order[start:start + args.batch_size]
                real_A, real_B = edges[index], digits[index]
                # generator
                optimizer_G.zero_grad()
                fake_B = generator(real_A)
                loss_G = generator_loss(discriminator(fake_B, real_A), fake_B, real_B)
                loss_G.backward()
                optimizer_G.step()
                # discriminator
                optimizer_D.zero_grad()
                loss_D = discriminator_loss(discriminator(real_B, real_A), discriminator(fake_B.detach(), real_A))
                loss_D.backward()
                optimizer_D.step()
                step += 1
                log.writerow([step, loss_D.item(), loss_G.item(), criterion_pixelwise(fake_B, real_B).item()])
                if step >= args.steps:
                    break
            if step >= args.steps:
                break
    (out / "metrics.json").write_text(json.dumps({"steps": step}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
