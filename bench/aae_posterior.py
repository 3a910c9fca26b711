"""How close an adversarial autoencoder's aggregated posterior is to its prior, and how well it
reconstructs: the measurement behind docs/training.md's AAE result.

    python -m bench.aae_posterior OUT [OUT ...] [--spec-folder generated/aae]

For the model before training (built under the run's seed, as train.py builds it) and for each
run's checkpoints/last.pt, on the held-out digits of `mnist5k` (load_data's test split under the
same seed): the codes `encode(x)` (the posterior means, as the spec's `encode`) and their
statistics against N(0, I): the largest |mean| over units, the mean of the variances, the
Frobenius norm of covariance - I divided by sqrt(d) (0 for the prior), the squared MMD with a
Gaussian kernel (bandwidth 1 per unit, i.e. exp(-|a-b|^2 / (2d))) against as many prior draws, and
the same MMD between two sets of prior draws (what a perfect match scores); then the reconstruction
errors (mean absolute and squared, per value in [-1, 1]) of `decode(encode(x))`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch

from gendsl.runtime.data import load_data

ROOT = Path(__file__).resolve().parents[1]


def _model_class(folder: Path):
    spec = importlib.util.spec_from_file_location("aae_posterior_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    train = (folder / "train.py").read_text(encoding="utf-8")
    name = train.split("from model import ", 1)[1].split()[0]
    return getattr(module, name)


def mmd2(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased squared MMD with the kernel exp(-|u - v|^2 / (2 d))."""
    d = a.size(1)

    def k(u, v):
        return torch.exp(-torch.cdist(u, v).pow(2) / (2 * d))
    n, m = a.size(0), b.size(0)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - kaa.diag().sum()) / (n * (n - 1)) + (kbb.sum() - kbb.diag().sum()) / (m * (m - 1))
                 - 2 * kab.mean())


@torch.no_grad()
def measure(model, x: torch.Tensor, seed: int) -> dict:
    model.eval()
    codes = model.encode(x)
    d = codes.size(1)
    g = torch.Generator().manual_seed(seed + 1)
    prior, prior2 = torch.randn(len(codes), d, generator=g), torch.randn(len(codes), d, generator=g)
    centred = codes - codes.mean(0)
    cov = centred.T @ centred / (len(codes) - 1)
    x_hat = model.decode(codes)
    return {"max_abs_mean": round(float(codes.mean(0).abs().max()), 3),
            "mean_variance": round(float(cov.diag().mean()), 3),
            "cov_minus_I": round(float((cov - torch.eye(d)).norm() / d ** 0.5), 3),
            "mmd2": round(mmd2(codes, prior), 4), "mmd2_prior_vs_prior": round(mmd2(prior2, prior), 4),
            "l1": round(float((x_hat - x).abs().mean()), 4), "mse": round(float((x_hat - x).pow(2).mean()), 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--spec-folder", type=Path, default=ROOT / "generated" / "aae")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cls = _model_class(args.spec_folder)
    _, test = load_data("mnist5k", (1, 28, 28), (-1.0, 1.0), seed=args.seed)
    x = test.tensors[0]
    torch.manual_seed(args.seed)
    rows = {"start (untrained)": measure(cls(), x, args.seed)}
    for run in args.runs:
        model = cls()
        state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        rows[f"{run} (step {state['step']})"] = measure(model, x, args.seed)
    json.dump({"test_digits": len(x), "rows": rows}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
