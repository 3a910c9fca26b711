"""What a trained autoencoder is good for: five applications of its `encode` and `decode`.

A generated apps.py hands its train.py's `Recipe` to `main`:

    python apps.py classify-per-class --epochs 3  # one model per class; best reconstruction wins
    python apps.py latent-classify --checkpoint runs/NAME/checkpoints/last.pt
    python apps.py anomaly --holdout 7  # train without class 7, then score it as the anomaly
    python apps.py interpolate --checkpoint runs/NAME/checkpoints/last.pt
    python apps.py pca --checkpoint runs/NAME/checkpoints/last.pt

A command given no --checkpoint first trains the model with the training loop into OUT, passing
the training options on. Each command writes its figures to OUT/<command>.json.
"""

import argparse
import csv
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from . import loop
from .data import DataError, load_data
from .metrics import accuracy_per_class, roc_auc
from .outputs import atomic_write_json, save_image_grid


@torch.no_grad()
def encode_all(model, inputs: torch.Tensor, device: torch.device,
               batch_size: int = 500) -> torch.Tensor:
    """Flattened codes of every input: (N, code size), on the CPU."""
    return torch.cat([model.encode(batch.to(device)).flatten(1).cpu()
                      for batch in inputs.split(batch_size)])


@torch.no_grad()
def reconstruction_errors(model, inputs: torch.Tensor, device: torch.device,
                          batch_size: int = 500) -> torch.Tensor:
    """Mean squared error between each input and its reconstruction: (N,)."""
    errors = []
    for batch in inputs.split(batch_size):
        batch = batch.to(device)
        errors.append((model.decode(model.encode(batch)) - batch).pow(2).flatten(1).mean(1).cpu())
    return torch.cat(errors)


def load_splits(recipe: loop.Recipe, args: argparse.Namespace):
    """((train_x, train_y), (test_x, test_y)) of --data, split as train.py splits it.

    The training set is the one train.py trains on (--n samples); the test set is the
    whole held-out split, or its first --n-test samples.
    """
    try:
        train_set, _ = load_data(args.data, recipe.data_shape, recipe.data_range, root=args.root,
                                 seed=args.seed, n=args.n)
        _, test_set = load_data(args.data, recipe.data_shape, recipe.data_range, root=args.root,
                                seed=args.seed)
    except DataError as exc:
        raise SystemExit(f"error: {exc}")
    test_x, test_y = test_set.tensors
    if args.n_test is not None:
        test_x, test_y = test_x[:args.n_test], test_y[:args.n_test]
    return train_set.tensors, (test_x, test_y)


def train_model(recipe: loop.Recipe, args: argparse.Namespace, out: Path,
                classes: list[int] | None = None) -> Path:
    """Train the model with train.py into `out`, on `classes` only if given; returns its
    checkpoint."""
    argv = ["--data", args.data, "--out", str(out), "--seed", str(args.seed), "--device",
            args.device,
            "--root", args.root]
    for flag, value in (("--epochs", args.epochs), ("--steps", args.steps),
                        ("--batch-size", args.batch_size),
                        ("--lr", args.lr), ("--n", args.n)):
        if value is not None:
            argv += [flag, str(value)]
    if classes is not None:
        argv += ["--classes", ",".join(map(str, classes))]
    if args.quiet:
        argv.append("--quiet")
    if loop.main(recipe, argv) != 0:
        raise SystemExit(f"error: training into {out} failed")
    return out / "checkpoints" / "last.pt"


def trained_model(recipe: loop.Recipe, args: argparse.Namespace, device: torch.device,
                  classes: list[int] | None = None):
    """The model of --checkpoint, or of a model trained now into --out, in eval mode."""
    checkpoint = args.checkpoint or train_model(recipe, args, Path(args.out), classes)
    return loop.load_model(recipe, checkpoint, device)


def figure(value: float) -> float | None:
    """A float for the JSON report: 6 significant digits, None for nan."""
    return None if math.isnan(value) else float(f"{value:.6g}")


def per_class(pred: torch.Tensor, target: torch.Tensor,
              classes: list[int]) -> dict[str, float | None]:
    """Accuracy on the test inputs of each class."""
    acc = accuracy_per_class(pred, target, max(classes) + 1)
    return {str(k): figure(acc[k].item()) for k in classes}


# ---- classification by one model per class -----------------------------------------------

def classify_per_class(recipe: loop.Recipe, args: argparse.Namespace,
                       device: torch.device) -> dict:
    """Train one model per class; classify each test input by the model that reconstructs it
    best."""
    (_, train_y), (test_x, test_y) = load_splits(recipe, args)
    if args.classes:
        classes = args.classes
    else:
        classes = sorted(set(train_y.tolist()))
    keep = torch.isin(test_y, torch.tensor(classes))
    test_x, test_y = test_x[keep], test_y[keep]

    errors = []  # one (N,) column per class
    for k in classes:
        model = loop.load_model(recipe,
                                train_model(recipe, args, Path(args.out) / f"class_{k}",
                                            [k]), device)
        errors.append(reconstruction_errors(model, test_x, device))
    errors = torch.stack(errors, 1)  # (N, C)
    pred = torch.tensor(classes)[errors.argmin(1)]

    index = {k: i for i, k in enumerate(classes)}
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.int64)  # rows: true class
    for t, p in zip(test_y.tolist(), pred.tolist()):
        confusion[index[t], index[p]] += 1
    return {"classes": classes, "test_samples": len(test_y),
            "accuracy": figure((pred == test_y).float().mean().item()),
            "accuracy_per_class": per_class(pred, test_y, classes),
            "confusion": confusion.tolist()}


# ---- classification on the codes -------------------------------------------------------------

def fit_softmax(features: torch.Tensor, labels: torch.Tensor, num_classes: int, l2: float = 1e-3):
    """Multinomial logistic regression on standardised features, fitted with L-BFGS on the whole
    set.

    Returns a function from features (M, D) to predicted classes (M,).
    """
    mean, std = features.mean(0), features.std(0)
    # constant features stay constant (zero)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    inputs = (features - mean) / std
    linear = torch.nn.Linear(inputs.size(1), num_classes)
    torch.nn.init.zeros_(linear.weight)  # the problem is convex: start at zero, deterministically
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(inputs), labels) + l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda f: linear((f - mean) / std).argmax(1).detach()


def nearest_centroid(features: torch.Tensor, labels: torch.Tensor):
    """The classifier that picks the class whose mean training feature vector is closest."""
    classes = torch.unique(labels)
    centroids = torch.stack([features[labels == k].mean(0) for k in classes])  # (C, D)
    return lambda f: classes[torch.cdist(f, centroids).argmin(1)]


def latent_classify(recipe: loop.Recipe, args: argparse.Namespace, device: torch.device) -> dict:
    """Classify the codes of test inputs with classifiers fitted on the codes of the training
    set."""
    model = trained_model(recipe, args, device)
    (train_x, train_y), (test_x, test_y) = load_splits(recipe, args)
    train_codes, test_codes = encode_all(model, train_x, device), encode_all(model, test_x, device)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    classes = sorted(set(test_y.tolist()))

    softmax = fit_softmax(train_codes, train_y, num_classes)(test_codes)
    centroid = nearest_centroid(train_codes, train_y)(test_codes)
    # the baseline
    pixels = fit_softmax(train_x.flatten(1), train_y, num_classes)(test_x.flatten(1))

    def accuracy(pred):
        return figure((pred == test_y).float().mean().item())
    return {"code_size": model.code_size, "train_samples": len(train_y),
            "test_samples": len(test_y),
            "softmax_accuracy": accuracy(softmax),
            "softmax_accuracy_per_class": per_class(softmax, test_y, classes),
            "nearest_centroid_accuracy": accuracy(centroid),
            "pixels_softmax_accuracy": accuracy(pixels)}


# ---- anomaly scores --------------------------------------------------------------------------

def anomaly(recipe: loop.Recipe, args: argparse.Namespace, device: torch.device) -> dict:
    """Score test inputs by reconstruction error, the --holdout class (left out of training) as
    the anomaly."""
    (_, train_y), (test_x, test_y) = load_splits(recipe, args)
    classes = sorted(set(train_y.tolist()) | set(test_y.tolist()))
    if args.holdout not in classes:
        raise SystemExit(f"error: --holdout {args.holdout} is not a class of {args.data} "
                         f"(classes {classes})")
    normal = [k for k in classes if k != args.holdout]
    model = trained_model(recipe, args, device, classes=normal)

    scores = reconstruction_errors(model, test_x, device)  # (N,) higher = more anomalous
    is_anomaly = test_y == args.holdout
    with open(Path(args.out) / "anomaly_scores.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "anomaly", "score"])
        for i, (label, flag,
                score) in enumerate(zip(test_y.tolist(), is_anomaly.tolist(), scores.tolist())):
            writer.writerow([i, label, int(flag), f"{score:.9g}"])
    return {"holdout": args.holdout, "trained_on": normal, "test_samples": len(test_y),
            "anomalies": int(is_anomaly.sum()),
            "roc_auc": figure(roc_auc(scores, is_anomaly)),
            "mean_score_normal": figure(scores[~is_anomaly].mean().item()),
            "mean_score_anomaly": figure(scores[is_anomaly].mean().item()),
            "mean_score_per_class": {str(k): figure(scores[test_y == k].mean().item())
                                     for k in classes}}


# ---- latent interpolation --------------------------------------------------------------------

def pick_pairs(labels: torch.Tensor, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` random pairs of test inputs, of different classes where there are two classes."""
    gen = torch.Generator().manual_seed(seed)
    pairs = []
    while len(pairs) < count:
        a, b = torch.randint(len(labels), (2,), generator=gen).tolist()
        if a != b and (labels[a] != labels[b] or len(torch.unique(labels)) == 1):
            pairs.append((a, b))
    return pairs


def interpolate(recipe: loop.Recipe, args: argparse.Namespace, device: torch.device) -> dict:
    """Decode evenly spaced points on the straight line between the codes of two inputs."""
    model = trained_model(recipe, args, device)
    _, (test_x, test_y) = load_splits(recipe, args)
    pairs = [tuple(args.between)] if args.between else pick_pairs(test_y, args.pairs, args.seed)
    t = torch.linspace(0, 1, args.points, device=device)

    rows, report = [], []
    for a, b in pairs:
        with torch.no_grad():
            ends = model.encode(test_x[[a, b]].to(device))  # (2, *code)
            weight = t.view(-1, *[1] * (ends.dim() - 1))  # (K, 1, ...) for broadcasting
            # (K, *DATA_SHAPE)
            frames = model.decode((1 - weight) * ends[0] + weight * ends[1]).cpu()
        rows.append(torch.cat([test_x[[a]], frames, test_x[[b]]]))  # the inputs at both ends
        steps = (frames[1:] - frames[:-1]).pow(2).flatten(1).mean(1)
        report.append({"a": a, "b": b, "label_a": int(test_y[a]), "label_b": int(test_y[b]),
                       "max_step_mse": figure(steps.max().item()) if len(steps) else None})
    png = Path(args.out) / "interpolation.png"
    shape = recipe.data_shape
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    if len(shape) == 3:
        save_image_grid(torch.cat(rows), png, value_range=recipe.data_range, nrow=args.points + 2)
    elif side > 1 and side * side == shape[0]:
        images = torch.cat(rows).view(-1, 1, side, side)  # vectors shown as square images
        save_image_grid(images, png, value_range=recipe.data_range, nrow=args.points + 2)
    else:
        png = None  # the inputs are not pictures
        # (P, K + 2, *DATA_SHAPE)
        torch.save(torch.stack(rows), Path(args.out) / "interpolation.pt")
    return {"points": args.points, "pairs": report, "png": str(png) if png else None}


# ---- dimensionality reduction against PCA -------------------------------------------------

def pca_fit(inputs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (D,) and the top-k principal directions (k, D) of inputs (N, D), by SVD."""
    data = inputs.double()
    mean = data.mean(0)
    # rows of vh: directions, by variance
    _, _, vh = torch.linalg.svd(data - mean, full_matrices=False)
    return mean, vh[:k]


def pca_mse(inputs: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> float:
    """Mean squared error of projecting inputs (N, D) on the components and back."""
    centred = inputs.double() - mean
    rebuilt = centred @ components.T @ components  # (N, D)
    return (rebuilt - centred).pow(2).mean().item()


def pca(recipe: loop.Recipe, args: argparse.Namespace, device: torch.device) -> dict:
    """Test reconstruction error of the model against PCA with as many components as the code
    has values."""
    model = trained_model(recipe, args, device)
    (train_x, _), (test_x, _) = load_splits(recipe, args)
    sizes = sorted({model.code_size, *(args.sizes or ())})
    train_flat, test_flat = train_x.flatten(1), test_x.flatten(1)
    mean, components = pca_fit(train_flat, max(sizes))
    test_mse = {k: pca_mse(test_flat, mean, components[:k]) for k in sizes}
    train_mse = {k: pca_mse(train_flat, mean, components[:k]) for k in sizes}
    ae_mse = reconstruction_errors(model, test_x, device).mean().item()
    return {"code_size": model.code_size, "train_samples": len(train_x),
            "test_samples": len(test_x),
            "autoencoder_test_mse": figure(ae_mse),
            "pca_test_mse": figure(test_mse[model.code_size]),
            "pca_components": min(model.code_size, len(components)),
            "pca_test_mse_by_size": {str(k): figure(v) for k, v in test_mse.items()},
            "pca_train_mse_by_size": {str(k): figure(v) for k, v in train_mse.items()}}


COMMANDS = {"classify-per-class": classify_per_class, "latent-classify": latent_classify,
            "anomaly": anomaly,
            "interpolate": interpolate, "pca": pca}


def parse_args(recipe: loop.Recipe, argv=None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default=recipe.default_data,
                        help="a data set name, an image folder, or a .npz/.pt file")
    common.add_argument("--n", type=loop.at_least(1), default=None,
                        help="training samples (per class in classify-per-class)")
    common.add_argument("--n-test", type=loop.at_least(1), default=None,
                        help="use only the first N test samples")
    common.add_argument("--root", default="data", help="where downloadable data sets are stored")
    common.add_argument("--seed", type=loop.at_least(0), default=recipe.seed)
    common.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    common.add_argument("--out", default=None,
                        help=f"output folder (default runs/{recipe.name}-COMMAND)")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    training = common.add_argument_group("training, passed on to train.py")
    training.add_argument("--epochs", type=loop.at_least(1), default=None)
    training.add_argument("--steps", type=loop.at_least(1), default=None)
    training.add_argument("--batch-size", type=loop.at_least(1), default=None)
    training.add_argument("--lr", type=loop.learning_rate, default=None)

    p = argparse.ArgumentParser(
        description=loop.argparse_text(
            f"Applications of {recipe.name} (generated by gendsl from {recipe.spec})."))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    c = sub.add_parser("classify-per-class", parents=[common],
                       help="one model per class, classify by reconstruction")
    c.add_argument("--classes", type=loop.class_list, default=None,
                   help="only these classes, e.g. 0,1,2 (default: all)")
    c = sub.add_parser("latent-classify", parents=[common],
                       help="linear softmax and nearest centroid on the codes")
    c.add_argument("--checkpoint", default=None,
                   help="a train.py checkpoint (default: train one now)")
    c = sub.add_parser("anomaly", parents=[common],
                       help="reconstruction error as an anomaly score, ROC-AUC")
    c.add_argument("--holdout", type=loop.at_least(0), required=True,
                   help="the class left out of training: the anomaly")
    c.add_argument("--checkpoint", default=None,
                   help="a checkpoint trained without the holdout class")
    c = sub.add_parser("interpolate", parents=[common],
                       help="decode a straight line between two codes")
    c.add_argument("--checkpoint", default=None,
                   help="a train.py checkpoint (default: train one now)")
    c.add_argument("--points", type=loop.at_least(2), default=10,
                   help="decoded points per line, ends included")
    c.add_argument("--pairs", type=loop.at_least(1), default=4, help="random pairs of test inputs")
    c.add_argument("--between", type=loop.at_least(0), nargs=2, default=None, metavar=("A", "B"),
                   help="these two test inputs")
    c = sub.add_parser("pca", parents=[common],
                       help="test reconstruction error against PCA of the same size")
    c.add_argument("--checkpoint", default=None,
                   help="a train.py checkpoint (default: train one now)")
    c.add_argument("--sizes", type=loop.count_list, default=None,
                   help="also PCA with these numbers of components, e.g. 2,8,32")
    args = p.parse_args(argv)
    if not loop.device_available(args.device):
        p.error(f"argument --device: {args.device} is not available in this torch build "
                f"(torch {torch.__version__}); use --device cpu or auto")
    args.out = args.out or f"runs/{recipe.name}-{args.command}"
    return args


def main(recipe: loop.Recipe, argv=None) -> int:
    args = parse_args(recipe, argv)
    torch.manual_seed(args.seed)
    device = loop.pick_device(args.device)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    figures = COMMANDS[args.command](recipe, args, device)
    atomic_write_json(figures, Path(args.out) / f"{args.command}.json")
    print(" ".join(f"{k}={v}" for k, v in figures.items() if isinstance(v, (int, float))))
    return 0
