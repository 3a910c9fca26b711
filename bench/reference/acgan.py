"""Hand-written ACGAN, the reference for specs/acgan.gen.

Written from eriklindernoren/PyTorch-GAN, implementations/acgan/acgan.py (Odena et al.,
"Conditional Image Synthesis with Auxiliary Classifier GANs", ICML 2017), with its defaults:
32x32 grey images, latent_dim 100, n_classes 10, batch 64, Adam lr 2e-4 with betas (0.5, 0.999).
The generator multiplies a label embedding with the noise (`torch.mul(self.label_emb(labels),
noise)`), maps it to 128 x 8 x 8 and upsamples twice; `nn.BatchNorm2d(c, 0.8)` is eps 0.8. The
discriminator has four conv blocks (conv 3x3 stride 2, LeakyReLU(0.2), Dropout2d(0.25), then
BatchNorm2d(c, 0.8) in the middle two) and two heads: a sigmoid score (`adv_layer`) and a softmax
over the classes (`aux_layer`). Losses: BCELoss on the score, CrossEntropyLoss on the softmax (as
acgan.py does: the softmax is taken as logits), g_loss = (adv + aux) / 2 on generated images with
labels drawn uniformly, d_loss = ((adv_real + aux_real) / 2 + (adv_fake + aux_fake) / 2) / 2.

Departures from that code: `nn.Softmax()` without a dimension is `nn.Softmax(dim=1)` (what torch
picks for a 2-D input, without the warning); the data are held in memory and shuffled with
`torch.randperm` under a generator seeded from (seed, epoch) instead of a DataLoader, and MNIST
is the offline mnist5k digits resized to 32x32 (`--data mnist5k`) or random images (`--data
fake`). The loop is acgan.py's: the generator step first, then the discriminator step on the same
generated batch, detached.

    python bench/reference/acgan.py --steps 4 --batch-size 8 --data fake --out /tmp/ref_acgan

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

LATENT_DIM = 100
N_CLASSES = 10
IMG_SIZE = 32
CHANNELS = 1
SHAPE, RANGE = (CHANNELS, IMG_SIZE, IMG_SIZE), (-1.0, 1.0)


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(N_CLASSES, LATENT_DIM)
        self.init_size = IMG_SIZE // 4  # initial size before upsampling
        self.l1 = nn.Sequential(nn.Linear(LATENT_DIM, 128 * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, CHANNELS, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, noise, labels):
        gen_input = torch.mul(self.label_emb(labels), noise)
        out = self.l1(gen_input)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()

        def discriminator_block(in_filters, out_filters, bn):
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
                     nn.Dropout2d(0.25)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        layers = []
        in_filters = CHANNELS
        for out_filters, bn in [(16, False), (32, True), (64, True), (128, False)]:
            layers.extend(discriminator_block(in_filters, out_filters, bn))
            in_filters = out_filters
        self.conv_blocks = nn.Sequential(*layers)
        ds_size = IMG_SIZE // 2 ** 4  # height and width of the downsampled image
        self.adv_layer = nn.Sequential(nn.Linear(out_filters * ds_size ** 2, 1), nn.Sigmoid())
        self.aux_layer = nn.Sequential(nn.Linear(out_filters * ds_size ** 2, N_CLASSES), nn.Softmax(dim=1))

    def forward(self, img):
        out = self.conv_blocks(img)
        out = out.view(out.shape[0], -1)
        validity = self.adv_layer(out)
        label = self.aux_layer(out)
        return validity, label


adversarial_loss = nn.BCELoss()
auxiliary_loss = nn.CrossEntropyLoss()


def build_networks(init: bool = True):
    """The networks in the order the spec declares them, initialised as acgan.py does."""
    generator, discriminator = Generator(), Discriminator()
    if init:
        generator.apply(weights_init_normal)
        discriminator.apply(weights_init_normal)
    return {"G": generator, "D": discriminator}


def generator_loss(validity, pred_label, gen_labels):
    valid = torch.ones_like(validity)
    return 0.5 * (adversarial_loss(validity, valid) + auxiliary_loss(pred_label, gen_labels))


def discriminator_loss(real_pred, real_aux, labels, fake_pred, fake_aux, gen_labels):
    d_real_loss = (adversarial_loss(real_pred, torch.ones_like(real_pred)) + auxiliary_loss(real_aux, labels)) / 2
    d_fake_loss = (adversarial_loss(fake_pred, torch.zeros_like(fake_pred))
                   + auxiliary_loss(fake_aux, gen_labels)) / 2
    return (d_real_loss + d_fake_loss) / 2


def batches(x, y, batch_size, seed, epoch):
    """Shuffled full batches of in-memory tensors (the last partial batch is dropped)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="fake")
    p.add_argument("--n", type=int, default=None, help="training samples (fake data: default 4 batches)")
    p.add_argument("--out", default="runs/reference_acgan")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    if args.data == "fake":
        train = fake_data(SHAPE, args.n or 4 * args.batch_size, N_CLASSES, RANGE, seed=args.seed)
    else:
        train, _ = load_data(args.data, SHAPE, RANGE, seed=args.seed, n=args.n)
    data, targets = train.tensors[0], train.tensors[1]

    nets = build_networks()
    generator, discriminator = nets["G"], nets["D"]
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "losses.csv", "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "loss_d", "d_accuracy", "loss_g"])
        step = 0
        started = time.perf_counter()
        for epoch in range(10**9):
            for real_imgs, labels in batches(data, targets, args.batch_size, args.seed, epoch):
                batch_size = real_imgs.shape[0]
                # generator: noise and labels sampled as its input
                optimizer_G.zero_grad()
                z = torch.randn(batch_size, LATENT_DIM)
                gen_labels = torch.randint(0, N_CLASSES, (batch_size,))
                gen_imgs = generator(z, gen_labels)
                validity, pred_label = discriminator(gen_imgs)
                g_loss = generator_loss(validity, pred_label, gen_labels)
                g_loss.backward()
                optimizer_G.step()
                # discriminator
                optimizer_D.zero_grad()
                real_pred, real_aux = discriminator(real_imgs)
                fake_pred, fake_aux = discriminator(gen_imgs.detach())
                d_loss = discriminator_loss(real_pred, real_aux, labels, fake_pred, fake_aux, gen_labels)
                pred = torch.cat([real_aux, fake_aux]).argmax(1)
                d_acc = (pred == torch.cat([labels, gen_labels])).float().mean().item()
                d_loss.backward()
                optimizer_D.step()
                step += 1
                log.writerow([step, d_loss.item(), d_acc, g_loss.item()])
                if step >= args.steps:
                    break
            if step >= args.steps:
                break
        seconds = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps({"steps": step, "seconds": round(seconds, 3)}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
