"""The training loop that every generated train.py hands its maths to.

A train.py defines what its spec says (the model, the loss terms, the GAN objective,
the optimizers and schedules, `train_step` and `validate`) and passes them to `main`
in a `Recipe`. Everything else lives here once: options, data, the loop, checkpoints
and resume, SIGINT/SIGTERM, losses.csv, evaluation, sample grids and metrics.json. Under
torchrun, the hooks of distributed.py (`procs`) spread each step over the processes.
"""

import argparse
import contextlib
import errno
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import distributed, image_metrics
from .data import (DataError, Redrawn, fake_data, fake_samples, load_data, load_samples,
                   pretrained_features, take, toy_modes)
from .digit_quality import ClassifierSettings, Stopped, digit_quality
from .metrics import accuracy_per_class, mode_metrics
from .outputs import (CsvLog, atomic_save, atomic_write_json, plot_losses, save_image_grid,
                      save_latent_scatter, save_scatter_2d)
from .report import write_report

# sums of terms: a bad value is reported by the term that caused it
TOTALS = ("loss", "loss_d", "loss_g")
# the digit-quality figures that validation rows of losses.csv carry (image models that generate)
QUALITY_COLUMNS = ("recognisable_pct", "classes_covered", "class_kl", "classifier_fd",
                   "class_accuracy_pct")
# the classifier's settings (None: digit_quality's defaults); tests make it tiny
QUALITY_CLASSIFIER: ClassifierSettings | None = None
# samples collapsed: the mean pairwise distance of the fixed batch under this share of the data's
DIVERSITY_FRACTION = 0.2
# --amp fp16 scales losses against underflow; otherwise this scaler passes everything through
# unchanged
NO_SCALING = torch.amp.GradScaler("cpu", enabled=False)


@dataclass(frozen=True)
class Recipe:
    """What a generated train.py hands to the loop."""

    name: str  # the model's name: runs/<name> is the default output folder
    spec: str  # the spec's path, for --help
    sha256: str  # the spec's hash: a checkpoint of another spec is refused on --resume
    model: Callable  # () -> nn.Module: the model, with forward() returning the values it names
    optimizers: Callable  # (model, lr, fused) -> {name: optimizer}
    # (model, optimizers, x, labels, step, weights, scaler) -> {column: float}
    train_step: Callable
    validate: Callable  # (model, x, labels, weights) -> {column: float}, on one held-out batch
    columns: tuple  # losses.csv's measured columns
    data_shape: tuple
    data_range: tuple | None
    num_classes: int | None
    default_data: str
    epochs: int
    batch_size: int
    seed: int
    checkpoint_every: int = 500
    sample_every: int = 1  # epochs between sample grids (the last epoch always has one)
    # (optimizers, total_steps) -> [scheduler], stepped every iteration
    schedulers: Callable | None = None
    loss_weights: Callable | None = None  # (step, steps_per_epoch) -> {schedule: weight}
    validate_with_grad: bool = False  # validate differentiates (a contractive penalty by autograd)
    # model.prior(n) and model.generate(*latents[, labels]) make new samples
    generative: bool = False
    # the classes of the labels generate takes when they are a sampled latent (`label[N] ~
    # categorical()`) rather than the data's (None: num_classes)
    sample_classes: int | None = None
    # the discriminator has won when its loss stays under this for an epoch (None: no floor)
    dominated_below: float | None = None
    reconstruction: str | None = None  # the forward value that reconstructs the data
    codes: str | None = None  # a 2-D code of the data, drawn coloured by class
    classifier: str | None = None  # the forward value of class logits
    # (name, torchvision architecture, layers) of each frozen pretrained feature network that a
    # `perceptual` term calls as model.<name>; attached by the loop, so model.py imports only torch
    pretrained: tuple = ()
    # a sample of several data tensors (paired images, an image and its mask): (name, shape,
    # range, source) of each, in the order forward() takes them; () for one tensor (data_shape)
    inputs: tuple = ()
    label: str | None = None  # the label declaration's name (the label array of a .npz file)


def at_least(low: int):
    """An argparse type: an integer >= low (a usage error, exit status 2, otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def learning_rate(text: str) -> float:
    """An argparse type: a finite float >= 0 (0 is honoured, not replaced by the spec's rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def class_list(text: str) -> list:
    """An argparse type: comma-separated class labels, e.g. `7` or `0,1`."""
    try:
        classes = [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected class labels separated by commas (e.g. 7 or 0,1), got {text!r}") from None
    if min(classes) < 0:
        raise argparse.ArgumentTypeError(f"class labels are >= 0, got {text!r}")
    return classes


def count_list(text: str) -> list:
    """An argparse type: comma-separated whole numbers >= 1, e.g. `2,8,32`."""
    try:
        counts = [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas (e.g. 2,8,32), got {text!r}") from None
    if min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return counts


def argparse_text(text: str) -> str:
    """`text` for an argparse description, which argparse %-formats when it holds `%(prog)`:
    then every `%` is doubled, so that what --help shows is exactly the text (a spec path may
    hold both)."""
    return text.replace("%", "%%") if "%(prog)" in text else text


def device_available(name: str) -> bool:
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return True


def parse_args(recipe: Recipe, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=argparse_text(
            f"Train {recipe.name} (generated by gendsl from {recipe.spec})."),
        epilog="`train.py export --help`: the trained model as ONNX and torch.export files.")
    p.add_argument("--epochs", type=at_least(1), default=recipe.epochs)
    p.add_argument("--steps", type=at_least(1), default=None,
                   help="stop after this many training iterations")
    p.add_argument("--batch-size", type=at_least(1), default=recipe.batch_size,
                   help="samples per step, over all processes: under torchrun each of N "
                   "processes takes batch-size/N")
    p.add_argument("--lr", type=learning_rate, default=None,
                   help="override the learning rate of every optimizer")
    p.add_argument("--seed", type=at_least(0), default=recipe.seed)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--data", default=recipe.default_data,
                   help="a data set name, an image folder, or a .npz/.pt file")
    p.add_argument("--classes", type=class_list, default=None,
                   help="keep only these classes, e.g. 7 or 0,1")
    p.add_argument("--n", type=at_least(1), default=None,
                   help="use only this many training samples")
    p.add_argument("--root", default="data", help="where downloadable data sets are stored")
    if recipe.pretrained:
        p.add_argument("--feature-weights", default="imagenet",
                       help="weights of the perceptual loss's torchvision network: imagenet "
                       "(downloaded once into torch's hub cache), none (random), or a .pth file")
    p.add_argument("--out", default=f"runs/{recipe.name}")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--checkpoint-every", type=at_least(1), default=recipe.checkpoint_every,
                   help="iterations between checkpoints")
    p.add_argument("--sample-every", type=at_least(1), default=recipe.sample_every,
                   help="epochs between sample grids in OUT/samples/ (the last epoch has one)")
    p.add_argument("--dry-run", action="store_true",
                   help="a few steps on fake data, writing only what is asked")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true",
                   help="no matplotlib figures (losses.png, scatter plots); image grids are still "
                   "written")
    p.add_argument("--no-report", action="store_true",
                   help="do not write OUT/report.html (one page: graph, losses, samples, metrics)")
    p.add_argument("--report-graph", default=None, metavar="SVG",
                   help="the model's graph shown in OUT/report.html (`gendsl run` passes it)")
    p.add_argument("--detect-anomaly", action="store_true",
                   help="torch.autograd anomaly detection (slow)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--channels-last", action="store_true",
                   help="channels-last memory format for images")
    p.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"],
                   help="mixed precision: bfloat16 autocast, or float16 with loss scaling")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="let cuDNN pick the fastest kernels (GPU)")
    p.add_argument("--fused", action="store_true", help="fused optimizer kernels where available")
    p.add_argument("--pin-memory", action="store_true",
                   help="keep the data set in pinned memory (GPU)")
    if recipe.generative and len(recipe.data_shape) == 3:
        p.add_argument("--quality-every", type=at_least(0), default=10, metavar="N",
                       help="score samples with the data set's digit classifier every N epochs "
                       "and at the end (0: only at the end)")
        p.add_argument("--quality-samples", type=at_least(1), default=2000, metavar="N",
                       help="how many samples the digit-quality figures score")
        p.add_argument("--no-quality", action="store_true",
                       help="no digit-quality figures (and no classifier to train)")
        image_metrics.add_arguments(p)
    args = p.parse_args(argv)
    if not device_available(args.device):
        p.error(f"argument --device: {args.device} is not available in this torch build "
                f"(torch {torch.__version__}); use --device cpu or auto")
    return args


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def batches(dataset, batch_size: int, seed: int, epoch: int, drop_last: bool):
    """Shuffled mini-batches of an in-memory data set, (x, y) or (x_1, ..., x_k, y); the order
    depends only on (seed, epoch), and so do the samples of a data set drawn afresh every epoch
    (data.Redrawn: random inpainting blocks)."""
    n = len(dataset)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    stop = n - batch_size + 1 if drop_last else n
    for start in range(0, max(stop, 0), batch_size):
        index = order[start:start + batch_size]
        yield take(dataset, index, epoch)


def floats(values: dict) -> dict:
    """{name: tensor} -> {name: float}, for a row of losses.csv."""
    return {k: v.item() for k, v in values.items()}


@contextlib.contextmanager
def evaluating(model):
    """The model in eval mode for the block, in training mode afterwards."""
    model.eval()
    try:
        yield model
    finally:
        model.train()


def final_weights(recipe: Recipe) -> dict:
    """The loss weights that held-out figures use: each schedule at its end."""
    return recipe.loss_weights(10**9, 1) if recipe.loss_weights else {}


def evaluate(recipe: Recipe, model, dataset, args: argparse.Namespace,
             device: torch.device) -> dict:
    """Mean held-out figures (`validate` per batch, weighted by batch size)."""
    sums: dict[str, float] = {}
    count = 0
    weights = final_weights(recipe)
    with evaluating(model), torch.set_grad_enabled(recipe.validate_with_grad):
        for *inputs, labels in batches(dataset, args.batch_size, args.seed, 0, drop_last=False):
            inputs, labels = [t.to(device) for t in inputs], labels.to(device)
            for k, v in recipe.validate(model, *inputs, labels, weights).items():
                sums[k] = sums.get(k, 0.0) + v * labels.size(0)
            count += labels.size(0)
    return {k: v / count for k, v in sums.items()}  # {} for an empty test split


GRID_CLASSES = 20  # a conditional model's sample grid has a row for each of its first 20 classes


def sample_labels(recipe: Recipe, n: int, device: torch.device, first: int = 0) -> list:
    """[] for an unconditional model; else [labels] cycling through the classes from sample
    `first` on."""
    classes = recipe.sample_classes or recipe.num_classes
    if classes is None:
        return []
    return [(torch.arange(n, device=device) + first) % classes]


@torch.no_grad()
def sample_many(recipe: Recipe, model, n: int, device: torch.device, chunk: int) -> torch.Tensor:
    """n new samples, made `chunk` at a time so that they need no more memory than a training
    batch."""
    out = []
    for first in range(0, n, chunk):
        k = min(chunk, n - first)
        out.append(model.generate(*model.prior(k), *sample_labels(recipe, k, device, first)).cpu())
    return torch.cat(out)


def fixed_noise(model, n: int, seed: int, device: torch.device) -> list:
    """The latents of the sample grids, drawn once (as pytorch/examples' `fixed_noise`), so that
    the grids of successive epochs show the same draws; on a fork of the random stream, so that
    training draws what it would have drawn without them."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return list(model.prior(n))


@torch.no_grad()
def save_samples(recipe: Recipe, model, test_set, path: Path, args: argparse.Namespace,
                 device: torch.device,
                 noise: list | None) -> None:
    """A picture of what the model does now: samples, reconstructions, or points over the data."""
    with evaluating(model):
        if recipe.data_shape == (2,):
            fake = None
            if recipe.generative:
                fake = sample_many(recipe, model, 2500, device, args.batch_size)
            if fake is None and recipe.reconstruction and len(test_set):
                inputs = test_set.tensors[0][:2500].to(device)
                labels = test_set.tensors[1][:2500].to(device)
                conditions = [labels] if recipe.num_classes else []
                fake = model(inputs, *conditions)[recipe.reconstruction]
            if fake is not None and not args.no_plots:
                modes = toy_modes(args.data)
                save_scatter_2d(fake.cpu(), test_set.tensors[0][:2500], path,
                                centers=modes[0] if modes else None)
        elif len(recipe.data_shape) == 3:
            shown, nrow = [], 8
            if recipe.generative:
                latents = [t.to(device) for t in noise]
                conditions = sample_labels(recipe, len(latents[0]), device)
                classes = recipe.sample_classes or recipe.num_classes
                if classes:  # a row per class (the first GRID_CLASSES), the same 8 draws in each
                    rows = min(classes, GRID_CLASSES)
                    latents = [t[:8].repeat(rows, *[1] * (t.dim() - 1)) for t in latents]
                    conditions = [torch.arange(rows, device=device).repeat_interleave(8)]
                shown.append(model.generate(*latents, *conditions).cpu())
            if recipe.reconstruction and len(test_set):  # a one-sample set has no test split
                *inputs, labels = (t[:32].to(device) for t in test_set.tensors)
                conditions = [labels] if recipe.num_classes else []
                reconstructions = model(*inputs, *conditions)[recipe.reconstruction]
                # the inputs of the output's shape (paired data: input, target), then the output
                rows = [t.cpu() for t in inputs if t.shape == reconstructions.shape]
                shown.append(torch.stack([*rows, reconstructions.cpu()], 1).flatten(0, 1))
                per = len(rows) + 1  # images per sample, kept on one line of the grid
                nrow = per * max(1, 8 // per)
            if shown:
                save_image_grid(torch.cat(shown), path, value_range=recipe.data_range, nrow=nrow)


def final_metrics(recipe: Recipe, model, test_set, args: argparse.Namespace,
                  device: torch.device) -> dict:
    """The figures metrics.json reports at the end of a run."""
    metrics = {f"test_{k}": v for k, v in evaluate(recipe, model, test_set, args, device).items()}
    conditional = bool(recipe.num_classes)
    with evaluating(model), torch.no_grad():
        modes = toy_modes(args.data) if recipe.data_shape == (2,) and recipe.generative else None
        if modes is not None:
            torch.manual_seed(args.seed + 1)
            metrics.update(mode_metrics(sample_many(recipe, model, 2500, device, args.batch_size),
                                        *modes))
        if recipe.classifier and conditional and len(test_set):
            *inputs, labels = (t.to(device) for t in test_set.tensors)
            logits = model(*inputs, labels)[recipe.classifier]
            per_class = accuracy_per_class(logits.cpu(), labels.cpu(), recipe.num_classes)
            metrics["test_accuracy"] = (logits.argmax(1) == labels).float().mean().item()
            metrics["test_accuracy_per_class"] = [None if math.isnan(a) else a
                                                  for a in per_class.tolist()]
        # a picture of the latent space, coloured by class
        if recipe.codes and not args.no_plots and len(test_set):
            *inputs, labels = (t[:2000] for t in test_set.tensors)
            codes = model(*(t.to(device) for t in inputs),
                          *([labels.to(device)] if conditional else []))[recipe.codes]
            save_latent_scatter(codes.cpu(), labels.cpu(), Path(args.out) / "latent.png")
    return metrics


def image_generator(recipe: Recipe) -> bool:
    """Whether the model makes new images: what the digit-quality figures measure."""
    return recipe.generative and len(recipe.data_shape) == 3


def quality_measure(recipe: Recipe, args: argparse.Namespace, should_stop=None):
    """The data set's digit classifier (trained once, cached under --root), or None: a dry run,
    --no-quality, a model that makes no images, data the classifier cannot be built for (said
    once; the run goes on), or a stop requested while the classifier trains."""
    if args.dry_run or not image_generator(recipe) or args.no_quality:
        return None
    try:
        # on a fork of the random stream: building the classifier draws its initial weights
        with torch.random.fork_rng(devices=[]):
            return digit_quality(args.data, args.root, settings=QUALITY_CLASSIFIER, log=print,
                                 should_stop=should_stop)
    except Stopped:
        return None
    except (DataError, ValueError) as exc:
        print(f"note: no digit quality figures: {exc}")
        return None


def quality_due(args: argparse.Namespace, epoch: int, last: bool) -> bool:
    return last or (args.quality_every > 0 and (epoch + 1) % args.quality_every == 0)


@torch.no_grad()
def quality_figures(recipe: Recipe, model, quality, args: argparse.Namespace,
                    device: torch.device) -> dict:
    """The digit-quality figures of --quality-samples new samples (conditional models: labels
    cycling through the classes), drawn from a fixed seed; call it on a fork of the random
    stream."""
    torch.manual_seed(args.seed + 2)
    with evaluating(model):
        fake = sample_many(recipe, model, args.quality_samples, device, args.batch_size)
    labels = sample_labels(recipe, len(fake), torch.device("cpu"))
    figures = quality.score(fake, recipe.data_range or (0.0, 1.0), *labels)
    figures["quality_samples"] = figures.pop("samples")
    return figures


def final_quality(recipe: Recipe, model, quality, rows: list, step: int,
                  args: argparse.Namespace, device: torch.device) -> dict:
    """metrics.json's digit-quality figures: those of the final step (measured now unless its
    epoch end was), the same figures for real held-out images (`real_...`), and each measured
    epoch's."""
    if not rows or rows[-1]["step"] != step:
        rows.append({"step": step, "epoch": None,
                     **quality_figures(recipe, model, quality, args, device)})
    final = {k: v for k, v in rows[-1].items() if k not in ("step", "epoch")}
    return {**final, **quality.reference(), "quality_classifier": quality.info,
            "quality_history": rows}


def sampler(recipe: Recipe, model, args: argparse.Namespace, device: torch.device):
    """n -> n new samples of the model in eval mode (conditional: labels cycling through the
    classes)."""
    def sample(n: int) -> torch.Tensor:
        with evaluating(model):
            return sample_many(recipe, model, n, device, args.batch_size)
    return sample


def mean_pairwise_distance(x: torch.Tensor) -> float:
    return torch.pdist(x.flatten(1).double()).mean().item()


class Watch:
    """Collapse and dominance: one line and one `warnings` entry when the discriminator's loss
    stays under the recipe's floor for a whole epoch, or when the fixed batch of samples spreads
    less than DIVERSITY_FRACTION of as much as the data (mean pairwise distance); said again only
    after the run has recovered."""

    def __init__(self, recipe: Recipe, train_set, noise: list | None) -> None:
        self.recipe, self.noise = recipe, noise
        self.floor = recipe.dominated_below
        self.warnings: list[dict] = []
        self.active: set[str] = set()
        self.epoch_max = -math.inf  # the largest loss_d of the epoch so far
        self.data_spread = None
        if noise is not None:
            self.data_spread = mean_pairwise_distance(train_set.tensors[0][:len(noise[0])])

    def step(self, row: dict) -> None:
        if self.floor is not None and "loss_d" in row:
            self.epoch_max = max(self.epoch_max, row["loss_d"])

    @torch.no_grad()
    def epoch_end(self, model, step: int, epoch: int, device: torch.device) -> None:
        dominated = self.epoch_max < (self.floor if self.floor is not None else -math.inf)
        self.epoch_max = -math.inf
        self._say("dominance", dominated, step, epoch,
                  f"the discriminator's loss stayed under {self.floor} for all of epoch {epoch}: "
                  "it has won, and the generator learns little from it")
        if self.data_spread is None or self.data_spread <= 0:
            return
        with evaluating(model):
            latents = [t.to(device) for t in self.noise]
            fake = model.generate(*latents, *sample_labels(self.recipe, len(latents[0]), device))
        ratio = mean_pairwise_distance(fake.cpu()) / self.data_spread
        self._say("collapse", ratio < DIVERSITY_FRACTION, step, epoch,
                  f"samples have collapsed: the fixed batch's mean pairwise distance is "
                  f"{ratio:.3f} of the data's (under {DIVERSITY_FRACTION})", ratio=ratio)

    def _say(self, kind: str, now: bool, step: int, epoch: int, message: str, **extra) -> None:
        if now and kind not in self.active:
            print(f"\nwarning: step {step}: {message}", file=sys.stderr)
            self.warnings.append({"kind": kind, "step": step, "epoch": epoch,
                                  "message": message, **extra})
        (self.active.add if now else self.active.discard)(kind)


CHECKPOINT_KEYS = {"spec_sha256": str, "step": int, "epoch": int, "batch": int, "model": dict,
                   "optimizers": dict, "schedulers": list, "rng": torch.Tensor}


def read_checkpoint(recipe: Recipe, path: Path, other_spec_help: str) -> dict:
    """A checkpoint's contents, or SystemExit with one line naming the file and what is wrong
    (never torch's unpickling advice)."""
    path = Path(path)
    if path.is_dir():
        raise SystemExit(f"error: checkpoint {path} is a directory, not a file")
    if not path.exists():
        raise SystemExit(f"error: checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise SystemExit(f"error: checkpoint {path} is empty (0 bytes)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, objects a checkpoint never holds
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        if "weights_only" in str(exc) or "unpickl" in reason.lower():
            reason = "it holds objects that a train.py checkpoint never holds"
        raise SystemExit(f"error: checkpoint {path} cannot be read: it is truncated or not a "
                         f"torch checkpoint ({reason})") from None
    if not isinstance(state, dict) or "spec_sha256" not in state:
        raise SystemExit(f"error: checkpoint {path} has no spec hash (`spec_sha256`): it was not "
                         "written by a gendsl train.py")
    for key, kind in CHECKPOINT_KEYS.items():
        if not isinstance(state.get(key), kind):
            raise SystemExit(f"error: checkpoint {path} is damaged: `{key}` is missing or not "
                             f"a {kind.__name__}")
    if state["spec_sha256"] != recipe.sha256:
        raise SystemExit(f"error: {path} was written by a different spec "
                         f"(sha256 {state['spec_sha256'][:12]}...), "
                         f"but this train.py is for sha256 {recipe.sha256[:12]}...; "
                         + other_spec_help)
    return state


def restore(path: Path, what: str, target, state) -> None:
    """target.load_state_dict(state), or SystemExit naming the file and the mismatch."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "mismatch" in line or "key" in line.lower()),
                      lines[0] if lines else type(exc).__name__)
        raise SystemExit(f"error: checkpoint {path} does not fit this {what}: {detail}") from None


def load_checkpoint(recipe: Recipe, path: Path, model, optimizers: dict, schedulers: list) -> dict:
    state = read_checkpoint(recipe, path, "use another --out or drop --resume")
    restore(path, "model", model, state["model"])
    if set(state["optimizers"]) != set(optimizers) or len(state["schedulers"]) != len(schedulers):
        raise SystemExit(f"error: checkpoint {path} does not fit this model: it holds optimizers "
                         f"{sorted(state['optimizers'])} and {len(state['schedulers'])} schedules")
    for name, opt in optimizers.items():
        restore(path, f"optimizer `{name}`", opt, state["optimizers"][name])
    for sched, s in zip(schedulers, state["schedulers"]):
        restore(path, "schedule", sched, s)
    torch.set_rng_state(state["rng"])
    if torch.cuda.is_available() and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state


def save_checkpoint(recipe: Recipe, path: Path, model, optimizers: dict, schedulers: list,
                    step: int, epoch: int,
                    batch: int, extra: dict | None = None) -> None:
    atomic_save({
        "spec_sha256": recipe.sha256, "step": step, "epoch": epoch, "batch": batch,
        "model": model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "schedulers": [s.state_dict() for s in schedulers],
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        **(extra or {}),  # under torchrun: every process's random state
    }, path)


def load_model(recipe: Recipe, checkpoint: Path, device: torch.device):
    """The model of a train.py checkpoint, on `device`, in eval mode."""
    state = read_checkpoint(recipe, checkpoint, "it is not a checkpoint of this model")
    model = recipe.model()
    attach_pretrained(recipe, model, "none")  # its weights are in the checkpoint
    restore(checkpoint, "model", model, state["model"])
    return model.to(device).eval()


def attach_pretrained(recipe: Recipe, model, weights: str) -> None:
    """Attach each frozen torchvision feature network of a `perceptual` term as model.<name>.

    Not a parameter of any optimizer; in the checkpoint with the rest of the model, so a resume or
    a sample run restores the weights it trained with."""
    for name, arch, layers in recipe.pretrained:
        net = pretrained_features(arch, layers, weights, recipe.data_range, recipe.data_shape[0])
        model.add_module(name, net)


def report(recipe: Recipe, out: Path, args: argparse.Namespace, argv) -> None:
    """OUT/report.html, from what the run has written so far (unless --no-report)."""
    if args.no_report:
        return
    command = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    try:
        write_report(out, command=command, graph=args.report_graph, title=recipe.name)
    except OSError as exc:  # the results are written: a page about them is not worth failing for
        print(f"warning: report.html not written: {exc}", file=sys.stderr)


def drop_rows_after(path: Path, step: int) -> None:
    """Forget rows of steps after the checkpoint a run resumes from (written before a kill -9)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:]
                        if line.endswith("\n") and int(line.split(",", 1)[0]) <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(kept))
    os.replace(tmp, path)


def load_samples_for(recipe: Recipe, args: argparse.Namespace):
    """load_sets for samples of several data tensors: `--data` replaces the sample's source (the
    spec's first one; a spec that names one folder per tensor keeps those without --data)."""
    names, shapes, ranges, sources = zip(*recipe.inputs)
    if args.dry_run:
        return (fake_samples(shapes, 4 * args.batch_size, recipe.num_classes, ranges, args.seed),
                fake_samples(shapes, args.batch_size, recipe.num_classes, ranges, args.seed + 1))
    if args.data != recipe.default_data:
        sources = (args.data,) + (None,) * (len(names) - 1)
    try:
        train_set, test_set = load_samples(sources, names, shapes, ranges, label=recipe.label,
                                           classes=args.classes, root=args.root, seed=args.seed,
                                           n=args.n, report=None if args.quiet else print)
    except DataError as exc:
        return f"error: {exc}"
    if len(train_set) < args.batch_size:
        return (f"error: {args.data} has {len(train_set)} training samples, fewer than one batch "
                f"of {args.batch_size}; lower --batch-size")
    return train_set, test_set


def load_sets(recipe: Recipe, args: argparse.Namespace):
    """(train set, test set), or an error message."""
    if recipe.inputs:
        return load_samples_for(recipe, args)
    if args.dry_run:
        train_set = fake_data(recipe.data_shape, 4 * args.batch_size, recipe.num_classes,
                              recipe.data_range,
                              seed=args.seed)
        test_set = fake_data(recipe.data_shape, args.batch_size, recipe.num_classes,
                             recipe.data_range,
                             seed=args.seed + 1)
        return train_set, test_set
    try:
        train_set, test_set = load_data(args.data, recipe.data_shape, recipe.data_range,
                                        classes=args.classes,
                                        root=args.root, seed=args.seed, n=args.n,
                                        report=None if args.quiet else print)
    except DataError as exc:
        return f"error: {exc}"
    labels = torch.cat([train_set.tensors[1], test_set.tensors[1]])
    k = recipe.num_classes
    if k is not None and len(labels) and not (0 <= labels.min() and labels.max() < k):
        return (f"error: {args.data} has labels {labels.min().item()}..{labels.max().item()}, "
                f"but the spec "
                f"declares {k} classes (labels 0..{k - 1})")
    if len(train_set) < args.batch_size:
        return (f"error: {args.data} has {len(train_set)} training samples, "
                f"fewer than one batch of "
                f"{args.batch_size}; lower --batch-size")
    return train_set, test_set


class DiskFull(Exception):
    """A run file could not be written for lack of space; the last checkpoint is intact."""

    def __init__(self, path, error: OSError):
        super().__init__(f"{path}: {error.strerror}")
        self.path, self.error = path, error

    def message(self, checkpoint: Path, saved: dict) -> str:
        if saved["step"] is None:
            last = "no checkpoint has been written yet"
        else:
            last = (f"the last good checkpoint is {checkpoint} (step {saved['step']}); free "
                    "some space and add --resume to continue")
        return f"\nerror: cannot write {self.path}: {self.error.strerror}; stopping: {last}"


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_checkpoint(recipe: Recipe, path: Path, model, optimizers: dict, schedulers: list,
                     step: int, epoch: int, batch: int, extra: dict | None = None) -> None:
    """save_checkpoint, turning a full disk into DiskFull (the old last.pt stays as it was:
    the new one is written to a temporary file first)."""
    try:
        save_checkpoint(recipe, path, model, optimizers, schedulers, step, epoch, batch, extra)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise DiskFull(path, exc) from None
        raise


def non_finite_parameter(model) -> str | None:
    """The name of the first parameter holding nan or inf, or None."""
    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            return name
    return None


def diverged(what: str, checkpoint: Path, saved: dict) -> str:
    """The message of a run stopped by a non-finite value; it names only a checkpoint that
    exists."""
    if saved["step"] is None:
        last = "no checkpoint has been written yet"
    else:
        last = f"the last good checkpoint is {checkpoint} (step {saved['step']})"
    return f"\nerror: {what}; stopping: {last}."


def main(recipe: Recipe, argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["export"]:  # train.py export ...: ONNX and torch.export files
        from .export import main as export
        return export(recipe, argv[1:])
    args = parse_args(recipe, argv)
    # SIGINT and SIGTERM only set a flag, from the start: the loops read it after every step and
    # at the start of every epoch, and the work before step 1 (data, the digit classifier) between
    # parts (a second signal stops at once: checkpoints are written atomically, so the last one is
    # whole)
    stop = {"signal": None}

    def request_stop(signum, frame):
        if stop["signal"]:
            raise KeyboardInterrupt
        stop["signal"] = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        procs = distributed.start(pick_device(args.device), args.batch_size)
        if isinstance(procs, str):
            print(procs, file=sys.stderr)
            return 1
        try:
            status = train(recipe, args, procs, stop, argv)
        except BaseException:
            procs.abort()
            raise
        procs.finish()
        return status
    except KeyboardInterrupt:
        last = Path(args.out) / "checkpoints" / "last.pt"
        print(f"stopped at once by a second signal; {last} is the last checkpoint written, if any",
              file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stopped_before_training(stop: dict) -> bool:
    if stop["signal"]:
        print(f"stopped by {stop['signal']} before the first step; no checkpoint was written",
              file=sys.stderr)
    return bool(stop["signal"])


def train(recipe: Recipe, args: argparse.Namespace, procs: distributed.Processes, stop: dict,
          argv) -> int:
    """The run main() starts, in each process under torchrun, with its stop flag."""
    torch.manual_seed(args.seed)
    device = procs.device
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if args.detect_anomaly:
        torch.autograd.set_detect_anomaly(True)
    out = Path(args.out)
    if args.dry_run:
        args.steps = 3 if args.steps is None else args.steps
    with procs.main_first():
        sets = load_sets(recipe, args)
    if isinstance(sets, str):
        print(sets, file=sys.stderr)
        return 1
    if stopped_before_training(stop):
        return 130
    train_set, test_set = sets
    if args.pin_memory and device.type == "cuda":
        if isinstance(train_set, Redrawn):
            train_set.pin_memory()
        else:
            train_set.tensors = tuple(t.pin_memory() for t in train_set.tensors)

    model = recipe.model()
    try:
        attach_pretrained(recipe, model, args.feature_weights if recipe.pretrained else "none")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    model = model.to(device)
    if args.channels_last and len(recipe.data_shape) == 3:
        model.to(memory_format=torch.channels_last)
    optimizers = recipe.optimizers(model, lr=args.lr, fused=args.fused)
    steps_per_epoch = max(1, len(train_set) // args.batch_size)
    total_steps = args.steps if args.steps is not None else args.epochs * steps_per_epoch
    schedulers = recipe.schedulers(optimizers, total_steps) if recipe.schedulers else []
    # under torchrun each network in its own DistributedDataParallel; checkpoints keep `model`'s
    # names
    stepped = procs.wrap(model)
    stepped = torch.compile(stepped) if args.compile else stepped
    if args.amp == "off":
        autocast = contextlib.nullcontext()
    else:
        autocast = torch.autocast(device.type,
                                  dtype=torch.bfloat16 if args.amp == "bf16" else torch.float16)
    # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none
    scaler = torch.amp.GradScaler(device.type) if args.amp == "fp16" else NO_SCALING
    noise = fixed_noise(model, 64, args.seed, device) if recipe.generative else None
    quality = quality_measure(recipe, args, lambda: bool(stop["signal"])) if procs.main else None
    if stopped_before_training(stop):
        return 130
    quality_rows: list[dict] = []  # the digit-quality figures of each measured epoch
    inception = (image_metrics.start(recipe, args, train_set, test_set, device) if procs.main
                 else None)
    watch = Watch(recipe, train_set, noise)

    step, start_epoch, skip = 0, 0, 0
    checkpoint = out / "checkpoints" / "last.pt"
    state = None
    if args.resume:
        if not checkpoint.exists():
            print(f"error: --resume, but {checkpoint} does not exist", file=sys.stderr)
            return 1
        state = load_checkpoint(recipe, checkpoint, model, optimizers, schedulers)
        step, start_epoch, skip = state["step"], state["epoch"], state["batch"]
        if procs.main:
            drop_rows_after(out / "losses.csv", step)
    procs.seed_rank(args.seed, state)  # under torchrun: a random stream per process
    write_files = not args.dry_run or args.out != f"runs/{recipe.name}"
    columns = ["step", "epoch", "split", *recipe.columns]
    if image_generator(recipe):
        conditional = recipe.sample_classes or recipe.num_classes
        columns += QUALITY_COLUMNS[:4] + (QUALITY_COLUMNS[4:] if conditional else ())
        columns += image_metrics.COLUMNS
    log = (CsvLog(out / "losses.csv", append=args.resume, fields=columns)
           if write_files and procs.main else None)

    saved = {"step": step if args.resume else None}  # the last good checkpoint's step

    def save(epoch, batch):
        extra = procs.rng_states()  # every process at the same step
        if procs.main:
            write_checkpoint(recipe, checkpoint, model, optimizers, schedulers, step, epoch, batch,
                             extra)
        saved["step"] = step

    progress = None
    if not args.quiet and procs.main:
        try:
            from tqdm import tqdm
            progress = tqdm(total=total_steps, initial=step, unit="step", dynamic_ncols=True)
        except ImportError:
            progress = None

    started = last_step_at = time.perf_counter()
    first_step = step
    # a resumed run that already reached --steps
    done = args.steps is not None and step >= args.steps
    stopped_by = None  # the signal every process saw at the same step
    shard = procs.shard(train_set, args.batch_size, args.seed)  # under torchrun
    try:
        for epoch in range(start_epoch, args.epochs if args.steps is None else 10**9):
            if done or stop["signal"]:  # checked every epoch, even one without a step
                break
            shuffled = (shard.epoch(epoch) if shard is not None
                        else batches(train_set, args.batch_size, args.seed, epoch, drop_last=True))
            for batch, (*inputs, labels) in enumerate(shuffled):
                if batch < skip:
                    continue
                inputs = [t.to(device, non_blocking=True) for t in inputs]
                labels = labels.to(device, non_blocking=True)
                if args.channels_last:
                    inputs = [t.contiguous(memory_format=torch.channels_last) if t.dim() == 4
                              else t for t in inputs]
                weights = recipe.loss_weights(step, steps_per_epoch) if recipe.loss_weights else {}
                with autocast:
                    try:
                        row = recipe.train_step(stepped, optimizers, *inputs, labels, step,
                                                weights, scaler)
                    except RuntimeError as exc:
                        bad = non_finite_parameter(model)
                        if bad is None:
                            raise
                        print(diverged(f"loss term is nan at step {step + 1}: parameter `{bad}` "
                                       f"is not finite, so a loss could not be computed "
                                       f"({str(exc).splitlines()[0]})", checkpoint, saved),
                              file=sys.stderr)
                        return 1
                for sched in schedulers:
                    sched.step()
                row, stopped_by = procs.agree(row, stop["signal"])
                bad = sorted((k for k, v in row.items() if not math.isfinite(v)),
                             key=lambda k: k in TOTALS)
                if bad:  # the same on every process: the figures are averaged over them
                    if procs.main:
                        print(diverged(f"loss term `{bad[0]}` is {row[bad[0]]} at step {step + 1}",
                                       checkpoint, saved), file=sys.stderr)
                    return 1
                step += 1
                last_step_at = time.perf_counter()
                watch.step(row)
                if log is not None:
                    log.write(step=step, epoch=epoch, split="train", **row)
                if progress is not None:
                    progress.update(1)
                    shown = {k: f"{v:.4g}" for k, v in row.items()}
                    progress.set_postfix({"epoch": epoch, **shown}, refresh=False)
                if write_files and step % args.checkpoint_every == 0:
                    save(epoch, batch + 1)
                if stopped_by or (args.steps is not None and step >= args.steps):
                    if write_files:
                        save(epoch, batch + 1)
                    done = True
                    break
            skip = 0
            if write_files and procs.main:
                # evaluation and samples draw random numbers on a fork of the generator, so
                # training continues on the stream it would have had without them (and a resume
                # matches)
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    val = evaluate(recipe, model, test_set, args, device)
                    last = done or (not args.steps and epoch + 1 == args.epochs)
                    if quality is not None and quality_due(args, epoch, last):
                        figures = quality_figures(recipe, model, quality, args, device)
                        quality_rows.append({"step": step, "epoch": epoch, **figures})
                        val.update({k: figures[k] for k in QUALITY_COLUMNS + image_metrics.COLUMNS
                                    if k in figures})
                    if inception is not None and inception.due(epoch, last):
                        val.update(inception.measure(sampler(recipe, model, args, device), step,
                                                     epoch))
                    log.write(step=step, epoch=epoch, split="val", **val)
                    if (epoch + 1) % args.sample_every == 0 or last:
                        save_samples(recipe, model, test_set,
                                     out / "samples" / f"epoch_{epoch:03d}.png", args, device,
                                     noise)
                    watch.epoch_end(model, step, epoch, device)
            if write_files and not done:
                save(epoch + 1, 0)
    except (DiskFull, OSError) as exc:  # losses.csv or a sample grid may fill the disk too
        if isinstance(exc, OSError):
            if exc.errno not in DISK_FULL:
                raise
            exc = DiskFull(exc.filename or out, exc)
        print(exc.message(checkpoint, saved), file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.close()
        if log is not None:
            log.close()
    # training steps (and per-epoch evaluation), not the end-of-run work
    elapsed = last_step_at - started
    stopped_by = stopped_by or stop["signal"]  # also a signal between an epoch's end and the next
    if stopped_by:
        again = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--resume"]
        if procs.main:
            if write_files:
                report(recipe, out, args, argv)
            print(f"stopped by {stopped_by} at step {step}; checkpoint written. Resume with: "
                  f"{procs.resume_command(sys.argv[0], again)}", file=sys.stderr)
        return 130
    if not procs.main:
        return 0
    metrics = {"steps": step, "seconds": round(elapsed, 3),
               "steps_per_second": round((step - first_step) / elapsed,
                                         3) if elapsed > 0 else None}
    metrics.update(final_metrics(recipe, model, test_set, args, device))
    if quality is not None:
        metrics.update(final_quality(recipe, model, quality, quality_rows, step, args, device))
    if inception is not None:
        metrics.update(inception.final(sampler(recipe, model, args, device), step))
    metrics["warnings"] = watch.warnings
    if write_files:
        atomic_write_json(metrics, out / "metrics.json")
        if not args.no_plots:
            plot_losses(out / "losses.csv", out / "losses.png")
        report(recipe, out, args, argv)
    if not args.quiet:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k,
                       v in metrics.items()
                       if not isinstance(v, (list, dict))))
    return 0
