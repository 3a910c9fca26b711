"""Baselines for paired data (pix2pix, the context encoder): the L1 distance between input and
target on the held-out pairs of a source, as train.py splits them (same seed, 10% held out), for

* identity: the input itself as the output (for a target smaller than the input, the input's
  centre crop of the target's size: for an inpainting block, the fill value);
* mean: the mean training target, the best constant image under L2 (a trivial baseline).

    python bench/paired_l1.py edges:mnist5k 1,32,32 1,32,32
    python bench/paired_l1.py random_block:mnist5k 1,32,32 1,16,16

The trained model's figure is `test_l1` in the run's metrics.json (the same held-out pairs).
"""

from __future__ import annotations

import argparse
import json

from gendsl.runtime.data import load_samples


def baselines(source: str, input_shape, target_shape, value_range=(-1.0, 1.0), seed: int = 0) -> dict:
    train, test = load_samples([source, None], ["input", "target"], [input_shape, target_shape],
                               [value_range, value_range], seed=seed)
    x, target = test.tensors[0], test.tensors[1]
    h, w = target.shape[-2:]
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    identity = x[..., top:top + h, left:left + w]
    mean = train.tensors[1].mean(0, keepdim=True)
    return {"source": source, "test_pairs": len(target),
            "identity_l1": (identity - target).abs().mean().item(),
            "mean_l1": (mean - target).abs().mean().item()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("input_shape", type=lambda s: tuple(int(v) for v in s.split(",")))
    p.add_argument("target_shape", type=lambda s: tuple(int(v) for v in s.split(",")))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(json.dumps(baselines(args.source, args.input_shape, args.target_shape, seed=args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
