"""Hand-written VAE, the reference for specs/vae.gen.

The model of pytorch/examples/vae/main.py (Kingma & Welling, "Auto-Encoding Variational Bayes",
2014): 784-400-20 with ReLU, a Bernoulli decoder with a sigmoid, the reparameterisation trick,
Adam lr 1e-3. One change of convention, the one gendsl uses: the loss is per sample, binary
cross-entropy summed over the 784 pixels plus the closed-form KL(q(z|x) || N(0, I)) summed over
the 20 latent units, both averaged over the batch (pytorch/examples sums over the batch).

As in every reference here, the data set is held in memory and shuffled with `torch.randperm`
under a generator seeded from (seed, epoch), the same batches as generated/vae/train.py.

    python bench/reference/vae.py --steps 200 --batch-size 128 --data mnist5k --out /tmp/ref_vae

Writes OUT/losses.csv (one row per step) and OUT/metrics.json (steps, seconds, steps_per_second).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gendsl.runtime.data import fake_data, load_data

SHAPE, RANGE = (1, 28, 28), (0.0, 1.0)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    """Reconstruction + KL divergence, summed over pixels and latent units, averaged over the batch."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum") / x.size(0)
    # see Appendix B from VAE paper: 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.size(0)
    return bce + kld, bce, kld


def build_networks():
    return {"vae": VAE()}


def batches(x, batch_size, seed, epoch):
    """Shuffled full batches of an in-memory tensor (the last partial batch is dropped)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for start in range(0, len(x) - batch_size + 1, batch_size):
        yield x[order[start:start + batch_size]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="mnist5k", help="mnist5k, fake, or anything gendsl's loader reads")
    p.add_argument("--n", type=int, default=None, help="training samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/reference_vae")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if args.data == "fake":
        train = fake_data(SHAPE, args.n or 4 * args.batch_size, None, RANGE, seed=args.seed)
    else:
        train, _ = load_data(args.data, SHAPE, RANGE, seed=args.seed, n=args.n)
    data = train.tensors[0]

    model = build_networks()["vae"].to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = open(out / "losses.csv", "w", newline="")
    log = csv.writer(log_file)
    log.writerow(["step", "loss", "bce", "kl"])

    model.train()
    step = 0
    started = time.perf_counter()
    for epoch in range(10**9):
        for x in batches(data, args.batch_size, args.seed, epoch):
            x = x.to(device)
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss, bce, kld = loss_function(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
            step += 1
            log.writerow([step, loss.item(), bce.item(), kld.item()])
            if not args.quiet and step % 50 == 0:
                print(f"step {step}: loss {loss.item():.4f}")
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
