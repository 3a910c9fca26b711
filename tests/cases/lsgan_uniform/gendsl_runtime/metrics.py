"""Evaluation metrics for generated training scripts (torch only, no sklearn).

This file is copied next to each generated ``train.py``.
"""

import math

import torch

__all__ = ["mode_metrics", "roc_auc", "accuracy_per_class"]

# Probability floor for modes with no high-quality samples: 0 * log(0) is
# taken as 0 (the KL limit), and the floor keeps log() finite on the way.
KL_EPSILON = 1e-10


def mode_metrics(samples, centers, sd):
    """Mode coverage of 2-D samples, as in PacGAN / VEEGAN.

    A sample is *high quality* when it lies within 3 standard deviations of
    its nearest mode; a mode is *captured* when at least one high-quality
    sample is assigned to it. ``reverse_kl`` is KL(p || uniform), where p is
    the distribution of the high-quality samples over the modes (empty modes
    contribute 0, see KL_EPSILON). With no high-quality sample at all p is
    undefined and ``reverse_kl`` is ``inf``.

    Returns dict(modes_captured: int, high_quality_pct: float in [0, 100],
    reverse_kl: float).
    """
    samples = torch.as_tensor(samples).detach().to("cpu", torch.float64).reshape(-1, 2)
    centers = torch.as_tensor(centers, dtype=torch.float64).reshape(-1, 2)
    k = len(centers)
    if len(samples) == 0:
        return dict(modes_captured=0, high_quality_pct=0.0, reverse_kl=math.inf)

    dist, nearest = torch.cdist(samples, centers).min(dim=1)
    high_quality = dist <= 3 * sd
    counts = torch.bincount(nearest[high_quality], minlength=k).to(torch.float64)

    total = counts.sum()
    if total == 0:
        reverse_kl = math.inf
    else:
        p = counts / total
        reverse_kl = float((p * torch.log(p.clamp_min(KL_EPSILON) * k)).sum())
    return dict(
        modes_captured=int((counts > 0).sum()),
        high_quality_pct=100.0 * float(high_quality.double().mean()),
        reverse_kl=max(reverse_kl, 0.0),  # clip float round-off below zero
    )


def roc_auc(scores, labels):
    """Area under the ROC curve for binary labels (1 = positive); higher scores mean positive.

    Computed from the Mann-Whitney U statistic with tied scores given their
    average rank, so ties count one half. Returns nan when only one class
    is present.
    """
    scores = torch.as_tensor(scores).detach().to("cpu", torch.float64).reshape(-1)
    labels = torch.as_tensor(labels).detach().to("cpu").reshape(-1).bool()
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels")
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan

    # Average 1-based rank of each distinct score: a run of c equal scores
    # starting after `before` smaller ones has ranks before+1 .. before+c.
    values, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True,
                                           return_counts=True)
    before = torch.cumsum(counts, 0) - counts
    average_rank = before.to(torch.float64) + (counts.to(torch.float64) + 1) / 2
    ranks = average_rank[inverse]

    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def accuracy_per_class(pred, target, num_classes):
    """Accuracy for each class as a float tensor [num_classes]; nan for classes absent from target.

    ``pred`` is either class indices [N] or scores/logits [N, num_classes].
    """
    pred = torch.as_tensor(pred).detach().cpu()
    target = torch.as_tensor(target).detach().cpu().reshape(-1).long()
    if pred.dim() == 2:
        pred = pred.argmax(dim=1)
    pred = pred.reshape(-1).long()
    if len(pred) != len(target):
        raise ValueError(f"{len(pred)} predictions but {len(target)} targets")
    total = torch.bincount(target, minlength=num_classes)[:num_classes].double()
    correct = torch.bincount(target[pred == target], minlength=num_classes)[:num_classes].double()
    acc = correct / total
    return torch.where(total > 0, acc, torch.full_like(acc, math.nan)).float()
