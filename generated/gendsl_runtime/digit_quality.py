"""How good generated digit images are, measured offline by a small classifier of their data set.

Inception-based FID needs downloaded weights and natural RGB images; for the offline grey digit
sets (mnist5k, scikit-learn's 8x8 ``digits``, torchvision's MNIST family, or any grey image set
with class labels that :func:`load_data` reads) this module trains a small convolutional
classifier once per data set, caches it beside the data, and scores a batch of samples with it:

* ``recognisable_pct``: the share of samples the classifier labels with confidence >= 0.9;
* ``classes_covered`` and ``class_kl``: how many classes the recognisable samples fall in, and
  KL(p || uniform) in nats of their predicted class histogram p (mode coverage as in the
  PacGAN/VEEGAN MNIST experiments; ``inf`` when no sample is recognisable, like
  ``metrics.mode_metrics``' reverse KL);
* ``classifier_fd``: the Frechet distance between Gaussians fitted to the classifier's
  penultimate features of the samples and of the held-out images. It is *not* Inception FID:
  another network, another feature space (128 dimensions), and a few hundred reference images, so
  its values are comparable only with each other, for the same data set and classifier;
* ``classifier_kid``, ``classifier_precision``, ``classifier_recall``: KID and precision/recall
  in the same feature space, by torch-fidelity's functions (``image_metrics``; absent without
  torch-fidelity);
* with the labels the samples were generated for (conditional models): ``class_accuracy_pct``, the
  share the classifier assigns to the requested class, and the same per class.

:meth:`DigitQuality.reference` gives the same figures for real held-out images, the ceiling a
generator is judged against ("real recognisable share", "real class accuracy" = the classifier's
held-out accuracy; its ``classifier_fd`` compares training images with held-out ones).

The classifier is trained on the training split of ``load_data(data, seed=seed)`` (the split
``train.py --seed 0`` trains on, for the default seed) and measured on its test split, at 28x28
(8x8 for ``digits``, their native size); samples of another size or with three channels are
converted and resized as the data loader converts data. Training is reproducible from the seed
(same machine, same torch) and leaves the caller's random number streams untouched. The cache,
``ROOT/<data>-classifier.pt``, holds a hash of everything the classifier depends on (this file's
CLASSIFIER_VERSION, the settings, the images and labels); a stale or unreadable cache is retrained.
"""

import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import _image_geometry, _resize, _split_class_suffix, load_data
from .image_metrics import classifier_figures
from .metrics import accuracy_per_class
from .outputs import atomic_save

__all__ = ["CONFIDENT", "ClassifierSettings", "DigitClassifier", "DigitQuality", "digit_quality",
           "frechet_distance"]

# Bump when the network or its training changes: every cached classifier is then retrained.
CLASSIFIER_VERSION = 1
CONFIDENT = 0.9  # a sample is recognisable when the classifier's top probability reaches this
REFERENCE_TRAIN_IMAGES = 2000  # training images compared with the held-out ones for the real FD
_BATCH = 500  # images per forward pass when scoring


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained. Part of the cache key: other settings, another classifier."""

    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    shift: int = 2  # augmentation: random translations of up to `shift` pixels (28x28 scale)
    width: int = 16  # channels of the first convolutions (twice that in the second pair)
    features: int = 128  # size of the penultimate layer: the feature space of classifier_fd
    # large sets (torchvision's 60,000 MNIST digits) stop here: ~3 epochs of them
    max_steps: int = 3000
    seed: int = 0
    # exactly this many steps (small tests); None: whole epochs up to max_steps
    steps: int | None = None


class DigitClassifier(nn.Module):
    """Two pairs of 3x3 convolutions with max-pooling, a hidden layer (the features), logits."""

    def __init__(self, side: int, num_classes: int, width: int = 16, features: int = 128) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),                 # (w, s, s)
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                             # (w, s/2, s/2)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),         # (2w, s/2, s/2)
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                             # (2w, s/4, s/4)
        )
        self.hidden = nn.Linear(2 * width * (side // 4) ** 2, features)
        self.dropout = nn.Dropout(0.3)
        self.out = nn.Linear(features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, s, s) in [0, 1] -> (B, features)."""
        return F.relu(self.hidden(torch.flatten(self.convs(x), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.features(x)))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussians fitted to rows of a, b.

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of the symmetric
    S_a^(1/2) S_b S_a^(1/2), which has the same eigenvalues; computed in float64 with eigh, so no
    complex round-off appears (scipy's sqrtm, which FID code usually calls, is not needed).
    """
    a, b = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Frechet distance needs at least 2 rows on each side, "
                         f"got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    fd = (mu_a - mu_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross
    return max(float(fd), 0.0)  # round-off can leave a tiny negative for identical sets


class DigitQuality:
    """A trained classifier with the held-out images it measures samples against."""

    def __init__(self, net: DigitClassifier, test: tuple, train_x: torch.Tensor,
                 info: dict) -> None:
        self.net = net.eval()
        self.side = info["side"]
        self.num_classes = info["num_classes"]
        self.info = info  # data, cache path, settings, training seconds
        self.test_x, self.test_y = test
        self._train_x = train_x[:REFERENCE_TRAIN_IMAGES]
        self._test_features = self.features(self.test_x)
        self._reference = None

    @property
    def accuracy(self) -> float:
        """The classifier's accuracy on the held-out images, in %."""
        return self.reference()["real_class_accuracy_pct"]

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features of (N, 1, side, side) images in [0, 1]."""
        if not len(images):
            return torch.zeros(0, self.net.hidden.out_features)
        return torch.cat([self.net.features(part) for part in images.split(_BATCH)])

    @torch.no_grad()
    def score(self, samples: torch.Tensor, value_range=(-1.0, 1.0), labels=None) -> dict:
        """The quality figures of generated samples (shape and range of the model's data).

        ``labels`` are the classes the samples were generated for (conditional models); they add
        ``class_accuracy_pct`` and ``class_accuracy_per_class`` (nan for a class not requested).
        """
        images = to_classifier_input(samples, value_range, self.side)
        return self._score(images, labels, self.features(images))

    def reference(self) -> dict:
        """The same figures for real images: held-out images as samples (with their labels), and
        the FD of training images to the held-out ones; keys prefixed ``real_``."""
        if self._reference is None:
            figures = self._score(self.test_x, self.test_y, self._test_features)
            train_features = self.features(self._train_x)
            figures["classifier_fd"] = frechet_distance(train_features, self._test_features)
            figures.update(classifier_figures(train_features, self._test_features))
            self._reference = {f"real_{k}": v for k, v in figures.items()}
        return self._reference

    def _score(self, images, labels, features) -> dict:
        if len(images) == 0:
            raise ValueError("no samples to score")
        logits = torch.cat([self.net(part) for part in images.split(_BATCH)])
        confidence, predicted = logits.softmax(1).max(1)
        recognisable = confidence >= CONFIDENT
        counts = torch.bincount(predicted[recognisable], minlength=self.num_classes).double()
        if counts.sum() == 0:
            kl = math.inf
        else:
            p = counts / counts.sum()
            kl = max(float((p * torch.log(p.clamp_min(1e-12) * self.num_classes)).sum()), 0.0)
        figures = {
            "samples": len(images),
            "recognisable_pct": 100.0 * float(recognisable.double().mean()),
            "classes_covered": int((counts > 0).sum()),
            "class_kl": kl,
            "classifier_fd": (frechet_distance(features, self._test_features)
                              if len(images) >= 2 else math.nan),
            # with torch-fidelity: classifier_kid, classifier_precision, classifier_recall
            **classifier_figures(features, self._test_features),
        }
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1).long().cpu()
            per_class = accuracy_per_class(predicted, labels, self.num_classes)
            figures["class_accuracy_pct"] = 100.0 * float((predicted == labels).double().mean())
            figures["class_accuracy_per_class"] = [100.0 * float(a) for a in per_class]
        return figures


def to_classifier_input(samples: torch.Tensor, value_range, side: int) -> torch.Tensor:
    """Samples of any image shape in ``value_range`` -> (N, 1, side, side) grey images in [0, 1].

    Flat samples are read as images the way the data loader flattens them, RGB is averaged to
    grey, and other sizes are resized with the data loader's own resizing (bilinear, antialiased).
    """
    x = torch.as_tensor(samples).detach().to("cpu", torch.float32)
    if x.dim() != 4:
        geometry = _image_geometry(tuple(x.shape[1:]))
        if geometry is None:
            raise ValueError(f"samples of shape {tuple(x.shape[1:])} are not images")
        x = x.reshape(len(x), *geometry)
    if x.shape[1] == 4:  # drop alpha
        x = x[:, :3]
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    elif x.shape[1] != 1:
        raise ValueError(f"samples with {x.shape[1]} channels are not grey or RGB images")
    x = _resize(x, side, side)
    low, high = (float(v) for v in value_range)
    return ((x - low) / (high - low)).clamp(0.0, 1.0)


def classifier_side(data: str) -> int:
    """The resolution the classifier of a data set works at: its native size for the digit sets."""
    base, _ = _split_class_suffix(str(data))
    return 8 if base.lower() == "digits" else 28


def cache_path(data: str, root) -> Path:
    """ROOT/<data>-classifier.pt; a file or folder data set is named by its name and path hash."""
    base, _ = _split_class_suffix(str(data))
    path = Path(base)
    if path.exists():
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', path.name)}-{digest}"
    else:
        name = base.lower()
    return Path(root) / f"{name}-classifier.pt"


class Stopped(Exception):
    """`should_stop()` said so while the classifier trained (nothing is cached)."""


def digit_quality(data: str = "mnist5k", root="data", *,
                  settings: ClassifierSettings | None = None,
                  log=None, should_stop=None) -> DigitQuality:
    """The quality measure of data set ``data``: its classifier from ROOT's cache, trained first if
    the cache is absent, stale or unreadable (``log(message)`` is told, with accuracy and time).

    The classifier sees every class of the data set (a ``-<classes>`` suffix is dropped), so that
    a model trained on a few classes is still judged against all of them. Raises DataError when
    the data cannot be loaded, and ValueError when it has fewer than two classes. ``should_stop()``
    is asked once per epoch of the classifier's training; Stopped is raised when it says so.
    """
    settings = settings or ClassifierSettings()
    base, _ = _split_class_suffix(str(data))
    side = classifier_side(base)
    train, test = load_data(base, (1, side, side), (0.0, 1.0), root=root, seed=settings.seed)
    (train_x, train_y), (test_x, test_y) = train.tensors, test.tensors
    num_classes = int(torch.cat([train_y, test_y]).max()) + 1
    if len(torch.unique(train_y)) < 2:
        raise ValueError(f"data set {base!r} has fewer than two classes: "
                         "no classifier to measure samples with")
    if len(test_x) < 2:
        raise ValueError(f"data set {base!r} has fewer than two held-out images")
    key = _cache_key(base, side, settings, train, test)
    path = cache_path(base, root)
    info = dict(data=base, side=side, num_classes=num_classes, cache=str(path),
                settings=asdict(settings))
    net = DigitClassifier(side, num_classes, settings.width, settings.features)
    state = _read_cache(path, key)
    if state is not None and _load_state(net, state["net"]):
        info.update(train_seconds=state.get("train_seconds"), trained=False)
    else:
        if log is not None:
            log(f"training the digit classifier of {base!r} once ({len(train_x)} images; "
                f"cached in {path})")
        started = time.process_time()
        net = train_classifier(train_x, train_y, side, num_classes, settings, should_stop)
        seconds = time.process_time() - started
        info.update(train_seconds=seconds, trained=True)
        try:
            atomic_save({"key": key, "net": net.state_dict(), "train_seconds": seconds}, path)
        except OSError:
            pass  # a read-only root only costs the training time next time
    quality = DigitQuality(net, (test_x, test_y), train_x, info)
    if log is not None and info["trained"]:
        log(f"digit classifier of {base!r}: {quality.accuracy:.1f} % held-out accuracy "
            f"({len(test_x)} images), {info['train_seconds']:.0f} CPU s")
    return quality


def train_classifier(x: torch.Tensor, y: torch.Tensor, side: int, num_classes: int,
                     settings: ClassifierSettings, should_stop=None) -> DigitClassifier:
    """Adam on shuffled, randomly shifted batches; leaves the caller's random streams alone.
    Raises Stopped at the start of an epoch when ``should_stop()`` is true."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        gen = torch.Generator().manual_seed(settings.seed)
        net = DigitClassifier(side, num_classes, settings.width, settings.features)
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
        steps_per_epoch = max(1, len(x) // settings.batch_size)
        total = settings.steps or min(settings.epochs * steps_per_epoch, settings.max_steps)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=total)
        net.train()
        step = 0
        while step < total:
            if should_stop is not None and should_stop():
                raise Stopped(f"stopped after {step} of {total} steps")
            order = torch.randperm(len(x), generator=gen)
            stop = len(x) - settings.batch_size + 1 if len(x) >= settings.batch_size else 1
            for start in range(0, stop, settings.batch_size):
                index = order[start:start + settings.batch_size]
                inputs = _shift(x[index], settings.shift * side / 28, gen)
                loss = F.cross_entropy(net(inputs), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                if step >= total:
                    break
    return net.eval()


def _shift(x: torch.Tensor, pixels: float, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by a random whole number of pixels, up to ``pixels``, filling 0."""
    limit = int(pixels)
    if limit < 1:
        return x
    n, _, h, w = x.shape
    dx, dy = (torch.randint(-limit, limit + 1, (n,), generator=gen) for _ in range(2))
    padded = F.pad(x, (limit, limit, limit, limit))
    rows = (torch.arange(h)[None, :] + limit - dy[:, None])[:, :, None].expand(n, h, w)
    cols = (torch.arange(w)[None, :] + limit - dx[:, None])[:, None, :].expand(n, h, w)
    batch = torch.arange(n)[:, None, None].expand(n, h, w)
    return padded[batch, 0, rows, cols][:, None]


def _cache_key(data, side, settings, train, test) -> str:
    h = hashlib.sha256(json.dumps({"version": CLASSIFIER_VERSION, "data": data, "side": side,
                                   "settings": asdict(settings)}, sort_keys=True).encode())
    for t in (*train.tensors, *test.tensors):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _load_state(net: nn.Module, state: dict) -> bool:
    try:
        net.load_state_dict(state)
        return True
    except (RuntimeError, TypeError, KeyError):  # a cache of another shape of network
        return False


def _read_cache(path: Path, key: str):
    """The cached state when made from exactly these inputs; None if absent, stale or corrupt."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("key") != key:
            return None
        return state if isinstance(state.get("net"), dict) else None
    except Exception:  # a truncated or foreign file: retrain rather than fail the run
        return None
