import math

import pytest
import torch

from gendsl.runtime.data import TOY_SETS, load_data
from gendsl.runtime.metrics import accuracy_per_class, mode_metrics, roc_auc

RING8 = TOY_SETS["ring8"]
GRID25 = TOY_SETS["grid25"]


def test_samples_at_every_centre():
    centres, sd = RING8
    m = mode_metrics(torch.tensor(centres).repeat(10, 1), centres, sd)
    assert m["modes_captured"] == 8
    assert m["high_quality_pct"] == 100.0
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-9)


def test_collapse_to_one_centre():
    centres, sd = RING8
    m = mode_metrics(torch.tensor([centres[3]] * 100), centres, sd)
    assert m["modes_captured"] == 1
    assert m["high_quality_pct"] == 100.0
    assert m["reverse_kl"] == pytest.approx(math.log(8))


def test_far_away_points():
    centres, sd = RING8
    m = mode_metrics(torch.full((50, 2), 5.0), centres, sd)
    assert m == dict(modes_captured=0, high_quality_pct=0.0, reverse_kl=math.inf)


def test_three_standard_deviation_threshold():
    centres, sd = GRID25
    c = torch.tensor(centres[0])
    inside = c + torch.tensor([2.9 * sd, 0.0])
    outside = c + torch.tensor([0.0, -3.1 * sd])
    m = mode_metrics(torch.stack([inside, outside]), centres, sd)
    assert m["modes_captured"] == 1 and m["high_quality_pct"] == 50.0


def test_reverse_kl_of_two_modes_and_junk():
    centres, sd = GRID25
    pts = [centres[0]] * 30 + [centres[7]] * 30 + [(1.0, 1.0)] * 40  # junk between modes
    m = mode_metrics(torch.tensor(pts), centres, sd)
    assert m["modes_captured"] == 2
    assert m["high_quality_pct"] == pytest.approx(60.0)
    assert m["reverse_kl"] == pytest.approx(math.log(25 / 2))


def test_true_samples_score_as_expected():
    centres, sd = GRID25
    train, _ = load_data("grid25", (2,), None, n=20_000)
    m = mode_metrics(train.tensors[0], centres, sd)
    assert m["modes_captured"] == 25
    # P(|N(0, sd^2 I_2)| <= 3 sd) = 1 - exp(-9/2) = 98.89%
    assert m["high_quality_pct"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.5)
    assert m["reverse_kl"] < 0.01


def test_empty_samples():
    m = mode_metrics(torch.zeros(0, 2), *RING8)
    assert m["modes_captured"] == 0 and m["high_quality_pct"] == 0.0


def brute_force_auc(scores, labels):
    pos = [s for s, l in zip(scores, labels) if l]
    neg = [s for s, l in zip(scores, labels) if not l]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(20))
def test_roc_auc_matches_pairwise_count(seed):
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 80, (1,), generator=g))
    # few distinct values on even seeds, so ties are common
    scores = (torch.randint(0, 5, (n,), generator=g).float() if seed % 2 == 0
              else torch.randn(n, generator=g))
    labels = torch.randint(0, 2, (n,), generator=g)
    labels[0], labels[1] = 0, 1
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores.tolist(), labels.tolist()))


def test_roc_auc_edge_cases():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert roc_auc([0.5] * 6, [0, 1, 0, 1, 0, 1]) == 0.5
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1])


def test_accuracy_per_class():
    target = torch.tensor([0, 0, 1, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    acc = accuracy_per_class(pred, target, 4)
    assert acc[:3].tolist() == pytest.approx([0.5, 2 / 3, 1.0])
    assert math.isnan(acc[3])
    logits = torch.nn.functional.one_hot(pred, 4).float()
    assert torch.allclose(accuracy_per_class(logits, target, 4), acc, equal_nan=True)
